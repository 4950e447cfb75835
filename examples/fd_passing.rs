//! fd_passing — one process hands an open, listening TCP socket to another
//! process over a Unix socket (SCM_RIGHTS), and the other serves a client
//! on it.
//!
//! What it teaches: an fd is a per-process number for a kernel object.
//! With SCM_RIGHTS the kernel installs a new number, in the receiving
//! process, for the *same* open socket: same port, same accept queue. The
//! sender can close its own number and the socket lives on in the
//! receiver. This is how a supervisor hands sockets to workers and how a
//! server restarts without closing its port.
//!
//! Syscalls: socket, bind, listen (a TCP listener on 127.0.0.1 and a Unix
//! listener in a temp dir), accept4, connect, sendmsg with an SCM_RIGHTS
//! control message, recvmsg with MSG_CMSG_CLOEXEC (the received fd is
//! close-on-exec from birth), send, recv, close.
//!
//! Run: `cargo run --example fd_passing` (no arguments: the parent re-runs
//! this program as the child with `child <unix-socket-path>`). It stops
//! on its own within a second.
//!
//! Look for: the child's fd number for the listener differs from the
//! parent's, yet the port is the same; the parent closes its listener
//! before the client connects, and the child still accepts the client.
//! `strace -f -e trace=sendmsg,recvmsg cargo run --example fd_passing`
//! shows the SCM_RIGHTS message going across.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use baresock::msg::{self, CmsgBuffer, CmsgWriter};
use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, SockAddr, Type};

/// Every blocking call gives up after this long, so the demo cannot hang.
const TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        None => parent(),
        Some("child") if args.len() == 3 => child(Path::new(&args[2])),
        _ => {
            eprintln!("usage: fd_passing            (runs the whole demo)");
            return ExitCode::FAILURE;
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fd_passing: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A temporary directory removed on drop, error paths included.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn parent() -> io::Result<()> {
    let me = std::process::id();
    let dir = TempDir(std::env::temp_dir().join(format!("baresock-fd-passing-{me}")));
    std::fs::create_dir(&dir.0)?;
    let path = dir.0.join("handoff.sock");

    // The socket to hand over: a TCP listener on a free loopback port.
    let listener = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT)?;
    listener.bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 0))))?;
    listener.listen(16)?;
    let port = listener.local_addr()?.as_socket().map_or(0, |a| a.port());
    println!(
        "[parent {me}] TCP listener on 127.0.0.1:{port} is my fd {}",
        listener.as_raw_fd()
    );

    // The channel: a Unix stream listener the child connects to.
    let unix = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT)?;
    unix.bind(&SockAddr::unix(&path)?)?;
    unix.listen(1)?;
    unix.set_read_timeout(Some(TIMEOUT))?;

    let mut child = Command::new(std::env::current_exe()?)
        .arg("child")
        .arg(&path)
        .spawn()?;
    // From here on, a failure must not leave the child running.
    let outcome = hand_over_and_be_a_client(&unix, listener, port, me);
    if outcome.is_err() {
        let _ = child.kill();
    }
    let status = child.wait()?;
    outcome?;
    if !status.success() {
        return Err(io::Error::other(format!("child exited with {status}")));
    }
    println!("[parent {me}] child exited cleanly; done");
    Ok(())
}

fn hand_over_and_be_a_client(
    unix: &OwnedSocket,
    listener: OwnedSocket,
    port: u16,
    me: u32,
) -> io::Result<()> {
    // accept4 (SO_RCVTIMEO bounds it): the child has connected.
    let (chan, _) = unix.accept()?;

    // sendmsg with one SCM_RIGHTS message carrying the listener's fd. At
    // least one byte of data must go with it: control data rides on data.
    let mut cbuf = CmsgBuffer::<{ msg::space_for_fds(1) }>::new();
    let mut w = CmsgWriter::new(cbuf.as_mut_slice());
    w.rights(&[listener.as_fd()])?;
    chan.send_msg(
        &[IoSlice::new(b"here is a listener")],
        None,
        w.as_bytes(),
        MsgFlags::NONE,
    )?;
    println!(
        "[parent {me}] sent fd {} over SCM_RIGHTS",
        listener.as_raw_fd()
    );

    // close: our number goes away; the socket does not, the child holds
    // another number for it (the message in flight held it meanwhile).
    listener.close()?;
    println!("[parent {me}] closed my copy of the listener");

    // Be the client: connect to the port the parent bound, now served by
    // the child.
    let client = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT)?;
    client.set_read_timeout(Some(TIMEOUT))?;
    client.connect(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], port))))?;
    client.send(b"hello, whoever has the listener")?;
    let mut reply = [0u8; 128];
    let mut got = 0;
    // recv until the server closes (0): a stream has no message
    // boundaries, so one recv may return part of the reply.
    loop {
        let n = client.recv(&mut reply[got..])?;
        if n == 0 || got + n == reply.len() {
            got += n;
            break;
        }
        got += n;
    }
    let text = String::from_utf8_lossy(&reply[..got]);
    println!("[parent {me}] client got: {text}");
    if !text.starts_with("served by pid") {
        return Err(io::Error::other("unexpected reply"));
    }
    Ok(())
}

fn child(path: &Path) -> io::Result<()> {
    let me = std::process::id();
    let chan = OwnedSocket::new(Domain::UNIX, Type::STREAM, Protocol::DEFAULT)?;
    chan.set_read_timeout(Some(TIMEOUT))?;
    chan.connect(&SockAddr::unix(path)?)?;

    // recvmsg with room for one fd. The kernel installs the fd in this
    // process as it fills the control buffer; `Control` owns it from then
    // on (it would be closed if we did not take it).
    let mut data = [0u8; 64];
    let mut cbuf = CmsgBuffer::<{ msg::space_for_fds(1) }>::new();
    let mut m = chan.recv_msg(
        &mut [IoSliceMut::new(&mut data)],
        cbuf.as_mut_slice(),
        MsgFlags::NONE,
    )?;
    if m.flags.contains(MsgFlags::CTRUNC) {
        return Err(io::Error::other("control data truncated"));
    }
    let fd = m
        .control
        .take_fds()
        .next()
        .ok_or_else(|| io::Error::other("no fd in the message"))?;
    let note = String::from_utf8_lossy(&data[..m.bytes]).into_owned();
    drop(m);
    let listener = OwnedSocket::from(fd);
    let addr = listener.local_addr()?;
    println!(
        "[child  {me}] received \"{note}\": fd {} is {addr}, close-on-exec {}",
        listener.as_raw_fd(),
        listener.cloexec()?
    );

    // Serve one client on the inherited listener: accept4, recv, send.
    listener.set_read_timeout(Some(TIMEOUT))?;
    let (conn, peer) = listener.accept()?;
    conn.set_read_timeout(Some(TIMEOUT))?;
    let mut req = [0u8; 64];
    let n = conn.recv(&mut req)?;
    let reply = format!(
        "served by pid {me}: {}",
        String::from_utf8_lossy(&req[..n]).to_uppercase()
    );
    println!("[child  {me}] accepted {peer}, replying");
    // A reply this small goes in one send on loopback; a real server loops
    // on partial writes.
    conn.send(reply.as_bytes())?;
    Ok(())
}
