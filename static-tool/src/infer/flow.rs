//! Constant propagation over one function's control-flow graph: for the instructions that
//! matter (system calls, calls and jumps), what each general-purpose register holds — a
//! constant, one of a small set of constants (paths that disagree, or an entry of a read-only
//! table), the value it had when the function was entered (so a wrapper's system-call number
//! can be traced to its callers), or unknown. Values spilled to the frame (`[rbp - d]`, as
//! gcc -O0 keeps every parameter) are followed through their stack slot.

use std::collections::HashMap;

use super::disasm::{reg, AluOp, Effect, Function, Insn, Kind, Mem, MemWrite, CALLER_SAVED};

/// Most constants a [`V::Set`] holds; more is [`V::Any`].
pub const MAX_SET: usize = 64;
/// Frame slots tracked per state.
const SLOTS: usize = 6;

/// What a register holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V {
    /// Not reached yet (lattice bottom).
    Undef,
    /// This constant on every path.
    Const(u64),
    /// One of the constants of set `.0` of the function's [`Sets`] (at least two).
    Set(u32),
    /// Register `.0`'s value at function entry, unchanged, on every path.
    Entry(u8),
    /// Anything.
    Any,
}

/// The sets of constants [`V::Set`] values name, interned per function.
#[derive(Clone, Debug, Default)]
pub struct Sets {
    sets: Vec<Vec<u64>>,
    index: HashMap<Vec<u64>, u32>,
}

impl Sets {
    /// The value for `values`: a constant, a set, or `Any` past [`MAX_SET`] (or if empty).
    pub fn value(&mut self, mut values: Vec<u64>) -> V {
        values.sort_unstable();
        values.dedup();
        match values.len() {
            0 => V::Any,
            1 => V::Const(values[0]),
            n if n > MAX_SET => V::Any,
            _ => {
                if let Some(&i) = self.index.get(&values) {
                    return V::Set(i);
                }
                let i = self.sets.len() as u32;
                self.index.insert(values.clone(), i);
                self.sets.push(values);
                V::Set(i)
            }
        }
    }
    /// The constants of set `i`.
    pub fn get(&self, i: u32) -> &[u64] {
        self.sets.get(i as usize).map_or(&[], Vec::as_slice)
    }
    /// The constants `v` may be: `None` unless it is a constant or a set.
    pub fn values(&self, v: V) -> Option<Vec<u64>> {
        match v {
            V::Const(c) => Some(vec![c]),
            V::Set(i) => Some(self.get(i).to_vec()),
            _ => None,
        }
    }
    fn map(&mut self, v: V, f: impl Fn(u64) -> u64) -> V {
        match v {
            V::Const(c) => V::Const(f(c)),
            V::Set(i) => {
                let vals: Vec<u64> = self.get(i).iter().map(|&c| f(c)).collect();
                self.value(vals)
            }
            other => other,
        }
    }
}

/// A value kept in the frame: `size` bytes at `rbp + disp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Offset from rbp.
    pub disp: i64,
    /// Bytes (0: the slot is free).
    pub size: u8,
    /// The value stored.
    pub v: V,
}

const FREE: Slot = Slot { disp: 0, size: 0, v: V::Undef };

/// Registers (and frame slots) before an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct State {
    /// The 16 GPRs.
    pub regs: [V; 16],
    /// Known frame slots.
    pub slots: [Slot; SLOTS],
    /// rbp is the frame pointer: it was set from rsp (`mov %rsp, %rbp`) and not changed since.
    /// Slots are kept only then (rbp used as a general register may point anywhere).
    pub frame: bool,
}

impl std::ops::Index<usize> for State {
    type Output = V;
    fn index(&self, r: usize) -> &V {
        &self.regs[r]
    }
}

impl State {
    /// Nothing reached.
    pub const UNDEF: State = State { regs: [V::Undef; 16], slots: [FREE; SLOTS], frame: false };

    fn clear_slots(&mut self) {
        self.slots = [FREE; SLOTS];
    }
    fn clear_overlapping(&mut self, disp: i64, size: u8) {
        for s in self.slots.iter_mut().filter(|s| s.size > 0) {
            if s.disp < disp + i64::from(size) && disp < s.disp + i64::from(s.size) {
                *s = FREE;
            }
        }
    }
    fn slot(&self, disp: i64, size: u8) -> Option<V> {
        self.slots.iter().find(|s| s.size == size && s.disp == disp).map(|s| s.v)
    }
    fn set_slot(&mut self, disp: i64, size: u8, v: V) {
        self.clear_overlapping(disp, size);
        if matches!(v, V::Any | V::Undef) || !self.frame {
            return;
        }
        if let Some(s) = self.slots.iter_mut().find(|s| s.size == 0) {
            *s = Slot { disp, size, v };
        } else {
            // Full: forget the oldest (the first).
            self.slots.rotate_left(1);
            self.slots[SLOTS - 1] = Slot { disp, size, v };
        }
    }
}

/// Meet of two facts.
pub fn meet(a: V, b: V, sets: &mut Sets) -> V {
    match (a, b) {
        (V::Undef, x) | (x, V::Undef) => x,
        (x, y) if x == y => x,
        (V::Const(_) | V::Set(_), V::Const(_) | V::Set(_)) => {
            let mut all = sets.values(a).unwrap_or_default();
            all.extend(sets.values(b).unwrap_or_default());
            sets.value(all)
        }
        _ => V::Any,
    }
}

fn meet_state(into: &mut State, from: &State, sets: &mut Sets) -> bool {
    let mut changed = false;
    if into.frame && !from.frame {
        into.frame = false;
        into.clear_slots();
        changed = true;
    }
    for r in 0..16 {
        let n = meet(into.regs[r], from.regs[r], sets);
        if n != into.regs[r] {
            into.regs[r] = n;
            changed = true;
        }
    }
    for k in 0..SLOTS {
        let s = into.slots[k];
        if s.size == 0 {
            continue;
        }
        let n = match from.slot(s.disp, s.size) {
            Some(v) => meet(s.v, v, sets),
            None => V::Any,
        };
        if n != s.v {
            changed = true;
            into.slots[k] = if n == V::Any { FREE } else { Slot { v: n, ..s } };
        }
    }
    changed
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

/// What the analysis may know about P's memory: the `width`-byte values a load at `addr`
/// may read (`indexed`: `addr` plus an unknown offset, i.e. any element of the read-only
/// table `addr` is in), if that memory is read-only with a known extent.
pub type ReadOnly<'a> = &'a dyn Fn(u64, bool, u8) -> Option<Vec<u64>>;

/// What [`analyse`] needs from outside the function.
pub struct Env<'a> {
    /// Whether the function at this address never returns.
    pub noreturn: &'a dyn Fn(u64) -> bool,
    /// P's read-only data.
    pub read_only: ReadOnly<'a>,
}

fn extend(v: u64, width: u8, sext: bool) -> u64 {
    let bits = u32::from(width) * 8;
    if bits >= 64 {
        return v;
    }
    let v = v & ((1u64 << bits) - 1);
    if sext {
        (((v << (64 - bits)) as i64) >> (64 - bits)) as u64
    } else {
        v
    }
}

/// The value loaded from `mem`.
fn load(st: &State, mem: Mem, width: u8, sext: bool, bits32: bool, env: &Env<'_>, sets: &mut Sets) -> V {
    let m32 = |v: u64| if bits32 { v & 0xffff_ffff } else { v };
    // A frame slot.
    if mem.base == Some(reg::RBP) && mem.index.is_none() && st.frame {
        return match st.slot(mem.disp as i64, width) {
            // A 32-bit copy of an entry value keeps its low half (see `transfer`).
            Some(V::Entry(r)) if width >= 4 => V::Entry(r),
            Some(v @ (V::Const(_) | V::Set(_))) => sets.map(v, |c| m32(extend(c, width, sext))),
            _ => V::Any,
        };
    }
    // Read-only data: a constant address plus at most an unknown offset.
    let mut addr = mem.disp;
    let mut indexed = false;
    for (r, scale) in [(mem.base, 1u64), (mem.index, u64::from(mem.scale))] {
        let Some(r) = r else { continue };
        if r == reg::RSP || r == reg::RBP {
            return V::Any;
        }
        match st.regs[r] {
            V::Const(c) => addr = addr.wrapping_add(c.wrapping_mul(scale)),
            _ if indexed => return V::Any,
            _ => indexed = true,
        }
    }
    match (env.read_only)(addr, indexed, width) {
        Some(vals) => {
            let vals = vals.into_iter().map(|c| m32(extend(c, width, sext))).collect();
            sets.value(vals)
        }
        None => V::Any,
    }
}

/// Applies one instruction to `st`.
pub fn transfer(i: &Insn, st: &mut State, env: &Env<'_>, sets: &mut Sets) {
    let m32 = |v: u64, bits32: bool| if bits32 { v & 0xffff_ffff } else { v };
    match i.mem_write {
        MemWrite::None | MemWrite::Elsewhere => {}
        MemWrite::Rbp { disp, size } => st.clear_overlapping(disp, size),
        MemWrite::Unknown => st.clear_slots(),
    }
    match i.effect {
        Effect::None => {}
        Effect::Const { dst, value } => st.regs[dst] = V::Const(value),
        Effect::Copy { dst, src, bits32 } => {
            st.regs[dst] = match st.regs[src] {
                v @ (V::Const(_) | V::Set(_)) => sets.map(v, |c| m32(c, bits32)),
                // A 32-bit copy of an entry value keeps its low half, which is all a
                // system-call number or an `int` argument uses.
                other => other,
            }
        }
        Effect::Lea { dst, base, disp } => {
            st.regs[dst] = match st.regs[base] {
                V::Const(b) => V::Const(b.wrapping_add(disp)),
                _ => V::Any,
            }
        }
        Effect::Alu { dst, op, imm, bits32 } => {
            st.regs[dst] = match st.regs[dst] {
                V::Const(a) => V::Const(m32(fold(op, a, imm), bits32)),
                _ => V::Any,
            }
        }
        Effect::Load { dst, mem, width, sext, bits32 } => st.regs[dst] = load(st, mem, width, sext, bits32, env, sets),
        Effect::Store { src, imm, mem, width } => {
            if mem.base == Some(reg::RBP) && mem.index.is_none() {
                let v = match src {
                    None => V::Const(extend(imm, width, false)),
                    Some(r) => match st.regs[r] {
                        V::Entry(e) if width >= 4 => V::Entry(e),
                        v @ (V::Const(_) | V::Set(_)) => sets.map(v, |c| extend(c, width, false)),
                        _ => V::Any,
                    },
                };
                st.set_slot(mem.disp as i64, width, v);
            }
        }
    }
    let mut clobber = i.clobber;
    match i.kind {
        // A callee may write the frame through a pointer to it.
        Kind::Call(_) => {
            clobber |= CALLER_SAVED;
            st.clear_slots();
        }
        // The kernel may write a buffer in the frame (`read` into a local).
        Kind::Syscall => {
            clobber |= (1 << reg::RAX) | (1 << reg::RCX) | (1 << reg::R11);
            st.clear_slots();
        }
        Kind::Int80 => {
            clobber |= 1 << reg::RAX;
            st.clear_slots();
        }
        _ => {}
    }
    // Slots are rbp-relative: a new rbp is another frame, and only `mov %rsp, %rbp` makes one.
    let sets_rbp = matches!(
        i.effect,
        Effect::Copy { dst: reg::RBP, .. }
            | Effect::Const { dst: reg::RBP, .. }
            | Effect::Lea { dst: reg::RBP, .. }
            | Effect::Alu { dst: reg::RBP, .. }
            | Effect::Load { dst: reg::RBP, .. }
    );
    if clobber & (1 << reg::RBP) != 0 || sets_rbp {
        st.clear_slots();
        st.frame = matches!(i.effect, Effect::Copy { dst: reg::RBP, src: reg::RSP, bits32: false });
    }
    for (r, v) in st.regs.iter_mut().enumerate() {
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
        Kind::Syscall => matches!(st.regs[reg::RAX], V::Const(60 | 231)),
        _ => false,
    }
}

/// What constant propagation found in one function.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// The state before each system-call instruction, call and jump (by instruction index);
    /// [`State::UNDEF`] where it is unreachable.
    pub at: HashMap<usize, State>,
    /// The sets [`V::Set`] values name.
    pub sets: Sets,
}

impl Facts {
    /// The state before instruction `k` (if it is a system call, call or jump).
    pub fn get(&self, k: usize) -> Option<&State> {
        self.at.get(&k)
    }
}

fn kept(i: &Insn) -> bool {
    matches!(i.kind, Kind::Syscall | Kind::Int80 | Kind::Call(_) | Kind::Jmp(_) | Kind::Jcc(_))
}

/// The register state before every system call, call and jump of `f`.
pub fn analyse(f: &Function, env: &Env<'_>) -> Facts {
    let mut sets = Sets::default();
    let mut entry = State::UNDEF;
    for (r, v) in entry.regs.iter_mut().enumerate() {
        *v = V::Entry(r as u8);
    }
    let mut block_in: Vec<Option<State>> = vec![None; f.blocks.len()];
    block_in[0] = Some(entry);
    let mut queued = vec![false; f.blocks.len()];
    let mut work = vec![0usize];
    queued[0] = true;
    // Each register of each block's input can only go Undef → Const → Set (growing, at most
    // MAX_SET times) → Any, or Undef → Entry → Any, so the number of changes — and of
    // iterations — is bounded; the cap is a second guard.
    let mut budget = f.blocks.len().saturating_mul(80).max(128);
    let all_unknown = |f: &Function| {
        let mut any = State::UNDEF;
        any.regs = [V::Any; 16];
        let at = (0..f.insns.len()).filter(|&k| kept(&f.insns[k])).map(|k| (k, any)).collect();
        Facts { at, sets: Sets::default() }
    };
    while let Some(b) = work.pop() {
        queued[b] = false;
        budget = budget.saturating_sub(1);
        if budget == 0 {
            // Give up precision rather than loop: everything unknown.
            return all_unknown(f);
        }
        let Some(mut st) = block_in[b] else { continue };
        let mut dead = false;
        for i in &f.insns[f.blocks[b].start..f.blocks[b].end] {
            if ends_path(i, &st, env.noreturn) {
                dead = true;
                break;
            }
            transfer(i, &mut st, env, &mut sets);
        }
        if dead {
            continue;
        }
        for &s in &f.blocks[b].succs {
            let changed = match &mut block_in[s] {
                None => {
                    block_in[s] = Some(st);
                    true
                }
                Some(into) => meet_state(into, &st, &mut sets),
            };
            if changed && !queued[s] {
                queued[s] = true;
                work.push(s);
            }
        }
    }
    // A block the propagation did not reach (code reached only through a pointer, in a
    // binary without symbols; or dead code) still gets what its own instructions set.
    let mut at = HashMap::new();
    for (b, blk) in f.blocks.iter().enumerate() {
        let mut st = block_in[b].unwrap_or(State::UNDEF);
        for k in blk.start..blk.end {
            let i = &f.insns[k];
            if kept(i) {
                at.insert(k, st);
            }
            if ends_path(i, &st, env.noreturn) {
                st = State::UNDEF;
            } else {
                transfer(i, &mut st, env, &mut sets);
            }
        }
    }
    Facts { at, sets }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::disasm::{Block, Insn};

    fn insn(ip: u64, kind: Kind, effect: Effect) -> Insn {
        Insn {
            ip,
            next: ip + 1,
            kind,
            effect,
            clobber: 0,
            mem_write: MemWrite::None,
            refs: vec![],
            static_read: None,
            static_write: None,
        }
    }

    fn env_with<'a>(ro: ReadOnly<'a>) -> Env<'a> {
        Env { noreturn: &|_| false, read_only: ro }
    }

    #[test]
    fn joins_keep_agreeing_constants_and_sets_of_disagreeing_ones() {
        // b0: eax=1; edi=7; jcc b2 | b1: edi=2; eax=1 (falls) | b2: syscall
        let f = Function {
            name: "f".into(),
            start: 0,
            end: 5,
            insns: vec![
                insn(0, Kind::Plain, Effect::Const { dst: reg::RAX, value: 1 }),
                insn(1, Kind::Jcc(4), Effect::Const { dst: reg::RDI, value: 7 }),
                insn(2, Kind::Plain, Effect::Const { dst: reg::RDI, value: 2 }),
                insn(3, Kind::Plain, Effect::Copy { dst: reg::RBX, src: reg::RSI, bits32: false }),
                insn(4, Kind::Syscall, Effect::Copy { dst: reg::RSI, src: reg::RDX, bits32: false }),
            ],
            blocks: vec![
                Block { start: 0, end: 2, succs: vec![1, 2], exits: false },
                Block { start: 2, end: 4, succs: vec![2], exits: false },
                Block { start: 4, end: 5, succs: vec![], exits: true },
            ],
            block_of: vec![0, 0, 1, 1, 2],
        };
        let none = |_, _, _| None;
        let env = env_with(&none);
        let mut facts = analyse(&f, &env);
        let st = *facts.get(4).unwrap();
        assert_eq!(st[reg::RAX], V::Const(1));
        assert_eq!(facts.sets.values(st[reg::RDI]), Some(vec![2, 7]));
        assert_eq!(st[reg::RBX], V::Any, "entry value on one path only");
        assert_eq!(st[reg::RDX], V::Entry(reg::RDX as u8));
        let mut s = st;
        transfer(&f.insns[4], &mut s, &env, &mut facts.sets);
        assert_eq!(s[reg::RSI], V::Entry(reg::RDX as u8));
        assert_eq!(s[reg::RAX], V::Any);
        let sets = &mut facts.sets;
        assert_eq!(meet(V::Const(1), V::Const(1), sets), V::Const(1));
        assert_eq!(meet(V::Const(1), V::Entry(1), sets), V::Any);
        assert_eq!(meet(V::Undef, V::Entry(1), sets), V::Entry(1));
        assert_eq!(sets.value((0..=MAX_SET as u64).collect()), V::Any);
    }

    #[test]
    fn loads_read_tables_and_frame_slots() {
        let table = [102u64, 107, 104];
        let ro = move |addr: u64, indexed: bool, width: u8| -> Option<Vec<u64>> {
            if !(0x5000..0x5018).contains(&addr) || width != 8 {
                return None;
            }
            if indexed {
                Some(table.to_vec())
            } else {
                Some(vec![table[((addr - 0x5000) / 8) as usize]])
            }
        };
        let env = env_with(&ro);
        let mut sets = Sets::default();
        let mut st = State::UNDEF;
        st.regs = [V::Any; 16];
        st.regs[reg::R13] = V::Const(0x5000);
        let mem = |base, index, disp| Mem { base, index, scale: 8, disp };
        let ld = |mem, width| Effect::Load { dst: reg::RDI, mem, width, sext: false, bits32: false };
        // mov 0(%r13,%rax,8),%rdi: any entry.
        transfer(&insn(0, Kind::Plain, ld(mem(Some(reg::R13), Some(reg::RAX), 0), 8)), &mut st, &env, &mut sets);
        assert_eq!(sets.values(st[reg::RDI]), Some(vec![102, 104, 107]));
        // mov 8(%r13),%rdi: that entry.
        transfer(&insn(0, Kind::Plain, ld(mem(Some(reg::R13), None, 8), 8)), &mut st, &env, &mut sets);
        assert_eq!(st[reg::RDI], V::Const(107));
        // Two unknown parts, or memory not known read-only: unknown.
        transfer(&insn(0, Kind::Plain, ld(mem(Some(reg::RBX), Some(reg::RAX), 0), 8)), &mut st, &env, &mut sets);
        assert_eq!(st[reg::RDI], V::Any);
        // mov %rsp,%rbp; mov %rdi,-8(%rbp) (an entry value); mov -8(%rbp),%rax.
        transfer(
            &insn(0, Kind::Plain, Effect::Copy { dst: reg::RBP, src: reg::RSP, bits32: false }),
            &mut st,
            &env,
            &mut sets,
        );
        assert!(st.frame);
        st.regs[reg::RDI] = V::Entry(reg::RDI as u8);
        let slot = Mem { base: Some(reg::RBP), index: None, scale: 1, disp: (-8i64) as u64 };
        let mut store = insn(0, Kind::Plain, Effect::Store { src: Some(reg::RDI), imm: 0, mem: slot, width: 8 });
        store.mem_write = MemWrite::Rbp { disp: -8, size: 8 };
        transfer(&store, &mut st, &env, &mut sets);
        let reload =
            insn(0, Kind::Plain, Effect::Load { dst: reg::RAX, mem: slot, width: 8, sext: false, bits32: false });
        transfer(&reload, &mut st, &env, &mut sets);
        assert_eq!(st[reg::RAX], V::Entry(reg::RDI as u8));
        // A write through another pointer may change the slot.
        let mut other = insn(0, Kind::Plain, Effect::None);
        other.mem_write = MemWrite::Unknown;
        transfer(&other, &mut st, &env, &mut sets);
        transfer(&reload, &mut st, &env, &mut sets);
        assert_eq!(st[reg::RAX], V::Any);
        // rbp as a general register (mov %rdi,%rbp): no slots.
        transfer(
            &insn(0, Kind::Plain, Effect::Copy { dst: reg::RBP, src: reg::RDI, bits32: false }),
            &mut st,
            &env,
            &mut sets,
        );
        transfer(&store, &mut st, &env, &mut sets);
        transfer(&reload, &mut st, &env, &mut sets);
        assert_eq!(st[reg::RAX], V::Any);
    }
}
