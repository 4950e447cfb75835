//! The decoders of the poll module's event sources, on any bytes the
//! kernel could write (and many it never would): a `struct
//! signalfd_siginfo` read from a signalfd (`SignalInfo::from_siginfo`) and
//! the `struct itimerspec` of `timerfd_gettime`
//! (`TimerSetting::from_itimerspec`). Each is checked against the rules
//! written here from signalfd(2), signal(7) and timerfd_create(2), with the
//! fields read from the C structs by name. Pure: no fd, no signal.
#![no_main]

#[path = "../oracle/mod.rs"]
mod oracle;

use baresock::poll::{Signal, SignalInfo, TimerSetting};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

/// A `timespec` as a duration: negative fields (never written by the
/// kernel) as 0, nanoseconds past a second as 999,999,999; zero is None.
fn duration(ts: libc::timespec) -> Option<Duration> {
    let secs = if ts.tv_sec < 0 { 0 } else { ts.tv_sec as u64 };
    let nanos = ts.tv_nsec.clamp(0, 999_999_999) as u32;
    let d = Duration::new(secs, nanos);
    (d != Duration::ZERO).then_some(d)
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    if which % 2 == 0 {
        let raw: libc::signalfd_siginfo = oracle::read(bytes);
        let got = SignalInfo::from_siginfo(&raw);
        // signal(7): 1..=64; SIGKILL and SIGSTOP cannot be blocked, so a
        // signalfd never reads them; glibc keeps 32 and 33 for itself.
        let n = raw.ssi_signo;
        let readable = (1..=64).contains(&n)
            && ![libc::SIGKILL as u32, libc::SIGSTOP as u32, 32, 33].contains(&n);
        assert_eq!(got.is_some(), readable, "signal {n}");
        if let Some(info) = got {
            assert_eq!(info.signal.as_raw() as u32, n);
            assert_eq!(Signal::from_raw(n as i32), Some(info.signal));
            assert_eq!(
                (info.code, info.pid, info.uid, info.status),
                (raw.ssi_code, raw.ssi_pid, raw.ssi_uid, raw.ssi_status)
            );
        }
    } else {
        let cur: libc::itimerspec = oracle::read(bytes);
        assert_eq!(
            TimerSetting::from_itimerspec(&cur),
            TimerSetting {
                next: duration(cur.it_value),
                interval: duration(cur.it_interval),
            }
        );
    }
});
