//! `tcp_client`: a blocking TCP client that tries each address of a host
//! in turn until one connects. It is the counterpart of `client.c` in
//! Beej's guide ("a simple stream client"); `tcp_server` is the server.
//!
//! # What it teaches
//!
//! - A host name gives a *list* of addresses, and a client tries them in
//!   order: `socket` of the address's family, `connect`, and on failure
//!   `close` and the next one. That is Beej's loop over `getaddrinfo`'s
//!   results. The demo makes the first candidate fail on purpose
//!   (`[::1]:PORT` answers `ECONNREFUSED`) so the loop is seen at work.
//! - A client needs no `bind`: `connect` gives the socket an ephemeral
//!   local port, and `getsockname` shows it.
//! - `shutdown(SHUT_WR)` sends a FIN ("I am done sending") while the socket
//!   still reads; `recv` returning 0 is the server's FIN.
//! - A stream has no message boundaries: the bytes arrive in whatever
//!   pieces `recv` returns (Beej reads into a 100-byte buffer; so do we).
//!
//! # Syscalls, in order
//!
//! Server thread (only without arguments): `socket`, `setsockopt`
//! (`SO_RCVTIMEO`), `bind(127.0.0.1:0)`, `listen`, `getsockname`; a second
//! socket `bind`s `[::1]:PORT` without `listen`, so connecting there is
//! refused; then `accept4`, `sendto` (greeting), `recvfrom`/`sendto` until
//! `recvfrom` returns 0, `close`.
//!
//! Client (main thread):
//! 1. `socket(AF_INET6, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP)`,
//!    `connect([::1]:PORT) = -1 ECONNREFUSED`, `close`
//! 2. `socket(AF_INET, ...)`, `connect(127.0.0.1:PORT) = 0`
//! 3. `getsockname` (the ephemeral port connect chose)
//! 4. `setsockopt(SOL_SOCKET, SO_RCVTIMEO)` (never wait forever)
//! 5. `sendto` (the message), `shutdown(SHUT_WR)`
//! 6. `recvfrom` into 100 bytes, again and again, until it returns 0
//! 7. `close`
//!
//! # Run it
//!
//! ```text
//! cargo run --example tcp_client                        # self-contained demo
//! cargo run --example tcp_client -- localhost 4950      # talk to tcp_server
//! cargo run --example tcp_client -- 127.0.0.1 4950 "hi there"
//! ```
//!
//! With arguments, HOST must be `localhost` or a numeric loopback address
//! (`127.0.0.1`, `::1`): this example never leaves the machine and never
//! asks DNS. Start `cargo run --example tcp_server -- 4950 3` first, or
//! `nc -l 127.0.0.1 4950` to play the server yourself (type a reply, then
//! Ctrl-D).
//!
//! # What to look for in the trace
//!
//! `BARESOCK_TRACE=1 cargo run --example tcp_client --features trace` prints
//! every syscall the crate makes, as strace would, on stderr (`strace -f -e
//! trace=%network,close target/debug/examples/tcp_client` shows the same
//! lines, among the program's other calls). Lines from one run:
//!
//! - `connect(5, {sa_family=AF_INET6, sin6_port=htons(PORT),
//!   sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr),
//!   sin6_scope_id=0}, 28) = -1 ECONNREFUSED (Connection refused)`
//!   followed by `close(5) = 0`: the failed candidate.
//! - `socket(AF_INET, ...) = 5` again: the kernel hands out the lowest free
//!   fd, and 5 was just closed. Then `connect(5, {sa_family=AF_INET, ...},
//!   16) = 0`, with no `bind` before it: the next `getsockname` shows the
//!   port the kernel picked.
//! - `shutdown(5, SHUT_WR) = 0` and, later, `recvfrom(5, "", 100, 0, NULL,
//!   NULL) = 0`: our FIN, then the server's.
//! - The number of `recvfrom` calls before the 0 depends on timing: the
//!   same bytes may come in one piece or several.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use baresock::{Domain, OwnedSocket, Protocol, Shutdown, SockAddr, Type};

/// Beej's MAXDATASIZE: a small buffer, so longer replies take several recvs.
const MAX_DATA_SIZE: usize = 100;
/// How long a blocking call may wait before `EAGAIN`.
const WAIT: Duration = Duration::from_secs(5);
/// Upper bound on recv/send rounds, so every loop ends.
const MAX_ROUNDS: usize = 100_000;
const DEFAULT_MESSAGE: &str = "hello from tcp_client\n";
/// What the demo's server says first (tcp_server says the same).
const GREETING: &[u8] = b"Hello, world!\n";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [] => demo(),
        [host, port, rest @ ..] if rest.len() <= 1 => {
            let message = rest.first().map_or(DEFAULT_MESSAGE.to_string(), |m| {
                if m.ends_with('\n') {
                    m.clone()
                } else {
                    format!("{m}\n")
                }
            });
            match candidates(host, port) {
                Ok(addrs) => run_client(&addrs, message.as_bytes()).map(|_| ()),
                Err(msg) => {
                    eprintln!("tcp_client: {msg}");
                    return usage();
                }
            }
        }
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tcp_client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: tcp_client [HOST PORT [MESSAGE]]");
    eprintln!("       HOST: localhost or a numeric loopback address (127.0.0.1, ::1)");
    ExitCode::from(2)
}

/// The addresses to try for HOST:PORT, refusing anything that could leave
/// the machine or ask DNS.
fn candidates(host: &str, port: &str) -> Result<Vec<SocketAddr>, String> {
    let port: u16 = port.parse().map_err(|_| format!("bad port {port:?}"))?;
    let addrs: Vec<SocketAddr> = if let Ok(ip) = host.parse::<IpAddr>() {
        // A numeric address needs no lookup at all.
        vec![SocketAddr::new(ip, port)]
    } else if host == "localhost" {
        // getaddrinfo("localhost") inside std: answered from /etc/hosts
        // (nsswitch's "files"), no DNS query. On this machine it has only
        // 127.0.0.1; use the literal ::1 for IPv6.
        (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve localhost: {e}"))?
            .collect()
    } else {
        return Err(format!(
            "refusing {host:?}: only localhost or a numeric address (no DNS here)"
        ));
    };
    let (local, other): (Vec<_>, Vec<_>) = addrs.into_iter().partition(|a| a.ip().is_loopback());
    if let Some(a) = other.first() {
        return Err(format!("refusing {a}: only loopback addresses"));
    }
    if local.is_empty() {
        return Err(format!("{host} gave no address"));
    }
    Ok(local)
}

/// No arguments: start a tiny server, then run the client against it, with
/// a refused IPv6 candidate first.
fn demo() -> io::Result<()> {
    let listener = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT)?;
    listener.set_read_timeout(Some(WAIT))?;
    listener.bind(&SockAddr::from(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))))?;
    listener.listen(1)?;
    let port = listener
        .local_addr()?
        .as_socket()
        .map_or(0, |a: SocketAddr| a.port());
    println!("server: listening on 127.0.0.1:{port}");

    // Hold [::1]:PORT with a socket that is bound but not listening: a SYN
    // to it is answered with a reset, so connecting there is refused for
    // sure (no stranger can be listening on it while we hold it). Where
    // IPv6 is off or the port is taken on ::1, skip that candidate.
    let v6_target = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    let refuser = OwnedSocket::new(Domain::IPV6, Type::STREAM, Protocol::DEFAULT)
        .and_then(|s| s.bind(&SockAddr::from(v6_target)).map(|()| s));
    let mut addrs = Vec::new();
    match &refuser {
        Ok(_) => addrs.push(v6_target),
        Err(e) => println!("server: cannot hold [::1]:{port} ({e}); skipping IPv6"),
    }
    addrs.push(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));

    let server = thread::spawn(move || echo_once(&listener));
    let got = run_client(&addrs, DEFAULT_MESSAGE.as_bytes())?;
    server
        .join()
        .map_err(|_| io::Error::other("server thread panicked"))??;
    drop(refuser);

    let expected = [GREETING, DEFAULT_MESSAGE.as_bytes()].concat();
    if got != expected {
        return Err(io::Error::other(format!(
            "got {:?}, expected {:?}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&expected)
        )));
    }
    println!("client: the server's greeting and our echoed message came back whole");
    Ok(())
}

/// Beej's loop: try each address until one connects, then talk.
fn run_client(addrs: &[SocketAddr], message: &[u8]) -> io::Result<Vec<u8>> {
    let mut last_err = None;
    let mut connected = None;
    for &addr in addrs {
        let domain = if addr.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        // socket(): the family must match the address we are about to try,
        // which is why the socket is made inside the loop.
        let sock = match OwnedSocket::new(domain, Type::STREAM, Protocol::DEFAULT) {
            Ok(s) => s,
            Err(e) => {
                println!("client: socket({domain:?}) = {}", errno_text(&e));
                last_err = Some(e);
                continue;
            }
        };
        // connect(): a blocking call that runs the whole TCP handshake.
        // On failure, dropping `sock` closes it; a failed connect leaves a
        // TCP socket in an unspecified state, so never reuse it.
        //
        // EINTR would mean a signal arrived mid-handshake: the kernel
        // carries on, and calling connect again would only say EALREADY.
        // The portable way to learn the outcome is to wait for
        // writability and read SO_ERROR (see the connect_timeout
        // example). This program installs no signal handler, so it treats
        // EINTR like any other failure of this address.
        match sock.connect(&SockAddr::from(addr)) {
            Ok(()) => {
                println!("client: connect({addr}) = 0");
                connected = Some(sock);
                break;
            }
            Err(e) => {
                println!(
                    "client: connect({addr}) = {}; closing, trying the next address",
                    errno_text(&e)
                );
                last_err = Some(e);
            }
        }
    }
    let Some(sock) = connected else {
        return Err(last_err.unwrap_or_else(|| io::Error::other("no address to try")));
    };

    // getsockname: we never called bind, yet the socket has a local port.
    // connect chose it from net.ipv4.ip_local_port_range.
    if let Some(local) = sock.local_addr()?.as_socket() {
        println!("client: getsockname = {local} (ephemeral port, no bind needed)");
    }

    // A server that never answers must not hang us: bound each recv.
    sock.set_read_timeout(Some(WAIT))?;

    send_all(&sock, message)?;
    println!("client: sent {} bytes", message.len());
    // Our FIN: the server's recv returns 0 once it has read the message;
    // our side can still receive the reply.
    sock.shutdown(Shutdown::Write)?;

    let mut got = Vec::new();
    let mut buf = [0u8; MAX_DATA_SIZE];
    for _ in 0..MAX_ROUNDS {
        match sock.recv(&mut buf) {
            Ok(0) => {
                println!("client: recvfrom = 0: the server closed; done");
                sock.close()?;
                return Ok(got);
            }
            Ok(n) => {
                println!(
                    "client: recvfrom = {n}: {:?}",
                    String::from_utf8_lossy(&buf[..n])
                );
                got.extend_from_slice(&buf[..n]);
            }
            // EINTR: nothing was received; ask again.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // SO_RCVTIMEO expired: EAGAIN on a blocking socket.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the server said nothing for too long",
                ));
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("exceeded the round limit"))
}

/// The demo's server: accept one connection, greet, echo until EOF, close.
fn echo_once(listener: &OwnedSocket) -> io::Result<()> {
    let (conn, peer) = listener.accept()?;
    if let Some(peer) = peer.as_socket() {
        println!("server: accept4 = a connection from {peer}");
    }
    conn.set_read_timeout(Some(WAIT))?;
    send_all(&conn, GREETING)?;
    let mut buf = [0u8; 4096];
    for _ in 0..MAX_ROUNDS {
        match conn.recv(&mut buf) {
            Ok(0) => return conn.close(),
            Ok(n) => send_all(&conn, &buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("server exceeded the round limit"))
}

/// Sends all of `buf`: a stream `send` may take fewer bytes than asked, so
/// loop on the rest (EINTR: nothing sent, try again, a bounded number of
/// times).
fn send_all(sock: &OwnedSocket, mut buf: &[u8]) -> io::Result<()> {
    let mut interruptions = 0;
    while !buf.is_empty() {
        match sock.send(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted && interruptions < 100 => {
                interruptions += 1;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `-1 ECONNREFUSED (Connection refused)`, as strace prints a failure.
fn errno_text(e: &io::Error) -> String {
    let Some(code) = e.raw_os_error() else {
        return e.to_string();
    };
    let name = match code {
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EINTR => "EINTR",
        _ => "errno",
    };
    let text = e.to_string();
    let message = text
        .strip_suffix(&format!(" (os error {code})"))
        .unwrap_or(&text);
    format!("-1 {name} ({message})")
}
