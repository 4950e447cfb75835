//! Options at level `IPPROTO_TCP`: tcp(7).

use std::io;
use std::time::Duration;

use super::{Int, Opt, get, get_bool, opt, secs_int, set, set_bool, to_int};
use crate::OwnedSocket;

const TCP_INFO: Opt<libc::tcp_info> = opt(libc::IPPROTO_TCP, libc::TCP_INFO);
const TCP_KEEPCNT: Opt<Int> = opt(libc::IPPROTO_TCP, libc::TCP_KEEPCNT);
const TCP_KEEPIDLE: Opt<Int> = opt(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE);
const TCP_KEEPINTVL: Opt<Int> = opt(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL);
const TCP_NODELAY: Opt<Int> = opt(libc::IPPROTO_TCP, libc::TCP_NODELAY);
const TCP_USER_TIMEOUT: Opt<libc::c_uint> = opt(libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT);

/// A TCP connection's state as `TCP_INFO` reports it (a chosen subset of
/// `struct tcp_info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpInfo {
    /// Connection state (`TCP_ESTABLISHED` = 1, `TCP_LISTEN` = 10, ...).
    pub state: u8,
    /// Retransmissions of the current unacknowledged segment.
    pub retransmits: u8,
    /// Keepalive probes sent without answer.
    pub probes: u8,
    /// Smoothed round-trip time.
    pub rtt: Duration,
    /// Round-trip time variance.
    pub rttvar: Duration,
    /// Retransmission timeout.
    pub rto: Duration,
    /// Sender maximum segment size, in bytes.
    pub snd_mss: u32,
    /// Receiver maximum segment size, in bytes.
    pub rcv_mss: u32,
    /// Congestion window, in segments.
    pub snd_cwnd: u32,
    /// Slow-start threshold, in segments.
    pub snd_ssthresh: u32,
    /// Segments sent but not yet acknowledged.
    pub unacked: u32,
    /// Segments thought lost.
    pub lost: u32,
    /// Total retransmitted segments over the connection's life.
    pub total_retrans: u32,
    /// Path MTU.
    pub pmtu: u32,
}

impl TcpInfo {
    /// The state value of an established connection (`TCP_ESTABLISHED`).
    pub const ESTABLISHED: u8 = 1;
    /// The state value of a listening socket (`TCP_LISTEN`).
    pub const LISTEN: u8 = 10;
    /// The state value after the peer's FIN (`TCP_CLOSE_WAIT`).
    pub const CLOSE_WAIT: u8 = 8;
}

/// Socket options at level `IPPROTO_TCP`, sorted by C name.
impl OwnedSocket {
    /// `getsockopt(fd, IPPROTO_TCP, TCP_INFO)` — the connection's state as
    /// TCP sees it: round-trip time, congestion window, retransmits...
    ///
    /// # Errors
    ///
    /// `EOPNOTSUPP` / `ENOPROTOOPT` on a non-TCP socket; see the
    /// [module docs](crate::opt).
    #[doc(alias = "TCP_INFO")]
    pub fn tcp_info(&self) -> io::Result<TcpInfo> {
        let i = get(self, TCP_INFO)?;
        Ok(TcpInfo {
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
        })
    }

    /// `getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT)` — unanswered keepalive
    /// probes before the connection is dropped.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "TCP_KEEPCNT")]
    pub fn tcp_keepalive_count(&self) -> io::Result<u32> {
        get(self, TCP_KEEPCNT).map(|v| v as u32)
    }

    /// `setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT)`.
    ///
    /// # Errors
    ///
    /// `EINVAL` for 0 or above 127; see the [module docs](crate::opt).
    #[doc(alias = "TCP_KEEPCNT")]
    pub fn set_tcp_keepalive_count(&self, count: u32) -> io::Result<()> {
        set(self, TCP_KEEPCNT, to_int(count, "count too large")?)
    }

    /// `getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE)` — idle time before the
    /// first keepalive probe.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "TCP_KEEPIDLE")]
    pub fn tcp_keepalive_idle(&self) -> io::Result<Duration> {
        get(self, TCP_KEEPIDLE).map(|v| Duration::from_secs(v.max(0) as u64))
    }

    /// `setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE)` — in whole seconds,
    /// rounded up.
    ///
    /// # Errors
    ///
    /// `EINVAL` for zero or above 32767 s; see the [module docs](crate::opt).
    #[doc(alias = "TCP_KEEPIDLE")]
    pub fn set_tcp_keepalive_idle(&self, idle: Duration) -> io::Result<()> {
        set(
            self,
            TCP_KEEPIDLE,
            secs_int(idle, "keepalive idle too long")?,
        )
    }

    /// `getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL)` — time between
    /// keepalive probes.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "TCP_KEEPINTVL")]
    pub fn tcp_keepalive_interval(&self) -> io::Result<Duration> {
        get(self, TCP_KEEPINTVL).map(|v| Duration::from_secs(v.max(0) as u64))
    }

    /// `setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL)` — in whole seconds,
    /// rounded up.
    ///
    /// # Errors
    ///
    /// `EINVAL` for zero or above 32767 s; see the [module docs](crate::opt).
    #[doc(alias = "TCP_KEEPINTVL")]
    pub fn set_tcp_keepalive_interval(&self, interval: Duration) -> io::Result<()> {
        set(
            self,
            TCP_KEEPINTVL,
            secs_int(interval, "keepalive interval too long")?,
        )
    }

    /// `getsockopt(fd, IPPROTO_TCP, TCP_NODELAY)`.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "TCP_NODELAY")]
    pub fn nodelay(&self) -> io::Result<bool> {
        get_bool(self, TCP_NODELAY)
    }

    /// `setsockopt(fd, IPPROTO_TCP, TCP_NODELAY)` — turn off Nagle's
    /// algorithm: small sends go out at once instead of waiting to
    /// coalesce.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "TCP_NODELAY")]
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        set_bool(self, TCP_NODELAY, on)
    }

    /// `getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT)` — how long sent data
    /// may stay unacknowledged before the connection is dropped with
    /// `ETIMEDOUT`; `None`: the system default.
    ///
    /// # Errors
    ///
    /// See the [module docs](crate::opt).
    #[doc(alias = "TCP_USER_TIMEOUT")]
    pub fn tcp_user_timeout(&self) -> io::Result<Option<Duration>> {
        get(self, TCP_USER_TIMEOUT)
            .map(|ms| (ms != 0).then(|| Duration::from_millis(u64::from(ms))))
    }

    /// `setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT)` — in milliseconds,
    /// rounded up; `None` restores the default.
    ///
    /// # Errors
    ///
    /// `InvalidInput` above `i32::MAX` ms; see the [module docs](crate::opt).
    #[doc(alias = "TCP_USER_TIMEOUT")]
    pub fn set_tcp_user_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let ms = match timeout {
            None => 0,
            Some(d) => {
                let ms = d.as_nanos().div_ceil(1_000_000);
                libc::c_uint::try_from(ms)
                    .ok()
                    .filter(|&m| m <= i32::MAX as libc::c_uint)
                    .ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidInput, "user timeout too long")
                    })?
            }
        };
        set(self, TCP_USER_TIMEOUT, ms)
    }
}
