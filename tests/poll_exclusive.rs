//! Exclusive wake-ups (`Interest::exclusive`, `EPOLLEXCLUSIVE`): one
//! connection to a listener shared by several epoll instances, each with
//! a thread blocked in its own wait, wakes one of them, not all (and all
//! of them without the option), in level and edge mode; an instance that
//! nobody waits on is passed over but still gets the event ("one or
//! more"); the refusals (priority, oneshot, reregister, other backends),
//! each with its errno or kind, before any syscall (with `stats`), and
//! the kernel's own answers (through nix) to the same requests.
//!
//! No timed assertions: a thread counts as blocked when the kernel says
//! it sleeps in epoll (`/proc/self/task/TID/wchan`), and the wake-ups are
//! counted, not timed.

mod common;

use baresock::OwnedSocket;
use baresock::poll::{Backend, Events, Interest, Token, Waker};
use common::*;
use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

const LISTENER: Token = Token(1);
const STOP: Token = Token(2);

/// How long a test thread waits in one `wait`: long, so no thread is
/// between two waits when the connection arrives (a bound, not a
/// measurement).
const LONG_WAIT: Duration = Duration::from_secs(10);

/// Whether thread `tid` of this process sleeps in epoll: its wait channel
/// names an epoll function (`do_epoll_wait`, `ep_poll`).
fn blocked_in_epoll(tid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/wchan"))
        .is_ok_and(|w| w.contains("epoll"))
}

/// Waits (bounded) until every thread of `tids` sleeps in epoll.
#[track_caller]
fn until_all_blocked(tids: &[i32]) {
    for _ in 0..1000 {
        if tids.iter().all(|&t| blocked_in_epoll(t)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let wchans: Vec<String> = tids
        .iter()
        .map(|t| std::fs::read_to_string(format!("/proc/self/task/{t}/wchan")).unwrap_or_default())
        .collect();
    panic!("threads {tids:?} not all blocked in epoll: wchan {wchans:?}");
}

/// A waiting thread: its own epoll instance, the shared listener
/// registered with `interest`, and a Waker that ends its wait. Returns
/// whether a wait of its reported the listener.
fn waiter(
    listener: Arc<OwnedSocket>,
    interest: Interest,
    ready: mpsc::Sender<(i32, Waker)>,
    woken: mpsc::Sender<()>,
) -> bool {
    let mut p = Backend::Epoll.build().unwrap();
    p.register(listener.as_fd(), LISTENER, interest).unwrap();
    let waker = Waker::new(&mut *p, STOP).unwrap();
    ready.send((nix::unistd::gettid().as_raw(), waker)).unwrap();
    let mut ev = Events::with_capacity(4);
    let mut saw = false;
    for _ in 0..TRIES {
        p.wait(&mut ev, Some(LONG_WAIT)).unwrap();
        if ev.iter().any(|e| e.token() == LISTENER) {
            saw = true;
            let _ = woken.send(());
        }
        if saw || ev.iter().any(|e| e.token() == STOP) {
            break;
        }
    }
    p.deregister(listener.as_fd()).unwrap();
    saw
}

/// One instance per entry of `interests` waits on one listener registered
/// with that interest, in that order; one client connects. Returns how
/// many instances' waits reported it.
///
/// Every thread is blocked in its wait before the connect. Once one has
/// reported the connection, every instance the kernel's wake-up reached
/// has it on its ready list (the wake-up is one walk of the listener's
/// wait queue, done before any thread runs), and nobody accepts it, so
/// it stays ready: the Wakers then end every wait, and each reports the
/// listener if and only if the wake-up reached its instance. No window
/// is timed.
fn instances_reached(interests: &[Interest]) -> usize {
    let listener = Arc::new(tcp_listener());
    let addr = listener.local_addr().unwrap();
    let (ready_tx, ready_rx) = mpsc::channel();
    let (woken_tx, woken_rx) = mpsc::channel();
    let mut handles = Vec::new();
    let mut tids = Vec::new();
    let mut wakers = Vec::new();
    // One at a time, so the instances register in this order.
    for &interest in interests {
        let (l, r, w) = (Arc::clone(&listener), ready_tx.clone(), woken_tx.clone());
        handles.push(std::thread::spawn(move || waiter(l, interest, r, w)));
        let (tid, waker) = ready_rx.recv_timeout(LONG_WAIT).unwrap();
        tids.push(tid);
        wakers.push(waker);
    }
    until_all_blocked(&tids);
    let client = std::net::TcpStream::connect(addr.as_socket().unwrap()).unwrap();
    woken_rx
        .recv_timeout(LONG_WAIT)
        .expect("no instance was woken by the connection");
    for w in &wakers {
        w.wake().unwrap();
    }
    let reached = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|&saw| saw)
        .count();
    // The connection is still there for whoever accepts it.
    let (conn, _) = listener.accept().unwrap();
    drop((conn, client));
    reached
}

#[test]
fn exclusive_wakes_one_of_several_waiting_instances() {
    const THREADS: usize = 4;
    for mode in ["level", "edge"] {
        let base = match mode {
            "level" => Interest::READABLE,
            _ => Interest::READABLE.edge(),
        };
        for round in 0..3 {
            // The herd: every instance gets the connection.
            assert_eq!(
                instances_reached(&[base; THREADS]),
                THREADS,
                "{mode}, plain, round {round}"
            );
            assert_eq!(
                instances_reached(&[base.exclusive(); THREADS]),
                1,
                "{mode}, exclusive, round {round}"
            );
        }
    }
}

/// Instances that registered without the option are woken as before,
/// whatever the others asked for: here one plain instance among exclusive
/// ones (registered first, and last) makes two reached, not one.
#[test]
fn plain_registrations_beside_exclusive_ones_are_all_woken() {
    let (p, x) = (Interest::READABLE, Interest::READABLE.exclusive());
    assert_eq!(instances_reached(&[p, x, x, x]), 2);
    assert_eq!(instances_reached(&[x, x, x, p]), 2);
    assert_eq!(instances_reached(&[p, x, p, x]), 3);
}

/// "One or more": the kernel walks the listener's wait queue in the order
/// the instances registered and stops at the first exclusive one with a
/// thread waiting; an instance it passes on the way, with nobody waiting
/// on it, still gets the event on its ready list.
#[test]
fn an_instance_with_no_waiter_is_passed_over_but_gets_the_event() {
    for idle_first in [true, false] {
        let listener = Arc::new(tcp_listener());
        let addr = listener.local_addr().unwrap();
        let mut idle = Backend::Epoll.build().unwrap();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (woken_tx, woken_rx) = mpsc::channel();
        let interest = Interest::READABLE.exclusive();
        if idle_first {
            idle.register(listener.as_fd(), LISTENER, interest).unwrap();
        }
        let l = Arc::clone(&listener);
        let h = std::thread::spawn(move || waiter(l, interest, ready_tx, woken_tx));
        let (tid, waker) = ready_rx.recv_timeout(LONG_WAIT).unwrap();
        if !idle_first {
            idle.register(listener.as_fd(), LISTENER, interest).unwrap();
        }
        until_all_blocked(&[tid]);
        let client = std::net::TcpStream::connect(addr.as_socket().unwrap()).unwrap();
        woken_rx.recv_timeout(LONG_WAIT).unwrap();
        waker.wake().unwrap();
        assert!(h.join().unwrap(), "the waiting instance was woken");
        let mut ev = Events::with_capacity(4);
        let n = idle.wait(&mut ev, Some(Duration::ZERO)).unwrap();
        // Registered before the waiting one: passed over on the walk, and
        // queued. After it: the walk stopped before reaching it.
        assert_eq!(n, usize::from(idle_first), "idle first: {idle_first}");
        idle.deregister(listener.as_fd()).unwrap();
        drop(client);
    }
}

/// Edge and exclusive together: one report per new connection, none for a
/// connection that is still waiting.
#[test]
fn edge_and_exclusive_report_once_per_connection() {
    let listener = tcp_listener();
    let addr = listener.local_addr().unwrap();
    let mut p = Backend::Epoll.build().unwrap();
    let mut ev = Events::with_capacity(4);
    let interest = Interest::READABLE.edge().exclusive();
    p.register(listener.as_fd(), LISTENER, interest).unwrap();
    expect_none(&mut *p, &mut ev);
    let mut clients = Vec::new();
    for i in 0..3 {
        clients.push(std::net::TcpStream::connect(addr.as_socket().unwrap()).unwrap());
        let e = expect_event(&mut *p, &mut ev, LISTENER);
        assert!(e.is_readable() && !e.is_writable(), "{i}: {e:?}");
        assert!(!e.is_read_hangup() && !e.is_hangup() && !e.is_error());
        // Not accepted: still ready, but no new edge.
        expect_none(&mut *p, &mut ev);
    }
    for _ in 0..3 {
        listener.accept().unwrap();
    }
    p.deregister(listener.as_fd()).unwrap();
}

/// Writable interest works too (plain `EPOLLOUT`), and a level exclusive
/// registration is reported by every wait while ready.
#[test]
fn exclusive_writable_and_level() {
    let mut p = Backend::Epoll.build().unwrap();
    let mut ev = Events::with_capacity(4);
    let (ours, peer) = unix_pair();
    p.register(
        ours.as_fd(),
        Token(5),
        (Interest::READABLE | Interest::WRITABLE).exclusive(),
    )
    .unwrap();
    for _ in 0..2 {
        let e = expect_event(&mut *p, &mut ev, Token(5));
        assert!(e.is_writable() && !e.is_readable(), "{e:?}");
    }
    peer.send(b"x").unwrap();
    let e = expect_event(&mut *p, &mut ev, Token(5));
    assert!(e.is_writable() && e.is_readable(), "{e:?}");
    p.deregister(ours.as_fd()).unwrap();
}

/// `EINVAL`, as the kernel gives it, and so `InvalidInput`.
fn is_einval(r: &io::Result<()>) -> bool {
    matches!(r, Err(e) if e.raw_os_error() == Some(libc::EINVAL)
        && e.kind() == io::ErrorKind::InvalidInput)
}

/// Priority and oneshot beside exclusive: `EINVAL` (`InvalidInput`), and
/// nothing registered.
#[test]
fn epoll_refuses_priority_and_oneshot_with_exclusive() {
    let mut p = Backend::Epoll.build().unwrap();
    let mut ev = Events::with_capacity(4);
    let (ours, peer) = unix_pair();
    for bad in [
        Interest::PRIORITY.exclusive(),
        (Interest::READABLE | Interest::PRIORITY).exclusive(),
        Interest::READABLE.oneshot().exclusive(),
        Interest::WRITABLE.oneshot().edge().exclusive(),
    ] {
        let r = p.register(ours.as_fd(), Token(1), bad);
        assert!(is_einval(&r), "{bad:?}: {r:?}");
        // Nothing was registered: a plain registration goes through, and
        // deregistering it leaves nothing behind.
        p.register(ours.as_fd(), Token(1), Interest::READABLE)
            .unwrap();
        p.deregister(ours.as_fd()).unwrap();
        assert_eq!(
            p.deregister(ours.as_fd()).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }
    peer.send(b"x").unwrap();
    expect_none(&mut *p, &mut ev);
}

/// `reregister` of an exclusive registration, and a reregister that asks
/// for exclusive: `EINVAL` (`InvalidInput`) before the syscall, the
/// registration left as it was (token, interest, armed). Deregister and
/// register again is the way.
#[test]
fn epoll_reregister_of_exclusive_is_refused_and_changes_nothing() {
    let mut p = Backend::Epoll.build().unwrap();
    let mut ev = Events::with_capacity(4);
    let (ours, peer) = unix_pair();
    let exclusive = Interest::READABLE.exclusive();
    p.register(ours.as_fd(), Token(1), exclusive).unwrap();
    for new in [
        exclusive,
        Interest::READABLE,
        Interest::WRITABLE,
        Interest::READABLE.edge().exclusive(),
    ] {
        let r = p.reregister(ours.as_fd(), Token(2), new);
        assert!(is_einval(&r), "{new:?}: {r:?}");
    }
    // Still registered, as it was: token 1, readable only.
    peer.send(b"x").unwrap();
    let e = expect_event(&mut *p, &mut ev, Token(1));
    assert!(e.is_readable() && !e.is_writable(), "{e:?}");
    assert_eq!(drain(&ours), 1);
    // The way to change it: deregister, register.
    p.deregister(ours.as_fd()).unwrap();
    p.register(ours.as_fd(), Token(2), Interest::WRITABLE.exclusive())
        .unwrap();
    let e = expect_event(&mut *p, &mut ev, Token(2));
    assert!(e.is_writable() && !e.is_readable(), "{e:?}");
    p.deregister(ours.as_fd()).unwrap();

    // A plain registration cannot become exclusive by reregister either.
    p.register(ours.as_fd(), Token(3), Interest::READABLE)
        .unwrap();
    assert!(is_einval(&p.reregister(ours.as_fd(), Token(4), exclusive)));
    peer.send(b"y").unwrap();
    let e = expect_event(&mut *p, &mut ev, Token(3));
    assert!(e.is_readable(), "{e:?}");
    // Unknown fd: NotFound, as for every reregister.
    let (other, _o) = unix_pair();
    assert_eq!(
        p.reregister(other.as_fd(), Token(1), exclusive)
            .unwrap_err()
            .kind(),
        io::ErrorKind::NotFound
    );
    p.deregister(ours.as_fd()).unwrap();
}

/// select, the growable select and poll: `Unsupported` on register and
/// reregister, the registration left as it was; `supports_exclusive`
/// says so beforehand, and says yes only for the backend that takes it.
#[test]
fn backends_without_exclusive_refuse_it() {
    for b in Backend::ALL {
        let mut p = build(b);
        let mut ev = Events::with_capacity(4);
        let (ours, peer) = unix_pair();
        let r = p.register(ours.as_fd(), Token(1), Interest::READABLE.exclusive());
        if b.supports_exclusive() {
            r.unwrap();
            p.deregister(ours.as_fd()).unwrap();
            continue;
        }
        let e = r.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{b}: {e}");
        assert_eq!(e.raw_os_error(), None, "{b}");
        // Not registered.
        assert_eq!(
            p.deregister(ours.as_fd()).unwrap_err().kind(),
            io::ErrorKind::NotFound,
            "{b}"
        );
        p.register(ours.as_fd(), Token(1), Interest::READABLE)
            .unwrap();
        let e = p
            .reregister(ours.as_fd(), Token(2), Interest::WRITABLE.exclusive())
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{b}: {e}");
        peer.send(b"x").unwrap();
        let got = expect_event(&mut *p, &mut ev, Token(1));
        assert!(got.is_readable() && !got.is_writable(), "{b}: {got:?}");
        p.deregister(ours.as_fd()).unwrap();
    }
    assert_eq!(
        Backend::ALL.map(Backend::supports_exclusive),
        [false, false, false, true]
    );
}

/// The kernel's own answers, through nix (an oracle independent of our
/// code): what Epoll refuses before the syscall, the kernel refuses with
/// `EINVAL` too, and the mask an exclusive interest asks for is one the
/// kernel takes.
#[test]
fn the_kernel_refuses_what_epoll_refuses() {
    use nix::errno::Errno;
    use nix::sys::epoll::{Epoll as NixEpoll, EpollCreateFlags, EpollEvent, EpollFlags};
    let ep = NixEpoll::new(EpollCreateFlags::EPOLL_CLOEXEC).unwrap();
    let (ours, _peer) = unix_pair();
    let ev = |bits: u32| EpollEvent::new(EpollFlags::from_bits_retain(bits as i32), 1);
    let x = libc::EPOLLEXCLUSIVE as u32;
    for refused in [
        libc::EPOLLPRI,
        libc::EPOLLONESHOT,
        libc::EPOLLRDHUP,
        libc::EPOLLRDNORM,
        libc::EPOLLRDBAND,
        libc::EPOLLWRNORM,
        libc::EPOLLWRBAND,
    ] {
        let bits = libc::EPOLLIN as u32 | x | refused as u32;
        assert_eq!(ep.add(&ours, ev(bits)), Err(Errno::EINVAL), "{bits:#x}");
    }
    for interest in [
        Interest::READABLE.exclusive(),
        Interest::WRITABLE.exclusive(),
        (Interest::READABLE | Interest::WRITABLE).edge().exclusive(),
    ] {
        let bits = interest.epoll_events();
        ep.add(&ours, ev(bits)).unwrap();
        // No EPOLL_CTL_MOD of an exclusive registration succeeds, whatever
        // it asks for.
        for new in [bits, libc::EPOLLIN as u32, libc::EPOLLOUT as u32] {
            assert_eq!(
                ep.modify(&ours, &mut ev(new)),
                Err(Errno::EINVAL),
                "{interest:?} to {new:#x}"
            );
        }
        ep.delete(&ours).unwrap();
    }
    // Nor a MOD that asks for EPOLLEXCLUSIVE of a plain registration.
    ep.add(&ours, ev(Interest::READABLE.epoll_events()))
        .unwrap();
    let mut to_exclusive = ev(Interest::READABLE.exclusive().epoll_events());
    assert_eq!(ep.modify(&ours, &mut to_exclusive), Err(Errno::EINVAL));
    ep.delete(&ours).unwrap();
}

/// The refusals make no syscall: the `stats` counters of this thread do
/// not move. An exclusive registration that goes through costs its one
/// `epoll_ctl`, as any.
#[cfg(feature = "stats")]
#[test]
fn refusals_make_no_syscall() {
    use baresock::stats;
    let moved = |f: &mut dyn FnMut()| {
        let before = stats::snapshot();
        f();
        let after = stats::snapshot();
        baresock::Syscall::ALL
            .into_iter()
            .filter(|&c| after[c as usize] != before[c as usize])
            .map(|c| (c, after[c as usize] - before[c as usize]))
            .collect::<Vec<_>>()
    };
    let (ours, _peer) = unix_pair();
    for b in Backend::ALL {
        let mut p = build(b);
        let refused: &[Interest] = if b.supports_exclusive() {
            &[
                Interest::PRIORITY.exclusive(),
                Interest::READABLE.oneshot().exclusive(),
            ]
        } else {
            &[
                Interest::READABLE.exclusive(),
                Interest::WRITABLE.edge().exclusive(),
            ]
        };
        for &i in refused {
            let c = moved(&mut || assert!(p.register(ours.as_fd(), Token(1), i).is_err()));
            assert_eq!(c, vec![], "{b}: register {i:?}");
        }
        if b.supports_exclusive() {
            let c = moved(&mut || {
                p.register(ours.as_fd(), Token(1), Interest::READABLE.exclusive())
                    .unwrap()
            });
            assert_eq!(c, vec![(baresock::Syscall::EpollCtl, 1)], "{b}");
            let c = moved(&mut || {
                assert!(is_einval(&p.reregister(
                    ours.as_fd(),
                    Token(2),
                    Interest::READABLE
                )))
            });
            assert_eq!(c, vec![], "{b}: reregister");
        } else {
            p.register(ours.as_fd(), Token(1), Interest::READABLE)
                .unwrap();
            let c = moved(&mut || {
                assert!(
                    p.reregister(ours.as_fd(), Token(2), Interest::READABLE.exclusive())
                        .is_err()
                )
            });
            assert_eq!(c, vec![], "{b}: reregister");
        }
        p.deregister(ours.as_fd()).unwrap();
    }
}
