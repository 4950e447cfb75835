//! CPU affinity: pin a thread to CPUs with `sched_setaffinity(2)`, read
//! where it may run with `sched_getaffinity(2)`.
//!
//! A daemon that runs one event loop per core pins each worker thread to
//! its CPU, so that the connections a CPU receives (steered there with
//! [`Program::steer_by_cpu`](crate::bpf::Program::steer_by_cpu) or
//! [`set_incoming_cpu`](crate::OwnedSocket::set_incoming_cpu)) are served
//! from that CPU's caches.
//!
//! Affinity belongs to a thread, not to a process: the `tid` these calls
//! take is a thread id (`gettid()`), 0 meaning the calling thread, and a
//! process id names the process's main thread only. A new thread starts
//! with its creator's affinity, and a child process inherits it across
//! `fork` and `execve`.
//!
//! # Examples
//!
//! ```
//! use baresock::cpu::{self, CpuSet};
//!
//! // Run this thread on the first CPU it may run on, then put it back.
//! let allowed = cpu::affinity(0)?;
//! let first = allowed.iter().next().expect("at least one CPU");
//! cpu::set_affinity(0, &CpuSet::single(first)?)?;
//! assert_eq!(cpu::affinity(0)?.iter().collect::<Vec<_>>(), [first]);
//! cpu::set_affinity(0, &allowed)?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # References
//! [sched_setaffinity(2)](https://man7.org/linux/man-pages/man2/sched_setaffinity.2.html),
//! [cpuset(7)](https://man7.org/linux/man-pages/man7/cpuset.7.html)

use std::fmt;
use std::io;

use crate::sys;
use crate::sys::cpu::MaskWord;

const BITS: usize = MaskWord::BITS as usize;

/// A set of CPU numbers, 0 to 1,023 (`CPU_SETSIZE`): the kernel's CPU
/// mask, as `cpu_set_t` lays it out (an array of `unsigned long`, bit
/// `n % bits` of word `n / bits` for CPU `n`, in the machine's own byte
/// order).
#[doc(alias = "cpu_set_t")]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CpuSet {
    words: [MaskWord; CpuSet::CAPACITY / BITS],
}

impl CpuSet {
    /// `CPU_SETSIZE`: the CPU numbers a set can name, 0 to 1,023.
    pub const CAPACITY: usize = 1024;

    /// The empty set (`CPU_ZERO`).
    pub const fn new() -> CpuSet {
        CpuSet {
            words: [0; CpuSet::CAPACITY / BITS],
        }
    }

    /// The set of one CPU.
    ///
    /// # Errors
    ///
    /// `InvalidInput`: `cpu` is 1,024 or more ([`CAPACITY`](CpuSet::CAPACITY)).
    pub fn single(cpu: usize) -> io::Result<CpuSet> {
        let mut s = CpuSet::new();
        s.insert(cpu)?;
        Ok(s)
    }

    /// Adds `cpu` (`CPU_SET`).
    ///
    /// # Errors
    ///
    /// `InvalidInput`: `cpu` is 1,024 or more ([`CAPACITY`](CpuSet::CAPACITY)).
    pub fn insert(&mut self, cpu: usize) -> io::Result<()> {
        if cpu >= CpuSet::CAPACITY {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("CPU {cpu}: a CpuSet names CPUs 0 to 1023"),
            ));
        }
        self.words[cpu / BITS] |= 1 << (cpu % BITS);
        Ok(())
    }

    /// Removes `cpu` (`CPU_CLR`); a number the set cannot hold is not in it.
    pub fn remove(&mut self, cpu: usize) {
        if cpu < CpuSet::CAPACITY {
            self.words[cpu / BITS] &= !(1 << (cpu % BITS));
        }
    }

    /// Whether `cpu` is in the set (`CPU_ISSET`).
    pub fn contains(&self, cpu: usize) -> bool {
        cpu < CpuSet::CAPACITY && self.words[cpu / BITS] & (1 << (cpu % BITS)) != 0
    }

    /// The number of CPUs in the set (`CPU_COUNT`).
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// The CPUs in the set, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..CpuSet::CAPACITY).filter(|&c| self.contains(c))
    }
}

impl Default for CpuSet {
    fn default() -> CpuSet {
        CpuSet::new()
    }
}

impl fmt::Debug for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// `sched_setaffinity(tid, sizeof mask, &mask)` — let thread `tid` (0:
/// the calling thread) run only on the CPUs of `set`.
///
/// The kernel keeps the CPUs of `set` that exist, are online and are
/// allowed by the thread's cpuset (cgroup), and if the thread runs
/// elsewhere, migrates it before the call returns: a thread that pins
/// itself is on one of the set's CPUs when this returns. CPUs that go
/// offline later are dropped from its mask by the kernel.
///
/// # Errors
///
/// - `EINVAL`: no CPU of `set` is online and allowed (an empty set, or
///   only CPUs this machine does not have or this cgroup forbids).
/// - `ESRCH`: no thread `tid` exists.
/// - `EPERM`: `tid` is another user's thread and the caller lacks
///   `CAP_SYS_NICE` (its effective uid is neither the thread's real nor
///   effective uid).
#[doc(alias = "sched_setaffinity")]
pub fn set_affinity(tid: libc::pid_t, set: &CpuSet) -> io::Result<()> {
    sys::cpu::sched_setaffinity(tid, &set.words)
}

/// `sched_getaffinity(tid, sizeof mask, &mask)` — the CPUs thread `tid`
/// (0: the calling thread) may run on.
///
/// The kernel answers the thread's mask as set, less the CPUs that are
/// not online now, and writes as many bytes as its own mask has (enough
/// for the CPUs this kernel can have, `nr_cpu_ids`); the rest of the set
/// stays empty.
///
/// # Errors
///
/// - `ESRCH`: no thread `tid` exists.
/// - `EINVAL`: the kernel can have more than 1,024 CPUs (`nr_cpu_ids`
///   above [`CpuSet::CAPACITY`]), so its mask does not fit a `CpuSet`.
#[doc(alias = "sched_getaffinity")]
pub fn affinity(tid: libc::pid_t) -> io::Result<CpuSet> {
    let mut set = CpuSet::new();
    sys::cpu::sched_getaffinity(tid, &mut set.words)?;
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus_beyond_64_land_in_later_words() {
        let mut s = CpuSet::new();
        assert!(s.is_empty());
        s.insert(0).unwrap();
        s.insert(100).unwrap();
        s.insert(1023).unwrap();
        assert_eq!(s.words[0], 1);
        assert_eq!(s.words[100 / BITS], 1 << (100 % BITS));
        assert_eq!(s.words[1023 / BITS], 1 << (BITS - 1));
        assert_eq!(s.iter().collect::<Vec<_>>(), [0, 100, 1023]);
        assert_eq!(s.len(), 3);
        assert_eq!(format!("{s:?}"), "{0, 100, 1023}");
        assert!(s.insert(1024).is_err());
        assert!(!s.contains(1024));
        s.remove(100);
        s.remove(5000);
        assert_eq!(s.iter().collect::<Vec<_>>(), [0, 1023]);
        // The mask is cpu_set_t's size.
        assert_eq!(
            std::mem::size_of::<CpuSet>(),
            std::mem::size_of::<libc::cpu_set_t>()
        );
    }
}
