//! CPU affinity: sched_setaffinity and sched_getaffinity, each made through
//! `syscall(2)`, so the kernel sees exactly the mask and length given and
//! `sched_getaffinity` returns its own count of bytes written (glibc's
//! wrapper returns 0 and hides it).

#[cfg(feature = "trace")]
use super::trace::CpuMask;
use super::{Syscall, ret_len, ret_unit, run, strace};
use std::io;
use std::mem;

/// One word of a kernel CPU mask: bit `n % BITS` of word `n / BITS` is
/// CPU `n`, in the machine's own word order (so also on big-endian s390x).
pub(crate) type MaskWord = libc::c_ulong;

/// `sched_setaffinity(pid, sizeof mask, mask)`: pid 0 is the calling
/// thread.
pub(crate) fn sched_setaffinity(pid: libc::pid_t, mask: &[MaskWord]) -> io::Result<()> {
    let size = mem::size_of_val(mask);
    let r = run(Syscall::SchedSetaffinity, 0, |_| {
        // SAFETY: mask is valid for reads of `size` bytes for the call; the
        // kernel copies it and keeps no pointer.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_sched_setaffinity,
                pid as libc::c_long,
                size,
                mask.as_ptr(),
            )
        };
        // 0 or -1.
        ret_unit(ret as libc::c_int)
    });
    strace!(
        Syscall::SchedSetaffinity,
        &r,
        "{pid}, {size}, {}",
        CpuMask(mask, size)
    );
    r
}

/// `sched_getaffinity(pid, sizeof mask, mask)`: fills `mask` and returns
/// the number of bytes the kernel wrote (the size of its own CPU mask);
/// the words past them are left as they were (the caller zeroes them).
pub(crate) fn sched_getaffinity(pid: libc::pid_t, mask: &mut [MaskWord]) -> io::Result<usize> {
    let size = mem::size_of_val(mask);
    let r = run(Syscall::SchedGetaffinity, 0, |_| {
        // SAFETY: mask is valid for writes of `size` bytes for the call;
        // the kernel writes at most that many.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_sched_getaffinity,
                pid as libc::c_long,
                size,
                mask.as_mut_ptr(),
            )
        };
        // A byte count no larger than `size`, or -1.
        ret_len(ret as libc::ssize_t)
    });
    #[cfg(feature = "trace")]
    match &r {
        Ok(n) => {
            strace!(
                Syscall::SchedGetaffinity,
                &r,
                "{pid}, {size}, {}",
                CpuMask(mask, *n)
            );
        }
        Err(_) => {
            strace!(
                Syscall::SchedGetaffinity,
                &r,
                "{pid}, {size}, {:p}",
                mask.as_ptr()
            );
        }
    }
    r
}
