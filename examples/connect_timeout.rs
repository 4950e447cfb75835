//! `connect_timeout`: connecting with a deadline, the portable way —
//! nonblocking `connect`, wait for writability, read `SO_ERROR` — first
//! through baresock's helper, then step by step by hand, including what
//! calling `connect` again does on Linux.
//!
//! # What it teaches
//!
//! - A blocking `connect` to a host that does not answer waits for the
//!   kernel's SYN retries (about two minutes on Linux). To bound it, make
//!   the socket nonblocking: `connect` then returns `EINPROGRESS` at once
//!   and the handshake goes on in the kernel.
//! - The socket becomes *writable* when the handshake ends, well or badly.
//!   Writability alone does not say which: `getsockopt(SO_ERROR)` does (0,
//!   or the errno the handshake failed with, which reading clears).
//! - This is also how to learn the outcome of a blocking `connect`
//!   interrupted by a signal (`EINTR`): the handshake carries on in the
//!   kernel, and calling `connect` again is not the portable answer.
//! - A timeout needs something that really does not answer. Here it is a
//!   loopback listener with backlog 0 that never calls `accept`: one
//!   connection fills its queue, and the kernel then drops the SYNs of the
//!   next ones, which stay pending. (Never an "unroutable" address.)
//! - What `connect` answers when called again, on Linux: `EALREADY` while
//!   pending; once the handshake succeeded, 0 the first time (the socket is
//!   marked connected) and `EISCONN` after; once it failed, the failure
//!   (`ECONNREFUSED`), or `ECONNABORTED` if `SO_ERROR` already took it —
//!   and the call after that starts a new attempt (`EINPROGRESS`). POSIX
//!   leaves a socket's state unspecified after a failed connect: portable
//!   code closes it and makes a new one.
//!
//! # Syscalls, in order
//!
//! Part 1, `OwnedSocket::connect_timeout` (per call): `fcntl(F_GETFL)`,
//! `fcntl(F_SETFL, O_RDWR|O_NONBLOCK)`, `connect` = -1 `EINPROGRESS`,
//! `poll([{fd, POLLOUT}], 1, ms)`, `getsockopt(SO_ERROR)`, `getpeername`,
//! `fcntl(F_SETFL, O_RDWR)` (the blocking mode restored). Against:
//! - a listener: poll = 1, SO_ERROR = 0, getpeername = 0: connected;
//! - a port bound but not listening: poll = 1 (`POLLOUT|POLLERR|POLLHUP`),
//!   SO_ERROR = `ECONNREFUSED`: refused;
//! - the full backlog-0 listener: poll = 0 (timeout): `ETIMEDOUT`.
//!
//! Part 2, by hand, each on a `socket(..., SOCK_STREAM|SOCK_NONBLOCK|
//! SOCK_CLOEXEC, ...)`, waiting with baresock's poll module (its `Poll`
//! backend: `register` makes no syscall, each `wait` is one `poll`):
//! - pending: `connect` = `EINPROGRESS`, `connect` = `EALREADY`,
//!   `poll([{fd, POLLOUT|POLLWRNORM|POLLWRBAND}], 1, 100)` = 0 (not
//!   writable yet; the poll module asks for every "writable" flag),
//!   `getpeername` = `ENOTCONN`, `getsockopt(SO_ERROR)` = 0 (0 does not
//!   mean connected!);
//! - success: `connect` = `EINPROGRESS`, `poll` = 1 (`POLLOUT`),
//!   `getsockopt(SO_ERROR)` = 0, `getpeername` = 0, `connect` = 0,
//!   `connect` = `EISCONN`;
//! - refused: `connect` = `EINPROGRESS`, `poll` = 1
//!   (`POLLOUT|POLLERR|POLLHUP`), `getsockopt(SO_ERROR)` = `ECONNREFUSED`,
//!   `connect` = `ECONNABORTED`, `connect` = `EINPROGRESS`;
//! - refused, asking `connect` instead of SO_ERROR: `connect` =
//!   `EINPROGRESS`, `poll` = 1, `connect` = `ECONNREFUSED`.
//!
//! # Run it
//!
//! `cargo run --example connect_timeout` (no arguments; under a second,
//! most of it the deliberate timeouts).
//!
//! # What to look for in the trace
//!
//! `BARESOCK_TRACE=1 cargo run --example connect_timeout --features trace`
//! prints every syscall the crate makes, as strace would, on stderr (`strace
//! -e trace=%network,poll,fcntl target/debug/examples/connect_timeout` shows
//! the same lines, among the program's other calls). Lines from one run:
//!
//! - `fcntl(7, F_SETFL, O_RDWR|O_NONBLOCK) = 0`, then `connect(7, {...},
//!   16) = -1 EINPROGRESS (Operation now in progress)`: the helper at work.
//! - `poll([{fd=7, events=POLLOUT}], 1, 1000) = 1 ([{fd=7,
//!   revents=POLLOUT}])`, then `getsockopt(7, SOL_SOCKET, SO_ERROR, [0],
//!   [4]) = 0` and `getpeername(7, {...}, [128 => 16]) = 0`: connected.
//! - `... revents=POLLOUT|POLLERR|POLLHUP}])` then `getsockopt(8,
//!   SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0`: the call succeeds and
//!   the handshake's error arrives as its *value*.
//! - `poll([{fd=9, events=POLLOUT}], 1, 300) = 0 (Timeout)`: the deadline;
//!   every path ends with `fcntl(N, F_SETFL, O_RDWR) = 0` (blocking again).
//! - In part 2, `socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK,
//!   IPPROTO_IP)` (no fcntl at all); the poll module's `wait` as
//!   `poll([{fd=9, events=POLLOUT|POLLWRNORM|POLLWRBAND}], 1, 1000) = 1
//!   ([{fd=9, revents=POLLOUT|POLLERR|POLLHUP|POLLWRNORM}])` for the
//!   refused ones; and the repeated connects on one fd: `= -1
//!   EALREADY`; `= 0` then `= -1 EISCONN`; `= -1 ECONNABORTED` then `= -1
//!   EINPROGRESS`; `= -1 ECONNREFUSED`.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use baresock::poll::{Event, Events, Interest, Poll, Poller, Token};
use baresock::{Domain, OwnedSocket, Protocol, SockAddr, Type};

/// The deadline of a connect that should succeed or fail at once.
const GENEROUS: Duration = Duration::from_secs(1);
/// The deadline of the connects that are meant to time out.
const SHORT: Duration = Duration::from_millis(300);
/// How long part 2 looks at a pending connect before moving on.
const PEEK: Duration = Duration::from_millis(100);

fn main() -> ExitCode {
    if std::env::args().len() > 1 {
        eprintln!("usage: connect_timeout (no arguments: a self-contained demo on loopback)");
        return ExitCode::from(2);
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("connect_timeout: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> io::Result<()> {
    // Three loopback targets, each kept open for the whole demo.
    //
    // A listener that accepts nothing: the kernel completes handshakes
    // into its queue by itself, which is all a connect needs.
    let listener = tcp()?;
    listener.bind(&loopback(0))?;
    listener.listen(16)?;
    let up = listener.local_addr()?;

    // A port that is bound but not listening: the kernel answers a SYN to
    // it with a reset, so connecting is refused. Holding it bound means no
    // other program can start listening there during the demo.
    let closed_port = tcp()?;
    closed_port.bind(&loopback(0))?;
    let refused = closed_port.local_addr()?;

    // A listener with backlog 0 that never accepts. Linux lets one
    // connection complete into its queue; while that one is queued, SYNs
    // of later connects are dropped and those connects stay pending.
    let full = tcp()?;
    full.bind(&loopback(0))?;
    full.listen(0)?;
    let silent = full.local_addr()?;
    let _queued = fill_queue(&silent)?;

    println!("\n== Part 1: OwnedSocket::connect_timeout ==");
    let s = tcp()?;
    let r = timed(|| s.connect_timeout(&up, GENEROUS));
    report(&format!("connect_timeout({}, 1 s)", show(&up)), &r);
    expect_ok(&r.0)?;
    println!(
        "  getpeername = {}; blocking again: {}",
        show(&s.peer_addr()?),
        !s.nonblocking()?
    );

    let s = tcp()?;
    let r = timed(|| s.connect_timeout(&refused, GENEROUS));
    report(&format!("connect_timeout({}, 1 s)", show(&refused)), &r);
    expect_errno(&r.0, libc::ECONNREFUSED)?;

    let s = tcp()?;
    let r = timed(|| s.connect_timeout(&silent, SHORT));
    report(&format!("connect_timeout({}, 300 ms)", show(&silent)), &r);
    expect_errno(&r.0, libc::ETIMEDOUT)?;
    println!(
        "  (waited {} ms: the full listener dropped our SYN; the kernel would \
         resend it at 1 s, 3 s, 7 s... had we not given up)",
        r.1.as_millis()
    );
    // Dropping `s` abandons the pending connect: close(fd) in the trace.
    drop(s);

    println!("\n== Part 2: the same steps by hand ==");

    println!("-- pending (the full listener) --");
    let s = nonblocking_tcp()?;
    // connect on a nonblocking socket: the SYN is sent, the call returns.
    answer("connect", s.connect(&silent), Some(libc::EINPROGRESS))?;
    answer("connect again", s.connect(&silent), Some(libc::EALREADY))?;
    let ready = wait_writable(&s, PEEK)?;
    println!("poll(POLLOUT, 100 ms) = {}", ready_text(&ready));
    check(ready.is_none(), "not writable while pending")?;
    answer(
        "getpeername",
        s.peer_addr().map(|_| ()),
        Some(libc::ENOTCONN),
    )?;
    // SO_ERROR is 0 while pending too: reading it before the socket is
    // writable tells nothing. That is why the wait comes first.
    let e = s.take_error()?;
    check(e.is_none(), "no pending error")?;
    println!("getsockopt(SO_ERROR) = 0, and yet the socket is not connected");
    drop(s);

    println!("-- success (a listener) --");
    let s = nonblocking_tcp()?;
    answer("connect", s.connect(&up), Some(libc::EINPROGRESS))?;
    let ready = wait_writable(&s, GENEROUS)?;
    println!("poll(POLLOUT, 1 s) = {}", ready_text(&ready));
    check(ready.is_some(), "writable")?;
    // Writable: the handshake is over. SO_ERROR says how it ended.
    let e = s.take_error()?;
    check(e.is_none(), "SO_ERROR 0 after a good handshake")?;
    println!("getsockopt(SO_ERROR) = 0: connected");
    println!("getpeername = {}", show(&s.peer_addr()?));
    // Linux: the first connect after the handshake succeeded returns 0
    // and marks the socket connected; later ones say EISCONN.
    answer("connect again", s.connect(&up), None)?;
    answer("connect again", s.connect(&up), Some(libc::EISCONN))?;
    drop(s);

    println!("-- refused (a port bound but not listening), outcome read from SO_ERROR --");
    let s = nonblocking_tcp()?;
    answer("connect", s.connect(&refused), Some(libc::EINPROGRESS))?;
    let ready = wait_writable(&s, GENEROUS)?;
    println!("poll(POLLOUT, 1 s) = {}", ready_text(&ready));
    check(ready.is_some(), "writable")?;
    // Writable here means "over", not "connected": SO_ERROR holds why.
    match s.take_error()? {
        Some(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => println!(
            "getsockopt(SO_ERROR) = 0, value {}: refused",
            errno_text(&e).trim_start_matches("-1 ")
        ),
        other => {
            return Err(io::Error::other(format!(
                "expected ECONNREFUSED, got {other:?}"
            )));
        }
    }
    // SO_ERROR took the error; connect has nothing left to report but
    // that the attempt is over...
    answer(
        "connect again",
        s.connect(&refused),
        Some(libc::ECONNABORTED),
    )?;
    // ...and the next call starts a fresh attempt on the same socket.
    answer(
        "connect again",
        s.connect(&refused),
        Some(libc::EINPROGRESS),
    )?;
    drop(s);

    println!("-- refused, outcome read by calling connect again --");
    let s = nonblocking_tcp()?;
    answer("connect", s.connect(&refused), Some(libc::EINPROGRESS))?;
    // Waiting reads nothing from the socket: the error stays pending, so
    // the next connect is the one to report it.
    let ready = wait_writable(&s, GENEROUS)?;
    println!("poll(POLLOUT, 1 s) = {}", ready_text(&ready));
    check(ready.is_some(), "writable")?;
    answer(
        "connect again",
        s.connect(&refused),
        Some(libc::ECONNREFUSED),
    )?;
    drop(s);

    println!("\ndone: every answer was the one described at the top of this file");
    // The three targets close here, in reverse order of creation.
    Ok(())
}

/// Connects to the backlog-0 listener until one connect stays pending, so
/// the queue is known to be full whatever the kernel's exact rule.
/// Returns the queued connections, which must stay open.
fn fill_queue(silent: &SockAddr) -> io::Result<Vec<OwnedSocket>> {
    let mut queued = Vec::new();
    for n in 1..=8 {
        let s = tcp()?;
        match s.connect_timeout(silent, SHORT) {
            Ok(()) => {
                println!("fill: connection {n} to the backlog-0 listener completed into its queue");
                queued.push(s);
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                println!("fill: connection {n} stays pending: the queue is full");
                return Ok(queued);
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(
        "the backlog-0 listener kept accepting connections into its queue",
    ))
}

/// Waits until `s` is writable, the portable way: poll(2) for `POLLOUT`,
/// here through baresock's poll module (the `Poll` backend: `register`
/// makes no syscall, each `wait` is one `poll`). A signal (EINTR) is not
/// the end of the wait: ask again with the time that is left, as
/// `connect_timeout` does. `None`: the time ran out.
fn wait_writable(s: &OwnedSocket, limit: Duration) -> io::Result<Option<Event>> {
    let mut poller = Poll::new();
    poller.register(s.as_fd(), Token(0), Interest::WRITABLE)?;
    let mut events = Events::with_capacity(1);
    let deadline = Instant::now() + limit;
    let mut ready = None;
    // Bounded: each round either reports, times out, or was interrupted.
    for _ in 0..100 {
        let left = deadline.saturating_duration_since(Instant::now());
        match poller.wait(&mut events, Some(left)) {
            Ok(_) => {
                ready = events.iter().next().copied();
                if ready.is_some() || left.is_zero() {
                    break;
                }
                // 0 events with time left: the timeout, rounded; go round
                // once more with what is left (nothing, or a sliver).
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    // Deregister before the socket can be closed: the poller keeps the
    // fd's number, not the fd.
    poller.deregister(s.as_fd())?;
    Ok(ready)
}

/// What poll saw, in strace's words.
fn ready_text(ready: &Option<Event>) -> String {
    match ready {
        None => "0 (Timeout): not writable, the handshake is still going".to_string(),
        Some(ev) => {
            let mut flags = Vec::new();
            if ev.is_writable() {
                flags.push("POLLOUT");
            }
            if ev.is_error() {
                flags.push("POLLERR");
            }
            if ev.is_hangup() {
                flags.push("POLLHUP");
            }
            format!("1 ({}): the handshake is over", flags.join("|"))
        }
    }
}

fn tcp() -> io::Result<OwnedSocket> {
    OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT)
}

/// `socket(AF_INET, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 0)`: nonblocking
/// from the same syscall, no `fcntl` needed.
fn nonblocking_tcp() -> io::Result<OwnedSocket> {
    OwnedSocket::new_nonblocking(Domain::IPV4, Type::STREAM, Protocol::DEFAULT)
}

fn loopback(port: u16) -> SockAddr {
    SockAddr::from(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

fn timed<T>(f: impl FnOnce() -> io::Result<T>) -> (io::Result<T>, Duration) {
    let start = Instant::now();
    let r = f();
    (r, start.elapsed())
}

fn report(what: &str, (r, took): &(io::Result<()>, Duration)) {
    let res = match r {
        Ok(()) => "Ok".to_string(),
        Err(e) => errno_text(e),
    };
    println!("{what} = {res} after {:.1} ms", took.as_secs_f64() * 1000.0);
}

/// Prints one call's answer strace-style and checks it is the one Linux
/// gives (`None`: success). The errors are the point of this example, so
/// an expected error is printed, not returned.
fn answer(what: &str, r: io::Result<()>, expected: Option<i32>) -> io::Result<()> {
    match &r {
        Ok(()) => println!("{what} = 0"),
        Err(e) => println!("{what} = {}", errno_text(e)),
    }
    match expected {
        None => expect_ok(&r),
        Some(code) => expect_errno(&r, code),
    }
}

fn expect_ok(r: &io::Result<()>) -> io::Result<()> {
    match r {
        Ok(()) => Ok(()),
        Err(e) => Err(io::Error::other(format!("expected success, got {e}"))),
    }
}

fn expect_errno<T>(r: &io::Result<T>, code: i32) -> io::Result<()> {
    match r {
        Err(e) if e.raw_os_error() == Some(code) => Ok(()),
        Err(e) => Err(io::Error::other(format!(
            "expected {}, got {}",
            errno_name(code),
            errno_text(e)
        ))),
        Ok(_) => Err(io::Error::other(format!(
            "expected {}, got success",
            errno_name(code)
        ))),
    }
}

fn check(ok: bool, what: &str) -> io::Result<()> {
    if ok {
        Ok(())
    } else {
        Err(io::Error::other(format!("expected {what}")))
    }
}

fn errno_name(code: i32) -> &'static str {
    match code {
        libc::EINPROGRESS => "EINPROGRESS",
        libc::EALREADY => "EALREADY",
        libc::EISCONN => "EISCONN",
        libc::ENOTCONN => "ENOTCONN",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ECONNABORTED => "ECONNABORTED",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::EINTR => "EINTR",
        _ => "errno",
    }
}

/// `-1 EINPROGRESS (Operation now in progress)`, as strace prints it.
fn errno_text(e: &io::Error) -> String {
    let Some(code) = e.raw_os_error() else {
        return e.to_string();
    };
    let text = e.to_string();
    let message = text
        .strip_suffix(&format!(" (os error {code})"))
        .unwrap_or(&text);
    format!("-1 {} ({message})", errno_name(code))
}

fn show(addr: &SockAddr) -> String {
    match addr.as_socket() {
        Some(a) => a.to_string(),
        None => addr.to_string(),
    }
}
