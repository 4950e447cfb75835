//! Message syscalls with control data: sendmsg, recvmsg, sendmmsg,
//! recvmmsg.

use super::{Syscall, enter, ret_int, ret_len};
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
    enter(Syscall::Sendmsg);
    // SAFETY: fd is borrowed for the call; msg points at a valid msghdr whose
    // name, iovecs and control buffer borrow live slices for the call; the
    // kernel only reads them.
    ret_len(unsafe { libc::sendmsg(fd.as_raw_fd(), &raw const msg, flags | libc::MSG_NOSIGNAL) })
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
    enter(Syscall::Recvmsg);
    // SAFETY: fd is borrowed for the call; msg points at a valid msghdr whose
    // name, iovecs and control buffer are writable for their stated lengths.
    let bytes = ret_len(unsafe {
        libc::recvmsg(fd.as_raw_fd(), &raw mut msg, flags | libc::MSG_CMSG_CLOEXEC)
    })?;
    if let Some(a) = addr {
        a.set_len(msg.msg_namelen);
    }
    Ok(RecvMsgOut {
        bytes,
        flags: msg.msg_flags,
        control_len: (msg.msg_controllen as usize).min(control.len()),
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
    enter(Syscall::Sendmmsg);
    // SAFETY: fd is borrowed for the call; msgs is a writable array of vlen
    // headers (the kernel writes msg_len) whose pointers the caller
    // guarantees valid.
    let n = ret_int(unsafe {
        libc::sendmmsg(
            fd.as_raw_fd(),
            msgs.as_mut_ptr(),
            vlen,
            flags | libc::MSG_NOSIGNAL,
        )
    })?;
    Ok(n as usize)
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
    enter(Syscall::Recvmmsg);
    // SAFETY: fd is borrowed for the call; msgs is a writable array of vlen
    // headers whose pointers the caller guarantees valid; the timeout is
    // NULL (block as the socket does).
    let n = ret_int(unsafe {
        libc::recvmmsg(
            fd.as_raw_fd(),
            msgs.as_mut_ptr(),
            vlen,
            flags | libc::MSG_CMSG_CLOEXEC,
            std::ptr::null_mut(),
        )
    })?;
    Ok(n as usize)
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
    enter(Syscall::Getpid);
    // SAFETY: getpid takes no arguments and always succeeds.
    let pid = unsafe { libc::getpid() };
    enter(Syscall::Geteuid);
    // SAFETY: geteuid takes no arguments and always succeeds.
    let uid = unsafe { libc::geteuid() };
    enter(Syscall::Getegid);
    // SAFETY: getegid takes no arguments and always succeeds.
    let gid = unsafe { libc::getegid() };
    (pid, uid, gid)
}
