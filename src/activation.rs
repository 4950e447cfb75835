//! systemd socket activation: adopt the listening sockets a service
//! manager opened for us (`LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`).
//!
//! The manager (systemd, or `systemd-socket-activate` for a test) binds and
//! listens, then starts the daemon with the sockets as fds 3, 4, ... and
//! three environment variables: `LISTEN_PID` (the pid the fds are meant
//! for), `LISTEN_FDS` (how many) and, optionally, `LISTEN_FDNAMES` (one name
//! per fd, separated by `:`). [`listen_fds`] checks all of it and hands back
//! each fd as an [`OwnedSocket`], close-on-exec, with what the kernel says
//! it is (`SO_TYPE`, `SO_DOMAIN`, `SO_ACCEPTCONN`, `getsockname`).
//!
//! # References
//! [sd_listen_fds(3)](https://www.freedesktop.org/software/systemd/man/latest/sd_listen_fds.html),
//! [systemd-socket-activate(1)](https://www.freedesktop.org/software/systemd/man/latest/systemd-socket-activate.html),
//! [sd_listen_fds(3) on man7](https://man7.org/linux/man-pages/man3/sd_listen_fds.3.html),
//! [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html),
//! [getsockopt(2)](https://man7.org/linux/man-pages/man2/getsockopt.2.html),
//! [getsockname(2)](https://man7.org/linux/man-pages/man2/getsockname.2.html)
// Borrowing and adopting the inherited fds 3.. is the unsafe part: the
// activation protocol, LISTEN_PID and a once-only guard make it sound.
#![allow(unsafe_code)]

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Domain, OwnedSocket, SockAddr, Type, sys};

/// The first fd a service manager passes (`SD_LISTEN_FDS_START`).
pub const LISTEN_FDS_START: RawFd = 3;

/// More fds than any manager passes: a `LISTEN_FDS` above it is refused as
/// garbage rather than probed fd by fd.
pub const MAX_LISTEN_FDS: usize = 4096;

static TAKEN: AtomicBool = AtomicBool::new(false);

/// A socket handed over by the service manager.
#[derive(Debug)]
pub struct ActivatedSocket {
    /// The socket, now owned by this process and close-on-exec.
    pub socket: OwnedSocket,
    /// Its name from `LISTEN_FDNAMES` (systemd's `FileDescriptorName=`), or
    /// `"unknown"` when the variable is absent, as systemd does.
    pub name: String,
    /// `SO_TYPE`.
    pub ty: Type,
    /// `SO_DOMAIN`.
    pub domain: Domain,
    /// `SO_ACCEPTCONN`: a listening stream socket.
    pub listening: bool,
    /// `getsockname`.
    pub local_addr: SockAddr,
}

/// What the environment says, parsed but not yet checked against the fds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenEnv<'a> {
    /// How many fds, from `LISTEN_FDS`.
    pub count: usize,
    /// The names from `LISTEN_FDNAMES`, if set.
    pub names: Option<Vec<&'a str>>,
}

/// Why the activation variables were refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvError {
    /// `LISTEN_PID` is not a positive decimal number.
    BadPid(String),
    /// `LISTEN_FDS` is missing while `LISTEN_PID` names us.
    MissingFds,
    /// `LISTEN_FDS` is not a decimal number in `0..=MAX_LISTEN_FDS`.
    BadFds(String),
    /// `LISTEN_FDNAMES` does not hold one name per fd.
    NameCount {
        /// `LISTEN_FDS`.
        fds: usize,
        /// Names found.
        names: usize,
    },
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvError::BadPid(v) => write!(f, "LISTEN_PID={v:?} is not a pid"),
            EnvError::MissingFds => {
                write!(f, "LISTEN_PID names this process but LISTEN_FDS is not set")
            }
            EnvError::BadFds(v) => write!(
                f,
                "LISTEN_FDS={v:?} is not a count of 0 to {MAX_LISTEN_FDS}"
            ),
            EnvError::NameCount { fds, names } => {
                write!(f, "LISTEN_FDNAMES has {names} names for LISTEN_FDS={fds}")
            }
        }
    }
}

impl std::error::Error for EnvError {}

impl From<EnvError> for io::Error {
    fn from(e: EnvError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

fn parse_decimal(s: &str) -> Option<u64> {
    // Plain decimal digits only: no sign, no spaces, no "0x" (an empty
    // string has no digit and fails the parse). Any number of leading
    // zeros, as systemd's parse_pid reads them; a value past u64 fails.
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses the three variables, a pure function (no syscall, no
/// environment access) so tests and fuzzers can drive it.
///
/// `Ok(None)`: not activated for this process (`LISTEN_PID` unset or
/// another process's pid: the variables were inherited, as
/// `sd_listen_fds` treats it).
///
/// # Errors
///
/// [`EnvError`] for a malformed or inconsistent value.
pub fn parse_env<'a>(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    listen_fdnames: Option<&'a str>,
    my_pid: u32,
) -> Result<Option<ListenEnv<'a>>, EnvError> {
    let Some(pid) = listen_pid else {
        return Ok(None);
    };
    let pid = parse_decimal(pid)
        .filter(|&p| p > 0)
        .ok_or_else(|| EnvError::BadPid(pid.to_owned()))?;
    if pid != u64::from(my_pid) {
        return Ok(None);
    }
    let fds = listen_fds.ok_or(EnvError::MissingFds)?;
    let count = parse_decimal(fds)
        .filter(|&n| n <= MAX_LISTEN_FDS as u64)
        .ok_or_else(|| EnvError::BadFds(fds.to_owned()))? as usize;
    let names = listen_fdnames.map(|n| {
        if n.is_empty() {
            Vec::new()
        } else {
            n.split(':').collect::<Vec<_>>()
        }
    });
    if let Some(names) = &names {
        if names.len() != count {
            return Err(EnvError::NameCount {
                fds: count,
                names: names.len(),
            });
        }
    }
    Ok(Some(ListenEnv { count, names }))
}

/// `fcntl(fd, F_GETFD)`, `getsockopt(fd, SOL_SOCKET, SO_TYPE)` and
/// friends, `getsockname`, `fcntl(fd, F_SETFD, FD_CLOEXEC)` for each fd —
/// take the sockets the service manager passed to this process.
///
/// Reads `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES`; if they are
/// meant for this process, checks every fd from 3 on is open
/// (`fcntl(F_GETFD)`) and is a socket (`getsockopt(SO_TYPE)`), reads its
/// domain, listening state and address, sets close-on-exec (the manager
/// passes the fds without it), and adopts it. Returns an empty list when
/// the process was not socket-activated.
///
/// Only the first call adopts the fds: later calls fail with
/// `AlreadyExists`, so no fd gets two owners. The variables stay set;
/// [`unset_env`] clears them.
///
/// # Errors
///
/// - `InvalidData`: malformed or inconsistent variables ([`EnvError`]).
/// - `EBADF`: an fd the variables promise is not open.
/// - `ENOTSOCK`: an fd the variables promise is not a socket.
/// - `AlreadyExists`: the fds were already taken by an earlier call.
///
/// No fd is adopted unless all of them check out and are close-on-exec:
/// on an error no fd is owned or closed (close-on-exec may already be set
/// on some), so a bad environment never leads to closing an fd the process
/// uses for something else, and a retry finds the same fds.
pub fn listen_fds() -> io::Result<Vec<ActivatedSocket>> {
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    let names = std::env::var("LISTEN_FDNAMES").ok();
    let Some(env) = parse_env(
        pid.as_deref(),
        fds.as_deref(),
        names.as_deref(),
        std::process::id(),
    )?
    else {
        return Ok(Vec::new());
    };
    if TAKEN.swap(true, Ordering::AcqRel) {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "socket-activation fds were already taken",
        ));
    }
    let result = adopt_all(&env);
    if result.is_err() {
        // Nothing was adopted: let a fixed environment try again.
        TAKEN.store(false, Ordering::Release);
    }
    result
}

struct Checked {
    ty: Type,
    domain: Domain,
    listening: bool,
    local_addr: SockAddr,
}

fn check(fd: BorrowedFd<'_>) -> io::Result<Checked> {
    let ty = sys::net::getsockopt::<libc::c_int>(fd, libc::SOL_SOCKET, libc::SO_TYPE)?.0;
    let domain = sys::net::getsockopt::<libc::c_int>(fd, libc::SOL_SOCKET, libc::SO_DOMAIN)?.0;
    let listening =
        sys::net::getsockopt::<libc::c_int>(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN)?.0 != 0;
    let local_addr = sys::net::getsockname(fd)?;
    Ok(Checked {
        ty: Type::from(ty),
        domain: Domain::from(domain),
        listening,
        local_addr,
    })
}

fn adopt_all(env: &ListenEnv<'_>) -> io::Result<Vec<ActivatedSocket>> {
    // Check every fd before adopting any.
    let mut checked = Vec::with_capacity(env.count);
    for i in 0..env.count {
        let raw = LISTEN_FDS_START + i as RawFd;
        sys::poll::fcntl_getfd_raw(raw)?;
        // SAFETY: F_GETFD just showed `raw` is open, and nothing in this
        // function closes it while the borrow lives.
        let fd = unsafe { BorrowedFd::borrow_raw(raw) };
        checked.push(check(fd)?);
    }
    // Make each close-on-exec while still only borrowed: if this fails, no
    // fd has an owner yet, so none is closed. (Adopting first and failing
    // would close the fds adopted so far, and the caller's retry would
    // adopt numbers that may by then name other files.)
    for i in 0..env.count {
        let raw = LISTEN_FDS_START + i as RawFd;
        // SAFETY: F_GETFD above showed `raw` is open, and nothing in this
        // function closes it while the borrow lives.
        let fd = unsafe { BorrowedFd::borrow_raw(raw) };
        let flags = sys::net::fcntl_getfd(fd)?;
        sys::net::fcntl_setfd(fd, flags | libc::FD_CLOEXEC)?;
    }
    // Nothing below can fail.
    let mut out = Vec::with_capacity(env.count);
    for (i, c) in checked.into_iter().enumerate() {
        let raw = LISTEN_FDS_START + i as RawFd;
        // SAFETY: LISTEN_PID names this process, so the manager passed fds
        // 3..3+LISTEN_FDS to us and nothing else owns them; each is open and
        // a socket (checked above); the TAKEN guard makes this the only
        // adoption in the process's life.
        let socket = unsafe { OwnedSocket::from_raw_fd(raw) };
        let name = env.names.as_ref().map_or("unknown", |n| n[i]).to_owned();
        out.push(ActivatedSocket {
            socket,
            name,
            ty: c.ty,
            domain: c.domain,
            listening: c.listening,
            local_addr: c.local_addr,
        });
    }
    Ok(out)
}

/// Removes `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` from the
/// environment, so child processes do not think the sockets are theirs.
///
/// # Safety
///
/// Changing the environment is not thread-safe (edition 2024 makes
/// `std::env::remove_var` unsafe): call this while no other thread reads
/// or writes the environment, typically at the top of `main` before any
/// thread starts.
pub unsafe fn unset_env() {
    for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        // SAFETY: the caller guarantees no other thread touches the
        // environment during this call.
        unsafe { std::env::remove_var(var) };
    }
}

impl ActivatedSocket {
    /// The fd, borrowed.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_for_us_is_not_an_error() {
        assert_eq!(parse_env(None, Some("2"), None, 10), Ok(None));
        assert_eq!(parse_env(Some("11"), Some("2"), None, 10), Ok(None));
    }

    #[test]
    fn well_formed() {
        let e = parse_env(Some("10"), Some("2"), Some("tcp:udp"), 10)
            .unwrap()
            .unwrap();
        assert_eq!(
            e,
            ListenEnv {
                count: 2,
                names: Some(vec!["tcp", "udp"])
            }
        );
        let e = parse_env(Some("10"), Some("0"), Some(""), 10)
            .unwrap()
            .unwrap();
        assert_eq!(e.count, 0);
    }

    #[test]
    fn malformed_values_are_errors() {
        for pid in [
            "",
            "0",
            "-1",
            "+10",
            " 10",
            "10 ",
            "0x0a",
            "99999999999999999999",
        ] {
            assert!(
                matches!(
                    parse_env(Some(pid), Some("1"), None, 10),
                    Err(EnvError::BadPid(_))
                ),
                "{pid:?}"
            );
        }
        for n in ["", "-1", "1.0", "4097", "abc", "18446744073709551616"] {
            assert!(
                matches!(
                    parse_env(Some("10"), Some(n), None, 10),
                    Err(EnvError::BadFds(_))
                ),
                "{n:?}"
            );
        }
        assert_eq!(
            parse_env(Some("10"), None, None, 10),
            Err(EnvError::MissingFds)
        );
        assert_eq!(
            parse_env(Some("10"), Some("2"), Some("one"), 10),
            Err(EnvError::NameCount { fds: 2, names: 1 })
        );
        assert_eq!(
            parse_env(Some("10"), Some("1"), Some("a:b"), 10),
            Err(EnvError::NameCount { fds: 1, names: 2 })
        );
    }

    #[test]
    fn leading_zeros_are_decimal_whatever_the_length() {
        // Found by cargo-mutants: a 19-character cap (mutated to 20, or
        // dropped) went unnoticed, and it refused "0...010", which names
        // pid 10 as well as "10" does.
        let zeros = "0".repeat(30);
        assert_eq!(
            parse_env(
                Some(&format!("{zeros}10")),
                Some(&format!("{zeros}2")),
                None,
                10
            ),
            Ok(Some(ListenEnv {
                count: 2,
                names: None
            }))
        );
        // 20 digits, within u64; and one past u64::MAX.
        assert_eq!(
            parse_env(Some("10000000000000000000"), Some("1"), None, 10),
            Ok(None)
        );
        assert!(matches!(
            parse_env(Some("18446744073709551616"), Some("1"), None, 10),
            Err(EnvError::BadPid(_))
        ));
    }
}
