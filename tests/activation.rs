//! Socket activation for real, under `systemd-socket-activate` (on the
//! machine image; Debian's systemd package).
//!
//! A test binary of its own with `harness = false`: the activated process
//! is this same binary, re-executed with `BARESOCK_ACTIVATION_CHILD` naming
//! the child's role; changing the environment or fds 3.. must not race
//! other tests' threads, so the child does it alone in its own process.
//!
//! The activator listens on fixed 127.0.0.1 ports only (never `-l PORT`
//! alone, which listens on every interface).
// The child's environment, fd 3 set-up and borrowing fd 3 need unsafe.
#![allow(unsafe_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use baresock::activation::{self, ActivatedSocket};
use baresock::{Domain, Type};

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
    if std::env::args().any(|a| a == "--list") {
        for t in TESTS {
            println!("{}: test", t.0);
        }
        return;
    }
    // None of these tests is ignored: `--ignored` (CI's root-only stage)
    // selects none of them.
    let only_ignored = std::env::args().any(|a| a == "--ignored");
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let (mut passed, mut failed) = (0, 0);
    for (name, f) in TESTS {
        if only_ignored || (!filter.is_empty() && !filter.iter().any(|p| name.contains(p.as_str())))
        {
            continue;
        }
        match std::panic::catch_unwind(f) {
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
        "test result: {}. {passed} passed; {failed} failed; 0 ignored; 0 measured; 0 filtered out",
        if failed == 0 { "ok" } else { "FAILED" }
    );
    if failed > 0 {
        std::process::exit(1);
    }
}

type Test = (&'static str, fn());

const TESTS: &[Test] = &[
    (
        "tcp_listener_is_adopted_under_systemd_socket_activate",
        tcp_listener_is_adopted,
    ),
    (
        "tcp_and_udp_under_nested_activators_keep_names_in_order",
        tcp_and_udp_nested,
    ),
    (
        "not_a_socket_is_refused_without_closing_it",
        not_a_socket_is_refused,
    ),
    ("closed_fd_is_ebadf", closed_fd_is_ebadf),
    (
        "inherited_variables_for_another_pid_mean_not_activated",
        other_pid_is_not_activated,
    ),
    (
        "bad_variables_are_a_clear_error",
        bad_variables_are_an_error,
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

/// Kills and reaps the child on every path out of a test.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_exit(child: &mut Reaped, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(st) = child.0.try_wait().unwrap() {
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
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    c
}

fn tcp_listener_is_adopted() {
    let port = free_port_tcp();
    let exe = std::env::current_exe().unwrap();
    let child = activator()
        .args([
            "-l",
            &format!("127.0.0.1:{port}"),
            "--fdname=web",
            "-E",
            &format!("{ROLE}=tcp"),
        ])
        .arg(&exe)
        .spawn()
        .expect("systemd-socket-activate is on the machine image");
    let mut child = Reaped(child);
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
    let child = activator()
        .args([
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
        .arg(&exe)
        .spawn()
        .expect("systemd-socket-activate is on the machine image");
    let mut child = Reaped(child);
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
    let mut child = Reaped(c.spawn().unwrap());
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
    let mut child = Reaped(c.spawn().unwrap());
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
        let mut child = Reaped(c.spawn().unwrap());
        assert!(
            wait_exit(&mut child, Duration::from_secs(30)).success(),
            "LISTEN_FDS={fds}"
        );
    }
}
