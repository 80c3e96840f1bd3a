//! `semguard profile`: the guest-kernel profile ([`Profile`]) the process finder and the VMA
//! lookup need — `init_task` from System.map (checked against vmlinux's own symbol table when
//! it has one), the `task_struct`/`mm_struct` layout and, for a kernel whose `mm_struct` holds
//! its VMAs in a maple tree (`mm_mt`, Linux 6.1 on), the `maple_tree`, `maple_node` and
//! `vm_area_struct` layout ([`VmaLayout`]), from the kernel's BTF (`.BTF`, through btf-rs) or,
//! without BTF, from its DWARF (through the resolver).
//!
//! With the VMA layout the profile is written as version 2; a kernel without `mm_mt` (before
//! 6.1: VMAs in an rbtree) gets a version-1 profile, and the VMA lookup is unavailable for it.

use std::collections::HashMap;

use btf_rs::{Btf, Type};
use semguard_core::profile::{NodeLayout, Profile, ProfileError, ProfileFields, VmaLayout, MAX_ENCODED_LEN};

use crate::ctype::{CType, RecordKind};
use crate::diag::ToolError;
use crate::dwarf::Program;
use crate::elf::Elf;

/// Deepest nesting followed through anonymous members, typedef chains and arrays.
const MAX_DEPTH: usize = 32;

/// A structure's size and its members (anonymous members flattened) as (offset, size).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// `sizeof`.
    pub size: u64,
    /// Members by name: (byte offset, byte size).
    pub members: HashMap<String, (u64, u64)>,
}

/// Where the layout came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutSource {
    /// The `.BTF` section.
    Btf,
    /// DWARF debug information.
    Dwarf,
}

fn profile_err(context: &str, error: ProfileError) -> ToolError {
    ToolError::Profile { context: context.to_string(), error }
}

/// Size of a BTF type, following modifiers and arrays (bounded).
fn btf_size(btf: &Btf, t: &Type, depth: usize) -> Option<u64> {
    if depth > MAX_DEPTH {
        return None;
    }
    match t {
        Type::Int(i) => Some(i.size() as u64),
        Type::Ptr(_) => Some(8),
        Type::Struct(s) | Type::Union(s) => Some(s.size() as u64),
        Type::Enum(e) => Some(e.size() as u64),
        Type::Enum64(e) => Some(e.size() as u64),
        Type::Float(f) => Some(f.size() as u64),
        Type::Array(a) => {
            let elem = btf.resolve_chained_type(a).ok()?;
            btf_size(btf, &elem, depth + 1)?.checked_mul(a.len() as u64)
        }
        Type::Typedef(x) => btf_size(btf, &btf.resolve_chained_type(x).ok()?, depth + 1),
        Type::Volatile(x) | Type::Const(x) | Type::Restrict(x) => {
            btf_size(btf, &btf.resolve_chained_type(x).ok()?, depth + 1)
        }
        Type::TypeTag(x) => btf_size(btf, &btf.resolve_chained_type(x).ok()?, depth + 1),
        _ => None,
    }
}

/// Strips typedefs and qualifiers.
fn btf_strip(btf: &Btf, mut t: Type) -> Type {
    for _ in 0..MAX_DEPTH {
        let next = match &t {
            Type::Typedef(x) => btf.resolve_chained_type(x).ok(),
            Type::Volatile(x) | Type::Const(x) | Type::Restrict(x) => btf.resolve_chained_type(x).ok(),
            Type::TypeTag(x) => btf.resolve_chained_type(x).ok(),
            _ => None,
        };
        match next {
            Some(n) => t = n,
            None => return t,
        }
    }
    t
}

fn btf_flatten(btf: &Btf, s: &btf_rs::Struct, base: u64, depth: usize, out: &mut HashMap<String, (u64, u64)>) {
    if depth > MAX_DEPTH {
        return;
    }
    for m in &s.members {
        let name = btf.resolve_name(m).unwrap_or_default();
        let off = base + u64::from(m.bit_offset()) / 8;
        let Ok(t) = btf.resolve_chained_type(m) else { continue };
        let t = btf_strip(btf, t);
        if name.is_empty() {
            if let Type::Struct(inner) | Type::Union(inner) = &t {
                btf_flatten(btf, inner, off, depth + 1, out);
            }
            continue;
        }
        if m.bitfield_size().is_some_and(|b| b > 0) {
            continue;
        }
        if let Some(size) = btf_size(btf, &t, 0) {
            out.entry(name).or_insert((off, size));
        }
    }
}

/// The layout of `struct name` from BTF bytes.
pub fn btf_layout(btf: &Btf, name: &str) -> Result<Layout, ToolError> {
    let types =
        btf.resolve_types_by_name(name).map_err(|_| ToolError::KernelLayout(format!("BTF has no `struct {name}`")))?;
    let s = types
        .iter()
        .find_map(|t| match t {
            Type::Struct(s) if s.size() > 0 => Some(s.clone()),
            _ => None,
        })
        .ok_or_else(|| ToolError::KernelLayout(format!("BTF has no definition of `struct {name}`")))?;
    let mut members = HashMap::new();
    btf_flatten(btf, &s, 0, 0, &mut members);
    Ok(Layout { size: s.size() as u64, members })
}

/// The layout of `struct name` from DWARF.
pub fn dwarf_layout(prog: &mut Program, name: &str) -> Result<Layout, ToolError> {
    let id = prog
        .record(RecordKind::Struct, name)
        .ok_or_else(|| ToolError::KernelLayout(format!("DWARF has no definition of `struct {name}`")))?;
    let size =
        prog.size_of(id).ok_or_else(|| ToolError::KernelLayout(format!("`struct {name}` has no size in DWARF")))?;
    let mut members = HashMap::new();
    let mut stack = vec![(id, 0u64, 0usize)];
    while let Some((rec, base, depth)) = stack.pop() {
        let CType::Record { members: ms, .. } = prog.ty(rec) else { continue };
        for m in ms {
            // A kernel built with Rust also has bindgen's copies of the C structures in its
            // DWARF, where an anonymous member is named `__bindgen_anon_N`: flattened alike.
            let anonymous = m.name.as_deref().is_none_or(|n| n.starts_with("__bindgen_anon_"));
            if anonymous {
                if depth < MAX_DEPTH {
                    stack.push((m.ty, base + m.offset, depth + 1));
                }
                continue;
            }
            match &m.name {
                Some(n) if m.bits.is_none() => {
                    if let Some(sz) = prog.size_of(m.ty) {
                        members.entry(n.clone()).or_insert((base + m.offset, sz));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(Layout { size, members })
}

/// Address of `symbol` in a System.map text (`<hex address> <type> <name>` per line).
pub fn system_map_symbol(map: &str, symbol: &str) -> Option<u64> {
    map.lines().find_map(|line| {
        let mut it = line.split_whitespace();
        let (addr, _kind, name) = (it.next()?, it.next()?, it.next()?);
        if name == symbol {
            u64::from_str_radix(addr, 16).ok()
        } else {
            None
        }
    })
}

/// Builds the profile fields from the two structure layouts and `init_task`'s address.
pub fn fields_from_layouts(init_task: u64, task: &Layout, mm: &Layout) -> Result<ProfileFields, ToolError> {
    let get = |l: &Layout, s: &str, m: &str, want: Option<u64>| -> Result<(u64, u64), ToolError> {
        let &(off, size) =
            l.members.get(m).ok_or_else(|| ToolError::KernelLayout(format!("`struct {s}` has no member `{m}`")))?;
        if let Some(w) = want {
            if size != w {
                return Err(ToolError::KernelLayout(format!("`{s}.{m}` is {size} bytes, expected {w}")));
            }
        }
        Ok((off, size))
    };
    let u32_of = |v: u64, what: &str| {
        u32::try_from(v).map_err(|_| ToolError::KernelLayout(format!("{what} = {v} does not fit in 32 bits")))
    };
    let tasks = get(task, "task_struct", "tasks", Some(16))?;
    let comm = get(task, "task_struct", "comm", None)?;
    let pid = get(task, "task_struct", "pid", Some(4))?;
    let tgid = get(task, "task_struct", "tgid", Some(4))?;
    let mmf = get(task, "task_struct", "mm", Some(8))?;
    let real_parent = match task.members.get("real_parent") {
        Some(&(off, 8)) => Some(u32_of(off, "offsetof(task_struct, real_parent)")?),
        Some(&(_, size)) => {
            return Err(ToolError::KernelLayout(format!("`task_struct.real_parent` is {size} bytes, expected 8")))
        }
        None => None,
    };
    let pgd = get(mm, "mm_struct", "pgd", Some(8))?;
    let comm_len = u16::try_from(comm.1)
        .map_err(|_| ToolError::KernelLayout(format!("`task_struct.comm` is {} bytes", comm.1)))?;
    Ok(ProfileFields {
        init_task,
        task_struct_size: u32_of(task.size, "sizeof(struct task_struct)")?,
        task_tasks: u32_of(tasks.0, "offsetof(task_struct, tasks)")?,
        task_comm: u32_of(comm.0, "offsetof(task_struct, comm)")?,
        task_pid: u32_of(pid.0, "offsetof(task_struct, pid)")?,
        task_tgid: u32_of(tgid.0, "offsetof(task_struct, tgid)")?,
        task_mm: u32_of(mmf.0, "offsetof(task_struct, mm)")?,
        task_real_parent: real_parent,
        mm_struct_size: u32_of(mm.size, "sizeof(struct mm_struct)")?,
        mm_pgd: u32_of(pgd.0, "offsetof(mm_struct, pgd)")?,
        comm_len,
    })
}

/// The structure layouts the VMA layout is read from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapleLayouts {
    /// `struct maple_tree`.
    pub tree: Layout,
    /// `struct maple_node` (its union's members flattened: `parent`, `mr64`, `ma64`, …).
    pub node: Layout,
    /// `struct maple_range_64`.
    pub range64: Layout,
    /// `struct maple_arange_64`.
    pub arange64: Layout,
    /// `struct maple_metadata`.
    pub meta: Layout,
    /// `struct vm_area_struct`.
    pub vma: Layout,
}

/// The structures [`MapleLayouts`] is made of, by name.
pub const MAPLE_STRUCTS: [&str; 6] =
    ["maple_tree", "maple_node", "maple_range_64", "maple_arange_64", "maple_metadata", "vm_area_struct"];

impl MapleLayouts {
    /// Reads every structure through `layout` (by name, in [`MAPLE_STRUCTS`] order).
    pub fn read(mut layout: impl FnMut(&str) -> Result<Layout, ToolError>) -> Result<Self, ToolError> {
        Ok(Self {
            tree: layout("maple_tree")?,
            node: layout("maple_node")?,
            range64: layout("maple_range_64")?,
            arange64: layout("maple_arange_64")?,
            meta: layout("maple_metadata")?,
            vma: layout("vm_area_struct")?,
        })
    }
}

fn member(l: &Layout, s: &str, m: &str) -> Result<(u64, u64), ToolError> {
    l.members.get(m).copied().ok_or_else(|| ToolError::KernelLayout(format!("`struct {s}` has no member `{m}`")))
}

fn sized(l: &Layout, s: &str, m: &str, want: u64) -> Result<u64, ToolError> {
    let (off, size) = member(l, s, m)?;
    if size != want {
        return Err(ToolError::KernelLayout(format!("`{s}.{m}` is {size} bytes, expected {want}")));
    }
    Ok(off)
}

fn narrow<T: TryFrom<u64>>(v: u64, what: &str) -> Result<T, ToolError> {
    T::try_from(v).map_err(|_| ToolError::KernelLayout(format!("{what} = {v} does not fit the profile's field")))
}

/// A node kind's arrays, as offsets in `maple_node` (`within` is the kind's member of the
/// node's union, `mr64` or `ma64`) and lengths (array size / 8: pivots are `unsigned long`,
/// slots pointers).
fn node_layout(m: &MapleLayouts, kind: &Layout, name: &str, within: &str) -> Result<NodeLayout, ToolError> {
    let (base, size) = member(&m.node, "maple_node", within)?;
    if size != kind.size {
        return Err(ToolError::KernelLayout(format!(
            "`maple_node.{within}` is {size} bytes but `struct {name}` is {}",
            kind.size
        )));
    }
    let (pivot, pivot_size) = member(kind, name, "pivot")?;
    let (slot, slot_size) = member(kind, name, "slot")?;
    let meta = sized(kind, name, "meta", m.meta.size)?;
    let end = sized(&m.meta, "maple_metadata", "end", 1)?;
    for (what, size) in [("pivot", pivot_size), ("slot", slot_size)] {
        if size % 8 != 0 {
            return Err(ToolError::KernelLayout(format!(
                "`{name}.{what}` is {size} bytes, not an array of 8-byte words"
            )));
        }
    }
    Ok(NodeLayout {
        pivot: narrow(base + pivot, &format!("offsetof(maple_node, {within}.pivot)"))?,
        slot: narrow(base + slot, &format!("offsetof(maple_node, {within}.slot)"))?,
        meta_end: narrow(base + meta + end, &format!("offsetof(maple_node, {within}.meta.end)"))?,
        slots: narrow(slot_size / 8, &format!("length of {name}.slot"))?,
        pivots: narrow(pivot_size / 8, &format!("length of {name}.pivot"))?,
    })
}

/// The VMA layout from the structure layouts; `None` when `mm_struct` has no `mm_mt` (a kernel
/// before 6.1, whose VMAs are in an rbtree this lookup does not read).
pub fn vma_layout_from(mm: &Layout, m: &MapleLayouts) -> Result<Option<VmaLayout>, ToolError> {
    let Some(&(mm_mt, mt_size)) = mm.members.get("mm_mt") else { return Ok(None) };
    if mt_size != m.tree.size {
        return Err(ToolError::KernelLayout(format!(
            "`mm_struct.mm_mt` is {mt_size} bytes but `struct maple_tree` is {}",
            m.tree.size
        )));
    }
    // The kernel's copy of the auxiliary vector (a position-independent P's load base).
    let (saved_auxv, auxv_words) = match mm.members.get("saved_auxv") {
        Some(&(off, size)) if size % 16 == 0 && size > 0 => {
            (narrow(off, "offsetof(mm_struct, saved_auxv)")?, narrow(size / 8, "AT_VECTOR_SIZE")?)
        }
        Some(&(_, size)) => {
            return Err(ToolError::KernelLayout(format!(
                "`mm_struct.saved_auxv` is {size} bytes, not an array of (type, value) word pairs"
            )))
        }
        None => (0, 0),
    };
    Ok(Some(VmaLayout {
        mm_mt: narrow(mm_mt, "offsetof(mm_struct, mm_mt)")?,
        vma_size: narrow(m.vma.size, "sizeof(struct vm_area_struct)")?,
        vma_start: narrow(sized(&m.vma, "vm_area_struct", "vm_start", 8)?, "offsetof(vm_area_struct, vm_start)")?,
        vma_end: narrow(sized(&m.vma, "vm_area_struct", "vm_end", 8)?, "offsetof(vm_area_struct, vm_end)")?,
        vma_flags: narrow(sized(&m.vma, "vm_area_struct", "vm_flags", 8)?, "offsetof(vm_area_struct, vm_flags)")?,
        tree_size: narrow(m.tree.size, "sizeof(struct maple_tree)")?,
        tree_root: narrow(sized(&m.tree, "maple_tree", "ma_root", 8)?, "offsetof(maple_tree, ma_root)")?,
        node_size: narrow(m.node.size, "sizeof(struct maple_node)")?,
        node_parent: narrow(sized(&m.node, "maple_node", "parent", 8)?, "offsetof(maple_node, parent)")?,
        range64: node_layout(m, &m.range64, "maple_range_64", "mr64")?,
        arange64: node_layout(m, &m.arange64, "maple_arange_64", "ma64")?,
        saved_auxv,
        auxv_words,
    }))
}

/// The profile of a kernel: its ELF image (`vmlinux`) and System.map text. Returns the
/// validated profile (version 2 when the kernel has a maple-tree `mm_mt`) and where the layout
/// came from.
pub fn extract(vmlinux: Elf, system_map: &str) -> Result<(Profile, LayoutSource), ToolError> {
    let init_task = system_map_symbol(system_map, "init_task")
        .ok_or_else(|| ToolError::KernelLayout("System.map has no `init_task`".into()))?;
    if let Some(sym) = vmlinux.symbols.get("init_task") {
        if sym.addr != init_task {
            return Err(ToolError::KernelLayout(format!(
                "System.map says init_task is at {init_task:#x} but {} says {:#x}: they come from different builds",
                vmlinux.path, sym.addr
            )));
        }
    }
    let path = vmlinux.path.clone();
    // The maple structures are only read when mm_struct has mm_mt.
    let (task, mm, maple, source) = if let Some(bytes) = vmlinux.extra.get(".BTF") {
        let btf = Btf::from_bytes(bytes)?;
        let mm = btf_layout(&btf, "mm_struct")?;
        let maple = match mm.members.contains_key("mm_mt") {
            true => Some(MapleLayouts::read(|name| btf_layout(&btf, name))?),
            false => None,
        };
        (btf_layout(&btf, "task_struct")?, mm, maple, LayoutSource::Btf)
    } else if vmlinux.has_dwarf() {
        let mut prog = Program::new(vmlinux)?;
        let mm = dwarf_layout(&mut prog, "mm_struct")?;
        let maple = match mm.members.contains_key("mm_mt") {
            true => Some(MapleLayouts::read(|name| dwarf_layout(&mut prog, name))?),
            false => None,
        };
        (dwarf_layout(&mut prog, "task_struct")?, mm, maple, LayoutSource::Dwarf)
    } else {
        return Err(ToolError::KernelLayout(format!(
            "{path} has neither .BTF nor DWARF: build the kernel with CONFIG_DEBUG_INFO_BTF or CONFIG_DEBUG_INFO"
        )));
    };
    let f = fields_from_layouts(init_task, &task, &mm)?;
    let vma = match &maple {
        Some(m) => vma_layout_from(&mm, m)?,
        None => None,
    };
    let p = match vma {
        Some(v) => Profile::with_vma_layout(f, v),
        None => Profile::new(f),
    };
    let p = p.map_err(|error| profile_err("the extracted profile is not valid", error))?;
    Ok((p, source))
}

/// Encodes a profile (64 bytes for version 1, 112 for version 2).
pub fn encode(p: &Profile) -> Result<Vec<u8>, ToolError> {
    let mut out = vec![0u8; MAX_ENCODED_LEN];
    let n = p.encode(&mut out).map_err(|error| profile_err("cannot encode the profile", error))?;
    out.truncate(n);
    Ok(out)
}

/// The profile as readable lines.
pub fn describe(p: &Profile) -> String {
    let f = p.fields();
    let rp = f.task_real_parent.map_or("absent".to_string(), |v| v.to_string());
    let mut s = format!(
        "  version              {}\n  init_task            {:#x}\n  sizeof(task_struct)  {}\n  task_struct.tasks    {}\n  task_struct.comm     {} (TASK_COMM_LEN {})\n  task_struct.pid      {}\n  task_struct.tgid     {}\n  task_struct.mm       {}\n  task_struct.real_parent {}\n  sizeof(mm_struct)    {}\n  mm_struct.pgd        {}",
        p.version(),
        f.init_task,
        f.task_struct_size,
        f.task_tasks,
        f.task_comm,
        f.comm_len,
        f.task_pid,
        f.task_tgid,
        f.task_mm,
        rp,
        f.mm_struct_size,
        f.mm_pgd
    );
    match p.vma_layout() {
        Some(v) => {
            let node = |n: &NodeLayout| {
                format!(
                    "pivot[{}] at {}, slot[{}] at {}, meta.end at {}",
                    n.pivots, n.pivot, n.slots, n.slot, n.meta_end
                )
            };
            s += &format!(
                "\n  mm_struct.mm_mt      {}\n  sizeof(maple_tree)   {} (ma_root at {})\n  sizeof(vm_area_struct) {} (vm_start {}, vm_end {}, vm_flags {})\n  sizeof(maple_node)   {} (parent at {})\n  maple_range_64       {}\n  maple_arange_64      {}",
                v.mm_mt,
                v.tree_size,
                v.tree_root,
                v.vma_size,
                v.vma_start,
                v.vma_end,
                v.vma_flags,
                v.node_size,
                v.node_parent,
                node(&v.range64),
                node(&v.arange64)
            );
            s += &match v.auxv_words {
                0 => "\n  mm_struct.saved_auxv absent (position-independent P unsupported)".to_string(),
                n => format!("\n  mm_struct.saved_auxv {} ({} words)", v.saved_auxv, n),
            };
        }
        None => s += "\n  VMA tree             absent (no mm_struct.mm_mt: VMA lookup unavailable)",
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_map_lookup() {
        let map = "ffffffff81000000 T _text\nffffffff82a0b940 D init_task\nbad line\nffffffff82a0c000 D init_mm\n";
        assert_eq!(system_map_symbol(map, "init_task"), Some(0xffff_ffff_82a0_b940));
        assert_eq!(system_map_symbol(map, "init_mm"), Some(0xffff_ffff_82a0_c000));
        assert_eq!(system_map_symbol(map, "nothing"), None);
        assert_eq!(system_map_symbol("zz D init_task", "init_task"), None);
    }

    fn layouts() -> (Layout, Layout) {
        let task = Layout {
            size: 9792,
            members: [
                ("tasks", (2192, 16)),
                ("comm", (3000, 16)),
                ("pid", (2464, 4)),
                ("tgid", (2468, 4)),
                ("mm", (2272, 8)),
                ("real_parent", (2480, 8)),
            ]
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .collect(),
        };
        let mm = Layout { size: 1152, members: [("pgd".to_string(), (80, 8))].into_iter().collect() };
        (task, mm)
    }

    #[test]
    fn fields_and_every_layout_error() {
        let (task, mm) = layouts();
        let f = fields_from_layouts(0xffff_ffff_8201_3940, &task, &mm).unwrap();
        assert_eq!(f.task_comm, 3000);
        assert_eq!(f.comm_len, 16);
        assert_eq!(f.task_real_parent, Some(2480));
        let p = Profile::new(f).unwrap();
        assert_eq!(encode(&p).unwrap().len(), 64);
        assert!(describe(&p).contains("mm_struct.pgd        80"));
        assert!(describe(&p).contains("VMA tree             absent"));

        let mut t = task.clone();
        t.members.remove("pid");
        assert_eq!(
            fields_from_layouts(1, &t, &mm).unwrap_err().to_string(),
            "`struct task_struct` has no member `pid`"
        );
        let mut t = task.clone();
        t.members.insert("tgid".into(), (2468, 8));
        assert_eq!(
            fields_from_layouts(1, &t, &mm).unwrap_err().to_string(),
            "`task_struct.tgid` is 8 bytes, expected 4"
        );
        let mut t = task.clone();
        t.members.insert("real_parent".into(), (2480, 4));
        assert_eq!(
            fields_from_layouts(1, &t, &mm).unwrap_err().to_string(),
            "`task_struct.real_parent` is 4 bytes, expected 8"
        );
        let mut t = task.clone();
        t.members.remove("real_parent");
        assert_eq!(fields_from_layouts(1, &t, &mm).unwrap().task_real_parent, None);
        let mut t = task.clone();
        t.size = 1 << 40;
        assert_eq!(
            fields_from_layouts(1, &t, &mm).unwrap_err().to_string(),
            "sizeof(struct task_struct) = 1099511627776 does not fit in 32 bits"
        );
        let m2 = Layout { size: 8, members: HashMap::new() };
        assert_eq!(
            fields_from_layouts(1, &task, &m2).unwrap_err().to_string(),
            "`struct mm_struct` has no member `pgd`"
        );
        // A user-space init_task address is refused by the core's validation.
        assert!(matches!(
            Profile::new(fields_from_layouts(0x1000, &task, &mm).unwrap()),
            Err(ProfileError::InitTask(0x1000))
        ));
    }

    fn layout(size: u64, members: &[(&str, u64, u64)]) -> Layout {
        Layout { size, members: members.iter().map(|&(n, o, s)| (n.to_string(), (o, s))).collect() }
    }

    /// Linux 6.12's maple structures on x86-64, as BTF flattens them.
    fn maple() -> MapleLayouts {
        MapleLayouts {
            tree: layout(16, &[("ma_lock", 0, 4), ("ma_flags", 4, 4), ("ma_root", 8, 8)]),
            node: layout(256, &[("parent", 0, 8), ("slot", 8, 248), ("mr64", 0, 256), ("ma64", 0, 256)]),
            range64: layout(256, &[("parent", 0, 8), ("pivot", 8, 120), ("slot", 128, 128), ("meta", 248, 2)]),
            arange64: layout(
                256,
                &[("parent", 0, 8), ("pivot", 8, 72), ("slot", 80, 80), ("gap", 160, 80), ("meta", 240, 2)],
            ),
            meta: layout(2, &[("end", 0, 1), ("gap", 1, 1)]),
            vma: layout(176, &[("vm_start", 0, 8), ("vm_end", 8, 8), ("vm_mm", 16, 8), ("vm_flags", 32, 8)]),
        }
    }

    #[test]
    fn vma_layout_and_every_maple_error() {
        let mm = layout(1152, &[("pgd", 80, 8), ("mm_mt", 64, 16)]);
        let v = vma_layout_from(&mm, &maple()).unwrap().unwrap();
        assert_eq!((v.mm_mt, v.tree_root, v.node_size, v.vma_flags), (64, 8, 256, 32));
        assert_eq!(v.range64, NodeLayout { pivot: 8, slot: 128, meta_end: 248, slots: 16, pivots: 15 });
        assert_eq!(v.arange64, NodeLayout { pivot: 8, slot: 80, meta_end: 240, slots: 10, pivots: 9 });
        let (task, _) = layouts();
        let f = fields_from_layouts(0xffff_ffff_8201_3940, &task, &mm).unwrap();
        let p = Profile::with_vma_layout(f, v).unwrap();
        assert_eq!(encode(&p).unwrap().len(), 112);
        let d = describe(&p);
        assert!(d.contains("version              2"), "{d}");
        assert!(d.contains("maple_arange_64      pivot[9] at 8, slot[10] at 80, meta.end at 240"), "{d}");
        // No mm_mt: an older kernel, no VMA layout.
        assert_eq!(vma_layout_from(&layout(1152, &[("pgd", 80, 8)]), &maple()).unwrap(), None);

        let err = |edit: fn(&mut MapleLayouts)| {
            let mut m = maple();
            edit(&mut m);
            vma_layout_from(&mm, &m).unwrap_err().to_string()
        };
        assert_eq!(err(|m| m.tree.size = 24), "`mm_struct.mm_mt` is 16 bytes but `struct maple_tree` is 24");
        assert_eq!(
            err(|m| {
                m.vma.members.remove("vm_flags");
            }),
            "`struct vm_area_struct` has no member `vm_flags`"
        );
        assert_eq!(
            err(|m| {
                m.tree.members.insert("ma_root".into(), (8, 4));
            }),
            "`maple_tree.ma_root` is 4 bytes, expected 8"
        );
        assert_eq!(
            err(|m| m.arange64.size = 240),
            "`maple_node.ma64` is 256 bytes but `struct maple_arange_64` is 240"
        );
        assert_eq!(
            err(|m| {
                m.range64.members.insert("pivot".into(), (8, 124));
            }),
            "`maple_range_64.pivot` is 124 bytes, not an array of 8-byte words"
        );
        assert_eq!(
            err(|m| {
                m.meta.members.remove("end");
            }),
            "`struct maple_metadata` has no member `end`"
        );
        assert_eq!(
            err(|m| {
                m.node.members.insert("parent".into(), (70_000, 8));
            }),
            "offsetof(maple_node, parent) = 70000 does not fit the profile's field"
        );
        // What fits the fields but not a maple node is the core's validation's to refuse.
        let mut m = maple();
        m.range64.members.insert("slot".into(), (128, 120));
        let v = vma_layout_from(&mm, &m).unwrap().unwrap();
        assert!(matches!(
            Profile::with_vma_layout(f, v),
            Err(ProfileError::NodeArrays { kind: semguard_core::profile::NodeKind::Range64, slots: 15, pivots: 15 })
        ));
    }
}
