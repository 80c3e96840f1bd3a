//! Robustness: the decoder never panics on any input, and whatever it accepts evaluates
//! without panicking, within the step bound, and never hits a "malformed" fault (which would
//! mean the verifier let through something the evaluator cannot run).

mod policy_support;

use std::sync::OnceLock;

use policy_support::*;
use proptest::prelude::*;
use semguard_core::checker::Checker;
use semguard_core::crc::crc32;
use semguard_core::eval::{evaluate_with_stats, EvalFault, EvalStats, Verdict};
use semguard_core::policy::format::{CRC_OFFSET, FORMAT_MAJOR, HEADER_LEN, MAGIC};
use semguard_core::policy::verify::verify_code;
use semguard_core::policy::Policy;
use semguard_core::regs::Registers;
use semguard_core::syscall::{Abi, Syscall};

fn base() -> &'static [u8] {
    static B: OnceLock<Vec<u8>> = OnceLock::new();
    B.get_or_init(full_policy)
}

fn fix_crc(b: &mut [u8]) {
    if b.len() >= HEADER_LEN {
        b[CRC_OFFSET..CRC_OFFSET + 4].fill(0);
        let c = crc32(b);
        b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&c.to_le_bytes());
    }
}

fn sample_calls(seed: u64) -> Vec<(Syscall, Registers)> {
    let mut calls = Vec::new();
    let mut x = seed | 1;
    let mut next = || {
        // xorshift: deterministic per seed, no extra dependency.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let interesting = [0, 1, u64::MAX, PATH_ADDR, CONFIG_MAX_LEN, 0x60_0100, 0x7000_0ffe, 0xfff, 1 << 63];
    for nr in [NR_READ, NR_WRITE, NR_OPEN, NR_CLOSE, NR_EXECVE, 39, 1000] {
        for abi in [Abi::X86_64, Abi::Ia32, Abi::X32] {
            let mut args = [0u64; 6];
            for a in args.iter_mut() {
                let r = next();
                *a = if r % 3 == 0 { r } else { interesting[(r % interesting.len() as u64) as usize] };
            }
            let rip = [SITE_A, SITE_B, 0x40_9000, next()][(next() % 4) as usize];
            let regs = Registers { rsi: next() % 3, ..Registers::default() };
            calls.push((Syscall { abi, nr, args, user_rip: rip }, regs));
        }
    }
    calls
}

/// Evaluates everything an accepted policy contains and checks the evaluator's guarantees.
fn exercise(p: &Policy<'_>, seed: u64) {
    let mut mem = memory();
    let calls = sample_calls(seed);
    for i in 0..p.invariant_count() {
        let inv = p.invariant(i).expect("accepted invariant is readable");
        let cost = verify_code(inv.code(), inv.consts(), i).expect("accepted invariant verifies").cost;
        for (sc, regs) in &calls {
            let mut st = EvalStats::default();
            let v = evaluate_with_stats(&inv, sc, regs, 0, &mut mem, &mut st);
            assert!(st.steps as usize <= inv.code().len(), "step bound");
            assert!(st.guest_bytes <= cost, "guest bytes {} > cost bound {cost}", st.guest_bytes);
            assert!(
                !matches!(v, Verdict::Unverifiable { reason: EvalFault::Malformed, .. }),
                "verifier accepted code the evaluator calls malformed: {v:?}"
            );
        }
    }
    let c = Checker::new(*p);
    let mut state = c.new_process();
    for (sc, regs) in &calls {
        let v = c.check(&mut state, sc, regs, &mut mem);
        assert!(!matches!(v, Verdict::Unverifiable { reason: EvalFault::Malformed, .. }), "{v:?}");
        if let Some(a) = p.automaton() {
            assert!(state.trace_state() < a.states());
        }
    }
    // Read-only accessors over the whole policy.
    for i in 0..p.rule_count() {
        assert!(p.rule(i).is_some());
    }
    if let Some(a) = p.automaton() {
        for i in 0..a.transition_count() {
            assert!(a.transition(i).is_some());
        }
    }
    let pool = p.constants();
    for i in 0..pool.len() {
        assert!(pool.bytes(i).is_some() || pool.set(i).is_some() || pool.class(i).is_some());
    }
}

#[test]
fn every_single_byte_mutation_of_a_valid_policy() {
    single_byte_mutations(base());
}

/// The same over a policy of bounded string scans (`str_contains`, `str_suffix`, `str_class`
/// and byte-class constants), which the full policy predates.
#[test]
fn every_single_byte_mutation_of_a_strings_policy() {
    let blob = strings_policy();
    let p = Policy::decode(&blob).unwrap();
    let mut mem = memory();
    let open = Syscall { abi: Abi::X86_64, nr: NR_OPEN, args: [PATH_ADDR, PATH_ADDR, 0, 0, 0, 0], user_rip: 0 };
    let regs = Registers::default();
    assert!(evaluate_with_stats(&p.invariant(0).unwrap(), &open, &regs, 0, &mut mem, &mut EvalStats::default()).is_allow());
    assert!(
        !evaluate_with_stats(&p.invariant(1).unwrap(), &open, &regs, 0, &mut mem, &mut EvalStats::default()).is_allow()
    );
    single_byte_mutations(&blob);
}

fn single_byte_mutations(base: &[u8]) {
    let (mut accepted, mut rejected) = (0, 0);
    for pos in 0..base.len() {
        if (CRC_OFFSET..CRC_OFFSET + 4).contains(&pos) {
            continue;
        }
        for change in [0x01u8, 0x80, 0xFF] {
            let mut b = base.to_vec();
            b[pos] ^= change;
            fix_crc(&mut b);
            match Policy::decode(&b) {
                Ok(p) => {
                    accepted += 1;
                    exercise(&p, pos as u64 * 3 + u64::from(change));
                }
                Err(_) => rejected += 1,
            }
        }
    }
    eprintln!("single-byte mutations: {accepted} accepted, {rejected} rejected");
    // Both outcomes must occur, or the test exercises only half of what it claims.
    assert!(accepted > 50, "accepted {accepted}");
    assert!(rejected > 500, "rejected {rejected}");
}

fn valid_header(mut body: Vec<u8>, count: u8) -> Vec<u8> {
    body.resize(body.len().max(HEADER_LEN), 0);
    body[..4].copy_from_slice(&MAGIC);
    body[4..6].copy_from_slice(&FORMAT_MAJOR.to_le_bytes());
    let len = body.len() as u32;
    body[8..12].copy_from_slice(&len.to_le_bytes());
    body[20..24].fill(0);
    body[24] &= 1;
    body[25] = count;
    body[26..32].fill(0);
    fix_crc(&mut body);
    body
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(p) = Policy::decode(&bytes) {
            exercise(&p, 1);
        }
    }

    #[test]
    fn random_bodies_behind_a_valid_header(bytes in proptest::collection::vec(any::<u8>(), 32..800), count in 0u8..8) {
        let b = valid_header(bytes, count);
        if let Ok(p) = Policy::decode(&b) {
            exercise(&p, 2);
        }
    }

    /// A layout re-attached to other bytes (same length and checksum field — the only things
    /// `attach` checks) must still never panic: every hot-path read is bounds-checked.
    #[test]
    fn layout_on_foreign_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 1..2), seed in any::<u64>()) {
        let layout = Policy::decode(base()).unwrap().layout();
        let mut other = base().to_vec();
        let mut x = seed | 1;
        for (i, b) in other.iter_mut().enumerate() {
            if !(CRC_OFFSET..CRC_OFFSET + 4).contains(&i) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = (x as u8) ^ bytes[0];
            }
        }
        let p = layout.attach(&other).expect("same length and checksum field");
        let mut mem = memory();
        let c = Checker::new(p);
        let mut st = c.new_process();
        for (sc, regs) in sample_calls(seed) {
            let _ = c.check(&mut st, &sc, &regs, &mut mem);
        }
        for i in 0..p.invariant_count() {
            if let Some(inv) = p.invariant(i) {
                for (sc, regs) in sample_calls(seed).iter().take(3) {
                    let _ = evaluate_with_stats(&inv, sc, regs, 0, &mut mem, &mut EvalStats::default());
                }
            }
        }
    }

    #[test]
    fn random_edits_of_a_valid_policy(
        edits in proptest::collection::vec((any::<proptest::sample::Index>(), 0u8..6, any::<u32>()), 1..6),
        fix in proptest::bool::weighted(0.9),
        truncate in proptest::option::weighted(0.05, any::<proptest::sample::Index>()),
        seed in any::<u64>(),
    ) {
        let mut b = base().to_vec();
        for (at, how, val) in edits {
            let i = at.index(b.len());
            match how {
                0 => b[i] ^= val as u8,
                1 => b[i] = val as u8,
                // Field-sized writes of small and boundary values hit counts, offsets, lengths.
                2 => { let i = i & !1; if i + 2 <= b.len() { b[i..i + 2].copy_from_slice(&(val as u16 % 64).to_le_bytes()); } }
                3 => { let i = i & !3; if i + 4 <= b.len() { b[i..i + 4].copy_from_slice(&(val % 128).to_le_bytes()); } }
                4 => { let i = i & !3; if i + 4 <= b.len() { b[i..i + 4].copy_from_slice(&[u32::MAX, 0x8000_0000, 0xFFFF, 0x1_0000][(val % 4) as usize].to_le_bytes()); } }
                _ => { let j = (val as usize) % b.len(); b.swap(i, j); }
            }
        }
        if let Some(t) = truncate {
            let n = t.index(b.len());
            b.truncate(n);
        }
        if fix {
            fix_crc(&mut b);
        }
        if let Ok(p) = Policy::decode(&b) {
            exercise(&p, seed);
        }
    }
}
