//! Options at level `IPPROTO_TCP`: tcp(7).

use std::io;
use std::time::Duration;

use super::{Int, Opt, get, get_bool, get_with_len, opt, secs_int, set, set_bool, to_int};
use crate::OwnedSocket;

const TCP_INFO: Opt<libc::tcp_info> = opt(libc::IPPROTO_TCP, libc::TCP_INFO);

/// The bytes of `struct tcp_info` that hold every field [`TcpInfo`]
/// reports: up to and with `tcpi_total_retrans`, the end of the struct
/// as Linux 2.6 first had it.
pub const TCP_INFO_MIN_LEN: usize = std::mem::offset_of!(libc::tcp_info, tcpi_total_retrans) + 4;
static_assertions::const_assert_eq!(TCP_INFO_MIN_LEN, 104);
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
    /// Connection state: one of the constants below
    /// ([`TcpInfo::ESTABLISHED`], [`TcpInfo::LISTEN`], ...).
    pub state: u8,
    /// Retransmissions of the current unacknowledged segment.
    pub retransmits: u8,
    /// Keepalive probes sent without answer.
    pub probes: u8,
    /// Smoothed round-trip time (microsecond resolution; zero until a
    /// segment has been acknowledged).
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
    /// Path MTU, in bytes (for IPv4 at most 65,535, even over `lo`'s
    /// 65,536-byte MTU).
    pub pmtu: u32,
}

/// The values of [`TcpInfo::state`], as in the kernel's
/// `include/net/tcp_states.h` (libc does not export them).
impl TcpInfo {
    /// `TCP_ESTABLISHED`: connected, data flows both ways.
    pub const ESTABLISHED: u8 = 1;
    /// `TCP_SYN_SENT`: an active open sent its SYN and waits for SYN-ACK.
    pub const SYN_SENT: u8 = 2;
    /// `TCP_SYN_RECV`: a passive open answered a SYN with SYN-ACK.
    pub const SYN_RECV: u8 = 3;
    /// `TCP_FIN_WAIT1`: this end closed and sent its FIN.
    pub const FIN_WAIT1: u8 = 4;
    /// `TCP_FIN_WAIT2`: this end's FIN was acknowledged; waiting for the
    /// peer's.
    pub const FIN_WAIT2: u8 = 5;
    /// `TCP_TIME_WAIT`: both FINs exchanged; lingering so late segments
    /// die.
    pub const TIME_WAIT: u8 = 6;
    /// `TCP_CLOSE`: no connection (a new or failed socket).
    pub const CLOSE: u8 = 7;
    /// `TCP_CLOSE_WAIT`: the peer sent FIN (end of stream); this end has
    /// not closed yet.
    pub const CLOSE_WAIT: u8 = 8;
    /// `TCP_LAST_ACK`: both closed, waiting for the ACK of this end's FIN.
    pub const LAST_ACK: u8 = 9;
    /// `TCP_LISTEN`: a listening socket.
    pub const LISTEN: u8 = 10;
    /// `TCP_CLOSING`: both ends sent FIN at the same time.
    pub const CLOSING: u8 = 11;
}

/// Socket options at level `IPPROTO_TCP`, sorted by C name. They apply to
/// TCP sockets, IPv4 and IPv6 alike; asked of another socket they fail as
/// the [module docs](crate::opt) say.
impl OwnedSocket {
    /// `getsockopt(fd, IPPROTO_TCP, TCP_INFO, &tcp_info)` — the
    /// connection's state as TCP sees it: round-trip time, congestion
    /// window, retransmits...
    ///
    /// Works on any TCP socket: a new one reports
    /// [`TcpInfo::CLOSE`], a listener [`TcpInfo::LISTEN`], a connected one
    /// [`TcpInfo::ESTABLISHED`] and its round-trip estimates once data has
    /// been acknowledged.
    ///
    /// # Errors
    ///
    /// On a socket that is not TCP: `EOPNOTSUPP` for IPv4 and Unix
    /// sockets, `ENOPROTOOPT` for IPv6 ones (see the
    /// [module docs](crate::opt)). [`io::ErrorKind::InvalidData`] when the
    /// kernel wrote fewer than the first [`TCP_INFO_MIN_LEN`] bytes, which
    /// hold every field [`TcpInfo`] has: Linux always writes them (it
    /// writes `min(asked, its own struct)`, and its struct began with them
    /// in 2.6), but an emulator may not (qemu-user 7.2 writes 4), and the
    /// unwritten fields would read as zeros, a queue length of 0 among
    /// them.
    #[doc(alias = "TCP_INFO")]
    pub fn tcp_info(&self) -> io::Result<TcpInfo> {
        let (info, len) = get_with_len(self, TCP_INFO)?;
        if (len as usize) < TCP_INFO_MIN_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "TCP_INFO: the kernel wrote {len} bytes, fewer than the {TCP_INFO_MIN_LEN} that hold its fields"
                ),
            ));
        }
        Ok(super::decode::tcp_info(&info))
    }

    /// `getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT)` — how many unanswered
    /// keepalive probes drop the connection
    /// (`net.ipv4.tcp_keepalive_probes`, 9, unless set).
    ///
    /// # Errors
    ///
    /// Only on a socket that is not TCP; see the [module docs](crate::opt).
    #[doc(alias = "TCP_KEEPCNT")]
    pub fn tcp_keepalive_count(&self) -> io::Result<u32> {
        get(self, TCP_KEEPCNT).map(|v| v as u32)
    }

    /// `setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &int)` — how many
    /// unanswered keepalive probes drop the connection (with
    /// [`set_keepalive`](OwnedSocket::set_keepalive) on).
    ///
    /// # Errors
    ///
    /// - `EINVAL`: 0 or above 127.
    /// - `InvalidInput`: above `i32::MAX`, before any syscall.
    #[doc(alias = "TCP_KEEPCNT")]
    pub fn set_tcp_keepalive_count(&self, count: u32) -> io::Result<()> {
        set(self, TCP_KEEPCNT, to_int(count, "count too large")?)
    }

    /// `getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE)` — how long a connection
    /// stays idle before the first keepalive probe
    /// (`net.ipv4.tcp_keepalive_time`, 7200 s, unless set).
    ///
    /// # Errors
    ///
    /// Only on a socket that is not TCP; see the [module docs](crate::opt).
    #[doc(alias = "TCP_KEEPIDLE")]
    pub fn tcp_keepalive_idle(&self) -> io::Result<Duration> {
        get(self, TCP_KEEPIDLE).map(|v| Duration::from_secs(v.max(0) as u64))
    }

    /// `setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &int)` — how long a
    /// connection stays idle before the first keepalive probe, in whole
    /// seconds, rounded up (half a second is one, never zero).
    ///
    /// # Errors
    ///
    /// - `EINVAL`: zero or above 32,767 s.
    /// - `InvalidInput`: above `i32::MAX` s, before any syscall.
    #[doc(alias = "TCP_KEEPIDLE")]
    pub fn set_tcp_keepalive_idle(&self, idle: Duration) -> io::Result<()> {
        set(
            self,
            TCP_KEEPIDLE,
            secs_int(idle, "keepalive idle too long")?,
        )
    }

    /// `getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL)` — the time between
    /// keepalive probes (`net.ipv4.tcp_keepalive_intvl`, 75 s, unless
    /// set).
    ///
    /// # Errors
    ///
    /// Only on a socket that is not TCP; see the [module docs](crate::opt).
    #[doc(alias = "TCP_KEEPINTVL")]
    pub fn tcp_keepalive_interval(&self) -> io::Result<Duration> {
        get(self, TCP_KEEPINTVL).map(|v| Duration::from_secs(v.max(0) as u64))
    }

    /// `setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &int)` — the time
    /// between keepalive probes, in whole seconds, rounded up.
    ///
    /// # Errors
    ///
    /// - `EINVAL`: zero or above 32,767 s.
    /// - `InvalidInput`: above `i32::MAX` s, before any syscall.
    #[doc(alias = "TCP_KEEPINTVL")]
    pub fn set_tcp_keepalive_interval(&self, interval: Duration) -> io::Result<()> {
        set(
            self,
            TCP_KEEPINTVL,
            secs_int(interval, "keepalive interval too long")?,
        )
    }

    /// `getsockopt(fd, IPPROTO_TCP, TCP_NODELAY)` — whether Nagle's
    /// algorithm is off.
    ///
    /// # Errors
    ///
    /// Only on a socket that is not TCP; see the [module docs](crate::opt).
    #[doc(alias = "TCP_NODELAY")]
    pub fn nodelay(&self) -> io::Result<bool> {
        get_bool(self, TCP_NODELAY)
    }

    /// `setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &int)` — turn off Nagle's
    /// algorithm: small sends go out at once instead of waiting for the
    /// previous segment's acknowledgement to coalesce with it.
    ///
    /// # Errors
    ///
    /// Only on a socket that is not TCP; see the [module docs](crate::opt).
    #[doc(alias = "TCP_NODELAY")]
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        set_bool(self, TCP_NODELAY, on)
    }

    /// `getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT)` — how long sent data
    /// may stay unacknowledged before the connection is dropped with
    /// `ETIMEDOUT`; `None` (the default): the kernel's retransmission
    /// limits decide.
    ///
    /// # Errors
    ///
    /// Only on a socket that is not TCP; see the [module docs](crate::opt).
    #[doc(alias = "TCP_USER_TIMEOUT")]
    pub fn tcp_user_timeout(&self) -> io::Result<Option<Duration>> {
        get(self, TCP_USER_TIMEOUT)
            .map(|ms| (ms != 0).then(|| Duration::from_millis(u64::from(ms))))
    }

    /// `setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uint)` — drop the
    /// connection with `ETIMEDOUT` once sent data has stayed
    /// unacknowledged this long (with keepalive on, it also bounds how long
    /// probes go unanswered). In milliseconds, rounded up; `None` restores
    /// the default.
    ///
    /// # Errors
    ///
    /// `InvalidInput` above `i32::MAX` ms (the kernel refuses those with
    /// `EINVAL`), before any syscall; otherwise see the
    /// [module docs](crate::opt).
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
