//! Readiness translation: one kernel readiness, three encodings, one
//! answer.
//!
//! The fuzzer picks the readiness mask a socket's `poll` method would
//! return in the kernel (the `__poll_t` bits: IN, PRI, OUT, ERR, HUP,
//! RDNORM, RDBAND, WRNORM, WRBAND, MSG, RDHUP) and an interest. The target
//! encodes that readiness as each backend's kernel would hand it back —
//! epoll's `events` (`mask & (registered events | ERR | HUP)`, as
//! `ep_item_poll` does), poll's `revents` (`mask & (events | ERR | HUP)`,
//! as `do_pollfd` does), select's three set bits (`POLLIN_SET`,
//! `POLLOUT_SET`, `POLLEX_SET` of fs/select.c, each only for a set the
//! interest put the fd in) — translates each back through the pure
//! functions [`Event::from_epoll`], [`Event::from_poll`] and
//! [`Event::from_select`], and requires:
//!
//! - the shared contract (token, readable, writable, priority) is the same
//!   for all three, and equals an oracle written here from fs/select.c;
//! - no event when nothing is left after masking;
//! - poll and epoll report the same extras, each exactly the kernel bit
//!   (read-hang-up only with readable interest); select reports none;
//! - `POLLNVAL` (poll's answer for a closed fd) gives the documented error
//!   event with every readiness flag of the interest.
//!
//! Pure: no fd, no syscall.
#![no_main]

use baresock::poll::{Event, Interest, Token};
use libfuzzer_sys::fuzz_target;

const IN_SET: u32 = (libc::EPOLLIN | libc::EPOLLRDNORM | libc::EPOLLRDBAND) as u32
    | (libc::EPOLLHUP | libc::EPOLLERR) as u32;
const OUT_SET: u32 =
    (libc::EPOLLOUT | libc::EPOLLWRNORM | libc::EPOLLWRBAND) as u32 | libc::EPOLLERR as u32;
const EX_SET: u32 = libc::EPOLLPRI as u32;
const ERR: u32 = libc::EPOLLERR as u32;
const HUP: u32 = libc::EPOLLHUP as u32;
const RDHUP: u32 = libc::EPOLLRDHUP as u32;
/// The bits a socket's poll method can return (POLLNVAL is poll(2)'s own,
/// for a closed fd, and handled apart).
const KERNEL_BITS: u32 = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | RDHUP;

fn interest_from(b: u8) -> Interest {
    let mut i = match b & 7 {
        0 | 1 => Interest::READABLE,
        2 => Interest::WRITABLE,
        3 => Interest::READABLE | Interest::WRITABLE,
        4 => Interest::PRIORITY,
        5 => Interest::READABLE | Interest::PRIORITY,
        6 => Interest::WRITABLE | Interest::PRIORITY,
        _ => Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY,
    };
    if b & 8 != 0 {
        i = i.oneshot();
    }
    if b & 16 != 0 {
        i = i.edge();
    }
    i
}

type Shared = (usize, bool, bool, bool);

fn shared(e: Option<Event>) -> Option<Shared> {
    e.map(|e| {
        (
            e.token().0,
            e.is_readable(),
            e.is_writable(),
            e.is_priority(),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 7 {
        return;
    }
    let interest = interest_from(data[0]);
    let mask = u32::from_le_bytes([data[1], data[2], data[3], data[4]]) & KERNEL_BITS;
    let token = Token(usize::from(u16::from_le_bytes([data[5], data[6]])));

    // The interest's two encodings ask for the same readiness bits (poll
    // and epoll share their numbering on Linux); epoll adds only the
    // mode bits.
    let asked_epoll = interest.epoll_events();
    let asked_poll = interest.poll_events();
    let modes = (libc::EPOLLONESHOT | libc::EPOLLET) as u32;
    assert_eq!(asked_epoll & !modes, u32::from(asked_poll as u16));
    assert_eq!(
        asked_epoll & libc::EPOLLONESHOT as u32 != 0,
        interest.is_oneshot()
    );
    assert_eq!(asked_epoll & libc::EPOLLET as u32 != 0, interest.is_edge());

    // What each kernel hands back.
    let epoll_events = mask & ((asked_epoll & !modes) | ERR | HUP);
    let revents = (mask & (u32::from(asked_poll as u16) | ERR | HUP)) as u16 as libc::c_short;
    let sel_read = interest.is_readable() && mask & IN_SET != 0;
    let sel_write = interest.is_writable() && mask & OUT_SET != 0;
    let sel_except = interest.is_priority() && mask & EX_SET != 0;

    let from_epoll = Event::from_epoll(token, interest, epoll_events);
    let from_poll = Event::from_poll(token, interest, revents);
    let from_select = Event::from_select(token, interest, sel_read, sel_write, sel_except);

    // The oracle, from fs/select.c and the interest alone.
    let (r, w, p) = (
        interest.is_readable() && mask & IN_SET != 0,
        interest.is_writable() && mask & OUT_SET != 0,
        interest.is_priority() && mask & EX_SET != 0,
    );
    let want = (r || w || p).then_some((token.0, r, w, p));
    assert_eq!(
        shared(from_epoll),
        want,
        "epoll {epoll_events:#x} {interest:?}"
    );
    assert_eq!(shared(from_poll), want, "poll {revents:#x} {interest:?}");
    assert_eq!(shared(from_select), want, "select {interest:?}");

    // Extras: poll and epoll alike, each the kernel's bit; select none.
    if let (Some(e), Some(q)) = (from_epoll, from_poll) {
        assert_eq!(e, q, "poll and epoll differ on {mask:#x} {interest:?}");
        assert_eq!(e.is_error(), mask & ERR != 0);
        assert_eq!(e.is_hangup(), mask & HUP != 0);
        assert_eq!(
            e.is_read_hangup(),
            interest.is_readable() && mask & RDHUP != 0
        );
    }
    if let Some(s) = from_select {
        assert!(!s.is_error() && !s.is_hangup() && !s.is_read_hangup());
    }

    // poll's answer for a closed fd, alone or with any other bits.
    let nval = Event::from_poll(token, interest, revents | libc::POLLNVAL)
        .expect("POLLNVAL always gives an event");
    assert_eq!(
        shared(Some(nval)),
        Some((
            token.0,
            interest.is_readable(),
            interest.is_writable(),
            interest.is_priority()
        ))
    );
    assert!(nval.is_error() && !nval.is_hangup() && !nval.is_read_hangup());
});
