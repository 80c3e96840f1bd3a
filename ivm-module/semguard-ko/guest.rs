// SPDX-License-Identifier: GPL-2.0

//! What the phase machine (semguard-core `tracking`) reads from the guest, through the
//! Introspection Library over the module's foreign mappings: P in the task list, and the path
//! of an exec.
//!
//! A task is P only if it has P's name *and*, when the policy records P's identity, its own
//! mapped image holds P's build-id note (`process::image_has_build_id`, read through that
//! task's page tables): a process that only has P's name is skipped, and the search goes on to
//! the next task with the name.

use semguard_core::addr::{GuestVirtAddr, Machine};
use semguard_core::mem::VirtMemory;
use semguard_core::policy::Identity;
use semguard_core::process::{find_first_accepted, image_has_build_id, FindError, ProcessInfo, Select, TASK_LIMIT};
use semguard_core::profile::Profile;
use semguard_core::tcache::TranslationCache;
use semguard_core::tracking::{comm_of_path, Finder, PGD_MASK};
use semguard_core::vmem::GuestMemory;
use semguard_core::walker::PagingConfig;
use semguard_core::xen_abi::SyscallEvent;

use crate::counters::{Counter, COUNTERS};
use crate::fmap::ForeignFrames;
use crate::policy::LoadedPolicy;

/// Longest exec path read to predict the new comm.
const EXEC_PATH_MAX: usize = 256;

/// The guest as the phase machine sees it, for one event or one search.
pub(crate) struct GuestView<'a> {
    pub(crate) frames: &'a mut ForeignFrames,
    pub(crate) tcache: &'a mut TranslationCache<Machine>,
    pub(crate) paging: PagingConfig,
    pub(crate) profile: &'a Profile,
    /// P's comm.
    pub(crate) process: &'a [u8],
    /// The policy (P's identity, if it records one; read only when searching).
    pub(crate) policy: &'a LoadedPolicy,
    /// The page-table base of the P being tracked, if any.
    pub(crate) tracked: Option<u64>,
}

impl<'a> GuestView<'a> {
    /// The guest as a monitor with this configuration sees it: `process` is P's comm, the
    /// policy gives P's identity.
    pub(crate) fn new(
        frames: &'a mut ForeignFrames,
        tcache: &'a mut TranslationCache<Machine>,
        paging: PagingConfig,
        profile: &'a Profile,
        process: &'a [u8],
        policy: &'a LoadedPolicy,
        tracked: Option<u64>,
    ) -> Self {
        Self { frames, tcache, paging, profile, process, policy, tracked }
    }

    /// Guest memory through the address space `cr3`, with translations of this look only.
    fn memory(&mut self, cr3: u64) -> GuestMemory<'_, Machine, ForeignFrames> {
        let root = self.paging.root_from_cr3::<Machine>(cr3);
        self.tcache.new_epoch();
        GuestMemory::new(&mut *self.frames, &mut *self.tcache, root, self.paging)
    }
}

impl Finder for GuestView<'_> {
    type Error = FindError;

    /// The first task with P's name whose image proves P's identity; never one whose image
    /// shows something else at P's note address. A task whose note cannot be read (not faulted
    /// in, reclaimed, or not mapped at all) proves nothing either way: it is taken only if it
    /// is the process making this call (`cr3`: its image has run, so a real P has read its
    /// program headers, on the page that holds its note, by its first call) or the P already
    /// tracked (keep it rather than drop a live P whose page was reclaimed). Without an
    /// identity in the policy: the first task with the name.
    fn find_p(&mut self, cr3: u64) -> Result<Option<(u64, u32)>, FindError> {
        let (profile, process, policy, tracked) = (self.profile, self.process, self.policy, self.tracked);
        let identity: Option<Identity<'_>> = policy.policy().and_then(|p| p.identity());
        let mut mem = self.memory(cr3);
        let mut unproven = None;
        let may_keep = move |pgd: u64| pgd == cr3 & PGD_MASK || Some(pgd) == tracked;
        // Every address space maps the kernel, so the walk could go on through the candidate's
        // tables; the kernel's root is put back anyway.
        let is_p = |mem: &mut GuestMemory<'_, Machine, ForeignFrames>, p: &ProcessInfo<Machine>| {
            let Some(id) = identity else { return true };
            let kernel = mem.root();
            mem.set_root(p.pgd);
            let seen = image_has_build_id(mem, id.note_vaddr(), id.build_id());
            mem.set_root(kernel);
            if seen.is_err() && unproven.is_none() && may_keep(p.pgd.base()) {
                unproven = Some(*p);
            }
            seen == Ok(true)
        };
        match find_first_accepted(&mut mem, profile, Select::Comm(process), TASK_LIMIT, is_p) {
            Ok(p) => Ok(Some((p.pgd.base(), p.tgid))),
            Err(FindError::NotFound { .. }) => Ok(unproven.map(|p| {
                COUNTERS.inc(Counter::IdentityUnproven);
                (p.pgd.base(), p.tgid)
            })),
            Err(e) => Err(e),
        }
    }

    fn exec_may_start_p(&mut self, ev: &SyscallEvent, path_va: Option<u64>) -> bool {
        // execveat of an fd: the name is unknown, so it may be P.
        let Some(va) = path_va else { return true };
        let process = self.process;
        let mut mem = self.memory(ev.regs.cr3);
        let mut path = [0u8; EXEC_PATH_MAX];
        match mem.read_cstr(GuestVirtAddr(va), &mut path) {
            Ok(n) if n > 0 => path.get(..n).map_or(true, |p| comm_of_path(p) == process),
            // Unreadable or empty (a hostile pointer, a page not present): it may be P's.
            _ => true,
        }
    }
}
