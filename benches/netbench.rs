//! netbench: baresock side by side with a raw-libc floor, mio, polling,
//! socket2 and std, as ratios measured in one run.
//!
//! Run it with `scripts/bench.sh` (which regenerates BENCHMARKS.md), or
//! `cargo bench --bench netbench -- --help` for the options.
//!
//! How it measures:
//! - Every contender runs in a child process of its own: this binary
//!   re-executed as `netbench --child WORKLOAD CONTENDER key=value...`,
//!   which prints one `RESULT key=value...` line.
//! - Rounds alternate the contenders, the start rotated each round; the
//!   report gives the median, min and max over rounds, and the median of
//!   the per-round ratios to the floor (the same loop written on libc
//!   calls, in `floor.rs`).
//! - Counts that do not depend on the machine's noise: syscalls per
//!   operation from the crate's `stats` feature (a second build of this
//!   binary, `--count-exe`), cross-checked with `strace -c -f` differenced
//!   between two run lengths; heap allocations per operation from the
//!   counting allocator below; user-space instructions per operation from
//!   `valgrind --tool=callgrind`, differenced the same way.
// The floor calls libc directly and the counting allocator implements
// GlobalAlloc: both need unsafe, each block with its SAFETY comment.
#![allow(unsafe_code)]

#[path = "netbench/balance.rs"]
mod balance;
#[path = "netbench/blocking.rs"]
mod blocking;
#[path = "netbench/c10k.rs"]
mod c10k;
#[path = "netbench/churn.rs"]
mod churn;
#[path = "netbench/floor.rs"]
mod floor;
#[path = "netbench/harness.rs"]
mod harness;
#[path = "netbench/parent.rs"]
mod parent;
#[path = "netbench/pingpong.rs"]
mod pingpong;
#[path = "netbench/register.rs"]
mod register;
#[path = "netbench/report.rs"]
mod report;
#[path = "netbench/sections/mod.rs"]
mod sections;
#[path = "netbench/svg.rs"]
mod svg;
#[path = "netbench/udp.rs"]
mod udp;
#[path = "netbench/waitcost.rs"]
mod waitcost;
#[path = "netbench/wake.rs"]
mod wake;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Counts every allocation of the process and the bytes live on the heap.
/// Both counters always run (two relaxed atomics per call), so a delta
/// across any stretch of code is exact.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

/// (allocations so far, live heap bytes now).
pub fn heap_counts() -> (u64, i64) {
    (
        ALLOCATIONS.load(Ordering::Relaxed),
        LIVE_BYTES.load(Ordering::Relaxed),
    )
}

// SAFETY: every method forwards to the System allocator with the caller's
// arguments unchanged, so System's guarantees carry over; counting touches
// only two atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds alloc's contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds the contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; ptr came from this allocator, which
        // is System underneath.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; ptr came from System.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        harness::child_main(&args[1..]);
    } else {
        parent::main(&args);
    }
}
