//! Blocking send/recv, no poller: a 1-byte round trip over a blocking TCP
//! connection in one thread (a sends, b receives and sends back, a
//! receives). Loopback delivers during the send, so no recv ever sleeps.
//! One operation is a round trip: four syscalls.

use crate::floor;
use crate::harness::{Out, Params, Plan, Workload, check, measure};
use baresock::OwnedSocket;
use std::io::{Read, Write};
use std::mem::MaybeUninit;
use std::net::TcpStream;
use std::os::fd::{IntoRawFd, RawFd};

pub const CONTENDERS: [&str; 4] = ["floor", "ours", "std", "socket2"];

pub fn child(contender: &str, p: &Params) -> Out {
    let plan = Plan::from(p);
    let (a, b) = floor::tcp_pair();
    match contender {
        "floor" => measure(
            &plan,
            &mut Floor {
                a: a.into_raw_fd(),
                b: b.into_raw_fd(),
            },
        ),
        "ours" => measure(
            &plan,
            &mut Ours {
                a: a.into(),
                b: b.into(),
            },
        ),
        "std" => measure(&plan, &mut Std { a, b }),
        "socket2" => measure(
            &plan,
            &mut Socket2 {
                a: a.into(),
                b: b.into(),
            },
        ),
        other => panic!("blocking: unknown contender {other}"),
    }
}

struct Floor {
    a: RawFd,
    b: RawFd,
}

impl Workload for Floor {
    fn run(&mut self, n: u64) {
        let mut buf = [0u8; 64];
        for _ in 0..n {
            check(floor::send(self.a, &[1]), "send");
            let got = check(floor::recv(self.b, &mut buf), "recv");
            check(floor::send(self.b, &buf[..got]), "send");
            check(floor::recv(self.a, &mut buf), "recv");
        }
    }
}

struct Ours {
    a: OwnedSocket,
    b: OwnedSocket,
}

impl Workload for Ours {
    fn run(&mut self, n: u64) {
        let mut buf = [0u8; 64];
        for _ in 0..n {
            self.a.send(&[1]).unwrap();
            let got = self.b.recv(&mut buf).unwrap();
            self.b.send(&buf[..got]).unwrap();
            self.a.recv(&mut buf).unwrap();
        }
    }
}

struct Std {
    a: TcpStream,
    b: TcpStream,
}

impl Workload for Std {
    fn run(&mut self, n: u64) {
        let mut buf = [0u8; 64];
        for _ in 0..n {
            let _ = self.a.write(&[1]).unwrap();
            let got = self.b.read(&mut buf).unwrap();
            let _ = self.b.write(&buf[..got]).unwrap();
            let _ = self.a.read(&mut buf).unwrap();
        }
    }
}

struct Socket2 {
    a: socket2::Socket,
    b: socket2::Socket,
}

impl Workload for Socket2 {
    fn run(&mut self, n: u64) {
        let mut buf = [MaybeUninit::<u8>::uninit(); 64];
        for _ in 0..n {
            self.a.send(&[1]).unwrap();
            let got = self.b.recv(&mut buf).unwrap();
            // SAFETY: the kernel wrote `got` bytes at the start of buf.
            let data: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast(), got) };
            self.b.send(data).unwrap();
            self.a.recv(&mut buf).unwrap();
        }
    }
}
