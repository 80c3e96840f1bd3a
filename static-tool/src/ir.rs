//! The checked policy: what the type checker produces and the code generator encodes. All
//! names are resolved to numbers, addresses, widths and signedness here.

use crate::diag::Span;
use semguard_core::policy::format::CLASS_LEN;
use semguard_core::policy::op::Width;
use semguard_core::policy::BinOp;
use semguard_core::regs::Reg;
use semguard_core::syscall::Abi;

/// A value computation over the call, the registers and P's memory (64-bit, wrapping).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ir {
    /// A constant.
    Const(u64),
    /// An address in a position-independent P's image: the offset as linked, plus the
    /// process's load base at run time (`image_base`). For other programs addresses are
    /// [`Ir::Const`].
    ImageAddr(u64),
    /// The system-call number.
    Nr,
    /// The ABI (0 x86-64, 1 ia32, 2 x32).
    Abi,
    /// The user RIP the call returns to.
    Rip,
    /// A register of the trapped vCPU.
    Reg(Reg),
    /// Argument `i` (0-based).
    Arg(u8),
    /// A load from P's memory.
    Load {
        /// Address.
        addr: Box<Ir>,
        /// Bytes.
        width: Width,
        /// Sign-extend.
        signed: bool,
    },
    /// A binary operator of the bytecode.
    Bin(BinOp, Box<Ir>, Box<Ir>),
    /// Two's-complement negation.
    Neg(Box<Ir>),
    /// Bitwise not.
    Inv(Box<Ir>),
    /// Logical not (`x == 0`).
    LNot(Box<Ir>),
    /// Truncate to `width` and sign- or zero-extend back to 64 bits.
    Ext {
        /// Sign-extend.
        signed: bool,
        /// Width kept.
        width: Width,
        /// Operand.
        e: Box<Ir>,
    },
    /// Short-circuit and (operands are 0/1).
    And(Box<Ir>, Box<Ir>),
    /// Short-circuit or.
    Or(Box<Ir>, Box<Ir>),
    /// The C string at the address equals the constant.
    StrEq(Box<Ir>, Vec<u8>),
    /// The C string at the address starts with the constant.
    StrPrefix(Box<Ir>, Vec<u8>),
    /// The bytes at the address equal the constant.
    BytesEq(Box<Ir>, Vec<u8>),
    /// Length of the C string at the address, scanning at most the bound.
    Strlen(Box<Ir>, u16),
    /// The C string at the address (scanning at most the bound) contains the constant.
    StrContains(Box<Ir>, Vec<u8>, u16),
    /// The C string at the address (scanning at most the bound) ends with the constant.
    StrSuffix(Box<Ir>, Vec<u8>, u16),
    /// The C string at the address is at most the bound long and all in the byte class
    /// (bitmap).
    StrClass(Box<Ir>, [u8; CLASS_LEN], u16),
    /// The value is in the (sorted, duplicate-free) set.
    InSet(Box<Ir>, Vec<u64>),
}

impl Ir {
    /// The constant value, if this is one.
    pub fn as_const(&self) -> Option<u64> {
        match self {
            Ir::Const(v) => Some(*v),
            _ => None,
        }
    }
}

/// What an invariant does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvBody {
    /// Holds if the expression is non-zero.
    Expr(Ir),
    /// The call is never allowed.
    Deny,
    /// Only from these call sites (sorted, duplicate-free).
    Sites(Vec<u64>),
}

/// One invariant of the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvariantIr {
    /// Stable id reported in alerts.
    pub id: u32,
    /// Name reported in alerts.
    pub name: String,
    /// What it checks.
    pub body: InvBody,
    /// Where it was written (for errors found while encoding).
    pub span: Span,
}

/// What a rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleAct {
    /// Allowed without checks.
    Allow,
    /// Check invariant number `.0` (index into [`PolicyIr::invariants`]).
    Check(usize),
}

/// One rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleIr {
    /// ABI.
    pub abi: Abi,
    /// Call number.
    pub nr: u32,
    /// Call site, if site-specific.
    pub site: Option<u64>,
    /// Action.
    pub act: RuleAct,
}

/// The legal-trace automaton.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutomatonIr {
    /// State names, indexed by state number.
    pub states: Vec<String>,
    /// Initial state.
    pub initial: u32,
    /// (from, abi, nr, to).
    pub transitions: Vec<(u32, Abi, u32, u32)>,
}

/// A checked policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyIr {
    /// Policy id.
    pub id: u32,
    /// Calls no rule matches are violations.
    pub default_deny: bool,
    /// Calls through an ABI without rules are violations.
    pub deny_other_abis: bool,
    /// Invariants.
    pub invariants: Vec<InvariantIr>,
    /// Rules in source order.
    pub rules: Vec<RuleIr>,
    /// Optional automaton.
    pub automaton: Option<AutomatonIr>,
}
