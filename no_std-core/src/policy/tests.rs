//! Unit tests of the decoder and the `Policy` views on hand-built blobs (the per-variant
//! error enumeration lives in `tests/policy_errors.rs`).

use std::vec::Vec;

use super::decode::blob_crc;
use super::format::*;
use super::*;
use crate::crc::crc32;

/// A blob with the given directory entries and body, header fields filled and checksummed.
fn blob(sections: &[(u16, u16, u32, u32)], total: usize, minor: u16) -> Vec<u8> {
    let mut b = std::vec![0u8; total];
    b[..4].copy_from_slice(&MAGIC);
    b[4..6].copy_from_slice(&FORMAT_MAJOR.to_le_bytes());
    b[6..8].copy_from_slice(&minor.to_le_bytes());
    b[8..12].copy_from_slice(&(total as u32).to_le_bytes());
    b[24] = DefaultAction::Deny as u8;
    b[25] = sections.len() as u8;
    for (i, &(kind, flags, off, len)) in sections.iter().enumerate() {
        let d = HEADER_LEN + i * DIR_ENTRY_LEN;
        b[d..d + 2].copy_from_slice(&kind.to_le_bytes());
        b[d + 2..d + 4].copy_from_slice(&flags.to_le_bytes());
        b[d + 4..d + 8].copy_from_slice(&off.to_le_bytes());
        b[d + 8..d + 12].copy_from_slice(&len.to_le_bytes());
    }
    fix(&mut b);
    b
}

fn fix(b: &mut [u8]) {
    let c = blob_crc(b);
    b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&c.to_le_bytes());
}

#[test]
fn checksum_is_zlib_crc32_with_the_field_zeroed() {
    let b = blob(&[], 32, 0);
    let mut z = b.clone();
    z[CRC_OFFSET..CRC_OFFSET + 4].fill(0);
    assert_eq!(u32::from_le_bytes(b[12..16].try_into().unwrap()), crc32(&z));
    assert_eq!(blob_crc(&b), crc32(&z));
}

#[test]
fn header_only_policy_decides_by_default_action() {
    let b = blob(&[], 32, 0);
    let p = Policy::decode(&b).unwrap();
    assert_eq!(p.default_action(), DefaultAction::Deny);
    assert_eq!((p.rule_count(), p.invariant_count()), (0, 0));
    assert!(p.matching_rules(crate::syscall::Abi::X86_64, 0, 0).is_empty());
    assert!(p.constants().is_empty());
    assert!(p.automaton().is_none());
    assert!(!p.has_rules_for(crate::syscall::Abi::X86_64));
}

#[test]
fn newer_minor_versions_are_accepted() {
    let b = blob(&[], 32, 7);
    assert_eq!(Policy::decode(&b).unwrap().version(), (1, 7));
}

#[test]
fn empty_and_unknown_optional_sections() {
    // Directory of 3 entries ends at 68 → sections from 72. A zero-length section may sit
    // anywhere valid, even at the start of another section.
    let b = blob(&[(1, SECTION_REQUIRED, 72, 8), (6, 0, 72, 0), (300, 0, 80, 5)], 88, 0);
    let p = Policy::decode(&b).unwrap();
    assert_eq!(p.rule_count(), 0);
    // The unknown section must still lie inside the blob.
    let b = blob(&[(1, SECTION_REQUIRED, 72, 8), (300, 0, 80, 9)], 88, 0);
    assert_eq!(Policy::decode(&b).unwrap_err(), PolicyError::SectionOutOfBounds { kind: 300, offset: 80, len: 9 });
}

#[test]
fn span_overlap_rules() {
    let s = |off, len| Span { off, len };
    assert!(s(8, 8).overlaps(&s(12, 8)));
    assert!(s(12, 8).overlaps(&s(8, 8)));
    assert!(!s(8, 8).overlaps(&s(16, 8)));
    assert!(!s(8, 0).overlaps(&s(8, 8)));
    assert!(s(0, u32::MAX).overlaps(&s(u32::MAX - 1, u32::MAX)));
    assert_eq!(s(u32::MAX, u32::MAX).range_checked().map(|r| r.len()), Some(u32::MAX as usize));
    assert_eq!(s(4, 4).range(), 4..8);
}

#[test]
fn views_of_the_typical_example() {
    let mut buf = [0u8; 4096];
    let n = examples::typical(&mut buf).unwrap();
    let p = Policy::decode(&buf[..n]).unwrap();
    assert_eq!(p.policy_id(), 0x5e_6a_4d);
    assert!(p.deny_other_abis());
    assert_eq!(p.invariant_count(), 4);
    // Sorted by nr: write(1), open(2), execve(59), openat(257).
    let nrs: Vec<u32> = (0..p.rule_count()).map(|i| p.rule(i).unwrap().nr).collect();
    assert_eq!(nrs, [1, 2, 59, 257]);
    let w = p.invariant(2).unwrap();
    assert_eq!(w.id(), examples::ID_WRITE);
    assert_eq!(w.max_stack(), 2);
    let set = w.consts().set(1).unwrap();
    assert_eq!(set.iter().collect::<Vec<_>>(), examples::WRITE_SITES);
    assert_eq!(p.constants().bytes(0), Some(examples::GOOD_PATH));
    // The layout survives a copy of the bytes.
    let copy = buf;
    let q = p.layout().attach(&copy[..n]).unwrap();
    assert_eq!(q.invariant(2).unwrap().code(), w.code());
}

#[test]
fn decode_never_reads_outside_the_blob_for_huge_fields() {
    // Offsets and lengths near u32::MAX must fail cleanly.
    for (off, len) in [(!7u32, 8), (72, u32::MAX), (!7u32, u32::MAX)] {
        let b = blob(&[(1, SECTION_REQUIRED, off, len)], 80, 0);
        assert!(matches!(Policy::decode(&b), Err(PolicyError::SectionOutOfBounds { .. })), "{off:#x} {len:#x}");
    }
}
