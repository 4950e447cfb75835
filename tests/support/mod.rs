//! Helpers shared by the core integration tests (socket, addr, leaks,
//! cloexec, sigpipe): loopback endpoints, temp dirs that remove themselves,
//! bounded waits, nix as an independent oracle, fd-table snapshots and
//! child-process modes.
//!
//! Child modes: a test that changes process-wide state (rlimits, signal
//! dispositions, namespaces) re-executes its own test binary with
//! [`CHILD_ENV`] set to its name and `--exact <name>`, so the child runs the
//! same test function, which sees [`is_child`] and does the work. The
//! parent checks that exactly one test ran and passed.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]
// `pre_exec` (fork-side namespace setup) and nix's raw sockaddr views.
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, Read};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use baresock::{Domain, OwnedSocket, Protocol, SockAddr, Type};
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{AddressFamily, SockaddrLike, SockaddrStorage};

/// The environment variable that puts a re-executed test binary into a
/// child mode: its value is the name of the test to run as the child.
pub const CHILD_ENV: &str = "BARESOCK_TEST_CHILD";

/// How long any child process may run before it is killed and the test
/// fails (a hang guard, not a speed assertion).
pub const CHILD_HANG_GUARD: Duration = Duration::from_secs(120);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A number unique within this process, for names.
pub fn unique() -> usize {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

// ---- addresses ----

/// `127.0.0.1:port`.
pub fn v4(port: u16) -> SockAddr {
    SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

/// `[::1]:port`.
pub fn v6(port: u16) -> SockAddr {
    SockAddr::from(SocketAddrV6::new(Ipv6Addr::LOCALHOST, port, 0, 0))
}

/// The loopback address with port 0 for an IP domain.
pub fn loopback(domain: Domain) -> SockAddr {
    if domain == Domain::IPV6 { v6(0) } else { v4(0) }
}

/// A fresh abstract Unix name, unique to this process and call.
pub fn abstract_name(tag: &str) -> Vec<u8> {
    format!("baresock-test-{}-{}-{tag}", std::process::id(), unique()).into_bytes()
}

/// The port of an IP address.
#[track_caller]
pub fn port_of(a: &SockAddr) -> u16 {
    a.as_socket().expect("an IP address").port()
}

/// A loopback port that nothing listens on: bound (so nobody else gets it
/// while we look) and then released. A connect to it is refused.
pub fn closed_port(domain: Domain) -> SockAddr {
    let s = OwnedSocket::new(domain, Type::STREAM, Protocol::DEFAULT).unwrap();
    s.bind(&loopback(domain)).unwrap();
    s.local_addr().unwrap()
}

// ---- endpoints ----

/// A TCP listener on loopback, port chosen by the kernel, and its address.
pub fn tcp_listener(domain: Domain) -> (OwnedSocket, SockAddr) {
    let l = OwnedSocket::new(domain, Type::STREAM, Protocol::DEFAULT).unwrap();
    l.bind(&loopback(domain)).unwrap();
    l.listen(128).unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

/// A connected TCP pair on loopback: (client, accepted server side).
pub fn tcp_pair(domain: Domain) -> (OwnedSocket, OwnedSocket) {
    let (l, a) = tcp_listener(domain);
    let c = OwnedSocket::new(domain, Type::STREAM, Protocol::DEFAULT).unwrap();
    c.connect(&a).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

/// A UDP socket bound to loopback, and its address.
pub fn udp_bound(domain: Domain) -> (OwnedSocket, SockAddr) {
    let s = OwnedSocket::new(domain, Type::DGRAM, Protocol::DEFAULT).unwrap();
    s.bind(&loopback(domain)).unwrap();
    let a = s.local_addr().unwrap();
    (s, a)
}

/// A TCP listener with backlog 0 whose accept queue is full and verified
/// full: one connection completed and sits in the queue, nobody accepts,
/// and a probe connect stays in SYN_SENT. Any further connect stays
/// pending: the listener drops its SYNs while the queue is full.
pub struct FullListener {
    pub listener: OwnedSocket,
    pub addr: SockAddr,
    _queued: OwnedSocket,
    _probe: OwnedSocket,
}

/// `TCP_SYN_SENT` from the kernel's tcp_states.h.
pub const TCP_SYN_SENT: u8 = 2;

impl FullListener {
    #[track_caller]
    pub fn new(domain: Domain) -> FullListener {
        let listener = OwnedSocket::new(domain, Type::STREAM, Protocol::DEFAULT).unwrap();
        listener.bind(&loopback(domain)).unwrap();
        listener.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        // With backlog 0 the accept queue holds one connection.
        let queued = OwnedSocket::new(domain, Type::STREAM, Protocol::DEFAULT).unwrap();
        queued.connect(&addr).unwrap();
        // The connection is in the queue once the listener is readable.
        assert!(
            wait_for(&listener, PollFlags::POLLIN, Duration::from_secs(10))
                .contains(PollFlags::POLLIN),
            "the first connection never reached the accept queue"
        );
        // Verify the pending state: a nonblocking connect starts, gets no
        // answer, and its socket stays in SYN_SENT.
        let probe = OwnedSocket::new_nonblocking(domain, Type::STREAM, Protocol::DEFAULT).unwrap();
        let e = probe.connect(&addr).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINPROGRESS), "{e}");
        let r = wait_for(&probe, PollFlags::POLLOUT, Duration::from_millis(200));
        assert!(r.is_empty(), "the probe connect completed: {r:?}");
        assert_eq!(probe.tcp_info().unwrap().state, TCP_SYN_SENT);
        FullListener {
            listener,
            addr,
            _queued: queued,
            _probe: probe,
        }
    }
}

/// A temporary directory that removes itself (and its content) on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "baresock-{tag}-{}-{}",
            std::process::id(),
            unique()
        ));
        std::fs::create_dir(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---- waits ----

/// Polls `fd` (through nix, not the crate) for `events` for at most
/// `timeout`, tolerating EINTR; returns the revents (empty on timeout).
#[track_caller]
pub fn wait_for(fd: &impl AsFd, events: PollFlags, timeout: Duration) -> PollFlags {
    let deadline = Instant::now() + timeout;
    for _ in 0..1000 {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = PollTimeout::try_from(left.as_millis().max(1) as u64).unwrap();
        let mut fds = [PollFd::new(fd.as_fd(), events)];
        match poll(&mut fds, ms) {
            Ok(0) => return PollFlags::empty(),
            Ok(_) => return fds[0].revents().unwrap_or(PollFlags::empty()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => panic!("poll: {e}"),
        }
    }
    panic!("poll kept being interrupted");
}

/// Calls `f` until it gives something other than WouldBlock, waiting (at
/// most a second) for readability in between; ten tries at most.
#[track_caller]
pub fn retry_until_ready<T>(fd: &impl AsFd, mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    for _ in 0..10 {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait_for(fd, PollFlags::POLLIN, Duration::from_secs(1));
            }
            r => return r,
        }
    }
    panic!("never became ready");
}

// ---- nix oracle ----

/// `O_NONBLOCK` as nix's `fcntl(F_GETFL)` sees it.
#[track_caller]
pub fn nix_nonblocking(fd: &impl AsFd) -> bool {
    OFlag::from_bits_truncate(fcntl(fd.as_fd(), FcntlArg::F_GETFL).unwrap())
        .contains(OFlag::O_NONBLOCK)
}

/// `FD_CLOEXEC` as nix's `fcntl(F_GETFD)` sees it.
#[track_caller]
pub fn nix_cloexec(fd: &impl AsFd) -> bool {
    FdFlag::from_bits_truncate(fcntl(fd.as_fd(), FcntlArg::F_GETFD).unwrap())
        .contains(FdFlag::FD_CLOEXEC)
}

/// Asserts that our address and nix's say the same thing. IP addresses
/// are compared field by field (flow info and scope id included) and byte
/// for byte over the struct's length; Unix addresses by what they name.
/// (nix's `len()` is not the kernel's length for every family: a storage
/// reports 128, and a `UnixAddr` keeps its own length byte at offset 110,
/// so raw bytes are compared only where they are the kernel's.)
#[track_caller]
pub fn assert_same_addr(ours: &SockAddr, theirs: &SockaddrStorage) {
    match theirs.family() {
        Some(AddressFamily::Inet) => {
            let t = theirs.as_sockaddr_in().unwrap();
            let t = SocketAddrV4::from(*t);
            assert_eq!(ours.as_socket_ipv4(), Some(t), "{ours:?}");
            assert_eq!(ours.as_bytes(), &nix_raw(theirs)[..16]);
        }
        Some(AddressFamily::Inet6) => {
            let t = SocketAddrV6::from(*theirs.as_sockaddr_in6().unwrap());
            assert_eq!(ours.as_socket_ipv6(), Some(t), "{ours:?}");
            assert_eq!(ours.as_bytes(), &nix_raw(theirs)[..28]);
        }
        Some(AddressFamily::Unix) => {
            let t = theirs.as_unix_addr().unwrap();
            assert_eq!(ours.as_unix_path(), t.path(), "{ours:?} vs {t:?}");
            assert_eq!(
                ours.as_abstract_name(),
                t.as_abstract(),
                "{ours:?} vs {t:?}"
            );
            assert_eq!(ours.is_unnamed(), t.is_unnamed(), "{ours:?} vs {t:?}");
        }
        other => panic!("unexpected family from nix: {other:?}"),
    }
}

/// The bytes of a nix address, `len()` of them from `as_ptr()`.
pub fn nix_raw(a: &impl SockaddrLike) -> Vec<u8> {
    // SAFETY: SockaddrLike promises as_ptr() points at len() readable bytes
    // of the address, borrowed from `a` for this copy.
    unsafe { std::slice::from_raw_parts(a.as_ptr().cast::<u8>(), a.len() as usize) }.to_vec()
}

/// nix's getsockname.
#[track_caller]
pub fn nix_local(fd: &impl AsRawFd) -> SockaddrStorage {
    nix::sys::socket::getsockname::<SockaddrStorage>(fd.as_raw_fd()).unwrap()
}

/// nix's getpeername.
#[track_caller]
pub fn nix_peer(fd: &impl AsRawFd) -> SockaddrStorage {
    nix::sys::socket::getpeername::<SockaddrStorage>(fd.as_raw_fd()).unwrap()
}

/// Asserts that our `local_addr` and `peer_addr` (when connected) say
/// what nix's getsockname/getpeername say.
#[track_caller]
pub fn assert_addrs_match_nix(s: &OwnedSocket) {
    assert_same_addr(&s.local_addr().unwrap(), &nix_local(s));
    if let Ok(p) = s.peer_addr() {
        assert_same_addr(&p, &nix_peer(s));
    }
}

/// The errno of a result that must have failed.
#[track_caller]
pub fn errno<T: std::fmt::Debug>(r: io::Result<T>) -> i32 {
    match r {
        Ok(v) => panic!("expected an error, got Ok({v:?})"),
        Err(e) => e
            .raw_os_error()
            .unwrap_or_else(|| panic!("error without errno: {e}")),
    }
}

/// Asserts that `r` failed with `want`, naming both errnos on failure.
#[track_caller]
pub fn assert_errno<T: std::fmt::Debug>(r: io::Result<T>, want: i32) {
    let got = errno(r);
    assert_eq!(
        got,
        want,
        "got {} ({got}), want {} ({want})",
        nix::errno::Errno::from_raw(got),
        nix::errno::Errno::from_raw(want)
    );
}

// ---- fd table ----

/// The process's open fds and what each points at (`/proc/self/fd`),
/// without the directory fd used to read it.
pub fn fd_table() -> BTreeMap<i32, PathBuf> {
    let dir = std::fs::read_dir("/proc/self/fd").unwrap();
    let me = PathBuf::from(format!("/proc/{}/fd", std::process::id()));
    let mut out = BTreeMap::new();
    for e in dir {
        let e = e.unwrap();
        let Ok(fd) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // The read_dir fd itself shows as the directory being read.
        match std::fs::read_link(e.path()) {
            Ok(target) if target == me => {}
            Ok(target) => {
                out.insert(fd, target);
            }
            Err(_) => {}
        }
    }
    out
}

/// The socket inode behind an fd (`socket:[N]` in /proc/self/fd).
#[allow(clippy::useless_conversion)] // ino_t is 32-bit on i686
pub fn socket_inode(fd: BorrowedFd<'_>) -> u64 {
    u64::from(nix::sys::stat::fstat(fd).unwrap().st_ino)
}

// ---- child processes ----

/// Whether this process is the child run for test `name`.
pub fn is_child(name: &str) -> bool {
    std::env::var_os(CHILD_ENV).is_some_and(|v| v == *name)
}

/// A command that re-executes this test binary to run test `name` alone
/// as a child (`--exact`, one thread, output not captured).
pub fn child_command(name: &str) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        name,
        "--exact",
        "--include-ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, name)
    .stdin(Stdio::null());
    c
}

/// What a finished child left behind.
#[derive(Debug)]
pub struct ChildOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` to completion with captured output, killing it and failing
/// if it outlives [`CHILD_HANG_GUARD`].
#[track_caller]
pub fn run_bounded(mut cmd: Command) -> ChildOutput {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn child");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + CHILD_HANG_GUARD;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child {cmd:?} hung for {CHILD_HANG_GUARD:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    ChildOutput {
        status,
        stdout: String::from_utf8_lossy(&t_out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&t_err.join().unwrap()).into_owned(),
    }
}

/// Asserts that a child run of one test exited 0 after running exactly
/// that one test.
#[track_caller]
pub fn assert_child_passed(out: &ChildOutput) {
    assert!(
        out.status.success() && out.stdout.contains("test result: ok. 1 passed"),
        "child failed: {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
}

/// Runs test `name` as a child and asserts it passed.
#[track_caller]
pub fn run_child(name: &str) -> ChildOutput {
    let out = run_bounded(child_command(name));
    assert_child_passed(&out);
    out
}

/// The network namespace of the calling thread (`net:[N]`).
pub fn current_netns() -> OsString {
    std::fs::read_link("/proc/thread-self/ns/net")
        .unwrap()
        .into_os_string()
}

const PARENT_NETNS_ENV: &str = "BARESOCK_TEST_PARENT_NETNS";

/// Runs test `name` as a child in a network namespace of its own, made by
/// `unshare(CLONE_NEWNET)` in the forked, single-threaded child before it
/// execs. If the namespace cannot be made the spawn fails, and so does the
/// test: it never falls through to the host's network. Needs root.
#[track_caller]
pub fn run_child_in_netns(name: &str) -> ChildOutput {
    let mut cmd = child_command(name);
    cmd.env(PARENT_NETNS_ENV, current_netns());
    // SAFETY: the closure runs in the forked child before exec and makes
    // one async-signal-safe syscall (unshare); it allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
        });
    }
    let out = run_bounded(cmd);
    assert_child_passed(&out);
    out
}

/// In a child made by [`run_child_in_netns`]: checks, before anything is
/// touched, that this thread's network namespace is not the parent's.
#[track_caller]
pub fn assert_in_own_netns() {
    let parent = std::env::var_os(PARENT_NETNS_ENV).expect("parent netns in env");
    let mine = current_netns();
    assert!(
        !parent.is_empty() && mine != parent,
        "not in a new network namespace ({mine:?} == parent {parent:?}); refusing to touch the host network"
    );
}

/// Runs `ip ARGS` (iproute2), in the caller's network namespace.
#[track_caller]
pub fn ip(args: &[&str]) {
    let out = run_bounded({
        let mut c = Command::new("ip");
        c.args(args).stdin(Stdio::null());
        c
    });
    assert!(
        out.status.success(),
        "ip {args:?}: {:?} {}",
        out.status,
        out.stderr
    );
}

/// Runs test `name` as a child without privileges in the host's network
/// namespace: when run as root, the forked child first enters a new user
/// namespace (`unshare(CLONE_NEWUSER)`), where it holds no capability over
/// the host's network, files or ports; otherwise it is unprivileged already.
#[track_caller]
pub fn run_child_unprivileged(name: &str, cmd: impl FnOnce(&mut Command)) -> ChildOutput {
    let mut c = child_command(name);
    cmd(&mut c);
    if nix::unistd::geteuid().is_root() {
        // SAFETY: the closure runs in the forked child before exec and makes
        // one async-signal-safe syscall (unshare); it allocates nothing.
        unsafe {
            c.pre_exec(|| {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER).map_err(io::Error::from)
            });
        }
    }
    let out = run_bounded(c);
    assert_child_passed(&out);
    out
}

/// Turns a `SocketAddr` string into a `SockAddr`.
pub fn sa(s: &str) -> SockAddr {
    SockAddr::from(s.parse::<SocketAddr>().unwrap())
}
