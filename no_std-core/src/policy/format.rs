//! Wire layout of the policy binary format: constants and the fixed-size records, each with a
//! hand-written scroll `TryFromCtx`/`TryIntoCtx` (scroll's derive needs `std`/proc macros,
//! which the kernel build does not have). The layout itself is described in [`super`].

use scroll::ctx::{TryFromCtx, TryIntoCtx};
use scroll::{Endian, Pread, Pwrite};

/// First four bytes of every policy blob.
pub const MAGIC: [u8; 4] = *b"SGPF";
/// Format major version this decoder understands. A different major is rejected.
pub const FORMAT_MAJOR: u16 = 1;
/// Format minor version this encoder writes. Minors only add optional sections, so a decoder
/// accepts any minor of its major.
pub const FORMAT_MINOR: u16 = 0;

/// Size of the fixed header.
pub const HEADER_LEN: usize = 32;
/// Byte offset of the CRC-32 field in the header (zeroed while computing the checksum).
pub const CRC_OFFSET: usize = 12;
/// Size of one section-directory entry.
pub const DIR_ENTRY_LEN: usize = 12;
/// Most sections a blob may list.
pub const MAX_SECTIONS: usize = 16;
/// Every section starts at a multiple of this (from the start of the blob).
pub const SECTION_ALIGN: usize = 8;

/// Size of the count header at the start of the rules, invariants and constants sections.
pub const TABLE_HEADER_LEN: usize = 8;
/// Size of one rule record.
pub const RULE_LEN: usize = 16;
/// Size of one invariant record.
pub const INVARIANT_LEN: usize = 20;
/// Size of one constant-pool record.
pub const CONST_ENTRY_LEN: usize = 12;
/// Size of the automaton section header.
pub const AUTOMATON_HEADER_LEN: usize = 16;
/// Size of one automaton transition record.
pub const TRANSITION_LEN: usize = 16;

/// Section flag: a decoder that does not know this section kind must reject the policy
/// (the section changes what the policy means). Unknown sections without it are skipped.
pub const SECTION_REQUIRED: u16 = 1 << 0;
/// All section flags this version defines.
pub const SECTION_FLAGS_KNOWN: u16 = SECTION_REQUIRED;

/// Rule flag: the rule applies only to calls whose user RIP equals the rule's `site`.
pub const RULE_SITE: u8 = 1 << 0;
/// Rule flag: the call is allowed without evaluating an invariant (`invariant` must be
/// [`NO_INVARIANT`]). Lets a default-deny policy list allowed calls cheaply.
pub const RULE_ALLOW: u8 = 1 << 1;
/// All rule flags this version defines.
pub const RULE_FLAGS_KNOWN: u8 = RULE_SITE | RULE_ALLOW;
/// Invariant index stored in [`RULE_ALLOW`] rules.
pub const NO_INVARIANT: u16 = 0xFFFF;

/// Constant kind: a byte string (for string/bytes comparisons).
pub const CONST_BYTES: u8 = 1;
/// Constant kind: a strictly ascending set of little-endian u64 (for membership tests).
pub const CONST_SET: u8 = 2;

/// Policy flag: a call made through an ABI for which the policy has no rule at all is a
/// violation, even when the default action is allow (an `int $0x80` call from a 64-bit P is
/// a classic way around a policy written for the 64-bit numbers).
pub const POLICY_DENY_OTHER_ABIS: u32 = 1 << 0;
/// All policy flags this version defines.
pub const POLICY_FLAGS_KNOWN: u32 = POLICY_DENY_OTHER_ABIS;

/// Longest byte-string constant (bounds the guest bytes one comparison reads).
pub const MAX_CONST_BYTES: usize = 4096;

/// The section kinds this version defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum SectionKind {
    /// Syscall → invariant rules.
    Rules = 1,
    /// Invariant table.
    Invariants = 2,
    /// Concatenated invariant bytecode.
    Bytecode = 3,
    /// Constant pool: byte strings and u64 sets.
    Constants = 4,
    /// Legal-trace automaton.
    Automaton = 5,
    /// Name/string table (invariant names for alerts).
    Strings = 6,
    /// Guest-kernel profile, opaque to this module.
    KernelProfile = 7,
}

impl SectionKind {
    /// Decodes a directory `kind`; `None` for kinds this version does not know.
    pub const fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            1 => Self::Rules,
            2 => Self::Invariants,
            3 => Self::Bytecode,
            4 => Self::Constants,
            5 => Self::Automaton,
            6 => Self::Strings,
            7 => Self::KernelProfile,
            _ => return None,
        })
    }
    /// Index 0..7 for per-kind tables.
    pub(crate) const fn slot(self) -> usize {
        self as usize - 1
    }
    /// Number of kinds this version knows.
    pub(crate) const COUNT: usize = 7;
}

/// What a policy does with a system call that no rule matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DefaultAction {
    /// Let it run.
    Allow = 0,
    /// Treat it as a violation.
    Deny = 1,
}

impl DefaultAction {
    /// Decodes the header byte.
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::Allow),
            1 => Some(Self::Deny),
            _ => None,
        }
    }
}

/// The fixed header, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawHeader {
    pub magic: [u8; 4],
    pub major: u16,
    pub minor: u16,
    pub total_len: u32,
    pub crc: u32,
    pub policy_id: u32,
    pub flags: u32,
    pub default_action: u8,
    pub section_count: u8,
    pub reserved0: u16,
    pub reserved1: u32,
}

impl<'a> TryFromCtx<'a, Endian> for RawHeader {
    type Error = scroll::Error;
    fn try_from_ctx(src: &'a [u8], e: Endian) -> Result<(Self, usize), Self::Error> {
        let mut o = 0;
        let mut magic = [0u8; 4];
        for b in magic.iter_mut() {
            *b = src.gread_with(&mut o, e)?;
        }
        let h = RawHeader {
            magic,
            major: src.gread_with(&mut o, e)?,
            minor: src.gread_with(&mut o, e)?,
            total_len: src.gread_with(&mut o, e)?,
            crc: src.gread_with(&mut o, e)?,
            policy_id: src.gread_with(&mut o, e)?,
            flags: src.gread_with(&mut o, e)?,
            default_action: src.gread_with(&mut o, e)?,
            section_count: src.gread_with(&mut o, e)?,
            reserved0: src.gread_with(&mut o, e)?,
            reserved1: src.gread_with(&mut o, e)?,
        };
        Ok((h, o))
    }
}

impl TryIntoCtx<Endian> for RawHeader {
    type Error = scroll::Error;
    fn try_into_ctx(self, dst: &mut [u8], e: Endian) -> Result<usize, Self::Error> {
        let mut o = 0;
        for b in self.magic {
            dst.gwrite_with(b, &mut o, e)?;
        }
        dst.gwrite_with(self.major, &mut o, e)?;
        dst.gwrite_with(self.minor, &mut o, e)?;
        dst.gwrite_with(self.total_len, &mut o, e)?;
        dst.gwrite_with(self.crc, &mut o, e)?;
        dst.gwrite_with(self.policy_id, &mut o, e)?;
        dst.gwrite_with(self.flags, &mut o, e)?;
        dst.gwrite_with(self.default_action, &mut o, e)?;
        dst.gwrite_with(self.section_count, &mut o, e)?;
        dst.gwrite_with(self.reserved0, &mut o, e)?;
        dst.gwrite_with(self.reserved1, &mut o, e)?;
        Ok(o)
    }
}

/// One section-directory entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawSection {
    pub kind: u16,
    pub flags: u16,
    pub offset: u32,
    pub len: u32,
}

impl<'a> TryFromCtx<'a, Endian> for RawSection {
    type Error = scroll::Error;
    fn try_from_ctx(src: &'a [u8], e: Endian) -> Result<(Self, usize), Self::Error> {
        let mut o = 0;
        let s = RawSection {
            kind: src.gread_with(&mut o, e)?,
            flags: src.gread_with(&mut o, e)?,
            offset: src.gread_with(&mut o, e)?,
            len: src.gread_with(&mut o, e)?,
        };
        Ok((s, o))
    }
}

impl TryIntoCtx<Endian> for RawSection {
    type Error = scroll::Error;
    fn try_into_ctx(self, dst: &mut [u8], e: Endian) -> Result<usize, Self::Error> {
        let mut o = 0;
        dst.gwrite_with(self.kind, &mut o, e)?;
        dst.gwrite_with(self.flags, &mut o, e)?;
        dst.gwrite_with(self.offset, &mut o, e)?;
        dst.gwrite_with(self.len, &mut o, e)?;
        Ok(o)
    }
}

/// One rule record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawRule {
    pub abi: u8,
    pub flags: u8,
    pub invariant: u16,
    pub nr: u32,
    pub site: u64,
}

impl RawRule {
    /// Sort key of the rules table: (abi, nr, site-specific, site). Any-site rules of a
    /// syscall come first, then its site-specific rules by ascending site.
    pub(crate) fn key(&self) -> u128 {
        rule_key(self.abi, self.nr, self.flags & RULE_SITE != 0, self.site)
    }
}

/// The rule sort key packed into one integer: ordering the integers is ordering the tuples
/// (abi, nr, site-specific, site) lexicographically, and one compare is cheaper than four.
#[inline]
pub(crate) const fn rule_key(abi: u8, nr: u32, site_specific: bool, site: u64) -> u128 {
    ((abi as u128) << 97) | ((nr as u128) << 65) | ((site_specific as u128) << 64) | site as u128
}

/// The sort key of rule `i` read straight from the rules table (hot path).
#[inline]
pub(crate) fn rule_key_at(table: &[u8], i: u32) -> Option<u128> {
    hot::<RawRule>(table, i as usize).map(|r| r.key())
}

impl<'a> TryFromCtx<'a, Endian> for RawRule {
    type Error = scroll::Error;
    fn try_from_ctx(src: &'a [u8], e: Endian) -> Result<(Self, usize), Self::Error> {
        let mut o = 0;
        let r = RawRule {
            abi: src.gread_with(&mut o, e)?,
            flags: src.gread_with(&mut o, e)?,
            invariant: src.gread_with(&mut o, e)?,
            nr: src.gread_with(&mut o, e)?,
            site: src.gread_with(&mut o, e)?,
        };
        Ok((r, o))
    }
}

impl TryIntoCtx<Endian> for RawRule {
    type Error = scroll::Error;
    fn try_into_ctx(self, dst: &mut [u8], e: Endian) -> Result<usize, Self::Error> {
        let mut o = 0;
        dst.gwrite_with(self.abi, &mut o, e)?;
        dst.gwrite_with(self.flags, &mut o, e)?;
        dst.gwrite_with(self.invariant, &mut o, e)?;
        dst.gwrite_with(self.nr, &mut o, e)?;
        dst.gwrite_with(self.site, &mut o, e)?;
        Ok(o)
    }
}

/// One invariant record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawInvariant {
    pub id: u32,
    pub code_offset: u32,
    pub code_len: u16,
    pub max_stack: u8,
    pub flags: u8,
    pub name_offset: u32,
    pub name_len: u16,
    pub reserved: u16,
}

impl<'a> TryFromCtx<'a, Endian> for RawInvariant {
    type Error = scroll::Error;
    fn try_from_ctx(src: &'a [u8], e: Endian) -> Result<(Self, usize), Self::Error> {
        let mut o = 0;
        let r = RawInvariant {
            id: src.gread_with(&mut o, e)?,
            code_offset: src.gread_with(&mut o, e)?,
            code_len: src.gread_with(&mut o, e)?,
            max_stack: src.gread_with(&mut o, e)?,
            flags: src.gread_with(&mut o, e)?,
            name_offset: src.gread_with(&mut o, e)?,
            name_len: src.gread_with(&mut o, e)?,
            reserved: src.gread_with(&mut o, e)?,
        };
        Ok((r, o))
    }
}

impl TryIntoCtx<Endian> for RawInvariant {
    type Error = scroll::Error;
    fn try_into_ctx(self, dst: &mut [u8], e: Endian) -> Result<usize, Self::Error> {
        let mut o = 0;
        dst.gwrite_with(self.id, &mut o, e)?;
        dst.gwrite_with(self.code_offset, &mut o, e)?;
        dst.gwrite_with(self.code_len, &mut o, e)?;
        dst.gwrite_with(self.max_stack, &mut o, e)?;
        dst.gwrite_with(self.flags, &mut o, e)?;
        dst.gwrite_with(self.name_offset, &mut o, e)?;
        dst.gwrite_with(self.name_len, &mut o, e)?;
        dst.gwrite_with(self.reserved, &mut o, e)?;
        Ok(o)
    }
}

/// One constant-pool record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawConst {
    pub kind: u8,
    pub reserved: [u8; 3],
    pub offset: u32,
    pub len: u32,
}

impl<'a> TryFromCtx<'a, Endian> for RawConst {
    type Error = scroll::Error;
    fn try_from_ctx(src: &'a [u8], e: Endian) -> Result<(Self, usize), Self::Error> {
        let mut o = 0;
        let kind = src.gread_with(&mut o, e)?;
        let mut reserved = [0u8; 3];
        for b in reserved.iter_mut() {
            *b = src.gread_with(&mut o, e)?;
        }
        let r = RawConst { kind, reserved, offset: src.gread_with(&mut o, e)?, len: src.gread_with(&mut o, e)? };
        Ok((r, o))
    }
}

impl TryIntoCtx<Endian> for RawConst {
    type Error = scroll::Error;
    fn try_into_ctx(self, dst: &mut [u8], e: Endian) -> Result<usize, Self::Error> {
        let mut o = 0;
        dst.gwrite_with(self.kind, &mut o, e)?;
        for b in self.reserved {
            dst.gwrite_with(b, &mut o, e)?;
        }
        dst.gwrite_with(self.offset, &mut o, e)?;
        dst.gwrite_with(self.len, &mut o, e)?;
        Ok(o)
    }
}

/// The automaton section header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawAutomaton {
    pub states: u32,
    pub initial: u32,
    pub transitions: u32,
    pub reserved: u32,
}

impl<'a> TryFromCtx<'a, Endian> for RawAutomaton {
    type Error = scroll::Error;
    fn try_from_ctx(src: &'a [u8], e: Endian) -> Result<(Self, usize), Self::Error> {
        let mut o = 0;
        let r = RawAutomaton {
            states: src.gread_with(&mut o, e)?,
            initial: src.gread_with(&mut o, e)?,
            transitions: src.gread_with(&mut o, e)?,
            reserved: src.gread_with(&mut o, e)?,
        };
        Ok((r, o))
    }
}

impl TryIntoCtx<Endian> for RawAutomaton {
    type Error = scroll::Error;
    fn try_into_ctx(self, dst: &mut [u8], e: Endian) -> Result<usize, Self::Error> {
        let mut o = 0;
        dst.gwrite_with(self.states, &mut o, e)?;
        dst.gwrite_with(self.initial, &mut o, e)?;
        dst.gwrite_with(self.transitions, &mut o, e)?;
        dst.gwrite_with(self.reserved, &mut o, e)?;
        Ok(o)
    }
}

/// One automaton transition record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawTransition {
    pub from: u32,
    pub abi: u8,
    pub reserved: [u8; 3],
    pub nr: u32,
    pub to: u32,
}

impl RawTransition {
    /// Sort key of the transition table; strictly ascending means deterministic.
    pub(crate) fn key(&self) -> (u32, u8, u32) {
        (self.from, self.abi, self.nr)
    }
}

impl<'a> TryFromCtx<'a, Endian> for RawTransition {
    type Error = scroll::Error;
    fn try_from_ctx(src: &'a [u8], e: Endian) -> Result<(Self, usize), Self::Error> {
        let mut o = 0;
        let from = src.gread_with(&mut o, e)?;
        let abi = src.gread_with(&mut o, e)?;
        let mut reserved = [0u8; 3];
        for b in reserved.iter_mut() {
            *b = src.gread_with(&mut o, e)?;
        }
        let r = RawTransition { from, abi, reserved, nr: src.gread_with(&mut o, e)?, to: src.gread_with(&mut o, e)? };
        Ok((r, o))
    }
}

impl TryIntoCtx<Endian> for RawTransition {
    type Error = scroll::Error;
    fn try_into_ctx(self, dst: &mut [u8], e: Endian) -> Result<usize, Self::Error> {
        let mut o = 0;
        dst.gwrite_with(self.from, &mut o, e)?;
        dst.gwrite_with(self.abi, &mut o, e)?;
        for b in self.reserved {
            dst.gwrite_with(b, &mut o, e)?;
        }
        dst.gwrite_with(self.nr, &mut o, e)?;
        dst.gwrite_with(self.to, &mut o, e)?;
        Ok(o)
    }
}

/// Fixed-size records read on the hot path straight from their bytes. The scroll
/// implementations above serve decoding and encoding; these skip scroll's per-field
/// `Result`s for the per-syscall lookups, and a unit test checks both agree on every input.
pub(crate) trait Record: Sized {
    /// Record size in bytes.
    const LEN: usize;
    /// Parses the first `LEN` bytes of `b`.
    fn parse(b: &[u8]) -> Option<Self>;
}

macro_rules! le {
    (u16, $r:ident, $at:literal) => {
        u16::from_le_bytes([$r[$at], $r[$at + 1]])
    };
    (u32, $r:ident, $at:literal) => {
        u32::from_le_bytes([$r[$at], $r[$at + 1], $r[$at + 2], $r[$at + 3]])
    };
    (u64, $r:ident, $at:literal) => {
        u64::from_le_bytes([
            $r[$at],
            $r[$at + 1],
            $r[$at + 2],
            $r[$at + 3],
            $r[$at + 4],
            $r[$at + 5],
            $r[$at + 6],
            $r[$at + 7],
        ])
    };
}

impl Record for RawRule {
    const LEN: usize = RULE_LEN;
    #[inline]
    fn parse(b: &[u8]) -> Option<Self> {
        // Constant indexes into a fixed-size array: checked at compile time.
        let r: &[u8; RULE_LEN] = b.get(..RULE_LEN)?.try_into().ok()?;
        Some(RawRule { abi: r[0], flags: r[1], invariant: le!(u16, r, 2), nr: le!(u32, r, 4), site: le!(u64, r, 8) })
    }
}

impl Record for RawInvariant {
    const LEN: usize = INVARIANT_LEN;
    #[inline]
    fn parse(b: &[u8]) -> Option<Self> {
        let r: &[u8; INVARIANT_LEN] = b.get(..INVARIANT_LEN)?.try_into().ok()?;
        Some(RawInvariant {
            id: le!(u32, r, 0),
            code_offset: le!(u32, r, 4),
            code_len: le!(u16, r, 8),
            max_stack: r[10],
            flags: r[11],
            name_offset: le!(u32, r, 12),
            name_len: le!(u16, r, 16),
            reserved: le!(u16, r, 18),
        })
    }
}

impl Record for RawConst {
    const LEN: usize = CONST_ENTRY_LEN;
    #[inline]
    fn parse(b: &[u8]) -> Option<Self> {
        let r: &[u8; CONST_ENTRY_LEN] = b.get(..CONST_ENTRY_LEN)?.try_into().ok()?;
        Some(RawConst { kind: r[0], reserved: [r[1], r[2], r[3]], offset: le!(u32, r, 4), len: le!(u32, r, 8) })
    }
}

impl Record for RawTransition {
    const LEN: usize = TRANSITION_LEN;
    #[inline]
    fn parse(b: &[u8]) -> Option<Self> {
        let r: &[u8; TRANSITION_LEN] = b.get(..TRANSITION_LEN)?.try_into().ok()?;
        Some(RawTransition {
            from: le!(u32, r, 0),
            abi: r[4],
            reserved: [r[5], r[6], r[7]],
            nr: le!(u32, r, 8),
            to: le!(u32, r, 12),
        })
    }
}

/// Record `index` of a table of `T`s (hot path); `None` past the end.
#[inline]
pub(crate) fn hot<T: Record>(table: &[u8], index: usize) -> Option<T> {
    let start = index.checked_mul(T::LEN)?;
    T::parse(table.get(start..)?)
}

/// Reads record `index` of `size` bytes from a table that starts at `table`. `None` if it
/// does not fit (only possible when a caller pairs a layout with the wrong bytes).
#[inline]
pub(crate) fn record<'a, T>(table: &'a [u8], index: usize, size: usize) -> Option<T>
where
    T: TryFromCtx<'a, Endian, Error = scroll::Error>,
{
    let start = index.checked_mul(size)?;
    table.pread_with::<T>(start, scroll::LE).ok()
}

/// Decodes the ABI byte used in rules and transitions.
pub(crate) const fn abi_from_u8(v: u8) -> Option<crate::syscall::Abi> {
    use crate::syscall::Abi;
    match v {
        0 => Some(Abi::X86_64),
        1 => Some(Abi::Ia32),
        2 => Some(Abi::X32),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_sizes_match_constants() {
        let mut buf = [0u8; 64];
        let h = RawHeader {
            magic: MAGIC,
            major: 1,
            minor: 2,
            total_len: 3,
            crc: 4,
            policy_id: 5,
            flags: 6,
            default_action: 1,
            section_count: 7,
            reserved0: 0,
            reserved1: 0,
        };
        assert_eq!(buf.pwrite_with(h, 0, scroll::LE).unwrap(), HEADER_LEN);
        assert_eq!(buf.pread_with::<RawHeader>(0, scroll::LE).unwrap(), h);
        assert_eq!(&buf[..4], b"SGPF");
        assert_eq!(&buf[CRC_OFFSET..CRC_OFFSET + 4], &4u32.to_le_bytes());

        let s = RawSection { kind: 3, flags: 1, offset: 0x40, len: 9 };
        assert_eq!(buf.pwrite_with(s, 0, scroll::LE).unwrap(), DIR_ENTRY_LEN);
        assert_eq!(buf.pread_with::<RawSection>(0, scroll::LE).unwrap(), s);

        let r = RawRule { abi: 1, flags: RULE_SITE, invariant: 7, nr: 59, site: 0x401000 };
        assert_eq!(buf.pwrite_with(r, 0, scroll::LE).unwrap(), RULE_LEN);
        assert_eq!(buf.pread_with::<RawRule>(0, scroll::LE).unwrap(), r);

        let i = RawInvariant {
            id: 9,
            code_offset: 8,
            code_len: 7,
            max_stack: 6,
            flags: 0,
            name_offset: 5,
            name_len: 4,
            reserved: 0,
        };
        assert_eq!(buf.pwrite_with(i, 0, scroll::LE).unwrap(), INVARIANT_LEN);
        assert_eq!(buf.pread_with::<RawInvariant>(0, scroll::LE).unwrap(), i);

        let c = RawConst { kind: CONST_SET, reserved: [0; 3], offset: 16, len: 2 };
        assert_eq!(buf.pwrite_with(c, 0, scroll::LE).unwrap(), CONST_ENTRY_LEN);
        assert_eq!(buf.pread_with::<RawConst>(0, scroll::LE).unwrap(), c);

        let a = RawAutomaton { states: 3, initial: 1, transitions: 2, reserved: 0 };
        assert_eq!(buf.pwrite_with(a, 0, scroll::LE).unwrap(), AUTOMATON_HEADER_LEN);
        assert_eq!(buf.pread_with::<RawAutomaton>(0, scroll::LE).unwrap(), a);

        let t = RawTransition { from: 1, abi: 0, reserved: [0; 3], nr: 2, to: 0 };
        assert_eq!(buf.pwrite_with(t, 0, scroll::LE).unwrap(), TRANSITION_LEN);
        assert_eq!(buf.pread_with::<RawTransition>(0, scroll::LE).unwrap(), t);
    }

    #[test]
    fn hot_path_parsers_agree_with_scroll() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut buf = [0u8; 24];
        for _ in 0..20_000 {
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            assert_eq!(hot::<RawRule>(&buf, 0), buf.pread_with::<RawRule>(0, scroll::LE).ok());
            assert_eq!(hot::<RawInvariant>(&buf, 0), buf.pread_with::<RawInvariant>(0, scroll::LE).ok());
            assert_eq!(hot::<RawConst>(&buf, 0), buf.pread_with::<RawConst>(0, scroll::LE).ok());
            assert_eq!(hot::<RawTransition>(&buf, 0), buf.pread_with::<RawTransition>(0, scroll::LE).ok());
            assert_eq!(hot::<RawConst>(&buf, 1), buf.pread_with::<RawConst>(12, scroll::LE).ok());
            assert_eq!(hot::<RawConst>(&buf, 2), None);
            let r = hot::<RawRule>(&buf, 0).unwrap();
            assert_eq!(rule_key_at(&buf, 0), Some(r.key()));
        }
        assert_eq!(hot::<RawRule>(&buf, usize::MAX), None);
    }

    #[test]
    fn packed_rule_key_orders_like_the_tuple() {
        let samples = [(0u8, 0u32, false, 0u64), (0, 0, false, u64::MAX), (0, 0, true, 0), (0, 1, false, 0), (0, u32::MAX, true, u64::MAX), (1, 0, false, 0), (2, 5, true, 7), (255, u32::MAX, true, u64::MAX)];
        for a in samples {
            for b in samples {
                assert_eq!(rule_key(a.0, a.1, a.2, a.3).cmp(&rule_key(b.0, b.1, b.2, b.3)), a.cmp(&b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn short_input_is_an_error_not_a_panic() {
        let buf = [0u8; 15];
        assert!(buf.pread_with::<RawRule>(0, scroll::LE).is_err());
        assert!(record::<RawRule>(&buf, 0, RULE_LEN).is_none());
        assert!(record::<RawRule>(&buf, usize::MAX, RULE_LEN).is_none());
    }

    #[test]
    fn section_kinds_round_trip() {
        for v in 0..20u16 {
            match SectionKind::from_u16(v) {
                Some(k) => {
                    assert_eq!(k as u16, v);
                    assert!(k.slot() < SectionKind::COUNT);
                }
                None => assert!(v == 0 || v > 7),
            }
        }
        assert_eq!(DefaultAction::from_u8(1), Some(DefaultAction::Deny));
        assert_eq!(DefaultAction::from_u8(2), None);
        assert_eq!(abi_from_u8(2), Some(crate::syscall::Abi::X32));
        assert_eq!(abi_from_u8(3), None);
    }
}
