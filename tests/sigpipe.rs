//! SIGPIPE never kills: in a child process that sets SIGPIPE's disposition
//! to the default itself (Rust's start-up code sets it to ignored) and
//! checks it, every send path to a closed peer returns EPIPE or ECONNRESET
//! and the child lives. A control child shows that the same setup does die
//! of SIGPIPE from a plain write(2), so the test can fail.
//!
//! A binary of its own: the single test re-executes itself in a child
//! mode (signal dispositions are process-wide).
#![allow(unsafe_code)] // sigaction

mod support;

use std::io::{self, IoSlice, Write};
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, SockAddr, Type};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use support::*;

const NAME: &str = "sending_to_a_closed_peer_never_raises_sigpipe";
const MODE_ENV: &str = "BARESOCK_TEST_SIGPIPE_MODE";

/// Sets SIGPIPE to SIG_DFL, unblocks it in this thread, and checks both
/// through a second sigaction query and the thread's signal mask.
fn default_sigpipe() {
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: installing SIG_DFL runs no handler code; this child process
    // owns its dispositions.
    unsafe { sigaction(Signal::SIGPIPE, &dfl) }.unwrap();
    // SAFETY: as above; the returned old action is the one just set.
    let now = unsafe { sigaction(Signal::SIGPIPE, &dfl) }.unwrap();
    assert!(
        matches!(now.handler(), SigHandler::SigDfl),
        "SIGPIPE is not SIG_DFL"
    );
    let mut pipe = SigSet::empty();
    pipe.add(Signal::SIGPIPE);
    pipe.thread_unblock().unwrap();
    assert!(!SigSet::thread_get_mask().unwrap().contains(Signal::SIGPIPE));
}

/// A connected stream pair of each kind whose second end is closed.
fn closed_peer_pairs() -> Vec<(&'static str, OwnedSocket, Option<SockAddr>)> {
    let mut v = Vec::new();
    for (what, d) in [("TCP v4", Domain::IPV4), ("TCP v6", Domain::IPV6)] {
        let (c, s) = tcp_pair(d);
        let peer = c.peer_addr().unwrap();
        drop(s);
        v.push((what, c, Some(peer)));
    }
    let name = SockAddr::unix_abstract(&abstract_name("sigpipe")).unwrap();
    let l = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    l.bind(&name).unwrap();
    l.listen(1).unwrap();
    let c = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    c.connect(&name).unwrap();
    drop(l.accept().unwrap());
    // Linux refuses an address on a connected Unix stream (EISCONN), so
    // the send_to paths are not tried there.
    v.push(("Unix stream", c, None));
    for (what, t) in [
        ("socketpair stream", Type::STREAM),
        ("socketpair seqpacket", Type::SEQPACKET),
    ] {
        let (a, b) = OwnedSocket::pair(Domain::UNIX, t, Protocol::DEFAULT).unwrap();
        drop(b);
        v.push((what, a, None));
    }
    v
}

type SendPath = fn(&mut OwnedSocket, Option<&SockAddr>) -> Option<io::Result<usize>>;

/// Every send path; `None` where the path needs an address the socket
/// kind refuses.
fn send_paths() -> Vec<(&'static str, SendPath)> {
    vec![
        ("send", |s, _| Some(s.send(b"x"))),
        ("send_with_flags", |s, _| {
            Some(s.send_with_flags(b"x", MsgFlags::NONE))
        }),
        ("send_to", |s, a| a.map(|a| s.send_to(b"x", a))),
        ("send_to_with_flags", |s, a| {
            a.map(|a| s.send_to_with_flags(b"x", a, MsgFlags::NONE))
        }),
        ("send_vectored", |s, _| {
            Some(s.send_vectored(&[IoSlice::new(b"x"), IoSlice::new(b"y")]))
        }),
        ("send_vectored_with_flags", |s, _| {
            Some(s.send_vectored_with_flags(&[IoSlice::new(b"x")], MsgFlags::NONE))
        }),
        ("send_to_vectored", |s, a| {
            a.map(|a| s.send_to_vectored(&[IoSlice::new(b"x")], a))
        }),
        ("Write::write", |s, _| Some(Write::write(s, b"x"))),
        ("Write::write_all", |s, _| {
            Some(Write::write_all(s, b"xy").map(|()| 2))
        }),
        ("Write::write_vectored", |s, _| {
            Some(Write::write_vectored(s, &[IoSlice::new(b"x")]))
        }),
        ("<&OwnedSocket as Write>::write", |s, _| {
            let mut r: &OwnedSocket = s;
            Some(r.write(b"x"))
        }),
        ("<&OwnedSocket as Write>::write_all", |s, _| {
            let mut r: &OwnedSocket = s;
            Some(r.write_all(b"x").map(|()| 1))
        }),
        ("<&OwnedSocket as Write>::write_vectored", |s, _| {
            let mut r: &OwnedSocket = s;
            Some(r.write_vectored(&[IoSlice::new(b"x")]))
        }),
    ]
}

fn child_sends() {
    default_sigpipe();
    let mut tried = 0;
    for (path, f) in send_paths() {
        for (kind, mut s, peer) in closed_peer_pairs() {
            // The first sends after a close may still succeed (TCP: the
            // peer answers them with RST); loop, bounded, until the kernel
            // reports the closed peer.
            let mut outcome = None;
            for _ in 0..1_000 {
                match f(&mut s, peer.as_ref()) {
                    None => break,
                    Some(Ok(_)) => std::thread::sleep(Duration::from_millis(1)),
                    Some(Err(e)) => {
                        outcome = Some(e);
                        break;
                    }
                }
            }
            let Some(e) = outcome else {
                assert!(
                    peer.is_none() && path.contains("send_to"),
                    "{path} on {kind}: never failed"
                );
                continue;
            };
            tried += 1;
            let errno = e.raw_os_error();
            assert!(
                errno == Some(libc::EPIPE) || errno == Some(libc::ECONNRESET),
                "{path} on {kind}: {e}"
            );
        }
    }
    // 13 paths on 5 kinds, less the 3 address paths on the 3 Unix kinds.
    assert_eq!(tried, 13 * 5 - 3 * 3);
}

/// The control: the same setup, and a write(2) without MSG_NOSIGNAL. This
/// process must die of SIGPIPE before it returns.
fn child_control() {
    default_sigpipe();
    let (a, b) = OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    drop(b);
    let r = nix::unistd::write(&a, b"x");
    panic!("write(2) to a closed peer returned {r:?} instead of raising SIGPIPE");
}

#[test]
fn sending_to_a_closed_peer_never_raises_sigpipe() {
    if is_child(NAME) {
        match std::env::var(MODE_ENV).as_deref() {
            Ok("control") => child_control(),
            Ok("sends") => child_sends(),
            other => panic!("unknown child mode {other:?}"),
        }
        return;
    }
    let mut control = child_command(NAME);
    control.env(MODE_ENV, "control");
    let out = run_bounded(control);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "the control child was not killed by SIGPIPE: {:?}\n{}\n{}",
        out.status,
        out.stdout,
        out.stderr
    );

    let mut sends = child_command(NAME);
    sends.env(MODE_ENV, "sends");
    let out = run_bounded(sends);
    assert_eq!(out.status.signal(), None, "killed by a signal: {out:?}");
    assert_child_passed(&out);
}
