//! Build control messages from fuzzer-chosen values with every CmsgWriter
//! method (push, rights, credentials, pktinfo_v4, pktinfo_v6, ip_tos,
//! ipv6_tclass, udp_segment), parse them back, and require every field of
//! every message, in order, to be the value written. The bytes are also
//! checked against the independent decoder (fuzz/oracle), so a writer and
//! parser that agree on a wrong layout still fail. The fds written are
//! this process's own stdin, stdout and stderr, as numbers only: nothing
//! is sent.
#![no_main]

#[path = "../oracle/mod.rs"]
mod oracle;

use baresock::msg::{self, Cmsg, CmsgWriter, Credentials};
use libfuzzer_sys::fuzz_target;
use oracle::Want;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

fuzz_target!(|data: &[u8]| {
    let mut buf = [0u8; 1024];
    let mut w = CmsgWriter::new(&mut buf);
    let mut want: Vec<Want<'static>> = Vec::new();
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let std_fds: [BorrowedFd<'_>; 3] = [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()];
    let mut payloads: Vec<(i32, i32, Vec<u8>)> = Vec::new();
    for chunk in data.chunks(8).take(40) {
        let mut c = [0u8; 8];
        c[..chunk.len()].copy_from_slice(chunk);
        let v = u32::from_ne_bytes([c[1], c[2], c[3], c[4]]);
        let v2 = u32::from_ne_bytes([c[4], c[5], c[6], c[7]]);
        let r = match c[0] % 8 {
            0 => {
                let cr = Credentials {
                    pid: v as i32,
                    uid: v2,
                    gid: v.rotate_left(7) ^ v2,
                };
                want.push(Want::Msg(Cmsg::Credentials(cr)));
                w.credentials(cr)
            }
            1 => {
                let ip = Ipv4Addr::from(v2);
                want.push(Want::Msg(Cmsg::PktInfoV4 {
                    ifindex: v as i32,
                    spec_dst: ip,
                    addr: Ipv4Addr::UNSPECIFIED,
                }));
                w.pktinfo_v4(v as i32, ip)
            }
            2 => {
                let ip = Ipv6Addr::from(u128::from(v) << 96 | u128::from(v2) << 17 | 0xff);
                want.push(Want::Msg(Cmsg::PktInfoV6 {
                    addr: ip,
                    ifindex: v2,
                }));
                w.pktinfo_v6(ip, v2)
            }
            3 => {
                want.push(Want::Msg(Cmsg::UdpSegment(v as u16)));
                w.udp_segment(v as u16)
            }
            4 => {
                want.push(Want::Msg(Cmsg::TrafficClass(i32::from(v as u8))));
                w.ipv6_tclass(v as u8)
            }
            5 => {
                want.push(Want::Msg(Cmsg::Tos(v as u8)));
                w.ip_tos(v as u8)
            }
            6 => {
                // Up to 7 fds, each one of the three standard streams.
                let n = usize::from(c[1] % 8);
                let fds: Vec<BorrowedFd<'_>> = (0..n)
                    .map(|i| std_fds[usize::from(c[2 + i % 6] >> (i / 6 * 2)) % 3])
                    .collect();
                want.push(Want::Rights(fds.iter().map(|f| f.as_raw_fd()).collect()));
                w.rights(&fds)
            }
            _ => {
                // Any level and type the parser does not know, any payload.
                let payload = chunk.get(2..).unwrap_or(&[]);
                let kind = i32::from(c[1]);
                let r = w.push(0x7fff, kind, payload);
                if r.is_ok() {
                    payloads.push((0x7fff, kind, payload.to_vec()));
                }
                // A placeholder, replaced below by the payload above.
                want.push(Want::Err(msg::CmsgError::BadHeaderLen { at: 0, len: 0 }));
                r
            }
        };
        if r.is_err() {
            want.pop();
            break;
        }
    }
    let bytes = w.as_bytes();
    let got: Vec<Want<'_>> = msg::parse(bytes).map(Want::from_crate).collect();
    // Other messages borrow from the buffer: put their payloads in place of
    // the placeholders.
    let mut others = payloads.iter();
    let want: Vec<Want<'_>> = want
        .into_iter()
        .map(|w| match w {
            Want::Err(_) => {
                let (level, kind, data) = others.next().expect("one payload per push");
                Want::Msg(Cmsg::Other {
                    level: *level,
                    kind: *kind,
                    data,
                })
            }
            w => w,
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(oracle::cmsgs(bytes), want);
});
