//! The C values that `getsockopt` fills in, turned into Rust types: pure
//! functions (no syscall), so the getters' decoding can be fuzzed and run
//! under Miri on values the kernel would never produce.
//!
//! Each getter in [`crate::opt`] reads the C value with one `getsockopt`
//! and hands it to one of these; nothing else is done to it.

use std::io;
use std::time::Duration;

use super::{PeerCred, TcpInfo};

/// `struct timeval` of `SO_RCVTIMEO`/`SO_SNDTIMEO`: `None` for `{0, 0}`
/// (no timeout), else the duration. Negative fields read as 0; a
/// `tv_usec` of a million or more (which the kernel never reports) adds
/// whole seconds (even the largest fields sum to far below
/// `Duration::MAX`; the add saturates all the same).
pub fn timeval(tv: libc::timeval) -> Option<Duration> {
    if tv.tv_sec == 0 && tv.tv_usec == 0 {
        None
    } else {
        let secs = Duration::from_secs(tv.tv_sec.max(0) as u64);
        Some(secs.saturating_add(Duration::from_micros(tv.tv_usec.max(0) as u64)))
    }
}

/// `struct linger` of `SO_LINGER`: `None` when `l_onoff` is 0, else the
/// linger time in seconds (negative reads as 0).
pub fn linger(l: libc::linger) -> Option<Duration> {
    (l.l_onoff != 0).then(|| Duration::from_secs(l.l_linger.max(0) as u64))
}

/// `struct ucred` of `SO_PEERCRED`. The kernel answers `{0, -1, -1}` (no
/// pid, the overflow ids) for a socket that was never connected: that is
/// `ENOTCONN` here.
///
/// # Errors
///
/// `ENOTCONN` for the not-connected sentinel.
pub fn peer_cred(c: libc::ucred) -> io::Result<PeerCred> {
    if c.pid == 0 && c.uid == libc::uid_t::MAX && c.gid == libc::gid_t::MAX {
        return Err(io::Error::from_raw_os_error(libc::ENOTCONN));
    }
    Ok(PeerCred {
        pid: c.pid,
        uid: c.uid,
        gid: c.gid,
    })
}

/// The chosen subset of `struct tcp_info` (`TCP_INFO`); times are in
/// microseconds in C.
pub fn tcp_info(i: &libc::tcp_info) -> TcpInfo {
    TcpInfo {
        state: i.tcpi_state,
        retransmits: i.tcpi_retransmits,
        probes: i.tcpi_probes,
        rtt: Duration::from_micros(u64::from(i.tcpi_rtt)),
        rttvar: Duration::from_micros(u64::from(i.tcpi_rttvar)),
        rto: Duration::from_micros(u64::from(i.tcpi_rto)),
        snd_mss: i.tcpi_snd_mss,
        rcv_mss: i.tcpi_rcv_mss,
        snd_cwnd: i.tcpi_snd_cwnd,
        snd_ssthresh: i.tcpi_snd_ssthresh,
        unacked: i.tcpi_unacked,
        lost: i.tcpi_lost,
        total_retrans: i.tcpi_total_retrans,
        pmtu: i.tcpi_pmtu,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeval_usec_out_of_range_never_overflows() {
        // Found by the opt_decode fuzz target: `tv_usec as u32 * 1000`
        // overflowed (a panic with debug assertions, a wrong duration
        // without) for a tv_usec above 4,294,967.
        let tv = |tv_sec, tv_usec| libc::timeval { tv_sec, tv_usec };
        assert_eq!(
            timeval(tv(0, 4_294_968)),
            Some(Duration::from_micros(4_294_968))
        );
        // Fuzz-shaped and extreme values of the fields' own width (time_t
        // and suseconds_t are long: 32 bits on 32-bit targets, where the
        // fuzz value is cut to its low half).
        let (sec, usec) = (
            0x7b7b_7b7b_7b00_0000_i64 as libc::c_long,
            0x7b_7b7b_7b7b_i64 as libc::c_long,
        );
        assert_eq!(
            timeval(tv(sec, usec)),
            Some(Duration::from_secs(sec as u64) + Duration::from_micros(usec as u64))
        );
        let max = libc::c_long::MAX;
        assert_eq!(
            timeval(tv(max, max)),
            Some(Duration::from_secs(max as u64) + Duration::from_micros(max as u64))
        );
        // What the kernel reports decodes as before.
        assert_eq!(timeval(tv(2, 500_000)), Some(Duration::from_millis(2500)));
        assert_eq!(timeval(tv(0, 0)), None);
        assert_eq!(timeval(tv(-1, -1)), Some(Duration::ZERO));
    }

    #[test]
    fn peer_cred_sentinel_is_enotconn() {
        let c = libc::ucred {
            pid: 0,
            uid: libc::uid_t::MAX,
            gid: libc::gid_t::MAX,
        };
        assert_eq!(
            peer_cred(c).unwrap_err().raw_os_error(),
            Some(libc::ENOTCONN)
        );
        let c = libc::ucred { pid: 0, ..c };
        let c = libc::ucred { uid: 0, ..c };
        assert_eq!(peer_cred(c).unwrap().uid, 0);
    }

    #[test]
    fn linger_off_is_none_and_negative_is_zero() {
        let l = |l_onoff, l_linger| libc::linger { l_onoff, l_linger };
        assert_eq!(linger(l(0, 5)), None);
        assert_eq!(linger(l(1, 5)), Some(Duration::from_secs(5)));
        assert_eq!(linger(l(7, -3)), Some(Duration::ZERO));
    }
}
