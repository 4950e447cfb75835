//! The workers example as its clients see it: every `--balance` mode, with
//! 2 and 4 threads, on every backend that has it, serves 2,000 connections from this
//! process (another process than the server's), each echoed byte for
//! byte; at SIGTERM it stops by itself, and its per-thread counts add up
//! to the connections served.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

const CONNECTIONS: usize = 2_000;
const CLIENT_THREADS: usize = 4;
/// Any one wait of this test: the server's start, a line, its exit.
const LIMIT: Duration = Duration::from_secs(60);

struct Server {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(balance: &str, threads: usize, backend: &str) -> (Server, SocketAddr) {
        let mut child = Command::new(common::example_path("workers"))
            .args(["--serve", "--balance", balance, "--backend", backend])
            .args(["--threads", &threads.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the workers example");
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut s = Server {
            child,
            lines,
            seen: Vec::new(),
        };
        let first = s.expect_line("workers: pid");
        let addr = first
            .rsplit(' ')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {first:?}"));
        (s, addr)
    }

    fn expect_line(&mut self, prefix: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(LIMIT)
                .unwrap_or_else(|e| panic!("no line {prefix:?} ({e}); saw {:#?}", self.seen));
            self.seen.push(line.clone());
            if line.trim_start().starts_with(prefix) {
                return line;
            }
        }
    }
}

/// The number after `what` in a line of counts ("accepted 12, ...").
fn count(line: &str, what: &str) -> u64 {
    let words: Vec<&str> = line.split_whitespace().collect();
    let i = words
        .iter()
        .position(|w| *w == what)
        .unwrap_or_else(|| panic!("no {what} in {line:?}"));
    words[i + 1]
        .trim_end_matches(',')
        .parse()
        .unwrap_or_else(|_| panic!("no number after {what} in {line:?}"))
}

/// One connection: a payload of `len` bytes (a pattern that differs per
/// connection), written whole, then read back whole and compared.
fn exchange(addr: SocketAddr, id: usize, len: usize) {
    let payload: Vec<u8> = (0..len).map(|k| (id * 31 + k * 7) as u8).collect();
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connection {id}: {e}"));
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.write_all(&payload).unwrap();
    let mut back = vec![0u8; len];
    s.read_exact(&mut back)
        .unwrap_or_else(|e| panic!("connection {id}: {e}"));
    assert!(back == payload, "connection {id}: the echo differs");
}

fn serves_every_connection(balance: &str, threads: usize, backend: &str) {
    let (mut server, addr) = Server::start(balance, threads, backend);
    let clients: Vec<_> = (0..CLIENT_THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                for i in (t..CONNECTIONS).step_by(CLIENT_THREADS) {
                    // 1 to 20,000 bytes: one segment, and several.
                    exchange(addr, i, 1 + (i * 7919) % 20_000);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().expect("a client thread failed");
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    server.expect_line("SIGTERM from pid");
    let (mut accepted, mut served) = (0, 0);
    for i in 0..threads {
        let line = server.expect_line(&format!("thread {i}:"));
        accepted += count(&line, "accepted");
        served += count(&line, "served");
    }
    assert_eq!(accepted, CONNECTIONS as u64, "{:#?}", server.seen);
    assert_eq!(served, CONNECTIONS as u64, "{:#?}", server.seen);
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}; saw {:#?}", server.seen);
}

macro_rules! modes {
    ($($name:ident: $balance:literal, $threads:literal;)*) => {$(
        mod $name {
            #[test]
            fn epoll() {
                super::serves_every_connection($balance, $threads, "epoll");
            }
            #[test]
            fn poll() {
                super::serves_every_connection($balance, $threads, "poll");
            }
            #[test]
            fn select() {
                super::serves_every_connection($balance, $threads, "select");
            }
            #[test]
            fn select_growable() {
                super::serves_every_connection($balance, $threads, "select-growable");
            }
        }
    )*};
}

/// EPOLLEXCLUSIVE is epoll's alone.
mod exclusive {
    #[test]
    fn epoll_2() {
        super::serves_every_connection("exclusive", 2, "epoll");
    }
    #[test]
    fn epoll_4() {
        super::serves_every_connection("exclusive", 4, "epoll");
    }
    #[test]
    fn other_backends_are_refused_at_the_start() {
        for backend in ["poll", "select", "select-growable"] {
            let out = std::process::Command::new(crate::common::example_path("workers"))
                .args(["--serve", "--balance", "exclusive", "--backend", backend])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(2), "{backend}: {out:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("needs a backend with EPOLLEXCLUSIVE"), "{err}");
        }
    }
}

modes! {
    shared_2: "shared", 2;
    shared_4: "shared", 4;
    reuseport_2: "reuseport", 2;
    reuseport_4: "reuseport", 4;
    handoff_2: "handoff", 2;
    handoff_4: "handoff", 4;
}
