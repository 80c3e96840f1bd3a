//! Wire layout of the policy binary format: constants and the fixed-size records. Each
//! record's layout is stated once, in its `le_record!` declaration below (`crate::wire`),
//! which also gives the one read (used by the decoder and by the per-syscall lookups alike)
//! and the one write (the encoder). The format is described in [`super`]; a test holds those
//! tables to these declarations.

use core::mem::offset_of;

use crate::wire::{le_record, nth, Le};

/// First four bytes of every policy blob.
pub const MAGIC: [u8; 4] = *b"SGPF";
/// Format major version this decoder understands. A different major is rejected.
pub const FORMAT_MAJOR: u16 = 1;
/// Newest format minor version this encoder writes. Minors only add optional sections, so a
/// decoder accepts any minor of its major. 1.1 added the identity section
/// ([`SectionKind::Identity`]).
///
/// New instructions and constant kinds do not change the minor: a decoder rejects an opcode
/// or a constant kind it does not know (`BadOpcode`, `ConstBadKind`), so a blob that uses them
/// fails to load on an older module instead of being misread, and a blob that does not use
/// them is byte for byte what the older encoder wrote. (`str_contains`, `str_suffix`,
/// `str_class` and [`CONST_CLASS`] came this way, within 1.1.)
pub const FORMAT_MINOR: u16 = 1;
/// Minor version of a blob without an identity section. The encoder writes the lowest minor
/// that has every section the blob uses, so a policy without identity is byte for byte what
/// 1.0 wrote.
pub const FORMAT_MINOR_WITHOUT_IDENTITY: u16 = 0;

/// Size of the fixed header.
pub const HEADER_LEN: usize = RawHeader::SIZE;
/// Byte offset of the CRC-32 field in the header (zeroed while computing the checksum).
pub const CRC_OFFSET: usize = offset_of!(RawHeader, crc);
/// Size of one section-directory entry.
pub const DIR_ENTRY_LEN: usize = RawSection::SIZE;
/// Most sections a blob may list.
pub const MAX_SECTIONS: usize = 16;
/// Every section starts at a multiple of this (from the start of the blob).
pub const SECTION_ALIGN: usize = 8;

/// Size of the count header at the start of the rules, invariants and constants sections.
pub const TABLE_HEADER_LEN: usize = RawTableHeader::SIZE;
/// Size of one rule record.
pub const RULE_LEN: usize = RawRule::SIZE;
/// Size of one invariant record.
pub const INVARIANT_LEN: usize = RawInvariant::SIZE;
/// Size of one constant-pool record.
pub const CONST_ENTRY_LEN: usize = RawConst::SIZE;
/// Size of the automaton section header.
pub const AUTOMATON_HEADER_LEN: usize = RawAutomaton::SIZE;
/// Size of one automaton transition record.
pub const TRANSITION_LEN: usize = RawTransition::SIZE;

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
/// Constant kind: a byte class, a 256-bit bitmap of [`CLASS_LEN`] bytes (bit `b % 8` of byte
/// `b / 8` set when byte value `b` is in the class), for `str_class`.
pub const CONST_CLASS: u8 = 3;
/// Length of a byte-class constant: one bit per byte value.
pub const CLASS_LEN: usize = 32;

/// Policy flag: a call made through an ABI for which the policy has no rule at all is a
/// violation, even when the default action is allow (an `int $0x80` call from a 64-bit P is
/// a classic way around a policy written for the 64-bit numbers).
pub const POLICY_DENY_OTHER_ABIS: u32 = 1 << 0;
/// All policy flags this version defines.
pub const POLICY_FLAGS_KNOWN: u32 = POLICY_DENY_OTHER_ABIS;

/// Longest byte-string constant (bounds the guest bytes one comparison reads).
pub const MAX_CONST_BYTES: usize = 4096;

/// Size of the identity section's fixed part; the build-id bytes follow it.
pub const IDENTITY_HEADER_LEN: usize = RawIdentity::SIZE;
/// Longest build-id the identity section holds (GNU ld writes 8, 16 (md5/uuid) or 20 (sha1)
/// bytes; `--build-id=0x…` up to what the linker allows). Bounds what a consumer reads from
/// P's image.
pub const MAX_BUILD_ID_LEN: usize = 64;
/// Identity flag: `note_vaddr`, every call site and every address of P's variables are
/// relative to the image's load base (a PIE, static or dynamic), which a consumer learns from
/// the kernel's copy of the process's auxiliary vector (`AT_ENTRY` − `entry`); without it the
/// addresses are absolute, as linked (static and non-PIE programs).
pub const IDENTITY_RELATIVE: u32 = 1 << 0;
/// All identity flags this version defines.
pub const IDENTITY_FLAGS_KNOWN: u32 = IDENTITY_RELATIVE;

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
    /// Constant pool: byte strings, u64 sets and byte classes.
    Constants = 4,
    /// Legal-trace automaton.
    Automaton = 5,
    /// Name/string table (invariant names for alerts).
    Strings = 6,
    /// Guest-kernel profile, opaque to this module.
    KernelProfile = 7,
    /// P's identity: its GNU build-id and where the note's descriptor sits in its image
    /// (format 1.1).
    Identity = 8,
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
            8 => Self::Identity,
            _ => return None,
        })
    }
    /// Index 0..COUNT for per-kind tables.
    pub(crate) const fn slot(self) -> usize {
        self as usize - 1
    }
    /// Number of kinds this version knows.
    pub(crate) const COUNT: usize = 8;
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

le_record! {
    /// The fixed header, as stored.
    pub(crate) struct RawHeader, size 32 {
        pub magic: [u8; 4] = 0,
        pub major: u16 = 4,
        pub minor: u16 = 6,
        pub total_len: u32 = 8,
        pub crc: u32 = 12,
        pub policy_id: u32 = 16,
        pub flags: u32 = 20,
        pub default_action: u8 = 24,
        pub section_count: u8 = 25,
        pub reserved0: u16 = 26,
        pub reserved1: u32 = 28,
    }
}

le_record! {
    /// One section-directory entry.
    pub(crate) struct RawSection, size 12 {
        pub kind: u16 = 0,
        pub flags: u16 = 2,
        pub offset: u32 = 4,
        pub len: u32 = 8,
    }
}

le_record! {
    /// The count header of the rules, invariants and constants sections.
    pub(crate) struct RawTableHeader, size 8 {
        pub count: u32 = 0,
        pub reserved: u32 = 4,
    }
}

le_record! {
    /// One rule record.
    pub(crate) struct RawRule, size 16 {
        pub abi: u8 = 0,
        pub flags: u8 = 1,
        pub invariant: u16 = 2,
        pub nr: u32 = 4,
        pub site: u64 = 8,
    }
}

impl RawRule {
    /// Sort key of the rules table: (abi, nr, site-specific, site). Any-site rules of a
    /// syscall come first, then its site-specific rules by ascending site.
    #[inline]
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
    nth::<RawRule>(table, i as usize).map(|r| r.key())
}

le_record! {
    /// One invariant record.
    pub(crate) struct RawInvariant, size 20 {
        pub id: u32 = 0,
        pub code_offset: u32 = 4,
        pub code_len: u16 = 8,
        pub max_stack: u8 = 10,
        pub flags: u8 = 11,
        pub name_offset: u32 = 12,
        pub name_len: u16 = 16,
        pub reserved: u16 = 18,
    }
}

le_record! {
    /// One constant-pool record.
    pub(crate) struct RawConst, size 12 {
        pub kind: u8 = 0,
        pub reserved: [u8; 3] = 1,
        pub offset: u32 = 4,
        pub len: u32 = 8,
    }
}

le_record! {
    /// The automaton section header.
    pub(crate) struct RawAutomaton, size 16 {
        pub states: u32 = 0,
        pub initial: u32 = 4,
        pub transitions: u32 = 8,
        pub reserved: u32 = 12,
    }
}

le_record! {
    /// One automaton transition record.
    pub(crate) struct RawTransition, size 16 {
        pub from: u32 = 0,
        pub abi: u8 = 4,
        pub reserved: [u8; 3] = 5,
        pub nr: u32 = 8,
        pub to: u32 = 12,
    }
}

le_record! {
    /// The fixed part of the identity section; `build_id_len` bytes of build-id follow it.
    pub(crate) struct RawIdentity, size 24 {
        pub flags: u32 = 0,
        pub build_id_len: u16 = 4,
        pub reserved0: u16 = 6,
        pub note_vaddr: u64 = 8,
        pub entry: u64 = 16,
    }
}

impl RawTransition {
    /// Sort key of the transition table; strictly ascending means deterministic.
    #[inline]
    pub(crate) fn key(&self) -> (u32, u8, u32) {
        (self.from, self.abi, self.nr)
    }
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

    use crate::wire::{assert_documented, read, write};

    #[test]
    fn header_fields_land_where_the_format_says() {
        let h = RawHeader {
            magic: MAGIC,
            major: 1,
            minor: 2,
            total_len: 3,
            crc: 0x0403_0201,
            policy_id: 5,
            flags: 6,
            default_action: 1,
            section_count: 7,
            reserved0: 0,
            reserved1: 0,
        };
        let mut buf = [0u8; 64];
        assert_eq!(write(&mut buf, 0, h), Some(()));
        assert_eq!(read::<RawHeader>(&buf, 0), Some(h));
        assert_eq!(&buf[..4], b"SGPF");
        assert_eq!(&buf[CRC_OFFSET..CRC_OFFSET + 4], &[1, 2, 3, 4]);
        assert_eq!(&buf[24..26], &[1, 7]);
        let r = RawRule { abi: 1, flags: RULE_SITE, invariant: 0x0302, nr: 0x0706_0504, site: 0x0f0e_0d0c_0b0a_0908 };
        assert_eq!(write(&mut buf, 0, r), Some(()));
        assert_eq!(&buf[..16], &[1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
        assert_eq!(write(&mut buf, 60, r), None);
    }

    /// Any bytes read as a record and written back are the same bytes (every record is a
    /// plain sequence of integers), and tables are indexed by record size.
    #[test]
    fn every_record_round_trips_any_bytes() {
        fn check<T: Le + PartialEq + core::fmt::Debug>(bytes: &[u8]) {
            let v: T = read(bytes, 0).unwrap();
            let mut out = [0u8; 64];
            assert_eq!(write(&mut out, 0, v), Some(()));
            assert_eq!(&out[..T::SIZE], &bytes[..T::SIZE]);
            assert_eq!(nth::<T>(bytes, 1), read(bytes, T::SIZE));
            assert_eq!(nth::<T>(bytes, bytes.len() / T::SIZE), None);
            assert_eq!(nth::<T>(bytes, usize::MAX), None);
        }
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut buf = [0u8; 40];
        for _ in 0..2_000 {
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            check::<RawHeader>(&buf);
            check::<RawSection>(&buf);
            check::<RawTableHeader>(&buf);
            check::<RawRule>(&buf);
            check::<RawInvariant>(&buf);
            check::<RawConst>(&buf);
            check::<RawAutomaton>(&buf);
            check::<RawTransition>(&buf);
            check::<RawIdentity>(&buf);
            let r: RawRule = nth(&buf, 1).unwrap();
            assert_eq!(rule_key_at(&buf, 1), Some(r.key()));
        }
    }

    /// The format tables in the module docs of `policy` list exactly the declared fields.
    #[test]
    fn format_docs_match_the_declared_layouts() {
        let docs = include_str!("mod.rs");
        let heading = |name: &str, size: usize| std::format!("## {name} ({size} bytes)");
        assert_documented(docs, &heading("Header", HEADER_LEN), RawHeader::FIELDS);
        assert_documented(docs, &heading("Section directory entry", DIR_ENTRY_LEN), RawSection::FIELDS);
        assert_documented(docs, &heading("Table header", TABLE_HEADER_LEN), RawTableHeader::FIELDS);
        assert_documented(docs, &heading("Rule", RULE_LEN), RawRule::FIELDS);
        assert_documented(docs, &heading("Invariant", INVARIANT_LEN), RawInvariant::FIELDS);
        assert_documented(docs, &heading("Constant record", CONST_ENTRY_LEN), RawConst::FIELDS);
        assert_documented(docs, &heading("Automaton header", AUTOMATON_HEADER_LEN), RawAutomaton::FIELDS);
        assert_documented(docs, &heading("Transition", TRANSITION_LEN), RawTransition::FIELDS);
        assert_documented(docs, &heading("Identity", IDENTITY_HEADER_LEN), RawIdentity::FIELDS);
    }

    #[test]
    fn packed_rule_key_orders_like_the_tuple() {
        let samples = [
            (0u8, 0u32, false, 0u64),
            (0, 0, false, u64::MAX),
            (0, 0, true, 0),
            (0, 1, false, 0),
            (0, u32::MAX, true, u64::MAX),
            (1, 0, false, 0),
            (2, 5, true, 7),
            (255, u32::MAX, true, u64::MAX),
        ];
        for a in samples {
            for b in samples {
                assert_eq!(rule_key(a.0, a.1, a.2, a.3).cmp(&rule_key(b.0, b.1, b.2, b.3)), a.cmp(&b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn short_input_is_an_error_not_a_panic() {
        let buf = [0u8; 15];
        assert!(read::<RawRule>(&buf, 0).is_none());
        assert!(nth::<RawRule>(&buf, 0).is_none());
        assert!(nth::<RawRule>(&buf, usize::MAX).is_none());
    }

    #[test]
    fn section_kinds_round_trip() {
        for v in 0..20u16 {
            match SectionKind::from_u16(v) {
                Some(k) => {
                    assert_eq!(k as u16, v);
                    assert!(k.slot() < SectionKind::COUNT);
                }
                None => assert!(v == 0 || v > 8),
            }
        }
        assert_eq!(DefaultAction::from_u8(1), Some(DefaultAction::Deny));
        assert_eq!(DefaultAction::from_u8(2), None);
        assert_eq!(abi_from_u8(2), Some(crate::syscall::Abi::X32));
        assert_eq!(abi_from_u8(3), None);
    }
}
