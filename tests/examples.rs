//! Runs every example, as a learner would, and requires it to succeed.
//!
//! Examples are found in `examples/` (a `NAME.rs` file or a `NAME/main.rs`
//! folder), so a new one is covered without touching this file. Each runs
//! as the built binary, `target/<profile>/examples/NAME`, next to this test's
//! own executable. `cargo test` builds every example before it runs the
//! tests; when this file runs alone (`cargo test --test examples`) an
//! example that is missing, or older than the sources, is built first with
//! `cargo build --example NAME` and this test's own features. Each example
//! gets no arguments and no stdin, must exit 0 by itself within the hang
//! guard, and must print something. The chat demonstrations must also end
//! by themselves under a tight fd limit, where they cannot succeed.
// pre_exec (to lower an example's RLIMIT_NOFILE) is unsafe.
#![allow(unsafe_code)]

mod common;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Far above what any example needs (the tour takes well under a second):
/// the guard is there to turn a hang into a failure, not to time anything.
const HANG_GUARD: Duration = Duration::from_secs(60);
/// How often the guard looks at the child.
const POLL_EVERY: Duration = Duration::from_millis(20);

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: getsockopt(TCP_INFO) writes 4 bytes, which tcp_info refuses, and the tour stops there"
)]
fn every_example_runs_and_exits_0() {
    let names = example_names();
    assert!(
        names.iter().any(|n| n == "tour"),
        "examples/tour.rs not found among {names:?}"
    );
    let mut failures = Vec::new();
    for name in &names {
        if let Err(why) = run_example(name) {
            failures.push(format!("example {name}: {why}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The example names cargo knows from `examples/`: `NAME.rs` files and
/// `NAME/main.rs` folders, sorted.
fn example_names() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("read examples/") {
        let path = entry.expect("examples/ entry").path();
        let stem = path.file_stem().and_then(|s| s.to_str()).map(String::from);
        let is_example = if path.is_dir() {
            path.join("main.rs").is_file()
        } else {
            path.extension().is_some_and(|e| e == "rs")
        };
        if let (true, Some(stem)) = (is_example, stem) {
            names.push(stem);
        }
    }
    names.sort();
    names
}

/// `target/<profile>/examples`, found from this test's own executable in
/// `target/<profile>/deps`.
fn examples_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test executable's folder");
    let profile = if deps.ends_with("deps") {
        deps.parent().expect("profile folder")
    } else {
        deps
    };
    profile.join("examples")
}

/// The crate's features that this test was built with. Every feature of
/// Cargo.toml must be listed (`feature_list_is_complete` checks it), so an
/// example built here gets the same features as the rest of the build.
fn enabled_features() -> Vec<&'static str> {
    let all = [
        ("stats", cfg!(feature = "stats")),
        ("trace", cfg!(feature = "trace")),
        ("fault-injection", cfg!(feature = "fault-injection")),
    ];
    all.iter().filter(|(_, on)| *on).map(|(f, _)| *f).collect()
}

#[test]
fn feature_list_is_complete() {
    let toml = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .expect("read Cargo.toml");
    let mut in_features = false;
    let mut declared = Vec::new();
    for line in toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_features = line == "[features]";
        } else if in_features && !line.starts_with('#') {
            if let Some((name, _)) = line.split_once('=') {
                let name = name.trim();
                if !name.is_empty() && name != "default" {
                    declared.push(name.to_string());
                }
            }
        }
    }
    let known = ["stats", "trace", "fault-injection"];
    for f in &declared {
        assert!(
            known.contains(&f.as_str()),
            "feature `{f}` is missing from enabled_features() in tests/examples.rs"
        );
    }
}

/// The newest modification time among the files an example is built from.
fn newest_source() -> std::time::SystemTime {
    fn walk(path: &Path, newest: &mut std::time::SystemTime) {
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        if meta.is_dir() {
            for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
                walk(&entry.path(), newest);
            }
        } else if let Ok(m) = meta.modified() {
            *newest = (*newest).max(m);
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    for part in ["src", "examples", "build.rs", "Cargo.toml"] {
        walk(&root.join(part), &mut newest);
    }
    newest
}

/// The built example, building it first if it is missing or stale.
fn example_binary(name: &str) -> Result<PathBuf, String> {
    let bin = examples_dir().join(name);
    let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
    if built.is_some_and(|t| t >= newest_source()) {
        return Ok(bin);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--example", name])
        .args(common::cargo_target_args())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null());
    // Build it the way this test was built: same profile, same features.
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let features = enabled_features();
    if !features.is_empty() {
        build.args(["--features", &features.join(",")]);
    }
    let status = build
        .status()
        .map_err(|e| format!("cannot run cargo build: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build --example {name} failed: {status}"));
    }
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("built, but {} does not exist", bin.display()))
    }
}

fn run_example(name: &str) -> Result<(), String> {
    let bin = example_binary(name)?;
    // Its own process group, so the guard can end whatever it started.
    let mut child = Command::new(&bin)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    // Drain both pipes on their own threads, so a chatty example never
    // blocks on a full pipe while the guard waits for it to exit.
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let status = wait_guarded(&mut child);
    // Anything the example left running would hold the pipes open.
    kill_group(&child);
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    let report = |what: &str| {
        format!(
            "{what}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        )
    };
    match status {
        None => Err(report(&format!(
            "still running after {HANG_GUARD:?}: killed"
        ))),
        Some(s) if !s.success() => Err(report(&format!("exited with {s}"))),
        Some(_) if stdout.iter().all(u8::is_ascii_whitespace) => {
            Err(report("exited 0 but printed nothing on stdout"))
        }
        Some(_) => Ok(()),
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut out = Vec::new();
        // A read error ends the capture; what was read so far is kept.
        let _ = pipe.read_to_end(&mut out);
        out
    })
}

/// Waits for the child at most `HANG_GUARD`; on expiry kills it, reaps it
/// and returns None.
fn wait_guarded(child: &mut Child) -> Option<ExitStatus> {
    let start = Instant::now();
    let max_polls = HANG_GUARD.as_millis() / POLL_EVERY.as_millis() + 1;
    for _ in 0..max_polls {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if start.elapsed() >= HANG_GUARD {
            break;
        }
        thread::sleep(POLL_EVERY);
    }
    kill_group(child);
    let _ = child.wait();
    None
}

/// SIGKILL to the example's process group; ESRCH (nothing left) is fine.
fn kill_group(child: &Child) {
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
}

/// An example started with arguments, its stdout read line by line on a
/// thread of its own (so a wait for a line can be bounded); killed and
/// reaped on every path out of a test.
struct Running {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn start(name: &str, args: &[&str]) -> Running {
        use std::io::BufRead;
        let bin = example_binary(name).unwrap();
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = std::sync::mpsc::channel();
        // Ends when the output does (the example exits or is killed).
        thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line that contains `part`, within `HANG_GUARD`: an
    /// example that hangs without printing it fails the test rather than
    /// hanging it.
    #[track_caller]
    fn line_with(&mut self, part: &str) -> String {
        self.line_within(part, HANG_GUARD)
            .unwrap_or_else(|why| panic!("{why}; saw {:#?}", self.seen))
    }

    /// The next line that contains `part`, if one comes within `limit`.
    fn line_within(&mut self, part: &str, limit: Duration) -> Result<String, String> {
        use std::sync::mpsc::RecvTimeoutError;
        let start = Instant::now();
        loop {
            let left = limit.saturating_sub(start.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(part) {
                        return Ok(line);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("no line with {part:?} within {limit:?}"));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!("output ended without {part:?}"));
                }
            }
        }
    }

    /// Waits (bounded) for the example to exit 0.
    #[track_caller]
    fn exits_0(&mut self) {
        let status = wait_guarded(&mut self.child);
        assert!(
            status.is_some_and(|s| s.success()),
            "{status:?}; saw {:#?}",
            self.seen
        );
    }
}

/// The wait for an example's line is bounded: udp_echo, waiting up to
/// 600 s for a datagram, prints nothing more, and the wait gives up after
/// its limit (it blocked in `read_line` for as long as the example
/// lived), then the example is killed.
#[test]
fn a_silent_example_fails_the_wait_for_a_line_instead_of_hanging_it() {
    let mut ex = Running::start("udp_echo", &["0", "1", "600"]);
    ex.line_with("echoing up to");
    let r = ex.line_within("never printed", Duration::from_millis(500));
    assert_eq!(
        r,
        Err("no line with \"never printed\" within 500ms".to_owned())
    );
}

/// The address at the end of a word in `line` that parses as one.
fn addr_in(line: &str) -> std::net::SocketAddr {
    line.split(|c: char| c.is_whitespace() || c == ';' || c == ',')
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
}

/// The largest UDP payload over IPv4: 65,535 less the IP and UDP headers.
const LARGEST_V4_DATAGRAM: usize = 65_507;

fn udp_client() -> std::net::UdpSocket {
    let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c
}

/// udp_echo serving: a datagram of every size up to the largest comes back
/// whole. (A 2,048-byte buffer cut everything longer to 2,048, without a
/// word.)
#[test]
fn udp_echo_echoes_the_largest_datagram_whole() {
    let mut ex = Running::start("udp_echo", &["0", "4", "10"]);
    let server = addr_in(&ex.line_with("echoing up to"));
    let c = udp_client();
    let mut back = vec![0u8; 70_000];
    for size in [2_048, 2_049, 9_000, LARGEST_V4_DATAGRAM] {
        let sent: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        c.send_to(&sent, server).unwrap();
        let (n, from) = c.recv_from(&mut back).unwrap();
        assert_eq!(from, server);
        assert_eq!(n, size, "a {size}-byte datagram came back as {n} bytes");
        assert!(back[..n] == sent[..], "{size} bytes: the echo differs");
    }
    ex.line_with("echoed 4 datagrams");
    ex.exits_0();
}

/// `datagram listen` with Beej's 99-byte buffer: a 150-byte datagram is
/// reported as 150 bytes long, of which 51 were lost (it said 99).
#[test]
fn datagram_listener_reports_the_real_length_of_a_cut_datagram() {
    let mut ex = Running::start("datagram", &["listen", "0", "2", "10"]);
    let listener = addr_in(&ex.line_with("bound to"));
    let c = udp_client();
    c.send_to(&[b'x'; 150], listener).unwrap();
    assert_eq!(
        ex.line_with("bytes long"),
        "listener: packet is 150 bytes long"
    );
    assert_eq!(
        ex.line_with("lost"),
        "listener: only the first 99 bytes fit in the buffer; the other 51 are lost"
    );
    assert_eq!(
        ex.line_with("contains"),
        format!("listener: packet contains {:?}", "x".repeat(99))
    );
    // One that fits is reported as it is, with nothing lost.
    c.send_to(b"short", listener).unwrap();
    assert_eq!(
        ex.line_with("bytes long"),
        "listener: packet is 5 bytes long"
    );
    assert_eq!(
        ex.line_with("listener: packet"),
        "listener: packet contains \"short\""
    );
    ex.exits_0();
}

/// Unescapes a string as strace prints it (`\0`, `\17`, `\n`, `\"`...).
fn strace_bytes(quoted: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut it = quoted.bytes().peekable();
    while let Some(b) = it.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match it.next() {
            Some(d @ b'0'..=b'7') => {
                let mut v = u32::from(d - b'0');
                for _ in 0..2 {
                    match it.peek() {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            it.next();
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'v') => out.push(0x0b),
            Some(b'f') => out.push(0x0c),
            Some(b'r') => out.push(b'\r'),
            Some(c) => out.push(c),
            None => break,
        }
    }
    out
}

/// tcp_server drops a client that does not read after one send timeout,
/// not one per call. A blocking send comes back short only once its
/// SO_SNDTIMEO has run out within that call (the kernel spends one timeout
/// across the call's waits), so the first send that comes back short (or
/// with EAGAIN) must be the server's last on that connection, with the
/// one SO_SNDTIMEO it set, and the server says why it dropped the client.
/// Before, it sent again after a short send and each call waited the
/// whole timeout again (a 3 s timeout took about 9 s). Nothing is timed
/// here: the trace says which sends were made. Whether the first stalled
/// send comes back short or with EAGAIN (then there is no later send to
/// check) is the kernel's choice, so the scenario runs until one came back
/// short, at most 12 times.
#[test]
#[cfg_attr(not(feature = "trace"), ignore = "needs --features trace")]
fn tcp_server_drops_a_client_that_does_not_read_after_one_send_timeout() {
    let mut shorts = 0;
    for _ in 0..12 {
        shorts += never_reading_client_against_tcp_server();
        if shorts > 0 {
            return;
        }
    }
    panic!("in 12 runs no send came back short: the scenario never tested the drop");
}

/// One run: a client that sends and never reads, against `tcp_server 0 1
/// 1` (one connection, 1 s timeouts) with its trace on. Checks the trace
/// and returns how many of the server's sends came back short.
fn never_reading_client_against_tcp_server() -> usize {
    use std::io::{BufRead, Write};
    let bin = example_binary("tcp_server").unwrap();
    let mut child = Command::new(bin)
        .args(["0", "1", "1"])
        .env("BARESOCK_TRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let trace = drain(child.stderr.take().unwrap());
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let server = addr_in(&first);
    let stdout = drain(out);
    // The client sends and never reads, until the server drops it
    // (bounded: 256 MiB). A small receive buffer, set before connect so
    // the window is small from the start, makes the server's sends stall
    // in small steps, often after queueing part of a send.
    let client = thread::spawn(move || {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_recv_buffer_size(4096).unwrap();
        s.connect(&server.into()).unwrap();
        let mut c = std::net::TcpStream::from(s);
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..4096 {
            if c.write_all(&chunk).is_err() {
                return true;
            }
        }
        false
    });
    let status = wait_guarded(&mut child);
    let dropped = client.join().unwrap();
    let trace = String::from_utf8(trace.join().unwrap()).unwrap();
    let stdout = String::from_utf8(stdout.join().unwrap()).unwrap();
    let stdout: Vec<&str> = stdout
        .lines()
        .filter(|l| !l.contains("recvfrom = "))
        .collect();
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{stdout:#?}"
    );
    assert!(dropped, "the server never dropped the client\n{stdout:#?}");
    // The connection's fd, from the accept4 line.
    let fd = trace
        .lines()
        .find(|l| l.starts_with("accept4("))
        .and_then(|l| l.rsplit(" = ").next())
        .unwrap_or_else(|| panic!("no accept4 in the trace:\n{trace}"))
        .to_owned();
    let (send, sndtimeo) = (
        format!("sendto({fd}, \""),
        format!("setsockopt({fd}, SOL_SOCKET, SO_SNDTIMEO_OLD, \""),
    );
    let full = Duration::from_secs(1);
    // The SO_SNDTIMEO values set on the connection; whether a send has
    // stalled (short or EAGAIN) yet, and how many came back short.
    let (mut timeouts, mut stalled, mut shorts) = (Vec::new(), None::<String>, 0);
    // A timeval is two longs: 16 bytes here, 8 on i686.
    let word = std::mem::size_of::<libc::c_long>();
    let tv_end = format!("\", {})", 2 * word);
    let long = |b: &[u8]| libc::c_long::from_ne_bytes(b.try_into().unwrap()) as u64;
    for line in trace.lines() {
        if let Some(rest) = line.strip_prefix(&sndtimeo) {
            let tv = strace_bytes(&rest[..rest.find(&tv_end).unwrap()]);
            assert_eq!(tv.len(), 2 * word, "{line}");
            let (secs, usecs) = (long(&tv[..word]), long(&tv[word..]));
            timeouts.push(Duration::from_secs(secs) + Duration::from_micros(usecs));
        } else if let Some(rest) = line.strip_prefix(&send) {
            if let Some(first) = &stalled {
                panic!(
                    "a send after the one that stalled ({first}), which had waited the whole timeout: {line}"
                );
            }
            // The data is all 'x': the string ends at the next quote.
            let rest = &rest[rest.find('"').unwrap() + 1..];
            let asked: usize = rest
                .trim_start_matches("...")
                .trim_start_matches(", ")
                .split(',')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let ret: i64 = line
                .rsplit(" = ")
                .next()
                .and_then(|r| r.split(' ').next())
                .unwrap()
                .parse()
                .unwrap();
            if ret >= 0 && (ret as usize) < asked {
                shorts += 1;
                stalled = Some(line.to_owned());
            } else if ret < 0 && line.contains("EAGAIN") {
                stalled = Some(line.to_owned());
            }
        }
    }
    assert!(stalled.is_some(), "no send stalled:\n{trace}");
    assert_eq!(timeouts, [full], "one SO_SNDTIMEO, the whole timeout");
    // And it says why it dropped the client.
    assert!(
        stdout.iter().any(|l| l
            .contains("failed: peer not reading: a send waited the whole 1000 ms send timeout")),
        "{stdout:#?}"
    );
    shorts
}

/// The tour's select/poll/epoll section narrates every call the trace
/// shows, as it was really made: each traced syscall is followed by a
/// narration line that begins with the same call and result (the events
/// epoll_wait wrote aside: the narration names the buffer). So
/// `epoll_ctl(EPOLL_CTL_ADD)` is narrated for each `register`, the waits
/// show pselect6's NULL sets and the real fds and timeouts rather than a
/// template, and an epoll event is explained by its slot and generation
/// (the low and high halves of the `epoll_event.data` the trace shows, as
/// the trace shows it), never called "token 1".
#[test]
#[cfg_attr(not(feature = "trace"), ignore = "needs --features trace")]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: getsockopt(TCP_INFO) writes 4 bytes, which tcp_info refuses, and the tour stops there"
)]
fn tour_narrates_every_poller_call_as_the_trace_shows_it() {
    let bin = example_binary("tour").unwrap();
    // stdout (narration) and stderr (trace) into one pipe, so their order
    // is kept.
    let (r, w) = nix::unistd::pipe().unwrap();
    let mut child = Command::new(bin)
        .stdin(Stdio::null())
        .stdout(Stdio::from(w.try_clone().unwrap()))
        .stderr(Stdio::from(w))
        .spawn()
        .unwrap();
    let out = drain(std::fs::File::from(r));
    let status = wait_guarded(&mut child);
    let text = String::from_utf8(out.join().unwrap()).unwrap();
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{text}");
    let lines: Vec<&str> = text.lines().collect();
    let from = lines
        .iter()
        .position(|l| l.starts_with("9. select()"))
        .unwrap_or_else(|| panic!("no step 9 in:\n{text}"));
    let to = from
        + lines[from..]
            .iter()
            .position(|l| l.starts_with("10. "))
            .unwrap();
    let section = &lines[from..to];
    let is_trace = |l: &str| !l.starts_with(' ') && l.contains('(') && l.contains(" = ");
    let mut waits = 0;
    for (i, line) in section.iter().enumerate() {
        if !is_trace(line) {
            continue;
        }
        // The narration of this call: the next line indented as a syscall.
        let told = section[i + 1..]
            .iter()
            .find(|l| l.starts_with("    ") && !l.starts_with("     "))
            .unwrap_or_else(|| panic!("no narration after {line:?}"));
        let told = told.trim_start();
        let name = &line[..line.find('(').unwrap()];
        // The call and its result, without strace's decoding of what came
        // back ("(Timeout)", "(in [9], left ...)", revents).
        let (call, ret) = line.rsplit_once(" = ").unwrap();
        let ret = ret.split(' ').next().unwrap();
        match name {
            // epoll_pwait(…, NULL, 8) where libc makes that instead (musl).
            "epoll_wait" | "epoll_pwait" => {
                waits += 1;
                // epoll_wait(EPFD, [what the kernel wrote], MAX, TIMEOUT)
                let (head, _) = call.split_once(", [").unwrap();
                let tail = &call[call.rfind("], ").unwrap() + 1..];
                let want = format!("{head}, events{tail} = {ret}");
                assert!(told.starts_with(&want), "{line:?} told as {told:?}");
                if ret == "1" {
                    // data={u32=SLOT, u64=DATA}: the low 32 bits are the
                    // slot, the high 32 its generation.
                    let data = line.split("data={").nth(1).unwrap();
                    let data = &data[..data.find('}').unwrap()];
                    let (slot, whole) = data.split_once(", u64=").unwrap();
                    let slot = slot.strip_prefix("u32=").unwrap();
                    let generation = whole.parse::<u64>().unwrap() >> 32;
                    assert!(
                        told.contains(&format!("data={{{data}}}"))
                            && told.contains(&format!("slot {slot}, generation {generation}"))
                            && told.contains("Token(1)"),
                        "the event's data is slot {slot}, generation {generation}: {told:?}"
                    );
                }
            }
            "close" => assert!(told.starts_with(call), "{line:?} told as {told:?}"),
            _ => {
                if matches!(name, "pselect6" | "poll") {
                    waits += 1;
                }
                let want = format!("{call} = {ret}");
                assert!(told.starts_with(&want), "{line:?} told as {told:?}");
            }
        }
    }
    assert_eq!(
        waits,
        6,
        "two waits per backend in:\n{}",
        section.join("\n")
    );
    let registers = section
        .iter()
        .filter(|l| l.starts_with("  poller.register("))
        .count();
    assert_eq!(registers, 6, "two registrations per backend");
    let adds = section
        .iter()
        .filter(|l| is_trace(l) && l.contains("EPOLL_CTL_ADD"))
        .count();
    assert_eq!(adds, 2, "{}", section.join("\n"));
    assert!(
        !section.iter().any(|l| l.contains("token 1")),
        "{}",
        section.join("\n")
    );
}

/// poll_server's and select_chat's demonstrations under RLIMIT_NOFILE 8:
/// the server cannot accept every client, and the clients it never accepts
/// time out. Before the fix the accepted client then waited forever at a
/// `std::sync::Barrier` for the others, and the example never exited. Every
/// wait is bounded now: each exits by itself (non-zero: its demonstration
/// could not run) with the reason on stderr, before the hang guard.
#[test]
fn chat_demonstrations_exit_by_themselves_under_a_tight_fd_limit() {
    let runs: Vec<_> = ["poll_server", "select_chat"]
        .into_iter()
        .map(|name| {
            thread::spawn(move || {
                let bin = example_binary(name).unwrap();
                let mut cmd = Command::new(&bin);
                cmd.process_group(0)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                // SAFETY: the closure runs in the forked child before exec
                // and makes one async-signal-safe syscall (setrlimit); it
                // touches no lock and allocates nothing.
                unsafe {
                    cmd.pre_exec(|| {
                        nix::sys::resource::setrlimit(
                            nix::sys::resource::Resource::RLIMIT_NOFILE,
                            8,
                            8,
                        )
                        .map_err(std::io::Error::from)
                    });
                }
                let mut child = cmd.spawn().unwrap();
                let stdout = drain(child.stdout.take().unwrap());
                let stderr = drain(child.stderr.take().unwrap());
                let status = wait_guarded(&mut child);
                kill_group(&child);
                let stdout = String::from_utf8_lossy(&stdout.join().unwrap()).into_owned();
                let stderr = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
                (name, status, stdout, stderr)
            })
        })
        .collect();
    for run in runs {
        let (name, status, stdout, stderr) = run.join().unwrap();
        let report = format!("{name}: {status:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
        let status =
            status.unwrap_or_else(|| panic!("still running after {HANG_GUARD:?}: {report}"));
        // Said why, whichever way it failed: out of time, or out of fds
        // before its clients could connect.
        if !status.success() {
            assert!(
                stderr.contains("ran out of time") || stderr.contains("Too many open files"),
                "{report}"
            );
        }
    }
}
