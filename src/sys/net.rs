//! Socket syscalls: socket, socketpair, bind, listen, accept4, connect,
//! getsockname, getpeername, shutdown, sendto, recvfrom, getsockopt,
//! setsockopt, fcntl. (sendmsg and recvmsg live in `msg.rs`.)
//!
//! Each wrapper makes its one call through [`run`](super::run), which
//! counts it and lets fault injection replace it, then prints its strace
//! line with [`strace!`](super::strace) (nothing at all without the `trace`
//! feature).

#[cfg(feature = "trace")]
use super::trace::{
    self as t, Buf, Flags, Named, OptName, Proto, RecvBuf, SockAddrArg, SockAddrOut,
};
use super::{Syscall, ret_int, ret_len, ret_owned_fd, ret_unit, run, strace};
use crate::addr::SockAddr;
use std::io;
use std::mem::{self, MaybeUninit};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// `socket(domain, ty | SOCK_CLOEXEC, protocol)`. SOCK_CLOEXEC is always
/// added, so the fd is never inherited across exec, even for an instant.
pub(crate) fn socket(
    domain: libc::c_int,
    ty: libc::c_int,
    protocol: libc::c_int,
) -> io::Result<OwnedFd> {
    let ty = ty | libc::SOCK_CLOEXEC;
    let r = run(Syscall::Socket, 0, |_| {
        // SAFETY: socket takes no pointers; the fd it returns is adopted at
        // once.
        ret_owned_fd(unsafe { libc::socket(domain, ty, protocol) })
    });
    strace!(
        Syscall::Socket,
        &r,
        "{}, {}, {}",
        Named(domain, t::AF),
        SockType(ty),
        Proto(domain, protocol)
    );
    r
}

/// `socketpair(domain, ty | SOCK_CLOEXEC, protocol, sv)`.
pub(crate) fn socketpair(
    domain: libc::c_int,
    ty: libc::c_int,
    protocol: libc::c_int,
) -> io::Result<(OwnedFd, OwnedFd)> {
    let ty = ty | libc::SOCK_CLOEXEC;
    let mut sv = [-1 as libc::c_int; 2];
    let r = run(Syscall::Socketpair, 0, |_| {
        // SAFETY: sv is a valid array of two ints for the kernel to fill.
        ret_unit(unsafe { libc::socketpair(domain, ty, protocol, sv.as_mut_ptr()) })
    });
    strace!(
        Syscall::Socketpair,
        &r,
        "{}, {}, {}, [{}, {}]",
        Named(domain, t::AF),
        SockType(ty),
        Proto(domain, protocol),
        sv[0],
        sv[1]
    );
    r?;
    // Both fds are adopted before anything else can fail.
    let a = ret_owned_fd(sv[0])?;
    let b = ret_owned_fd(sv[1])?;
    Ok((a, b))
}

/// socket()'s type argument as strace prints it: the type, then its flags.
#[cfg(feature = "trace")]
struct SockType(libc::c_int);

#[cfg(feature = "trace")]
impl std::fmt::Display for SockType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let flags = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
        write!(f, "{}", Named(self.0 & !flags, t::SOCK_TYPE))?;
        if self.0 & flags != 0 {
            write!(f, "|{}", Flags(self.0 & flags, t::SOCK_FLAGS))?;
        }
        Ok(())
    }
}

/// `bind(fd, addr, addrlen)`.
pub(crate) fn bind(fd: BorrowedFd<'_>, addr: &SockAddr) -> io::Result<()> {
    let r = run(Syscall::Bind, 0, |_| {
        // SAFETY: fd is borrowed for the call; addr points at `addr.len()`
        // initialised bytes of a sockaddr.
        ret_unit(unsafe { libc::bind(fd.as_raw_fd(), addr.as_ptr(), addr.len()) })
    });
    strace!(
        Syscall::Bind,
        &r,
        "{}, {}, {}",
        fd.as_raw_fd(),
        SockAddrArg(Some(addr)),
        addr.len()
    );
    r
}

/// `listen(fd, backlog)`.
pub(crate) fn listen(fd: BorrowedFd<'_>, backlog: libc::c_int) -> io::Result<()> {
    let r = run(Syscall::Listen, 0, |_| {
        // SAFETY: fd is borrowed for the call; no pointers.
        ret_unit(unsafe { libc::listen(fd.as_raw_fd(), backlog) })
    });
    strace!(Syscall::Listen, &r, "{}, {backlog}", fd.as_raw_fd());
    r
}

/// `accept4(fd, addr, addrlen, flags | SOCK_CLOEXEC)`: the new fd is adopted
/// at once, and the peer's address is returned with the length the kernel
/// wrote.
pub(crate) fn accept4(fd: BorrowedFd<'_>, flags: libc::c_int) -> io::Result<(OwnedFd, SockAddr)> {
    let flags = flags | libc::SOCK_CLOEXEC;
    let mut addr = SockAddr::empty();
    let mut len = SockAddr::CAPACITY;
    let r = run(Syscall::Accept4, 0, |_| {
        // SAFETY: fd is borrowed for the call; addr has room for `len` bytes
        // and len is a valid out-parameter; the fd returned is adopted at
        // once.
        ret_owned_fd(unsafe {
            libc::accept4(fd.as_raw_fd(), addr.as_mut_ptr(), &raw mut len, flags)
        })
    });
    addr.set_len(len);
    strace!(
        Syscall::Accept4,
        &r,
        "{}, {}, {}",
        fd.as_raw_fd(),
        SockAddrOut(Some(&addr), r.is_ok(), len),
        Flags(flags, t::SOCK_FLAGS)
    );
    Ok((r?, addr))
}

/// `connect(fd, addr, addrlen)`.
pub(crate) fn connect(fd: BorrowedFd<'_>, addr: &SockAddr) -> io::Result<()> {
    let r = run(Syscall::Connect, 0, |_| {
        // SAFETY: fd is borrowed for the call; addr points at `addr.len()`
        // initialised bytes of a sockaddr.
        ret_unit(unsafe { libc::connect(fd.as_raw_fd(), addr.as_ptr(), addr.len()) })
    });
    strace!(
        Syscall::Connect,
        &r,
        "{}, {}, {}",
        fd.as_raw_fd(),
        SockAddrArg(Some(addr)),
        addr.len()
    );
    r
}

/// `getsockname(fd, addr, addrlen)`.
pub(crate) fn getsockname(fd: BorrowedFd<'_>) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    let mut len = SockAddr::CAPACITY;
    let r = run(Syscall::Getsockname, 0, |_| {
        // SAFETY: fd is borrowed for the call; addr has room for `len` bytes.
        ret_unit(unsafe { libc::getsockname(fd.as_raw_fd(), addr.as_mut_ptr(), &raw mut len) })
    });
    addr.set_len(len);
    strace!(
        Syscall::Getsockname,
        &r,
        "{}, {}",
        fd.as_raw_fd(),
        SockAddrOut(Some(&addr), r.is_ok(), len)
    );
    r.map(|()| addr)
}

/// `getpeername(fd, addr, addrlen)`.
pub(crate) fn getpeername(fd: BorrowedFd<'_>) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    let mut len = SockAddr::CAPACITY;
    let r = run(Syscall::Getpeername, 0, |_| {
        // SAFETY: fd is borrowed for the call; addr has room for `len` bytes.
        ret_unit(unsafe { libc::getpeername(fd.as_raw_fd(), addr.as_mut_ptr(), &raw mut len) })
    });
    addr.set_len(len);
    strace!(
        Syscall::Getpeername,
        &r,
        "{}, {}",
        fd.as_raw_fd(),
        SockAddrOut(Some(&addr), r.is_ok(), len)
    );
    r.map(|()| addr)
}

/// `shutdown(fd, how)`.
pub(crate) fn shutdown(fd: BorrowedFd<'_>, how: libc::c_int) -> io::Result<()> {
    let r = run(Syscall::Shutdown, 0, |_| {
        // SAFETY: fd is borrowed for the call; no pointers.
        ret_unit(unsafe { libc::shutdown(fd.as_raw_fd(), how) })
    });
    strace!(
        Syscall::Shutdown,
        &r,
        "{}, {}",
        fd.as_raw_fd(),
        Named(how, t::SHUT)
    );
    r
}

/// `sendto(fd, buf, len, flags | MSG_NOSIGNAL, addr, addrlen)`; `send` is
/// this call with a NULL address, exactly as the kernel sees it.
pub(crate) fn sendto(
    fd: BorrowedFd<'_>,
    buf: &[u8],
    flags: libc::c_int,
    addr: Option<&SockAddr>,
) -> io::Result<usize> {
    let flags = flags | libc::MSG_NOSIGNAL;
    let (ptr, alen) = match addr {
        Some(a) => (a.as_ptr(), a.len()),
        None => (std::ptr::null(), 0),
    };
    let r = run(Syscall::Sendto, buf.len(), |n| {
        // SAFETY: fd is borrowed for the call; buf is valid for reads of
        // n <= buf.len() bytes; ptr is NULL or points at `alen` bytes of a
        // sockaddr.
        ret_len(unsafe { libc::sendto(fd.as_raw_fd(), buf.as_ptr().cast(), n, flags, ptr, alen) })
    });
    strace!(
        Syscall::Sendto,
        &r,
        "{}, {}, {}, {}, {}, {alen}",
        fd.as_raw_fd(),
        Buf(buf),
        buf.len(),
        Flags(flags, t::MSG),
        SockAddrArg(addr)
    );
    r
}

/// `recvfrom(fd, buf, len, flags, addr, addrlen)`; `recv` is this call with
/// a NULL address. Returns the kernel's count and the bytes of `buf` that
/// are known to be initialised: the first `min(count, buf.len())`, or
/// none at all when `flags` holds `MSG_TRUNC`.
///
/// With `MSG_TRUNC` the count does not say how many bytes the kernel
/// wrote: a TCP socket discards up to `len` bytes without writing any and
/// returns how many it discarded; a datagram socket writes
/// `min(len, datagram)` and returns the datagram's full length; a Unix
/// stream socket ignores the flag and writes what it returns. Which one
/// this fd is would cost a syscall to learn, so no byte is vouched for, and
/// the trace prints the buffer's address instead of its contents (an empty
/// buffer, which has none, prints as `""`, as strace prints it).
pub(crate) fn recvfrom<'b>(
    fd: BorrowedFd<'_>,
    buf: &'b mut [MaybeUninit<u8>],
    flags: libc::c_int,
    mut addr: Option<&mut SockAddr>,
) -> io::Result<(usize, &'b mut [u8])> {
    let mut len = SockAddr::CAPACITY;
    let (aptr, lptr) = match addr.as_deref_mut() {
        Some(a) => (a.as_mut_ptr(), &raw mut len),
        None => (std::ptr::null_mut(), std::ptr::null_mut()),
    };
    let cap = buf.len();
    let r = run(Syscall::Recvfrom, cap, |n| {
        // SAFETY: fd is borrowed for the call; buf is valid for writes of
        // n <= buf.len() bytes (MaybeUninit: the kernel only writes); aptr
        // and lptr are both NULL or point at a sockaddr buffer of `len`
        // bytes and `len`.
        ret_len(unsafe {
            libc::recvfrom(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                n,
                flags,
                aptr,
                lptr,
            )
        })
    });
    if let Some(a) = addr.as_mut() {
        a.set_len(len);
    }
    // Without MSG_TRUNC the count is what the kernel wrote, never more
    // than the length it was given (which fault injection may shorten).
    let init = match r {
        Ok(n) if flags & libc::MSG_TRUNC == 0 => n.min(cap),
        _ => 0,
    };
    // SAFETY: the kernel initialised the first `init` bytes of `buf` in the
    // call above (0 when MSG_TRUNC leaves that unknown); MaybeUninit<u8>
    // has u8's layout, and the new slice takes over `buf`'s borrow.
    let filled = unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<u8>(), init) };
    strace!(
        Syscall::Recvfrom,
        &r,
        "{}, {}, {cap}, {}, {}",
        fd.as_raw_fd(),
        RecvBuf(
            r.as_ref()
                .ok()
                .filter(|_| flags & libc::MSG_TRUNC == 0 || cap == 0)
                .map(|_| &*filled),
            filled.as_ptr()
        ),
        Flags(flags, t::MSG),
        SockAddrOut(addr.as_deref(), r.is_ok(), len)
    );
    r.map(|n| (n, filled))
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
    // The length is the one a scripted short count cuts (fault layer).
    let r = run(Syscall::Getsockopt, len as usize, |cut| {
        // cut <= size_of::<T>(), which came from a socklen_t.
        len = cut as libc::socklen_t;
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
        })
    });
    // SAFETY: value was zero-initialised and T: OptVal accepts every bit
    // pattern, whatever part of it the kernel wrote.
    let value = unsafe { value.assume_init() };
    strace!(
        Syscall::Getsockopt,
        &r,
        "{}, {}, {}, {}, {}",
        fd.as_raw_fd(),
        Named(level, t::LEVEL),
        OptName(level, name),
        t::OptVal(
            level,
            name,
            &value_bytes(&value)[..(len as usize).min(mem::size_of::<T>())]
        ),
        t::LenInOut(mem::size_of::<T>() as libc::socklen_t, len)
    );
    r.map(|()| (value, len))
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
    // SAFETY: value is valid for reads of value.len() bytes for the call.
    let r = unsafe { setsockopt_raw(fd, level, name, value.as_ptr().cast(), value.len()) };
    strace!(
        Syscall::Setsockopt,
        &r,
        "{}, {}, {}, {}, {}",
        fd.as_raw_fd(),
        Named(level, t::LEVEL),
        OptName(level, name),
        t::OptVal(level, name, value),
        value.len()
    );
    r
}

/// The padding between `sock_fprog`'s `len` and its pointer.
const PAD: usize = mem::align_of::<*const libc::sock_filter>() - mem::size_of::<u16>();

/// `struct sock_fprog` with its padding as a field, so every byte handed
/// to the kernel is initialised.
#[repr(C)]
struct SockFprog {
    len: u16,
    pad: [u8; PAD],
    filter: *const libc::sock_filter,
}

static_assertions::assert_eq_size!(SockFprog, libc::sock_fprog);
static_assertions::assert_eq_align!(SockFprog, libc::sock_fprog);
static_assertions::const_assert_eq!(
    mem::offset_of!(SockFprog, filter),
    mem::offset_of!(libc::sock_fprog, filter)
);

/// `setsockopt(fd, SOL_SOCKET, name, &sock_fprog, sizeof sock_fprog)`:
/// attach a classic BPF program (`SO_ATTACH_FILTER`,
/// `SO_ATTACH_REUSEPORT_CBPF`). The kernel copies the instructions during
/// the call.
pub(crate) fn setsockopt_filter(
    fd: BorrowedFd<'_>,
    name: libc::c_int,
    program: &[crate::bpf::Insn],
) -> io::Result<()> {
    let len = u16::try_from(program.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "BPF program too long"))?;
    // libc's sock_fprog has padding between its u16 `len` and its pointer
    // (6 bytes on 64-bit, 2 on 32-bit), which a struct literal leaves
    // uninitialised (and a move need not copy), while setsockopt hands all
    // `size` bytes to the kernel (valgrind: "points to uninitialised
    // byte(s)"). SockFprog spells the padding out as zeroed bytes.
    let fprog = SockFprog {
        len,
        pad: [0; PAD],
        // Insn is repr(C) with sock_filter's size, alignment and field
        // offsets (asserted in bpf.rs); the kernel only reads through it.
        filter: program.as_ptr().cast::<libc::sock_filter>(),
    };
    let size = mem::size_of::<libc::sock_fprog>();
    // fprog's pointer borrows `program`, whose `len` instructions stay
    // alive and unchanged for the call; the kernel copies them before it
    // returns and keeps no pointer into our memory.
    // SAFETY: fprog (on this frame until the call returns) is `size`
    // bytes of a valid sock_fprog pointing at live instructions.
    let r = unsafe { setsockopt_raw(fd, libc::SOL_SOCKET, name, (&raw const fprog).cast(), size) };
    strace!(
        Syscall::Setsockopt,
        &r,
        "{}, {}, {}, {{len={len}, filter={:p}}}, {size}",
        fd.as_raw_fd(),
        Named(libc::SOL_SOCKET, t::LEVEL),
        OptName(libc::SOL_SOCKET, name),
        program.as_ptr()
    );
    r
}

/// The crate's one call of `setsockopt(2)`, through the hooks; the caller
/// prints the trace line, since only it knows how to show the value.
///
/// # Safety
///
/// `value` is valid for reads of `len` bytes for the duration of the call.
unsafe fn setsockopt_raw(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: *const libc::c_void,
    len: usize,
) -> io::Result<()> {
    run(Syscall::Setsockopt, 0, |_| {
        // SAFETY: fd is borrowed for the call; the caller promises value is
        // readable for len bytes; every value length here came from a
        // slice or a small struct, so it fits a socklen_t.
        ret_unit(unsafe {
            libc::setsockopt(fd.as_raw_fd(), level, name, value, len as libc::socklen_t)
        })
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
    let r = run(Syscall::Getsockopt, 0, |_| {
        // SAFETY: fd is borrowed for the call; buf is writable for `len`
        // bytes.
        ret_unit(unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                level,
                name,
                buf.as_mut_ptr().cast(),
                &raw mut len,
            )
        })
    });
    let n = (len as usize).min(buf.len());
    strace!(
        Syscall::Getsockopt,
        &r,
        "{}, {}, {}, {}, {}",
        fd.as_raw_fd(),
        Named(level, t::LEVEL),
        OptName(level, name),
        Buf(&buf[..n]),
        t::LenInOut(buf.len() as libc::socklen_t, len)
    );
    r.map(|()| n)
}

/// `fcntl(fd, F_GETFL)`.
pub(crate) fn fcntl_getfl(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    let r = run(Syscall::Fcntl, 0, |_| {
        // SAFETY: fd is borrowed for the call; F_GETFL takes no argument.
        ret_int(unsafe { super::fcntl_int(fd.as_raw_fd(), libc::F_GETFL, 0) })
    });
    strace!(
        Syscall::Fcntl,
        &t::FlagsRet(&r, t::O_FLAGS),
        "{}, F_GETFL",
        fd.as_raw_fd()
    );
    r
}

/// `fcntl(fd, F_SETFL, flags)`.
pub(crate) fn fcntl_setfl(fd: BorrowedFd<'_>, flags: libc::c_int) -> io::Result<()> {
    let r = run(Syscall::Fcntl, 0, |_| {
        // SAFETY: fd is borrowed for the call; F_SETFL takes an int.
        ret_unit(unsafe { super::fcntl_int(fd.as_raw_fd(), libc::F_SETFL, flags) })
    });
    strace!(
        Syscall::Fcntl,
        &r,
        "{}, F_SETFL, {}",
        fd.as_raw_fd(),
        Flags(flags, t::O_FLAGS)
    );
    r
}

/// `fcntl(fd, F_GETFD)`: the descriptor flags (FD_CLOEXEC).
pub(crate) fn fcntl_getfd(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    let r = run(Syscall::Fcntl, 0, |_| {
        // SAFETY: fd is borrowed for the call; F_GETFD takes no argument.
        ret_int(unsafe { super::fcntl_int(fd.as_raw_fd(), libc::F_GETFD, 0) })
    });
    strace!(
        Syscall::Fcntl,
        &t::FlagsRet(&r, t::FD_FLAGS),
        "{}, F_GETFD",
        fd.as_raw_fd()
    );
    r
}

/// `fcntl(fd, F_SETFD, flags)`.
pub(crate) fn fcntl_setfd(fd: BorrowedFd<'_>, flags: libc::c_int) -> io::Result<()> {
    let r = run(Syscall::Fcntl, 0, |_| {
        // SAFETY: fd is borrowed for the call; F_SETFD takes an int.
        ret_unit(unsafe { super::fcntl_int(fd.as_raw_fd(), libc::F_SETFD, flags) })
    });
    strace!(
        Syscall::Fcntl,
        &r,
        "{}, F_SETFD, {}",
        fd.as_raw_fd(),
        Flags(flags, t::FD_FLAGS)
    );
    r
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, 0)`: a new fd for the same open socket,
/// close-on-exec from birth, adopted at once.
pub(crate) fn fcntl_dupfd_cloexec(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let r = run(Syscall::Fcntl, 0, |_| {
        // SAFETY: fd is borrowed for the call; the fd returned is adopted at
        // once.
        ret_owned_fd(unsafe { super::fcntl_int(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) })
    });
    strace!(Syscall::Fcntl, &r, "{}, F_DUPFD_CLOEXEC, 0", fd.as_raw_fd());
    r
}
