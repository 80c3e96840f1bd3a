//! Assertion Checker: pairs each trapped system call with its invariant(s) and decides.
//!
//! For a call `(abi, nr, user RIP)`:
//! 1. If the policy sets `DENY_OTHER_ABIS` and no rule names the call's ABI, the call is an
//!    [`ViolationKind::OtherAbi`] violation.
//! 2. Rule selection ([`Policy::matching_rules`]): site-specific rules for this RIP if there
//!    are any — they override the any-site rules, so "deny everywhere except at the one call
//!    site the program uses" is an any-site rule plus a site rule; otherwise the any-site
//!    rules. **All** selected rules must hold; they run in table order and the first
//!    non-allow verdict is returned (later ones are not evaluated). `ALLOW` rules hold
//!    without evaluation. No rule: the policy's default action.
//! 3. If the rules allow the call and the policy has a legal-trace automaton, the process's
//!    state must have a transition for `(abi, nr)`; it moves along it. No transition is a
//!    [`ViolationKind::Trace`] violation. The state does **not** move on any non-allow verdict
//!    (in audit mode the caller goes on from the state before the call).
//!
//! Per-process state ([`ProcessState`]) belongs to the caller, one per monitored process:
//! - `fork`/`clone` of a process: the child continues the same program at the same point,
//!   so give it a copy of the parent's state (`ProcessState` is `Copy`).
//! - a successful `execve`: the process runs a program from its start; call
//!   [`ProcessState::reset`] when the caller sees the new address space (the checker runs
//!   before the call and cannot know whether it will succeed).
//!
//! # A position-independent P
//!
//! A policy whose identity is relative ([`crate::policy::Identity::relative`]) states call
//! sites and variable addresses as offsets from P's load base, which the caller learns per
//! process and records with [`ProcessState::set_base`]. [`Checker::check`] then compares
//! `RIP − base` with the sites (and gives it to `$rip`), and `image_base` pushes `base` for
//! the variables' addresses. With base 0 (absolute policies, or a process whose base is not
//! known) nothing changes: a relative policy's sites then match nothing and its variables'
//! offsets are not mapped, so such a process fails its checks rather than passing them.
//!
//! Fail-closed belongs to the caller: [`Verdict::Unverifiable`] names the invariant, the
//! faulting instruction and the reason (with the address for memory faults) for the log.

use crate::eval::{evaluate_with_stats, EvalFault, EvalStats, InvariantRef, Values, Verdict, ViolationKind};
use crate::mem::VirtMemory;
use crate::policy::{DefaultAction, Policy, RuleAction};
use crate::regs::Registers;
use crate::syscall::Syscall;

/// Per-process Assertion Checker state: the legal-trace automaton's current state and the load
/// base of the process's image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessState {
    trace: u32,
    base: u64,
}

impl ProcessState {
    /// The load base of the process's image (0 until set, and for absolute policies).
    pub const fn base(&self) -> u64 {
        self.base
    }

    /// Records where the process's image is loaded: its call sites are compared, and its
    /// variables read, relative to `base` (a position-independent P; see the module docs).
    pub fn set_base(&mut self, base: u64) {
        self.base = base;
    }

    /// The automaton state (0 when the policy has no automaton).
    pub const fn trace_state(&self) -> u32 {
        self.trace
    }

    /// A state at automaton state `trace` (tests of what is inherited).
    #[cfg(test)]
    pub(crate) const fn from_trace(trace: u32) -> Self {
        Self { trace, base: 0 }
    }

    /// Back to the initial state (after a successful `execve`).
    pub fn reset(&mut self, checker: &Checker<'_>) {
        *self = checker.new_process();
    }
}

/// The Assertion Checker for one decoded policy. Stateless itself (cheap to copy); the
/// per-process part is [`ProcessState`].
#[derive(Clone, Copy, Debug)]
pub struct Checker<'a> {
    policy: Policy<'a>,
}

impl<'a> Checker<'a> {
    /// A checker for `policy`.
    pub const fn new(policy: Policy<'a>) -> Self {
        Self { policy }
    }

    /// The policy.
    pub const fn policy(&self) -> &Policy<'a> {
        &self.policy
    }

    /// State for a process starting the monitored program.
    pub fn new_process(&self) -> ProcessState {
        ProcessState { trace: self.policy.automaton().map_or(0, |a| a.initial()), base: 0 }
    }

    /// Decides one call: rules (and their invariants), then the automaton. See the module
    /// docs for the exact semantics.
    pub fn check<M: VirtMemory + ?Sized>(
        &self,
        state: &mut ProcessState,
        sc: &Syscall,
        regs: &Registers,
        mem: &mut M,
    ) -> Verdict {
        let base = state.base;
        // A position-independent P's sites are relative to its load base: compare them so
        // (a bijection, so no other address can take a site's place). Absolute P: as it is.
        let v = if base == 0 {
            self.check_rules_at(sc, regs, 0, mem)
        } else {
            let relocated = Syscall { user_rip: sc.user_rip.wrapping_sub(base), ..*sc };
            self.check_rules_at(&relocated, regs, base, mem)
        };
        if !v.is_allow() {
            return v;
        }
        self.check_trace(state, sc)
    }

    /// Only the rules and invariants (step 1 and 2), without touching any process state, for
    /// a P with absolute addresses.
    pub fn check_rules<M: VirtMemory + ?Sized>(&self, sc: &Syscall, regs: &Registers, mem: &mut M) -> Verdict {
        self.check_rules_at(sc, regs, 0, mem)
    }

    /// [`Checker::check_rules`] for a P loaded at `base`, with `sc`'s RIP relative to it.
    fn check_rules_at<M: VirtMemory + ?Sized>(
        &self,
        sc: &Syscall,
        regs: &Registers,
        base: u64,
        mem: &mut M,
    ) -> Verdict {
        let p = &self.policy;
        if p.deny_other_abis() && !p.has_rules_for(sc.abi) {
            return Verdict::Violation { invariant: None, kind: ViolationKind::OtherAbi, values: Values::new() };
        }
        let m = p.matching_rules(sc.abi, sc.nr, sc.user_rip);
        if m.is_empty() {
            return match p.default_action() {
                DefaultAction::Allow => Verdict::Allow,
                DefaultAction::Deny => {
                    Verdict::Violation { invariant: None, kind: ViolationKind::DefaultDeny, values: Values::new() }
                }
            };
        }
        // Bounded by the rule count.
        for i in m.start..m.end {
            // Decode validated every rule and reference, so a miss means a layout attached
            // to the wrong bytes. Skipping a check must never allow a call: report it.
            let malformed = |index| Verdict::Unverifiable {
                invariant: InvariantRef { index, id: u32::MAX },
                at: 0,
                reason: EvalFault::Malformed,
            };
            let Some(rule) = p.rule(i) else { return malformed(u16::MAX) };
            let RuleAction::Check(index) = rule.action else { continue };
            let Some(inv) = p.invariant(index) else { return malformed(index) };
            let v = evaluate_with_stats(&inv, sc, regs, base, mem, &mut EvalStats::default());
            if !v.is_allow() {
                return v;
            }
        }
        Verdict::Allow
    }

    /// Only the legal-trace automaton (step 3): moves `state` if the call is legal there.
    pub fn check_trace(&self, state: &mut ProcessState, sc: &Syscall) -> Verdict {
        let Some(a) = self.policy.automaton() else { return Verdict::Allow };
        match a.next(state.trace, sc.abi, sc.nr) {
            Some(next) => {
                state.trace = next;
                Verdict::Allow
            }
            None => Verdict::Violation {
                invariant: None,
                kind: ViolationKind::Trace { state: state.trace },
                values: Values::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::flat::FlatMemory;
    use crate::policy::examples;
    use crate::syscall::Abi;

    fn call(abi: Abi, nr: u32, args: [u64; 6], rip: u64) -> Syscall {
        Syscall { abi, nr, args, user_rip: rip }
    }

    #[test]
    fn typical_policy_decisions() {
        let mut blob = [0u8; 4096];
        let n = examples::typical(&mut blob).unwrap();
        let p = Policy::decode(&blob[..n]).unwrap();
        let c = Checker::new(p);
        let mut st = c.new_process();
        let mut mem = examples::memory();
        let regs = Registers::default();
        let ok_open = call(Abi::X86_64, examples::nr::OPENAT, [0, examples::GOOD_PATH_ADDR, 0, 0, 0, 0], 0x401234);
        assert_eq!(c.check(&mut st, &ok_open, &regs, &mut mem), Verdict::Allow);
        let bad_open = call(Abi::X86_64, examples::nr::OPENAT, [0, examples::BAD_PATH_ADDR, 0, 0, 0, 0], 0x401234);
        assert!(matches!(
            c.check(&mut st, &bad_open, &regs, &mut mem),
            Verdict::Violation {
                kind: ViolationKind::InvariantFalse,
                invariant: Some(InvariantRef { id: examples::ID_OPENAT, .. }),
                ..
            }
        ));
        let site = examples::WRITE_SITES[0];
        let ok_write = call(Abi::X86_64, examples::nr::WRITE, [1, 0x1000, 100, 0, 0, 0], site);
        assert_eq!(c.check(&mut st, &ok_write, &regs, &mut mem), Verdict::Allow);
        let long_write = call(Abi::X86_64, examples::nr::WRITE, [1, 0x1000, examples::MAX_LEN + 1, 0, 0, 0], site);
        match c.check(&mut st, &long_write, &regs, &mut mem) {
            Verdict::Violation { kind: ViolationKind::InvariantFalse, values, .. } => {
                assert_eq!(values.as_slice(), &[examples::MAX_LEN + 1, examples::MAX_LEN]);
            }
            other => panic!("{other:?}"),
        }
        let wrong_site = call(Abi::X86_64, examples::nr::WRITE, [1, 0x1000, 1, 0, 0, 0], 0x666);
        assert!(matches!(
            c.check(&mut st, &wrong_site, &regs, &mut mem),
            Verdict::Violation { kind: ViolationKind::WrongCallSite, .. }
        ));
        let exec = call(Abi::X86_64, examples::nr::EXECVE, [0; 6], 0x401000);
        assert!(matches!(
            c.check(&mut st, &exec, &regs, &mut mem),
            Verdict::Violation { kind: ViolationKind::Denied, .. }
        ));
        // Unlisted syscall: default allow in this policy.
        let getpid = call(Abi::X86_64, 39, [0; 6], 0x401000);
        assert_eq!(c.check(&mut st, &getpid, &regs, &mut mem), Verdict::Allow);
        // ia32 call: the policy denies ABIs it has no rules for.
        let int80 = call(Abi::Ia32, 11, [0; 6], 0x401000);
        assert!(matches!(
            c.check(&mut st, &int80, &regs, &mut mem),
            Verdict::Violation { kind: ViolationKind::OtherAbi, invariant: None, .. }
        ));
        // Path pointer into unmapped memory: unverifiable with the address.
        let wild = call(Abi::X86_64, examples::nr::OPENAT, [0, 0xdead_0000, 0, 0, 0, 0], 0x401234);
        assert!(matches!(
            c.check(&mut st, &wild, &regs, &mut mem),
            Verdict::Unverifiable { reason: crate::eval::EvalFault::Memory { addr: 0xdead_0000, .. }, .. }
        ));
        // No automaton: the state never moves.
        assert_eq!(st.trace_state(), 0);
    }

    /// A position-independent P: sites and variables follow the process's load base, and a
    /// process whose base is not known (0) fails the checks instead of passing them.
    #[test]
    fn relative_policy_follows_the_load_base() {
        let mut blob = [0u8; 1024];
        let n = examples::pie(&mut blob).unwrap();
        let p = Policy::decode(&blob[..n]).unwrap();
        let id = p.identity().unwrap();
        let base = 0x5555_5555_4000u64;
        assert_eq!(id.load_base(base + examples::PIE_ENTRY), Some(base));
        assert_eq!(id.load_base(base + examples::PIE_ENTRY + 8), None, "not page aligned");
        assert_eq!(id.load_base(examples::PIE_ENTRY - 1), None, "below the entry point");
        assert_eq!(id.load_base(crate::decision::USER_TOP + examples::PIE_ENTRY), None, "kernel half");
        let c = Checker::new(p);
        let mut mem = FlatMemory::<2>::new();
        assert!(mem.write(base + examples::PIE_LIMIT_OFFSET, &100u32.to_le_bytes()));
        let regs = Registers::default();
        let write = |count, rip| call(Abi::X86_64, examples::nr::WRITE, [1, 0, count, 0, 0, 0], rip);
        let site = base + examples::PIE_WRITE_SITE;
        let mut st = c.new_process();
        st.set_base(base);
        assert_eq!(c.check(&mut st, &write(100, site), &regs, &mut mem), Verdict::Allow);
        assert!(matches!(
            c.check(&mut st, &write(101, site), &regs, &mut mem),
            Verdict::Violation { kind: ViolationKind::InvariantFalse, .. }
        ));
        // The offset itself, or the site of another load base, is not the site.
        for rip in [examples::PIE_WRITE_SITE, site + 0x1000, site - 0x1000] {
            assert!(matches!(
                c.check(&mut st, &write(1, rip), &regs, &mut mem),
                Verdict::Violation { kind: ViolationKind::DefaultDeny, .. }
            ));
        }
        // Base not known: the site as an offset matches, but the variable is not there.
        let mut unknown = c.new_process();
        assert!(matches!(
            c.check(&mut unknown, &write(1, examples::PIE_WRITE_SITE), &regs, &mut mem),
            Verdict::Unverifiable { reason: EvalFault::Memory { addr: examples::PIE_LIMIT_OFFSET, .. }, .. }
        ));
    }

    #[test]
    fn trace_automaton() {
        let mut blob = [0u8; 4096];
        let n = examples::trace(&mut blob).unwrap();
        let c = Checker::new(Policy::decode(&blob[..n]).unwrap());
        let mut mem = FlatMemory::<1>::new();
        let regs = Registers::default();
        let mut st = c.new_process();
        let s = |nr| call(Abi::X86_64, nr, [0; 6], 0x401000);
        use examples::nr::*;
        for nr in [OPENAT, READ, READ, CLOSE, WRITE, WRITE] {
            assert_eq!(c.check(&mut st, &s(nr), &regs, &mut mem), Verdict::Allow, "nr {nr}");
        }
        let before = st;
        // read after close is not in the model.
        assert_eq!(
            c.check(&mut st, &s(READ), &regs, &mut mem),
            Verdict::Violation {
                invariant: None,
                kind: ViolationKind::Trace { state: before.trace_state() },
                values: Values::new()
            }
        );
        assert_eq!(st, before, "a violation does not move the state");
        // fork: the child copies the state; execve: reset.
        let mut child = st;
        assert_eq!(c.check(&mut child, &s(EXIT_GROUP), &regs, &mut mem), Verdict::Allow);
        st.reset(&c);
        assert_eq!(st, c.new_process());
        assert!(!c.check(&mut st, &s(WRITE), &regs, &mut mem).is_allow());
    }

    #[test]
    fn rules_are_checked_before_the_trace() {
        let mut blob = [0u8; 4096];
        let n = examples::trace(&mut blob).unwrap();
        let c = Checker::new(Policy::decode(&blob[..n]).unwrap());
        let mut st = c.new_process();
        let mut mem = FlatMemory::<1>::new();
        // execve is denied by a rule: that verdict wins and the state stays.
        let v = c.check(&mut st, &call(Abi::X86_64, examples::nr::EXECVE, [0; 6], 0), &Registers::default(), &mut mem);
        assert!(matches!(v, Verdict::Violation { kind: ViolationKind::Denied, .. }));
        assert_eq!(st, c.new_process());
    }
}
