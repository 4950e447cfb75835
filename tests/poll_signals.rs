//! `Signals` (signalfd) through every backend, the signal mask helpers,
//! `Signal::send_to` (kill), and a waker, a timer, a signal and a socket
//! in one loop.
//!
//! A test binary of its own (`harness = false`): it blocks signals for the
//! whole process, which is what the crate teaches: `main` blocks them
//! first, before any thread starts, so every thread (each test's helper
//! threads included) inherits the block. The cases that show what goes
//! wrong otherwise (no block at all; a block after a thread started) kill
//! their process, so they run in children: this binary re-executed with
//! `BARESOCK_SIGNALS_CHILD` naming what the child does.
//!
//! Signals are raised with nix (`kill`, `pthread_kill`), an oracle
//! independent of the crate, except where `Signal::send_to` itself is under
//! test.
// fork (for the EPERM case) and _exit in the forked child are unsafe.
#![allow(unsafe_code)]

mod common;

use baresock::poll::{
    Backend, Events, Interest, Signal, SignalSet, Signals, Timer, Token, Waker, block_signals,
    blocked_signals, unblock_signals,
};
use common::*;
use nix::sys::signal::{SigSet, Signal as NixSignal, kill};
use nix::unistd::Pid;
use std::collections::BTreeSet;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

const CHILD: &str = "BARESOCK_SIGNALS_CHILD";
const T: Token = Token(3);

/// What `main` blocks before anything else: every signal the tests send.
fn blocked() -> SignalSet {
    Signal::USR1 | Signal::USR2 | Signal::TERM | Signal::HUP | Signal::CHLD
}

fn main() {
    if let Ok(mode) = std::env::var(CHILD) {
        child(&mode);
        return;
    }
    // The lesson under test: block first, before any thread starts.
    block_signals(blocked()).unwrap();
    #[cfg_attr(not(feature = "stats"), allow(unused_mut))]
    let mut tests: Vec<PlainTest> = vec![
        (
            "signals_through_every_backend",
            signals_through_every_backend,
            None,
        ),
        (
            "send_to_delivers_with_the_sender_pid",
            send_to_delivers_with_the_sender_pid,
            None,
        ),
        (
            "sigchld_names_the_child_and_its_exit_status",
            sigchld_names_the_child_and_its_exit_status,
            None,
        ),
        (
            "waker_timer_signal_and_socket_in_one_loop",
            waker_timer_signal_and_socket_in_one_loop,
            None,
        ),
        (
            "thread_directed_signals_stay_with_their_thread",
            thread_directed_signals_stay_with_their_thread,
            None,
        ),
        (
            "new_leaves_the_mask_alone_and_reads_exactly_its_set",
            new_leaves_the_mask_alone,
            None,
        ),
        (
            "block_and_unblock_return_the_previous_mask",
            block_and_unblock_return_the_previous_mask,
            None,
        ),
        (
            "the_mask_must_be_set_before_threads_start",
            the_mask_must_be_set_before_threads_start,
            None,
        ),
        ("send_to_refuses_groups_and_the_gone", send_to_errors, None),
        (
            "send_to_without_permission_is_eperm",
            send_to_without_permission_is_eperm,
            Some("needs root: drops to uid 65534 in a forked child"),
        ),
        ("out_of_fds_is_emfile", out_of_fds_is_emfile, None),
    ];
    #[cfg(feature = "stats")]
    tests.push(("signal_syscalls_are_exact", signal_syscalls_are_exact, None));
    run_plain_tests(&tests);
}

fn me() -> u32 {
    std::process::id()
}

fn raise(sig: NixSignal) {
    kill(Pid::this(), sig).unwrap();
}

/// Takes every blocked signal still pending (left by an earlier test, or
/// the SIGCHLD of an earlier test's child), so each test starts clean.
fn drain_pending() {
    let all = Signals::new(blocked()).unwrap();
    for _ in 0..64 {
        match all.read() {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => panic!("drain: {e}"),
        }
    }
    panic!("signals keep arriving");
}

#[track_caller]
fn expect_would_block<T: std::fmt::Debug>(r: io::Result<T>) {
    let e = r.expect_err("read with nothing pending");
    assert_eq!(e.raw_os_error(), Some(libc::EAGAIN));
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
}

fn signals_through_every_backend() {
    for b in Backend::ALL {
        drain_pending();
        let mut p = build(b);
        let mut ev = Events::with_capacity(4);
        let s = Signals::new(Signal::USR1 | Signal::TERM).unwrap();
        p.register(s.as_fd(), T, Interest::READABLE).unwrap();
        expect_none(&mut *p, &mut ev);

        raise(NixSignal::SIGUSR1);
        let e = expect_event(&mut *p, &mut ev, T);
        assert_eq!(shared(&e), (T.0, true, false, false), "{b}");
        let info = s.read().unwrap();
        assert_eq!(info.signal, Signal::USR1, "{b}");
        assert_eq!(info.pid, me(), "{b}: the sender is this process");
        assert_eq!(info.uid, nix::unistd::getuid().as_raw(), "{b}");
        assert_eq!(info.code, libc::SI_USER, "{b}: sent by kill");
        expect_would_block(s.read());
        expect_none(&mut *p, &mut ev);

        // Two different signals: one event, two reads, lowest number first.
        raise(NixSignal::SIGTERM);
        raise(NixSignal::SIGUSR1);
        assert_eq!(p.wait(&mut ev, Some(TRY_TIMEOUT)).unwrap(), 1, "{b}");
        assert_eq!(s.read().unwrap().signal, Signal::USR1, "{b}");
        assert_eq!(s.read().unwrap().signal, Signal::TERM, "{b}");
        expect_would_block(s.read());

        // The same standard signal twice before a read: read once.
        raise(NixSignal::SIGUSR1);
        raise(NixSignal::SIGUSR1);
        expect_event(&mut *p, &mut ev, T);
        assert_eq!(s.read().unwrap().signal, Signal::USR1);
        expect_would_block(s.read());

        // Blocked but not in the set: pending, and not this fd's business.
        raise(NixSignal::SIGUSR2);
        expect_none(&mut *p, &mut ev);
        let usr2 = Signals::new(Signal::USR2.into()).unwrap();
        assert_eq!(usr2.read().unwrap().signal, Signal::USR2, "{b}");
        p.deregister(s.as_fd()).unwrap();
    }
}

fn send_to_delivers_with_the_sender_pid() {
    drain_pending();
    let s = Signals::new(Signal::HUP.into()).unwrap();
    Signal::HUP.send_to(me()).unwrap();
    let info = s.read().unwrap();
    assert_eq!(
        (info.signal, info.pid, info.code),
        (Signal::HUP, me(), libc::SI_USER)
    );
    expect_would_block(s.read());
}

fn sigchld_names_the_child_and_its_exit_status() {
    drain_pending();
    let mut p = build(Backend::Epoll);
    let mut ev = Events::with_capacity(4);
    let s = Signals::new(Signal::CHLD.into()).unwrap();
    p.register(s.as_fd(), T, Interest::READABLE).unwrap();
    let mut child = Command::new("sh").args(["-c", "exit 7"]).spawn().unwrap();
    expect_event(&mut *p, &mut ev, T);
    let info = s.read().unwrap();
    assert_eq!(info.signal, Signal::CHLD);
    assert_eq!(info.pid, child.id(), "SIGCHLD names the child");
    assert_eq!(info.code, libc::CLD_EXITED);
    assert_eq!(info.status, 7, "and its exit status");
    // The signal told us; the child is still a zombie until reaped.
    assert_eq!(child.wait().unwrap().code(), Some(7));
    p.deregister(s.as_fd()).unwrap();
}

fn waker_timer_signal_and_socket_in_one_loop() {
    for b in Backend::ALL {
        drain_pending();
        let mut p = build(b);
        let mut ev = Events::with_capacity(8);
        let waker = Arc::new(Waker::new(&mut *p, Token(1)).unwrap());
        // Armed only once nothing is expected to be ready: a timer armed
        // at creation fired during the setup under qemu-user, which is
        // slower than its 20 ms.
        let timer = Timer::new().unwrap();
        let signals = Signals::new(Signal::USR1.into()).unwrap();
        let (ours, peer) = tcp_pair();
        p.register(timer.as_fd(), Token(2), Interest::READABLE)
            .unwrap();
        p.register(signals.as_fd(), Token(3), Interest::READABLE)
            .unwrap();
        p.register(ours.as_fd(), Token(4), Interest::READABLE)
            .unwrap();
        expect_none(&mut *p, &mut ev);
        timer.set_once(Duration::from_millis(20)).unwrap();
        // Another thread, started after main blocked the signals, so it
        // blocks them too: its process-directed kill stays pending for the
        // signalfd instead of being delivered to it.
        let helper = {
            let waker = Arc::clone(&waker);
            std::thread::spawn(move || {
                assert!(blocked_signals().unwrap().contains(Signal::USR1));
                waker.wake().unwrap();
                peer.send(b"hi").unwrap();
                Signal::USR1.send_to(std::process::id()).unwrap();
                peer
            })
        };
        let mut seen = BTreeSet::new();
        for _ in 0..TRIES {
            if seen.len() == 4 {
                break;
            }
            p.wait(&mut ev, Some(TRY_TIMEOUT)).unwrap();
            for e in &ev {
                assert!(e.is_readable(), "{b}: {e:?}");
                match e.token().0 {
                    1 => {}
                    2 => assert_eq!(timer.read().unwrap(), 1, "{b}"),
                    3 => {
                        let info = signals.read().unwrap();
                        assert_eq!((info.signal, info.pid), (Signal::USR1, me()), "{b}");
                    }
                    4 => assert_eq!(drain(&ours), 2, "{b}"),
                    t => panic!("{b}: unknown token {t}"),
                }
                seen.insert(e.token().0);
            }
        }
        assert_eq!(seen, BTreeSet::from([1, 2, 3, 4]), "{b}");
        // Everything was handled: nothing is left to report.
        expect_none(&mut *p, &mut ev);
        expect_would_block(timer.read());
        expect_would_block(signals.read());
        let _peer = helper.join().unwrap();
        for fd in [timer.as_fd(), signals.as_fd(), ours.as_fd(), waker.as_fd()] {
            p.deregister(fd).unwrap();
        }
    }
}

fn thread_directed_signals_stay_with_their_thread() {
    use nix::sys::pthread::{pthread_kill, pthread_self};
    for b in Backend::ALL {
        drain_pending();
        let mut p = build(b);
        let mut ev = Events::with_capacity(4);
        let s = Signals::new(Signal::USR1.into()).unwrap();
        p.register(s.as_fd(), T, Interest::READABLE).unwrap();
        // A helper signals itself: pending for that thread alone.
        let helper = std::thread::spawn(|| {
            pthread_kill(pthread_self(), NixSignal::SIGUSR1).unwrap();
            let own = Signals::new(Signal::USR1.into()).unwrap();
            let info = own.read().unwrap();
            assert_eq!((info.signal, info.code), (Signal::USR1, libc::SI_TKILL));
        });
        helper.join().unwrap();
        expect_none(&mut *p, &mut ev);
        // A helper signals the main thread: this thread's fd reads it.
        // pthread_t is an integer in glibc and a pointer in musl: it
        // crosses to the helper thread as a number.
        let main = pthread_self() as usize;
        std::thread::spawn(move || {
            pthread_kill(main as libc::pthread_t, NixSignal::SIGUSR1).unwrap()
        })
        .join()
        .unwrap();
        expect_event(&mut *p, &mut ev, T);
        let info = s.read().unwrap();
        assert_eq!(
            (info.signal, info.code),
            (Signal::USR1, libc::SI_TKILL),
            "{b}"
        );
        p.deregister(s.as_fd()).unwrap();
    }
}

/// The set a signalfd reads, as the kernel shows it in /proc/self/fdinfo.
fn fdinfo_sigmask(s: &Signals) -> u64 {
    let text =
        std::fs::read_to_string(format!("/proc/self/fdinfo/{}", s.as_fd().as_raw_fd())).unwrap();
    let hex = text
        .lines()
        .find_map(|l| l.strip_prefix("sigmask:"))
        .unwrap_or_else(|| panic!("no sigmask in {text}"));
    u64::from_str_radix(hex.trim(), 16).unwrap()
}

fn bits(set: SignalSet) -> u64 {
    set.iter().map(|s| 1u64 << (s.as_raw() - 1)).sum()
}

fn new_leaves_the_mask_alone() {
    use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
    drain_pending();
    let before = blocked_signals().unwrap();
    assert_eq!(before, blocked());
    // WINCH is not blocked: Signals::new must not block it behind our back.
    let set = Signal::USR2 | Signal::WINCH;
    let s = Signals::new(set).unwrap();
    assert_eq!(blocked_signals().unwrap(), before);
    assert_eq!(s.set(), set);
    assert_eq!(fdinfo_sigmask(&s), bits(set));
    let fd_flags = FdFlag::from_bits_truncate(fcntl(s.as_fd(), FcntlArg::F_GETFD).unwrap());
    assert!(fd_flags.contains(FdFlag::FD_CLOEXEC));
    let fl_flags = OFlag::from_bits_truncate(fcntl(s.as_fd(), FcntlArg::F_GETFL).unwrap());
    assert!(fl_flags.contains(OFlag::O_NONBLOCK));
    // An empty set is allowed: an fd that never becomes readable.
    let none = Signals::new(SignalSet::EMPTY).unwrap();
    assert_eq!(fdinfo_sigmask(&none), 0);
    expect_would_block(none.read());
}

fn nix_mask() -> SignalSet {
    let m = SigSet::thread_get_mask().unwrap();
    (1..=64)
        .filter_map(Signal::from_raw)
        .filter(|s| NixSignal::try_from(s.as_raw()).is_ok_and(|n| m.contains(n)))
        .collect()
}

fn block_and_unblock_return_the_previous_mask() {
    // In a thread of its own: the mask is per thread, and main's must stay.
    std::thread::spawn(|| {
        // Inherited from main, which blocked before starting any thread.
        let start = blocked_signals().unwrap();
        assert_eq!(start, blocked());
        assert_eq!(nix_mask(), start, "nix sees the same mask");
        assert_eq!(block_signals(Signal::WINCH.into()).unwrap(), start);
        assert_eq!(blocked_signals().unwrap(), start | Signal::WINCH);
        assert_eq!(nix_mask(), start | Signal::WINCH);
        // Blocking twice changes nothing.
        assert_eq!(
            block_signals(Signal::WINCH.into()).unwrap(),
            start | Signal::WINCH
        );
        assert_eq!(
            unblock_signals(Signal::WINCH | Signal::USR2).unwrap(),
            start | Signal::WINCH
        );
        assert_eq!(nix_mask(), start.without(Signal::USR2));
        // SIGKILL and SIGSTOP have no Signal: the kernel never blocks them.
        assert_eq!(Signal::from_raw(libc::SIGKILL), None);
    })
    .join()
    .unwrap();
    assert_eq!(blocked_signals().unwrap(), blocked(), "main's mask stays");
}

/// Runs this binary as a child doing `mode`; returns what it did. The
/// child inherits our blocked signals (std's Command keeps the mask)
/// unless `unblocked`: then it unblocks them between fork and exec.
fn run_child(mode: &str, unblocked: bool) -> Output {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.env(CHILD, mode);
    if unblocked {
        // SAFETY: the closure runs in the forked child before exec and
        // makes one async-signal-safe call (pthread_sigmask); it allocates
        // nothing and takes no lock.
        unsafe {
            c.pre_exec(|| unblock_signals(blocked()).map(drop));
        }
    }
    c.output().unwrap()
}

#[track_caller]
fn expect_killed_by(out: &Output, sig: libc::c_int) {
    assert_eq!(
        out.status.signal(),
        Some(sig),
        "{:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[track_caller]
fn expect_success(out: &Output) {
    assert!(
        out.status.success(),
        "{:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn the_mask_must_be_set_before_threads_start() {
    drain_pending();
    // Not blocked at all: the default action of SIGUSR1 ends the process
    // before the signalfd could report anything.
    expect_killed_by(&run_child("unblocked", true), libc::SIGUSR1);
    // Blocked in main after a thread started: that thread still has it
    // unblocked, the kernel delivers it there, and the process ends.
    expect_killed_by(&run_child("blocked-late", true), libc::SIGUSR1);
    // Blocked first, then the thread: the signalfd reads it.
    expect_success(&run_child("blocked-early", true));
    drain_pending();
}

fn send_to_errors() {
    drain_pending();
    for pid in [0, i32::MAX as u32 + 1, u32::MAX] {
        let e = Signal::USR1.send_to(pid).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "pid {pid}");
        assert_eq!(e.raw_os_error(), None, "refused before any syscall");
    }
    // A child that has exited and been reaped: its pid names nothing.
    let mut child = Command::new("true").spawn().unwrap();
    let gone = child.id();
    child.wait().unwrap();
    let e = Signal::USR1.send_to(gone).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ESRCH));
    drain_pending();
}

fn send_to_without_permission_is_eperm() {
    use nix::sys::wait::{WaitStatus, waitpid};
    use nix::unistd::{ForkResult, Gid, Uid, fork, setgid, setuid};
    drain_pending();
    assert!(
        nix::unistd::geteuid().is_root(),
        "needs root, to drop to another uid"
    );
    let parent = me();
    // fork without exec needs a single-threaded process: every test joins
    // its threads.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    assert!(status.lines().any(|l| l == "Threads:\t1"), "{status}");
    // SAFETY: the process is single-threaded (checked above), so the child
    // may run any code; it leaves with _exit.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            // No panics here: an unwinding child would run the parent's
            // remaining tests.
            let ok = setgid(Gid::from_raw(65534)).is_ok()
                && setuid(Uid::from_raw(65534)).is_ok()
                && matches!(
                    Signal::CHLD.send_to(parent),
                    Err(e) if e.raw_os_error() == Some(libc::EPERM)
                );
            // SAFETY: _exit ends the forked child at once, running no
            // destructors or atexit handlers that belong to the parent.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        ForkResult::Parent { child } => {
            assert_eq!(waitpid(child, None).unwrap(), WaitStatus::Exited(child, 0));
        }
    }
    drain_pending();
}

fn out_of_fds_is_emfile() {
    expect_success(&run_child("emfile", false));
    drain_pending();
}

/// Exact syscall counts: each call is the one syscall it names, and a
/// wait that reports a signal is the wait alone.
#[cfg(feature = "stats")]
fn signal_syscalls_are_exact() {
    use baresock::{Syscall, stats};
    drain_pending();
    for b in Backend::ALL {
        let mut p = build(b);
        let mut ev = Events::with_capacity(4);
        stats::reset();
        let before = block_signals(Signal::USR1.into()).unwrap();
        assert_eq!(blocked_signals().unwrap(), before);
        unblock_signals(SignalSet::EMPTY).unwrap();
        assert_eq!(stats::count(Syscall::RtSigprocmask), 3);
        let s = Signals::new(Signal::USR1.into()).unwrap();
        assert_eq!(stats::count(Syscall::Signalfd4), 1);
        Signal::USR1.send_to(me()).unwrap();
        assert_eq!(stats::count(Syscall::Kill), 1);
        assert_eq!(stats::total(), 5);
        p.register(s.as_fd(), T, Interest::READABLE).unwrap();
        stats::reset();
        assert_eq!(p.wait(&mut ev, None).unwrap(), 1, "{b}");
        assert_eq!(stats::total(), 1, "{b}: {:?}", stats::snapshot());
        s.read().unwrap();
        assert_eq!(stats::count(Syscall::Read), 1);
        assert_eq!(stats::total(), 2);
        p.deregister(s.as_fd()).unwrap();
    }
}

// ---- the children ----

fn child(mode: &str) {
    // std's Command keeps the parent's mask across fork and exec, unless
    // the parent unblocked it in pre_exec, as block_signals' docs say.
    let want = if mode == "emfile" {
        blocked()
    } else {
        SignalSet::EMPTY
    };
    assert_eq!(blocked_signals().unwrap(), want, "{mode}: mask at start");
    match mode {
        "unblocked" => {
            let s = Signals::new(Signal::USR1.into()).unwrap();
            Signal::USR1.send_to(me()).unwrap();
            // Not reached: SIGUSR1's default action ended the process.
            eprintln!("survived an unblocked SIGUSR1: read gives {:?}", s.read());
            std::process::exit(3);
        }
        "blocked-late" | "blocked-early" => {
            let early = mode == "blocked-early";
            if early {
                block_signals(Signal::USR1.into()).unwrap();
            }
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let (started_tx, started) = std::sync::mpsc::channel::<()>();
            let sleeper = std::thread::spawn(move || {
                started_tx.send(()).unwrap();
                // Bounded: the parent's output() waits for us.
                let _ = rx.recv_timeout(Duration::from_secs(20));
            });
            // glibc starts a thread with every signal blocked and sets the
            // creator's mask only once it runs: wait until it does.
            started.recv().unwrap();
            if !early {
                block_signals(Signal::USR1.into()).unwrap();
            }
            let mut p = build(Backend::Poll);
            let mut ev = Events::with_capacity(4);
            let s = Signals::new(Signal::USR1.into()).unwrap();
            p.register(s.as_fd(), T, Interest::READABLE).unwrap();
            Signal::USR1.send_to(me()).unwrap();
            expect_event(&mut *p, &mut ev, T);
            assert_eq!(s.read().unwrap().signal, Signal::USR1);
            tx.send(()).unwrap();
            sleeper.join().unwrap();
            if !early {
                eprintln!("a thread with SIGUSR1 unblocked, yet the signalfd read it");
                std::process::exit(3);
            }
        }
        "emfile" => {
            use nix::sys::resource::{Resource, getrlimit, setrlimit};
            let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
            // No new fd at all.
            setrlimit(Resource::RLIMIT_NOFILE, 0, hard).unwrap();
            let e = Timer::new().unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "Timer::new");
            let e = Timer::once(Duration::from_secs(1)).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "Timer::once");
            let e = Signals::new(Signal::USR1.into()).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "Signals::new");
        }
        _ => panic!("unknown child mode {mode}"),
    }
}
