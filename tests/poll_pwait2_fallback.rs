//! Epoll falls back from epoll_pwait2 to epoll_wait when the kernel (or a
//! seccomp filter, or valgrind) answers ENOSYS or EPERM, and remembers it.
//!
//! strace's fault injection plays the kernel that says no: the test runs
//! itself again under `strace -e inject=epoll_pwait2:error=ERRNO`, and the
//! child makes three sub-millisecond waits. strace's log must show one
//! refused epoll_pwait2 and then only epoll_wait, and every wait must have
//! reported its event. Without strace on PATH (build.rs's cfg
//! `has_strace`) the test is ignored, `needs strace`.

mod common;

use baresock::poll::{Backend, Events, Interest, Token};
use common::*;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD_ENV: &str = "BARESOCK_PWAIT2_CHILD";
/// What the kernel sees of the fallback: libc's epoll_wait is epoll_pwait
/// with a NULL mask on musl, and on aarch64 (which has no epoll_wait
/// syscall).
const EPOLL_WAIT: &str = if cfg!(any(target_env = "musl", target_arch = "aarch64")) {
    "epoll_pwait"
} else {
    "epoll_wait"
};

fn child() {
    let mut p = build(Backend::Epoll);
    let (ours, peer) = unix_pair();
    p.register(ours.as_fd(), Token(1), Interest::READABLE)
        .unwrap();
    peer.send(b"x").unwrap();
    let mut ev = Events::with_capacity(4);
    for _ in 0..3 {
        assert_eq!(
            p.wait(&mut ev, Some(Duration::from_micros(1500))).unwrap(),
            1
        );
    }
}

#[test]
#[cfg_attr(not(has_strace), ignore = "needs strace")]
#[cfg_attr(
    all(has_strace, qemu_user),
    ignore = "qemu-user: strace traces the emulator, not the target's syscalls"
)]
fn epoll_pwait2_falls_back_and_remembers() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child();
        return;
    }
    let dir = TempDir::new();
    let dir = &dir.0;
    for errno in ["ENOSYS", "EPERM"] {
        let log = dir.join(format!("strace-{errno}.log"));
        // The child's own libtest lines go to a pipe, shown on failure.
        let out = Command::new("strace")
            .args(["-f", "-qq", "-e"])
            .arg(format!("trace=epoll_pwait2,{EPOLL_WAIT}"))
            .arg("-e")
            .arg(format!("inject=epoll_pwait2:error={errno}"))
            .arg("-o")
            .arg(&log)
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "epoll_pwait2_falls_back_and_remembers",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, "1")
            .stdin(Stdio::null())
            .output()
            .expect("run strace (build.rs found it on PATH)");
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            out.status.success(),
            "{errno}: child failed; strace log:\n{text}\nchild's stdout:\n{}\nchild's stderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let pwait2: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("epoll_pwait2("))
            .collect();
        let wait = text
            .lines()
            .filter(|l| l.contains(&format!(" {EPOLL_WAIT}(")))
            .count();
        assert_eq!(
            pwait2.len(),
            1,
            "{errno}: tried epoll_pwait2 more than once:\n{text}"
        );
        assert!(
            pwait2[0].contains(errno) && pwait2[0].contains("INJECTED"),
            "{text}"
        );
        assert_eq!(wait, 3, "{errno}: expected three {EPOLL_WAIT}:\n{text}");
    }
}

/// A directory of the test's own, removed on drop, even when an assertion
/// fails.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let d = std::env::temp_dir().join(format!("baresock-pwait2-{}", std::process::id()));
        std::fs::create_dir(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
