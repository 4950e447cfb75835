//! backends: one readiness scenario on select, growable select, poll and
//! epoll, printed side by side.
//!
//! What it teaches: that the four readiness syscalls agree on what matters
//! — readable (R), writable (W), priority (P) — because poll and epoll
//! are translated through the kernel's own select mapping, and where they
//! differ: the extras error (+ERR), hang-up (+HUP) and read-hang-up
//! (+RDHUP), which poll and epoll see and select cannot. Each backend gets
//! its own TCP connection over loopback, and every step is done to all
//! four connections before each backend waits once with a zero timeout.
//!
//! Syscalls: socket, bind, listen, connect, accept4, sendto (with MSG_OOB
//! for the urgent byte), recvfrom, shutdown, setsockopt(SO_LINGER), close,
//! and per backend pselect6, poll, or epoll_create1 + epoll_ctl +
//! epoll_wait.
//!
//! Run it: `cargo run --example backends`. No arguments; loopback only; it
//! exits by itself in well under a second.

use baresock::poll::{Backend, Event, Events, Interest, Poller, Token};
use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, Shutdown, SockAddr, Type};
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsFd;
use std::time::Duration;

/// Our end (registered) and the peer's end of one TCP connection.
struct Conn {
    ours: OwnedSocket,
    peer: Option<OwnedSocket>,
}

fn connect_pair() -> io::Result<Conn> {
    let listener = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT)?;
    listener.bind(&SockAddr::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)))?;
    listener.listen(1)?;
    let peer = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT)?;
    peer.connect(&listener.local_addr()?)?;
    // Nonblocking from accept4: reads below end with WouldBlock.
    let (ours, _) = listener.accept_nonblocking()?;
    Ok(Conn {
        ours,
        peer: Some(peer),
    })
}

/// What one backend saw, as "R W P +extras" or "-" for no event.
fn describe(events: &Events) -> String {
    let Some(e) = events.iter().next() else {
        return "-".into();
    };
    shared(e) + &extras(e)
}

fn shared(e: &Event) -> String {
    let mut s = Vec::new();
    for (on, name) in [
        (e.is_readable(), "R"),
        (e.is_writable(), "W"),
        (e.is_priority(), "P"),
    ] {
        if on {
            s.push(name);
        }
    }
    s.join(" ")
}

fn extras(e: &Event) -> String {
    let mut s = String::new();
    for (on, name) in [
        (e.is_error(), " +ERR"),
        (e.is_hangup(), " +HUP"),
        (e.is_read_hangup(), " +RDHUP"),
    ] {
        if on {
            s.push_str(name);
        }
    }
    s
}

type Step = (&'static str, fn(&mut Conn) -> io::Result<()>);

fn main() -> io::Result<()> {
    let steps: [Step; 6] = [
        ("connected, nothing sent", |_| Ok(())),
        ("peer sends 5 bytes", |c| {
            c.peer.as_ref().unwrap().send(b"hello").map(drop)
        }),
        ("peer sends 1 urgent byte (MSG_OOB)", |c| {
            c.peer
                .as_ref()
                .unwrap()
                .send_with_flags(b"!", MsgFlags::OOB)
                .map(drop)
        }),
        ("we read all, urgent byte too", |c| {
            let mut buf = [0u8; 64];
            c.ours.recv_with_flags(&mut buf, MsgFlags::OOB)?;
            while c.ours.recv(&mut buf).is_ok() {}
            Ok(())
        }),
        ("peer shuts down its write side", |c| {
            c.peer.as_ref().unwrap().shutdown(Shutdown::Write)
        }),
        ("peer resets (SO_LINGER 0, close)", |c| {
            let peer = c.peer.take().unwrap();
            peer.set_linger(Some(Duration::ZERO))?;
            peer.close()
        }),
    ];

    let mut sides: Vec<(Backend, Box<dyn Poller>, Conn)> = Vec::new();
    for b in Backend::ALL {
        let mut poller = b.build()?;
        let conn = connect_pair()?;
        poller.register(
            conn.ours.as_fd(),
            Token(0),
            Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY,
        )?;
        sides.push((b, poller, conn));
    }
    let mut events = Events::with_capacity(4);

    print!("{:<35}", "step");
    for b in Backend::ALL {
        print!("| {:<21}", b.name());
    }
    println!("| shared contract");
    let mut all_agree = true;
    for (what, step) in steps {
        for (_, _, conn) in &mut sides {
            step(conn)?;
        }
        // Loopback delivers within the sending syscall in practice; a
        // short pause makes the example's output steady all the same.
        std::thread::sleep(Duration::from_millis(20));
        print!("{what:<35}");
        let mut shared_seen = Vec::new();
        for (_, poller, _) in &mut sides {
            poller.wait(&mut events, Some(Duration::ZERO))?;
            print!("| {:<21}", describe(&events));
            shared_seen.push(events.iter().next().map(shared));
        }
        let agree = shared_seen.windows(2).all(|w| w[0] == w[1]);
        all_agree &= agree;
        println!("| {}", if agree { "agree" } else { "DIFFER" });
    }
    println!();
    println!("R readable, W writable, P priority: the shared contract, the same on every backend.");
    println!("+ERR +HUP +RDHUP: extras; poll and epoll report them, select cannot see them.");
    if !all_agree {
        eprintln!("backends: the shared contract differed");
        std::process::exit(1);
    }
    Ok(())
}
