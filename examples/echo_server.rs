//! echo_server: a single-threaded echo server on the `Poller` trait.
//!
//! What it teaches: the readiness loop every event-driven server is built
//! on. One thread waits for readiness on many sockets at once, then does
//! exactly the work the kernel said would not block: `accept4` on a
//! readable listener (the new sockets are nonblocking from birth, no
//! `fcntl`), one `recv` per readable connection (level mode: whatever is
//! left is reported again by the next wait), a `send` of what it read,
//! keeping any part the kernel did not take and waiting for writability
//! before sending the rest, and deregister-then-close on end of stream.
//! When the process runs out of fds (`EMFILE`), the connection waits in
//! the kernel's accept queue; the server stops watching the listener until
//! a connection closes and frees an fd, instead of spinning on a listener
//! that stays readable. The same code runs on every backend.
//!
//! Syscalls: socket, bind, listen, getsockname, accept4(SOCK_NONBLOCK |
//! SOCK_CLOEXEC), recvfrom, sendto, close, and the backend's own: pselect6
//! (select), poll, or epoll_create1 + epoll_ctl + epoll_pwait2 (epoll: the
//! time left to the deadline has a sub-millisecond part; epoll_wait where
//! the kernel lacks epoll_pwait2).
//!
//! Run it:
//! - `cargo run --example echo_server` — a self-contained demonstration:
//!   it starts its own clients on loopback, serves them and exits 0.
//! - `cargo run --example echo_server -- poll 127.0.0.1:7777 --conns 5` —
//!   serves outside clients (`nc 127.0.0.1 7777`) and exits after 5
//!   connections have closed; `--secs 60` bounds the run time instead.
//!
//! Arguments, all optional: a backend (`select`, `select-growable`, `poll`,
//! `epoll`; default epoll), a listen address (default 127.0.0.1:0, a free
//! port), `--conns N`, `--secs S`, `--clients N` (demonstration clients).
//! The first line of output is always `listening on ADDR (BACKEND)`.

use baresock::poll::{Backend, Events, Interest, Poller, Token};
use baresock::{Domain, OwnedSocket, Protocol, SockAddr, Type};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

const LISTENER: Token = Token(usize::MAX);

struct Conn {
    sock: OwnedSocket,
    /// Bytes read but not yet sent: the kernel's send buffer was full.
    pending: Vec<u8>,
}

#[derive(Default, Debug)]
struct Stats {
    accepted: u64,
    closed: u64,
    waits: u64,
    bytes: u64,
    emfile_pauses: u64,
}

struct Server {
    poller: Box<dyn Poller>,
    listener: OwnedSocket,
    /// Connections by token (a slab: the token is the index).
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    /// Whether the listener is deregistered because fds ran out.
    paused: bool,
    stats: Stats,
}

impl Server {
    fn new(backend: Backend, addr: SocketAddr) -> io::Result<Server> {
        let domain = if addr.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        let listener = OwnedSocket::new_nonblocking(domain, Type::STREAM, Protocol::DEFAULT)?;
        listener.set_reuse_address(true)?;
        listener.bind(&SockAddr::from(addr))?;
        // A deep queue: connections wait there, in the kernel, while we
        // are busy or out of fds.
        listener.listen(1024)?;
        let mut poller = backend.build()?;
        poller.register(listener.as_fd(), LISTENER, Interest::READABLE)?;
        Ok(Server {
            poller,
            listener,
            conns: Vec::new(),
            free: Vec::new(),
            paused: false,
            stats: Stats::default(),
        })
    }

    /// Serves until `conns` connections have closed or `deadline` passes.
    fn run(&mut self, conns: Option<u64>, deadline: Option<Instant>) -> io::Result<()> {
        let mut events = Events::with_capacity(256);
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
                // A signal: not an error, just wait again.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for event in &events {
                if event.token() == LISTENER {
                    self.accept()?;
                } else {
                    self.serve(event.token().0, event.is_readable(), event.is_writable())?;
                }
            }
        }
    }

    /// Accepts what is waiting, until WouldBlock ends the drain.
    fn accept(&mut self) -> io::Result<()> {
        loop {
            match self.listener.accept_nonblocking() {
                Ok((sock, _peer)) => {
                    let id = self.free.pop().unwrap_or_else(|| {
                        self.conns.push(None);
                        self.conns.len() - 1
                    });
                    if let Err(e) =
                        self.poller
                            .register(sock.as_fd(), Token(id), Interest::READABLE)
                    {
                        // select refuses fds >= FD_SETSIZE: turn the client
                        // away rather than fail the server.
                        eprintln!("cannot watch a new connection: {e}");
                        self.free.push(id);
                        continue;
                    }
                    self.conns[id] = Some(Conn {
                        sock,
                        pending: Vec::new(),
                    });
                    self.stats.accepted += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    // Out of fds. The listener stays readable while the
                    // connection waits in the queue, so watching it would
                    // spin. Stop until a connection closes.
                    self.poller.deregister(self.listener.as_fd())?;
                    self.paused = true;
                    self.stats.emfile_pauses += 1;
                    return Ok(());
                }
                // The peer gave up before we took it: nothing to do.
                Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn serve(&mut self, id: usize, readable: bool, writable: bool) -> io::Result<()> {
        let Some(conn) = self.conns.get_mut(id).and_then(Option::as_mut) else {
            return Ok(());
        };
        let mut done = false;
        if writable && !conn.pending.is_empty() {
            match conn.sock.send(&conn.pending) {
                Ok(n) => {
                    conn.pending.drain(..n);
                    self.stats.bytes += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => done = true,
            }
            if conn.pending.is_empty() && !done {
                // All sent: read again, stop watching writability.
                self.poller
                    .reregister(conn.sock.as_fd(), Token(id), Interest::READABLE)?;
            }
        }
        if readable && conn.pending.is_empty() && !done {
            let mut buf = [0u8; 16 * 1024];
            // One recv per readiness: level mode reports the rest next time.
            match conn.sock.recv(&mut buf) {
                Ok(0) => done = true,
                Ok(n) => match conn.sock.send(&buf[..n]) {
                    Ok(sent) => {
                        self.stats.bytes += sent as u64;
                        if sent < n {
                            // A partial write: keep the rest, wait for room,
                            // and read no more until it is gone.
                            conn.pending.extend_from_slice(&buf[sent..n]);
                            self.poller.reregister(
                                conn.sock.as_fd(),
                                Token(id),
                                Interest::WRITABLE,
                            )?;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        conn.pending.extend_from_slice(&buf[..n]);
                        self.poller
                            .reregister(conn.sock.as_fd(), Token(id), Interest::WRITABLE)?;
                    }
                    // EPIPE, ECONNRESET: the client is gone.
                    Err(_) => done = true,
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => done = true,
            }
        }
        if done {
            self.close(id)?;
        }
        Ok(())
    }

    /// Deregister, then close: never leave a closed fd registered.
    fn close(&mut self, id: usize) -> io::Result<()> {
        if let Some(conn) = self.conns[id].take() {
            self.poller.deregister(conn.sock.as_fd())?;
            drop(conn);
            self.free.push(id);
            self.stats.closed += 1;
            if self.paused {
                // An fd is free again: accept again.
                self.poller
                    .register(self.listener.as_fd(), LISTENER, Interest::READABLE)?;
                self.paused = false;
            }
        }
        Ok(())
    }
}

struct Args {
    backend: Backend,
    addr: SocketAddr,
    conns: Option<u64>,
    secs: Option<u64>,
    clients: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        backend: Backend::default(),
        addr: "127.0.0.1:0".parse().unwrap(),
        conns: None,
        secs: None,
        clients: 20,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match a.as_str() {
            "--conns" => args.conns = Some(number("--conns")?),
            "--secs" => args.secs = Some(number("--secs")?),
            "--clients" => args.clients = number("--clients")? as usize,
            _ => {
                if let Ok(b) = a.parse::<Backend>() {
                    args.backend = b;
                } else if let Ok(addr) = a.parse::<SocketAddr>() {
                    args.addr = addr;
                } else {
                    return Err(format!("unknown argument {a:?}"));
                }
            }
        }
    }
    Ok(args)
}

/// The demonstration's client: connect, send a few lines, check each
/// echo, close.
fn demo_client(addr: SocketAddr, id: usize) -> io::Result<()> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    for round in 0..5 {
        let line = format!("client {id} says hello #{round}\n");
        s.write_all(line.as_bytes())?;
        let mut echo = vec![0u8; line.len()];
        s.read_exact(&mut echo)?;
        if echo != line.as_bytes() {
            return Err(io::Error::other("echo differs"));
        }
    }
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("echo_server: {e}");
            std::process::exit(2);
        }
    };
    let mut server = match Server::new(args.backend, args.addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("echo_server: cannot listen on {}: {e}", args.addr);
            std::process::exit(1);
        }
    };
    let local = server.listener.local_addr().unwrap().as_socket().unwrap();
    println!("listening on {local} ({})", args.backend);
    let demo = args.conns.is_none() && args.secs.is_none();
    let deadline = args
        .secs
        .map(|s| Instant::now() + Duration::from_secs(s))
        // The demonstration bounds itself too, in case a client hangs.
        .or(demo.then(|| Instant::now() + Duration::from_secs(30)));
    let clients: Vec<_> = if demo {
        println!(
            "demonstration: {} clients (to try it yourself: echo_server epoll 127.0.0.1:7777 --conns 1, then nc 127.0.0.1 7777)",
            args.clients
        );
        (0..args.clients)
            .map(|id| std::thread::spawn(move || demo_client(local, id)))
            .collect()
    } else {
        Vec::new()
    };
    let conns = if demo {
        Some(args.clients as u64)
    } else {
        args.conns
    };
    let result = server.run(conns, deadline);
    let mut ok = result.is_ok();
    if let Err(e) = result {
        eprintln!("echo_server: {e}");
    }
    for c in clients {
        if let Err(e) = c.join().expect("client thread") {
            eprintln!("echo_server: demonstration client failed: {e}");
            ok = false;
        }
    }
    let s = &server.stats;
    println!(
        "served {} connections ({} closed), {} bytes echoed, {} waits, {} EMFILE pauses",
        s.accepted, s.closed, s.bytes, s.waits, s.emfile_pauses
    );
    if demo && s.closed < args.clients as u64 {
        eprintln!("echo_server: the demonstration ran out of time");
        ok = false;
    }
    std::process::exit(if ok { 0 } else { 1 });
}
