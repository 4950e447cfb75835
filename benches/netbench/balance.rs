//! Accept balance: the `workers` example (one event loop per thread) as
//! the server process, in each `--balance` mode, and a client process
//! that opens `conns` connections with bounded concurrency: `threads`
//! client threads (1 or 8, `LOADS`), each connecting, sending 8 bytes, reading the echo
//! whole and closing, one connection after another.
//!
//! The parent starts the server, reads its address from its first line,
//! runs the client (a child of this binary, `--child balance-client`),
//! reads the server threads' voluntary context switches from /proc, sends
//! SIGTERM, and parses the per-thread counts the server prints at exit.

use crate::harness::{Out, Params};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// (contender, `--balance`, `--backend`). shared also on poll: there the
/// herd is visible as empty wake-ups (see the section).
pub const CONTENDERS: [(&str, &str, &str); 5] = [
    ("shared-epoll", "shared", "epoll"),
    ("exclusive-epoll", "exclusive", "epoll"),
    ("reuseport-epoll", "reuseport", "epoll"),
    ("handoff-epoll", "handoff", "epoll"),
    ("shared-poll", "shared", "poll"),
];

/// Worker threads of the server.
pub const THREADS: [usize; 3] = [2, 4, 8];

/// The client's concurrency, connections in flight at once: one (a light
/// load: the server's threads are asleep when a connection arrives, which
/// is when the herd and the skew show) and 8 (a loaded server, whose
/// threads are often busy when one arrives).
pub const LOADS: [u64; 2] = [1, 8];

const MESSAGE: &[u8; 8] = b"balance\n";

/// `netbench --child balance-client client port=P conns=N threads=T`:
/// prints `RESULT conns=N failed=F secs=S conns_per_s=R`.
pub fn client(p: &Params) -> Out {
    let port = p.u64("port", 0) as u16;
    let conns = p.u64("conns", 10_000);
    let threads = p.u64("threads", 8).max(1);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let next = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while next.fetch_add(1, Ordering::Relaxed) < conns {
                    if one(addr).is_err() {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let secs = t0.elapsed().as_secs_f64();
    let mut out = Out::new();
    out.insert("conns".into(), conns as f64);
    out.insert("failed".into(), failed.load(Ordering::Relaxed) as f64);
    out.insert("secs".into(), secs);
    out.insert("conns_per_s".into(), conns as f64 / secs);
    out
}

/// One connection: connect, send, read the echo whole, close.
fn one(addr: SocketAddr) -> std::io::Result<()> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(MESSAGE)?;
    let mut back = [0u8; MESSAGE.len()];
    s.read_exact(&mut back)?;
    if &back != MESSAGE {
        return Err(std::io::Error::other("wrong echo"));
    }
    Ok(())
}

/// One server thread's counts, as the workers example prints them at
/// exit.
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadCounts {
    pub accepted: u64,
    pub received: u64,
    pub served: u64,
    pub waits: u64,
    pub listener_wakeups: u64,
    pub empty_wakeups: u64,
    pub emfile_pauses: u64,
}

/// `  thread i: accepted A, received R, served S, waits W, listener
/// wake-ups L (E empty), EMFILE pauses X`
fn parse_thread(line: &str) -> Option<ThreadCounts> {
    let rest = line.trim().strip_prefix("thread ")?;
    let (_, rest) = rest.split_once(": ")?;
    let nums: Vec<u64> = rest
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().ok())
        .collect::<Option<_>>()?;
    let [
        accepted,
        received,
        served,
        waits,
        listener_wakeups,
        empty_wakeups,
        emfile_pauses,
    ] = nums[..]
    else {
        return None;
    };
    Some(ThreadCounts {
        accepted,
        received,
        served,
        waits,
        listener_wakeups,
        empty_wakeups,
        emfile_pauses,
    })
}

/// What one server run gave: the client's result, each thread's counts,
/// and the worker threads' voluntary context switches (sleeps) when the
/// client was done.
pub struct RunResult {
    pub client: Out,
    pub threads: Vec<ThreadCounts>,
    pub sleeps: u64,
}

/// The built `workers` example: beside this bench (target/release/
/// examples/workers, which scripts/bench.sh builds first), or else built
/// now into a target directory of the bench's own (`cargo bench` does not
/// build examples, and the build running this bench holds the lock of the
/// default one).
pub fn workers_exe() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let beside = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("examples").join("workers"));
    if let Some(p) = beside.filter(|p| p.exists()) {
        return p;
    }
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("examples-build");
    eprintln!(
        "netbench: building the workers example into {}",
        target.display()
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--release", "--example", "workers"])
        .arg("--manifest-path")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .expect("run cargo to build the workers example");
    assert!(
        status.success(),
        "cargo build --release --example workers failed"
    );
    target.join("release").join("examples").join("workers")
}

/// Voluntary context switches of the process's `worker-*` threads: each
/// is one time a thread went to sleep (in its wait, or on a lock) and was
/// woken again.
fn worker_sleeps(pid: u32) -> u64 {
    let mut total = 0;
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    for task in dir.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("worker-") {
            continue;
        }
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        total += status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

/// Runs the server in one mode against the client; returns what both
/// counted. Panics (with the server's lines) when the run is not clean.
pub fn run(
    r: &crate::parent::Runner,
    workers: &Path,
    balance: &str,
    backend: &str,
    threads: usize,
    conns: u64,
    load: u64,
) -> RunResult {
    let mut srv = Command::new(workers)
        .args(["--serve", "--balance", balance, "--backend", backend])
        .args(["--threads", &threads.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the workers example");
    let pid = srv.id();
    let guard = crate::parent::Guard::new(pid, Duration::from_secs(300));
    let mut out = BufReader::new(srv.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).expect("read the server's line");
    let addr: SocketAddr = first
        .trim()
        .rsplit(' ')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("workers: no address in {first:?}"));
    let client = r.child(
        &r.exe,
        "balance-client",
        "client",
        &[
            ("port", addr.port().to_string()),
            ("conns", conns.to_string()),
            ("threads", load.to_string()),
        ],
    );
    let sleeps = worker_sleeps(pid);
    // SAFETY: no pointers; pid is our child, not yet reaped (we wait
    // below), so the number still names it.
    let killed = unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    assert_eq!(killed, 0, "kill(workers, SIGTERM)");
    let mut rest = String::new();
    out.read_to_string(&mut rest)
        .expect("read the server's lines");
    let status = srv.wait().expect("wait for the server");
    guard.done();
    assert!(status.success(), "workers exited with {status}: {rest}");
    let counts: Vec<ThreadCounts> = rest.lines().filter_map(parse_thread).collect();
    assert_eq!(
        counts.len(),
        threads,
        "workers: one `thread i:` line per thread in {rest}"
    );
    RunResult {
        client,
        threads: counts,
        sleeps,
    }
}
