//! Round trips through every `OwnedSocket` call: TCP over IPv4 and IPv6,
//! UDP over both, Unix stream, datagram and seqpacket sockets on a path, an
//! abstract name and unnamed (autobind, socketpair), plus every conversion.
//! Addresses read back are cross-checked byte for byte against nix's
//! getsockname/getpeername; fd flags against nix's fcntl.
//!
//! The errnos each call documents are provoked in `socket_errors.rs`.
// FromRawFd is unsafe by nature; the round trip through it is tested here.
#![allow(unsafe_code)]

mod support;

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::time::{Duration, Instant};

use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, SockAddr, Type};
use nix::poll::PollFlags;
use nix::sys::socket::{SockType, getsockopt, sockopt};
use support::*;

const IP_DOMAINS: [Domain; 2] = [Domain::IPV4, Domain::IPV6];

fn nix_type(s: &OwnedSocket) -> Type {
    let t: SockType = getsockopt(s, sockopt::SockType).unwrap();
    Type::from(t as i32)
}

/// Reads exactly `n` bytes with `MSG_WAITALL`.
#[track_caller]
fn recv_n(s: &OwnedSocket, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    assert_eq!(s.recv_with_flags(&mut buf, MsgFlags::WAITALL).unwrap(), n);
    buf
}

/// Blocks until `n` bytes are queued on a stream socket (a peek with
/// `MSG_WAITALL`), so the next receive of `n` bytes takes them all.
#[track_caller]
fn wait_queued(s: &OwnedSocket, n: usize) {
    let mut buf = vec![0; n];
    let got = s
        .recv_with_flags(&mut buf, MsgFlags::PEEK | MsgFlags::WAITALL)
        .unwrap();
    assert_eq!(got, n);
}

// ---- socket, socketpair ----

#[test]
fn new_makes_blocking_cloexec_sockets_of_every_kind() {
    let kinds = [
        (Domain::IPV4, Type::STREAM),
        (Domain::IPV4, Type::DGRAM),
        (Domain::IPV6, Type::STREAM),
        (Domain::IPV6, Type::DGRAM),
        (Domain::UNIX, Type::STREAM),
        (Domain::UNIX, Type::DGRAM),
        (Domain::UNIX, Type::SEQPACKET),
    ];
    for (d, t) in kinds {
        let s = OwnedSocket::new(d, t, Protocol::DEFAULT).unwrap();
        assert_eq!(s.r#type().unwrap(), t);
        assert_eq!(nix_type(&s), t);
        assert_eq!(s.domain().unwrap(), d);
        assert!(!s.nonblocking().unwrap());
        assert!(!nix_nonblocking(&s), "{d:?} {t:?}");
        assert!(s.cloexec().unwrap());
        assert!(nix_cloexec(&s), "{d:?} {t:?}");

        let n = OwnedSocket::new_nonblocking(d, t, Protocol::DEFAULT).unwrap();
        assert_eq!(nix_type(&n), t);
        assert!(n.nonblocking().unwrap());
        assert!(nix_nonblocking(&n), "{d:?} {t:?}");
        assert!(nix_cloexec(&n), "{d:?} {t:?}");
    }
    for (d, t, p) in [
        (Domain::IPV4, Type::STREAM, Protocol::TCP),
        (Domain::IPV4, Type::DGRAM, Protocol::UDP),
        (Domain::IPV6, Type::STREAM, Protocol::TCP),
        (Domain::IPV6, Type::DGRAM, Protocol::UDP),
    ] {
        let s = OwnedSocket::new(d, t, p).unwrap();
        assert_eq!(s.protocol().unwrap(), p);
        let s = OwnedSocket::new_nonblocking(d, t, p).unwrap();
        assert_eq!(s.protocol().unwrap(), p);
    }
}

#[test]
fn pair_of_every_unix_type_talks_both_ways() {
    for t in [Type::STREAM, Type::DGRAM, Type::SEQPACKET] {
        let (a, b) = OwnedSocket::pair(Domain::UNIX, t, Protocol::DEFAULT).unwrap();
        for s in [&a, &b] {
            assert_eq!(nix_type(s), t);
            assert!(!nix_nonblocking(s));
            assert!(nix_cloexec(s));
            // Both ends are unnamed, as nix sees them too.
            assert!(s.local_addr().unwrap().is_unnamed());
            assert!(s.peer_addr().unwrap().is_unnamed());
            assert_addrs_match_nix(s);
        }
        assert_eq!(a.send(b"ping").unwrap(), 4);
        assert_eq!(recv_n(&b, 4), b"ping");
        assert_eq!(b.send(b"pong").unwrap(), 4);
        assert_eq!(recv_n(&a, 4), b"pong");
    }
}

#[test]
fn pair_nonblocking_makes_both_ends_nonblocking() {
    for t in [Type::STREAM, Type::DGRAM, Type::SEQPACKET] {
        let (a, b) = OwnedSocket::pair_nonblocking(Domain::UNIX, t, Protocol::DEFAULT).unwrap();
        for s in [&a, &b] {
            assert!(nix_nonblocking(s), "{t:?}");
            assert!(s.nonblocking().unwrap());
            assert!(nix_cloexec(s));
            assert_errno(s.recv(&mut [0; 4]), libc::EAGAIN);
        }
        a.send(b"x").unwrap();
        assert_eq!(b.recv(&mut [0; 4]).unwrap(), 1);
    }
}

// ---- stream round trips ----

/// Every send and receive call, and io::Read/io::Write for `OwnedSocket`
/// and `&OwnedSocket`, over a connected stream pair; then every shutdown.
fn exercise_stream(a: &mut OwnedSocket, b: &mut OwnedSocket) {
    // send / recv
    assert_eq!(a.send(b"hello").unwrap(), 5);
    wait_queued(b, 5);
    let mut buf = [0u8; 5];
    assert_eq!(b.recv(&mut buf).unwrap(), 5);
    assert_eq!(&buf, b"hello");

    // send_with_flags / peek / recv_uninit
    assert_eq!(a.send_with_flags(b"peek", MsgFlags::DONTWAIT).unwrap(), 4);
    wait_queued(b, 4);
    let mut buf = [0u8; 4];
    assert_eq!(b.peek(&mut buf).unwrap(), 4);
    assert_eq!(&buf, b"peek");
    let mut ubuf = [MaybeUninit::<u8>::uninit(); 4];
    let (n, got) = b.recv_uninit(&mut ubuf, MsgFlags::NONE).unwrap();
    assert_eq!((n, &*got), (4, &b"peek"[..]));

    // recv_with_flags(WAITALL) gathers two sends.
    a.send(b"ab").unwrap();
    a.send(b"cd").unwrap();
    assert_eq!(recv_n(b, 4), b"abcd");

    // send_vectored / recv_vectored
    let out = [
        IoSlice::new(b"ve"),
        IoSlice::new(b"ct"),
        IoSlice::new(b"or"),
    ];
    assert_eq!(a.send_vectored(&out).unwrap(), 6);
    wait_queued(b, 6);
    let (mut x, mut y) = ([0u8; 2], [0u8; 4]);
    let (n, flags) = b
        .recv_vectored(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)])
        .unwrap();
    assert_eq!(n, 6);
    assert!(!flags.contains(MsgFlags::TRUNC));
    assert_eq!((&x, &y), (b"ve", b"ctor"));

    // send_vectored_with_flags / recv_vectored_with_flags(WAITALL)
    let out = [IoSlice::new(b"12"), IoSlice::new(b"345")];
    assert_eq!(
        a.send_vectored_with_flags(&out, MsgFlags::DONTWAIT)
            .unwrap(),
        5
    );
    let (mut x, mut y) = ([0u8; 3], [0u8; 2]);
    let (n, _) = b
        .recv_vectored_with_flags(
            &mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)],
            MsgFlags::WAITALL,
        )
        .unwrap();
    assert_eq!((n, &x, &y), (5, b"123", b"45"));

    // io::Write / io::Read for OwnedSocket
    assert_eq!(Write::write(a, b"w1").unwrap(), 2);
    Write::write_all(a, b"w2").unwrap();
    assert_eq!(
        Write::write_vectored(a, &[IoSlice::new(b"w"), IoSlice::new(b"3")]).unwrap(),
        2
    );
    Write::flush(a).unwrap();
    let mut r = [0u8; 6];
    Read::read_exact(b, &mut r).unwrap();
    assert_eq!(&r, b"w1w2w3");
    a.send(b"rv").unwrap();
    wait_queued(b, 2);
    let (mut x, mut y) = ([0u8; 1], [0u8; 1]);
    assert_eq!(
        Read::read_vectored(b, &mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)]).unwrap(),
        2
    );
    assert_eq!((x, y), ([b'r'], [b'v']));
    a.send(b"rd").unwrap();
    wait_queued(b, 2);
    assert_eq!(Read::read(b, &mut r).unwrap(), 2);

    // io::Write / io::Read for &OwnedSocket
    let (ra, rb): (&OwnedSocket, &OwnedSocket) = (a, b);
    let (mut wa, mut wb) = (ra, rb);
    assert_eq!(wa.write(b"r1").unwrap(), 2);
    wa.write_all(b"r2").unwrap();
    assert_eq!(
        wa.write_vectored(&[IoSlice::new(b"r"), IoSlice::new(b"3")])
            .unwrap(),
        2
    );
    wa.flush().unwrap();
    let mut r = [0u8; 6];
    wb.read_exact(&mut r).unwrap();
    assert_eq!(&r, b"r1r2r3");
    wa.write_all(b"zz").unwrap();
    wait_queued(rb, 2);
    let (mut x, mut y) = ([0u8; 1], [0u8; 1]);
    assert_eq!(
        wb.read_vectored(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)])
            .unwrap(),
        2
    );
    wa.write_all(b"q").unwrap();
    wait_queued(rb, 1);
    assert_eq!(wb.read(&mut r).unwrap(), 1);

    // shutdown(Write): the peer reads end-of-stream after the data, and
    // can still send the other way (a half-close).
    a.send(b"last").unwrap();
    a.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    Read::read_to_end(b, &mut rest).unwrap();
    assert_eq!(rest, b"last");
    assert_eq!(b.recv(&mut [0; 8]).unwrap(), 0);
    b.send(b"back").unwrap();
    assert_eq!(recv_n(a, 4), b"back");

    // shutdown(Read): our own reads now see end-of-stream.
    b.shutdown(Shutdown::Read).unwrap();
    assert_eq!(b.recv(&mut [0; 8]).unwrap(), 0);

    // shutdown(Both): both directions end.
    b.shutdown(Shutdown::Both).unwrap();
    assert_eq!(a.recv(&mut [0; 8]).unwrap(), 0);
    assert_eq!(b.recv(&mut [0; 8]).unwrap(), 0);
}

fn tcp_round_trip(domain: Domain) {
    let l = OwnedSocket::new(domain, Type::STREAM, Protocol::DEFAULT).unwrap();
    l.bind(&loopback(domain)).unwrap();
    l.listen(8).unwrap();
    let la = l.local_addr().unwrap();
    assert_ne!(port_of(&la), 0);
    assert_eq!(la.domain(), Some(domain));
    assert!(la.as_socket().unwrap().ip().is_loopback());
    assert_same_addr(&la, &nix_local(&l));
    assert!(l.is_listener().unwrap());

    let c = OwnedSocket::new(domain, Type::STREAM, Protocol::DEFAULT).unwrap();
    c.connect(&la).unwrap();
    let (s, peer) = l.accept().unwrap();
    // The addresses agree from every side, and with nix.
    assert_eq!(peer, c.local_addr().unwrap());
    assert_eq!(c.peer_addr().unwrap(), la);
    assert_eq!(s.local_addr().unwrap(), la);
    assert_eq!(s.peer_addr().unwrap(), peer);
    assert_addrs_match_nix(&c);
    assert_addrs_match_nix(&s);
    assert_eq!(peer.domain(), Some(domain));
    assert!(!nix_nonblocking(&s));
    assert!(nix_cloexec(&s));

    // recv_from on a TCP socket: the kernel fills no address (length 0).
    c.send(b"a").unwrap();
    let (n, from) = s.recv_from(&mut [0; 1]).unwrap();
    assert_eq!((n, from.len()), (1, 0));

    // send_to on a connected TCP socket: Linux ignores the address.
    let elsewhere = closed_port(domain);
    assert_eq!(c.send_to(b"t", &elsewhere).unwrap(), 1);
    assert_eq!(
        c.send_to_with_flags(b"u", &elsewhere, MsgFlags::NONE)
            .unwrap(),
        1
    );
    assert_eq!(recv_n(&s, 2), b"tu");

    let (mut c, mut s) = (c, s);
    exercise_stream(&mut c, &mut s);
}

#[test]
fn tcp_v4_round_trip() {
    tcp_round_trip(Domain::IPV4);
}

#[test]
fn tcp_v6_round_trip() {
    tcp_round_trip(Domain::IPV6);
}

#[test]
fn socketpair_stream_round_trip() {
    let (mut a, mut b) = OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    exercise_stream(&mut a, &mut b);
}

/// A Unix stream or seqpacket listener at `addr`: bind, listen, connect,
/// accept, with the addresses every side reads back checked against nix.
fn unix_connected(ty: Type, addr: &SockAddr) -> (OwnedSocket, OwnedSocket, OwnedSocket) {
    let l = OwnedSocket::new(Domain::UNIX, ty, Protocol::DEFAULT).unwrap();
    l.bind(addr).unwrap();
    l.listen(4).unwrap();
    assert_eq!(&l.local_addr().unwrap(), addr);
    assert_same_addr(&l.local_addr().unwrap(), &nix_local(&l));

    let c = OwnedSocket::new(Domain::UNIX, ty, Protocol::DEFAULT).unwrap();
    c.connect(addr).unwrap();
    let (s, peer) = l.accept().unwrap();
    // The client never bound: it is unnamed, and the accepted side's
    // local address is the listener's.
    assert!(peer.is_unnamed(), "{peer:?}");
    assert!(c.local_addr().unwrap().is_unnamed());
    assert_eq!(&c.peer_addr().unwrap(), addr);
    assert_eq!(&s.local_addr().unwrap(), addr);
    assert!(s.peer_addr().unwrap().is_unnamed());
    assert_addrs_match_nix(&c);
    assert_addrs_match_nix(&s);
    (l, c, s)
}

#[test]
fn unix_stream_on_a_path_round_trip() {
    let dir = TempDir::new("stream");
    let path = dir.join("s");
    let addr = SockAddr::unix(&path).unwrap();
    let (_l, mut c, mut s) = unix_connected(Type::STREAM, &addr);
    assert_eq!(c.peer_addr().unwrap().as_unix_path(), Some(path.as_path()));
    // A connected Unix stream socket refuses an address (unlike TCP).
    assert_errno(c.send_to(b"x", &addr), libc::EISCONN);
    exercise_stream(&mut c, &mut s);
}

#[test]
fn unix_stream_on_an_abstract_name_round_trip() {
    let name = abstract_name("stream");
    let addr = SockAddr::unix_abstract(&name).unwrap();
    let (_l, mut c, mut s) = unix_connected(Type::STREAM, &addr);
    assert_eq!(
        c.peer_addr().unwrap().as_abstract_name(),
        Some(name.as_slice())
    );
    exercise_stream(&mut c, &mut s);
}

#[test]
fn unix_seqpacket_keeps_message_boundaries() {
    {
        let addr = SockAddr::unix_abstract(&abstract_name("seqpacket")).unwrap();
        let (_l, c, s) = unix_connected(Type::SEQPACKET, &addr);
        c.send(b"ab").unwrap();
        c.send_vectored(&[IoSlice::new(b"c"), IoSlice::new(b"d")])
            .unwrap();
        // One message per receive, however big the buffer.
        assert_eq!(s.recv(&mut [0; 16]).unwrap(), 2);
        assert_eq!(s.recv(&mut [0; 16]).unwrap(), 2);
        // A message larger than the buffer is cut, and says so.
        c.send(b"0123456789").unwrap();
        let mut small = [0u8; 4];
        let (n, flags) = s.recv_vectored(&mut [IoSliceMut::new(&mut small)]).unwrap();
        assert_eq!((n, &small), (4, b"0123"));
        assert!(flags.contains(MsgFlags::TRUNC), "{flags:?}");
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!(s.recv(&mut [0; 16]).unwrap(), 0);
    }
    let dir = TempDir::new("seqpacket");
    let addr = SockAddr::unix(dir.join("sp")).unwrap();
    let (_l, c, s) = unix_connected(Type::SEQPACKET, &addr);
    c.send(b"one").unwrap();
    assert_eq!(s.recv(&mut [0; 16]).unwrap(), 3);
}

/// A path of exactly `len` bytes in `dir`: the dir and a filler name
/// that starts with `tag`.
fn path_of_len(dir: &TempDir, len: usize, tag: char) -> std::path::PathBuf {
    let base = dir.path().as_os_str().len() + 1;
    assert!(
        base + 2 < len,
        "temp dir path too long for this test: {base}"
    );
    let name: String = std::iter::once(tag)
        .chain(std::iter::repeat_n('x', len - base - 1))
        .collect();
    let path = dir.join(&name);
    assert_eq!(path.as_os_str().len(), len);
    path
}

#[test]
fn unix_path_of_108_bytes_without_nul_binds_and_connects() {
    let dir = TempDir::new("long");
    let path = path_of_len(&dir, 108, 'l');
    let addr = SockAddr::unix(&path).unwrap();
    // sun_path is full: no room for, and no, NUL terminator.
    assert_eq!(addr.len(), 110);
    let l = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    l.bind(&addr).unwrap();
    l.listen(1).unwrap();
    let local = l.local_addr().unwrap();
    assert_eq!(local.as_unix_path(), Some(path.as_path()));
    // The kernel reports 111 bytes here (the path and a NUL past
    // sun_path), more than a sockaddr_un: nix refuses such an address, so
    // std is the oracle for this one.
    let std_l: UnixListener = l.try_clone().unwrap().into();
    let std_local = std_l.local_addr().unwrap();
    assert_eq!(std_local.as_pathname(), Some(path.as_path()));
    // std holds the kernel's 111 bytes; converted, it is the same address
    // (std itself cannot build one: its from_pathname wants room for a NUL).
    assert_eq!(SockAddr::from(&std_local), addr);
    assert_eq!(SockAddr::from(std_local), local);
    let c = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    c.connect(&addr).unwrap();
    let (s, _) = l.accept().unwrap();
    assert_eq!(c.peer_addr().unwrap().as_unix_path(), Some(path.as_path()));
    c.send(b"ok").unwrap();
    assert_eq!(recv_n(&s, 2), b"ok");
}

#[test]
fn a_108_byte_path_from_the_kernel_can_be_handed_back() {
    use std::hash::BuildHasher;
    let hasher = std::hash::RandomState::new();
    let dir = TempDir::new("back");
    let lpath = path_of_len(&dir, 108, 'l');
    let cpath = path_of_len(&dir, 108, 'c');
    let laddr = SockAddr::unix(&lpath).unwrap();
    let caddr = SockAddr::unix(&cpath).unwrap();

    // Stream: getsockname, connect with it, accept, getpeername.
    let l = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    l.bind(&laddr).unwrap();
    l.listen(1).unwrap();
    let local = l.local_addr().unwrap();
    // The kernel said 111 (a NUL past sun_path); the address keeps 110, is
    // the one SockAddr::unix builds, and hashes alike.
    assert_eq!(local.len(), 110);
    assert_eq!(local, laddr);
    assert_eq!(hasher.hash_one(local), hasher.hash_one(laddr));
    let c = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    c.bind(&caddr).unwrap();
    // EINVAL here before: connect refuses a 111-byte sockaddr_un.
    c.connect(&local).unwrap();
    let (s, from) = l.accept().unwrap();
    assert_eq!(from, caddr);
    assert_eq!(s.peer_addr().unwrap(), caddr);
    assert_eq!(c.peer_addr().unwrap(), laddr);
    assert_eq!(c.local_addr().unwrap(), caddr);
    assert_eq!(s.local_addr().unwrap(), laddr);
    drop((c, s, l));
    std::fs::remove_file(&lpath).unwrap();
    std::fs::remove_file(&cpath).unwrap();

    // Datagram: a server answers to the address recvfrom gave it.
    let srv = OwnedSocket::new(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
    srv.bind(&laddr).unwrap();
    let cli = OwnedSocket::new(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
    cli.bind(&caddr).unwrap();
    cli.send_to(b"ping", &srv.local_addr().unwrap()).unwrap();
    let mut buf = [0u8; 8];
    let (n, from) = srv.recv_from(&mut buf).unwrap();
    assert_eq!((n, &from), (4, &caddr));
    // EINVAL here before: sendto refuses a 111-byte sockaddr_un.
    srv.send_to(b"pong", &from).unwrap();
    let (n, from) = cli.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], &from), (&b"pong"[..], &laddr));
    // recvmsg and recv_from_uninit fill the address through the same path.
    cli.send_to(b"two", &laddr).unwrap();
    let mut ubuf = [MaybeUninit::<u8>::uninit(); 8];
    let (n, _, from) = srv.recv_from_uninit(&mut ubuf, MsgFlags::NONE).unwrap();
    assert_eq!((n, &from), (3, &caddr));
    srv.send_to(b"three", &from).unwrap();
    let mut data = [0u8; 8];
    let m = cli
        .recv_msg(&mut [IoSliceMut::new(&mut data)], &mut [], MsgFlags::NONE)
        .unwrap();
    assert_eq!((m.bytes, m.addr), (5, laddr));
    cli.send_to(b"x", &m.addr).unwrap();
    assert_eq!(srv.recv(&mut buf).unwrap(), 1);
}

#[test]
fn unix_names_near_the_limit_come_back_as_built() {
    let dir = TempDir::new("near");
    let long_name = |tag: &str| {
        let mut n = abstract_name(tag);
        n.resize(107, b'z');
        SockAddr::unix_abstract(&n).unwrap()
    };
    // 107 bytes: the kernel reports 110 (the path and its NUL inside
    // sun_path). The longest abstract name: 107 bytes after the NUL.
    for (srv_addr, cli_addr) in [
        (
            SockAddr::unix(path_of_len(&dir, 107, 's')).unwrap(),
            SockAddr::unix(path_of_len(&dir, 107, 'c')).unwrap(),
        ),
        (long_name("srv"), long_name("cli")),
    ] {
        assert_eq!((srv_addr.len(), cli_addr.len()), (110, 110));
        let srv = OwnedSocket::new(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
        srv.bind(&srv_addr).unwrap();
        let local = srv.local_addr().unwrap();
        assert_eq!(local, srv_addr);
        let cli = OwnedSocket::new(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
        cli.bind(&cli_addr).unwrap();
        cli.send_to(b"a", &local).unwrap();
        let (_, from) = srv.recv_from(&mut [0; 4]).unwrap();
        assert_eq!(from, cli_addr);
        srv.send_to(b"b", &from).unwrap();
        let (_, back) = cli.recv_from(&mut [0; 4]).unwrap();
        assert_eq!(back, srv_addr);
    }
}

// ---- MSG_TRUNC into uninitialised memory ----

const PATTERN: u8 = 0xAA;

/// What the buffer holds after a receive: it was filled with [`PATTERN`]
/// before, so every byte is initialised whatever the kernel did.
fn bytes_of(buf: &[MaybeUninit<u8>]) -> Vec<u8> {
    // SAFETY: the buffer was made of MaybeUninit::new(PATTERN) and the
    // kernel only ever writes initialised bytes into it.
    buf.iter().map(|m| unsafe { m.assume_init() }).collect()
}

/// A stream pair and a datagram pair per family: (name, sender, receiver,
/// stream?).
fn trunc_cases() -> Vec<(&'static str, OwnedSocket, OwnedSocket, bool)> {
    let (tc, ts) = tcp_pair(Domain::IPV4);
    let (ua, _) = udp_bound(Domain::IPV4);
    let (ub, uba) = udp_bound(Domain::IPV4);
    ua.connect(&uba).unwrap();
    let (sa, sb) = OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    let (da, db) = OwnedSocket::pair(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
    vec![
        ("tcp", tc, ts, true),
        ("udp", ua, ub, false),
        ("unix stream", sa, sb, true),
        ("unix datagram", da, db, false),
    ]
}

#[test]
fn uninit_receives_with_trunc_report_no_initialised_bytes() {
    for (name, tx, rx, stream) in trunc_cases() {
        // recv_uninit: "hello" into 8 bytes, then 10 bytes into 4.
        tx.send(b"hello").unwrap();
        if stream {
            wait_queued(&rx, 5);
        }
        let mut buf = [MaybeUninit::new(PATTERN); 8];
        let (n, init) = rx.recv_uninit(&mut buf, MsgFlags::TRUNC).unwrap();
        assert_eq!((n, init.len()), (5, 0), "{name}");
        // What the kernel did with the buffer differs by socket type, which
        // is why nothing is vouched for: TCP discards without writing.
        let want: &[u8] = if name == "tcp" {
            &[PATTERN; 5]
        } else {
            b"hello"
        };
        assert_eq!(&bytes_of(&buf)[..5], want, "{name}");

        tx.send(b"0123456789").unwrap();
        if stream {
            wait_queued(&rx, 10);
        }
        let mut small = [MaybeUninit::new(PATTERN); 4];
        let (n, init) = rx.recv_uninit(&mut small, MsgFlags::TRUNC).unwrap();
        // A datagram's full length: what MSG_TRUNC is for.
        assert_eq!((n, init.len()), (if stream { 4 } else { 10 }, 0), "{name}");
        if stream {
            // Drain the six bytes left on the stream.
            assert_eq!(recv_n(&rx, 6).len(), 6);
        }

        // recv_from_uninit: the same rule.
        tx.send(b"abc").unwrap();
        if stream {
            wait_queued(&rx, 3);
        }
        let mut buf = [MaybeUninit::new(PATTERN); 8];
        let (n, init, _) = rx.recv_from_uninit(&mut buf, MsgFlags::TRUNC).unwrap();
        assert_eq!((n, init.len()), (3, 0), "{name}");

        // MSG_PEEK|MSG_TRUNC with no buffer sizes the next datagram.
        tx.send(b"sized").unwrap();
        if stream {
            wait_queued(&rx, 5);
        }
        let (n, init) = rx
            .recv_uninit(&mut [], MsgFlags::PEEK | MsgFlags::TRUNC)
            .unwrap();
        assert_eq!((n, init.len()), (if stream { 0 } else { 5 }, 0), "{name}");

        // Without MSG_TRUNC the bytes written are handed back.
        let mut buf = [MaybeUninit::new(PATTERN); 8];
        let (n, init, _) = rx.recv_from_uninit(&mut buf, MsgFlags::NONE).unwrap();
        assert_eq!((n, &*init), (5, &b"sized"[..]), "{name}");
        let mut buf = [MaybeUninit::<u8>::uninit(); 2];
        tx.send(b"xyz").unwrap();
        let (n, init) = rx.recv_uninit(&mut buf, MsgFlags::NONE).unwrap();
        assert_eq!((n, &*init), (2, &b"xy"[..]), "{name}");
        if stream {
            assert_eq!(recv_n(&rx, 1), b"z");
        }
    }
}

// ---- datagram round trips ----

fn udp_round_trip(domain: Domain) {
    let (a, aa) = udp_bound(domain);
    let (b, ba) = udp_bound(domain);
    assert_addrs_match_nix(&a);
    assert_addrs_match_nix(&b);
    let mut buf = [0u8; 32];

    assert_eq!(a.send_to(b"one", &ba).unwrap(), 3);
    let (n, from) = b.recv_from(&mut buf).unwrap();
    assert_eq!((n, &buf[..n], &from), (3, &b"one"[..], &aa));

    assert_eq!(
        a.send_to_with_flags(b"two", &ba, MsgFlags::DONTWAIT)
            .unwrap(),
        3
    );
    // peek_from leaves the datagram; recv_from_with_flags takes it.
    let (n, from) = b.peek_from(&mut buf).unwrap();
    assert_eq!((n, &from), (3, &aa));
    let (n, from) = b.recv_from_with_flags(&mut buf, MsgFlags::NONE).unwrap();
    assert_eq!((n, &buf[..n], &from), (3, &b"two"[..], &aa));

    let parts = [IoSlice::new(b"thr"), IoSlice::new(b"ee")];
    assert_eq!(a.send_to_vectored(&parts, &ba).unwrap(), 5);
    let mut ubuf = [MaybeUninit::<u8>::uninit(); 8];
    let (n, got, from) = b.recv_from_uninit(&mut ubuf, MsgFlags::NONE).unwrap();
    assert_eq!((n, &*got, &from), (5, &b"three"[..], &aa));

    assert_eq!(a.send_to_vectored(&parts, &ba).unwrap(), 5);
    let (mut x, mut y) = ([0u8; 2], [0u8; 8]);
    let (n, flags, from) = b
        .recv_from_vectored(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)])
        .unwrap();
    assert_eq!((n, &from, &x, &y[..3]), (5, &aa, b"th", &b"ree"[..]));
    assert!(!flags.contains(MsgFlags::TRUNC));

    // Truncation: MSG_TRUNC gives the real length; recvmsg flags it.
    a.send_to(b"0123456789", &ba).unwrap();
    let mut small = [0u8; 4];
    assert_eq!(b.recv_with_flags(&mut small, MsgFlags::TRUNC).unwrap(), 10);
    assert_eq!(&small, b"0123");
    a.send_to(b"0123456789", &ba).unwrap();
    let (n, flags, from) = b
        .recv_from_vectored(&mut [IoSliceMut::new(&mut small)])
        .unwrap();
    assert_eq!((n, &from), (4, &aa));
    assert!(flags.contains(MsgFlags::TRUNC), "{flags:?}");
    a.send_to(b"0123456789", &ba).unwrap();
    let (n, flags) = b
        .recv_vectored_with_flags(&mut [IoSliceMut::new(&mut small)], MsgFlags::NONE)
        .unwrap();
    assert_eq!(n, 4);
    assert!(flags.contains(MsgFlags::TRUNC));

    // An empty datagram is a datagram.
    assert_eq!(a.send_to(b"", &ba).unwrap(), 0);
    assert_eq!(b.recv(&mut buf).unwrap(), 0);

    // connect: a default destination and a filter on the source.
    a.connect(&ba).unwrap();
    assert_eq!(a.peer_addr().unwrap(), ba);
    assert_addrs_match_nix(&a);
    b.connect(&aa).unwrap();
    let (c, _) = udp_bound(domain);
    c.send_to(b"stranger", &aa).unwrap();
    assert_eq!(b.send(b"friend").unwrap(), 6);
    let n = a.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"friend");
    assert_errno(
        a.recv_with_flags(&mut buf, MsgFlags::DONTWAIT),
        libc::EAGAIN,
    );
    assert_eq!(a.send(b"ok").unwrap(), 2);
    assert_eq!(b.recv(&mut buf).unwrap(), 2);
    assert_eq!(a.send_vectored(&[IoSlice::new(b"v")]).unwrap(), 1);
    let (n, _) = b.recv_vectored(&mut [IoSliceMut::new(&mut buf)]).unwrap();
    assert_eq!(n, 1);
}

#[test]
fn udp_v4_round_trip() {
    udp_round_trip(Domain::IPV4);
}

#[test]
fn udp_v6_round_trip() {
    udp_round_trip(Domain::IPV6);
}

#[test]
fn unix_datagram_round_trip_on_paths_abstract_and_unnamed() {
    let dir = TempDir::new("dgram");
    let pa = SockAddr::unix(dir.join("a")).unwrap();
    let pb = SockAddr::unix(dir.join("b")).unwrap();
    let a = OwnedSocket::new(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
    let b = OwnedSocket::new(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
    a.bind(&pa).unwrap();
    b.bind(&pb).unwrap();
    assert_addrs_match_nix(&a);
    assert_eq!(a.local_addr().unwrap(), pa);
    let mut buf = [0u8; 16];

    // Path to path: the sender's path comes back.
    a.send_to(b"hi", &pb).unwrap();
    let (n, from) = b.recv_from(&mut buf).unwrap();
    assert_eq!((n, &from), (2, &pa));
    assert_eq!(from.as_unix_path(), Some(dir.join("a").as_path()));

    // From an unbound socket: the sender is unnamed.
    let u = OwnedSocket::new(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
    u.send_to(b"anon", &pb).unwrap();
    // Linux reports no address at all (length 0) for an unbound sender.
    let (n, from) = b.recv_from(&mut buf).unwrap();
    assert_eq!((n, from.len()), (4, 0), "{from:?}");

    // Binding the unnamed address autobinds to a fresh abstract name:
    // five hex digits on Linux.
    let auto = OwnedSocket::new(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
    auto.bind(&SockAddr::unix_unnamed()).unwrap();
    let name = auto.local_addr().unwrap();
    let n_bytes = name
        .as_abstract_name()
        .expect("autobind gives an abstract name");
    assert_eq!(n_bytes.len(), 5, "{name:?}");
    assert!(n_bytes.iter().all(u8::is_ascii_hexdigit), "{name:?}");
    assert_addrs_match_nix(&auto);
    auto.send_to(b"auto", &pb).unwrap();
    let (_, from) = b.recv_from(&mut buf).unwrap();
    assert_eq!(from, name);

    // Abstract to abstract, connected.
    let an = SockAddr::unix_abstract(&abstract_name("dgram")).unwrap();
    let c = OwnedSocket::new(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
    c.bind(&an).unwrap();
    assert_eq!(c.local_addr().unwrap(), an);
    a.connect(&an).unwrap();
    assert_eq!(a.peer_addr().unwrap(), an);
    assert_addrs_match_nix(&a);
    a.send(b"conn").unwrap();
    let (n, from) = c.recv_from(&mut buf).unwrap();
    assert_eq!((n, &from), (4, &pa));
}

// ---- accept ----

#[test]
fn accept_returns_blocking_cloexec_sockets_even_from_a_nonblocking_listener() {
    for domain in IP_DOMAINS {
        let (l, la) = tcp_listener(domain);
        l.set_nonblocking(true).unwrap();
        let c = OwnedSocket::new(domain, Type::STREAM, Protocol::DEFAULT).unwrap();
        c.connect(&la).unwrap();
        let (s, peer) = retry_until_ready(&l, || l.accept()).unwrap();
        assert_eq!(peer, c.local_addr().unwrap());
        assert!(!nix_nonblocking(&s), "accept4 without SOCK_NONBLOCK");
        assert!(nix_cloexec(&s));
        assert!(nix_nonblocking(&l));
    }
}

#[test]
fn accept_nonblocking_sets_o_nonblock_on_the_accepted_fd_only() {
    for domain in IP_DOMAINS {
        let (l, la) = tcp_listener(domain);
        let c = OwnedSocket::new(domain, Type::STREAM, Protocol::DEFAULT).unwrap();
        c.connect(&la).unwrap();
        let (s, peer) = l.accept_nonblocking().unwrap();
        assert_eq!(peer, c.local_addr().unwrap());
        assert!(nix_nonblocking(&s), "accept4 with SOCK_NONBLOCK");
        assert!(s.nonblocking().unwrap());
        assert!(nix_cloexec(&s));
        assert!(!nix_nonblocking(&l), "the listener keeps its mode");
        assert_errno(s.recv(&mut [0; 1]), libc::EAGAIN);
        assert_addrs_match_nix(&s);
    }
    // Unix stream too.
    let addr = SockAddr::unix_abstract(&abstract_name("accept-nb")).unwrap();
    let l = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    l.bind(&addr).unwrap();
    l.listen(1).unwrap();
    let c = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    c.connect(&addr).unwrap();
    let (s, peer) = l.accept_nonblocking().unwrap();
    assert!(peer.is_unnamed());
    assert!(nix_nonblocking(&s));
    assert!(nix_cloexec(&s));
}

// ---- fcntl: nonblocking, cloexec, dup ----

#[test]
fn set_nonblocking_toggles_o_nonblock_as_nix_sees_it() {
    let s = OwnedSocket::new(Domain::IPV4, Type::DGRAM, Protocol::DEFAULT).unwrap();
    for on in [true, true, false, false, true] {
        s.set_nonblocking(on).unwrap();
        assert_eq!(s.nonblocking().unwrap(), on);
        assert_eq!(nix_nonblocking(&s), on);
    }
    s.bind(&v4(0)).unwrap();
    assert_errno(s.recv(&mut [0; 1]), libc::EAGAIN);
}

#[test]
fn cloexec_and_set_cloexec_agree_with_nix() {
    let s = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    assert!(s.cloexec().unwrap());
    s.set_cloexec(false).unwrap();
    assert!(!s.cloexec().unwrap());
    assert!(!nix_cloexec(&s));
    // FD_CLOEXEC belongs to the fd, not the socket: a clone has its own.
    let d = s.try_clone().unwrap();
    assert!(nix_cloexec(&d));
    s.set_cloexec(true).unwrap();
    assert!(s.cloexec().unwrap());
    assert!(nix_cloexec(&s));
}

#[test]
fn try_clone_shares_the_socket_but_not_the_fd() {
    let (c, s) = tcp_pair(Domain::IPV4);
    let d = c.try_clone().unwrap();
    assert_ne!(d.as_raw_fd(), c.as_raw_fd());
    assert_eq!(socket_inode(d.as_fd()), socket_inode(c.as_fd()));
    assert!(nix_cloexec(&d));
    assert_eq!(d.local_addr().unwrap(), c.local_addr().unwrap());
    assert_eq!(d.peer_addr().unwrap(), c.peer_addr().unwrap());
    // O_NONBLOCK belongs to the open socket: the clone shares it.
    d.set_nonblocking(true).unwrap();
    assert!(c.nonblocking().unwrap());
    assert!(nix_nonblocking(&c));
    d.set_nonblocking(false).unwrap();
    // The clone talks on the same connection, and outlives the original.
    d.send(b"dup").unwrap();
    assert_eq!(recv_n(&s, 3), b"dup");
    drop(c);
    d.send(b"still").unwrap();
    assert_eq!(recv_n(&s, 5), b"still");
    // Shutdown acts on the connection, so it reaches every duplicate.
    let e = d.try_clone().unwrap();
    e.shutdown(Shutdown::Write).unwrap();
    assert_eq!(s.recv(&mut [0; 1]).unwrap(), 0);
    assert_errno(d.send(b"x"), libc::EPIPE);
}

#[test]
fn close_reports_success_and_the_peer_sees_end_of_stream() {
    let (c, s) = tcp_pair(Domain::IPV6);
    c.close().unwrap();
    assert_eq!(s.recv(&mut [0; 1]).unwrap(), 0);
    let (a, b) = OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    a.close().unwrap();
    assert_eq!(b.recv(&mut [0; 1]).unwrap(), 0);
}

#[test]
fn debug_shows_the_fd() {
    let s = OwnedSocket::new(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
    assert_eq!(
        format!("{s:?}"),
        format!("OwnedSocket {{ fd: {} }}", s.as_raw_fd())
    );
}

// ---- conversions ----

#[test]
fn owned_fd_and_raw_fd_conversions_keep_the_same_fd() {
    let s = OwnedSocket::new(Domain::IPV4, Type::DGRAM, Protocol::DEFAULT).unwrap();
    s.bind(&v4(0)).unwrap();
    let addr = s.local_addr().unwrap();
    let raw = s.as_raw_fd();
    assert_eq!(s.as_fd().as_raw_fd(), raw);

    let fd: OwnedFd = s.into();
    assert_eq!(fd.as_raw_fd(), raw);
    let s = OwnedSocket::from(fd);
    assert_eq!(s.as_raw_fd(), raw);
    assert_eq!(s.local_addr().unwrap(), addr);

    let r = s.into_raw_fd();
    assert_eq!(r, raw);
    // The fd is still open and still the socket.
    assert_same_addr(&addr, &nix_local(&r));
    // SAFETY: `r` came from into_raw_fd just above; nothing else owns it.
    let s = unsafe { OwnedSocket::from_raw_fd(r) };
    assert_eq!(s.local_addr().unwrap(), addr);
    assert!(nix_cloexec(&s));
}

#[test]
fn tcp_conversions_to_and_from_std() {
    // Ours -> std TcpListener; std connects, std accepts.
    let (l, la) = tcp_listener(Domain::IPV4);
    let std_l: TcpListener = l.into();
    let la_std = SocketAddr::try_from(&la).unwrap();
    assert_eq!(std_l.local_addr().unwrap(), la_std);
    let mut std_c = TcpStream::connect(la_std).unwrap();
    let (std_s, _) = std_l.accept().unwrap();

    // std TcpStream -> ours, and ours -> std TcpStream.
    let ours = OwnedSocket::from(std_s);
    assert_eq!(
        SocketAddr::try_from(ours.peer_addr().unwrap()).unwrap(),
        std_c.local_addr().unwrap()
    );
    std_c.write_all(b"std").unwrap();
    assert_eq!(recv_n(&ours, 3), b"std");
    let mut back: TcpStream = ours.into();
    back.write_all(b"back").unwrap();
    let mut buf = [0; 4];
    std_c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"back");

    // std TcpListener -> ours: our accept works on it.
    let std_l2 = TcpListener::bind("127.0.0.1:0").unwrap();
    let a2 = std_l2.local_addr().unwrap();
    let ours_l = OwnedSocket::from(std_l2);
    assert_eq!(ours_l.local_addr().unwrap(), SockAddr::from(a2));
    let _c2 = TcpStream::connect(a2).unwrap();
    let (s2, _) = ours_l.accept().unwrap();
    assert!(nix_cloexec(&s2));
}

#[test]
fn udp_conversions_to_and_from_std() {
    let (ours, oa) = udp_bound(Domain::IPV6);
    let std_u: UdpSocket = ours.into();
    assert_eq!(SockAddr::from(std_u.local_addr().unwrap()), oa);
    let (peer, pa) = udp_bound(Domain::IPV6);
    std_u
        .send_to(b"std", SocketAddr::try_from(&pa).unwrap())
        .unwrap();
    let (n, from) = peer.recv_from(&mut [0; 8]).unwrap();
    assert_eq!((n, from), (3, oa));
    let back = OwnedSocket::from(std_u);
    back.send_to(b"ours", &pa).unwrap();
    assert_eq!(peer.recv(&mut [0; 8]).unwrap(), 4);
}

#[test]
fn unix_conversions_to_and_from_std() {
    let dir = TempDir::new("conv");
    // Ours (listener on a path) -> std UnixListener.
    let path = dir.join("l");
    let l = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    l.bind(&SockAddr::unix(&path).unwrap()).unwrap();
    l.listen(1).unwrap();
    let std_l: UnixListener = l.into();
    assert_eq!(
        std_l.local_addr().unwrap().as_pathname(),
        Some(path.as_path())
    );
    let mut std_c = UnixStream::connect(&path).unwrap();
    let (std_s, _) = std_l.accept().unwrap();
    // std UnixStream -> ours -> std UnixStream.
    let ours = OwnedSocket::from(std_s);
    std_c.write_all(b"u").unwrap();
    assert_eq!(recv_n(&ours, 1), b"u");
    let mut back: UnixStream = ours.into();
    back.write_all(b"v").unwrap();
    let mut one = [0];
    std_c.read_exact(&mut one).unwrap();
    assert_eq!(&one, b"v");
    // std UnixListener -> ours.
    let p2 = dir.join("l2");
    let ours_l = OwnedSocket::from(UnixListener::bind(&p2).unwrap());
    assert_eq!(
        ours_l.local_addr().unwrap().as_unix_path(),
        Some(p2.as_path())
    );
    let _c2 = UnixStream::connect(&p2).unwrap();
    ours_l.accept().unwrap();

    // UnixDatagram both ways.
    let pd = dir.join("d");
    let std_d = UnixDatagram::bind(&pd).unwrap();
    let ours_d = OwnedSocket::from(std_d);
    assert_eq!(
        ours_d.local_addr().unwrap().as_unix_path(),
        Some(pd.as_path())
    );
    let (a, b) = OwnedSocket::pair(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
    let std_a: UnixDatagram = a.into();
    std_a.send(b"dg").unwrap();
    assert_eq!(b.recv(&mut [0; 4]).unwrap(), 2);
    let std_b: UnixDatagram = b.into();
    let a = OwnedSocket::from(std_a);
    a.send(b"dg2").unwrap();
    assert_eq!(std_b.recv(&mut [0; 4]).unwrap(), 3);
    drop(ours_d);
}

// ---- connect_timeout ----

#[test]
fn connect_timeout_succeeds_against_a_listener_and_restores_blocking_mode() {
    for domain in IP_DOMAINS {
        let (l, la) = tcp_listener(domain);
        let c = OwnedSocket::new(domain, Type::STREAM, Protocol::DEFAULT).unwrap();
        c.connect_timeout(&la, Duration::from_secs(10)).unwrap();
        assert!(!c.nonblocking().unwrap());
        assert!(!nix_nonblocking(&c));
        assert_eq!(c.peer_addr().unwrap(), la);
        let (s, _) = l.accept().unwrap();
        c.send(b"up").unwrap();
        assert_eq!(recv_n(&s, 2), b"up");

        // A socket that was nonblocking stays nonblocking.
        let n = OwnedSocket::new_nonblocking(domain, Type::STREAM, Protocol::DEFAULT).unwrap();
        n.connect_timeout(&la, Duration::from_secs(10)).unwrap();
        assert!(nix_nonblocking(&n));
        assert_eq!(n.peer_addr().unwrap(), la);
    }
    // Unix stream and UDP connect at once.
    let addr = SockAddr::unix_abstract(&abstract_name("ct")).unwrap();
    let l = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    l.bind(&addr).unwrap();
    l.listen(1).unwrap();
    let c = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    c.connect_timeout(&addr, Duration::from_secs(10)).unwrap();
    assert!(!nix_nonblocking(&c));
    let (u, _) = udp_bound(Domain::IPV4);
    let (_, pa) = udp_bound(Domain::IPV4);
    u.connect_timeout(&pa, Duration::from_millis(1)).unwrap();
    assert_eq!(u.peer_addr().unwrap(), pa);
    assert!(!nix_nonblocking(&u));
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: getsockopt(TCP_INFO) writes 4 bytes, which tcp_info refuses"
)]
fn connect_timeout_times_out_against_a_full_backlog_and_restores_mode() {
    for domain in IP_DOMAINS {
        let full = FullListener::new(domain);
        let timeout = Duration::from_millis(300);
        for start_nonblocking in [false, true] {
            let c = if start_nonblocking {
                OwnedSocket::new_nonblocking(domain, Type::STREAM, Protocol::DEFAULT)
            } else {
                OwnedSocket::new(domain, Type::STREAM, Protocol::DEFAULT)
            }
            .unwrap();
            let t0 = Instant::now();
            let e = c.connect_timeout(&full.addr, timeout).unwrap_err();
            let took = t0.elapsed();
            assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
            assert_eq!(e.raw_os_error(), Some(libc::ETIMEDOUT));
            // The deadline is honoured: never early; and a hang guard.
            assert!(took >= timeout, "returned early: {took:?}");
            assert!(took < Duration::from_secs(60), "hung: {took:?}");
            assert_eq!(nix_nonblocking(&c), start_nonblocking);
            assert_eq!(c.nonblocking().unwrap(), start_nonblocking);
            // The handshake goes on in the kernel.
            assert_eq!(c.tcp_info().unwrap().state, TCP_SYN_SENT);
        }
        // The listener never accepted anything but the queued connection.
        drop(full.listener);
    }
}

#[test]
fn connect_timeout_reports_refusal_and_restores_mode() {
    for domain in IP_DOMAINS {
        let gone = closed_port(domain);
        for start_nonblocking in [false, true] {
            let c = if start_nonblocking {
                OwnedSocket::new_nonblocking(domain, Type::STREAM, Protocol::DEFAULT)
            } else {
                OwnedSocket::new(domain, Type::STREAM, Protocol::DEFAULT)
            }
            .unwrap();
            let e = c
                .connect_timeout(&gone, Duration::from_secs(10))
                .unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ECONNREFUSED), "{e}");
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
            assert_eq!(nix_nonblocking(&c), start_nonblocking);
        }
    }
}

#[test]
fn connect_timeout_restores_mode_after_an_immediate_failure() {
    // The connect call itself fails (no EINPROGRESS): family mismatch,
    // already connected, missing Unix path.
    let c = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    assert_errno(
        c.connect_timeout(&v6(1), Duration::from_secs(1)),
        libc::EAFNOSUPPORT,
    );
    assert!(!nix_nonblocking(&c));

    let (c, _s) = tcp_pair(Domain::IPV4);
    let peer = c.peer_addr().unwrap();
    assert_errno(
        c.connect_timeout(&peer, Duration::from_secs(1)),
        libc::EISCONN,
    );
    assert!(!nix_nonblocking(&c));

    let dir = TempDir::new("ct-missing");
    let u = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    assert_errno(
        u.connect_timeout(
            &SockAddr::unix(dir.join("none")).unwrap(),
            Duration::from_secs(1),
        ),
        libc::ENOENT,
    );
    assert!(!nix_nonblocking(&u));
}

#[test]
fn connect_timeout_refuses_a_zero_timeout() {
    let (_l, la) = tcp_listener(Domain::IPV4);
    let c = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    let e = c.connect_timeout(&la, Duration::ZERO).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(e.raw_os_error(), None);
    // Nothing happened to the socket: it is still unconnected and blocking.
    assert_errno(c.peer_addr(), libc::ENOTCONN);
    assert!(!nix_nonblocking(&c));
}

#[test]
fn connect_timeout_is_readable_by_a_waiting_peer() {
    // The connection made by connect_timeout is a normal one: the
    // listener becomes readable and the accepted socket talks back.
    let (l, la) = tcp_listener(Domain::IPV6);
    let c = OwnedSocket::new(Domain::IPV6, Type::STREAM, Protocol::DEFAULT).unwrap();
    c.connect_timeout(&la, Duration::from_secs(5)).unwrap();
    assert!(wait_for(&l, PollFlags::POLLIN, Duration::from_secs(5)).contains(PollFlags::POLLIN));
    let (s, peer) = l.accept().unwrap();
    assert_eq!(peer, c.local_addr().unwrap());
    s.send(b"hey").unwrap();
    assert_eq!(recv_n(&c, 3), b"hey");
}

/// shutdown(SHUT_RD) on a listening Unix stream socket is the fence a
/// stop needs (what `Program::drop_new_syns` is for TCP): new connects
/// are refused, so no client's connect succeeds after it, while those
/// already queued are accepted, data included, until EAGAIN.
#[test]
fn shutdown_read_fences_a_unix_listener_and_keeps_its_queue() {
    let dir = std::env::temp_dir().join(format!("baresock-fence-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("l.sock");
    let l = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    l.bind(&SockAddr::unix(&path).unwrap()).unwrap();
    l.listen(8).unwrap();
    let mut queued: Vec<UnixStream> = (0..3)
        .map(|i| {
            let mut c = UnixStream::connect(&path).unwrap();
            c.write_all(&[i]).unwrap();
            c
        })
        .collect();
    l.shutdown(baresock::Shutdown::Read).unwrap();
    let refused = UnixStream::connect(&path).unwrap_err();
    assert_eq!(refused.raw_os_error(), Some(libc::ECONNREFUSED));
    l.set_nonblocking(true).unwrap();
    for i in 0..3u8 {
        let (a, _) = l.accept().unwrap();
        let mut b = [0u8; 1];
        assert_eq!(a.recv(&mut b).unwrap(), 1);
        assert_eq!(b[0], i, "queued in order");
        a.send(&[i + 10]).unwrap();
        let mut back = [0u8; 1];
        queued[i as usize].read_exact(&mut back).unwrap();
        assert_eq!(back[0], i + 10);
    }
    assert_eq!(
        l.accept().unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
    drop(l);
    std::fs::remove_dir_all(&dir).unwrap();
}
