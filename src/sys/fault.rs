//! Fault injection (feature `fault-injection`): a test scripts what the
//! next matching syscalls of its own thread return.
//!
//! ```ignore
//! use baresock::fault::{self, Fault};
//! use baresock::Syscall;
//! fault::inject(Syscall::Recvfrom, 1, Fault::Errno(libc::EINTR));
//! assert_eq!(sock.recv(&mut buf).unwrap_err().kind(), std::io::ErrorKind::Interrupted);
//! ```
//!
//! - An injected errno replaces the real call: the kernel never sees it
//!   (so nothing half-happens), and the wrapper returns the error exactly as
//!   if the kernel had. `close` is the exception: it always really closes
//!   (the fd must not leak), then reports the injected error.
//! - A short count is a real call with a shortened length: the kernel moves
//!   at most that many bytes and the count returned is what it really
//!   moved, so no byte is ever reported that was not transferred. It
//!   applies to the calls that take one buffer length (`sendto`,
//!   `recvfrom`, `read`, `write`); [`inject`] refuses it for others.
//!
//! Scripts are per thread, so tests running in parallel do not disturb one
//! another. Compiled out entirely without the feature.

use std::cell::RefCell;
use std::io;

use super::Syscall;

/// What an injected call does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Fail with this errno instead of calling the kernel (`close` calls
    /// it, then fails).
    Errno(i32),
    /// Call the kernel with the buffer length cut to at most this many
    /// bytes (0 included). On `getsockopt` that is the option's length:
    /// the kernel writes at most that many bytes and says so, as an older
    /// kernel (or an emulator) with a smaller struct would.
    Short(usize),
}

#[derive(Debug)]
struct Rule {
    call: Syscall,
    /// Matching calls still to pass before this rule fires (0: the next).
    skip: u32,
    fault: Fault,
}

thread_local! {
    static RULES: RefCell<Vec<Rule>> = const { RefCell::new(Vec::new()) };
}

/// Which calls take a single buffer length that a short count can cut.
fn takes_a_length(call: Syscall) -> bool {
    matches!(
        call,
        Syscall::Sendto | Syscall::Recvfrom | Syscall::Read | Syscall::Write | Syscall::Getsockopt
    )
}

/// Scripts the `nth` next call of `call` on this thread (1: the very next)
/// to suffer `fault`. Rules for different calls, or for the same call at
/// different counts, stack.
///
/// # Errors
///
/// `InvalidInput` for `nth` 0, or a [`Fault::Short`] on a call without a
/// single buffer length.
pub fn inject(call: Syscall, nth: u32, fault: Fault) -> io::Result<()> {
    if nth == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "nth counts from 1",
        ));
    }
    if matches!(fault, Fault::Short(_)) && !takes_a_length(call) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a short count needs a call with one buffer length",
        ));
    }
    RULES.with(|r| {
        r.borrow_mut().push(Rule {
            call,
            skip: nth - 1,
            fault,
        })
    });
    Ok(())
}

/// Forgets every rule of this thread.
pub fn clear() {
    RULES.with(|r| r.borrow_mut().clear());
}

/// How many rules of this thread have not fired yet.
pub fn pending() -> usize {
    RULES.with(|r| r.borrow().len())
}

/// Called by the syscall layer before `call`: the fault scripted for this
/// call, if one fires now. Counts the call against every rule for it.
pub(crate) fn take(call: Syscall) -> Option<Fault> {
    RULES.with(|r| {
        let mut rules = r.borrow_mut();
        let mut fired = None;
        let mut i = 0;
        while i < rules.len() {
            if rules[i].call != call {
                i += 1;
                continue;
            }
            if rules[i].skip == 0 && fired.is_none() {
                fired = Some(rules.remove(i).fault);
                continue;
            }
            rules[i].skip = rules[i].skip.saturating_sub(1);
            i += 1;
        }
        fired
    })
}
