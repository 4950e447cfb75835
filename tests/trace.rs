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

mod common;

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
        .args(["--target", common::TARGET, "--target-dir"])
        .arg(&target)
        .status()
        .expect("run cargo to build the example");
    assert!(status.success(), "cargo build --example {name} failed");
    target
        .join(common::TARGET)
        .join("debug")
        .join("examples")
        .join(name)
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

/// strace's line for a receive with `MSG_TRUNC` in its flags, with each
/// buffer's contents replaced by its (masked) address: the crate's trace
/// prints no contents there (the count does not say what the kernel wrote,
/// and on TCP it wrote nothing), strace prints whatever the buffer holds.
/// That is the one deliberate difference from strace; any other line, or
/// anything else in this one, comes back as it was and must match as is.
fn trunc_buffers_as_addresses(c: &Call) -> String {
    let Some((call, result)) = split_result(&c.text) else {
        return c.text.clone();
    };
    // The flags the caller passed: recvfrom's fourth argument, recvmsg's
    // last (its msghdr's msg_flags are the kernel's answer, not asked for).
    let args = call
        .strip_prefix(&format!("{}(", c.name))
        .and_then(|a| a.strip_suffix(')'));
    let flags = match (c.name.as_str(), args) {
        ("recvfrom", Some(a)) => skip_buffer(a.split_once(", ").map_or("", |x| x.1))
            .and_then(|rest| rest.strip_prefix(", "))
            .and_then(|rest| rest.split(", ").nth(1)),
        ("recvmsg", Some(a)) => a.rsplit_once("}, ").map(|x| x.1),
        _ => None,
    };
    if !flags.is_some_and(|f| f.split('|').any(|f| f == "MSG_TRUNC")) {
        return c.text.clone();
    }
    let marker = if c.name == "recvfrom" {
        // `recvfrom(FD, ` then the buffer.
        let Some(fd_end) = call.find(", ") else {
            return c.text.clone();
        };
        &call[..fd_end + 2]
    } else {
        "iov_base="
    };
    let mut out = String::new();
    let mut rest = call;
    while let Some(at) = rest.find(marker) {
        let after = &rest[at + marker.len()..];
        out.push_str(&rest[..at + marker.len()]);
        match skip_buffer(after) {
            Some(tail) if after.starts_with('"') => {
                out.push_str("0xADDR");
                rest = tail;
            }
            _ => rest = after,
        }
        if c.name == "recvfrom" {
            break;
        }
    }
    out.push_str(rest);
    format!("{out} = {result}")
}

/// What follows a buffer as strace prints it: a quoted string with
/// backslash escapes and maybe `...` after it, or an address.
fn skip_buffer(s: &str) -> Option<&str> {
    let Some(body) = s.strip_prefix('"') else {
        let end = s.find(", ").unwrap_or(s.len());
        return Some(&s[end..]);
    };
    let mut chars = body.char_indices();
    while let Some((i, ch)) = chars.next() {
        match ch {
            '\\' => {
                chars.next();
            }
            '"' => {
                let tail = &body[i + 1..];
                return Some(tail.strip_prefix("...").unwrap_or(tail));
            }
            _ => {}
        }
    }
    None
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
            match seen[at..]
                .iter()
                .position(|c| c.text == call.text || trunc_buffers_as_addresses(c) == call.text)
            {
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
#[cfg_attr(not(has_strace), ignore = "needs strace")]
#[cfg_attr(
    all(has_strace, qemu_user),
    ignore = "qemu-user: strace traces the emulator, not the target's syscalls"
)]
fn tour_trace_matches_strace() {
    let n = run_and_compare("tour");
    assert!(n > 100, "the tour traced only {n} calls");
}

#[test]
#[cfg_attr(not(has_strace), ignore = "needs strace")]
#[cfg_attr(
    all(has_strace, qemu_user),
    ignore = "qemu-user: strace traces the emulator, not the target's syscalls"
)]
fn connect_timeout_trace_matches_strace() {
    run_and_compare("connect_timeout");
}

#[test]
#[cfg_attr(not(has_strace), ignore = "needs strace")]
#[cfg_attr(
    all(has_strace, qemu_user),
    ignore = "qemu-user: strace traces the emulator, not the target's syscalls"
)]
fn backends_trace_matches_strace() {
    run_and_compare("backends");
}

#[test]
#[cfg_attr(not(has_strace), ignore = "needs strace")]
#[cfg_attr(
    all(has_strace, qemu_user),
    ignore = "qemu-user: strace traces the emulator, not the target's syscalls"
)]
fn udp_echo_trace_matches_strace() {
    run_and_compare("udp_echo");
}

#[test]
#[cfg_attr(not(has_strace), ignore = "needs strace")]
#[cfg_attr(
    all(has_strace, qemu_user),
    ignore = "qemu-user: strace traces the emulator, not the target's syscalls"
)]
fn echo_server_trace_matches_strace() {
    run_and_compare("echo_server");
}

/// More ready fds than strace prints (it stops arrays at 32 elements, and
/// poll's result at 1024 bytes): the trace must stop where strace does.
#[test]
#[cfg_attr(not(has_strace), ignore = "needs strace")]
#[cfg_attr(
    all(has_strace, qemu_user),
    ignore = "qemu-user: strace traces the emulator, not the target's syscalls"
)]
fn long_poll_and_epoll_arrays_match_strace() {
    for backend in ["poll", "epoll", "select"] {
        run_and_compare_with("echo_server", &[backend, "--clients", "40"]);
    }
}

#[test]
#[cfg_attr(not(has_strace), ignore = "needs strace")]
#[cfg_attr(
    all(has_strace, qemu_user),
    ignore = "qemu-user: strace traces the emulator, not the target's syscalls"
)]
fn select_chat_trace_matches_strace() {
    run_and_compare("select_chat");
}

#[test]
#[cfg_attr(not(has_strace), ignore = "needs strace")]
#[cfg_attr(
    all(has_strace, qemu_user),
    ignore = "qemu-user: strace traces the emulator, not the target's syscalls"
)]
fn poll_server_trace_matches_strace() {
    run_and_compare("poll_server");
}

#[test]
#[cfg_attr(not(has_strace), ignore = "needs strace")]
#[cfg_attr(
    all(has_strace, qemu_user),
    ignore = "qemu-user: strace traces the emulator, not the target's syscalls"
)]
fn misconceptions_trace_matches_strace() {
    run_and_compare("misconceptions");
}

#[test]
#[cfg_attr(not(has_strace), ignore = "needs strace")]
#[cfg_attr(
    all(has_strace, qemu_user),
    ignore = "qemu-user: strace traces the emulator, not the target's syscalls"
)]
fn tcp_server_trace_matches_strace() {
    run_and_compare("tcp_server");
}

#[test]
#[cfg_attr(not(has_strace), ignore = "needs strace")]
#[cfg_attr(
    all(has_strace, qemu_user),
    ignore = "qemu-user: strace traces the emulator, not the target's syscalls"
)]
fn tcp_client_trace_matches_strace() {
    run_and_compare("tcp_client");
}

#[test]
#[cfg_attr(not(has_strace), ignore = "needs strace")]
#[cfg_attr(
    all(has_strace, qemu_user),
    ignore = "qemu-user: strace traces the emulator, not the target's syscalls"
)]
fn datagram_trace_matches_strace() {
    run_and_compare("datagram");
}

#[test]
#[cfg_attr(not(has_strace), ignore = "needs strace")]
#[cfg_attr(
    all(has_strace, qemu_user),
    ignore = "qemu-user: strace traces the emulator, not the target's syscalls"
)]
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

#[test]
fn a_trunc_receive_may_differ_from_strace_in_its_buffer_only() {
    let strace = |line: &str| parse_line(line).unwrap().1;
    let ours = |line: &str| parse_line(line).unwrap().1.text;
    // recvfrom: strace shows what the buffer held, the trace its address.
    let theirs = strace(r#"5 recvfrom(3, "\252\252\"\\x"..., 8, MSG_TRUNC, NULL, NULL) = 5"#);
    let mine = ours("5 recvfrom(3, 0x7ffd12345678, 8, MSG_TRUNC, NULL, NULL) = 5");
    assert_eq!(trunc_buffers_as_addresses(&theirs), mine);
    let theirs = strace(
        r#"5 recvfrom(3, "ab", 2, MSG_PEEK|MSG_TRUNC, {sa_family=AF_INET, sin_port=htons(9), sin_addr=inet_addr("127.0.0.1")}, [128 => 16]) = 10"#,
    );
    let mine = ours(
        r#"5 recvfrom(3, 0x55d0aaaa0000, 2, MSG_PEEK|MSG_TRUNC, {sa_family=AF_INET, sin_port=htons(9), sin_addr=inet_addr("127.0.0.1")}, [128 => 16]) = 10"#,
    );
    assert_eq!(trunc_buffers_as_addresses(&theirs), mine);
    // recvmsg: every iov_base; msg_flags=MSG_TRUNC alone (the kernel's
    // answer) is no reason.
    let theirs = strace(
        r#"5 recvmsg(3, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="he", iov_len=2}, {iov_base="llo", iov_len=3}], msg_iovlen=2, msg_controllen=0, msg_flags=0}, MSG_TRUNC|MSG_CMSG_CLOEXEC) = 5"#,
    );
    let mine = ours(
        r#"5 recvmsg(3, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base=0x7ffd00000001, iov_len=2}, {iov_base=0x7ffd00000003, iov_len=3}], msg_iovlen=2, msg_controllen=0, msg_flags=0}, MSG_TRUNC|MSG_CMSG_CLOEXEC) = 5"#,
    );
    assert_eq!(trunc_buffers_as_addresses(&theirs), mine);
    // Nothing else changes: without MSG_TRUNC in the flags asked for, or
    // in another call, or anywhere else in the line.
    for line in [
        r#"5 recvfrom(3, "hello", 8, 0, NULL, NULL) = 5"#,
        r#"5 recvfrom(3, "hello", 8, MSG_PEEK, NULL, NULL) = 5"#,
        r#"5 recvmsg(3, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="hi", iov_len=2}], msg_iovlen=1, msg_controllen=0, msg_flags=MSG_TRUNC}, MSG_CMSG_CLOEXEC) = 2"#,
        r#"5 sendto(3, "x", 1, MSG_TRUNC, NULL, 0) = 1"#,
    ] {
        let c = strace(line);
        assert_eq!(trunc_buffers_as_addresses(&c), c.text, "{line}");
    }
    // The return value and the other arguments still have to match.
    let theirs = strace(r#"5 recvfrom(3, "hello", 8, MSG_TRUNC, NULL, NULL) = 5"#);
    for other in [
        "5 recvfrom(3, 0x7ffd12345678, 8, MSG_TRUNC, NULL, NULL) = 4",
        "5 recvfrom(4, 0x7ffd12345678, 8, MSG_TRUNC, NULL, NULL) = 5",
        "5 recvfrom(3, 0x7ffd12345678, 9, MSG_TRUNC, NULL, NULL) = 5",
        r#"5 recvfrom(3, "\252\252\252\252\252", 8, MSG_TRUNC, NULL, NULL) = 5"#,
    ] {
        assert_ne!(trunc_buffers_as_addresses(&theirs), ours(other), "{other}");
    }
}

/// The trace lines of the crate's calls `f` makes, through
/// `trace::set_sink`. The sink and the switch are the process's: one
/// capture at a time.
fn capture<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    use baresock::trace;
    use std::sync::{Arc, Mutex};
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&lines);
    trace::set_sink(trace::Sink::Function(Box::new(move |l| {
        sink.lock().unwrap().push(l.to_owned())
    })));
    trace::enable(true);
    let out = f();
    trace::enable(false);
    trace::set_sink(trace::Sink::Stderr);
    let lines = lines.lock().unwrap().clone();
    (out, lines)
}

/// A Unix socket bound to a path of the full 108 bytes: the kernel reports
/// its address as 111 bytes, and the trace says so as strace does, though
/// the `SockAddr` keeps 110 (the length the kernel takes back).
#[test]
fn trace_shows_the_length_the_kernel_reported() {
    use baresock::{Domain, OwnedSocket, Protocol, SockAddr, Type};
    use std::os::fd::AsRawFd;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("trace-len-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let base = dir.as_os_str().len() + 1;
    if base + 1 >= 108 {
        // The target dir's path leaves no room for a 108-byte socket path.
        let _ = std::fs::remove_dir_all(&dir);
        panic!("CARGO_TARGET_TMPDIR too long for a 108-byte path: {base}");
    }
    let path = dir.join("p".repeat(108 - base));
    assert_eq!(path.as_os_str().len(), 108);
    let s = OwnedSocket::new(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
    s.bind(&SockAddr::unix(&path).unwrap()).unwrap();
    let (local, lines) = capture(|| s.local_addr().unwrap());
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(local.len(), 110);
    let line = lines
        .iter()
        .find(|l| l.starts_with(&format!("getsockname({}, ", s.as_raw_fd())))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(line.ends_with(", [128 => 111]) = 0"), "{line}");
}

/// recvmsg's iovecs as strace prints them: what was received in each,
/// and each buffer's whole length (strace: `iov_base="hi", iov_len=8`).
#[test]
fn recvmsg_trace_gives_each_buffer_its_whole_length() {
    use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, Type};
    use std::io::IoSliceMut;
    let (a, b) = OwnedSocket::pair(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
    a.send(b"hi").unwrap();
    let (mut x, mut y) = ([0u8; 8], [0u8; 4]);
    let ((n, _), lines) = capture(|| {
        b.recv_vectored_with_flags(
            &mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)],
            MsgFlags::NONE,
        )
        .unwrap()
    });
    assert_eq!(n, 2);
    let line = lines
        .iter()
        .find(|l| l.starts_with("recvmsg("))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(
        line.contains(r#"msg_iov=[{iov_base="hi", iov_len=8}, {iov_base="", iov_len=4}]"#),
        "{line}"
    );
}

/// The canary for MSG_TRUNC into uninitialised memory: on TCP the kernel
/// discards the data without writing the buffer, so neither the API nor
/// the trace may present the buffer's bytes as received. (No dynamic tool
/// would catch it: memcheck and MSan trust the syscall's count.)
#[test]
// Reading back the pattern buffer the kernel left alone.
#[allow(unsafe_code)]
fn trunc_into_uninit_memory_shows_no_stale_bytes() {
    use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, SockAddr};
    use std::mem::MaybeUninit;
    use std::os::fd::AsRawFd;

    let l = OwnedSocket::new(Domain::IPV4, baresock::Type::STREAM, Protocol::DEFAULT).unwrap();
    l.bind(&SockAddr::from(std::net::SocketAddr::from((
        [127, 0, 0, 1],
        0,
    ))))
    .unwrap();
    l.listen(1).unwrap();
    let c = OwnedSocket::new(Domain::IPV4, baresock::Type::STREAM, Protocol::DEFAULT).unwrap();
    c.connect(&l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    let fd = s.as_raw_fd();

    // recv_uninit and recv_from_uninit; a blocking TCP receive waits for
    // the data, then MSG_TRUNC discards it.
    let mut buf = [MaybeUninit::new(0xAAu8); 8];
    c.send(b"hello").unwrap();
    let ((n, init_len), mut lines) = capture(|| {
        let (n, init) = s.recv_uninit(&mut buf, MsgFlags::TRUNC).unwrap();
        (n, init.len())
    });
    assert_eq!((n, init_len), (5, 0), "5 bytes discarded, none written");
    c.send(b"world").unwrap();
    let ((n, init_len), more) = capture(|| {
        let (n, init, _) = s.recv_from_uninit(&mut buf, MsgFlags::TRUNC).unwrap();
        (n, init.len())
    });
    lines.extend(more);
    assert_eq!((n, init_len), (5, 0));
    // SAFETY: buf was made of MaybeUninit::new(0xAA); the kernel only
    // writes initialised bytes.
    let held: Vec<u8> = buf.iter().map(|m| unsafe { m.assume_init() }).collect();
    assert_eq!(held, [0xAA; 8], "TCP wrote nothing into the buffer");
    // recvmsg with MSG_TRUNC: its trace prints no contents either.
    let mut vbuf = [0xAAu8; 8];
    c.send(b"again").unwrap();
    let ((n, _), more) = capture(|| {
        s.recv_vectored_with_flags(&mut [std::io::IoSliceMut::new(&mut vbuf)], MsgFlags::TRUNC)
            .unwrap()
    });
    lines.extend(more);
    assert_eq!(n, 5);

    let ours: Vec<&String> = lines
        .iter()
        .filter(|l| {
            (l.starts_with(&format!("recvfrom({fd}, "))
                || l.starts_with(&format!("recvmsg({fd}, ")))
                && l.contains("MSG_TRUNC")
        })
        .collect();
    assert_eq!(ours.len(), 3, "{lines:#?}");
    for line in &ours {
        // The count, and an address where the contents would be.
        assert!(line.ends_with(" = 5"), "{line}");
        assert!(line.contains("0x"), "{line}");
        for stale in ["\\252", "\\xaa", "\"", "\u{aa}"] {
            assert!(!line.contains(stale), "{stale} in {line}");
        }
    }
    // Word for word what strace prints, its stale bytes aside: the lines it
    // wrote for these three calls, with their buffers as addresses.
    let strace_wrote = [
        format!(r#"{fd} recvfrom({fd}, "\252\252\252\252\252", 8, MSG_TRUNC, NULL, NULL) = 5"#),
        format!(
            r#"{fd} recvfrom({fd}, "\252\252\252\252\252", 8, MSG_TRUNC, 0x7f3da685d330, [128 => 0]) = 5"#
        ),
        format!(
            r#"{fd} recvmsg({fd}, {{msg_name=NULL, msg_namelen=0, msg_iov=[{{iov_base="\252\252\252\252\252", iov_len=8}}], msg_iovlen=1, msg_controllen=0, msg_flags=MSG_CMSG_CLOEXEC}}, MSG_TRUNC|MSG_CMSG_CLOEXEC) = 5"#
        ),
    ];
    for (line, theirs) in ours.iter().zip(&strace_wrote) {
        let theirs = parse_line(theirs).unwrap().1;
        assert_eq!(
            call_of(line).unwrap().text,
            trunc_buffers_as_addresses(&theirs)
        );
    }
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
        // epoll_wait as epoll_pwait, and aarch64 poll as ppoll, which are
        // the same rows.
        .map(|c| match c.name.as_str() {
            "epoll_pwait" => "epoll_wait".to_owned(),
            "ppoll" => "poll".to_owned(),
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
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: epoll_pwait2 is ENOSYS there, so examples make epoll_wait where the map says epoll_pwait2"
)]
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
