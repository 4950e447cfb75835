//! The select(2) backends: [`Select`] over `fd_set`s (fds below
//! `FD_SETSIZE`) and [`SelectGrowable`] over sets sized to the highest fd.
//! Both share one core, generic over how the bit sets are stored.

use super::fdmap::FdMap;
use super::{
    Backend, Event, Events, Interest, Poller, Token, WakerFd, already_exists, not_found,
    refuse_epoll_only, source,
};
use crate::sys;
use crate::sys::poll::{FD_SETSIZE, SELECT_WORD_BITS};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

const READ: usize = 0;
const WRITE: usize = 1;
const EXCEPT: usize = 2;

/// Which of the three sets (read, write, except) some armed registration
/// is in. An unused set goes to the kernel as NULL: it then copies
/// nothing in or out for it, where an empty set costs a copy each way
/// (about 130 ns a wait on the benchmark machine).
type Used = [bool; 3];

/// How one select backend stores its three sets: a master copy that
/// registration edits, and a working copy the kernel overwrites each wait.
trait SetStore: Send {
    const BACKEND: Backend;
    /// Refuses an fd the sets cannot hold, before anything changes.
    fn check_fd(fd: RawFd) -> io::Result<()>;
    /// Makes room for `fd` (registration time: the only allocation);
    /// `ENOMEM` when the sets cannot grow that far.
    fn reserve(&mut self, fd: RawFd) -> io::Result<()>;
    fn insert(&mut self, set: usize, fd: RawFd);
    fn remove(&mut self, set: usize, fd: RawFd);
    /// Copies the master sets in use over the working sets, for `nfds`
    /// bits.
    fn prepare(&mut self, nfds: usize, used: Used);
    fn work_remove(&mut self, set: usize, fd: RawFd);
    fn work_contains(&self, set: usize, fd: RawFd) -> bool;
    /// How many bits the working sets in use hold below `nfds`: after a
    /// select, what the scan would take as ready.
    fn work_count(&self, nfds: usize, used: Used) -> usize;
    /// One `select` over the working sets in use (NULL for the others).
    fn select(&mut self, nfds: usize, used: Used, timeout: Option<Duration>) -> io::Result<usize>;
}

/// `libc::fd_set`s: 1024 bits each, fds at or above FD_SETSIZE refused.
struct FixedSets {
    master: [libc::fd_set; 3],
    work: [libc::fd_set; 3],
}

// fd_set is plain data (an array of c_ulong), so a Select can move threads.
static_assertions::assert_impl_all!(libc::fd_set: Send);

impl SetStore for FixedSets {
    const BACKEND: Backend = Backend::Select;

    fn check_fd(fd: RawFd) -> io::Result<()> {
        if fd as usize >= FD_SETSIZE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "select cannot watch an fd at or above FD_SETSIZE (1024); use SelectGrowable, Poll or Epoll",
            ));
        }
        Ok(())
    }

    fn reserve(&mut self, _fd: RawFd) -> io::Result<()> {
        Ok(())
    }

    fn insert(&mut self, set: usize, fd: RawFd) {
        sys::poll::fd_set_insert(&mut self.master[set], fd);
    }

    fn remove(&mut self, set: usize, fd: RawFd) {
        sys::poll::fd_set_remove(&mut self.master[set], fd);
    }

    fn prepare(&mut self, _nfds: usize, used: Used) {
        for set in [READ, WRITE, EXCEPT] {
            if used[set] {
                self.work[set] = self.master[set];
            }
        }
    }

    fn work_remove(&mut self, set: usize, fd: RawFd) {
        sys::poll::fd_set_remove(&mut self.work[set], fd);
    }

    fn work_contains(&self, set: usize, fd: RawFd) -> bool {
        sys::poll::fd_set_contains(&self.work[set], fd)
    }

    fn work_count(&self, nfds: usize, used: Used) -> usize {
        // fd_set's words are private to libc: test the bits one by one
        // (at most 1024 per set, a few hundred ns next to the syscall).
        let mut n = 0;
        for set in [READ, WRITE, EXCEPT] {
            if used[set] {
                n += (0..nfds as RawFd)
                    .filter(|&fd| sys::poll::fd_set_contains(&self.work[set], fd))
                    .count();
            }
        }
        n
    }

    fn select(&mut self, nfds: usize, used: Used, timeout: Option<Duration>) -> io::Result<usize> {
        let [r, w, e] = &mut self.work;
        let [ur, uw, ue] = used;
        sys::poll::select(
            nfds,
            ur.then_some(r),
            uw.then_some(w),
            ue.then_some(e),
            timeout,
        )
    }
}

/// Heap sets of `unsigned long` words (u64 on 64-bit Linux), grown to the
/// highest registered fd.
struct GrowSets {
    master: [Vec<libc::c_ulong>; 3],
    work: [Vec<libc::c_ulong>; 3],
}

fn word_bit(fd: RawFd) -> (usize, libc::c_ulong) {
    let fd = fd as usize;
    (fd / SELECT_WORD_BITS, 1 << (fd % SELECT_WORD_BITS))
}

impl SetStore for GrowSets {
    const BACKEND: Backend = Backend::SelectGrowable;

    fn check_fd(_fd: RawFd) -> io::Result<()> {
        Ok(())
    }

    fn reserve(&mut self, fd: RawFd) -> io::Result<()> {
        let words = word_bit(fd).0 + 1;
        for v in self.master.iter_mut().chain(self.work.iter_mut()) {
            if v.len() < words {
                v.try_reserve(words - v.len())
                    .map_err(|_| io::Error::from_raw_os_error(libc::ENOMEM))?;
                v.resize(words, 0);
            }
        }
        Ok(())
    }

    fn insert(&mut self, set: usize, fd: RawFd) {
        let (w, b) = word_bit(fd);
        self.master[set][w] |= b;
    }

    fn remove(&mut self, set: usize, fd: RawFd) {
        let (w, b) = word_bit(fd);
        self.master[set][w] &= !b;
    }

    fn prepare(&mut self, nfds: usize, used: Used) {
        let words = nfds.div_ceil(SELECT_WORD_BITS);
        for ((work, master), used) in self.work.iter_mut().zip(&self.master).zip(used) {
            if used {
                work[..words].copy_from_slice(&master[..words]);
            }
        }
    }

    fn work_remove(&mut self, set: usize, fd: RawFd) {
        let (w, b) = word_bit(fd);
        self.work[set][w] &= !b;
    }

    fn work_contains(&self, set: usize, fd: RawFd) -> bool {
        let (w, b) = word_bit(fd);
        self.work[set].get(w).is_some_and(|x| x & b != 0)
    }

    fn work_count(&self, nfds: usize, used: Used) -> usize {
        let words = nfds.div_ceil(SELECT_WORD_BITS);
        let mut n = 0;
        for (work, used) in self.work.iter().zip(used) {
            if used {
                // Bits at or above nfds are never set: the master sets hold
                // only registered fds, all below nfds.
                n += work[..words]
                    .iter()
                    .map(|x| x.count_ones() as usize)
                    .sum::<usize>();
            }
        }
        n
    }

    fn select(&mut self, nfds: usize, used: Used, timeout: Option<Duration>) -> io::Result<usize> {
        let [r, w, e] = &mut self.work;
        let [ur, uw, ue] = used;
        sys::poll::select_words(
            nfds,
            ur.then_some(r.as_mut_slice()),
            uw.then_some(w.as_mut_slice()),
            ue.then_some(e.as_mut_slice()),
            timeout,
        )
    }
}

struct Reg {
    fd: RawFd,
    token: Token,
    interest: Interest,
    armed: bool,
    /// The master sets this fd is in: bit `1 << READ`, `1 << WRITE`,
    /// `1 << EXCEPT`.
    member: u8,
    /// Found closed by this wait's recovery pass: the scan reports its
    /// error event in its turn. Cleared before the wait returns.
    closed: bool,
    waker: Option<Arc<sys::Fd>>,
}

/// What both select backends share: the registrations, the rotating scan,
/// oneshot emulation, and the recovery from a closed fd's `EBADF`.
struct Core<S> {
    sets: S,
    regs: Vec<Reg>,
    index: FdMap,
    /// Highest registered fd plus one: select's first argument.
    nfds: usize,
    /// How many armed registrations each set holds.
    users: [usize; 3],
    start: usize,
    /// Scratch for the indexes of closed fds, sized at registration so a
    /// wait never allocates.
    bad: Vec<usize>,
}

impl<S: SetStore> Core<S> {
    fn new(sets: S) -> Core<S> {
        Core {
            sets,
            regs: Vec::new(),
            index: FdMap::default(),
            nfds: 0,
            users: [0; 3],
            start: 0,
            bad: Vec::new(),
        }
    }

    /// Puts registration `i` in the sets its interest asks for, and takes
    /// it out of the others.
    fn arm(&mut self, i: usize) {
        let Reg {
            fd,
            interest,
            member,
            ..
        } = self.regs[i];
        let mut now = 0;
        for (set, on) in [
            (READ, interest.is_readable()),
            (WRITE, interest.is_writable()),
            (EXCEPT, interest.is_priority()),
        ] {
            let was = member & (1 << set) != 0;
            if on {
                now |= 1 << set;
                if !was {
                    self.sets.insert(set, fd);
                    self.users[set] += 1;
                }
            } else if was {
                self.sets.remove(set, fd);
                self.users[set] -= 1;
            }
        }
        self.regs[i].member = now;
        self.regs[i].armed = true;
    }

    fn disarm(&mut self, i: usize) {
        let Reg { fd, member, .. } = self.regs[i];
        for set in [READ, WRITE, EXCEPT] {
            if member & (1 << set) != 0 {
                self.sets.remove(set, fd);
                self.users[set] -= 1;
            }
        }
        self.regs[i].member = 0;
        self.regs[i].armed = false;
    }

    fn used(&self) -> Used {
        self.users.map(|n| n > 0)
    }

    fn add(
        &mut self,
        fd: RawFd,
        token: Token,
        interest: Interest,
        waker: Option<Arc<sys::Fd>>,
    ) -> io::Result<()> {
        refuse_epoll_only(S::BACKEND, interest)?;
        S::check_fd(fd)?;
        if self.index.contains(fd) {
            return Err(already_exists());
        }
        // Room first (the fd table refuses a negative number with EBADF
        // before the sets see it), then nothing below can fail.
        let i = self.regs.len();
        self.index.reserve(fd)?;
        self.sets.reserve(fd)?;
        self.bad.reserve(self.regs.len() + 1);
        self.index.insert(fd, i)?;
        self.regs.push(Reg {
            fd,
            token,
            interest,
            armed: false,
            member: 0,
            closed: false,
            waker,
        });
        self.arm(i);
        self.nfds = self.nfds.max(fd as usize + 1);
        Ok(())
    }

    fn reregister(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let i = self.index.get(fd).ok_or_else(not_found)?;
        refuse_epoll_only(S::BACKEND, interest)?;
        self.regs[i].token = token;
        self.regs[i].interest = interest;
        self.arm(i);
        Ok(())
    }

    fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        let i = self.index.get(fd).ok_or_else(not_found)?;
        self.disarm(i);
        self.index.remove(fd);
        self.regs.swap_remove(i);
        if let Some(moved) = self.regs.get(i) {
            self.index.repoint(moved.fd, i);
        }
        if fd as usize + 1 == self.nfds {
            self.nfds = self
                .regs
                .iter()
                .map(|r| r.fd as usize + 1)
                .max()
                .unwrap_or(0);
        }
        if self.start >= self.regs.len() {
            self.start = 0;
        }
        Ok(())
    }

    fn wait(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        events.clear();
        // The sets in use now: the kernel fills these, and the scan reads
        // only these (a oneshot disarmed during the scan changes `users`,
        // not what this wait asked).
        let used = self.used();
        self.sets.prepare(self.nfds, used);
        let ready = match self.sets.select(self.nfds, used, timeout) {
            Ok(ready) if !self.stale_bits(used, ready) => {
                self.scan(events, used, ready, 0);
                return Ok(events.len());
            }
            Ok(_) => self.recover(used, None)?,
            Err(e) if e.raw_os_error() == Some(libc::EBADF) => self.recover(used, Some(e))?,
            Err(e) => return Err(e),
        };
        self.scan(events, used, ready, self.bad.len());
        for k in 0..self.bad.len() {
            let i = self.bad[k];
            self.regs[i].closed = false;
        }
        Ok(events.len())
    }

    /// Whether the working sets hold bits the kernel did not count: select
    /// returns the number of bits it left set, but it caps `nfds` at the
    /// size of the process's fd table (`fdt->max_fds`, at least one word of
    /// bits, grown as fds are opened and copied at its open fds' size by
    /// `fork`) and writes back only the bits below the cap. A bit above
    /// keeps the caller's input: a closed fd the kernel never looked at,
    /// with no `EBADF`. Counting the bits costs no syscall.
    fn stale_bits(&self, used: Used, ready: usize) -> bool {
        self.nfds > SELECT_WORD_BITS && self.sets.work_count(self.nfds, used) > ready
    }

    /// The caller closed a registered fd: the kernel failed the whole
    /// select (`ebadf`), or left the closed fd's bits as given because its
    /// number is beyond the fd table ([`Core::stale_bits`]). Find the
    /// closed numbers (one `fcntl(F_GETFD)` each), mark them for the scan
    /// (which reports an error event for each in its turn, rotating with
    /// the live fds, so closed fds never crowd a ready one out of
    /// `events`), and select once more over the others with a zero
    /// timeout, so their readiness is not lost and no stale bit is left.
    /// Leaves the closed registrations' indexes in `self.bad`.
    #[cold]
    #[inline(never)]
    fn recover(&mut self, used: Used, ebadf: Option<io::Error>) -> io::Result<usize> {
        self.bad.clear();
        for (i, reg) in self.regs.iter().enumerate() {
            if reg.armed
                && sys::poll::fcntl_getfd_raw(reg.fd)
                    .err()
                    .and_then(|e| e.raw_os_error())
                    == Some(libc::EBADF)
            {
                self.bad.push(i);
            }
        }
        if let (true, Some(ebadf)) = (self.bad.is_empty(), ebadf) {
            return Err(ebadf);
        }
        // With stale bits but no closed number found (the number was opened
        // again since the select), the second select below answers for it.
        self.sets.prepare(self.nfds, used);
        for &i in &self.bad {
            for set in [READ, WRITE, EXCEPT] {
                self.sets.work_remove(set, self.regs[i].fd);
            }
        }
        let ready = self.sets.select(self.nfds, used, Some(Duration::ZERO))?;
        for k in 0..self.bad.len() {
            let i = self.bad[k];
            self.regs[i].closed = true;
        }
        Ok(ready)
    }

    /// Reports what the kernel found ready (`ready` bits in all) and the
    /// `closed` registrations the recovery pass marked, scanning from a
    /// start that rotates: when `events` fills up, the next wait starts at
    /// the first registration not reported, so each ready one, closed or
    /// live, is reported within ceil(ready / capacity) waits in level mode.
    fn scan(&mut self, events: &mut Events, used: Used, mut ready: usize, mut closed: usize) {
        let len = self.regs.len();
        for k in 0..len {
            if ready == 0 && closed == 0 {
                break;
            }
            let i = (self.start + k) % len;
            let reg = &self.regs[i];
            if !reg.armed {
                continue;
            }
            if closed > 0 && reg.closed {
                // Not in the sets of the second select: nothing else to
                // count for it.
                closed -= 1;
                if events.is_full() {
                    self.start = i;
                    break;
                }
                events.push(Event::closed(reg.token, reg.interest));
                if reg.interest.is_oneshot() {
                    self.disarm(i);
                }
                continue;
            }
            // A set not in use was not given to the kernel: its working
            // copy is stale, and nothing in it is ready.
            let r = used[READ] && self.sets.work_contains(READ, reg.fd);
            let w = used[WRITE] && self.sets.work_contains(WRITE, reg.fd);
            let p = used[EXCEPT] && self.sets.work_contains(EXCEPT, reg.fd);
            let hits = usize::from(r) + usize::from(w) + usize::from(p);
            if hits == 0 {
                continue;
            }
            ready = ready.saturating_sub(hits);
            let Some(event) = Event::from_select(reg.token, reg.interest, r, w, p) else {
                continue;
            };
            if events.is_full() {
                self.start = i;
                break;
            }
            events.push(event);
            if let Some(wk) = &reg.waker {
                source::reset(wk);
            }
            if reg.interest.is_oneshot() {
                self.disarm(i);
            }
        }
    }
}

/// `select(nfds, readfds, writefds, exceptfds, timeout)` over `fd_set`s
/// — the select(2) backend (`pselect6` in the kernel on every target, as
/// glibc makes it on x86_64).
///
/// Keeps three master `fd_set`s (read, write, except) that registration
/// edits with no syscall; each wait copies them (select overwrites its
/// arguments), makes one select with `nfds` = the highest registered fd +
/// 1, and scans the registrations from a start that rotates, so a small
/// [`Events`] starves no ready fd. Oneshot is emulated by clearing the
/// fd's bits after its event, until [`Poller::reregister`]. A set that no
/// armed registration uses (the write set when nobody waits to write, say)
/// goes to the kernel as NULL, so it is neither copied nor passed.
///
/// An `fd_set` holds `FD_SETSIZE` (1024) bits: registering a higher fd is
/// `InvalidInput`, never a write past the set. [`SelectGrowable`] lifts
/// the limit. Timeouts are in microseconds, rounded up. select sees no
/// extras (error, hang-up), and a closed-while-registered fd is found
/// after the kernel's `EBADF` (see the [module docs](super)).
#[doc(alias = "select")]
#[doc(alias = "pselect6")]
#[doc(alias = "fd_set")]
pub struct Select {
    core: Core<FixedSets>,
}

impl Select {
    /// An empty select(2) poller. No syscall.
    pub fn new() -> Select {
        let empty = sys::poll::fd_set_new();
        Select {
            core: Core::new(FixedSets {
                master: [empty; 3],
                work: [empty; 3],
            }),
        }
    }
}

/// `select(nfds, readfds, writefds, exceptfds, timeout)` with sets sized
/// to the highest fd — the select(2) backend without the `FD_SETSIZE`
/// limit.
///
/// The kernel reads `nfds` bits from each set pointer, whatever glibc's
/// `FD_SETSIZE` says, so this backend holds its sets as heap arrays of
/// `unsigned long` words (u64 on 64-bit Linux) grown at registration to
/// the highest fd, and passes `nfds` = highest + 1. That makes select
/// usable, and measurable, at 10,000 fds. Each wait copies and the kernel
/// scans `nfds` bits per set, so the cost grows with the highest fd, not
/// with the number of registrations. Everything else is as [`Select`].
#[doc(alias = "select")]
#[doc(alias = "pselect6")]
pub struct SelectGrowable {
    core: Core<GrowSets>,
}

impl SelectGrowable {
    /// An empty growable select poller. No syscall.
    pub fn new() -> SelectGrowable {
        SelectGrowable {
            core: Core::new(GrowSets {
                master: [Vec::new(), Vec::new(), Vec::new()],
                work: [Vec::new(), Vec::new(), Vec::new()],
            }),
        }
    }
}

macro_rules! select_poller {
    ($t:ty, $name:literal) => {
        impl Default for $t {
            fn default() -> $t {
                <$t>::new()
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct($name)
                    .field("registered", &self.core.regs.len())
                    .field("nfds", &self.core.nfds)
                    .finish()
            }
        }

        impl Poller for $t {
            fn register(
                &mut self,
                fd: BorrowedFd<'_>,
                token: Token,
                interest: Interest,
            ) -> io::Result<()> {
                self.core.add(fd.as_raw_fd(), token, interest, None)
            }

            fn reregister(
                &mut self,
                fd: BorrowedFd<'_>,
                token: Token,
                interest: Interest,
            ) -> io::Result<()> {
                self.core.reregister(fd.as_raw_fd(), token, interest)
            }

            fn deregister(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
                self.core.deregister(fd.as_raw_fd())
            }

            fn wait(
                &mut self,
                events: &mut Events,
                timeout: Option<Duration>,
            ) -> io::Result<usize> {
                self.core.wait(events, timeout)
            }

            fn backend(&self) -> Backend {
                <$t>::BACKEND
            }

            fn register_waker(&mut self, waker: WakerFd, token: Token) -> io::Result<()> {
                let fd = waker.into_inner();
                self.core
                    .add(fd.as_raw_fd(), token, Interest::READABLE, Some(fd))
            }
        }
    };
}

impl Select {
    const BACKEND: Backend = Backend::Select;
}

impl SelectGrowable {
    const BACKEND: Backend = Backend::SelectGrowable;
}

select_poller!(Select, "Select");
select_poller!(SelectGrowable, "SelectGrowable");

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    /// The sets handed to the kernel are exactly those some armed
    /// registration is in, through register, reregister, a oneshot that
    /// fires and deregister.
    #[test]
    fn used_sets_follow_the_registrations() {
        let (a, _peer_a) = UnixStream::pair().unwrap();
        let (b, _peer_b) = UnixStream::pair().unwrap();
        let mut s = Select::new();
        assert_eq!(s.core.used(), [false; 3]);
        s.register(a.as_fd(), Token(1), Interest::READABLE).unwrap();
        assert_eq!(s.core.used(), [true, false, false]);
        s.register(b.as_fd(), Token(2), Interest::WRITABLE.oneshot())
            .unwrap();
        assert_eq!(s.core.used(), [true, true, false]);
        s.reregister(a.as_fd(), Token(1), Interest::PRIORITY | Interest::READABLE)
            .unwrap();
        assert_eq!(s.core.used(), [true, true, true]);
        s.reregister(a.as_fd(), Token(1), Interest::PRIORITY)
            .unwrap();
        assert_eq!(s.core.used(), [false, true, true]);
        // b is writable: the oneshot fires and disarms, so the write set is
        // no longer used.
        let mut ev = Events::with_capacity(4);
        assert_eq!(s.wait(&mut ev, Some(Duration::ZERO)).unwrap(), 1);
        assert_eq!(s.core.used(), [false, false, true]);
        s.reregister(b.as_fd(), Token(2), Interest::READABLE)
            .unwrap();
        assert_eq!(s.core.used(), [true, false, true]);
        s.deregister(a.as_fd()).unwrap();
        s.deregister(b.as_fd()).unwrap();
        assert_eq!(s.core.users, [0; 3]);
    }
}
