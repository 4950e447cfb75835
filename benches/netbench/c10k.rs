//! Many connections, two processes: a server (ours on epoll, or the
//! floor's epoll loop) echoes 1-byte messages; a client (the floor's epoll
//! loop, the same for every server) opens `conns` connections, in batches
//! the listen backlog takes, and keeps one message in flight on each of the
//! first `active` ones for `ms` milliseconds. The client reports echoes per
//! second; the server reports its own costs per echo between the `mark`
//! and `end` commands the parent writes to its stdin.
//!
//! Protocol with the parent (one line each): the server prints
//! `port N`; the client prints `established` once every connection has
//! been echoed once, and waits for `go` on stdin; the parent writes `mark`
//! to the server (answer `marked`), `go` to the client (answer: its
//! RESULT line), `end` to the server (answer: its RESULT line), then
//! closes the client's stdin (the client exits, resetting every
//! connection: SO_LINGER 0, so no TIME_WAIT is left behind).

use crate::floor;
use crate::harness::{Out, Params, check, print_result, raise_nofile, syscalls};
use baresock::poll::{Epoll, Events, Interest, Poller, Token};
use baresock::{Domain, OwnedSocket, Protocol, SockAddr, Type};
use std::io::{ErrorKind, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, BorrowedFd, IntoRawFd, RawFd};
use std::time::{Duration, Instant};

pub const SERVERS: [&str; 2] = ["floor-epoll", "ours-epoll"];
/// (connections, active): the baseline with no idle connection first.
pub const CELLS: [(u64, u64); 5] = [
    (10, 10),
    (10_000, 10),
    (10_000, 100),
    (10_000, 1_000),
    (10_000, 10_000),
];

const LISTENER: u64 = u64::MAX;
const CONTROL: u64 = u64::MAX - 1;
const EVENTS: usize = 1024;
/// Connections made before waiting for their first echo: well under the
/// backlog (somaxconn is 4096 here), so no SYN is ever dropped.
const CONNECT_BATCH: usize = 500;
/// The client's shortest counting window.
const SLICE: Duration = Duration::from_millis(20);

/// The server's commands on stdin, and what it counts between them.
struct Control {
    pending: Vec<u8>,
    echoes: u64,
    mark: Option<Mark>,
    /// Allocations the command handling itself made since the mark (not
    /// the echo path's).
    overhead: u64,
}

/// Echoes, allocations, syscalls and time at `mark`.
type Mark = (u64, u64, Option<Vec<(&'static str, u64)>>, Instant);

impl Control {
    fn new() -> Control {
        Control {
            pending: Vec::new(),
            echoes: 0,
            mark: None,
            overhead: 0,
        }
    }

    /// Reads what stdin has and acts on each whole line. Returns false
    /// when the server should exit.
    fn serve(&mut self, registered: usize) -> bool {
        let entry = crate::heap_counts().0;
        let go_on = self.serve_lines(registered, entry);
        if self.mark.is_some() {
            self.overhead += crate::heap_counts().0 - entry;
        }
        go_on
    }

    fn serve_lines(&mut self, registered: usize, entry: u64) -> bool {
        let mut buf = [0u8; 256];
        let n = floor::read(0, &mut buf);
        if n <= 0 {
            return false;
        }
        self.pending.extend_from_slice(&buf[..n as usize]);
        while let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=i).collect();
            match &line[..line.len() - 1] {
                b"mark" => {
                    self.mark = Some((self.echoes, entry, syscalls(), Instant::now()));
                    self.overhead = 0;
                    println!("marked");
                    std::io::stdout().flush().unwrap();
                }
                b"end" => {
                    self.report(registered, entry);
                    return false;
                }
                other => panic!(
                    "server: unknown command {:?}",
                    String::from_utf8_lossy(other)
                ),
            }
        }
        true
    }

    /// `entry`: the allocation count when the `end` command arrived.
    fn report(&self, registered: usize, entry: u64) {
        let (e0, a0, s0, t0) = self.mark.clone().expect("end before mark");
        let echoes = (self.echoes - e0).max(1) as f64;
        let mut out = Out::new();
        out.insert("echoes".into(), echoes);
        out.insert("secs".into(), t0.elapsed().as_secs_f64());
        out.insert(
            "allocs_per_echo".into(),
            (entry - a0 - self.overhead) as f64 / echoes,
        );
        out.insert("registered".into(), registered as f64);
        if let (Some(s0), Some(s1)) = (s0, syscalls()) {
            let mut total = 0;
            for ((name, b), (_, a)) in s0.iter().zip(&s1) {
                total += a - b;
                if a != b {
                    out.insert(format!("sys.{name}"), (a - b) as f64 / echoes);
                }
            }
            out.insert("sys_total".into(), total as f64 / echoes);
        }
        print_result(&out);
        std::io::stdout().flush().unwrap();
    }
}

pub fn server(contender: &str, p: &Params) {
    raise_nofile();
    pin(0);
    let conns = p.u64("conns", 10_000) as usize;
    match contender {
        "ours-epoll" => ours_server(conns),
        "floor-epoll" => floor_server(),
        other => panic!("c10k: unknown server {other}"),
    }
}

/// Pins this process to one CPU. Server and client both go to CPU 0: then
/// every echo costs the two processes' work on one core, one after the
/// other, and the rate compares servers directly. Left to the scheduler,
/// the pair sometimes shared a core and sometimes not (a wake-up across
/// cores costs an interrupt between the VM's CPUs), and a run's rate
/// doubled or halved with the placement.
fn pin(cpu: usize) {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) <= cpu {
        return;
    }
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: cpu is below the CPU count, far inside the set's 1024 bits.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: set is a valid cpu_set_t of the size passed; pid 0 is this
    // process.
    let r = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &raw const set) };
    check(r as isize, "sched_setaffinity");
}

fn announce(port: u16) {
    println!("port {port}");
    std::io::stdout().flush().unwrap();
}

fn ours_server(capacity: usize) {
    let listener =
        OwnedSocket::new_nonblocking(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    listener.set_reuse_address(true).unwrap();
    listener
        .bind(&SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)))
        .unwrap();
    listener.listen(4096).unwrap();
    let port = listener.local_addr().unwrap().as_socket().unwrap().port();
    let mut poller = Epoll::new().unwrap();
    poller
        .register(
            listener.as_fd(),
            Token(LISTENER as usize),
            Interest::READABLE,
        )
        .unwrap();
    // SAFETY: fd 0 (stdin, the parent's pipe) stays open for the whole
    // process.
    let stdin = unsafe { BorrowedFd::borrow_raw(0) };
    poller
        .register(stdin, Token(CONTROL as usize), Interest::READABLE)
        .unwrap();
    announce(port);
    let mut conns: Vec<Option<OwnedSocket>> = Vec::with_capacity(capacity);
    let mut events = Events::with_capacity(EVENTS);
    let mut control = Control::new();
    let mut buf = [0u8; 64];
    loop {
        poller.wait(&mut events, None).unwrap();
        for ev in events.iter() {
            match ev.token().0 as u64 {
                LISTENER => loop {
                    match listener.accept_nonblocking() {
                        Ok((s, _)) => {
                            s.set_nodelay(true).unwrap();
                            poller
                                .register(s.as_fd(), Token(conns.len()), Interest::READABLE)
                                .unwrap();
                            conns.push(Some(s));
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => panic!("accept: {e}"),
                    }
                },
                CONTROL => {
                    if !control.serve(conns.iter().flatten().count()) {
                        return;
                    }
                }
                i => {
                    let i = i as usize;
                    let Some(s) = conns[i].as_ref() else { continue };
                    match s.recv(&mut buf) {
                        Ok(n) if n > 0 => {
                            s.send(&buf[..n]).unwrap();
                            control.echoes += 1;
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        // End of stream or an error (a reset): forget it.
                        _ => {
                            poller.deregister(s.as_fd()).unwrap();
                            conns[i] = None;
                        }
                    }
                }
            }
        }
    }
}

fn floor_server() {
    let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    // std's listen backlog is 128: listen again with 4096, as ours does.
    let listener = l.into_raw_fd();
    // SAFETY: listener is our open socket; no pointers.
    check(unsafe { libc::listen(listener, 4096) } as isize, "listen");
    floor::set_nonblocking(listener);
    let port = {
        let mut sin = floor::sockaddr_in(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        let mut len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // SAFETY: sin has room for len bytes; len is a valid out-parameter.
        let r = unsafe { libc::getsockname(listener, (&raw mut sin).cast(), &raw mut len) };
        check(r as isize, "getsockname");
        u16::from_be(sin.sin_port)
    };
    let epfd = floor::epoll_create();
    let ev_in = libc::EPOLLIN as u32;
    check(
        floor::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, listener, ev_in, LISTENER),
        "epoll_ctl",
    );
    check(
        floor::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, 0, ev_in, CONTROL),
        "epoll_ctl",
    );
    announce(port);
    let mut open = 0usize;
    let mut evs = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS];
    let mut control = Control::new();
    let mut buf = [0u8; 64];
    loop {
        let k = check(floor::epoll_wait(epfd, &mut evs, -1), "epoll_wait");
        for e in &evs[..k] {
            let data = e.u64;
            match data {
                LISTENER => loop {
                    let fd = floor::accept4(listener, libc::SOCK_NONBLOCK);
                    if fd < 0 {
                        let err = std::io::Error::last_os_error();
                        assert_eq!(err.kind(), ErrorKind::WouldBlock, "accept4: {err}");
                        break;
                    }
                    floor::set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
                    check(
                        floor::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, ev_in, fd as u64),
                        "epoll_ctl",
                    );
                    open += 1;
                },
                CONTROL => {
                    if !control.serve(open) {
                        return;
                    }
                }
                data => {
                    let fd = data as RawFd;
                    let got = floor::recv(fd, &mut buf);
                    if got > 0 {
                        check(floor::send(fd, &buf[..got as usize]), "send");
                        control.echoes += 1;
                    } else if got == 0
                        || std::io::Error::last_os_error().kind() != ErrorKind::WouldBlock
                    {
                        floor::epoll_ctl(epfd, libc::EPOLL_CTL_DEL, fd, 0, 0);
                        floor::close(fd);
                        open -= 1;
                    }
                }
            }
        }
    }
}

/// The client: the floor's epoll loop, the same for every server.
pub fn client(p: &Params) {
    raise_nofile();
    pin(0);
    let port = p.u64("port", 0) as u16;
    let conns = p.u64("conns", 10_000) as usize;
    let active = p.u64("active", 10) as usize;
    let run = Duration::from_millis(p.u64("ms", 800));
    let addr = floor::sockaddr_in(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    let epfd = floor::epoll_create();
    let mut evs = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS];
    let mut fds: Vec<RawFd> = Vec::with_capacity(conns);
    let mut buf = [0u8; 64];
    let started = Instant::now();
    while fds.len() < conns {
        let first = fds.len();
        let last = (first + CONNECT_BATCH).min(conns);
        for i in first..last {
            let fd = check(floor::socket(libc::SOCK_STREAM) as isize, "socket") as RawFd;
            floor::set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
            let linger = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            // SAFETY: linger is a valid struct the kernel only reads.
            let r = unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    (&raw const linger).cast(),
                    size_of::<libc::linger>() as libc::socklen_t,
                )
            };
            check(r as isize, "SO_LINGER");
            check(floor::connect(fd, &addr), "connect");
            floor::set_nonblocking(fd);
            check(
                floor::epoll_ctl(
                    epfd,
                    libc::EPOLL_CTL_ADD,
                    fd,
                    libc::EPOLLIN as u32,
                    i as u64,
                ),
                "epoll_ctl",
            );
            check(floor::send(fd, &[1]), "send");
            fds.push(fd);
        }
        // Every connection of the batch echoed once: accepted and
        // registered by the server.
        let mut pending = last - first;
        let deadline = Instant::now() + Duration::from_secs(60);
        while pending > 0 {
            assert!(
                Instant::now() < deadline,
                "client: batch not echoed in 60 s"
            );
            let k = check(floor::epoll_wait(epfd, &mut evs, 1000), "epoll_wait");
            for e in &evs[..k] {
                let fd = fds[{ e.u64 } as usize];
                if floor::recv(fd, &mut buf) > 0 {
                    pending -= 1;
                }
            }
        }
    }
    println!("established {:.3}", started.elapsed().as_secs_f64());
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "go");

    for &fd in &fds[..active] {
        check(floor::send(fd, &[1]), "send");
    }
    let t0 = Instant::now();
    let mut echoes = 0u64;
    // A checkpoint (time, echoes so far) after every wait's batch: rates
    // over windows of at least SLICE between checkpoints are exact (no
    // batch is cut in two), and the figure is their high decile (another
    // job taking a core only ever slows a window).
    let mut marks: Vec<(Instant, u64)> = Vec::with_capacity(1 << 18);
    marks.push((t0, 0));
    loop {
        let k = check(floor::epoll_wait(epfd, &mut evs, 10), "epoll_wait");
        for e in &evs[..k] {
            let fd = fds[{ e.u64 } as usize];
            if floor::recv(fd, &mut buf) > 0 {
                echoes += 1;
                check(floor::send(fd, &[1]), "send");
            }
        }
        let now = Instant::now();
        if marks.len() < marks.capacity() {
            marks.push((now, echoes));
        }
        if now - t0 >= run {
            break;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let mut rates = Vec::new();
    let mut from = marks[0];
    for &m in &marks[1..] {
        let dt = m.0 - from.0;
        if dt >= SLICE {
            rates.push((m.1 - from.1) as f64 / dt.as_secs_f64());
            from = m;
        }
    }
    rates.sort_by(f64::total_cmp);
    let rate = |q: f64| {
        rates
            .get(((rates.len().max(1) - 1) as f64 * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let mut out = Out::new();
    out.insert("echoes".into(), echoes as f64);
    out.insert("secs".into(), secs);
    out.insert("echoes_per_s".into(), rate(0.9));
    out.insert("echoes_per_s_median".into(), rate(0.5));
    out.insert("echoes_per_s_mean".into(), echoes as f64 / secs);
    print_result(&out);
    std::io::stdout().flush().unwrap();
    // Stay until the parent closes stdin, then exit: every connection is
    // reset (SO_LINGER 0).
    let mut rest = String::new();
    let _ = std::io::stdin().read_line(&mut rest);
}
