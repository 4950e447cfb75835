//! Exact syscall counts of the message calls (feature `stats`): a batch is
//! one syscall whatever its size, and every fd the crate closes for the
//! caller goes through the syscall layer (so trace and fault injection see
//! it).
#![cfg(feature = "stats")]

use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::AsFd;

use baresock::msg::{self, CmsgBuffer, CmsgWriter, RecvMmsgHdr, SendMmsgHdr};
use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, SockAddr, Syscall, Type, stats};

#[test]
fn untaken_fds_are_closed_through_the_syscall_layer() {
    let (a, b) = OwnedSocket::pair(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
    let mut cb = CmsgBuffer::<{ msg::space_for_fds(3) }>::new();
    let mut w = CmsgWriter::new(cb.as_mut_slice());
    w.rights(&[a.as_fd(), a.as_fd(), a.as_fd()]).unwrap();
    a.send_msg(&[IoSlice::new(b"x")], None, w.as_bytes(), MsgFlags::NONE)
        .unwrap();
    let mut buf = [0u8; 1];
    let mut rcb = CmsgBuffer::<{ msg::space_for_fds(3) }>::new();
    stats::reset();
    let mut m = b
        .recv_msg(
            &mut [IoSliceMut::new(&mut buf)],
            rcb.as_mut_slice(),
            MsgFlags::NONE,
        )
        .unwrap();
    assert_eq!(stats::total(), 1, "one recvmsg");
    assert_eq!(stats::count(Syscall::Recvmsg), 1);
    let one = m.control.take_fds().next().unwrap();
    drop(m);
    assert_eq!(stats::count(Syscall::Close), 2, "the two not taken");
    drop(one);
    assert_eq!(stats::total(), 3);
}

#[test]
fn a_batch_is_one_syscall() {
    let rx = OwnedSocket::new(Domain::IPV4, Type::DGRAM, Protocol::DEFAULT).unwrap();
    rx.bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 0))))
        .unwrap();
    let to = rx.local_addr().unwrap();
    let tx = OwnedSocket::new(Domain::IPV4, Type::DGRAM, Protocol::DEFAULT).unwrap();
    let iov = [IoSlice::new(b"d")];
    let mut hdrs: Vec<SendMmsgHdr<'_>> = (0..32)
        .map(|_| SendMmsgHdr::new(&iov, Some(&to), &[]))
        .collect();
    stats::reset();
    assert_eq!(tx.send_mmsg(&mut hdrs, MsgFlags::NONE).unwrap(), 32);
    assert_eq!(stats::total(), 1, "{:?}", stats::snapshot());
    assert_eq!(stats::count(Syscall::Sendmmsg), 1);
    let mut bufs = [[0u8; 1]; 32];
    let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
        bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
    let mut slots: Vec<RecvMmsgHdr<'_>> = iovs
        .iter_mut()
        .map(|i| RecvMmsgHdr::new(i, None, &mut []))
        .collect();
    stats::reset();
    let batch = rx.recv_mmsg(&mut slots, MsgFlags::DONTWAIT).unwrap();
    assert_eq!(batch.len(), 32);
    drop(batch);
    assert_eq!(stats::total(), 1);
    assert_eq!(stats::count(Syscall::Recvmmsg), 1);
}
