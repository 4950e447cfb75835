//! Exact syscall counts of the socket calls the benchmarks lean on
//! (issue 7), through the `stats` feature's thread-local counters:
//! - accept churn — a client's `socket` + `connect` + `send`, and a
//!   server's epoll loop that accepts nonblocking, registers, echoes,
//!   deregisters and closes — makes no `fcntl` at all: nonblocking and
//!   close-on-exec come from `socket` and `accept4` flags;
//! - a blocking `send` or `recv` through `OwnedSocket` (or its `Read` and
//!   `Write`) is exactly one syscall.
#![cfg(feature = "stats")]

use baresock::poll::{Epoll, Events, Interest, Poller, Token};
use baresock::stats;
use baresock::{Domain, OwnedSocket, Protocol, SockAddr, Syscall, Type};
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsFd;
use std::time::Duration;

/// The syscalls `f` made on this thread, every kind of the crate's.
fn cost<T>(f: impl FnOnce() -> T) -> (T, [u64; Syscall::COUNT]) {
    let before = stats::snapshot();
    let out = f();
    let after = stats::snapshot();
    (out, std::array::from_fn(|i| after[i] - before[i]))
}

/// The counts array for exactly these syscalls.
fn exactly(calls: &[(Syscall, u64)]) -> [u64; Syscall::COUNT] {
    let mut want = [0; Syscall::COUNT];
    for &(c, n) in calls {
        want[c as usize] += n;
    }
    want
}

fn loopback_any() -> SockAddr {
    SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
}

/// Waits (bounded) for one event, which must be `token`'s.
#[track_caller]
fn expect_one(p: &mut Epoll, ev: &mut Events, token: Token) {
    let n = p.wait(ev, Some(Duration::from_secs(5))).unwrap();
    assert_eq!(n, 1, "no event for {token:?} within 5 s");
    assert_eq!(ev.iter().next().unwrap().token(), token);
}

#[test]
fn accept_churn_makes_no_fcntl() {
    let (listener, c) = cost(|| {
        let l =
            OwnedSocket::new_nonblocking(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
        l.bind(&loopback_any()).unwrap();
        l.listen(16).unwrap();
        l
    });
    assert_eq!(
        c,
        exactly(&[
            (Syscall::Socket, 1),
            (Syscall::Bind, 1),
            (Syscall::Listen, 1)
        ])
    );
    let addr = listener.local_addr().unwrap();
    let mut p = Epoll::new().unwrap();
    let mut ev = Events::with_capacity(8);
    p.register(listener.as_fd(), Token(0), Interest::READABLE)
        .unwrap();
    let mut buf = [0u8; 16];
    for i in 0..20u8 {
        let ((client, conn), c) = cost(|| {
            let client = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
            client.connect(&addr).unwrap();
            client.send(&[i]).unwrap();
            expect_one(&mut p, &mut ev, Token(0));
            let (conn, _) = listener.accept_nonblocking().unwrap();
            p.register(conn.as_fd(), Token(1), Interest::READABLE)
                .unwrap();
            expect_one(&mut p, &mut ev, Token(1));
            assert_eq!(conn.recv(&mut buf).unwrap(), 1);
            assert_eq!(conn.send(&buf[..1]).unwrap(), 1);
            p.deregister(conn.as_fd()).unwrap();
            (client, conn)
        });
        assert_eq!(
            c,
            exactly(&[
                (Syscall::Socket, 1),
                (Syscall::Connect, 1),
                (Syscall::Sendto, 2),
                (Syscall::EpollWait, 2),
                (Syscall::Accept4, 1),
                (Syscall::EpollCtl, 2),
                (Syscall::Recvfrom, 1),
            ]),
            "connection {i}"
        );
        // The flags came with the fds (checked through nix, outside the
        // counts): both close-on-exec, the accepted one nonblocking.
        for (s, nonblocking) in [(&client, false), (&conn, true)] {
            let fd = FdFlag::from_bits_truncate(fcntl(s, FcntlArg::F_GETFD).unwrap());
            assert!(fd.contains(FdFlag::FD_CLOEXEC));
            let fl = OFlag::from_bits_truncate(fcntl(s, FcntlArg::F_GETFL).unwrap());
            assert_eq!(fl.contains(OFlag::O_NONBLOCK), nonblocking);
        }
        let ((), c) = cost(|| {
            drop(conn);
            assert_eq!(client.recv(&mut buf).unwrap(), 1);
            assert_eq!(buf[0], i);
            drop(client);
        });
        assert_eq!(
            c,
            exactly(&[(Syscall::Close, 2), (Syscall::Recvfrom, 1)]),
            "connection {i}"
        );
    }
}

#[test]
fn blocking_send_and_recv_are_one_syscall_each() {
    let l = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    l.bind(&loopback_any()).unwrap();
    l.listen(1).unwrap();
    let mut a = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    a.connect(&l.local_addr().unwrap()).unwrap();
    let (mut b, _) = l.accept().unwrap();
    assert!(!a.nonblocking().unwrap() && !b.nonblocking().unwrap());
    let mut buf = [0u8; 64];
    let send = exactly(&[(Syscall::Sendto, 1)]);
    let recv = exactly(&[(Syscall::Recvfrom, 1)]);
    for i in 0..10u8 {
        let (n, c) = cost(|| a.send(&[i]).unwrap());
        assert_eq!((n, c), (1, send), "send {i}");
        // Loopback delivers during the send: the blocking recv finds it.
        let (n, c) = cost(|| b.recv(&mut buf).unwrap());
        assert_eq!((n, buf[0], c), (1, i, recv), "recv {i}");
        // The same through Write and Read.
        let (n, c) = cost(|| b.write(&buf[..1]).unwrap());
        assert_eq!((n, c), (1, send), "write {i}");
        let (n, c) = cost(|| a.read(&mut buf).unwrap());
        assert_eq!((n, buf[0], c), (1, i, recv), "read {i}");
    }
}
