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
        assert_eq!(owned.len() as usize, bytes.len());
        assert_eq!(owned.decode(), want);
    }
    let cut = &bytes[..bytes.len().min(128)];
    let a = SockAddr::from_kernel(cut, libc::socklen_t::from(reported)).expect("at most 128");
    let len = a.len() as usize;
    assert!(len <= 128 && len <= usize::from(reported));
    // The storage beyond what was written reads as zeros.
    let mut storage = [0u8; 128];
    storage[..cut.len()].copy_from_slice(cut);
    assert_eq!(a.as_bytes(), &storage[..len]);
    assert_eq!(a.decode(), oracle::sockaddr(&storage[..len]));
});
