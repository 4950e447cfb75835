//! Classic BPF (`baresock::bpf`): the program checks against the kernel's
//! own (each program `Program::new` refuses, the kernel refuses too, with
//! `EINVAL`, through a raw libc `setsockopt` as the oracle; each it takes,
//! the kernel takes), attach and detach on the test's own sockets with
//! every documented errno, the drop-new-SYNs fence on IPv4 and IPv6
//! listeners (which also proves that a TCP socket's filter sees the TCP
//! header at offset 0), and CPU steering in a reuseport group, with a
//! client thread pinned to each CPU.
//!
//! BPF runs only on sockets the test made, on loopback.
// The oracle's raw setsockopt calls.
#![allow(unsafe_code)]

mod support;

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use baresock::bpf::{Insn, MAX_INSNS, Program};
use baresock::{Domain, OwnedSocket, Protocol, SockAddr, Type};
use nix::poll::PollFlags;
use support::*;

const fn op(v: u32) -> u16 {
    v as u16
}
const RET_K: u16 = op(libc::BPF_RET | libc::BPF_K);
const LD_W_ABS: u16 = op(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS);

fn ret(k: u32) -> Insn {
    Insn::stmt(RET_K, k)
}

fn sock(domain: Domain, ty: Type) -> OwnedSocket {
    OwnedSocket::new(domain, ty, Protocol::DEFAULT).unwrap()
}

/// The kernel's verdict on raw instructions, through libc directly (the
/// oracle: no code of ours between the bytes and the kernel).
fn kernel_attach(s: &OwnedSocket, insns: &[Insn]) -> io::Result<()> {
    let fprog = libc::sock_fprog {
        len: insns.len() as u16,
        filter: insns.as_ptr().cast_mut().cast(),
    };
    // SAFETY: fprog and the instructions it points at outlive the call;
    // the kernel copies them.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&raw const fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: its SO_ATTACH_FILTER translation answers EFAULT for an empty program, and it has no SO_DETACH_FILTER (ENOPROTOOPT)"
)]
fn program_checks_refuse_what_the_kernel_refuses() {
    let jeq = |jt, jf| Insn::jump(op(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K), 0, jt, jf);
    let ja = |k| Insn::stmt(op(libc::BPF_JMP | libc::BPF_JA), k);
    let alu = |o: u32, k| Insn::stmt(op(libc::BPF_ALU | o | libc::BPF_K), k);
    let ld_mem = |k| Insn::stmt(op(libc::BPF_LD | libc::BPF_MEM), k);
    let st = |k| Insn::stmt(op(libc::BPF_ST), k);
    let ad = |n: i32| (libc::SKF_AD_OFF + n) as u32;
    let long = vec![ret(0); MAX_INSNS + 1];
    let refused: Vec<(&str, Vec<Insn>)> = vec![
        ("empty", vec![]),
        ("4,097 instructions", long.clone()),
        ("unknown opcode", vec![Insn::stmt(0xffff, 0), ret(0)]),
        (
            "BPF_RET|BPF_X",
            vec![Insn::stmt(op(libc::BPF_RET | libc::BPF_X), 0)],
        ),
        ("jt past the end", vec![jeq(1, 0), ret(0)]),
        ("jf past the end", vec![jeq(0, 1), ret(0)]),
        ("jt onto the end", vec![jeq(0, 0)]),
        ("ja past the end", vec![ja(1), ret(0)]),
        ("ja far past the end", vec![ja(u32::MAX), ret(0)]),
        ("last not a return", vec![ret(0), alu(libc::BPF_ADD, 1)]),
        ("div by 0", vec![alu(libc::BPF_DIV, 0), ret(0)]),
        ("mod by 0", vec![alu(libc::BPF_MOD, 0), ret(0)]),
        ("lsh by 32", vec![alu(libc::BPF_LSH, 32), ret(0)]),
        ("rsh by 32", vec![alu(libc::BPF_RSH, 32), ret(0)]),
        ("M[16]", vec![st(16), ld_mem(16), ret(0)]),
        ("M[0] read unset", vec![ld_mem(0), ret(0)]),
        (
            "M[0] unset on one path",
            vec![jeq(0, 1), st(0), ld_mem(0), ret(0)],
        ),
        (
            "unknown ancillary",
            vec![Insn::stmt(LD_W_ABS, ad(64)), ret(0)],
        ),
        (
            "unaligned ancillary",
            vec![Insn::stmt(LD_W_ABS, ad(37)), ret(0)],
        ),
    ];
    let s = sock(Domain::IPV4, Type::DGRAM);
    for (what, insns) in &refused {
        let e = Program::new(insns).expect_err(what);
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{what}: {e}");
        assert_eq!(e.raw_os_error(), None, "{what}");
        assert!(e.to_string().contains("BPF"), "{what}: {e}");
        // The kernel agrees (a program longer than u16 is not sent).
        assert_errno(kernel_attach(&s, insns), libc::EINVAL);
    }
    // The edges the checks let through, the kernel takes too.
    let accepted: Vec<(&str, Vec<Insn>)> = vec![
        ("4,096 instructions", vec![ret(0); MAX_INSNS]),
        ("jumps onto the last", vec![jeq(1, 0), ret(1), ret(0)]),
        ("ja onto the last", vec![ja(1), ret(1), ret(0)]),
        (
            "div by 1, lsh by 31",
            vec![alu(libc::BPF_DIV, 1), alu(libc::BPF_LSH, 31), ret(0)],
        ),
        (
            "M[15] stored on both paths",
            vec![st(15), jeq(0, 1), st(15), ld_mem(15), ret(0)],
        ),
        (
            "SKF_AD_CPU",
            Program::steer_by_cpu().instructions().to_vec(),
        ),
        (
            "ancillary VLAN_TPID",
            vec![Insn::stmt(LD_W_ABS, ad(60)), ret(0)],
        ),
        (
            "SKF_NET_OFF",
            vec![Insn::stmt(LD_W_ABS, libc::SKF_NET_OFF as u32), ret(0)],
        ),
        (
            "drop new SYNs",
            Program::drop_new_syns().instructions().to_vec(),
        ),
    ];
    for (what, insns) in &accepted {
        let p = Program::new(insns).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(p.instructions(), &insns[..]);
        kernel_attach(&s, insns).unwrap_or_else(|e| panic!("{what}: the kernel said {e}"));
        s.detach_filter().unwrap();
        s.attach_filter(&p).unwrap();
        s.detach_filter().unwrap();
    }
}

/// ENOMEM: while a filter is replaced, the old and the new are both
/// charged to the socket's option memory (`net.core.optmem_max`); two of
/// 4,096 instructions exceed the 128 KiB default.
#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: SO_DETACH_FILTER is ENOPROTOOPT there (it translates SO_ATTACH_FILTER only)"
)]
fn replacing_a_large_filter_can_exceed_optmem_max() {
    let optmem: u64 = std::fs::read_to_string("/proc/sys/net/core/optmem_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let big = Program::new(&vec![ret(0); MAX_INSNS]).unwrap();
    let s = sock(Domain::IPV4, Type::DGRAM);
    s.attach_filter(&big).unwrap();
    let again = s.attach_filter(&big);
    if optmem <= 131_072 {
        assert_errno(again, libc::ENOMEM);
    } else {
        println!("optmem_max {optmem}: replacing fits ({again:?})");
    }
    // Detached, it fits again.
    s.detach_filter().unwrap();
    s.attach_filter(&big).unwrap();
}

/// A datagram sent to `to`, and whether it arrives within a bounded wait.
fn arrives(from: &OwnedSocket, to: &OwnedSocket, addr: &SockAddr) -> bool {
    from.send_to(b"ping", addr).unwrap();
    if wait_for(to, PollFlags::POLLIN, Duration::from_millis(300)).is_empty() {
        return false;
    }
    let mut buf = [0u8; 8];
    assert_eq!(to.recv(&mut buf).unwrap(), 4);
    true
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: SO_DETACH_FILTER is ENOPROTOOPT there (it translates SO_ATTACH_FILTER only)"
)]
fn attach_filter_drops_and_detach_filter_restores() {
    let (r, addr) = udp_bound(Domain::IPV4);
    let (s, _) = udp_bound(Domain::IPV4);
    assert!(arrives(&s, &r, &addr));
    let drop_all = Program::new(&[ret(0)]).unwrap();
    r.attach_filter(&drop_all).unwrap();
    drop(drop_all); // the kernel copied it
    assert!(!arrives(&s, &r, &addr));
    r.detach_filter().unwrap();
    assert!(arrives(&s, &r, &addr));
    // Nothing attached any more.
    assert_errno(r.detach_filter(), libc::ENOENT);

    // SO_LOCK_FILTER (set through libc): neither attach nor detach.
    r.attach_filter(&Program::new(&[ret(u32::MAX)]).unwrap())
        .unwrap();
    let one: libc::c_int = 1;
    // SAFETY: one is an int that outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            r.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LOCK_FILTER,
            (&raw const one).cast(),
            4,
        )
    };
    assert_eq!(rc, 0);
    assert_errno(
        r.attach_filter(&Program::new(&[ret(0)]).unwrap()),
        libc::EPERM,
    );
    assert_errno(r.detach_filter(), libc::EPERM);
    assert!(arrives(&s, &r, &addr));
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: SO_ATTACH_REUSEPORT_CBPF and SO_DETACH_REUSEPORT_BPF are ENOPROTOOPT there"
)]
fn reuseport_cbpf_attach_and_detach_errnos() {
    let p = Program::steer_by_cpu();
    // No SO_REUSEPORT: no group to attach to, none to detach from.
    let plain = sock(Domain::IPV4, Type::STREAM);
    assert_errno(plain.attach_reuseport_cbpf(&p), libc::EINVAL);
    assert_errno(plain.detach_reuseport_bpf(), libc::EINVAL);
    plain.bind(&v4(0)).unwrap();
    assert_errno(plain.attach_reuseport_cbpf(&p), libc::EINVAL);
    // SO_REUSEPORT on, not bound: the attach makes the group; detach
    // before anything is attached has nothing to remove.
    let a = sock(Domain::IPV4, Type::STREAM);
    a.set_reuse_port(true).unwrap();
    assert_errno(a.detach_reuseport_bpf(), libc::ENOENT);
    a.attach_reuseport_cbpf(&p).unwrap();
    a.bind(&v4(0)).unwrap();
    a.listen(8).unwrap();
    // A second member detaches the group's program: it is the group's.
    let b = sock(Domain::IPV4, Type::STREAM);
    b.set_reuse_port(true).unwrap();
    b.bind(&a.local_addr().unwrap()).unwrap();
    b.listen(8).unwrap();
    b.detach_reuseport_bpf().unwrap();
    assert_errno(a.detach_reuseport_bpf(), libc::ENOENT);
    a.attach_reuseport_cbpf(&p).unwrap();
    a.detach_reuseport_bpf().unwrap();
}

/// Starts a nonblocking connect to `to`; returns the socket.
fn start_connect(domain: Domain, to: &SockAddr) -> OwnedSocket {
    let c = OwnedSocket::new_nonblocking(domain, Type::STREAM, Protocol::DEFAULT).unwrap();
    match c.connect(to) {
        Ok(()) => {}
        Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EINPROGRESS), "{e}"),
    }
    c
}

/// Whether a nonblocking connect completed within a bounded wait.
fn completes(c: &OwnedSocket, wait: Duration) -> bool {
    let ev = wait_for(c, PollFlags::POLLOUT, wait);
    if ev.is_empty() {
        return false;
    }
    assert_eq!(c.take_error().unwrap().map(|e| e.to_string()), None);
    true
}

/// Attaches `Program::drop_new_syns` to a listener with one connection
/// already queued, and checks the fence: a new connect stays in progress,
/// the queued one is still accepted and talks. Returns the listener, its
/// address and the fenced connect.
fn fence(domain: Domain) -> (OwnedSocket, SockAddr, OwnedSocket) {
    let (l, addr) = tcp_listener(domain);
    // Queued before the fence: complete, waiting in the accept queue.
    let queued = start_connect(domain, &addr);
    assert!(completes(&queued, Duration::from_secs(10)));

    l.attach_filter(&Program::drop_new_syns()).unwrap();
    let fenced = start_connect(domain, &addr);
    // Its SYN is dropped: it stays in progress (the first retransmission
    // comes after a second; this looks for 1.5 s).
    assert!(
        !completes(&fenced, Duration::from_millis(1500)),
        "a new connect completed through the filter"
    );
    // No reset, no refusal either.
    assert_eq!(fenced.take_error().unwrap().map(|e| e.to_string()), None);

    // The queued connection is still accepted, and its traffic (ACK set)
    // flows both ways.
    l.set_nonblocking(true).unwrap();
    let (a, _) = retry_until_ready(&l, || l.accept()).unwrap();
    queued.send(b"hello").unwrap();
    let mut buf = [0u8; 8];
    wait_for(&a, PollFlags::POLLIN, Duration::from_secs(10));
    assert_eq!(a.recv(&mut buf).unwrap(), 5);
    a.send(b"back").unwrap();
    wait_for(&queued, PollFlags::POLLIN, Duration::from_secs(10));
    assert_eq!(queued.recv(&mut buf).unwrap(), 4);
    // Nothing else is in the queue: the fenced connect never arrived.
    assert_errno(l.accept(), libc::EAGAIN);
    (l, addr, fenced)
}

#[test]
fn drop_new_syns_fences_an_ipv4_listener() {
    fence(Domain::IPV4);
}

#[test]
fn drop_new_syns_fences_an_ipv6_listener() {
    fence(Domain::IPV6);
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: SO_DETACH_FILTER is ENOPROTOOPT there (it translates SO_ATTACH_FILTER only)"
)]
fn detaching_drop_new_syns_restores_new_connects() {
    for domain in [Domain::IPV4, Domain::IPV6] {
        let (l, addr, _fenced) = fence(domain);
        l.detach_filter().unwrap();
        let after = start_connect(domain, &addr);
        assert!(completes(&after, Duration::from_secs(10)), "{domain:?}");
    }
}

/// Offset 0 is the TCP header for a TCP socket's filter, for IPv4 and
/// IPv6 alike: a filter that keeps only segments whose destination port
/// (bytes 2-3, loaded big-endian into a host integer) is the listener's
/// lets connections in; one that wants another port blocks them.
#[test]
fn a_tcp_filter_sees_the_tcp_header_at_offset_0() {
    for domain in [Domain::IPV4, Domain::IPV6] {
        for matching in [true, false] {
            let (l, addr) = tcp_listener(domain);
            let port = u32::from(port_of(&addr));
            let want = if matching { port } else { port ^ 1 };
            let p = Program::new(&[
                Insn::stmt(op(libc::BPF_LD | libc::BPF_H | libc::BPF_ABS), 2),
                Insn::jump(op(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K), want, 0, 1),
                ret(u32::MAX),
                ret(0),
            ])
            .unwrap();
            l.attach_filter(&p).unwrap();
            let c = start_connect(domain, &addr);
            let wait = if matching { 10_000 } else { 1500 };
            assert_eq!(
                completes(&c, Duration::from_millis(wait)),
                matching,
                "{domain:?}, port {want} in the filter, listener on {port}"
            );
        }
    }
}

/// How a reuseport group chooses by CPU.
#[derive(Clone, Copy, Debug)]
enum Steer {
    /// `Program::steer_by_cpu` on the group (SO_ATTACH_REUSEPORT_CBPF).
    Cbpf,
    /// `SO_INCOMING_CPU` set to its index on each listener, no program.
    IncomingCpu,
}

/// Connections a client thread pinned to each CPU makes; all must land
/// on the listener whose index is that CPU.
const PER_CPU: usize = 20;

fn steering_by_cpu(how: Steer) {
    let allowed: Vec<usize> = baresock::cpu::affinity(0).unwrap().iter().collect();
    // One listener per CPU number up to the highest this process may use
    // (index = CPU number), at most 64; clients on at most 4 CPUs.
    let top = *allowed.iter().max().unwrap();
    assert!(top < 64, "CPUs up to {top}: too many listeners for a test");
    let mut listeners = Vec::new();
    for i in 0..=top {
        let l = sock(Domain::IPV4, Type::STREAM);
        l.set_reuse_port(true).unwrap();
        match how {
            Steer::Cbpf if i == 0 => l.attach_reuseport_cbpf(&Program::steer_by_cpu()).unwrap(),
            Steer::Cbpf => {}
            Steer::IncomingCpu => l.set_incoming_cpu(Some(i as u32)).unwrap(),
        }
        // Bound in index order: the group's index is the bind order.
        let at = listeners
            .first()
            .map_or_else(|| v4(0), |l: &OwnedSocket| l.local_addr().unwrap());
        l.bind(&at).unwrap();
        l.listen(128).unwrap();
        l.set_nonblocking(true).unwrap();
        listeners.push(l);
    }
    let addr = listeners[0].local_addr().unwrap();
    for &cpu in allowed.iter().take(4) {
        let clients = std::thread::spawn(move || {
            // This thread's own affinity; it ends with the thread, and is
            // put back anyway.
            let before = baresock::cpu::affinity(0).unwrap();
            baresock::cpu::set_affinity(0, &baresock::cpu::CpuSet::single(cpu).unwrap()).unwrap();
            let mut v = Vec::new();
            for _ in 0..PER_CPU {
                let c = sock(Domain::IPV4, Type::STREAM);
                c.connect(&addr).unwrap();
                v.push(c);
            }
            baresock::cpu::set_affinity(0, &before).unwrap();
            v
        });
        let clients = clients.join().unwrap();
        // Every handshake is complete: each connection waits in the queue
        // of the listener the kernel chose.
        let mut landed = vec![0usize; listeners.len()];
        for (i, l) in listeners.iter().enumerate() {
            while let Ok((a, _)) = l.accept() {
                drop(a);
                landed[i] += 1;
            }
        }
        let mut want = vec![0usize; listeners.len()];
        want[cpu] = PER_CPU;
        assert_eq!(
            landed, want,
            "{how:?}: connections from CPU {cpu}, per listener"
        );
        drop(clients);
    }
}

#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: SO_ATTACH_REUSEPORT_CBPF is ENOPROTOOPT there"
)]
fn steer_by_cpu_gives_each_cpu_its_listener() {
    steering_by_cpu(Steer::Cbpf);
}

#[test]
#[cfg_attr(qemu_user, ignore = "qemu-user: SO_INCOMING_CPU is ENOPROTOOPT there")]
fn so_incoming_cpu_gives_each_cpu_its_listener() {
    steering_by_cpu(Steer::IncomingCpu);
}
