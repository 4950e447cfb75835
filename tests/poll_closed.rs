//! Closed-while-registered, a caller bug, has a documented outcome per
//! backend (see the poll module docs); this checks each, with and without a
//! duplicate of the fd kept open, and what happens once the number is
//! reused. One test in a binary of its own: it depends on which fd numbers
//! the kernel hands out, so no other test may open fds meanwhile.

mod common;

use baresock::poll::{Backend, Events, Interest, Token};
use common::*;
use std::collections::BTreeSet;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

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
        // The open file lives on in the duplicate: still reported, under
        // the old token.
        let e = expect_event(&mut *p, &mut ev, OLD);
        assert!(e.is_readable() && !e.is_error());
    } else {
        // Forgotten with the last fd of the open file.
        expect_none(&mut *p, &mut ev);
    }

    // The number is reused: epoll accepts the new socket as new.
    let (reused, reused_peer) = unix_pair();
    assert_eq!(reused.as_raw_fd(), number);
    p.register(reused.as_fd(), NEW, Interest::READABLE).unwrap();
    reused_peer.send(b"x").unwrap();
    let want: BTreeSet<_> = if keep_dup {
        BTreeSet::from([(1, true, false, false), (2, true, false, false)])
    } else {
        BTreeSet::from([(2, true, false, false)])
    };
    p.wait(&mut ev, Some(Duration::ZERO)).unwrap();
    assert_eq!(shared_set(&ev), want);
    p.deregister(reused.as_fd()).unwrap();
    if let Some(dup) = dup {
        // Still delivered through the duplicate, and no longer removable
        // through the number: only closing the duplicate ends it.
        p.wait(&mut ev, Some(Duration::ZERO)).unwrap();
        assert_eq!(shared_set(&ev), BTreeSet::from([(1, true, false, false)]));
        let e = p.deregister(reused.as_fd()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        drop(dup);
    }
    expect_none(&mut *p, &mut ev);
}

#[test]
fn closed_while_registered_outcomes() {
    for keep_dup in [false, true] {
        for b in [Backend::Select, Backend::SelectGrowable, Backend::Poll] {
            poll_or_select(b, keep_dup);
        }
        epoll(keep_dup);
    }
}
