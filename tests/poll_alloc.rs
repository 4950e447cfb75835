//! Zero allocations on the hot path: after warm-up, `wait`, a `recv` and
//! a `send` on a registered socket, and a waker's wake, allocate nothing,
//! on every backend. A binary of its own: it installs a counting global
//! allocator (process-wide state). It counts only the allocations of the
//! thread that switched counting on, so the harness's threads do not
//! disturb it.
// The GlobalAlloc impl is the one unsafe thing here.
#![allow(unsafe_code)]

mod common;

use baresock::poll::{Backend, Events, Interest, Token, Waker};
use common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    // try_with: a thread being torn down may still allocate.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to the System allocator with the caller's
// arguments unchanged, so System's guarantees carry over; counting touches
// only an atomic and a const thread-local that never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded unchanged; the caller upholds alloc's contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded unchanged; the caller upholds the contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: forwarded unchanged; ptr came from this allocator, which
        // is System underneath.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; ptr came from System.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` with counting on; returns how many allocations it made.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn hot_path_allocates_nothing_on_any_backend() {
    // The counter itself works: a Vec allocates.
    assert_eq!(allocations(|| drop(std::hint::black_box(vec![1u8; 16]))), 1);

    for b in Backend::ALL {
        let mut p = build(b);
        let mut ev = Events::with_capacity(16);
        let waker = Waker::new(&mut *p, Token(99)).unwrap();
        let (ours, peer) = tcp_pair();
        // Other registrations, so the scans have something to walk.
        let idle: Vec<_> = (0..8).map(|_| unix_pair()).collect();
        for (i, (s, _)) in idle.iter().enumerate() {
            p.register(s.as_fd(), Token(100 + i), Interest::READABLE)
                .unwrap();
        }
        p.register(ours.as_fd(), Token(1), Interest::READABLE)
            .unwrap();
        peer.set_nonblocking(false).unwrap();
        let mut buf = [0u8; 256];
        let mut round = |p: &mut Box<dyn baresock::poll::Poller>, ev: &mut Events| {
            peer.send(b"ping").unwrap();
            assert_eq!(p.wait(ev, None).unwrap(), 1);
            let n = ours.recv(&mut buf).unwrap();
            ours.send(&buf[..n]).unwrap();
            assert_eq!(peer.recv(&mut buf).unwrap(), n);
            waker.wake().unwrap();
            assert_eq!(p.wait(ev, None).unwrap(), 1);
            p.wait(ev, Some(std::time::Duration::ZERO)).unwrap();
        };
        for _ in 0..10 {
            round(&mut p, &mut ev);
        }
        let n = allocations(|| {
            for _ in 0..100 {
                round(&mut p, &mut ev);
            }
        });
        assert_eq!(n, 0, "{b}: {n} allocations on the hot path");
    }
}
