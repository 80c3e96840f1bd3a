//! `str_contains`, `str_suffix` and `str_class` against a model of what they mean: random
//! strings (over a small alphabet, so that occurrences are common, and longer than the
//! evaluator's ring of recent bytes), random constants, classes and bounds, placed anywhere in
//! two present pages followed by an absent one. The model looks at the whole string with the
//! standard library's slice methods; the evaluator reads guest memory once, in chunks, and
//! must give the same answer, fault or "too long".

mod policy_support;

use policy_support::Mem;
use proptest::prelude::*;
use semguard_core::eval::{evaluate, EvalFault, Verdict, ViolationKind};
use semguard_core::policy::op::{MAX_MATCH_LEN, MAX_STRLEN};
use semguard_core::policy::{
    class_bitmap, CodeWriter, ConstId, ConstSpec, DefaultAction, EncodeError, InvariantSpec, Policy, PolicyBuilder,
    PolicyError,
};
use semguard_core::regs::Registers;
use semguard_core::syscall::{Abi, Syscall};

/// Two present pages; the one after them is absent.
const REGION: u64 = 0x10000;
const REGION_LEN: usize = 0x2000;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Contains,
    Suffix,
    Class,
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Holds(bool),
    /// Reading ran into the absent page.
    Fault(u64),
    /// No NUL (and no decision) within the bound.
    TooLong,
}

/// What the predicate means for the bytes from `addr` to the end of the region.
fn model(op: Op, s: &[u8], needle: &[u8], class: &[(u8, u8)], max: u16) -> Outcome {
    let scan = s.len().min(usize::from(max) + 1);
    let seen = &s[..scan];
    // Reading stopped before the bound because the memory did: the absent page decides.
    let ran_out = scan < usize::from(max) + 1;
    let fault = Outcome::Fault(REGION + REGION_LEN as u64);
    let in_class = |b: u8| class.iter().any(|&(lo, hi)| lo <= b && b <= hi);
    match op {
        Op::Contains => {
            let occurs = |hay: &[u8]| needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle);
            match seen.iter().position(|&b| b == 0) {
                Some(nul) => Outcome::Holds(occurs(&seen[..nul])),
                None if occurs(seen) => Outcome::Holds(true),
                None if ran_out => fault,
                None => Outcome::TooLong,
            }
        }
        Op::Suffix => match seen.iter().position(|&b| b == 0) {
            Some(nul) => Outcome::Holds(seen[..nul].ends_with(needle)),
            None if ran_out => fault,
            None => Outcome::TooLong,
        },
        Op::Class => match seen.iter().find(|&&b| b == 0 || !in_class(b)) {
            Some(&b) => Outcome::Holds(b == 0),
            None if ran_out => fault,
            // Longer than the bound: not in what the class accepts.
            None => Outcome::Holds(false),
        },
    }
}

fn run(op: Op, mem: &mut Mem, addr: u64, needle: &[u8], class: &[(u8, u8)], max: u16) -> Option<Outcome> {
    let mut buf = vec![0u8; 64];
    let mut w = CodeWriter::new(&mut buf);
    w.arg(0);
    match op {
        Op::Contains => w.str_contains(ConstId(0), max),
        Op::Suffix => w.str_suffix(ConstId(0), max),
        Op::Class => w.str_class(ConstId(1), max),
    };
    let n = w.finish().unwrap();
    let bits = class_bitmap(class);
    let consts = [ConstSpec::Bytes(needle), ConstSpec::Class(&bits)];
    let invs = [InvariantSpec { id: 1, name: "s", code: &buf[..n] }];
    let b = PolicyBuilder { invariants: &invs, constants: &consts, ..PolicyBuilder::new(1, DefaultAction::Allow) };
    let mut blob = vec![0u8; b.encoded_len().unwrap()];
    match b.encode(&mut blob) {
        Ok(_) => {}
        // A constant too long for the bound's cost: the verifier's job, not a wrong answer.
        Err(EncodeError::Invalid(PolicyError::InvariantTooCostly { .. })) => return None,
        Err(e) => panic!("{e:?}"),
    }
    let p = Policy::decode(&blob).unwrap();
    let sc = Syscall { abi: Abi::X86_64, nr: 1, args: [addr, 0, 0, 0, 0, 0], user_rip: 0 };
    Some(match evaluate(&p.invariant(0).unwrap(), &sc, &Registers::default(), mem) {
        Verdict::Allow => Outcome::Holds(true),
        Verdict::Violation { kind: ViolationKind::InvariantFalse, .. } => Outcome::Holds(false),
        Verdict::Unverifiable { reason: EvalFault::Memory { addr, .. }, .. } => Outcome::Fault(addr),
        Verdict::Unverifiable { reason: EvalFault::StringTooLong { addr: a, max: m }, .. } => {
            assert_eq!((a, m), (addr, max));
            Outcome::TooLong
        }
        other => panic!("{other:?}"),
    })
}

fn alphabet() -> impl Strategy<Value = u8> {
    prop_oneof![Just(b'a'), Just(b'b'), Just(b'.'), Just(b'/'), Just(0u8), Just(0xFF)]
}

fn text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(alphabet(), 0..40),
        proptest::collection::vec(prop_oneof![9 => Just(b'a'), 1 => alphabet()], 200..700),
    ]
}

fn needle() -> impl Strategy<Value = Vec<u8>> {
    let b = prop_oneof![Just(b'a'), Just(b'b'), Just(b'.'), Just(b'/'), Just(0xFF)];
    prop_oneof![
        4 => proptest::collection::vec(b.clone(), 0..5),
        1 => proptest::collection::vec(prop_oneof![9 => Just(b'a'), 1 => b], 200..=MAX_MATCH_LEN),
    ]
}

fn bound() -> impl Strategy<Value = u16> {
    prop_oneof![1u16..8, 1u16..700, Just(MAX_STRLEN), 1..=MAX_STRLEN]
}

fn ranges() -> impl Strategy<Value = Vec<(u8, u8)>> {
    proptest::collection::vec((any::<u8>(), any::<u8>()), 0..4).prop_map(|mut v| {
        // Mostly the letters and dot, so that strings often pass.
        v.push((b'a', if v.len() % 2 == 0 { b'b' } else { b'a' }));
        v.push((b'.', b'.'));
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn evaluator_matches_the_model(
        op in prop_oneof![Just(Op::Contains), Just(Op::Suffix), Just(Op::Class)],
        text in text(),
        needle in needle(),
        class in ranges(),
        max in bound(),
        // Where the text starts: anywhere, or so that it runs into the absent page.
        at in prop_oneof![0usize..REGION_LEN, (REGION_LEN - 80)..REGION_LEN],
        filler in alphabet(),
    ) {
        let mut mem = Mem::default();
        let mut region = vec![filler; REGION_LEN];
        let end = (at + text.len()).min(REGION_LEN);
        region[at..end].copy_from_slice(&text[..end - at]);
        mem.write(REGION, &region);
        let addr = REGION + at as u64;
        // The needle never holds a NUL (the verifier refuses that), so drop them.
        let needle: Vec<u8> = needle.into_iter().filter(|&b| b != 0).collect();
        let Some(got) = run(op, &mut mem, addr, &needle, &class, max) else { return Ok(()); };
        let want = model(op, &region[at..], &needle, &class, max);
        prop_assert_eq!(got, want, "{:?} at {:#x} bound {} needle {:?}", op, addr, max, needle);
    }
}

#[test]
fn the_model_on_fixed_inputs() {
    // Guards against a vacuous comparison.
    let m = |op, s: &[u8], n: &[u8], max| model(op, s, n, &[(b'a', b'z')], max);
    assert_eq!(m(Op::Contains, b"ab/../c\0", b"../", 64), Outcome::Holds(true));
    assert_eq!(m(Op::Contains, b"ab/..\0/", b"../", 64), Outcome::Holds(false));
    assert_eq!(m(Op::Contains, b"abcdefgh", b"../", 4), Outcome::TooLong);
    assert_eq!(m(Op::Contains, b"ab", b"../", 4), Outcome::Fault(REGION + REGION_LEN as u64));
    assert_eq!(m(Op::Suffix, b"lib.so\0", b".so", 6), Outcome::Holds(true));
    assert_eq!(m(Op::Suffix, b"lib.so\0", b".so", 5), Outcome::TooLong);
    assert_eq!(m(Op::Class, b"abc\0", b"", 3), Outcome::Holds(true));
    assert_eq!(m(Op::Class, b"abc\0", b"", 2), Outcome::Holds(false));
    assert_eq!(m(Op::Class, b"aBc\0", b"", 64), Outcome::Holds(false));
}
