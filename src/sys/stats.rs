//! Thread-local syscall counters (feature `stats`).
//!
//! Every wrapper in the syscall layer counts itself here before it enters
//! the kernel, so a test or a benchmark can say exactly how many syscalls
//! of each kind an operation made, with no noise from the machine. The
//! counters are per thread: tests running in parallel do not disturb each
//! other.

use super::Syscall;
use std::cell::Cell;
use std::time::Duration;

thread_local! {
    static COUNTS: [Cell<u64>; Syscall::COUNT] = const { [const { Cell::new(0) }; Syscall::COUNT] };
    static LAST_TIMEOUT: Cell<Option<Option<Duration>>> = const { Cell::new(None) };
}

pub(crate) fn record(call: Syscall) {
    COUNTS.with(|c| {
        let cell = &c[call as usize];
        cell.set(cell.get() + 1);
    });
}

pub(crate) fn record_timeout(timeout: Option<Duration>) {
    LAST_TIMEOUT.with(|t| t.set(Some(timeout)));
}

/// How many times this thread has made `call` through the crate.
pub fn count(call: Syscall) -> u64 {
    COUNTS.with(|c| c[call as usize].get())
}

/// The total number of syscalls this thread has made through the crate.
pub fn total() -> u64 {
    COUNTS.with(|c| c.iter().map(Cell::get).sum())
}

/// A copy of every counter of this thread, indexed by `Syscall as usize`.
pub fn snapshot() -> [u64; Syscall::COUNT] {
    COUNTS.with(|c| std::array::from_fn(|i| c[i].get()))
}

/// Sets every counter of this thread to zero and forgets the last timeout.
pub fn reset() {
    COUNTS.with(|c| c.iter().for_each(|cell| cell.set(0)));
    LAST_TIMEOUT.with(|t| t.set(None));
}

/// The timeout the last wait syscall of this thread handed to the kernel,
/// as the kernel received it (after rounding): `Some(None)` for "block",
/// `None` if no wait has run since the last [`reset`].
pub fn last_timeout() -> Option<Option<Duration>> {
    LAST_TIMEOUT.with(Cell::get)
}
