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
}
