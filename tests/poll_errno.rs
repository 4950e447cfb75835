//! The errnos the poll module documents, each provoked and checked with
//! `raw_os_error()`: EINTR from every backend's wait, EINVAL from poll
//! with more fds than RLIMIT_NOFILE, EMFILE from `Epoll::new` and
//! `Waker::new`, EPERM from epoll on a regular file. (EEXIST and ENOENT
//! are in the conformance suite.)
//!
//! A binary of its own with one test: it installs a signal handler and
//! lowers RLIMIT_NOFILE, both process-wide.
// Installing a signal handler and signalling one thread are unsafe.
#![allow(unsafe_code)]

mod common;

use baresock::poll::{Backend, Epoll, Events, Interest, Token, Waker};
use common::*;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::thread::JoinHandleExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

extern "C" fn on_usr1(_: libc::c_int) {}

fn eintr_on_every_backend() {
    let handler = SigAction::new(
        SigHandler::Handler(on_usr1),
        // SA_RESTART on purpose: select, poll and epoll_wait are never
        // restarted after a handler, whatever the flags say.
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler does nothing, so it is async-signal-safe.
    let old = unsafe { sigaction(Signal::SIGUSR1, &handler) }.unwrap();
    for b in Backend::ALL {
        for timeout in [
            None,
            Some(Duration::from_secs(5)),
            Some(Duration::from_micros(1500)),
        ] {
            let done = Arc::new(AtomicBool::new(false));
            let waiter = {
                let done = Arc::clone(&done);
                std::thread::spawn(move || -> io::Error {
                    let mut p = build(b);
                    let (ours, _peer) = unix_pair();
                    p.register(ours.as_fd(), Token(1), Interest::READABLE)
                        .unwrap();
                    let mut ev = Events::with_capacity(4);
                    // Bounded: a signal that lands between waits is missed,
                    // so wait again, a limited number of times.
                    for _ in 0..200 {
                        if let Err(e) = p.wait(&mut ev, timeout) {
                            done.store(true, Ordering::SeqCst);
                            return e;
                        }
                    }
                    panic!("{b}: no EINTR");
                })
            };
            // std gives the id as a u64; musl's pthread_t is a pointer.
            let thread = waiter.as_pthread_t() as libc::pthread_t;
            for _ in 0..2000 {
                if done.load(Ordering::SeqCst) {
                    break;
                }
                // SAFETY: `thread` is the waiter, which has not been joined
                // yet, so its pthread_t is valid; SIGUSR1 has a handler.
                let r = unsafe { libc::pthread_kill(thread, libc::SIGUSR1) };
                assert_eq!(r, 0);
                std::thread::sleep(Duration::from_millis(5));
            }
            let e = waiter.join().unwrap();
            assert_eq!(e.raw_os_error(), Some(libc::EINTR), "{b} {timeout:?}");
            assert_eq!(e.kind(), io::ErrorKind::Interrupted);
        }
    }
    // SAFETY: restores the disposition that was there before.
    unsafe { sigaction(Signal::SIGUSR1, &old) }.unwrap();
}

fn rlimit_errors() {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let pairs: Vec<_> = (0..40).map(|_| unix_pair()).collect();
    let mut poll = build(Backend::Poll);
    for (i, (ours, _)) in pairs.iter().enumerate() {
        poll.register(ours.as_fd(), Token(i), Interest::READABLE)
            .unwrap();
    }
    // 80 fds are open: with a limit of 32 nothing more can open, and
    // poll refuses 40 entries.
    setrlimit(Resource::RLIMIT_NOFILE, 32, hard).unwrap();
    let mut ev = Events::with_capacity(64);
    let poll_err = poll.wait(&mut ev, Some(Duration::ZERO)).unwrap_err();
    let epoll_err = Epoll::new().unwrap_err();
    let mut select = build(Backend::Select);
    let waker_err = Waker::new(&mut *select, Token(0)).unwrap_err();
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();
    assert_eq!(poll_err.raw_os_error(), Some(libc::EINVAL));
    assert_eq!(epoll_err.raw_os_error(), Some(libc::EMFILE));
    assert_eq!(waker_err.raw_os_error(), Some(libc::EMFILE));
}

fn epoll_refuses_regular_files() {
    let dir = std::env::temp_dir().join(format!("baresock-poll-errno-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    let file = std::fs::File::create(dir.join("plain")).unwrap();
    let mut p = build(Backend::Epoll);
    let e = p
        .register(file.as_fd(), Token(0), Interest::READABLE)
        .unwrap_err();
    drop(file);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(e.raw_os_error(), Some(libc::EPERM));
}

#[test]
fn documented_errnos() {
    eintr_on_every_backend();
    rlimit_errors();
    epoll_refuses_regular_files();
}
