//! The monitor's syscall filter and call classification (semguard_core::tracking): which
//! numbers Xen reports of P for a policy, what the waiting phase watches, and the comm an exec
//! predicts.

use semguard_core::decision::FailMode;
use semguard_core::policy::format::POLICY_DENY_OTHER_ABIS;
use semguard_core::policy::{
    examples, AutomatonSpec, CodeWriter, DefaultAction, InvariantSpec, Policy, PolicyBuilder, RuleAction, RuleSpec,
    TransitionSpec,
};
use semguard_core::syscall::Abi;
use semguard_core::tracking::{
    exec_path_arg, is_exit_group, tracking_bitmap, waiting_bitmap, Filter, BITMAP_BYTES, NR_IA32,
};
use semguard_core::xen_abi::{
    MONITOR_SYSCALL_ADOPT, MONITOR_SYSCALL_FAIL_OPEN, MONITOR_SYSCALL_LINEAGE, MONITOR_SYSCALL_NR_FILTER,
};

fn bit(b: &[u8; BITMAP_BYTES], n: usize) -> bool {
    b[n / 8] & (1 << (n % 8)) != 0
}

fn set_bits(b: &[u8; BITMAP_BYTES]) -> Vec<usize> {
    (0..BITMAP_BYTES * 8).filter(|&n| bit(b, n)).collect()
}

fn encode(builder: PolicyBuilder<'_>) -> Vec<u8> {
    let mut out = vec![0u8; 8192];
    let n = builder.encode(&mut out).expect("encodes");
    out.truncate(n);
    out
}

/// A policy with one checked rule per (abi, nr) and the given default and flags.
fn policy(rules: &[(Abi, u32)], default: DefaultAction, flags: u32, automaton: bool) -> Vec<u8> {
    let mut code = [0u8; 8];
    let mut w = CodeWriter::new(&mut code);
    w.push(1);
    let n = w.finish().expect("assembles");
    let invs = [InvariantSpec { id: 1, name: "true", code: &code[..n] }];
    let rules: Vec<RuleSpec> =
        rules.iter().map(|&(abi, nr)| RuleSpec { abi, nr, site: None, action: RuleAction::Check(0) }).collect();
    let transitions = [TransitionSpec { from: 0, abi: Abi::X86_64, nr: 0, to: 0 }];
    let spec = AutomatonSpec { states: 1, initial: 0, transitions: &transitions };
    encode(PolicyBuilder {
        flags,
        rules: &rules,
        invariants: &invs,
        automaton: automaton.then_some(spec),
        ..PolicyBuilder::new(7, default)
    })
}

#[test]
fn waiting_reports_only_exec_calls() {
    assert_eq!(set_bits(&waiting_bitmap()), vec![59, 322, NR_IA32 + 11, NR_IA32 + 358]);
}

#[test]
fn tracking_reports_the_rules_numbers_plus_exec_and_exit_group() {
    let blob = policy(
        &[(Abi::X86_64, 140), (Abi::Ia32, 20), (Abi::X32, 1), (Abi::X86_64, 600)],
        DefaultAction::Allow,
        0,
        false,
    );
    let p = Policy::decode(&blob).expect("valid");
    let b = tracking_bitmap(&p).expect("a filter");
    // x32 numbers and 600 are ≥ 512 in RAX: Xen always reports them, the bitmap cannot name them.
    assert_eq!(set_bits(&b), vec![59, 140, 231, 322, NR_IA32 + 11, NR_IA32 + 20, NR_IA32 + 252, NR_IA32 + 358]);
}

#[test]
fn default_deny_or_an_automaton_needs_every_call() {
    let deny = policy(&[(Abi::X86_64, 140)], DefaultAction::Deny, 0, false);
    assert!(tracking_bitmap(&Policy::decode(&deny).unwrap()).is_none());
    let trace = policy(&[(Abi::X86_64, 140)], DefaultAction::Allow, 0, true);
    assert!(tracking_bitmap(&Policy::decode(&trace).unwrap()).is_none());
    // The example trace policy too.
    let mut buf = vec![0u8; 8192];
    let n = examples::trace(&mut buf).unwrap();
    assert!(tracking_bitmap(&Policy::decode(&buf[..n]).unwrap()).is_none());
}

#[test]
fn deny_other_abis_reports_the_whole_half_of_an_abi_without_rules() {
    let blob = policy(&[(Abi::X86_64, 140)], DefaultAction::Allow, POLICY_DENY_OTHER_ABIS, false);
    let b = tracking_bitmap(&Policy::decode(&blob).unwrap()).expect("a filter");
    assert!((NR_IA32..2 * NR_IA32).all(|n| bit(&b, n)), "every ia32 call is a violation: all reported");
    assert!(bit(&b, 140) && !bit(&b, 139));
    let both = policy(&[(Abi::X86_64, 140), (Abi::Ia32, 20)], DefaultAction::Allow, POLICY_DENY_OTHER_ABIS, false);
    let b = tracking_bitmap(&Policy::decode(&both).unwrap()).expect("a filter");
    assert!(!bit(&b, NR_IA32 + 21));
}

#[test]
fn exec_and_exit_calls_per_abi() {
    assert_eq!(exec_path_arg(Abi::X86_64, 59), Some(0));
    assert_eq!(exec_path_arg(Abi::X86_64, 322), Some(1));
    assert_eq!(exec_path_arg(Abi::Ia32, 11), Some(0));
    assert_eq!(exec_path_arg(Abi::Ia32, 358), Some(1));
    assert_eq!(exec_path_arg(Abi::X32, 520), Some(0));
    assert_eq!(exec_path_arg(Abi::X32, 545), Some(1));
    assert_eq!(exec_path_arg(Abi::X86_64, 11), None);
    assert_eq!(exec_path_arg(Abi::Ia32, 59), None);
    assert!(is_exit_group(Abi::X86_64, 231));
    assert!(is_exit_group(Abi::X32, 231));
    assert!(is_exit_group(Abi::Ia32, 252));
    assert!(!is_exit_group(Abi::X86_64, 60));
    assert!(!is_exit_group(Abi::Ia32, 231));
}

#[test]
fn the_lineage_filter_follows_p_and_watches_every_exec() {
    let blob = policy(&[(Abi::X86_64, 140)], DefaultAction::Allow, 0, false);
    let p = Policy::decode(&blob).unwrap();
    let f = Filter::lineage(&p, FailMode::Closed);
    assert_eq!(f.flags, MONITOR_SYSCALL_LINEAGE | MONITOR_SYSCALL_NR_FILTER);
    assert_eq!((f.pgd_match, f.pgd_mask), (0, 0));
    assert_eq!(Some(f.bitmap), tracking_bitmap(&p));
    assert_eq!(f.other, Some(waiting_bitmap()));
    let open = Filter::lineage(&p, FailMode::Open);
    assert_eq!(open.flags & MONITOR_SYSCALL_FAIL_OPEN, MONITOR_SYSCALL_FAIL_OPEN);
    // Adopting an instance names its base (page-aligned) and keeps the rest.
    let a = f.adopting(0x7_3000 | 0x123);
    assert_eq!((a.flags, a.pgd_match, a.pgd_mask), (f.flags | MONITOR_SYSCALL_ADOPT, 0x7_3000, 0));
    assert_eq!((a.bitmap, a.other), (f.bitmap, f.other));
    // A default-deny policy: every call of P, no number filter.
    let deny = policy(&[(Abi::X86_64, 140)], DefaultAction::Deny, 0, false);
    let f = Filter::lineage(&Policy::decode(&deny).unwrap(), FailMode::Closed);
    assert_eq!(f.flags & MONITOR_SYSCALL_NR_FILTER, 0);
}
