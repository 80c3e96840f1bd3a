//! Every `PolicyError` variant is produced by the decoder from some blob, each with the exact
//! location it reports. Blobs are valid policies edited in one place (checksum recomputed,
//! except where the checksum itself is under test).

mod policy_support;

use std::collections::BTreeSet;

use policy_support::{full_policy, identity_policy, Blob};
use semguard_core::policy::format::{SectionKind, NO_INVARIANT, SECTION_REQUIRED};
use semguard_core::policy::op::opcode as o;
use semguard_core::policy::{
    class_bitmap, ConstKind, ConstSpec, DefaultAction, EncodeError, InvariantSpec, PolicyBuilder, PolicyError, RuleAction, RuleSpec,
};
use semguard_core::syscall::Abi;

fn full() -> Blob {
    Blob(full_policy())
}

/// A policy with one invariant whose code bytes are exactly `raw` (possibly invalid), the
/// constants c0 = "ab", c1 = {1, 2}, c2 = "a\0b", c3 = 300 × "x", c4 = the class [a-z], and a
/// declared stack depth of 32.
fn with_code(raw: &[u8]) -> Blob {
    // A valid placeholder of the same length: `nr` then `note`s (or a lone `nr`).
    let mut placeholder = vec![o::NR];
    placeholder.resize(raw.len().max(1), o::NOTE);
    let invs = [InvariantSpec { id: 1, name: "x", code: &placeholder }];
    let rules = [RuleSpec { abi: Abi::X86_64, nr: 1, site: None, action: RuleAction::Check(0) }];
    let long = [b'x'; 300];
    let class = class_bitmap(&[(b'a', b'z')]);
    let consts = [
        ConstSpec::Bytes(b"ab"),
        ConstSpec::Set(&[1, 2]),
        ConstSpec::Bytes(b"a\0b"),
        ConstSpec::Bytes(&long),
        ConstSpec::Class(&class),
    ];
    let b = PolicyBuilder { rules: &rules, invariants: &invs, constants: &consts, ..PolicyBuilder::new(1, DefaultAction::Allow) };
    let mut out = vec![0u8; b.encoded_len().unwrap()];
    b.encode(&mut out).unwrap();
    let mut blob = Blob(out);
    let code_at = blob.section(SectionKind::Bytecode).1;
    blob.put(code_at, raw);
    let inv = blob.record(SectionKind::Invariants, 0);
    blob.put(inv + 8, &(raw.len() as u16).to_le_bytes()).put(inv + 10, &[32]);
    blob.fix_crc();
    blob
}

fn edit(f: impl FnOnce(&mut Blob)) -> Blob {
    let mut b = full();
    f(&mut b);
    b.fix_crc();
    b
}

fn cases() -> Vec<(&'static str, Blob, PolicyError)> {
    use PolicyError::*;
    let base = full();
    let total = base.0.len();
    let (rules_dir, rules_off, rules_len) = base.section(SectionKind::Rules);
    let (inv_dir, _, _) = base.section(SectionKind::Invariants);
    let (_, _, code_len) = base.section(SectionKind::Bytecode);
    let (consts_dir, consts_off, _) = base.section(SectionKind::Constants);
    let (_, auto_off, _) = base.section(SectionKind::Automaton);
    let (_, _, strings_len) = base.section(SectionKind::Strings);
    let rule = |i| base.record(SectionKind::Rules, i);
    let inv = |i| base.record(SectionKind::Invariants, i);
    let cst = |i| base.record(SectionKind::Constants, i);
    let trans = |i| base.record(SectionKind::Automaton, i);
    let const_data = |i: usize| consts_off + base.u32_at(cst(i) + 4) as usize;
    let inv1_depth = 2u8; // `write.count` pushes two values

    let mut v: Vec<(&'static str, Blob, PolicyError)> = vec![
        ("too short", Blob(base.0[..31].to_vec()), TooShort { len: 31 }),
        ("magic", { let mut b = full(); b.put(0, b"XGPF"); b }, BadMagic { found: *b"XGPF" }),
        ("major", edit(|b| { b.put(4, &2u16.to_le_bytes()); }), UnsupportedVersion { major: 2, minor: 0 }),
        ("length", { let mut b = full(); b.0.push(0); b }, LengthMismatch { declared: total as u32, actual: total + 1 }),
        ("reserved header", edit(|b| { b.put(26, &[1]); }), ReservedNonZero { offset: 26 }),
        ("reserved header 2", edit(|b| { b.put(31, &[1]); }), ReservedNonZero { offset: 28 }),
        ("flags", edit(|b| { b.put(20, &6u32.to_le_bytes()); }), UnknownPolicyFlags { flags: 6 }),
        ("default action", edit(|b| { b.put(24, &[2]); }), BadDefaultAction { value: 2 }),
        ("section count", edit(|b| { b.put(25, &[17]); }), TooManySections { count: 17 }),
        ("section len", edit(|b| { b.put(rules_dir + 8, &(total as u32).to_le_bytes()); }),
            SectionOutOfBounds { kind: 1, offset: rules_off as u32, len: total as u32 }),
        ("section misaligned", edit(|b| { b.put(rules_dir + 4, &(rules_off as u32 + 4).to_le_bytes()); }),
            SectionMisaligned { kind: 1, offset: rules_off as u32 + 4 }),
        ("section in header", edit(|b| { b.put(rules_dir + 4, &8u32.to_le_bytes()); }),
            SectionOverlapsHeader { kind: 1, offset: 8 }),
        ("section overlap", edit(|b| { b.put(inv_dir + 4, &(rules_off as u32).to_le_bytes()); }),
            SectionOverlap { kind: 2, other: 1 }),
        ("duplicate", edit(|b| { b.put(inv_dir, &1u16.to_le_bytes()); }), DuplicateSection { kind: 1 }),
        ("section flags", edit(|b| { b.put(rules_dir + 2, &2u16.to_le_bytes()); }), UnknownSectionFlags { kind: 1, flags: 2 }),
        ("unknown required", edit(|b| { b.put(consts_dir, &99u16.to_le_bytes()); }), UnknownRequiredSection { kind: 99 }),
        ("section too short", edit(|b| { b.put(rules_dir + 8, &4u32.to_le_bytes()); }),
            SectionTooShort { section: SectionKind::Rules, len: 4 }),
        ("table size", edit(|b| { b.put(rules_off, &100u32.to_le_bytes()); }),
            TableSizeMismatch { section: SectionKind::Rules, count: 100, len: rules_len as u32 }),
        ("reserved table", edit(|b| { b.put(rules_off + 4, &[1]); }), ReservedNonZero { offset: rules_off + 4 }),
        ("too many constants", edit(|b| { b.put(consts_off, &0x1_0000u32.to_le_bytes()); }),
            TooManyEntries { section: SectionKind::Constants, count: 0x1_0000 }),
        // Rules (sorted: abi 0 nr 0 read, nr 1 write ×2 + site, nr 2 open, nr 3 close, 39, 59, then abi 1).
        ("rule abi", edit(|b| { b.put(rule(8), &[3]); }), RuleBadAbi { rule: 8, abi: 3 }),
        ("rule flags", edit(|b| { b.put(rule(0) + 1, &[4]); }), RuleUnknownFlags { rule: 0, flags: 4 }),
        ("rule site", edit(|b| { b.put(rule(0) + 8, &5u64.to_le_bytes()); }), RuleSiteWithoutFlag { rule: 0 }),
        ("allow with invariant", edit(|b| { b.put(rule(3) + 2, &0u16.to_le_bytes()); }),
            RuleAllowWithInvariant { rule: 3, invariant: 0 }),
        ("rule invariant", edit(|b| { b.put(rule(0) + 2, &6u16.to_le_bytes()); }),
            RuleInvariantOutOfRange { rule: 0, invariant: 6 }),
        ("rule invariant none", edit(|b| { b.put(rule(0) + 2, &NO_INVARIANT.to_le_bytes()); }),
            RuleInvariantOutOfRange { rule: 0, invariant: NO_INVARIANT }),
        ("rules order", edit(|b| { b.put(rule(0) + 4, &7u32.to_le_bytes()); }), RulesNotSorted { rule: 1 }),
        // Invariants.
        ("code range", edit(|b| { b.put(inv(0) + 4, &(code_len as u32).to_le_bytes()); }),
            CodeOutOfRange { invariant: 0, offset: code_len as u32, len: base.u16_at(inv(0) + 8) }),
        ("empty code", edit(|b| { b.put(inv(2) + 8, &0u16.to_le_bytes()); }), EmptyCode { invariant: 2 }),
        ("name range", edit(|b| { b.put(inv(1) + 12, &(strings_len as u32).to_le_bytes()); }),
            NameOutOfRange { invariant: 1, offset: strings_len as u32, len: base.u16_at(inv(1) + 16) }),
        ("name offset without length", edit(|b| { b.put(inv(1) + 12, &1u32.to_le_bytes()).put(inv(1) + 16, &[0, 0]); }),
            NameOutOfRange { invariant: 1, offset: 1, len: 0 }),
        ("name not text", edit(|b| { let (_, s, _) = b.section(SectionKind::Strings); b.put(s, &[0xFF]); }),
            NameNotText { invariant: 0 }),
        ("name control char", edit(|b| { let (_, s, _) = b.section(SectionKind::Strings); b.put(s, b"\n"); }),
            NameNotText { invariant: 0 }),
        ("invariant flags", edit(|b| { b.put(inv(0) + 11, &[1]); }), ReservedNonZero { offset: inv(0) + 11 }),
        ("invariant reserved", edit(|b| { b.put(inv(0) + 19, &[1]); }), ReservedNonZero { offset: inv(0) + 18 }),
        ("declared depth", edit(|b| { b.put(inv(1) + 10, &[33]); }), DeclaredStackTooDeep { invariant: 1, declared: 33 }),
        ("depth deeper", edit(|b| { b.put(inv(1) + 10, &[1]); }),
            StackDeeperThanDeclared { invariant: 1, declared: 1, computed: inv1_depth }),
        // Constants (c0 "/srv/data", c1 set, c2 "a\0b", c3 set).
        ("const kind", edit(|b| { b.put(cst(0), &[4]); }), ConstBadKind { index: 0, kind: 4 }),
        ("class length", edit(|b| { b.put(cst(0), &[3]); }), ClassBadLength { index: 0, len: 9 }),
        ("const reserved", edit(|b| { b.put(cst(1) + 2, &[1]); }), ReservedNonZero { offset: cst(1) + 1 }),
        ("const bounds", edit(|b| { b.put(cst(0) + 4, &0xFFFFu32.to_le_bytes()); }),
            ConstOutOfBounds { index: 0, offset: 0xFFFF, len: 9 }),
        ("const misaligned", edit(|b| { let off = b.u32_at(cst(1) + 4) + 4; b.put(cst(1) + 4, &off.to_le_bytes()); }),
            ConstMisaligned { index: 1, offset: base.u32_at(cst(1) + 4) + 4 }),
        ("const too long", edit(|b| { b.put(cst(0) + 8, &5000u32.to_le_bytes()); }), ConstTooLong { index: 0, len: 5000 }),
        ("set order", edit(|b| { b.put(const_data(1), &u64::MAX.to_le_bytes()); }), SetNotSorted { index: 1, position: 1 }),
        ("set duplicate", edit(|b| { b.put(const_data(3) + 8, &0u64.to_le_bytes()); }), SetNotSorted { index: 3, position: 1 }),
        // Automaton.
        ("no states", edit(|b| { b.put(auto_off, &0u32.to_le_bytes()); }), AutomatonNoStates),
        ("initial", edit(|b| { b.put(auto_off + 4, &3u32.to_le_bytes()); }), AutomatonBadInitial { initial: 3, states: 3 }),
        ("automaton reserved", edit(|b| { b.put(auto_off + 12, &[1]); }), ReservedNonZero { offset: auto_off + 12 }),
        ("automaton size", edit(|b| { b.put(auto_off + 8, &9u32.to_le_bytes()); }),
            TableSizeMismatch { section: SectionKind::Automaton, count: 9, len: 16 + 5 * 16 }),
        ("transition state", edit(|b| { b.put(trans(2) + 12, &7u32.to_le_bytes()); }),
            TransitionBadState { transition: 2, state: 7 }),
        ("transition abi", edit(|b| { b.put(trans(0) + 4, &[5]); }), TransitionBadAbi { transition: 0, abi: 5 }),
        ("transition reserved", edit(|b| { b.put(trans(0) + 6, &[5]); }), ReservedNonZero { offset: trans(0) + 5 }),
        ("transition duplicate", edit(|b| { let t0 = b.0[trans(0)..trans(0) + 12].to_vec(); let t1 = trans(1); b.put(t1, &t0); }),
            TransitionsNotSorted { transition: 1 }),
        // Bytecode, through a one-invariant policy with constants c0 "ab", c1 {1,2}, c2 "a\0b".
        ("opcode", with_code(&[0xEE]), BadOpcode { invariant: 0, at: 0, opcode: 0xEE }),
        ("truncated", with_code(&[o::NR, o::PUSH64, 1]), TruncatedInstruction { invariant: 0, at: 1 }),
        ("arg index", with_code(&[o::ARG, 6]), BadArgIndex { invariant: 0, at: 0, index: 6 }),
        ("register", with_code(&[o::REG, 200]), BadRegister { invariant: 0, at: 0, reg: 200 }),
        ("ext width", with_code(&[o::NR, o::ZEXT, 64]), BadExtendWidth { invariant: 0, at: 1, bits: 64 }),
        ("strlen bound", with_code(&[o::NR, o::STRLEN, 0, 0]), BadStrlenBound { invariant: 0, at: 1, max: 0 }),
        ("contains bound", with_code(&[o::NR, o::STR_CONTAINS, 0, 0, 0x01, 0x10]),
            BadStrlenBound { invariant: 0, at: 1, max: 0x1001 }),
        ("class bound", with_code(&[o::NR, o::STR_CLASS, 4, 0, 0, 0]), BadStrlenBound { invariant: 0, at: 1, max: 0 }),
        ("jump range", with_code(&[o::NR, o::JMP, 9, 0]), JumpOutOfRange { invariant: 0, at: 1, target: 13 }),
        ("jump boundary", with_code(&[o::NR, o::JNZ, 1, 0, o::PUSH8, 1]), JumpNotOnBoundary { invariant: 0, at: 1, target: 5 }),
        ("underflow", with_code(&[o::NR, o::BIN_FIRST]), StackUnderflow { invariant: 0, at: 1 }),
        ("overflow", with_code(&[o::NR; 33]), StackOverflow { invariant: 0, at: 32 }),
        ("merge", with_code(&[o::NR, o::NR, o::JZ, 1, 0, o::DROP]), StackMismatch { invariant: 0, at: 6, expected: 1, found: 0 }),
        ("unreachable", with_code(&[o::DENY, o::NR]), UnreachableCode { invariant: 0, at: 1 }),
        ("end depth", with_code(&[o::NR, o::NR]), BadEndDepth { invariant: 0, depth: 2 }),
        ("pending jumps", with_code(&pending_jumps(33)), TooManyPendingJumps { invariant: 0, at: 32 * 4 + 1 }),
        ("const index", with_code(&[o::NR, o::STR_EQ, 5, 0]), ConstIndexOutOfRange { invariant: 0, at: 1, index: 5 }),
        ("const kind use", with_code(&[o::NR, o::IN_SET, 0, 0]),
            ConstKindMismatch { invariant: 0, at: 1, index: 0, expected: ConstKind::Set }),
        ("nul in string", with_code(&[o::NR, o::STR_EQ, 2, 0]), StringConstHasNul { invariant: 0, at: 1, index: 2 }),
        ("nul in suffix", with_code(&[o::NR, o::STR_SUFFIX, 2, 0, 8, 0]), StringConstHasNul { invariant: 0, at: 1, index: 2 }),
        ("class kind", with_code(&[o::NR, o::STR_CLASS, 0, 0, 8, 0]),
            ConstKindMismatch { invariant: 0, at: 1, index: 0, expected: ConstKind::Class }),
        ("contains kind", with_code(&[o::NR, o::STR_CONTAINS, 4, 0, 8, 0]),
            ConstKindMismatch { invariant: 0, at: 1, index: 4, expected: ConstKind::Bytes }),
        ("match too long", with_code(&[o::NR, o::STR_CONTAINS, 3, 0, 8, 0]),
            MatchConstTooLong { invariant: 0, at: 1, index: 3, len: 300 }),
        // contains "ab" at bound 4096 costs 1 + 4097 × 3: eleven of them are too many.
        ("contains cost", with_code(&costly_contains()), InvariantTooCostly { invariant: 0, cost: 1 + 11 * (1 + 4097 * 3) }),
        ("cost", with_code(&costly()), InvariantTooCostly { invariant: 0, cost: 1 + 40 * (1 + 4097) }),
    ];

    // Checksum: a flipped payload bit without fixing the CRC.
    let mut b = full();
    let stored = b.u32_at(12);
    let last = b.0.len() - 1;
    b.0[last] ^= 1;
    let computed = { let mut c = b.clone(); c.fix_crc(); c.u32_at(12) };
    v.push(("checksum", b, ChecksumMismatch { stored, computed }));

    // Directory past the end: an empty policy is too short for 16 directory entries.
    let empty = PolicyBuilder::new(1, DefaultAction::Allow);
    let mut out = vec![0u8; empty.encoded_len().unwrap()];
    empty.encode(&mut out).unwrap();
    let mut b = Blob(out);
    b.put(25, &[16]).fix_crc();
    v.push(("directory", b, DirectoryOutOfBounds { end: 32 + 16 * 12 }));

    // Identity (format 1.1): build-id length, section length, flags.
    let id = || Blob(identity_policy());
    let id_at = id().section(SectionKind::Identity).1;
    let mut b = id();
    b.put(id_at + 4, &0u16.to_le_bytes()).fix_crc();
    v.push(("identity build-id empty", b, IdentityBadBuildIdLen { len: 0 }));
    let mut b = id();
    b.put(id_at + 4, &65u16.to_le_bytes()).fix_crc();
    v.push(("identity build-id too long", b, IdentityBadBuildIdLen { len: 65 }));
    let mut b = id();
    b.put(id_at + 4, &19u16.to_le_bytes()).fix_crc();
    v.push(("identity length", b, IdentityLengthMismatch { build_id_len: 19, len: 44 }));
    let mut b = id();
    b.put(id_at, &2u32.to_le_bytes()).fix_crc();
    v.push(("identity flags", b, IdentityUnknownFlags { flags: 2 }));
    let mut b = id();
    b.put(id_at + 16, &0x1040u64.to_le_bytes()).fix_crc();
    v.push(("identity absolute with an entry", b, IdentityBadEntry { entry: 0x1040, relative: false }));
    let mut b = id();
    b.put(id_at, &1u32.to_le_bytes()).fix_crc();
    v.push(("identity relative without an entry", b, IdentityBadEntry { entry: 0, relative: true }));
    v
}

/// `(nr; jnz L_i)` × n with n distinct forward targets past all the jumps, so n targets are
/// pending at once; the verifier stops at the jump that would need slot 33 (only the
/// pending-table limit is under test, so what the targets' depths would be is irrelevant).
fn pending_jumps(n: usize) -> Vec<u8> {
    let mut code = Vec::new();
    for i in 0..n {
        code.extend_from_slice(&[o::NR, o::JNZ]);
        let next = 4 * (i + 1);
        let target = 4 * n + 1 + (n - 1 - i);
        code.extend_from_slice(&((target - next) as u16).to_le_bytes());
    }
    code.push(o::NR);
    code.extend(std::iter::repeat_n(o::NOTE, n));
    code
}

fn costly_contains() -> Vec<u8> {
    let mut c = vec![o::NR];
    for _ in 0..11 {
        c.extend_from_slice(&[o::STR_CONTAINS, 0, 0, 0x00, 0x10]);
    }
    c
}

fn costly() -> Vec<u8> {
    let mut c = vec![o::NR];
    for _ in 0..40 {
        c.extend_from_slice(&[o::STRLEN, 0x00, 0x10]);
    }
    c
}

#[test]
fn the_base_blob_is_valid() {
    full().decode().unwrap();
    with_code(&[o::NR]).decode().unwrap();
    with_code(&[o::PUSH8, 1, o::STR_EQ, 0, 0]).decode().unwrap();
    with_code(&[o::NR, o::STR_CONTAINS, 0, 0, 0x00, 0x10]).decode().unwrap();
    with_code(&[o::NR, o::STR_SUFFIX, 0, 0, 0x00, 0x10]).decode().unwrap();
    with_code(&[o::NR, o::STR_CLASS, 4, 0, 0x00, 0x10]).decode().unwrap();
}

#[test]
fn every_variant_is_produced_with_its_location() {
    let mut seen = BTreeSet::new();
    for (what, blob, want) in cases() {
        let got = blob.decode().map(|_| ()).unwrap_err();
        assert_eq!(got, want, "case {what}");
        seen.insert(got.code());
        // Every error renders as a message (these go into kernel log lines).
        assert!(!got.to_string().is_empty());
    }
    let all: BTreeSet<u16> = (0..PolicyError::COUNT).collect();
    let missing: Vec<_> = all.difference(&seen).collect();
    assert!(missing.is_empty(), "variants never produced: {missing:?}");
}

#[test]
fn error_codes_are_distinct_and_dense() {
    // Codes are what the kernel logs; they must stay unique.
    let mut codes: Vec<u16> = cases().iter().map(|(_, _, e)| e.code()).collect();
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), PolicyError::COUNT as usize);
    assert_eq!(*codes.last().unwrap(), PolicyError::COUNT - 1);
}

#[test]
fn unknown_optional_sections_are_skipped() {
    let mut b = full();
    let (dir, _, _) = b.section(SectionKind::KernelProfile);
    // The profile section is optional (flags 0): renamed to a kind this decoder does not know,
    // the policy stays valid and the section is ignored.
    assert_eq!(b.u16_at(dir + 2) & SECTION_REQUIRED, 0);
    assert_eq!(b.decode().unwrap().kernel_profile(), Some(&[1u8, 2, 3, 4, 5][..]));
    b.put(dir, &200u16.to_le_bytes()).fix_crc();
    assert_eq!(b.decode().unwrap().kernel_profile(), None);
    // Names still need their string table: dropping it is an error, not a silent loss.
    let mut b = full();
    let (dir, _, _) = b.section(SectionKind::Strings);
    b.put(dir, &200u16.to_le_bytes()).fix_crc();
    assert!(matches!(b.decode(), Err(PolicyError::NameOutOfRange { invariant: 0, .. })));
}

#[test]
fn encoder_reports_the_decoder_error() {
    let invs = [InvariantSpec { id: 1, name: "x", code: &[o::NR, o::NR] }];
    let b = PolicyBuilder { invariants: &invs, ..PolicyBuilder::new(1, DefaultAction::Allow) };
    let mut out = [0u8; 512];
    assert_eq!(b.encode(&mut out), Err(EncodeError::Invalid(PolicyError::BadEndDepth { invariant: 0, depth: 2 })));
    let consts = [ConstSpec::Set(&[3, 1])];
    let b = PolicyBuilder { constants: &consts, ..PolicyBuilder::new(1, DefaultAction::Allow) };
    assert_eq!(b.encode(&mut out), Err(EncodeError::Invalid(PolicyError::SetNotSorted { index: 0, position: 1 })));
    let rules = [RuleSpec { abi: Abi::X86_64, nr: 1, site: None, action: RuleAction::Check(0) }];
    let b = PolicyBuilder { rules: &rules, ..PolicyBuilder::new(1, DefaultAction::Allow) };
    assert_eq!(
        b.encode(&mut out),
        Err(EncodeError::Invalid(PolicyError::RuleInvariantOutOfRange { rule: 0, invariant: 0 }))
    );
    let invs = [InvariantSpec { id: 1, name: "tab\there", code: &[o::NR] }];
    let b = PolicyBuilder { invariants: &invs, ..PolicyBuilder::new(1, DefaultAction::Allow) };
    assert_eq!(b.encode(&mut out), Err(EncodeError::Invalid(PolicyError::NameNotText { invariant: 0 })));
}
