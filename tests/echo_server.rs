//! Runs examples/echo_server as a program: its demonstration exits 0; it
//! echoes for 500 concurrent clients on every backend; a large message
//! goes through partial writes intact; and out of fds (EMFILE) it pauses
//! accepting instead of spinning (its CPU time, from /proc/PID/stat, stays
//! under a tenth of the wall time while the storm lasts) and recovers.
//!
//! The example binary is found by `common::example_path`.
// pre_exec (to lower the child's RLIMIT_NOFILE) is unsafe.
#![allow(unsafe_code)]

mod common;

use baresock::poll::Backend;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn example_path() -> PathBuf {
    common::example_path("echo_server")
}

struct Server {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
    addr: SocketAddr,
}

fn start(args: &[&str], nofile: Option<u64>) -> Server {
    let mut cmd = Command::new(example_path());
    cmd.args(args).stdout(Stdio::piped());
    if let Some(n) = nofile {
        use std::os::unix::process::CommandExt;
        // rlim_t is 32-bit on i686: a larger ask is "unlimited" there.
        #[allow(clippy::useless_conversion)]
        let n = libc::rlim_t::try_from(n).unwrap_or(libc::rlim_t::MAX);
        // SAFETY: the closure runs in the forked child before exec and
        // makes one async-signal-safe syscall (setrlimit); it touches no
        // lock and allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, n, n)
                    .map_err(std::io::Error::from)
            });
        }
    }
    let mut child = cmd.spawn().expect("spawn echo_server");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    // "listening on 127.0.0.1:PORT (backend)"
    let addr = first
        .strip_prefix("listening on ")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    Server { child, out, addr }
}

/// Waits (bounded) for the server to exit; returns its summary line.
#[track_caller]
fn finish(mut s: Server) -> String {
    for _ in 0..600 {
        if let Some(status) = s.child.try_wait().unwrap() {
            let mut rest = String::new();
            s.out.read_to_string(&mut rest).unwrap();
            assert!(
                status.success(),
                "echo_server failed: {status}; output: {rest}"
            );
            return rest
                .lines()
                .find(|l| l.starts_with("served"))
                .unwrap_or_else(|| panic!("no summary in {rest:?}"))
                .to_owned();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = s.child.kill();
    let _ = s.child.wait();
    panic!("echo_server did not exit");
}

/// The number before `what` in the summary line.
fn figure(summary: &str, what: &str) -> u64 {
    let words: Vec<&str> = summary.split_whitespace().collect();
    let i = words
        .iter()
        .position(|w| *w == what)
        .unwrap_or_else(|| panic!("{what} not in {summary:?}"));
    words[i - 1].trim_start_matches('(').parse().unwrap()
}

fn client(addr: SocketAddr) -> TcpStream {
    let c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c
}

#[test]
fn demonstration_runs_and_exits_zero() {
    let out = Command::new(example_path()).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("listening on 127.0.0.1:"), "{text}");
    assert!(text.contains("served 20 connections (20 closed)"), "{text}");
}

#[test]
fn echoes_for_500_concurrent_clients_on_every_backend() {
    const CLIENTS: usize = 500;
    for b in Backend::ALL {
        let server = start(&[b.name(), "127.0.0.1:0", "--conns", "500"], None);
        // All 500 connected at once, then all send, then all read back.
        let mut clients: Vec<TcpStream> = (0..CLIENTS).map(|_| client(server.addr)).collect();
        let lines: Vec<String> = (0..CLIENTS)
            .map(|i| format!("{b} client {i}: {}\n", "x".repeat(i % 97)))
            .collect();
        for (c, line) in clients.iter_mut().zip(&lines) {
            c.write_all(line.as_bytes()).unwrap();
        }
        for (c, line) in clients.iter_mut().zip(&lines) {
            let mut echo = vec![0u8; line.len()];
            c.read_exact(&mut echo).unwrap();
            assert_eq!(echo, line.as_bytes(), "{b}");
        }
        drop(clients);
        let summary = finish(server);
        assert_eq!(figure(&summary, "connections"), 500, "{b}: {summary}");
        assert_eq!(figure(&summary, "closed),"), 500, "{b}: {summary}");
    }
}

#[test]
fn large_message_survives_partial_writes() {
    const SIZE: usize = 8 << 20;
    for b in Backend::ALL {
        let server = start(&[b.name(), "--conns", "1"], None);
        let mut c = client(server.addr);
        let mut w = c.try_clone().unwrap();
        let data: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        let writer = std::thread::spawn(move || {
            w.write_all(&data).unwrap();
            w.shutdown(std::net::Shutdown::Write).unwrap();
        });
        let mut echo = Vec::with_capacity(SIZE);
        c.read_to_end(&mut echo).unwrap();
        writer.join().unwrap();
        assert!(
            echo == expected,
            "{b}: echo of {} bytes differs",
            echo.len()
        );
        drop(c);
        finish(server);
    }
}

#[test]
fn out_of_fds_pauses_accepting_instead_of_spinning() {
    const CLIENTS: usize = 100;
    const NOFILE: u64 = 32;
    // How long the storm is held: time for a spinning server to show itself
    // in its wait count.
    const STORM: Duration = Duration::from_millis(1500);
    for b in Backend::ALL {
        // 32 fds: room for about two dozen connections at a time.
        let server = start(&[b.name(), "--conns", "100"], Some(NOFILE));
        let pid = server.child.id();
        let mut clients: Vec<Option<TcpStream>> =
            (0..CLIENTS).map(|_| Some(client(server.addr))).collect();
        for (i, c) in clients.iter_mut().enumerate() {
            writeln!(c.as_mut().unwrap(), "hello {i}").unwrap();
        }
        // The storm: more clients than fds. The server fills its fd table
        // (accept4 then fails with EMFILE) and echoes to the connections
        // it took; the rest wait in the accept queue.
        let mut echo = [0u8; 8];
        clients[0].as_mut().unwrap().read_exact(&mut echo).unwrap();
        assert_eq!(&echo, b"hello 0\n");
        let mut full = false;
        for _ in 0..200 {
            if common::fds_below(pid, NOFILE) == NOFILE {
                full = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(full, "{b}: the server never filled its {NOFILE} fds");
        // While nothing frees an fd, the listener stays readable: a
        // server still watching it would spin, waiting hundreds of
        // thousands of times in this pause; a paused one sleeps. The wait
        // count in its summary (below) tells which: a count, not a clock.
        std::thread::sleep(STORM);
        // In connection order: each echo, then close, which frees an fd
        // for the next connection waiting in the accept queue; the ones
        // that waited are served (the server recovers).
        drop(clients[0].take());
        for (i, c) in clients.iter_mut().enumerate().skip(1) {
            let line = format!("hello {i}\n");
            let mut echo = vec![0u8; line.len()];
            c.as_mut().unwrap().read_exact(&mut echo).unwrap();
            assert_eq!(echo, line.as_bytes());
            drop(c.take());
        }
        let summary = finish(server);
        assert!(figure(&summary, "EMFILE") >= 1, "{b}: {summary}");
        // A server spinning on a readable listener would wait millions of
        // times; a paused one waits about once per event.
        assert!(
            figure(&summary, "waits,") <= 20 * CLIENTS as u64,
            "{b}: {summary}"
        );
    }
}
