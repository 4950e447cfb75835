//! The epoll(7) backend.

use super::fdmap::FdMap;
use super::{Backend, Event, Events, Interest, Poller, Token, WakerFd, not_found};
use crate::sys;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

/// `epoll_create1(EPOLL_CLOEXEC)`, `epoll_ctl`, `epoll_wait` — the
/// epoll(7) backend.
///
/// The kernel keeps the interest list: each registration is one
/// `epoll_ctl`, and a wait costs the same whatever the number of
/// registrations, since the kernel queues fds as they become ready. Its
/// ready list rotates by itself (an fd reported in level mode goes to the
/// back), so a small [`Events`] starves nobody. Oneshot is native
/// (`EPOLLONESHOT`) and so is edge mode (`EPOLLET`), the only backend that
/// has it, and so are exclusive wake-ups (`EPOLLEXCLUSIVE`,
/// [`Interest::exclusive`]; see the [module docs](super#exclusive-wake-ups-epoll-only)
/// for what the kernel accepts with them and why `reregister` refuses
/// them).
///
/// Each registration's `epoll_event.data` is an index into a table of
/// (fd, token, interest), tagged with the slot's generation, so a wait
/// can mask events by interest and re-arm a oneshot registration that the kernel disarmed for an error or
/// hang-up nobody asked for (see the [module docs](super)). A second
/// table, indexed by fd number, finds a registration's slot: the kernel
/// hands out the lowest free number, so fds are usually small and dense,
/// and the table costs 4 bytes per number up to the highest one
/// registered (about 46 bytes per registration in all at 10,000, see
/// BENCHMARKS.md); a lone high number (a `dup2` to 1,000,000) costs 4 MB,
/// kept until the poller is dropped.
///
/// Timeouts: `epoll_pwait2` (nanoseconds) when the timeout has a
/// sub-millisecond part, else `epoll_wait` (milliseconds, rounded up). On
/// `ENOSYS` (before Linux 5.11) or `EPERM` (a seccomp filter, valgrind)
/// the wait falls back to `epoll_wait` in the same call and the poller
/// remembers it.
///
/// A closed-while-registered fd is forgotten by the kernel unless a
/// duplicate keeps the open file alive; then it goes on being reported
/// under its old token until the number is registered again here. That
/// frees the old slot (so forgetting to deregister costs no memory beyond
/// the fd numbers in use), and from then on the duplicate's events are
/// dropped: each slot's `epoll_event.data` carries a generation beside the
/// index, so they are never reported under the new registration's token,
/// or any later one (see the module docs).
#[doc(alias = "epoll")]
#[doc(alias = "epoll_ctl")]
#[doc(alias = "epoll_wait")]
#[doc(alias = "epoll_pwait2")]
pub struct Epoll {
    epfd: sys::Fd,
    slots: Vec<Entry>,
    free: Vec<usize>,
    by_fd: FdMap,
    /// The eventfds of registered Wakers, by slot, owned with the Wakers
    /// while registered. Apart from the slots, which stay 24 bytes.
    wakers: Vec<(usize, Arc<sys::Fd>)>,
    /// Whether epoll_pwait2 may be tried (false after ENOSYS or EPERM).
    pwait2: bool,
}

/// One place in the table of registrations: the registration, if any,
/// and the generation of the place, which goes up each time it is freed.
/// The kernel gets both in `epoll_event.data` (see [`tag`]), so an event
/// that the kernel still delivers for a registration we freed (a duplicate
/// of a closed fd keeps it alive) is told apart from the place's next
/// registration. (It wraps after 2^32 reuses of one place: only a
/// duplicate kept ready and open all that time could then be mistaken.)
struct Entry {
    generation: u32,
    fd: RawFd,
    token: Token,
    /// `None` while the place is free.
    interest: Option<Interest>,
}

// The table costs what it did before generations: 24 bytes a place.
static_assertions::const_assert!(size_of::<Entry>() <= 24);

/// `epoll_event.data` for the registration at `index` in generation
/// `generation`: the generation in the high 32 bits, the index (at most
/// [`FdMap::MAX_INDEX`]) in the low 32.
fn tag(index: usize, generation: u32) -> u64 {
    (u64::from(generation) << 32) | index as u64
}

impl Epoll {
    /// `epoll_create1(EPOLL_CLOEXEC)` — a new, empty epoll instance.
    ///
    /// # Errors
    ///
    /// - `EMFILE`: the process is at its fd limit (`RLIMIT_NOFILE`);
    ///   `ENFILE`: the system-wide limit.
    #[doc(alias = "epoll_create1")]
    pub fn new() -> io::Result<Epoll> {
        Ok(Epoll {
            epfd: sys::Fd::new(sys::poll::epoll_create1()?),
            slots: Vec::new(),
            free: Vec::new(),
            by_fd: FdMap::default(),
            wakers: Vec::new(),
            pwait2: true,
        })
    }

    fn add(
        &mut self,
        fd: RawFd,
        token: Token,
        interest: Interest,
        waker: Option<Arc<sys::Fd>>,
    ) -> io::Result<()> {
        refuse_exclusive_with(interest)?;
        // Room in the fd table first: after the kernel has the
        // registration, nothing may fail.
        self.by_fd.reserve(fd)?;
        // A registration already held for this number: either the fd is
        // registered (the kernel answers EEXIST), or the caller closed a
        // registered fd and the number now names another file, whose ADD
        // the kernel accepts. Then the old slot is freed below, which needs
        // room on the free list.
        let old = self.by_fd.get(fd);
        if old.is_some() {
            self.free.try_reserve(1).map_err(|_| enomem())?;
        }
        if waker.is_some() {
            self.wakers.try_reserve(1).map_err(|_| enomem())?;
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            // The fd table holds 32-bit indices: no more slots than that
            // (about 100 GB of them).
            None if self.slots.len() > FdMap::MAX_INDEX => return Err(enomem()),
            None => {
                self.slots.push(Entry {
                    generation: 0,
                    fd,
                    token,
                    interest: None,
                });
                self.slots.len() - 1
            }
        };
        let data = tag(slot, self.slots[slot].generation);
        if let Err(e) = sys::poll::epoll_ctl(
            self.epfd.as_fd(),
            libc::EPOLL_CTL_ADD,
            fd,
            interest.epoll_events(),
            data,
        ) {
            self.free.push(slot);
            return Err(e);
        }
        let entry = &mut self.slots[slot];
        (entry.fd, entry.token, entry.interest) = (fd, token, Some(interest));
        if let Some(w) = waker {
            // Room was reserved above.
            self.wakers.push((slot, w));
        }
        // Cannot fail: the number has room and the slot is at most
        // MAX_INDEX. Were it to, the kernel's registration is undone.
        if let Err(e) = self.by_fd.insert(fd, slot) {
            let _ = sys::poll::epoll_ctl(self.epfd.as_fd(), libc::EPOLL_CTL_DEL, fd, 0, 0);
            self.release(slot);
            return Err(e);
        }
        if let Some(old) = old {
            // The closed fd's slot. If a duplicate keeps its registration
            // alive in the kernel, the events it delivers carry the old
            // generation and are dropped, never reported under this
            // registration's token.
            self.release(old);
        }
        Ok(())
    }

    /// Frees slot `index`: empty, a new generation (so events still tagged
    /// with the old one are dropped), and on the free list.
    fn release(&mut self, index: usize) {
        let entry = &mut self.slots[index];
        entry.interest = None;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(index);
        if !self.wakers.is_empty() {
            self.wakers.retain(|(slot, _)| *slot != index);
        }
    }

    /// A wait with a sub-millisecond timeout: `epoll_pwait2`, or
    /// `epoll_wait` for good once the kernel refuses it. Out of line, so
    /// the common wait stays small.
    #[inline(never)]
    fn wait_fine(
        &mut self,
        raw: &mut [libc::epoll_event],
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let epfd = self.epfd.as_fd();
        match sys::poll::epoll_pwait2(epfd, raw, timeout) {
            Ok(n) => Ok(n),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                self.pwait2 = false;
                sys::poll::epoll_wait(epfd, raw, sys::poll::timeout_ms(timeout))
            }
            Err(e) => Err(e),
        }
    }

    /// The kernel has no registration for the file this number now names:
    /// the registered fd was closed and the number reused. Drop the mapping
    /// and free the slot, as a new registration of the number would (a
    /// duplicate's events for the old registration are dropped from now
    /// on).
    fn forget(&mut self, fd: RawFd, e: io::Error) -> io::Error {
        if e.raw_os_error() == Some(libc::ENOENT) {
            if let Some(slot) = self.by_fd.remove(fd) {
                self.release(slot);
            }
        }
        e
    }
}

/// Re-arms a level-mode oneshot registration that the kernel disarmed for
/// an error or hang-up the interest did not ask for: nothing was reported,
/// so it stays armed, as select and poll (which never disarmed) would have
/// it. Rare, so out of line: the wait loop keeps its registers.
///
/// Never for an edge-triggered registration: `EPOLL_CTL_MOD` polls the fd
/// and queues it at once if anything is ready, and the kernel always polls
/// error and hang-up, so the same hang-up would come back on the next wait,
/// be masked out again and re-armed again: every wait would return at once
/// with nothing (a busy loop). An edge is reported once, so the condition
/// that was masked out is not reported again anyway.
#[cold]
#[inline(never)]
fn rearm(epfd: BorrowedFd<'_>, fd: RawFd, interest: Interest, data: u64) {
    let _ = sys::poll::epoll_ctl(epfd, libc::EPOLL_CTL_MOD, fd, interest.epoll_events(), data);
}

#[cold]
fn enomem() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOMEM)
}

/// `EINVAL` (`InvalidInput`): what the kernel answers to what we refuse
/// before asking it, so a caller sees one errno either way.
#[cold]
fn einval() -> io::Error {
    io::Error::from_raw_os_error(libc::EINVAL)
}

/// An exclusive interest with priority or oneshot: the kernel takes
/// `EPOLLEXCLUSIVE` only beside `EPOLLIN`, `EPOLLOUT`, `EPOLLET` (and
/// `EPOLLERR`, `EPOLLHUP`, `EPOLLWAKEUP`) and answers `EINVAL` to the rest;
/// refused here before the syscall.
fn refuse_exclusive_with(interest: Interest) -> io::Result<()> {
    if interest.is_exclusive() && (interest.is_priority() || interest.is_oneshot()) {
        return Err(einval());
    }
    Ok(())
}

impl fmt::Debug for Epoll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Epoll")
            .field("epfd", &self.epfd.as_raw_fd())
            .field("registered", &self.by_fd.len())
            .field("pwait2", &self.pwait2)
            .finish()
    }
}

impl Poller for Epoll {
    fn register(&mut self, fd: BorrowedFd<'_>, token: Token, interest: Interest) -> io::Result<()> {
        self.add(fd.as_raw_fd(), token, interest, None)
    }

    fn reregister(
        &mut self,
        fd: BorrowedFd<'_>,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        let fd = fd.as_raw_fd();
        let slot = self.by_fd.get(fd).ok_or_else(not_found)?;
        // The kernel answers EINVAL to every EPOLL_CTL_MOD of an exclusive
        // registration and to one that asks for EPOLLEXCLUSIVE: refused
        // here, without the syscall, and the registration stays as it was
        // (see the module docs for why this is no DEL + ADD).
        let was_exclusive = self.slots[slot]
            .interest
            .is_some_and(Interest::is_exclusive);
        if was_exclusive || interest.is_exclusive() {
            return Err(einval());
        }
        if let Err(e) = sys::poll::epoll_ctl(
            self.epfd.as_fd(),
            libc::EPOLL_CTL_MOD,
            fd,
            interest.epoll_events(),
            tag(slot, self.slots[slot].generation),
        ) {
            return Err(self.forget(fd, e));
        }
        let entry = &mut self.slots[slot];
        (entry.token, entry.interest) = (token, Some(interest));
        Ok(())
    }

    fn deregister(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let fd = fd.as_raw_fd();
        let slot = self.by_fd.get(fd).ok_or_else(not_found)?;
        if let Err(e) = sys::poll::epoll_ctl(self.epfd.as_fd(), libc::EPOLL_CTL_DEL, fd, 0, 0) {
            return Err(self.forget(fd, e));
        }
        self.by_fd.remove(fd);
        self.release(slot);
        Ok(())
    }

    fn wait(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        events.clear();
        let sub_ms = timeout.is_some_and(|d| d.subsec_nanos() % 1_000_000 != 0);
        let n = if sub_ms && self.pwait2 {
            self.wait_fine(&mut events.raw, timeout)?
        } else {
            let ms = sys::poll::timeout_ms(timeout);
            sys::poll::epoll_wait(self.epfd.as_fd(), &mut events.raw, ms)?
        };
        let epfd = self.epfd.as_fd();
        // The kernel filled the first `n` entries: walk them as a slice,
        // beside the list the events go to (one bounds check, not one per
        // event).
        let Events { list, raw } = events;
        for entry in &raw[..n] {
            // A copy: epoll_event is packed on x86_64, so no references
            // into it.
            let (bits, data) = (entry.events, entry.u64);
            let Some(&Entry {
                generation,
                fd,
                token,
                interest: Some(interest),
            }) = self.slots.get(data as u32 as usize)
            else {
                continue;
            };
            // An older generation: a registration freed since (its fd
            // closed and the number registered again) that a duplicate of
            // the closed fd keeps alive in the kernel. Not reported.
            if u64::from(generation) != data >> 32 {
                continue;
            }
            match Event::from_epoll(token, interest, bits) {
                Some(event) => list.push(event),
                // Level: re-armed, as poll's entry stays armed. Edge: left
                // as the kernel left it (see `rearm`).
                None if interest.is_oneshot() && !interest.is_edge() => {
                    rearm(epfd, fd, interest, data)
                }
                None => {}
            }
        }
        Ok(list.len())
    }

    fn backend(&self) -> Backend {
        Backend::Epoll
    }

    fn register_waker(&mut self, waker: WakerFd, token: Token) -> io::Result<()> {
        let fd = waker.into_inner();
        // Edge-triggered: each write is a new edge, so a wake is one write
        // and the counter is never read.
        self.add(fd.as_raw_fd(), token, Interest::READABLE.edge(), Some(fd))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poll::Waker;

    /// A Waker's eventfd lives beside the slots: deregistering it (or
    /// freeing its slot any other way) lets go of the poller's share.
    #[test]
    fn deregistering_a_waker_lets_go_of_its_eventfd() {
        let mut p = Epoll::new().unwrap();
        let w = Waker::new(&mut p, Token(1)).unwrap();
        assert_eq!(p.wakers.len(), 1);
        assert_eq!(p.wakers[0].0, p.by_fd.get(w.as_fd().as_raw_fd()).unwrap());
        p.deregister(w.as_fd()).unwrap();
        assert!(p.wakers.is_empty());
        assert_eq!((p.slots.len(), p.free.len()), (1, 1));
    }
}
