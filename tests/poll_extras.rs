//! The extras table of the poll module's docs (error, hang-up,
//! read-hang-up per backend, socket type and peer action), checked row by
//! row, with its last column: epoll with an exclusive registration, which
//! has no read-hang-up. Keep the two in step: this table is the docs'
//! table as data.

mod common;

use baresock::OwnedSocket;
use baresock::Shutdown;
use baresock::poll::{Backend, Events, Interest, Token};
use common::*;
use std::os::fd::AsFd;
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
enum Sock {
    Tcp,
    UnixStream,
    Udp,
}

#[derive(Clone, Copy, Debug)]
enum Action {
    Close,
    ShutdownWrite,
    /// SO_LINGER {on, 0}, then close: a TCP reset.
    Reset,
}

/// What a backend reports: no event, or an event (always readable) with
/// these extras.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Nothing,
    Event {
        error: bool,
        hangup: bool,
        read_hangup: bool,
    },
}

const NONE: Seen = Seen::Nothing;
/// "–" in the docs: an event with no extras.
const PLAIN: Seen = Seen::Event {
    error: false,
    hangup: false,
    read_hangup: false,
};
const R: Seen = Seen::Event {
    error: false,
    hangup: false,
    read_hangup: true,
};
const HR: Seen = Seen::Event {
    error: false,
    hangup: true,
    read_hangup: true,
};
const EHR: Seen = Seen::Event {
    error: true,
    hangup: true,
    read_hangup: true,
};
const H: Seen = Seen::Event {
    error: false,
    hangup: true,
    read_hangup: false,
};
const EH: Seen = Seen::Event {
    error: true,
    hangup: true,
    read_hangup: false,
};

/// (socket, peer action, [select, poll, epoll, epoll exclusive]) — the
/// docs' table. The growable select is checked against the select column.
const TABLE: &[(Sock, Action, [Seen; 4])] = &[
    (Sock::Tcp, Action::Close, [PLAIN, R, R, PLAIN]),
    (Sock::Tcp, Action::ShutdownWrite, [PLAIN, R, R, PLAIN]),
    (Sock::Tcp, Action::Reset, [PLAIN, EHR, EHR, EH]),
    (Sock::UnixStream, Action::Close, [PLAIN, HR, HR, H]),
    (
        Sock::UnixStream,
        Action::ShutdownWrite,
        [PLAIN, R, R, PLAIN],
    ),
    (Sock::UnixStream, Action::Reset, [PLAIN, HR, HR, H]),
    (Sock::Udp, Action::Close, [NONE, NONE, NONE, NONE]),
    (Sock::Udp, Action::ShutdownWrite, [NONE, NONE, NONE, NONE]),
    (Sock::Udp, Action::Reset, [NONE, NONE, NONE, NONE]),
];

fn pair(s: Sock) -> (OwnedSocket, OwnedSocket) {
    match s {
        Sock::Tcp => tcp_pair(),
        Sock::UnixStream => unix_pair(),
        Sock::Udp => udp_pair(),
    }
}

/// Does `a` to the peer; returns the peer if it must stay open (its write
/// side alone is finished) until the observation is over.
fn act(peer: OwnedSocket, a: Action) -> Option<OwnedSocket> {
    match a {
        Action::Close => None,
        Action::ShutdownWrite => {
            peer.shutdown(Shutdown::Write).unwrap();
            Some(peer)
        }
        Action::Reset => {
            peer.set_linger(Some(Duration::ZERO)).unwrap();
            None
        }
    }
}

fn observe(b: Backend, interest: Interest, s: Sock, a: Action) -> Seen {
    let mut p = build(b);
    let mut ev = Events::with_capacity(4);
    let (ours, peer) = pair(s);
    p.register(ours.as_fd(), Token(1), interest).unwrap();
    let _kept_open = act(peer, a);
    // An event arrives within the bounded tries, or (a few short waits
    // later) there is none.
    let tries = if matches!(s, Sock::Udp) { 3 } else { TRIES };
    for _ in 0..tries {
        p.wait(&mut ev, Some(Duration::from_millis(50))).unwrap();
        if let Some(e) = ev.iter().next() {
            assert!(e.is_readable(), "{b} {s:?} {a:?}: {e:?}");
            return Seen::Event {
                error: e.is_error(),
                hangup: e.is_hangup(),
                read_hangup: e.is_read_hangup(),
            };
        }
    }
    Seen::Nothing
}

#[test]
fn extras_table_holds_on_every_backend() {
    let mut wrong = Vec::new();
    let r = Interest::READABLE;
    for &(s, a, [sel, pol, ep, ep_x]) in TABLE {
        for (b, interest, want) in [
            (Backend::Select, r, sel),
            (Backend::SelectGrowable, r, sel),
            (Backend::Poll, r, pol),
            (Backend::Epoll, r, ep),
            (Backend::Epoll, r.exclusive(), ep_x),
        ] {
            let got = observe(b, interest, s, a);
            if got != want {
                wrong.push(format!(
                    "{s:?} {a:?} on {b} {interest:?}: want {want:?}, got {got:?}"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "table rows that do not hold:\n{}",
        wrong.join("\n")
    );
}

/// The same extras as seen through a UDP error: a datagram to a closed
/// port comes back as ICMP port unreachable, which poll and epoll see as
/// an error (and select as readable); `recv` then returns ECONNREFUSED.
#[test]
fn udp_icmp_error_is_an_error_event() {
    for b in Backend::ALL {
        let mut p = build(b);
        let mut ev = Events::with_capacity(4);
        let (ours, peer) = udp_pair();
        drop(peer);
        p.register(ours.as_fd(), Token(1), Interest::READABLE)
            .unwrap();
        ours.send(b"anyone?").unwrap();
        let e = expect_event(&mut *p, &mut ev, Token(1));
        assert!(e.is_readable(), "{b}");
        let sees_extras = matches!(b, Backend::Poll | Backend::Epoll);
        assert_eq!(e.is_error(), sees_extras, "{b}: {e:?}");
        assert!(!e.is_hangup(), "{b}: {e:?}");
        let err = ours.recv(&mut [0; 8]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED), "{b}");
    }
}
