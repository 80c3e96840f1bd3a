//! P's identity in the policy (format 1.1): the GNU build-id and where its note's descriptor
//! sits in P's image. Round trips, the encoder's minor version, compatibility with 1.0
//! decoders, and hostile identity sections (never a panic, always a precise error).

mod policy_support;

use policy_support::{identity_policy, identity_policy_with, Blob, BUILD_ID, NOTE_VADDR};
use semguard_core::policy::format::{
    SectionKind, FORMAT_MINOR, FORMAT_MINOR_WITHOUT_IDENTITY, IDENTITY_HEADER_LEN, MAX_BUILD_ID_LEN, SECTION_REQUIRED,
};
use semguard_core::policy::{
    DefaultAction, EncodeError, IdentitySpec, Policy, PolicyBuilder, PolicyError, RuleAction, RuleSpec,
};
use semguard_core::syscall::Abi;

#[test]
fn identity_round_trips() {
    let blob = identity_policy();
    let p = Policy::decode(&blob).unwrap();
    let id = p.identity().expect("identity recorded");
    assert_eq!(id.build_id(), &BUILD_ID[..]);
    assert_eq!(id.note_vaddr(), NOTE_VADDR);
    assert!(!id.relative());
    assert_eq!(p.version(), (1, FORMAT_MINOR));
    assert_eq!(FORMAT_MINOR, 1);
    // The other sections are unaffected.
    assert_eq!(p.kernel_profile(), Some(&[9u8, 8, 7][..]));
    assert_eq!(p.rule(0).unwrap().action, RuleAction::Allow);
    assert_eq!(p.default_action(), DefaultAction::Deny);
    // The layout re-attaches with its identity.
    let again = p.layout().attach(&blob).unwrap();
    assert_eq!(again.identity(), p.identity());

    for (len, vaddr, relative) in [(1usize, 0u64, false), (MAX_BUILD_ID_LEN, u64::MAX, true), (16, 0x2b4, true)] {
        let bid: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37) ^ 0xa5).collect();
        let blob = identity_policy_with(&bid, vaddr, relative);
        let p = Policy::decode(&blob).unwrap();
        let id = p.identity().unwrap();
        assert_eq!((id.build_id(), id.note_vaddr(), id.relative()), (&bid[..], vaddr, relative));
        assert_eq!(id.entry(), if relative { policy_support::PIE_ENTRY } else { 0 });
    }
}

#[test]
fn without_identity_the_blob_is_format_1_0() {
    let rules = [RuleSpec { abi: Abi::X86_64, nr: 0, site: None, action: RuleAction::Allow }];
    let b = PolicyBuilder { rules: &rules, ..PolicyBuilder::new(0x1d, DefaultAction::Deny) };
    let mut out = vec![0u8; b.encoded_len().unwrap()];
    b.encode(&mut out).unwrap();
    let p = Policy::decode(&out).unwrap();
    assert!(p.identity().is_none());
    assert_eq!(p.version(), (1, FORMAT_MINOR_WITHOUT_IDENTITY));
    assert_eq!(FORMAT_MINOR_WITHOUT_IDENTITY, 0);
    assert!(!format!("{:?}", p.layout()).contains("identity"));
    // With an identity: one more section, minor 1, and the layout says where it is.
    let with = identity_policy();
    let p = Policy::decode(&with).unwrap();
    assert!(format!("{:?}", p.layout()).contains("identity: IdentityLayout"));
}

#[test]
fn a_1_0_decoder_skips_the_identity_section() {
    let mut b = Blob(identity_policy());
    let (dir, off, len) = b.section(SectionKind::Identity);
    assert_eq!(len, IDENTITY_HEADER_LEN + BUILD_ID.len());
    assert_eq!(off % 8, 0);
    // Optional: a decoder that does not know kind 8 (1.0) skips it instead of rejecting.
    assert_eq!(b.u16_at(dir + 2) & SECTION_REQUIRED, 0);
    b.put(dir, &200u16.to_le_bytes()).fix_crc();
    let p = b.decode().unwrap();
    assert!(p.identity().is_none());
    assert_eq!(p.kernel_profile(), Some(&[9u8, 8, 7][..]));
}

#[test]
fn the_encoder_refuses_bad_build_ids() {
    let mut out = vec![0u8; 1 << 17];
    let big = vec![7u8; 70_000];
    for (bid, len) in [(&[][..], 0u16), (&[1u8; 65][..], 65), (&big[..], u16::MAX)] {
        let b = PolicyBuilder {
            identity: Some(IdentitySpec { build_id: bid, note_vaddr: 0x400000, relative: false, entry: 0 }),
            ..PolicyBuilder::new(1, DefaultAction::Allow)
        };
        assert_eq!(b.encode(&mut out), Err(EncodeError::Invalid(PolicyError::IdentityBadBuildIdLen { len })));
    }
}

#[test]
fn malformed_identity_sections_are_rejected_precisely() {
    let base = || Blob(identity_policy());
    let (dir, at, len) = base().section(SectionKind::Identity);
    let decode_err = |b: &Blob| b.decode().map(|_| ()).unwrap_err();

    // Zero length, too long (above 64, and the longest the field can say).
    for (bad, want) in [(0u16, 0u16), (65, 65), (u16::MAX, u16::MAX)] {
        let mut b = base();
        b.put(at + 4, &bad.to_le_bytes()).fix_crc();
        assert_eq!(decode_err(&b), PolicyError::IdentityBadBuildIdLen { len: want });
    }
    // A length field that disagrees with the section (longer and shorter build-id).
    for bad in [21u16, 1] {
        let mut b = base();
        b.put(at + 4, &bad.to_le_bytes()).fix_crc();
        assert_eq!(decode_err(&b), PolicyError::IdentityLengthMismatch { build_id_len: bad, len: len as u32 });
    }
    // Reserved fields and unknown flags, each byte of them.
    for i in 0..2 {
        let mut b = base();
        b.put(at + 6 + i, &[0x80]).fix_crc();
        assert_eq!(decode_err(&b), PolicyError::ReservedNonZero { offset: at + 6 });
    }
    // `entry`: unused (0) for an absolute identity, required for a relative one.
    for i in 0..8 {
        let mut b = base();
        b.put(at + 16 + i, &[1]).fix_crc();
        let entry = 1u64 << (8 * i);
        assert_eq!(decode_err(&b), PolicyError::IdentityBadEntry { entry, relative: false });
    }
    let mut b = base();
    b.put(at, &1u32.to_le_bytes()).fix_crc();
    assert_eq!(decode_err(&b), PolicyError::IdentityBadEntry { entry: 0, relative: true });
    for bit in 1..32 {
        let mut b = base();
        b.put(at, &(1u32 << bit).to_le_bytes()).fix_crc();
        assert_eq!(decode_err(&b), PolicyError::IdentityUnknownFlags { flags: 1 << bit });
    }
    // Shorter than the fixed part.
    for short in [0u32, 1, 23] {
        let mut b = base();
        b.put(dir + 8, &short.to_le_bytes()).fix_crc();
        assert_eq!(decode_err(&b), PolicyError::SectionTooShort { section: SectionKind::Identity, len: short });
    }
    // A second identity section: the kernel profile's entry renamed to identity.
    let mut b = base();
    let (profile_dir, _, _) = b.section(SectionKind::KernelProfile);
    b.put(profile_dir, &(SectionKind::Identity as u16).to_le_bytes()).fix_crc();
    assert_eq!(decode_err(&b), PolicyError::DuplicateSection { kind: SectionKind::Identity as u16 });
    // Marked required: fine for a decoder that knows it.
    let mut b = base();
    b.put(dir + 2, &SECTION_REQUIRED.to_le_bytes()).fix_crc();
    assert!(b.decode().unwrap().identity().is_some());
    // Every message says what is wrong (they go into kernel log lines).
    let e = PolicyError::IdentityLengthMismatch { build_id_len: 19, len: 44 };
    assert_eq!(e.to_string(), "identity section is 44 bytes, a 19-byte build-id needs 43");
    assert_eq!(
        PolicyError::IdentityBadBuildIdLen { len: 65 }.to_string(),
        "identity: build-id of 65 bytes (must be 1 to 64)"
    );
    assert_eq!(PolicyError::IdentityUnknownFlags { flags: 6 }.to_string(), "identity: unknown flags 0x6");
}

/// Hostile identity sections: random edits of the section and its directory entry (checksum
/// repaired), and every truncation. Never a panic; whatever decodes has a well-formed identity
/// inside the blob.
#[test]
fn hostile_identity_sections_never_panic() {
    let base = identity_policy();
    let (dir, at, len) = Blob(base.clone()).section(SectionKind::Identity);
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut accepted = 0;
    for _ in 0..20_000 {
        let mut b = Blob(base.clone());
        for _ in 0..1 + rnd() % 4 {
            let r = rnd();
            // Mostly the section itself, sometimes its directory entry.
            let pos = if r % 4 == 0 { dir + (r >> 8) as usize % 12 } else { at + (r >> 8) as usize % len };
            b.0[pos] ^= (r >> 32) as u8 | 1;
        }
        b.fix_crc();
        if let Ok(p) = b.decode() {
            accepted += 1;
            if let Some(id) = p.identity() {
                assert!((1..=MAX_BUILD_ID_LEN).contains(&id.build_id().len()));
                let _ = (id.note_vaddr(), id.relative());
            }
        }
    }
    // Edits of the build-id bytes and the address are valid policies.
    assert!(accepted > 0);
    for n in 0..base.len() {
        let mut cut = base[..n].to_vec();
        if cut.len() >= 16 {
            cut[8..12].copy_from_slice(&(n as u32).to_le_bytes());
        }
        let mut b = Blob(cut);
        if n >= 16 {
            b.fix_crc();
        }
        // Past the section's end only the encoder's zero padding is cut, which is allowed.
        assert_eq!(b.decode().is_ok(), n >= at + len && n >= 16, "{n}-byte prefix");
    }
}
