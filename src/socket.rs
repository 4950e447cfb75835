//! `OwnedSocket`: one socket fd, one method per syscall.
//!
//! # References
//! [socket(2)](https://man7.org/linux/man-pages/man2/socket.2.html),
//! [socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html),
//! [tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html),
//! [udp(7)](https://man7.org/linux/man-pages/man7/udp.7.html),
//! [unix(7)](https://man7.org/linux/man-pages/man7/unix.7.html)
// `FromRawFd` is the one unsafe operation this module needs.
#![allow(unsafe_code)]

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::mem::{ManuallyDrop, MaybeUninit};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::time::{Duration, Instant};

use crate::sys;
use crate::{Domain, MsgFlags, Protocol, SockAddr, Type};

/// A socket: owns exactly one file descriptor and closes it, once, on drop.
///
/// Every method is one syscall (named in its first doc line) except
/// [`OwnedSocket::connect_timeout`], a documented helper. The fd is
/// close-on-exec from birth (`SOCK_CLOEXEC`, `accept4`, `F_DUPFD_CLOEXEC`)
/// and every send passes `MSG_NOSIGNAL`; see the crate docs for the EINTR,
/// SIGPIPE and ownership policies.
///
/// Dropping closes the fd through the syscall layer and ignores close's
/// result (the fd is released either way on Linux); call
/// [`OwnedSocket::close`] to see it.
///
/// # References
/// [socket(2)](https://man7.org/linux/man-pages/man2/socket.2.html),
/// [socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html),
/// [tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html),
/// [udp(7)](https://man7.org/linux/man-pages/man7/udp.7.html),
/// [unix(7)](https://man7.org/linux/man-pages/man7/unix.7.html),
/// [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html),
/// [close(2)](https://man7.org/linux/man-pages/man2/close.2.html); each
/// method links its own syscall's page.
pub struct OwnedSocket {
    // ManuallyDrop keeps OwnedFd's niche (Option<OwnedSocket> is 4 bytes)
    // while our Drop, not OwnedFd's, does the close, through sys::close.
    fd: ManuallyDrop<OwnedFd>,
}

static_assertions::assert_eq_size!(Option<OwnedSocket>, RawFd);
static_assertions::assert_impl_all!(OwnedSocket: Send, Sync);

impl Drop for OwnedSocket {
    fn drop(&mut self) {
        // SAFETY: `fd` is never used again after drop; taking it out of the
        // ManuallyDrop moves ownership to sys::close, which closes it once.
        let fd = unsafe { ManuallyDrop::take(&mut self.fd) };
        let _ = sys::close(fd);
    }
}

impl fmt::Debug for OwnedSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSocket")
            .field("fd", &self.fd.as_raw_fd())
            .finish()
    }
}

fn invalid_input(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Views initialised bytes as `MaybeUninit` for a receive call. The kernel
/// only ever writes to the buffer, so it stays initialised.
fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: MaybeUninit<u8> has the layout of u8; the callers below only
    // let the kernel write initialised bytes into it, never de-initialise it.
    unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast(), buf.len()) }
}

/// Turns a timeout into poll(2)'s milliseconds, rounded up (a 0.5 ms wait
/// is 1 ms, never 0) and capped at `c_int::MAX`.
pub(crate) fn timeout_ms_round_up(d: Duration) -> libc::c_int {
    let ms = d.as_nanos().div_ceil(1_000_000);
    ms.min(libc::c_int::MAX as u128) as libc::c_int
}

impl OwnedSocket {
    fn from_owned(fd: OwnedFd) -> OwnedSocket {
        OwnedSocket {
            fd: ManuallyDrop::new(fd),
        }
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// `socket(domain, type | SOCK_CLOEXEC, protocol)` — create an endpoint
    /// for communication.
    ///
    /// The kernel allocates a socket of the family, type and protocol asked
    /// for and returns the lowest free fd number for it. The socket is
    /// close-on-exec from the same syscall, so a concurrent fork+exec never
    /// inherits it. It is blocking; see [`OwnedSocket::new_nonblocking`].
    ///
    /// # Errors
    ///
    /// - `EAFNOSUPPORT`: the address family is not supported by this kernel.
    /// - `EINVAL`: unknown type or flags.
    /// - `EPROTONOSUPPORT`: the protocol is not supported in this domain
    ///   (for example `IPPROTO_UDP` with `SOCK_STREAM`).
    /// - `ESOCKTNOSUPPORT`: the family has no socket of this type (for
    ///   example `SOCK_RDM` in `AF_UNIX`).
    /// - `EMFILE`: the process has reached its fd limit (`RLIMIT_NOFILE`);
    ///   `ENFILE`: the system-wide limit.
    /// - `EPERM`: no permission for this type (a raw socket without
    ///   CAP_NET_RAW; POSIX says `EACCES`, Linux answers `EPERM`).
    /// - `ENOBUFS` / `ENOMEM`: out of kernel memory.
    ///
    /// # Examples
    ///
    /// ```
    /// use baresock::{Domain, OwnedSocket, Protocol, Type};
    /// let s = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT)?;
    /// assert_eq!(s.r#type()?, Type::STREAM);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "socket")]
    pub fn new(domain: Domain, ty: Type, protocol: Protocol) -> io::Result<OwnedSocket> {
        sys::net::socket(domain.0, ty.0, protocol.0).map(OwnedSocket::from_owned)
    }

    /// `socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol)` — a
    /// nonblocking socket in one syscall, with no later `fcntl`.
    ///
    /// # Errors
    ///
    /// As [`OwnedSocket::new`].
    #[doc(alias = "socket")]
    #[doc(alias = "SOCK_NONBLOCK")]
    pub fn new_nonblocking(
        domain: Domain,
        ty: Type,
        protocol: Protocol,
    ) -> io::Result<OwnedSocket> {
        sys::net::socket(domain.0, ty.0 | libc::SOCK_NONBLOCK, protocol.0)
            .map(OwnedSocket::from_owned)
    }

    /// `socketpair(domain, type | SOCK_CLOEXEC, protocol, sv)` — two
    /// connected, unnamed sockets.
    ///
    /// The kernel creates two sockets already connected to each other; what
    /// one sends the other receives. On Linux only `AF_UNIX` supports it.
    ///
    /// # Errors
    ///
    /// - `EOPNOTSUPP`: the family cannot make pairs (`AF_INET`,
    ///   `AF_INET6`).
    /// - `EAFNOSUPPORT`: the family does not exist.
    /// - `EPROTONOSUPPORT`: the protocol is not supported in this domain.
    /// - `EMFILE` / `ENFILE`: out of fds (a pair needs two).
    ///
    /// # Examples
    ///
    /// ```
    /// use baresock::{Domain, OwnedSocket, Protocol, Type};
    /// let (a, b) = OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT)?;
    /// a.send(b"hi")?;
    /// let mut buf = [0; 2];
    /// assert_eq!(b.recv(&mut buf)?, 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "socketpair")]
    pub fn pair(
        domain: Domain,
        ty: Type,
        protocol: Protocol,
    ) -> io::Result<(OwnedSocket, OwnedSocket)> {
        let (a, b) = sys::net::socketpair(domain.0, ty.0, protocol.0)?;
        Ok((OwnedSocket::from_owned(a), OwnedSocket::from_owned(b)))
    }

    /// `socketpair(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol,
    /// sv)` — a pair whose both ends are nonblocking.
    ///
    /// # Errors
    ///
    /// As [`OwnedSocket::pair`].
    #[doc(alias = "socketpair")]
    pub fn pair_nonblocking(
        domain: Domain,
        ty: Type,
        protocol: Protocol,
    ) -> io::Result<(OwnedSocket, OwnedSocket)> {
        let (a, b) = sys::net::socketpair(domain.0, ty.0 | libc::SOCK_NONBLOCK, protocol.0)?;
        Ok((OwnedSocket::from_owned(a), OwnedSocket::from_owned(b)))
    }

    /// `bind(fd, addr, addrlen)` — give the socket a local address.
    ///
    /// For IP sockets the kernel reserves the address and port (port 0: the
    /// kernel picks a free one; read it back with
    /// [`OwnedSocket::local_addr`]). For a Unix path it creates the socket
    /// file, which stays until someone unlinks it.
    ///
    /// # Errors
    ///
    /// - `EADDRINUSE`: another socket is bound to this address without
    ///   `SO_REUSEADDR` on both, or a Unix path already exists.
    /// - `EADDRNOTAVAIL`: the IP address is not one of this host's.
    /// - `EINVAL`: the socket is already bound, or the address length is
    ///   wrong for the family (an IPv6 or Unix socket given an IPv4
    ///   address lands here).
    /// - `EAFNOSUPPORT`: an IPv4 socket given an address of another
    ///   family.
    /// - `EACCES`: a port below 1024 without CAP_NET_BIND_SERVICE, or no
    ///   search permission on a Unix path's directory.
    /// - `ENOENT` / `ENOTDIR`: a directory of the Unix path does not exist.
    pub fn bind(&self, addr: &SockAddr) -> io::Result<()> {
        sys::net::bind(self.fd(), addr)
    }

    /// `listen(fd, backlog)` — accept incoming connections.
    ///
    /// The kernel marks a stream socket passive: connections complete in
    /// the kernel and wait in a queue of at most `backlog` (capped by
    /// `/proc/sys/net/core/somaxconn`) until [`OwnedSocket::accept`] takes
    /// them. An unbound socket is first given an ephemeral port.
    ///
    /// # Errors
    ///
    /// - `EOPNOTSUPP`: the socket type does not listen (UDP).
    /// - `EADDRINUSE`: another socket listens on the same port (also when
    ///   an unbound socket's automatic port clashes).
    /// - `EINVAL`: the socket is connected or cannot listen in its state
    ///   (an unbound Unix socket: it gets no automatic name).
    pub fn listen(&self, backlog: i32) -> io::Result<()> {
        sys::net::listen(self.fd(), backlog)
    }

    /// `accept4(fd, addr, addrlen, SOCK_CLOEXEC)` — take the next connection
    /// from the listen queue.
    ///
    /// Blocks (on a blocking listener) until a connection has completed,
    /// then returns a new connected socket, close-on-exec and blocking, and
    /// the peer's address.
    ///
    /// # Errors
    ///
    /// - `EAGAIN` / `EWOULDBLOCK`: the listener is nonblocking and no
    ///   connection is waiting.
    /// - `EINVAL`: the socket is not listening.
    /// - `EMFILE` / `ENFILE`: out of fds; the connection stays queued.
    ///
    /// POSIX allows `ECONNABORTED` for a queued connection that was reset
    /// before it was taken; Linux returns such a TCP connection all the
    /// same, and its first receive reports `ECONNRESET`.
    /// - `EINTR`: a signal arrived while blocked (see the crate's EINTR
    ///   policy).
    /// - `EOPNOTSUPP`: the socket is not a stream socket.
    #[doc(alias = "accept4")]
    pub fn accept(&self) -> io::Result<(OwnedSocket, SockAddr)> {
        let (fd, addr) = sys::net::accept4(self.fd(), 0)?;
        Ok((OwnedSocket::from_owned(fd), addr))
    }

    /// `accept4(fd, addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC)` — accept
    /// a connection that is nonblocking from birth, so an event loop never
    /// needs an `fcntl`.
    ///
    /// Whether the call itself blocks depends on the listener's own mode.
    ///
    /// # Errors
    ///
    /// As [`OwnedSocket::accept`].
    #[doc(alias = "accept4")]
    pub fn accept_nonblocking(&self) -> io::Result<(OwnedSocket, SockAddr)> {
        let (fd, addr) = sys::net::accept4(self.fd(), libc::SOCK_NONBLOCK)?;
        Ok((OwnedSocket::from_owned(fd), addr))
    }

    /// `connect(fd, addr, addrlen)` — connect to a peer.
    ///
    /// For a stream socket the kernel runs the handshake (TCP's SYN,
    /// SYN-ACK, ACK) and blocks until it completes or fails. For a datagram
    /// socket it only records the default destination and filters what is
    /// received to that peer. A socket that was not bound gets an ephemeral
    /// local address: no `bind` is needed before `connect`.
    ///
    /// # Errors
    ///
    /// - `ECONNREFUSED`: nobody listens at the address (TCP: the peer
    ///   answered with RST).
    /// - `EINPROGRESS`: the socket is nonblocking and the handshake has
    ///   started; wait for writability, then read [`OwnedSocket::take_error`].
    /// - `EALREADY`: a nonblocking connect is still in progress.
    /// - `EISCONN`: the stream socket is already connected. After a
    ///   nonblocking connect completed, Linux answers the first `connect`
    ///   again with success (and marks the socket connected); later ones
    ///   with `EISCONN`.
    /// - `ETIMEDOUT`: the handshake got no answer.
    /// - `ENETUNREACH` / `EHOSTUNREACH`: no route to the address.
    /// - `EADDRNOTAVAIL`: no ephemeral port free, or a bad address.
    /// - `EAFNOSUPPORT`: the address family does not match the socket's.
    /// - `ENOENT`: a Unix path does not exist; `ECONNREFUSED`: it exists
    ///   but nobody listens.
    /// - `EAGAIN`: a Unix stream listener's backlog is full (nonblocking).
    /// - `EINTR`: a signal arrived while blocked; the handshake carries on
    ///   in the kernel (see the crate's EINTR policy).
    pub fn connect(&self, addr: &SockAddr) -> io::Result<()> {
        sys::net::connect(self.fd(), addr)
    }

    /// `connect(fd, addr, addrlen)` on the socket made nonblocking, then
    /// `poll`, `getsockopt(fd, SOL_SOCKET, SO_ERROR)` and `getpeername` —
    /// connect with a deadline.
    ///
    /// The helper that is more than one syscall: a nonblocking `connect`,
    /// then `poll` for writability, `getsockopt(SO_ERROR)` for the outcome
    /// and `getpeername` to confirm it.
    ///
    /// The socket's original blocking mode (`fcntl(F_GETFL)`) is restored
    /// on success and on every failure. An interrupted `poll` (EINTR) is
    /// retried with the time that is left; the deadline is honoured. A zero
    /// timeout is refused.
    ///
    /// # Errors
    ///
    /// - `InvalidInput`: a zero timeout (before any syscall).
    /// - `ETIMEDOUT` (`ErrorKind::TimedOut`): the deadline passed with the
    ///   handshake still pending. The connect goes on in the kernel; drop
    ///   the socket to abandon it.
    /// - Any error of [`OwnedSocket::connect`] except `EINPROGRESS`, from
    ///   the call itself or from `SO_ERROR` once the handshake failed (for
    ///   example `ECONNREFUSED`).
    /// - `ENOTCONN` from `getpeername` if the handshake failed and the
    ///   error was already consumed.
    ///
    /// A Unix stream listener whose backlog is full answers the nonblocking
    /// connect with `EAGAIN`; that comes back at once, without waiting.
    #[doc(alias = "connect")]
    #[doc(alias = "SO_ERROR")]
    pub fn connect_timeout(&self, addr: &SockAddr, timeout: Duration) -> io::Result<()> {
        if timeout.is_zero() {
            return Err(invalid_input("cannot connect with a zero timeout"));
        }
        let deadline = Instant::now().checked_add(timeout);
        let flags = sys::net::fcntl_getfl(self.fd())?;
        let was_blocking = flags & libc::O_NONBLOCK == 0;
        if was_blocking {
            sys::net::fcntl_setfl(self.fd(), flags | libc::O_NONBLOCK)?;
        }
        let result = self.connect_nonblocking_until(addr, timeout, deadline);
        if was_blocking {
            // Restore the caller's mode whatever happened; a failure to
            // restore is reported only if the connect itself succeeded.
            let restored = sys::net::fcntl_setfl(self.fd(), flags);
            return result.and(restored);
        }
        result
    }

    fn connect_nonblocking_until(
        &self,
        addr: &SockAddr,
        timeout: Duration,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        match sys::net::connect(self.fd(), addr) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        let mut left = timeout;
        loop {
            let mut pfd = [libc::pollfd {
                fd: self.fd().as_raw_fd(),
                events: libc::POLLOUT,
                revents: 0,
            }];
            match sys::poll::poll(&mut pfd, timeout_ms_round_up(left)) {
                Ok(0) => {}
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            // Timed out or interrupted: retry with the time left, if any.
            left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => left,
            };
            if left.is_zero() {
                return Err(io::Error::from_raw_os_error(libc::ETIMEDOUT));
            }
        }
        if let Some(e) = self.take_error()? {
            return Err(e);
        }
        // SO_ERROR is 0: confirm the connection really is up.
        sys::net::getpeername(self.fd()).map(|_| ())
    }

    /// `getsockname(fd, addr, addrlen)` — the socket's local address.
    ///
    /// After `bind` to port 0 or an implicit bind by `connect`, this is
    /// where to read the port the kernel chose. An unbound Unix socket
    /// gives the unnamed address.
    ///
    /// # Errors
    ///
    /// - `ENOBUFS`: out of kernel memory.
    /// - `EBADF` / `ENOTSOCK` cannot happen on an `OwnedSocket` that holds
    ///   a socket; they can after [`FromRawFd`] of a non-socket.
    #[doc(alias = "getsockname")]
    pub fn local_addr(&self) -> io::Result<SockAddr> {
        sys::net::getsockname(self.fd())
    }

    /// `getpeername(fd, addr, addrlen)` — the connected peer's address.
    ///
    /// # Errors
    ///
    /// - `ENOTCONN`: the socket is not connected (never connected, a
    ///   listener, or the connection failed).
    #[doc(alias = "getpeername")]
    pub fn peer_addr(&self) -> io::Result<SockAddr> {
        sys::net::getpeername(self.fd())
    }

    /// `shutdown(fd, SHUT_RD | SHUT_WR | SHUT_RDWR)` — end one or both
    /// directions of a connection without closing the fd.
    ///
    /// `Write` sends end-of-stream (TCP's FIN): the peer's reads return 0
    /// once the data before it is read. `Read` makes later reads return 0.
    /// Unlike `close`, it acts on the connection, so it reaches every
    /// duplicate of the fd.
    ///
    /// On a listening Unix stream socket, `Read` is a fence: a new
    /// `connect` fails with `ECONNREFUSED` (the client's connect never
    /// succeeds), while the connections already queued can still be
    /// accepted, until `EAGAIN`. So a stop can fence, drain and close
    /// without resetting a client that had connected. (A TCP listener has
    /// no such switch: see [`crate::bpf::Program::drop_new_syns`].)
    ///
    /// # Errors
    ///
    /// - `ENOTCONN`: a TCP or UDP socket that is not connected. (Linux's
    ///   Unix sockets accept `shutdown` unconnected.)
    /// - `EINVAL`: bad `how` (cannot happen with [`Shutdown`]).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let how = match how {
            Shutdown::Read => libc::SHUT_RD,
            Shutdown::Write => libc::SHUT_WR,
            Shutdown::Both => libc::SHUT_RDWR,
        };
        sys::net::shutdown(self.fd(), how)
    }

    /// `sendto(fd, buf, len, MSG_NOSIGNAL, NULL, 0)` — send on a connected
    /// socket (strace shows `send` as `sendto` with a NULL address).
    ///
    /// The kernel copies as much of `buf` as fits into the send buffer and
    /// returns how many bytes it took: on a stream this may be fewer than
    /// asked (loop, as [`Write::write_all`] does). A datagram goes whole or
    /// not at all. `MSG_NOSIGNAL` is always passed: a send to a closed
    /// peer returns `EPIPE` instead of raising SIGPIPE.
    ///
    /// # Errors
    ///
    /// - `EPIPE`: the connection's write side is shut down or the peer has
    ///   gone (no SIGPIPE is raised).
    /// - `ECONNRESET`: the peer reset the connection.
    /// - `ETIMEDOUT`: the connection was dropped because sent data went
    ///   unacknowledged too long (retransmissions, `TCP_USER_TIMEOUT`) or
    ///   keepalive probes went unanswered. Reported once, to whichever of
    ///   send, recv or `SO_ERROR` looks first; then a send gets `EPIPE`.
    /// - `EAGAIN`: nonblocking and the send buffer is full.
    /// - `ENOTCONN` / `EDESTADDRREQ`: not connected and no address given
    ///   (Unix sockets answer `ENOTCONN`, UDP `EDESTADDRREQ`; an
    ///   unconnected TCP socket answers `EPIPE`).
    /// - `EMSGSIZE`: a datagram larger than the protocol allows.
    /// - `ECONNREFUSED`: a connected UDP socket got an ICMP port
    ///   unreachable for an earlier datagram.
    /// - `ENOBUFS`: the interface queue is full.
    /// - `EINTR`: a signal arrived before any byte was sent.
    #[doc(alias = "sendto")]
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        sys::net::sendto(self.fd(), buf, 0, None)
    }

    /// `sendto(fd, buf, len, flags | MSG_NOSIGNAL, NULL, 0)` — send with
    /// flags (`MSG_OOB`, `MSG_DONTWAIT`, `MSG_MORE`...).
    ///
    /// # Errors
    ///
    /// As [`OwnedSocket::send`]; `EOPNOTSUPP` for a flag the socket type
    /// does not support (`MSG_OOB` on UDP).
    #[doc(alias = "send")]
    #[doc(alias = "sendto")]
    pub fn send_with_flags(&self, buf: &[u8], flags: MsgFlags) -> io::Result<usize> {
        sys::net::sendto(self.fd(), buf, flags.0, None)
    }

    /// `sendto(fd, buf, len, MSG_NOSIGNAL, addr, addrlen)` — send a datagram
    /// to an address.
    ///
    /// On an unconnected datagram socket this is how to name the
    /// destination per message; an unbound socket gets an ephemeral port
    /// first. On a connected TCP socket Linux ignores the address; a Unix
    /// stream socket refuses one.
    ///
    /// # Errors
    ///
    /// As [`OwnedSocket::send`], plus `EAFNOSUPPORT` for an address of
    /// another family, `EACCES` for a broadcast address without
    /// `SO_BROADCAST`, `EISCONN` for an address on a connected Unix stream
    /// socket (`EOPNOTSUPP` on an unconnected one), and `ENOENT` /
    /// `ECONNREFUSED` for a Unix datagram path with no socket behind it.
    #[doc(alias = "sendto")]
    pub fn send_to(&self, buf: &[u8], addr: &SockAddr) -> io::Result<usize> {
        sys::net::sendto(self.fd(), buf, 0, Some(addr))
    }

    /// `sendto(fd, buf, len, flags | MSG_NOSIGNAL, addr, addrlen)`.
    ///
    /// # Errors
    ///
    /// As [`OwnedSocket::send_to`].
    #[doc(alias = "sendto")]
    pub fn send_to_with_flags(
        &self,
        buf: &[u8],
        addr: &SockAddr,
        flags: MsgFlags,
    ) -> io::Result<usize> {
        sys::net::sendto(self.fd(), buf, flags.0, Some(addr))
    }

    /// `sendmsg(fd, {iov}, MSG_NOSIGNAL)` — gather several buffers into one
    /// send (never `writev`, which would raise SIGPIPE).
    ///
    /// # Errors
    ///
    /// As [`OwnedSocket::send`]; `EMSGSIZE` for more than `IOV_MAX` (1024)
    /// buffers.
    #[doc(alias = "sendmsg")]
    #[doc(alias = "writev")]
    pub fn send_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        sys::msg::sendmsg(self.fd(), bufs, None, &[], 0)
    }

    /// `sendmsg(fd, {iov}, flags | MSG_NOSIGNAL)`.
    ///
    /// # Errors
    ///
    /// As [`OwnedSocket::send_vectored`].
    #[doc(alias = "sendmsg")]
    pub fn send_vectored_with_flags(
        &self,
        bufs: &[IoSlice<'_>],
        flags: MsgFlags,
    ) -> io::Result<usize> {
        sys::msg::sendmsg(self.fd(), bufs, None, &[], flags.0)
    }

    /// `sendmsg(fd, {addr, iov}, MSG_NOSIGNAL)` — a gathered datagram to an
    /// address.
    ///
    /// # Errors
    ///
    /// As [`OwnedSocket::send_to`].
    #[doc(alias = "sendmsg")]
    pub fn send_to_vectored(&self, bufs: &[IoSlice<'_>], addr: &SockAddr) -> io::Result<usize> {
        sys::msg::sendmsg(self.fd(), bufs, Some(addr), &[], 0)
    }

    /// `recvfrom(fd, buf, len, 0, NULL, NULL)` — receive (strace shows
    /// `recv` as `recvfrom` with a NULL address).
    ///
    /// Blocks until data is there, then returns how many bytes were copied.
    /// 0 means end of stream: the peer shut down its write side or closed
    /// (on a stream), or an empty datagram. A datagram larger than `buf`
    /// is truncated and the rest is lost.
    ///
    /// # Errors
    ///
    /// - `EAGAIN`: nonblocking (or `SO_RCVTIMEO` expired) and nothing to
    ///   read.
    /// - `ECONNRESET`: the peer reset the connection.
    /// - `ETIMEDOUT`: the connection was dropped because sent data went
    ///   unacknowledged too long (retransmissions, `TCP_USER_TIMEOUT`) or
    ///   keepalive probes went unanswered. Reported once, to whichever of
    ///   recv, send or `SO_ERROR` looks first; then a recv returns 0.
    /// - `ENOTCONN`: a TCP socket that is not connected (an unconnected
    ///   Unix stream socket answers `EINVAL`).
    /// - `ECONNREFUSED`: a connected UDP socket got an ICMP port
    ///   unreachable.
    /// - `EINTR`: a signal arrived before any data.
    #[doc(alias = "recvfrom")]
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_with_flags(buf, MsgFlags::NONE)
    }

    /// `recvfrom(fd, buf, len, flags, NULL, NULL)` — receive with flags
    /// (`MSG_PEEK`, `MSG_WAITALL`, `MSG_DONTWAIT`, `MSG_OOB`, `MSG_TRUNC`).
    ///
    /// With `MSG_TRUNC` the count no longer says how many bytes the kernel
    /// wrote into `buf`. On a datagram socket it is the datagram's real
    /// length, which may exceed `buf.len()`; the first `min(n, buf.len())`
    /// bytes were written. On TCP the kernel discards up to `buf.len()`
    /// bytes without copying them and returns how many it discarded: `buf`
    /// keeps what it held. A Unix stream socket ignores the flag.
    ///
    /// # Errors
    ///
    /// As [`OwnedSocket::recv`]; `EINVAL` for `MSG_OOB` when no urgent
    /// data is pending.
    #[doc(alias = "recvfrom")]
    pub fn recv_with_flags(&self, buf: &mut [u8], flags: MsgFlags) -> io::Result<usize> {
        sys::net::recvfrom(self.fd(), as_uninit(buf), flags.0, None).map(|(n, _)| n)
    }

    /// `recvfrom(fd, buf, len, flags, NULL, NULL)` into memory that need not
    /// be initialised. Returns the kernel's count and the bytes it wrote,
    /// as a slice of `buf` that is initialised and safe to read.
    ///
    /// Without `MSG_TRUNC` the slice is the first `min(n, buf.len())` bytes
    /// of `buf`. With `MSG_TRUNC` it is empty, whatever the count: the
    /// count then says how long the data was, not how much was written (TCP
    /// discards the bytes without writing any; a datagram socket writes
    /// `min(n, buf.len())` and returns the datagram's full length; a Unix
    /// stream socket ignores the flag), and which kind of socket this is
    /// would take another syscall to learn. `MSG_TRUNC` is allowed so that
    /// a datagram's length can be learnt without initialising a buffer
    /// (`MSG_PEEK | MSG_TRUNC` with an empty `buf` sizes the next
    /// datagram); to get the length and the bytes, receive into an
    /// initialised buffer with [`OwnedSocket::recv_with_flags`].
    ///
    /// # Errors
    ///
    /// As [`OwnedSocket::recv_with_flags`].
    #[doc(alias = "recvfrom")]
    pub fn recv_uninit<'b>(
        &self,
        buf: &'b mut [MaybeUninit<u8>],
        flags: MsgFlags,
    ) -> io::Result<(usize, &'b mut [u8])> {
        sys::net::recvfrom(self.fd(), buf, flags.0, None)
    }

    /// `recvfrom(fd, buf, len, MSG_PEEK, NULL, NULL)` — look at waiting data
    /// without taking it off the queue.
    ///
    /// # Errors
    ///
    /// As [`OwnedSocket::recv`].
    #[doc(alias = "MSG_PEEK")]
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_with_flags(buf, MsgFlags::PEEK)
    }

    /// `recvfrom(fd, buf, len, 0, addr, addrlen)` — receive a datagram and
    /// the address it came from.
    ///
    /// When the kernel has no address to give, the address is empty
    /// (length 0, [`SockAddr::decode`] refuses it): on a connected stream
    /// socket (TCP), and for a Unix datagram from an unbound sender.
    ///
    /// # Errors
    ///
    /// As [`OwnedSocket::recv`].
    #[doc(alias = "recvfrom")]
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SockAddr)> {
        self.recv_from_with_flags(buf, MsgFlags::NONE)
    }

    /// `recvfrom(fd, buf, len, flags, addr, addrlen)`.
    ///
    /// The count under `MSG_TRUNC` is as for
    /// [`OwnedSocket::recv_with_flags`].
    ///
    /// # Errors
    ///
    /// As [`OwnedSocket::recv_with_flags`].
    #[doc(alias = "recvfrom")]
    pub fn recv_from_with_flags(
        &self,
        buf: &mut [u8],
        flags: MsgFlags,
    ) -> io::Result<(usize, SockAddr)> {
        let mut addr = SockAddr::empty();
        let (n, _) = sys::net::recvfrom(self.fd(), as_uninit(buf), flags.0, Some(&mut addr))?;
        Ok((n, addr))
    }

    /// `recvfrom(fd, buf, len, flags, addr, addrlen)` into memory that need
    /// not be initialised. Returns the kernel's count, the bytes it wrote
    /// (an initialised slice of `buf`) and the sender's address.
    ///
    /// The same rule as [`OwnedSocket::recv_uninit`]: without `MSG_TRUNC`
    /// the slice is the first `min(n, buf.len())` bytes; with `MSG_TRUNC`
    /// it is empty, and the count is the datagram's full length (or, on a
    /// stream, what the kernel discarded or ignored the flag for).
    ///
    /// # Errors
    ///
    /// As [`OwnedSocket::recv_with_flags`].
    #[doc(alias = "recvfrom")]
    pub fn recv_from_uninit<'b>(
        &self,
        buf: &'b mut [MaybeUninit<u8>],
        flags: MsgFlags,
    ) -> io::Result<(usize, &'b mut [u8], SockAddr)> {
        let mut addr = SockAddr::empty();
        let (n, data) = sys::net::recvfrom(self.fd(), buf, flags.0, Some(&mut addr))?;
        Ok((n, data, addr))
    }

    /// `recvfrom(fd, buf, len, MSG_PEEK, addr, addrlen)` — peek at the next
    /// datagram and its sender.
    ///
    /// # Errors
    ///
    /// As [`OwnedSocket::recv`].
    #[doc(alias = "MSG_PEEK")]
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SockAddr)> {
        self.recv_from_with_flags(buf, MsgFlags::PEEK)
    }

    /// `recvmsg(fd, {iov}, 0)` — scatter one receive over several buffers.
    /// Returns the byte count and the flags the kernel set (`MSG_TRUNC`
    /// when a datagram did not fit).
    ///
    /// # Errors
    ///
    /// As [`OwnedSocket::recv`]; `EMSGSIZE` for more than `IOV_MAX`
    /// buffers.
    #[doc(alias = "recvmsg")]
    #[doc(alias = "readv")]
    pub fn recv_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<(usize, MsgFlags)> {
        self.recv_vectored_with_flags(bufs, MsgFlags::NONE)
    }

    /// `recvmsg(fd, {iov}, flags)`.
    ///
    /// # Errors
    ///
    /// As [`OwnedSocket::recv_vectored`].
    #[doc(alias = "recvmsg")]
    pub fn recv_vectored_with_flags(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        flags: MsgFlags,
    ) -> io::Result<(usize, MsgFlags)> {
        let (out, _no_control) = sys::msg::recvmsg(self.fd(), bufs, None, &mut [], flags.0)?;
        let (n, out) = (out.bytes, out.flags);
        Ok((n, MsgFlags(out)))
    }

    /// `recvmsg(fd, {addr, iov}, 0)` — a scattered datagram and its sender.
    ///
    /// # Errors
    ///
    /// As [`OwnedSocket::recv_vectored`].
    #[doc(alias = "recvmsg")]
    pub fn recv_from_vectored(
        &self,
        bufs: &mut [IoSliceMut<'_>],
    ) -> io::Result<(usize, MsgFlags, SockAddr)> {
        let mut addr = SockAddr::empty();
        let (out, _no_control) = sys::msg::recvmsg(self.fd(), bufs, Some(&mut addr), &mut [], 0)?;
        let (n, out) = (out.bytes, out.flags);
        Ok((n, MsgFlags(out), addr))
    }

    /// `fcntl(fd, F_SETFL, flags | O_NONBLOCK)` or without it — switch the
    /// socket between blocking and nonblocking mode.
    ///
    /// Nonblocking calls that would wait return `EAGAIN`
    /// (`ErrorKind::WouldBlock`) instead. The flag belongs to the open
    /// socket, so it is shared with every duplicate (`try_clone`). Costs
    /// two syscalls (`F_GETFL`, then `F_SETFL`), one if nothing changes.
    ///
    /// # Errors
    ///
    /// - `EBADF`: cannot happen on an open `OwnedSocket`.
    #[doc(alias = "fcntl")]
    #[doc(alias = "O_NONBLOCK")]
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        let flags = sys::net::fcntl_getfl(self.fd())?;
        let new = if nonblocking {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        if new == flags {
            return Ok(());
        }
        sys::net::fcntl_setfl(self.fd(), new)
    }

    /// `fcntl(fd, F_GETFL)` — whether the socket is nonblocking.
    ///
    /// # Errors
    ///
    /// - `EBADF`: cannot happen on an open `OwnedSocket`.
    #[doc(alias = "fcntl")]
    pub fn nonblocking(&self) -> io::Result<bool> {
        Ok(sys::net::fcntl_getfl(self.fd())? & libc::O_NONBLOCK != 0)
    }

    /// `fcntl(fd, F_DUPFD_CLOEXEC, 0)` — a second fd for the same socket,
    /// close-on-exec from birth.
    ///
    /// Both fds name one open socket: they share its buffers, its
    /// nonblocking flag and its connection. The socket goes away when the
    /// last of them is closed.
    ///
    /// # Errors
    ///
    /// - `EMFILE`: the process is out of fds.
    #[doc(alias = "dup")]
    #[doc(alias = "F_DUPFD_CLOEXEC")]
    pub fn try_clone(&self) -> io::Result<OwnedSocket> {
        sys::net::fcntl_dupfd_cloexec(self.fd()).map(OwnedSocket::from_owned)
    }

    /// `close(fd)` — release the socket and see close's result.
    ///
    /// Never retried: on Linux the fd is gone once close returns, even
    /// with an error. Dropping the socket does the same and ignores the
    /// result.
    ///
    /// On Linux, closing a socket reports success: the socket is released
    /// after the fd is gone, so a lingering close (`SO_LINGER` with unsent
    /// data) blocks until the data is sent, the linger time passes or a
    /// signal arrives, and reports none of it. POSIX's `EINTR` and `EIO`
    /// do not happen for sockets.
    ///
    /// # Errors
    ///
    /// - `EBADF`: cannot happen on an `OwnedSocket`.
    pub fn close(self) -> io::Result<()> {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped (ManuallyDrop) nor used again, so
        // the fd moves to sys::close exactly once.
        let fd = unsafe { ManuallyDrop::take(&mut this.fd) };
        sys::close(fd)
    }

    /// `fcntl(fd, F_GETFD)` — whether the fd has FD_CLOEXEC set: always
    /// true for a socket this crate made.
    ///
    /// # Errors
    ///
    /// - `EBADF`: cannot happen on an open `OwnedSocket`.
    #[doc(alias = "F_GETFD")]
    pub fn cloexec(&self) -> io::Result<bool> {
        Ok(sys::net::fcntl_getfd(self.fd())? & libc::FD_CLOEXEC != 0)
    }

    /// `fcntl(fd, F_GETFD)`, then `fcntl(fd, F_SETFD, flags)` — set or
    /// clear FD_CLOEXEC, for an fd adopted from elsewhere (socket
    /// activation) or one to hand to a child on purpose.
    ///
    /// # Errors
    ///
    /// - `EBADF`: cannot happen on an open `OwnedSocket`.
    #[doc(alias = "F_SETFD")]
    pub fn set_cloexec(&self, cloexec: bool) -> io::Result<()> {
        let flags = sys::net::fcntl_getfd(self.fd())?;
        let new = if cloexec {
            flags | libc::FD_CLOEXEC
        } else {
            flags & !libc::FD_CLOEXEC
        };
        sys::net::fcntl_setfd(self.fd(), new)
    }
}

impl Read for OwnedSocket {
    /// `recvfrom(fd, buf, len, 0, NULL, NULL)`.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    /// `recvmsg(fd, {iov}, 0)`.
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl Read for &OwnedSocket {
    /// `recvfrom(fd, buf, len, 0, NULL, NULL)`.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv(buf)
    }

    /// `recvmsg(fd, {iov}, 0)`.
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.recv_vectored(bufs).map(|(n, _)| n)
    }
}

impl Write for OwnedSocket {
    /// `sendto(fd, buf, len, MSG_NOSIGNAL, NULL, 0)`.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    /// `sendmsg(fd, {iov}, MSG_NOSIGNAL)`.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    /// Nothing to flush: the kernel owns the send buffer.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &OwnedSocket {
    /// `sendto(fd, buf, len, MSG_NOSIGNAL, NULL, 0)`.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send(buf)
    }

    /// `sendmsg(fd, {iov}, MSG_NOSIGNAL)`.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.send_vectored(bufs)
    }

    /// Nothing to flush: the kernel owns the send buffer.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for OwnedSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for OwnedSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl IntoRawFd for OwnedSocket {
    fn into_raw_fd(self) -> RawFd {
        OwnedFd::from(self).into_raw_fd()
    }
}

impl FromRawFd for OwnedSocket {
    /// Adopts `fd`; no syscall.
    ///
    /// # Safety
    ///
    /// `fd` must be an open socket that nothing else owns or will close.
    unsafe fn from_raw_fd(fd: RawFd) -> OwnedSocket {
        // SAFETY: the caller hands us sole ownership of an open fd.
        OwnedSocket::from_owned(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

impl From<OwnedFd> for OwnedSocket {
    /// Adopts the fd; no syscall and no check that it is a socket (a call
    /// on a non-socket fails with `ENOTSOCK`).
    fn from(fd: OwnedFd) -> OwnedSocket {
        OwnedSocket::from_owned(fd)
    }
}

impl From<OwnedSocket> for OwnedFd {
    fn from(s: OwnedSocket) -> OwnedFd {
        let mut s = ManuallyDrop::new(s);
        // SAFETY: `s` is never dropped nor used again, so ownership of the
        // fd moves to the returned OwnedFd exactly once.
        unsafe { ManuallyDrop::take(&mut s.fd) }
    }
}

macro_rules! std_conversions {
    ($($t:ty),*) => {$(
        impl From<$t> for OwnedSocket {
            /// Takes over the std socket's fd; no syscall.
            fn from(s: $t) -> OwnedSocket {
                OwnedSocket::from_owned(OwnedFd::from(s))
            }
        }

        impl From<OwnedSocket> for $t {
            /// Hands the fd to std; no syscall and no check of the socket's
            /// type (a mismatch shows as errors from std's calls).
            fn from(s: OwnedSocket) -> $t {
                <$t>::from(OwnedFd::from(s))
            }
        }
    )*};
}

std_conversions!(
    TcpStream,
    TcpListener,
    UdpSocket,
    UnixStream,
    UnixListener,
    UnixDatagram
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_prints_c_names_or_numbers() {
        assert_eq!(format!("{:?}", Domain::IPV4), "AF_INET");
        assert_eq!(format!("{:?}", Type::STREAM), "SOCK_STREAM");
        assert_eq!(format!("{:?}", Protocol::TCP), "IPPROTO_TCP");
        assert_eq!(format!("{:?}", Domain::from(9999)), "9999");
    }

    #[test]
    fn timeouts_round_up() {
        assert_eq!(timeout_ms_round_up(Duration::from_micros(500)), 1);
        assert_eq!(timeout_ms_round_up(Duration::from_nanos(1)), 1);
        assert_eq!(timeout_ms_round_up(Duration::from_millis(3)), 3);
        assert_eq!(timeout_ms_round_up(Duration::MAX), libc::c_int::MAX);
    }
}
