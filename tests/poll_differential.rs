//! Seeded differential test: random sequences of register, reregister,
//! deregister, peer writes (normal and out-of-band), reads, shutdowns,
//! closes, registered fds closed without deregistering, and waits, run
//! against all four backends side by side. Each backend has its own Unix
//! stream socketpairs, driven identically, so the kernel state is the same
//! for all; the shared contract (token, readable, writable, priority) must
//! agree at every wait, and every operation's result must agree too. A
//! failure prints the seed that replays it.
//!
//! A registered fd closed without deregistering (a caller bug) is first
//! given a token of its own (from `DEAD` up), and its events are left out
//! of the comparison: each backend has its own documented outcome for it.
//! The backends are compared on the fds that stay live. Its number, once
//! the kernel hands it to a new socket of the same backend, is compared by
//! the contract: register is `EEXIST` on poll and select (they still hold
//! the number) and accepted by epoll; reregister and deregister succeed on
//! poll and select (they act on the number) and are `ENOENT` on epoll. The
//! test then brings the backends back in line (a reregister or deregister
//! on poll and select) and goes on.
//!
//! `Events` is sometimes smaller than what may be ready (by seed: capacity
//! 2, 4, or enough for every registration). A wait is then compared across
//! consecutive waits, not one by one: in level mode every ready fd is
//! reported within ceil(ready / capacity) waits, so each backend waits
//! ceil(registrations / capacity) times in a row, with nothing in between,
//! and the union of what they reported for live fds must agree.
//!
//! Size it with environment variables (defaults are modest):
//! `BARESOCK_DIFF_SEQS` sequences of `BARESOCK_DIFF_OPS` operations each,
//! from `BARESOCK_DIFF_SEED` on.

mod common;

use baresock::poll::{Backend, Events, Interest, Poller, Token};
use baresock::{MsgFlags, OwnedSocket, Shutdown};
use common::*;
use std::collections::BTreeSet;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Duration;

const SLOTS: usize = 6;

/// Tokens from here up name registrations whose fd was closed without
/// deregistering; live registrations use tokens below 4.
const DEAD: usize = 1000;

fn env_or(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// One backend's view of a slot: our socket and its peer (None once the
/// peer is closed).
struct Side {
    ours: OwnedSocket,
    peer: Option<OwnedSocket>,
}

struct Slot {
    sides: Vec<Side>,
    registered: bool,
}

fn new_slot() -> Slot {
    Slot {
        sides: Backend::ALL
            .iter()
            .map(|_| {
                let (ours, peer) = unix_pair();
                Side {
                    ours,
                    peer: Some(peer),
                }
            })
            .collect(),
        registered: false,
    }
}

fn random_interest(rng: &mut Rng) -> Interest {
    let mut i = match rng.below(3) {
        0 => Interest::READABLE,
        1 => Interest::WRITABLE,
        _ => Interest::PRIORITY,
    };
    for extra in [Interest::READABLE, Interest::WRITABLE, Interest::PRIORITY] {
        if rng.chance(30) {
            i |= extra;
        }
    }
    if rng.chance(40) { i.oneshot() } else { i }
}

/// An operation's result, reduced to what must agree across backends.
fn outcome<T: std::fmt::Debug>(r: io::Result<T>) -> String {
    match r {
        Ok(v) => format!("Ok({v:?})"),
        Err(e) => format!("Err({:?}, {:?})", e.kind(), e.raw_os_error()),
    }
}

#[derive(Default)]
struct Totals {
    ops: u64,
    waits: u64,
    events: u64,
    closed_registered: u64,
    reused_numbers: u64,
    multi_waits: u64,
}

fn is_epoll(b: usize) -> bool {
    Backend::ALL[b] == Backend::Epoll
}

/// Checks an op on a number that backend `b` holds for a closed fd, the
/// kernel having reused the number for this slot's socket (which `b` has
/// not registered), against the contract: `expect_poll_select` on poll
/// and select, `expect_epoll` on epoll. As the contract says, the result
/// becomes `fresh`, what the op gives on a number nobody holds (the other
/// backends' sockets have other numbers, which none of them may hold);
/// anything else is marked, to disagree.
fn by_contract(
    b: usize,
    r: String,
    expect_poll_select: &str,
    expect_epoll: &str,
    fresh: &str,
) -> String {
    let want = if is_epoll(b) {
        expect_epoll
    } else {
        expect_poll_select
    };
    if r == want {
        fresh.to_owned()
    } else {
        format!("{r} on a held number, where the contract says {want}")
    }
}

const OK: &str = "Ok(())";
const EEXIST: &str = "Err(AlreadyExists, Some(17))";
const ENOENT: &str = "Err(NotFound, Some(2))";

fn run_sequence(seed: u64, ops: u64, totals: &mut Totals) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let mut pollers: Vec<Box<dyn Poller>> = Backend::ALL.iter().map(|b| build(*b)).collect();
    // By seed, so the op stream of a seed does not depend on it.
    let capacity = [2, 4, 4 * SLOTS][(seed % 3) as usize];
    let mut events: Vec<Events> = Backend::ALL
        .iter()
        .map(|_| Events::with_capacity(capacity))
        .collect();
    let mut slots: Vec<Slot> = (0..SLOTS).map(|_| new_slot()).collect();
    // Per backend: the numbers it holds for fds closed while registered.
    let mut stale: Vec<BTreeSet<RawFd>> = Backend::ALL.iter().map(|_| BTreeSet::new()).collect();
    let mut next_dead = DEAD;
    let mut log = Vec::new();

    for step in 0..ops {
        let s = rng.below(SLOTS);
        let choice = rng.below(100);
        let results: Vec<String>;
        let what: String;
        if choice < 12 {
            let (t, i) = (Token(rng.below(4)), random_interest(&mut rng));
            what = format!("register slot {s} {t:?} {i:?}");
            results = (0..pollers.len())
                .map(|b| {
                    let fd = slots[s].sides[b].ours.as_fd();
                    let r = outcome(pollers[b].register(fd, t, i));
                    if !stale[b].remove(&fd.as_raw_fd()) {
                        return r;
                    }
                    totals.reused_numbers += 1;
                    let r = by_contract(b, r, EEXIST, OK, OK);
                    if !is_epoll(b) {
                        // In line with epoll: the held number, now this
                        // socket, gets the token and interest asked for.
                        pollers[b].reregister(fd, t, i).unwrap();
                    }
                    r
                })
                .collect();
            slots[s].registered |= results[0].starts_with("Ok");
        } else if choice < 24 {
            let (t, i) = (Token(rng.below(4)), random_interest(&mut rng));
            what = format!("reregister slot {s} {t:?} {i:?}");
            results = (0..pollers.len())
                .map(|b| {
                    let fd = slots[s].sides[b].ours.as_fd();
                    let r = outcome(pollers[b].reregister(fd, t, i));
                    if !stale[b].remove(&fd.as_raw_fd()) {
                        return r;
                    }
                    totals.reused_numbers += 1;
                    let r = by_contract(b, r, OK, ENOENT, ENOENT);
                    if !is_epoll(b) {
                        // In line with epoll, which no longer holds it.
                        pollers[b].deregister(fd).unwrap();
                    }
                    r
                })
                .collect();
        } else if choice < 30 {
            what = format!("deregister slot {s}");
            results = (0..pollers.len())
                .map(|b| {
                    let fd = slots[s].sides[b].ours.as_fd();
                    let r = outcome(pollers[b].deregister(fd));
                    if !stale[b].remove(&fd.as_raw_fd()) {
                        return r;
                    }
                    totals.reused_numbers += 1;
                    by_contract(b, r, OK, ENOENT, ENOENT)
                })
                .collect();
            slots[s].registered = false;
        } else if choice < 45 {
            let n = [1, 100, 70_000][rng.below(3)];
            what = format!("peer of slot {s} sends {n} bytes");
            let buf = vec![7u8; n];
            results = slots[s]
                .sides
                .iter()
                .map(|side| match &side.peer {
                    Some(p) => outcome(p.send(&buf)),
                    None => "closed".into(),
                })
                .collect();
        } else if choice < 50 {
            what = format!("peer of slot {s} sends one byte out of band");
            results = slots[s]
                .sides
                .iter()
                .map(|side| match &side.peer {
                    Some(p) => outcome(p.send_with_flags(b"!", MsgFlags::OOB)),
                    None => "closed".into(),
                })
                .collect();
        } else if choice < 62 {
            let n = [1, 64, 100_000][rng.below(3)];
            let oob = rng.chance(10);
            what = format!("slot {s} reads {n} bytes (oob: {oob})");
            let mut buf = vec![0u8; n];
            let flags = if oob { MsgFlags::OOB } else { MsgFlags::NONE };
            results = slots[s]
                .sides
                .iter()
                .map(|side| outcome(side.ours.recv_with_flags(&mut buf, flags)))
                .collect();
        } else if choice < 65 {
            what = format!("peer of slot {s} reads everything");
            results = slots[s]
                .sides
                .iter()
                .map(|side| match &side.peer {
                    Some(p) => format!("{}", drain(p)),
                    None => "closed".into(),
                })
                .collect();
        } else if choice < 69 {
            let how = [Shutdown::Write, Shutdown::Read, Shutdown::Both][rng.below(3)];
            let peer_side = rng.chance(70);
            what = format!(
                "slot {s} shutdown({how:?}) on the {}",
                if peer_side { "peer" } else { "ours" }
            );
            results = slots[s]
                .sides
                .iter()
                .map(|side| {
                    if peer_side {
                        match &side.peer {
                            Some(p) => outcome(p.shutdown(how)),
                            None => "closed".into(),
                        }
                    } else {
                        outcome(side.ours.shutdown(how))
                    }
                })
                .collect();
        } else if choice < 72 {
            what = format!("peer of slot {s} closes");
            results = slots[s]
                .sides
                .iter_mut()
                .map(|side| format!("{}", side.peer.take().is_some()))
                .collect();
        } else if choice < 74 {
            // A fresh connection in the slot; deregister before close.
            what = format!("slot {s} replaced by a fresh pair");
            if slots[s].registered {
                for (b, p) in pollers.iter_mut().enumerate() {
                    p.deregister(slots[s].sides[b].ours.as_fd()).unwrap();
                }
            }
            slots[s] = new_slot();
            results = vec!["done".into(); pollers.len()];
        } else if choice < 77 {
            // Closed without deregistering: the caller bug. A token of its
            // own first, so its events can be told from the live ones.
            let registered = slots[s].registered;
            what = format!("slot {s} closed (registered: {registered}) and replaced");
            if registered {
                let dead = Token(next_dead);
                next_dead += 1;
                totals.closed_registered += 1;
                for (b, p) in pollers.iter_mut().enumerate() {
                    let fd = slots[s].sides[b].ours.as_fd();
                    p.reregister(fd, dead, Interest::READABLE).unwrap();
                    stale[b].insert(fd.as_raw_fd());
                }
            }
            // Closed before the fresh pair is made, so the kernel hands
            // the numbers out again at once.
            drop(std::mem::take(&mut slots[s].sides));
            slots[s] = new_slot();
            results = vec!["done".into(); pollers.len()];
        } else {
            // Anything registered may be ready: that many events, in waits
            // of `capacity`, with nothing in between.
            let registered = slots.iter().filter(|s| s.registered).count()
                + stale.iter().map(BTreeSet::len).max().unwrap_or(0);
            let waits = registered.div_ceil(capacity).max(1);
            what = format!("{waits} wait(s)");
            totals.waits += 1;
            if waits > 1 {
                totals.multi_waits += 1;
            }
            results = (0..pollers.len())
                .map(|b| {
                    let mut seen = BTreeSet::new();
                    for _ in 0..waits {
                        let r = pollers[b].wait(&mut events[b], Some(Duration::ZERO));
                        if let Err(e) = r {
                            return format!("wait failed: {}", outcome::<()>(Err(e)));
                        }
                        seen.extend(events[b].iter().map(shared).filter(|e| e.0 < DEAD));
                    }
                    totals.events += seen.len() as u64;
                    format!("{seen:?}")
                })
                .collect();
        }
        totals.ops += 1;
        log.push(format!("{step}: {what} -> {}", results[0]));
        if results.iter().any(|r| r != &results[0]) {
            let per: Vec<String> = Backend::ALL
                .iter()
                .zip(&results)
                .map(|(b, r)| format!("  {b}: {r}"))
                .collect();
            let tail = log[log.len().saturating_sub(15)..].join("\n  ");
            return Err(format!(
                "seed {seed}: backends disagree at step {step} ({what}):\n{}\nlast steps:\n  {tail}",
                per.join("\n")
            ));
        }
    }
    // Deregister before the sockets close.
    for slot in &slots {
        if slot.registered {
            for (b, p) in pollers.iter_mut().enumerate() {
                p.deregister(slot.sides[b].ours.as_fd()).unwrap();
            }
        }
    }
    Ok(())
}

#[test]
fn backends_agree_on_random_sequences() {
    let seqs = env_or("BARESOCK_DIFF_SEQS", 40);
    let ops = env_or("BARESOCK_DIFF_OPS", 300);
    let base = env_or("BARESOCK_DIFF_SEED", 0xba5e_50c4);
    let mut totals = Totals::default();
    for k in 0..seqs {
        let seed = base.wrapping_add(k);
        if let Err(msg) = run_sequence(seed, ops, &mut totals) {
            panic!(
                "{msg}\nreplay: BARESOCK_DIFF_SEED={seed} BARESOCK_DIFF_SEQS=1 BARESOCK_DIFF_OPS={ops} cargo test --test poll_differential"
            );
        }
    }
    println!(
        "differential: {seqs} sequences x {ops} ops ({} ops, {} waits compared, {} of them across \
         consecutive waits, {} events agreed; {} registered fds closed, {} reused numbers \
         compared by the contract) on {} backends",
        totals.ops,
        totals.waits,
        totals.multi_waits,
        totals.events,
        totals.closed_registered,
        totals.reused_numbers,
        Backend::ALL.len()
    );
}
