//! Policy binary format (Assertion Checker): what the static tool writes and the kernel
//! module loads. The kernel never parses text; it decodes this format, validates all of it
//! once ([`Policy::decode`]), and from then on evaluates without re-checking.
//!
//! # Binary format, version 1.1
//!
//! All integers are little-endian. Offsets are in bytes.
//!
//! ## Header (32 bytes)
//!
//! At offset 0.
//!
//! | off | size | field | meaning |
//! |----:|----:|---|---|
//! | 0 | 4 | `magic` | `"SGPF"` |
//! | 4 | 2 | `major` | format major version, `1`; any other major is rejected |
//! | 6 | 2 | `minor` | format minor version; minors only add optional sections, any is accepted. The encoder writes the lowest minor whose sections the blob uses: 1 with an identity section, else 0 |
//! | 8 | 4 | `total_len` | length of the whole blob; must equal the bytes given |
//! | 12 | 4 | `crc` | CRC-32 (IEEE, as zlib's `crc32`) of the whole blob with these 4 bytes as zero |
//! | 16 | 4 | `policy_id` | chosen by the static tool, reported in alerts |
//! | 20 | 4 | `flags` | bit 0 `DENY_OTHER_ABIS`: a call through an ABI with no rule at all is a violation; other bits must be 0 |
//! | 24 | 1 | `default_action` | for calls no rule matches: 0 allow, 1 deny |
//! | 25 | 1 | `section_count` | directory entries, ≤ 16 |
//! | 26 | 2 | `reserved0` | 0 |
//! | 28 | 4 | `reserved1` | 0 |
//!
//! ## Section directory entry (12 bytes)
//!
//! The directory follows the header: `section_count` entries at offset 32.
//!
//! | off | size | field | meaning |
//! |----:|----:|---|---|
//! | 0 | 2 | `kind` | section kind (below) |
//! | 2 | 2 | `flags` | bit 0 `REQUIRED` — a decoder that does not know `kind` must reject the blob; unknown optional kinds are skipped |
//! | 4 | 4 | `offset` | from the start of the blob: a multiple of 8, at or after the directory (rounded up to 8) |
//! | 8 | 4 | `len` | length in bytes |
//!
//! Each kind appears at most once, sections never overlap and lie inside the blob; gaps are
//! allowed (the encoder zero-pads to 8). An absent section is the same as an empty one.
//!
//! | kind | section | content |
//! |---:|---|---|
//! | 1 | rules | table header, then count × 16-byte rules |
//! | 2 | invariants | table header (count < 65535), then count × 20-byte invariants |
//! | 3 | bytecode | invariant code, concatenated |
//! | 4 | constants | table header (count ≤ 65535), count × 12-byte records, then data |
//! | 5 | automaton | 16-byte automaton header, then 16-byte transitions |
//! | 6 | strings | invariant names (UTF-8, no control characters) |
//! | 7 | kernel profile | opaque bytes for the guest-kernel profile module ([`Policy::kernel_profile`]) |
//! | 8 | identity (1.1) | 24-byte identity record, then the build-id bytes ([`Policy::identity`]) |
//!
//! Table sections must be exactly as long as their count says.
//!
//! ## Table header (8 bytes)
//!
//! | off | size | field | meaning |
//! |----:|----:|---|---|
//! | 0 | 4 | `count` | number of records that follow |
//! | 4 | 4 | `reserved` | 0 |
//!
//! ## Rule (16 bytes)
//!
//! | off | size | field | meaning |
//! |----:|----:|---|---|
//! | 0 | 1 | `abi` | 0 x86-64, 1 ia32, 2 x32 ([`crate::syscall::Abi`]) |
//! | 1 | 1 | `flags` | bit 0 `SITE` (call-site specific), bit 1 `ALLOW` (allowed without an invariant) |
//! | 2 | 2 | `invariant` | invariant index; `0xFFFF` exactly when `ALLOW` |
//! | 4 | 4 | `nr` | syscall number within the ABI (x32: without the x32 bit) |
//! | 8 | 8 | `site` | user RIP the call returns to (the instruction after `syscall`); 0 unless `SITE` |
//!
//! Rules are sorted by (abi, nr, SITE, site), non-decreasing, so the Assertion Checker finds
//! them by binary search. Several rules may share a key; they must all hold.
//!
//! ## Invariant (20 bytes)
//!
//! | off | size | field | meaning |
//! |----:|----:|---|---|
//! | 0 | 4 | `id` | stable number from the static tool, reported in alerts |
//! | 4 | 4 | `code_offset` | code offset in the bytecode section |
//! | 8 | 2 | `code_len` | code length, ≥ 1 (the code lies inside the bytecode section) |
//! | 10 | 1 | `max_stack` | declared max stack depth, ≤ 32, ≥ the depth the verifier computes |
//! | 11 | 1 | `flags` | reserved, 0 |
//! | 12 | 4 | `name_offset` | name offset in the strings section (0 if unnamed) |
//! | 16 | 2 | `name_len` | name length (0 = unnamed) |
//! | 18 | 2 | `reserved` | 0 |
//!
//! ## Constant record (12 bytes)
//!
//! | off | size | field | meaning |
//! |----:|----:|---|---|
//! | 0 | 1 | `kind` | 1 bytes (≤ 4096 bytes), 2 set of u64, 3 byte class |
//! | 1 | 3 | `reserved` | 0 |
//! | 4 | 4 | `offset` | data offset from the start of the constants section, after the records; sets 8-aligned |
//! | 8 | 4 | `len` | length: bytes for kinds 1 and 3 (a class is exactly 32), elements for kind 2 |
//!
//! Set elements are little-endian u64, strictly ascending (sorted, no duplicates). A byte
//! class is a 256-bit bitmap: byte value `b` is a member when bit `b % 8` of data byte `b / 8`
//! is set. Bit 0 (NUL) is never consulted: a C string ends at its NUL.
//!
//! ## Automaton header (16 bytes)
//!
//! The legal-trace model: this header, then `transitions` transition records.
//!
//! | off | size | field | meaning |
//! |----:|----:|---|---|
//! | 0 | 4 | `states` | number of states, ≥ 1 |
//! | 4 | 4 | `initial` | initial state, < `states` |
//! | 8 | 4 | `transitions` | number of transitions |
//! | 12 | 4 | `reserved` | 0 |
//!
//! ## Transition (16 bytes)
//!
//! | off | size | field | meaning |
//! |----:|----:|---|---|
//! | 0 | 4 | `from` | source state, < `states` |
//! | 4 | 1 | `abi` | as in rules |
//! | 5 | 3 | `reserved` | 0 |
//! | 8 | 4 | `nr` | syscall number within the ABI |
//! | 12 | 4 | `to` | target state, < `states` |
//!
//! Transitions are sorted strictly ascending by (from, abi, nr), which also makes the
//! automaton deterministic.
//!
//! ## Identity (24 bytes)
//!
//! Since 1.1, optional (written without `REQUIRED`, so a 1.0 decoder skips it): which program
//! P is, by its GNU build-id (the `NT_GNU_BUILD_ID` note of P's ELF), and where the note's
//! descriptor — the build-id bytes themselves — sits in P's image, so that a consumer can
//! read those bytes from a process's own memory and compare. The section is this record
//! followed by exactly `build_id_len` bytes of build-id.
//!
//! | off | size | field | meaning |
//! |----:|----:|---|---|
//! | 0 | 4 | `flags` | bit 0 `RELATIVE` — `note_vaddr`, the rules' sites, the call sites in invariants and the addresses of P's variables are relative to the image's load base (a PIE); clear: absolute, as linked; other bits must be 0 |
//! | 4 | 2 | `build_id_len` | build-id length, 1 to 64 |
//! | 6 | 2 | `reserved0` | 0 |
//! | 8 | 8 | `note_vaddr` | virtual address of the note's descriptor (the build-id bytes) in P's image |
//! | 16 | 8 | `entry` | with `RELATIVE`: the entry point as linked (`e_entry`, non-zero), so that load base = the process's `AT_ENTRY` − `entry`; without: 0 |
//!
//! ## Bytecode
//!
//! A stack machine over u64; see [`op`] for the instruction set and [`crate::eval`] for the
//! semantics. One opcode byte, then fixed operands for that opcode. Jumps are unsigned offsets
//! from the end of the jump, so control only moves forward and an invariant executes at most
//! as many instructions as it has bytes. The verifier ([`verify`]) proves per invariant:
//! every opcode and operand valid (argument index < 6, known register, extension width
//! 8/16/32, string bounds 1..=4096); jump targets inside the code and on instruction
//! boundaries; no stack underflow; depth ≤ 32; paths merging with equal depth; no
//! unreachable code; depth exactly 1 wherever the end is reached (non-zero = holds);
//! constant references in range and of the right kind (C-string constants without NUL, at
//! most 256 bytes for `str_contains`/`str_suffix`); worst-case cost ≤ 2^17: one per
//! instruction, one per guest byte read, and the byte comparisons of `str_contains` (bound + 1)
//! × length and `str_suffix` (length).
//!
//! Instructions and constant kinds are added without a version change: a decoder rejects an
//! opcode or constant kind it does not know, so a blob that uses a newer one fails to load on
//! an older module (with `BadOpcode` or `ConstBadKind`) rather than being misread.
//!
//! ## Rule selection (Assertion Checker)
//!
//! For a call (abi, nr, user RIP): if rules with `SITE` and site = RIP exist for (abi, nr),
//! exactly those apply (a site-specific rule overrides the any-site rules); otherwise the
//! any-site rules of (abi, nr) apply; with none, the default action decides. All applicable
//! rules must hold, evaluated in table order; `ALLOW` rules hold without evaluation. See
//! [`crate::checker`].

mod consts;
mod decode;
pub mod encode;
pub mod error;
pub mod format;
pub mod op;
pub mod verify;

#[cfg(any(test, feature = "testing"))]
pub mod examples;

#[cfg(test)]
mod tests;

pub use consts::{class_bitmap, ByteClass, ConstPool, U64Set};
pub use encode::{
    AsmError, AutomatonSpec, CodeWriter, ConstSpec, EncodeError, IdentitySpec, InvariantSpec, Label, PolicyBuilder,
    RuleSpec, TransitionSpec,
};
pub use error::{ConstKind, PolicyError};
pub use format::{DefaultAction, SectionKind};
pub use op::{BinOp, ConstId, Insn, Width};

use crate::syscall::Abi;
use crate::wire::nth;
use format::{abi_from_u8, rule_key, rule_key_at, RawInvariant, RawRule, RawTransition, RULE_ALLOW, RULE_SITE};

/// A byte range of the blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub off: u32,
    pub len: u32,
}

impl Span {
    pub(crate) const EMPTY: Span = Span { off: 0, len: 0 };

    /// The range; saturating so that it can never wrap (an out-of-range span yields no bytes).
    pub(crate) fn range(&self) -> core::ops::Range<usize> {
        let start = self.off as usize;
        start..start.saturating_add(self.len as usize)
    }

    /// The range, `None` if it would overflow.
    pub(crate) fn range_checked(&self) -> Option<core::ops::Range<usize>> {
        let start = self.off as usize;
        Some(start..start.checked_add(self.len as usize)?)
    }

    pub(crate) fn overlaps(&self, o: &Span) -> bool {
        let (a0, a1) = (u64::from(self.off), u64::from(self.off) + u64::from(self.len));
        let (b0, b1) = (u64::from(o.off), u64::from(o.off) + u64::from(o.len));
        self.len > 0 && o.len > 0 && a0 < b1 && b0 < a1
    }
}

/// Where the identity section's parts are (validated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IdentityLayout {
    pub build_id: Span,
    pub note_vaddr: u64,
    pub entry: u64,
    pub flags: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AutomatonLayout {
    pub transitions: Span,
    pub count: u32,
    pub states: u32,
    pub initial: u32,
}

/// Where everything is in a validated blob, without borrowing it. The kernel module keeps
/// this next to the bytes it owns and re-attaches per system call ([`PolicyLayout::attach`])
/// instead of holding a self-referential [`Policy`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PolicyLayout {
    total_len: u32,
    crc: u32,
    policy_id: u32,
    minor: u16,
    flags: u32,
    default_action: DefaultAction,
    rules: Span,
    rule_count: u32,
    invariants: Span,
    invariant_count: u16,
    bytecode: Span,
    consts: Span,
    const_count: u16,
    automaton: Option<AutomatonLayout>,
    strings: Span,
    kernel_profile: Option<Span>,
    identity: Option<IdentityLayout>,
    /// Bit `abi` set if some rule names that ABI.
    abis: u8,
}

/// As `derive(Debug)` would print it, except that `identity` appears only when the policy has
/// one: a policy without identity prints exactly as in format 1.0 (the golden dumps hold
/// that).
impl core::fmt::Debug for PolicyLayout {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut d = f.debug_struct("PolicyLayout");
        d.field("total_len", &self.total_len)
            .field("crc", &self.crc)
            .field("policy_id", &self.policy_id)
            .field("minor", &self.minor)
            .field("flags", &self.flags)
            .field("default_action", &self.default_action)
            .field("rules", &self.rules)
            .field("rule_count", &self.rule_count)
            .field("invariants", &self.invariants)
            .field("invariant_count", &self.invariant_count)
            .field("bytecode", &self.bytecode)
            .field("consts", &self.consts)
            .field("const_count", &self.const_count)
            .field("automaton", &self.automaton)
            .field("strings", &self.strings)
            .field("kernel_profile", &self.kernel_profile);
        if let Some(id) = &self.identity {
            d.field("identity", id);
        }
        d.field("abis", &self.abis).finish()
    }
}

/// P's identity as the policy records it ([`Policy::identity`]): the GNU build-id of P's
/// binary and where its bytes sit in P's image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity<'a> {
    build_id: &'a [u8],
    note_vaddr: u64,
    entry: u64,
    flags: u32,
}

impl<'a> Identity<'a> {
    /// The build-id bytes (1 to [`format::MAX_BUILD_ID_LEN`]).
    pub const fn build_id(&self) -> &'a [u8] {
        self.build_id
    }
    /// Virtual address of the build-id note's descriptor (the build-id bytes) in P's image:
    /// absolute as linked, or relative to the load base if [`Identity::relative`].
    pub const fn note_vaddr(&self) -> u64 {
        self.note_vaddr
    }
    /// True if [`Identity::note_vaddr`] is relative to the image's load base (PIE).
    pub const fn relative(&self) -> bool {
        self.flags & format::IDENTITY_RELATIVE != 0
    }
    /// P's entry point as linked (`e_entry`), for a relative identity (0 otherwise): the load
    /// base of a process running P is its `AT_ENTRY` minus this.
    pub const fn entry(&self) -> u64 {
        self.entry
    }
    /// The load base of an image whose kernel-recorded entry point (`AT_ENTRY`) is
    /// `at_entry`: 0 for an absolute identity; `None` if the difference is not a page-aligned
    /// user address (not P's image, or a hostile vector).
    pub const fn load_base(&self, at_entry: u64) -> Option<u64> {
        if !self.relative() {
            return Some(0);
        }
        match at_entry.checked_sub(self.entry) {
            Some(b) if b & 0xfff == 0 && b < crate::decision::USER_TOP => Some(b),
            _ => None,
        }
    }
}

impl PolicyLayout {
    /// Re-binds the layout to the bytes it was decoded from. Checks length and stored
    /// checksum (O(1)); pairing a layout with different bytes of the same length and checksum
    /// field cannot cause a panic or out-of-bounds access (every read stays checked), only
    /// wrong verdicts — so keep the pair together.
    pub fn attach<'a>(&self, blob: &'a [u8]) -> Option<Policy<'a>> {
        let stored = blob.get(format::CRC_OFFSET..format::CRC_OFFSET + 4)?;
        if blob.len() != self.total_len as usize || stored != self.crc.to_le_bytes() {
            return None;
        }
        Some(Policy { blob, layout: *self })
    }
}

/// A decoded, fully validated policy borrowing its blob.
#[derive(Clone, Copy, Debug)]
pub struct Policy<'a> {
    blob: &'a [u8],
    layout: PolicyLayout,
}

/// What a rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleAction {
    /// Evaluate invariant number `.0`.
    Check(u16),
    /// Allow without evaluating anything.
    Allow,
}

/// One rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// ABI of the system call.
    pub abi: Abi,
    /// System-call number within the ABI.
    pub nr: u32,
    /// Call site (user RIP after the trapping instruction), or any site.
    pub site: Option<u64>,
    /// What to do.
    pub action: RuleAction,
}

/// The rules that apply to one call: indexes `start..end` of the rules table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleMatch {
    /// First applicable rule.
    pub start: u32,
    /// One past the last applicable rule (`start == end`: no rule, default action).
    pub end: u32,
    /// True if these are site-specific rules (they override the any-site ones).
    pub site_specific: bool,
}

impl RuleMatch {
    /// True if no rule applies.
    pub const fn is_empty(&self) -> bool {
        self.start >= self.end
    }
}

/// A validated invariant, ready for [`crate::eval::evaluate`].
#[derive(Clone, Copy, Debug)]
pub struct Invariant<'a> {
    index: u16,
    id: u32,
    name: &'a [u8],
    code: &'a [u8],
    max_stack: u8,
    consts: ConstPool<'a>,
}

impl<'a> Invariant<'a> {
    /// Index in the invariants table.
    pub const fn index(&self) -> u16 {
        self.index
    }
    /// Stable id from the static tool.
    pub const fn id(&self) -> u32 {
        self.id
    }
    /// Name for alerts, if the policy has one.
    pub fn name(&self) -> Option<&'a str> {
        if self.name.is_empty() {
            return None;
        }
        core::str::from_utf8(self.name).ok()
    }
    /// The verified bytecode.
    pub const fn code(&self) -> &'a [u8] {
        self.code
    }
    /// Declared stack depth (≥ what any path needs).
    pub const fn max_stack(&self) -> u8 {
        self.max_stack
    }
    /// The policy's constant pool.
    pub const fn consts(&self) -> &ConstPool<'a> {
        &self.consts
    }
}

/// The legal-trace automaton (the "process self" model): a deterministic automaton over
/// (abi, nr).
#[derive(Clone, Copy, Debug)]
pub struct Automaton<'a> {
    table: &'a [u8],
    count: u32,
    states: u32,
    initial: u32,
}

/// One transition of the automaton.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// Source state.
    pub from: u32,
    /// ABI of the call.
    pub abi: Abi,
    /// Call number.
    pub nr: u32,
    /// Target state.
    pub to: u32,
}

impl<'a> Automaton<'a> {
    /// Number of states.
    pub const fn states(&self) -> u32 {
        self.states
    }
    /// State a process starts in (and returns to after execve).
    pub const fn initial(&self) -> u32 {
        self.initial
    }
    /// Number of transitions.
    pub const fn transition_count(&self) -> u32 {
        self.count
    }
    /// Transition `i` in table order.
    pub fn transition(&self, i: u32) -> Option<Transition> {
        if i >= self.count {
            return None;
        }
        let t: RawTransition = nth(self.table, i as usize)?;
        Some(Transition { from: t.from, abi: abi_from_u8(t.abi)?, nr: t.nr, to: t.to })
    }
    /// The state after `(abi, nr)` from `state`, or `None` if the call is not legal there.
    /// Binary search over the sorted transitions.
    #[inline]
    pub fn next(&self, state: u32, abi: Abi, nr: u32) -> Option<u32> {
        let key = (state, abi as u8, nr);
        let (mut lo, mut hi) = (0u32, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let t: RawTransition = nth(self.table, mid as usize)?;
            match t.key().cmp(&key) {
                core::cmp::Ordering::Less => lo = mid + 1,
                core::cmp::Ordering::Equal => return Some(t.to),
                core::cmp::Ordering::Greater => hi = mid,
            }
        }
        None
    }
}

impl<'a> Policy<'a> {
    /// Decodes and validates a policy blob. Checks, in order: header (magic, version, length,
    /// checksum, reserved fields, flags, default action), the section directory (bounds,
    /// alignment, overlaps, duplicates, unknown required sections), constants, invariants
    /// (ranges, names, and a full verification of each one's bytecode), rules (ABI, flags,
    /// references, order), the automaton (states, ABI, order/determinism) and the identity
    /// (flags, reserved fields, build-id length).
    pub fn decode(blob: &'a [u8]) -> Result<Self, PolicyError> {
        let layout = decode::decode_layout(blob)?;
        Ok(Self { blob, layout })
    }

    /// The layout, to re-attach later without re-validating.
    pub const fn layout(&self) -> PolicyLayout {
        self.layout
    }

    /// The whole blob.
    pub const fn bytes(&self) -> &'a [u8] {
        self.blob
    }

    fn section(&self, s: Span) -> &'a [u8] {
        self.blob.get(s.range()).unwrap_or(&[])
    }

    /// Policy id from the header.
    pub const fn policy_id(&self) -> u32 {
        self.layout.policy_id
    }
    /// Format version (major, minor) of the blob.
    pub const fn version(&self) -> (u16, u16) {
        (format::FORMAT_MAJOR, self.layout.minor)
    }
    /// The stored CRC-32.
    pub const fn checksum(&self) -> u32 {
        self.layout.crc
    }
    /// Header flags (`format::POLICY_*`).
    pub const fn flags(&self) -> u32 {
        self.layout.flags
    }
    /// True if calls through an ABI without any rule are violations.
    pub const fn deny_other_abis(&self) -> bool {
        self.layout.flags & format::POLICY_DENY_OTHER_ABIS != 0
    }
    /// What happens to calls no rule matches.
    pub const fn default_action(&self) -> DefaultAction {
        self.layout.default_action
    }
    /// True if some rule names `abi`.
    pub const fn has_rules_for(&self, abi: Abi) -> bool {
        self.layout.abis & (1 << abi as u8) != 0
    }

    /// Number of rules.
    pub const fn rule_count(&self) -> u32 {
        self.layout.rule_count
    }

    #[inline]
    fn raw_rule(&self, i: u32) -> Option<RawRule> {
        if i >= self.layout.rule_count {
            return None;
        }
        nth(self.section(self.layout.rules), i as usize)
    }

    /// Rule `i` in table order.
    pub fn rule(&self, i: u32) -> Option<Rule> {
        let r = self.raw_rule(i)?;
        Some(Rule {
            abi: abi_from_u8(r.abi)?,
            nr: r.nr,
            site: if r.flags & RULE_SITE != 0 { Some(r.site) } else { None },
            action: if r.flags & RULE_ALLOW != 0 { RuleAction::Allow } else { RuleAction::Check(r.invariant) },
        })
    }

    /// The rules with exactly `key` among `lo..hi`: binary search for the first, then a
    /// scan (bounded by the rule count) to the last.
    #[inline]
    fn run(table: &[u8], mut lo: u32, hi: u32, key: u128) -> (u32, u32) {
        let mut h = hi;
        while lo < h {
            let mid = lo + (h - lo) / 2;
            match rule_key_at(table, mid) {
                Some(k) if k < key => lo = mid + 1,
                _ => h = mid,
            }
        }
        let mut end = lo;
        while end < hi && rule_key_at(table, end) == Some(key) {
            end += 1;
        }
        (lo, end)
    }

    /// The rules that apply to a call (see the module docs): site-specific rules for `rip`
    /// if any, else the any-site rules; empty if none. Two binary searches over the sorted
    /// table, the second only over what follows the any-site rules.
    #[inline]
    pub fn matching_rules(&self, abi: Abi, nr: u32, rip: u64) -> RuleMatch {
        let table = self.section(self.layout.rules);
        let n = self.layout.rule_count;
        let (any_start, any_end) = Self::run(table, 0, n, rule_key(abi as u8, nr, false, 0));
        let (start, end) = Self::run(table, any_end, n, rule_key(abi as u8, nr, true, rip));
        if start < end {
            return RuleMatch { start, end, site_specific: true };
        }
        RuleMatch { start: any_start, end: any_end, site_specific: false }
    }

    /// Number of invariants.
    pub const fn invariant_count(&self) -> u16 {
        self.layout.invariant_count
    }

    /// Invariant `index`, ready for evaluation.
    #[inline]
    pub fn invariant(&self, index: u16) -> Option<Invariant<'a>> {
        if index >= self.layout.invariant_count {
            return None;
        }
        let r: RawInvariant = nth(self.section(self.layout.invariants), usize::from(index))?;
        let code = self
            .section(self.layout.bytecode)
            .get(Span { off: r.code_offset, len: u32::from(r.code_len) }.range_checked()?)?;
        let name = self
            .section(self.layout.strings)
            .get(Span { off: r.name_offset, len: u32::from(r.name_len) }.range_checked()?)
            .unwrap_or(&[]);
        Some(Invariant { index, id: r.id, name, code, max_stack: r.max_stack, consts: self.constants() })
    }

    /// The constant pool.
    pub fn constants(&self) -> ConstPool<'a> {
        ConstPool::from_validated(self.section(self.layout.consts), self.layout.const_count)
    }

    /// The legal-trace automaton, if the policy has one.
    pub fn automaton(&self) -> Option<Automaton<'a>> {
        let a = self.layout.automaton?;
        Some(Automaton { table: self.section(a.transitions), count: a.count, states: a.states, initial: a.initial })
    }

    /// The guest-kernel profile section's bytes, if present (its format belongs to the
    /// profile module).
    pub fn kernel_profile(&self) -> Option<&'a [u8]> {
        self.layout.kernel_profile.map(|s| self.section(s))
    }

    /// P's identity (format 1.1), if the policy records it.
    pub fn identity(&self) -> Option<Identity<'a>> {
        let id = self.layout.identity?;
        Some(Identity { build_id: self.section(id.build_id), note_vaddr: id.note_vaddr, entry: id.entry, flags: id.flags })
    }
}
