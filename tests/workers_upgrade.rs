//! Live upgrades of the workers example, as an operator makes them: a
//! client keeps connecting and checking echoes while the server is sent
//! SIGUSR2 twenty times; each time it starts the program again from the
//! path it was started with, hands it every listener
//! (`activation::spawn_with_listeners`), and ends once its own
//! connections close. Halfway, a new binary (another version constant) is
//! renamed over that path, and the generations after it say so.
//!
//! Proved: no connect refused or reset and no echo short or wrong across
//! the twenty, each new process adopts the listeners, the old one exits 0,
//! and each generation's idle fd count is the first one's.
//!
//! Its own test binary: it makes this process the child subreaper
//! (`PR_SET_CHILD_SUBREAPER`, process-wide) so that each generation,
//! orphaned when its parent exits, is re-parented here and reaped.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

const UPGRADES: usize = 20;
/// The upgrade before which the new binary replaces the old file.
const NEW_BINARY_AT: usize = 10;
const LIMIT: Duration = Duration::from_secs(60);
const MARK: &[u8] = b"workers-version:00000001";
const NEW_MARK: &[u8] = b"workers-version:00000002";

/// The lines of every generation, from the one stdout they share. Two
/// processes write to it at once (the new one starts while the old one
/// reports), so a line is looked for among those not yet taken, in any
/// order.
struct Lines {
    rx: Receiver<String>,
    pending: Vec<String>,
    seen: Vec<String>,
}

impl Lines {
    fn expect(&mut self, contains: &str) -> String {
        if let Some(i) = self.pending.iter().position(|l| l.contains(contains)) {
            return self.pending.remove(i);
        }
        loop {
            let line = self.rx.recv_timeout(LIMIT).unwrap_or_else(|e| {
                panic!("no line with {contains:?} ({e}); saw {:#?}", self.seen)
            });
            self.seen.push(line.clone());
            if line.contains(contains) {
                return line;
            }
            self.pending.push(line);
        }
    }
}

/// The words after `key` in a line ("pid 123," -> "123").
fn word_after(line: &str, key: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let i = words
        .iter()
        .position(|w| *w == key)
        .unwrap_or_else(|| panic!("no {key} in {line:?}"));
    words[i + 1].trim_end_matches(',').to_owned()
}

/// The fewest fds the process had over a few looks, the client paused:
/// the last connection's fd closes once the server reads its end.
fn idle_fds(pid: i32) -> usize {
    (0..20)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(5));
            std::fs::read_dir(format!("/proc/{pid}/fd"))
                .map(|d| d.count())
                .unwrap_or(usize::MAX)
        })
        .min()
        .unwrap()
}

/// Reaps `pid` (our child, or re-parented to us), waiting at most LIMIT.
fn reap(pid: i32) -> WaitStatus {
    let start = Instant::now();
    loop {
        match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)).unwrap() {
            WaitStatus::StillAlive => {
                assert!(start.elapsed() < LIMIT, "pid {pid} never exited");
                std::thread::sleep(Duration::from_millis(2));
            }
            status => return status,
        }
    }
}

/// On the way out, pass or fail: the generation still running is killed
/// and reaped, the directory removed (a failed assertion must not leave a
/// server behind).
struct Cleanup {
    /// Generations started and not reaped yet.
    pids: Vec<i32>,
    dir: std::path::PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for &pid in &self.pids {
            if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
                let _ = waitpid(Pid::from_raw(pid), None);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A copy of the workers binary with its version constant changed.
fn new_version(bin: &[u8]) -> Vec<u8> {
    let at: Vec<usize> = bin
        .windows(MARK.len())
        .enumerate()
        .filter(|(_, w)| *w == MARK)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at.len(), 1, "the version constant, once in the binary");
    let mut out = bin.to_vec();
    out[at[0]..at[0] + MARK.len()].copy_from_slice(NEW_MARK);
    out
}

#[test]
fn twenty_upgrades_lose_no_connection() {
    use std::os::unix::fs::PermissionsExt;
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = std::env::temp_dir().join(format!("baresock-upgrade-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("workers");
    let original = std::fs::read(common::example_path("workers")).unwrap();
    std::fs::write(&path, &original).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut child = Command::new(&path)
        .args(["--serve", "--balance", "reuseport", "--threads", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in out.lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Lines {
        rx,
        pending: Vec::new(),
        seen: Vec::new(),
    };
    let first = lines.expect("workers: pid");
    let addr: SocketAddr = first.rsplit(' ').next().unwrap().parse().unwrap();
    let mut pid: i32 = word_after(&first, "pid").parse().unwrap();
    let mut cleanup = Cleanup {
        pids: vec![pid],
        dir: dir.clone(),
    };
    assert_eq!(word_after(&first, "version"), "00000001");
    let base_fds = idle_fds(pid);

    // The client: connect, send, read the echo whole, close; any failure
    // after a successful connect, or a refused connect, is a loss.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    // While `hold` is set the client opens nothing (and says so in
    // `held`), so a generation's fds can be counted with no connection.
    let hold = Arc::new(AtomicBool::new(false));
    let held = Arc::new(AtomicBool::new(false));
    let client = {
        let (stop, served) = (stop.clone(), served.clone());
        let (hold, held) = (hold.clone(), held.clone());
        std::thread::spawn(move || {
            let mut lost = Vec::new();
            for i in 0..1_000_000u64 {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                if hold.load(Ordering::Acquire) {
                    held.store(true, Ordering::Release);
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                held.store(false, Ordering::Release);
                let msg = format!("{i:08}-{}\n", "x".repeat((i % 300) as usize));
                let r = TcpStream::connect(addr).and_then(|mut s| {
                    s.set_read_timeout(Some(LIMIT))?;
                    s.write_all(msg.as_bytes())?;
                    let mut back = vec![0u8; msg.len()];
                    s.read_exact(&mut back)?;
                    Ok(back)
                });
                match r {
                    Ok(back) if back == msg.as_bytes() => {
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => lost.push(format!("{i}: wrong echo")),
                    Err(e) => lost.push(format!("{i}: {e}")),
                }
            }
            lost
        })
    };

    for u in 0..UPGRADES {
        if u == NEW_BINARY_AT {
            let next = dir.join("workers.new");
            std::fs::write(&next, new_version(&original)).unwrap();
            std::fs::set_permissions(&next, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::fs::rename(&next, &path).unwrap();
        }
        // Let some connections through this generation first.
        let before = served.load(Ordering::Relaxed);
        let start = Instant::now();
        while served.load(Ordering::Relaxed) < before + 5 {
            assert!(start.elapsed() < LIMIT, "upgrade {u}: the client stalled");
            std::thread::sleep(Duration::from_millis(1));
        }
        kill(Pid::from_raw(pid), Signal::SIGUSR2).unwrap();
        // "SIGUSR2 from pid P: upgrading: pid N has the listeners"
        let handed = lines.expect("upgrading: pid");
        let next: i32 = handed
            .split("upgrading: pid ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no new pid in {handed:?}"));
        cleanup.pids.push(next);
        let started = lines.expect(&format!("workers: pid {next},"));
        assert!(started.contains("(adopted 2 listeners)"), "{started}");
        let want = if u >= NEW_BINARY_AT {
            "00000002"
        } else {
            "00000001"
        };
        assert_eq!(word_after(&started, "version"), want, "upgrade {u}");
        let status = reap(pid);
        // Reaped: its number may be reused, never signal it again.
        cleanup.pids.retain(|&p| p != pid);
        assert_eq!(
            status,
            WaitStatus::Exited(Pid::from_raw(pid), 0),
            "upgrade {u}"
        );
        pid = next;
        hold.store(true, Ordering::Release);
        let start = Instant::now();
        while !held.load(Ordering::Acquire) {
            assert!(
                start.elapsed() < LIMIT,
                "upgrade {u}: the client never paused"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(idle_fds(next), base_fds, "upgrade {u}: pid {next}'s fds");
        hold.store(false, Ordering::Release);
    }
    stop.store(true, Ordering::Release);
    let lost = client.join().unwrap();
    kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
    let status = reap(pid);
    // Reaped: its number may be reused, never signal it again.
    cleanup.pids.retain(|&p| p != pid);
    assert_eq!(status, WaitStatus::Exited(Pid::from_raw(pid), 0));
    // The first process was our own child: reaped above, through waitpid.
    let _ = child.try_wait();
    assert!(lost.is_empty(), "connections lost: {lost:?}");
    let served = served.load(Ordering::Relaxed);
    assert!(served >= 5 * UPGRADES as u64, "only {served} served");
}
