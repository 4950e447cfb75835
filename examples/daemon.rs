//! daemon: a small line-echo daemon on the `Poller`, with sockets, a
//! periodic timer and signals in one loop, socket-activated or not, and a
//! graceful drain on SIGTERM.
//!
//! What it teaches: how a daemon waits for everything at once. Signals
//! become an fd (signalfd) once they are blocked, and they are blocked
//! first thing in `main`, before any thread starts, because the kernel
//! hands a process-directed signal to any thread that has it unblocked.
//! Time becomes an fd too (timerfd): a periodic timer prints statistics,
//! a one-shot timer bounds the drain. The listening sockets come from
//! systemd when it started us (socket activation: `LISTEN_PID`,
//! `LISTEN_FDS`, fds 3, 4, ...), or we bind our own. SIGTERM (or SIGINT)
//! starts a graceful drain: accept the connections already queued (when
//! no one else holds the listener), close the listener so new clients are
//! refused, keep serving the clients we have until they hang up, then exit
//! 0. SIGHUP prints the statistics at once. The same code runs on every
//! backend. One loop on one thread: the `workers` example runs one per
//! thread, says which way of sharing the accepts to pick when, stops
//! without resetting a connected client, and upgrades in place.
//!
//! Syscalls: rt_sigprocmask (block_signals), signalfd4, timerfd_create,
//! timerfd_settime, read (the timer's 8-byte count, the signal's
//! 128-byte signalfd_siginfo); fcntl, getsockopt and getsockname (checking
//! the activated fds) or socket, bind, listen, getsockname (our own);
//! accept4(SOCK_NONBLOCK | SOCK_CLOEXEC), recvfrom, sendto, close;
//! getsockopt(TCP_INFO) at SIGTERM (the accept queue's length); kill
//! (the demonstration signals itself); and the backend's wait: pselect6,
//! poll, or epoll_create1 + epoll_ctl + epoll_wait.
//!
//! Run it:
//! - `cargo run --example daemon`: a self-contained demonstration. It
//!   binds 127.0.0.1:0 (TCP and UDP), starts its own clients, sends itself
//!   SIGHUP, then SIGTERM, drains and exits 0, in about a second.
//! - `cargo run --example daemon -- --backend poll --serve`: serves on
//!   127.0.0.1:PORT (printed) until `kill -TERM PID` or Ctrl-C. Try
//!   `nc 127.0.0.1 PORT` and `nc -u 127.0.0.1 PORT`.
//! - Socket-activated, as systemd would start it (build it first with
//!   `cargo build --example daemon`):
//!
//!   ```text
//!   systemd-socket-activate -l 127.0.0.1:7777 --fdname=echo target/debug/examples/daemon --only-copy --backend epoll
//!   ```
//!
//!   `--only-copy` because this activator execs the daemon and so keeps
//!   no copy of the listener: at SIGTERM the daemon then accepts and
//!   serves the clients already in the accept queue before it closes the
//!   listener. Without it the daemon assumes an activator still holds the
//!   socket (as systemd does) and leaves them queued, and here they are
//!   reset when the last copy closes.
//!
//!   The activator listens on 127.0.0.1:7777 and starts the daemon when
//!   the first client connects (`nc 127.0.0.1 7777`); the daemon finds
//!   the listener as fd 3. For TCP and UDP, nest two activators
//!   (`--datagram` applies to every `-l` of one run), the inner one naming
//!   both fds in order:
//!
//!   ```text
//!   systemd-socket-activate -l 127.0.0.1:7777 systemd-socket-activate --datagram -l 127.0.0.1:7778 --fdname=tcp:udp target/debug/examples/daemon --only-copy
//!   ```
//!
//!   The first TCP connect (`nc 127.0.0.1 7777`) starts it all: the outer
//!   activator execs the inner one, which binds 127.0.0.1:7778, watches
//!   both fds, finds the same connection still waiting on fd 3 and execs
//!   the daemon at once. No datagram is needed (`nc -u 127.0.0.1 7778`
//!   reaches the daemon after that; before the connect nothing listens on
//!   7778). Never `-l 7777` alone: that listens on every interface. Each
//!   activator execs the next, so `--only-copy` holds here too. A path
//!   (`-l /tmp/echo.sock`) passes a Unix listener instead: `listening unix
//!   /tmp/echo.sock ...`.
//!
//! What to look for: `listening tcp ... (socket-activated, fd name "echo")`
//! and the same pid as the activator (it execs the daemon in its own
//! process); `stats:` lines from the periodic timer, with `missed` ticks
//! if the loop was ever late; `SIGHUP from pid ...` and `SIGTERM from pid
//! ...`, the sender's pid read from the signalfd; after SIGTERM, new
//! connections are refused while current clients still get their echoes;
//! `drained: ...` and exit status 0.
//!
//! Arguments, all optional: `--backend select|select-growable|poll|epoll`
//! (or `BARESOCK_BACKEND`; default epoll), `--serve`, `--listen ADDR`
//! (default 127.0.0.1:0), `--stats-ms N` (default 1000, 100 in the
//! demonstration), `--drain-secs N` (default 10), `--only-copy` (the
//! activator keeps no copy of the listener, as systemd-socket-activate,
//! which execs the daemon: at SIGTERM, accept what is queued before
//! closing it; always so for our own socket).
//!
//! Out of fds (`EMFILE`, `RLIMIT_NOFILE`; `ENFILE`, the system's), the
//! daemon stops watching the listener until a connection of its own closes
//! or the periodic timer ticks: the clients wait in the kernel's accept
//! queue and are served as fds free up.

use baresock::activation;
use baresock::poll::{
    Backend, Event, Events, Interest, Poller, Signal, SignalSet, Signals, Timer, Token,
    block_signals,
};
use baresock::{Domain, OwnedSocket, Protocol, SockAddr, Type};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::time::Duration;

const SIGNALS: Token = Token(0);
const STATS: Token = Token(1);
const DEADLINE: Token = Token(2);
const LISTENER: Token = Token(3);
const UDP: Token = Token(4);
/// Connection `i` is registered as `Token(FIRST_CONN + i)`.
const FIRST_CONN: usize = 16;
/// A line longer than this is echoed in pieces.
const MAX_LINE: usize = 8192;
/// At most this many `accept4` per readiness of the listener: level mode
/// reports the rest, and a stream of connects cannot starve the other
/// events.
const ACCEPT_BATCH: usize = 64;
/// At SIGTERM, when the kernel cannot say how many connections are queued
/// (`TCP_INFO` is TCP's; an activated Unix listener has none): take at
/// most this many, the largest backlog `listen` grants by default
/// (`net.core.somaxconn`, 4096 since Linux 5.4).
const MAX_BACKLOG: usize = 4096;
/// Room for any UDP datagram: the 16-bit length field less the headers
/// leaves at most 65,527 bytes of payload (IPv6; IPv4: 65,507).
const MAX_DATAGRAM: usize = 65_535;

/// The signals this daemon reads from its signalfd.
fn handled() -> SignalSet {
    Signal::TERM | Signal::INT | Signal::HUP
}

struct Conn {
    sock: OwnedSocket,
    /// Bytes of a line not yet complete.
    partial: Vec<u8>,
    /// Echoes the kernel has not taken yet: its send buffer was full.
    out: Vec<u8>,
    /// Whether the peer has finished sending (end of stream).
    eof: bool,
}

#[derive(Default)]
struct Stats {
    accepted: u64,
    closed: u64,
    lines: u64,
    datagrams: u64,
    waits: u64,
    ticks: u64,
    missed: u64,
    /// Times `accept4` failed with `EMFILE`/`ENFILE` and the listener was
    /// set aside until a connection closed or the timer ticked.
    emfile_pauses: u64,
}

/// Why `accept` stopped.
#[derive(PartialEq)]
enum Stop {
    /// `EAGAIN`: the accept queue is empty.
    Empty,
    /// Out of fds: the listener is set aside (`paused`).
    OutOfFds,
    /// It made as many `accept4` calls as it was allowed.
    Cap,
}

enum Outcome {
    Drained,
    DrainDeadline(usize),
    GaveUp,
}

struct Daemon {
    poller: Box<dyn Poller>,
    signals: Signals,
    stats_timer: Timer,
    /// One-shot: the demonstration's guard, then the drain's deadline.
    deadline: Timer,
    drain_secs: u64,
    listener: Option<OwnedSocket>,
    /// Whether the listener is deregistered because fds ran out.
    paused: bool,
    /// Draining: how many of the connections queued at SIGTERM are still
    /// to be taken (the listener is kept, set aside, until they are).
    drain_quota: usize,
    /// Whether closing our listener fd closes the socket: no other process
    /// holds a copy (see `start_drain`).
    only_copy: bool,
    udp: Option<OwnedSocket>,
    /// The datagram buffer: room for the largest UDP payload.
    dgram: Vec<u8>,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    draining: bool,
    stats: Stats,
}

impl Daemon {
    fn open(&self) -> u64 {
        self.stats.accepted - self.stats.closed
    }

    fn run(&mut self) -> io::Result<Outcome> {
        let mut events = Events::with_capacity(64);
        loop {
            if self.draining && self.open() == 0 && self.listener.is_none() {
                return Ok(Outcome::Drained);
            }
            self.stats.waits += 1;
            // No timeout: the timers are fds in the same wait.
            match self.poller.wait(&mut events, None) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for event in &events {
                if let Some(outcome) = self.dispatch(event)? {
                    return Ok(outcome);
                }
            }
        }
    }

    fn dispatch(&mut self, event: &Event) -> io::Result<Option<Outcome>> {
        match event.token() {
            SIGNALS => self.on_signals(),
            STATS => {
                self.on_stats_timer();
                // Out of fds, the listener waits for an fd to free up.
                // One of our connections closing says so (`close`), but
                // with ENFILE (the system's limit) the fds free up in other
                // processes, and with no connection of our own open none
                // ever closes here: without this retry the daemon would
                // stay deaf while clients queue. So each tick tries again.
                self.resume()?;
                Ok(None)
            }
            DEADLINE => self.on_deadline(),
            LISTENER => self.accept(ACCEPT_BATCH).map(|_| None),
            UDP => self.echo_datagram().map(|()| None),
            Token(t) => {
                if let Some(id) = t.checked_sub(FIRST_CONN) {
                    self.serve(id, event)?;
                }
                Ok(None)
            }
        }
    }

    /// Reads every pending signal: one `read` of a `signalfd_siginfo` each,
    /// until WouldBlock.
    fn on_signals(&mut self) -> io::Result<Option<Outcome>> {
        loop {
            let info = match self.signals.read() {
                Ok(info) => info,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            };
            if info.signal == Signal::HUP {
                // What a daemon would take as "reload"; here, statistics.
                println!("SIGHUP from pid {}: {}", info.pid, self.stats_line());
            } else if self.draining {
                // A second TERM or INT: stop waiting for the stragglers.
                println!(
                    "{} from pid {} while draining: closing now",
                    info.signal, info.pid
                );
                return Ok(Some(Outcome::DrainDeadline(self.close_all()?)));
            } else {
                self.start_drain(info.signal, info.pid)?;
            }
        }
    }

    /// Stop accepting: the listener closes, so new clients are refused;
    /// the clients we have are served until they hang up.
    ///
    /// Closing the last fd of a listening socket resets every connection
    /// still in its accept queue, though each client's `connect()` had
    /// succeeded and its data is lost. So when ours is the only copy, the
    /// queue is accepted first and those clients are served like the rest.
    /// Ours is the only copy when we bound it, and when an activator that
    /// execs us (systemd-socket-activate) passed it: `--only-copy` says so,
    /// since no syscall tells how many fds share an open socket. systemd
    /// keeps a copy of its own: the socket goes on listening after we exit
    /// and what waits in the queue starts our next run, so we leave it.
    ///
    /// Only the connections queued now need serving: `TCP_INFO` on a
    /// listener gives the queue's length (`tcpi_unacked`), and at most
    /// that many are taken (`MAX_BACKLOG` when the kernel cannot say).
    /// Accepting until `EAGAIN` instead never ends while connects arrive as
    /// fast as they are taken: the drain would never start, nor a second
    /// SIGTERM be read. Out of fds at SIGTERM (or on the way), the rest of
    /// that quota stays in the queue and the listener is kept, unwatched,
    /// until an fd frees up (a connection closes, or the timer ticks:
    /// `resume`); it is closed once the quota is taken. Meanwhile the
    /// kernel still queues new connects, which are reset at that close;
    /// the drain deadline bounds the wait. (A connect that completes
    /// between the last `accept4` and the `close` is reset too: the kernel
    /// has no "stop queueing" call.)
    fn start_drain(&mut self, signal: Signal, pid: u32) -> io::Result<()> {
        self.draining = true;
        let mut queued = String::new();
        if let Some(l) = self.listener.as_ref().filter(|_| self.only_copy) {
            let quota = match l.tcp_info() {
                Ok(info) => info.unacked as usize,
                Err(_) => MAX_BACKLOG,
            };
            self.drain_quota = quota;
            let before = self.stats.accepted;
            if self.paused {
                // Set aside for EMFILE: the queue waits for an fd.
            } else {
                self.poller.deregister(l.as_fd())?;
                self.paused = true;
                self.take_queue()?;
            }
            queued = format!(
                ", took {} from the accept queue first",
                self.stats.accepted - before
            );
            if self.listener.is_some() {
                queued.push_str(&format!(
                    " (out of fds: up to {} more once fds free up)",
                    self.drain_quota
                ));
            }
        } else if let Some(l) = self.listener.take() {
            // Deregister before close, always (a paused listener already is).
            if !self.paused {
                self.poller.deregister(l.as_fd())?;
            }
            self.paused = false;
        }
        if let Some(u) = self.udp.take() {
            self.poller.deregister(u.as_fd())?;
        }
        self.deadline
            .set_once(Duration::from_secs(self.drain_secs))?;
        println!(
            "{signal} from pid {pid}: draining: stopped accepting{queued}, waiting for {} connections (at most {} s)",
            self.open(),
            self.drain_secs
        );
        Ok(())
    }

    /// Draining, with the listener set aside (deregistered): take what is
    /// left of the connections queued at SIGTERM, then close the listener.
    /// Out of fds, it stays for `resume` to try again.
    fn take_queue(&mut self) -> io::Result<()> {
        let (tried, stop) = self.accept(self.drain_quota)?;
        self.drain_quota -= tried;
        if stop != Stop::OutOfFds || self.drain_quota == 0 {
            // Already deregistered: close.
            self.listener = None;
            self.paused = false;
            self.drain_quota = 0;
        }
        Ok(())
    }

    /// The listener was set aside for lack of fds: try again. Serving,
    /// watch it again (a wait reports it, and `accept` sets it aside again
    /// if fds are still short); draining, take the rest of the queue.
    fn resume(&mut self) -> io::Result<()> {
        if !self.paused {
            return Ok(());
        }
        let Some(l) = &self.listener else {
            self.paused = false;
            return Ok(());
        };
        if self.draining {
            return self.take_queue();
        }
        self.poller
            .register(l.as_fd(), LISTENER, Interest::READABLE)?;
        self.paused = false;
        Ok(())
    }

    fn on_stats_timer(&mut self) {
        // The count of expirations since the last read: more than one
        // means the loop was late and ticks were missed.
        let n = match self.stats_timer.read() {
            Ok(n) => n,
            // Set again in between: nothing to report.
            Err(_) => return,
        };
        self.stats.ticks += n;
        self.stats.missed += n - 1;
        println!("stats: {}", self.stats_line());
    }

    fn stats_line(&self) -> String {
        let s = &self.stats;
        format!(
            "{} open, {} accepted, {} lines, {} datagrams, {} waits, {} ticks ({} missed), {} EMFILE pauses",
            self.open(),
            s.accepted,
            s.lines,
            s.datagrams,
            s.waits,
            s.ticks,
            s.missed,
            s.emfile_pauses
        )
    }

    fn on_deadline(&mut self) -> io::Result<Option<Outcome>> {
        if self.deadline.read().is_err() {
            return Ok(None);
        }
        if self.draining {
            let n = self.close_all()?;
            println!("drain deadline: closed {n} connections that were still open");
            Ok(Some(Outcome::DrainDeadline(n)))
        } else {
            Ok(Some(Outcome::GaveUp))
        }
    }

    /// accept4 until WouldBlock, at most `max` times: level mode would
    /// report the rest anyway, but one wait per connection is a waste.
    /// Returns how many `accept4` calls it made and why it stopped.
    fn accept(&mut self, max: usize) -> io::Result<(usize, Stop)> {
        let Some(listener) = &self.listener else {
            return Ok((0, Stop::Empty));
        };
        for tried in 0..max {
            match listener.accept_nonblocking() {
                Ok((sock, _peer)) => {
                    let id = self.free.pop().unwrap_or_else(|| {
                        self.conns.push(None);
                        self.conns.len() - 1
                    });
                    let token = Token(FIRST_CONN + id);
                    if let Err(e) = self
                        .poller
                        .register(sock.as_fd(), token, Interest::READABLE)
                    {
                        // select refuses fds >= FD_SETSIZE: turn the
                        // client away rather than fail the daemon.
                        eprintln!("daemon: cannot watch a new connection: {e}");
                        self.free.push(id);
                        continue;
                    }
                    self.conns[id] = Some(Conn {
                        sock,
                        partial: Vec::new(),
                        out: Vec::new(),
                        eof: false,
                    });
                    self.stats.accepted += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((tried, Stop::Empty)),
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    // Out of fds (RLIMIT_NOFILE, or the system's limit).
                    // The connection stays in the kernel's accept queue and
                    // the listener stays readable, so watching it would
                    // spin: set it aside until a connection closes and
                    // frees an fd (`close`), or the timer ticks (`resume`).
                    // Failing here would end the daemon and reset every
                    // client it has.
                    if !self.paused {
                        self.poller.deregister(listener.as_fd())?;
                        self.paused = true;
                    }
                    self.stats.emfile_pauses += 1;
                    return Ok((tried, Stop::OutOfFds));
                }
                // The client gave up before we took it.
                Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok((max, Stop::Cap))
    }

    fn echo_datagram(&mut self) -> io::Result<()> {
        let Some(udp) = &self.udp else {
            return Ok(());
        };
        // A datagram longer than the buffer would be cut to it and the
        // rest lost, without a word: the buffer holds the largest UDP
        // payload (65,507 bytes over IPv4, 65,527 over IPv6), so every
        // datagram arrives whole.
        let buf = &mut self.dgram;
        match udp.recv_from(buf) {
            Ok((n, from)) => {
                self.stats.datagrams += 1;
                // A datagram send either goes whole or fails; a full
                // buffer drops it, as UDP may.
                if let Err(e) = udp.send_to(&buf[..n], &from) {
                    eprintln!("daemon: udp echo: {e}");
                }
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// One recv per readiness (level mode reports the rest), complete lines
    /// echoed, partial writes kept and flushed when writable.
    fn serve(&mut self, id: usize, event: &Event) -> io::Result<()> {
        let Some(conn) = self.conns.get_mut(id).and_then(Option::as_mut) else {
            // Closed earlier in this batch of events.
            return Ok(());
        };
        let mut dead = false;
        if event.is_readable() && conn.out.is_empty() && !conn.eof {
            let mut buf = [0u8; 4096];
            match conn.sock.recv(&mut buf) {
                Ok(0) => conn.eof = true,
                Ok(n) => {
                    conn.partial.extend_from_slice(&buf[..n]);
                    while let Some(end) = conn.partial.iter().position(|&b| b == b'\n') {
                        conn.out.extend(conn.partial.drain(..=end));
                        self.stats.lines += 1;
                    }
                    if conn.partial.len() > MAX_LINE {
                        conn.out.append(&mut conn.partial);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // ECONNRESET and friends: the client is gone.
                Err(_) => dead = true,
            }
        }
        if conn.eof && !conn.partial.is_empty() {
            // The last line had no newline: echo it as it is.
            conn.out.append(&mut conn.partial);
        }
        if !conn.out.is_empty() && !dead {
            match conn.sock.send(&conn.out) {
                Ok(n) => {
                    conn.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // EPIPE (never SIGPIPE: sends pass MSG_NOSIGNAL).
                Err(_) => dead = true,
            }
        }
        if dead || (conn.eof && conn.out.is_empty()) {
            return self.close(id);
        }
        // Backpressure: while echoes wait, watch for room and read nothing.
        let want = if conn.out.is_empty() {
            Interest::READABLE
        } else {
            Interest::WRITABLE
        };
        self.poller
            .reregister(conn.sock.as_fd(), Token(FIRST_CONN + id), want)
    }

    /// Deregister, then close: never leave a closed fd registered.
    fn close(&mut self, id: usize) -> io::Result<()> {
        if let Some(conn) = self.conns[id].take() {
            self.poller.deregister(conn.sock.as_fd())?;
            drop(conn);
            self.free.push(id);
            self.stats.closed += 1;
            // An fd is free again: take up the listener again.
            self.resume()?;
        }
        Ok(())
    }

    /// Closes every connection, and the listener if the drain kept it:
    /// the end, so no queued connection is taken now.
    fn close_all(&mut self) -> io::Result<usize> {
        if let Some(l) = self.listener.take() {
            if !self.paused {
                self.poller.deregister(l.as_fd())?;
            }
            self.paused = false;
        }
        let mut n = 0;
        for id in 0..self.conns.len() {
            if self.conns[id].is_some() {
                self.close(id)?;
                n += 1;
            }
        }
        Ok(n)
    }
}

struct Args {
    backend: Backend,
    serve: bool,
    listen: SocketAddr,
    stats_ms: Option<u64>,
    drain_secs: u64,
    only_copy: bool,
}

fn parse_args() -> Result<Args, String> {
    let backend = match std::env::var("BARESOCK_BACKEND") {
        Ok(name) => name.parse().map_err(|e| format!("BARESOCK_BACKEND: {e}"))?,
        Err(_) => Backend::default(),
    };
    let mut args = Args {
        backend,
        serve: false,
        listen: "127.0.0.1:0".parse().unwrap(),
        stats_ms: None,
        drain_secs: 10,
        only_copy: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--backend" => {
                args.backend = value("--backend")?.parse().map_err(|e| format!("{e}"))?;
            }
            "--serve" => args.serve = true,
            "--only-copy" => args.only_copy = true,
            "--listen" => {
                args.listen = value("--listen")?
                    .parse()
                    .map_err(|e| format!("--listen: {e}"))?;
            }
            "--stats-ms" => {
                let v = value("--stats-ms")?;
                args.stats_ms = Some(v.parse().map_err(|e| format!("--stats-ms: {e}"))?);
            }
            "--drain-secs" => {
                let v = value("--drain-secs")?;
                args.drain_secs = v.parse().map_err(|e| format!("--drain-secs: {e}"))?;
            }
            _ => return Err(format!("unknown argument {a:?}")),
        }
    }
    Ok(args)
}

/// The sockets to serve: the ones systemd passed, or our own.
fn sockets(args: &Args) -> io::Result<(OwnedSocket, Option<OwnedSocket>, bool)> {
    let passed = activation::listen_fds()?;
    if passed.is_empty() {
        let addr = SockAddr::from(args.listen);
        let domain = if args.listen.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        let tcp = OwnedSocket::new_nonblocking(domain, Type::STREAM, Protocol::DEFAULT)?;
        tcp.set_reuse_address(true)?;
        tcp.bind(&addr)?;
        tcp.listen(128)?;
        let udp = OwnedSocket::new_nonblocking(domain, Type::DGRAM, Protocol::DEFAULT)?;
        // The TCP listener's port for UDP too, if it is free there (TCP
        // and UDP ports are separate spaces); any free port if not.
        if let Err(e) = udp.bind(&tcp.local_addr()?) {
            if e.raw_os_error() != Some(libc::EADDRINUSE) || args.listen.port() != 0 {
                return Err(e);
            }
            udp.bind(&addr)?;
        }
        for (what, s) in [("tcp", &tcp), ("udp", &udp)] {
            println!("listening {what} {} (own socket)", show(s));
        }
        return Ok((tcp, Some(udp), false));
    }
    let (mut tcp, mut udp) = (None, None);
    for s in passed {
        let slot = if s.listening && tcp.is_none() {
            &mut tcp
        } else if s.ty == Type::DGRAM && udp.is_none() {
            &mut udp
        } else {
            eprintln!("daemon: ignoring passed fd {:?} ({:?})", s.name, s.ty);
            continue;
        };
        // systemd passes its sockets as they are: blocking. Our loop
        // needs WouldBlock to end each drain.
        s.socket.set_nonblocking(true)?;
        println!(
            "listening {} {} (socket-activated, fd name {:?})",
            kind(&s.socket, s.ty),
            show(&s.socket),
            s.name
        );
        *slot = Some(s.socket);
    }
    let tcp = tcp.ok_or_else(|| io::Error::other("activated without a listening TCP socket"))?;
    Ok((tcp, udp, true))
}

/// The socket's address as `SockAddr`'s Display prints it: std's form for
/// IP, the path, `@name` or `(unnamed)` for Unix.
fn show(s: &OwnedSocket) -> String {
    match s.local_addr() {
        Ok(a) => a.to_string(),
        Err(e) => format!("(getsockname: {e})"),
    }
}

/// What a passed socket is, for the `listening` line: `tcp`/`udp` for IP,
/// `unix`/`unix datagram` for a Unix socket (a path given to the
/// activator's `-l`).
fn kind(s: &OwnedSocket, ty: Type) -> &'static str {
    let unix = s
        .local_addr()
        .is_ok_and(|a| a.domain() == Some(Domain::UNIX));
    match (unix, ty == Type::DGRAM) {
        (false, false) => "tcp",
        (false, true) => "udp",
        (true, false) => "unix",
        (true, true) => "unix datagram",
    }
}

/// The demonstration's clients, on a thread of their own. It starts after
/// `main` blocked the signals, so it has them blocked too, as every thread
/// must.
fn demonstration(tcp: SocketAddr, udp: Option<SocketAddr>) -> io::Result<String> {
    let connect = || -> io::Result<BufReader<TcpStream>> {
        let s = TcpStream::connect(tcp)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(BufReader::new(s))
    };
    let echo = |c: &mut BufReader<TcpStream>, line: &str| -> io::Result<()> {
        c.get_mut().write_all(line.as_bytes())?;
        let mut back = String::new();
        c.read_line(&mut back)?;
        if back == line {
            Ok(())
        } else {
            Err(io::Error::other(format!("sent {line:?}, got {back:?}")))
        }
    };
    let mut clients = Vec::new();
    for id in 0..3 {
        let mut c = connect()?;
        for round in 0..3 {
            echo(&mut c, &format!("client {id} line {round}\n"))?;
        }
        clients.push(c);
    }
    if let Some(udp) = udp {
        let u = UdpSocket::bind("127.0.0.1:0")?;
        u.set_read_timeout(Some(Duration::from_secs(10)))?;
        u.send_to(b"a datagram", udp)?;
        let mut buf = [0u8; 64];
        let (n, _) = u.recv_from(&mut buf)?;
        if &buf[..n] != b"a datagram" {
            return Err(io::Error::other("datagram echo differs"));
        }
    }
    // Give the periodic timer time to print a few statistics.
    std::thread::sleep(Duration::from_millis(250));
    let me = std::process::id();
    Signal::HUP.send_to(me)?;
    // As `kill -TERM PID` from a shell, or systemd's stop.
    Signal::TERM.send_to(me)?;
    // Current clients are still served while the daemon drains...
    echo(&mut clients[0], "still served while draining\n")?;
    // ... but new ones are refused once the listener is closed. (Until the
    // daemon has read the SIGTERM, a connect still succeeds: retry.)
    let mut refused = false;
    for _ in 0..250 {
        match TcpStream::connect(tcp) {
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                refused = true;
                break;
            }
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    if !refused {
        return Err(io::Error::other(
            "new connections still accepted after SIGTERM",
        ));
    }
    // Hanging up lets the drain finish.
    drop(clients);
    Ok("demonstration: 3 clients echoed, a datagram echoed, SIGHUP and SIGTERM sent, new connections refused while draining".into())
}

fn main() {
    // First, before any thread starts: block the signals the signalfd
    // will read. Every thread started from here on inherits the block, so
    // the kernel can give SIGTERM to no thread and leaves it pending for
    // the signalfd.
    if let Err(e) = block_signals(handled()) {
        eprintln!("daemon: cannot block signals: {e}");
        std::process::exit(1);
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("daemon: {e}");
            std::process::exit(2);
        }
    };
    match run(args) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("daemon: {e}");
            std::process::exit(1);
        }
    }
}

fn run(args: Args) -> io::Result<i32> {
    let (tcp, udp, activated) = sockets(&args)?;
    // Our own socket has no other copy; an activated one may (start_drain).
    let only_copy = !activated || args.only_copy;
    let demo = !activated && !args.serve;
    let stats_every = Duration::from_millis(args.stats_ms.unwrap_or(if demo { 100 } else { 1000 }));

    let mut poller = args.backend.build()?;
    let signals = Signals::new(handled())?;
    let stats_timer = Timer::periodic(stats_every)?;
    let deadline = Timer::new()?;
    poller.register(signals.as_fd(), SIGNALS, Interest::READABLE)?;
    poller.register(stats_timer.as_fd(), STATS, Interest::READABLE)?;
    poller.register(deadline.as_fd(), DEADLINE, Interest::READABLE)?;
    poller.register(tcp.as_fd(), LISTENER, Interest::READABLE)?;
    if let Some(u) = &udp {
        poller.register(u.as_fd(), UDP, Interest::READABLE)?;
    }
    println!(
        "daemon: pid {}, backend {}; SIGTERM or SIGINT drains, SIGHUP prints statistics",
        std::process::id(),
        args.backend
    );

    let tcp_addr = tcp.local_addr()?.as_socket();
    let udp_addr = udp.as_ref().and_then(|u| u.local_addr().ok()?.as_socket());
    let mut daemon = Daemon {
        poller,
        signals,
        stats_timer,
        deadline,
        drain_secs: args.drain_secs,
        listener: Some(tcp),
        paused: false,
        drain_quota: 0,
        only_copy,
        udp,
        dgram: vec![0; MAX_DATAGRAM],
        conns: Vec::new(),
        free: Vec::new(),
        draining: false,
        stats: Stats::default(),
    };
    let clients = if demo {
        let tcp_addr = tcp_addr.ok_or_else(|| io::Error::other("no TCP address"))?;
        println!(
            "demonstration: to serve outside clients, run with --serve (then nc 127.0.0.1 PORT)"
        );
        // A guard: a demonstration that hangs gives up after 30 s.
        daemon.deadline.set_once(Duration::from_secs(30))?;
        Some(std::thread::spawn(move || {
            demonstration(tcp_addr, udp_addr)
        }))
    } else {
        None
    };

    let outcome = daemon.run()?;
    let mut code = 0;
    if let Some(clients) = clients {
        match clients.join().expect("demonstration thread") {
            Ok(summary) => println!("{summary}"),
            Err(e) => {
                eprintln!("daemon: demonstration failed: {e}");
                code = 1;
            }
        }
    }
    let s = &daemon.stats;
    let how = match outcome {
        Outcome::Drained => "drained".to_string(),
        Outcome::DrainDeadline(n) => format!("drain cut short ({n} closed)"),
        Outcome::GaveUp => {
            eprintln!("daemon: the demonstration did not finish in time");
            code = 1;
            "gave up".to_string()
        }
    };
    println!(
        "{how}: served {} connections, {} lines, {} datagrams, {} waits, {} ticks; exit {code}",
        s.accepted, s.lines, s.datagrams, s.waits, s.ticks
    );
    Ok(code)
}
