//! workers: an echo server with one event loop per thread, and the ways
//! those threads can share the work of accepting.
//!
//! What it teaches: one `Poller` per thread, each with its own
//! connections, scales with the cores; the question is who accepts. The
//! kernel gives a new connection to a listening socket, and how the
//! threads share that socket decides which thread wakes for it:
//!
//! - `shared`: one listener, registered in every thread's poller. Every
//!   connection wakes every thread waiting on it (the "thundering herd"):
//!   one `accept4` wins, the others get `EAGAIN` and count an empty
//!   wake-up.
//! - `exclusive` (epoll only): the same shared listener, registered with
//!   `EPOLLEXCLUSIVE`: the kernel wakes one waiting thread (or a few),
//!   not all. It walks the waiters in the order they registered and
//!   wakes the first one waiting, so under a light load the same thread
//!   takes most connections (Cloudflare, "Why does one NGINX worker take
//!   all the load?", 2017): no herd, but no balance either.
//! - `reuseport`: one listener per thread, all bound to the same port
//!   with `SO_REUSEPORT`; the kernel hashes each new connection to one of
//!   them, so one thread wakes, and the threads get about equal shares.
//! - `cpu`: one thread per CPU, each pinned to its CPU with its own
//!   listener in one `SO_REUSEPORT` group, and each connection given to
//!   the listener of the CPU that received it: by a classic BPF program
//!   on the group (`SO_ATTACH_REUSEPORT_CBPF`, `--steer cbpf`, the
//!   default) or by `SO_INCOMING_CPU` set on each listener (`--steer
//!   incoming-cpu`). The connection is then served on the CPU whose
//!   softirq handled its packets, cache-warm. On loopback the client's
//!   own CPU handles them, so this shows that the steering works; the
//!   gain needs a NIC spreading flows over CPUs.
//! - `handoff`: thread 0 alone accepts and hands each connection to a
//!   worker in turn, through a queue and a `Waker` (an eventfd in the
//!   worker's poller): even shares by construction, one extra wake-up
//!   per connection, and one thread's accept rate as the ceiling.
//!
//! Which to pick: `reuseport` for most TCP servers on Linux; `exclusive`
//! when one listener must be shared (one socket from systemd) and waking
//! one thread matters more than balance; `cpu` with a multi-queue NIC and
//! pinned threads; `handoff` when user space must choose the thread
//! (least loaded, by client), at one extra wake-up per connection;
//! `shared` to see the herd, not to run. (BENCHMARKS.md, "accept
//! balance", has the shares and wake-ups measured here.)
//!
//! Each thread counts what it accepted, what it served to the end, its
//! waits, and the waits that found the listener empty; they print at the
//! end. Out of fds (`EMFILE`), a thread sets its listener aside, keeps
//! serving, and takes it up again when a connection closes or its timer
//! ticks, as the `daemon` example does.
//!
//! Stopping (SIGTERM or SIGINT) without resetting a client whose
//! `connect()` succeeded. Closing a listener resets every connection in
//! its accept queue, and a handshake can complete at any moment, so
//! "accept until EAGAIN, then close" loses the ones that complete in
//! between. So, first a fence: a socket filter on every listener
//! (`bpf::Program::drop_new_syns`, `SO_ATTACH_FILTER`) drops pure SYNs,
//! so no new handshake starts (those clients see no answer and retry
//! their SYN; their `connect()` has not succeeded), while the last ACK of
//! a handshake in flight still passes. Then a grace period
//! (`--grace-ms`, 200 ms by default: a round trip's worth for the ACKs
//! in flight; loopback needs microseconds, a WAN path its RTT). Then
//! each thread takes its listener out of its poller, accepts what is
//! queued (until `EAGAIN`; out of fds, as soon as one frees up), drops
//! its copy, and serves its connections until they close.
//!
//! Upgrading in place (SIGUSR2, as nginx): the running process starts
//! the program again from the path it was started with (not
//! /proc/self/exe, which names the old file once a new one is renamed
//! over it) with the same arguments and every listener at its fds 3, 4,
//! ... (`activation::spawn_with_listeners`: `LISTEN_FDS`, `LISTEN_PID`,
//! `LISTEN_FDNAMES`); the new process adopts them
//! (`activation::listen_fds`) and accepts; the old one stops accepting
//! (no fence: the filter would be the new process's too, since the
//! sockets are shared), serves its connections to the end and exits. The
//! listening sockets never close, so nothing queued is lost. Under a
//! systemd unit the main pid changes with each upgrade: the new process
//! must tell systemd (`sd_notify("MAINPID=...")`, with
//! `NotifyAccess=all`), or a supervisor must own the listeners instead.
//!
//! Syscalls: rt_sigprocmask, signalfd4, eventfd2 (the wakers), timerfd_*,
//! socket, setsockopt (SO_REUSEADDR, SO_REUSEPORT; SO_ATTACH_FILTER at
//! the stop; SO_ATTACH_REUSEPORT_CBPF or SO_INCOMING_CPU in cpu mode),
//! bind, listen, getsockname, accept4, recvfrom, sendto, close,
//! sched_getaffinity and sched_setaffinity and getsockopt(SO_INCOMING_CPU)
//! (cpu mode), kill (the demonstration signals itself), the backend's
//! wait; on an upgrade pipe2, clone, then dup3 and execve in the child;
//! in the new process fcntl, getsockopt and getsockname on each fd
//! passed.
//!
//! Run it:
//! - `cargo run --example workers`: a demonstration. Two threads in each
//!   mode in turn serve 200 connections from a client thread, then the
//!   process sends itself SIGTERM, and each mode prints its counts.
//! - `cargo run --example workers -- --serve --threads 4 --balance
//!   reuseport`: serves on 127.0.0.1:PORT (printed) until SIGTERM.
//!   Options: `--threads N` (1 to 64; in `cpu` mode, one per CPU the
//!   process may run on), `--balance
//!   shared|exclusive|reuseport|cpu|handoff`, `--steer
//!   cbpf|incoming-cpu`, `--grace-ms MS`,
//!   `--backend epoll|poll|select|select-growable`, `--port P`.

use baresock::activation::{self, spawn_with_listeners};
use baresock::bpf::Program;
use baresock::cpu::{self, CpuSet};
use baresock::poll::{
    Backend, Events, Interest, Poller, Signal, SignalSet, Signals, Timer, Token, Waker,
    block_signals,
};
use baresock::{Domain, OwnedSocket, Protocol, SockAddr, Type};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LISTENER: Token = Token(0);
const WAKE: Token = Token(1);
const TICK: Token = Token(2);
const FIRST_CONN: usize = 3;
/// The listen backlog: the kernel caps it at net.core.somaxconn.
const BACKLOG: i32 = 4096;
/// accept4 calls per readiness, so one thread cannot starve its own
/// connections while a burst arrives.
const ACCEPT_BATCH: usize = 64;
/// Connections a handoff queue holds: with every queue full the acceptor
/// closes the new connection rather than hold it, so memory stays bounded
/// whatever the clients do.
const QUEUE_CAP: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Balance {
    Shared,
    Exclusive,
    Reuseport,
    Cpu,
    Handoff,
}

impl Balance {
    const ALL: [Balance; 5] = [
        Balance::Shared,
        Balance::Exclusive,
        Balance::Reuseport,
        Balance::Cpu,
        Balance::Handoff,
    ];

    fn name(self) -> &'static str {
        match self {
            Balance::Shared => "shared",
            Balance::Exclusive => "exclusive",
            Balance::Reuseport => "reuseport",
            Balance::Cpu => "cpu",
            Balance::Handoff => "handoff",
        }
    }

    fn parse(s: &str) -> Option<Balance> {
        Balance::ALL.into_iter().find(|b| b.name() == s)
    }
}

/// What one thread did, printed at the end.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    accepted: u64,
    /// Connections handed to this thread by the acceptor (handoff).
    received: u64,
    /// Connections served until the client closed.
    served: u64,
    waits: u64,
    /// Waits that reported the listener, and how many of those found
    /// nothing to accept.
    listener_wakeups: u64,
    empty_wakeups: u64,
    emfile_pauses: u64,
    /// cpu mode: connections whose packets this thread's CPU received
    /// (SO_INCOMING_CPU of the accepted socket).
    on_its_cpu: u64,
}

/// cpu mode: how connections reach the listener of their CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Steer {
    Cbpf,
    IncomingCpu,
}

/// The connections the acceptor hands one worker (handoff), and the
/// waker that tells it.
struct Inbox {
    queue: Mutex<VecDeque<OwnedSocket>>,
    waker: Arc<Waker>,
}

/// What every thread shares: the stop flag and each thread's waker.
struct Shared {
    stop: AtomicBool,
    /// The stop is an upgrade: a new process has the listeners, so leave
    /// the accept queues to it (no fence, no drain).
    handover: AtomicBool,
    wakers: Vec<Arc<Waker>>,
    /// Every listener, once each: the stop fences them all.
    listeners: Vec<Arc<OwnedSocket>>,
}

struct Conn {
    sock: OwnedSocket,
    /// Bytes read and not yet echoed (the kernel's send buffer was full).
    out: Vec<u8>,
}

struct Worker {
    id: usize,
    poller: Box<dyn Poller>,
    /// This thread's handle on a listener (its own, or the shared one).
    listener: Option<Arc<OwnedSocket>>,
    /// Out of fds: the listener is out of the poller until one frees up.
    paused: bool,
    tick: Timer,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    counts: Counts,
    /// handoff: the acceptor's outboxes (thread 0), or this worker's inbox.
    outboxes: Vec<Arc<Inbox>>,
    next_outbox: usize,
    inbox: Option<Arc<Inbox>>,
    shared: Arc<Shared>,
    stopping: bool,
    /// How the listener is registered (exclusive or not).
    listen_interest: Interest,
    /// cpu mode: the CPU this thread runs on.
    cpu: Option<usize>,
}

impl Worker {
    fn open(&self) -> usize {
        self.conns.len() - self.free.len()
    }

    fn run(mut self) -> io::Result<Counts> {
        if let Some(c) = self.cpu {
            // 0: this thread.
            cpu::set_affinity(0, &CpuSet::single(c)?)?;
        }
        let mut events = Events::with_capacity(256);
        loop {
            if self.stopping && self.listener.is_none() && self.open() == 0 {
                let inbox_empty = self
                    .inbox
                    .as_ref()
                    .is_none_or(|i| i.queue.lock().unwrap().is_empty());
                if inbox_empty {
                    return Ok(self.counts);
                }
            }
            self.counts.waits += 1;
            match self.poller.wait(&mut events, None) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for event in &events {
                match event.token() {
                    LISTENER => {
                        self.counts.listener_wakeups += 1;
                        if self.accept(ACCEPT_BATCH)? == 0 {
                            self.counts.empty_wakeups += 1;
                        }
                    }
                    WAKE => self.on_wake()?,
                    TICK => {
                        let _ = self.tick.read();
                        self.resume()?;
                    }
                    Token(t) => self.serve(t - FIRST_CONN)?,
                }
            }
        }
    }

    /// Told to stop, or (handoff) given connections.
    fn on_wake(&mut self) -> io::Result<()> {
        if let Some(inbox) = self.inbox.clone() {
            loop {
                let next = inbox.queue.lock().unwrap().pop_front();
                let Some(sock) = next else { break };
                self.counts.received += 1;
                self.adopt(sock)?;
            }
        }
        if self.shared.stop.load(Ordering::Acquire) && !self.stopping {
            self.stopping = true;
            if let Some(l) = &self.listener {
                if !self.paused {
                    self.poller.deregister(l.as_fd())?;
                    // Out of the poller for good.
                    self.paused = true;
                }
                if self.shared.handover.load(Ordering::Acquire) {
                    // The new process accepts from the same sockets.
                    self.listener = None;
                    self.paused = false;
                    for w in &self.shared.wakers {
                        w.wake()?;
                    }
                } else {
                    self.drain_queue()?;
                }
            }
        }
        Ok(())
    }

    /// Stopping, behind the fence: take every connection queued on our
    /// listener, then drop our copy. Out of fds, keep it (out of the
    /// poller) and come back when one frees up (`resume`).
    fn drain_queue(&mut self) -> io::Result<()> {
        let before = self.counts.emfile_pauses;
        self.accept(usize::MAX)?;
        if self.counts.emfile_pauses == before {
            self.listener = None;
            self.paused = false;
            // handoff: the acceptor is done handing off: wake the workers
            // so they see the stop once their queue is empty.
            for w in &self.shared.wakers {
                w.wake()?;
            }
        }
        Ok(())
    }

    /// accept4 until EAGAIN, at most `max` times; returns how many.
    fn accept(&mut self, max: usize) -> io::Result<usize> {
        let mut taken = 0;
        while taken < max {
            let Some(listener) = &self.listener else {
                break;
            };
            match listener.accept_nonblocking() {
                Ok((sock, _peer)) => {
                    taken += 1;
                    self.counts.accepted += 1;
                    if let Some(c) = self.cpu {
                        if sock.incoming_cpu()? == Some(c as u32) {
                            self.counts.on_its_cpu += 1;
                        }
                    }
                    if self.outboxes.is_empty() {
                        self.adopt(sock)?;
                    } else {
                        self.hand_off(sock)?;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    // The connection waits in the kernel's queue; watching
                    // a listener we cannot accept from would spin.
                    if !self.paused {
                        self.poller.deregister(listener.as_fd())?;
                        self.paused = true;
                    }
                    self.counts.emfile_pauses += 1;
                    break;
                }
                Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(taken)
    }

    /// handoff: the next worker in turn gets the connection. A full queue
    /// (the worker is behind) tries the next; all full, the connection
    /// is closed rather than held without bound.
    fn hand_off(&mut self, sock: OwnedSocket) -> io::Result<()> {
        let n = self.outboxes.len();
        for k in 0..n {
            let inbox = &self.outboxes[(self.next_outbox + k) % n];
            let mut q = inbox.queue.lock().unwrap();
            if q.len() < QUEUE_CAP {
                q.push_back(sock);
                drop(q);
                inbox.waker.wake()?;
                self.next_outbox = (self.next_outbox + k + 1) % n;
                return Ok(());
            }
        }
        eprintln!("workers: every worker's queue is full: connection closed");
        Ok(())
    }

    fn adopt(&mut self, sock: OwnedSocket) -> io::Result<()> {
        let id = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        if let Err(e) =
            self.poller
                .register(sock.as_fd(), Token(FIRST_CONN + id), Interest::READABLE)
        {
            // select refuses fds >= FD_SETSIZE: turn the client away.
            eprintln!(
                "workers: thread {}: cannot watch a connection: {e}",
                self.id
            );
            self.free.push(id);
            return Ok(());
        }
        self.conns[id] = Some(Conn {
            sock,
            out: Vec::new(),
        });
        Ok(())
    }

    /// Echo: one recv per readiness, what the kernel does not take kept
    /// and sent when writable (and nothing read meanwhile).
    fn serve(&mut self, id: usize) -> io::Result<()> {
        let Some(conn) = self.conns.get_mut(id).and_then(Option::as_mut) else {
            return Ok(());
        };
        let mut done = false;
        if conn.out.is_empty() {
            let mut buf = [0u8; 16384];
            match conn.sock.recv(&mut buf) {
                Ok(0) => done = true,
                Ok(n) => conn.out.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => done = true,
            }
        }
        if !conn.out.is_empty() && !done {
            match conn.sock.send(&conn.out) {
                Ok(n) => {
                    conn.out.drain(..n);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => done = true,
            }
        }
        if done {
            let conn = self.conns[id].take().expect("checked above");
            self.poller.deregister(conn.sock.as_fd())?;
            drop(conn);
            self.free.push(id);
            self.counts.served += 1;
            return self.resume();
        }
        let want = if conn.out.is_empty() {
            Interest::READABLE
        } else {
            Interest::WRITABLE
        };
        self.poller
            .reregister(conn.sock.as_fd(), Token(FIRST_CONN + id), want)
    }

    /// An fd may be free again: watch the listener again if it was set
    /// aside.
    fn resume(&mut self) -> io::Result<()> {
        if !self.paused {
            return Ok(());
        }
        if self.stopping {
            return self.drain_queue();
        }
        let Some(l) = &self.listener else {
            self.paused = false;
            return Ok(());
        };
        self.poller
            .register(l.as_fd(), LISTENER, self.listen_interest)?;
        self.paused = false;
        Ok(())
    }
}

/// A listening TCP socket on `addr`, with SO_REUSEPORT when asked.
fn listen_on(addr: SocketAddr, reuseport: bool) -> io::Result<OwnedSocket> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = OwnedSocket::new(domain, Type::STREAM, Protocol::DEFAULT)?;
    s.set_reuse_address(true)?;
    if reuseport {
        s.set_reuse_port(true)?;
    }
    s.bind(&SockAddr::from(addr))?;
    s.listen(BACKLOG)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

struct Config {
    threads: usize,
    balance: Balance,
    backend: Backend,
    addr: SocketAddr,
    steer: Steer,
    grace: Duration,
}

impl Config {
    fn listen_interest(&self) -> Interest {
        if self.balance == Balance::Exclusive {
            Interest::READABLE.exclusive()
        } else {
            Interest::READABLE
        }
    }
}

/// The running threads, each returning its counts.
type Threads = Vec<std::thread::JoinHandle<io::Result<Counts>>>;

/// Starts the threads; returns the address they listen on, what they
/// share (to stop them), and the threads.
fn start(
    cfg: &Config,
    inherited: Vec<OwnedSocket>,
) -> io::Result<(SocketAddr, Arc<Shared>, Threads)> {
    let cpus = if cfg.balance == Balance::Cpu {
        cpus_for(cfg.steer)?
    } else {
        Vec::new()
    };
    let n = if cpus.is_empty() {
        cfg.threads
    } else {
        cpus.len()
    };
    let mut pollers: Vec<Box<dyn Poller>> = Vec::with_capacity(n);
    let mut wakers = Vec::with_capacity(n);
    for _ in 0..n {
        let mut p = cfg.backend.build()?;
        wakers.push(Arc::new(Waker::new(&mut *p, WAKE)?));
        pollers.push(p);
    }
    // The listeners: one shared, one per thread, or one for the acceptor;
    // inherited from the process we replace, or our own.
    let group = matches!(cfg.balance, Balance::Reuseport | Balance::Cpu);
    let mut inherited: VecDeque<OwnedSocket> = inherited.into();
    let want = if group { n } else { 1 };
    if !inherited.is_empty() && inherited.len() != want {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} listeners passed, and {} with {n} threads takes {want}",
                inherited.len(),
                cfg.balance.name()
            ),
        ));
    }
    let mut next = |addr: SocketAddr| -> io::Result<OwnedSocket> {
        match inherited.pop_front() {
            // Nonblocking already: O_NONBLOCK belongs to the open file,
            // which the old process shares with us.
            Some(s) => Ok(s),
            None => listen_on(addr, group),
        }
    };
    let first = next(cfg.addr)?;
    let addr = first
        .local_addr()?
        .as_socket()
        .expect("a TCP listener has an IP address");
    let first = Arc::new(first);
    let mut listeners: Vec<Option<Arc<OwnedSocket>>> = Vec::with_capacity(n);
    for i in 0..n {
        listeners.push(match cfg.balance {
            Balance::Shared | Balance::Exclusive => Some(first.clone()),
            Balance::Reuseport | Balance::Cpu if i == 0 => Some(first.clone()),
            // Bound in CPU order: the group's index of each is its CPU's.
            Balance::Reuseport | Balance::Cpu => Some(Arc::new(next(addr)?)),
            Balance::Handoff if i == 0 => Some(first.clone()),
            Balance::Handoff => None,
        });
    }
    drop(first);
    if cfg.balance == Balance::Cpu {
        match cfg.steer {
            // On any member: the program belongs to the group.
            Steer::Cbpf => listeners[0]
                .as_ref()
                .expect("cpu mode: a listener per thread")
                .attach_reuseport_cbpf(&Program::steer_by_cpu())?,
            Steer::IncomingCpu => {
                for (l, &c) in listeners.iter().flatten().zip(&cpus) {
                    l.set_incoming_cpu(Some(c as u32))?;
                }
            }
        }
    }
    let mut distinct: Vec<Arc<OwnedSocket>> = Vec::new();
    for l in listeners.iter().flatten() {
        if !distinct.iter().any(|d| Arc::ptr_eq(d, l)) {
            distinct.push(l.clone());
        }
    }
    // handoff: thread 0 accepts and hands to the others (to itself too
    // with one thread).
    let inboxes: Vec<Arc<Inbox>> = if cfg.balance == Balance::Handoff {
        wakers
            .iter()
            .enumerate()
            .filter(|&(i, _)| n == 1 || i > 0)
            .map(|(_, w)| {
                Arc::new(Inbox {
                    queue: Mutex::new(VecDeque::new()),
                    waker: w.clone(),
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        handover: AtomicBool::new(false),
        wakers,
        listeners: distinct,
    });
    let mut handles = Vec::with_capacity(n);
    for (i, (mut poller, listener)) in pollers.into_iter().zip(listeners).enumerate() {
        if let Some(l) = &listener {
            poller.register(l.as_fd(), LISTENER, cfg.listen_interest())?;
        }
        let tick = Timer::periodic(Duration::from_secs(1))?;
        poller.register(tick.as_fd(), TICK, Interest::READABLE)?;
        let inbox = if cfg.balance == Balance::Handoff {
            let k = if n == 1 { Some(0) } else { i.checked_sub(1) };
            k.map(|k| inboxes[k].clone())
        } else {
            None
        };
        let worker = Worker {
            id: i,
            poller,
            listener,
            paused: false,
            tick,
            conns: Vec::new(),
            free: Vec::new(),
            counts: Counts::default(),
            outboxes: if i == 0 { inboxes.clone() } else { Vec::new() },
            next_outbox: 0,
            inbox,
            shared: shared.clone(),
            stopping: false,
            listen_interest: cfg.listen_interest(),
            cpu: cpus.get(i).copied(),
        };
        handles.push(
            std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || worker.run())?,
        );
    }
    Ok((addr, shared, handles))
}

/// cpu mode: the CPUs this process may run on, one thread each. CBPF
/// steering returns the CPU's number as the index in the group, so it
/// needs CPUs 0 to N-1.
fn cpus_for(steer: Steer) -> io::Result<Vec<usize>> {
    let cpus: Vec<usize> = cpu::affinity(0)?.iter().collect();
    if steer == Steer::Cbpf && cpus.iter().enumerate().any(|(i, &c)| i != c) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "--steer cbpf needs CPUs 0 to N-1, and this process may run on {cpus:?}: use --steer incoming-cpu"
            ),
        ));
    }
    Ok(cpus)
}

/// How to start this program again for an upgrade: the path it was
/// started with (not /proc/self/exe, which reads "... (deleted)" once a
/// new binary is renamed over the old one: the upgrade must run the new
/// file) and its arguments.
struct Upgrade {
    path: OsString,
    args: Vec<OsString>,
}

/// Waits for SIGTERM or SIGINT on `signals`, then fences the listeners,
/// waits `grace`, stops every thread and prints their counts. On SIGUSR2
/// (with `upgrade`) it starts the program again with the listeners and,
/// once that has started, hands over: the threads stop accepting, serve
/// what they have and end. Returns the counts.
fn wait_and_stop(
    signals: &Signals,
    shared: &Shared,
    handles: Threads,
    grace: Duration,
    upgrade: Option<&Upgrade>,
) -> io::Result<Vec<Counts>> {
    let mut poller = Backend::Poll.build()?;
    poller.register(signals.as_fd(), Token(0), Interest::READABLE)?;
    let mut events = Events::with_capacity(1);
    let handover = 'wait: loop {
        match poller.wait(&mut events, None) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        loop {
            let info = match signals.read() {
                Ok(info) => info,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            };
            if info.signal != Signal::USR2 {
                println!("{} from pid {}: stopping", info.signal, info.pid);
                break 'wait false;
            }
            let Some(up) = upgrade else {
                println!("SIGUSR2 from pid {}: no upgrade in this mode", info.pid);
                continue;
            };
            match start_new(up, &shared.listeners) {
                Ok(pid) => {
                    println!(
                        "SIGUSR2 from pid {}: upgrading: pid {pid} has the listeners",
                        info.pid
                    );
                    break 'wait true;
                }
                // Nothing changed: keep serving.
                Err(e) => println!("SIGUSR2 from pid {}: upgrade failed: {e}", info.pid),
            }
        }
    };
    if handover {
        shared.handover.store(true, Ordering::Release);
    } else {
        // The fence: no new handshake starts; the ones in flight finish
        // within the grace period and wait in the accept queues. (Not on
        // an upgrade: the filter is the socket's, and the new process
        // shares the sockets.)
        let fence = Program::drop_new_syns();
        for l in &shared.listeners {
            l.attach_filter(&fence)?;
        }
        std::thread::sleep(grace);
    }
    shared.stop.store(true, Ordering::Release);
    for w in &shared.wakers {
        w.wake()?;
    }
    let mut all = Vec::new();
    for (i, h) in handles.into_iter().enumerate() {
        let c = h
            .join()
            .map_err(|_| io::Error::other(format!("thread {i} panicked")))??;
        println!(
            "  thread {i}: accepted {}, received {}, served {}, waits {}, listener wake-ups {} ({} empty), EMFILE pauses {}, on its cpu {}",
            c.accepted,
            c.received,
            c.served,
            c.waits,
            c.listener_wakeups,
            c.empty_wakeups,
            c.emfile_pauses,
            c.on_its_cpu
        );
        all.push(c);
    }
    Ok(all)
}

/// Starts the program again (`up`) with every listener at its fds 3, 4,
/// ... (`LISTEN_FDS`, names tcp0, tcp1, ...): the new process adopts them
/// with `activation::listen_fds`. The sockets never close, so a client
/// connecting meanwhile waits in the same accept queue and is accepted by
/// whichever process accepts next. Returns the new pid once it has
/// started (its exec succeeded); it is not our child to wait for: when we
/// exit, it is re-parented (to a subreaper, or init).
fn start_new(up: &Upgrade, listeners: &[Arc<OwnedSocket>]) -> io::Result<u32> {
    let mut cmd = activation::Command::new(&up.path);
    cmd.args(&up.args);
    let names: Vec<String> = (0..listeners.len()).map(|i| format!("tcp{i}")).collect();
    let pairs: Vec<(&OwnedSocket, &str)> = listeners
        .iter()
        .zip(&names)
        .map(|(l, n)| (&**l, n.as_str()))
        .collect();
    let child = spawn_with_listeners(&cmd, &pairs)?;
    Ok(child.id())
}

/// This binary's version, printed at start. A byte string read through
/// `black_box`, so the compiler keeps the bytes in the file: the upgrade
/// test makes a new version by changing them in a copy of the binary.
static VERSION: [u8; 24] = *b"workers-version:00000001";

fn version() -> String {
    let v = std::hint::black_box(&VERSION);
    String::from_utf8_lossy(&v[16..]).into_owned()
}

/// The demonstration's client: `n` connections, one after another, each
/// sending a message and reading its echo whole.
fn clients(addr: SocketAddr, n: usize) -> io::Result<()> {
    for i in 0..n {
        let mut s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let msg = format!("hello {i}\n");
        s.write_all(msg.as_bytes())?;
        let mut back = vec![0u8; msg.len()];
        s.read_exact(&mut back)?;
        if back != msg.as_bytes() {
            return Err(io::Error::other(format!("connection {i}: wrong echo")));
        }
    }
    Ok(())
}

fn parse_args() -> Result<(Config, bool), String> {
    let mut cfg = Config {
        threads: 2,
        balance: Balance::Reuseport,
        backend: Backend::Epoll,
        addr: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)),
        steer: Steer::Cbpf,
        grace: Duration::from_millis(200),
    };
    let mut serve = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--serve" => serve = true,
            "--threads" => {
                cfg.threads = value("--threads")?
                    .parse()
                    .ok()
                    .filter(|n| (1..=64).contains(n))
                    .ok_or("--threads takes 1 to 64")?;
            }
            "--balance" => {
                let v = value("--balance")?;
                cfg.balance = Balance::parse(&v).ok_or(format!(
                    "--balance: shared, exclusive, reuseport, cpu or handoff, not {v}"
                ))?;
            }
            "--backend" => {
                let v = value("--backend")?;
                cfg.backend = v.parse().map_err(|e| format!("--backend: {e}"))?;
            }
            "--steer" => {
                cfg.steer = match value("--steer")?.as_str() {
                    "cbpf" => Steer::Cbpf,
                    "incoming-cpu" => Steer::IncomingCpu,
                    v => return Err(format!("--steer: cbpf or incoming-cpu, not {v}")),
                };
            }
            "--grace-ms" => {
                let ms: u64 = value("--grace-ms")?
                    .parse()
                    .map_err(|_| "--grace-ms: a number")?;
                cfg.grace = Duration::from_millis(ms);
            }
            "--port" => {
                let port: u16 = value("--port")?.parse().map_err(|_| "--port: a number")?;
                cfg.addr.set_port(port);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if serve && cfg.balance == Balance::Exclusive && !cfg.backend.supports_exclusive() {
        return Err(format!(
            "--balance exclusive needs a backend with EPOLLEXCLUSIVE (epoll), not {}",
            cfg.backend
        ));
    }
    Ok((cfg, serve))
}

fn main() {
    let (cfg, serve) = match parse_args() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("workers: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(cfg, serve) {
        eprintln!("workers: {e}");
        std::process::exit(1);
    }
}

fn run(cfg: Config, serve: bool) -> io::Result<()> {
    // Before any thread starts: every thread inherits the mask, so the
    // signals reach only the signalfd. (A new process started for an
    // upgrade inherits the mask too, through execve.)
    let handled = SignalSet::EMPTY
        .with(Signal::TERM)
        .with(Signal::INT)
        .with(Signal::USR2);
    block_signals(handled)?;
    let signals = Signals::new(handled)?;
    if serve {
        // Listeners handed over by the process we replace, if any.
        let inherited: Vec<OwnedSocket> = activation::listen_fds()?
            .into_iter()
            .map(|a| a.socket)
            .collect();
        let adopted = inherited.len();
        let (addr, shared, handles) = start(&cfg, inherited)?;
        println!(
            "workers: pid {}, version {}, {} threads, balance {}, backend {}, listening tcp {addr}{}",
            std::process::id(),
            version(),
            handles.len(),
            cfg.balance.name(),
            cfg.backend,
            if adopted > 0 {
                format!(" (adopted {adopted} listeners)")
            } else {
                String::new()
            }
        );
        let upgrade = upgrade_command()?;
        wait_and_stop(&signals, &shared, handles, cfg.grace, Some(&upgrade))?;
        return Ok(());
    }
    for balance in Balance::ALL {
        if balance == Balance::Exclusive && !cfg.backend.supports_exclusive() {
            println!("exclusive: not on {} (epoll only)", cfg.backend);
            continue;
        }
        let cfg = Config { balance, ..cfg };
        let (addr, shared, handles) = start(&cfg, Vec::new())?;
        println!(
            "{}: {} threads, 200 connections from a client thread",
            balance.name(),
            handles.len()
        );
        let client = std::thread::spawn(move || clients(addr, 200));
        let result = client
            .join()
            .map_err(|_| io::Error::other("client thread panicked"))?;
        Signal::TERM.send_to(std::process::id())?;
        let counts = wait_and_stop(&signals, &shared, handles, cfg.grace, None)?;
        result?;
        let served: u64 = counts.iter().map(|c| c.served).sum();
        if served != 200 {
            return Err(io::Error::other(format!("served {served} of 200")));
        }
    }
    Ok(())
}

/// The path this program was started with, made absolute against the
/// directory it started in (a relative path would break if the working
/// directory changed), or found on PATH as a shell would; and its
/// arguments. Read once, at start.
fn upgrade_command() -> io::Result<Upgrade> {
    let mut args = std::env::args_os();
    let argv0 = std::path::PathBuf::from(args.next().unwrap_or_default());
    let path = if argv0.components().count() > 1 {
        std::env::current_dir()?.join(argv0)
    } else {
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|d| d.join(&argv0))
            .find(|p| p.is_file())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "this program on PATH"))?
    };
    Ok(Upgrade {
        path: path.into_os_string(),
        args: args.collect(),
    })
}
