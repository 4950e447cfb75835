//! Socket activation for real, under `systemd-socket-activate` (Debian's
//! systemd package). The two cases that run it are ignored with the reason
//! `needs systemd-socket-activate` when build.rs did not find it on PATH.
//!
//! A test binary of its own with `harness = false`: the activated process
//! is this same binary, re-executed with `BARESOCK_ACTIVATION_CHILD` naming
//! the child's role; changing the environment or fds 3.. must not race
//! other tests' threads, so the child does it alone in its own process.
//!
//! The activator listens on fixed 127.0.0.1 ports only (never `-l PORT`
//! alone, which listens on every interface). What the activator and the
//! children print goes to a pipe, shown only when a case fails.
// The child's environment, fd 3 set-up and borrowing fd 3 need unsafe.
#![allow(unsafe_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use baresock::activation::{self, ActivatedSocket};
use baresock::{Domain, Type};

mod common;
use common::{NEEDS_SYSTEMD_SOCKET_ACTIVATE, PlainTest, run_plain_tests};

const ROLE: &str = "BARESOCK_ACTIVATION_CHILD";

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        if std::env::var("LISTEN_PID").as_deref() == Ok("self") {
            // The parent could not know our pid before the fork.
            // SAFETY: the child is single-threaded at this point.
            unsafe { std::env::set_var("LISTEN_PID", std::process::id().to_string()) };
        }
        let code = match child(&role) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("activation child ({role}): {e}");
                1
            }
        };
        std::process::exit(code);
    }
    run_plain_tests(TESTS);
}

const TESTS: &[PlainTest] = &[
    (
        "tcp_listener_is_adopted_under_systemd_socket_activate",
        tcp_listener_is_adopted,
        NEEDS_SYSTEMD_SOCKET_ACTIVATE,
    ),
    (
        "tcp_and_udp_under_nested_activators_keep_names_in_order",
        tcp_and_udp_nested,
        NEEDS_SYSTEMD_SOCKET_ACTIVATE,
    ),
    (
        "not_a_socket_is_refused_without_closing_it",
        not_a_socket_is_refused,
        None,
    ),
    ("closed_fd_is_ebadf", closed_fd_is_ebadf, None),
    (
        "inherited_variables_for_another_pid_mean_not_activated",
        other_pid_is_not_activated,
        None,
    ),
    (
        "bad_variables_are_a_clear_error",
        bad_variables_are_an_error,
        None,
    ),
];

// ---- the child ----

fn child(role: &str) -> Result<(), String> {
    match role {
        "tcp" | "tcp+udp" => serve_activated(role),
        "not-a-socket" => expect_refusal(libc::ENOTSOCK),
        "closed" => expect_refusal(libc::EBADF),
        "other-pid" => {
            let got = activation::listen_fds().map_err(|e| e.to_string())?;
            if got.is_empty() {
                Ok(())
            } else {
                Err(format!("adopted {} fds meant for another pid", got.len()))
            }
        }
        "bad-fds" => match activation::listen_fds() {
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Ok(()),
            other => Err(format!("expected InvalidData, got {other:?}")),
        },
        _ => Err(format!("unknown role {role}")),
    }
}

fn describe(s: &ActivatedSocket) -> String {
    format!(
        "{} {:?} {:?} listening={} cloexec={} addr={:?}",
        s.name,
        s.domain,
        s.ty,
        s.listening,
        s.socket.cloexec().unwrap_or(false),
        s.local_addr.as_socket()
    )
}

fn serve_activated(role: &str) -> Result<(), String> {
    let socks = activation::listen_fds().map_err(|e| format!("listen_fds: {e}"))?;
    // A second call must not hand out the same fds again.
    match activation::listen_fds() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        other => return Err(format!("second listen_fds gave {other:?}")),
    }
    // SAFETY: this child is single-threaded.
    unsafe { activation::unset_env() };
    if std::env::var_os("LISTEN_FDS").is_some() {
        return Err("unset_env left LISTEN_FDS".into());
    }
    let want = if role == "tcp" { 1 } else { 2 };
    if socks.len() != want {
        return Err(format!("expected {want} sockets, got {}", socks.len()));
    }
    let report: Vec<String> = socks.iter().map(describe).collect();
    let (conn, _) = socks[0]
        .socket
        .accept()
        .map_err(|e| format!("accept: {e}"))?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.last() != Some(&b'\n') && line.len() < 256 {
        if conn.recv(&mut byte).map_err(|e| e.to_string())? == 0 {
            break;
        }
        line.push(byte[0]);
    }
    if role == "tcp+udp" {
        let mut buf = [0u8; 64];
        let (n, from) = socks[1]
            .socket
            .recv_from(&mut buf)
            .map_err(|e| format!("recv_from: {e}"))?;
        socks[1]
            .socket
            .send_to(&buf[..n], &from)
            .map_err(|e| format!("send_to: {e}"))?;
    }
    let reply = format!(
        "{}|{}\n",
        String::from_utf8_lossy(&line).trim_end(),
        report.join("|")
    );
    (&conn)
        .write_all(reply.as_bytes())
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn fd3_is_open() -> bool {
    // SAFETY: the borrow is used for one F_GETFD, harmless on any number,
    // and does not outlive this call.
    let fd = unsafe { BorrowedFd::borrow_raw(3) };
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_ok()
}

fn expect_refusal(errno: i32) -> Result<(), String> {
    match activation::listen_fds() {
        Err(e) if e.raw_os_error() == Some(errno) => {}
        other => return Err(format!("expected errno {errno}, got {other:?}")),
    }
    // The refused fd 3 must be as it was: an fd that is not a socket is not
    // ours to close.
    let want_open = errno == libc::ENOTSOCK;
    if fd3_is_open() != want_open {
        return Err(format!(
            "fd 3 open={} after refusal, expected {want_open}",
            !want_open
        ));
    }
    Ok(())
}

// ---- the parent ----

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

/// A child, killed and reaped on every path out of a test. Its stderr
/// (the activator's `Listening on ...`, a child's complaint) goes to a
/// pipe and is shown only when the test fails, so a passing run prints
/// nothing but the test lines.
struct Reaped {
    child: Child,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Reaped {
    /// Spawns `cmd` (`what` names it in a failure) with stderr piped.
    fn spawn(cmd: &mut Command, what: &str) -> Reaped {
        let mut child = cmd
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
        let mut pipe = child.stderr.take().expect("piped stderr");
        let stderr = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        });
        Reaped {
            child,
            stderr: Some(stderr),
        }
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let Some(stderr) = self.stderr.take() else {
            return;
        };
        if !std::thread::panicking() {
            return;
        }
        // The pipe ends when the last process holding it exits; bounded, in
        // case one outlived the child.
        let start = Instant::now();
        while !stderr.is_finished() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        if stderr.is_finished() {
            let text = stderr.join().unwrap_or_default();
            eprintln!(
                "--- stderr of the child:\n{}--- end",
                String::from_utf8_lossy(&text)
            );
        }
    }
}

fn wait_exit(child: &mut Reaped, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(st) = child.child.try_wait().unwrap() {
            return st;
        }
        assert!(
            start.elapsed() < limit,
            "child did not exit within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn connect_when_ready(port: u16) -> TcpStream {
    let start = Instant::now();
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => {
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                return s;
            }
            Err(_) if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("activator never listened on 127.0.0.1:{port}: {e}"),
        }
    }
}

fn activator() -> Command {
    let mut c = Command::new("systemd-socket-activate");
    c.stdin(Stdio::null()).stdout(Stdio::null());
    c
}

fn tcp_listener_is_adopted() {
    let port = free_port_tcp();
    let exe = std::env::current_exe().unwrap();
    let mut cmd = activator();
    cmd.args([
        "-l",
        &format!("127.0.0.1:{port}"),
        "--fdname=web",
        "-E",
        &format!("{ROLE}=tcp"),
    ])
    .arg(&exe);
    let mut child = Reaped::spawn(&mut cmd, "systemd-socket-activate");
    let mut s = connect_when_ready(port);
    s.write_all(b"hello\n").unwrap();
    let mut reply = String::new();
    BufReader::new(&s).read_line(&mut reply).unwrap();
    let st = wait_exit(&mut child, Duration::from_secs(30));
    assert!(st.success(), "child failed: {st:?}, reply {reply:?}");
    let want = format!(
        "hello|web {:?} {:?} listening=true cloexec=true addr=Some(127.0.0.1:{port})\n",
        Domain::IPV4,
        Type::STREAM
    );
    assert_eq!(reply, want);
}

fn tcp_and_udp_nested() {
    let tport = free_port_tcp();
    let uport = free_port_udp();
    let exe = std::env::current_exe().unwrap();
    // --datagram applies to every -l of one run, so TCP plus UDP takes two
    // activators; the inner one passes the outer's fd through and must name
    // every fd in order (the outer's names are dropped).
    let mut cmd = activator();
    cmd.args([
        "-l",
        &format!("127.0.0.1:{tport}"),
        "systemd-socket-activate",
        "--datagram",
    ])
    .args([
        "-l",
        &format!("127.0.0.1:{uport}"),
        "--fdname=tcp:udp",
        "-E",
        &format!("{ROLE}=tcp+udp"),
    ])
    .arg(&exe);
    let mut child = Reaped::spawn(&mut cmd, "systemd-socket-activate");
    let mut s = connect_when_ready(tport);
    s.write_all(b"both\n").unwrap();
    // The inner activator starts the child once its own socket sees
    // traffic: keep sending the datagram until the echo comes back.
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 64];
    let start = Instant::now();
    let mut got_udp = false;
    while !got_udp && start.elapsed() < Duration::from_secs(20) {
        u.send_to(b"dgram", ("127.0.0.1", uport)).unwrap();
        if let Ok((n, _)) = u.recv_from(&mut buf) {
            assert_eq!(&buf[..n], b"dgram");
            got_udp = true;
        }
    }
    assert!(got_udp, "no UDP echo from the activated child");
    let mut reply = String::new();
    BufReader::new(&s).read_line(&mut reply).unwrap();
    let st = wait_exit(&mut child, Duration::from_secs(30));
    assert!(st.success(), "child failed: {st:?}, reply {reply:?}");
    let want = format!(
        "both|tcp {:?} {:?} listening=true cloexec=true addr=Some(127.0.0.1:{tport})|udp {:?} {:?} listening=false cloexec=true addr=Some(127.0.0.1:{uport})\n",
        Domain::IPV4,
        Type::STREAM,
        Domain::IPV4,
        Type::DGRAM
    );
    assert_eq!(reply, want);
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
}

/// Runs this binary with LISTEN_* naming the child itself and fd 3 being
/// `fd3` (or closed).
fn run_with_fd3(role: &str, fd3: Option<OwnedFd>) -> ExitStatus {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().unwrap();
    let mut c = Command::new(exe);
    c.env(ROLE, role)
        .env("LISTEN_PID", "self")
        .env("LISTEN_FDS", "1")
        .env("LISTEN_FDNAMES", "x");
    c.stdin(Stdio::null());
    let raw = fd3.as_ref().map(|f| f.as_raw_fd());
    // SAFETY: the closure runs in the forked child before exec and calls
    // only dup2 and close, both async-signal-safe.
    unsafe {
        c.pre_exec(move || {
            let r = match raw {
                Some(r) => libc::dup2(r, 3),
                None => {
                    // Already closed is fine: closed is what we want.
                    libc::close(3);
                    0
                }
            };
            if r < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(())
            }
        });
    }
    let mut child = Reaped::spawn(&mut c, "this test as the child");
    let st = wait_exit(&mut child, Duration::from_secs(30));
    drop(fd3);
    st
}

fn not_a_socket_is_refused() {
    let (r, _w) = nix::unistd::pipe().unwrap();
    assert!(run_with_fd3("not-a-socket", Some(r)).success());
}

fn closed_fd_is_ebadf() {
    assert!(run_with_fd3("closed", None).success());
}

fn other_pid_is_not_activated() {
    let exe = std::env::current_exe().unwrap();
    let mut c = Command::new(exe);
    // pid 1 is never this child.
    c.env(ROLE, "other-pid")
        .env("LISTEN_PID", "1")
        .env("LISTEN_FDS", "1")
        .stdin(Stdio::null());
    let mut child = Reaped::spawn(&mut c, "this test as the child");
    assert!(wait_exit(&mut child, Duration::from_secs(30)).success());
}

fn bad_variables_are_an_error() {
    for fds in ["-1", "two", "99999"] {
        let exe = std::env::current_exe().unwrap();
        let mut c = Command::new(exe);
        c.env(ROLE, "bad-fds")
            .env("LISTEN_PID", "self")
            .env("LISTEN_FDS", fds)
            .stdin(Stdio::null());
        let mut child = Reaped::spawn(&mut c, "this test as the child");
        assert!(
            wait_exit(&mut child, Duration::from_secs(30)).success(),
            "LISTEN_FDS={fds}"
        );
    }
}
