//! Runs the message examples (fd_passing, udp_batch) as a learner would,
//! with no arguments, and checks they succeed and say what they promise.
//!
//! `cargo test` builds the examples next to the test binaries
//! (target/<profile>/examples); when a narrower command did not, the test
//! builds the one it needs with the same cargo.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test binary> -> target/<profile>/examples/<name>
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples")
        .join(name);
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", name])
            .args(common::cargo_target_args())
            .status()
            .unwrap();
        assert!(status.success(), "building example {name}");
    }
    path
}

/// Runs an example with no arguments; fails if it does not exit 0 within
/// 30 s. Returns its stdout.
#[track_caller]
fn run(name: &str) -> String {
    let mut child = Command::new(example(name))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("example {name} still running after 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(status.success(), "{name}: {status}\n{stdout}\n{stderr}");
    stdout
}

#[test]
fn fd_passing_hands_a_listener_to_a_child_that_serves_on_it() {
    let out = run("fd_passing");
    assert!(out.contains("sent fd"), "{out}");
    assert!(out.contains("closed my copy of the listener"), "{out}");
    assert!(out.contains("close-on-exec true"), "{out}");
    assert!(out.contains("client got: served by pid"), "{out}");
    // Addresses print for people (Display), not as Debug text.
    assert!(!out.contains("SockAddr("), "{out}");
    assert!(out.contains(" is 127.0.0.1:"), "{out}");
    assert!(out.contains("accepted 127.0.0.1:"), "{out}");
    // The server's pid is the child's, not the parent's.
    let parent = out
        .split("[parent ")
        .nth(1)
        .and_then(|s| s.split(']').next())
        .unwrap();
    assert!(!out.contains(&format!("served by pid {parent}:")), "{out}");
}

#[test]
fn udp_batch_shows_each_destination_and_replies_from_it() {
    let out = run("udp_batch");
    assert!(out.contains("sendmmsg -> 12 datagrams"), "{out}");
    for dst in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        assert!(out.contains(&format!("-> {dst} ")), "{dst}: {out}");
    }
    assert!(
        out.contains("12 requests, 12 replies, every reply from the right address"),
        "{out}"
    );
    // Addresses print for people (Display), not as Debug text.
    assert!(!out.contains("SockAddr("), "{out}");
    for server in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        let lines: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with(&format!("server {server}:")))
            .collect();
        // "server 127.0.0.2:PORT:" and "server 127.0.0.2:PORT replies:"
        assert_eq!(lines.len(), 2, "{server}: {out}");
        assert!(lines[1].ends_with(" replies:"), "{server}: {out}");
    }
}
