//! Constant propagation over one function's control-flow graph: for every instruction, what
//! each general-purpose register holds — a constant, the value it had when the function was
//! entered (so a wrapper's system-call number can be traced to its callers), or unknown.

use super::disasm::{reg, AluOp, Effect, Function, Insn, Kind, CALLER_SAVED};

/// What a register holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V {
    /// Not reached yet (lattice bottom).
    Undef,
    /// This constant on every path.
    Const(u64),
    /// Register `.0`'s value at function entry, unchanged, on every path.
    Entry(u8),
    /// Anything.
    Any,
}

/// Registers before an instruction.
pub type State = [V; 16];

/// Meet of two facts.
pub fn meet(a: V, b: V) -> V {
    match (a, b) {
        (V::Undef, x) | (x, V::Undef) => x,
        (x, y) if x == y => x,
        _ => V::Any,
    }
}

fn fold(op: AluOp, a: u64, b: u64) -> u64 {
    match op {
        AluOp::Add => a.wrapping_add(b),
        AluOp::Sub => a.wrapping_sub(b),
        AluOp::And => a & b,
        AluOp::Or => a | b,
        AluOp::Xor => a ^ b,
    }
}

/// Applies one instruction to `st`.
pub fn transfer(i: &Insn, st: &mut State) {
    let m32 = |v: u64, bits32: bool| if bits32 { v & 0xffff_ffff } else { v };
    match i.effect {
        Effect::None => {}
        Effect::Const { dst, value } => st[dst] = V::Const(value),
        Effect::Copy { dst, src, bits32 } => {
            st[dst] = match st[src] {
                V::Const(v) => V::Const(m32(v, bits32)),
                // A 32-bit copy of an entry value keeps its low half, which is all a
                // system-call number or an `int` argument uses.
                other => other,
            }
        }
        Effect::Lea { dst, base, disp } => {
            st[dst] = match st[base] {
                V::Const(b) => V::Const(b.wrapping_add(disp)),
                _ => V::Any,
            }
        }
        Effect::Alu { dst, op, imm, bits32 } => {
            st[dst] = match st[dst] {
                V::Const(a) => V::Const(m32(fold(op, a, imm), bits32)),
                _ => V::Any,
            }
        }
    }
    let mut clobber = i.clobber;
    match i.kind {
        Kind::Call(_) => clobber |= CALLER_SAVED,
        Kind::Syscall => clobber |= (1 << reg::RAX) | (1 << reg::RCX) | (1 << reg::R11),
        Kind::Int80 => clobber |= 1 << reg::RAX,
        _ => {}
    }
    for (r, v) in st.iter_mut().enumerate() {
        if clobber & (1 << r) != 0 {
            *v = V::Any;
        }
    }
}

/// True if control never comes back from `i`: a call of a function that never returns, or
/// `exit`/`exit_group` (a constant eax of 60 or 231 at a `syscall`).
fn ends_path(i: &Insn, st: &State, noreturn: &dyn Fn(u64) -> bool) -> bool {
    match i.kind {
        Kind::Call(Some(t)) => noreturn(t),
        Kind::Syscall => matches!(st[reg::RAX], V::Const(60 | 231)),
        _ => false,
    }
}

/// The register state before every instruction of `f`; `noreturn(addr)` says whether the
/// function at `addr` never returns. Unreachable instructions get [`V::Undef`] everywhere.
pub fn analyse(f: &Function, noreturn: &dyn Fn(u64) -> bool) -> Vec<State> {
    let mut entry = [V::Any; 16];
    for (r, v) in entry.iter_mut().enumerate() {
        *v = V::Entry(r as u8);
    }
    let mut block_in: Vec<State> = vec![[V::Undef; 16]; f.blocks.len()];
    block_in[0] = entry;
    let mut queued = vec![false; f.blocks.len()];
    let mut work = vec![0usize];
    queued[0] = true;
    // Each register of each block's input can only go Undef → Const/Entry → Any, so the
    // number of changes — and of iterations — is bounded; the cap is a second guard.
    let mut budget = f.blocks.len().saturating_mul(40).max(64);
    while let Some(b) = work.pop() {
        queued[b] = false;
        budget = budget.saturating_sub(1);
        if budget == 0 {
            // Give up precision rather than loop: everything unknown.
            return vec![[V::Any; 16]; f.insns.len()];
        }
        let mut st = block_in[b];
        let mut dead = false;
        for i in &f.insns[f.blocks[b].start..f.blocks[b].end] {
            if ends_path(i, &st, noreturn) {
                dead = true;
                break;
            }
            transfer(i, &mut st);
        }
        if dead {
            continue;
        }
        for &s in &f.blocks[b].succs {
            let mut changed = false;
            for r in 0..16 {
                let n = meet(block_in[s][r], st[r]);
                if n != block_in[s][r] {
                    block_in[s][r] = n;
                    changed = true;
                }
            }
            if changed && !queued[s] {
                queued[s] = true;
                work.push(s);
            }
        }
    }
    let mut out = Vec::with_capacity(f.insns.len());
    for (b, blk) in f.blocks.iter().enumerate() {
        let mut st = block_in[b];
        for i in &f.insns[blk.start..blk.end] {
            out.push(st);
            if ends_path(i, &st, noreturn) {
                st = [V::Undef; 16];
            } else {
                transfer(i, &mut st);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::disasm::{Block, Insn};

    fn insn(ip: u64, kind: Kind, effect: Effect) -> Insn {
        Insn { ip, next: ip + 1, kind, effect, clobber: 0, refs: vec![] }
    }

    #[test]
    fn joins_keep_agreeing_constants_only() {
        // b0: eax=1; jcc b2 | b1: edi=2; (falls) b2: syscall
        let f = Function {
            name: "f".into(),
            start: 0,
            end: 4,
            insns: vec![
                insn(0, Kind::Plain, Effect::Const { dst: reg::RAX, value: 1 }),
                insn(1, Kind::Jcc(3), Effect::None),
                insn(2, Kind::Plain, Effect::Const { dst: reg::RDI, value: 2 }),
                insn(3, Kind::Syscall, Effect::Copy { dst: reg::RSI, src: reg::RDX, bits32: false }),
            ],
            blocks: vec![
                Block { start: 0, end: 2, succs: vec![1, 2], exits: false },
                Block { start: 2, end: 3, succs: vec![2], exits: false },
                Block { start: 3, end: 4, succs: vec![], exits: true },
            ],
            block_of: vec![0, 0, 1, 2],
        };
        let st = analyse(&f, &|_| false);
        assert_eq!(st[3][reg::RAX], V::Const(1));
        assert_eq!(st[3][reg::RDI], V::Any);
        assert_eq!(st[3][reg::RDX], V::Entry(reg::RDX as u8));
        let mut s = st[3];
        transfer(&f.insns[3], &mut s);
        assert_eq!(s[reg::RSI], V::Entry(reg::RDX as u8));
        assert_eq!(s[reg::RAX], V::Any);
        assert_eq!(meet(V::Const(1), V::Const(1)), V::Const(1));
        assert_eq!(meet(V::Const(1), V::Entry(1)), V::Any);
        assert_eq!(meet(V::Undef, V::Entry(1)), V::Entry(1));
    }
}
