//! Classic BPF socket filters: one checked [`Program`] type for
//! `SO_ATTACH_FILTER` and `SO_ATTACH_REUSEPORT_CBPF`, and the two programs
//! a daemon needs ([`Program::steer_by_cpu`], [`Program::drop_new_syns`]).
//!
//! A classic BPF program is a list of 8-byte instructions ([`Insn`], the
//! kernel's `struct sock_filter`) that the kernel runs on each packet: an
//! accumulator `A`, an index register `X`, 16 scratch words, loads from
//! the packet (`BPF_LD|BPF_ABS`: big-endian, network order, whatever the
//! machine's own order) or from ancillary data (`SKF_AD_OFF +
//! SKF_AD_CPU`: the CPU handling the packet), arithmetic, forward jumps,
//! and a return whose value decides: for a socket filter, how many bytes
//! of the packet to keep (0 drops it); for a reuseport program, the index
//! of the socket in the group that gets it.
//!
//! The kernel checks a program before it takes it (`bpf_check_classic` in
//! net/core/filter.c) and refuses a bad one with a bare `EINVAL`.
//! [`Program::new`] makes the same checks, so a bad program is an
//! `InvalidInput` error that says what is wrong, at the instruction that is
//! wrong, before any syscall: length 1 to 4,096 (`BPF_MAXINSNS`); every
//! opcode one the kernel knows; every jump forward and inside the program;
//! the last instruction a return; no division by a constant 0, no shift
//! by 32 or more; scratch words 0 to 15, and none read before every path
//! to the read has stored it; an ancillary load of a known field.
//!
//! # Byte order
//!
//! An [`Insn`] is in the machine's own order (it is a C struct the kernel
//! reads as such). Packet loads are not: `BPF_H` and `BPF_W` loads read
//! network (big-endian) order and leave a number in `A`, on every
//! machine, s390x included. So a filter on a port compares with the port
//! as a number (`k = 8080`), never with `8080u16.to_be()`; a byte load
//! (`BPF_B`, the TCP flags) has no order at all.
//!
//! # Where the packet starts
//!
//! Offset 0 is where the protocol that delivers to the socket starts
//! reading: for a TCP socket the TCP header (IPv4 and IPv6 alike: the IP
//! header is already behind, reachable only through `SKF_NET_OFF`), for a
//! UDP socket the UDP header, for a packet socket the link-layer header.
//!
//! # Examples
//!
//! ```
//! use baresock::bpf::{Insn, Program};
//!
//! // ret #0: accepts nothing.
//! let drop_all = Program::new(&[Insn::stmt(libc::BPF_RET as u16 | libc::BPF_K as u16, 0)])?;
//! assert_eq!(drop_all.len(), 1);
//! // A jump past the end is refused here, not by the kernel.
//! let jump = Insn::jump((libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16, 0, 5, 0);
//! let ret = Insn::stmt((libc::BPF_RET | libc::BPF_K) as u16, 0);
//! let e = Program::new(&[jump, ret]).unwrap_err();
//! assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # References
//! [socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html),
//! [filter.rst](https://docs.kernel.org/networking/filter.html)

use std::fmt;
use std::io;

use static_assertions::{assert_eq_align, assert_eq_size, const_assert_eq};

/// One classic BPF instruction, laid out as the kernel's `struct
/// sock_filter`: `{ code: u16, jt: u8, jf: u8, k: u32 }`, in the
/// machine's own byte order.
///
/// `code` is the opcode (`BPF_LD | BPF_W | BPF_ABS`...: the `libc::BPF_*`
/// constants, or-ed); `jt` and `jf` are the conditional jump's offsets
/// when true and when false, counted from the next instruction; `k` is
/// the constant operand. An `Insn` is any 8 bytes: [`Program::new`] checks
/// them.
#[doc(alias = "sock_filter")]
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Insn {
    /// The opcode: class, size, mode, operation and source, or-ed.
    pub code: u16,
    /// Jump offset when the condition holds.
    pub jt: u8,
    /// Jump offset when it does not.
    pub jf: u8,
    /// The constant operand.
    pub k: u32,
}

assert_eq_size!(Insn, libc::sock_filter);
assert_eq_align!(Insn, libc::sock_filter);
const_assert_eq!(
    std::mem::offset_of!(Insn, code),
    std::mem::offset_of!(libc::sock_filter, code)
);
const_assert_eq!(
    std::mem::offset_of!(Insn, jt),
    std::mem::offset_of!(libc::sock_filter, jt)
);
const_assert_eq!(
    std::mem::offset_of!(Insn, jf),
    std::mem::offset_of!(libc::sock_filter, jf)
);
const_assert_eq!(
    std::mem::offset_of!(Insn, k),
    std::mem::offset_of!(libc::sock_filter, k)
);

impl Insn {
    /// `BPF_STMT(code, k)` — an instruction that does not jump.
    #[doc(alias = "BPF_STMT")]
    pub const fn stmt(code: u16, k: u32) -> Insn {
        Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }

    /// `BPF_JUMP(code, k, jt, jf)` — a conditional jump: compare `A` with
    /// `k` (or `X`), then skip `jt` instructions if true, `jf` if false.
    #[doc(alias = "BPF_JUMP")]
    pub const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
        Insn { code, jt, jf, k }
    }
}

impl fmt::Debug for Insn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{ code: {:#06x}, jt: {}, jf: {}, k: {:#x} }}",
            self.code, self.jt, self.jf, self.k
        )
    }
}

// Opcodes, as u16 (libc names them as u32).
const fn op(v: u32) -> u16 {
    v as u16
}
const LD: u16 = op(libc::BPF_LD);
const LDX: u16 = op(libc::BPF_LDX);
const ST: u16 = op(libc::BPF_ST);
const STX: u16 = op(libc::BPF_STX);
const ALU: u16 = op(libc::BPF_ALU);
const JMP: u16 = op(libc::BPF_JMP);
const RET: u16 = op(libc::BPF_RET);
const MISC: u16 = op(libc::BPF_MISC);
const W: u16 = op(libc::BPF_W);
const H: u16 = op(libc::BPF_H);
const B: u16 = op(libc::BPF_B);
const IMM: u16 = op(libc::BPF_IMM);
const ABS: u16 = op(libc::BPF_ABS);
const IND: u16 = op(libc::BPF_IND);
const MEM: u16 = op(libc::BPF_MEM);
const LEN: u16 = op(libc::BPF_LEN);
const MSH: u16 = op(libc::BPF_MSH);
const K: u16 = op(libc::BPF_K);
const A: u16 = op(libc::BPF_A);
const AND: u16 = op(libc::BPF_AND);
const DIV: u16 = op(libc::BPF_DIV);
const MOD: u16 = op(libc::BPF_MOD);
const LSH: u16 = op(libc::BPF_LSH);
const RSH: u16 = op(libc::BPF_RSH);
const NEG: u16 = op(libc::BPF_NEG);
const JA: u16 = op(libc::BPF_JA);
const JEQ: u16 = op(libc::BPF_JEQ);
const TAX: u16 = op(libc::BPF_TAX);
const TXA: u16 = op(libc::BPF_TXA);

/// `BPF_MAXINSNS`: the longest program the kernel takes.
pub const MAX_INSNS: usize = libc::BPF_MAXINSNS as usize;
/// `BPF_MEMWORDS`: the scratch words `M[0]`..`M[15]`.
const MEMWORDS: u32 = libc::BPF_MEMWORDS as u32;
/// `SKF_AD_OFF` as the unsigned `k` of a load.
const AD_OFF: u32 = libc::SKF_AD_OFF as u32;

/// How an opcode's operands are checked; `None`: the kernel does not know
/// the opcode.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    /// DIV or MOD by the constant k: k must not be 0.
    DivK,
    /// LSH or RSH by the constant k: k below 32.
    ShiftK,
    /// A scratch word is read (LD/LDX MEM).
    MemLoad,
    /// A scratch word is written (ST/STX).
    MemStore,
    /// BPF_JA: k is the offset.
    Ja,
    /// A conditional jump: jt and jf are the offsets.
    Cond,
    /// An absolute load: k may name an ancillary field.
    Abs,
    /// A return.
    Ret,
}

/// The opcodes the kernel accepts (`chk_code_allowed` in
/// net/core/filter.c), with how each is checked.
fn kind(code: u16) -> Option<Kind> {
    let alu_ops = [0x00, 0x10, 0x20, DIV, 0x40, AND, LSH, RSH, MOD, 0xa0];
    Some(match code {
        c if c & 0x07 == ALU => {
            let (opn, src) = (c & 0xf0, c & 0x08);
            if c & !0xf8 != ALU {
                return None;
            }
            if opn == NEG && src == K {
                Kind::Plain
            } else if !alu_ops.contains(&opn) {
                return None;
            } else if src == K && (opn == DIV || opn == MOD) {
                Kind::DivK
            } else if src == K && (opn == LSH || opn == RSH) {
                Kind::ShiftK
            } else {
                Kind::Plain
            }
        }
        c if c == LD | W | ABS || c == LD | H | ABS || c == LD | B | ABS => Kind::Abs,
        c if c == LD | W | LEN
            || c == LD | W | IND
            || c == LD | H | IND
            || c == LD | B | IND
            || c == LD | IMM
            || c == LDX | W | LEN
            || c == LDX | B | MSH
            || c == LDX | IMM =>
        {
            Kind::Plain
        }
        c if c == LD | MEM || c == LDX | MEM => Kind::MemLoad,
        c if c == ST || c == STX => Kind::MemStore,
        c if c == MISC | TAX || c == MISC | TXA => Kind::Plain,
        c if c == RET | K || c == RET | A => Kind::Ret,
        c if c == JMP | JA => Kind::Ja,
        c if c & 0x07 == JMP
            && c & !0xf8 == JMP
            && [JEQ, 0x20, 0x30, 0x40].contains(&(c & 0xf0)) =>
        {
            Kind::Cond
        }
        _ => return None,
    })
}

/// The ancillary fields of `SKF_AD_OFF + n` the kernel knows (`SKF_AD_PROTOCOL`
/// 0 to `SKF_AD_VLAN_TPID` 60, every 4).
fn known_ancillary(k: u32) -> bool {
    let n = k.wrapping_sub(AD_OFF);
    n <= libc::SKF_AD_VLAN_TPID as u32 && n % 4 == 0
}

fn refuse(at: usize, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("BPF instruction {at}: {what}"),
    )
}

/// A classic BPF program that passed the kernel's checks: 1 to 4,096
/// instructions, every jump forward and inside it, ending in a return
/// (the full list is in the [module docs](crate::bpf)).
///
/// Attach it with [`OwnedSocket::attach_filter`](crate::OwnedSocket::attach_filter)
/// (`SO_ATTACH_FILTER`) or
/// [`OwnedSocket::attach_reuseport_cbpf`](crate::OwnedSocket::attach_reuseport_cbpf)
/// (`SO_ATTACH_REUSEPORT_CBPF`); the kernel copies it, so the program can
/// be dropped or attached again to other sockets afterwards.
#[doc(alias = "sock_fprog")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    insns: Box<[Insn]>,
}

impl Program {
    /// Checks `insns` as the kernel will, and copies them into a program.
    ///
    /// # Errors
    ///
    /// `InvalidInput`, naming the instruction and the reason, where the
    /// kernel would answer `EINVAL`: no instructions or more than 4,096
    /// ([`MAX_INSNS`]); an opcode the kernel does not know; a jump that
    /// lands past the last instruction; a last instruction that is not a
    /// return; a division or modulo by a constant 0; a shift by a constant
    /// of 32 or more; a scratch word above 15, or read where some path to
    /// the read has not stored it; an ancillary load (`k >= SKF_AD_OFF`)
    /// of a field the kernel does not know.
    pub fn new(insns: &[Insn]) -> io::Result<Program> {
        let n = insns.len();
        if n == 0 || n > MAX_INSNS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a BPF program has 1 to {MAX_INSNS} instructions, not {n}"),
            ));
        }
        for (pc, i) in insns.iter().enumerate() {
            let left = n - pc - 1;
            match kind(i.code).ok_or_else(|| refuse(pc, "an opcode the kernel does not know"))? {
                Kind::DivK if i.k == 0 => return Err(refuse(pc, "division by a constant 0")),
                Kind::ShiftK if i.k >= 32 => return Err(refuse(pc, "a shift by 32 or more")),
                Kind::MemLoad | Kind::MemStore if i.k >= MEMWORDS => {
                    return Err(refuse(pc, "a scratch word above M[15]"));
                }
                Kind::Ja if i.k as usize >= left => {
                    return Err(refuse(pc, "a jump past the last instruction"));
                }
                Kind::Cond if usize::from(i.jt) >= left || usize::from(i.jf) >= left => {
                    return Err(refuse(pc, "a jump past the last instruction"));
                }
                Kind::Abs if i.k >= AD_OFF && !known_ancillary(i.k) => {
                    return Err(refuse(pc, "an ancillary field the kernel does not know"));
                }
                _ => {}
            }
        }
        if kind(insns[n - 1].code) != Some(Kind::Ret) {
            return Err(refuse(n - 1, "the last instruction is not a return"));
        }
        check_scratch(insns)?;
        Ok(Program {
            insns: insns.into(),
        })
    }

    /// The instructions.
    pub fn instructions(&self) -> &[Insn] {
        &self.insns
    }

    /// The number of instructions, 1 to 4,096.
    #[allow(clippy::len_without_is_empty)] // never empty
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// `ld [SKF_AD_OFF + SKF_AD_CPU]; ret a` — for
    /// `SO_ATTACH_REUSEPORT_CBPF`: give each connection (or datagram) to
    /// the socket whose index in the reuseport group is the number of the
    /// CPU that received it.
    ///
    /// The index is the order in which the group's sockets were bound
    /// (the first bound is 0). Bind one listener per CPU, CPU order, and
    /// pin each listener's worker to its CPU: a connection is then
    /// accepted on the CPU whose softirq handled its SYN. An index past
    /// the group's size falls back to the kernel's hash.
    pub fn steer_by_cpu() -> Program {
        Program {
            insns: Box::new([
                Insn::stmt(LD | W | ABS, AD_OFF + libc::SKF_AD_CPU as u32),
                Insn::stmt(RET | A, 0),
            ]),
        }
    }

    /// A socket filter for a TCP listener that drops pure SYN segments
    /// (SYN set, ACK clear) and accepts everything else — the fence of a
    /// graceful stop.
    ///
    /// ```text
    /// ldb [13]           ; TCP flags: offset 0 is the TCP header
    /// and #0x12          ; SYN | ACK
    /// jeq #0x02, drop    ; SYN alone: a new connection
    /// ret #0xffffffff    ; anything else: keep it all
    /// drop: ret #0
    /// ```
    ///
    /// Attached to a listener (IPv4 or IPv6), new connections no longer
    /// complete: their SYNs vanish and the client retransmits, seeing
    /// neither a reset nor a refusal, while handshakes in flight still
    /// complete (their last ACK passes) and connections already queued
    /// are still accepted. Accepted sockets inherit the filter, which
    /// lets their traffic through. Detach it to take new connections
    /// again.
    pub fn drop_new_syns() -> Program {
        // The flags byte of the TCP header; ACK and SYN bits.
        const TCP_FLAGS: u32 = 13;
        const SYN: u32 = 0x02;
        const ACK: u32 = 0x10;
        Program {
            insns: Box::new([
                Insn::stmt(LD | B | ABS, TCP_FLAGS),
                Insn::stmt(ALU | AND | K, SYN | ACK),
                Insn::jump(JMP | JEQ | K, SYN, 1, 0),
                Insn::stmt(RET | K, u32::MAX),
                Insn::stmt(RET | K, 0),
            ]),
        }
    }
}

/// The kernel's `check_load_and_stores`: a scratch word read must have
/// been stored on every path that reaches the read.
fn check_scratch(insns: &[Insn]) -> io::Result<()> {
    // Per instruction, the words valid on every jump that lands there.
    let mut masks = vec![u16::MAX; insns.len()];
    let mut valid: u16 = 0;
    for (pc, i) in insns.iter().enumerate() {
        valid &= masks[pc];
        match kind(i.code) {
            // k < 16: checked by the caller.
            Some(Kind::MemStore) => valid |= 1 << i.k,
            Some(Kind::MemLoad) if valid & (1 << i.k) == 0 => {
                return Err(refuse(pc, "reads a scratch word not stored on every path"));
            }
            Some(Kind::Ja) => {
                masks[pc + 1 + i.k as usize] &= valid;
                valid = u16::MAX;
            }
            Some(Kind::Cond) => {
                masks[pc + 1 + usize::from(i.jt)] &= valid;
                masks[pc + 1 + usize::from(i.jf)] &= valid;
                valid = u16::MAX;
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const X: u16 = op(libc::BPF_X);

    fn ret() -> Insn {
        Insn::stmt(RET | K, 0)
    }

    #[test]
    fn builders_pass_the_checks() {
        for p in [Program::steer_by_cpu(), Program::drop_new_syns()] {
            assert_eq!(Program::new(p.instructions()).unwrap(), p);
        }
    }

    #[test]
    fn every_known_opcode_is_accepted_and_others_refused() {
        let mut accepted = 0;
        for code in 0..=u16::MAX {
            if kind(code).is_some() {
                accepted += 1;
            }
        }
        // chk_code_allowed's table: 21 ALU, 13 loads, 2 stores, 2 misc,
        // 2 returns, 9 jumps.
        assert_eq!(accepted, 21 + 13 + 2 + 2 + 2 + 9);
        assert!(kind(JMP | JA | X).is_none());
        assert!(kind(ALU | NEG | X).is_none());
        assert!(kind(RET | X).is_none());
    }

    #[test]
    fn scratch_reads_need_a_store_on_every_path() {
        let st = Insn::stmt(ST, 3);
        let ld = Insn::stmt(LD | MEM, 3);
        assert!(Program::new(&[st, ld, ret()]).is_ok());
        assert!(Program::new(&[ld, ret()]).is_err());
        // A jump over the store: one path reads M[3] unset.
        let j = Insn::jump(JMP | JEQ | K, 0, 0, 1);
        assert!(Program::new(&[j, st, ld, ret()]).is_err());
        assert!(Program::new(&[st, j, st, ld, ret()]).is_ok());
    }
}
