//! Following P from outside: the phase the monitor is in, the filter Xen gets for each phase,
//! and how P's calls and the housekeeping poll move between phases.
//!
//! # Phases
//!
//! - [`Phase::Waiting`]: P is not running. Xen reports `execve`/`execveat` of every process.
//!   An exec whose file's base name is P's (or cannot be read) switches to `Switching`.
//! - [`Phase::Switching`]: every call of every process is reported until the task list shows a
//!   task named P whose pgd is the calling one: that call is P's first, and is checked.
//! - [`Phase::Tracking`]: only P's pgd (and, where the policy allows, only the numbers it has
//!   rules for) is reported; each call is checked. P's exec → `Switching`; its `exit_group`
//!   or its certain kill → `Waiting`.
//!
//! The machine is pure: a consumer feeds it events and what its [`Finder`] reads from the
//! guest, and applies the [`Filter`] and logs the [`Transition`] it returns.

use crate::decision::FailMode;
use crate::policy::{DefaultAction, Policy};
use crate::syscall::{decode, Abi, Syscall, NR_EXIT_GROUP_IA32, NR_EXIT_GROUP_X86_64};
use crate::xen_abi::{
    SyscallEvent, MONITOR_SYSCALL_BITMAP_BYTES, MONITOR_SYSCALL_FAIL_OPEN, MONITOR_SYSCALL_NR_FILTER,
    MONITOR_SYSCALL_NR_IA32,
};

/// Bytes of the number bitmap.
pub const BITMAP_BYTES: usize = MONITOR_SYSCALL_BITMAP_BYTES;
/// First bit of the ia32 half of the bitmap.
pub const NR_IA32: usize = MONITOR_SYSCALL_NR_IA32;
/// Mask of the page-table base Xen compares (the frame; PV guests set no low bits).
pub const PGD_MASK: u64 = !0xfff;
/// Events in `Switching` without finding P before giving up (back to `Waiting`; the poll
/// still finds a P that started meanwhile).
pub const SWITCH_BUDGET: u32 = 20_000;

/// x86-64 and ia32 numbers of the calls the monitor must always see of P: execve, execveat
/// (to follow it) and exit_group (to notice its end). x32 numbers are ≥ 512, always reported.
pub const EXEC_64: [u32; 2] = [59, 322];
/// ia32 execve, execveat.
pub const EXEC_IA32: [u32; 2] = [11, 358];
/// x32 execve, execveat (without the x32 bit).
pub const EXEC_X32: [u32; 2] = [520, 545];

/// The argument holding the path if call `nr` of `abi` is an exec call (always a register
/// argument, also for the ia32 fast entries).
pub fn exec_path_arg(abi: Abi, nr: u32) -> Option<usize> {
    let [execve, execveat] = match abi {
        Abi::X86_64 => EXEC_64,
        Abi::Ia32 => EXEC_IA32,
        Abi::X32 => EXEC_X32,
    };
    if nr == execve {
        Some(0)
    } else if nr == execveat {
        Some(1)
    } else {
        None
    }
}

/// Whether call `nr` of `abi` is `exit_group`.
pub fn is_exit_group(abi: Abi, nr: u32) -> bool {
    match abi {
        Abi::X86_64 | Abi::X32 => nr == NR_EXIT_GROUP_X86_64,
        Abi::Ia32 => nr == NR_EXIT_GROUP_IA32,
    }
}

/// The comm an exec of `path` gives (the base name, truncated to 15 bytes).
pub fn comm_of_path(path: &[u8]) -> &[u8] {
    let base = match path.iter().rposition(|&c| c == b'/') {
        Some(i) => path.get(i + 1..).unwrap_or(&[]),
        None => path,
    };
    base.get(..base.len().min(15)).unwrap_or(base)
}

fn set_bit(b: &mut [u8; BITMAP_BYTES], n: usize) {
    if let Some(x) = b.get_mut(n / 8) {
        *x |= 1 << (n % 8);
    }
}

/// Bitmap of the `Waiting` phase: exec calls only.
pub fn waiting_bitmap() -> [u8; BITMAP_BYTES] {
    let mut b = [0u8; BITMAP_BYTES];
    for n in EXEC_64 {
        set_bit(&mut b, n as usize);
    }
    for n in EXEC_IA32 {
        set_bit(&mut b, NR_IA32 + n as usize);
    }
    b
}

/// Bitmap of the `Tracking` phase, `None` when every number must be reported: a default-deny
/// policy or a legal-trace automaton decides on every call.
pub fn tracking_bitmap(p: &Policy<'_>) -> Option<[u8; BITMAP_BYTES]> {
    if p.default_action() == DefaultAction::Deny || p.automaton().is_some() {
        return None;
    }
    let mut b = waiting_bitmap();
    set_bit(&mut b, NR_EXIT_GROUP_X86_64 as usize);
    set_bit(&mut b, NR_IA32 + NR_EXIT_GROUP_IA32 as usize);
    // Bounded by the rule count.
    for i in 0..p.rule_count() {
        let r = p.rule(i)?;
        let nr = r.nr as usize;
        match r.abi {
            Abi::X86_64 if nr < NR_IA32 => set_bit(&mut b, nr),
            Abi::Ia32 if nr < NR_IA32 => set_bit(&mut b, NR_IA32 + nr),
            // Numbers the bitmap cannot name are always reported.
            _ => {}
        }
    }
    // An ABI without rules is a violation for every call of it: report all of them.
    if p.deny_other_abis() {
        if !p.has_rules_for(Abi::X86_64) {
            for n in 0..NR_IA32 {
                set_bit(&mut b, n);
            }
        }
        if !p.has_rules_for(Abi::Ia32) {
            for n in NR_IA32..2 * NR_IA32 {
                set_bit(&mut b, n);
            }
        }
    }
    Some(b)
}

/// What Xen is told to report (`XEN_DOMCTL_MONITOR_EVENT_SYSCALL` enable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Filter {
    /// `MONITOR_SYSCALL_*` flags.
    pub flags: u32,
    /// Page-table base to match (with `pgd_mask`); mask 0 selects every process.
    pub pgd_match: u64,
    /// Bits of the page-table base compared.
    pub pgd_mask: u64,
    /// Numbers reported when [`MONITOR_SYSCALL_NR_FILTER`] is set.
    pub bitmap: [u8; BITMAP_BYTES],
}

/// Where the monitor is in following P.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// P not running: only exec calls are reported.
    Waiting,
    /// An exec may have started P: every call is reported until P is found.
    Switching {
        /// P's pgd and pid when P itself exec'd: calls from that pgd mean P goes on there
        /// (its exec failed, or it was a vfork child's).
        from_p: Option<(u64, u32)>,
        /// Events seen in this phase.
        events: u32,
    },
    /// P found: its calls are checked.
    Tracking {
        /// P's pgd, machine address (what Xen compares with `guest_table`).
        pgd: u64,
        /// P's pid (tgid).
        pid: u32,
    },
}

impl Phase {
    /// The filter Xen gets in this phase. `policy` decides which numbers P's phase reports;
    /// `fail` whether Xen lets P's call go on when it cannot report it. Other processes are
    /// never killed for a call semguard cannot take: their phases fail open.
    pub fn filter(&self, policy: &Policy<'_>, fail: FailMode) -> Filter {
        match *self {
            Phase::Waiting => Filter {
                flags: MONITOR_SYSCALL_NR_FILTER | MONITOR_SYSCALL_FAIL_OPEN,
                pgd_match: 0,
                pgd_mask: 0,
                bitmap: waiting_bitmap(),
            },
            Phase::Switching { .. } => {
                Filter { flags: MONITOR_SYSCALL_FAIL_OPEN, pgd_match: 0, pgd_mask: 0, bitmap: [0; BITMAP_BYTES] }
            }
            Phase::Tracking { pgd, .. } => {
                let fail = match fail {
                    FailMode::Open => MONITOR_SYSCALL_FAIL_OPEN,
                    FailMode::Closed => 0,
                };
                let (nr, bitmap) = match tracking_bitmap(policy) {
                    Some(b) => (MONITOR_SYSCALL_NR_FILTER, b),
                    None => (0, [0; BITMAP_BYTES]),
                };
                Filter { flags: nr | fail, pgd_match: pgd, pgd_mask: PGD_MASK, bitmap }
            }
        }
    }

    /// P's page-table base while it is tracked.
    pub const fn tracked_pgd(&self) -> Option<u64> {
        match *self {
            Phase::Tracking { pgd, .. } => Some(pgd),
            _ => None,
        }
    }

    /// P's pid while it is tracked.
    pub const fn pid(&self) -> Option<u32> {
        match *self {
            Phase::Tracking { pid, .. } => Some(pid),
            _ => None,
        }
    }
}

/// What a consumer reads from the guest for the phase machine.
pub trait Finder {
    /// Why a search failed (the consumer's error; the machine treats it as "not found now").
    type Error;
    /// P in the task list, read through page-table base `cr3` (any process's tables map the
    /// guest kernel): `Ok(Some((pgd, pid)))`, `Ok(None)` if no task is P.
    fn find_p(&mut self, cr3: u64) -> Result<Option<(u64, u32)>, Self::Error>;
    /// Whether the exec at `ev`, whose path pointer is `path_va` (`None` for execveat of an
    /// fd), may start P: its base name is P's, or the path cannot be read.
    fn exec_may_start_p(&mut self, ev: &SyscallEvent, path_va: Option<u64>) -> bool;
}

/// A phase change, for the consumer to log (and to reset P's Assertion Checker state on
/// [`Transition::Found`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// An exec whose path may be P's: looking for P in every call.
    ExecSeen,
    /// P found (at an event, at attach or by the poll), or found again in another address
    /// space (a new P after the tracked one ended unseen).
    Found {
        /// P's pgd.
        pgd: u64,
        /// P's pid.
        pid: u32,
    },
    /// P's exec failed: it goes on in its old address space.
    ExecFailed {
        /// P's pid.
        pid: u32,
    },
    /// P exec'd: looking for it in its new address space.
    Execs {
        /// P's pid.
        pid: u32,
    },
    /// After P's exec no task has P's name: it exec'd another program.
    ExecdAway,
    /// Too many calls since an exec without finding P.
    SwitchGaveUp {
        /// Calls seen.
        events: u32,
    },
    /// P called `exit_group`.
    Exits {
        /// P's pid.
        pid: u32,
    },
    /// P was killed (the kill certainly runs).
    Killed {
        /// P's pid.
        pid: u32,
    },
    /// The poll no longer finds P (it ended without a call the monitor saw, e.g. a signal).
    Gone {
        /// P's pid.
        pid: u32,
    },
}

/// What to do with one reported call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// P's call: check it.
    Check,
    /// Not P's (another process, or reported under a filter just replaced): let it go on.
    Pass,
}

/// The phase machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tracker {
    phase: Phase,
}

impl Default for Tracker {
    fn default() -> Self {
        Self::new()
    }
}

impl Tracker {
    /// Waiting for P.
    pub const fn new() -> Self {
        Self { phase: Phase::Waiting }
    }

    /// The current phase.
    pub const fn phase(&self) -> Phase {
        self.phase
    }

    fn enter(&mut self, phase: Phase, t: Transition) -> Option<Transition> {
        self.phase = phase;
        Some(t)
    }

    /// Sets the phase from a search outside the event path (attach, the poll): P found with
    /// `found`, or not running. Returns the transition when the phase changes.
    pub fn on_search(&mut self, found: Option<(u64, u32)>) -> Option<Transition> {
        match (self.phase, found) {
            (Phase::Tracking { pgd, .. }, Some((p, _))) if p == pgd => None,
            (Phase::Tracking { .. } | Phase::Waiting, Some((pgd, pid))) => {
                self.enter(Phase::Tracking { pgd, pid }, Transition::Found { pgd, pid })
            }
            (Phase::Tracking { pid, .. }, None) => self.enter(Phase::Waiting, Transition::Gone { pid }),
            // Switching resolves itself at the next events.
            _ => None,
        }
    }

    /// Back to waiting (the monitor detached).
    pub fn reset(&mut self) {
        self.phase = Phase::Waiting;
    }

    /// Whether `ev` is a call of the tracked P: what [`Tracker::on_event`] routes to
    /// [`Route::Check`] without reading the guest (a consumer may skip preparing its
    /// [`Finder`] for it: the hot path).
    pub fn is_tracked(&self, ev: &SyscallEvent) -> bool {
        matches!(self.phase, Phase::Tracking { pgd, .. } if pgd == ev.regs.cr3 & PGD_MASK)
    }

    /// Routes one reported call, moving phases as P's calls say. `Route::Check` means P's
    /// call: the consumer checks it and then calls [`Tracker::after_check`].
    pub fn on_event<F: Finder>(&mut self, ev: &SyscallEvent, finder: &mut F) -> (Route, Option<Transition>) {
        if self.is_tracked(ev) {
            return (Route::Check, None);
        }
        let cr3 = ev.regs.cr3 & PGD_MASK;
        match self.phase {
            // Reported under a filter that was just replaced.
            Phase::Tracking { .. } => (Route::Pass, None),
            Phase::Waiting => {
                let d = decode(ev.entry, &ev.regs);
                let t = match exec_path_arg(d.abi(), d.nr()) {
                    Some(arg) if finder.exec_may_start_p(ev, d.reg_arg(arg)) => {
                        self.enter(Phase::Switching { from_p: None, events: 0 }, Transition::ExecSeen)
                    }
                    _ => None,
                };
                (Route::Pass, t)
            }
            Phase::Switching { from_p, events } => {
                if let Some((old, pid)) = from_p {
                    if old == cr3 {
                        let t = self.enter(Phase::Tracking { pgd: cr3, pid }, Transition::ExecFailed { pid });
                        return (Route::Check, t);
                    }
                }
                match finder.find_p(ev.regs.cr3) {
                    // P still in its old address space: its exec is under way.
                    Ok(Some((pgd, _))) if Some(pgd) == from_p.map(|(old, _)| old) => {}
                    Ok(Some((pgd, pid))) => {
                        let t = self.enter(Phase::Tracking { pgd, pid }, Transition::Found { pgd, pid });
                        // P's first call of its new program, or another process's.
                        return (if pgd == cr3 { Route::Check } else { Route::Pass }, t);
                    }
                    Ok(None) if from_p.is_some() => {
                        return (Route::Pass, self.enter(Phase::Waiting, Transition::ExecdAway))
                    }
                    Ok(None) | Err(_) => {}
                }
                let events = events.saturating_add(1);
                if events >= SWITCH_BUDGET {
                    return (Route::Pass, self.enter(Phase::Waiting, Transition::SwitchGaveUp { events }));
                }
                self.phase = Phase::Switching { from_p, events };
                (Route::Pass, None)
            }
        }
    }

    /// After one of P's calls was checked: `call` as decoded; `resumes` whether it goes on;
    /// `kill_certain` whether a kill certainly ends P (its exit_group runs).
    pub fn after_check(&mut self, cr3: u64, call: &Syscall, resumes: bool, kill_certain: bool) -> Option<Transition> {
        let Phase::Tracking { pid, .. } = self.phase else { return None };
        if !resumes {
            return if kill_certain { self.enter(Phase::Waiting, Transition::Killed { pid }) } else { None };
        }
        if exec_path_arg(call.abi, call.nr).is_some() {
            // Find P again in its new address space (or, if the exec fails, keep the old one).
            let from_p = Some((cr3 & PGD_MASK, pid));
            return self.enter(Phase::Switching { from_p, events: 0 }, Transition::Execs { pid });
        }
        if is_exit_group(call.abi, call.nr) {
            return self.enter(Phase::Waiting, Transition::Exits { pid });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regs::{EntryKind, Registers};
    use crate::xen_abi::VmEventSt;

    struct Guest {
        p: Option<(u64, u32)>,
        exec_is_p: bool,
        searches: u32,
    }

    impl Finder for Guest {
        type Error = ();
        fn find_p(&mut self, _cr3: u64) -> Result<Option<(u64, u32)>, ()> {
            self.searches += 1;
            Ok(self.p)
        }
        fn exec_may_start_p(&mut self, _ev: &SyscallEvent, _path: Option<u64>) -> bool {
            self.exec_is_p
        }
    }

    fn ev(cr3: u64, nr: u64) -> SyscallEvent {
        let regs = Registers { rax: nr, cr3, rdi: 0x1000, ..Registers::default() };
        VmEventSt::syscall_request(0, EntryKind::Syscall64, &regs).syscall_event().unwrap()
    }

    fn call(nr: u32) -> Syscall {
        Syscall { abi: Abi::X86_64, nr, args: [0; 6], user_rip: 0 }
    }

    #[test]
    fn exec_find_track_exit() {
        let mut g = Guest { p: None, exec_is_p: true, searches: 0 };
        let mut t = Tracker::new();
        // A call other than exec while waiting changes nothing.
        assert_eq!(t.on_event(&ev(0x5000, 39), &mut g), (Route::Pass, None));
        // An exec of P's name: switching.
        assert_eq!(t.on_event(&ev(0x5000, 59), &mut g), (Route::Pass, Some(Transition::ExecSeen)));
        // Another process's call while P is not yet in the task list.
        assert_eq!(t.on_event(&ev(0x6000, 0), &mut g), (Route::Pass, None));
        assert_eq!(t.phase(), Phase::Switching { from_p: None, events: 1 });
        // P appears; the call is its own.
        g.p = Some((0x7000, 42));
        let found = Some(Transition::Found { pgd: 0x7000, pid: 42 });
        assert_eq!(t.on_event(&ev(0x7000, 12), &mut g), (Route::Check, found));
        assert_eq!(t.phase().pid(), Some(42));
        assert_eq!(t.on_event(&ev(0x7000, 1), &mut g), (Route::Check, None));
        assert_eq!(t.on_event(&ev(0x8000, 1), &mut g), (Route::Pass, None));
        assert_eq!(t.after_check(0x7000, &call(1), true, false), None);
        assert_eq!(t.after_check(0x7000, &call(231), true, false), Some(Transition::Exits { pid: 42 }));
        assert_eq!(t.phase(), Phase::Waiting);
    }

    #[test]
    fn an_exec_of_another_name_is_ignored() {
        let mut g = Guest { p: None, exec_is_p: false, searches: 0 };
        let mut t = Tracker::new();
        assert_eq!(t.on_event(&ev(0x5000, 59), &mut g), (Route::Pass, None));
        assert_eq!(t.phase(), Phase::Waiting);
        assert_eq!(g.searches, 0);
    }

    #[test]
    fn p_execs_fails_or_leaves() {
        let mut g = Guest { p: Some((0x7000, 42)), exec_is_p: true, searches: 0 };
        let mut t = Tracker::new();
        assert!(t.on_search(g.p).is_some());
        // P execs: switching from its old pgd.
        assert_eq!(t.after_check(0x7000, &call(59), true, false), Some(Transition::Execs { pid: 42 }));
        // Still in the old address space (exec under way), as seen from another process.
        assert_eq!(t.on_event(&ev(0x6000, 0), &mut g), (Route::Pass, None));
        // A call from the old pgd: the exec failed.
        assert_eq!(t.on_event(&ev(0x7000, 1), &mut g), (Route::Check, Some(Transition::ExecFailed { pid: 42 })));
        // P execs again and this time runs another program: no task is P any more.
        t.after_check(0x7000, &call(59), true, false);
        g.p = None;
        assert_eq!(t.on_event(&ev(0x9000, 1), &mut g), (Route::Pass, Some(Transition::ExecdAway)));
        assert_eq!(t.phase(), Phase::Waiting);
    }

    #[test]
    fn kills_polls_and_the_switch_budget() {
        let mut g = Guest { p: None, exec_is_p: true, searches: 0 };
        let mut t = Tracker::new();
        t.on_search(Some((0x7000, 42)));
        // A kill that may not run keeps tracking; a certain one ends P.
        assert_eq!(t.after_check(0x7000, &call(1), false, false), None);
        assert_eq!(t.after_check(0x7000, &call(1), false, true), Some(Transition::Killed { pid: 42 }));
        // The poll: found, moved, gone.
        assert_eq!(t.on_search(Some((0x7000, 42))), Some(Transition::Found { pgd: 0x7000, pid: 42 }));
        assert_eq!(t.on_search(Some((0x7000, 42))), None);
        assert_eq!(t.on_search(Some((0xa000, 43))), Some(Transition::Found { pgd: 0xa000, pid: 43 }));
        assert_eq!(t.on_search(None), Some(Transition::Gone { pid: 43 }));
        // Switching gives up after the budget.
        t.on_event(&ev(0x5000, 59), &mut g);
        let mut last = None;
        for _ in 0..SWITCH_BUDGET {
            last = t.on_event(&ev(0x6000, 0), &mut g).1;
        }
        assert_eq!(last, Some(Transition::SwitchGaveUp { events: SWITCH_BUDGET }));
        assert_eq!(t.phase(), Phase::Waiting);
    }
}
