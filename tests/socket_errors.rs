//! Every errno listed in an `# Errors` section of `src/socket.rs`, provoked
//! on loopback, Unix sockets and socketpairs, and checked with
//! `raw_os_error()`.
//!
//! Tests that change process-wide state run as a child process (this test
//! binary re-executed with a child mode): EMFILE under a low
//! `RLIMIT_NOFILE`, EINTR with a signal handler installed without
//! `SA_RESTART`, EPERM/EACCES without privileges (a user namespace when run
//! as root). Routing errnos need a network namespace of their own (root;
//! ignored by default, run by `.ci/run` with `--ignored`).
#![allow(unsafe_code)] // sigaction, and adopting a File's fd as a socket

mod support;

use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Write};
use std::net::Shutdown;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, SockAddr, Type};
use nix::poll::PollFlags;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use support::*;

fn tcp(domain: Domain) -> OwnedSocket {
    OwnedSocket::new(domain, Type::STREAM, Protocol::DEFAULT).unwrap()
}

fn udp(domain: Domain) -> OwnedSocket {
    OwnedSocket::new(domain, Type::DGRAM, Protocol::DEFAULT).unwrap()
}

fn unix(ty: Type) -> OwnedSocket {
    OwnedSocket::new(Domain::UNIX, ty, Protocol::DEFAULT).unwrap()
}

/// Fills the send path of `s` (nonblocking sends until EAGAIN, bounded)
/// and returns how many bytes went in.
#[track_caller]
fn fill(s: &OwnedSocket) -> usize {
    let was = s.nonblocking().unwrap();
    s.set_nonblocking(true).unwrap();
    let chunk = [0u8; 65536];
    let mut total = 0;
    for _ in 0..10_000 {
        match s.send(&chunk) {
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                s.set_nonblocking(was).unwrap();
                return total;
            }
            Err(e) => panic!("fill: {e}"),
        }
    }
    panic!("the send buffer never filled ({total} bytes)");
}

/// A TCP pair whose client has been reset by the server (SO_LINGER 0,
/// then close: the kernel sends RST instead of FIN). Waits until the RST
/// has arrived (the client turns readable).
fn reset_pair(domain: Domain) -> OwnedSocket {
    let (c, s) = tcp_pair(domain);
    s.set_linger(Some(Duration::ZERO)).unwrap();
    drop(s);
    assert!(
        !wait_for(&c, PollFlags::POLLIN, Duration::from_secs(10)).is_empty(),
        "the reset never arrived"
    );
    c
}

// ---- socket(2) ----

#[test]
fn new_eafnosupport_for_an_unknown_family() {
    assert_errno(
        OwnedSocket::new(Domain::from(9999), Type::STREAM, Protocol::DEFAULT),
        libc::EAFNOSUPPORT,
    );
    assert_errno(
        OwnedSocket::new_nonblocking(Domain::from(9999), Type::DGRAM, Protocol::DEFAULT),
        libc::EAFNOSUPPORT,
    );
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: an unknown socket type gives ESOCKTNOSUPPORT, not EINVAL"
)]
fn new_einval_for_an_unknown_type_or_flag() {
    assert_errno(
        OwnedSocket::new(Domain::IPV4, Type::from(999), Protocol::DEFAULT),
        libc::EINVAL,
    );
    assert_errno(
        OwnedSocket::new(
            Domain::IPV4,
            Type::from(libc::SOCK_STREAM | 0x4000_0000),
            Protocol::DEFAULT,
        ),
        libc::EINVAL,
    );
}

#[test]
fn new_eprotonosupport_for_a_protocol_outside_the_domain() {
    assert_errno(
        OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::UDP),
        libc::EPROTONOSUPPORT,
    );
    assert_errno(
        OwnedSocket::new(Domain::IPV6, Type::DGRAM, Protocol::TCP),
        libc::EPROTONOSUPPORT,
    );
    assert_errno(
        OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::TCP),
        libc::EPROTONOSUPPORT,
    );
}

#[test]
fn new_esocktnosupport_for_a_type_the_family_lacks() {
    assert_errno(
        OwnedSocket::new(Domain::UNIX, Type::from(libc::SOCK_RDM), Protocol::DEFAULT),
        libc::ESOCKTNOSUPPORT,
    );
    assert_errno(
        OwnedSocket::new(Domain::NETLINK, Type::STREAM, Protocol::DEFAULT),
        libc::ESOCKTNOSUPPORT,
    );
}

// ---- socketpair(2) ----

#[test]
fn pair_eopnotsupp_for_ip_families() {
    for d in [Domain::IPV4, Domain::IPV6] {
        assert_errno(
            OwnedSocket::pair(d, Type::STREAM, Protocol::DEFAULT),
            libc::EOPNOTSUPP,
        );
        assert_errno(
            OwnedSocket::pair_nonblocking(d, Type::DGRAM, Protocol::DEFAULT),
            libc::EOPNOTSUPP,
        );
    }
}

#[test]
fn pair_eafnosupport_and_eprotonosupport() {
    assert_errno(
        OwnedSocket::pair(Domain::from(9999), Type::STREAM, Protocol::DEFAULT),
        libc::EAFNOSUPPORT,
    );
    assert_errno(
        OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::TCP),
        libc::EPROTONOSUPPORT,
    );
}

// ---- bind(2) ----

#[test]
fn bind_eaddrinuse_for_a_taken_port_or_an_existing_path() {
    for domain in [Domain::IPV4, Domain::IPV6] {
        let a = tcp(domain);
        a.bind(&loopback(domain)).unwrap();
        let b = tcp(domain);
        assert_errno(b.bind(&a.local_addr().unwrap()), libc::EADDRINUSE);
        let (u, ua) = udp_bound(domain);
        assert_errno(udp(domain).bind(&ua), libc::EADDRINUSE);
        drop(u);
    }
    let dir = TempDir::new("inuse");
    let path = SockAddr::unix(dir.join("s")).unwrap();
    unix(Type::STREAM).bind(&path).unwrap();
    // The socket file stays after its socket is gone.
    assert_errno(unix(Type::STREAM).bind(&path), libc::EADDRINUSE);
    File::create(dir.join("file")).unwrap();
    assert_errno(
        unix(Type::DGRAM).bind(&SockAddr::unix(dir.join("file")).unwrap()),
        libc::EADDRINUSE,
    );
    let name = SockAddr::unix_abstract(&abstract_name("inuse")).unwrap();
    let _held = unix(Type::DGRAM);
    _held.bind(&name).unwrap();
    assert_errno(unix(Type::DGRAM).bind(&name), libc::EADDRINUSE);
}

#[test]
fn bind_einval_when_already_bound_or_the_length_is_wrong() {
    let s = tcp(Domain::IPV4);
    s.bind(&v4(0)).unwrap();
    assert_errno(s.bind(&v4(0)), libc::EINVAL);
    let u = unix(Type::DGRAM);
    u.bind(&SockAddr::unix_abstract(&abstract_name("twice")).unwrap())
        .unwrap();
    assert_errno(
        u.bind(&SockAddr::unix_abstract(&abstract_name("twice")).unwrap()),
        libc::EINVAL,
    );
    // An AF_INET address cut to 8 bytes.
    let short = SockAddr::from_bytes(&v4(0).as_bytes()[..8]).unwrap();
    assert_errno(tcp(Domain::IPV4).bind(&short), libc::EINVAL);
    // An IPv6 or Unix socket given a (shorter) IPv4 address.
    assert_errno(tcp(Domain::IPV6).bind(&v4(0)), libc::EINVAL);
    assert_errno(unix(Type::STREAM).bind(&v4(0)), libc::EINVAL);
}

#[test]
fn bind_eafnosupport_for_another_family() {
    assert_errno(tcp(Domain::IPV4).bind(&v6(0)), libc::EAFNOSUPPORT);
    assert_errno(udp(Domain::IPV4).bind(&v6(0)), libc::EAFNOSUPPORT);
}

#[test]
fn bind_enoent_and_enotdir_for_a_bad_unix_directory() {
    let dir = TempDir::new("bind-dir");
    assert_errno(
        unix(Type::STREAM).bind(&SockAddr::unix(dir.join("missing/s")).unwrap()),
        libc::ENOENT,
    );
    File::create(dir.join("file")).unwrap();
    assert_errno(
        unix(Type::STREAM).bind(&SockAddr::unix(dir.join("file/s")).unwrap()),
        libc::ENOTDIR,
    );
}

// ---- listen(2) ----

#[test]
fn listen_eopnotsupp_on_datagram_sockets() {
    assert_errno(udp(Domain::IPV4).listen(1), libc::EOPNOTSUPP);
    assert_errno(udp(Domain::IPV6).listen(1), libc::EOPNOTSUPP);
    assert_errno(unix(Type::DGRAM).listen(1), libc::EOPNOTSUPP);
}

#[test]
fn listen_eaddrinuse_when_another_socket_listens_on_the_port() {
    // SO_REUSEADDR lets both bind the port; only one may listen on it.
    let a = tcp(Domain::IPV4);
    a.set_reuse_address(true).unwrap();
    a.bind(&v4(0)).unwrap();
    let addr = a.local_addr().unwrap();
    let b = tcp(Domain::IPV4);
    b.set_reuse_address(true).unwrap();
    b.bind(&addr).unwrap();
    a.listen(1).unwrap();
    assert_errno(b.listen(1), libc::EADDRINUSE);
}

#[test]
fn listen_einval_when_connected_or_an_unbound_unix_socket() {
    let (c, _s) = tcp_pair(Domain::IPV4);
    assert_errno(c.listen(1), libc::EINVAL);
    assert_errno(unix(Type::STREAM).listen(1), libc::EINVAL);
}

// ---- accept4(2) ----

#[test]
fn accept_eagain_on_an_empty_nonblocking_listener() {
    let (l, _) = tcp_listener(Domain::IPV4);
    l.set_nonblocking(true).unwrap();
    assert_errno(l.accept(), libc::EAGAIN);
    assert_errno(l.accept_nonblocking(), libc::EAGAIN);
    let e = l.accept().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);

    let u = unix(Type::STREAM);
    u.bind(&SockAddr::unix_abstract(&abstract_name("eagain")).unwrap())
        .unwrap();
    u.listen(1).unwrap();
    u.set_nonblocking(true).unwrap();
    assert_errno(u.accept(), libc::EAGAIN);
}

#[test]
fn accept_einval_on_a_socket_that_does_not_listen() {
    assert_errno(tcp(Domain::IPV4).accept(), libc::EINVAL);
    assert_errno(tcp(Domain::IPV6).accept_nonblocking(), libc::EINVAL);
    assert_errno(unix(Type::STREAM).accept(), libc::EINVAL);
}

#[test]
fn accept_eopnotsupp_on_datagram_sockets() {
    assert_errno(udp(Domain::IPV4).accept(), libc::EOPNOTSUPP);
    assert_errno(unix(Type::DGRAM).accept(), libc::EOPNOTSUPP);
}

#[test]
fn accept_returns_a_connection_reset_while_queued() {
    // POSIX allows ECONNABORTED here; Linux hands the connection over and
    // its first receive reports the reset (the doc says so).
    let (l, la) = tcp_listener(Domain::IPV4);
    let c = tcp(Domain::IPV4);
    c.connect(&la).unwrap();
    c.set_linger(Some(Duration::ZERO)).unwrap();
    let ca = c.local_addr().unwrap();
    drop(c);
    let (s, peer) = l.accept().unwrap();
    assert_eq!(peer, ca);
    assert!(!wait_for(&s, PollFlags::POLLIN, Duration::from_secs(10)).is_empty());
    assert_errno(s.recv(&mut [0; 1]), libc::ECONNRESET);
}

// ---- connect(2) ----

#[test]
fn connect_econnrefused_to_a_closed_port_or_a_dead_unix_path() {
    for domain in [Domain::IPV4, Domain::IPV6] {
        let e = tcp(domain).connect(&closed_port(domain)).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ECONNREFUSED));
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    }
    let dir = TempDir::new("refused");
    let path = SockAddr::unix(dir.join("s")).unwrap();
    unix(Type::STREAM).bind(&path).unwrap(); // bound, closed: the file stays
    assert_errno(unix(Type::STREAM).connect(&path), libc::ECONNREFUSED);
    // A socket of another type at the path refuses as well.
    let dgram = SockAddr::unix_abstract(&abstract_name("other-type")).unwrap();
    let d = unix(Type::DGRAM);
    d.bind(&dgram).unwrap();
    assert_errno(unix(Type::STREAM).connect(&dgram), libc::ECONNREFUSED);
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: getsockopt(TCP_INFO) writes 4 bytes, which tcp_info refuses"
)]
fn connect_einprogress_then_ealready_while_the_handshake_is_pending() {
    for domain in [Domain::IPV4, Domain::IPV6] {
        let full = FullListener::new(domain);
        let c = OwnedSocket::new_nonblocking(domain, Type::STREAM, Protocol::DEFAULT).unwrap();
        assert_errno(c.connect(&full.addr), libc::EINPROGRESS);
        assert_errno(c.connect(&full.addr), libc::EALREADY);
        assert_eq!(c.tcp_info().unwrap().state, TCP_SYN_SENT);
    }
}

#[test]
fn connect_eisconn_on_a_connected_socket() {
    let (c, _s) = tcp_pair(Domain::IPV6);
    assert_errno(c.connect(&c.peer_addr().unwrap()), libc::EISCONN);
    // A Unix stream pair end, connecting to a live listener.
    let (a, _b) = OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    let name = SockAddr::unix_abstract(&abstract_name("isconn")).unwrap();
    let l = unix(Type::STREAM);
    l.bind(&name).unwrap();
    l.listen(1).unwrap();
    assert_errno(a.connect(&name), libc::EISCONN);
}

#[test]
fn connect_again_after_a_completed_nonblocking_connect_succeeds_once_then_eisconn() {
    // The doc's Linux note: the first connect after a nonblocking
    // handshake completed reports success (and marks the socket
    // connected); only later ones answer EISCONN.
    let (_l, la) = tcp_listener(Domain::IPV4);
    let c = OwnedSocket::new_nonblocking(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    assert_errno(c.connect(&la), libc::EINPROGRESS);
    assert!(wait_for(&c, PollFlags::POLLOUT, Duration::from_secs(10)).contains(PollFlags::POLLOUT));
    c.connect(&la).unwrap();
    assert_errno(c.connect(&la), libc::EISCONN);
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: getsockopt(TCP_INFO) writes 4 bytes, which tcp_info refuses"
)]
fn connect_etimedout_when_the_handshake_gets_no_answer() {
    // The SYN is dropped by a listener whose accept queue is full; with
    // TCP_USER_TIMEOUT the kernel gives up at the first retransmission.
    let full = FullListener::new(Domain::IPV4);
    let c = tcp(Domain::IPV4);
    c.set_tcp_user_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let e = c.connect(&full.addr).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ETIMEDOUT), "{e}");
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
}

#[test]
fn connect_eafnosupport_for_another_family() {
    assert_errno(tcp(Domain::IPV4).connect(&v6(1)), libc::EAFNOSUPPORT);
    assert_errno(udp(Domain::IPV4).connect(&v6(1)), libc::EAFNOSUPPORT);
}

#[test]
fn connect_enoent_for_a_missing_unix_path() {
    let dir = TempDir::new("enoent");
    let missing = SockAddr::unix(dir.join("nobody")).unwrap();
    assert_errno(unix(Type::STREAM).connect(&missing), libc::ENOENT);
    assert_errno(unix(Type::DGRAM).connect(&missing), libc::ENOENT);
}

#[test]
fn connect_eagain_when_a_unix_listener_backlog_is_full() {
    let name = SockAddr::unix_abstract(&abstract_name("backlog")).unwrap();
    let l = unix(Type::STREAM);
    l.bind(&name).unwrap();
    l.listen(0).unwrap();
    let first = unix(Type::STREAM);
    first.connect(&name).unwrap();
    let second =
        OwnedSocket::new_nonblocking(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    assert_errno(second.connect(&name), libc::EAGAIN);
    // connect_timeout passes the same answer on at once.
    assert_errno(
        unix(Type::STREAM).connect_timeout(&name, Duration::from_secs(1)),
        libc::EAGAIN,
    );
}

// ---- connect_timeout ----

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: getsockopt(TCP_INFO) writes 4 bytes, which tcp_info refuses"
)]
fn connect_timeout_errors() {
    let c = tcp(Domain::IPV4);
    let e = c.connect_timeout(&v4(1), Duration::ZERO).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    let full = FullListener::new(Domain::IPV4);
    let e = c
        .connect_timeout(&full.addr, Duration::from_millis(50))
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ETIMEDOUT));
    assert_errno(
        tcp(Domain::IPV6).connect_timeout(&closed_port(Domain::IPV6), Duration::from_secs(5)),
        libc::ECONNREFUSED,
    );
}

// ---- getsockname(2), getpeername(2) ----

#[test]
fn local_addr_enotsock_on_an_adopted_non_socket() {
    let f = File::open("/proc/self/stat").unwrap();
    let s = OwnedSocket::from(OwnedFd::from(f));
    assert_errno(s.local_addr(), libc::ENOTSOCK);
    assert_errno(s.peer_addr(), libc::ENOTSOCK);
}

#[test]
fn peer_addr_enotconn_without_a_peer() {
    assert_errno(tcp(Domain::IPV4).peer_addr(), libc::ENOTCONN);
    let (l, _) = tcp_listener(Domain::IPV6);
    assert_errno(l.peer_addr(), libc::ENOTCONN);
    assert_errno(udp(Domain::IPV4).peer_addr(), libc::ENOTCONN);
    assert_errno(unix(Type::STREAM).peer_addr(), libc::ENOTCONN);
    // After a failed connection.
    let c = tcp(Domain::IPV4);
    c.connect(&closed_port(Domain::IPV4)).unwrap_err();
    assert_errno(c.peer_addr(), libc::ENOTCONN);
}

// ---- shutdown(2) ----

#[test]
fn shutdown_enotconn_without_a_connection() {
    for how in [Shutdown::Read, Shutdown::Write, Shutdown::Both] {
        assert_errno(tcp(Domain::IPV4).shutdown(how), libc::ENOTCONN);
        assert_errno(udp(Domain::IPV6).shutdown(how), libc::ENOTCONN);
        // Linux's AF_UNIX checks nothing: an unconnected socket accepts
        // shutdown (the doc says so).
        unix(Type::STREAM).shutdown(how).unwrap();
    }
}

// ---- sendto(2), sendmsg(2) ----

#[test]
fn send_epipe_after_shutdown_write() {
    for domain in [Domain::IPV4, Domain::IPV6] {
        let (c, _s) = tcp_pair(domain);
        c.shutdown(Shutdown::Write).unwrap();
        assert_errno(c.send(b"x"), libc::EPIPE);
        assert_errno(c.send_with_flags(b"x", MsgFlags::NONE), libc::EPIPE);
        assert_errno(c.send_vectored(&[IoSlice::new(b"x")]), libc::EPIPE);
        assert_errno((&c).write(b"x"), libc::EPIPE);
    }
    let (a, _b) = OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    a.shutdown(Shutdown::Write).unwrap();
    assert_errno(a.send(b"x"), libc::EPIPE);
    // An unconnected TCP socket answers EPIPE too (not ENOTCONN).
    assert_errno(tcp(Domain::IPV4).send(b"x"), libc::EPIPE);
}

#[test]
fn send_econnreset_after_the_peer_reset() {
    for domain in [Domain::IPV4, Domain::IPV6] {
        let c = reset_pair(domain);
        assert_errno(c.send(b"x"), libc::ECONNRESET);
        // The error is reported once; the connection is gone after it.
        assert_errno(c.send(b"x"), libc::EPIPE);
    }
}

#[test]
fn send_eagain_when_the_buffer_is_full() {
    let (c, _s) = tcp_pair(Domain::IPV4);
    fill(&c);
    assert_errno(c.send_with_flags(b"x", MsgFlags::DONTWAIT), libc::EAGAIN);
    let (a, _b) =
        OwnedSocket::pair_nonblocking(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    fill(&a);
    assert_errno(a.send(b"x"), libc::EAGAIN);
    assert_errno(a.send_vectored(&[IoSlice::new(b"x")]), libc::EAGAIN);
}

#[test]
fn send_enotconn_and_edestaddrreq_without_a_destination() {
    assert_errno(unix(Type::STREAM).send(b"x"), libc::ENOTCONN);
    assert_errno(unix(Type::SEQPACKET).send(b"x"), libc::ENOTCONN);
    assert_errno(udp(Domain::IPV4).send(b"x"), libc::EDESTADDRREQ);
    assert_errno(udp(Domain::IPV6).send(b"x"), libc::EDESTADDRREQ);
    assert_errno(unix(Type::DGRAM).send(b"x"), libc::ENOTCONN);
}

#[test]
fn send_emsgsize_for_an_oversized_datagram() {
    let (_p, pa) = udp_bound(Domain::IPV4);
    let big = vec![0u8; 70_000];
    assert_errno(udp(Domain::IPV4).send_to(&big, &pa), libc::EMSGSIZE);
    let (a, _b) = OwnedSocket::pair(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
    assert_errno(a.send(&vec![0u8; 1 << 24]), libc::EMSGSIZE);
}

#[test]
fn send_and_recv_econnrefused_on_connected_udp_after_port_unreachable() {
    // The first datagram goes out; the ICMP port unreachable it earns
    // (generated locally, on loopback) is reported by a later call.
    for domain in [Domain::IPV4, Domain::IPV6] {
        let u = udp(domain);
        u.connect(&closed_port(domain)).unwrap();
        let mut got = None;
        for _ in 0..100 {
            match u.send(b"x") {
                Ok(_) => thread::sleep(Duration::from_millis(10)),
                Err(e) => {
                    got = e.raw_os_error();
                    break;
                }
            }
        }
        assert_eq!(got, Some(libc::ECONNREFUSED));

        let u = udp(domain);
        u.connect(&closed_port(domain)).unwrap();
        u.send(b"x").unwrap();
        assert!(!wait_for(&u, PollFlags::POLLIN, Duration::from_secs(10)).is_empty());
        assert_errno(u.recv(&mut [0; 1]), libc::ECONNREFUSED);
    }
}

#[test]
fn send_with_flags_eopnotsupp_for_oob_on_udp() {
    let (_p, pa) = udp_bound(Domain::IPV4);
    let u = udp(Domain::IPV4);
    u.connect(&pa).unwrap();
    assert_errno(u.send_with_flags(b"x", MsgFlags::OOB), libc::EOPNOTSUPP);
    assert_errno(
        u.send_to_with_flags(b"x", &pa, MsgFlags::OOB),
        libc::EOPNOTSUPP,
    );
}

#[test]
fn send_to_eafnosupport_for_another_family() {
    assert_errno(udp(Domain::IPV4).send_to(b"x", &v6(9)), libc::EAFNOSUPPORT);
    assert_errno(
        udp(Domain::IPV4).send_to_vectored(&[IoSlice::new(b"x")], &v6(9)),
        libc::EAFNOSUPPORT,
    );
}

#[test]
fn send_to_eacces_for_broadcast_without_so_broadcast() {
    let bcast = sa("127.255.255.255:9");
    let u = udp(Domain::IPV4);
    assert_errno(u.send_to(b"x", &bcast), libc::EACCES);
    // With SO_BROADCAST the kernel takes it (loopback only).
    u.set_broadcast(true).unwrap();
    assert_eq!(u.send_to(b"x", &bcast).unwrap(), 1);
}

#[test]
fn send_to_eisconn_on_a_connected_unix_stream() {
    let (a, _b) = OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    let name = SockAddr::unix_abstract(&abstract_name("eisconn")).unwrap();
    assert_errno(a.send_to(b"x", &name), libc::EISCONN);
    // Unconnected, a Unix stream socket refuses an address outright.
    assert_errno(unix(Type::STREAM).send_to(b"x", &name), libc::EOPNOTSUPP);
}

#[test]
fn send_to_enoent_and_econnrefused_for_a_unix_datagram_path_without_socket() {
    let dir = TempDir::new("dgram-dest");
    let u = unix(Type::DGRAM);
    assert_errno(
        u.send_to(b"x", &SockAddr::unix(dir.join("missing")).unwrap()),
        libc::ENOENT,
    );
    let dead = SockAddr::unix(dir.join("dead")).unwrap();
    unix(Type::DGRAM).bind(&dead).unwrap();
    assert_errno(u.send_to(b"x", &dead), libc::ECONNREFUSED);
}

#[test]
fn vectored_calls_emsgsize_for_more_than_iov_max_buffers() {
    let (a, b) = OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    let one = [0u8; 1];
    let slices: Vec<IoSlice<'_>> = (0..1025).map(|_| IoSlice::new(&one)).collect();
    assert_errno(a.send_vectored(&slices), libc::EMSGSIZE);
    assert_errno(
        a.send_vectored_with_flags(&slices, MsgFlags::NONE),
        libc::EMSGSIZE,
    );
    // Exactly IOV_MAX is fine.
    assert_eq!(a.send_vectored(&slices[..1024]).unwrap(), 1024);
    let mut bufs: Vec<[u8; 1]> = vec![[0]; 1025];
    let mut iov: Vec<IoSliceMut<'_>> = bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
    assert_errno(b.recv_vectored(&mut iov), libc::EMSGSIZE);
    assert_errno(b.recv_from_vectored(&mut iov), libc::EMSGSIZE);
    let (n, _) = b.recv_vectored(&mut iov[..1024]).unwrap();
    assert_eq!(n, 1024);
}

// ---- recvfrom(2), recvmsg(2) ----

#[test]
fn recv_eagain_when_nothing_is_queued() {
    let (a, _b) =
        OwnedSocket::pair_nonblocking(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
    let mut buf = [0u8; 4];
    assert_errno(a.recv(&mut buf), libc::EAGAIN);
    assert_errno(a.peek(&mut buf), libc::EAGAIN);
    assert_errno(a.recv_from(&mut buf), libc::EAGAIN);
    assert_errno(a.peek_from(&mut buf), libc::EAGAIN);
    assert_errno(
        a.recv_vectored(&mut [IoSliceMut::new(&mut buf)]),
        libc::EAGAIN,
    );
    let (c, _s) = tcp_pair(Domain::IPV4);
    assert_errno(
        c.recv_with_flags(&mut buf, MsgFlags::DONTWAIT),
        libc::EAGAIN,
    );
    // SO_RCVTIMEO expiring reads the same.
    c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    assert_errno(c.recv(&mut buf), libc::EAGAIN);
}

#[test]
fn recv_econnreset_after_the_peer_reset() {
    for domain in [Domain::IPV4, Domain::IPV6] {
        let c = reset_pair(domain);
        assert_errno(c.recv(&mut [0; 1]), libc::ECONNRESET);
        // Reported once: afterwards the stream reads as ended.
        assert_eq!(c.recv(&mut [0; 1]).unwrap(), 0);
    }
}

#[test]
fn recv_enotconn_on_an_unconnected_stream() {
    assert_errno(tcp(Domain::IPV4).recv(&mut [0; 1]), libc::ENOTCONN);
    let (l, _) = tcp_listener(Domain::IPV4);
    assert_errno(l.recv(&mut [0; 1]), libc::ENOTCONN);
    assert_errno(unix(Type::STREAM).recv(&mut [0; 1]), libc::EINVAL);
}

#[test]
fn recv_with_flags_einval_for_oob_without_urgent_data() {
    let (c, s) = tcp_pair(Domain::IPV4);
    assert_errno(s.recv_with_flags(&mut [0; 1], MsgFlags::OOB), libc::EINVAL);
    // With urgent data pending, MSG_OOB reads it.
    c.send_with_flags(b"!", MsgFlags::OOB).unwrap();
    let mut got = None;
    for _ in 0..100 {
        match s.recv_with_flags(&mut [0; 1], MsgFlags::OOB) {
            Ok(n) => {
                got = Some(n);
                break;
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got, Some(1));
}

// ---- EMFILE (child: lowers RLIMIT_NOFILE) ----

#[test]
fn emfile_from_every_fd_making_call() {
    const NAME: &str = "emfile_from_every_fd_making_call";
    if !is_child(NAME) {
        run_child(NAME);
        return;
    }
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let before = fd_table();
    let (l, la) = tcp_listener(Domain::IPV4);
    let queued = tcp(Domain::IPV4);
    queued.connect(&la).unwrap();
    let spare = unix(Type::DGRAM);
    // Inherited fds (a jobserver's, say) may sit high: the limit is set
    // just above the highest, and every free slot below it is filled.
    let highest = *fd_table().keys().max().unwrap() as libc::rlim_t;
    let limit = highest + 1 + 8;
    setrlimit(Resource::RLIMIT_NOFILE, limit, hard).unwrap();

    // socket(): fill every free slot until the kernel says EMFILE.
    let mut fillers = Vec::new();
    let mut first_emfile = None;
    for _ in 0..=limit {
        match OwnedSocket::new(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT) {
            Ok(s) => fillers.push(s),
            Err(e) => {
                first_emfile = e.raw_os_error();
                break;
            }
        }
    }
    assert_eq!(first_emfile, Some(libc::EMFILE));
    assert!(!fillers.is_empty());
    assert_errno(
        OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT),
        libc::EMFILE,
    );
    assert_errno(
        OwnedSocket::new_nonblocking(Domain::IPV6, Type::DGRAM, Protocol::DEFAULT),
        libc::EMFILE,
    );
    assert_errno(spare.try_clone(), libc::EMFILE);
    assert_errno(l.accept(), libc::EMFILE);
    assert_errno(l.accept_nonblocking(), libc::EMFILE);
    assert_errno(
        OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT),
        libc::EMFILE,
    );

    // One free slot: a socketpair needs two.
    drop(fillers.pop());
    assert_errno(
        OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT),
        libc::EMFILE,
    );
    assert_errno(
        OwnedSocket::pair_nonblocking(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT),
        libc::EMFILE,
    );
    // The connection stayed queued through the EMFILEs: it is accepted now.
    let (s, peer) = l.accept().unwrap();
    assert_eq!(peer, queued.local_addr().unwrap());
    queued.send(b"ok").unwrap();
    assert_eq!(s.recv(&mut [0; 2]).unwrap(), 2);

    drop((s, fillers, spare, queued, l));
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();
    assert_eq!(fd_table(), before);
}

// ---- EPERM / EACCES (child without privileges) ----

const LOCKED_DIR_ENV: &str = "BARESOCK_TEST_LOCKED_DIR";

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: scripts/qemu-test's user namespace; root there cannot switch uids or claim others' credentials as on the host"
)]
fn eperm_and_eacces_without_privileges() {
    const NAME: &str = "eperm_and_eacces_without_privileges";
    if !is_child(NAME) {
        /// Gives the directory its search permission back, even when the
        /// child fails, so the TempDir can remove it.
        struct Unlock(std::path::PathBuf);
        impl Drop for Unlock {
            fn drop(&mut self) {
                let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o700));
            }
        }
        let dir = TempDir::new("locked");
        let locked = dir.join("locked");
        std::fs::create_dir(&locked).unwrap();
        let _unlock = Unlock(locked.clone());
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        run_child_unprivileged(NAME, |c| {
            c.env(LOCKED_DIR_ENV, &locked);
        });
        return;
    }
    // socket(): a raw socket needs CAP_NET_RAW (Linux answers EPERM).
    assert_errno(
        OwnedSocket::new(Domain::IPV4, Type::RAW, Protocol::ICMPV4),
        libc::EPERM,
    );
    assert_errno(
        OwnedSocket::new(Domain::IPV6, Type::RAW, Protocol::ICMPV6),
        libc::EPERM,
    );
    // bind(): a port below 1024 needs CAP_NET_BIND_SERVICE.
    let start: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        start > 1,
        "ip_unprivileged_port_start is {start}: every port is open to all"
    );
    assert_errno(tcp(Domain::IPV4).bind(&v4(1)), libc::EACCES);
    assert_errno(udp(Domain::IPV6).bind(&v6(1)), libc::EACCES);
    // bind(): no search permission on the path's directory.
    let locked = std::path::PathBuf::from(std::env::var_os(LOCKED_DIR_ENV).unwrap());
    assert_errno(
        unix(Type::STREAM).bind(&SockAddr::unix(locked.join("s")).unwrap()),
        libc::EACCES,
    );
    assert_errno(
        unix(Type::STREAM).connect(&SockAddr::unix(locked.join("s")).unwrap()),
        libc::EACCES,
    );
}

// ---- EINTR (child: a SIGUSR1 handler without SA_RESTART) ----

extern "C" fn on_sigusr1(_: libc::c_int) {}

/// Runs `f` on a thread and sends that thread SIGUSR1 every 10 ms until
/// `f` returns (at most 5 s of signals), then returns `f`'s result.
fn interrupted<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let (tx, rx) = mpsc::channel();
    let h = thread::spawn(move || {
        // pthread_t is an integer in glibc and a pointer in musl: it
        // crosses threads as a number.
        tx.send(nix::sys::pthread::pthread_self() as usize).unwrap();
        f()
    });
    let tid = rx.recv().unwrap();
    for _ in 0..500 {
        thread::sleep(Duration::from_millis(10));
        if h.is_finished() {
            break;
        }
        // The thread is not joined yet, so its id is still valid.
        let _ = nix::sys::pthread::pthread_kill(tid as libc::pthread_t, Signal::SIGUSR1);
    }
    assert!(h.is_finished(), "the call was never interrupted");
    h.join().unwrap()
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: getsockopt(TCP_INFO) writes 4 bytes, which tcp_info refuses"
)]
fn eintr_from_every_blocking_call() {
    const NAME: &str = "eintr_from_every_blocking_call";
    if !is_child(NAME) {
        run_child(NAME);
        return;
    }
    let act = SigAction::new(
        SigHandler::Handler(on_sigusr1),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler does nothing, so it is async-signal-safe; this
    // child process owns its signal dispositions.
    unsafe { sigaction(Signal::SIGUSR1, &act) }.unwrap();

    let is_eintr = |r: io::Result<()>| {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Interrupted, "{e}");
        assert_eq!(e.raw_os_error(), Some(libc::EINTR));
    };

    // accept on a blocking listener with nothing queued.
    let (l, _) = tcp_listener(Domain::IPV4);
    let l = Arc::new(l);
    let l2 = l.clone();
    is_eintr(interrupted(move || l2.accept().map(drop)));
    let l2 = l.clone();
    is_eintr(interrupted(move || l2.accept_nonblocking().map(drop)));

    // connect blocked in the handshake; the handshake carries on in the
    // kernel: a second connect finds it still in progress.
    let full = FullListener::new(Domain::IPV4);
    let c = Arc::new(tcp(Domain::IPV4));
    let (c2, addr) = (c.clone(), full.addr);
    is_eintr(interrupted(move || c2.connect(&addr)));
    c.set_nonblocking(true).unwrap();
    assert_errno(c.connect(&full.addr), libc::EALREADY);

    // connect_timeout retries its interrupted wait and keeps its deadline.
    let c = tcp(Domain::IPV4);
    let timeout = Duration::from_millis(300);
    let t0 = Instant::now();
    let r = interrupted(move || c.connect_timeout(&addr, timeout));
    let e = r.unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ETIMEDOUT), "{e}");
    assert!(t0.elapsed() >= timeout);

    // recv, recv_from, recv_vectored, peek with nothing to read.
    let (a, b) = OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    let b = Arc::new(b);
    let b2 = b.clone();
    is_eintr(interrupted(move || b2.recv(&mut [0; 1]).map(drop)));
    let b2 = b.clone();
    is_eintr(interrupted(move || b2.recv_from(&mut [0; 1]).map(drop)));
    let b2 = b.clone();
    is_eintr(interrupted(move || b2.peek(&mut [0; 1]).map(drop)));
    let b2 = b.clone();
    is_eintr(interrupted(move || {
        b2.recv_vectored(&mut [IoSliceMut::new(&mut [0; 1])])
            .map(drop)
    }));

    // send and send_vectored into a full buffer.
    fill(&a);
    let a = Arc::new(a);
    let a2 = a.clone();
    is_eintr(interrupted(move || a2.send(b"x").map(drop)));
    let a2 = a.clone();
    is_eintr(interrupted(move || {
        a2.send_vectored(&[IoSlice::new(b"x")]).map(drop)
    }));
    drop(b);

    // close: Linux never reports EINTR for a socket, not even when a
    // signal cuts a lingering close short.
    let (c, s) = tcp_pair(Domain::IPV4);
    fill(&c);
    c.set_linger(Some(Duration::from_secs(5))).unwrap();
    let r = interrupted(move || c.close());
    r.unwrap();
    drop(s);
}

// ---- routing errnos (child in a network namespace of its own; root) ----

#[test]
#[ignore = "needs root: makes a network namespace"]
fn netns_enetunreach_ehostunreach_eaddrnotavail() {
    const NAME: &str = "netns_enetunreach_ehostunreach_eaddrnotavail";
    if !is_child(NAME) {
        run_child_in_netns(NAME);
        return;
    }
    assert_in_own_netns();
    // A new namespace has only lo, and it is down: no route anywhere, and
    // ::1 is not configured.
    assert_errno(tcp(Domain::IPV4).connect(&v4(9)), libc::ENETUNREACH);
    assert_errno(udp(Domain::IPV4).send_to(b"x", &v4(9)), libc::ENETUNREACH);
    assert_errno(tcp(Domain::IPV6).bind(&v6(0)), libc::EADDRNOTAVAIL);

    ip(&["link", "set", "lo", "up"]);
    // An "unreachable" route inside 127/8: the kernel answers
    // EHOSTUNREACH locally; no interface but lo exists here.
    ip(&[
        "route",
        "add",
        "unreachable",
        "127.1.0.0/16",
        "table",
        "local",
    ]);
    assert_errno(
        tcp(Domain::IPV4).connect(&sa("127.1.0.1:9")),
        libc::EHOSTUNREACH,
    );
    assert_errno(
        udp(Domain::IPV4).send_to(b"x", &sa("127.1.0.1:9")),
        libc::EHOSTUNREACH,
    );

    // No ephemeral port left: connect answers EADDRNOTAVAIL. The port
    // range is per namespace.
    std::fs::write("/proc/sys/net/ipv4/ip_local_port_range", "40000 40001").unwrap();
    let (_l, la) = tcp_listener(Domain::IPV4);
    let mut held = Vec::new();
    let mut last = None;
    for _ in 0..4 {
        let c = tcp(Domain::IPV4);
        match c.connect(&la) {
            Ok(()) => held.push(c),
            Err(e) => {
                last = e.raw_os_error();
                break;
            }
        }
    }
    assert_eq!(last, Some(libc::EADDRNOTAVAIL));
    // bind to port 0 with no free port answers EADDRINUSE instead.
    assert_errno(tcp(Domain::IPV4).bind(&v4(0)), libc::EADDRINUSE);
}

#[test]
fn enetunreach_child_refuses_the_host_namespace() {
    // The guard itself: run in the parent's namespace, the check fails.
    const NAME: &str = "enetunreach_child_refuses_the_host_namespace";
    if !is_child(NAME) {
        let mut cmd = child_command(NAME);
        cmd.env("BARESOCK_TEST_PARENT_NETNS", current_netns());
        let out = run_bounded(cmd);
        assert!(
            !out.status.success(),
            "the guard let a child on the host network"
        );
        assert!(
            out.stderr.contains("refusing to touch the host network"),
            "{}",
            out.stderr
        );
        return;
    }
    assert_in_own_netns();
    panic!("unreachable: the guard should have failed first");
}

#[test]
fn fd_of_a_file_is_not_a_socket() {
    // as used by local_addr_enotsock_on_an_adopted_non_socket; here the
    // send path: sendto on a regular file is ENOTSOCK as well.
    let f = File::open("/proc/self/stat").unwrap();
    let raw = f.as_raw_fd();
    let s = OwnedSocket::from(OwnedFd::from(f));
    assert_eq!(s.as_raw_fd(), raw);
    assert_errno(s.send(b"x"), libc::ENOTSOCK);
}
