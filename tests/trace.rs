//! The trace keeps itself honest against the real strace.
//!
//! Each example named below runs (the built binary, not `cargo run`) under
//! `strace -f -o LOG` with `BARESOCK_TRACE=tid`, so every line of the
//! crate's own trace starts with its thread id, as strace's log does. For
//! each thread, every line of the crate's must appear in strace's lines for
//! it, in the same order and word for word: the same syscalls, decoded
//! arguments and return values. Only user-space addresses (a buffer the
//! kernel did not fill) and select's time left (strace reads nanoseconds,
//! glibc hands the crate microseconds) are masked. And no
//! socket syscall may appear in strace's log that the crate's trace left
//! out. Threads that made no traced call at all (an example's client
//! threads that use std's sockets) are not the crate's and are not
//! compared. What is not the crate's is left out: the Rust runtime's start-up
//! calls, and the trace's own writes to stderr (calls that std also makes,
//! such as `close`, `read`, `write`, `fcntl` and `poll`, are matched in
//! order, but std's own extra ones are not counted against us).
//!
//! Every example is compared but `showip`: resolving `localhost`, glibc
//! makes socket calls of its own (`socket(AF_UNIX, ...)` and `connect` to
//! nscd's socket) in the thread that calls the crate, which the count of
//! socket syscalls cannot tell from a call the trace left out.
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
    // epoll_wait as musl makes it (and aarch64, which has no epoll_wait).
    "epoll_pwait",
    "epoll_pwait2",
    "eventfd2",
];

/// One syscall line: its name, its return value, and its whole text with
/// what differs between two honest traces masked (see [`masked`]).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Call {
    name: String,
    ret: i64,
    text: String,
}

/// The example's binary built with the trace: the one `cargo test` built
/// beside this test if it is newer than every source and has the trace
/// compiled in (a plain `cargo test` builds them without it), else one
/// built here, in a target directory of this test's own.
fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let beside = exe
        .parent()
        .and_then(|d| d.parent())
        .map(|p| p.join("examples").join(name));
    if let Some(p) = beside.filter(|p| usable(p)) {
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

/// Whether a built example is fresh and has the trace compiled in: only
/// the trace reads `BARESOCK_TRACE`, so the name is in the binary only
/// then.
fn usable(bin: &std::path::Path) -> bool {
    fn newest(path: &std::path::Path, out: &mut std::time::SystemTime) {
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        if meta.is_dir() {
            for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
                newest(&entry.path(), out);
            }
        } else if let Ok(m) = meta.modified() {
            *out = (*out).max(m);
        }
    }
    let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
        return false;
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = std::time::SystemTime::UNIX_EPOCH;
    for part in ["src", "examples", "build.rs", "Cargo.toml"] {
        newest(&root.join(part), &mut sources);
    }
    let marker = b"BARESOCK_TRACE";
    built >= sources
        && std::fs::read(bin).is_ok_and(|b| b.windows(marker.len()).any(|w| w == marker))
}

/// `TID NAME(args) = RET ...`: (tid, call).
fn parse_line(line: &str) -> Option<(u32, Call)> {
    let (tid, rest) = line.split_once(' ')?;
    let tid: u32 = tid.parse().ok()?;
    // strace pads the pid column: "2672  socket(".
    call_of(rest.trim_start()).map(|c| (tid, c))
}

/// `NAME(args) = RET ...` as a [`Call`].
fn call_of(rest: &str) -> Option<Call> {
    let open = rest.find('(')?;
    let name = &rest[..open];
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let (call, result) = split_result(rest)?;
    let ret = result.split_whitespace().next()?;
    let ret = match ret.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => ret.parse().ok(),
    }?;
    Some(Call {
        name: name.to_owned(),
        ret,
        text: masked(&format!("{call} = {result}")),
    })
}

/// The call up to its closing `)`, and what follows ` = `: strace pads
/// with spaces before `=`, and a result may be hex (`0x1`) with a note
/// after it.
fn split_result(rest: &str) -> Option<(&str, &str)> {
    let mut end = rest.len();
    while let Some(eq) = rest[..end].rfind(" = ") {
        let call = rest[..eq].trim_end();
        if call.ends_with(')') {
            return Some((call, &rest[eq + 3..]));
        }
        end = eq;
    }
    None
}

/// The line with what two honest traces of one run may differ in masked:
/// user-space addresses (`0x7ffd...`: a buffer the kernel did not fill),
/// and select's time left, which strace reads in nanoseconds and the crate
/// gets back from glibc in microseconds.
fn masked(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("0x") {
            let digits = after.bytes().take_while(u8::is_ascii_hexdigit).count();
            if digits >= 8 {
                out.push_str("0xADDR");
                rest = &after[digits..];
                continue;
            }
        }
        // An errno's message is the libc's strerror: musl words some
        // differently from the glibc strace is built with ("Address in
        // use"); the errno's name before it is compared on every libc.
        if cfg!(target_env = "musl") && out.ends_with(" = -1 ") {
            if let Some((name, after)) = rest.split_once(" (") {
                if let Some(close) = after.find(')') {
                    out.push_str(name);
                    out.push_str(" (...)");
                    rest = &after[close + 1..];
                    continue;
                }
            }
        }
        if let Some(after) = rest.strip_prefix("left {") {
            if let Some(close) = after.find('}') {
                out.push_str("left {...}");
                rest = &after[close + 1..];
                continue;
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// strace's `-f -o` log, thread by thread, with interrupted calls joined:
/// `NAME(args <unfinished ...>` and `<... NAME resumed>rest) = RET`.
fn parse_strace(log: &str) -> BTreeMap<u32, Vec<Call>> {
    let mut out: BTreeMap<u32, Vec<Call>> = BTreeMap::new();
    let mut unfinished: BTreeMap<u32, String> = BTreeMap::new();
    for line in log.lines() {
        let Some((tid, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(tid) = tid.parse::<u32>() else {
            continue;
        };
        // strace pads the pid column: "2672  socket(".
        let rest = rest.trim_start();
        if let Some(head) = rest.strip_suffix("<unfinished ...>") {
            let mut head = head.trim_end().to_owned();
            if head.ends_with(',') {
                head.push(' ');
            }
            unfinished.insert(tid, head);
            continue;
        }
        let joined;
        let rest = match rest.strip_prefix("<... ") {
            Some(resumed) => {
                let Some((name, tail)) = resumed.split_once(" resumed>") else {
                    continue;
                };
                let head = unfinished
                    .remove(&tid)
                    .unwrap_or_else(|| format!("{name}("));
                joined = format!("{head}{}", tail.trim_start());
                joined.as_str()
            }
            None => rest,
        };
        if let Some(call) = call_of(rest) {
            out.entry(tid).or_default().push(call);
        }
    }
    out
}

fn run_and_compare(example: &str) -> usize {
    run_and_compare_with(example, &[])
}

/// Runs `example` with `args` under strace and compares the two traces.
fn run_and_compare_with(example: &str, args: &[&str]) -> usize {
    let bin = example_path(example);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "trace-{example}{}-{}",
        args.join("-"),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("strace.log");
    let err = dir.join("stderr.txt");
    let mut child = Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&log)
        .arg(&bin)
        .args(args)
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
    for (tid, call) in ours_text.lines().filter_map(parse_line) {
        ours.entry(tid).or_default().push(call);
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
        // Every traced line, in order, as strace wrote it (addresses and
        // select's time left masked). std's own calls in between (a
        // `close`, a `poll`) are skipped over.
        let mut at = 0;
        for (i, call) in mine.iter().enumerate() {
            match seen[at..].iter().position(|c| c.text == call.text) {
                Some(p) => at += p + 1,
                None => {
                    let near: Vec<&str> = seen[at..]
                        .iter()
                        .filter(|c| c.name == call.name && c.ret == call.ret)
                        .take(3)
                        .map(|c| c.text.as_str())
                        .collect();
                    panic!(
                        "{example}, thread {tid}: traced call #{i} not found in strace's log in order after position {at}\nours:   {}\nstrace's calls of that name and result from there: {near:#?}\nlogs kept in {}",
                        call.text,
                        dir.display()
                    )
                }
            }
        }
        // No socket syscall missing from the trace.
        for name in ONLY_OURS {
            let n_ours = mine.iter().filter(|c| c.name == *name).count();
            let n_theirs = seen.iter().filter(|c| c.name == *name).count();
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

/// More ready fds than strace prints (it stops arrays at 32 elements, and
/// poll's result at 1024 bytes): the trace must stop where strace does.
#[test]
fn long_poll_and_epoll_arrays_match_strace() {
    for backend in ["poll", "epoll", "select"] {
        run_and_compare_with("echo_server", &[backend, "--clients", "40"]);
    }
}

#[test]
fn select_chat_trace_matches_strace() {
    run_and_compare("select_chat");
}

#[test]
fn poll_server_trace_matches_strace() {
    run_and_compare("poll_server");
}

#[test]
fn misconceptions_trace_matches_strace() {
    run_and_compare("misconceptions");
}

#[test]
fn tcp_server_trace_matches_strace() {
    run_and_compare("tcp_server");
}

#[test]
fn tcp_client_trace_matches_strace() {
    run_and_compare("tcp_client");
}

#[test]
fn datagram_trace_matches_strace() {
    run_and_compare("datagram");
}

#[test]
fn broadcaster_trace_matches_strace() {
    run_and_compare("broadcaster");
}

#[test]
fn line_parser_reads_strace_shapes() {
    // (Masked as the parser masks: on musl an errno's message.)
    let call = |name: &str, ret: i64, text: &str| Call {
        name: name.into(),
        ret,
        text: masked(text),
    };
    assert_eq!(
        parse_line("12 connect(3, {sa_family=AF_INET}, 16) = -1 ECONNREFUSED (Connection refused)"),
        Some((
            12,
            call(
                "connect",
                -1,
                "connect(3, {sa_family=AF_INET}, 16) = -1 ECONNREFUSED (Connection refused)"
            )
        ))
    );
    assert_eq!(
        parse_line("7 fcntl(3, F_GETFD) = 0x1 (flags FD_CLOEXEC)"),
        Some((
            7,
            call("fcntl", 1, "fcntl(3, F_GETFD) = 0x1 (flags FD_CLOEXEC)")
        ))
    );
    assert_eq!(parse_line("not a syscall line"), None);
    assert_eq!(
        parse_line("6149  listen(3, 1)                      = 0"),
        Some((6149, call("listen", 0, "listen(3, 1) = 0")))
    );
    // Addresses and select's time left are masked (and on musl an errno's
    // message); nothing else is.
    assert_eq!(
        parse_line("5 accept4(3, 0x7ffd968376f8, [128], SOCK_CLOEXEC) = -1 EAGAIN (x)")
            .unwrap()
            .1
            .text,
        if cfg!(target_env = "musl") {
            "accept4(3, 0xADDR, [128], SOCK_CLOEXEC) = -1 EAGAIN (...)"
        } else {
            "accept4(3, 0xADDR, [128], SOCK_CLOEXEC) = -1 EAGAIN (x)"
        }
    );
    assert_eq!(
        parse_line("5 pselect6(4, [3], [], [], NULL, NULL) = 1 (in [3], left {tv_sec=1, tv_nsec=998528637})")
            .unwrap()
            .1
            .text,
        "pselect6(4, [3], [], [], NULL, NULL) = 1 (in [3], left {...})"
    );
    let log = "5 epoll_wait(3,  <unfinished ...>\n6 sendto(4, \"x\", 1, MSG_NOSIGNAL, NULL, 0) = 1\n5 <... epoll_wait resumed>[{events=EPOLLIN, data={u32=0, u64=0}}], 4, -1) = 1\n";
    let t = parse_strace(log);
    assert_eq!(
        t[&5],
        vec![call(
            "epoll_wait",
            1,
            "epoll_wait(3, [{events=EPOLLIN, data={u32=0, u64=0}}], 4, -1) = 1"
        )]
    );
    assert_eq!(
        t[&6],
        vec![call(
            "sendto",
            1,
            "sendto(4, \"x\", 1, MSG_NOSIGNAL, NULL, 0) = 1"
        )]
    );
}

// ---- the README's syscall map, checked against the examples' traces ----

/// The syscalls one run of `example` (no arguments) makes, from its trace.
fn syscalls_of(example: &str) -> std::collections::BTreeSet<String> {
    let bin = example_path(example);
    let out = Command::new(&bin)
        .env("BARESOCK_TRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the example");
    let output = wait_bounded(example, out);
    assert!(output.status.success(), "{example} failed: {output:?}");
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(call_of)
        // The map names glibc x86_64's calls: musl (and aarch64) make
        // epoll_wait as epoll_pwait, which is the same row.
        .map(|c| match c.name.as_str() {
            "epoll_pwait" => "epoll_wait".to_owned(),
            _ => c.name,
        })
        .collect()
}

/// Waits for a child at most two minutes, then kills it and fails.
fn wait_bounded(example: &str, mut child: std::process::Child) -> std::process::Output {
    let mut stderr = child.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stderr, &mut buf);
        buf
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{example} did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::process::Output {
        status,
        stdout: Vec::new(),
        stderr: reader.join().expect("stderr reader"),
    }
}

/// Every example named in a row of README.md's syscall map makes that
/// syscall when run, and every syscall an example makes is in the map with
/// that example named: the "shown in" column is true and complete.
#[test]
fn readme_syscall_map_names_the_examples_that_make_each_syscall() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("read README.md");
    let section = readme
        .split("\n## Syscall map")
        .nth(1)
        .expect("a \"## Syscall map\" section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut examples: Vec<String> = std::fs::read_dir(root.join("examples"))
        .expect("read examples/")
        .filter_map(|e| {
            let p = e.ok()?.path();
            let stem = p.file_stem()?.to_str()?.to_owned();
            let is_example =
                p.extension().is_some_and(|x| x == "rs") || p.join("main.rs").is_file();
            is_example.then_some(stem)
        })
        .collect();
    examples.sort();
    // (syscall, the examples its row names).
    let mut claims: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim().trim_matches('|').split(" | ").collect();
        let first = cells[0].split('(').next().unwrap_or("");
        let shown = cells.last().copied().unwrap_or("");
        let named: Vec<String> = if shown.trim() == "every example" {
            examples.clone()
        } else {
            shown
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect()
        };
        for name in named.iter() {
            assert!(
                examples.contains(name),
                "the syscall map names `{name}`, which is not an example"
            );
        }
        for syscall in first.split('`').skip(1).step_by(2) {
            claims.insert(syscall.to_owned(), named.clone());
        }
    }
    assert!(
        claims.len() > 25,
        "the syscall map has only {} syscalls",
        claims.len()
    );
    let mut wrong = Vec::new();
    for example in &examples {
        let made = syscalls_of(example);
        for (syscall, named) in &claims {
            let says = named.contains(example);
            if says != made.contains(syscall) {
                wrong.push(format!(
                    "{example} {} {syscall}, but the map {}",
                    if made.contains(syscall) {
                        "makes"
                    } else {
                        "does not make"
                    },
                    if says { "names it" } else { "does not name it" }
                ));
            }
        }
        for syscall in made.iter().filter(|s| !claims.contains_key(*s)) {
            wrong.push(format!("{example} makes {syscall}, which has no row"));
        }
    }
    assert!(
        wrong.is_empty(),
        "README.md's syscall map:\n{}",
        wrong.join("\n")
    );
}
