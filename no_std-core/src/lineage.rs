//! Who P is, as a consumer of Xen's lineage set sees it: every address space running P's
//! program, and all their descendants, each with its own Assertion Checker state.
//!
//! Xen keeps the set itself (`XEN_DOMCTL_MONITOR_SYSCALL_LINEAGE`, xen-patches 0009): a table
//! the guest kernel pins while a vCPU runs one of P's address spaces (a fork's child, an exec's
//! new image) joins before its first instruction, and an unpin (the address space's end) drops
//! it before the frame can be reused. Each request says where the caller is in that set:
//!
//! - **member** ([`VM_EVENT_SYSCALL_MEMBER`]): one of P's address spaces. Its first report
//!   ([`VM_EVENT_SYSCALL_FRESH`]) creates its state here: a fork child continues its parent's
//!   automaton where the parent was; a new image (after an exec) starts afresh. A new image of
//!   another program is let go ([`VM_EVENT_SYSCALL_RELEASE`]) only when the exec was allowed by
//!   a rule the policy has for it (`syscall execve { … }`: the policy says what P may run);
//!   after an exec allowed by the default (or audited, or failed open) it stays a member,
//!   checked against P's policy — the safe default.
//! - **candidate** ([`VM_EVENT_SYSCALL_CANDIDATE`]): the new image of a process outside the
//!   lineage that exec'd (the consumer watched it, [`VM_EVENT_SYSCALL_WATCH`]). At its first
//!   call its image is identified by P's build-id note ([`Identify::p_image`]): P's program →
//!   adopted ([`VM_EVENT_SYSCALL_ADOPT`]), a new instance with a fresh state; another program,
//!   or nothing mapped there → released ([`VM_EVENT_SYSCALL_RELEASE`]). A note whose page is
//!   mapped but not faulted in yet (a static program's first call, glibc's CET probe, comes
//!   before its start-up code reads that page) decides nothing: the candidate stays one, its
//!   call goes on unchecked (the program's own start-up code, before it has read any input),
//!   and the next call asks again. A real P's start-up reads that page before its second call
//!   (glibc's IRELATIVE relocations and TLS set-up read its program headers); a program that
//!   never does (Go binaries map their ELF header there and never touch it) is released after
//!   [`UNDECIDED_CALLS`] calls — taking it as P would kill unrelated programs under P's
//!   policy. The residual risk: a P instance whose page 0 the guest reclaims right after its
//!   start-up read it, and keeps reclaimed for that many calls, runs unchecked.
//! - anything else: only exec calls are reported; each is answered with a watch (after which
//!   Xen reports none of that process's calls: its next images are candidates).
//!
//! The consumer learns of births from the first reports; it does not learn of deaths (Xen
//! has already stopped reporting them): a member that `exit_group`s or is killed is dropped at
//! once, the others when a task-list search no longer finds them ([`Lineage::end_sweep`]), or,
//! when the table is full, the one unused the longest.
//!
//! Pure: the consumer feeds it events and what its [`Identify`] reads from the guest, and
//! applies the response flags and logs the [`Birth`] it returns.

use crate::checker::{Checker, ProcessState};
use crate::decision::{Decision, Retry};
use crate::syscall::{decode, Syscall};
use crate::tracking::{exec_path_arg, is_exit_group, PGD_MASK};
use crate::xen_abi::{
    SyscallEvent, VM_EVENT_SYSCALL_ADOPT, VM_EVENT_SYSCALL_CANDIDATE, VM_EVENT_SYSCALL_FRESH, VM_EVENT_SYSCALL_MEMBER,
    VM_EVENT_SYSCALL_RELEASE, VM_EVENT_SYSCALL_WATCH,
};

/// Calls of a candidate whose note is not readable yet before it is released as not P.
pub const UNDECIDED_CALLS: u32 = 16;
/// Candidates counted at once (the oldest count is dropped for a new one).
const UNDECIDED: usize = 16;

/// Address spaces of P's lineage the consumer keeps state for: one per two of Xen's member
/// tables (a PV Linux address space pins a kernel and a user table).
pub const MEMBERS: usize = crate::xen_abi::MONITOR_SYSCALL_MEMBERS / 2;

/// What an address space runs, as far as its image shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Image {
    /// P's program (its build-id note is at P's address).
    P,
    /// Another program.
    Other,
    /// Not readable when it joined, and no parent to inherit from.
    Unknown,
}

/// One of P's address spaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its page-table base (what Xen compares).
    pub pgd: u64,
    /// The base on whose vCPU it was pinned (0: an instance found running or adopted).
    pub parent: u64,
    /// Its process id, 0 until a search found it.
    pub pid: u32,
    /// Its `mm_struct` (guest kernel virtual address), 0 until a search found it: where its
    /// memory map is, for a page it needs brought in ([`crate::decision::Pager`]).
    pub mm: u64,
    /// Its Assertion Checker state.
    pub state: ProcessState,
    /// What it runs.
    pub image: Image,
    /// Its last allowed call was an exec: an address space born of it now is its new image.
    pub exec_pending: bool,
    /// That exec was allowed by a rule of the policy: a new image of another program is let go.
    pub exec_allowed: bool,
    /// A new image after such an exec whose note was not readable at its first call: asked
    /// again at its next calls (let go once it shows another program).
    pub recheck: u32,
    /// Calls retried after a page fault since its last decided call (bounded by
    /// [`crate::decision::MAX_PAGE_INS`]).
    pub page_ins: u8,
    /// When it last made a reported call (this table's event clock).
    last_used: u64,
    /// Found by the current sweep ([`Lineage::mark`]).
    seen: bool,
}

impl Member {
    /// A member not seen yet, with no exec pending.
    const fn new(pgd: u64, parent: u64, pid: u32, state: ProcessState, image: Image) -> Self {
        Self {
            pgd,
            parent,
            pid,
            mm: 0,
            state,
            image,
            exec_pending: false,
            exec_allowed: false,
            recheck: 0,
            page_ins: 0,
            last_used: 0,
            seen: false,
        }
    }
}

/// What the lineage reads from the guest.
pub trait Identify {
    /// Whether the address space `cr3` maps P's image, and where: `Ok(Some(base))` with the
    /// image's load base (0 for a policy with absolute addresses), `Ok(None)` for another
    /// image (also when nothing is mapped where the note would be), `Err(())` when it cannot
    /// be told (the note's page is mapped but not present — not faulted in yet, or reclaimed —
    /// or a position-independent P's base cannot be read yet).
    fn p_image(&mut self, cr3: u64) -> Result<Option<u64>, ()>;
    /// The process id of the address space `pgd`, if a short search finds it.
    fn pid_of(&mut self, pgd: u64) -> Option<u32>;
}

/// What to do with one reported call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// A call of the member in this slot: check it against P's policy with its state.
    Check(usize),
    /// Not P's: let it go on.
    Pass,
}

/// An address space the lineage learnt of, for the consumer's log and counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Birth {
    /// A process outside the lineage started P's program: a new instance.
    Instance {
        /// Its base.
        pgd: u64,
        /// Its pid (0: not found yet).
        pid: u32,
        /// Where its image is loaded (0 for a P linked at fixed addresses).
        image_base: u64,
    },
    /// A descendant of P (a fork's child or a member's new image).
    Descendant {
        /// Its base.
        pgd: u64,
        /// The base it was pinned on.
        parent: u64,
        /// Its pid (0: not found yet).
        pid: u32,
        /// What it runs.
        image: Image,
    },
    /// A new image of a process outside the lineage that is not P's program.
    Released {
        /// Its base.
        pgd: u64,
        /// Its note stayed unreadable for [`UNDECIDED_CALLS`] calls.
        unreadable: bool,
    },
    /// The new image of an exec the policy allowed by a rule runs another program: let go.
    ExecdAway {
        /// Its base.
        pgd: u64,
        /// The base of the process that exec'd.
        parent: u64,
    },
    /// A new image whose note is not readable yet: asked again at its next call.
    Undecided {
        /// Its base.
        pgd: u64,
        /// Its calls so far without a readable note.
        calls: u32,
    },
    /// An exec of a process outside the lineage: watched, so that its new image is seen.
    Watched,
}

/// The consumer's answer to one reported call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Routed {
    /// Check or pass.
    pub route: Route,
    /// `VM_EVENT_SYSCALL_*` flags for the response (0: none).
    pub rsp_flags: u32,
    /// What the lineage learnt.
    pub birth: Option<Birth>,
    /// A member dropped to make room (the one unused the longest).
    pub evicted: Option<Member>,
}

impl Routed {
    const fn pass(rsp_flags: u32, birth: Option<Birth>) -> Self {
        Self { route: Route::Pass, rsp_flags, birth, evicted: None }
    }
}

/// P's address spaces, kept in `slots[..len]` (a slot index is valid until the next change).
pub struct Lineage {
    slots: [Option<Member>; MEMBERS],
    len: usize,
    /// Event clock for [`Member::last_used`].
    clock: u64,
    /// The slot of the last member seen: most calls come from the same process.
    last: usize,
    /// Candidates without a readable note yet, and their calls.
    undecided: [Option<(u64, u32)>; UNDECIDED],
    /// Next `undecided` entry to reuse.
    undecided_hand: usize,
}

impl Default for Lineage {
    fn default() -> Self {
        Self::new()
    }
}

impl Lineage {
    /// No member.
    pub const fn new() -> Self {
        Self { slots: [None; MEMBERS], len: 0, clock: 0, last: 0, undecided: [None; UNDECIDED], undecided_hand: 0 }
    }

    /// Members now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no member.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The members.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.slots.iter().take(self.len).flatten()
    }

    /// The member that made the latest reported call (or was added last).
    pub fn latest(&self) -> Option<&Member> {
        self.members().max_by_key(|m| m.last_used)
    }

    /// The member in `slot`.
    pub fn member(&self, slot: usize) -> Option<&Member> {
        self.slots.get(slot).and_then(Option::as_ref)
    }

    /// The member in `slot`, to check a call with its state.
    pub fn member_mut(&mut self, slot: usize) -> Option<&mut Member> {
        self.slots.get_mut(slot).and_then(Option::as_mut)
    }

    /// The slot of the member with base `pgd`.
    pub fn find(&self, pgd: u64) -> Option<usize> {
        let pgd = pgd & PGD_MASK;
        if matches!(self.slots.get(self.last), Some(Some(m)) if m.pgd == pgd) {
            return Some(self.last);
        }
        self.slots.iter().take(self.len).position(|s| matches!(s, Some(m) if m.pgd == pgd))
    }

    /// Removes the member in `slot`; the last one takes its place.
    fn remove(&mut self, slot: usize) {
        if slot >= self.len {
            return;
        }
        self.len -= 1;
        self.slots.swap(slot, self.len);
        if let Some(s) = self.slots.get_mut(self.len) {
            *s = None;
        }
    }

    /// Forgets every member (the monitor detached). In place: a whole table would not fit
    /// on a kernel stack.
    pub fn clear(&mut self) {
        for s in self.slots.iter_mut() {
            *s = None;
        }
        self.len = 0;
        self.clock = 0;
        self.last = 0;
        self.undecided = [None; UNDECIDED];
        self.undecided_hand = 0;
    }

    /// Counts one more undecided call of candidate `pgd`; returns the count.
    fn undecided_call(&mut self, pgd: u64) -> u32 {
        if let Some((_, n)) = self.undecided.iter_mut().flatten().find(|(p, _)| *p == pgd) {
            *n = n.saturating_add(1);
            return *n;
        }
        let hand = self.undecided_hand % UNDECIDED;
        if let Some(e) = self.undecided.get_mut(hand) {
            *e = Some((pgd, 1));
        }
        self.undecided_hand = hand + 1;
        1
    }

    /// Forgets candidate `pgd`'s undecided calls (decided).
    fn decided(&mut self, pgd: u64) {
        for e in self.undecided.iter_mut() {
            if matches!(e, Some((p, _)) if *p == pgd) {
                *e = None;
            }
        }
    }

    /// Puts `m` in a slot (replacing a member with its base, else a free slot, else the one
    /// unused the longest, which is returned).
    fn insert(&mut self, mut m: Member) -> (usize, Option<Member>) {
        self.clock = self.clock.wrapping_add(1);
        m.last_used = self.clock;
        let (slot, evicted) = match self.find(m.pgd) {
            Some(s) => (s, None),
            None if self.len < MEMBERS => {
                self.len += 1;
                (self.len - 1, None)
            }
            None => {
                let lru = self.slots.iter().enumerate().min_by_key(|(_, s)| s.map_or(0, |m| m.last_used));
                lru.map_or((0, None), |(i, s)| (i, *s))
            }
        };
        if let Some(s) = self.slots.get_mut(slot) {
            *s = Some(m);
        }
        self.last = slot;
        (slot, evicted)
    }

    /// Adds an instance of P found running (at attach), with a fresh state. Returns the
    /// member it displaced, if the table was full.
    pub fn adopt(&mut self, pgd: u64, pid: u32, state: ProcessState) -> Option<Member> {
        self.insert(Member::new(pgd & PGD_MASK, 0, pid, state, Image::P)).1
    }

    /// The slot of a member this table knows making a call that is not its first (the hot
    /// path: nothing to read from the guest), marking it used. `None` also for a member whose
    /// image is still to be identified ([`Member::recheck`]).
    pub fn known(&mut self, ev: &SyscallEvent) -> Option<usize> {
        if ev.set_flags & (VM_EVENT_SYSCALL_MEMBER | VM_EVENT_SYSCALL_FRESH) != VM_EVENT_SYSCALL_MEMBER {
            return None;
        }
        let slot = self.find(ev.regs.cr3)?;
        if self.member(slot).is_some_and(|m| m.recheck > 0) {
            return None;
        }
        self.clock = self.clock.wrapping_add(1);
        let now = self.clock;
        if let Some(m) = self.member_mut(slot) {
            m.last_used = now;
        }
        self.last = slot;
        Some(slot)
    }

    /// Routes one reported call (see the module docs). A `Route::Check` is checked by the
    /// consumer with the member's state, then given to [`Lineage::after_check`].
    pub fn route<I: Identify>(&mut self, ev: &SyscallEvent, checker: &Checker<'_>, id: &mut I) -> Routed {
        let flags = ev.set_flags;
        let pgd = ev.regs.cr3 & PGD_MASK;
        if flags & VM_EVENT_SYSCALL_MEMBER != 0 {
            if let Some(slot) = self.known(ev) {
                return Routed { route: Route::Check(slot), rsp_flags: 0, birth: None, evicted: None };
            }
            if flags & VM_EVENT_SYSCALL_FRESH == 0 {
                if let Some(slot) = self.find(pgd) {
                    return self.recheck(slot, ev, id);
                }
            }
            return self.descendant(ev, checker, id);
        }
        if flags & VM_EVENT_SYSCALL_CANDIDATE != 0 {
            let read = id.p_image(ev.regs.cr3);
            let unreadable = match read {
                Ok(Some(_)) => None,
                Ok(None) => Some(false),
                Err(()) => {
                    let calls = self.undecided_call(pgd);
                    if calls < UNDECIDED_CALLS {
                        return Routed::pass(0, Some(Birth::Undecided { pgd, calls }));
                    }
                    Some(true)
                }
            };
            self.decided(pgd);
            if let Some(unreadable) = unreadable {
                return Routed::pass(VM_EVENT_SYSCALL_RELEASE, Some(Birth::Released { pgd, unreadable }));
            }
            let pid = id.pid_of(pgd).unwrap_or(0);
            let image_base = read.ok().flatten().unwrap_or(0);
            let mut state = checker.new_process();
            state.set_base(image_base);
            let (slot, evicted) = self.insert(Member::new(pgd, 0, pid, state, Image::P));
            let birth = Birth::Instance { pgd, pid, image_base };
            return Routed {
                route: Route::Check(slot),
                rsp_flags: VM_EVENT_SYSCALL_ADOPT,
                birth: Some(birth),
                evicted,
            };
        }
        // Outside the lineage: an exec may start P; watch it so that its new image is seen.
        let call = decode(ev.entry, &ev.regs);
        if exec_path_arg(call.abi(), call.nr()).is_some() {
            return Routed::pass(VM_EVENT_SYSCALL_WATCH, Some(Birth::Watched));
        }
        Routed::pass(0, None)
    }

    /// A member whose image was not readable after an exec the policy allowed: P's program →
    /// checked from now on; another → let go; still unreadable → checked, asked again (up to
    /// [`UNDECIDED_CALLS`] calls, then it stays a member).
    fn recheck<I: Identify>(&mut self, slot: usize, ev: &SyscallEvent, id: &mut I) -> Routed {
        let read = id.p_image(ev.regs.cr3);
        let Some(m) = self.member_mut(slot) else { return Routed::pass(0, None) };
        let check = Routed { route: Route::Check(slot), rsp_flags: 0, birth: None, evicted: None };
        match read {
            Ok(Some(base)) => {
                m.image = Image::P;
                m.state.set_base(base);
                m.recheck = 0;
                check
            }
            Ok(None) => {
                let (pgd, parent) = (m.pgd, m.parent);
                self.remove(slot);
                Routed::pass(VM_EVENT_SYSCALL_RELEASE, Some(Birth::ExecdAway { pgd, parent }))
            }
            Err(()) => {
                m.recheck = if m.recheck >= UNDECIDED_CALLS { 0 } else { m.recheck + 1 };
                check
            }
        }
    }

    /// A member this table has no state for: its first call (or the first after it was
    /// dropped).
    fn descendant<I: Identify>(&mut self, ev: &SyscallEvent, checker: &Checker<'_>, id: &mut I) -> Routed {
        let pgd = ev.regs.cr3 & PGD_MASK;
        let parent_pgd = ev.parent_pgd & PGD_MASK;
        let parent = if parent_pgd != 0 { self.find(parent_pgd).and_then(|s| self.member(s).copied()) } else { None };
        let read = id.p_image(ev.regs.cr3);
        let image = match (read, parent) {
            (Ok(Some(_)), _) => Image::P,
            (Ok(None), _) => Image::Other,
            // A fork child's image is its parent's (its pages fault in on demand).
            (Err(()), Some(p)) if !p.exec_pending => p.image,
            (Err(()), _) => Image::Unknown,
        };
        // A fork child continues where its parent was; a new image starts afresh.
        let mut state = match parent {
            Some(p) if !p.exec_pending && p.image == image => p.state,
            _ => checker.new_process(),
        };
        // Where the image is (a fork child's is its parent's, which `state` already has).
        if let Ok(Some(base)) = read {
            state.set_base(base);
        }
        if let Some(s) = parent.and_then(|p| self.find(p.pgd)) {
            if let Some(p) = self.member_mut(s) {
                // The exec's new image is born: the parent's next child is a fork's again.
                p.exec_pending = false;
                p.exec_allowed = false;
            }
        }
        // The policy allowed the exec by a rule: another program is let go.
        let lets_go = parent.is_some_and(|p| p.exec_pending && p.exec_allowed);
        if lets_go && image == Image::Other {
            return Routed::pass(VM_EVENT_SYSCALL_RELEASE, Some(Birth::ExecdAway { pgd, parent: parent_pgd }));
        }
        let pid = id.pid_of(pgd).unwrap_or(0);
        let m = Member {
            recheck: u32::from(lets_go && image == Image::Unknown),
            ..Member::new(pgd, parent_pgd, pid, state, image)
        };
        let (slot, evicted) = self.insert(m);
        let birth = Birth::Descendant { pgd, parent: parent_pgd, pid, image };
        Routed { route: Route::Check(slot), rsp_flags: 0, birth: Some(birth), evicted }
    }

    /// After the member in `slot` had a call checked (`d`, by `checker`); `kill_certain`
    /// whether a kill certainly ends the process (its exit_group runs). A member that ends is
    /// dropped; an exec that goes on marks the member's next child as its new image.
    pub fn after_check(&mut self, slot: usize, checker: &Checker<'_>, d: &Decision, kill_certain: bool) {
        let Some(m) = self.member_mut(slot) else { return };
        if d.retry.is_some() {
            // Nothing ran: the call comes again (after a page fault) or failed before the kernel.
            if matches!(d.retry, Some(Retry::PageIn { .. })) {
                m.page_ins = m.page_ins.saturating_add(1);
            }
            return;
        }
        m.page_ins = 0;
        let call: &Syscall = &d.call;
        let resumes = d.resumes();
        let ends = if resumes { is_exit_group(call.abi, call.nr) } else { kill_certain };
        if ends {
            self.remove(slot);
            return;
        }
        let Some(m) = self.member_mut(slot) else { return };
        if resumes && exec_path_arg(call.abi, call.nr).is_some() {
            // Until its new image is born (a failed exec leaves it set: a later fork child then
            // starts afresh, the cautious side for an automaton).
            m.exec_pending = true;
            // Allowed by a rule the policy has for this exec (not by its default, not audited
            // or failed open).
            m.exec_allowed =
                d.finding.is_none() && !checker.policy().matching_rules(call.abi, call.nr, call.user_rip).is_empty();
        }
    }

    /// Starts a sweep: a search of the whole task list will [`Lineage::mark`] the members it
    /// finds, and [`Lineage::end_sweep`] drops the others (they ended).
    pub fn begin_sweep(&mut self) {
        for m in self.slots.iter_mut().take(self.len).flatten() {
            m.seen = false;
        }
    }

    /// The task list has a process with base `pgd`, id `pid` and `mm_struct` `mm`: a member
    /// with that base is alive (and gets its pid and mm if it had none). O(members).
    pub fn mark(&mut self, pgd: u64, pid: u32, mm: u64) {
        if let Some(m) = self.find(pgd).and_then(|s| self.member_mut(s)) {
            m.seen = true;
            if m.pid == 0 {
                m.pid = pid;
            }
            if m.mm == 0 {
                m.mm = mm;
            }
        }
    }

    /// Ends a sweep: drops the members it did not find. Returns how many.
    pub fn end_sweep(&mut self) -> usize {
        let mut dropped = 0;
        let mut i = 0;
        while i < self.len {
            if matches!(self.slots.get(i), Some(Some(m)) if !m.seen) {
                self.remove(i);
                dropped += 1;
            } else {
                i += 1;
            }
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{examples, Policy};
    use crate::regs::{EntryKind, Registers};
    use crate::syscall::Abi;
    use crate::xen_abi::VmEventSt;
    use std::vec;

    /// A guest whose address spaces map P's image or not.
    struct Guest {
        p_images: std::vec::Vec<u64>,
        unreadable: std::vec::Vec<u64>,
        pids: std::vec::Vec<(u64, u32)>,
    }

    impl Identify for Guest {
        fn p_image(&mut self, cr3: u64) -> Result<Option<u64>, ()> {
            if self.unreadable.contains(&cr3) {
                return Err(());
            }
            // Each test image at a base of its own, to see the base reach the member.
            Ok(self.p_images.contains(&cr3).then_some(cr3 << 12))
        }
        fn pid_of(&mut self, pgd: u64) -> Option<u32> {
            self.pids.iter().find(|(p, _)| *p == pgd).map(|&(_, pid)| pid)
        }
    }

    fn ev(cr3: u64, nr: u64, flags: u32, parent: u64) -> SyscallEvent {
        let regs = Registers { rax: nr, cr3, rdi: 0x1000, ..Registers::default() };
        let mut e = VmEventSt::syscall_request(0, EntryKind::Syscall64, &regs).syscall_event().unwrap();
        e.set_flags = flags;
        e.parent_pgd = parent;
        e
    }

    fn call(nr: u32) -> Syscall {
        Syscall { abi: Abi::X86_64, nr, args: [0; 6], user_rip: 0 }
    }

    /// A decision on `nr`: allowed, or a violation killed.
    fn decided(nr: u32, allowed: bool) -> Decision {
        let (finding, action) = if allowed {
            (None, None)
        } else {
            (Some(crate::decision::Finding::NoPolicy), Some(crate::alert::Action::Killed))
        };
        Decision { call: call(nr), finding, action, retry: None }
    }

    fn with_checker(f: impl FnOnce(&Checker<'_>)) {
        let mut buf = vec![0u8; 8192];
        let n = examples::trace(&mut buf).unwrap();
        let p = Policy::decode(&buf[..n]).unwrap();
        f(&Checker::new(p));
    }

    const MEMBER: u32 = VM_EVENT_SYSCALL_MEMBER;
    const FRESH: u32 = VM_EVENT_SYSCALL_FRESH;

    #[test]
    fn execs_outside_are_watched_and_p_images_adopted() {
        with_checker(|c| {
            let mut g = Guest { p_images: vec![0x7000], unreadable: vec![0x9000], pids: vec![(0x7000, 42)] };
            const CANDIDATE: u32 = VM_EVENT_SYSCALL_CANDIDATE;
            let mut l = Lineage::new();
            // Another process's exec: watched; any other call of it passes.
            let r = l.route(&ev(0x5000, 59, 0, 0), c, &mut g);
            assert_eq!((r.route, r.rsp_flags, r.birth), (Route::Pass, VM_EVENT_SYSCALL_WATCH, Some(Birth::Watched)));
            assert_eq!(l.route(&ev(0x5000, 0, 0, 0), c, &mut g).rsp_flags, 0);
            // Its new image is P's program: adopted, checked, pid found.
            let r = l.route(&ev(0x7000, 12, VM_EVENT_SYSCALL_CANDIDATE | FRESH, 0x5000), c, &mut g);
            assert_eq!((r.route, r.rsp_flags), (Route::Check(0), VM_EVENT_SYSCALL_ADOPT));
            assert_eq!(r.birth, Some(Birth::Instance { pgd: 0x7000, pid: 42, image_base: 0x7000 << 12 }));
            assert_eq!(l.member(0).map(|m| m.state.base()), Some(0x7000 << 12), "the member checks at its base");
            assert_eq!(l.member(0).map(|m| (m.pid, m.image)), Some((42, Image::P)));
            // Another program: released.
            let r = l.route(&ev(0x8000, 12, CANDIDATE | FRESH, 0x5000), c, &mut g);
            assert_eq!(
                (r.route, r.rsp_flags, r.birth),
                (Route::Pass, VM_EVENT_SYSCALL_RELEASE, Some(Birth::Released { pgd: 0x8000, unreadable: false }))
            );
            // A note not faulted in yet: undecided (no flags, unchecked), asked again each call…
            let r = l.route(&ev(0x9000, 158, CANDIDATE | FRESH, 0x5000), c, &mut g);
            assert_eq!(
                (r.route, r.rsp_flags, r.birth),
                (Route::Pass, 0, Some(Birth::Undecided { pgd: 0x9000, calls: 1 }))
            );
            let r = l.route(&ev(0x9000, 12, CANDIDATE, 0x5000), c, &mut g);
            assert_eq!(r.birth, Some(Birth::Undecided { pgd: 0x9000, calls: 2 }));
            // … and once readable, decided.
            g.unreadable.clear();
            assert_eq!(l.route(&ev(0x9000, 12, CANDIDATE, 0x5000), c, &mut g).rsp_flags, VM_EVENT_SYSCALL_RELEASE);
            assert_eq!(l.len(), 1);
            // Never readable (a program that never reads its ELF header): released after
            // UNDECIDED_CALLS calls.
            g.unreadable.push(0xd000);
            for n in 1..UNDECIDED_CALLS {
                assert_eq!(
                    l.route(&ev(0xd000, 12, CANDIDATE, 0x5000), c, &mut g).birth,
                    Some(Birth::Undecided { pgd: 0xd000, calls: n })
                );
            }
            let r = l.route(&ev(0xd000, 12, CANDIDATE, 0x5000), c, &mut g);
            assert_eq!(
                (r.route, r.rsp_flags, r.birth),
                (Route::Pass, VM_EVENT_SYSCALL_RELEASE, Some(Birth::Released { pgd: 0xd000, unreadable: true }))
            );
            assert_eq!(l.len(), 1);
            // P's later calls: checked in its slot.
            assert_eq!(l.route(&ev(0x7000, 1, MEMBER, 0), c, &mut g).route, Route::Check(0));
        });
    }

    #[test]
    fn fork_children_inherit_and_new_images_start_afresh() {
        with_checker(|c| {
            let mut g = Guest { p_images: vec![0x7000, 0xb000], unreadable: vec![0xa000], pids: vec![] };
            let mut l = Lineage::new();
            let mut st = c.new_process();
            // A state other than the initial one, to see what is inherited.
            st = ProcessState::from_trace(st.trace_state() + 1);
            l.adopt(0x7000, 42, st);
            // A fork child (its note not faulted in yet): P's image, the parent's state.
            let r = l.route(&ev(0xa000, 57, MEMBER | FRESH, 0x7000), c, &mut g);
            let Route::Check(child) = r.route else { panic!("{r:?}") };
            assert_eq!(r.birth, Some(Birth::Descendant { pgd: 0xa000, parent: 0x7000, pid: 0, image: Image::P }));
            assert_eq!(l.member(child).map(|m| m.state), Some(st));
            // The parent execs: its new image starts afresh.
            let parent = l.find(0x7000).unwrap();
            l.after_check(parent, c, &decided(59, true), false);
            let r = l.route(&ev(0xb000, 12, MEMBER | FRESH, 0x7000), c, &mut g);
            let Route::Check(img) = r.route else { panic!() };
            let mut fresh = c.new_process();
            fresh.set_base(0xb000 << 12);
            assert_eq!(l.member(img).map(|m| m.state), Some(fresh), "afresh, at the new image's base");
            assert!(!l.member(parent).unwrap().exec_pending, "consumed by the new image");
            // Another program exec'd by a member stays a member (checked under P's policy).
            let r = l.route(&ev(0xc000, 12, MEMBER | FRESH, 0xb000), c, &mut g);
            assert!(matches!(r.birth, Some(Birth::Descendant { image: Image::Other, .. })));
            // exit_group and a certain kill drop the member; an uncertain kill keeps it.
            let s = l.find(0xc000).unwrap();
            l.after_check(s, c, &decided(1, false), false);
            assert!(l.find(0xc000).is_some());
            l.after_check(s, c, &decided(1, false), true);
            assert!(l.find(0xc000).is_none());
            l.after_check(img, c, &decided(231, true), false);
            assert!(l.find(0xb000).is_none());
            // A recycled base reported FRESH again is a new member, not the old one's state.
            let r = l.route(&ev(0xa000, 12, MEMBER | FRESH, 0), c, &mut g);
            let Route::Check(s) = r.route else { panic!() };
            assert_eq!(l.member(s).map(|m| (m.state, m.image)), Some((c.new_process(), Image::Unknown)));
        });
    }

    #[test]
    fn a_new_image_the_policy_let_p_exec_is_let_go() {
        // A policy with a rule for execve (allowed from rip 0, the test calls' site).
        let mut buf = vec![0u8; 8192];
        let n = examples::only_from_rips(&mut buf, 59, &[0]).unwrap();
        let c = &Checker::new(Policy::decode(&buf[..n]).unwrap());
        let mut g = Guest { p_images: vec![0x7000], unreadable: vec![0xb000], pids: vec![] };
        let mut l = Lineage::new();
        l.adopt(0x7000, 42, c.new_process());
        let p = l.find(0x7000).unwrap();
        // Allowed by the rule: another program is let go at its first call.
        l.after_check(p, c, &decided(59, true), false);
        let r = l.route(&ev(0xa000, 12, MEMBER | FRESH, 0x7000), c, &mut g);
        assert_eq!((r.route, r.rsp_flags), (Route::Pass, VM_EVENT_SYSCALL_RELEASE));
        assert_eq!(r.birth, Some(Birth::ExecdAway { pgd: 0xa000, parent: 0x7000 }));
        // Not readable yet: a member, checked, asked again; let go once it shows another program.
        l.after_check(p, c, &decided(59, true), false);
        let r = l.route(&ev(0xb000, 12, MEMBER | FRESH, 0x7000), c, &mut g);
        assert!(matches!(r.route, Route::Check(_)));
        assert!(l.known(&ev(0xb000, 12, MEMBER, 0x7000)).is_none(), "still to be identified");
        assert!(matches!(l.route(&ev(0xb000, 12, MEMBER, 0x7000), c, &mut g).route, Route::Check(_)));
        g.unreadable.clear();
        let r = l.route(&ev(0xb000, 12, MEMBER, 0x7000), c, &mut g);
        assert_eq!((r.route, r.rsp_flags), (Route::Pass, VM_EVENT_SYSCALL_RELEASE));
        assert!(l.find(0xb000).is_none());
        // A violating exec that goes on (audit) lets nothing go: the new image stays, checked.
        let audited = Decision { action: Some(crate::alert::Action::Audited), ..decided(59, false) };
        l.after_check(p, c, &audited, false);
        let r = l.route(&ev(0xc000, 12, MEMBER | FRESH, 0x7000), c, &mut g);
        assert!(matches!(r.birth, Some(Birth::Descendant { image: Image::Other, .. })));
    }

    #[test]
    fn a_retried_call_ran_nowhere() {
        with_checker(|c| {
            let mut l = Lineage::new();
            l.adopt(0x7000, 42, c.new_process());
            let p = l.find(0x7000).unwrap();
            let va = crate::addr::GuestVirtAddr(0x40_1000);
            // An exec or an exit_group retried after a page fault has not happened: the member
            // stays, no exec pending; its page-ins are counted until a call is decided.
            for (nr, n) in [(59, 1), (231, 2)] {
                let retried = Decision { retry: Some(Retry::PageIn { va }), ..decided(nr, false) };
                l.after_check(p, c, &retried, true);
                let m = l.member_mut(p).unwrap();
                assert_eq!((m.page_ins, m.exec_pending), (n, false));
            }
            let failed = Decision { retry: Some(Retry::Efault { va }), ..decided(231, false) };
            l.after_check(p, c, &failed, true);
            assert_eq!(l.member_mut(p).unwrap().page_ins, 2);
            l.after_check(p, c, &decided(1, true), false);
            assert_eq!(l.member_mut(p).unwrap().page_ins, 0);
            // The sweep fills in the memory map's address once.
            l.begin_sweep();
            l.mark(0x7000, 42, 0xffff_8880_0200_0000);
            l.mark(0x7000, 42, 0xffff_8880_0300_0000);
            assert_eq!(l.member_mut(p).unwrap().mm, 0xffff_8880_0200_0000);
        });
    }

    #[test]
    fn the_table_is_bounded_and_refreshed() {
        with_checker(|c| {
            let mut g = Guest { p_images: vec![], unreadable: vec![], pids: vec![] };
            let mut l = Lineage::new();
            for i in 0..MEMBERS as u64 {
                l.adopt(0x10_0000 + i * 0x1000, i as u32 + 1, c.new_process());
            }
            assert_eq!(l.len(), MEMBERS);
            // Member 0 is used again; the next newcomer displaces member 1 (unused the longest).
            assert!(matches!(l.route(&ev(0x10_0000, 1, MEMBER, 0), c, &mut g).route, Route::Check(_)));
            let r = l.route(&ev(0x90_0000, 1, MEMBER | FRESH, 0), c, &mut g);
            assert_eq!(r.evicted.map(|m| m.pgd), Some(0x10_1000));
            assert_eq!(l.len(), MEMBERS);
            // The task list shows only even members: the rest are dropped, pids filled in.
            l.begin_sweep();
            let live: std::vec::Vec<u64> = l.members().map(|m| m.pgd).filter(|p| p % 0x2000 == 0).collect();
            for pgd in live {
                l.mark(pgd, 7, 0xffff_8880_0100_0000);
            }
            l.mark(0x1234_5000, 8, 0);
            let dropped = l.end_sweep();
            assert_eq!(l.len() + dropped, MEMBERS);
            assert!(l.members().all(|m| m.pgd % 0x2000 == 0 && m.pid != 0));
            assert_eq!(l.members().find(|m| m.pgd == 0x90_0000).map(|m| m.pid), Some(7));
        });
    }
}
