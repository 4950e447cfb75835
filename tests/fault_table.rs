//! The fault table (issue 6): every public wrapper against every fault its
//! syscalls can produce, 1,000 cycles of each, with /proc/self/fd the same
//! before and after.
//!
//! Each [`Row`] names a public wrapper, the syscalls it makes in order
//! ([`Op`]), a setup that builds what it needs (socketpairs and loopback
//! only) and the call. The walk runs every row against every fault of each
//! of its syscalls ([`Op::faults`]: EINTR and the resource errors that
//! syscall can give, plus a short and a zero count for the calls that take
//! one buffer length), 1,000 cycles each, and checks the documented
//! behaviour:
//!
//! - the error comes back unchanged: `raw_os_error` is the injected errno
//!   and `kind` is std's kind for it; where the docs say a wrapper absorbs
//!   a fault (Waker::wake's EAGAIN, connect_timeout's interrupted poll, the
//!   waker reset inside a poll/select wait, close on drop, the ids that
//!   cannot fail), the call succeeds instead;
//! - nothing half-happened: the peer got no byte of a failed send, a failed
//!   receive left the data queued, a failed register or deregister left
//!   the poller as it was, a failed shutdown sent no end of stream;
//! - close and drop really close and never retry: the peer sees end of
//!   stream and (with `stats`) exactly one close was made;
//! - connect_timeout retries an interrupted poll (one more poll) with the
//!   time left (a deadline that has passed times out instead), and after
//!   every other failure has restored blocking mode; set_nonblocking and
//!   set_cloexec leave the flag as it was when fcntl fails;
//! - a short count returns exactly the bytes moved: the peer received
//!   exactly those, and a receive wrote nothing past its count;
//! - a constructor that fails halfway leaks no fd: /proc/self/fd is the
//!   same before and after the 1,000 cycles of each (row, fault).
//!
//! Each row's unfaulted call runs too; with `stats` it must make exactly
//! the syscalls its row lists, so a row cannot name the wrong ones.
//!
//! The table is complete or the test fails: it scans `src/` (outside the
//! syscall layer, as tests/docs.rs scans it) for every public function and
//! every method of a trait impl, and each must have a row or an entry in
//! [`EXEMPT`] with its reason (pure functions), or its trait must be in
//! [`PURE_TRAITS`].
//!
//! `activation::listen_fds` reads the environment and adopts fds 3 and 4,
//! so its row runs in a child (this test re-executed, `LISTEN_PID` set to
//! the child's own pid by `sh`'s `exec`).
//!
//! The rows that send a signal (`Signal::send_to`), read one
//! (`Signals::read`) or change the signal mask (`block_signals` and its
//! two siblings) run in a second child, started with SIGUSR1 and SIGUSR2
//! blocked in the starting thread, so that every thread of the child
//! blocks them: a signal sent to its process stays pending for a signalfd
//! and never reaches a libtest thread. Those rows check the kernel's view
//! in /proc (ShdPnd, SigBlk) and nix's reads of the signalfd, and the mask
//! rows put the walking thread's mask back every cycle.
//!
//! A test binary of its own with one test that touches fds, so nothing
//! else opens or closes fds while /proc/self/fd is compared.
#![cfg(feature = "fault-injection")]

mod source_scan;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, RawFd};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use baresock::bpf::Program;
use baresock::fault::{self, Fault};
use baresock::msg::{self, Cmsg, Credentials, RecvMmsgHdr, SendMmsgHdr};
use baresock::poll::{
    Backend, Epoll, Events, Interest, Poller, Select, SelectGrowable, Signal, SignalInfo,
    SignalSet, Signals, Timer, TimerSetting, Token, Waker, block_signals, blocked_signals,
    unblock_signals,
};
use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, SockAddr, Syscall, Type, activation};
use nix::sys::socket::{self as nixsock, ControlMessage, ControlMessageOwned, sockopt};
use source_scan::{fn_item, indent, rust_files, skip_balanced};
use support::*;

/// Cycles of each (row, op, fault) case: the issue's 1,000.
const CYCLES: usize = 1_000;

/// What every send sends and every receive expects.
const DATA: &[u8; 8] = b"abcdefgh";
/// The short count injected into calls that take a length.
const SHORT: usize = 3;
/// What a receive buffer holds before the call, to see what it wrote.
const SENTINEL: u8 = 0xEE;

const TEST_NAME: &str = "every_public_wrapper_against_every_fault";

// ---------------------------------------------------------------------------
// Syscalls and their faults
// ---------------------------------------------------------------------------

/// One syscall a wrapper makes; fcntl is split by command, since the
/// faults that make sense differ (only F_DUPFD_CLOEXEC makes an fd).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Socket,
    Socketpair,
    Bind,
    Listen,
    Accept4,
    Connect,
    Getsockname,
    Getpeername,
    Shutdown,
    Sendto,
    Recvfrom,
    Sendmsg,
    Recvmsg,
    Sendmmsg,
    Recvmmsg,
    Getsockopt,
    Setsockopt,
    GetFl,
    SetFl,
    GetFd,
    SetFd,
    DupFd,
    Close,
    Poll,
    Pselect6,
    EpollCreate1,
    EpollCtl,
    EpollWait,
    EpollPwait2,
    Eventfd2,
    Read,
    Write,
    Getpid,
    Geteuid,
    Getegid,
    TimerfdCreate,
    TimerfdSettime,
    TimerfdGettime,
    Signalfd4,
    RtSigprocmask,
    Kill,
    SchedSetaffinity,
    SchedGetaffinity,
    Pipe2,
    Fork,
    Dup3,
    Execve,
    Wait4,
}

impl Op {
    fn syscall(self) -> Syscall {
        match self {
            Op::Socket => Syscall::Socket,
            Op::Socketpair => Syscall::Socketpair,
            Op::Bind => Syscall::Bind,
            Op::Listen => Syscall::Listen,
            Op::Accept4 => Syscall::Accept4,
            Op::Connect => Syscall::Connect,
            Op::Getsockname => Syscall::Getsockname,
            Op::Getpeername => Syscall::Getpeername,
            Op::Shutdown => Syscall::Shutdown,
            Op::Sendto => Syscall::Sendto,
            Op::Recvfrom => Syscall::Recvfrom,
            Op::Sendmsg => Syscall::Sendmsg,
            Op::Recvmsg => Syscall::Recvmsg,
            Op::Sendmmsg => Syscall::Sendmmsg,
            Op::Recvmmsg => Syscall::Recvmmsg,
            Op::Getsockopt => Syscall::Getsockopt,
            Op::Setsockopt => Syscall::Setsockopt,
            Op::GetFl | Op::SetFl | Op::GetFd | Op::SetFd | Op::DupFd => Syscall::Fcntl,
            Op::Close => Syscall::Close,
            Op::Poll => Syscall::Poll,
            Op::Pselect6 => Syscall::Pselect6,
            Op::EpollCreate1 => Syscall::EpollCreate1,
            Op::EpollCtl => Syscall::EpollCtl,
            Op::EpollWait => Syscall::EpollWait,
            Op::EpollPwait2 => Syscall::EpollPwait2,
            Op::Eventfd2 => Syscall::Eventfd2,
            Op::Read => Syscall::Read,
            Op::Write => Syscall::Write,
            Op::Getpid => Syscall::Getpid,
            Op::Geteuid => Syscall::Geteuid,
            Op::Getegid => Syscall::Getegid,
            Op::TimerfdCreate => Syscall::TimerfdCreate,
            Op::TimerfdSettime => Syscall::TimerfdSettime,
            Op::TimerfdGettime => Syscall::TimerfdGettime,
            Op::Signalfd4 => Syscall::Signalfd4,
            Op::RtSigprocmask => Syscall::RtSigprocmask,
            Op::Kill => Syscall::Kill,
            Op::SchedSetaffinity => Syscall::SchedSetaffinity,
            Op::SchedGetaffinity => Syscall::SchedGetaffinity,
            Op::Pipe2 => Syscall::Pipe2,
            Op::Fork => Syscall::Fork,
            Op::Dup3 => Syscall::Dup3,
            Op::Execve => Syscall::Execve,
            Op::Wait4 => Syscall::Wait4,
        }
    }

    fn label(self) -> String {
        match self {
            Op::GetFl => "fcntl(F_GETFL)".into(),
            Op::SetFl => "fcntl(F_SETFL)".into(),
            Op::GetFd => "fcntl(F_GETFD)".into(),
            Op::SetFd => "fcntl(F_SETFD)".into(),
            Op::DupFd => "fcntl(F_DUPFD_CLOEXEC)".into(),
            op => op.syscall().name().into(),
        }
    }

    /// The errnos this syscall can produce that a caller must be ready
    /// for: EINTR for every one (the crate never retries it), and the
    /// resource errors of its man page (EAGAIN, ENOBUFS, ENOMEM, EMFILE,
    /// ECONNRESET where they apply; close's EIO and ENOSPC; epoll_ctl's
    /// ENOSPC for max_user_watches; kill's EPERM and ESRCH, which depend
    /// on the target process, not on the call; sched_setaffinity's EINVAL,
    /// EPERM and ESRCH, which depend on the CPUs online and the target).
    fn errnos(self) -> &'static [i32] {
        use libc::*;
        match self {
            Op::Socket => &[EINTR, EMFILE, ENOBUFS, ENOMEM],
            Op::Socketpair => &[EINTR, EMFILE, ENOMEM],
            Op::Bind | Op::Listen => &[EINTR, ENOBUFS, ENOMEM],
            Op::Accept4 => &[EINTR, EAGAIN, EMFILE, ENOBUFS, ENOMEM, ECONNRESET],
            Op::Connect => &[EINTR, EAGAIN, ENOBUFS, ENOMEM, ECONNRESET],
            Op::Getsockname | Op::Getpeername | Op::Shutdown => &[EINTR, ENOBUFS],
            Op::Sendto | Op::Sendmsg | Op::Sendmmsg => {
                &[EINTR, EAGAIN, ENOBUFS, ENOMEM, ECONNRESET]
            }
            Op::Recvfrom | Op::Recvmsg | Op::Recvmmsg => &[EINTR, EAGAIN, ENOMEM, ECONNRESET],
            Op::Getsockopt | Op::Setsockopt => &[EINTR, ENOBUFS, ENOMEM],
            Op::GetFl | Op::SetFl | Op::GetFd | Op::SetFd => &[EINTR, ENOMEM],
            Op::DupFd | Op::EpollCreate1 | Op::Eventfd2 | Op::TimerfdCreate | Op::Signalfd4 => {
                &[EINTR, EMFILE, ENOMEM]
            }
            Op::Close => &[EINTR, EIO, ENOSPC],
            Op::Poll | Op::Pselect6 | Op::EpollWait | Op::EpollPwait2 => &[EINTR, ENOMEM],
            Op::EpollCtl => &[EINTR, ENOMEM, ENOSPC],
            Op::Read | Op::Write => &[EINTR, EAGAIN, ENOMEM],
            Op::Getpid | Op::Geteuid | Op::Getegid => &[EINTR, ENOMEM],
            Op::TimerfdSettime | Op::TimerfdGettime | Op::RtSigprocmask => &[EINTR, ENOMEM],
            Op::Kill => &[EINTR, EPERM, ESRCH],
            // EINVAL: which CPUs are online changes under the caller
            // (hotplug, a cgroup's cpuset); EPERM and ESRCH depend on the
            // target thread, as for kill.
            Op::SchedSetaffinity => &[EINTR, EINVAL, EPERM, ESRCH],
            Op::SchedGetaffinity => &[EINTR, EINVAL, ESRCH],
            Op::Pipe2 => &[EINTR, EMFILE, ENFILE, ENOMEM],
            Op::Fork => &[EINTR, EAGAIN, ENOMEM],
            Op::Dup3 => &[EINTR, EBUSY, EMFILE],
            Op::Execve => &[EINTR, E2BIG, EACCES, ENOENT, ENOEXEC, ENOMEM, ETXTBSY],
            Op::Wait4 => &[EINTR, ECHILD],
        }
    }

    /// Calls with one buffer length, which a short count can cut.
    fn takes_length(self) -> bool {
        matches!(self, Op::Sendto | Op::Recvfrom | Op::Read | Op::Write)
    }

    fn faults(self) -> Vec<Fault> {
        let mut v: Vec<Fault> = self.errnos().iter().map(|&e| Fault::Errno(e)).collect();
        if self.takes_length() {
            v.push(Fault::Short(SHORT));
            v.push(Fault::Short(0));
        }
        v
    }
}

fn errno_name(e: i32) -> String {
    format!("{:?}", nix::errno::Errno::from_raw(e))
}

fn fault_name(f: Fault) -> String {
    match f {
        Fault::Errno(e) => errno_name(e),
        Fault::Short(k) => format!("short count {k}"),
    }
}

// ---------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------

/// What a row's call works on. Fields drop in order: the poller (and the
/// waker) before the sockets it watches.
#[derive(Default)]
struct Fx {
    poller: Option<Box<dyn Poller>>,
    waker: Option<Waker>,
    events: Option<Events>,
    /// The socket the call acts on.
    s: Option<OwnedSocket>,
    /// Its peer, or the listener it connects to.
    peer: Option<OwnedSocket>,
    /// A destination address.
    addr: Option<SockAddr>,
    /// Sockets the call made (accept, pair, try_clone, new...).
    made: Vec<OwnedSocket>,
    /// What the sockets carry: datagrams, or a stream.
    dgram: bool,
    /// Whether the receive peeks (takes nothing off the queue).
    peek: bool,
    /// The receive buffer after the call (empty: the row does not look).
    got: Vec<u8>,
    /// fd numbers the call received with SCM_RIGHTS and should have closed.
    fds: Vec<RawFd>,
    creds: Option<Credentials>,
    activated: Vec<activation::ActivatedSocket>,
    timer: Option<Timer>,
    setting: Option<TimerSetting>,
    signals: Option<Signals>,
    info: Option<SignalInfo>,
    /// The mask a signal-mask call returned.
    mask: Option<SignalSet>,
    /// A process spawn_with_listeners started: killed and reaped on drop.
    child: Spawned,
}

/// A spawned child, killed and reaped when the fixture drops.
#[derive(Default)]
struct Spawned(Option<activation::Child>);

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Fx {
    fn s(&self) -> &OwnedSocket {
        self.s.as_ref().expect("fixture socket")
    }

    fn peer(&self) -> &OwnedSocket {
        self.peer.as_ref().expect("fixture peer")
    }

    fn timer(&self) -> &Timer {
        self.timer.as_ref().expect("fixture timer")
    }

    fn signals(&self) -> &Signals {
        self.signals.as_ref().expect("fixture signals")
    }

    fn poller(&mut self) -> &mut dyn Poller {
        self.poller.as_deref_mut().expect("fixture poller")
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<usize> {
        let p = self.poller.as_deref_mut().expect("fixture poller");
        let e = self.events.as_mut().expect("fixture events");
        p.wait(e, Some(timeout))
    }

    fn tokens(&self) -> Vec<usize> {
        self.events
            .as_ref()
            .expect("fixture events")
            .iter()
            .map(|e| e.token().0)
            .collect()
    }
}

/// What a faulted call should do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Fail with this errno, unchanged.
    Fails(i32),
    /// Succeed: the wrapper absorbs this fault, as its docs say.
    Succeeds,
    /// Succeed with at most this many bytes.
    Short(usize),
}

fn default_expect(f: Fault) -> Expect {
    match f {
        Fault::Errno(e) => Expect::Fails(e),
        Fault::Short(k) => Expect::Short(k),
    }
}

/// The syscalls a call made, per syscall (None without `stats`).
#[derive(Clone, Copy, Debug)]
struct Made(Option<[u64; Syscall::COUNT]>);

impl Made {
    fn count(&self, s: Syscall) -> Option<u64> {
        self.0.map(|a| a[s as usize])
    }
}

fn counters() -> Option<[u64; Syscall::COUNT]> {
    #[cfg(feature = "stats")]
    return Some(baresock::stats::snapshot());
    #[cfg(not(feature = "stats"))]
    None
}

fn made_since(before: Option<[u64; Syscall::COUNT]>) -> Made {
    Made(
        before
            .zip(counters())
            .map(|(b, a)| std::array::from_fn(|i| a[i] - b[i])),
    )
}

/// The case a check runs after.
#[derive(Clone, Copy, Debug)]
struct Case {
    /// The faulted op's index in the row (None: the unfaulted call).
    op: Option<usize>,
    fault: Option<Fault>,
    made: Made,
    cycle: usize,
}

impl Case {
    fn errno(&self) -> Option<i32> {
        match self.fault {
            Some(Fault::Errno(e)) => Some(e),
            _ => None,
        }
    }
}

type SetupFn = Box<dyn Fn() -> Fx>;
type PrepFn = Box<dyn Fn(&mut Fx)>;
type CallFn = Box<dyn Fn(&mut Fx) -> io::Result<usize>>;
type AfterFn = Box<dyn Fn(&mut Fx, &Case, &io::Result<usize>)>;
type ExpectFn = Box<dyn Fn(Op, usize, Fault) -> Expect>;
type OnlyFn = Box<dyn Fn(usize, Fault) -> bool>;

/// One public wrapper (or one path through it).
struct Row {
    name: String,
    /// The scanned keys this row covers.
    covers: Vec<String>,
    /// The syscalls the call makes, in order.
    ops: Vec<Op>,
    setup: SetupFn,
    /// Runs before every call (sends what a receive takes, wakes a waker).
    prep: Option<PrepFn>,
    call: CallFn,
    after: Vec<AfterFn>,
    expect: Option<ExpectFn>,
    /// From this op index on, a fault leaves the kernel state moved on (a
    /// connect under way, a closed fd): each cycle gets a fresh fixture.
    fresh_from: usize,
    /// Err(why): the unfaulted call cannot run on this host.
    baseline: Result<(), &'static str>,
    /// Some: only the (op index, fault) cases it accepts run.
    only: Option<OnlyFn>,
    /// At most this many cycles of each case (a fork per cycle is slow).
    max_cycles: usize,
}

fn row(
    key: &str,
    ops: &[Op],
    setup: impl Fn() -> Fx + 'static,
    call: impl Fn(&mut Fx) -> io::Result<usize> + 'static,
) -> Row {
    // `r#type` is `type` to the scan.
    let key = key.replace("r#", "");
    Row {
        name: key.clone(),
        covers: vec![key],
        ops: ops.to_vec(),
        setup: Box::new(setup),
        prep: None,
        call: Box::new(call),
        after: Vec::new(),
        expect: None,
        fresh_from: usize::MAX,
        baseline: Ok(()),
        only: None,
        max_cycles: usize::MAX,
    }
}

impl Row {
    fn named(mut self, variant: &str) -> Row {
        self.name = format!("{} [{variant}]", self.name);
        self
    }

    fn covers(mut self, key: &str) -> Row {
        self.covers.push(key.to_string());
        self
    }

    fn prep(mut self, f: impl Fn(&mut Fx) + 'static) -> Row {
        self.prep = Some(Box::new(f));
        self
    }

    fn after(mut self, f: impl Fn(&mut Fx, &Case, &io::Result<usize>) + 'static) -> Row {
        self.after.push(Box::new(f));
        self
    }

    fn expect(mut self, f: impl Fn(Op, usize, Fault) -> Expect + 'static) -> Row {
        self.expect = Some(Box::new(f));
        self
    }

    fn fresh_from(mut self, i: usize) -> Row {
        self.fresh_from = i;
        self
    }

    fn no_baseline(mut self, why: &'static str) -> Row {
        self.baseline = Err(why);
        self
    }

    fn only(mut self, f: impl Fn(usize, Fault) -> bool + 'static) -> Row {
        self.only = Some(Box::new(f));
        self
    }

    fn max_cycles(mut self, n: usize) -> Row {
        self.max_cycles = n;
        self
    }
}

// ---------------------------------------------------------------------------
// The walk
// ---------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Tally {
    rows: usize,
    cases: usize,
    calls: usize,
    baselines: usize,
    failures: Vec<String>,
    /// The slowest rows, for the summary.
    slowest: Vec<(Duration, String)>,
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "panic".into()
    }
}

thread_local! {
    /// Whether this thread's panics are caught and reported by [`walk`],
    /// so the panic hook need not print them (with backtraces) as well.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with this thread's panic messages left to the caller.
fn quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let prev = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                prev(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    r
}

fn walk(rows: &[Row], cycles: usize, tally: &mut Tally) {
    for row in rows {
        let start = Instant::now();
        tally.rows += 1;
        for (i, &op) in row.ops.iter().enumerate() {
            let nth = row.ops[..i]
                .iter()
                .filter(|o| o.syscall() == op.syscall())
                .count() as u32
                + 1;
            for fault in op.faults() {
                if row.only.as_ref().is_some_and(|f| !f(i, fault)) {
                    continue;
                }
                tally.cases += 1;
                let r = quietly(|| run_case(row, i, nth, fault, cycles.min(row.max_cycles)));
                fault::clear();
                match r {
                    Ok(n) => tally.calls += n,
                    Err(p) => tally.failures.push(format!(
                        "{} | {} #{nth} (op {i}) | {}: {}",
                        row.name,
                        op.label(),
                        fault_name(fault),
                        panic_text(&*p)
                    )),
                }
            }
        }
        if row.baseline.is_ok() {
            let r = quietly(|| run_baseline(row));
            fault::clear();
            match r {
                Ok(()) => tally.baselines += 1,
                Err(p) => {
                    tally
                        .failures
                        .push(format!("{} | unfaulted: {}", row.name, panic_text(&*p)))
                }
            }
        }
        tally.slowest.push((start.elapsed(), row.name.clone()));
        tally.slowest.sort_by_key(|e| std::cmp::Reverse(e.0));
        tally.slowest.truncate(3);
    }
}

/// Panics unless the fd table is `before`, naming what changed.
#[track_caller]
fn assert_fds(before: &BTreeMap<i32, PathBuf>, what: &str) {
    let now = fd_table();
    if &now != before {
        let gone: Vec<_> = before
            .iter()
            .filter(|(k, v)| now.get(k) != Some(v))
            .collect();
        let new: Vec<_> = now
            .iter()
            .filter(|(k, v)| before.get(k) != Some(v))
            .collect();
        panic!("fd table changed after {what}: gone {gone:?}, new {new:?}");
    }
}

fn run_case(row: &Row, i: usize, nth: u32, fault: Fault, cycles: usize) -> usize {
    let op = row.ops[i];
    let expect = row
        .expect
        .as_ref()
        .map_or(default_expect(fault), |f| f(op, i, fault));
    let before = fd_table();
    {
        let mut fx = (row.setup)();
        for cycle in 0..cycles {
            if cycle > 0 && i >= row.fresh_from {
                fx = (row.setup)();
            }
            if let Some(p) = &row.prep {
                p(&mut fx);
            }
            fault::clear();
            let snap = counters();
            fault::inject(op.syscall(), nth, fault).unwrap();
            let r = (row.call)(&mut fx);
            let made = made_since(snap);
            let left = fault::pending();
            fault::clear();
            assert_eq!(
                left,
                0,
                "cycle {cycle}: the fault never fired: the call did not make {} #{nth} ({r:?})",
                op.label()
            );
            check_expect(expect, &r, cycle);
            let case = Case {
                op: Some(i),
                fault: Some(fault),
                made,
                cycle,
            };
            for a in &row.after {
                a(&mut fx, &case, &r);
            }
        }
    }
    assert_fds(&before, &format!("{cycles} cycles"));
    cycles
}

#[track_caller]
fn check_expect(expect: Expect, r: &io::Result<usize>, cycle: usize) {
    match (expect, r) {
        (Expect::Fails(e), Err(got)) => {
            assert_eq!(
                got.raw_os_error(),
                Some(e),
                "cycle {cycle}: got {got:?}, want {} unchanged",
                errno_name(e)
            );
            assert_eq!(
                got.kind(),
                io::Error::from_raw_os_error(e).kind(),
                "cycle {cycle}: wrong kind for {}",
                errno_name(e)
            );
        }
        (Expect::Fails(e), Ok(n)) => panic!("cycle {cycle}: Ok({n}), want {}", errno_name(e)),
        (Expect::Succeeds, Ok(_)) => {}
        (Expect::Succeeds, Err(e)) => {
            panic!("cycle {cycle}: {e:?}, want Ok (the docs say this fault is absorbed)")
        }
        (Expect::Short(k), Ok(n)) => assert!(
            *n <= k,
            "cycle {cycle}: a count cut to {k} reported {n} bytes"
        ),
        (Expect::Short(k), Err(e)) => {
            panic!("cycle {cycle}: {e:?}, want at most {k} bytes moved")
        }
    }
}

fn run_baseline(row: &Row) {
    let before = fd_table();
    {
        let mut fx = (row.setup)();
        if let Some(p) = &row.prep {
            p(&mut fx);
        }
        fault::clear();
        let snap = counters();
        let r = (row.call)(&mut fx);
        let made = made_since(snap);
        assert!(r.is_ok(), "the unfaulted call failed: {r:?}");
        if let Some(got) = made.0 {
            let mut want = [0u64; Syscall::COUNT];
            for op in &row.ops {
                want[op.syscall() as usize] += 1;
            }
            assert_eq!(
                named_counts(&got),
                named_counts(&want),
                "the call's syscalls (left) are not the row's (right)"
            );
        }
        let case = Case {
            op: None,
            fault: None,
            made,
            cycle: 0,
        };
        for a in &row.after {
            a(&mut fx, &case, &r);
        }
    }
    assert_fds(&before, "the unfaulted call");
}

fn named_counts(c: &[u64; Syscall::COUNT]) -> BTreeMap<String, u64> {
    (0..Syscall::COUNT)
        .filter(|&i| c[i] != 0)
        .map(|i| {
            let name = Syscall::ALL[i].name().to_string();
            (name, c[i])
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Independent checks (nix), invisible to the fault hooks and the counters
// ---------------------------------------------------------------------------

/// The bytes queued on a stream socket, read with MSG_DONTWAIT until
/// EAGAIN; panics on end of stream.
#[track_caller]
fn stream_queued(s: &OwnedSocket) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..64 {
        let mut buf = [0u8; 256];
        match nixsock::recv(s.as_raw_fd(), &mut buf, nixsock::MsgFlags::MSG_DONTWAIT) {
            Ok(0) => panic!("unexpected end of stream after {out:?}"),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(nix::errno::Errno::EAGAIN) => return out,
            Err(e) => panic!("recv: {e}"),
        }
    }
    panic!("more than 64 reads queued");
}

/// The datagrams queued on a socket, oldest first, until EAGAIN. Any fd
/// passed with them is closed.
#[track_caller]
fn dgrams_queued(s: &OwnedSocket) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for _ in 0..64 {
        let mut buf = [0u8; 256];
        let mut cmsg = nix::cmsg_space!([RawFd; 4]);
        let r = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            nixsock::recvmsg::<()>(
                s.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                nixsock::MsgFlags::MSG_DONTWAIT | nixsock::MsgFlags::MSG_CMSG_CLOEXEC,
            )
            .map(|m| {
                let fds: Vec<RawFd> = m
                    .cmsgs()
                    .unwrap()
                    .flat_map(|c| match c {
                        ControlMessageOwned::ScmRights(v) => v,
                        _ => Vec::new(),
                    })
                    .collect();
                (m.bytes, fds)
            })
        };
        match r {
            Ok((n, fds)) => {
                for fd in fds {
                    nix::unistd::close(fd).unwrap();
                }
                out.push(buf[..n].to_vec());
            }
            Err(nix::errno::Errno::EAGAIN) => return out,
            Err(e) => panic!("recvmsg: {e}"),
        }
    }
    panic!("more than 64 datagrams queued");
}

/// Whether the peer of `s` has closed: a receive sees end of stream.
fn sees_eof(s: &OwnedSocket) -> bool {
    let mut b = [0u8; 1];
    matches!(
        nixsock::recv(s.as_raw_fd(), &mut b, nixsock::MsgFlags::MSG_DONTWAIT),
        Ok(0)
    )
}

fn peer_send(fx: &Fx, data: &[u8]) {
    let n = nixsock::send(fx.peer().as_raw_fd(), data, nixsock::MsgFlags::empty()).unwrap();
    assert_eq!(n, data.len());
}

/// Sends DATA and one fd (a fresh /dev/null) from the peer.
fn peer_send_fd(fx: &mut Fx) {
    let f = File::open("/dev/null").unwrap();
    let fds = [f.as_raw_fd()];
    let iov = [IoSlice::new(DATA)];
    let n = nixsock::sendmsg::<()>(
        fx.peer().as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        nixsock::MsgFlags::empty(),
        None,
    )
    .unwrap();
    assert_eq!(n, DATA.len());
}

fn fd_is_open(fd: RawFd) -> bool {
    std::fs::read_link(format!("/proc/self/fd/{fd}")).is_ok()
}

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

fn fx_of(s: OwnedSocket, peer: Option<OwnedSocket>) -> Fx {
    Fx {
        s: Some(s),
        peer,
        ..Fx::default()
    }
}

/// A blocking Unix stream pair (the peer nonblocking-read by nix).
fn unix_stream() -> Fx {
    let (a, b) = OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    fx_of(a, Some(b))
}

/// A nonblocking Unix stream pair: a receive with nothing queued says
/// EAGAIN instead of hanging.
fn unix_stream_nb() -> Fx {
    let (a, b) =
        OwnedSocket::pair_nonblocking(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    fx_of(a, Some(b))
}

fn unix_dgram_nb() -> Fx {
    let (a, b) =
        OwnedSocket::pair_nonblocking(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
    Fx {
        dgram: true,
        ..fx_of(a, Some(b))
    }
}

/// An unconnected UDP socket and a bound peer to send to.
fn udp_to_peer() -> Fx {
    let (s, _) = udp_bound(Domain::IPV4);
    let (p, pa) = udp_bound(Domain::IPV4);
    Fx {
        addr: Some(pa),
        dgram: true,
        ..fx_of(s, Some(p))
    }
}

fn tcp4() -> Fx {
    fx_of(
        OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap(),
        None,
    )
}

fn udp4() -> Fx {
    fx_of(
        OwnedSocket::new(Domain::IPV4, Type::DGRAM, Protocol::DEFAULT).unwrap(),
        None,
    )
}

fn udp6() -> Fx {
    fx_of(
        OwnedSocket::new(Domain::IPV6, Type::DGRAM, Protocol::DEFAULT).unwrap(),
        None,
    )
}

/// A blocking TCP socket that resets on close (no TIME_WAIT, so thousands
/// of cycles do not pile up ports), and a nonblocking loopback listener.
fn tcp_client_and_listener() -> Fx {
    let (l, a) = tcp_listener(Domain::IPV4);
    l.set_nonblocking(true).unwrap();
    let s = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    nixsock::setsockopt(
        &s,
        sockopt::Linger,
        &libc::linger {
            l_onoff: 1,
            l_linger: 0,
        },
    )
    .unwrap();
    Fx {
        addr: Some(a),
        ..fx_of(s, Some(l))
    }
}

/// Accepts and drops whatever connections wait on the fixture's listener.
fn drain_listener(fx: &Fx) {
    for _ in 0..16 {
        if fx.peer().accept_nonblocking().is_err() {
            return;
        }
    }
}

fn poll_fx(b: Backend) -> Fx {
    let (a, p) =
        OwnedSocket::pair_nonblocking(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    Fx {
        poller: Some(b.build().unwrap()),
        events: Some(Events::with_capacity(8)),
        ..fx_of(a, Some(p))
    }
}

fn poll_fx_registered(b: Backend) -> Fx {
    let mut fx = poll_fx(b);
    let s = fx.s.take().unwrap();
    fx.poller()
        .register(s.as_fd(), Token(1), Interest::READABLE)
        .unwrap();
    fx.s = Some(s);
    fx
}

fn poll_fx_waker(b: Backend) -> Fx {
    let mut fx = poll_fx(b);
    fx.waker = Some(Waker::new(fx.poller(), Token(9)).unwrap());
    fx
}

fn type_name(b: Backend) -> &'static str {
    match b {
        Backend::Select => "Select",
        Backend::SelectGrowable => "SelectGrowable",
        Backend::Poll => "Poll",
        Backend::Epoll => "Epoll",
    }
}

fn wait_op(b: Backend) -> Op {
    match b {
        Backend::Select | Backend::SelectGrowable => Op::Pselect6,
        Backend::Poll => Op::Poll,
        Backend::Epoll => Op::EpollWait,
    }
}

// ---------------------------------------------------------------------------
// Common checks
// ---------------------------------------------------------------------------

/// After a send of DATA: the peer holds exactly the bytes the call
/// reported, none after an error.
fn check_sent(fx: &mut Fx, case: &Case, r: &io::Result<usize>) {
    let c = case.cycle;
    if fx.dgram {
        let got = dgrams_queued(fx.peer());
        match r {
            Ok(n) => assert_eq!(
                got,
                vec![DATA[..*n].to_vec()],
                "cycle {c}: the peer's datagrams vs the {n} bytes reported"
            ),
            Err(_) => assert!(got.is_empty(), "cycle {c}: a failed send delivered {got:?}"),
        }
    } else {
        let n = *r.as_ref().unwrap_or(&0);
        let got = stream_queued(fx.peer());
        assert_eq!(
            got,
            &DATA[..n],
            "cycle {c}: the peer received {got:?}; the call reported {r:?}"
        );
    }
}

/// Before a receive: DATA queued for it, a sentinel-filled buffer.
fn prep_receive(fx: &mut Fx) {
    peer_send(fx, DATA);
    fx.got.clear();
}

/// After a receive of DATA: the count matches what the buffer got and
/// what left the queue; nothing was written past the count.
fn check_received(fx: &mut Fx, case: &Case, r: &io::Result<usize>) {
    let c = case.cycle;
    let n = *r.as_ref().unwrap_or(&0);
    if !fx.got.is_empty() {
        assert_eq!(
            &fx.got[..n],
            &DATA[..n],
            "cycle {c}: the buffer does not hold the {n} bytes reported"
        );
        assert!(
            fx.got[n..].iter().all(|&b| b == SENTINEL),
            "cycle {c}: the receive wrote past the {n} bytes it reported: {:?}",
            fx.got
        );
    }
    let consumed = r.is_ok() && !fx.peek;
    if fx.dgram {
        let left = dgrams_queued(fx.s());
        let want: Vec<Vec<u8>> = if consumed {
            Vec::new()
        } else {
            vec![DATA.to_vec()]
        };
        assert_eq!(left, want, "cycle {c}: queued after {r:?}");
    } else {
        let left = stream_queued(fx.s());
        let from = if consumed { n } else { 0 };
        assert_eq!(left, &DATA[from..], "cycle {c}: queued after {r:?}");
    }
}

/// Constructors: what the call made is close-on-exec; then it goes.
fn check_made(fx: &mut Fx, case: &Case, r: &io::Result<usize>) {
    if r.is_err() {
        assert!(
            fx.made.is_empty(),
            "cycle {}: a failed call made a socket",
            case.cycle
        );
    }
    for s in fx.made.drain(..) {
        assert!(nix_cloexec(&s), "a socket made without FD_CLOEXEC");
    }
}

/// Close and drop: the peer saw end of stream, and (with stats) exactly
/// one close was made, never a retry.
fn check_closed(fx: &mut Fx, case: &Case, _r: &io::Result<usize>) {
    assert!(
        sees_eof(fx.peer()),
        "cycle {}: the peer sees no end of stream: the fd was not really closed",
        case.cycle
    );
    if let Some(n) = case.made.count(Syscall::Close) {
        assert_eq!(
            n, 1,
            "cycle {}: {n} closes: close must never be retried",
            case.cycle
        );
    }
}

// ---------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------

fn table() -> Vec<Row> {
    let mut t = Vec::new();
    socket_rows(&mut t);
    io_rows(&mut t);
    opt_rows(&mut t);
    msg_rows(&mut t);
    poll_rows(&mut t);
    source_rows(&mut t);
    cpu_rows(&mut t);
    spawn_rows(&mut t);
    t
}

/// The calling thread's affinity, read through nix (the oracle).
fn nix_affinity() -> Vec<usize> {
    let set = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).unwrap();
    (0..nix::sched::CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap())
        .collect()
}

fn cpu_rows(t: &mut Vec<Row>) {
    use baresock::cpu;
    // set_affinity sets the walking thread's affinity to what it already
    // is, so nothing changes whether the call is faulted or not; the
    // check says so every cycle.
    let before = nix_affinity();
    let mut mine = cpu::CpuSet::new();
    for &c in &before {
        mine.insert(c).unwrap();
    }
    t.push(
        row(
            "cpu::set_affinity",
            &[Op::SchedSetaffinity],
            Fx::default,
            move |_| cpu::set_affinity(0, &mine).map(|()| 0),
        )
        .after(move |_, case, _| {
            assert_eq!(nix_affinity(), before, "cycle {}", case.cycle);
        }),
    );
    t.push(row(
        "cpu::affinity",
        &[Op::SchedGetaffinity],
        Fx::default,
        |_| {
            let got = cpu::affinity(0)?;
            assert_eq!(got.iter().collect::<Vec<_>>(), nix_affinity());
            Ok(0)
        },
    ));
}

/// Cycles of each spawn case: every cycle forks (and most exec), about a
/// millisecond each, so 1,000 cycles of its 30-odd cases would add half a
/// minute; 100 still run each post-fork path 100 times. Under
/// AddressSanitizer a fork copies the page tables of its shadow memory
/// and costs tens of milliseconds: check-deep's ASan stage sets
/// `BARESOCK_SPAWN_CYCLES` lower (the spawn rows took 180 of the table's
/// 243 s there at 100).
fn spawn_cycles() -> usize {
    std::env::var("BARESOCK_SPAWN_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(100)
}

/// No child of this process is left unreaped (the walk has no other
/// children while it runs).
#[track_caller]
fn assert_no_zombie(cycle: usize) {
    use nix::sys::wait::{WaitPidFlag, waitpid};
    match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        Err(nix::errno::Errno::ECHILD) | Ok(nix::sys::wait::WaitStatus::StillAlive) => {}
        other => panic!("cycle {cycle}: a child was left unreaped: {other:?}"),
    }
}

/// A child that exits at once, for the rows that wait for it or signal it.
fn spawned_true() -> Fx {
    let cmd = activation::Command::new("/bin/true");
    let none: &[(&OwnedSocket, &str)] = &[];
    Fx {
        child: Spawned(Some(activation::spawn_with_listeners(&cmd, none).unwrap())),
        ..Fx::default()
    }
}

fn spawn_rows(t: &mut Vec<Row>) {
    use Op::*;
    // pipe2, fork; in the child getpid, fcntl(F_DUPFD_CLOEXEC) for the
    // report pipe and the socket, dup3, execve; in the parent close of the
    // write end, read of the report, close of the read end. The child's
    // calls are counted and faulted by the parent just before the fork, so
    // a fault there comes back as the child's report. An interrupted read
    // is retried, and a close's error is dropped (the fd is gone anyway).
    t.push(
        row(
            "activation::spawn_with_listeners",
            &[
                Pipe2, Fork, Getpid, DupFd, DupFd, Dup3, Execve, Close, Read, Close,
            ],
            || {
                let (l, _) = tcp_listener(Domain::IPV4);
                Fx {
                    s: Some(l),
                    ..Fx::default()
                }
            },
            |fx| {
                let cmd = activation::Command::new("/bin/true");
                let child = activation::spawn_with_listeners(&cmd, &[(fx.s(), "l")])?;
                fx.child = Spawned(Some(child));
                Ok(0)
            },
        )
        .expect(|op, _, f| match (op, f) {
            (Read, Fault::Errno(libc::EINTR)) | (Close, _) => Expect::Succeeds,
            _ => default_expect(f),
        })
        .after(|fx, case, r| {
            let mut child = std::mem::take(&mut fx.child);
            if r.is_ok() {
                let st = child.0.as_mut().unwrap().wait().unwrap();
                assert!(st.success(), "cycle {}: /bin/true: {st:?}", case.cycle);
            }
            drop(child);
            assert_no_zombie(case.cycle);
        })
        .max_cycles(spawn_cycles()),
    );
    t.push(
        row("Child::wait", &[Wait4], spawned_true, |fx| {
            let st = fx.child.0.as_mut().unwrap().wait()?;
            assert!(st.success(), "/bin/true: {st:?}");
            Ok(0)
        })
        .max_cycles(spawn_cycles()),
    );
    t.push(
        row("Child::try_wait", &[Wait4], spawned_true, |fx| {
            fx.child.0.as_mut().unwrap().try_wait().map(|_| 0)
        })
        .max_cycles(spawn_cycles()),
    );
    // kill reaches an exited, unreaped child (a zombie) too.
    t.push(
        row("Child::kill", &[Kill], spawned_true, |fx| {
            fx.child.0.as_mut().unwrap().kill().map(|()| 0)
        })
        .max_cycles(spawn_cycles()),
    );
    t.push(
        row("Child::signal", &[Kill], spawned_true, |fx| {
            fx.child
                .0
                .as_mut()
                .unwrap()
                .signal(Signal::CONT)
                .map(|()| 0)
        })
        .max_cycles(spawn_cycles()),
    );
}

fn socket_rows(t: &mut Vec<Row>) {
    use Op::*;
    t.push(
        row("OwnedSocket::new", &[Socket], Fx::default, |fx| {
            fx.made.push(OwnedSocket::new(
                Domain::IPV4,
                Type::STREAM,
                Protocol::DEFAULT,
            )?);
            Ok(0)
        })
        .after(check_made),
    );
    t.push(
        row(
            "OwnedSocket::new_nonblocking",
            &[Socket],
            Fx::default,
            |fx| {
                fx.made.push(OwnedSocket::new_nonblocking(
                    Domain::UNIX,
                    Type::DGRAM,
                    Protocol::DEFAULT,
                )?);
                Ok(0)
            },
        )
        .after(check_made),
    );
    t.push(
        row("OwnedSocket::pair", &[Socketpair], Fx::default, |fx| {
            let (a, b) = OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT)?;
            fx.made.extend([a, b]);
            Ok(0)
        })
        .after(check_made),
    );
    t.push(
        row(
            "OwnedSocket::pair_nonblocking",
            &[Socketpair],
            Fx::default,
            |fx| {
                let (a, b) = OwnedSocket::pair_nonblocking(
                    Domain::UNIX,
                    Type::SEQPACKET,
                    Protocol::DEFAULT,
                )?;
                fx.made.extend([a, b]);
                Ok(0)
            },
        )
        .after(check_made),
    );
    t.push(
        row("OwnedSocket::bind", &[Bind], udp4, |fx| {
            fx.s().bind(&v4(0)).map(|()| 0)
        })
        .after(|fx, case, r| {
            // The kernel never saw a failed bind: the socket has no port.
            let port = port_of(&fx.s().local_addr().unwrap());
            assert_eq!(
                port == 0,
                r.is_err(),
                "cycle {}: port {port} after {r:?}",
                case.cycle
            );
        }),
    );
    t.push(
        row(
            "OwnedSocket::listen",
            &[Listen],
            || {
                let fx = tcp4();
                fx.s().bind(&v4(0)).unwrap();
                fx
            },
            |fx| fx.s().listen(8).map(|()| 0),
        )
        .after(|fx, case, r| {
            let on = nixsock::getsockopt(fx.s(), sockopt::AcceptConn).unwrap();
            assert_eq!(
                on,
                r.is_ok(),
                "cycle {}: listening={on} after {r:?}",
                case.cycle
            );
        }),
    );
    for (key, nonblocking) in [
        ("OwnedSocket::accept", false),
        ("OwnedSocket::accept_nonblocking", true),
    ] {
        t.push(
            row(
                key,
                &[Accept4],
                || {
                    // A nonblocking listener with one connection queued.
                    let (l, a) = tcp_listener(Domain::IPV4);
                    l.set_nonblocking(true).unwrap();
                    let c =
                        OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
                    c.connect(&a).unwrap();
                    wait_for(&l, nix::poll::PollFlags::POLLIN, Duration::from_secs(10));
                    fx_of(l, Some(c))
                },
                move |fx| {
                    let (s, _) = if nonblocking {
                        fx.s().accept_nonblocking()?
                    } else {
                        fx.s().accept()?
                    };
                    assert_eq!(nix_nonblocking(&s), nonblocking);
                    fx.made.push(s);
                    Ok(0)
                },
            )
            .after(check_made),
        );
    }
    t.push(
        row(
            "OwnedSocket::connect",
            &[Connect],
            tcp_client_and_listener,
            |fx| fx.s().connect(fx.addr.as_ref().unwrap()).map(|()| 0),
        )
        .after(|fx, case, r| {
            // A failed connect never reached the kernel: not connected.
            let connected = nixsock::getpeername::<nixsock::SockaddrIn>(fx.s().as_raw_fd()).is_ok();
            assert_eq!(
                connected,
                r.is_ok(),
                "cycle {}: connected={connected}",
                case.cycle
            );
            drain_listener(fx);
        }),
    );
    t.push(
        row(
            "OwnedSocket::connect_timeout",
            &[GetFl, SetFl, Connect, Poll, Getsockopt, Getpeername, SetFl],
            tcp_client_and_listener,
            |fx| {
                fx.s()
                    .connect_timeout(fx.addr.as_ref().unwrap(), Duration::from_secs(10))
                    .map(|()| 0)
            },
        )
        // From the poll on, the connect is under way in the kernel.
        .fresh_from(3)
        .expect(|op, i, f| match (op, f) {
            // An interrupted wait is retried with the time left.
            (Poll, Fault::Errno(libc::EINTR)) if i == 3 => Expect::Succeeds,
            _ => default_expect(f),
        })
        .after(|fx, case, r| {
            let c = case.cycle;
            if case.op != Some(6) {
                // Blocking mode is back after success and every failure
                // (but a failed restore itself, which is what it reports).
                assert!(
                    !nix_nonblocking(fx.s()),
                    "cycle {c}: left nonblocking after {r:?}"
                );
            }
            if case.op == Some(3) && case.errno() == Some(libc::EINTR) {
                if let Some(n) = case.made.count(Syscall::Poll) {
                    assert_eq!(n, 2, "cycle {c}: the interrupted poll was not retried once");
                }
                #[cfg(feature = "stats")]
                {
                    let last = baresock::stats::last_timeout().flatten();
                    assert!(
                        last.is_some_and(|d| d > Duration::ZERO && d <= Duration::from_secs(10)),
                        "cycle {c}: the retry waited {last:?}, not the time left"
                    );
                }
            }
            drain_listener(fx);
        }),
    );
    // The retry waits only for the time left: with a deadline of 1 ns it
    // has passed by the time the interrupted poll returns, so there is no
    // second poll and the call times out. (A retry with the whole timeout
    // would poll again and connect.)
    t.push(
        row(
            "OwnedSocket::connect_timeout",
            &[GetFl, SetFl, Connect, Poll, Getsockopt, Getpeername, SetFl],
            tcp_client_and_listener,
            |fx| {
                fx.s()
                    .connect_timeout(fx.addr.as_ref().unwrap(), Duration::from_nanos(1))
                    .map(|()| 0)
            },
        )
        .named("deadline passed at the retry")
        .only(|i, f| i == 3 && f == Fault::Errno(libc::EINTR))
        .no_baseline("a 1 ns deadline makes the unfaulted outcome a race")
        .fresh_from(3)
        .expect(|_, _, _| Expect::Fails(libc::ETIMEDOUT))
        .after(|fx, case, _| {
            assert!(
                !nix_nonblocking(fx.s()),
                "cycle {}: left nonblocking",
                case.cycle
            );
            if let Some(n) = case.made.count(Syscall::Poll) {
                assert_eq!(n, 1, "cycle {}: polled again past the deadline", case.cycle);
            }
            drain_listener(fx);
        }),
    );
    t.push(row(
        "OwnedSocket::local_addr",
        &[Getsockname],
        unix_stream,
        |fx| fx.s().local_addr().map(|_| 0),
    ));
    t.push(row(
        "OwnedSocket::peer_addr",
        &[Getpeername],
        unix_stream,
        |fx| fx.s().peer_addr().map(|_| 0),
    ));
    t.push(
        row("OwnedSocket::shutdown", &[Shutdown], unix_stream, |fx| {
            fx.s().shutdown(std::net::Shutdown::Write).map(|()| 0)
        })
        .after(|fx, case, r| {
            let eof = sees_eof(fx.peer());
            assert_eq!(
                eof,
                r.is_ok(),
                "cycle {}: peer eof={eof} after {r:?}",
                case.cycle
            );
        }),
    );
    // Sends: the peer holds exactly what the call reported.
    t.push(
        row("OwnedSocket::send", &[Sendto], unix_stream_nb, |fx| {
            fx.s().send(DATA)
        })
        .after(check_sent),
    );
    t.push(
        row(
            "OwnedSocket::send_with_flags",
            &[Sendto],
            unix_dgram_nb,
            |fx| fx.s().send_with_flags(DATA, MsgFlags::DONTWAIT),
        )
        .after(check_sent),
    );
    t.push(
        row("OwnedSocket::send_to", &[Sendto], udp_to_peer, |fx| {
            fx.s().send_to(DATA, fx.addr.as_ref().unwrap())
        })
        .after(check_sent),
    );
    t.push(
        row(
            "OwnedSocket::send_to_with_flags",
            &[Sendto],
            udp_to_peer,
            |fx| {
                fx.s()
                    .send_to_with_flags(DATA, fx.addr.as_ref().unwrap(), MsgFlags::NONE)
            },
        )
        .after(check_sent),
    );
    let halves = || [IoSlice::new(&DATA[..4]), IoSlice::new(&DATA[4..])];
    t.push(
        row(
            "OwnedSocket::send_vectored",
            &[Sendmsg],
            unix_stream_nb,
            move |fx| fx.s().send_vectored(&halves()),
        )
        .after(check_sent),
    );
    t.push(
        row(
            "OwnedSocket::send_vectored_with_flags",
            &[Sendmsg],
            unix_dgram_nb,
            move |fx| fx.s().send_vectored_with_flags(&halves(), MsgFlags::NONE),
        )
        .after(check_sent),
    );
    t.push(
        row(
            "OwnedSocket::send_to_vectored",
            &[Sendmsg],
            udp_to_peer,
            move |fx| {
                fx.s()
                    .send_to_vectored(&halves(), fx.addr.as_ref().unwrap())
            },
        )
        .after(check_sent),
    );
    // Receives: DATA is queued before each call.
    let recv = |key: &str, op: Op, setup: fn() -> Fx, peek: bool, call: CallFn| {
        row(key, &[op], move || Fx { peek, ..setup() }, call)
            .prep(prep_receive)
            .after(check_received)
    };
    t.push(recv(
        "OwnedSocket::recv",
        Recvfrom,
        unix_stream_nb,
        false,
        Box::new(|fx| {
            let mut buf = [SENTINEL; 16];
            let r = fx.s().recv(&mut buf);
            fx.got = buf.to_vec();
            r
        }),
    ));
    t.push(recv(
        "OwnedSocket::recv_with_flags",
        Recvfrom,
        unix_dgram_nb,
        false,
        Box::new(|fx| {
            let mut buf = [SENTINEL; 16];
            let r = fx.s().recv_with_flags(&mut buf, MsgFlags::DONTWAIT);
            fx.got = buf.to_vec();
            r
        }),
    ));
    t.push(recv(
        "OwnedSocket::recv_uninit",
        Recvfrom,
        unix_stream_nb,
        false,
        // The buffer is uninitialised: only the queue is checked.
        Box::new(|fx| {
            let mut buf = [MaybeUninit::<u8>::uninit(); 16];
            fx.s().recv_uninit(&mut buf, MsgFlags::NONE).map(|(n, _)| n)
        }),
    ));
    t.push(recv(
        "OwnedSocket::peek",
        Recvfrom,
        unix_stream_nb,
        true,
        Box::new(|fx| {
            let mut buf = [SENTINEL; 16];
            let r = fx.s().peek(&mut buf);
            fx.got = buf.to_vec();
            r
        }),
    ));
    t.push(recv(
        "OwnedSocket::recv_from",
        Recvfrom,
        unix_dgram_nb,
        false,
        Box::new(|fx| {
            let mut buf = [SENTINEL; 16];
            let r = fx.s().recv_from(&mut buf).map(|(n, _)| n);
            fx.got = buf.to_vec();
            r
        }),
    ));
    t.push(recv(
        "OwnedSocket::recv_from_with_flags",
        Recvfrom,
        unix_stream_nb,
        false,
        Box::new(|fx| {
            let mut buf = [SENTINEL; 16];
            let r = fx
                .s()
                .recv_from_with_flags(&mut buf, MsgFlags::NONE)
                .map(|(n, _)| n);
            fx.got = buf.to_vec();
            r
        }),
    ));
    t.push(recv(
        "OwnedSocket::recv_from_uninit",
        Recvfrom,
        unix_dgram_nb,
        false,
        Box::new(|fx| {
            let mut buf = [MaybeUninit::<u8>::uninit(); 16];
            fx.s()
                .recv_from_uninit(&mut buf, MsgFlags::NONE)
                .map(|(n, _, _)| n)
        }),
    ));
    t.push(recv(
        "OwnedSocket::peek_from",
        Recvfrom,
        unix_dgram_nb,
        true,
        Box::new(|fx| {
            let mut buf = [SENTINEL; 16];
            let r = fx.s().peek_from(&mut buf).map(|(n, _)| n);
            fx.got = buf.to_vec();
            r
        }),
    ));
    /// A scattered receive into two sentinel-filled halves.
    fn scatter(
        fx: &mut Fx,
        f: impl FnOnce(&OwnedSocket, &mut [IoSliceMut<'_>]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let (mut a, mut b) = ([SENTINEL; 4], [SENTINEL; 12]);
        let r = f(
            fx.s(),
            &mut [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)],
        );
        fx.got = [&a[..], &b[..]].concat();
        r
    }
    t.push(recv(
        "OwnedSocket::recv_vectored",
        Recvmsg,
        unix_stream_nb,
        false,
        Box::new(|fx| scatter(fx, |s, b| s.recv_vectored(b).map(|(n, _)| n))),
    ));
    t.push(recv(
        "OwnedSocket::recv_vectored_with_flags",
        Recvmsg,
        unix_dgram_nb,
        false,
        Box::new(|fx| {
            scatter(fx, |s, b| {
                s.recv_vectored_with_flags(b, MsgFlags::NONE)
                    .map(|(n, _)| n)
            })
        }),
    ));
    t.push(recv(
        "OwnedSocket::recv_from_vectored",
        Recvmsg,
        unix_dgram_nb,
        false,
        Box::new(|fx| scatter(fx, |s, b| s.recv_from_vectored(b).map(|(n, _, _)| n))),
    ));
    // fcntl: the flag is as it was after a failure.
    t.push(
        row(
            "OwnedSocket::set_nonblocking",
            &[GetFl, SetFl],
            unix_stream,
            |fx| fx.s().set_nonblocking(true).map(|()| 0),
        )
        .after(|fx, case, r| {
            let nb = nix_nonblocking(fx.s());
            assert_eq!(
                nb,
                r.is_ok(),
                "cycle {}: nonblocking={nb} after {r:?}",
                case.cycle
            );
        }),
    );
    t.push(row(
        "OwnedSocket::nonblocking",
        &[GetFl],
        unix_stream,
        |fx| fx.s().nonblocking().map(usize::from),
    ));
    t.push(
        row("OwnedSocket::try_clone", &[DupFd], unix_stream, |fx| {
            let c = fx.s().try_clone()?;
            fx.made.push(c);
            Ok(0)
        })
        .after(check_made),
    );
    t.push(row("OwnedSocket::cloexec", &[GetFd], unix_stream, |fx| {
        fx.s().cloexec().map(usize::from)
    }));
    t.push(
        row(
            "OwnedSocket::set_cloexec",
            &[GetFd, SetFd],
            unix_stream,
            |fx| fx.s().set_cloexec(false).map(|()| 0),
        )
        .after(|fx, case, r| {
            let on = nix_cloexec(fx.s());
            assert_eq!(
                on,
                r.is_err(),
                "cycle {}: cloexec={on} after {r:?}",
                case.cycle
            );
        }),
    );
    t.push(
        row("OwnedSocket::close", &[Close], unix_stream_nb, |fx| {
            fx.s.take().unwrap().close().map(|()| 0)
        })
        .fresh_from(0)
        .after(check_closed),
    );
    t.push(
        row(
            "OwnedSocket as Drop::drop",
            &[Close],
            unix_stream_nb,
            |fx| {
                drop(fx.s.take());
                Ok(0)
            },
        )
        .fresh_from(0)
        // Drop cannot report: the fd is released whatever close says.
        .expect(|_, _, _| Expect::Succeeds)
        .after(check_closed),
    );
}

/// `Read` and `Write`, on `OwnedSocket` and on `&OwnedSocket`.
fn io_rows(t: &mut Vec<Row>) {
    use Op::*;
    let recv_row = |key: &str, op: Op, call: CallFn| {
        row(key, &[op], unix_stream_nb, call)
            .prep(prep_receive)
            .after(check_received)
    };
    t.push(recv_row(
        "OwnedSocket as Read::read",
        Recvfrom,
        Box::new(|fx| {
            let mut buf = [SENTINEL; 16];
            let r = fx.s.as_mut().unwrap().read(&mut buf);
            fx.got = buf.to_vec();
            r
        }),
    ));
    t.push(recv_row(
        "&OwnedSocket as Read::read",
        Recvfrom,
        Box::new(|fx| {
            let mut buf = [SENTINEL; 16];
            let r = { fx.s() }.read(&mut buf);
            fx.got = buf.to_vec();
            r
        }),
    ));
    fn read_halves(fx: &mut Fx, by_ref: bool) -> io::Result<usize> {
        let (mut a, mut b) = ([SENTINEL; 4], [SENTINEL; 12]);
        let mut bufs = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
        let r = if by_ref {
            { fx.s.as_ref().unwrap() }.read_vectored(&mut bufs)
        } else {
            fx.s.as_mut().unwrap().read_vectored(&mut bufs)
        };
        fx.got = [&a[..], &b[..]].concat();
        r
    }
    t.push(recv_row(
        "OwnedSocket as Read::read_vectored",
        Recvmsg,
        Box::new(|fx| read_halves(fx, false)),
    ));
    t.push(recv_row(
        "&OwnedSocket as Read::read_vectored",
        Recvmsg,
        Box::new(|fx| read_halves(fx, true)),
    ));
    let send_row =
        |key: &str, op: Op, call: CallFn| row(key, &[op], unix_stream_nb, call).after(check_sent);
    t.push(send_row(
        "OwnedSocket as Write::write",
        Sendto,
        Box::new(|fx| fx.s.as_mut().unwrap().write(DATA)),
    ));
    t.push(send_row(
        "&OwnedSocket as Write::write",
        Sendto,
        Box::new(|fx| { fx.s() }.write(DATA)),
    ));
    let halves = || [IoSlice::new(&DATA[..4]), IoSlice::new(&DATA[4..])];
    t.push(send_row(
        "OwnedSocket as Write::write_vectored",
        Sendmsg,
        Box::new(move |fx| fx.s.as_mut().unwrap().write_vectored(&halves())),
    ));
    t.push(send_row(
        "&OwnedSocket as Write::write_vectored",
        Sendmsg,
        Box::new(move |fx| { fx.s() }.write_vectored(&halves())),
    ));
    // flush has nothing to flush: no syscall (with stats, proven zero).
    t.push(row("OwnedSocket as Write::flush", &[], unix_stream, |fx| {
        fx.s.as_mut().unwrap().flush().map(|()| 0)
    }));
    t.push(row(
        "&OwnedSocket as Write::flush",
        &[],
        unix_stream,
        |fx| { fx.s() }.flush().map(|()| 0),
    ));
}

/// Socket options: every getter is one getsockopt, every setter one
/// setsockopt.
fn opt_rows(t: &mut Vec<Row>) {
    macro_rules! get {
        ($setup:expr, $m:ident) => {
            t.push(row(
                concat!("OwnedSocket::", stringify!($m)),
                &[Op::Getsockopt],
                $setup,
                |fx| fx.s().$m().map(|_| 0),
            ))
        };
    }
    macro_rules! set {
        ($setup:expr, $m:ident ( $($arg:expr),* )) => {
            t.push(row(
                concat!("OwnedSocket::", stringify!($m)),
                &[Op::Setsockopt],
                $setup,
                move |fx| fx.s().$m($($arg),*).map(|()| 0),
            ))
        };
    }
    let unix = unix_stream;
    let secs = Duration::from_secs;
    // SOL_SOCKET
    get!(tcp4, is_listener);
    set!(udp4, attach_filter(&Program::drop_new_syns()));
    t.push(row(
        "OwnedSocket::attach_reuseport_cbpf",
        &[Op::Setsockopt],
        || {
            let fx = tcp4();
            fx.s().set_reuse_port(true).unwrap();
            fx
        },
        |fx| {
            fx.s()
                .attach_reuseport_cbpf(&Program::steer_by_cpu())
                .map(|()| 0)
        },
    ));
    t.push(row(
        "OwnedSocket::detach_filter",
        &[Op::Setsockopt],
        || {
            let fx = udp4();
            fx.s().attach_filter(&Program::drop_new_syns()).unwrap();
            fx
        },
        |fx| fx.s().detach_filter().map(|()| 0),
    ));
    t.push(row(
        "OwnedSocket::detach_reuseport_bpf",
        &[Op::Setsockopt],
        || {
            let fx = tcp4();
            fx.s().set_reuse_port(true).unwrap();
            fx.s()
                .attach_reuseport_cbpf(&Program::steer_by_cpu())
                .unwrap();
            fx
        },
        |fx| fx.s().detach_reuseport_bpf().map(|()| 0),
    ));
    get!(tcp4, device);
    set!(tcp4, bind_device(Some(b"lo")));
    get!(udp4, broadcast);
    set!(udp4, set_broadcast(true));
    get!(tcp4, domain);
    get!(tcp4, take_error);
    get!(tcp4, incoming_cpu);
    set!(tcp4, set_incoming_cpu(Some(0)));
    get!(tcp4, keepalive);
    set!(tcp4, set_keepalive(true));
    get!(tcp4, linger);
    set!(tcp4, set_linger(Some(secs(1))));
    get!(unix, peer_cred);
    get!(tcp4, protocol);
    get!(tcp4, recv_buffer_size);
    set!(tcp4, set_recv_buffer_size(8192));
    get!(tcp4, read_timeout);
    set!(tcp4, set_read_timeout(Some(secs(1))));
    get!(tcp4, reuse_address);
    set!(tcp4, set_reuse_address(true));
    get!(tcp4, reuse_port);
    set!(tcp4, set_reuse_port(true));
    get!(tcp4, send_buffer_size);
    set!(tcp4, set_send_buffer_size(8192));
    get!(tcp4, write_timeout);
    set!(tcp4, set_write_timeout(Some(secs(1))));
    get!(tcp4, r#type);
    // IPPROTO_IP: multicast on lo (127.0.0.1), named explicitly.
    let group = Ipv4Addr::new(239, 255, 77, 1);
    set!(udp4, join_multicast_v4(group, Ipv4Addr::LOCALHOST));
    t.push(row(
        "OwnedSocket::leave_multicast_v4",
        &[Op::Setsockopt],
        move || {
            let fx = udp4();
            fx.s()
                .join_multicast_v4(group, Ipv4Addr::LOCALHOST)
                .unwrap();
            fx
        },
        move |fx| {
            fx.s()
                .leave_multicast_v4(group, Ipv4Addr::LOCALHOST)
                .map(|()| 0)
        },
    ));
    get!(udp4, multicast_if_v4);
    set!(udp4, set_multicast_if_v4(Ipv4Addr::LOCALHOST));
    get!(udp4, multicast_loop_v4);
    set!(udp4, set_multicast_loop_v4(false));
    get!(udp4, multicast_ttl_v4);
    set!(udp4, set_multicast_ttl_v4(2));
    get!(tcp4, ttl);
    set!(tcp4, set_ttl(32));
    // IPPROTO_IPV6. Joining an IPv6 group is for a network namespace only
    // (house rule): the unfaulted join and leave do not run here; the
    // injected ones never reach the kernel.
    let group6: Ipv6Addr = "ff12::7777".parse().unwrap();
    t.push(
        row(
            "OwnedSocket::join_multicast_v6",
            &[Op::Setsockopt],
            udp6,
            move |fx| fx.s().join_multicast_v6(group6, 1).map(|()| 0),
        )
        .no_baseline("IPv6 multicast only inside a network namespace"),
    );
    t.push(
        row(
            "OwnedSocket::leave_multicast_v6",
            &[Op::Setsockopt],
            udp6,
            move |fx| fx.s().leave_multicast_v6(group6, 1).map(|()| 0),
        )
        .no_baseline("IPv6 multicast only inside a network namespace"),
    );
    get!(udp6, multicast_hops_v6);
    set!(udp6, set_multicast_hops_v6(2));
    get!(udp6, multicast_if_v6);
    set!(udp6, set_multicast_if_v6(0));
    get!(udp6, multicast_loop_v6);
    set!(udp6, set_multicast_loop_v6(true));
    get!(udp6, unicast_hops_v6);
    set!(udp6, set_unicast_hops_v6(32));
    get!(udp6, only_v6);
    set!(udp6, set_only_v6(true));
    // IPPROTO_TCP
    get!(tcp4, tcp_info);
    get!(tcp4, tcp_keepalive_count);
    set!(tcp4, set_tcp_keepalive_count(3));
    get!(tcp4, tcp_keepalive_idle);
    set!(tcp4, set_tcp_keepalive_idle(secs(60)));
    get!(tcp4, tcp_keepalive_interval);
    set!(tcp4, set_tcp_keepalive_interval(secs(10)));
    get!(tcp4, nodelay);
    set!(tcp4, set_nodelay(true));
    get!(tcp4, tcp_user_timeout);
    set!(tcp4, set_tcp_user_timeout(Some(secs(5))));
    // msg.rs: the switches that make the kernel attach control messages.
    set!(udp4, set_recv_pktinfo_v4(true));
    set!(udp6, set_recv_pktinfo_v6(true));
    set!(udp4, set_recv_ttl(true));
    set!(udp4, set_recv_tos(true));
    set!(udp6, set_recv_hoplimit_v6(true));
    set!(udp6, set_recv_tclass_v6(true));
    set!(udp4, set_timestamp_ns(true));
    set!(unix, set_pass_cred(true));
    set!(udp4, set_udp_gro(true));
    set!(udp4, set_udp_segment(1000));
    set!(udp4, set_recv_err_v4(true));
    set!(udp6, set_recv_err_v6(true));
}

/// The fd numbers in an SCM_RIGHTS message of `control`.
fn rights(control: &[u8]) -> Vec<RawFd> {
    msg::parse(control)
        .filter_map(Result::ok)
        .flat_map(|c| match c {
            Cmsg::Rights(fds) => fds.iter().collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn msg_rows(t: &mut Vec<Row>) {
    use Op::*;
    t.push(
        row("OwnedSocket::send_msg", &[Sendmsg], unix_stream_nb, |fx| {
            let bufs = [IoSlice::new(&DATA[..4]), IoSlice::new(&DATA[4..])];
            fx.s().send_msg(&bufs, None, &[], MsgFlags::NONE)
        })
        .after(check_sent),
    );
    t.push(
        row("OwnedSocket::recv_msg", &[Recvmsg], unix_stream_nb, |fx| {
            let mut buf = [SENTINEL; 16];
            let mut control = msg::CmsgBuffer::<64>::new();
            let r = fx
                .s()
                .recv_msg(
                    &mut [IoSliceMut::new(&mut buf)],
                    control.as_mut_slice(),
                    MsgFlags::NONE,
                )
                .map(|m| m.bytes);
            fx.got = buf.to_vec();
            r
        })
        .prep(prep_receive)
        .after(check_received),
    );
    // recv_msg that receives an fd: the Control it returns closes the fd
    // on drop, even when close reports an error.
    t.push(
        row(
            "OwnedSocket::recv_msg",
            &[Recvmsg, Close],
            unix_dgram_nb,
            |fx| {
                let mut buf = [0u8; 16];
                let mut control = msg::CmsgBuffer::<64>::new();
                let m = fx.s().recv_msg(
                    &mut [IoSliceMut::new(&mut buf)],
                    control.as_mut_slice(),
                    MsgFlags::NONE,
                )?;
                let n = m.bytes;
                fx.fds = rights(m.control.as_bytes());
                assert_eq!(fx.fds.len(), 1, "one fd passed");
                drop(m);
                Ok(n)
            },
        )
        .named("an fd passed, closed by Control's drop")
        .covers("KernelControl as Drop::drop")
        .prep(|fx| {
            fx.fds.clear();
            peer_send_fd(fx);
        })
        .expect(|op, _, f| match op {
            Op::Close => Expect::Succeeds,
            _ => default_expect(f),
        })
        .after(|fx, case, r| {
            for &fd in &fx.fds {
                assert!(
                    !fd_is_open(fd),
                    "cycle {}: passed fd {fd} still open",
                    case.cycle
                );
            }
            // A failed receive left the message (and its fd) queued.
            let left = dgrams_queued(fx.s());
            assert_eq!(left.len(), usize::from(r.is_err()), "cycle {}", case.cycle);
            if let Some(n) = case.made.count(Syscall::Close) {
                assert_eq!(n, u64::from(r.is_ok()), "closes, never retried");
            }
        }),
    );
    t.push(
        row("OwnedSocket::send_mmsg", &[Sendmmsg], unix_dgram_nb, |fx| {
            let a = [IoSlice::new(&DATA[..4])];
            let b = [IoSlice::new(&DATA[4..])];
            let mut msgs = [
                SendMmsgHdr::new(&a, None, &[]),
                SendMmsgHdr::new(&b, None, &[]),
            ];
            fx.s().send_mmsg(&mut msgs, MsgFlags::NONE)
        })
        .after(|fx, case, r| {
            let got = dgrams_queued(fx.peer());
            let want = match r {
                Ok(2) => vec![DATA[..4].to_vec(), DATA[4..].to_vec()],
                Ok(n) => panic!("cycle {}: {n} of 2 messages sent", case.cycle),
                Err(_) => Vec::new(),
            };
            assert_eq!(got, want, "cycle {}: the peer's datagrams", case.cycle);
        }),
    );
    t.push(
        row("OwnedSocket::recv_mmsg", &[Recvmmsg], unix_dgram_nb, |fx| {
            let (mut a, mut b) = ([SENTINEL; 8], [SENTINEL; 8]);
            let mut ia = [IoSliceMut::new(&mut a)];
            let mut ib = [IoSliceMut::new(&mut b)];
            let mut slots = [
                RecvMmsgHdr::new(&mut ia, None, &mut []),
                RecvMmsgHdr::new(&mut ib, None, &mut []),
            ];
            let n = fx.s().recv_mmsg(&mut slots, MsgFlags::NONE)?.len();
            // Each slot holds its datagram, then the untouched sentinel.
            fx.got = [&a[..4], &b[..4]].concat();
            assert!(a[4..].iter().chain(&b[4..]).all(|&x| x == SENTINEL));
            Ok(n)
        })
        .prep(|fx| {
            peer_send(fx, &DATA[..4]);
            peer_send(fx, &DATA[4..]);
            fx.got.clear();
        })
        .after(|fx, case, r| {
            let left = dgrams_queued(fx.s());
            match r {
                Ok(n) => {
                    assert_eq!(*n, 2, "cycle {}", case.cycle);
                    assert_eq!(fx.got, DATA, "cycle {}", case.cycle);
                    assert!(left.is_empty());
                }
                Err(_) => assert_eq!(
                    left,
                    vec![DATA[..4].to_vec(), DATA[4..].to_vec()],
                    "cycle {}: a failed receive took messages",
                    case.cycle
                ),
            }
        }),
    );
    // recv_mmsg that receives an fd, left in the batch: RecvBatch's drop
    // closes it.
    t.push(
        row(
            "OwnedSocket::recv_mmsg",
            &[Recvmmsg, Close],
            unix_dgram_nb,
            |fx| {
                let mut a = [0u8; 16];
                let mut ia = [IoSliceMut::new(&mut a)];
                let mut control = msg::CmsgBuffer::<64>::new();
                let mut slots = [RecvMmsgHdr::new(&mut ia, None, control.as_mut_slice())];
                let batch = fx.s().recv_mmsg(&mut slots, MsgFlags::NONE)?;
                let n = batch.len();
                drop(batch);
                Ok(n)
            },
        )
        .named("an fd passed, closed by RecvBatch's drop")
        .covers("RecvBatch as Drop::drop")
        .prep(peer_send_fd)
        .expect(|op, _, f| match op {
            Op::Close => Expect::Succeeds,
            _ => default_expect(f),
        })
        .after(|fx, case, r| {
            // The leak check over the 1,000 cycles sees any fd not closed.
            let left = dgrams_queued(fx.s());
            assert_eq!(left.len(), usize::from(r.is_err()), "cycle {}", case.cycle);
            if let Some(n) = case.made.count(Syscall::Close) {
                assert_eq!(n, u64::from(r.is_ok()), "closes, never retried");
            }
        }),
    );
    t.push(
        row(
            "Credentials::current",
            &[Getpid, Geteuid, Getegid],
            Fx::default,
            |fx| {
                fx.creds = Some(Credentials::current());
                Ok(0)
            },
        )
        // The three cannot fail; an injected fault makes them answer -1.
        .expect(|_, _, _| Expect::Succeeds)
        .after(|fx, case, _| {
            let c = fx.creds.take().unwrap();
            let pid = nix::unistd::getpid().as_raw();
            let uid = nix::unistd::geteuid().as_raw();
            let gid = nix::unistd::getegid().as_raw();
            let want = match case.op {
                None => (pid, uid, gid),
                Some(0) => (-1, uid, gid),
                Some(1) => (pid, u32::MAX, gid),
                Some(_) => (pid, uid, u32::MAX),
            };
            assert_eq!((c.pid, c.uid, c.gid), want, "cycle {}", case.cycle);
        }),
    );
}

fn poll_rows(t: &mut Vec<Row>) {
    use Op::*;
    for b in Backend::ALL {
        let tn = type_name(b);
        let epoll = b == Backend::Epoll;
        let ctl: &[Op] = if epoll { &[EpollCtl] } else { &[] };
        t.push(
            row(
                &format!("{tn} as Poller::register"),
                ctl,
                move || poll_fx(b),
                |fx| {
                    let s = fx.s.take().unwrap();
                    let r = fx
                        .poller()
                        .register(s.as_fd(), Token(1), Interest::READABLE);
                    fx.s = Some(s);
                    r.map(|()| 0)
                },
            )
            .after(|fx, case, r| {
                let s = fx.s.take().unwrap();
                if r.is_err() {
                    // Nothing half-registered: the same register works now.
                    fx.poller()
                        .register(s.as_fd(), Token(1), Interest::READABLE)
                        .unwrap_or_else(|e| {
                            panic!("cycle {}: register after a failed one: {e}", case.cycle)
                        });
                }
                fx.poller().deregister(s.as_fd()).unwrap();
                fx.s = Some(s);
            }),
        );
        t.push(
            row(
                &format!("{tn} as Poller::reregister"),
                ctl,
                move || poll_fx_registered(b),
                |fx| {
                    let s = fx.s.take().unwrap();
                    let r = fx
                        .poller()
                        .reregister(s.as_fd(), Token(2), Interest::WRITABLE);
                    fx.s = Some(s);
                    r.map(|()| 0)
                },
            )
            .after(|fx, case, r| {
                // A Unix socket with nothing queued is writable, not
                // readable: only the new interest reports it.
                fx.wait(Duration::ZERO).unwrap();
                let want = if r.is_ok() { vec![2] } else { Vec::new() };
                assert_eq!(fx.tokens(), want, "cycle {}: after {r:?}", case.cycle);
            }),
        );
        t.push(
            row(
                &format!("{tn} as Poller::deregister"),
                ctl,
                move || poll_fx_registered(b),
                |fx| {
                    let s = fx.s.take().unwrap();
                    let r = fx.poller().deregister(s.as_fd());
                    fx.s = Some(s);
                    r.map(|()| 0)
                },
            )
            .after(|fx, case, r| {
                let s = fx.s.take().unwrap();
                if r.is_err() {
                    // Still registered: deregistering works now.
                    fx.poller().deregister(s.as_fd()).unwrap_or_else(|e| {
                        panic!("cycle {}: the registration is gone: {e}", case.cycle)
                    });
                }
                fx.poller()
                    .register(s.as_fd(), Token(1), Interest::READABLE)
                    .unwrap();
                fx.s = Some(s);
            }),
        );
        // wait: one byte queued, so token 1 is readable; a failed wait
        // reports nothing and loses nothing.
        let timeouts: &[(Op, Duration, &str)] = if epoll {
            &[
                (EpollWait, Duration::ZERO, "ms timeout: epoll_wait"),
                (
                    EpollPwait2,
                    Duration::from_micros(500),
                    "sub-ms timeout: epoll_pwait2",
                ),
            ]
        } else {
            &[(wait_op(b), Duration::ZERO, "zero timeout")]
        };
        for &(op, timeout, variant) in timeouts {
            t.push(
                row(
                    &format!("{tn} as Poller::wait"),
                    &[op],
                    move || {
                        let fx = poll_fx_registered(b);
                        peer_send(&fx, b"x");
                        fx
                    },
                    move |fx| fx.wait(timeout),
                )
                .named(variant)
                .after(|fx, case, r| {
                    if r.is_err() {
                        assert!(
                            fx.tokens().is_empty(),
                            "cycle {}: a failed wait reported",
                            case.cycle
                        );
                        fx.wait(Duration::ZERO).unwrap();
                    }
                    assert_eq!(fx.tokens(), vec![1], "cycle {}: after {r:?}", case.cycle);
                }),
            );
        }
        // wait reporting a waker: poll and select reset its eventfd with a
        // read, whose failure changes nothing for the caller; epoll's
        // edge-triggered waker costs no read at all.
        let ops: Vec<Op> = if epoll {
            vec![EpollWait]
        } else {
            vec![wait_op(b), Read]
        };
        t.push(
            row(
                &format!("{tn} as Poller::wait"),
                &ops,
                move || poll_fx_waker(b),
                |fx| fx.wait(Duration::ZERO),
            )
            .named("waker reported")
            .prep(|fx| fx.waker.as_ref().unwrap().wake().unwrap())
            .expect(|op, _, f| match op {
                Read => Expect::Succeeds,
                _ => default_expect(f),
            })
            .after(|fx, case, r| {
                if r.is_err() {
                    assert!(
                        fx.tokens().is_empty(),
                        "cycle {}: a failed wait reported",
                        case.cycle
                    );
                    fx.wait(Duration::ZERO).unwrap();
                }
                assert_eq!(fx.tokens(), vec![9], "cycle {}: after {r:?}", case.cycle);
            }),
        );
        // Waker::new: eventfd, then register it (epoll_ctl on epoll). A
        // failure after the eventfd exists must not leak it.
        let ops: &[Op] = if epoll {
            &[Eventfd2, EpollCtl]
        } else {
            &[Eventfd2]
        };
        t.push(
            row(
                "Waker::new",
                ops,
                move || poll_fx(b),
                |fx| {
                    let w = Waker::new(fx.poller(), Token(9))?;
                    fx.waker = Some(w);
                    Ok(0)
                },
            )
            .named(tn)
            .covers(&format!("{tn} as Poller::register_waker"))
            .after(|fx, case, r| {
                if r.is_err() {
                    assert!(fx.waker.is_none());
                    // Nothing half-registered: a waker can be made now.
                    let w = Waker::new(fx.poller(), Token(9)).unwrap_or_else(|e| {
                        panic!("cycle {}: Waker::new after a failed one: {e}", case.cycle)
                    });
                    fx.waker = Some(w);
                }
                let w = fx.waker.take().unwrap();
                fx.poller().deregister(w.as_fd()).unwrap();
            }),
        );
        let create: &[Op] = if epoll { &[EpollCreate1] } else { &[] };
        t.push(
            row("Backend::build", create, Fx::default, move |fx| {
                fx.poller = Some(b.build()?);
                Ok(0)
            })
            .named(tn)
            .after(move |fx, _, r| {
                if r.is_ok() {
                    let p = fx.poller.take().unwrap();
                    assert_eq!(p.backend(), b);
                    assert!(format!("{p:?}").starts_with(tn), "{p:?} is not a {tn}");
                }
            }),
        );
    }
    t.push(
        row(
            "Waker::wake",
            &[Write],
            || poll_fx_waker(Backend::Epoll),
            |fx| fx.waker.as_ref().unwrap().wake().map(|()| 0),
        )
        .expect(|_, _, f| match f {
            // A full counter means the poller is woken already.
            Fault::Errno(libc::EAGAIN) => Expect::Succeeds,
            // An eventfd takes exactly 8 bytes: a cut write is EINVAL from
            // the kernel, and it comes back.
            Fault::Short(_) => Expect::Fails(libc::EINVAL),
            f => default_expect(f),
        })
        .after(|fx, case, r| {
            fx.wait(Duration::ZERO).unwrap();
            let woken = fx.tokens() == vec![9];
            if r.is_err() || case.op.is_none() {
                assert_eq!(
                    woken,
                    r.is_ok(),
                    "cycle {}: woken={woken} after {r:?}",
                    case.cycle
                );
            }
        }),
    );
    t.push(row("Epoll::new", &[EpollCreate1], Fx::default, |fx| {
        fx.poller = Some(Box::new(Epoll::new()?));
        Ok(0)
    }));
    // The others keep their sets in memory: no syscall (with stats, proven).
    t.push(row("Select::new", &[], Fx::default, |fx| {
        fx.poller = Some(Box::new(Select::new()));
        Ok(0)
    }));
    t.push(row("SelectGrowable::new", &[], Fx::default, |fx| {
        fx.poller = Some(Box::new(SelectGrowable::new()));
        Ok(0)
    }));
    t.push(row("Poll::new", &[], Fx::default, |fx| {
        fx.poller = Some(Box::new(baresock::poll::Poll::new()));
        Ok(0)
    }));
    t.push(row("Select as Default::default", &[], Fx::default, |fx| {
        fx.poller = Some(Box::new(Select::default()));
        Ok(0)
    }));
    t.push(row(
        "SelectGrowable as Default::default",
        &[],
        Fx::default,
        |fx| {
            fx.poller = Some(Box::new(SelectGrowable::default()));
            Ok(0)
        },
    ));
    t.push(row("Poll as Default::default", &[], Fx::default, |fx| {
        fx.poller = Some(Box::new(baresock::poll::Poll::default()));
        Ok(0)
    }));
}

// ---------------------------------------------------------------------------
// Timers and signalfds (the signal rows that send or block run in a child)
// ---------------------------------------------------------------------------

/// Long enough that no timer the rows arm expires during the walk.
const HOUR: Duration = Duration::from_secs(3600);

/// The lines of /proc/self/fdinfo/FD: the kernel's view of an fd,
/// independent of the crate's calls.
fn fdinfo(fd: &impl AsRawFd, key: &str) -> String {
    let path = format!("/proc/self/fdinfo/{}", fd.as_raw_fd());
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {key} in {path}:\n{text}"))
        .trim()
        .to_owned()
}

/// A timerfd as the kernel shows it.
#[derive(Debug, PartialEq, Eq)]
struct TimerInfo {
    clockid: i32,
    /// Expirations not yet read.
    ticks: u64,
    /// Time left to the next expiry (zero: disarmed).
    value: Duration,
    interval: Duration,
}

fn timer_info(t: &Timer) -> TimerInfo {
    let fd = t.as_fd().as_raw_fd();
    // `(secs, nsecs)`
    let ts = |key: &str| {
        let v = fdinfo(&fd, key);
        let (s, ns) = v
            .trim_matches(['(', ')'])
            .split_once(',')
            .unwrap_or_else(|| panic!("{key}: {v}"));
        Duration::new(s.trim().parse().unwrap(), ns.trim().parse().unwrap())
    };
    TimerInfo {
        clockid: fdinfo(&fd, "clockid").parse().unwrap(),
        ticks: fdinfo(&fd, "ticks").parse().unwrap(),
        value: ts("it_value"),
        interval: ts("it_interval"),
    }
}

fn timer_fx() -> Fx {
    Fx {
        timer: Some(Timer::new().unwrap()),
        ..Fx::default()
    }
}

/// Before a set or a read: the timer has expired once, unread (a one-shot
/// of 1 ns, waited for with nix's poll).
fn expire_timer(fx: &mut Fx) {
    let t = fx.timer();
    t.set_once(Duration::ZERO).unwrap();
    let ev = wait_for(t, nix::poll::PollFlags::POLLIN, Duration::from_secs(5));
    assert!(
        ev.contains(nix::poll::PollFlags::POLLIN),
        "a 1 ns timer did not expire within 5 s: {ev:?}"
    );
    assert_eq!(timer_info(t).ticks, 1, "the expired one-shot's count");
}

/// Timer constructors: on success a close-on-exec, nonblocking monotonic
/// timer, its count zero, first expiry within the hour if `armed`, with
/// this `interval`; on failure no timer, and one that failed after its
/// timerfd_create (in its timerfd_settime) was closed, exactly once.
fn check_timer_made(
    armed: bool,
    interval: Duration,
) -> impl Fn(&mut Fx, &Case, &io::Result<usize>) {
    move |fx, case, r| {
        let c = case.cycle;
        if r.is_err() {
            assert!(fx.timer.is_none(), "cycle {c}: a failed call made a timer");
            if let Some(n) = case.made.count(Syscall::Close) {
                let want = u64::from(case.op.is_some_and(|i| i > 0));
                assert_eq!(
                    n, want,
                    "cycle {c}: {n} closes after {r:?}: a timer made halfway is closed, once"
                );
            }
            return;
        }
        let t = fx.timer.take().expect("the timer made");
        assert!(nix_cloexec(&t), "a timer made without FD_CLOEXEC");
        assert!(nix_nonblocking(&t), "a timer made without O_NONBLOCK");
        let k = timer_info(&t);
        assert_eq!(k.clockid, libc::CLOCK_MONOTONIC, "{k:?}");
        assert_eq!((k.ticks, k.interval), (0, interval), "{k:?}");
        if armed {
            assert!(k.value > Duration::ZERO && k.value <= HOUR, "{k:?}");
        } else {
            assert_eq!(k.value, Duration::ZERO, "a new timer is disarmed: {k:?}");
        }
    }
}

/// After a set of an expired one-shot ([`expire_timer`]): a failed set
/// changed nothing, its expiry still unread; one that succeeded has the
/// new setting (`armed`: first expiry within the hour) and dropped the
/// count, as documented.
fn check_timer_set(armed: bool, interval: Duration) -> impl Fn(&mut Fx, &Case, &io::Result<usize>) {
    move |fx, case, r| {
        let c = case.cycle;
        let k = timer_info(fx.timer());
        if r.is_err() {
            assert_eq!(
                (k.ticks, k.value, k.interval),
                (1, Duration::ZERO, Duration::ZERO),
                "cycle {c}: a failed set changed the timer: {k:?}"
            );
            return;
        }
        assert_eq!(
            k.ticks, 0,
            "cycle {c}: a set keeps unread expirations: {k:?}"
        );
        assert_eq!(k.interval, interval, "cycle {c}: {k:?}");
        if armed {
            assert!(
                k.value > Duration::ZERO && k.value <= HOUR,
                "cycle {c}: {k:?}"
            );
        } else {
            assert_eq!(k.value, Duration::ZERO, "cycle {c}: not disarmed: {k:?}");
        }
    }
}

/// The bits of a signal set as the kernel writes them (bit n-1: signal n).
fn bits(set: SignalSet) -> u64 {
    set.iter().map(|s| 1u64 << (s.as_raw() - 1)).sum()
}

/// The bits of every signal a [`SignalSet`] can hold.
fn settable() -> u64 {
    bits((1..=64).filter_map(Signal::from_raw).collect())
}

fn source_rows(t: &mut Vec<Row>) {
    use Op::*;
    t.push(
        row("Timer::new", &[TimerfdCreate], Fx::default, |fx| {
            fx.timer = Some(Timer::new()?);
            Ok(0)
        })
        .after(check_timer_made(false, Duration::ZERO)),
    );
    t.push(
        row(
            "Timer::once",
            &[TimerfdCreate, TimerfdSettime],
            Fx::default,
            |fx| {
                fx.timer = Some(Timer::once(HOUR)?);
                Ok(0)
            },
        )
        .after(check_timer_made(true, Duration::ZERO)),
    );
    t.push(
        row(
            "Timer::periodic",
            &[TimerfdCreate, TimerfdSettime],
            Fx::default,
            |fx| {
                fx.timer = Some(Timer::periodic(HOUR)?);
                Ok(0)
            },
        )
        .after(check_timer_made(true, HOUR)),
    );
    t.push(
        row("Timer::set", &[TimerfdSettime], timer_fx, |fx| {
            fx.timer().set(HOUR, Some(2 * HOUR)).map(|()| 0)
        })
        .prep(expire_timer)
        .after(check_timer_set(true, 2 * HOUR)),
    );
    t.push(
        row("Timer::set_once", &[TimerfdSettime], timer_fx, |fx| {
            fx.timer().set_once(HOUR).map(|()| 0)
        })
        .prep(expire_timer)
        .after(check_timer_set(true, Duration::ZERO)),
    );
    t.push(
        row("Timer::set_periodic", &[TimerfdSettime], timer_fx, |fx| {
            fx.timer().set_periodic(HOUR).map(|()| 0)
        })
        .prep(expire_timer)
        .after(check_timer_set(true, HOUR)),
    );
    t.push(
        row("Timer::disarm", &[TimerfdSettime], timer_fx, |fx| {
            fx.timer().disarm().map(|()| 0)
        })
        .prep(expire_timer)
        .after(check_timer_set(false, Duration::ZERO)),
    );
    t.push(
        row(
            "Timer::get",
            &[TimerfdGettime],
            || Fx {
                timer: Some(Timer::periodic(HOUR).unwrap()),
                ..Fx::default()
            },
            |fx| {
                fx.setting = Some(fx.timer().get()?);
                Ok(0)
            },
        )
        .after(|fx, case, r| {
            let c = case.cycle;
            let got = fx.setting.take();
            match r {
                Ok(_) => {
                    let s = got.expect("the setting read");
                    assert_eq!(s.interval, Some(HOUR), "cycle {c}: {s:?}");
                    assert!(
                        s.next.is_some_and(|d| d > Duration::ZERO && d <= HOUR),
                        "cycle {c}: {s:?}"
                    );
                }
                Err(_) => assert!(got.is_none()),
            }
            // A read changes nothing.
            let k = timer_info(fx.timer());
            assert_eq!((k.ticks, k.interval), (0, HOUR), "cycle {c}: {k:?}");
        }),
    );
    t.push(
        row("Timer::read", &[Read], timer_fx, |fx| {
            fx.timer().read().map(|n| n as usize)
        })
        .prep(expire_timer)
        .expect(|_, _, f| match f {
            // A timerfd reads 8 bytes or fails: a cut count is EINVAL
            // from the kernel, and it comes back.
            Fault::Short(_) => Expect::Fails(libc::EINVAL),
            f => default_expect(f),
        })
        .after(|fx, case, r| {
            let c = case.cycle;
            let ticks = timer_info(fx.timer()).ticks;
            match r {
                // The one-shot expired once, and the read took it.
                Ok(n) => assert_eq!((*n, ticks), (1, 0), "cycle {c}: count, then ticks"),
                Err(_) => assert_eq!(ticks, 1, "cycle {c}: a failed read took the count"),
            }
        }),
    );
    // Signals::new blocks nothing and raises nothing: it runs here. The
    // rows that send signals or change the mask run in the signals child.
    let set = Signal::USR1 | Signal::USR2;
    t.push(
        row("Signals::new", &[Signalfd4], Fx::default, move |fx| {
            fx.signals = Some(Signals::new(set)?);
            Ok(0)
        })
        .after(move |fx, case, r| {
            let c = case.cycle;
            assert_eq!(
                sigblk() & bits(set),
                0,
                "cycle {c}: Signals::new changed the thread's mask"
            );
            if r.is_err() {
                assert!(
                    fx.signals.is_none(),
                    "cycle {c}: a failed call made a signalfd"
                );
                return;
            }
            let s = fx.signals.take().expect("the signalfd made");
            assert!(nix_cloexec(&s), "a signalfd made without FD_CLOEXEC");
            assert!(nix_nonblocking(&s), "a signalfd made without O_NONBLOCK");
            assert_eq!(s.set(), set);
            let mask = u64::from_str_radix(&fdinfo(&s.as_fd().as_raw_fd(), "sigmask"), 16);
            assert_eq!(mask, Ok(bits(set)), "the kernel's sigmask of the fd");
        }),
    );
    t.push(row(
        "Signals::set",
        &[],
        move || Fx {
            signals: Some(Signals::new(set).unwrap()),
            ..Fx::default()
        },
        move |fx| {
            assert_eq!(fx.signals().set(), set);
            Ok(0)
        },
    ));
}

/// A line of a /proc status file: a signal mask in hex.
fn status_bits(path: &str, key: &str) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    let hex = text
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {key} in {path}:\n{text}"));
    u64::from_str_radix(hex.trim(), 16).unwrap()
}

/// The calling thread's signal mask, as the kernel shows it.
fn sigblk() -> u64 {
    status_bits("/proc/thread-self/status", "SigBlk")
}

/// The signals pending for the whole process.
fn shdpnd() -> u64 {
    status_bits("/proc/self/status", "ShdPnd")
}

// ---------------------------------------------------------------------------
// socket activation, in a child
// ---------------------------------------------------------------------------

/// The child's row: listen_fds over fds 3 (a TCP listener) and 4 (a bound
/// UDP socket). It checks each fd, then sets close-on-exec on each as it
/// adopts it; a failure anywhere must leave both fds open and unowned.
fn activation_row(fds: BTreeMap<i32, PathBuf>) -> Row {
    use Op::*;
    let check = [GetFd, Getsockopt, Getsockopt, Getsockopt, Getsockname];
    let adopt = [GetFd, SetFd];
    let ops: Vec<Op> = [&check[..], &check[..], &adopt[..], &adopt[..]].concat();
    row("activation::listen_fds", &ops, Fx::default, |fx| {
        fx.activated = activation::listen_fds()?;
        Ok(fx.activated.len())
    })
    .after(move |fx, case, r| {
        let now = fd_table();
        for fd in [3, 4] {
            assert_eq!(
                now.get(&fd),
                fds.get(&fd),
                "cycle {}: fd {fd} is not the socket it was after {r:?}",
                case.cycle
            );
        }
        if r.is_ok() {
            let a = std::mem::take(&mut fx.activated);
            assert_eq!(a.len(), 2);
            assert_eq!((a[0].ty, a[1].ty), (Type::STREAM, Type::DGRAM));
            assert!(a[0].listening && !a[1].listening);
            for s in a {
                assert!(nix_cloexec(&s.socket));
                // Give the fd back unclosed, as the manager handed it.
                let _ = s.socket.into_raw_fd();
            }
        }
    })
}

fn activation_child() {
    // The two sockets a manager would pass: they must land on fds 3 and 4.
    let (l, _) = tcp_listener(Domain::IPV4);
    let (u, _) = udp_bound(Domain::IPV4);
    assert_eq!(
        (l.as_raw_fd(), u.as_raw_fd()),
        (3, 4),
        "fds 3 and 4 were not free in the child: {:?}",
        fd_table()
    );
    assert_eq!(
        std::env::var("LISTEN_PID").ok(),
        Some(std::process::id().to_string()),
        "LISTEN_PID is not this process"
    );
    // Hand them over: from now on only listen_fds may own them.
    let (l, u) = (l.into_raw_fd(), u.into_raw_fd());
    assert_eq!((l, u), (3, 4));
    let fds = fd_table();
    let rows = vec![activation_row(fds.clone())];
    let mut tally = Tally::default();
    let start = Instant::now();
    walk(&rows, CYCLES, &mut tally);
    if let Err(p) = quietly(|| assert_fds(&fds, "the activation row")) {
        tally.failures.push(panic_text(&*p));
    }
    println!(
        "activation child: {} row, {} cases, {} faulted calls, {} unfaulted, in {:.1?}",
        tally.rows,
        tally.cases,
        tally.calls,
        tally.baselines,
        start.elapsed()
    );
    assert!(
        tally.failures.is_empty(),
        "{} failures:\n{}",
        tally.failures.len(),
        tally.failures.join("\n")
    );
}

/// This test re-executed as the activation child: `sh` sets LISTEN_PID to
/// its own pid and execs, so the pid is the child's, with fds 3 and 4
/// closed (whatever the parent inherited there) for the child's sockets.
fn activation_command() -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("LISTEN_PID=$$; export LISTEN_PID; exec 3<&- 4<&- \"$0\" \"$@\"")
        .arg(std::env::current_exe().unwrap())
        .args([
            TEST_NAME,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, TEST_NAME)
        .env("LISTEN_FDS", "2")
        .env("RUST_BACKTRACE", "0")
        .env_remove("LISTEN_FDNAMES")
        .stdin(Stdio::null());
    c
}

// ---------------------------------------------------------------------------
// signals, in a child that blocks them in every thread
// ---------------------------------------------------------------------------

/// Set in the signals child's environment (next to [`CHILD_ENV`]).
const SIGNALS_CHILD: &str = "BARESOCK_FAULT_TABLE_SIGNALS";

/// What the parent's test thread blocks while it starts the signals
/// child. The child inherits the block in every thread it will have (the
/// mask survives fork, exec and std's Command, and a new thread copies
/// its creator's), so a signal the rows send to the child's process stays
/// pending until a signalfd reads it, whatever thread libtest runs.
fn child_blocked() -> SignalSet {
    Signal::USR1 | Signal::USR2
}

/// What the mask rows block and unblock in the walking thread: not in
/// [`child_blocked`], and ignored by default, so one that arrived while
/// it was unblocked would do nothing.
const MASK_SIGNAL: Signal = Signal::WINCH;

fn nix_signal(s: Signal) -> nix::sys::signal::Signal {
    nix::sys::signal::Signal::try_from(s.as_raw()).unwrap()
}

/// Takes one pending signal from a signalfd with nix's read: (signo,
/// code, pid, uid) of the raw `signalfd_siginfo`, or None on EAGAIN.
#[track_caller]
fn nix_read_siginfo(s: &Signals) -> Option<(u32, i32, u32, u32)> {
    let mut b = [0u8; 128];
    match nix::unistd::read(s, &mut b) {
        Ok(128) => {}
        Err(nix::errno::Errno::EAGAIN) => return None,
        r => panic!("read of a signalfd: {r:?}"),
    }
    let word = |at: usize| [b[at], b[at + 1], b[at + 2], b[at + 3]];
    Some((
        u32::from_ne_bytes(word(0)),
        i32::from_ne_bytes(word(8)),
        u32::from_ne_bytes(word(12)),
        u32::from_ne_bytes(word(16)),
    ))
}

/// A signalfd for `set`, with nothing of the set pending (a case that
/// failed midway may have left a signal behind).
fn signals_fx(set: SignalSet) -> Fx {
    let s = Signals::new(set).unwrap();
    for _ in 0..64 {
        if nix_read_siginfo(&s).is_none() {
            break;
        }
    }
    assert_eq!(shdpnd() & bits(set), 0, "signals of {set:?} still pending");
    Fx {
        signals: Some(s),
        ..Fx::default()
    }
}

/// The child's rows; `inherited` is the walking thread's mask when it
/// starts (the parent's block), which every row must leave as it was.
fn signal_rows(inherited: u64) -> Vec<Row> {
    use Op::*;
    let me = std::process::id();
    let uid = nix::unistd::getuid().as_raw();
    let usr1 = bits(Signal::USR1.into());
    let usr2 = bits(Signal::USR2.into());
    let w = bits(MASK_SIGNAL.into());
    let mut t = Vec::new();
    // read: SIGUSR1 sent to the process (nix's kill) and pending there; a
    // failed read leaves it pending.
    t.push(
        row(
            "Signals::read",
            &[Read],
            || signals_fx(Signal::USR1.into()),
            |fx| {
                fx.info = Some(fx.signals().read()?);
                Ok(0)
            },
        )
        .prep(move |_| {
            nix::sys::signal::kill(nix::unistd::Pid::this(), nix_signal(Signal::USR1)).unwrap();
            assert_ne!(shdpnd() & usr1, 0, "the SIGUSR1 sent is not pending");
        })
        .expect(|_, _, f| match f {
            // A signalfd reads whole 128-byte records: a count cut below
            // one is EINVAL from the kernel, and it comes back.
            Fault::Short(_) => Expect::Fails(libc::EINVAL),
            f => default_expect(f),
        })
        .after(move |fx, case, r| {
            let c = case.cycle;
            let info = fx.info.take();
            let pending = shdpnd() & usr1 != 0;
            if r.is_err() {
                assert!(info.is_none());
                assert!(pending, "cycle {c}: a failed read took the signal ({r:?})");
                let got = nix_read_siginfo(fx.signals());
                assert_eq!(got.map(|g| g.0), Some(libc::SIGUSR1 as u32), "cycle {c}");
            } else {
                assert!(!pending, "cycle {c}: a read left the signal pending");
                let i = info.expect("the signal read");
                assert_eq!(
                    (i.signal, i.code, i.pid, i.uid),
                    (Signal::USR1, libc::SI_USER, me, uid),
                    "cycle {c}: {i:?}"
                );
            }
            assert_eq!(
                nix_read_siginfo(fx.signals()),
                None,
                "cycle {c}: more pending"
            );
        }),
    );
    // send_to: kill(own pid, SIGUSR2); exactly one signal, or none after a
    // failure, as a signalfd (read with nix) sees it.
    t.push(
        row(
            "Signal::send_to",
            &[Kill],
            || signals_fx(Signal::USR2.into()),
            move |_| Signal::USR2.send_to(me).map(|()| 0),
        )
        .after(move |fx, case, r| {
            let c = case.cycle;
            let pending = shdpnd() & usr2 != 0;
            assert_eq!(
                pending,
                r.is_ok(),
                "cycle {c}: pending={pending} after {r:?}"
            );
            let got = nix_read_siginfo(fx.signals());
            if r.is_ok() {
                assert_eq!(
                    got,
                    Some((libc::SIGUSR2 as u32, libc::SI_USER, me, uid)),
                    "cycle {c}"
                );
            } else {
                assert_eq!(got, None, "cycle {c}: a failed kill sent a signal");
            }
            assert_eq!(
                shdpnd() & usr2,
                0,
                "cycle {c}: still pending after the read"
            );
        }),
    );
    // The mask calls: the thread's mask (its /proc status) is the new one
    // after success, the old one after failure; the mask returned is the
    // old one; and each cycle ends with the mask it started with (nix
    // restores it).
    t.push(
        row(
            "poll::source::block_signals",
            &[RtSigprocmask],
            Fx::default,
            |fx| {
                fx.mask = Some(block_signals(MASK_SIGNAL.into())?);
                Ok(0)
            },
        )
        .after(move |fx, case, r| {
            let c = case.cycle;
            let old = fx.mask.take();
            let now = sigblk();
            if r.is_ok() {
                assert_eq!(now, inherited | w, "cycle {c}: not blocked");
                assert_eq!(old.map(bits), Some(inherited & settable()), "cycle {c}");
                nix::sys::signal::SigSet::from(nix_signal(MASK_SIGNAL))
                    .thread_unblock()
                    .unwrap();
            } else {
                assert_eq!(now, inherited, "cycle {c}: a failed block changed the mask");
            }
            assert_eq!(sigblk(), inherited, "cycle {c}: the mask is not restored");
        }),
    );
    t.push(
        row(
            "poll::source::unblock_signals",
            &[RtSigprocmask],
            Fx::default,
            |fx| {
                fx.mask = Some(unblock_signals(MASK_SIGNAL.into())?);
                Ok(0)
            },
        )
        .prep(move |_| {
            nix::sys::signal::SigSet::from(nix_signal(MASK_SIGNAL))
                .thread_block()
                .unwrap();
            assert_eq!(sigblk(), inherited | w);
        })
        .after(move |fx, case, r| {
            let c = case.cycle;
            let old = fx.mask.take();
            let now = sigblk();
            if r.is_ok() {
                assert_eq!(now, inherited, "cycle {c}: not unblocked");
                assert_eq!(
                    old.map(bits),
                    Some((inherited | w) & settable()),
                    "cycle {c}"
                );
            } else {
                assert_eq!(
                    now,
                    inherited | w,
                    "cycle {c}: a failed unblock changed the mask"
                );
                nix::sys::signal::SigSet::from(nix_signal(MASK_SIGNAL))
                    .thread_unblock()
                    .unwrap();
            }
            assert_eq!(sigblk(), inherited, "cycle {c}: the mask is not restored");
        }),
    );
    t.push(
        row(
            "poll::source::blocked_signals",
            &[RtSigprocmask],
            Fx::default,
            |fx| {
                fx.mask = Some(blocked_signals()?);
                Ok(0)
            },
        )
        .after(move |fx, case, r| {
            let c = case.cycle;
            let got = fx.mask.take();
            assert_eq!(
                sigblk(),
                inherited,
                "cycle {c}: reading the mask changed it"
            );
            match r {
                Ok(_) => assert_eq!(got.map(bits), Some(inherited & settable()), "cycle {c}"),
                Err(_) => assert!(got.is_none()),
            }
        }),
    );
    t
}

fn signals_child() {
    let want = bits(child_blocked());
    // Every thread of this process, not only this one, blocks the set: a
    // signal sent to the process can only stay pending.
    let tasks = std::fs::read_dir("/proc/self/task").unwrap();
    for task in tasks {
        let path = task.unwrap().path().join("status");
        let blk = status_bits(path.to_str().unwrap(), "SigBlk");
        assert_eq!(
            blk & want,
            want,
            "{}: {blk:x}: the parent's block was not inherited",
            path.display()
        );
    }
    let inherited = sigblk();
    assert_eq!(
        inherited & bits(MASK_SIGNAL.into()),
        0,
        "{MASK_SIGNAL:?} is blocked already"
    );
    assert_eq!(shdpnd() & want, 0, "signals pending before the walk");
    let fds = fd_table();
    let rows = signal_rows(inherited);
    let mut tally = Tally::default();
    let start = Instant::now();
    walk(&rows, CYCLES, &mut tally);
    if let Err(p) = quietly(|| assert_fds(&fds, "the signal rows")) {
        tally.failures.push(panic_text(&*p));
    }
    if sigblk() != inherited || shdpnd() & want != 0 {
        tally.failures.push(format!(
            "after the walk: mask {:x} (was {inherited:x}), pending {:x}",
            sigblk(),
            shdpnd()
        ));
    }
    println!(
        "signals child: {} rows, {} cases, {} faulted calls, {} unfaulted, in {:.1?}",
        tally.rows,
        tally.cases,
        tally.calls,
        tally.baselines,
        start.elapsed()
    );
    assert!(
        tally.failures.is_empty(),
        "{} failures:\n{}",
        tally.failures.len(),
        tally.failures.join("\n")
    );
}

/// Puts the calling thread's mask back when dropped.
struct RestoreMask(nix::sys::signal::SigSet);

impl Drop for RestoreMask {
    fn drop(&mut self) {
        self.0.thread_set_mask().unwrap();
    }
}

/// This test re-executed as the signals child, started with
/// [`child_blocked`] blocked in this (the test's own) thread only, just
/// for the spawn: the other libtest threads and the mask of this one
/// after the spawn are untouched.
fn run_signals_child() -> ChildOutput {
    let mut cmd = child_command(TEST_NAME);
    cmd.env(SIGNALS_CHILD, "1").env("RUST_BACKTRACE", "0");
    let set: nix::sys::signal::SigSet = child_blocked().iter().map(nix_signal).collect();
    let _restore = RestoreMask(
        set.thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK)
            .unwrap(),
    );
    run_bounded(cmd)
}

// ---------------------------------------------------------------------------
// Completeness: every public wrapper has a row
// ---------------------------------------------------------------------------

/// Traits whose methods make no syscall, with why. A method of any other
/// trait impl needs a row or an [`EXEMPT`] entry.
const PURE_TRAITS: &[(&str, &str)] = &[
    ("Debug", "formatting"),
    ("Display", "formatting"),
    ("Error", "std::error::Error on an error value"),
    (
        "From",
        "value conversions, or handing an fd's ownership over: no syscall",
    ),
    ("TryFrom", "value conversions"),
    ("PartialEq", "comparing values"),
    ("Hash", "hashing values"),
    ("BitOr", "combining flags"),
    ("BitOrAssign", "combining flags"),
    ("FromStr", "parsing a backend name"),
    (
        "Iterator",
        "walking bytes in memory (TakeFds adopts fd numbers: no syscall)",
    ),
    ("IntoIterator", "walking events in memory"),
    ("AsFd", "borrowing the fd"),
    ("AsRawFd", "reading the fd's number"),
    ("IntoRawFd", "giving up ownership without closing"),
    ("FromRawFd", "adopting a number"),
];

/// Public functions that make no syscall, with why. (Rows with no
/// syscall, `&[]`, are proven syscall-free under `stats`; these are the
/// pure value types, too many to row one by one.)
/// The getters' decoding of the C values getsockopt filled in: pure
/// functions over those values (the getters' rows cover their syscall).
const OPT_DECODE: &str = "pure: decodes a C value getsockopt already returned; makes no syscall";

const EXEMPT: &[(&str, &str)] = &[
    ("CpuSet::new", CPU_SET),
    ("CpuSet::single", CPU_SET),
    ("CpuSet::insert", CPU_SET),
    ("CpuSet::remove", CPU_SET),
    ("CpuSet::contains", CPU_SET),
    ("CpuSet::len", CPU_SET),
    ("CpuSet::is_empty", CPU_SET),
    ("CpuSet::iter", CPU_SET),
    ("CpuSet as Default::default", CPU_SET),
    ("Insn::stmt", BPF),
    ("Insn::jump", BPF),
    ("Program::new", BPF),
    ("Program::instructions", BPF),
    ("Program::len", BPF),
    ("Program::steer_by_cpu", BPF),
    ("Program::drop_new_syns", BPF),
    ("opt::decode::linger", OPT_DECODE),
    ("opt::decode::peer_cred", OPT_DECODE),
    ("opt::decode::tcp_info", OPT_DECODE),
    ("opt::decode::timeval", OPT_DECODE),
    ("SockAddr::as_abstract_name", ADDR),
    ("SockAddr::as_bytes", ADDR),
    ("SockAddr::as_socket", ADDR),
    ("SockAddr::as_socket_ipv4", ADDR),
    ("SockAddr::as_socket_ipv6", ADDR),
    ("SockAddr::as_unix_path", ADDR),
    ("SockAddr::decode", ADDR),
    ("SockAddr::domain", ADDR),
    ("SockAddr::family", ADDR),
    ("SockAddr::from_bytes", ADDR),
    ("SockAddr::from_kernel", ADDR),
    ("SockAddr::is_unnamed", ADDR),
    ("SockAddr::len", ADDR),
    ("SockAddr::unix", ADDR),
    ("SockAddr::unix_abstract", ADDR),
    ("SockAddr::unix_unnamed", ADDR),
    ("addr::decode", ADDR),
    ("msg::cmsg::parse", CMSG_READ),
    ("msg::cmsg::cmsg_len", CMSG_READ),
    ("msg::cmsg::cmsg_space", CMSG_READ),
    ("msg::cmsg::space_for_fds", CMSG_READ),
    ("Fds::is_empty", CMSG_READ),
    ("Fds::iter", CMSG_READ),
    ("Fds::len", CMSG_READ),
    ("Control::as_bytes", CMSG_READ),
    ("Control::iter", CMSG_READ),
    ("CmsgBuffer::new", CMSG_WRITE),
    ("CmsgBuffer::as_mut_slice", CMSG_WRITE),
    ("CmsgBuffer as Default::default", CMSG_WRITE),
    ("CmsgWriter::new", CMSG_WRITE),
    ("CmsgWriter::as_bytes", CMSG_WRITE),
    ("CmsgWriter::push", CMSG_WRITE),
    ("CmsgWriter::rights", CMSG_WRITE),
    ("CmsgWriter::credentials", CMSG_WRITE),
    ("CmsgWriter::pktinfo_v4", CMSG_WRITE),
    ("CmsgWriter::pktinfo_v6", CMSG_WRITE),
    ("CmsgWriter::ip_tos", CMSG_WRITE),
    ("CmsgWriter::ipv6_tclass", CMSG_WRITE),
    ("CmsgWriter::udp_segment", CMSG_WRITE),
    ("Control::take_fds", ADOPT),
    ("msg::cmsg::take_fd_number", CMSG_READ),
    ("RecvBatch::control", ADOPT),
    ("RecvBatch::addr", MMSG),
    ("RecvBatch::get", MMSG),
    ("RecvBatch::is_empty", MMSG),
    ("RecvBatch::len", MMSG),
    ("RecvMmsgHdr::new", MMSG),
    ("RecvMmsgHdr::flags", MMSG),
    ("RecvMmsgHdr::is_empty", MMSG),
    ("RecvMmsgHdr::len", MMSG),
    ("SendMmsgHdr::new", MMSG),
    ("SendMmsgHdr::sent", MMSG),
    ("Domain::c_name", FLAGS),
    ("Type::c_name", FLAGS),
    ("Protocol::c_name", FLAGS),
    ("MsgFlags::c_name", FLAGS),
    ("MsgFlags::bits", FLAGS),
    ("MsgFlags::contains", FLAGS),
    ("Interest::add", INTEREST),
    ("Interest::edge", INTEREST),
    ("Interest::exclusive", INTEREST),
    ("Interest::is_exclusive", INTEREST),
    ("Interest::oneshot", INTEREST),
    ("Interest::mode", INTEREST),
    ("Interest::is_edge", INTEREST),
    ("Interest::is_oneshot", INTEREST),
    ("Interest::is_priority", INTEREST),
    ("Interest::is_readable", INTEREST),
    ("Interest::is_writable", INTEREST),
    ("Interest::epoll_events", INTEREST),
    ("Interest::poll_events", INTEREST),
    ("Event::from_epoll", EVENT),
    ("Event::from_poll", EVENT),
    ("Event::from_select", EVENT),
    ("Event::token", EVENT),
    ("Event::is_error", EVENT),
    ("Event::is_hangup", EVENT),
    ("Event::is_priority", EVENT),
    ("Event::is_read_hangup", EVENT),
    ("Event::is_readable", EVENT),
    ("Event::is_writable", EVENT),
    ("Events::with_capacity", EVENTS),
    ("Events::try_with_capacity", EVENTS),
    ("Events::capacity", EVENTS),
    ("Events::clear", EVENTS),
    ("Events::is_empty", EVENTS),
    ("Events::iter", EVENTS),
    ("Events::len", EVENTS),
    ("SignalInfo::from_siginfo", SOURCE_DECODE),
    ("TimerSetting::from_itimerspec", SOURCE_DECODE),
    ("Backend::name", BACKEND),
    ("Backend::supports", BACKEND),
    ("Backend::supports_exclusive", BACKEND),
    ("Select as Poller::backend", BACKEND),
    ("SelectGrowable as Poller::backend", BACKEND),
    ("Poll as Poller::backend", BACKEND),
    ("Epoll as Poller::backend", BACKEND),
    ("ActivatedSocket::as_fd", BORROW),
    ("activation::parse_env", PARSE_ENV),
    ("activation::unset_env", UNSET_ENV),
    ("activation::fdname_is_valid", FDNAME),
    ("Command::new", COMMAND),
    ("Command::arg", COMMAND),
    ("Command::args", COMMAND),
    ("Command::env", COMMAND),
    ("Command::env_remove", COMMAND),
    ("Child::id", CHILD_ID),
    ("Signal::from_raw", SIGNAL),
    ("Signal::as_raw", SIGNAL),
    ("SignalSet::with", SIGNAL_SET),
    ("SignalSet::without", SIGNAL_SET),
    ("SignalSet::union", SIGNAL_SET),
    ("SignalSet::contains", SIGNAL_SET),
    ("SignalSet::contains_all", SIGNAL_SET),
    ("SignalSet::is_empty", SIGNAL_SET),
    ("SignalSet::len", SIGNAL_SET),
    ("SignalSet::iter", SIGNAL_SET),
    ("SignalSet as FromIterator::from_iter", SIGNAL_SET),
];

const CPU_SET: &str = "a CPU mask in memory (cpu_set_t's words): bits set and read, no syscall";
const BPF: &str =
    "builds or checks a classic BPF program in memory; the attach rows make the syscall";
const ADDR: &str = "a sockaddr value: built, read and decoded in memory (addr.rs makes no syscall)";
const CMSG_READ: &str =
    "reads control-message bytes already received: a pure parser (fuzzed and run under Miri)";
const CMSG_WRITE: &str =
    "encodes control messages into the caller's buffer; rights() copies fd numbers, no syscall";
const ADOPT: &str =
    "adopts fd numbers the kernel already passed (no syscall); their close is the Drop rows'";
const MMSG: &str =
    "builds or reads an mmsghdr from borrows; the syscall is send_mmsg/recv_mmsg's row";
const FLAGS: &str = "a C integer newtype: names and bits of a constant";
const INTEREST: &str = "readiness interest flags, const fns over a byte";
const EVENT: &str = "readiness translation and accessors: pure (the fuzz targets drive them)";
const EVENTS: &str = "a fixed-capacity buffer in memory; the waits fill it (their rows)";
const BACKEND: &str = "answers a constant about the backend";
const SOURCE_DECODE: &str = "decodes a C value signalfd or timerfd_gettime already returned: pure (a fuzz target drives it)";
const BORROW: &str = "borrows the adopted fd";
const PARSE_ENV: &str = "parses LISTEN_* strings: a pure function by design (activation.rs)";
const FDNAME: &str = "checks a LISTEN_FDNAMES name's characters and length: pure";
const COMMAND: &str =
    "records a path, arguments and environment changes in memory; the spawn is its own row";
const CHILD_ID: &str = "returns the pid the spawn recorded";
const UNSET_ENV: &str = "removes three environment variables through std; no socket syscall";
const SIGNAL: &str = "a signal number: const fns that check or read it";
const SIGNAL_SET: &str =
    "a u64 of signal bits: const fns and collecting; the kernel's sigset_t is built in src/sys";

/// The module path of a source file under src/ (`opt/socket.rs` is
/// `opt::socket`, `poll/mod.rs` is `poll`).
fn module_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts == ["lib"] {
        return "crate".into();
    }
    parts.join("::")
}

/// Every key the table must cover, from every file under src/ but the
/// syscall layer (src/sys: its wrappers are `pub(crate)`, reached through
/// the public ones; its public items are the fault, stats and trace
/// controls themselves), with the file and line that declares it. A file
/// of src/sys whose items the crate re-exports (`pub use
/// crate::sys::msg::{RecvMmsgHdr, ...}`) is public API, and is scanned.
fn scan_src() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let texts: Vec<(PathBuf, String)> = files
        .iter()
        .map(|f| {
            let rel = f.strip_prefix(&src).unwrap().to_path_buf();
            (rel, std::fs::read_to_string(f).expect("read source"))
        })
        .collect();
    let private: BTreeSet<String> = texts.iter().flat_map(|(_, t)| private_traits(t)).collect();
    let reexported: BTreeSet<PathBuf> = texts
        .iter()
        .flat_map(|(_, t)| t.lines())
        .filter_map(|l| l.trim().strip_prefix("pub use crate::sys::"))
        .filter_map(|rest| rest.split_once("::"))
        .map(|(m, _)| Path::new("sys").join(format!("{}.rs", ident_of(m))))
        .collect();
    let mut keys = BTreeMap::new();
    for (rel, text) in &texts {
        if rel.starts_with("sys") && !reexported.contains(rel) {
            continue;
        }
        for (key, line) in scan(&module_of(rel), text, &private) {
            keys.entry(key)
                .or_insert_with(|| format!("src/{}:{line}", rel.display()));
        }
    }
    keys
}

/// The lines that open the blocks around line `i`, innermost first: for
/// each level, the nearest line above that is four spaces less indented
/// (rustfmt's layout) and opens something (not a comment, an attribute,
/// a lone `{` or a `where` clause).
fn enclosing(lines: &[&str], i: usize) -> Vec<usize> {
    let mut chain = Vec::new();
    let mut own = indent(lines[i]);
    let mut k = i;
    while own >= 4 {
        let target = own - 4;
        let found = (0..k).rev().find(|&j| {
            let t = lines[j].trim();
            indent(lines[j]) == target
                && !t.is_empty()
                && !t.starts_with("//")
                && !t.starts_with("#[")
                && !t.starts_with("$(")
                && t != "{"
                && !t.starts_with("where")
        });
        let Some(h) = found else { break };
        chain.push(h);
        own = target;
        k = h;
    }
    chain
}

/// The last path segment of a type or trait, without generics: `&'a
/// Events` is `&Events`, `fmt::Debug` is `Debug`, `RecvBatch<'_, '_>` is
/// `RecvBatch`.
fn last_segment(t: &str) -> String {
    let t = t.trim();
    let (amp, rest) = match t.strip_prefix('&') {
        Some(r) => ("&", r.trim_start()),
        None => ("", t),
    };
    let rest = rest.strip_prefix("mut ").unwrap_or(rest);
    let rest = if rest.starts_with('\'') {
        rest.split_once(' ').map_or(rest, |(_, r)| r)
    } else {
        rest
    };
    let base = rest.split('<').next().unwrap_or(rest).trim();
    format!("{amp}{}", base.rsplit("::").next().unwrap_or(base))
}

/// `impl<..> Trait for Type {` or `impl Type {`: (trait, type).
fn impl_header(head: &str) -> Option<(Option<String>, String)> {
    let rest = head
        .strip_prefix("unsafe ")
        .unwrap_or(head)
        .strip_prefix("impl")?;
    if !(rest.starts_with('<') || rest.starts_with(' ')) {
        return None;
    }
    let b = rest.as_bytes();
    let j = if rest.starts_with('<') {
        skip_balanced(b, 0, b'<', b'>')
    } else {
        0
    };
    let body = rest[j..].trim().trim_end_matches('{').trim();
    Some(match body.split_once(" for ") {
        Some((tr, ty)) => (Some(last_segment(tr)), last_segment(ty)),
        None => (None, last_segment(body)),
    })
}

/// The types a macro-generated impl (`impl Poller for $t`) stands for:
/// the first argument of each invocation of the macro around it.
fn expand(lines: &[&str], chain: &[usize], ty: &str) -> Vec<String> {
    if !ty.contains('$') {
        return vec![ty.to_string()];
    }
    let Some(name) = chain.iter().find_map(|&h| {
        lines[h]
            .trim()
            .strip_prefix("macro_rules!")
            .map(|n| n.trim().trim_end_matches('{').trim().to_string())
    }) else {
        return vec![ty.to_string()];
    };
    let ident = |s: &str| -> String {
        s.trim()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (k, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim().strip_prefix(&format!("{name}!")) else {
            continue;
        };
        let rest = rest.trim_start();
        let first = rest
            .strip_prefix('(')
            .map(|r| ident(r.split([',', ')']).next().unwrap_or("")))
            .filter(|s| !s.is_empty());
        let first = first.or_else(|| {
            lines[k + 1..]
                .iter()
                .map(|l| l.trim())
                .find(|l| !l.is_empty() && !l.starts_with("//") && !l.starts_with("#["))
                .map(ident)
        });
        if let Some(f) = first.filter(|s| !s.is_empty()) {
            out.push(f);
        }
    }
    if out.is_empty() {
        vec![ty.to_string()]
    } else {
        out
    }
}

/// The function's signature, from `fn` to its body's `{` or its `;`.
fn signature(lines: &[&str], i: usize) -> String {
    let mut sig = String::new();
    for line in &lines[i..] {
        let t = line.trim();
        sig.push_str(t);
        sig.push(' ');
        if t.ends_with('{') || t.ends_with(';') || t.ends_with('}') {
            break;
        }
    }
    sig
}

/// The traits a source file declares without plain `pub`: their impls
/// are not public API.
fn private_traits(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let t = l.trim_start();
            let t = match t.strip_prefix("pub(") {
                Some(r) => r.split_once(") ")?.1,
                None => t,
            };
            let t = t.strip_prefix("unsafe ").unwrap_or(t);
            t.strip_prefix("trait ").map(ident_of)
        })
        .collect()
}

/// Every key in one source file, with its line: `Type::name` for a `pub fn`
/// of an inherent impl, `Type as Trait::name` for a method of a trait impl
/// (unless the trait is pure), `module::name` for a free `pub fn`,
/// `Trait::name` for a default method of a public trait. Test modules,
/// fns inside fns and impls of the `private` traits are skipped.
fn scan(module: &str, text: &str, private: &BTreeSet<String>) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut keys = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some((public, name)) = fn_item(line) else {
            continue;
        };
        let chain = enclosing(&lines, i);
        let skip = chain.iter().any(|&h| {
            let t = lines[h].trim();
            t.starts_with("mod tests") || fn_item(t).is_some()
        });
        if skip {
            continue;
        }
        let Some(&h) = chain.first() else {
            if public {
                keys.push((format!("{module}::{name}"), i + 1));
            }
            continue;
        };
        let head = lines[h].trim();
        if let Some((tr, ty)) = impl_header(head) {
            for ty in expand(&lines, &chain, &ty) {
                match &tr {
                    None if public => keys.push((format!("{ty}::{name}"), i + 1)),
                    None => {}
                    Some(tr) if PURE_TRAITS.iter().any(|(p, _)| p == tr) => {}
                    Some(tr) if private.contains(tr) => {}
                    Some(tr) => keys.push((format!("{ty} as {tr}::{name}"), i + 1)),
                }
            }
        } else if let Some(tr) = head
            .strip_prefix("pub trait ")
            .or_else(|| head.strip_prefix("pub unsafe trait "))
        {
            // A declaration is covered through its impls; a default body
            // is code of its own.
            if signature(&lines, i).trim_end().ends_with('{') {
                keys.push((format!("{}::{name}", ident_of(tr)), i + 1));
            }
        } else if head.starts_with("trait ") || head.starts_with("pub(") {
            // Private traits and restricted modules: not public.
        } else if let Some(m) = head.strip_prefix("pub mod ") {
            if public {
                keys.push((format!("{module}::{}::{name}", ident_of(m)), i + 1));
            }
        } else if public && !head.starts_with("mod ") {
            keys.push((format!("{module}::{name}"), i + 1));
        }
    }
    keys
}

fn ident_of(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Problems with the table's coverage of the scanned keys: a key with no
/// row and no exemption, a row or exemption for a key that does not exist.
fn coverage_problems(
    rows: &[Row],
    keys: &BTreeMap<String, String>,
    exempt: &[(&str, &str)],
) -> Vec<String> {
    let mut problems = Vec::new();
    let covered: BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| r.covers.iter().map(String::as_str))
        .collect();
    let exempt: BTreeSet<&str> = exempt.iter().map(|(k, _)| *k).collect();
    for (key, at) in keys {
        if !covered.contains(key.as_str()) && !exempt.contains(key.as_str()) {
            problems.push(format!(
                "{at}: `{key}` has no row in tests/fault_table.rs (or, if it makes no syscall, an EXEMPT entry saying so)"
            ));
        }
        if covered.contains(key.as_str()) && exempt.contains(key.as_str()) {
            problems.push(format!("`{key}` has both a row and an exemption"));
        }
    }
    for key in covered.iter().chain(exempt.iter()) {
        if !keys.contains_key(*key) {
            problems.push(format!(
                "`{key}` is in the table but the scan of src/ finds no such public item"
            ));
        }
    }
    problems
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: IP_MULTICAST_IF reads fail (ENOPROTOOPT) and ip_mreqn joins fail (ENODEV)"
)]
fn every_public_wrapper_against_every_fault() {
    if is_child(TEST_NAME) {
        if std::env::var_os(SIGNALS_CHILD).is_some() {
            signals_child();
        } else {
            activation_child();
        }
        return;
    }
    let keys = scan_src();
    for known in [
        "OwnedSocket::send",
        "OwnedSocket::set_nodelay",
        "OwnedSocket as Read::read",
        "Epoll as Poller::wait",
        "Select as Poller::wait",
        "Waker::new",
        "activation::listen_fds",
    ] {
        assert!(
            keys.contains_key(known),
            "the scan did not find `{known}`: it is broken"
        );
    }
    let mut rows = table();
    let ours = rows.len();
    rows.push(activation_row(BTreeMap::new()));
    rows.extend(signal_rows(0));
    let mut problems = coverage_problems(&rows, &keys, EXEMPT);
    rows.truncate(ours);

    let before = fd_table();
    let start = Instant::now();
    let mut tally = Tally::default();
    walk(&rows, CYCLES, &mut tally);
    let walked = start.elapsed();
    if let Err(p) = quietly(|| assert_fds(&before, "the whole table")) {
        tally.failures.push(panic_text(&*p));
    }

    // activation::listen_fds, in a child that owns fds 3 and 4.
    let out = run_bounded(activation_command());
    let child_ok = out.status.success() && out.stdout.contains("test result: ok. 1 passed");
    if !child_ok {
        problems.push(format!(
            "the activation child failed: {:?}\n--- stdout\n{}\n--- stderr\n{}",
            out.status, out.stdout, out.stderr
        ));
    }
    let child_line = out
        .stdout
        .lines()
        .find_map(|l| l.find("activation child:").map(|at| &l[at..]))
        .unwrap_or("activation child: no summary")
        .to_owned();

    // The rows that send signals or change the mask, in a child that
    // blocks the signals in every thread.
    let out = run_signals_child();
    if !(out.status.success() && out.stdout.contains("test result: ok. 1 passed")) {
        problems.push(format!(
            "the signals child failed: {:?}\n--- stdout\n{}\n--- stderr\n{}",
            out.status, out.stdout, out.stderr
        ));
    }
    let signals_line = out
        .stdout
        .lines()
        .find_map(|l| l.find("signals child:").map(|at| &l[at..]))
        .unwrap_or("signals child: no summary");
    println!(
        "fault table: {} keys scanned, {} rows, {} (row, op, fault) cases, {} faulted calls, {} unfaulted, in {:.1?}; slowest rows {:.1?}\n{child_line}\n{signals_line}",
        keys.len(),
        tally.rows,
        tally.cases,
        tally.calls,
        tally.baselines,
        walked,
        tally.slowest
    );
    problems.extend(tally.failures);
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

// ---- the scanner's own tests: it must be able to fail ----

fn keys_of(module: &str, src: &str) -> Vec<String> {
    let private = private_traits(src).into_iter().collect();
    scan(module, src, &private)
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

#[test]
fn scan_keys_inherent_trait_and_free_functions() {
    let src = r#"
pub fn listen_fds() -> io::Result<()> {}
pub(crate) fn hidden() {}
fn private() {}

impl<'a> OwnedSocket {
    /// Docs.
    #[doc(alias = "x")]
    pub fn send(&self) -> io::Result<usize> {
        fn inner() {}
    }

    fn helper(&self) {}

    pub(crate) fn crate_only(&self) {}
}

impl Read for &OwnedSocket {
    fn read(&mut self) -> io::Result<usize> {}
}

impl fmt::Debug for OwnedSocket {
    fn fmt(&self) -> fmt::Result {}
}

pub trait Poller {
    fn wait(&mut self) -> io::Result<usize>;

    fn with_default(&self) -> u8 {
        0
    }
}

trait SetStore {
    fn select(&mut self) -> io::Result<usize>;
}

impl SetStore for FixedSets {
    fn select(&mut self) -> io::Result<usize> {}
}

#[cfg(test)]
mod tests {
    pub fn not_public_api() {}
}
"#;
    assert_eq!(
        keys_of("activation", src),
        [
            "activation::listen_fds",
            "OwnedSocket::send",
            "&OwnedSocket as Read::read",
            "Poller::with_default",
        ]
    );
}

#[test]
fn scan_expands_macro_generated_impls() {
    let src = r#"
macro_rules! poller {
    ($t:ty, $name:literal) => {
        impl Poller for $t {
            fn wait(&mut self) -> io::Result<usize> {}
        }

        impl fmt::Debug for $t {
            fn fmt(&self) -> fmt::Result {}
        }
    };
}

poller!(Select, "Select");
poller!(SelectGrowable, "SelectGrowable");

macro_rules! newtype {
    ($name:ident) => {
        impl $name {
            pub fn c_name(self) -> u8 {}
        }
    };
}

newtype! {
    /// Docs.
    Domain
}
"#;
    assert_eq!(
        keys_of("poll::select", src),
        [
            "Select as Poller::wait",
            "SelectGrowable as Poller::wait",
            "Domain::c_name",
        ]
    );
}

#[test]
fn coverage_flags_a_wrapper_without_a_row_and_a_stale_row() {
    let keys: BTreeMap<String, String> = [
        (
            "OwnedSocket::send".to_string(),
            "src/socket.rs:1".to_string(),
        ),
        (
            "OwnedSocket::brand_new".to_string(),
            "src/socket.rs:2".to_string(),
        ),
    ]
    .into();
    let rows = vec![
        row("OwnedSocket::send", &[Op::Sendto], Fx::default, |_| Ok(0)),
        row("OwnedSocket::renamed", &[Op::Sendto], Fx::default, |_| {
            Ok(0)
        }),
    ];
    let p = coverage_problems(&rows, &keys, &[]);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(
        p[0].contains("`OwnedSocket::brand_new` has no row"),
        "{p:#?}"
    );
    assert!(
        p[1].contains("`OwnedSocket::renamed` is in the table but"),
        "{p:#?}"
    );
}
