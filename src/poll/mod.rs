//! Readiness: select(2), poll(2) and epoll(7) behind one trait, with one
//! meaning.
//!
//! A [`Poller`] watches file descriptors and tells you which are ready: a
//! socket is *readable* when a `recv` would not block, *writable* when a
//! `send` would not block, and has *priority* data when out-of-band (TCP
//! urgent) data waits. You [`register`](Poller::register) an fd with a
//! [`Token`] (your name for it) and an [`Interest`], then call
//! [`wait`](Poller::wait), which fills an [`Events`] with one [`Event`] per
//! ready fd.
//!
//! Four backends implement it, each a type of its own, and [`Backend`]
//! builds any of them at run time as a `Box<dyn Poller>`:
//!
//! | backend | syscall per wait | registration costs | limits |
//! | --- | --- | --- | --- |
//! | [`Select`] | `pselect6` (select as glibc makes it) | nothing | fds below `FD_SETSIZE` (1024) |
//! | [`SelectGrowable`] | `pselect6` with sets sized to the highest fd | nothing | none; each wait copies and scans bits up to the highest fd |
//! | [`Poll`] | `poll` | nothing | each wait passes every registered fd to the kernel |
//! | [`Epoll`] | `epoll_wait`, or `epoll_pwait2` for sub-millisecond timeouts | one `epoll_ctl` | none; the kernel keeps the interest list |
//!
//! # One meaning on every backend
//!
//! The *shared contract* is an event's token and its readable, writable and
//! priority flags, in level and oneshot mode: the same operations give the
//! same set of `(token, readable, writable, priority)` on every backend.
//! The conformance suite and the differential test check exactly that.
//!
//! The flags mean what select(2) means, because that is the mapping the
//! kernel itself uses in `fs/select.c`, and poll and epoll translate their
//! flags through it (see [`Event::from_poll`], [`Event::from_epoll`]):
//!
//! | flag | set when the kernel reports |
//! | --- | --- |
//! | readable | `IN`, `RDNORM`, `RDBAND`, `HUP` or `ERR` |
//! | writable | `OUT`, `WRNORM`, `WRBAND` or `ERR` |
//! | priority | `PRI` |
//!
//! Each flag is then masked by the registered interest. An event with
//! nothing left after masking is not reported, and does not disarm a
//! oneshot registration. (poll and epoll always report `HUP` and `ERR`,
//! asked for or not. An fd registered for priority alone whose connection
//! hangs up therefore makes every poll or epoll wait return at once with
//! no event for it, for as long as it stays registered: in level mode the
//! hang-up stands, and on epoll in oneshot mode the kernel has also
//! disarmed the registration, and the backend re-arms it with one
//! `epoll_ctl` in each such wait, so oneshot keeps its meaning at the
//! price of a busy loop. Since no event names the fd, register priority
//! with [`Interest::READABLE`] (the hang-up then reports the fd readable:
//! read it, see the end of the stream, deregister), never alone, on a
//! socket whose peer may go away. select has no such case: it never
//! reports a hang-up outside the sets asked for. In edge mode plus oneshot, epoll
//! only, it does not: re-arming makes the kernel queue the same hang-up
//! again at once, so every wait would return at once with nothing. The
//! registration stays disarmed, as the kernel left it, until
//! [`Poller::reregister`]; a socket that has hung up receives nothing
//! more, but an error that clears later, say on reading `SO_ERROR`, leaves
//! it unwatched until then.)
//!
//! # Extras: error, hang-up, read-hang-up
//!
//! [`Event::is_error`] (`ERR`), [`Event::is_hangup`] (`HUP`) and
//! [`Event::is_read_hangup`] (`RDHUP`) are extras: poll and epoll report
//! them, select cannot see them (a peer's data, its shutdown and a reset
//! all look "readable" to select). No backend makes an extra syscall per
//! fd to fake them. What each backend reports on a socket registered for
//! [`Interest::READABLE`], after the peer does one thing (E = error,
//! H = hang-up, R = read-hang-up, – = an event with no extras, none = no
//! event at all):
//!
//! | socket | peer does | [`Select`] | [`Poll`] | [`Epoll`] | [`Epoll`], [exclusive](Interest::exclusive) |
//! | --- | --- | --- | --- | --- | --- |
//! | TCP | `close` | – | R | R | – |
//! | TCP | `shutdown(Write)` | – | R | R | – |
//! | TCP | reset (`SO_LINGER` 0, then `close`) | – | E H R | E H R | E H |
//! | Unix stream | `close` | – | H R | H R | H |
//! | Unix stream | `shutdown(Write)` | – | R | R | – |
//! | Unix stream | `SO_LINGER` 0, then `close` | – | H R | H R | H |
//! | UDP (connected) | `close` | none | none | none | none |
//! | UDP (connected) | `shutdown(Write)` | none | none | none | none |
//! | UDP (connected) | `SO_LINGER` 0, then `close` | none | none | none | none |
//!
//! An exclusive registration never reports read-hang-up: the kernel takes
//! `EPOLLEXCLUSIVE` only beside plain `EPOLLIN` and `EPOLLOUT`, not beside
//! `EPOLLRDHUP` (see [exclusive wake-ups](#exclusive-wake-ups-epoll-only)).
//! A read that returns 0 is how it learns of the peer's end of stream.
//!
//! The event is readable in every row that has one. A TCP peer's close is
//! a FIN, the same as its `shutdown(Write)`: the connection is half-closed
//! and still writable, so there is no hang-up; only a reset ends both
//! directions (and sets `SO_ERROR` to `ECONNRESET`). A Unix stream peer's
//! close ends both directions at once: hang-up. Unix sockets ignore
//! `SO_LINGER`. UDP has no connection: nothing reaches the other socket.
//! `tests/poll_extras.rs` checks this table.
//!
//! # Modes
//!
//! - **Level** (the default): an fd is reported by every wait while it is
//!   ready. Read until `WouldBlock`, or it comes back at once.
//! - **Oneshot** ([`Interest::oneshot`]): after one event the registration
//!   is disarmed until [`Poller::reregister`]. Native `EPOLLONESHOT` on
//!   epoll, emulated exactly (in user space, no syscall) on select and poll.
//! - **Edge** ([`Interest::edge`]): reported once per change of state.
//!   epoll only; the others refuse it with `ErrorKind::Unsupported` before
//!   any change. [`Backend::supports`] answers before anyone has to try.
//!
//! # Exclusive wake-ups (epoll only)
//!
//! [`Interest::exclusive`] registers with `EPOLLEXCLUSIVE`:
//! `epoll_ctl(epfd, EPOLL_CTL_ADD, fd, {EPOLLIN | EPOLLEXCLUSIVE, ...})`.
//! It is a registration option, not a mode: it combines with level and
//! edge mode. It is for one fd watched by several epoll instances, each
//! with a thread blocked in its wait: a listening socket shared by a
//! daemon's loops, one per core.
//!
//! Without it, a new connection wakes every instance that watches the
//! listener, and every thread but one then finds nothing to accept (the
//! thundering herd). With it, the kernel walks the listener's wait queue
//! and stops at the first exclusive instance that has a thread blocked in
//! its wait: *one or more* instances get the event, not all. An exclusive
//! instance the walk passes on the way, with no thread in its wait, still
//! gets the event queued, and its next wait reports it (by then another
//! loop may have taken the connection: `accept` answers `WouldBlock`).
//! Instances that registered the fd without the option are all woken, as
//! before. `tests/poll_exclusive.rs` shows each of these.
//!
//! It balances nothing. The walk follows the order in which the instances
//! registered, so the first to register gets the connection whenever it
//! is waiting, and keeps getting them while it keeps up; Cloudflare
//! describes the result as last-in-first-out wake-ups, one busy worker
//! taking most of the load ([Why does one NGINX worker take all the
//! load?][cloudflare], Marek Majkowski, 2017). nginx's answer is to
//! deregister and register its listener again every 16 connections
//! (`ngx_reorder_accept_events`), which moves the instance to the end of
//! the walk; for balance by the kernel, give each loop its own listener
//! in an `SO_REUSEPORT` group instead.
//!
//! What the kernel accepts, and what each backend answers:
//!
//! - The kernel takes `EPOLLEXCLUSIVE` only with `EPOLLIN`, `EPOLLOUT`,
//!   `EPOLLET` (and `EPOLLERR`, `EPOLLHUP`, `EPOLLWAKEUP`), only on
//!   `EPOLL_CTL_ADD`, and never for an fd that is itself an epoll
//!   instance; the rest is `EINVAL`. So an exclusive registration asks for
//!   plain `EPOLLIN` and `EPOLLOUT`: not the other bits of select's sets
//!   (`EPOLLRDNORM`, `EPOLLRDBAND`, `EPOLLWRNORM`, `EPOLLWRBAND`), which a
//!   socket reports beside `EPOLLIN` and `EPOLLOUT` anyway, and not
//!   `EPOLLRDHUP`: no read-hang-up extra (see the
//!   [extras table](#extras-error-hang-up-read-hang-up)). Error and
//!   hang-up come as always.
//! - [`Epoll`] refuses an exclusive interest with priority or oneshot
//!   before the syscall, with the kernel's own answer: `EINVAL`
//!   (`ErrorKind::InvalidInput`).
//! - [`Poller::reregister`] on [`Epoll`] of an exclusive registration, or
//!   to an exclusive interest, is `EINVAL` (`InvalidInput`), before the
//!   syscall, and the registration stays as it was. The kernel refuses
//!   every `EPOLL_CTL_MOD` of an exclusive registration, so the only way
//!   to change one is `EPOLL_CTL_DEL` then `EPOLL_CTL_ADD`; the backend
//!   does not hide that behind `reregister`: it would be two syscalls
//!   where every other `reregister` is one, a failed `ADD` would leave the
//!   fd unregistered (no other `reregister` failure loses the
//!   registration), and the `ADD` moves the instance to the end of the
//!   listener's walk, which changes which loop gets the next connection.
//!   Call [`Poller::deregister`] and [`Poller::register`] yourself: each
//!   step and its error is yours to see. Between the two this instance
//!   does not watch the fd: a connection that arrives then wakes another
//!   waiting instance, if there is one, and nothing is lost, since `ADD`
//!   checks the fd at once and queues it if it is still ready.
//! - [`Select`], [`SelectGrowable`] and [`Poll`] refuse an exclusive
//!   interest with `ErrorKind::Unsupported` on register and reregister,
//!   before any change, as they refuse edge mode.
//!   [`Backend::supports_exclusive`] answers before anyone has to try.
//!
//! [cloudflare]: https://blog.cloudflare.com/the-sad-state-of-linux-socket-balancing/
//!
//! # Errors every backend shares
//!
//! - registering an fd that is already registered: `EEXIST`
//!   (`ErrorKind::AlreadyExists`);
//! - reregistering or deregistering an fd that is not registered: `ENOENT`
//!   (`ErrorKind::NotFound`);
//! - [`Interest::edge`] or [`Interest::exclusive`] on select or poll:
//!   `ErrorKind::Unsupported`;
//! - [`Select`] and an fd at or above `FD_SETSIZE`: `ErrorKind::InvalidInput`
//!   at register time, never a write past an `fd_set`;
//! - `wait` interrupted by a signal: `ErrorKind::Interrupted` (`EINTR`),
//!   never retried: the caller's loop decides.
//!
//! # Timeouts
//!
//! `None` blocks; `Some(Duration::ZERO)` returns at once; anything else is
//! rounded *up* to the backend's granularity, never down, so a 0.5 ms wait
//! never becomes a busy poll: poll and `epoll_wait` have milliseconds,
//! select has microseconds, `epoll_pwait2` nanoseconds. [`Epoll`] uses
//! `epoll_pwait2` when the timeout has a sub-millisecond part and falls
//! back to `epoll_wait` for good when the kernel (or a seccomp filter, or
//! valgrind) answers `ENOSYS` or `EPERM`.
//!
//! # Costs
//!
//! Every wait is one syscall. Nothing is re-armed per wait: no `epoll_ctl`,
//! no timerfd, no eventfd read unless a [`Waker`]'s token is reported (then
//! poll and select reset it with one `read`; epoll registers it
//! edge-triggered and needs none). An echo in level mode costs exactly
//! three syscalls on every backend: wait, `recv`, `send`. [`Events`] has a
//! fixed capacity; `wait` replaces its contents and allocates nothing. When
//! more fds are ready than it holds, the rest stay ready and come back on
//! later waits: poll and select rotate where their scan starts, as epoll's
//! ready list does, so no ready fd starves.
//!
//! # Threads
//!
//! Every method takes `&mut self`: one thread drives a poller. A poller is
//! `Send`, so it can move to another thread. A program that wants to
//! register from other threads sends the request through a channel and
//! wakes the poller's thread with a [`Waker`] (`Send + Sync`), or runs one
//! poller per thread.
//!
//! # Sockets, timers, signals and wakes in one loop
//!
//! Besides sockets, three kinds of fd from the kernel make everything a
//! daemon waits for show up in the same wait, on any backend, each
//! registered for [`Interest::READABLE`] like a socket:
//!
//! - [`Waker`] (eventfd): another thread wakes the poller.
//! - [`Timer`] (timerfd): one-shot or periodic; readable once expired,
//!   [`Timer::read`] says how many times.
//! - [`Signals`] (signalfd): readable while a signal of its set is pending,
//!   [`Signals::read`] takes it. The signals must be blocked in every
//!   thread first: [`block_signals`] at the top of `main`, before any
//!   thread starts (its docs say why).
//!
//! In level mode, a timer or signalfd that is not read is reported by
//! every wait; read it in the handler. `examples/daemon.rs` puts them all
//! in one loop.
//!
//! # Closing an fd while it is registered
//!
//! Deregister before close. A registration whose fd was closed is a caller
//! bug, and its outcome differs by backend (none of this is part of the
//! shared contract):
//!
//! - [`Poll`]: the kernel answers `POLLNVAL`; the wait reports an event with
//!   [`Event::is_error`] set and readable/writable/priority set as far as
//!   the interest asks, so the next `recv` shows the caller `EBADF`.
//! - [`Select`], [`SelectGrowable`]: the kernel fails the whole `select`
//!   with `EBADF`. The backend finds the closed numbers with one
//!   `fcntl(F_GETFD)` each, reports the same error event for them, and
//!   polls the others once more with a zero timeout: the wait does not
//!   fail as a whole. The error events take their turn in the rotating
//!   scan with the live fds, so however many fds were closed, every ready
//!   fd is still reported within ceil(ready / capacity) waits. A closed
//!   number at or above the size of the process's fd table (which grows
//!   as fds are opened, and which `fork` copies at the size of the fds
//!   open then) gets no `EBADF`: the kernel caps `nfds` at the table's
//!   size and leaves the bits above as they were given. The backend counts
//!   the bits left set (no syscall; only when the highest registered fd is
//!   at least 64, below which every number is inside the table), and when
//!   they outnumber select's answer it runs the same recovery. Such an fd
//!   does not wake the wait: it is reported when the wait returns for a
//!   ready fd or its timeout.
//! - [`Epoll`]: the kernel forgets the registration when the last fd of
//!   the open file closes ([epoll(7)], question 6). If a duplicate
//!   (`dup`, `fork`, `SCM_RIGHTS`) is still open, the kernel keeps the
//!   registration and its events come under the old token, and it can no
//!   longer be removed through the closed number (closing the duplicate
//!   ends it).
//!
//! Once the number is reused by a new socket, poll and select watch the new
//! socket under the old token: they hold numbers, not files, so registering
//! the number again is `EEXIST` (a `reregister` of it works, and
//! `deregister` removes it). epoll accepts the new registration, the new
//! file being one it has never seen, and answers `ENOENT` to `reregister`
//! and `deregister` of a reused number it was not given again. The
//! differential test (`tests/poll_differential.rs`) compares the backends
//! on exactly these answers.
//!
//! Registering the number again is also when epoll frees what it kept for
//! the closed fd, as does a `reregister` or `deregister` of it that the
//! kernel answers `ENOENT`; until then the poller's `Debug` counts it. A
//! program that never deregisters thus holds memory for the fd numbers in
//! use, not for every connection it ever had. From then on a duplicate's
//! events for the old registration are dropped, never reported under the
//! new token or any other; but the kernel still wakes the wait for them:
//! in level mode, while the duplicate is ready, each wait returns at once
//! with nothing for it, until the duplicate is drained or closed.
//!
//! [epoll(7)]: https://man7.org/linux/man-pages/man7/epoll.7.html
//!
//! # Examples
//!
//! The same readiness loop on every backend, chosen by name at run time:
//!
//! ```
//! use baresock::poll::{Backend, Events, Interest, Token};
//! use baresock::{Domain, OwnedSocket, Protocol, Type};
//! use std::os::fd::AsFd;
//! use std::time::Duration;
//!
//! for name in ["select", "select-growable", "poll", "epoll"] {
//!     let mut poller = name.parse::<Backend>()?.build()?;
//!     let (ours, peer) =
//!         OwnedSocket::pair_nonblocking(Domain::UNIX, Type::STREAM, Protocol::DEFAULT)?;
//!     poller.register(ours.as_fd(), Token(1), Interest::READABLE)?;
//!     let mut events = Events::with_capacity(16);
//!     // Nothing to read yet: a zero timeout returns at once, empty.
//!     assert_eq!(poller.wait(&mut events, Some(Duration::ZERO))?, 0);
//!     peer.send(b"ping")?;
//!     assert_eq!(poller.wait(&mut events, Some(Duration::from_secs(5)))?, 1);
//!     let event = events.iter().next().unwrap();
//!     assert_eq!(event.token(), Token(1));
//!     assert!(event.is_readable() && !event.is_writable());
//!     // Deregister before the socket closes.
//!     poller.deregister(ours.as_fd())?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # References
//! [select(2)](https://man7.org/linux/man-pages/man2/select.2.html),
//! [poll(2)](https://man7.org/linux/man-pages/man2/poll.2.html),
//! [epoll(7)](https://man7.org/linux/man-pages/man7/epoll.7.html),
//! [epoll_ctl(2)](https://man7.org/linux/man-pages/man2/epoll_ctl.2.html),
//! [epoll_wait(2)](https://man7.org/linux/man-pages/man2/epoll_wait.2.html),
//! [eventfd(2)](https://man7.org/linux/man-pages/man2/eventfd.2.html),
//! [timerfd_create(2)](https://man7.org/linux/man-pages/man2/timerfd_create.2.html),
//! [signalfd(2)](https://man7.org/linux/man-pages/man2/signalfd.2.html)

mod epoll;
mod fdmap;
#[allow(
    clippy::module_inception,
    reason = "the poll(2) backend of the poll module: the syscall's name is the right name for it"
)]
mod poll;
mod select;
mod source;

pub use epoll::Epoll;
pub use poll::Poll;
pub use select::{Select, SelectGrowable};
pub use source::{
    Signal, SignalInfo, SignalSet, Signals, Timer, TimerSetting, Waker, WakerFd, block_signals,
    blocked_signals, unblock_signals,
};

use std::fmt;
use std::io;
use std::num::NonZeroU8;
use std::os::fd::BorrowedFd;
use std::str::FromStr;
use std::time::Duration;

/// Your name for a registered fd, handed back in every [`Event`] for it.
///
/// The poller never interprets it; an index into your table of connections
/// is the usual choice. Two registrations may share a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(pub usize);

/// What to watch an fd for: readable, writable, priority, never empty, and
/// a mode (level by default, [`oneshot`](Interest::oneshot),
/// [`edge`](Interest::edge)), plus, on epoll, the registration option
/// [`exclusive`](Interest::exclusive).
///
/// Combine with `|`: `Interest::READABLE | Interest::WRITABLE`. There is no
/// empty interest (the value is a `NonZeroU8`); to stop watching an fd,
/// deregister it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interest(NonZeroU8);

const I_READABLE: u8 = 1;
const I_WRITABLE: u8 = 2;
const I_PRIORITY: u8 = 4;
const I_ONESHOT: u8 = 8;
const I_EDGE: u8 = 16;
const I_EXCLUSIVE: u8 = 32;

impl Interest {
    /// Readable: a `recv` (or `accept`) would not block. select's
    /// `readfds`, poll's `POLLIN`, epoll's `EPOLLIN`.
    pub const READABLE: Interest = Interest(NonZeroU8::new(I_READABLE).unwrap());
    /// Writable: a `send` (or a nonblocking `connect`'s outcome) would not
    /// block. select's `writefds`, `POLLOUT`, `EPOLLOUT`.
    pub const WRITABLE: Interest = Interest(NonZeroU8::new(I_WRITABLE).unwrap());
    /// Priority: out-of-band (TCP urgent) data waits. select's
    /// `exceptfds`, `POLLPRI`, `EPOLLPRI`. Alone, on poll and epoll, a
    /// peer's hang-up makes every wait return at once with no event (see
    /// the [module docs](self)): combine it with [`Interest::READABLE`].
    pub const PRIORITY: Interest = Interest(NonZeroU8::new(I_PRIORITY).unwrap());

    /// The same interest in oneshot mode (`EPOLLONESHOT`): after one event
    /// the registration is disarmed until [`Poller::reregister`].
    pub const fn oneshot(self) -> Interest {
        self.with(I_ONESHOT)
    }

    /// The same interest in edge-triggered mode (`EPOLLET`): reported once
    /// per change. epoll only (see [`Backend::supports`]).
    pub const fn edge(self) -> Interest {
        self.with(I_EDGE)
    }

    /// The same interest with exclusive wake-ups (`EPOLLEXCLUSIVE`):
    /// `epoll_ctl(epfd, EPOLL_CTL_ADD, fd, {EPOLLIN | EPOLLEXCLUSIVE,
    /// ...})`. epoll only (see [`Backend::supports_exclusive`]).
    ///
    /// A registration option, not a [`Mode`]: it combines with level and
    /// edge mode, but not with oneshot, and only with readable and
    /// writable, never priority. What the kernel does with it, and what
    /// each backend answers, is written once in the
    /// [module docs](self#exclusive-wake-ups-epoll-only).
    #[doc(alias = "EPOLLEXCLUSIVE")]
    pub const fn exclusive(self) -> Interest {
        self.with(I_EXCLUSIVE)
    }

    const fn with(self, bit: u8) -> Interest {
        match NonZeroU8::new(self.0.get() | bit) {
            Some(v) => Interest(v),
            None => self,
        }
    }

    /// The union of two interests (their readiness and their modes).
    pub const fn add(self, other: Interest) -> Interest {
        self.with(other.0.get())
    }

    /// Whether readable is asked for.
    pub const fn is_readable(self) -> bool {
        self.0.get() & I_READABLE != 0
    }

    /// Whether writable is asked for.
    pub const fn is_writable(self) -> bool {
        self.0.get() & I_WRITABLE != 0
    }

    /// Whether priority is asked for.
    pub const fn is_priority(self) -> bool {
        self.0.get() & I_PRIORITY != 0
    }

    /// Whether the registration is oneshot.
    pub const fn is_oneshot(self) -> bool {
        self.0.get() & I_ONESHOT != 0
    }

    /// Whether the registration is edge-triggered.
    pub const fn is_edge(self) -> bool {
        self.0.get() & I_EDGE != 0
    }

    /// Whether the registration asks for exclusive wake-ups
    /// ([`Interest::exclusive`]).
    pub const fn is_exclusive(self) -> bool {
        self.0.get() & I_EXCLUSIVE != 0
    }

    /// The modes this interest needs from a backend: [`Mode::Edge`] if it
    /// is edge-triggered (oneshot or not), else [`Mode::Oneshot`] or
    /// [`Mode::Level`].
    pub const fn mode(self) -> Mode {
        if self.is_edge() {
            Mode::Edge
        } else if self.is_oneshot() {
            Mode::Oneshot
        } else {
            Mode::Level
        }
    }

    /// The `events` a `struct pollfd` asks for: readable is `POLLIN |
    /// POLLRDNORM | POLLRDBAND | POLLRDHUP`, writable `POLLOUT | POLLWRNORM
    /// | POLLWRBAND`, priority `POLLPRI` (the sets select asks the kernel
    /// for, plus `POLLRDHUP` for the read-hang-up extra).
    pub const fn poll_events(self) -> libc::c_short {
        let mut e = 0;
        if self.is_readable() {
            e |= libc::POLLIN | libc::POLLRDNORM | libc::POLLRDBAND | libc::POLLRDHUP;
        }
        if self.is_writable() {
            e |= libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND;
        }
        if self.is_priority() {
            e |= libc::POLLPRI;
        }
        e
    }

    /// The `events` of a `struct epoll_event` for this interest: the same
    /// readiness flags as [`Interest::poll_events`] in their `EPOLL*`
    /// spelling, plus `EPOLLONESHOT` and `EPOLLET` for the modes.
    ///
    /// An [exclusive](Interest::exclusive) interest is `EPOLLEXCLUSIVE`
    /// with plain `EPOLLIN` for readable and plain `EPOLLOUT` for
    /// writable: the kernel refuses `EPOLLEXCLUSIVE` beside `EPOLLRDNORM`,
    /// `EPOLLRDBAND`, `EPOLLRDHUP`, `EPOLLWRNORM` and `EPOLLWRBAND`
    /// (`EINVAL`), so there is no read-hang-up extra. Priority and oneshot
    /// still give `EPOLLPRI` and `EPOLLONESHOT`, which the kernel refuses
    /// beside it too; [`Epoll`] refuses such an interest before the
    /// syscall.
    pub const fn epoll_events(self) -> u32 {
        let mut e = 0;
        let exclusive = self.is_exclusive();
        if self.is_readable() {
            e |= libc::EPOLLIN;
            if !exclusive {
                e |= libc::EPOLLRDNORM | libc::EPOLLRDBAND | libc::EPOLLRDHUP;
            }
        }
        if self.is_writable() {
            e |= libc::EPOLLOUT;
            if !exclusive {
                e |= libc::EPOLLWRNORM | libc::EPOLLWRBAND;
            }
        }
        if self.is_priority() {
            e |= libc::EPOLLPRI;
        }
        if self.is_oneshot() {
            e |= libc::EPOLLONESHOT;
        }
        if self.is_edge() {
            e |= libc::EPOLLET;
        }
        if exclusive {
            e |= libc::EPOLLEXCLUSIVE;
        }
        e as u32
    }
}

impl std::ops::BitOr for Interest {
    type Output = Interest;
    fn bitor(self, rhs: Interest) -> Interest {
        self.add(rhs)
    }
}

impl std::ops::BitOrAssign for Interest {
    fn bitor_assign(&mut self, rhs: Interest) {
        *self = self.add(rhs);
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (I_READABLE, "READABLE"),
            (I_WRITABLE, "WRITABLE"),
            (I_PRIORITY, "PRIORITY"),
            (I_ONESHOT, "ONESHOT"),
            (I_EDGE, "EDGE"),
            (I_EXCLUSIVE, "EXCLUSIVE"),
        ];
        let mut first = true;
        for (bit, name) in names {
            if self.0.get() & bit != 0 {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// How a registration reports readiness.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Reported by every wait while ready (the default; select's and
    /// poll's only native mode).
    Level,
    /// Reported once, then disarmed until reregistered.
    Oneshot,
    /// Reported once per change of state (`EPOLLET`; epoll only).
    Edge,
}

/// One ready fd: its [`Token`], the shared readiness flags, and the
/// extras the backend could see.
///
/// See the [module docs](self) for what each flag means on each backend.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Event {
    token: Token,
    flags: u8,
}

const E_READABLE: u8 = 1;
const E_WRITABLE: u8 = 2;
const E_PRIORITY: u8 = 4;
const E_ERROR: u8 = 8;
const E_HANGUP: u8 = 16;
const E_READ_HANGUP: u8 = 32;

/// The flags the kernel's select counts as readable, writable, priority
/// (`POLLIN_SET`, `POLLOUT_SET`, `POLLEX_SET` in fs/select.c), as epoll
/// flags.
const EPOLL_READ_SET: u32 =
    (libc::EPOLLIN | libc::EPOLLRDNORM | libc::EPOLLRDBAND | libc::EPOLLHUP | libc::EPOLLERR)
        as u32;
const EPOLL_WRITE_SET: u32 =
    (libc::EPOLLOUT | libc::EPOLLWRNORM | libc::EPOLLWRBAND | libc::EPOLLERR) as u32;
const EPOLL_EX_SET: u32 = libc::EPOLLPRI as u32;

/// The same sets as poll flags.
const POLL_READ_SET: libc::c_short =
    libc::POLLIN | libc::POLLRDNORM | libc::POLLRDBAND | libc::POLLHUP | libc::POLLERR;
const POLL_WRITE_SET: libc::c_short =
    libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND | libc::POLLERR;
const POLL_EX_SET: libc::c_short = libc::POLLPRI;

// An event's readiness bits are the interest's bits for the same
// readiness, so masking by interest is one AND (every wait does it for
// every ready fd).
static_assertions::const_assert!(
    E_READABLE == I_READABLE && E_WRITABLE == I_WRITABLE && E_PRIORITY == I_PRIORITY
);

impl Event {
    /// The event for readiness `r`, `w`, `p` masked by `interest`; `None`
    /// when nothing is left.
    fn build(token: Token, interest: Interest, r: bool, w: bool, p: bool) -> Option<Event> {
        let ready =
            (u8::from(r) * E_READABLE) | (u8::from(w) * E_WRITABLE) | (u8::from(p) * E_PRIORITY);
        // The interest's mode bits (oneshot, edge) are above the readiness
        // bits, so the AND drops them.
        let flags = ready & interest.0.get();
        (flags != 0).then_some(Event { token, flags })
    }

    fn with_extras(mut self, error: bool, hangup: bool, read_hangup: bool) -> Event {
        self.flags |= (u8::from(error) * E_ERROR)
            | (u8::from(hangup) * E_HANGUP)
            | (u8::from(read_hangup) * E_READ_HANGUP);
        self
    }

    /// The event for an fd the caller closed while registered (poll's
    /// `POLLNVAL`, select's `EBADF`): error, plus every readiness flag the
    /// interest asks for, so a caller that only looks at readiness tries
    /// the fd and sees `EBADF`.
    fn closed(token: Token, interest: Interest) -> Event {
        let e = Event::build(token, interest, true, true, true);
        // An interest is never empty, so `build` always gives an event.
        let e = e.unwrap_or(Event { token, flags: 0 });
        e.with_extras(true, false, false)
    }

    /// Translates select's answer for one fd — whether it came back in
    /// `readfds`, `writefds`, `exceptfds` — into an event, masked by
    /// `interest`. `None` when nothing is left. select has no extras.
    ///
    /// A pure function (no syscall), so fuzzers and Miri can drive it.
    pub fn from_select(
        token: Token,
        interest: Interest,
        read: bool,
        write: bool,
        except: bool,
    ) -> Option<Event> {
        Event::build(token, interest, read, write, except)
    }

    /// Translates a `pollfd`'s `revents` into an event, masked by
    /// `interest`, through the kernel's select mapping (readable = `IN |
    /// RDNORM | RDBAND | HUP | ERR`, writable = `OUT | WRNORM | WRBAND |
    /// ERR`, priority = `PRI`). `None` when nothing is left after masking.
    /// `POLLNVAL` (the fd was closed while registered) gives an error
    /// event with every readiness flag of the interest. The extras are
    /// `ERR`, `HUP` and `RDHUP`.
    ///
    /// A pure function (no syscall), so fuzzers and Miri can drive it.
    pub fn from_poll(token: Token, interest: Interest, revents: libc::c_short) -> Option<Event> {
        if revents & libc::POLLNVAL != 0 {
            return Some(Event::closed(token, interest));
        }
        let e = Event::build(
            token,
            interest,
            revents & POLL_READ_SET != 0,
            revents & POLL_WRITE_SET != 0,
            revents & POLL_EX_SET != 0,
        )?;
        Some(e.with_extras(
            revents & libc::POLLERR != 0,
            revents & libc::POLLHUP != 0,
            revents & libc::POLLRDHUP != 0,
        ))
    }

    /// Translates an `epoll_event`'s `events` into an event, masked by
    /// `interest`, through the same mapping as [`Event::from_poll`].
    /// `None` when nothing is left after masking. The extras are
    /// `EPOLLERR`, `EPOLLHUP` and `EPOLLRDHUP`.
    ///
    /// A pure function (no syscall), so fuzzers and Miri can drive it.
    pub fn from_epoll(token: Token, interest: Interest, events: u32) -> Option<Event> {
        let e = Event::build(
            token,
            interest,
            events & EPOLL_READ_SET != 0,
            events & EPOLL_WRITE_SET != 0,
            events & EPOLL_EX_SET != 0,
        )?;
        Some(e.with_extras(
            events & libc::EPOLLERR as u32 != 0,
            events & libc::EPOLLHUP as u32 != 0,
            events & libc::EPOLLRDHUP as u32 != 0,
        ))
    }

    /// The token the fd was registered with.
    pub fn token(&self) -> Token {
        self.token
    }

    /// Readable: a `recv` would not block (data, end of stream, an error,
    /// or a connection waiting on a listener).
    pub fn is_readable(&self) -> bool {
        self.flags & E_READABLE != 0
    }

    /// Writable: a `send` would not block, or a nonblocking connect has
    /// finished (read `SO_ERROR` for how).
    pub fn is_writable(&self) -> bool {
        self.flags & E_WRITABLE != 0
    }

    /// Priority: out-of-band data waits (`recv` with `MSG_OOB`).
    pub fn is_priority(&self) -> bool {
        self.flags & E_PRIORITY != 0
    }

    /// Extra: the kernel reported an error (`ERR`): `SO_ERROR` holds it.
    /// Never set by select, except for an fd closed while registered.
    pub fn is_error(&self) -> bool {
        self.flags & E_ERROR != 0
    }

    /// Extra: hang-up (`HUP`): both directions are finished. Never set by
    /// select.
    pub fn is_hangup(&self) -> bool {
        self.flags & E_HANGUP != 0
    }

    /// Extra: read hang-up (`RDHUP`): the peer will send nothing more.
    /// Reported only with readable interest; never set by select.
    pub fn is_read_hangup(&self) -> bool {
        self.flags & E_READ_HANGUP != 0
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("token", &self.token)
            .field("readable", &self.is_readable())
            .field("writable", &self.is_writable())
            .field("priority", &self.is_priority())
            .field("error", &self.is_error())
            .field("hangup", &self.is_hangup())
            .field("read_hangup", &self.is_read_hangup())
            .finish()
    }
}

/// The events one [`Poller::wait`] reported: a buffer of fixed capacity,
/// made once and reused.
///
/// `wait` replaces its contents and allocates nothing. When more fds are
/// ready than it holds, the rest stay ready and come back on later waits.
pub struct Events {
    list: Vec<Event>,
    /// epoll's output array, made once here so that a wait never
    /// allocates.
    raw: Vec<libc::epoll_event>,
}

impl Events {
    /// The most events one `epoll_wait` can return: the kernel refuses a
    /// larger `maxevents` with `EINVAL` (`EP_MAX_EVENTS`, `INT_MAX /
    /// sizeof(struct epoll_event)`).
    pub const MAX_CAPACITY: usize =
        libc::c_int::MAX as usize / std::mem::size_of::<libc::epoll_event>();

    /// A buffer for at most `capacity` events per wait: at least one (a
    /// capacity of 0 is taken as 1, since a wait must be able to report)
    /// and at most [`Events::MAX_CAPACITY`] (a larger one is taken as
    /// that).
    ///
    /// # Panics
    ///
    /// As `Vec::with_capacity`, when the memory cannot be had; use
    /// [`Events::try_with_capacity`] to get an error instead.
    pub fn with_capacity(capacity: usize) -> Events {
        match Events::try_with_capacity(capacity) {
            Ok(events) => events,
            Err(e) => panic!("Events::with_capacity({capacity}): {e}"),
        }
    }

    /// The capacity a request gets: `1..=MAX_CAPACITY`.
    fn clamped(capacity: usize) -> usize {
        capacity.clamp(1, Events::MAX_CAPACITY)
    }

    /// As [`Events::with_capacity`], without a panic: the memory is
    /// reserved fallibly.
    ///
    /// # Errors
    ///
    /// `ENOMEM` (`OutOfMemory`): the buffers for the capacity (after the
    /// clamp to `1..=MAX_CAPACITY`) cannot be allocated.
    pub fn try_with_capacity(capacity: usize) -> io::Result<Events> {
        let capacity = Events::clamped(capacity);
        let mut list = Vec::new();
        let mut raw = Vec::new();
        list.try_reserve_exact(capacity)
            .and_then(|()| raw.try_reserve_exact(capacity))
            .map_err(|_| io::Error::from_raw_os_error(libc::ENOMEM))?;
        raw.resize(capacity, libc::epoll_event { events: 0, u64: 0 });
        Ok(Events { list, raw })
    }

    /// How many events a wait can report.
    pub fn capacity(&self) -> usize {
        self.raw.len()
    }

    /// How many events the last wait reported.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether the last wait reported nothing.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The events of the last wait.
    pub fn iter(&self) -> std::slice::Iter<'_, Event> {
        self.list.iter()
    }

    /// Empties the buffer (`wait` does it first).
    pub fn clear(&mut self) {
        self.list.clear();
    }

    fn is_full(&self) -> bool {
        self.list.len() >= self.raw.len()
    }

    fn push(&mut self, e: Event) {
        debug_assert!(!self.is_full());
        self.list.push(e);
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = &'a Event;
    type IntoIter = std::slice::Iter<'a, Event>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("capacity", &self.capacity())
            .field("events", &self.list)
            .finish()
    }
}

/// Something that watches fds for readiness: select, poll or epoll.
///
/// Object-safe (`Box<dyn Poller>` works, and [`Backend::build`] returns
/// one) and `Send`. Every contract — readiness meaning, modes, timeouts,
/// errors, costs, closed-while-registered — is written once in the
/// [module docs](self) and holds for every implementation.
pub trait Poller: Send + fmt::Debug {
    /// `epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event)` on [`Epoll`]; no
    /// syscall on the others — start watching `fd` for `interest`,
    /// reporting it as `token`.
    ///
    /// The poller keeps the fd's *number*, not the fd: deregister before
    /// you close it (see the module docs for what happens otherwise).
    ///
    /// # Errors
    ///
    /// - `EEXIST` (`AlreadyExists`): `fd` is already registered here. On
    ///   poll and select also a number still registered for an fd that was
    ///   closed without deregistering and whose number the kernel handed
    ///   to `fd`; epoll accepts `fd` then (see the module docs).
    /// - `Unsupported`: [`Interest::edge`] on a backend without edge mode,
    ///   [`Interest::exclusive`] on one without exclusive wake-ups (see
    ///   [`Backend::supports`], [`Backend::supports_exclusive`]).
    /// - `InvalidInput`: [`Select`] and `fd >= FD_SETSIZE`.
    /// - Epoll: `EINVAL` (`InvalidInput`) for [`Interest::exclusive`] with
    ///   priority or oneshot, which the kernel refuses beside
    ///   `EPOLLEXCLUSIVE` (no syscall made: the same errno as the
    ///   kernel's); from the kernel, for an exclusive registration of an fd
    ///   that is itself an epoll instance.
    /// - Epoll: `EPERM` for a file epoll cannot watch (a regular file or
    ///   a directory).
    /// - `ENOMEM` (`OutOfMemory`): the table that finds registrations by fd
    ///   number (4 bytes per number up to the highest registered), or the
    ///   growable select's sets, cannot grow to reach this fd's number.
    /// - `EBADF`: a negative fd number, which only a `BorrowedFd` made
    ///   with `borrow_raw` against its contract can carry; on [`Epoll`]
    ///   also a number that is not open (the kernel checks at
    ///   `EPOLL_CTL_ADD`; poll and select find out at the next wait, see
    ///   the module docs on closed fds).
    fn register(&mut self, fd: BorrowedFd<'_>, token: Token, interest: Interest) -> io::Result<()>;

    /// `epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &event)` on [`Epoll`]; no
    /// syscall on the others — change the token and interest of a
    /// registered fd; also re-arms a oneshot registration.
    ///
    /// # Errors
    ///
    /// - `ENOENT` (`NotFound`): `fd` is not registered here.
    /// - `Unsupported`: [`Interest::edge`] or [`Interest::exclusive`] on a
    ///   backend without it; the registration is left as it was.
    /// - Epoll: `EINVAL` (`InvalidInput`) when the registration or the new
    ///   interest is [exclusive](Interest::exclusive): the kernel refuses
    ///   every `EPOLL_CTL_MOD` of one, so no syscall is made and the
    ///   registration is left as it was. Deregister and register instead
    ///   (the [module docs](self#exclusive-wake-ups-epoll-only) say why
    ///   this is not done for you).
    fn reregister(
        &mut self,
        fd: BorrowedFd<'_>,
        token: Token,
        interest: Interest,
    ) -> io::Result<()>;

    /// `epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &event)` on [`Epoll`]; no
    /// syscall on the others — stop watching `fd`.
    ///
    /// # Errors
    ///
    /// - `ENOENT` (`NotFound`): `fd` is not registered here.
    fn deregister(&mut self, fd: BorrowedFd<'_>) -> io::Result<()>;

    /// `select(nfds, readfds, writefds, exceptfds, timeout)` (the kernel's
    /// `pselect6`), `poll(fds, nfds, timeout)` or `epoll_wait(epfd, events,
    /// maxevents, timeout)` (`epoll_pwait2` for a sub-millisecond timeout)
    /// — wait until a registered fd is ready or `timeout` passes.
    ///
    /// Fills `events` with what is ready and returns how many events it
    /// holds (0 on timeout).
    ///
    /// One syscall (plus the reset `read` of a [`Waker`] reported on poll
    /// or select); no allocation. See the module docs for timeout
    /// rounding.
    ///
    /// # Errors
    ///
    /// - `EINTR` (`Interrupted`): a signal arrived; nothing is reported
    ///   and nothing is lost. Never retried.
    /// - Poll: `EINVAL` when more fds are registered than
    ///   `RLIMIT_NOFILE` allows.
    fn wait(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize>;

    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// `epoll_ctl(epfd, EPOLL_CTL_ADD, eventfd, &event)` (edge-triggered)
    /// on [`Epoll`]; no syscall on the others — register a [`Waker`]'s
    /// eventfd.
    ///
    /// The poller shares ownership of the eventfd, so the fd stays open
    /// while it is registered. [`Waker::new`] calls it; you need not.
    ///
    /// # Errors
    ///
    /// As [`Poller::register`].
    fn register_waker(&mut self, waker: WakerFd, token: Token) -> io::Result<()>;
}

/// Which readiness syscall to use, chosen at run time.
///
/// `"select"`, `"select-growable"`, `"poll"` and `"epoll"` parse into it,
/// so a program can take its backend from an argument or the environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Backend {
    /// [`Select`]: `select(2)` over `fd_set`s, fds below `FD_SETSIZE`.
    Select,
    /// [`SelectGrowable`]: `select(2)` with sets sized to the highest fd.
    SelectGrowable,
    /// [`Poll`]: `poll(2)`.
    Poll,
    /// [`Epoll`]: `epoll(7)`, the default.
    #[default]
    Epoll,
}

impl Backend {
    /// Every backend, in the order of the module's table.
    pub const ALL: [Backend; 4] = [
        Backend::Select,
        Backend::SelectGrowable,
        Backend::Poll,
        Backend::Epoll,
    ];

    /// The backend's name, as [`FromStr`] parses it.
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Select => "select",
            Backend::SelectGrowable => "select-growable",
            Backend::Poll => "poll",
            Backend::Epoll => "epoll",
        }
    }

    /// `epoll_create1(EPOLL_CLOEXEC)` for [`Backend::Epoll`]; no syscall
    /// for the others — make a poller of this kind.
    ///
    /// # Errors
    ///
    /// Epoll: `EMFILE` (the process is at `RLIMIT_NOFILE`), `ENFILE`
    /// (the system-wide limit).
    pub fn build(self) -> io::Result<Box<dyn Poller>> {
        Ok(match self {
            Backend::Select => Box::new(Select::new()),
            Backend::SelectGrowable => Box::new(SelectGrowable::new()),
            Backend::Poll => Box::new(Poll::new()),
            Backend::Epoll => Box::new(Epoll::new()?),
        })
    }

    /// Whether this backend supports `mode`: every backend has level and
    /// oneshot; only epoll has edge.
    pub const fn supports(self, mode: Mode) -> bool {
        match mode {
            Mode::Level | Mode::Oneshot => true,
            Mode::Edge => matches!(self, Backend::Epoll),
        }
    }

    /// Whether this backend has exclusive wake-ups
    /// ([`Interest::exclusive`], `EPOLLEXCLUSIVE`): only epoll. The others
    /// refuse an exclusive interest with `ErrorKind::Unsupported`, as they
    /// refuse edge mode (see the
    /// [module docs](self#exclusive-wake-ups-epoll-only)).
    #[doc(alias = "EPOLLEXCLUSIVE")]
    pub const fn supports_exclusive(self) -> bool {
        matches!(self, Backend::Epoll)
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing an unknown backend name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseBackendError(String);

impl fmt::Display for ParseBackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown backend {:?}: expected select, select-growable, poll or epoll",
            self.0
        )
    }
}

impl std::error::Error for ParseBackendError {}

impl FromStr for Backend {
    type Err = ParseBackendError;
    fn from_str(s: &str) -> Result<Backend, ParseBackendError> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| ParseBackendError(s.to_owned()))
    }
}

fn already_exists() -> io::Error {
    io::Error::from_raw_os_error(libc::EEXIST)
}

fn not_found() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOENT)
}

/// Refuses, on a backend other than epoll, what only epoll has: edge mode
/// and exclusive wake-ups (`Unsupported`, before any change).
fn refuse_epoll_only(backend: Backend, interest: Interest) -> io::Result<()> {
    if interest.is_edge() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{backend} has no edge-triggered mode"),
        ));
    }
    if interest.is_exclusive() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{backend} has no exclusive wake-ups (EPOLLEXCLUSIVE is epoll's)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interest_is_never_empty_and_combines() {
        let i = Interest::READABLE | Interest::WRITABLE;
        assert!(i.is_readable() && i.is_writable() && !i.is_priority());
        assert_eq!(i.mode(), Mode::Level);
        assert_eq!(i.oneshot().mode(), Mode::Oneshot);
        assert_eq!(i.edge().mode(), Mode::Edge);
        assert_eq!(i.oneshot().edge().mode(), Mode::Edge);
        assert_eq!(
            format!("{:?}", i.oneshot()),
            "READABLE | WRITABLE | ONESHOT"
        );
        assert_eq!(size_of::<Option<Interest>>(), 1);
        // Exclusive is no mode: it leaves the mode as it was.
        let x = i.exclusive();
        assert!(x.is_exclusive() && !i.is_exclusive());
        assert_eq!(x.mode(), Mode::Level);
        assert_eq!(x.edge().mode(), Mode::Edge);
        assert_eq!(
            format!("{:?}", x.edge()),
            "READABLE | WRITABLE | EDGE | EXCLUSIVE"
        );
    }

    /// What the kernel is asked for: the select sets plus read-hang-up,
    /// or, exclusive, plain IN and OUT beside EPOLLEXCLUSIVE (the kernel
    /// refuses the rest with it).
    #[test]
    fn epoll_events_of_an_exclusive_interest_are_plain() {
        let (r, w) = (Interest::READABLE, Interest::WRITABLE);
        let bits = |v: libc::c_int| v as u32;
        assert_eq!(
            r.epoll_events(),
            bits(libc::EPOLLIN | libc::EPOLLRDNORM | libc::EPOLLRDBAND | libc::EPOLLRDHUP)
        );
        assert_eq!(
            r.exclusive().epoll_events(),
            bits(libc::EPOLLIN | libc::EPOLLEXCLUSIVE)
        );
        assert_eq!(
            w.exclusive().epoll_events(),
            bits(libc::EPOLLOUT | libc::EPOLLEXCLUSIVE)
        );
        assert_eq!(
            (r | w).edge().exclusive().epoll_events(),
            bits(libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLET | libc::EPOLLEXCLUSIVE)
        );
        // Priority and oneshot are passed on as asked (Epoll refuses them
        // before the kernel would).
        assert_eq!(
            (r | Interest::PRIORITY)
                .oneshot()
                .exclusive()
                .epoll_events(),
            bits(libc::EPOLLIN | libc::EPOLLPRI | libc::EPOLLONESHOT | libc::EPOLLEXCLUSIVE)
        );
        // poll(2) has no such option: the exclusive bit changes nothing.
        assert_eq!(r.exclusive().poll_events(), r.poll_events());
    }

    #[test]
    fn select_mapping_masks_by_interest() {
        let t = Token(7);
        let hup = libc::POLLHUP;
        // Hang-up counts as readable, not writable, not priority.
        let e = Event::from_poll(t, Interest::READABLE, hup).unwrap();
        assert!(e.is_readable() && e.is_hangup() && !e.is_writable());
        assert_eq!(Event::from_poll(t, Interest::PRIORITY, hup), None);
        assert_eq!(Event::from_poll(t, Interest::WRITABLE, hup), None);
        // Error counts as readable and writable.
        let e = Event::from_epoll(t, Interest::WRITABLE, libc::EPOLLERR as u32).unwrap();
        assert!(e.is_writable() && e.is_error() && !e.is_readable());
        // RDHUP alone is not readable (the kernel never sends it without IN).
        assert_eq!(
            Event::from_epoll(t, Interest::READABLE, libc::EPOLLRDHUP as u32),
            None
        );
        let e = Event::from_poll(t, Interest::PRIORITY, libc::POLLPRI | libc::POLLIN).unwrap();
        assert!(e.is_priority() && !e.is_readable());
        let e = Event::from_poll(t, Interest::READABLE, libc::POLLNVAL).unwrap();
        assert!(e.is_error() && e.is_readable());
        assert_eq!(
            Event::from_select(t, Interest::READABLE, false, true, true),
            None
        );
    }

    /// `build` and `with_extras` against their definition, written out
    /// flag by flag, for every readiness, interest and extra.
    #[test]
    fn build_matches_its_definition() {
        for bits in 0u8..64 {
            let [r, w, p, err, hup, rdhup] = std::array::from_fn(|i| bits & (1 << i) != 0);
            for ib in 1u8..64 {
                if ib & (I_READABLE | I_WRITABLE | I_PRIORITY) == 0 {
                    continue; // no constructor makes a mode-only interest
                }
                let interest = Interest(NonZeroU8::new(ib).unwrap());
                let mut want = 0;
                if r && interest.is_readable() {
                    want |= E_READABLE;
                }
                if w && interest.is_writable() {
                    want |= E_WRITABLE;
                }
                if p && interest.is_priority() {
                    want |= E_PRIORITY;
                }
                let got = Event::build(Token(3), interest, r, w, p);
                if want == 0 {
                    assert_eq!(got, None, "bits {bits:#x} interest {interest:?}");
                    continue;
                }
                for (on, flag) in [(err, E_ERROR), (hup, E_HANGUP), (rdhup, E_READ_HANGUP)] {
                    if on {
                        want |= flag;
                    }
                }
                let got = got.unwrap().with_extras(err, hup, rdhup);
                assert_eq!(
                    got,
                    Event {
                        token: Token(3),
                        flags: want
                    },
                    "bits {bits:#x} interest {interest:?}"
                );
            }
        }
    }

    #[test]
    fn poll_and_epoll_translate_alike() {
        // Every combination of the flags both share gives the same event.
        let shared: [(libc::c_short, libc::c_int); 9] = [
            (libc::POLLIN, libc::EPOLLIN),
            (libc::POLLPRI, libc::EPOLLPRI),
            (libc::POLLOUT, libc::EPOLLOUT),
            (libc::POLLERR, libc::EPOLLERR),
            (libc::POLLHUP, libc::EPOLLHUP),
            (libc::POLLRDNORM, libc::EPOLLRDNORM),
            (libc::POLLRDBAND, libc::EPOLLRDBAND),
            (libc::POLLWRNORM, libc::EPOLLWRNORM),
            (libc::POLLRDHUP, libc::EPOLLRDHUP),
        ];
        for bits in 0u32..(1 << shared.len()) {
            let (mut p, mut e) = (0, 0);
            for (i, (pf, ef)) in shared.iter().enumerate() {
                if bits & (1 << i) != 0 {
                    p |= pf;
                    e |= ef;
                }
            }
            for ib in 1u8..8 {
                let interest = Interest(NonZeroU8::new(ib).unwrap());
                assert_eq!(
                    Event::from_poll(Token(1), interest, p),
                    Event::from_epoll(Token(1), interest, e as u32),
                    "bits {bits:#x} interest {interest:?}"
                );
            }
        }
    }

    #[test]
    fn backend_names_round_trip() {
        for b in Backend::ALL {
            assert_eq!(b.name().parse::<Backend>(), Ok(b));
            assert_eq!(b.to_string(), b.name());
        }
        assert!("kqueue".parse::<Backend>().is_err());
        assert_eq!(Backend::default(), Backend::Epoll);
        assert!(Backend::Epoll.supports(Mode::Edge));
        assert!(!Backend::Poll.supports(Mode::Edge));
        assert!(Backend::Select.supports(Mode::Oneshot));
        assert!(Backend::Epoll.supports_exclusive());
        assert!(!Backend::Poll.supports_exclusive());
    }

    #[test]
    fn events_capacity_is_at_least_one() {
        assert_eq!(Events::with_capacity(0).capacity(), 1);
        assert_eq!(Events::with_capacity(64).capacity(), 64);
        // Past what the kernel takes: clamped, never a capacity overflow
        // (checked without allocating gigabytes here).
        // The kernel's EP_MAX_EVENTS: INT_MAX over its epoll_event, which
        // is packed (12 bytes) on x86 and x86_64 only, 16 bytes elsewhere.
        let event_size = if cfg!(any(target_arch = "x86", target_arch = "x86_64")) {
            12
        } else {
            16
        };
        assert_eq!(std::mem::size_of::<libc::epoll_event>(), event_size);
        assert_eq!(Events::MAX_CAPACITY, 2_147_483_647 / event_size);
        assert_eq!(Events::clamped(usize::MAX), Events::MAX_CAPACITY);
        assert_eq!(Events::clamped(usize::MAX / 8), Events::MAX_CAPACITY);
        assert_eq!(Events::clamped(0), 1);
    }
}
