//! Runs examples/daemon end to end under `systemd-socket-activate` (on the
//! machine image; Debian's systemd package), on every backend: a real
//! client connects to the activator's 127.0.0.1 port, which starts the
//! daemon with the listener as fd 3; lines are echoed; SIGHUP and SIGTERM
//! go to the daemon's pid (the activator's own: it execs the daemon) and
//! come back through its signalfd with this test's pid as the sender; after
//! SIGTERM new connections are refused while the current client is still
//! served; the clients hang up, the daemon drains and exits 0. A second
//! run per backend nests two activators for TCP plus UDP.
//!
//! The activator listens on fixed 127.0.0.1 ports only (never `-l PORT`
//! alone, which listens on every interface). The example binary is found
//! by `common::example_path`. Every wait is bounded; nothing is timed.

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
    fn start(activator_args: &[String], backend: Backend) -> Daemon {
        let mut child = Command::new("systemd-socket-activate")
            .args(activator_args)
            .arg(common::example_path("daemon"))
            .args(["--backend", backend.name(), "--stats-ms", "50"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("systemd-socket-activate is on the machine image");
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

fn tcp_under_activation(b: Backend) {
    let port = free_port_tcp();
    let mut d = Daemon::start(
        &[
            "-l".into(),
            format!("127.0.0.1:{port}"),
            "--fdname=echo".into(),
        ],
        b,
    );
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
            "SIGTERM from pid {me}: draining: stopped accepting, waiting for 2 connections (at most 10 s)"
        )
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
    // --datagram applies to every -l of one run: two activators, the inner
    // one naming both fds in order.
    let mut d = Daemon::start(
        &[
            "-l".into(),
            format!("127.0.0.1:{tport}"),
            "systemd-socket-activate".into(),
            "--datagram".into(),
            "-l".into(),
            format!("127.0.0.1:{uport}"),
            "--fdname=tcp:udp".into(),
        ],
        b,
    );
    let mut c = connect_when_ready(tport);
    // The inner activator starts the daemon once its own socket sees
    // traffic: send datagrams until one comes back.
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.connect(("127.0.0.1", uport)).unwrap();
    u.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 64];
    let start = Instant::now();
    let mut echoed = false;
    while !echoed && start.elapsed() < LIMIT {
        u.send(b"dgram").unwrap();
        if let Ok(n) = u.recv(&mut buf) {
            assert_eq!(&buf[..n], b"dgram");
            echoed = true;
        }
    }
    assert!(echoed, "no UDP echo from the daemon; saw {:#?}", d.seen);
    exchange(&mut c, &["over tcp\n"]);
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
