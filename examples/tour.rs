//! The tour: the life of a socket, told in the order of a textbook chapter
//! on creating sockets, on loopback only.
//!
//! What it teaches: how a program asks the kernel for a socket and what the
//! kernel answers at each step. It chooses a socket type, creates sockets
//! with socket(), names them with bind(), connects a TCP stream with
//! connect() (and lets the listener accept() it), sends UDP datagrams with
//! sendto(), moves bytes with send() and recv(), receives a datagram and its
//! sender with recvfrom(), makes a connected Unix pair with socketpair(),
//! waits for the first socket that is ready with select(), poll() and
//! epoll() in turn, reads the sockets' state and errors with getsockopt(), and ends with
//! shutdown() and close(). Along the way it provokes, on purpose, the
//! failures a learner meets first and prints the errno the kernel gave:
//! EADDRINUSE, ECONNREFUSED, EAGAIN, and an error that waits in SO_ERROR.
//!
//! Syscalls: socket, socketpair, setsockopt, bind, listen, connect,
//! accept4, getsockname, getpeername, sendto, recvfrom, pselect6 (glibc's
//! select), poll, epoll_create1, epoll_ctl, epoll_wait, getsockopt, fcntl,
//! shutdown, close.
//!
//! Run it: `cargo run --example tour`. It takes no arguments and needs no
//! network: every socket talks to 127.0.0.1 or to its Unix twin, and it
//! exits by itself well within a second.
//!
//! What to look for: every baresock call is printed, then the syscall it
//! made and the kernel's answer (`= 3` a new fd, `= 13` a byte count,
//! `= -1 ECONNREFUSED (...)` a failure), one line per syscall, in the order
//! `strace -f -e trace=network,fcntl,close` shows them. Watch the fd
//! numbers (the kernel hands out the lowest free one), the ports the
//! kernel picks when asked for port 0 or when connect() and sendto() bind
//! implicitly, and three places where the kernel does more than a chapter
//! usually says: sockets are blocking until made nonblocking, a client
//! needs no bind(), and close() does not free a TCP port at once.

use std::fmt::Display;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};
use std::thread;
use std::time::Duration;

use baresock::opt::TcpInfo;
use baresock::poll::{Backend, Events, Interest, Token};
use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, SockAddr, Type};

fn main() -> io::Result<()> {
    // Built with `--features trace`, the tour turns the syscall trace on:
    // each syscall's strace-style line (on stderr) follows the narration.
    #[cfg(feature = "trace")]
    baresock::trace::enable(true);
    println!("A tour of a socket's life, on loopback. Each baresock call is");
    println!("followed by the syscall it made and what the kernel answered.");

    step(1, "Choose a socket type");
    choose_a_type();

    step(2, "socket(): ask the kernel for an endpoint");
    let (listener, udp_server) = create()?;

    step(
        3,
        "bind(): give the sockets an address; listen() for connections",
    );
    let (listen_addr, udp_server_addr) = bind_and_listen(&listener, &udp_server)?;

    step(4, "connect(): a stream needs a connection first");
    let (client, client_addr, conn) = connect_and_accept(&listener, &listen_addr)?;

    step(
        5,
        "sendto(): a datagram needs no connection, only an address",
    );
    let (udp_client, udp_client_addr) = send_datagrams(&udp_server_addr)?;

    step(6, "send() and recv(): bytes on the connection");
    send_and_recv(&client, &conn)?;

    step(7, "recvfrom(): a datagram and who sent it");
    recv_datagrams(&udp_server, &udp_client_addr)?;

    step(8, "socketpair(): two connected sockets in one call");
    let (left, right) = unix_pair()?;

    step(
        9,
        "select(), poll() and epoll(): wait for several sockets at once",
    );
    wait_for_readiness(&left, &right, &client)?;

    step(10, "getsockopt(): the sockets' state and errors");
    what_each_socket_is(&[
        ("listener", &listener),
        ("conn", &conn),
        ("udp_server", &udp_server),
        ("left", &left),
    ])?;
    connection_state(&listener, &conn, &left)?;
    pending_error()?;

    step(11, "shutdown() and close(): the end of a connection");
    hang_up(client, conn)?;
    port_not_free_yet(&client_addr)?;
    say("The rest of the sockets, each close() with its result:");
    for (name, s) in [
        ("listener", listener),
        ("udp_server", udp_server),
        ("udp_client", udp_client),
        ("left", left),
        ("right", right),
    ] {
        close(name, s)?;
    }

    println!("\nThe tour is over: every socket it made is closed.");
    Ok(())
}

// ---- the steps, in the chapter's order ----

fn choose_a_type() {
    say("The type says how data travels; the family, where the socket reaches");
    say("(AF_INET: IPv4; AF_UNIX: this machine only).");
    for (ty, what) in [
        (
            Type::STREAM,
            "connection-oriented: a reliable, ordered byte stream (TCP over IP)",
        ),
        (
            Type::DGRAM,
            "connectionless: separate datagrams that may be lost (UDP over IP)",
        ),
    ] {
        println!("  {:<17} {what}", format!("{ty:?} = {}:", i32::from(ty)));
    }
    say("Protocol 0 lets the kernel pick the usual one: TCP for a stream,");
    say("UDP for datagrams.");
}

/// One TCP socket that will listen and one UDP socket that will receive.
fn create() -> io::Result<(OwnedSocket, OwnedSocket)> {
    say("The kernel answers with a file descriptor: the lowest free number.");
    let listener = socket("listener", Domain::IPV4, Type::STREAM)?;
    let udp_server = socket("udp_server", Domain::IPV4, Type::DGRAM)?;
    let fd = listener.as_raw_fd();
    say("SOCK_CLOEXEC, always added: a program this process starts with exec");
    say("does not inherit the socket.");
    call(
        "listener.cloexec()",
        format!("fcntl({fd}, F_GETFD)"),
        listener.cloexec(),
        |on| {
            (if *on {
                "FD_CLOEXEC"
            } else {
                "0 (no FD_CLOEXEC)"
            })
            .into()
        },
    )?;
    say("Sockets are blocking: a call that must wait puts the thread to sleep");
    say("until the kernel can answer. Nothing is asynchronous unless asked");
    say("for (SOCK_NONBLOCK, O_NONBLOCK or MSG_DONTWAIT).");
    call(
        "listener.nonblocking()",
        format!("fcntl({fd}, F_GETFL)"),
        listener.nonblocking(),
        |on| {
            (if *on {
                "flags with O_NONBLOCK"
            } else {
                "flags without O_NONBLOCK: blocking"
            })
            .into()
        },
    )?;
    Ok((listener, udp_server))
}

/// Binds both sockets to 127.0.0.1 port 0 and makes the TCP one listen.
/// Returns both addresses.
fn bind_and_listen(
    listener: &OwnedSocket,
    udp_server: &OwnedSocket,
) -> io::Result<(SockAddr, SockAddr)> {
    let lfd = listener.as_raw_fd();
    say("A server sets SO_REUSEADDR (a setsockopt) before bind(): after a");
    say("restart, its old connections lingering in TIME_WAIT then do not");
    say("keep it from binding its port again.");
    call(
        "listener.set_reuse_address(true)",
        format!("setsockopt({lfd}, SOL_SOCKET, SO_REUSEADDR, [1], 4)"),
        listener.set_reuse_address(true),
        |_| "0".into(),
    )?;
    say("Port 0 asks the kernel for any free port: no clash with other");
    say("programs; getsockname() tells which one it chose.");
    let listen_addr = bind_any_port("listener", listener, "")?;
    let udp_server_addr = bind_any_port("udp_server", udp_server, "")?;

    say("A second socket, without SO_REUSEADDR, cannot take that address.");
    let other = socket("other", Domain::IPV4, Type::STREAM)?;
    refused(
        &format!("other.bind(&{})", show(&listen_addr)),
        format!("bind({}, {}, 16)", other.as_raw_fd(), show(&listen_addr)),
        other.bind(&listen_addr),
        libc::EADDRINUSE,
    )?;
    close("other", other)?;

    say("listen() makes the TCP socket passive: the kernel completes");
    say("handshakes for it and queues up to `backlog` connections.");
    call(
        "listener.listen(8)",
        format!("listen({lfd}, 8)"),
        listener.listen(8),
        |_| "0".into(),
    )?;
    Ok((listen_addr, udp_server_addr))
}

/// Shows connect() refused by a port nobody listens on, then connects a
/// client to the listener and accepts it. Returns the client, its address
/// and the accepted socket.
fn connect_and_accept(
    listener: &OwnedSocket,
    listen_addr: &SockAddr,
) -> io::Result<(OwnedSocket, SockAddr, OwnedSocket)> {
    say("First a port that is bound but not listening: the kernel answers");
    say("the SYN with a RST, and connect() fails.");
    let quiet = socket("quiet", Domain::IPV4, Type::STREAM)?;
    let quiet_addr = bind_any_port("quiet", &quiet, " (bound, not listening)")?;
    let doomed = socket("doomed", Domain::IPV4, Type::STREAM)?;
    refused(
        &format!("doomed.connect(&{})", show(&quiet_addr)),
        format!("connect({}, {}, 16)", doomed.as_raw_fd(), show(&quiet_addr)),
        doomed.connect(&quiet_addr),
        libc::ECONNREFUSED,
    )?;
    say("After a failed connect() POSIX leaves the socket's state unspecified:");
    say("close it and start again with a new one.");
    close("doomed", doomed)?;
    close("quiet", quiet)?;

    let client = socket("client", Domain::IPV4, Type::STREAM)?;
    let cfd = client.as_raw_fd();
    say("connect() runs the handshake (SYN, SYN-ACK, ACK) and returns when it");
    say("is done. The client never called bind(): connect() bound it.");
    call(
        &format!("client.connect(&{})", show(listen_addr)),
        format!("connect({cfd}, {}, 16)", show(listen_addr)),
        client.connect(listen_addr),
        |_| "0".into(),
    )?;
    let client_addr = local_addr("client", &client, " (an ephemeral port)")?;
    call(
        "client.peer_addr()",
        format!("getpeername({cfd})"),
        client.peer_addr(),
        |a| format!("0, peer {}", show(a)),
    )?;

    say("The connection already waits, complete, in the listener's queue;");
    say("accept() takes it off as a new socket, with the client's address.");
    let (conn, from) = call(
        "listener.accept()",
        format!(
            "accept4({}, {{...}}, [16], SOCK_CLOEXEC)",
            listener.as_raw_fd()
        ),
        listener.accept(),
        |(c, from)| format!("{}, peer {}", c.as_raw_fd(), show(from)),
    )?;
    if from != client_addr {
        return Err(io::Error::other("accept's peer is not the client"));
    }
    Ok((client, client_addr, conn))
}

/// Sends two datagrams from an unbound UDP socket. Returns that socket and
/// the address sendto() bound it to.
fn send_datagrams(to: &SockAddr) -> io::Result<(OwnedSocket, SockAddr)> {
    let udp_client = socket("udp_client", Domain::IPV4, Type::DGRAM)?;
    let fd = udp_client.as_raw_fd();
    local_addr("udp_client", &udp_client, " (not bound yet)")?;
    say("Each sendto() names its destination; a datagram goes whole or not");
    say("at all, and nothing waits for an answer.");
    for msg in [&b"first datagram"[..], b"second, longer datagram"] {
        call(
            &format!("udp_client.send_to({}, &{})", quoted(msg), show(to)),
            format!(
                "sendto({fd}, {}, {}, MSG_NOSIGNAL, {}, 16)",
                quoted(msg),
                msg.len(),
                show(to)
            ),
            udp_client.send_to(msg, to),
            |n| n.to_string(),
        )?;
    }
    let bound = local_addr("udp_client", &udp_client, " (the first sendto bound it)")?;
    Ok((udp_client, bound))
}

fn send_and_recv(client: &OwnedSocket, conn: &OwnedSocket) -> io::Result<()> {
    say("send() returns how many bytes the kernel took into its buffer.");
    say("MSG_NOSIGNAL, always added: a send to a vanished peer fails with");
    say("EPIPE instead of killing the process with SIGPIPE.");
    exchange(("client", client), ("conn", conn), b"hello, server")?;
    exchange(("conn", conn), ("client", client), b"hello, client")?;
    say("Nothing is left to read. A blocking recv() would sleep here until");
    say("data came; MSG_DONTWAIT makes this one call nonblocking instead.");
    let mut buf = [0u8; 64];
    refused(
        "conn.recv_with_flags(&mut buf, MsgFlags::DONTWAIT)",
        format!(
            "recvfrom({}, buf, {}, MSG_DONTWAIT, NULL, NULL)",
            conn.as_raw_fd(),
            buf.len()
        ),
        conn.recv_with_flags(&mut buf, MsgFlags::DONTWAIT),
        libc::EAGAIN,
    )
}

/// One send() on `from` and the recv() that takes it at `to`.
fn exchange(from: (&str, &OwnedSocket), to: (&str, &OwnedSocket), msg: &[u8]) -> io::Result<()> {
    let ((from_name, from), (to_name, to)) = (from, to);
    call(
        &format!("{from_name}.send({})", quoted(msg)),
        format!(
            "sendto({}, {}, {}, MSG_NOSIGNAL, NULL, 0)",
            from.as_raw_fd(),
            quoted(msg),
            msg.len()
        ),
        from.send(msg),
        |n| n.to_string(),
    )?;
    recv(to_name, to, "")
}

fn recv_datagrams(udp_server: &OwnedSocket, udp_client_addr: &SockAddr) -> io::Result<()> {
    let fd = udp_server.as_raw_fd();
    let mut buf = [0u8; 64];
    say("recvfrom() also fills in the sender's address: replies go there.");
    let (n, from) = call(
        "udp_server.recv_from(&mut buf)",
        format!("recvfrom({fd}, buf, {}, 0, {{...}}, [16])", buf.len()),
        udp_server.recv_from(&mut buf),
        |(n, from)| format!("{n}, from {}", show(from)),
    )?;
    println!("      buf = {}", quoted(&buf[..n]));
    // The client is bound to 0.0.0.0:port; the datagram left from 127.0.0.1.
    if from.as_socket().map(|a| a.port()) != udp_client_addr.as_socket().map(|a| a.port()) {
        return Err(io::Error::other("recvfrom's sender is not the UDP client"));
    }
    say("The client is bound to 0.0.0.0 (any address); the datagram left");
    say("through 127.0.0.1, so that is the address the server sees.");
    say("A datagram longer than the buffer is cut and the rest is lost;");
    say("MSG_TRUNC makes the kernel say how long it really was.");
    let mut small = [0u8; 6];
    let (n, _) = call(
        "udp_server.recv_from_with_flags(&mut small, MsgFlags::TRUNC)",
        format!(
            "recvfrom({fd}, buf, {}, MSG_TRUNC, {{...}}, [16])",
            small.len()
        ),
        udp_server.recv_from_with_flags(&mut small, MsgFlags::TRUNC),
        |(n, from)| format!("{n}, from {}", show(from)),
    )?;
    println!(
        "      buf = {} ({} of {n} bytes)",
        quoted(&small),
        small.len()
    );
    Ok(())
}

/// A connected pair of Unix stream sockets, with one message across.
fn unix_pair() -> io::Result<(OwnedSocket, OwnedSocket)> {
    say("The kernel makes two sockets already connected to each other: no");
    say("address, no handshake. The usual channel between a parent and the");
    say("child it forks.");
    let (left, right) = call(
        "let (left, right) = OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT)",
        "socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0, [...])",
        OwnedSocket::pair(Domain::UNIX, Type::STREAM, Protocol::DEFAULT),
        |(l, r)| format!("0, [{}, {}]", l.as_raw_fd(), r.as_raw_fd()),
    )?;
    local_addr("left", &left, "")?;
    exchange(("left", &left), ("right", &right), b"ping")?;
    Ok((left, right))
}

/// The same readiness question asked of select, poll and epoll in turn:
/// which of two sockets can be read without blocking?
///
/// Every call is narrated as it was really made: the fds, sets, timeouts
/// and `epoll_event.data` values below are computed from what the tour
/// passed (and from `Interest`'s own `poll_events` / `epoll_events`), not
/// written out as templates, so they read as the trace above them does.
fn wait_for_readiness(
    left: &OwnedSocket,
    right: &OwnedSocket,
    client: &OwnedSocket,
) -> io::Result<()> {
    say("A program with many sockets cannot block in recv() on one of them:");
    say("it asks the kernel which ones are ready, then serves just those.");
    say("Three syscalls ask that question; baresock puts them behind one");
    say("trait, Poller, so the answers can be compared.");
    // What is registered, in order: (name, fd, token).
    let watched = [
        ("right", right.as_raw_fd(), Token(1)),
        ("client", client.as_raw_fd(), Token(2)),
    ];
    for backend in [Backend::Select, Backend::Poll, Backend::Epoll] {
        say("");
        let mut poller = match backend {
            Backend::Epoll => {
                say("Epoll: the interest list lives in the kernel, in an epoll instance.");
                call(
                    "let mut poller = Backend::Epoll.build()?",
                    "epoll_create1(EPOLL_CLOEXEC)",
                    backend.build(),
                    |p| epoll_fd(p.as_ref()),
                )?
            }
            _ => {
                say(&format!(
                    "{backend:?}: no syscall to create it: the {} lives in user space",
                    if backend == Backend::Select {
                        "fd set"
                    } else {
                        "pollfd array"
                    }
                ));
                backend.build()?
            }
        };
        let epfd = epoll_fd(poller.as_ref());
        for (slot, &(name, fd, token)) in watched.iter().enumerate() {
            let data = epoll_data(slot);
            let rust = format!(
                "poller.register({name}.as_fd(), Token({}), Interest::READABLE)",
                token.0
            );
            let result = poller.register(
                if name == "right" {
                    right.as_fd()
                } else {
                    client.as_fd()
                },
                token,
                Interest::READABLE,
            );
            match backend {
                Backend::Select => {
                    result?;
                    say(&rust);
                    say(&format!(
                        "  (no syscall: fd {fd} joins the read set, each wait hands it to the kernel)"
                    ));
                }
                Backend::Poll => {
                    result?;
                    say(&rust);
                    say(&format!(
                        "  (no syscall: {{fd={fd}, events={}}} joins the pollfd array)",
                        poll_flags(Interest::READABLE.poll_events())
                    ));
                }
                _ => {
                    call(
                        &rust,
                        format!(
                            "epoll_ctl({epfd}, EPOLL_CTL_ADD, {fd}, {{events={}, data={{u32={slot}, u64={data}}}}})",
                            epoll_flags(Interest::READABLE.epoll_events())
                        ),
                        result,
                        |()| "0".into(),
                    )?;
                    say(&format!(
                        "data is not the token: its low 32 bits (u32={slot}) are slot {slot}, the poller's index into its own table of (fd, token, interest), where slot {slot} holds Token({}).",
                        token.0
                    ));
                    if slot == 0 {
                        say(&format!(
                            "Its high 32 bits are the slot's generation ({} here: a new poller has freed no slot; it goes up by one each time the slot is freed), so the events of an fd closed while registered never reach a later registration in the same slot. u64={data} is both halves.",
                            data >> 32
                        ));
                    }
                }
            }
        }
        if backend == Backend::Epoll {
            say("The kernel hands data back with each event; the table turns the slot into the");
            say("token and drops what the interest did not ask for.");
        }
        let mut events = Events::with_capacity(4);
        // Nothing is ready yet: a zero timeout answers at once with 0.
        for timeout in [Duration::ZERO, Duration::from_secs(5)] {
            if !timeout.is_zero() {
                let msg = b"ready?";
                call(
                    "left.send(b\"ready?\")",
                    format!(
                        "sendto({}, {}, {}, MSG_NOSIGNAL, NULL, 0)",
                        left.as_raw_fd(),
                        quoted(msg),
                        msg.len()
                    ),
                    left.send(msg),
                    |n| n.to_string(),
                )?;
            }
            let result = poller.wait(&mut events, Some(timeout));
            let syscall = wait_call(backend, &watched, &epfd, events.capacity(), timeout);
            call(
                &if timeout.is_zero() {
                    "poller.wait(&mut events, Some(Duration::ZERO))".to_owned()
                } else {
                    format!(
                        "poller.wait(&mut events, Some(Duration::from_secs({})))",
                        timeout.as_secs()
                    )
                },
                syscall,
                result,
                |&n| match (n, backend) {
                    (0, Backend::Epoll) => {
                        "0: the kernel wrote no event: nothing to read yet".into()
                    }
                    (0, _) => "0 (Timeout): nothing to read yet".into(),
                    _ => {
                        let which: Vec<String> = events
                            .iter()
                            .map(|e| {
                                let (name, fd, _) = watched
                                    .iter()
                                    .find(|w| w.2 == e.token())
                                    .copied()
                                    .unwrap_or(("?", -1, e.token()));
                                let how = match backend {
                                    Backend::Select => format!(
                                        "fd {fd} is still in the read set the kernel gave back"
                                    ),
                                    Backend::Poll => {
                                        format!("fd {fd}'s revents say it can be read")
                                    }
                                    _ => {
                                        let slot = watched
                                            .iter()
                                            .position(|w| w.2 == e.token())
                                            .unwrap_or(0);
                                        let data = epoll_data(slot);
                                        format!(
                                            "an event with data={{u32={slot}, u64={data}}}: slot {slot}, generation {}",
                                            data >> 32
                                        )
                                    }
                                };
                                format!(
                                    "{n}: {how}, which is Token({}) ({name}), readable={}",
                                    e.token().0,
                                    e.is_readable()
                                )
                            })
                            .collect();
                        which.join("; ")
                    }
                },
            )?;
        }
        let n = events.len();
        if n != 1 || events.iter().next().map(|e| e.token()) != Some(Token(1)) {
            return Err(io::Error::other(format!(
                "{backend:?}: expected only `right` (Token(1)) to be readable"
            )));
        }
        // Level-triggered: the socket stays ready until it is read.
        let mut buf = [0u8; 16];
        let got = right.recv(&mut buf);
        let text = match &got {
            Ok(n) => quoted(&buf[..*n]),
            Err(_) => "buf".into(),
        };
        call(
            "right.recv(&mut buf)",
            format!("recvfrom({}, {text}, 16, 0, NULL, NULL)", right.as_raw_fd()),
            got,
            |n| format!("{n}: read it, so the next wait would not report it again"),
        )?;
        // Dropping the poller: epoll's instance is an fd, closed here.
        drop(poller);
        say("drop(poller)");
        if backend == Backend::Epoll {
            say(&format!(
                "  close({epfd}): the epoll instance goes, and its interest list with it"
            ));
        } else {
            say("  (no syscall: the set was only ever ours)");
        }
    }
    Ok(())
}

/// The wait syscall a backend makes for the tour's registrations, as the
/// trace prints it: select and poll hand their whole set to the kernel on
/// every call; epoll names only its instance.
fn wait_call(
    backend: Backend,
    watched: &[(&str, i32, Token)],
    epfd: &str,
    capacity: usize,
    timeout: Duration,
) -> String {
    match backend {
        Backend::Select => {
            // nfds is the highest fd plus one; strace lists the set sorted.
            let mut fds: Vec<i32> = watched.iter().map(|w| w.1).collect();
            fds.sort_unstable();
            let nfds = fds.last().map_or(0, |f| f + 1);
            let set: Vec<String> = fds.iter().map(i32::to_string).collect();
            // Only a read set: the write and except sets are NULL.
            format!(
                "pselect6({nfds}, [{}], NULL, NULL, {{tv_sec={}, tv_nsec={}}}, NULL)",
                set.join(" "),
                timeout.as_secs(),
                timeout.subsec_nanos()
            )
        }
        Backend::Poll => {
            let fds: Vec<String> = watched
                .iter()
                .map(|w| {
                    format!(
                        "{{fd={}, events={}}}",
                        w.1,
                        poll_flags(Interest::READABLE.poll_events())
                    )
                })
                .collect();
            format!(
                "poll([{}], {}, {})",
                fds.join(", "),
                watched.len(),
                timeout.as_millis()
            )
        }
        // The kernel writes the ready events into the poller's buffer of
        // `capacity` entries (the trace shows what it wrote).
        // Named as the kernel sees it (and the trace prints it): musl's
        // epoll_wait is epoll_pwait(..., NULL, 8), an empty signal mask
        // and its size, and aarch64 has no epoll_wait syscall at all.
        _ => {
            let (name, mask) = if cfg!(any(target_env = "musl", target_arch = "aarch64")) {
                ("epoll_pwait", ", NULL, 8")
            } else {
                ("epoll_wait", "")
            };
            format!(
                "{name}({epfd}, events, {capacity}, {}{mask})",
                timeout.as_millis()
            )
        }
    }
}

/// The `epoll_event.data` the epoll backend registers the tour's `slot`
/// with: the slot's generation in the high 32 bits, the slot index in the
/// low 32 (src/poll/epoll.rs). The tour's poller is new and frees no slot,
/// so every generation is 0 and the value equals the slot: the trace of
/// the same call prints it, and the tour's test compares the two.
fn epoll_data(slot: usize) -> u64 {
    let generation: u64 = 0;
    (generation << 32) | slot as u64
}

/// The epoll instance's fd, read from the poller's Debug text, for the
/// narration. Fragile, but the least so at hand: `Box<dyn Poller>` has no
/// `as_fd`, and the other ways each miss something. Predicting the number
/// (the lowest free fd) fails when the process inherited fds the tour
/// does not know of (a jobserver's, a test harness's); finding the
/// `anon_inode:[eventpoll]` link in /proc/self/fd makes an openat, a
/// getdents64 and a close that the narration would have to explain, and
/// `strace -e trace=close` would show; the trace sink exists only with the
/// `trace` feature. If Debug changes, the narration says `epfd` instead of
/// a number, and the tour's test (which compares the narration with the
/// trace) fails.
fn epoll_fd(p: &dyn baresock::poll::Poller) -> String {
    let debug = format!("{p:?}");
    debug
        .split("epfd: ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .filter(|n| !n.is_empty())
        .unwrap_or("epfd")
        .to_owned()
}

/// `POLL*` bits as strace names them, lowest first.
fn poll_flags(bits: i16) -> String {
    let names = [
        (libc::POLLIN, "POLLIN"),
        (libc::POLLPRI, "POLLPRI"),
        (libc::POLLOUT, "POLLOUT"),
        (libc::POLLRDNORM, "POLLRDNORM"),
        (libc::POLLRDBAND, "POLLRDBAND"),
        (libc::POLLWRNORM, "POLLWRNORM"),
        (libc::POLLWRBAND, "POLLWRBAND"),
        (libc::POLLRDHUP, "POLLRDHUP"),
    ];
    flags(i64::from(bits), names.map(|(b, n)| (i64::from(b), n)))
}

/// `EPOLL*` bits as strace names them, lowest first.
fn epoll_flags(bits: u32) -> String {
    let names = [
        (libc::EPOLLIN, "EPOLLIN"),
        (libc::EPOLLPRI, "EPOLLPRI"),
        (libc::EPOLLOUT, "EPOLLOUT"),
        (libc::EPOLLRDNORM, "EPOLLRDNORM"),
        (libc::EPOLLRDBAND, "EPOLLRDBAND"),
        (libc::EPOLLWRNORM, "EPOLLWRNORM"),
        (libc::EPOLLWRBAND, "EPOLLWRBAND"),
        (libc::EPOLLRDHUP, "EPOLLRDHUP"),
        (libc::EPOLLONESHOT, "EPOLLONESHOT"),
        (libc::EPOLLET, "EPOLLET"),
    ];
    flags(
        i64::from(bits),
        names.map(|(b, n)| (i64::from(b as u32), n)),
    )
}

fn flags<const N: usize>(bits: i64, names: [(i64, &str); N]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut rest = bits;
    for (b, n) in names {
        if bits & b != 0 {
            out.push(n.into());
            rest &= !b;
        }
    }
    if rest != 0 || out.is_empty() {
        out.push(format!("{rest:#x}"));
    }
    out.join("|")
}

/// SO_TYPE, SO_DOMAIN and SO_PROTOCOL of each socket.
fn what_each_socket_is(sockets: &[(&str, &OwnedSocket)]) -> io::Result<()> {
    say("getsockopt() asks the kernel about a socket. SO_TYPE, SO_DOMAIN and");
    say("SO_PROTOCOL: what each socket is.");
    for &(name, s) in sockets {
        let fd = s.as_raw_fd();
        call(
            &format!("{name}.r#type()"),
            format!("getsockopt({fd}, SOL_SOCKET, SO_TYPE)"),
            s.r#type(),
            |t| format!("0, {t:?}"),
        )?;
        call(
            &format!("{name}.domain()"),
            format!("getsockopt({fd}, SOL_SOCKET, SO_DOMAIN)"),
            s.domain(),
            |d| format!("0, {d:?}"),
        )?;
        call(
            &format!("{name}.protocol()"),
            format!("getsockopt({fd}, SOL_SOCKET, SO_PROTOCOL)"),
            s.protocol(),
            |p| format!("0, {p:?}"),
        )?;
    }
    Ok(())
}

/// Listening or not, TCP's view of the connection, the Unix peer, and the
/// (empty) pending error of a healthy connection.
fn connection_state(
    listener: &OwnedSocket,
    conn: &OwnedSocket,
    unix: &OwnedSocket,
) -> io::Result<()> {
    say("SO_ACCEPTCONN: whether a socket is listening.");
    for (name, s) in [("listener", listener), ("conn", conn)] {
        call(
            &format!("{name}.is_listener()"),
            format!("getsockopt({}, SOL_SOCKET, SO_ACCEPTCONN)", s.as_raw_fd()),
            s.is_listener(),
            |on| format!("0, {on}"),
        )?;
    }
    say("TCP_INFO: the connection as TCP sees it.");
    tcp_info("listener", listener)?;
    call(
        "conn.tcp_info()",
        format!("getsockopt({}, IPPROTO_TCP, TCP_INFO)", conn.as_raw_fd()),
        conn.tcp_info(),
        |i| {
            format!(
                "0, state {}, rtt {} us, mss {} bytes, cwnd {} segments",
                tcp_state(i.state),
                i.rtt.as_micros(),
                i.snd_mss,
                i.snd_cwnd
            )
        },
    )?;
    say("SO_PEERCRED: who is at the other end of a Unix socket.");
    call(
        "left.peer_cred()",
        format!("getsockopt({}, SOL_SOCKET, SO_PEERCRED)", unix.as_raw_fd()),
        unix.peer_cred(),
        |c| {
            format!(
                "0, pid {} (this process is {}), uid {}, gid {}",
                c.pid,
                std::process::id(),
                c.uid,
                c.gid
            )
        },
    )?;
    say("SO_ERROR: the error the kernel holds for a socket. None here.");
    call(
        "conn.take_error()",
        format!("getsockopt({}, SOL_SOCKET, SO_ERROR)", conn.as_raw_fd()),
        conn.take_error(),
        |e| format!("0, {}", pending(e)),
    )?;
    Ok(())
}

/// An error that arrives after the call that caused it has returned: a UDP
/// datagram to a port with no socket, whose ICMP "port unreachable" the
/// kernel keeps in SO_ERROR.
fn pending_error() -> io::Result<()> {
    say("Some errors arrive after the call that caused them. A connected UDP");
    say("socket sends to a port with no socket: sendto() succeeds, then the");
    say("ICMP \"port unreachable\" that comes back waits in SO_ERROR.");
    say("A free port: bind one, read it back, close the socket.");
    let probe = socket("probe", Domain::IPV4, Type::DGRAM)?;
    let closed = bind_any_port("probe", &probe, "")?;
    close("probe", probe)?;

    let udp = socket("udp", Domain::IPV4, Type::DGRAM)?;
    let fd = udp.as_raw_fd();
    say("connect() on a datagram socket sends nothing: it records the peer,");
    say("and from then on the kernel reports that peer's errors.");
    call(
        &format!("udp.connect(&{})", show(&closed)),
        format!("connect({fd}, {}, 16)", show(&closed)),
        udp.connect(&closed),
        |_| "0".into(),
    )?;
    call(
        "udp.send(\"anyone?\")",
        format!("sendto({fd}, \"anyone?\", 7, MSG_NOSIGNAL, NULL, 0)"),
        udp.send(b"anyone?"),
        |n| n.to_string(),
    )?;
    // On loopback the ICMP reply is handled before send() returns; should
    // it ever come later, ask again, a bounded number of times.
    let mut error = None;
    for attempt in 0..20 {
        if attempt > 0 {
            thread::sleep(Duration::from_millis(10));
        }
        error = call(
            "udp.take_error()",
            format!("getsockopt({fd}, SOL_SOCKET, SO_ERROR)"),
            udp.take_error(),
            |e| format!("0, {}", pending(e)),
        )?;
        if error.is_some() {
            break;
        }
    }
    match error.as_ref().and_then(io::Error::raw_os_error) {
        Some(libc::ECONNREFUSED) => {}
        // A datagram that found a socket: some other program took the free
        // port between the probe's close and this send.
        None => say("(no error: another program must have taken the port)"),
        Some(_) => return Err(io::Error::other("unexpected SO_ERROR")),
    }
    say("Reading SO_ERROR clears it.");
    call(
        "udp.take_error()",
        format!("getsockopt({fd}, SOL_SOCKET, SO_ERROR)"),
        udp.take_error(),
        |e| format!("0, {}", pending(e)),
    )?;
    close("udp", udp)
}

/// Ends the connection: the client half-closes, the server answers and
/// closes, then the client closes.
fn hang_up(client: OwnedSocket, conn: OwnedSocket) -> io::Result<()> {
    say("shutdown(SHUT_WR) sends FIN, \"I will send no more\": the fd stays");
    say("open and the other direction still works.");
    call(
        "client.shutdown(Shutdown::Write)",
        format!("shutdown({}, SHUT_WR)", client.as_raw_fd()),
        client.shutdown(Shutdown::Write),
        |_| "0".into(),
    )?;
    recv("conn", &conn, " (end of stream)")?;
    tcp_info("conn", &conn)?;
    exchange(("conn", &conn), ("client", &client), b"bye")?;
    say("close() releases the fd, and the kernel sends the server's FIN.");
    close("conn", conn)?;
    recv("client", &client, " (end of stream)")?;
    tcp_info("client", &client)?;
    say("TCP_CLOSE: the connection is over for this socket, but a small");
    say("TIME_WAIT record in the kernel goes on holding the client's port.");
    close("client", client)
}

/// The side that closed first keeps its port in TIME_WAIT.
fn port_not_free_yet(client_addr: &SockAddr) -> io::Result<()> {
    say("So close() does not free a TCP port at once: the side that sent the");
    say("first FIN keeps it in TIME_WAIT (60 s on Linux), so that late");
    say("packets of the old connection cannot reach a new one.");
    let again = socket("again", Domain::IPV4, Type::STREAM)?;
    refused(
        &format!("again.bind(&{})", show(client_addr)),
        format!("bind({}, {}, 16)", again.as_raw_fd(), show(client_addr)),
        again.bind(client_addr),
        libc::EADDRINUSE,
    )?;
    close("again", again)
}

// ---- one printed call each ----

/// `socket()` with protocol 0.
fn socket(name: &str, domain: Domain, ty: Type) -> io::Result<OwnedSocket> {
    let (rust_domain, c_protocol) = if domain == Domain::UNIX {
        ("Domain::UNIX", "0")
    } else {
        ("Domain::IPV4", "IPPROTO_IP")
    };
    let rust_type = if ty == Type::STREAM {
        "Type::STREAM"
    } else {
        "Type::DGRAM"
    };
    call(
        &format!("let {name} = OwnedSocket::new({rust_domain}, {rust_type}, Protocol::DEFAULT)"),
        format!("socket({domain:?}, {ty:?}|SOCK_CLOEXEC, {c_protocol})"),
        OwnedSocket::new(domain, ty, Protocol::DEFAULT),
        |s| s.as_raw_fd().to_string(),
    )
}

/// `bind()` to 127.0.0.1 port 0, then `getsockname()` for the port the
/// kernel chose.
fn bind_any_port(name: &str, s: &OwnedSocket, note: &str) -> io::Result<SockAddr> {
    call(
        &format!("{name}.bind(&127.0.0.1:0)"),
        format!("bind({}, 127.0.0.1:0, 16)", s.as_raw_fd()),
        s.bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 0)))),
        |_| "0".into(),
    )?;
    local_addr(name, s, note)
}

/// `getsockname()`.
fn local_addr(name: &str, s: &OwnedSocket, note: &str) -> io::Result<SockAddr> {
    call(
        &format!("{name}.local_addr()"),
        format!("getsockname({})", s.as_raw_fd()),
        s.local_addr(),
        |a| format!("0, address {}{note}", show(a)),
    )
}

/// `recv()` into a 64-byte buffer, printing what came.
fn recv(name: &str, s: &OwnedSocket, note: &str) -> io::Result<()> {
    let mut buf = [0u8; 64];
    let n = call(
        &format!("{name}.recv(&mut buf)"),
        format!(
            "recvfrom({}, buf, {}, 0, NULL, NULL)",
            s.as_raw_fd(),
            buf.len()
        ),
        s.recv(&mut buf),
        |n| format!("{n}{note}"),
    )?;
    if n > 0 {
        println!("      buf = {}", quoted(&buf[..n]));
    }
    Ok(())
}

/// `getsockopt(TCP_INFO)`, printing the state.
fn tcp_info(name: &str, s: &OwnedSocket) -> io::Result<()> {
    call(
        &format!("{name}.tcp_info()"),
        format!("getsockopt({}, IPPROTO_TCP, TCP_INFO)", s.as_raw_fd()),
        s.tcp_info(),
        |i| format!("0, state {}", tcp_state(i.state)),
    )
    .map(drop)
}

/// `close()`, with its result.
fn close(name: &str, s: OwnedSocket) -> io::Result<()> {
    let fd = s.as_raw_fd();
    call(
        &format!("{name}.close()"),
        format!("close({fd})"),
        s.close(),
        |_| "0".into(),
    )
}

// ---- printing ----

fn step(n: u32, title: &str) {
    println!("\n{n}. {title}");
}

fn say(line: &str) {
    println!("  {line}");
}

/// Prints a baresock call, the syscall it made and the kernel's answer,
/// and hands the result on.
fn call<T>(
    rust: &str,
    syscall: impl Display,
    result: io::Result<T>,
    answer: impl FnOnce(&T) -> String,
) -> io::Result<T> {
    println!("  {rust}");
    match &result {
        Ok(v) => println!("    {syscall} = {}", answer(v)),
        Err(e) => println!("    {syscall} = -1 {}", errno(e)),
    }
    result
}

/// A failure provoked on purpose: prints it, and stops the tour if the
/// kernel answered anything but `want`.
fn refused<T>(
    rust: &str,
    syscall: impl Display,
    result: io::Result<T>,
    want: i32,
) -> io::Result<()> {
    println!("  {rust}");
    match result {
        Err(e) if e.raw_os_error() == Some(want) => {
            println!("    {syscall} = -1 {}", errno(&e));
            Ok(())
        }
        Err(e) => Err(io::Error::other(format!(
            "{syscall}: expected {}, the kernel answered {}",
            errno_name(want),
            errno(&e)
        ))),
        Ok(_) => Err(io::Error::other(format!(
            "{syscall}: expected {}, but it succeeded",
            errno_name(want)
        ))),
    }
}

fn show(a: &SockAddr) -> String {
    if let Some(ip) = a.as_socket() {
        ip.to_string()
    } else if a.is_unnamed() {
        "{AF_UNIX, unnamed}".into()
    } else {
        format!("{a:?}")
    }
}

/// Bytes as strace shows them: quoted, with escapes.
fn quoted(b: &[u8]) -> String {
    format!("\"{}\"", b.escape_ascii())
}

fn pending(e: &Option<io::Error>) -> String {
    match e {
        None => "no error pending".into(),
        Some(e) => format!("pending error {}", errno(e)),
    }
}

/// `ECONNREFUSED (Connection refused)`, as strace prints an errno.
fn errno(e: &io::Error) -> String {
    let Some(code) = e.raw_os_error() else {
        return e.to_string();
    };
    let text = io::Error::from_raw_os_error(code).to_string();
    let message = text.split(" (os error").next().unwrap_or(&text);
    format!("{} ({message})", errno_name(code))
}

/// The C name of the errnos this tour can meet.
fn errno_name(code: i32) -> String {
    let name = match code {
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::EAGAIN => "EAGAIN",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ECONNRESET => "ECONNRESET",
        libc::EINTR => "EINTR",
        libc::EINVAL => "EINVAL",
        libc::EMFILE => "EMFILE",
        libc::ENOTCONN => "ENOTCONN",
        libc::EPIPE => "EPIPE",
        _ => return format!("errno {code}"),
    };
    name.into()
}

/// A TCP state number (`tcpi_state`) with its name from the kernel's
/// `include/net/tcp_states.h`.
fn tcp_state(state: u8) -> String {
    let name = match state {
        TcpInfo::ESTABLISHED => "TCP_ESTABLISHED",
        2 => "TCP_SYN_SENT",
        3 => "TCP_SYN_RECV",
        4 => "TCP_FIN_WAIT1",
        5 => "TCP_FIN_WAIT2",
        6 => "TCP_TIME_WAIT",
        7 => "TCP_CLOSE",
        TcpInfo::CLOSE_WAIT => "TCP_CLOSE_WAIT",
        9 => "TCP_LAST_ACK",
        TcpInfo::LISTEN => "TCP_LISTEN",
        11 => "TCP_CLOSING",
        _ => "unknown",
    };
    format!("{state} ({name})")
}
