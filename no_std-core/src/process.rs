//! Process finder (Introspection Library): finds P in the guest kernel's task list and returns
//! the frame of its page-table root — the value Xen's syscall filter compares with
//! `v->arch.guest_table` (for a PV guest, the MFN of the process's `mm->pgd`).
//!
//! The walk starts at `init_task.tasks` and follows `tasks.next` (`struct list_head`; the task
//! is `next - offsetof(task_struct, tasks)`) until it is back at `init_task`. The list holds one
//! entry per thread group (process), not per thread. Kernel threads (`mm == NULL`) are skipped.
//!
//! The list is guest data and may be hostile or simply changing under us (only the trapping
//! vCPU is paused), so the walk is bounded three ways:
//! - a caller-given limit on the number of tasks visited ([`FindError::LimitReached`]);
//! - Brent's cycle detection, without allocation, for lists that loop among some tasks
//!   without ever returning to `init_task` ([`FindError::Cycle`]);
//! - every read is checked; a failed read is [`FindError::Memory`] with the address read, and
//!   an impossible pointer (NULL, smaller than the list offset, a misaligned pgd) is
//!   [`FindError::BadPointer`].
//!
//! # Several processes with the same name
//!
//! `comm` is not unique: P may have forked workers, or another program may share its name.
//! [`find_all`] walks the whole list and reports every match (filling a caller buffer and
//! returning the total count), so the caller can see ambiguity and refuse it — semguard
//! monitors one pgd per process, and guessing could leave the real P unmonitored.
//! [`find_first`] stops at the first match in list order (oldest first: `fork` appends at the
//! tail) and is for callers that already know the name is unique; [`Select::Pid`] selects by
//! process id (tgid) instead.
//!
//! A translated pgd is only valid until P execs (new mm) or exits; callers find P again then.

use crate::addr::{Frame, FrameKind, GuestVirtAddr};
use crate::mem::{MemError, VirtMemory};
use crate::profile::{Field, Profile, MAX_COMM_LEN};
use crate::vmem::VirtTranslate;

/// Which task to look for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Select<'n> {
    /// `comm` equal to these bytes: 1 to `TASK_COMM_LEN - 1` bytes, no NUL. (The kernel
    /// truncates longer names; pass the truncated name deliberately.)
    Comm(&'n [u8]),
    /// Process id (the task's `tgid`; for the group leaders on this list equal to `pid`).
    Pid(u32),
    /// Every user process.
    Any,
}

/// A user process found in the task list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessInfo<K: FrameKind> {
    /// Address of its `task_struct`.
    pub task: GuestVirtAddr,
    /// `task->pid`.
    pub pid: u32,
    /// `task->tgid` (the process id user space sees).
    pub tgid: u32,
    /// `task->comm`, zero-padded.
    pub comm: [u8; MAX_COMM_LEN as usize],
    /// `task->mm`.
    pub mm: GuestVirtAddr,
    /// `mm->pgd`: kernel virtual address of the root table.
    pub pgd_va: GuestVirtAddr,
    /// Frame holding the root table: what Xen's filter compares (`guest_table`).
    pub pgd: Frame<K>,
    /// `task->real_parent`, if the profile names that field.
    pub parent: Option<GuestVirtAddr>,
}

impl<K: FrameKind> ProcessInfo<K> {
    /// `comm` up to its first NUL.
    pub fn comm(&self) -> &[u8] {
        let n = self.comm.iter().position(|&c| c == 0).unwrap_or(self.comm.len());
        self.comm.get(..n).unwrap_or(&[])
    }
}

/// Why no process was returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindError {
    /// The whole list was walked back to `init_task` without a match.
    NotFound {
        /// Tasks visited.
        visited: usize,
    },
    /// The list loops without returning to `init_task`.
    Cycle {
        /// A list node inside the loop.
        at: GuestVirtAddr,
        /// Tasks visited before the loop was detected.
        visited: usize,
    },
    /// `limit` tasks were visited without returning to `init_task`.
    LimitReached {
        /// The caller's limit.
        limit: usize,
    },
    /// A guest read failed.
    Memory {
        /// Address that was being read (list node, task field, mm field or the pgd itself).
        addr: GuestVirtAddr,
        /// Why.
        error: MemError,
    },
    /// A pointer read from the guest cannot be valid.
    BadPointer {
        /// Where the pointer was read from.
        at: GuestVirtAddr,
        /// Its value.
        value: u64,
    },
    /// The name to look for is empty, contains NUL, or is longer than `TASK_COMM_LEN - 1`.
    BadName,
}

/// Reads `task_struct` fields at the profile's offsets.
struct Reader<'p> {
    profile: &'p Profile,
}

impl Reader<'_> {
    fn field_addr(&self, base: GuestVirtAddr, field: Field) -> Option<GuestVirtAddr> {
        self.profile.offset(field).and_then(|off| base.checked_add(off as u64))
    }

    fn ptr<M: VirtMemory>(&self, mem: &mut M, base: GuestVirtAddr, field: Field) -> Result<GuestVirtAddr, FindError> {
        let at = self.field_addr(base, field).ok_or(FindError::BadPointer { at: base, value: base.0 })?;
        mem.read_ptr(at).map_err(|error| FindError::Memory { addr: at, error })
    }

    fn u32<M: VirtMemory>(&self, mem: &mut M, base: GuestVirtAddr, field: Field) -> Result<u32, FindError> {
        let at = self.field_addr(base, field).ok_or(FindError::BadPointer { at: base, value: base.0 })?;
        mem.read_u32(at).map_err(|error| FindError::Memory { addr: at, error })
    }

    fn comm<M: VirtMemory>(&self, mem: &mut M, task: GuestVirtAddr) -> Result<[u8; MAX_COMM_LEN as usize], FindError> {
        let at = self.field_addr(task, Field::TaskComm).ok_or(FindError::BadPointer { at: task, value: task.0 })?;
        let mut buf = [0u8; MAX_COMM_LEN as usize];
        // comm_len ≤ MAX_COMM_LEN is guaranteed by Profile validation.
        let dst = buf.get_mut(..self.profile.comm_len()).ok_or(FindError::BadName)?;
        mem.read_bytes(at, dst).map_err(|error| FindError::Memory { addr: at, error })?;
        Ok(buf)
    }

    /// Whether `task` is the one selected, reading as little as possible.
    fn matches<M: VirtMemory>(&self, mem: &mut M, task: GuestVirtAddr, sel: Select<'_>) -> Result<bool, FindError> {
        match sel {
            Select::Comm(name) => {
                let comm = self.comm(mem, task)?;
                let len = comm.iter().position(|&c| c == 0).unwrap_or(comm.len());
                Ok(comm.get(..len) == Some(name))
            }
            Select::Pid(pid) => Ok(self.u32(mem, task, Field::TaskTgid)? == pid),
            Select::Any => Ok(true),
        }
    }

    /// Reads a selected task's details; `None` for a kernel thread (or an exiting process
    /// whose mm is already gone).
    fn details<K: FrameKind, M: VirtTranslate<K>>(
        &self,
        mem: &mut M,
        task: GuestVirtAddr,
    ) -> Result<Option<ProcessInfo<K>>, FindError> {
        let mm = self.ptr(mem, task, Field::TaskMm)?;
        if mm.0 == 0 {
            return Ok(None);
        }
        let pgd_va = self.ptr(mem, mm, Field::MmPgd)?;
        // A pgd is one page-aligned page.
        if pgd_va.0 == 0 || pgd_va.page_offset() != 0 {
            let at = self.field_addr(mm, Field::MmPgd).unwrap_or(mm);
            return Err(FindError::BadPointer { at, value: pgd_va.0 });
        }
        let t = mem
            .translate(pgd_va)
            .map_err(|error| FindError::Memory { addr: pgd_va, error: MemError::Walk { va: pgd_va, error } })?;
        let parent = match self.profile.offset(Field::TaskRealParent) {
            Some(_) => Some(self.ptr(mem, task, Field::TaskRealParent)?),
            None => None,
        };
        Ok(Some(ProcessInfo {
            task,
            pid: self.u32(mem, task, Field::TaskPid)?,
            tgid: self.u32(mem, task, Field::TaskTgid)?,
            comm: self.comm(mem, task)?,
            mm,
            pgd_va,
            pgd: t.frame(),
            parent,
        }))
    }
}

/// Checks a name for [`Select::Comm`] against the profile's `TASK_COMM_LEN`.
fn check_select(profile: &Profile, sel: Select<'_>) -> Result<(), FindError> {
    match sel {
        Select::Comm(name) if name.is_empty() || name.len() >= profile.comm_len() || name.contains(&0) => {
            Err(FindError::BadName)
        }
        _ => Ok(()),
    }
}

/// Which way a walk follows the task list.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// `tasks.next` from `init_task`: oldest first.
    Forward,
    /// `tasks.prev` from `init_task`: newest first (fork appends to the list).
    Backward,
}

/// Walks the task list, calling `visit` with each task's address; `visit` returns true to stop.
/// Returns the number of tasks visited when the list closed at `init_task` or `visit` stopped.
fn walk_tasks<M: VirtMemory>(
    mem: &mut M,
    profile: &Profile,
    limit: usize,
    visit: impl FnMut(&mut M, GuestVirtAddr) -> Result<bool, FindError>,
) -> Result<usize, FindError> {
    walk_tasks_in(mem, profile, limit, Direction::Forward, visit)
}

fn walk_tasks_in<M: VirtMemory>(
    mem: &mut M,
    profile: &Profile,
    limit: usize,
    direction: Direction,
    mut visit: impl FnMut(&mut M, GuestVirtAddr) -> Result<bool, FindError>,
) -> Result<usize, FindError> {
    let tasks_off = profile.offset(Field::TaskTasks).unwrap_or(0) as u64;
    let init = GuestVirtAddr(profile.init_task());
    let head = init.checked_add(tasks_off).ok_or(FindError::BadPointer { at: init, value: init.0 })?;
    // list_head.next is its first member, .prev its second.
    let link = if direction == Direction::Forward { 0 } else { 8 };
    let next_of = |mem: &mut M, node: GuestVirtAddr| -> Result<GuestVirtAddr, FindError> {
        let at = node.checked_add(link).ok_or(FindError::BadPointer { at: node, value: node.0 })?;
        mem.read_ptr(at).map_err(|error| FindError::Memory { addr: at, error })
    };
    // Brent's cycle detection over the node sequence x0 = head, x1 = head.next, …: the
    // tortoise jumps to the hare at every power of two; a hare meeting it means a loop.
    let mut tortoise = head;
    let mut power: usize = 1;
    let mut lam: usize = 1;
    let mut prev = head;
    let mut hare = next_of(mem, head)?;
    let mut visited = 0usize;
    // Each iteration visits one task or returns, so at most `limit + 1` iterations.
    loop {
        if hare == head {
            return Ok(visited);
        }
        if hare == tortoise {
            return Err(FindError::Cycle { at: hare, visited });
        }
        if visited >= limit {
            return Err(FindError::LimitReached { limit });
        }
        let task = match hare.0.checked_sub(tasks_off) {
            Some(t) if hare.0 != 0 => GuestVirtAddr(t),
            _ => return Err(FindError::BadPointer { at: prev, value: hare.0 }),
        };
        visited += 1;
        if visit(mem, task)? {
            return Ok(visited);
        }
        if lam == power {
            tortoise = hare;
            power = power.saturating_mul(2);
            lam = 0;
        }
        prev = hare;
        hare = next_of(mem, hare)?;
        lam += 1;
    }
}

/// Most tasks one search of the task list visits (the list is guest data: bounded), for every
/// consumer (semguard.ko, sgmon).
pub const TASK_LIMIT: usize = 8192;

/// Finds the first user process selected by `sel`, visiting at most `limit` tasks.
pub fn find_first<K: FrameKind, M: VirtTranslate<K>>(
    mem: &mut M,
    profile: &Profile,
    sel: Select<'_>,
    limit: usize,
) -> Result<ProcessInfo<K>, FindError> {
    find_first_accepted(mem, profile, sel, limit, |_, _| true)
}

/// Finds the first user process selected by `sel` that `accept` also takes, visiting at most
/// `limit` tasks. `accept` gets the memory the walk reads (it may read the candidate's own
/// address space through it, as long as it leaves `mem` reading the kernel as before) and the
/// candidate; a candidate it refuses is skipped and the walk goes on.
pub fn find_first_accepted<K: FrameKind, M: VirtTranslate<K>>(
    mem: &mut M,
    profile: &Profile,
    sel: Select<'_>,
    limit: usize,
    mut accept: impl FnMut(&mut M, &ProcessInfo<K>) -> bool,
) -> Result<ProcessInfo<K>, FindError> {
    check_select(profile, sel)?;
    let r = Reader { profile };
    let mut found = None;
    let visited = walk_tasks(mem, profile, limit, |mem, task| {
        if r.matches(mem, task, sel)? {
            if let Some(info) = r.details(mem, task)? {
                if accept(mem, &info) {
                    found = Some(info);
                }
            }
        }
        Ok(found.is_some())
    })?;
    found.ok_or(FindError::NotFound { visited })
}

/// Finds every user process selected by `sel`, visiting at most `limit` tasks (the whole list
/// must close within the limit). Writes the first `out.len()` matches in list order to `out`
/// and returns the total number of matches (possibly more than `out.len()`); zero matches is
/// [`FindError::NotFound`]. On error `out`'s content is unspecified.
pub fn find_all<K: FrameKind, M: VirtTranslate<K>>(
    mem: &mut M,
    profile: &Profile,
    sel: Select<'_>,
    limit: usize,
    out: &mut [ProcessInfo<K>],
) -> Result<usize, FindError> {
    check_select(profile, sel)?;
    let r = Reader { profile };
    let mut count = 0usize;
    let visited = walk_tasks(mem, profile, limit, |mem, task| {
        if r.matches(mem, task, sel)? {
            if let Some(info) = r.details(mem, task)? {
                if let Some(slot) = out.get_mut(count) {
                    *slot = info;
                }
                count += 1;
            }
        }
        Ok(false)
    })?;
    if count == 0 {
        return Err(FindError::NotFound { visited });
    }
    Ok(count)
}

/// Finds the user process whose root table is in frame `pgd` (a page-aligned machine address)
/// among the `limit` newest tasks: the list read backwards from `init_task`, where fork adds
/// new tasks. Returns it (`None` when none of them is) and how many tasks were visited: a
/// short, bounded search for a process just born or just exec'd (exec keeps the task's place).
pub fn find_recent_by_pgd<K: FrameKind, M: VirtTranslate<K>>(
    mem: &mut M,
    profile: &Profile,
    pgd: u64,
    limit: usize,
) -> Result<(Option<ProcessInfo<K>>, usize), FindError> {
    let r = Reader { profile };
    let mut found = None;
    let walked = walk_tasks_in(mem, profile, limit, Direction::Backward, |mem, task| {
        if let Some(info) = r.details(mem, task)? {
            if info.pgd.base() == pgd {
                found = Some(info);
            }
        }
        Ok(found.is_some())
    });
    match walked {
        Ok(visited) => Ok((found, visited)),
        Err(FindError::LimitReached { limit }) => Ok((found, limit)),
        Err(e) => Err(e),
    }
}

/// Calls `visit` with every user process selected by `sel`, in list order, visiting at most
/// `limit` tasks (the whole list must close within the limit). `visit` gets the memory the walk
/// reads, under the same contract as [`find_first_accepted`]'s `accept`. Returns the number of
/// tasks visited.
pub fn visit_all<K: FrameKind, M: VirtTranslate<K>>(
    mem: &mut M,
    profile: &Profile,
    sel: Select<'_>,
    limit: usize,
    mut visit: impl FnMut(&mut M, &ProcessInfo<K>),
) -> Result<usize, FindError> {
    check_select(profile, sel)?;
    let r = Reader { profile };
    walk_tasks(mem, profile, limit, |mem, task| {
        if r.matches(mem, task, sel)? {
            if let Some(info) = r.details(mem, task)? {
                visit(mem, &info);
            }
        }
        Ok(false)
    })
}

/// `AT_NULL`: the auxiliary vector's terminator.
const AT_NULL: u64 = 0;
/// `AT_ENTRY`: the program's entry point, where the kernel loaded it.
const AT_ENTRY: u64 = 9;

/// Why a process's load base is not known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaseError {
    /// The profile does not say where `mm_struct.saved_auxv` is.
    NoAuxvLayout,
    /// The auxiliary vector could not be read.
    Memory(MemError),
    /// The vector has no `AT_ENTRY` before its end or its terminator.
    NoEntry,
    /// `AT_ENTRY` is not P's entry point in any page-aligned user placement: another program.
    NotP {
        /// The `AT_ENTRY` value seen.
        at_entry: u64,
    },
}

/// Where the image of the process whose `mm_struct` is at `mm` was loaded, for a P with a
/// relative identity (0 for an absolute one, without reading anything): its `AT_ENTRY` −
/// P's entry point as linked.
///
/// Read from `mm->saved_auxv`, the kernel's own copy of the auxiliary vector made at exec:
/// kernel memory, which the process cannot write (only `prctl(PR_SET_MM_AUXV)` with
/// `CAP_SYS_RESOURCE` can), unlike the copy on its stack. At most the profile's
/// `auxv_words` words are read (≤ [`crate::profile::MAX_AUXV_WORDS`]), a pair at a time.
pub fn image_base<M: VirtMemory + ?Sized>(
    mem: &mut M,
    profile: &Profile,
    mm: GuestVirtAddr,
    identity: &crate::policy::Identity<'_>,
) -> Result<u64, BaseError> {
    if !identity.relative() {
        return Ok(0);
    }
    let layout = profile.vma_layout().filter(|v| v.auxv_words != 0).ok_or(BaseError::NoAuxvLayout)?;
    let at = mm.checked_add(u64::from(layout.saved_auxv)).ok_or(BaseError::Memory(MemError::Overflow))?;
    // Bounded by the profile's validated length.
    for pair in 0..u64::from(layout.auxv_words / 2) {
        let entry = at.checked_add(16 * pair).ok_or(BaseError::Memory(MemError::Overflow))?;
        let mut kv = [0u64; 2];
        mem.read_array(entry, 8, &mut kv).map_err(BaseError::Memory)?;
        match kv {
            [AT_NULL, _] => break,
            [AT_ENTRY, at_entry] => return identity.load_base(at_entry).ok_or(BaseError::NotP { at_entry }),
            _ => {}
        }
    }
    Err(BaseError::NoEntry)
}

/// Size of an ELF note header: `namesz`, `descsz`, `type`.
const NOTE_HEADER: usize = 12;
/// `NT_GNU_BUILD_ID` and its name, padded to 4 bytes.
const NT_GNU_BUILD_ID: u32 = 3;
const GNU_NAME: [u8; 4] = *b"GNU\0";
/// Longest build-id checked (the policy format's bound).
const MAX_BUILD_ID: usize = crate::policy::format::MAX_BUILD_ID_LEN;

/// Whether the process whose address space `mem` reads has P's identity in its mapped image:
/// a GNU build-id note whose descriptor at `note_vaddr` is `build_id` (what `semguard policy
/// compile` recorded from P's ELF), header included (namesz 4, descsz, type 3, "GNU\0").
/// `Err` when the note cannot be read (not mapped, not present): nothing is proven then.
/// A build-id longer than the format allows is never matched.
pub fn image_has_build_id<M: VirtMemory + ?Sized>(
    mem: &mut M,
    note_vaddr: u64,
    build_id: &[u8],
) -> Result<bool, MemError> {
    let n = build_id.len();
    if n == 0 || n > MAX_BUILD_ID {
        return Ok(false);
    }
    let header_at = note_vaddr.checked_sub((NOTE_HEADER + GNU_NAME.len()) as u64).ok_or(MemError::Overflow)?;
    let mut buf = [0u8; NOTE_HEADER + 4 + MAX_BUILD_ID];
    let seen = buf.get_mut(..NOTE_HEADER + GNU_NAME.len() + n).ok_or(MemError::Overflow)?;
    mem.read_bytes(GuestVirtAddr(header_at), seen)?;
    let word = |i: usize| seen.get(i..i + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes);
    let header_ok = word(0) == Some(GNU_NAME.len() as u32)
        && word(4) == Some(n as u32)
        && word(8) == Some(NT_GNU_BUILD_ID)
        && seen.get(NOTE_HEADER..NOTE_HEADER + 4) == Some(&GNU_NAME[..]);
    Ok(header_ok && seen.get(NOTE_HEADER + 4..) == Some(build_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{Machine, Mfn};
    use crate::profile::{ProfileFields, VmaLayout};
    use crate::tcache::TranslationCache;
    use crate::vmem::GuestMemory;
    use crate::walker::testing::{FrameArena, FrameSlot, PageTableBuilder};
    use crate::walker::{pte, PagingConfig, PagingMode};
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    const FLAGS: u64 = pte::P | pte::RW;
    const TASKS: u64 = 0xffff_8880_0100_0000;
    const TASK_SIZE: u64 = 256;
    const MMS: u64 = 0xffff_8880_0200_0000;
    const PGDS: u64 = 0xffff_8880_0300_0000;
    const INIT: u64 = 0xffff_ffff_8200_0000;

    fn profile(parent: bool) -> Profile {
        Profile::new(ProfileFields {
            init_task: INIT,
            task_struct_size: TASK_SIZE as u32,
            task_tasks: 16,
            task_comm: 64,
            task_pid: 32,
            task_tgid: 36,
            task_mm: 48,
            task_real_parent: if parent { Some(56) } else { None },
            mm_struct_size: 64,
            mm_pgd: 8,
            comm_len: 16,
        })
        .unwrap()
    }

    /// A guest kernel: `init_task` plus task slots `0..n` in a task area, one mm and one pgd
    /// page per task slot (pgd of slot `i` at frame `0x5000 + i`).
    struct Kernel<'s> {
        b: PageTableBuilder<'s, Machine>,
    }

    impl<'s> Kernel<'s> {
        fn new(slots: &'s mut [FrameSlot], n: u64) -> Self {
            let mut b = PageTableBuilder::new(FrameArena::new(slots, 0x100), PagingMode::Level4).unwrap();
            b.map_new(INIT, FLAGS).unwrap();
            for page in 0..(n * TASK_SIZE).div_ceil(4096) {
                b.map_new(TASKS + page * 4096, FLAGS).unwrap();
            }
            for page in 0..(n * 64).div_ceil(4096) {
                b.map_new(MMS + page * 4096, FLAGS).unwrap();
            }
            let mut k = Self { b };
            k.link(&[]);
            k
        }
        fn task(i: u64) -> u64 {
            TASKS + i * TASK_SIZE
        }
        fn w64(&mut self, va: u64, v: u64) {
            self.b.write_virt(va, &v.to_le_bytes()).unwrap();
        }
        fn w32(&mut self, va: u64, v: u32) {
            self.b.write_virt(va, &v.to_le_bytes()).unwrap();
        }
        /// Task slot `i`: a user process with a mm and a mapped pgd, or a kernel thread.
        fn set_task(&mut self, i: u64, comm: &[u8], pid: u32, user: bool) {
            let t = Self::task(i);
            let mut c = [0u8; 16];
            c[..comm.len()].copy_from_slice(comm);
            self.b.write_virt(t + 64, &c).unwrap();
            self.w32(t + 32, pid);
            self.w32(t + 36, pid);
            self.w64(t + 56, INIT);
            if user {
                let mm = MMS + i * 64;
                self.w64(t + 48, mm);
                let pgd = PGDS + i * 4096;
                self.w64(mm + 8, pgd);
                self.b.map(pgd, crate::walker::PageSize::Size4K, Mfn::new(0x5000 + i), FLAGS).unwrap();
            } else {
                self.w64(t + 48, 0);
            }
        }
        /// Links init_task → order[0] → … → init_task.
        fn link(&mut self, order: &[u64]) {
            let mut prev = INIT + 16;
            for &i in order {
                let node = Self::task(i) + 16;
                self.w64(prev, node);
                self.w64(node + 8, prev);
                prev = node;
            }
            self.w64(prev, INIT + 16);
            self.w64(INIT + 16 + 8, prev);
        }
        fn mem<'a>(
            &'a mut self,
            cache: &'a mut TranslationCache<Machine>,
        ) -> GuestMemory<'a, Machine, FrameArena<'s, Machine>> {
            let root = self.b.root();
            GuestMemory::new(self.b.arena_mut(), cache, root, PagingConfig::new(PagingMode::Level4, 46).unwrap())
        }
    }

    fn blank() -> ProcessInfo<Machine> {
        ProcessInfo {
            task: GuestVirtAddr(0),
            pid: 0,
            tgid: 0,
            comm: [0; 16],
            mm: GuestVirtAddr(0),
            pgd_va: GuestVirtAddr(0),
            pgd: Mfn::new(0),
            parent: None,
        }
    }

    #[test]
    fn finds_process_and_its_pgd_frame() {
        let mut s = vec![FrameSlot::EMPTY; 32];
        let mut k = Kernel::new(&mut s, 4);
        k.set_task(0, b"systemd", 1, true);
        k.set_task(1, b"kthreadd", 2, false);
        k.set_task(2, b"vuln-server", 345, true);
        k.set_task(3, b"sh", 400, true);
        k.link(&[0, 1, 2, 3]);
        let mut c = TranslationCache::new();
        let mut m = k.mem(&mut c);
        let p = find_first(&mut m, &profile(true), Select::Comm(b"vuln-server"), 100).unwrap();
        assert_eq!(p.task, GuestVirtAddr(Kernel::task(2)));
        assert_eq!((p.pid, p.tgid), (345, 345));
        assert_eq!(p.comm(), b"vuln-server");
        assert_eq!(p.mm, GuestVirtAddr(MMS + 2 * 64));
        assert_eq!(p.pgd_va, GuestVirtAddr(PGDS + 2 * 4096));
        assert_eq!(p.pgd, Mfn::new(0x5002));
        assert_eq!(p.parent, Some(GuestVirtAddr(INIT)));
        // Without real_parent in the profile.
        let p = find_first(&mut m, &profile(false), Select::Comm(b"sh"), 100).unwrap();
        assert_eq!((p.pid, p.pgd, p.parent), (400, Mfn::new(0x5003), None));
        // By pid.
        let p = find_first(&mut m, &profile(true), Select::Pid(1), 100).unwrap();
        assert_eq!(p.comm(), b"systemd");
        // A prefix or a longer name does not match.
        assert_eq!(
            find_first(&mut m, &profile(true), Select::Comm(b"vuln"), 100),
            Err(FindError::NotFound { visited: 4 })
        );
        assert_eq!(
            find_first(&mut m, &profile(true), Select::Comm(b"vuln-server2"), 100),
            Err(FindError::NotFound { visited: 4 })
        );
    }

    #[test]
    fn a_candidate_the_caller_refuses_is_skipped() {
        let mut s = vec![FrameSlot::EMPTY; 32];
        let mut k = Kernel::new(&mut s, 3);
        k.set_task(0, b"notesd", 40, true); // a decoy: same name, older
        k.set_task(1, b"sh", 41, true);
        k.set_task(2, b"notesd", 42, true);
        k.link(&[0, 1, 2]);
        let mut c = TranslationCache::new();
        let mut m = k.mem(&mut c);
        let p = profile(true);
        let mut asked = vec![];
        let found = find_first_accepted(&mut m, &p, Select::Comm(b"notesd"), 10, |_, info| {
            asked.push(info.pid);
            info.pgd == Mfn::new(0x5002)
        });
        assert_eq!(found.unwrap().pid, 42);
        assert_eq!(asked, [40, 42], "only processes with the name are asked about");
        assert_eq!(
            find_first_accepted(&mut m, &p, Select::Comm(b"notesd"), 10, |_, _| false),
            Err(FindError::NotFound { visited: 3 })
        );
        assert_eq!(find_first(&mut m, &p, Select::Comm(b"notesd"), 10).unwrap().pid, 40, "by name alone: the decoy");
    }

    #[test]
    fn kernel_threads_are_skipped_and_names_checked() {
        let mut s = vec![FrameSlot::EMPTY; 32];
        let mut k = Kernel::new(&mut s, 2);
        k.set_task(0, b"worker", 7, false);
        k.set_task(1, b"worker", 8, true);
        k.link(&[0, 1]);
        let mut c = TranslationCache::new();
        let mut m = k.mem(&mut c);
        let p = profile(true);
        assert_eq!(find_first(&mut m, &p, Select::Comm(b"worker"), 10).unwrap().pid, 8);
        assert_eq!(find_first(&mut m, &p, Select::Pid(7), 10), Err(FindError::NotFound { visited: 2 }));
        assert_eq!(find_first(&mut m, &p, Select::Comm(b""), 10), Err(FindError::BadName));
        assert_eq!(find_first(&mut m, &p, Select::Comm(b"0123456789abcdef"), 10), Err(FindError::BadName));
        assert_eq!(find_first(&mut m, &p, Select::Comm(b"a\0b"), 10), Err(FindError::BadName));
        // 15 bytes is the longest name that can match.
        k.set_task(1, b"0123456789abcde", 8, true);
        // A new event: new epoch (the tables did not change here, but that is the rule).
        c.new_epoch();
        let mut m = k.mem(&mut c);
        assert_eq!(find_first(&mut m, &p, Select::Comm(b"0123456789abcde"), 10).unwrap().pid, 8);
    }

    #[test]
    fn all_matches_are_reported() {
        let mut s = vec![FrameSlot::EMPTY; 32];
        let mut k = Kernel::new(&mut s, 5);
        for (i, pid) in [(0, 10), (1, 11), (2, 12), (3, 13), (4, 14)] {
            let name: &[u8] = if i % 2 == 0 { b"srv" } else { b"other" };
            k.set_task(i, name, pid, true);
        }
        k.link(&[0, 1, 2, 3, 4]);
        let mut c = TranslationCache::new();
        let mut m = k.mem(&mut c);
        let p = profile(true);
        let mut out = [blank(); 4];
        assert_eq!(find_all(&mut m, &p, Select::Comm(b"srv"), 10, &mut out), Ok(3));
        assert_eq!([out[0].pid, out[1].pid, out[2].pid], [10, 12, 14]);
        assert_eq!([out[0].pgd, out[1].pgd, out[2].pgd], [Mfn::new(0x5000), Mfn::new(0x5002), Mfn::new(0x5004)]);
        // A short buffer still gets the total count.
        let mut one = [blank(); 1];
        assert_eq!(find_all(&mut m, &p, Select::Comm(b"srv"), 10, &mut one), Ok(3));
        assert_eq!(one[0].pid, 10);
        assert_eq!(find_all(&mut m, &p, Select::Comm(b"srv"), 10, &mut []), Ok(3));
        assert_eq!(find_first(&mut m, &p, Select::Comm(b"srv"), 10).unwrap().pid, 10);
        assert_eq!(find_all(&mut m, &p, Select::Comm(b"none"), 10, &mut out), Err(FindError::NotFound { visited: 5 }));
        // find_all needs the whole list inside the limit; find_first can stop earlier.
        assert_eq!(find_all(&mut m, &p, Select::Comm(b"srv"), 4, &mut out), Err(FindError::LimitReached { limit: 4 }));
        assert_eq!(find_first(&mut m, &p, Select::Comm(b"srv"), 1).unwrap().pid, 10);
    }

    #[test]
    fn recent_processes_are_found_by_pgd_from_the_end() {
        let mut s = vec![FrameSlot::EMPTY; 32];
        let mut k = Kernel::new(&mut s, 5);
        for (i, pid) in [(0, 10), (1, 11), (2, 12), (3, 13)] {
            k.set_task(i, b"any", pid, true);
        }
        k.set_task(4, b"kthread", 2, false);
        k.link(&[0, 1, 2, 3, 4]);
        let mut c = TranslationCache::new();
        let mut m = k.mem(&mut c);
        let p = profile(true);
        let pgd = |i: u64| Mfn::new(0x5000 + i).base();
        // Newest first: slot 3 is the second task from the end (after the kernel thread).
        assert_eq!(find_recent_by_pgd::<Machine, _>(&mut m, &p, pgd(3), 2).unwrap().0.map(|i| i.pid), Some(13));
        // Slot 0 is the oldest: beyond a short limit, found with a longer one.
        assert_eq!(find_recent_by_pgd::<Machine, _>(&mut m, &p, pgd(0), 3).unwrap(), (None, 3));
        assert_eq!(find_recent_by_pgd::<Machine, _>(&mut m, &p, pgd(0), 5).unwrap().0.map(|i| i.pid), Some(10));
        assert_eq!(find_recent_by_pgd::<Machine, _>(&mut m, &p, 0x9999_0000, 64).unwrap(), (None, 5));
        // Every user process, in list order.
        let mut out = [blank(); 8];
        assert_eq!(find_all(&mut m, &p, Select::Any, 10, &mut out), Ok(4));
        let mut pids = vec![];
        assert_eq!(visit_all::<Machine, _>(&mut m, &p, Select::Any, 10, |_, i| pids.push(i.tgid)), Ok(5));
        assert_eq!(pids, [10, 11, 12, 13]);
    }

    #[test]
    fn empty_list_and_limits() {
        let mut s = vec![FrameSlot::EMPTY; 32];
        let mut k = Kernel::new(&mut s, 3);
        let mut c = TranslationCache::new();
        let p = profile(true);
        assert_eq!(find_first(&mut k.mem(&mut c), &p, Select::Pid(1), 0), Err(FindError::NotFound { visited: 0 }));
        for i in 0..3 {
            k.set_task(i, b"x", i as u32 + 1, true);
        }
        k.link(&[0, 1, 2]);
        c.new_epoch();
        let mut m = k.mem(&mut c);
        assert_eq!(find_first(&mut m, &p, Select::Pid(9), 3), Err(FindError::NotFound { visited: 3 }));
        assert_eq!(find_first(&mut m, &p, Select::Pid(9), 2), Err(FindError::LimitReached { limit: 2 }));
        assert_eq!(find_first(&mut m, &p, Select::Pid(9), 0), Err(FindError::LimitReached { limit: 0 }));
    }

    #[test]
    fn cycles_not_through_init_task_are_detected() {
        let mut s = vec![FrameSlot::EMPTY; 32];
        let mut k = Kernel::new(&mut s, 6);
        for i in 0..6 {
            k.set_task(i, b"t", i as u32 + 1, true);
        }
        let p = profile(true);
        let node = |i: u64| Kernel::task(i) + 16;
        // init → 0 → 1 → 2 → 3 → 4 → 5 → 2 …
        k.link(&[0, 1, 2, 3, 4, 5]);
        k.w64(node(5), node(2));
        let mut c = TranslationCache::new();
        let r = find_first(&mut k.mem(&mut c), &p, Select::Pid(99), 1000);
        assert!(matches!(r, Err(FindError::Cycle { .. })), "{r:?}");
        if let Err(FindError::Cycle { at, visited }) = r {
            assert!([2, 3, 4, 5].map(node).contains(&at.0));
            assert!(visited <= 2 * 6, "Brent bound: visited {visited}");
        }
        // A task pointing at itself.
        k.link(&[0]);
        k.w64(node(0), node(0));
        c.new_epoch();
        assert_eq!(
            find_first(&mut k.mem(&mut c), &p, Select::Pid(99), 1000),
            Err(FindError::Cycle { at: GuestVirtAddr(node(0)), visited: 1 })
        );
        // A match before the loop is still found by find_first; find_all reports the loop.
        k.link(&[0, 1, 2]);
        k.w64(node(2), node(1));
        c.new_epoch();
        let mut m = k.mem(&mut c);
        assert_eq!(find_first(&mut m, &p, Select::Pid(1), 1000).unwrap().pid, 1);
        assert!(matches!(find_all(&mut m, &p, Select::Pid(1), 1000, &mut []), Err(FindError::Cycle { .. })));
    }

    #[test]
    fn bad_pointers_and_memory_errors() {
        let mut s = vec![FrameSlot::EMPTY; 32];
        let mut k = Kernel::new(&mut s, 3);
        for i in 0..3 {
            k.set_task(i, b"p", i as u32 + 1, true);
        }
        let p = profile(true);
        let node = |i: u64| Kernel::task(i) + 16;
        let mut c = TranslationCache::new();
        // NULL next.
        k.link(&[0, 1]);
        k.w64(node(1), 0);
        assert_eq!(
            find_first(&mut k.mem(&mut c), &p, Select::Pid(9), 10),
            Err(FindError::BadPointer { at: GuestVirtAddr(node(1)), value: 0 })
        );
        // next smaller than offsetof(tasks).
        k.w64(node(1), 8);
        c.new_epoch();
        assert_eq!(
            find_first(&mut k.mem(&mut c), &p, Select::Pid(9), 10),
            Err(FindError::BadPointer { at: GuestVirtAddr(node(1)), value: 8 })
        );
        // next into unmapped memory: the failing read is named.
        let wild = 0xffff_c900_0000_0010u64;
        k.w64(node(1), wild);
        c.new_epoch();
        let r = find_first(&mut k.mem(&mut c), &p, Select::Pid(9), 10);
        assert!(
            matches!(r, Err(FindError::Memory { addr, error: MemError::Walk { .. } }) if addr.0 == wild - 16 + 36),
            "{r:?}"
        );
        // Misaligned pgd.
        k.link(&[0, 1, 2]);
        let mm2 = MMS + 2 * 64;
        k.w64(mm2 + 8, PGDS + 2 * 4096 + 8);
        c.new_epoch();
        assert_eq!(
            find_first(&mut k.mem(&mut c), &p, Select::Pid(3), 10),
            Err(FindError::BadPointer { at: GuestVirtAddr(mm2 + 8), value: PGDS + 2 * 4096 + 8 })
        );
        // Unmapped pgd: the walk error is reported with the pgd address.
        k.w64(mm2 + 8, PGDS + 0x10_0000);
        c.new_epoch();
        let r = find_first(&mut k.mem(&mut c), &p, Select::Pid(3), 10);
        assert!(
            matches!(r, Err(FindError::Memory { addr, error: MemError::Walk { va, .. } })
                if addr.0 == PGDS + 0x10_0000 && va == addr),
            "{r:?}"
        );
        // Unmapped init_task.
        let mut bad = *p.fields();
        bad.init_task = 0xffff_ffff_a000_0000;
        let bad = Profile::new(bad).unwrap();
        c.new_epoch();
        assert!(matches!(
            find_first(&mut k.mem(&mut c), &bad, Select::Pid(3), 10),
            Err(FindError::Memory { addr: GuestVirtAddr(0xffff_ffff_a000_0010), .. })
        ));
    }

    /// Reference: follows `succ` from the head with a visited set.
    #[derive(Debug, PartialEq)]
    enum RefEnd {
        Closed(Vec<u64>),
        Cycle(usize),
    }

    fn reference(succ: &[Option<usize>], first: Option<usize>) -> RefEnd {
        let mut seen = Vec::new();
        let mut cur = first;
        while let Some(i) = cur {
            if seen.contains(&(i as u64)) {
                return RefEnd::Cycle(seen.len());
            }
            seen.push(i as u64);
            cur = succ[i];
        }
        RefEnd::Closed(seen)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Random successor functions over 8 tasks (`None` = back to init_task): the finder
        /// ends, agrees with a set-based reference on closed lists and detects every loop.
        #[test]
        fn hostile_lists(
            succ in proptest::collection::vec(proptest::option::of(0usize..8), 8),
            first in proptest::option::of(0usize..8),
            users in proptest::collection::vec(any::<bool>(), 8),
            target in 0u32..10,
        ) {
            let mut s = vec![FrameSlot::EMPTY; 32];
            let mut k = Kernel::new(&mut s, 8);
            for i in 0..8u64 {
                k.set_task(i, b"p", i as u32 + 1, users[i as usize]);
            }
            let node = |i: Option<usize>| match i { Some(i) => Kernel::task(i as u64) + 16, None => INIT + 16 };
            k.w64(INIT + 16, node(first));
            for (i, &next) in succ.iter().enumerate() {
                k.w64(node(Some(i)), node(next));
            }
            let mut c = TranslationCache::new();
            let mut m = k.mem(&mut c);
            let p = profile(true);
            let mut out = [blank(); 8];
            let r = find_all(&mut m, &p, Select::Pid(target), 100, &mut out);
            match reference(&succ, first) {
                RefEnd::Closed(order) => {
                    let want: Vec<u32> = order.iter().filter(|&&i| users[i as usize] && i as u32 + 1 == target)
                        .map(|&i| i as u32 + 1).collect();
                    if want.is_empty() {
                        prop_assert_eq!(r, Err(FindError::NotFound { visited: order.len() }));
                    } else {
                        prop_assert_eq!(r, Ok(want.len()));
                        prop_assert_eq!(out[0].pid, want[0]);
                        prop_assert_eq!(out[0].pgd, Mfn::new(0x5000 + want[0] as u64 - 1));
                    }
                }
                RefEnd::Cycle(distinct) => {
                    match r {
                        Err(FindError::Cycle { visited, .. }) => prop_assert!(visited <= 2 * distinct + 1),
                        other => prop_assert!(false, "expected a cycle, got {:?}", other),
                    }
                }
            }
        }
    }

    /// A PIE's load base comes from the kernel's copy of the auxiliary vector, bounded by the
    /// profile's length, and only a page-aligned placement of P's entry point is P.
    #[test]
    fn load_base_from_the_saved_auxv() {
        use crate::policy::{examples, Policy};
        const MM: u64 = 0xffff_8880_0600_0000;
        let vma = crate::fuzzing::LINUX_6_12_VMA;
        let fields = ProfileFields { mm_struct_size: 1152, mm_pgd: 120, ..*profile(true).fields() };
        let prof = Profile::with_vma_layout(fields, vma).unwrap();
        let mut blob = [0u8; 1024];
        let n = examples::pie(&mut blob).unwrap();
        let policy = Policy::decode(&blob[..n]).unwrap();
        let id = policy.identity().unwrap();
        let base = 0x5555_5555_4000u64;
        let auxv = |pairs: &[(u64, u64)]| {
            let mut m = crate::mem::flat::FlatMemory::<1>::new();
            let mut bytes = vec![0u8; 8 * usize::from(vma.auxv_words)];
            for (i, &(k, v)) in pairs.iter().enumerate() {
                bytes[16 * i..16 * i + 8].copy_from_slice(&k.to_le_bytes());
                bytes[16 * i + 8..16 * i + 16].copy_from_slice(&v.to_le_bytes());
            }
            assert!(m.write(MM + u64::from(vma.saved_auxv), &bytes));
            m
        };
        let mm = GuestVirtAddr(MM);
        let mut m = auxv(&[(33, 0x7fff_0000), (3, base + 64), (AT_ENTRY, base + examples::PIE_ENTRY), (AT_NULL, 0)]);
        assert_eq!(image_base(&mut m, &prof, mm, &id), Ok(base));
        let mut m = auxv(&[(AT_ENTRY, base + examples::PIE_ENTRY + 0x10)]);
        assert_eq!(
            image_base(&mut m, &prof, mm, &id),
            Err(BaseError::NotP { at_entry: base + examples::PIE_ENTRY + 0x10 })
        );
        // AT_ENTRY after the terminator is not read; a vector without either ends at the bound.
        let mut m = auxv(&[(AT_NULL, 0), (AT_ENTRY, base + examples::PIE_ENTRY)]);
        assert_eq!(image_base(&mut m, &prof, mm, &id), Err(BaseError::NoEntry));
        let full: Vec<(u64, u64)> = (0..usize::from(vma.auxv_words / 2)).map(|i| (100 + i as u64, 1)).collect();
        let mut m = auxv(&full);
        assert_eq!(image_base(&mut m, &prof, mm, &id), Err(BaseError::NoEntry));
        // Unreadable: an error, never a base.
        let mut empty = crate::mem::flat::FlatMemory::<1>::new();
        assert!(matches!(image_base(&mut empty, &prof, mm, &id), Err(BaseError::Memory(_))));
        // A profile without saved_auxv cannot place a PIE.
        let bare = Profile::with_vma_layout(fields, VmaLayout { saved_auxv: 0, auxv_words: 0, ..vma }).unwrap();
        assert_eq!(image_base(&mut m, &bare, mm, &id), Err(BaseError::NoAuxvLayout));
        // An absolute identity reads nothing.
        let n = examples::with_identity(&mut blob).unwrap();
        let abs = Policy::decode(&blob[..n]).unwrap();
        assert_eq!(image_base(&mut empty, &bare, mm, &abs.identity().unwrap()), Ok(0));
    }

    #[test]
    fn the_build_id_note_proves_the_image() {
        let id = [0xab_u8; 20];
        let mut note = vec![];
        note.extend_from_slice(&4u32.to_le_bytes());
        note.extend_from_slice(&20u32.to_le_bytes());
        note.extend_from_slice(&3u32.to_le_bytes());
        note.extend_from_slice(b"GNU\0");
        note.extend_from_slice(&id);
        let mut mem = crate::mem::flat::FlatMemory::<2>::new();
        // The note straddles a page boundary: the read must cross it.
        let at = 0x40_1000 - 8;
        assert!(mem.write(at, &note));
        let desc = at + 16;
        assert_eq!(image_has_build_id(&mut mem, desc, &id), Ok(true));
        let mut other = id;
        other[19] ^= 1;
        assert_eq!(image_has_build_id(&mut mem, desc, &other), Ok(false), "another binary");
        assert_eq!(image_has_build_id(&mut mem, desc, &id[..19]), Ok(false), "descsz says 20");
        assert_eq!(image_has_build_id(&mut mem, desc, &[]), Ok(false));
        assert_eq!(image_has_build_id(&mut mem, desc, &[0xab; 65]), Ok(false));
        // The same bytes without a GNU note header around them prove nothing.
        let mut forged = note.clone();
        forged[8] = 1; // type
        assert!(mem.write(at, &forged));
        assert_eq!(image_has_build_id(&mut mem, desc, &id), Ok(false));
        // Not mapped: no proof either way.
        assert!(image_has_build_id(&mut mem, 0x7000_0010, &id).is_err());
        assert!(image_has_build_id(&mut mem, 4, &id).is_err(), "underflow of the header address");
    }
}
