//! `select_chat`: a multi-client chat server on select(2), the counterpart
//! of `selectserver.c` in Beej's guide. Every line a client sends goes to
//! every other client.
//!
//! # What it teaches
//!
//! - One thread serves many clients by asking the kernel which sockets are
//!   ready: the select backend hands `pselect6` a set of fds to watch for
//!   reading (and one for writing) and gets back the subset that is ready.
//!   The listener is in the read set too: it is readable when a connection
//!   waits in its queue.
//! - Accepted sockets are nonblocking from birth (`accept4` with
//!   `SOCK_NONBLOCK`, no `fcntl`), so a `send` or `recv` the kernel cannot
//!   do at once fails with `EAGAIN` instead of stopping every client.
//! - `send` may take fewer bytes than asked, or none (`EAGAIN`), when the
//!   receiver's buffers are full. Beej's `selectserver.c` ignores that; a
//!   real server keeps the rest in the client's outgoing buffer, adds the
//!   client to the *write* set, and sends more when `pselect6` says it is
//!   writable. One slow reader then costs memory (capped here), never the
//!   other clients' time.
//! - A stream has no message boundaries: each `recv` returns whatever
//!   arrived, so the server keeps a partial line per client and relays
//!   only whole lines.
//! - `recv` returning 0 is the client's FIN: the server stops reading it,
//!   still sends what it owes, then deregisters and closes it.
//! - Out of fds (`EMFILE`): the connection waits in the kernel's accept
//!   queue and the listener stays readable, so the server stops watching
//!   the listener until a client leaves, instead of spinning (as
//!   `examples/echo_server.rs` does). And select cannot watch an fd at or
//!   above `FD_SETSIZE` (1024): such a client is told so and turned away.
//!
//! # Syscalls
//!
//! `socket`, `setsockopt(SO_REUSEADDR)`, `bind`, `listen`, `getsockname`;
//! then per wait `pselect6` (glibc's `select`); `accept4(...,
//! SOCK_CLOEXEC|SOCK_NONBLOCK)` until `EAGAIN`; `recvfrom` (one per
//! readable client per wait); `sendto` (relayed lines, each maybe partial
//! or `EAGAIN`); `close`. The demonstration adds, in the main thread,
//! three client sockets (`socket`, `setsockopt(SO_RCVBUF)`, `connect`) and
//! `setsockopt(SO_SNDBUF)` on each accepted socket: small buffers, so that
//! a few kilobytes fill them and the outgoing buffers are seen at work.
//!
//! # Run it
//!
//! ```text
//! cargo run --example select_chat                                 # demonstration
//! cargo run --example select_chat -- 127.0.0.1:9034 --conns 3    # serve 3 clients
//! cargo run --example select_chat -- 127.0.0.1:9034 --secs 300   # ... or 5 minutes
//! ```
//!
//! Without arguments it starts three clients of its own (threads using
//! std's `TcpStream` on sockets the main thread made), which join, each
//! send 40 lines of 280 bytes, and check they received every line of the other two, in
//! order. Client 1 reads nothing until the other two have received
//! everything, so the server must keep client 1's share in its outgoing
//! buffer meanwhile. It exits 0 when all three have left.
//!
//! With arguments it serves outside clients: run `nc 127.0.0.1 9034` in
//! two or three terminals and type. It exits when `--conns` connections
//! have closed or `--secs` seconds have passed (default: 300 seconds);
//! `--sndbuf BYTES` shrinks each connection's send buffer, as the
//! demonstration does.
//!
//! # What to look for in the trace
//!
//! `BARESOCK_TRACE=1 cargo run --example select_chat --features trace` prints
//! each syscall as strace would, on stderr, between the server's own lines. From one
//! run (ports, timeouts and where the kernel cuts the byte stream differ
//! from run to run); fds 4-6 are the demonstration's client sockets, 7-9
//! the server's ends of them, and 7 is client 1, the slow reader:
//!
//! - `pselect6(4, [3], [], [], {tv_sec=29, tv_nsec=999679000}, NULL) = 1
//!   (in [3], left {tv_sec=29, tv_nsec=999676000})`: the first wait
//!   watches only the listener (3); the answer says it is readable:
//!   connections wait in its queue. Linux writes the time left back.
//! - `accept4(3, {sa_family=AF_INET, sin_port=htons(55908),
//!   sin_addr=inet_addr("127.0.0.1")}, [128 => 16],
//!   SOCK_CLOEXEC|SOCK_NONBLOCK) = 7`, then `setsockopt(7, SOL_SOCKET,
//!   SO_SNDBUF, [4096], 4) = 0` (the demonstration's small buffer), and
//!   after the third, `accept4(3, 0x7ffcebdf7798, [128],
//!   SOCK_CLOEXEC|SOCK_NONBLOCK) = -1 EAGAIN (Resource temporarily
//!   unavailable)`: the queue is empty (the address is the buffer the
//!   kernel did not fill).
//! - `recvfrom(7, ".......................\nmessage "..., 4096, 0, NULL,
//!   NULL) = 1886`: a recv returns whatever has arrived, cut anywhere,
//!   mid-line included: the server relays whole lines only.
//! - `sendto(7, "client 3: message 6 from client "..., 275, MSG_NOSIGNAL,
//!   NULL, 0) = -1 EAGAIN (Resource temporarily unavailable)`: client 1's
//!   buffers are full; the line waits in the server's memory, and fd 7
//!   joins the write set: `pselect6(10, [3 7 8 9], [7], [], ...)`.
//! - `pselect6(10, [3 7 8 9], [7 8 9], [], {tv_sec=29,
//!   tv_nsec=995803000}, NULL) = 2 (out [8 9], left {tv_sec=29,
//!   tv_nsec=995672000})`, then `sendto(8, "client 1: message 7 from client
//!   "..., 16005, MSG_NOSIGNAL, NULL, 0) = 6144`: room again, and a
//!   partial send: the kernel took 6144 of the 16005 bytes owed; the next
//!   waits let the rest follow (`= 6144`, then `= 3717`).
//! - `recvfrom(8, "", 4096, 0, NULL, NULL) = 0`, then `close(8) = 0`: a
//!   client's FIN, and the close once nothing is owed to it. As clients
//!   leave, `pselect6`'s first argument (the highest fd watched, plus one)
//!   shrinks: `pselect6(8, [3 7], [7], [], ...) = 1 (out [7], ...)` while
//!   client 1 still gets what it is owed.

use baresock::poll::{Backend, Events, Interest, Poller, Token};
use baresock::{Domain, OwnedSocket, Protocol, SockAddr, Type};
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

const LISTENER: Token = Token(usize::MAX);
/// A line longer than this is relayed in pieces of this size.
const MAX_LINE: usize = 1024;
/// A client the server owes more than this reads too slowly to keep: it is
/// dropped, so one stalled reader cannot eat the server's memory.
const MAX_OWED: usize = 1 << 20;

struct Client {
    sock: OwnedSocket,
    /// The client's number in the room (the fd number is reused; this is
    /// not).
    number: u64,
    /// Bytes of a line not yet complete.
    partial: Vec<u8>,
    /// Bytes owed to the client that the kernel has not taken yet.
    owed: Vec<u8>,
    /// The client sent its FIN: read no more, close once `owed` is sent.
    finished: bool,
    /// Whether the fd is in the write set.
    watching_writes: bool,
}

#[derive(Default, Debug)]
struct Stats {
    accepted: u64,
    closed: u64,
    waits: u64,
    lines: u64,
    /// Sends the kernel did not take whole (partial or `EAGAIN`).
    short_sends: u64,
    /// The most bytes the server owed one client at once.
    most_owed: usize,
    emfile_pauses: u64,
    turned_away: u64,
}

struct Server {
    poller: Box<dyn Poller>,
    listener: OwnedSocket,
    /// Clients by token (a slab: the token is the index).
    clients: Vec<Option<Client>>,
    free: Vec<usize>,
    next_number: u64,
    /// SO_SNDBUF for accepted sockets, if asked.
    sndbuf: Option<usize>,
    /// Whether the listener is out of the read set because fds ran out.
    paused: bool,
    stats: Stats,
}

impl Server {
    fn new(addr: SocketAddr, sndbuf: Option<usize>) -> io::Result<Server> {
        let domain = if addr.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        let listener = OwnedSocket::new_nonblocking(domain, Type::STREAM, Protocol::DEFAULT)?;
        // Restart at once on the same port, TIME_WAIT or not.
        listener.set_reuse_address(true)?;
        listener.bind(&SockAddr::from(addr))?;
        listener.listen(64)?;
        // The select backend: registering only edits user-space fd sets;
        // each wait is one pselect6.
        let mut poller = Backend::Select.build()?;
        poller.register(listener.as_fd(), LISTENER, Interest::READABLE)?;
        Ok(Server {
            poller,
            listener,
            clients: Vec::new(),
            free: Vec::new(),
            next_number: 1,
            sndbuf,
            paused: false,
            stats: Stats::default(),
        })
    }

    /// Serves until `conns` connections have closed or `deadline` passes.
    fn run(&mut self, conns: Option<u64>, deadline: Option<Instant>) -> io::Result<()> {
        let mut events = Events::with_capacity(64);
        loop {
            if conns.is_some_and(|n| self.stats.closed >= n) {
                return Ok(());
            }
            let timeout = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) => Some(left),
                    None => return Ok(()),
                },
                None => None,
            };
            self.stats.waits += 1;
            match self.poller.wait(&mut events, timeout) {
                Ok(_) => {}
                // A signal: not an error, wait again.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for event in &events {
                if event.token() == LISTENER {
                    self.accept()?;
                    continue;
                }
                let id = event.token().0;
                // Owed bytes first: the client has room now.
                if event.is_writable() {
                    self.flush(id)?;
                }
                if event.is_readable() {
                    self.read_from(id)?;
                }
            }
        }
    }

    /// Accepts what waits in the queue, until `EAGAIN` ends the drain.
    fn accept(&mut self) -> io::Result<()> {
        loop {
            let (sock, peer) = match self.listener.accept_nonblocking() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    // Out of fds. The connection stays queued and the
                    // listener stays readable: watching it would spin.
                    // Stop until a client leaves and frees an fd.
                    self.poller.deregister(self.listener.as_fd())?;
                    self.paused = true;
                    self.stats.emfile_pauses += 1;
                    println!("out of fds: not accepting until a client leaves");
                    return Ok(());
                }
                // The peer gave up before we took it, or a signal.
                Err(e)
                    if e.raw_os_error() == Some(libc::ECONNABORTED)
                        || e.kind() == io::ErrorKind::Interrupted =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(size) = self.sndbuf {
                sock.set_send_buffer_size(size)?;
            }
            let id = self.free.pop().unwrap_or_else(|| {
                self.clients.push(None);
                self.clients.len() - 1
            });
            if let Err(e) = self
                .poller
                .register(sock.as_fd(), Token(id), Interest::READABLE)
            {
                // select refuses fds >= FD_SETSIZE (InvalidInput): say so
                // and hang up rather than fail the whole server.
                let _ = sock.send(format!("* sorry, the room is full ({e})\n").as_bytes());
                self.free.push(id);
                self.stats.turned_away += 1;
                continue;
            }
            let number = self.next_number;
            self.next_number += 1;
            let fd = sock.as_raw_fd();
            self.clients[id] = Some(Client {
                sock,
                number,
                partial: Vec::new(),
                owed: Vec::new(),
                finished: false,
                watching_writes: false,
            });
            self.stats.accepted += 1;
            let peer = peer.as_socket().map_or("?".to_owned(), |a| a.to_string());
            println!("new connection from {peer} on socket {fd}: client {number}");
            let here = self.clients.iter().flatten().count();
            self.send_to(
                id,
                format!("* welcome, client {number}: {here} in the room\n").as_bytes(),
            )?;
            self.broadcast(id, format!("* client {number} joined\n").as_bytes())?;
        }
    }

    /// One `recv` per readiness (select is level-triggered: whatever is
    /// left is reported again by the next wait), then relays whole lines.
    fn read_from(&mut self, id: usize) -> io::Result<()> {
        let Some(client) = self.clients.get_mut(id).and_then(Option::as_mut) else {
            return Ok(());
        };
        if client.finished {
            return Ok(());
        }
        let mut buf = [0u8; 4096];
        let n = match client.sock.recv(&mut buf) {
            Ok(0) => {
                // FIN: the client sends no more. Send what is owed, then
                // close.
                client.finished = true;
                let number = client.number;
                self.broadcast(id, format!("* client {number} left\n").as_bytes())?;
                return self.close_if_done(id);
            }
            Ok(n) => n,
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted =>
            {
                return Ok(());
            }
            // ECONNRESET and friends: the client is gone.
            Err(_) => return self.close(id),
        };
        client.partial.extend_from_slice(&buf[..n]);
        let number = client.number;
        let mut lines = Vec::new();
        while let Some(end) = client.partial.iter().position(|&b| b == b'\n') {
            lines.push(client.partial.drain(..=end).collect::<Vec<u8>>());
        }
        if client.partial.len() >= MAX_LINE {
            let mut piece: Vec<u8> = client.partial.drain(..).collect();
            piece.push(b'\n');
            lines.push(piece);
        }
        for line in lines {
            self.stats.lines += 1;
            let mut relayed = format!("client {number}: ").into_bytes();
            relayed.extend_from_slice(&line);
            self.broadcast(id, &relayed)?;
        }
        Ok(())
    }

    /// Queues `bytes` for every client but `from` (and those leaving).
    fn broadcast(&mut self, from: usize, bytes: &[u8]) -> io::Result<()> {
        for id in 0..self.clients.len() {
            let to_it = id != from && self.clients[id].as_ref().is_some_and(|c| !c.finished);
            if to_it {
                self.send_to(id, bytes)?;
            }
        }
        Ok(())
    }

    /// Sends `bytes` to one client, keeping what the kernel does not take.
    fn send_to(&mut self, id: usize, bytes: &[u8]) -> io::Result<()> {
        let Some(client) = self.clients.get_mut(id).and_then(Option::as_mut) else {
            return Ok(());
        };
        if !client.owed.is_empty() {
            // Earlier bytes wait: these go behind them, in order.
            client.owed.extend_from_slice(bytes);
        } else {
            match client.sock.send(bytes) {
                Ok(n) if n == bytes.len() => return Ok(()),
                Ok(n) => {
                    // A partial send: the kernel took n bytes.
                    self.stats.short_sends += 1;
                    client.owed.extend_from_slice(&bytes[n..]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stats.short_sends += 1;
                    client.owed.extend_from_slice(bytes);
                }
                // EPIPE, ECONNRESET: the client is gone.
                Err(_) => return self.close(id),
            }
        }
        self.stats.most_owed = self.stats.most_owed.max(client.owed.len());
        if client.owed.len() > MAX_OWED {
            println!("client {} reads too slowly: dropped", client.number);
            return self.close(id);
        }
        self.watch(id)
    }

    /// Sends what is owed to a writable client.
    fn flush(&mut self, id: usize) -> io::Result<()> {
        let Some(client) = self.clients.get_mut(id).and_then(Option::as_mut) else {
            return Ok(());
        };
        if client.owed.is_empty() {
            return self.watch(id);
        }
        match client.sock.send(&client.owed) {
            Ok(n) => {
                if n < client.owed.len() {
                    self.stats.short_sends += 1;
                }
                client.owed.drain(..n);
            }
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return self.close(id),
        }
        self.watch(id)?;
        self.close_if_done(id)
    }

    /// Puts the client in the write set while bytes are owed to it, and
    /// takes it out when they are not; a finished client is in no read
    /// set.
    fn watch(&mut self, id: usize) -> io::Result<()> {
        let Some(client) = self.clients.get_mut(id).and_then(Option::as_mut) else {
            return Ok(());
        };
        let want_writes = !client.owed.is_empty();
        if want_writes == client.watching_writes {
            return Ok(());
        }
        let interest = match (want_writes, client.finished) {
            (true, false) => Interest::READABLE | Interest::WRITABLE,
            (true, true) => Interest::WRITABLE,
            // Nothing owed and finished: close_if_done closes it.
            (false, _) => Interest::READABLE,
        };
        self.poller
            .reregister(client.sock.as_fd(), Token(id), interest)?;
        client.watching_writes = want_writes;
        Ok(())
    }

    fn close_if_done(&mut self, id: usize) -> io::Result<()> {
        let done = self.clients[id]
            .as_ref()
            .is_some_and(|c| c.finished && c.owed.is_empty());
        if done { self.close(id) } else { Ok(()) }
    }

    /// Deregister, then close: never leave a closed fd in a set.
    fn close(&mut self, id: usize) -> io::Result<()> {
        let Some(client) = self.clients[id].take() else {
            return Ok(());
        };
        self.poller.deregister(client.sock.as_fd())?;
        let (number, fd, finished) = (client.number, client.sock.as_raw_fd(), client.finished);
        drop(client);
        println!("socket {fd} hung up: client {number}");
        self.free.push(id);
        self.stats.closed += 1;
        if !finished {
            // Gone without a FIN (a reset, or dropped): tell the others
            // now. (A FIN was announced when it came.)
            self.broadcast(id, format!("* client {number} left\n").as_bytes())?;
        }
        if self.paused {
            // An fd is free again: accept again.
            self.poller
                .register(self.listener.as_fd(), LISTENER, Interest::READABLE)?;
            self.paused = false;
        }
        Ok(())
    }
}

struct Args {
    addr: SocketAddr,
    conns: Option<u64>,
    secs: Option<u64>,
    sndbuf: Option<usize>,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut it = std::env::args().skip(1).peekable();
    if it.peek().is_none() {
        return Ok(None);
    }
    let mut args = Args {
        addr: "127.0.0.1:9034".parse().unwrap(),
        conns: None,
        secs: None,
        sndbuf: None,
    };
    while let Some(a) = it.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match a.as_str() {
            "--conns" => args.conns = Some(number("--conns")?),
            "--secs" => args.secs = Some(number("--secs")?),
            "--sndbuf" => args.sndbuf = Some(number("--sndbuf")? as usize),
            _ => {
                args.addr = a
                    .parse()
                    .map_err(|_| format!("not an address or option: {a:?}"))?;
            }
        }
    }
    Ok(Some(args))
}

const DEMO_CLIENTS: usize = 3;
const DEMO_LINES: usize = 40;

/// How long a demonstration client waits for the others at a [`Gate`]: as
/// long as it waits for a line from the server.
const DEMO_WAIT: Duration = Duration::from_secs(20);

/// A meeting point for the demonstration's clients, like std's `Barrier`
/// but bounded: `wait` gives up after [`DEMO_WAIT`], or at once when a
/// client has failed and called `abandon`. Under a tight fd limit
/// (`prlimit --nofile=8:8`) the server cannot accept every client, and
/// those it never accepts never arrive: every wait here ends by itself.
struct Gate {
    /// How many clients have arrived, and whether one has given up.
    state: Mutex<(usize, bool)>,
    arrived: Condvar,
    count: usize,
}

impl Gate {
    fn new(count: usize) -> Gate {
        Gate {
            state: Mutex::new((0, false)),
            arrived: Condvar::new(),
            count,
        }
    }

    /// Waits until all `count` clients have arrived; `TimedOut` after
    /// `DEMO_WAIT`, or an error as soon as one abandons.
    fn wait(&self, what: &str) -> io::Result<()> {
        let deadline = Instant::now() + DEMO_WAIT;
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.0 += 1;
        self.arrived.notify_all();
        loop {
            if s.0 >= self.count {
                return Ok(());
            }
            if s.1 {
                return Err(io::Error::other(format!(
                    "{what}: another client failed first"
                )));
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{what}: {} of {} clients arrived in {DEMO_WAIT:?}",
                        s.0, self.count
                    ),
                ));
            };
            s = self
                .arrived
                .wait_timeout(s, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// A client failed: the others stop waiting for it.
    fn abandon(&self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).1 = true;
        self.arrived.notify_all();
    }
}

/// What one demonstration client saw.
struct Seen {
    number: u64,
    /// Lines received from each other client.
    from: BTreeMap<u64, usize>,
}

/// A demonstration client: read the welcome, wait for the others, send
/// `DEMO_LINES` lines, receive every line of the others (the slow one only
/// after the others have all of theirs), then leave with a FIN and read
/// until the server closes.
fn demo_client(
    shared: Arc<TcpStream>,
    slow: bool,
    joined: &Gate,
    fast_done: &Gate,
) -> io::Result<Seen> {
    let bad = |what: String| io::Error::other(what);
    let stream: &TcpStream = &shared;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let number: u64 = line
        .strip_prefix("* welcome, client ")
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| bad(format!("not a welcome: {line:?}")))?;
    // Everyone is in the room before anyone speaks.
    joined.wait("waiting for the others to join")?;
    let pad = ".".repeat(240);
    // `&TcpStream` is `Write`: a mutable binding of the reference.
    let mut out = stream;
    for i in 0..DEMO_LINES {
        writeln!(out, "message {i} from client {number} {pad}")?;
    }
    if slow {
        // Read nothing until the others are done: meanwhile the server
        // owes us their lines and keeps them.
        fast_done.wait("waiting for the fast readers")?;
    }
    let mut from: BTreeMap<u64, usize> = BTreeMap::new();
    let others = (DEMO_CLIENTS - 1) * DEMO_LINES;
    let mut fin_sent = false;
    loop {
        if !fin_sent && from.values().sum::<usize>() == others {
            if !slow {
                fast_done.wait("waiting for the fast readers")?;
            }
            // Done talking: FIN, then read until the server closes.
            stream.shutdown(Shutdown::Write)?;
            fin_sent = true;
        }
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        if line.starts_with("* ") {
            continue;
        }
        // "client K: message I from client K ....\n", in order per K.
        let mut words = line.split_whitespace();
        let sender: u64 = words
            .nth(1)
            .and_then(|w| w.trim_end_matches(':').parse().ok())
            .ok_or_else(|| bad(format!("unexpected line {line:?}")))?;
        let seq: usize = words
            .nth(1)
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| bad(format!("unexpected line {line:?}")))?;
        let count = from.entry(sender).or_default();
        if sender == number || seq != *count {
            return Err(bad(format!(
                "client {number}: line {line:?} out of order (expected #{count})"
            )));
        }
        *count += 1;
    }
    if !fin_sent {
        return Err(bad(format!("client {number}: the server closed early")));
    }
    Ok(Seen { number, from })
}

/// A client socket for the demonstration, made by the crate so its small
/// receive buffer is set before `connect`.
fn demo_socket(addr: SocketAddr) -> io::Result<TcpStream> {
    let sock = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT)?;
    sock.set_recv_buffer_size(4096)?;
    // The listener's queue completes the handshake before any accept.
    sock.connect(&SockAddr::from(addr))?;
    Ok(TcpStream::from(sock))
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("select_chat: {e}");
            std::process::exit(2);
        }
    };
    let demo = args.is_none();
    let args = args.unwrap_or(Args {
        addr: "127.0.0.1:0".parse().unwrap(),
        conns: Some(DEMO_CLIENTS as u64),
        secs: Some(30),
        sndbuf: Some(4096),
    });
    let mut server = match Server::new(args.addr, args.sndbuf) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("select_chat: cannot listen on {}: {e}", args.addr);
            std::process::exit(1);
        }
    };
    let local = server.listener.local_addr().unwrap().as_socket().unwrap();
    println!("select_chat: listening on {local}");
    // Always bounded: by connections, by time, or by 300 s.
    let secs = args.secs.or(args.conns.is_none().then_some(300));
    let deadline = secs.map(|s| Instant::now() + Duration::from_secs(s));
    let mut clients = Vec::new();
    // Each demonstration client's socket and the gates, to end them if
    // the demonstration runs out of time.
    let mut ends = Vec::new();
    let mut sockets: Vec<Weak<TcpStream>> = Vec::new();
    if demo {
        println!(
            "demonstration: {DEMO_CLIENTS} clients, {DEMO_LINES} lines each (to chat yourself: select_chat 127.0.0.1:9034 --conns 2, then nc 127.0.0.1 9034 in two terminals)"
        );
        let joined = Arc::new(Gate::new(DEMO_CLIENTS));
        let fast_done = Arc::new(Gate::new(DEMO_CLIENTS));
        ends.push(Arc::clone(&joined));
        ends.push(Arc::clone(&fast_done));
        for k in 0..DEMO_CLIENTS {
            let stream = match demo_socket(local) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("select_chat: demonstration client: {e}");
                    std::process::exit(1);
                }
            };
            // The client thread holds the only strong reference: its
            // drop closes the socket (client 2's reset needs that).
            let stream = Arc::new(stream);
            sockets.push(Arc::downgrade(&stream));
            let (joined, fast_done) = (Arc::clone(&joined), Arc::clone(&fast_done));
            // The first client accepted is client 1, the slow reader.
            clients.push(std::thread::spawn(move || {
                let r = demo_client(stream, k == 0, &joined, &fast_done);
                if r.is_err() {
                    joined.abandon();
                    fast_done.abandon();
                }
                r
            }));
        }
    } else {
        let conns = args
            .conns
            .map(|n| format!(" until {n} connections have closed"));
        let secs = secs.map(|s| format!(" for at most {s} s"));
        println!(
            "serving{}{}: try nc {} {}",
            conns.unwrap_or_default(),
            secs.unwrap_or_default(),
            local.ip(),
            local.port()
        );
    }
    let result = server.run(args.conns, deadline);
    if demo && server.stats.closed < DEMO_CLIENTS as u64 {
        // Out of time (under a tight fd limit the server cannot accept
        // every client): end the clients' reads and waits, so that they,
        // and this program, stop now.
        eprintln!(
            "select_chat: the demonstration ran out of time with {} of {DEMO_CLIENTS} clients done; ending the others",
            server.stats.closed
        );
        for s in sockets.iter().filter_map(Weak::upgrade) {
            let _ = s.shutdown(Shutdown::Both);
        }
        for gate in &ends {
            gate.abandon();
        }
    }
    let mut ok = result.is_ok();
    if let Err(e) = result {
        eprintln!("select_chat: {e}");
    }
    for c in clients {
        match c.join().expect("client thread") {
            Ok(seen) => println!(
                "client {} received {:?} lines (sender: count)",
                seen.number, seen.from
            ),
            Err(e) => {
                eprintln!("select_chat: demonstration client failed: {e}");
                ok = false;
            }
        }
    }
    let s = &server.stats;
    println!(
        "{} connections ({} closed), {} lines relayed, {} waits, {} sends the kernel did not take whole, at most {} bytes owed to one client, {} EMFILE pauses, {} turned away",
        s.accepted,
        s.closed,
        s.lines,
        s.waits,
        s.short_sends,
        s.most_owed,
        s.emfile_pauses,
        s.turned_away
    );
    if demo {
        if s.closed < DEMO_CLIENTS as u64 {
            eprintln!("select_chat: the demonstration ran out of time");
            ok = false;
        }
        if s.short_sends == 0 {
            // Client 1 read nothing while 2 x 40 lines were sent to it,
            // far more than the small buffers hold.
            eprintln!("select_chat: no send was ever short: the outgoing buffers went unused");
            ok = false;
        }
    }
    std::process::exit(if ok { 0 } else { 1 });
}
