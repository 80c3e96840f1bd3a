//! Encode → decode → read back → evaluate, through the public API only.

mod policy_support;

use policy_support::*;
use semguard_core::eval::{evaluate, Verdict, ViolationKind};
use semguard_core::policy::op::Disassembler;
use semguard_core::policy::{
    AutomatonSpec, ConstKind, ConstSpec, DefaultAction, EncodeError, IdentitySpec, Insn, InvariantSpec, Policy, PolicyBuilder,
    RuleAction, RuleSpec, TransitionSpec,
};
use semguard_core::regs::Registers;
use semguard_core::syscall::{Abi, Syscall};

/// Rebuilds a builder's inputs from a decoded policy and encodes them again.
fn reencode(p: &Policy<'_>) -> Vec<u8> {
    let rules: Vec<RuleSpec> = (0..p.rule_count())
        .map(|i| {
            let r = p.rule(i).unwrap();
            RuleSpec { abi: r.abi, nr: r.nr, site: r.site, action: r.action }
        })
        .collect();
    let invs: Vec<InvariantSpec> = (0..p.invariant_count())
        .map(|i| {
            let inv = p.invariant(i).unwrap();
            InvariantSpec { id: inv.id(), name: inv.name().unwrap_or(""), code: inv.code() }
        })
        .collect();
    let pool = p.constants();
    let sets: Vec<Vec<u64>> =
        (0..pool.len()).map(|i| pool.set(i).map(|s| s.iter().collect()).unwrap_or_default()).collect();
    let consts: Vec<ConstSpec> = (0..pool.len())
        .map(|i| match pool.kind(i).unwrap() {
            ConstKind::Bytes => ConstSpec::Bytes(pool.bytes(i).unwrap()),
            ConstKind::Set => ConstSpec::Set(&sets[usize::from(i)]),
            ConstKind::Class => ConstSpec::Class(pool.class(i).unwrap().bits()),
        })
        .collect();
    let transitions: Vec<TransitionSpec> = p
        .automaton()
        .map(|a| {
            (0..a.transition_count())
                .map(|i| {
                    let t = a.transition(i).unwrap();
                    TransitionSpec { from: t.from, abi: t.abi, nr: t.nr, to: t.to }
                })
                .collect()
        })
        .unwrap_or_default();
    let b = PolicyBuilder {
        policy_id: p.policy_id(),
        default_action: p.default_action(),
        flags: p.flags(),
        rules: &rules,
        invariants: &invs,
        constants: &consts,
        automaton: p.automaton().map(|a| AutomatonSpec { states: a.states(), initial: a.initial(), transitions: &transitions }),
        kernel_profile: p.kernel_profile(),
        identity: p.identity().map(|i| IdentitySpec {
            build_id: i.build_id(),
            note_vaddr: i.note_vaddr(),
            relative: i.relative(),
            entry: i.entry(),
        }),
    };
    let mut out = vec![0u8; b.encoded_len().unwrap()];
    b.encode(&mut out).unwrap();
    out
}

#[test]
fn decode_then_reencode_is_byte_identical() {
    let blob = full_policy();
    let p = Policy::decode(&blob).unwrap();
    assert_eq!(reencode(&p), blob);
}

#[test]
fn header_fields_and_sections_read_back() {
    let blob = full_policy();
    let p = Policy::decode(&blob).unwrap();
    assert_eq!(p.policy_id(), 0xabcd);
    assert_eq!(p.version(), (1, 0));
    assert_eq!(p.default_action(), DefaultAction::Deny);
    assert!(p.deny_other_abis());
    assert!(p.has_rules_for(Abi::X86_64) && p.has_rules_for(Abi::Ia32) && !p.has_rules_for(Abi::X32));
    assert_eq!(p.kernel_profile(), Some(&[1u8, 2, 3, 4, 5][..]));
    assert_eq!(p.invariant_count(), 6);
    assert_eq!(p.rule_count(), 9);
    assert_eq!(p.bytes(), &blob[..]);
    assert_eq!(p.checksum(), u32::from_le_bytes(blob[12..16].try_into().unwrap()));
    let codes = full_codes();
    for i in 0..p.invariant_count() {
        let inv = p.invariant(i).unwrap();
        assert_eq!(inv.index(), i);
        assert_eq!(inv.id(), 10 + u32::from(i));
        assert_eq!(inv.code(), &codes[usize::from(i)][..]);
        assert!(inv.max_stack() >= 1 || inv.code() == [semguard_core::policy::op::opcode::DENY]);
        // Every verified invariant disassembles cleanly.
        assert!(Disassembler::new(inv.code()).all(|r| r.is_ok()));
    }
    assert_eq!(p.invariant(1).unwrap().name(), Some("write.count"));
    assert_eq!(p.invariant(1).unwrap().max_stack(), 2);
    assert!(p.invariant(6).is_none());
    assert!(p.rule(9).is_none());
    // Rules come back sorted by (abi, nr, site).
    let keys: Vec<_> = (0..p.rule_count()).map(|i| p.rule(i).unwrap()).map(|r| (r.abi, r.nr, r.site)).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    let a = p.automaton().unwrap();
    assert_eq!((a.states(), a.initial(), a.transition_count()), (3, 0, 5));
    assert_eq!(a.next(0, Abi::X86_64, NR_OPEN), Some(1));
    assert_eq!(a.next(1, Abi::X86_64, NR_CLOSE), Some(2));
    assert_eq!(a.next(0, Abi::X86_64, NR_READ), None);
    assert_eq!(a.next(1, Abi::Ia32, NR_READ), None);
    assert!(a.transition(5).is_none());
}

#[test]
fn matching_rules_site_overrides_any_site() {
    let blob = full_policy();
    let p = Policy::decode(&blob).unwrap();
    // write from anywhere: the two any-site rules (count, sites), in the caller's order.
    let m = p.matching_rules(Abi::X86_64, NR_WRITE, SITE_A);
    assert!(!m.site_specific);
    assert_eq!(m.end - m.start, 2);
    assert_eq!(p.rule(m.start).unwrap().action, RuleAction::Check(1));
    assert_eq!(p.rule(m.start + 1).unwrap().action, RuleAction::Check(2));
    // write from 0x409000: only the site rule.
    let m = p.matching_rules(Abi::X86_64, NR_WRITE, 0x40_9000);
    assert!(m.site_specific);
    assert_eq!(m.end - m.start, 1);
    assert_eq!(p.rule(m.start).unwrap().action, RuleAction::Allow);
    // Nothing for an unknown call or ABI.
    assert!(p.matching_rules(Abi::X86_64, 1000, 0).is_empty());
    assert!(p.matching_rules(Abi::X32, NR_WRITE, 0).is_empty());
    assert!(!p.matching_rules(Abi::Ia32, 4, 0).is_empty());
}

#[test]
fn matching_rules_agrees_with_a_linear_scan() {
    // Many rules, some with sites, some sharing keys: binary search vs the obvious scan.
    let mut rules = Vec::new();
    for nr in 0..40u32 {
        for site in [None, Some(0x1000 + u64::from(nr % 3)), Some(0x2000)] {
            if (nr + site.map_or(0, |s| s as u32)) % 4 != 0 {
                rules.push(RuleSpec { abi: if nr % 5 == 0 { Abi::Ia32 } else { Abi::X86_64 }, nr, site, action: RuleAction::Allow });
            }
        }
    }
    let b = PolicyBuilder { rules: &rules, ..PolicyBuilder::new(1, DefaultAction::Deny) };
    let mut out = vec![0u8; b.encoded_len().unwrap()];
    b.encode(&mut out).unwrap();
    let p = Policy::decode(&out).unwrap();
    for abi in [Abi::X86_64, Abi::Ia32, Abi::X32] {
        for nr in 0..42u32 {
            for rip in [0u64, 0x1000, 0x1001, 0x1002, 0x2000, 0x3000] {
                let site: Vec<u32> = (0..p.rule_count())
                    .filter(|&i| {
                        let r = p.rule(i).unwrap();
                        r.abi == abi && r.nr == nr && r.site == Some(rip)
                    })
                    .collect();
                let any: Vec<u32> = (0..p.rule_count())
                    .filter(|&i| {
                        let r = p.rule(i).unwrap();
                        r.abi == abi && r.nr == nr && r.site.is_none()
                    })
                    .collect();
                let want = if site.is_empty() { (any, false) } else { (site, true) };
                let m = p.matching_rules(abi, nr, rip);
                let got: Vec<u32> = (m.start..m.end).collect();
                assert_eq!((got, m.site_specific), want, "{abi:?} {nr} {rip:#x}");
            }
        }
    }
}

#[test]
fn layout_reattaches_to_the_same_bytes_only() {
    let blob = full_policy();
    let layout = Policy::decode(&blob).unwrap().layout();
    let copy = blob.clone();
    let p = layout.attach(&copy).unwrap();
    assert_eq!(p.invariant(0).unwrap().code(), Policy::decode(&blob).unwrap().invariant(0).unwrap().code());
    assert!(layout.attach(&blob[..blob.len() - 1]).is_none());
    let mut other = blob.clone();
    other[12] ^= 1;
    assert!(layout.attach(&other).is_none());
    assert!(layout.attach(&[]).is_none());
}

#[test]
fn evaluate_decoded_invariants() {
    let blob = full_policy();
    let p = Policy::decode(&blob).unwrap();
    let mut mem = memory();
    let regs = Registers::default();
    let call = |nr, args, rip| Syscall { abi: Abi::X86_64, nr, args, user_rip: rip };
    let open = p.invariant(0).unwrap();
    assert_eq!(evaluate(&open, &call(NR_OPEN, [PATH_ADDR, 0, 0, 0, 0, 0], 0), &regs, &mut mem), Verdict::Allow);
    // The same path one byte later is "srv/data": false.
    assert!(matches!(
        evaluate(&open, &call(NR_OPEN, [PATH_ADDR + 1, 0, 0, 0, 0, 0], 0), &regs, &mut mem),
        Verdict::Violation { kind: ViolationKind::InvariantFalse, .. }
    ));
    let count = p.invariant(1).unwrap();
    assert_eq!(evaluate(&count, &call(NR_WRITE, [1, 0, u64::from(MAX_LEN), 0, 0, 0], 0), &regs, &mut mem), Verdict::Allow);
    match evaluate(&count, &call(NR_WRITE, [1, 0, u64::from(MAX_LEN) + 1, 0, 0, 0], 0), &regs, &mut mem) {
        Verdict::Violation { invariant, kind: ViolationKind::InvariantFalse, values } => {
            assert_eq!(invariant.unwrap().id, 11);
            assert_eq!(values.as_slice(), &[u64::from(MAX_LEN) + 1, u64::from(MAX_LEN)]);
        }
        other => panic!("{other:?}"),
    }
    // Invariant 5: bytes "a\0b" at 0x600100 and (i32)arg3 > -1.
    let misc = p.invariant(5).unwrap();
    assert_eq!(evaluate(&misc, &call(NR_CLOSE, [0, 0, 0, 0, 0, 0], 0), &regs, &mut mem), Verdict::Allow);
    assert!(!evaluate(&misc, &call(NR_CLOSE, [0, 0, 0, 0xFFFF_FFFF, 0, 0], 0), &regs, &mut mem).is_allow());
    // The upper half is ignored by the 32-bit sign extension.
    assert_eq!(evaluate(&misc, &call(NR_CLOSE, [0, 0, 0, 0xFFFF_FFFF_0000_0001, 0, 0], 0), &regs, &mut mem), Verdict::Allow);
}

#[test]
fn builder_sizes_and_errors() {
    let code = [semguard_core::policy::op::opcode::NR];
    let invs = [InvariantSpec { id: 1, name: "", code: &code }];
    let b = PolicyBuilder { invariants: &invs, ..PolicyBuilder::new(1, DefaultAction::Allow) };
    let n = b.encoded_len().unwrap();
    let mut out = vec![0u8; n + 10];
    assert_eq!(b.encode(&mut out), Ok(n));
    assert_eq!(b.encode(&mut out[..n - 1]), Err(EncodeError::BufferTooSmall { needed: n }));
    let p = Policy::decode(&out[..n]).unwrap();
    assert_eq!(p.invariant(0).unwrap().name(), None);
    // Code longer than the u16 length field.
    let long = vec![semguard_core::policy::op::opcode::NOTE; 70_000];
    let invs = [InvariantSpec { id: 1, name: "", code: &long }];
    let b = PolicyBuilder { invariants: &invs, ..PolicyBuilder::new(1, DefaultAction::Allow) };
    let mut out = vec![0u8; b.encoded_len().unwrap()];
    assert_eq!(b.encode(&mut out), Err(EncodeError::TooLarge));
    // Disassembly of a known instruction sequence.
    let ops: Vec<Insn> = Disassembler::new(&full_codes()[1]).map(|r| r.unwrap().1).collect();
    assert_eq!(ops.len(), 6);
    assert_eq!(ops[0], Insn::Arg(2));
}
