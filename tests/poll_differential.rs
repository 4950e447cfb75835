//! Seeded differential test: random sequences of register, reregister,
//! deregister, peer writes (normal and out-of-band), reads, shutdowns,
//! closes and waits, run against all four backends side by side. Each
//! backend has its own Unix stream socketpairs, driven identically, so the
//! kernel state is the same for all; the shared contract (token, readable,
//! writable, priority) must agree at every wait, and every operation's
//! result must agree too. A failure prints the seed that replays it.
//!
//! Size it with environment variables (defaults are modest):
//! `BARESOCK_DIFF_SEQS` sequences of `BARESOCK_DIFF_OPS` operations each,
//! from `BARESOCK_DIFF_SEED` on.

mod common;

use baresock::poll::{Backend, Events, Interest, Poller, Token};
use baresock::{MsgFlags, OwnedSocket, Shutdown};
use common::*;
use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

const SLOTS: usize = 6;

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
}

fn run_sequence(seed: u64, ops: u64, totals: &mut Totals) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let mut pollers: Vec<Box<dyn Poller>> = Backend::ALL.iter().map(|b| build(*b)).collect();
    let mut events: Vec<Events> = Backend::ALL
        .iter()
        .map(|_| Events::with_capacity(SLOTS + 2))
        .collect();
    let mut slots: Vec<Slot> = (0..SLOTS).map(|_| new_slot()).collect();
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
                .map(|b| outcome(pollers[b].register(slots[s].sides[b].ours.as_fd(), t, i)))
                .collect();
            slots[s].registered |= results[0].starts_with("Ok");
        } else if choice < 24 {
            let (t, i) = (Token(rng.below(4)), random_interest(&mut rng));
            what = format!("reregister slot {s} {t:?} {i:?}");
            results = (0..pollers.len())
                .map(|b| outcome(pollers[b].reregister(slots[s].sides[b].ours.as_fd(), t, i)))
                .collect();
        } else if choice < 30 {
            what = format!("deregister slot {s}");
            results = (0..pollers.len())
                .map(|b| outcome(pollers[b].deregister(slots[s].sides[b].ours.as_fd())))
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
        } else {
            what = "wait".into();
            totals.waits += 1;
            results = (0..pollers.len())
                .map(|b| {
                    let r = pollers[b].wait(&mut events[b], Some(Duration::ZERO));
                    let mut seen: Vec<Shared> = events[b].iter().map(shared).collect();
                    seen.sort();
                    totals.events += seen.len() as u64;
                    format!("{} {seen:?}", outcome(r))
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
        "differential: {seqs} sequences x {ops} ops ({} ops, {} waits compared, {} events agreed) on {} backends",
        totals.ops,
        totals.waits,
        totals.events,
        Backend::ALL.len()
    );
}
