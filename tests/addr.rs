//! `SockAddr` encode and decode, checked against nix's `SockaddrIn`,
//! `SockaddrIn6`, `UnixAddr` and `SockaddrStorage` as an independent
//! oracle; hostile byte strings of every length; equality, hash and Debug.
// Reading nix's addresses as raw bytes, and handing ours to nix's from_raw.
#![allow(unsafe_code)]

mod support;

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use baresock::addr::{Addr, DecodeError, SUN_PATH_LEN, decode};
use baresock::{Domain, SockAddr};
use nix::sys::socket::{SockaddrIn, SockaddrIn6, SockaddrLike, SockaddrStorage, UnixAddr};
use support::nix_raw;

const AF_INET: u16 = libc::AF_INET as u16;
const AF_INET6: u16 = libc::AF_INET6 as u16;
const AF_UNIX: u16 = libc::AF_UNIX as u16;

/// nix's reading of our bytes (`SockaddrStorage::from_raw` with the
/// length), the way nix reads what a kernel returned.
fn nix_reads(ours: &SockAddr) -> Option<SockaddrStorage> {
    // SAFETY: as_bytes() is valid for len() bytes; nix copies at most that
    // many (and refuses a length beyond sockaddr_storage).
    unsafe {
        SockaddrStorage::from_raw(
            ours.as_bytes().as_ptr().cast::<libc::sockaddr>(),
            Some(ours.len()),
        )
    }
}

/// A small deterministic generator (xorshift64*), so no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

// ---- IPv4 / IPv6 ----

#[test]
fn v4_encodes_as_nix_does_and_decodes_back() {
    let mut rng = Rng(0x5eed_0001);
    let mut cases = vec![
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, 65535),
        SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80),
        SocketAddrV4::new(Ipv4Addr::BROADCAST, 1),
    ];
    for _ in 0..200 {
        let r = rng.next();
        cases.push(SocketAddrV4::new(
            Ipv4Addr::from(r as u32),
            (r >> 32) as u16,
        ));
    }
    for a in cases {
        let ours = SockAddr::from(a);
        assert_eq!(ours.len(), 16);
        assert_eq!(ours.family(), Some(AF_INET));
        assert_eq!(ours.domain(), Some(Domain::IPV4));
        assert_eq!(ours.as_bytes(), &nix_raw(&SockaddrIn::from(a))[..]);
        assert_eq!(ours.as_socket_ipv4(), Some(a));
        assert_eq!(ours.as_socket(), Some(SocketAddr::V4(a)));
        assert_eq!(ours.as_socket_ipv6(), None);
        assert_eq!(ours.decode(), Ok(Addr::V4(a)));
        let theirs = nix_reads(&ours).unwrap();
        assert_eq!(SocketAddrV4::from(*theirs.as_sockaddr_in().unwrap()), a);
        assert_eq!(SocketAddr::try_from(ours).unwrap(), SocketAddr::V4(a));
        assert_eq!(SocketAddr::try_from(&ours).unwrap(), SocketAddr::V4(a));
        assert_eq!(SockAddr::from(SocketAddr::V4(a)), ours);
    }
}

#[test]
fn v6_keeps_flowinfo_and_scope_id_as_nix_does() {
    let mut rng = Rng(0x5eed_0002);
    let mut cases = vec![
        SocketAddrV6::new(Ipv6Addr::LOCALHOST, 0, 0, 0),
        SocketAddrV6::new(Ipv6Addr::LOCALHOST, 443, 0x000f_ffff, 0),
        SocketAddrV6::new("fe80::1".parse().unwrap(), 9, 0, 1),
        SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 65535, u32::MAX, u32::MAX),
        SocketAddrV6::new("::ffff:127.0.0.1".parse().unwrap(), 7, 1, 2),
    ];
    for _ in 0..200 {
        let ip = Ipv6Addr::from(((rng.next() as u128) << 64) | rng.next() as u128);
        let r = rng.next();
        cases.push(SocketAddrV6::new(
            ip,
            r as u16,
            (r >> 16) as u32 & 0x000f_ffff,
            (rng.next() >> 32) as u32,
        ));
    }
    for a in cases {
        let ours = SockAddr::from(a);
        assert_eq!(ours.len(), 28);
        assert_eq!(ours.domain(), Some(Domain::IPV6));
        assert_eq!(ours.as_bytes(), &nix_raw(&SockaddrIn6::from(a))[..]);
        let back = ours.as_socket_ipv6().unwrap();
        assert_eq!(
            (back, back.flowinfo(), back.scope_id()),
            (a, a.flowinfo(), a.scope_id())
        );
        assert_eq!(ours.as_socket_ipv4(), None);
        let theirs = SocketAddrV6::from(*nix_reads(&ours).unwrap().as_sockaddr_in6().unwrap());
        assert_eq!(
            (theirs, theirs.flowinfo(), theirs.scope_id()),
            (a, a.flowinfo(), a.scope_id())
        );
        assert_eq!(SocketAddr::try_from(&ours).unwrap(), SocketAddr::V6(a));
    }
}

#[test]
fn non_ip_addresses_do_not_convert_to_socketaddr() {
    for a in [
        SockAddr::unix("/tmp/x").unwrap(),
        SockAddr::unix_abstract(b"x").unwrap(),
        SockAddr::unix_unnamed(),
        SockAddr::from_bytes(&[]).unwrap(),
    ] {
        assert_eq!(a.as_socket(), None);
        let e = SocketAddr::try_from(a).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let e = SocketAddr::try_from(&a).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}

// ---- Unix ----

#[test]
fn unix_paths_decode_as_nix_reads_them() {
    for p in [
        "/tmp/s",
        "relative/sock",
        "a",
        "/with space/and-ünïcode",
        &"/".repeat(107),
    ] {
        let ours = SockAddr::unix(p).unwrap();
        // Our length counts a trailing NUL, as glibc's SUN_LEN does.
        assert_eq!(ours.len() as usize, 2 + p.len() + 1);
        assert_eq!(*ours.as_bytes().last().unwrap(), 0);
        assert_eq!(ours.as_unix_path(), Some(Path::new(p)));
        assert_eq!(ours.decode(), Ok(Addr::UnixPath(Path::new(p))));
        assert!(!ours.is_unnamed());
        assert_eq!(ours.as_abstract_name(), None);
        assert_eq!(ours.domain(), Some(Domain::UNIX));
        // nix reads our bytes to the same path...
        let theirs = nix_reads(&ours).unwrap();
        assert_eq!(theirs.as_unix_addr().unwrap().path(), Some(Path::new(p)));
        // ...and we read nix's (which counts no NUL) to the same path.
        let nix_addr = UnixAddr::new(p).unwrap();
        let from_nix = SockAddr::from_bytes(&nix_raw(&nix_addr)).unwrap();
        assert_eq!(from_nix.len() as usize, 2 + p.len());
        assert_eq!(from_nix.as_unix_path(), Some(Path::new(p)));
        // Equality is by bytes and length, as the kernel sees them: the
        // same path with and without its NUL are different addresses.
        assert_ne!(from_nix, ours);
    }
}

#[test]
fn unix_path_of_108_bytes_has_no_nul() {
    let p = "p".repeat(SUN_PATH_LEN);
    let ours = SockAddr::unix(&p).unwrap();
    assert_eq!(ours.len(), 110);
    assert_ne!(*ours.as_bytes().last().unwrap(), 0);
    assert_eq!(ours.as_unix_path(), Some(Path::new(&p)));
    // The kernel hands such a path back as 111 bytes, a NUL past
    // sun_path; the decoder stops at the NUL.
    let mut kernel = ours.as_bytes().to_vec();
    kernel.push(0);
    let k = SockAddr::from_bytes(&kernel).unwrap();
    assert_eq!(k.as_unix_path(), Some(Path::new(&p)));
    // Taken in, it is cut to the 110 bytes the kernel accepts back: the
    // address SockAddr::unix builds, equal and with the same hash.
    assert_eq!(k.len(), 110);
    assert_eq!(k, ours);
    let s = RandomState::new();
    assert_eq!(s.hash_one(k), s.hash_one(ours));
    assert_eq!(format!("{k:?}"), format!("{ours:?}"));
    // Whatever follows sun_path (up to the 128 bytes of the storage) is
    // cut the same way; a 107-byte path as the kernel reports it (110
    // bytes, the NUL inside sun_path) is kept as it is.
    kernel.resize(128, 0xee);
    assert_eq!(SockAddr::from_bytes(&kernel).unwrap(), ours);
    let p107 = SockAddr::unix("p".repeat(107)).unwrap();
    assert_eq!(SockAddr::from_bytes(p107.as_bytes()).unwrap().len(), 110);
    // Abstract names of the most bytes are 110 long and kept.
    let a = SockAddr::unix_abstract(&[7; 107]).unwrap();
    assert_eq!(SockAddr::from_bytes(a.as_bytes()).unwrap(), a);
    // Other families keep a length past 110.
    let other = [0x11u8; 120];
    assert_eq!(SockAddr::from_bytes(&other).unwrap().len(), 120);
}

#[test]
fn unix_paths_too_long_empty_or_with_nul_are_invalid_input() {
    for bad in [
        "q".repeat(SUN_PATH_LEN + 1),
        "q".repeat(4096),
        String::new(),
        "/tmp/a\0b".to_owned(),
        "\0abstract-looking".to_owned(),
    ] {
        let e = SockAddr::unix(&bad).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        assert_eq!(e.raw_os_error(), None, "refused before any syscall");
    }
    // Non-UTF-8 bytes are fine: a path is bytes.
    let raw = std::ffi::OsStr::from_bytes(b"/tmp/\xff\xfe");
    let a = SockAddr::unix(raw).unwrap();
    assert_eq!(a.as_unix_path().unwrap().as_os_str(), raw);
}

#[test]
fn abstract_names_match_nix_byte_for_byte() {
    for name in [
        &b""[..],
        b"x",
        b"with\0nul\0inside",
        &[0xff; 107],
        b"baresock",
    ] {
        let ours = SockAddr::unix_abstract(name).unwrap();
        assert_eq!(ours.len() as usize, 2 + 1 + name.len());
        assert_eq!(ours.as_abstract_name(), Some(name));
        assert_eq!(ours.as_unix_path(), None);
        assert!(!ours.is_unnamed());
        let theirs = UnixAddr::new_abstract(name).unwrap();
        assert_eq!(ours.as_bytes(), &nix_raw(&theirs)[..]);
        let read = nix_reads(&ours).unwrap();
        assert_eq!(read.as_unix_addr().unwrap().as_abstract(), Some(name));
    }
    let e = SockAddr::unix_abstract(&[b'n'; 108]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn unnamed_is_just_the_family() {
    let u = SockAddr::unix_unnamed();
    assert_eq!(u.len(), 2);
    assert!(u.is_unnamed());
    assert_eq!(u.decode(), Ok(Addr::UnixUnnamed));
    assert_eq!(u.as_unix_path(), None);
    assert_eq!(u.as_abstract_name(), None);
    assert_eq!(u.as_bytes(), &nix_raw(&UnixAddr::new_unnamed())[..]);
    assert!(nix_reads(&u).unwrap().as_unix_addr().unwrap().is_unnamed());
}

// ---- hostile bytes ----

/// What `decode` must say about `b`, worked out independently.
fn check_decode(b: &[u8]) {
    let r = decode(b);
    let len = b.len();
    if len > 128 {
        assert_eq!(r, Err(DecodeError::TooLong { len }));
        return;
    }
    if len < 2 {
        assert_eq!(r, Err(DecodeError::TooShortForFamily { len }));
        return;
    }
    let family = u16::from_ne_bytes([b[0], b[1]]);
    match family {
        AF_INET if len < 16 => assert_eq!(
            r,
            Err(DecodeError::TooShort {
                family,
                len,
                needed: 16
            })
        ),
        AF_INET => {
            let want = SocketAddrV4::new(
                Ipv4Addr::new(b[4], b[5], b[6], b[7]),
                u16::from_be_bytes([b[2], b[3]]),
            );
            assert_eq!(r, Ok(Addr::V4(want)));
        }
        AF_INET6 if len < 28 => assert_eq!(
            r,
            Err(DecodeError::TooShort {
                family,
                len,
                needed: 28
            })
        ),
        AF_INET6 => {
            let mut ip = [0; 16];
            ip.copy_from_slice(&b[8..24]);
            let want = SocketAddrV6::new(
                Ipv6Addr::from(ip),
                u16::from_be_bytes([b[2], b[3]]),
                u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
                u32::from_ne_bytes([b[24], b[25], b[26], b[27]]),
            );
            match r {
                Ok(Addr::V6(got)) => {
                    assert_eq!(
                        (got, got.flowinfo(), got.scope_id()),
                        (want, want.flowinfo(), want.scope_id())
                    )
                }
                other => panic!("{other:?}"),
            }
        }
        AF_UNIX => {
            // sun_path is 108 bytes: bytes past it (a length up to 128)
            // belong to no name.
            let sun_path = &b[2..len.min(2 + SUN_PATH_LEN)];
            if sun_path.is_empty() {
                assert_eq!(r, Ok(Addr::UnixUnnamed));
            } else if sun_path[0] == 0 {
                assert_eq!(r, Ok(Addr::UnixAbstract(&sun_path[1..])));
            } else {
                let end = sun_path
                    .iter()
                    .position(|&c| c == 0)
                    .unwrap_or(sun_path.len());
                assert_eq!(
                    r,
                    Ok(Addr::UnixPath(Path::new(std::ffi::OsStr::from_bytes(
                        &sun_path[..end]
                    ))))
                );
            }
        }
        _ => assert_eq!(
            r,
            Ok(Addr::Other {
                family,
                data: &b[2..]
            })
        ),
    }
}

#[test]
fn every_length_of_random_bytes_decodes_without_panic() {
    let mut rng = Rng(0x5eed_0003);
    for len in 0..=128usize {
        for round in 0..64 {
            let mut b = rng.bytes(len);
            // Force each interesting family at every length (where the
            // length holds a family field), plus random ones.
            if len >= 2 {
                let fam = match round % 4 {
                    0 => AF_INET,
                    1 => AF_INET6,
                    2 => AF_UNIX,
                    _ => u16::from_ne_bytes([b[0], b[1]]),
                };
                b[..2].copy_from_slice(&fam.to_ne_bytes());
            }
            check_decode(&b);
            // The same bytes through SockAddr: every accessor agrees with
            // decode and none panics, Debug included.
            let a = SockAddr::from_bytes(&b).unwrap();
            // An AF_UNIX length past a sockaddr_un (110) is cut to it, as
            // the kernel would refuse it; every other length is kept.
            let kept = if len > 110 && b[..2] == AF_UNIX.to_ne_bytes() {
                110
            } else {
                len
            };
            assert_eq!(a.as_bytes(), &b[..kept]);
            assert_eq!(a.len() as usize, kept);
            assert_eq!(a.decode(), decode(&b));
            let _ = (a.as_socket(), a.as_unix_path(), a.as_abstract_name());
            assert_eq!(a.family().is_some(), len >= 2);
            assert!(!format!("{a:?}").is_empty());
            // Where both understand an IP address, nix reads it the same.
            if let (Some(ip), Some(theirs)) = (a.as_socket(), nix_reads(&a)) {
                match ip {
                    SocketAddr::V4(v4) => {
                        assert_eq!(SocketAddrV4::from(*theirs.as_sockaddr_in().unwrap()), v4)
                    }
                    SocketAddr::V6(v6) => {
                        let t = SocketAddrV6::from(*theirs.as_sockaddr_in6().unwrap());
                        assert_eq!(
                            (t, t.flowinfo(), t.scope_id()),
                            (v6, v6.flowinfo(), v6.scope_id())
                        );
                    }
                }
            }
        }
    }
    for len in [129, 200, 4096] {
        let b = rng.bytes(len);
        check_decode(&b);
        let e = SockAddr::from_bytes(&b).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}

#[test]
fn short_lengths_never_trust_the_family() {
    // A full address cut short must not decode from the bytes beyond the
    // length (they are still there in the buffer the kernel filled).
    let v4 = SockAddr::from(SocketAddrV4::new(Ipv4Addr::new(10, 1, 2, 3), 4));
    for n in 0..16 {
        let cut = SockAddr::from_bytes(&v4.as_bytes()[..n]).unwrap();
        assert!(cut.decode().is_err(), "{n}: {:?}", cut.decode());
        assert_eq!(cut.as_socket(), None);
    }
    let v6 = SockAddr::from(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 4, 5, 6));
    for n in 0..28 {
        let cut = SockAddr::from_bytes(&v6.as_bytes()[..n]).unwrap();
        assert!(cut.decode().is_err(), "{n}");
        assert_eq!(cut.as_socket_ipv6(), None);
        // An AF_INET6 family with room for a sockaddr_in is still refused.
        assert_eq!(cut.as_socket_ipv4(), None);
    }
    // A length under 2 has no family at all.
    assert_eq!(SockAddr::from_bytes(&[1]).unwrap().family(), None);
    assert_eq!(SockAddr::from_bytes(&[]).unwrap().domain(), None);
}

// ---- equality, hash, Debug ----

#[test]
fn equality_and_hash_follow_the_valid_bytes() {
    let s = RandomState::new();
    let a = SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 80));
    let b = SockAddr::from_bytes(a.as_bytes()).unwrap();
    assert_eq!(a, b);
    assert_eq!(s.hash_one(a), s.hash_one(b));
    let c = SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 81));
    assert_ne!(a, c);
    // A longer length over the same leading bytes is another address.
    let mut longer = a.as_bytes().to_vec();
    longer.push(0);
    assert_ne!(a, SockAddr::from_bytes(&longer).unwrap());

    let set: HashSet<SockAddr> = [
        a,
        b,
        c,
        SockAddr::unix("/x").unwrap(),
        SockAddr::unix("/x").unwrap(),
        SockAddr::unix_abstract(b"x").unwrap(),
        SockAddr::unix_unnamed(),
        SockAddr::unix_unnamed(),
    ]
    .into_iter()
    .collect();
    assert_eq!(set.len(), 5);
    // V6 addresses differing only in scope id or flow info differ.
    let base = SocketAddrV6::new(Ipv6Addr::LOCALHOST, 1, 0, 0);
    let scoped = SocketAddrV6::new(Ipv6Addr::LOCALHOST, 1, 0, 3);
    let flowed = SocketAddrV6::new(Ipv6Addr::LOCALHOST, 1, 7, 0);
    assert_ne!(SockAddr::from(base), SockAddr::from(scoped));
    assert_ne!(SockAddr::from(base), SockAddr::from(flowed));
}

#[test]
fn debug_names_the_family_and_the_address() {
    let cases: [(SockAddr, &str); 9] = [
        (
            SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 80)),
            "SockAddr(AF_INET 127.0.0.1:80)",
        ),
        (
            SockAddr::from(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 80, 0, 0)),
            "SockAddr(AF_INET6 [::1]:80)",
        ),
        (
            SockAddr::from(SocketAddrV6::new("fe80::1".parse().unwrap(), 80, 0, 2)),
            "SockAddr(AF_INET6 [fe80::1%2]:80)",
        ),
        (
            SockAddr::unix("/tmp/s").unwrap(),
            "SockAddr(AF_UNIX \"/tmp/s\")",
        ),
        (
            SockAddr::unix_abstract(b"name").unwrap(),
            "SockAddr(AF_UNIX @\"name\")",
        ),
        (SockAddr::unix_unnamed(), "SockAddr(AF_UNIX unnamed)"),
        (
            SockAddr::from_bytes(&fam(17, &[1, 2, 3])).unwrap(),
            "SockAddr(family 17, data 010203)",
        ),
        (SockAddr::from_bytes(&[]).unwrap(), "SockAddr(none)"),
        (
            SockAddr::from_bytes(&[1]).unwrap(),
            "SockAddr(invalid: socket address of 1 bytes has no room for a family field, bytes 01)",
        ),
    ];
    for (a, want) in cases {
        assert_eq!(format!("{a:?}"), want);
    }
    let cut = SockAddr::from_bytes(&fam(2, &[0, 80])).unwrap();
    assert_eq!(
        format!("{cut:?}"),
        format!(
            "SockAddr(invalid: socket address of family 2 is 4 bytes long, its struct needs 16, bytes {})",
            CUT_V4_HEX
        )
    );
}

#[test]
fn debug_shows_every_byte_equality_compares() {
    let pairs: [(SockAddr, SockAddr); 5] = [
        // Non-UTF-8 abstract names: both printed as @"\u{fffd}" before.
        (
            SockAddr::unix_abstract(&[0xff]).unwrap(),
            SockAddr::unix_abstract(&[0xfe]).unwrap(),
        ),
        // IPv6 flow info, which equality counts.
        (
            SockAddr::from(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 1, 0, 0)),
            SockAddr::from(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 1, 7, 0)),
        ),
        // Other families: same length, other bytes.
        (
            SockAddr::from_bytes(&fam(17, &[1])).unwrap(),
            SockAddr::from_bytes(&fam(17, &[2])).unwrap(),
        ),
        // Refused by decode: same length, other bytes.
        (
            SockAddr::from_bytes(&fam(2, &[0, 80])).unwrap(),
            SockAddr::from_bytes(&fam(2, &[0, 81])).unwrap(),
        ),
        // One path, with and without its NUL counted (nix's form).
        (
            SockAddr::unix("/x").unwrap(),
            SockAddr::from_bytes(&fam(AF_UNIX, b"/x")).unwrap(),
        ),
    ];
    for (a, b) in pairs {
        assert_ne!(a, b);
        assert_ne!(format!("{a:?}"), format!("{b:?}"), "{a:?}");
    }
    assert_eq!(
        format!("{:?}", SockAddr::unix_abstract(&[0xff]).unwrap()),
        r#"SockAddr(AF_UNIX @"\xff")"#
    );
    assert_eq!(
        format!(
            "{:?}",
            SockAddr::from(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 1, 0x12345, 0))
        ),
        "SockAddr(AF_INET6 [::1]:1 flowinfo 0x12345)"
    );
    assert_eq!(
        format!("{:?}", SockAddr::unix(r#"/a"b\c"#).unwrap()),
        r#"SockAddr(AF_UNIX "/a\"b\\c")"#
    );
}

/// Random addresses of every kind, in the form the constructors build.
fn canonical_samples(rng: &mut Rng) -> Vec<SockAddr> {
    let mut v = Vec::new();
    for _ in 0..3000 {
        let r = rng.next();
        // Short names from a small alphabet, so that near-collisions
        // (escapes, quotes, @, digits, NULs, non-UTF-8) are common.
        let alphabet = b"@(.:1\\x\"'/\0\n\xff\xfe\xc3\xa9";
        let n = 1 + (r % 4) as usize;
        let name: Vec<u8> = (0..n)
            .map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize])
            .collect();
        match (r >> 8) % 6 {
            0 => v.push(SockAddr::from(SocketAddrV4::new(
                Ipv4Addr::from(rng.next() as u32 & 0x0101_0101),
                rng.next() as u16 & 3,
            ))),
            1 => v.push(SockAddr::from(SocketAddrV6::new(
                Ipv6Addr::from(u128::from(rng.next() as u8 & 3)),
                rng.next() as u16 & 3,
                0,
                rng.next() as u32 & 3,
            ))),
            2 | 3 => {
                if let Ok(a) = SockAddr::unix(std::ffi::OsStr::from_bytes(&name)) {
                    v.push(a);
                }
            }
            4 => v.push(SockAddr::unix_abstract(&name).unwrap()),
            _ => v.push(SockAddr::unix_unnamed()),
        }
    }
    // The pairs a careless form would print alike.
    for (a, b) in [
        (&b"@x"[..], &b"x"[..]),
        (b"(unnamed)", b""),
        (b"127.0.0.1:80", b"[::1]:80"),
        (b"\\xff", b"\xff"),
        (b"\\0", b"\0"),
    ] {
        if let Ok(p) = SockAddr::unix(std::ffi::OsStr::from_bytes(a)) {
            v.push(p);
        }
        v.push(SockAddr::unix_abstract(a).unwrap());
        v.push(SockAddr::unix_abstract(b).unwrap());
    }
    v.push(SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 80)));
    v.push(SockAddr::from(SocketAddrV6::new(
        Ipv6Addr::LOCALHOST,
        80,
        0,
        0,
    )));
    v
}

/// Asserts that `print` gives distinct strings to distinct addresses.
#[track_caller]
fn assert_injective(addrs: &[SockAddr], print: impl Fn(&SockAddr) -> String) {
    let mut seen = std::collections::HashMap::new();
    for a in addrs {
        if let Some(other) = seen.insert(print(a), *a) {
            assert_eq!(other, *a, "{other:?} and {a:?} print as {}", print(a));
        }
    }
}

#[test]
fn debug_of_any_bytes_and_display_of_canonical_addresses_are_unambiguous() {
    let mut rng = Rng(0x5eed_0004);
    let canon = canonical_samples(&mut rng);
    assert_injective(&canon, |a| format!("{a}"));
    assert_injective(&canon, |a| format!("{a:?}"));
    // Debug, over raw bytes of every family and length as well.
    let mut raw = canon.clone();
    for len in 0..=40usize {
        for fam in [AF_INET, AF_INET6, AF_UNIX, 0x11] {
            for _ in 0..8 {
                let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8 & 0x81).collect();
                if len >= 2 {
                    b[..2].copy_from_slice(&fam.to_ne_bytes());
                }
                raw.push(SockAddr::from_bytes(&b).unwrap());
            }
        }
    }
    assert_injective(&raw, |a| format!("{a:?}"));
}

#[test]
fn display_is_std_for_ip_and_escaped_for_unix() {
    let os = |b: &[u8]| SockAddr::unix(std::ffi::OsStr::from_bytes(b)).unwrap();
    let cases: Vec<(SockAddr, &str)> = vec![
        (
            SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 80)),
            "127.0.0.1:80",
        ),
        (
            SockAddr::from(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 80, 0, 0)),
            "[::1]:80",
        ),
        (
            SockAddr::from(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 80, 9, 2)),
            "[::1%2]:80",
        ),
        (SockAddr::unix("/run/x.sock").unwrap(), "/run/x.sock"),
        (SockAddr::unix("rel/ünï code").unwrap(), "rel/ünï code"),
        (os(b"/tmp/\xff\xfe"), r"/tmp/\xff\xfe"),
        (os(b"/a\\b\n\t\"'"), r#"/a\\b\n\t"'"#),
        (os("/zero\u{200b}width".as_bytes()), r"/zero\u{200b}width"),
        (
            SockAddr::unix("@not-abstract").unwrap(),
            r"\x40not-abstract",
        ),
        (SockAddr::unix("(unnamed)").unwrap(), r"\x28unnamed)"),
        (SockAddr::unix("127.0.0.1:80").unwrap(), r"\x3127.0.0.1:80"),
        (SockAddr::unix("[::1]:80").unwrap(), r"\x5b::1]:80"),
        (SockAddr::unix("1.sock").unwrap(), "1.sock"),
        (SockAddr::unix_abstract(b"name").unwrap(), "@name"),
        (SockAddr::unix_abstract(b"@(x").unwrap(), "@@(x"),
        (SockAddr::unix_abstract(b"").unwrap(), "@"),
        (SockAddr::unix_abstract(b"a\0b\xff").unwrap(), r"@a\0b\xff"),
        (SockAddr::unix_unnamed(), "(unnamed)"),
        (
            SockAddr::from_bytes(&fam(17, &[1, 0xab])).unwrap(),
            "(family 17: 01ab)",
        ),
        (
            SockAddr::from_bytes(&fam(2, &[0, 80])).unwrap(),
            CUT_V4_DISPLAY,
        ),
        (SockAddr::from_bytes(&[]).unwrap(), "(none)"),
        (SockAddr::from_bytes(&[1]).unwrap(), "(invalid: 01)"),
        // A path that reads as the empty address's form is guarded.
        (SockAddr::unix("(none)").unwrap(), r"\x28none)"),
    ];
    for (a, want) in cases {
        assert_eq!(a.to_string(), want, "{a:?}");
    }
    // IPv6 flow info is the one thing std's form leaves out.
    let flowed = SockAddr::from(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 80, 7, 0));
    assert_eq!(flowed.to_string(), "[::1]:80");
}

// ---- std::os::unix::net::SocketAddr ----

#[test]
fn std_unix_addresses_convert_both_ways() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::SocketAddr as StdUnix;

    let path = StdUnix::from_pathname("/tmp/some.sock").unwrap();
    let ours = SockAddr::from(&path);
    assert_eq!(ours, SockAddr::unix("/tmp/some.sock").unwrap());
    let back = StdUnix::try_from(ours).unwrap();
    assert_eq!(back.as_pathname(), Some(Path::new("/tmp/some.sock")));

    for name in [&b"name"[..], b"", b"\0with\0nuls\xff", &[0xab; 107]] {
        let abs = StdUnix::from_abstract_name(name).unwrap();
        let ours = SockAddr::from(abs.clone());
        assert_eq!(ours, SockAddr::unix_abstract(name).unwrap());
        let back = StdUnix::try_from(&ours).unwrap();
        assert_eq!(back.as_abstract_name(), Some(name));
        assert!(back.as_pathname().is_none() && !back.is_unnamed());
    }

    // std has no constructor for the unnamed address; an unbound socket
    // hands one out.
    let unnamed = std::os::unix::net::UnixDatagram::unbound()
        .unwrap()
        .local_addr()
        .unwrap();
    assert!(unnamed.is_unnamed());
    let ours = SockAddr::from(&unnamed);
    assert_eq!(ours, SockAddr::unix_unnamed());
    let back = StdUnix::try_from(&ours).unwrap();
    assert!(back.is_unnamed());
    assert_eq!(back.as_pathname(), None);
    assert_eq!(back.as_abstract_name(), None);

    // Paths byte for byte, non-UTF-8 and the longest std builds.
    for p in [
        std::ffi::OsStr::from_bytes(b"/tmp/\xff\xfe"),
        std::ffi::OsStr::new("r"),
        std::ffi::OsStr::from_bytes(&[b'q'; 107]),
    ] {
        let s = StdUnix::from_pathname(p).unwrap();
        let ours = SockAddr::from(&s);
        assert_eq!(ours.as_unix_path().unwrap().as_os_str(), p);
        assert_eq!(ours, SockAddr::unix(p).unwrap());
        let back = StdUnix::try_from(&ours).unwrap();
        assert_eq!(back.as_pathname().unwrap().as_os_str(), p);
    }
}

#[test]
fn only_unix_addresses_convert_to_std_unix() {
    use std::os::unix::net::SocketAddr as StdUnix;
    for a in [
        SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1)),
        SockAddr::from(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 1, 0, 0)),
        SockAddr::from_bytes(&fam(17, &[1])).unwrap(),
        // One byte: no family (the empty address, length 0, is the
        // kernel's "no address" and converts to unnamed: see below).
        SockAddr::from_bytes(&[1]).unwrap(),
    ] {
        let e = StdUnix::try_from(&a).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{a:?}");
    }
    // std's from_pathname wants room for a NUL: a path of the full 108
    // bytes is the one Unix address it refuses to build.
    let full = SockAddr::unix("f".repeat(SUN_PATH_LEN)).unwrap();
    let e = StdUnix::try_from(full).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn decode_errors_convert_to_invalid_data() {
    let e: io::Error = DecodeError::TooShortForFamily { len: 1 }.into();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(e.to_string().contains("1 bytes"));
    let e = DecodeError::TooLong { len: 300 };
    assert!(e.to_string().contains("300"));
}

/// The kernel's "no address": a datagram from a Unix socket that was never
/// bound comes with length 0 (std's `recv_from` reads it as unnamed). It
/// prints as such, not as a malformed address, and converts to std's
/// unnamed address.
#[test]
fn an_unbound_unix_datagram_sender_is_the_empty_address() {
    use baresock::{Domain, OwnedSocket, Protocol, Type};
    use std::os::unix::net::SocketAddr as UnixSocketAddr;
    let (a, b) = OwnedSocket::pair(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
    a.send(b"x").unwrap();
    let mut buf = [0u8; 4];
    let (n, from) = b.recv_from(&mut buf).unwrap();
    assert_eq!(n, 1);
    assert_eq!(from.len(), 0, "{from:?}");
    assert_eq!(from.to_string(), "(none)");
    assert_eq!(format!("{from:?}"), "SockAddr(none)");
    assert_ne!(from, SockAddr::unix_unnamed());
    let std_addr = UnixSocketAddr::try_from(&from).unwrap();
    assert!(std_addr.is_unnamed());
    // std's own answer for the same kernel reply.
    let (x, y) = std::os::unix::net::UnixDatagram::pair().unwrap();
    x.send(b"x").unwrap();
    let (_, std_from) = y.recv_from(&mut buf).unwrap();
    assert!(std_from.is_unnamed());
    // An empty address of another socket type converts the same way: it
    // carries no family, and std's Unix type is what was asked for.
    assert!(
        UnixSocketAddr::try_from(SockAddr::from_bytes(&[]).unwrap())
            .unwrap()
            .is_unnamed()
    );
}

/// The bytes of `fam(2, &[0, 80])` (AF_INET cut to 4 bytes) in hex, as
/// the invalid address's Debug and Display show them: the family field is
/// in the machine's byte order.
const CUT_V4_HEX: &str = if cfg!(target_endian = "little") {
    "02000050"
} else {
    "00020050"
};
const CUT_V4_DISPLAY: &str = if cfg!(target_endian = "little") {
    "(invalid: 02000050)"
} else {
    "(invalid: 00020050)"
};

/// A raw address: the family field in the machine's byte order (as
/// `sa_family_t` is), then `rest`. Writing the family as `[2, 0]` would
/// hold on little-endian machines only: on s390x those bytes are family 512.
fn fam(family: u16, rest: &[u8]) -> Vec<u8> {
    let mut bytes = family.to_ne_bytes().to_vec();
    bytes.extend_from_slice(rest);
    bytes
}
