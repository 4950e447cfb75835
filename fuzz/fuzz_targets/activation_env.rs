//! The LISTEN_PID / LISTEN_FDS / LISTEN_FDNAMES parser on arbitrary
//! strings, against the protocol's rules written here from sd_listen_fds(3)
//! (not from the crate): LISTEN_PID unset, or another process's pid, means
//! "not for us"; for us, LISTEN_FDS must be a decimal count (at most
//! MAX_LISTEN_FDS), and LISTEN_FDNAMES, if set, holds exactly one name per
//! fd, separated by colons (an empty value: no names). The crate's answer
//! must be the oracle's: the same count and names, or the same refusal.
//! Pure: no fd is touched.
#![no_main]

use baresock::activation::{EnvError, ListenEnv, MAX_LISTEN_FDS, parse_env};
use libfuzzer_sys::fuzz_target;

/// A plain decimal number: ASCII digits only (no sign, space or prefix),
/// at least one, any leading zeros, a value that fits in 64 bits.
fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.bytes().try_fold(0u64, |n, b| {
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// What sd_listen_fds(3) says about these values.
fn rules<'a>(
    pid: Option<&str>,
    fds: Option<&str>,
    names: Option<&'a str>,
    my_pid: u32,
) -> Result<Option<ListenEnv<'a>>, EnvError> {
    let Some(pid_text) = pid else { return Ok(None) };
    match decimal(pid_text) {
        Some(p) if p > 0 => {
            if p != u64::from(my_pid) {
                return Ok(None);
            }
        }
        _ => return Err(EnvError::BadPid(pid_text.to_owned())),
    }
    let Some(fds_text) = fds else {
        return Err(EnvError::MissingFds);
    };
    let count = match decimal(fds_text) {
        Some(n) if n <= MAX_LISTEN_FDS as u64 => n as usize,
        _ => return Err(EnvError::BadFds(fds_text.to_owned())),
    };
    let names: Option<Vec<&str>> = names.map(|n| {
        let mut v = Vec::new();
        if !n.is_empty() {
            let mut start = 0;
            for (i, c) in n.char_indices() {
                if c == ':' {
                    v.push(&n[start..i]);
                    start = i + 1;
                }
            }
            v.push(&n[start..]);
        }
        v
    });
    if let Some(n) = &names {
        if n.len() != count {
            return Err(EnvError::NameCount {
                fds: count,
                names: n.len(),
            });
        }
    }
    Ok(Some(ListenEnv { count, names }))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Lines: LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES, our pid; a line that
    // starts with 0x01 stands for an unset variable.
    let mut parts = text.splitn(4, '\n');
    let mut var = || parts.next().filter(|v| !v.starts_with('\u{1}'));
    let pid = var();
    let fds = var();
    let names = var();
    let my_pid = var().and_then(|p| p.parse().ok()).unwrap_or(4242);
    assert_eq!(
        parse_env(pid, fds, names, my_pid),
        rules(pid, fds, names, my_pid)
    );
});
