//! Disassembly (iced-x86) of P's functions into the few facts inference needs per
//! instruction — control flow, system-call instructions, register effects, referenced
//! addresses — and a control-flow graph of basic blocks per function.

use std::collections::{BTreeMap, HashMap};

use iced_x86::{
    Decoder, DecoderOptions, FlowControl, Instruction, InstructionInfoFactory, Mnemonic, OpAccess, OpKind, Register,
};

use crate::elf::{Elf, SymKind};

/// The 16 general-purpose registers in hardware order (rax, rcx, rdx, rbx, rsp, rbp, rsi,
/// rdi, r8 … r15).
pub const GPRS: [Register; 16] = [
    Register::RAX,
    Register::RCX,
    Register::RDX,
    Register::RBX,
    Register::RSP,
    Register::RBP,
    Register::RSI,
    Register::RDI,
    Register::R8,
    Register::R9,
    Register::R10,
    Register::R11,
    Register::R12,
    Register::R13,
    Register::R14,
    Register::R15,
];

/// Register numbers used below.
#[allow(missing_docs)]
pub mod reg {
    pub const RAX: usize = 0;
    pub const RCX: usize = 1;
    pub const RDX: usize = 2;
    pub const RBX: usize = 3;
    pub const RSP: usize = 4;
    pub const RBP: usize = 5;
    pub const RSI: usize = 6;
    pub const RDI: usize = 7;
    pub const R8: usize = 8;
    pub const R9: usize = 9;
    pub const R10: usize = 10;
    pub const R11: usize = 11;
    pub const R13: usize = 13;
}

/// Registers a call may change (System V: everything not callee-saved).
pub const CALLER_SAVED: u16 = (1 << reg::RAX)
    | (1 << reg::RCX)
    | (1 << reg::RDX)
    | (1 << reg::RSI)
    | (1 << reg::RDI)
    | (1 << reg::R8)
    | (1 << reg::R9)
    | (1 << reg::R10)
    | (1 << reg::R11);

/// GPR number of a register (any width), if it is one.
pub fn gpr(r: Register) -> Option<usize> {
    if !r.is_gpr() {
        return None;
    }
    let full = r.full_register();
    GPRS.iter().position(|g| *g == full)
}

/// What an instruction does to control flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Falls through.
    Plain,
    /// `syscall` (x86-64 ABI, or x32 by the number).
    Syscall,
    /// `int $0x80` or `sysenter` (ia32 ABI).
    Int80,
    /// `call`: direct target if known.
    Call(Option<u64>),
    /// Unconditional `jmp`: direct target if known.
    Jmp(Option<u64>),
    /// Conditional branch to the target (or fall through).
    Jcc(u64),
    /// `ret`.
    Ret,
    /// Never continues (`hlt`, `ud2`, `int3`, invalid bytes).
    Stop,
}

/// A memory operand: `[base + index * scale + disp]`. RIP-relative operands have neither
/// register and their absolute address in `disp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mem {
    /// Base register (GPR number).
    pub base: Option<usize>,
    /// Index register (GPR number).
    pub index: Option<usize>,
    /// Scale of the index.
    pub scale: u8,
    /// Displacement (sign-extended to 64 bits), or the absolute address.
    pub disp: u64,
}

/// What an instruction writes to memory, for the stack slots constant propagation keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemWrite {
    /// Nothing.
    None,
    /// Below the stack pointer (`push`, `call`), or to an absolute address: not the frame's
    /// `rbp`-based slots.
    Elsewhere,
    /// `size` bytes at `rbp + disp`.
    Rbp {
        /// Offset from rbp.
        disp: i64,
        /// Bytes.
        size: u8,
    },
    /// Anywhere (through another pointer): any slot may change.
    Unknown,
}

/// How an instruction changes the tracked registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing beyond `clobber`.
    None,
    /// `dst = imm` (already zero-extended for 32-bit destinations).
    Const { dst: usize, value: u64 },
    /// `dst = src` (`bits32`: the low 32 bits, zero-extended).
    Copy { dst: usize, src: usize, bits32: bool },
    /// `dst = base + disp` (`lea`); a RIP-relative `lea` is a [`Effect::Const`].
    Lea { dst: usize, base: usize, disp: u64 },
    /// `dst = dst OP imm`.
    Alu { dst: usize, op: AluOp, imm: u64, bits32: bool },
    /// `dst = ` the `width`-byte value at `mem`, zero- or sign-extended (`sext`), then cut to
    /// 32 bits and zero-extended if `bits32` (`mov`, `movzx`, `movsx`, `movsxd` from memory).
    Load { dst: usize, mem: Mem, width: u8, sext: bool, bits32: bool },
    /// `width` bytes of register `src` (or of `imm` when `src` is `None`) stored at `mem`.
    Store { src: Option<usize>, imm: u64, mem: Mem, width: u8 },
}

/// Arithmetic folded on constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AluOp {
    /// `add`.
    Add,
    /// `sub`.
    Sub,
    /// `and`.
    And,
    /// `or`.
    Or,
    /// `xor`.
    Xor,
}

/// One decoded instruction, reduced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Insn {
    /// Address.
    pub ip: u64,
    /// Address of the next instruction (the user RIP of a system call made here).
    pub next: u64,
    /// Control flow.
    pub kind: Kind,
    /// Register effect.
    pub effect: Effect,
    /// Registers written other than by `effect` (bit per GPR).
    pub clobber: u16,
    /// What it writes to memory.
    pub mem_write: MemWrite,
    /// Addresses the instruction names (immediates, RIP-relative operands) — candidates for
    /// address-taken functions.
    pub refs: Vec<u64>,
    /// A static address (RIP-relative or absolute) the instruction only reads, and how many
    /// bytes: `refs` that are plain loads, as opposed to stores, `lea`s and immediates.
    pub static_read: Option<(u64, u8)>,
    /// A static address the instruction writes (a store, a read-modify-write), and how many
    /// bytes: unlike a `lea` or an immediate, it writes those bytes only.
    pub static_write: Option<(u64, u8)>,
}

/// A basic block: instructions `start..end` of its function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// First instruction index.
    pub start: usize,
    /// One past the last.
    pub end: usize,
    /// Successor blocks.
    pub succs: Vec<usize>,
    /// Control may leave the function from the end of this block (return, tail call,
    /// indirect jump, running off the end).
    pub exits: bool,
}

/// A function of P.
#[derive(Clone, Debug)]
pub struct Function {
    /// Name (the most readable of the symbol's aliases).
    pub name: String,
    /// First address.
    pub start: u64,
    /// One past the last.
    pub end: u64,
    /// Instructions in address order.
    pub insns: Vec<Insn>,
    /// Basic blocks; block 0 is the entry.
    pub blocks: Vec<Block>,
    /// Block of each instruction.
    pub block_of: Vec<usize>,
}

fn readability(name: &str) -> (usize, usize, String) {
    (name.chars().take_while(|c| *c == '_').count(), name.len(), name.to_string())
}

/// The function ranges of P: text symbols with a size (aliases merged), or each code
/// section as one range when P has no symbols.
///
/// A text symbol of size 0 in a code section — assembly without `.size`, such as glibc's
/// signal restorer `__restore_rt` (`mov $15, %rax; syscall`), which only the kernel calls —
/// extends to the next symbol or the end of its section, unless a sized function covers it.
pub fn function_ranges(elf: &Elf) -> Vec<(String, u64, u64)> {
    let mut by_start: BTreeMap<u64, (String, u64)> = BTreeMap::new();
    for s in elf.all_symbols.iter().filter(|s| s.kind == SymKind::Text && s.size > 0) {
        let e = by_start.entry(s.addr).or_insert((s.name.clone(), s.size));
        if readability(&s.name) < readability(&e.0) {
            e.0 = s.name.clone();
        }
        e.1 = e.1.max(s.size);
    }
    if by_start.is_empty() {
        return elf.code.iter().map(|c| (c.name.clone(), c.addr, c.addr + c.data.len() as u64)).collect();
    }
    let sized: Vec<(u64, u64)> = by_start.iter().map(|(&a, &(_, sz))| (a, a + sz)).collect();
    let covered = |a: u64| {
        let i = sized.partition_point(|r| r.0 <= a);
        i > 0 && a < sized[i - 1].1
    };
    let starts: Vec<u64> = elf.all_symbols.iter().filter(|s| s.kind == SymKind::Text).map(|s| s.addr).collect();
    let mut zero_size: BTreeMap<u64, (String, u64)> = BTreeMap::new();
    for s in elf.all_symbols.iter().filter(|s| s.kind == SymKind::Text && s.size == 0) {
        if by_start.contains_key(&s.addr) || covered(s.addr) {
            continue;
        }
        let Some(sec) = elf.code.iter().find(|c| s.addr >= c.addr && s.addr < c.addr + c.data.len() as u64) else {
            continue;
        };
        let sec_end = sec.addr + sec.data.len() as u64;
        let next_sym = starts.get(starts.partition_point(|&a| a <= s.addr)).copied().unwrap_or(sec_end);
        let next_fn = sized.get(sized.partition_point(|r| r.0 <= s.addr)).map_or(sec_end, |r| r.0);
        let end = next_sym.min(next_fn).min(sec_end);
        let e = zero_size.entry(s.addr).or_insert((s.name.clone(), end - s.addr));
        if readability(&s.name) < readability(&e.0) {
            e.0 = s.name.clone();
        }
    }
    by_start.extend(zero_size);
    by_start.into_iter().map(|(a, (n, sz))| (n, a, a + sz)).collect()
}

fn code_bytes(elf: &Elf, start: u64, end: u64) -> Option<&[u8]> {
    let c = elf.code.iter().find(|c| start >= c.addr && end <= c.addr + c.data.len() as u64)?;
    c.data.get((start - c.addr) as usize..(end - c.addr) as usize)
}

fn reduce(i: &Instruction, info: &mut InstructionInfoFactory) -> Insn {
    let kind = match i.mnemonic() {
        Mnemonic::Syscall => Kind::Syscall,
        Mnemonic::Sysenter => Kind::Int80,
        Mnemonic::Int if i.try_immediate(0).ok() == Some(0x80) => Kind::Int80,
        Mnemonic::Hlt | Mnemonic::Ud2 | Mnemonic::Int3 | Mnemonic::INVALID => Kind::Stop,
        _ => match i.flow_control() {
            FlowControl::Call => Kind::Call(Some(i.near_branch_target())),
            FlowControl::IndirectCall => Kind::Call(None),
            FlowControl::UnconditionalBranch => Kind::Jmp(Some(i.near_branch_target())),
            FlowControl::IndirectBranch => Kind::Jmp(None),
            FlowControl::ConditionalBranch => Kind::Jcc(i.near_branch_target()),
            FlowControl::Return => Kind::Ret,
            FlowControl::Exception => Kind::Stop,
            _ => Kind::Plain,
        },
    };
    let mut clobber = 0u16;
    let written = |a: OpAccess| {
        matches!(a, OpAccess::Write | OpAccess::CondWrite | OpAccess::ReadWrite | OpAccess::ReadCondWrite)
    };
    let facts = info.info(i);
    for u in facts.used_registers() {
        if written(u.access()) {
            if let Some(g) = gpr(u.register()) {
                clobber |= 1 << g;
            }
        }
    }
    let mut mem_write = MemWrite::None;
    for m in facts.used_memory().iter().filter(|m| written(m.access())) {
        let this = match (m.base(), m.index()) {
            _ if matches!(m.segment(), Register::FS | Register::GS) => MemWrite::Elsewhere,
            // Below the stack pointer (`push`, `call`): no live object is there.
            (Register::RSP | Register::ESP, Register::None) if (m.displacement() as i64) < 0 => MemWrite::Elsewhere,
            // An absolute or RIP-relative address: static data, not a frame.
            (Register::None | Register::RIP, Register::None) => MemWrite::Elsewhere,
            (Register::RBP, Register::None) => {
                MemWrite::Rbp { disp: m.displacement() as i64, size: m.memory_size().size().min(255) as u8 }
            }
            _ => MemWrite::Unknown,
        };
        mem_write = match (mem_write, this) {
            (MemWrite::None, w) | (w, MemWrite::None) => w,
            (MemWrite::Elsewhere, w) | (w, MemWrite::Elsewhere) => w,
            _ => MemWrite::Unknown,
        };
    }
    // One memory operand at a static address, read or written (a `lea` accesses nothing).
    let static_mem = match facts.used_memory() {
        [m] if !matches!(m.segment(), Register::FS | Register::GS)
            && m.index() == Register::None
            && matches!(m.base(), Register::None | Register::RIP) =>
        {
            let addr = if i.is_ip_rel_memory_operand() { i.ip_rel_memory_address() } else { m.displacement() };
            Some((addr, m.memory_size().size().min(255) as u8, m.access()))
        }
        _ => None,
    };
    let static_read = static_mem.filter(|m| m.2 == OpAccess::Read).map(|m| (m.0, m.1));
    let static_write = static_mem.filter(|m| written(m.2)).map(|m| (m.0, m.1));
    let mut refs = Vec::new();
    for op in 0..i.op_count() {
        match i.op_kind(op) {
            OpKind::Immediate32 | OpKind::Immediate64 | OpKind::Immediate32to64 | OpKind::Immediate8to64 => {
                if let Ok(v) = i.try_immediate(op) {
                    refs.push(v);
                }
            }
            OpKind::Memory if i.is_ip_rel_memory_operand() => refs.push(i.ip_rel_memory_address()),
            _ => {}
        }
    }
    let effect = effect_of(i);
    if let Some(dst) = match effect {
        Effect::Const { dst, .. }
        | Effect::Copy { dst, .. }
        | Effect::Lea { dst, .. }
        | Effect::Alu { dst, .. }
        | Effect::Load { dst, .. } => Some(dst),
        Effect::None | Effect::Store { .. } => None,
    } {
        clobber &= !(1 << dst);
    }
    Insn { ip: i.ip(), next: i.next_ip(), kind, effect, clobber, mem_write, refs, static_read, static_write }
}

/// The memory operand of `i` (its only one), unless it is segment-relative (`fs:`, `gs:`:
/// thread-local) or uses a register that is not a 64-bit GPR.
fn mem_operand(i: &Instruction) -> Option<Mem> {
    if matches!(i.memory_segment(), Register::FS | Register::GS) {
        return None;
    }
    if i.is_ip_rel_memory_operand() {
        return Some(Mem { base: None, index: None, scale: 1, disp: i.ip_rel_memory_address() });
    }
    let reg = |r: Register| -> Option<Option<usize>> {
        match r {
            Register::None => Some(None),
            r if r.is_gpr64() => Some(Some(gpr(r)?)),
            _ => None,
        }
    };
    Some(Mem {
        base: reg(i.memory_base())?,
        index: reg(i.memory_index())?,
        scale: i.memory_index_scale() as u8,
        disp: i.memory_displacement64(),
    })
}

/// The register effect of the instruction forms inference folds; anything else is handled
/// through the written-register mask.
fn effect_of(i: &Instruction) -> Effect {
    // Stores: `mov` of a register or an immediate to memory.
    if i.mnemonic() == Mnemonic::Mov && i.op_count() == 2 && i.op_kind(0) == OpKind::Memory {
        let width = i.memory_size().size();
        let Some(mem) = mem_operand(i) else { return Effect::None };
        if !matches!(width, 1 | 2 | 4 | 8) {
            return Effect::None;
        }
        let width = width as u8;
        return match i.op_kind(1) {
            OpKind::Register => match gpr(i.op_register(1)) {
                // Not ah/bh/ch/dh: their bits are not the register's low ones.
                Some(src) if !matches!(i.op_register(1), Register::AH | Register::BH | Register::CH | Register::DH) => {
                    Effect::Store { src: Some(src), imm: 0, mem, width }
                }
                _ => Effect::None,
            },
            _ => match i.try_immediate(1) {
                Ok(v) => Effect::Store { src: None, imm: v, mem, width },
                Err(_) => Effect::None,
            },
        };
    }
    if i.op_count() < 2 || i.op_kind(0) != OpKind::Register {
        return Effect::None;
    }
    let d = i.op_register(0);
    let Some(dst) = gpr(d) else { return Effect::None };
    // Only 32- and 64-bit destinations replace the whole register.
    let bits32 = match d.size() {
        4 => true,
        8 => false,
        _ => return Effect::None,
    };
    let mask = |v: u64| if bits32 { v & 0xffff_ffff } else { v };
    let imm = || match i.op_kind(1) {
        OpKind::Immediate8
        | OpKind::Immediate16
        | OpKind::Immediate32
        | OpKind::Immediate64
        | OpKind::Immediate8to32
        | OpKind::Immediate8to64
        | OpKind::Immediate32to64 => i.try_immediate(1).ok(),
        _ => None,
    };
    // Loads: `mov`, `movzx`, `movsx`, `movsxd` from memory.
    if i.op_kind(1) == OpKind::Memory
        && matches!(i.mnemonic(), Mnemonic::Mov | Mnemonic::Movzx | Mnemonic::Movsx | Mnemonic::Movsxd)
    {
        let width = i.memory_size().size();
        return match (mem_operand(i), width) {
            (Some(mem), 1 | 2 | 4 | 8) => {
                let sext = matches!(i.mnemonic(), Mnemonic::Movsx | Mnemonic::Movsxd);
                Effect::Load { dst, mem, width: width as u8, sext, bits32 }
            }
            _ => Effect::None,
        };
    }
    match i.mnemonic() {
        Mnemonic::Mov => {
            if let Some(v) = imm() {
                return Effect::Const { dst, value: mask(v) };
            }
            if i.op_kind(1) == OpKind::Register {
                if let Some(src) = gpr(i.op_register(1)) {
                    if i.op_register(1).size() == d.size() {
                        return Effect::Copy { dst, src, bits32 };
                    }
                }
            }
            Effect::None
        }
        Mnemonic::Lea if i.op_kind(1) == OpKind::Memory => {
            if i.is_ip_rel_memory_operand() {
                return Effect::Const { dst, value: mask(i.ip_rel_memory_address()) };
            }
            if i.memory_index() == Register::None {
                if let Some(base) = gpr(i.memory_base()) {
                    return Effect::Lea { dst, base, disp: i.memory_displacement64() };
                }
            }
            Effect::None
        }
        Mnemonic::Xor | Mnemonic::Sub if i.op_kind(1) == OpKind::Register && i.op_register(1) == d => {
            Effect::Const { dst, value: 0 }
        }
        Mnemonic::Add | Mnemonic::Sub | Mnemonic::And | Mnemonic::Or | Mnemonic::Xor => match imm() {
            Some(v) => {
                let op = match i.mnemonic() {
                    Mnemonic::Add => AluOp::Add,
                    Mnemonic::Sub => AluOp::Sub,
                    Mnemonic::And => AluOp::And,
                    Mnemonic::Or => AluOp::Or,
                    _ => AluOp::Xor,
                };
                Effect::Alu { dst, op, imm: v, bits32 }
            }
            None => Effect::None,
        },
        _ => Effect::None,
    }
}

/// Decodes one function and builds its blocks.
pub fn function(elf: &Elf, name: &str, start: u64, end: u64, info: &mut InstructionInfoFactory) -> Option<Function> {
    let bytes = code_bytes(elf, start, end)?;
    let mut dec = Decoder::with_ip(64, bytes, start, DecoderOptions::NONE);
    let mut insns = Vec::new();
    let mut ins = Instruction::default();
    while dec.can_decode() {
        dec.decode_out(&mut ins);
        insns.push(reduce(&ins, info));
    }
    if insns.is_empty() {
        return None;
    }
    let index: HashMap<u64, usize> = insns.iter().enumerate().map(|(k, i)| (i.ip, k)).collect();
    let inside = |t: u64| index.get(&t).copied();
    // Leaders.
    let mut leader = vec![false; insns.len()];
    leader[0] = true;
    for (k, i) in insns.iter().enumerate() {
        match i.kind {
            Kind::Jcc(t) | Kind::Jmp(Some(t)) => {
                if let Some(j) = inside(t) {
                    leader[j] = true;
                }
                if let Some(l) = leader.get_mut(k + 1) {
                    *l = true;
                }
            }
            Kind::Jmp(None) | Kind::Ret | Kind::Stop => {
                if let Some(l) = leader.get_mut(k + 1) {
                    *l = true;
                }
            }
            _ => {}
        }
    }
    let mut block_of = vec![0usize; insns.len()];
    let mut blocks: Vec<Block> = Vec::new();
    for k in 0..insns.len() {
        if leader[k] {
            blocks.push(Block { start: k, end: k, succs: Vec::new(), exits: false });
        }
        let b = blocks.len() - 1;
        block_of[k] = b;
        blocks[b].end = k + 1;
    }
    let nblocks = blocks.len();
    for b in 0..nblocks {
        let last = &insns[blocks[b].end - 1];
        let next_block = if blocks[b].end < insns.len() { Some(b + 1) } else { None };
        let (mut succs, mut exits) = (Vec::new(), false);
        match last.kind {
            Kind::Jcc(t) => {
                match inside(t) {
                    Some(j) => succs.push(block_of[j]),
                    None => exits = true,
                }
                match next_block {
                    Some(n) => succs.push(n),
                    None => exits = true,
                }
            }
            Kind::Jmp(Some(t)) => match inside(t) {
                Some(j) => succs.push(block_of[j]),
                None => exits = true,
            },
            // A jump table or a tail call through a pointer: anywhere in the function, or out.
            Kind::Jmp(None) => {
                succs.extend(0..nblocks);
                exits = true;
            }
            Kind::Ret => exits = true,
            Kind::Stop => {}
            _ => match next_block {
                Some(n) => succs.push(n),
                None => exits = true,
            },
        }
        succs.sort_unstable();
        succs.dedup();
        blocks[b].succs = succs;
        blocks[b].exits = exits;
    }
    Some(Function { name: name.to_string(), start, end, insns, blocks, block_of })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::{CodeSection, Elf};

    fn elf_with(code: &[u8]) -> Elf {
        Elf { code: vec![CodeSection { name: ".text".into(), addr: 0x1000, data: code.to_vec() }], ..Elf::empty("t") }
    }

    #[test]
    fn reduces_the_forms_inference_folds() {
        // mov $0xe7,%eax; mov %rdi,%rsi; lea 0x10(%rip),%rdx; xor %r10d,%r10d; add $4,%rsi;
        // je +2; int $0x80; syscall; call *%rax; ret
        let code = [
            0xb8, 0xe7, 0, 0, 0, 0x48, 0x89, 0xfe, 0x48, 0x8d, 0x15, 0x10, 0, 0, 0, 0x45, 0x31, 0xd2, 0x48, 0x83, 0xc6,
            0x04, 0x74, 0x02, 0xcd, 0x80, 0x0f, 0x05, 0xff, 0xd0, 0xc3,
        ];
        let elf = elf_with(&code);
        let mut info = InstructionInfoFactory::new();
        let f = function(&elf, "f", 0x1000, 0x1000 + code.len() as u64, &mut info).unwrap();
        let k: Vec<Kind> = f.insns.iter().map(|i| i.kind).collect();
        assert_eq!(
            k,
            [
                Kind::Plain,
                Kind::Plain,
                Kind::Plain,
                Kind::Plain,
                Kind::Plain,
                Kind::Jcc(0x101a),
                Kind::Int80,
                Kind::Syscall,
                Kind::Call(None),
                Kind::Ret
            ]
        );
        assert_eq!(f.insns[0].effect, Effect::Const { dst: reg::RAX, value: 0xe7 });
        assert_eq!(f.insns[1].effect, Effect::Copy { dst: reg::RSI, src: reg::RDI, bits32: false });
        assert_eq!(f.insns[2].effect, Effect::Const { dst: reg::RDX, value: 0x100f + 0x10 });
        assert_eq!(f.insns[2].refs, vec![0x101f]);
        assert_eq!(f.insns[3].effect, Effect::Const { dst: reg::R10, value: 0 });
        assert_eq!(f.insns[4].effect, Effect::Alu { dst: reg::RSI, op: AluOp::Add, imm: 4, bits32: false });
        assert_eq!(f.insns[7].next, 0x101c);
        // Blocks: [0..6) jcc → {int80 block, syscall block}; [6..7) falls; [7..10) returns.
        assert_eq!(f.blocks.len(), 3);
        assert_eq!(f.blocks[0].succs, vec![1, 2]);
        assert!(f.blocks[2].exits);
        // Undecodable bytes stop the path.
        let bad = elf_with(&[0x06]);
        let g = function(&bad, "g", 0x1000, 0x1001, &mut info).unwrap();
        assert_eq!(g.insns[0].kind, Kind::Stop);
        assert!(function(&bad, "h", 0x5000, 0x5001, &mut info).is_none());
    }

    #[test]
    fn zero_size_text_symbols_extend_to_the_next_symbol() {
        use crate::elf::{Sym, SymKind};
        let mut elf = elf_with(&[0x90; 0x40]);
        let sym = |name: &str, addr: u64, size: u64| Sym {
            name: name.into(),
            addr,
            size,
            kind: SymKind::Text,
            global: false,
        };
        // f (sized), __restore_rt (size 0, like glibc's), inner (size 0 inside f: a label),
        // g (sized), tail (size 0, runs to the section's end).
        elf.all_symbols = vec![
            sym("f", 0x1000, 0x10),
            sym("inner", 0x1004, 0),
            sym("__restore_rt", 0x1010, 0),
            sym("g", 0x1020, 0x8),
            sym("tail", 0x1030, 0),
        ];
        let r = function_ranges(&elf);
        assert_eq!(
            r,
            [
                ("f".to_string(), 0x1000, 0x1010),
                ("__restore_rt".to_string(), 0x1010, 0x1020),
                ("g".to_string(), 0x1020, 0x1028),
                ("tail".to_string(), 0x1030, 0x1040)
            ]
        );
    }

    #[test]
    fn loads_and_stores_and_what_they_write() {
        // mov 0x0(%r13,%rax,8),%rdi; movzbl 0x10(%rip),%eax; movslq -0x14(%rbp),%rdx;
        // mov %rdi,-0x8(%rbp); movl $0x6c,-0xc(%rbp); mov %eax,(%rbx); push %rbp;
        // addl $1,-0x4(%rbp); mov %fs:0x10,%rax
        let code = [
            0x49, 0x8b, 0x7c, 0xc5, 0x00, 0x0f, 0xb6, 0x05, 0x10, 0, 0, 0, 0x48, 0x63, 0x55, 0xec, 0x48, 0x89, 0x7d,
            0xf8, 0xc7, 0x45, 0xf4, 0x6c, 0, 0, 0, 0x89, 0x03, 0x55, 0x83, 0x45, 0xfc, 0x01, 0x64, 0x48, 0x8b, 0x04,
            0x25, 0x10, 0, 0, 0,
        ];
        let elf = elf_with(&code);
        let mut info = InstructionInfoFactory::new();
        let f = function(&elf, "f", 0x1000, 0x1000 + code.len() as u64, &mut info).unwrap();
        let e: Vec<Effect> = f.insns.iter().map(|i| i.effect).collect();
        let m = |base, index, scale, disp: i64| Mem { base, index, scale, disp: disp as u64 };
        assert_eq!(
            e[0],
            Effect::Load {
                dst: reg::RDI,
                mem: m(Some(reg::R13), Some(reg::RAX), 8, 0),
                width: 8,
                sext: false,
                bits32: false
            }
        );
        assert_eq!(
            e[1],
            Effect::Load { dst: reg::RAX, mem: m(None, None, 1, 0x101c), width: 1, sext: false, bits32: true }
        );
        assert_eq!(
            e[2],
            Effect::Load { dst: reg::RDX, mem: m(Some(reg::RBP), None, 1, -0x14), width: 4, sext: true, bits32: false }
        );
        assert_eq!(e[3], Effect::Store { src: Some(reg::RDI), imm: 0, mem: m(Some(reg::RBP), None, 1, -8), width: 8 });
        assert_eq!(f.insns[3].mem_write, MemWrite::Rbp { disp: -8, size: 8 });
        assert_eq!(e[4], Effect::Store { src: None, imm: 0x6c, mem: m(Some(reg::RBP), None, 1, -0xc), width: 4 });
        assert_eq!(f.insns[5].mem_write, MemWrite::Unknown, "through rbx");
        assert_eq!(f.insns[6].mem_write, MemWrite::Elsewhere, "push");
        assert_eq!(f.insns[7].mem_write, MemWrite::Rbp { disp: -4, size: 4 });
        assert_eq!(e[8], Effect::None, "thread-local");
        assert_eq!(f.insns[8].clobber, 1 << reg::RAX);
    }
}
