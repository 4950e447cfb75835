//! Wait cost: one ready fd plus N idle ones registered; one operation is
//! one wait, which reports the ready fd (a Unix socket with a byte that is
//! never read). The idle fds are unbound UDP sockets (one fd each, never
//! readable). `ready=first` (the default) makes and registers the ready fd
//! before the idle ones: the lowest fd, the first entry. `ready=last`
//! after them: then every scan, the kernel's and the loop's, reaches it
//! last, and poll and select also queue a wait entry on every idle fd
//! before they find it.

use crate::floor;
use crate::harness::{Out, Params, Plan, Workload, check, measure, raise_nofile};
use baresock::poll::{Epoll, Events, Interest, Poll, Poller, Select, SelectGrowable, Token};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

pub const CONTENDERS: [&str; 6] = [
    "floor-epoll",
    "ours-epoll",
    "floor-poll",
    "ours-poll",
    "floor-select",
    "ours-select",
];

pub const IDLE: [u64; 5] = [0, 10, 100, 1000, 10_000];

/// The fds every contender watches: idle ones, then the ready one.
struct Fds {
    idle: Vec<OwnedFd>,
    ready: UnixStream,
    _peer: UnixStream,
    ready_first: bool,
}

impl Fds {
    fn new(n: usize, ready_first: bool) -> Fds {
        let early = ready_first.then(|| UnixStream::pair().unwrap());
        let idle = (0..n)
            .map(|_| {
                let fd = check(floor::socket(libc::SOCK_DGRAM) as isize, "socket") as RawFd;
                // SAFETY: socket() just returned fd; nothing else owns it.
                unsafe { OwnedFd::from_raw_fd(fd) }
            })
            .collect();
        let (ready, peer) = early.unwrap_or_else(|| UnixStream::pair().unwrap());
        std::io::Write::write_all(&mut &peer, b"x").unwrap();
        Fds {
            idle,
            ready,
            _peer: peer,
            ready_first,
        }
    }

    /// Every fd in registration order.
    fn all(&self) -> Vec<RawFd> {
        let idle = self.idle.iter().map(AsRawFd::as_raw_fd);
        let ready = std::iter::once(self.ready.as_raw_fd());
        if self.ready_first {
            ready.chain(idle).collect()
        } else {
            idle.chain(ready).collect()
        }
    }
}

pub fn child(contender: &str, p: &Params) -> Out {
    raise_nofile();
    let plan = Plan::from(p);
    let ready_first = match p.str("ready").unwrap_or("first") {
        "first" => true,
        "last" => false,
        other => panic!("ready={other}: first or last"),
    };
    let fds = Fds::new(p.u64("n", 0) as usize, ready_first);
    let fixed_select = fds.all().iter().all(|&fd| (fd as usize) < libc::FD_SETSIZE);
    let mut out = match contender {
        "floor-epoll" => measure(&plan, &mut FloorEpoll::new(&fds)),
        "floor-poll" => measure(&plan, &mut FloorPoll::new(&fds)),
        "floor-select" if fixed_select => measure(&plan, &mut FloorSelect::new(&fds)),
        "floor-select" => measure(&plan, &mut FloorSelectWords::new(&fds)),
        "ours-epoll" => measure(&plan, &mut Ours::new(Epoll::new().unwrap(), &fds)),
        "ours-poll" => measure(&plan, &mut Ours::new(Poll::new(), &fds)),
        "ours-select" if fixed_select => measure(&plan, &mut Ours::new(Select::new(), &fds)),
        "ours-select" => measure(&plan, &mut Ours::new(SelectGrowable::new(), &fds)),
        other => panic!("waitcost: unknown contender {other}"),
    };
    out.insert("growable".into(), f64::from(u8::from(!fixed_select)));
    out
}

struct Ours<P: Poller> {
    poller: P,
    events: Events,
}

impl<P: Poller> Ours<P> {
    fn new(mut poller: P, fds: &Fds) -> Self {
        for (i, fd) in fds.all().into_iter().enumerate() {
            // SAFETY: every fd of `fds` is open while the workload runs.
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            poller.register(fd, Token(i), Interest::READABLE).unwrap();
        }
        Ours {
            poller,
            events: Events::with_capacity(64),
        }
    }
}

impl<P: Poller> Workload for Ours<P> {
    fn run(&mut self, n: u64) {
        for _ in 0..n {
            let k = self.poller.wait(&mut self.events, None).unwrap();
            assert_eq!(k, 1);
        }
    }
}

struct FloorEpoll {
    epfd: RawFd,
    evs: [libc::epoll_event; 64],
}

impl FloorEpoll {
    fn new(fds: &Fds) -> Self {
        let epfd = floor::epoll_create();
        for fd in fds.all() {
            let r = floor::epoll_ctl(
                epfd,
                libc::EPOLL_CTL_ADD,
                fd,
                libc::EPOLLIN as u32,
                fd as u64,
            );
            check(r, "epoll_ctl");
        }
        FloorEpoll {
            epfd,
            evs: [libc::epoll_event { events: 0, u64: 0 }; 64],
        }
    }
}

impl Workload for FloorEpoll {
    fn run(&mut self, n: u64) {
        for _ in 0..n {
            let k = check(
                floor::epoll_wait(self.epfd, &mut self.evs, -1),
                "epoll_wait",
            );
            assert_eq!(k, 1);
        }
    }
}

struct FloorPoll {
    fds: Vec<libc::pollfd>,
    seen: usize,
}

impl FloorPoll {
    fn new(fds: &Fds) -> Self {
        FloorPoll {
            fds: fds
                .all()
                .into_iter()
                .map(|fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect(),
            seen: 0,
        }
    }
}

impl Workload for FloorPoll {
    fn run(&mut self, n: u64) {
        for _ in 0..n {
            let mut k = check(floor::poll(&mut self.fds, -1), "poll");
            assert_eq!(k, 1);
            // Find the ready entries, as a loop that then serves them must.
            for pfd in &self.fds {
                if k == 0 {
                    break;
                }
                if pfd.revents != 0 {
                    k -= 1;
                    self.seen += 1;
                }
            }
        }
    }
}

struct FloorSelect {
    fds: Vec<RawFd>,
    master: libc::fd_set,
    nfds: i32,
    seen: usize,
}

impl FloorSelect {
    fn new(fds: &Fds) -> Self {
        let mut master = floor::fd_set_empty();
        let all = fds.all();
        for &fd in &all {
            floor::fd_set_add(&mut master, fd);
        }
        FloorSelect {
            nfds: all.iter().max().unwrap() + 1,
            fds: all,
            master,
            seen: 0,
        }
    }
}

impl Workload for FloorSelect {
    fn run(&mut self, n: u64) {
        for _ in 0..n {
            let mut set = self.master;
            let mut k = check(floor::select_read(self.nfds, &mut set), "select");
            assert_eq!(k, 1);
            for &fd in &self.fds {
                if k == 0 {
                    break;
                }
                if floor::fd_isset(&set, fd) {
                    k -= 1;
                    self.seen += 1;
                }
            }
        }
    }
}

/// select over word arrays sized to the highest fd (above FD_SETSIZE).
struct FloorSelectWords {
    fds: Vec<RawFd>,
    master: Vec<libc::c_ulong>,
    work: Vec<libc::c_ulong>,
    nfds: i32,
    seen: usize,
}

const WORD: usize = libc::c_ulong::BITS as usize;

impl FloorSelectWords {
    fn new(fds: &Fds) -> Self {
        let all = fds.all();
        let nfds = all.iter().max().unwrap() + 1;
        let mut master = vec![0; (nfds as usize).div_ceil(WORD)];
        for &fd in &all {
            master[fd as usize / WORD] |= 1 << (fd as usize % WORD);
        }
        FloorSelectWords {
            work: master.clone(),
            master,
            fds: all,
            nfds,
            seen: 0,
        }
    }
}

impl Workload for FloorSelectWords {
    fn run(&mut self, n: u64) {
        for _ in 0..n {
            self.work.copy_from_slice(&self.master);
            let mut k = check(floor::select_words(self.nfds, &mut self.work), "select");
            assert_eq!(k, 1);
            for &fd in &self.fds {
                if k == 0 {
                    break;
                }
                if self.work[fd as usize / WORD] & (1 << (fd as usize % WORD)) != 0 {
                    k -= 1;
                    self.seen += 1;
                }
            }
        }
    }
}

/// Under valgrind (which answers epoll_pwait2 with ENOSYS), a wait with a
/// sub-millisecond timeout must fall back to epoll_wait and remember it:
/// two such waits make one epoll_pwait2 and two epoll_wait. Needs the
/// `stats` build.
pub fn pwait2_child() -> Out {
    let mut p = Epoll::new().unwrap();
    let mut ev = Events::with_capacity(4);
    let before = crate::harness::syscalls().expect("the pwait2 check needs the stats build");
    for _ in 0..2 {
        p.wait(&mut ev, Some(Duration::from_micros(500))).unwrap();
    }
    let after = crate::harness::syscalls().unwrap();
    let mut out = Out::new();
    for ((name, b), (_, a)) in before.iter().zip(&after) {
        if a != b {
            out.insert(format!("sys.{name}"), (a - b) as f64);
        }
    }
    out
}
