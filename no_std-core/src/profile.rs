//! Guest-kernel profile (Introspection Library): the symbol address and structure offsets the
//! process finder ([`crate::process`]) needs to read the guest kernel's task list, and — from
//! version 2 on — the layout the VMA lookup ([`crate::vma`]) needs to read a process's VMA tree
//! (`mm_struct.mm_mt`, a maple tree of `vm_area_struct` pointers, Linux 6.1 and later).
//!
//! Offsets differ between kernel builds, so the static tool extracts them from the guest
//! kernel's BTF/DWARF and System.map and writes them in the small binary encoding below; the
//! kernel module only decodes and validates it. A [`Profile`] can only be obtained validated:
//! every field lies inside its structure, is naturally aligned, and no two `task_struct` fields
//! overlap — a profile for the wrong kernel usually fails one of these. The VMA layout
//! ([`VmaLayout`]) is held to the same rules, plus the maple node's shape (its size is the
//! 256 bytes its pointer encoding assumes; every array has as many pivots as slots less one).
//!
//! Version 1 (64 bytes) carries no VMA layout and is still read: its [`Profile`] has
//! [`Profile::vma_layout`] `None`, and the VMA lookup answers "unavailable". The encoder writes
//! version 1 for a profile without a VMA layout and version 2 for one with it, so a profile
//! always re-encodes to the bytes it was decoded from.
//!
//! # Encoding (little-endian; version 1: bytes 0..64, version 2: bytes 0..112)
//!
//! | off | size | field | meaning |
//! |--:|--:|---|---|
//! | 0 | 4 | magic | `"SGKP"` |
//! | 4 | 2 | version | 1 or 2 |
//! | 6 | 2 | flags | bit 0 = `task_struct.real_parent` present; other bits must be 0 |
//! | 8 | 4 | length | total length: 64 (version 1) or 112 (version 2) |
//! | 12 | 4 | checksum | FNV-1a 32 of all `length` bytes with this field read as 0 |
//! | 16 | 8 | init_task | `init_task` address (kernel virtual) |
//! | 24 | 4 | task_struct_size | `sizeof(struct task_struct)` |
//! | 28 | 4 | task_tasks | `offsetof(task_struct, tasks)` (`struct list_head`) |
//! | 32 | 4 | task_comm | `offsetof(task_struct, comm)` |
//! | 36 | 4 | task_pid | `offsetof(task_struct, pid)` (`pid_t`, 4 bytes) |
//! | 40 | 4 | task_tgid | `offsetof(task_struct, tgid)` (`pid_t`) |
//! | 44 | 4 | task_mm | `offsetof(task_struct, mm)` (pointer) |
//! | 48 | 4 | task_real_parent | `offsetof(task_struct, real_parent)` (pointer), 0 if flag bit 0 is clear |
//! | 52 | 4 | mm_struct_size | `sizeof(struct mm_struct)` |
//! | 56 | 4 | mm_pgd | `offsetof(mm_struct, pgd)` (pointer) |
//! | 60 | 2 | comm_len | `TASK_COMM_LEN` (2..=16) |
//! | 62 | 2 | reserved | 0 |
//! | 64 | 4 | mm_mt | version 2: `offsetof(mm_struct, mm_mt)` (`struct maple_tree`) |
//! | 68 | 4 | vma_size | `sizeof(struct vm_area_struct)` |
//! | 72 | 4 | vma_start | `offsetof(vm_area_struct, vm_start)` (`unsigned long`) |
//! | 76 | 4 | vma_end | `offsetof(vm_area_struct, vm_end)` (`unsigned long`) |
//! | 80 | 4 | vma_flags | `offsetof(vm_area_struct, vm_flags)` (`vm_flags_t`, 8 bytes) |
//! | 84 | 2 | tree_size | `sizeof(struct maple_tree)` |
//! | 86 | 2 | tree_root | `offsetof(maple_tree, ma_root)` (pointer) |
//! | 88 | 2 | node_size | `sizeof(struct maple_node)` (256) |
//! | 90 | 2 | node_parent | `offsetof(maple_node, parent)` (pointer) |
//! | 92 | 2 | r64_pivot | offset in `maple_node` of `mr64.pivot[]` (`unsigned long`) |
//! | 94 | 2 | r64_slot | offset in `maple_node` of `mr64.slot[]` (pointers) |
//! | 96 | 2 | r64_meta | offset in `maple_node` of `mr64.meta.end` (`unsigned char`) |
//! | 98 | 1 | r64_slots | length of `mr64.slot[]` (`MAPLE_RANGE64_SLOTS`, 16 on 64-bit) |
//! | 99 | 1 | r64_pivots | length of `mr64.pivot[]` (slots − 1) |
//! | 100 | 2 | a64_pivot | offset in `maple_node` of `ma64.pivot[]` |
//! | 102 | 2 | a64_slot | offset in `maple_node` of `ma64.slot[]` |
//! | 104 | 2 | a64_meta | offset in `maple_node` of `ma64.meta.end` |
//! | 106 | 1 | a64_slots | length of `ma64.slot[]` (`MAPLE_ARANGE64_SLOTS`, 10 on 64-bit) |
//! | 107 | 1 | a64_pivots | length of `ma64.pivot[]` (slots − 1) |
//! | 108 | 2 | mm_saved_auxv | `offsetof(mm_struct, saved_auxv)` (`unsigned long[]`), 0 with `auxv_words` 0: absent |
//! | 110 | 2 | auxv_words | length of `saved_auxv[]` (`AT_VECTOR_SIZE`: even, at most 128), 0 if absent |
//!
//! Bytes 0..64 are declared once as `RawProfile` and bytes 64..112 as `RawVmaLayout`; a unit
//! test holds this table to the two.
//!
//! What the encoding does not carry is what the kernel states as `#define`s or fixed enum
//! values rather than types (the node-pointer encoding: `MAPLE_NODE_MASK`, the type bits,
//! `enum maple_type`'s values, the parent-pointer encoding): [`crate::vma`] names them, with
//! the kernel source they come from.

use core::mem::offset_of;

use crate::wire::{self, le_record, Le};

/// Magic bytes at the start of an encoded profile.
pub const MAGIC: [u8; 4] = *b"SGKP";
/// The newest encoding version this code reads and writes (with a VMA layout).
pub const VERSION: u16 = 2;
/// The version without a VMA layout, still read and written (for profiles without one).
pub const VERSION_1: u16 = 1;
/// Length of an encoded version-1 profile.
pub const ENCODED_LEN: usize = RawProfile::SIZE;
/// Length of an encoded version-2 profile.
pub const ENCODED_LEN_V2: usize = RawProfile::SIZE + RawVmaLayout::SIZE;
/// Longest encoding of any version: a buffer this long holds every profile.
pub const MAX_ENCODED_LEN: usize = ENCODED_LEN_V2;
/// Largest structure size accepted (Linux's `task_struct` is ≈ 10 KiB).
pub const MAX_STRUCT_SIZE: u32 = 64 * 1024;
/// Largest `TASK_COMM_LEN` accepted (Linux's is 16).
pub const MAX_COMM_LEN: u16 = 16;
/// `sizeof(struct maple_node)`: the only size accepted, because a node pointer's low 8 bits
/// (`MAPLE_NODE_MASK`) carry the node type, so nodes are 256-byte objects on 256-byte
/// boundaries (on 32- and 64-bit kernels alike: `include/linux/maple_tree.h`).
pub const MAPLE_NODE_SIZE: u16 = 256;
/// Most slots accepted in a maple node (`MAPLE_NODE_SLOTS` is 31 on 64-bit, 63 on 32-bit; the
/// range nodes the VMA tree uses have 16 and 10 on 64-bit).
pub const MAX_NODE_SLOTS: u8 = 32;

const FLAG_REAL_PARENT: u16 = 1 << 0;
const CHECKSUM_AT: usize = offset_of!(RawProfile, checksum);

le_record! {
    /// An encoded profile as stored, bytes 0..64 of every version (see the module docs for what
    /// each field means).
    struct RawProfile, size 64 {
        magic: [u8; 4] = 0,
        version: u16 = 4,
        flags: u16 = 6,
        length: u32 = 8,
        checksum: u32 = 12,
        init_task: u64 = 16,
        task_struct_size: u32 = 24,
        task_tasks: u32 = 28,
        task_comm: u32 = 32,
        task_pid: u32 = 36,
        task_tgid: u32 = 40,
        task_mm: u32 = 44,
        task_real_parent: u32 = 48,
        mm_struct_size: u32 = 52,
        mm_pgd: u32 = 56,
        comm_len: u16 = 60,
        reserved: u16 = 62,
    }
}

le_record! {
    /// Bytes 64..112 of a version-2 profile: the VMA layout (offsets here are relative to
    /// byte 64; the module docs give them absolute).
    struct RawVmaLayout, size 48 {
        mm_mt: u32 = 0,
        vma_size: u32 = 4,
        vma_start: u32 = 8,
        vma_end: u32 = 12,
        vma_flags: u32 = 16,
        tree_size: u16 = 20,
        tree_root: u16 = 22,
        node_size: u16 = 24,
        node_parent: u16 = 26,
        r64_pivot: u16 = 28,
        r64_slot: u16 = 30,
        r64_meta: u16 = 32,
        r64_slots: u8 = 34,
        r64_pivots: u8 = 35,
        a64_pivot: u16 = 36,
        a64_slot: u16 = 38,
        a64_meta: u16 = 40,
        a64_slots: u8 = 42,
        a64_pivots: u8 = 43,
        mm_saved_auxv: u16 = 44,
        auxv_words: u16 = 46,
    }
}

/// A structure field named by the profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// `task_struct.tasks` (`struct list_head`, 16 bytes).
    TaskTasks,
    /// `task_struct.comm` (`char[TASK_COMM_LEN]`).
    TaskComm,
    /// `task_struct.pid` (`pid_t`).
    TaskPid,
    /// `task_struct.tgid` (`pid_t`).
    TaskTgid,
    /// `task_struct.mm` (`struct mm_struct *`).
    TaskMm,
    /// `task_struct.real_parent` (`struct task_struct *`).
    TaskRealParent,
    /// `mm_struct.pgd` (`pgd_t *`).
    MmPgd,
}

impl Field {
    /// Size in bytes of the field, given `TASK_COMM_LEN`.
    pub const fn size(self, comm_len: u16) -> u32 {
        match self {
            Self::TaskTasks => 16,
            Self::TaskComm => comm_len as u32,
            Self::TaskPid | Self::TaskTgid => 4,
            Self::TaskMm | Self::TaskRealParent | Self::MmPgd => 8,
        }
    }
    /// Required alignment of the field's offset.
    pub const fn align(self) -> u32 {
        match self {
            Self::TaskComm => 1,
            Self::TaskPid | Self::TaskTgid => 4,
            Self::TaskTasks | Self::TaskMm | Self::TaskRealParent | Self::MmPgd => 8,
        }
    }
}

/// A field of the VMA layout (version 2), as named in validation errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VmaField {
    /// `mm_struct.mm_mt` (the whole `struct maple_tree`).
    MmMt,
    /// `mm_struct.pgd`, which `mm_mt` must not overlap.
    MmPgd,
    /// `maple_tree.ma_root`.
    TreeRoot,
    /// `vm_area_struct.vm_start`.
    VmStart,
    /// `vm_area_struct.vm_end`.
    VmEnd,
    /// `vm_area_struct.vm_flags`.
    VmFlags,
    /// `maple_node.parent`.
    NodeParent,
    /// `mm_struct.saved_auxv`.
    SavedAuxv,
    /// A node kind's `pivot[]` array.
    Pivots(NodeKind),
    /// A node kind's `slot[]` array.
    Slots(NodeKind),
    /// A node kind's `meta.end` byte.
    MetaEnd(NodeKind),
}

/// The two maple node layouts the VMA tree uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// `struct maple_range_64` (`maple_node.mr64`): leaves (`maple_leaf_64`) and the internal
    /// nodes of trees that do not track gaps (`maple_range_64`).
    Range64,
    /// `struct maple_arange_64` (`maple_node.ma64`): internal nodes of gap-tracking trees, such
    /// as `mm_mt` (`MT_FLAGS_ALLOC_RANGE`).
    Arange64,
}

/// Which structure a size refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Struct {
    /// `struct task_struct`.
    TaskStruct,
    /// `struct mm_struct`.
    MmStruct,
    /// `struct vm_area_struct`.
    VmAreaStruct,
    /// `struct maple_tree`.
    MapleTree,
    /// `struct maple_node`.
    MapleNode,
}

/// Why a profile was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileError {
    /// The input is shorter than a profile.
    TooShort {
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// The magic is not `"SGKP"`.
    BadMagic,
    /// An encoding version this code does not read.
    UnsupportedVersion(u16),
    /// Flag bits this version does not define.
    UnknownFlags(u16),
    /// The declared length differs from the version's length or from the input's length.
    Length {
        /// Length field of the encoding.
        declared: u32,
        /// Length of the input.
        actual: usize,
    },
    /// The checksum does not match the content.
    Checksum {
        /// Checksum stored in the encoding.
        stored: u32,
        /// Checksum of the content.
        computed: u32,
    },
    /// A reserved field is not zero.
    Reserved,
    /// `real_parent`'s offset is non-zero but its flag is clear.
    AbsentFieldSet,
    /// `init_task` is not a canonical kernel-half address.
    InitTask(u64),
    /// A structure size is 0 or above [`MAX_STRUCT_SIZE`] (for `maple_node`: not
    /// [`MAPLE_NODE_SIZE`]).
    StructSize {
        /// Which structure.
        which: Struct,
        /// The size given.
        size: u32,
    },
    /// `TASK_COMM_LEN` is outside 2..=[`MAX_COMM_LEN`].
    CommLen(u16),
    /// A field does not fit inside its structure.
    FieldOutOfStruct {
        /// The field.
        field: Field,
        /// Its offset.
        offset: u32,
        /// Its size.
        size: u32,
        /// The structure's size.
        struct_size: u32,
    },
    /// A field's offset is not a multiple of its natural alignment.
    Misaligned {
        /// The field.
        field: Field,
        /// Its offset.
        offset: u32,
    },
    /// Two `task_struct` fields overlap.
    Overlap {
        /// One field.
        a: Field,
        /// The other.
        b: Field,
    },
    /// A VMA-layout field does not fit inside its structure.
    VmaFieldOutOfStruct {
        /// The field.
        field: VmaField,
        /// Its offset.
        offset: u32,
        /// Its size.
        size: u32,
        /// The structure's size.
        struct_size: u32,
    },
    /// A VMA-layout field's offset is not a multiple of its natural alignment.
    VmaMisaligned {
        /// The field.
        field: VmaField,
        /// Its offset.
        offset: u32,
    },
    /// Two VMA-layout fields of one structure overlap.
    VmaOverlap {
        /// One field.
        a: VmaField,
        /// The other.
        b: VmaField,
    },
    /// A node kind's array lengths are implausible: slots outside 2..=[`MAX_NODE_SLOTS`], or
    /// pivots not slots − 1 (every maple node kind has one pivot fewer than slots).
    NodeArrays {
        /// The node kind.
        kind: NodeKind,
        /// Slots given.
        slots: u8,
        /// Pivots given.
        pivots: u8,
    },
    /// The output buffer is too small for the encoding.
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
    },
}

/// The raw values of a profile, as the static tool fills them in. Turned into a [`Profile`]
/// by [`Profile::new`], which validates them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProfileFields {
    /// Address of `init_task` (head of the task list), from System.map.
    pub init_task: u64,
    /// `sizeof(struct task_struct)`.
    pub task_struct_size: u32,
    /// `offsetof(task_struct, tasks)`.
    pub task_tasks: u32,
    /// `offsetof(task_struct, comm)`.
    pub task_comm: u32,
    /// `offsetof(task_struct, pid)`.
    pub task_pid: u32,
    /// `offsetof(task_struct, tgid)`.
    pub task_tgid: u32,
    /// `offsetof(task_struct, mm)`.
    pub task_mm: u32,
    /// `offsetof(task_struct, real_parent)`, if known.
    pub task_real_parent: Option<u32>,
    /// `sizeof(struct mm_struct)`.
    pub mm_struct_size: u32,
    /// `offsetof(mm_struct, pgd)`.
    pub mm_pgd: u32,
    /// `TASK_COMM_LEN` (the size of `comm`, NUL included).
    pub comm_len: u16,
}

/// Where one maple node kind keeps its arrays, as offsets in `struct maple_node` (the node
/// kinds are members of its union, `mr64` and `ma64`, so these include that member's offset).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLayout {
    /// Offset of `pivot[0]` (`unsigned long`).
    pub pivot: u16,
    /// Offset of `slot[0]` (pointers).
    pub slot: u16,
    /// Offset of `meta.end` (`unsigned char`: index of the last slot in use).
    pub meta_end: u16,
    /// Length of `slot[]`.
    pub slots: u8,
    /// Length of `pivot[]` (slots − 1).
    pub pivots: u8,
}

/// The layout [`crate::vma`] reads a process's VMA tree with (profile version 2). Sizes and
/// offsets in bytes; the pointer-sized fields are 8 bytes (x86-64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmaLayout {
    /// `offsetof(mm_struct, mm_mt)`.
    pub mm_mt: u32,
    /// `sizeof(struct vm_area_struct)`.
    pub vma_size: u32,
    /// `offsetof(vm_area_struct, vm_start)`.
    pub vma_start: u32,
    /// `offsetof(vm_area_struct, vm_end)`.
    pub vma_end: u32,
    /// `offsetof(vm_area_struct, vm_flags)`.
    pub vma_flags: u32,
    /// `sizeof(struct maple_tree)`.
    pub tree_size: u16,
    /// `offsetof(maple_tree, ma_root)`.
    pub tree_root: u16,
    /// `sizeof(struct maple_node)` ([`MAPLE_NODE_SIZE`]).
    pub node_size: u16,
    /// `offsetof(maple_node, parent)`.
    pub node_parent: u16,
    /// `struct maple_range_64`'s arrays.
    pub range64: NodeLayout,
    /// `struct maple_arange_64`'s arrays.
    pub arange64: NodeLayout,
    /// `offsetof(mm_struct, saved_auxv)`: the kernel's copy of the auxiliary vector the
    /// process was started with (where a position-independent P's load base is read); 0 with
    /// `auxv_words` 0 when absent.
    pub saved_auxv: u16,
    /// Length of `saved_auxv[]` in 8-byte words (`AT_VECTOR_SIZE`), 0 if absent.
    pub auxv_words: u16,
}

/// Longest `saved_auxv[]` accepted, in words (`AT_VECTOR_SIZE` is 2 × (20 + the
/// architecture's entries + 1): 50 on x86-64 in Linux 6.12). Bounds the read of the vector.
pub const MAX_AUXV_WORDS: u16 = 128;

impl VmaLayout {
    /// The arrays of node kind `kind`.
    pub fn node(&self, kind: NodeKind) -> &NodeLayout {
        match kind {
            NodeKind::Range64 => &self.range64,
            NodeKind::Arange64 => &self.arange64,
        }
    }
}

/// A validated guest-kernel profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Profile {
    f: ProfileFields,
    vma: Option<VmaLayout>,
}

/// FNV-1a 32 over `bytes`, with the checksum field read as zero.
fn checksum(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for (i, &b) in bytes.iter().enumerate() {
        let b = if (CHECKSUM_AT..CHECKSUM_AT + 4).contains(&i) { 0 } else { b };
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    h
}

/// Whether `[off, off + size)` fits in `struct_size` bytes and `off` is a multiple of `align`;
/// `Err` is (out of the structure, misaligned).
fn check_span(off: u32, size: u32, align: u32, struct_size: u32) -> Result<(), bool> {
    match off.checked_add(size) {
        Some(end) if end <= struct_size => {}
        _ => return Err(true),
    }
    if align != 0 && off % align != 0 {
        return Err(false);
    }
    Ok(())
}

/// Whether two byte ranges (already known to lie inside one structure) overlap.
const fn overlaps(a: (u32, u32), b: (u32, u32)) -> bool {
    a.0 < b.0 + b.1 && b.0 < a.0 + a.1
}

/// Checks a VMA-layout field at `offset` of `size` bytes inside `struct_size`.
fn check_vma_field(field: VmaField, offset: u32, size: u32, align: u32, struct_size: u32) -> Result<(), ProfileError> {
    check_span(offset, size, align, struct_size).map_err(|outside| {
        if outside {
            ProfileError::VmaFieldOutOfStruct { field, offset, size, struct_size }
        } else {
            ProfileError::VmaMisaligned { field, offset }
        }
    })
}

/// Pairwise overlap among a few (field, offset, size), all inside one structure.
fn check_disjoint(fields: &[(VmaField, u32, u32)]) -> Result<(), ProfileError> {
    for (i, &(a, oa, sa)) in fields.iter().enumerate() {
        for &(b, ob, sb) in fields.iter().skip(i + 1) {
            if overlaps((oa, sa), (ob, sb)) {
                return Err(ProfileError::VmaOverlap { a, b });
            }
        }
    }
    Ok(())
}

impl VmaLayout {
    /// Validates the layout against `mm_struct_size` (which holds the tree).
    fn check(&self, mm_struct_size: u32) -> Result<(), ProfileError> {
        let tree = self.tree_size as u32;
        if tree == 0 {
            return Err(ProfileError::StructSize { which: Struct::MapleTree, size: tree });
        }
        check_vma_field(VmaField::MmMt, self.mm_mt, tree, 8, mm_struct_size)?;
        check_vma_field(VmaField::TreeRoot, self.tree_root as u32, 8, 8, tree)?;
        if self.auxv_words == 0 {
            if self.saved_auxv != 0 {
                return Err(ProfileError::Reserved);
            }
        } else {
            let words = self.auxv_words as u32;
            if self.auxv_words % 2 != 0 || self.auxv_words > MAX_AUXV_WORDS {
                return Err(ProfileError::VmaFieldOutOfStruct {
                    field: VmaField::SavedAuxv,
                    offset: self.saved_auxv as u32,
                    size: 8 * words,
                    struct_size: mm_struct_size,
                });
            }
            check_vma_field(VmaField::SavedAuxv, self.saved_auxv as u32, 8 * words, 8, mm_struct_size)?;
            check_disjoint(&[(VmaField::MmMt, self.mm_mt, tree), (VmaField::SavedAuxv, self.saved_auxv as u32, 8 * words)])?;
        }
        if self.vma_size == 0 || self.vma_size > MAX_STRUCT_SIZE {
            return Err(ProfileError::StructSize { which: Struct::VmAreaStruct, size: self.vma_size });
        }
        let vma_fields = [
            (VmaField::VmStart, self.vma_start, 8),
            (VmaField::VmEnd, self.vma_end, 8),
            (VmaField::VmFlags, self.vma_flags, 8),
        ];
        for &(field, off, size) in &vma_fields {
            check_vma_field(field, off, size, 8, self.vma_size)?;
        }
        check_disjoint(&vma_fields)?;
        let node = self.node_size as u32;
        if self.node_size != MAPLE_NODE_SIZE {
            return Err(ProfileError::StructSize { which: Struct::MapleNode, size: node });
        }
        let parent = (VmaField::NodeParent, self.node_parent as u32, 8);
        check_vma_field(parent.0, parent.1, parent.2, 8, node)?;
        for kind in [NodeKind::Range64, NodeKind::Arange64] {
            let n = self.node(kind);
            if n.slots < 2 || n.slots > MAX_NODE_SLOTS || n.pivots as u32 + 1 != n.slots as u32 {
                return Err(ProfileError::NodeArrays { kind, slots: n.slots, pivots: n.pivots });
            }
            let pivots = (VmaField::Pivots(kind), n.pivot as u32, 8 * n.pivots as u32);
            let slots = (VmaField::Slots(kind), n.slot as u32, 8 * n.slots as u32);
            let meta = (VmaField::MetaEnd(kind), n.meta_end as u32, 1);
            check_vma_field(pivots.0, pivots.1, pivots.2, 8, node)?;
            check_vma_field(slots.0, slots.1, slots.2, 8, node)?;
            check_vma_field(meta.0, meta.1, meta.2, 1, node)?;
            // The metadata may share the last slot (`maple_range_64`'s union: a full node has
            // no metadata), but never the parent or the pivots.
            check_disjoint(&[parent, pivots, slots])?;
            check_disjoint(&[parent, pivots, meta])?;
        }
        Ok(())
    }

    fn to_raw(self) -> RawVmaLayout {
        RawVmaLayout {
            mm_mt: self.mm_mt,
            vma_size: self.vma_size,
            vma_start: self.vma_start,
            vma_end: self.vma_end,
            vma_flags: self.vma_flags,
            tree_size: self.tree_size,
            tree_root: self.tree_root,
            node_size: self.node_size,
            node_parent: self.node_parent,
            r64_pivot: self.range64.pivot,
            r64_slot: self.range64.slot,
            r64_meta: self.range64.meta_end,
            r64_slots: self.range64.slots,
            r64_pivots: self.range64.pivots,
            a64_pivot: self.arange64.pivot,
            a64_slot: self.arange64.slot,
            a64_meta: self.arange64.meta_end,
            a64_slots: self.arange64.slots,
            a64_pivots: self.arange64.pivots,
            mm_saved_auxv: self.saved_auxv,
            auxv_words: self.auxv_words,
        }
    }

    fn from_raw(r: RawVmaLayout) -> Self {
        Self {
            mm_mt: r.mm_mt,
            vma_size: r.vma_size,
            vma_start: r.vma_start,
            vma_end: r.vma_end,
            vma_flags: r.vma_flags,
            tree_size: r.tree_size,
            tree_root: r.tree_root,
            node_size: r.node_size,
            node_parent: r.node_parent,
            range64: NodeLayout {
                pivot: r.r64_pivot,
                slot: r.r64_slot,
                meta_end: r.r64_meta,
                slots: r.r64_slots,
                pivots: r.r64_pivots,
            },
            arange64: NodeLayout {
                pivot: r.a64_pivot,
                slot: r.a64_slot,
                meta_end: r.a64_meta,
                slots: r.a64_slots,
                pivots: r.a64_pivots,
            },
            saved_auxv: r.mm_saved_auxv,
            auxv_words: r.auxv_words,
        }
    }
}

impl Profile {
    /// Validates `f`: a profile without a VMA layout (what version 1 carries).
    pub fn new(f: ProfileFields) -> Result<Self, ProfileError> {
        // Kernel half: bit 63 set and canonical under 5-level paging (which includes every
        // 4-level kernel address).
        let ia = f.init_task;
        if ia >> 63 == 0 || ((ia << 7) as i64 >> 7) as u64 != ia {
            return Err(ProfileError::InitTask(ia));
        }
        for (which, size) in [(Struct::TaskStruct, f.task_struct_size), (Struct::MmStruct, f.mm_struct_size)] {
            if size == 0 || size > MAX_STRUCT_SIZE {
                return Err(ProfileError::StructSize { which, size });
            }
        }
        if f.comm_len < 2 || f.comm_len > MAX_COMM_LEN {
            return Err(ProfileError::CommLen(f.comm_len));
        }
        let p = Self { f, vma: None };
        let mut task_fields = [(Field::TaskTasks, 0u32); 6];
        let mut n = 0;
        for field in
            [Field::TaskTasks, Field::TaskComm, Field::TaskPid, Field::TaskTgid, Field::TaskMm, Field::TaskRealParent]
        {
            if let Some(off) = p.offset(field) {
                p.check_field(field, off, f.task_struct_size)?;
                if let Some(slot) = task_fields.get_mut(n) {
                    *slot = (field, off);
                    n += 1;
                }
            }
        }
        p.check_field(Field::MmPgd, f.mm_pgd, f.mm_struct_size)?;
        // Pairwise overlap among at most six fields.
        let present = task_fields.get(..n).unwrap_or(&[]);
        for (i, &(a, oa)) in present.iter().enumerate() {
            for &(b, ob) in present.iter().skip(i + 1) {
                // Both ranges lie inside the struct (checked above), so no overflow.
                if overlaps((oa, a.size(f.comm_len)), (ob, b.size(f.comm_len))) {
                    return Err(ProfileError::Overlap { a, b });
                }
            }
        }
        Ok(p)
    }

    /// Validates `f` and `vma`: a profile the VMA lookup can use (encoded as version 2).
    pub fn with_vma_layout(f: ProfileFields, vma: VmaLayout) -> Result<Self, ProfileError> {
        let p = Self::new(f)?;
        vma.check(f.mm_struct_size)?;
        // mm_mt and pgd are both in mm_struct: they must not overlap.
        if overlaps((vma.mm_mt, vma.tree_size as u32), (f.mm_pgd, Field::MmPgd.size(f.comm_len))) {
            return Err(ProfileError::VmaOverlap { a: VmaField::MmMt, b: VmaField::MmPgd });
        }
        let auxv = (vma.saved_auxv as u32, 8 * vma.auxv_words as u32);
        if overlaps(auxv, (f.mm_pgd, Field::MmPgd.size(f.comm_len))) {
            return Err(ProfileError::VmaOverlap { a: VmaField::SavedAuxv, b: VmaField::MmPgd });
        }
        Ok(Self { vma: Some(vma), ..p })
    }

    fn check_field(&self, field: Field, offset: u32, struct_size: u32) -> Result<(), ProfileError> {
        let size = field.size(self.f.comm_len);
        check_span(offset, size, field.align(), struct_size).map_err(|outside| {
            if outside {
                ProfileError::FieldOutOfStruct { field, offset, size, struct_size }
            } else {
                ProfileError::Misaligned { field, offset }
            }
        })
    }

    /// The validated values.
    pub fn fields(&self) -> &ProfileFields {
        &self.f
    }
    /// The validated VMA layout; `None` for a version-1 profile (no VMA lookup).
    pub fn vma_layout(&self) -> Option<&VmaLayout> {
        self.vma.as_ref()
    }
    /// The encoding version this profile is written in: 2 with a VMA layout, else 1.
    pub fn version(&self) -> u16 {
        if self.vma.is_some() {
            VERSION
        } else {
            VERSION_1
        }
    }
    /// Length of this profile's encoding.
    pub fn encoded_len(&self) -> usize {
        if self.vma.is_some() {
            ENCODED_LEN_V2
        } else {
            ENCODED_LEN
        }
    }
    /// Address of `init_task`.
    pub fn init_task(&self) -> u64 {
        self.f.init_task
    }
    /// `TASK_COMM_LEN` (2..=16).
    pub fn comm_len(&self) -> usize {
        self.f.comm_len as usize
    }
    /// Offset of `field` in its structure, `None` for an absent optional field.
    pub fn offset(&self, field: Field) -> Option<u32> {
        match field {
            Field::TaskTasks => Some(self.f.task_tasks),
            Field::TaskComm => Some(self.f.task_comm),
            Field::TaskPid => Some(self.f.task_pid),
            Field::TaskTgid => Some(self.f.task_tgid),
            Field::TaskMm => Some(self.f.task_mm),
            Field::TaskRealParent => self.f.task_real_parent,
            Field::MmPgd => Some(self.f.mm_pgd),
        }
    }

    /// Decodes and validates an encoded profile of either version; `bytes` must be exactly one
    /// profile.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProfileError> {
        let Some(r) = RawProfile::read_prefix(bytes) else {
            return Err(ProfileError::TooShort { need: ENCODED_LEN, have: bytes.len() });
        };
        if r.magic != MAGIC {
            return Err(ProfileError::BadMagic);
        }
        let len = match r.version {
            VERSION_1 => ENCODED_LEN,
            VERSION => ENCODED_LEN_V2,
            v => return Err(ProfileError::UnsupportedVersion(v)),
        };
        if r.flags & !FLAG_REAL_PARENT != 0 {
            return Err(ProfileError::UnknownFlags(r.flags & !FLAG_REAL_PARENT));
        }
        if r.length as usize != len || bytes.len() != len {
            return Err(ProfileError::Length { declared: r.length, actual: bytes.len() });
        }
        let computed = checksum(bytes);
        if r.checksum != computed {
            return Err(ProfileError::Checksum { stored: r.checksum, computed });
        }
        if r.reserved != 0 {
            return Err(ProfileError::Reserved);
        }
        let task_real_parent = if r.flags & FLAG_REAL_PARENT != 0 {
            Some(r.task_real_parent)
        } else if r.task_real_parent != 0 {
            return Err(ProfileError::AbsentFieldSet);
        } else {
            None
        };
        let f = ProfileFields {
            init_task: r.init_task,
            task_struct_size: r.task_struct_size,
            task_tasks: r.task_tasks,
            task_comm: r.task_comm,
            task_pid: r.task_pid,
            task_tgid: r.task_tgid,
            task_mm: r.task_mm,
            task_real_parent,
            mm_struct_size: r.mm_struct_size,
            mm_pgd: r.mm_pgd,
            comm_len: r.comm_len,
        };
        if r.version == VERSION_1 {
            return Self::new(f);
        }
        let v = wire::read::<RawVmaLayout>(bytes, RawProfile::SIZE)
            .ok_or(ProfileError::TooShort { need: ENCODED_LEN_V2, have: bytes.len() })?;
        Self::with_vma_layout(f, VmaLayout::from_raw(v))
    }

    /// Encodes into `out` and returns the number of bytes written ([`Self::encoded_len`]:
    /// version 2 with a VMA layout, version 1 without).
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, ProfileError> {
        let len = self.encoded_len();
        let full = ProfileError::BufferTooSmall { need: len };
        let out = out.get_mut(..len).ok_or(full)?;
        let f = &self.f;
        let mut r = RawProfile {
            magic: MAGIC,
            version: self.version(),
            flags: if f.task_real_parent.is_some() { FLAG_REAL_PARENT } else { 0 },
            length: len as u32,
            checksum: 0,
            init_task: f.init_task,
            task_struct_size: f.task_struct_size,
            task_tasks: f.task_tasks,
            task_comm: f.task_comm,
            task_pid: f.task_pid,
            task_tgid: f.task_tgid,
            task_mm: f.task_mm,
            task_real_parent: f.task_real_parent.unwrap_or(0),
            mm_struct_size: f.mm_struct_size,
            mm_pgd: f.mm_pgd,
            comm_len: f.comm_len,
            reserved: 0,
        };
        wire::write(out, 0, r).ok_or(full)?;
        if let Some(v) = self.vma {
            wire::write(out, RawProfile::SIZE, v.to_raw()).ok_or(full)?;
        }
        r.checksum = checksum(out);
        wire::write(out, CHECKSUM_AT, r.checksum).ok_or(full)?;
        Ok(len)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// Offsets of a Debian 6.1 x86-64 kernel, roughly (the real values come from BTF).
    pub(crate) fn sample() -> ProfileFields {
        ProfileFields {
            init_task: 0xffff_ffff_8201_3940,
            task_struct_size: 9792,
            task_tasks: 2192,
            task_comm: 3000,
            task_pid: 2464,
            task_tgid: 2468,
            task_mm: 2272,
            task_real_parent: Some(2480),
            mm_struct_size: 1152,
            mm_pgd: 80,
            comm_len: 16,
        }
    }

    fn encoded(f: ProfileFields) -> [u8; ENCODED_LEN] {
        let mut b = [0u8; ENCODED_LEN];
        assert_eq!(Profile::new(f).unwrap().encode(&mut b), Ok(ENCODED_LEN));
        b
    }

    /// Re-seals a tampered encoding so that the checksum is not what rejects it.
    fn reseal(b: &mut [u8]) {
        let s = checksum(b);
        b[CHECKSUM_AT..CHECKSUM_AT + 4].copy_from_slice(&s.to_le_bytes());
    }

    #[test]
    fn round_trip_and_layout() {
        let b = encoded(sample());
        assert_eq!(&b[..4], b"SGKP");
        assert_eq!(u16::from_le_bytes([b[4], b[5]]), 1);
        assert_eq!(u16::from_le_bytes([b[6], b[7]]), 1);
        assert_eq!(u64::from_le_bytes(b[16..24].try_into().unwrap()), 0xffff_ffff_8201_3940);
        assert_eq!(u16::from_le_bytes([b[60], b[61]]), 16);
        let p = Profile::decode(&b).unwrap();
        assert_eq!(*p.fields(), sample());
        assert_eq!(p.offset(Field::TaskRealParent), Some(2480));
        assert_eq!(p.comm_len(), 16);
        let mut no_parent = sample();
        no_parent.task_real_parent = None;
        let p = Profile::decode(&encoded(no_parent)).unwrap();
        assert_eq!(p.offset(Field::TaskRealParent), None);
    }

    #[test]
    fn decode_errors_are_precise() {
        let good = encoded(sample());
        assert_eq!(Profile::decode(&good[..63]), Err(ProfileError::TooShort { need: 64, have: 63 }));
        let mut long = [0u8; 65];
        long[..64].copy_from_slice(&good);
        assert_eq!(Profile::decode(&long), Err(ProfileError::Length { declared: 64, actual: 65 }));
        let mut b = good;
        b[0] = b'X';
        assert_eq!(Profile::decode(&b), Err(ProfileError::BadMagic));
        let mut b = good;
        b[4] = 3;
        assert_eq!(Profile::decode(&b), Err(ProfileError::UnsupportedVersion(3)));
        // Version 2 needs its 112 bytes.
        let mut b = good;
        b[4] = 2;
        assert_eq!(Profile::decode(&b), Err(ProfileError::Length { declared: 64, actual: 64 }));
        let mut b = good;
        b[6] = 0x81;
        assert_eq!(Profile::decode(&b), Err(ProfileError::UnknownFlags(0x80)));
        let mut b = good;
        b[8] = 65;
        assert_eq!(Profile::decode(&b), Err(ProfileError::Length { declared: 65, actual: 64 }));
        let mut b = good;
        b[30] ^= 1;
        assert!(matches!(Profile::decode(&b), Err(ProfileError::Checksum { .. })));
        let mut b = good;
        b[62] = 1;
        reseal(&mut b);
        assert_eq!(Profile::decode(&b), Err(ProfileError::Reserved));
        let mut b = good;
        b[6] = 0;
        reseal(&mut b);
        assert_eq!(Profile::decode(&b), Err(ProfileError::AbsentFieldSet));
        let mut b = good;
        b[60] = 17;
        reseal(&mut b);
        assert_eq!(Profile::decode(&b), Err(ProfileError::CommLen(17)));
        assert_eq!(
            Profile::new(sample()).unwrap().encode(&mut [0u8; 63]),
            Err(ProfileError::BufferTooSmall { need: 64 })
        );
    }

    #[test]
    fn validation_errors_are_precise() {
        let check = |edit: fn(&mut ProfileFields), want: ProfileError| {
            let mut f = sample();
            edit(&mut f);
            assert_eq!(Profile::new(f), Err(want));
        };
        check(|f| f.init_task = 0x0000_7fff_0000_0000, ProfileError::InitTask(0x0000_7fff_0000_0000));
        check(|f| f.init_task = 0x8000_0000_0000_0000, ProfileError::InitTask(0x8000_0000_0000_0000));
        check(|f| f.task_struct_size = 0, ProfileError::StructSize { which: Struct::TaskStruct, size: 0 });
        check(
            |f| f.mm_struct_size = MAX_STRUCT_SIZE + 1,
            ProfileError::StructSize { which: Struct::MmStruct, size: MAX_STRUCT_SIZE + 1 },
        );
        check(|f| f.comm_len = 1, ProfileError::CommLen(1));
        check(
            |f| f.task_comm = 9792 - 15,
            ProfileError::FieldOutOfStruct { field: Field::TaskComm, offset: 9777, size: 16, struct_size: 9792 },
        );
        check(
            |f| f.task_mm = u32::MAX - 3,
            ProfileError::FieldOutOfStruct { field: Field::TaskMm, offset: u32::MAX - 3, size: 8, struct_size: 9792 },
        );
        check(
            |f| f.mm_pgd = 1152,
            ProfileError::FieldOutOfStruct { field: Field::MmPgd, offset: 1152, size: 8, struct_size: 1152 },
        );
        check(|f| f.task_pid = 2466, ProfileError::Misaligned { field: Field::TaskPid, offset: 2466 });
        check(|f| f.task_tgid = 2464, ProfileError::Overlap { a: Field::TaskPid, b: Field::TaskTgid });
        check(|f| f.task_comm = 2200, ProfileError::Overlap { a: Field::TaskTasks, b: Field::TaskComm });
        check(
            |f| f.task_real_parent = Some(2272),
            ProfileError::Overlap { a: Field::TaskMm, b: Field::TaskRealParent },
        );
        // Adjacent is fine.
        let mut f = sample();
        f.task_comm = 2192 + 16;
        assert!(Profile::new(f).is_ok());
        // A 5-level kernel address is accepted.
        f.init_task = 0xff11_0000_0000_0000;
        assert!(Profile::new(f).is_ok());
    }

    #[test]
    fn format_docs_match_the_layout() {
        // One table for both records: RawVmaLayout's offsets are relative to byte 64.
        let base = RawProfile::SIZE;
        let mut all: Vec<(&str, usize, usize)> = RawProfile::FIELDS.to_vec();
        all.extend(RawVmaLayout::FIELDS.iter().map(|&(n, o, s)| (n, o + base, s)));
        crate::wire::assert_documented(
            include_str!("profile.rs"),
            "# Encoding (little-endian; version 1: bytes 0..64, version 2: bytes 0..112)",
            &all,
        );
        assert_eq!((ENCODED_LEN, ENCODED_LEN_V2, MAX_ENCODED_LEN), (64, 112, 112));
    }

    /// The maple layout of our Linux 6.12 x86-64 guest kernel.
    pub(crate) fn sample_vma() -> VmaLayout {
        crate::fuzzing::LINUX_6_12_VMA
    }

    fn encoded_v2(f: ProfileFields, v: VmaLayout) -> [u8; ENCODED_LEN_V2] {
        let mut b = [0u8; ENCODED_LEN_V2];
        let p = Profile::with_vma_layout(f, v).unwrap();
        assert_eq!((p.version(), p.encoded_len()), (2, ENCODED_LEN_V2));
        assert_eq!(p.encode(&mut b), Ok(ENCODED_LEN_V2));
        b
    }

    #[test]
    fn version_2_round_trips_and_version_1_still_decodes() {
        let b = encoded_v2(sample(), sample_vma());
        assert_eq!(u16::from_le_bytes([b[4], b[5]]), 2);
        assert_eq!(u32::from_le_bytes(b[8..12].try_into().unwrap()), 112);
        assert_eq!(u32::from_le_bytes(b[64..68].try_into().unwrap()), 64, "mm_mt");
        assert_eq!((b[98], b[99], b[106], b[107]), (16, 15, 10, 9));
        let p = Profile::decode(&b).unwrap();
        assert_eq!(*p.fields(), sample());
        assert_eq!(p.vma_layout(), Some(&sample_vma()));
        // The first 64 bytes are version 1's layout, apart from version, length and checksum.
        let v1 = encoded(sample());
        assert_eq!(b[16..62], v1[16..62]);
        let p1 = Profile::decode(&v1).unwrap();
        assert_eq!((p1.version(), p1.vma_layout()), (1, None));
        assert_eq!(p1, Profile::new(sample()).unwrap());
        // Errors particular to version 2.
        assert_eq!(Profile::decode(&b[..64]), Err(ProfileError::Length { declared: 112, actual: 64 }));
        // saved_auxv: misaligned, odd or too long, an offset without a length.
        let mut t = b;
        t[108] = t[108].wrapping_add(1);
        reseal(&mut t);
        assert!(matches!(Profile::decode(&t), Err(ProfileError::VmaMisaligned { field: VmaField::SavedAuxv, .. })));
        for words in [49u16, 130] {
            let mut t = b;
            t[110..112].copy_from_slice(&words.to_le_bytes());
            reseal(&mut t);
            assert!(matches!(
                Profile::decode(&t),
                Err(ProfileError::VmaFieldOutOfStruct { field: VmaField::SavedAuxv, .. })
            ));
        }
        let mut t = b;
        t[110..112].copy_from_slice(&0u16.to_le_bytes());
        reseal(&mut t);
        assert_eq!(Profile::decode(&t), Err(ProfileError::Reserved));
        let mut t = b;
        t[108..112].copy_from_slice(&[0; 4]);
        reseal(&mut t);
        assert_eq!(Profile::decode(&t).unwrap().vma_layout().map(|v| v.auxv_words), Some(0), "absent");
        let mut t = b;
        t[98] = 15; // r64_slots: 15 slots with 15 pivots
        reseal(&mut t);
        assert_eq!(
            Profile::decode(&t),
            Err(ProfileError::NodeArrays { kind: NodeKind::Range64, slots: 15, pivots: 15 })
        );
        assert_eq!(
            Profile::with_vma_layout(sample(), sample_vma()).unwrap().encode(&mut [0u8; 111]),
            Err(ProfileError::BufferTooSmall { need: 112 })
        );
    }

    #[test]
    fn vma_layout_validation_errors_are_precise() {
        let check = |edit: fn(&mut VmaLayout), want: ProfileError| {
            let mut v = sample_vma();
            edit(&mut v);
            assert_eq!(Profile::with_vma_layout(sample(), v), Err(want));
        };
        check(|v| v.tree_size = 0, ProfileError::StructSize { which: Struct::MapleTree, size: 0 });
        check(
            |v| v.mm_mt = 1152 - 8,
            ProfileError::VmaFieldOutOfStruct { field: VmaField::MmMt, offset: 1144, size: 16, struct_size: 1152 },
        );
        check(|v| v.mm_mt = 68, ProfileError::VmaMisaligned { field: VmaField::MmMt, offset: 68 });
        check(|v| v.mm_mt = 80, ProfileError::VmaOverlap { a: VmaField::MmMt, b: VmaField::MmPgd });
        check(
            |v| v.tree_root = 12,
            ProfileError::VmaFieldOutOfStruct { field: VmaField::TreeRoot, offset: 12, size: 8, struct_size: 16 },
        );
        check(|v| v.vma_size = 0, ProfileError::StructSize { which: Struct::VmAreaStruct, size: 0 });
        check(
            |v| v.vma_size = MAX_STRUCT_SIZE + 1,
            ProfileError::StructSize { which: Struct::VmAreaStruct, size: MAX_STRUCT_SIZE + 1 },
        );
        check(
            |v| v.vma_flags = 148,
            ProfileError::VmaFieldOutOfStruct { field: VmaField::VmFlags, offset: 148, size: 8, struct_size: 152 },
        );
        check(|v| v.vma_end = 4, ProfileError::VmaMisaligned { field: VmaField::VmEnd, offset: 4 });
        check(|v| v.vma_end = 0, ProfileError::VmaOverlap { a: VmaField::VmStart, b: VmaField::VmEnd });
        check(|v| v.node_size = 192, ProfileError::StructSize { which: Struct::MapleNode, size: 192 });
        check(
            |v| v.node_parent = 252,
            ProfileError::VmaFieldOutOfStruct { field: VmaField::NodeParent, offset: 252, size: 8, struct_size: 256 },
        );
        check(|v| v.arange64.slots = 1, ProfileError::NodeArrays { kind: NodeKind::Arange64, slots: 1, pivots: 9 });
        check(
            |v| (v.range64.slots, v.range64.pivots) = (33, 32),
            ProfileError::NodeArrays { kind: NodeKind::Range64, slots: 33, pivots: 32 },
        );
        check(
            |v| v.range64.slot = 136,
            ProfileError::VmaFieldOutOfStruct {
                field: VmaField::Slots(NodeKind::Range64),
                offset: 136,
                size: 128,
                struct_size: 256,
            },
        );
        check(
            |v| v.arange64.pivot = 12,
            ProfileError::VmaMisaligned { field: VmaField::Pivots(NodeKind::Arange64), offset: 12 },
        );
        check(
            |v| v.arange64.meta_end = 256,
            ProfileError::VmaFieldOutOfStruct {
                field: VmaField::MetaEnd(NodeKind::Arange64),
                offset: 256,
                size: 1,
                struct_size: 256,
            },
        );
        check(
            |v| v.range64.pivot = 0,
            ProfileError::VmaOverlap { a: VmaField::NodeParent, b: VmaField::Pivots(NodeKind::Range64) },
        );
        check(
            |v| v.arange64.slot = 72,
            ProfileError::VmaOverlap {
                a: VmaField::Pivots(NodeKind::Arange64),
                b: VmaField::Slots(NodeKind::Arange64),
            },
        );
        check(
            |v| v.range64.meta_end = 100,
            ProfileError::VmaOverlap {
                a: VmaField::Pivots(NodeKind::Range64),
                b: VmaField::MetaEnd(NodeKind::Range64),
            },
        );
        // The metadata sharing the last slot is the kernel's own layout.
        assert!(Profile::with_vma_layout(sample(), sample_vma()).is_ok());
        // The task fields are checked first.
        let mut f = sample();
        f.comm_len = 1;
        assert_eq!(Profile::with_vma_layout(f, sample_vma()), Err(ProfileError::CommLen(1)));
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..130)) {
            let _ = Profile::decode(&bytes);
        }

        /// A version-2 encoding with one field changed either decodes to what was encoded or
        /// is refused; any single-bit flip is refused.
        #[test]
        fn version_2_flips_are_detected(at in 64usize..112, byte in any::<u8>()) {
            let b = encoded_v2(sample(), sample_vma());
            let mut t = b;
            t[at] = byte;
            reseal(&mut t);
            if let Ok(p) = Profile::decode(&t) {
                let mut again = [0u8; ENCODED_LEN_V2];
                prop_assert_eq!(p.encode(&mut again), Ok(ENCODED_LEN_V2));
                prop_assert_eq!(again, t);
            }
            for bit in 0..ENCODED_LEN_V2 * 8 {
                let mut t = b;
                t[bit / 8] ^= 1 << (bit % 8);
                prop_assert!(Profile::decode(&t).is_err());
            }
        }

        #[test]
        fn valid_fields_round_trip(
            tasks in 0u32..64, comm in 0u32..64, pid in 0u32..64, tgid in 0u32..64, mm in 0u32..64,
            parent in proptest::option::of(0u32..64), pgd in 0u32..16, comm_len in 2u16..=16,
        ) {
            let f = ProfileFields {
                init_task: 0xffff_ffff_8000_0000,
                task_struct_size: 1024,
                task_tasks: tasks * 16,
                task_comm: comm * 16,
                task_pid: pid * 16,
                task_tgid: tgid * 16 + 4,
                task_mm: mm * 16 + 8,
                task_real_parent: parent.map(|p| p * 16 + 8),
                mm_struct_size: 128,
                mm_pgd: pgd * 8,
                comm_len,
            };
            match Profile::new(f) {
                Ok(p) => {
                    let mut b = [0u8; ENCODED_LEN];
                    prop_assert_eq!(p.encode(&mut b), Ok(ENCODED_LEN));
                    prop_assert_eq!(Profile::decode(&b), Ok(p));
                    // Any single-bit flip is detected by some check.
                    for bit in 0..ENCODED_LEN * 8 {
                        let mut t = b;
                        t[bit / 8] ^= 1 << (bit % 8);
                        prop_assert!(Profile::decode(&t).is_err());
                    }
                }
                Err(e) => prop_assert!(matches!(e, ProfileError::Overlap { .. }), "unexpected {:?}", e),
            }
        }
    }
}
