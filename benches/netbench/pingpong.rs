//! TCP 1-byte ping-pong, both ends in one thread and one poller, level
//! mode: one byte is always in flight, so each wait reports exactly one
//! socket, which receives the byte and sends it back. One operation is a
//! round trip: two echoes, each a wait, a recv and a send.

use crate::floor;
use crate::harness::{Out, Params, Plan, Workload, check, measure};
use baresock::OwnedSocket;
use baresock::poll::{Epoll, Events, Interest, Poll, Poller, Select, Token};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, RawFd};

pub const CONTENDERS: [&str; 10] = [
    "floor-epoll",
    "ours-epoll",
    "floor-poll",
    "ours-poll",
    "floor-select",
    "ours-select",
    "mio",
    "mio-drain",
    "polling-level",
    "polling-oneshot",
];

const CAP: usize = 64;

pub fn child(contender: &str, p: &Params) -> Out {
    let plan = Plan::from(p);
    let (a, b) = floor::tcp_pair();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    // The first byte: from here on b and a take turns.
    assert_eq!((&a).write(&[1]).unwrap(), 1);
    match contender {
        "floor-epoll" => measure(&plan, &mut FloorEpoll::new(a, b)),
        "floor-poll" => measure(&plan, &mut FloorPoll::new(a, b)),
        "floor-select" => measure(&plan, &mut FloorSelect::new(a, b)),
        "ours-epoll" => measure(&plan, &mut Ours::new(Epoll::new().unwrap(), a, b)),
        "ours-poll" => measure(&plan, &mut Ours::new(Poll::new(), a, b)),
        "ours-select" => measure(&plan, &mut Ours::new(Select::new(), a, b)),
        "mio" => measure(&plan, &mut Mio::new(a, b, false)),
        "mio-drain" => measure(&plan, &mut Mio::new(a, b, true)),
        "polling-level" => measure(&plan, &mut Polling::new(a, b, false)),
        "polling-oneshot" => measure(&plan, &mut Polling::new(a, b, true)),
        other => panic!("pingpong: unknown contender {other}"),
    }
}

/// baresock: any backend, through the `Poller` trait (monomorphised).
struct Ours<P: Poller> {
    poller: P,
    events: Events,
    socks: [OwnedSocket; 2],
    buf: [u8; 64],
}

impl<P: Poller> Ours<P> {
    fn new(mut poller: P, a: TcpStream, b: TcpStream) -> Self {
        let socks = [OwnedSocket::from(a), OwnedSocket::from(b)];
        for (i, s) in socks.iter().enumerate() {
            poller
                .register(s.as_fd(), Token(i), Interest::READABLE)
                .unwrap();
        }
        Ours {
            poller,
            events: Events::with_capacity(CAP),
            socks,
            buf: [0; 64],
        }
    }
}

impl<P: Poller> Workload for Ours<P> {
    fn run(&mut self, n: u64) {
        for _ in 0..2 * n {
            self.poller.wait(&mut self.events, None).unwrap();
            for ev in self.events.iter() {
                let s = &self.socks[ev.token().0];
                let got = s.recv(&mut self.buf).unwrap();
                s.send(&self.buf[..got]).unwrap();
            }
        }
    }
}

/// The floor's epoll loop: data = index of the socket.
struct FloorEpoll {
    epfd: RawFd,
    fds: [RawFd; 2],
    evs: [libc::epoll_event; CAP],
    buf: [u8; 64],
}

impl FloorEpoll {
    fn new(a: TcpStream, b: TcpStream) -> Self {
        let epfd = floor::epoll_create();
        let fds = [a.into_raw_fd(), b.into_raw_fd()];
        for (i, fd) in fds.iter().enumerate() {
            let r = floor::epoll_ctl(
                epfd,
                libc::EPOLL_CTL_ADD,
                *fd,
                libc::EPOLLIN as u32,
                i as u64,
            );
            check(r, "epoll_ctl");
        }
        FloorEpoll {
            epfd,
            fds,
            evs: [libc::epoll_event { events: 0, u64: 0 }; CAP],
            buf: [0; 64],
        }
    }
}

impl Workload for FloorEpoll {
    fn run(&mut self, n: u64) {
        for _ in 0..2 * n {
            let k = check(
                floor::epoll_wait(self.epfd, &mut self.evs, -1),
                "epoll_wait",
            );
            for e in &self.evs[..k] {
                let fd = self.fds[{ e.u64 } as usize];
                let got = check(floor::recv(fd, &mut self.buf), "recv");
                check(floor::send(fd, &self.buf[..got]), "send");
            }
        }
    }
}

/// The floor's poll loop.
struct FloorPoll {
    fds: [libc::pollfd; 2],
    buf: [u8; 64],
}

impl FloorPoll {
    fn new(a: TcpStream, b: TcpStream) -> Self {
        let pfd = |fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        FloorPoll {
            fds: [pfd(a.into_raw_fd()), pfd(b.into_raw_fd())],
            buf: [0; 64],
        }
    }
}

impl Workload for FloorPoll {
    fn run(&mut self, n: u64) {
        for _ in 0..2 * n {
            let mut k = check(floor::poll(&mut self.fds, -1), "poll");
            for i in 0..self.fds.len() {
                if k == 0 {
                    break;
                }
                if self.fds[i].revents == 0 {
                    continue;
                }
                k -= 1;
                let fd = self.fds[i].fd;
                let got = check(floor::recv(fd, &mut self.buf), "recv");
                check(floor::send(fd, &self.buf[..got]), "send");
            }
        }
    }
}

/// The floor's select loop: a master read set copied before each call.
struct FloorSelect {
    fds: [RawFd; 2],
    master: libc::fd_set,
    nfds: i32,
    buf: [u8; 64],
}

impl FloorSelect {
    fn new(a: TcpStream, b: TcpStream) -> Self {
        let fds = [a.into_raw_fd(), b.into_raw_fd()];
        let mut master = floor::fd_set_empty();
        for fd in fds {
            floor::fd_set_add(&mut master, fd);
        }
        FloorSelect {
            fds,
            master,
            nfds: fds[0].max(fds[1]) + 1,
            buf: [0; 64],
        }
    }
}

impl Workload for FloorSelect {
    fn run(&mut self, n: u64) {
        for _ in 0..2 * n {
            let mut set = self.master;
            let mut k = check(floor::select_read(self.nfds, &mut set), "select");
            for fd in self.fds {
                if k == 0 {
                    break;
                }
                if !floor::fd_isset(&set, fd) {
                    continue;
                }
                k -= 1;
                let got = check(floor::recv(fd, &mut self.buf), "recv");
                check(floor::send(fd, &self.buf[..got]), "send");
            }
        }
    }
}

/// mio: edge-triggered always. `drain` reads until WouldBlock, as mio's
/// docs require; without it a short read is taken as drained.
struct Mio {
    poll: mio::Poll,
    events: mio::Events,
    socks: [mio::net::TcpStream; 2],
    drain: bool,
    buf: [u8; 64],
}

impl Mio {
    fn new(a: TcpStream, b: TcpStream, drain: bool) -> Self {
        let poll = mio::Poll::new().unwrap();
        let mut socks = [
            mio::net::TcpStream::from_std(a),
            mio::net::TcpStream::from_std(b),
        ];
        for (i, s) in socks.iter_mut().enumerate() {
            poll.registry()
                .register(s, mio::Token(i), mio::Interest::READABLE)
                .unwrap();
        }
        Mio {
            poll,
            events: mio::Events::with_capacity(CAP),
            socks,
            drain,
            buf: [0; 64],
        }
    }
}

impl Workload for Mio {
    fn run(&mut self, n: u64) {
        for _ in 0..2 * n {
            self.poll.poll(&mut self.events, None).unwrap();
            for ev in self.events.iter() {
                let s = &mut self.socks[ev.token().0];
                let mut got = s.read(&mut self.buf).unwrap();
                if self.drain {
                    loop {
                        match s.read(&mut self.buf[got..]) {
                            Ok(0) => panic!("peer closed"),
                            Ok(k) => got += k,
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                // One send, as every contender makes (a 1-byte send on
                // loopback is never short).
                let sent = s.write(&self.buf[..got]).unwrap();
                debug_assert_eq!(sent, got);
            }
        }
    }
}

/// polling: level mode, or its default oneshot mode (re-armed with
/// `modify` after each event).
struct Polling {
    poller: polling::Poller,
    events: polling::Events,
    socks: [TcpStream; 2],
    oneshot: bool,
    buf: [u8; 64],
}

impl Polling {
    fn new(a: TcpStream, b: TcpStream, oneshot: bool) -> Self {
        let poller = polling::Poller::new().unwrap();
        let socks = [a, b];
        let mode = if oneshot {
            polling::PollMode::Oneshot
        } else {
            polling::PollMode::Level
        };
        for (i, s) in socks.iter().enumerate() {
            // SAFETY: each socket lives in `socks` as long as the poller (the
            // poller is declared, and so dropped, first).
            unsafe {
                poller
                    .add_with_mode(s.as_raw_fd(), polling::Event::readable(i), mode)
                    .unwrap()
            };
        }
        Polling {
            poller,
            events: polling::Events::with_capacity(CAP.try_into().unwrap()),
            socks,
            oneshot,
            buf: [0; 64],
        }
    }
}

impl Workload for Polling {
    fn run(&mut self, n: u64) {
        for _ in 0..2 * n {
            self.events.clear();
            self.poller.wait(&mut self.events, None).unwrap();
            for ev in self.events.iter() {
                let mut s = &self.socks[ev.key];
                let got = s.read(&mut self.buf).unwrap();
                let sent = s.write(&self.buf[..got]).unwrap();
                debug_assert_eq!(sent, got);
                if self.oneshot {
                    self.poller
                        .modify(s, polling::Event::readable(ev.key))
                        .unwrap();
                }
            }
        }
    }
}
