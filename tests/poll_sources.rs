//! `Timer` (timerfd) through every backend: one-shot and periodic timers
//! fire, the wait reports the timer's token, `read` gives the expiration
//! count, disarm and set stop it and drop unread expirations, zero and huge
//! durations are rounded as documented, and the kernel's own view of the
//! fd (/proc/self/fdinfo) agrees with what was set.
//!
//! `Signals` changes the process's signal mask, so its tests live in a
//! binary of their own (tests/poll_signals.rs).
//!
//! No timed assertions: waits are bounded by generous limits, and a test
//! only checks that a timer fired, never how soon.

mod common;

use baresock::poll::{Backend, Events, Interest, Timer, TimerSetting, Token};
use common::*;
use std::collections::BTreeSet;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

const T: Token = Token(5);

/// A timer's line `KEY: VALUE` in /proc/self/fdinfo: the kernel's view,
/// independent of our code.
fn fdinfo(t: &Timer, key: &str) -> String {
    let text =
        std::fs::read_to_string(format!("/proc/self/fdinfo/{}", t.as_fd().as_raw_fd())).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {key} in fdinfo:\n{text}"))
        .trim()
        .to_owned()
}

#[track_caller]
fn expect_would_block(r: io::Result<u64>) {
    let e = r.expect_err("read of a timer that has not expired");
    assert_eq!(e.raw_os_error(), Some(libc::EAGAIN));
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
}

#[test]
fn new_timer_is_disarmed_monotonic_cloexec_and_nonblocking() {
    use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
    let t = Timer::new().unwrap();
    assert_eq!(
        t.get().unwrap(),
        TimerSetting {
            next: None,
            interval: None
        }
    );
    assert_eq!(fdinfo(&t, "clockid"), libc::CLOCK_MONOTONIC.to_string());
    assert_eq!(fdinfo(&t, "it_value"), "(0, 0)");
    let fd_flags = FdFlag::from_bits_truncate(fcntl(t.as_fd(), FcntlArg::F_GETFD).unwrap());
    assert!(fd_flags.contains(FdFlag::FD_CLOEXEC));
    let fl_flags = OFlag::from_bits_truncate(fcntl(t.as_fd(), FcntlArg::F_GETFL).unwrap());
    assert!(fl_flags.contains(OFlag::O_NONBLOCK));
    // Nonblocking: a read of a disarmed timer answers at once.
    expect_would_block(t.read());
}

fn one_shot_fires_once(b: Backend) {
    let mut p = build(b);
    let mut ev = Events::with_capacity(4);
    let t = Timer::once(Duration::from_millis(10)).unwrap();
    let set = t.get().unwrap();
    assert!(set.next.is_some_and(|d| d <= Duration::from_millis(10)));
    assert_eq!(set.interval, None);
    p.register(t.as_fd(), T, Interest::READABLE).unwrap();
    let e = expect_event(&mut *p, &mut ev, T);
    assert_eq!(shared(&e), (T.0, true, false, false), "{b}");
    assert_eq!(t.read().unwrap(), 1, "{b}");
    expect_would_block(t.read());
    // Read, so no longer readable; one-shot, so it never comes back.
    expect_none(&mut *p, &mut ev);
    assert_eq!(p.wait(&mut ev, Some(Duration::from_millis(30))).unwrap(), 0);
    assert_eq!(
        t.get().unwrap().next,
        None,
        "{b}: spent one-shot is disarmed"
    );
    p.deregister(t.as_fd()).unwrap();
}

fn periodic_fires_repeatedly_and_counts_missed_ticks(b: Backend) {
    let mut p = build(b);
    let mut ev = Events::with_capacity(4);
    let period = Duration::from_millis(2);
    let t = Timer::periodic(period).unwrap();
    assert_eq!(t.get().unwrap().interval, Some(period));
    p.register(t.as_fd(), T, Interest::READABLE).unwrap();
    // Several separate events, each read giving at least one expiration.
    let mut events = 0;
    let mut total = 0;
    for _ in 0..TRIES {
        if events >= 3 {
            break;
        }
        expect_event(&mut *p, &mut ev, T);
        let n = t.read().unwrap();
        assert!(n >= 1, "{b}");
        events += 1;
        total += n;
    }
    assert!(events >= 3 && total >= 3, "{b}: {events} events, {total}");
    // Not read for 30 ms, 15 periods: one read reports them all, and the
    // wait reported one event, not fifteen.
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(p.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 1, "{b}");
    assert!(t.read().unwrap() >= 2, "{b}: missed ticks are counted");
    t.disarm().unwrap();
    p.deregister(t.as_fd()).unwrap();
}

fn disarm_stops_it_and_set_rearms(b: Backend) {
    let mut p = build(b);
    let mut ev = Events::with_capacity(4);
    let t = Timer::periodic(Duration::from_millis(1)).unwrap();
    p.register(t.as_fd(), T, Interest::READABLE).unwrap();
    expect_event(&mut *p, &mut ev, T);
    // Expired and unread, then disarmed: the count is dropped with it.
    t.disarm().unwrap();
    expect_would_block(t.read());
    expect_none(&mut *p, &mut ev);
    assert_eq!(p.wait(&mut ev, Some(Duration::from_millis(20))).unwrap(), 0);
    assert_eq!(
        t.get().unwrap(),
        TimerSetting {
            next: None,
            interval: None
        }
    );
    assert_eq!(fdinfo(&t, "it_value"), "(0, 0)");
    // Set again, it fires again, on the same registration.
    t.set_once(Duration::from_millis(1)).unwrap();
    expect_event(&mut *p, &mut ev, T);
    assert_eq!(t.read().unwrap(), 1);
    // Setting an expired timer drops its unread expirations too.
    t.set_once(Duration::ZERO).unwrap();
    expect_event(&mut *p, &mut ev, T);
    t.set_once(Duration::from_secs(3600)).unwrap();
    expect_would_block(t.read());
    expect_none(&mut *p, &mut ev);
    p.deregister(t.as_fd()).unwrap();
}

fn zero_means_soon_not_never(b: Backend) {
    let mut p = build(b);
    let mut ev = Events::with_capacity(4);
    // The kernel reads a zero first expiry as "disarm": Timer makes it 1 ns.
    let t = Timer::once(Duration::ZERO).unwrap();
    p.register(t.as_fd(), T, Interest::READABLE).unwrap();
    expect_event(&mut *p, &mut ev, T);
    assert_eq!(t.read().unwrap(), 1, "{b}");
    // A zero interval would mean "one-shot": it becomes 1 ns, periodic.
    t.set(Duration::ZERO, Some(Duration::ZERO)).unwrap();
    assert_eq!(t.get().unwrap().interval, Some(Duration::from_nanos(1)));
    assert_eq!(fdinfo(&t, "it_interval"), "(0, 1)");
    expect_event(&mut *p, &mut ev, T);
    assert!(t.read().unwrap() >= 1);
    t.disarm().unwrap();
    p.deregister(t.as_fd()).unwrap();
}

fn huge_durations_are_clamped_and_never_fire(b: Backend) {
    let mut p = build(b);
    let mut ev = Events::with_capacity(4);
    let t = Timer::once(Duration::MAX).unwrap();
    let next = t.get().unwrap().next.expect("armed");
    // Clamped to 2^31 - 1 seconds: still about 68 years away.
    assert!(next > Duration::from_secs(2_000_000_000), "{next:?}");
    assert!(next < Duration::from_secs(1 << 31), "{next:?}");
    p.register(t.as_fd(), T, Interest::READABLE).unwrap();
    expect_none(&mut *p, &mut ev);
    p.deregister(t.as_fd()).unwrap();
}

fn timers_share_a_poller_with_sockets(b: Backend) {
    let mut p = build(b);
    let mut ev = Events::with_capacity(8);
    let (ours, peer) = unix_pair();
    let fast = Timer::periodic(Duration::from_millis(1)).unwrap();
    let slow = Timer::once(Duration::from_secs(3600)).unwrap();
    p.register(ours.as_fd(), Token(1), Interest::READABLE)
        .unwrap();
    p.register(fast.as_fd(), Token(2), Interest::READABLE)
        .unwrap();
    p.register(slow.as_fd(), Token(3), Interest::READABLE)
        .unwrap();
    peer.send(b"x").unwrap();
    // Both the socket and the fast timer, never the slow one.
    let mut seen = BTreeSet::new();
    for _ in 0..TRIES {
        p.wait(&mut ev, Some(TRY_TIMEOUT)).unwrap();
        for e in &ev {
            seen.insert(e.token().0);
            // Handled as a daemon would, so the next wait blocks until
            // something new happens.
            match e.token().0 {
                1 => assert_eq!(drain(&ours), 1),
                2 => assert!(fast.read().unwrap() >= 1),
                _ => {}
            }
        }
        if seen.len() >= 2 {
            break;
        }
    }
    assert_eq!(seen, BTreeSet::from([1, 2]), "{b}");
    for t in [&fast, &slow] {
        p.deregister(t.as_fd()).unwrap();
    }
    p.deregister(ours.as_fd()).unwrap();
}

fn oneshot_interest_reports_a_periodic_timer_once(b: Backend) {
    let mut p = build(b);
    let mut ev = Events::with_capacity(4);
    let t = Timer::periodic(Duration::from_millis(1)).unwrap();
    p.register(t.as_fd(), T, Interest::READABLE.oneshot())
        .unwrap();
    expect_event(&mut *p, &mut ev, T);
    t.read().unwrap();
    // Expiring again, but the registration is disarmed until reregister.
    assert_eq!(p.wait(&mut ev, Some(Duration::from_millis(20))).unwrap(), 0);
    p.reregister(t.as_fd(), T, Interest::READABLE.oneshot())
        .unwrap();
    expect_event(&mut *p, &mut ev, T);
    t.disarm().unwrap();
    p.deregister(t.as_fd()).unwrap();
}

fn timer_set_from_another_thread_wakes_the_wait(b: Backend) {
    let mut p = build(b);
    let mut ev = Events::with_capacity(4);
    let t = std::sync::Arc::new(Timer::new().unwrap());
    p.register(t.as_fd(), T, Interest::READABLE).unwrap();
    let setter = {
        let t = std::sync::Arc::clone(&t);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            t.set_once(Duration::from_millis(1)).unwrap();
        })
    };
    // One long wait, bounded: the other thread's set is what ends it.
    let n = p.wait(&mut ev, Some(Duration::from_secs(20))).unwrap();
    assert_eq!(n, 1, "{b}");
    assert_eq!(shared_set(&ev), BTreeSet::from([(T.0, true, false, false)]));
    setter.join().unwrap();
    assert_eq!(t.read().unwrap(), 1);
    p.deregister(t.as_fd()).unwrap();
}

macro_rules! on_every_backend {
    ($($f:ident),* $(,)?) => {$(
        #[test]
        fn $f() {
            for b in Backend::ALL {
                super::$f(b);
            }
        }
    )*};
}

mod every_backend {
    use super::Backend;
    on_every_backend!(
        one_shot_fires_once,
        periodic_fires_repeatedly_and_counts_missed_ticks,
        disarm_stops_it_and_set_rearms,
        zero_means_soon_not_never,
        huge_durations_are_clamped_and_never_fire,
        timers_share_a_poller_with_sockets,
        oneshot_interest_reports_a_periodic_timer_once,
        timer_set_from_another_thread_wakes_the_wait,
    );
}

/// Exact syscall counts: making and arming a timer is one syscall each; a
/// wait that reports it is the wait alone (nothing is re-armed per wait),
/// and reading it is one `read`.
#[cfg(feature = "stats")]
#[test]
fn timer_syscalls_are_exact() {
    use baresock::{Syscall, stats};
    for b in Backend::ALL {
        let mut p = build(b);
        let mut ev = Events::with_capacity(4);
        stats::reset();
        let t = Timer::new().unwrap();
        assert_eq!(stats::count(Syscall::TimerfdCreate), 1);
        t.set_once(Duration::from_millis(1)).unwrap();
        assert_eq!(stats::count(Syscall::TimerfdSettime), 1);
        t.get().unwrap();
        assert_eq!(stats::count(Syscall::TimerfdGettime), 1);
        assert_eq!(stats::total(), 3);
        p.register(t.as_fd(), T, Interest::READABLE).unwrap();
        stats::reset();
        // Blocks until the timer fires: exactly one wait syscall.
        assert_eq!(p.wait(&mut ev, None).unwrap(), 1, "{b}");
        assert_eq!(stats::total(), 1, "{b}: {:?}", stats::snapshot());
        assert_eq!(t.read().unwrap(), 1);
        assert_eq!(stats::count(Syscall::Read), 1);
        assert_eq!(stats::total(), 2);
        p.deregister(t.as_fd()).unwrap();
    }
}
