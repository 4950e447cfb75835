//! `tcp_server`: a blocking TCP server that serves one connection at a time.
//! It is the counterpart of `server.c` in Beej's guide ("a simple stream
//! server"), written with baresock's one-call-per-syscall `OwnedSocket`.
//!
//! # What it teaches
//!
//! - The life of a listening socket: `socket`, `setsockopt(SO_REUSEADDR)`,
//!   `bind`, `listen`, then `accept4` in a loop. Each `accept4` returns a
//!   *new* socket for one connection; the listener keeps listening.
//! - Blocking I/O: every call waits until the kernel can do it. A server
//!   that blocks serves one client at a time; the others wait in the listen
//!   queue (`listen`'s backlog) until it comes back to `accept4`.
//! - A stream has no message boundaries: the server echoes whatever bytes
//!   each `recv` returns, and `recv` returning 0 is the only end-of-stream
//!   signal (the peer's FIN, from `shutdown(SHUT_WR)` or `close`).
//! - `send` may take fewer bytes than asked; `send_all` below loops.
//! - `SO_RCVTIMEO` bounds how long a blocking `accept4` or `recv` waits
//!   (`SO_SNDTIMEO` the same for `send`): it then fails with `EAGAIN`, so
//!   a silent client cannot hold the server forever.
//! - A blocking `send` comes back short (fewer bytes than asked) only
//!   when something ended its wait: a signal, an error, or `SO_SNDTIMEO`
//!   expiring. The timeout counts across all the waits of one call, so
//!   with no signal handlers a short send means the call has already
//!   waited the whole timeout: the client is too slow, and the server
//!   drops it then. Calling again (as a plain "send it all" loop does)
//!   waited the whole timeout once more: a client that never read held
//!   the server about three timeouts.
//!
//! # Syscalls, in order
//!
//! Server (main thread):
//! 1. `socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP)`
//! 2. `setsockopt(SOL_SOCKET, SO_REUSEADDR, [1])`
//! 3. `bind(127.0.0.1:PORT)` (port 0 without arguments: the kernel picks)
//! 4. `listen(fd, 16)`
//! 5. `setsockopt(SOL_SOCKET, SO_RCVTIMEO)` on the listener (bounds accept)
//! 6. `getsockname` (read back the port the kernel chose)
//! 7. per connection: `accept4(..., SOCK_CLOEXEC)`, `getsockname` (the
//!    connection's local address: the listener's), `setsockopt(SO_RCVTIMEO)`
//!    and `setsockopt(SO_SNDTIMEO)` on the connection, `sendto` (the
//!    greeting), then `recvfrom` / `sendto` pairs until `recvfrom` returns
//!    0, `close`. A `sendto` that comes back short or fails with
//!    `EAGAIN` (the client is not reading) ends the connection: `close`.
//! 8. `close` of the listener
//!
//! Client (a thread, only without arguments): `socket`, `connect`,
//! `getsockname`, `setsockopt(SO_RCVTIMEO)`, `sendto`, `shutdown(SHUT_WR)`,
//! `recvfrom` until it returns 0, `close`.
//!
//! # Run it
//!
//! ```text
//! cargo run --example tcp_server                 # self-contained demo, exits 0
//! cargo run --example tcp_server -- 4950 3       # serve 3 clients on 127.0.0.1:4950
//! cargo run --example tcp_server -- 4950 3 120   # ... giving up after 120 s idle
//! ```
//!
//! With a port, poke at it from another terminal with `nc 127.0.0.1 4950`:
//! type lines and see them echoed; Ctrl-D sends your FIN and the server
//! closes the connection, then takes the next client. Try two `nc` at once:
//! the second connects (the kernel completes the handshake into the listen
//! queue) but gets no greeting until the first one is done. `tcp_client`
//! with the same port talks to it too.
//!
//! # What to look for in the trace
//!
//! `BARESOCK_TRACE=1 cargo run --example tcp_server --features trace` prints
//! every syscall the crate makes, as strace would, on stderr (`strace -f -e
//! trace=%network,close target/debug/examples/tcp_server` shows the same
//! lines, among the program's other calls). Lines from one run:
//!
//! - `bind(3, {sa_family=AF_INET, sin_port=htons(0), ...}, 16) = 0`, then
//!   `getsockname(3, {..., sin_port=htons(41234), ...}, [128 => 16]) = 0`:
//!   port 0 means "kernel, choose", and getsockname is how to learn the
//!   choice (`[128 => 16]`: we offered 128 bytes, the kernel wrote 16).
//! - `setsockopt(3, SOL_SOCKET, SO_RCVTIMEO_OLD,
//!   "\5\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16) = 0`: strace's name (and so the
//!   trace's) for SO_RCVTIMEO with a `struct timeval` on 64-bit Linux,
//!   whose 16 bytes say 5 seconds, 0 microseconds.
//! - `accept4(3, {..., sin_port=htons(47768), ...}, [128 => 16],
//!   SOCK_CLOEXEC) = 4`: a new fd for the connection; the port in it is the
//!   client's ephemeral port, the one the client's `getsockname` shows.
//!   Under `strace -f` it first shows as `accept4(3, <unfinished ...>`:
//!   the call is blocked. The client thread's `socket` then returns 5, not
//!   4: the kernel reserved the lowest free fd for `accept4` when it began
//!   to wait.
//! - `sendto(4, "Hello, world!\n", 14, MSG_NOSIGNAL, NULL, 0) = 14`: a
//!   `send` is `sendto` with no address; `MSG_NOSIGNAL` is baresock's.
//! - `recvfrom(4, "", 4096, 0, NULL, NULL) = 0` right after the client's
//!   `shutdown(5, SHUT_WR) = 0`: end of stream.
//! - `close(4)` before the next `accept4`; the listener's `close(3)` last.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use baresock::{Domain, OwnedSocket, Protocol, Shutdown, SockAddr, Type};

/// What the server says first to every client (Beej's server says the same).
const GREETING: &[u8] = b"Hello, world!\n";
/// How long the demo's blocking calls may wait before `EAGAIN`.
const DEMO_WAIT: Duration = Duration::from_secs(5);
/// Upper bound on recv/send rounds per connection, so every loop ends.
const MAX_ROUNDS: usize = 100_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [] => demo(),
        [port, rest @ ..] if rest.len() <= 2 => match parse_serve_args(port, rest) {
            Ok((port, count, idle)) => serve(port, count, idle),
            Err(msg) => {
                eprintln!("tcp_server: {msg}");
                return usage();
            }
        },
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tcp_server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: tcp_server [PORT [CONNECTIONS (default 1) [IDLE_SECONDS (default 60)]]]");
    eprintln!("       (binds 127.0.0.1 only; without arguments runs a self-contained demo)");
    ExitCode::from(2)
}

fn parse_serve_args(port: &str, rest: &[String]) -> Result<(u16, usize, Duration), String> {
    let port: u16 = port.parse().map_err(|_| format!("bad port {port:?}"))?;
    let count: usize = match rest.first() {
        Some(c) => c
            .parse()
            .map_err(|_| format!("bad connection count {c:?}"))?,
        None => 1,
    };
    if !(1..=10_000).contains(&count) {
        return Err("connection count must be 1..=10000".into());
    }
    let idle: u64 = match rest.get(1) {
        Some(s) => s.parse().map_err(|_| format!("bad idle seconds {s:?}"))?,
        None => 60,
    };
    if !(1..=86_400).contains(&idle) {
        return Err("idle seconds must be 1..=86400".into());
    }
    Ok((port, count, Duration::from_secs(idle)))
}

/// No arguments: listen on an ephemeral loopback port, start one client in
/// a thread, serve it, check the echo, exit.
fn demo() -> io::Result<()> {
    let listener = make_listener(0, DEMO_WAIT)?;
    let addr = listener.local_addr()?;
    println!("server: listening on {}", show(&addr));

    // The client runs in its own thread: with blocking sockets, the server
    // and the client each need a thread of their own to wait in.
    let client = thread::spawn(move || demo_client(addr));

    let served = serve_connection(&listener, DEMO_WAIT)?;
    println!("server: connection done, echoed {served} bytes");

    let echoed = client
        .join()
        .map_err(|_| io::Error::other("client thread panicked"))??;
    let expected = [GREETING, CLIENT_MESSAGE].concat();
    if echoed != expected {
        return Err(io::Error::other(format!(
            "client got {:?}, expected {:?}",
            String::from_utf8_lossy(&echoed),
            String::from_utf8_lossy(&expected)
        )));
    }
    // Dropping the listener closes it: close(3) in the trace.
    listener.close()?;
    println!("server: listener closed; demo done");
    Ok(())
}

/// With a port: serve `count` connections, one at a time, on 127.0.0.1.
fn serve(port: u16, count: usize, idle: Duration) -> io::Result<()> {
    let listener = make_listener(port, idle)?;
    let addr = listener.local_addr()?;
    println!(
        "server: listening on {}; serving {count} connection(s), giving up after {} s idle",
        show(&addr),
        idle.as_secs()
    );
    println!("server: try `nc 127.0.0.1 {}`", port_of(&addr));
    for n in 1..=count {
        println!("server: waiting for connection {n} of {count}");
        // A misbehaving client (reset, silence) ends its connection, not
        // the server; only a listener error ends the loop.
        match serve_connection(&listener, idle) {
            Ok(bytes) => println!("server: connection {n} done, echoed {bytes} bytes"),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // SO_RCVTIMEO on the listener expired inside accept4.
                println!(
                    "server: nobody connected for {} s; stopping",
                    idle.as_secs()
                );
                return Ok(());
            }
            Err(e) if is_per_connection(&e) => println!("server: connection {n} failed: {e}"),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Errors that end one connection but leave the listener fine. (A timeout
/// inside `accept4` is told apart before this is asked.)
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::TimedOut
    )
}

fn make_listener(port: u16, wait: Duration) -> io::Result<OwnedSocket> {
    // socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP): a TCP socket.
    // CLOEXEC so a child we might exec never inherits the listener.
    let listener = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT)?;

    // setsockopt(SO_REUSEADDR) before bind: when the server restarts, its
    // old connections may still be in TIME_WAIT on this port, and without
    // it bind fails with EADDRINUSE for a minute (Beej's "lose the pesky
    // 'Address already in use' error message"). The accepted connections
    // inherit the flag, which is what lets the *next* run rebind: see
    // `cargo run --example misconceptions`.
    listener.set_reuse_address(true)?;

    // bind: loopback only, so nothing outside this machine can connect.
    let addr = SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    listener.bind(&addr)?;

    // listen: from here on the kernel completes handshakes by itself and
    // queues up to 16 connections that accept4 has not taken yet.
    listener.listen(16)?;

    // SO_RCVTIMEO also bounds a blocking accept4 on Linux: it fails with
    // EAGAIN when nobody connects in time, so the server never hangs.
    listener.set_read_timeout(Some(wait))?;
    Ok(listener)
}

/// Accepts one connection, greets it, echoes until the client's FIN, and
/// closes it. Returns the number of bytes echoed.
fn serve_connection(listener: &OwnedSocket, wait: Duration) -> io::Result<usize> {
    // accept4 blocks until a connection is queued. EINTR (a signal arrived
    // while we waited) is not an error of the connection: just call again,
    // a bounded number of times. baresock never retries for us, so a
    // program with signal handlers sees the interruption and decides.
    let (conn, peer) = retry_eintr(|| listener.accept())?;
    println!(
        "server: accept4 = fd {} from {} (its local address: {})",
        conn.as_raw_fd(),
        show(&peer),
        show(&conn.local_addr()?)
    );
    // Bound each blocking recv and send on this connection too: a client
    // that goes silent, or sends without ever reading our echo (so our
    // send buffer fills), is dropped after `wait` instead of hanging us.
    conn.set_read_timeout(Some(wait))?;
    conn.set_write_timeout(Some(wait))?;

    send_all(&conn, GREETING, Some(wait))?;
    let mut buf = [0u8; 4096];
    let mut echoed = 0;
    for _ in 0..MAX_ROUNDS {
        // recv returns as soon as *some* bytes are there: maybe a part of
        // what the client sent, maybe two of its sends glued together.
        let n = match conn.recv(&mut buf) {
            Ok(0) => {
                // 0 is end of stream: the client shut down its write side
                // (or closed). Our side may still send; we are done.
                println!("server: recvfrom = 0 (the client's FIN): closing");
                conn.close()?;
                return Ok(echoed);
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // SO_RCVTIMEO expired: the client said nothing for too long.
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client silent for too long",
                ));
            }
            Err(e) => return Err(e),
        };
        println!("server: recvfrom = {n}: {}", preview(&buf[..n]));
        send_all(&conn, &buf[..n], Some(wait))?;
        echoed += n;
    }
    Err(io::Error::other("connection exceeded the round limit"))
}

/// Sends all of `buf`. A blocking `send` on a stream may still return a
/// short count, so without a send timeout this loops until everything is
/// in the kernel's send buffer (`write_all` from `std::io::Write` does the
/// same; it is spelled out here to show why).
///
/// With `timeout` (the socket's `SO_SNDTIMEO`), a short count or `EAGAIN`
/// drops the client instead. Why: the kernel's send (`tcp_sendmsg`) reads
/// the timeout once per call and each wait for room in the send buffer
/// (`sk_stream_wait_memory`) spends from what is left of it. So a blocking
/// send returns short only when its wait was cut: by a signal (this
/// program has no handlers; that would be `EINTR` before any byte went),
/// by an error (the next call reports it), or by the timeout running out
/// after some bytes went. With none of the first two, a short send
/// already waited the whole timeout: the client is too slow. Calling
/// again would wait the whole timeout again, for a few more bytes each
/// time (a client that never read held the server three timeouts so).
fn send_all(sock: &OwnedSocket, mut buf: &[u8], timeout: Option<Duration>) -> io::Result<()> {
    let too_slow = |t: Duration| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "peer not reading: a send waited the whole {} ms send timeout",
                t.as_millis()
            ),
        )
    };
    // Each successful round moves at least one byte, so buf.len() rounds
    // plus a few interruptions always suffice.
    let mut interruptions = 0;
    while !buf.is_empty() {
        match sock.send(buf) {
            // 0 from a send of a non-empty buffer cannot make progress.
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                // Short, with a timeout: the call waited all of it (above).
                if let (Some(t), true) = (timeout, n < buf.len()) {
                    return Err(too_slow(t));
                }
                buf = &buf[n..];
            }
            // EINTR: nothing was sent; try again, a bounded number of times.
            Err(e) if e.kind() == io::ErrorKind::Interrupted && interruptions < 100 => {
                interruptions += 1;
            }
            // SO_SNDTIMEO expired with the send buffer still full: the peer
            // is not reading. (Had some bytes gone first, send would have
            // returned their count instead: a short send.)
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(match timeout {
                    Some(t) => too_slow(t),
                    None => io::Error::new(io::ErrorKind::TimedOut, "peer not reading"),
                });
            }
            // EPIPE (the peer is gone) arrives as an error, not as SIGPIPE:
            // baresock passes MSG_NOSIGNAL on every send.
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Calls `f` again when it fails with EINTR, at most 100 times.
fn retry_eintr<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let mut tries = 0;
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted && tries < 100 => tries += 1,
            other => return other,
        }
    }
}

const CLIENT_MESSAGE: &[u8] = b"ping from the client thread\n";

/// The demo's client: Beej's client.c in a few lines (see `tcp_client` for
/// the full story). Returns everything the server sent.
fn demo_client(server: SockAddr) -> io::Result<Vec<u8>> {
    let sock = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT)?;
    // No bind: connect gives the socket an ephemeral local port itself.
    sock.connect(&server)?;
    println!(
        "client: connected from {} to {}",
        show(&sock.local_addr()?),
        show(&server)
    );
    sock.set_read_timeout(Some(DEMO_WAIT))?;
    send_all(&sock, CLIENT_MESSAGE, None)?;
    // shutdown(SHUT_WR) sends our FIN: "no more from me", while we can
    // still read the echo. close() here would throw the echo away.
    sock.shutdown(Shutdown::Write)?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    for _ in 0..MAX_ROUNDS {
        match sock.recv(&mut buf) {
            Ok(0) => {
                println!("client: end of stream; got {}", preview(&got));
                return Ok(got);
            }
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("client exceeded the round limit"))
}

/// The bytes as a quoted string, cut at 32 bytes as strace cuts them.
fn preview(bytes: &[u8]) -> String {
    let cut = bytes.len().min(32);
    let more = if bytes.len() > cut { "..." } else { "" };
    format!("{:?}{more}", String::from_utf8_lossy(&bytes[..cut]))
}

fn show(addr: &SockAddr) -> String {
    match addr.as_socket() {
        Some(a) => a.to_string(),
        None => addr.to_string(),
    }
}

fn port_of(addr: &SockAddr) -> u16 {
    addr.as_socket().map_or(0, |a: SocketAddr| a.port())
}
