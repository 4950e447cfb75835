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
impl OwnedSocket {
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
}
