//! Options at level `IPPROTO_IP`: ip(7).

use std::io;
use std::net::Ipv4Addr;

use super::{Int, Opt, get, get_bool, in_addr, opt, set, set_bool, to_int};
use crate::OwnedSocket;

const IP_ADD_MEMBERSHIP: Opt<libc::ip_mreqn> = opt(libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP);
const IP_DROP_MEMBERSHIP: Opt<libc::ip_mreqn> = opt(libc::IPPROTO_IP, libc::IP_DROP_MEMBERSHIP);
const IP_MULTICAST_IF: Opt<libc::ip_mreqn> = opt(libc::IPPROTO_IP, libc::IP_MULTICAST_IF);
const IP_MULTICAST_IF_ADDR: Opt<libc::in_addr> = opt(libc::IPPROTO_IP, libc::IP_MULTICAST_IF);
const IP_MULTICAST_LOOP: Opt<Int> = opt(libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP);
const IP_MULTICAST_TTL: Opt<Int> = opt(libc::IPPROTO_IP, libc::IP_MULTICAST_TTL);
const IP_TTL: Opt<Int> = opt(libc::IPPROTO_IP, libc::IP_TTL);

/// Socket options at level `IPPROTO_IP`, sorted by C name.
///
/// # Multicast on `lo`
///
/// The loopback device is usually not flagged `MULTICAST`, yet IPv4
/// multicast works over it when the interface is named (`127.0.0.1` for
/// the join and for [`set_multicast_if_v4`](OwnedSocket::set_multicast_if_v4)):
/// the kernel routes the datagram out through `lo`, and like any packet
/// sent to `lo` it comes straight back in and reaches the members. Two
/// consequences, with or without the flag: neither
/// `IP_MULTICAST_LOOP` off nor a TTL of 0 stops local members on `lo`
/// from receiving it. On a real interface (a veth pair in the tests) loop
/// off keeps the datagram from this host's own members, and TTL 0 keeps it
/// from leaving the host.
impl OwnedSocket {
    /// `setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, {group, interface})` —
    /// join an IPv4 multicast group on the interface that has address
    /// `interface`.
    ///
    /// Name the interface (`127.0.0.1` for `lo`); `0.0.0.0` lets the kernel
    /// pick one by route. From then on the interface accepts datagrams to
    /// `group`, and the kernel announces the membership with IGMP on that
    /// interface. The membership ends with
    /// [`leave_multicast_v4`](OwnedSocket::leave_multicast_v4) or when the
    /// socket closes. Note Linux's `IP_MULTICAST_ALL` (on by default): a
    /// socket bound to the group's port receives the group's datagrams
    /// once any socket has joined it on the interface.
    ///
    /// # Errors
    ///
    /// - `EINVAL`: `group` is not a multicast address.
    /// - `EADDRINUSE`: this socket is already a member on that interface.
    /// - `ENODEV`: no interface has the address `interface`.
    /// - `ENOBUFS`: this socket already holds
    ///   `net.ipv4.igmp_max_memberships` memberships (20 by default).
    /// - `EPROTO`: a TCP socket (multicast is for datagrams).
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
    /// — leave a group joined with
    /// [`join_multicast_v4`](OwnedSocket::join_multicast_v4).
    ///
    /// The interface stays in the group while another socket of the host
    /// is a member; when the last one leaves, the kernel reports it with
    /// IGMP and stops accepting the group's datagrams.
    ///
    /// # Errors
    ///
    /// - `EADDRNOTAVAIL`: this socket is not a member of `group` on that
    ///   interface. That includes a `group` that is not a multicast
    ///   address at all, and an `interface` no interface has: unlike the
    ///   join, the leave only looks the pair up.
    /// - `EPROTO`: a TCP socket.
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
    /// whose interface sends this socket's multicast; `0.0.0.0` (the
    /// default): chosen by route.
    ///
    /// # Errors
    ///
    /// None on an IPv4 socket; see the [module docs](crate::opt).
    #[doc(alias = "IP_MULTICAST_IF")]
    pub fn multicast_if_v4(&self) -> io::Result<Ipv4Addr> {
        get(self, IP_MULTICAST_IF_ADDR).map(|a| Ipv4Addr::from(a.s_addr.to_ne_bytes()))
    }

    /// `setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, {interface})` — send
    /// multicast through the interface that has address `interface`
    /// (`127.0.0.1` keeps it on `lo`); `0.0.0.0` returns to choosing by
    /// route.
    ///
    /// # Errors
    ///
    /// - `EADDRNOTAVAIL`: no interface has that address.
    /// - `EINVAL`: a TCP socket, or a socket bound with
    ///   [`bind_device`](OwnedSocket::bind_device) to another interface.
    #[doc(alias = "IP_MULTICAST_IF")]
    pub fn set_multicast_if_v4(&self, interface: Ipv4Addr) -> io::Result<()> {
        let m = libc::ip_mreqn {
            imr_multiaddr: in_addr(Ipv4Addr::UNSPECIFIED),
            imr_address: in_addr(interface),
            imr_ifindex: 0,
        };
        set(self, IP_MULTICAST_IF, m)
    }

    /// `getsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP)` — whether this
    /// host's own members get a copy of what the socket sends to a group
    /// (on by default).
    ///
    /// # Errors
    ///
    /// None on an IPv4 socket; see the [module docs](crate::opt).
    #[doc(alias = "IP_MULTICAST_LOOP")]
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        get_bool(self, IP_MULTICAST_LOOP)
    }

    /// `setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &int)` — whether the
    /// kernel loops a copy of each multicast datagram back to this host's
    /// members on the sending interface.
    ///
    /// On `lo` it changes nothing: see the note on
    /// [multicast on `lo`](#multicast-on-lo).
    ///
    /// # Errors
    ///
    /// None on an IPv4 socket; see the [module docs](crate::opt).
    #[doc(alias = "IP_MULTICAST_LOOP")]
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        set_bool(self, IP_MULTICAST_LOOP, on)
    }

    /// `getsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL)` — the TTL of the
    /// socket's multicast datagrams (1 by default).
    ///
    /// # Errors
    ///
    /// None on an IPv4 socket; see the [module docs](crate::opt).
    #[doc(alias = "IP_MULTICAST_TTL")]
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        get(self, IP_MULTICAST_TTL).map(|v| v as u32)
    }

    /// `setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &int)` — how many hops
    /// a multicast datagram may take: 0 keeps it on this host, 1 (the
    /// default) on the local link, more lets multicast routers forward it.
    ///
    /// # Errors
    ///
    /// - `EINVAL`: above 255, or a TCP socket.
    /// - `InvalidInput`: above `i32::MAX`, before any syscall.
    #[doc(alias = "IP_MULTICAST_TTL")]
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        set(self, IP_MULTICAST_TTL, to_int(ttl, "ttl too large")?)
    }

    /// `getsockopt(fd, IPPROTO_IP, IP_TTL)` — the time-to-live of the
    /// socket's unicast packets (`net.ipv4.ip_default_ttl`, 64, unless
    /// set).
    ///
    /// # Errors
    ///
    /// None on an IPv4 socket; see the [module docs](crate::opt).
    #[doc(alias = "IP_TTL")]
    pub fn ttl(&self) -> io::Result<u32> {
        get(self, IP_TTL).map(|v| v as u32)
    }

    /// `setsockopt(fd, IPPROTO_IP, IP_TTL, &int)` — the time-to-live of the
    /// socket's unicast packets: each router decrements it and drops the
    /// packet at zero.
    ///
    /// # Errors
    ///
    /// - `EINVAL`: 0 or above 255.
    /// - `InvalidInput`: above `i32::MAX`, before any syscall.
    #[doc(alias = "IP_TTL")]
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        set(self, IP_TTL, to_int(ttl, "ttl too large")?)
    }
}
