//! Message syscalls with control data: sendmsg, recvmsg, sendmmsg,
//! recvmmsg.

#[cfg(feature = "trace")]
use super::trace::{self as t, Buf, Flags, SockAddrArg};
use super::{Syscall, ret_int, ret_len, run, strace};
use crate::addr::SockAddr;
use std::io::{self, IoSlice, IoSliceMut};
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// What `recvmsg` reports besides the byte count.
pub(crate) struct RecvMsgOut {
    pub(crate) bytes: usize,
    pub(crate) flags: libc::c_int,
    pub(crate) control_len: usize,
}

/// `sendmsg(fd, {addr, iov, control}, flags | MSG_NOSIGNAL)`.
pub(crate) fn sendmsg(
    fd: BorrowedFd<'_>,
    bufs: &[IoSlice<'_>],
    addr: Option<&SockAddr>,
    control: &[u8],
    flags: libc::c_int,
) -> io::Result<usize> {
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    if let Some(a) = addr {
        msg.msg_name = a.as_ptr().cast_mut().cast();
        msg.msg_namelen = a.len();
    }
    // IoSlice is guaranteed ABI-compatible with iovec on Unix.
    msg.msg_iov = bufs.as_ptr().cast_mut().cast();
    msg.msg_iovlen = bufs.len() as _;
    if !control.is_empty() {
        msg.msg_control = control.as_ptr().cast_mut().cast();
        msg.msg_controllen = control.len() as _;
    }
    let flags = flags | libc::MSG_NOSIGNAL;
    let r = run(Syscall::Sendmsg, 0, |_| {
        // SAFETY: fd is borrowed for the call; msg points at a valid msghdr
        // whose name, iovecs and control buffer borrow live slices for the
        // call; the kernel only reads them.
        ret_len(unsafe { libc::sendmsg(fd.as_raw_fd(), &raw const msg, flags) })
    });
    strace!(
        Syscall::Sendmsg,
        &r,
        "{}, {{msg_name={}, msg_namelen={}, msg_iov={}, msg_iovlen={}, msg_controllen={}, msg_flags=0}}, {}",
        fd.as_raw_fd(),
        SockAddrArg(addr),
        addr.map_or(0, SockAddr::len),
        Iov(bufs.iter().map(|b| &b[..])),
        bufs.len(),
        control.len(),
        Flags(flags, t::MSG)
    );
    r
}

/// An iovec array as strace prints it: `[{iov_base="...", iov_len=N}, ...]`.
#[cfg(feature = "trace")]
struct Iov<'a, I: Iterator<Item = &'a [u8]> + Clone>(I);

#[cfg(feature = "trace")]
impl<'a, I: Iterator<Item = &'a [u8]> + Clone> std::fmt::Display for Iov<'a, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[")?;
        for (i, b) in self.0.clone().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{{iov_base={}, iov_len={}}}", Buf(b), b.len())?;
        }
        f.write_str("]")
    }
}

/// `recvmsg(fd, {addr, iov, control}, flags | MSG_CMSG_CLOEXEC)`: every fd
/// the kernel passes in SCM_RIGHTS is close-on-exec from birth. The caller
/// must take ownership of those fds (see `adopt_fd`) before anything else
/// can fail.
pub(crate) fn recvmsg(
    fd: BorrowedFd<'_>,
    bufs: &mut [IoSliceMut<'_>],
    addr: Option<&mut SockAddr>,
    control: &mut [u8],
    flags: libc::c_int,
) -> io::Result<RecvMsgOut> {
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    let mut addr = addr;
    if let Some(a) = addr.as_deref_mut() {
        msg.msg_name = a.as_mut_ptr().cast();
        msg.msg_namelen = SockAddr::CAPACITY;
    }
    // IoSliceMut is guaranteed ABI-compatible with iovec on Unix.
    msg.msg_iov = bufs.as_mut_ptr().cast();
    msg.msg_iovlen = bufs.len() as _;
    if !control.is_empty() {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control.len() as _;
    }
    let flags = flags | libc::MSG_CMSG_CLOEXEC;
    let r = run(Syscall::Recvmsg, 0, |_| {
        // SAFETY: fd is borrowed for the call; msg points at a valid msghdr
        // whose name, iovecs and control buffer are writable for their
        // stated lengths.
        ret_len(unsafe { libc::recvmsg(fd.as_raw_fd(), &raw mut msg, flags) })
    });
    if let Some(a) = addr.as_mut() {
        a.set_len(msg.msg_namelen);
    }
    strace!(
        Syscall::Recvmsg,
        &r,
        "{}, {{msg_name={}, msg_namelen={}, msg_iov={}, msg_iovlen={}, msg_controllen={}, msg_flags={}}}, {}",
        fd.as_raw_fd(),
        SockAddrArg(addr.as_deref().filter(|_| r.is_ok())),
        msg.msg_namelen,
        Iov(received(bufs, r.as_ref().ok().copied())),
        bufs.len(),
        msg.msg_controllen,
        Flags(msg.msg_flags, t::MSG),
        Flags(flags, t::MSG)
    );
    Ok(RecvMsgOut {
        bytes: r?,
        flags: msg.msg_flags,
        control_len: (msg.msg_controllen as usize).min(control.len()),
    })
}

/// The bytes a receive put in each buffer, in order, `n` in all.
#[cfg(feature = "trace")]
fn received<'a>(
    bufs: &'a [IoSliceMut<'_>],
    n: Option<usize>,
) -> impl Iterator<Item = &'a [u8]> + Clone {
    let mut left = n.unwrap_or(0);
    bufs.iter().map(move |b| {
        let take = left.min(b.len());
        left -= take;
        &b[..take]
    })
}

/// `sendmmsg(fd, msgvec, vlen, flags | MSG_NOSIGNAL)`: returns how many
/// messages were sent; each header's `msg_len` holds its byte count.
///
/// # Safety
///
/// Every header's name, iovec and control pointers must be valid for reads
/// of their stated lengths for the duration of the call.
pub(crate) unsafe fn sendmmsg(
    fd: BorrowedFd<'_>,
    msgs: &mut [libc::mmsghdr],
    flags: libc::c_int,
) -> io::Result<usize> {
    let vlen = libc::c_uint::try_from(msgs.len()).unwrap_or(libc::c_uint::MAX);
    let flags = flags | libc::MSG_NOSIGNAL;
    let r = run(Syscall::Sendmmsg, 0, |_| {
        // SAFETY: fd is borrowed for the call; msgs is a writable array of
        // vlen headers (the kernel writes msg_len) whose pointers the caller
        // guarantees valid.
        ret_int(unsafe { libc::sendmmsg(fd.as_raw_fd(), msgs.as_mut_ptr(), vlen, flags) })
    });
    strace!(
        Syscall::Sendmmsg,
        &r,
        "{}, [...], {vlen}, {}",
        fd.as_raw_fd(),
        Flags(flags, t::MSG)
    );
    r.map(|n| n as usize)
}

/// `recvmmsg(fd, msgvec, vlen, flags | MSG_CMSG_CLOEXEC, NULL)`: returns how
/// many messages arrived; each header's `msg_len`, `msg_namelen`,
/// `msg_controllen` and `msg_flags` describe one.
///
/// # Safety
///
/// Every header's name, iovec and control pointers must be valid for
/// writes of their stated lengths for the duration of the call.
pub(crate) unsafe fn recvmmsg(
    fd: BorrowedFd<'_>,
    msgs: &mut [libc::mmsghdr],
    flags: libc::c_int,
) -> io::Result<usize> {
    let vlen = libc::c_uint::try_from(msgs.len()).unwrap_or(libc::c_uint::MAX);
    let flags = flags | libc::MSG_CMSG_CLOEXEC;
    let r = run(Syscall::Recvmmsg, 0, |_| {
        // SAFETY: fd is borrowed for the call; msgs is a writable array of
        // vlen headers whose pointers the caller guarantees valid; the
        // timeout is NULL (block as the socket does).
        ret_int(unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                vlen,
                flags,
                std::ptr::null_mut(),
            )
        })
    });
    strace!(
        Syscall::Recvmmsg,
        &r,
        "{}, [...], {vlen}, {}, NULL",
        fd.as_raw_fd(),
        Flags(flags, t::MSG)
    );
    r.map(|n| n as usize)
}

/// Takes ownership of an fd number the kernel just installed in this
/// process through SCM_RIGHTS.
///
/// # Safety
///
/// `raw` must be an fd the kernel handed to this process in a control
/// message received by this crate, not yet owned by anything else.
pub(crate) unsafe fn adopt_fd(raw: RawFd) -> OwnedFd {
    // SAFETY: the caller guarantees `raw` is a fresh fd with no owner.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

/// `getpid()`, `geteuid()`, `getegid()`: the ids an unprivileged process
/// may claim in SCM_CREDENTIALS. None of them can fail.
pub(crate) fn current_ids() -> (libc::pid_t, libc::uid_t, libc::gid_t) {
    let pid = run(Syscall::Getpid, 0, |_| {
        // SAFETY: getpid takes no arguments and always succeeds.
        Ok(unsafe { libc::getpid() })
    });
    strace!(Syscall::Getpid, &pid, "");
    let uid = run(Syscall::Geteuid, 0, |_| {
        // SAFETY: geteuid takes no arguments and always succeeds.
        Ok(unsafe { libc::geteuid() } as libc::c_int)
    });
    strace!(Syscall::Geteuid, &uid, "");
    let gid = run(Syscall::Getegid, 0, |_| {
        // SAFETY: getegid takes no arguments and always succeeds.
        Ok(unsafe { libc::getegid() } as libc::c_int)
    });
    strace!(Syscall::Getegid, &gid, "");
    // None of the three can fail; an injected fault makes them answer -1.
    (
        pid.unwrap_or(-1),
        uid.map_or(libc::uid_t::MAX, |u| u as libc::uid_t),
        gid.map_or(libc::gid_t::MAX, |g| g as libc::gid_t),
    )
}
