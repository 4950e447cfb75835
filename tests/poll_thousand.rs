//! 1,000 registered sockets with a random subset made ready: every backend
//! reports exactly that subset.
//!
//! A test binary of its own (`harness = false`): it raises RLIMIT_NOFILE
//! and depends on fd numbers, both process-wide. The peers of the TCP
//! connections live in a child process (this binary re-executed in child
//! mode), so the parent's 1,000 fds stay below FD_SETSIZE and plain select
//! can take part. The growable select then runs it again in-process with
//! 1,000 socketpairs, fds well above 1024, where plain select must refuse.

mod common;

use baresock::poll::{Backend, Events, Interest, Poller, Token};
use baresock::{Domain, OwnedSocket, Protocol, SockAddr, Type};
use common::*;
use std::collections::{BTreeSet, HashMap};
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::process::{Command, Stdio};

const N: usize = 1000;
const ROUNDS: usize = 6;
const CHILD_ENV: &str = "BARESOCK_POLL_THOUSAND_PEERS";

fn main() {
    if let Ok(addr) = std::env::var(CHILD_ENV) {
        child(addr.parse().unwrap());
        return;
    }
    raise_nofile();
    // libtest's lines, closing line included, which CI's summary reads.
    run_plain_tests(&[
        ("across_processes", across_processes as fn(), None),
        ("growable_in_process", growable_in_process, QEMU_FD_SET),
    ]);
}

fn raise_nofile() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let want = hard.min(8192);
    assert!(
        want >= 2 * N as libc::rlim_t + 64,
        "RLIMIT_NOFILE hard limit {hard} too low"
    );
    if soft < want {
        setrlimit(Resource::RLIMIT_NOFILE, want, hard).unwrap();
    }
}

/// Child mode: connect N sockets, print their local ports, then for each
/// line of indexes on stdin send one byte on those connections and answer
/// "ok". Exits at end of input.
fn child(addr: SocketAddr) {
    let addr = SockAddr::from(addr);
    let conns: Vec<OwnedSocket> = (0..N)
        .map(|_| {
            let s = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
            s.connect(&addr).unwrap();
            s
        })
        .collect();
    let mut out = io::stdout().lock();
    for s in &conns {
        let port = s.local_addr().unwrap().as_socket().unwrap().port();
        writeln!(out, "{port}").unwrap();
    }
    out.flush().unwrap();
    for line in io::stdin().lock().lines() {
        let line = line.unwrap();
        for i in line.split_whitespace() {
            let i: usize = i.parse().unwrap();
            assert_eq!(conns[i].send(b"!").unwrap(), 1);
        }
        writeln!(out, "ok").unwrap();
        out.flush().unwrap();
    }
}

fn pick_subset(rng: &mut Rng) -> BTreeSet<usize> {
    // Sizes from empty to everything, mostly in between.
    let percent = [0, 1, 10, 30, 50, 90, 100][rng.below(7)];
    (0..N).filter(|_| rng.chance(percent)).collect()
}

fn want(subset: &BTreeSet<usize>) -> BTreeSet<Shared> {
    subset.iter().map(|&i| (i, true, false, false)).collect()
}

#[track_caller]
fn check_all(pollers: &mut [Box<dyn Poller>], subset: &BTreeSet<usize>, seed: u64) {
    let mut ev = Events::with_capacity(N + 8);
    let want = want(subset);
    for p in pollers.iter_mut() {
        // Bounded retries only to let loopback delivery land; the set
        // must then be exactly the subset.
        let mut last = BTreeSet::new();
        for _ in 0..TRIES {
            p.wait(&mut ev, Some(TRY_TIMEOUT)).unwrap();
            last = shared_set(&ev);
            if last == want || !last.is_subset(&want) {
                break;
            }
        }
        assert!(
            last == want,
            "seed {seed}: {} reported {} fds, subset has {}; extra {:?}, missing {:?}",
            p.backend(),
            last.len(),
            want.len(),
            last.difference(&want).take(5).collect::<Vec<_>>(),
            want.difference(&last).take(5).collect::<Vec<_>>(),
        );
    }
}

fn across_processes() {
    let listener = tcp_listener_backlog(2 * N as i32);
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, addr.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut to_child = child.stdin.take().unwrap();
    let mut from_child = BufReader::new(child.stdout.take().unwrap());

    let mut index_of_port = HashMap::new();
    for i in 0..N {
        let mut line = String::new();
        from_child.read_line(&mut line).unwrap();
        index_of_port.insert(line.trim().parse::<u16>().unwrap(), i);
    }
    let mut conns: Vec<Option<OwnedSocket>> = (0..N).map(|_| None).collect();
    for _ in 0..N {
        let (s, peer) = listener.accept_nonblocking().unwrap();
        let port = peer.as_socket().unwrap().port();
        conns[index_of_port[&port]] = Some(s);
    }
    let conns: Vec<OwnedSocket> = conns.into_iter().map(Option::unwrap).collect();
    let highest = conns.iter().map(|c| c.as_raw_fd()).max().unwrap();
    assert!(
        highest < 1024,
        "fds must stay below FD_SETSIZE, got {highest}"
    );

    let mut pollers: Vec<Box<dyn Poller>> = Backend::ALL.iter().map(|b| build(*b)).collect();
    for p in &mut pollers {
        for (i, c) in conns.iter().enumerate() {
            p.register(c.as_fd(), Token(i), Interest::READABLE).unwrap();
        }
    }
    let seed = 0x1000;
    let mut rng = Rng::new(seed);
    check_all(&mut pollers, &BTreeSet::new(), seed);
    for _ in 0..ROUNDS {
        let subset = pick_subset(&mut rng);
        let line: Vec<String> = subset.iter().map(usize::to_string).collect();
        writeln!(to_child, "{}", line.join(" ")).unwrap();
        to_child.flush().unwrap();
        let mut ok = String::new();
        from_child.read_line(&mut ok).unwrap();
        assert_eq!(ok.trim(), "ok");
        check_all(&mut pollers, &subset, seed);
        for &i in &subset {
            assert_eq!(drain(&conns[i]), 1);
        }
    }
    drop(to_child);
    assert!(child.wait().unwrap().success());
}

fn tcp_listener_backlog(backlog: i32) -> OwnedSocket {
    let l = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    l.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    l.listen(backlog).unwrap();
    l
}

fn growable_in_process() {
    let pairs: Vec<(OwnedSocket, OwnedSocket)> = (0..N).map(|_| unix_pair()).collect();
    let highest = pairs.iter().map(|(o, _)| o.as_raw_fd()).max().unwrap();
    assert!(highest >= 1024, "the point is fds above FD_SETSIZE");

    // Plain select refuses them at register time.
    let mut plain = build(Backend::Select);
    let high = pairs.iter().find(|(o, _)| o.as_raw_fd() >= 1024).unwrap();
    let e = plain
        .register(high.0.as_fd(), Token(0), Interest::READABLE)
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);

    let mut pollers: Vec<Box<dyn Poller>> =
        [Backend::SelectGrowable, Backend::Poll, Backend::Epoll]
            .iter()
            .map(|b| build(*b))
            .collect();
    for p in &mut pollers {
        for (i, (ours, _)) in pairs.iter().enumerate() {
            p.register(ours.as_fd(), Token(i), Interest::READABLE)
                .unwrap();
        }
    }
    let seed = 0x2000;
    let mut rng = Rng::new(seed);
    for _ in 0..ROUNDS {
        let subset = pick_subset(&mut rng);
        for &i in &subset {
            pairs[i].1.send(b"!").unwrap();
        }
        check_all(&mut pollers, &subset, seed);
        for &i in &subset {
            assert_eq!(drain(&pairs[i].0), 1);
        }
    }
}
