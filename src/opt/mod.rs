//! Typed socket options: `getsockopt(2)` and `setsockopt(2)`.
//!
//! Inside the crate each option is a constant (a private `Opt<T>`) that
//! ties the C level and name to the C value type, so two generic functions
//! are the only place the crate calls getsockopt and setsockopt, and every
//! call site is safe.
//! The public methods on [`OwnedSocket`] turn C values into Rust types
//! (`bool`, `Duration`, `Option<Duration>`...).
//!
//! The methods are grouped by level, each in its own file: `SOL_SOCKET`
//! (socket(7)), `IPPROTO_IP` (ip(7)), `IPPROTO_IPV6` (ipv6(7)) and
//! `IPPROTO_TCP` (tcp(7)). Each getter makes one `getsockopt`, each setter
//! one `setsockopt`; input that cannot be said in the C type (a TTL above
//! `i32::MAX`, a zero timeout that the kernel would read as "none") is
//! refused with `InvalidInput` before any syscall.
//!
//! # Examples
//!
//! ```
//! use baresock::{Domain, OwnedSocket, Protocol, Type};
//! use std::time::Duration;
//!
//! let s = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT)?;
//! s.set_nodelay(true)?;
//! assert!(s.nodelay()?);
//! s.set_recv_buffer_size(10_000)?;
//! assert_eq!(s.recv_buffer_size()?, 20_000); // Linux doubles it
//! s.set_read_timeout(Some(Duration::from_millis(1500)))?;
//! assert_eq!(s.read_timeout()?, Some(Duration::from_millis(1500)));
//! // SO_PEERCRED needs a Unix peer.
//! let e = s.peer_cred().unwrap_err();
//! assert_eq!(e.raw_os_error(), Some(libc::ENOTCONN));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Errors common to every option
//!
//! An option of a level the socket's protocol does not handle is refused,
//! and the errno depends on which layer refuses it (Linux 6):
//!
//! | socket | asked | `getsockopt` | `setsockopt` |
//! |---|---|---|---|
//! | IPv4 (UDP, TCP) | a TCP option on UDP, an IPv6 option | `EOPNOTSUPP` | `ENOPROTOOPT` |
//! | IPv6 UDP | a TCP option | `ENOPROTOOPT` | `ENOPROTOOPT` |
//! | Unix | anything but `SOL_SOCKET` | `EOPNOTSUPP` | `EOPNOTSUPP` |
//!
//! - `ENOPROTOOPT` also comes from an option of the right level that the
//!   protocol does not support (`IPV6_MULTICAST_HOPS` set on TCP).
//! - `EINVAL`: the value is out of the range the kernel accepts; each
//!   setter lists its range.
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
use crate::{OwnedSocket, sys};

#[doc(hidden)]
pub mod decode;
mod ip;
mod ipv6;
mod socket;
mod tcp;

pub use socket::PeerCred;
pub use tcp::{TCP_INFO_MIN_LEN, TcpInfo};

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

/// The interface name length limit for SO_BINDTODEVICE (`IFNAMSIZ`).
const IFNAMSIZ: usize = libc::IFNAMSIZ;

fn get<T: OptVal>(s: &OwnedSocket, o: Opt<T>) -> io::Result<T> {
    sys::net::getsockopt::<T>(s.as_fd(), o.level, o.name).map(|(v, _)| v)
}

/// As [`get`], with the length the kernel wrote: for a struct whose tail
/// a kernel (or an emulator) may leave unwritten.
fn get_with_len<T: OptVal>(s: &OwnedSocket, o: Opt<T>) -> io::Result<(T, libc::socklen_t)> {
    sys::net::getsockopt::<T>(s.as_fd(), o.level, o.name)
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
    // Checked: Duration::MAX rounded up does not fit a u64, and a wrapped
    // 0 would be a linger of zero (close resets the connection).
    d.as_secs()
        .checked_add(u64::from(d.subsec_nanos() > 0))
        .and_then(|secs| Int::try_from(secs).ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, what))
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
            // Checked: Duration::MAX rounds up past u64::MAX, and a wrapped
            // {0, 0} would mean "no timeout".
            let too_large = || io::Error::new(io::ErrorKind::InvalidInput, "timeout too large");
            let usec = d.subsec_nanos().div_ceil(1000);
            let (sec, usec) = if usec == 1_000_000 {
                (d.as_secs().checked_add(1).ok_or_else(too_large)?, 0)
            } else {
                (d.as_secs(), usec)
            };
            // The field types are libc's time_t and suseconds_t, named
            // through the struct (libc deprecates the aliases on musl,
            // where their width is due to change).
            let mut tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            };
            tv.tv_sec = sec.try_into().map_err(|_| too_large())?;
            // usec < 1_000_000 fits every suseconds_t.
            tv.tv_usec = usec as _;
            Ok(tv)
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
        // Rounding Duration::MAX up must not wrap to {0, 0}.
        assert!(timeval_from(Some(Duration::MAX)).is_err());
        // The largest time_t (a long: 32 or 64 bits), and one microsecond
        // (rounded up) past it.
        let max = libc::c_long::MAX;
        let tv = timeval_from(Some(Duration::new(max as u64, 999_999_000))).unwrap();
        assert_eq!((tv.tv_sec, tv.tv_usec), (max, 999_999));
        let e = timeval_from(Some(Duration::new(max as u64, 999_999_001))).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn secs_int_rounds_up_and_never_wraps() {
        assert_eq!(secs_int(Duration::from_nanos(1), "").unwrap(), 1);
        assert_eq!(secs_int(Duration::from_millis(1500), "").unwrap(), 2);
        assert_eq!(secs_int(Duration::from_secs(3), "").unwrap(), 3);
        // Duration::MAX rounded up does not fit: refused, not wrapped to 0
        // (a zero linger resets the connection on close).
        assert!(secs_int(Duration::MAX, "").is_err());
        assert!(secs_int(Duration::from_secs(i32::MAX as u64 + 1), "").is_err());
        assert_eq!(
            secs_int(Duration::from_secs(i32::MAX as u64), "").unwrap(),
            i32::MAX
        );
    }
}
