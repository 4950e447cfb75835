//! The control-message walker on hostile bytes, against an independent
//! decoder (fuzz/oracle: cmsg(3) framing and the C structs read whole):
//! every item, framing error and payload must be the oracle's, in order.
//! Then the walk that hands out passed fds (`take_fd_number`, the pure
//! half of `Control::take_fds`) must take exactly the oracle's
//! non-negative SCM_RIGHTS numbers, in order, each once, and change only
//! their slots (to -1). Fd numbers stay numbers: nothing is adopted or
//! closed.
#![no_main]

#[path = "../oracle/mod.rs"]
mod oracle;

use baresock::msg::{parse, take_fd_number};
use libfuzzer_sys::fuzz_target;
use oracle::Want;

fuzz_target!(|data: &[u8]| {
    let got: Vec<Want<'_>> = parse(data)
        .take(data.len() + 1)
        .map(Want::from_crate)
        .collect();
    assert_eq!(got, oracle::cmsgs(data));

    let slots = oracle::fd_slots(data);
    let live: Vec<(usize, i32)> = slots
        .iter()
        .map(|&s| (s, i32::from_ne_bytes(oracle::read(&data[s..]))))
        .filter(|&(_, fd)| fd >= 0)
        .collect();
    let mut bytes = data.to_vec();
    let taken: Vec<i32> = std::iter::from_fn(|| take_fd_number(&mut bytes))
        .take(live.len() + 1)
        .collect();
    assert_eq!(taken, live.iter().map(|&(_, fd)| fd).collect::<Vec<_>>());
    let mut want = data.to_vec();
    for &(s, _) in &live {
        want[s..s + 4].copy_from_slice(&(-1i32).to_ne_bytes());
    }
    assert_eq!(bytes, want);
});
