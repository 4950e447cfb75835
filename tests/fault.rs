//! The fault-injection hooks themselves: an injected errno replaces the
//! call, close always really closes, a short count moves exactly the bytes
//! it reports, and scripts are per thread.
#![cfg(feature = "fault-injection")]

use std::io::ErrorKind;
use std::time::Duration;

use baresock::fault::{self, Fault};
use baresock::{Domain, OwnedSocket, Protocol, SockAddr, Syscall, Type};

fn pair() -> (OwnedSocket, OwnedSocket) {
    OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap()
}

#[test]
fn an_injected_errno_replaces_the_call() {
    fault::clear();
    let (a, b) = pair();
    b.send(b"data").unwrap();
    fault::inject(Syscall::Recvfrom, 1, Fault::Errno(libc::EINTR)).unwrap();
    let mut buf = [0u8; 8];
    let e = a.recv(&mut buf).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EINTR));
    assert_eq!(e.kind(), ErrorKind::Interrupted);
    // The kernel never saw that recv: the data is all still there.
    assert_eq!(a.recv(&mut buf).unwrap(), 4);
    assert_eq!(&buf[..4], b"data");
    assert_eq!(fault::pending(), 0);
}

#[test]
fn the_nth_call_is_the_one_that_fails() {
    fault::clear();
    let (a, b) = pair();
    fault::inject(Syscall::Sendto, 3, Fault::Errno(libc::ENOBUFS)).unwrap();
    assert!(a.send(b"1").is_ok());
    assert!(a.send(b"2").is_ok());
    assert_eq!(
        a.send(b"3").unwrap_err().raw_os_error(),
        Some(libc::ENOBUFS)
    );
    assert!(a.send(b"4").is_ok());
    let mut buf = [0u8; 8];
    assert_eq!(b.recv(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"124");
}

#[test]
fn a_short_count_is_a_real_shorter_call() {
    fault::clear();
    let (a, b) = pair();
    fault::inject(Syscall::Sendto, 1, Fault::Short(3)).unwrap();
    assert_eq!(a.send(b"abcdef").unwrap(), 3);
    let mut buf = [0u8; 8];
    assert_eq!(b.recv(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"abc");
    // On receive: the kernel writes at most the short length.
    a.send(b"xyz").unwrap();
    fault::inject(Syscall::Recvfrom, 1, Fault::Short(1)).unwrap();
    assert_eq!(b.recv(&mut buf).unwrap(), 1);
    assert_eq!(buf[0], b'x');
    assert_eq!(b.recv(&mut buf).unwrap(), 2);
    // Zero: a stream recv of length 0 reads nothing and returns 0.
    a.send(b"q").unwrap();
    fault::inject(Syscall::Recvfrom, 1, Fault::Short(0)).unwrap();
    assert_eq!(b.recv(&mut buf).unwrap(), 0);
    assert_eq!(b.recv(&mut buf).unwrap(), 1);
}

/// A getsockopt whose kernel writes less of the struct than the crate
/// reads (qemu-user 7.2 writes 4 bytes of `tcp_info`): `tcp_info` says
/// InvalidData rather than report the unwritten fields as zeros (a listen
/// queue of 0: the daemon example then closed a listener with five
/// clients queued, and reset them). Enough bytes, and it answers.
#[test]
#[cfg_attr(
    qemu_user,
    ignore = "qemu-user: getsockopt(TCP_INFO) writes 4 bytes, which tcp_info refuses"
)]
fn tcp_info_refuses_a_short_struct() {
    use baresock::opt::TCP_INFO_MIN_LEN;
    fault::clear();
    let l = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    for short in [0, 4, TCP_INFO_MIN_LEN - 1] {
        fault::inject(Syscall::Getsockopt, 1, Fault::Short(short)).unwrap();
        let e = l.tcp_info().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{short}: {e}");
        assert!(
            e.to_string().contains(&format!("wrote {short} bytes")),
            "{e}"
        );
    }
    fault::inject(Syscall::Getsockopt, 1, Fault::Short(TCP_INFO_MIN_LEN)).unwrap();
    assert_eq!(l.tcp_info().unwrap().state, baresock::opt::TcpInfo::CLOSE);
    assert_eq!(fault::pending(), 0);
}

#[test]
fn close_always_closes_then_reports_the_injected_error() {
    fault::clear();
    let (a, b) = pair();
    fault::inject(Syscall::Close, 1, Fault::Errno(libc::EINTR)).unwrap();
    assert_eq!(a.close().unwrap_err().raw_os_error(), Some(libc::EINTR));
    // The fd really went away: the peer sees end of stream.
    let mut buf = [0u8; 1];
    assert_eq!(b.recv(&mut buf).unwrap(), 0);
}

#[test]
fn connect_timeout_retries_an_interrupted_wait_with_the_time_left() {
    fault::clear();
    let listener = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    listener
        .bind(&SockAddr::from(
            "127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(),
        ))
        .unwrap();
    listener.listen(8).unwrap();
    let addr = listener.local_addr().unwrap();
    let s = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    fault::inject(Syscall::Poll, 1, Fault::Errno(libc::EINTR)).unwrap();
    fault::inject(Syscall::Poll, 2, Fault::Errno(libc::EINTR)).unwrap();
    s.connect_timeout(&addr, Duration::from_secs(10)).unwrap();
    assert_eq!(fault::pending(), 0, "both interrupted waits were retried");
    assert!(!s.nonblocking().unwrap(), "blocking mode restored");
}

#[test]
fn a_failing_restore_in_connect_timeout_is_reported() {
    fault::clear();
    let listener = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    listener
        .bind(&SockAddr::from(
            "127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(),
        ))
        .unwrap();
    listener.listen(8).unwrap();
    let addr = listener.local_addr().unwrap();
    let s = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT).unwrap();
    // fcntl #1 F_GETFL, #2 F_SETFL (nonblocking), #3 F_SETFL (restore).
    fault::inject(Syscall::Fcntl, 3, Fault::Errno(libc::EBADF)).unwrap();
    let e = s
        .connect_timeout(&addr, Duration::from_secs(10))
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EBADF));
}

#[test]
fn scripts_are_per_thread() {
    fault::clear();
    fault::inject(Syscall::Socket, 1, Fault::Errno(libc::EMFILE)).unwrap();
    let other = std::thread::spawn(|| {
        OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).is_ok()
    });
    assert!(
        other.join().unwrap(),
        "another thread's socket() is not affected"
    );
    let e = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EMFILE));
}

#[test]
fn bad_scripts_are_refused() {
    assert_eq!(
        fault::inject(Syscall::Socket, 1, Fault::Short(1))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        fault::inject(Syscall::Recvfrom, 0, Fault::Errno(1))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
}
