//! Syscall counts of the typed socket options (feature `stats`): each
//! getter is exactly one `getsockopt`, each setter exactly one
//! `setsockopt`, and input the crate refuses itself (`InvalidInput`) is
//! refused before any syscall. The counters are per thread, so parallel
//! tests do not disturb them.
#![cfg(feature = "stats")]

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use baresock::stats;
use baresock::{Domain, OwnedSocket, Protocol, Syscall, Type};

fn sock(domain: Domain, ty: Type) -> OwnedSocket {
    OwnedSocket::new(domain, ty, Protocol::DEFAULT).expect("socket")
}

/// Runs `f` and returns what it returned with the syscalls it made, as
/// (getsockopt, setsockopt, total).
fn counted<T>(f: impl FnOnce() -> T) -> (T, (u64, u64, u64)) {
    stats::reset();
    let v = f();
    let counts = (
        stats::count(Syscall::Getsockopt),
        stats::count(Syscall::Setsockopt),
        stats::total(),
    );
    (v, counts)
}

#[track_caller]
fn refused_without_a_syscall<T: std::fmt::Debug>(f: impl FnOnce() -> io::Result<T>) {
    let (r, counts) = counted(f);
    let e = r.expect_err("the crate should refuse this input");
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e:?}");
    assert_eq!(e.raw_os_error(), None, "{e:?}");
    assert_eq!(counts, (0, 0, 0), "syscalls made before refusing");
}

#[test]
fn refused_input_makes_no_syscall() {
    let udp = sock(Domain::IPV4, Type::DGRAM);
    let udp6 = sock(Domain::IPV6, Type::DGRAM);
    let tcp = sock(Domain::IPV4, Type::STREAM);

    refused_without_a_syscall(|| udp.bind_device(Some(b"0123456789abcdef")));
    refused_without_a_syscall(|| udp.bind_device(Some(b"l\0o")));
    refused_without_a_syscall(|| udp.set_incoming_cpu(Some(u32::MAX)));
    refused_without_a_syscall(|| udp.set_read_timeout(Some(Duration::ZERO)));
    refused_without_a_syscall(|| udp.set_write_timeout(Some(Duration::ZERO)));
    refused_without_a_syscall(|| udp.set_read_timeout(Some(Duration::MAX)));
    refused_without_a_syscall(|| udp.set_write_timeout(Some(Duration::MAX)));
    refused_without_a_syscall(|| tcp.set_linger(Some(Duration::MAX)));
    refused_without_a_syscall(|| tcp.set_linger(Some(Duration::from_secs(i32::MAX as u64 + 1))));
    refused_without_a_syscall(|| udp.set_recv_buffer_size(usize::MAX));
    refused_without_a_syscall(|| udp.set_send_buffer_size(i32::MAX as usize + 1));
    refused_without_a_syscall(|| udp.set_ttl(u32::MAX));
    refused_without_a_syscall(|| udp.set_multicast_ttl_v4(u32::MAX));
    refused_without_a_syscall(|| udp6.set_unicast_hops_v6(u32::MAX));
    refused_without_a_syscall(|| udp6.set_multicast_hops_v6(u32::MAX));
    refused_without_a_syscall(|| udp6.set_multicast_if_v6(u32::MAX));
    refused_without_a_syscall(|| tcp.set_tcp_keepalive_count(u32::MAX));
    refused_without_a_syscall(|| tcp.set_tcp_keepalive_idle(Duration::MAX));
    refused_without_a_syscall(|| tcp.set_tcp_keepalive_interval(Duration::MAX));
    refused_without_a_syscall(|| tcp.set_tcp_user_timeout(Some(Duration::MAX)));
    refused_without_a_syscall(|| {
        tcp.set_tcp_user_timeout(Some(Duration::from_millis(i32::MAX as u64 + 1)))
    });
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: IP_MULTICAST_IF reads fail (ENOPROTOOPT) and ip_mreqn joins fail (ENODEV)"
)]
fn each_getter_is_one_getsockopt() {
    let udp = sock(Domain::IPV4, Type::DGRAM);
    let udp6 = sock(Domain::IPV6, Type::DGRAM);
    let tcp = sock(Domain::IPV4, Type::STREAM);
    let (a, _b) = OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap();

    let one_get = (1, 0, 1);
    macro_rules! check {
        ($($e:expr),* $(,)?) => {$(
            let (r, counts) = counted(|| $e.map(|_| ()));
            r.unwrap_or_else(|e| panic!("{}: {e}", stringify!($e)));
            assert_eq!(counts, one_get, "{}", stringify!($e));
        )*};
    }
    check!(
        tcp.is_listener(),
        udp.device(),
        udp.broadcast(),
        udp.domain(),
        udp.take_error(),
        udp.incoming_cpu(),
        tcp.keepalive(),
        tcp.linger(),
        a.peer_cred(),
        udp.protocol(),
        udp.recv_buffer_size(),
        udp.read_timeout(),
        udp.reuse_address(),
        udp.reuse_port(),
        udp.send_buffer_size(),
        udp.write_timeout(),
        udp.r#type(),
        udp.multicast_if_v4(),
        udp.multicast_loop_v4(),
        udp.multicast_ttl_v4(),
        udp.ttl(),
        udp6.multicast_hops_v6(),
        udp6.multicast_if_v6(),
        udp6.multicast_loop_v6(),
        udp6.unicast_hops_v6(),
        udp6.only_v6(),
        tcp.tcp_info(),
        tcp.tcp_keepalive_count(),
        tcp.tcp_keepalive_idle(),
        tcp.tcp_keepalive_interval(),
        tcp.nodelay(),
        tcp.tcp_user_timeout(),
    );
    // A refused peer_cred is still one getsockopt: the ENOTCONN is ours,
    // made from what the kernel answered.
    let (r, counts) = counted(|| udp.peer_cred());
    assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::ENOTCONN));
    assert_eq!(counts, one_get);
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: IP_MULTICAST_IF reads fail (ENOPROTOOPT) and ip_mreqn joins fail (ENODEV)"
)]
fn each_setter_is_one_setsockopt() {
    let udp = sock(Domain::IPV4, Type::DGRAM);
    let udp6 = sock(Domain::IPV6, Type::DGRAM);
    let tcp = sock(Domain::IPV4, Type::STREAM);
    let lo = Ipv4Addr::LOCALHOST;
    let group = Ipv4Addr::new(
        239,
        220,
        (std::process::id() >> 8) as u8,
        std::process::id() as u8,
    );

    let one_set = (0, 1, 1);
    macro_rules! check {
        ($($e:expr),* $(,)?) => {$(
            let (r, counts) = counted(|| $e);
            r.unwrap_or_else(|e| panic!("{}: {e}", stringify!($e)));
            assert_eq!(counts, one_set, "{}", stringify!($e));
        )*};
    }
    let reuse = sock(Domain::IPV4, Type::STREAM);
    reuse.set_reuse_port(true).unwrap();
    check!(
        udp.attach_filter(&baresock::bpf::Program::drop_new_syns()),
        udp.detach_filter(),
        reuse.attach_reuseport_cbpf(&baresock::bpf::Program::steer_by_cpu()),
        reuse.detach_reuseport_bpf(),
        udp.bind_device(Some(b"lo")),
        udp.set_broadcast(true),
        tcp.set_incoming_cpu(Some(0)),
        tcp.set_incoming_cpu(None),
        tcp.set_keepalive(true),
        tcp.set_linger(Some(Duration::from_secs(1))),
        tcp.set_linger(None),
        udp.set_recv_buffer_size(8192),
        udp.set_read_timeout(Some(Duration::from_secs(1))),
        udp.set_read_timeout(None),
        udp.set_reuse_address(true),
        udp.set_reuse_port(true),
        udp.set_send_buffer_size(8192),
        udp.set_write_timeout(Some(Duration::from_secs(1))),
        udp.join_multicast_v4(group, lo),
        udp.leave_multicast_v4(group, lo),
        udp.set_multicast_if_v4(lo),
        udp.set_multicast_loop_v4(false),
        udp.set_multicast_ttl_v4(0),
        udp.set_ttl(9),
        udp6.set_multicast_hops_v6(2),
        udp6.set_multicast_if_v6(0),
        udp6.set_multicast_loop_v6(false),
        udp6.set_unicast_hops_v6(9),
        udp6.set_only_v6(true),
        tcp.set_tcp_keepalive_count(3),
        tcp.set_tcp_keepalive_idle(Duration::from_secs(9)),
        tcp.set_tcp_keepalive_interval(Duration::from_secs(9)),
        tcp.set_nodelay(true),
        tcp.set_tcp_user_timeout(Some(Duration::from_millis(9))),
    );
    // Unbinding needs CAP_NET_RAW: Ok as root, EPERM otherwise; one
    // syscall either way. So is any other refusal by the kernel.
    let (_, counts) = counted(|| udp.bind_device(None));
    assert_eq!(counts, one_set);
    let (r, counts) = counted(|| udp6.join_multicast_v6(Ipv6Addr::LOCALHOST, 1));
    assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EINVAL));
    assert_eq!(counts, one_set);
}
