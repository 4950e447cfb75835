//! Runs examples/daemon end to end under `systemd-socket-activate` (on the
//! machine image; Debian's systemd package), on every backend: a real
//! client connects to the activator's 127.0.0.1 port, which starts the
//! daemon with the listener as fd 3; lines are echoed; SIGHUP and SIGTERM
//! go to the daemon's pid (the activator's own: it execs the daemon) and
//! come back through its signalfd with this test's pid as the sender; after
//! SIGTERM new connections are refused while the current client is still
//! served; the clients hang up, the daemon drains and exits 0. A second
//! run per backend nests two activators for TCP plus UDP. The daemon gets
//! `--only-copy` there, and the activator commands in the example's header
//! must be exactly the ones run here. A Unix listener (`-l PATH`) is
//! reported as `listening unix PATH`.
//!
//! The activator listens on fixed 127.0.0.1 ports only (never `-l PORT`
//! alone, which listens on every interface). The example binary is found
//! by `common::example_path`. Every wait is bounded; nothing is timed.
//!
//! Without an activator (`--serve`, its own socket): out of fds (a low
//! RLIMIT_NOFILE set in the child) it holds more clients than it has fds
//! and serves them all as fds free up; out of fds with no connection of
//! its own (the limit lowered, then raised, from outside with prlimit) its
//! timer takes up the listener again; at SIGTERM it serves the connections
//! already waiting in its accept queue, later if it is out of fds then,
//! and a stream of connects does not keep it from draining and exiting.
// pre_exec (to lower the child's RLIMIT_NOFILE) is unsafe.
#![allow(unsafe_code)]

mod common;

use baresock::poll::Backend;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Generous: the limit turns a hang into a failure, it times nothing.
const LIMIT: Duration = Duration::from_secs(30);

fn free_port_tcp() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_port_udp() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The activator, later the daemon (same pid), with its stdout read line
/// by line on a thread; killed and reaped on every path out of a test.
struct Daemon {
    child: Child,
    lines: Receiver<String>,
    /// Every line read so far, for failure messages.
    seen: Vec<String>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// The daemon on its own socket (`--serve`, 127.0.0.1:0), with
    /// RLIMIT_NOFILE lowered to `nofile` in the child if given. Returns it
    /// and its TCP port, once it has said it is running.
    fn serve(backend: Backend, extra: &[&str], nofile: Option<u64>) -> (Daemon, u16) {
        let mut cmd = Command::new(common::example_path("daemon"));
        cmd.args([
            "--backend",
            backend.name(),
            "--serve",
            "--stats-ms",
            "60000",
        ])
        .args(extra);
        if let Some(n) = nofile {
            use std::os::unix::process::CommandExt;
            // rlim_t is 32-bit on i686: a larger ask is "unlimited" there.
            let n = libc::rlim_t::try_from(n).unwrap_or(libc::rlim_t::MAX);
            // SAFETY: the closure runs in the forked child before exec and
            // makes one async-signal-safe syscall (setrlimit); it touches
            // no lock and allocates nothing.
            unsafe {
                cmd.pre_exec(move || {
                    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, n, n)
                        .map_err(io::Error::from)
                });
            }
        }
        let mut d = Daemon::spawn(cmd);
        let listening = d.expect_line("listening tcp");
        // "listening tcp 127.0.0.1:PORT (own socket)"
        let port = listening
            .split_whitespace()
            .nth(2)
            .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
            .map(|a| a.port())
            .unwrap_or_else(|| panic!("unexpected {listening:?}"));
        // Registered and in its loop from here on.
        d.expect_line("daemon: pid");
        (d, port)
    }

    /// Under the activator(s), with [`ACTIVATED`], as the header says.
    fn start(activator_args: &[String], backend: Backend) -> Daemon {
        Daemon::start_with(activator_args, backend, ACTIVATED)
    }

    /// As `start`, with more arguments for the daemon.
    fn start_with(activator_args: &[String], backend: Backend, extra: &[&str]) -> Daemon {
        let mut cmd = Command::new("systemd-socket-activate");
        cmd.args(activator_args)
            .arg(common::example_path("daemon"))
            .args(["--backend", backend.name(), "--stats-ms", "50"])
            .args(extra);
        Daemon::spawn(cmd)
    }

    fn spawn(mut cmd: Command) -> Daemon {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the daemon (or systemd-socket-activate, on the machine image)");
        // Both pipes into one channel, stderr's lines marked, so a failure
        // shows the activators' and the daemon's complaints in order.
        let (tx, lines) = std::sync::mpsc::channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        let err = BufReader::new(child.stderr.take().unwrap());
        for (pipe, mark) in [
            (Box::new(out) as Box<dyn BufRead + Send>, ""),
            (Box::new(err), "stderr: "),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in pipe.lines() {
                    let Ok(line) = line else { break };
                    if tx.send(format!("{mark}{line}")).is_err() {
                        break;
                    }
                }
            });
        }
        Daemon {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    fn signal(&self, sig: Signal) {
        kill(self.pid(), sig).unwrap();
    }

    /// SIGSTOP, then wait (bounded by LIMIT) until the kernel shows the
    /// daemon stopped (`T` in /proc/PID/stat). kill(2) returns once the
    /// signal is queued, not once the target has stopped: a daemon woken
    /// by it may still be scanning its fds in poll(2), one at a time, and
    /// a scan that passed the signalfd before a SIGTERM and reaches the
    /// listener after a connect reports the listener alone (seen once in
    /// CI, on the poll backend: the queue was accepted before the SIGTERM
    /// was read). Stopped, its wait is restarted after SIGCONT and sees
    /// everything that happened meanwhile at once.
    fn stop(&self) {
        self.signal(Signal::SIGSTOP);
        common::wait_until_stopped(self.child.id(), LIMIT);
    }

    /// The next line that starts with `prefix` (bounded by LIMIT).
    #[track_caller]
    fn expect_line(&mut self, prefix: &str) -> String {
        let start = Instant::now();
        loop {
            let left = LIMIT.saturating_sub(start.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no line {prefix:?} within {LIMIT:?}; saw {:#?}", self.seen)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "daemon's output ended without {prefix:?}; saw {:#?}",
                        self.seen
                    )
                }
            }
        }
    }

    #[track_caller]
    fn wait_exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        while start.elapsed() < LIMIT {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("daemon did not exit within {LIMIT:?}; saw {:#?}", self.seen);
    }
}

/// Connects once the activator listens (bounded).
fn connect_when_ready(port: u16) -> BufReader<TcpStream> {
    let start = Instant::now();
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => {
                s.set_read_timeout(Some(LIMIT)).unwrap();
                return BufReader::new(s);
            }
            Err(_) if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("activator never listened on 127.0.0.1:{port}: {e}"),
        }
    }
}

/// Sends `line` in `pieces` writes and reads the echo back.
#[track_caller]
fn exchange(c: &mut BufReader<TcpStream>, pieces: &[&str]) {
    for p in pieces {
        c.get_mut().write_all(p.as_bytes()).unwrap();
    }
    let line: String = pieces.concat();
    let mut echo = String::new();
    c.read_line(&mut echo).unwrap();
    assert_eq!(echo, line);
}

/// The number before `what` in a line of figures.
fn figure(line: &str, what: &str) -> u64 {
    let words: Vec<&str> = line.split_whitespace().collect();
    let i = words
        .iter()
        .position(|w| w.trim_end_matches([',', ';']) == what)
        .unwrap_or_else(|| panic!("{what} not in {line:?}"));
    words[i - 1].parse().unwrap()
}

/// The daemon's arguments under systemd-socket-activate, which execs it
/// and keeps no copy of the listener: what the header's commands give.
const ACTIVATED: &[&str] = &["--only-copy"];

/// The header's single activator, on `port`.
fn single_activator(port: u16) -> Vec<String> {
    vec![
        "-l".into(),
        format!("127.0.0.1:{port}"),
        "--fdname=echo".into(),
    ]
}

/// The header's nested activators. `--datagram` applies to every -l of one
/// run: two activators, the inner one naming both fds in order.
fn nested_activators(tport: u16, uport: u16) -> Vec<String> {
    vec![
        "-l".into(),
        format!("127.0.0.1:{tport}"),
        "systemd-socket-activate".into(),
        "--datagram".into(),
        "-l".into(),
        format!("127.0.0.1:{uport}"),
        "--fdname=tcp:udp".into(),
    ]
}

/// The header's systemd-socket-activate commands are the ones these tests
/// run (ports 7777 and 7778 there), `--only-copy` included: without it a
/// user who copies them gets the queued clients reset at SIGTERM.
#[test]
fn header_commands_are_what_the_tests_run() {
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/daemon.rs"))
            .unwrap();
    let commands: Vec<&str> = source
        .lines()
        .filter_map(|l| l.strip_prefix("//!   systemd-socket-activate "))
        .collect();
    let daemon = format!("target/debug/examples/daemon {}", ACTIVATED.join(" "));
    assert_eq!(
        commands,
        [
            format!(
                "{} {daemon} --backend epoll",
                single_activator(7777).join(" ")
            ),
            format!("{} {daemon}", nested_activators(7777, 7778).join(" ")),
        ],
        "the header's commands"
    );
}

fn tcp_under_activation(b: Backend) {
    let port = free_port_tcp();
    let mut d = Daemon::start(&single_activator(port), b);
    // The first connection makes the activator exec the daemon.
    let mut c1 = connect_when_ready(port);
    exchange(&mut c1, &["hello\n"]);
    let listening = d.expect_line("listening tcp");
    assert_eq!(
        listening,
        format!("listening tcp 127.0.0.1:{port} (socket-activated, fd name \"echo\")")
    );
    let started = d.expect_line("daemon:");
    assert!(
        started.starts_with(&format!("daemon: pid {}, backend {b};", d.child.id())),
        "the activator execs the daemon in its own process: {started}"
    );
    // A second client, its line arriving in pieces.
    let mut c2 = connect_when_ready(port);
    exchange(&mut c2, &["sec", "ond", "\n"]);
    // The periodic timer fired at all.
    d.expect_line("stats:");

    let me = std::process::id();
    d.signal(Signal::SIGHUP);
    let hup = d.expect_line("SIGHUP");
    assert!(
        hup.starts_with(&format!(
            "SIGHUP from pid {me}: 2 open, 2 accepted, 2 lines"
        )),
        "{hup}"
    );
    d.signal(Signal::SIGTERM);
    let term = d.expect_line("SIGTERM");
    assert_eq!(
        term,
        format!(
            "SIGTERM from pid {me}: draining: stopped accepting, took 0 from the accept queue first, waiting for 2 connections (at most 10 s)"
        ),
        "--only-copy: the queue (empty) is served before the listener closes"
    );
    // The listener is closed before that line is printed: refused now.
    let e = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    // The clients it has are still served.
    exchange(&mut c1, &["still here\n"]);
    drop(c2);
    exchange(&mut c1, &["last one\n"]);
    drop(c1);
    let done = d.expect_line("drained:");
    assert_eq!(figure(&done, "connections"), 2, "{done}");
    assert_eq!(figure(&done, "lines"), 4, "{done}");
    assert!(done.ends_with("exit 0"), "{done}");
    let status = d.wait_exit();
    assert!(status.success(), "{status:?}; saw {:#?}", d.seen);
}

fn tcp_and_udp_under_nested_activators(b: Backend) {
    let (tport, uport) = (free_port_tcp(), free_port_udp());
    let mut d = Daemon::start(&nested_activators(tport, uport), b);
    let mut c = connect_when_ready(tport);
    // The first TCP connect starts it all, as the daemon's header says:
    // the outer activator execs the inner one, which finds the same
    // connection waiting on fd 3 and execs the daemon. No datagram has
    // been sent yet: the echo over TCP proves the daemon runs.
    exchange(&mut c, &["over tcp\n"]);
    // The UDP socket is the daemon's by now: one datagram, one echo.
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.connect(("127.0.0.1", uport)).unwrap();
    u.set_read_timeout(Some(LIMIT)).unwrap();
    let mut buf = [0u8; 64];
    u.send(b"dgram").unwrap();
    let n = u.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"dgram");
    assert_eq!(
        d.expect_line("listening tcp"),
        format!("listening tcp 127.0.0.1:{tport} (socket-activated, fd name \"tcp\")")
    );
    assert_eq!(
        d.expect_line("listening udp"),
        format!("listening udp 127.0.0.1:{uport} (socket-activated, fd name \"udp\")")
    );
    d.signal(Signal::SIGTERM);
    d.expect_line("SIGTERM from pid");
    // Both sockets are closed: TCP refuses, and a datagram comes back as
    // an ICMP port unreachable, ECONNREFUSED on the connected socket.
    let e = TcpStream::connect(("127.0.0.1", tport)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    u.send(b"anyone?").unwrap();
    let e = u.recv(&mut buf).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    exchange(&mut c, &["draining\n"]);
    drop(c);
    let done = d.expect_line("drained:");
    assert!(figure(&done, "datagrams") >= 1, "{done}");
    assert_eq!(figure(&done, "connections"), 1, "{done}");
    let status = d.wait_exit();
    assert!(status.success(), "{status:?}; saw {:#?}", d.seen);
}

// Without systemd-socket-activate on PATH (build.rs's cfg
// has_systemd_socket_activate), these are ignored with that reason.
macro_rules! on_every_backend {
    ($($name:ident: $backend:ident),* $(,)?) => {
        mod tcp { use super::*; $(
            #[test]
            #[cfg_attr(not(has_systemd_socket_activate), ignore = "needs systemd-socket-activate")]
            fn $name() { tcp_under_activation(Backend::$backend) }
        )* }
        mod tcp_and_udp { use super::*; $(
            #[test]
            #[cfg_attr(not(has_systemd_socket_activate), ignore = "needs systemd-socket-activate")]
            fn $name() { tcp_and_udp_under_nested_activators(Backend::$backend) }
        )* }
    };
}

on_every_backend!(
    select: Select,
    select_growable: SelectGrowable,
    poll: Poll,
    epoll: Epoll,
);

/// More clients than fds: 40 connections each send a line to a daemon
/// whose RLIMIT_NOFILE leaves room for about a dozen. It must not exit on
/// `EMFILE` (it did, and every client was reset): it sets the listener
/// aside, serves the connections it has, and takes the rest from the
/// accept queue as each close frees an fd. Its wait count shows it did not
/// spin on the listener meanwhile.
fn out_of_fds_keeps_serving(b: Backend) {
    const CLIENTS: usize = 40;
    const NOFILE: u64 = 20;
    let (mut d, port) = Daemon::serve(b, &[], Some(NOFILE));
    let mut clients: Vec<Option<BufReader<TcpStream>>> = (0..CLIENTS)
        .map(|_| Some(connect_when_ready(port)))
        .collect();
    for (i, c) in clients.iter_mut().enumerate() {
        writeln!(c.as_mut().unwrap().get_mut(), "hello {i}").unwrap();
    }
    // The first is served; by then the daemon is filling its fd table.
    let mut echo = String::new();
    clients[0].as_mut().unwrap().read_line(&mut echo).unwrap();
    assert_eq!(echo, "hello 0\n");
    // Until the daemon's fd table is full (bounded): a free fd left means
    // no accept4 has failed yet.
    let pid = d.child.id();
    let mut full = false;
    for _ in 0..500 {
        if common::fds_below(pid, NOFILE) == NOFILE {
            full = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        full,
        "{b}: the daemon never filled its {NOFILE} fds; saw {:#?}",
        d.seen
    );
    // In connection order: each echo, then close, which frees an fd for
    // the next one waiting in the accept queue.
    drop(clients[0].take());
    for (i, c) in clients.iter_mut().enumerate().skip(1) {
        let mut echo = String::new();
        c.as_mut()
            .unwrap()
            .read_line(&mut echo)
            .unwrap_or_else(|e| panic!("{b}: client {i}: {e}"));
        assert_eq!(echo, format!("hello {i}\n"), "{b}");
        drop(c.take());
    }
    d.signal(Signal::SIGHUP);
    let hup = d.expect_line("SIGHUP from pid");
    assert!(figure(&hup, "EMFILE") >= 1, "{b}: never out of fds: {hup}");
    d.signal(Signal::SIGTERM);
    let done = d.expect_line("drained:");
    assert_eq!(figure(&done, "connections"), CLIENTS as u64, "{b}: {done}");
    assert_eq!(figure(&done, "lines"), CLIENTS as u64, "{b}: {done}");
    // A daemon spinning on a readable listener waits without end; one
    // that paused waits about once per event.
    assert!(figure(&done, "waits") <= 20 * CLIENTS as u64, "{b}: {done}");
    let status = d.wait_exit();
    assert!(status.success(), "{b}: {status:?}; saw {:#?}", d.seen);
}

/// SIGTERM while out of fds, clients waiting in the accept queue: the
/// daemon took none of them at SIGTERM (accept4 failed with EMFILE), so it
/// keeps its listener, unwatched, and takes the ones queued at SIGTERM as
/// its connections close. Closing it at once reset them all.
fn sigterm_out_of_fds_serves_the_queue_later(b: Backend) {
    const CLIENTS: usize = 30;
    const NOFILE: u64 = 20;
    let (mut d, port) = Daemon::serve(b, &[], Some(NOFILE));
    let mut clients: Vec<Option<BufReader<TcpStream>>> = (0..CLIENTS)
        .map(|_| Some(connect_when_ready(port)))
        .collect();
    for (i, c) in clients.iter_mut().enumerate() {
        writeln!(c.as_mut().unwrap().get_mut(), "hello {i}").unwrap();
    }
    let pid = d.child.id();
    let full = (0..500).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        common::fds_below(pid, NOFILE) == NOFILE
    });
    assert!(
        full,
        "{b}: the daemon never filled its fds; saw {:#?}",
        d.seen
    );
    d.signal(Signal::SIGTERM);
    let term = d.expect_line("SIGTERM from pid");
    assert!(term.contains("(out of fds: up to "), "{b}: {term}");
    for (i, c) in clients.iter_mut().enumerate() {
        let mut echo = String::new();
        c.as_mut()
            .unwrap()
            .read_line(&mut echo)
            .unwrap_or_else(|e| panic!("{b}: client {i}: {e}; saw {:#?}", d.seen));
        assert_eq!(echo, format!("hello {i}\n"), "{b}");
        drop(c.take());
    }
    let done = d.expect_line("drained:");
    assert_eq!(figure(&done, "connections"), CLIENTS as u64, "{b}: {done}");
    let status = d.wait_exit();
    assert!(status.success(), "{b}: {status:?}; saw {:#?}", d.seen);
}

/// With the daemon stopped, SIGTERM, then `n` clients that connect and
/// send a line (queued, their connect done), then SIGCONT: each gets its
/// echo, and the SIGTERM line says all `n` were taken from the queue.
/// SIGTERM is pending while stopped (blocked, for the signalfd) and ready
/// before the listener: every backend reports it first (poll and select by
/// registration order, epoll by its ready list), so the daemon reads it
/// before it has accepted any of the clients. That needs the daemon
/// stopped, not just sent SIGSTOP, before the SIGTERM: [`Daemon::stop`].
fn queue_clients_through_sigterm(
    d: &mut Daemon,
    port: u16,
    b: Backend,
    n: usize,
) -> Vec<BufReader<TcpStream>> {
    d.stop();
    d.signal(Signal::SIGTERM);
    let mut clients: Vec<BufReader<TcpStream>> = (0..n).map(|_| connect_when_ready(port)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        writeln!(c.get_mut(), "queued {i}").unwrap();
    }
    d.signal(Signal::SIGCONT);
    for (i, c) in clients.iter_mut().enumerate() {
        let mut echo = String::new();
        c.read_line(&mut echo)
            .unwrap_or_else(|e| panic!("{b}: queued client {i}: {e}"));
        assert_eq!(echo, format!("queued {i}\n"), "{b}");
    }
    let term = d.expect_line("SIGTERM from pid");
    assert!(
        term.contains(&format!("took {n} from the accept queue first")),
        "{b}: {term}"
    );
    clients
}

/// SIGTERM with connections waiting in the accept queue: the daemon is
/// stopped (SIGSTOP), gets SIGTERM, and clients connect and send a line
/// each; then SIGCONT. All of them are queued, complete, when it reads the
/// SIGTERM. On its own
/// socket it holds the only copy of the listener: closing it would reset
/// them (it did: 5 of 5 lost), so it accepts them first and every client
/// gets its echo.
fn sigterm_serves_the_accept_queue(b: Backend) {
    const CLIENTS: usize = 5;
    let (mut d, port) = Daemon::serve(b, &[], None);
    let clients = queue_clients_through_sigterm(&mut d, port, b, CLIENTS);
    // The listener is closed once the queue is taken: refused now.
    let e = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{b}");
    drop(clients);
    let done = d.expect_line("drained:");
    assert_eq!(figure(&done, "connections"), CLIENTS as u64, "{b}: {done}");
    let status = d.wait_exit();
    assert!(status.success(), "{b}: {status:?}; saw {:#?}", d.seen);
}

/// Out of fds with no connection of its own open: the daemon's
/// RLIMIT_NOFILE is lowered from outside (prlimit) to its lowest free fd,
/// so its first accept4 fails with EMFILE and it sets the listener aside;
/// then the limit is raised again, as when fds free up elsewhere (ENFILE
/// is the system's limit). No connection of its own ever closes, so only
/// its periodic timer can take up the listener again: without that retry
/// it stayed deaf for good while the client waited in the accept queue.
fn out_of_fds_without_connections_retries_on_the_timer(b: Backend) {
    let (mut d, port) = Daemon::serve(b, &["--stats-ms", "50"], None);
    let pid = d.child.id();
    let old = nofile(pid, None);
    // The lowest free fd number as the limit: no new fd fits. (Not lower:
    // poll(2) refuses more pollfds than RLIMIT_NOFILE with EINVAL.)
    let used: Vec<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
        .collect();
    let lowest_free = (0..).find(|n| !used.contains(n)).unwrap();
    nofile(pid, Some(lowest_free));
    let mut c = connect_when_ready(port);
    writeln!(c.get_mut(), "waited").unwrap();
    // Until a tick reports the EMFILE (bounded: 600 ticks, each line
    // within expect_line's limit).
    let emfile = (0..600).any(|_| figure(&d.expect_line("stats:"), "EMFILE") >= 1);
    assert!(emfile, "{b}: accept4 never failed; saw {:#?}", d.seen);
    nofile(pid, Some(old));
    let mut echo = String::new();
    c.read_line(&mut echo).unwrap_or_else(|e| {
        panic!(
            "{b}: never served once fds were free: {e}; saw {:#?}",
            d.seen
        )
    });
    assert_eq!(echo, "waited\n", "{b}");
    drop(c);
    d.signal(Signal::SIGTERM);
    let done = d.expect_line("drained:");
    assert_eq!(figure(&done, "connections"), 1, "{b}: {done}");
    let status = d.wait_exit();
    assert!(status.success(), "{b}: {status:?}; saw {:#?}", d.seen);
}

/// Process `pid`'s soft RLIMIT_NOFILE: set to `soft` if given (the hard
/// limit kept). Returns the soft limit it had.
// rlim_t is u64 here and u32 on i686: the conversion is needed there.
#[allow(clippy::useless_conversion)]
fn nofile(pid: u32, soft: Option<u64>) -> u64 {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a null new limit only reads; `old` is a valid rlimit for the
    // kernel to fill.
    let r = unsafe {
        libc::prlimit(
            pid as i32,
            libc::RLIMIT_NOFILE,
            std::ptr::null(),
            &raw mut old,
        )
    };
    assert_eq!(r, 0, "prlimit: {}", io::Error::last_os_error());
    if let Some(soft) = soft {
        let new = libc::rlimit {
            // rlim_t is 32-bit on i686: a larger ask is "unlimited" there.
            rlim_cur: libc::rlim_t::try_from(soft).unwrap_or(libc::rlim_t::MAX),
            rlim_max: old.rlim_max,
        };
        // SAFETY: `new` is a valid rlimit the kernel reads; no old value
        // is asked for.
        let r = unsafe {
            libc::prlimit(
                pid as i32,
                libc::RLIMIT_NOFILE,
                &raw const new,
                std::ptr::null_mut(),
            )
        };
        assert_eq!(r, 0, "prlimit: {}", io::Error::last_os_error());
    }
    u64::from(old.rlim_cur)
}

/// SIGTERM while clients connect without pause: the daemon takes only the
/// connections queued at SIGTERM (the kernel's count, TCP_INFO), then
/// closes its listener, drains and exits. Its accept loop ran until
/// EAGAIN, which a stream of connects can put off without end: the drain
/// never started and a second SIGTERM could not be read.
fn sigterm_during_a_connect_storm_drains_and_exits(b: Backend) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let (mut d, port) = Daemon::serve(b, &[], None);
    let stop = Arc::new(AtomicBool::new(false));
    let storm: Vec<_> = (0..3)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                // Bounded: until told, at most 200,000 connects each.
                for _ in 0..200_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    // Refused once the listener is closed: keep trying.
                    let _ = TcpStream::connect(("127.0.0.1", port));
                }
            })
        })
        .collect();
    // Until the storm reaches the daemon (bounded).
    d.signal(Signal::SIGHUP);
    for _ in 0..100 {
        if figure(&d.expect_line("SIGHUP from pid"), "accepted") > 0 {
            break;
        }
        d.signal(Signal::SIGHUP);
    }
    d.signal(Signal::SIGTERM);
    let term = d.expect_line("SIGTERM from pid");
    stop.store(true, Ordering::Relaxed);
    for t in storm {
        t.join().unwrap();
    }
    // At most what the queue held at SIGTERM, so at most the backlog
    // (128; the kernel lets the queue hold one more).
    let took: u64 = term
        .split("took ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{b}: {term}"));
    assert!(
        took <= 129,
        "{b}: took more than were queued at SIGTERM: {term}"
    );
    let done = d.expect_line("drained:");
    assert!(done.ends_with("exit 0"), "{b}: {done}");
    let status = d.wait_exit();
    assert!(status.success(), "{b}: {status:?}; saw {:#?}", d.seen);
}

/// The daemon's UDP echo returns datagrams longer than 2,048 bytes whole,
/// up to the largest UDP payload over IPv4 (65,507 bytes). It cut them to
/// 2,048 without a word.
#[test]
fn udp_echo_returns_the_largest_datagram_whole() {
    let (mut d, _) = Daemon::serve(Backend::Epoll, &[], None);
    let udp = d
        .seen
        .iter()
        .find_map(|l| l.strip_prefix("listening udp "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
        .unwrap_or_else(|| panic!("no UDP address; saw {:#?}", d.seen));
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.set_read_timeout(Some(LIMIT)).unwrap();
    let mut back = vec![0u8; 70_000];
    for size in [2_049, 65_507] {
        let sent: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        c.send_to(&sent, udp).unwrap();
        let (n, _) = c.recv_from(&mut back).unwrap();
        assert_eq!(n, size, "a {size}-byte datagram came back as {n} bytes");
        assert!(back[..n] == sent[..], "{size} bytes: the echo differs");
    }
    d.signal(Signal::SIGTERM);
    let done = d.expect_line("drained:");
    assert_eq!(figure(&done, "datagrams"), 2, "{done}");
    assert!(d.wait_exit().success(), "saw {:#?}", d.seen);
}

macro_rules! own_socket_on_every_backend {
    ($($name:ident: $backend:ident),* $(,)?) => {
        mod out_of_fds { use super::*; $(#[test] fn $name() { out_of_fds_keeps_serving(Backend::$backend) })* }
        mod sigterm_queue { use super::*; $(#[test] fn $name() { sigterm_serves_the_accept_queue(Backend::$backend) })* }
        mod out_of_fds_idle { use super::*; $(#[test] fn $name() { out_of_fds_without_connections_retries_on_the_timer(Backend::$backend) })* }
        mod sigterm_out_of_fds { use super::*; $(#[test] fn $name() { sigterm_out_of_fds_serves_the_queue_later(Backend::$backend) })* }
        mod sigterm_storm { use super::*; $(#[test] fn $name() { sigterm_during_a_connect_storm_drains_and_exits(Backend::$backend) })* }
    };
}

own_socket_on_every_backend!(
    select: Select,
    select_growable: SelectGrowable,
    poll: Poll,
    epoll: Epoll,
);

/// A Unix listener passed by the activator (`-l PATH`): the daemon says
/// `listening unix PATH`, with the path as `SockAddr` prints it (it said
/// `listening tcp ?`), and echoes over it.
#[test]
#[cfg_attr(
    not(has_systemd_socket_activate),
    ignore = "needs systemd-socket-activate"
)]
fn activated_with_a_unix_listener_says_so() {
    use std::os::unix::net::UnixStream;
    for b in Backend::ALL {
        let path = std::env::temp_dir().join(format!(
            "baresock-daemon-{}-{}.sock",
            std::process::id(),
            b.name()
        ));
        let _ = std::fs::remove_file(&path);
        let shown = path.to_str().unwrap().to_owned();
        let mut d = Daemon::start(&["-l".into(), shown.clone(), "--fdname=echo".into()], b);
        let start = Instant::now();
        let c = loop {
            match UnixStream::connect(&path) {
                Ok(c) => break c,
                Err(_) if start.elapsed() < Duration::from_secs(10) => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("{b}: activator never listened on {shown}: {e}"),
            }
        };
        c.set_read_timeout(Some(LIMIT)).unwrap();
        (&c).write_all(b"over unix\n").unwrap();
        let mut echo = String::new();
        BufReader::new(&c).read_line(&mut echo).unwrap();
        assert_eq!(echo, "over unix\n", "{b}");
        assert_eq!(
            d.expect_line("listening"),
            format!("listening unix {shown} (socket-activated, fd name \"echo\")"),
            "{b}"
        );
        d.signal(Signal::SIGTERM);
        d.expect_line("SIGTERM from pid");
        drop(c);
        let done = d.expect_line("drained:");
        assert_eq!(figure(&done, "connections"), 1, "{b}: {done}");
        assert!(d.wait_exit().success(), "{b}: saw {:#?}", d.seen);
        let _ = std::fs::remove_file(&path);
    }
}

/// Under systemd-socket-activate, which execs the daemon and keeps no copy
/// of the listener, `--only-copy` says so: at SIGTERM the connections
/// queued while the daemon was stopped are accepted and served, not reset.
#[test]
#[cfg_attr(
    not(has_systemd_socket_activate),
    ignore = "needs systemd-socket-activate"
)]
fn activated_with_only_copy_serves_the_accept_queue_at_sigterm() {
    const CLIENTS: usize = 5;
    for b in Backend::ALL {
        let port = free_port_tcp();
        let mut d = Daemon::start_with(
            &["-l".into(), format!("127.0.0.1:{port}")],
            b,
            &["--only-copy"],
        );
        let mut first = connect_when_ready(port);
        exchange(&mut first, &["first\n"]);
        d.expect_line("daemon: pid");
        let clients = queue_clients_through_sigterm(&mut d, port, b, CLIENTS);
        drop(clients);
        drop(first);
        let done = d.expect_line("drained:");
        assert_eq!(
            figure(&done, "connections"),
            CLIENTS as u64 + 1,
            "{b}: {done}"
        );
        assert!(d.wait_exit().success(), "{b}: saw {:#?}", d.seen);
    }
}

/// Without activation and without arguments: the self-contained
/// demonstration, on every backend.
#[test]
fn demonstration_drains_and_exits_0_on_every_backend() {
    for b in Backend::ALL {
        let out = Command::new(common::example_path("daemon"))
            .env("BARESOCK_BACKEND", b.name())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{b}: {:?}\n{text}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(&format!("backend {b};")), "{text}");
        assert!(text.contains("(own socket)"), "{text}");
        assert!(text.contains("\nstats: "), "{text}");
        assert!(text.contains("\nSIGTERM from pid "), "{text}");
        assert!(
            text.contains("new connections refused while draining"),
            "{text}"
        );
        let last = text.lines().last().unwrap_or("");
        assert!(
            last.starts_with("drained: served 3 connections, 10 lines, 1 datagrams"),
            "{last}"
        );
        assert!(last.ends_with("exit 0"), "{last}");
    }
}
