//! Closed-while-registered, a caller bug, has a documented outcome per
//! backend (see the poll module docs); this checks each, with and without a
//! duplicate of the fd kept open, and what happens once the number is
//! reused, and that closed fds starve no live one. A binary of its own: the
//! tests depend on which fd numbers the kernel hands out, so no other test
//! may open fds meanwhile (each holds `FD_NUMBERS` while it runs).

mod common;
mod support;

use baresock::poll::{Backend, Events, Interest, Token};
use common::*;
use std::collections::BTreeSet;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Mutex;
use std::time::Duration;

/// Held by each test here: they must not open fds concurrently.
static FD_NUMBERS: Mutex<()> = Mutex::new(());

const OLD: Token = Token(1);
const NEW: Token = Token(2);
const OTHER: Token = Token(3);

fn poll_or_select(b: Backend, keep_dup: bool) {
    let mut p = build(b);
    let mut ev = Events::with_capacity(8);
    let (ours, peer) = unix_pair();
    let (other, other_peer) = unix_pair();
    p.register(ours.as_fd(), OLD, Interest::READABLE).unwrap();
    p.register(other.as_fd(), OTHER, Interest::READABLE)
        .unwrap();
    other_peer.send(b"ready").unwrap();
    let dup = keep_dup.then(|| ours.try_clone().unwrap());
    let number = ours.as_raw_fd();
    drop(ours);

    // The wait does not fail: an error event for the closed number, and
    // the other fd's readiness in the same wait.
    let n = p.wait(&mut ev, Some(Duration::ZERO)).unwrap();
    assert_eq!(n, 2, "{b}: {ev:?}");
    let closed = ev.iter().find(|e| e.token() == OLD).expect("error event");
    assert!(closed.is_error() && closed.is_readable(), "{b}: {closed:?}");
    assert!(!closed.is_hangup() && !closed.is_read_hangup());
    let o = ev.iter().find(|e| e.token() == OTHER).unwrap();
    assert!(o.is_readable() && !o.is_error(), "{b}");

    // The number is reused by a new socket: registering it is EEXIST, and
    // the new socket is watched under the old token.
    let (reused, reused_peer) = unix_pair();
    assert_eq!(
        reused.as_raw_fd(),
        number,
        "the kernel reuses the lowest number"
    );
    let e = p
        .register(reused.as_fd(), NEW, Interest::READABLE)
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{b}");
    drain(&other);
    expect_none(&mut *p, &mut ev);
    reused_peer.send(b"x").unwrap();
    p.wait(&mut ev, Some(Duration::ZERO)).unwrap();
    assert_eq!(
        shared_set(&ev),
        BTreeSet::from([(1, true, false, false)]),
        "{b}"
    );
    assert!(!ev.iter().next().unwrap().is_error());
    p.deregister(reused.as_fd()).unwrap();
    // The old socket's peer writing reaches nobody: the number moved on.
    let _ = peer.send(b"lost");
    expect_none(&mut *p, &mut ev);
    drop(dup);
}

fn epoll(keep_dup: bool) {
    let b = Backend::Epoll;
    let mut p = build(b);
    let mut ev = Events::with_capacity(8);
    let (ours, peer) = unix_pair();
    p.register(ours.as_fd(), OLD, Interest::READABLE).unwrap();
    let dup = keep_dup.then(|| ours.try_clone().unwrap());
    let number = ours.as_raw_fd();
    drop(ours);
    // Without a duplicate the socket is gone, and the send fails (EPIPE).
    let sent = peer.send(b"after close");
    assert_eq!(sent.is_ok(), keep_dup, "{sent:?}");
    if keep_dup {
        // epoll(7) Q6: the open file lives on in the duplicate, and so
        // does the registration: still reported, under the old token.
        let e = expect_event(&mut *p, &mut ev, OLD);
        assert!(e.is_readable() && !e.is_error());
    } else {
        // Forgotten with the last fd of the open file.
        expect_none(&mut *p, &mut ev);
    }
    assert!(format!("{p:?}").contains("registered: 1"), "{p:?}");

    // The number is reused: epoll accepts the new socket as new, and
    // frees the closed fd's slot. The duplicate (still readable) keeps the
    // old registration alive in the kernel, but its events are no longer
    // reported, under any token.
    let (reused, reused_peer) = unix_pair();
    assert_eq!(reused.as_raw_fd(), number);
    p.register(reused.as_fd(), NEW, Interest::READABLE).unwrap();
    assert!(format!("{p:?}").contains("registered: 1"), "{p:?}");
    expect_none(&mut *p, &mut ev);
    reused_peer.send(b"x").unwrap();
    p.wait(&mut ev, Some(Duration::ZERO)).unwrap();
    assert_eq!(shared_set(&ev), BTreeSet::from([(2, true, false, false)]));
    drain(&reused);
    // A third registration takes the freed slot: the duplicate's events
    // (for the slot's old generation) are not reported under its token.
    let (third, third_peer) = unix_pair();
    p.register(third.as_fd(), OTHER, Interest::READABLE)
        .unwrap();
    expect_none(&mut *p, &mut ev);
    third_peer.send(b"y").unwrap();
    p.wait(&mut ev, Some(Duration::ZERO)).unwrap();
    assert_eq!(shared_set(&ev), BTreeSet::from([(3, true, false, false)]));
    p.deregister(third.as_fd()).unwrap();
    p.deregister(reused.as_fd()).unwrap();
    drop(dup);
    expect_none(&mut *p, &mut ev);

    // A reused number that is not registered again: reregister and
    // deregister answer NotFound (the kernel's ENOENT), and free the slot.
    let (ours, _peer) = unix_pair();
    p.register(ours.as_fd(), OLD, Interest::READABLE).unwrap();
    drop(ours);
    let (reused, _reused_peer) = unix_pair();
    let e = p
        .reregister(reused.as_fd(), NEW, Interest::WRITABLE)
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    assert!(format!("{p:?}").contains("registered: 0"), "{p:?}");
    let e = p.deregister(reused.as_fd()).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    expect_none(&mut *p, &mut ev);
}

#[test]
fn closed_while_registered_outcomes() {
    let _one_at_a_time = FD_NUMBERS.lock().unwrap_or_else(|e| e.into_inner());
    for keep_dup in [false, true] {
        for b in [Backend::Select, Backend::SelectGrowable, Backend::Poll] {
            poll_or_select(b, keep_dup);
        }
        epoll(keep_dup);
    }
}

/// More fds closed while registered than `Events` holds, and live fds
/// ready beside them: in level mode every ready fd (the closed ones are
/// ready too, with their error event, on poll and select) is reported
/// within ceil(ready / capacity) consecutive waits, on every backend. Before
/// the fix, select reported the closed fds first and filled `Events` with
/// them on every wait, so a live fd was never reported.
#[test]
fn closed_fds_starve_no_live_fd() {
    let _one_at_a_time = FD_NUMBERS.lock().unwrap_or_else(|e| e.into_inner());
    const CAPACITY: usize = 2;
    const WAITS: usize = 8;
    for closed in [CAPACITY, CAPACITY + 1, 3 * CAPACITY] {
        for live in [1, 3] {
            for b in Backend::ALL {
                let mut p = build(b);
                let mut ev = Events::with_capacity(CAPACITY);
                // Dead first, so they have the lowest numbers and come
                // first in every table.
                let dead: Vec<_> = (0..closed).map(|_| unix_pair()).collect();
                let alive: Vec<_> = (0..live).map(|_| unix_pair()).collect();
                for (k, (s, _)) in dead.iter().enumerate() {
                    p.register(s.as_fd(), Token(100 + k), Interest::READABLE)
                        .unwrap();
                }
                for (k, (s, peer)) in alive.iter().enumerate() {
                    p.register(s.as_fd(), Token(k), Interest::READABLE).unwrap();
                    peer.send(b"ready").unwrap();
                }
                // Closed without deregistering (the peers stay open).
                let dead_peers: Vec<_> = dead.into_iter().map(|(_, peer)| peer).collect();
                // epoll forgot the closed fds with their last descriptor.
                let reported_closed = if b == Backend::Epoll { 0 } else { closed };
                let ready = live + reported_closed;
                let window = ready.div_ceil(CAPACITY);
                let mut seen: Vec<BTreeSet<usize>> = Vec::new();
                for _ in 0..WAITS {
                    let n = p.wait(&mut ev, Some(Duration::ZERO)).unwrap();
                    assert_eq!(n, ready.min(CAPACITY), "{b}: {ev:?}");
                    for e in &ev {
                        let is_closed = e.token().0 >= 100;
                        assert_eq!(e.is_error(), is_closed, "{b}: {e:?}");
                        assert!(e.is_readable(), "{b}: {e:?}");
                    }
                    seen.push(ev.iter().map(|e| e.token().0).collect());
                }
                let want: BTreeSet<usize> = (0..live)
                    .chain((0..reported_closed).map(|k| 100 + k))
                    .collect();
                for (w, group) in seen.windows(window).enumerate() {
                    let union: BTreeSet<usize> = group.iter().flatten().copied().collect();
                    assert_eq!(
                        union,
                        want,
                        "{b}, {closed} closed, {live} live: waits {w}..{} (of {WAITS}) \
                         reported {seen:?}",
                        w + window
                    );
                }
                for (s, _) in &alive {
                    p.deregister(s.as_fd()).unwrap();
                }
                drop(dead_peers);
            }
        }
    }
}

/// A closed registered fd whose number is at or above the kernel's fd
/// table size (`fdt->max_fds`): select caps `nfds` there and leaves the
/// bits above as the caller gave them, with no `EBADF`. Before the fix
/// select and growable select took those bits as ready, on every wait,
/// and spent the kernel's count on them, so the live ready fd was never
/// reported. In a child: the fd table is made small by
/// `unshare(CLONE_FILES)`, which copies it at the size of its open fds, as
/// `fork` does (where the tester saw it).
#[test]
#[allow(unsafe_code)] // to own the fd fcntl(F_DUPFD) makes at a chosen number
fn closed_fd_beyond_the_fd_table() {
    const NAME: &str = "closed_fd_beyond_the_fd_table";
    if !support::is_child(NAME) {
        let _one_at_a_time = FD_NUMBERS.lock().unwrap_or_else(|e| e.into_inner());
        support::run_child(NAME);
        return;
    }
    use nix::fcntl::{FcntlArg, fcntl};
    use std::os::fd::{FromRawFd, OwnedFd};
    const CAPACITY: usize = 1;
    const WAITS: usize = 6;
    // High numbers, far above the table a few open fds need (64 bits).
    const HIGH: [i32; 2] = [900, 950];
    for b in Backend::ALL {
        let mut p = build(b);
        let mut ev = Events::with_capacity(CAPACITY);
        let (s, _peer) = unix_pair();
        let (live, live_peer) = unix_pair();
        for (k, &n) in HIGH.iter().enumerate() {
            let raw = fcntl(s.as_fd(), FcntlArg::F_DUPFD_CLOEXEC(n)).unwrap();
            assert_eq!(raw, n, "{n} is free in this child");
            // SAFETY: fcntl(F_DUPFD_CLOEXEC) just returned this new fd,
            // owned by nobody else.
            let high = unsafe { OwnedFd::from_raw_fd(raw) };
            p.register(high.as_fd(), Token(100 + k), Interest::READABLE)
                .unwrap();
            // Closed without deregistering.
            drop(high);
        }
        p.register(live.as_fd(), Token(0), Interest::READABLE)
            .unwrap();
        live_peer.send(b"ready").unwrap();
        // A fresh fd table sized to the fds open now, far below 900.
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_FILES).unwrap();

        // epoll forgot the closed fds with their last descriptor.
        let reported_closed = if b == Backend::Epoll { 0 } else { HIGH.len() };
        let ready = 1 + reported_closed;
        let window = ready.div_ceil(CAPACITY);
        let mut seen: Vec<BTreeSet<usize>> = Vec::new();
        for _ in 0..WAITS {
            let n = p.wait(&mut ev, Some(Duration::ZERO)).unwrap();
            assert_eq!(n, CAPACITY, "{b}: {ev:?}");
            for e in &ev {
                let is_closed = e.token().0 >= 100;
                assert_eq!(e.is_error(), is_closed, "{b}: {e:?}");
                assert!(e.is_readable(), "{b}: {e:?}");
            }
            seen.push(ev.iter().map(|e| e.token().0).collect());
        }
        let want: BTreeSet<usize> = std::iter::once(0)
            .chain((0..reported_closed).map(|k| 100 + k))
            .collect();
        for (w, group) in seen.windows(window).enumerate() {
            let union: BTreeSet<usize> = group.iter().flatten().copied().collect();
            assert_eq!(
                union,
                want,
                "{b}: waits {w}..{} (of {WAITS}) reported {seen:?}",
                w + window
            );
        }
        p.deregister(live.as_fd()).unwrap();
    }
}
