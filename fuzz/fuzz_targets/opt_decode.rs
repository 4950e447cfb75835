//! The getsockopt value decoders on any bytes the kernel could write (and
//! many it never would): `struct timeval` (SO_RCVTIMEO/SO_SNDTIMEO),
//! `struct linger` (SO_LINGER), `struct ucred` with its not-connected
//! sentinel (SO_PEERCRED) and `struct tcp_info` (TCP_INFO). Like the
//! crate's getsockopt, the value starts zeroed and the fuzzer's bytes are
//! what the kernel wrote over it (possibly fewer than the struct). The
//! decoders must never panic and must mean what the getters' docs say.
//! Pure: no socket.
#![no_main]

use baresock::opt::decode;
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

/// The value as getsockopt leaves it: zeroed, then `bytes` written over
/// its start.
fn value<T: Copy>(bytes: &[u8]) -> T {
    let mut buf = vec![0u8; size_of::<T>()];
    let n = bytes.len().min(buf.len());
    buf[..n].copy_from_slice(&bytes[..n]);
    // SAFETY: T is one of libc's plain C structs of integers, for which
    // every bit pattern is a valid value; the buffer holds size_of::<T>()
    // bytes and read_unaligned needs no alignment.
    unsafe { std::ptr::read_unaligned(buf.as_ptr().cast::<T>()) }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => {
            let tv: libc::timeval = value(bytes);
            let d = decode::timeval(tv);
            assert_eq!(d.is_none(), tv.tv_sec == 0 && tv.tv_usec == 0);
            // What the kernel can report: 0 <= usec < 1e6, sec >= 0.
            if (0..1_000_000).contains(&tv.tv_usec) && tv.tv_sec >= 0 && d.is_some() {
                let want = Duration::from_secs(tv.tv_sec as u64)
                    + Duration::from_micros(tv.tv_usec as u64);
                assert_eq!(d, Some(want));
            }
        }
        1 => {
            let l: libc::linger = value(bytes);
            let d = decode::linger(l);
            assert_eq!(d.is_some(), l.l_onoff != 0);
            if let Some(d) = d {
                assert_eq!(d, Duration::from_secs(l.l_linger.max(0) as u64));
            }
        }
        2 => {
            let c: libc::ucred = value(bytes);
            let sentinel = c.pid == 0 && c.uid == u32::MAX && c.gid == u32::MAX;
            match decode::peer_cred(c) {
                Ok(p) => {
                    assert!(!sentinel);
                    assert_eq!((p.pid, p.uid, p.gid), (c.pid, c.uid, c.gid));
                }
                Err(e) => {
                    assert!(sentinel);
                    assert_eq!(e.raw_os_error(), Some(libc::ENOTCONN));
                }
            }
        }
        _ => {
            let i: libc::tcp_info = value(bytes);
            let t = decode::tcp_info(&i);
            // Every field of the decoded struct, each from its C field.
            let us = |v: u32| Duration::from_micros(u64::from(v));
            assert_eq!(
                (t.state, t.retransmits, t.probes),
                (i.tcpi_state, i.tcpi_retransmits, i.tcpi_probes)
            );
            assert_eq!(
                (t.rtt, t.rttvar, t.rto),
                (us(i.tcpi_rtt), us(i.tcpi_rttvar), us(i.tcpi_rto))
            );
            assert_eq!(
                (
                    t.snd_mss,
                    t.rcv_mss,
                    t.snd_cwnd,
                    t.snd_ssthresh,
                    t.unacked,
                    t.lost,
                    t.total_retrans,
                    t.pmtu
                ),
                (
                    i.tcpi_snd_mss,
                    i.tcpi_rcv_mss,
                    i.tcpi_snd_cwnd,
                    i.tcpi_snd_ssthresh,
                    i.tcpi_unacked,
                    i.tcpi_lost,
                    i.tcpi_total_retrans,
                    i.tcpi_pmtu
                )
            );
        }
    }
});
