#![doc = include_str!("../README.md")]
//!
//! # Policies
//!
//! Stated once here; every function follows them.
//!
//! - **One syscall per call.** Each public method makes the syscall named
//!   in the first line of its docs, through `src/sys/`, the one module that
//!   calls libc. The few helpers that make more (`connect_timeout`,
//!   `set_nonblocking`) say so.
//! - **EINTR.** A wrapper returns `ErrorKind::Interrupted` exactly as the
//!   kernel did and lets the caller decide: a daemon's signal handling
//!   depends on seeing it. Two documented exceptions: `close` is never
//!   retried (on Linux the fd is released even when close reports EINTR, and
//!   a retry could close another thread's new fd), and
//!   [`OwnedSocket::connect_timeout`] retries its internal wait with the
//!   time that is left. A blocking `connect` interrupted by a signal carries
//!   on in the kernel; wait for writability and read
//!   [`OwnedSocket::take_error`] to learn how it ended.
//! - **SIGPIPE.** Every send passes `MSG_NOSIGNAL`, and vectored sends go
//!   through `sendmsg`, never `writev`: writing to a closed peer returns
//!   `EPIPE`, it never kills the process, whatever its SIGPIPE disposition.
//! - **CLOEXEC.** Every fd the crate makes is close-on-exec from the
//!   syscall that creates it (`SOCK_CLOEXEC`, `accept4`, `F_DUPFD_CLOEXEC`),
//!   so a concurrent fork+exec never inherits it.
//! - **Nonblocking.** Sockets are blocking unless made otherwise;
//!   `new_nonblocking`, `pair_nonblocking` and `accept_nonblocking` set
//!   `SOCK_NONBLOCK` in the same syscall, never with a later `fcntl`.
//! - **Ownership.** [`OwnedSocket`] owns one fd and closes it exactly once,
//!   on drop or through [`OwnedSocket::close`]. Conversions to and from
//!   `OwnedFd` and std's socket types make no syscall.
//! - **Errors.** Every error is a `std::io::Error` built from errno, so
//!   `raw_os_error()` gives the errno back. Bad input from the caller (an
//!   over-long Unix path, a zero timeout) is `InvalidInput` before any
//!   syscall, never a panic.
#![deny(missing_docs, missing_debug_implementations)]
#![cfg_attr(test, deny(warnings))]
#![doc(test(attr(deny(warnings))))]

// Linux is the platform this crate builds, tests and promises; build.rs
// names the capabilities the code relies on.
#[cfg(not(all(
    baresock_epoll,
    baresock_accept4,
    baresock_sock_flags,
    baresock_msg_nosignal,
    baresock_abstract_unix
)))]
compile_error!(
    "baresock needs Linux: epoll, accept4, SOCK_CLOEXEC, MSG_NOSIGNAL and abstract Unix sockets"
);

pub mod addr;
pub mod opt;
pub mod poll;
mod socket;
mod sys;
mod types;

pub use addr::SockAddr;
pub use socket::OwnedSocket;
pub use std::net::Shutdown;
pub use types::{Domain, MsgFlags, Protocol, Type};

#[cfg(feature = "stats")]
pub use sys::{Syscall, stats};
