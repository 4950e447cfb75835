//! `showip`: print the IP addresses of a host, then ask the kernel whether
//! each one belongs to this machine. It is the counterpart of `showip.c` in
//! Beej's guide, restricted so that it never leaves the machine: it
//! resolves only `localhost` and numeric addresses, never asks DNS.
//!
//! # What it teaches
//!
//! - Name resolution is not a syscall: `getaddrinfo` (here behind std's
//!   `ToSocketAddrs`) is a C library function that reads
//!   `/etc/nsswitch.conf` and `/etc/hosts` (and would ask DNS for other
//!   names). A numeric address needs no lookup at all: std parses it.
//! - One name may give several addresses, of different families. On this
//!   machine `/etc/hosts` has only `127.0.0.1 localhost`, no `::1
//!   localhost`, so `localhost` is IPv4 only and IPv6 uses the literal `::1`.
//! - Each address becomes a `sockaddr`: `sockaddr_in` (16 bytes) for IPv4,
//!   `sockaddr_in6` (28 bytes) for IPv6, which is what every socket call
//!   takes. The family decides the `socket()` domain.
//! - `bind` to `ADDRESS:0` is how to ask the kernel "is this one of my
//!   addresses?": 0 if yes, `EADDRNOTAVAIL` if not. Nothing is sent.
//!
//! # Syscalls, in order (per address)
//!
//! `socket(AF_INET or AF_INET6, SOCK_DGRAM|SOCK_CLOEXEC, IPPROTO_IP)`,
//! `bind(ADDRESS:0)`, `getsockname` (the port the kernel picked), `close`.
//! Resolving `localhost` adds the C library's own calls, none of them
//! the crate's: a `connect` to the name-service cache daemon's Unix socket
//! (`/var/run/nscd/socket`, `ENOENT` where nscd does not run), then
//! `openat`/`read`/`close` of `/etc/nsswitch.conf`, `/etc/host.conf`,
//! `/etc/resolv.conf` and `/etc/hosts`. No IP socket, no DNS query.
//!
//! # Run it
//!
//! ```text
//! cargo run --example showip                       # localhost, 127.0.0.1, ::1
//! cargo run --example showip -- localhost ::1 127.0.0.2 192.0.2.1
//! ```
//!
//! Any other name is refused before anything is resolved (exit status 2).
//!
//! # What to look for in the trace
//!
//! `BARESOCK_TRACE=1 cargo run --example showip --features trace` shows only
//! the crate's calls. For the whole story, `strace -e trace=%network,openat
//! target/debug/examples/showip`:
//!
//! - `connect(3, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"},
//!   110) = -1 ENOENT` and `openat(AT_FDCWD, "/etc/hosts", O_RDONLY|
//!   O_CLOEXEC) = 3`, and no `AF_INET` socket before the crate's: that is
//!   the whole of "resolving localhost". The numeric addresses cause
//!   nothing at all.
//! - `bind(3, {sa_family=AF_INET6, sin6_port=htons(0), ...
//!   inet_pton(AF_INET6, "::1", &sin6_addr), ...}, 28) = 0`: the IPv6
//!   sockaddr is 28 bytes, the IPv4 one 16.
//! - With an address that is not this machine's (`192.0.2.1`):
//!   `bind(...) = -1 EADDRNOTAVAIL (Cannot assign requested address)`.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

use baresock::{Domain, OwnedSocket, Protocol, SockAddr, Type};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let hosts: Vec<String> = if args.is_empty() {
        vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]
    } else {
        args
    };
    // Refuse before resolving anything: never a DNS query from here.
    for host in &hosts {
        if host != "localhost" && host.parse::<IpAddr>().is_err() {
            eprintln!("showip: refusing {host:?}: only localhost or a numeric address");
            eprintln!("usage: showip [localhost | ADDRESS]...");
            return ExitCode::from(2);
        }
    }
    for host in &hosts {
        if let Err(e) = show_host(host) {
            eprintln!("showip: {host}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn show_host(host: &str) -> io::Result<()> {
    println!("IP addresses for {host}:\n");
    // ToSocketAddrs on (host, 0): a numeric host is parsed by std itself;
    // "localhost" goes to getaddrinfo, which finds it in /etc/hosts.
    let mut addrs: Vec<SocketAddr> = (host, 0).to_socket_addrs()?.collect();
    // getaddrinfo may list an address once per socket type; show each once.
    addrs.dedup();
    if addrs.is_empty() {
        println!("  (none)\n");
        return Ok(());
    }
    for addr in addrs {
        let sa = SockAddr::from(addr);
        let (label, domain) = match addr {
            SocketAddr::V4(_) => ("IPv4", Domain::IPV4),
            SocketAddr::V6(_) => ("IPv6", Domain::IPV6),
        };
        println!(
            "  {label}: {}  (sockaddr: {:?}, {} bytes)",
            addr.ip(),
            sa.domain().unwrap_or(domain),
            sa.len()
        );
        println!("        {}", ask_kernel(domain, &sa));
    }
    println!();
    Ok(())
}

/// Binds a datagram socket to ADDRESS:0: the kernel accepts only its own
/// addresses, and picks a free port. Nothing is sent anywhere.
fn ask_kernel(domain: Domain, addr: &SockAddr) -> String {
    // A datagram socket: a bound TCP socket would add nothing here, and a
    // UDP one leaves no state (no TIME_WAIT) when closed.
    let sock = match OwnedSocket::new(domain, Type::DGRAM, Protocol::DEFAULT) {
        Ok(s) => s,
        Err(e) => return format!("socket({domain:?}) = {}", errno_text(&e)),
    };
    let wildcard = addr.as_socket().is_some_and(|a| a.ip().is_unspecified());
    match sock.bind(addr) {
        Ok(()) => {
            let meaning = if wildcard {
                "the wildcard: every address of this machine"
            } else {
                "an address of this machine"
            };
            match sock.local_addr().map(|a| a.as_socket()) {
                Ok(Some(bound)) => format!("bind = 0, getsockname = {bound}: {meaning}"),
                Ok(None) => format!("bind = 0: {meaning}"),
                Err(e) => format!("bind = 0, getsockname = {}", errno_text(&e)),
            }
        }
        Err(e) => {
            let meaning = match e.raw_os_error() {
                Some(libc::EADDRNOTAVAIL) => "not an address of this machine",
                // fe80::/10 without a scope id: which interface's?
                Some(libc::EINVAL) => "a link-local address needs a scope id (%interface)",
                _ => "not usable as a local address here",
            };
            format!("bind = {}: {meaning}", errno_text(&e))
        }
    }
    // `sock` is closed here: close(fd) in the trace.
}

/// `-1 EADDRNOTAVAIL (Cannot assign requested address)`, as strace prints it.
fn errno_text(e: &io::Error) -> String {
    let Some(code) = e.raw_os_error() else {
        return e.to_string();
    };
    let name = match code {
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EACCES => "EACCES",
        libc::EINVAL => "EINVAL",
        _ => "errno",
    };
    let text = e.to_string();
    let message = text
        .strip_suffix(&format!(" (os error {code})"))
        .unwrap_or(&text);
    format!("-1 {name} ({message})")
}
