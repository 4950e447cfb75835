//! Messages: `sendmsg`/`recvmsg` with control data, the control-message
//! (cmsg) builder and parser, and batched `sendmmsg`/`recvmmsg`.
//!
//! # Control messages
//!
//! Ancillary data travels beside the bytes of a message as a list of
//! `cmsghdr` records: a length (`size_t`), a level and a type (`c_int`
//! each), then the payload, each record padded to a multiple of
//! `size_of::<usize>()`. This module reads and writes that format itself,
//! over the caller's byte buffer, with no allocation and no `CMSG_*` macro:
//!
//! - [`CmsgWriter`] appends messages to a buffer (size it with
//!   [`cmsg_space`] and the `SPACE_*` constants, all `const`), then
//!   [`OwnedSocket::send_msg`] sends [`CmsgWriter::as_bytes`].
//! - [`parse`] walks a buffer and yields [`Cmsg`] values. It is a pure
//!   function over bytes: it reads nothing past the slice, stops cleanly at
//!   a truncated or malformed record, and reports fd numbers, never owned
//!   fds, so a fuzzer's bytes can never close a real fd.
//! - [`OwnedSocket::recv_msg`] receives into a buffer and returns a
//!   [`Control`] that owns every fd the kernel passed (SCM_RIGHTS, received
//!   with `MSG_CMSG_CLOEXEC`): take them with [`Control::take_fds`]; any
//!   left are closed when the `Control` drops, even when the kernel cut the
//!   control data short (`MSG_CTRUNC`).
//!
//! # References
//! [sendmsg(2)](https://man7.org/linux/man-pages/man2/sendmsg.2.html),
//! [recvmsg(2)](https://man7.org/linux/man-pages/man2/recvmsg.2.html),
//! [cmsg(3)](https://man7.org/linux/man-pages/man3/cmsg.3.html),
//! [unix(7)](https://man7.org/linux/man-pages/man7/unix.7.html),
//! [ip(7)](https://man7.org/linux/man-pages/man7/ip.7.html),
//! [ipv6(7)](https://man7.org/linux/man-pages/man7/ipv6.7.html),
//! [udp(7)](https://man7.org/linux/man-pages/man7/udp.7.html),
//! [sendmmsg(2)](https://man7.org/linux/man-pages/man2/sendmmsg.2.html),
//! [recvmmsg(2)](https://man7.org/linux/man-pages/man2/recvmmsg.2.html)
// Adopting the fds the kernel passed in SCM_RIGHTS, and handing the
// kernel arrays of message headers whose pointers borrow caller memory,
// are the unsafe operations of this module.
#![allow(unsafe_code)]

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::marker::PhantomData;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::addr::{self, Addr};
use crate::{MsgFlags, OwnedSocket, SockAddr, sys};

const HDR: usize = size_of::<libc::cmsghdr>();
const ALIGN: usize = size_of::<usize>();
const LEVEL_AT: usize = size_of::<usize>();
const TYPE_AT: usize = LEVEL_AT + size_of::<libc::c_int>();
const FD_LEN: usize = size_of::<RawFd>();

static_assertions::const_assert_eq!(HDR, size_of::<usize>() + 2 * size_of::<libc::c_int>());
static_assertions::assert_eq_size!(libc::cmsghdr, [usize; 2]);

const fn align(len: usize) -> usize {
    (len + ALIGN - 1) & !(ALIGN - 1)
}

/// `CMSG_LEN(payload)`: the `cmsg_len` of a message with `payload` bytes.
pub const fn cmsg_len(payload: usize) -> usize {
    align(HDR) + payload
}

/// `CMSG_SPACE(payload)`: the bytes a message with `payload` bytes takes in
/// a control buffer, padding included. Add these up to size a buffer.
pub const fn cmsg_space(payload: usize) -> usize {
    align(HDR) + align(payload)
}

/// Space for SCM_RIGHTS carrying `n` fds.
pub const fn space_for_fds(n: usize) -> usize {
    cmsg_space(n * FD_LEN)
}

/// Space for SCM_CREDENTIALS.
pub const SPACE_CREDENTIALS: usize = cmsg_space(size_of::<libc::ucred>());
/// Space for IP_PKTINFO.
pub const SPACE_PKTINFO_V4: usize = cmsg_space(size_of::<libc::in_pktinfo>());
/// Space for IPV6_PKTINFO.
pub const SPACE_PKTINFO_V6: usize = cmsg_space(size_of::<libc::in6_pktinfo>());
/// Space for an `int` payload: IP_TTL, IPV6_HOPLIMIT, IPV6_TCLASS,
/// UDP_GRO, and IP_TOS as sent.
pub const SPACE_INT: usize = cmsg_space(size_of::<libc::c_int>());
/// Space for IP_TOS as received (one byte).
pub const SPACE_TOS: usize = cmsg_space(1);
/// Space for SO_TIMESTAMPNS (`struct timespec`).
pub const SPACE_TIMESTAMPNS: usize = cmsg_space(size_of::<libc::timespec>());
/// Space for UDP_SEGMENT (a `u16`).
pub const SPACE_UDP_SEGMENT: usize = cmsg_space(size_of::<u16>());
/// Space for IP_RECVERR / IPV6_RECVERR: the extended error and the
/// offender's address (an IPv6 one, the larger).
pub const SPACE_RECVERR: usize =
    cmsg_space(size_of::<libc::sock_extended_err>() + size_of::<libc::sockaddr_in6>());

/// A control-message buffer of `N` bytes, aligned for `cmsghdr`.
///
/// ```
/// use baresock::msg::{CmsgBuffer, SPACE_PKTINFO_V4, SPACE_INT};
/// let mut buf = CmsgBuffer::<{ SPACE_PKTINFO_V4 + SPACE_INT }>::new();
/// assert_eq!(buf.as_mut_slice().len(), SPACE_PKTINFO_V4 + SPACE_INT);
/// ```
#[derive(Clone, Copy)]
#[repr(C, align(8))]
pub struct CmsgBuffer<const N: usize> {
    bytes: [u8; N],
}

static_assertions::const_assert!(align_of::<CmsgBuffer<1>>() >= align_of::<libc::cmsghdr>());

impl<const N: usize> CmsgBuffer<N> {
    /// A zeroed buffer.
    pub const fn new() -> Self {
        CmsgBuffer { bytes: [0; N] }
    }

    /// The whole buffer, for [`CmsgWriter::new`] or
    /// [`OwnedSocket::recv_msg`].
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
}

impl<const N: usize> Default for CmsgBuffer<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for CmsgBuffer<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CmsgBuffer<{N}>")
    }
}

/// Credentials sent or received with SCM_CREDENTIALS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// Process id.
    pub pid: libc::pid_t,
    /// User id.
    pub uid: libc::uid_t,
    /// Group id.
    pub gid: libc::gid_t,
}

impl Credentials {
    /// `getpid()`, `geteuid()`, `getegid()` — the calling process's pid,
    /// effective uid and effective gid: what an unprivileged sender may
    /// claim.
    pub fn current() -> Credentials {
        let (pid, uid, gid) = sys::msg::current_ids();
        Credentials { pid, uid, gid }
    }
}

/// An extended error from the socket's error queue (IP_RECVERR /
/// IPV6_RECVERR), read with `MSG_ERRQUEUE`.
///
/// Such an entry does not kill the socket: it is one queued report (an
/// ICMP error for a datagram sent earlier, say). While the queue is not
/// empty, poll and epoll report the socket with `POLLERR`/`EPOLLERR` (the
/// poll module's `is_error` extra, and readable+writable in the shared
/// contract); reading the entry with `MSG_ERRQUEUE` clears it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtendedError {
    /// The errno the error stands for (`ECONNREFUSED` for port unreachable).
    pub errno: i32,
    /// Where it came from: `SO_EE_ORIGIN_ICMP`, `_ICMP6`, `_LOCAL`...
    pub origin: u8,
    /// ICMP type, for ICMP origins.
    pub kind: u8,
    /// ICMP code, for ICMP origins.
    pub code: u8,
    /// Extra information (the MTU for "fragmentation needed").
    pub info: u32,
    /// Extra data.
    pub data: u32,
    /// The address of the node that reported the error, if any.
    pub offender: Option<SocketAddr>,
}

/// One control message, decoded by [`parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cmsg<'a> {
    /// SCM_RIGHTS: fd numbers (not owned; see [`Control::take_fds`]).
    Rights(Fds<'a>),
    /// SCM_CREDENTIALS.
    Credentials(Credentials),
    /// IP_PKTINFO: the interface a datagram arrived on, the local address
    /// it was routed to (`spec_dst`) and its header destination (`addr`).
    PktInfoV4 {
        /// Interface index.
        ifindex: i32,
        /// Local address (the source to answer from).
        spec_dst: Ipv4Addr,
        /// Destination address in the IP header.
        addr: Ipv4Addr,
    },
    /// IPV6_PKTINFO: the destination address and interface index.
    PktInfoV6 {
        /// Destination address.
        addr: Ipv6Addr,
        /// Interface index.
        ifindex: u32,
    },
    /// IP_TTL: the received packet's time-to-live.
    Ttl(i32),
    /// IPV6_HOPLIMIT: the received packet's hop limit.
    HopLimit(i32),
    /// IP_TOS: the received packet's type-of-service byte.
    Tos(u8),
    /// IPV6_TCLASS: the received packet's traffic class.
    TrafficClass(i32),
    /// SO_TIMESTAMPNS (SCM_TIMESTAMPNS): when the packet arrived, since the
    /// Unix epoch.
    TimestampNs(Duration),
    /// UDP_GRO: the segment size of a coalesced receive.
    UdpGro(i32),
    /// IP_RECVERR / IPV6_RECVERR: an entry of the error queue.
    RecvErr(ExtendedError),
    /// Anything else, kept as it came.
    Other {
        /// `cmsg_level`.
        level: i32,
        /// `cmsg_type`.
        kind: i32,
        /// The payload.
        data: &'a [u8],
    },
}

/// The fd numbers of an SCM_RIGHTS message, read from its bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fds<'a> {
    bytes: &'a [u8],
}

impl<'a> Fds<'a> {
    /// How many fds the message carries.
    pub fn len(&self) -> usize {
        self.bytes.len() / FD_LEN
    }

    /// Whether it carries none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The fd numbers, in order (`-1` for one already taken).
    pub fn iter(&self) -> impl Iterator<Item = RawFd> + 'a {
        self.bytes
            .chunks_exact(FD_LEN)
            .map(|c| RawFd::from_ne_bytes([c[0], c[1], c[2], c[3]]))
    }
}

impl fmt::Debug for Fds<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Why [`parse`] stopped or refused a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CmsgError {
    /// A header's `cmsg_len` is smaller than the header itself: the walk
    /// stops (continuing could loop forever).
    BadHeaderLen {
        /// Offset of the header in the buffer.
        at: usize,
        /// The `cmsg_len` found.
        len: usize,
    },
    /// A header's `cmsg_len` runs past the end of the buffer: the walk
    /// stops (the kernel cut the data short, or the bytes are not a
    /// control buffer).
    Truncated {
        /// Offset of the header in the buffer.
        at: usize,
        /// The `cmsg_len` found.
        len: usize,
        /// Bytes available from `at`.
        available: usize,
    },
    /// A known message whose payload has the wrong size for its type; the
    /// walk goes on with the next message.
    BadPayload {
        /// `cmsg_level`.
        level: i32,
        /// `cmsg_type`.
        kind: i32,
        /// The payload length found.
        len: usize,
    },
}

impl fmt::Display for CmsgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CmsgError::BadHeaderLen { at, len } => {
                write!(f, "control message at {at}: cmsg_len {len} < header")
            }
            CmsgError::Truncated { at, len, available } => {
                write!(
                    f,
                    "control message at {at}: cmsg_len {len} exceeds the {available} bytes left"
                )
            }
            CmsgError::BadPayload { level, kind, len } => {
                write!(
                    f,
                    "control message ({level}, {kind}): payload of {len} bytes has the wrong size"
                )
            }
        }
    }
}

impl std::error::Error for CmsgError {}

fn ne_usize(b: &[u8]) -> usize {
    let mut a = [0u8; size_of::<usize>()];
    a.copy_from_slice(&b[..size_of::<usize>()]);
    usize::from_ne_bytes(a)
}

fn ne_i32(b: &[u8]) -> i32 {
    i32::from_ne_bytes([b[0], b[1], b[2], b[3]])
}

fn ne_u32(b: &[u8]) -> u32 {
    u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
}

fn ne_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_ne_bytes(a)
}

/// One record's framing: (level, type, payload range) in the buffer.
type Frame = (i32, i32, std::ops::Range<usize>);

/// Walks the framing of a control buffer: headers and payload ranges. The
/// one walker; [`parse`] and fd ownership both use it.
#[derive(Clone, Debug)]
struct Frames<'a> {
    bytes: &'a [u8],
    at: usize,
    done: bool,
}

impl Iterator for Frames<'_> {
    type Item = Result<Frame, CmsgError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let at = self.at;
        let available = self.bytes.len().saturating_sub(at);
        if available < HDR {
            // Fewer bytes than a header: the end (the kernel's CMSG_NXTHDR
            // stops the same way).
            self.done = true;
            return None;
        }
        let hdr = &self.bytes[at..at + HDR];
        let len = ne_usize(hdr);
        if len < HDR {
            self.done = true;
            return Some(Err(CmsgError::BadHeaderLen { at, len }));
        }
        if len > available {
            self.done = true;
            return Some(Err(CmsgError::Truncated { at, len, available }));
        }
        let level = ne_i32(&hdr[LEVEL_AT..]);
        let kind = ne_i32(&hdr[TYPE_AT..]);
        // The next header starts at the aligned end; an end past the buffer
        // finishes the walk on the next call.
        match at.checked_add(align(len)) {
            Some(next) => self.at = next,
            None => self.done = true,
        }
        Some(Ok((level, kind, at + align(HDR)..at + len)))
    }
}

fn frames(bytes: &[u8]) -> Frames<'_> {
    Frames {
        bytes,
        at: 0,
        done: false,
    }
}

/// Walks a control buffer and decodes each message.
///
/// A pure function over bytes: no syscall, no allocation, nothing read
/// outside `bytes`. A record with a bad length ends the walk with one
/// error; a known type with a payload of the wrong size yields
/// [`CmsgError::BadPayload`] and the walk goes on; unknown types come back
/// as [`Cmsg::Other`], never dropped.
pub fn parse(bytes: &[u8]) -> Cmsgs<'_> {
    Cmsgs {
        bytes,
        frames: frames(bytes),
    }
}

/// The iterator [`parse`] returns.
#[derive(Clone, Debug)]
pub struct Cmsgs<'a> {
    bytes: &'a [u8],
    frames: Frames<'a>,
}

impl<'a> Iterator for Cmsgs<'a> {
    type Item = Result<Cmsg<'a>, CmsgError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (level, kind, range) = match self.frames.next()? {
            Ok(f) => f,
            Err(e) => return Some(Err(e)),
        };
        Some(decode_one(level, kind, &self.bytes[range]))
    }
}

fn decode_one(level: i32, kind: i32, d: &[u8]) -> Result<Cmsg<'_>, CmsgError> {
    let bad = || CmsgError::BadPayload {
        level,
        kind,
        len: d.len(),
    };
    let need = |n: usize| if d.len() >= n { Ok(()) } else { Err(bad()) };
    Ok(match (level, kind) {
        (libc::SOL_SOCKET, libc::SCM_RIGHTS) => {
            if d.len() % FD_LEN != 0 {
                return Err(bad());
            }
            Cmsg::Rights(Fds { bytes: d })
        }
        (libc::SOL_SOCKET, libc::SCM_CREDENTIALS) => {
            need(size_of::<libc::ucred>())?;
            Cmsg::Credentials(Credentials {
                pid: ne_i32(d),
                uid: ne_u32(&d[4..]),
                gid: ne_u32(&d[8..]),
            })
        }
        (libc::SOL_SOCKET, libc::SO_TIMESTAMPNS) => {
            need(size_of::<libc::timespec>())?;
            let secs = ne_i64(d);
            let nanos = ne_i64(&d[8..]);
            if secs < 0 || !(0..1_000_000_000).contains(&nanos) {
                return Err(bad());
            }
            Cmsg::TimestampNs(Duration::new(secs as u64, nanos as u32))
        }
        (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
            need(size_of::<libc::in_pktinfo>())?;
            Cmsg::PktInfoV4 {
                ifindex: ne_i32(d),
                spec_dst: Ipv4Addr::new(d[4], d[5], d[6], d[7]),
                addr: Ipv4Addr::new(d[8], d[9], d[10], d[11]),
            }
        }
        (libc::IPPROTO_IP, libc::IP_TTL) => {
            need(4)?;
            Cmsg::Ttl(ne_i32(d))
        }
        (libc::IPPROTO_IP, libc::IP_TOS) => {
            need(1)?;
            Cmsg::Tos(d[0])
        }
        (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
            need(size_of::<libc::in6_pktinfo>())?;
            let mut o = [0u8; 16];
            o.copy_from_slice(&d[..16]);
            Cmsg::PktInfoV6 {
                addr: Ipv6Addr::from(o),
                ifindex: ne_u32(&d[16..]),
            }
        }
        (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
            need(4)?;
            Cmsg::HopLimit(ne_i32(d))
        }
        (libc::IPPROTO_IPV6, libc::IPV6_TCLASS) => {
            need(4)?;
            Cmsg::TrafficClass(ne_i32(d))
        }
        (libc::SOL_UDP, libc::UDP_GRO) => {
            need(4)?;
            Cmsg::UdpGro(ne_i32(d))
        }
        (libc::IPPROTO_IP, libc::IP_RECVERR) | (libc::IPPROTO_IPV6, libc::IPV6_RECVERR) => {
            let ee = size_of::<libc::sock_extended_err>();
            need(ee)?;
            // SO_EE_OFFENDER: a sockaddr right after the struct; AF_UNSPEC
            // (family 0) or missing when there is none.
            let offender =
                match addr::decode(&d[ee..(ee + size_of::<libc::sockaddr_in6>()).min(d.len())]) {
                    Ok(Addr::V4(a)) => Some(SocketAddr::V4(a)),
                    Ok(Addr::V6(a)) => Some(SocketAddr::V6(a)),
                    _ => None,
                };
            Cmsg::RecvErr(ExtendedError {
                errno: ne_u32(d) as i32,
                origin: d[4],
                kind: d[5],
                code: d[6],
                info: ne_u32(&d[8..]),
                data: ne_u32(&d[12..]),
                offender,
            })
        }
        _ => Cmsg::Other {
            level,
            kind,
            data: d,
        },
    })
}

/// Appends control messages to a caller's buffer, with no allocation.
///
/// ```
/// use baresock::msg::{self, Cmsg, CmsgBuffer, CmsgWriter};
/// let mut buf = CmsgBuffer::<{ msg::SPACE_INT + msg::SPACE_UDP_SEGMENT }>::new();
/// let mut w = CmsgWriter::new(buf.as_mut_slice());
/// w.ip_tos(0x10)?;
/// w.udp_segment(1200)?;
/// let msgs: Vec<Cmsg<'_>> = msg::parse(w.as_bytes()).collect::<Result<_, _>>().unwrap();
/// assert_eq!(msgs.len(), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct CmsgWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> CmsgWriter<'a> {
    /// A writer that fills `buf` from its start.
    pub fn new(buf: &'a mut [u8]) -> CmsgWriter<'a> {
        CmsgWriter { buf, len: 0 }
    }

    /// The messages written so far, to hand to [`OwnedSocket::send_msg`].
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Appends a message with any level, type and payload.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the buffer has no room for
    /// `cmsg_space(payload.len())` more bytes (nothing is written).
    pub fn push(&mut self, level: i32, kind: i32, payload: &[u8]) -> io::Result<()> {
        let space = cmsg_space(payload.len());
        let end = self.len.checked_add(space).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "control buffer too small for this message",
            ));
        };
        let rec = &mut self.buf[self.len..end];
        rec.fill(0);
        rec[..size_of::<usize>()].copy_from_slice(&cmsg_len(payload.len()).to_ne_bytes());
        rec[LEVEL_AT..LEVEL_AT + 4].copy_from_slice(&level.to_ne_bytes());
        rec[TYPE_AT..TYPE_AT + 4].copy_from_slice(&kind.to_ne_bytes());
        rec[align(HDR)..align(HDR) + payload.len()].copy_from_slice(payload);
        self.len = end;
        Ok(())
    }

    /// SCM_RIGHTS: pass these fds to the receiver (Unix sockets). The
    /// receiver gets new fds for the same open files.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when out of room or more than 253 fds
    /// (`SCM_MAX_FD`, which the kernel would refuse with `EINVAL`).
    pub fn rights(&mut self, fds: &[BorrowedFd<'_>]) -> io::Result<()> {
        const SCM_MAX_FD: usize = 253;
        if fds.len() > SCM_MAX_FD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "more than 253 fds in one SCM_RIGHTS",
            ));
        }
        let mut payload = [0u8; SCM_MAX_FD * FD_LEN];
        for (chunk, fd) in payload.chunks_exact_mut(FD_LEN).zip(fds) {
            chunk.copy_from_slice(&fd.as_raw_fd().to_ne_bytes());
        }
        self.push(
            libc::SOL_SOCKET,
            libc::SCM_RIGHTS,
            &payload[..fds.len() * FD_LEN],
        )
    }

    /// SCM_CREDENTIALS: claim credentials (the kernel checks them: an
    /// unprivileged process may send only its own, see
    /// [`Credentials::current`]).
    ///
    /// # Errors
    ///
    /// `InvalidInput` when out of room.
    pub fn credentials(&mut self, c: Credentials) -> io::Result<()> {
        let mut p = [0u8; 12];
        p[..4].copy_from_slice(&c.pid.to_ne_bytes());
        p[4..8].copy_from_slice(&c.uid.to_ne_bytes());
        p[8..].copy_from_slice(&c.gid.to_ne_bytes());
        self.push(libc::SOL_SOCKET, libc::SCM_CREDENTIALS, &p)
    }

    /// IP_PKTINFO: send from local address `source` (and, if `ifindex` is
    /// not 0, through that interface).
    ///
    /// # Errors
    ///
    /// `InvalidInput` when out of room.
    pub fn pktinfo_v4(&mut self, ifindex: i32, source: Ipv4Addr) -> io::Result<()> {
        let mut p = [0u8; 12];
        p[..4].copy_from_slice(&ifindex.to_ne_bytes());
        p[4..8].copy_from_slice(&source.octets());
        self.push(libc::IPPROTO_IP, libc::IP_PKTINFO, &p)
    }

    /// IPV6_PKTINFO: send from local address `source` through interface
    /// `ifindex` (0: by route).
    ///
    /// # Errors
    ///
    /// `InvalidInput` when out of room.
    pub fn pktinfo_v6(&mut self, source: Ipv6Addr, ifindex: u32) -> io::Result<()> {
        let mut p = [0u8; 20];
        p[..16].copy_from_slice(&source.octets());
        p[16..].copy_from_slice(&ifindex.to_ne_bytes());
        self.push(libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &p)
    }

    /// IP_TOS: the type-of-service byte of this datagram.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when out of room.
    pub fn ip_tos(&mut self, tos: u8) -> io::Result<()> {
        self.push(
            libc::IPPROTO_IP,
            libc::IP_TOS,
            &libc::c_int::from(tos).to_ne_bytes(),
        )
    }

    /// IPV6_TCLASS: the traffic class of this datagram.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when out of room.
    pub fn ipv6_tclass(&mut self, tclass: u8) -> io::Result<()> {
        self.push(
            libc::IPPROTO_IPV6,
            libc::IPV6_TCLASS,
            &libc::c_int::from(tclass).to_ne_bytes(),
        )
    }

    /// UDP_SEGMENT: send the buffer as datagrams of `size` bytes each (GSO),
    /// all to the same address, in one syscall.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when out of room.
    pub fn udp_segment(&mut self, size: u16) -> io::Result<()> {
        self.push(libc::SOL_UDP, libc::UDP_SEGMENT, &size.to_ne_bytes())
    }
}

/// Control data received by [`OwnedSocket::recv_msg`]: the bytes the
/// kernel wrote, and ownership of every fd it passed in them.
///
/// Take the fds with [`Control::take_fds`]; those not taken are closed when
/// the `Control` drops. Read everything else with [`Control::iter`].
pub struct Control<'c> {
    bytes: &'c mut [u8],
}

impl<'c> Control<'c> {
    /// Adopts the fds in a buffer the kernel just filled.
    ///
    /// # Safety
    ///
    /// `bytes` must be exactly the control data the kernel wrote in a
    /// receive this crate made, with no fd in it owned by anything else.
    unsafe fn from_kernel(bytes: &'c mut [u8]) -> Control<'c> {
        Control { bytes }
    }

    /// The control data as received (fds already taken read as `-1`).
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes
    }

    /// Decodes the messages with [`parse`].
    pub fn iter(&self) -> Cmsgs<'_> {
        parse(self.bytes)
    }

    /// Takes every fd the kernel passed (SCM_RIGHTS), in order, as
    /// `OwnedFd`s (close-on-exec: they were received with
    /// `MSG_CMSG_CLOEXEC`). Each is taken once: later calls skip it.
    pub fn take_fds(&mut self) -> TakeFds<'_> {
        TakeFds { bytes: self.bytes }
    }
}

impl Drop for Control<'_> {
    fn drop(&mut self) {
        // Close every fd nobody took, whatever else the buffer holds.
        for fd in self.take_fds() {
            let _ = sys::close(fd);
        }
    }
}

impl fmt::Debug for Control<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Iterator of [`Control::take_fds`]: yields each passed fd once and marks
/// its slot `-1`.
#[derive(Debug)]
pub struct TakeFds<'b> {
    bytes: &'b mut [u8],
}

impl Iterator for TakeFds<'_> {
    type Item = OwnedFd;

    fn next(&mut self) -> Option<OwnedFd> {
        // Re-walk from the start each time: a control buffer holds a few
        // hundred fds at most, and a walk that keeps no state cannot get out
        // of step with the bytes.
        let bytes = &*self.bytes;
        let slot = frames(bytes)
            .map_while(Result::ok)
            .filter(|(level, kind, _)| (*level, *kind) == (libc::SOL_SOCKET, libc::SCM_RIGHTS))
            .flat_map(|(_, _, r)| (r.start..r.end.saturating_sub(FD_LEN - 1)).step_by(FD_LEN))
            .find(|&s| ne_i32(&bytes[s..]) >= 0)?;
        let raw = ne_i32(&self.bytes[slot..]);
        self.bytes[slot..slot + FD_LEN].copy_from_slice(&(-1 as RawFd).to_ne_bytes());
        // SAFETY: Control is built only from control data the kernel wrote
        // in our receive; each fd number is adopted once, then overwritten
        // with -1 so it is never adopted again.
        Some(unsafe { sys::msg::adopt_fd(raw) })
    }
}

/// What [`OwnedSocket::recv_msg`] received.
#[derive(Debug)]
pub struct RecvMsg<'c> {
    /// Bytes received into the buffers (with `MSG_TRUNC` among the flags
    /// passed in, a datagram's real length, which may exceed them).
    pub bytes: usize,
    /// The flags the kernel set: `MSG_TRUNC` (the datagram did not fit),
    /// `MSG_CTRUNC` (the control data did not fit), `MSG_ERRQUEUE`,
    /// `MSG_OOB`, `MSG_EOR`.
    pub flags: MsgFlags,
    /// The sender's address (unnamed or empty on a connected stream).
    pub addr: SockAddr,
    /// The control data, owning any fds passed.
    pub control: Control<'c>,
}

/// Messages and the options that make the kernel attach control data.
impl OwnedSocket {
    /// `sendmsg(fd, {addr, iov, control}, flags | MSG_NOSIGNAL)` — send
    /// gathered buffers with control messages, to an address or the
    /// connected peer.
    ///
    /// Build `control` with a [`CmsgWriter`]. The kernel checks each
    /// message as it takes it (fds must be open, credentials must be the
    /// sender's own unless privileged, a pktinfo source must be local).
    ///
    /// # Errors
    ///
    /// As [`OwnedSocket::send`], and:
    /// - `EINVAL`: a malformed control message, an unknown type for the
    ///   socket, or more than 253 fds.
    /// - `EBADF`: an fd in SCM_RIGHTS is not open.
    /// - `EPERM`: SCM_CREDENTIALS claims ids not the sender's own.
    /// - `EMSGSIZE`: more than `IOV_MAX` buffers, or a GSO send too large.
    /// - `EADDRNOTAVAIL`: a pktinfo source address that is not local.
    /// - `ETOOMANYREFS`: passing fds would exceed the sender's in-flight
    ///   limit (`RLIMIT_NOFILE`).
    pub fn send_msg(
        &self,
        bufs: &[IoSlice<'_>],
        addr: Option<&SockAddr>,
        control: &[u8],
        flags: MsgFlags,
    ) -> io::Result<usize> {
        sys::msg::sendmsg(self.as_fd(), bufs, addr, control, flags.bits())
    }

    /// `recvmsg(fd, {addr, iov, control}, flags | MSG_CMSG_CLOEXEC)` —
    /// receive into scattered buffers, with the sender's address and control
    /// messages.
    ///
    /// Every fd passed with SCM_RIGHTS is adopted at once by the returned
    /// [`Control`]: take them or they are closed. With `MSG_ERRQUEUE` in
    /// `flags`, reads an entry of the error queue (IP_RECVERR) instead of
    /// data.
    ///
    /// # Errors
    ///
    /// As [`OwnedSocket::recv`], and:
    /// - `EAGAIN`: with `MSG_ERRQUEUE`, the error queue is empty.
    /// - `EMSGSIZE`: more than `IOV_MAX` buffers.
    pub fn recv_msg<'c>(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        control: &'c mut [u8],
        flags: MsgFlags,
    ) -> io::Result<RecvMsg<'c>> {
        let mut addr = SockAddr::empty();
        let out = sys::msg::recvmsg(self.as_fd(), bufs, Some(&mut addr), control, flags.bits())?;
        // SAFETY: the kernel just wrote `control_len` bytes of control data
        // in this receive; the fds in it are new and owned by no one.
        let control = unsafe { Control::from_kernel(&mut control[..out.control_len]) };
        Ok(RecvMsg {
            bytes: out.bytes,
            flags: MsgFlags::from(out.flags),
            addr,
            control,
        })
    }
}

/// One message of a [`OwnedSocket::send_mmsg`] batch: a `struct mmsghdr`
/// that borrows its buffers, address and control data, so a slice of them
/// goes to the kernel as it is, with no copy and no allocation.
#[repr(transparent)]
pub struct SendMmsgHdr<'a> {
    hdr: libc::mmsghdr,
    _borrows: PhantomData<&'a [u8]>,
}

// SAFETY: the raw pointers inside borrow `&'a` data that is itself Send and
// Sync (byte slices, SockAddr); the header adds no shared mutable state.
unsafe impl Send for SendMmsgHdr<'_> {}
// SAFETY: as above; through `&SendMmsgHdr` nothing can be written.
unsafe impl Sync for SendMmsgHdr<'_> {}

impl<'a> SendMmsgHdr<'a> {
    /// A message of the gathered `bufs`, to `addr` (or the connected peer)
    /// with `control` (from a [`CmsgWriter`], or empty).
    pub fn new<'b: 'a>(
        bufs: &'a [IoSlice<'b>],
        addr: Option<&'a SockAddr>,
        control: &'a [u8],
    ) -> SendMmsgHdr<'a> {
        // SAFETY: mmsghdr is plain data; all-zero is a valid empty header.
        let mut hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
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

    /// Bytes the kernel sent of this message in the last `send_mmsg`.
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

/// `msg_flags` of a slot no receive has filled yet (no flag combination the
/// kernel reports sets every bit).
const FRESH: libc::c_int = -1;

/// One message slot of a [`OwnedSocket::recv_mmsg`] batch: a `struct
/// mmsghdr` that borrows the buffers, address and control buffer to fill.
///
/// A slot serves one receive: the kernel overwrites its address and control
/// lengths with what it used, so a filled slot would offer less room next
/// time. Build fresh slots for each call (they are plain values made from
/// borrows, on the stack); `recv_mmsg` refuses a filled one.
#[repr(transparent)]
pub struct RecvMmsgHdr<'a> {
    hdr: libc::mmsghdr,
    _borrows: PhantomData<&'a mut [u8]>,
}

// SAFETY: the raw pointers inside borrow `&'a mut` data that is Send (byte
// slices, SockAddr); the header is their only user while it lives.
unsafe impl Send for RecvMmsgHdr<'_> {}
// SAFETY: through `&RecvMmsgHdr` nothing can be written.
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
        let mut hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
        if let Some(a) = addr {
            // SockAddr is repr(C) with its storage first, so the pointer to
            // the whole SockAddr is the sockaddr pointer; recv_mmsg uses it
            // to record the length the kernel wrote.
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
        // The kernel ignores msg_flags on input and overwrites it for each
        // message it fills: a value it never writes marks the slot unused.
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

    /// Whether the last `recv_mmsg` put an empty datagram here (or nothing).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The flags the kernel set for this message (`MSG_TRUNC`,
    /// `MSG_CTRUNC`).
    pub fn flags(&self) -> MsgFlags {
        MsgFlags::from(self.hdr.msg_hdr.msg_flags)
    }

    fn is_fresh(&self) -> bool {
        self.hdr.msg_hdr.msg_flags == FRESH
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

/// The messages a [`OwnedSocket::recv_mmsg`] received: the first `len()`
/// slots of the batch. Owns every fd passed in their control data until
/// taken through [`RecvBatch::control`]; the rest are closed on drop.
pub struct RecvBatch<'h, 'a> {
    hdrs: &'h mut [RecvMmsgHdr<'a>],
    /// Each slot's control capacity before the call, to restore after.
    received: usize,
}

impl<'h, 'a> RecvBatch<'h, 'a> {
    /// How many messages arrived.
    pub fn len(&self) -> usize {
        self.received
    }

    /// Whether none arrived (never true after a successful call).
    pub fn is_empty(&self) -> bool {
        self.received == 0
    }

    /// The slot of message `i` (its length and flags).
    pub fn get(&self, i: usize) -> Option<&RecvMmsgHdr<'a>> {
        self.hdrs[..self.received].get(i)
    }

    /// The control data of message `i`, owning its fds.
    pub fn control(&mut self, i: usize) -> Option<Control<'_>> {
        let h = self.hdrs[..self.received].get_mut(i)?;
        let ptr = h.hdr.msg_hdr.msg_control.cast::<u8>();
        if ptr.is_null() {
            return None;
        }
        #[allow(clippy::unnecessary_cast)] // socklen_t on some targets
        let len = h.hdr.msg_hdr.msg_controllen as usize;
        // SAFETY: msg_control came from the `&'a mut [u8]` the slot borrows
        // (still borrowed through `self`), and the kernel wrote `len` bytes
        // of it, at most its capacity.
        let bytes = unsafe { std::slice::from_raw_parts_mut(ptr, len) };
        // SAFETY: these are control bytes the kernel wrote in our receive;
        // fds already taken read as -1 and are skipped.
        Some(unsafe { Control::from_kernel(bytes) })
    }
}

impl Drop for RecvBatch<'_, '_> {
    fn drop(&mut self) {
        for i in 0..self.received {
            drop(self.control(i));
        }
    }
}

impl fmt::Debug for RecvBatch<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.hdrs[..self.received]).finish()
    }
}

impl OwnedSocket {
    /// `sendmmsg(fd, msgvec, vlen, flags | MSG_NOSIGNAL)` — send a batch of
    /// messages in one syscall.
    ///
    /// Returns how many messages were sent, from the start of `msgs`; each
    /// one's byte count is [`SendMmsgHdr::sent`]. If a later message fails
    /// after earlier ones went out, the count of those is returned and the
    /// error is reported by the next call.
    ///
    /// # Errors
    ///
    /// As [`OwnedSocket::send_msg`] for the first message, and
    /// `InvalidInput` for more than `UIO_MAXIOV` (1024) messages (the
    /// kernel would silently send only 1024).
    pub fn send_mmsg(&self, msgs: &mut [SendMmsgHdr<'_>], flags: MsgFlags) -> io::Result<usize> {
        if msgs.len() > 1024 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "more than 1024 messages in one sendmmsg",
            ));
        }
        // SendMmsgHdr is repr(transparent) over mmsghdr.
        let raw: &mut [libc::mmsghdr] =
            // SAFETY: same layout (repr(transparent)), same length, and the
            // borrow of `msgs` covers the new slice's life.
            unsafe { std::slice::from_raw_parts_mut(msgs.as_mut_ptr().cast(), msgs.len()) };
        // SAFETY: each header was built by SendMmsgHdr::new from borrows
        // that outlive `msgs`, so every pointer is valid for reads.
        unsafe { sys::msg::sendmmsg(self.as_fd(), raw, flags.bits()) }
    }

    /// `recvmmsg(fd, msgvec, vlen, flags | MSG_CMSG_CLOEXEC, NULL)` —
    /// receive up to `msgs.len()` datagrams in one syscall.
    ///
    /// Blocks (on a blocking socket) until one datagram arrives, then takes
    /// as many more as are queued, up to the batch size; with
    /// `MSG_WAITFORONE` semantics on a nonblocking socket it returns what
    /// is there. Each slot's length, flags, address and control data are
    /// filled in; the returned [`RecvBatch`] owns any fds passed.
    ///
    /// # Errors
    ///
    /// As [`OwnedSocket::recv_msg`], and `InvalidInput` (before any
    /// syscall) for more than 1024 slots or a slot a previous call already
    /// filled.
    pub fn recv_mmsg<'h, 'a>(
        &self,
        msgs: &'h mut [RecvMmsgHdr<'a>],
        flags: MsgFlags,
    ) -> io::Result<RecvBatch<'h, 'a>> {
        if msgs.len() > 1024 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "more than 1024 messages in one recvmmsg",
            ));
        }
        if !msgs.iter().all(RecvMmsgHdr::is_fresh) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "recvmmsg slot already filled: build fresh slots",
            ));
        }
        let raw: &mut [libc::mmsghdr] =
            // SAFETY: same layout (repr(transparent)), same length, and the
            // borrow of `msgs` covers the new slice's life.
            unsafe { std::slice::from_raw_parts_mut(msgs.as_mut_ptr().cast(), msgs.len()) };
        // SAFETY: each header was built by RecvMmsgHdr::new from mutable
        // borrows that outlive `msgs`, so every pointer is valid for writes
        // of its stated length.
        let n = unsafe { sys::msg::recvmmsg(self.as_fd(), raw, flags.bits())? };
        for h in &mut msgs[..n] {
            let name = h.hdr.msg_hdr.msg_name.cast::<SockAddr>();
            if !name.is_null() {
                // SAFETY: msg_name was made from `&'a mut SockAddr` in
                // RecvMmsgHdr::new and that borrow is still held.
                unsafe { (*name).set_len(h.hdr.msg_hdr.msg_namelen) };
            }
        }
        Ok(RecvBatch {
            hdrs: msgs,
            received: n,
        })
    }
}

/// Options that make the kernel attach control messages to what it
/// delivers (each one `setsockopt` with an `int` flag, 1 or 0).
impl OwnedSocket {
    fn set_flag(&self, level: i32, name: i32, on: bool) -> io::Result<()> {
        crate::opt::set_int(self, level, name, libc::c_int::from(on))
    }

    /// `setsockopt(fd, IPPROTO_IP, IP_PKTINFO)` — attach IP_PKTINFO
    /// (arrival interface and destination address) to each received
    /// datagram.
    ///
    /// # Errors
    ///
    /// `ENOPROTOOPT` on a non-IPv4 socket; see [`crate::opt`].
    pub fn set_recv_pktinfo_v4(&self, on: bool) -> io::Result<()> {
        self.set_flag(libc::IPPROTO_IP, libc::IP_PKTINFO, on)
    }

    /// `setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO)` — attach
    /// IPV6_PKTINFO to each received datagram.
    ///
    /// # Errors
    ///
    /// `ENOPROTOOPT` on a non-IPv6 socket; see [`crate::opt`].
    pub fn set_recv_pktinfo_v6(&self, on: bool) -> io::Result<()> {
        self.set_flag(libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, on)
    }

    /// `setsockopt(fd, IPPROTO_IP, IP_RECVTTL)` — attach IP_TTL.
    ///
    /// # Errors
    ///
    /// `ENOPROTOOPT` on a non-IPv4 socket; see [`crate::opt`].
    pub fn set_recv_ttl(&self, on: bool) -> io::Result<()> {
        self.set_flag(libc::IPPROTO_IP, libc::IP_RECVTTL, on)
    }

    /// `setsockopt(fd, IPPROTO_IP, IP_RECVTOS)` — attach IP_TOS.
    ///
    /// # Errors
    ///
    /// `ENOPROTOOPT` on a non-IPv4 socket; see [`crate::opt`].
    pub fn set_recv_tos(&self, on: bool) -> io::Result<()> {
        self.set_flag(libc::IPPROTO_IP, libc::IP_RECVTOS, on)
    }

    /// `setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT)` — attach
    /// IPV6_HOPLIMIT.
    ///
    /// # Errors
    ///
    /// `ENOPROTOOPT` on a non-IPv6 socket; see [`crate::opt`].
    pub fn set_recv_hoplimit_v6(&self, on: bool) -> io::Result<()> {
        self.set_flag(libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, on)
    }

    /// `setsockopt(fd, IPPROTO_IPV6, IPV6_RECVTCLASS)` — attach IPV6_TCLASS.
    ///
    /// # Errors
    ///
    /// `ENOPROTOOPT` on a non-IPv6 socket; see [`crate::opt`].
    pub fn set_recv_tclass_v6(&self, on: bool) -> io::Result<()> {
        self.set_flag(libc::IPPROTO_IPV6, libc::IPV6_RECVTCLASS, on)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS)` — attach the arrival
    /// time (SCM_TIMESTAMPNS, nanoseconds since the epoch).
    ///
    /// # Errors
    ///
    /// See [`crate::opt`].
    pub fn set_timestamp_ns(&self, on: bool) -> io::Result<()> {
        self.set_flag(libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, on)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_PASSCRED)` — attach the sender's
    /// SCM_CREDENTIALS to each message on a Unix socket (the kernel fills
    /// them in even when the sender sent none).
    ///
    /// # Errors
    ///
    /// See [`crate::opt`].
    pub fn set_pass_cred(&self, on: bool) -> io::Result<()> {
        self.set_flag(libc::SOL_SOCKET, libc::SO_PASSCRED, on)
    }

    /// `setsockopt(fd, SOL_UDP, UDP_GRO)` — let the kernel coalesce
    /// same-size datagrams from one flow into one receive, with a UDP_GRO
    /// message giving the segment size.
    ///
    /// # Errors
    ///
    /// `ENOPROTOOPT` on a non-UDP socket; see [`crate::opt`].
    pub fn set_udp_gro(&self, on: bool) -> io::Result<()> {
        self.set_flag(libc::SOL_UDP, libc::UDP_GRO, on)
    }

    /// `setsockopt(fd, SOL_UDP, UDP_SEGMENT, size)` — segment every send
    /// into datagrams of `size` bytes (GSO); 0 turns it off. The per-send
    /// UDP_SEGMENT message ([`CmsgWriter::udp_segment`]) overrides it.
    ///
    /// # Errors
    ///
    /// `EINVAL` for a size too large for the path MTU at send time, and
    /// `ENOPROTOOPT` on a non-UDP socket; see [`crate::opt`].
    pub fn set_udp_segment(&self, size: u16) -> io::Result<()> {
        crate::opt::set_int(
            self,
            libc::SOL_UDP,
            libc::UDP_SEGMENT,
            libc::c_int::from(size),
        )
    }

    /// `setsockopt(fd, IPPROTO_IP, IP_RECVERR)` — queue errors (ICMP
    /// reports, local errors) on the socket's error queue, read with
    /// `MSG_ERRQUEUE`, instead of only setting SO_ERROR.
    ///
    /// # Errors
    ///
    /// `ENOPROTOOPT` on a non-IPv4 socket; see [`crate::opt`].
    pub fn set_recv_err_v4(&self, on: bool) -> io::Result<()> {
        self.set_flag(libc::IPPROTO_IP, libc::IP_RECVERR, on)
    }

    /// `setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR)` — the IPv6 twin of
    /// [`OwnedSocket::set_recv_err_v4`].
    ///
    /// # Errors
    ///
    /// `ENOPROTOOPT` on a non-IPv6 socket; see [`crate::opt`].
    pub fn set_recv_err_v6(&self, on: bool) -> io::Result<()> {
        self.set_flag(libc::IPPROTO_IPV6, libc::IPV6_RECVERR, on)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_lengths_stop_cleanly() {
        // cmsg_len smaller than a header: one error, then the end.
        let mut b = [0u8; 64];
        b[..8].copy_from_slice(&3usize.to_ne_bytes());
        let v: Vec<_> = parse(&b).collect();
        assert_eq!(v, vec![Err(CmsgError::BadHeaderLen { at: 0, len: 3 })]);
        // cmsg_len past the end.
        b[..8].copy_from_slice(&1000usize.to_ne_bytes());
        let v: Vec<_> = parse(&b).collect();
        assert!(matches!(v[..], [Err(CmsgError::Truncated { .. })]));
        // usize::MAX must not overflow the walk.
        b[..8].copy_from_slice(&usize::MAX.to_ne_bytes());
        assert_eq!(parse(&b).count(), 1);
    }

    #[test]
    fn writer_and_parser_agree() {
        let mut buf = CmsgBuffer::<
            { SPACE_PKTINFO_V4 + SPACE_INT + SPACE_UDP_SEGMENT + SPACE_PKTINFO_V6 },
        >::new();
        let mut w = CmsgWriter::new(buf.as_mut_slice());
        w.pktinfo_v4(1, Ipv4Addr::LOCALHOST).unwrap();
        w.ip_tos(0x20).unwrap();
        w.udp_segment(1000).unwrap();
        w.pktinfo_v6(Ipv6Addr::LOCALHOST, 1).unwrap();
        assert!(w.ip_tos(1).is_err(), "full buffer must refuse");
        let v: Vec<_> = parse(w.as_bytes()).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            v[0],
            Cmsg::PktInfoV4 {
                ifindex: 1,
                spec_dst: Ipv4Addr::LOCALHOST,
                addr: Ipv4Addr::UNSPECIFIED
            }
        );
        // IP_TOS as sent is an int; as received it is a byte: the parser
        // reads the first byte, which is the value on little-endian only,
        // so compare through the level/type.
        assert!(matches!(v[1], Cmsg::Tos(_)));
        assert_eq!(
            v[2],
            Cmsg::Other {
                level: libc::SOL_UDP,
                kind: libc::UDP_SEGMENT,
                data: &1000u16.to_ne_bytes()
            }
        );
        assert_eq!(
            v[3],
            Cmsg::PktInfoV6 {
                addr: Ipv6Addr::LOCALHOST,
                ifindex: 1
            }
        );
    }
}
