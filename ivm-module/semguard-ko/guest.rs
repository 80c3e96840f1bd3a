// SPDX-License-Identifier: GPL-2.0

//! What the lineage (semguard-core `lineage`) reads from the guest, through the Introspection
//! Library over the module's foreign mappings: whether an address space maps P's image, a new
//! member's pid, and — in process context only — the instances of P running at load and the
//! processes still alive; and, for a page a check needs, P's memory map ([`MemoryMap`]).
//!
//! An address space is P's program only if its own mapped image holds P's build-id note at the
//! address the policy records (`process::image_has_build_id`, read through that address space's
//! page tables) — for a position-independent P, at that offset from the image's load base,
//! which the kernel's copy of the process's auxiliary vector gives (`process::image_base`;
//! the process's `mm_struct` is found by a bounded search of the newest tasks). A name proves
//! nothing — except for a policy that records no identity (format 1.0, written before
//! identities existed): then, as before, P is the process with the `process=` name.

use semguard_core::addr::{GuestVirtAddr, Machine};
use semguard_core::decision::{PageFate, Pager};
use semguard_core::lineage::Identify;
use semguard_core::mem::MemError;
use semguard_core::policy::Identity;
use semguard_core::process::{
    find_recent_by_pgd, image_base, image_has_build_id, visit_all, BaseError, FindError, Select, TASK_LIMIT,
};
use semguard_core::profile::Profile;
use semguard_core::tcache::TranslationCache;
use semguard_core::vma::read_fault_resolves;
use semguard_core::vmem::GuestMemory;
use semguard_core::walker::{PagingConfig, WalkError, WalkErrorKind};

use crate::counters::{Counter, COUNTERS};
use crate::fmap::ForeignFrames;
use kernel::prelude::*;

/// Most tasks the IRQ handler visits to find a new member's pid: the newest ones (fork appends
/// to the task list; exec keeps a task's place). A pid not found there is filled in by the
/// poll's search of the whole list, in process context.
pub(crate) const RECENT_TASKS: usize = 64;

/// Whether the address space the walk of `mem` reads maps P's image, and at which load base
/// (`Err` if it cannot be told); without an identity in the policy, every image is, at base 0
/// (the caller selects by name). `mm` is the address space's `mm_struct` (0: not found), only
/// read for a position-independent P.
fn p_image_of(
    mem: &mut GuestMemory<'_, Machine, ForeignFrames>,
    profile: &Profile,
    id: Option<Identity<'_>>,
    mm: u64,
) -> Result<Option<u64>, ()> {
    let Some(id) = id else { return Ok(Some(0)) };
    let base = if id.relative() {
        if mm == 0 {
            return Err(());
        }
        match image_base(mem, profile, GuestVirtAddr(mm), &id) {
            Ok(base) => base,
            // Another program's entry point, or no program entry at all: not P.
            Err(BaseError::NotP { .. } | BaseError::NoEntry) => return Ok(None),
            Err(BaseError::Memory(_) | BaseError::NoAuxvLayout) => return Err(()),
        }
    } else {
        0
    };
    let Some(note) = id.note_vaddr().checked_add(base) else { return Ok(None) };
    match image_has_build_id(mem, note, id.build_id()) {
        Ok(seen) => Ok(seen.then_some(base)),
        // A page table maps the note's page but the page is not present (a file page not
        // faulted in yet, or reclaimed), or a frame could not be mapped: nothing is decided.
        Err(MemError::Walk { error: WalkError { level: 1, kind: WalkErrorKind::NotPresent }, .. })
        | Err(MemError::Walk { error: WalkError { kind: WalkErrorKind::Frame(_), .. }, .. }) => Err(()),
        // No page table there (nothing mapped in that 2 MiB), or an address no image can have.
        Err(_) => Ok(None),
    }
}

/// A process the bounded search of the newest tasks found.
#[derive(Clone, Copy)]
pub(crate) struct Recent {
    pgd: u64,
    pid: u32,
    /// Whether its comm is the `process=` hint.
    named: bool,
    /// Its `mm_struct`.
    mm: u64,
}

/// The guest as the lineage sees it, for one event or one search.
pub(crate) struct GuestView<'a> {
    pub(crate) frames: &'a mut ForeignFrames,
    pub(crate) tcache: &'a mut TranslationCache<Machine>,
    pub(crate) paging: PagingConfig,
    pub(crate) profile: &'a Profile,
    /// P's identity, if the policy records one.
    pub(crate) identity: Option<Identity<'a>>,
    /// `process=`: P's name, the proof only for a policy without an identity.
    pub(crate) hint: Option<&'a [u8]>,
    /// The last process the bounded search found.
    pub(crate) recent: Option<Recent>,
}

impl<'a> GuestView<'a> {
    /// Guest memory through the address space `cr3`, with translations of this look only.
    fn memory(&mut self, cr3: u64) -> GuestMemory<'_, Machine, ForeignFrames> {
        let root = self.paging.root_from_cr3::<Machine>(cr3);
        self.tcache.new_epoch();
        GuestMemory::new(&mut *self.frames, &mut *self.tcache, root, self.paging)
    }

    /// Process context: calls `found(pgd, pid, base)` for each process whose image proves P's
    /// identity at load base `base` (with `hint`, only those with that comm), walking the task
    /// list through `cr3` (any address space maps the guest kernel). Tasks with the name whose
    /// note cannot be read are logged and counted, not taken.
    pub(crate) fn instances(&mut self, cr3: u64, mut found: impl FnMut(u64, u32, u64)) -> Result<usize, FindError> {
        let (profile, identity, hint) = (self.profile, self.identity, self.hint);
        let mut mem = self.memory(cr3);
        let sel = hint.map_or(Select::Any, Select::Comm);
        visit_all(&mut mem, profile, sel, TASK_LIMIT, |mem, p| {
            // Read through the candidate's own tables, then back to the kernel's.
            let kernel = mem.root();
            mem.set_root(p.pgd);
            let seen = p_image_of(mem, profile, identity, p.mm.0);
            mem.set_root(kernel);
            match seen {
                Ok(Some(base)) => found(p.pgd.base(), p.tgid, base),
                Ok(None) => {}
                Err(()) => {
                    COUNTERS.inc(Counter::IdentityUnproven);
                    if hint.is_some() {
                        pr_info!("pid {} has P's name but its image cannot be read: not taken as P\n", p.tgid);
                    }
                }
            }
        })
    }

    /// Process context: calls `live(pgd, pid, mm)` for every user process.
    pub(crate) fn processes(&mut self, cr3: u64, mut live: impl FnMut(u64, u32, u64)) -> Result<usize, FindError> {
        let profile = self.profile;
        let mut mem = self.memory(cr3);
        visit_all(&mut mem, profile, Select::Any, TASK_LIMIT, |_, p| live(p.pgd.base(), p.tgid, p.mm.0))
    }
}

/// P's memory map as the guest kernel keeps it (its VMAs), for a call that needs a page that is
/// not present: would a fault of P's bring it in? Read in IRQ context: one bounded search of the
/// newest tasks for the member's `mm_struct` when the poll has not found it yet, then one
/// bounded walk of its VMA tree per question.
pub(crate) struct MemoryMap<'a> {
    pub(crate) frames: &'a mut ForeignFrames,
    pub(crate) tcache: &'a mut TranslationCache<Machine>,
    pub(crate) paging: PagingConfig,
    pub(crate) profile: &'a Profile,
    /// The caller's page-table base (it maps the guest kernel too).
    pub(crate) cr3: u64,
    /// The caller's `mm_struct`, 0 if not known yet (found on the first question).
    pub(crate) mm: u64,
}

impl MemoryMap<'_> {
    fn memory(&mut self) -> GuestMemory<'_, Machine, ForeignFrames> {
        let root = self.paging.root_from_cr3::<Machine>(self.cr3);
        GuestMemory::new(&mut *self.frames, &mut *self.tcache, root, self.paging)
    }

    /// The caller's `mm_struct`, searched among the newest tasks if not known (0: not found).
    pub(crate) fn mm(&mut self) -> u64 {
        if self.mm == 0 {
            let (profile, pgd) = (self.profile, self.cr3 & semguard_core::tracking::PGD_MASK);
            let mut mem = self.memory();
            if let Ok((found, visited)) = find_recent_by_pgd::<Machine, _>(&mut mem, profile, pgd, RECENT_TASKS) {
                COUNTERS.max(Counter::IrqTasksMax, visited as u64);
                self.mm = found.map_or(0, |p| p.mm.0);
            }
        }
        self.mm
    }
}

impl Pager for MemoryMap<'_> {
    fn fate(&mut self, va: GuestVirtAddr) -> PageFate {
        let mm = self.mm();
        if mm == 0 {
            return PageFate::Unknown;
        }
        let profile = self.profile;
        let mut mem = self.memory();
        match read_fault_resolves(&mut mem, profile, GuestVirtAddr(mm), va.0) {
            Ok(true) => PageFate::FaultIn,
            Ok(false) => PageFate::NoMapping,
            Err(_) => PageFate::Unknown,
        }
    }
}

impl GuestView<'_> {
    /// The process whose address space is `pgd`, among the newest tasks (bounded; counted in
    /// `irq_tasks_max`), remembered for the next question about the same `pgd`.
    fn recent(&mut self, pgd: u64) -> Option<Recent> {
        if let Some(r) = self.recent.filter(|r| r.pgd == pgd) {
            return Some(r);
        }
        let (profile, hint) = (self.profile, self.hint);
        // Through the address space itself: it maps the guest kernel like any other.
        let mut mem = self.memory(pgd);
        // A failed search (a list changing under it) finds nothing; the poll's search will.
        let (found, visited) = find_recent_by_pgd::<Machine, _>(&mut mem, profile, pgd, RECENT_TASKS).ok()?;
        COUNTERS.max(Counter::IrqTasksMax, visited as u64);
        let p = found?;
        let named = hint == Some(p.comm());
        self.recent = Some(Recent { pgd, pid: p.tgid, named, mm: p.mm.0 });
        self.recent
    }
}

impl Identify for GuestView<'_> {
    fn p_image(&mut self, cr3: u64) -> Result<Option<u64>, ()> {
        let pgd = cr3 & semguard_core::tracking::PGD_MASK;
        let Some(identity) = self.identity else {
            // No identity in the policy: P is the process with the name.
            return self.recent(pgd).map(|r| r.named.then_some(0)).ok_or(());
        };
        // A position-independent P's base is in its mm_struct, found among the newest tasks.
        let mm = if identity.relative() { self.recent(pgd).map_or(0, |r| r.mm) } else { 0 };
        let profile = self.profile;
        let mut mem = self.memory(cr3);
        p_image_of(&mut mem, profile, Some(identity), mm)
    }

    fn pid_of(&mut self, pgd: u64) -> Option<u32> {
        self.recent(pgd).map(|r| r.pid)
    }
}
