//! Why a policy blob was rejected — precise enough to point at the byte or instruction.
//!
//! Offsets named `offset` are absolute byte offsets in the blob; `at` is the offset of an
//! instruction inside its invariant's code; `rule`, `invariant`, `index`, `transition` are
//! table indexes.

use core::fmt;

use super::format::SectionKind;

/// What kind of constant an instruction needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConstKind {
    /// A byte string.
    Bytes,
    /// A sorted u64 set.
    Set,
    /// A byte class (256-bit bitmap).
    Class,
}

/// Why [`super::Policy::decode`] rejected a blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyError {
    // ---- container ----
    /// Shorter than the fixed header.
    TooShort {
        /// Length of the blob.
        len: usize,
    },
    /// The first four bytes are not `SGPF`.
    BadMagic {
        /// What was there.
        found: [u8; 4],
    },
    /// A format major version this decoder does not understand.
    UnsupportedVersion {
        /// Major version found.
        major: u16,
        /// Minor version found.
        minor: u16,
    },
    /// The header's length field disagrees with the blob's length.
    LengthMismatch {
        /// Length the header declares.
        declared: u32,
        /// Length of the bytes given.
        actual: usize,
    },
    /// CRC-32 over the blob (checksum field zeroed) differs from the stored one.
    ChecksumMismatch {
        /// Stored checksum.
        stored: u32,
        /// Checksum of the bytes.
        computed: u32,
    },
    /// A reserved field is not zero.
    ReservedNonZero {
        /// Absolute offset of the field.
        offset: usize,
    },
    /// Policy flags this version does not define.
    UnknownPolicyFlags {
        /// The flags field.
        flags: u32,
    },
    /// Default action is neither allow (0) nor deny (1).
    BadDefaultAction {
        /// The byte found.
        value: u8,
    },
    /// More directory entries than [`super::format::MAX_SECTIONS`].
    TooManySections {
        /// Count in the header.
        count: u8,
    },
    /// The section directory runs past the end of the blob.
    DirectoryOutOfBounds {
        /// Where the directory (padded to 8) would end.
        end: usize,
    },
    /// A section runs past the end of the blob.
    SectionOutOfBounds {
        /// Section kind number.
        kind: u16,
        /// Its offset.
        offset: u32,
        /// Its length.
        len: u32,
    },
    /// A section does not start at a multiple of 8.
    SectionMisaligned {
        /// Section kind number.
        kind: u16,
        /// Its offset.
        offset: u32,
    },
    /// A section starts inside the header or directory.
    SectionOverlapsHeader {
        /// Section kind number.
        kind: u16,
        /// Its offset.
        offset: u32,
    },
    /// Two sections share bytes.
    SectionOverlap {
        /// One section kind.
        kind: u16,
        /// The other.
        other: u16,
    },
    /// A section kind is listed twice.
    DuplicateSection {
        /// Section kind number.
        kind: u16,
    },
    /// Section flags this version does not define.
    UnknownSectionFlags {
        /// Section kind number.
        kind: u16,
        /// The flags.
        flags: u16,
    },
    /// A section this decoder does not know is marked required.
    UnknownRequiredSection {
        /// Section kind number.
        kind: u16,
    },
    /// A section is shorter than its own header.
    SectionTooShort {
        /// Which section.
        section: SectionKind,
        /// Its length.
        len: u32,
    },
    /// A table section's length does not fit its count.
    TableSizeMismatch {
        /// Which section.
        section: SectionKind,
        /// Entry count declared.
        count: u32,
        /// Section length.
        len: u32,
    },
    /// More entries than indexes can name.
    TooManyEntries {
        /// Which section.
        section: SectionKind,
        /// Entry count declared.
        count: u32,
    },

    // ---- rules ----
    /// A rule names an unknown ABI.
    RuleBadAbi {
        /// Rule index.
        rule: u32,
        /// ABI byte.
        abi: u8,
    },
    /// A rule has flags this version does not define.
    RuleUnknownFlags {
        /// Rule index.
        rule: u32,
        /// Flags byte.
        flags: u8,
    },
    /// A rule without the call-site flag has a non-zero site.
    RuleSiteWithoutFlag {
        /// Rule index.
        rule: u32,
    },
    /// An allow-only rule names an invariant.
    RuleAllowWithInvariant {
        /// Rule index.
        rule: u32,
        /// The invariant index found.
        invariant: u16,
    },
    /// A rule names an invariant that does not exist.
    RuleInvariantOutOfRange {
        /// Rule index.
        rule: u32,
        /// The invariant index found.
        invariant: u16,
    },
    /// Rules are not sorted by (abi, nr, site-specific, site).
    RulesNotSorted {
        /// First rule out of order.
        rule: u32,
    },

    // ---- invariants ----
    /// An invariant's code lies outside the bytecode section.
    CodeOutOfRange {
        /// Invariant index.
        invariant: u16,
        /// Code offset in the bytecode section.
        offset: u32,
        /// Code length.
        len: u16,
    },
    /// An invariant has no code.
    EmptyCode {
        /// Invariant index.
        invariant: u16,
    },
    /// An invariant's name lies outside the string table (or has an offset but no length).
    NameOutOfRange {
        /// Invariant index.
        invariant: u16,
        /// Name offset in the string table.
        offset: u32,
        /// Name length.
        len: u16,
    },
    /// An invariant's name is not printable UTF-8 (it goes into kernel log lines).
    NameNotText {
        /// Invariant index.
        invariant: u16,
    },
    /// Declared stack depth above [`super::op::MAX_STACK`].
    DeclaredStackTooDeep {
        /// Invariant index.
        invariant: u16,
        /// Declared depth.
        declared: u8,
    },
    /// The code needs a deeper stack than declared.
    StackDeeperThanDeclared {
        /// Invariant index.
        invariant: u16,
        /// Declared depth.
        declared: u8,
        /// Depth the verifier computed.
        computed: u8,
    },
    /// Worst-case work (instructions plus guest bytes read) above
    /// [`super::verify::MAX_INVARIANT_COST`].
    InvariantTooCostly {
        /// Invariant index.
        invariant: u16,
        /// Computed cost.
        cost: u32,
    },

    // ---- bytecode ----
    /// Not an opcode.
    BadOpcode {
        /// Invariant index.
        invariant: u16,
        /// Instruction offset.
        at: u16,
        /// The byte.
        opcode: u8,
    },
    /// An instruction's operands run past the end of the invariant's code.
    TruncatedInstruction {
        /// Invariant index.
        invariant: u16,
        /// Instruction offset.
        at: u16,
    },
    /// `arg` index ≥ 6.
    BadArgIndex {
        /// Invariant index.
        invariant: u16,
        /// Instruction offset.
        at: u16,
        /// The index.
        index: u8,
    },
    /// `reg` with an unknown register number.
    BadRegister {
        /// Invariant index.
        invariant: u16,
        /// Instruction offset.
        at: u16,
        /// The register number.
        reg: u8,
    },
    /// `sext`/`zext` width not 8, 16 or 32.
    BadExtendWidth {
        /// Invariant index.
        invariant: u16,
        /// Instruction offset.
        at: u16,
        /// The width.
        bits: u8,
    },
    /// A string bound (`strlen`, `str_contains`, `str_suffix`, `str_class`) of 0 or above
    /// [`super::op::MAX_STRLEN`].
    BadStrlenBound {
        /// Invariant index.
        invariant: u16,
        /// Instruction offset.
        at: u16,
        /// The bound.
        max: u16,
    },
    /// A jump lands past the end of the invariant's code.
    JumpOutOfRange {
        /// Invariant index.
        invariant: u16,
        /// Offset of the jump.
        at: u16,
        /// Target offset.
        target: u32,
    },
    /// A jump lands inside an instruction.
    JumpNotOnBoundary {
        /// Invariant index.
        invariant: u16,
        /// Offset of the jump.
        at: u16,
        /// Target offset.
        target: u32,
    },
    /// An instruction pops more values than the stack holds.
    StackUnderflow {
        /// Invariant index.
        invariant: u16,
        /// Instruction offset.
        at: u16,
    },
    /// An instruction pushes the stack past [`super::op::MAX_STACK`].
    StackOverflow {
        /// Invariant index.
        invariant: u16,
        /// Instruction offset.
        at: u16,
    },
    /// Paths reaching the same instruction disagree on the stack depth.
    StackMismatch {
        /// Invariant index.
        invariant: u16,
        /// Offset where they merge.
        at: u16,
        /// Depth a jump to this offset brings (the first one seen).
        expected: u8,
        /// Depth of the other path (a later jump, or falling through).
        found: u8,
    },
    /// An instruction no path reaches (its stack depth would be unknown).
    UnreachableCode {
        /// Invariant index.
        invariant: u16,
        /// Instruction offset.
        at: u16,
    },
    /// A path reaches the end of the code with a stack depth other than 1.
    BadEndDepth {
        /// Invariant index.
        invariant: u16,
        /// The depth.
        depth: u8,
    },
    /// More distinct pending forward-jump targets than the verifier tracks
    /// ([`super::verify::MAX_PENDING_JUMPS`]).
    TooManyPendingJumps {
        /// Invariant index.
        invariant: u16,
        /// Offset of the jump.
        at: u16,
    },
    /// An instruction names a constant that does not exist.
    ConstIndexOutOfRange {
        /// Invariant index.
        invariant: u16,
        /// Instruction offset.
        at: u16,
        /// Constant index.
        index: u16,
    },
    /// An instruction names a constant of the wrong kind.
    ConstKindMismatch {
        /// Invariant index.
        invariant: u16,
        /// Instruction offset.
        at: u16,
        /// Constant index.
        index: u16,
        /// The kind the instruction needs.
        expected: ConstKind,
    },
    /// A C-string comparison uses a constant containing NUL (it could never match).
    StringConstHasNul {
        /// Invariant index.
        invariant: u16,
        /// Instruction offset.
        at: u16,
        /// Constant index.
        index: u16,
    },
    /// `str_contains`/`str_suffix` with a constant longer than [`super::op::MAX_MATCH_LEN`]
    /// (the evaluator's window of recent guest bytes).
    MatchConstTooLong {
        /// Invariant index.
        invariant: u16,
        /// Instruction offset.
        at: u16,
        /// Constant index.
        index: u16,
        /// Its length.
        len: u32,
    },

    // ---- constant pool ----
    /// Unknown constant kind.
    ConstBadKind {
        /// Constant index.
        index: u16,
        /// Kind byte.
        kind: u8,
    },
    /// A constant's data lies outside the constants section.
    ConstOutOfBounds {
        /// Constant index.
        index: u16,
        /// Data offset in the section.
        offset: u32,
        /// Length (bytes, or elements for sets).
        len: u32,
    },
    /// A set's data is not 8-byte aligned.
    ConstMisaligned {
        /// Constant index.
        index: u16,
        /// Data offset in the section.
        offset: u32,
    },
    /// A byte string longer than [`super::format::MAX_CONST_BYTES`].
    ConstTooLong {
        /// Constant index.
        index: u16,
        /// Its length.
        len: u32,
    },
    /// A set is not strictly ascending (unsorted or duplicate).
    SetNotSorted {
        /// Constant index.
        index: u16,
        /// First element out of order.
        position: u32,
    },
    /// A byte class is not exactly [`super::format::CLASS_LEN`] bytes.
    ClassBadLength {
        /// Constant index.
        index: u16,
        /// Its length.
        len: u32,
    },

    // ---- automaton ----
    /// The automaton has no states.
    AutomatonNoStates,
    /// The initial state is not a state.
    AutomatonBadInitial {
        /// Initial state.
        initial: u32,
        /// Number of states.
        states: u32,
    },
    /// A transition names a state that does not exist.
    TransitionBadState {
        /// Transition index.
        transition: u32,
        /// The state.
        state: u32,
    },
    /// A transition names an unknown ABI.
    TransitionBadAbi {
        /// Transition index.
        transition: u32,
        /// ABI byte.
        abi: u8,
    },
    /// Transitions not strictly ascending by (from, abi, nr): unsorted or nondeterministic.
    TransitionsNotSorted {
        /// First transition out of order.
        transition: u32,
    },

    // ---- identity ----
    /// The build-id length is 0 or above [`super::format::MAX_BUILD_ID_LEN`].
    IdentityBadBuildIdLen {
        /// The length field.
        len: u16,
    },
    /// The identity section is not exactly its fixed part plus the build-id.
    IdentityLengthMismatch {
        /// The build-id length field.
        build_id_len: u16,
        /// Section length.
        len: u32,
    },
    /// Identity flags this version does not define.
    IdentityUnknownFlags {
        /// The flags field.
        flags: u32,
    },
    /// A relative identity without an entry point, or an absolute one with one.
    IdentityBadEntry {
        /// The entry field.
        entry: u64,
        /// Whether the identity is relative.
        relative: bool,
    },
}

impl PolicyError {
    /// Number of variants; [`PolicyError::code`] returns `0..COUNT`.
    pub const COUNT: u16 = 66;

    /// A stable number per variant (for compact kernel log lines and for tests that check
    /// every variant is reachable).
    pub const fn code(&self) -> u16 {
        use PolicyError::*;
        match self {
            TooShort { .. } => 0,
            BadMagic { .. } => 1,
            UnsupportedVersion { .. } => 2,
            LengthMismatch { .. } => 3,
            ChecksumMismatch { .. } => 4,
            ReservedNonZero { .. } => 5,
            UnknownPolicyFlags { .. } => 6,
            BadDefaultAction { .. } => 7,
            TooManySections { .. } => 8,
            DirectoryOutOfBounds { .. } => 9,
            SectionOutOfBounds { .. } => 10,
            SectionMisaligned { .. } => 11,
            SectionOverlapsHeader { .. } => 12,
            SectionOverlap { .. } => 13,
            DuplicateSection { .. } => 14,
            UnknownSectionFlags { .. } => 15,
            UnknownRequiredSection { .. } => 16,
            SectionTooShort { .. } => 17,
            TableSizeMismatch { .. } => 18,
            TooManyEntries { .. } => 19,
            RuleBadAbi { .. } => 20,
            RuleUnknownFlags { .. } => 21,
            RuleSiteWithoutFlag { .. } => 22,
            RuleAllowWithInvariant { .. } => 23,
            RuleInvariantOutOfRange { .. } => 24,
            RulesNotSorted { .. } => 25,
            CodeOutOfRange { .. } => 26,
            EmptyCode { .. } => 27,
            NameOutOfRange { .. } => 28,
            NameNotText { .. } => 29,
            DeclaredStackTooDeep { .. } => 30,
            StackDeeperThanDeclared { .. } => 31,
            InvariantTooCostly { .. } => 32,
            BadOpcode { .. } => 33,
            TruncatedInstruction { .. } => 34,
            BadArgIndex { .. } => 35,
            BadRegister { .. } => 36,
            BadExtendWidth { .. } => 37,
            BadStrlenBound { .. } => 38,
            JumpOutOfRange { .. } => 39,
            JumpNotOnBoundary { .. } => 40,
            StackUnderflow { .. } => 41,
            StackOverflow { .. } => 42,
            StackMismatch { .. } => 43,
            UnreachableCode { .. } => 44,
            BadEndDepth { .. } => 45,
            TooManyPendingJumps { .. } => 46,
            ConstIndexOutOfRange { .. } => 47,
            ConstKindMismatch { .. } => 48,
            StringConstHasNul { .. } => 49,
            ConstBadKind { .. } => 50,
            ConstOutOfBounds { .. } => 51,
            ConstMisaligned { .. } => 52,
            ConstTooLong { .. } => 53,
            SetNotSorted { .. } => 54,
            AutomatonNoStates => 55,
            AutomatonBadInitial { .. } => 56,
            TransitionBadState { .. } => 57,
            TransitionBadAbi { .. } => 58,
            TransitionsNotSorted { .. } => 59,
            IdentityBadBuildIdLen { .. } => 60,
            IdentityLengthMismatch { .. } => 61,
            IdentityUnknownFlags { .. } => 62,
            MatchConstTooLong { .. } => 63,
            ClassBadLength { .. } => 64,
            IdentityBadEntry { .. } => 65,
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use PolicyError::*;
        match *self {
            TooShort { len } => write!(f, "policy too short ({len} bytes)"),
            BadMagic { found } => write!(f, "bad magic {found:02x?}"),
            UnsupportedVersion { major, minor } => write!(f, "unsupported format version {major}.{minor}"),
            LengthMismatch { declared, actual } => write!(f, "header says {declared} bytes, blob has {actual}"),
            ChecksumMismatch { stored, computed } => {
                write!(f, "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")
            }
            ReservedNonZero { offset } => write!(f, "reserved field at byte {offset:#x} is not zero"),
            UnknownPolicyFlags { flags } => write!(f, "unknown policy flags {flags:#x}"),
            BadDefaultAction { value } => write!(f, "bad default action {value}"),
            TooManySections { count } => write!(f, "{count} sections (too many)"),
            DirectoryOutOfBounds { end } => write!(f, "section directory ends at {end:#x}, past the blob"),
            SectionOutOfBounds { kind, offset, len } => {
                write!(f, "section {kind} at {offset:#x}+{len:#x} runs past the blob")
            }
            SectionMisaligned { kind, offset } => write!(f, "section {kind} at {offset:#x} is not 8-aligned"),
            SectionOverlapsHeader { kind, offset } => {
                write!(f, "section {kind} at {offset:#x} overlaps the header/directory")
            }
            SectionOverlap { kind, other } => write!(f, "sections {kind} and {other} overlap"),
            DuplicateSection { kind } => write!(f, "section {kind} listed twice"),
            UnknownSectionFlags { kind, flags } => write!(f, "section {kind}: unknown flags {flags:#x}"),
            UnknownRequiredSection { kind } => write!(f, "unknown required section {kind}"),
            SectionTooShort { section, len } => write!(f, "{section:?} section too short ({len} bytes)"),
            TableSizeMismatch { section, count, len } => {
                write!(f, "{section:?} section: {count} entries do not fit {len} bytes")
            }
            TooManyEntries { section, count } => write!(f, "{section:?} section: {count} entries (too many)"),
            RuleBadAbi { rule, abi } => write!(f, "rule {rule}: unknown abi {abi}"),
            RuleUnknownFlags { rule, flags } => write!(f, "rule {rule}: unknown flags {flags:#x}"),
            RuleSiteWithoutFlag { rule } => write!(f, "rule {rule}: site set without the site flag"),
            RuleAllowWithInvariant { rule, invariant } => {
                write!(f, "rule {rule}: allow rule names invariant {invariant}")
            }
            RuleInvariantOutOfRange { rule, invariant } => write!(f, "rule {rule}: no invariant {invariant}"),
            RulesNotSorted { rule } => write!(f, "rule {rule} out of order"),
            CodeOutOfRange { invariant, offset, len } => {
                write!(f, "invariant {invariant}: code {offset:#x}+{len:#x} outside the bytecode section")
            }
            EmptyCode { invariant } => write!(f, "invariant {invariant}: empty code"),
            NameOutOfRange { invariant, offset, len } => {
                write!(f, "invariant {invariant}: name {offset:#x}+{len:#x} outside the string table")
            }
            NameNotText { invariant } => write!(f, "invariant {invariant}: name is not printable UTF-8"),
            DeclaredStackTooDeep { invariant, declared } => {
                write!(f, "invariant {invariant}: declared stack depth {declared} too deep")
            }
            StackDeeperThanDeclared { invariant, declared, computed } => {
                write!(f, "invariant {invariant}: needs stack depth {computed}, declares {declared}")
            }
            InvariantTooCostly { invariant, cost } => {
                write!(f, "invariant {invariant}: worst-case cost {cost} too high")
            }
            BadOpcode { invariant, at, opcode } => write!(f, "invariant {invariant} +{at}: bad opcode {opcode:#04x}"),
            TruncatedInstruction { invariant, at } => write!(f, "invariant {invariant} +{at}: truncated instruction"),
            BadArgIndex { invariant, at, index } => {
                write!(f, "invariant {invariant} +{at}: bad argument index {index}")
            }
            BadRegister { invariant, at, reg } => write!(f, "invariant {invariant} +{at}: bad register {reg}"),
            BadExtendWidth { invariant, at, bits } => {
                write!(f, "invariant {invariant} +{at}: bad extension width {bits}")
            }
            BadStrlenBound { invariant, at, max } => write!(f, "invariant {invariant} +{at}: bad string bound {max}"),
            JumpOutOfRange { invariant, at, target } => {
                write!(f, "invariant {invariant} +{at}: jump target {target} past the end")
            }
            JumpNotOnBoundary { invariant, at, target } => {
                write!(f, "invariant {invariant} +{at}: jump target {target} inside an instruction")
            }
            StackUnderflow { invariant, at } => write!(f, "invariant {invariant} +{at}: stack underflow"),
            StackOverflow { invariant, at } => write!(f, "invariant {invariant} +{at}: stack overflow"),
            StackMismatch { invariant, at, expected, found } => {
                write!(f, "invariant {invariant} +{at}: stack depth {found} where another path has {expected}")
            }
            UnreachableCode { invariant, at } => write!(f, "invariant {invariant} +{at}: unreachable code"),
            BadEndDepth { invariant, depth } => {
                write!(f, "invariant {invariant}: ends with stack depth {depth}, not 1")
            }
            TooManyPendingJumps { invariant, at } => write!(f, "invariant {invariant} +{at}: too many pending jumps"),
            ConstIndexOutOfRange { invariant, at, index } => {
                write!(f, "invariant {invariant} +{at}: no constant {index}")
            }
            ConstKindMismatch { invariant, at, index, expected } => {
                write!(f, "invariant {invariant} +{at}: constant {index} is not {expected:?}")
            }
            StringConstHasNul { invariant, at, index } => {
                write!(f, "invariant {invariant} +{at}: string constant {index} contains NUL")
            }
            MatchConstTooLong { invariant, at, index, len } => write!(
                f,
                "invariant {invariant} +{at}: string constant {index} is {len} bytes, longer than {}",
                super::op::MAX_MATCH_LEN
            ),
            ConstBadKind { index, kind } => write!(f, "constant {index}: unknown kind {kind}"),
            ConstOutOfBounds { index, offset, len } => {
                write!(f, "constant {index}: data {offset:#x} (len {len}) outside the section")
            }
            ConstMisaligned { index, offset } => write!(f, "constant {index}: set at {offset:#x} not 8-aligned"),
            ConstTooLong { index, len } => write!(f, "constant {index}: {len} bytes (too long)"),
            SetNotSorted { index, position } => write!(f, "constant {index}: set element {position} out of order"),
            ClassBadLength { index, len } => {
                write!(f, "constant {index}: byte class of {len} bytes (must be {})", super::format::CLASS_LEN)
            }
            AutomatonNoStates => f.write_str("automaton has no states"),
            AutomatonBadInitial { initial, states } => write!(f, "automaton initial state {initial} of {states}"),
            TransitionBadState { transition, state } => write!(f, "transition {transition}: no state {state}"),
            TransitionBadAbi { transition, abi } => write!(f, "transition {transition}: unknown abi {abi}"),
            TransitionsNotSorted { transition } => {
                write!(f, "transition {transition} out of order or duplicate (nondeterministic)")
            }
            IdentityBadBuildIdLen { len } => {
                write!(f, "identity: build-id of {len} bytes (must be 1 to {})", super::format::MAX_BUILD_ID_LEN)
            }
            IdentityLengthMismatch { build_id_len, len } => write!(
                f,
                "identity section is {len} bytes, a {build_id_len}-byte build-id needs {}",
                super::format::IDENTITY_HEADER_LEN + usize::from(build_id_len)
            ),
            IdentityUnknownFlags { flags } => write!(f, "identity: unknown flags {flags:#x}"),
            IdentityBadEntry { entry, relative: true } => {
                write!(f, "identity: relative (position-independent P) but entry point {entry:#x}")
            }
            IdentityBadEntry { entry, relative: false } => {
                write!(f, "identity: absolute but entry field {entry:#x} (must be 0)")
            }
        }
    }
}
