//! The decision for one trapped call, the same for every consumer: semguard.ko (IRQ path),
//! `sgmon` (dom0 user space) and `semguard policy check` (ptrace dry run).
//!
//! [`check_event`] decodes the call (reading an ia32 fast entry's 6th argument from P's stack),
//! runs the Assertion Checker and maps the result through the operator's [`Enforcement`] to
//! an [`Action`]; [`Decision::response`] turns that into the vm_event response Xen reads.
//! Each consumer keeps only its glue: how a request arrives, how guest memory is read, how the
//! answer goes back, and what it counts and logs.

use crate::addr::{GuestVirtAddr, PAGE_SIZE};
use crate::alert::{Action, AlertRecord};
use crate::checker::{Checker, ProcessState};
use crate::eval::{EvalFault, Verdict};
use crate::mem::{MemError, VirtMemory};
use crate::regs::EntryKind;
use crate::syscall::{decode, DecodeError, KillCondition, Syscall, KILL_STATUS};
use crate::walker::WalkErrorKind;
use crate::xen_abi::{
    build_response, kill_response, page_in_response, return_response, SyscallEvent, VmEventSt,
    VM_EVENT_FLAG_VCPU_PAUSED,
};

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

impl Finding {
    /// The user address whose page was not present, when that alone kept the checker from
    /// deciding: a fault would bring it in, or tell that nothing maps it.
    pub fn missing_page(&self) -> Option<GuestVirtAddr> {
        let error = match *self {
            Self::Verdict(Verdict::Unverifiable { reason: EvalFault::Memory { error, .. }, .. }) => error,
            Self::StackUnreadable { error, .. } => error,
            _ => return None,
        };
        match error {
            MemError::Walk { va, error } if error.kind == WalkErrorKind::NotPresent && va.0 < USER_TOP => Some(va),
            _ => None,
        }
    }
}

/// End of the user half of an x86-64 address space (what P can map and fault on).
pub const USER_TOP: u64 = 1 << 47;

/// Most times one call is retried after a page fault before it is decided as unverifiable
/// (a page the guest reclaims again at once, or a P that unmaps what it points at).
pub const MAX_PAGE_INS: u8 = 4;

/// `-EFAULT`: what the guest kernel returns for a pointer into no mapping.
pub const EFAULT: i64 = -14;

/// What a missing page of P means for a call, from the guest's memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageFate {
    /// A readable mapping covers it: a fault brings it in.
    FaultIn,
    /// Nothing readable maps it: the guest kernel's own access would fail (`EFAULT`), and P's
    /// would be a `SIGSEGV`.
    NoMapping,
    /// Cannot tell (the memory map is unreadable or unknown): the fail mode decides.
    Unknown,
}

/// The consumer's view of P's memory map ([`resolve_missing_page`]).
pub trait Pager {
    /// What a fault of P at `va` would do.
    fn fate(&mut self, va: GuestVirtAddr) -> PageFate;
}

/// A call not decided now: what happens instead of running it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// P takes a read fault at `va` first (the guest kernel brings the page in), then makes the
    /// call again, which is checked again.
    PageIn {
        /// The address of the missing page (the first byte the checker could not read).
        va: GuestVirtAddr,
    },
    /// The call returns `EFAULT` without running: nothing maps `va`, so the guest kernel's
    /// own read would fail the same way.
    Efault {
        /// The address nothing maps.
        va: GuestVirtAddr,
    },
}

/// The outcome of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The call as decoded (for [`Finding::StackUnreadable`]: as far as the registers say,
    /// arguments 0).
    pub call: Syscall,
    /// Why it did not pass; `None` when the policy allows it.
    pub finding: Option<Finding>,
    /// What to do with it: `None` for an allowed call (and a retried one).
    pub action: Option<Action>,
    /// The call is not run now ([`resolve_missing_page`]); `finding` says why it could not be
    /// decided.
    pub retry: Option<Retry>,
}

impl Decision {
    /// Whether the call goes on (allowed, audited or failed open) or is retried.
    pub const fn resumes(&self) -> bool {
        !matches!(self.action, Some(Action::Killed))
    }

    /// The alert record for a call that did not pass (`None` for an allowed one). The
    /// identifying fields are the consumer's; `seq` and `time_ns` are left 0 for it to set.
    #[allow(clippy::too_many_arguments)]
    pub fn alert(&self, ev: &SyscallEvent, policy_id: u32, domid: u16, pid: u32, comm: &[u8]) -> Option<AlertRecord> {
        if self.retry.is_some() {
            return None;
        }
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
        if let Some(retry) = self.retry {
            let rsp = match retry {
                Retry::PageIn { va } => page_in_response(req, va.0),
                Retry::Efault { .. } => return_response(req, EFAULT),
            };
            // Not a valid syscall request: nothing to answer but the vCPU.
            return (rsp.unwrap_or_else(|_| resume_response(req)), None);
        }
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
    Decision { call, finding: Some(Finding::NoPolicy), action: Some(enforcement.action(true)), retry: None }
}

/// Most bytes after where an argument points that a check reads through it (the longest
/// string, `LANGUAGE.md`'s 4096; structures are shorter).
const ARG_SPAN: u64 = 4096;

/// Whether `va` is memory an argument of `call` points to: a value that can be a user pointer
/// (not within the first page, where small integers live) at or up to [`ARG_SPAN`] below `va`.
/// A page missing there is one the guest kernel's own read of that argument would meet.
fn pointed_to_by_an_argument(call: &Syscall, va: GuestVirtAddr) -> bool {
    call.args.iter().any(|&a| a >= PAGE_SIZE && va.0.wrapping_sub(a) <= ARG_SPAN)
}

/// A call `d` left undecided only because a page of P was not present: unless it is the
/// `attempts`-th retry already ([`MAX_PAGE_INS`]), P takes the fault first when a mapping
/// covers the page; when none does and an argument points there, the call returns `EFAULT`
/// without running (as the guest kernel's own read of that argument would). Anything else —
/// another reason, memory the policy reads for itself that nothing maps (a variable P has
/// unmapped), a SYSENTER call (Xen cannot retry it: it saves no user RIP), an unknown memory
/// map — is left to the fail mode.
pub fn resolve_missing_page<P: Pager + ?Sized>(d: Decision, entry: EntryKind, attempts: u8, pager: &mut P) -> Decision {
    let Some(va) = d.finding.and_then(|f| f.missing_page()) else { return d };
    if entry == EntryKind::Sysenter {
        return d;
    }
    let retry = match pager.fate(va) {
        PageFate::FaultIn if attempts < MAX_PAGE_INS => Retry::PageIn { va },
        PageFate::NoMapping if pointed_to_by_an_argument(&d.call, va) => Retry::Efault { va },
        _ => return d,
    };
    Decision { action: None, retry: Some(retry), ..d }
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
    Decision { call, finding, action, retry: None }
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
    use crate::xen_abi::{VM_EVENT_FLAG_SET_REGISTERS, VM_EVENT_SYSCALL_PAGE_IN, VM_EVENT_SYSCALL_RETURN};

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

    /// A memory map of scripted answers, counting the questions.
    struct Map(PageFate, u32);
    impl Pager for Map {
        fn fate(&mut self, _va: GuestVirtAddr) -> PageFate {
            self.1 += 1;
            self.0
        }
    }

    #[test]
    fn a_missing_page_is_faulted_in_or_answered_with_efault() {
        let mut blob = [0u8; 1024];
        let n = examples::open_path_equals(&mut blob, b"/etc/app.conf").unwrap();
        let checker = Checker::new(Policy::decode(&blob[..n]).unwrap());
        let mut state = checker.new_process();
        let mut mem = FlatMemory::<1>::new();
        // openat(AT_FDCWD, 0x4000_1000, …): nothing there in `mem`.
        let regs = Registers { rax: 257, rdi: (-100i64) as u64, rsi: 0x4000_1000, ..Registers::default() };
        let (req, ev) = event(EntryKind::Syscall64, regs);
        let d = check_event(&checker, &mut state, &ev, &mut mem, Enforcement::DEFAULT);
        assert_eq!(d.finding.and_then(|f| f.missing_page()), Some(GuestVirtAddr(0x4000_1000)));
        assert_eq!(d.action, Some(Action::Killed));

        // Mapped but not present: P takes the fault, nothing is killed or reported.
        let mut map = Map(PageFate::FaultIn, 0);
        let r = resolve_missing_page(d, EntryKind::Syscall64, 0, &mut map);
        assert_eq!((r.retry, r.action), (Some(Retry::PageIn { va: GuestVirtAddr(0x4000_1000) }), None));
        assert!(r.resumes() && r.alert(&ev, 1, 1, 1, b"p").is_none());
        let (rsp, kill) = r.response(&req);
        assert_eq!((rsp.u.syscall().flags, rsp.data.cr2, kill), (VM_EVENT_SYSCALL_PAGE_IN, 0x4000_1000, None));
        assert_eq!(rsp.flags & VM_EVENT_FLAG_SET_REGISTERS, 0);
        // … but not forever: past the bound, the fail mode decides.
        let r = resolve_missing_page(d, EntryKind::Syscall64, MAX_PAGE_INS, &mut map);
        assert_eq!((r.retry, r.action), (None, Some(Action::Killed)));

        // Nothing maps where the path argument points: the call fails as the guest kernel
        // would fail it, without running.
        let r = resolve_missing_page(d, EntryKind::Syscall64, 0, &mut Map(PageFate::NoMapping, 0));
        assert_eq!(r.retry, Some(Retry::Efault { va: GuestVirtAddr(0x4000_1000) }));
        let (rsp, _) = r.response(&req);
        assert_eq!((rsp.u.syscall().flags, rsp.data.rax), (VM_EVENT_SYSCALL_RETURN, EFAULT as u64));
        // … also past the string's first page; but memory no argument points to (a variable of
        // P's that nothing maps any more) is P's doing: the fail mode decides.
        let far = Decision { call: Syscall { args: [0, 0x4000_0800, 0, 0, 0, 0], ..d.call }, ..d };
        let r = resolve_missing_page(far, EntryKind::Syscall64, 0, &mut Map(PageFate::NoMapping, 0));
        assert!(matches!(r.retry, Some(Retry::Efault { .. })));
        let small = Decision { call: Syscall { args: [0, 8, 0, 0, 0, 0], ..d.call }, ..d };
        let r = resolve_missing_page(small, EntryKind::Syscall64, 0, &mut Map(PageFate::NoMapping, 0));
        assert_eq!((r.retry, r.action), (None, Some(Action::Killed)));
        let other = Decision { call: Syscall { args: [0, 0x5000_0000, 0, 0, 0, 0], ..d.call }, ..d };
        let r = resolve_missing_page(other, EntryKind::Syscall64, 0, &mut Map(PageFate::NoMapping, 0));
        assert_eq!((r.retry, r.action), (None, Some(Action::Killed)));

        // Unknown map, SYSENTER (Xen cannot retry it): the fail mode, as before.
        let r = resolve_missing_page(d, EntryKind::Syscall64, 0, &mut Map(PageFate::Unknown, 0));
        assert_eq!((r.retry, r.action), (None, Some(Action::Killed)));
        let mut map = Map(PageFate::FaultIn, 0);
        let r = resolve_missing_page(d, EntryKind::Sysenter, 0, &mut map);
        assert_eq!((r.retry, map.1), (None, 0));

        // A page that is there but says "no" is a violation, never a page-in; a kernel address
        // is not P's to fault on.
        mem.write(0x4000_1000, b"/etc/passwd\0");
        let d = check_event(&checker, &mut state, &ev, &mut mem, Enforcement::DEFAULT);
        assert!(matches!(d.finding, Some(Finding::Verdict(Verdict::Violation { .. }))));
        let mut map = Map(PageFate::FaultIn, 0);
        assert_eq!((resolve_missing_page(d, EntryKind::Syscall64, 0, &mut map).retry, map.1), (None, 0));
        let regs = Registers { rsi: 0xffff_8880_0000_0000, ..regs };
        let (_, ev) = event(EntryKind::Syscall64, regs);
        let d = check_event(&checker, &mut state, &ev, &mut mem, Enforcement::DEFAULT);
        assert!(d.finding.is_some() && d.finding.unwrap().missing_page().is_none());
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
            retry: None,
        };
        assert_eq!(d.response(&req), (rsp, None));
    }
}
