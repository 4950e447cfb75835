//! Options at level `SOL_SOCKET`: socket(7), unix(7) for `SO_PEERCRED`.

use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

use super::{IFNAMSIZ, Int, Opt, get, get_bool, opt, secs_int, set, set_bool, timeval_from};
use crate::bpf::Program;
use crate::{Domain, OwnedSocket, Protocol, Type, sys};

const SO_ACCEPTCONN: Opt<Int> = opt(libc::SOL_SOCKET, libc::SO_ACCEPTCONN);
const SO_BROADCAST: Opt<Int> = opt(libc::SOL_SOCKET, libc::SO_BROADCAST);
const SO_DETACH_FILTER: Opt<Int> = opt(libc::SOL_SOCKET, libc::SO_DETACH_FILTER);
const SO_DETACH_REUSEPORT_BPF: Opt<Int> = opt(libc::SOL_SOCKET, libc::SO_DETACH_REUSEPORT_BPF);
const SO_DOMAIN: Opt<Int> = opt(libc::SOL_SOCKET, libc::SO_DOMAIN);
const SO_ERROR: Opt<Int> = opt(libc::SOL_SOCKET, libc::SO_ERROR);
const SO_INCOMING_CPU: Opt<Int> = opt(libc::SOL_SOCKET, libc::SO_INCOMING_CPU);
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
/// the kernel recorded them when the connection was made.
///
/// For a connected stream socket they are the peer's at `connect(2)` (on
/// the accepting side) or at `listen(2)` (on the connecting side); for a
/// `socketpair(2)` they are the creator's, on both ends. The ids are
/// effective ids, translated into this process's user and pid
/// namespaces.
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
    /// True only after a successful `listen(2)`; false for a bound socket
    /// that has not called it, for either end of a connection, and always
    /// for datagram sockets.
    ///
    /// # Errors
    ///
    /// None on a socket; see the [module docs](crate::opt).
    #[doc(alias = "SO_ACCEPTCONN")]
    pub fn is_listener(&self) -> io::Result<bool> {
        get_bool(self, SO_ACCEPTCONN)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &sock_fprog)` — run
    /// a classic BPF program on every packet this socket receives, and
    /// keep only what it lets through.
    ///
    /// The kernel copies the program and runs it on each incoming packet
    /// before queueing it (for TCP: on each segment, offset 0 being the
    /// TCP header; see [`bpf`](crate::bpf)): a return of 0 drops the
    /// packet, n keeps its first n bytes. It replaces a program already
    /// attached. On a listener it sees the handshakes' segments, and the
    /// sockets it accepts inherit it.
    /// [`Program::drop_new_syns`] is the one a graceful stop needs.
    ///
    /// # Errors
    ///
    /// - `EPERM`: the filter is locked (`SO_LOCK_FILTER` was set).
    /// - `ENOMEM`: the program does not fit the socket's option memory
    ///   (`net.core.optmem_max`, 128 KiB by default). While a filter is
    ///   replaced, the old and the new are both charged: replacing one of
    ///   4,096 instructions with another fails where detaching first
    ///   would not.
    /// - Otherwise see the [module docs](crate::opt). The kernel's
    ///   `EINVAL` for a bad program cannot happen: [`Program::new`]
    ///   checked it.
    ///
    /// # Examples
    ///
    /// ```
    /// use baresock::bpf::Program;
    /// use baresock::{Domain, OwnedSocket, Protocol, SockAddr, Type};
    ///
    /// let l = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT)?;
    /// l.bind(&SockAddr::from(std::net::SocketAddr::from(([127, 0, 0, 1], 0))))?;
    /// l.listen(128)?;
    /// // Stopping: no new handshakes from here on, then drain the queue.
    /// l.attach_filter(&Program::drop_new_syns())?;
    /// // Or not: take new connections again.
    /// l.detach_filter()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "SO_ATTACH_FILTER")]
    pub fn attach_filter(&self, program: &Program) -> io::Result<()> {
        sys::net::setsockopt_filter(self.as_fd(), libc::SO_ATTACH_FILTER, program.instructions())
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &sock_fprog)`
    /// — choose, with a classic BPF program, which socket of this
    /// socket's `SO_REUSEPORT` group gets each new connection or datagram.
    ///
    /// The program belongs to the group, not to this socket: attached
    /// through any member, it serves them all, and replaces the group's
    /// program. It returns an index into the group, in the order its
    /// sockets were bound (the first is 0); an index the group does not
    /// have falls back to the kernel's hash. Attach it before `bind` (with
    /// [`set_reuse_port`](OwnedSocket::set_reuse_port) on) or after.
    /// [`Program::steer_by_cpu`] is the one a daemon with a listener per
    /// CPU needs.
    ///
    /// # Errors
    ///
    /// - `EINVAL`: the socket has no reuseport group: `SO_REUSEPORT` is
    ///   off, or it was off when the socket was bound.
    /// - `ENOMEM`: the program is larger than `net.core.optmem_max` allows.
    /// - Otherwise see the [module docs](crate::opt).
    #[doc(alias = "SO_ATTACH_REUSEPORT_CBPF")]
    pub fn attach_reuseport_cbpf(&self, program: &Program) -> io::Result<()> {
        sys::net::setsockopt_filter(
            self.as_fd(),
            libc::SO_ATTACH_REUSEPORT_CBPF,
            program.instructions(),
        )
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE)` — the name of the
    /// interface the socket is bound to, or `None`.
    ///
    /// # Errors
    ///
    /// None on a socket; see the [module docs](crate::opt).
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

    /// `setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, len)` — send and
    /// receive only through one interface (`b"lo"`); `None` (or an empty
    /// name) unbinds.
    ///
    /// The kernel then delivers to this socket only packets that arrived
    /// on that interface, and routes what it sends out through it.
    ///
    /// # Errors
    ///
    /// - `InvalidInput`: a name of 16 bytes (`IFNAMSIZ`) or more, or one
    ///   holding a NUL, refused before any syscall; the kernel would cut it
    ///   to 15 bytes and bind to whatever interface that names.
    /// - `ENODEV`: no interface of that name (in this network namespace).
    /// - `EPERM`: the socket is already bound to an interface, and changing
    ///   or removing that binding needs `CAP_NET_RAW`. Binding an unbound
    ///   socket needs no privilege since Linux 5.7.
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

    /// `getsockopt(fd, SOL_SOCKET, SO_BROADCAST)` — whether the socket may
    /// send to a broadcast address.
    ///
    /// # Errors
    ///
    /// None on a socket; see the [module docs](crate::opt).
    #[doc(alias = "SO_BROADCAST")]
    pub fn broadcast(&self) -> io::Result<bool> {
        get_bool(self, SO_BROADCAST)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &int)` — allow sending to
    /// a broadcast address.
    ///
    /// Off by default: a datagram to a broadcast address (say
    /// `127.255.255.255`) then fails in `send_to` (and `connect`) with
    /// `EACCES`, so a program cannot flood a network by mistake.
    ///
    /// # Errors
    ///
    /// None on a socket; see the [module docs](crate::opt).
    #[doc(alias = "SO_BROADCAST")]
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        set_bool(self, SO_BROADCAST, on)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &int)` — remove the
    /// socket's BPF filter: every packet is received again.
    ///
    /// # Errors
    ///
    /// - `ENOENT`: no filter is attached.
    /// - `EPERM`: the filter is locked (`SO_LOCK_FILTER` was set).
    /// - Otherwise see the [module docs](crate::opt).
    #[doc(alias = "SO_DETACH_FILTER")]
    pub fn detach_filter(&self) -> io::Result<()> {
        // The kernel ignores the value, but wants an int's worth of it.
        set(self, SO_DETACH_FILTER, 0)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &int)` —
    /// remove the program of this socket's reuseport group: the kernel's
    /// hash chooses the socket again.
    ///
    /// # Errors
    ///
    /// - `ENOENT`: the group has no program (or the socket has
    ///   `SO_REUSEPORT` on but no group yet).
    /// - `EINVAL`: the socket has no reuseport group and `SO_REUSEPORT`
    ///   is off.
    /// - Otherwise see the [module docs](crate::opt).
    #[doc(alias = "SO_DETACH_REUSEPORT_BPF")]
    pub fn detach_reuseport_bpf(&self) -> io::Result<()> {
        set(self, SO_DETACH_REUSEPORT_BPF, 0)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_DOMAIN)` — the socket's address
    /// family (`AF_INET`, `AF_INET6`, `AF_UNIX`...).
    ///
    /// # Errors
    ///
    /// None on a socket; see the [module docs](crate::opt).
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
    /// Reading clears it: a second call returns `Ok(None)`.
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

    /// `getsockopt(fd, SOL_SOCKET, SO_INCOMING_CPU)` — the CPU that
    /// handled this socket's incoming packets, or the CPU it was told to
    /// take connections from; `None`: neither (the kernel's -1).
    ///
    /// On a connected socket the kernel records, as packets arrive, the
    /// CPU whose softirq processed them (a daemon can move the connection
    /// to the worker pinned there). A listener keeps -1 until
    /// [`set_incoming_cpu`](OwnedSocket::set_incoming_cpu) sets it: the
    /// connections it queues do not change it.
    ///
    /// # Errors
    ///
    /// None on a socket; see the [module docs](crate::opt).
    #[doc(alias = "SO_INCOMING_CPU")]
    pub fn incoming_cpu(&self) -> io::Result<Option<u32>> {
        // Any negative value is "none": the kernel stores what it is given.
        get(self, SO_INCOMING_CPU).map(|v| u32::try_from(v).ok())
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_INCOMING_CPU, &int)` — take only the
    /// connections (or datagrams) that arrive on this CPU; `None` (-1)
    /// clears it.
    ///
    /// In an `SO_REUSEPORT` group, the kernel gives an incoming SYN or
    /// datagram to the socket whose CPU matches the CPU handling it, and
    /// spreads by its hash only when none matches; with one listener per
    /// CPU and a worker pinned to each, a connection is accepted on the
    /// CPU that received it. (Linux 4.6 to 6.0 ignored it inside a group,
    /// whose fast selection skipped the CPU match; 6.1 restored it.)
    /// Outside a group it only records the value. The kernel accepts any
    /// number: a CPU that does not exist simply never matches. Set it
    /// before or after `bind`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` above `i32::MAX`, before any syscall; otherwise see
    /// the [module docs](crate::opt).
    #[doc(alias = "SO_INCOMING_CPU")]
    pub fn set_incoming_cpu(&self, cpu: Option<u32>) -> io::Result<()> {
        let v = match cpu {
            None => -1,
            Some(c) => super::to_int(c, "CPU number too large")?,
        };
        set(self, SO_INCOMING_CPU, v)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE)` — whether keepalive
    /// probes are on.
    ///
    /// # Errors
    ///
    /// None on a socket; see the [module docs](crate::opt).
    #[doc(alias = "SO_KEEPALIVE")]
    pub fn keepalive(&self) -> io::Result<bool> {
        get_bool(self, SO_KEEPALIVE)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &int)` — probe an idle
    /// connection so a vanished peer is noticed.
    ///
    /// After the connection has been idle for
    /// [`tcp_keepalive_idle`](OwnedSocket::tcp_keepalive_idle), TCP sends
    /// a probe every [`tcp_keepalive_interval`](OwnedSocket::tcp_keepalive_interval);
    /// after [`tcp_keepalive_count`](OwnedSocket::tcp_keepalive_count)
    /// unanswered probes it drops the connection with `ETIMEDOUT`. Off by
    /// default. (Accepted, and without effect, on Unix sockets.)
    ///
    /// # Errors
    ///
    /// None on a socket; see the [module docs](crate::opt).
    #[doc(alias = "SO_KEEPALIVE")]
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        set_bool(self, SO_KEEPALIVE, on)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_LINGER)` — what `close` does with
    /// unsent data; `None` (the default): close returns at once and the
    /// kernel sends what is queued in the background.
    ///
    /// # Errors
    ///
    /// None on a socket; see the [module docs](crate::opt).
    #[doc(alias = "SO_LINGER")]
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        get(self, SO_LINGER).map(super::decode::linger)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger)` — `Some(d)`: close
    /// blocks up to `d` while queued data is sent; `Some(ZERO)`: close
    /// resets the connection (TCP RST, the peer's next receive fails with
    /// `ECONNRESET`) and discards queued data.
    ///
    /// The kernel counts whole seconds: a fraction is rounded up, so a
    /// short linger never turns into a reset.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for more than `i32::MAX` seconds, before any
    /// syscall; otherwise see the [module docs](crate::opt).
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
    /// Credentials exist on a connected Unix stream or seqpacket socket
    /// (both ends), on both ends of a `socketpair(2)` of any type, and on a
    /// listening Unix socket, which answers with its own credentials as
    /// recorded at `listen(2)` (unix(7)).
    ///
    /// # Errors
    ///
    /// - `ENOTCONN` (`ErrorKind::NotConnected`): the socket has no peer
    ///   credentials: an IP socket, an unconnected or merely bound Unix
    ///   socket, or a Unix datagram socket connected with `connect(2)`.
    ///   The kernel itself reports success there, with pid 0 and uid and
    ///   gid −1 (credentials of nobody); this method turns that answer
    ///   into `ENOTCONN` rather than return a fake peer.
    /// - Otherwise see the [module docs](crate::opt).
    #[doc(alias = "SO_PEERCRED")]
    pub fn peer_cred(&self) -> io::Result<PeerCred> {
        super::decode::peer_cred(get(self, SO_PEERCRED)?)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_PROTOCOL)` — the socket's protocol,
    /// as the kernel chose it: `IPPROTO_TCP` for an IP stream socket made
    /// with protocol 0, `IPPROTO_UDP` for an IP datagram socket, 0 for a
    /// Unix socket.
    ///
    /// # Errors
    ///
    /// None on a socket; see the [module docs](crate::opt).
    #[doc(alias = "SO_PROTOCOL")]
    pub fn protocol(&self) -> io::Result<Protocol> {
        get(self, SO_PROTOCOL).map(Protocol::from)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_RCVBUF)` — the receive buffer size in
    /// bytes, as the kernel accounts it.
    ///
    /// # Platform notes
    ///
    /// Linux doubles the value set, to leave room for its bookkeeping, and
    /// reports the doubled value here: after
    /// `set_recv_buffer_size(10_000)` this returns 20,000.
    ///
    /// # Errors
    ///
    /// None on a socket; see the [module docs](crate::opt).
    #[doc(alias = "SO_RCVBUF")]
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        get(self, SO_RCVBUF).map(|v| v.max(0) as usize)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &int)` — ask for a receive
    /// buffer size.
    ///
    /// The kernel caps the request at `net.core.rmem_max`, doubles it, and
    /// raises it to a small floor (a request of 0 gets the floor, not
    /// zero). Setting it turns off the kernel's automatic tuning of this
    /// socket's buffer.
    ///
    /// # Errors
    ///
    /// `InvalidInput` above `i32::MAX`, before any syscall; otherwise see
    /// the [module docs](crate::opt).
    #[doc(alias = "SO_RCVBUF")]
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        let v = Int::try_from(size)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "buffer size too large"))?;
        set(self, SO_RCVBUF, v)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO)` — how long a blocking
    /// receive waits before `EAGAIN`; `None`: forever.
    ///
    /// The kernel keeps the timeout in scheduler ticks (`HZ` per second),
    /// so the value read back is the one set rounded up to a whole tick
    /// (1 µs reads back as 4 ms at `HZ=250`).
    ///
    /// # Errors
    ///
    /// None on a socket; see the [module docs](crate::opt).
    #[doc(alias = "SO_RCVTIMEO")]
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        get(self, SO_RCVTIMEO).map(super::decode::timeval)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeval)` — bound blocking
    /// receives and `accept`; on expiry they fail with `EAGAIN`
    /// (`ErrorKind::WouldBlock`).
    ///
    /// Rounded up to a microsecond here, then to a tick by the kernel. A
    /// timeout longer than the kernel can count in ticks means "forever",
    /// and [`read_timeout`](OwnedSocket::read_timeout) then reads `None`.
    ///
    /// # Errors
    ///
    /// `InvalidInput`, before any syscall, for `Some(ZERO)` (the kernel
    /// would read it as "no timeout"; pass `None`) and for more seconds
    /// than `time_t` holds; otherwise see the [module docs](crate::opt).
    #[doc(alias = "SO_RCVTIMEO")]
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        set(self, SO_RCVTIMEO, timeval_from(timeout)?)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_REUSEADDR)` — whether local address
    /// reuse is on.
    ///
    /// # Errors
    ///
    /// None on a socket; see the [module docs](crate::opt).
    #[doc(alias = "SO_REUSEADDR")]
    pub fn reuse_address(&self) -> io::Result<bool> {
        get_bool(self, SO_REUSEADDR)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &int)` — let `bind` take
    /// a TCP port whose old connections linger in TIME_WAIT, and let UDP
    /// sockets that all set it share one address and port.
    ///
    /// Set it before `bind`.
    ///
    /// # Errors
    ///
    /// None on a socket; see the [module docs](crate::opt).
    #[doc(alias = "SO_REUSEADDR")]
    pub fn set_reuse_address(&self, on: bool) -> io::Result<()> {
        set_bool(self, SO_REUSEADDR, on)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_REUSEPORT)` — whether port sharing
    /// is on.
    ///
    /// # Errors
    ///
    /// None on a socket; see the [module docs](crate::opt).
    #[doc(alias = "SO_REUSEPORT")]
    pub fn reuse_port(&self) -> io::Result<bool> {
        get_bool(self, SO_REUSEPORT)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &int)` — let several
    /// sockets of the same user bind the same address and port; the kernel
    /// spreads incoming connections or datagrams among them.
    ///
    /// Every socket sharing the port must set it before `bind`.
    ///
    /// # Errors
    ///
    /// - `EOPNOTSUPP`: turning it on for a socket that is not IPv4 or
    ///   IPv6 (a Unix socket); turning it off is accepted.
    /// - Otherwise see the [module docs](crate::opt).
    #[doc(alias = "SO_REUSEPORT")]
    pub fn set_reuse_port(&self, on: bool) -> io::Result<()> {
        set_bool(self, SO_REUSEPORT, on)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_SNDBUF)` — the send buffer size in
    /// bytes (doubled by Linux, as for
    /// [`recv_buffer_size`](OwnedSocket::recv_buffer_size)).
    ///
    /// # Errors
    ///
    /// None on a socket; see the [module docs](crate::opt).
    #[doc(alias = "SO_SNDBUF")]
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        get(self, SO_SNDBUF).map(|v| v.max(0) as usize)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &int)` — ask for a send
    /// buffer size (capped at `net.core.wmem_max`, doubled, raised to a
    /// small floor).
    ///
    /// # Errors
    ///
    /// `InvalidInput` above `i32::MAX`, before any syscall; otherwise see
    /// the [module docs](crate::opt).
    #[doc(alias = "SO_SNDBUF")]
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        let v = Int::try_from(size)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "buffer size too large"))?;
        set(self, SO_SNDBUF, v)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO)` — how long a blocking send
    /// waits before `EAGAIN`; `None`: forever. Rounded up to a tick, as
    /// for [`read_timeout`](OwnedSocket::read_timeout).
    ///
    /// # Errors
    ///
    /// None on a socket; see the [module docs](crate::opt).
    #[doc(alias = "SO_SNDTIMEO")]
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        get(self, SO_SNDTIMEO).map(super::decode::timeval)
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeval)` — bound blocking
    /// sends, which then fail with `EAGAIN` (or return the bytes already
    /// queued), and, on Linux, blocking connects, which then fail with
    /// `EINPROGRESS` while the handshake goes on in the kernel.
    ///
    /// Rounding and "forever" as for
    /// [`set_read_timeout`](OwnedSocket::set_read_timeout).
    ///
    /// # Errors
    ///
    /// `InvalidInput`, before any syscall, for `Some(ZERO)` and for more
    /// seconds than `time_t` holds; otherwise see the
    /// [module docs](crate::opt).
    #[doc(alias = "SO_SNDTIMEO")]
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        set(self, SO_SNDTIMEO, timeval_from(timeout)?)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_TYPE)` — the socket's type
    /// (`SOCK_STREAM`, `SOCK_DGRAM`...), without the `SOCK_NONBLOCK` and
    /// `SOCK_CLOEXEC` flags it was created with.
    ///
    /// # Errors
    ///
    /// None on a socket; see the [module docs](crate::opt).
    #[doc(alias = "SO_TYPE")]
    pub fn r#type(&self) -> io::Result<Type> {
        get(self, SO_TYPE).map(Type::from)
    }
}
