//! The sockaddr decoder on arbitrary bytes, against an independent
//! decoding (fuzz/oracle: `sockaddr_in`, `sockaddr_in6`, `sockaddr_un` read
//! whole with their libc layouts, fields taken by name): the same address
//! or the same error, for every length. Then the owned form as a receive
//! leaves it (`SockAddr::from_kernel`: bytes written, a length reported,
//! possibly past what was written or past the storage): its length never
//! exceeds the storage or the reported one, and it decodes to what the
//! oracle reads in its valid bytes. No syscall: fuzzer bytes never become a
//! live address.
#![no_main]

#[path = "../oracle/mod.rs"]
mod oracle;

use baresock::SockAddr;
use baresock::addr::decode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bytes = data;
    // The length the "kernel" reports for them: the last byte's value
    // (0..=255: shorter than written, equal, longer, past the storage).
    let reported = data.last().copied().unwrap_or(0);
    let want = oracle::sockaddr(bytes);
    assert_eq!(decode(bytes), want);

    if let Ok(owned) = SockAddr::from_bytes(bytes) {
        // An AF_UNIX length past sun_path (Linux's 111 for a 108-byte
        // path) is kept as the 110 bytes sun_path holds; the rest as given.
        let unix = bytes.len() >= 2 && bytes[..2] == (libc::AF_UNIX as u16).to_ne_bytes();
        let kept = if unix { bytes.len().min(110) } else { bytes.len() };
        assert_eq!(owned.len() as usize, kept);
        assert_eq!(owned.decode(), want);
    }
    let cut = &bytes[..bytes.len().min(128)];
    let a = SockAddr::from_kernel(cut, libc::socklen_t::from(reported)).expect("at most 128");
    let len = a.len() as usize;
    // The reported length, clamped to the storage. (One exception may
    // come: Linux reports 111 for a 108-byte path, a NUL past sun_path,
    // and that length may be cut back to the 110 that sun_path holds.)
    let want_len = usize::from(reported).min(128);
    let unix = cut.len() >= 2 && cut[..2] == (libc::AF_UNIX as u16).to_ne_bytes();
    assert!(
        len == want_len || (unix && len == 110 && want_len > 110),
        "length {len} recorded for {reported} reported"
    );
    // The storage beyond what was written reads as zeros.
    let mut storage = [0u8; 128];
    storage[..cut.len()].copy_from_slice(cut);
    assert_eq!(a.as_bytes(), &storage[..len]);
    assert_eq!(a.decode(), oracle::sockaddr(&storage[..len]));
});
