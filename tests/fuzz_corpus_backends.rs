//! Replays the `backends_differential` fuzz corpus through the target's
//! body (see tests/fuzz_corpora.rs for how), in a process of its own: the
//! target raises RLIMIT_NOFILE, blocks signals and compares the fd table
//! before and after each input, which other tests' threads would disturb.

#![allow(unsafe_code)]

extern crate self as libfuzzer_sys;

#[allow(unused_attributes)] // the target's #![no_main]
#[path = "../fuzz/fuzz_targets/backends_differential.rs"]
mod backends_differential;

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: pselect6 with an fd at or above 1024 aborts qemu (its fd_set is fixed-size)"
)]
fn backends_differential() {
    fuzz_replay::replay("backends_differential", backends_differential::run);
}

// After the target: see fuzz_replay's macro.
mod fuzz_replay;
