//! The control-message walker on hostile bytes: no panic, no read past the
//! buffer (ASan and the bounds checks catch one), a clean stop on bad
//! framing. The parser yields fd numbers, never owned fds, so nothing real
//! is ever closed.
#![no_main]

use baresock::msg::{Cmsg, CmsgError, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut after_stop = false;
    for item in parse(data) {
        assert!(!after_stop, "the walk went on after a framing error");
        match item {
            Ok(Cmsg::Rights(fds)) => assert_eq!(fds.iter().count(), fds.len()),
            Ok(Cmsg::Other { data: payload, .. }) => assert!(payload.len() <= data.len()),
            Ok(_) => {}
            Err(CmsgError::BadHeaderLen { .. } | CmsgError::Truncated { .. }) => after_stop = true,
            Err(_) => {}
        }
    }
});
