//! EINTR exactly where the docs say: strace's fault injection makes one
//! chosen syscall fail with `EINTR`, and the crate must hand it back as
//! `ErrorKind::Interrupted` with `raw_os_error() == Some(EINTR)` — except
//! in `connect_timeout`, whose docs promise it retries its internal
//! `poll` with the time that is left, and which must therefore succeed.
//!
//! Each case is a child mode of this binary (a plain `main`, so no test
//! harness threads make syscalls): it sets up, makes a marker syscall
//! (`getppid`, which the crate never calls), then the one call under test,
//! then a follow-up that shows nothing was lost, and prints each outcome.
//! The parent runs the child twice under strace: first without injection,
//! to count how many calls of the syscall come before the marker (the Rust
//! runtime's start-up `poll` among them), then with
//! `-e inject=SYSCALL:error=EINTR:when=N`, N being the first call after
//! the marker. strace's log must show exactly one injected call, right
//! after the marker, and the child's outputs must be the expected ones.
//!
//! strace replaces the injected call: the kernel never runs it. So this
//! proves the crate's handling of EINTR, not the kernel's (a real blocking
//! connect that is interrupted goes on in the kernel; tests/signals_transfer
//! sends real signals). `close` is never injected: an injected close skips
//! the real one and leaks the fd.
//!
//! A binary of its own with a plain `main` (harness = false). Without
//! strace on PATH (build.rs's cfg `has_strace`), every case is reported
//! `ignored, needs strace`.

use baresock::msg::{RecvMmsgHdr, SendMmsgHdr};
use baresock::poll::{Backend, Events, Interest, Token};
use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, SockAddr, Type};
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{NEEDS_STRACE, run_plain_tests};

const CHILD_ENV: &str = "BARESOCK_EINTR_CASE";
/// What the kernel sees of Epoll's millisecond wait: libc's epoll_wait is
/// epoll_pwait with a NULL mask on musl, and on aarch64 (which has no
/// epoll_wait syscall); `baresock::Syscall::EpollWait.name()` says the same.
const EPOLL_WAIT: &str = if cfg!(any(target_env = "musl", target_arch = "aarch64")) {
    "epoll_pwait"
} else {
    "epoll_wait"
};
const CHILD_PATIENCE: Duration = Duration::from_secs(30);
const INTERRUPTED: &str = "Err(Interrupted, Some(4))";

/// One case: its name, the syscall injected, the extra syscalls its log
/// must trace, and what the child must print under injection.
struct Case {
    name: &'static str,
    syscall: &'static str,
    also_trace: &'static [&'static str],
    run: fn() -> Vec<String>,
    expect: &'static [&'static str],
    /// Extra checks of the injected run's strace log (lines after the
    /// marker).
    check_log: fn(&[&str]),
}

fn outcome<T: std::fmt::Debug>(r: io::Result<T>) -> String {
    match r {
        Ok(v) => format!("Ok({v:?})"),
        Err(e) => format!("Err({:?}, {:?})", e.kind(), e.raw_os_error()),
    }
}

fn marker() {
    let _ = nix::unistd::getppid();
}

fn pair() -> (OwnedSocket, OwnedSocket) {
    OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap()
}

fn tcp_listener() -> OwnedSocket {
    let l = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    l.bind(&SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)))
        .unwrap();
    l.listen(8).unwrap();
    l
}

fn no_log_check(_: &[&str]) {}

/// A wait on `backend` with one ready fd: interrupted, then the event.
fn wait_case(backend: Backend, timeout: Duration) -> Vec<String> {
    let mut p = backend.build().unwrap();
    let (ours, peer) = pair();
    p.register(ours.as_fd(), Token(3), Interest::READABLE)
        .unwrap();
    peer.send(b"x").unwrap();
    let mut events = Events::with_capacity(4);
    marker();
    let first = outcome(p.wait(&mut events, Some(timeout)));
    let first = format!("{first} events={}", events.len());
    let then = outcome(p.wait(&mut events, Some(timeout)));
    let token = events.iter().next().map(|e| e.token());
    p.deregister(ours.as_fd()).unwrap();
    vec![first, format!("{then} {token:?}")]
}

const CASES: &[Case] = &[
    Case {
        name: "recv",
        syscall: "recvfrom",
        also_trace: &[],
        run: || {
            let (ours, peer) = pair();
            peer.send(b"data").unwrap();
            let mut buf = [0u8; 16];
            marker();
            let first = outcome(ours.recv(&mut buf));
            // The data is still there (without injection, the first call
            // took it and this one would block: hence DONTWAIT).
            let then = ours.recv_with_flags(&mut buf, MsgFlags::DONTWAIT);
            vec![first, outcome(then)]
        },
        expect: &[INTERRUPTED, "Ok(4)"],
        check_log: no_log_check,
    },
    Case {
        name: "send",
        syscall: "sendto",
        also_trace: &[],
        run: || {
            let (ours, _peer) = pair();
            marker();
            let first = outcome(ours.send(b"data"));
            vec![first, outcome(ours.send(b"data"))]
        },
        expect: &[INTERRUPTED, "Ok(4)"],
        check_log: no_log_check,
    },
    Case {
        name: "send_vectored",
        syscall: "sendmsg",
        also_trace: &[],
        run: || {
            let (ours, _peer) = pair();
            let bufs = [IoSlice::new(b"da"), IoSlice::new(b"ta")];
            marker();
            let first = outcome(ours.send_vectored(&bufs));
            vec![first, outcome(ours.send_vectored(&bufs))]
        },
        expect: &[INTERRUPTED, "Ok(4)"],
        check_log: no_log_check,
    },
    Case {
        name: "recv_msg",
        syscall: "recvmsg",
        also_trace: &[],
        run: || {
            let (ours, peer) = pair();
            peer.send(b"data").unwrap();
            let mut buf = [0u8; 16];
            let mut control = [0u8; 64];
            marker();
            let first = outcome(
                ours.recv_msg(
                    &mut [IoSliceMut::new(&mut buf)],
                    &mut control,
                    MsgFlags::NONE,
                )
                .map(|m| m.bytes),
            );
            let then = outcome(
                ours.recv_msg(
                    &mut [IoSliceMut::new(&mut buf)],
                    &mut control,
                    MsgFlags::DONTWAIT,
                )
                .map(|m| m.bytes),
            );
            vec![first, then]
        },
        expect: &[INTERRUPTED, "Ok(4)"],
        check_log: no_log_check,
    },
    Case {
        name: "send_mmsg",
        syscall: "sendmmsg",
        also_trace: &[],
        run: || {
            let (ours, _peer) = pair();
            let bufs = [IoSlice::new(b"data")];
            let send = || {
                let mut msgs = [SendMmsgHdr::new(&bufs, None, &[])];
                outcome(ours.send_mmsg(&mut msgs, MsgFlags::NONE))
            };
            marker();
            let first = send();
            vec![first, send()]
        },
        expect: &[INTERRUPTED, "Ok(1)"],
        check_log: no_log_check,
    },
    Case {
        name: "recv_mmsg",
        syscall: "recvmmsg",
        also_trace: &[],
        run: || {
            let (ours, peer) =
                OwnedSocket::pair(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
            peer.send(b"data").unwrap();
            let mut buf = [0u8; 16];
            let mut recv = |flags| {
                let mut bufs = [IoSliceMut::new(&mut buf)];
                let mut msgs = [RecvMmsgHdr::new(&mut bufs, None, &mut [])];
                outcome(ours.recv_mmsg(&mut msgs, flags).map(|b| b.len()))
            };
            marker();
            let first = recv(MsgFlags::NONE);
            vec![first, recv(MsgFlags::DONTWAIT)]
        },
        expect: &[INTERRUPTED, "Ok(1)"],
        check_log: no_log_check,
    },
    Case {
        name: "accept",
        syscall: "accept4",
        also_trace: &[],
        run: || {
            let l = tcp_listener();
            let c = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
            c.connect(&l.local_addr().unwrap()).unwrap();
            marker();
            let first = outcome(l.accept().map(|_| "accepted"));
            // The connection is still queued: nothing was lost. (Without
            // injection the first call took it: nonblocking, this one
            // then says WouldBlock instead of blocking.)
            l.set_nonblocking(true).unwrap();
            vec![first, outcome(l.accept().map(|_| "accepted"))]
        },
        expect: &[INTERRUPTED, "Ok(\"accepted\")"],
        check_log: no_log_check,
    },
    Case {
        name: "connect",
        syscall: "connect",
        also_trace: &[],
        run: || {
            let l = tcp_listener();
            let c = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
            let to = l.local_addr().unwrap();
            marker();
            let first = outcome(c.connect(&to));
            vec![first, outcome(c.connect(&to))]
        },
        expect: &[INTERRUPTED, "Ok(())"],
        check_log: no_log_check,
    },
    Case {
        // The one documented retry: connect_timeout polls again with the
        // time left, so an EINTR in its poll never reaches the caller.
        name: "connect_timeout retries its poll",
        syscall: "poll",
        also_trace: &["connect"],
        run: || {
            let l = tcp_listener();
            let c = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
            let to = l.local_addr().unwrap();
            marker();
            let first = outcome(c.connect_timeout(&to, Duration::from_secs(10)));
            vec![first, outcome(c.peer_addr().map(|a| a == to))]
        },
        expect: &["Ok(())", "Ok(true)"],
        check_log: |log| {
            // connect, the injected poll, then the retried one.
            let polls: Vec<&&str> = log.iter().filter(|l| l.starts_with("poll(")).collect();
            assert_eq!(polls.len(), 2, "{log:#?}");
            assert!(!polls[1].contains("INJECTED"), "{log:#?}");
        },
    },
    Case {
        name: "Select::wait",
        syscall: "pselect6",
        also_trace: &[],
        run: || wait_case(Backend::Select, Duration::from_secs(1)),
        expect: &["Err(Interrupted, Some(4)) events=0", "Ok(1) Some(Token(3))"],
        check_log: no_log_check,
    },
    Case {
        name: "Poll::wait",
        syscall: "poll",
        also_trace: &[],
        run: || wait_case(Backend::Poll, Duration::from_secs(1)),
        expect: &["Err(Interrupted, Some(4)) events=0", "Ok(1) Some(Token(3))"],
        check_log: no_log_check,
    },
    Case {
        name: "Epoll::wait",
        syscall: EPOLL_WAIT,
        also_trace: &[],
        run: || wait_case(Backend::Epoll, Duration::from_secs(1)),
        expect: &["Err(Interrupted, Some(4)) events=0", "Ok(1) Some(Token(3))"],
        check_log: no_log_check,
    },
    Case {
        // EINTR is not a reason to fall back to epoll_wait (only ENOSYS
        // and EPERM are): the next sub-millisecond wait uses epoll_pwait2.
        name: "Epoll::wait sub-millisecond",
        syscall: "epoll_pwait2",
        also_trace: &[EPOLL_WAIT],
        run: || wait_case(Backend::Epoll, Duration::from_micros(1500)),
        expect: &["Err(Interrupted, Some(4)) events=0", "Ok(1) Some(Token(3))"],
        check_log: |log| {
            assert!(
                !log.iter().any(|l| l.starts_with(&format!("{EPOLL_WAIT}("))),
                "fell back after EINTR: {log:#?}"
            );
            let n = log
                .iter()
                .filter(|l| l.starts_with("epoll_pwait2("))
                .count();
            assert_eq!(n, 2, "{log:#?}");
        },
    },
];

fn main() {
    if let Ok(name) = std::env::var(CHILD_ENV) {
        let case = CASES.iter().find(|c| c.name == name).expect("known case");
        for line in (case.run)() {
            println!("{line}");
        }
        return;
    }
    // Every case runs strace: without it, each is reported ignored,
    // `needs strace`.
    let dir = TempDir::new();
    let path = dir.0.as_path();
    let tests: Vec<_> = CASES
        .iter()
        .map(|case| (case.name, move || run_case(case, path), NEEDS_STRACE))
        .collect();
    run_plain_tests(&tests);
}

/// Runs the child under strace; returns its stdout lines and strace's log.
fn traced(case: &Case, inject_at: Option<usize>, log: &Path) -> (Vec<String>, String) {
    let mut trace = vec![case.syscall, "getppid"];
    trace.extend(case.also_trace);
    let mut cmd = Command::new("strace");
    cmd.args(["-qq", "-o"])
        .arg(log)
        .arg("-e")
        .arg(format!("trace={}", trace.join(",")));
    if let Some(n) = inject_at {
        cmd.arg("-e")
            .arg(format!("inject={}:error=EINTR:when={n}", case.syscall));
    }
    let mut child = cmd
        .arg(std::env::current_exe().unwrap())
        .env(CHILD_ENV, case.name)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run strace (build.rs found it on PATH)");
    // Bounded: a case that blocks is killed and fails.
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > CHILD_PATIENCE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{}: child still running after {CHILD_PATIENCE:?}",
                case.name
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(
        out.status.success(),
        "{}: child failed ({:?}):\n{}\n{}\nstrace log:\n{text}",
        case.name,
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    (lines, text)
}

fn run_case(case: &Case, dir: &Path) {
    let call = format!("{}(", case.syscall);
    // Pass 1: no injection. Where is the call under test?
    let log = dir.join("plain.log");
    let (plain, text) = traced(case, None, &log);
    let marker_at = text
        .lines()
        .position(|l| l.starts_with("getppid("))
        .unwrap_or_else(|| panic!("{}: no marker in\n{text}", case.name));
    let before = text
        .lines()
        .take(marker_at)
        .filter(|l| l.starts_with(&call))
        .count();
    assert!(
        !plain[0].contains("Interrupted"),
        "{}: interrupted without injection: {plain:?}",
        case.name
    );

    // Pass 2: the first call after the marker fails with EINTR.
    let log = dir.join("inject.log");
    let (got, text) = traced(case, Some(before + 1), &log);
    let lines: Vec<&str> = text.lines().collect();
    let after: Vec<&str> = lines[marker_at.min(lines.len())..]
        .iter()
        .skip_while(|l| !l.starts_with("getppid("))
        .skip(1)
        .copied()
        .collect();
    let injected: Vec<&&str> = lines.iter().filter(|l| l.contains("(INJECTED)")).collect();
    assert_eq!(
        injected.len(),
        1,
        "{}: one injection expected:\n{text}",
        case.name
    );
    let first_call = after
        .iter()
        .find(|l| l.starts_with(&call))
        .unwrap_or_else(|| panic!("{}: no {call} after the marker:\n{text}", case.name));
    assert!(
        first_call.contains("EINTR") && first_call.contains("(INJECTED)"),
        "{}: the injected call is not the first after the marker:\n{text}",
        case.name
    );
    assert_eq!(got, case.expect, "{}: strace log:\n{text}", case.name);
    (case.check_log)(&after);
}

/// A directory of the test's own, removed on drop, even when a case fails.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let d = std::env::temp_dir().join(format!("baresock-eintr-{}", std::process::id()));
        std::fs::create_dir(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
