//! Socket syscalls: socket, socketpair, bind, listen, accept4, connect,
//! getsockname, getpeername, shutdown, sendto, recvfrom, sendmsg, recvmsg,
//! getsockopt, setsockopt, fcntl.

use super::{Syscall, enter, ret_int, ret_len, ret_owned_fd, ret_unit};
use crate::addr::SockAddr;
use std::io::{self, IoSlice, IoSliceMut};
use std::mem::{self, MaybeUninit};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// `socket(domain, ty | SOCK_CLOEXEC, protocol)`. SOCK_CLOEXEC is always
/// added, so the fd is never inherited across exec, even for an instant.
pub(crate) fn socket(
    domain: libc::c_int,
    ty: libc::c_int,
    protocol: libc::c_int,
) -> io::Result<OwnedFd> {
    enter(Syscall::Socket);
    // SAFETY: socket takes no pointers; the fd it returns is adopted at once.
    ret_owned_fd(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, protocol) })
}

/// `socketpair(domain, ty | SOCK_CLOEXEC, protocol, sv)`.
pub(crate) fn socketpair(
    domain: libc::c_int,
    ty: libc::c_int,
    protocol: libc::c_int,
) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut sv = [-1 as libc::c_int; 2];
    enter(Syscall::Socketpair);
    // SAFETY: sv is a valid array of two ints for the kernel to fill.
    let ret =
        unsafe { libc::socketpair(domain, ty | libc::SOCK_CLOEXEC, protocol, sv.as_mut_ptr()) };
    ret_unit(ret)?;
    // Both fds are adopted before anything else can fail.
    let a = ret_owned_fd(sv[0])?;
    let b = ret_owned_fd(sv[1])?;
    Ok((a, b))
}

/// `bind(fd, addr, addrlen)`.
pub(crate) fn bind(fd: BorrowedFd<'_>, addr: &SockAddr) -> io::Result<()> {
    enter(Syscall::Bind);
    // SAFETY: fd is borrowed for the call; addr points at `addr.len()`
    // initialised bytes of a sockaddr.
    ret_unit(unsafe { libc::bind(fd.as_raw_fd(), addr.as_ptr(), addr.len()) })
}

/// `listen(fd, backlog)`.
pub(crate) fn listen(fd: BorrowedFd<'_>, backlog: libc::c_int) -> io::Result<()> {
    enter(Syscall::Listen);
    // SAFETY: fd is borrowed for the call; no pointers.
    ret_unit(unsafe { libc::listen(fd.as_raw_fd(), backlog) })
}

/// `accept4(fd, addr, addrlen, flags | SOCK_CLOEXEC)`: the new fd is adopted
/// at once, and the peer's address is returned with the length the kernel
/// wrote.
pub(crate) fn accept4(fd: BorrowedFd<'_>, flags: libc::c_int) -> io::Result<(OwnedFd, SockAddr)> {
    let mut addr = SockAddr::empty();
    let mut len = SockAddr::CAPACITY;
    enter(Syscall::Accept4);
    // SAFETY: fd is borrowed for the call; addr has room for `len` bytes and
    // len is a valid out-parameter.
    let ret = unsafe {
        libc::accept4(
            fd.as_raw_fd(),
            addr.as_mut_ptr(),
            &raw mut len,
            flags | libc::SOCK_CLOEXEC,
        )
    };
    let new = ret_owned_fd(ret)?;
    addr.set_len(len);
    Ok((new, addr))
}

/// `connect(fd, addr, addrlen)`.
pub(crate) fn connect(fd: BorrowedFd<'_>, addr: &SockAddr) -> io::Result<()> {
    enter(Syscall::Connect);
    // SAFETY: fd is borrowed for the call; addr points at `addr.len()`
    // initialised bytes of a sockaddr.
    ret_unit(unsafe { libc::connect(fd.as_raw_fd(), addr.as_ptr(), addr.len()) })
}

/// `getsockname(fd, addr, addrlen)`.
pub(crate) fn getsockname(fd: BorrowedFd<'_>) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    let mut len = SockAddr::CAPACITY;
    enter(Syscall::Getsockname);
    // SAFETY: fd is borrowed for the call; addr has room for `len` bytes.
    ret_unit(unsafe { libc::getsockname(fd.as_raw_fd(), addr.as_mut_ptr(), &raw mut len) })?;
    addr.set_len(len);
    Ok(addr)
}

/// `getpeername(fd, addr, addrlen)`.
pub(crate) fn getpeername(fd: BorrowedFd<'_>) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    let mut len = SockAddr::CAPACITY;
    enter(Syscall::Getpeername);
    // SAFETY: fd is borrowed for the call; addr has room for `len` bytes.
    ret_unit(unsafe { libc::getpeername(fd.as_raw_fd(), addr.as_mut_ptr(), &raw mut len) })?;
    addr.set_len(len);
    Ok(addr)
}

/// `shutdown(fd, how)`.
pub(crate) fn shutdown(fd: BorrowedFd<'_>, how: libc::c_int) -> io::Result<()> {
    enter(Syscall::Shutdown);
    // SAFETY: fd is borrowed for the call; no pointers.
    ret_unit(unsafe { libc::shutdown(fd.as_raw_fd(), how) })
}

/// `sendto(fd, buf, len, flags | MSG_NOSIGNAL, addr, addrlen)`; `send` is
/// this call with a NULL address, exactly as the kernel sees it.
pub(crate) fn sendto(
    fd: BorrowedFd<'_>,
    buf: &[u8],
    flags: libc::c_int,
    addr: Option<&SockAddr>,
) -> io::Result<usize> {
    let (ptr, len) = match addr {
        Some(a) => (a.as_ptr(), a.len()),
        None => (std::ptr::null(), 0),
    };
    enter(Syscall::Sendto);
    // SAFETY: fd is borrowed for the call; buf is valid for reads of
    // buf.len() bytes; ptr is NULL or points at `len` bytes of a sockaddr.
    ret_len(unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            flags | libc::MSG_NOSIGNAL,
            ptr,
            len,
        )
    })
}

/// `recvfrom(fd, buf, len, flags, addr, addrlen)`; `recv` is this call with
/// a NULL address. The kernel writes at most `buf.len()` bytes and the
/// returned count says how many it wrote (with MSG_TRUNC on a datagram
/// socket the count can be larger than the buffer: the caller clamps).
pub(crate) fn recvfrom(
    fd: BorrowedFd<'_>,
    buf: &mut [MaybeUninit<u8>],
    flags: libc::c_int,
    mut addr: Option<&mut SockAddr>,
) -> io::Result<usize> {
    let mut len = SockAddr::CAPACITY;
    let (aptr, lptr) = match addr.as_deref_mut() {
        Some(a) => (a.as_mut_ptr(), &raw mut len),
        None => (std::ptr::null_mut(), std::ptr::null_mut()),
    };
    enter(Syscall::Recvfrom);
    // SAFETY: fd is borrowed for the call; buf is valid for writes of
    // buf.len() bytes (MaybeUninit: the kernel only writes); aptr and lptr
    // are both NULL or point at a sockaddr buffer of `len` bytes and `len`.
    let ret = unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            flags,
            aptr,
            lptr,
        )
    };
    let n = ret_len(ret)?;
    if let Some(a) = addr {
        a.set_len(len);
    }
    Ok(n)
}

/// `sendmsg(fd, {addr, iov}, flags | MSG_NOSIGNAL)` with no control data:
/// the vectored send (never writev, which would raise SIGPIPE). Goes
/// through `sys::msg::sendmsg`, the one call site of sendmsg.
pub(crate) fn sendmsg_iov(
    fd: BorrowedFd<'_>,
    bufs: &[IoSlice<'_>],
    flags: libc::c_int,
    addr: Option<&SockAddr>,
) -> io::Result<usize> {
    super::msg::sendmsg(fd, bufs, addr, &[], flags)
}

/// `recvmsg(fd, {addr, iov}, flags | MSG_CMSG_CLOEXEC)` with no control
/// buffer: the vectored receive. Returns the byte count and the msg_flags
/// the kernel set. Goes through `sys::msg::recvmsg`, the one call site of
/// recvmsg (with no control buffer the kernel passes no fds: it drops them
/// and sets MSG_CTRUNC).
pub(crate) fn recvmsg_iov(
    fd: BorrowedFd<'_>,
    bufs: &mut [IoSliceMut<'_>],
    flags: libc::c_int,
    addr: Option<&mut SockAddr>,
) -> io::Result<(usize, libc::c_int)> {
    let (out, _no_control) = super::msg::recvmsg(fd, bufs, addr, &mut [], flags)?;
    Ok((out.bytes, out.flags))
}

/// Plain C data that a socket option can be read into or written from.
///
/// # Safety
/// Every bit pattern of the type's size, all-zero included, must be a valid
/// value (no references, no enums, no bools), and the type must be
/// `repr(C)` or a C integer.
pub(crate) unsafe trait OptVal: Copy {}

// SAFETY: a C int; every bit pattern is valid.
unsafe impl OptVal for libc::c_int {}
// SAFETY: a C unsigned int; every bit pattern is valid.
unsafe impl OptVal for libc::c_uint {}
// SAFETY: repr(C) struct of two c_ints.
unsafe impl OptVal for libc::linger {}
// SAFETY: repr(C) struct of two integers.
unsafe impl OptVal for libc::timeval {}
// SAFETY: repr(C) struct of three integers (pid, uid, gid).
unsafe impl OptVal for libc::ucred {}
// SAFETY: repr(C) struct of integers only.
unsafe impl OptVal for libc::tcp_info {}
// SAFETY: repr(C) struct of a u32.
unsafe impl OptVal for libc::in_addr {}
// SAFETY: repr(C) struct of two in_addr and an int.
unsafe impl OptVal for libc::ip_mreqn {}
// SAFETY: repr(C) struct of an in6_addr (bytes) and a u32.
unsafe impl OptVal for libc::ipv6_mreq {}
// SAFETY: a u8; every bit pattern is valid.
unsafe impl OptVal for u8 {}
// SAFETY: a byte array; every bit pattern is valid.
unsafe impl<const N: usize> OptVal for [u8; N] {}

/// `getsockopt(fd, level, name, &value, &len)` for a plain C value type.
/// The value starts zeroed, so bytes the kernel does not write read as
/// zero; the returned length is what the kernel reported.
pub(crate) fn getsockopt<T: OptVal>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<(T, libc::socklen_t)> {
    let mut value = MaybeUninit::<T>::zeroed();
    let mut len = mem::size_of::<T>() as libc::socklen_t;
    enter(Syscall::Getsockopt);
    // SAFETY: fd is borrowed for the call; value is writable for `len`
    // bytes and len is a valid out-parameter.
    ret_unit(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            value.as_mut_ptr().cast(),
            &raw mut len,
        )
    })?;
    // SAFETY: value was zero-initialised and T: OptVal accepts every bit
    // pattern, whatever part of it the kernel wrote.
    Ok((unsafe { value.assume_init() }, len))
}

/// `setsockopt(fd, level, name, &value, sizeof value)`.
pub(crate) fn setsockopt<T: OptVal>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    setsockopt_bytes(fd, level, name, value_bytes(value))
}

/// `setsockopt(fd, level, name, bytes, len)` with a byte string value
/// (SO_BINDTODEVICE's interface name).
pub(crate) fn setsockopt_bytes(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &[u8],
) -> io::Result<()> {
    enter(Syscall::Setsockopt);
    // SAFETY: fd is borrowed for the call; value is valid for reads of
    // value.len() bytes.
    ret_unit(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            value.as_ptr().cast(),
            value.len() as libc::socklen_t,
        )
    })
}

fn value_bytes<T: OptVal>(value: &T) -> &[u8] {
    // SAFETY: T: OptVal is plain C data with no padding-sensitive invariants;
    // viewing its size_of::<T>() bytes as u8 is valid for the borrow's life.
    unsafe {
        std::slice::from_raw_parts(std::ptr::from_ref(value).cast::<u8>(), mem::size_of::<T>())
    }
}

/// `getsockopt` into a byte buffer (SO_BINDTODEVICE): returns the length the
/// kernel wrote.
pub(crate) fn getsockopt_bytes(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    buf: &mut [u8],
) -> io::Result<usize> {
    let mut len = buf.len() as libc::socklen_t;
    enter(Syscall::Getsockopt);
    // SAFETY: fd is borrowed for the call; buf is writable for `len` bytes.
    ret_unit(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            buf.as_mut_ptr().cast(),
            &raw mut len,
        )
    })?;
    Ok((len as usize).min(buf.len()))
}

/// `fcntl(fd, F_GETFL)`.
pub(crate) fn fcntl_getfl(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    enter(Syscall::Fcntl);
    // SAFETY: fd is borrowed for the call; F_GETFL takes no argument.
    ret_int(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })
}

/// `fcntl(fd, F_SETFL, flags)`.
pub(crate) fn fcntl_setfl(fd: BorrowedFd<'_>, flags: libc::c_int) -> io::Result<()> {
    enter(Syscall::Fcntl);
    // SAFETY: fd is borrowed for the call; F_SETFL takes an int.
    ret_unit(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags) })
}

/// `fcntl(fd, F_GETFD)`: the descriptor flags (FD_CLOEXEC).
pub(crate) fn fcntl_getfd(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    enter(Syscall::Fcntl);
    // SAFETY: fd is borrowed for the call; F_GETFD takes no argument.
    ret_int(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) })
}

/// `fcntl(fd, F_SETFD, flags)`.
pub(crate) fn fcntl_setfd(fd: BorrowedFd<'_>, flags: libc::c_int) -> io::Result<()> {
    enter(Syscall::Fcntl);
    // SAFETY: fd is borrowed for the call; F_SETFD takes an int.
    ret_unit(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, flags) })
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, 0)`: a new fd for the same open socket,
/// close-on-exec from birth, adopted at once.
pub(crate) fn fcntl_dupfd_cloexec(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    enter(Syscall::Fcntl);
    // SAFETY: fd is borrowed for the call; the fd returned is adopted at once.
    ret_owned_fd(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) })
}
