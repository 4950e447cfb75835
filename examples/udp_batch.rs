//! udp_batch — send and receive UDP datagrams in batches with
//! sendmmsg/recvmmsg, and see where each datagram was going with
//! IP_PKTINFO.
//!
//! What it teaches: one syscall can move many datagrams, each with its own
//! address and its own control data, over arrays the caller owns (no
//! allocation per call). IP_PKTINFO works both ways: received, it tells a
//! server which of its addresses a datagram was sent to (and on which
//! interface); sent, it picks the source address of a reply, so a server
//! with several addresses answers from the one the client used.
//!
//! Syscalls: socket, bind, setsockopt(IP_PKTINFO), sendmmsg (one batch,
//! each message with an address and an IP_PKTINFO choosing its source),
//! recvmmsg with MSG_WAITFORONE (block for the first datagram, then take
//! what is queued), and recvmmsg's per-slot addresses and control data.
//!
//! Run: `cargo run --example udp_batch` — everything stays on 127.0.0.0/8
//! and it stops on its own at once. `cargo run --example udp_batch -- any`
//! binds the server to 0.0.0.0 instead (every interface, for a moment),
//! so that one socket receives datagrams for three different addresses.
//!
//! Look for: the client sends 12 datagrams to three addresses in one
//! sendmmsg; each server takes its share with one recvmmsg and prints
//! each datagram's source and destination (reported by IP_PKTINFO); the
//! servers reply in batches, each reply's source chosen with IP_PKTINFO
//! as the address the request was sent to, and the client checks it.
//! (A client cannot choose arbitrary sources the same way unless it is
//! bound to receive the replies there: a reply to 127.0.0.10 finds no
//! socket bound to 127.0.0.1.)

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::ExitCode;
use std::time::Duration;

use baresock::msg::{self, Cmsg, CmsgBuffer, CmsgWriter, RecvMmsgHdr, SendMmsgHdr};
use baresock::{Domain, MsgFlags, OwnedSocket, Protocol, SockAddr, Type};

const BATCH: usize = 12;
const TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let any = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("any") => true,
        Some(_) => {
            eprintln!("usage: udp_batch [any]");
            return ExitCode::FAILURE;
        }
    };
    match run(any) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("udp_batch: {e}");
            ExitCode::FAILURE
        }
    }
}

fn udp(bind: SocketAddrV4) -> io::Result<OwnedSocket> {
    let s = OwnedSocket::new(Domain::IPV4, Type::DGRAM, Protocol::DEFAULT)?;
    s.bind(&SockAddr::from(SocketAddr::V4(bind)))?;
    s.set_read_timeout(Some(TIMEOUT))?;
    Ok(s)
}

fn port(s: &OwnedSocket) -> io::Result<u16> {
    Ok(s.local_addr()?.as_socket().map_or(0, |a| a.port()))
}

/// One received datagram: who sent it, where it was going, what it said.
struct Seen {
    from: SocketAddr,
    to: Ipv4Addr,
    ifindex: i32,
    data: Vec<u8>,
}

/// recvmmsg until `n` datagrams are in, each slot with a buffer, an
/// address and room for one IP_PKTINFO.
fn recv_batch(s: &OwnedSocket, n: usize) -> io::Result<Vec<Seen>> {
    let mut seen = Vec::new();
    let mut calls = 0;
    while seen.len() < n {
        calls += 1;
        if calls > n {
            return Err(io::Error::other("too many recvmmsg calls"));
        }
        let mut bufs = [[0u8; 64]; BATCH];
        let mut addrs = [SockAddr::unix_unnamed(); BATCH];
        let mut ctls = [CmsgBuffer::<{ msg::SPACE_PKTINFO_V4 }>::new(); BATCH];
        let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
            bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
        // Fresh slots for each call: the kernel shrinks a filled slot's
        // address and control lengths to what it used.
        let mut slots: Vec<RecvMmsgHdr<'_>> = iovs
            .iter_mut()
            .zip(addrs.iter_mut())
            .zip(ctls.iter_mut())
            .map(|((iov, a), c)| RecvMmsgHdr::new(iov, Some(a), c.as_mut_slice()))
            .collect();
        // MSG_WAITFORONE: block for the first, then take what is queued.
        // Without it a blocking recvmmsg waits until every slot is full.
        let mut batch = s.recv_mmsg(&mut slots, MsgFlags::WAITFORONE)?;
        println!("  recvmmsg -> {} datagrams", batch.len());
        let mut meta = Vec::new();
        for i in 0..batch.len() {
            let len = batch.get(i).map_or(0, |h| h.len());
            let from = batch
                .addr(i)
                .and_then(|a| a.as_socket())
                .ok_or_else(|| io::Error::other("no source address"))?;
            let control = batch
                .control(i)
                .ok_or_else(|| io::Error::other("no control data"))?;
            let (ifindex, to) = control
                .iter()
                .find_map(|m| match m {
                    Ok(Cmsg::PktInfoV4 { ifindex, addr, .. }) => Some((ifindex, addr)),
                    _ => None,
                })
                .ok_or_else(|| io::Error::other("no IP_PKTINFO"))?;
            meta.push((len, from, ifindex, to));
        }
        drop(batch);
        drop(slots);
        drop(iovs);
        for (i, (len, from, ifindex, to)) in meta.into_iter().enumerate() {
            seen.push(Seen {
                from,
                to,
                ifindex,
                data: bufs[i][..len].to_vec(),
            });
        }
    }
    Ok(seen)
}

/// sendmmsg `msgs` (data, destination, and a source address chosen with
/// IP_PKTINFO, or none) in as few calls as the kernel allows.
fn send_batch(s: &OwnedSocket, msgs: &[(Vec<u8>, SocketAddr, Option<Ipv4Addr>)]) -> io::Result<()> {
    let iovs: Vec<[IoSlice<'_>; 1]> = msgs.iter().map(|m| [IoSlice::new(&m.0)]).collect();
    let dests: Vec<SockAddr> = msgs.iter().map(|m| SockAddr::from(m.1)).collect();
    // Each message's control data: what its CmsgWriter wrote (as_bytes,
    // never the whole buffer: zeroed bytes after the records would read as
    // a malformed record, EINVAL).
    let controls = msgs
        .iter()
        .map(|m| {
            let mut cb = CmsgBuffer::<{ msg::SPACE_PKTINFO_V4 }>::new();
            let mut w = CmsgWriter::new(cb.as_mut_slice());
            if let Some(source) = m.2 {
                w.pktinfo_v4(0, source)?;
            }
            Ok(w.as_bytes().to_vec())
        })
        .collect::<io::Result<Vec<_>>>()?;
    let mut hdrs: Vec<SendMmsgHdr<'_>> = (0..msgs.len())
        .map(|i| SendMmsgHdr::new(&iovs[i], Some(&dests[i]), &controls[i]))
        .collect();
    let mut sent = 0;
    while sent < hdrs.len() {
        // sendmmsg returns how many went; an error after the first is not
        // reported (it would be by the next call), so loop on the rest.
        let n = s.send_mmsg(&mut hdrs[sent..], MsgFlags::NONE)?;
        println!("  sendmmsg -> {n} datagrams");
        sent += n;
    }
    Ok(())
}

fn run(any: bool) -> io::Result<()> {
    let lo = |last| Ipv4Addr::new(127, 0, 0, last);
    // Servers: one per destination address, or one for all with `any`.
    let servers: Vec<OwnedSocket> = if any {
        vec![udp(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))?]
    } else {
        let first = udp(SocketAddrV4::new(lo(1), 0))?;
        let p = port(&first)?;
        // Same port on two more loopback addresses.
        vec![
            first,
            udp(SocketAddrV4::new(lo(2), p))?,
            udp(SocketAddrV4::new(lo(3), p))?,
        ]
    };
    let server_port = port(&servers[0])?;
    for s in &servers {
        // setsockopt(IP_PKTINFO): attach the destination to every datagram.
        s.set_recv_pktinfo_v4(true)?;
    }
    let client = udp(SocketAddrV4::new(lo(1), 0))?;
    client.set_recv_pktinfo_v4(true)?;
    let client_port = port(&client)?;
    println!("servers on port {server_port}, client on port {client_port}");

    // One batch: datagram i goes to 127.0.0.(1 + i % 3).
    let requests: Vec<_> = (0..BATCH)
        .map(|i| {
            let to = SocketAddr::from((lo(1 + (i % 3) as u8), server_port));
            (format!("request {i}").into_bytes(), to, None)
        })
        .collect();
    println!("client:");
    send_batch(&client, &requests)?;

    let per_server = BATCH / servers.len();
    let mut replies = Vec::new();
    for s in &servers {
        println!("server {}:", s.local_addr()?);
        for d in recv_batch(s, per_server)? {
            println!(
                "  {:<18} -> {:<10} (ifindex {}) {:?}",
                d.from.to_string(),
                d.to.to_string(),
                d.ifindex,
                String::from_utf8_lossy(&d.data)
            );
            // Answer from the address the request was sent to: with one
            // socket on 0.0.0.0 (`any`), the kernel would otherwise pick
            // the source by route (127.0.0.1 for all of them).
            let mut reply = b"reply to ".to_vec();
            reply.extend_from_slice(&d.data);
            replies.push((s, reply, d.from, Some(d.to)));
        }
    }
    // Each server replies to its own requests in one batch.
    for s in &servers {
        let mine: Vec<_> = replies
            .iter()
            .filter(|r| std::ptr::eq(r.0, s))
            .map(|r| (r.1.clone(), r.2, r.3))
            .collect();
        println!("server {} replies:", s.local_addr()?);
        send_batch(s, &mine)?;
    }

    println!("client receives:");
    let back = recv_batch(&client, BATCH)?;
    for d in &back {
        println!(
            "  {:<18} -> {:<10} {:?}",
            d.from.to_string(),
            d.to.to_string(),
            String::from_utf8_lossy(&d.data)
        );
        // The reply came from the address its request went to.
        let text = String::from_utf8_lossy(&d.data);
        let i: usize = text
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| io::Error::other("bad reply"))?;
        let (_, to, _) = &requests[i];
        if d.from != *to || d.to != lo(1) {
            return Err(io::Error::other(format!("reply {i} crossed addresses")));
        }
    }
    println!(
        "{} requests, {} replies, every reply from the right address",
        BATCH,
        back.len()
    );
    Ok(())
}
