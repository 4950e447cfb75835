//! Independent decoders for the fuzz targets' oracles, written from the C
//! layouts (libc's structs, read with `read_unaligned`) and the man pages,
//! never from the crate's code: a target compares the crate's answer with
//! these, so a wrong offset, alignment or rule in either shows up as a
//! disagreement. Pure: no syscall, nothing here becomes a live fd or a
//! live address.
#![allow(dead_code)]

use baresock::addr::{Addr, DecodeError};
use baresock::msg::{Cmsg, CmsgError, Credentials, ExtendedError};
use std::ffi::OsStr;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

/// Reads a C struct from the start of `bytes` (zero-padded when shorter).
pub fn read<T: Copy>(bytes: &[u8]) -> T {
    let mut buf = vec![0u8; size_of::<T>()];
    let n = bytes.len().min(buf.len());
    buf[..n].copy_from_slice(&bytes[..n]);
    // SAFETY: T is one of libc's plain C structs of integers (or arrays of
    // them), for which every bit pattern is valid; the buffer holds
    // size_of::<T>() bytes and read_unaligned needs no alignment.
    unsafe { std::ptr::read_unaligned(buf.as_ptr().cast::<T>()) }
}

/// sockaddr decoding by the C structs: `sockaddr_in`, `sockaddr_in6` and
/// `sockaddr_un` read whole, their fields taken by name.
pub fn sockaddr(bytes: &[u8]) -> Result<Addr<'_>, DecodeError> {
    let len = bytes.len();
    if len > size_of::<libc::sockaddr_storage>() {
        return Err(DecodeError::TooLong { len });
    }
    if len < size_of::<libc::sa_family_t>() {
        return Err(DecodeError::TooShortForFamily { len });
    }
    let family: libc::sa_family_t = read::<libc::sockaddr>(bytes).sa_family;
    match i32::from(family) {
        libc::AF_INET => {
            let needed = size_of::<libc::sockaddr_in>();
            if len < needed {
                return Err(DecodeError::TooShort {
                    family,
                    len,
                    needed,
                });
            }
            let s: libc::sockaddr_in = read(bytes);
            Ok(Addr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(s.sin_addr.s_addr)),
                u16::from_be(s.sin_port),
            )))
        }
        libc::AF_INET6 => {
            let needed = size_of::<libc::sockaddr_in6>();
            if len < needed {
                return Err(DecodeError::TooShort {
                    family,
                    len,
                    needed,
                });
            }
            let s: libc::sockaddr_in6 = read(bytes);
            Ok(Addr::V6(SocketAddrV6::new(
                Ipv6Addr::from(s.sin6_addr.s6_addr),
                u16::from_be(s.sin6_port),
                s.sin6_flowinfo,
                s.sin6_scope_id,
            )))
        }
        libc::AF_UNIX => {
            // unix(7): sun_path holds the path; the length may count a NUL
            // or not, and Linux may report a length past sun_path (a full
            // 108-byte path plus its NUL), which adds nothing.
            let start = std::mem::offset_of!(libc::sockaddr_un, sun_path);
            let sun_len = size_of::<libc::sockaddr_un>() - start;
            let path = &bytes[start..len.min(start + sun_len)];
            match path.first() {
                None => Ok(Addr::UnixUnnamed),
                Some(0) => Ok(Addr::UnixAbstract(&path[1..])),
                Some(_) => {
                    let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                    Ok(Addr::UnixPath(Path::new(OsStr::from_bytes(&path[..end]))))
                }
            }
        }
        _ => Ok(Addr::Other {
            family,
            data: &bytes[size_of::<libc::sa_family_t>()..],
        }),
    }
}

/// One control message as the oracle decodes it. `Rights` is apart
/// because the crate's `Fds` cannot be built outside it.
#[derive(Debug, PartialEq, Eq)]
pub enum Want<'a> {
    Rights(Vec<i32>),
    Msg(Cmsg<'a>),
    Err(CmsgError),
}

impl<'a> Want<'a> {
    /// The crate's item in the oracle's terms.
    pub fn from_crate(item: Result<Cmsg<'a>, CmsgError>) -> Want<'a> {
        match item {
            Ok(Cmsg::Rights(fds)) => Want::Rights(fds.iter().collect()),
            Ok(m) => Want::Msg(m),
            Err(e) => Want::Err(e),
        }
    }
}

const HDR: usize = size_of::<libc::cmsghdr>();

/// `CMSG_ALIGN`: up to a multiple of `sizeof(long)` (cmsg(3), the kernel's
/// `include/linux/socket.h`).
fn cmsg_align(n: usize) -> usize {
    n.div_ceil(size_of::<libc::c_long>()) * size_of::<libc::c_long>()
}

/// One record: (offset, level, type, payload).
pub type Frame<'a> = (usize, i32, i32, &'a [u8]);

/// The records of a control buffer, by cmsg(3) framing: a `cmsghdr` read
/// whole, the payload from `CMSG_ALIGN(sizeof cmsghdr)` to `cmsg_len`, the
/// next header at `CMSG_ALIGN(cmsg_len)`. Fewer bytes left than a header:
/// the end. `cmsg_len` below a header or past the end: one error, the end.
pub fn frames(bytes: &[u8]) -> Vec<Result<Frame<'_>, CmsgError>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while bytes.len() - at >= HDR {
        let h: libc::cmsghdr = read(&bytes[at..]);
        // The kernel's struct cmsghdr begins with a size_t cmsg_len (see
        // include/linux/socket.h), which glibc's struct matches; musl's
        // declares a socklen_t and 4 bytes of padding instead, and read
        // through it the high half of the kernel's length is lost. The
        // kernel's field, then, whatever libc declares.
        let len: usize = read(&bytes[at..]);
        let available = bytes.len() - at;
        if len < HDR {
            out.push(Err(CmsgError::BadHeaderLen { at, len }));
            break;
        }
        if len > available {
            out.push(Err(CmsgError::Truncated { at, len, available }));
            break;
        }
        out.push(Ok((
            at,
            h.cmsg_level,
            h.cmsg_type,
            &bytes[at + cmsg_align(HDR)..at + len],
        )));
        at += cmsg_align(len);
        if at > bytes.len() {
            break;
        }
    }
    out
}

/// Every message of a control buffer, decoded from the C structs.
pub fn cmsgs(bytes: &[u8]) -> Vec<Want<'_>> {
    frames(bytes)
        .into_iter()
        .map(|f| match f {
            Err(e) => Want::Err(e),
            Ok((_, level, kind, d)) => cmsg(level, kind, d),
        })
        .collect()
}

fn cmsg(level: i32, kind: i32, d: &[u8]) -> Want<'_> {
    let bad = Want::Err(CmsgError::BadPayload {
        level,
        kind,
        len: d.len(),
    });
    let int = || i32::from_ne_bytes(read::<[u8; 4]>(d));
    let is = |n: usize| d.len() == n;
    match (level, kind) {
        (libc::SOL_SOCKET, libc::SCM_RIGHTS) => {
            if d.len() % 4 != 0 {
                return bad;
            }
            Want::Rights(d.chunks(4).map(|c| i32::from_ne_bytes(read(c))).collect())
        }
        (libc::SOL_SOCKET, libc::SCM_CREDENTIALS) if is(size_of::<libc::ucred>()) => {
            let c: libc::ucred = read(d);
            Want::Msg(Cmsg::Credentials(Credentials {
                pid: c.pid,
                uid: c.uid,
                gid: c.gid,
            }))
        }
        (libc::SOL_SOCKET, libc::SO_TIMESTAMPNS) if is(size_of::<libc::timespec>()) => {
            let t: libc::timespec = read(d);
            if t.tv_sec < 0 || t.tv_nsec < 0 || t.tv_nsec >= 1_000_000_000 {
                return bad;
            }
            Want::Msg(Cmsg::TimestampNs(Duration::new(
                t.tv_sec as u64,
                t.tv_nsec as u32,
            )))
        }
        (libc::IPPROTO_IP, libc::IP_PKTINFO) if is(size_of::<libc::in_pktinfo>()) => {
            let p: libc::in_pktinfo = read(d);
            Want::Msg(Cmsg::PktInfoV4 {
                ifindex: p.ipi_ifindex,
                spec_dst: Ipv4Addr::from(u32::from_be(p.ipi_spec_dst.s_addr)),
                addr: Ipv4Addr::from(u32::from_be(p.ipi_addr.s_addr)),
            })
        }
        (libc::IPPROTO_IP, libc::IP_TTL) if is(4) => Want::Msg(Cmsg::Ttl(int())),
        (libc::IPPROTO_IP, libc::IP_TOS) if is(1) => Want::Msg(Cmsg::Tos(d[0])),
        (libc::IPPROTO_IP, libc::IP_TOS) if is(4) && (0..=255).contains(&int()) => {
            Want::Msg(Cmsg::Tos(int() as u8))
        }
        (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) if is(size_of::<libc::in6_pktinfo>()) => {
            let p: libc::in6_pktinfo = read(d);
            Want::Msg(Cmsg::PktInfoV6 {
                addr: Ipv6Addr::from(p.ipi6_addr.s6_addr),
                ifindex: p.ipi6_ifindex,
            })
        }
        (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) if is(4) => Want::Msg(Cmsg::HopLimit(int())),
        (libc::IPPROTO_IPV6, libc::IPV6_TCLASS) if is(4) => Want::Msg(Cmsg::TrafficClass(int())),
        (libc::SOL_UDP, libc::UDP_GRO) if is(4) => Want::Msg(Cmsg::UdpGro(int())),
        (libc::SOL_UDP, libc::UDP_SEGMENT) if is(2) => {
            Want::Msg(Cmsg::UdpSegment(u16::from_ne_bytes(read(d))))
        }
        (libc::IPPROTO_IP, libc::IP_RECVERR) | (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
            if d.len() >= size_of::<libc::sock_extended_err>() =>
        {
            let e: libc::sock_extended_err = read(d);
            let rest = &d[size_of::<libc::sock_extended_err>()..];
            let rest = &rest[..rest.len().min(size_of::<libc::sockaddr_in6>())];
            let offender = match sockaddr(rest) {
                Ok(Addr::V4(a)) => Some(SocketAddr::V4(a)),
                Ok(Addr::V6(a)) => Some(SocketAddr::V6(a)),
                _ => None,
            };
            Want::Msg(Cmsg::RecvErr(ExtendedError {
                errno: e.ee_errno as i32,
                origin: e.ee_origin,
                kind: e.ee_type,
                code: e.ee_code,
                info: e.ee_info,
                data: e.ee_data,
                offender,
            }))
        }
        (libc::SOL_SOCKET, libc::SCM_CREDENTIALS | libc::SO_TIMESTAMPNS)
        | (libc::IPPROTO_IP, libc::IP_PKTINFO | libc::IP_TTL | libc::IP_TOS | libc::IP_RECVERR)
        | (
            libc::IPPROTO_IPV6,
            libc::IPV6_PKTINFO | libc::IPV6_HOPLIMIT | libc::IPV6_TCLASS | libc::IPV6_RECVERR,
        )
        | (libc::SOL_UDP, libc::UDP_GRO | libc::UDP_SEGMENT) => bad,
        _ => Want::Msg(Cmsg::Other {
            level,
            kind,
            data: d,
        }),
    }
}

/// The byte offsets of every fd slot of the SCM_RIGHTS records, in order,
/// up to the first framing error: what a receive owns in a control buffer.
pub fn fd_slots(bytes: &[u8]) -> Vec<usize> {
    let mut slots = Vec::new();
    for f in frames(bytes) {
        let Ok((at, level, kind, d)) = f else { break };
        if (level, kind) == (libc::SOL_SOCKET, libc::SCM_RIGHTS) {
            let start = at + cmsg_align(HDR);
            slots.extend((0..d.len() / 4).map(|i| start + 4 * i));
        }
    }
    slots
}
