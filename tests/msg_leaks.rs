//! The fd leak probe for control messages: fds passed with SCM_RIGHTS are
//! never leaked, whether the control buffer was cut short (MSG_CTRUNC),
//! the fds were taken, half taken or never looked at, peeked, or received
//! in a recvmmsg batch.
//!
//! Its own test binary with a single test: it counts the entries of
//! /proc/self/fd, which any test running in parallel would disturb.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use baresock::msg::{self, CmsgBuffer, CmsgWriter, RecvMmsgHdr};
use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, Type};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[track_caller]
fn send_fds(s: &OwnedSocket, fds: &[BorrowedFd<'_>]) {
    let mut cb = CmsgBuffer::<{ msg::space_for_fds(8) }>::new();
    let mut w = CmsgWriter::new(cb.as_mut_slice());
    w.rights(fds).unwrap();
    s.send_msg(&[IoSlice::new(b"f")], None, w.as_bytes(), MsgFlags::NONE)
        .unwrap();
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: its control-message translation differs from the kernel (MSG_CTRUNC, SCM_CREDENTIALS, SCM_RIGHTS room)"
)]
fn passed_fds_never_leak() {
    let pair = |ty| {
        let (a, b) = OwnedSocket::pair(Domain::UNIX, ty, Protocol::DEFAULT).unwrap();
        b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (a, b)
    };
    let (a, b) = pair(Type::DGRAM);
    let (sa, sb) = pair(Type::STREAM);
    sb.set_pass_cred(true).unwrap();
    let (_pipe_r, pipe_w) = nix::unistd::pipe().unwrap();
    let eight = [pipe_w.as_fd(); 8];
    let rooms = [
        0,
        msg::cmsg_len(0),
        msg::cmsg_len(4),
        msg::space_for_fds(2),
        msg::cmsg_len(7 * 4),
        msg::space_for_fds(8),
    ];

    let before = open_fds();
    for round in 0..20 {
        for &room in &rooms {
            // Truncated or not; fds taken all, one, or none.
            send_fds(&a, &eight);
            let mut buf = [0u8; 1];
            let mut cb = CmsgBuffer::<{ msg::space_for_fds(8) }>::new();
            let mut m = b
                .recv_msg(
                    &mut [IoSliceMut::new(&mut buf)],
                    &mut cb.as_mut_slice()[..room],
                    MsgFlags::NONE,
                )
                .unwrap();
            assert_eq!(
                m.flags.contains(MsgFlags::CTRUNC),
                room < msg::space_for_fds(8)
            );
            match round % 3 {
                0 => drop(m.control.take_fds().collect::<Vec<_>>()),
                1 => drop(m.control.take_fds().next()),
                _ => {}
            }
            drop(m);

            // The same over a stream with credentials first.
            send_fds(&sa, &eight[..3]);
            let mut cb = CmsgBuffer::<{ msg::SPACE_CREDENTIALS + msg::space_for_fds(8) }>::new();
            let cut = (msg::SPACE_CREDENTIALS + room).min(cb.as_mut_slice().len());
            let m = sb
                .recv_msg(
                    &mut [IoSliceMut::new(&mut buf)],
                    &mut cb.as_mut_slice()[..cut],
                    MsgFlags::NONE,
                )
                .unwrap();
            drop(m);
        }

        // Peek, then receive: the kernel installs the fds on each call, and
        // each receive's Control owns its own.
        send_fds(&a, &eight[..2]);
        for flags in [MsgFlags::PEEK, MsgFlags::NONE] {
            let mut buf = [0u8; 1];
            let mut cb = CmsgBuffer::<{ msg::space_for_fds(2) }>::new();
            let m = b
                .recv_msg(&mut [IoSliceMut::new(&mut buf)], cb.as_mut_slice(), flags)
                .unwrap();
            assert_eq!(m.control.iter().count(), 1);
        }

        // A recvmmsg batch: 4 messages with fds into slots with room for
        // 0, 1, 2 and all 8; one message's control looked at and half
        // taken, the rest never looked at.
        for _ in 0..4 {
            send_fds(&a, &eight);
        }
        let mut bufs = [[0u8; 1]; 4];
        let mut ctls = [CmsgBuffer::<{ msg::space_for_fds(8) }>::new(); 4];
        let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
            bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
        let mut slots: Vec<RecvMmsgHdr<'_>> = iovs
            .iter_mut()
            .zip(ctls.iter_mut())
            .zip([0, msg::cmsg_len(4), msg::space_for_fds(2), usize::MAX])
            .map(|((i, c), room)| {
                let c = c.as_mut_slice();
                let room = room.min(c.len());
                RecvMmsgHdr::new(i, None, &mut c[..room])
            })
            .collect();
        let mut batch = b.recv_mmsg(&mut slots, MsgFlags::WAITFORONE).unwrap();
        assert_eq!(batch.len(), 4);
        if let Some(mut c) = batch.control(3) {
            let _one = c.take_fds().next().unwrap();
        }
        drop(batch);
    }
    assert_eq!(open_fds(), before, "an fd leaked");

    // The probe can see a leak: forget a received Control holding 3 fds,
    // and the table grows by exactly 3.
    send_fds(&a, &eight[..3]);
    let mut buf = [0u8; 1];
    let mut cb = CmsgBuffer::<{ msg::space_for_fds(3) }>::new();
    let m = b
        .recv_msg(
            &mut [IoSliceMut::new(&mut buf)],
            cb.as_mut_slice(),
            MsgFlags::NONE,
        )
        .unwrap();
    std::mem::forget(m);
    assert_eq!(open_fds(), before + 3);
}
