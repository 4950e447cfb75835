//! Registration: what register, reregister and deregister cost (one
//! operation is all three on one fd, cycling through a pool of unbound
//! UDP sockets), and the heap bytes a poller keeps per registered fd.

use crate::floor;
use crate::harness::{Out, Params, Plan, Workload, check, measure, raise_nofile};
use baresock::poll::{Epoll, Interest, Poll, Poller, Select, SelectGrowable, Token};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

pub const CONTENDERS: [&str; 4] = ["floor-epoll", "ours-epoll", "ours-poll", "ours-select"];
pub const MEMORY_CONTENDERS: [&str; 5] = [
    "ours-epoll",
    "ours-poll",
    "ours-select-growable",
    "mio",
    "polling",
];

fn udp_fds(n: usize) -> Vec<OwnedFd> {
    (0..n)
        .map(|_| {
            let fd = check(floor::socket(libc::SOCK_DGRAM) as isize, "socket") as RawFd;
            // SAFETY: socket() just returned fd; nothing else owns it.
            unsafe { OwnedFd::from_raw_fd(fd) }
        })
        .collect()
}

pub fn child(contender: &str, p: &Params) -> Out {
    let plan = Plan::from(p);
    let pool = udp_fds(p.u64("pool", 500) as usize);
    match contender {
        "floor-epoll" => measure(
            &plan,
            &mut FloorEpoll {
                epfd: floor::epoll_create(),
                pool,
                next: 0,
            },
        ),
        "ours-epoll" => measure(&plan, &mut Ours::new(Epoll::new().unwrap(), pool)),
        "ours-poll" => measure(&plan, &mut Ours::new(Poll::new(), pool)),
        "ours-select" => measure(&plan, &mut Ours::new(Select::new(), pool)),
        other => panic!("register: unknown contender {other}"),
    }
}

struct Ours<P: Poller> {
    poller: P,
    pool: Vec<OwnedFd>,
    next: usize,
}

impl<P: Poller> Ours<P> {
    fn new(poller: P, pool: Vec<OwnedFd>) -> Self {
        Ours {
            poller,
            pool,
            next: 0,
        }
    }

    fn fd(&mut self) -> BorrowedFd<'_> {
        self.next = (self.next + 1) % self.pool.len();
        self.pool[self.next].as_fd()
    }
}

impl<P: Poller> Workload for Ours<P> {
    fn run(&mut self, n: u64) {
        for _ in 0..n {
            self.next = (self.next + 1) % self.pool.len();
            let fd = self.pool[self.next].as_fd();
            self.poller
                .register(fd, Token(1), Interest::READABLE)
                .unwrap();
            self.poller
                .reregister(fd, Token(2), Interest::READABLE | Interest::WRITABLE)
                .unwrap();
            self.poller.deregister(fd).unwrap();
        }
    }

    /// Each of the three calls counted on its own (stats build only).
    fn extra(&mut self, out: &mut Out) {
        let Some(_) = crate::harness::syscalls() else {
            return;
        };
        let total = || -> u64 {
            crate::harness::syscalls()
                .unwrap()
                .iter()
                .map(|s| s.1)
                .sum()
        };
        let raw = self.fd().as_raw_fd();
        // SAFETY: raw is one of the pool's fds, open while `self` lives.
        let fd = unsafe { BorrowedFd::borrow_raw(raw) };
        let t0 = total();
        self.poller
            .register(fd, Token(1), Interest::READABLE)
            .unwrap();
        let t1 = total();
        self.poller
            .reregister(fd, Token(2), Interest::WRITABLE)
            .unwrap();
        let t2 = total();
        self.poller.deregister(fd).unwrap();
        let t3 = total();
        out.insert("sys_register".into(), (t1 - t0) as f64);
        out.insert("sys_reregister".into(), (t2 - t1) as f64);
        out.insert("sys_deregister".into(), (t3 - t2) as f64);
    }
}

struct FloorEpoll {
    epfd: RawFd,
    pool: Vec<OwnedFd>,
    next: usize,
}

impl Workload for FloorEpoll {
    fn run(&mut self, n: u64) {
        let (r, rw) = (
            libc::EPOLLIN as u32,
            (libc::EPOLLIN | libc::EPOLLOUT) as u32,
        );
        for _ in 0..n {
            self.next = (self.next + 1) % self.pool.len();
            let fd = self.pool[self.next].as_raw_fd();
            check(
                floor::epoll_ctl(self.epfd, libc::EPOLL_CTL_ADD, fd, r, 1),
                "add",
            );
            check(
                floor::epoll_ctl(self.epfd, libc::EPOLL_CTL_MOD, fd, rw, 2),
                "mod",
            );
            check(
                floor::epoll_ctl(self.epfd, libc::EPOLL_CTL_DEL, fd, 0, 0),
                "del",
            );
        }
    }
}

/// Heap bytes a poller keeps per registered fd: the live-bytes delta of
/// registering `n` fds into a poller made beforehand, divided by `n`.
pub fn memory_child(contender: &str, p: &Params) -> Out {
    raise_nofile();
    let n = p.u64("n", 10_000) as usize;
    let fds = udp_fds(n);
    let mut out = Out::new();
    let bytes = match contender {
        "ours-epoll" => ours_bytes(Epoll::new().unwrap(), &fds),
        "ours-poll" => ours_bytes(Poll::new(), &fds),
        "ours-select-growable" => ours_bytes(SelectGrowable::new(), &fds),
        "mio" => {
            let poll = mio::Poll::new().unwrap();
            let mut socks: Vec<mio::net::UdpSocket> = fds
                .into_iter()
                .map(|fd| mio::net::UdpSocket::from_std(std::net::UdpSocket::from(fd)))
                .collect();
            let (_, before) = crate::heap_counts();
            for (i, s) in socks.iter_mut().enumerate() {
                poll.registry()
                    .register(s, mio::Token(i), mio::Interest::READABLE)
                    .unwrap();
            }
            let (_, after) = crate::heap_counts();
            after - before
        }
        "polling" => {
            let poller = polling::Poller::new().unwrap();
            let (_, before) = crate::heap_counts();
            for (i, fd) in fds.iter().enumerate() {
                // SAFETY: every fd outlives the poller (dropped at the end
                // of this arm, before `fds`).
                unsafe {
                    poller
                        .add(fd.as_raw_fd(), polling::Event::readable(i))
                        .unwrap()
                };
            }
            let (_, after) = crate::heap_counts();
            after - before
        }
        other => panic!("regmem: unknown contender {other}"),
    };
    out.insert("n".into(), n as f64);
    out.insert("bytes_per_fd".into(), bytes as f64 / n as f64);
    out
}

fn ours_bytes<P: Poller>(mut poller: P, fds: &[OwnedFd]) -> i64 {
    let (_, before) = crate::heap_counts();
    for (i, fd) in fds.iter().enumerate() {
        poller
            .register(fd.as_fd(), Token(i), Interest::READABLE)
            .unwrap();
    }
    let (_, after) = crate::heap_counts();
    after - before
}
