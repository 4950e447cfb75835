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
mod cmsg;

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, OwnedFd};

use crate::sys::msg::KernelControl;
use crate::{MsgFlags, OwnedSocket, SockAddr, sys};

pub use crate::sys::msg::{RecvMmsgHdr, SendMmsgHdr};
pub use cmsg::*;

/// Control data received by [`OwnedSocket::recv_msg`]: the bytes the
/// kernel wrote, and ownership of every fd it passed in them.
///
/// Take the fds with [`Control::take_fds`]; those not taken are closed when
/// the `Control` drops. Read everything else with [`Control::iter`].
///
/// Owned are the fds of SCM_RIGHTS. Linux has one more message that
/// installs an fd, SCM_PIDFD, sent only to a socket with `SO_PASSPIDFD`
/// (which this crate never sets): it comes back as [`Cmsg::Other`] and its
/// fd is the caller's to close.
pub struct Control<'c> {
    inner: KernelControl<'c>,
}

impl Control<'_> {
    /// The control data as received (fds already taken read as `-1`).
    pub fn as_bytes(&self) -> &[u8] {
        self.inner.bytes()
    }

    /// Decodes the messages with [`parse`].
    pub fn iter(&self) -> Cmsgs<'_> {
        parse(self.inner.bytes())
    }

    /// Takes every fd the kernel passed (SCM_RIGHTS), in order, as
    /// `OwnedFd`s (close-on-exec: they were received with
    /// `MSG_CMSG_CLOEXEC`). Each is taken once: later calls skip it, and
    /// [`Control::iter`] shows its number as `-1`. Stop early and the rest
    /// stay owned by the `Control`.
    pub fn take_fds(&mut self) -> impl Iterator<Item = OwnedFd> + '_ {
        std::iter::from_fn(|| self.inner.take_fd())
    }
}

impl fmt::Debug for Control<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// What [`OwnedSocket::recv_msg`] received.
#[derive(Debug)]
pub struct RecvMsg<'c> {
    /// The kernel's count. Without `MSG_TRUNC` in the flags passed in:
    /// the bytes received into the buffers. With it, not a count of bytes
    /// written: on a datagram socket the datagram's real length (which may
    /// exceed the buffers, of which only the first bytes were written); on
    /// TCP the bytes discarded, none of them written; a Unix stream
    /// ignores the flag. See [`MsgFlags::TRUNC`].
    pub bytes: usize,
    /// The flags the kernel set: `MSG_TRUNC` (the datagram did not fit),
    /// `MSG_CTRUNC` (the control data did not fit: see [`Control`]),
    /// `MSG_ERRQUEUE`, `MSG_OOB`, `MSG_EOR`. (The kernel also echoes the
    /// `MSG_CMSG_CLOEXEC` the crate passes in; it is removed here.)
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
    /// Build `control` with a [`CmsgWriter`]. The kernel walks it and
    /// checks each message as it takes it; each protocol reads only the
    /// levels it knows and skips the rest without a word: a Unix socket
    /// ignores IP levels, an IPv4 socket ignores IPv6 ones, and UDP
    /// ignores SCM_RIGHTS and SCM_CREDENTIALS (no fd is passed). An error
    /// means nothing was sent.
    ///
    /// # Errors
    ///
    /// Those of [`OwnedSocket::send`], and:
    /// - `EINVAL`: a malformed record (`cmsg_len` below the header or past
    ///   the buffer); an unknown type at a level the socket handles
    ///   (`SOL_SOCKET` anywhere, `IPPROTO_IP` and `SOL_UDP` on UDP); a
    ///   payload of the wrong size or out of range (IP_TOS above 255); more
    ///   than 253 fds in one send; SCM_CREDENTIALS with a uid or gid that
    ///   maps to no one; a GSO send of more than 128 segments; an
    ///   IP_PKTINFO source that is multicast or broadcast, or an
    ///   IPV6_PKTINFO source that is not local.
    /// - `EBADF`: an fd in SCM_RIGHTS is not open.
    /// - `EPERM`: SCM_CREDENTIALS claims a pid, uid or gid that is not the
    ///   sender's, without the capability for it (see
    ///   [`CmsgWriter::credentials`]).
    /// - `ESRCH`: SCM_CREDENTIALS (from a privileged sender) names a pid no
    ///   process has.
    /// - `EMSGSIZE`: more than `IOV_MAX` (1024) buffers; a UDP datagram,
    ///   GSO or not, over 65,507 bytes (IPv4).
    /// - `ENETUNREACH`: an IP_PKTINFO source address this host does not
    ///   have.
    /// - `ENODEV`: an IP_PKTINFO / IPV6_PKTINFO interface index that names
    ///   no interface.
    /// - `ETOOMANYREFS`: the sending user already has more fds in flight
    ///   (sent, not yet received) than its `RLIMIT_NOFILE`; processes with
    ///   `CAP_SYS_RESOURCE` or `CAP_SYS_ADMIN` are exempt.
    #[doc(alias = "sendmsg")]
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
    /// Every fd passed with SCM_RIGHTS is owned by the returned [`Control`]
    /// before this returns: take them or they are closed, even when the
    /// kernel cut the control data short (`MSG_CTRUNC` in
    /// [`RecvMsg::flags`]; the fds that did not fit were closed by the
    /// kernel). With `MSG_ERRQUEUE` in `flags`, reads an entry of the error
    /// queue (IP_RECVERR) instead of data, and never blocks; on a socket
    /// with no error queue (Unix) the flag is ignored and the call receives
    /// as usual.
    ///
    /// # Errors
    ///
    /// Those of [`OwnedSocket::recv`], and:
    /// - `EAGAIN`: with `MSG_ERRQUEUE`, the error queue is empty (even on a
    ///   blocking socket).
    /// - `EMSGSIZE`: more than `IOV_MAX` (1024) buffers.
    #[doc(alias = "recvmsg")]
    pub fn recv_msg<'c>(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        control: &'c mut [u8],
        flags: MsgFlags,
    ) -> io::Result<RecvMsg<'c>> {
        let mut addr = SockAddr::empty();
        let (out, inner) =
            sys::msg::recvmsg(self.as_fd(), bufs, Some(&mut addr), control, flags.bits())?;
        Ok(RecvMsg {
            bytes: out.bytes,
            flags: MsgFlags::from(out.flags),
            addr,
            control: Control { inner },
        })
    }
}

/// The messages a [`OwnedSocket::recv_mmsg`] received: the first `len()`
/// slots of the batch.
///
/// Owns every fd passed in their control data: [`RecvBatch::control`]
/// lends one message's [`Control`], from which fds are taken; whatever is
/// not taken is closed when that `Control` drops (so look at a message's
/// control once, and take its fds then), and any fds of messages never
/// looked at are closed when the batch drops.
pub struct RecvBatch<'h, 'a> {
    hdrs: &'h mut [RecvMmsgHdr<'a>],
    received: usize,
}

impl<'a> RecvBatch<'_, 'a> {
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

    /// The sender's address of message `i` (a copy), if its slot was given
    /// an address buffer.
    pub fn addr(&self, i: usize) -> Option<SockAddr> {
        self.get(i)?.addr()
    }

    /// The control data of message `i`, owning its fds; `None` if its slot
    /// had no control buffer.
    pub fn control(&mut self, i: usize) -> Option<Control<'_>> {
        let inner = self.hdrs[..self.received].get_mut(i)?.control()?;
        Some(Control { inner })
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
    /// one's byte count is [`SendMmsgHdr::sent`]. The kernel sends them in
    /// order and stops at the first that fails: if one or more went out
    /// first, their count is returned and the error is lost (sendmmsg(2)),
    /// so send the rest again from the first unsent message to see it.
    ///
    /// # Errors
    ///
    /// Those of [`OwnedSocket::send_msg`], for the first message, and
    /// `InvalidInput` (before any syscall) for more than 1024 messages
    /// (`UIO_MAXIOV`: the kernel would silently send only the first 1024).
    #[doc(alias = "sendmmsg")]
    pub fn send_mmsg(&self, msgs: &mut [SendMmsgHdr<'_>], flags: MsgFlags) -> io::Result<usize> {
        if msgs.len() > 1024 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "more than 1024 messages in one sendmmsg",
            ));
        }
        sys::msg::sendmmsg(self.as_fd(), msgs, flags.bits())
    }

    /// `recvmmsg(fd, msgvec, vlen, flags | MSG_CMSG_CLOEXEC, NULL)` —
    /// receive up to `msgs.len()` datagrams in one syscall.
    ///
    /// Each filled slot gets its length, flags, sender address and control
    /// data; the returned [`RecvBatch`] owns any fds passed. How long it
    /// waits depends on the flags, and the default surprises: on a
    /// blocking socket recvmmsg blocks until *every* slot is filled (or
    /// `SO_RCVTIMEO` expires after the first). Pass
    /// [`MsgFlags::WAITFORONE`] to block for the first datagram only and
    /// then take what is queued, or [`MsgFlags::DONTWAIT`] (or a
    /// nonblocking socket) to take only what is queued.
    ///
    /// # Errors
    ///
    /// Those of [`OwnedSocket::recv_msg`] (`EAGAIN`: nonblocking and
    /// nothing queued), and `InvalidInput` (before any syscall) for more
    /// than 1024 slots or a slot an earlier call already filled. An error
    /// after at least one datagram arrived is not lost: the kernel keeps it
    /// for the next call on the socket.
    #[doc(alias = "recvmmsg")]
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
        let received = sys::msg::recvmmsg(self.as_fd(), msgs, flags.bits())?;
        Ok(RecvBatch {
            hdrs: msgs,
            received,
        })
    }
}

/// Options that make the kernel attach control messages to what it
/// delivers (each one `setsockopt` with an `int`, 1 or 0).
///
/// Errors shared by the IP, IPv6 and UDP ones, as Linux gives them: a Unix
/// socket has no options outside `SOL_SOCKET` and answers `EOPNOTSUPP`;
/// an IPv4 socket answers `ENOPROTOOPT` to IPv6 options, and TCP to UDP
/// ones. An IPv6 socket takes the IPv4 options too: they apply to the
/// IPv4 traffic it receives as v4-mapped addresses.
impl OwnedSocket {
    fn set_flag(&self, level: i32, name: i32, on: bool) -> io::Result<()> {
        crate::opt::set_int(self, level, name, libc::c_int::from(on))
    }

    /// `setsockopt(fd, IPPROTO_IP, IP_PKTINFO)` — attach IP_PKTINFO
    /// (arrival interface, local address and header destination) to each
    /// received datagram: [`Cmsg::PktInfoV4`].
    ///
    /// # Errors
    ///
    /// `EOPNOTSUPP` on a Unix socket.
    #[doc(alias = "IP_PKTINFO")]
    pub fn set_recv_pktinfo_v4(&self, on: bool) -> io::Result<()> {
        self.set_flag(libc::IPPROTO_IP, libc::IP_PKTINFO, on)
    }

    /// `setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO)` — attach
    /// IPV6_PKTINFO (destination address and arrival interface) to each
    /// received datagram: [`Cmsg::PktInfoV6`].
    ///
    /// # Errors
    ///
    /// `ENOPROTOOPT` on an IPv4 socket, `EOPNOTSUPP` on a Unix socket.
    #[doc(alias = "IPV6_RECVPKTINFO")]
    pub fn set_recv_pktinfo_v6(&self, on: bool) -> io::Result<()> {
        self.set_flag(libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, on)
    }

    /// `setsockopt(fd, IPPROTO_IP, IP_RECVTTL)` — attach the received
    /// packet's time-to-live: [`Cmsg::Ttl`].
    ///
    /// # Errors
    ///
    /// `EOPNOTSUPP` on a Unix socket.
    #[doc(alias = "IP_RECVTTL")]
    pub fn set_recv_ttl(&self, on: bool) -> io::Result<()> {
        self.set_flag(libc::IPPROTO_IP, libc::IP_RECVTTL, on)
    }

    /// `setsockopt(fd, IPPROTO_IP, IP_RECVTOS)` — attach the received
    /// packet's type-of-service byte: [`Cmsg::Tos`].
    ///
    /// # Errors
    ///
    /// `EOPNOTSUPP` on a Unix socket.
    #[doc(alias = "IP_RECVTOS")]
    pub fn set_recv_tos(&self, on: bool) -> io::Result<()> {
        self.set_flag(libc::IPPROTO_IP, libc::IP_RECVTOS, on)
    }

    /// `setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT)` — attach the
    /// received packet's hop limit: [`Cmsg::HopLimit`].
    ///
    /// # Errors
    ///
    /// `ENOPROTOOPT` on an IPv4 socket, `EOPNOTSUPP` on a Unix socket.
    #[doc(alias = "IPV6_RECVHOPLIMIT")]
    pub fn set_recv_hoplimit_v6(&self, on: bool) -> io::Result<()> {
        self.set_flag(libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, on)
    }

    /// `setsockopt(fd, IPPROTO_IPV6, IPV6_RECVTCLASS)` — attach the
    /// received packet's traffic class: [`Cmsg::TrafficClass`].
    ///
    /// # Errors
    ///
    /// `ENOPROTOOPT` on an IPv4 socket, `EOPNOTSUPP` on a Unix socket.
    #[doc(alias = "IPV6_RECVTCLASS")]
    pub fn set_recv_tclass_v6(&self, on: bool) -> io::Result<()> {
        self.set_flag(libc::IPPROTO_IPV6, libc::IPV6_RECVTCLASS, on)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS)` — attach the arrival
    /// time, nanoseconds since the epoch by the realtime clock:
    /// [`Cmsg::TimestampNs`].
    ///
    /// # Errors
    ///
    /// None on a socket: every socket type takes it.
    #[doc(alias = "SO_TIMESTAMPNS")]
    pub fn set_timestamp_ns(&self, on: bool) -> io::Result<()> {
        self.set_flag(libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, on)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_PASSCRED)` — attach the sender's
    /// SCM_CREDENTIALS ([`Cmsg::Credentials`]) to each message on a Unix
    /// socket. When the sender sent none, the kernel fills in its pid and
    /// its real uid and gid.
    ///
    /// # Errors
    ///
    /// `EOPNOTSUPP` on a socket that is not Unix or netlink, from Linux
    /// 6.16 on (older kernels accepted it and attached nothing).
    #[doc(alias = "SO_PASSCRED")]
    pub fn set_pass_cred(&self, on: bool) -> io::Result<()> {
        self.set_flag(libc::SOL_SOCKET, libc::SO_PASSCRED, on)
    }

    /// `setsockopt(fd, SOL_UDP, UDP_GRO)` — let the kernel hand over
    /// several same-size datagrams of one flow as one receive, with a
    /// UDP_GRO message giving the segment size ([`Cmsg::UdpGro`]); split
    /// the data at that size.
    ///
    /// On loopback a GSO send (UDP_SEGMENT) to a socket with UDP_GRO
    /// arrives whole, as the single receive it was sent as; separate
    /// datagrams are not merged there (merging happens in network drivers'
    /// receive path, which loopback does not use).
    ///
    /// # Errors
    ///
    /// `ENOPROTOOPT` on TCP, `EOPNOTSUPP` on a Unix socket.
    #[doc(alias = "UDP_GRO")]
    pub fn set_udp_gro(&self, on: bool) -> io::Result<()> {
        self.set_flag(libc::SOL_UDP, libc::UDP_GRO, on)
    }

    /// `setsockopt(fd, SOL_UDP, UDP_SEGMENT, size)` — segment every send
    /// into datagrams of `size` bytes (GSO); 0 turns it off. The per-send
    /// UDP_SEGMENT message ([`CmsgWriter::udp_segment`], whose docs give
    /// the limits checked at send time) overrides it.
    ///
    /// # Errors
    ///
    /// `ENOPROTOOPT` on TCP, `EOPNOTSUPP` on a Unix socket.
    #[doc(alias = "UDP_SEGMENT")]
    pub fn set_udp_segment(&self, size: u16) -> io::Result<()> {
        crate::opt::set_int(
            self,
            libc::SOL_UDP,
            libc::UDP_SEGMENT,
            libc::c_int::from(size),
        )
    }

    /// `setsockopt(fd, IPPROTO_IP, IP_RECVERR)` — queue errors (ICMP
    /// reports, local errors) on the socket's error queue, to read with
    /// `MSG_ERRQUEUE` as [`Cmsg::RecvErr`] (see [`ExtendedError`] for how
    /// a queued entry shows in poll).
    ///
    /// # Errors
    ///
    /// `EOPNOTSUPP` on a Unix socket.
    #[doc(alias = "IP_RECVERR")]
    pub fn set_recv_err_v4(&self, on: bool) -> io::Result<()> {
        self.set_flag(libc::IPPROTO_IP, libc::IP_RECVERR, on)
    }

    /// `setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR)` — the IPv6 twin of
    /// [`OwnedSocket::set_recv_err_v4`] (ICMPv6 reports).
    ///
    /// # Errors
    ///
    /// `ENOPROTOOPT` on an IPv4 socket, `EOPNOTSUPP` on a Unix socket.
    #[doc(alias = "IPV6_RECVERR")]
    pub fn set_recv_err_v6(&self, on: bool) -> io::Result<()> {
        self.set_flag(libc::IPPROTO_IPV6, libc::IPV6_RECVERR, on)
    }
}
