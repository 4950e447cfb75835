//! Real signals during real I/O: a thread signals the I/O threads every
//! millisecond with a handler installed *without* `SA_RESTART`, so every
//! blocking syscall the signal lands in fails with `EINTR` (the kernel
//! would otherwise restart it), while 64 MiB cross a loopback TCP
//! connection and a Unix socketpair, and while a poller waits.
//!
//! - Through `io::Write::write_all` and `io::Read::read_exact`: std's
//!   loops retry `ErrorKind::Interrupted` themselves (their docs say so;
//!   `write_all` and `default_read_exact` skip `is_interrupted()` errors),
//!   so the transfer completes and the bytes arrive intact. A counting
//!   adapter between std's loop and the socket's own `Write`/`Read` sees
//!   every result the crate returns: the only error allowed is `EINTR`
//!   as `Interrupted`, and the test reports how many std swallowed.
//! - Through raw `send`/`recv`, the test's own loop retries: it counts
//!   the `Interrupted` returns (which must be > 0, so the test bites) and
//!   checks each carries `EINTR`; a short count is the other documented
//!   outcome of a signal (the kernel returns what it had copied).
//! - A blocked `wait` on every backend returns `Interrupted` with no event,
//!   again and again, and then reports the fd that becomes ready: nothing
//!   is lost.
//!
//! A binary of its own: it installs a process-wide SIGUSR1 handler.
// Installing a signal handler and signalling one thread are unsafe.
#![allow(unsafe_code)]

use baresock::poll::{Backend, Events, Interest, Token};
use baresock::{Domain, OwnedSocket, Protocol, SockAddr, Type};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsFd;
use std::os::unix::thread::JoinHandleExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const SIZE: usize = 64 << 20;
/// Bounds: a stuck call gives up after this (SO_RCVTIMEO/SO_SNDTIMEO,
/// which the test then reports as a failure), and the signaller stops.
const STUCK: Duration = Duration::from_secs(60);
const MAX_SIGNALS: u64 = 200_000;

static HANDLED: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_usr1(_: libc::c_int) {
    HANDLED.fetch_add(1, Ordering::Relaxed);
}

fn install_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // No SA_RESTART: an interrupted send, recv or wait fails with
        // EINTR instead of being restarted by the kernel.
        let action = SigAction::new(
            SigHandler::Handler(on_usr1),
            SaFlags::empty(),
            SigSet::empty(),
        );
        // SAFETY: the handler only increments an atomic, which is
        // async-signal-safe.
        unsafe { sigaction(Signal::SIGUSR1, &action) }.unwrap();
    });
}

/// Signals every unfinished thread of `threads` with SIGUSR1 every
/// millisecond until all have finished (bounded), then joins them.
/// Returns their results and how many signals were sent.
fn signal_until_done<T>(threads: Vec<JoinHandle<T>>) -> (Vec<T>, u64) {
    let start = Instant::now();
    let mut sent = 0;
    while threads.iter().any(|t| !t.is_finished()) {
        assert!(
            sent < MAX_SIGNALS && start.elapsed() < STUCK * 2,
            "I/O threads still running after {sent} signals"
        );
        for t in threads.iter().filter(|t| !t.is_finished()) {
            // SAFETY: the thread has not been joined, so its pthread_t is
            // valid (a finished, unjoined thread answers ESRCH or 0);
            // SIGUSR1 has a handler.
            // (std gives the id as a u64; musl's pthread_t is a pointer.)
            let r =
                unsafe { libc::pthread_kill(t.as_pthread_t() as libc::pthread_t, libc::SIGUSR1) };
            assert!(r == 0 || r == libc::ESRCH, "pthread_kill: {r}");
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let results = threads.into_iter().map(|t| t.join().unwrap()).collect();
    (results, sent)
}

fn pattern() -> Vec<u8> {
    (0..SIZE)
        .map(|i| (i % 251) as u8 ^ (i >> 16) as u8)
        .collect()
}

#[derive(Clone, Copy, Debug)]
enum Transport {
    Tcp,
    Socketpair,
}

/// A connected, blocking pair (writer's end, reader's end), each bounded
/// by SO_SNDTIMEO/SO_RCVTIMEO so that nothing can hang for good.
fn connected(t: Transport) -> (OwnedSocket, OwnedSocket) {
    let (a, b) = match t {
        Transport::Tcp => {
            let l = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
            l.bind(&SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)))
                .unwrap();
            l.listen(1).unwrap();
            let a = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
            a.connect(&l.local_addr().unwrap()).unwrap();
            let (b, _) = l.accept().unwrap();
            (a, b)
        }
        Transport::Socketpair => {
            OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap()
        }
    };
    for s in [&a, &b] {
        s.set_read_timeout(Some(STUCK)).unwrap();
        s.set_write_timeout(Some(STUCK)).unwrap();
    }
    (a, b)
}

/// The one error a signal may cause: EINTR, as `Interrupted`.
#[track_caller]
fn check_interrupted(e: &io::Error, what: &str) {
    assert_eq!(e.kind(), io::ErrorKind::Interrupted, "{what}: {e:?}");
    assert_eq!(e.raw_os_error(), Some(libc::EINTR), "{what}: {e:?}");
}

/// Counts what the crate's `Write`/`Read` returned to std's loop.
#[derive(Default, Debug)]
struct Counts {
    calls: u64,
    interrupted: u64,
    /// Writes or reads that moved fewer bytes than asked.
    short: u64,
}

struct CountingWriter<'a>(&'a OwnedSocket, Counts);

impl Write for CountingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.1.calls += 1;
        let r = Write::write(&mut &*self.0, buf);
        match &r {
            Ok(n) if *n < buf.len() => self.1.short += 1,
            Ok(_) => {}
            Err(e) => {
                check_interrupted(e, "write");
                self.1.interrupted += 1;
            }
        }
        r
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The socket, the counts, and the reader's EINTRs published for the
/// writer, which waits for the first (see [`wait_for_a_blocked_read`]).
struct CountingReader<'a>(&'a OwnedSocket, Counts, Arc<AtomicU64>);

impl Read for CountingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.1.calls += 1;
        let r = Read::read(&mut &*self.0, buf);
        match &r {
            Ok(n) if *n < buf.len() => self.1.short += 1,
            Ok(_) => {}
            Err(e) => {
                check_interrupted(e, "read");
                self.1.interrupted += 1;
                self.2.fetch_add(1, Ordering::Release);
            }
        }
        r
    }
}

/// The writer's first step: wait (bounded) until the reader, blocked in a
/// read with nothing to read, has been interrupted at least once. A
/// signal that lands in a call that has moved bytes makes it return
/// short, not EINTR, and which one a busy transfer sees is timing: on a
/// fast machine five 64 MiB transfers saw 108 signals and no EINTR. A
/// read blocked on an empty socket has moved nothing, so the signaller's
/// next signal makes it fail with EINTR (no SA_RESTART, and SO_RCVTIMEO
/// is set: the kernel would not restart it anyway). So every transfer
/// exercises the retry path, whatever the timing of the rest.
fn wait_for_a_blocked_read(read_eintr: &AtomicU64) {
    let start = Instant::now();
    while read_eintr.load(Ordering::Acquire) == 0 {
        assert!(start.elapsed() < STUCK, "the reader was never interrupted");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn write_all_read_exact(t: Transport) {
    // The writer starts once the reader's blocked read was interrupted
    // (wait_for_a_blocked_read), so std's retry of EINTR is exercised on
    // every run.
    let interrupted = write_all_read_exact_once(t);
    assert!(interrupted > 0, "{t:?}: no call was interrupted");
}

/// One 64 MiB write_all/read_exact transfer under signals; returns how many
/// calls std saw interrupted (and retried).
fn write_all_read_exact_once(t: Transport) -> u64 {
    install_handler();
    let data = Arc::new(pattern());
    let (a, b) = connected(t);
    let read_eintr = Arc::new(AtomicU64::new(0));
    let writer = {
        let data = Arc::clone(&data);
        let read_eintr = Arc::clone(&read_eintr);
        std::thread::spawn(move || {
            wait_for_a_blocked_read(&read_eintr);
            let mut w = CountingWriter(&a, Counts::default());
            w.write_all(&data).expect("write_all retries EINTR itself");
            (w.1, Vec::new())
        })
    };
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; SIZE];
        let mut r = CountingReader(&b, Counts::default(), read_eintr);
        r.read_exact(&mut buf)
            .expect("read_exact retries EINTR itself");
        (r.1, buf)
    });
    let handled_before = HANDLED.load(Ordering::Relaxed);
    let (mut results, sent) = signal_until_done(vec![writer, reader]);
    let handled = HANDLED.load(Ordering::Relaxed) - handled_before;
    let (read_counts, buf) = results.pop().unwrap();
    let (write_counts, _) = results.pop().unwrap();
    assert!(buf == *data, "{t:?}: the bytes arrived changed");
    assert!(sent > 0 && handled > 0, "{t:?}: no signal landed");
    println!(
        "{t:?} write_all/read_exact: {sent} signals sent, {handled} handled; \
         write {write_counts:?}; read {read_counts:?}"
    );
    // The test bites only if a signal interrupted a call std then retried.
    write_counts.interrupted + read_counts.interrupted
}

fn raw_send_recv(t: Transport) {
    // As above: the reader's first recv blocks on an empty socket and is
    // interrupted before the writer sends anything, so every run sees
    // EINTR; a wrapper that swallowed EINTR never would.
    let eintr = raw_send_recv_once(t);
    assert!(eintr > 0, "{t:?}: no send or recv saw EINTR");
}

/// One 64 MiB transfer under signals; returns how many EINTRs it saw.
fn raw_send_recv_once(t: Transport) -> u64 {
    install_handler();
    let data = Arc::new(pattern());
    let (a, b) = connected(t);
    let read_eintr = Arc::new(AtomicU64::new(0));
    let writer = {
        let data = Arc::clone(&data);
        let read_eintr = Arc::clone(&read_eintr);
        std::thread::spawn(move || {
            wait_for_a_blocked_read(&read_eintr);
            let (mut off, mut interrupted, mut short) = (0, 0u64, 0u64);
            while off < SIZE {
                match a.send(&data[off..]) {
                    Ok(n) => {
                        assert!(n > 0, "send returned 0");
                        short += u64::from(off + n < SIZE);
                        off += n;
                    }
                    Err(e) => {
                        check_interrupted(&e, "send");
                        interrupted += 1;
                    }
                }
            }
            (interrupted, short, Vec::new())
        })
    };
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; SIZE];
        let (mut off, mut interrupted, mut short) = (0, 0u64, 0u64);
        while off < SIZE {
            match b.recv(&mut buf[off..]) {
                Ok(0) => panic!("end of stream after {off} bytes"),
                Ok(n) => {
                    short += u64::from(off + n < SIZE);
                    off += n;
                }
                Err(e) => {
                    check_interrupted(&e, "recv");
                    interrupted += 1;
                    read_eintr.fetch_add(1, Ordering::Release);
                }
            }
        }
        (interrupted, short, buf)
    });
    let (mut results, sent) = signal_until_done(vec![writer, reader]);
    let (recv_eintr, recv_short, buf) = results.pop().unwrap();
    let (send_eintr, send_short, _) = results.pop().unwrap();
    assert!(buf == *data, "{t:?}: the bytes arrived changed");
    println!(
        "{t:?} raw: {sent} signals; send: {send_eintr} EINTR, {send_short} short; \
         recv: {recv_eintr} EINTR, {recv_short} short"
    );
    send_eintr + recv_eintr
}

#[test]
fn write_all_and_read_exact_retry_signals_over_tcp() {
    write_all_read_exact(Transport::Tcp);
}

#[test]
fn write_all_and_read_exact_retry_signals_over_a_socketpair() {
    write_all_read_exact(Transport::Socketpair);
}

#[test]
fn raw_send_and_recv_report_every_signal_over_tcp() {
    raw_send_recv(Transport::Tcp);
}

#[test]
fn raw_send_and_recv_report_every_signal_over_a_socketpair() {
    raw_send_recv(Transport::Socketpair);
}

/// Interruptions a waiter must see before the fd becomes ready.
const WAIT_INTERRUPTS: u64 = 20;

#[test]
fn a_blocked_wait_is_interrupted_and_loses_nothing() {
    install_handler();
    for backend in Backend::ALL {
        let (ours, peer) =
            OwnedSocket::pair_nonblocking(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
        let interrupted = Arc::new(AtomicU64::new(0));
        let waiter = {
            let interrupted = Arc::clone(&interrupted);
            std::thread::spawn(move || {
                let mut p = backend.build().unwrap();
                p.register(ours.as_fd(), Token(7), Interest::READABLE)
                    .unwrap();
                let mut events = Events::with_capacity(4);
                let start = Instant::now();
                let event = loop {
                    assert!(start.elapsed() < STUCK, "{backend}: no event");
                    match p.wait(&mut events, None) {
                        Ok(n) => {
                            assert_eq!(n, 1, "{backend}: {events:?}");
                            break *events.iter().next().unwrap();
                        }
                        Err(e) => {
                            check_interrupted(&e, "wait");
                            assert!(events.is_empty(), "{backend}: {events:?}");
                            interrupted.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                };
                p.deregister(ours.as_fd()).unwrap();
                let mut buf = [0u8; 8];
                let n = ours.recv(&mut buf).unwrap();
                (event, buf[..n].to_vec())
            })
        };
        let sender = {
            let interrupted = Arc::clone(&interrupted);
            std::thread::spawn(move || {
                let start = Instant::now();
                while interrupted.load(Ordering::SeqCst) < WAIT_INTERRUPTS {
                    assert!(start.elapsed() < STUCK, "{backend}: wait never interrupted");
                    std::thread::sleep(Duration::from_millis(1));
                }
                peer.send(b"late").unwrap();
                peer
            })
        };
        // Only the waiter is signalled; the sender just watches it.
        let (mut results, sent) = signal_until_done(vec![waiter]);
        let _peer = sender.join().unwrap();
        let (event, bytes) = results.pop().unwrap();
        let n = interrupted.load(Ordering::SeqCst);
        println!("{backend}: {n} interrupted waits of {sent} signals, then {event:?}");
        assert!(n >= WAIT_INTERRUPTS);
        assert_eq!(event.token(), Token(7));
        assert!(event.is_readable());
        assert_eq!(bytes, b"late");
    }
}
