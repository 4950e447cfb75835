//! `misconceptions`: six small runnable proofs of what socket chapters
//! often say loosely. Each prints the claim, what it did, and what the
//! kernel answered, and checks the answer, so the program fails if the
//! kernel (or baresock) ever behaves otherwise.
//!
//! # What it teaches, and the syscalls of each proof
//!
//! 1. **Sockets are blocking unless made nonblocking.** A fresh socket has
//!    no `O_NONBLOCK` (`fcntl(F_GETFL)`); its `recvfrom` waits, here for
//!    the 200 ms of `setsockopt(SO_RCVTIMEO)`, then fails with `EAGAIN`.
//!    A socket made with `SOCK_NONBLOCK` answers `EAGAIN` at once, and so
//!    does one call with `MSG_DONTWAIT` on a blocking socket.
//! 2. **A client needs no `bind` before `connect`.** `getsockname` before
//!    `connect`: `0.0.0.0:0`; after: `127.0.0.1:` an ephemeral port from
//!    `net.ipv4.ip_local_port_range`.
//! 3. **`close` does not free a port at once.** The side that closes a TCP
//!    connection first keeps its end in TIME_WAIT for 60 s (seen in
//!    `/proc/net/tcp`, state 06). While it lasts, `bind` of that port
//!    fails with `EADDRINUSE` — and `SO_REUSEADDR` on the new socket only
//!    helps if the old one had it too (accepted sockets inherit it from
//!    their listener). Proof: two rounds of `socket`, `bind`, `listen`,
//!    `connect`, `accept4`, `close` (server first), `recvfrom` = 0,
//!    `close`, then `bind` without and with `setsockopt(SO_REUSEADDR)`.
//! 4. **`send` may send fewer bytes than asked.** A nonblocking `sendto` of
//!    1 MiB into a small `SO_SNDBUF`, to a peer that does not read, returns
//!    a short count; the next one `EAGAIN`. (A blocking send would wait
//!    instead, and may still come back short after a signal or an
//!    `SO_SNDTIMEO`.) Hence the `send_all` loops in `tcp_server`.
//! 5. **A stream has no message boundaries.** Two `sendto`s of 5 bytes, one
//!    `recvfrom` gets all 10; one `sendto` of 10 bytes, `recvfrom` into a
//!    4-byte buffer takes 4, 4, 2. Over UDP, two datagrams stay two.
//! 6. **A UDP datagram larger than the buffer is truncated.** `recvfrom`
//!    into 10 bytes returns 10 and the rest of the datagram is gone (the
//!    next `recvfrom` gets the next datagram). With `MSG_TRUNC` it returns
//!    the real length (100); `recvmsg` reports `MSG_TRUNC` in its flags;
//!    `MSG_PEEK|MSG_TRUNC` with an empty buffer sizes the next datagram.
//!
//! # Run it
//!
//! `cargo run --example misconceptions` (no arguments; under a second).
//! Afterwards `ss -tan state time-wait` shows the TIME_WAIT entries it
//! left behind; the kernel removes them after 60 s.
//!
//! # What to look for in the trace
//!
//! `BARESOCK_TRACE=1 cargo run --example misconceptions --features trace`
//! prints every syscall the crate makes, as strace would, on stderr (`strace
//! -e trace=%network,fcntl,close target/debug/examples/misconceptions` shows
//! the same lines, among the program's other calls). Lines from one run:
//!
//! - 1: `recvfrom(3, ..., 16, 0, NULL, NULL) = -1 EAGAIN (Resource
//!   temporarily unavailable)` taking 0.20 s (`strace -T` prints
//!   `<0.201...>`), then the same answer at once on the `SOCK_NONBLOCK`
//!   socket and with `MSG_DONTWAIT`.
//! - 2: `getsockname(...)` shows `sin_port=htons(0)` before `connect` and
//!   a real port after it; there is no `bind` call on that fd.
//! - 3: `bind(..., sin_port=htons(P), ...) = -1 EADDRINUSE (Address already
//!   in use)` twice in the first round; `= -1 EADDRINUSE`, then `= 0` in the
//!   second, whose listener had `setsockopt(..., SO_REUSEADDR, [1], 4)`.
//! - 4: `sendto(4, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"...,
//!   1048576, MSG_NOSIGNAL, NULL, 0) = 6144` (on the machine this was
//!   written on: the buffer shows as its first 32 bytes, then `...`), a
//!   few smaller counts (`sendto(4, ..., 1042432, ...) = 2048`), then `=
//!   -1 EAGAIN (Resource temporarily unavailable)`.
//! - 5: two `sendto(..., 5, ...) = 5`, then `recvfrom(5, "helloworld", 64,
//!   0, NULL, NULL) = 10`; `recvfrom(5, "0123", 4, ...) = 4` and so on.
//! - 6: `recvfrom(3, "\0\1\2\3\4\5\6\7\10\t", 10, 0, NULL, NULL) = 10` then
//!   `recvfrom(3, "next", 10, 0, NULL, NULL) = 4`; `recvfrom(3, ..., 10,
//!   MSG_TRUNC, NULL, NULL) = 100`; `recvmsg(3, {..., msg_iov=[{iov_base=...,
//!   iov_len=10}], msg_iovlen=1, msg_controllen=0,
//!   msg_flags=MSG_TRUNC|MSG_CMSG_CLOEXEC}, MSG_CMSG_CLOEXEC) = 10` (the
//!   kernel hands back the `MSG_CMSG_CLOEXEC` baresock passes, with
//!   `MSG_TRUNC`); `recvfrom(3, "", 0, MSG_PEEK|MSG_TRUNC, NULL, NULL) =
//!   100`.

use std::io::{self, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, SockAddr, Type};

/// The receive timeout that proves a recv blocks.
const BLOCK_FOR: Duration = Duration::from_millis(200);
/// Bound on every wait for something the kernel will do soon.
const LIMIT: Duration = Duration::from_secs(5);

/// One runnable proof: `Err` when the kernel answered otherwise.
type Proof = fn() -> io::Result<()>;

fn main() -> ExitCode {
    if std::env::args().len() > 1 {
        eprintln!("usage: misconceptions (no arguments: runs every proof on loopback)");
        return ExitCode::from(2);
    }
    let proofs: [(&str, Proof); 6] = [
        (
            "sockets are blocking unless made nonblocking",
            blocking_by_default,
        ),
        (
            "a client needs no bind() before connect()",
            no_bind_before_connect,
        ),
        (
            "close() does not free a port at once",
            close_does_not_free_the_port,
        ),
        ("send() may send fewer bytes than asked", short_send),
        ("a stream has no message boundaries", no_message_boundaries),
        (
            "a UDP datagram larger than the buffer is truncated",
            truncation,
        ),
    ];
    for (n, (claim, proof)) in proofs.iter().enumerate() {
        println!("\n{}. {claim}", n + 1);
        if let Err(e) = proof() {
            eprintln!("misconceptions: proof {} failed: {e}", n + 1);
            return ExitCode::FAILURE;
        }
    }
    println!("\nall six proofs held on this kernel");
    ExitCode::SUCCESS
}

// ---- 1 ----

fn blocking_by_default() -> io::Result<()> {
    let sock = udp()?;
    sock.bind(&loopback(0))?;
    // fcntl(F_GETFL): no O_NONBLOCK on a fresh socket.
    let nb = sock.nonblocking()?;
    println!("   a fresh socket: O_NONBLOCK set = {nb}");
    check(!nb, "a fresh socket to be blocking")?;

    // Nothing will ever arrive. Without SO_RCVTIMEO this recv would wait
    // forever; with it, the kernel gives up after 200 ms with EAGAIN.
    sock.set_read_timeout(Some(BLOCK_FOR))?;
    let mut buf = [0u8; 16];
    let start = Instant::now();
    let r = sock.recv(&mut buf);
    let waited = start.elapsed();
    println!(
        "   blocking recvfrom with SO_RCVTIMEO=200ms = {} after {} ms",
        result_text(&r),
        waited.as_millis()
    );
    expect_errno(&r, libc::EAGAIN)?;
    // A lower bound only: the kernel never gives up early, but a busy
    // machine may wake us late.
    check(waited >= BLOCK_FOR / 2, "recvfrom to have blocked")?;

    // The same recv on a socket made nonblocking in socket() itself.
    let nonblocking = OwnedSocket::new_nonblocking(Domain::IPV4, Type::DGRAM, Protocol::DEFAULT)?;
    nonblocking.bind(&loopback(0))?;
    let r = nonblocking.recv(&mut buf);
    println!(
        "   recvfrom on a SOCK_NONBLOCK socket = {}: at once, nothing waited",
        result_text(&r)
    );
    expect_errno(&r, libc::EAGAIN)?;

    // Or one nonblocking call on the blocking socket: MSG_DONTWAIT.
    let r = sock.recv_with_flags(&mut buf, MsgFlags::DONTWAIT);
    println!(
        "   recvfrom(MSG_DONTWAIT) on the blocking socket = {}",
        result_text(&r)
    );
    expect_errno(&r, libc::EAGAIN)
}

// ---- 2 ----

fn no_bind_before_connect() -> io::Result<()> {
    let listener = tcp()?;
    listener.bind(&loopback(0))?;
    listener.listen(1)?;
    let client = tcp()?;
    let before = client.local_addr()?;
    println!("   getsockname before connect = {}", show(&before));
    // connect does the bind: it picks an ephemeral port (and the source
    // address from the route to the peer).
    client.connect(&listener.local_addr()?)?;
    let after = client.local_addr()?;
    println!("   getsockname after connect  = {}", show(&after));
    if let Ok(range) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range") {
        println!(
            "   (ephemeral ports come from net.ipv4.ip_local_port_range: {})",
            range.split_whitespace().collect::<Vec<_>>().join("-")
        );
    }
    let port = after.as_socket().map_or(0, |a| a.port());
    check(
        before.as_socket().map(|a| a.port()) == Some(0) && port != 0,
        "port 0 before connect and a real port after",
    )
}

// ---- 3 ----

fn close_does_not_free_the_port() -> io::Result<()> {
    for listener_reuse in [false, true] {
        println!(
            "   round {}: the old listener {} SO_REUSEADDR",
            if listener_reuse { 2 } else { 1 },
            if listener_reuse {
                "had"
            } else {
                "did not have"
            }
        );
        let port = connection_closed_by_server_first(listener_reuse)?;

        // Fresh sockets, asking for the same port.
        let plain = tcp()?;
        let r = plain.bind(&loopback(port));
        println!(
            "     bind(127.0.0.1:{port}) without SO_REUSEADDR = {}",
            result_text(&r)
        );
        expect_errno(&r, libc::EADDRINUSE)?;

        let reuse = tcp()?;
        reuse.set_reuse_address(true)?;
        let r = reuse.bind(&loopback(port));
        println!(
            "     bind(127.0.0.1:{port}) with SO_REUSEADDR    = {}",
            result_text(&r)
        );
        if listener_reuse {
            expect_ok(&r)?;
        } else {
            // Linux lets a bind through a TIME_WAIT only when both the new
            // socket and the one in TIME_WAIT had SO_REUSEADDR.
            expect_errno(&r, libc::EADDRINUSE)?;
        }
    }
    println!("   so: set SO_REUSEADDR on a server's listener every run, before bind");
    Ok(())
}

/// Makes one connection on a fresh port and lets the *server* close first,
/// which leaves the server's end in TIME_WAIT. Returns the port, with
/// nothing but that TIME_WAIT holding it.
fn connection_closed_by_server_first(listener_reuse: bool) -> io::Result<u16> {
    let listener = tcp()?;
    listener.set_reuse_address(listener_reuse)?;
    listener.bind(&loopback(0))?;
    listener.listen(1)?;
    let addr = listener.local_addr()?;
    let port = addr.as_socket().map_or(0, |a| a.port());

    let client = tcp()?;
    client.connect(&addr)?;
    client.set_read_timeout(Some(LIMIT))?;
    let client_port = client.local_addr()?.as_socket().map_or(0, |a| a.port());
    let (server_side, _) = listener.accept()?;

    // The server closes first: its FIN goes out, and its end will wait in
    // TIME_WAIT once the client's FIN comes back.
    server_side.close()?;
    let mut buf = [0u8; 1];
    let n = client.recv(&mut buf)?;
    check(n == 0, "end of stream after the server's close")?;
    client.close()?;
    listener.close()?;

    match wait_for_time_wait(port, client_port)? {
        true => println!(
            "     /proc/net/tcp: 127.0.0.1:{port} <-> 127.0.0.1:{client_port} in TIME_WAIT \
             (the server's end; the client's end, closed second, is gone)"
        ),
        false => println!("     (/proc/net/tcp not readable here; carrying on)"),
    }
    Ok(port)
}

/// Waits (bounded) until /proc/net/tcp lists local `port` talking to
/// `peer_port` in TIME_WAIT (state 06). `Ok(false)`: no /proc to look at.
fn wait_for_time_wait(port: u16, peer_port: u16) -> io::Result<bool> {
    let start = Instant::now();
    loop {
        let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
            return Ok(false);
        };
        // Each line: "sl local_address rem_address st ...", addresses as
        // hex "0100007F:1F90" (IP in host byte order, then the port).
        let found = table.lines().skip(1).any(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            f.len() > 3
                && hex_port(f[1]) == Some(port)
                && hex_port(f[2]) == Some(peer_port)
                && f[3] == "06"
        });
        if found {
            return Ok(true);
        }
        if start.elapsed() > LIMIT {
            return Err(io::Error::other(format!(
                "no TIME_WAIT entry for port {port} appeared"
            )));
        }
        thread::sleep(Duration::from_millis(2));
    }
}

fn hex_port(field: &str) -> Option<u16> {
    let (_, port) = field.split_once(':')?;
    u16::from_str_radix(port, 16).ok()
}

// ---- 4 ----

fn short_send() -> io::Result<()> {
    let listener = tcp()?;
    // A small receive buffer on the listener, inherited by the accepted
    // socket, so the peer's side fills quickly too.
    listener.set_recv_buffer_size(4096)?;
    listener.bind(&loopback(0))?;
    listener.listen(1)?;

    let client = tcp()?;
    // A small send buffer, set before connect. Linux doubles the value
    // (room for its bookkeeping) and reports the doubled size.
    client.set_send_buffer_size(4096)?;
    client.connect(&listener.local_addr()?)?;
    // The server accepts and then never reads.
    let (_server_side, _) = listener.accept()?;
    println!(
        "   SO_SNDBUF asked 4096, kernel reports {}",
        client.send_buffer_size()?
    );

    client.set_nonblocking(true)?;
    let big = vec![0u8; 1 << 20];
    let n = client.send(&big)?;
    println!(
        "   nonblocking sendto of {} bytes = {n}: a short count, not an error",
        big.len()
    );
    check(n < big.len(), "a short count")?;

    // Keep offering the rest until the kernel takes nothing more; each
    // round takes at least one byte, or ends with EAGAIN.
    let mut total = n;
    for _ in 0..10_000 {
        match client.send(&big[total..]) {
            Ok(m) => total += m,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                println!(
                    "   then sendto = -1 EAGAIN after {total} bytes in all: both buffers are full"
                );
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        if total == big.len() {
            break;
        }
    }
    Err(io::Error::other("the kernel took the whole megabyte"))
}

// ---- 5 ----

fn no_message_boundaries() -> io::Result<()> {
    let listener = tcp()?;
    listener.bind(&loopback(0))?;
    listener.listen(1)?;
    let sender = tcp()?;
    sender.connect(&listener.local_addr()?)?;
    let (receiver, _) = listener.accept()?;
    receiver.set_read_timeout(Some(LIMIT))?;

    // Two sends...
    let a = sender.send(b"hello")?;
    let b = sender.send(b"world")?;
    println!("   sendto(\"hello\") = {a}, sendto(\"world\") = {b}");
    // ...wait until both are in the receive queue (Nagle's algorithm may
    // hold the second segment until the first is acknowledged)...
    wait_readable_bytes(&receiver, 10)?;
    // ...and one recv takes both: the kernel kept bytes, not sends.
    let mut buf = [0u8; 64];
    let n = receiver.recv(&mut buf)?;
    println!(
        "   one recvfrom(64) = {n}: {:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    check(&buf[..n] == b"helloworld", "both sends in one recv")?;

    // The other way round: one send, several recvs.
    sender.send(b"0123456789")?;
    wait_readable_bytes(&receiver, 10)?;
    let mut small = [0u8; 4];
    let mut pieces = Vec::new();
    let mut got = 0;
    while got < 10 && pieces.len() < 10 {
        let n = receiver.recv(&mut small)?;
        pieces.push(String::from_utf8_lossy(&small[..n]).into_owned());
        got += n;
    }
    println!("   sendto(\"0123456789\") = 10, then recvfrom(4) gives {pieces:?}");
    check(pieces.concat() == "0123456789", "the bytes in order")?;

    // UDP keeps boundaries: each recv is exactly one datagram.
    let rx = udp()?;
    rx.bind(&loopback(0))?;
    rx.set_read_timeout(Some(LIMIT))?;
    let tx = udp()?;
    let to = rx.local_addr()?;
    tx.send_to(b"hello", &to)?;
    tx.send_to(b"world", &to)?;
    let n1 = rx.recv(&mut buf)?;
    let first = String::from_utf8_lossy(&buf[..n1]).into_owned();
    let n2 = rx.recv(&mut buf)?;
    let second = String::from_utf8_lossy(&buf[..n2]).into_owned();
    println!("   over UDP: two sendto, recvfrom(64) = {n1} {first:?}, then {n2} {second:?}");
    check(first == "hello" && second == "world", "two datagrams")
}

/// Waits (bounded) until at least `n` bytes can be read, peeking without
/// taking them: `recvfrom(MSG_PEEK|MSG_DONTWAIT)`.
fn wait_readable_bytes(sock: &OwnedSocket, n: usize) -> io::Result<()> {
    let mut buf = vec![0u8; n];
    let start = Instant::now();
    while start.elapsed() < LIMIT {
        match sock.recv_with_flags(&mut buf, MsgFlags::PEEK | MsgFlags::DONTWAIT) {
            Ok(got) if got >= n => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        thread::sleep(Duration::from_millis(1));
    }
    Err(io::Error::other(format!("{n} bytes never arrived")))
}

// ---- 6 ----

fn truncation() -> io::Result<()> {
    let rx = udp()?;
    rx.bind(&loopback(0))?;
    rx.set_read_timeout(Some(LIMIT))?;
    let to = rx.local_addr()?;
    let tx = udp()?;
    let big: Vec<u8> = (0..100u8).collect();
    let mut small = [0u8; 10];

    // Plain recv into 10 bytes: 10 come back, 90 are thrown away.
    tx.send_to(&big, &to)?;
    tx.send_to(b"next", &to)?;
    let n = rx.recv(&mut small)?;
    println!(
        "   sendto(100 bytes), then recvfrom(buf of 10) = {n}: {:?}",
        &small[..n]
    );
    check(n == 10, "10 bytes")?;
    let n = rx.recv(&mut small)?;
    println!(
        "   next recvfrom = {n}: {:?}: the next datagram, the other 90 bytes are gone",
        String::from_utf8_lossy(&small[..n])
    );
    check(&small[..n] == b"next", "the next datagram")?;

    // MSG_TRUNC: the real length comes back, still only 10 bytes copied.
    tx.send_to(&big, &to)?;
    let n = rx.recv_with_flags(&mut small, MsgFlags::TRUNC)?;
    println!(
        "   recvfrom(buf of 10, MSG_TRUNC) = {n}: the datagram's real length (10 bytes copied)"
    );
    check(n == 100, "the real length")?;

    // recvmsg says so in its flags.
    tx.send_to(&big, &to)?;
    let (n, flags) = rx.recv_vectored(&mut [IoSliceMut::new(&mut small)])?;
    println!(
        "   recvmsg(iov of 10) = {n}, msg_flags contain MSG_TRUNC: {}",
        flags.contains(MsgFlags::TRUNC)
    );
    check(
        n == 10 && flags.contains(MsgFlags::TRUNC),
        "MSG_TRUNC in msg_flags",
    )?;

    // The practical use: peek the length with an empty buffer, then
    // receive into a buffer of the right size.
    tx.send_to(&big, &to)?;
    let len = rx.recv_with_flags(&mut [], MsgFlags::PEEK | MsgFlags::TRUNC)?;
    let mut exact = vec![0u8; len];
    let n = rx.recv(&mut exact)?;
    println!("   recvfrom(empty buf, MSG_PEEK|MSG_TRUNC) = {len}; recvfrom(buf of {len}) = {n}");
    check(n == 100 && exact == big, "the whole datagram")
}

// ---- helpers ----

fn tcp() -> io::Result<OwnedSocket> {
    OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT)
}

fn udp() -> io::Result<OwnedSocket> {
    OwnedSocket::new(Domain::IPV4, Type::DGRAM, Protocol::DEFAULT)
}

fn loopback(port: u16) -> SockAddr {
    SockAddr::from(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

fn show(addr: &SockAddr) -> String {
    match addr.as_socket() {
        Some(a) => a.to_string(),
        None => addr.to_string(),
    }
}

fn check(ok: bool, what: &str) -> io::Result<()> {
    if ok {
        Ok(())
    } else {
        Err(io::Error::other(format!("expected {what}")))
    }
}

fn expect_ok(r: &io::Result<()>) -> io::Result<()> {
    match r {
        Ok(()) => Ok(()),
        Err(e) => Err(io::Error::other(format!(
            "expected success, got {}",
            errno_text(e)
        ))),
    }
}

fn expect_errno<T>(r: &io::Result<T>, code: i32) -> io::Result<()> {
    match r {
        Err(e) if e.raw_os_error() == Some(code) => Ok(()),
        Err(e) => Err(io::Error::other(format!(
            "expected {}, got {}",
            errno_name(code),
            errno_text(e)
        ))),
        Ok(_) => Err(io::Error::other(format!(
            "expected {}, got success",
            errno_name(code)
        ))),
    }
}

fn result_text<T>(r: &io::Result<T>) -> String {
    match r {
        Ok(_) => "0".to_string(),
        Err(e) => errno_text(e),
    }
}

fn errno_name(code: i32) -> &'static str {
    match code {
        libc::EAGAIN => "EAGAIN",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EINTR => "EINTR",
        _ => "errno",
    }
}

/// `-1 EAGAIN (Resource temporarily unavailable)`, as strace prints it.
fn errno_text(e: &io::Error) -> String {
    let Some(code) = e.raw_os_error() else {
        return e.to_string();
    };
    let text = e.to_string();
    let message = text
        .strip_suffix(&format!(" (os error {code})"))
        .unwrap_or(&text);
    format!("-1 {} ({message})", errno_name(code))
}
