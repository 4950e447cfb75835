//! No fd leaks: the set of entries in /proc/self/fd (numbers and what they
//! point at) is the same before and after 10,000 create/close cycles of
//! every socket kind, and after every error path.
//!
//! A test binary of its own with a single test, so no other test thread
//! opens or closes fds while it compares; the EMFILE paths (which need a
//! low RLIMIT_NOFILE) run in a child process, the same test re-executed.

mod support;

use std::time::Duration;

use baresock::{Domain, OwnedSocket, Protocol, SockAddr, Type};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use support::*;

const CYCLES: usize = 10_000;

/// Asserts the fd table is what it was, naming the step that changed it.
#[track_caller]
fn assert_unchanged(before: &std::collections::BTreeMap<i32, std::path::PathBuf>, step: &str) {
    let now = fd_table();
    assert_eq!(&now, before, "fd table changed after {step}");
}

/// Closes `s` by drop or by `close()`, alternating with `i`.
fn dispose(s: OwnedSocket, i: usize) {
    if i % 2 == 0 {
        drop(s);
    } else {
        s.close().unwrap();
    }
}

fn create_close_cycles(before: &std::collections::BTreeMap<i32, std::path::PathBuf>) {
    let kinds = [
        ("TCP v4", Domain::IPV4, Type::STREAM),
        ("TCP v6", Domain::IPV6, Type::STREAM),
        ("UDP v4", Domain::IPV4, Type::DGRAM),
        ("UDP v6", Domain::IPV6, Type::DGRAM),
        ("Unix stream", Domain::UNIX, Type::STREAM),
        ("Unix dgram", Domain::UNIX, Type::DGRAM),
        ("Unix seqpacket", Domain::UNIX, Type::SEQPACKET),
    ];
    for (name, d, t) in kinds {
        for i in 0..CYCLES {
            let s = if i % 3 == 0 {
                OwnedSocket::new_nonblocking(d, t, Protocol::DEFAULT)
            } else {
                OwnedSocket::new(d, t, Protocol::DEFAULT)
            }
            .unwrap();
            if d != Domain::UNIX && t == Type::DGRAM {
                // A bound UDP socket holds a port too.
                s.bind(&loopback(d)).unwrap();
            }
            dispose(s, i);
        }
        assert_unchanged(before, name);
    }

    for i in 0..CYCLES {
        let (a, b) = if i % 2 == 0 {
            OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT)
        } else {
            OwnedSocket::pair_nonblocking(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT)
        }
        .unwrap();
        dispose(a, i);
        dispose(b, i + 1);
    }
    assert_unchanged(before, "socketpair");

    // accept over TCP: the client closes with SO_LINGER 0 (a reset), so
    // 10,000 connections leave no TIME_WAIT behind.
    {
        let (l, la) = tcp_listener(Domain::IPV4);
        for i in 0..CYCLES {
            let c = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
            c.connect(&la).unwrap();
            let (s, _) = if i % 2 == 0 {
                l.accept()
            } else {
                l.accept_nonblocking()
            }
            .unwrap();
            c.set_linger(Some(Duration::ZERO)).unwrap();
            dispose(c, i);
            dispose(s, i + 1);
        }
    }
    assert_unchanged(before, "TCP accept");

    {
        let name = SockAddr::unix_abstract(&abstract_name("leaks-accept")).unwrap();
        let l = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
        l.bind(&name).unwrap();
        l.listen(16).unwrap();
        for i in 0..CYCLES {
            let c = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
            c.connect(&name).unwrap();
            let (s, _) = if i % 2 == 0 {
                l.accept_nonblocking()
            } else {
                l.accept()
            }
            .unwrap();
            dispose(s, i);
            dispose(c, i);
        }
    }
    assert_unchanged(before, "Unix accept");

    {
        let (s, _) = udp_bound(Domain::IPV6);
        for i in 0..CYCLES {
            dispose(s.try_clone().unwrap(), i);
        }
    }
    assert_unchanged(before, "try_clone");
}

fn error_paths(before: &std::collections::BTreeMap<i32, std::path::PathBuf>) {
    const N: usize = 1_000;
    let refused = closed_port(Domain::IPV4);
    for _ in 0..N {
        let c = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
        assert_errno(c.connect(&refused), libc::ECONNREFUSED);
    }
    assert_unchanged(before, "failed connect");

    {
        let held = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
        held.bind(&v4(0)).unwrap();
        let taken = held.local_addr().unwrap();
        for _ in 0..N {
            let s = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
            assert_errno(s.bind(&taken), libc::EADDRINUSE);
        }
    }
    assert_unchanged(before, "failed bind");

    {
        let (l, _) = tcp_listener(Domain::IPV4);
        l.set_nonblocking(true).unwrap();
        let not_listening =
            OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
        for _ in 0..N {
            assert_errno(l.accept(), libc::EAGAIN);
            assert_errno(l.accept_nonblocking(), libc::EAGAIN);
            assert_errno(not_listening.accept(), libc::EINVAL);
        }
    }
    assert_unchanged(before, "failed accept");

    for _ in 0..N {
        assert_errno(
            OwnedSocket::new(Domain::from(9999), Type::STREAM, Protocol::DEFAULT),
            libc::EAFNOSUPPORT,
        );
        assert_errno(
            OwnedSocket::pair(Domain::IPV4, Type::STREAM, Protocol::DEFAULT),
            libc::EOPNOTSUPP,
        );
    }
    assert_unchanged(before, "failed socket and socketpair");

    {
        let dir = TempDir::new("leaks");
        let missing = SockAddr::unix(dir.join("missing")).unwrap();
        for _ in 0..N {
            let u = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();
            assert_errno(u.connect(&missing), libc::ENOENT);
            assert_errno(
                u.connect_timeout(&missing, Duration::from_secs(1)),
                libc::ENOENT,
            );
        }
    }
    assert_unchanged(before, "failed Unix connect");

    for _ in 0..100 {
        let c = OwnedSocket::new(Domain::IPV6, Type::STREAM, Protocol::DEFAULT).unwrap();
        assert_errno(
            c.connect_timeout(&closed_port(Domain::IPV6), Duration::from_secs(5)),
            libc::ECONNREFUSED,
        );
        assert_eq!(
            c.connect_timeout(&v6(1), Duration::ZERO)
                .unwrap_err()
                .kind(),
            std::io::ErrorKind::InvalidInput
        );
    }
    assert_unchanged(before, "connect_timeout refused");

    {
        let full = FullListener::new(Domain::IPV4);
        for _ in 0..5 {
            let c = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
            assert_errno(
                c.connect_timeout(&full.addr, Duration::from_millis(20)),
                libc::ETIMEDOUT,
            );
        }
    }
    assert_unchanged(before, "connect_timeout timeout");
}

/// The child: under a low RLIMIT_NOFILE, every EMFILE path, many times,
/// leaves the fd table as it found it.
fn emfile_paths() {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let before = fd_table();
    let (l, la) = tcp_listener(Domain::IPV4);
    let queued = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    queued.connect(&la).unwrap();
    let during = fd_table();
    let highest = *during.keys().max().unwrap() as libc::rlim_t;
    let limit = highest + 1 + 4;
    setrlimit(Resource::RLIMIT_NOFILE, limit, hard).unwrap();
    // Leave exactly one slot free: fill the rest.
    let mut fillers = Vec::new();
    for _ in 0..=limit {
        match OwnedSocket::new(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT) {
            Ok(s) => fillers.push(s),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE));
                break;
            }
        }
    }
    let spare = fillers.pop().unwrap();
    drop(fillers.pop());
    // One slot free: socketpair needs two; it must not keep the one it got.
    for _ in 0..1_000 {
        assert_errno(
            OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT),
            libc::EMFILE,
        );
        assert_errno(
            OwnedSocket::pair_nonblocking(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT),
            libc::EMFILE,
        );
    }
    // The slot is still free: take it, and with none left every other
    // fd-making call fails without keeping anything.
    let last = spare.try_clone().unwrap();
    for _ in 0..1_000 {
        assert_errno(l.accept(), libc::EMFILE);
        assert_errno(l.accept_nonblocking(), libc::EMFILE);
        assert_errno(spare.try_clone(), libc::EMFILE);
        assert_errno(
            OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT),
            libc::EMFILE,
        );
    }
    drop(last);
    // Exactly one slot again: the queued connection is still there.
    let (s, _) = l.accept().unwrap();
    drop((s, spare, fillers));
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();
    assert_eq!(fd_table(), during, "fd table changed by the EMFILE paths");
    drop((l, queued));
    assert_eq!(fd_table(), before);
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: getsockopt(TCP_INFO) writes 4 bytes, which tcp_info refuses"
)]
fn fd_table_is_unchanged_by_create_close_cycles_and_error_paths() {
    const NAME: &str = "fd_table_is_unchanged_by_create_close_cycles_and_error_paths";
    if is_child(NAME) {
        emfile_paths();
        return;
    }
    let before = fd_table();
    // The probe sees a new fd: the comparison can fail.
    {
        let s = OwnedSocket::new(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
        assert_ne!(fd_table(), before);
        drop(s);
    }
    assert_unchanged(&before, "the probe");
    create_close_cycles(&before);
    error_paths(&before);
    let out = run_child(NAME);
    drop(out);
    assert_unchanged(&before, "the EMFILE child");
}
