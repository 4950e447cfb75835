//! One syscall per call, counted: every `OwnedSocket` method makes exactly
//! the syscall its doc names (nonblocking variants add no `fcntl`, vectored
//! sends are `sendmsg`, never `writev`), conversions make none, and bad
//! input is refused before any syscall. The counters are thread-local, so
//! parallel tests do not disturb each other.
#![cfg(feature = "stats")]

mod support;

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::time::Duration;

use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, SockAddr, Syscall, Type, stats};
use support::*;

/// Runs `f` and asserts it made exactly the syscalls in `want` (by kind and
/// count) and nothing else.
#[track_caller]
fn assert_calls<T>(want: &[(Syscall, u64)], f: impl FnOnce() -> T) -> T {
    stats::reset();
    let r = f();
    let snap = stats::snapshot();
    let mut expect = [0u64; Syscall::COUNT];
    for &(call, n) in want {
        expect[call as usize] += n;
    }
    // Compared by index: the enum grows as the crate does, so the message
    // names the expected calls and shows the counters that differ.
    let differ: Vec<(usize, u64, u64)> = (0..Syscall::COUNT)
        .filter(|&i| snap[i] != expect[i])
        .map(|i| (i, snap[i], expect[i]))
        .collect();
    assert!(
        differ.is_empty(),
        "expected {want:?}; counters that differ (index, got, want): {differ:?}"
    );
    r
}

#[test]
fn each_call_is_the_one_syscall_it_names() {
    use Syscall::*;
    let s = assert_calls(&[(Socket, 1)], || {
        OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap()
    });
    let n = assert_calls(&[(Socket, 1)], || {
        OwnedSocket::new_nonblocking(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap()
    });
    let (a, b) = assert_calls(&[(Socketpair, 1)], || {
        OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap()
    });
    let (c, d) = assert_calls(&[(Socketpair, 1)], || {
        OwnedSocket::pair_nonblocking(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap()
    });
    assert_calls(&[(Bind, 1)], || s.bind(&v4(0)).unwrap());
    assert_calls(&[(Listen, 1)], || s.listen(4).unwrap());
    let la = assert_calls(&[(Getsockname, 1)], || s.local_addr().unwrap());
    let cl = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    assert_calls(&[(Connect, 1)], || cl.connect(&la).unwrap());
    let (acc, _) = assert_calls(&[(Accept4, 1)], || s.accept().unwrap());
    let cl2 = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    cl2.connect(&la).unwrap();
    let (acc2, _) = assert_calls(&[(Accept4, 1)], || s.accept_nonblocking().unwrap());
    assert_calls(&[(Getpeername, 1)], || acc.peer_addr().unwrap());

    let mut buf = [0u8; 8];
    let mut ubuf = [MaybeUninit::<u8>::uninit(); 8];
    let x = IoSlice::new(b"x");
    assert_calls(&[(Sendto, 1)], || a.send(b"x").unwrap());
    assert_calls(&[(Sendto, 1)], || {
        a.send_with_flags(b"x", MsgFlags::NONE).unwrap()
    });
    assert_calls(&[(Sendmsg, 1)], || a.send_vectored(&[x, x]).unwrap());
    assert_calls(&[(Sendmsg, 1)], || {
        a.send_vectored_with_flags(&[x], MsgFlags::NONE).unwrap()
    });
    assert_calls(&[(Sendto, 1)], || {
        std::io::Write::write(&mut &a, b"x").unwrap()
    });
    assert_calls(&[(Sendmsg, 1)], || {
        std::io::Write::write_vectored(&mut &a, &[x]).unwrap()
    });
    assert_calls(&[], || std::io::Write::flush(&mut &a).unwrap());
    assert_calls(&[(Recvfrom, 1)], || b.peek(&mut buf).unwrap());
    assert_calls(&[(Recvfrom, 1)], || b.recv(&mut buf[..1]).unwrap());
    assert_calls(&[(Recvfrom, 1)], || {
        b.recv_with_flags(&mut buf[..1], MsgFlags::NONE).unwrap()
    });
    assert_calls(&[(Recvfrom, 1)], || {
        b.recv_uninit(&mut ubuf[..1], MsgFlags::NONE).unwrap().0
    });
    assert_calls(&[(Recvmsg, 1)], || {
        b.recv_vectored(&mut [IoSliceMut::new(&mut buf[..1])])
            .unwrap()
    });
    assert_calls(&[(Recvmsg, 1)], || {
        b.recv_vectored_with_flags(&mut [IoSliceMut::new(&mut buf[..1])], MsgFlags::NONE)
            .unwrap()
    });
    assert_calls(&[(Recvfrom, 1)], || {
        std::io::Read::read(&mut &b, &mut buf[..1]).unwrap()
    });
    assert_calls(&[(Recvmsg, 1)], || {
        std::io::Read::read_vectored(&mut &b, &mut [IoSliceMut::new(&mut buf[..1])]).unwrap()
    });

    let (u, ua) = udp_bound(Domain::IPV4);
    let (v, va) = udp_bound(Domain::IPV4);
    assert_calls(&[(Sendto, 1)], || u.send_to(b"x", &va).unwrap());
    assert_calls(&[(Sendto, 1)], || {
        u.send_to_with_flags(b"x", &va, MsgFlags::NONE).unwrap()
    });
    assert_calls(&[(Sendmsg, 1)], || u.send_to_vectored(&[x], &va).unwrap());
    assert_calls(&[(Sendto, 1)], || u.send_to(b"x", &va).unwrap());
    assert_calls(&[(Sendto, 1)], || u.send_to(b"x", &va).unwrap());
    assert_calls(&[(Recvfrom, 1)], || v.peek_from(&mut buf).unwrap());
    assert_calls(&[(Recvfrom, 1)], || v.recv_from(&mut buf).unwrap());
    assert_calls(&[(Recvfrom, 1)], || {
        v.recv_from_with_flags(&mut buf, MsgFlags::NONE).unwrap()
    });
    assert_calls(&[(Recvfrom, 1)], || {
        v.recv_from_uninit(&mut ubuf, MsgFlags::NONE).unwrap().0
    });
    let (_, _, from) = assert_calls(&[(Recvmsg, 1)], || {
        v.recv_from_vectored(&mut [IoSliceMut::new(&mut buf)])
            .unwrap()
    });
    assert_eq!(from, ua);

    assert_calls(&[(Shutdown, 1)], || {
        cl.shutdown(std::net::Shutdown::Write).unwrap()
    });
    assert_calls(&[(Fcntl, 1)], || n.nonblocking().unwrap());
    assert_calls(&[(Fcntl, 2)], || n.set_nonblocking(false).unwrap());
    assert_calls(&[(Fcntl, 1)], || n.set_nonblocking(false).unwrap());
    assert_calls(&[(Fcntl, 1)], || n.cloexec().unwrap());
    assert_calls(&[(Fcntl, 2)], || n.set_cloexec(true).unwrap());
    let dup = assert_calls(&[(Fcntl, 1)], || n.try_clone().unwrap());
    assert_calls(&[(Close, 1)], || dup.close().unwrap());
    assert_calls(&[(Close, 1)], move || drop(n));
    assert_calls(&[(Close, 2)], move || drop((c, d)));
    drop((s, cl, cl2, acc, acc2, a, b, u, v));
}

#[test]
fn conversions_make_no_syscall() {
    let s = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    let (l, la) = tcp_listener(Domain::IPV4);
    let std_c = TcpStream::connect(std::net::SocketAddr::try_from(la).unwrap()).unwrap();
    let (acc, _) = l.accept().unwrap();
    let kept = assert_calls(&[], move || {
        let fd: OwnedFd = s.into();
        let s = OwnedSocket::from(fd);
        let t: TcpStream = s.into();
        let s = OwnedSocket::from(t);
        let l: std::net::TcpListener = l.into();
        let l = OwnedSocket::from(l);
        let u: std::net::UdpSocket = acc.into();
        let acc = OwnedSocket::from(u);
        let us: std::os::unix::net::UnixStream = OwnedSocket::from(std_c).into();
        let ul: std::os::unix::net::UnixListener = OwnedSocket::from(us).into();
        let ud: std::os::unix::net::UnixDatagram = OwnedSocket::from(ul).into();
        let back = OwnedSocket::from(ud);
        (s, l, acc, back)
    });
    drop(kept);
}

#[test]
fn bad_input_is_refused_before_any_syscall() {
    let c = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    assert_calls(&[], || {
        let e = c.connect_timeout(&v4(1), Duration::ZERO).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        let e = SockAddr::unix("p".repeat(109)).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        let e = SockAddr::unix("a\0b").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        let e = SockAddr::unix_abstract(&[0; 108]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    });
}

#[test]
fn connect_timeout_counts_its_syscalls_and_rounds_its_wait_up() {
    use Syscall::*;
    let (_l, la) = tcp_listener(Domain::IPV4);
    let c = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    // F_GETFL, F_SETFL (nonblocking), connect (EINPROGRESS), poll,
    // getsockopt(SO_ERROR), getpeername, F_SETFL (restore).
    assert_calls(
        &[
            (Fcntl, 3),
            (Connect, 1),
            (Poll, 1),
            (Getsockopt, 1),
            (Getpeername, 1),
        ],
        || {
            c.connect_timeout(&la, Duration::from_micros(10_000_500))
                .unwrap()
        },
    );
    // 10.0005 s reaches the kernel as 10001 ms: rounded up, never down.
    assert_eq!(
        stats::last_timeout(),
        Some(Some(Duration::from_millis(10_001)))
    );
    // A socket already nonblocking is not switched, nor restored.
    let n = OwnedSocket::new_nonblocking(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    assert_calls(
        &[
            (Fcntl, 1),
            (Connect, 1),
            (Poll, 1),
            (Getsockopt, 1),
            (Getpeername, 1),
        ],
        || n.connect_timeout(&la, Duration::from_secs(10)).unwrap(),
    );
    // Refused: the error comes from SO_ERROR; the mode is restored.
    let r = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    let gone = closed_port(Domain::IPV4);
    let e = assert_calls(
        &[(Fcntl, 3), (Connect, 1), (Poll, 1), (Getsockopt, 1)],
        || {
            r.connect_timeout(&gone, Duration::from_secs(10))
                .unwrap_err()
        },
    );
    assert_eq!(e.raw_os_error(), Some(libc::ECONNREFUSED));
}
