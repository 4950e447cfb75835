//! CLOEXEC everywhere: every fd-producing call leaves FD_CLOEXEC set (as
//! nix's fcntl sees it), and a spawned child process holds none of the
//! sockets the crate made, even while other threads create sockets as it
//! is spawned. Sockets are identified by inode (`socket:[N]`), so fd
//! numbers reused between parent and child cannot confuse the check.

mod support;

use std::collections::HashSet;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use baresock::{Domain, OwnedSocket, Protocol, SockAddr, Type};
use support::*;

/// One of every fd-producing call: (what made it, the socket).
fn one_of_each() -> Vec<(&'static str, OwnedSocket)> {
    let mut v = Vec::new();
    v.push((
        "new",
        OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap(),
    ));
    v.push((
        "new_nonblocking",
        OwnedSocket::new_nonblocking(Domain::IPV6, Type::DGRAM, Protocol::DEFAULT).unwrap(),
    ));
    let (a, b) = OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    v.push(("pair", a));
    v.push(("pair", b));
    let (a, b) =
        OwnedSocket::pair_nonblocking(Domain::UNIX, Type::SEQPACKET, Protocol::DEFAULT).unwrap();
    v.push(("pair_nonblocking", a));
    v.push(("pair_nonblocking", b));
    let (l, la) = tcp_listener(Domain::IPV4);
    let c1 = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    c1.connect(&la).unwrap();
    v.push(("accept", l.accept().unwrap().0));
    let c2 = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    c2.connect(&la).unwrap();
    v.push(("accept_nonblocking", l.accept_nonblocking().unwrap().0));
    v.push(("try_clone", l.try_clone().unwrap()));
    v.push(("listener", l));
    v.push(("client", c1));
    v.push(("client", c2));
    v
}

/// The socket inodes a freshly spawned child process holds, read by the
/// child itself (`ls -l /proc/self/fd`).
#[track_caller]
fn child_socket_inodes() -> HashSet<u64> {
    let out = Command::new("ls")
        .args(["-l", "/proc/self/fd"])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run ls");
    assert!(out.status.success(), "ls failed: {:?}", out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| l.split("socket:[").nth(1))
        .map(|rest| rest.trim_end_matches(']').parse::<u64>().unwrap())
        .collect()
}

#[test]
fn every_fd_making_call_sets_fd_cloexec() {
    for (what, s) in one_of_each() {
        assert!(nix_cloexec(&s), "{what} made an fd without FD_CLOEXEC");
        assert!(s.cloexec().unwrap(), "{what}");
    }
    // Unix accept as well.
    let name = SockAddr::unix_abstract(&abstract_name("cloexec")).unwrap();
    let l = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
    l.bind(&name).unwrap();
    l.listen(2).unwrap();
    for nonblocking in [false, true] {
        let c = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
        c.connect(&name).unwrap();
        let (s, _) = if nonblocking {
            l.accept_nonblocking()
        } else {
            l.accept()
        }
        .unwrap();
        assert!(nix_cloexec(&s));
    }
}

#[test]
fn a_spawned_child_holds_none_of_our_sockets() {
    let ours = one_of_each();
    let inodes: HashSet<u64> = ours.iter().map(|(_, s)| socket_inode(s.as_fd())).collect();
    // Every socket has its own inode, but for the clone, which shares the
    // listener's.
    assert_eq!(inodes.len(), ours.len() - 1);

    // The check can fail: a socket with FD_CLOEXEC cleared is inherited.
    let leaky = OwnedSocket::new(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
    leaky.set_cloexec(false).unwrap();
    let leaky_inode = socket_inode(leaky.as_fd());
    let seen = child_socket_inodes();
    assert!(
        seen.contains(&leaky_inode),
        "the child did not see the socket left without FD_CLOEXEC: {seen:?}"
    );
    drop(leaky);

    let seen = child_socket_inodes();
    let leaked: Vec<_> = ours
        .iter()
        .filter(|(_, s)| seen.contains(&socket_inode(s.as_fd())))
        .map(|(what, _)| *what)
        .collect();
    assert!(
        leaked.is_empty(),
        "a child inherited sockets from: {leaked:?}"
    );
}

#[test]
fn a_child_spawned_while_threads_create_sockets_holds_none_of_them() {
    const THREADS: usize = 3;
    const SPAWNS: usize = 40;
    const MAX_ROUNDS: usize = 20_000;
    let made = Arc::new(Mutex::new(HashSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (made, stop) = (made.clone(), stop.clone());
            thread::spawn(move || {
                let (l, la) = tcp_listener(Domain::IPV4);
                let mut rounds = 0;
                // Bounded in count; stops early once the spawns are done.
                while !stop.load(Ordering::Relaxed) && rounds < MAX_ROUNDS {
                    rounds += 1;
                    let mut batch = Vec::new();
                    match rounds % 4 {
                        0 => {
                            let (a, b) =
                                OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT)
                                    .unwrap();
                            batch.push(a.try_clone().unwrap());
                            batch.push(a);
                            batch.push(b);
                        }
                        1 => {
                            let c = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT)
                                .unwrap();
                            c.connect(&la).unwrap();
                            let (s, _) = if t % 2 == 0 {
                                l.accept()
                            } else {
                                l.accept_nonblocking()
                            }
                            .unwrap();
                            c.set_linger(Some(std::time::Duration::ZERO)).unwrap();
                            batch.push(c);
                            batch.push(s);
                        }
                        2 => batch.push(
                            OwnedSocket::new_nonblocking(
                                Domain::UNIX,
                                Type::DGRAM,
                                Protocol::DEFAULT,
                            )
                            .unwrap(),
                        ),
                        _ => batch.push(
                            OwnedSocket::new(Domain::IPV6, Type::DGRAM, Protocol::DEFAULT).unwrap(),
                        ),
                    }
                    let mut m = made.lock().unwrap();
                    for s in &batch {
                        m.insert(socket_inode(s.as_fd()));
                    }
                    drop(m);
                    drop(batch);
                }
                rounds
            })
        })
        .collect();
    let mut seen_by_children = HashSet::new();
    for _ in 0..SPAWNS {
        seen_by_children.extend(child_socket_inodes());
    }
    stop.store(true, Ordering::Relaxed);
    let rounds: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(rounds > 0);
    let made = made.lock().unwrap();
    let leaked: Vec<_> = seen_by_children.intersection(&made).collect();
    assert!(
        leaked.is_empty(),
        "children inherited {} of {} sockets made concurrently",
        leaked.len(),
        made.len()
    );
}
