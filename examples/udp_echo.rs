//! `udp_echo`: a UDP echo server and its client, both blocking, with the
//! answers the kernel gives datagram sockets that stream sockets never get.
//!
//! # What it teaches
//!
//! - UDP has no connection: the server `bind`s and then loops on
//!   `recvfrom` (which says who sent each datagram) and `sendto` (which
//!   names where each reply goes). No `listen`, no `accept`.
//! - The client needs no `bind`: its first `sendto` gives it an ephemeral
//!   port (`getsockname` before: `0.0.0.0:0`; after: `0.0.0.0:PORT`). The
//!   address stays "any": routing picks the source address per datagram
//!   (127.0.0.1 here). `connect` fixes both: a connected UDP socket's
//!   `getsockname` shows `127.0.0.1:PORT`.
//! - Anyone may send to an unconnected UDP socket, so a client checks that
//!   the reply came from the server it asked.
//! - A datagram of 0 bytes is a real datagram: `recvfrom` returning 0 on
//!   UDP is *not* end of stream, there is no stream.
//! - `connect` on UDP makes no handshake: it records a default destination
//!   (so plain `send`/`recv` work) and filters what arrives to that one
//!   peer. Only a *connected* UDP socket hears about ICMP errors: sending
//!   to a port nobody serves makes its next `recv` fail with
//!   `ECONNREFUSED`, while an unconnected socket is never told.
//!
//! # Syscalls, in order
//!
//! Server thread: `socket(AF_INET, SOCK_DGRAM|SOCK_CLOEXEC, IPPROTO_IP)`,
//! `setsockopt(SO_RCVTIMEO)`, `bind(127.0.0.1:0)`, `getsockname`, then
//! `recvfrom(fd, buf, 65535, 0, &from, &len)` / `sendto(fd, buf, n,
//! MSG_NOSIGNAL, &from, len)` pairs until it receives `quit`.
//!
//! Client (main thread):
//! 1. `socket(AF_INET, SOCK_DGRAM)`, `getsockname` (unbound: 0.0.0.0:0)
//! 2. `sendto(server, "ping 1")` (the implicit bind), `getsockname`
//! 3. `setsockopt(SO_RCVTIMEO)`, `recvfrom` (the echo and who sent it)
//! 4. `sendto(server, "")`, `recvfrom` = 0: the empty datagram's echo
//! 5. `socket`, `connect(server)`, `getsockname`, `sendto(NULL)`,
//!    `recvfrom(NULL)`: the connected way
//! 6. a socket holds a port but is `connect`ed elsewhere, so our datagrams
//!    are not for it: `socket`, `connect(that port)`, `sendto` = 6,
//!    `recvfrom` = -1 `ECONNREFUSED` (the ICMP port unreachable)
//! 7. the same `sendto` from the unconnected socket: `recvfrom` = -1
//!    `EAGAIN` after the short timeout: the ICMP error is not reported
//! 8. `sendto(server, "quit")`, `close` of each socket
//!
//! # Run it
//!
//! ```text
//! cargo run --example udp_echo                  # self-contained demo, exits 0
//! cargo run --example udp_echo -- 4950 10       # echo 10 datagrams on 127.0.0.1:4950
//! cargo run --example udp_echo -- 4950 10 120   # ... giving up after 120 s idle
//! ```
//!
//! With a port, poke at it with `nc -u 127.0.0.1 4950`: each line you type
//! is one datagram and comes back. Run two `nc -u` at once: unlike
//! `tcp_server`, both are served, interleaved, by the one socket.
//!
//! # What to look for in the trace
//!
//! `BARESOCK_TRACE=1 cargo run --example udp_echo --features trace` prints
//! every syscall the crate makes, as strace would, on stderr (`strace -f -e
//! trace=%network,close target/debug/examples/udp_echo` shows the same
//! lines, among the program's other calls). Lines from one run:
//!
//! - `getsockname(4, {sa_family=AF_INET, sin_port=htons(0),
//!   sin_addr=inet_addr("0.0.0.0")}, ...)` before the first `sendto`, and a
//!   real port (address still 0.0.0.0) after it: the implicit bind.
//! - `recvfrom(3, "ping 1", 65535, 0, {sa_family=AF_INET,
//!   sin_port=htons(PORT), ...}, [128 => 16]) = 6` in the server: the
//!   sender's address arrives with every datagram.
//! - `sendto(4, "", 0, MSG_NOSIGNAL, {...}, 16) = 0` and the server's
//!   `recvfrom(3, "", 65535, ...) = 0`: an empty datagram.
//! - `sendto(5, "ping 5", 6, MSG_NOSIGNAL, NULL, 0) = 6` on the connected
//!   socket: no address needed.
//! - `recvfrom(7, 0x7fffbaf4f610, 64, 0, NULL, NULL) = -1 ECONNREFUSED
//!   (Connection refused)`: the error belongs to the earlier `sendto(7,
//!   "hello?", 6, MSG_NOSIGNAL, NULL, 0) = 6`, reported on the next call
//!   (the buffer prints as its address: nothing was written into it).

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use baresock::{Domain, OwnedSocket, Protocol, SockAddr, Type};

/// How long the demo's blocking receives wait before `EAGAIN`.
const WAIT: Duration = Duration::from_secs(5);
/// How long to wait for an error that should not come.
const SHORT_WAIT: Duration = Duration::from_millis(200);
/// Upper bound on datagrams the demo server handles.
const DEMO_MAX_DATAGRAMS: usize = 100;
const QUIT: &[u8] = b"quit";
/// Room for any UDP datagram: the 16-bit length field less the headers.
const MAX_DATAGRAM: usize = 65_535;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [] => demo(),
        [port, rest @ ..] if rest.len() <= 2 => match parse_serve_args(port, rest) {
            Ok((port, count, idle)) => serve_forever_ish(port, count, idle),
            Err(msg) => {
                eprintln!("udp_echo: {msg}");
                return usage();
            }
        },
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("udp_echo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: udp_echo [PORT [DATAGRAMS (default 10) [IDLE_SECONDS (default 60)]]]");
    eprintln!("       (binds 127.0.0.1 only; without arguments runs a self-contained demo)");
    ExitCode::from(2)
}

fn parse_serve_args(port: &str, rest: &[String]) -> Result<(u16, usize, Duration), String> {
    let port: u16 = port.parse().map_err(|_| format!("bad port {port:?}"))?;
    let count: usize = match rest.first() {
        Some(c) => c.parse().map_err(|_| format!("bad datagram count {c:?}"))?,
        None => 10,
    };
    if !(1..=1_000_000).contains(&count) {
        return Err("datagram count must be 1..=1000000".into());
    }
    let idle: u64 = match rest.get(1) {
        Some(s) => s.parse().map_err(|_| format!("bad idle seconds {s:?}"))?,
        None => 60,
    };
    if !(1..=86_400).contains(&idle) {
        return Err("idle seconds must be 1..=86400".into());
    }
    Ok((port, count, Duration::from_secs(idle)))
}

fn loopback(port: u16) -> SockAddr {
    SockAddr::from(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

fn udp_socket() -> io::Result<OwnedSocket> {
    OwnedSocket::new(Domain::IPV4, Type::DGRAM, Protocol::DEFAULT)
}

fn make_server(port: u16, idle: Duration) -> io::Result<OwnedSocket> {
    let sock = udp_socket()?;
    // SO_RCVTIMEO: a blocking recvfrom gives up with EAGAIN after `idle`,
    // so the server ends by itself when nobody talks to it.
    sock.set_read_timeout(Some(idle))?;
    // bind is all a UDP server needs: from now on datagrams to this
    // address queue in the socket's receive buffer.
    sock.bind(&loopback(port))?;
    Ok(sock)
}

/// Echoes up to `max` datagrams; stops at `quit` or after the idle timeout.
fn echo_loop(sock: &OwnedSocket, max: usize, who: &str) -> io::Result<usize> {
    // A datagram longer than the buffer is cut to it and the rest lost,
    // without a word (see the misconceptions example). 65,535 bytes hold
    // the largest UDP payload (65,507 over IPv4, 65,527 over IPv6), so an
    // echo server never cuts one; on the heap, not the thread's stack.
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut echoed = 0;
    let mut interruptions = 0;
    while echoed < max {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(got) => got,
            // EINTR: nothing was received; ask again (bounded).
            Err(e) if e.kind() == io::ErrorKind::Interrupted && interruptions < 100 => {
                interruptions += 1;
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                println!("{who}: nothing for a while (SO_RCVTIMEO); stopping");
                return Ok(echoed);
            }
            Err(e) => return Err(e),
        };
        let data = &buf[..n];
        println!(
            "{who}: recvfrom = {n} from {}: {}",
            show(&from),
            preview(data)
        );
        if data.trim_ascii_end() == QUIT {
            return Ok(echoed);
        }
        // sendto the address recvfrom gave us. A datagram goes whole or
        // not at all, so there is no partial send to loop on; EAGAIN or
        // ENOBUFS would mean the datagram was not sent, which UDP allows
        // (the client retries): report it and carry on.
        match sock.send_to(data, &from) {
            Ok(_) => echoed += 1,
            Err(e) => println!("{who}: sendto failed: {e}; the client will retry"),
        }
    }
    Ok(echoed)
}

fn serve_forever_ish(port: u16, count: usize, idle: Duration) -> io::Result<()> {
    let sock = make_server(port, idle)?;
    println!(
        "server: echoing up to {count} datagrams on {}, giving up after {} s idle",
        show(&sock.local_addr()?),
        idle.as_secs()
    );
    println!("server: try `nc -u 127.0.0.1 {port}` (a \"quit\" line stops it)");
    let n = echo_loop(&sock, count, "server")?;
    println!("server: echoed {n} datagrams");
    Ok(())
}

fn demo() -> io::Result<()> {
    let server = make_server(0, WAIT)?;
    let server_addr = server.local_addr()?;
    println!("server: bound to {}", show(&server_addr));
    let server_thread = thread::spawn(move || echo_loop(&server, DEMO_MAX_DATAGRAMS, "server"));

    // 1-3: an unconnected client, no bind.
    let client = udp_socket()?;
    println!(
        "client: getsockname before sending = {}",
        show(&client.local_addr()?)
    );
    let reply = ask(&client, &server_addr, b"ping 1")?;
    println!(
        "client: getsockname after sendto = {} (sendto bound it)",
        show(&client.local_addr()?)
    );
    check(reply == b"ping 1", "the echo of ping 1")?;

    // 4: an empty datagram is still a datagram.
    let reply = ask(&client, &server_addr, b"")?;
    check(reply.is_empty(), "an empty echo")?;
    println!("client: recvfrom = 0 on UDP: an empty datagram, not end of stream");

    // 5: the connected way: connect only records the peer and filters.
    let connected = udp_socket()?;
    connected.connect(&server_addr)?;
    println!(
        "client: connected UDP socket: getsockname = {} (connect picked the source address too)",
        show(&connected.local_addr()?)
    );
    connected.set_read_timeout(Some(WAIT))?;
    connected.send(b"ping 5")?;
    let mut buf = [0u8; 64];
    let n = recv_retrying_eintr(&connected, &mut buf)?;
    println!(
        "client: connected socket: send, then recv = {n}: {:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    check(&buf[..n] == b"ping 5", "the echo of ping 5")?;

    // 6: a port where nobody takes our datagrams. `holder` owns the port
    // but is connected to 127.0.0.1:9, so the kernel delivers it nothing
    // from us and answers our datagrams with ICMP port unreachable. (Just
    // closing a socket and reusing its port would race with anyone else
    // taking that port.)
    let holder = udp_socket()?;
    holder.bind(&loopback(0))?;
    holder.connect(&loopback(9))?;
    let dead_end = holder.local_addr()?;
    let refused = udp_socket()?;
    refused.connect(&dead_end)?;
    refused.set_read_timeout(Some(WAIT))?;
    let sent = refused.send(b"hello?")?;
    // sendto succeeded: UDP hands the datagram to IP and returns. The
    // ICMP error comes back later and waits in the socket (SO_ERROR) for
    // the next call, here recv.
    println!(
        "client: connected to {} (nobody takes it): send = {sent}",
        show(&dead_end)
    );
    match refused.recv(&mut buf) {
        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
            println!("client: recv = -1 ECONNREFUSED: the ICMP port unreachable, reported")
        }
        other => return Err(unexpected("recv after ICMP port unreachable", &other)),
    }

    // 7: the same datagram from the unconnected socket: the kernel drops
    // the ICMP error, since an unconnected socket may talk to many peers
    // and the error could not be pinned on one (IP_RECVERR changes that).
    client.set_read_timeout(Some(SHORT_WAIT))?;
    client.send_to(b"hello?", &dead_end)?;
    match client.recv_from(&mut buf) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => println!(
            "client: unconnected socket: recvfrom = -1 EAGAIN after {} ms: no error reported",
            SHORT_WAIT.as_millis()
        ),
        other => return Err(unexpected("recvfrom on the unconnected socket", &other)),
    }

    // 8: stop the server and check it echoed what we sent.
    client.send_to(QUIT, &server_addr)?;
    let echoed = server_thread
        .join()
        .map_err(|_| io::Error::other("server thread panicked"))??;
    check(echoed == 3, "the server echoed 3 datagrams")?;
    println!("server: echoed {echoed} datagrams; demo done");
    Ok(())
}

/// Sends `msg` to `server` and waits for the reply from that address.
/// Datagrams may be lost (not on loopback, but a real client cannot know),
/// so it sends again after each timeout, a bounded number of times.
fn ask(sock: &OwnedSocket, server: &SockAddr, msg: &[u8]) -> io::Result<Vec<u8>> {
    sock.set_read_timeout(Some(WAIT))?;
    let mut buf = [0u8; 2048];
    for attempt in 1..=3 {
        let sent = sock.send_to(msg, server)?;
        println!(
            "client: sendto({}, {:?}) = {sent}",
            show(server),
            String::from_utf8_lossy(msg)
        );
        // A few datagrams from strangers may arrive first; skip them.
        for _ in 0..10 {
            match sock.recv_from(&mut buf) {
                Ok((n, from)) if from == *server => {
                    println!(
                        "client: recvfrom = {n} from {}: {:?}",
                        show(&from),
                        String::from_utf8_lossy(&buf[..n])
                    );
                    return Ok(buf[..n].to_vec());
                }
                Ok((n, from)) => println!("client: ignoring {n} bytes from {}", show(&from)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    println!("client: no reply (attempt {attempt}); sending again");
                    break;
                }
                Err(e) => return Err(e),
            }
        }
    }
    Err(io::Error::new(io::ErrorKind::TimedOut, "no reply"))
}

fn recv_retrying_eintr(sock: &OwnedSocket, buf: &mut [u8]) -> io::Result<usize> {
    for _ in 0..100 {
        match sock.recv(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
    Err(io::Error::other("interrupted too often"))
}

fn check(ok: bool, what: &str) -> io::Result<()> {
    if ok {
        Ok(())
    } else {
        Err(io::Error::other(format!("unexpected: not {what}")))
    }
}

fn unexpected<T: std::fmt::Debug>(what: &str, got: &io::Result<T>) -> io::Error {
    io::Error::other(format!("unexpected result of {what}: {got:?}"))
}

/// The bytes as a quoted string, cut at 32 bytes as strace cuts them (a
/// datagram may be 64 KiB).
fn preview(bytes: &[u8]) -> String {
    let cut = bytes.len().min(32);
    let more = if bytes.len() > cut { "..." } else { "" };
    format!("{:?}{more}", String::from_utf8_lossy(&bytes[..cut]))
}

fn show(addr: &SockAddr) -> String {
    match addr.as_socket() {
        Some(a) => a.to_string(),
        None => addr.to_string(),
    }
}
