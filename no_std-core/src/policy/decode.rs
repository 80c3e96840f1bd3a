//! Decoding and validation of a policy blob into a [`PolicyLayout`]. Everything the
//! evaluator and the Assertion Checker rely on is checked here, once.

use core::mem::offset_of;

use super::consts::ConstPool;
use super::error::PolicyError;
use super::format::*;
use super::op::MAX_STACK;
use super::verify::verify_code;
use super::{AutomatonLayout, IdentityLayout, PolicyLayout, Span};
use crate::crc::Crc32;
use crate::wire::{nth, read};

/// CRC-32 of `blob` with its checksum field taken as zero.
pub(crate) fn blob_crc(blob: &[u8]) -> u32 {
    let mut c = Crc32::new();
    c.update(blob.get(..CRC_OFFSET).unwrap_or(blob));
    c.update_zeros(4);
    c.update(blob.get(CRC_OFFSET + 4..).unwrap_or(&[]));
    c.finish()
}

const fn align8(v: u64) -> u64 {
    (v + 7) & !7
}

/// One directory entry after bounds checks.
#[derive(Clone, Copy)]
struct Found {
    kind: u16,
    span: Span,
}

pub(crate) fn decode_layout(blob: &[u8]) -> Result<PolicyLayout, PolicyError> {
    if blob.len() < HEADER_LEN {
        return Err(PolicyError::TooShort { len: blob.len() });
    }
    let h: RawHeader = read(blob, 0).ok_or(PolicyError::TooShort { len: blob.len() })?;
    if h.magic != MAGIC {
        return Err(PolicyError::BadMagic { found: h.magic });
    }
    if h.major != FORMAT_MAJOR {
        return Err(PolicyError::UnsupportedVersion { major: h.major, minor: h.minor });
    }
    if h.total_len as usize != blob.len() {
        return Err(PolicyError::LengthMismatch { declared: h.total_len, actual: blob.len() });
    }
    // The checksum comes before any structural check so that a corrupted blob is reported as
    // corrupted, not as whatever its damaged bytes happen to look like.
    let computed = blob_crc(blob);
    if computed != h.crc {
        return Err(PolicyError::ChecksumMismatch { stored: h.crc, computed });
    }
    if h.reserved0 != 0 {
        return Err(PolicyError::ReservedNonZero { offset: offset_of!(RawHeader, reserved0) });
    }
    if h.reserved1 != 0 {
        return Err(PolicyError::ReservedNonZero { offset: offset_of!(RawHeader, reserved1) });
    }
    if h.flags & !POLICY_FLAGS_KNOWN != 0 {
        return Err(PolicyError::UnknownPolicyFlags { flags: h.flags });
    }
    let default_action =
        DefaultAction::from_u8(h.default_action).ok_or(PolicyError::BadDefaultAction { value: h.default_action })?;
    let count = usize::from(h.section_count);
    if count > MAX_SECTIONS {
        return Err(PolicyError::TooManySections { count: h.section_count });
    }
    let dir_end = align8((HEADER_LEN + count * DIR_ENTRY_LEN) as u64);
    if dir_end > blob.len() as u64 {
        return Err(PolicyError::DirectoryOutOfBounds { end: dir_end as usize });
    }

    // Directory: bounds, alignment, flags, duplicates and overlaps.
    let mut found = [None::<Found>; MAX_SECTIONS];
    let mut known = [None::<Span>; SectionKind::COUNT];
    for i in 0..count {
        let s: RawSection = read(blob, HEADER_LEN + i * DIR_ENTRY_LEN)
            .ok_or(PolicyError::DirectoryOutOfBounds { end: dir_end as usize })?;
        if s.flags & !SECTION_FLAGS_KNOWN != 0 {
            return Err(PolicyError::UnknownSectionFlags { kind: s.kind, flags: s.flags });
        }
        let kind = SectionKind::from_u16(s.kind);
        if kind.is_none() && s.flags & SECTION_REQUIRED != 0 {
            return Err(PolicyError::UnknownRequiredSection { kind: s.kind });
        }
        if u64::from(s.offset) < dir_end {
            return Err(PolicyError::SectionOverlapsHeader { kind: s.kind, offset: s.offset });
        }
        if s.offset as usize % SECTION_ALIGN != 0 {
            return Err(PolicyError::SectionMisaligned { kind: s.kind, offset: s.offset });
        }
        if u64::from(s.offset) + u64::from(s.len) > blob.len() as u64 {
            return Err(PolicyError::SectionOutOfBounds { kind: s.kind, offset: s.offset, len: s.len });
        }
        let span = Span { off: s.offset, len: s.len };
        for other in found.iter().take(i).flatten() {
            if other.kind == s.kind {
                return Err(PolicyError::DuplicateSection { kind: s.kind });
            }
            if span.overlaps(&other.span) {
                return Err(PolicyError::SectionOverlap { kind: s.kind, other: other.kind });
            }
        }
        if let Some(slot) = found.get_mut(i) {
            *slot = Some(Found { kind: s.kind, span });
        }
        if let Some(k) = kind {
            if let Some(slot) = known.get_mut(k.slot()) {
                *slot = Some(span);
            }
        }
    }
    let section = |k: SectionKind| known.get(k.slot()).copied().flatten();
    let bytes_of = |span: Span| blob.get(span.range()).unwrap_or(&[]);

    // Constants first: the bytecode verifier checks references against them.
    let (consts_span, const_count) = match section(SectionKind::Constants) {
        Some(span) => {
            let pool = ConstPool::parse(bytes_of(span), span.off as usize)?;
            (span, pool.len())
        }
        None => (Span::EMPTY, 0),
    };
    let pool = ConstPool::from_validated(bytes_of(consts_span), const_count);
    let strings = section(SectionKind::Strings).unwrap_or(Span::EMPTY);
    let bytecode = section(SectionKind::Bytecode).unwrap_or(Span::EMPTY);

    // Invariants.
    let (invariants, inv_count) = match section(SectionKind::Invariants) {
        Some(span) => table(blob, span, SectionKind::Invariants, INVARIANT_LEN)?,
        None => (Span::EMPTY, 0),
    };
    let inv_count = u16::try_from(inv_count)
        .ok()
        .filter(|&n| n != NO_INVARIANT)
        .ok_or(PolicyError::TooManyEntries { section: SectionKind::Invariants, count: inv_count })?;
    let inv_table = bytes_of(invariants);
    let code_section = bytes_of(bytecode);
    let string_section = bytes_of(strings);
    for index in 0..inv_count {
        let rec_off = invariants.off as usize + usize::from(index) * INVARIANT_LEN;
        let r: RawInvariant = nth(inv_table, usize::from(index)).ok_or(PolicyError::TableSizeMismatch {
            section: SectionKind::Invariants,
            count: u32::from(inv_count),
            len: invariants.len,
        })?;
        if r.flags != 0 {
            return Err(PolicyError::ReservedNonZero { offset: rec_off + offset_of!(RawInvariant, flags) });
        }
        if r.reserved != 0 {
            return Err(PolicyError::ReservedNonZero { offset: rec_off + offset_of!(RawInvariant, reserved) });
        }
        if r.code_len == 0 {
            return Err(PolicyError::EmptyCode { invariant: index });
        }
        let code_range = Span { off: r.code_offset, len: u32::from(r.code_len) };
        let code = code_range
            .range_checked()
            .and_then(|rg| code_section.get(rg))
            .ok_or(PolicyError::CodeOutOfRange { invariant: index, offset: r.code_offset, len: r.code_len })?;
        let name_bad = PolicyError::NameOutOfRange { invariant: index, offset: r.name_offset, len: r.name_len };
        if r.name_len == 0 {
            if r.name_offset != 0 {
                return Err(name_bad);
            }
        } else {
            let name = Span { off: r.name_offset, len: u32::from(r.name_len) }
                .range_checked()
                .and_then(|rg| string_section.get(rg))
                .ok_or(name_bad)?;
            let text = core::str::from_utf8(name).map_err(|_| PolicyError::NameNotText { invariant: index })?;
            if text.chars().any(char::is_control) {
                return Err(PolicyError::NameNotText { invariant: index });
            }
        }
        if usize::from(r.max_stack) > MAX_STACK {
            return Err(PolicyError::DeclaredStackTooDeep { invariant: index, declared: r.max_stack });
        }
        let info = verify_code(code, &pool, index)?;
        if info.max_depth > r.max_stack {
            return Err(PolicyError::StackDeeperThanDeclared {
                invariant: index,
                declared: r.max_stack,
                computed: info.max_depth,
            });
        }
    }

    // Rules.
    let (rules, rule_count) = match section(SectionKind::Rules) {
        Some(span) => table(blob, span, SectionKind::Rules, RULE_LEN)?,
        None => (Span::EMPTY, 0),
    };
    let rule_table = bytes_of(rules);
    let mut abis = 0u8;
    let mut prev: Option<u128> = None;
    for rule in 0..rule_count {
        let r: RawRule = nth(rule_table, rule as usize).ok_or(PolicyError::TableSizeMismatch {
            section: SectionKind::Rules,
            count: rule_count,
            len: rules.len,
        })?;
        if abi_from_u8(r.abi).is_none() {
            return Err(PolicyError::RuleBadAbi { rule, abi: r.abi });
        }
        if r.flags & !RULE_FLAGS_KNOWN != 0 {
            return Err(PolicyError::RuleUnknownFlags { rule, flags: r.flags });
        }
        if r.flags & RULE_SITE == 0 && r.site != 0 {
            return Err(PolicyError::RuleSiteWithoutFlag { rule });
        }
        if r.flags & RULE_ALLOW != 0 {
            if r.invariant != NO_INVARIANT {
                return Err(PolicyError::RuleAllowWithInvariant { rule, invariant: r.invariant });
            }
        } else if r.invariant >= inv_count {
            return Err(PolicyError::RuleInvariantOutOfRange { rule, invariant: r.invariant });
        }
        let key = r.key();
        if prev.is_some_and(|p| p > key) {
            return Err(PolicyError::RulesNotSorted { rule });
        }
        prev = Some(key);
        abis |= 1 << r.abi;
    }

    // Legal-trace automaton.
    let automaton = match section(SectionKind::Automaton) {
        Some(span) => Some(automaton(blob, span)?),
        None => None,
    };

    // P's identity (1.1); at most one, like every section kind (checked with the directory).
    let identity = match section(SectionKind::Identity) {
        Some(span) => Some(identity(blob, span)?),
        None => None,
    };

    Ok(PolicyLayout {
        total_len: h.total_len,
        crc: h.crc,
        policy_id: h.policy_id,
        minor: h.minor,
        flags: h.flags,
        default_action,
        rules,
        rule_count,
        invariants,
        invariant_count: inv_count,
        bytecode,
        consts: consts_span,
        const_count,
        automaton,
        strings,
        kernel_profile: section(SectionKind::KernelProfile),
        identity,
        abis,
    })
}

/// Checks the identity section: known flags, reserved fields zero, a build-id of 1 to
/// [`MAX_BUILD_ID_LEN`] bytes, and a section exactly as long as its fixed part plus the
/// build-id.
fn identity(blob: &[u8], span: Span) -> Result<IdentityLayout, PolicyError> {
    let short = PolicyError::SectionTooShort { section: SectionKind::Identity, len: span.len };
    if (span.len as usize) < IDENTITY_HEADER_LEN {
        return Err(short);
    }
    let base = span.off as usize;
    let r: RawIdentity = read(blob, base).ok_or(short)?;
    if r.flags & !IDENTITY_FLAGS_KNOWN != 0 {
        return Err(PolicyError::IdentityUnknownFlags { flags: r.flags });
    }
    if r.reserved0 != 0 {
        return Err(PolicyError::ReservedNonZero { offset: base + offset_of!(RawIdentity, reserved0) });
    }
    // Absolute: `entry` is unused and must be 0. Relative: a PIE always has an entry point.
    let relative = r.flags & IDENTITY_RELATIVE != 0;
    if relative == (r.entry == 0) {
        return Err(PolicyError::IdentityBadEntry { entry: r.entry, relative });
    }
    if r.build_id_len == 0 || usize::from(r.build_id_len) > MAX_BUILD_ID_LEN {
        return Err(PolicyError::IdentityBadBuildIdLen { len: r.build_id_len });
    }
    if IDENTITY_HEADER_LEN as u64 + u64::from(r.build_id_len) != u64::from(span.len) {
        return Err(PolicyError::IdentityLengthMismatch { build_id_len: r.build_id_len, len: span.len });
    }
    Ok(IdentityLayout {
        build_id: Span { off: span.off + IDENTITY_HEADER_LEN as u32, len: u32::from(r.build_id_len) },
        note_vaddr: r.note_vaddr,
        entry: r.entry,
        flags: r.flags,
    })
}

/// Checks a counted table section (`u32 count`, `u32 reserved`, records) whose length must be
/// exactly header + count × record; returns the span of the records and the count.
fn table(blob: &[u8], span: Span, section: SectionKind, rec_len: usize) -> Result<(Span, u32), PolicyError> {
    if (span.len as usize) < TABLE_HEADER_LEN {
        return Err(PolicyError::SectionTooShort { section, len: span.len });
    }
    let base = span.off as usize;
    let t: RawTableHeader = read(blob, base).ok_or(PolicyError::SectionTooShort { section, len: span.len })?;
    if t.reserved != 0 {
        return Err(PolicyError::ReservedNonZero { offset: base + offset_of!(RawTableHeader, reserved) });
    }
    let count = t.count;
    if TABLE_HEADER_LEN as u64 + u64::from(count) * rec_len as u64 != u64::from(span.len) {
        return Err(PolicyError::TableSizeMismatch { section, count, len: span.len });
    }
    Ok((Span { off: span.off + TABLE_HEADER_LEN as u32, len: span.len - TABLE_HEADER_LEN as u32 }, count))
}

fn automaton(blob: &[u8], span: Span) -> Result<AutomatonLayout, PolicyError> {
    if (span.len as usize) < AUTOMATON_HEADER_LEN {
        return Err(PolicyError::SectionTooShort { section: SectionKind::Automaton, len: span.len });
    }
    let base = span.off as usize;
    let a: RawAutomaton =
        read(blob, base).ok_or(PolicyError::SectionTooShort { section: SectionKind::Automaton, len: span.len })?;
    if a.reserved != 0 {
        return Err(PolicyError::ReservedNonZero { offset: base + offset_of!(RawAutomaton, reserved) });
    }
    if a.states == 0 {
        return Err(PolicyError::AutomatonNoStates);
    }
    if a.initial >= a.states {
        return Err(PolicyError::AutomatonBadInitial { initial: a.initial, states: a.states });
    }
    if AUTOMATON_HEADER_LEN as u64 + u64::from(a.transitions) * TRANSITION_LEN as u64 != u64::from(span.len) {
        return Err(PolicyError::TableSizeMismatch {
            section: SectionKind::Automaton,
            count: a.transitions,
            len: span.len,
        });
    }
    let transitions = Span { off: span.off + AUTOMATON_HEADER_LEN as u32, len: span.len - AUTOMATON_HEADER_LEN as u32 };
    let table = blob.get(transitions.range()).unwrap_or(&[]);
    let mut prev: Option<(u32, u8, u32)> = None;
    for transition in 0..a.transitions {
        let t: RawTransition = nth(table, transition as usize).ok_or(PolicyError::TableSizeMismatch {
            section: SectionKind::Automaton,
            count: a.transitions,
            len: span.len,
        })?;
        if t.reserved != [0; 3] {
            return Err(PolicyError::ReservedNonZero {
                offset: transitions.off as usize
                    + transition as usize * TRANSITION_LEN
                    + offset_of!(RawTransition, reserved),
            });
        }
        for state in [t.from, t.to] {
            if state >= a.states {
                return Err(PolicyError::TransitionBadState { transition, state });
            }
        }
        if abi_from_u8(t.abi).is_none() {
            return Err(PolicyError::TransitionBadAbi { transition, abi: t.abi });
        }
        let key = t.key();
        if prev.is_some_and(|p| p >= key) {
            return Err(PolicyError::TransitionsNotSorted { transition });
        }
        prev = Some(key);
    }
    Ok(AutomatonLayout { transitions, count: a.transitions, states: a.states, initial: a.initial })
}
