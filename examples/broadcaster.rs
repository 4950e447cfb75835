//! `broadcaster`: UDP broadcast, the counterpart of `broadcaster.c` in
//! Beej's guide, kept on this machine: the broadcast address is loopback's
//! own, 127.255.255.255 (never 255.255.255.255 or a real network's), and
//! the listeners bind it.
//!
//! # What it teaches
//!
//! - Sending to a broadcast address is refused unless the socket asked for
//!   it: `sendto` fails with `EACCES` until `setsockopt(SO_BROADCAST, 1)`.
//!   A guard against broadcasting by mistake.
//! - A broadcast datagram goes to *every* socket bound to the broadcast
//!   address (or the wildcard) and the port: here two listeners bound to
//!   127.255.255.255:PORT each get a copy. Two sockets may bind the same
//!   address and port only because both set `SO_REUSEADDR` first.
//! - A socket bound to a unicast address (127.0.0.1:PORT) gets none of the
//!   broadcast, and a unicast datagram to 127.0.0.1:PORT reaches only it.
//!   The kernel matches the datagram's destination address to the bound
//!   address.
//!
//! # Syscalls, in order
//!
//! Listeners: `socket(AF_INET, SOCK_DGRAM|SOCK_CLOEXEC, IPPROTO_IP)`,
//! `setsockopt(SO_REUSEADDR, [1])`, `setsockopt(SO_RCVTIMEO)`,
//! `bind(127.255.255.255:PORT)` (twice; the first with port 0, then
//! `getsockname` for the port), and one more socket `bind(127.0.0.1:PORT)`.
//!
//! Talker: `socket`, `getsockopt(SO_BROADCAST)` = 0,
//! `sendto(127.255.255.255:PORT)` = -1 `EACCES`,
//! `setsockopt(SO_BROADCAST, [1])`, `sendto(127.255.255.255:PORT)` = n;
//! then `recvfrom` on each listener (two copies, and `EAGAIN` with
//! `MSG_DONTWAIT` on the unicast one); then `sendto(127.0.0.1:PORT)` and
//! the reverse picture.
//!
//! # Run it
//!
//! ```text
//! cargo run --example broadcaster                            # self-contained demo
//! cargo run --example broadcaster -- listen 4950 3           # wait for 3 broadcasts
//! cargo run --example broadcaster -- listen 4950 3 120       # ... at most 120 s idle
//! cargo run --example broadcaster -- 4950 "hello, everyone"  # Beej's usage, port first
//! ```
//!
//! Start `listen` in two terminals at once: both get every broadcast. From
//! a shell, `socat - UDP-DATAGRAM:127.255.255.255:4950,broadcast` sends
//! broadcasts too (without `,broadcast`, socat meets the same `EACCES`).
//!
//! # What to look for in the trace
//!
//! `BARESOCK_TRACE=1 cargo run --example broadcaster --features trace`
//! prints every syscall the crate makes, as strace would, on stderr (`strace
//! -e trace=%network target/debug/examples/broadcaster` shows the same
//! lines, among the program's other calls). Lines from one run:
//!
//! - `bind(3, {sa_family=AF_INET, sin_port=htons(0),
//!   sin_addr=inet_addr("127.255.255.255")}, 16) = 0`: a broadcast
//!   address is bindable, loopback's included.
//! - `sendto(6, "hello, everyone", 15, MSG_NOSIGNAL, {...
//!   sin_addr=inet_addr("127.255.255.255")}, 16) = -1 EACCES (Permission
//!   denied)`, then `setsockopt(6, SOL_SOCKET, SO_BROADCAST, [1], 4) = 0`
//!   and the same `sendto` `= 15`.
//! - Two `recvfrom(...) = 15` on fds 3 and 4 for one `sendto`, and
//!   `recvfrom(5, ..., MSG_DONTWAIT, ...) = -1 EAGAIN` on the unicast one.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, SockAddr, Type};

/// Loopback's broadcast address (127.0.0.0/8's last address). The only
/// broadcast address this example ever uses.
const LOOPBACK_BROADCAST: Ipv4Addr = Ipv4Addr::new(127, 255, 255, 255);
/// How long a listener's blocking recvfrom waits in the demo.
const DEMO_WAIT: Duration = Duration::from_secs(5);
const MESSAGE: &[u8] = b"hello, everyone";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        [] => demo(),
        ["listen", port, rest @ ..] if rest.len() <= 2 => match parse_listen(port, rest) {
            Ok((port, count, idle)) => listen_role(port, count, idle),
            Err(msg) => return usage(&msg),
        },
        [port, message] => match port.parse::<u16>() {
            Ok(port) if port != 0 => talk(port, message.as_bytes()).map(|_| ()),
            _ => return usage(&format!("bad port {port:?}")),
        },
        _ => return usage("unknown arguments"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("broadcaster: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("broadcaster: {msg}");
    eprintln!("usage: broadcaster                               (self-contained demo)");
    eprintln!("       broadcaster PORT MESSAGE                  (to 127.255.255.255:PORT)");
    eprintln!("       broadcaster listen PORT [COUNT [IDLE_SECONDS]]  (default 1 60)");
    ExitCode::from(2)
}

fn parse_listen(port: &str, rest: &[&str]) -> Result<(u16, usize, Duration), String> {
    let port: u16 = port.parse().map_err(|_| format!("bad port {port:?}"))?;
    let count: usize = match rest.first() {
        Some(c) => c.parse().map_err(|_| format!("bad count {c:?}"))?,
        None => 1,
    };
    if !(1..=1_000_000).contains(&count) {
        return Err("count must be 1..=1000000".into());
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

fn addr(ip: Ipv4Addr, port: u16) -> SockAddr {
    SockAddr::from(SocketAddr::from((ip, port)))
}

fn udp() -> io::Result<OwnedSocket> {
    OwnedSocket::new(Domain::IPV4, Type::DGRAM, Protocol::DEFAULT)
}

/// A listener on 127.255.255.255:PORT (port 0: the kernel picks).
fn broadcast_listener(port: u16, wait: Duration) -> io::Result<OwnedSocket> {
    let sock = udp()?;
    // SO_REUSEADDR before bind, on every listener: that is what lets
    // several sockets (here, or in several processes) bind the same
    // broadcast address and port, each to get its own copy.
    sock.set_reuse_address(true)?;
    // Bound each blocking recvfrom, so a listener ends by itself.
    sock.set_read_timeout(Some(wait))?;
    sock.bind(&addr(LOOPBACK_BROADCAST, port))?;
    Ok(sock)
}

/// Beej's broadcaster: a datagram socket, SO_BROADCAST, sendto. Shows the
/// EACCES first. Returns the talker's socket (for the demo's next step).
fn talk(port: u16, message: &[u8]) -> io::Result<OwnedSocket> {
    let sock = udp()?;
    let to = addr(LOOPBACK_BROADCAST, port);
    println!("talker: SO_BROADCAST = {}", u8::from(sock.broadcast()?));
    match sock.send_to(message, &to) {
        Err(e) if e.raw_os_error() == Some(libc::EACCES) => println!(
            "talker: sendto({}) = -1 EACCES (Permission denied): broadcast not asked for",
            show(&to)
        ),
        other => {
            return Err(io::Error::other(format!(
                "expected EACCES without SO_BROADCAST, got {other:?}"
            )));
        }
    }
    // The socket-level permission to send to broadcast addresses.
    sock.set_broadcast(true)?;
    let n = sock.send_to(message, &to)?;
    println!("talker: SO_BROADCAST = 1; sendto({}) = {n}", show(&to));
    Ok(sock)
}

/// Blocking receive of one datagram, printed; EINTR retried (bounded).
fn receive(who: &str, sock: &OwnedSocket) -> io::Result<Option<(Vec<u8>, SockAddr)>> {
    let mut buf = [0u8; 1500];
    for _ in 0..100 {
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                println!(
                    "{who}: recvfrom = {n} from {}: {:?}",
                    show(&from),
                    String::from_utf8_lossy(&buf[..n])
                );
                return Ok(Some((buf[..n].to_vec(), from)));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("interrupted too often"))
}

/// A nonblocking look (MSG_DONTWAIT): true if nothing is queued.
fn nothing_queued(who: &str, sock: &OwnedSocket) -> io::Result<bool> {
    let mut buf = [0u8; 1500];
    match sock.recv_from_with_flags(&mut buf, MsgFlags::DONTWAIT) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            println!("{who}: recvfrom(MSG_DONTWAIT) = -1 EAGAIN: nothing for it");
            Ok(true)
        }
        Ok((n, from)) => {
            println!("{who}: unexpectedly got {n} bytes from {}", show(&from));
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

fn listen_role(port: u16, count: usize, idle: Duration) -> io::Result<()> {
    let sock = broadcast_listener(port, idle)?;
    println!(
        "listener: bound to {}; waiting for {count} broadcast(s)",
        show(&sock.local_addr()?)
    );
    for _ in 0..count {
        if receive("listener", &sock)?.is_none() {
            println!("listener: nothing came (SO_RCVTIMEO expired); stopping");
            break;
        }
    }
    Ok(())
}

fn demo() -> io::Result<()> {
    let first = broadcast_listener(0, DEMO_WAIT)?;
    let port = first.local_addr()?.as_socket().map_or(0, |a| a.port());
    let second = broadcast_listener(port, DEMO_WAIT)?;
    let unicast = udp()?;
    unicast.bind(&addr(Ipv4Addr::LOCALHOST, port))?;
    println!(
        "listeners: two on {LOOPBACK_BROADCAST}:{port} (SO_REUSEADDR), one on 127.0.0.1:{port}"
    );

    let talker = talk(port, MESSAGE)?;
    let talker_port = talker.local_addr()?.as_socket().map_or(0, |a| a.port());
    // Both broadcast listeners get a copy, from the talker's port.
    for (who, sock) in [("listener 1", &first), ("listener 2", &second)] {
        match receive(who, sock)? {
            Some((bytes, from))
                if bytes == MESSAGE && from.as_socket().map(|a| a.port()) == Some(talker_port) => {}
            other => {
                return Err(io::Error::other(format!(
                    "{who} expected the broadcast, got {other:?}"
                )));
            }
        }
    }
    // The copies were delivered together; the unicast socket got none.
    if !nothing_queued("127.0.0.1 listener", &unicast)? {
        return Err(io::Error::other("a unicast-bound socket got a broadcast"));
    }

    // And the reverse: a unicast datagram to 127.0.0.1:PORT reaches only
    // the socket bound to 127.0.0.1.
    unicast.set_read_timeout(Some(DEMO_WAIT))?;
    let n = talker.send_to(b"just you", &addr(Ipv4Addr::LOCALHOST, port))?;
    println!("talker: sendto(127.0.0.1:{port}) = {n}");
    match receive("127.0.0.1 listener", &unicast)? {
        Some((bytes, _)) if bytes == b"just you" => {}
        other => {
            return Err(io::Error::other(format!(
                "the unicast listener expected \"just you\", got {other:?}"
            )));
        }
    }
    for (who, sock) in [("listener 1", &first), ("listener 2", &second)] {
        if !nothing_queued(who, sock)? {
            return Err(io::Error::other(
                "a broadcast listener got a unicast datagram",
            ));
        }
    }
    println!("demo: one broadcast, two copies; one unicast, one copy");
    Ok(())
}

fn show(addr: &SockAddr) -> String {
    match addr.as_socket() {
        Some(a) => a.to_string(),
        None => addr.to_string(),
    }
}
