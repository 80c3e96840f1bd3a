//! `semguard profile`: the guest-kernel profile ([`ProfileFields`]) the process finder needs —
//! `init_task` from System.map (checked against vmlinux's own symbol table when it has one)
//! and the `task_struct`/`mm_struct` layout from the kernel's BTF (`.BTF`, through btf-rs) or,
//! without BTF, from its DWARF (through the resolver).

use std::collections::HashMap;

use btf_rs::{Btf, Type};
use semguard_core::profile::{Profile, ProfileError, ProfileFields, ENCODED_LEN};

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
            match &m.name {
                None if depth < MAX_DEPTH => stack.push((m.ty, base + m.offset, depth + 1)),
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

/// The profile of a kernel: its ELF image (`vmlinux`) and System.map text. Returns the
/// validated fields and where the layout came from.
pub fn extract(vmlinux: Elf, system_map: &str) -> Result<(ProfileFields, LayoutSource), ToolError> {
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
    let (task, mm, source) = if let Some(bytes) = vmlinux.extra.get(".BTF") {
        let btf = Btf::from_bytes(bytes)?;
        (btf_layout(&btf, "task_struct")?, btf_layout(&btf, "mm_struct")?, LayoutSource::Btf)
    } else if vmlinux.has_dwarf() {
        let mut prog = Program::new(vmlinux)?;
        (dwarf_layout(&mut prog, "task_struct")?, dwarf_layout(&mut prog, "mm_struct")?, LayoutSource::Dwarf)
    } else {
        return Err(ToolError::KernelLayout(format!(
            "{path} has neither .BTF nor DWARF: build the kernel with CONFIG_DEBUG_INFO_BTF or CONFIG_DEBUG_INFO"
        )));
    };
    let f = fields_from_layouts(init_task, &task, &mm)?;
    Profile::new(f).map_err(|error| profile_err("the extracted profile is not valid", error))?;
    Ok((f, source))
}

/// Encodes validated fields (64 bytes).
pub fn encode(f: ProfileFields) -> Result<Vec<u8>, ToolError> {
    let p = Profile::new(f).map_err(|error| profile_err("invalid profile", error))?;
    let mut out = vec![0u8; ENCODED_LEN];
    let n = p.encode(&mut out).map_err(|error| profile_err("cannot encode the profile", error))?;
    out.truncate(n);
    Ok(out)
}

/// The fields as readable lines.
pub fn describe(f: &ProfileFields) -> String {
    let rp = f.task_real_parent.map_or("absent".to_string(), |v| v.to_string());
    format!(
        "  init_task            {:#x}\n  sizeof(task_struct)  {}\n  task_struct.tasks    {}\n  task_struct.comm     {} (TASK_COMM_LEN {})\n  task_struct.pid      {}\n  task_struct.tgid     {}\n  task_struct.mm       {}\n  task_struct.real_parent {}\n  sizeof(mm_struct)    {}\n  mm_struct.pgd        {}",
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
    )
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
        assert_eq!(encode(f).unwrap().len(), ENCODED_LEN);
        assert!(describe(&f).contains("mm_struct.pgd        80"));

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
        assert!(encode(fields_from_layouts(0x1000, &task, &mm).unwrap())
            .unwrap_err()
            .to_string()
            .starts_with("invalid profile: InitTask"));
    }
}
