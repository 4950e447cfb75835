//! Fds any backend can watch: [`Waker`], an eventfd that another thread
//! writes to wake a poller.

use super::{Poller, Token};
use crate::sys;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::Arc;

/// `eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)` registered with a poller —
/// wake the poller's thread from any other thread.
///
/// An eventfd is a 64-bit counter in the kernel: `write` adds to it, and it
/// is readable while it is non-zero. [`Waker::wake`] writes 1, so the
/// poller's wait returns with an event for the waker's token. Wakes
/// coalesce: many wakes before a wait give one event.
///
/// The poller shares ownership of the eventfd, so dropping the `Waker`
/// never leaves a closed fd registered; the fd closes when both have let it
/// go (deregister it through [`AsFd`] to make the poller let go).
///
/// Costs: on [`Epoll`](super::Epoll) the eventfd is registered
/// edge-triggered, so a wake is one `write` and nothing else: the counter
/// is never read (it would take 2^64 wakes to fill). On poll and select it
/// is level-triggered, and the wait that reports its token resets it with
/// one `read`. A wait that was not woken costs nothing extra.
///
/// `Send + Sync`: share it in an `Arc` or clone the poller's handle.
pub struct Waker {
    fd: Arc<sys::Fd>,
}

static_assertions::assert_impl_all!(Waker: Send, Sync);

impl Waker {
    /// `eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)`, then register it with
    /// `poller` as `token` — make a waker for this poller.
    ///
    /// # Errors
    ///
    /// - `EMFILE`: the process is at its fd limit (`RLIMIT_NOFILE`);
    ///   `ENFILE`: the system-wide limit.
    /// - Any error of [`Poller::register`] (`InvalidInput` on
    ///   [`Select`](super::Select) if the eventfd's number is at or above
    ///   `FD_SETSIZE`).
    #[doc(alias = "eventfd")]
    #[doc(alias = "eventfd2")]
    pub fn new<P: Poller + ?Sized>(poller: &mut P, token: Token) -> io::Result<Waker> {
        let fd = Arc::new(sys::Fd::new(sys::poll::eventfd()?));
        poller.register_waker(WakerFd(Arc::clone(&fd)), token)?;
        Ok(Waker { fd })
    }

    /// `write(eventfd, &1u64, 8)` — wake the poller.
    ///
    /// The next (or current) wait reports the waker's token. Wakes
    /// coalesce; a wake when the counter is already at its maximum
    /// (`EAGAIN`, after 2^64 - 2 wakes no wait consumed) is a success,
    /// since the poller is woken already.
    ///
    /// # Errors
    ///
    /// None in practice: `EBADF` cannot happen while the `Waker` lives.
    #[doc(alias = "write")]
    pub fn wake(&self) -> io::Result<()> {
        match sys::poll::write(self.fd.as_fd(), &1u64.to_ne_bytes()) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl AsFd for Waker {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl fmt::Debug for Waker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waker")
            .field("eventfd", &self.fd.as_raw_fd())
            .finish()
    }
}

/// A [`Waker`]'s eventfd on its way to [`Poller::register_waker`]: the
/// poller keeps it (shared ownership) for as long as it is registered.
/// Only [`Waker::new`] makes one.
pub struct WakerFd(Arc<sys::Fd>);

impl WakerFd {
    pub(crate) fn into_inner(self) -> Arc<sys::Fd> {
        self.0
    }
}

impl fmt::Debug for WakerFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WakerFd").field(&self.0.as_raw_fd()).finish()
    }
}

/// `read(eventfd, buf, 8)` — reset a waker's counter to zero, as poll and
/// select do in the wait that reports it. A spurious report (`EAGAIN`) is
/// fine: the counter is zero either way.
pub(crate) fn reset(fd: &sys::Fd) {
    let mut buf = [0u8; 8];
    let _ = sys::poll::read(fd.as_fd(), &mut buf);
}
