//! Kernel event sources as fds: timerfd and signalfd, and the signal calls
//! that go with them (the thread's signal mask, `kill`).
//!
//! Signal sets cross this layer as a `u64` of kernel signal numbers (bit
//! `n - 1` is signal `n`; Linux has 64 signals): glibc's `sigset_t` is
//! opaque, so it is built and read here with `sigemptyset`, `sigaddset`
//! and `sigismember`, which are plain functions over memory, not syscalls.

#[cfg(feature = "trace")]
use super::trace::{self as t, Named, Timespec};
use super::{Syscall, ret_errno, ret_len, ret_owned_fd, ret_unit, run, strace};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

static_assertions::assert_eq_size!(libc::signalfd_siginfo, [u8; 128]);

/// The longest time handed to timerfd_settime, in seconds: about 68 years,
/// as for the waits' timeouts. Longer ones are clamped: they are "never"
/// in practice.
const MAX_TIMER_SECS: u64 = i32::MAX as u64;

/// Turns a duration into a `timespec`, exact to the nanosecond, clamped at
/// `MAX_TIMER_SECS`.
fn timespec(d: Duration) -> libc::timespec {
    let (secs, nsecs) = if d.as_secs() > MAX_TIMER_SECS {
        (MAX_TIMER_SECS, 0)
    } else {
        (d.as_secs(), d.subsec_nanos())
    };
    // secs <= i32::MAX fits libc's time_t on every target; `as _` names it
    // through the struct (libc deprecates the alias on musl).
    libc::timespec {
        tv_sec: secs as _,
        tv_nsec: nsecs as libc::c_long,
    }
}

/// `timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)`: a new,
/// disarmed timer, adopted at once.
pub(crate) fn timerfd_create() -> io::Result<OwnedFd> {
    let r = run(Syscall::TimerfdCreate, 0, |_| {
        // SAFETY: no pointers; the fd returned is adopted at once.
        ret_owned_fd(unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_CLOEXEC | libc::TFD_NONBLOCK,
            )
        })
    });
    strace!(
        Syscall::TimerfdCreate,
        &r,
        "CLOCK_MONOTONIC, TFD_CLOEXEC|TFD_NONBLOCK"
    );
    r
}

/// `timerfd_settime(fd, 0, {interval, value}, NULL)`: first expiry after
/// `value` (zero disarms), then every `interval` (zero: no repeat). Both are
/// relative to now on the monotonic clock. Resets the expiration count.
pub(crate) fn timerfd_settime(
    fd: BorrowedFd<'_>,
    value: Duration,
    interval: Duration,
) -> io::Result<()> {
    let new = libc::itimerspec {
        it_interval: timespec(interval),
        it_value: timespec(value),
    };
    let r = run(Syscall::TimerfdSettime, 0, |_| {
        // Through syscall(2): glibc 2.34+ on 32-bit targets may make it
        // timerfd_settime64; the native itimerspec is what this call reads.
        // SAFETY: fd is borrowed for the call; `new` is a valid itimerspec
        // the kernel only reads; a NULL old_value asks for nothing back.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_timerfd_settime,
                fd.as_raw_fd() as libc::c_long,
                0 as libc::c_long,
                &raw const new,
                std::ptr::null_mut::<libc::itimerspec>(),
            )
        };
        ret_unit(ret as libc::c_int)
    });
    strace!(
        Syscall::TimerfdSettime,
        &r,
        "{}, 0, {{it_interval={}, it_value={}}}, NULL",
        fd.as_raw_fd(),
        Timespec::of(&new.it_interval),
        Timespec::of(&new.it_value)
    );
    r
}

/// `timerfd_gettime(fd, &cur)`: the `itimerspec` the kernel filled in
/// (time left to the next expiry, interval), decoded above this layer by a
/// pure function.
pub(crate) fn timerfd_gettime(fd: BorrowedFd<'_>) -> io::Result<libc::itimerspec> {
    let mut cur = MaybeUninit::<libc::itimerspec>::uninit();
    let r = run(Syscall::TimerfdGettime, 0, |_| {
        // Through syscall(2): glibc 2.34+ on i686 makes it
        // timerfd_gettime64; the native itimerspec is what this call writes.
        // SAFETY: fd is borrowed for the call; cur is writable for one
        // itimerspec.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_timerfd_gettime,
                fd.as_raw_fd() as libc::c_long,
                cur.as_mut_ptr(),
            )
        };
        ret_unit(ret as libc::c_int)
    });
    strace!(Syscall::TimerfdGettime, &r, "{}, {{...}}", fd.as_raw_fd());
    r?;
    // SAFETY: the call succeeded, so the kernel filled in the whole struct.
    Ok(unsafe { cur.assume_init() })
}

/// The highest signal number Linux has (`_NSIG`).
pub(crate) const MAX_SIGNAL: libc::c_int = 64;

/// A `sigset_t` holding the signals whose bits are set in `bits`.
///
/// glibc's `sigaddset` refuses its two internal signals (32 and 33) with
/// `EINVAL`; the caller's set never holds them, and a refusal would only
/// leave the bit out, so its result is not needed.
fn sigset_from_bits(bits: u64) -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset writes the whole set it is pointed at, and `set`
    // is valid for writes of one sigset_t.
    unsafe { libc::sigemptyset(set.as_mut_ptr()) };
    // SAFETY: sigemptyset above initialised the whole set.
    let mut set = unsafe { set.assume_init() };
    for signo in 1..=MAX_SIGNAL {
        if bits & (1 << (signo - 1)) != 0 {
            // SAFETY: `set` is a valid, initialised sigset_t; sigaddset
            // checks `signo` itself and writes only inside the set.
            unsafe { libc::sigaddset(&raw mut set, signo) };
        }
    }
    set
}

/// The bits of the signals 1..=64 that `set` holds.
fn sigset_to_bits(set: &libc::sigset_t) -> u64 {
    let mut bits = 0;
    for signo in 1..=MAX_SIGNAL {
        // SAFETY: `set` is a valid, initialised sigset_t; sigismember only
        // reads it, and checks `signo` itself.
        if unsafe { libc::sigismember(set, signo) } == 1 {
            bits |= 1 << (signo - 1);
        }
    }
    bits
}

/// `signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)` (`signalfd4` in the
/// kernel): a new fd that reads the signals in `bits` that are pending for
/// the reading thread or its process. Does not touch the signal mask.
pub(crate) fn signalfd(bits: u64) -> io::Result<OwnedFd> {
    let mask = sigset_from_bits(bits);
    let r = run(Syscall::Signalfd4, 0, |_| {
        // SAFETY: -1 asks for a new fd; mask is a valid sigset_t the kernel
        // only reads; the fd returned is adopted at once.
        ret_owned_fd(unsafe {
            libc::signalfd(-1, &raw const mask, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK)
        })
    });
    strace!(
        Syscall::Signalfd4,
        &r,
        "-1, {}, 8, SFD_CLOEXEC|SFD_NONBLOCK",
        SigSet(bits)
    );
    r
}

/// A signal set as strace prints it: `[HUP INT TERM]`.
#[cfg(feature = "trace")]
struct SigSet(u64);

#[cfg(feature = "trace")]
impl std::fmt::Display for SigSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[")?;
        let mut first = true;
        for signo in (1..=MAX_SIGNAL).filter(|n| self.0 & (1 << (n - 1)) != 0) {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            let name = Named(signo, t::SIGNALS).to_string();
            f.write_str(name.strip_prefix("SIG").unwrap_or(&name))?;
        }
        f.write_str("]")
    }
}

/// `pthread_sigmask(how, set, &old)` (`rt_sigprocmask` in the kernel):
/// changes the calling thread's signal mask (`how` is `SIG_BLOCK`,
/// `SIG_UNBLOCK` or `SIG_SETMASK`) and returns the mask it had before.
/// `None` changes nothing and only reads the mask.
pub(crate) fn pthread_sigmask(how: libc::c_int, bits: Option<u64>) -> io::Result<u64> {
    let set = bits.map(sigset_from_bits);
    let setp = match set.as_ref() {
        Some(s) => std::ptr::from_ref(s),
        None => std::ptr::null(),
    };
    let mut old = MaybeUninit::<libc::sigset_t>::uninit();
    let r = run(Syscall::RtSigprocmask, 0, |_| {
        // SAFETY: setp is NULL or points at a sigset_t that lives across the
        // call, which the kernel only reads; old is writable for one
        // sigset_t.
        ret_errno(unsafe { libc::pthread_sigmask(how, setp, old.as_mut_ptr()) })
    });
    strace!(
        Syscall::RtSigprocmask,
        &r,
        "{}, {}, {{...}}, 8",
        Named(how, t::SIG_HOW),
        t::With(|f: &mut std::fmt::Formatter<'_>| match bits {
            Some(b) => write!(f, "{}", SigSet(b)),
            None => f.write_str("NULL"),
        })
    );
    r?;
    // SAFETY: the call succeeded, so the old mask was written in full.
    let old = unsafe { old.assume_init() };
    Ok(sigset_to_bits(&old))
}

/// `read(signalfd, &info, sizeof info)`: one `signalfd_siginfo`, the next
/// pending signal of the fd's set. `EAGAIN` when none is pending.
pub(crate) fn read_siginfo(fd: BorrowedFd<'_>) -> io::Result<libc::signalfd_siginfo> {
    const SIZE: usize = size_of::<libc::signalfd_siginfo>();
    let mut info = MaybeUninit::<libc::signalfd_siginfo>::uninit();
    let r = run(Syscall::Read, SIZE, |len| {
        // SAFETY: fd is borrowed for the call; info is writable for
        // len <= SIZE bytes.
        ret_len(unsafe { libc::read(fd.as_raw_fd(), info.as_mut_ptr().cast(), len) })
    });
    strace!(Syscall::Read, &r, "{}, {{...}}, {SIZE}", fd.as_raw_fd());
    let n = r?;
    if n != SIZE {
        // A signalfd reads whole records or fails; this is not one.
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("read {n} bytes from a signalfd, expected {SIZE}"),
        ));
    }
    // SAFETY: the kernel wrote all SIZE bytes of the record.
    Ok(unsafe { info.assume_init() })
}

/// `kill(pid, sig)`: sends `sig` to the process `pid`. The caller checks
/// `pid > 0`: zero and negative numbers name process groups, and -1 every
/// process the caller may signal.
pub(crate) fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    debug_assert!(pid > 0, "kill to a process group or to everyone");
    let r = run(Syscall::Kill, 0, |_| {
        // SAFETY: no pointers; the caller made sure `pid` names one process.
        ret_unit(unsafe { libc::kill(pid, sig) })
    });
    strace!(Syscall::Kill, &r, "{pid}, {}", Named(sig, t::SIGNALS));
    r
}

/// An all-zero record, for tests of the decoding above this layer.
#[cfg(test)]
pub(crate) fn zeroed_siginfo() -> libc::signalfd_siginfo {
    // SAFETY: signalfd_siginfo is integers and padding only, for which
    // all-zero bytes are a valid value.
    unsafe { std::mem::zeroed() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigset_bits_round_trip() {
        for bits in [0u64, 1, 1 << 14, (1 << 9) | (1 << 63), 0x7fff_ffff] {
            assert_eq!(sigset_to_bits(&sigset_from_bits(bits)), bits);
        }
        // glibc keeps its internal signals 32 and 33 out of any set.
        let internal = (1 << 31) | (1 << 32);
        assert_eq!(sigset_to_bits(&sigset_from_bits(internal)), 0);
    }

    #[test]
    fn timespecs_are_exact_and_clamped() {
        let ts = timespec(Duration::new(3, 5));
        assert_eq!((ts.tv_sec, ts.tv_nsec), (3, 5));
        let ts = timespec(Duration::MAX);
        assert_eq!((ts.tv_sec as u64, ts.tv_nsec), (MAX_TIMER_SECS, 0));
    }
}
