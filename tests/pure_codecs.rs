//! The pure codecs on generated inputs: socket addresses, control
//! messages, readiness translation, the activation environment and the
//! getsockopt value decoders. No fd and no syscall, so `scripts/check-deep`
//! runs this file under Miri with `-Zmiri-strict-provenance` (fewer
//! iterations there: Miri is slow), and the normal suite runs it natively.
//! The fuzz targets explore the same functions far longer; this file gives
//! Miri a broad, deterministic sample of what they feed.

use baresock::SockAddr;
use baresock::activation::{EnvError, MAX_LISTEN_FDS, parse_env};
use baresock::addr::{Addr, decode};
use baresock::msg::{self, Cmsg, CmsgError, CmsgWriter, Credentials};
use baresock::opt::decode as optdec;
use baresock::poll::{Event, Interest, Token};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::Duration;

/// Iterations per generated test: few under Miri, more natively.
const N: usize = if cfg!(miri) { 40 } else { 4_000 };

/// xorshift64*: deterministic, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn sockaddr_decode_never_trusts_the_length() {
    let mut rng = Rng(0x5eed_0001);
    let families = [
        libc::AF_INET as u16,
        libc::AF_INET6 as u16,
        libc::AF_UNIX as u16,
        0xffff,
    ];
    for _ in 0..N {
        let len = rng.below(132);
        let mut b = rng.bytes(len);
        if len >= 2 {
            let f = families[rng.below(families.len())];
            b[..2].copy_from_slice(&f.to_ne_bytes());
        }
        let Ok(addr) = decode(&b) else {
            assert!(!(2..=128).contains(&len) || (len < 28 && b[..2] != [0xff, 0xff]));
            continue;
        };
        let owned = SockAddr::from_bytes(&b).unwrap();
        assert_eq!(owned.decode(), Ok(addr));
        match addr {
            Addr::V4(a) => assert_eq!(SockAddr::from(a).as_socket_ipv4(), Some(a)),
            Addr::V6(a) => assert_eq!(SockAddr::from(a).as_socket_ipv6(), Some(a)),
            Addr::UnixPath(p) => assert_eq!(SockAddr::unix(p).unwrap().as_unix_path(), Some(p)),
            Addr::UnixAbstract(n) => {
                assert_eq!(
                    SockAddr::unix_abstract(n).unwrap().as_abstract_name(),
                    Some(n)
                )
            }
            Addr::UnixUnnamed => assert_eq!(len, 2),
            Addr::Other { data, .. } => assert_eq!(data.len(), len - 2),
            _ => {}
        }
    }
}

#[test]
fn sockaddr_encode_round_trips() {
    let mut rng = Rng(0x5eed_0002);
    for _ in 0..N {
        let v4 = SocketAddrV4::new(Ipv4Addr::from(rng.next() as u32), rng.next() as u16);
        assert_eq!(SockAddr::from(v4).as_socket(), Some(SocketAddr::V4(v4)));
        let v6 = SocketAddrV6::new(
            Ipv6Addr::from(u128::from(rng.next()) << 64 | u128::from(rng.next())),
            rng.next() as u16,
            rng.next() as u32,
            rng.next() as u32,
        );
        assert_eq!(SockAddr::from(v6).as_socket(), Some(SocketAddr::V6(v6)));
        let n = rng.below(110);
        let name = rng.bytes(n);
        match SockAddr::unix_abstract(&name) {
            Ok(a) => assert_eq!(a.as_abstract_name(), Some(&name[..])),
            Err(_) => assert!(name.len() > 107),
        }
        let path: Vec<u8> = (0..1 + rng.below(110))
            .map(|_| b'a' + rng.below(26) as u8)
            .collect();
        let p = std::path::Path::new(std::str::from_utf8(&path).unwrap());
        match SockAddr::unix(p) {
            Ok(a) => assert_eq!(a.as_unix_path(), Some(p)),
            Err(_) => assert!(path.len() > 108),
        }
    }
}

#[test]
fn cmsg_parse_stops_cleanly_on_hostile_framing() {
    let mut rng = Rng(0x5eed_0003);
    let hdr = size_of::<libc::cmsghdr>();
    for _ in 0..N {
        let n = rng.below(200);
        let mut b = rng.bytes(n);
        // Plausible headers now and then, so the walk gets past the first.
        let mut at = 0;
        while at + hdr <= b.len() && rng.below(3) != 0 {
            let len = hdr + rng.below(40);
            // cmsghdr: a size_t, then level and type; records padded to a
            // multiple of sizeof(long) (8 or 4 bytes with the target).
            const W: usize = size_of::<usize>();
            b[at..at + W].copy_from_slice(&len.to_ne_bytes());
            let (level, kind) = [
                (libc::SOL_SOCKET, libc::SCM_RIGHTS),
                (libc::SOL_SOCKET, libc::SCM_CREDENTIALS),
                (libc::IPPROTO_IP, libc::IP_PKTINFO),
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO),
                (libc::IPPROTO_IP, libc::IP_TTL),
            ][rng.below(5)];
            b[at + W..at + W + 4].copy_from_slice(&level.to_ne_bytes());
            b[at + W + 4..at + W + 8].copy_from_slice(&kind.to_ne_bytes());
            at += len.div_ceil(W) * W;
        }
        let mut stopped = false;
        for item in msg::parse(&b) {
            assert!(!stopped, "the walk went on after a framing error");
            match item {
                Ok(Cmsg::Rights(fds)) => assert_eq!(fds.iter().count(), fds.len()),
                Ok(Cmsg::Other { data, .. }) => assert!(data.len() <= b.len()),
                Ok(_) => {}
                Err(CmsgError::BadHeaderLen { .. } | CmsgError::Truncated { .. }) => stopped = true,
                Err(_) => {}
            }
        }
    }
}

#[test]
fn cmsg_writer_output_parses_back() {
    let mut rng = Rng(0x5eed_0004);
    for _ in 0..N {
        let mut buf = [0u8; 512];
        let mut w = CmsgWriter::new(&mut buf);
        let mut want = Vec::new();
        for _ in 0..rng.below(12) {
            let v = rng.next() as u32;
            let ok = match rng.below(4) {
                0 => {
                    let c = Credentials {
                        pid: v as i32,
                        uid: v ^ 1,
                        gid: v ^ 2,
                    };
                    w.credentials(c).map(|()| Cmsg::Credentials(c))
                }
                1 => w
                    .pktinfo_v4(v as i32, Ipv4Addr::from(v))
                    .map(|()| Cmsg::PktInfoV4 {
                        ifindex: v as i32,
                        spec_dst: Ipv4Addr::from(v),
                        addr: Ipv4Addr::UNSPECIFIED,
                    }),
                2 => {
                    let ip = Ipv6Addr::from(u128::from(v) << 32);
                    w.pktinfo_v6(ip, v).map(|()| Cmsg::PktInfoV6 {
                        addr: ip,
                        ifindex: v,
                    })
                }
                _ => w
                    .ipv6_tclass(v as u8)
                    .map(|()| Cmsg::TrafficClass(i32::from(v as u8))),
            };
            match ok {
                Ok(c) => want.push(c),
                Err(_) => break,
            }
        }
        let got: Vec<Cmsg<'_>> = msg::parse(w.as_bytes())
            .collect::<Result<_, _>>()
            .expect("our own output parses");
        assert_eq!(got, want);
    }
}

#[test]
fn readiness_translation_agrees_for_every_kernel_mask() {
    // Every combination of the bits a socket's poll method returns, for
    // every interest, level and oneshot: epoll's, poll's and select's
    // encodings of it translate to the same shared contract.
    let bits: [u32; 11] = [
        0x1, 0x2, 0x4, 0x8, 0x10, 0x40, 0x80, 0x100, 0x200, 0x400, 0x2000,
    ];
    let in_set = 0x1 | 0x40 | 0x80 | 0x10 | 0x8;
    let out_set = 0x4 | 0x100 | 0x200 | 0x8;
    let step = if cfg!(miri) { 7 } else { 1 };
    let interests = [
        Interest::READABLE,
        Interest::WRITABLE,
        Interest::PRIORITY,
        Interest::READABLE | Interest::WRITABLE,
        Interest::READABLE | Interest::PRIORITY,
        Interest::WRITABLE | Interest::PRIORITY,
        Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY,
    ];
    for combo in (0u32..1 << bits.len()).step_by(step) {
        let mask: u32 = (0..bits.len())
            .filter(|i| combo & (1 << i) != 0)
            .map(|i| bits[i])
            .fold(0, |a, b| a | b);
        for base in interests {
            for interest in [base, base.oneshot()] {
                let t = Token(combo as usize);
                let asked = interest.epoll_events() & 0xffff;
                let e = Event::from_epoll(t, interest, mask & (asked | 0x18));
                let p = Event::from_poll(t, interest, (mask & (asked | 0x18)) as i16);
                let (r, w, pr) = (
                    interest.is_readable() && mask & in_set != 0,
                    interest.is_writable() && mask & out_set != 0,
                    interest.is_priority() && mask & 0x2 != 0,
                );
                let s = Event::from_select(t, interest, r, w, pr);
                assert_eq!(e, p, "{mask:#x} {interest:?}");
                let shared = |x: Option<Event>| {
                    x.map(|x| (x.is_readable(), x.is_writable(), x.is_priority()))
                };
                let want = (r || w || pr).then_some((r, w, pr));
                assert_eq!(shared(e), want, "{mask:#x} {interest:?}");
                assert_eq!(shared(s), want, "{mask:#x} {interest:?}");
            }
        }
    }
}

#[test]
fn activation_env_is_consistent_or_refused() {
    let mut rng = Rng(0x5eed_0005);
    let alphabet = b"0123456789:-+ ax";
    let word = |rng: &mut Rng| -> String {
        (0..rng.below(7))
            .map(|_| alphabet[rng.below(alphabet.len())] as char)
            .collect()
    };
    for _ in 0..N {
        let (pid, fds, names) = (word(&mut rng), word(&mut rng), word(&mut rng));
        let my_pid = [1, 10, 4242][rng.below(3)];
        let pick = |s: &str, rng: &mut Rng| (rng.below(4) != 0).then(|| s.to_owned());
        let (pid, fds, names) = (
            pick(&pid, &mut rng),
            pick(&fds, &mut rng),
            pick(&names, &mut rng),
        );
        match parse_env(pid.as_deref(), fds.as_deref(), names.as_deref(), my_pid) {
            Ok(Some(env)) => {
                assert!(env.count <= MAX_LISTEN_FDS);
                assert_eq!(pid.as_deref().and_then(|p| p.parse().ok()), Some(my_pid));
                if let Some(n) = &env.names {
                    assert_eq!(n.len(), env.count);
                }
            }
            Ok(None) => assert_ne!(pid.as_deref().and_then(|p| p.parse().ok()), Some(my_pid)),
            Err(EnvError::MissingFds) => assert!(fds.is_none()),
            Err(_) => {}
        }
    }
}

#[test]
fn getsockopt_values_decode_as_documented() {
    let mut rng = Rng(0x5eed_0006);
    for _ in 0..N {
        // The fields are longs (time_t, suseconds_t): random values of
        // every magnitude in the target's width.
        const BITS: usize = libc::c_long::BITS as usize;
        let tv = libc::timeval {
            tv_sec: (rng.next() as libc::c_long) >> rng.below(BITS),
            tv_usec: (rng.next() as libc::c_long) >> rng.below(BITS),
        };
        let d = optdec::timeval(tv);
        assert_eq!(d.is_none(), tv.tv_sec == 0 && tv.tv_usec == 0);
        if (0..1_000_000).contains(&tv.tv_usec) && tv.tv_sec >= 0 && d.is_some() {
            let want =
                Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64);
            assert_eq!(d, Some(want));
        }
        let l = libc::linger {
            l_onoff: rng.below(3) as i32,
            l_linger: rng.next() as i32,
        };
        assert_eq!(optdec::linger(l).is_some(), l.l_onoff != 0);
        let c = libc::ucred {
            pid: [0, rng.next() as i32][rng.below(2)],
            uid: [u32::MAX, rng.next() as u32][rng.below(2)],
            gid: [u32::MAX, rng.next() as u32][rng.below(2)],
        };
        let sentinel = c.pid == 0 && c.uid == u32::MAX && c.gid == u32::MAX;
        assert_eq!(optdec::peer_cred(c).is_err(), sentinel);
    }
}

#[test]
fn sockaddr_lengths_family_and_domain() {
    // cargo-mutants: SockAddr::family and ::domain could answer None, and
    // the path length could count the NUL wrongly, with no test failing.
    let v4 = SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1));
    assert_eq!(v4.family(), Some(libc::AF_INET as libc::sa_family_t));
    assert_eq!(v4.domain(), Some(baresock::Domain::IPV4));
    let v6 = SockAddr::from(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 1, 0, 0));
    assert_eq!(v6.family(), Some(libc::AF_INET6 as libc::sa_family_t));
    assert_eq!(v6.domain(), Some(baresock::Domain::IPV6));
    assert_eq!(SockAddr::from_bytes(&[1]).unwrap().family(), None);
    assert_eq!(SockAddr::from_bytes(&[]).unwrap().domain(), None);
    // A path shorter than sun_path counts its NUL (glibc's SUN_LEN); one of
    // the full 108 bytes has none.
    assert_eq!(SockAddr::unix("a").unwrap().len(), 2 + 1 + 1);
    assert_eq!(SockAddr::unix("x".repeat(107)).unwrap().len(), 2 + 107 + 1);
    assert_eq!(SockAddr::unix("x".repeat(108)).unwrap().len(), 2 + 108);
}

#[test]
fn interest_events_and_idempotent_modes() {
    // cargo-mutants: the readable bits of poll_events could be dropped or
    // mangled, and setting a mode twice could clear it, with no test
    // failing.
    let r = Interest::READABLE;
    let w = Interest::WRITABLE;
    let p = Interest::PRIORITY;
    let poll_r = libc::POLLIN | libc::POLLRDNORM | libc::POLLRDBAND | libc::POLLRDHUP;
    let poll_w = libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND;
    assert_eq!(r.poll_events(), poll_r);
    assert_eq!(w.poll_events(), poll_w);
    assert_eq!(p.poll_events(), libc::POLLPRI);
    assert_eq!((r | w | p).poll_events(), poll_r | poll_w | libc::POLLPRI);
    let ep_r = (libc::EPOLLIN | libc::EPOLLRDNORM | libc::EPOLLRDBAND | libc::EPOLLRDHUP) as u32;
    assert_eq!(r.epoll_events(), ep_r);
    assert_eq!(
        (r | p).oneshot().epoll_events(),
        ep_r | (libc::EPOLLPRI | libc::EPOLLONESHOT) as u32
    );
    assert_eq!(
        w.edge().epoll_events(),
        (libc::EPOLLOUT | libc::EPOLLWRNORM | libc::EPOLLWRBAND | libc::EPOLLET) as u32
    );
    assert!(r.oneshot().oneshot().is_oneshot());
    assert!(r.edge().edge().is_edge());
    assert_eq!(r.oneshot().oneshot(), r.oneshot());
}

#[test]
fn sockaddr_unnamed_and_equality() {
    // cargo-mutants: is_unnamed could answer always true or always false,
    // and == could be !=, with no test failing.
    assert!(SockAddr::unix_unnamed().is_unnamed());
    assert!(!SockAddr::unix_abstract(b"x").unwrap().is_unnamed());
    let a = SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 7));
    let b = SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8));
    assert!(!a.is_unnamed());
    let c = a;
    assert!(a == c);
    assert!(a != b);
}

#[test]
fn event_extras_each_mean_their_flag() {
    // cargo-mutants: is_error, is_hangup and is_read_hangup could answer
    // true always (or read the wrong bits) with no test failing.
    let t = Token(3);
    let rw = Interest::READABLE | Interest::WRITABLE;
    let extras = |e: Event| (e.is_error(), e.is_hangup(), e.is_read_hangup());
    let poll = |revents| extras(Event::from_poll(t, rw, revents).unwrap());
    assert_eq!(poll(libc::POLLIN), (false, false, false));
    assert_eq!(poll(libc::POLLOUT), (false, false, false));
    assert_eq!(poll(libc::POLLIN | libc::POLLERR), (true, false, false));
    assert_eq!(poll(libc::POLLIN | libc::POLLHUP), (false, true, false));
    assert_eq!(poll(libc::POLLIN | libc::POLLRDHUP), (false, false, true));
    let epoll = |events: libc::c_int| extras(Event::from_epoll(t, rw, events as u32).unwrap());
    assert_eq!(epoll(libc::EPOLLOUT), (false, false, false));
    assert_eq!(epoll(libc::EPOLLERR), (true, false, false));
    assert_eq!(epoll(libc::EPOLLHUP), (false, true, false));
    assert_eq!(
        epoll(libc::EPOLLIN | libc::EPOLLRDHUP),
        (false, false, true)
    );
    let e = Event::from_select(t, rw, true, true, false).unwrap();
    assert_eq!(extras(e), (false, false, false));
    assert!(e.is_readable() && e.is_writable() && !e.is_priority());
}

#[test]
fn cmsg_buffer_sizes_and_empty_rights() {
    // cargo-mutants: SPACE_RECVERR's sum as a product, CmsgBuffer's slice
    // and Fds::is_empty could all be wrong with no test failing.
    assert_eq!(
        msg::SPACE_RECVERR,
        msg::cmsg_space(size_of::<libc::sock_extended_err>() + size_of::<libc::sockaddr_in6>())
    );
    // A 16-byte sock_extended_err and a 28-byte sockaddr_in6 after the
    // header: 16 + 48 with 64-bit words, 12 + 44 with 32-bit ones.
    let want = if cfg!(target_pointer_width = "64") {
        16 + 48
    } else {
        12 + 44
    };
    assert_eq!(msg::SPACE_RECVERR, want);
    let mut buf = msg::CmsgBuffer::<40>::new();
    assert_eq!(buf.as_mut_slice().len(), 40);
    for n in [0usize, 1, 3] {
        let payload: Vec<u8> = (0..n as i32).flat_map(|f| f.to_ne_bytes()).collect();
        let mut b = vec![0u8; msg::cmsg_space(payload.len())];
        let mut w = CmsgWriter::new(&mut b);
        w.push(libc::SOL_SOCKET, libc::SCM_RIGHTS, &payload)
            .unwrap();
        match msg::parse(w.as_bytes()).next() {
            Some(Ok(Cmsg::Rights(fds))) => {
                assert_eq!((fds.len(), fds.is_empty()), (n, n == 0));
            }
            other => panic!("{other:?}"),
        }
    }
}
