//! The C integers of the socket API as Rust newtypes: [`Domain`] (`AF_*`),
//! [`Type`] (`SOCK_*`), [`Protocol`] (`IPPROTO_*`) and [`MsgFlags`]
//! (`MSG_*`). `Debug` prints the C name, or the number for a value this
//! crate does not name.

use std::fmt;

/// The last path segment of a stringified constant path (`libc::AF_INET`).
fn c_ident(path: &'static str) -> &'static str {
    path.rsplit("::").next().unwrap_or(path).trim()
}

macro_rules! c_int_newtype {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$cmeta:meta])* $cname:ident = $cval:path ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(pub(crate) libc::c_int);

        impl $name {
            $( $(#[$cmeta])* pub const $cname: $name = $name($cval); )*

            /// The C name of a known value.
            pub fn c_name(self) -> Option<&'static str> {
                match self.0 {
                    $( $cval => Some(c_ident(stringify!($cval))), )*
                    _ => None,
                }
            }
        }

        impl From<libc::c_int> for $name {
            fn from(v: libc::c_int) -> $name {
                $name(v)
            }
        }

        impl From<$name> for libc::c_int {
            fn from(v: $name) -> libc::c_int {
                v.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.c_name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}", self.0),
                }
            }
        }
    };
}

c_int_newtype! {
    /// An address family, socket(2)'s first argument (`AF_*`).
    Domain {
        /// `AF_INET`: IPv4.
        IPV4 = libc::AF_INET,
        /// `AF_INET6`: IPv6.
        IPV6 = libc::AF_INET6,
        /// `AF_UNIX`: local sockets named by a path or an abstract name.
        UNIX = libc::AF_UNIX,
        /// `AF_PACKET`: raw link-layer packets (needs CAP_NET_RAW).
        PACKET = libc::AF_PACKET,
        /// `AF_NETLINK`: talking to the kernel.
        NETLINK = libc::AF_NETLINK,
    }
}

c_int_newtype! {
    /// A socket type, socket(2)'s second argument (`SOCK_*`).
    Type {
        /// `SOCK_STREAM`: a reliable, ordered byte stream (TCP, Unix stream).
        STREAM = libc::SOCK_STREAM,
        /// `SOCK_DGRAM`: datagrams with boundaries, unreliable over IP (UDP).
        DGRAM = libc::SOCK_DGRAM,
        /// `SOCK_SEQPACKET`: reliable datagrams with boundaries (Unix, SCTP).
        SEQPACKET = libc::SOCK_SEQPACKET,
        /// `SOCK_RAW`: raw network protocol access (needs CAP_NET_RAW).
        RAW = libc::SOCK_RAW,
    }
}

c_int_newtype! {
    /// A protocol, socket(2)'s third argument (`IPPROTO_*`); 0 picks the
    /// default for the domain and type.
    Protocol {
        /// `IPPROTO_TCP`.
        TCP = libc::IPPROTO_TCP,
        /// `IPPROTO_UDP`.
        UDP = libc::IPPROTO_UDP,
        /// `IPPROTO_ICMP`.
        ICMPV4 = libc::IPPROTO_ICMP,
        /// `IPPROTO_ICMPV6`.
        ICMPV6 = libc::IPPROTO_ICMPV6,
    }
}

impl Protocol {
    /// 0: let the kernel choose the protocol for the domain and type
    /// (strace prints it as `IPPROTO_IP` for IP sockets).
    pub const DEFAULT: Protocol = Protocol(0);
}

c_int_newtype! {
    /// Flags of a send or receive call (`MSG_*`), combined with `|`.
    MsgFlags {
        /// `MSG_OOB`: send or receive out-of-band (urgent) data.
        OOB = libc::MSG_OOB,
        /// `MSG_PEEK`: receive without removing the data from the queue.
        PEEK = libc::MSG_PEEK,
        /// `MSG_DONTWAIT`: this call alone is nonblocking.
        DONTWAIT = libc::MSG_DONTWAIT,
        /// `MSG_WAITALL`: block until the whole buffer is filled (streams).
        WAITALL = libc::MSG_WAITALL,
        /// `MSG_TRUNC`: on receive, the returned count is not the bytes
        /// written: on a datagram socket it is the datagram's real length
        /// even when it exceeded the buffer (only the part that fits is
        /// written); on TCP the kernel discards up to the buffer's length
        /// without writing it and returns that count; a Unix stream
        /// ignores the flag. Out (in the flags the kernel returns): the
        /// datagram was truncated.
        TRUNC = libc::MSG_TRUNC,
        /// `MSG_CTRUNC` (out): control data was truncated.
        CTRUNC = libc::MSG_CTRUNC,
        /// `MSG_ERRQUEUE`: receive from the socket's error queue.
        ERRQUEUE = libc::MSG_ERRQUEUE,
        /// `MSG_MORE`: more data follows; the kernel may hold this send.
        MORE = libc::MSG_MORE,
        /// `MSG_DONTROUTE`: send only to directly connected hosts.
        DONTROUTE = libc::MSG_DONTROUTE,
        /// `MSG_EOR` (out): end of record on a SOCK_SEQPACKET socket.
        EOR = libc::MSG_EOR,
        /// `MSG_WAITFORONE` (recvmmsg): block for the first datagram only,
        /// then take what is queued without waiting.
        WAITFORONE = libc::MSG_WAITFORONE,
    }
}

impl MsgFlags {
    /// No flags.
    pub const NONE: MsgFlags = MsgFlags(0);

    /// Whether every flag of `other` is set in `self`.
    pub fn contains(self, other: MsgFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The raw `c_int`.
    pub fn bits(self) -> libc::c_int {
        self.0
    }
}

impl std::ops::BitOr for MsgFlags {
    type Output = MsgFlags;
    fn bitor(self, rhs: MsgFlags) -> MsgFlags {
        MsgFlags(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for MsgFlags {
    fn bitor_assign(&mut self, rhs: MsgFlags) {
        self.0 |= rhs.0;
    }
}
