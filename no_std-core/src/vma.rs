//! VMA lookup (Introspection Library): does P's address space have a VMA covering a user
//! address, and with which flags — read from the guest kernel's VMA tree.
//!
//! The monitor sometimes makes the guest take a page fault on P's behalf (to read an argument
//! that is not mapped yet). The fault is resolved when a VMA covers the address and allows the
//! access; with no VMA the kernel sends P `SIGSEGV`, and the monitor must answer the call with
//! `EFAULT` instead. This module answers the question the way the kernel's fault path does
//! (`lock_vma_under_rcu` → `mas_walk`): it walks `mm->mm_mt`, the maple tree that has held
//! every VMA of an `mm_struct` since Linux 6.1, keyed by address range, whose leaves hold
//! `vm_area_struct` pointers (or NULL for the gaps between VMAs).
//!
//! # The walk
//!
//! [`lookup`] follows `mtree_range_walk` (lib/maple_tree.c): from `mm_mt.ma_root` (an encoded
//! node pointer, see below), in each node it finds the first slot whose pivot (the inclusive
//! upper bound of the slot's range) is at least the address, within the node's data end
//! (`ma_data_end`: the metadata's `end` for `maple_arange_64` nodes and for range nodes whose
//! last pivot is unused; the last pivot's index when it equals the node's upper bound; every
//! slot otherwise), and descends until a leaf. The leaf slot is a `vm_area_struct` pointer or
//! NULL (a gap), and the walk knows the slot's range `[first, last]`.
//!
//! # Hostile and torn trees
//!
//! The tree is guest memory: hostile input, and also simply changing under us — only the
//! trapping vCPU is paused, and another vCPU of the guest may be splitting, merging or freeing
//! nodes while we read (the kernel's own readers rely on RCU, which we do not take part in).
//! So nothing read is trusted, and anything that a consistent tree cannot show is an error,
//! never a "no VMA": an error means "don't know", which the caller treats as unverifiable.
//! Checked, per node:
//! - the node pointer decodes to a node of a kind the VMA tree uses, at a canonical kernel
//!   address ([`VmaError::NotANode`]);
//! - the node is not dead: the kernel marks a node removed from the tree by pointing its parent
//!   at itself (`ma_dead_node`) ([`VmaError::DeadNode`]);
//! - its parent pointer names where we came from: the tree (`&mm->mm_mt | 1`) for the root,
//!   else the parent node with our slot number and the range-node parent type — the invariant
//!   the kernel's `mt_validate` checks. This also makes a cycle impossible to follow: a node
//!   reached twice would need two different parents ([`VmaError::BadParent`]);
//! - the data end is inside the node ([`VmaError::BadMetadata`]); the pivots in use increase
//!   strictly and lie inside the node's range, so every slot's range is non-empty and inside its
//!   parent's ([`VmaError::Pivots`]);
//! - at most [`MAX_HEIGHT`] levels ([`VmaError::TooDeep`]), each scanning at most the node's
//!   slots: at most `MAX_HEIGHT` reads of one 256-byte node, then three 8-byte reads of the VMA.
//!
//! and at the leaf: the entry is NULL, or a kernel pointer to a `vm_area_struct` (the tree's
//! reserved internal entries, such as the `XA_ZERO_ENTRY` a failed fork leaves behind, are
//! [`VmaError::ReservedEntry`]), whose `[vm_start, vm_end)` is exactly the slot's range —
//! the tree stores every VMA at `[vm_start, vm_end - 1]` (`vma_iter_store`) — and page
//! aligned ([`VmaError::VmaMismatch`]).
//!
//! # The kernel's constants
//!
//! The profile (version 2, [`crate::profile::VmaLayout`]) gives every structure offset and
//! array length, read from the kernel's BTF or DWARF. The pointer encodings are `#define`s and
//! enum values, not types, so they are stated here, from `include/linux/maple_tree.h` and
//! `lib/maple_tree.c` (unchanged from 6.1 to 6.12): a node is 256-byte aligned and its pointer's
//! low byte (`MAPLE_NODE_MASK`) carries the node type in bits 3–6 (`enum maple_type`:
//! `maple_leaf_64` = 1, `maple_range_64` = 2, `maple_arange_64` = 3); the root pointer also has
//! bit 1 set (`MAPLE_ROOT_NODE`, and `xa_is_node`: low bits `10`, above 4096); a child's parent
//! pointer is `parent | slot << 3 | 0b110` (`MAPLE_PARENT_RANGE64`), the root's `tree | 1`
//! (`MA_ROOT_PARENT`). The `VM_*` flags are from `include/linux/mm.h`.
//!
//! # Stacks (`VM_GROWSDOWN`)
//!
//! A fault just below a `VM_GROWSDOWN` VMA (the main thread's stack) does not `SIGSEGV`: the
//! kernel grows the stack into the gap (`expand_stack`, within the rlimit and
//! `stack_guard_gap`). [`find_vma`] does not model that: it answers "no VMA" for such an
//! address. [`find_vma_from`] gives the first VMA ending above an address (the kernel's
//! `find_vma`), whose [`Vma::grows_down`] lets the caller decide; the conservative answer for
//! an address in a gap is the one that leaves the call unverifiable.

use crate::addr::{FrameKind, GuestVirtAddr};
use crate::mem::{MemError, VirtMemory};
use crate::process::ProcessInfo;
use crate::profile::{NodeKind, NodeLayout, Profile, VmaLayout, MAPLE_NODE_SIZE};

/// `VM_READ`: the VMA can be read.
pub const VM_READ: u64 = 0x1;
/// `VM_WRITE`: the VMA can be written.
pub const VM_WRITE: u64 = 0x2;
/// `VM_EXEC`: the VMA can be executed.
pub const VM_EXEC: u64 = 0x4;
/// `VM_GROWSDOWN`: a stack that grows down into the gap below it on a fault.
pub const VM_GROWSDOWN: u64 = 0x100;

/// Most tree levels walked. The kernel allows 31 (`MAPLE_HEIGHT_MAX`), but a VMA tree is far
/// lower: with the default `vm.max_map_count` (65530 VMAs, so at most 131061 entries with the
/// gaps) and every node at the kernel's rebalancing minimum (6 entries per leaf, 4 children
/// per internal node, 2 for the root) a tree of height h holds at least 12·4^(h−2) entries,
/// so h ≤ 8; real processes have 2 to 4. Ten levels leave room for a `max_map_count` raised
/// sixteenfold; a deeper tree is an error (unverifiable), never a wrong answer.
pub const MAX_HEIGHT: usize = 10;

/// Most gaps [`find_vma_from`] steps over. A gap is normally one leaf slot; a gap that straddles
/// leaves is split between them, one piece per leaf.
pub const MAX_GAP_STEPS: usize = 8;

/// `MAPLE_NODE_MASK`: the low bits of a node pointer that are not address.
const NODE_MASK: u64 = 0xff;
/// `MAPLE_NODE_TYPE_SHIFT` and `MAPLE_NODE_TYPE_MASK`: the node type's bits.
const TYPE_SHIFT: u32 = 3;
const TYPE_MASK: u64 = 0x0f;
/// `enum maple_type`.
const MAPLE_LEAF_64: u64 = 1;
const MAPLE_RANGE_64: u64 = 2;
const MAPLE_ARANGE_64: u64 = 3;
/// `MAPLE_ROOT_NODE`: set in `ma_root` when the root is a node.
const ROOT_NODE: u64 = 0x2;
/// `MA_ROOT_PARENT`: the root node's parent is the tree with this bit set.
const ROOT_PARENT: u64 = 0x1;
/// `MAPLE_PARENT_SLOT_SHIFT` and `MAPLE_PARENT_RANGE64`: a child's parent pointer.
const PARENT_SLOT_SHIFT: u32 = 3;
const PARENT_RANGE64: u64 = 0x6;
/// `MAPLE_RESERVED_RANGE`: internal entries below this are reserved, above it nodes.
const RESERVED_RANGE: u64 = 4096;

/// A VMA covering (or, from [`find_vma_from`], above) the address asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vma {
    /// Address of the `vm_area_struct`.
    pub at: GuestVirtAddr,
    /// `vm_start` (page aligned, inclusive).
    pub start: u64,
    /// `vm_end` (page aligned, exclusive).
    pub end: u64,
    /// `vm_flags` (`VM_*`).
    pub flags: u64,
}

impl Vma {
    /// Whether `addr` is inside `[start, end)`.
    pub fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }
    /// `VM_READ`: a read fault in it is resolved.
    pub fn readable(&self) -> bool {
        self.flags & VM_READ != 0
    }
    /// `VM_WRITE`.
    pub fn writable(&self) -> bool {
        self.flags & VM_WRITE != 0
    }
    /// `VM_EXEC`.
    pub fn executable(&self) -> bool {
        self.flags & VM_EXEC != 0
    }
    /// `VM_GROWSDOWN`: a fault in the gap just below it may grow it instead of failing.
    pub fn grows_down(&self) -> bool {
        self.flags & VM_GROWSDOWN != 0
    }
}

/// What the tree holds at an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A VMA covers it.
    Vma(Vma),
    /// No VMA: the address is in the gap `[first, last]` (the leaf slot's range; a gap that
    /// straddles leaves is reported one piece at a time).
    Gap {
        /// First address of the gap (piece).
        first: u64,
        /// Last address of the gap (piece), inclusive.
        last: u64,
    },
}

/// Why the tree could not answer ("don't know": the caller treats it as unverifiable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmaError {
    /// The profile has no VMA layout (a version-1 profile).
    Unavailable,
    /// The `mm` is NULL (a kernel thread, or a process whose mm is gone).
    NoMm,
    /// A guest read failed.
    Memory {
        /// Address that was being read (the root pointer, a node, a VMA field).
        addr: GuestVirtAddr,
        /// Why.
        error: MemError,
    },
    /// `ma_root` is neither NULL nor a node (a single-entry tree, which a VMA tree never is:
    /// every VMA covers at least one page, a range only a node stores).
    BadRoot {
        /// Where it was read.
        at: GuestVirtAddr,
        /// Its value.
        value: u64,
    },
    /// A pointer where a node was expected does not decode to one (NULL, low bits set, a node
    /// type the VMA tree does not use, not a canonical kernel address).
    NotANode {
        /// Where it was read.
        at: GuestVirtAddr,
        /// Its value.
        value: u64,
    },
    /// The node was removed from the tree (its parent points to itself).
    DeadNode {
        /// The node.
        node: GuestVirtAddr,
    },
    /// The node's parent pointer is not where the walk came from.
    BadParent {
        /// The node.
        node: GuestVirtAddr,
        /// Its parent pointer.
        parent: u64,
        /// What it should be.
        expected: u64,
    },
    /// The node's data end is outside its slots.
    BadMetadata {
        /// The node.
        node: GuestVirtAddr,
        /// The data end read.
        end: u64,
    },
    /// The node's pivots in use do not increase strictly inside the node's range.
    Pivots {
        /// The node.
        node: GuestVirtAddr,
        /// Index of the first pivot out of order or out of range.
        index: usize,
        /// Its value.
        value: u64,
    },
    /// More than [`MAX_HEIGHT`] levels.
    TooDeep,
    /// A leaf entry is one of the tree's internal values, not a VMA pointer.
    ReservedEntry {
        /// Where it was read.
        at: GuestVirtAddr,
        /// Its value.
        value: u64,
    },
    /// A leaf entry is not a plausible `vm_area_struct` pointer (not a canonical kernel
    /// address, misaligned).
    BadPointer {
        /// Where it was read.
        at: GuestVirtAddr,
        /// Its value.
        value: u64,
    },
    /// The VMA's `[vm_start, vm_end)` is not the slot's range, is empty or is not page aligned.
    VmaMismatch {
        /// The `vm_area_struct`.
        vma: GuestVirtAddr,
        /// Its `vm_start`.
        start: u64,
        /// Its `vm_end`.
        end: u64,
        /// The slot's first address.
        first: u64,
        /// The slot's last address (inclusive).
        last: u64,
    },
    /// More than [`MAX_GAP_STEPS`] gaps in a row ([`find_vma_from`]).
    TooManyGaps,
}

/// Canonical kernel-half address (5-level canonical, which includes every 4-level one).
fn kernel_half(v: u64) -> bool {
    v >> 63 == 1 && ((v << 7) as i64 >> 7) as u64 == v
}

/// A decoded node pointer: the node's address and its type.
#[derive(Clone, Copy)]
struct Enode {
    node: GuestVirtAddr,
    ty: u64,
}

/// Decodes a child pointer (`mt_mk_node`: node | type << 3 | bit 2 "has NULL below").
fn decode(value: u64) -> Option<Enode> {
    let node = value & !NODE_MASK;
    let ty = (value >> TYPE_SHIFT) & TYPE_MASK;
    let ok = value & 0x3 == 0 && matches!(ty, MAPLE_LEAF_64 | MAPLE_RANGE_64 | MAPLE_ARANGE_64) && kernel_half(node);
    ok.then_some(Enode { node: GuestVirtAddr(node), ty })
}

fn read_u64<M: VirtMemory + ?Sized>(mem: &mut M, at: GuestVirtAddr) -> Result<u64, VmaError> {
    mem.read_u64(at).map_err(|error| VmaError::Memory { addr: at, error })
}

fn at_plus(base: GuestVirtAddr, off: u64) -> Result<GuestVirtAddr, VmaError> {
    base.checked_add(off).ok_or(VmaError::Memory { addr: base, error: MemError::Overflow })
}

/// One node read whole (nodes are 256-byte aligned, so one read never crosses a page).
struct Node {
    at: GuestVirtAddr,
    bytes: [u8; MAPLE_NODE_SIZE as usize],
}

impl Node {
    /// The 8-byte word at `off`; the validated profile keeps every offset inside the node, and
    /// one outside reads as the metadata error it would be.
    fn word(&self, off: usize) -> Result<u64, VmaError> {
        let b = self.bytes.get(off..).and_then(|s| s.first_chunk::<8>());
        b.map(|b| u64::from_le_bytes(*b)).ok_or(VmaError::BadMetadata { node: self.at, end: off as u64 })
    }
    fn pivot(&self, l: &NodeLayout, i: usize) -> Result<u64, VmaError> {
        self.word(l.pivot as usize + 8 * i)
    }
    fn slot(&self, l: &NodeLayout, i: usize) -> Result<u64, VmaError> {
        self.word(l.slot as usize + 8 * i)
    }
    /// `ma_data_end`: index of the last slot in use, checked to be a slot.
    fn data_end(&self, l: &NodeLayout, ty: u64, max: u64) -> Result<usize, VmaError> {
        let meta = || self.bytes.get(l.meta_end as usize).map_or(u64::MAX, |&b| b as u64);
        let last = (l.pivots as usize).saturating_sub(1);
        let end = if ty == MAPLE_ARANGE_64 {
            meta()
        } else {
            match self.pivot(l, last)? {
                0 => meta(),
                p if p == max => last as u64,
                _ => l.pivots as u64,
            }
        };
        if end >= l.slots as u64 {
            return Err(VmaError::BadMetadata { node: self.at, end });
        }
        Ok(end as usize)
    }
}

/// What the VMA tree of `mm` (a kernel virtual address, read through `mem`: the guest
/// kernel's address space) holds at user address `addr`.
pub fn lookup<M: VirtMemory + ?Sized>(
    mem: &mut M,
    profile: &Profile,
    mm: GuestVirtAddr,
    addr: u64,
) -> Result<Lookup, VmaError> {
    let l = profile.vma_layout().ok_or(VmaError::Unavailable)?;
    if mm.0 == 0 {
        return Err(VmaError::NoMm);
    }
    let tree = at_plus(mm, l.mm_mt as u64)?;
    let root_at = at_plus(tree, l.tree_root as u64)?;
    let root = read_u64(mem, root_at)?;
    if root == 0 {
        return Ok(Lookup::Gap { first: 0, last: u64::MAX });
    }
    // xa_is_node: an internal entry (low bits 10) above the reserved range.
    if root & 0x3 != ROOT_NODE || root <= RESERVED_RANGE {
        return Err(VmaError::BadRoot { at: root_at, value: root });
    }
    let mut next = decode(root & !ROOT_NODE).ok_or(VmaError::NotANode { at: root_at, value: root })?;
    let mut expected_parent = tree.0 | ROOT_PARENT;
    // The range of the slot that led here: the whole key space at the root.
    let (mut min, mut max) = (0u64, u64::MAX);
    for _level in 0..MAX_HEIGHT {
        let mut n = Node { at: next.node, bytes: [0; MAPLE_NODE_SIZE as usize] };
        mem.read_bytes(n.at, &mut n.bytes).map_err(|error| VmaError::Memory { addr: n.at, error })?;
        let parent = n.word(l.node_parent as usize)?;
        if parent & !NODE_MASK == n.at.0 {
            return Err(VmaError::DeadNode { node: n.at });
        }
        if parent != expected_parent {
            return Err(VmaError::BadParent { node: n.at, parent, expected: expected_parent });
        }
        let kind = if next.ty == MAPLE_ARANGE_64 { NodeKind::Arange64 } else { NodeKind::Range64 };
        let nl = l.node(kind);
        let end = n.data_end(nl, next.ty, max)?;
        // The slot: the first whose pivot is ≥ addr among the pivots in use, else the last one
        // in use (whose upper bound is the node's). Pivots are checked as they are passed, and
        // to the end, so that a torn node is refused whichever slot addr falls in.
        let (mut lo, mut offset, mut new_max) = (min, None, max);
        for i in 0..end {
            let p = n.pivot(nl, i)?;
            if p < lo || p >= max {
                return Err(VmaError::Pivots { node: n.at, index: i, value: p });
            }
            if offset.is_none() && p >= addr {
                offset = Some(i);
                new_max = p;
                min = lo;
            }
            lo = p + 1;
        }
        let offset = match offset {
            Some(o) => o,
            None => {
                min = lo;
                end
            }
        };
        max = new_max;
        let value = n.slot(nl, offset)?;
        let slot_at = at_plus(n.at, nl.slot as u64 + 8 * offset as u64)?;
        if next.ty == MAPLE_LEAF_64 {
            return leaf_entry(mem, l, slot_at, value, min, max);
        }
        next = decode(value).ok_or(VmaError::NotANode { at: slot_at, value })?;
        expected_parent = n.at.0 | ((offset as u64) << PARENT_SLOT_SHIFT) | PARENT_RANGE64;
    }
    Err(VmaError::TooDeep)
}

/// A leaf slot's entry, covering `[first, last]`.
fn leaf_entry<M: VirtMemory + ?Sized>(
    mem: &mut M,
    l: &VmaLayout,
    slot_at: GuestVirtAddr,
    value: u64,
    first: u64,
    last: u64,
) -> Result<Lookup, VmaError> {
    if value == 0 {
        return Ok(Lookup::Gap { first, last });
    }
    if value & 0x3 == 0x2 {
        return Err(VmaError::ReservedEntry { at: slot_at, value });
    }
    if !kernel_half(value) || value % 8 != 0 {
        return Err(VmaError::BadPointer { at: slot_at, value });
    }
    let vma = GuestVirtAddr(value);
    let start = read_u64(mem, at_plus(vma, l.vma_start as u64)?)?;
    let end = read_u64(mem, at_plus(vma, l.vma_end as u64)?)?;
    let flags = read_u64(mem, at_plus(vma, l.vma_flags as u64)?)?;
    let page = crate::addr::PAGE_SIZE - 1;
    if start != first || end.wrapping_sub(1) != last || start >= end || start & page != 0 || end & page != 0 {
        return Err(VmaError::VmaMismatch { vma, start, end, first, last });
    }
    Ok(Lookup::Vma(Vma { at: vma, start, end, flags }))
}

/// The VMA of `mm` covering user address `addr`, `None` if there is none (a fault there would
/// `SIGSEGV` P, but see the module docs on stacks).
pub fn find_vma<M: VirtMemory + ?Sized>(
    mem: &mut M,
    profile: &Profile,
    mm: GuestVirtAddr,
    addr: u64,
) -> Result<Option<Vma>, VmaError> {
    match lookup(mem, profile, mm, addr)? {
        Lookup::Vma(v) => Ok(Some(v)),
        Lookup::Gap { .. } => Ok(None),
    }
}

/// The first VMA of `mm` that ends above `addr` (covering it, or the next one above it; `None`
/// when there is none): the kernel's `find_vma`, which a caller can use to see whether a fault
/// below a `VM_GROWSDOWN` VMA might grow it. Steps over at most [`MAX_GAP_STEPS`] gaps.
pub fn find_vma_from<M: VirtMemory + ?Sized>(
    mem: &mut M,
    profile: &Profile,
    mm: GuestVirtAddr,
    addr: u64,
) -> Result<Option<Vma>, VmaError> {
    let mut at = addr;
    for _ in 0..=MAX_GAP_STEPS {
        match lookup(mem, profile, mm, at)? {
            Lookup::Vma(v) => return Ok(Some(v)),
            Lookup::Gap { last: u64::MAX, .. } => return Ok(None),
            // The gap contains `at`, so `last + 1 > at`: the steps go up.
            Lookup::Gap { last, .. } => at = last + 1,
        }
    }
    Err(VmaError::TooManyGaps)
}

/// Whether a user-mode read fault of P at `addr` would be resolved, as the guest kernel's fault
/// path decides it (`lock_mm_and_find_vma`): a VMA covering `addr` that allows reading — yes;
/// `addr` below a `VM_GROWSDOWN` VMA — the kernel grows the stack down to it within its limits,
/// and does the same for its own read of a user pointer (a fault with an exception-table entry),
/// so it is left to the guest; anything else is a `SIGSEGV` for P and `EFAULT` for the kernel's
/// read — no.
pub fn read_fault_resolves<M: VirtMemory + ?Sized>(
    mem: &mut M,
    profile: &Profile,
    mm: GuestVirtAddr,
    addr: u64,
) -> Result<bool, VmaError> {
    Ok(match find_vma_from(mem, profile, mm, addr)? {
        Some(v) if v.contains(addr) => v.readable(),
        Some(v) => v.grows_down() && v.readable(),
        None => false,
    })
}

/// [`find_vma`] for a process the process finder returned (its `mm`).
pub fn find_vma_of<K: FrameKind, M: VirtMemory + ?Sized>(
    mem: &mut M,
    profile: &Profile,
    process: &ProcessInfo<K>,
    addr: u64,
) -> Result<Option<Vma>, VmaError> {
    find_vma(mem, profile, process.mm, addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{Machine, Mfn};
    use crate::mem::flat::FlatMemory;
    use crate::profile::tests::{sample, sample_vma};
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    const MM: u64 = 0xffff_8880_0600_0000;
    const TREE: u64 = MM + 64;
    const NODES: u64 = 0xffff_8880_0400_0000;
    const VMAS: u64 = 0xffff_8880_0500_0000;
    const VMA_SIZE: u64 = 152;
    const RX: u64 = VM_READ | VM_EXEC;
    const RW: u64 = VM_READ | VM_WRITE;
    /// `XA_ZERO_ENTRY`: `xa_mk_internal(257)`.
    const XA_ZERO_ENTRY: u64 = (257 << 2) | 2;

    fn profile() -> Profile {
        Profile::with_vma_layout(sample(), sample_vma()).unwrap()
    }

    /// A guest kernel's memory with one mm (at `MM`, its tree at `MM + 64`), maple nodes laid
    /// out from `NODES` and `vm_area_struct`s from `VMAS`, in the layout of `sample_vma()`.
    struct Guest {
        mem: FlatMemory<16>,
        nodes: u64,
        vmas: u64,
    }

    /// A node the builder made: its encoded pointer and the range it covers.
    #[derive(Clone, Copy, Debug)]
    struct Built {
        enode: u64,
        first: u64,
        last: u64,
    }

    impl Guest {
        fn new() -> Self {
            let mut g = Self { mem: FlatMemory::new(), nodes: 0, vmas: 0 };
            g.w64(TREE + 8, 0);
            g
        }
        fn w64(&mut self, at: u64, v: u64) {
            assert!(self.mem.write(at, &v.to_le_bytes()), "out of test pages");
        }
        fn r64(&mut self, at: u64) -> u64 {
            self.mem.read_u64(GuestVirtAddr(at)).unwrap()
        }
        fn vma(&mut self, start: u64, end: u64, flags: u64) -> u64 {
            let at = VMAS + self.vmas * VMA_SIZE;
            self.vmas += 1;
            self.w64(at, start);
            self.w64(at + 8, end);
            self.w64(at + 32, flags);
            at
        }
        /// A node of type `ty` holding `entries` (inclusive upper bound, slot value) in order,
        /// written as the kernel writes it: a pivot for every entry that has one, the metadata
        /// end unless the last slot is in use (it shares the bytes).
        fn node(&mut self, ty: u64, entries: &[(u64, u64)]) -> u64 {
            let at = NODES + self.nodes * 256;
            self.nodes += 1;
            let kind = if ty == MAPLE_ARANGE_64 { NodeKind::Arange64 } else { NodeKind::Range64 };
            let l = *sample_vma().node(kind);
            assert!(!entries.is_empty() && entries.len() <= l.slots as usize);
            assert!(self.mem.write(at, &[0u8; 256]));
            assert!(self.mem.write(at + l.meta_end as u64, &[entries.len() as u8 - 1]));
            for (i, &(last, value)) in entries.iter().enumerate() {
                if i < l.pivots as usize {
                    self.w64(at + l.pivot as u64 + 8 * i as u64, last);
                }
                self.w64(at + l.slot as u64 + 8 * i as u64, value);
            }
            at | (ty << 3) | 0x4
        }
        fn set_parent(&mut self, child: u64, parent: u64, slot: u64) {
            self.w64(child & !0xff, (parent & !0xff) | (slot << 3) | 6);
        }
        fn set_root(&mut self, enode: u64) {
            self.w64(TREE + 8, enode | 2);
            self.w64(enode & !0xff, TREE | 1);
        }
        /// The tree over `vmas` ((start, end, flags), sorted, disjoint) with the gaps between
        /// them as NULL entries: leaves of `leaf_fill` entries, internal nodes of type
        /// `internal` with `fill` children. Returns the root and the tree's height.
        fn build(&mut self, vmas: &[(u64, u64, u64)], leaf_fill: usize, fill: usize, internal: u64) -> (Built, usize) {
            let mut entries = vec![];
            let mut cursor = 0u64;
            for &(s, e, f) in vmas {
                if s > cursor {
                    entries.push((cursor, s - 1, 0));
                }
                let v = self.vma(s, e, f);
                entries.push((s, e - 1, v));
                cursor = e;
            }
            entries.push((cursor, u64::MAX, 0));
            let mut level: Vec<Built> = entries
                .chunks(leaf_fill)
                .map(|c| {
                    let e: Vec<(u64, u64)> = c.iter().map(|&(_, l, v)| (l, v)).collect();
                    Built { enode: self.node(MAPLE_LEAF_64, &e), first: c[0].0, last: c[c.len() - 1].1 }
                })
                .collect();
            let mut height = 1;
            while level.len() > 1 {
                level = level
                    .chunks(fill)
                    .map(|c| {
                        let e: Vec<(u64, u64)> = c.iter().map(|b| (b.last, b.enode)).collect();
                        let enode = self.node(internal, &e);
                        for (i, b) in c.iter().enumerate() {
                            self.set_parent(b.enode, enode, i as u64);
                        }
                        Built { enode, first: c[0].first, last: c[c.len() - 1].last }
                    })
                    .collect();
                height += 1;
            }
            self.set_root(level[0].enode);
            (level[0], height)
        }
        fn find(&mut self, addr: u64) -> Result<Option<Vma>, VmaError> {
            find_vma(&mut self.mem, &profile(), GuestVirtAddr(MM), addr)
        }
        fn span(&mut self, addr: u64) -> Option<(u64, u64, u64)> {
            self.find(addr).unwrap().map(|v| (v.start, v.end, v.flags))
        }
    }

    /// A small process: text, data, heap, a library, the stack.
    fn process_vmas() -> Vec<(u64, u64, u64)> {
        vec![
            (0x40_0000, 0x40_1000, RX),
            (0x60_0000, 0x60_2000, RW),
            (0x100_0000, 0x102_1000, RW),
            (0x7f12_3450_0000, 0x7f12_3460_0000, RX),
            (0x7f12_3460_0000, 0x7f12_3460_1000, 0),
            (0x7ffd_0000_0000, 0x7ffd_0002_1000, RW | VM_GROWSDOWN),
        ]
    }

    /// Every VMA's first and last byte, the gaps and the ends of the address space.
    fn check_against(g: &mut Guest, vmas: &[(u64, u64, u64)]) {
        for &(s, e, f) in vmas {
            assert_eq!(g.span(s), Some((s, e, f)), "{s:#x}");
            assert_eq!(g.span(e - 1), Some((s, e, f)), "{:#x}", e - 1);
            assert_eq!(g.span(s + (e - s) / 2), Some((s, e, f)));
        }
        for w in vmas.windows(2) {
            if w[0].1 < w[1].0 {
                assert_eq!(g.span(w[0].1), None, "gap after {:#x}", w[0].0);
                assert_eq!(g.span(w[1].0 - 1), None, "gap before {:#x}", w[1].0);
            }
        }
        assert_eq!(g.span(0), None, "below the first VMA");
        assert_eq!(g.span(vmas[0].0 - 1), None);
        assert_eq!(g.span(vmas[vmas.len() - 1].1), None, "above the last VMA");
        assert_eq!(g.span(0xffff_ffff_ff60_0000), None, "a kernel address has no VMA");
        assert_eq!(g.span(u64::MAX), None);
    }

    #[test]
    fn arange_root_over_leaves() {
        let mut g = Guest::new();
        let vmas = process_vmas();
        let (_, height) = g.build(&vmas, 4, 10, MAPLE_ARANGE_64);
        assert_eq!(height, 2);
        check_against(&mut g, &vmas);
        let stack = g.find(0x7ffd_0000_0010).unwrap().unwrap();
        assert!(stack.readable() && stack.writable() && !stack.executable() && stack.grows_down());
        assert_eq!(stack.at, GuestVirtAddr(VMAS + 5 * VMA_SIZE));
        let text = g.find(0x40_0123).unwrap().unwrap();
        assert!(text.readable() && text.executable() && !text.writable() && !text.grows_down());
        assert!(text.contains(0x40_0fff) && !text.contains(0x40_1000));
        // A guard page: a VMA without VM_READ is still a VMA (the fault is a SIGSEGV of
        // another kind: access, not mapping; the caller reads the flags).
        assert!(!g.find(0x7f12_3460_0000).unwrap().unwrap().readable());
        // Just below the stack: no VMA, but the next one up grows down.
        assert_eq!(g.find(0x7ffc_ffff_f000), Ok(None));
        assert_eq!(
            find_vma_from(&mut g.mem, &profile(), GuestVirtAddr(MM), 0x7ffc_ffff_f000).unwrap().map(|v| v.grows_down()),
            Some(true)
        );
        assert_eq!(
            lookup(&mut g.mem, &profile(), GuestVirtAddr(MM), 0x7ffc_ffff_f000),
            Ok(Lookup::Gap { first: 0x7f12_3460_1000, last: 0x7ffc_ffff_ffff })
        );
        // What a read fault of P's would do there: resolved in a readable VMA and below the
        // stack (the guest grows it); not in the guard page, a gap, or above the last VMA.
        let resolves = |g: &mut Guest, a| read_fault_resolves(&mut g.mem, &profile(), GuestVirtAddr(MM), a);
        for (addr, want) in [
            (0x40_0123, true),
            (0x7ffd_0002_0fff, true),
            (0x7ffc_ffff_f000, true),
            (0x7f12_3460_0000, false),
            (0x50_0000, false),
            (0x7ffd_0002_1000, false),
            (0, false),
        ] {
            assert_eq!(resolves(&mut g, addr), Ok(want), "{addr:#x}");
        }
    }

    #[test]
    fn range64_root_over_leaves() {
        let mut g = Guest::new();
        let vmas = process_vmas();
        let (_, height) = g.build(&vmas, 5, 16, MAPLE_RANGE_64);
        assert_eq!(height, 2);
        check_against(&mut g, &vmas);
    }

    #[test]
    fn a_root_leaf_alone() {
        let mut g = Guest::new();
        let vmas = process_vmas();
        let (root, height) = g.build(&vmas, 16, 10, MAPLE_ARANGE_64);
        assert_eq!((height, root.enode >> 3 & 0xf), (1, MAPLE_LEAF_64));
        check_against(&mut g, &vmas);
    }

    /// `n` VMAs of one to four pages, with and without gaps between them.
    fn many(n: u64) -> Vec<(u64, u64, u64)> {
        let mut v = vec![];
        let mut at = 0x10_0000u64;
        for i in 0..n {
            let len = 0x1000 * (1 + i % 4);
            v.push((at, at + len, if i % 3 == 0 { RX } else { RW }));
            at += len + if i % 2 == 0 { 0x1000 * (i % 5) } else { 0 };
        }
        v
    }

    #[test]
    fn three_and_more_levels() {
        for (leaf_fill, fill, want) in [(3, 4, 3), (2, 2, 6)] {
            let mut g = Guest::new();
            let vmas = many(30);
            let (_, height) = g.build(&vmas, leaf_fill, fill, MAPLE_ARANGE_64);
            assert_eq!(height, want);
            check_against(&mut g, &vmas);
        }
    }

    #[test]
    fn full_nodes_use_every_slot() {
        // 16 entries: pivot 14 is in use and below the node's bound, so the 16th slot is data.
        let mut g = Guest::new();
        let vmas: Vec<_> = (0..8u64).map(|i| (0x10_0000 + i * 0x2000, 0x10_1000 + i * 0x2000, RW)).collect();
        // 8 VMAs, 8 gaps before them, and the gap up to the top: 17 entries, so leaves of 16
        // and 1.
        let (_, height) = g.build(&vmas, 16, 10, MAPLE_ARANGE_64);
        assert_eq!(height, 2);
        check_against(&mut g, &vmas);
        // 15 entries whose last pivot is the node's bound: the data ends at slot 14.
        let mut g = Guest::new();
        let vmas: Vec<_> = (0..7u64).map(|i| (0x10_0000 + i * 0x2000, 0x10_1000 + i * 0x2000, RW)).collect();
        let (root, height) = g.build(&vmas, 15, 10, MAPLE_ARANGE_64);
        assert_eq!(height, 1);
        assert_eq!(g.r64((root.enode & !0xff) + 8 + 14 * 8), u64::MAX);
        check_against(&mut g, &vmas);
    }

    #[test]
    fn empty_and_single_entry_roots() {
        let mut g = Guest::new();
        assert_eq!(g.find(0x40_0000), Ok(None), "an empty tree has no VMA");
        let v = g.vma(0, 0x1000, RW);
        g.w64(TREE + 8, v);
        let at = GuestVirtAddr(TREE + 8);
        assert_eq!(g.find(0), Err(VmaError::BadRoot { at, value: v }));
        g.w64(TREE + 8, XA_ZERO_ENTRY);
        assert_eq!(g.find(0), Err(VmaError::BadRoot { at, value: XA_ZERO_ENTRY }));
        // A node pointer of a kind the VMA tree never uses (dense) or no kind at all.
        for bad in [NODES | 2, NODES | (5 << 3) | 2, 0x1000_0000 | (1 << 3) | 2] {
            g.w64(TREE + 8, bad);
            assert_eq!(g.find(0), Err(VmaError::NotANode { at, value: bad }), "{bad:#x}");
        }
    }

    #[test]
    fn dead_misparented_and_cyclic_nodes_are_errors() {
        let mut g = Guest::new();
        let vmas = process_vmas();
        let (root, _) = g.build(&vmas, 4, 10, MAPLE_ARANGE_64);
        let root_node = root.enode & !0xff;
        let leaf0 = g.r64(root_node + 80) & !0xff;
        // A dead child: its parent points to itself.
        let saved = g.r64(leaf0);
        g.w64(leaf0, leaf0 | 6);
        assert_eq!(g.find(0x40_0000), Err(VmaError::DeadNode { node: GuestVirtAddr(leaf0) }));
        // The other children are still found.
        assert!(g.find(0x7ffd_0000_0000).unwrap().is_some());
        // A child whose parent names another slot.
        g.w64(leaf0, (root_node | (1 << 3)) | 6);
        assert_eq!(
            g.find(0x40_0000),
            Err(VmaError::BadParent { node: GuestVirtAddr(leaf0), parent: root_node | 0xe, expected: root_node | 6 })
        );
        g.w64(leaf0, saved);
        assert!(g.find(0x40_0000).unwrap().is_some());
        // A dead root.
        g.w64(root_node, root_node);
        assert_eq!(g.find(0x40_0000), Err(VmaError::DeadNode { node: GuestVirtAddr(root_node) }));
        // A root that belongs to another tree.
        g.w64(root_node, (TREE + 0x1000) | 1);
        assert!(matches!(g.find(0x40_0000), Err(VmaError::BadParent { .. })));
        g.w64(root_node, TREE | 1);
        // A cycle: the root's first slot points to the root.
        g.w64(root_node + 80, root.enode);
        assert_eq!(
            g.find(0x40_0000),
            Err(VmaError::BadParent { node: GuestVirtAddr(root_node), parent: TREE | 1, expected: root_node | 6 })
        );
    }

    #[test]
    fn a_tree_deeper_than_the_bound_is_an_error() {
        // A chain of internal nodes, each the only child of the one above, parents correct.
        let mut g = Guest::new();
        let v = g.vma(0x40_0000, 0x40_1000, RW);
        let mut below = g.node(MAPLE_LEAF_64, &[(0x3f_ffff, 0), (0x40_0fff, v), (u64::MAX, 0)]);
        for _ in 0..MAX_HEIGHT {
            let up = g.node(MAPLE_ARANGE_64, &[(u64::MAX, below)]);
            g.set_parent(below, up, 0);
            below = up;
        }
        g.set_root(below);
        assert_eq!(g.find(0x40_0000), Err(VmaError::TooDeep));
        // One level fewer is within the bound.
        let top = g.r64(TREE + 8) & !0xff;
        let next = g.r64(top + 80);
        g.set_root(next);
        assert_eq!(g.span(0x40_0000), Some((0x40_0000, 0x40_1000, RW)));
    }

    #[test]
    fn child_pointers_that_are_not_nodes() {
        let mut g = Guest::new();
        let (root, _) = g.build(&process_vmas(), 4, 10, MAPLE_ARANGE_64);
        let slot0 = (root.enode & !0xff) + 80;
        let good = g.r64(slot0);
        let node = good & !0xff;
        for bad in
            [0, good | 1, good | 2, node | 4, node | (4 << 3), 0x7fff_0000_0000 | (1 << 3), 0x8000_0000_0000_0100]
        {
            g.w64(slot0, bad);
            assert_eq!(g.find(0x40_0000), Err(VmaError::NotANode { at: GuestVirtAddr(slot0), value: bad }), "{bad:#x}");
        }
        // A well-formed pointer to a node nobody wrote: its parent is not ours.
        g.w64(slot0, (NODES + 15 * 256) | (1 << 3));
        assert!(matches!(g.find(0x40_0000), Err(VmaError::BadParent { .. })));
        // A pointer into unmapped memory.
        let wild = 0xffff_c900_0000_0000 | (1 << 3);
        g.w64(slot0, wild);
        assert!(matches!(
            g.find(0x40_0000),
            Err(VmaError::Memory { addr: GuestVirtAddr(0xffff_c900_0000_0000), error: MemError::Walk { .. } })
        ));
    }

    #[test]
    fn torn_pivots_and_metadata_are_errors() {
        let mut g = Guest::new();
        let (root, _) = g.build(&process_vmas(), 4, 10, MAPLE_ARANGE_64);
        let root_node = root.enode & !0xff;
        let leaf0 = g.r64(root_node + 80) & !0xff;
        // Leaf 0 holds: gap ..0x3fffff, text ..0x400fff, gap ..0x5fffff, data ..0x601fff.
        let (p0, p1) = (g.r64(leaf0 + 8), g.r64(leaf0 + 16));
        g.w64(leaf0 + 8, p1);
        g.w64(leaf0 + 16, p0);
        assert_eq!(g.find(0x60_0000), Err(VmaError::Pivots { node: GuestVirtAddr(leaf0), index: 1, value: p0 }));
        assert!(g.find(0x20_0000).is_err(), "a torn node is refused wherever addr falls in it");
        g.w64(leaf0 + 8, p0);
        g.w64(leaf0 + 16, p1);
        // A pivot at or beyond the node's upper bound (its parent's pivot).
        let bound = g.r64(root_node + 8);
        g.w64(leaf0 + 16, bound);
        assert_eq!(g.find(0x40_0000), Err(VmaError::Pivots { node: GuestVirtAddr(leaf0), index: 1, value: bound }));
        g.w64(leaf0 + 16, p1);
        // Metadata beyond the slots (arange: 10 slots).
        assert!(g.mem.write(root_node + 240, &[10]));
        assert_eq!(g.find(0x40_0000), Err(VmaError::BadMetadata { node: GuestVirtAddr(root_node), end: 10 }));
        assert!(g.mem.write(root_node + 240, &[1]));
        assert!(g.find(0x40_0000).unwrap().is_some());
        // The VMA disagrees with its slot: a vm_start moved by another vCPU.
        let text = VMAS;
        g.w64(text, 0x40_0000 - 0x1000);
        assert_eq!(
            g.find(0x40_0000),
            Err(VmaError::VmaMismatch {
                vma: GuestVirtAddr(text),
                start: 0x3f_f000,
                end: 0x40_1000,
                first: 0x40_0000,
                last: 0x40_0fff
            })
        );
    }

    #[test]
    fn leaf_entries_that_are_not_vmas() {
        let mut g = Guest::new();
        let (root, _) = g.build(&process_vmas(), 4, 10, MAPLE_ARANGE_64);
        let leaf0 = g.r64((root.enode & !0xff) + 80) & !0xff;
        let slot1 = leaf0 + 128 + 8;
        let at = GuestVirtAddr(slot1);
        g.w64(slot1, XA_ZERO_ENTRY);
        assert_eq!(g.find(0x40_0000), Err(VmaError::ReservedEntry { at, value: XA_ZERO_ENTRY }));
        for bad in [0x7fff_0000_1000, VMAS + 4, 0x8000_0000_0000_0000] {
            g.w64(slot1, bad);
            assert_eq!(g.find(0x40_0000), Err(VmaError::BadPointer { at, value: bad }), "{bad:#x}");
        }
        g.w64(slot1, 0xffff_c900_0000_0000);
        assert!(matches!(g.find(0x40_0000), Err(VmaError::Memory { addr: GuestVirtAddr(0xffff_c900_0000_0000), .. })));
    }

    #[test]
    fn unavailable_without_the_layout_and_without_an_mm() {
        let mut g = Guest::new();
        g.build(&process_vmas(), 4, 10, MAPLE_ARANGE_64);
        let v1 = Profile::new(sample()).unwrap();
        assert_eq!(find_vma(&mut g.mem, &v1, GuestVirtAddr(MM), 0x40_0000), Err(VmaError::Unavailable));
        assert_eq!(find_vma(&mut g.mem, &profile(), GuestVirtAddr(0), 0x40_0000), Err(VmaError::NoMm));
        assert!(matches!(
            find_vma(&mut g.mem, &profile(), GuestVirtAddr(0xffff_c900_0000_0000), 0x40_0000),
            Err(VmaError::Memory { addr: GuestVirtAddr(0xffff_c900_0000_0048), .. })
        ));
        assert!(matches!(
            find_vma(&mut g.mem, &profile(), GuestVirtAddr(u64::MAX - 16), 0),
            Err(VmaError::Memory { error: MemError::Overflow, .. })
        ));
        // Through a process the finder returned.
        let p = ProcessInfo::<Machine> {
            task: GuestVirtAddr(0),
            pid: 1,
            tgid: 1,
            comm: [0; 16],
            mm: GuestVirtAddr(MM),
            pgd_va: GuestVirtAddr(0),
            pgd: Mfn::new(0),
            parent: None,
        };
        assert_eq!(find_vma_of(&mut g.mem, &profile(), &p, 0x60_1000).unwrap().map(|v| v.start), Some(0x60_0000));
    }

    #[test]
    fn next_vma_steps_over_split_gaps() {
        let mut g = Guest::new();
        // A gap split over three leaves (one slot each), then a VMA.
        let v = g.vma(0x40_0000, 0x40_1000, RW);
        let l0 = g.node(MAPLE_LEAF_64, &[(0xf_ffff, 0)]);
        let l1 = g.node(MAPLE_LEAF_64, &[(0x1f_ffff, 0)]);
        let l2 = g.node(MAPLE_LEAF_64, &[(0x3f_ffff, 0), (0x40_0fff, v), (u64::MAX, 0)]);
        let r = g.node(MAPLE_ARANGE_64, &[(0xf_ffff, l0), (0x1f_ffff, l1), (u64::MAX, l2)]);
        for (i, l) in [l0, l1, l2].into_iter().enumerate() {
            g.set_parent(l, r, i as u64);
        }
        g.set_root(r);
        let p = profile();
        assert_eq!(find_vma(&mut g.mem, &p, GuestVirtAddr(MM), 0x1000), Ok(None));
        assert_eq!(find_vma_from(&mut g.mem, &p, GuestVirtAddr(MM), 0x1000).unwrap().map(|v| v.start), Some(0x40_0000));
        assert_eq!(
            find_vma_from(&mut g.mem, &p, GuestVirtAddr(MM), 0x40_0fff).unwrap().map(|v| v.start),
            Some(0x40_0000)
        );
        assert_eq!(find_vma_from(&mut g.mem, &p, GuestVirtAddr(MM), 0x40_1000), Ok(None));
    }

    /// Reference: the VMA containing `addr` and the first ending above it, by linear search.
    fn reference(vmas: &[(u64, u64, u64)], addr: u64) -> (Option<u64>, Option<u64>) {
        let covering = vmas.iter().find(|v| v.0 <= addr && addr < v.1).map(|v| v.0);
        let from = vmas.iter().find(|v| addr < v.1).map(|v| v.0);
        (covering, from)
    }

    /// Sorted disjoint page-aligned VMAs from (gap pages, length pages) pairs.
    fn layout(parts: &[(u64, u64)]) -> Vec<(u64, u64, u64)> {
        let mut at = 0x1000u64;
        parts
            .iter()
            .map(|&(gap, len)| {
                let s = at + gap * 0x1000;
                at = s + len * 0x1000;
                (s, at, RW)
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Valid trees of any shape agree with a linear search, at VMA edges and anywhere.
        #[test]
        fn valid_trees_agree_with_a_linear_search(
            parts in proptest::collection::vec((0u64..4, 1u64..4), 1..40),
            leaf_fill in 1usize..=16,
            fill in 2usize..=10,
            range64 in any::<bool>(),
            probes in proptest::collection::vec(0u64..0x40_0000, 16),
        ) {
            let vmas = layout(&parts);
            let mut g = Guest::new();
            g.build(&vmas, leaf_fill, fill, if range64 { MAPLE_RANGE_64 } else { MAPLE_ARANGE_64 });
            let p = profile();
            let edges = vmas.iter().flat_map(|v| [v.0 - 1, v.0, v.1 - 1, v.1]);
            for addr in edges.chain(probes).chain([0, u64::MAX]) {
                let (covering, from) = reference(&vmas, addr);
                let got = find_vma(&mut g.mem, &p, GuestVirtAddr(MM), addr);
                prop_assert_eq!(got.map(|v| v.map(|v| v.start)), Ok(covering), "addr {:#x}", addr);
                let got = find_vma_from(&mut g.mem, &p, GuestVirtAddr(MM), addr);
                prop_assert_eq!(got.map(|v| v.map(|v| v.start)), Ok(from), "from {:#x}", addr);
            }
        }

        /// Hostile bytes anywhere in the nodes or the VMAs: the walk ends, never panics, and a
        /// VMA it returns covers the address. (A consistent forgery — a VMA slot overwritten
        /// with NULL — cannot be told from the truth: that is the guest's own tree saying so.)
        #[test]
        fn corrupted_trees_end_without_panics(
            parts in proptest::collection::vec((0u64..4, 1u64..4), 1..24),
            leaf_fill in 2usize..=16,
            writes in proptest::collection::vec((0u64..0x2000, any::<u64>(), 0u8..4), 1..6),
            probes in proptest::collection::vec(0u64..0x20_0000, 8),
        ) {
            let vmas = layout(&parts);
            let mut g = Guest::new();
            g.build(&vmas, leaf_fill, 4, MAPLE_ARANGE_64);
            for (off, v, kind) in writes {
                let base = if kind == 0 { VMAS } else { NODES };
                // Some writes keep the low byte, so that node pointers stay plausible.
                let old = g.mem.read_u64(GuestVirtAddr(base + (off & !7))).unwrap_or(0);
                let v = if kind == 3 { (v & !0xff) | (old & 0xff) } else { v };
                g.w64(base + (off & !7), v);
            }
            let p = profile();
            for addr in probes {
                if let Ok(Some(v)) = find_vma(&mut g.mem, &p, GuestVirtAddr(MM), addr) {
                    prop_assert!(v.contains(addr));
                }
                let _ = find_vma_from(&mut g.mem, &p, GuestVirtAddr(MM), addr);
            }
        }
    }
}
