//! SIGPIPE never kills: every send path, on TCP, a Unix stream and a
//! socketpair, to a peer that has closed, returns `EPIPE` or `ECONNRESET`
//! in a process where SIGPIPE is at its default (terminate).
//!
//! Rust's start-up code sets SIGPIPE to ignored in every Rust process, so
//! the test re-runs itself as a child that puts SIGPIPE back to `SIG_DFL`,
//! unblocks it, and checks both, before it sends anything. The parent then
//! requires the child to exit 0 (a SIGPIPE would have killed it) and to
//! have reported every path on every transport. A control child does the
//! same setup and then one plain `write(2)` (which has no `MSG_NOSIGNAL`)
//! to a closed socketpair, and must die of SIGPIPE: the setup is real, so
//! the main child's survival proves the crate's sends raised none.
//!
//! The first send after a TCP peer's close often succeeds (the peer's
//! kernel answers it with a reset), so each path is tried until it fails,
//! bounded in tries and time.
// Setting a signal disposition through nix is an unsafe call.
#![allow(unsafe_code)]

use baresock::msg::SendMmsgHdr;
use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, SockAddr, Type};
use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, pthread_sigmask, signal};
use std::io::{self, IoSlice, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "BARESOCK_SIGPIPE_ALL_CHILD";
const TEST_NAME: &str = "every_send_path_survives_a_closed_peer";
const TRIES: usize = 2_000;
const PATIENCE: Duration = Duration::from_secs(10);

/// Puts SIGPIPE back to its default action and unblocks it, then checks
/// both took: the caller is now a process that SIGPIPE kills.
fn sigpipe_to_default() {
    // SAFETY: setting a signal to SIG_DFL installs no handler code; the
    // child is a fresh process that owns its dispositions.
    let old = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) }.unwrap();
    assert!(
        matches!(old, SigHandler::SigIgn),
        "Rust's runtime should have ignored SIGPIPE"
    );
    // SAFETY: as above; reading the disposition back by setting it again.
    let now = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) }.unwrap();
    assert!(
        matches!(now, SigHandler::SigDfl),
        "SIGPIPE is not at its default"
    );
    let mut set = SigSet::empty();
    set.add(Signal::SIGPIPE);
    pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None).unwrap();
    let mut mask = SigSet::empty();
    pthread_sigmask(SigmaskHow::SIG_BLOCK, None, Some(&mut mask)).unwrap();
    assert!(!mask.contains(Signal::SIGPIPE), "SIGPIPE is still blocked");
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Tcp,
    UnixStream,
    Socketpair,
}

/// A connected pair (ours, peer) of the transport; a Unix stream's
/// listener path lives in `dir`.
fn connected(t: Transport, dir: &std::path::Path, n: usize) -> (OwnedSocket, OwnedSocket) {
    match t {
        Transport::Tcp => {
            let l = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
            l.bind(&SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)))
                .unwrap();
            l.listen(1).unwrap();
            let ours = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
            ours.connect(&l.local_addr().unwrap()).unwrap();
            let (peer, _) = l.accept().unwrap();
            (ours, peer)
        }
        Transport::UnixStream => {
            let path = dir.join(format!("s{n}"));
            let l = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
            l.bind(&SockAddr::unix(&path).unwrap()).unwrap();
            l.listen(1).unwrap();
            let ours = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
            ours.connect(&SockAddr::unix(&path).unwrap()).unwrap();
            let (peer, _) = l.accept().unwrap();
            std::fs::remove_file(&path).unwrap();
            (ours, peer)
        }
        Transport::Socketpair => {
            OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap()
        }
    }
}

type SendPath = (
    &'static str,
    fn(&OwnedSocket, &SockAddr) -> io::Result<usize>,
);

const DATA: &[u8] = b"after the peer has gone";

/// Every way the crate sends on a stream. `to` is an address the path may
/// name: the peer's address on TCP (Linux ignores it on a connected TCP
/// socket), a zero-length address on Unix (a Unix stream refuses any
/// other with EISCONN before it looks at the connection; that case is
/// checked on its own below).
const PATHS: &[SendPath] = &[
    ("send", |s, _| s.send(DATA)),
    ("send_with_flags", |s, _| {
        s.send_with_flags(DATA, MsgFlags::DONTWAIT | MsgFlags::MORE)
    }),
    ("send_to", |s, to| s.send_to(DATA, to)),
    ("send_to_with_flags", |s, to| {
        s.send_to_with_flags(DATA, to, MsgFlags::DONTWAIT)
    }),
    ("send_vectored", |s, _| {
        s.send_vectored(&[IoSlice::new(DATA), IoSlice::new(DATA)])
    }),
    ("send_vectored_with_flags", |s, _| {
        s.send_vectored_with_flags(&[IoSlice::new(DATA)], MsgFlags::DONTWAIT)
    }),
    ("send_to_vectored", |s, to| {
        s.send_to_vectored(&[IoSlice::new(DATA)], to)
    }),
    ("send_msg", |s, _| {
        s.send_msg(&[IoSlice::new(DATA)], None, &[], MsgFlags::NONE)
    }),
    ("send_msg_to", |s, to| {
        s.send_msg(&[IoSlice::new(DATA)], Some(to), &[], MsgFlags::DONTWAIT)
    }),
    ("send_mmsg", |s, _| {
        let bufs = [IoSlice::new(DATA)];
        let mut msgs = [
            SendMmsgHdr::new(&bufs, None, &[]),
            SendMmsgHdr::new(&bufs, None, &[]),
        ];
        s.send_mmsg(&mut msgs, MsgFlags::NONE)
    }),
    ("io::Write::write (&OwnedSocket)", |mut s, _| s.write(DATA)),
    ("io::Write::write_vectored (&OwnedSocket)", |mut s, _| {
        s.write_vectored(&[IoSlice::new(DATA)])
    }),
    ("io::Write::write_all (&OwnedSocket)", |mut s, _| {
        s.write_all(DATA).map(|()| DATA.len())
    }),
    ("io::Write::write (OwnedSocket)", |s, _| {
        let mut owned = s.try_clone()?;
        owned.write(DATA)
    }),
    ("io::Write::write_all (OwnedSocket)", |s, _| {
        let mut owned = s.try_clone()?;
        owned.write_all(DATA).map(|()| DATA.len())
    }),
];

/// Sends through `path` until it fails (bounded); returns the error.
fn until_error(path: &SendPath, ours: &OwnedSocket, to: &SockAddr) -> io::Error {
    let start = Instant::now();
    for _ in 0..TRIES {
        match (path.1)(ours, to) {
            Ok(_) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => return e,
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{}: still sending after {PATIENCE:?}",
            path.0
        );
    }
    panic!("{}: {TRIES} sends to a closed peer all succeeded", path.0);
}

fn child() {
    sigpipe_to_default();
    let dir = TempDir::new("sigpipe-all");
    let mut n = 0;
    for t in [Transport::Tcp, Transport::UnixStream, Transport::Socketpair] {
        for path in PATHS {
            n += 1;
            let (ours, peer) = connected(t, &dir.0, n);
            let to = match t {
                Transport::Tcp => peer.local_addr().unwrap(),
                _ => SockAddr::from_bytes(&[]).unwrap(),
            };
            drop(peer);
            let e = until_error(path, &ours, &to);
            assert!(
                matches!(e.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET)),
                "{t:?} {}: {e:?}",
                path.0
            );
            println!("{t:?} {}: {:?}", path.0, e.kind());
        }
        if t != Transport::Tcp {
            // A Unix stream refuses a real address with EISCONN before it
            // looks at the connection: no EPIPE, and still no signal.
            n += 1;
            let (ours, peer) = connected(t, &dir.0, n);
            let to = ours.peer_addr().unwrap();
            drop(peer);
            let e = ours.send_to(DATA, &to).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EISCONN), "{t:?}");
            println!("{t:?} send_to with the peer's address: EISCONN");
        }
    }
    println!("child done");
}

/// The control: the same setup, then a send without MSG_NOSIGNAL. This
/// process must die of SIGPIPE.
fn control_child() {
    sigpipe_to_default();
    let (ours, peer) = OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    drop(peer);
    let r = nix::unistd::write(ours.as_fd(), DATA);
    println!("control survived: {r:?}");
}

#[test]
fn every_send_path_survives_a_closed_peer() {
    match std::env::var(CHILD_ENV).as_deref() {
        Ok("main") => return child(),
        Ok("control") => return control_child(),
        _ => {}
    }
    let run = |mode: &str| {
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, mode)
            .output()
            .unwrap()
    };
    let control = run("control");
    assert_eq!(
        control.status.signal(),
        Some(libc::SIGPIPE),
        "the control child must die of SIGPIPE: {control:?}"
    );

    let out = run("main");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed ({:?}; signal {:?}):\n{stdout}\n{}",
        out.status,
        out.status.signal(),
        String::from_utf8_lossy(&out.stderr)
    );
    let reported = stdout
        .lines()
        .filter(|l| l.ends_with(": BrokenPipe") || l.ends_with(": ConnectionReset"))
        .count();
    assert_eq!(
        reported,
        3 * PATHS.len(),
        "every path on every transport must report:\n{stdout}"
    );
    assert!(stdout.contains("child done"), "{stdout}");
}

/// A directory of the test's own, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("baresock-{what}-{}", std::process::id()));
        std::fs::create_dir(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
