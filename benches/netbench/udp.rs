//! UDP batches: `batch` datagrams of 32 bytes from a to b over connected
//! loopback sockets, sent with one sendmmsg or `batch` sends, then
//! received with one recvmmsg or `batch` recvs. One operation is one
//! batch; the send half and the receive half are timed apart.

use crate::floor;
use crate::harness::{Out, Params, Plan, Workload, check, measure};
use baresock::OwnedSocket;
use baresock::msg::{RecvMmsgHdr, SendMmsgHdr};
use baresock::{MsgFlags, OwnedSocket as Sock};
use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::os::fd::{IntoRawFd, RawFd};
use std::time::Instant;

pub const CONTENDERS: [&str; 4] = ["floor-plain", "ours-plain", "floor-mmsg", "ours-mmsg"];
pub const BATCHES: [u64; 4] = [1, 8, 32, 64];

const SIZE: usize = 32;
static PAYLOAD: [u8; SIZE] = [7; SIZE];
/// Bounded retries when a datagram is not there yet (loopback delivers
/// during the send, so this never loops in practice).
const TRIES: usize = 1_000_000;

pub fn child(contender: &str, p: &Params) -> Out {
    let plan = Plan::from(p);
    let batch = p.u64("batch", 1) as usize;
    macro_rules! by_batch {
        ($make:ident) => {
            match batch {
                1 => measure(&plan, &mut $make::<1>::new()),
                8 => measure(&plan, &mut $make::<8>::new()),
                32 => measure(&plan, &mut $make::<32>::new()),
                64 => measure(&plan, &mut $make::<64>::new()),
                other => panic!("udp: batch {other} not built in"),
            }
        };
    }
    match contender {
        "floor-plain" => by_batch!(FloorPlain),
        "ours-plain" => by_batch!(OursPlain),
        "floor-mmsg" => by_batch!(FloorMmsg),
        "ours-mmsg" => by_batch!(OursMmsg),
        other => panic!("udp: unknown contender {other}"),
    }
}

/// Time spent sending and receiving: running totals the harness turns
/// into per-operation medians.
#[derive(Default)]
struct Split {
    send_ns: u128,
    recv_ns: u128,
}

impl Split {
    fn timers(&self) -> Vec<(&'static str, u128)> {
        vec![
            ("send_ns_per_op", self.send_ns),
            ("recv_ns_per_op", self.recv_ns),
        ]
    }
}

struct OursPlain<const B: usize> {
    a: OwnedSocket,
    b: OwnedSocket,
    split: Split,
}

impl<const B: usize> OursPlain<B> {
    fn new() -> Self {
        let (a, b) = floor::udp_pair();
        OursPlain {
            a: a.into(),
            b: b.into(),
            split: Split::default(),
        }
    }
}

impl<const B: usize> Workload for OursPlain<B> {
    fn run(&mut self, n: u64) {
        let mut buf = [0u8; 64];
        for _ in 0..n {
            let t0 = Instant::now();
            for _ in 0..B {
                self.a.send(&PAYLOAD).unwrap();
            }
            let t1 = Instant::now();
            let mut got = 0;
            for _ in 0..TRIES {
                match self.b.recv(&mut buf) {
                    Ok(_) => got += 1,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => panic!("{e}"),
                }
                if got == B {
                    break;
                }
            }
            assert_eq!(got, B);
            let t2 = Instant::now();
            self.split.send_ns += (t1 - t0).as_nanos();
            self.split.recv_ns += (t2 - t1).as_nanos();
        }
    }

    fn timers(&self) -> Vec<(&'static str, u128)> {
        self.split.timers()
    }
}

struct FloorPlain<const B: usize> {
    a: RawFd,
    b: RawFd,
    split: Split,
}

impl<const B: usize> FloorPlain<B> {
    fn new() -> Self {
        let (a, b) = floor::udp_pair();
        FloorPlain {
            a: a.into_raw_fd(),
            b: b.into_raw_fd(),
            split: Split::default(),
        }
    }
}

impl<const B: usize> Workload for FloorPlain<B> {
    fn run(&mut self, n: u64) {
        let mut buf = [0u8; 64];
        for _ in 0..n {
            let t0 = Instant::now();
            for _ in 0..B {
                check(floor::send(self.a, &PAYLOAD), "send");
            }
            let t1 = Instant::now();
            let mut got = 0;
            for _ in 0..TRIES {
                if floor::recv(self.b, &mut buf) >= 0 {
                    got += 1;
                } else {
                    let e = std::io::Error::last_os_error();
                    assert_eq!(e.kind(), ErrorKind::WouldBlock, "recv: {e}");
                }
                if got == B {
                    break;
                }
            }
            assert_eq!(got, B);
            let t2 = Instant::now();
            self.split.send_ns += (t1 - t0).as_nanos();
            self.split.recv_ns += (t2 - t1).as_nanos();
        }
    }

    fn timers(&self) -> Vec<(&'static str, u128)> {
        self.split.timers()
    }
}

/// baresock's sendmmsg/recvmmsg: the send headers are made once and
/// reused; receive slots serve one call each (the kernel overwrites their
/// lengths), so each call builds `B` fresh ones on the stack.
struct OursMmsg<const B: usize> {
    a: Sock,
    b: Sock,
    send: Vec<SendMmsgHdr<'static>>,
    bufs: [[u8; 64]; B],
    split: Split,
}

impl<const B: usize> OursMmsg<B> {
    fn new() -> Self {
        let (a, b) = floor::udp_pair();
        let iov: &'static [IoSlice<'static>] = Box::leak(Box::new([IoSlice::new(&PAYLOAD)]));
        OursMmsg {
            a: a.into(),
            b: b.into(),
            send: (0..B).map(|_| SendMmsgHdr::new(iov, None, &[])).collect(),
            bufs: [[0; 64]; B],
            split: Split::default(),
        }
    }

    /// One recvmmsg into fresh slots for the messages still missing.
    fn recv_some(&mut self, from: usize) -> usize {
        let mut bufs = self.bufs.iter_mut();
        let mut iovs: [[IoSliceMut<'_>; 1]; B] =
            std::array::from_fn(|_| [IoSliceMut::new(bufs.next().unwrap())]);
        let mut iov_it = iovs.iter_mut();
        let mut slots: [RecvMmsgHdr<'_>; B] =
            std::array::from_fn(|_| RecvMmsgHdr::new(iov_it.next().unwrap(), None, &mut []));
        match self.b.recv_mmsg(&mut slots[from..], MsgFlags::NONE) {
            Ok(batch) => batch.len(),
            Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
            Err(e) => panic!("recv_mmsg: {e}"),
        }
    }
}

impl<const B: usize> Workload for OursMmsg<B> {
    fn run(&mut self, n: u64) {
        for _ in 0..n {
            let t0 = Instant::now();
            let sent = self.a.send_mmsg(&mut self.send, MsgFlags::NONE).unwrap();
            assert_eq!(sent, B);
            let t1 = Instant::now();
            let mut got = 0;
            for _ in 0..TRIES {
                got += self.recv_some(got);
                if got == B {
                    break;
                }
            }
            assert_eq!(got, B);
            let t2 = Instant::now();
            self.split.send_ns += (t1 - t0).as_nanos();
            self.split.recv_ns += (t2 - t1).as_nanos();
        }
    }

    fn timers(&self) -> Vec<(&'static str, u128)> {
        self.split.timers()
    }
}

/// The floor's sendmmsg/recvmmsg: headers built once and reused (with no
/// address and no control data the kernel leaves nothing to reset).
struct FloorMmsg<const B: usize> {
    a: RawFd,
    b: RawFd,
    send: Vec<libc::mmsghdr>,
    recv: Vec<libc::mmsghdr>,
    _iovs: Vec<libc::iovec>,
    _bufs: Vec<[u8; 64]>,
    split: Split,
}

fn mmsghdr(iov: *mut libc::iovec) -> libc::mmsghdr {
    // SAFETY: mmsghdr is plain data; all-zero is an empty header.
    let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
    h.msg_hdr.msg_iov = iov;
    h.msg_hdr.msg_iovlen = 1;
    h
}

impl<const B: usize> FloorMmsg<B> {
    fn new() -> Self {
        let (a, b) = floor::udp_pair();
        let mut bufs = vec![[0u8; 64]; B];
        let mut iovs: Vec<libc::iovec> = bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            })
            .collect();
        iovs.push(libc::iovec {
            iov_base: PAYLOAD.as_ptr().cast_mut().cast(),
            iov_len: SIZE,
        });
        let payload_iov: *mut libc::iovec = &raw mut iovs[B];
        let recv = (0..B).map(|i| mmsghdr(&raw mut iovs[i])).collect();
        let send = (0..B).map(|_| mmsghdr(payload_iov)).collect();
        FloorMmsg {
            a: a.into_raw_fd(),
            b: b.into_raw_fd(),
            send,
            recv,
            _iovs: iovs,
            _bufs: bufs,
            split: Split::default(),
        }
    }
}

impl<const B: usize> Workload for FloorMmsg<B> {
    fn run(&mut self, n: u64) {
        for _ in 0..n {
            let t0 = Instant::now();
            // SAFETY: every header points at an iovec in self._iovs, which
            // point at PAYLOAD; all live as long as self. (`flags` is an
            // int in glibc, an unsigned int in musl: `as _`.)
            let sent = unsafe {
                libc::sendmmsg(
                    self.a,
                    self.send.as_mut_ptr(),
                    B as u32,
                    libc::MSG_NOSIGNAL as _,
                )
            };
            assert_eq!(check(sent as isize, "sendmmsg"), B);
            let t1 = Instant::now();
            let mut got = 0;
            for _ in 0..TRIES {
                let rest = &mut self.recv[got..];
                // SAFETY: every header points at an iovec of self._iovs,
                // which point at the buffers of self._bufs, writable and
                // alive as long as self; NULL timeout.
                let r = unsafe {
                    libc::recvmmsg(
                        self.b,
                        rest.as_mut_ptr(),
                        rest.len() as u32,
                        0,
                        std::ptr::null_mut(),
                    )
                };
                if r >= 0 {
                    got += r as usize;
                } else {
                    let e = std::io::Error::last_os_error();
                    assert_eq!(e.kind(), ErrorKind::WouldBlock, "recvmmsg: {e}");
                }
                if got == B {
                    break;
                }
            }
            assert_eq!(got, B);
            let t2 = Instant::now();
            self.split.send_ns += (t1 - t0).as_nanos();
            self.split.recv_ns += (t2 - t1).as_nanos();
        }
    }

    fn timers(&self) -> Vec<(&'static str, u128)> {
        self.split.timers()
    }
}
