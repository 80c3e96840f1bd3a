//! Encoder (static-tool side, still `no_std` and allocation-free): an assembler for invariant
//! code ([`CodeWriter`]) and a builder that lays a whole policy out into a caller's buffer
//! ([`PolicyBuilder`]).
//!
//! The builder sorts rules and transitions itself (stable, so rules with the same key keep
//! the caller's order), computes each invariant's stack depth with the verifier, and finally
//! runs the full decoder over its own output: it never returns a blob that
//! [`super::Policy::decode`] would reject.

use core::mem::offset_of;

use super::consts::ConstPool;
use super::error::PolicyError;
use super::format::*;
use super::op::{BinOp, ConstId, Insn, Width};
use super::verify::verify_code;
use super::Policy;
use crate::regs::Reg;
use crate::syscall::Abi;
use crate::wire::{self, Le};

// ---------------------------------------------------------------------------------------------
// Assembler
// ---------------------------------------------------------------------------------------------

/// Most labels one [`CodeWriter`] hands out.
pub const MAX_LABELS: usize = 32;
/// Most unresolved jumps one [`CodeWriter`] tracks at a time.
pub const MAX_FIXUPS: usize = 64;

/// A forward jump target handed out by [`CodeWriter::label`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(u8);

/// Why assembling failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsmError {
    /// The output buffer is full.
    BufferFull,
    /// Code longer than 65535 bytes (the invariant table stores a u16 length).
    CodeTooLong,
    /// More than [`MAX_LABELS`] labels.
    TooManyLabels,
    /// More than [`MAX_FIXUPS`] unresolved jumps.
    TooManyFixups,
    /// A label from another writer.
    UnknownLabel,
    /// A label bound twice.
    LabelBoundTwice,
    /// A jump to an already bound label (jumps only go forward).
    BackwardJump,
    /// A jump to a label that was never bound.
    UnboundLabel,
}

#[derive(Clone, Copy, Default)]
struct Fixup {
    operand_at: u16,
    next_pc: u16,
    label: u8,
}

/// Writes invariant code into a caller's buffer. Errors are sticky: the first one is kept,
/// later calls do nothing, and [`CodeWriter::finish`] reports it — so code reads as a
/// straight sequence of calls.
///
/// `a && b`: `let l = w.label(); a…; w.and_then(l); b…; w.bind(l);`
pub struct CodeWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
    labels: [Option<u16>; MAX_LABELS],
    nlabels: u8,
    fixups: [Fixup; MAX_FIXUPS],
    nfixups: usize,
    error: Option<AsmError>,
}

impl<'b> CodeWriter<'b> {
    /// A writer appending to `buf` from its start.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self {
            buf,
            len: 0,
            labels: [None; MAX_LABELS],
            nlabels: 0,
            fixups: [Fixup::default(); MAX_FIXUPS],
            nfixups: 0,
            error: None,
        }
    }

    fn fail(&mut self, e: AsmError) -> &mut Self {
        if self.error.is_none() {
            self.error = Some(e);
        }
        self
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends one instruction (jumps with a raw offset; prefer the label methods).
    pub fn emit(&mut self, insn: Insn) -> &mut Self {
        if self.error.is_some() {
            return self;
        }
        let Some(rest) = self.buf.get_mut(self.len..) else {
            return self.fail(AsmError::BufferFull);
        };
        match insn.encode(rest) {
            Some(n) if self.len + n <= usize::from(u16::MAX) => {
                self.len += n;
                self
            }
            Some(_) => self.fail(AsmError::CodeTooLong),
            None => self.fail(AsmError::BufferFull),
        }
    }

    /// A new, unbound label.
    pub fn label(&mut self) -> Label {
        let l = Label(self.nlabels);
        if usize::from(self.nlabels) >= MAX_LABELS {
            self.fail(AsmError::TooManyLabels);
        } else {
            self.nlabels += 1;
        }
        l
    }

    /// Binds `l` to the current position and patches every jump to it.
    pub fn bind(&mut self, l: Label) -> &mut Self {
        if self.error.is_some() {
            return self;
        }
        match self.labels.get_mut(usize::from(l.0)) {
            None => return self.fail(AsmError::UnknownLabel),
            Some(Some(_)) => return self.fail(AsmError::LabelBoundTwice),
            Some(slot) if l.0 < self.nlabels => *slot = Some(self.len as u16),
            Some(_) => return self.fail(AsmError::UnknownLabel),
        }
        let here = self.len as u16;
        let mut i = 0;
        while i < self.nfixups {
            let f = self.fixups.get(i).copied().unwrap_or_default();
            if f.label == l.0 {
                let off = (here - f.next_pc).to_le_bytes();
                let at = usize::from(f.operand_at);
                match self.buf.get_mut(at..at + 2) {
                    Some(dst) => dst.copy_from_slice(&off),
                    None => return self.fail(AsmError::BufferFull),
                }
                self.nfixups -= 1;
                let last = self.fixups.get(self.nfixups).copied().unwrap_or_default();
                if let Some(slot) = self.fixups.get_mut(i) {
                    *slot = last;
                }
            } else {
                i += 1;
            }
        }
        self
    }

    fn jump(&mut self, make: fn(u16) -> Insn, l: Label) -> &mut Self {
        if self.error.is_some() {
            return self;
        }
        match self.labels.get(usize::from(l.0)) {
            Some(None) if l.0 < self.nlabels => {}
            Some(Some(_)) => return self.fail(AsmError::BackwardJump),
            _ => return self.fail(AsmError::UnknownLabel),
        }
        if self.nfixups >= MAX_FIXUPS {
            return self.fail(AsmError::TooManyFixups);
        }
        let at = self.len;
        self.emit(make(0));
        if self.error.is_some() {
            return self;
        }
        if let Some(slot) = self.fixups.get_mut(self.nfixups) {
            *slot = Fixup { operand_at: (at + 1) as u16, next_pc: self.len as u16, label: l.0 };
            self.nfixups += 1;
        }
        self
    }

    /// `&&`: if the top is zero jump to `l` keeping it, else pop it.
    pub fn and_then(&mut self, l: Label) -> &mut Self {
        self.jump(Insn::AndThen, l)
    }
    /// `||`: if the top is non-zero jump to `l` keeping it, else pop it.
    pub fn or_else(&mut self, l: Label) -> &mut Self {
        self.jump(Insn::OrElse, l)
    }
    /// Pop; jump to `l` if zero.
    pub fn jz(&mut self, l: Label) -> &mut Self {
        self.jump(Insn::Jz, l)
    }
    /// Pop; jump to `l` if non-zero.
    pub fn jnz(&mut self, l: Label) -> &mut Self {
        self.jump(Insn::Jnz, l)
    }
    /// Jump to `l`.
    pub fn jmp(&mut self, l: Label) -> &mut Self {
        self.jump(Insn::Jmp, l)
    }

    /// Push an immediate.
    pub fn push(&mut self, v: u64) -> &mut Self {
        self.emit(Insn::Push(v))
    }
    /// Push the syscall number.
    pub fn nr(&mut self) -> &mut Self {
        self.emit(Insn::Nr)
    }
    /// Push argument `i`.
    pub fn arg(&mut self, i: u8) -> &mut Self {
        self.emit(Insn::Arg(i))
    }
    /// Push a register.
    pub fn reg(&mut self, r: Reg) -> &mut Self {
        self.emit(Insn::Reg(r))
    }
    /// Push the user RIP.
    pub fn rip(&mut self) -> &mut Self {
        self.emit(Insn::Rip)
    }
    /// Load from P's memory at the popped address.
    pub fn load(&mut self, width: Width, signed: bool) -> &mut Self {
        self.emit(Insn::Load { width, signed })
    }
    /// Binary operator.
    pub fn bin(&mut self, op: BinOp) -> &mut Self {
        self.emit(Insn::Bin(op))
    }
    /// Logical not.
    pub fn lnot(&mut self) -> &mut Self {
        self.emit(Insn::LNot)
    }
    /// C string at the popped address equals constant `c`.
    pub fn str_eq(&mut self, c: ConstId) -> &mut Self {
        self.emit(Insn::StrEq(c))
    }
    /// C string at the popped address starts with constant `c`.
    pub fn str_prefix(&mut self, c: ConstId) -> &mut Self {
        self.emit(Insn::StrPrefix(c))
    }
    /// Bytes at the popped address equal constant `c`.
    pub fn bytes_eq(&mut self, c: ConstId) -> &mut Self {
        self.emit(Insn::BytesEq(c))
    }
    /// Length of the C string at the popped address (bounded).
    pub fn strlen(&mut self, max: u16) -> &mut Self {
        self.emit(Insn::Strlen(max))
    }
    /// C string at the popped address (at most `max` bytes scanned) contains constant `c`.
    pub fn str_contains(&mut self, c: ConstId, max: u16) -> &mut Self {
        self.emit(Insn::StrContains(c, max))
    }
    /// C string at the popped address (at most `max` bytes scanned) ends with constant `c`.
    pub fn str_suffix(&mut self, c: ConstId, max: u16) -> &mut Self {
        self.emit(Insn::StrSuffix(c, max))
    }
    /// C string at the popped address is at most `max` bytes, all in byte class `c`.
    pub fn str_class(&mut self, c: ConstId, max: u16) -> &mut Self {
        self.emit(Insn::StrClass(c, max))
    }
    /// Popped value is in set `c`.
    pub fn in_set(&mut self, c: ConstId) -> &mut Self {
        self.emit(Insn::InSet(c))
    }
    /// Record the top for the alert.
    pub fn note(&mut self) -> &mut Self {
        self.emit(Insn::Note)
    }
    /// This call is not allowed.
    pub fn deny(&mut self) -> &mut Self {
        self.emit(Insn::Deny)
    }
    /// Only from the call sites in set `c`.
    pub fn require_site(&mut self, c: ConstId) -> &mut Self {
        self.emit(Insn::RequireSite(c))
    }

    /// Finishes: the code length, or the first error (including jumps to unbound labels).
    pub fn finish(self) -> Result<usize, AsmError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.nfixups != 0 {
            return Err(AsmError::UnboundLabel);
        }
        Ok(self.len)
    }
}

// ---------------------------------------------------------------------------------------------
// Policy builder
// ---------------------------------------------------------------------------------------------

/// A rule as the static tool states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleSpec {
    /// ABI of the call.
    pub abi: Abi,
    /// Call number within the ABI.
    pub nr: u32,
    /// Only for calls returning to this user RIP.
    pub site: Option<u64>,
    /// What to do.
    pub action: super::RuleAction,
}

/// An invariant: its id, name (may be empty) and code (from a [`CodeWriter`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvariantSpec<'s> {
    /// Stable id, reported in alerts.
    pub id: u32,
    /// Name for alerts; empty for none.
    pub name: &'s str,
    /// Bytecode.
    pub code: &'s [u8],
}

/// A constant; its index in the builder's slice is its [`ConstId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConstSpec<'s> {
    /// A byte string.
    Bytes(&'s [u8]),
    /// A set; must be strictly ascending.
    Set(&'s [u64]),
    /// A byte class (bitmap, [`super::class_bitmap`]).
    Class(&'s [u8; CLASS_LEN]),
}

/// One automaton transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransitionSpec {
    /// Source state.
    pub from: u32,
    /// ABI of the call.
    pub abi: Abi,
    /// Call number.
    pub nr: u32,
    /// Target state.
    pub to: u32,
}

/// The legal-trace automaton.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutomatonSpec<'s> {
    /// Number of states.
    pub states: u32,
    /// Initial state.
    pub initial: u32,
    /// Transitions, any order.
    pub transitions: &'s [TransitionSpec],
}

/// P's identity ([`super::Identity`]): its GNU build-id and where the build-id note's
/// descriptor sits in P's image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdentitySpec<'s> {
    /// The build-id bytes, 1 to [`MAX_BUILD_ID_LEN`].
    pub build_id: &'s [u8],
    /// Virtual address of the note's descriptor (the build-id bytes).
    pub note_vaddr: u64,
    /// `note_vaddr` (and the policy's sites and variable addresses) are relative to the load
    /// base (PIE) rather than absolute.
    pub relative: bool,
    /// P's entry point as linked (`e_entry`), for a relative identity; 0 for an absolute one.
    pub entry: u64,
}

/// Why encoding failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer is too small; `needed` bytes would do.
    BufferTooSmall {
        /// Size of the encoded policy.
        needed: usize,
    },
    /// A count, length or offset does not fit its field.
    TooLarge,
    /// The content is invalid; the same error [`super::Policy::decode`] would give.
    Invalid(PolicyError),
    /// Assembling invariant code failed (for callers that assemble and encode in one go).
    Asm(AsmError),
}

impl From<AsmError> for EncodeError {
    fn from(e: AsmError) -> Self {
        EncodeError::Asm(e)
    }
}

impl From<PolicyError> for EncodeError {
    fn from(e: PolicyError) -> Self {
        EncodeError::Invalid(e)
    }
}

/// Everything a policy contains; [`PolicyBuilder::encode`] writes it out.
#[derive(Clone, Copy, Debug)]
pub struct PolicyBuilder<'s> {
    /// Policy id for alerts.
    pub policy_id: u32,
    /// Action for calls no rule matches.
    pub default_action: DefaultAction,
    /// Header flags (`POLICY_*`).
    pub flags: u32,
    /// Rules, any order (sorted stably by the encoder).
    pub rules: &'s [RuleSpec],
    /// Invariants; rule actions refer to their indexes.
    pub invariants: &'s [InvariantSpec<'s>],
    /// Constants; instructions refer to their indexes.
    pub constants: &'s [ConstSpec<'s>],
    /// Optional legal-trace automaton.
    pub automaton: Option<AutomatonSpec<'s>>,
    /// Optional guest-kernel profile bytes, carried opaquely.
    pub kernel_profile: Option<&'s [u8]>,
    /// Optional identity of P (format 1.1; the blob's minor is 1 with it, 0 without).
    pub identity: Option<IdentitySpec<'s>>,
}

/// Where each section goes.
#[derive(Clone, Copy, Default)]
struct Plan {
    total: usize,
    dir_count: usize,
    rules: usize,
    invariants: usize,
    bytecode: (usize, usize),
    consts: Option<(usize, usize)>,
    automaton: Option<(usize, usize)>,
    strings: Option<(usize, usize)>,
    profile: Option<(usize, usize)>,
    identity: Option<(usize, usize)>,
}

const fn align8(v: usize) -> usize {
    (v + 7) & !7
}

fn u32_of(v: usize) -> Result<u32, EncodeError> {
    u32::try_from(v).map_err(|_| EncodeError::TooLarge)
}

fn write<T: Le>(out: &mut [u8], v: T, at: usize) -> Result<(), EncodeError> {
    wire::write(out, at, v).ok_or(EncodeError::TooLarge)
}

/// The count header of a table section.
fn table_header(count: usize) -> Result<RawTableHeader, EncodeError> {
    Ok(RawTableHeader { count: u32_of(count)?, reserved: 0 })
}

fn put(out: &mut [u8], at: usize, data: &[u8]) -> Result<(), EncodeError> {
    let end = at.checked_add(data.len()).ok_or(EncodeError::TooLarge)?;
    out.get_mut(at..end).ok_or(EncodeError::TooLarge)?.copy_from_slice(data);
    Ok(())
}

impl<'s> PolicyBuilder<'s> {
    /// An empty policy: no rules, so `default_action` decides everything.
    pub const fn new(policy_id: u32, default_action: DefaultAction) -> Self {
        Self {
            policy_id,
            default_action,
            flags: 0,
            rules: &[],
            invariants: &[],
            constants: &[],
            automaton: None,
            kernel_profile: None,
            identity: None,
        }
    }

    fn plan(&self) -> Result<Plan, EncodeError> {
        let mut p = Plan::default();
        let mut sections = 3; // rules, invariants, bytecode
        let code_len =
            self.invariants.iter().try_fold(0usize, |a, i| a.checked_add(i.code.len())).ok_or(EncodeError::TooLarge)?;
        let names_len =
            self.invariants.iter().try_fold(0usize, |a, i| a.checked_add(i.name.len())).ok_or(EncodeError::TooLarge)?;
        let consts_len = if self.constants.is_empty() {
            None
        } else {
            let mut cur = TABLE_HEADER_LEN + self.constants.len() * CONST_ENTRY_LEN;
            for c in self.constants {
                cur = match c {
                    ConstSpec::Bytes(b) => cur.checked_add(b.len()),
                    ConstSpec::Set(s) => align8(cur).checked_add(s.len().checked_mul(8).ok_or(EncodeError::TooLarge)?),
                    ConstSpec::Class(_) => cur.checked_add(CLASS_LEN),
                }
                .ok_or(EncodeError::TooLarge)?;
            }
            Some(cur)
        };
        sections += usize::from(consts_len.is_some())
            + usize::from(self.automaton.is_some())
            + usize::from(names_len > 0)
            + usize::from(self.kernel_profile.is_some())
            + usize::from(self.identity.is_some());
        p.dir_count = sections;
        let mut cur = align8(HEADER_LEN + sections * DIR_ENTRY_LEN);
        let mut place = |len: usize| -> Result<(usize, usize), EncodeError> {
            let at = cur;
            cur = align8(at.checked_add(len).ok_or(EncodeError::TooLarge)?);
            Ok((at, len))
        };
        p.rules = place(TABLE_HEADER_LEN + self.rules.len().checked_mul(RULE_LEN).ok_or(EncodeError::TooLarge)?)?.0;
        p.invariants =
            place(TABLE_HEADER_LEN + self.invariants.len().checked_mul(INVARIANT_LEN).ok_or(EncodeError::TooLarge)?)?.0;
        p.bytecode = place(code_len)?;
        if let Some(l) = consts_len {
            p.consts = Some(place(l)?);
        }
        if let Some(a) = &self.automaton {
            p.automaton = Some(place(
                AUTOMATON_HEADER_LEN + a.transitions.len().checked_mul(TRANSITION_LEN).ok_or(EncodeError::TooLarge)?,
            )?);
        }
        if names_len > 0 {
            p.strings = Some(place(names_len)?);
        }
        if let Some(k) = self.kernel_profile {
            p.profile = Some(place(k.len())?);
        }
        if let Some(id) = &self.identity {
            p.identity = Some(place(IDENTITY_HEADER_LEN.checked_add(id.build_id.len()).ok_or(EncodeError::TooLarge)?)?);
        }
        p.total = cur;
        u32_of(p.total)?;
        Ok(p)
    }

    /// Size of the encoded policy.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        Ok(self.plan()?.total)
    }

    /// Encodes into `out`; returns the blob's length. The result always passes
    /// [`super::Policy::decode`]; invalid content is reported as [`EncodeError::Invalid`]
    /// with the decoder's precise error.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let p = self.plan()?;
        let out = out.get_mut(..p.total).ok_or(EncodeError::BufferTooSmall { needed: p.total })?;
        out.fill(0);
        let inv_count =
            u16::try_from(self.invariants.len()).ok().filter(|&n| n != NO_INVARIANT).ok_or(EncodeError::TooLarge)?;
        if self.constants.len() > usize::from(u16::MAX) {
            return Err(EncodeError::TooLarge);
        }

        // Header (checksum last) and directory.
        let header = RawHeader {
            magic: MAGIC,
            major: FORMAT_MAJOR,
            minor: if self.identity.is_some() { FORMAT_MINOR } else { FORMAT_MINOR_WITHOUT_IDENTITY },
            total_len: u32_of(p.total)?,
            crc: 0,
            policy_id: self.policy_id,
            flags: self.flags,
            default_action: self.default_action as u8,
            section_count: p.dir_count as u8,
            reserved0: 0,
            reserved1: 0,
        };
        write(out, header, 0)?;
        let rules_len = TABLE_HEADER_LEN + self.rules.len() * RULE_LEN;
        let inv_len = TABLE_HEADER_LEN + self.invariants.len() * INVARIANT_LEN;
        let mut dir = [(0u16, 0u16, 0usize, 0usize); SectionKind::COUNT];
        let mut n = 0;
        let mut add = |kind: SectionKind, required: bool, (at, len): (usize, usize)| {
            if let Some(slot) = dir.get_mut(n) {
                *slot = (kind as u16, if required { SECTION_REQUIRED } else { 0 }, at, len);
                n += 1;
            }
        };
        add(SectionKind::Rules, true, (p.rules, rules_len));
        add(SectionKind::Invariants, true, (p.invariants, inv_len));
        add(SectionKind::Bytecode, true, p.bytecode);
        if let Some(s) = p.consts {
            add(SectionKind::Constants, true, s);
        }
        if let Some(s) = p.automaton {
            add(SectionKind::Automaton, true, s);
        }
        if let Some(s) = p.strings {
            add(SectionKind::Strings, false, s);
        }
        if let Some(s) = p.profile {
            add(SectionKind::KernelProfile, false, s);
        }
        // Optional: a 1.0 decoder skips it (and identifies P by name, as 1.0 did).
        if let Some(s) = p.identity {
            add(SectionKind::Identity, false, s);
        }
        for (i, &(kind, flags, at, len)) in dir.iter().take(n).enumerate() {
            let e = RawSection { kind, flags, offset: u32_of(at)?, len: u32_of(len)? };
            write(out, e, HEADER_LEN + i * DIR_ENTRY_LEN)?;
        }

        // Rules, placed directly at their stable-sorted position.
        write(out, table_header(self.rules.len())?, p.rules)?;
        for (i, r) in self.rules.iter().enumerate() {
            let raw = raw_rule(r);
            let pos = self.rules.iter().enumerate().filter(|&(j, o)| (raw_rule(o).key(), j) < (raw.key(), i)).count();
            write(out, raw, p.rules + TABLE_HEADER_LEN + pos * RULE_LEN)?;
        }

        // Invariants, their code and names. The declared depth starts at the maximum and is
        // lowered to the computed one below, once the constants are in place.
        write(out, table_header(usize::from(inv_count))?, p.invariants)?;
        let (mut code_at, mut name_at) = (0usize, 0usize);
        for (i, inv) in self.invariants.iter().enumerate() {
            let code_len = u16::try_from(inv.code.len()).map_err(|_| EncodeError::TooLarge)?;
            let name_len = u16::try_from(inv.name.len()).map_err(|_| EncodeError::TooLarge)?;
            let raw = RawInvariant {
                id: inv.id,
                code_offset: u32_of(code_at)?,
                code_len,
                max_stack: super::op::MAX_STACK as u8,
                flags: 0,
                name_offset: if name_len == 0 { 0 } else { u32_of(name_at)? },
                name_len,
                reserved: 0,
            };
            write(out, raw, p.invariants + TABLE_HEADER_LEN + i * INVARIANT_LEN)?;
            put(out, p.bytecode.0 + code_at, inv.code)?;
            code_at += inv.code.len();
            if let Some((at, _)) = p.strings {
                put(out, at + name_at, inv.name.as_bytes())?;
                name_at += inv.name.len();
            }
        }

        // Constants: records, then data (sets 8-aligned within the 8-aligned section).
        if let Some((at, _)) = p.consts {
            write(out, table_header(self.constants.len())?, at)?;
            let mut cur = TABLE_HEADER_LEN + self.constants.len() * CONST_ENTRY_LEN;
            for (i, c) in self.constants.iter().enumerate() {
                let (kind, off, len) = match c {
                    ConstSpec::Bytes(b) => {
                        put(out, at + cur, b)?;
                        let r = (CONST_BYTES, cur, b.len());
                        cur += b.len();
                        r
                    }
                    ConstSpec::Set(s) => {
                        cur = align8(cur);
                        let start = cur;
                        for v in s.iter() {
                            write(out, *v, at + cur)?;
                            cur += 8;
                        }
                        (CONST_SET, start, s.len())
                    }
                    ConstSpec::Class(bits) => {
                        put(out, at + cur, &bits[..])?;
                        let r = (CONST_CLASS, cur, CLASS_LEN);
                        cur += CLASS_LEN;
                        r
                    }
                };
                let rec = RawConst { kind, reserved: [0; 3], offset: u32_of(off)?, len: u32_of(len)? };
                write(out, rec, at + TABLE_HEADER_LEN + i * CONST_ENTRY_LEN)?;
            }
        }

        // Automaton, transitions at their sorted position.
        if let (Some(a), Some((at, _))) = (&self.automaton, p.automaton) {
            let hdr = RawAutomaton {
                states: a.states,
                initial: a.initial,
                transitions: u32_of(a.transitions.len())?,
                reserved: 0,
            };
            write(out, hdr, at)?;
            for (i, t) in a.transitions.iter().enumerate() {
                let raw = raw_transition(t);
                let pos = a
                    .transitions
                    .iter()
                    .enumerate()
                    .filter(|&(j, o)| (raw_transition(o).key(), j) < (raw.key(), i))
                    .count();
                write(out, raw, at + AUTOMATON_HEADER_LEN + pos * TRANSITION_LEN)?;
            }
        }

        if let (Some(k), Some((at, _))) = (self.kernel_profile, p.profile) {
            put(out, at, k)?;
        }

        // Identity: the record, then the build-id (a length that does not fit the field is
        // written as 0xFFFF, which the decoder below rejects as too long).
        if let (Some(id), Some((at, _))) = (&self.identity, p.identity) {
            let rec = RawIdentity {
                flags: if id.relative { IDENTITY_RELATIVE } else { 0 },
                build_id_len: u16::try_from(id.build_id.len()).unwrap_or(u16::MAX),
                reserved0: 0,
                note_vaddr: id.note_vaddr,
                entry: id.entry,
            };
            write(out, rec, at)?;
            put(out, at + IDENTITY_HEADER_LEN, id.build_id)?;
        }

        // Stack depths: verify each invariant against the constants just written.
        for (i, inv) in self.invariants.iter().enumerate() {
            let depth = {
                let pool = match p.consts {
                    Some((at, len)) => ConstPool::parse(out.get(at..at + len).ok_or(EncodeError::TooLarge)?, at)?,
                    None => ConstPool::EMPTY,
                };
                verify_code(inv.code, &pool, i as u16)?.max_depth
            };
            let at = p.invariants + TABLE_HEADER_LEN + i * INVARIANT_LEN + offset_of!(RawInvariant, max_stack);
            write(out, depth, at)?;
        }

        let crc = super::decode::blob_crc(out);
        write(out, crc, CRC_OFFSET)?;
        Policy::decode(out)?;
        Ok(p.total)
    }
}

fn raw_rule(r: &RuleSpec) -> RawRule {
    let (flags_site, site) = match r.site {
        Some(s) => (RULE_SITE, s),
        None => (0, 0),
    };
    let (flags_allow, invariant) = match r.action {
        super::RuleAction::Allow => (RULE_ALLOW, NO_INVARIANT),
        super::RuleAction::Check(i) => (0, i),
    };
    RawRule { abi: r.abi as u8, flags: flags_site | flags_allow, invariant, nr: r.nr, site }
}

fn raw_transition(t: &TransitionSpec) -> RawTransition {
    RawTransition { from: t.from, abi: t.abi as u8, reserved: [0; 3], nr: t.nr, to: t.to }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::op::opcode as o;

    #[test]
    fn labels_resolve_forward() {
        let mut buf = [0u8; 64];
        let mut w = CodeWriter::new(&mut buf);
        let end = w.label();
        w.arg(0).and_then(end).arg(1).push(3).bin(BinOp::LtU).bind(end);
        let n = w.finish().unwrap();
        assert_eq!(&buf[..n], &[o::ARG, 0, o::AND_THEN, 5, 0, o::ARG, 1, o::PUSH8, 3, o::BIN_FIRST + BinOp::LtU as u8]);
    }

    #[test]
    fn one_label_many_jumps() {
        let mut buf = [0u8; 64];
        let mut w = CodeWriter::new(&mut buf);
        let end = w.label();
        w.arg(0).or_else(end).arg(1).or_else(end).arg(2).bind(end);
        let n = w.finish().unwrap();
        assert_eq!(&buf[..n], &[o::ARG, 0, o::OR_ELSE, 7, 0, o::ARG, 1, o::OR_ELSE, 2, 0, o::ARG, 2]);
    }

    #[test]
    fn assembler_errors() {
        let mut buf = [0u8; 64];
        let mut w = CodeWriter::new(&mut buf);
        let l = w.label();
        w.bind(l).jmp(l);
        assert_eq!(w.finish(), Err(AsmError::BackwardJump));

        let mut w = CodeWriter::new(&mut buf);
        let l = w.label();
        w.push(1).jz(l);
        assert_eq!(w.finish(), Err(AsmError::UnboundLabel));

        let mut w = CodeWriter::new(&mut buf);
        let l = w.label();
        w.bind(l).bind(l);
        assert_eq!(w.finish(), Err(AsmError::LabelBoundTwice));

        let mut w = CodeWriter::new(&mut buf);
        w.jmp(Label(5));
        assert_eq!(w.finish(), Err(AsmError::UnknownLabel));

        let mut small = [0u8; 4];
        let mut w = CodeWriter::new(&mut small);
        w.push(1).push(0x1234_5678_9abc);
        assert_eq!(w.finish(), Err(AsmError::BufferFull));

        let mut w = CodeWriter::new(&mut buf);
        for _ in 0..=MAX_LABELS {
            w.label();
        }
        assert_eq!(w.finish(), Err(AsmError::TooManyLabels));

        let mut big = std::vec![0u8; 70_000];
        let mut w = CodeWriter::new(&mut big);
        for _ in 0..70_000 {
            w.nr();
        }
        assert_eq!(w.finish(), Err(AsmError::CodeTooLong));

        let mut w = CodeWriter::new(&mut big);
        let l = w.label();
        for _ in 0..=MAX_FIXUPS {
            w.push(1).jnz(l);
        }
        assert_eq!(w.finish(), Err(AsmError::TooManyFixups));
    }

    #[test]
    fn empty_policy_round_trips() {
        let mut out = [0u8; 256];
        let b = PolicyBuilder::new(42, DefaultAction::Deny);
        let n = b.encode(&mut out).unwrap();
        assert_eq!(n, b.encoded_len().unwrap());
        let p = Policy::decode(&out[..n]).unwrap();
        assert_eq!(p.policy_id(), 42);
        assert_eq!(p.default_action(), DefaultAction::Deny);
        assert_eq!(p.rule_count(), 0);
        assert_eq!(p.invariant_count(), 0);
        assert!(p.automaton().is_none());
        assert!(p.kernel_profile().is_none());
        assert_eq!(b.encode(&mut out[..n - 1]), Err(EncodeError::BufferTooSmall { needed: n }));
    }
}
