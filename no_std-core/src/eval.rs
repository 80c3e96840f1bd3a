//! Invariant evaluator (Assertion Checker): runs one verified invariant against a trapped
//! system call, its registers and P's memory.
//!
//! The machine is a stack of u64 (depth ≤ [`MAX_STACK`]). Inputs: immediates, the syscall
//! number and ABI, the six arguments, any register of [`Registers`], the user RIP. Memory
//! loads of 1/2/4/8 bytes (zero- or sign-extending) go through [`VirtMemory`]. String and
//! byte comparisons read at most the constant's length (+1 for the NUL of `str_eq`), chunked
//! so that they never read past a page they do not need: a short string at the end of a
//! mapped page compares fine even if the next page is unmapped. The bounded scans (`strlen`,
//! `str_contains`, `str_suffix`, `str_class`) read each guest byte once, at most `bound + 1`
//! of them, and stop as soon as the answer is known (an occurrence, a byte outside the class,
//! the NUL); `str_contains` and `str_suffix` keep the last [`MAX_MATCH_LEN`] bytes in a ring
//! on the stack to compare the constant against.
//!
//! The result: the code ends with one value on the stack — non-zero means the invariant
//! holds ([`Verdict::Allow`]), zero is [`ViolationKind::InvariantFalse`]. `deny` and a failed
//! `require_site` end evaluation early with their own violation kinds. A memory fault,
//! division by zero or an over-long string (`strlen`, `str_contains`, `str_suffix`: no NUL
//! within the bound, so the answer is unknown) makes the invariant [`Verdict::Unverifiable`]:
//! the caller decides (fail-closed kills P). `str_class` instead answers false for a string
//! longer than its bound, which it rejects by definition.
//!
//! Bounds: jumps only go forward, so at most `code.len()` instructions run; each reads at most
//! 4097 guest bytes and compares at most `MAX_MATCH_LEN` constant bytes per guest byte; the
//! verifier caps the sum ([`crate::policy::verify::MAX_INVARIANT_COST`]).
//! The evaluator trusts the verifier for correctness but never for memory safety: every stack
//! and operand access is still checked, and a violated assumption is reported as
//! [`EvalFault::Malformed`] instead of a panic.

use crate::addr::{GuestVirtAddr, PAGE_SIZE};
use crate::mem::{MemError, VirtMemory};
use crate::policy::op::{decode_insn, Insn, MAX_MATCH_LEN, MAX_STACK};
use crate::policy::{ByteClass, ConstPool, Invariant};
use crate::regs::Registers;
use crate::syscall::Syscall;

/// How many values a violation report carries.
pub const MAX_VALUES: usize = 4;

/// Values recorded for an alert (`note` instructions, the offending RIP): the first
/// [`MAX_VALUES`] are kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Values {
    vals: [u64; MAX_VALUES],
    len: u8,
}

impl Values {
    /// No values.
    pub const fn new() -> Self {
        Self { vals: [0; MAX_VALUES], len: 0 }
    }
    /// Appends `v`; returns false (and drops it) when full.
    pub fn push(&mut self, v: u64) -> bool {
        match self.vals.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = v;
                self.len += 1;
                true
            }
            None => false,
        }
    }
    /// The values, oldest first.
    pub fn as_slice(&self) -> &[u64] {
        self.vals.get(..usize::from(self.len)).unwrap_or(&[])
    }
    /// Number of values.
    pub const fn len(&self) -> usize {
        self.len as usize
    }
    /// True if none.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Which invariant a verdict is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvariantRef {
    /// Index in the policy's invariant table (for its name).
    pub index: u16,
    /// Stable id from the static tool.
    pub id: u32,
}

/// What kind of violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViolationKind {
    /// The invariant evaluated to false.
    InvariantFalse,
    /// The invariant says this call is not allowed (`deny`).
    Denied,
    /// The call came from a call site the invariant does not allow (`require_site`).
    WrongCallSite,
    /// No rule matched and the policy's default action is deny.
    DefaultDeny,
    /// The call used an ABI for which the policy has no rules (`DENY_OTHER_ABIS`).
    OtherAbi,
    /// The legal-trace automaton has no transition for this call from `state`.
    Trace {
        /// The process's automaton state before the call.
        state: u32,
    },
}

/// Why an invariant could not be evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalFault {
    /// Reading P's memory failed.
    Memory {
        /// First address of the read that failed.
        addr: u64,
        /// Why (for a failed translation it carries the exact address and page-table level).
        error: MemError,
    },
    /// Division or remainder by zero.
    DivideByZero,
    /// `strlen`, `str_contains` or `str_suffix` found no NUL within its bound (and
    /// `str_contains` no occurrence either).
    StringTooLong {
        /// Start of the string.
        addr: u64,
        /// The bound.
        max: u16,
    },
    /// The code broke an assumption the verifier guarantees (cannot happen for an invariant
    /// of a decoded policy; reported rather than panicking).
    Malformed,
}

/// Outcome for one system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Let the call run.
    Allow,
    /// The call breaks the policy.
    Violation {
        /// The invariant that failed (`None` for default-deny, other-ABI and trace
        /// violations, which no invariant decides).
        invariant: Option<InvariantRef>,
        /// What failed.
        kind: ViolationKind,
        /// Values seen (notes; for `WrongCallSite` the RIP first).
        values: Values,
    },
    /// The invariant could not be decided.
    Unverifiable {
        /// The invariant.
        invariant: InvariantRef,
        /// Offset of the instruction that faulted in the invariant's code.
        at: u16,
        /// Why.
        reason: EvalFault,
    },
}

impl Verdict {
    /// True for [`Verdict::Allow`].
    pub const fn is_allow(&self) -> bool {
        matches!(self, Verdict::Allow)
    }
}

/// Work done by one evaluation (for tests and benchmarks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvalStats {
    /// Instructions executed.
    pub steps: u32,
    /// Guest bytes requested from memory.
    pub guest_bytes: u32,
}

/// Evaluates `inv` for the call `sc` with registers `regs`, reading P's memory through `mem`,
/// for a P whose image is at load base 0 (absolute addresses).
#[inline]
pub fn evaluate<M: VirtMemory + ?Sized>(inv: &Invariant<'_>, sc: &Syscall, regs: &Registers, mem: &mut M) -> Verdict {
    let mut stats = EvalStats::default();
    evaluate_with_stats(inv, sc, regs, 0, mem, &mut stats)
}

/// [`evaluate`] for a P whose image is loaded at `base` (what `image_base` pushes; `sc`'s
/// RIP is already relative to it, see [`crate::checker`]), also counting the work done into
/// `stats`.
pub fn evaluate_with_stats<M: VirtMemory + ?Sized>(
    inv: &Invariant<'_>,
    sc: &Syscall,
    regs: &Registers,
    base: u64,
    mem: &mut M,
    stats: &mut EvalStats,
) -> Verdict {
    let me = InvariantRef { index: inv.index(), id: inv.id() };
    let code = inv.code();
    let consts: &ConstPool<'_> = inv.consts();
    let mut stack = [0u64; MAX_STACK];
    let mut sp = 0usize;
    let mut notes = Values::new();
    let mut pc = 0usize;

    macro_rules! fault {
        ($reason:expr) => {
            return Verdict::Unverifiable { invariant: me, at: pc as u16, reason: $reason }
        };
    }
    macro_rules! pop {
        () => {{
            let Some(i) = sp.checked_sub(1) else { fault!(EvalFault::Malformed) };
            let Some(&v) = stack.get(i) else { fault!(EvalFault::Malformed) };
            sp = i;
            v
        }};
    }
    macro_rules! top {
        () => {{
            let Some(&v) = sp.checked_sub(1).and_then(|i| stack.get(i)) else { fault!(EvalFault::Malformed) };
            v
        }};
    }
    macro_rules! push {
        ($v:expr) => {{
            let v = $v;
            let Some(slot) = stack.get_mut(sp) else { fault!(EvalFault::Malformed) };
            *slot = v;
            sp += 1;
        }};
    }
    macro_rules! mem_try {
        ($e:expr) => {
            match $e {
                Ok(v) => v,
                Err((addr, error)) => fault!(EvalFault::Memory { addr, error }),
            }
        };
    }

    // Bounded: `next > pc` for every instruction and jumps add a non-negative offset to it.
    while pc < code.len() {
        let Ok((insn, next)) = decode_insn(code, pc) else { fault!(EvalFault::Malformed) };
        stats.steps = stats.steps.saturating_add(1);
        let mut to = next;
        match insn {
            Insn::Push(v) => push!(v),
            Insn::Nr => push!(u64::from(sc.nr)),
            Insn::Abi => push!(sc.abi as u8 as u64),
            Insn::Arg(i) => {
                let Some(&a) = sc.args.get(usize::from(i)) else { fault!(EvalFault::Malformed) };
                push!(a)
            }
            Insn::Reg(r) => push!(regs.get(r)),
            Insn::Rip => push!(sc.user_rip),
            Insn::ImageBase => push!(base),
            Insn::Load { width, signed } => {
                let addr = pop!();
                stats.guest_bytes = stats.guest_bytes.saturating_add(width.bytes() as u32);
                let v = mem_try!(mem.read_uint(GuestVirtAddr(addr), width.bytes()).map_err(|e| (addr, e)));
                push!(if signed { width.sext(v) } else { v })
            }
            Insn::Bin(op) => {
                let b = pop!();
                let a = pop!();
                let Some(v) = op.apply(a, b) else { fault!(EvalFault::DivideByZero) };
                push!(v)
            }
            Insn::Neg => {
                let a = pop!();
                push!(a.wrapping_neg())
            }
            Insn::Inv => {
                let a = pop!();
                push!(!a)
            }
            Insn::Sext(w) => {
                let a = pop!();
                push!(w.sext(a))
            }
            Insn::Zext(w) => {
                let a = pop!();
                push!(w.zext(a))
            }
            Insn::LNot => {
                let a = pop!();
                push!(u64::from(a == 0))
            }
            Insn::AndThen(off) => {
                if top!() == 0 {
                    to = next + usize::from(off);
                } else {
                    pop!();
                }
            }
            Insn::OrElse(off) => {
                if top!() != 0 {
                    to = next + usize::from(off);
                } else {
                    pop!();
                }
            }
            Insn::Jz(off) => {
                if pop!() == 0 {
                    to = next + usize::from(off);
                }
            }
            Insn::Jnz(off) => {
                if pop!() != 0 {
                    to = next + usize::from(off);
                }
            }
            Insn::Jmp(off) => to = next + usize::from(off),
            Insn::Dup => {
                let a = top!();
                push!(a)
            }
            Insn::Drop => {
                pop!();
            }
            Insn::Swap => {
                let b = pop!();
                let a = pop!();
                push!(b);
                push!(a)
            }
            Insn::StrEq(c) | Insn::StrPrefix(c) | Insn::BytesEq(c) => {
                let addr = pop!();
                let Some(expected) = consts.bytes(c.0) else { fault!(EvalFault::Malformed) };
                let nul = matches!(insn, Insn::StrEq(_));
                let eq = mem_try!(guest_matches(mem, addr, expected, nul, stats));
                push!(u64::from(eq))
            }
            Insn::Strlen(max) => {
                let addr = pop!();
                match mem_try!(guest_strlen(mem, addr, max, stats)) {
                    Some(n) => push!(n),
                    None => fault!(EvalFault::StringTooLong { addr, max }),
                }
            }
            Insn::StrContains(c, max) | Insn::StrSuffix(c, max) => {
                let addr = pop!();
                let Some(needle) = consts.bytes(c.0).filter(|n| n.len() <= MAX_MATCH_LEN) else {
                    fault!(EvalFault::Malformed)
                };
                let suffix = matches!(insn, Insn::StrSuffix(..));
                match mem_try!(guest_find(mem, addr, needle, max, suffix, stats)) {
                    Some(found) => push!(u64::from(found)),
                    None => fault!(EvalFault::StringTooLong { addr, max }),
                }
            }
            Insn::StrClass(c, max) => {
                let addr = pop!();
                let Some(class) = consts.class(c.0) else { fault!(EvalFault::Malformed) };
                let ok = mem_try!(guest_in_class(mem, addr, class, max, stats));
                push!(u64::from(ok))
            }
            Insn::InSet(c) => {
                let v = pop!();
                let Some(set) = consts.set(c.0) else { fault!(EvalFault::Malformed) };
                push!(u64::from(set.contains(v)))
            }
            Insn::Deny => {
                return Verdict::Violation { invariant: Some(me), kind: ViolationKind::Denied, values: notes };
            }
            Insn::RequireSite(c) => {
                let Some(set) = consts.set(c.0) else { fault!(EvalFault::Malformed) };
                if !set.contains(sc.user_rip) {
                    let mut values = Values::new();
                    values.push(sc.user_rip);
                    for &v in notes.as_slice() {
                        values.push(v);
                    }
                    return Verdict::Violation { invariant: Some(me), kind: ViolationKind::WrongCallSite, values };
                }
            }
            Insn::Note => {
                let a = top!();
                notes.push(a);
            }
        }
        pc = to;
    }
    if sp != 1 {
        fault!(EvalFault::Malformed);
    }
    match stack.first() {
        Some(&v) if v != 0 => Verdict::Allow,
        Some(_) => Verdict::Violation { invariant: Some(me), kind: ViolationKind::InvariantFalse, values: notes },
        None => fault!(EvalFault::Malformed),
    }
}

/// Largest piece read at once by the string helpers (stack buffer).
const CHUNK: usize = 64;

/// Bytes from `addr` to the end of its page, capped at `want` and [`CHUNK`].
fn chunk_len(addr: u64, want: usize) -> usize {
    let in_page = (PAGE_SIZE - (addr & (PAGE_SIZE - 1))) as usize;
    want.min(in_page).min(CHUNK)
}

/// Reads `total` guest bytes from `addr` page piece by page piece (never more than [`CHUNK`] at
/// once), handing each piece and its offset to `visit` until it returns a result. Bounded: each
/// iteration consumes ≥ 1 of `total` bytes (≤ 4097 for every caller). `Ok(None)` if `visit`
/// never decided.
fn scan_guest<M: VirtMemory + ?Sized, R>(
    mem: &mut M,
    addr: u64,
    total: usize,
    stats: &mut EvalStats,
    mut visit: impl FnMut(usize, &[u8]) -> Option<R>,
) -> Result<Option<R>, (u64, MemError)> {
    let mut done = 0usize;
    let mut buf = [0u8; CHUNK];
    while done < total {
        let here = addr.checked_add(done as u64).ok_or((addr, MemError::Overflow))?;
        let n = chunk_len(here, total - done);
        let chunk = buf.get_mut(..n).ok_or((here, MemError::BufferTooSmall))?;
        stats.guest_bytes = stats.guest_bytes.saturating_add(n as u32);
        mem.read_bytes(GuestVirtAddr(here), chunk).map_err(|e| (here, e))?;
        if let Some(r) = visit(done, chunk) {
            return Ok(Some(r));
        }
        done += n;
    }
    Ok(None)
}

/// Compares guest bytes at `addr` with `expected` (followed by a NUL if `nul`). Stops at the
/// first difference, so it reads past the end of a shorter guest string only within the page
/// the difference is in.
fn guest_matches<M: VirtMemory + ?Sized>(
    mem: &mut M,
    addr: u64,
    expected: &[u8],
    nul: bool,
    stats: &mut EvalStats,
) -> Result<bool, (u64, MemError)> {
    let total = expected.len() + usize::from(nul);
    let differs = scan_guest(mem, addr, total, stats, |done, chunk| {
        // Past the constant only the terminating NUL is expected.
        chunk.iter().enumerate().any(|(i, &b)| b != expected.get(done + i).copied().unwrap_or(0)).then_some(())
    })?;
    Ok(differs.is_none())
}

/// Length of the C string at `addr`, scanning at most `max + 1` bytes; `None` if no NUL.
fn guest_strlen<M: VirtMemory + ?Sized>(
    mem: &mut M,
    addr: u64,
    max: u16,
    stats: &mut EvalStats,
) -> Result<Option<u64>, (u64, MemError)> {
    scan_guest(mem, addr, usize::from(max) + 1, stats, |done, chunk| {
        chunk.iter().position(|&b| b == 0).map(|i| (done + i) as u64)
    })
}

/// Positions in the ring of recent bytes wrap with this mask.
const RING_MASK: usize = MAX_MATCH_LEN - 1;
const _: () = assert!(MAX_MATCH_LEN.is_power_of_two());

/// True if the `needle.len()` bytes before string position `end` (which the ring holds: the
/// caller never asks for more than [`MAX_MATCH_LEN`] of them) are `needle`.
fn window_is(ring: &[u8; MAX_MATCH_LEN], end: usize, needle: &[u8]) -> bool {
    let start = end.wrapping_sub(needle.len());
    needle.iter().enumerate().all(|(k, &b)| ring.get(start.wrapping_add(k) & RING_MASK) == Some(&b))
}

/// Looks for `needle` (≤ [`MAX_MATCH_LEN`] bytes) in the C string at `addr`, scanning at most
/// `max + 1` bytes: anywhere, stopping at the first occurrence, or (`suffix`) right before the
/// NUL. `None` if the scan found no NUL (and, for an occurrence anywhere, none of those
/// either): the string is longer than the bound and the answer unknown. Each byte read is
/// compared against at most `needle.len()` constant bytes.
fn guest_find<M: VirtMemory + ?Sized>(
    mem: &mut M,
    addr: u64,
    needle: &[u8],
    max: u16,
    suffix: bool,
    stats: &mut EvalStats,
) -> Result<Option<bool>, (u64, MemError)> {
    let n = needle.len();
    let mut ring = [0u8; MAX_MATCH_LEN];
    scan_guest(mem, addr, usize::from(max) + 1, stats, |done, chunk| {
        for (i, &b) in chunk.iter().enumerate() {
            let pos = done + i;
            if b == 0 {
                // The string is `pos` bytes long. An occurrence anywhere would have been found
                // at its last byte already; only the empty needle ends here.
                return Some(if suffix { pos >= n && window_is(&ring, pos, needle) } else { n == 0 });
            }
            if let Some(slot) = ring.get_mut(pos & RING_MASK) {
                *slot = b;
            }
            if !suffix && pos + 1 >= n && window_is(&ring, pos + 1, needle) {
                return Some(true);
            }
        }
        None
    })
}

/// True if the C string at `addr` is at most `max` bytes long and every byte of it is in
/// `class`: scans at most `max + 1` bytes and stops at the first byte outside the class.
fn guest_in_class<M: VirtMemory + ?Sized>(
    mem: &mut M,
    addr: u64,
    class: ByteClass<'_>,
    max: u16,
    stats: &mut EvalStats,
) -> Result<bool, (u64, MemError)> {
    let verdict = scan_guest(mem, addr, usize::from(max) + 1, stats, |_, chunk| {
        chunk.iter().find_map(|&b| match b {
            0 => Some(true),
            b if !class.contains(b) => Some(false),
            _ => None,
        })
    })?;
    // No NUL within `max + 1` bytes: longer than the class accepts.
    Ok(verdict.unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::flat::FlatMemory;
    use crate::policy::{
        BinOp, CodeWriter, ConstId, ConstSpec, InvariantSpec, Policy, PolicyBuilder, RuleAction, RuleSpec, Width,
    };
    use crate::policy::DefaultAction;
    use crate::syscall::Abi;
    use crate::walker::{WalkError, WalkErrorKind};

    const STR: ConstId = ConstId(0);
    const SET: ConstId = ConstId(1);
    const RAW: ConstId = ConstId(2);
    /// `"../"`.
    const DOTS: ConstId = ConstId(3);
    /// The class `[a-z0-9._-]`.
    const NAME: ConstId = ConstId(4);
    /// `""`.
    const EMPTY: ConstId = ConstId(5);
    /// [`long_needle`]: as long as a match constant may be.
    const LONG: ConstId = ConstId(6);
    /// The class of every byte (NUL's bit set too, which must not matter).
    const ALL: ConstId = ConstId(7);
    /// `".so"`.
    const SO: ConstId = ConstId(8);

    fn long_needle() -> [u8; MAX_MATCH_LEN] {
        core::array::from_fn(|i| b'a' + (i % 7) as u8)
    }

    fn sc(args: [u64; 6], rip: u64) -> Syscall {
        Syscall { abi: Abi::X86_64, nr: 1, args, user_rip: rip }
    }

    /// Encodes a one-invariant policy from the code `f` writes and evaluates it.
    fn run_with<F: FnOnce(&mut CodeWriter)>(f: F, s: &Syscall, regs: &Registers, mem: &mut FlatMemory<4>) -> (Verdict, EvalStats) {
        let mut code = [0u8; 512];
        let mut w = CodeWriter::new(&mut code);
        f(&mut w);
        let n = w.finish().unwrap();
        let name = crate::policy::class_bitmap(&[(b'a', b'z'), (b'0', b'9'), (b'.', b'.'), (b'_', b'_'), (b'-', b'-')]);
        let all = crate::policy::class_bitmap(&[(0, 255)]);
        let long = long_needle();
        let consts = [
            ConstSpec::Bytes(b"/etc/passwd"),
            ConstSpec::Set(&[0x401000, 0x401100]),
            ConstSpec::Bytes(b"a\0b"),
            ConstSpec::Bytes(b"../"),
            ConstSpec::Class(&name),
            ConstSpec::Bytes(b""),
            ConstSpec::Bytes(&long),
            ConstSpec::Class(&all),
            ConstSpec::Bytes(b".so"),
        ];
        let invs = [InvariantSpec { id: 77, name: "t", code: &code[..n] }];
        let rules = [RuleSpec { abi: Abi::X86_64, nr: 1, site: None, action: RuleAction::Check(0) }];
        let b = PolicyBuilder { rules: &rules, invariants: &invs, constants: &consts, ..PolicyBuilder::new(1, DefaultAction::Allow) };
        let mut blob = [0u8; 2048];
        let len = b.encode(&mut blob).unwrap();
        let p = Policy::decode(&blob[..len]).unwrap();
        let inv = p.invariant(0).unwrap();
        let mut st = EvalStats::default();
        let v = evaluate_with_stats(&inv, s, regs, 0, mem, &mut st);
        assert!(st.steps as usize <= n);
        (v, st)
    }

    fn run<F: FnOnce(&mut CodeWriter)>(f: F) -> Verdict {
        run_with(f, &sc([1, 2, 3, 4, 5, 6], 0x401000), &Registers::default(), &mut FlatMemory::new()).0
    }

    fn value<F: FnOnce(&mut CodeWriter)>(f: F) -> u64 {
        // Notes `x`, then ends false on purpose (`(x == 0) == 2` is 0) so that the
        // violation carries the noted value.
        let v = run(|w| {
            f(w);
            w.note().push(0).bin(BinOp::Eq).push(2).bin(BinOp::Eq);
        });
        match v {
            Verdict::Violation { kind: ViolationKind::InvariantFalse, values, .. } => values.as_slice()[0],
            other => panic!("expected the noted value, got {other:?}"),
        }
    }

    const ME: InvariantRef = InvariantRef { index: 0, id: 77 };

    #[test]
    fn inputs() {
        let s = Syscall { abi: Abi::Ia32, nr: 11, args: [10, 11, 12, 13, 14, 15], user_rip: 0x8048000 };
        let regs = Registers { r12: 0xdead, cr3: 0x1000, ..Registers::default() };
        let get = |f: &dyn Fn(&mut CodeWriter)| match run_with(
            |w| {
                f(w);
                w.note().push(0).bin(BinOp::Eq).push(2).bin(BinOp::Eq);
            },
            &s,
            &regs,
            &mut FlatMemory::new(),
        )
        .0
        {
            Verdict::Violation { values, .. } => values.as_slice()[0],
            other => panic!("{other:?}"),
        };
        assert_eq!(get(&|w| {
            w.nr();
        }), 11);
        assert_eq!(get(&|w| {
            w.emit(Insn::Abi);
        }), 1);
        for i in 0..6u8 {
            assert_eq!(get(&|w| {
                w.arg(i);
            }), 10 + u64::from(i));
        }
        assert_eq!(get(&|w| {
            w.reg(crate::regs::Reg::R12);
        }), 0xdead);
        assert_eq!(get(&|w| {
            w.reg(crate::regs::Reg::Cr3);
        }), 0x1000);
        assert_eq!(get(&|w| {
            w.rip();
        }), 0x8048000);
    }

    #[test]
    fn arithmetic_and_bitwise() {
        assert_eq!(value(|w| {
            w.push(u64::MAX).push(2).bin(BinOp::Add);
        }), 1);
        assert_eq!(value(|w| {
            w.push(5).emit(Insn::Neg);
        }), 5u64.wrapping_neg());
        assert_eq!(value(|w| {
            w.push(0xF0).emit(Insn::Inv);
        }), !0xF0u64);
        assert_eq!(value(|w| {
            w.push(0x80).emit(Insn::Sext(Width::W8));
        }), 0xFFFF_FFFF_FFFF_FF80);
        assert_eq!(value(|w| {
            w.push(u64::MAX).emit(Insn::Zext(Width::W16));
        }), 0xFFFF);
        assert_eq!(value(|w| {
            w.push(7).push(3).emit(Insn::Swap).bin(BinOp::Sub);
        }), 3u64.wrapping_sub(7));
        assert_eq!(value(|w| {
            w.push(7).emit(Insn::Dup).bin(BinOp::Mul);
        }), 49);
        assert_eq!(value(|w| {
            w.push(7).push(9).emit(Insn::Drop);
        }), 7);
        assert_eq!(value(|w| {
            w.push(0).lnot();
        }), 1);
        assert_eq!(value(|w| {
            w.push(9).lnot();
        }), 0);
    }

    #[test]
    fn division_by_zero_is_unverifiable() {
        for op in [BinOp::DivU, BinOp::RemU, BinOp::DivS, BinOp::RemS] {
            let v = run(|w| {
                w.push(1).push(0).bin(op);
            });
            assert_eq!(v, Verdict::Unverifiable { invariant: ME, at: 4, reason: EvalFault::DivideByZero });
        }
    }

    #[test]
    fn loads_extend_and_report_faults() {
        let mut m = FlatMemory::<4>::new();
        assert!(m.write(0x1ffe, &[0xFE, 0xFF, 0xFF, 0xFF, 0x80, 0, 0, 0x80]));
        let s = sc([0x1ffe, 0, 0, 0, 0, 0], 0);
        let load = |width, signed, m: &mut FlatMemory<4>| {
            match run_with(
                |w| {
                    w.arg(0).load(width, signed).note().push(0).bin(BinOp::Eq).push(2).bin(BinOp::Eq);
                },
                &s,
                &Registers::default(),
                m,
            )
            .0
            {
                Verdict::Violation { values, .. } => values.as_slice()[0],
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(load(Width::W8, false, &mut m), 0xFE);
        assert_eq!(load(Width::W8, true, &mut m), (-2i64) as u64);
        assert_eq!(load(Width::W16, false, &mut m), 0xFFFE);
        assert_eq!(load(Width::W16, true, &mut m), (-2i64) as u64);
        assert_eq!(load(Width::W32, false, &mut m), 0xFFFF_FFFE);
        assert_eq!(load(Width::W32, true, &mut m), (-2i64) as u64);
        assert_eq!(load(Width::W64, false, &mut m), 0x8000_0080_FFFF_FFFE);
        // Unmapped: the fault names the address and the walk error.
        let s = sc([0x5000, 0, 0, 0, 0, 0], 0);
        let (v, _) = run_with(
            |w| {
                w.arg(0).load(Width::W64, false);
            },
            &s,
            &Registers::default(),
            &mut m,
        );
        assert_eq!(
            v,
            Verdict::Unverifiable {
                invariant: ME,
                at: 2,
                reason: EvalFault::Memory {
                    addr: 0x5000,
                    error: MemError::Walk {
                        va: GuestVirtAddr(0x5000),
                        error: WalkError { level: 1, kind: WalkErrorKind::NotPresent }
                    }
                }
            }
        );
    }

    #[test]
    fn short_circuit_skips_faulting_operand() {
        // 0 && *(u64*)0 → false without touching memory; 1 || *(u64*)0 → true.
        let (v, st) = run_with(
            |w| {
                let l = w.label();
                w.push(0).and_then(l).push(0).load(Width::W64, false).bind(l);
            },
            &sc([0; 6], 0),
            &Registers::default(),
            &mut FlatMemory::new(),
        );
        assert!(matches!(v, Verdict::Violation { kind: ViolationKind::InvariantFalse, .. }));
        assert_eq!(st, EvalStats { steps: 2, guest_bytes: 0 });
        assert_eq!(
            run(|w| {
                let l = w.label();
                w.push(1).or_else(l).push(0).load(Width::W64, false).bind(l);
            }),
            Verdict::Allow
        );
        // The other way round the operand is evaluated and faults.
        assert!(matches!(
            run(|w| {
                let l = w.label();
                w.push(1).and_then(l).push(0).load(Width::W64, false).bind(l);
            }),
            Verdict::Unverifiable { reason: EvalFault::Memory { addr: 0, .. }, .. }
        ));
        // Conditional jumps.
        assert_eq!(
            run(|w| {
                let deny = w.label();
                w.arg(0).push(1).bin(BinOp::Eq).jz(deny).push(1);
                let end = w.label();
                w.jmp(end).bind(deny).deny().bind(end);
            }),
            Verdict::Allow
        );
        assert!(matches!(
            run(|w| {
                let ok = w.label();
                w.arg(0).push(2).bin(BinOp::Eq).jnz(ok).deny().bind(ok).push(1);
            }),
            Verdict::Violation { kind: ViolationKind::Denied, .. }
        ));
    }

    #[test]
    fn strings() {
        let mut m = FlatMemory::<4>::new();
        // "/etc/passwd" ends right before an unmapped page; others are in the middle.
        let at_end = 0x2000 - 12;
        assert!(m.write(at_end, b"/etc/passwd\0"));
        assert!(m.write(0x1000, b"/etc/passwdX\0"));
        assert!(m.write(0x1100, b"/etc\0"));
        assert!(m.write(0x1200, b"a\0b"));
        let check = |addr: u64, f: fn(&mut CodeWriter), m: &mut FlatMemory<4>| {
            run_with(
                |w| {
                    w.arg(0);
                    f(w);
                },
                &sc([addr, 0, 0, 0, 0, 0], 0),
                &Registers::default(),
                m,
            )
        };
        let eq: fn(&mut CodeWriter) = |w| {
            w.str_eq(STR);
        };
        let prefix: fn(&mut CodeWriter) = |w| {
            w.str_prefix(STR);
        };
        let (v, st) = check(at_end, eq, &mut m);
        assert_eq!(v, Verdict::Allow);
        assert_eq!(st.guest_bytes, 12);
        assert!(!check(0x1000, eq, &mut m).0.is_allow());
        assert!(!check(0x1100, eq, &mut m).0.is_allow());
        assert!(check(0x1000, prefix, &mut m).0.is_allow());
        assert!(check(at_end, prefix, &mut m).0.is_allow());
        assert!(!check(0x1100, prefix, &mut m).0.is_allow());
        // Bytes with an embedded NUL.
        assert!(check(0x1200, |w| {
            w.bytes_eq(RAW);
        }, &mut m)
        .0
        .is_allow());
        // A mismatch in the first page never touches the unmapped one.
        assert!(m.write(0x1ffe, b"/x"));
        assert!(matches!(check(0x1ffe, eq, &mut m).0, Verdict::Violation { .. }));
        // A match up to the page end then needs the next page: fault at its start.
        assert!(m.write(0x1ffb, b"/etc/"));
        match check(0x1ffb, eq, &mut m).0 {
            Verdict::Unverifiable { reason: EvalFault::Memory { addr, .. }, at, .. } => {
                assert_eq!(addr, 0x2000);
                assert_eq!(at, 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn strlen_bounds() {
        let mut m = FlatMemory::<4>::new();
        assert!(m.write(0x1000, b"hello\0"));
        assert!(m.write(0x1100, &[b'x'; 200]));
        let len = |addr: u64, max: u16, m: &mut FlatMemory<4>| {
            run_with(
                |w| {
                    w.arg(0).strlen(max).note().push(0).bin(BinOp::Eq).push(2).bin(BinOp::Eq);
                },
                &sc([addr, 0, 0, 0, 0, 0], 0),
                &Registers::default(),
                m,
            )
            .0
        };
        match len(0x1000, 5, &mut m) {
            Verdict::Violation { values, .. } => assert_eq!(values.as_slice(), &[5]),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            len(0x1000, 4, &mut m),
            Verdict::Unverifiable { invariant: ME, at: 2, reason: EvalFault::StringTooLong { addr: 0x1000, max: 4 } }
        );
        assert!(matches!(
            len(0x1100, 100, &mut m),
            Verdict::Unverifiable { reason: EvalFault::StringTooLong { max: 100, .. }, .. }
        ));
        // Address wrap-around is a memory fault, not a panic.
        assert!(matches!(
            len(u64::MAX - 1, 100, &mut m),
            Verdict::Unverifiable { reason: EvalFault::Memory { .. }, .. }
        ));
    }

    #[test]
    fn sets_sites_and_notes() {
        assert!(run(|w| {
            w.rip().in_set(SET);
        })
        .is_allow());
        assert!(!run(|w| {
            w.push(5).in_set(SET);
        })
        .is_allow());
        // require_site passes for 0x401000 (the default rip) and fails elsewhere with the RIP
        // first in the values.
        assert!(run(|w| {
            w.require_site(SET).push(1);
        })
        .is_allow());
        let (v, _) = run_with(
            |w| {
                w.push(9).note().drop_note().require_site(SET).push(1);
            },
            &sc([0; 6], 0x400000),
            &Registers::default(),
            &mut FlatMemory::new(),
        );
        match v {
            Verdict::Violation { invariant, kind: ViolationKind::WrongCallSite, values } => {
                assert_eq!(invariant, Some(ME));
                assert_eq!(values.as_slice(), &[0x400000, 9]);
            }
            other => panic!("{other:?}"),
        }
        // Notes: the first four are kept.
        match run(|w| {
            for i in 1..=6 {
                w.push(i).note().emit(Insn::Drop);
            }
            w.push(0);
        }) {
            Verdict::Violation { kind: ViolationKind::InvariantFalse, values, .. } => {
                assert_eq!(values.as_slice(), &[1, 2, 3, 4]);
            }
            other => panic!("{other:?}"),
        }
        // deny carries the notes so far.
        match run(|w| {
            w.arg(2).note().emit(Insn::Drop).deny();
        }) {
            Verdict::Violation { kind: ViolationKind::Denied, values, .. } => assert_eq!(values.as_slice(), &[3]),
            other => panic!("{other:?}"),
        }
    }

    /// Runs `arg 0; f` with argument 0 = `addr` over `m`.
    fn at(addr: u64, m: &mut FlatMemory<4>, f: impl FnOnce(&mut CodeWriter)) -> (Verdict, EvalStats) {
        run_with(
            |w| {
                w.arg(0);
                f(w);
            },
            &sc([addr, 0, 0, 0, 0, 0], 0),
            &Registers::default(),
            m,
        )
    }

    /// Allow → `Some(true)`, invariant false → `Some(false)`, anything else → `None`.
    fn truth(v: Verdict) -> Option<bool> {
        match v {
            Verdict::Allow => Some(true),
            Verdict::Violation { kind: ViolationKind::InvariantFalse, .. } => Some(false),
            _ => None,
        }
    }

    fn too_long(addr: u64, max: u16) -> Verdict {
        Verdict::Unverifiable { invariant: ME, at: 2, reason: EvalFault::StringTooLong { addr, max } }
    }

    #[test]
    fn str_contains() {
        let mut m = FlatMemory::<4>::new();
        let contains = |addr: u64, c: ConstId, max: u16, m: &mut FlatMemory<4>| {
            at(addr, m, |w| {
                w.str_contains(c, max);
            })
        };
        for (text, want) in [
            (&b"/a/../b\0"[..], true),
            (b"../\0", true),
            (b"/a/b/..\0", false),
            (b"/a/.b/\0", false),
            (b"\0", false),
            (b"..\0/", false),
        ] {
            assert!(m.write(0x1000, text));
            assert_eq!(truth(contains(0x1000, DOTS, 64, &mut m).0), Some(want), "{text:?}");
        }
        // The empty constant is in every string, even one longer than the bound.
        assert!(m.write(0x1000, b"\0"));
        assert_eq!(contains(0x1000, EMPTY, 1, &mut m).0, Verdict::Allow);
        assert!(m.write(0x1000, b"abc"));
        assert_eq!(contains(0x1000, EMPTY, 1, &mut m).0, Verdict::Allow);
        // NUL at the bound: decided; one byte short of it: unknown, so unverifiable.
        assert!(m.write(0x1000, b"abcd\0"));
        assert_eq!(truth(contains(0x1000, DOTS, 4, &mut m).0), Some(false));
        assert_eq!(contains(0x1000, DOTS, 3, &mut m).0, too_long(0x1000, 3));
        // An occurrence whose last byte is the last one scanned is found though the string
        // goes on: the answer is known.
        assert!(m.write(0x1000, b"ab../cdefgh\0"));
        assert_eq!(contains(0x1000, DOTS, 4, &mut m).0, Verdict::Allow);
        assert_eq!(contains(0x1000, DOTS, 3, &mut m).0, too_long(0x1000, 3));
        // It stops at the occurrence: the page after it is never read.
        assert!(m.write(0x1ffc, b"x../"));
        let (v, st) = contains(0x1ffc, DOTS, 4096, &mut m);
        assert_eq!((v, st.guest_bytes), (Verdict::Allow, 4));
        // Without one it needs the next page: a fault at its start.
        assert!(m.write(0x1ffc, b"x..."));
        match contains(0x1ffc, DOTS, 4096, &mut m).0 {
            Verdict::Unverifiable { reason: EvalFault::Memory { addr, .. }, at, .. } => {
                assert_eq!((addr, at), (0x2000, 2))
            }
            other => panic!("{other:?}"),
        }
        // Across a page boundary (both pages present), and across the ring's wrap-around.
        assert!(m.write(0x2ffe, b"a.\0"));
        assert!(m.write(0x2ffe, b"a."));
        assert!(m.write(0x3000, b"./z\0"));
        assert_eq!(contains(0x2ffe, DOTS, 4096, &mut m).0, Verdict::Allow);
        let mut text = [b'x'; 300];
        text[254..257].copy_from_slice(b"../");
        text[299] = 0;
        assert!(m.write(0x3100, &text));
        assert_eq!(contains(0x3100, DOTS, 4096, &mut m).0, Verdict::Allow);
        text[254..257].copy_from_slice(b"./.");
        assert!(m.write(0x3100, &text));
        assert_eq!(truth(contains(0x3100, DOTS, 4096, &mut m).0), Some(false));
        // The longest constant, after a prefix that makes it wrap the ring.
        let long = long_needle();
        assert!(m.write(0x3400, &[b'z'; 100]));
        assert!(m.write(0x3400 + 100, &long));
        assert!(m.write(0x3400 + 100 + MAX_MATCH_LEN as u64, b"\0"));
        // (At bound 4096 its cost would be far above the limit; 400 covers the string.)
        assert_eq!(contains(0x3400, LONG, 400, &mut m).0, Verdict::Allow);
        assert!(m.write(0x3400 + 100 + 7, b"Q"));
        assert_eq!(truth(contains(0x3400, LONG, 400, &mut m).0), Some(false));
        // Hostile addresses: wrap-around and unmapped memory are faults, not panics.
        assert!(matches!(
            contains(u64::MAX - 1, DOTS, 4096, &mut m).0,
            Verdict::Unverifiable { reason: EvalFault::Memory { .. }, .. }
        ));
        assert!(matches!(
            contains(0x9000, DOTS, 1, &mut m).0,
            Verdict::Unverifiable { reason: EvalFault::Memory { addr: 0x9000, .. }, .. }
        ));
    }

    #[test]
    fn str_suffix() {
        let mut m = FlatMemory::<4>::new();
        let suffix = |addr: u64, c: ConstId, max: u16, m: &mut FlatMemory<4>| {
            at(addr, m, |w| {
                w.str_suffix(c, max);
            })
            .0
        };
        for (text, want) in [
            (&b"libc.so\0"[..], true),
            (b".so\0", true),
            (b"so\0", false),
            (b"libc.so.6\0", false),
            (b"libc.sO\0", false),
            (b"\0.so", false),
        ] {
            assert!(m.write(0x1000, text));
            assert_eq!(truth(suffix(0x1000, SO, 64, &mut m)), Some(want), "{text:?}");
        }
        assert!(m.write(0x1000, b"\0"));
        assert_eq!(suffix(0x1000, EMPTY, 1, &mut m), Verdict::Allow);
        // It needs the NUL: at the bound decided, past it unverifiable (even if what was read
        // so far ends with the constant).
        assert!(m.write(0x1000, b"ab.so\0"));
        assert_eq!(suffix(0x1000, SO, 5, &mut m), Verdict::Allow);
        assert_eq!(suffix(0x1000, SO, 4, &mut m), too_long(0x1000, 4));
        assert!(m.write(0x1000, b"ab.sox\0"));
        assert_eq!(suffix(0x1000, SO, 4, &mut m), too_long(0x1000, 4));
        // A constant longer than a string that fits the bound never matches.
        assert!(m.write(0x1000, b"so\0"));
        assert_eq!(truth(suffix(0x1000, LONG, 2, &mut m)), Some(false));
        // Across pages, and past the ring's size.
        assert!(m.write(0x2ffd, b"a.s"));
        assert!(m.write(0x3000, b"o\0"));
        assert_eq!(suffix(0x2ffd, SO, 4096, &mut m), Verdict::Allow);
        let mut text = [b'x'; 1000];
        text[996..].copy_from_slice(b".so\0");
        assert!(m.write(0x3010, &text));
        assert_eq!(suffix(0x3010, SO, 4096, &mut m), Verdict::Allow);
        let long = long_needle();
        assert!(m.write(0x3400, &[b'z'; 300]));
        assert!(m.write(0x3400 + 300, &long));
        assert!(m.write(0x3400 + 300 + MAX_MATCH_LEN as u64, b"\0"));
        assert_eq!(suffix(0x3400, LONG, 4096, &mut m), Verdict::Allow);
        assert!(m.write(0x3400 + 300, b"Q"));
        assert_eq!(truth(suffix(0x3400, LONG, 4096, &mut m)), Some(false));
        // A string running into an unmapped page.
        assert!(m.write(0x3ffe, b".s"));
        assert!(matches!(
            suffix(0x3ffe, SO, 4096, &mut m),
            Verdict::Unverifiable { reason: EvalFault::Memory { addr: 0x4000, .. }, .. }
        ));
        assert!(matches!(suffix(u64::MAX, SO, 4096, &mut m), Verdict::Unverifiable { .. }));
    }

    #[test]
    fn str_class() {
        let mut m = FlatMemory::<4>::new();
        let class = |addr: u64, c: ConstId, max: u16, m: &mut FlatMemory<4>| {
            at(addr, m, |w| {
                w.str_class(c, max);
            })
        };
        for (text, want) in [
            (&b"report-2024_v1.txt\0"[..], true),
            (b"\0", true),
            (b"Report\0", false),
            (b"a b\0", false),
            (b"a/b\0", false),
            (b"ab\xff\0", false),
            (b"ab\0ZZ", true),
        ] {
            assert!(m.write(0x1000, text));
            assert_eq!(truth(class(0x1000, NAME, 64, &mut m).0), Some(want), "{text:?}");
        }
        // The bound is part of the class: a longer string is false, not unverifiable.
        assert!(m.write(0x1000, b"abcd\0"));
        assert_eq!(class(0x1000, NAME, 4, &mut m).0, Verdict::Allow);
        assert_eq!(truth(class(0x1000, NAME, 3, &mut m).0), Some(false));
        // NUL is the end of the string whatever the class says about it.
        assert_eq!(class(0x1000, ALL, 4, &mut m).0, Verdict::Allow);
        assert_eq!(truth(class(0x1000, ALL, 3, &mut m).0), Some(false));
        // It stops at the first byte outside the class: the unmapped page after it is never
        // read; a string in the class running into it is a fault.
        assert!(m.write(0x1ffd, b"aB"));
        let (v, st) = class(0x1ffd, NAME, 4096, &mut m);
        assert_eq!((truth(v), st.guest_bytes), (Some(false), 3));
        assert!(m.write(0x1ffd, b"abc"));
        assert!(matches!(
            class(0x1ffd, NAME, 4096, &mut m).0,
            Verdict::Unverifiable { reason: EvalFault::Memory { addr: 0x2000, .. }, .. }
        ));
        // Across two present pages.
        assert!(m.write(0x2ffe, b"ab"));
        assert!(m.write(0x3000, b"c.d\0"));
        assert_eq!(class(0x2ffe, NAME, 5, &mut m).0, Verdict::Allow);
        assert_eq!(truth(class(0x2ffe, NAME, 4, &mut m).0), Some(false));
        assert!(matches!(class(u64::MAX - 1, NAME, 4096, &mut m).0, Verdict::Unverifiable { .. }));
    }

    trait DropNote {
        fn drop_note(&mut self) -> &mut Self;
    }
    impl DropNote for CodeWriter<'_> {
        fn drop_note(&mut self) -> &mut Self {
            self.emit(Insn::Drop)
        }
    }

    #[test]
    fn values_capacity() {
        let mut v = Values::new();
        assert!(v.is_empty());
        for i in 0..MAX_VALUES as u64 {
            assert!(v.push(i));
        }
        assert!(!v.push(99));
        assert_eq!(v.len(), MAX_VALUES);
        assert_eq!(v.as_slice(), &[0, 1, 2, 3]);
    }
}
