//! `SockAddr`: a socket address as the kernel reads and writes it — a
//! `sockaddr_storage` and its length.
//!
//! IPv4 (`sockaddr_in`), IPv6 (`sockaddr_in6`, with flow info and scope id)
//! and Unix addresses (`sockaddr_un`: a path, an abstract name or unnamed)
//! convert to and from it. Everything here is plain byte work without a
//! syscall and without `unsafe`: the decoder [`decode`] is a pure function
//! over the bytes the kernel returned, so a fuzzer or Miri can drive it.
//!
//! # Decoding rules
//!
//! The kernel hands back a length with every address (`addrlen` of
//! `accept4`, `getsockname`, `recvfrom`...). The decoder never reads past
//! it, and never trusts the family field before the length says the field
//! is there: a length shorter than the family's struct is an error, not a
//! read of stale bytes (the bug class of nix issues 1479, 1680 and 1709).
//!
//! # References
//! [socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html),
//! [ip(7)](https://man7.org/linux/man-pages/man7/ip.7.html),
//! [ipv6(7)](https://man7.org/linux/man-pages/man7/ipv6.7.html),
//! [unix(7)](https://man7.org/linux/man-pages/man7/unix.7.html)

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::mem::{offset_of, size_of};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::Domain;

/// Bytes of a `sockaddr_storage`, with its alignment, owned by safe code.
/// (`sockaddr_storage` is aligned as its `unsigned long`: 8 bytes on 64-bit
/// targets, 4 on 32-bit ones.)
#[derive(Clone, Copy)]
#[cfg_attr(target_pointer_width = "64", repr(C, align(8)))]
#[cfg_attr(target_pointer_width = "32", repr(C, align(4)))]
struct Storage([u8; size_of::<libc::sockaddr_storage>()]);

static_assertions::assert_eq_size!(Storage, libc::sockaddr_storage);
static_assertions::assert_eq_align!(Storage, libc::sockaddr_storage);

const FAMILY_LEN: usize = size_of::<libc::sa_family_t>();
const SUN_PATH_OFFSET: usize = offset_of!(libc::sockaddr_un, sun_path);
/// Size of `sockaddr_un.sun_path` on Linux: 108 bytes.
pub const SUN_PATH_LEN: usize = size_of::<libc::sockaddr_un>() - SUN_PATH_OFFSET;
const SIN_LEN: usize = size_of::<libc::sockaddr_in>();
const SIN6_LEN: usize = size_of::<libc::sockaddr_in6>();

static_assertions::const_assert_eq!(SUN_PATH_OFFSET, 2);
static_assertions::const_assert_eq!(SUN_PATH_LEN, 108);
static_assertions::const_assert_eq!(SIN_LEN, 16);
static_assertions::const_assert_eq!(SIN6_LEN, 28);

/// A socket address: `sockaddr_storage` plus the length that is valid in it.
///
/// Build one from a [`SocketAddr`] (`SockAddr::from`), a Unix path
/// ([`SockAddr::unix`]), an abstract name ([`SockAddr::unix_abstract`]) or
/// as the unnamed Unix address ([`SockAddr::unix_unnamed`]); the kernel
/// fills one in for `accept`, `local_addr`, `peer_addr` and `recv_from`.
/// Read it back with [`SockAddr::as_socket`], [`SockAddr::as_unix_path`],
/// [`SockAddr::as_abstract_name`] or the general [`SockAddr::decode`].
///
/// Equality compares the valid bytes (`len` and content), as the kernel
/// would.
#[derive(Clone, Copy)]
// repr(C) with the storage first: a pointer to a SockAddr is a pointer to
// its sockaddr (sys/msg.rs's batched receive relies on it).
#[repr(C)]
pub struct SockAddr {
    storage: Storage,
    len: libc::socklen_t,
}

/// A socket address decoded by [`decode`], borrowing from its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Addr<'a> {
    /// `AF_INET`: an IPv4 address and port.
    V4(SocketAddrV4),
    /// `AF_INET6`: an IPv6 address, port, flow info and scope id.
    V6(SocketAddrV6),
    /// `AF_UNIX` bound to a filesystem path (without its trailing NUL).
    UnixPath(&'a Path),
    /// `AF_UNIX` in Linux's abstract namespace: the name after the leading
    /// NUL byte (it may itself hold NULs).
    UnixAbstract(&'a [u8]),
    /// `AF_UNIX` with no name: an unbound socket or a `socketpair` end.
    UnixUnnamed,
    /// A family this crate does not decode, with the bytes after the
    /// family field.
    Other {
        /// The `sa_family` value.
        family: libc::sa_family_t,
        /// The bytes after the family field, up to the length.
        data: &'a [u8],
    },
}

/// Why [`decode`] refused a byte string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than a family field: nothing can be said.
    TooShortForFamily {
        /// The length given.
        len: usize,
    },
    /// The family's struct needs more bytes than the length gives.
    TooShort {
        /// The family found.
        family: libc::sa_family_t,
        /// The length given.
        len: usize,
        /// The length the family's struct needs.
        needed: usize,
    },
    /// More bytes than a `sockaddr_storage` holds.
    TooLong {
        /// The length given.
        len: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::TooShortForFamily { len } => {
                write!(
                    f,
                    "socket address of {len} bytes has no room for a family field"
                )
            }
            DecodeError::TooShort {
                family,
                len,
                needed,
            } => {
                write!(
                    f,
                    "socket address of family {family} is {len} bytes long, its struct needs {needed}"
                )
            }
            DecodeError::TooLong { len } => {
                write!(f, "socket address of {len} bytes exceeds sockaddr_storage")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

impl From<DecodeError> for io::Error {
    fn from(e: DecodeError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

fn read_u16_ne(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn read_u32_ne(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Decodes the bytes of a socket address, exactly `bytes.len()` of them, as
/// the kernel returned them (the buffer cut at the returned length).
///
/// A pure function: no syscall, no allocation, no `unsafe`; it reads no
/// byte outside `bytes`.
///
/// # Errors
///
/// - [`DecodeError::TooShortForFamily`]: fewer than 2 bytes.
/// - [`DecodeError::TooShort`]: `AF_INET` shorter than 16 bytes, `AF_INET6`
///   shorter than 28.
/// - [`DecodeError::TooLong`]: more than 128 bytes.
pub fn decode(bytes: &[u8]) -> Result<Addr<'_>, DecodeError> {
    let len = bytes.len();
    if len > size_of::<Storage>() {
        return Err(DecodeError::TooLong { len });
    }
    if len < FAMILY_LEN {
        return Err(DecodeError::TooShortForFamily { len });
    }
    let family = read_u16_ne(bytes, 0);
    match libc::c_int::from(family) {
        libc::AF_INET => {
            if len < SIN_LEN {
                return Err(DecodeError::TooShort {
                    family,
                    len,
                    needed: SIN_LEN,
                });
            }
            let port = u16::from_be_bytes([bytes[2], bytes[3]]);
            let at = offset_of!(libc::sockaddr_in, sin_addr);
            let ip = Ipv4Addr::new(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
            Ok(Addr::V4(SocketAddrV4::new(ip, port)))
        }
        libc::AF_INET6 => {
            if len < SIN6_LEN {
                return Err(DecodeError::TooShort {
                    family,
                    len,
                    needed: SIN6_LEN,
                });
            }
            let port = u16::from_be_bytes([bytes[2], bytes[3]]);
            let flowinfo = read_u32_ne(bytes, offset_of!(libc::sockaddr_in6, sin6_flowinfo));
            let at = offset_of!(libc::sockaddr_in6, sin6_addr);
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&bytes[at..at + 16]);
            let scope_id = read_u32_ne(bytes, offset_of!(libc::sockaddr_in6, sin6_scope_id));
            Ok(Addr::V6(SocketAddrV6::new(
                Ipv6Addr::from(octets),
                port,
                flowinfo,
                scope_id,
            )))
        }
        libc::AF_UNIX => {
            // sun_path is 108 bytes; a longer length (Linux may count a
            // NUL past a full 108-byte path, see unix(7) BUGS) adds nothing.
            let path = &bytes[SUN_PATH_OFFSET..len.min(SUN_PATH_OFFSET + SUN_PATH_LEN)];
            if path.is_empty() {
                Ok(Addr::UnixUnnamed)
            } else if path[0] == 0 {
                Ok(Addr::UnixAbstract(&path[1..]))
            } else {
                // The kernel may or may not count the trailing NUL, and a
                // path of the full 108 bytes has none: stop at the first NUL
                // or at the length, whichever comes first.
                let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                Ok(Addr::UnixPath(Path::new(OsStr::from_bytes(&path[..end]))))
            }
        }
        _ => Ok(Addr::Other {
            family,
            data: &bytes[FAMILY_LEN..],
        }),
    }
}

impl SockAddr {
    /// The capacity of the storage, as the `addrlen` handed to the kernel.
    pub(crate) const CAPACITY: libc::socklen_t = size_of::<Storage>() as libc::socklen_t;

    /// An all-zero address of length 0, for the kernel to fill in.
    pub(crate) const fn empty() -> SockAddr {
        SockAddr {
            storage: Storage([0; size_of::<Storage>()]),
            len: 0,
        }
    }

    /// Pointer for the kernel to read `len()` bytes from.
    pub(crate) fn as_ptr(&self) -> *const libc::sockaddr {
        (&raw const self.storage).cast()
    }

    /// Pointer for the kernel to write up to `CAPACITY` bytes to.
    pub(crate) fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        (&raw mut self.storage).cast()
    }

    /// Records the length the kernel reported. A kernel length larger than
    /// the storage means the address was truncated: only the storage's
    /// bytes are valid, so the length is clamped to them.
    pub(crate) fn set_len(&mut self, len: libc::socklen_t) {
        self.len = len.min(Self::CAPACITY);
    }

    /// Builds an address from raw bytes (at most 128), as a fuzzer or a
    /// test would: no check of the content, which [`SockAddr::decode`]
    /// reads back with all its length checks.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `bytes` is longer than `sockaddr_storage`.
    pub fn from_bytes(bytes: &[u8]) -> io::Result<SockAddr> {
        if bytes.len() > size_of::<Storage>() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "socket address longer than sockaddr_storage",
            ));
        }
        let mut a = SockAddr::empty();
        a.storage.0[..bytes.len()].copy_from_slice(bytes);
        a.len = bytes.len() as libc::socklen_t;
        Ok(a)
    }

    /// A Unix socket address for a filesystem path (`sockaddr_un` with
    /// `sun_path` = the path and a trailing NUL when there is room).
    ///
    /// # Errors
    ///
    /// `InvalidInput`, before any syscall, when the path is empty, holds a
    /// NUL byte, or is longer than `sun_path` (108 bytes).
    pub fn unix(path: impl AsRef<Path>) -> io::Result<SockAddr> {
        let bytes = path.as_ref().as_os_str().as_bytes();
        if bytes.is_empty() {
            return Err(invalid(
                "Unix socket path is empty (use SockAddr::unix_unnamed for no name)",
            ));
        }
        if bytes.contains(&0) {
            return Err(invalid("Unix socket path holds a NUL byte"));
        }
        if bytes.len() > SUN_PATH_LEN {
            return Err(invalid(
                "Unix socket path is longer than sun_path (108 bytes)",
            ));
        }
        let mut a = Self::unix_family();
        a.storage.0[SUN_PATH_OFFSET..SUN_PATH_OFFSET + bytes.len()].copy_from_slice(bytes);
        // Count the NUL terminator when it fits, as glibc's SUN_LEN does; a
        // path of the full 108 bytes goes without one (Linux accepts it).
        let nul = usize::from(bytes.len() < SUN_PATH_LEN);
        a.len = (SUN_PATH_OFFSET + bytes.len() + nul) as libc::socklen_t;
        Ok(a)
    }

    /// A Unix socket address in Linux's abstract namespace: `sun_path[0]` is
    /// NUL and the name follows, with no terminator; the length says where
    /// it ends. The name may hold any bytes, NULs included.
    ///
    /// # Errors
    ///
    /// `InvalidInput`, before any syscall, when the name is longer than 107
    /// bytes.
    pub fn unix_abstract(name: &[u8]) -> io::Result<SockAddr> {
        if name.len() > SUN_PATH_LEN - 1 {
            return Err(invalid(
                "abstract Unix socket name is longer than 107 bytes",
            ));
        }
        let mut a = Self::unix_family();
        let start = SUN_PATH_OFFSET + 1;
        a.storage.0[start..start + name.len()].copy_from_slice(name);
        a.len = (start + name.len()) as libc::socklen_t;
        Ok(a)
    }

    /// The unnamed Unix address: just the family, length 2. Binding it
    /// makes Linux autobind the socket to a fresh abstract name.
    pub fn unix_unnamed() -> SockAddr {
        Self::unix_family()
    }

    fn unix_family() -> SockAddr {
        let mut a = SockAddr::empty();
        a.storage.0[..FAMILY_LEN]
            .copy_from_slice(&(libc::AF_UNIX as libc::sa_family_t).to_ne_bytes());
        a.len = FAMILY_LEN as libc::socklen_t;
        a
    }

    /// The number of valid bytes (`addrlen`).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> libc::socklen_t {
        self.len
    }

    /// The valid bytes of the address, as the kernel reads them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.storage.0[..self.len as usize]
    }

    /// The `sa_family` field, if the length covers it.
    pub fn family(&self) -> Option<libc::sa_family_t> {
        (self.len as usize >= FAMILY_LEN).then(|| read_u16_ne(&self.storage.0, 0))
    }

    /// The address family as a [`Domain`], if the length covers it.
    pub fn domain(&self) -> Option<Domain> {
        self.family().map(|f| Domain::from(libc::c_int::from(f)))
    }

    /// Decodes the valid bytes with [`decode`].
    ///
    /// # Errors
    ///
    /// As [`decode`]: a length too short for the family's struct.
    pub fn decode(&self) -> Result<Addr<'_>, DecodeError> {
        decode(self.as_bytes())
    }

    /// The IP socket address, if this is a complete `AF_INET` or `AF_INET6`
    /// address.
    pub fn as_socket(&self) -> Option<SocketAddr> {
        match self.decode() {
            Ok(Addr::V4(a)) => Some(SocketAddr::V4(a)),
            Ok(Addr::V6(a)) => Some(SocketAddr::V6(a)),
            _ => None,
        }
    }

    /// The IPv4 socket address, if this is a complete `AF_INET` address.
    pub fn as_socket_ipv4(&self) -> Option<SocketAddrV4> {
        match self.decode() {
            Ok(Addr::V4(a)) => Some(a),
            _ => None,
        }
    }

    /// The IPv6 socket address, if this is a complete `AF_INET6` address.
    pub fn as_socket_ipv6(&self) -> Option<SocketAddrV6> {
        match self.decode() {
            Ok(Addr::V6(a)) => Some(a),
            _ => None,
        }
    }

    /// The filesystem path, if this is a Unix address bound to a path.
    pub fn as_unix_path(&self) -> Option<&Path> {
        match self.decode() {
            Ok(Addr::UnixPath(p)) => Some(p),
            _ => None,
        }
    }

    /// The abstract name, if this is a Unix address in the abstract
    /// namespace.
    pub fn as_abstract_name(&self) -> Option<&[u8]> {
        match self.decode() {
            Ok(Addr::UnixAbstract(n)) => Some(n),
            _ => None,
        }
    }

    /// Whether this is the unnamed Unix address (family only).
    pub fn is_unnamed(&self) -> bool {
        matches!(self.decode(), Ok(Addr::UnixUnnamed))
    }
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

impl From<SocketAddrV4> for SockAddr {
    fn from(a: SocketAddrV4) -> SockAddr {
        let mut s = SockAddr::empty();
        let b = &mut s.storage.0;
        b[..2].copy_from_slice(&(libc::AF_INET as libc::sa_family_t).to_ne_bytes());
        b[2..4].copy_from_slice(&a.port().to_be_bytes());
        let at = offset_of!(libc::sockaddr_in, sin_addr);
        b[at..at + 4].copy_from_slice(&a.ip().octets());
        s.len = SIN_LEN as libc::socklen_t;
        s
    }
}

impl From<SocketAddrV6> for SockAddr {
    fn from(a: SocketAddrV6) -> SockAddr {
        let mut s = SockAddr::empty();
        let b = &mut s.storage.0;
        b[..2].copy_from_slice(&(libc::AF_INET6 as libc::sa_family_t).to_ne_bytes());
        b[2..4].copy_from_slice(&a.port().to_be_bytes());
        let at = offset_of!(libc::sockaddr_in6, sin6_flowinfo);
        b[at..at + 4].copy_from_slice(&a.flowinfo().to_ne_bytes());
        let at = offset_of!(libc::sockaddr_in6, sin6_addr);
        b[at..at + 16].copy_from_slice(&a.ip().octets());
        let at = offset_of!(libc::sockaddr_in6, sin6_scope_id);
        b[at..at + 4].copy_from_slice(&a.scope_id().to_ne_bytes());
        s.len = SIN6_LEN as libc::socklen_t;
        s
    }
}

impl From<SocketAddr> for SockAddr {
    fn from(a: SocketAddr) -> SockAddr {
        match a {
            SocketAddr::V4(a) => a.into(),
            SocketAddr::V6(a) => a.into(),
        }
    }
}

impl TryFrom<SockAddr> for SocketAddr {
    type Error = io::Error;

    /// # Errors
    ///
    /// `InvalidInput` when the address is not a complete IPv4 or IPv6 one.
    fn try_from(a: SockAddr) -> io::Result<SocketAddr> {
        a.as_socket()
            .ok_or_else(|| invalid("socket address is not an IPv4 or IPv6 address"))
    }
}

impl TryFrom<&SockAddr> for SocketAddr {
    type Error = io::Error;

    /// # Errors
    ///
    /// `InvalidInput` when the address is not a complete IPv4 or IPv6 one.
    fn try_from(a: &SockAddr) -> io::Result<SocketAddr> {
        a.as_socket()
            .ok_or_else(|| invalid("socket address is not an IPv4 or IPv6 address"))
    }
}

impl PartialEq for SockAddr {
    fn eq(&self, other: &SockAddr) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for SockAddr {}

impl std::hash::Hash for SockAddr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl fmt::Debug for SockAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.decode() {
            Ok(Addr::V4(a)) => write!(f, "SockAddr(AF_INET {a})"),
            Ok(Addr::V6(a)) => write!(f, "SockAddr(AF_INET6 {a})"),
            Ok(Addr::UnixPath(p)) => write!(f, "SockAddr(AF_UNIX {p:?})"),
            Ok(Addr::UnixAbstract(n)) => {
                write!(f, "SockAddr(AF_UNIX @{:?})", String::from_utf8_lossy(n))
            }
            Ok(Addr::UnixUnnamed) => write!(f, "SockAddr(AF_UNIX unnamed)"),
            Ok(Addr::Other { family, data }) => {
                write!(f, "SockAddr(family {family}, {} bytes)", data.len())
            }
            Err(e) => write!(f, "SockAddr(invalid: {e})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_round_trip_matches_libc_layout() {
        let a: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let s = SockAddr::from(a);
        assert_eq!(s.len(), 16);
        assert_eq!(s.as_socket(), Some(a));
        assert_eq!(&s.as_bytes()[2..8], &[0x1f, 0x90, 127, 0, 0, 1]);
    }

    #[test]
    fn v6_keeps_flowinfo_and_scope() {
        let a = SocketAddrV6::new(Ipv6Addr::LOCALHOST, 9, 0x12345, 7);
        let s = SockAddr::from(a);
        assert_eq!(s.as_socket_ipv6(), Some(a));
    }

    #[test]
    fn short_lengths_never_trust_the_family() {
        let full = SockAddr::from("127.0.0.1:1".parse::<SocketAddr>().unwrap());
        for n in 0..16 {
            let r = decode(&full.as_bytes()[..n]);
            assert!(r.is_err(), "{n} bytes decoded as {r:?}");
        }
        let full6 = SockAddr::from("[::1]:1".parse::<SocketAddr>().unwrap());
        for n in 2..28 {
            assert!(matches!(
                decode(&full6.as_bytes()[..n]),
                Err(DecodeError::TooShort { .. })
            ));
        }
    }

    #[test]
    fn unix_lengths_past_sun_path_are_cut_to_it() {
        // Found by the sockaddr_decode fuzz target: a 128-byte AF_UNIX
        // abstract address decoded to a 125-byte name that no sockaddr_un
        // can hold.
        let mut b = [b'n'; 128];
        b[..2].copy_from_slice(&(libc::AF_UNIX as u16).to_ne_bytes());
        b[2] = 0;
        let name = decode(&b).map(|a| match a {
            Addr::UnixAbstract(n) => n.len(),
            other => panic!("{other:?}"),
        });
        assert_eq!(name, Ok(107));
        assert!(SockAddr::unix_abstract(&b[3..110]).is_ok());
    }

    #[test]
    fn unix_path_without_nul_decodes() {
        let mut b = vec![0u8; 2 + 108];
        b[..2].copy_from_slice(&(libc::AF_UNIX as u16).to_ne_bytes());
        b[2..].fill(b'x');
        match decode(&b).unwrap() {
            Addr::UnixPath(p) => assert_eq!(p.as_os_str().len(), 108),
            other => panic!("{other:?}"),
        }
    }
}
