//! Readiness syscalls: poll (and, with the poll module, select, epoll and
//! eventfd).

use super::{Syscall, enter, ret_int};
use std::io;

/// `poll(fds, nfds, timeout_ms)`: returns how many entries have a non-zero
/// `revents`. `timeout_ms` is -1 to block, 0 to return at once.
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<usize> {
    enter(Syscall::Poll);
    #[cfg(feature = "stats")]
    super::stats::record_timeout(
        (timeout_ms >= 0).then(|| std::time::Duration::from_millis(timeout_ms as u64)),
    );
    // SAFETY: fds is a valid, writable array of fds.len() pollfd entries.
    let n =
        ret_int(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) })?;
    Ok(n as usize)
}
