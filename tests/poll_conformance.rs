//! The poll contract, written once, generic over `Poller`, run for every
//! backend: the shared contract (token, readable, writable, priority) in
//! level and oneshot mode, the errors every backend shares, timeouts, the
//! waker, out-of-band data and fairness with a small `Events`.

mod common;

use baresock::poll::{Backend, Events, Interest, Mode, Token, Waker};
use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, Shutdown, Type};
use common::*;
use std::collections::BTreeSet;
use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

const T: Token = Token(7);

fn readable_after_peer_writes(b: Backend) {
    let mut p = build(b);
    let mut ev = Events::with_capacity(8);
    let (ours, peer) = tcp_pair();
    p.register(ours.as_fd(), T, Interest::READABLE).unwrap();
    expect_none(&mut *p, &mut ev);
    peer.send(b"hello").unwrap();
    let e = expect_event(&mut *p, &mut ev, T);
    assert_eq!(shared(&e), (7, true, false, false));
}

fn writable_after_connect(b: Backend) {
    let mut p = build(b);
    let mut ev = Events::with_capacity(8);
    let l = tcp_listener();
    let s = OwnedSocket::new_nonblocking(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    match s.connect(&l.local_addr().unwrap()) {
        Ok(()) => {}
        Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EINPROGRESS)),
    }
    p.register(s.as_fd(), T, Interest::WRITABLE).unwrap();
    let e = expect_event(&mut *p, &mut ev, T);
    assert_eq!(shared(&e), (7, false, true, false));
    assert!(s.take_error().unwrap().is_none());
}

fn readable_after_peer_shutdown_write(b: Backend) {
    for (ours, peer) in [tcp_pair(), unix_pair()] {
        let mut p = build(b);
        let mut ev = Events::with_capacity(8);
        p.register(ours.as_fd(), T, Interest::READABLE).unwrap();
        expect_none(&mut *p, &mut ev);
        peer.shutdown(Shutdown::Write).unwrap();
        let e = expect_event(&mut *p, &mut ev, T);
        assert_eq!(shared(&e), (7, true, false, false));
        // End of stream: recv returns 0, and it stays readable.
        assert_eq!(ours.recv(&mut [0; 8]).unwrap(), 0);
        let e = expect_event(&mut *p, &mut ev, T);
        assert!(e.is_readable());
    }
}

fn readable_after_peer_close(b: Backend) {
    for (ours, peer) in [tcp_pair(), unix_pair()] {
        let mut p = build(b);
        let mut ev = Events::with_capacity(8);
        p.register(ours.as_fd(), T, Interest::READABLE).unwrap();
        drop(peer);
        let e = expect_event(&mut *p, &mut ev, T);
        assert_eq!(shared(&e), (7, true, false, false));
        assert_eq!(ours.recv(&mut [0; 8]).unwrap(), 0);
    }
}

fn level_repeats_until_drained(b: Backend) {
    let mut p = build(b);
    let mut ev = Events::with_capacity(8);
    let (ours, peer) = unix_pair();
    p.register(ours.as_fd(), T, Interest::READABLE).unwrap();
    peer.send(&[1; 100]).unwrap();
    let want = BTreeSet::from([(7, true, false, false)]);
    for _ in 0..3 {
        p.wait(&mut ev, Some(Duration::ZERO)).unwrap();
        assert_eq!(shared_set(&ev), want, "{b}");
    }
    // A partial read leaves it readable; draining ends it.
    assert_eq!(ours.recv(&mut [0; 10]).unwrap(), 10);
    p.wait(&mut ev, Some(Duration::ZERO)).unwrap();
    assert_eq!(shared_set(&ev), want, "{b}");
    assert_eq!(drain(&ours), 90);
    expect_none(&mut *p, &mut ev);
}

fn oneshot_disarms_until_reregister(b: Backend) {
    let mut p = build(b);
    let mut ev = Events::with_capacity(8);
    let (ours, peer) = unix_pair();
    p.register(ours.as_fd(), T, Interest::READABLE.oneshot())
        .unwrap();
    peer.send(b"x").unwrap();
    let want = BTreeSet::from([(7, true, false, false)]);
    p.wait(&mut ev, Some(Duration::ZERO)).unwrap();
    assert_eq!(shared_set(&ev), want, "{b}");
    // Still readable, but disarmed.
    expect_none(&mut *p, &mut ev);
    peer.send(b"y").unwrap();
    expect_none(&mut *p, &mut ev);
    p.reregister(ours.as_fd(), Token(8), Interest::READABLE.oneshot())
        .unwrap();
    p.wait(&mut ev, Some(Duration::ZERO)).unwrap();
    assert_eq!(shared_set(&ev), BTreeSet::from([(8, true, false, false)]));
    expect_none(&mut *p, &mut ev);
}

fn deregister_stops_events(b: Backend) {
    let mut p = build(b);
    let mut ev = Events::with_capacity(8);
    let (ours, peer) = unix_pair();
    p.register(ours.as_fd(), T, Interest::READABLE).unwrap();
    peer.send(b"x").unwrap();
    assert_eq!(p.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 1);
    p.deregister(ours.as_fd()).unwrap();
    expect_none(&mut *p, &mut ev);
    // And it can be registered again.
    p.register(ours.as_fd(), T, Interest::READABLE).unwrap();
    assert_eq!(p.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 1);
}

fn reregister_changes_interest(b: Backend) {
    let mut p = build(b);
    let mut ev = Events::with_capacity(8);
    let (ours, peer) = unix_pair();
    // Writable at once, but only readable was asked for.
    p.register(ours.as_fd(), T, Interest::READABLE).unwrap();
    expect_none(&mut *p, &mut ev);
    p.reregister(ours.as_fd(), Token(9), Interest::WRITABLE)
        .unwrap();
    p.wait(&mut ev, Some(Duration::ZERO)).unwrap();
    assert_eq!(shared_set(&ev), BTreeSet::from([(9, false, true, false)]));
    peer.send(b"x").unwrap();
    p.reregister(ours.as_fd(), T, Interest::READABLE | Interest::WRITABLE)
        .unwrap();
    p.wait(&mut ev, Some(Duration::ZERO)).unwrap();
    assert_eq!(shared_set(&ev), BTreeSet::from([(7, true, true, false)]));
}

fn errors_are_shared(b: Backend) {
    let mut p = build(b);
    let (ours, _peer) = unix_pair();
    let (other, _peer2) = unix_pair();
    p.register(ours.as_fd(), T, Interest::READABLE).unwrap();
    let e = p.register(ours.as_fd(), T, Interest::WRITABLE).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{b}");
    assert_eq!(e.raw_os_error(), Some(libc::EEXIST), "{b}");
    let e = p
        .reregister(other.as_fd(), T, Interest::READABLE)
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{b}");
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{b}");
    let e = p.deregister(other.as_fd()).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{b}");
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{b}");
    p.deregister(ours.as_fd()).unwrap();
    let e = p.deregister(ours.as_fd()).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{b}");
    // Edge: only where the backend says so; refused before any change.
    let edge = p.register(other.as_fd(), T, Interest::READABLE.edge());
    if b.supports(Mode::Edge) {
        edge.unwrap();
    } else {
        assert_eq!(edge.unwrap_err().kind(), io::ErrorKind::Unsupported, "{b}");
        p.register(other.as_fd(), T, Interest::READABLE).unwrap();
        let e = p
            .reregister(other.as_fd(), T, Interest::WRITABLE.edge())
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{b}");
        // The registration is left as it was: readable only.
        let mut ev = Events::with_capacity(4);
        expect_none(&mut *p, &mut ev);
    }
    // Exclusive wake-ups: the same, by `supports_exclusive`; where they
    // exist (epoll), an exclusive registration cannot be reregistered
    // (EINVAL, before the syscall).
    let (third, _peer3) = unix_pair();
    let exclusive = p.register(third.as_fd(), T, Interest::READABLE.exclusive());
    if b.supports_exclusive() {
        exclusive.unwrap();
        let e = p
            .reregister(third.as_fd(), T, Interest::WRITABLE)
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{b}");
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{b}");
    } else {
        let e = exclusive.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{b}");
        p.register(third.as_fd(), T, Interest::READABLE).unwrap();
        let e = p
            .reregister(third.as_fd(), T, Interest::WRITABLE.exclusive())
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{b}");
    }
    // Either way the registration is readable only, and nothing is ready.
    let mut ev = Events::with_capacity(4);
    expect_none(&mut *p, &mut ev);
}

fn timeouts(b: Backend) {
    let mut p = build(b);
    let mut ev = Events::with_capacity(4);
    let (ours, peer) = tcp_pair();
    p.register(ours.as_fd(), T, Interest::READABLE).unwrap();
    // Zero, sub-millisecond and short timeouts return with nothing.
    for t in [
        Duration::ZERO,
        Duration::from_micros(500),
        Duration::from_millis(1),
        Duration::from_millis(20),
    ] {
        assert_eq!(p.wait(&mut ev, Some(t)).unwrap(), 0, "{b} {t:?}");
    }
    // A long timeout (and no timeout) return as soon as the fd is ready.
    let peer = Arc::new(peer);
    for timeout in [Some(Duration::from_secs(60)), None] {
        let writer = {
            let peer = Arc::clone(&peer);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                peer.send(b"x").unwrap();
            })
        };
        assert_eq!(p.wait(&mut ev, timeout).unwrap(), 1, "{b}");
        writer.join().unwrap();
        drain(&ours);
    }
}

fn waker_from_another_thread(b: Backend) {
    let mut p = build(b);
    let mut ev = Events::with_capacity(4);
    let waker = Arc::new(Waker::new(&mut *p, Token(99)).unwrap());
    expect_none(&mut *p, &mut ev);
    let w = Arc::clone(&waker);
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        w.wake().unwrap();
    });
    assert_eq!(p.wait(&mut ev, None).unwrap(), 1);
    assert_eq!(shared_set(&ev), BTreeSet::from([(99, true, false, false)]));
    t.join().unwrap();
    // Reset (poll, select) or edge-triggered (epoll): no second event.
    expect_none(&mut *p, &mut ev);
    // Dropping the Waker leaves no closed fd registered: waits still work.
    drop(waker);
    expect_none(&mut *p, &mut ev);
}

fn wakes_coalesce(b: Backend) {
    let mut p = build(b);
    let mut ev = Events::with_capacity(4);
    let waker = Arc::new(Waker::new(&mut *p, Token(99)).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let w = Arc::clone(&waker);
            std::thread::spawn(move || {
                for _ in 0..250 {
                    w.wake().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(p.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 1);
    assert_eq!(shared_set(&ev), BTreeSet::from([(99, true, false, false)]));
    expect_none(&mut *p, &mut ev);
    // The waker still works after the burst, and can be deregistered.
    waker.wake().unwrap();
    assert_eq!(p.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 1);
    p.deregister(waker.as_fd()).unwrap();
    waker.wake().unwrap();
    expect_none(&mut *p, &mut ev);
}

fn oob_data_is_priority(b: Backend) {
    let mut p = build(b);
    let mut ev = Events::with_capacity(4);
    let (ours, peer) = tcp_pair();
    p.register(ours.as_fd(), T, Interest::PRIORITY).unwrap();
    expect_none(&mut *p, &mut ev);
    peer.send_with_flags(b"!", MsgFlags::OOB).unwrap();
    let e = expect_event(&mut *p, &mut ev, T);
    assert_eq!(shared(&e), (7, false, false, true), "{b}");
    let mut byte = [0u8; 1];
    assert_eq!(ours.recv_with_flags(&mut byte, MsgFlags::OOB).unwrap(), 1);
    assert_eq!(&byte, b"!");
    expect_none(&mut *p, &mut ev);
}

/// Three fds always ready, room for one event per wait: three waits report
/// three different tokens, so nobody starves.
fn small_events_starve_nobody(b: Backend) {
    let mut p = build(b);
    let mut ev = Events::with_capacity(1);
    let pairs: Vec<_> = (0..3).map(|_| unix_pair()).collect();
    for (i, (ours, peer)) in pairs.iter().enumerate() {
        p.register(ours.as_fd(), Token(i), Interest::READABLE)
            .unwrap();
        peer.send(b"x").unwrap();
    }
    let mut seen = BTreeSet::new();
    for _ in 0..3 {
        assert_eq!(p.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 1);
        seen.insert(ev.iter().next().unwrap().token().0);
    }
    assert_eq!(seen, BTreeSet::from([0, 1, 2]), "{b}");
}

/// An event with nothing left after masking is not reported and does not
/// disarm a oneshot registration: the peer's close is a hang-up, which
/// counts as readable, not as priority.
fn masked_out_events_are_not_reported(b: Backend) {
    for interest in [Interest::PRIORITY, Interest::PRIORITY.oneshot()] {
        let mut p = build(b);
        let mut ev = Events::with_capacity(4);
        let (ours, peer) = unix_pair();
        p.register(ours.as_fd(), T, interest).unwrap();
        drop(peer);
        for _ in 0..3 {
            expect_none(&mut *p, &mut ev);
        }
        // Asking for readable now shows the hang-up at once.
        p.reregister(ours.as_fd(), T, Interest::READABLE).unwrap();
        p.wait(&mut ev, Some(Duration::ZERO)).unwrap();
        assert_eq!(shared_set(&ev), BTreeSet::from([(7, true, false, false)]));
    }
}

fn boxed_poller_is_send(b: Backend) {
    fn assert_send<T: Send>(_: &T) {}
    let p = build(b);
    assert_send(&p);
    assert_send(&Events::with_capacity(1));
    assert_eq!(p.backend(), b);
}

/// Registrations are found by fd number: a sparse set of numbers (a low
/// one and one near the top of what plain select takes) works, each keeps
/// its token, and numbers past any registered one are simply unknown.
#[allow(unsafe_code)] // adopting the fds F_DUPFD_CLOEXEC returns
fn sparse_fd_numbers(b: Backend) {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut p = build(b);
    let mut ev = Events::with_capacity(8);
    let (low, low_peer) = unix_pair();
    let (high_src, high_peer) = unix_pair();
    // A duplicate at 1000 or above (below FD_SETSIZE for plain select).
    let high = nix::fcntl::fcntl(&high_src, nix::fcntl::F_DUPFD_CLOEXEC(1000)).unwrap();
    assert!((1000..1024).contains(&high), "dup landed on {high}");
    // SAFETY: fcntl just returned this fd and nothing else owns it.
    let high = unsafe { OwnedFd::from_raw_fd(high) };
    drop(high_src);
    p.register(high.as_fd(), Token(1000), Interest::READABLE)
        .unwrap();
    p.register(low.as_fd(), Token(3), Interest::READABLE)
        .unwrap();
    low_peer.send(b"l").unwrap();
    high_peer.send(b"h").unwrap();
    let want: BTreeSet<Shared> = [(3, true, false, false), (1000, true, false, false)].into();
    expect_exactly(&mut *p, &mut ev, &want);
    p.reregister(high.as_fd(), Token(1001), Interest::WRITABLE)
        .unwrap();
    let want: BTreeSet<Shared> = [(3, true, false, false), (1001, false, true, false)].into();
    expect_exactly(&mut *p, &mut ev, &want);
    p.deregister(high.as_fd()).unwrap();
    assert_eq!(
        p.deregister(high.as_fd()).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    let want: BTreeSet<Shared> = [(3, true, false, false)].into();
    expect_exactly(&mut *p, &mut ev, &want);
    // A number above every registered one: unknown, not a panic.
    let higher = nix::fcntl::fcntl(&high, nix::fcntl::F_DUPFD_CLOEXEC(1010)).unwrap();
    // SAFETY: as above.
    let higher = unsafe { OwnedFd::from_raw_fd(higher) };
    let e = p
        .reregister(higher.as_fd(), T, Interest::READABLE)
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    assert_eq!(
        p.deregister(higher.as_fd()).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    drop(higher);
    p.deregister(low.as_fd()).unwrap();
    expect_none(&mut *p, &mut ev);
}

macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod select {
            $( #[test] fn $check() { super::$check(baresock::poll::Backend::Select) } )*
        }
        mod select_growable {
            $( #[test] fn $check() { super::$check(baresock::poll::Backend::SelectGrowable) } )*
        }
        mod poll {
            $( #[test] fn $check() { super::$check(baresock::poll::Backend::Poll) } )*
        }
        mod epoll {
            $( #[test] fn $check() { super::$check(baresock::poll::Backend::Epoll) } )*
        }
    };
}

conformance!(
    readable_after_peer_writes,
    writable_after_connect,
    readable_after_peer_shutdown_write,
    readable_after_peer_close,
    level_repeats_until_drained,
    oneshot_disarms_until_reregister,
    deregister_stops_events,
    reregister_changes_interest,
    errors_are_shared,
    timeouts,
    waker_from_another_thread,
    wakes_coalesce,
    oob_data_is_priority,
    small_events_starve_nobody,
    masked_out_events_are_not_reported,
    boxed_poller_is_send,
    sparse_fd_numbers,
);

/// Edge mode (epoll only): one event per change, not per wait.
#[test]
fn epoll_edge_reports_once_per_change() {
    let mut p = build(Backend::Epoll);
    let mut ev = Events::with_capacity(4);
    let (ours, peer) = unix_pair();
    p.register(ours.as_fd(), T, Interest::READABLE.edge())
        .unwrap();
    peer.send(b"x").unwrap();
    assert_eq!(p.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 1);
    expect_none(&mut *p, &mut ev);
    peer.send(b"y").unwrap();
    assert_eq!(p.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 1);
    expect_none(&mut *p, &mut ev);
}
