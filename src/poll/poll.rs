//! The poll(2) backend.

use super::fdmap::FdMap;
use super::{
    Backend, Event, Events, Interest, Poller, Token, WakerFd, already_exists, not_found,
    refuse_epoll_only, source,
};
use crate::sys;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

/// `poll(fds, nfds, timeout)` — the poll(2) backend.
///
/// Keeps an array of `struct pollfd`, one per registration, and hands the
/// whole array to the kernel on each wait; the kernel checks every entry
/// and writes `revents`. Registration, reregistration and deregistration
/// only edit that array: no syscall. Oneshot is emulated: a reported
/// oneshot entry's fd is set negative, which the kernel skips, until
/// [`Poller::reregister`]. Each wait scans `revents` from a start that
/// rotates, so a small [`Events`] starves no ready fd.
///
/// Timeouts are in milliseconds, rounded up. A closed-while-registered fd
/// comes back as `POLLNVAL`: an error event (see the [module
/// docs](super)). Every other contract is on [`Poller`] and the module.
#[doc(alias = "poll")]
#[doc(alias = "pollfd")]
pub struct Poll {
    fds: Vec<libc::pollfd>,
    regs: Vec<Reg>,
    index: FdMap,
    start: usize,
}

struct Reg {
    fd: RawFd,
    token: Token,
    interest: Interest,
    waker: Option<Arc<sys::Fd>>,
}

impl Poll {
    /// An empty poll(2) poller. No syscall.
    pub fn new() -> Poll {
        Poll {
            fds: Vec::new(),
            regs: Vec::new(),
            index: FdMap::default(),
            start: 0,
        }
    }

    fn add(
        &mut self,
        fd: RawFd,
        token: Token,
        interest: Interest,
        waker: Option<Arc<sys::Fd>>,
    ) -> io::Result<()> {
        refuse_epoll_only(Backend::Poll, interest)?;
        if self.index.contains(fd) {
            return Err(already_exists());
        }
        self.index.insert(fd, self.regs.len())?;
        self.fds.push(libc::pollfd {
            fd,
            events: interest.poll_events(),
            revents: 0,
        });
        self.regs.push(Reg {
            fd,
            token,
            interest,
            waker,
        });
        Ok(())
    }
}

impl Default for Poll {
    fn default() -> Poll {
        Poll::new()
    }
}

impl fmt::Debug for Poll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poll")
            .field("registered", &self.regs.len())
            .finish()
    }
}

impl Poller for Poll {
    fn register(&mut self, fd: BorrowedFd<'_>, token: Token, interest: Interest) -> io::Result<()> {
        self.add(fd.as_raw_fd(), token, interest, None)
    }

    fn reregister(
        &mut self,
        fd: BorrowedFd<'_>,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        let i = self.index.get(fd.as_raw_fd()).ok_or_else(not_found)?;
        refuse_epoll_only(Backend::Poll, interest)?;
        let reg = &mut self.regs[i];
        reg.token = token;
        reg.interest = interest;
        // Re-arms a disarmed oneshot entry: the kernel watches it again.
        self.fds[i] = libc::pollfd {
            fd: reg.fd,
            events: interest.poll_events(),
            revents: 0,
        };
        Ok(())
    }

    fn deregister(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let i = self.index.remove(fd.as_raw_fd()).ok_or_else(not_found)?;
        self.fds.swap_remove(i);
        self.regs.swap_remove(i);
        if let Some(moved) = self.regs.get(i) {
            self.index.repoint(moved.fd, i);
        }
        if self.start >= self.regs.len() {
            self.start = 0;
        }
        Ok(())
    }

    fn wait(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        events.clear();
        let mut ready = sys::poll::poll(&mut self.fds, sys::poll::timeout_ms(timeout))?;
        let len = self.fds.len();
        // Scan from the rotating start; stop once every entry the kernel
        // counted has been seen. When `events` fills up, the next wait
        // starts at the first entry not reported.
        for k in 0..len {
            if ready == 0 {
                break;
            }
            let i = (self.start + k) % len;
            let revents = self.fds[i].revents;
            if revents == 0 {
                continue;
            }
            ready -= 1;
            let reg = &self.regs[i];
            let Some(event) = Event::from_poll(reg.token, reg.interest, revents) else {
                // Nothing left after masking: not reported, and a oneshot
                // registration stays armed.
                continue;
            };
            if events.is_full() {
                self.start = i;
                break;
            }
            events.push(event);
            if let Some(w) = &reg.waker {
                source::reset(w);
            }
            if reg.interest.is_oneshot() {
                // Disarm: the kernel skips negative fds.
                self.fds[i].fd = -1;
            }
        }
        Ok(events.len())
    }

    fn backend(&self) -> Backend {
        Backend::Poll
    }

    fn register_waker(&mut self, waker: WakerFd, token: Token) -> io::Result<()> {
        let fd = waker.into_inner();
        self.add(fd.as_raw_fd(), token, Interest::READABLE, Some(fd))
    }
}
