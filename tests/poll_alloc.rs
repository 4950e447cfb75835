//! Zero allocations on the hot path: after warm-up, `wait`, a `recv` and
//! a `send` on a registered socket, and a waker's wake, allocate nothing,
//! on every backend. A binary of its own: it installs a counting global
//! allocator (process-wide state). It counts only the allocations of the
//! thread that switched counting on, so the harness's threads do not
//! disturb it. It also keeps the net bytes that thread allocated, to show
//! that epoll's table stays bounded when registered fds are closed
//! without deregistering.
// The GlobalAlloc impl is the one unsafe thing here.
#![allow(unsafe_code)]

mod common;

use baresock::poll::{Backend, Events, Interest, Token, Waker};
use common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// Bytes allocated minus bytes freed by the counting thread.
static NET_BYTES: AtomicI64 = AtomicI64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn counting() -> bool {
    // try_with: a thread being torn down may still allocate.
    COUNTING.try_with(Cell::get).unwrap_or(false)
}

/// An allocation of `grown` more bytes (negative when freed).
fn note(grown: i64) {
    if counting() {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        NET_BYTES.fetch_add(grown, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to the System allocator with the caller's
// arguments unchanged, so System's guarantees carry over; counting touches
// only an atomic and a const thread-local that never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as i64);
        // SAFETY: forwarded unchanged; the caller upholds alloc's contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as i64);
        // SAFETY: forwarded unchanged; the caller upholds the contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size as i64 - layout.size() as i64);
        // SAFETY: forwarded unchanged; ptr came from this allocator, which
        // is System underneath.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if counting() {
            NET_BYTES.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged; ptr came from System.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Held by each test: one depends on the kernel reusing fd numbers, so no
/// other test may open fds meanwhile.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f` with counting on; returns how many allocations it made.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

/// Runs `f` with counting on; returns the bytes it left allocated.
fn heap_growth(f: impl FnOnce()) -> i64 {
    let before = NET_BYTES.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    NET_BYTES.load(Ordering::Relaxed) - before
}

#[test]
fn hot_path_allocates_nothing_on_any_backend() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
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

/// A daemon that drops registered sockets without deregistering (a caller
/// bug, as mio users do harmlessly) must not grow: epoll frees a closed
/// fd's slot when its number is registered again. 50,000 connections,
/// each registered and then closed without deregistering, the kernel
/// reusing the numbers: the heap must not grow with the count (before the
/// fix each left a slot behind, about 1.6 MB in all). The other backends
/// refuse the reused number (`EEXIST`), so they keep nothing either.
#[test]
fn forgotten_registrations_do_not_grow_the_heap() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const CYCLES: usize = 50_000;
    for b in Backend::ALL {
        let mut p = build(b);
        let cycle = |p: &mut Box<dyn baresock::poll::Poller>, i: usize| {
            let (ours, peer) = unix_pair();
            let r = p.register(ours.as_fd(), Token(i), Interest::READABLE);
            if b == Backend::Epoll || i == 0 {
                r.unwrap();
            } else {
                assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
            }
            // Closed while registered.
            drop((ours, peer));
        };
        cycle(&mut p, 0);
        // The others only refuse the number: fewer rounds show it.
        let cycles = if b == Backend::Epoll {
            CYCLES
        } else {
            CYCLES / 10
        };
        let grown = heap_growth(|| {
            for i in 1..=cycles {
                cycle(&mut p, i);
            }
        });
        println!("{b}: heap grew {grown} bytes over {cycles} forgotten registrations");
        assert!(
            grown < 4096,
            "{b}: heap grew {grown} bytes over {cycles} forgotten registrations"
        );
        // The last closed number is still held (no syscall can tell it
        // was closed) until registered again.
        assert!(format!("{p:?}").contains("registered: 1"), "{p:?}");
    }
}
