//! Invariant evaluator (Assertion Checker): runs one verified invariant against a trapped
//! system call, its registers and P's memory.
//!
//! The machine is a stack of u64 (depth ≤ [`MAX_STACK`]). Inputs: immediates, the syscall
//! number and ABI, the six arguments, any register of [`Registers`], the user RIP. Memory
//! loads of 1/2/4/8 bytes (zero- or sign-extending) go through [`VirtMemory`]. String and
//! byte comparisons read at most the constant's length (+1 for the NUL of `str_eq`), chunked
//! so that they never read past a page they do not need: a short string at the end of a
//! mapped page compares fine even if the next page is unmapped.
//!
//! The result: the code ends with one value on the stack — non-zero means the invariant
//! holds ([`Verdict::Allow`]), zero is [`ViolationKind::InvariantFalse`]. `deny` and a failed
//! `require_site` end evaluation early with their own violation kinds. A memory fault,
//! division by zero or an over-long string makes the invariant [`Verdict::Unverifiable`]: the
//! caller decides (fail-closed kills P).
//!
//! Bounds: jumps only go forward, so at most `code.len()` instructions run; each reads at most
//! 4097 guest bytes; the verifier caps the sum ([`crate::policy::verify::MAX_INVARIANT_COST`]).
//! The evaluator trusts the verifier for correctness but never for memory safety: every stack
//! and operand access is still checked, and a violated assumption is reported as
//! [`EvalFault::Malformed`] instead of a panic.

use crate::addr::{GuestVirtAddr, PAGE_SIZE};
use crate::mem::{MemError, VirtMemory};
use crate::policy::op::{decode_insn, Insn, MAX_STACK};
use crate::policy::{ConstPool, Invariant};
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
    /// `strlen` found no NUL within its bound.
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

    fn sc(args: [u64; 6], rip: u64) -> Syscall {
        Syscall { abi: Abi::X86_64, nr: 1, args, user_rip: rip }
    }

    /// Encodes a one-invariant policy from the code `f` writes and evaluates it.
    fn run_with<F: FnOnce(&mut CodeWriter)>(f: F, s: &Syscall, regs: &Registers, mem: &mut FlatMemory<4>) -> (Verdict, EvalStats) {
        let mut code = [0u8; 512];
        let mut w = CodeWriter::new(&mut code);
        f(&mut w);
        let n = w.finish().unwrap();
        let consts = [ConstSpec::Bytes(b"/etc/passwd"), ConstSpec::Set(&[0x401000, 0x401100]), ConstSpec::Bytes(b"a\0b")];
        let invs = [InvariantSpec { id: 77, name: "t", code: &code[..n] }];
        let rules = [RuleSpec { abi: Abi::X86_64, nr: 1, site: None, action: RuleAction::Check(0) }];
        let b = PolicyBuilder { rules: &rules, invariants: &invs, constants: &consts, ..PolicyBuilder::new(1, DefaultAction::Allow) };
        let mut blob = [0u8; 1024];
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
