//! Cross-thread wake-up: two threads, each waiting on a poller of its own
//! with a waker registered. One operation is a round: the measuring thread
//! wakes the other's poller and waits until the other wakes it back. The
//! measuring thread's syscalls per round are exactly one wake (its write)
//! plus one woken wait (and the reset read poll and select make), so its
//! counts are the cost of one wake.

use crate::floor;
use crate::harness::{Out, Params, Plan, Workload, check, measure};
use baresock::poll::{Epoll, Events, Poll, Poller, Select, Token, Waker};
use std::os::fd::RawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

pub const CONTENDERS: [&str; 8] = [
    "floor-epoll",
    "ours-epoll",
    "floor-poll",
    "ours-poll",
    "floor-select",
    "ours-select",
    "mio",
    "polling",
];

pub fn child(contender: &str, p: &Params) -> Out {
    let plan = Plan::from(p);
    match contender {
        "ours-epoll" => measure(&plan, &mut Ours::new(|| Epoll::new().unwrap())),
        "ours-poll" => measure(&plan, &mut Ours::new(Poll::new)),
        "ours-select" => measure(&plan, &mut Ours::new(Select::new)),
        "floor-epoll" => measure(&plan, &mut Floor::new(Kind::Epoll)),
        "floor-poll" => measure(&plan, &mut Floor::new(Kind::Poll)),
        "floor-select" => measure(&plan, &mut Floor::new(Kind::Select)),
        "mio" => measure(&plan, &mut Mio::new()),
        "polling" => measure(&plan, &mut Polling::new()),
        other => panic!("wake: unknown contender {other}"),
    }
}

struct Ours<P: Poller + 'static> {
    poller: P,
    events: Events,
    /// Wakes the other thread.
    theirs: Arc<Waker>,
    _mine: Arc<Waker>,
    stop: Arc<AtomicBool>,
    other: Option<JoinHandle<()>>,
}

impl<P: Poller + 'static> Ours<P> {
    fn new(make: impl Fn() -> P) -> Self {
        let mut mine_p = make();
        let mut theirs_p = make();
        let mine = Arc::new(Waker::new(&mut mine_p, Token(0)).unwrap());
        let theirs = Arc::new(Waker::new(&mut theirs_p, Token(0)).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let (back, stop2) = (Arc::clone(&mine), Arc::clone(&stop));
        let other = std::thread::spawn(move || {
            let mut p = theirs_p;
            let mut ev = Events::with_capacity(4);
            loop {
                p.wait(&mut ev, None).unwrap();
                if stop2.load(Ordering::Acquire) {
                    break;
                }
                if !ev.is_empty() {
                    back.wake().unwrap();
                }
            }
        });
        Ours {
            poller: mine_p,
            events: Events::with_capacity(4),
            theirs,
            _mine: mine,
            stop,
            other: Some(other),
        }
    }
}

impl<P: Poller + 'static> Workload for Ours<P> {
    fn run(&mut self, n: u64) {
        for _ in 0..n {
            self.theirs.wake().unwrap();
            while self.poller.wait(&mut self.events, None).unwrap() == 0 {}
        }
    }

    fn extra(&mut self, out: &mut Out) {
        // Waits that were not woken: one syscall each, nothing more.
        if let Some(s0) = crate::harness::syscalls() {
            for _ in 0..10 {
                self.poller
                    .wait(&mut self.events, Some(Duration::ZERO))
                    .unwrap();
            }
            let s1 = crate::harness::syscalls().unwrap();
            let d: u64 = s1.iter().zip(&s0).map(|(a, b)| a.1 - b.1).sum();
            out.insert("sys_idle_wait".into(), d as f64 / 10.0);
        }
        self.stop.store(true, Ordering::Release);
        self.theirs.wake().unwrap();
        self.other.take().unwrap().join().unwrap();
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Epoll,
    Poll,
    Select,
}

/// One side of the floor: an eventfd and the wait that watches it. On
/// epoll the eventfd is edge-triggered (a wake is one write); on poll and
/// select the woken wait resets it with one read.
struct Side {
    kind: Kind,
    efd: RawFd,
    epfd: RawFd,
}

impl Side {
    fn new(kind: Kind) -> Side {
        let efd = floor::eventfd();
        let epfd = match kind {
            Kind::Epoll => {
                let epfd = floor::epoll_create();
                let ev = (libc::EPOLLIN | libc::EPOLLET) as u32;
                check(
                    floor::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, efd, ev, 0),
                    "epoll_ctl",
                );
                epfd
            }
            _ => -1,
        };
        Side { kind, efd, epfd }
    }

    #[inline(always)]
    fn wake(&self) {
        check(floor::write(self.efd, &1u64.to_ne_bytes()), "write");
    }

    /// Blocks until woken.
    #[inline(always)]
    fn wait(&self) {
        let mut buf = [0u8; 8];
        match self.kind {
            Kind::Epoll => {
                let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 4];
                check(floor::epoll_wait(self.epfd, &mut evs, -1), "epoll_wait");
            }
            Kind::Poll => {
                let mut fds = [libc::pollfd {
                    fd: self.efd,
                    events: libc::POLLIN,
                    revents: 0,
                }];
                check(floor::poll(&mut fds, -1), "poll");
                check(floor::read(self.efd, &mut buf), "read");
            }
            Kind::Select => {
                let mut set = floor::fd_set_empty();
                floor::fd_set_add(&mut set, self.efd);
                check(floor::select_read(self.efd + 1, &mut set), "select");
                check(floor::read(self.efd, &mut buf), "read");
            }
        }
    }
}

struct Floor {
    mine: Arc<Side>,
    theirs: Arc<Side>,
    stop: Arc<AtomicBool>,
    other: Option<JoinHandle<()>>,
}

impl Floor {
    fn new(kind: Kind) -> Floor {
        let mine = Arc::new(Side::new(kind));
        let theirs = Arc::new(Side::new(kind));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, t, s) = (Arc::clone(&mine), Arc::clone(&theirs), Arc::clone(&stop));
        let other = std::thread::spawn(move || {
            loop {
                t.wait();
                if s.load(Ordering::Acquire) {
                    break;
                }
                m.wake();
            }
        });
        Floor {
            mine,
            theirs,
            stop,
            other: Some(other),
        }
    }
}

impl Workload for Floor {
    fn run(&mut self, n: u64) {
        for _ in 0..n {
            self.theirs.wake();
            self.mine.wait();
        }
    }

    fn extra(&mut self, _out: &mut Out) {
        self.stop.store(true, Ordering::Release);
        self.theirs.wake();
        self.other.take().unwrap().join().unwrap();
    }
}

struct Mio {
    poll: mio::Poll,
    events: mio::Events,
    theirs: Arc<mio::Waker>,
    stop: Arc<AtomicBool>,
    other: Option<JoinHandle<()>>,
}

impl Mio {
    fn new() -> Mio {
        let poll = mio::Poll::new().unwrap();
        let mut their_poll = mio::Poll::new().unwrap();
        let mine = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let theirs = Arc::new(mio::Waker::new(their_poll.registry(), mio::Token(0)).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let other = std::thread::spawn(move || {
            let mut ev = mio::Events::with_capacity(4);
            loop {
                their_poll.poll(&mut ev, None).unwrap();
                if s.load(Ordering::Acquire) {
                    break;
                }
                if !ev.is_empty() {
                    mine.wake().unwrap();
                }
            }
        });
        Mio {
            poll,
            events: mio::Events::with_capacity(4),
            theirs,
            stop,
            other: Some(other),
        }
    }
}

impl Workload for Mio {
    fn run(&mut self, n: u64) {
        for _ in 0..n {
            self.theirs.wake().unwrap();
            loop {
                self.poll.poll(&mut self.events, None).unwrap();
                if !self.events.is_empty() {
                    break;
                }
            }
        }
    }

    fn extra(&mut self, _out: &mut Out) {
        self.stop.store(true, Ordering::Release);
        self.theirs.wake().unwrap();
        self.other.take().unwrap().join().unwrap();
    }
}

/// polling: `notify` wakes the other thread's `wait` (which returns with
/// no event).
struct Polling {
    mine: Arc<polling::Poller>,
    theirs: Arc<polling::Poller>,
    events: polling::Events,
    stop: Arc<AtomicBool>,
    other: Option<JoinHandle<()>>,
}

impl Polling {
    fn new() -> Polling {
        let mine = Arc::new(polling::Poller::new().unwrap());
        let theirs = Arc::new(polling::Poller::new().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let (m, t, s) = (Arc::clone(&mine), Arc::clone(&theirs), Arc::clone(&stop));
        let other = std::thread::spawn(move || {
            let mut ev = polling::Events::new();
            loop {
                ev.clear();
                t.wait(&mut ev, None).unwrap();
                if s.load(Ordering::Acquire) {
                    break;
                }
                m.notify().unwrap();
            }
        });
        Polling {
            mine,
            theirs,
            events: polling::Events::new(),
            stop,
            other: Some(other),
        }
    }
}

impl Workload for Polling {
    fn run(&mut self, n: u64) {
        for _ in 0..n {
            self.theirs.notify().unwrap();
            self.events.clear();
            self.mine.wait(&mut self.events, None).unwrap();
        }
    }

    fn extra(&mut self, _out: &mut Out) {
        self.stop.store(true, Ordering::Release);
        self.theirs.notify().unwrap();
        self.other.take().unwrap().join().unwrap();
    }
}
