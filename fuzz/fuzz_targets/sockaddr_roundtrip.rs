//! Encode then decode: IPv4, IPv6 (flow info, scope id), Unix paths and
//! abstract names built from fuzzer bytes come back unchanged, and invalid
//! paths are refused before any syscall. Nothing here is ever bound or
//! connected.
#![no_main]

use baresock::SockAddr;
use libfuzzer_sys::fuzz_target;
use std::ffi::OsStr;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn take<const N: usize>(d: &mut &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = d.len().min(N);
    out[..n].copy_from_slice(&d[..n]);
    *d = &d[n..];
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, mut d)) = data.split_first() else {
        return;
    };
    match kind % 4 {
        0 => {
            let ip: [u8; 4] = take(&mut d);
            let port = u16::from_ne_bytes(take(&mut d));
            let a = SocketAddrV4::new(Ipv4Addr::from(ip), port);
            assert_eq!(SockAddr::from(a).as_socket_ipv4(), Some(a));
        }
        1 => {
            let ip: [u8; 16] = take(&mut d);
            let port = u16::from_ne_bytes(take(&mut d));
            let flow = u32::from_ne_bytes(take(&mut d));
            let scope = u32::from_ne_bytes(take(&mut d));
            let a = SocketAddrV6::new(Ipv6Addr::from(ip), port, flow, scope);
            assert_eq!(SockAddr::from(a).as_socket_ipv6(), Some(a));
        }
        2 => {
            let p = Path::new(OsStr::from_bytes(d));
            match SockAddr::unix(p) {
                Ok(a) => {
                    assert!(!d.is_empty() && d.len() <= 108 && !d.contains(&0));
                    assert_eq!(a.as_unix_path(), Some(p));
                }
                Err(e) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
                    assert!(d.is_empty() || d.len() > 108 || d.contains(&0));
                }
            }
        }
        _ => match SockAddr::unix_abstract(d) {
            Ok(a) => assert_eq!(a.as_abstract_name(), Some(d)),
            Err(_) => assert!(d.len() > 107),
        },
    }
});
