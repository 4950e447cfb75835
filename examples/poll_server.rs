//! `poll_server`: a multi-client chat server on poll(2), the counterpart
//! of `pollserver.c` in Beej's guide ("a cheezy multiperson chat server").
//! Every line a client sends goes to every other client; when a client
//! leaves, the server says how, from what poll reported.
//!
//! # What it teaches
//!
//! - poll takes an *array* of `struct pollfd {fd, events, revents}`: the
//!   fds to watch and what to watch each for; the kernel writes `revents`
//!   for the ready ones. Beej's program grows and shrinks that array by
//!   hand (`add_to_pfds`, `del_from_pfds`); here the poll backend keeps it,
//!   and `register`/`deregister` edit it without a syscall. The whole
//!   array goes to the kernel on every wait (the cost select and poll
//!   share, and epoll avoids), but unlike select there is no `FD_SETSIZE`:
//!   any fd number can be watched.
//! - poll says more than select about how a connection ends (these are the
//!   poll module's *extras*, which select cannot see):
//!   - a client's FIN (`close` or `shutdown(SHUT_WR)`) sets `POLLRDHUP`
//!     with `POLLIN`, and `recv` returns 0. A TCP FIN closes one direction
//!     only, so there is no `POLLHUP`: Beej's `POLLIN | POLLHUP` test
//!     catches it through `POLLIN`;
//!   - a reset (the client closed with `SO_LINGER` 0, or died with unread
//!     data) sets `POLLERR|POLLHUP` too, and `recv` fails with
//!     `ECONNRESET`: both directions are gone.
//!
//!   The server prints the flags of each client's last event, and the
//!   demonstration checks them.
//! - The rest is the same loop as `select_chat`: nonblocking accepted
//!   sockets (`accept4` with `SOCK_NONBLOCK`), one `recv` per readiness,
//!   lines relayed whole, what `send` does not take kept in the client's
//!   outgoing buffer until poll reports `POLLOUT`, deregister before
//!   close, and `EMFILE` handled by watching the listener again only once
//!   a client leaves (as `examples/echo_server.rs` does).
//!
//! # Syscalls
//!
//! `socket`, `setsockopt(SO_REUSEADDR)`, `bind`, `listen`, `getsockname`;
//! then per wait one `poll`; `accept4(..., SOCK_CLOEXEC|SOCK_NONBLOCK)`
//! until `EAGAIN`; `recvfrom` (one per readable client per wait);
//! `sendto` for relayed lines; `close`. The demonstration's three client
//! sockets are made in the main thread (`socket`, `connect`, and for one
//! of them `setsockopt(SO_LINGER)`), then talk in threads through std's
//! `TcpStream`.
//!
//! # Run it
//!
//! ```text
//! cargo run --example poll_server                                 # demonstration
//! cargo run --example poll_server -- 127.0.0.1:9034 --conns 3    # serve 3 clients
//! cargo run --example poll_server -- 127.0.0.1:9034 --secs 300   # ... or 5 minutes
//! ```
//!
//! Without arguments three clients of its own join, each send 5 lines and
//! check they received the other two's 10, in order; then clients 1 and 3
//! leave with a FIN and client 2 with a reset. It exits 0 when all three
//! are gone and each left the way it did.
//!
//! With arguments it serves outside clients: `nc 127.0.0.1 9034` in two or
//! three terminals, type, and leave with Ctrl-D (a FIN: `POLLRDHUP`) or
//! Ctrl-C (nc's close, also a FIN; a reset only if data was still unread).
//! It exits when `--conns` connections have closed or `--secs` seconds
//! have passed (default: 300 seconds).
//!
//! # What to look for in the trace
//!
//! `BARESOCK_TRACE=1 cargo run --example poll_server --features trace` prints
//! each syscall as strace would, on stderr, between the server's own lines. From one run
//! (ports, timeouts and how the bytes are cut differ from run to run); fds
//! 4-6 are the demonstration's client sockets, 7-9 the server's ends of
//! them (`E` below stands for `events=POLLIN|POLLRDNORM|POLLRDBAND|POLLRDHUP`,
//! printed in full in the real trace):
//!
//! - `setsockopt(5, SOL_SOCKET, SO_LINGER, {l_onoff=1, l_linger=0}, 8) =
//!   0`: client 2's socket will reset its connection when closed.
//! - `poll([{fd=3, events=POLLIN|POLLRDNORM|POLLRDBAND|POLLRDHUP}], 1,
//!   30000) = 1 ([{fd=3, revents=POLLIN|POLLRDNORM}])`: the first wait,
//!   the listener alone in the array. The poll module asks for every
//!   "readable" flag, and `POLLRDHUP` for the extra.
//! - `poll([{fd=3, E}, {fd=7, E}, {fd=8, E}, {fd=9, E}], 4, 30000) = 3
//!   ([{fd=7, revents=POLLIN|POLLRDNORM}, {fd=8, revents=POLLIN|POLLRDNORM},
//!   {fd=9, revents=POLLIN|POLLRDNORM}])`: the array grew with each
//!   accepted client, and every wait hands all of it to the kernel again.
//! - `poll([{fd=3, E}, {fd=7, E}, {fd=8, E}, {fd=9, E}], 4, 29999) = 1
//!   ([{fd=8, revents=POLLIN|POLLERR|POLLHUP|POLLRDNORM|POLLRDHUP}])`, then
//!   `recvfrom(8, 0x7fff0dbf7530, 4096, 0, NULL, NULL) = -1 ECONNRESET
//!   (Connection reset by peer)` and `close(8) = 0`: client 2's reset.
//!   The buffer prints as an address: the kernel wrote nothing into it.
//! - `poll([{fd=3, E}, {fd=7, E}, {fd=9, E}], 3, 29957) = 2 ([{fd=7,
//!   revents=POLLIN|POLLRDNORM|POLLRDHUP}, {fd=9,
//!   revents=POLLIN|POLLRDNORM|POLLRDHUP}])`, then `recvfrom(7, "", 4096,
//!   0, NULL, NULL) = 0`: clients 1 and 3 sent their FIN: `POLLRDHUP`, no
//!   `POLLHUP`. The array is one shorter: deregistering moved its last
//!   entry (9) into the hole 8 left, as Beej's `del_from_pfds` does.

use baresock::poll::{Backend, Event, Events, Interest, Poller, Token};
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
/// A client the server owes more than this reads too slowly to keep.
const MAX_OWED: usize = 1 << 20;

struct Client {
    sock: OwnedSocket,
    /// The client's number in the room (fd numbers are reused; this is
    /// not).
    number: u64,
    /// Bytes of a line not yet complete.
    partial: Vec<u8>,
    /// Bytes owed to the client that the kernel has not taken yet.
    owed: Vec<u8>,
    /// The client sent its FIN: read no more, close once `owed` is sent.
    finished: bool,
    /// Whether the registration includes writable.
    watching_writes: bool,
    /// The extras of the last event poll reported for it.
    last: Extras,
}

/// What poll said beyond readable and writable.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
struct Extras {
    error: bool,
    hangup: bool,
    read_hangup: bool,
}

impl Extras {
    fn of(event: &Event) -> Extras {
        Extras {
            error: event.is_error(),
            hangup: event.is_hangup(),
            read_hangup: event.is_read_hangup(),
        }
    }
}

/// How a connection ended.
#[derive(Debug)]
enum Ending {
    /// `recv` returned 0: the client's FIN. With the extras of that event.
    Fin(Extras),
    /// A `recv` failed: with the errno and the extras of the event that
    /// said it was readable.
    RecvFailed(io::Error, Extras),
    /// A `send` failed (the reset came before poll could report it).
    SendFailed(io::Error),
    /// The server dropped it: it read too slowly.
    Dropped,
}

#[derive(Default, Debug)]
struct Stats {
    accepted: u64,
    closed: u64,
    waits: u64,
    lines: u64,
    /// Sends the kernel did not take whole (partial or `EAGAIN`).
    short_sends: u64,
    emfile_pauses: u64,
}

struct Server {
    poller: Box<dyn Poller>,
    listener: OwnedSocket,
    /// Clients by token (a slab: the token is the index).
    clients: Vec<Option<Client>>,
    free: Vec<usize>,
    next_number: u64,
    /// Whether the listener is deregistered because fds ran out.
    paused: bool,
    /// How each connection ended, by client number.
    endings: BTreeMap<u64, Ending>,
    stats: Stats,
}

impl Server {
    fn new(addr: SocketAddr) -> io::Result<Server> {
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
        // The poll backend: register, reregister and deregister edit its
        // pollfd array; each wait is one poll.
        let mut poller = Backend::Poll.build()?;
        poller.register(listener.as_fd(), LISTENER, Interest::READABLE)?;
        Ok(Server {
            poller,
            listener,
            clients: Vec::new(),
            free: Vec::new(),
            next_number: 1,
            paused: false,
            endings: BTreeMap::new(),
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
                if let Some(c) = self.clients.get_mut(id).and_then(Option::as_mut) {
                    c.last = Extras::of(event);
                }
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
                    // Out of fds: the connection stays queued and the
                    // listener readable. Stop watching it until a client
                    // leaves, or every poll would return at once.
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
            let id = self.free.pop().unwrap_or_else(|| {
                self.clients.push(None);
                self.clients.len() - 1
            });
            // Any fd number will do: poll has no FD_SETSIZE.
            self.poller
                .register(sock.as_fd(), Token(id), Interest::READABLE)?;
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
                last: Extras::default(),
            });
            self.stats.accepted += 1;
            let peer = peer.as_socket().map_or("?".to_owned(), |a| a.to_string());
            println!("pollserver: new connection from {peer} on socket {fd}: client {number}");
            let here = self.clients.iter().flatten().count();
            self.send_to(
                id,
                format!("* welcome, client {number}: {here} in the room\n").as_bytes(),
            )?;
            self.broadcast(id, format!("* client {number} joined\n").as_bytes())?;
        }
    }

    /// One `recv` per readiness (level mode: whatever is left is reported
    /// again by the next wait), then relays whole lines.
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
                // The FIN: nothing more will come. Send what is owed,
                // then close.
                client.finished = true;
                let (number, last) = (client.number, client.last);
                self.endings.insert(number, Ending::Fin(last));
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
            Err(e) => {
                let ending = Ending::RecvFailed(e, client.last);
                return self.end(id, ending);
            }
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
                    self.stats.short_sends += 1;
                    client.owed.extend_from_slice(&bytes[n..]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stats.short_sends += 1;
                    client.owed.extend_from_slice(bytes);
                }
                // EPIPE, ECONNRESET: the client is gone.
                Err(e) => return self.end(id, Ending::SendFailed(e)),
            }
        }
        if client.owed.len() > MAX_OWED {
            println!("client {} reads too slowly: dropped", client.number);
            return self.end(id, Ending::Dropped);
        }
        self.watch(id)
    }

    /// Sends what is owed to a writable client.
    fn flush(&mut self, id: usize) -> io::Result<()> {
        let Some(client) = self.clients.get_mut(id).and_then(Option::as_mut) else {
            return Ok(());
        };
        if !client.owed.is_empty() {
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
                Err(e) => return self.end(id, Ending::SendFailed(e)),
            }
        }
        self.watch(id)?;
        self.close_if_done(id)
    }

    /// Watches writability while bytes are owed, and only then.
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
            (false, _) => Interest::READABLE,
        };
        // Edits the pollfd's events: no syscall.
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

    /// The connection is gone (or dropped): note how, and close it.
    fn end(&mut self, id: usize, ending: Ending) -> io::Result<()> {
        if let Some(c) = self.clients[id].as_ref() {
            self.endings.insert(c.number, ending);
        }
        self.close(id)
    }

    /// Deregister (the entry leaves the array), then close.
    fn close(&mut self, id: usize) -> io::Result<()> {
        let Some(client) = self.clients[id].take() else {
            return Ok(());
        };
        self.poller.deregister(client.sock.as_fd())?;
        let (number, fd, finished) = (client.number, client.sock.as_raw_fd(), client.finished);
        drop(client);
        let how = match self.endings.get(&number) {
            Some(Ending::Fin(x)) => format!("recv = 0 after an event {}", describe(*x)),
            Some(Ending::RecvFailed(e, x)) => {
                format!("recv: {} after an event {}", errno(e), describe(*x))
            }
            Some(Ending::SendFailed(e)) => format!("send: {}", errno(e)),
            Some(Ending::Dropped) => "dropped".to_owned(),
            None => "closed".to_owned(),
        };
        println!("pollserver: socket {fd} hung up: client {number} ({how})");
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

/// An error by its errno's C name, for the two a gone client gives.
fn errno(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ECONNRESET) => "ECONNRESET".to_owned(),
        Some(libc::EPIPE) => "EPIPE".to_owned(),
        _ => e.to_string(),
    }
}

/// The extras as poll's flag names.
fn describe(x: Extras) -> String {
    let mut names = Vec::new();
    if x.error {
        names.push("POLLERR");
    }
    if x.hangup {
        names.push("POLLHUP");
    }
    if x.read_hangup {
        names.push("POLLRDHUP");
    }
    if names.is_empty() {
        "without extras".to_owned()
    } else {
        format!("with {}", names.join("|"))
    }
}

struct Args {
    addr: SocketAddr,
    conns: Option<u64>,
    secs: Option<u64>,
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
const DEMO_LINES: usize = 5;
/// The demonstration client that leaves with a reset: the second accepted.
const RESET_CLIENT: u64 = 2;

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

/// A demonstration client: read the welcome, wait for the others, send
/// `DEMO_LINES` lines, receive every line of the others in order, wait
/// until everyone has, then leave: with a FIN (shutdown, then read until
/// the server closes) or, for the one whose socket has `SO_LINGER` 0, by
/// dropping the socket, which resets the connection.
fn demo_client(
    shared: Arc<TcpStream>,
    reset: bool,
    joined: &Gate,
    received: &Gate,
) -> io::Result<u64> {
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
    joined.wait("waiting for the others to join")?;
    // `&TcpStream` is `Write`: a mutable binding of the reference.
    let mut out = stream;
    for i in 0..DEMO_LINES {
        writeln!(out, "message {i} from client {number}")?;
    }
    let mut from: BTreeMap<u64, usize> = BTreeMap::new();
    while from.values().sum::<usize>() < (DEMO_CLIENTS - 1) * DEMO_LINES {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(bad(format!("client {number}: the server closed early")));
        }
        if line.starts_with("* ") {
            continue;
        }
        // "client K: message I from client K\n", in order per K.
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
    // The server has read every line of every client: nothing of ours is
    // left unread when we go.
    received.wait("waiting for the others to receive every line")?;
    if reset {
        // SO_LINGER 0 was set: this close sends a RST, not a FIN.
        drop(reader);
        drop(shared);
        return Ok(number);
    }
    // Leave only once the server has seen the reset, so that it meets the
    // reset in poll's answer rather than in a send of our "left" notice.
    let notice = format!("* client {RESET_CLIENT} left\n");
    while line != notice {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(bad(format!("client {number}: the server closed early")));
        }
    }
    stream.shutdown(Shutdown::Write)?;
    // Read until the server's close (its FIN): 0.
    while {
        line.clear();
        reader.read_line(&mut line)? > 0
    } {}
    Ok(number)
}

/// A client socket for the demonstration, made by the crate (std cannot
/// set `SO_LINGER`), connected before the server accepts it: the
/// listener's queue completes the handshake.
fn demo_socket(addr: SocketAddr, reset: bool) -> io::Result<TcpStream> {
    let sock = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT)?;
    sock.connect(&SockAddr::from(addr))?;
    if reset {
        sock.set_linger(Some(Duration::ZERO))?;
    }
    Ok(TcpStream::from(sock))
}

/// Whether the demonstration's clients left as planned: 1 and 3 with a
/// FIN that poll reported as `POLLRDHUP` without `POLLHUP`; 2 with a reset:
/// a `recv` that failed with `ECONNRESET` after an event with `POLLERR`
/// and `POLLHUP`, or, when the server sent to it first, a failed `send`.
fn check_endings(endings: &BTreeMap<u64, Ending>) -> Result<(), String> {
    for number in 1..=DEMO_CLIENTS as u64 {
        let ending = endings.get(&number);
        let ok = match (number == RESET_CLIENT, ending) {
            (true, Some(Ending::RecvFailed(e, x))) => {
                e.raw_os_error() == Some(libc::ECONNRESET) && x.error && x.hangup
            }
            (true, Some(Ending::SendFailed(e))) => {
                matches!(e.raw_os_error(), Some(libc::ECONNRESET | libc::EPIPE))
            }
            (false, Some(Ending::Fin(x))) => x.read_hangup && !x.hangup && !x.error,
            _ => false,
        };
        if !ok {
            return Err(format!("client {number} ended unexpectedly: {ending:?}"));
        }
    }
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("poll_server: {e}");
            std::process::exit(2);
        }
    };
    let demo = args.is_none();
    let args = args.unwrap_or(Args {
        addr: "127.0.0.1:0".parse().unwrap(),
        conns: Some(DEMO_CLIENTS as u64),
        secs: Some(30),
    });
    let mut server = match Server::new(args.addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("poll_server: cannot listen on {}: {e}", args.addr);
            std::process::exit(1);
        }
    };
    let local = server.listener.local_addr().unwrap().as_socket().unwrap();
    println!("pollserver: listening on {local}");
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
            "demonstration: {DEMO_CLIENTS} clients, {DEMO_LINES} lines each; client 2 leaves with a reset (to chat yourself: poll_server 127.0.0.1:9034 --conns 2, then nc 127.0.0.1 9034 in two terminals)"
        );
        let joined = Arc::new(Gate::new(DEMO_CLIENTS));
        let received = Arc::new(Gate::new(DEMO_CLIENTS));
        ends.push(Arc::clone(&joined));
        ends.push(Arc::clone(&received));
        for k in 0..DEMO_CLIENTS {
            // Accepted in connect order: k = 1 becomes client 2.
            let reset = k + 1 == RESET_CLIENT as usize;
            let stream = match demo_socket(local, reset) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("poll_server: demonstration client: {e}");
                    std::process::exit(1);
                }
            };
            // The client thread holds the only strong reference: its
            // drop closes the socket (client 2's reset needs that).
            let stream = Arc::new(stream);
            sockets.push(Arc::downgrade(&stream));
            let (joined, received) = (Arc::clone(&joined), Arc::clone(&received));
            clients.push(std::thread::spawn(move || {
                let r = demo_client(stream, reset, &joined, &received);
                if r.is_err() {
                    joined.abandon();
                    received.abandon();
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
            "poll_server: the demonstration ran out of time with {} of {DEMO_CLIENTS} clients done; ending the others",
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
        eprintln!("poll_server: {e}");
    }
    for c in clients {
        match c.join().expect("client thread") {
            Ok(number) => println!("client {number} received every line of the others"),
            Err(e) => {
                eprintln!("poll_server: demonstration client failed: {e}");
                ok = false;
            }
        }
    }
    let s = &server.stats;
    println!(
        "{} connections ({} closed), {} lines relayed, {} waits, {} sends the kernel did not take whole, {} EMFILE pauses",
        s.accepted, s.closed, s.lines, s.waits, s.short_sends, s.emfile_pauses
    );
    if demo {
        if let Err(e) = check_endings(&server.endings) {
            eprintln!("poll_server: {e}");
            ok = false;
        } else {
            println!("each client left as planned: 1 and 3 with POLLRDHUP, 2 with a reset");
        }
    }
    std::process::exit(if ok { 0 } else { 1 });
}
