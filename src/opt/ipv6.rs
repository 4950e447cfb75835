//! Options at level `IPPROTO_IPV6`: ipv6(7).

use std::io;
use std::net::Ipv6Addr;

use super::{Int, Opt, get, get_bool, in6_addr, opt, set, set_bool, to_int};
use crate::OwnedSocket;

const IPV6_ADD_MEMBERSHIP: Opt<libc::ipv6_mreq> =
    opt(libc::IPPROTO_IPV6, libc::IPV6_ADD_MEMBERSHIP);
const IPV6_DROP_MEMBERSHIP: Opt<libc::ipv6_mreq> =
    opt(libc::IPPROTO_IPV6, libc::IPV6_DROP_MEMBERSHIP);
const IPV6_MULTICAST_HOPS: Opt<Int> = opt(libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS);
const IPV6_MULTICAST_IF: Opt<Int> = opt(libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF);
const IPV6_MULTICAST_LOOP: Opt<Int> = opt(libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP);
const IPV6_UNICAST_HOPS: Opt<Int> = opt(libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS);
const IPV6_V6ONLY: Opt<Int> = opt(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY);

/// Socket options at level `IPPROTO_IPV6`, sorted by C name.
impl OwnedSocket {
    /// `setsockopt(fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, {group, ifindex})`
    /// — join an IPv6 multicast group on the interface with index
    /// `ifindex`.
    ///
    /// Name the interface (`if_nametoindex`); 0 lets the kernel pick one
    /// by route. The interface then accepts datagrams to `group`, and the
    /// kernel announces the membership with MLD on it (for groups wider
    /// than interface-local scope). The membership ends with
    /// [`leave_multicast_v6`](OwnedSocket::leave_multicast_v6) or when the
    /// socket closes.
    ///
    /// # Errors
    ///
    /// - `EINVAL`: `group` is not a multicast address.
    /// - `EADDRINUSE`: this socket is already a member of `group` on that
    ///   interface (with `ifindex` 0: on any interface).
    /// - `ENODEV`: no interface has that index.
    /// - `EPROTO`: a TCP socket (multicast is for datagrams).
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

    /// `setsockopt(fd, IPPROTO_IPV6, IPV6_DROP_MEMBERSHIP, {group, ifindex})`
    /// — leave a group joined with
    /// [`join_multicast_v6`](OwnedSocket::join_multicast_v6).
    ///
    /// # Errors
    ///
    /// - `EINVAL`: `group` is not a multicast address (unlike IPv4's
    ///   leave, which answers `EADDRNOTAVAIL` for that).
    /// - `EADDRNOTAVAIL`: this socket is not a member of `group` there.
    /// - `EPROTO`: a TCP socket.
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

    /// `getsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS)` — the hop limit
    /// of the socket's multicast datagrams (1 by default).
    ///
    /// # Errors
    ///
    /// None on an IPv6 socket; see the [module docs](crate::opt).
    #[doc(alias = "IPV6_MULTICAST_HOPS")]
    pub fn multicast_hops_v6(&self) -> io::Result<u32> {
        get(self, IPV6_MULTICAST_HOPS).map(|v| v as u32)
    }

    /// `setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &int)` — how many
    /// hops a multicast datagram may take: 1 (the default) keeps it on the
    /// link, more lets multicast routers forward it.
    ///
    /// 0 is accepted, and unlike IPv4's TTL 0 it does not keep the
    /// datagram on the host: Linux drops a hop-limit-0 datagram only when
    /// it loops a copy back to a member on the sending interface
    /// ([`set_multicast_loop_v6`](OwnedSocket::set_multicast_loop_v6) on),
    /// and otherwise sends it on the link, where neighbours receive it.
    ///
    /// # Errors
    ///
    /// - `EINVAL`: above 255.
    /// - `ENOPROTOOPT`: a TCP socket.
    /// - `InvalidInput`: above `i32::MAX`, before any syscall.
    #[doc(alias = "IPV6_MULTICAST_HOPS")]
    pub fn set_multicast_hops_v6(&self, hops: u32) -> io::Result<()> {
        set(self, IPV6_MULTICAST_HOPS, to_int(hops, "hops too large")?)
    }

    /// `getsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF)` — the index of the
    /// interface that sends this socket's multicast (0, the default:
    /// chosen by route).
    ///
    /// # Errors
    ///
    /// None on an IPv6 socket; see the [module docs](crate::opt).
    #[doc(alias = "IPV6_MULTICAST_IF")]
    pub fn multicast_if_v6(&self) -> io::Result<u32> {
        get(self, IPV6_MULTICAST_IF).map(|v| v as u32)
    }

    /// `setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &int)` — send
    /// multicast through the interface with index `ifindex`; 0 returns to
    /// choosing by route.
    ///
    /// # Errors
    ///
    /// - `ENODEV`: no interface has that index.
    /// - `EINVAL`: the socket is bound with
    ///   [`bind_device`](OwnedSocket::bind_device) to another interface.
    /// - `ENOPROTOOPT`: a TCP socket.
    /// - `InvalidInput`: above `i32::MAX`, before any syscall.
    #[doc(alias = "IPV6_MULTICAST_IF")]
    pub fn set_multicast_if_v6(&self, ifindex: u32) -> io::Result<()> {
        set(
            self,
            IPV6_MULTICAST_IF,
            to_int(ifindex, "ifindex too large")?,
        )
    }

    /// `getsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP)` — whether this
    /// host's own members get a copy of what the socket sends to a group
    /// (on by default).
    ///
    /// # Errors
    ///
    /// None on an IPv6 socket; see the [module docs](crate::opt).
    #[doc(alias = "IPV6_MULTICAST_LOOP")]
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        get_bool(self, IPV6_MULTICAST_LOOP)
    }

    /// `setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &int)` — whether
    /// the kernel loops a copy of each multicast datagram back to this
    /// host's members on the sending interface.
    ///
    /// # Errors
    ///
    /// None on an IPv6 socket (TCP accepts it too); see the
    /// [module docs](crate::opt).
    #[doc(alias = "IPV6_MULTICAST_LOOP")]
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        set_bool(self, IPV6_MULTICAST_LOOP, on)
    }

    /// `getsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS)` — the hop limit of
    /// the socket's unicast packets (the route's, or
    /// `net.ipv6.conf.all.hop_limit`, 64, unless set).
    ///
    /// # Errors
    ///
    /// None on an IPv6 socket; see the [module docs](crate::opt).
    #[doc(alias = "IPV6_UNICAST_HOPS")]
    pub fn unicast_hops_v6(&self) -> io::Result<u32> {
        get(self, IPV6_UNICAST_HOPS).map(|v| v as u32)
    }

    /// `setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &int)` — the hop
    /// limit of the socket's unicast packets, IPv6's TTL. Unlike `IP_TTL`,
    /// 0 is accepted.
    ///
    /// # Errors
    ///
    /// - `EINVAL`: above 255.
    /// - `InvalidInput`: above `i32::MAX`, before any syscall.
    #[doc(alias = "IPV6_UNICAST_HOPS")]
    pub fn set_unicast_hops_v6(&self, hops: u32) -> io::Result<()> {
        set(self, IPV6_UNICAST_HOPS, to_int(hops, "hops too large")?)
    }

    /// `getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY)` — whether the socket is
    /// IPv6-only (`net.ipv6.bindv6only`, off, unless set).
    ///
    /// # Errors
    ///
    /// None on an IPv6 socket; see the [module docs](crate::opt).
    #[doc(alias = "IPV6_V6ONLY")]
    pub fn only_v6(&self) -> io::Result<bool> {
        get_bool(self, IPV6_V6ONLY)
    }

    /// `setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &int)` — when off (Linux's
    /// default), an IPv6 socket also speaks IPv4 through IPv4-mapped
    /// addresses (`::ffff:a.b.c.d`): bound to `::` or to a mapped address
    /// it takes IPv4 traffic. When on, it is IPv6 only, and binding it to a
    /// mapped address fails with `EINVAL`.
    ///
    /// # Errors
    ///
    /// - `EINVAL`: the socket is already bound; set it before `bind`.
    /// - Otherwise see the [module docs](crate::opt).
    #[doc(alias = "IPV6_V6ONLY")]
    pub fn set_only_v6(&self, on: bool) -> io::Result<()> {
        set_bool(self, IPV6_V6ONLY, on)
    }
}
