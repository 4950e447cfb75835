//! Faults that loopback cannot make by itself, made with nftables in a
//! network namespace each test makes for itself: packet loss, a peer that
//! vanishes (every packet dropped, so `TCP_USER_TIMEOUT` ends the
//! connection), and a reset injected by the network. Each is checked on
//! every backend.
//!
//! Each test re-runs itself in a child process under `unshare --net`
//! (util-linux): the child is single-threaded when it unshares (unshare(1)
//! does it before it executes this binary), and before it touches anything
//! it checks that its /proc/thread-self/ns/net differs from the parent's,
//! read before the child started. If the namespace cannot be made, the
//! test fails: it never runs on the host's network. The namespace, its
//! `lo` and its nftables rules vanish with the child.
//!
//! Needs root and nft(8): `.ci/run` installs nftables for the ignored
//! tests and runs them as root. Run them by hand, as root, with
//! `cargo test --test netns_faults -- --ignored`.

mod common;

use baresock::poll::{Backend, Events, Interest, Poller, Token};
use baresock::{Domain, OwnedSocket, Protocol, SockAddr, Type};
use common::Rng;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, SocketAddrV4, TcpStream};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the child to the name of the test it runs.
const CHILD_ENV: &str = "BARESOCK_NETNS_CHILD";
/// The parent's /proc/thread-self/ns/net, for the child to compare.
const PARENT_NS_ENV: &str = "BARESOCK_NETNS_PARENT";
/// How long a child may take before the parent kills it.
const CHILD_LIMIT: Duration = Duration::from_secs(120);

fn netns() -> String {
    std::fs::read_link("/proc/thread-self/ns/net")
        .expect("read /proc/thread-self/ns/net")
        .to_string_lossy()
        .into_owned()
}

/// Runs `body` in a network namespace of its own: in the parent, starts
/// this test again in a child under `unshare --net` and checks that it
/// passed; in that child, checks the namespace, brings `lo` up and runs
/// `body`.
#[track_caller]
fn in_own_netns(name: &str, body: fn()) {
    if std::env::var(CHILD_ENV).as_deref() == Ok(name) {
        let parent = std::env::var(PARENT_NS_ENV).expect("the parent's namespace");
        let ours = netns();
        assert_ne!(
            ours, parent,
            "the child is still in the parent's network namespace: refusing to touch it"
        );
        run(&["ip", "link", "set", "lo", "up"]);
        body();
        println!("netns child finished: {name}");
        return;
    }
    assert!(
        nix::unistd::geteuid().is_root(),
        "{name} needs root to make a network namespace and load nftables rules \
         (CI runs as root: run `cargo test -- --ignored` as root)"
    );
    let nft = Command::new("nft").arg("--version").output();
    assert!(
        nft.is_ok_and(|o| o.status.success()),
        "{name} needs nft(8): install nftables (.ci/run does)"
    );
    let mut child = Command::new("unshare")
        .arg("--net")
        .arg("--")
        .arg(std::env::current_exe().unwrap())
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, name)
        .env(PARENT_NS_ENV, netns())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run unshare(1) (util-linux)");
    // Readers on threads, so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).map(|_| s)
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).map(|_| s)
    });
    let deadline = Instant::now() + CHILD_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = out.join().unwrap().unwrap();
    let err = err.join().unwrap().unwrap();
    // The child's own report lines (libtest may have begun the line with
    // "test NAME ... "); not its libtest lines, which CI's summary would
    // count twice.
    for line in out
        .lines()
        .filter_map(|l| l.find("netns: ").map(|i| &l[i..]))
    {
        println!("{line}");
    }
    let status = status
        .unwrap_or_else(|| panic!("{name}: the child ran past {CHILD_LIMIT:?}\n{out}\n{err}"));
    assert!(
        status.success(),
        "{name}: the child in its own network namespace failed: {status}\n{out}\n{err}"
    );
    // A filter that matched nothing would exit 0 too.
    assert!(
        out.contains(&format!("netns child finished: {name}")),
        "{name}: the child did not run the test"
    );
}

/// Runs a command in the child; it must succeed.
#[track_caller]
fn run(argv: &[&str]) -> String {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("run {argv:?}: {e}"));
    assert!(
        out.status.success(),
        "{argv:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Loads an nftables ruleset (nft -f -).
#[track_caller]
fn nft(ruleset: &str) {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run nft");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ruleset.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "nft -f - failed: {}\n{ruleset}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The packets counted by the first `counter` of an nftables chain.
fn counted_packets(table: &str, chain: &str) -> u64 {
    let listing = run(&["nft", "list", "chain", "inet", table, chain]);
    let words: Vec<&str> = listing.split_whitespace().collect();
    let i = words
        .windows(2)
        .position(|w| w == ["counter", "packets"])
        .unwrap_or_else(|| panic!("no counter in {listing}"));
    words[i + 2].parse().unwrap()
}

fn loopback(port: u16) -> SockAddr {
    SockAddr::from(SocketAddrV4::new([127, 0, 0, 1].into(), port))
}

// ---- packet loss ----

#[test]
#[ignore = "needs nftables: root, a network namespace of its own, packet loss on its lo"]
fn packet_loss_leaves_every_echo_intact_on_every_backend() {
    in_own_netns(
        "packet_loss_leaves_every_echo_intact_on_every_backend",
        packet_loss,
    );
}

fn packet_loss() {
    // A realistic MTU gives many packets per message, so losses hit data,
    // acknowledgements and handshakes alike.
    run(&["ip", "link", "set", "lo", "mtu", "1500"]);
    // Small socket buffers (these sysctls are the namespace's own): the
    // server's sends come back partial or EAGAIN while losses stall the
    // window, so its keep-the-rest path carries the echo.
    for (knob, value) in [
        ("tcp_wmem", "4096 8192 16384"),
        ("tcp_rmem", "4096 8192 16384"),
    ] {
        std::fs::write(format!("/proc/sys/net/ipv4/{knob}"), value)
            .unwrap_or_else(|e| panic!("set {knob} in the namespace: {e}"));
    }
    // One TCP packet in ten is dropped, in both directions (on lo, every
    // packet leaves through the output hook).
    nft("table inet loss {
  chain out {
    type filter hook output priority 0; policy accept;
    meta l4proto tcp numgen random mod 10 == 0 counter drop
  }
}
");
    const CLIENTS: usize = 8;
    const SIZE: usize = 128 * 1024;
    let mut rng = Rng::new(0x1055);
    for b in Backend::ALL {
        let t0 = Instant::now();
        let dropped_before = counted_packets("loss", "out");
        let mut server = KillOnDrop(
            Command::new(common::example_path("echo_server"))
                .args([b.name(), "127.0.0.1:0", "--conns", &CLIENTS.to_string()])
                .args(["--secs", "60"])
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn echo_server"),
        );
        let mut lines = BufReader::new(server.0.stdout.take().unwrap());
        let mut first = String::new();
        lines.read_line(&mut first).unwrap();
        let addr: SocketAddr = first
            .strip_prefix("listening on ")
            .and_then(|r| r.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let data: Vec<u8> = (0..SIZE).map(|_| rng.next_u64() as u8).collect();
                std::thread::spawn(move || echo_through(addr, data))
            })
            .collect();
        for (i, c) in clients.into_iter().enumerate() {
            if let Err(e) = c.join().unwrap() {
                panic!("{b}: client {i}: {e}");
            }
        }
        let mut rest = String::new();
        lines.read_to_string(&mut rest).unwrap();
        let status = server.0.wait().unwrap();
        assert!(status.success(), "{b}: echo_server: {status}; {rest}");
        let want = format!(
            "served {CLIENTS} connections ({CLIENTS} closed), {} bytes echoed",
            CLIENTS * SIZE
        );
        assert!(rest.contains(&want), "{b}: {rest}");
        let dropped = counted_packets("loss", "out") - dropped_before;
        // Without a loss the test would prove nothing.
        assert!(dropped > 0, "{b}: nftables dropped no packet");
        println!(
            "netns: {b}: {CLIENTS} echoes of {SIZE} bytes intact through {dropped} dropped packets in {:.1}s",
            t0.elapsed().as_secs_f64()
        );
    }
}

/// A child process that a failed check must not leave running (it would
/// hold the parent's stderr pipe open until its own time is up).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Sends `data` through the echo server and checks what comes back: a
/// writer thread sends and shuts down the write side while this thread
/// reads to the end.
fn echo_through(addr: SocketAddr, data: Vec<u8>) -> io::Result<()> {
    let mut s = TcpStream::connect(addr)?;
    // Bounded: every loss is retransmitted within seconds.
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.set_write_timeout(Some(Duration::from_secs(60)))?;
    let mut w = s.try_clone()?;
    let expected = data.clone();
    let writer = std::thread::spawn(move || {
        w.write_all(&data)?;
        w.shutdown(Shutdown::Write)
    });
    let mut echo = Vec::with_capacity(expected.len());
    s.read_to_end(&mut echo)?;
    writer.join().unwrap()?;
    if echo != expected {
        let at = echo.iter().zip(&expected).position(|(a, b)| a != b);
        return Err(io::Error::other(format!(
            "echo of {} bytes differs from the {} sent (first difference at {at:?})",
            echo.len(),
            expected.len()
        )));
    }
    Ok(())
}

// ---- a vanished peer, an injected reset ----

/// Which call sees the connection's error first: each consumes it.
#[derive(Clone, Copy, Debug)]
enum Observer {
    Recv,
    Send,
    SoError,
}

const OBSERVERS: [Observer; 3] = [Observer::Recv, Observer::Send, Observer::SoError];

struct Case {
    backend: Backend,
    observer: Observer,
    ours: OwnedSocket,
    /// The peer, kept open: it never learns anything.
    _peer: OwnedSocket,
}

/// One connection per backend and observer, each registered for
/// readability with its backend's poller; the fault is made by `fault`
/// (nftables rules, given the listener's port) after every connection is
/// up; then each connection sends, and every backend must report the
/// connection's end as documented, and each observer must see `errno`.
fn fault_surfaces(fault: impl FnOnce(u16), user_timeout: Option<Duration>, errno: i32) {
    let listener = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    listener.bind(&loopback(0)).unwrap();
    listener.listen(64).unwrap();
    let port = listener.local_addr().unwrap().as_socket().unwrap().port();
    let mut pollers: Vec<Box<dyn Poller>> =
        Backend::ALL.iter().map(|b| b.build().unwrap()).collect();
    let mut cases = Vec::new();
    for (p, &backend) in Backend::ALL.iter().enumerate() {
        for observer in OBSERVERS {
            let ours = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
            ours.connect(&loopback(port)).unwrap();
            let (peer, _) = listener.accept().unwrap();
            ours.set_nonblocking(true).unwrap();
            if let Some(t) = user_timeout {
                ours.set_tcp_user_timeout(Some(t)).unwrap();
                assert_eq!(ours.tcp_user_timeout().unwrap(), Some(t));
            }
            pollers[p]
                .register(ours.as_fd(), Token(cases.len()), Interest::READABLE)
                .unwrap();
            cases.push(Case {
                backend,
                observer,
                ours,
                _peer: peer,
            });
        }
    }
    fault(port);
    let t0 = Instant::now();
    for c in &cases {
        // Queued in the send buffer; what the network does to it decides
        // the rest.
        assert_eq!(c.ours.send(&[7u8; 1000]).unwrap(), 1000);
    }
    let mut events = Events::with_capacity(16);
    for (p, poller) in pollers.iter_mut().enumerate() {
        let backend = Backend::ALL[p];
        let mine: Vec<usize> = (0..cases.len())
            .filter(|&i| cases[i].backend == backend)
            .collect();
        let mut seen = Vec::new();
        // Bounded: 300 waits of 100 ms.
        for _ in 0..300 {
            if seen.len() == mine.len() {
                break;
            }
            poller
                .wait(&mut events, Some(Duration::from_millis(100)))
                .unwrap();
            for ev in &events {
                let i = ev.token().0;
                if seen.contains(&i) {
                    continue;
                }
                seen.push(i);
                let c = &cases[i];
                assert!(ev.is_readable(), "{backend} {:?}: {ev:?}", c.observer);
                assert!(!ev.is_writable(), "{backend}: writable was not asked for");
                // The poll module's extras table: select cannot see them;
                // poll and epoll report error, hang-up and read-hang-up.
                let extras = (ev.is_error(), ev.is_hangup(), ev.is_read_hangup());
                let want = match backend {
                    Backend::Select | Backend::SelectGrowable => (false, false, false),
                    Backend::Poll | Backend::Epoll => (true, true, true),
                };
                assert_eq!(extras, want, "{backend} {:?}: {ev:?}", c.observer);
                poller.deregister(c.ours.as_fd()).unwrap();
            }
        }
        assert_eq!(
            seen.len(),
            mine.len(),
            "{backend}: not every connection's end was reported"
        );
    }
    let took = t0.elapsed();
    for c in &cases {
        let what = format!("{} {:?}", c.backend, c.observer);
        let mut buf = [0u8; 64];
        // The first to look consumes the error (sk_err)...
        match c.observer {
            Observer::Recv => {
                let e = c.ours.recv(&mut buf).unwrap_err();
                assert_eq!(e.raw_os_error(), Some(errno), "{what}: {e}");
            }
            Observer::Send => {
                let e = c.ours.send(b"more").unwrap_err();
                assert_eq!(e.raw_os_error(), Some(errno), "{what}: {e}");
            }
            Observer::SoError => {
                let e = c.ours.take_error().unwrap().expect("SO_ERROR set");
                assert_eq!(e.raw_os_error(), Some(errno), "{what}: {e}");
            }
        }
        // ...and what is left is a closed connection: no error pending,
        // end of stream, and EPIPE on send.
        assert!(c.ours.take_error().unwrap().is_none(), "{what}");
        assert_eq!(c.ours.recv(&mut buf).unwrap(), 0, "{what}");
        let e = c.ours.send(b"more").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPIPE), "{what}: {e}");
    }
    println!(
        "netns: {} connections on {} backends ended with {} within {:.2}s, seen through recv, send and SO_ERROR",
        cases.len(),
        Backend::ALL.len(),
        io::Error::from_raw_os_error(errno),
        took.as_secs_f64()
    );
}

#[test]
#[ignore = "needs nftables: root, a network namespace of its own, every packet dropped on its lo"]
fn vanished_peer_times_out_with_etimedout_on_every_backend() {
    in_own_netns(
        "vanished_peer_times_out_with_etimedout_on_every_backend",
        vanished_peer,
    );
}

fn vanished_peer() {
    fault_surfaces(
        |port| {
            // The peer vanishes: nothing to or from its port gets through
            // any more, so the data is never acknowledged.
            nft(&format!(
                "table inet vanish {{
  chain out {{
    type filter hook output priority 0; policy accept;
    tcp dport {port} counter drop
    tcp sport {port} drop
  }}
}}
"
            ));
        },
        Some(Duration::from_secs(1)),
        libc::ETIMEDOUT,
    );
    // The retransmissions were dropped, not answered.
    assert!(counted_packets("vanish", "out") > 0);
}

#[test]
#[ignore = "needs nftables: root, a network namespace of its own, a reset injected on its lo"]
fn injected_reset_surfaces_as_econnreset_on_every_backend() {
    in_own_netns(
        "injected_reset_surfaces_as_econnreset_on_every_backend",
        injected_reset,
    );
}

fn injected_reset() {
    fault_surfaces(
        |port| {
            // The network answers the next segment for the peer with a
            // reset, as a middlebox or a rebooted host would; the peer
            // itself never hears of it.
            nft(&format!(
                "table inet injected {{
  chain out {{
    type filter hook output priority 0; policy accept;
    tcp dport {port} counter reject with tcp reset
  }}
}}
"
            ));
        },
        None,
        libc::ECONNRESET,
    );
    assert!(counted_packets("injected", "out") > 0);
}
