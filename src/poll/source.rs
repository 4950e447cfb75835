//! Fds any backend can watch: [`Waker`], an eventfd that another thread
//! writes to wake a poller; [`Timer`], a timerfd; [`Signals`], a signalfd,
//! with the [`Signal`] and [`SignalSet`] types and the calls that block
//! signals ([`block_signals`]).

use super::{Poller, Token};
use crate::sys;
use std::fmt;
use std::io;
use std::num::NonZeroU8;
use std::ops::BitOr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::Arc;
use std::time::Duration;

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

/// `timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)` — a timer
/// that is an fd: readable once it has expired, on any backend.
///
/// The kernel counts the timer's expirations. The fd is readable while the
/// count is non-zero, and [`Timer::read`] returns the count and resets it
/// to zero, so a periodic timer whose reader falls behind never piles up
/// events: one read says how many periods passed (more than one means
/// ticks were missed). Register it for
/// [`Interest::READABLE`](super::Interest::READABLE) with any
/// [`Poller`]; in level mode every wait reports it until it is read.
///
/// - One-shot ([`Timer::once`], [`Timer::set_once`]): expires once, then
///   stays disarmed until set again.
/// - Periodic ([`Timer::periodic`], [`Timer::set_periodic`],
///   [`Timer::set`]): expires first after a delay, then once per
///   interval, until disarmed ([`Timer::disarm`]).
///
/// The clock is `CLOCK_MONOTONIC`: it does not jump when someone sets the
/// wall clock. Durations are exact to the nanosecond and the kernel never
/// fires early (it may fire late, by scheduling delay). Two roundings, both
/// upward: a zero duration is taken as 1 ns, because the kernel reads a
/// zero first expiry as "disarm" and a zero interval as "do not repeat", so
/// `Timer::once(Duration::ZERO)` expires at once instead of never; and a
/// duration beyond 2^31 seconds (about 68 years) is clamped to that,
/// "never" in practice.
///
/// Setting or disarming a timer resets its count: expirations not yet read
/// are dropped, so a wait that reported the timer just before may find
/// [`Timer::read`] answering `WouldBlock`.
///
/// The fd is close-on-exec and nonblocking. `Send + Sync`: another thread
/// may set the timer while the poller's thread waits on it.
///
/// # Examples
///
/// ```
/// use baresock::poll::{Backend, Events, Interest, Timer, Token};
/// use std::os::fd::AsFd;
/// use std::time::Duration;
///
/// let mut poller = Backend::Poll.build()?;
/// let timer = Timer::periodic(Duration::from_millis(5))?;
/// poller.register(timer.as_fd(), Token(1), Interest::READABLE)?;
/// let mut events = Events::with_capacity(4);
/// let mut ticks = 0;
/// while ticks < 3 {
///     poller.wait(&mut events, Some(Duration::from_secs(5)))?;
///     for e in &events {
///         assert_eq!(e.token(), Token(1));
///         // Level mode: read it, or the next wait reports it again.
///         ticks += timer.read()?;
///     }
/// }
/// timer.disarm()?;
/// poller.deregister(timer.as_fd())?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # References
/// [timerfd_create(2)](https://man7.org/linux/man-pages/man2/timerfd_create.2.html)
#[doc(alias = "timerfd")]
pub struct Timer {
    fd: sys::Fd,
}

static_assertions::assert_impl_all!(Timer: Send, Sync);

/// What [`Timer::get`] reports: when the timer expires next and how often
/// it repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerSetting {
    /// Time left until the next expiry; `None` when the timer is disarmed.
    pub next: Option<Duration>,
    /// The period; `None` for a one-shot (or disarmed) timer.
    pub interval: Option<Duration>,
}

impl TimerSetting {
    /// Reads the `struct itimerspec` that `timerfd_gettime` fills in: a
    /// zero `it_value` means disarmed (`next: None`), a zero `it_interval`
    /// one-shot (`interval: None`). Fields the kernel never writes read
    /// as follows: a negative `tv_sec` or `tv_nsec` as 0, a `tv_nsec` of a
    /// billion or more as 999,999,999. A pure function, for tests and
    /// fuzzers.
    pub fn from_itimerspec(cur: &libc::itimerspec) -> TimerSetting {
        TimerSetting {
            next: nonzero_duration(&cur.it_value),
            interval: nonzero_duration(&cur.it_interval),
        }
    }
}

/// A `timespec` the kernel filled in as a duration, `None` for zero.
fn nonzero_duration(ts: &libc::timespec) -> Option<Duration> {
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    // In range, so the cast keeps the value.
    let nsecs = ts.tv_nsec.clamp(0, 999_999_999) as u32;
    Some(Duration::new(secs, nsecs)).filter(|d| !d.is_zero())
}

/// A zero duration means "disarm" or "do not repeat" to the kernel: the
/// smallest duration that means "soon" is 1 ns.
fn at_least_1ns(d: Duration) -> Duration {
    d.max(Duration::from_nanos(1))
}

impl Timer {
    /// `timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)` — a new
    /// timer, disarmed.
    ///
    /// # Errors
    ///
    /// - `EMFILE`: the process is at its fd limit (`RLIMIT_NOFILE`);
    ///   `ENFILE`: the system-wide limit.
    #[doc(alias = "timerfd_create")]
    pub fn new() -> io::Result<Timer> {
        Ok(Timer {
            fd: sys::Fd::new(sys::source::timerfd_create()?),
        })
    }

    /// `timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)`, then
    /// `timerfd_settime(fd, 0, {0, after}, NULL)` —
    /// a one-shot timer that expires once, `after` from now.
    ///
    /// A zero `after` is taken as 1 ns (see [`Timer`]).
    ///
    /// # Errors
    ///
    /// As [`Timer::new`].
    pub fn once(after: Duration) -> io::Result<Timer> {
        let t = Timer::new()?;
        t.set_once(after)?;
        Ok(t)
    }

    /// `timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)`, then
    /// `timerfd_settime(fd, 0, {interval, interval}, NULL)` — a periodic timer that expires every `interval`, the first
    /// time one `interval` from now.
    ///
    /// A zero `interval` is taken as 1 ns (see [`Timer`]).
    ///
    /// # Errors
    ///
    /// As [`Timer::new`].
    pub fn periodic(interval: Duration) -> io::Result<Timer> {
        let t = Timer::new()?;
        t.set_periodic(interval)?;
        Ok(t)
    }

    /// `timerfd_settime(fd, 0, {interval, first}, NULL)` — arm the timer:
    /// first expiry `first` from now, then every `interval` if one is
    /// given.
    ///
    /// Replaces any earlier setting and drops expirations not yet read.
    /// Zero durations are taken as 1 ns (see [`Timer`]).
    ///
    /// # Errors
    ///
    /// None in practice: the kernel's `EINVAL` (nanoseconds out of range)
    /// cannot arise from a `Duration`, and `EBADF` cannot while the
    /// `Timer` lives.
    #[doc(alias = "timerfd_settime")]
    pub fn set(&self, first: Duration, interval: Option<Duration>) -> io::Result<()> {
        sys::source::timerfd_settime(
            self.fd.as_fd(),
            at_least_1ns(first),
            interval.map_or(Duration::ZERO, at_least_1ns),
        )
    }

    /// `timerfd_settime(fd, 0, {0, after}, NULL)` — arm the timer to expire
    /// once, `after` from now. [`Timer::set`] with no interval.
    ///
    /// # Errors
    ///
    /// As [`Timer::set`].
    pub fn set_once(&self, after: Duration) -> io::Result<()> {
        self.set(after, None)
    }

    /// `timerfd_settime(fd, 0, {interval, interval}, NULL)` — arm the timer
    /// to expire every `interval`, the first time one `interval` from now.
    ///
    /// # Errors
    ///
    /// As [`Timer::set`].
    pub fn set_periodic(&self, interval: Duration) -> io::Result<()> {
        self.set(interval, Some(interval))
    }

    /// `timerfd_settime(fd, 0, {0, 0}, NULL)` — disarm the timer: it will
    /// not expire until set again, and expirations not yet read are
    /// dropped, so the fd is no longer readable.
    ///
    /// # Errors
    ///
    /// As [`Timer::set`].
    pub fn disarm(&self) -> io::Result<()> {
        sys::source::timerfd_settime(self.fd.as_fd(), Duration::ZERO, Duration::ZERO)
    }

    /// `timerfd_gettime(fd, &cur)` — how long until the timer expires next,
    /// and its period.
    ///
    /// # Errors
    ///
    /// None in practice: `EBADF` cannot happen while the `Timer` lives.
    #[doc(alias = "timerfd_gettime")]
    pub fn get(&self) -> io::Result<TimerSetting> {
        let cur = sys::source::timerfd_gettime(self.fd.as_fd())?;
        Ok(TimerSetting::from_itimerspec(&cur))
    }

    /// `read(timerfd, &count, 8)` — how many times the timer expired since
    /// the last read (at least 1), resetting the count to zero.
    ///
    /// # Errors
    ///
    /// - `EAGAIN` (`WouldBlock`): it has not expired since the last read,
    ///   set or disarm (the fd is nonblocking). A wait may report the timer
    ///   and the read still find nothing if another thread set or disarmed
    ///   it in between.
    pub fn read(&self) -> io::Result<u64> {
        let mut buf = [0u8; 8];
        let n = sys::poll::read(self.fd.as_fd(), &mut buf)?;
        if n != buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("read {n} bytes from a timerfd, expected 8"),
            ));
        }
        Ok(u64::from_ne_bytes(buf))
    }
}

impl AsFd for Timer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("timerfd", &self.fd.as_raw_fd())
            .finish()
    }
}

/// A signal a program can block and read through [`Signals`]: a signal
/// number, printed as its C name (`SIGTERM`).
///
/// The constants name the signals a daemon usually handles;
/// [`Signal::from_raw`] makes any other one. There is no `Signal` for
/// `SIGKILL` and `SIGSTOP`, which can be neither blocked nor caught, nor
/// for 32 and 33, which glibc keeps for itself (thread cancellation and
/// `setuid` across threads). Real-time signals print as strace prints them:
/// 34 is `SIGRT_2` (`SIGRTMIN` in glibc).
///
/// Combine signals into a [`SignalSet`] with `|`:
/// `Signal::TERM | Signal::INT`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Signal(NonZeroU8);

const fn sig(n: libc::c_int) -> Signal {
    Signal(NonZeroU8::new(n as u8).unwrap())
}

impl Signal {
    /// `SIGHUP`: the terminal hung up; daemons, which have none, take it as
    /// "reload your configuration". Default action: end the process.
    pub const HUP: Signal = sig(libc::SIGHUP);
    /// `SIGINT`: Ctrl-C in the terminal. Default action: end the process.
    pub const INT: Signal = sig(libc::SIGINT);
    /// `SIGQUIT`: Ctrl-\ in the terminal. Default action: end the process
    /// and dump core.
    pub const QUIT: Signal = sig(libc::SIGQUIT);
    /// `SIGUSR1`: no meaning but the program's. Default action: end the
    /// process.
    pub const USR1: Signal = sig(libc::SIGUSR1);
    /// `SIGUSR2`: no meaning but the program's. Default action: end the
    /// process.
    pub const USR2: Signal = sig(libc::SIGUSR2);
    /// `SIGPIPE`: a write to a pipe or socket whose reader is gone (this
    /// crate's sends pass `MSG_NOSIGNAL`, so they never raise it). Default
    /// action: end the process.
    pub const PIPE: Signal = sig(libc::SIGPIPE);
    /// `SIGALRM`: `alarm(2)` expired. Default action: end the process.
    pub const ALRM: Signal = sig(libc::SIGALRM);
    /// `SIGTERM`: the polite request to stop (`kill PID`, `systemctl
    /// stop`). Default action: end the process.
    pub const TERM: Signal = sig(libc::SIGTERM);
    /// `SIGCHLD`: a child process exited, stopped or continued. Default
    /// action: none.
    pub const CHLD: Signal = sig(libc::SIGCHLD);
    /// `SIGCONT`: continue if stopped. Default action: continue.
    pub const CONT: Signal = sig(libc::SIGCONT);
    /// `SIGTSTP`: Ctrl-Z in the terminal. Default action: stop.
    pub const TSTP: Signal = sig(libc::SIGTSTP);
    /// `SIGWINCH`: the terminal changed size. Default action: none.
    pub const WINCH: Signal = sig(libc::SIGWINCH);

    /// The signal numbered `signo`, if it is one a program can block:
    /// 1 to 64 but for `SIGKILL`, `SIGSTOP`, 32 and 33 (glibc's own).
    pub const fn from_raw(signo: libc::c_int) -> Option<Signal> {
        if signo < 1
            || signo > sys::source::MAX_SIGNAL
            || signo == libc::SIGKILL
            || signo == libc::SIGSTOP
            || signo == 32
            || signo == 33
        {
            None
        } else {
            Some(sig(signo))
        }
    }

    /// The signal's number.
    pub const fn as_raw(self) -> libc::c_int {
        self.0.get() as libc::c_int
    }

    /// `kill(pid, sig)` — send this signal to the process `pid`.
    ///
    /// The signal is *process-directed*: the kernel gives it to one thread
    /// of that process that does not block it, or, if every thread blocks
    /// it, leaves it pending on the process, where a [`Signals`] fd of any
    /// of its threads reads it (`raise(3)` differs: it signals the calling
    /// thread only). `Signal::TERM.send_to(std::process::id())` is how a
    /// program asks itself to shut down the way `kill PID` in a shell
    /// would.
    ///
    /// Only one process can be named: `kill` reads a pid of 0 as "my
    /// process group" and -1 as "every process I may signal", and a `u32`
    /// above `i32::MAX` would turn negative as a `pid_t`. Those are refused
    /// before any syscall.
    ///
    /// # Errors
    ///
    /// - `InvalidInput`: `pid` is 0 or above `i32::MAX` (no syscall made).
    /// - `ESRCH`: no process has that pid (it exited and was reaped, or
    ///   never was).
    /// - `EPERM`: the caller may not signal that process: without
    ///   `CAP_KILL`, its real or effective uid must match the target's real
    ///   or saved uid.
    #[doc(alias = "kill")]
    pub fn send_to(self, pid: u32) -> io::Result<()> {
        let pid = match libc::pid_t::try_from(pid) {
            Ok(p) if p > 0 => p,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("kill: pid {pid} names no single process"),
                ));
            }
        };
        sys::source::kill(pid, self.as_raw())
    }

    /// The C name, or `None` for a number without one here.
    fn name(self) -> Option<&'static str> {
        Some(match self.as_raw() {
            libc::SIGHUP => "SIGHUP",
            libc::SIGINT => "SIGINT",
            libc::SIGQUIT => "SIGQUIT",
            libc::SIGILL => "SIGILL",
            libc::SIGTRAP => "SIGTRAP",
            libc::SIGABRT => "SIGABRT",
            libc::SIGBUS => "SIGBUS",
            libc::SIGFPE => "SIGFPE",
            libc::SIGUSR1 => "SIGUSR1",
            libc::SIGSEGV => "SIGSEGV",
            libc::SIGUSR2 => "SIGUSR2",
            libc::SIGPIPE => "SIGPIPE",
            libc::SIGALRM => "SIGALRM",
            libc::SIGTERM => "SIGTERM",
            libc::SIGCHLD => "SIGCHLD",
            libc::SIGCONT => "SIGCONT",
            libc::SIGTSTP => "SIGTSTP",
            libc::SIGTTIN => "SIGTTIN",
            libc::SIGTTOU => "SIGTTOU",
            libc::SIGURG => "SIGURG",
            libc::SIGXCPU => "SIGXCPU",
            libc::SIGXFSZ => "SIGXFSZ",
            libc::SIGVTALRM => "SIGVTALRM",
            libc::SIGPROF => "SIGPROF",
            libc::SIGWINCH => "SIGWINCH",
            libc::SIGIO => "SIGIO",
            libc::SIGPWR => "SIGPWR",
            libc::SIGSYS => "SIGSYS",
            _ => return None,
        })
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            // strace's names: the kernel's real-time signals start at 32.
            None if self.as_raw() > 32 => write!(f, "SIGRT_{}", self.as_raw() - 32),
            None => write!(f, "SIG{}", self.as_raw()),
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A set of [`Signal`]s: what [`block_signals`] blocks and what a
/// [`Signals`] fd reads.
///
/// Plain data (one bit per signal number, as the kernel holds it), made
/// with no syscall: `Signal::TERM | Signal::INT`, `SignalSet::EMPTY.with(
/// Signal::HUP)`, or collected from an iterator. Its `Debug` lists the C
/// names: `{SIGINT, SIGTERM}`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SignalSet(u64);

/// The bits a `SignalSet` may hold: signals 1 to 64 less those without a
/// [`Signal`] (`SIGKILL`, `SIGSTOP`, 32, 33).
const VALID_BITS: u64 =
    !((1 << (libc::SIGKILL - 1)) | (1 << (libc::SIGSTOP - 1)) | (1 << 31) | (1 << 32));

impl SignalSet {
    /// No signals.
    pub const EMPTY: SignalSet = SignalSet(0);

    /// This set with `s` added.
    pub const fn with(self, s: Signal) -> SignalSet {
        SignalSet(self.0 | 1 << (s.as_raw() - 1))
    }

    /// This set with `s` removed.
    pub const fn without(self, s: Signal) -> SignalSet {
        SignalSet(self.0 & !(1 << (s.as_raw() - 1)))
    }

    /// The signals in either set.
    pub const fn union(self, other: SignalSet) -> SignalSet {
        SignalSet(self.0 | other.0)
    }

    /// Whether `s` is in the set.
    pub const fn contains(self, s: Signal) -> bool {
        self.0 & 1 << (s.as_raw() - 1) != 0
    }

    /// Whether every signal of `other` is in this set.
    pub const fn contains_all(self, other: SignalSet) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// How many signals the set holds.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The signals in the set, lowest number first.
    pub fn iter(self) -> impl Iterator<Item = Signal> {
        (1..=sys::source::MAX_SIGNAL)
            .filter(move |n| self.0 & 1 << (n - 1) != 0)
            .map(sig)
    }

    /// The set as the kernel's bits, from the syscall layer: bits of
    /// signals that have no [`Signal`] are dropped.
    fn from_kernel(bits: u64) -> SignalSet {
        SignalSet(bits & VALID_BITS)
    }
}

impl fmt::Debug for SignalSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl From<Signal> for SignalSet {
    fn from(s: Signal) -> SignalSet {
        SignalSet::EMPTY.with(s)
    }
}

impl<const N: usize> From<[Signal; N]> for SignalSet {
    fn from(signals: [Signal; N]) -> SignalSet {
        signals.into_iter().collect()
    }
}

impl FromIterator<Signal> for SignalSet {
    fn from_iter<I: IntoIterator<Item = Signal>>(iter: I) -> SignalSet {
        iter.into_iter().fold(SignalSet::EMPTY, SignalSet::with)
    }
}

impl BitOr for Signal {
    type Output = SignalSet;
    fn bitor(self, other: Signal) -> SignalSet {
        SignalSet::from(self).with(other)
    }
}

impl BitOr<Signal> for SignalSet {
    type Output = SignalSet;
    fn bitor(self, other: Signal) -> SignalSet {
        self.with(other)
    }
}

impl BitOr for SignalSet {
    type Output = SignalSet;
    fn bitor(self, other: SignalSet) -> SignalSet {
        self.union(other)
    }
}

/// `rt_sigprocmask(SIG_BLOCK, &set, &old)` (glibc's `pthread_sigmask`) — block `set` in the calling
/// thread; call it at the top of `main`, before any thread starts. Returns
/// the thread's mask from before.
///
/// A blocked signal is not delivered: it waits, *pending*, until it is
/// unblocked or read from a [`Signals`] fd. A signalfd needs exactly that,
/// because of how the kernel delivers a process-directed signal (`kill`,
/// Ctrl-C, `systemctl stop`): it picks *any one* thread of the process
/// that has the signal unblocked, and there runs the handler or the
/// default action, which for `SIGTERM` or `SIGINT` ends the whole process.
/// Only when every thread blocks the signal does it stay pending, where a
/// signalfd reads it. So every thread must block it.
///
/// The mask belongs to each thread, and a new thread starts with a copy of
/// its creator's mask. Blocked at the top of `main`, before any thread
/// starts (threads a library starts for you included), the signals are
/// blocked in every thread the program will ever have. Blocked later, they
/// are blocked in the calling thread only: a thread that is already
/// running keeps them unblocked, the kernel may hand it the signal, and
/// the signalfd never sees it.
///
/// The mask is inherited across `fork` and kept across `execve`, and
/// `std::process::Command` keeps it too (since Rust 1.66): a program you
/// start has these signals blocked, and would not stop on `SIGTERM`.
/// Unblock them in the child before it runs the program
/// (`CommandExt::pre_exec` with [`unblock_signals`]: one `rt_sigprocmask`,
/// async-signal-safe), unless the program is meant to inherit the block.
///
/// glibc's `pthread_sigmask` is `rt_sigprocmask` in the kernel, as strace
/// shows it; in a single-threaded program it is the same as
/// `sigprocmask`.
///
/// # Errors
///
/// None in practice: the kernel's `EINVAL` (an unknown `how`) and `EFAULT`
/// (a bad pointer) cannot arise from this call.
///
/// # Examples
///
/// ```
/// use baresock::poll::{Signal, Signals, block_signals};
///
/// fn main() -> std::io::Result<()> {
///     // First thing, before any thread starts: every thread inherits it.
///     block_signals(Signal::TERM | Signal::INT)?;
///     let signals = Signals::new(Signal::TERM | Signal::INT)?;
///     // ... register `signals` with a poller next to the sockets ...
///     # let _ = signals;
///     Ok(())
/// }
/// ```
///
/// # References
/// [pthread_sigmask(3)](https://man7.org/linux/man-pages/man3/pthread_sigmask.3.html),
/// [signal(7)](https://man7.org/linux/man-pages/man7/signal.7.html)
#[doc(alias = "pthread_sigmask")]
#[doc(alias = "sigprocmask")]
#[doc(alias = "rt_sigprocmask")]
#[doc(alias = "SIG_BLOCK")]
pub fn block_signals(set: SignalSet) -> io::Result<SignalSet> {
    sys::source::pthread_sigmask(libc::SIG_BLOCK, Some(set.0)).map(SignalSet::from_kernel)
}

/// `rt_sigprocmask(SIG_UNBLOCK, &set, &old)` (glibc's `pthread_sigmask`) — unblock `set` in the
/// calling thread. Returns the thread's mask from before.
///
/// A signal of `set` that is pending is delivered the moment it is
/// unblocked: its handler runs, or its default action happens (for
/// `SIGTERM`, the process ends). Read pending signals from a [`Signals`]
/// fd first if that is not wanted. See [`block_signals`].
///
/// Safe between `fork` and `exec` (in `CommandExt::pre_exec`): it makes
/// one syscall and allocates nothing, so a program started from a process
/// that blocks signals can start with them unblocked.
///
/// # Errors
///
/// None in practice, as [`block_signals`].
#[doc(alias = "SIG_UNBLOCK")]
pub fn unblock_signals(set: SignalSet) -> io::Result<SignalSet> {
    sys::source::pthread_sigmask(libc::SIG_UNBLOCK, Some(set.0)).map(SignalSet::from_kernel)
}

/// `rt_sigprocmask(SIG_BLOCK, NULL, &cur)` (glibc's `pthread_sigmask`) — the calling thread's signal
/// mask, unchanged.
///
/// # Errors
///
/// None in practice, as [`block_signals`].
pub fn blocked_signals() -> io::Result<SignalSet> {
    sys::source::pthread_sigmask(libc::SIG_BLOCK, None).map(SignalSet::from_kernel)
}

/// `signalfd4(-1, &set, 8, SFD_CLOEXEC | SFD_NONBLOCK)` (glibc's `signalfd`) — receive signals as
/// reads from an fd, in the same loop as sockets and timers.
///
/// A signal handler interrupts the program at an arbitrary point and may
/// do almost nothing there (only async-signal-safe calls). A signalfd turns
/// a signal into data instead: the fd is readable while a signal of its set
/// is pending, and [`Signals::read`] takes one and says which it was and
/// who sent it. Register it for
/// [`Interest::READABLE`](super::Interest::READABLE) with any [`Poller`].
///
/// **The signals must be blocked in every thread before they arrive**
/// ([`block_signals`] at the top of `main`; it says why). A signal that is
/// not blocked is delivered the old way — a handler, or the default action,
/// which for `SIGTERM` ends the process — and never reaches the fd.
/// `Signals::new` does not block anything: the mask is per thread and must
/// be set before other threads start, which only `main` can do, and a
/// constructor that changed it quietly would hide that.
///
/// What the fd reads: signals pending for the whole process
/// (process-directed: `kill`, Ctrl-C, `SIGCHLD`) and those pending for the
/// thread that reads it or waits on it (thread-directed: `pthread_kill`,
/// `raise`, a fault). A signal directed at another thread stays with that
/// thread. Standard signals do not queue: the same signal sent twice before
/// a read is read once. In a child after `fork`, the inherited fd reads the
/// child's signals.
///
/// The fd is close-on-exec and nonblocking. `Send + Sync`.
///
/// # Examples
///
/// ```no_run
/// use baresock::poll::{Backend, Events, Interest, Signal, Signals, Token, block_signals};
/// use std::os::fd::AsFd;
///
/// fn main() -> std::io::Result<()> {
///     block_signals(Signal::TERM | Signal::INT)?;
///     let signals = Signals::new(Signal::TERM | Signal::INT)?;
///     let mut poller = Backend::default().build()?;
///     poller.register(signals.as_fd(), Token(0), Interest::READABLE)?;
///     let mut events = Events::with_capacity(16);
///     loop {
///         poller.wait(&mut events, None)?;
///         for e in &events {
///             if e.token() == Token(0) {
///                 let info = signals.read()?;
///                 println!("{:?} from pid {}: shutting down", info.signal, info.pid);
///                 return Ok(());
///             }
///         }
///     }
/// }
/// ```
///
/// # References
/// [signalfd(2)](https://man7.org/linux/man-pages/man2/signalfd.2.html),
/// [signal(7)](https://man7.org/linux/man-pages/man7/signal.7.html)
#[doc(alias = "signalfd")]
#[doc(alias = "signalfd4")]
pub struct Signals {
    fd: sys::Fd,
    set: SignalSet,
}

static_assertions::assert_impl_all!(Signals: Send, Sync);

/// One signal read from a [`Signals`] fd: the useful fields of the kernel's
/// `struct signalfd_siginfo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct SignalInfo {
    /// Which signal (`ssi_signo`).
    pub signal: Signal,
    /// How it was sent (`ssi_code`): `SI_USER` (0) for `kill`, `SI_TKILL`
    /// for `tgkill` and `raise`, `SI_QUEUE` for `sigqueue`, `SI_KERNEL` for
    /// the kernel itself; for `SIGCHLD`, what happened to the child:
    /// `CLD_EXITED`, `CLD_KILLED`, `CLD_DUMPED`, `CLD_STOPPED`...
    pub code: i32,
    /// The sender's pid (`ssi_pid`), or for `SIGCHLD` the child's; 0 when
    /// the kernel sent it.
    pub pid: u32,
    /// The sender's real uid (`ssi_uid`), or for `SIGCHLD` the child's.
    pub uid: u32,
    /// For `SIGCHLD` (`ssi_status`): the exit status if the child exited,
    /// else the signal that killed, stopped or continued it. 0 otherwise.
    pub status: i32,
}

impl SignalInfo {
    /// Reads the fields out of a `struct signalfd_siginfo` the kernel
    /// wrote (what [`Signals::read`] does with each record); `None` for a
    /// signal number without a [`Signal`] (0, `SIGKILL`, `SIGSTOP`, glibc's
    /// internal 32 and 33, above 64), which a signalfd, reading only its
    /// own set, never returns. A pure function, for tests and fuzzers.
    pub fn from_siginfo(raw: &libc::signalfd_siginfo) -> Option<SignalInfo> {
        let signo = libc::c_int::try_from(raw.ssi_signo).ok()?;
        Some(SignalInfo {
            signal: Signal::from_raw(signo)?,
            code: raw.ssi_code,
            pid: raw.ssi_pid,
            uid: raw.ssi_uid,
            status: raw.ssi_status,
        })
    }
}

impl Signals {
    /// `signalfd4(-1, &set, 8, SFD_CLOEXEC | SFD_NONBLOCK)` (glibc's `signalfd`) — an fd that reads
    /// the signals of `set`. Does not change the signal mask: block `set`
    /// first, with [`block_signals`] at the top of `main`.
    ///
    /// # Errors
    ///
    /// - `EMFILE`: the process is at its fd limit (`RLIMIT_NOFILE`);
    ///   `ENFILE`: the system-wide limit.
    pub fn new(set: SignalSet) -> io::Result<Signals> {
        Ok(Signals {
            fd: sys::Fd::new(sys::source::signalfd(set.0)?),
            set,
        })
    }

    /// The signals this fd reads.
    pub fn set(&self) -> SignalSet {
        self.set
    }

    /// `read(signalfd, &info, sizeof info)` — take the next pending signal
    /// of the set (the lowest-numbered first) and describe it.
    ///
    /// Reading consumes the signal: it is not delivered in any other way.
    /// One read takes one signal; in level mode the fd is reported again
    /// while more are pending.
    ///
    /// # Errors
    ///
    /// - `EAGAIN` (`WouldBlock`): no signal of the set is pending for this
    ///   process or this thread.
    pub fn read(&self) -> io::Result<SignalInfo> {
        let raw = sys::source::read_siginfo(self.fd.as_fd())?;
        SignalInfo::from_siginfo(&raw).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("signalfd returned signal {}", raw.ssi_signo),
            )
        })
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signals")
            .field("signalfd", &self.fd.as_raw_fd())
            .field("set", &self.set)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_print_their_c_names() {
        assert_eq!(format!("{:?}", Signal::TERM), "SIGTERM");
        assert_eq!(format!("{}", Signal::HUP), "SIGHUP");
        assert_eq!(format!("{:?}", Signal::from_raw(34).unwrap()), "SIGRT_2");
        assert_eq!(format!("{:?}", Signal::from_raw(64).unwrap()), "SIGRT_32");
        assert_eq!(
            format!("{:?}", Signal::TERM | Signal::INT | Signal::HUP),
            "{SIGHUP, SIGINT, SIGTERM}"
        );
        assert_eq!(format!("{:?}", SignalSet::EMPTY), "{}");
    }

    #[test]
    fn from_raw_refuses_what_cannot_be_blocked() {
        for n in [0, -1, libc::SIGKILL, libc::SIGSTOP, 32, 33, 65, 1000] {
            assert_eq!(Signal::from_raw(n), None, "{n}");
        }
        for n in (1..=64).filter(|n| ![9, 19, 32, 33].contains(n)) {
            assert_eq!(Signal::from_raw(n).map(Signal::as_raw), Some(n));
        }
        assert_eq!(Signal::from_raw(libc::SIGTERM), Some(Signal::TERM));
    }

    #[test]
    fn sets_add_remove_and_iterate() {
        let s = Signal::TERM | Signal::INT;
        assert!(s.contains(Signal::TERM) && s.contains(Signal::INT));
        assert!(!s.contains(Signal::HUP));
        assert_eq!(s.len(), 2);
        assert_eq!(s.without(Signal::TERM), SignalSet::from(Signal::INT));
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![Signal::INT, Signal::TERM]
        );
        let all: SignalSet = (1..=64).filter_map(Signal::from_raw).collect();
        assert_eq!(all.len(), 60);
        assert_eq!(all.iter().count(), 60);
        assert!(all.contains_all(s) && !s.contains_all(all));
        assert_eq!(SignalSet::from([Signal::INT, Signal::TERM]), s);
        assert_eq!(s | Signal::HUP, s.with(Signal::HUP));
        assert_eq!(s | SignalSet::EMPTY, s);
        assert!(SignalSet::default().is_empty());
        // Bits the kernel may report for signals without a `Signal` are
        // dropped, so iteration only yields valid signals.
        assert_eq!(SignalSet::from_kernel(u64::MAX), all);
    }

    #[test]
    fn zero_durations_become_1ns() {
        assert_eq!(at_least_1ns(Duration::ZERO), Duration::from_nanos(1));
        assert_eq!(at_least_1ns(Duration::from_secs(2)), Duration::from_secs(2));
    }

    #[test]
    fn itimerspec_decodes_zero_as_none_and_clamps_what_the_kernel_never_writes() {
        let ts = |tv_sec, tv_nsec| libc::timespec { tv_sec, tv_nsec };
        let its = |v, i| libc::itimerspec {
            it_value: v,
            it_interval: i,
        };
        assert_eq!(
            TimerSetting::from_itimerspec(&its(ts(3, 5), ts(0, 7))),
            TimerSetting {
                next: Some(Duration::new(3, 5)),
                interval: Some(Duration::from_nanos(7)),
            }
        );
        assert_eq!(
            TimerSetting::from_itimerspec(&its(ts(0, 0), ts(2, 0))),
            TimerSetting {
                next: None,
                interval: Some(Duration::from_secs(2)),
            }
        );
        assert_eq!(
            TimerSetting::from_itimerspec(&its(ts(-1, -1), ts(1, 2_000_000_000))),
            TimerSetting {
                next: None,
                interval: Some(Duration::new(1, 999_999_999)),
            }
        );
        // Found by the source_decode fuzz target: a tv_nsec past u32 read
        // as 0, not as the 999,999,999 the others are clamped to.
        assert_eq!(
            TimerSetting::from_itimerspec(&its(ts(0, 0), ts(1, libc::c_long::MAX))),
            TimerSetting {
                next: None,
                interval: Some(Duration::new(1, 999_999_999)),
            }
        );
        assert_eq!(
            TimerSetting::from_itimerspec(&its(ts(0, 1), ts(-5, 3))),
            TimerSetting {
                next: Some(Duration::from_nanos(1)),
                interval: Some(Duration::from_nanos(3)),
            }
        );
    }

    #[test]
    fn siginfo_decodes_its_fields() {
        let mut raw = sys::source::zeroed_siginfo();
        raw.ssi_signo = libc::SIGCHLD as u32;
        raw.ssi_code = libc::CLD_EXITED;
        raw.ssi_pid = 42;
        raw.ssi_uid = 7;
        raw.ssi_status = 3;
        let info = SignalInfo::from_siginfo(&raw).unwrap();
        assert_eq!(
            info,
            SignalInfo {
                signal: Signal::CHLD,
                code: libc::CLD_EXITED,
                pid: 42,
                uid: 7,
                status: 3
            }
        );
        raw.ssi_signo = libc::SIGKILL as u32;
        assert_eq!(SignalInfo::from_siginfo(&raw), None);
        raw.ssi_signo = u32::MAX;
        assert_eq!(SignalInfo::from_siginfo(&raw), None);
    }
}
