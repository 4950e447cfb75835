//! The LISTEN_PID / LISTEN_FDS / LISTEN_FDNAMES parser on arbitrary
//! strings: never panics, and anything it accepts is consistent. Pure: no
//! fd is touched.
#![no_main]

use baresock::activation::{MAX_LISTEN_FDS, parse_env};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\n');
    let pid = parts.next();
    let fds = parts.next();
    let names = parts.next();
    let my_pid = parts.next().and_then(|p| p.parse().ok()).unwrap_or(4242);
    if let Ok(Some(env)) = parse_env(pid, fds, names, my_pid) {
        assert!(env.count <= MAX_LISTEN_FDS);
        assert_eq!(pid.and_then(|p| p.parse::<u32>().ok()), Some(my_pid));
        if let Some(n) = &env.names {
            assert_eq!(n.len(), env.count);
        }
    }
});
