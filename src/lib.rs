#![doc = include_str!("../README.md")]
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

pub mod activation;
pub mod addr;
pub mod bpf;
pub mod cpu;
pub mod msg;
pub mod opt;
pub mod poll;
mod socket;
mod sys;
mod types;

pub use addr::SockAddr;
pub use socket::OwnedSocket;
pub use std::net::Shutdown;
pub use types::{Domain, MsgFlags, Protocol, Type};

#[cfg(any(feature = "stats", feature = "fault-injection"))]
pub use sys::Syscall;
#[cfg(feature = "fault-injection")]
pub use sys::fault;
#[cfg(feature = "stats")]
pub use sys::stats;
#[cfg(feature = "trace")]
pub use sys::trace;
