//! The syscall layer: the only code in the crate that calls `libc`
//! functions.
//!
//! Every syscall of the crate is made here, once, through a function named
//! after the C call. Above this layer nothing names a `libc::` function
//! (constants and types are fine), so tracing, fault injection, syscall
//! counting and errno conversion live in one place.
//!
//! Conventions (see STYLE.md):
//! - each wrapper takes `BorrowedFd<'_>` and Rust slices, returns
//!   `io::Result`, and converts its result through a named helper that says
//!   what comes back: [`ret_unit`] (nothing), [`ret_len`] (a length),
//!   [`ret_owned_fd`] (a new fd, adopted into an `OwnedFd` at once) or
//!   [`ret_errno`] (nothing, pthread style: the errno is the return value);
//! - errno is read inside those helpers, right after the call, before any
//!   cleanup could overwrite it;
//! - no wrapper retries `EINTR`: a name ending in `_r` would say it did, and
//!   none does.
#![allow(unsafe_code)]

pub(crate) mod cpu;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub(crate) mod msg;
pub(crate) mod net;
pub(crate) mod poll;
pub(crate) mod process;
pub(crate) mod source;
#[cfg(feature = "stats")]
pub mod stats;
#[cfg(feature = "trace")]
pub mod trace;

use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

/// Prints the strace line of a syscall that just returned, when the
/// `trace` feature is compiled in and the trace is on: `strace!(call,
/// &result, "format", args...)` for the arguments between the parentheses.
/// Without the feature it expands to nothing at all.
macro_rules! strace {
    ($call:expr, $ret:expr, $($fmt:tt)*) => {
        #[cfg(feature = "trace")]
        if $crate::sys::trace::is_enabled() {
            $crate::sys::trace::emit($call.name(), format_args!($($fmt)*), $ret);
        }
    };
}
pub(crate) use strace;

/// Every syscall the crate makes, named as strace names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(not(feature = "stats"), allow(dead_code))]
#[repr(u8)]
pub enum Syscall {
    /// `socket(2)`
    Socket,
    /// `socketpair(2)`
    Socketpair,
    /// `bind(2)`
    Bind,
    /// `listen(2)`
    Listen,
    /// `accept4(2)`
    Accept4,
    /// `connect(2)`
    Connect,
    /// `getsockname(2)`
    Getsockname,
    /// `getpeername(2)`
    Getpeername,
    /// `shutdown(2)`
    Shutdown,
    /// `sendto(2)` (`send` is `sendto` with a NULL address)
    Sendto,
    /// `recvfrom(2)` (`recv` is `recvfrom` with a NULL address)
    Recvfrom,
    /// `sendmsg(2)`
    Sendmsg,
    /// `recvmsg(2)`
    Recvmsg,
    /// `sendmmsg(2)`
    Sendmmsg,
    /// `recvmmsg(2)`
    Recvmmsg,
    /// `getsockopt(2)`
    Getsockopt,
    /// `setsockopt(2)`
    Setsockopt,
    /// `fcntl(2)` (made through `syscall(2)`: `fcntl`, never `fcntl64`,
    /// on every target)
    Fcntl,
    /// `close(2)`
    Close,
    /// `read(2)`
    Read,
    /// `write(2)`
    Write,
    /// `pselect6(2)`: the crate's `select`, made through `syscall(2)` as
    /// glibc makes it on x86_64, on every target
    Pselect6,
    /// `poll(2)`; the kernel sees `ppoll` on aarch64, which has no
    /// `poll`, and [`Syscall::name`] says so
    Poll,
    /// `epoll_create1(2)`
    EpollCreate1,
    /// `epoll_ctl(2)`
    EpollCtl,
    /// `epoll_wait(2)`; the kernel sees `epoll_pwait` with a NULL mask
    /// where libc makes it so (musl; aarch64, which has no `epoll_wait`),
    /// and [`Syscall::name`] says so
    EpollWait,
    /// `epoll_pwait2(2)`
    EpollPwait2,
    /// `eventfd2(2)`
    Eventfd2,
    /// `timerfd_create(2)`
    TimerfdCreate,
    /// `timerfd_settime(2)` (made through `syscall(2)`: never the
    /// `..._time64` variant)
    TimerfdSettime,
    /// `timerfd_gettime(2)` (made through `syscall(2)`: never the
    /// `..._time64` variant)
    TimerfdGettime,
    /// `signalfd4(2)`
    Signalfd4,
    /// `rt_sigprocmask(2)`
    RtSigprocmask,
    /// `getpid(2)`
    Getpid,
    /// `geteuid(2)` (`geteuid32` on 32-bit x86 and arm)
    Geteuid,
    /// `getegid(2)` (`getegid32` on 32-bit x86 and arm)
    Getegid,
    /// `kill(2)`
    Kill,
    /// `sched_setaffinity(2)` (made through `syscall(2)`)
    SchedSetaffinity,
    /// `sched_getaffinity(2)` (made through `syscall(2)`, so its result is
    /// the kernel's count of bytes written, as strace shows it)
    SchedGetaffinity,
    /// `pipe2(2)`
    Pipe2,
    /// `fork(2)`; the kernel sees `clone` where libc makes it so (glibc
    /// always; musl on aarch64, which has no `fork`), and
    /// [`Syscall::name`] says so
    Fork,
    /// `dup3(2)`, made in a forked child (counted in the parent, never
    /// traced: see `activation::spawn_with_listeners`)
    Dup3,
    /// `execve(2)`, made in a forked child (counted in the parent, never
    /// traced)
    Execve,
    /// `exit_group(2)` (libc's `_exit`), made by a forked child whose
    /// execve failed (never counted or traced)
    ExitGroup,
    /// `wait4(2)` (libc's `waitpid`)
    Wait4,
}

impl Syscall {
    /// Every syscall, in declaration order (index `as usize`), so a
    /// caller can walk the counters by name without listing the variants.
    #[cfg_attr(not(feature = "stats"), allow(dead_code))]
    pub const ALL: [Syscall; Syscall::COUNT] = [
        Syscall::Socket,
        Syscall::Socketpair,
        Syscall::Bind,
        Syscall::Listen,
        Syscall::Accept4,
        Syscall::Connect,
        Syscall::Getsockname,
        Syscall::Getpeername,
        Syscall::Shutdown,
        Syscall::Sendto,
        Syscall::Recvfrom,
        Syscall::Sendmsg,
        Syscall::Recvmsg,
        Syscall::Sendmmsg,
        Syscall::Recvmmsg,
        Syscall::Getsockopt,
        Syscall::Setsockopt,
        Syscall::Fcntl,
        Syscall::Close,
        Syscall::Read,
        Syscall::Write,
        Syscall::Pselect6,
        Syscall::Poll,
        Syscall::EpollCreate1,
        Syscall::EpollCtl,
        Syscall::EpollWait,
        Syscall::EpollPwait2,
        Syscall::Eventfd2,
        Syscall::TimerfdCreate,
        Syscall::TimerfdSettime,
        Syscall::TimerfdGettime,
        Syscall::Signalfd4,
        Syscall::RtSigprocmask,
        Syscall::Getpid,
        Syscall::Geteuid,
        Syscall::Getegid,
        Syscall::Kill,
        Syscall::SchedSetaffinity,
        Syscall::SchedGetaffinity,
        Syscall::Pipe2,
        Syscall::Fork,
        Syscall::Dup3,
        Syscall::Execve,
        Syscall::ExitGroup,
        Syscall::Wait4,
    ];

    /// Number of syscalls in the enum (the counters' array length).
    #[cfg_attr(not(feature = "stats"), allow(dead_code))]
    pub const COUNT: usize = Syscall::Wait4 as usize + 1;

    /// The syscall's name as strace prints it: the call the kernel sees
    /// on this target.
    #[cfg_attr(not(feature = "stats"), allow(dead_code))]
    pub const fn name(self) -> &'static str {
        match self {
            Syscall::Socket => "socket",
            Syscall::Socketpair => "socketpair",
            Syscall::Bind => "bind",
            Syscall::Listen => "listen",
            Syscall::Accept4 => "accept4",
            Syscall::Connect => "connect",
            Syscall::Getsockname => "getsockname",
            Syscall::Getpeername => "getpeername",
            Syscall::Shutdown => "shutdown",
            Syscall::Sendto => "sendto",
            Syscall::Recvfrom => "recvfrom",
            Syscall::Sendmsg => "sendmsg",
            Syscall::Recvmsg => "recvmsg",
            Syscall::Sendmmsg => "sendmmsg",
            Syscall::Recvmmsg => "recvmmsg",
            Syscall::Getsockopt => "getsockopt",
            Syscall::Setsockopt => "setsockopt",
            Syscall::Fcntl => "fcntl",
            Syscall::Close => "close",
            Syscall::Read => "read",
            Syscall::Write => "write",
            Syscall::Pselect6 => "pselect6",
            // aarch64 has no poll: libc makes ppoll.
            Syscall::Poll if cfg!(target_arch = "aarch64") => "ppoll",
            Syscall::Poll => "poll",
            Syscall::EpollCreate1 => "epoll_create1",
            Syscall::EpollCtl => "epoll_ctl",
            Syscall::EpollWait if EPOLL_WAIT_IS_PWAIT => "epoll_pwait",
            Syscall::EpollWait => "epoll_wait",
            Syscall::EpollPwait2 => "epoll_pwait2",
            Syscall::Eventfd2 => "eventfd2",
            Syscall::TimerfdCreate => "timerfd_create",
            Syscall::TimerfdSettime => "timerfd_settime",
            Syscall::TimerfdGettime => "timerfd_gettime",
            Syscall::Signalfd4 => "signalfd4",
            Syscall::RtSigprocmask => "rt_sigprocmask",
            Syscall::Getpid => "getpid",
            // 32-bit x86 and arm keep 16-bit ids in geteuid/getegid;
            // every libc calls the 32-bit ones there.
            Syscall::Geteuid if IDS32 => "geteuid32",
            Syscall::Geteuid => "geteuid",
            Syscall::Getegid if IDS32 => "getegid32",
            Syscall::Getegid => "getegid",
            Syscall::Kill => "kill",
            Syscall::SchedSetaffinity => "sched_setaffinity",
            Syscall::SchedGetaffinity => "sched_getaffinity",
            Syscall::Pipe2 => "pipe2",
            Syscall::Fork if FORK_IS_CLONE => "clone",
            Syscall::Fork => "fork",
            Syscall::Dup3 => "dup3",
            Syscall::Execve => "execve",
            Syscall::ExitGroup => "exit_group",
            Syscall::Wait4 => "wait4",
        }
    }
}

/// Whether libc's `epoll_wait` is `epoll_pwait(epfd, events, max,
/// timeout, NULL, 8)` in the kernel: musl's always is, and aarch64 has no
/// `epoll_wait` syscall at all.
pub(crate) const EPOLL_WAIT_IS_PWAIT: bool =
    cfg!(any(target_env = "musl", target_arch = "aarch64"));

/// Whether libc's `fork` is `clone(SIGCHLD, ...)` in the kernel: glibc's
/// always is, and musl's where the target has no `fork` syscall (aarch64).
pub(crate) const FORK_IS_CLONE: bool = cfg!(any(target_env = "gnu", target_arch = "aarch64"));

/// Whether libc's `geteuid`/`getegid` are `geteuid32`/`getegid32` in the
/// kernel (32-bit x86 and arm, whose plain ones return 16-bit ids).
const IDS32: bool = cfg!(any(target_arch = "x86", target_arch = "arm"));

/// Notes that `call` is about to enter the kernel. Free (an empty inline
/// function) unless the `stats` feature is on.
#[inline(always)]
pub(crate) fn enter(call: Syscall) {
    #[cfg(feature = "stats")]
    stats::record(call);
    #[cfg(not(feature = "stats"))]
    let _ = call;
}

/// Makes one syscall through the hooks: counts it ([`enter`]) and, with
/// the `fault-injection` feature, lets a test's script replace it.
///
/// `len` is the call's buffer length, handed to `f` (cut short when a
/// short count is scripted); calls without one pass 0 and ignore it. An
/// injected errno returns without calling `f`: the kernel never sees the
/// call. Without the feature this is `enter(call); f(len)`.
#[inline(always)]
pub(crate) fn run<T>(
    call: Syscall,
    len: usize,
    f: impl FnOnce(usize) -> io::Result<T>,
) -> io::Result<T> {
    enter(call);
    #[cfg(feature = "fault-injection")]
    match fault::take(call) {
        Some(fault::Fault::Errno(e)) => return Err(io::Error::from_raw_os_error(e)),
        Some(fault::Fault::Short(n)) => return f(len.min(n)),
        None => {}
    }
    f(len)
}

/// `-1` means failure with errno set; anything else is success with no value.
/// errno is read here, immediately after the call.
#[inline]
pub(crate) fn ret_unit(ret: libc::c_int) -> io::Result<()> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A non-negative count of bytes (or messages, or ready fds); `-1` is
/// failure with errno set.
#[inline]
pub(crate) fn ret_len(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        // ret is non-negative, so it fits in usize.
        Ok(ret as usize)
    }
}

/// A non-negative `c_int` result (a count or a value); `-1` is failure.
#[inline]
pub(crate) fn ret_int(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// The pthread convention: `0` is success, anything else is the errno
/// itself, returned rather than stored in `errno` (`pthread_sigmask`).
#[inline]
pub(crate) fn ret_errno(ret: libc::c_int) -> io::Result<()> {
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(ret))
    }
}

/// A new file descriptor: adopted into an `OwnedFd` right here, so every
/// later error path closes it by dropping.
#[inline]
pub(crate) fn ret_owned_fd(ret: RawFd) -> io::Result<OwnedFd> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        // SAFETY: the kernel just returned `ret` as a new fd that nobody else
        // owns; this is the one owner it gets.
        Ok(unsafe { OwnedFd::from_raw_fd(ret) })
    }
}

/// `fcntl(fd, cmd, arg)` through `syscall(2)`, so the kernel sees `fcntl`
/// with exactly these arguments on every target: libc would make it
/// `fcntl64` on 32-bit targets, and musl adds `O_LARGEFILE` to every
/// `F_SETFL`. Only commands whose argument is an integer (or none) come
/// here, and for those `fcntl` and `fcntl64` are the same call. Returns
/// the kernel's result, `-1` with errno set on failure.
///
/// # Safety
///
/// `cmd` takes an integer argument or none, never a pointer.
pub(crate) unsafe fn fcntl_int(fd: RawFd, cmd: libc::c_int, arg: libc::c_int) -> libc::c_int {
    // SAFETY: the caller passes a command whose argument is an integer, so
    // the kernel reads no memory of ours; an fd that names nothing gives
    // EBADF.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fcntl,
            fd as libc::c_long,
            cmd as libc::c_long,
            arg as libc::c_long,
        )
    };
    // fcntl's results are ints: a flag set, an fd, 0 or -1.
    ret as libc::c_int
}

/// `close(fd)` — release the descriptor.
///
/// Never retried: on Linux the descriptor is gone once close returns, even
/// when it reports `EINTR`; a retry could close a number another thread has
/// just been given. An injected fault (feature `fault-injection`) still
/// closes for real, then reports the injected error: the fd never leaks.
pub(crate) fn close(fd: OwnedFd) -> io::Result<()> {
    let raw = fd.into_raw_fd();
    enter(Syscall::Close);
    #[cfg(feature = "fault-injection")]
    let injected = fault::take(Syscall::Close);
    // SAFETY: `raw` came from an OwnedFd we consumed, so we own it and no one
    // else will close it.
    let r = ret_unit(unsafe { libc::close(raw) });
    #[cfg(feature = "fault-injection")]
    let r = match injected {
        Some(fault::Fault::Errno(e)) => Err(io::Error::from_raw_os_error(e)),
        _ => r,
    };
    strace!(Syscall::Close, &r, "{raw}");
    r
}

/// An fd the crate made for itself (an epoll instance, an eventfd, a
/// timerfd...): like `OwnedFd`, but closed through [`close`], so the
/// counting, trace and fault hooks see its close too.
#[derive(Debug)]
pub(crate) struct Fd(ManuallyDrop<OwnedFd>);

impl Fd {
    pub(crate) fn new(fd: OwnedFd) -> Fd {
        Fd(ManuallyDrop::new(fd))
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: the OwnedFd is taken out once, here, and never used again.
        let fd = unsafe { ManuallyDrop::take(&mut self.0) };
        let _ = close(fd);
    }
}

impl AsFd for Fd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}
