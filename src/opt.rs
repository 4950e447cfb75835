//! Typed socket options: `getsockopt(2)` and `setsockopt(2)`.
//!
//! Inside the crate each option is a constant (a private `Opt<T>`) that
//! ties the C level and name to the C value type, so two generic functions
//! are the only place the crate calls getsockopt and setsockopt, and every
//! call site is safe.
//! The public methods on [`OwnedSocket`] turn C values into Rust types
//! (`bool`, `Duration`, `Option<Duration>`...).
//!
//! # Errors common to every option
//!
//! - `ENOPROTOOPT`: the option is unknown at that level, or does not apply
//!   to this socket (a TCP option on a UDP socket, an IPv6 option on an
//!   IPv4 socket).
//! - `EINVAL`: the value is out of range or the wrong size for the option.
//! - `EBADF` / `ENOTSOCK` cannot happen on an `OwnedSocket` holding a
//!   socket.
//!
//! # References
//! [getsockopt(2)](https://man7.org/linux/man-pages/man2/getsockopt.2.html),
//! [socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html),
//! [ip(7)](https://man7.org/linux/man-pages/man7/ip.7.html),
//! [ipv6(7)](https://man7.org/linux/man-pages/man7/ipv6.7.html),
//! [tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html),
//! [unix(7)](https://man7.org/linux/man-pages/man7/unix.7.html)

use std::io;
use std::marker::PhantomData;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;
use std::time::Duration;

use crate::sys::net::OptVal;
use crate::{Domain, OwnedSocket, Protocol, Type, sys};

#[doc(hidden)]
pub mod decode;

/// A socket option: its level and name, tied to its C value type.
struct Opt<T> {
    level: libc::c_int,
    name: libc::c_int,
    _value: PhantomData<T>,
}

const fn opt<T>(level: libc::c_int, name: libc::c_int) -> Opt<T> {
    Opt {
        level,
        name,
        _value: PhantomData,
    }
}

type Int = libc::c_int;

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

const IP_ADD_MEMBERSHIP: Opt<libc::ip_mreqn> = opt(libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP);
const IP_DROP_MEMBERSHIP: Opt<libc::ip_mreqn> = opt(libc::IPPROTO_IP, libc::IP_DROP_MEMBERSHIP);
const IP_MULTICAST_IF: Opt<libc::ip_mreqn> = opt(libc::IPPROTO_IP, libc::IP_MULTICAST_IF);
const IP_MULTICAST_IF_ADDR: Opt<libc::in_addr> = opt(libc::IPPROTO_IP, libc::IP_MULTICAST_IF);
const IP_MULTICAST_LOOP: Opt<Int> = opt(libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP);
const IP_MULTICAST_TTL: Opt<Int> = opt(libc::IPPROTO_IP, libc::IP_MULTICAST_TTL);
const IP_TTL: Opt<Int> = opt(libc::IPPROTO_IP, libc::IP_TTL);

const IPV6_ADD_MEMBERSHIP: Opt<libc::ipv6_mreq> =
    opt(libc::IPPROTO_IPV6, libc::IPV6_ADD_MEMBERSHIP);
const IPV6_DROP_MEMBERSHIP: Opt<libc::ipv6_mreq> =
    opt(libc::IPPROTO_IPV6, libc::IPV6_DROP_MEMBERSHIP);
const IPV6_MULTICAST_HOPS: Opt<Int> = opt(libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS);
const IPV6_MULTICAST_IF: Opt<Int> = opt(libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF);
const IPV6_MULTICAST_LOOP: Opt<Int> = opt(libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP);
const IPV6_UNICAST_HOPS: Opt<Int> = opt(libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS);
const IPV6_V6ONLY: Opt<Int> = opt(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY);

const TCP_INFO: Opt<libc::tcp_info> = opt(libc::IPPROTO_TCP, libc::TCP_INFO);
const TCP_KEEPCNT: Opt<Int> = opt(libc::IPPROTO_TCP, libc::TCP_KEEPCNT);
const TCP_KEEPIDLE: Opt<Int> = opt(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE);
const TCP_KEEPINTVL: Opt<Int> = opt(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL);
const TCP_NODELAY: Opt<Int> = opt(libc::IPPROTO_TCP, libc::TCP_NODELAY);
const TCP_USER_TIMEOUT: Opt<libc::c_uint> = opt(libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT);

/// The interface name length limit for SO_BINDTODEVICE (`IFNAMSIZ`).
const IFNAMSIZ: usize = libc::IFNAMSIZ;

fn get<T: OptVal>(s: &OwnedSocket, o: Opt<T>) -> io::Result<T> {
    sys::net::getsockopt::<T>(s.as_fd(), o.level, o.name).map(|(v, _)| v)
}

fn set<T: OptVal>(s: &OwnedSocket, o: Opt<T>, value: T) -> io::Result<()> {
    sys::net::setsockopt(s.as_fd(), o.level, o.name, &value)
}

/// `setsockopt(fd, level, name, &int)` for an option of another module
/// (msg.rs's control-message switches), through the same single path.
pub(crate) fn set_int(
    s: &OwnedSocket,
    level: libc::c_int,
    name: libc::c_int,
    value: Int,
) -> io::Result<()> {
    set(s, opt::<Int>(level, name), value)
}

fn get_bool(s: &OwnedSocket, o: Opt<Int>) -> io::Result<bool> {
    get(s, o).map(|v| v != 0)
}

fn set_bool(s: &OwnedSocket, o: Opt<Int>, on: bool) -> io::Result<()> {
    set(s, o, Int::from(on))
}

fn to_int(v: u32, what: &'static str) -> io::Result<Int> {
    Int::try_from(v).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, what))
}

fn secs_int(d: Duration, what: &'static str) -> io::Result<Int> {
    // Round up: a keepalive of 0.5 s must not become 0 (which the kernel
    // refuses) nor fire early.
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    Int::try_from(secs).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, what))
}

fn timeval_from(d: Option<Duration>) -> io::Result<libc::timeval> {
    match d {
        None => Ok(libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        }),
        Some(d) if d.is_zero() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a zero timeout means \"no timeout\" to the kernel: pass None for that",
        )),
        Some(d) => {
            // Round up to the next microsecond so a tiny timeout is not 0
            // (which would mean "block forever").
            let usec = d.subsec_nanos().div_ceil(1000);
            let (sec, usec) = if usec == 1_000_000 {
                (d.as_secs() + 1, 0)
            } else {
                (d.as_secs(), usec)
            };
            let tv_sec = libc::time_t::try_from(sec)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "timeout too large"))?;
            Ok(libc::timeval {
                tv_sec,
                tv_usec: usec as libc::suseconds_t,
            })
        }
    }
}

fn in_addr(ip: Ipv4Addr) -> libc::in_addr {
    libc::in_addr {
        s_addr: u32::from_ne_bytes(ip.octets()),
    }
}

fn in6_addr(ip: Ipv6Addr) -> libc::in6_addr {
    libc::in6_addr {
        s6_addr: ip.octets(),
    }
}

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

/// A TCP connection's state as `TCP_INFO` reports it (a chosen subset of
/// `struct tcp_info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpInfo {
    /// Connection state (`TCP_ESTABLISHED` = 1, `TCP_LISTEN` = 10, ...).
    pub state: u8,
    /// Retransmissions of the current unacknowledged segment.
    pub retransmits: u8,
    /// Keepalive probes sent without answer.
    pub probes: u8,
    /// Smoothed round-trip time.
    pub rtt: Duration,
    /// Round-trip time variance.
    pub rttvar: Duration,
    /// Retransmission timeout.
    pub rto: Duration,
    /// Sender maximum segment size, in bytes.
    pub snd_mss: u32,
    /// Receiver maximum segment size, in bytes.
    pub rcv_mss: u32,
    /// Congestion window, in segments.
    pub snd_cwnd: u32,
    /// Slow-start threshold, in segments.
    pub snd_ssthresh: u32,
    /// Segments sent but not yet acknowledged.
    pub unacked: u32,
    /// Segments thought lost.
    pub lost: u32,
    /// Total retransmitted segments over the connection's life.
    pub total_retrans: u32,
    /// Path MTU.
    pub pmtu: u32,
}

impl TcpInfo {
    /// The state value of an established connection (`TCP_ESTABLISHED`).
    pub const ESTABLISHED: u8 = 1;
    /// The state value of a listening socket (`TCP_LISTEN`).
    pub const LISTEN: u8 = 10;
    /// The state value after the peer's FIN (`TCP_CLOSE_WAIT`).
    pub const CLOSE_WAIT: u8 = 8;
}

/// Socket options, grouped by level and sorted by C name.
impl OwnedSocket {
    // ---- SOL_SOCKET ----

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
        get(self, SO_LINGER).map(decode::linger)
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
        decode::peer_cred(get(self, SO_PEERCRED)?)
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
        get(self, SO_RCVTIMEO).map(decode::timeval)
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
        get(self, SO_SNDTIMEO).map(decode::timeval)
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

    // ---- IPPROTO_IP ----

    /// `setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, {group, interface})` —
    /// join an IPv4 multicast group on the interface that has address
    /// `interface` (name it: `127.0.0.1` for `lo`, never `0.0.0.0`, which
    /// lets the kernel pick by route).
    ///
    /// # Errors
    ///
    /// - `EINVAL`: `group` is not a multicast address.
    /// - `EADDRINUSE`: already a member on that interface.
    /// - `ENODEV`: no interface has that address.
    /// - `ENOBUFS`: too many memberships (`net.ipv4.igmp_max_memberships`).
    #[doc(alias = "IP_ADD_MEMBERSHIP")]
    pub fn join_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        let m = libc::ip_mreqn {
            imr_multiaddr: in_addr(group),
            imr_address: in_addr(interface),
            imr_ifindex: 0,
        };
        set(self, IP_ADD_MEMBERSHIP, m)
    }

    /// `setsockopt(fd, IPPROTO_IP, IP_DROP_MEMBERSHIP, {group, interface})`
    /// — leave a group joined with [`OwnedSocket::join_multicast_v4`].
    ///
    /// # Errors
    ///
    /// - `EADDRNOTAVAIL`: not a member of that group on that interface.
    /// - `EINVAL`: not a multicast address.
    #[doc(alias = "IP_DROP_MEMBERSHIP")]
    pub fn leave_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        let m = libc::ip_mreqn {
            imr_multiaddr: in_addr(group),
            imr_address: in_addr(interface),
            imr_ifindex: 0,
        };
        set(self, IP_DROP_MEMBERSHIP, m)
    }

    /// `getsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF)` — the local address
    /// whose interface sends this socket's multicast.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "IP_MULTICAST_IF")]
    pub fn multicast_if_v4(&self) -> io::Result<Ipv4Addr> {
        get(self, IP_MULTICAST_IF_ADDR).map(|a| Ipv4Addr::from(a.s_addr.to_ne_bytes()))
    }

    /// `setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, {addr})` — send
    /// multicast through the interface that has this address (`127.0.0.1`
    /// keeps it on `lo`).
    ///
    /// # Errors
    ///
    /// - `EADDRNOTAVAIL`: no interface has that address.
    #[doc(alias = "IP_MULTICAST_IF")]
    pub fn set_multicast_if_v4(&self, interface: Ipv4Addr) -> io::Result<()> {
        let m = libc::ip_mreqn {
            imr_multiaddr: in_addr(Ipv4Addr::UNSPECIFIED),
            imr_address: in_addr(interface),
            imr_ifindex: 0,
        };
        set(self, IP_MULTICAST_IF, m)
    }

    /// `getsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP)`.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "IP_MULTICAST_LOOP")]
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        get_bool(self, IP_MULTICAST_LOOP)
    }

    /// `setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP)` — whether this host's
    /// own members receive what the socket sends to a group.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "IP_MULTICAST_LOOP")]
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        set_bool(self, IP_MULTICAST_LOOP, on)
    }

    /// `getsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL)`.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "IP_MULTICAST_TTL")]
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        get(self, IP_MULTICAST_TTL).map(|v| v as u32)
    }

    /// `setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL)` — hops a multicast
    /// datagram may take (0: this host only, 1, the default: this link).
    ///
    /// # Errors
    ///
    /// `EINVAL` above 255; see the [module docs](crate::opt).
    #[doc(alias = "IP_MULTICAST_TTL")]
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        set(self, IP_MULTICAST_TTL, to_int(ttl, "ttl too large")?)
    }

    /// `getsockopt(fd, IPPROTO_IP, IP_TTL)` — the time-to-live of unicast
    /// packets.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "IP_TTL")]
    pub fn ttl(&self) -> io::Result<u32> {
        get(self, IP_TTL).map(|v| v as u32)
    }

    /// `setsockopt(fd, IPPROTO_IP, IP_TTL)`.
    ///
    /// # Errors
    ///
    /// `EINVAL` for 0 or above 255; see the [module docs](crate::opt).
    #[doc(alias = "IP_TTL")]
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        set(self, IP_TTL, to_int(ttl, "ttl too large")?)
    }

    // ---- IPPROTO_IPV6 ----

    /// `setsockopt(fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, {group, ifindex})`
    /// — join an IPv6 multicast group on interface `ifindex` (name one;
    /// 0 lets the kernel pick by route).
    ///
    /// # Errors
    ///
    /// - `EINVAL`: `group` is not a multicast address.
    /// - `EADDRINUSE`: already a member.
    /// - `ENODEV`: no interface with that index.
    #[doc(alias = "IPV6_ADD_MEMBERSHIP")]
    #[doc(alias = "IPV6_JOIN_GROUP")]
    pub fn join_multicast_v6(&self, group: Ipv6Addr, ifindex: u32) -> io::Result<()> {
        set(
            self,
            IPV6_ADD_MEMBERSHIP,
            libc::ipv6_mreq {
                ipv6mr_multiaddr: in6_addr(group),
                ipv6mr_interface: ifindex as _,
            },
        )
    }

    /// `setsockopt(fd, IPPROTO_IPV6, IPV6_DROP_MEMBERSHIP, {group, ifindex})`.
    ///
    /// # Errors
    ///
    /// - `EADDRNOTAVAIL`: not a member of that group there.
    #[doc(alias = "IPV6_DROP_MEMBERSHIP")]
    #[doc(alias = "IPV6_LEAVE_GROUP")]
    pub fn leave_multicast_v6(&self, group: Ipv6Addr, ifindex: u32) -> io::Result<()> {
        set(
            self,
            IPV6_DROP_MEMBERSHIP,
            libc::ipv6_mreq {
                ipv6mr_multiaddr: in6_addr(group),
                ipv6mr_interface: ifindex as _,
            },
        )
    }

    /// `getsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS)`.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "IPV6_MULTICAST_HOPS")]
    pub fn multicast_hops_v6(&self) -> io::Result<u32> {
        get(self, IPV6_MULTICAST_HOPS).map(|v| v as u32)
    }

    /// `setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS)`.
    ///
    /// # Errors
    ///
    /// `EINVAL` above 255; see the [module docs](crate::opt).
    #[doc(alias = "IPV6_MULTICAST_HOPS")]
    pub fn set_multicast_hops_v6(&self, hops: u32) -> io::Result<()> {
        set(self, IPV6_MULTICAST_HOPS, to_int(hops, "hops too large")?)
    }

    /// `getsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF)` — the interface
    /// index for outgoing multicast (0: chosen by route).
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "IPV6_MULTICAST_IF")]
    pub fn multicast_if_v6(&self) -> io::Result<u32> {
        get(self, IPV6_MULTICAST_IF).map(|v| v as u32)
    }

    /// `setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF)`.
    ///
    /// # Errors
    ///
    /// `ENODEV` for an unknown index; see the [module docs](crate::opt).
    #[doc(alias = "IPV6_MULTICAST_IF")]
    pub fn set_multicast_if_v6(&self, ifindex: u32) -> io::Result<()> {
        set(
            self,
            IPV6_MULTICAST_IF,
            to_int(ifindex, "ifindex too large")?,
        )
    }

    /// `getsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP)`.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "IPV6_MULTICAST_LOOP")]
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        get_bool(self, IPV6_MULTICAST_LOOP)
    }

    /// `setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP)`.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "IPV6_MULTICAST_LOOP")]
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        set_bool(self, IPV6_MULTICAST_LOOP, on)
    }

    /// `getsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS)` — the hop limit of
    /// unicast packets.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "IPV6_UNICAST_HOPS")]
    pub fn unicast_hops_v6(&self) -> io::Result<u32> {
        get(self, IPV6_UNICAST_HOPS).map(|v| v as u32)
    }

    /// `setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS)`.
    ///
    /// # Errors
    ///
    /// `EINVAL` above 255; see the [module docs](crate::opt).
    #[doc(alias = "IPV6_UNICAST_HOPS")]
    pub fn set_unicast_hops_v6(&self, hops: u32) -> io::Result<()> {
        set(self, IPV6_UNICAST_HOPS, to_int(hops, "hops too large")?)
    }

    /// `getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY)`.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "IPV6_V6ONLY")]
    pub fn only_v6(&self) -> io::Result<bool> {
        get_bool(self, IPV6_V6ONLY)
    }

    /// `setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY)` — when off (Linux's
    /// default), an IPv6 socket bound to `::` also takes IPv4 traffic as
    /// `::ffff:a.b.c.d`. Set it before `bind`.
    ///
    /// # Errors
    ///
    /// `EINVAL` on a bound socket; see the [module docs](crate::opt).
    #[doc(alias = "IPV6_V6ONLY")]
    pub fn set_only_v6(&self, on: bool) -> io::Result<()> {
        set_bool(self, IPV6_V6ONLY, on)
    }

    // ---- IPPROTO_TCP ----

    /// `getsockopt(fd, IPPROTO_TCP, TCP_INFO)` — the connection's state as
    /// TCP sees it: round-trip time, congestion window, retransmits...
    ///
    /// # Errors
    ///
    /// `EOPNOTSUPP` / `ENOPROTOOPT` on a non-TCP socket; see the
    /// [module docs](crate::opt).
    #[doc(alias = "TCP_INFO")]
    pub fn tcp_info(&self) -> io::Result<TcpInfo> {
        get(self, TCP_INFO).map(|i| decode::tcp_info(&i))
    }

    /// `getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT)` — unanswered keepalive
    /// probes before the connection is dropped.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "TCP_KEEPCNT")]
    pub fn tcp_keepalive_count(&self) -> io::Result<u32> {
        get(self, TCP_KEEPCNT).map(|v| v as u32)
    }

    /// `setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT)`.
    ///
    /// # Errors
    ///
    /// `EINVAL` for 0 or above 127; see the [module docs](crate::opt).
    #[doc(alias = "TCP_KEEPCNT")]
    pub fn set_tcp_keepalive_count(&self, count: u32) -> io::Result<()> {
        set(self, TCP_KEEPCNT, to_int(count, "count too large")?)
    }

    /// `getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE)` — idle time before the
    /// first keepalive probe.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "TCP_KEEPIDLE")]
    pub fn tcp_keepalive_idle(&self) -> io::Result<Duration> {
        get(self, TCP_KEEPIDLE).map(|v| Duration::from_secs(v.max(0) as u64))
    }

    /// `setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE)` — in whole seconds,
    /// rounded up.
    ///
    /// # Errors
    ///
    /// `EINVAL` for zero or above 32767 s; see the [module docs](crate::opt).
    #[doc(alias = "TCP_KEEPIDLE")]
    pub fn set_tcp_keepalive_idle(&self, idle: Duration) -> io::Result<()> {
        set(
            self,
            TCP_KEEPIDLE,
            secs_int(idle, "keepalive idle too long")?,
        )
    }

    /// `getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL)` — time between
    /// keepalive probes.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "TCP_KEEPINTVL")]
    pub fn tcp_keepalive_interval(&self) -> io::Result<Duration> {
        get(self, TCP_KEEPINTVL).map(|v| Duration::from_secs(v.max(0) as u64))
    }

    /// `setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL)` — in whole seconds,
    /// rounded up.
    ///
    /// # Errors
    ///
    /// `EINVAL` for zero or above 32767 s; see the [module docs](crate::opt).
    #[doc(alias = "TCP_KEEPINTVL")]
    pub fn set_tcp_keepalive_interval(&self, interval: Duration) -> io::Result<()> {
        set(
            self,
            TCP_KEEPINTVL,
            secs_int(interval, "keepalive interval too long")?,
        )
    }

    /// `getsockopt(fd, IPPROTO_TCP, TCP_NODELAY)`.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "TCP_NODELAY")]
    pub fn nodelay(&self) -> io::Result<bool> {
        get_bool(self, TCP_NODELAY)
    }

    /// `setsockopt(fd, IPPROTO_TCP, TCP_NODELAY)` — turn off Nagle's
    /// algorithm: small sends go out at once instead of waiting to
    /// coalesce.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "TCP_NODELAY")]
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        set_bool(self, TCP_NODELAY, on)
    }

    /// `getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT)` — how long sent data
    /// may stay unacknowledged before the connection is dropped with
    /// `ETIMEDOUT`; `None`: the system default.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "TCP_USER_TIMEOUT")]
    pub fn tcp_user_timeout(&self) -> io::Result<Option<Duration>> {
        get(self, TCP_USER_TIMEOUT)
            .map(|ms| (ms != 0).then(|| Duration::from_millis(u64::from(ms))))
    }

    /// `setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT)` — in milliseconds,
    /// rounded up; `None` restores the default.
    ///
    /// # Errors
    ///
    /// `InvalidInput` above `i32::MAX` ms; see the [module docs](crate::opt).
    #[doc(alias = "TCP_USER_TIMEOUT")]
    pub fn set_tcp_user_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let ms = match timeout {
            None => 0,
            Some(d) => {
                let ms = d.as_nanos().div_ceil(1_000_000);
                libc::c_uint::try_from(ms)
                    .ok()
                    .filter(|&m| m <= i32::MAX as libc::c_uint)
                    .ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidInput, "user timeout too long")
                    })?
            }
        };
        set(self, TCP_USER_TIMEOUT, ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeval_rounds_up_and_refuses_zero() {
        let tv = timeval_from(Some(Duration::from_nanos(1))).unwrap();
        assert_eq!((tv.tv_sec, tv.tv_usec), (0, 1));
        let tv = timeval_from(Some(Duration::new(1, 999_999_999))).unwrap();
        assert_eq!((tv.tv_sec, tv.tv_usec), (2, 0));
        assert!(timeval_from(Some(Duration::ZERO)).is_err());
        assert_eq!(decode::timeval(timeval_from(None).unwrap()), None);
    }
}
