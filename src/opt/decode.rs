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
/// (no timeout), else the duration. Negative fields read as 0.
pub fn timeval(tv: libc::timeval) -> Option<Duration> {
    if tv.tv_sec == 0 && tv.tv_usec == 0 {
        None
    } else {
        Some(Duration::new(
            tv.tv_sec.max(0) as u64,
            (tv.tv_usec.max(0) as u32) * 1000,
        ))
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

