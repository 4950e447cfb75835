//! Socket options (`src/opt/`): every typed option is set through our
//! setter and read back through our getter and through nix's `getsockopt`
//! (the independent oracle; options nix lacks are defined below with its
//! exported `sockopt_impl!`), and the other way round. Read-only options
//! are checked against what the socket is. Each errno the docs list is
//! provoked and checked with `raw_os_error()`, and each option's promise
//! is shown where a loopback test can show it (a timeout that fires, a
//! broadcast refused, a TTL that arrives, a membership that delivers).
//!
//! Only loopback, socketpairs and Unix sockets in a temp dir are used.
//! Multicast: IPv4 on `lo` with 127.0.0.1 named as the interface, never
//! "any"; IPv6 multicast only inside a network namespace that a child
//! process makes (root; `--ignored`).
//!
//! Tests that change process-wide state (dropping privileges, entering a
//! namespace) re-run this test binary as a child with `BARESOCK_OPT_CHILD`
//! naming the one test to run.

use std::env;
use std::fmt::Debug;
use std::fs;
use std::io::{self, IoSliceMut};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::process::{self, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use baresock::opt::TcpInfo;
use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, SockAddr, Type};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    ControlMessageOwned, IpMembershipRequest, MsgFlags as NixMsgFlags, SockaddrStorage, getsockopt,
    recvmsg, setsockopt, sockopt,
};
use nix::sys::time::TimeVal;
use nix::{getsockopt_impl, setsockopt_impl, sockopt_impl};

/// Options nix does not define, declared with nix's own macro so the
/// oracle stays nix's code, not ours.
mod oracle {
    use super::{getsockopt_impl, setsockopt_impl, sockopt_impl};

    sockopt_impl!(
        /// `SO_DOMAIN`
        SoDomain,
        GetOnly,
        libc::SOL_SOCKET,
        libc::SO_DOMAIN,
        libc::c_int
    );
    sockopt_impl!(
        /// `SO_PROTOCOL`
        SoProtocol,
        GetOnly,
        libc::SOL_SOCKET,
        libc::SO_PROTOCOL,
        libc::c_int
    );
    sockopt_impl!(
        /// `TCP_INFO`
        TcpInfo,
        GetOnly,
        libc::IPPROTO_TCP,
        libc::TCP_INFO,
        libc::tcp_info
    );
    sockopt_impl!(
        /// `IP_MULTICAST_IF`, read and written as an `in_addr`
        IpMulticastIf,
        Both,
        libc::IPPROTO_IP,
        libc::IP_MULTICAST_IF,
        libc::in_addr
    );
    sockopt_impl!(
        /// `IP_MULTICAST_ALL`: 0 makes a socket receive only the groups it
        /// joined itself (Linux's default, 1, delivers every group any
        /// socket joined on the interface)
        IpMulticastAll,
        Both,
        libc::IPPROTO_IP,
        libc::IP_MULTICAST_ALL,
        bool
    );
    sockopt_impl!(
        /// `SO_INCOMING_CPU`
        IncomingCpu,
        Both,
        libc::SOL_SOCKET,
        libc::SO_INCOMING_CPU,
        libc::c_int
    );
    sockopt_impl!(
        /// `IPV6_MULTICAST_IF`
        Ipv6MulticastIf,
        Both,
        libc::IPPROTO_IPV6,
        libc::IPV6_MULTICAST_IF,
        libc::c_int
    );
    sockopt_impl!(
        /// `IPV6_MULTICAST_LOOP`
        Ipv6MulticastLoop,
        Both,
        libc::IPPROTO_IPV6,
        libc::IPV6_MULTICAST_LOOP,
        bool
    );
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// How long a blocking call may take before a test calls it hung.
const HANG_GUARD: Duration = Duration::from_secs(20);
/// Tries and per-try timeout of every wait for readiness.
const WAIT_TRIES: u32 = 10;
const WAIT_EACH_MS: u16 = 500;

const CHILD_ENV: &str = "BARESOCK_OPT_CHILD";

fn sock(domain: Domain, ty: Type) -> OwnedSocket {
    OwnedSocket::new(domain, ty, Protocol::DEFAULT).expect("socket")
}

fn tcp4() -> OwnedSocket {
    sock(Domain::IPV4, Type::STREAM)
}

fn udp4() -> OwnedSocket {
    sock(Domain::IPV4, Type::DGRAM)
}

fn tcp6() -> OwnedSocket {
    sock(Domain::IPV6, Type::STREAM)
}

fn udp6() -> OwnedSocket {
    sock(Domain::IPV6, Type::DGRAM)
}

fn v4(ip: Ipv4Addr, port: u16) -> SockAddr {
    SockAddr::from(SocketAddr::from((ip, port)))
}

fn v6(ip: Ipv6Addr, port: u16) -> SockAddr {
    SockAddr::from(SocketAddr::from((ip, port)))
}

fn port_of(s: &OwnedSocket) -> u16 {
    s.local_addr()
        .expect("getsockname")
        .as_socket()
        .expect("an IP address")
        .port()
}

/// A UDP socket bound to 127.0.0.1 on a port the kernel picks.
fn bound_udp4() -> (OwnedSocket, u16) {
    let s = udp4();
    s.bind(&v4(Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = port_of(&s);
    (s, port)
}

/// A connected TCP pair over 127.0.0.1: (client, accepted, listener).
fn tcp_pair() -> (OwnedSocket, OwnedSocket, OwnedSocket) {
    let l = tcp4();
    l.bind(&v4(Ipv4Addr::LOCALHOST, 0)).expect("bind");
    l.listen(8).expect("listen");
    let c = tcp4();
    c.connect(&v4(Ipv4Addr::LOCALHOST, port_of(&l)))
        .expect("connect");
    let (a, _) = l.accept().expect("accept");
    (c, a, l)
}

/// `expect_errno!(result, EINVAL)`: the call failed with exactly that errno.
macro_rules! expect_errno {
    ($r:expr, $errno:ident) => {
        assert_errno($r, libc::$errno, stringify!($errno))
    };
}

#[track_caller]
fn assert_errno<T: Debug>(r: io::Result<T>, errno: i32, name: &str) {
    match r {
        Ok(v) => panic!("expected {name}, got Ok({v:?})"),
        Err(e) => assert_eq!(e.raw_os_error(), Some(errno), "expected {name}, got {e:?}"),
    }
}

/// Bad input refused by the crate itself: `InvalidInput`, no errno.
#[track_caller]
fn assert_invalid_input<T: Debug>(r: io::Result<T>) {
    match r {
        Ok(v) => panic!("expected InvalidInput, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e:?}");
            assert_eq!(e.raw_os_error(), None, "came from the kernel: {e:?}");
        }
    }
}

/// Runs a call that may block on another thread and fails the test if it
/// has not returned within [`HANG_GUARD`].
#[track_caller]
fn within_guard<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(HANG_GUARD) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: still blocked after {HANG_GUARD:?}")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: the call panicked"),
    }
}

/// Waits until `s` is readable: a bounded number of polls, each bounded
/// in time.
#[track_caller]
fn wait_readable(s: &OwnedSocket, what: &str) {
    for _ in 0..WAIT_TRIES {
        let mut fds = [PollFd::new(s.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(WAIT_EACH_MS)) {
            Ok(n) if n > 0 => return,
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => panic!("poll: {e}"),
        }
    }
    panic!("{what}: nothing to read after {WAIT_TRIES} polls of {WAIT_EACH_MS} ms");
}

/// The next datagram queued on `s`, waiting a bounded time for it.
#[track_caller]
fn recv_dgram(s: &OwnedSocket, what: &str) -> String {
    let mut buf = [0u8; 256];
    for _ in 0..WAIT_TRIES {
        wait_readable(s, what);
        // Readiness can be spurious (a datagram with a bad checksum is
        // dropped at recv time); try again then.
        match s.recv_with_flags(&mut buf, MsgFlags::DONTWAIT) {
            Ok(n) => return String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{what}: recv: {e}"),
        }
    }
    panic!("{what}: readable but no datagram, {WAIT_TRIES} times");
}

/// Asserts that nothing is queued on `s` right now.
#[track_caller]
fn assert_empty(s: &OwnedSocket, what: &str) {
    let mut buf = [0u8; 256];
    match s.recv_with_flags(&mut buf, MsgFlags::DONTWAIT) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Ok(n) => panic!(
            "{what}: unexpected datagram {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(e) => panic!("{what}: recv: {e}"),
    }
}

/// The next datagram on `s` with the TTL (IPv4) or hop limit (IPv6) it
/// arrived with, read by nix's recvmsg from the IP_TTL / IPV6_HOPLIMIT
/// control message (the receiver must have IP_RECVTTL / IPV6_RECVHOPLIMIT
/// on).
#[track_caller]
fn recv_with_hops(s: &OwnedSocket, what: &str) -> (String, i32) {
    wait_readable(s, what);
    let mut buf = [0u8; 256];
    let mut cmsg = nix::cmsg_space!(libc::c_int);
    let (n, hops) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<SockaddrStorage>(
            s.as_raw_fd(),
            &mut iov,
            Some(cmsg.as_mut_slice()),
            NixMsgFlags::MSG_DONTWAIT,
        )
        .unwrap_or_else(|e| panic!("{what}: recvmsg: {e}"));
        let hops = msg
            .cmsgs()
            .expect("control messages")
            .find_map(|c| match c {
                ControlMessageOwned::Ipv4Ttl(t) | ControlMessageOwned::Ipv6HopLimit(t) => Some(t),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{what}: no TTL / hop limit control message"));
        (msg.bytes, hops)
    };
    (String::from_utf8_lossy(&buf[..n]).into_owned(), hops)
}

/// A directory for Unix socket paths, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = env::temp_dir().join(format!(
            "baresock-opt-{}-{tag}-{}",
            process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// An IPv4 multicast group of the administratively scoped block
/// (239/8), distinct per test (`id`) and per process, so parallel tests
/// and parallel runs never share one.
fn group_v4(id: u8) -> Ipv4Addr {
    let pid = process::id();
    Ipv4Addr::new(239, 200 + id, (pid >> 8) as u8, pid as u8)
}

/// A /proc table read in as few read(2) calls as possible. The kernel
/// walks the table afresh at each read, by position, so a group joined or
/// left by a parallel test between two reads can shift a line out of
/// view; `fs::read_to_string` starts with a 32-byte probe read, which made
/// that happen. One read with a large buffer takes up to a page in one
/// walk, more than these tables hold here.
fn read_proc_table(path: &str) -> String {
    use std::io::Read;
    let mut f = fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut buf = vec![0u8; 1 << 16];
    let mut len = 0;
    // Bounded: the table is finite, and the buffer size caps the count.
    while len < buf.len() {
        match f.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("{path}: {e}"),
        }
    }
    assert!(len < buf.len(), "{path}: larger than {} bytes", buf.len());
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// The IPv4 groups the interface `dev` is a member of, from the kernel's
/// own table (`/proc/<thread>/net/igmp`): an oracle that owes nothing to
/// our code.
fn igmp_groups(dev: &str) -> Vec<Ipv4Addr> {
    let text = read_proc_table("/proc/thread-self/net/igmp");
    let mut groups = Vec::new();
    let mut in_dev = false;
    for line in text.lines().skip(1) {
        if !line.starts_with('\t') {
            // "1\tlo        :     2      V3"
            in_dev = line.split_whitespace().nth(1) == Some(dev);
        } else if in_dev {
            // "\t\t\t\t0201C8EF     1 0:00000000\t\t0": the group as the
            // kernel's native-endian u32.
            let hex = line.split_whitespace().next().expect("group field");
            let v = u32::from_str_radix(hex, 16).expect("hex group");
            groups.push(Ipv4Addr::from(v.to_ne_bytes()));
        }
    }
    groups
}

/// A 198.51.100.0/24 or 203.0.113.0/24 (TEST-NET) address that no
/// interface of this host has: bind() says so with EADDRNOTAVAIL. No
/// packet is sent to it; the kernel only looks it up among local
/// addresses.
fn non_local_v4() -> Ipv4Addr {
    for ip in [
        Ipv4Addr::new(198, 51, 100, 77),
        Ipv4Addr::new(203, 0, 113, 77),
    ] {
        let s = udp4();
        if let Err(e) = s.bind(&v4(ip, 0)) {
            if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) {
                return ip;
            }
        }
    }
    panic!("every candidate TEST-NET address is local on this host");
}

fn read_proc_int(path: &str) -> i64 {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn child_mode() -> Option<String> {
    env::var(CHILD_ENV).ok()
}

/// Re-runs this test binary with only `test` selected and
/// `BARESOCK_OPT_CHILD=test`, waits a bounded time, and fails unless the
/// child ran exactly that one test and it passed.
#[track_caller]
fn run_child(test: &str, envs: &[(&str, String)]) {
    let dir = TempDir::new("child");
    let out_path = dir.0.join("stdout");
    let err_path = dir.0.join("stderr");
    let mut cmd = Command::new(env::current_exe().expect("current_exe"));
    cmd.args([
        test,
        "--exact",
        "--include-ignored",
        "--test-threads=1",
        "--nocapture",
    ])
    .env(CHILD_ENV, test)
    .stdin(Stdio::null())
    .stdout(fs::File::create(&out_path).expect("stdout file"))
    .stderr(fs::File::create(&err_path).expect("stderr file"));
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn child");
    let mut status = None;
    // 1,200 × 100 ms: two minutes at most.
    for _ in 0..1200 {
        if let Some(s) = child.try_wait().expect("wait child") {
            status = Some(s);
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    let status = status.unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("child for {test} still running after two minutes; killed");
    });
    let out = fs::read_to_string(&out_path).unwrap_or_default();
    let err = fs::read_to_string(&err_path).unwrap_or_default();
    assert!(
        status.success(),
        "child for {test} failed ({status}):\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    assert!(
        out.contains("test result: ok. 1 passed"),
        "child for {test} did not run exactly one test:\n{out}"
    );
}

// ---------------------------------------------------------------------------
// SOL_SOCKET
// ---------------------------------------------------------------------------

#[test]
fn so_type_domain_protocol_describe_the_socket() {
    let cases = [
        (Domain::IPV4, Type::STREAM, libc::IPPROTO_TCP),
        (Domain::IPV4, Type::DGRAM, libc::IPPROTO_UDP),
        (Domain::IPV6, Type::STREAM, libc::IPPROTO_TCP),
        (Domain::IPV6, Type::DGRAM, libc::IPPROTO_UDP),
        (Domain::UNIX, Type::STREAM, 0),
        (Domain::UNIX, Type::DGRAM, 0),
        (Domain::UNIX, Type::SEQPACKET, 0),
    ];
    for (domain, ty, proto) in cases {
        // Protocol 0 asks for the default; SO_PROTOCOL names the one the
        // kernel chose. SOCK_NONBLOCK and SOCK_CLOEXEC are flags of the
        // fd, not part of the type SO_TYPE reports.
        let blocking = OwnedSocket::new(domain, ty, Protocol::DEFAULT).expect("socket");
        let nonblocking =
            OwnedSocket::new_nonblocking(domain, ty, Protocol::DEFAULT).expect("socket");
        for s in [&blocking, &nonblocking] {
            assert_eq!(s.r#type().unwrap(), ty);
            assert_eq!(s.domain().unwrap(), domain);
            assert_eq!(s.protocol().unwrap(), Protocol::from(proto));
            assert_eq!(
                getsockopt(s, sockopt::SockType).unwrap() as libc::c_int,
                libc::c_int::from(ty)
            );
            assert_eq!(
                getsockopt(s, oracle::SoDomain).unwrap(),
                libc::c_int::from(domain)
            );
            assert_eq!(getsockopt(s, oracle::SoProtocol).unwrap(), proto);
        }
    }
    // Both ends of a socketpair.
    let (a, b) = OwnedSocket::pair(Domain::UNIX, Type::SEQPACKET, Protocol::DEFAULT).unwrap();
    for s in [&a, &b] {
        assert_eq!(s.r#type().unwrap(), Type::SEQPACKET);
        assert_eq!(s.domain().unwrap(), Domain::UNIX);
        assert_eq!(s.protocol().unwrap(), Protocol::DEFAULT);
    }
}

#[test]
fn so_acceptconn_is_true_only_after_listen() {
    let l = tcp4();
    assert!(!l.is_listener().unwrap());
    assert!(!getsockopt(&l, sockopt::AcceptConn).unwrap());
    l.bind(&v4(Ipv4Addr::LOCALHOST, 0)).unwrap();
    assert!(!l.is_listener().unwrap(), "bound is not listening");
    l.listen(1).unwrap();
    assert!(l.is_listener().unwrap());
    assert!(getsockopt(&l, sockopt::AcceptConn).unwrap());

    // The two ends of a connection are not listeners.
    let c = tcp4();
    c.connect(&v4(Ipv4Addr::LOCALHOST, port_of(&l))).unwrap();
    let (a, _) = l.accept().unwrap();
    assert!(!c.is_listener().unwrap());
    assert!(!a.is_listener().unwrap());

    // A datagram socket never listens.
    let (u, _) = bound_udp4();
    assert!(!u.is_listener().unwrap());
    assert!(!getsockopt(&u, sockopt::AcceptConn).unwrap());

    // Unix stream listener.
    let dir = TempDir::new("acceptconn");
    let ul = sock(Domain::UNIX, Type::STREAM);
    ul.bind(&SockAddr::unix(dir.0.join("l")).unwrap()).unwrap();
    assert!(!ul.is_listener().unwrap());
    ul.listen(1).unwrap();
    assert!(ul.is_listener().unwrap());
    assert!(getsockopt(&ul, sockopt::AcceptConn).unwrap());
}

/// A port on 127.0.0.1 where nobody listens: held by a bound socket that
/// never calls listen, so no other test can take it meanwhile. A connect
/// there is answered with RST (ECONNREFUSED).
fn closed_port() -> (OwnedSocket, u16) {
    let holder = tcp4();
    holder.bind(&v4(Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = port_of(&holder);
    (holder, port)
}

#[track_caller]
fn refused_nonblocking_connect() -> (OwnedSocket, OwnedSocket) {
    let (holder, port) = closed_port();
    let s = OwnedSocket::new_nonblocking(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    match s.connect(&v4(Ipv4Addr::LOCALHOST, port)) {
        // The RST comes back over lo while connect still holds the socket
        // lock, so it is handled after connect returns: the refusal waits
        // in SO_ERROR.
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
            panic!("connect reported the refusal itself; SO_ERROR is left empty")
        }
        other => panic!("nonblocking connect: {other:?}"),
    }
    // Wait (bounded) until the handshake is over: writable or error.
    let mut done = false;
    for _ in 0..WAIT_TRIES {
        let mut fds = [PollFd::new(s.as_fd(), PollFlags::POLLOUT)];
        if poll(&mut fds, PollTimeout::from(WAIT_EACH_MS)).unwrap_or(0) > 0 {
            done = true;
            break;
        }
    }
    assert!(done, "the refused connect never finished");
    (s, holder)
}

#[test]
fn so_error_take_error_reads_and_clears_the_pending_error() {
    // Fresh socket: nothing pending.
    let s = tcp4();
    assert!(s.take_error().unwrap().is_none());
    assert_eq!(getsockopt(&s, sockopt::SocketError).unwrap(), 0);

    // Ours first: the refusal comes back once, then the error is gone
    // (nix sees 0).
    let (s, _holder) = refused_nonblocking_connect();
    let e = s.take_error().unwrap().expect("a pending error");
    assert_eq!(e.raw_os_error(), Some(libc::ECONNREFUSED), "{e:?}");
    assert_eq!(getsockopt(&s, sockopt::SocketError).unwrap(), 0);
    assert!(s.take_error().unwrap().is_none());

    // nix first: it clears the error for us as well.
    let (s, _holder) = refused_nonblocking_connect();
    assert_eq!(
        getsockopt(&s, sockopt::SocketError).unwrap(),
        libc::ECONNREFUSED
    );
    assert!(s.take_error().unwrap().is_none());
}

#[test]
fn so_keepalive_round_trips() {
    let s = tcp4();
    assert!(!s.keepalive().unwrap(), "off by default");
    s.set_keepalive(true).unwrap();
    assert!(s.keepalive().unwrap());
    assert!(getsockopt(&s, sockopt::KeepAlive).unwrap());
    setsockopt(&s, sockopt::KeepAlive, &false).unwrap();
    assert!(!s.keepalive().unwrap());
    // Unix sockets accept it (and ignore it).
    let u = sock(Domain::UNIX, Type::STREAM);
    u.set_keepalive(true).unwrap();
    assert!(u.keepalive().unwrap());
}

#[test]
fn so_linger_round_trips_in_whole_seconds() {
    let s = tcp4();
    assert_eq!(s.linger().unwrap(), None, "off by default");

    s.set_linger(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(s.linger().unwrap(), Some(Duration::from_secs(5)));
    let l = getsockopt(&s, sockopt::Linger).unwrap();
    assert_eq!((l.l_onoff, l.l_linger), (1, 5));

    // A fraction is rounded up, never down to "reset at once".
    s.set_linger(Some(Duration::from_millis(1200))).unwrap();
    assert_eq!(s.linger().unwrap(), Some(Duration::from_secs(2)));
    s.set_linger(Some(Duration::from_nanos(1))).unwrap();
    assert_eq!(s.linger().unwrap(), Some(Duration::from_secs(1)));

    s.set_linger(Some(Duration::ZERO)).unwrap();
    assert_eq!(s.linger().unwrap(), Some(Duration::ZERO));
    let l = getsockopt(&s, sockopt::Linger).unwrap();
    assert_eq!((l.l_onoff, l.l_linger), (1, 0));

    setsockopt(
        &s,
        sockopt::Linger,
        &libc::linger {
            l_onoff: 1,
            l_linger: 7,
        },
    )
    .unwrap();
    assert_eq!(s.linger().unwrap(), Some(Duration::from_secs(7)));

    s.set_linger(None).unwrap();
    assert_eq!(s.linger().unwrap(), None);
    assert_eq!(getsockopt(&s, sockopt::Linger).unwrap().l_onoff, 0);

    // Largest the C int holds, then one more (refused before the syscall).
    s.set_linger(Some(Duration::from_secs(i32::MAX as u64)))
        .unwrap();
    assert_eq!(
        s.linger().unwrap(),
        Some(Duration::from_secs(i32::MAX as u64))
    );
    assert_invalid_input(s.set_linger(Some(Duration::from_secs(i32::MAX as u64 + 1))));
    assert_invalid_input(s.set_linger(Some(Duration::MAX)));
}

#[test]
fn so_linger_zero_makes_close_reset_the_connection() {
    let (c, a, _l) = tcp_pair();
    c.set_linger(Some(Duration::ZERO)).unwrap();
    c.close().unwrap();
    // The peer sees RST, not an orderly end of stream.
    let mut buf = [0u8; 8];
    let r = within_guard("recv after a reset", move || a.recv(&mut buf));
    expect_errno!(r, ECONNRESET);
}

#[test]
fn so_peercred_on_a_socketpair_names_this_process() {
    let me = (
        nix::unistd::getpid().as_raw(),
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    for ty in [Type::STREAM, Type::DGRAM, Type::SEQPACKET] {
        let (a, b) = OwnedSocket::pair(Domain::UNIX, ty, Protocol::DEFAULT).unwrap();
        for s in [&a, &b] {
            let c = s.peer_cred().unwrap();
            assert_eq!((c.pid, c.uid, c.gid), me, "{ty:?}");
            let n = getsockopt(s, sockopt::PeerCredentials).unwrap();
            assert_eq!((n.pid(), n.uid(), n.gid()), me, "{ty:?}");
        }
    }
}

#[test]
fn so_peercred_on_a_connected_unix_stream_names_this_process() {
    let me = (
        nix::unistd::getpid().as_raw(),
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    let dir = TempDir::new("peercred");
    for (i, ty) in [Type::STREAM, Type::SEQPACKET].into_iter().enumerate() {
        let path = SockAddr::unix(dir.0.join(format!("l{i}"))).unwrap();
        let l = sock(Domain::UNIX, ty);
        l.bind(&path).unwrap();

        // Bound but not listening: no credentials yet.
        expect_errno!(l.peer_cred(), ENOTCONN);
        l.listen(1).unwrap();
        // A listening socket answers with its own credentials, recorded
        // at listen(2) (unix(7)); a connecting client inherits them as its
        // peer's.
        let lc = l.peer_cred().unwrap();
        assert_eq!((lc.pid, lc.uid, lc.gid), me, "{ty:?}");

        let c = sock(Domain::UNIX, ty);
        c.connect(&path).unwrap();
        let (a, _) = l.accept().unwrap();
        for s in [&c, &a] {
            let p = s.peer_cred().unwrap();
            assert_eq!((p.pid, p.uid, p.gid), me, "{ty:?}");
            let n = getsockopt(s, sockopt::PeerCredentials).unwrap();
            assert_eq!((n.pid(), n.uid(), n.gid()), me, "{ty:?}");
        }
    }
}

#[test]
fn so_peercred_without_a_unix_peer_is_enotconn() {
    // What the kernel itself answers there: success, with pid 0 and
    // uid/gid -1 (cred_to_ucred of no credentials). nix shows it; our
    // call turns it into ENOTCONN.
    let dir = TempDir::new("peercred-none");
    let (c, _a, _l) = tcp_pair();
    let (u, _) = bound_udp4();
    let unconnected = sock(Domain::UNIX, Type::STREAM);
    // A Unix datagram socket connected with connect(2), rather than made
    // by socketpair(2), carries no credentials either.
    let server = sock(Domain::UNIX, Type::DGRAM);
    let path = SockAddr::unix(dir.0.join("d")).unwrap();
    server.bind(&path).unwrap();
    let client = sock(Domain::UNIX, Type::DGRAM);
    client.connect(&path).unwrap();

    for (what, s) in [
        ("TCP", &c),
        ("UDP", &u),
        ("unconnected Unix stream", &unconnected),
        ("connect()ed Unix datagram", &client),
    ] {
        let n = getsockopt(s, sockopt::PeerCredentials).unwrap();
        assert_eq!(
            (n.pid(), n.uid(), n.gid()),
            (0, libc::uid_t::MAX, libc::gid_t::MAX),
            "{what}: the kernel's raw answer"
        );
        let r = s.peer_cred();
        expect_errno!(r, ENOTCONN);
        assert_eq!(
            s.peer_cred().unwrap_err().kind(),
            io::ErrorKind::NotConnected,
            "{what}"
        );
    }
}

#[test]
fn so_rcvbuf_and_so_sndbuf_read_back_doubled() {
    let s = tcp4();
    // Linux doubles what it is given (room for its bookkeeping) and
    // reports the doubled value, to us and to nix alike.
    s.set_recv_buffer_size(10_000).unwrap();
    assert_eq!(s.recv_buffer_size().unwrap(), 20_000);
    assert_eq!(getsockopt(&s, sockopt::RcvBuf).unwrap(), 20_000);
    s.set_send_buffer_size(12_000).unwrap();
    assert_eq!(s.send_buffer_size().unwrap(), 24_000);
    assert_eq!(getsockopt(&s, sockopt::SndBuf).unwrap(), 24_000);

    setsockopt(&s, sockopt::RcvBuf, &30_000).unwrap();
    assert_eq!(s.recv_buffer_size().unwrap(), 60_000);
    setsockopt(&s, sockopt::SndBuf, &31_000).unwrap();
    assert_eq!(s.send_buffer_size().unwrap(), 62_000);

    // A request above net.core.{r,w}mem_max is capped there, then doubled.
    let rmem_max = read_proc_int("/proc/sys/net/core/rmem_max");
    let wmem_max = read_proc_int("/proc/sys/net/core/wmem_max");
    let want = |max: i64| (2 * max.min(i64::from(i32::MAX / 2))) as usize;
    let ask = |max: i64| (max.saturating_mul(4)).min(i64::from(i32::MAX)) as usize;
    s.set_recv_buffer_size(ask(rmem_max)).unwrap();
    assert_eq!(s.recv_buffer_size().unwrap(), want(rmem_max));
    s.set_send_buffer_size(ask(wmem_max)).unwrap();
    assert_eq!(s.send_buffer_size().unwrap(), want(wmem_max));

    // Zero is raised to the kernel's floor, which is not zero.
    s.set_recv_buffer_size(0).unwrap();
    let floor = s.recv_buffer_size().unwrap();
    assert!(floor > 0);
    assert_eq!(getsockopt(&s, sockopt::RcvBuf).unwrap(), floor);

    assert_invalid_input(s.set_recv_buffer_size(i32::MAX as usize + 1));
    assert_invalid_input(s.set_send_buffer_size(usize::MAX));
}

#[test]
fn so_rcvtimeo_and_so_sndtimeo_round_trip() {
    let s = udp4();
    type Get = fn(&OwnedSocket) -> io::Result<Option<Duration>>;
    type Set = fn(&OwnedSocket, Option<Duration>) -> io::Result<()>;
    type NixGet = fn(&OwnedSocket) -> TimeVal;
    let cases: [(Get, Set, NixGet); 2] = [
        (
            OwnedSocket::read_timeout,
            OwnedSocket::set_read_timeout,
            |s| getsockopt(s, sockopt::ReceiveTimeout).unwrap(),
        ),
        (
            OwnedSocket::write_timeout,
            OwnedSocket::set_write_timeout,
            |s| getsockopt(s, sockopt::SendTimeout).unwrap(),
        ),
    ];
    for (get, set, nix_get) in cases {
        assert_eq!(get(&s).unwrap(), None, "no timeout by default");
        assert_eq!((nix_get(&s).tv_sec(), nix_get(&s).tv_usec()), (0, 0));

        // 1.5 s is a whole number of ticks at every HZ Linux offers
        // (100, 250, 300, 1000), so it reads back exactly.
        set(&s, Some(Duration::from_millis(1500))).unwrap();
        assert_eq!(get(&s).unwrap(), Some(Duration::from_millis(1500)));
        assert_eq!((nix_get(&s).tv_sec(), nix_get(&s).tv_usec()), (1, 500_000));

        // The kernel keeps the timeout in ticks and rounds up to one: a
        // nanosecond reads back as one tick (at most 10 ms), never zero.
        set(&s, Some(Duration::from_nanos(1))).unwrap();
        let tick = get(&s).unwrap().expect("a timeout");
        assert!(
            tick > Duration::ZERO && tick <= Duration::from_millis(10),
            "{tick:?}"
        );
        let tv = nix_get(&s);
        assert_eq!(
            Duration::new(tv.tv_sec() as u64, tv.tv_usec() as u32 * 1000),
            tick
        );

        set(&s, None).unwrap();
        assert_eq!(get(&s).unwrap(), None);

        // Longer than the kernel can count in ticks: it means "forever",
        // and reads back as no timeout.
        // (The longest a timeval holds: time_t is a long, 32 or 64 bits.)
        let longest = Duration::from_secs(libc::c_long::MAX as u64);
        set(&s, Some(longest)).unwrap();
        let back = get(&s).unwrap();
        if cfg!(target_pointer_width = "64") {
            assert_eq!(back, None);
        } else {
            // A 32-bit timeval holds 68 years at most: a 64-bit kernel
            // counts that in ticks and reads it back as set; a 32-bit
            // kernel cannot, and says "forever".
            assert!(back.is_none() || back == Some(longest), "{back:?}");
        }

        // Zero would mean "forever" to the kernel; refused before the call.
        assert_invalid_input(set(&s, Some(Duration::ZERO)));
        assert_invalid_input(set(&s, Some(Duration::MAX)));
    }

    // nix writes, we read.
    setsockopt(&s, sockopt::ReceiveTimeout, &TimeVal::new(2, 500_000)).unwrap();
    assert_eq!(s.read_timeout().unwrap(), Some(Duration::from_millis(2500)));
    setsockopt(&s, sockopt::SendTimeout, &TimeVal::new(3, 0)).unwrap();
    assert_eq!(s.write_timeout().unwrap(), Some(Duration::from_secs(3)));
}

#[test]
fn so_rcvtimeo_ends_a_blocking_recv_and_accept_with_eagain() {
    let (s, _) = bound_udp4();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let r = within_guard("recv with SO_RCVTIMEO", move || {
        let mut buf = [0u8; 8];
        s.recv(&mut buf)
    });
    let e = r.expect_err("nothing was sent");
    assert_eq!(e.raw_os_error(), Some(libc::EAGAIN), "{e:?}");
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);

    // accept(2) obeys SO_RCVTIMEO too.
    let l = tcp4();
    l.bind(&v4(Ipv4Addr::LOCALHOST, 0)).unwrap();
    l.listen(1).unwrap();
    l.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let r = within_guard("accept with SO_RCVTIMEO", move || l.accept().map(|_| ()));
    expect_errno!(r, EAGAIN);
}

#[test]
fn so_sndtimeo_ends_a_blocking_connect_with_einprogress() {
    // A listener with backlog 0 that never accepts: the first connection
    // fills its queue, the SYN of the second is dropped, so the second
    // connect stays pending until SO_SNDTIMEO ends the wait. The
    // handshake goes on in the kernel; dropping the socket abandons it.
    let l = tcp4();
    l.bind(&v4(Ipv4Addr::LOCALHOST, 0)).unwrap();
    l.listen(0).unwrap();
    let to = v4(Ipv4Addr::LOCALHOST, port_of(&l));
    let first = tcp4();
    first.connect(&to).unwrap();
    let second = tcp4();
    second
        .set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let r = within_guard("connect with SO_SNDTIMEO", move || second.connect(&to));
    expect_errno!(r, EINPROGRESS);
}

#[test]
fn so_sndtimeo_ends_a_blocking_send_with_eagain() {
    let (a, _b) = OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    a.set_send_buffer_size(4096).unwrap();
    a.set_write_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    // Nobody reads _b: the send buffer fills, then a blocking send waits
    // out the timeout and fails. Bounded in count and by the guard.
    let r = within_guard("send with SO_SNDTIMEO", move || {
        let chunk = [0u8; 16 * 1024];
        for _ in 0..10_000 {
            a.send(&chunk)?;
        }
        io::Result::Ok(())
    });
    let e = r.expect_err("10,000 sends into a buffer nobody reads");
    assert_eq!(e.raw_os_error(), Some(libc::EAGAIN), "{e:?}");
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
}

#[test]
fn so_reuseaddr_round_trips_and_lets_udp_share_a_port() {
    let s = udp4();
    assert!(!s.reuse_address().unwrap());
    s.set_reuse_address(true).unwrap();
    assert!(s.reuse_address().unwrap());
    assert!(getsockopt(&s, sockopt::ReuseAddr).unwrap());
    setsockopt(&s, sockopt::ReuseAddr, &false).unwrap();
    assert!(!s.reuse_address().unwrap());

    // Two UDP sockets with SO_REUSEADDR may bind the same address; a
    // third without it may not.
    let a = udp4();
    a.set_reuse_address(true).unwrap();
    a.bind(&v4(Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = port_of(&a);
    let b = udp4();
    b.set_reuse_address(true).unwrap();
    b.bind(&v4(Ipv4Addr::LOCALHOST, port)).unwrap();
    let c = udp4();
    expect_errno!(c.bind(&v4(Ipv4Addr::LOCALHOST, port)), EADDRINUSE);
}

#[test]
fn so_reuseport_round_trips_and_lets_tcp_listeners_share_a_port() {
    let s = tcp4();
    assert!(!s.reuse_port().unwrap());
    s.set_reuse_port(true).unwrap();
    assert!(s.reuse_port().unwrap());
    assert!(getsockopt(&s, sockopt::ReusePort).unwrap());
    setsockopt(&s, sockopt::ReusePort, &false).unwrap();
    assert!(!s.reuse_port().unwrap());

    let a = tcp4();
    a.set_reuse_port(true).unwrap();
    a.bind(&v4(Ipv4Addr::LOCALHOST, 0)).unwrap();
    a.listen(1).unwrap();
    let port = port_of(&a);
    let b = tcp4();
    b.set_reuse_port(true).unwrap();
    b.bind(&v4(Ipv4Addr::LOCALHOST, port)).unwrap();
    b.listen(1).unwrap();
    let c = tcp4();
    expect_errno!(c.bind(&v4(Ipv4Addr::LOCALHOST, port)), EADDRINUSE);

    // SO_REUSEPORT is for IP sockets only.
    let u = sock(Domain::UNIX, Type::STREAM);
    expect_errno!(u.set_reuse_port(true), EOPNOTSUPP);
    u.set_reuse_port(false).unwrap();
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: SO_INCOMING_CPU is ENOPROTOOPT there (not translated)"
)]
fn so_incoming_cpu_reads_none_on_a_listener_and_round_trips() {
    let l = tcp4();
    l.bind(&v4(Ipv4Addr::LOCALHOST, 0)).unwrap();
    l.listen(8).unwrap();
    assert_eq!(l.incoming_cpu().unwrap(), None);
    assert_eq!(getsockopt(&l, oracle::IncomingCpu).unwrap(), -1);
    // A queued connection does not change the listener's value.
    let c = tcp4();
    c.connect(&v4(Ipv4Addr::LOCALHOST, port_of(&l))).unwrap();
    assert_eq!(l.incoming_cpu().unwrap(), None);

    l.set_incoming_cpu(Some(1)).unwrap();
    assert_eq!(l.incoming_cpu().unwrap(), Some(1));
    assert_eq!(getsockopt(&l, oracle::IncomingCpu).unwrap(), 1);
    setsockopt(&l, oracle::IncomingCpu, &0).unwrap();
    assert_eq!(l.incoming_cpu().unwrap(), Some(0));
    l.set_incoming_cpu(None).unwrap();
    assert_eq!(getsockopt(&l, oracle::IncomingCpu).unwrap(), -1);
    // The kernel stores any CPU number: one that does not exist never
    // matches.
    l.set_incoming_cpu(Some(100_000)).unwrap();
    assert_eq!(getsockopt(&l, oracle::IncomingCpu).unwrap(), 100_000);
    assert_invalid_input(l.set_incoming_cpu(Some(u32::MAX)));
    assert_invalid_input(l.set_incoming_cpu(Some(i32::MAX as u32 + 1)));
    assert_eq!(l.incoming_cpu().unwrap(), Some(100_000));

    // A connected socket records the CPU that processed what it received:
    // on loopback, the sender's, one this process may run on.
    let (a, _) = l.accept().unwrap();
    c.send(b"x").unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(a.recv(&mut buf).unwrap(), 1);
    let cpu = a.incoming_cpu().unwrap().expect("a CPU recorded");
    let allowed = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).unwrap();
    assert!(allowed.is_set(cpu as usize).unwrap(), "CPU {cpu}");
}

#[test]
fn so_broadcast_gates_sends_to_the_loopback_broadcast_address() {
    let bcast = Ipv4Addr::new(127, 255, 255, 255);
    // The receiver is bound to the broadcast address itself, so it hears
    // only broadcasts, and only on lo.
    let r = udp4();
    r.bind(&v4(bcast, 0)).unwrap();
    let to = v4(bcast, port_of(&r));
    let (s, _) = bound_udp4();

    assert!(!s.broadcast().unwrap());
    assert!(!getsockopt(&s, sockopt::Broadcast).unwrap());
    expect_errno!(s.send_to(b"refused", &to), EACCES);

    s.set_broadcast(true).unwrap();
    assert!(s.broadcast().unwrap());
    assert!(getsockopt(&s, sockopt::Broadcast).unwrap());
    assert_eq!(s.send_to(b"bcast", &to).unwrap(), 5);
    assert_eq!(recv_dgram(&r, "broadcast"), "bcast");

    setsockopt(&s, sockopt::Broadcast, &false).unwrap();
    assert!(!s.broadcast().unwrap());
    expect_errno!(s.send_to(b"refused", &to), EACCES);
    assert_empty(&r, "after the refused sends");
}

#[test]
#[cfg_attr(qemu_user, ignore = "qemu-user: SO_BINDTODEVICE fails with EINVAL")]
fn so_bindtodevice_binds_to_lo_and_unbinds() {
    let (s, port) = bound_udp4();
    assert_eq!(s.device().unwrap(), None);
    assert_eq!(getsockopt(&s, sockopt::BindToDevice).unwrap(), "");

    s.bind_device(Some(b"lo")).unwrap();
    assert_eq!(s.device().unwrap().as_deref(), Some(&b"lo"[..]));
    assert_eq!(getsockopt(&s, sockopt::BindToDevice).unwrap(), "lo");
    // Still reachable over lo.
    let (c, _) = bound_udp4();
    c.send_to(b"via lo", &v4(Ipv4Addr::LOCALHOST, port))
        .unwrap();
    assert_eq!(recv_dgram(&s, "bound to lo"), "via lo");

    // Unbinding a bound socket needs CAP_NET_RAW (without it: EPERM, as
    // so_bindtodevice_rebinding_needs_cap_net_raw shows).
    if has_cap_net_raw() {
        s.bind_device(None).unwrap();
        assert_eq!(s.device().unwrap(), None);
        assert_eq!(getsockopt(&s, sockopt::BindToDevice).unwrap(), "");
    } else {
        expect_errno!(s.bind_device(None), EPERM);
    }

    // nix writes, we read.
    let t = udp4();
    setsockopt(&t, sockopt::BindToDevice, &"lo".into()).unwrap();
    assert_eq!(t.device().unwrap().as_deref(), Some(&b"lo"[..]));
}

#[test]
fn so_bindtodevice_refuses_bad_names() {
    let s = udp4();
    // IFNAMSIZ is 16 with the NUL: 16 bytes is one too many. Refused by
    // us, before the kernel could silently cut it to 15.
    assert_invalid_input(s.bind_device(Some(b"0123456789abcdef")));
    assert_invalid_input(s.bind_device(Some(b"l\0o")));
    // 15 bytes fit, but no interface has that name.
    expect_errno!(s.bind_device(Some(b"baresock-none-0")), ENODEV);
    assert_eq!(s.device().unwrap(), None);
}

#[test]
#[cfg_attr(qemu_user, ignore = "qemu-user: SO_BINDTODEVICE fails with EINVAL")]
fn so_bindtodevice_rebinding_needs_cap_net_raw() {
    if child_mode().as_deref() == Some("so_bindtodevice_rebinding_needs_cap_net_raw") {
        return rebind_without_cap_net_raw();
    }
    run_child("so_bindtodevice_rebinding_needs_cap_net_raw", &[]);
}

/// `CAP_NET_RAW` in linux/capability.h (libc does not export it).
const CAP_NET_RAW: u32 = 13;

/// Whether this thread has CAP_NET_RAW in its effective set.
fn has_cap_net_raw() -> bool {
    let status = fs::read_to_string("/proc/thread-self/status").expect("read status");
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).expect("hex CapEff"))
        .expect("CapEff line");
    cap_eff & (1 << CAP_NET_RAW) != 0
}

/// Child: drops root (if it is root), checks CAP_NET_RAW is gone, then
/// shows that binding an unbound socket is allowed and changing the
/// binding is EPERM.
fn rebind_without_cap_net_raw() {
    use nix::unistd::{Gid, Uid, setgid, setgroups, setuid};
    if nix::unistd::geteuid().is_root() {
        // Leaving uid 0 clears the capability sets.
        setgroups(&[]).expect("setgroups");
        setgid(Gid::from_raw(65534)).expect("setgid");
        setuid(Uid::from_raw(65534)).expect("setuid");
    }
    assert!(!has_cap_net_raw(), "this process still has CAP_NET_RAW");
    let s = udp4();
    // Binding an unbound socket needs no privilege (Linux 5.7 and later).
    s.bind_device(Some(b"lo")).unwrap();
    expect_errno!(s.bind_device(Some(b"lo")), EPERM);
    expect_errno!(s.bind_device(None), EPERM);
    assert_eq!(s.device().unwrap().as_deref(), Some(&b"lo"[..]));
}

// ---------------------------------------------------------------------------
// Errors common to every option (module docs of baresock::opt)
// ---------------------------------------------------------------------------

#[test]
fn an_option_of_another_level_is_refused_with_the_documented_errno() {
    // IPv4 sockets: getsockopt says EOPNOTSUPP, setsockopt ENOPROTOOPT.
    let u4 = udp4();
    expect_errno!(u4.nodelay(), EOPNOTSUPP);
    expect_errno!(u4.set_nodelay(true), ENOPROTOOPT);
    expect_errno!(u4.tcp_info(), EOPNOTSUPP);
    expect_errno!(u4.only_v6(), EOPNOTSUPP);
    expect_errno!(u4.set_only_v6(true), ENOPROTOOPT);
    expect_errno!(u4.set_multicast_hops_v6(1), ENOPROTOOPT);
    let t4 = tcp4();
    expect_errno!(t4.unicast_hops_v6(), EOPNOTSUPP);

    // IPv6 sockets: ENOPROTOOPT both ways.
    let u6 = udp6();
    expect_errno!(u6.nodelay(), ENOPROTOOPT);
    expect_errno!(u6.set_nodelay(true), ENOPROTOOPT);
    expect_errno!(u6.tcp_info(), ENOPROTOOPT);
    expect_errno!(u6.set_tcp_keepalive_count(3), ENOPROTOOPT);

    // Unix sockets know only SOL_SOCKET: EOPNOTSUPP both ways.
    let ux = sock(Domain::UNIX, Type::STREAM);
    expect_errno!(ux.nodelay(), EOPNOTSUPP);
    expect_errno!(ux.set_nodelay(true), EOPNOTSUPP);
    expect_errno!(ux.tcp_info(), EOPNOTSUPP);
    expect_errno!(ux.ttl(), EOPNOTSUPP);
    expect_errno!(ux.set_ttl(5), EOPNOTSUPP);
    expect_errno!(ux.only_v6(), EOPNOTSUPP);
}

// ---------------------------------------------------------------------------
// IPPROTO_IP
// ---------------------------------------------------------------------------

#[test]
fn ip_ttl_round_trips_and_reaches_the_receiver() {
    let (s, _) = bound_udp4();
    let default = read_proc_int("/proc/sys/net/ipv4/ip_default_ttl");
    assert_eq!(i64::from(s.ttl().unwrap()), default);

    s.set_ttl(42).unwrap();
    assert_eq!(s.ttl().unwrap(), 42);
    assert_eq!(getsockopt(&s, sockopt::Ipv4Ttl).unwrap(), 42);
    setsockopt(&s, sockopt::Ipv4Ttl, &17).unwrap();
    assert_eq!(s.ttl().unwrap(), 17);
    s.set_ttl(1).unwrap();
    s.set_ttl(255).unwrap();
    assert_eq!(s.ttl().unwrap(), 255);

    expect_errno!(s.set_ttl(0), EINVAL);
    expect_errno!(s.set_ttl(256), EINVAL);
    assert_invalid_input(s.set_ttl(u32::MAX));
    assert_eq!(s.ttl().unwrap(), 255, "failed sets change nothing");

    // The datagram leaves with that TTL; over lo nothing decrements it.
    let (r, port) = bound_udp4();
    setsockopt(&r, sockopt::Ipv4RecvTtl, &true).unwrap();
    s.set_ttl(7).unwrap();
    s.send_to(b"ttl", &v4(Ipv4Addr::LOCALHOST, port)).unwrap();
    assert_eq!(recv_with_hops(&r, "ttl 7"), ("ttl".to_string(), 7));
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: IP_MULTICAST_IF reads fail (ENOPROTOOPT) and ip_mreqn joins fail (ENODEV)"
)]
fn ip_multicast_options_round_trip() {
    let s = udp4();
    // IP_MULTICAST_IF
    assert_eq!(s.multicast_if_v4().unwrap(), Ipv4Addr::UNSPECIFIED);
    s.set_multicast_if_v4(Ipv4Addr::LOCALHOST).unwrap();
    assert_eq!(s.multicast_if_v4().unwrap(), Ipv4Addr::LOCALHOST);
    let a = getsockopt(&s, oracle::IpMulticastIf).unwrap();
    assert_eq!(Ipv4Addr::from(a.s_addr.to_ne_bytes()), Ipv4Addr::LOCALHOST);
    setsockopt(
        &s,
        oracle::IpMulticastIf,
        &libc::in_addr {
            s_addr: u32::from_ne_bytes([127, 0, 0, 2]),
        },
    )
    .unwrap();
    assert_eq!(s.multicast_if_v4().unwrap(), Ipv4Addr::new(127, 0, 0, 2));
    expect_errno!(s.set_multicast_if_v4(non_local_v4()), EADDRNOTAVAIL);
    // 0.0.0.0 returns to choosing by route.
    s.set_multicast_if_v4(Ipv4Addr::UNSPECIFIED).unwrap();
    assert_eq!(s.multicast_if_v4().unwrap(), Ipv4Addr::UNSPECIFIED);

    // IP_MULTICAST_TTL: default 1, 0..=255.
    assert_eq!(s.multicast_ttl_v4().unwrap(), 1);
    s.set_multicast_ttl_v4(0).unwrap();
    assert_eq!(s.multicast_ttl_v4().unwrap(), 0);
    assert_eq!(getsockopt(&s, sockopt::IpMulticastTtl).unwrap(), 0);
    s.set_multicast_ttl_v4(255).unwrap();
    assert_eq!(getsockopt(&s, sockopt::IpMulticastTtl).unwrap(), 255);
    setsockopt(&s, sockopt::IpMulticastTtl, &9).unwrap();
    assert_eq!(s.multicast_ttl_v4().unwrap(), 9);
    expect_errno!(s.set_multicast_ttl_v4(256), EINVAL);
    assert_invalid_input(s.set_multicast_ttl_v4(u32::MAX));

    // IP_MULTICAST_LOOP: default on.
    assert!(s.multicast_loop_v4().unwrap());
    s.set_multicast_loop_v4(false).unwrap();
    assert!(!s.multicast_loop_v4().unwrap());
    assert!(!getsockopt(&s, sockopt::IpMulticastLoop).unwrap());
    setsockopt(&s, sockopt::IpMulticastLoop, &true).unwrap();
    assert!(s.multicast_loop_v4().unwrap());

    // TCP has no multicast: IP_MULTICAST_IF and _TTL are EINVAL there.
    let t = tcp4();
    expect_errno!(t.set_multicast_if_v4(Ipv4Addr::LOCALHOST), EINVAL);
    expect_errno!(t.set_multicast_ttl_v4(1), EINVAL);
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: IP_MULTICAST_IF reads fail (ENOPROTOOPT) and ip_mreqn joins fail (ENODEV)"
)]
fn ip_multicast_join_and_leave_errors() {
    let g = group_v4(0);
    let lo = Ipv4Addr::LOCALHOST;
    let s = udp4();

    expect_errno!(s.join_multicast_v4(Ipv4Addr::new(127, 0, 0, 9), lo), EINVAL);
    expect_errno!(s.join_multicast_v4(g, non_local_v4()), ENODEV);
    expect_errno!(s.leave_multicast_v4(g, lo), EADDRNOTAVAIL);
    // Leaving a non-multicast address is not EINVAL: the kernel just
    // finds no such membership.
    expect_errno!(
        s.leave_multicast_v4(Ipv4Addr::new(127, 0, 0, 9), lo),
        EADDRNOTAVAIL
    );

    s.join_multicast_v4(g, lo).unwrap();
    assert!(igmp_groups("lo").contains(&g), "lo joined {g}");
    expect_errno!(s.join_multicast_v4(g, lo), EADDRINUSE);
    // nix's join of the same (group, interface) is the same membership.
    assert_eq!(
        setsockopt(
            &s,
            sockopt::IpAddMembership,
            &IpMembershipRequest::new(g, Some(lo))
        ),
        Err(Errno::EADDRINUSE)
    );
    s.leave_multicast_v4(g, lo).unwrap();
    assert!(!igmp_groups("lo").contains(&g), "lo left {g}");
    expect_errno!(s.leave_multicast_v4(g, lo), EADDRNOTAVAIL);

    // nix joins, we leave: the two encodings name the same membership.
    setsockopt(
        &s,
        sockopt::IpAddMembership,
        &IpMembershipRequest::new(g, Some(lo)),
    )
    .unwrap();
    assert!(igmp_groups("lo").contains(&g));
    s.leave_multicast_v4(g, lo).unwrap();
    assert!(!igmp_groups("lo").contains(&g));

    // TCP sockets cannot join: EPROTO.
    let t = tcp4();
    expect_errno!(t.join_multicast_v4(g, lo), EPROTO);
    expect_errno!(t.leave_multicast_v4(g, lo), EPROTO);
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: IP_MULTICAST_IF reads fail (ENOPROTOOPT) and ip_mreqn joins fail (ENODEV)"
)]
fn ip_multicast_join_beyond_igmp_max_memberships_is_enobufs() {
    let max = read_proc_int("/proc/sys/net/ipv4/igmp_max_memberships");
    assert!(
        (0..=1024).contains(&max),
        "igmp_max_memberships = {max}: too many joins for a test"
    );
    let max = max as u32;
    let pid = process::id();
    let group = |i: u32| Ipv4Addr::new(239, 210 + (i >> 8) as u8, pid as u8, i as u8);
    let s = udp4();
    for i in 0..max {
        s.join_multicast_v4(group(i), Ipv4Addr::LOCALHOST)
            .unwrap_or_else(|e| panic!("join #{i} of {max}: {e}"));
    }
    expect_errno!(
        s.join_multicast_v4(group(max), Ipv4Addr::LOCALHOST),
        ENOBUFS
    );
    // Closing the socket drops its memberships.
    drop(s);
    assert!(!igmp_groups("lo").contains(&group(0)));
}

/// A UDP receiver for `group` on lo: bound to the group address itself
/// (so it hears nothing but that group) and joined on 127.0.0.1.
fn lo_member(group: Ipv4Addr, port: u16) -> OwnedSocket {
    let r = udp4();
    r.set_reuse_address(true).unwrap();
    r.bind(&v4(group, port)).unwrap();
    r.join_multicast_v4(group, Ipv4Addr::LOCALHOST).unwrap();
    r
}

/// A sender whose multicast goes out through lo (127.0.0.1 named, never
/// "any").
fn lo_sender(ttl: u32) -> OwnedSocket {
    let (s, _) = bound_udp4();
    s.set_multicast_if_v4(Ipv4Addr::LOCALHOST).unwrap();
    s.set_multicast_ttl_v4(ttl).unwrap();
    s
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: IP_MULTICAST_IF reads fail (ENOPROTOOPT) and ip_mreqn joins fail (ENODEV)"
)]
fn ip_multicast_on_lo_delivers_to_members_and_stops_after_leave() {
    let g = group_v4(1);
    let r = lo_member(g, 0);
    let port = port_of(&r);
    let to = v4(g, port);
    setsockopt(&r, sockopt::Ipv4RecvTtl, &true).unwrap();

    // TTL 0 ("this host") and TTL 1 ("this link") both arrive; the
    // receiver sees the TTL it was sent with and lo's address as source.
    for ttl in [0, 1] {
        let s = lo_sender(ttl);
        let msg = format!("ttl {ttl}");
        s.send_to(msg.as_bytes(), &to).unwrap();
        assert_eq!(recv_with_hops(&r, &msg), (msg.clone(), ttl as i32));
    }
    let s = lo_sender(1);
    s.send_to(b"from", &to).unwrap();
    let mut buf = [0u8; 8];
    wait_readable(&r, "source address");
    let (n, from) = r.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"from");
    assert_eq!(
        from.as_socket(),
        Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port_of(&s))))
    );

    // Leaving: a second member `k` keeps lo in the group, so the
    // datagram is still accepted by IP; `r`, with IP_MULTICAST_ALL off,
    // must no longer get it, and `k` receiving it proves it was
    // delivered (to members only) before we look at `r`.
    let k = lo_member(g, port);
    setsockopt(&r, oracle::IpMulticastAll, &false).unwrap();
    r.leave_multicast_v4(g, Ipv4Addr::LOCALHOST).unwrap();
    assert!(igmp_groups("lo").contains(&g), "k is still a member");
    s.send_to(b"after leave", &to).unwrap();
    assert_eq!(recv_dgram(&k, "k after r left"), "after leave");
    assert_empty(&r, "r after it left");

    k.leave_multicast_v4(g, Ipv4Addr::LOCALHOST).unwrap();
    assert!(!igmp_groups("lo").contains(&g), "nobody is a member");
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: IP_MULTICAST_IF reads fail (ENOPROTOOPT) and ip_mreqn joins fail (ENODEV)"
)]
fn ip_multicast_loop_off_does_not_stop_delivery_through_lo() {
    // lo is not a multicast device (no IFF_MULTICAST on most hosts;
    // checked either way by the namespace test): a datagram sent out
    // through lo comes back in through lo itself, as any packet to lo
    // does, so local members receive it whatever IP_MULTICAST_LOOP says.
    // The loop option only governs the copy the kernel makes for a real
    // interface (shown over veth in multicast_in_a_network_namespace).
    let g = group_v4(2);
    let r = lo_member(g, 0);
    let to = v4(g, port_of(&r));
    for (ttl, on) in [(0, false), (1, false), (1, true)] {
        let s = lo_sender(ttl);
        s.set_multicast_loop_v4(on).unwrap();
        assert_eq!(s.multicast_loop_v4().unwrap(), on);
        let msg = format!("ttl {ttl} loop {on}");
        s.send_to(msg.as_bytes(), &to).unwrap();
        assert_eq!(recv_dgram(&r, &msg), msg);
    }
}

// ---------------------------------------------------------------------------
// IPPROTO_IPV6
// ---------------------------------------------------------------------------

#[test]
fn ipv6_v6only_round_trips_and_gates_v4_mapped_addresses() {
    let s = udp6();
    let default = read_proc_int("/proc/sys/net/ipv6/bindv6only");
    assert_eq!(s.only_v6().unwrap(), default != 0);
    s.set_only_v6(true).unwrap();
    assert!(s.only_v6().unwrap());
    assert!(getsockopt(&s, sockopt::Ipv6V6Only).unwrap());
    // An IPv6-only socket cannot take an IPv4-mapped address.
    let mapped = Ipv4Addr::LOCALHOST.to_ipv6_mapped();
    expect_errno!(s.bind(&v6(mapped, 0)), EINVAL);

    setsockopt(&s, sockopt::Ipv6V6Only, &false).unwrap();
    assert!(!s.only_v6().unwrap());
    // Dual-stack: bound to ::ffff:127.0.0.1, it receives from IPv4.
    s.bind(&v6(mapped, 0)).unwrap();
    let (c, _) = bound_udp4();
    c.send_to(b"v4 to v6", &v4(Ipv4Addr::LOCALHOST, port_of(&s)))
        .unwrap();
    assert_eq!(recv_dgram(&s, "v4-mapped"), "v4 to v6");

    // Too late once bound.
    expect_errno!(s.set_only_v6(true), EINVAL);
}

#[test]
fn ipv6_unicast_hops_round_trip_and_reach_the_receiver() {
    let s = udp6();
    s.bind(&v6(Ipv6Addr::LOCALHOST, 0)).unwrap();
    let default = read_proc_int("/proc/sys/net/ipv6/conf/all/hop_limit");
    assert_eq!(i64::from(s.unicast_hops_v6().unwrap()), default);

    s.set_unicast_hops_v6(42).unwrap();
    assert_eq!(s.unicast_hops_v6().unwrap(), 42);
    assert_eq!(getsockopt(&s, sockopt::Ipv6Ttl).unwrap(), 42);
    setsockopt(&s, sockopt::Ipv6Ttl, &18).unwrap();
    assert_eq!(s.unicast_hops_v6().unwrap(), 18);
    // Unlike IP_TTL, a hop limit of 0 is accepted.
    s.set_unicast_hops_v6(0).unwrap();
    assert_eq!(s.unicast_hops_v6().unwrap(), 0);
    s.set_unicast_hops_v6(255).unwrap();
    expect_errno!(s.set_unicast_hops_v6(256), EINVAL);
    assert_invalid_input(s.set_unicast_hops_v6(u32::MAX));

    let r = udp6();
    r.bind(&v6(Ipv6Addr::LOCALHOST, 0)).unwrap();
    setsockopt(&r, sockopt::Ipv6RecvHopLimit, &true).unwrap();
    s.set_unicast_hops_v6(9).unwrap();
    s.send_to(b"hops", &v6(Ipv6Addr::LOCALHOST, port_of(&r)))
        .unwrap();
    assert_eq!(recv_with_hops(&r, "hops 9"), ("hops".to_string(), 9));
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: IP_MULTICAST_IF reads fail (ENOPROTOOPT) and ip_mreqn joins fail (ENODEV)"
)]
fn ipv6_multicast_options_round_trip_without_joining() {
    let s = udp6();
    assert_eq!(s.multicast_hops_v6().unwrap(), 1);
    s.set_multicast_hops_v6(0).unwrap();
    assert_eq!(s.multicast_hops_v6().unwrap(), 0);
    s.set_multicast_hops_v6(200).unwrap();
    assert_eq!(getsockopt(&s, sockopt::Ipv6MulticastHops).unwrap(), 200);
    setsockopt(&s, sockopt::Ipv6MulticastHops, &3).unwrap();
    assert_eq!(s.multicast_hops_v6().unwrap(), 3);
    expect_errno!(s.set_multicast_hops_v6(256), EINVAL);
    assert_invalid_input(s.set_multicast_hops_v6(u32::MAX));

    assert!(s.multicast_loop_v6().unwrap());
    s.set_multicast_loop_v6(false).unwrap();
    assert!(!s.multicast_loop_v6().unwrap());
    assert!(!getsockopt(&s, oracle::Ipv6MulticastLoop).unwrap());
    setsockopt(&s, oracle::Ipv6MulticastLoop, &true).unwrap();
    assert!(s.multicast_loop_v6().unwrap());

    assert_eq!(s.multicast_if_v6().unwrap(), 0);
    assert_eq!(getsockopt(&s, oracle::Ipv6MulticastIf).unwrap(), 0);
    expect_errno!(s.set_multicast_if_v6(unused_ifindex()), ENODEV);
    assert_invalid_input(s.set_multicast_if_v6(u32::MAX));

    // TCP: no multicast hops or interface (ENOPROTOOPT), though the loop
    // flag is accepted and reading the hops works.
    let t = tcp6();
    expect_errno!(t.set_multicast_hops_v6(1), ENOPROTOOPT);
    expect_errno!(t.set_multicast_if_v6(1), ENOPROTOOPT);
    assert_eq!(t.multicast_hops_v6().unwrap(), 1);
}

/// An interface index no interface has: one past the largest in use.
fn unused_ifindex() -> u32 {
    let names = nix::net::if_::if_nameindex().expect("if_nameindex");
    names.iter().map(|i| i.index()).max().unwrap_or(0) + 1
}

#[test]
fn ipv6_multicast_join_and_leave_errors_that_join_nothing() {
    // Each of these fails before any membership exists, so no MLD report
    // is sent; real joins happen only in the namespace test.
    let s = udp6();
    let group: Ipv6Addr = "ff15::b5:99".parse().unwrap();
    let unicast: Ipv6Addr = "2001:db8::1".parse().unwrap();
    expect_errno!(s.join_multicast_v6(unicast, 1), EINVAL);
    expect_errno!(s.leave_multicast_v6(unicast, 1), EINVAL);
    expect_errno!(s.join_multicast_v6(group, unused_ifindex()), ENODEV);
    expect_errno!(s.leave_multicast_v6(group, 1), EADDRNOTAVAIL);
    let t = tcp6();
    expect_errno!(t.join_multicast_v6(group, 1), EPROTO);
    expect_errno!(t.leave_multicast_v6(group, 1), EPROTO);
}

// ---------------------------------------------------------------------------
// IPPROTO_TCP
// ---------------------------------------------------------------------------

#[test]
fn tcp_nodelay_round_trips() {
    let s = tcp4();
    assert!(!s.nodelay().unwrap());
    s.set_nodelay(true).unwrap();
    assert!(s.nodelay().unwrap());
    assert!(getsockopt(&s, sockopt::TcpNoDelay).unwrap());
    setsockopt(&s, sockopt::TcpNoDelay, &false).unwrap();
    assert!(!s.nodelay().unwrap());
    // Same on IPv6 and on a connected socket.
    let (c, _a, _l) = tcp_pair();
    c.set_nodelay(true).unwrap();
    assert!(getsockopt(&c, sockopt::TcpNoDelay).unwrap());
    let s6 = tcp6();
    s6.set_nodelay(true).unwrap();
    assert!(s6.nodelay().unwrap());
}

#[test]
fn tcp_keepalive_idle_interval_count_round_trip() {
    let s = tcp4();
    assert_eq!(
        s.tcp_keepalive_idle().unwrap().as_secs() as i64,
        read_proc_int("/proc/sys/net/ipv4/tcp_keepalive_time")
    );
    assert_eq!(
        s.tcp_keepalive_interval().unwrap().as_secs() as i64,
        read_proc_int("/proc/sys/net/ipv4/tcp_keepalive_intvl")
    );
    assert_eq!(
        i64::from(s.tcp_keepalive_count().unwrap()),
        read_proc_int("/proc/sys/net/ipv4/tcp_keepalive_probes")
    );

    s.set_keepalive(true).unwrap();
    s.set_tcp_keepalive_idle(Duration::from_secs(30)).unwrap();
    s.set_tcp_keepalive_interval(Duration::from_secs(5))
        .unwrap();
    s.set_tcp_keepalive_count(4).unwrap();
    assert_eq!(s.tcp_keepalive_idle().unwrap(), Duration::from_secs(30));
    assert_eq!(s.tcp_keepalive_interval().unwrap(), Duration::from_secs(5));
    assert_eq!(s.tcp_keepalive_count().unwrap(), 4);
    assert_eq!(getsockopt(&s, sockopt::TcpKeepIdle).unwrap(), 30);
    assert_eq!(getsockopt(&s, sockopt::TcpKeepInterval).unwrap(), 5);
    assert_eq!(getsockopt(&s, sockopt::TcpKeepCount).unwrap(), 4);

    setsockopt(&s, sockopt::TcpKeepIdle, &61).unwrap();
    setsockopt(&s, sockopt::TcpKeepInterval, &7).unwrap();
    setsockopt(&s, sockopt::TcpKeepCount, &9).unwrap();
    assert_eq!(s.tcp_keepalive_idle().unwrap(), Duration::from_secs(61));
    assert_eq!(s.tcp_keepalive_interval().unwrap(), Duration::from_secs(7));
    assert_eq!(s.tcp_keepalive_count().unwrap(), 9);

    // Whole seconds, rounded up: half a second is one, not zero.
    s.set_tcp_keepalive_idle(Duration::from_millis(500))
        .unwrap();
    assert_eq!(s.tcp_keepalive_idle().unwrap(), Duration::from_secs(1));
    s.set_tcp_keepalive_interval(Duration::from_millis(1001))
        .unwrap();
    assert_eq!(s.tcp_keepalive_interval().unwrap(), Duration::from_secs(2));

    // Kernel ranges: 1..=32767 s, 1..=127 probes.
    s.set_tcp_keepalive_idle(Duration::from_secs(32767))
        .unwrap();
    s.set_tcp_keepalive_interval(Duration::from_secs(32767))
        .unwrap();
    s.set_tcp_keepalive_count(127).unwrap();
    expect_errno!(s.set_tcp_keepalive_idle(Duration::ZERO), EINVAL);
    expect_errno!(s.set_tcp_keepalive_idle(Duration::from_secs(32768)), EINVAL);
    expect_errno!(s.set_tcp_keepalive_interval(Duration::ZERO), EINVAL);
    expect_errno!(
        s.set_tcp_keepalive_interval(Duration::from_secs(32768)),
        EINVAL
    );
    expect_errno!(s.set_tcp_keepalive_count(0), EINVAL);
    expect_errno!(s.set_tcp_keepalive_count(128), EINVAL);
    assert_invalid_input(s.set_tcp_keepalive_count(u32::MAX));
    assert_invalid_input(s.set_tcp_keepalive_idle(Duration::MAX));
    assert_invalid_input(s.set_tcp_keepalive_interval(Duration::MAX));
}

#[test]
fn tcp_user_timeout_round_trips_in_milliseconds() {
    let s = tcp4();
    assert_eq!(s.tcp_user_timeout().unwrap(), None);
    s.set_tcp_user_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    assert_eq!(
        s.tcp_user_timeout().unwrap(),
        Some(Duration::from_millis(1500))
    );
    assert_eq!(getsockopt(&s, sockopt::TcpUserTimeout).unwrap(), 1500);
    // Rounded up to the next millisecond.
    s.set_tcp_user_timeout(Some(Duration::from_micros(1001)))
        .unwrap();
    assert_eq!(getsockopt(&s, sockopt::TcpUserTimeout).unwrap(), 2);
    s.set_tcp_user_timeout(Some(Duration::from_nanos(1)))
        .unwrap();
    assert_eq!(getsockopt(&s, sockopt::TcpUserTimeout).unwrap(), 1);

    setsockopt(&s, sockopt::TcpUserTimeout, &250).unwrap();
    assert_eq!(
        s.tcp_user_timeout().unwrap(),
        Some(Duration::from_millis(250))
    );
    s.set_tcp_user_timeout(None).unwrap();
    assert_eq!(s.tcp_user_timeout().unwrap(), None);
    assert_eq!(getsockopt(&s, sockopt::TcpUserTimeout).unwrap(), 0);

    let max = Duration::from_millis(i32::MAX as u64);
    s.set_tcp_user_timeout(Some(max)).unwrap();
    assert_eq!(s.tcp_user_timeout().unwrap(), Some(max));
    assert_invalid_input(s.set_tcp_user_timeout(Some(max + Duration::from_millis(1))));
    assert_invalid_input(s.set_tcp_user_timeout(Some(Duration::MAX)));
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: getsockopt(TCP_INFO) writes 4 bytes, which tcp_info refuses"
)]
fn tcp_info_reports_the_connection_state() {
    // Not yet connected: CLOSE.
    let s = tcp4();
    assert_eq!(s.tcp_info().unwrap().state, TcpInfo::CLOSE);

    let (c, a, l) = tcp_pair();
    let li = l.tcp_info().unwrap();
    assert_eq!(li.state, TcpInfo::LISTEN);
    assert_eq!(
        getsockopt(&l, oracle::TcpInfo).unwrap().tcpi_state,
        TcpInfo::LISTEN
    );

    for s in [&c, &a] {
        let i = s.tcp_info().unwrap();
        let n = getsockopt(s, oracle::TcpInfo).unwrap();
        assert_eq!(i.state, TcpInfo::ESTABLISHED);
        assert_eq!(n.tcpi_state, TcpInfo::ESTABLISHED);
        assert_eq!(i.snd_mss, n.tcpi_snd_mss);
        assert_eq!(i.rcv_mss, n.tcpi_rcv_mss);
        assert_eq!(i.pmtu, n.tcpi_pmtu);
        // IPv4 caps the path MTU at 65,535 even over lo's 65,536.
        let lo_mtu = read_proc_int("/sys/class/net/lo/mtu");
        assert_eq!(i64::from(i.pmtu), lo_mtu.min(65_535), "{i:?}");
        assert!(i.snd_mss > 0 && i.snd_cwnd > 0, "{i:?}");
    }

    // Some traffic both ways gives the client round-trip samples. The
    // receive timeouts only bound the test if something goes wrong.
    for s in [&c, &a] {
        s.set_read_timeout(Some(HANG_GUARD)).unwrap();
    }
    let mut buf = [0u8; 64];
    for _ in 0..20 {
        c.send(b"ping").unwrap();
        assert_eq!(a.recv(&mut buf).unwrap(), 4);
        a.send(b"pong").unwrap();
        assert_eq!(c.recv(&mut buf).unwrap(), 4);
    }
    let i = c.tcp_info().unwrap();
    assert!(i.rtt > Duration::ZERO, "no RTT after 20 round trips: {i:?}");
    assert!(i.rto > Duration::ZERO, "{i:?}");
    assert_eq!(i.unacked, 0, "the pong acknowledged every ping: {i:?}");

    // The peer closes: this end reads end of stream and is in CLOSE_WAIT.
    a.close().unwrap();
    assert_eq!(c.recv(&mut buf).unwrap(), 0);
    assert_eq!(c.tcp_info().unwrap().state, TcpInfo::CLOSE_WAIT);
}

// ---------------------------------------------------------------------------
// Multicast in a network namespace (root)
// ---------------------------------------------------------------------------

/// Where this thread's network namespace is, e.g. `net:[4026531840]`.
fn netns() -> String {
    fs::read_link("/proc/thread-self/ns/net")
        .expect("read /proc/thread-self/ns/net")
        .to_string_lossy()
        .into_owned()
}

/// Runs iproute2's `ip` (from this thread, so in its namespace).
#[track_caller]
fn ip_cmd(args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run iproute2's `ip`: {e}"));
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const NETNS_PARENT_ENV: &str = "BARESOCK_OPT_PARENT_NETNS";

#[test]
#[ignore = "needs root: makes a network namespace with a veth pair (iproute2 `ip`)"]
fn multicast_in_a_network_namespace() {
    if child_mode().as_deref() == Some("multicast_in_a_network_namespace") {
        return netns_child();
    }
    run_child(
        "multicast_in_a_network_namespace",
        &[(NETNS_PARENT_ENV, netns())],
    );
}

const VA: &str = "bsa";
const VB: &str = "bsb";
const VA4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const VB4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const VA6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xb5, 0, 0, 0, 0, 1);
const VB6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xb5, 0, 0, 0, 0, 2);

/// Child: enters a new network namespace on this thread (the only thread
/// that does anything in this process), checks it really is a new one
/// before touching anything, and builds veth pair `bsa`—`bsb` inside it.
fn netns_child() {
    let parent = env::var(NETNS_PARENT_ENV).expect("parent's namespace");
    let before = netns();
    assert_eq!(before, parent, "the child must start where its parent is");
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .expect("unshare(CLONE_NEWNET) (needs CAP_SYS_ADMIN)");
    let after = netns();
    assert_ne!(
        after, before,
        "unshare left this thread in the host's network namespace; stopping before touching it"
    );
    // Programs started from this thread land in the new namespace too.
    let out = Command::new("readlink")
        .arg("/proc/self/ns/net")
        .output()
        .expect("readlink");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), after);

    ip_cmd(&["link", "set", "lo", "up"]);
    ip_cmd(&["link", "add", VA, "type", "veth", "peer", "name", VB]);
    for (dev, a4, a6) in [(VA, VA4, VA6), (VB, VB4, VB6)] {
        ip_cmd(&["addr", "add", &format!("{a4}/24"), "dev", dev]);
        ip_cmd(&[
            "-6",
            "addr",
            "add",
            &format!("{a6}/64"),
            "dev",
            dev,
            "nodad",
        ]);
        ip_cmd(&["link", "set", dev, "up"]);
    }
    // Both ends see each other's IPv4 address as local (one host): let
    // bsb accept datagrams from a local source, as a second host would.
    fs::write("/proc/sys/net/ipv4/conf/all/rp_filter", "0").unwrap();
    fs::write(format!("/proc/sys/net/ipv4/conf/{VB}/rp_filter"), "0").unwrap();
    fs::write(format!("/proc/sys/net/ipv4/conf/{VB}/accept_local"), "1").unwrap();
    // Wait (bounded) for both links to be up with their IPv6 multicast
    // routes in place.
    let mut ready = false;
    for _ in 0..100 {
        let routes = ip_cmd(&["-6", "route", "show", "table", "local"]);
        ready = [VA, VB].iter().all(|d| {
            ip_cmd(&["-o", "link", "show", d]).contains("state UP")
                && routes.contains(&format!("ff00::/8 dev {d} "))
        });
        if ready {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    assert!(ready, "veth pair not ready after 5 s");

    let ia = nix::net::if_::if_nametoindex(VA).expect("bsa in this namespace");
    let ib = nix::net::if_::if_nametoindex(VB).expect("bsb in this namespace");
    for group in ["ff15::b5:1", "ff02::b5:2"] {
        multicast_v6_over_veth(group.parse().unwrap(), ia, ib);
    }
    multicast_v4_over_veth();
    multicast_v4_on_lo_with_and_without_the_multicast_flag();
}

/// The IPv6 groups interface `ifindex` is a member of
/// (`/proc/<thread>/net/igmp6`).
fn igmp6_groups(ifindex: u32) -> Vec<Ipv6Addr> {
    let text = read_proc_table("/proc/thread-self/net/igmp6");
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let idx: u32 = f.next()?.parse().ok()?;
            let hex = f.nth(1)?;
            (idx == ifindex).then(|| Ipv6Addr::from(u128::from_str_radix(hex, 16).unwrap()))
        })
        .collect()
}

/// An IPv6 receiver bound to `[::]:port` (inside the namespace) and to
/// the device `dev`, so it hears only what arrives on that end.
fn v6_member(dev: &str, port: u16) -> OwnedSocket {
    let r = udp6();
    r.set_reuse_address(true).unwrap();
    r.bind_device(Some(dev.as_bytes())).unwrap();
    r.bind(&v6(Ipv6Addr::UNSPECIFIED, port)).unwrap();
    setsockopt(&r, sockopt::Ipv6RecvHopLimit, &true).unwrap();
    r
}

fn multicast_v6_over_veth(group: Ipv6Addr, ia: u32, ib: u32) {
    // ra listens on the sending end (it can only get the kernel's loop
    // copy); rb on the far end (it gets what crossed the wire).
    let ra = v6_member(VA, 0);
    let port = port_of(&ra);
    let rb = v6_member(VB, port);
    ra.join_multicast_v6(group, ia).unwrap();
    rb.join_multicast_v6(group, ib).unwrap();
    assert!(igmp6_groups(ia).contains(&group), "{VA} joined {group}");
    assert!(igmp6_groups(ib).contains(&group), "{VB} joined {group}");
    expect_errno!(rb.join_multicast_v6(group, ib), EADDRINUSE);
    // With index 0, a membership on any interface counts.
    expect_errno!(rb.join_multicast_v6(group, 0), EADDRINUSE);

    let s = udp6();
    s.bind(&v6(VA6, 0)).unwrap();
    s.set_multicast_if_v6(ia).unwrap();
    assert_eq!(s.multicast_if_v6().unwrap(), ia);
    assert_eq!(getsockopt(&s, oracle::Ipv6MulticastIf).unwrap(), ia as i32);
    setsockopt(&s, oracle::Ipv6MulticastIf, &(ib as i32)).unwrap();
    assert_eq!(s.multicast_if_v6().unwrap(), ib);
    s.set_multicast_if_v6(ia).unwrap();
    let to = SockAddr::from(SocketAddrV6::new(group, port, 0, 0));

    // (hops, loop). Loop decides whether this host's member on the
    // sending interface (ra) gets a copy; hops >= 1 crosses the link to
    // rb. Hops 0 is Linux's odd case: the datagram is dropped only when a
    // loop copy was made, else it goes on the link with hop limit 0.
    let sends = [(1, false), (5, true), (0, false), (0, true), (1, true)];
    for (hops, on) in sends {
        s.set_multicast_hops_v6(hops).unwrap();
        s.set_multicast_loop_v6(on).unwrap();
        assert_eq!(s.multicast_hops_v6().unwrap(), hops);
        assert_eq!(
            getsockopt(&s, sockopt::Ipv6MulticastHops).unwrap(),
            hops as i32
        );
        assert_eq!(getsockopt(&s, oracle::Ipv6MulticastLoop).unwrap(), on);
        s.send_to(format!("hops {hops} loop {on}").as_bytes(), &to)
            .unwrap();
    }
    // Each receiver's datagrams, in order; the last send reaches both, so
    // anything missing from a list arrived nowhere.
    let expect = |list: &[(u32, bool)]| -> Vec<(String, i32)> {
        list.iter()
            .map(|&(h, on)| (format!("hops {h} loop {on}"), h as i32))
            .collect()
    };
    for (r, name, want) in [
        (
            &rb,
            VB,
            expect(&[(1, false), (5, true), (0, false), (1, true)]),
        ),
        (&ra, VA, expect(&[(5, true), (0, true), (1, true)])),
    ] {
        let got: Vec<_> = (0..want.len())
            .map(|i| recv_with_hops(r, &format!("{group} on {name} #{i}")))
            .collect();
        assert_eq!(got, want, "{group} on {name}");
        assert_empty(r, name);
    }

    // A socket bound to one device cannot send multicast through another.
    let t = udp6();
    t.bind_device(Some(VB.as_bytes())).unwrap();
    expect_errno!(t.set_multicast_if_v6(ia), EINVAL);
    t.set_multicast_if_v6(ib).unwrap();

    // Leave: ra's membership goes, rb's stays.
    ra.leave_multicast_v6(group, ia).unwrap();
    assert!(!igmp6_groups(ia).contains(&group), "{VA} left {group}");
    assert!(igmp6_groups(ib).contains(&group));
    expect_errno!(ra.leave_multicast_v6(group, ia), EADDRNOTAVAIL);
    rb.leave_multicast_v6(group, ib).unwrap();
    assert!(!igmp6_groups(ib).contains(&group), "{VB} left {group}");
}

fn v4_member(dev: &str, group: Ipv4Addr, port: u16, ifaddr: Ipv4Addr) -> OwnedSocket {
    let r = udp4();
    r.set_reuse_address(true).unwrap();
    r.bind_device(Some(dev.as_bytes())).unwrap();
    r.bind(&v4(group, port)).unwrap();
    r.join_multicast_v4(group, ifaddr).unwrap();
    setsockopt(&r, sockopt::Ipv4RecvTtl, &true).unwrap();
    r
}

fn multicast_v4_over_veth() {
    let g = Ipv4Addr::new(239, 181, 0, 1);
    let ra = v4_member(VA, g, 0, VA4);
    let port = port_of(&ra);
    let rb = v4_member(VB, g, port, VB4);
    assert!(igmp_groups(VA).contains(&g));
    assert!(igmp_groups(VB).contains(&g));

    let s = udp4();
    s.bind(&v4(VA4, 0)).unwrap();
    s.set_multicast_if_v4(VA4).unwrap();
    assert_eq!(s.multicast_if_v4().unwrap(), VA4);
    let to = v4(g, port);
    // (ttl, loop): TTL 0 never leaves the host, TTL >= 1 crosses the
    // link; loop decides whether this host's members on the sending
    // interface get a copy.
    for (ttl, on) in [(0, false), (1, false), (0, true), (3, true)] {
        s.set_multicast_ttl_v4(ttl).unwrap();
        s.set_multicast_loop_v4(on).unwrap();
        s.send_to(format!("ttl {ttl} loop {on}").as_bytes(), &to)
            .unwrap();
    }
    assert_eq!(
        recv_with_hops(&rb, "rb 1"),
        ("ttl 1 loop false".to_string(), 1)
    );
    assert_eq!(
        recv_with_hops(&rb, "rb 2"),
        ("ttl 3 loop true".to_string(), 3)
    );
    assert_eq!(recv_with_hops(&ra, "ra 1").0, "ttl 0 loop true");
    assert_eq!(recv_with_hops(&ra, "ra 2").0, "ttl 3 loop true");
    assert_empty(&ra, "ra");
    assert_empty(&rb, "rb");

    // A socket bound to one device cannot send multicast through another.
    let t = udp4();
    t.bind_device(Some(VB.as_bytes())).unwrap();
    expect_errno!(t.set_multicast_if_v4(VA4), EINVAL);
    t.set_multicast_if_v4(VB4).unwrap();

    ra.leave_multicast_v4(g, VA4).unwrap();
    rb.leave_multicast_v4(g, VB4).unwrap();
    assert!(!igmp_groups(VA).contains(&g));
    assert!(!igmp_groups(VB).contains(&g));
}

/// lo delivers multicast back to local members whatever IP_MULTICAST_LOOP
/// says, with or without the MULTICAST flag on the device: the packet goes
/// out through lo and comes back in, as any packet to lo does.
fn multicast_v4_on_lo_with_and_without_the_multicast_flag() {
    let g = Ipv4Addr::new(239, 181, 0, 2);
    for flag in ["off", "on"] {
        ip_cmd(&["link", "set", "lo", "multicast", flag]);
        let shown = ip_cmd(&["-o", "link", "show", "lo"]);
        assert_eq!(shown.contains("MULTICAST"), flag == "on", "{shown}");
        let r = lo_member(g, 0);
        let to = v4(g, port_of(&r));
        for on in [false, true] {
            let s = lo_sender(0);
            s.set_multicast_loop_v4(on).unwrap();
            let msg = format!("lo multicast {flag} loop {on}");
            s.send_to(msg.as_bytes(), &to).unwrap();
            assert_eq!(recv_dgram(&r, &msg), msg);
        }
        r.leave_multicast_v4(g, Ipv4Addr::LOCALHOST).unwrap();
    }
}
