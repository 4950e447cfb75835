//! Helpers shared by the poll tests: loopback and socketpair connections,
//! bounded waits, and the shared contract as a comparable set.
#![allow(dead_code)]

use baresock::poll::{Backend, Event, Events, Poller, Token};
use baresock::{Domain, OwnedSocket, Protocol, SockAddr, Type};
use std::collections::BTreeSet;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The shared contract of one event: (token, readable, writable, priority).
pub type Shared = (usize, bool, bool, bool);

pub fn shared(e: &Event) -> Shared {
    (
        e.token().0,
        e.is_readable(),
        e.is_writable(),
        e.is_priority(),
    )
}

pub fn shared_set(events: &Events) -> BTreeSet<Shared> {
    events.iter().map(shared).collect()
}

/// How many tries and how long each: bounded in count and time.
pub const TRIES: usize = 50;
pub const TRY_TIMEOUT: Duration = Duration::from_millis(100);

/// A TCP listener on 127.0.0.1 and a free port.
pub fn tcp_listener() -> OwnedSocket {
    let l = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    l.bind(&SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)))
        .unwrap();
    l.listen(128).unwrap();
    l
}

/// A connected TCP pair over loopback, both nonblocking: (ours, peer).
pub fn tcp_pair() -> (OwnedSocket, OwnedSocket) {
    let l = tcp_listener();
    let peer = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    peer.connect(&l.local_addr().unwrap()).unwrap();
    let (ours, _) = l.accept_nonblocking().unwrap();
    peer.set_nonblocking(true).unwrap();
    (ours, peer)
}

/// A connected Unix stream pair, both nonblocking: (ours, peer).
pub fn unix_pair() -> (OwnedSocket, OwnedSocket) {
    OwnedSocket::pair_nonblocking(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap()
}

/// Two connected UDP sockets on loopback, both nonblocking: (ours, peer).
pub fn udp_pair() -> (OwnedSocket, OwnedSocket) {
    let any = SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));
    let a = OwnedSocket::new_nonblocking(Domain::IPV4, Type::DGRAM, Protocol::DEFAULT).unwrap();
    let b = OwnedSocket::new_nonblocking(Domain::IPV4, Type::DGRAM, Protocol::DEFAULT).unwrap();
    a.bind(&any).unwrap();
    b.bind(&any).unwrap();
    a.connect(&b.local_addr().unwrap()).unwrap();
    b.connect(&a.local_addr().unwrap()).unwrap();
    (a, b)
}

/// Reads until WouldBlock (or end of stream); returns the bytes read.
pub fn drain(s: &OwnedSocket) -> usize {
    let mut buf = [0u8; 4096];
    let mut total = 0;
    for _ in 0..10_000 {
        match s.recv(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("drain: {e}"),
        }
    }
    total
}

/// Waits (bounded: TRIES waits of TRY_TIMEOUT) until an event for `token`
/// arrives, and returns it. Tolerates other tokens' events.
#[track_caller]
pub fn expect_event(p: &mut dyn Poller, events: &mut Events, token: Token) -> Event {
    for _ in 0..TRIES {
        p.wait(events, Some(TRY_TIMEOUT)).unwrap();
        if let Some(e) = events.iter().find(|e| e.token() == token) {
            return *e;
        }
    }
    panic!("{}: no event for {token:?}", p.backend());
}

/// Waits (bounded) until a wait reports exactly `want` (shared contract).
#[track_caller]
pub fn expect_exactly(p: &mut dyn Poller, events: &mut Events, want: &BTreeSet<Shared>) {
    let mut last = BTreeSet::new();
    for _ in 0..TRIES {
        p.wait(events, Some(TRY_TIMEOUT)).unwrap();
        last = shared_set(events);
        if &last == want {
            return;
        }
    }
    panic!("{}: expected {want:?}, last wait saw {last:?}", p.backend());
}

/// A zero-timeout wait must report nothing.
#[track_caller]
pub fn expect_none(p: &mut dyn Poller, events: &mut Events) {
    let n = p.wait(events, Some(Duration::ZERO)).unwrap();
    assert_eq!(n, 0, "{}: unexpected {events:?}", p.backend());
    assert!(events.is_empty());
}

pub fn build(b: Backend) -> Box<dyn Poller> {
    b.build().unwrap()
}

/// A small deterministic PRNG (xorshift64*), so runs replay from a seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-enough in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

/// The built example `name`: the one `cargo test` builds next to the
/// tests (target/debug/examples/NAME). When a filtered run did not build
/// it, cargo builds it into a target directory of the test's own, so the
/// test never waits on the lock of the build that is running it.
pub fn example_path(name: &str) -> PathBuf {
    // target/debug/deps/TEST-HASH -> target/debug/examples/NAME
    let exe = std::env::current_exe().unwrap();
    let beside = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("examples").join(name));
    if let Some(p) = beside.filter(|p| p.exists()) {
        return p;
    }
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("examples-build");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--example", name, "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .args(["--target", TARGET, "--target-dir"])
        .arg(&target)
        .status()
        .expect("run cargo to build the example");
    assert!(status.success(), "cargo build --example {name} failed");
    target
        .join(TARGET)
        .join("debug")
        .join("examples")
        .join(name)
}

/// The target triple these tests were built for (build.rs passes it). A
/// test that builds an example itself passes `--target` with it: in a
/// cross run (aarch64 under qemu) a plain `cargo build` would build and
/// run the host's example instead.
pub const TARGET: &str = env!("BARESOCK_TARGET");

/// `--target TRIPLE` for a `cargo build` into the default target directory
/// when this test binary was itself built with `--target` (it lives under
/// target/TRIPLE/), so the example lands next to it; nothing for a plain
/// native build (target/debug/), whose examples live there.
pub fn cargo_target_args() -> Vec<&'static str> {
    let exe = std::env::current_exe().unwrap();
    if exe.components().any(|c| c.as_os_str() == TARGET) {
        vec!["--target", TARGET]
    } else {
        Vec::new()
    }
}

/// A test of a `harness = false` binary: its name, its body, and `Some`
/// reason if it is ignored unless asked for (as libtest's `#[ignore]`).
pub type PlainTest = (&'static str, fn(), Option<&'static str>);

/// The ignore reason of a `harness = false` test that runs strace: `None`
/// when build.rs found strace on PATH (cfg `has_strace`), else
/// `Some("needs strace")`. Libtest tests say the same with
/// `#[cfg_attr(not(has_strace), ignore = "needs strace")]`. build.rs looks
/// again when PATH or a PATH directory changes, so installing the tool is
/// enough. `.ci/run` finds the tools tests need by these reasons.
pub const NEEDS_STRACE: Option<&str> = if cfg!(has_strace) {
    QEMU_STRACE
} else {
    Some("needs strace")
};

/// Under qemu-user (cfg `qemu_user`, see build.rs) strace is there but
/// useless: it traces qemu, whose host syscalls are not the target's
/// (aarch64 has no `poll`, qemu makes one for its `ppoll`) and whose
/// signals and faults it injects into the emulator, not the program.
pub const QEMU_STRACE: Option<&str> = if cfg!(qemu_user) {
    Some(QEMU_STRACE_REASON)
} else {
    None
};

/// The reason, word for word as the libtest tests give it in
/// `#[cfg_attr(all(has_strace, qemu_user), ignore = "...")]`.
pub const QEMU_STRACE_REASON: &str =
    "qemu-user: strace traces the emulator, not the target's syscalls";

/// Under qemu-user, a `harness = false` case that selects on fds at or
/// above 1024 is ignored with this reason: qemu 7.2 converts the guest's
/// fd_sets into its own fixed-size ones, and glibc's fortified FD_SET
/// aborts the emulator.
pub const QEMU_FD_SET: Option<&str> = if cfg!(qemu_user) {
    Some("qemu-user: pselect6 with an fd at or above 1024 aborts qemu (its fd_set is fixed-size)")
} else {
    None
};

/// As [`NEEDS_STRACE`], for `systemd-socket-activate` (Debian's systemd
/// package; cfg `has_systemd_socket_activate`).
pub const NEEDS_SYSTEMD_SOCKET_ACTIVATE: Option<&str> = if cfg!(has_systemd_socket_activate) {
    None
} else {
    Some("needs systemd-socket-activate")
};

/// A small libtest for `harness = false` binaries, for tests that must run
/// on the main thread of a process of their own (signal masks, rlimits).
/// Runs `tests` in order, one after another, honouring name filters,
/// `--skip`, `--exact`, `--list`, `--ignored` and `--include-ignored`
/// (and passing over the values of libtest's other options); prints
/// libtest's lines, its closing line included (CI's summary reads it); and
/// exits 1 if any test failed. A test is a [`PlainTest`] or, with a body
/// that borrows something, any `(name, closure, reason)`.
///
/// An ignored test is not run and prints `test NAME ... ignored, REASON`,
/// as libtest does; as with libtest, `--ignored` runs it, whatever the
/// reason (a missing tool included).
pub fn run_plain_tests<F: Fn()>(tests: &[(&'static str, F, Option<&'static str>)]) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    if has("--list") {
        // As libtest: with `--ignored`, only the ignored ones.
        for (name, _, ignore) in tests {
            if ignore.is_some() || !has("--ignored") {
                println!("{name}: test");
            }
        }
        return;
    }
    let exact = has("--exact");
    // Name filters are the bare words; `--skip NAME` excludes, and the
    // value of libtest's other options with a value (`--test-threads 2`)
    // is no filter.
    let (mut filters, mut skips): (Vec<&String>, Vec<&String>) = (Vec::new(), Vec::new());
    let mut words = args.iter();
    while let Some(a) = words.next() {
        match a.as_str() {
            "--skip" => skips.extend(words.next()),
            "--test-threads" | "--format" | "--color" | "--logfile" | "--shuffle-seed" | "-Z" => {
                words.next();
            }
            _ if !a.starts_with('-') => filters.push(a),
            _ => {}
        }
    }
    let matches = |name: &str, f: &String| {
        if exact {
            name == f.as_str()
        } else {
            name.contains(f.as_str())
        }
    };
    let (only_ignored, include_ignored) = (has("--ignored"), has("--include-ignored"));
    let (mut passed, mut failed, mut ignored, mut filtered) = (0, 0, 0, 0);
    println!("\nrunning {} tests", tests.len());
    for (name, run, ignore) in tests {
        let (name, ignore) = (*name, *ignore);
        let selected = (filters.is_empty() || filters.iter().any(|f| matches(name, f)))
            && !skips.iter().any(|f| matches(name, f));
        if !selected {
            filtered += 1;
            continue;
        }
        let runs = if include_ignored {
            true
        } else {
            ignore.is_some() == only_ignored
        };
        if !runs {
            if let Some(why) = ignore {
                println!("test {name} ... ignored, {why}");
                ignored += 1;
            } else {
                filtered += 1;
            }
            continue;
        }
        // A failed test's state is never looked at again.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed; {ignored} ignored; 0 measured; {filtered} filtered out\n",
        if failed == 0 { "ok" } else { "FAILED" }
    );
    if failed > 0 {
        std::process::exit(1);
    }
}

/// How many of a process's fds are below `limit` (an fd inherited from
/// the test runner may sit above a lowered RLIMIT_NOFILE).
pub fn fds_below(pid: u32, limit: u64) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_str().unwrap().parse::<u64>().unwrap() < limit
        })
        .count() as u64
}

/// Waits (bounded by `limit`) until the kernel shows process `pid`
/// stopped (`T`, or `t` under a tracer, in /proc/PID/stat). kill(2) returns once SIGSTOP is
/// queued, not once the target has stopped: a test that needs it stopped
/// before its next step waits for this.
pub fn wait_until_stopped(pid: u32, limit: std::time::Duration) {
    let stat = format!("/proc/{pid}/stat");
    let start = std::time::Instant::now();
    loop {
        let text = std::fs::read_to_string(&stat).unwrap();
        // "PID (COMM) STATE ...": COMM may hold spaces and parentheses.
        let state = text[text.rfind(')').unwrap() + 1..]
            .split_whitespace()
            .next();
        // T: stopped; t: stopped while traced (check-deep runs the tests
        // under strace -f, whose SIGSTOP is a ptrace stop).
        if matches!(state, Some("T" | "t")) {
            return;
        }
        assert!(start.elapsed() < limit, "pid {pid} never stopped: {text}");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
