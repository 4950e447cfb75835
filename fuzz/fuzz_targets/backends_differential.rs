//! The backends against one another, and against the kernel.
//!
//! The fuzzer's bytes are a program of register, reregister, deregister,
//! wait, peer write, read, out-of-band write, shutdown, peer close, own
//! writes, drains, and deregister-then-close-and-reopen, over a few slots,
//! each a connected pair: a Unix stream socketpair or a TCP connection
//! over 127.0.0.1 (to a listener of this process). Every backend
//! (select, the growable select, poll, epoll) watches the *same* fds, so
//! they see one kernel state. Besides the slots, every poller has a timer
//! (a timerfd), a signalfd (SIGUSR2, blocked in the fuzzing thread and
//! raised only at it) and a waker of its own registered, and the program
//! can arm and read the timer, raise and read the signal, and wake. The
//! first byte also picks `Events`' capacity (1 to 8, often fewer than
//! what is ready) and, in "high" inputs, puts every slot's socket at fd
//! 1024 or above (where `Select` must refuse it and is left out). Waits
//! are with a zero or a 1 ms timeout. A registered socket can be closed
//! without deregistering (a caller bug with a documented outcome): from
//! then on its token is stale and only the fds that stay live are
//! compared, and no new socket is opened in that input (so no later fd
//! reuses the closed number). The target requires:
//!
//! - every register/reregister/deregister gives the same outcome on every
//!   backend;
//! - every event carries the token of a live registration: never a token
//!   after its deregister, never an old token after a reregister, never a
//!   second event from a disarmed oneshot registration, never a waker's
//!   token without a wake (events under a closed fd's stale token are
//!   not judged);
//! - a wait is `ceil(ready / capacity)` consecutive waits on each backend,
//!   `ready` counting every registration that may be reported (the ready
//!   live ones, a woken waker, every closed fd's stale registration):
//!   level mode must report every ready live fd within them. When the
//!   kernel state held still over them (a reference `poll(2)` through nix,
//!   taken before and after, saw the same), each backend's shared contract
//!   (token, readable, writable, priority) over those waits equals the
//!   oracle computed from that reference with the kernel's select mapping,
//!   and a woken waker is reported exactly once;
//!   when it moved (loopback TCP delivers in softirq context, which can
//!   lag), the round proves only the token rules, and every oneshot
//!   registration is re-armed on every backend so they start level again;
//! - `/proc/self/fd` holds as many entries after the input as before.
//!
//! Fuzzer bytes never become an address: the only addresses are the
//! listener's own 127.0.0.1 port, and socketpairs have none.
#![no_main]

use baresock::poll::{
    Backend, Events, Interest, Poller, Signal, Signals, Timer, Token, Waker, block_signals,
};
use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, Shutdown, SockAddr, Type};
use libfuzzer_sys::fuzz_target;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const SLOTS: usize = 4;
/// The tokens of the extra sources (slot tokens count up from 1).
const TIMER: Token = Token(1_000_000);
const SIGNALS: Token = Token(1_000_001);
const WAKER: Token = Token(1_000_002);
/// Where a "high" input puts its slots' sockets: at or above FD_SETSIZE.
const HIGH_FD: i32 = 1024;
const MAX_OPS: usize = 96;
const BACKENDS: [Backend; 4] = Backend::ALL;
static PAYLOAD: [u8; 100_000] = [0x5a; 100_000];

/// Waits compared against the oracle, and waits during which the kernel
/// moved (token rules only). With BARESOCK_FUZZ_STATS set, printed every
/// 65,536 waits, so a run's report can say how many rounds were proved.
static PROVED: AtomicU64 = AtomicU64::new(0);
static MOVED: AtomicU64 = AtomicU64::new(0);

fn count(which: &AtomicU64) {
    which.fetch_add(1, Ordering::Relaxed);
    let total = PROVED.load(Ordering::Relaxed) + MOVED.load(Ordering::Relaxed);
    if total % 65_536 == 0 && std::env::var_os("BARESOCK_FUZZ_STATS").is_some() {
        eprintln!(
            "waits: {} compared with the kernel, {} with the kernel moving",
            PROVED.load(Ordering::Relaxed),
            MOVED.load(Ordering::Relaxed)
        );
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Unix,
    Tcp,
}

/// The process's one listener on 127.0.0.1, made before the first input's
/// fd count and kept: every TCP slot connects to it.
fn listener() -> &'static (OwnedSocket, SockAddr) {
    static L: OnceLock<(OwnedSocket, SockAddr)> = OnceLock::new();
    L.get_or_init(|| {
        // Room for fds at 1024 and above, when the hard limit allows.
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: lim is a valid rlimit for getrlimit to fill in.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) } == 0
            && lim.rlim_cur < 2048
            && lim.rlim_max >= 2048
        {
            lim.rlim_cur = 2048;
            // SAFETY: lim is a valid rlimit the kernel only reads.
            unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const lim) };
        }
        // The signalfd's signal, blocked in this (the fuzzing) thread and
        // only ever raised at it, so no other thread can take it.
        block_signals(Signal::USR2.into()).unwrap();
        let l = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
        l.bind(&SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)))
            .unwrap();
        l.listen(64).unwrap();
        let a = l.local_addr().unwrap();
        (l, a)
    })
}

/// Whether this process may open fds at `HIGH_FD` and above.
fn high_fds_possible() -> bool {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid rlimit for getrlimit to fill in.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) == 0 && lim.rlim_cur >= 2048 }
}

/// A connected pair; `high`: our end moved to an fd at or above HIGH_FD.
fn pair(kind: Kind, high: bool) -> (OwnedSocket, OwnedSocket) {
    let (ours, peer) = pair_low(kind);
    if !high {
        return (ours, peer);
    }
    // SAFETY: F_DUPFD_CLOEXEC takes no pointer; ours is a live fd.
    let fd = unsafe { libc::fcntl(ours.as_raw_fd(), libc::F_DUPFD_CLOEXEC, HIGH_FD) };
    assert!(
        fd >= HIGH_FD,
        "F_DUPFD_CLOEXEC: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: fd is the new descriptor fcntl just made, owned by nobody
    // else; ours (its original) is closed as it drops here.
    (unsafe { OwnedSocket::from_raw_fd(fd) }, peer)
}

fn pair_low(kind: Kind) -> (OwnedSocket, OwnedSocket) {
    match kind {
        Kind::Unix => {
            OwnedSocket::pair_nonblocking(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap()
        }
        Kind::Tcp => {
            let (l, addr) = listener();
            let peer = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
            peer.connect(addr).unwrap();
            let (ours, _) = l.accept_nonblocking().unwrap();
            peer.set_nonblocking(true).unwrap();
            (ours, peer)
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Reg {
    token: Token,
    interest: Interest,
    /// Per backend: whether a oneshot registration is still armed.
    armed: [bool; BACKENDS.len()],
}

struct Slot {
    kind: Kind,
    /// None once closed while registered.
    ours: Option<OwnedSocket>,
    peer: Option<OwnedSocket>,
    reg: Option<Reg>,
}

impl Slot {
    /// Makes a TCP pair close with a reset (SO_LINGER 0) once nothing will
    /// look at it again: a FIN exchange and a TIME_WAIT entry per
    /// connection cost more than a short input's checks, and a
    /// million-input run opens millions of loopback connections.
    fn reset_on_close(&self) {
        if self.kind == Kind::Tcp {
            for s in self.ours.iter().chain(&self.peer) {
                s.set_linger(Some(Duration::ZERO))
                    .expect("SO_LINGER on a TCP socket");
            }
        }
    }
}

fn interest_from(b: u8) -> Interest {
    let i = match b % 7 {
        0 => Interest::READABLE,
        1 => Interest::WRITABLE,
        2 => Interest::PRIORITY,
        3 => Interest::READABLE | Interest::WRITABLE,
        4 => Interest::READABLE | Interest::PRIORITY,
        5 => Interest::WRITABLE | Interest::PRIORITY,
        _ => Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY,
    };
    if b & 0x80 != 0 { i.oneshot() } else { i }
}

fn outcome<T: std::fmt::Debug>(r: std::io::Result<T>) -> String {
    match r {
        Ok(v) => format!("Ok({v:?})"),
        Err(e) => format!("Err({:?}, {:?})", e.kind(), e.raw_os_error()),
    }
}

/// A live slot's socket (ops on a closed slot are skipped before here).
fn live(slot: &Slot) -> BorrowedFd<'_> {
    slot.ours.as_ref().expect("an op on a closed slot").as_fd()
}

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The kernel's readiness of each live slot's socket (None for a closed
/// one), then of the timer and the signalfd, as a zero-timeout `poll(2)`
/// through nix (independent of baresock) reports it.
fn reference(slots: &[Slot], extra: [BorrowedFd<'_>; 2]) -> Vec<Option<PollFlags>> {
    let ask = PollFlags::POLLIN
        | PollFlags::POLLPRI
        | PollFlags::POLLOUT
        | PollFlags::POLLRDNORM
        | PollFlags::POLLRDBAND
        | PollFlags::POLLWRNORM
        | PollFlags::POLLWRBAND;
    let live: Vec<BorrowedFd<'_>> = slots
        .iter()
        .filter_map(|s| s.ours.as_ref().map(|o| o.as_fd()))
        .chain(extra)
        .collect();
    let mut fds: Vec<PollFd<'_>> = live.iter().map(|fd| PollFd::new(*fd, ask)).collect();
    poll(&mut fds, PollTimeout::ZERO).unwrap();
    let mut got = fds.iter().map(|f| f.revents().unwrap());
    let mut out: Vec<Option<PollFlags>> = slots
        .iter()
        .map(|s| s.ours.as_ref().and_then(|_| got.next()))
        .collect();
    out.extend(got.map(Some));
    out
}

type Shared = (usize, bool, bool, bool);

/// What a wait must report for a registration (armed or not), from the kernel's
/// readiness, through fs/select.c's sets, masked by the interest.
fn expected(reg: Option<Reg>, armed: bool, m: PollFlags) -> Option<Shared> {
    let reg = reg?;
    if reg.interest.is_oneshot() && !armed {
        return None;
    }
    let i = reg.interest;
    let read_set = PollFlags::POLLIN
        | PollFlags::POLLRDNORM
        | PollFlags::POLLRDBAND
        | PollFlags::POLLHUP
        | PollFlags::POLLERR;
    let write_set =
        PollFlags::POLLOUT | PollFlags::POLLWRNORM | PollFlags::POLLWRBAND | PollFlags::POLLERR;
    let r = i.is_readable() && m.intersects(read_set);
    let w = i.is_writable() && m.intersects(write_set);
    let p = i.is_priority() && m.intersects(PollFlags::POLLPRI);
    (r || w || p).then_some((reg.token.0, r, w, p))
}

struct Run {
    backends: Vec<Backend>,
    pollers: Vec<Box<dyn Poller>>,
    events: Vec<Events>,
    slots: Vec<Slot>,
    next_token: usize,
    log: Vec<String>,
    high: bool,
    /// Tokens of registrations whose fd was closed without deregistering.
    stale: Vec<Token>,
    timer: Timer,
    signals: Signals,
    /// One waker per backend, and whether it was woken since its last
    /// report.
    wakers: Vec<Waker>,
    woken: Vec<bool>,
}

impl Run {
    fn fail(&self, what: &str) -> ! {
        let tail = self.log[self.log.len().saturating_sub(20)..].join("\n  ");
        let kinds: Vec<Kind> = self.slots.iter().map(|s| s.kind).collect();
        panic!(
            "{what}\nslots: {kinds:?}, capacity {}, high {}\nlast steps:\n  {tail}",
            self.events[0].capacity(),
            self.high
        );
    }

    fn fresh_token(&mut self) -> Token {
        self.next_token += 1;
        Token(self.next_token)
    }

    /// Runs `f` on every backend for (live) slot `s`; the results must
    /// agree.
    fn all<F>(&mut self, s: usize, what: &str, mut f: F) -> String
    where
        F: FnMut(&mut dyn Poller, &Slot) -> String,
    {
        let results: Vec<String> = self
            .pollers
            .iter_mut()
            .map(|p| f(p.as_mut(), &self.slots[s]))
            .collect();
        if results.iter().any(|r| r != &results[0]) {
            let per: Vec<String> = self
                .backends
                .iter()
                .zip(&results)
                .map(|(b, r)| format!("{b}: {r}"))
                .collect();
            self.fail(&format!("backends disagree on {what}: {}", per.join("; ")));
        }
        results[0].clone()
    }

    fn register(&mut self, s: usize, interest: Interest) {
        let token = self.fresh_token();
        let what = format!("register #{s} {token:?} {interest:?}");
        let r = self.all(s, &what, |p, slot| {
            outcome(p.register(live(slot), token, interest))
        });
        self.log.push(format!("{what} -> {r}"));
        match (r.starts_with("Ok"), self.slots[s].reg.is_some()) {
            (true, false) => {
                self.slots[s].reg = Some(Reg {
                    token,
                    interest,
                    armed: [true; BACKENDS.len()],
                })
            }
            (false, true) if r.contains("AlreadyExists") => {}
            _ => self.fail(&format!(
                "register gave {r} on a registration that is {:?}",
                self.slots[s].reg
            )),
        }
    }

    fn reregister(&mut self, s: usize, interest: Interest, new_token: bool) {
        let token = match (new_token, self.slots[s].reg) {
            (false, Some(reg)) => reg.token,
            _ => self.fresh_token(),
        };
        let what = format!("reregister #{s} {token:?} {interest:?}");
        let r = self.all(s, &what, |p, slot| {
            outcome(p.reregister(live(slot), token, interest))
        });
        self.log.push(format!("{what} -> {r}"));
        match (r.starts_with("Ok"), self.slots[s].reg.is_some()) {
            (true, true) => {
                self.slots[s].reg = Some(Reg {
                    token,
                    interest,
                    armed: [true; BACKENDS.len()],
                })
            }
            (false, false) if r.contains("NotFound") => {}
            _ => self.fail(&format!(
                "reregister gave {r} on a registration that is {:?}",
                self.slots[s].reg
            )),
        }
    }

    fn deregister(&mut self, s: usize) {
        let what = format!("deregister #{s}");
        let r = self.all(s, &what, |p, slot| outcome(p.deregister(live(slot))));
        self.log.push(format!("{what} -> {r}"));
        let registered = self.slots[s].reg.is_some();
        if r.starts_with("Ok") != registered || !(registered || r.contains("NotFound")) {
            self.fail(&format!("deregister gave {r} on {:?}", self.slots[s].reg));
        }
        self.slots[s].reg = None;
    }

    /// One wait of the program: `ceil(ready / capacity)` consecutive waits
    /// on each backend (see the module docs), checked against the kernel.
    fn wait(&mut self, timeout: Option<Duration>) {
        let before = reference(&self.slots, [self.timer.as_fd(), self.signals.as_fd()]);
        let nb = self.pollers.len();
        let cap = self.events[0].capacity();
        let woken_before = self.woken.clone();
        let mut seen: Vec<BTreeSet<Shared>> = Vec::new();
        let mut armed_before = Vec::new();
        let mut waker_reports = vec![0usize; nb];
        let mut rounds = vec![0usize; nb];
        for b in 0..nb {
            let armed: Vec<Option<bool>> = self
                .slots
                .iter()
                .map(|s| s.reg.map(|r| r.armed[b]))
                .collect();
            // Epoll's kernel reports HUP and ERR whatever the interest,
            // and each such event takes room in the wait even when the
            // interest masks it away: count those too.
            let forced = self
                .slots
                .iter()
                .zip(&armed)
                .zip(&before)
                .filter(|((s, armed), ready)| {
                    s.reg
                        .is_some_and(|r| !r.interest.is_oneshot() || armed.unwrap_or(false))
                        && ready
                            .is_some_and(|m| m.intersects(PollFlags::POLLHUP | PollFlags::POLLERR))
                })
                .count();
            let ready_live = self.want(&armed, &before).len() + forced;
            let ready = ready_live + usize::from(self.woken[b]) + self.stale.len();
            armed_before.push(armed);
            rounds[b] = ready.div_ceil(cap).max(1);
            let mut set = BTreeSet::new();
            for round in 0..rounds[b] {
                let n = match self.pollers[b].wait(&mut self.events[b], timeout) {
                    Ok(n) => n,
                    Err(e) => self.fail(&format!("{}: wait failed: {e}", self.backends[b])),
                };
                assert_eq!(n, self.events[b].len());
                let mut this_wait = BTreeSet::new();
                for e in self.events[b].iter() {
                    let t = e.token();
                    if self.stale.contains(&t) {
                        continue;
                    }
                    let key = (t.0, e.is_readable(), e.is_writable(), e.is_priority());
                    if !this_wait.insert(key) {
                        self.fail(&format!(
                            "{}: {e:?} reported twice in one wait",
                            self.backends[b]
                        ));
                    }
                    if t == WAKER {
                        if !self.woken[b] {
                            self.fail(&format!(
                                "{}: waker reported without a wake (wait {round})",
                                self.backends[b]
                            ));
                        }
                        self.woken[b] = false;
                        waker_reports[b] += 1;
                        continue;
                    }
                    if t != TIMER && t != SIGNALS {
                        let Some(s) = self
                            .slots
                            .iter()
                            .position(|s| s.reg.is_some_and(|r| r.token == t))
                        else {
                            self.fail(&format!(
                                "{}: event {e:?} for a token with no live registration",
                                self.backends[b]
                            ));
                        };
                        let reg = self.slots[s].reg.as_mut().unwrap();
                        if reg.interest.is_oneshot() {
                            if !reg.armed[b] {
                                self.fail(&format!(
                                    "{}: event {e:?} from a disarmed oneshot registration",
                                    self.backends[b]
                                ));
                            }
                            reg.armed[b] = false;
                        }
                    }
                    set.insert(key);
                }
            }
            seen.push(set);
        }
        let after = reference(&self.slots, [self.timer.as_fd(), self.signals.as_fd()]);
        if before != after {
            // The kernel moved during the round: only the token rules
            // held. Re-arm every oneshot registration everywhere so the
            // backends start level again.
            count(&MOVED);
            self.log.push(format!(
                "wait: kernel moved ({before:?} -> {after:?}), re-arming"
            ));
            for s in 0..self.slots.len() {
                if let Some(reg) = self.slots[s].reg.filter(|r| r.interest.is_oneshot()) {
                    self.reregister(s, reg.interest, false);
                }
            }
            return;
        }
        for b in 0..nb {
            // The oracle uses the arming state from before this wait.
            let want = self.want(&armed_before[b], &before);
            if seen[b] != want {
                self.fail(&format!(
                    "{}: {} wait(s) of capacity {cap} saw {:?}, the kernel's readiness {before:?} means {want:?} (stale tokens {:?})",
                    self.backends[b],
                    rounds[b],
                    seen[b],
                    self.stale
                ));
            }
            if woken_before[b] && waker_reports[b] != 1 {
                self.fail(&format!(
                    "{}: a woken waker was reported {} times",
                    self.backends[b], waker_reports[b]
                ));
            }
        }
        count(&PROVED);
        self.log.push(format!("wait -> {:?}", seen[0]));
    }

    /// What the live registrations (slots with their arming state, then
    /// the timer and the signalfd) must report for the kernel's readiness.
    fn want(&self, armed: &[Option<bool>], ready: &[Option<PollFlags>]) -> BTreeSet<Shared> {
        let extra = [TIMER, SIGNALS].map(|token| {
            Some(Reg {
                token,
                interest: Interest::READABLE,
                armed: [true; BACKENDS.len()],
            })
        });
        self.slots
            .iter()
            .map(|s| s.reg)
            .chain(extra)
            .enumerate()
            .filter_map(|(i, reg)| {
                let armed = armed.get(i).copied().flatten().unwrap_or(true);
                expected(reg, armed, ready[i]?)
            })
            .collect()
    }

    fn reopen(&mut self, s: usize, kind: Kind, register: Option<Interest>) {
        if !self.stale.is_empty() {
            // A new socket could take a closed one's number.
            return;
        }
        if self.slots[s].reg.is_some() {
            self.deregister(s);
        }
        self.slots[s].reset_on_close();
        let (ours, peer) = pair(kind, self.high);
        // The old pair closes here, after its deregistration; the new one
        // often gets the same numbers.
        self.slots[s] = Slot {
            kind,
            ours: Some(ours),
            peer: Some(peer),
            reg: None,
        };
        self.log.push(format!("reopen #{s} as {kind:?}"));
        if let Some(i) = register {
            self.register(s, i);
        }
    }

    /// Closes a registered socket without deregistering it: a caller bug
    /// with a documented outcome; its token is stale from now on.
    fn close_registered(&mut self, s: usize) {
        let Some(reg) = self.slots[s].reg.take() else {
            return;
        };
        self.slots[s].reset_on_close();
        self.slots[s].ours = None;
        self.stale.push(reg.token);
        self.log
            .push(format!("#{s} closed while registered as {:?}", reg.token));
    }

    /// The timer, the signalfd and the wakers.
    fn extra(&mut self, arg: u8) {
        let what = match arg % 6 {
            0 => {
                for (w, woken) in self.wakers.iter().zip(&mut self.woken) {
                    w.wake().unwrap();
                    *woken = true;
                }
                "wake".to_owned()
            }
            1 => format!(
                "timer in 1ns: {}",
                outcome(self.timer.set_once(Duration::from_nanos(1)))
            ),
            2 => format!("timer read: {}", outcome(self.timer.read())),
            3 => format!("timer disarmed: {}", outcome(self.timer.disarm())),
            4 => {
                // At this thread only: it blocks SIGUSR2, so the signal
                // stays pending for the signalfd.
                // SAFETY: raise takes no pointer; SIGUSR2 is blocked here.
                let r = unsafe { libc::raise(libc::SIGUSR2) };
                format!("raise SIGUSR2: {r}")
            }
            _ => format!("signal read: {}", outcome(self.signals.read())),
        };
        self.log.push(what);
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = listener();
    let fds_before = fd_count();
    {
        let mut bytes = data.iter().copied();
        let mut next = move || bytes.next();
        // Bits 0-3: TCP or Unix per slot; 4-6: Events' capacity - 1; 7: high.
        let first = next().unwrap_or(0);
        let high = first & 0x80 != 0 && high_fds_possible();
        let backends: Vec<Backend> = BACKENDS
            .into_iter()
            .filter(|b| !(high && *b == Backend::Select))
            .collect();
        let capacity = 1 + usize::from((first >> 4) & 7);
        let mut pollers: Vec<Box<dyn Poller>> =
            backends.iter().map(|b| b.build().unwrap()).collect();
        let timer = Timer::new().unwrap();
        let signals = Signals::new(Signal::USR2.into()).unwrap();
        let mut wakers = Vec::new();
        for p in &mut pollers {
            p.register(timer.as_fd(), TIMER, Interest::READABLE)
                .unwrap();
            p.register(signals.as_fd(), SIGNALS, Interest::READABLE)
                .unwrap();
            wakers.push(Waker::new(p.as_mut(), WAKER).unwrap());
        }
        let mut run = Run {
            events: backends
                .iter()
                .map(|_| Events::with_capacity(capacity))
                .collect(),
            woken: vec![false; backends.len()],
            backends,
            pollers,
            slots: (0..SLOTS)
                .map(|i| {
                    let kind = if first & (1 << i) != 0 {
                        Kind::Tcp
                    } else {
                        Kind::Unix
                    };
                    let (ours, peer) = pair(kind, high);
                    Slot {
                        kind,
                        ours: Some(ours),
                        peer: Some(peer),
                        reg: None,
                    }
                })
                .collect(),
            next_token: 0,
            log: Vec::new(),
            high,
            stale: Vec::new(),
            timer,
            signals,
            wakers,
        };
        if high {
            // Select refuses what it cannot hold, before any syscall.
            let mut select = Backend::Select.build().unwrap();
            let r = outcome(select.register(live(&run.slots[0]), Token(1), Interest::READABLE));
            if !r.contains("InvalidInput") {
                run.fail(&format!("select registered an fd at or above 1024: {r}"));
            }
        }
        let mut buf = vec![0u8; 100_000];
        for _ in 0..MAX_OPS {
            let Some(op) = next() else { break };
            let arg = next().unwrap_or(0);
            let s = usize::from(arg) % SLOTS;
            let closed = run.slots[s].ours.is_none();
            match op % 16 {
                3 | 12 => run.wait(Some(Duration::ZERO)),
                13 => run.wait(Some(Duration::from_millis(1))),
                14 => run.extra(arg),
                _ if closed => run.log.push(format!("#{s} is closed: op {op} skipped")),
                0 => run.register(s, interest_from(next().unwrap_or(0))),
                1 => {
                    let b = next().unwrap_or(0);
                    run.reregister(s, interest_from(b), b & 0x40 != 0);
                }
                2 => run.deregister(s),
                4 => {
                    let n = [1, 100, 70_000][usize::from(arg >> 2) % 3];
                    let r = run.slots[s]
                        .peer
                        .as_ref()
                        .map(|p| outcome(p.send(&PAYLOAD[..n])));
                    run.log.push(format!("peer of #{s} sends {n}: {r:?}"));
                }
                5 => {
                    let n = [1, 64, 100_000][usize::from(arg >> 2) % 3];
                    let flags = if arg & 0x80 != 0 {
                        MsgFlags::OOB
                    } else {
                        MsgFlags::NONE
                    };
                    let ours = run.slots[s].ours.as_ref().unwrap();
                    let r = outcome(ours.recv_with_flags(&mut buf[..n], flags));
                    run.log.push(format!("#{s} reads {n} ({flags:?}): {r}"));
                }
                6 => {
                    let r = run.slots[s]
                        .peer
                        .as_ref()
                        .map(|p| outcome(p.send_with_flags(b"!", MsgFlags::OOB)));
                    run.log.push(format!("peer of #{s} sends OOB: {r:?}"));
                }
                7 => {
                    let how = [Shutdown::Write, Shutdown::Read, Shutdown::Both]
                        [usize::from(arg >> 2) % 3];
                    let r = if arg & 0x80 != 0 {
                        run.slots[s].ours.as_ref().map(|o| outcome(o.shutdown(how)))
                    } else {
                        run.slots[s].peer.as_ref().map(|p| outcome(p.shutdown(how)))
                    };
                    run.log.push(format!(
                        "#{s} shutdown {how:?} (ours: {}): {r:?}",
                        arg & 0x80 != 0
                    ));
                }
                8 => {
                    let closed = run.slots[s].peer.take().is_some();
                    run.log.push(format!("peer of #{s} closes: {closed}"));
                }
                9 => {
                    let b = next().unwrap_or(0);
                    let kind = if b & 1 != 0 { Kind::Tcp } else { Kind::Unix };
                    let reg = (b & 2 != 0).then(|| interest_from(b >> 2));
                    run.reopen(s, kind, reg);
                }
                10 => {
                    let n = [1, 100, 70_000][usize::from(arg >> 2) % 3];
                    let ours = run.slots[s].ours.as_ref().unwrap();
                    let r = outcome(ours.send(&PAYLOAD[..n]));
                    run.log.push(format!("#{s} sends {n}: {r}"));
                }
                15 => run.close_registered(s),
                _ => {
                    let mut total = 0usize;
                    if let Some(p) = &run.slots[s].peer {
                        for _ in 0..64 {
                            match p.recv(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => total += n,
                            }
                        }
                    }
                    run.log.push(format!("peer of #{s} drains {total}"));
                }
            }
        }
        run.wait(Some(Duration::ZERO));
        for s in 0..SLOTS {
            if run.slots[s].reg.is_some() {
                run.deregister(s);
            }
        }
        for b in 0..run.pollers.len() {
            let p = &mut run.pollers[b];
            let r = [
                outcome(p.deregister(run.timer.as_fd())),
                outcome(p.deregister(run.signals.as_fd())),
                outcome(p.deregister(run.wakers[b].as_fd())),
            ];
            if r.iter().any(|r| !r.starts_with("Ok")) {
                run.fail(&format!(
                    "{}: deregistering the sources: {r:?}",
                    run.backends[b]
                ));
            }
        }
        // One more wait: nothing live is registered, so nothing may come
        // back but the stale tokens of closed fds.
        for b in 0..run.pollers.len() {
            run.pollers[b]
                .wait(&mut run.events[b], Some(Duration::ZERO))
                .unwrap();
            if run.events[b]
                .iter()
                .any(|e| !run.stale.contains(&e.token()))
            {
                run.fail(&format!(
                    "{}: {:?} after every deregister",
                    run.backends[b], run.events[b]
                ));
            }
        }
        // A raised signal stays pending on this thread: take it, so the
        // next input starts from nothing.
        for _ in 0..4 {
            if run.signals.read().is_err() {
                break;
            }
        }
        // Nothing is checked after this point but the fd count.
        for slot in &run.slots {
            slot.reset_on_close();
        }
    }
    assert_eq!(fd_count(), fds_before, "fd count changed over one input");
});
