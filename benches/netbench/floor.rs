//! The floor: each libc call the floor's loops make, as an always-inlined
//! function with nothing but the call in it, so the loops read like C and
//! compile to the bare call. Plus the setup every contender shares (made
//! with std, never timed).

use crate::harness::check;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::RawFd;

/// `recv(fd, buf, len, 0)`.
#[inline(always)]
pub fn recv(fd: RawFd, buf: &mut [u8]) -> isize {
    // SAFETY: buf is writable for buf.len() bytes; a bad fd is an errno.
    unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) }
}

/// `send(fd, buf, len, MSG_NOSIGNAL)`.
#[inline(always)]
pub fn send(fd: RawFd, buf: &[u8]) -> isize {
    // SAFETY: buf is readable for buf.len() bytes.
    unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) }
}

/// `epoll_wait(epfd, evs, len, timeout_ms)`.
#[inline(always)]
pub fn epoll_wait(epfd: RawFd, evs: &mut [libc::epoll_event], timeout_ms: i32) -> isize {
    // SAFETY: evs is writable for evs.len() entries.
    unsafe { libc::epoll_wait(epfd, evs.as_mut_ptr(), evs.len() as i32, timeout_ms) as isize }
}

/// `epoll_ctl(epfd, op, fd, {events, data})`.
#[inline(always)]
pub fn epoll_ctl(epfd: RawFd, op: i32, fd: RawFd, events: u32, data: u64) -> isize {
    let mut ev = libc::epoll_event { events, u64: data };
    // SAFETY: ev is a valid epoll_event the kernel only reads.
    unsafe { libc::epoll_ctl(epfd, op, fd, &raw mut ev) as isize }
}

/// `epoll_create1(EPOLL_CLOEXEC)`.
pub fn epoll_create() -> RawFd {
    // SAFETY: no pointers.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    check(fd as isize, "epoll_create1") as RawFd
}

/// `poll(fds, n, timeout_ms)`.
#[inline(always)]
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> isize {
    // SAFETY: fds is a valid, writable array of fds.len() entries.
    unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) as isize }
}

/// `select(nfds, read, NULL, NULL, NULL)` over an `fd_set`.
#[inline(always)]
pub fn select_read(nfds: i32, read: &mut libc::fd_set) -> isize {
    // SAFETY: read is a valid, writable fd_set and nfds <= FD_SETSIZE (the
    // callers' fds are below it); the other sets and the timeout are NULL.
    unsafe {
        libc::select(
            nfds,
            read,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        ) as isize
    }
}

/// `select(nfds, read, NULL, NULL, NULL)` over a set of any size held as
/// `unsigned long` words (the kernel reads `nfds` bits).
#[inline(always)]
pub fn select_words(nfds: i32, read: &mut [libc::c_ulong]) -> isize {
    assert!(read.len() * libc::c_ulong::BITS as usize >= nfds as usize);
    // SAFETY: read is writable for at least nfds bits (checked above), the
    // unsigned-long array the kernel expects; the rest are NULL.
    unsafe {
        libc::select(
            nfds,
            read.as_mut_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        ) as isize
    }
}

/// An empty fd_set.
pub fn fd_set_empty() -> libc::fd_set {
    // SAFETY: fd_set is plain data; all-zero is the empty set.
    unsafe { std::mem::zeroed() }
}

/// `FD_SET(fd, set)`.
#[inline(always)]
pub fn fd_set_add(set: &mut libc::fd_set, fd: RawFd) {
    assert!((0..libc::FD_SETSIZE as RawFd).contains(&fd));
    // SAFETY: fd is inside the set (checked above).
    unsafe { libc::FD_SET(fd, set) }
}

/// `FD_ISSET(fd, set)`.
#[inline(always)]
pub fn fd_isset(set: &libc::fd_set, fd: RawFd) -> bool {
    // SAFETY: callers pass fds they added, which are inside the set.
    unsafe { libc::FD_ISSET(fd, set) }
}

/// `read(fd, buf, len)`.
#[inline(always)]
pub fn read(fd: RawFd, buf: &mut [u8]) -> isize {
    // SAFETY: buf is writable for buf.len() bytes.
    unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }
}

/// `write(fd, buf, len)`.
#[inline(always)]
pub fn write(fd: RawFd, buf: &[u8]) -> isize {
    // SAFETY: buf is readable for buf.len() bytes.
    unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) }
}

/// `close(fd)`.
#[inline(always)]
pub fn close(fd: RawFd) {
    // SAFETY: callers close fds they own, once.
    unsafe { libc::close(fd) };
}

/// `eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)`.
pub fn eventfd() -> RawFd {
    // SAFETY: no pointers.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    check(fd as isize, "eventfd") as RawFd
}

/// `socket(AF_INET, type | SOCK_CLOEXEC, 0)`.
#[inline(always)]
pub fn socket(ty: i32) -> RawFd {
    // SAFETY: no pointers.
    unsafe { libc::socket(libc::AF_INET, ty | libc::SOCK_CLOEXEC, 0) }
}

/// `connect(fd, sin, sizeof sin)`.
#[inline(always)]
pub fn connect(fd: RawFd, sin: &libc::sockaddr_in) -> isize {
    // SAFETY: sin is a valid sockaddr_in of the length passed.
    unsafe {
        libc::connect(
            fd,
            std::ptr::from_ref(sin).cast(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        ) as isize
    }
}

/// `accept4(fd, &storage, &len, flags | SOCK_CLOEXEC)`: asks for the
/// peer's address, as `OwnedSocket::accept_nonblocking` does.
#[inline(always)]
pub fn accept4(fd: RawFd, flags: i32) -> RawFd {
    // SAFETY: sockaddr_storage is plain data; all-zero is valid.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: ss has room for len bytes; len is a valid out-parameter.
    unsafe {
        libc::accept4(
            fd,
            (&raw mut ss).cast(),
            &raw mut len,
            flags | libc::SOCK_CLOEXEC,
        )
    }
}

/// A `sockaddr_in` for a std IPv4 address.
pub fn sockaddr_in(addr: SocketAddr) -> libc::sockaddr_in {
    let SocketAddr::V4(v4) = addr else {
        panic!("IPv4 only")
    };
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*v4.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// `setsockopt(fd, level, name, &1, 4)`.
pub fn set_int_opt(fd: RawFd, level: i32, name: i32, value: i32) {
    // SAFETY: value is a valid int the kernel only reads.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const value).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    };
    check(r as isize, "setsockopt");
}

/// `fcntl(fd, F_SETFL, O_NONBLOCK)`: setup only, never in a timed loop.
pub fn set_nonblocking(fd: RawFd) {
    // SAFETY: F_GETFL takes no argument.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    check(fl as isize, "fcntl(F_GETFL)");
    // SAFETY: F_SETFL takes an int.
    let r = unsafe { libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) };
    check(r as isize, "fcntl(F_SETFL)");
}

/// A TCP connection over loopback with `TCP_NODELAY` on both ends, made
/// with std (setup is never timed): (a, b), both blocking.
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let a = TcpStream::connect(l.local_addr().unwrap()).expect("connect");
    let (b, _) = l.accept().expect("accept");
    a.set_nodelay(true).unwrap();
    b.set_nodelay(true).unwrap();
    (a, b)
}

/// Two UDP sockets on loopback connected to each other: (a, b),
/// nonblocking.
pub fn udp_pair() -> (UdpSocket, UdpSocket) {
    let a = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let b = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    a.connect(b.local_addr().unwrap()).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}
