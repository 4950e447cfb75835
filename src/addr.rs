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
//! An address taken from the kernel (or from [`SockAddr::from_bytes`]) is
//! one you can hand back: for a socket bound to a path of the full 108
//! bytes, Linux reports 111 bytes (it appends a NUL past `sun_path`, see
//! unix(7) BUGS), a length that `connect`, `sendto` and `bind` refuse with
//! `EINVAL`. [`SockAddr`] cuts an `AF_UNIX` length to the 110 bytes of a
//! `sockaddr_un` on the way in, so such an address is the one
//! [`SockAddr::unix`] builds for the same path: equal, with the same hash,
//! and accepted by the kernel. The bytes cut off are past `sun_path` and
//! belong to no name ([`decode`] never reads them).
//!
//! # Printing
//!
//! `Debug` is unambiguous: distinct addresses (by their valid bytes, which
//! is what equality compares) never print alike. `Display` is the short
//! form for people and logs; [`SockAddr`]'s docs give both forms.
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
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::SocketAddr as UnixSocketAddr;
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
/// Size of a `sockaddr_un`: 110 bytes, the most an `AF_UNIX` address may
/// hold when handed to the kernel.
const SUN_LEN: usize = size_of::<libc::sockaddr_un>();
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
/// would. An `AF_UNIX` length past the 110 bytes of a `sockaddr_un` (Linux
/// reports 111 for a path of the full 108 bytes) is cut to 110 when the
/// address comes from the kernel or from [`SockAddr::from_bytes`], so what
/// the kernel hands out can be handed back, and equals what
/// [`SockAddr::unix`] builds for the same path.
///
/// # Printing
///
/// `Debug` names the family and shows everything equality compares, so
/// distinct addresses never print alike: `SockAddr(AF_INET 127.0.0.1:80)`,
/// `SockAddr(AF_INET6 [fe80::1%2]:80)` (with ` flowinfo 0x…` when the flow
/// info is not zero), `SockAddr(AF_UNIX "/run/x.sock")`,
/// `SockAddr(AF_UNIX @"name")`, `SockAddr(AF_UNIX unnamed)`,
/// `SockAddr(family 17, data 0102)`. Names are escaped as in `Display`
/// below, with `"` also escaped. An address whose bytes are not the ones
/// its decoded value encodes to (stale bytes after a path's NUL, a
/// non-zero `sin_zero`, a path without its NUL counted) adds
/// `, non-canonical bytes 0100…` in hex; an address [`decode`] refuses
/// prints `SockAddr(invalid: <reason>, bytes …)`, except the empty
/// address, `SockAddr(none)` (below).
///
/// `Display` is the short form for people and logs:
///
/// - IPv4 and IPv6: std's form, `127.0.0.1:80`, `[::1]:80`,
///   `[fe80::1%2]:80` (the scope id after `%`; like std, without the flow
///   info).
/// - A Unix path: the path as it is, with these escapes: `\\` for a
///   backslash; `\0`, `\t`, `\n`, `\r` and `\u{…}` for control and
///   other non-printable characters (Rust's `char::escape_debug`, quotes
///   left alone); `\xNN` (two lowercase hex digits) for each byte that is
///   not UTF-8. The first byte is also written as `\xNN` when the path
///   would otherwise read as another kind of address: when it starts with
///   `@` or `(`, or reads as an IP socket address (a relative path named
///   `127.0.0.1:80` prints as `\x3127.0.0.1:80`).
/// - An abstract name: `@` and the name, escaped the same way (`@` and
///   `(` inside it are left alone); a NUL byte is `\0`.
/// - The unnamed address: `(unnamed)`.
/// - Another family: `(family 17: 0102)`, the bytes after the family in
///   hex; an address [`decode`] refuses: `(invalid: 0200)`, all its bytes.
/// - The empty address (length 0): `(none)`.
///
/// Two addresses that the constructors build or the kernel returns display
/// alike only when they are equal, or are IPv6 addresses that differ only
/// in flow info. (A non-canonical address from [`SockAddr::from_bytes`]
/// displays as the address it decodes to.)
///
/// # The empty address
///
/// Length 0 is the kernel's "no address": `recvfrom` and `recvmsg` report
/// it on a stream socket (the peer is fixed), and for a datagram from a
/// Unix socket that was never bound (a `socketpair` end, or a client that
/// sends without `bind`; `accept` instead reports such a peer as the
/// unnamed address, the family alone). [`decode`] refuses it
/// (`TooShortForFamily`), and it is not equal to
/// [`SockAddr::unix_unnamed`], since its bytes differ; converting it to
/// std's Unix address gives the unnamed one, as std's own `recv_from`
/// does for the same answer.
///
/// # Converting
///
/// `From<std::net::SocketAddr>` (and its V4, V6 halves) and
/// `From<std::os::unix::net::SocketAddr>` are lossless. The way back is
/// `TryFrom`, which fails with `InvalidInput` for another family. std's
/// Unix type cannot be built for a path of the full 108 bytes (its
/// `from_pathname` wants room for a NUL), so that one conversion fails too;
/// the unnamed address converts (see the `TryFrom` impl for how).
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
    /// bytes are valid, so the length is clamped to them. An `AF_UNIX`
    /// length past a `sockaddr_un` is cut to it ([`normal_len`]).
    pub(crate) fn set_len(&mut self, len: libc::socklen_t) {
        let len = len.min(Self::CAPACITY) as usize;
        self.len = normal_len(&self.storage.0[..len]) as libc::socklen_t;
    }

    /// Builds an address from raw bytes (at most 128), as a fuzzer or a
    /// test would: no check of the content, which [`SockAddr::decode`]
    /// reads back with all its length checks. The one change is the
    /// kernel's own: an `AF_UNIX` address longer than a `sockaddr_un` (110
    /// bytes) is cut to 110, as an address from the kernel is, so that it
    /// can be handed to the kernel (the bytes cut off belong to no name).
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
        a.len = normal_len(bytes) as libc::socklen_t;
        Ok(a)
    }

    /// Builds an address as a receive leaves it: the kernel wrote `bytes`
    /// (at most 128) at the start of the storage and reported `len` as the
    /// address length, which may be larger than what it wrote, or than the
    /// storage when the address was truncated. The length is recorded as
    /// `accept`, `recv_from` and `recv_msg` record theirs (clamped to the
    /// storage); no check of the content. A pure function, for tests and
    /// fuzzers.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `bytes` is longer than `sockaddr_storage`.
    pub fn from_kernel(bytes: &[u8], len: libc::socklen_t) -> io::Result<SockAddr> {
        let mut a = SockAddr::from_bytes(bytes)?;
        a.set_len(len);
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
        Ok(Self::unix_path_bytes(bytes))
    }

    /// The pathname address for `bytes` (cut to 108), without checks.
    fn unix_path_bytes(bytes: &[u8]) -> SockAddr {
        let bytes = &bytes[..bytes.len().min(SUN_PATH_LEN)];
        let mut a = Self::unix_family();
        a.storage.0[SUN_PATH_OFFSET..SUN_PATH_OFFSET + bytes.len()].copy_from_slice(bytes);
        // Count the NUL terminator when it fits, as glibc's SUN_LEN does and
        // as the kernel reports it; a path of the full 108 bytes goes
        // without one (Linux accepts it).
        let nul = usize::from(bytes.len() < SUN_PATH_LEN);
        a.len = (SUN_PATH_OFFSET + bytes.len() + nul) as libc::socklen_t;
        a
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
        Ok(Self::unix_abstract_bytes(name))
    }

    /// The abstract address for `name` (cut to 107 bytes), without checks.
    fn unix_abstract_bytes(name: &[u8]) -> SockAddr {
        let name = &name[..name.len().min(SUN_PATH_LEN - 1)];
        let mut a = Self::unix_family();
        let start = SUN_PATH_OFFSET + 1;
        a.storage.0[start..start + name.len()].copy_from_slice(name);
        a.len = (start + name.len()) as libc::socklen_t;
        a
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

/// The length an address keeps: its own, except that an `AF_UNIX` address
/// is cut to the 110 bytes of a `sockaddr_un`. Linux reports 111 bytes for
/// a socket bound to a path of the full 108 bytes (a NUL past `sun_path`),
/// and refuses that length with `EINVAL` when it is handed back.
fn normal_len(bytes: &[u8]) -> usize {
    let len = bytes.len();
    if len > SUN_LEN && read_u16_ne(bytes, 0) == libc::AF_UNIX as libc::sa_family_t {
        SUN_LEN
    } else {
        len
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

/// Bytes as text for [`SockAddr`]'s `Debug` and `Display`: UTF-8 as is but
/// for `char::escape_debug`'s escapes (quotes left alone, or `"` escaped
/// when `quoted`), `\xNN` for each byte that is not UTF-8, and, with
/// `guard_first`, the first byte as `\xNN` too. Every output reads back to
/// one byte string: a backslash only ever starts an escape.
struct Escaped<'a> {
    bytes: &'a [u8],
    quoted: bool,
    guard_first: bool,
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.bytes;
        if self.guard_first {
            if let Some((&b, tail)) = rest.split_first() {
                write!(f, "\\x{b:02x}")?;
                rest = tail;
            }
        }
        for chunk in rest.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '"' if self.quoted => f.write_str("\\\"")?,
                    '"' | '\'' => write!(f, "{c}")?,
                    _ => write!(f, "{}", c.escape_debug())?,
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// Bytes as lowercase hex, two digits each.
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Whether a path, printed as is, would read as another kind of address
/// in `Display`: an abstract name (`@…`), `(unnamed)` or another `(…)`
/// form, or an IP socket address.
fn path_needs_guard(path: &[u8]) -> bool {
    matches!(path.first(), Some(b'@' | b'('))
        || std::str::from_utf8(path).is_ok_and(|p| p.parse::<SocketAddr>().is_ok())
}

impl SockAddr {
    /// The address the decoded value encodes to, if it decodes: equal to
    /// `self` when `self` is in the form the constructors and the kernel
    /// produce.
    fn canonical(&self) -> Option<SockAddr> {
        match self.decode().ok()? {
            Addr::V4(a) => Some(a.into()),
            Addr::V6(a) => Some(a.into()),
            Addr::UnixPath(p) => Some(SockAddr::unix_path_bytes(p.as_os_str().as_bytes())),
            Addr::UnixAbstract(n) => Some(SockAddr::unix_abstract_bytes(n)),
            Addr::UnixUnnamed => Some(SockAddr::unix_unnamed()),
            Addr::Other { .. } => Some(*self),
        }
    }
}

impl fmt::Debug for SockAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = |bytes| Escaped {
            bytes,
            quoted: true,
            guard_first: false,
        };
        match self.decode() {
            Ok(Addr::V4(a)) => write!(f, "SockAddr(AF_INET {a}")?,
            Ok(Addr::V6(a)) => {
                write!(f, "SockAddr(AF_INET6 {a}")?;
                if a.flowinfo() != 0 {
                    write!(f, " flowinfo {:#x}", a.flowinfo())?;
                }
            }
            Ok(Addr::UnixPath(p)) => write!(
                f,
                "SockAddr(AF_UNIX \"{}\"",
                quoted(p.as_os_str().as_bytes())
            )?,
            Ok(Addr::UnixAbstract(n)) => write!(f, "SockAddr(AF_UNIX @\"{}\"", quoted(n))?,
            Ok(Addr::UnixUnnamed) => write!(f, "SockAddr(AF_UNIX unnamed")?,
            Ok(Addr::Other { family, data }) => {
                write!(f, "SockAddr(family {family}, data {}", Hex(data))?
            }
            // The kernel's "no address" (see the type's docs), not a
            // malformed one.
            Err(_) if self.len == 0 => return f.write_str("SockAddr(none)"),
            Err(e) => {
                return write!(f, "SockAddr(invalid: {e}, bytes {})", Hex(self.as_bytes()));
            }
        }
        if self.canonical().as_ref() != Some(self) {
            write!(f, ", non-canonical bytes {}", Hex(self.as_bytes()))?;
        }
        f.write_str(")")
    }
}

impl fmt::Display for SockAddr {
    /// The short form described in [`SockAddr`]'s docs: std's for IP,
    /// the escaped path, `@name` or `(unnamed)` for Unix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.decode() {
            Ok(Addr::V4(a)) => write!(f, "{a}"),
            Ok(Addr::V6(a)) => write!(f, "{a}"),
            Ok(Addr::UnixPath(p)) => {
                let bytes = p.as_os_str().as_bytes();
                let e = Escaped {
                    bytes,
                    quoted: false,
                    guard_first: path_needs_guard(bytes),
                };
                write!(f, "{e}")
            }
            Ok(Addr::UnixAbstract(n)) => {
                let e = Escaped {
                    bytes: n,
                    quoted: false,
                    guard_first: false,
                };
                write!(f, "@{e}")
            }
            Ok(Addr::UnixUnnamed) => f.write_str("(unnamed)"),
            Ok(Addr::Other { family, data }) => write!(f, "(family {family}: {})", Hex(data)),
            Err(_) if self.len == 0 => f.write_str("(none)"),
            Err(_) => write!(f, "(invalid: {})", Hex(self.as_bytes())),
        }
    }
}

impl From<&UnixSocketAddr> for SockAddr {
    /// The same Unix address: a path, an abstract name or unnamed, byte
    /// for byte (a path of the full 108 bytes included, which std can hold
    /// when the kernel reported it). No syscall.
    fn from(a: &UnixSocketAddr) -> SockAddr {
        if let Some(p) = a.as_pathname() {
            SockAddr::unix_path_bytes(p.as_os_str().as_bytes())
        } else if let Some(n) = a.as_abstract_name() {
            SockAddr::unix_abstract_bytes(n)
        } else {
            SockAddr::unix_unnamed()
        }
    }
}

impl From<UnixSocketAddr> for SockAddr {
    /// As `From<&std::os::unix::net::SocketAddr>`.
    fn from(a: UnixSocketAddr) -> SockAddr {
        SockAddr::from(&a)
    }
}

impl TryFrom<&SockAddr> for UnixSocketAddr {
    type Error = io::Error;

    /// The same Unix address as std's type, built without a syscall: a path
    /// with `SocketAddr::from_pathname`, an abstract name with
    /// `SocketAddrExt::from_abstract_name`. std has no constructor for the
    /// unnamed address; `from_pathname("")` builds it (std's encoder gives
    /// an empty path the length of the family alone, which std reads back
    /// as unnamed), and the result is checked with `is_unnamed`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the address is not a complete `AF_UNIX` one
    /// (the empty address is taken as unnamed, see [`SockAddr`]), or is a
    /// path of the full 108 bytes: std's `from_pathname` refuses a
    /// path with no room for a NUL terminator (std holds such an address
    /// only when the kernel reported it). `Unsupported` if std ever stops
    /// reading an empty path as the unnamed address.
    fn try_from(a: &SockAddr) -> io::Result<UnixSocketAddr> {
        match a.decode() {
            Ok(Addr::UnixPath(p)) => UnixSocketAddr::from_pathname(p),
            Ok(Addr::UnixAbstract(n)) => UnixSocketAddr::from_abstract_name(n),
            // The kernel reports an unbound Unix datagram sender with
            // length 0: the unnamed address, as std reads it too.
            Ok(Addr::UnixUnnamed) | Err(DecodeError::TooShortForFamily { len: 0 }) => {
                let u = UnixSocketAddr::from_pathname("")?;
                if u.is_unnamed() {
                    Ok(u)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        "std cannot build the unnamed Unix address",
                    ))
                }
            }
            _ => Err(invalid("socket address is not a Unix address")),
        }
    }
}

impl TryFrom<SockAddr> for UnixSocketAddr {
    type Error = io::Error;

    /// As `TryFrom<&SockAddr>`.
    ///
    /// # Errors
    ///
    /// As `TryFrom<&SockAddr>`: `InvalidInput` for an address that is not
    /// `AF_UNIX` or a path of the full 108 bytes.
    fn try_from(a: SockAddr) -> io::Result<UnixSocketAddr> {
        UnixSocketAddr::try_from(&a)
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
