//! The trace names the syscall the kernel sees, on every target: the calls
//! whose name through libc depends on the target or the libc version are
//! made here once each, under strace, and every name the crate's trace
//! printed must be in strace's log at least as often.
//!
//! What libc would have made instead (checked with strace): `select` and
//! `epoll_pwait` on musl, whose `sendmmsg` is a loop of `sendmsg` and whose
//! `fcntl` adds `O_LARGEFILE`; `pselect6_time64`, `recvmmsg_time64`,
//! `timerfd_gettime64` and `fcntl64` with glibc 2.34+ on i686. The crate
//! makes those through `syscall(2)` so the name is fixed per target; the
//! ones it leaves to libc (`epoll_wait` is `epoll_pwait` on musl, the ids
//! are `geteuid32`/`getegid32` on 32-bit x86, `fork` is `clone` with
//! glibc and on aarch64) it names per target.
//!
//! The test runs itself again under `strace -f` in a child mode, with the
//! trace on; the child's own trace goes to its stderr.
#![cfg(feature = "trace")]

mod common;

use baresock::msg::{Credentials, RecvMmsgHdr, SendMmsgHdr};
use baresock::poll::{Backend, Events, Interest, Timer, Token};
use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, Type};
use common::*;
use std::collections::BTreeMap;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::AsFd;
use std::process::Command;
use std::time::Duration;

const CHILD_ENV: &str = "BARESOCK_KERNEL_NAMES_CHILD";
const NAME: &str = "trace_names_what_the_kernel_sees";

/// The calls whose kernel name differs by target or libc, once each.
fn child() {
    baresock::trace::enable(true);
    let (a, b) = unix_pair();
    // fcntl: F_GETFL, F_SETFL.
    a.set_nonblocking(true).unwrap();
    // select (pselect6), epoll_wait, epoll_pwait2: nothing ready.
    for backend in [Backend::Select, Backend::Epoll] {
        let mut p = build(backend);
        p.register(b.as_fd(), Token(1), Interest::READABLE).unwrap();
        let mut ev = Events::with_capacity(4);
        p.wait(&mut ev, Some(Duration::from_millis(1))).unwrap();
        p.wait(&mut ev, Some(Duration::from_micros(100))).unwrap();
        p.deregister(b.as_fd()).unwrap();
    }
    // sendmsg, sendmmsg of two, recvmmsg.
    let (x, y) = OwnedSocket::pair(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
    x.send_msg(&[IoSlice::new(b"m")], None, &[], MsgFlags::NONE)
        .unwrap();
    let bufs = [IoSlice::new(b"1")];
    let bufs2 = [IoSlice::new(b"2")];
    let mut out = [
        SendMmsgHdr::new(&bufs, None, &[]),
        SendMmsgHdr::new(&bufs2, None, &[]),
    ];
    assert_eq!(x.send_mmsg(&mut out, MsgFlags::NONE).unwrap(), 2);
    let (mut r1, mut r2, mut r3) = ([0u8; 4], [0u8; 4], [0u8; 4]);
    let mut i1 = [IoSliceMut::new(&mut r1)];
    let mut i2 = [IoSliceMut::new(&mut r2)];
    let mut i3 = [IoSliceMut::new(&mut r3)];
    let mut slots = [
        RecvMmsgHdr::new(&mut i1, None, &mut []),
        RecvMmsgHdr::new(&mut i2, None, &mut []),
        RecvMmsgHdr::new(&mut i3, None, &mut []),
    ];
    assert_eq!(y.recv_mmsg(&mut slots, MsgFlags::NONE).unwrap().len(), 3);
    // timerfd_settime, timerfd_gettime.
    let t = Timer::once(Duration::from_secs(60)).unwrap();
    t.get().unwrap();
    // getpid, geteuid, getegid.
    let _ = Credentials::current();
    // sched_getaffinity, sched_setaffinity (through syscall(2): glibc's
    // wrapper would hide the byte count strace shows).
    let mine = baresock::cpu::affinity(0).unwrap();
    baresock::cpu::set_affinity(0, &mine).unwrap();
    // pipe2, fork (clone with glibc and on aarch64), wait4 in the parent;
    // the child's own calls are not traced.
    let l = tcp_listener();
    let cmd = baresock::activation::Command::new("/bin/true");
    let mut child = baresock::activation::spawn_with_listeners(&cmd, &[(&l, "l")]).unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
#[cfg_attr(not(has_strace), ignore = "needs strace")]
#[cfg_attr(
    all(has_strace, qemu_user),
    ignore = "qemu-user: strace traces the emulator, not the target's syscalls"
)]
fn trace_names_what_the_kernel_sees() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child();
        return;
    }
    let dir = std::env::temp_dir().join(format!("baresock-knames-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("strace.log");
    let out = Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&log)
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .output()
        .expect("run strace (build.rs found it on PATH)");
    let strace = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let ours = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{ours}");

    let count = |names: &mut BTreeMap<String, usize>, rest: &str| {
        if let Some(open) = rest.find('(') {
            let name = &rest[..open];
            if !name.is_empty()
                && name
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
            {
                *names.entry(name.to_owned()).or_default() += 1;
            }
        }
    };
    let mut traced = BTreeMap::new();
    for line in ours.lines() {
        count(&mut traced, line);
    }
    let mut seen = BTreeMap::new();
    for line in strace.lines() {
        // "PID name(...": strace pads the pid column.
        if let Some((_, rest)) = line.split_once(' ') {
            count(&mut seen, rest.trim_start());
        }
    }
    // Each one the child makes must have been traced (so the test cannot
    // pass on an empty trace), named as the kernel saw it.
    for call in [
        "fcntl",
        "pselect6",
        if cfg!(target_env = "musl") {
            "epoll_pwait"
        } else {
            "epoll_wait"
        },
        "epoll_pwait2",
        "sendmsg",
        "sendmmsg",
        "recvmmsg",
        "timerfd_settime",
        "timerfd_gettime",
        "sched_getaffinity",
        "sched_setaffinity",
        if cfg!(target_arch = "x86") {
            "geteuid32"
        } else {
            "geteuid"
        },
        "pipe2",
        if cfg!(any(target_env = "gnu", target_arch = "aarch64")) {
            "clone"
        } else {
            "fork"
        },
        "wait4",
    ] {
        assert!(traced.contains_key(call), "{call} not traced:\n{ours}");
    }
    let wrong: Vec<String> = traced
        .iter()
        .filter(|(name, n)| seen.get(*name).copied().unwrap_or(0) < **n)
        .map(|(name, n)| {
            format!(
                "{name}: traced {n}, strace saw {}",
                seen.get(name).copied().unwrap_or(0)
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{}\nours:\n{ours}\nstrace:\n{strace}",
        wrong.join("\n")
    );
}
