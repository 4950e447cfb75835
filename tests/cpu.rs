//! CPU affinity (`baresock::cpu`): pinning the calling thread and another
//! thread by id, read back through our `affinity` and nix's
//! `sched_getaffinity` (the oracle), `sched_getcpu` showing the kernel
//! moved the thread; a set naming CPUs past 64; every documented errno.
//!
//! Affinity is per thread: each test changes only threads it spawned
//! itself, and puts their affinity back before they end anyway. The EPERM
//! case drops its privileges, so it runs in a child process.

mod support;

use std::sync::mpsc;
use std::thread;

use baresock::cpu::{self, CpuSet};
use nix::unistd::Pid;
use support::*;

/// The calling thread's CPUs, through nix.
fn nix_affinity(tid: i32) -> Vec<usize> {
    let set = nix::sched::sched_getaffinity(Pid::from_raw(tid)).unwrap();
    (0..nix::sched::CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap())
        .collect()
}

fn set_of(cpus: &[usize]) -> CpuSet {
    let mut s = CpuSet::new();
    for &c in cpus {
        s.insert(c).unwrap();
    }
    s
}

/// The CPUs online now, from /sys (`0-1,4`).
fn online() -> Vec<usize> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    let mut v = Vec::new();
    for part in text.trim().split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        v.extend(a.parse::<usize>().unwrap()..=b.parse::<usize>().unwrap());
    }
    v
}

/// Runs `f` in a thread of its own, whose affinity it may change; puts
/// that thread's affinity back afterwards, even if `f` panics.
fn in_own_thread(f: impl FnOnce() + Send + 'static) {
    thread::spawn(move || {
        let before = cpu::affinity(0).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        cpu::set_affinity(0, &before).unwrap();
        if let Err(p) = r {
            std::panic::resume_unwind(p);
        }
    })
    .join()
    .unwrap();
}

#[test]
fn pinning_the_calling_thread_moves_it_and_reads_back() {
    in_own_thread(|| {
        let allowed = cpu::affinity(0).unwrap();
        assert!(!allowed.is_empty());
        assert_eq!(allowed.iter().collect::<Vec<_>>(), nix_affinity(0));
        for c in allowed.iter() {
            cpu::set_affinity(0, &CpuSet::single(c).unwrap()).unwrap();
            assert_eq!(cpu::affinity(0).unwrap().iter().collect::<Vec<_>>(), [c]);
            assert_eq!(nix_affinity(0), [c]);
            // The kernel migrated the thread before returning.
            assert_eq!(nix::sched::sched_getcpu().unwrap(), c);
        }
        cpu::set_affinity(0, &allowed).unwrap();
        assert_eq!(nix_affinity(0), allowed.iter().collect::<Vec<_>>());
    });
}

#[test]
fn another_thread_is_named_by_its_tid() {
    let allowed = cpu::affinity(0).unwrap();
    let first = allowed.iter().next().unwrap();
    let (tid_tx, tid_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let t = thread::spawn(move || {
        tid_tx.send(nix::unistd::gettid().as_raw()).unwrap();
        go_rx.recv().unwrap();
        // What its own reads see, through nix.
        let mine = nix_affinity(0);
        cpu::set_affinity(0, &allowed).unwrap();
        mine
    });
    let tid = tid_rx.recv().unwrap();
    cpu::set_affinity(tid, &CpuSet::single(first).unwrap()).unwrap();
    assert_eq!(
        cpu::affinity(tid).unwrap().iter().collect::<Vec<_>>(),
        [first]
    );
    // This thread is untouched: affinity is per thread.
    assert_eq!(
        cpu::affinity(0).unwrap().iter().collect::<Vec<_>>(),
        nix_affinity(0)
    );
    go_tx.send(()).unwrap();
    assert_eq!(t.join().unwrap(), [first]);
}

#[test]
fn a_set_names_cpus_past_64_and_the_kernel_keeps_the_online_ones() {
    in_own_thread(|| {
        let first = cpu::affinity(0).unwrap().iter().next().unwrap();
        let far: Vec<usize> = [100, 1023]
            .into_iter()
            .filter(|c| !online().contains(c))
            .collect();
        assert!(!far.is_empty(), "this machine has CPUs 100 and 1023");
        let mut cpus = far.clone();
        cpus.push(first);
        cpu::set_affinity(0, &set_of(&cpus)).unwrap();
        assert_eq!(
            cpu::affinity(0).unwrap().iter().collect::<Vec<_>>(),
            [first]
        );
        // Only CPUs that are not online: EINVAL.
        assert_errno(cpu::set_affinity(0, &set_of(&far)), libc::EINVAL);
        assert_eq!(nix_affinity(0), [first]);
    });
}

#[test]
fn errnos_empty_set_no_such_thread_and_bad_numbers() {
    in_own_thread(|| {
        let before = nix_affinity(0);
        assert_errno(cpu::set_affinity(0, &CpuSet::new()), libc::EINVAL);
        assert_eq!(nix_affinity(0), before);
        // Above any pid_max (at most 2^22): no such thread.
        let none = i32::MAX;
        assert_errno(cpu::set_affinity(none, &set_of(&before)), libc::ESRCH);
        assert_errno(cpu::affinity(none), libc::ESRCH);
        // A CPU number a CpuSet cannot hold is refused before any syscall.
        let e = CpuSet::single(CpuSet::CAPACITY).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(e.raw_os_error(), None);
    });
}

const EPERM_CHILD: &str = "another_users_thread_is_eperm";

/// As nobody (uid 65534, no capabilities), the parent test process (root's)
/// cannot be re-pinned, though its affinity can be read.
#[test]
fn another_users_thread_is_eperm() {
    if is_child(EPERM_CHILD) {
        let parent = nix::unistd::getppid().as_raw();
        let cpus = cpu::affinity(parent).unwrap();
        nix::unistd::setgid(nix::unistd::Gid::from_raw(65534)).unwrap();
        nix::unistd::setuid(nix::unistd::Uid::from_raw(65534)).unwrap();
        assert_errno(cpu::set_affinity(parent, &cpus), libc::EPERM);
        // Reading needs no permission.
        assert_eq!(cpu::affinity(parent).unwrap(), cpus);
        // Its own threads it still may pin.
        cpu::set_affinity(0, &cpus).unwrap();
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        // Not root: this process is already another user to root's
        // init, pid 1.
        assert_errno(
            cpu::set_affinity(1, &cpu::affinity(0).unwrap()),
            libc::EPERM,
        );
        return;
    }
    run_child(EPERM_CHILD);
}
