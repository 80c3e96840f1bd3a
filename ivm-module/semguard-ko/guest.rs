// SPDX-License-Identifier: GPL-2.0

//! What the phase machine (semguard-core `tracking`) reads from the guest, through the
//! Introspection Library over the module's foreign mappings: P in the task list, and the path
//! of an exec.

use semguard_core::addr::{GuestVirtAddr, Machine};
use semguard_core::mem::VirtMemory;
use semguard_core::process::{find_first, FindError, Select, TASK_LIMIT};
use semguard_core::profile::Profile;
use semguard_core::tcache::TranslationCache;
use semguard_core::tracking::{comm_of_path, Finder};
use semguard_core::vmem::GuestMemory;
use semguard_core::walker::PagingConfig;
use semguard_core::xen_abi::SyscallEvent;

use crate::fmap::ForeignFrames;

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
}

impl GuestView<'_> {
    /// Guest memory through the address space `cr3`, with translations of this look only.
    fn memory(&mut self, cr3: u64) -> GuestMemory<'_, Machine, ForeignFrames> {
        let root = self.paging.root_from_cr3::<Machine>(cr3);
        self.tcache.new_epoch();
        GuestMemory::new(&mut *self.frames, &mut *self.tcache, root, self.paging)
    }
}

impl Finder for GuestView<'_> {
    type Error = FindError;

    fn find_p(&mut self, cr3: u64) -> Result<Option<(u64, u32)>, FindError> {
        let (profile, process) = (self.profile, self.process);
        let mut mem = self.memory(cr3);
        match find_first(&mut mem, profile, Select::Comm(process), TASK_LIMIT) {
            Ok(p) => Ok(Some((p.pgd.base(), p.tgid))),
            Err(FindError::NotFound { .. }) => Ok(None),
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
