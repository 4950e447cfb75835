//! Load: 10,000 concurrent loopback connections through
//! examples/echo_server, on every backend in turn.
//!
//! Three processes per backend: this binary (the referee), the echo server
//! (the example, so the test also proves it) and the client (this binary
//! re-executed with `BARESOCK_LOAD_CLIENT`). Server and client are
//! separate processes because each holds one fd per connection and the
//! hard RLIMIT_NOFILE is 20,000; each child raises its own soft limit.
//!
//! The client opens the connections at a pace the listen backlog takes (at
//! most half of it waiting to be accepted), greets on each and waits for
//! the echo, which proves the server accepted it. When all are held at
//! once, the referee counts the server's fds, then the client sends every
//! connection's payload (1 to 32 KiB of a seeded random pool), compares
//! every byte of the echo, and shuts down its write side; the server
//! closes on end of stream, and the client checks that the echo was
//! complete. One connection in ten is reset instead (`SO_LINGER` 0, then
//! close) at a random point of its echo. Afterwards both processes' fd
//! counts are back where they started.
//!
//! Plain select holds what FD_SETSIZE allows (1,000 connections: the fds
//! must stay below 1024); the growable select, poll and epoll hold 10,000.
//!
//! A binary of its own (`harness = false`): it re-executes itself, and the
//! child changes RLIMIT_NOFILE. `BARESOCK_LOAD_SEED` replays a seed;
//! `BARESOCK_LOAD_CONNS` caps the connection count (for quick runs).
// pre_exec (to raise the server's RLIMIT_NOFILE before exec) is unsafe.
#![allow(unsafe_code)]

mod common;

use baresock::poll::{Backend, Events, Interest, Poller, Token};
use baresock::{Domain, OwnedSocket, Protocol, SockAddr, Type};
use common::Rng;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const CLIENT_ENV: &str = "BARESOCK_LOAD_CLIENT";

/// Connections on every backend but plain select.
const CONNS: usize = 10_000;
/// Plain select: FD_SETSIZE (1024) less the server's own fds (stdio, the
/// listener) and a margin.
const SELECT_CONNS: usize = 1_000;
/// Payloads are 1..=MAX_PAYLOAD bytes.
const MAX_PAYLOAD: usize = 32 * 1024;
/// Payloads are slices of one random pool, at random offsets.
const POOL: usize = 1 << 20;
/// The first bytes of each payload, echoed before the connection counts
/// as held (the echo proves the server accepted it).
const GREETING: usize = 16;
/// One connection in RESET_EVERY is reset.
const RESET_EVERY: usize = 10;
/// What one backend's run may take, end to end: the client and the server
/// stop by themselves at this bound, and the referee's waits end with it.
const RUN_LIMIT: Duration = Duration::from_secs(240);

type Test = (&'static str, Backend, usize);

const TESTS: &[Test] = &[
    ("select_holds_1000", Backend::Select, SELECT_CONNS),
    (
        "select_growable_holds_10000",
        Backend::SelectGrowable,
        CONNS,
    ),
    ("poll_holds_10000", Backend::Poll, CONNS),
    ("epoll_holds_10000", Backend::Epoll, CONNS),
];

fn main() {
    if let Ok(spec) = std::env::var(CLIENT_ENV) {
        std::process::exit(match client(&spec) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("load client: {e}");
                1
            }
        });
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for t in TESTS {
            println!("{}: test", t.0);
        }
        return;
    }
    // `--ignored` selects the ones ignored here (under qemu-user).
    let only_ignored = args.iter().any(|a| a == "--ignored");
    let exact = args.iter().any(|a| a == "--exact");
    let mut filters = Vec::new();
    let mut skips = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--skip" {
            skips.extend(it.next().cloned());
        } else if !a.starts_with('-') {
            filters.push(a.clone());
        }
    }
    let matches = |name: &str, pat: &String| {
        if exact {
            name == pat
        } else {
            name.contains(pat.as_str())
        }
    };
    let (mut passed, mut failed, mut filtered, mut ignored) = (0, 0, 0, 0);
    for &(name, backend, conns) in TESTS {
        if (!filters.is_empty() && !filters.iter().any(|p| matches(name, p)))
            || skips.iter().any(|p| name.contains(p.as_str()))
        {
            filtered += 1;
            continue;
        }
        let reason = ignore_reason(backend);
        if only_ignored != reason.is_some() {
            filtered += 1;
            continue;
        }
        if let (Some(reason), false) = (reason, only_ignored) {
            println!("test {name} ... ignored, {reason}");
            ignored += 1;
            continue;
        }
        let conns = std::env::var("BARESOCK_LOAD_CONNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(conns, |cap: usize| conns.min(cap));
        match std::panic::catch_unwind(|| run(backend, conns)) {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    // The same closing line as libtest's, which CI's summary reads.
    println!(
        "test result: {}. {passed} passed; {failed} failed; {ignored} ignored; 0 measured; {filtered} filtered out",
        if failed == 0 { "ok" } else { "FAILED" }
    );
    if failed > 0 {
        std::process::exit(1);
    }
}

/// Why a backend's case is ignored on this target, as libtest's
/// `#[ignore = "..."]` would say it.
fn ignore_reason(backend: Backend) -> Option<&'static str> {
    if backend == Backend::SelectGrowable {
        common::QEMU_FD_SET
    } else {
        None
    }
}

// ---- shared by both sides ----

/// Open fds of a process, from /proc/PID/fd ("self" for this one). The
/// directory's own fd counts in every reading alike.
fn fd_count(pid: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/fd: {e}"))
        .count()
}

fn nofile_hard() -> libc::rlim_t {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .unwrap()
        .1
}

/// What a process holding `conns` connections needs: one fd each, and
/// room for its own.
fn nofile_needed(conns: usize) -> libc::rlim_t {
    // rlim_t is 32-bit on i686.
    conns as libc::rlim_t + 256
}

fn seed_for(backend: Backend) -> u64 {
    std::env::var("BARESOCK_LOAD_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x10AD_0000 + backend as u64)
}

fn somaxconn() -> usize {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .expect("read /proc/sys/net/core/somaxconn")
        .trim()
        .parse()
        .unwrap()
}

/// The network namespace's count of connections dropped because a
/// listen queue was full (TcpExt ListenOverflows in /proc/net/netstat).
/// Shared with every other process on the machine, so it is reported,
/// not asserted.
fn listen_overflows() -> u64 {
    let text = std::fs::read_to_string("/proc/net/netstat").expect("read /proc/net/netstat");
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
    let [names, values] = rows[..] else {
        panic!("unexpected /proc/net/netstat: {text}");
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "ListenOverflows")
        .and_then(|(_, v)| v.parse().ok())
        .expect("ListenOverflows in /proc/net/netstat")
}

// ---- the referee ----

/// What echo_server passes to listen(2); the kernel caps it at somaxconn.
const SERVER_BACKLOG: usize = 1024;

fn run(backend: Backend, conns: usize) {
    let hard = nofile_hard();
    assert!(
        hard >= nofile_needed(conns),
        "{backend}: the hard RLIMIT_NOFILE is {hard}; {conns} connections need {} in each process",
        nofile_needed(conns)
    );
    let backlog = SERVER_BACKLOG.min(somaxconn());
    // At most half the backlog waits to be accepted: connections never
    // find the queue full, so no SYN is dropped and retried a second
    // later.
    let pace = (backlog / 2).max(1);
    let seed = seed_for(backend);
    let fds_before = fd_count("self");
    let overflows_before = listen_overflows();
    let t0 = Instant::now();

    let mut server = start_server(backend, conns, hard);
    let server_pid = server.child.id().to_string();
    let server_base = fd_count(&server_pid);

    let mut client = Command::new(std::env::current_exe().unwrap())
        .env(
            CLIENT_ENV,
            format!(
                "{} {conns} {pace} {seed} {}",
                server.addr,
                RUN_LIMIT.as_secs()
            ),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the load client");
    let mut to_client = client.stdin.take().unwrap();
    let mut from_client = BufReader::new(client.stdout.take().unwrap());

    // "holding N": every connection is open and accepted.
    let held = read_line(&mut from_client);
    let t_held = t0.elapsed();
    let overflows = listen_overflows() - overflows_before;
    assert_eq!(held.trim(), format!("holding {conns}"), "{backend}");
    let server_held = fd_count(&server_pid);
    assert_eq!(
        server_held,
        server_base + conns,
        "{backend}: the server should hold one fd per connection"
    );
    writeln!(to_client, "go").unwrap();
    drop(to_client);

    // "done ...": the transfers are over and the client checked them.
    let done = read_line(&mut from_client);
    let t_done = t0.elapsed();
    let status = wait_bounded(&mut client, "the load client");
    assert!(status.success(), "{backend}: load client failed: {status}");
    assert!(done.starts_with("done "), "{backend}: {done:?}");

    // The server closes each connection when it sees the end of stream
    // or the reset; bounded wait until every fd is gone.
    let mut server_after = fd_count(&server_pid);
    for _ in 0..200 {
        if server_after == server_base {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        server_after = fd_count(&server_pid);
    }
    assert_eq!(
        server_after, server_base,
        "{backend}: the server's fds are not back to where they started"
    );
    // One more connection makes conns + 1 closed: the server exits.
    drop(TcpStream::connect(server.addr).unwrap());
    let summary = finish_server(&mut server);
    assert!(
        summary.starts_with(&format!(
            "served {} connections ({} closed)",
            conns + 1,
            conns + 1
        )),
        "{backend}: {summary}"
    );
    assert!(
        summary.ends_with(" 0 EMFILE pauses"),
        "{backend}: {summary}"
    );
    drop(server);
    drop(from_client);
    drop(client);
    assert_eq!(fd_count("self"), fds_before, "{backend}: referee's fds");
    println!(
        "load_10k: {backend}: {conns} connections held (server {server_base} -> {server_held} -> {server_after} fds), seed {seed:#x}, {overflows} listen-queue overflows in the namespace while opening; {}; opening {:.1}s, transfers {:.1}s, total {:.1}s",
        done.trim().trim_start_matches("done "),
        t_held.as_secs_f64(),
        (t_done - t_held).as_secs_f64(),
        t0.elapsed().as_secs_f64(),
    );
}

struct Server {
    child: Child,
    out: BufReader<ChildStdout>,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only when a check failed before the server exited.
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn start_server(backend: Backend, conns: usize, hard: libc::rlim_t) -> Server {
    let mut cmd = Command::new(common::example_path("echo_server"));
    cmd.args([
        backend.name(),
        "127.0.0.1:0",
        "--conns",
        &(conns + 1).to_string(),
        "--secs",
        &RUN_LIMIT.as_secs().to_string(),
    ])
    .stdout(Stdio::piped());
    let soft = nofile_needed(conns).min(hard);
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs in the forked child before exec and
        // makes one async-signal-safe syscall (setrlimit); it touches no
        // lock and allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                nix::sys::resource::setrlimit(
                    nix::sys::resource::Resource::RLIMIT_NOFILE,
                    soft,
                    hard,
                )
                .map_err(io::Error::from)
            });
        }
    }
    let mut child = cmd.spawn().expect("spawn echo_server");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let first = read_line(&mut out);
    let addr = first
        .strip_prefix("listening on ")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    Server { child, out, addr }
}

/// One line from a child; the children stop by themselves within
/// RUN_LIMIT, so this read ends.
#[track_caller]
fn read_line(r: &mut impl BufRead) -> String {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(!line.is_empty(), "the child closed its output early");
    line
}

#[track_caller]
fn wait_bounded(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("{what} did not exit");
}

/// The server's exit and summary line.
#[track_caller]
fn finish_server(s: &mut Server) -> String {
    let status = wait_bounded(&mut s.child, "echo_server");
    let mut rest = String::new();
    s.out.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "echo_server failed: {status}; {rest}");
    rest.lines()
        .find(|l| l.starts_with("served"))
        .unwrap_or_else(|| panic!("no summary in {rest:?}"))
        .to_owned()
}

// ---- the client (a child process) ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// connect(2) returned EINPROGRESS; waiting for writability.
    Connecting,
    /// The greeting is sent; waiting for its echo.
    Greeting,
    /// Greeted and echoed: accepted, held open.
    Held,
    /// Sending the payload and reading its echo.
    Sending,
    /// All sent and the write side shut down: reading the rest.
    Draining,
    /// Closed: end of stream after the whole echo, or reset by us.
    Done,
}

struct Conn {
    sock: Option<OwnedSocket>,
    /// The payload is pool[off..off + len].
    off: usize,
    len: usize,
    sent: usize,
    recvd: usize,
    /// Reset (SO_LINGER 0, close) once this many bytes came back.
    reset_at: Option<usize>,
    state: State,
}

#[derive(Default)]
struct Tally {
    completed: usize,
    reset: usize,
    verified: u64,
    failures: Vec<String>,
}

impl Tally {
    fn fail(&mut self, what: String) {
        if self.failures.len() < 20 {
            eprintln!("load client: {what}");
        }
        self.failures.push(what);
    }
}

fn client(spec: &str) -> Result<(), String> {
    let parts: Vec<&str> = spec.split_whitespace().collect();
    let [addr, conns, pace, seed, secs] = parts[..] else {
        return Err(format!("bad spec {spec:?}"));
    };
    let addr: SocketAddr = addr.parse().map_err(|e| format!("{e}"))?;
    let n: usize = conns.parse().unwrap();
    let pace: usize = pace.parse().unwrap();
    let seed: u64 = seed.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs.parse().unwrap());

    let hard = nofile_hard();
    nix::sys::resource::setrlimit(
        nix::sys::resource::Resource::RLIMIT_NOFILE,
        nofile_needed(n).min(hard),
        hard,
    )
    .map_err(|e| format!("raise RLIMIT_NOFILE: {e}"))?;
    let fds_before = fd_count("self");

    // The plan, all from the seed: the pool, each payload's place and
    // length, and which connections are reset where.
    let mut rng = Rng::new(seed);
    let mut pool = Vec::with_capacity(POOL + MAX_PAYLOAD);
    while pool.len() < POOL + MAX_PAYLOAD {
        pool.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    let mut conns: Vec<Conn> = (0..n)
        .map(|_| {
            let len = 1 + rng.below(MAX_PAYLOAD);
            Conn {
                sock: None,
                off: rng.below(POOL),
                len,
                sent: 0,
                recvd: 0,
                reset_at: None,
                state: State::Connecting,
            }
        })
        .collect();
    // Exactly one in RESET_EVERY, chosen by a partial shuffle.
    let mut order: Vec<usize> = (0..n).collect();
    for k in 0..n / RESET_EVERY {
        let j = k + rng.below(n - k);
        order.swap(k, j);
        let c = &mut conns[order[k]];
        let greeting = c.len.min(GREETING);
        // Anywhere from right after the greeting to after the whole echo
        // (then the reset replaces the orderly close).
        c.reset_at = Some(greeting + rng.below(c.len - greeting + 1));
    }

    let mut poller = Backend::Epoll.build().map_err(|e| e.to_string())?;
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; 64 * 1024];
    let mut tally = Tally::default();
    let target = SockAddr::from(addr);

    // ---- open, greet, hold ----
    let (mut opened, mut held) = (0, 0);
    while held < n {
        if Instant::now() > deadline {
            return Err(format!("out of time opening: {opened} opened, {held} held"));
        }
        while opened < n && opened - held < pace {
            let sock = OwnedSocket::new_nonblocking(Domain::IPV4, Type::STREAM, Protocol::DEFAULT)
                .map_err(|e| format!("socket #{opened}: {e}"))?;
            match sock.connect(&target) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                Err(e) => return Err(format!("connect #{opened}: {e}")),
            }
            poller
                .register(sock.as_fd(), Token(opened), Interest::WRITABLE)
                .map_err(|e| e.to_string())?;
            conns[opened].sock = Some(sock);
            opened += 1;
        }
        wait(&mut *poller, &mut events)?;
        for ev in &events {
            let i = ev.token().0;
            let c = &mut conns[i];
            let sock = c.sock.as_ref().unwrap();
            match c.state {
                State::Connecting => {
                    if let Some(e) = sock.take_error().map_err(|e| e.to_string())? {
                        return Err(format!("connection #{i} failed: {e}"));
                    }
                    let greeting = c.len.min(GREETING);
                    let sent = sock
                        .send(&pool[c.off..c.off + greeting])
                        .map_err(|e| format!("greet #{i}: {e}"))?;
                    if sent != greeting {
                        return Err(format!("greet #{i}: sent {sent} of {greeting}"));
                    }
                    c.sent = greeting;
                    c.state = State::Greeting;
                    poller
                        .reregister(sock.as_fd(), Token(i), Interest::READABLE)
                        .map_err(|e| e.to_string())?;
                }
                State::Greeting => {
                    let want = c.sent - c.recvd;
                    match sock.recv(&mut scratch[..want]) {
                        Ok(0) => return Err(format!("#{i}: end of stream during greeting")),
                        Ok(k) => {
                            if scratch[..k] != pool[c.off + c.recvd..c.off + c.recvd + k] {
                                tally.fail(format!("#{i}: greeting echo corrupted"));
                            }
                            c.recvd += k;
                            tally.verified += k as u64;
                            if c.recvd == c.sent {
                                c.state = State::Held;
                                held += 1;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(format!("#{i}: greeting: {e}")),
                    }
                }
                s => return Err(format!("#{i}: event while {s:?}")),
            }
        }
    }
    let held_fds = fd_count("self");
    if held_fds != fds_before + n + 1 {
        return Err(format!(
            "holding {n} connections (and an epoll fd) with {held_fds} fds, {fds_before} before"
        ));
    }
    println!("holding {n}");
    io::stdout().flush().unwrap();
    let mut go = String::new();
    io::stdin().read_line(&mut go).unwrap();
    if go.trim() != "go" {
        return Err(format!("expected go, got {go:?}"));
    }

    // ---- transfer ----
    let mut active = 0;
    for (i, c) in conns.iter_mut().enumerate() {
        let sock = c.sock.as_ref().unwrap();
        if c.reset_at.is_some_and(|r| c.recvd >= r) {
            reset(&mut *poller, c, &mut tally)?;
            continue;
        }
        c.state = if c.sent < c.len {
            State::Sending
        } else {
            sock.shutdown(baresock::Shutdown::Write)
                .map_err(|e| e.to_string())?;
            State::Draining
        };
        let interest = if c.state == State::Sending {
            Interest::READABLE.add(Interest::WRITABLE)
        } else {
            Interest::READABLE
        };
        poller
            .reregister(sock.as_fd(), Token(i), interest)
            .map_err(|e| e.to_string())?;
        active += 1;
    }
    while active > 0 {
        if Instant::now() > deadline {
            let stuck: Vec<String> = conns
                .iter()
                .enumerate()
                .filter(|(_, c)| c.state != State::Done)
                .take(5)
                .map(|(i, c)| {
                    format!(
                        "#{i} {:?} sent {}/{} recvd {}",
                        c.state, c.sent, c.len, c.recvd
                    )
                })
                .collect();
            return Err(format!(
                "out of time with {active} connections unfinished: {stuck:?}"
            ));
        }
        wait(&mut *poller, &mut events)?;
        for ev in &events {
            let i = ev.token().0;
            let c = &mut conns[i];
            if c.state == State::Done {
                continue;
            }
            if ev.is_writable() && c.state == State::Sending {
                let sock = c.sock.as_ref().unwrap();
                match sock.send(&pool[c.off + c.sent..c.off + c.len]) {
                    Ok(k) => c.sent += k,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => {
                        tally.fail(format!("#{i}: send: {e}"));
                        close(&mut *poller, c)?;
                        active -= 1;
                        continue;
                    }
                }
                if c.sent == c.len {
                    sock.shutdown(baresock::Shutdown::Write)
                        .map_err(|e| e.to_string())?;
                    poller
                        .reregister(sock.as_fd(), Token(i), Interest::READABLE)
                        .map_err(|e| e.to_string())?;
                    c.state = State::Draining;
                }
            }
            if ev.is_readable() {
                let sock = c.sock.as_ref().unwrap();
                match sock.recv(&mut scratch) {
                    Ok(0) => {
                        if c.recvd != c.len {
                            tally.fail(format!(
                                "#{i}: end of stream after {} of {} bytes",
                                c.recvd, c.len
                            ));
                        } else if c.reset_at.is_some() {
                            tally.fail(format!("#{i}: closed before its reset"));
                        } else {
                            tally.completed += 1;
                        }
                        close(&mut *poller, c)?;
                        active -= 1;
                        continue;
                    }
                    Ok(k) => {
                        if c.recvd + k > c.sent {
                            tally.fail(format!(
                                "#{i}: {} bytes back, only {} sent",
                                c.recvd + k,
                                c.sent
                            ));
                        } else if scratch[..k] != pool[c.off + c.recvd..c.off + c.recvd + k] {
                            tally.fail(format!(
                                "#{i}: echo differs in bytes {}..{}",
                                c.recvd,
                                c.recvd + k
                            ));
                        } else {
                            tally.verified += k as u64;
                        }
                        c.recvd += k;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => {
                        tally.fail(format!("#{i}: recv: {e}"));
                        close(&mut *poller, c)?;
                        active -= 1;
                        continue;
                    }
                }
                if c.reset_at.is_some_and(|r| c.recvd >= r) {
                    reset(&mut *poller, c, &mut tally)?;
                    active -= 1;
                }
            }
        }
    }
    drop(poller);
    drop(conns);
    let fds_after = fd_count("self");
    println!(
        "done {} completed, {} reset, {} bytes echoed and verified, client fds {fds_before} -> {held_fds} -> {fds_after}",
        tally.completed, tally.reset, tally.verified
    );
    if !tally.failures.is_empty() {
        return Err(format!("{} connections failed", tally.failures.len()));
    }
    if tally.completed + tally.reset != n || tally.reset != n / RESET_EVERY {
        return Err(format!(
            "{} completed and {} reset of {n}",
            tally.completed, tally.reset
        ));
    }
    if fds_after != fds_before {
        return Err(format!("fds: {fds_before} before, {fds_after} after"));
    }
    Ok(())
}

/// One bounded wait; a wait that sees nothing for 10 s means the
/// exchange is stuck.
fn wait(poller: &mut dyn Poller, events: &mut Events) -> Result<(), String> {
    for _ in 0..100 {
        match poller.wait(events, Some(Duration::from_millis(100))) {
            Ok(0) => continue,
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("wait: {e}")),
        }
    }
    Err("no event for 10 s".into())
}

/// Deregister, then close (an orderly close: a FIN).
fn close(poller: &mut dyn Poller, c: &mut Conn) -> Result<(), String> {
    let sock = c.sock.take().unwrap();
    poller.deregister(sock.as_fd()).map_err(|e| e.to_string())?;
    c.state = State::Done;
    sock.close().map_err(|e| format!("close: {e}"))
}

/// SO_LINGER 0, deregister, close: the kernel sends a reset and drops
/// whatever is queued.
fn reset(poller: &mut dyn Poller, c: &mut Conn, tally: &mut Tally) -> Result<(), String> {
    c.sock
        .as_ref()
        .unwrap()
        .set_linger(Some(Duration::ZERO))
        .map_err(|e| format!("SO_LINGER: {e}"))?;
    close(poller, c)?;
    tally.reset += 1;
    Ok(())
}
