//! The backends against one another, and against the kernel.
//!
//! The fuzzer's bytes are a program of register, reregister, deregister,
//! wait, peer write, read, out-of-band write, shutdown, peer close, own
//! writes, drains, and deregister-then-close-and-reopen, over a few slots,
//! each a connected pair: a Unix stream socketpair or a TCP connection
//! over 127.0.0.1 (to a listener of this process). Every backend
//! (select, the growable select, poll, epoll) watches the *same* fds, so
//! they see one kernel state, and `Events` has room for every
//! registration. The target requires:
//!
//! - every register/reregister/deregister gives the same outcome on every
//!   backend;
//! - every event carries the token of a live registration: never a token
//!   after its deregister, never an old token after a reregister, never a
//!   second event from a disarmed oneshot registration;
//! - when the kernel state held still over the wait (a reference `poll(2)`
//!   through nix, taken before and after, saw the same), each backend's
//!   shared contract (token, readable, writable, priority) equals the
//!   oracle computed from that reference with the kernel's select mapping;
//!   when it moved (loopback TCP delivers in softirq context, which can
//!   lag), the round proves only the token rules, and every oneshot
//!   registration is re-armed on every backend so they start level again;
//! - `/proc/self/fd` holds as many entries after the input as before.
//!
//! Fuzzer bytes never become an address: the only addresses are the
//! listener's own 127.0.0.1 port, and socketpairs have none.
#![no_main]

use baresock::poll::{Backend, Events, Interest, Poller, Token};
use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, Shutdown, SockAddr, Type};
use libfuzzer_sys::fuzz_target;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsFd;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const SLOTS: usize = 4;
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
        let l = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
        l.bind(&SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)))
            .unwrap();
        l.listen(64).unwrap();
        let a = l.local_addr().unwrap();
        (l, a)
    })
}

fn pair(kind: Kind) -> (OwnedSocket, OwnedSocket) {
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
    ours: OwnedSocket,
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
            for s in std::iter::once(&self.ours).chain(&self.peer) {
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

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The kernel's readiness of each slot's socket, as a zero-timeout
/// `poll(2)` through nix (independent of baresock) reports it.
fn reference(slots: &[Slot]) -> Vec<PollFlags> {
    let ask = PollFlags::POLLIN
        | PollFlags::POLLPRI
        | PollFlags::POLLOUT
        | PollFlags::POLLRDNORM
        | PollFlags::POLLRDBAND
        | PollFlags::POLLWRNORM
        | PollFlags::POLLWRBAND;
    let mut fds: Vec<PollFd<'_>> = slots
        .iter()
        .map(|s| PollFd::new(s.ours.as_fd(), ask))
        .collect();
    poll(&mut fds, PollTimeout::ZERO).unwrap();
    fds.iter().map(|f| f.revents().unwrap()).collect()
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
    pollers: Vec<Box<dyn Poller>>,
    events: Vec<Events>,
    slots: Vec<Slot>,
    next_token: usize,
    log: Vec<String>,
}

impl Run {
    fn fail(&self, what: &str) -> ! {
        let tail = self.log[self.log.len().saturating_sub(20)..].join("\n  ");
        let kinds: Vec<Kind> = self.slots.iter().map(|s| s.kind).collect();
        panic!("{what}\nslots: {kinds:?}\nlast steps:\n  {tail}");
    }

    fn fresh_token(&mut self) -> Token {
        self.next_token += 1;
        Token(self.next_token)
    }

    /// Runs `f` on every backend for slot `s`; the results must agree.
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
            let per: Vec<String> = BACKENDS
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
            outcome(p.register(slot.ours.as_fd(), token, interest))
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
            outcome(p.reregister(slot.ours.as_fd(), token, interest))
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
        let r = self.all(s, &what, |p, slot| outcome(p.deregister(slot.ours.as_fd())));
        self.log.push(format!("{what} -> {r}"));
        let registered = self.slots[s].reg.is_some();
        if r.starts_with("Ok") != registered || !(registered || r.contains("NotFound")) {
            self.fail(&format!("deregister gave {r} on {:?}", self.slots[s].reg));
        }
        self.slots[s].reg = None;
    }

    fn wait(&mut self) {
        let before = reference(&self.slots);
        let mut seen: Vec<BTreeSet<Shared>> = Vec::new();
        let mut armed_before = Vec::new();
        for b in 0..BACKENDS.len() {
            armed_before.push(
                self.slots
                    .iter()
                    .map(|s| s.reg.map(|r| r.armed[b]))
                    .collect::<Vec<_>>(),
            );
            let n = match self.pollers[b].wait(&mut self.events[b], Some(Duration::ZERO)) {
                Ok(n) => n,
                Err(e) => self.fail(&format!("{}: wait failed: {e}", BACKENDS[b])),
            };
            assert_eq!(n, self.events[b].len());
            let mut set = BTreeSet::new();
            for e in self.events[b].iter() {
                let Some(s) = self
                    .slots
                    .iter()
                    .position(|s| s.reg.is_some_and(|r| r.token == e.token()))
                else {
                    self.fail(&format!(
                        "{}: event {e:?} for a token with no live registration",
                        BACKENDS[b]
                    ));
                };
                let reg = self.slots[s].reg.as_mut().unwrap();
                if reg.interest.is_oneshot() {
                    if !reg.armed[b] {
                        self.fail(&format!(
                            "{}: event {e:?} from a disarmed oneshot registration",
                            BACKENDS[b]
                        ));
                    }
                    reg.armed[b] = false;
                }
                if !set.insert((
                    e.token().0,
                    e.is_readable(),
                    e.is_writable(),
                    e.is_priority(),
                )) {
                    self.fail(&format!(
                        "{}: {e:?} reported twice in one wait",
                        BACKENDS[b]
                    ));
                }
            }
            seen.push(set);
        }
        let after = reference(&self.slots);
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
        for b in 0..BACKENDS.len() {
            // The oracle uses the arming state from before this wait.
            let want: BTreeSet<Shared> = self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(i, slot)| {
                    let armed = armed_before[b][i].unwrap_or(false);
                    expected(slot.reg, armed, before[i])
                })
                .collect();
            if seen[b] != want {
                self.fail(&format!(
                    "{}: wait saw {:?}, the kernel's readiness {before:?} means {want:?}",
                    BACKENDS[b], seen[b]
                ));
            }
        }
        count(&PROVED);
        self.log.push(format!("wait -> {:?}", seen[0]));
    }

    fn reopen(&mut self, s: usize, kind: Kind, register: Option<Interest>) {
        if self.slots[s].reg.is_some() {
            self.deregister(s);
        }
        self.slots[s].reset_on_close();
        let (ours, peer) = pair(kind);
        // The old pair closes here, after its deregistration; the new one
        // often gets the same numbers.
        self.slots[s] = Slot {
            kind,
            ours,
            peer: Some(peer),
            reg: None,
        };
        self.log.push(format!("reopen #{s} as {kind:?}"));
        if let Some(i) = register {
            self.register(s, i);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = listener();
    let fds_before = fd_count();
    {
        let mut bytes = data.iter().copied();
        let mut next = move || bytes.next();
        let kinds = next().unwrap_or(0);
        let mut run = Run {
            pollers: BACKENDS.iter().map(|b| b.build().unwrap()).collect(),
            events: BACKENDS
                .iter()
                .map(|_| Events::with_capacity(SLOTS))
                .collect(),
            slots: (0..SLOTS)
                .map(|i| {
                    let kind = if kinds & (1 << i) != 0 {
                        Kind::Tcp
                    } else {
                        Kind::Unix
                    };
                    let (ours, peer) = pair(kind);
                    Slot {
                        kind,
                        ours,
                        peer: Some(peer),
                        reg: None,
                    }
                })
                .collect(),
            next_token: 0,
            log: Vec::new(),
        };
        let mut buf = vec![0u8; 100_000];
        for _ in 0..MAX_OPS {
            let Some(op) = next() else { break };
            let arg = next().unwrap_or(0);
            let s = usize::from(arg) % SLOTS;
            match op % 16 {
                0 => run.register(s, interest_from(next().unwrap_or(0))),
                1 => {
                    let b = next().unwrap_or(0);
                    run.reregister(s, interest_from(b), b & 0x40 != 0);
                }
                2 => run.deregister(s),
                3 | 12 | 13 | 14 => run.wait(),
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
                    let r = outcome(run.slots[s].ours.recv_with_flags(&mut buf[..n], flags));
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
                        Some(outcome(run.slots[s].ours.shutdown(how)))
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
                9 | 15 => {
                    let b = next().unwrap_or(0);
                    let kind = if b & 1 != 0 { Kind::Tcp } else { Kind::Unix };
                    let reg = (b & 2 != 0).then(|| interest_from(b >> 2));
                    run.reopen(s, kind, reg);
                }
                10 => {
                    let n = [1, 100, 70_000][usize::from(arg >> 2) % 3];
                    let r = outcome(run.slots[s].ours.send(&PAYLOAD[..n]));
                    run.log.push(format!("#{s} sends {n}: {r}"));
                }
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
        run.wait();
        for s in 0..SLOTS {
            if run.slots[s].reg.is_some() {
                run.deregister(s);
            }
        }
        // One more wait: nothing is registered, so nothing may come back.
        for b in 0..BACKENDS.len() {
            let n = run.pollers[b]
                .wait(&mut run.events[b], Some(Duration::ZERO))
                .unwrap();
            if n != 0 {
                run.fail(&format!(
                    "{}: {:?} after every deregister",
                    BACKENDS[b], run.events[b]
                ));
            }
        }
        // Nothing is checked after this point but the fd count.
        for slot in &run.slots {
            slot.reset_on_close();
        }
    }
    assert_eq!(fd_count(), fds_before, "fd count changed over one input");
});
