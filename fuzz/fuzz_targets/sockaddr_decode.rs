//! The sockaddr decoder on arbitrary bytes: never panics, never trusts the
//! family without the length, and what it decodes re-encodes to the same
//! meaning. No syscall: fuzzer bytes never become a live address.
#![no_main]

use baresock::SockAddr;
use baresock::addr::{Addr, decode};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;

fuzz_target!(|data: &[u8]| {
    let Ok(addr) = decode(data) else { return };
    match addr {
        Addr::V4(a) => {
            assert!(data.len() >= 16);
            assert_eq!(SockAddr::from(SocketAddr::V4(a)).as_socket_ipv4(), Some(a));
        }
        Addr::V6(a) => {
            assert!(data.len() >= 28);
            assert_eq!(SockAddr::from(SocketAddr::V6(a)).as_socket_ipv6(), Some(a));
        }
        Addr::UnixPath(p) => {
            let re = SockAddr::unix(p).expect("a decoded path re-encodes");
            assert_eq!(re.as_unix_path(), Some(p));
        }
        Addr::UnixAbstract(n) => {
            let re = SockAddr::unix_abstract(n).expect("a decoded name re-encodes");
            assert_eq!(re.as_abstract_name(), Some(n));
        }
        Addr::UnixUnnamed => assert_eq!(data.len(), 2),
        Addr::Other { data: rest, .. } => assert_eq!(rest.len(), data.len() - 2),
        _ => {}
    }
    // The owned form agrees with the pure decoder.
    let owned = SockAddr::from_bytes(data).expect("decode accepted at most 128 bytes");
    assert_eq!(owned.decode(), Ok(addr));
});
