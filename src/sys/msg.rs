//! Message syscalls with control data (sendmsg, recvmsg, sendmmsg,
//! recvmmsg), the kernel's framing of a control buffer, and the types whose
//! invariants make those calls safe to offer:
//!
//! - [`KernelControl`]: control bytes the kernel wrote in one of our
//!   receives. It alone may turn the fd numbers in them into `OwnedFd`s,
//!   and it closes the ones nobody took.
//! - [`SendMmsgHdr`] / [`RecvMmsgHdr`]: `struct mmsghdr`s that can only be
//!   built from live borrows, so a slice of them can go to the kernel as
//!   it is.
//!
//! The framing walker ([`frames`], [`fd_slots`]) is pure byte work, shared
//! with `msg::parse`: the one place that knows where a `cmsghdr`'s fields
//! are and how records are padded.

#[cfg(feature = "trace")]
use super::trace::{self as t, Buf, Flags, SockAddrArg};
use super::{Syscall, close, ret_len, run, strace};
use crate::MsgFlags;
use crate::addr::SockAddr;
use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::marker::PhantomData;
use std::mem::{self, size_of};
use std::ops::Range;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

// ---------------------------------------------------------------------------
// The framing of a control buffer: a list of records, each a cmsghdr
// { size_t cmsg_len; int cmsg_level; int cmsg_type; } then the payload,
// padded to a multiple of sizeof(long) (the kernel's CMSG_ALIGN).

/// `sizeof(struct cmsghdr)`.
pub(crate) const HDR: usize = size_of::<libc::cmsghdr>();
/// `CMSG_ALIGN`'s unit: `sizeof(long)`, the size of `usize` on Linux.
pub(crate) const ALIGN: usize = size_of::<usize>();
/// Offset of `cmsg_level`.
pub(crate) const LEVEL_AT: usize = size_of::<usize>();
/// Offset of `cmsg_type`.
pub(crate) const TYPE_AT: usize = LEVEL_AT + size_of::<libc::c_int>();
/// Bytes of one fd number in SCM_RIGHTS.
pub(crate) const FD_LEN: usize = size_of::<RawFd>();

// The kernel's cmsghdr on every Linux target: a size_t, then two ints
// (4+4+4 bytes on 32-bit targets, 8+4+4 on 64-bit ones; musl spells the
// size_t as a socklen_t and a zero pad, same bytes on little-endian).
static_assertions::const_assert_eq!(HDR, size_of::<usize>() + 2 * size_of::<libc::c_int>());
static_assertions::const_assert_eq!(std::mem::offset_of!(libc::cmsghdr, cmsg_level), LEVEL_AT);
static_assertions::const_assert_eq!(std::mem::offset_of!(libc::cmsghdr, cmsg_type), TYPE_AT);
static_assertions::const_assert_eq!(ALIGN, size_of::<libc::c_long>());

/// `CMSG_ALIGN(len)`. Callers pass lengths no larger than a slice's, so
/// the addition cannot overflow.
pub(crate) const fn align(len: usize) -> usize {
    (len + ALIGN - 1) & !(ALIGN - 1)
}

pub(crate) fn ne_usize(b: &[u8]) -> usize {
    let mut a = [0u8; size_of::<usize>()];
    a.copy_from_slice(&b[..size_of::<usize>()]);
    usize::from_ne_bytes(a)
}

pub(crate) fn ne_i32(b: &[u8]) -> i32 {
    i32::from_ne_bytes([b[0], b[1], b[2], b[3]])
}

/// Why the framing walk stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// `cmsg_len` smaller than a header (going on could loop forever).
    ShortHeader { at: usize, len: usize },
    /// `cmsg_len` past the end of the buffer.
    PastEnd {
        at: usize,
        len: usize,
        available: usize,
    },
}

/// One record: (level, type, payload range in the buffer).
pub(crate) type Frame = (i32, i32, Range<usize>);

/// Walks the records of a control buffer. A framing error is yielded once
/// and ends the walk; fewer bytes left than a header end it quietly, as
/// the kernel's `CMSG_NXTHDR` does.
#[derive(Clone, Debug)]
pub(crate) struct Frames<'a> {
    bytes: &'a [u8],
    at: usize,
    done: bool,
}

impl Iterator for Frames<'_> {
    type Item = Result<Frame, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let at = self.at;
        let available = self.bytes.len().saturating_sub(at);
        if available < HDR {
            self.done = true;
            return None;
        }
        let hdr = &self.bytes[at..at + HDR];
        let len = ne_usize(hdr);
        if len < HDR {
            self.done = true;
            return Some(Err(FrameError::ShortHeader { at, len }));
        }
        if len > available {
            self.done = true;
            return Some(Err(FrameError::PastEnd { at, len, available }));
        }
        let level = ne_i32(&hdr[LEVEL_AT..]);
        let kind = ne_i32(&hdr[TYPE_AT..]);
        // len <= available <= bytes.len(), so align(len) cannot overflow;
        // the next header starts at the aligned end, and an end past the
        // buffer finishes the walk on the next call.
        match at.checked_add(align(len)) {
            Some(next) => self.at = next,
            None => self.done = true,
        }
        Some(Ok((level, kind, at + align(HDR)..at + len)))
    }
}

/// Walks `bytes` record by record.
pub(crate) fn frames(bytes: &[u8]) -> Frames<'_> {
    Frames {
        bytes,
        at: 0,
        done: false,
    }
}

/// The offset of every fd slot (4 bytes) of every SCM_RIGHTS record in
/// `bytes`, in order, up to the first framing error. Pure: it finds the
/// numbers, it never touches an fd.
pub(crate) fn fd_slots(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    frames(bytes)
        .map_while(Result::ok)
        .filter(|(level, kind, _)| (*level, *kind) == (libc::SOL_SOCKET, libc::SCM_RIGHTS))
        .flat_map(|(_, _, r)| (r.start..r.end.saturating_sub(FD_LEN - 1)).step_by(FD_LEN))
}

/// The first fd number not taken yet (`>= 0`) in the SCM_RIGHTS records
/// of `bytes`, in order: its slot is overwritten with -1 and the number
/// returned. Pure: it finds and marks a number, it never touches an fd
/// (adopting it is [`KernelControl::take_fd`]'s job), so a fuzzer can drive
/// it on any bytes.
pub(crate) fn take_fd_number(bytes: &mut [u8]) -> Option<RawFd> {
    // Re-walk from the start each time: a control buffer holds a few
    // hundred fds at most, and a walk that keeps no state cannot get out of
    // step with the bytes.
    let slot = fd_slots(bytes).find(|&s| ne_i32(&bytes[s..]) >= 0)?;
    let raw = ne_i32(&bytes[slot..]);
    bytes[slot..slot + FD_LEN].copy_from_slice(&(-1 as RawFd).to_ne_bytes());
    Some(raw)
}

// ---------------------------------------------------------------------------
// Control data the kernel wrote, and the fds it owns.

/// The control bytes the kernel wrote in one receive made here (`recvmsg`
/// or a filled `recvmmsg` slot), and ownership of every fd passed in them.
///
/// Built only in this module, right after the receive: that is what makes
/// adopting the fd numbers found in the bytes sound. An fd is adopted at
/// most once: its slot is overwritten with -1 as it is taken. Those left
/// are closed on drop.
pub(crate) struct KernelControl<'c> {
    bytes: &'c mut [u8],
}

impl KernelControl<'_> {
    /// The control data as received (fds taken read as -1).
    pub(crate) fn bytes(&self) -> &[u8] {
        self.bytes
    }

    /// Takes the next fd not yet taken, in order, as an `OwnedFd`.
    pub(crate) fn take_fd(&mut self) -> Option<OwnedFd> {
        let raw = take_fd_number(self.bytes)?;
        // SAFETY: these bytes are control data the kernel wrote in our own
        // receive, so `raw` is an fd it just installed in this process for
        // us; nobody else owns it, and take_fd_number returned it once and
        // set its slot to -1, so it is adopted exactly once.
        Some(unsafe { OwnedFd::from_raw_fd(raw) })
    }
}

impl Drop for KernelControl<'_> {
    fn drop(&mut self) {
        // Close every fd nobody took, whatever else the buffer holds.
        while let Some(fd) = self.take_fd() {
            let _ = close(fd);
        }
    }
}

impl fmt::Debug for KernelControl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelControl")
            .field("len", &self.bytes.len())
            .finish()
    }
}

// ---------------------------------------------------------------------------
// sendmsg / recvmsg

/// `sendmsg(fd, {addr, iov, control}, flags | MSG_NOSIGNAL)`. The one call
/// site of sendmsg (the vectored sends of `sys::net` come here too).
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
        // (zeroed first, so musl's padding words read 0 as the kernel's
        // size_t fields need) whose name, iovecs and control buffer borrow
        // live slices for the call; the kernel only reads them.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_sendmsg,
                fd.as_raw_fd() as libc::c_long,
                &raw const msg,
                flags as libc::c_long,
            )
        };
        ret_len(ret as libc::ssize_t)
    });
    strace!(
        Syscall::Sendmsg,
        &r,
        "{}, {{msg_name={}, msg_namelen={}, msg_iov={}, msg_iovlen={}, msg_controllen={}, msg_flags=0}}, {}",
        fd.as_raw_fd(),
        SockAddrArg(addr),
        addr.map_or(0, SockAddr::len),
        Iov(bufs.iter().map(|b| (&b[..], b.len()))),
        bufs.len(),
        control.len(),
        Flags(flags, t::MSG)
    );
    r
}

/// An iovec array as strace prints it: `[{iov_base="...", iov_len=N}, ...]`,
/// from (the bytes to show, the buffer's length) pairs: a receive shows
/// what it put in each buffer, and strace gives each buffer's whole length.
#[cfg(feature = "trace")]
struct Iov<'a, I: Iterator<Item = (&'a [u8], usize)> + Clone>(I);

#[cfg(feature = "trace")]
impl<'a, I: Iterator<Item = (&'a [u8], usize)> + Clone> fmt::Display for Iov<'a, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, (b, len)) in self.0.clone().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{{iov_base={}, iov_len={len}}}", Buf(b))?;
        }
        f.write_str("]")
    }
}

/// An iovec array by address, for a receive whose count says nothing of
/// what the kernel wrote (`MSG_TRUNC` in its flags, see
/// [`recvfrom`](super::net::recvfrom)): `[{iov_base=0x..., iov_len=N}, ...]`
/// (an empty buffer as `""`: it has no contents).
#[cfg(feature = "trace")]
struct IovAddrs<'a>(&'a [IoSliceMut<'a>]);

#[cfg(feature = "trace")]
impl fmt::Display for IovAddrs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if b.is_empty() {
                // No contents to show: as strace prints it.
                f.write_str("{iov_base=\"\", iov_len=0}")?;
            } else {
                write!(f, "{{iov_base={:p}, iov_len={}}}", b.as_ptr(), b.len())?;
            }
        }
        f.write_str("]")
    }
}

/// The bytes a receive put in each buffer, in order, `n` in all, each
/// with its buffer's length.
#[cfg(feature = "trace")]
fn received<'a>(
    bufs: &'a [IoSliceMut<'_>],
    n: Option<usize>,
) -> impl Iterator<Item = (&'a [u8], usize)> + Clone {
    let mut left = n.unwrap_or(0);
    bufs.iter().map(move |b| {
        let take = left.min(b.len());
        left -= take;
        (&b[..take], b.len())
    })
}

/// What `recvmsg` reports besides the byte count and the control data.
pub(crate) struct RecvMsgOut {
    pub(crate) bytes: usize,
    pub(crate) flags: libc::c_int,
}

/// `recvmsg(fd, {addr, iov, control}, flags | MSG_CMSG_CLOEXEC)`. The one
/// call site of recvmsg. Every fd the kernel passes in SCM_RIGHTS is
/// close-on-exec from birth and is owned, before this returns, by the
/// returned [`KernelControl`] (so an fd can never leak, even when the
/// caller drops the result).
pub(crate) fn recvmsg<'c>(
    fd: BorrowedFd<'_>,
    bufs: &mut [IoSliceMut<'_>],
    addr: Option<&mut SockAddr>,
    control: &'c mut [u8],
    flags: libc::c_int,
) -> io::Result<(RecvMsgOut, KernelControl<'c>)> {
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
    strace!(
        Syscall::Recvmsg,
        &r,
        "{}, {{msg_name={}, msg_namelen={}, msg_iov={}, msg_iovlen={}, msg_controllen={}, msg_flags={}}}, {}",
        fd.as_raw_fd(),
        t::With(|f: &mut fmt::Formatter<'_>| match (&r, addr.as_deref()) {
            (Ok(_), Some(a)) => {
                let mut a = *a;
                a.set_len(msg.msg_namelen);
                write!(f, "{}", SockAddrArg(Some(&a)))
            }
            _ => f.write_str("NULL"),
        }),
        msg.msg_namelen,
        t::With(
            |f: &mut fmt::Formatter<'_>| if flags & libc::MSG_TRUNC != 0 {
                // The count is not what was written: print no contents.
                write!(f, "{}", IovAddrs(bufs))
            } else {
                write!(f, "{}", Iov(received(bufs, r.as_ref().ok().copied())))
            }
        ),
        bufs.len(),
        msg.msg_controllen,
        Flags(msg.msg_flags, t::MSG),
        Flags(flags, t::MSG)
    );
    let bytes = r?;
    // The kernel reports how much control data it wrote (never more than
    // it was given; clamped all the same).
    #[allow(clippy::unnecessary_cast)] // size_t here, socklen_t on musl
    let control_len = (msg.msg_controllen as usize).min(control.len());
    let control = KernelControl {
        bytes: &mut control[..control_len],
    };
    if let Some(a) = addr {
        a.set_len(msg.msg_namelen);
    }
    Ok((
        RecvMsgOut {
            bytes,
            // The kernel echoes MSG_CMSG_CLOEXEC, which we added, in the
            // flags it returns; the caller did not ask for it.
            flags: msg.msg_flags & !libc::MSG_CMSG_CLOEXEC,
        },
        control,
    ))
}

// ---------------------------------------------------------------------------
// sendmmsg / recvmmsg over caller-owned arrays of headers

/// One message of a [`OwnedSocket::send_mmsg`](crate::OwnedSocket::send_mmsg)
/// batch: a `struct mmsghdr` that borrows its buffers, address and control
/// data, so a slice of them goes to the kernel as it is, with no copy and
/// no allocation.
#[repr(transparent)]
pub struct SendMmsgHdr<'a> {
    hdr: libc::mmsghdr,
    _borrows: PhantomData<&'a [u8]>,
}

// SAFETY: the raw pointers inside borrow `&'a` data that is itself Send and
// Sync (byte slices, IoSlices, SockAddr); the header adds no shared mutable
// state.
unsafe impl Send for SendMmsgHdr<'_> {}
// SAFETY: as above; through `&SendMmsgHdr` nothing can be written.
unsafe impl Sync for SendMmsgHdr<'_> {}

impl<'a> SendMmsgHdr<'a> {
    /// A message of the gathered `bufs`, to `addr` (or the connected peer)
    /// with `control` (from a [`CmsgWriter`](crate::msg::CmsgWriter), or
    /// empty).
    pub fn new<'b: 'a>(
        bufs: &'a [IoSlice<'b>],
        addr: Option<&'a SockAddr>,
        control: &'a [u8],
    ) -> SendMmsgHdr<'a> {
        // SAFETY: mmsghdr is plain data; all-zero is a valid empty header.
        let mut hdr: libc::mmsghdr = unsafe { mem::zeroed() };
        if let Some(a) = addr {
            hdr.msg_hdr.msg_name = a.as_ptr().cast_mut().cast();
            hdr.msg_hdr.msg_namelen = a.len();
        }
        // IoSlice is guaranteed ABI-compatible with iovec on Unix.
        hdr.msg_hdr.msg_iov = bufs.as_ptr().cast_mut().cast();
        hdr.msg_hdr.msg_iovlen = bufs.len() as _;
        if !control.is_empty() {
            hdr.msg_hdr.msg_control = control.as_ptr().cast_mut().cast();
            hdr.msg_hdr.msg_controllen = control.len() as _;
        }
        SendMmsgHdr {
            hdr,
            _borrows: PhantomData,
        }
    }

    /// Bytes the kernel sent of this message in the last `send_mmsg` (0 if
    /// it was not sent).
    pub fn sent(&self) -> usize {
        self.hdr.msg_len as usize
    }
}

impl fmt::Debug for SendMmsgHdr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendMmsgHdr")
            .field("sent", &self.sent())
            .finish()
    }
}

/// `msg_flags` of a slot no receive has filled yet: the kernel ignores
/// msg_flags on input and overwrites it for each message it fills, and no
/// flag combination it reports sets every bit.
const FRESH: libc::c_int = -1;

/// One message slot of a [`OwnedSocket::recv_mmsg`](crate::OwnedSocket::recv_mmsg)
/// batch: a `struct mmsghdr` that borrows the buffers, address and control
/// buffer to fill.
///
/// A slot serves one receive: the kernel overwrites its address and control
/// lengths with what it used, so a filled slot would offer less room next
/// time. Build fresh slots for each call (they are plain values made from
/// borrows, on the stack or in a `Vec` reused with `clear`); `recv_mmsg`
/// refuses a filled one.
#[repr(transparent)]
pub struct RecvMmsgHdr<'a> {
    hdr: libc::mmsghdr,
    _borrows: PhantomData<&'a mut [u8]>,
}

// SAFETY: the raw pointers inside borrow `&'a mut` data that is Send (byte
// slices, IoSliceMuts, SockAddr); the header is their only user while it
// lives.
unsafe impl Send for RecvMmsgHdr<'_> {}
// SAFETY: through `&RecvMmsgHdr` nothing can be written, and what can be
// read (lengths, flags, a copy of the address) is plain data.
unsafe impl Sync for RecvMmsgHdr<'_> {}

impl<'a> RecvMmsgHdr<'a> {
    /// A slot that receives into `bufs`, the sender's address into `addr`
    /// and control data into `control` (may be empty).
    pub fn new<'b: 'a>(
        bufs: &'a mut [IoSliceMut<'b>],
        addr: Option<&'a mut SockAddr>,
        control: &'a mut [u8],
    ) -> RecvMmsgHdr<'a> {
        // SAFETY: mmsghdr is plain data; all-zero is a valid empty header.
        let mut hdr: libc::mmsghdr = unsafe { mem::zeroed() };
        if let Some(a) = addr {
            // SockAddr is repr(C) with its storage first, so the pointer to
            // the whole SockAddr is the sockaddr pointer; recvmmsg below
            // uses it to record the length the kernel wrote.
            hdr.msg_hdr.msg_name = std::ptr::from_mut(a).cast();
            hdr.msg_hdr.msg_namelen = SockAddr::CAPACITY;
        }
        // IoSliceMut is guaranteed ABI-compatible with iovec on Unix.
        hdr.msg_hdr.msg_iov = bufs.as_mut_ptr().cast();
        hdr.msg_hdr.msg_iovlen = bufs.len() as _;
        if !control.is_empty() {
            hdr.msg_hdr.msg_control = control.as_mut_ptr().cast();
            hdr.msg_hdr.msg_controllen = control.len() as _;
        }
        hdr.msg_hdr.msg_flags = FRESH;
        RecvMmsgHdr {
            hdr,
            _borrows: PhantomData,
        }
    }

    /// Bytes received into this slot by the last `recv_mmsg`.
    pub fn len(&self) -> usize {
        self.hdr.msg_len as usize
    }

    /// Whether the last `recv_mmsg` put an empty datagram here, or nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The flags the kernel set for this message (`MSG_TRUNC`,
    /// `MSG_CTRUNC`); empty for a slot not filled.
    pub fn flags(&self) -> MsgFlags {
        if self.is_fresh() {
            MsgFlags::NONE
        } else {
            // Without the MSG_CMSG_CLOEXEC the kernel echoes back.
            MsgFlags::from(self.hdr.msg_hdr.msg_flags & !libc::MSG_CMSG_CLOEXEC)
        }
    }

    /// Whether no receive has filled this slot.
    pub(crate) fn is_fresh(&self) -> bool {
        self.hdr.msg_hdr.msg_flags == FRESH
    }

    /// A copy of the sender's address, for a filled slot that was given an
    /// address buffer.
    pub(crate) fn addr(&self) -> Option<SockAddr> {
        let name = self.hdr.msg_hdr.msg_name.cast_const().cast::<SockAddr>();
        if self.is_fresh() || name.is_null() {
            return None;
        }
        // SAFETY: msg_name was made from the `&'a mut SockAddr` this slot
        // holds, so it is valid and nothing else uses it; SockAddr is Copy.
        Some(unsafe { *name })
    }

    /// The control data the kernel wrote into a filled slot, owning the fds
    /// in it. `None` for a fresh slot or one without a control buffer.
    pub(crate) fn control(&mut self) -> Option<KernelControl<'_>> {
        let ptr = self.hdr.msg_hdr.msg_control.cast::<u8>();
        if self.is_fresh() || ptr.is_null() {
            return None;
        }
        #[allow(clippy::unnecessary_cast)] // size_t here, socklen_t on musl
        let len = self.hdr.msg_hdr.msg_controllen as usize;
        // SAFETY: msg_control came from the `&'a mut [u8]` this slot holds
        // (borrowed again through `&mut self`), and a filled slot's
        // msg_controllen is what the kernel wrote there, clamped by
        // `recvmmsg` (`after_receive`) to the buffer's length.
        let bytes = unsafe { std::slice::from_raw_parts_mut(ptr, len) };
        // A filled slot's control bytes were written by the kernel in
        // recvmmsg below: the fds in them are ours to adopt (those already
        // taken read -1).
        Some(KernelControl { bytes })
    }
}

impl fmt::Debug for RecvMmsgHdr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvMmsgHdr")
            .field("len", &self.len())
            .field("flags", &self.flags())
            .finish()
    }
}

/// `sendmmsg(fd, msgvec, vlen, flags | MSG_NOSIGNAL)`: returns how many
/// messages were sent; each header's `msg_len` holds its byte count. Safe:
/// a `SendMmsgHdr` is only ever built from live borrows.
pub(crate) fn sendmmsg(
    fd: BorrowedFd<'_>,
    msgs: &mut [SendMmsgHdr<'_>],
    flags: libc::c_int,
) -> io::Result<usize> {
    let vlen = libc::c_uint::try_from(msgs.len()).unwrap_or(libc::c_uint::MAX);
    // SendMmsgHdr is repr(transparent) over mmsghdr.
    let ptr = msgs.as_mut_ptr().cast::<libc::mmsghdr>();
    let flags = flags | libc::MSG_NOSIGNAL;
    let r = run(Syscall::Sendmmsg, 0, |_| {
        // SAFETY: fd is borrowed for the call; `ptr` is a writable array of
        // vlen mmsghdrs (the kernel writes msg_len), each built by
        // SendMmsgHdr::new from borrows that outlive `msgs`, so every
        // pointer in them is valid for reads of its stated length.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_sendmmsg,
                fd.as_raw_fd() as libc::c_long,
                ptr,
                vlen as libc::c_long,
                flags as libc::c_long,
            )
        };
        ret_len(ret as libc::ssize_t)
    });
    strace!(
        Syscall::Sendmmsg,
        &r,
        "{}, [...], {vlen}, {}",
        fd.as_raw_fd(),
        Flags(flags, t::MSG)
    );
    r
}

/// `recvmmsg(fd, msgvec, vlen, flags | MSG_CMSG_CLOEXEC, NULL)`: returns
/// how many messages arrived; each filled slot's length, flags, address
/// length and control length describe one. Safe: a `RecvMmsgHdr` is only
/// ever built from live mutable borrows. The fds passed stay in the slots'
/// control bytes until [`RecvMmsgHdr::control`] hands them out.
///
/// Refuses (`InvalidInput`, before the syscall) a slot an earlier call
/// filled: besides its shrunken lengths, its control bytes may still hold
/// fd numbers from that receive (if its batch was leaked), and a filled
/// slot is what [`RecvMmsgHdr::control`] trusts to hold fresh fds.
pub(crate) fn recvmmsg(
    fd: BorrowedFd<'_>,
    msgs: &mut [RecvMmsgHdr<'_>],
    flags: libc::c_int,
) -> io::Result<usize> {
    if !msgs.iter().all(RecvMmsgHdr::is_fresh) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "recvmmsg slot already filled: build fresh slots",
        ));
    }
    // The kernel fills at most UIO_MAXIOV slots per call whatever vlen
    // says; handing it no more lets the room of each slot it may fill be
    // kept here, without allocating, for the clamp below.
    let vlen = msgs.len().min(MAX_MMSG);
    let msgs = &mut msgs[..vlen];
    let mut room = [0usize; MAX_MMSG];
    for (r, h) in room.iter_mut().zip(msgs.iter()) {
        #[allow(clippy::unnecessary_cast)] // size_t here, socklen_t on musl
        let len = h.hdr.msg_hdr.msg_controllen as usize;
        *r = len;
    }
    let vlen = msgs.len() as libc::c_uint;
    // RecvMmsgHdr is repr(transparent) over mmsghdr.
    let ptr = msgs.as_mut_ptr().cast::<libc::mmsghdr>();
    let flags = flags | libc::MSG_CMSG_CLOEXEC;
    let r = run(Syscall::Recvmmsg, 0, |_| {
        // SAFETY: fd is borrowed; `ptr` is a writable array of vlen mmsghdrs
        // built by RecvMmsgHdr::new from mutable borrows that outlive `msgs`,
        // so each pointer in them is valid for writes of its stated length;
        // a NULL timeout blocks as the socket does.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_recvmmsg,
                fd.as_raw_fd() as libc::c_long,
                ptr,
                vlen as libc::c_long,
                flags as libc::c_long,
                std::ptr::null::<libc::timespec>(),
            )
        };
        ret_len(ret as libc::ssize_t)
    });
    strace!(
        Syscall::Recvmmsg,
        &r,
        "{}, [...], {vlen}, {}, NULL",
        fd.as_raw_fd(),
        Flags(flags, t::MSG)
    );
    let n = r?.min(msgs.len());
    for (h, &room) in msgs[..n].iter_mut().zip(&room) {
        h.after_receive(room);
    }
    Ok(n)
}

/// The most slots one `recvmmsg` fills: the kernel caps `vlen` at
/// `UIO_MAXIOV`.
const MAX_MMSG: usize = 1024;

impl RecvMmsgHdr<'_> {
    /// Records what the kernel reported for a slot it filled: the address
    /// length (clamped by `SockAddr::set_len`) and the control length,
    /// clamped to `room`, the control buffer's length before the call, as
    /// `recvmsg` clamps its own: [`RecvMmsgHdr::control`] makes a slice of
    /// that length.
    fn after_receive(&mut self, room: usize) {
        #[allow(clippy::unnecessary_cast)] // size_t here, socklen_t on musl
        let len = (self.hdr.msg_hdr.msg_controllen as usize).min(room);
        self.hdr.msg_hdr.msg_controllen = len as _;
        let name = self.hdr.msg_hdr.msg_name.cast::<SockAddr>();
        if !name.is_null() {
            // SAFETY: msg_name was made from the `&'a mut SockAddr` the slot
            // holds; nothing else uses it while the slot lives.
            unsafe { (*name).set_len(self.hdr.msg_hdr.msg_namelen) };
        }
    }
}

// ---------------------------------------------------------------------------

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recvmmsg_control_length_is_clamped_to_the_buffer() {
        // A kernel (or an injected fault) that reports more control bytes
        // than the slot's buffer holds must not make `control()` reach
        // past it. The slot gets the first 16 bytes of a larger buffer, so
        // an unclamped length stays inside the allocation when this test
        // runs without the clamp, and fails the assertion instead.
        let mut backing = [0u8; 256];
        let mut data = [0u8; 4];
        let mut bufs = [IoSliceMut::new(&mut data)];
        let mut addr = SockAddr::empty();
        let mut slot = RecvMmsgHdr::new(&mut bufs, Some(&mut addr), &mut backing[..16]);
        // What recvmmsg would have recorded before the call.
        #[allow(clippy::unnecessary_cast)]
        let room = slot.hdr.msg_hdr.msg_controllen as usize;
        assert_eq!(room, 16);
        // What the kernel "wrote": a filled slot, too long a control and
        // address length.
        slot.hdr.msg_hdr.msg_flags = 0;
        slot.hdr.msg_hdr.msg_controllen = 64;
        slot.hdr.msg_hdr.msg_namelen = 4096;
        slot.after_receive(room);
        let control = slot.control().expect("a filled slot with a buffer");
        assert_eq!(control.bytes().len(), 16);
        drop(control);
        assert_eq!(slot.addr().map(|a| a.len()), Some(SockAddr::CAPACITY));
        // What the kernel really reports is kept as it is.
        slot.hdr.msg_hdr.msg_controllen = 8;
        slot.after_receive(room);
        assert_eq!(slot.control().map(|c| c.bytes().len()), Some(8));
    }

    #[test]
    fn take_fd_number_takes_each_fd_once_in_order() {
        use crate::msg::{CmsgWriter, cmsg_space};
        let mut buf = vec![0u8; 2 * cmsg_space(12) + cmsg_space(4)];
        let mut w = CmsgWriter::new(&mut buf);
        let fds = |v: &[i32]| v.iter().flat_map(|f| f.to_ne_bytes()).collect::<Vec<u8>>();
        w.push(libc::SOL_SOCKET, libc::SCM_RIGHTS, &fds(&[5, -1, 7]))
            .unwrap();
        w.push(libc::SOL_SOCKET, libc::SCM_CREDENTIALS, &fds(&[9, 9, 9]))
            .unwrap();
        w.push(libc::SOL_SOCKET, libc::SCM_RIGHTS, &fds(&[0]))
            .unwrap();
        let len = w.as_bytes().len();
        let bytes = &mut buf[..len];
        let before = bytes.to_vec();
        let taken: Vec<RawFd> = std::iter::from_fn(|| take_fd_number(bytes)).collect();
        assert_eq!(taken, [5, 7, 0]);
        assert_eq!(take_fd_number(bytes), None);
        // Only the taken slots changed, each to -1.
        let changed: Vec<usize> = (0..len).filter(|&i| bytes[i] != before[i]).collect();
        let slots = [HDR, HDR + 8, 2 * cmsg_space(12) + HDR];
        assert!(
            changed
                .iter()
                .all(|&i| slots.iter().any(|&s| (s..s + 4).contains(&i)))
        );
        for s in slots {
            assert_eq!(ne_i32(&bytes[s..]), -1);
        }
    }
}
