//! The trace keeps itself honest against the real strace.
//!
//! Each example named below runs (the built binary, not `cargo run`) under
//! `strace -f -o LOG` with `BARESOCK_TRACE=tid`, so every line of the
//! crate's own trace starts with its thread id, as strace's log does. For
//! each thread, the crate's lines must name the same syscalls, in the same
//! order, with the same return values, as strace's lines for them; and no
//! socket syscall may appear in strace's log that the crate's trace left
//! out. Threads that made no traced call at all (an example's client
//! threads that use std's sockets) are not the crate's and are not
//! compared. What is not the crate's is left out: the Rust runtime's start-up
//! calls, and the trace's own writes to stderr (calls that std also makes,
//! such as `close`, `read`, `write`, `fcntl` and `poll`, are matched in
//! order, but std's own extra ones are not counted against us).
#![cfg(feature = "trace")]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Syscalls only the crate makes in these examples: strace's count of them
/// must equal the trace's, thread by thread.
const ONLY_OURS: &[&str] = &[
    "socket",
    "socketpair",
    "bind",
    "listen",
    "accept4",
    "connect",
    "getsockname",
    "getpeername",
    "shutdown",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
    "getsockopt",
    "setsockopt",
    "pselect6",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait2",
    "eventfd2",
];

type Call = (String, i64);

fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let beside = exe
        .parent()
        .and_then(|d| d.parent())
        .map(|p| p.join("examples").join(name));
    if let Some(p) = beside.filter(|p| p.exists()) {
        return p;
    }
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("trace-examples");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--features",
            "trace",
            "--example",
            name,
            "--manifest-path",
        ])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .expect("run cargo to build the example");
    assert!(status.success(), "cargo build --example {name} failed");
    target.join("debug").join("examples").join(name)
}

/// `NAME(args) = RET ...` after an optional `TID `: (tid, name, ret).
fn parse_line(line: &str) -> Option<(u32, String, i64)> {
    let (tid, rest) = line.split_once(' ')?;
    let tid: u32 = tid.parse().ok()?;
    // strace pads the pid column: "2672  socket(".
    let rest = rest.trim_start();
    let open = rest.find('(')?;
    let name = &rest[..open];
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    Some((tid, name.to_owned(), ret_of(rest)?))
}

/// The return value after the closing `)`: strace pads with spaces before
/// `=`; a result may be hex (`0x1`) and may have a note after it.
fn ret_of(rest: &str) -> Option<i64> {
    let mut end = rest.len();
    while let Some(eq) = rest[..end].rfind(" = ") {
        if rest[..eq].trim_end().ends_with(')') {
            let ret = rest[eq + 3..].split_whitespace().next()?;
            return match ret.strip_prefix("0x") {
                Some(hex) => i64::from_str_radix(hex, 16).ok(),
                None => ret.parse().ok(),
            };
        }
        end = eq;
    }
    None
}

/// strace's `-f -o` log, thread by thread, with interrupted calls joined.
fn parse_strace(log: &str) -> BTreeMap<u32, Vec<Call>> {
    let mut out: BTreeMap<u32, Vec<Call>> = BTreeMap::new();
    for line in log.lines() {
        let Some((tid, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(tid) = tid.parse::<u32>() else {
            continue;
        };
        // strace pads the pid column: "2672  socket(".
        let rest = rest.trim_start();
        // A call another thread interrupted: its result comes on the
        // "<... NAME resumed>" line.
        if rest.ends_with("<unfinished ...>") {
            continue;
        }
        let (name, ret) = match rest.strip_prefix("<... ") {
            Some(resumed) => (
                resumed.split_whitespace().next().unwrap_or(""),
                ret_of(resumed),
            ),
            None => match rest.find('(') {
                Some(open) => (&rest[..open], ret_of(rest)),
                None => continue,
            },
        };
        if let Some(ret) = ret {
            out.entry(tid).or_default().push((name.to_owned(), ret));
        }
    }
    out
}

fn run_and_compare(example: &str) -> usize {
    let bin = example_path(example);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("trace-{example}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("strace.log");
    let err = dir.join("stderr.txt");
    let mut child = Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&log)
        .arg(&bin)
        .env("BARESOCK_TRACE", "tid")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("strace is on the machine image");
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{example} under strace did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let ours_text = std::fs::read_to_string(&err).unwrap();
    let strace_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        status.success(),
        "{example} failed under strace: {status:?}\n{ours_text}"
    );
    let mut ours: BTreeMap<u32, Vec<Call>> = BTreeMap::new();
    for (tid, name, ret) in ours_text.lines().filter_map(parse_line) {
        ours.entry(tid).or_default().push((name, ret));
    }
    let theirs = parse_strace(&strace_text);
    let total: usize = ours.values().map(Vec::len).sum();
    assert!(
        total > 0,
        "{example}: the trace printed nothing\n{ours_text}"
    );
    for (tid, mine) in &ours {
        let seen = theirs
            .get(tid)
            .unwrap_or_else(|| panic!("{example}: strace saw no thread {tid}"));
        // Every traced call, in order, with its return value.
        let mut at = 0;
        for (i, call) in mine.iter().enumerate() {
            match seen[at..].iter().position(|c| c == call) {
                Some(p) => at += p + 1,
                None => panic!(
                    "{example}, thread {tid}: traced call #{i} {call:?} not found in strace's log in order after position {at}\nours around it: {:?}\nstrace from there: {:?}\nlogs kept in {}",
                    &mine[i.saturating_sub(3)..(i + 3).min(mine.len())],
                    &seen[at.saturating_sub(3)..(at + 12).min(seen.len())],
                    dir.display()
                ),
            }
        }
        // No socket syscall missing from the trace.
        for name in ONLY_OURS {
            let n_ours = mine.iter().filter(|(n, _)| n == name).count();
            let n_theirs = seen.iter().filter(|(n, _)| n == name).count();
            assert_eq!(
                n_ours, n_theirs,
                "{example}, thread {tid}: {name} traced {n_ours} times, strace saw {n_theirs}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    total
}

#[test]
fn tour_trace_matches_strace() {
    let n = run_and_compare("tour");
    assert!(n > 100, "the tour traced only {n} calls");
}

#[test]
fn connect_timeout_trace_matches_strace() {
    run_and_compare("connect_timeout");
}

#[test]
fn backends_trace_matches_strace() {
    run_and_compare("backends");
}

#[test]
fn udp_echo_trace_matches_strace() {
    run_and_compare("udp_echo");
}

#[test]
fn echo_server_trace_matches_strace() {
    run_and_compare("echo_server");
}

#[test]
fn select_chat_trace_matches_strace() {
    run_and_compare("select_chat");
}

#[test]
fn line_parser_reads_strace_shapes() {
    assert_eq!(
        parse_line("12 connect(3, {sa_family=AF_INET}, 16) = -1 ECONNREFUSED (Connection refused)"),
        Some((12, "connect".into(), -1))
    );
    assert_eq!(
        parse_line("7 fcntl(3, F_GETFD) = 0x1 (flags FD_CLOEXEC)"),
        Some((7, "fcntl".into(), 1))
    );
    assert_eq!(parse_line("not a syscall line"), None);
    assert_eq!(
        parse_line("6149  listen(3, 1)                      = 0"),
        Some((6149, "listen".into(), 0))
    );
    let log = "5 epoll_wait(3,  <unfinished ...>\n6 sendto(4, \"x\", 1, MSG_NOSIGNAL, NULL, 0) = 1\n5 <... epoll_wait resumed>[{events=EPOLLIN, data={u32=0, u64=0}}], 4, -1) = 1\n";
    let t = parse_strace(log);
    assert_eq!(t[&5], vec![("epoll_wait".to_owned(), 1)]);
    assert_eq!(t[&6], vec![("sendto".to_owned(), 1)]);
}
