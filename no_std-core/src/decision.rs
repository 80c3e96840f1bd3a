//! The decision for one trapped call, the same for every consumer: semguard.ko (IRQ path),
//! `sgmon` (dom0 user space) and `semguard policy check` (ptrace dry run).
//!
//! [`check_event`] decodes the call (reading an ia32 fast entry's 6th argument from P's stack),
//! runs the Assertion Checker and maps the result through the operator's [`Enforcement`] to
//! an [`Action`]; [`Decision::response`] turns that into the vm_event response Xen reads.
//! Each consumer keeps only its glue: how a request arrives, how guest memory is read, how the
//! answer goes back, and what it counts and logs.

use crate::addr::GuestVirtAddr;
use crate::alert::{Action, AlertRecord};
use crate::checker::{Checker, ProcessState};
use crate::eval::Verdict;
use crate::mem::{MemError, VirtMemory};
use crate::syscall::{decode, DecodeError, KillCondition, Syscall, KILL_STATUS};
use crate::xen_abi::{build_response, kill_response, SyscallEvent, VmEventSt, VM_EVENT_FLAG_VCPU_PAUSED};

/// What happens to a call the policy does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Kill P before the call runs.
    Enforce,
    /// Record it and let it run.
    Audit,
}

impl Mode {
    /// Its name as operators write it (`mode=enforce`).
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit",
        }
    }
}

/// What happens to a call whose invariant cannot be decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailMode {
    /// As a violation (the default: an attacker must not win by making memory unreadable).
    Closed,
    /// Let it run (recorded as [`Action::FailedOpen`]).
    Open,
}

impl FailMode {
    /// Its name as operators write it (`fail=closed`).
    pub const fn name(self) -> &'static str {
        match self {
            FailMode::Closed => "closed",
            FailMode::Open => "open",
        }
    }
}

/// The operator's choice: mode × fail mode. The one place a verdict becomes an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Enforcement {
    /// Enforce or audit.
    pub mode: Mode,
    /// Fail closed or open.
    pub fail: FailMode,
}

impl Enforcement {
    /// Enforce, fail closed: the default of every consumer.
    pub const DEFAULT: Self = Self { mode: Mode::Enforce, fail: FailMode::Closed };

    /// The action for a call that did not pass: `unverifiable` when the checker could not
    /// decide (an unreadable invariant operand or argument), otherwise a violation.
    pub const fn action(&self, unverifiable: bool) -> Action {
        match (self.mode, unverifiable, self.fail) {
            (Mode::Audit, _, _) => Action::Audited,
            (Mode::Enforce, true, FailMode::Open) => Action::FailedOpen,
            (Mode::Enforce, _, _) => Action::Killed,
        }
    }

    /// Whether a call that cannot be checked at all (no policy, a corrupt request) is killed.
    pub const fn kills_unchecked(&self) -> bool {
        matches!(self.action(true), Action::Killed)
    }
}

impl Default for Enforcement {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why a call did not pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finding {
    /// The Assertion Checker's non-allow verdict (violation or unverifiable invariant).
    Verdict(Verdict),
    /// An ia32 fast entry's 6th argument could not be read from P's stack at this address:
    /// the call is unknown, so it is unverifiable.
    StackUnreadable {
        /// The address whose read failed.
        va: GuestVirtAddr,
        /// Why.
        error: MemError,
    },
    /// No usable policy to check the call against ([`unchecked`]).
    NoPolicy,
}

impl Finding {
    /// True when the checker could not decide (fail mode applies), false for a violation.
    pub const fn is_unverifiable(&self) -> bool {
        match self {
            Self::Verdict(v) => matches!(v, Verdict::Unverifiable { .. }),
            Self::StackUnreadable { .. } | Self::NoPolicy => true,
        }
    }
}

/// The outcome of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The call as decoded (for [`Finding::StackUnreadable`]: as far as the registers say,
    /// arguments 0).
    pub call: Syscall,
    /// Why it did not pass; `None` when the policy allows it.
    pub finding: Option<Finding>,
    /// What to do with it: `None` for an allowed call.
    pub action: Option<Action>,
}

impl Decision {
    /// Whether the call goes on (allowed, audited or failed open).
    pub const fn resumes(&self) -> bool {
        !matches!(self.action, Some(Action::Killed))
    }

    /// The alert record for a call that did not pass (`None` for an allowed one). The
    /// identifying fields are the consumer's; `seq` and `time_ns` are left 0 for it to set.
    #[allow(clippy::too_many_arguments)]
    pub fn alert(&self, ev: &SyscallEvent, policy_id: u32, domid: u16, pid: u32, comm: &[u8]) -> Option<AlertRecord> {
        let action = self.action?;
        match self.finding? {
            Finding::Verdict(v) => {
                AlertRecord::from_verdict(&v, &self.call, ev.entry, action, policy_id, domid, ev.vcpu_id, pid, comm)
            }
            Finding::StackUnreadable { va, .. } => Some(AlertRecord::undecodable(
                &self.call, ev.entry, action, va.0, policy_id, domid, ev.vcpu_id, pid, comm,
            )),
            // Nothing was checked, so there is nothing to report but the count.
            Finding::NoPolicy => None,
        }
    }

    /// The vm_event response for request `req`: resume as is, or kill (the call rewritten to
    /// `exit_group(KILL_STATUS)`). The kill's [`KillCondition`] says whether the guest kernel
    /// certainly runs it.
    pub fn response(&self, req: &VmEventSt) -> (VmEventSt, Option<KillCondition>) {
        self.response_with_status(req, KILL_STATUS)
    }

    /// [`Decision::response`] with another exit status for the kill (sgmon's `--status`).
    pub fn response_with_status(&self, req: &VmEventSt, status: i32) -> (VmEventSt, Option<KillCondition>) {
        if self.resumes() {
            return (resume_response(req), None);
        }
        match kill_response(req, status) {
            Ok((rsp, cond)) => (rsp, Some(cond)),
            // Not a valid syscall request: nothing to edit, only a vCPU to release.
            Err(_) => (resume_response(req), None),
        }
    }
}

/// The response that resumes the vCPU of `req` as it is. For a request this ABI cannot read
/// (a corrupt ring slot) it still answers, so that a paused vCPU is never left waiting; Xen
/// drops a response that matches nothing outstanding.
pub fn resume_response(req: &VmEventSt) -> VmEventSt {
    build_response(req, None).unwrap_or(VmEventSt { flags: VM_EVENT_FLAG_VCPU_PAUSED, ..*req })
}

/// A call of P that cannot be checked at all (no usable policy): unverifiable
/// ([`Finding::NoPolicy`]), acted on as `enforcement`'s fail mode says.
pub fn unchecked(ev: &SyscallEvent, enforcement: Enforcement) -> Decision {
    let d = decode(ev.entry, &ev.regs);
    let call = Syscall { abi: d.abi(), nr: d.nr(), args: [0; 6], user_rip: d.user_rip() };
    Decision { call, finding: Some(Finding::NoPolicy), action: Some(enforcement.action(true)) }
}

/// Decides one of P's calls: decode (reading an ia32 fast entry's 6th argument through
/// `mem`), the Assertion Checker (which moves `state` along the automaton only on allow), and
/// `enforcement`'s action for anything that did not pass.
pub fn check_event<M: VirtMemory + ?Sized>(
    checker: &Checker<'_>,
    state: &mut ProcessState,
    ev: &SyscallEvent,
    mem: &mut M,
    enforcement: Enforcement,
) -> Decision {
    let decoded = decode(ev.entry, &ev.regs);
    let (call, finding) = match decoded.complete(mem) {
        Ok(call) => match checker.check(state, &call, &ev.regs, mem) {
            Verdict::Allow => (call, None),
            v => (call, Some(Finding::Verdict(v))),
        },
        Err(DecodeError::StackUnreadable { va, error }) => {
            let call = Syscall { abi: decoded.abi(), nr: decoded.nr(), args: [0; 6], user_rip: decoded.user_rip() };
            (call, Some(Finding::StackUnreadable { va, error }))
        }
    };
    let action = finding.map(|f| enforcement.action(f.is_unverifiable()));
    Decision { call, finding, action }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::FaultKind;
    use crate::mem::flat::FlatMemory;
    use crate::policy::examples;
    use crate::policy::Policy;
    use crate::regs::{EntryKind, Registers};
    use crate::syscall::NR_EXIT_GROUP_X86_64;
    use crate::xen_abi::VM_EVENT_FLAG_SET_REGISTERS;

    #[test]
    fn one_mapping_from_verdict_to_action() {
        let e = |mode, fail| Enforcement { mode, fail };
        use Action::*;
        use FailMode::*;
        use Mode::*;
        assert_eq!(e(Enforce, Closed).action(false), Killed);
        assert_eq!(e(Enforce, Closed).action(true), Killed);
        assert_eq!(e(Enforce, Open).action(false), Killed);
        assert_eq!(e(Enforce, Open).action(true), FailedOpen);
        assert_eq!(e(Audit, Closed).action(false), Audited);
        assert_eq!(e(Audit, Open).action(true), Audited);
        assert!(Enforcement::DEFAULT.kills_unchecked());
        assert!(!e(Enforce, Open).kills_unchecked());
        assert!(!e(Audit, Closed).kills_unchecked());
    }

    fn event(entry: EntryKind, regs: Registers) -> (VmEventSt, SyscallEvent) {
        let req = VmEventSt::syscall_request(0, entry, &regs);
        let ev = req.syscall_event().unwrap();
        (req, ev)
    }

    #[test]
    fn allowed_violating_and_undecodable_calls() {
        let mut blob = [0u8; 1024];
        let n = examples::deny_execve(&mut blob).unwrap();
        let policy = Policy::decode(&blob[..n]).unwrap();
        let checker = Checker::new(policy);
        let mut state = checker.new_process();
        let mut mem = FlatMemory::<1>::new();

        // getppid: allowed, resumed as is.
        let (req, ev) = event(EntryKind::Syscall64, Registers { rax: 110, ..Registers::default() });
        let d = check_event(&checker, &mut state, &ev, &mut mem, Enforcement::DEFAULT);
        assert_eq!((d.finding, d.action), (None, None));
        assert!(d.resumes() && d.alert(&ev, 1, 2, 3, b"p").is_none());
        let (rsp, cond) = d.response(&req);
        assert_eq!((rsp.flags & VM_EVENT_FLAG_SET_REGISTERS, cond), (0, None));

        // execve: a violation, killed in enforce mode, audited in audit mode.
        let (req, ev) = event(EntryKind::Syscall64, Registers { rax: 59, ..Registers::default() });
        let d = check_event(&checker, &mut state, &ev, &mut mem, Enforcement::DEFAULT);
        assert!(matches!(d.finding, Some(Finding::Verdict(Verdict::Violation { .. }))));
        assert_eq!(d.action, Some(Action::Killed));
        let (rsp, cond) = d.response(&req);
        assert_eq!(cond, Some(KillCondition::Certain));
        assert_eq!(rsp.data.rax, u64::from(NR_EXIT_GROUP_X86_64));
        assert_eq!(rsp.data.rdi, KILL_STATUS as u64);
        let rec = d.alert(&ev, 7, 1, 42, b"p").unwrap();
        assert_eq!((rec.nr, rec.pid, rec.action), (59, 42, Action::Killed));
        let audit = Enforcement { mode: Mode::Audit, fail: FailMode::Closed };
        let d = check_event(&checker, &mut state, &ev, &mut mem, audit);
        assert_eq!(d.action, Some(Action::Audited));
        assert!(d.resumes());

        // An ia32 SYSENTER whose 6th argument sits on an unmapped stack: unverifiable.
        let regs = Registers { rax: 20, rbp: 0x9000_0000, ..Registers::default() };
        let (req, ev) = event(EntryKind::Sysenter, regs);
        let d = check_event(&checker, &mut state, &ev, &mut mem, Enforcement::DEFAULT);
        assert!(matches!(d.finding, Some(Finding::StackUnreadable { .. })), "{d:?}");
        assert_eq!(d.action, Some(Action::Killed));
        assert_eq!(d.alert(&ev, 7, 1, 42, b"p").unwrap().fault, FaultKind::Decode);
        assert!(d.response(&req).1.is_some());
        let open = Enforcement { mode: Mode::Enforce, fail: FailMode::Open };
        let d = check_event(&checker, &mut state, &ev, &mut mem, open);
        assert_eq!(d.action, Some(Action::FailedOpen));
        assert!(d.resumes());
    }

    #[test]
    fn an_unchecked_call_fails_as_configured() {
        let regs = Registers { rax: 1, ..Registers::default() };
        let (req, ev) = event(EntryKind::Syscall64, regs);
        let d = unchecked(&ev, Enforcement::DEFAULT);
        assert_eq!((d.call.nr, d.finding, d.action), (1, Some(Finding::NoPolicy), Some(Action::Killed)));
        assert!(d.alert(&ev, 1, 1, 1, b"p").is_none());
        assert_eq!(d.response(&req).1, Some(KillCondition::Certain));
        let open = Enforcement { mode: Mode::Enforce, fail: FailMode::Open };
        assert!(unchecked(&ev, open).resumes());
    }

    #[test]
    fn a_corrupt_request_is_still_answered() {
        let req = VmEventSt { version: 0xdead, flags: 0, ..VmEventSt::default() };
        assert!(req.syscall_event().is_err());
        let rsp = resume_response(&req);
        assert_eq!(rsp.flags, VM_EVENT_FLAG_VCPU_PAUSED);
        let d = Decision {
            call: Syscall { abi: crate::syscall::Abi::X86_64, nr: 0, args: [0; 6], user_rip: 0 },
            finding: None,
            action: Some(Action::Killed),
        };
        assert_eq!(d.response(&req), (rsp, None));
    }
}
