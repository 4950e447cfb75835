//! Readiness syscalls: poll, select (pselect6 in the kernel), epoll,
//! eventfd, and the plain read/write an eventfd is driven with.
//!
//! Each wait records the timeout it hands the kernel (after rounding) with
//! `stats::record_timeout` when the `stats` feature is on, so a test can
//! check what the kernel really received.

#[cfg(feature = "trace")]
use super::trace::{
    self as t, Buf, EpollEvent, EpollEvents, Flags, Named, PollFds, PollRevents, RecvBuf, Timespec,
};
use super::{Syscall, ret_int, ret_len, ret_owned_fd, ret_unit, run, strace};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

/// The longest timeout handed to select and epoll_pwait2, in seconds: about
/// 68 years. Longer ones are clamped (they are "forever" in practice, and
/// the kernel's timespec arithmetic need not be tested at its edges).
const MAX_TIMEOUT_SECS: u64 = i32::MAX as u64;

/// Turns a timeout into milliseconds for poll and epoll_wait, rounded up
/// (0.5 ms is 1 ms, never 0) and capped at `c_int::MAX`; `None` is -1,
/// "block".
pub(crate) fn timeout_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(d) => d
            .as_nanos()
            .div_ceil(1_000_000)
            .min(libc::c_int::MAX as u128) as libc::c_int,
    }
}

/// Turns a timeout into select's `timeval`, rounded up to the microsecond.
fn timeout_timeval(d: Duration) -> libc::timeval {
    let mut secs = d.as_secs();
    let mut usecs = u64::from(d.subsec_nanos()).div_ceil(1_000);
    if usecs == 1_000_000 {
        secs = secs.saturating_add(1);
        usecs = 0;
    }
    if secs > MAX_TIMEOUT_SECS {
        secs = MAX_TIMEOUT_SECS;
        usecs = 0;
    }
    // secs <= i32::MAX and usecs < 1_000_000 fit libc's time_t and
    // suseconds_t on every target; `as _` names them through the struct
    // (libc deprecates the aliases on musl).
    libc::timeval {
        tv_sec: secs as _,
        tv_usec: usecs as _,
    }
}

/// The kernel's `struct __kernel_timespec`, which `epoll_pwait2` reads on
/// every target: 64-bit seconds and 64-bit nanoseconds (`long long`
/// both), whatever width libc gives `time_t` and `long`. On a 32-bit
/// target libc's `timespec` is two 32-bit fields (8 bytes); handed to
/// epoll_pwait2, the kernel would read the nanoseconds as the seconds'
/// high half and the next 8 bytes of the stack as nanoseconds.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KernelTimespec {
    pub(crate) tv_sec: i64,
    pub(crate) tv_nsec: i64,
}

static_assertions::assert_eq_size!(KernelTimespec, [u8; 16]);
static_assertions::const_assert_eq!(std::mem::offset_of!(KernelTimespec, tv_sec), 0);
static_assertions::const_assert_eq!(std::mem::offset_of!(KernelTimespec, tv_nsec), 8);

/// Turns a timeout into epoll_pwait2's timespec (nanoseconds: exact).
fn timeout_timespec(d: Duration) -> KernelTimespec {
    let (secs, nsecs) = if d.as_secs() > MAX_TIMEOUT_SECS {
        (MAX_TIMEOUT_SECS, 0)
    } else {
        (d.as_secs(), d.subsec_nanos())
    };
    KernelTimespec {
        // Both fit: secs <= i32::MAX, nsecs < 10^9.
        tv_sec: secs as i64,
        tv_nsec: i64::from(nsecs),
    }
}

/// `poll(fds, nfds, timeout_ms)`: returns how many entries have a non-zero
/// `revents`. `timeout_ms` is -1 to block, 0 to return at once.
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<usize> {
    #[cfg(feature = "stats")]
    super::stats::record_timeout(
        (timeout_ms >= 0).then(|| std::time::Duration::from_millis(timeout_ms as u64)),
    );
    let r = run(Syscall::Poll, 0, |_| {
        // SAFETY: fds is a valid, writable array of fds.len() pollfd entries.
        ret_int(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) })
    })
    .map(|n| n as usize);
    // aarch64 has no poll syscall: libc makes ppoll(fds, n, timeout as a
    // timespec or NULL, NULL, 0) (checked with qemu-aarch64 -strace).
    #[cfg(target_arch = "aarch64")]
    strace!(
        Syscall::Poll,
        &t::Noted(&r, &PollRevents(&r, fds)),
        "{}, {}, {}, NULL, 0",
        PollFds(fds),
        fds.len(),
        PpollTimeout(timeout_ms)
    );
    #[cfg(not(target_arch = "aarch64"))]
    strace!(
        Syscall::Poll,
        &t::Noted(&r, &PollRevents(&r, fds)),
        "{}, {}, {timeout_ms}",
        PollFds(fds),
        fds.len()
    );
    r
}

/// poll's millisecond timeout as ppoll's timespec, as strace shows it:
/// `NULL` for -1 (block).
#[cfg(all(target_arch = "aarch64", feature = "trace"))]
struct PpollTimeout(libc::c_int);

#[cfg(all(target_arch = "aarch64", feature = "trace"))]
impl std::fmt::Display for PpollTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 < 0 {
            return f.write_str("NULL");
        }
        let ms = self.0 as u32;
        write!(
            f,
            "{{tv_sec={}, tv_nsec={}}}",
            ms / 1000,
            (ms % 1000) * 1_000_000
        )
    }
}

/// The number of fds a `libc::fd_set` holds (1024 on Linux).
pub(crate) const FD_SETSIZE: usize = libc::FD_SETSIZE;

/// An empty `fd_set` (`FD_ZERO`). Not a syscall.
pub(crate) fn fd_set_new() -> libc::fd_set {
    let mut set = MaybeUninit::<libc::fd_set>::uninit();
    // SAFETY: FD_ZERO writes every byte of the fd_set it is pointed at, and
    // `set` is valid for writes of one fd_set.
    unsafe { libc::FD_ZERO(set.as_mut_ptr()) };
    // SAFETY: FD_ZERO above initialised the whole set.
    unsafe { set.assume_init() }
}

/// Panics unless `fd` is a valid index into an fd_set. The backends refuse
/// such fds at register time, so this never fires; it keeps the safe
/// wrappers below from ever writing past the set.
fn check_fd_set_index(fd: RawFd) {
    assert!(
        (0..FD_SETSIZE as RawFd).contains(&fd),
        "fd {fd} outside fd_set"
    );
}

/// `FD_SET(fd, set)`. Not a syscall.
pub(crate) fn fd_set_insert(set: &mut libc::fd_set, fd: RawFd) {
    check_fd_set_index(fd);
    // SAFETY: 0 <= fd < FD_SETSIZE (checked above), so the bit is inside
    // `set`, which is a valid, writable fd_set.
    unsafe { libc::FD_SET(fd, set) }
}

/// `FD_CLR(fd, set)`. Not a syscall.
pub(crate) fn fd_set_remove(set: &mut libc::fd_set, fd: RawFd) {
    check_fd_set_index(fd);
    // SAFETY: 0 <= fd < FD_SETSIZE (checked above), so the bit is inside
    // `set`, which is a valid, writable fd_set.
    unsafe { libc::FD_CLR(fd, set) }
}

/// `FD_ISSET(fd, set)`. Not a syscall.
pub(crate) fn fd_set_contains(set: &libc::fd_set, fd: RawFd) -> bool {
    check_fd_set_index(fd);
    // SAFETY: 0 <= fd < FD_SETSIZE (checked above), so the bit is inside
    // `set`, which is a valid fd_set.
    unsafe { libc::FD_ISSET(fd, set) }
}

fn record_select_timeout(_tv: Option<&libc::timeval>) {
    #[cfg(feature = "stats")]
    super::stats::record_timeout(_tv.map(|tv| {
        Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
    }));
}

/// `select(nfds, readfds, writefds, exceptfds, timeout)` over `fd_set`s
/// (`pselect6` in the kernel on every target: see [`pselect6`]).
/// `nfds` is the highest fd in any set plus one, at most FD_SETSIZE. A set
/// that is `None` goes to the kernel as NULL (it then copies nothing in or
/// out for it). The timeout is rounded up to the microsecond; `None`
/// blocks.
pub(crate) fn select(
    nfds: usize,
    read: Option<&mut libc::fd_set>,
    write: Option<&mut libc::fd_set>,
    except: Option<&mut libc::fd_set>,
    timeout: Option<Duration>,
) -> io::Result<usize> {
    assert!(nfds <= FD_SETSIZE, "nfds {nfds} beyond FD_SETSIZE");
    let ptr = |set: Option<&mut libc::fd_set>| set.map_or(std::ptr::null_mut(), std::ptr::from_mut);
    let (r, w, e) = (ptr(read), ptr(write), ptr(except));
    let mut tv = timeout.map(timeout_timeval);
    let tvp = match tv.as_mut() {
        Some(tv) => std::ptr::from_mut(tv),
        None => std::ptr::null_mut(),
    };
    record_select_timeout(tv.as_ref());
    // Linux writes the time left back into the timeval: keep what was asked.
    #[cfg(feature = "trace")]
    let asked = tv;
    #[cfg(feature = "trace")]
    let sets = [r, w, e].map(|p| p.cast_const().cast::<libc::c_ulong>());
    #[cfg(feature = "trace")]
    let before = t::is_enabled().then(|| select_sets(nfds, sets));
    let ret = run(Syscall::Pselect6, 0, |_| {
        // SAFETY: each set pointer is NULL or a valid, writable fd_set
        // borrowed for the call, and the kernel touches only their first
        // `nfds` <= FD_SETSIZE bits; tvp is NULL or points at a timeval that
        // lives across the call.
        ret_int(unsafe { pselect6(nfds as libc::c_int, r, w, e, tvp) })
    })
    .map(|n| n as usize);
    strace!(
        Syscall::Pselect6,
        &t::Noted(&ret, &SelectResult(&ret, nfds, sets, tv)),
        "{nfds}, {}, {}, NULL",
        before.as_deref().unwrap_or(""),
        t::Timeval(asked)
    );
    ret
}

/// `select(nfds, r, w, e, tv)` as glibc makes it on x86_64, on every
/// target: `pselect6(nfds, r, w, e, &ts, NULL)` through `syscall(2)`,
/// with the timeval handed over as a timespec and the time left the
/// kernel writes back copied into the timeval (cut to the microsecond, as
/// glibc does). Through libc the kernel would see `select` on musl (with
/// the time left going to a copy) and `pselect6_time64` on i686 with
/// glibc 2.34 and later.
///
/// # Safety
///
/// As select(2): each set pointer is NULL or valid for reads and writes of
/// `nfds` bits; `tv` is NULL or points at a timeval valid for reads and
/// writes.
unsafe fn pselect6(
    nfds: libc::c_int,
    r: *mut libc::fd_set,
    w: *mut libc::fd_set,
    e: *mut libc::fd_set,
    tv: *mut libc::timeval,
) -> libc::c_int {
    // SAFETY: tv is NULL or valid for reads (the caller's contract).
    let mut ts = unsafe { tv.as_ref() }.map(|tv| libc::timespec {
        // A timeval's seconds fit a timespec's (both time_t); `as _` names
        // the type through the struct (libc deprecates time_t on musl).
        tv_sec: tv.tv_sec as _,
        // At most 999,999,000: fits a 32-bit long.
        tv_nsec: tv.tv_usec as libc::c_long * 1000,
    });
    let tsp = match ts.as_mut() {
        Some(ts) => std::ptr::from_mut(ts),
        None => std::ptr::null_mut(),
    };
    // SAFETY: the set pointers are as the caller promised; tsp is NULL or
    // points at a timespec (the native one, which pselect6 reads on every
    // target the crate builds for) that lives across the call; a NULL
    // sixth argument leaves the signal mask alone.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pselect6,
            nfds as libc::c_long,
            r,
            w,
            e,
            tsp,
            std::ptr::null::<libc::c_void>(),
        )
    };
    // SAFETY: tv is NULL or valid for writes (the caller's contract).
    if let (Some(tv), Some(ts)) = (unsafe { tv.as_mut() }, ts) {
        tv.tv_sec = ts.tv_sec as _;
        tv.tv_usec = (ts.tv_nsec / 1000) as _;
    }
    // A count of ready fds, or -1 with errno set (untouched since).
    ret as libc::c_int
}

/// Bits per word of a select set: the kernel reads fd sets as arrays of
/// `unsigned long`, bit `fd % BITS` of word `fd / BITS`.
pub(crate) const SELECT_WORD_BITS: usize = libc::c_ulong::BITS as usize;

/// `select(nfds, readfds, writefds, exceptfds, timeout)` over sets of any
/// size, held as arrays of `unsigned long` words: Linux reads `nfds` bits
/// from each pointer whatever FD_SETSIZE says. Each set given must hold at
/// least `nfds` bits; a set that is `None` goes to the kernel as NULL.
/// `pselect6` in the kernel.
pub(crate) fn select_words(
    nfds: usize,
    read: Option<&mut [libc::c_ulong]>,
    write: Option<&mut [libc::c_ulong]>,
    except: Option<&mut [libc::c_ulong]>,
    timeout: Option<Duration>,
) -> io::Result<usize> {
    let words = nfds.div_ceil(SELECT_WORD_BITS);
    let ptr = |set: Option<&mut [libc::c_ulong]>| -> *mut libc::fd_set {
        match set {
            Some(s) => {
                assert!(s.len() >= words, "select set shorter than nfds {nfds}");
                s.as_mut_ptr().cast()
            }
            None => std::ptr::null_mut(),
        }
    };
    let (r, w, e) = (ptr(read), ptr(write), ptr(except));
    let nfds = libc::c_int::try_from(nfds)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "nfds beyond c_int"))?;
    let mut tv = timeout.map(timeout_timeval);
    let tvp = match tv.as_mut() {
        Some(tv) => std::ptr::from_mut(tv),
        None => std::ptr::null_mut(),
    };
    record_select_timeout(tv.as_ref());
    // Linux writes the time left back into the timeval: keep what was asked.
    #[cfg(feature = "trace")]
    let asked = tv;
    #[cfg(feature = "trace")]
    let bits = nfds as usize;
    #[cfg(feature = "trace")]
    let sets = [r, w, e].map(|p| p.cast_const().cast::<libc::c_ulong>());
    #[cfg(feature = "trace")]
    let before = t::is_enabled().then(|| select_sets(bits, sets));
    let ret = run(Syscall::Pselect6, 0, |_| {
        // SAFETY: each set pointer is NULL or points at a slice writable for
        // at least `nfds` bits (checked above), the unsigned-long array the
        // kernel expects, which reads and writes only that many bits; tvp is
        // NULL or points at a timeval that lives across the call.
        ret_int(unsafe { pselect6(nfds, r, w, e, tvp) })
    })
    .map(|n| n as usize);
    strace!(
        Syscall::Pselect6,
        &t::Noted(&ret, &SelectResult(&ret, bits, sets, tv)),
        "{nfds}, {}, {}, NULL",
        before.as_deref().unwrap_or(""),
        t::Timeval(asked)
    );
    ret
}

/// `fcntl(fd, F_GETFD)` on a bare fd number that may no longer be open (or
/// is not adopted yet): how select finds which of its registered numbers
/// the caller closed, and how socket activation checks an inherited fd
/// before adopting it.
/// `EBADF` means the number is not open. No BorrowedFd is made for it,
/// since it may name nothing.
pub(crate) fn fcntl_getfd_raw(fd: RawFd) -> io::Result<libc::c_int> {
    let r = run(Syscall::Fcntl, 0, |_| {
        // SAFETY: F_GETFD takes no argument and only reads the fd table; a
        // number that names nothing gives EBADF, not undefined behaviour.
        ret_int(unsafe { super::fcntl_int(fd, libc::F_GETFD, 0) })
    });
    strace!(
        Syscall::Fcntl,
        &t::FlagsRet(&r, t::FD_FLAGS),
        "{fd}, F_GETFD"
    );
    r
}

/// `epoll_create1(EPOLL_CLOEXEC)`: a new epoll instance, adopted at once.
pub(crate) fn epoll_create1() -> io::Result<OwnedFd> {
    let r = run(Syscall::EpollCreate1, 0, |_| {
        // SAFETY: no pointers; the fd returned is adopted at once.
        ret_owned_fd(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })
    });
    strace!(Syscall::EpollCreate1, &r, "EPOLL_CLOEXEC");
    r
}

/// `epoll_ctl(epfd, op, fd, &event)`; `event` is ignored by the kernel for
/// `EPOLL_CTL_DEL` (pass anything). The target is a bare number: the epoll
/// backend re-arms registrations it knows only by number, and a number
/// that names nothing is `EBADF` from the kernel, not undefined behaviour.
pub(crate) fn epoll_ctl(
    epfd: BorrowedFd<'_>,
    op: libc::c_int,
    fd: RawFd,
    events: u32,
    data: u64,
) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: data };
    let r = run(Syscall::EpollCtl, 0, |_| {
        // SAFETY: epfd is borrowed for the call; fd is only a number to the
        // kernel; ev is a valid epoll_event the kernel only reads.
        ret_unit(unsafe { libc::epoll_ctl(epfd.as_raw_fd(), op, fd, &raw mut ev) })
    });
    #[cfg(feature = "trace")]
    let event = t::With(|f: &mut std::fmt::Formatter<'_>| {
        if op == libc::EPOLL_CTL_DEL {
            // The kernel ignores it, and strace shows its address.
            write!(f, "{:p}", &raw const ev)
        } else {
            write!(f, "{}", EpollEvent(events, data))
        }
    });
    strace!(
        Syscall::EpollCtl,
        &r,
        "{}, {}, {fd}, {event}",
        epfd.as_raw_fd(),
        Named(op, t::EPOLL_OP)
    );
    r
}

/// `epoll_wait(epfd, events, maxevents, timeout_ms)`: fills the front of
/// `events` and returns how many it filled.
pub(crate) fn epoll_wait(
    epfd: BorrowedFd<'_>,
    events: &mut [libc::epoll_event],
    timeout_ms: libc::c_int,
) -> io::Result<usize> {
    let max = events.len().min(libc::c_int::MAX as usize) as libc::c_int;
    #[cfg(feature = "stats")]
    super::stats::record_timeout(
        (timeout_ms >= 0).then(|| Duration::from_millis(timeout_ms as u64)),
    );
    let r = run(Syscall::EpollWait, 0, |_| {
        // SAFETY: epfd is borrowed for the call; events is writable for
        // `max` entries.
        ret_int(unsafe { libc::epoll_wait(epfd.as_raw_fd(), events.as_mut_ptr(), max, timeout_ms) })
    })
    .map(|n| n as usize);
    strace!(
        Syscall::EpollWait,
        &r,
        "{}, {}, {max}, {timeout_ms}{}",
        epfd.as_raw_fd(),
        EpollEvents(&events[..*r.as_ref().unwrap_or(&0)]),
        // epoll_pwait's NULL mask and its size (_NSIG / 8).
        if super::EPOLL_WAIT_IS_PWAIT {
            ", NULL, 8"
        } else {
            ""
        }
    );
    r
}

/// `epoll_pwait2(epfd, events, maxevents, timeout, NULL, 0)` through
/// `syscall(2)` (libc has no wrapper): a timeout in nanoseconds. `None`
/// blocks. Linux 5.11 and later; `ENOSYS` before.
pub(crate) fn epoll_pwait2(
    epfd: BorrowedFd<'_>,
    events: &mut [libc::epoll_event],
    timeout: Option<Duration>,
) -> io::Result<usize> {
    let max = events.len().min(libc::c_int::MAX as usize) as libc::c_int;
    let ts = timeout.map(timeout_timespec);
    let tsp = match ts.as_ref() {
        Some(ts) => std::ptr::from_ref(ts),
        None => std::ptr::null(),
    };
    #[cfg(feature = "stats")]
    super::stats::record_timeout(ts.map(|ts| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)));
    let r = run(Syscall::EpollPwait2, 0, |_| {
        // The timespec is the kernel's 16-byte __kernel_timespec on every
        // target, and a NULL sigmask with size 0 leaves the mask alone.
        // SAFETY: epfd is borrowed for the call; events is writable for
        // `max` entries; tsp is NULL or points at `ts`, alive across it.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait2,
                epfd.as_raw_fd() as libc::c_long,
                events.as_mut_ptr(),
                max as libc::c_long,
                tsp,
                std::ptr::null::<libc::sigset_t>(),
                0 as libc::c_long,
            )
        };
        ret_len(ret as libc::ssize_t)
    });
    strace!(
        Syscall::EpollPwait2,
        &r,
        "{}, {}, {max}, {}, NULL, 0",
        epfd.as_raw_fd(),
        EpollEvents(&events[..*r.as_ref().unwrap_or(&0)]),
        Timespec(ts.map(|ts| (ts.tv_sec, ts.tv_nsec)))
    );
    r
}

/// `eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)` (`eventfd2` in the kernel): a
/// counter fd that is readable while non-zero.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    let flags = libc::EFD_CLOEXEC | libc::EFD_NONBLOCK;
    let r = run(Syscall::Eventfd2, 0, |_| {
        // SAFETY: no pointers; the fd returned is adopted at once.
        ret_owned_fd(unsafe { libc::eventfd(0, flags) })
    });
    strace!(Syscall::Eventfd2, &r, "0, {}", Flags(flags, t::EFD));
    r
}

/// `read(fd, buf, len)`.
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    let r = run(Syscall::Read, buf.len(), |n| {
        // SAFETY: fd is borrowed for the call; buf is writable for
        // n <= buf.len() bytes.
        ret_len(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), n) })
    });
    strace!(
        Syscall::Read,
        &r,
        "{}, {}, {}",
        fd.as_raw_fd(),
        RecvBuf(
            r.as_ref().ok().map(|&n| &buf[..n.min(buf.len())]),
            buf.as_ptr()
        ),
        buf.len()
    );
    r
}

/// `write(fd, buf, len)`.
pub(crate) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    let r = run(Syscall::Write, buf.len(), |n| {
        // SAFETY: fd is borrowed for the call; buf is readable for
        // n <= buf.len() bytes.
        ret_len(unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), n) })
    });
    strace!(
        Syscall::Write,
        &r,
        "{}, {}, {}",
        fd.as_raw_fd(),
        Buf(buf),
        buf.len()
    );
    r
}

/// select's sets as strace prints them: `[3 5], NULL, NULL` (a set not
/// given is NULL).
#[cfg(feature = "trace")]
fn select_sets(nfds: usize, sets: [*const libc::c_ulong; 3]) -> String {
    let mut out = String::new();
    for (i, set) in sets.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if set.is_null() {
            out.push_str("NULL");
        } else {
            t::fd_list(&mut out, nfds, |fd| set_bit(set, fd));
        }
    }
    out
}

/// Bit `fd` of a select set, held as the kernel reads it: unsigned longs.
/// A NULL set holds nothing.
#[cfg(feature = "trace")]
fn set_bit(set: *const libc::c_ulong, fd: usize) -> bool {
    if set.is_null() {
        return false;
    }
    // SAFETY: `set` points at a set of at least `nfds` bits (an fd_set, or a
    // word slice checked against nfds) that the select call borrows for its
    // whole duration, and `fd < nfds`.
    let word = unsafe { *set.add(fd / SELECT_WORD_BITS) };
    word & (1 << (fd % SELECT_WORD_BITS)) != 0
}

/// select's result detail as strace prints it: `in [9]`, `out [5]`, or
/// `Timeout`.
#[cfg(feature = "trace")]
struct SelectResult<'a>(
    &'a io::Result<usize>,
    usize,
    [*const libc::c_ulong; 3],
    /// The time left that Linux wrote back, cut to microseconds in the
    /// timeval (so strace's `left` may differ in the last three digits).
    Option<libc::timeval>,
);

#[cfg(feature = "trace")]
impl std::fmt::Display for SelectResult<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Ok(0) => f.write_str("Timeout"),
            Ok(_) => {
                let mut s = String::new();
                for (name, set) in ["in ", "out ", "except "].into_iter().zip(self.2) {
                    if (0..self.1).any(|fd| set_bit(set, fd)) {
                        if !s.is_empty() {
                            s.push_str(", ");
                        }
                        s.push_str(name);
                        t::fd_list(&mut s, self.1, |fd| set_bit(set, fd));
                    }
                }
                if let Some(left) = self.3 {
                    s.push_str(&format!(", left {}", t::Timeval(Some(left))));
                }
                f.write_str(&s)
            }
            Err(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_never_down() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms(Some(Duration::from_micros(500))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_nanos(1_000_001))), 2);
        assert_eq!(timeout_ms(Some(Duration::MAX)), libc::c_int::MAX);
        let tv = timeout_timeval(Duration::from_nanos(1));
        assert_eq!((tv.tv_sec, tv.tv_usec), (0, 1));
        let tv = timeout_timeval(Duration::new(1, 999_999_001));
        assert_eq!((tv.tv_sec, tv.tv_usec), (2, 0));
        let tv = timeout_timeval(Duration::MAX);
        assert_eq!(tv.tv_sec as u64, MAX_TIMEOUT_SECS);
        let ts = timeout_timespec(Duration::from_micros(500));
        assert_eq!((ts.tv_sec, ts.tv_nsec), (0, 500_000));
    }

    #[test]
    fn fd_set_helpers() {
        let mut s = fd_set_new();
        assert!(!fd_set_contains(&s, 1023));
        fd_set_insert(&mut s, 1023);
        fd_set_insert(&mut s, 0);
        assert!(fd_set_contains(&s, 1023) && fd_set_contains(&s, 0));
        fd_set_remove(&mut s, 1023);
        assert!(!fd_set_contains(&s, 1023));
    }

    #[test]
    #[should_panic(expected = "outside fd_set")]
    fn fd_set_refuses_out_of_range() {
        let mut s = fd_set_new();
        fd_set_insert(&mut s, FD_SETSIZE as RawFd);
    }
}
