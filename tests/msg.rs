//! sendmsg/recvmsg with every control message the crate builds or decodes,
//! truncation flags, sendmmsg/recvmmsg batches, and each documented errno.
//!
//! Loopback (127.0.0.0/8, ::1) and Unix socketpairs only. Every receive has
//! a read timeout, every loop a bound. Tests that change process-wide state
//! (uid, rlimits) re-run this binary as a child (see `child_mode`); the fd
//! leak probe lives in its own binary, tests/msg_leaks.rs.

use std::io::{IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use baresock::msg::{self, Cmsg, CmsgBuffer, CmsgError, CmsgWriter, Control, Credentials};
use baresock::msg::{RecvMmsgHdr, SendMmsgHdr};
use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, SockAddr, Type};
use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// Every blocking receive in this file gives up after this long.
const WAIT: Duration = Duration::from_secs(5);
const LO4: Ipv4Addr = Ipv4Addr::LOCALHOST;
const LO6: Ipv6Addr = Ipv6Addr::LOCALHOST;

fn lo_index() -> u32 {
    nix::net::if_::if_nametoindex("lo").expect("lo has an index")
}

/// A UDP socket bound to `ip`, port 0, with a read timeout.
#[track_caller]
fn udp_at(ip: impl Into<IpAddr>) -> OwnedSocket {
    let ip = ip.into();
    let d = if ip.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = OwnedSocket::new(d, Type::DGRAM, Protocol::DEFAULT).unwrap();
    s.bind(&SockAddr::from(SocketAddr::new(ip, 0))).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

#[track_caller]
fn local(s: &OwnedSocket) -> SocketAddr {
    s.local_addr().unwrap().as_socket().unwrap()
}

/// A Unix socketpair whose ends time out on reads.
#[track_caller]
fn unix_pair(ty: Type) -> (OwnedSocket, OwnedSocket) {
    let (a, b) = OwnedSocket::pair(Domain::UNIX, ty, Protocol::DEFAULT).unwrap();
    a.set_read_timeout(Some(WAIT)).unwrap();
    b.set_read_timeout(Some(WAIT)).unwrap();
    (a, b)
}

/// Every message of a received control buffer, each required to parse.
#[track_caller]
fn all<'a>(c: &'a Control<'_>) -> Vec<Cmsg<'a>> {
    c.iter()
        .map(|r| r.expect("kernel control data parses"))
        .collect()
}

#[track_caller]
fn send_with(tx: &OwnedSocket, data: &[u8], to: SocketAddr, control: &[u8]) {
    let n = tx
        .send_msg(
            &[IoSlice::new(data)],
            Some(&SockAddr::from(to)),
            control,
            MsgFlags::NONE,
        )
        .unwrap();
    assert_eq!(n, data.len());
}

#[track_caller]
fn errno(r: std::io::Result<impl std::fmt::Debug>) -> i32 {
    r.expect_err("must fail").raw_os_error().expect("an errno")
}

#[track_caller]
fn is_cloexec(fd: impl AsFd) -> bool {
    let flags = fcntl(fd, FcntlArg::F_GETFD).unwrap();
    FdFlag::from_bits_truncate(flags).contains(FdFlag::FD_CLOEXEC)
}

/// Runs `f` on the first message of `kind` found, else fails.
macro_rules! find {
    ($msgs:expr, $pat:pat => $out:expr) => {
        $msgs
            .iter()
            .find_map(|m| match *m {
                $pat => Some($out),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no {} in {:?}", stringify!($pat), $msgs))
    };
}

// ---------------------------------------------------------------------------
// SCM_RIGHTS

#[test]
fn scm_rights_passes_open_files_as_cloexec_owned_fds() {
    for ty in [Type::DGRAM, Type::STREAM, Type::SEQPACKET] {
        let (a, b) = unix_pair(ty);
        let (pipe_r, pipe_w) = nix::unistd::pipe().unwrap();
        let udp = udp_at(LO4);
        let mut cb = CmsgBuffer::<{ msg::space_for_fds(2) }>::new();
        let mut w = CmsgWriter::new(cb.as_mut_slice());
        w.rights(&[pipe_w.as_fd(), udp.as_fd()]).unwrap();
        a.send_msg(&[IoSlice::new(b"fds")], None, w.as_bytes(), MsgFlags::NONE)
            .unwrap();

        let mut buf = [0u8; 8];
        let mut rcb = CmsgBuffer::<{ msg::space_for_fds(2) }>::new();
        let mut m = b
            .recv_msg(
                &mut [IoSliceMut::new(&mut buf)],
                rcb.as_mut_slice(),
                MsgFlags::NONE,
            )
            .unwrap();
        assert_eq!(m.bytes, 3);
        // No flag at all: not even the MSG_CMSG_CLOEXEC the crate passes
        // in (the kernel echoes it; the crate removes it).
        assert_eq!(m.flags, MsgFlags::NONE, "{ty:?}");
        // The pure view: two fd numbers, new ones (not the sender's).
        let nums: Vec<i32> = match all(&m.control)[..] {
            [Cmsg::Rights(fds)] => fds.iter().collect(),
            ref other => panic!("{ty:?}: {other:?}"),
        };
        assert_eq!(nums.len(), 2);
        assert!(!nums.contains(&pipe_w.as_raw_fd()) && !nums.contains(&udp.as_raw_fd()));

        let fds: Vec<OwnedFd> = m.control.take_fds().collect();
        assert_eq!(fds.iter().map(AsRawFd::as_raw_fd).collect::<Vec<_>>(), nums);
        assert!(m.control.take_fds().next().is_none(), "each fd taken once");
        // Taken slots read as -1 in the parsed view.
        assert!(matches!(all(&m.control)[..], [Cmsg::Rights(f)] if f.iter().all(|x| x == -1)));
        drop(m);
        for fd in &fds {
            assert!(is_cloexec(fd), "{ty:?}: MSG_CMSG_CLOEXEC");
        }

        // The first is the pipe's write end: bytes written through it come
        // out of the read end we kept.
        nix::unistd::write(&fds[0], b"via the copy").unwrap();
        let mut got = [0u8; 12];
        assert_eq!(nix::unistd::read(&pipe_r, &mut got).unwrap(), 12);
        assert_eq!(&got, b"via the copy");

        // The second is the same UDP socket: same local address (nix as
        // the oracle), and a datagram sent to it is read through the copy.
        let mut it = fds.into_iter();
        it.next();
        let copy = OwnedSocket::from(it.next().unwrap());
        let oracle: nix::sys::socket::SockaddrIn =
            nix::sys::socket::getsockname(copy.as_raw_fd()).unwrap();
        assert_eq!(
            SocketAddr::V4(std::net::SocketAddrV4::from(oracle)),
            local(&udp)
        );
        let tx = udp_at(LO4);
        tx.send_to(b"hello copy", &udp.local_addr().unwrap())
            .unwrap();
        let mut got = [0u8; 16];
        let (n, from) = copy.recv_from(&mut got).unwrap();
        assert_eq!(&got[..n], b"hello copy");
        assert_eq!(from.as_socket(), Some(local(&tx)));
    }
}

// ---------------------------------------------------------------------------
// SCM_CREDENTIALS

fn me() -> Credentials {
    Credentials {
        pid: nix::unistd::getpid().as_raw(),
        uid: nix::unistd::geteuid().as_raw(),
        gid: nix::unistd::getegid().as_raw(),
    }
}

#[track_caller]
fn recv_creds(b: &OwnedSocket) -> Credentials {
    let mut buf = [0u8; 16];
    let mut cb = CmsgBuffer::<{ msg::SPACE_CREDENTIALS }>::new();
    let m = b
        .recv_msg(
            &mut [IoSliceMut::new(&mut buf)],
            cb.as_mut_slice(),
            MsgFlags::NONE,
        )
        .unwrap();
    assert!(!m.flags.contains(MsgFlags::CTRUNC));
    let msgs = all(&m.control);
    find!(msgs, Cmsg::Credentials(c) => c)
}

#[test]
fn scm_credentials_sent_and_received() {
    assert_eq!(Credentials::current(), me());
    for ty in [Type::DGRAM, Type::STREAM] {
        let (a, b) = unix_pair(ty);
        b.set_pass_cred(true).unwrap();
        let mut cb = CmsgBuffer::<{ msg::SPACE_CREDENTIALS }>::new();
        let mut w = CmsgWriter::new(cb.as_mut_slice());
        w.credentials(Credentials::current()).unwrap();
        a.send_msg(&[IoSlice::new(b"c")], None, w.as_bytes(), MsgFlags::NONE)
            .unwrap();
        assert_eq!(recv_creds(&b), me(), "{ty:?}");
    }
}

#[test]
fn scm_credentials_filled_in_by_the_kernel_when_pass_cred_is_on() {
    for ty in [Type::DGRAM, Type::STREAM] {
        let (a, b) = unix_pair(ty);
        b.set_pass_cred(true).unwrap();
        a.send(b"no creds sent").unwrap();
        assert_eq!(recv_creds(&b), me(), "{ty:?}");
        // Off again: no SCM_CREDENTIALS.
        b.set_pass_cred(false).unwrap();
        a.send(b"x").unwrap();
        let mut buf = [0u8; 16];
        let mut cb = CmsgBuffer::<64>::new();
        let m = b
            .recv_msg(
                &mut [IoSliceMut::new(&mut buf)],
                cb.as_mut_slice(),
                MsgFlags::NONE,
            )
            .unwrap();
        assert!(all(&m.control).is_empty(), "{ty:?}: {:?}", m.control);
    }
}

// ---------------------------------------------------------------------------
// IP_PKTINFO / IPV6_PKTINFO

#[test]
#[cfg_attr(
    all(qemu_user, target_arch = "s390x"),
    ignore = "qemu-user on s390x: IP_PKTINFO, IP_TOS, IPV6_TCLASS and UDP_GRO/UDP_SEGMENT control data are not byte-swapped"
)]
fn ip_pktinfo_received_gives_destination_and_lo() {
    // Bound to 127.0.0.3, so the destination is not the default 127.0.0.1.
    let rx = udp_at(Ipv4Addr::new(127, 0, 0, 3));
    rx.set_recv_pktinfo_v4(true).unwrap();
    let tx = udp_at(LO4);
    send_with(&tx, b"where to?", local(&rx), &[]);
    let mut buf = [0u8; 16];
    let mut cb = CmsgBuffer::<{ msg::SPACE_PKTINFO_V4 }>::new();
    let m = rx
        .recv_msg(
            &mut [IoSliceMut::new(&mut buf)],
            cb.as_mut_slice(),
            MsgFlags::NONE,
        )
        .unwrap();
    assert_eq!(m.addr.as_socket(), Some(local(&tx)));
    assert_eq!(
        all(&m.control),
        [Cmsg::PktInfoV4 {
            ifindex: lo_index() as i32,
            spec_dst: Ipv4Addr::new(127, 0, 0, 3),
            addr: Ipv4Addr::new(127, 0, 0, 3),
        }]
    );
}

#[test]
#[cfg_attr(
    all(qemu_user, target_arch = "s390x"),
    ignore = "qemu-user on s390x: IP_PKTINFO, IP_TOS, IPV6_TCLASS and UDP_GRO/UDP_SEGMENT control data are not byte-swapped"
)]
fn ip_pktinfo_sent_chooses_the_source_address() {
    let rx = udp_at(LO4);
    let tx = udp_at(LO4);
    for (ifindex, source) in [
        (0, Ipv4Addr::new(127, 0, 0, 2)),
        (lo_index() as i32, Ipv4Addr::new(127, 0, 0, 9)),
    ] {
        let mut cb = CmsgBuffer::<{ msg::SPACE_PKTINFO_V4 }>::new();
        let mut w = CmsgWriter::new(cb.as_mut_slice());
        w.pktinfo_v4(ifindex, source).unwrap();
        send_with(&tx, b"from elsewhere", local(&rx), w.as_bytes());
        let mut buf = [0u8; 32];
        let (n, from) = rx.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"from elsewhere");
        // Same port, the chosen address.
        assert_eq!(
            from.as_socket(),
            Some(SocketAddr::new(source.into(), local(&tx).port()))
        );
    }
}

#[test]
#[cfg_attr(
    all(qemu_user, target_arch = "s390x"),
    ignore = "qemu-user on s390x: IP_PKTINFO, IP_TOS, IPV6_TCLASS and UDP_GRO/UDP_SEGMENT control data are not byte-swapped"
)]
fn ipv6_pktinfo_received_and_sent() {
    let rx = udp_at(LO6);
    rx.set_recv_pktinfo_v6(true).unwrap();
    let tx = udp_at(LO6);
    let mut cb = CmsgBuffer::<{ msg::SPACE_PKTINFO_V6 }>::new();
    let mut w = CmsgWriter::new(cb.as_mut_slice());
    // ::1 is the only loopback address IPv6 has: choose it explicitly,
    // with lo as the outgoing interface.
    w.pktinfo_v6(LO6, lo_index()).unwrap();
    send_with(&tx, b"v6", local(&rx), w.as_bytes());
    let mut buf = [0u8; 16];
    let mut rcb = CmsgBuffer::<{ msg::SPACE_PKTINFO_V6 }>::new();
    let m = rx
        .recv_msg(
            &mut [IoSliceMut::new(&mut buf)],
            rcb.as_mut_slice(),
            MsgFlags::NONE,
        )
        .unwrap();
    assert_eq!(m.addr.as_socket(), Some(local(&tx)));
    assert_eq!(
        all(&m.control),
        [Cmsg::PktInfoV6 {
            addr: LO6,
            ifindex: lo_index(),
        }]
    );
}

// ---------------------------------------------------------------------------
// IP_TTL / IPV6_HOPLIMIT, IP_TOS / IPV6_TCLASS, SO_TIMESTAMPNS

#[test]
fn ip_ttl_and_ipv6_hoplimit_received() {
    let rx = udp_at(LO4);
    rx.set_recv_ttl(true).unwrap();
    let tx = udp_at(LO4);
    tx.set_ttl(7).unwrap();
    send_with(&tx, b"ttl", local(&rx), &[]);
    let mut buf = [0u8; 8];
    let mut cb = CmsgBuffer::<{ msg::SPACE_INT }>::new();
    let m = rx
        .recv_msg(
            &mut [IoSliceMut::new(&mut buf)],
            cb.as_mut_slice(),
            MsgFlags::NONE,
        )
        .unwrap();
    assert_eq!(all(&m.control), [Cmsg::Ttl(7)]);

    let rx = udp_at(LO6);
    rx.set_recv_hoplimit_v6(true).unwrap();
    let tx = udp_at(LO6);
    tx.set_unicast_hops_v6(9).unwrap();
    send_with(&tx, b"hops", local(&rx), &[]);
    let mut cb = CmsgBuffer::<{ msg::SPACE_INT }>::new();
    let m = rx
        .recv_msg(
            &mut [IoSliceMut::new(&mut buf)],
            cb.as_mut_slice(),
            MsgFlags::NONE,
        )
        .unwrap();
    assert_eq!(all(&m.control), [Cmsg::HopLimit(9)]);
}

#[test]
#[cfg_attr(
    all(qemu_user, target_arch = "s390x"),
    ignore = "qemu-user on s390x: IP_PKTINFO, IP_TOS, IPV6_TCLASS and UDP_GRO/UDP_SEGMENT control data are not byte-swapped"
)]
fn ip_tos_sent_as_int_or_byte_and_received_as_byte() {
    let rx = udp_at(LO4);
    rx.set_recv_tos(true).unwrap();
    let tx = udp_at(LO4);
    // The builder sends an int; a hand-built one-byte IP_TOS is accepted
    // too (ip(7) allows both); nothing sent gives the socket's TOS, 0.
    let mut int_form = CmsgBuffer::<{ msg::SPACE_INT }>::new();
    let mut w = CmsgWriter::new(int_form.as_mut_slice());
    w.ip_tos(0xb8).unwrap();
    let int_form = w.as_bytes().to_vec();
    let mut byte_form = CmsgBuffer::<{ msg::SPACE_TOS }>::new();
    let mut w = CmsgWriter::new(byte_form.as_mut_slice());
    w.push(libc::IPPROTO_IP, libc::IP_TOS, &[0x28]).unwrap();
    let byte_form = w.as_bytes().to_vec();
    for (control, want) in [(&int_form[..], 0xb8), (&byte_form[..], 0x28), (&[][..], 0)] {
        send_with(&tx, b"tos", local(&rx), control);
        let mut buf = [0u8; 8];
        let mut cb = CmsgBuffer::<{ msg::SPACE_TOS }>::new();
        let m = rx
            .recv_msg(
                &mut [IoSliceMut::new(&mut buf)],
                cb.as_mut_slice(),
                MsgFlags::NONE,
            )
            .unwrap();
        // Received, IP_TOS is one byte: cmsg_len is CMSG_LEN(1). (The
        // control length the kernel returns includes the padding after it.)
        // cmsg_len is a size_t: the first word of the record.
        let word = std::mem::size_of::<usize>();
        let cmsg_len = usize::from_ne_bytes(m.control.as_bytes()[..word].try_into().unwrap());
        assert_eq!(cmsg_len, msg::cmsg_len(1));
        assert_eq!(m.control.as_bytes().len(), msg::SPACE_TOS);
        assert_eq!(all(&m.control), [Cmsg::Tos(want)]);
    }
}

#[test]
#[cfg_attr(
    all(qemu_user, target_arch = "s390x"),
    ignore = "qemu-user on s390x: IP_PKTINFO, IP_TOS, IPV6_TCLASS and UDP_GRO/UDP_SEGMENT control data are not byte-swapped"
)]
fn ipv6_tclass_sent_and_received() {
    let rx = udp_at(LO6);
    rx.set_recv_tclass_v6(true).unwrap();
    let tx = udp_at(LO6);
    for want in [0xb8u8, 0x20, 0] {
        let mut cb = CmsgBuffer::<{ msg::SPACE_INT }>::new();
        let mut w = CmsgWriter::new(cb.as_mut_slice());
        w.ipv6_tclass(want).unwrap();
        send_with(&tx, b"tclass", local(&rx), w.as_bytes());
        let mut buf = [0u8; 8];
        let mut rcb = CmsgBuffer::<{ msg::SPACE_INT }>::new();
        let m = rx
            .recv_msg(
                &mut [IoSliceMut::new(&mut buf)],
                rcb.as_mut_slice(),
                MsgFlags::NONE,
            )
            .unwrap();
        assert_eq!(all(&m.control), [Cmsg::TrafficClass(i32::from(want))]);
    }
}

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: SO_TIMESTAMPNS and other cmsg switches fail with ENOPROTOOPT"
)]
fn so_timestampns_received_is_plausible() {
    for ip in [IpAddr::from(LO4), IpAddr::from(LO6)] {
        let rx = udp_at(ip);
        rx.set_timestamp_ns(true).unwrap();
        let tx = udp_at(ip);
        let before = now();
        send_with(&tx, b"when", local(&rx), &[]);
        let mut buf = [0u8; 8];
        let mut cb = CmsgBuffer::<{ msg::SPACE_TIMESTAMPNS }>::new();
        let m = rx
            .recv_msg(
                &mut [IoSliceMut::new(&mut buf)],
                cb.as_mut_slice(),
                MsgFlags::NONE,
            )
            .unwrap();
        let after = now();
        let msgs = all(&m.control);
        let ts = find!(msgs, Cmsg::TimestampNs(t) => t);
        // The kernel stamps the packet between our send and our receive;
        // a second of slack either side for clock steps.
        let slack = Duration::from_secs(1);
        assert!(
            ts + slack >= before && ts <= after + slack,
            "{before:?} <= {ts:?} <= {after:?}"
        );
    }
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: SO_TIMESTAMPNS and other cmsg switches fail with ENOPROTOOPT"
)]
fn several_messages_in_one_buffer() {
    let rx = udp_at(LO4);
    rx.set_recv_pktinfo_v4(true).unwrap();
    rx.set_recv_ttl(true).unwrap();
    rx.set_recv_tos(true).unwrap();
    rx.set_timestamp_ns(true).unwrap();
    let tx = udp_at(LO4);
    tx.set_ttl(33).unwrap();
    let mut cb = CmsgBuffer::<{ msg::SPACE_INT }>::new();
    let mut w = CmsgWriter::new(cb.as_mut_slice());
    w.ip_tos(0x10).unwrap();
    send_with(&tx, b"all", local(&rx), w.as_bytes());
    let mut buf = [0u8; 8];
    const SPACE: usize =
        msg::SPACE_PKTINFO_V4 + msg::SPACE_INT + msg::SPACE_TOS + msg::SPACE_TIMESTAMPNS;
    let mut rcb = CmsgBuffer::<SPACE>::new();
    let m = rx
        .recv_msg(
            &mut [IoSliceMut::new(&mut buf)],
            rcb.as_mut_slice(),
            MsgFlags::NONE,
        )
        .unwrap();
    assert!(!m.flags.contains(MsgFlags::CTRUNC), "SPACE suffices");
    let msgs = all(&m.control);
    assert_eq!(msgs.len(), 4, "{msgs:?}");
    assert_eq!(find!(msgs, Cmsg::Ttl(t) => t), 33);
    assert_eq!(find!(msgs, Cmsg::Tos(t) => t), 0x10);
    assert_eq!(find!(msgs, Cmsg::PktInfoV4 { addr, .. } => addr), LO4);
    find!(msgs, Cmsg::TimestampNs(t) => t);
}

// ---------------------------------------------------------------------------
// UDP_SEGMENT (GSO) and UDP_GRO

#[track_caller]
fn recv_plain(rx: &OwnedSocket, buf: &mut [u8]) -> usize {
    rx.recv(buf).unwrap()
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[test]
#[cfg_attr(
    all(qemu_user, target_arch = "s390x"),
    ignore = "qemu-user on s390x: IP_PKTINFO, IP_TOS, IPV6_TCLASS and UDP_GRO/UDP_SEGMENT control data are not byte-swapped"
)]
fn udp_segment_splits_one_send_into_datagrams() {
    let rx = udp_at(LO4);
    let tx = udp_at(LO4);
    let data = pattern(3000);
    let mut cb = CmsgBuffer::<{ msg::SPACE_UDP_SEGMENT }>::new();
    let mut w = CmsgWriter::new(cb.as_mut_slice());
    w.udp_segment(1000).unwrap();
    send_with(&tx, &data, local(&rx), w.as_bytes());
    let mut buf = [0u8; 4000];
    for i in 0..3 {
        assert_eq!(recv_plain(&rx, &mut buf), 1000);
        assert_eq!(&buf[..1000], &data[i * 1000..(i + 1) * 1000]);
    }
    // The socket option does the same for every send; the last segment
    // may be short.
    tx.set_udp_segment(1000).unwrap();
    let data = pattern(2500);
    tx.send_to(&data, &rx.local_addr().unwrap()).unwrap();
    for want in [1000, 1000, 500] {
        assert_eq!(recv_plain(&rx, &mut buf), want);
    }
    rx.set_nonblocking(true).unwrap();
    assert_eq!(errno(rx.recv(&mut buf)), libc::EAGAIN, "nothing more");
}

#[test]
#[cfg_attr(
    all(qemu_user, target_arch = "s390x"),
    ignore = "qemu-user on s390x: IP_PKTINFO, IP_TOS, IPV6_TCLASS and UDP_GRO/UDP_SEGMENT control data are not byte-swapped"
)]
fn udp_gro_receives_a_gso_train_whole_on_loopback() {
    for ip in [IpAddr::from(LO4), IpAddr::from(LO6)] {
        let rx = udp_at(ip);
        rx.set_udp_gro(true).unwrap();
        let tx = udp_at(ip);
        let data = pattern(3000);
        let mut cb = CmsgBuffer::<{ msg::SPACE_UDP_SEGMENT }>::new();
        let mut w = CmsgWriter::new(cb.as_mut_slice());
        w.udp_segment(1000).unwrap();
        send_with(&tx, &data, local(&rx), w.as_bytes());
        let mut buf = [0u8; 4000];
        let mut rcb = CmsgBuffer::<{ msg::SPACE_INT }>::new();
        let m = rx
            .recv_msg(
                &mut [IoSliceMut::new(&mut buf)],
                rcb.as_mut_slice(),
                MsgFlags::NONE,
            )
            .unwrap();
        // Loopback hands the GSO packet to the socket unsplit, since the
        // receiver asked for GRO: one read of all 3000 bytes, with the
        // segment size.
        assert_eq!(m.bytes, 3000, "{ip}");
        assert_eq!(all(&m.control), [Cmsg::UdpGro(1000)], "{ip}");
        drop(m);
        assert_eq!(&buf[..3000], &data[..]);

        // Separate sends are not coalesced on lo (no NAPI GRO there), and a
        // datagram that was not coalesced carries no UDP_GRO message.
        tx.send_to(&data[..500], &rx.local_addr().unwrap()).unwrap();
        tx.send_to(&data[..500], &rx.local_addr().unwrap()).unwrap();
        for _ in 0..2 {
            let mut rcb = CmsgBuffer::<{ msg::SPACE_INT }>::new();
            let m = rx
                .recv_msg(
                    &mut [IoSliceMut::new(&mut buf)],
                    rcb.as_mut_slice(),
                    MsgFlags::NONE,
                )
                .unwrap();
            assert_eq!(m.bytes, 500, "{ip}");
            assert_eq!(all(&m.control), [], "{ip}");
        }
    }
}

// ---------------------------------------------------------------------------
// IP_RECVERR / IPV6_RECVERR

/// A loopback UDP port with nothing bound to it (bound, read, released).
fn closed_port(ip: IpAddr) -> SocketAddr {
    local(&udp_at(ip))
}

#[track_caller]
fn wait_pollerr(s: &OwnedSocket) -> PollFlags {
    for _ in 0..50 {
        let mut fds = [PollFd::new(s.as_fd(), PollFlags::empty())];
        let n = poll(&mut fds, PollTimeout::from(100u16)).unwrap();
        if n == 1 {
            return fds[0].revents().unwrap();
        }
    }
    panic!("no POLLERR within 5 s");
}

#[test]
fn ip_recverr_queues_icmp_port_unreachable() {
    for v6 in [false, true] {
        let ip: IpAddr = if v6 { LO6.into() } else { LO4.into() };
        let s = udp_at(ip);
        if v6 {
            s.set_recv_err_v6(true).unwrap();
        } else {
            s.set_recv_err_v4(true).unwrap();
        }
        let dead = closed_port(ip);
        // Empty queue: MSG_ERRQUEUE never blocks, it says EAGAIN.
        let mut buf = [0u8; 64];
        let mut cb = CmsgBuffer::<{ msg::SPACE_RECVERR }>::new();
        assert_eq!(
            errno(s.recv_msg(
                &mut [IoSliceMut::new(&mut buf)],
                cb.as_mut_slice(),
                MsgFlags::ERRQUEUE
            )),
            libc::EAGAIN
        );

        send_with(&s, b"anyone there?", dead, &[]);
        // The poll extra: an error-queue entry makes the fd report POLLERR
        // even with no events requested.
        let revents = wait_pollerr(&s);
        assert!(revents.contains(PollFlags::POLLERR), "{revents:?}");

        let m = s
            .recv_msg(
                &mut [IoSliceMut::new(&mut buf)],
                cb.as_mut_slice(),
                MsgFlags::ERRQUEUE,
            )
            .unwrap();
        assert!(m.flags.contains(MsgFlags::ERRQUEUE), "{:?}", m.flags);
        // The payload of the datagram that failed, and where it went.
        assert_eq!(&buf[..m.bytes], b"anyone there?");
        assert_eq!(m.addr.as_socket(), Some(dead));
        let msgs = all(&m.control);
        let e = find!(msgs, Cmsg::RecvErr(e) => e);
        assert_eq!(e.errno, libc::ECONNREFUSED);
        let (origin, kind, code) = if v6 {
            // ICMPv6 destination unreachable, port unreachable.
            (libc::SO_EE_ORIGIN_ICMP6, 1, 4)
        } else {
            // ICMP destination unreachable, port unreachable.
            (libc::SO_EE_ORIGIN_ICMP, 3, 3)
        };
        assert_eq!((e.origin, e.kind, e.code), (origin, kind, code));
        assert_eq!(e.offender.map(|a| a.ip()), Some(ip));
        drop(m);

        // Read: the queue is empty and POLLERR gone.
        let mut fds = [PollFd::new(s.as_fd(), PollFlags::empty())];
        assert_eq!(poll(&mut fds, PollTimeout::ZERO).unwrap(), 0);
        assert_eq!(
            errno(s.recv_msg(
                &mut [IoSliceMut::new(&mut buf)],
                cb.as_mut_slice(),
                MsgFlags::ERRQUEUE
            )),
            libc::EAGAIN
        );
    }
}

// ---------------------------------------------------------------------------
// Messages the crate does not decode

#[test]
fn unknown_messages_are_kept_as_other() {
    // SO_TIMESTAMP (the old microsecond one) is not decoded: it comes back
    // as (SOL_SOCKET, SCM_TIMESTAMP, a struct timeval).
    let rx = udp_at(LO4);
    nix::sys::socket::setsockopt(&rx, nix::sys::socket::sockopt::ReceiveTimestamp, &true).unwrap();
    let tx = udp_at(LO4);
    send_with(&tx, b"old", local(&rx), &[]);
    let mut buf = [0u8; 8];
    let mut cb = CmsgBuffer::<64>::new();
    let m = rx
        .recv_msg(
            &mut [IoSliceMut::new(&mut buf)],
            cb.as_mut_slice(),
            MsgFlags::NONE,
        )
        .unwrap();
    match all(&m.control)[..] {
        [Cmsg::Other { level, kind, data }] => {
            assert_eq!((level, kind), (libc::SOL_SOCKET, libc::SCM_TIMESTAMP));
            assert_eq!(data.len(), std::mem::size_of::<libc::timeval>());
        }
        ref o => panic!("{o:?}"),
    }
}

// ---------------------------------------------------------------------------
// MSG_TRUNC and MSG_CTRUNC

#[test]
fn msg_trunc_surfaces_in_flags() {
    let rx = udp_at(LO4);
    let tx = udp_at(LO4);
    let data = pattern(100);
    for flags in [MsgFlags::NONE, MsgFlags::TRUNC] {
        send_with(&tx, &data, local(&rx), &[]);
        let mut buf = [0u8; 10];
        let m = rx
            .recv_msg(&mut [IoSliceMut::new(&mut buf)], &mut [], flags)
            .unwrap();
        assert!(m.flags.contains(MsgFlags::TRUNC));
        // With MSG_TRUNC passed in, the datagram's real length.
        assert_eq!(m.bytes, if flags == MsgFlags::NONE { 10 } else { 100 });
        drop(m);
        assert_eq!(buf[..], data[..10]);
    }
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: its control-message translation differs from the kernel (MSG_CTRUNC, SCM_CREDENTIALS, SCM_RIGHTS room)"
)]
fn msg_ctrunc_cuts_at_the_first_message_that_does_not_fit() {
    let rx = udp_at(LO4);
    rx.set_recv_pktinfo_v4(true).unwrap();
    rx.set_recv_ttl(true).unwrap();
    let tx = udp_at(LO4);
    // Room for IP_PKTINFO and then: nothing, 2 bytes of IP_TTL's 4, all.
    for extra in [0usize, msg::cmsg_len(2), msg::SPACE_INT] {
        send_with(&tx, b"ct", local(&rx), &[]);
        let mut buf = [0u8; 8];
        let mut cb = CmsgBuffer::<{ msg::SPACE_PKTINFO_V4 + msg::SPACE_INT }>::new();
        let room = msg::SPACE_PKTINFO_V4 + extra;
        let m = rx
            .recv_msg(
                &mut [IoSliceMut::new(&mut buf)],
                &mut cb.as_mut_slice()[..room],
                MsgFlags::NONE,
            )
            .unwrap();
        let got: Vec<_> = m.control.iter().collect();
        assert!(matches!(got[0], Ok(Cmsg::PktInfoV4 { .. })), "{got:?}");
        if extra == msg::SPACE_INT {
            assert!(!m.flags.contains(MsgFlags::CTRUNC));
            assert!(matches!(got[1..], [Ok(Cmsg::Ttl(64))]), "{got:?}");
        } else {
            assert!(m.flags.contains(MsgFlags::CTRUNC), "{extra}: {:?}", m.flags);
            if extra == 0 {
                assert_eq!(got.len(), 1, "{got:?}");
            } else {
                // The kernel writes what fits: a header whose cmsg_len
                // says 2 payload bytes. The parser reports it.
                assert_eq!(
                    got[1..],
                    [Err(CmsgError::BadPayload {
                        level: libc::IPPROTO_IP,
                        kind: libc::IP_TTL,
                        len: 2
                    })]
                );
            }
        }
    }
}

#[track_caller]
/// More control data than musl's `sendmsg` copies (into a 1,056-byte
/// array on its stack, `ENOMEM` past it, before the kernel sees anything)
/// still reaches the kernel, on every libc: the crate makes the sendmsg
/// syscall itself. 200 fds and 16 credentials records: 1,328 bytes on
/// 64-bit targets, 1,196 on 32-bit ones.
#[test]
fn control_data_past_musls_stack_copy_is_sent() {
    const FDS: usize = 200;
    const CREDS: usize = 16;
    let (a, b) = unix_pair(Type::DGRAM);
    let (pipe_r, pipe_w) = nix::unistd::pipe().unwrap();
    let mut cb = CmsgBuffer::<{ msg::space_for_fds(FDS) + CREDS * msg::SPACE_CREDENTIALS }>::new();
    let mut w = CmsgWriter::new(cb.as_mut_slice());
    w.rights(&[pipe_w.as_fd(); FDS]).unwrap();
    for _ in 0..CREDS {
        w.credentials(Credentials::current()).unwrap();
    }
    let control = w.as_bytes();
    assert!(control.len() > 1056, "{} bytes", control.len());
    a.send_msg(&[IoSlice::new(b"many")], None, control, MsgFlags::NONE)
        .unwrap();

    let mut buf = [0u8; 8];
    let mut rcb = CmsgBuffer::<{ msg::space_for_fds(FDS) }>::new();
    let mut m = b
        .recv_msg(
            &mut [IoSliceMut::new(&mut buf)],
            rcb.as_mut_slice(),
            MsgFlags::NONE,
        )
        .unwrap();
    assert_eq!(m.bytes, 4);
    assert!(!m.flags.contains(MsgFlags::CTRUNC));
    let fds: Vec<OwnedFd> = m.control.take_fds().collect();
    drop(m);
    assert_eq!(fds.len(), FDS);
    // Each one is the pipe's write end.
    for fd in &fds {
        nix::unistd::write(fd, b"!").unwrap();
    }
    let mut got = [0u8; FDS + 1];
    assert_eq!(nix::unistd::read(&pipe_r, &mut got).unwrap(), FDS);
}

fn send_fds(a: &OwnedSocket, fds: &[std::os::fd::BorrowedFd<'_>]) {
    let mut cb = CmsgBuffer::<{ msg::space_for_fds(16) }>::new();
    let mut w = CmsgWriter::new(cb.as_mut_slice());
    w.rights(fds).unwrap();
    a.send_msg(&[IoSlice::new(b"f")], None, w.as_bytes(), MsgFlags::NONE)
        .unwrap();
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: its control-message translation differs from the kernel (MSG_CTRUNC, SCM_CREDENTIALS, SCM_RIGHTS room)"
)]
fn truncated_rights_hand_over_the_fds_that_arrived() {
    let (a, b) = unix_pair(Type::DGRAM);
    let (pipe_r, pipe_w) = nix::unistd::pipe().unwrap();
    let eight = [pipe_w.as_fd(); 8];
    // Control room -> fds that arrive.
    for (room, arrive) in [
        (0, 0),
        (msg::cmsg_len(0), 0),
        (msg::cmsg_len(3), 0),
        (msg::cmsg_len(4), 1),
        (msg::space_for_fds(2), 2),
        (msg::space_for_fds(2) + 3, 2),
        (msg::cmsg_len(7 * 4), 7),
    ] {
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
        assert!(m.flags.contains(MsgFlags::CTRUNC), "room {room}");
        let taken: Vec<OwnedFd> = m.control.take_fds().collect();
        assert_eq!(taken.len(), arrive, "room {room}: {:?}", m.control);
        assert_eq!(m.control.take_fds().count(), 0, "each fd once");
        for fd in &taken {
            assert!(is_cloexec(fd));
        }
        // Each one is the pipe.
        for fd in &taken {
            nix::unistd::write(fd, b"!").unwrap();
        }
        let mut sink = [0u8; 8];
        if arrive > 0 {
            assert_eq!(nix::unistd::read(&pipe_r, &mut sink).unwrap(), arrive);
        }
    }
    // The kernel fills all the room it is given: space_for_fds(7) is
    // padded to a multiple of sizeof(long). On 64-bit targets that is room
    // for 8 fds, so all 8 arrive with no truncation; on 32-bit targets
    // (4-byte padding) it is room for exactly 7, and the eighth is cut.
    let fit = ((msg::space_for_fds(7) - msg::cmsg_len(0)) / 4).min(8);
    assert_eq!(
        fit,
        if cfg!(target_pointer_width = "64") {
            8
        } else {
            7
        }
    );
    send_fds(&a, &eight);
    let mut buf = [0u8; 1];
    let mut cb = CmsgBuffer::<{ msg::space_for_fds(7) }>::new();
    let mut m = b
        .recv_msg(
            &mut [IoSliceMut::new(&mut buf)],
            cb.as_mut_slice(),
            MsgFlags::NONE,
        )
        .unwrap();
    assert_eq!(m.flags.contains(MsgFlags::CTRUNC), fit < 8);
    assert_eq!(m.control.take_fds().count(), fit);
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: its control-message translation differs from the kernel (MSG_CTRUNC, SCM_CREDENTIALS, SCM_RIGHTS room)"
)]
fn credentials_then_rights_truncated_together() {
    let (a, b) = unix_pair(Type::DGRAM);
    b.set_pass_cred(true).unwrap();
    let (_r, w) = nix::unistd::pipe().unwrap();
    send_fds(&a, &[w.as_fd(); 3]);
    let mut buf = [0u8; 1];
    // Exactly room for the credentials and one fd (space_for_fds(1) would
    // be padded to room for two).
    let mut cb = CmsgBuffer::<{ msg::SPACE_CREDENTIALS + msg::space_for_fds(1) }>::new();
    let room = msg::SPACE_CREDENTIALS + msg::cmsg_len(4);
    let mut m = b
        .recv_msg(
            &mut [IoSliceMut::new(&mut buf)],
            &mut cb.as_mut_slice()[..room],
            MsgFlags::NONE,
        )
        .unwrap();
    assert!(m.flags.contains(MsgFlags::CTRUNC));
    match all(&m.control)[..] {
        [Cmsg::Credentials(c), Cmsg::Rights(f)] => {
            assert_eq!(c, me());
            assert_eq!(f.len(), 1);
        }
        ref o => panic!("{o:?}"),
    }
    assert_eq!(m.control.take_fds().count(), 1);
}

// ---------------------------------------------------------------------------
// sendmmsg / recvmmsg

#[test]
#[cfg_attr(
    all(qemu_user, target_arch = "s390x"),
    ignore = "qemu-user on s390x: IP_PKTINFO, IP_TOS, IPV6_TCLASS and UDP_GRO/UDP_SEGMENT control data are not byte-swapped"
)]
fn mmsg_batch_of_64_each_with_its_own_address_source_and_pktinfo() {
    // Four receivers, each on its own address and port.
    let rx: Vec<OwnedSocket> = (1..=4)
        .map(|i| {
            let s = udp_at(Ipv4Addr::new(127, 0, 0, i));
            s.set_recv_pktinfo_v4(true).unwrap();
            s
        })
        .collect();
    let dests: Vec<SockAddr> = rx.iter().map(|r| r.local_addr().unwrap()).collect();
    let tx = udp_at(LO4);
    let tx_port = local(&tx).port();
    // Message i goes to receiver i % 4, from source 127.0.0.(10 + i % 5)
    // chosen with its own IP_PKTINFO, and carries [i, !i].
    let source = |i: usize| Ipv4Addr::new(127, 0, 0, 10 + (i % 5) as u8);
    let payloads: Vec<[u8; 2]> = (0..64u8).map(|i| [i, !i]).collect();
    let iovs: Vec<[IoSlice<'_>; 1]> = payloads.iter().map(|p| [IoSlice::new(p)]).collect();
    let controls: Vec<Vec<u8>> = (0..64)
        .map(|i| {
            let mut cb = CmsgBuffer::<{ msg::SPACE_PKTINFO_V4 }>::new();
            let mut w = CmsgWriter::new(cb.as_mut_slice());
            w.pktinfo_v4(0, source(i)).unwrap();
            w.as_bytes().to_vec()
        })
        .collect();
    let mut hdrs: Vec<SendMmsgHdr<'_>> = (0..64)
        .map(|i| SendMmsgHdr::new(&iovs[i], Some(&dests[i % 4]), &controls[i]))
        .collect();
    let mut sent = 0;
    for _ in 0..64 {
        if sent == 64 {
            break;
        }
        let n = tx.send_mmsg(&mut hdrs[sent..], MsgFlags::NONE).unwrap();
        assert!(n > 0);
        sent += n;
    }
    assert_eq!(sent, 64);
    assert!(hdrs.iter().all(|h| h.sent() == 2), "{hdrs:?}");

    for (k, r) in rx.iter().enumerate() {
        let mut got = Vec::new();
        for _ in 0..16 {
            if got.len() == 16 {
                break;
            }
            let mut bufs = [[0u8; 4]; 16];
            let mut addrs = [SockAddr::unix_unnamed(); 16];
            let mut ctls = [CmsgBuffer::<{ msg::SPACE_PKTINFO_V4 }>::new(); 16];
            let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
                bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
            let mut slots: Vec<RecvMmsgHdr<'_>> = iovs
                .iter_mut()
                .zip(addrs.iter_mut())
                .zip(ctls.iter_mut())
                .map(|((i, a), c)| RecvMmsgHdr::new(i, Some(a), c.as_mut_slice()))
                .collect();
            let mut batch = r.recv_mmsg(&mut slots, MsgFlags::WAITFORONE).unwrap();
            let mut meta = Vec::new();
            for j in 0..batch.len() {
                let slot = batch.get(j).unwrap();
                assert_eq!(slot.len(), 2);
                assert_eq!(slot.flags(), MsgFlags::NONE);
                let from = batch.addr(j).unwrap().as_socket().unwrap();
                let control = batch.control(j).unwrap();
                let pktinfo = match all(&control)[..] {
                    [Cmsg::PktInfoV4 { ifindex, addr, .. }] => (ifindex, addr),
                    ref o => panic!("{o:?}"),
                };
                meta.push((from, pktinfo));
            }
            let n = batch.len();
            drop(batch);
            // The slots the kernel filled cannot serve again.
            let e = r.recv_mmsg(&mut slots, MsgFlags::DONTWAIT).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
            drop(slots);
            drop(iovs);
            for (j, (from, pktinfo)) in meta.into_iter().enumerate() {
                got.push((bufs[j][0], bufs[j][1], from, pktinfo));
            }
            // The unfilled slots' addresses are untouched.
            assert!(addrs[n..].iter().all(SockAddr::is_unnamed));
        }
        assert_eq!(got.len(), 16, "receiver {k}");
        for (i, inv, from, (ifindex, dst)) in got {
            let i = usize::from(i);
            assert_eq!(inv, !(i as u8));
            assert_eq!(i % 4, k, "datagram {i} reached receiver {k}");
            assert_eq!(from, SocketAddr::new(source(i).into(), tx_port));
            assert_eq!(ifindex, lo_index() as i32);
            assert_eq!(dst, Ipv4Addr::new(127, 0, 0, k as u8 + 1));
        }
        // Nothing more queued.
        let mut buf = [0u8; 4];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut slots = [RecvMmsgHdr::new(&mut iov, None, &mut [])];
        assert_eq!(
            errno(r.recv_mmsg(&mut slots, MsgFlags::DONTWAIT).map(|b| b.len())),
            libc::EAGAIN
        );
    }
}

#[test]
fn recv_mmsg_waitforone_returns_what_is_queued() {
    let rx = udp_at(LO4);
    let tx = udp_at(LO4);
    for p in [b"one", b"two"] {
        send_with(&tx, p, local(&rx), &[]);
    }
    let mut bufs = [[0u8; 8]; 4];
    let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
        bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
    let mut slots: Vec<RecvMmsgHdr<'_>> = iovs
        .iter_mut()
        .map(|i| RecvMmsgHdr::new(i, None, &mut []))
        .collect();
    // Blocking socket, four slots, two datagrams: MSG_WAITFORONE returns
    // after the two (without it recvmmsg would wait for all four, up to
    // the read timeout).
    let mut batch = rx.recv_mmsg(&mut slots, MsgFlags::WAITFORONE).unwrap();
    assert_eq!(batch.len(), 2);
    assert!(batch.control(0).is_none(), "no control buffer given");
    assert!(batch.addr(0).is_none(), "no address buffer given");
    assert!(batch.get(2).is_none());
    drop(batch);
    assert_eq!(slots[2].flags(), MsgFlags::NONE);
    drop(slots);
    drop(iovs);
    assert_eq!(&bufs[0][..3], b"one");
    assert_eq!(&bufs[1][..3], b"two");
}

#[test]
fn mmsg_refuses_more_than_1024_messages() {
    let s = udp_at(LO4);
    let to = s.local_addr().unwrap();
    let mut send: Vec<SendMmsgHdr<'_>> = (0..1025)
        .map(|_| SendMmsgHdr::new(&[], Some(&to), &[]))
        .collect();
    let e = s.send_mmsg(&mut send, MsgFlags::NONE).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(send.iter().all(|h| h.sent() == 0), "nothing sent");
    let mut iovs: Vec<[IoSliceMut<'_>; 0]> = (0..1025).map(|_| []).collect();
    let mut recv: Vec<RecvMmsgHdr<'_>> = iovs
        .iter_mut()
        .map(|i| RecvMmsgHdr::new(i, None, &mut []))
        .collect();
    let e = s.recv_mmsg(&mut recv, MsgFlags::DONTWAIT).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    // 1024 is fine.
    let n = s.send_mmsg(&mut send[..1024], MsgFlags::NONE).unwrap();
    assert!(n > 0);
}

#[test]
fn send_mmsg_stops_at_the_first_failure_and_reports_it_on_the_retry() {
    let rx = udp_at(LO4);
    let tx = udp_at(LO4);
    let to = rx.local_addr().unwrap();
    // The second message carries a malformed control message.
    let mut bad = CmsgBuffer::<{ msg::SPACE_INT }>::new();
    let mut w = CmsgWriter::new(bad.as_mut_slice());
    w.push(libc::IPPROTO_IP, libc::IP_TOS, &256i32.to_ne_bytes())
        .unwrap();
    let bad = w.as_bytes().to_vec();
    let iov = [IoSlice::new(b"m")];
    let mut hdrs = [
        SendMmsgHdr::new(&iov, Some(&to), &[]),
        SendMmsgHdr::new(&iov, Some(&to), &bad),
        SendMmsgHdr::new(&iov, Some(&to), &[]),
    ];
    assert_eq!(tx.send_mmsg(&mut hdrs, MsgFlags::NONE).unwrap(), 1);
    assert_eq!(
        errno(tx.send_mmsg(&mut hdrs[1..], MsgFlags::NONE)),
        libc::EINVAL
    );
    assert_eq!(tx.send_mmsg(&mut hdrs[2..], MsgFlags::NONE).unwrap(), 1);
}

// ---------------------------------------------------------------------------
// Each documented errno

fn rights_raw(numbers: &[i32]) -> Vec<u8> {
    let payload: Vec<u8> = numbers.iter().flat_map(|n| n.to_ne_bytes()).collect();
    let mut v = vec![0u8; msg::cmsg_space(payload.len())];
    let mut w = CmsgWriter::new(&mut v);
    w.push(libc::SOL_SOCKET, libc::SCM_RIGHTS, &payload)
        .unwrap();
    v
}

#[test]
fn send_msg_ebadf_for_an_fd_that_is_not_open() {
    let (a, _b) = unix_pair(Type::DGRAM);
    // Numbers no process can have open: negative, and above the largest
    // fd table the kernel allows (fs.nr_open is at most 2^30 - 64).
    for n in [-1, i32::MIN, i32::MAX] {
        let c = rights_raw(&[n]);
        assert_eq!(
            errno(a.send_msg(&[IoSlice::new(b"x")], None, &c, MsgFlags::NONE)),
            libc::EBADF,
            "{n}"
        );
    }
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: its control-message translation differs from the kernel (MSG_CTRUNC, SCM_CREDENTIALS, SCM_RIGHTS room)"
)]
fn send_msg_einval_for_malformed_or_refused_messages() {
    let (a, _b) = unix_pair(Type::DGRAM);
    let udp = udp_at(LO4);
    let to = udp.local_addr().unwrap();
    let x = [IoSlice::new(b"x")];
    let on_unix = |c: &[u8]| errno(a.send_msg(&x, None, c, MsgFlags::NONE));
    let on_udp = |c: &[u8]| errno(udp.send_msg(&x, Some(&to), c, MsgFlags::NONE));
    let rec = |level, kind, payload: &[u8]| {
        let mut v = vec![0u8; msg::cmsg_space(payload.len())];
        CmsgWriter::new(&mut v).push(level, kind, payload).unwrap();
        v
    };

    // cmsg_len smaller than a header, and past the end of the buffer.
    let mut short = rec(libc::SOL_SOCKET, libc::SCM_RIGHTS, &[0; 4]);
    // cmsg_len is a size_t, the record's first word.
    let word = std::mem::size_of::<usize>();
    // One byte short of a header (15 on 64-bit targets, 11 on 32-bit).
    short[..word].copy_from_slice(&(msg::cmsg_len(0) - 1).to_ne_bytes());
    assert_eq!(on_unix(&short), libc::EINVAL);
    assert_eq!(on_udp(&short), libc::EINVAL);
    let mut long = rec(libc::SOL_SOCKET, libc::SCM_RIGHTS, &[0; 4]);
    long[..word].copy_from_slice(&1000usize.to_ne_bytes());
    assert_eq!(on_unix(&long), libc::EINVAL);
    assert_eq!(on_udp(&long), libc::EINVAL);
    // An unknown type at a level the socket handles.
    assert_eq!(on_unix(&rec(libc::SOL_SOCKET, 99, &[0; 4])), libc::EINVAL);
    assert_eq!(on_udp(&rec(libc::SOL_SOCKET, 99, &[0; 4])), libc::EINVAL);
    assert_eq!(on_udp(&rec(libc::IPPROTO_IP, 999, &[0; 4])), libc::EINVAL);
    assert_eq!(on_udp(&rec(libc::SOL_UDP, 999, &[0; 4])), libc::EINVAL);
    // A value out of range, or of the wrong size.
    let tos256 = rec(libc::IPPROTO_IP, libc::IP_TOS, &256i32.to_ne_bytes());
    assert_eq!(on_udp(&tos256), libc::EINVAL);
    assert_eq!(
        on_unix(&rec(libc::SOL_SOCKET, libc::SCM_CREDENTIALS, &[0; 8])),
        libc::EINVAL
    );
    assert_eq!(
        on_udp(&rec(libc::SOL_UDP, libc::UDP_SEGMENT, &[0; 4])),
        libc::EINVAL
    );
    // More than 253 fds (SCM_MAX_FD) in one send, over two messages (the
    // builder refuses 254 in one).
    let (_r, w) = nix::unistd::pipe().unwrap();
    let mut many = vec![0u8; 2 * msg::space_for_fds(127)];
    let mut cw = CmsgWriter::new(&mut many);
    cw.rights(&[w.as_fd(); 127]).unwrap();
    cw.rights(&[w.as_fd(); 127]).unwrap();
    assert_eq!(on_unix(cw.as_bytes()), libc::EINVAL);
    // SCM_CREDENTIALS with a uid or gid that maps to no one (-1).
    for c in [
        Credentials {
            uid: u32::MAX,
            ..me()
        },
        Credentials {
            gid: u32::MAX,
            ..me()
        },
    ] {
        let mut cb = CmsgBuffer::<{ msg::SPACE_CREDENTIALS }>::new();
        let mut cw = CmsgWriter::new(cb.as_mut_slice());
        cw.credentials(c).unwrap();
        assert_eq!(on_unix(cw.as_bytes()), libc::EINVAL, "{c:?}");
    }
    // GSO: more than 128 segments (UDP_MAX_SEGMENTS) in one send.
    let mut cb = CmsgBuffer::<{ msg::SPACE_UDP_SEGMENT }>::new();
    let mut cw = CmsgWriter::new(cb.as_mut_slice());
    cw.udp_segment(1).unwrap();
    let gso = cw.as_bytes().to_vec();
    let data = [0u8; 129];
    let send_gso = |d: &[u8]| udp.send_msg(&[IoSlice::new(d)], Some(&to), &gso, MsgFlags::NONE);
    assert_eq!(send_gso(&data[..128]).unwrap(), 128);
    assert_eq!(errno(send_gso(&data)), libc::EINVAL);
    // IP_PKTINFO with a multicast or broadcast source; IPv6: any source
    // that is not local.
    for src in [Ipv4Addr::new(224, 0, 0, 1), Ipv4Addr::BROADCAST] {
        let mut cb = CmsgBuffer::<{ msg::SPACE_PKTINFO_V4 }>::new();
        let mut cw = CmsgWriter::new(cb.as_mut_slice());
        cw.pktinfo_v4(0, src).unwrap();
        assert_eq!(on_udp(cw.as_bytes()), libc::EINVAL, "{src}");
    }
    let u6 = udp_at(LO6);
    let to6 = u6.local_addr().unwrap();
    let mut cb = CmsgBuffer::<{ msg::SPACE_PKTINFO_V6 }>::new();
    let mut cw = CmsgWriter::new(cb.as_mut_slice());
    cw.pktinfo_v6("2001:db8::1".parse().unwrap(), 0).unwrap();
    assert_eq!(
        errno(u6.send_msg(&x, Some(&to6), cw.as_bytes(), MsgFlags::NONE)),
        libc::EINVAL
    );
}

#[test]
fn send_msg_ignores_messages_at_levels_the_socket_does_not_handle() {
    // No error, and nothing happens: a Unix socket skips IP levels, an
    // IPv4 socket skips IPv6 ones, and UDP skips SCM_RIGHTS and
    // SCM_CREDENTIALS (the fds are not passed).
    let (a, b) = unix_pair(Type::DGRAM);
    let mut cb = CmsgBuffer::<{ msg::SPACE_INT }>::new();
    let mut w = CmsgWriter::new(cb.as_mut_slice());
    w.ip_tos(0x10).unwrap();
    a.send_msg(&[IoSlice::new(b"t")], None, w.as_bytes(), MsgFlags::NONE)
        .unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(b.recv(&mut buf).unwrap(), 1);

    let rx = udp_at(LO4);
    let tx = udp_at(LO4);
    let (_r, pw) = nix::unistd::pipe().unwrap();
    let mut cb = CmsgBuffer::<{ msg::SPACE_INT + msg::space_for_fds(1) }>::new();
    let mut w = CmsgWriter::new(cb.as_mut_slice());
    w.ipv6_tclass(0x10).unwrap();
    w.rights(&[pw.as_fd()]).unwrap();
    send_with(&tx, b"u", local(&rx), w.as_bytes());
    let mut rcb = CmsgBuffer::<64>::new();
    let m = rx
        .recv_msg(
            &mut [IoSliceMut::new(&mut buf)],
            rcb.as_mut_slice(),
            MsgFlags::NONE,
        )
        .unwrap();
    assert_eq!(m.bytes, 1);
    assert!(all(&m.control).is_empty());
}

#[test]
fn send_msg_emsgsize() {
    let udp = udp_at(LO4);
    let to = udp.local_addr().unwrap();
    // More than IOV_MAX (1024) buffers.
    let iov: Vec<IoSlice<'_>> = (0..1025).map(|_| IoSlice::new(b"a")).collect();
    assert_eq!(
        errno(udp.send_msg(&iov, Some(&to), &[], MsgFlags::NONE)),
        libc::EMSGSIZE
    );
    // A datagram over 65507 bytes, GSO or not.
    let big = vec![0u8; 65508];
    assert_eq!(
        errno(udp.send_msg(&[IoSlice::new(&big)], Some(&to), &[], MsgFlags::NONE)),
        libc::EMSGSIZE
    );
    let mut cb = CmsgBuffer::<{ msg::SPACE_UDP_SEGMENT }>::new();
    let mut w = CmsgWriter::new(cb.as_mut_slice());
    w.udp_segment(60000).unwrap();
    assert_eq!(
        errno(udp.send_msg(
            &[IoSlice::new(&big)],
            Some(&to),
            w.as_bytes(),
            MsgFlags::NONE
        )),
        libc::EMSGSIZE
    );
}

#[test]
fn send_msg_pktinfo_enetunreach_and_enodev() {
    let udp = udp_at(LO4);
    let to = udp.local_addr().unwrap();
    let x = [IoSlice::new(b"x")];
    // A unicast source address this host does not have: 192.0.2.1 is
    // TEST-NET-1. The kernel refuses it at route lookup; the datagram
    // (to 127.0.0.1 anyway) is never built.
    let mut cb = CmsgBuffer::<{ msg::SPACE_PKTINFO_V4 }>::new();
    let mut w = CmsgWriter::new(cb.as_mut_slice());
    w.pktinfo_v4(0, Ipv4Addr::new(192, 0, 2, 1)).unwrap();
    assert_eq!(
        errno(udp.send_msg(&x, Some(&to), w.as_bytes(), MsgFlags::NONE)),
        libc::ENETUNREACH
    );
    // An interface index no interface has.
    let bogus = i32::MAX;
    let mut cb = CmsgBuffer::<{ msg::SPACE_PKTINFO_V4 }>::new();
    let mut w = CmsgWriter::new(cb.as_mut_slice());
    w.pktinfo_v4(bogus, Ipv4Addr::UNSPECIFIED).unwrap();
    assert_eq!(
        errno(udp.send_msg(&x, Some(&to), w.as_bytes(), MsgFlags::NONE)),
        libc::ENODEV
    );
    let u6 = udp_at(LO6);
    let to6 = u6.local_addr().unwrap();
    let mut cb = CmsgBuffer::<{ msg::SPACE_PKTINFO_V6 }>::new();
    let mut w = CmsgWriter::new(cb.as_mut_slice());
    w.pktinfo_v6(Ipv6Addr::UNSPECIFIED, bogus as u32).unwrap();
    assert_eq!(
        errno(u6.send_msg(&x, Some(&to6), w.as_bytes(), MsgFlags::NONE)),
        libc::ENODEV
    );
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: its control-message translation differs from the kernel (MSG_CTRUNC, SCM_CREDENTIALS, SCM_RIGHTS room)"
)]
fn recv_msg_errnos() {
    let udp = udp_at(LO4);
    udp.set_nonblocking(true).unwrap();
    let mut c = [0u8; 64];
    // More than IOV_MAX buffers.
    let mut bufs = vec![[0u8; 1]; 1025];
    let mut iov: Vec<IoSliceMut<'_>> = bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
    assert_eq!(
        errno(
            udp.recv_msg(&mut iov, &mut c, MsgFlags::NONE)
                .map(|m| m.bytes)
        ),
        libc::EMSGSIZE
    );
    // 1024 buffers is fine: nonblocking and empty, so EAGAIN.
    assert_eq!(
        errno(
            udp.recv_msg(&mut iov[..1024], &mut c, MsgFlags::NONE)
                .map(|m| m.bytes)
        ),
        libc::EAGAIN
    );
    // An empty error queue: EAGAIN at once, even on a blocking socket.
    let blocking = udp_at(LO4);
    assert_eq!(
        errno(
            blocking
                .recv_msg(&mut [], &mut c, MsgFlags::ERRQUEUE)
                .map(|m| m.bytes)
        ),
        libc::EAGAIN
    );
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: SO_TIMESTAMPNS and other cmsg switches fail with ENOPROTOOPT"
)]
fn control_message_setters_errnos() {
    let unix = OwnedSocket::new(Domain::UNIX, Type::DGRAM, Protocol::DEFAULT).unwrap();
    let tcp4 = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    let udp4 = OwnedSocket::new(Domain::IPV4, Type::DGRAM, Protocol::DEFAULT).unwrap();
    let udp6 = OwnedSocket::new(Domain::IPV6, Type::DGRAM, Protocol::DEFAULT).unwrap();
    type Setter = fn(&OwnedSocket) -> std::io::Result<()>;
    let ip4: [(&str, Setter); 4] = [
        ("IP_PKTINFO", |s| s.set_recv_pktinfo_v4(true)),
        ("IP_RECVTTL", |s| s.set_recv_ttl(true)),
        ("IP_RECVTOS", |s| s.set_recv_tos(true)),
        ("IP_RECVERR", |s| s.set_recv_err_v4(true)),
    ];
    let ip6: [(&str, Setter); 4] = [
        ("IPV6_RECVPKTINFO", |s| s.set_recv_pktinfo_v6(true)),
        ("IPV6_RECVHOPLIMIT", |s| s.set_recv_hoplimit_v6(true)),
        ("IPV6_RECVTCLASS", |s| s.set_recv_tclass_v6(true)),
        ("IPV6_RECVERR", |s| s.set_recv_err_v6(true)),
    ];
    let udp: [(&str, Setter); 2] = [
        ("UDP_GRO", |s| s.set_udp_gro(true)),
        ("UDP_SEGMENT", |s| s.set_udp_segment(1200)),
    ];
    for (name, set) in ip4.iter().chain(&ip6).chain(&udp) {
        // A Unix socket has no setsockopt for any level but SOL_SOCKET.
        assert_eq!(errno(set(&unix)), libc::EOPNOTSUPP, "{name} on Unix");
        // An IPv6 UDP socket takes every one of them (the IPv4 ones apply
        // to IPv4-mapped traffic).
        set(&udp6).unwrap_or_else(|e| panic!("{name} on udp6: {e}"));
    }
    for (name, set) in &ip4 {
        set(&udp4).unwrap_or_else(|e| panic!("{name} on udp4: {e}"));
    }
    for (name, set) in ip6.iter().chain(&udp) {
        // IPv6 options on an IPv4 socket, UDP options on TCP.
        let s = if name.starts_with("UDP") {
            &tcp4
        } else {
            &udp4
        };
        assert_eq!(errno(set(s)), libc::ENOPROTOOPT, "{name}");
    }
    // SO_PASSCRED is for Unix (and netlink) sockets: Linux 6.16 and later
    // refuse it elsewhere with EOPNOTSUPP (older kernels accepted it and
    // did nothing).
    unix.set_pass_cred(true).unwrap();
    match udp4.set_pass_cred(true) {
        Ok(()) => {}
        Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EOPNOTSUPP)),
    }
    // SO_TIMESTAMPNS works on every socket.
    for s in [&unix, &tcp4, &udp4, &udp6] {
        s.set_timestamp_ns(true).unwrap();
        s.set_timestamp_ns(false).unwrap();
    }
}

// ---------------------------------------------------------------------------
// Errnos that need an unprivileged process: a child re-runs this binary with
// one test selected and CHILD set, drops to uid/gid 65534 ("nobody") when
// it is root, and checks there.

const CHILD: &str = "BARESOCK_MSG_TEST_CHILD";
const NOBODY: u32 = 65534;

fn child_mode() -> Option<String> {
    std::env::var(CHILD).ok()
}

/// Runs `test` alone in a child copy of this binary with `CHILD=mode`; the
/// child prints `marker` when its checks passed.
#[track_caller]
fn run_child(test: &str, mode: &str, marker: &str) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, mode)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains(marker), "child ran no check:\n{stdout}");
}

/// In a child: give up root for good (groups, gid, then uid).
fn drop_root() {
    if nix::unistd::geteuid().is_root() {
        nix::unistd::setgroups(&[]).unwrap();
        nix::unistd::setgid(nix::unistd::Gid::from_raw(NOBODY)).unwrap();
        nix::unistd::setuid(nix::unistd::Uid::from_raw(NOBODY)).unwrap();
    }
    assert!(!nix::unistd::geteuid().is_root());
}

#[track_caller]
fn send_creds(a: &OwnedSocket, c: Credentials) -> std::io::Result<usize> {
    let mut cb = CmsgBuffer::<{ msg::SPACE_CREDENTIALS }>::new();
    let mut w = CmsgWriter::new(cb.as_mut_slice());
    w.credentials(c).unwrap();
    a.send_msg(&[IoSlice::new(b"c")], None, w.as_bytes(), MsgFlags::NONE)
}

/// What an unprivileged sender may and may not claim.
fn unprivileged_credentials_checks() {
    let (a, b) = unix_pair(Type::DGRAM);
    b.set_pass_cred(true).unwrap();
    let mine = Credentials::current();
    send_creds(&a, mine).unwrap();
    assert_eq!(recv_creds(&b), mine);
    let foreign = [
        Credentials { pid: 1, ..mine },
        Credentials {
            uid: mine.uid.wrapping_add(1),
            ..mine
        },
        Credentials {
            gid: mine.gid.wrapping_add(1),
            ..mine
        },
    ];
    for c in foreign {
        assert_eq!(errno(send_creds(&a, c)), libc::EPERM, "{c:?}");
    }
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: scripts/qemu-test's user namespace; root there cannot switch uids or claim others' credentials as on the host"
)]
fn send_msg_credentials_eperm_esrch_and_what_root_may_claim() {
    if child_mode().as_deref() == Some("creds") {
        drop_root();
        unprivileged_credentials_checks();
        println!("child checked EPERM");
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        unprivileged_credentials_checks();
        return;
    }
    // Root (CAP_SYS_ADMIN, CAP_SETUID, CAP_SETGID) may claim any existing
    // pid and any valid uid and gid, and the receiver sees the claim.
    let (a, b) = unix_pair(Type::DGRAM);
    b.set_pass_cred(true).unwrap();
    let claim = Credentials {
        pid: 1,
        uid: 12345,
        gid: 54321,
    };
    send_creds(&a, claim).unwrap();
    assert_eq!(recv_creds(&b), claim);
    // But the pid must be a live process's: ESRCH (pids stop at 2^22).
    for pid in [i32::MAX, 0, -1] {
        let c = Credentials {
            pid,
            ..Credentials::current()
        };
        assert_eq!(errno(send_creds(&a, c)), libc::ESRCH, "{pid}");
    }
    // Without root, foreign ids are EPERM.
    run_child(
        "send_msg_credentials_eperm_esrch_and_what_root_may_claim",
        "creds",
        "child checked EPERM",
    );
}

#[test]
fn send_msg_etoomanyrefs_past_rlimit_nofile_in_flight() {
    if child_mode().as_deref() == Some("refs") {
        // In flight: fds sent and not yet received, counted per user. Past
        // RLIMIT_NOFILE of them, an unprivileged sender gets ETOOMANYREFS.
        let limit = 32;
        nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, limit, limit)
            .unwrap();
        drop_root();
        let (a, _b) = unix_pair(Type::DGRAM);
        a.set_nonblocking(true).unwrap();
        let eight = [a.as_fd(); 8];
        let mut sent = 0;
        let err = loop {
            let mut cb = CmsgBuffer::<{ msg::space_for_fds(8) }>::new();
            let mut w = CmsgWriter::new(cb.as_mut_slice());
            w.rights(&eight).unwrap();
            match a.send_msg(&[IoSlice::new(b"r")], None, w.as_bytes(), MsgFlags::NONE) {
                Ok(_) => sent += 1,
                Err(e) => break e,
            }
            assert!(sent < 100, "no ETOOMANYREFS");
        };
        assert_eq!(err.raw_os_error(), Some(libc::ETOOMANYREFS), "{err}");
        // The check is "already more than the limit in flight": 5 sends of
        // 8 put 40 > 32 in flight, the 6th is refused.
        assert!(sent * 8 > limit as usize, "{sent}");
        println!("child checked ETOOMANYREFS after {sent} sends");
        return;
    }
    // As root or not, the child lowers its own limit (always allowed) and
    // runs unprivileged.
    run_child(
        "send_msg_etoomanyrefs_past_rlimit_nofile_in_flight",
        "refs",
        "child checked ETOOMANYREFS",
    );
}
