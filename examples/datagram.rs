//! `datagram`: a UDP listener and a UDP talker, the counterparts of
//! `listener.c` and `talker.c` in Beej's guide, in one example with two
//! roles. Nothing leaves the machine: the listener binds 127.0.0.1 and the
//! talker sends there.
//!
//! # What it teaches
//!
//! - A datagram socket needs no connection: the listener `bind`s and
//!   `recvfrom`s; the talker makes a socket and `sendto`s. Each datagram
//!   carries its own destination (in `sendto`) and source (out of
//!   `recvfrom`).
//! - The talker never calls `bind`: `sendto` picks an ephemeral port for
//!   it, and the listener sees that port as the sender's. The talker's own
//!   `getsockname` still says `0.0.0.0`: its source address is chosen per
//!   datagram by routing (127.0.0.1, as the listener sees).
//! - One `sendto` is one datagram is one `recvfrom`: what was sent arrives
//!   whole (or not at all), with its length. Whole up to the buffer: the
//!   listener reads into 99 bytes, as Beej's does, and a longer datagram
//!   is cut there, the rest lost (see `misconceptions`, proof 6). Beej's
//!   listener then prints 99 as the length; this one passes `MSG_TRUNC`
//!   (Linux), so `recvfrom` returns the datagram's real length, and says
//!   how much was lost.
//! - `sendto` succeeding means the datagram left this socket, not that
//!   anyone received it: UDP has no acknowledgement.
//!
//! # Syscalls, in order
//!
//! Listener: `socket(AF_INET, SOCK_DGRAM|SOCK_CLOEXEC, IPPROTO_IP)`,
//! `setsockopt(SO_RCVTIMEO)`, `bind(127.0.0.1:PORT)`, `getsockname`, then
//! `recvfrom(fd, buf, 99, MSG_TRUNC, &from, &len)` per datagram, `close`.
//!
//! Talker: `socket(AF_INET, SOCK_DGRAM|SOCK_CLOEXEC, IPPROTO_IP)`,
//! `sendto(fd, msg, len, MSG_NOSIGNAL, 127.0.0.1:PORT, 16)`, `getsockname`
//! (the port sendto chose), `close`.
//!
//! Without arguments the listener runs in a thread and the talker in the
//! main thread, once.
//!
//! # Run it
//!
//! ```text
//! cargo run --example datagram                          # both roles, once
//! cargo run --example datagram -- listen 4950 3         # 3 datagrams on 127.0.0.1:4950
//! cargo run --example datagram -- listen 4950 3 120     # ... giving up after 120 s idle
//! cargo run --example datagram -- talk 4950 "hi there"  # one datagram to 127.0.0.1:4950
//! ```
//!
//! Poke at the listener with `nc -u 127.0.0.1 4950` (each line is one
//! datagram); catch the talker with `nc -u -l 127.0.0.1 4950`.
//!
//! # What to look for in the trace
//!
//! `BARESOCK_TRACE=1 cargo run --example datagram --features trace` prints
//! every syscall the crate makes, as strace would, on stderr (`strace -f -e
//! trace=%network,close target/debug/examples/datagram` shows the same
//! lines, among the program's other calls). Lines from one run:
//!
//! - `bind(3, {sa_family=AF_INET, sin_port=htons(0),
//!   sin_addr=inet_addr("127.0.0.1")}, 16) = 0` in the listener, and no
//!   `bind` on the talker's fd.
//! - `sendto(4, "hello, listener", 15, MSG_NOSIGNAL, {sa_family=AF_INET,
//!   sin_port=htons(P), ...}, 16) = 15` in the talker, and `recvfrom(3,
//!   "hello, listener", 99, MSG_TRUNC, {sa_family=AF_INET, sin_port=htons(T),
//!   ...}, [128 => 16]) = 15` in the listener, where T is the port the
//!   talker's `getsockname` shows.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, SockAddr, Type};

/// Beej's MYPORT, the default port of the listen role.
const MY_PORT: u16 = 4950;
/// Beej's MAXBUFLEN; one byte is kept back, as his listener keeps it for
/// the terminating NUL.
const MAX_BUF_LEN: usize = 100;
/// How long the demo's listener waits before `EAGAIN`.
const DEMO_WAIT: Duration = Duration::from_secs(5);
const DEMO_MESSAGE: &[u8] = b"hello, listener";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        [] => demo(),
        ["listen", rest @ ..] if rest.len() <= 3 => match parse_listen(rest) {
            Ok((port, count, idle)) => listen_role(port, count, idle),
            Err(msg) => return usage(&msg),
        },
        ["talk", port, message] => match port.parse::<u16>() {
            Ok(port) if port != 0 => talk(port, message.as_bytes()).map(|_| ()),
            _ => return usage(&format!("bad port {port:?}")),
        },
        _ => return usage("unknown arguments"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("datagram: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("datagram: {msg}");
    eprintln!("usage: datagram                                  (self-contained demo)");
    eprintln!(
        "       datagram listen [PORT [COUNT [IDLE_SECONDS]]]  (127.0.0.1, default 4950 1 60)"
    );
    eprintln!("       datagram talk PORT MESSAGE                (to 127.0.0.1:PORT)");
    ExitCode::from(2)
}

fn parse_listen(rest: &[&str]) -> Result<(u16, usize, Duration), String> {
    let port = match rest.first() {
        Some(p) => p.parse().map_err(|_| format!("bad port {p:?}"))?,
        None => MY_PORT,
    };
    let count: usize = match rest.get(1) {
        Some(c) => c.parse().map_err(|_| format!("bad count {c:?}"))?,
        None => 1,
    };
    if !(1..=1_000_000).contains(&count) {
        return Err("count must be 1..=1000000".into());
    }
    let idle: u64 = match rest.get(2) {
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

fn udp() -> io::Result<OwnedSocket> {
    OwnedSocket::new(Domain::IPV4, Type::DGRAM, Protocol::DEFAULT)
}

/// Beej's listener: bind, then recvfrom. Returns the socket, bound.
fn make_listener(port: u16, idle: Duration) -> io::Result<OwnedSocket> {
    let sock = udp()?;
    // SO_RCVTIMEO bounds each blocking recvfrom, so the listener ends by
    // itself (EAGAIN) when nobody talks.
    sock.set_read_timeout(Some(idle))?;
    // 127.0.0.1 only: nobody outside this machine can reach it.
    sock.bind(&loopback(port))?;
    Ok(sock)
}

/// Receives up to `count` datagrams and prints each as Beej's listener
/// does. Returns what was received, and from whom.
fn listen_loop(sock: &OwnedSocket, count: usize) -> io::Result<Vec<(Vec<u8>, SockAddr)>> {
    let mut got = Vec::new();
    let mut buf = [0u8; MAX_BUF_LEN];
    let mut interruptions = 0;
    while got.len() < count {
        println!("listener: waiting to recvfrom...");
        // MSG_TRUNC: on a datagram socket recvfrom returns the datagram's
        // real length even when the buffer took less. Without it a
        // 150-byte datagram reads as "99 bytes long", the rest gone
        // without a word.
        let (n, from) =
            match sock.recv_from_with_flags(&mut buf[..MAX_BUF_LEN - 1], MsgFlags::TRUNC) {
                Ok(r) => r,
                // EINTR: nothing received; wait again (bounded).
                Err(e) if e.kind() == io::ErrorKind::Interrupted && interruptions < 100 => {
                    interruptions += 1;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    println!("listener: nothing came (SO_RCVTIMEO expired); stopping");
                    break;
                }
                Err(e) => return Err(e),
            };
        println!("listener: got packet from {}", show(&from));
        println!("listener: packet is {n} bytes long");
        // Only the first `kept` bytes were written into the buffer.
        let kept = n.min(MAX_BUF_LEN - 1);
        if kept < n {
            println!(
                "listener: only the first {kept} bytes fit in the buffer; the other {} are lost",
                n - kept
            );
        }
        println!(
            "listener: packet contains {:?}",
            String::from_utf8_lossy(&buf[..kept])
        );
        got.push((buf[..kept].to_vec(), from));
    }
    Ok(got)
}

fn listen_role(port: u16, count: usize, idle: Duration) -> io::Result<()> {
    let sock = make_listener(port, idle)?;
    println!(
        "listener: bound to {}; try `nc -u 127.0.0.1 {port}`",
        show(&sock.local_addr()?)
    );
    let got = listen_loop(&sock, count)?;
    println!("listener: received {} datagram(s)", got.len());
    Ok(())
}

/// Beej's talker: socket, sendto, done. Returns the talker's own address.
fn talk(port: u16, message: &[u8]) -> io::Result<SockAddr> {
    let sock = udp()?;
    let to = loopback(port);
    // sendto names the destination of this one datagram. There is no
    // partial send for a datagram: the count is all of it, or an error
    // (EMSGSIZE when it is too large for UDP).
    let n = sock.send_to(message, &to)?;
    println!("talker: sent {n} bytes to {}", show(&to));
    // Never bound, yet it has a port now: sendto bound it.
    let me = sock.local_addr()?;
    println!(
        "talker: getsockname = {} (sendto picked the port)",
        show(&me)
    );
    Ok(me)
}

fn demo() -> io::Result<()> {
    let listener = make_listener(0, DEMO_WAIT)?;
    let port = listener.local_addr()?.as_socket().map_or(0, |a| a.port());
    println!("listener: bound to 127.0.0.1:{port}");
    let listening = thread::spawn(move || listen_loop(&listener, 1));

    let talker_addr = talk(port, DEMO_MESSAGE)?;
    let got = listening
        .join()
        .map_err(|_| io::Error::other("listener thread panicked"))??;
    let talker_port = talker_addr.as_socket().map_or(0, |a| a.port());
    match got.as_slice() {
        [(bytes, from)]
            if bytes == DEMO_MESSAGE && from.as_socket().map(|a| a.port()) == Some(talker_port) => {
        }
        _ => {
            return Err(io::Error::other(format!(
                "listener got {got:?}, expected one {:?} from port {talker_port}",
                String::from_utf8_lossy(DEMO_MESSAGE)
            )));
        }
    }
    println!(
        "demo: one sendto, one recvfrom, the same {} bytes, from the port the talker's \
         sendto picked ({talker_port})",
        DEMO_MESSAGE.len()
    );
    Ok(())
}

fn show(addr: &SockAddr) -> String {
    match addr.as_socket() {
        Some(a) => a.to_string(),
        None => addr.to_string(),
    }
}
