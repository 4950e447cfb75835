//! Build control messages from fuzzer-chosen values with CmsgWriter, parse
//! them back, and require the same messages in the same order. The fds
//! written are numbers only: nothing is sent.
#![no_main]

use baresock::msg::{self, Cmsg, CmsgWriter, Credentials};
use libfuzzer_sys::fuzz_target;
use std::net::{Ipv4Addr, Ipv6Addr};

fuzz_target!(|data: &[u8]| {
    let mut buf = [0u8; 1024];
    let mut w = CmsgWriter::new(&mut buf);
    let mut want: Vec<(i32, i32, Vec<u8>)> = Vec::new();
    for chunk in data.chunks(8).take(40) {
        let mut c = [0u8; 8];
        c[..chunk.len()].copy_from_slice(chunk);
        let v = u32::from_ne_bytes([c[1], c[2], c[3], c[4]]);
        let (level, kind, payload): (i32, i32, Vec<u8>) = match c[0] % 6 {
            0 => (libc::SOL_SOCKET, libc::SCM_CREDENTIALS, {
                let cr = Credentials {
                    pid: v as i32,
                    uid: v ^ 1,
                    gid: v ^ 2,
                };
                let mut p = cr.pid.to_ne_bytes().to_vec();
                p.extend_from_slice(&cr.uid.to_ne_bytes());
                p.extend_from_slice(&cr.gid.to_ne_bytes());
                if w.credentials(cr).is_err() {
                    break;
                }
                p
            }),
            1 => {
                if w.pktinfo_v4(v as i32, Ipv4Addr::from(v)).is_err() {
                    break;
                }
                let mut p = (v as i32).to_ne_bytes().to_vec();
                p.extend_from_slice(&Ipv4Addr::from(v).octets());
                p.extend_from_slice(&[0; 4]);
                (libc::IPPROTO_IP, libc::IP_PKTINFO, p)
            }
            2 => {
                let ip = Ipv6Addr::from(u128::from(v) << 64 | u128::from(v));
                if w.pktinfo_v6(ip, v).is_err() {
                    break;
                }
                let mut p = ip.octets().to_vec();
                p.extend_from_slice(&v.to_ne_bytes());
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, p)
            }
            3 => {
                if w.udp_segment(v as u16).is_err() {
                    break;
                }
                (
                    libc::SOL_UDP,
                    libc::UDP_SEGMENT,
                    (v as u16).to_ne_bytes().to_vec(),
                )
            }
            4 => {
                if w.ipv6_tclass(v as u8).is_err() {
                    break;
                }
                (
                    libc::IPPROTO_IPV6,
                    libc::IPV6_TCLASS,
                    i32::from(v as u8).to_ne_bytes().to_vec(),
                )
            }
            _ => {
                let payload = &chunk[1..];
                if w.push(0x7fff, c[1].into(), payload).is_err() {
                    break;
                }
                (0x7fff, c[1].into(), payload.to_vec())
            }
        };
        want.push((level, kind, payload));
    }
    let got: Vec<Cmsg<'_>> = msg::parse(w.as_bytes())
        .collect::<Result<_, _>>()
        .expect("our own output parses");
    assert_eq!(got.len(), want.len());
    for (g, (level, kind, payload)) in got.iter().zip(&want) {
        match *g {
            Cmsg::Credentials(c) => {
                assert_eq!((*level, *kind), (libc::SOL_SOCKET, libc::SCM_CREDENTIALS));
                assert_eq!(c.pid.to_ne_bytes(), payload[..4]);
            }
            Cmsg::PktInfoV4 {
                ifindex, spec_dst, ..
            } => {
                assert_eq!(ifindex.to_ne_bytes(), payload[..4]);
                assert_eq!(spec_dst.octets(), payload[4..8]);
            }
            Cmsg::PktInfoV6 { addr, ifindex } => {
                assert_eq!(addr.octets(), payload[..16]);
                assert_eq!(ifindex.to_ne_bytes(), payload[16..20]);
            }
            Cmsg::TrafficClass(t) => assert_eq!(t.to_ne_bytes(), payload[..4]),
            Cmsg::UdpSegment(size) => {
                assert_eq!((*level, *kind), (libc::SOL_UDP, libc::UDP_SEGMENT));
                assert_eq!(size.to_ne_bytes(), payload[..2]);
            }
            Cmsg::Other {
                level: l,
                kind: k,
                data,
            } => {
                assert_eq!((l, k, data), (*level, *kind, &payload[..]));
            }
            ref other => panic!("unexpected {other:?} for ({level}, {kind})"),
        }
    }
});
