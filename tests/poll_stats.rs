//! Exact syscall counts and the timeouts the kernel receives, through the
//! `stats` feature's thread-local counters: an echo costs wait + recv +
//! send on every backend; a wake costs one write on epoll, a write and one
//! reset read on poll and select; registration costs nothing on poll and
//! select; a 0.5 ms timeout reaches the kernel as at least 0.5 ms.
#![cfg(feature = "stats")]

mod common;

use baresock::Syscall;
use baresock::poll::{Backend, Events, Interest, Token, Waker};
use baresock::stats;
use common::*;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

fn wait_syscall(b: Backend) -> Syscall {
    match b {
        Backend::Select | Backend::SelectGrowable => Syscall::Pselect6,
        Backend::Poll => Syscall::Poll,
        Backend::Epoll => Syscall::EpollWait,
    }
}

/// The syscalls made by `f` on this thread, as (syscall, count) pairs.
fn cost(f: impl FnOnce()) -> Vec<(Syscall, u64)> {
    let before = stats::snapshot();
    f();
    let after = stats::snapshot();
    let mut out = Vec::new();
    for call in Syscall::ALL {
        let d = after[call as usize] - before[call as usize];
        if d != 0 {
            out.push((call, d));
        }
    }
    out
}

#[test]
fn echo_costs_wait_recv_send() {
    for b in Backend::ALL {
        let mut p = build(b);
        let mut ev = Events::with_capacity(4);
        let (ours, peer) = tcp_pair();
        p.register(ours.as_fd(), Token(1), Interest::READABLE)
            .unwrap();
        let mut buf = [0u8; 64];
        for i in 0..10u8 {
            peer.send(&[i; 16]).unwrap();
            let c = cost(|| {
                assert_eq!(p.wait(&mut ev, None).unwrap(), 1);
                let n = ours.recv(&mut buf).unwrap();
                ours.send(&buf[..n]).unwrap();
            });
            let mut want = vec![
                (Syscall::Sendto, 1),
                (Syscall::Recvfrom, 1),
                (wait_syscall(b), 1),
            ];
            want.sort_by_key(|(s, _)| *s as usize);
            assert_eq!(c, want, "{b}, echo {i}");
            // The client reads its echo (not counted).
            let got = expect_recv(&peer, 16);
            assert_eq!(got, 16);
        }
    }
}

#[track_caller]
fn expect_recv(s: &baresock::OwnedSocket, want: usize) -> usize {
    let mut buf = [0u8; 64];
    let mut got = 0;
    for _ in 0..TRIES {
        match s.recv(&mut buf[got..want]) {
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("{e}"),
        }
        if got == want {
            break;
        }
    }
    got
}

#[test]
fn wake_costs_one_write_plus_reset_off_epoll() {
    for b in Backend::ALL {
        let mut p = build(b);
        let mut ev = Events::with_capacity(4);
        let waker = Waker::new(&mut *p, Token(9)).unwrap();
        for _ in 0..3 {
            let c = cost(|| waker.wake().unwrap());
            assert_eq!(c, vec![(Syscall::Write, 1)], "{b}");
            let c = cost(|| assert_eq!(p.wait(&mut ev, None).unwrap(), 1));
            let want = if b == Backend::Epoll {
                vec![(Syscall::EpollWait, 1)]
            } else {
                let mut w = vec![(Syscall::Read, 1), (wait_syscall(b), 1)];
                w.sort_by_key(|(s, _)| *s as usize);
                w
            };
            assert_eq!(c, want, "{b}");
            // A wait that was not woken costs its one syscall, nothing more.
            let c = cost(|| assert_eq!(p.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0));
            assert_eq!(c, vec![(wait_syscall(b), 1)], "{b}");
        }
    }
}

#[test]
fn registration_costs() {
    for b in Backend::ALL {
        let mut p = build(b);
        let (ours, _peer) = unix_pair();
        let per_call = if b == Backend::Epoll {
            vec![(Syscall::EpollCtl, 1)]
        } else {
            vec![]
        };
        let c = cost(|| {
            p.register(ours.as_fd(), Token(1), Interest::READABLE)
                .unwrap()
        });
        assert_eq!(c, per_call, "{b} register");
        let c = cost(|| {
            p.reregister(ours.as_fd(), Token(2), Interest::WRITABLE.oneshot())
                .unwrap()
        });
        assert_eq!(c, per_call, "{b} reregister");
        // Oneshot: the wait that disarms costs nothing extra.
        let mut ev = Events::with_capacity(4);
        let c = cost(|| assert_eq!(p.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 1));
        assert_eq!(c, vec![(wait_syscall(b), 1)], "{b} oneshot wait");
        let c = cost(|| p.deregister(ours.as_fd()).unwrap());
        assert_eq!(c, per_call, "{b} deregister");
    }
}

#[test]
#[cfg_attr(qemu_user, ignore = "qemu-user: epoll_pwait2 is ENOSYS")]
fn timeouts_reach_the_kernel_rounded_up() {
    let half_ms = Duration::from_micros(500);
    for b in Backend::ALL {
        let mut p = build(b);
        let mut ev = Events::with_capacity(4);
        let (ours, peer) = unix_pair();
        p.register(ours.as_fd(), Token(1), Interest::READABLE)
            .unwrap();

        stats::reset();
        p.wait(&mut ev, Some(half_ms)).unwrap();
        let got = stats::last_timeout()
            .expect("a wait ran")
            .expect("not blocking");
        assert!(got >= half_ms, "{b}: 0.5 ms reached the kernel as {got:?}");
        let exact = match b {
            Backend::Poll => Duration::from_millis(1),
            // select: microseconds; epoll: epoll_pwait2's nanoseconds.
            _ => half_ms,
        };
        assert_eq!(got, exact, "{b}");

        stats::reset();
        p.wait(&mut ev, Some(Duration::ZERO)).unwrap();
        assert_eq!(stats::last_timeout(), Some(Some(Duration::ZERO)), "{b}");

        // Rounded up, never down: 1.0000001 ms.
        stats::reset();
        p.wait(&mut ev, Some(Duration::from_nanos(1_000_100)))
            .unwrap();
        let got = stats::last_timeout().unwrap().unwrap();
        assert!(got >= Duration::from_nanos(1_000_100), "{b}: {got:?}");

        // Long and blocking waits, with the fd ready so they return.
        peer.send(b"x").unwrap();
        stats::reset();
        p.wait(&mut ev, Some(Duration::from_secs(3600))).unwrap();
        assert_eq!(
            stats::last_timeout(),
            Some(Some(Duration::from_secs(3600))),
            "{b}"
        );
        stats::reset();
        p.wait(&mut ev, None).unwrap();
        assert_eq!(stats::last_timeout(), Some(None), "{b}");
    }
}

#[test]
#[cfg_attr(qemu_user, ignore = "qemu-user: epoll_pwait2 is ENOSYS")]
fn epoll_uses_pwait2_only_for_sub_millisecond_timeouts() {
    let mut p = build(Backend::Epoll);
    let mut ev = Events::with_capacity(4);
    let c = cost(|| {
        p.wait(&mut ev, Some(Duration::from_micros(1500))).unwrap();
    });
    assert_eq!(c, vec![(Syscall::EpollPwait2, 1)]);
    for t in [Duration::ZERO, Duration::from_millis(2)] {
        let c = cost(|| {
            p.wait(&mut ev, Some(t)).unwrap();
        });
        assert_eq!(c, vec![(Syscall::EpollWait, 1)], "{t:?}");
    }
}

/// A hang-up on a priority-only oneshot registration is masked out: not
/// reported, and the registration stays armed. epoll's kernel disarmed it
/// anyway, so that wait costs one `epoll_ctl` to re-arm it; the next wait
/// sees the hang-up again (and re-arms again), which shows it was armed.
#[test]
fn masked_out_oneshot_stays_armed() {
    for b in Backend::ALL {
        let mut p = build(b);
        let mut ev = Events::with_capacity(4);
        let (ours, peer) = unix_pair();
        p.register(ours.as_fd(), Token(1), Interest::PRIORITY.oneshot())
            .unwrap();
        drop(peer);
        for _ in 0..2 {
            let c = cost(|| assert_eq!(p.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 0));
            let want = if b == Backend::Epoll {
                vec![(Syscall::EpollCtl, 1), (Syscall::EpollWait, 1)]
            } else {
                vec![(wait_syscall(b), 1)]
            };
            assert_eq!(c, want, "{b}");
        }
    }
}

/// Edge + oneshot, priority-only interest, and the peer hangs up: the
/// hang-up is masked out, and re-arming would make the kernel queue the
/// same hang-up again at once (EPOLL_CTL_MOD polls the fd, and HUP is
/// always polled), so every wait would return at once with nothing: a busy
/// loop. The registration is left as the kernel left it, so a wait with a
/// timeout waits: no `epoll_ctl` after the first wait, nothing queued in
/// the epoll instance (its fd is not readable), and each 100 ms wait
/// returns 0 events. A reregister still re-arms it.
#[test]
#[allow(
    unsafe_code,
    reason = "borrows the poller's epoll fd by number, to poll it"
)]
fn edge_oneshot_hangup_does_not_spin() {
    let mut p = build(Backend::Epoll);
    let mut ev = Events::with_capacity(4);
    let (ours, peer) = unix_pair();
    p.register(ours.as_fd(), Token(1), Interest::PRIORITY.edge().oneshot())
        .unwrap();
    drop(peer);
    let c = cost(|| {
        for _ in 0..3 {
            assert_eq!(
                p.wait(&mut ev, Some(Duration::from_millis(100))).unwrap(),
                0
            );
        }
    });
    assert_eq!(c, vec![(Syscall::EpollWait, 3)]);
    // The epoll fd is readable while its ready list holds a ready item.
    let debug = format!("{p:?}");
    let epfd: i32 = debug
        .split("epfd: ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no epfd in {debug}"));
    // SAFETY: the number is the poller's epoll fd, open while `p` lives,
    // and the borrow ends within this function.
    let epfd = unsafe { BorrowedFd::borrow_raw(epfd) };
    let mut fds = [nix::poll::PollFd::new(epfd, nix::poll::PollFlags::POLLIN)];
    assert_eq!(
        nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO).unwrap(),
        0
    );
    // Asking for readable re-arms it: the hang-up is reported once.
    p.reregister(ours.as_fd(), Token(1), Interest::READABLE.edge().oneshot())
        .unwrap();
    let e = expect_event(&mut *p, &mut ev, Token(1));
    assert!(e.is_readable() && e.is_hangup());
    expect_none(&mut *p, &mut ev);
    p.deregister(ours.as_fd()).unwrap();
}

/// epoll_pwait2 reads the kernel's `__kernel_timespec` (64-bit seconds and
/// nanoseconds) on every target. On i686 libc's timespec is two 32-bit
/// fields, and handed over as it was, every sub-millisecond or fractional
/// wait failed `EINVAL` or waited wrong. Each timeout here must reach the
/// kernel as asked: through epoll_pwait2 (no fallback), recorded exactly,
/// returning no event after at least that long by the clock (a wait can
/// end late on a busy machine, never early).
#[test]
#[cfg_attr(qemu_user, ignore = "qemu-user: epoll_pwait2 is ENOSYS")]
fn epoll_pwait2_waits_fractional_timeouts_as_asked() {
    let asked = [
        Duration::from_micros(300),
        Duration::from_micros(1500),
        Duration::from_nanos(2_000_500),
        Duration::from_micros(20_250),
    ];
    type Outcome = (
        Result<usize, String>,
        Duration,
        Option<Option<Duration>>,
        u64,
        u64,
    );
    let (tx, rx) = std::sync::mpsc::channel::<Vec<Outcome>>();
    // A timeout the kernel misread could block for years: the waits run in
    // a thread of their own, and this one gives up on them after 10 s.
    std::thread::spawn(move || {
        let mut p = build(Backend::Epoll);
        let (ours, _peer) = unix_pair();
        p.register(ours.as_fd(), Token(1), Interest::READABLE)
            .unwrap();
        let mut ev = Events::with_capacity(4);
        let mut out = Vec::new();
        for t in asked {
            stats::reset();
            let start = std::time::Instant::now();
            let r = p.wait(&mut ev, Some(t)).map_err(|e| e.to_string());
            let elapsed = start.elapsed();
            out.push((
                r,
                elapsed,
                stats::last_timeout(),
                stats::count(Syscall::EpollPwait2),
                stats::count(Syscall::EpollWait),
            ));
        }
        let _ = tx.send(out);
    });
    let got = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the epoll waits did not return within 10 s");
    for (t, (r, elapsed, last, pwait2, wait)) in asked.into_iter().zip(got) {
        assert_eq!(r, Ok(0), "{t:?}: nothing is ready");
        assert_eq!((pwait2, wait), (1, 0), "{t:?}: one epoll_pwait2");
        assert_eq!(last, Some(Some(t)), "{t:?} reached the kernel");
        assert!(elapsed >= t, "{t:?} asked, woke after {elapsed:?}");
    }
}
