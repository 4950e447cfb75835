//! Options at level `SOL_SOCKET`: socket(7), unix(7) for `SO_PEERCRED`.

use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

use super::{
    IFNAMSIZ, Int, Opt, get, get_bool, opt, secs_int, set, set_bool, timeval_from, timeval_to,
};
use crate::{Domain, OwnedSocket, Protocol, Type, sys};

const SO_ACCEPTCONN: Opt<Int> = opt(libc::SOL_SOCKET, libc::SO_ACCEPTCONN);
const SO_BROADCAST: Opt<Int> = opt(libc::SOL_SOCKET, libc::SO_BROADCAST);
const SO_DOMAIN: Opt<Int> = opt(libc::SOL_SOCKET, libc::SO_DOMAIN);
const SO_ERROR: Opt<Int> = opt(libc::SOL_SOCKET, libc::SO_ERROR);
const SO_KEEPALIVE: Opt<Int> = opt(libc::SOL_SOCKET, libc::SO_KEEPALIVE);
const SO_LINGER: Opt<libc::linger> = opt(libc::SOL_SOCKET, libc::SO_LINGER);
const SO_PEERCRED: Opt<libc::ucred> = opt(libc::SOL_SOCKET, libc::SO_PEERCRED);
const SO_PROTOCOL: Opt<Int> = opt(libc::SOL_SOCKET, libc::SO_PROTOCOL);
const SO_RCVBUF: Opt<Int> = opt(libc::SOL_SOCKET, libc::SO_RCVBUF);
const SO_RCVTIMEO: Opt<libc::timeval> = opt(libc::SOL_SOCKET, libc::SO_RCVTIMEO);
const SO_REUSEADDR: Opt<Int> = opt(libc::SOL_SOCKET, libc::SO_REUSEADDR);
const SO_REUSEPORT: Opt<Int> = opt(libc::SOL_SOCKET, libc::SO_REUSEPORT);
const SO_SNDBUF: Opt<Int> = opt(libc::SOL_SOCKET, libc::SO_SNDBUF);
const SO_SNDTIMEO: Opt<libc::timeval> = opt(libc::SOL_SOCKET, libc::SO_SNDTIMEO);
const SO_TYPE: Opt<Int> = opt(libc::SOL_SOCKET, libc::SO_TYPE);

/// The credentials of the process at the other end of a Unix socket, as
/// the kernel recorded them at `connect` (or `socketpair`) time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCred {
    /// Process id of the peer.
    pub pid: libc::pid_t,
    /// Effective user id of the peer.
    pub uid: libc::uid_t,
    /// Effective group id of the peer.
    pub gid: libc::gid_t,
}

/// Socket options at level `SOL_SOCKET`, sorted by C name.
impl OwnedSocket {
    /// `getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN)` — whether the socket is
    /// listening.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "SO_ACCEPTCONN")]
    pub fn is_listener(&self) -> io::Result<bool> {
        get_bool(self, SO_ACCEPTCONN)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE)` — the interface the
    /// socket is bound to, or `None`.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "SO_BINDTODEVICE")]
    pub fn device(&self) -> io::Result<Option<Vec<u8>>> {
        let mut buf = [0u8; IFNAMSIZ];
        let n = sys::net::getsockopt_bytes(
            self.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            &mut buf,
        )?;
        let name = &buf[..n];
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        Ok((end > 0).then(|| name[..end].to_vec()))
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name)` — send and
    /// receive only through one interface (`b"lo"`); `None` unbinds.
    ///
    /// # Errors
    ///
    /// - `InvalidInput`: a name of 16 bytes or more, or holding a NUL
    ///   (before any syscall).
    /// - `ENODEV`: no interface of that name.
    /// - `EPERM`: changing the binding of a bound socket needs
    ///   CAP_NET_RAW (binding an unbound socket does not, since Linux 5.7).
    #[doc(alias = "SO_BINDTODEVICE")]
    pub fn bind_device(&self, interface: Option<&[u8]>) -> io::Result<()> {
        let name = interface.unwrap_or(b"");
        if name.len() >= IFNAMSIZ || name.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "interface name too long or holds a NUL",
            ));
        }
        sys::net::setsockopt_bytes(self.as_fd(), libc::SOL_SOCKET, libc::SO_BINDTODEVICE, name)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_BROADCAST)`.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "SO_BROADCAST")]
    pub fn broadcast(&self) -> io::Result<bool> {
        get_bool(self, SO_BROADCAST)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_BROADCAST)` — allow sending to a
    /// broadcast address (without it such a send fails with `EACCES`).
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "SO_BROADCAST")]
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        set_bool(self, SO_BROADCAST, on)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_DOMAIN)` — the socket's address
    /// family.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "SO_DOMAIN")]
    pub fn domain(&self) -> io::Result<Domain> {
        get(self, SO_DOMAIN).map(Domain::from)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_ERROR)` — read and clear the socket's
    /// pending error.
    ///
    /// The kernel keeps the last asynchronous error of a socket (a failed
    /// nonblocking connect, an ICMP error on UDP, a reset) until it is read
    /// here or returned by the next call. `Ok(None)`: no error pending.
    ///
    /// # Errors
    ///
    /// The call itself fails only as in the [module docs](crate::opt); the
    /// socket's pending error comes back as `Ok(Some(error))`.
    #[doc(alias = "SO_ERROR")]
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        let e = get(self, SO_ERROR)?;
        Ok((e != 0).then(|| io::Error::from_raw_os_error(e)))
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE)`.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "SO_KEEPALIVE")]
    pub fn keepalive(&self) -> io::Result<bool> {
        get_bool(self, SO_KEEPALIVE)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE)` — probe an idle connection
    /// so a vanished peer is noticed (timing from
    /// [`OwnedSocket::set_tcp_keepalive_idle`] and friends).
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "SO_KEEPALIVE")]
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        set_bool(self, SO_KEEPALIVE, on)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_LINGER)` — `None`: close returns at
    /// once and the kernel sends what is queued in the background.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "SO_LINGER")]
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        let l = get(self, SO_LINGER)?;
        Ok((l.l_onoff != 0).then(|| Duration::from_secs(l.l_linger.max(0) as u64)))
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_LINGER)` — `Some(d)`: close blocks up
    /// to `d` while queued data is sent; `Some(ZERO)`: close resets the
    /// connection (TCP RST) and discards queued data.
    ///
    /// The kernel counts whole seconds: a fraction is rounded up.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for more than `i32::MAX` seconds; see the
    /// [module docs](crate::opt).
    #[doc(alias = "SO_LINGER")]
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        let l = match linger {
            None => libc::linger {
                l_onoff: 0,
                l_linger: 0,
            },
            Some(d) => libc::linger {
                l_onoff: 1,
                l_linger: secs_int(d, "linger too long")?,
            },
        };
        set(self, SO_LINGER, l)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_PEERCRED)` — the pid, uid and gid of
    /// the process at the other end of a Unix socket.
    ///
    /// # Errors
    ///
    /// - `NotConnected` (`ENOTCONN`): on a socket that has no peer
    ///   credentials. Linux answers pid 0 and uid/gid −1 for a socket
    ///   without a Unix peer (an IP socket, an unconnected Unix socket); this
    ///   method turns that answer into `ENOTCONN` rather than a fake peer.
    /// - See the [module docs](crate::opt).
    #[doc(alias = "SO_PEERCRED")]
    pub fn peer_cred(&self) -> io::Result<PeerCred> {
        let c = get(self, SO_PEERCRED)?;
        if c.pid == 0 && c.uid == libc::uid_t::MAX && c.gid == libc::gid_t::MAX {
            return Err(io::Error::from_raw_os_error(libc::ENOTCONN));
        }
        Ok(PeerCred {
            pid: c.pid,
            uid: c.uid,
            gid: c.gid,
        })
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_PROTOCOL)` — the socket's protocol.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "SO_PROTOCOL")]
    pub fn protocol(&self) -> io::Result<Protocol> {
        get(self, SO_PROTOCOL).map(Protocol::from)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_RCVBUF)` — the receive buffer size in
    /// bytes.
    ///
    /// # Platform notes
    ///
    /// Linux doubles the value set, to leave room for its bookkeeping, and
    /// reports the doubled value here.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "SO_RCVBUF")]
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        get(self, SO_RCVBUF).map(|v| v.max(0) as usize)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_RCVBUF)` — ask for a receive buffer
    /// size (capped by `net.core.rmem_max`, then doubled).
    ///
    /// # Errors
    ///
    /// `InvalidInput` above `i32::MAX`; see the [module docs](crate::opt).
    #[doc(alias = "SO_RCVBUF")]
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        let v = Int::try_from(size)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "buffer size too large"))?;
        set(self, SO_RCVBUF, v)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO)` — how long a blocking
    /// receive waits before `EAGAIN`; `None`: forever.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "SO_RCVTIMEO")]
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        get(self, SO_RCVTIMEO).map(timeval_to)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO)` — bound blocking receives
    /// (and accept); on expiry they fail with `EAGAIN`
    /// (`ErrorKind::WouldBlock`). Rounded up to microseconds.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `Some(ZERO)` (the kernel would read it as "no
    /// timeout"; pass `None`); see the [module docs](crate::opt).
    #[doc(alias = "SO_RCVTIMEO")]
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        set(self, SO_RCVTIMEO, timeval_from(timeout)?)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_REUSEADDR)`.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "SO_REUSEADDR")]
    pub fn reuse_address(&self) -> io::Result<bool> {
        get_bool(self, SO_REUSEADDR)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_REUSEADDR)` — let `bind` take a port
    /// whose old connections linger in TIME_WAIT (set it before `bind`).
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "SO_REUSEADDR")]
    pub fn set_reuse_address(&self, on: bool) -> io::Result<()> {
        set_bool(self, SO_REUSEADDR, on)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_REUSEPORT)`.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "SO_REUSEPORT")]
    pub fn reuse_port(&self) -> io::Result<bool> {
        get_bool(self, SO_REUSEPORT)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_REUSEPORT)` — let several sockets of
    /// the same user bind the same address and port; the kernel spreads
    /// incoming connections or datagrams among them.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "SO_REUSEPORT")]
    pub fn set_reuse_port(&self, on: bool) -> io::Result<()> {
        set_bool(self, SO_REUSEPORT, on)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_SNDBUF)` — the send buffer size
    /// (doubled by Linux, as for [`OwnedSocket::recv_buffer_size`]).
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "SO_SNDBUF")]
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        get(self, SO_SNDBUF).map(|v| v.max(0) as usize)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_SNDBUF)` — ask for a send buffer size
    /// (capped by `net.core.wmem_max`, then doubled).
    ///
    /// # Errors
    ///
    /// `InvalidInput` above `i32::MAX`; see the [module docs](crate::opt).
    #[doc(alias = "SO_SNDBUF")]
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        let v = Int::try_from(size)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "buffer size too large"))?;
        set(self, SO_SNDBUF, v)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO)` — how long a blocking send
    /// waits before `EAGAIN`; `None`: forever.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "SO_SNDTIMEO")]
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        get(self, SO_SNDTIMEO).map(timeval_to)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO)` — bound blocking sends
    /// (and, on Linux, blocking connects). Rounded up to microseconds.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `Some(ZERO)`; see the [module docs](crate::opt).
    #[doc(alias = "SO_SNDTIMEO")]
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        set(self, SO_SNDTIMEO, timeval_from(timeout)?)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_TYPE)` — the socket's type.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "SO_TYPE")]
    pub fn r#type(&self) -> io::Result<Type> {
        get(self, SO_TYPE).map(Type::from)
    }
}
