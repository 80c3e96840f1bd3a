//! Assertion Checker semantics on a policy that uses every feature: rule selection, all
//! applicable rules must hold, site override, default action, other ABIs, the legal-trace
//! automaton and per-process state.

mod policy_support;

use policy_support::*;
use semguard_core::checker::{Checker, ProcessState};
use semguard_core::eval::{EvalFault, InvariantRef, Verdict, ViolationKind};
use semguard_core::policy::Policy;
use semguard_core::regs::Registers;
use semguard_core::syscall::{Abi, Syscall};

fn call(nr: u32, args: [u64; 6], rip: u64) -> Syscall {
    Syscall { abi: Abi::X86_64, nr, args, user_rip: rip }
}

struct Fixture {
    blob: Vec<u8>,
}

impl Fixture {
    fn new() -> Self {
        Self { blob: full_policy() }
    }
    fn checker(&self) -> Checker<'_> {
        Checker::new(Policy::decode(&self.blob).unwrap())
    }
}

fn kind(v: &Verdict) -> Option<ViolationKind> {
    match v {
        Verdict::Violation { kind, .. } => Some(*kind),
        _ => None,
    }
}

#[test]
fn all_applicable_rules_must_hold_and_sites_override() {
    let f = Fixture::new();
    let c = f.checker();
    let mut mem = memory();
    let regs = Registers::default();
    let ok = u64::from(MAX_LEN);
    let bad = ok + 1;
    // Both any-site write rules: count and call site.
    assert_eq!(c.check_rules(&call(NR_WRITE, [1, 0, ok, 0, 0, 0], SITE_A), &regs, &mut mem), Verdict::Allow);
    assert_eq!(c.check_rules(&call(NR_WRITE, [1, 0, ok, 0, 0, 0], SITE_B), &regs, &mut mem), Verdict::Allow);
    let v = c.check_rules(&call(NR_WRITE, [1, 0, ok, 0, 0, 0], 0x40_5000), &regs, &mut mem);
    assert_eq!(kind(&v), Some(ViolationKind::WrongCallSite));
    // First failing rule in table order is reported (count before sites).
    let v = c.check_rules(&call(NR_WRITE, [1, 0, bad, 0, 0, 0], 0x40_5000), &regs, &mut mem);
    match v {
        Verdict::Violation { invariant: Some(InvariantRef { index: 1, id: 11 }), kind: ViolationKind::InvariantFalse, .. } => {}
        other => panic!("{other:?}"),
    }
    // The site-specific ALLOW rule overrides both.
    assert_eq!(c.check_rules(&call(NR_WRITE, [1, 0, bad, 0, 0, 0], 0x40_9000), &regs, &mut mem), Verdict::Allow);
}

#[test]
fn default_action_and_other_abis() {
    let f = Fixture::new();
    let c = f.checker();
    let mut mem = memory();
    let regs = Registers::default();
    let v = c.check_rules(&call(1000, [0; 6], 0), &regs, &mut mem);
    assert_eq!(v, Verdict::Violation { invariant: None, kind: ViolationKind::DefaultDeny, values: Default::default() });
    // An ALLOW rule without an invariant.
    assert_eq!(c.check_rules(&call(39, [0; 6], 0), &regs, &mut mem), Verdict::Allow);
    // x32: no rule names it and the policy denies other ABIs.
    let x32 = Syscall { abi: Abi::X32, nr: NR_WRITE, args: [0; 6], user_rip: 0 };
    assert_eq!(kind(&c.check_rules(&x32, &regs, &mut mem)), Some(ViolationKind::OtherAbi));
    // ia32 has rules: write (4) is checked, everything else falls to the default (deny).
    let ia32 = |nr, count| Syscall { abi: Abi::Ia32, nr, args: [1, 0, count, 0, 0, 0], user_rip: 0 };
    assert_eq!(c.check_rules(&ia32(4, 10), &regs, &mut mem), Verdict::Allow);
    assert_eq!(kind(&c.check_rules(&ia32(4, 1 << 20), &regs, &mut mem)), Some(ViolationKind::InvariantFalse));
    assert_eq!(kind(&c.check_rules(&ia32(3, 10), &regs, &mut mem)), Some(ViolationKind::DefaultDeny));
}

#[test]
fn registers_and_short_circuit_in_rules() {
    let f = Fixture::new();
    let c = f.checker();
    let mut mem = memory();
    let mut regs = Registers { rsi: 0x1234, ..Registers::default() };
    // read: fd ∈ {0,3,4} && (count < 4096 || strlen(buf) <= 100) && rsi != 0
    assert_eq!(c.check_rules(&call(NR_READ, [3, 0, 10, 0, 0, 0], 0), &regs, &mut mem), Verdict::Allow);
    assert_eq!(kind(&c.check_rules(&call(NR_READ, [5, 0, 10, 0, 0, 0], 0), &regs, &mut mem)), Some(ViolationKind::InvariantFalse));
    // Large count: the string is consulted; unmapped buffer → unverifiable with its address.
    match c.check_rules(&call(NR_READ, [0, 0xdead_b000, 1 << 20, 0, 0, 0], 0), &regs, &mut mem) {
        Verdict::Unverifiable { invariant, reason: EvalFault::Memory { addr, .. }, .. } => {
            assert_eq!(invariant, InvariantRef { index: 4, id: 14 });
            assert_eq!(addr, 0xdead_b000);
        }
        other => panic!("{other:?}"),
    }
    // Large count with a short string in memory passes.
    assert_eq!(c.check_rules(&call(NR_READ, [0, PATH_ADDR, 1 << 20, 0, 0, 0], 0), &regs, &mut mem), Verdict::Allow);
    regs.rsi = 0;
    assert!(!c.check_rules(&call(NR_READ, [3, 0, 10, 0, 0, 0], 0), &regs, &mut mem).is_allow());
}

#[test]
fn trace_automaton_per_process() {
    let f = Fixture::new();
    let c = f.checker();
    let mut mem = memory();
    let regs = Registers { rsi: 1, ..Registers::default() };
    let open = call(NR_OPEN, [PATH_ADDR, 0, 0, 0, 0, 0], 0);
    let read = call(NR_READ, [0, 0, 10, 0, 0, 0], 0);
    let write = call(NR_WRITE, [1, 0, 10, 0, 0, 0], SITE_A);
    let close = call(NR_CLOSE, [0; 6], 0);
    let getpid = call(39, [0; 6], 0);

    let mut p: ProcessState = c.new_process();
    assert_eq!(p.trace_state(), 0);
    // read before open: rules allow it, the automaton does not.
    assert_eq!(
        c.check(&mut p, &read, &regs, &mut mem),
        Verdict::Violation { invariant: None, kind: ViolationKind::Trace { state: 0 }, values: Default::default() }
    );
    assert_eq!(p.trace_state(), 0);
    for (s, state_after) in [(&open, 1), (&read, 1), (&write, 1), (&read, 1)] {
        assert_eq!(c.check(&mut p, s, &regs, &mut mem), Verdict::Allow);
        assert_eq!(p.trace_state(), state_after);
    }
    // fork: the child copies the parent's state and then diverges.
    let mut child = p;
    assert_eq!(c.check(&mut child, &close, &regs, &mut mem), Verdict::Allow);
    assert_eq!(child.trace_state(), 2);
    assert_eq!(c.check(&mut child, &getpid, &regs, &mut mem), Verdict::Allow);
    assert_eq!(p.trace_state(), 1);
    // A rule violation leaves the state alone.
    let bad_open = call(NR_OPEN, [PATH_ADDR + 1, 0, 0, 0, 0, 0], 0);
    assert!(!c.check(&mut p, &bad_open, &regs, &mut mem).is_allow());
    assert_eq!(p.trace_state(), 1);
    // execve is denied by its rule; after a (hypothetically allowed) exec the caller resets.
    assert_eq!(kind(&c.check(&mut child, &call(59, [0; 6], 0), &regs, &mut mem)), Some(ViolationKind::Denied));
    child.reset(&c);
    assert_eq!(child, c.new_process());
    // check_trace alone.
    let mut q = c.new_process();
    assert_eq!(c.check_trace(&mut q, &open), Verdict::Allow);
    assert_eq!(q.trace_state(), 1);
}
