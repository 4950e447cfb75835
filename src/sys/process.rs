//! Starting a program with fds at 3, 4, ...: `pipe2`, `fork`, the calls the
//! forked child makes before `execve`, and `wait4` for the parent.
//!
//! Between `fork` and `execve` the child is a copy of a process that may
//! have had other threads, frozen wherever they were: holding the malloc
//! lock, the trace's sink lock, stderr's lock. So the child calls only
//! async-signal-safe functions (getpid, fcntl, dup3, execve, write,
//! _exit), allocates nothing and goes through [`in_child`], which skips
//! every hook: the trace (it formats into a `String` and locks its sink),
//! the counters and the fault script. Both of those are thread-locals; the
//! counters are plain `Cell`s (no lazy set-up, no lock) and would be
//! harmless, but the fault script is a `RefCell<Vec<_>>` whose first use
//! in a thread registers a destructor (an allocation in glibc), and either
//! would count or consume in the child's copy, where the parent never sees
//! it. Instead the parent, just before it forks, counts the child's calls
//! and takes any fault its script holds for them ([`ChildPlan`]), and the
//! child only reads the plan. So the fault hooks cover the child's calls
//! in a parent with any number of threads.
//!
//! Everything the child reads (argv, envp as NUL-terminated C arrays, the
//! fds to place) is built in the parent before the fork; the one value
//! known only after it, the child's pid for `LISTEN_PID`, goes into a
//! fixed slot of zero bytes reserved in the envp entry.

use super::{Fd, Syscall, enter, ret_int, ret_unit, run, strace};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::raw::{c_char, c_int, c_long};

/// The first target fd (`SD_LISTEN_FDS_START`).
const FIRST: RawFd = 3;

/// The longest pid in decimal: `pid_t` is an `i32`.
const PID_DIGITS: usize = 10;

/// `pipe2(fds, O_CLOEXEC)` — a pipe, both ends close-on-exec.
pub(crate) fn pipe2_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds: [c_int; 2] = [-1, -1];
    let r = run(Syscall::Pipe2, 0, |_| {
        // SAFETY: `fds` is two c_ints, which is what pipe2 writes.
        ret_unit(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })
    });
    strace!(Syscall::Pipe2, &r, "[{}, {}], O_CLOEXEC", fds[0], fds[1]);
    r?;
    // SAFETY: pipe2 succeeded: fds[0] is a new fd that nobody else owns.
    let read = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    // SAFETY: as above, for fds[1].
    let write = unsafe { OwnedFd::from_raw_fd(fds[1]) };
    Ok((read, write))
}

/// `wait4(pid, &status, options, NULL)` — reap (or, with `WNOHANG`, look
/// at) the child `pid`. `Ok(None)`: `WNOHANG` and it has not changed
/// state. Not retried on `EINTR`.
pub(crate) fn wait4(pid: libc::pid_t, options: c_int) -> io::Result<Option<c_int>> {
    let mut status: c_int = 0;
    let r = run(Syscall::Wait4, 0, |_| {
        // SAFETY: `status` is a c_int the kernel may write; the rusage
        // pointer is NULL, which the kernel skips.
        ret_int(unsafe { libc::wait4(pid, &raw mut status, options, std::ptr::null_mut()) })
    });
    strace!(
        Syscall::Wait4,
        &r,
        "{pid}, [{status:#x}], {options:#x}, NULL"
    );
    Ok((r? != 0).then_some(status))
}

/// What the child of [`spawn`] executes, built in the parent before the
/// fork: the child only reads it (and writes its pid into `pid_slot`, in
/// its own copy of the memory).
#[derive(Debug)]
pub(crate) struct ExecPlan {
    path: CString,
    // Owners of what `argv` and `envp` point into.
    _args: Vec<CString>,
    _env: Vec<CString>,
    _pid_entry: Vec<u8>,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
    /// Where the child writes its pid's digits: `PID_DIGITS + 1` zero
    /// bytes at the end of the `pid_var=` envp entry.
    pid_slot: *mut u8,
    /// The fds to place at 3, 4, ..., in order.
    sources: Vec<RawFd>,
    /// The child's copies of `sources` above the targets (scratch, sized
    /// before the fork so the child need not allocate).
    high: Vec<RawFd>,
}

impl ExecPlan {
    /// `path` is executed with `args` (argv, argv\[0\] included) and
    /// `env` (`KEY=VALUE` entries) plus `pid_var=<the child's pid>`, with
    /// `sources` placed at fds 3, 4, ...
    pub(crate) fn new(
        path: CString,
        args: Vec<CString>,
        env: Vec<CString>,
        pid_var: &str,
        sources: Vec<RawFd>,
    ) -> ExecPlan {
        let mut pid_entry = Vec::with_capacity(pid_var.len() + 1 + PID_DIGITS + 1);
        pid_entry.extend_from_slice(pid_var.as_bytes());
        pid_entry.push(b'=');
        let at = pid_entry.len();
        pid_entry.resize(at + PID_DIGITS + 1, 0);
        // The buffer never grows again, so these pointers stay valid while
        // the plan lives.
        let entry = pid_entry.as_mut_ptr();
        // SAFETY: `at` is within the buffer, which has PID_DIGITS + 1
        // bytes after it.
        let pid_slot = unsafe { entry.add(at) };
        let mut argv: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<*const c_char> = env.iter().map(|e| e.as_ptr()).collect();
        envp.push(entry.cast_const().cast());
        envp.push(std::ptr::null());
        let high = vec![-1; sources.len()];
        ExecPlan {
            path,
            _args: args,
            _env: env,
            _pid_entry: pid_entry,
            argv,
            envp,
            pid_slot,
            sources,
            high,
        }
    }
}

/// Where the child stops early, decided by the parent's fault script.
#[derive(Clone, Copy, Debug)]
struct ChildPlan {
    /// (step, errno): the step at which the child reports this errno
    /// instead of making the call.
    fault: Option<(usize, c_int)>,
}

/// The calls the child makes, in order, for `n` fds: getpid, fcntl for the
/// report pipe, fcntl for each fd, dup3 for each fd, execve.
fn child_call(step: usize, n: usize) -> Syscall {
    match step {
        0 => Syscall::Getpid,
        s if s < 2 + n => Syscall::Fcntl,
        s if s < 2 + 2 * n => Syscall::Dup3,
        _ => Syscall::Execve,
    }
}

/// In the parent, just before the fork: counts the child's calls and takes
/// the first fault the script holds for one of them. The child stops at
/// that call, so the calls after it are neither counted nor matched.
fn plan_child(n: usize) -> ChildPlan {
    for step in 0..3 + 2 * n {
        let call = child_call(step, n);
        enter(call);
        #[cfg(feature = "fault-injection")]
        if let Some(super::fault::Fault::Errno(e)) = super::fault::take(call) {
            return ChildPlan {
                fault: Some((step, e)),
            };
        }
    }
    ChildPlan { fault: None }
}

/// Makes one syscall in the forked child: no trace, no counting, no fault
/// hook (see the module docs); `injected` is what the parent's plan
/// decided for this call. `-1` from `f` is failure with errno set.
#[inline(always)]
fn in_child(
    _call: Syscall,
    injected: Option<c_int>,
    f: impl FnOnce() -> c_long,
) -> Result<c_long, c_int> {
    if let Some(e) = injected {
        return Err(e);
    }
    let r = f();
    if r == -1 {
        Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(r)
    }
}

/// The child: place the fds, write the pid, execve. Never returns; on a
/// failure it writes the errno to `report` and exits with 127.
fn child(plan: &mut ExecPlan, report: RawFd, cp: ChildPlan) -> ! {
    let n = plan.sources.len();
    let at = |step: usize| match cp.fault {
        Some((s, e)) if s == step => Some(e),
        _ => None,
    };
    // Above every target fd: nothing placed at 3.. can land on these.
    let top = FIRST + n as RawFd;
    // Step 0: the pid, for LISTEN_PID.
    let pid = match in_child(Syscall::Getpid, at(0), || {
        // SAFETY: getpid takes no arguments and cannot fail.
        c_long::from(unsafe { libc::getpid() })
    }) {
        Ok(p) => p as u64,
        Err(e) => fail(report, e),
    };
    let mut digits = [0u8; PID_DIGITS];
    let mut len = 0;
    let mut rest = pid;
    while len < PID_DIGITS {
        digits[len] = b'0' + (rest % 10) as u8;
        len += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for i in 0..len {
        // SAFETY: the slot holds PID_DIGITS + 1 bytes and i < len <=
        // PID_DIGITS; the byte after the digits stays 0, the terminator.
        unsafe { *plan.pid_slot.add(i) = digits[len - 1 - i] };
    }
    // Step 1: the report pipe above the targets (it may sit at 3 or 4).
    let report = match in_child(Syscall::Fcntl, at(1), || {
        // SAFETY: F_DUPFD_CLOEXEC takes an integer.
        c_long::from(unsafe { super::fcntl_int(report, libc::F_DUPFD_CLOEXEC, top) })
    }) {
        Ok(fd) => fd as RawFd,
        Err(e) => fail(report, e),
    };
    // Steps 2..2+n: every source above the targets, close-on-exec, so no
    // dup3 below can overwrite a source not yet placed.
    for i in 0..n {
        let src = plan.sources[i];
        match in_child(Syscall::Fcntl, at(2 + i), || {
            // SAFETY: F_DUPFD_CLOEXEC takes an integer.
            c_long::from(unsafe { super::fcntl_int(src, libc::F_DUPFD_CLOEXEC, top) })
        }) {
            Ok(fd) => plan.high[i] = fd as RawFd,
            Err(e) => fail(report, e),
        }
    }
    // Steps 2+n..2+2n: each into place, without close-on-exec (dup3 with
    // no flags clears it on the new fd alone).
    for i in 0..n {
        let (from, to) = (plan.high[i], FIRST + i as RawFd);
        if let Err(e) = in_child(Syscall::Dup3, at(2 + n + i), || {
            // SAFETY: no pointers; `from` is open and differs from `to`
            // (it is at or above `top`).
            c_long::from(unsafe { libc::dup3(from, to, 0) })
        }) {
            fail(report, e)
        }
    }
    // Step 2+2n: execve. The copies above the targets and the report pipe
    // are close-on-exec: on success the new program sees 0, 1, 2, what the
    // parent left without close-on-exec, and 3.. only.
    let e = match in_child(Syscall::Execve, at(2 + 2 * n), || {
        // SAFETY: path, argv and envp are NUL-terminated strings and
        // NULL-terminated arrays that live in the plan.
        c_long::from(unsafe {
            libc::execve(plan.path.as_ptr(), plan.argv.as_ptr(), plan.envp.as_ptr())
        })
    }) {
        Ok(_) => 0,
        Err(e) => e,
    };
    fail(report, e)
}

/// The child's way out on a failure: the errno to the parent through the
/// report pipe, then `_exit(127)`.
fn fail(report: RawFd, errno: c_int) -> ! {
    let bytes = errno.to_ne_bytes();
    let _ = in_child(Syscall::Write, None, || {
        // SAFETY: `bytes` is readable for its length; a pipe write of 4
        // bytes is atomic.
        unsafe { libc::write(report, bytes.as_ptr().cast(), bytes.len()) as c_long }
    });
    // SAFETY: _exit ends the process at once, without atexit handlers or
    // stdio flushes, whose state is the parent's.
    let _ = in_child(Syscall::ExitGroup, None, || unsafe { libc::_exit(127) });
    // _exit does not return; the loop only satisfies the type.
    #[allow(clippy::empty_loop)]
    loop {}
}

/// `fork()` (`clone` in the kernel where libc makes it so), then in the
/// child [`child`]. Returns the child's pid to the parent.
fn fork(plan: &mut ExecPlan, report: RawFd) -> io::Result<libc::pid_t> {
    let n = plan.sources.len();
    let r = run(Syscall::Fork, 0, |_| {
        let cp = plan_child(n);
        // SAFETY: fork takes no arguments. The child runs only `child`,
        // which allocates nothing, makes only async-signal-safe calls and
        // ends in execve or _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            child(plan, report, cp)
        }
        ret_int(pid)
    });
    strace!(
        Syscall::Fork,
        &r,
        "{}",
        if super::FORK_IS_CLONE {
            "child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD"
        } else {
            ""
        }
    );
    r
}

/// Waits for `pid`, retrying `EINTR`: it is exiting (or was killed).
fn reap(pid: libc::pid_t) {
    for _ in 0..1000 {
        match wait4(pid, 0) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            _ => return,
        }
    }
}

/// Starts `plan` in a new process: pipe2, fork, the child's calls, then in
/// the parent close of the pipe's write end and one read of the exec
/// report (retried on `EINTR`: the child is on its way to execve or
/// _exit), close of its read end. An errno from the child comes back as
/// the error, the child reaped. Returns the child's pid.
pub(crate) fn spawn(plan: &mut ExecPlan) -> io::Result<libc::pid_t> {
    let (r, w) = pipe2_cloexec()?;
    let (r, w) = (Fd::new(r), Fd::new(w));
    let pid = fork(plan, w.as_raw_fd())?;
    // The parent's copy of the write end, so end of file means the
    // child's went at execve. A failed close still closed it.
    drop(w);
    let mut report = [0u8; 4];
    let mut got = super::poll::read(r.as_fd(), &mut report);
    for _ in 0..1000 {
        match &got {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                got = super::poll::read(r.as_fd(), &mut report);
            }
            _ => break,
        }
    }
    drop(r);
    match got {
        Ok(0) => Ok(pid),
        Ok(4) => {
            reap(pid);
            Err(io::Error::from_raw_os_error(c_int::from_ne_bytes(report)))
        }
        other => {
            // A read that failed, or a report cut short: the child's state
            // is unknown, so it goes.
            let _ = super::source::kill(pid, libc::SIGKILL);
            reap(pid);
            match other {
                Err(e) => Err(e),
                Ok(k) => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the child's exec report was {k} bytes, not 4"),
                )),
            }
        }
    }
}

/// The path as a C string, or `InvalidInput` if it holds a NUL byte.
pub(crate) fn c_string(bytes: &[u8], what: &str) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} contains a NUL byte"),
        )
    })
}

/// For tests: the pid digits a child would write.
#[cfg(test)]
fn pid_entry_of(plan: &ExecPlan) -> &std::ffi::CStr {
    // SAFETY: the entry is NUL-terminated within its buffer.
    unsafe { std::ffi::CStr::from_ptr(plan.envp[plan.envp.len() - 2]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_reserves_a_zero_pid_slot() {
        let plan = ExecPlan::new(
            CString::new("/bin/true").unwrap(),
            vec![CString::new("true").unwrap()],
            vec![CString::new("A=b").unwrap()],
            "LISTEN_PID",
            vec![5, 6],
        );
        assert_eq!(pid_entry_of(&plan).to_bytes(), b"LISTEN_PID=");
        assert_eq!(plan.argv.len(), 2);
        assert!(plan.argv[1].is_null());
        assert_eq!(plan.envp.len(), 3);
        assert!(plan.envp[2].is_null());
        assert_eq!(plan.high.len(), 2);
    }

    #[test]
    fn child_calls_in_order() {
        let calls: Vec<Syscall> = (0..3 + 2 * 2).map(|s| child_call(s, 2)).collect();
        use Syscall::*;
        assert_eq!(calls, [Getpid, Fcntl, Fcntl, Fcntl, Dup3, Dup3, Execve]);
    }
}
