//! Invariant bytecode: opcodes, the decoded instruction [`Insn`], one decoder shared by the
//! verifier and the evaluator, the encoder used by the assembler, and a disassembler.
//!
//! An instruction is one opcode byte followed by a fixed number of little-endian operand
//! bytes that depend only on the opcode. Jump operands are unsigned offsets from the end of
//! the jump instruction, so control only moves forward and an invariant executes at most as
//! many instructions as it has bytes.

use core::fmt;

use crate::regs::Reg;

/// Opcode numbers. Zero is not an opcode, so zero-filled memory never decodes as code.
#[allow(missing_docs)]
pub mod opcode {
    pub const PUSH8: u8 = 0x01;
    pub const PUSH32: u8 = 0x02;
    pub const PUSH64: u8 = 0x03;
    pub const PUSHI32: u8 = 0x04;
    pub const NR: u8 = 0x08;
    pub const ABI: u8 = 0x09;
    pub const ARG: u8 = 0x0A;
    pub const REG: u8 = 0x0B;
    pub const RIP: u8 = 0x0C;
    pub const IMAGE_BASE: u8 = 0x0D;
    pub const LD8U: u8 = 0x10;
    pub const LD16U: u8 = 0x11;
    pub const LD32U: u8 = 0x12;
    pub const LD64: u8 = 0x13;
    pub const LD8S: u8 = 0x14;
    pub const LD16S: u8 = 0x15;
    pub const LD32S: u8 = 0x16;
    /// First binary operator; `BIN_FIRST + BinOp as u8`.
    pub const BIN_FIRST: u8 = 0x20;
    pub const NEG: u8 = 0x40;
    pub const INV: u8 = 0x41;
    pub const SEXT: u8 = 0x42;
    pub const ZEXT: u8 = 0x43;
    pub const LNOT: u8 = 0x44;
    pub const AND_THEN: u8 = 0x48;
    pub const OR_ELSE: u8 = 0x49;
    pub const JZ: u8 = 0x4A;
    pub const JNZ: u8 = 0x4B;
    pub const JMP: u8 = 0x4C;
    pub const DUP: u8 = 0x50;
    pub const DROP: u8 = 0x51;
    pub const SWAP: u8 = 0x52;
    pub const STR_EQ: u8 = 0x58;
    pub const STR_PREFIX: u8 = 0x59;
    pub const STRLEN: u8 = 0x5A;
    pub const BYTES_EQ: u8 = 0x5B;
    pub const IN_SET: u8 = 0x5C;
    pub const STR_CONTAINS: u8 = 0x5D;
    pub const STR_SUFFIX: u8 = 0x5E;
    pub const STR_CLASS: u8 = 0x5F;
    pub const DENY: u8 = 0x60;
    pub const REQUIRE_SITE: u8 = 0x61;
    pub const NOTE: u8 = 0x62;
}

/// Deepest evaluation stack an invariant may need.
pub const MAX_STACK: usize = 32;
/// Largest bound of a `strlen`, `str_contains`, `str_suffix` or `str_class` (the longest guest
/// string one instruction scans, NUL excluded).
pub const MAX_STRLEN: u16 = 4096;
/// Longest constant of a `str_contains` or `str_suffix`. The evaluator compares it against the
/// most recent guest bytes, which it keeps in a ring of this many bytes on the (kernel) stack
/// rather than reading guest memory twice. The cost bound is tighter still for long strings:
/// `str_contains` costs `(bound + 1) × (len + 1)`, so at bound 4096 only constants of up to 30
/// bytes fit within [`crate::policy::verify::MAX_INVARIANT_COST`]; longer ones need a smaller
/// bound.
pub const MAX_MATCH_LEN: usize = 256;
/// Number of system-call arguments.
pub const ARG_COUNT: u8 = 6;

/// Binary operators: pop `b`, pop `a`, push `a op b`.
///
/// Arithmetic wraps; division and remainder by zero are evaluation faults; shift counts are
/// masked to 0..=63; signed division of `i64::MIN` by −1 wraps (quotient `i64::MIN`,
/// remainder 0). Comparisons push 1 or 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum BinOp {
    Add = 0,
    Sub = 1,
    Mul = 2,
    DivU = 3,
    RemU = 4,
    DivS = 5,
    RemS = 6,
    Shl = 7,
    Shr = 8,
    Sar = 9,
    And = 10,
    Or = 11,
    Xor = 12,
    Eq = 13,
    Ne = 14,
    LtU = 15,
    LeU = 16,
    GtU = 17,
    GeU = 18,
    LtS = 19,
    LeS = 20,
    GtS = 21,
    GeS = 22,
}

impl BinOp {
    /// Number of binary operators.
    pub const COUNT: u8 = 23;
    /// All operators, in opcode order.
    pub const ALL: [BinOp; 23] = [
        BinOp::Add,
        BinOp::Sub,
        BinOp::Mul,
        BinOp::DivU,
        BinOp::RemU,
        BinOp::DivS,
        BinOp::RemS,
        BinOp::Shl,
        BinOp::Shr,
        BinOp::Sar,
        BinOp::And,
        BinOp::Or,
        BinOp::Xor,
        BinOp::Eq,
        BinOp::Ne,
        BinOp::LtU,
        BinOp::LeU,
        BinOp::GtU,
        BinOp::GeU,
        BinOp::LtS,
        BinOp::LeS,
        BinOp::GtS,
        BinOp::GeS,
    ];

    /// Decodes an operator number.
    pub fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.get(usize::from(v)).copied()
    }

    /// Applies the operator; `None` means division by zero.
    #[inline]
    pub fn apply(self, a: u64, b: u64) -> Option<u64> {
        let (sa, sb) = (a as i64, b as i64);
        Some(match self {
            BinOp::Add => a.wrapping_add(b),
            BinOp::Sub => a.wrapping_sub(b),
            BinOp::Mul => a.wrapping_mul(b),
            BinOp::DivU => a.checked_div(b)?,
            BinOp::RemU => a.checked_rem(b)?,
            BinOp::DivS => {
                if b == 0 {
                    return None;
                }
                sa.wrapping_div(sb) as u64
            }
            BinOp::RemS => {
                if b == 0 {
                    return None;
                }
                sa.wrapping_rem(sb) as u64
            }
            BinOp::Shl => a.wrapping_shl((b & 63) as u32),
            BinOp::Shr => a.wrapping_shr((b & 63) as u32),
            BinOp::Sar => sa.wrapping_shr((b & 63) as u32) as u64,
            BinOp::And => a & b,
            BinOp::Or => a | b,
            BinOp::Xor => a ^ b,
            BinOp::Eq => u64::from(a == b),
            BinOp::Ne => u64::from(a != b),
            BinOp::LtU => u64::from(a < b),
            BinOp::LeU => u64::from(a <= b),
            BinOp::GtU => u64::from(a > b),
            BinOp::GeU => u64::from(a >= b),
            BinOp::LtS => u64::from(sa < sb),
            BinOp::LeS => u64::from(sa <= sb),
            BinOp::GtS => u64::from(sa > sb),
            BinOp::GeS => u64::from(sa >= sb),
        })
    }

    /// Mnemonic for the disassembler and the invariant language.
    pub const fn name(self) -> &'static str {
        match self {
            BinOp::Add => "add",
            BinOp::Sub => "sub",
            BinOp::Mul => "mul",
            BinOp::DivU => "divu",
            BinOp::RemU => "remu",
            BinOp::DivS => "divs",
            BinOp::RemS => "rems",
            BinOp::Shl => "shl",
            BinOp::Shr => "shr",
            BinOp::Sar => "sar",
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::Xor => "xor",
            BinOp::Eq => "eq",
            BinOp::Ne => "ne",
            BinOp::LtU => "ltu",
            BinOp::LeU => "leu",
            BinOp::GtU => "gtu",
            BinOp::GeU => "geu",
            BinOp::LtS => "lts",
            BinOp::LeS => "les",
            BinOp::GtS => "gts",
            BinOp::GeS => "ges",
        }
    }
}

/// Width of a memory load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// 1 byte.
    W8,
    /// 2 bytes.
    W16,
    /// 4 bytes.
    W32,
    /// 8 bytes.
    W64,
}

impl Width {
    /// Size in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            Width::W8 => 1,
            Width::W16 => 2,
            Width::W32 => 4,
            Width::W64 => 8,
        }
    }
    /// Size in bits.
    pub const fn bits(self) -> u32 {
        self.bytes() as u32 * 8
    }
    /// The width with `bits` ∈ {8, 16, 32} — the operand of `sext`/`zext`.
    pub const fn from_ext_bits(bits: u8) -> Option<Self> {
        match bits {
            8 => Some(Width::W8),
            16 => Some(Width::W16),
            32 => Some(Width::W32),
            _ => None,
        }
    }
    /// Zero-extends the low `self` bits of `v`.
    #[inline]
    pub const fn zext(self, v: u64) -> u64 {
        match self {
            Width::W8 => v as u8 as u64,
            Width::W16 => v as u16 as u64,
            Width::W32 => v as u32 as u64,
            Width::W64 => v,
        }
    }
    /// Sign-extends the low `self` bits of `v`.
    #[inline]
    pub const fn sext(self, v: u64) -> u64 {
        match self {
            Width::W8 => v as u8 as i8 as i64 as u64,
            Width::W16 => v as u16 as i16 as i64 as u64,
            Width::W32 => v as u32 as i32 as i64 as u64,
            Width::W64 => v,
        }
    }
}

/// Index into the policy's constant pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConstId(pub u16);

/// One decoded instruction. The comment on each gives its stack effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insn {
    /// `→ v` (encoded in the shortest of `push8`, `pushi32`, `push32`, `push64`).
    Push(u64),
    /// `→ nr` — the system-call number within its ABI.
    Nr,
    /// `→ abi` — 0 x86-64, 1 ia32, 2 x32.
    Abi,
    /// `→ args[i]`, `i < 6`.
    Arg(u8),
    /// `→ register`.
    Reg(Reg),
    /// `→ user RIP` (the address the call returns to; relative to the load base for a
    /// position-independent P).
    Rip,
    /// `→ load base of P's image` (0 for a policy with absolute addresses): the compiler adds
    /// it to the address of each of a position-independent P's variables.
    ImageBase,
    /// `addr → value`: reads `width` bytes of P's memory, zero- or sign-extends.
    Load {
        /// Bytes read.
        width: Width,
        /// Sign-extend instead of zero-extend.
        signed: bool,
    },
    /// `a b → a op b`.
    Bin(BinOp),
    /// `a → -a` (wrapping).
    Neg,
    /// `a → !a` (bitwise).
    Inv,
    /// `a → a` sign-extended from the given width (8, 16, 32 bits).
    Sext(Width),
    /// `a → a` zero-extended from the given width (truncation).
    Zext(Width),
    /// `a → (a == 0)`.
    LNot,
    /// Short-circuit `&&`: if the top is zero jump by the offset keeping it, else pop it and
    /// go on (`a && b` = `a; and_then L; b; L:`).
    AndThen(u16),
    /// Short-circuit `||`: if the top is non-zero jump keeping it, else pop it and go on.
    OrElse(u16),
    /// `c →`, jump if `c == 0`.
    Jz(u16),
    /// `c →`, jump if `c != 0`.
    Jnz(u16),
    /// Unconditional forward jump.
    Jmp(u16),
    /// `a → a a`.
    Dup,
    /// `a →`.
    Drop,
    /// `a b → b a`.
    Swap,
    /// `addr → (C string at addr == constant)`; reads at most `len(constant) + 1` bytes.
    StrEq(ConstId),
    /// `addr → (C string at addr starts with constant)`; reads at most `len(constant)` bytes.
    StrPrefix(ConstId),
    /// `addr → strlen(addr)`; scanning more than the bound without a NUL is a fault.
    Strlen(u16),
    /// `addr → (C string at addr contains constant)`; reads at most `bound + 1` bytes, stops
    /// at the first occurrence; no NUL and no occurrence within them is a fault.
    StrContains(ConstId, u16),
    /// `addr → (C string at addr ends with constant)`; reads at most `bound + 1` bytes; no NUL
    /// within them is a fault.
    StrSuffix(ConstId, u16),
    /// `addr → (every byte of the C string at addr is in the class constant, and the string is
    /// at most `bound` bytes long)`; reads at most `bound + 1` bytes and stops at the first
    /// byte outside the class. A longer string is false, not a fault: the bound is part of
    /// what the class accepts.
    StrClass(ConstId, u16),
    /// `addr → (the len(constant) bytes at addr == constant)`.
    BytesEq(ConstId),
    /// `v → (v ∈ set constant)`.
    InSet(ConstId),
    /// Ends evaluation: this system call is not allowed.
    Deny,
    /// Ends evaluation with a call-site violation unless the user RIP is in the set.
    RequireSite(ConstId),
    /// `a → a`, records `a` among the values reported with a violation (first 4 kept).
    Note,
}

/// Why bytes do not decode as an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsnError {
    /// No instruction has this opcode.
    BadOpcode(u8),
    /// The operands run past the end of the code.
    Truncated,
    /// `arg` with an index ≥ 6.
    BadArgIndex(u8),
    /// `reg` with an unknown register number.
    BadRegister(u8),
    /// `sext`/`zext` with a width other than 8, 16, 32.
    BadExtendWidth(u8),
    /// String bound (`strlen`, `str_contains`, `str_suffix`, `str_class`) of 0 or above
    /// [`MAX_STRLEN`].
    BadStrlenBound(u16),
}

#[inline]
fn operand<const N: usize>(code: &[u8], at: usize) -> Result<[u8; N], InsnError> {
    let end = at.checked_add(N).ok_or(InsnError::Truncated)?;
    let bytes = code.get(at..end).ok_or(InsnError::Truncated)?;
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    Ok(out)
}

/// Decodes the instruction at `pc`; returns it and the offset of the next one. Checks the
/// opcode and every operand's value, not references to the constant pool (that needs the
/// policy; see the verifier).
#[inline]
pub fn decode_insn(code: &[u8], pc: usize) -> Result<(Insn, usize), InsnError> {
    use opcode::*;
    let op = *code.get(pc).ok_or(InsnError::Truncated)?;
    let at = pc + 1;
    macro_rules! u8_ {
        () => {
            operand::<1>(code, at)?[0]
        };
    }
    macro_rules! u16_ {
        () => {
            u16::from_le_bytes(operand::<2>(code, at)?)
        };
    }
    // A constant then a string bound, for the bounded string scans.
    let const_bound = || -> Result<(ConstId, u16), InsnError> {
        let b = operand::<4>(code, at)?;
        let max = u16::from_le_bytes([b[2], b[3]]);
        if max == 0 || max > MAX_STRLEN {
            return Err(InsnError::BadStrlenBound(max));
        }
        Ok((ConstId(u16::from_le_bytes([b[0], b[1]])), max))
    };
    let (insn, n) = match op {
        PUSH8 => (Insn::Push(u64::from(u8_!())), 1),
        PUSH32 => (Insn::Push(u64::from(u32::from_le_bytes(operand::<4>(code, at)?))), 4),
        PUSH64 => (Insn::Push(u64::from_le_bytes(operand::<8>(code, at)?)), 8),
        PUSHI32 => (Insn::Push(i32::from_le_bytes(operand::<4>(code, at)?) as i64 as u64), 4),
        NR => (Insn::Nr, 0),
        ABI => (Insn::Abi, 0),
        ARG => {
            let i = u8_!();
            if i >= ARG_COUNT {
                return Err(InsnError::BadArgIndex(i));
            }
            (Insn::Arg(i), 1)
        }
        REG => {
            let r = u8_!();
            (Insn::Reg(Reg::from_u8(r).ok_or(InsnError::BadRegister(r))?), 1)
        }
        RIP => (Insn::Rip, 0),
        IMAGE_BASE => (Insn::ImageBase, 0),
        LD8U => (Insn::Load { width: Width::W8, signed: false }, 0),
        LD16U => (Insn::Load { width: Width::W16, signed: false }, 0),
        LD32U => (Insn::Load { width: Width::W32, signed: false }, 0),
        LD64 => (Insn::Load { width: Width::W64, signed: false }, 0),
        LD8S => (Insn::Load { width: Width::W8, signed: true }, 0),
        LD16S => (Insn::Load { width: Width::W16, signed: true }, 0),
        LD32S => (Insn::Load { width: Width::W32, signed: true }, 0),
        x if (BIN_FIRST..BIN_FIRST + BinOp::COUNT).contains(&x) => {
            (Insn::Bin(BinOp::from_u8(x - BIN_FIRST).ok_or(InsnError::BadOpcode(x))?), 0)
        }
        NEG => (Insn::Neg, 0),
        INV => (Insn::Inv, 0),
        SEXT | ZEXT => {
            let bits = u8_!();
            let w = Width::from_ext_bits(bits).ok_or(InsnError::BadExtendWidth(bits))?;
            (if op == SEXT { Insn::Sext(w) } else { Insn::Zext(w) }, 1)
        }
        LNOT => (Insn::LNot, 0),
        AND_THEN => (Insn::AndThen(u16_!()), 2),
        OR_ELSE => (Insn::OrElse(u16_!()), 2),
        JZ => (Insn::Jz(u16_!()), 2),
        JNZ => (Insn::Jnz(u16_!()), 2),
        JMP => (Insn::Jmp(u16_!()), 2),
        DUP => (Insn::Dup, 0),
        DROP => (Insn::Drop, 0),
        SWAP => (Insn::Swap, 0),
        STR_EQ => (Insn::StrEq(ConstId(u16_!())), 2),
        STR_PREFIX => (Insn::StrPrefix(ConstId(u16_!())), 2),
        STRLEN => {
            let max = u16_!();
            if max == 0 || max > MAX_STRLEN {
                return Err(InsnError::BadStrlenBound(max));
            }
            (Insn::Strlen(max), 2)
        }
        BYTES_EQ => (Insn::BytesEq(ConstId(u16_!())), 2),
        IN_SET => (Insn::InSet(ConstId(u16_!())), 2),
        STR_CONTAINS => {
            let (c, max) = const_bound()?;
            (Insn::StrContains(c, max), 4)
        }
        STR_SUFFIX => {
            let (c, max) = const_bound()?;
            (Insn::StrSuffix(c, max), 4)
        }
        STR_CLASS => {
            let (c, max) = const_bound()?;
            (Insn::StrClass(c, max), 4)
        }
        DENY => (Insn::Deny, 0),
        REQUIRE_SITE => (Insn::RequireSite(ConstId(u16_!())), 2),
        NOTE => (Insn::Note, 0),
        other => return Err(InsnError::BadOpcode(other)),
    };
    Ok((insn, at + n))
}

impl Insn {
    /// Encoded size in bytes.
    pub fn encoded_len(&self) -> usize {
        let mut buf = [0u8; 9];
        self.encode(&mut buf).unwrap_or(0)
    }

    /// Writes the instruction into `out`; returns its length, or `None` if `out` is too
    /// short.
    pub fn encode(&self, out: &mut [u8]) -> Option<usize> {
        use opcode::*;
        let mut buf = [0u8; 9];
        let n = match *self {
            Insn::Push(v) => {
                if v <= 0xFF {
                    buf[0] = PUSH8;
                    buf[1] = v as u8;
                    2
                } else if v as i64 >= i64::from(i32::MIN) && v as i64 <= i64::from(i32::MAX) {
                    buf[0] = PUSHI32;
                    buf[1..5].copy_from_slice(&(v as i64 as i32).to_le_bytes());
                    5
                } else if v <= u64::from(u32::MAX) {
                    buf[0] = PUSH32;
                    buf[1..5].copy_from_slice(&(v as u32).to_le_bytes());
                    5
                } else {
                    buf[0] = PUSH64;
                    buf[1..9].copy_from_slice(&v.to_le_bytes());
                    9
                }
            }
            Insn::Nr => one(&mut buf, NR),
            Insn::Abi => one(&mut buf, ABI),
            Insn::Arg(i) => two(&mut buf, ARG, i),
            Insn::Reg(r) => two(&mut buf, REG, r as u8),
            Insn::Rip => one(&mut buf, RIP),
            Insn::ImageBase => one(&mut buf, IMAGE_BASE),
            Insn::Load { width, signed } => one(
                &mut buf,
                match (width, signed) {
                    (Width::W8, false) => LD8U,
                    (Width::W16, false) => LD16U,
                    (Width::W32, false) => LD32U,
                    (Width::W64, _) => LD64,
                    (Width::W8, true) => LD8S,
                    (Width::W16, true) => LD16S,
                    (Width::W32, true) => LD32S,
                },
            ),
            Insn::Bin(op) => one(&mut buf, BIN_FIRST + op as u8),
            Insn::Neg => one(&mut buf, NEG),
            Insn::Inv => one(&mut buf, INV),
            Insn::Sext(w) => two(&mut buf, SEXT, w.bits() as u8),
            Insn::Zext(w) => two(&mut buf, ZEXT, w.bits() as u8),
            Insn::LNot => one(&mut buf, LNOT),
            Insn::AndThen(o) => three(&mut buf, AND_THEN, o),
            Insn::OrElse(o) => three(&mut buf, OR_ELSE, o),
            Insn::Jz(o) => three(&mut buf, JZ, o),
            Insn::Jnz(o) => three(&mut buf, JNZ, o),
            Insn::Jmp(o) => three(&mut buf, JMP, o),
            Insn::Dup => one(&mut buf, DUP),
            Insn::Drop => one(&mut buf, DROP),
            Insn::Swap => one(&mut buf, SWAP),
            Insn::StrEq(c) => three(&mut buf, STR_EQ, c.0),
            Insn::StrPrefix(c) => three(&mut buf, STR_PREFIX, c.0),
            Insn::Strlen(m) => three(&mut buf, STRLEN, m),
            Insn::BytesEq(c) => three(&mut buf, BYTES_EQ, c.0),
            Insn::InSet(c) => three(&mut buf, IN_SET, c.0),
            Insn::StrContains(c, m) => five(&mut buf, STR_CONTAINS, c.0, m),
            Insn::StrSuffix(c, m) => five(&mut buf, STR_SUFFIX, c.0, m),
            Insn::StrClass(c, m) => five(&mut buf, STR_CLASS, c.0, m),
            Insn::Deny => one(&mut buf, DENY),
            Insn::RequireSite(c) => three(&mut buf, REQUIRE_SITE, c.0),
            Insn::Note => one(&mut buf, NOTE),
        };
        out.get_mut(..n)?.copy_from_slice(buf.get(..n)?);
        Some(n)
    }

    /// Values popped and pushed on the path that falls through (for [`Insn::AndThen`] and
    /// [`Insn::OrElse`] the taken jump keeps the operand instead of popping it).
    pub const fn stack_effect(&self) -> (u8, u8) {
        match self {
            Insn::Push(_) | Insn::Nr | Insn::Abi | Insn::Arg(_) | Insn::Reg(_) | Insn::Rip | Insn::ImageBase => (0, 1),
            Insn::Load { .. }
            | Insn::Neg
            | Insn::Inv
            | Insn::Sext(_)
            | Insn::Zext(_)
            | Insn::LNot
            | Insn::StrEq(_)
            | Insn::StrPrefix(_)
            | Insn::Strlen(_)
            | Insn::StrContains(..)
            | Insn::StrSuffix(..)
            | Insn::StrClass(..)
            | Insn::BytesEq(_)
            | Insn::InSet(_)
            | Insn::Note => (1, 1),
            Insn::Bin(_) => (2, 1),
            Insn::AndThen(_) | Insn::OrElse(_) | Insn::Jz(_) | Insn::Jnz(_) | Insn::Drop => (1, 0),
            Insn::Jmp(_) | Insn::Deny | Insn::RequireSite(_) => (0, 0),
            Insn::Dup => (1, 2),
            Insn::Swap => (2, 2),
        }
    }

    /// The jump offset, if this is a jump.
    pub const fn jump_offset(&self) -> Option<u16> {
        match *self {
            Insn::AndThen(o) | Insn::OrElse(o) | Insn::Jz(o) | Insn::Jnz(o) | Insn::Jmp(o) => Some(o),
            _ => None,
        }
    }

    /// True if execution never continues with the next instruction.
    pub const fn ends_path(&self) -> bool {
        matches!(self, Insn::Jmp(_) | Insn::Deny)
    }
}

fn one(buf: &mut [u8; 9], op: u8) -> usize {
    buf[0] = op;
    1
}
fn two(buf: &mut [u8; 9], op: u8, a: u8) -> usize {
    buf[0] = op;
    buf[1] = a;
    2
}
fn three(buf: &mut [u8; 9], op: u8, a: u16) -> usize {
    buf[0] = op;
    buf[1..3].copy_from_slice(&a.to_le_bytes());
    3
}
fn five(buf: &mut [u8; 9], op: u8, a: u16, b: u16) -> usize {
    buf[0] = op;
    buf[1..3].copy_from_slice(&a.to_le_bytes());
    buf[3..5].copy_from_slice(&b.to_le_bytes());
    5
}

impl fmt::Display for Insn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Insn::Push(v) => write!(f, "push {v:#x}"),
            Insn::Nr => f.write_str("nr"),
            Insn::Abi => f.write_str("abi"),
            Insn::Arg(i) => write!(f, "arg {i}"),
            Insn::Reg(r) => write!(f, "reg {}", r.name()),
            Insn::Rip => f.write_str("rip"),
            Insn::ImageBase => f.write_str("image_base"),
            Insn::Load { width, signed } => {
                write!(
                    f,
                    "ld{}{}",
                    width.bits(),
                    if width == Width::W64 {
                        ""
                    } else if signed {
                        "s"
                    } else {
                        "u"
                    }
                )
            }
            Insn::Bin(op) => f.write_str(op.name()),
            Insn::Neg => f.write_str("neg"),
            Insn::Inv => f.write_str("inv"),
            Insn::Sext(w) => write!(f, "sext {}", w.bits()),
            Insn::Zext(w) => write!(f, "zext {}", w.bits()),
            Insn::LNot => f.write_str("lnot"),
            Insn::AndThen(o) => write!(f, "and_then +{o}"),
            Insn::OrElse(o) => write!(f, "or_else +{o}"),
            Insn::Jz(o) => write!(f, "jz +{o}"),
            Insn::Jnz(o) => write!(f, "jnz +{o}"),
            Insn::Jmp(o) => write!(f, "jmp +{o}"),
            Insn::Dup => f.write_str("dup"),
            Insn::Drop => f.write_str("drop"),
            Insn::Swap => f.write_str("swap"),
            Insn::StrEq(c) => write!(f, "str_eq c{}", c.0),
            Insn::StrPrefix(c) => write!(f, "str_prefix c{}", c.0),
            Insn::Strlen(m) => write!(f, "strlen {m}"),
            Insn::BytesEq(c) => write!(f, "bytes_eq c{}", c.0),
            Insn::InSet(c) => write!(f, "in_set c{}", c.0),
            Insn::StrContains(c, m) => write!(f, "str_contains c{}, {m}", c.0),
            Insn::StrSuffix(c, m) => write!(f, "str_suffix c{}, {m}", c.0),
            Insn::StrClass(c, m) => write!(f, "str_class c{}, {m}", c.0),
            Insn::Deny => f.write_str("deny"),
            Insn::RequireSite(c) => write!(f, "require_site c{}", c.0),
            Insn::Note => f.write_str("note"),
        }
    }
}

/// Iterates over the instructions of a code slice as `(offset, instruction)`; stops after the
/// first undecodable one (yielding its error). For dumping policies.
pub struct Disassembler<'a> {
    code: &'a [u8],
    pc: usize,
    failed: bool,
}

impl<'a> Disassembler<'a> {
    /// Disassembles `code` from its start.
    pub fn new(code: &'a [u8]) -> Self {
        Self { code, pc: 0, failed: false }
    }
}

impl Iterator for Disassembler<'_> {
    type Item = Result<(usize, Insn), (usize, InsnError)>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pc >= self.code.len() {
            return None;
        }
        match decode_insn(self.code, self.pc) {
            Ok((insn, next)) => {
                let at = self.pc;
                self.pc = next;
                Some(Ok((at, insn)))
            }
            Err(e) => {
                self.failed = true;
                Some(Err((self.pc, e)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    fn all_insns() -> std::vec::Vec<Insn> {
        let mut v = std::vec![
            Insn::Push(0),
            Insn::Push(0xFF),
            Insn::Push(0x100),
            Insn::Push(u64::MAX),
            Insn::Push(0x8000_0000),
            Insn::Push(0xFFFF_FFFF),
            Insn::Push(0x1_0000_0000),
            Insn::Push((-5i64) as u64),
            Insn::Nr,
            Insn::Abi,
            Insn::Arg(0),
            Insn::Arg(5),
            Insn::Reg(Reg::Cr3),
            Insn::Rip,
            Insn::ImageBase,
            Insn::Neg,
            Insn::Inv,
            Insn::Sext(Width::W8),
            Insn::Sext(Width::W16),
            Insn::Zext(Width::W32),
            Insn::LNot,
            Insn::AndThen(3),
            Insn::OrElse(0),
            Insn::Jz(65535),
            Insn::Jnz(1),
            Insn::Jmp(2),
            Insn::Dup,
            Insn::Drop,
            Insn::Swap,
            Insn::StrEq(ConstId(1)),
            Insn::StrPrefix(ConstId(2)),
            Insn::Strlen(4096),
            Insn::BytesEq(ConstId(3)),
            Insn::InSet(ConstId(65535)),
            Insn::StrContains(ConstId(4), 1),
            Insn::StrSuffix(ConstId(65535), 4096),
            Insn::StrClass(ConstId(0), 64),
            Insn::Deny,
            Insn::RequireSite(ConstId(0)),
            Insn::Note,
        ];
        for w in [Width::W8, Width::W16, Width::W32, Width::W64] {
            v.push(Insn::Load { width: w, signed: false });
            if w != Width::W64 {
                v.push(Insn::Load { width: w, signed: true });
            }
        }
        v.extend(BinOp::ALL.iter().map(|&o| Insn::Bin(o)));
        v
    }

    #[test]
    fn every_instruction_round_trips_and_displays() {
        for insn in all_insns() {
            let mut buf = [0u8; 16];
            let n = insn.encode(&mut buf).unwrap();
            assert_eq!(n, insn.encoded_len());
            let (back, next) = decode_insn(&buf[..n], 0).unwrap();
            assert_eq!(back, insn);
            assert_eq!(next, n);
            // Every proper prefix is truncated, never a different instruction.
            for cut in 0..n {
                assert_eq!(decode_insn(&buf[..cut], 0).unwrap_err(), InsnError::Truncated, "{insn:?} cut {cut}");
            }
            assert!(!insn.to_string().is_empty());
            // Encoding into a short buffer fails cleanly.
            assert_eq!(insn.encode(&mut buf[..n - 1]), None);
        }
    }

    #[test]
    fn push_picks_the_shortest_encoding() {
        assert_eq!(Insn::Push(7).encoded_len(), 2);
        assert_eq!(Insn::Push(u64::MAX).encoded_len(), 5); // -1 as pushi32
        assert_eq!(Insn::Push(0xFFFF_FFFF).encoded_len(), 5);
        assert_eq!(Insn::Push(0x1234_5678_9ABC).encoded_len(), 9);
    }

    #[test]
    fn every_byte_either_decodes_or_is_bad_opcode() {
        let mut known = 0;
        for op in 0..=255u8 {
            // Two operand patterns so that every opcode has valid operands in one of them
            // (8 is a valid extension width and register, 2 a valid argument index; the
            // string bound in bytes 3..5 is 8).
            let try_with = |a: u8| {
                let buf = [op, a, 0, 8, 0, 0, 0, 0, 0];
                decode_insn(&buf, 0).map(|(insn, n)| (insn, buf, n))
            };
            match try_with(8).or_else(|_| try_with(2)) {
                Ok((insn, buf, n)) => {
                    known += 1;
                    let mut re = [0u8; 16];
                    let m = insn.encode(&mut re).unwrap();
                    // PUSH encodings may be re-chosen; everything else re-encodes identically.
                    if !matches!(insn, Insn::Push(_)) {
                        assert_eq!(&re[..m], &buf[..n], "opcode {op:#x}");
                    }
                }
                Err(InsnError::BadOpcode(b)) => assert_eq!(b, op),
                Err(e) => panic!("opcode {op:#x}: {e:?}"),
            }
        }
        assert_eq!(known, 4 + 6 + 7 + 23 + 5 + 5 + 3 + 8 + 3);
        assert_eq!(decode_insn(&[0], 0), Err(InsnError::BadOpcode(0)));
    }

    #[test]
    fn operand_checks() {
        assert_eq!(decode_insn(&[opcode::ARG, 6], 0), Err(InsnError::BadArgIndex(6)));
        assert_eq!(decode_insn(&[opcode::REG, Reg::COUNT], 0), Err(InsnError::BadRegister(Reg::COUNT)));
        assert_eq!(decode_insn(&[opcode::SEXT, 64], 0), Err(InsnError::BadExtendWidth(64)));
        assert_eq!(decode_insn(&[opcode::ZEXT, 0], 0), Err(InsnError::BadExtendWidth(0)));
        assert_eq!(decode_insn(&[opcode::STRLEN, 0, 0], 0), Err(InsnError::BadStrlenBound(0)));
        let over = (MAX_STRLEN + 1).to_le_bytes();
        assert_eq!(decode_insn(&[opcode::STRLEN, over[0], over[1]], 0), Err(InsnError::BadStrlenBound(MAX_STRLEN + 1)));
        for op in [opcode::STR_CONTAINS, opcode::STR_SUFFIX, opcode::STR_CLASS] {
            assert_eq!(decode_insn(&[op, 1, 0, 0, 0], 0), Err(InsnError::BadStrlenBound(0)));
            assert_eq!(decode_insn(&[op, 1, 0, over[0], over[1]], 0), Err(InsnError::BadStrlenBound(MAX_STRLEN + 1)));
            assert_eq!(decode_insn(&[op, 1, 0, 0xFF, 0xFF], 0), Err(InsnError::BadStrlenBound(u16::MAX)));
            assert!(decode_insn(&[op, 0xFF, 0xFF, 0x00, 0x10], 0).is_ok());
        }
        assert_eq!(decode_insn(&[], 0), Err(InsnError::Truncated));
        assert_eq!(decode_insn(&[opcode::NR], usize::MAX), Err(InsnError::Truncated));
    }

    #[test]
    fn binop_semantics() {
        use BinOp::*;
        assert_eq!(Add.apply(u64::MAX, 2), Some(1));
        assert_eq!(Sub.apply(0, 1), Some(u64::MAX));
        assert_eq!(Mul.apply(1 << 63, 2), Some(0));
        assert_eq!(DivU.apply(7, 0), None);
        assert_eq!(RemU.apply(7, 0), None);
        assert_eq!(DivS.apply(7, 0), None);
        assert_eq!(RemS.apply(7, 0), None);
        assert_eq!(DivU.apply(7, 2), Some(3));
        assert_eq!(RemU.apply(7, 2), Some(1));
        assert_eq!(DivS.apply((-7i64) as u64, 2), Some((-3i64) as u64));
        assert_eq!(RemS.apply((-7i64) as u64, 2), Some((-1i64) as u64));
        assert_eq!(DivS.apply(i64::MIN as u64, u64::MAX), Some(i64::MIN as u64));
        assert_eq!(RemS.apply(i64::MIN as u64, u64::MAX), Some(0));
        assert_eq!(Shl.apply(1, 64), Some(1));
        assert_eq!(Shl.apply(1, 63), Some(1 << 63));
        assert_eq!(Shr.apply(1 << 63, 127), Some(1));
        assert_eq!(Sar.apply(1 << 63, 63), Some(u64::MAX));
        assert_eq!(And.apply(0b1100, 0b1010), Some(0b1000));
        assert_eq!(Or.apply(0b1100, 0b1010), Some(0b1110));
        assert_eq!(Xor.apply(0b1100, 0b1010), Some(0b0110));
        assert_eq!(Eq.apply(3, 3), Some(1));
        assert_eq!(Ne.apply(3, 3), Some(0));
        assert_eq!(LtU.apply(1, u64::MAX), Some(1));
        assert_eq!(LtS.apply(1, u64::MAX), Some(0));
        assert_eq!(LeU.apply(2, 2), Some(1));
        assert_eq!(LeS.apply(u64::MAX, 0), Some(1));
        assert_eq!(GtU.apply(u64::MAX, 1), Some(1));
        assert_eq!(GtS.apply(u64::MAX, 1), Some(0));
        assert_eq!(GeU.apply(2, 3), Some(0));
        assert_eq!(GeS.apply(0, u64::MAX), Some(1));
        for (i, op) in BinOp::ALL.iter().enumerate() {
            assert_eq!(*op as usize, i);
            assert_eq!(BinOp::from_u8(i as u8), Some(*op));
        }
        assert_eq!(BinOp::from_u8(BinOp::COUNT), None);
    }

    #[test]
    fn width_extensions() {
        assert_eq!(Width::W8.sext(0x80), 0xFFFF_FFFF_FFFF_FF80);
        assert_eq!(Width::W16.sext(0x1_7FFF), 0x7FFF);
        assert_eq!(Width::W32.sext(0x8000_0000), 0xFFFF_FFFF_8000_0000);
        assert_eq!(Width::W32.zext(u64::MAX), 0xFFFF_FFFF);
        assert_eq!(Width::W64.sext(5), 5);
        assert_eq!(Width::from_ext_bits(16), Some(Width::W16));
    }

    #[test]
    fn disassembler_walks_and_stops_at_errors() {
        let code = [opcode::ARG, 2, opcode::PUSH8, 10, opcode::BIN_FIRST + BinOp::LeU as u8, 0xEE, opcode::NR];
        let v: std::vec::Vec<_> = Disassembler::new(&code).collect();
        assert_eq!(v.len(), 4);
        assert_eq!(v[0], Ok((0, Insn::Arg(2))));
        assert_eq!(v[1], Ok((2, Insn::Push(10))));
        assert_eq!(v[2], Ok((4, Insn::Bin(BinOp::LeU))));
        assert_eq!(v[3], Err((5, InsnError::BadOpcode(0xEE))));
        assert_eq!(Insn::Load { width: Width::W32, signed: true }.to_string(), "ld32s");
        assert_eq!(Insn::Load { width: Width::W64, signed: false }.to_string(), "ld64");
    }
}
