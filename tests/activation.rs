//! Socket activation for real, under `systemd-socket-activate` (Debian's
//! systemd package). The three cases that run it are ignored with the reason
//! `needs systemd-socket-activate` when build.rs did not find it on PATH.
//!
//! `spawn_with_listeners` is tested from both sides: a spawning process
//! (this binary re-executed, fds 3 and 4 closed by `sh`) hands sockets to
//! an adopting one (this binary again), which checks `LISTEN_*`, its fd
//! table and close-on-exec flags with nix, adopts with `listen_fds` and
//! serves one connection or datagram on each socket.
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
    (
        "spawn_with_listeners_hands_names_fds_and_pid",
        spawn_hands_names_fds_and_pid,
        None,
    ),
    (
        "spawn_with_listeners_swaps_fds_already_at_3_and_4",
        spawn_swaps_fds_at_3_and_4,
        None,
    ),
    (
        "spawn_with_listeners_keeps_its_report_pipe_out_of_the_targets",
        spawn_pipe_in_target_range,
        None,
    ),
    (
        "spawn_with_listeners_strips_inherited_listen_variables",
        spawn_strips_inherited_variables,
        None,
    ),
    (
        "spawn_with_listeners_exec_failure_is_the_errno_and_leaks_nothing",
        spawn_failures_leak_nothing,
        None,
    ),
    (
        "spawn_with_listeners_refuses_bad_names_before_forking",
        spawn_refuses_bad_names,
        None,
    ),
    (
        "spawn_with_listeners_from_a_threaded_parent_never_hangs",
        spawn_from_threaded_parent,
        None,
    ),
    (
        "spawn_with_listeners_hands_on_what_systemd_socket_activate_passed",
        spawn_relays_systemd_socket_activate,
        NEEDS_SYSTEMD_SOCKET_ACTIVATE,
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
        "adopt" => spawned::adopt_and_serve(),
        "spawner" => spawned::spawner(),
        "leaks" => spawned::leaks(),
        "relay" => spawned::relay(),
        "threaded" => spawned::threaded(),
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

/// systemd-socket-activate listening on 127.0.0.1 (a free port, fd name
/// "web") and running this binary as `role`: one `line` sent, the reply
/// line read, the activator's exit awaited (it must succeed). Returns the
/// port, the reply and the pid the activator ran.
fn activated_exchange(role: &str, line: &str) -> (u16, String, u32) {
    let port = free_port_tcp();
    let exe = std::env::current_exe().unwrap();
    let mut cmd = activator();
    cmd.args([
        "-l",
        &format!("127.0.0.1:{port}"),
        "--fdname=web",
        "-E",
        &format!("{ROLE}={role}"),
    ])
    .arg(&exe);
    let mut child = Reaped::spawn(&mut cmd, "systemd-socket-activate");
    let mut s = connect_when_ready(port);
    s.write_all(line.as_bytes()).unwrap();
    let mut reply = String::new();
    BufReader::new(&s).read_line(&mut reply).unwrap();
    let st = wait_exit(&mut child, Duration::from_secs(30));
    assert!(st.success(), "{role} failed: {st:?}, reply {reply:?}");
    (port, reply, child.child.id())
}

fn tcp_listener_is_adopted() {
    let (port, reply, _) = activated_exchange("tcp", "hello\n");
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

// ---- spawn_with_listeners ----

fn spawn_hands_names_fds_and_pid() {
    assert!(spawned::run_spawner("basic", &[]).success());
}

fn spawn_swaps_fds_at_3_and_4() {
    assert!(spawned::run_spawner("swap", &[]).success());
}

fn spawn_pipe_in_target_range() {
    assert!(spawned::run_spawner("pipe-in-range", &[]).success());
}

fn spawn_strips_inherited_variables() {
    // What a process that was itself socket-activated still carries.
    let junk = [
        ("LISTEN_PID", "1"),
        ("LISTEN_FDS", "7"),
        ("LISTEN_FDNAMES", "a:b:c:d:e:f:g"),
        ("LISTEN_PIDFDID", "99"),
    ];
    assert!(spawned::run_spawner("basic", &junk).success());
}

fn spawn_failures_leak_nothing() {
    let exe = std::env::current_exe().unwrap();
    let mut c = Command::new(exe);
    c.env(ROLE, "leaks").stdin(Stdio::null());
    let mut child = Reaped::spawn(&mut c, "this test as the child");
    assert!(wait_exit(&mut child, Duration::from_secs(60)).success());
}

fn spawn_from_threaded_parent() {
    let exe = std::env::current_exe().unwrap();
    let mut c = Command::new(exe);
    // A process group of its own, so a grandchild stuck after its fork is
    // killed with it.
    std::os::unix::process::CommandExt::process_group(&mut c, 0);
    c.env(ROLE, "threaded").stdin(Stdio::null());
    let mut child = Reaped::spawn(&mut c, "this test as the child");
    struct KillGroup(i32);
    impl Drop for KillGroup {
        fn drop(&mut self) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(self.0),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    let _group = KillGroup(child.child.id() as i32);
    // A child stuck after the fork (a lock some other thread held) would
    // leave its spawn blocked on the report pipe: the limit catches it.
    assert!(wait_exit(&mut child, Duration::from_secs(60)).success());
}

fn spawn_refuses_bad_names() {
    let l = spawned::tcp();
    let long = "n".repeat(activation::MAX_FDNAME_LEN + 1);
    for name in [
        "",
        "a:b",
        ":",
        "tab\there",
        "new\nline",
        "caf\u{e9}",
        "del\u{7f}",
        &long,
    ] {
        // A program that would fail if it ran: the refusal comes first.
        let cmd = activation::Command::new("/nonexistent/baresock-never-run");
        let e = activation::spawn_with_listeners(&cmd, &[(&l, name)]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{name:?}: {e}");
        assert!(e.raw_os_error().is_none(), "{name:?}: {e}");
        assert!(!activation::fdname_is_valid(name), "{name:?}");
    }
    // The longest name and every printable character but ':' are fine.
    let printable: String = (b' '..=b'~')
        .filter(|&b| b != b':')
        .map(char::from)
        .collect();
    for name in ["n".repeat(activation::MAX_FDNAME_LEN), printable] {
        let cmd = activation::Command::new("/bin/true");
        let mut child = activation::spawn_with_listeners(&cmd, &[(&l, name.as_str())])
            .unwrap_or_else(|e| panic!("{name:?}: {e}"));
        assert!(child.wait().unwrap().success());
    }
}

fn spawn_relays_systemd_socket_activate() {
    let (_, reply, activated) = activated_exchange("relay", "relayed\n");
    // "web <pid> relayed": served by the relay's child, not the process
    // the activator started.
    let parts: Vec<&str> = reply.trim_end().split(' ').collect();
    assert_eq!(parts.len(), 3, "{reply:?}");
    assert_eq!((parts[0], parts[2]), ("web", "relayed"), "{reply:?}");
    let pid: u32 = parts[1].parse().unwrap();
    assert_ne!(pid, activated, "{reply:?}");
}

/// The spawning side and the spawned side, each in a process of its own.
mod spawned {
    use super::*;
    use baresock::{OwnedSocket, Protocol, SockAddr};
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    use std::collections::BTreeSet;
    use std::net::SocketAddr;
    use std::os::unix::fs::PermissionsExt;

    /// A spawned child, killed and reaped on every way out.
    pub struct Guard(pub Option<activation::Child>);

    impl Guard {
        pub fn wait(mut self) -> ExitStatus {
            let mut c = self.0.take().unwrap();
            c.wait().unwrap()
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            if let Some(c) = self.0.as_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    fn sa(s: &str) -> SockAddr {
        SockAddr::from(s.parse::<SocketAddr>().unwrap())
    }

    pub fn tcp() -> OwnedSocket {
        let s = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
        s.bind(&sa("127.0.0.1:0")).unwrap();
        s.listen(16).unwrap();
        s
    }

    pub fn udp() -> OwnedSocket {
        let s = OwnedSocket::new(Domain::IPV4, Type::DGRAM, Protocol::DEFAULT).unwrap();
        s.bind(&sa("127.0.0.1:0")).unwrap();
        s
    }

    fn port(s: &OwnedSocket) -> u16 {
        s.local_addr().unwrap().as_socket().unwrap().port()
    }

    /// The open fds of this process below 1024, and whether each is
    /// close-on-exec (nix's fcntl, independent of the crate).
    fn open_fds() -> Vec<(i32, bool)> {
        (0..1024)
            .filter_map(|fd| {
                // SAFETY: borrowed for one F_GETFD, harmless on any number.
                let b = unsafe { BorrowedFd::borrow_raw(fd) };
                let flags = fcntl(b, FcntlArg::F_GETFD).ok()?;
                Some((
                    fd,
                    FdFlag::from_bits_truncate(flags).contains(FdFlag::FD_CLOEXEC),
                ))
            })
            .collect()
    }

    /// Runs this binary as the spawning side of `scenario`, with `env`
    /// added, and fds 3 and 4 closed (whatever the runner left there).
    pub fn run_spawner(scenario: &str, env: &[(&str, &str)]) -> ExitStatus {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg("exec 3<&- 4<&- \"$0\" \"$@\"")
            .arg(std::env::current_exe().unwrap())
            .env(ROLE, "spawner")
            .env("SPAWN_SCENARIO", scenario)
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = Reaped::spawn(&mut c, "this test as the spawner");
        wait_exit(&mut child, Duration::from_secs(60))
    }

    /// Starts this binary as the adopting child of `listeners`.
    fn spawn_adopter(listeners: &[(&OwnedSocket, &str)]) -> std::io::Result<Guard> {
        let n = listeners.len() as i32;
        // What the child inherits besides 0, 1, 2 and its targets: fds of
        // ours without close-on-exec (none, unless the runner left some).
        let extra: Vec<String> = open_fds()
            .into_iter()
            .filter(|&(fd, cloexec)| !cloexec && fd > 2 && !(3..3 + n).contains(&fd))
            .map(|(fd, _)| fd.to_string())
            .collect();
        let names: Vec<&str> = listeners.iter().map(|(_, n)| *n).collect();
        let mut cmd = activation::Command::new(std::env::current_exe().unwrap());
        cmd.env(ROLE, "adopt")
            .env("EXPECT_NAMES", names.join(":"))
            .env("EXPECT_EXTRA", extra.join(","));
        let child = activation::spawn_with_listeners(&cmd, listeners)?;
        Ok(Guard(Some(child)))
    }

    /// Talks to each listener in turn, as the adopter serves them, and
    /// returns the replies: "name pid line".
    fn talk(listeners: &[&OwnedSocket]) -> Vec<String> {
        let mut out = Vec::new();
        for (i, l) in listeners.iter().enumerate() {
            let line = format!("hello{i}");
            let reply = if l.r#type().unwrap() == Type::STREAM {
                let mut s = TcpStream::connect(("127.0.0.1", port(l))).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                s.write_all(format!("{line}\n").as_bytes()).unwrap();
                let mut r = String::new();
                BufReader::new(&s).read_line(&mut r).unwrap();
                r
            } else {
                let u = UdpSocket::bind("127.0.0.1:0").unwrap();
                u.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                u.send_to(line.as_bytes(), ("127.0.0.1", port(l))).unwrap();
                let mut buf = [0u8; 512];
                let (n, _) = u.recv_from(&mut buf).unwrap();
                String::from_utf8_lossy(&buf[..n]).into_owned()
            };
            out.push(reply.trim_end().to_owned());
        }
        out
    }

    fn check_replies(got: &[String], names: &[&str], pid: u32) -> Result<(), String> {
        for (i, (g, name)) in got.iter().zip(names).enumerate() {
            let want = format!("{name} {pid} hello{i}");
            if *g != want {
                return Err(format!("reply {i}: {g:?}, want {want:?}"));
            }
        }
        Ok(())
    }

    /// Spawns an adopter of `listeners`, talks to each, checks the replies
    /// and its exit.
    fn round_trip(listeners: &[(&OwnedSocket, &str)]) -> Result<(), String> {
        let child = spawn_adopter(listeners).map_err(|e| format!("spawn: {e}"))?;
        let pid = child.0.as_ref().unwrap().id();
        let socks: Vec<&OwnedSocket> = listeners.iter().map(|(s, _)| *s).collect();
        let names: Vec<&str> = listeners.iter().map(|(_, n)| *n).collect();
        let got = talk(&socks);
        check_replies(&got, &names, pid)?;
        let st = child.wait();
        if !st.success() {
            return Err(format!("the adopter failed: {st:?}"));
        }
        Ok(())
    }

    pub fn spawner() -> Result<(), String> {
        let scenario = std::env::var("SPAWN_SCENARIO").map_err(|e| e.to_string())?;
        match scenario.as_str() {
            "basic" => {
                let (web, dns, admin) = (tcp(), udp(), tcp());
                round_trip(&[(&web, "web"), (&dns, "dns"), (&admin, "admin")])
            }
            "swap" => {
                // The sockets sit at 3 and 4 and go to 4 and 3: a dup2 of 4
                // onto 3 first would close the socket meant for 4.
                let a = tcp();
                let b = tcp();
                if (a.as_raw_fd(), b.as_raw_fd()) != (3, 4) {
                    return Err(format!("fds 3 and 4 not free: {:?}", open_fds()));
                }
                round_trip(&[(&b, "four-to-three"), (&a, "three-to-four")])?;
                // And each at its own place.
                round_trip(&[(&a, "three"), (&b, "four")])
            }
            "pipe-in-range" => {
                // Sockets at 5, 6, 7 and fds 3 and 4 free: the report pipe
                // is made at 3 and 4, among the targets 3, 4, 5.
                let hold = [udp(), udp()];
                let socks = [tcp(), tcp(), tcp()];
                drop(hold);
                let fds: Vec<i32> = socks.iter().map(|s| s.as_raw_fd()).collect();
                if fds != [5, 6, 7] {
                    return Err(format!("sockets at {fds:?}, not 5, 6, 7"));
                }
                // An exec failure must still come back through the pipe.
                let cmd = activation::Command::new("/nonexistent/baresock-spawn");
                let l: Vec<(&OwnedSocket, &str)> = socks.iter().zip(["a", "b", "c"]).collect();
                match activation::spawn_with_listeners(&cmd, &l) {
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                    other => return Err(format!("expected ENOENT, got {other:?}")),
                }
                round_trip(&l)
            }
            other => Err(format!("unknown scenario {other}")),
        }
    }

    /// The spawned side: checks what it was handed, then serves one
    /// connection (or datagram) on each socket: "name pid line".
    pub fn adopt_and_serve() -> Result<(), String> {
        let var = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
        let names_s = var("EXPECT_NAMES")?;
        let names: Vec<&str> = if names_s.is_empty() {
            Vec::new()
        } else {
            names_s.split(':').collect()
        };
        let n = names.len() as i32;
        let pid = std::process::id();
        if var("LISTEN_PID")? != pid.to_string() {
            return Err(format!("LISTEN_PID={:?}, our pid {pid}", var("LISTEN_PID")));
        }
        if var("LISTEN_FDS")? != n.to_string() {
            return Err(format!("LISTEN_FDS={:?}, want {n}", var("LISTEN_FDS")));
        }
        if var("LISTEN_FDNAMES")? != names_s {
            return Err(format!(
                "LISTEN_FDNAMES={:?}, want {names_s:?}",
                var("LISTEN_FDNAMES")
            ));
        }
        if std::env::var_os("LISTEN_PIDFDID").is_some() {
            return Err("LISTEN_PIDFDID was passed on".into());
        }
        // The fd table: 0, 1, 2, the targets without close-on-exec, what
        // the parent left without close-on-exec, and nothing else.
        let extra: BTreeSet<i32> = var("EXPECT_EXTRA")?
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        let fds = open_fds();
        let want: BTreeSet<i32> = (0..3 + n).chain(extra.iter().copied()).collect();
        let got: BTreeSet<i32> = fds.iter().map(|&(fd, _)| fd).collect();
        if got != want {
            return Err(format!("open fds {fds:?}, want {want:?}"));
        }
        if let Some(bad) = fds
            .iter()
            .find(|&&(fd, cloexec)| (3..3 + n).contains(&fd) && cloexec)
        {
            return Err(format!("fd {} is close-on-exec: {fds:?}", bad.0));
        }
        let socks = activation::listen_fds().map_err(|e| format!("listen_fds: {e}"))?;
        let got_names: Vec<&str> = socks.iter().map(|s| s.name.as_str()).collect();
        if got_names != names {
            return Err(format!("names {got_names:?}, want {names:?}"));
        }
        for s in &socks {
            if s.listening {
                let (conn, _) = s.socket.accept().map_err(|e| format!("accept: {e}"))?;
                let mut line = Vec::new();
                let mut byte = [0u8; 1];
                while line.last() != Some(&b'\n') && line.len() < 256 {
                    if conn.recv(&mut byte).map_err(|e| e.to_string())? == 0 {
                        break;
                    }
                    line.push(byte[0]);
                }
                let reply = format!(
                    "{} {pid} {}\n",
                    s.name,
                    String::from_utf8_lossy(&line).trim_end()
                );
                (&conn)
                    .write_all(reply.as_bytes())
                    .map_err(|e| e.to_string())?;
            } else {
                let mut buf = [0u8; 256];
                let (k, from) = s.socket.recv_from(&mut buf).map_err(|e| e.to_string())?;
                let reply = format!("{} {pid} {}", s.name, String::from_utf8_lossy(&buf[..k]));
                s.socket
                    .send_to(reply.as_bytes(), &from)
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// Every way a spawn fails, and one that works, 20 times over: the fd
    /// table is the same after, and no child is left unreaped.
    pub fn leaks() -> Result<(), String> {
        let dir = std::env::temp_dir().join(format!("baresock-spawn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let not_exec = dir.join("not-executable");
        std::fs::write(&not_exec, "#!/bin/sh\n").map_err(|e| e.to_string())?;
        std::fs::set_permissions(&not_exec, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| e.to_string())?;
        let l = tcp();
        let before = open_fds();
        let mut result = Ok(());
        for round in 0..20 {
            let cases: [(&std::path::Path, Option<i32>); 4] = [
                (
                    std::path::Path::new("/nonexistent/baresock-spawn"),
                    Some(libc::ENOENT),
                ),
                (&not_exec, Some(libc::EACCES)),
                (std::path::Path::new("/"), Some(libc::EACCES)),
                (std::path::Path::new("/bin/true"), None),
            ];
            for (path, errno) in cases {
                let cmd = activation::Command::new(path);
                match (activation::spawn_with_listeners(&cmd, &[(&l, "l")]), errno) {
                    (Err(e), Some(want)) if e.raw_os_error() == Some(want) => {}
                    (Ok(mut c), None) => {
                        let st = c.wait().map_err(|e| e.to_string())?;
                        if !st.success() {
                            result = Err(format!("round {round}: /bin/true: {st:?}"));
                        }
                        // Reaped: no signal reaches a reused pid.
                        c.kill().map_err(|e| e.to_string())?;
                    }
                    (other, _) => {
                        result = Err(format!(
                            "round {round}: {path:?}: {other:?}, want {errno:?}"
                        ));
                    }
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        result?;
        let after = open_fds();
        if after != before {
            return Err(format!("fds before {before:?}, after {after:?}"));
        }
        match nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
            Err(nix::errno::Errno::ECHILD) => Ok(()),
            other => Err(format!("a child was left unreaped: {other:?}")),
        }
    }

    /// Spawns 200 times while three threads make traced syscalls (with
    /// the `trace` feature: each line goes through the trace's sink lock,
    /// held while a slow sink runs) and allocate: a child that touched the
    /// trace, or any lock, after the fork would hang on a copy of a lock
    /// another thread held at the fork. Bounded: the threads stop with the
    /// spawns, and the parent test kills this process after 60 s.
    pub fn threaded() -> Result<(), String> {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        #[cfg(feature = "trace")]
        {
            baresock::trace::set_sink(baresock::trace::Sink::Function(Box::new(|line| {
                // Hold the sink lock a while, allocating.
                let mut v = Vec::new();
                for _ in 0..50 {
                    v.push(line.to_owned());
                }
                std::hint::black_box(v);
            })));
            baresock::trace::enable(true);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (stop, calls) = (stop.clone(), calls.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let (a, b) = baresock::OwnedSocket::pair(
                            Domain::UNIX,
                            Type::STREAM,
                            Protocol::DEFAULT,
                        )
                        .unwrap();
                        a.send(b"x").unwrap();
                        let mut buf = [0u8; 1];
                        b.recv(&mut buf).unwrap();
                        calls.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        let l = tcp();
        let mut result = Ok(());
        for i in 0..200 {
            let cmd = activation::Command::new("/bin/true");
            match activation::spawn_with_listeners(&cmd, &[(&l, "l")]) {
                Ok(mut c) => match c.wait() {
                    Ok(st) if st.success() => {}
                    other => {
                        result = Err(format!("spawn {i}: /bin/true gave {other:?}"));
                        break;
                    }
                },
                Err(e) => {
                    result = Err(format!("spawn {i}: {e}"));
                    break;
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().map_err(|_| "a busy thread panicked".to_string())?;
        }
        if calls.load(Ordering::Relaxed) == 0 {
            return Err("the busy threads made no syscall".into());
        }
        result
    }

    /// Activated by systemd-socket-activate: hands the socket on to a
    /// child of its own and waits for it.
    pub fn relay() -> Result<(), String> {
        let socks = activation::listen_fds().map_err(|e| format!("listen_fds: {e}"))?;
        if socks.len() != 1 || socks[0].name != "web" {
            return Err(format!("activated with {socks:?}"));
        }
        let child =
            spawn_adopter(&[(&socks[0].socket, "web")]).map_err(|e| format!("spawn: {e}"))?;
        // The listener is the child's now; ours closes.
        drop(socks);
        let st = child.wait();
        if st.success() {
            Ok(())
        } else {
            Err(format!("the adopter failed: {st:?}"))
        }
    }
}
