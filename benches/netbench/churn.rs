//! Accept churn, one thread: a blocking client connects and sends a byte;
//! the server's epoll loop sees the listener readable, accepts the
//! connection nonblocking from birth, registers it, sees it readable,
//! receives, echoes, deregisters and closes it; the client receives the
//! echo and closes. One operation is one whole connection.
//!
//! Each child listens on a port of its own, and the server closes first,
//! so the TIME_WAIT entries sit on 4-tuples no later connect asks for.

use crate::floor;
use crate::harness::{Out, Params, Plan, Workload, check, measure};
use baresock::poll::{Epoll, Events, Interest, Poller, Token};
use baresock::{Domain, OwnedSocket, Protocol, SockAddr, Type};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, RawFd};

pub const CONTENDERS: [&str; 2] = ["floor", "ours"];

const LISTENER: usize = 0;
const CONN: usize = 1;

pub fn child(contender: &str, p: &Params) -> Out {
    let plan = Plan::from(p);
    match contender {
        "floor" => measure(&plan, &mut Floor::new()),
        "ours" => measure(&plan, &mut Ours::new()),
        other => panic!("churn: unknown contender {other}"),
    }
}

struct Ours {
    listener: OwnedSocket,
    addr: SockAddr,
    poller: Epoll,
    events: Events,
}

impl Ours {
    fn new() -> Ours {
        let listener =
            OwnedSocket::new_nonblocking(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
        listener
            .bind(&SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)))
            .unwrap();
        listener.listen(128).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut poller = Epoll::new().unwrap();
        poller
            .register(listener.as_fd(), Token(LISTENER), Interest::READABLE)
            .unwrap();
        Ours {
            listener,
            addr,
            poller,
            events: Events::with_capacity(64),
        }
    }

    fn expect(&mut self, token: usize) {
        let n = self.poller.wait(&mut self.events, None).unwrap();
        assert_eq!(n, 1);
        assert_eq!(self.events.iter().next().unwrap().token(), Token(token));
    }
}

impl Workload for Ours {
    fn run(&mut self, n: u64) {
        let mut buf = [0u8; 64];
        for _ in 0..n {
            let client = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
            client.connect(&self.addr).unwrap();
            client.send(&[1]).unwrap();
            self.expect(LISTENER);
            let (conn, _) = self.listener.accept_nonblocking().unwrap();
            self.poller
                .register(conn.as_fd(), Token(CONN), Interest::READABLE)
                .unwrap();
            self.expect(CONN);
            let got = conn.recv(&mut buf).unwrap();
            conn.send(&buf[..got]).unwrap();
            self.poller.deregister(conn.as_fd()).unwrap();
            drop(conn);
            client.recv(&mut buf).unwrap();
            drop(client);
        }
    }
}

struct Floor {
    listener: RawFd,
    addr: libc::sockaddr_in,
    epfd: RawFd,
    evs: [libc::epoll_event; 64],
}

impl Floor {
    fn new() -> Floor {
        let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        l.set_nonblocking(true).unwrap();
        let addr: SocketAddr = l.local_addr().unwrap();
        let listener = std::os::fd::IntoRawFd::into_raw_fd(l);
        let epfd = floor::epoll_create();
        check(
            floor::epoll_ctl(
                epfd,
                libc::EPOLL_CTL_ADD,
                listener,
                libc::EPOLLIN as u32,
                LISTENER as u64,
            ),
            "epoll_ctl",
        );
        Floor {
            listener,
            addr: floor::sockaddr_in(addr),
            epfd,
            evs: [libc::epoll_event { events: 0, u64: 0 }; 64],
        }
    }

    #[inline(always)]
    fn expect(&mut self, token: usize) {
        let k = check(
            floor::epoll_wait(self.epfd, &mut self.evs, -1),
            "epoll_wait",
        );
        assert_eq!(k, 1);
        assert_eq!({ self.evs[0].u64 }, token as u64);
    }
}

impl Workload for Floor {
    fn run(&mut self, n: u64) {
        let mut buf = [0u8; 64];
        for _ in 0..n {
            let client = check(floor::socket(libc::SOCK_STREAM) as isize, "socket") as RawFd;
            check(floor::connect(client, &self.addr), "connect");
            check(floor::send(client, &[1]), "send");
            self.expect(LISTENER);
            let conn = check(
                floor::accept4(self.listener, libc::SOCK_NONBLOCK) as isize,
                "accept4",
            ) as RawFd;
            let r = floor::epoll_ctl(
                self.epfd,
                libc::EPOLL_CTL_ADD,
                conn,
                libc::EPOLLIN as u32,
                CONN as u64,
            );
            check(r, "epoll_ctl add");
            self.expect(CONN);
            let got = check(floor::recv(conn, &mut buf), "recv");
            check(floor::send(conn, &buf[..got]), "send");
            check(
                floor::epoll_ctl(self.epfd, libc::EPOLL_CTL_DEL, conn, 0, 0),
                "epoll_ctl del",
            );
            floor::close(conn);
            check(floor::recv(client, &mut buf), "recv");
            floor::close(client);
        }
    }
}
