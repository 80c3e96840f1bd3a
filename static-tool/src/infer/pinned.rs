//! Pinned globals: P's variables that P's code reads on its way to a privileged call and never
//! writes, so that at that call they must still hold the value they were linked with.
//!
//! A data-only attack (a format string's `%n`, an overflow into a neighbouring global) changes
//! such a variable — a limit, a flag, a uid — and then takes a path P allows, to a call P makes
//! anyway: no call site or call-number rule sees it. The invariant "the variable still has its
//! initial value" does, and it holds in every benign run when no instruction of P can write it.
//!
//! What counts as "never written" (conservative: any doubt drops the variable):
//! - the variable is a sized data symbol in `.data` (initial value from the file) or `.bss`
//!   (zero), of at most [`MAX_OBJECT`] bytes;
//! - every instruction of P that names an address inside it reads or writes it there, directly
//!   (a `mov`/`cmp`/`add` with the address in the instruction: no `lea`, no immediate address
//!   that could become a pointer — a taken address may be written through, by P or by the
//!   kernel); and the bytes pinned are ones no such instruction writes (`gate.refused++` does
//!   not unpin `gate.user_limit`);
//! - no 8-byte word of P's data (pointer tables, relocations' targets and addends) points
//!   inside it — a static-pie's self-relocation writes relocation targets at start-up.
//!
//! "On its way": the reads are in functions from which a direct call chain reaches a site of
//! the privileged call (wrappers included). At most [`MAX_PER_CALL`] per call, lowest
//! addresses first.

use std::collections::{BTreeMap, BTreeSet};

use semguard_core::syscall::Abi;
use semguard_core::syscall_names;

use super::{Program, Site};
use crate::elf::{Elf, SymKind};

/// Largest variable considered (a scalar, or a small struct whose fields are read alone).
pub const MAX_OBJECT: u64 = 64;
/// Most pinned reads asserted per privileged call.
pub const MAX_PER_CALL: usize = 8;

/// Calls that change what P may do (run another program, change its credentials or the
/// system): the ones a data-only attack steers P to.
const PRIVILEGED: &[&str] = &[
    "execve",
    "execveat",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setfsuid",
    "setfsgid",
    "setgroups",
    "capset",
    "mount",
    "umount2",
    "chroot",
    "pivot_root",
    "init_module",
    "finit_module",
    "kexec_load",
    "kexec_file_load",
    "ptrace",
    "reboot",
];

/// One read of a pinned variable.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pinned {
    /// Address read (as linked; an offset from the load base in a PIE).
    pub addr: u64,
    /// Bytes read: 1, 2, 4 or 8.
    pub size: u8,
    /// The value it was linked with (little-endian, zero-extended).
    pub value: u64,
    /// `symbol+offset`, for the reader.
    pub what: String,
}

/// Whether `abi`/`nr` is a privileged call.
pub fn privileged(abi: Abi, nr: u32) -> bool {
    syscall_names::name(abi, nr).is_some_and(|n| PRIVILEGED.contains(&n))
}

/// A data object: `[start, end)`, its name, and its initial bytes (`None`: zero-filled).
struct Object<'e> {
    start: u64,
    end: u64,
    name: &'e str,
    bytes: Option<&'e [u8]>,
}

/// P's writable data objects (`.data`, `.bss`) small enough to pin.
fn objects(elf: &Elf) -> Vec<Object<'_>> {
    let data: Vec<_> = elf.data.iter().filter(|d| d.name == ".data").collect();
    let mut out: Vec<Object<'_>> = elf
        .all_symbols
        .iter()
        .filter(|s| s.kind == SymKind::Data && s.size > 0 && s.size <= MAX_OBJECT)
        .filter_map(|s| {
            let end = s.addr.checked_add(s.size)?;
            if let Some(d) = data.iter().find(|d| s.addr >= d.addr && end <= d.addr + d.data.len() as u64) {
                let bytes = d.data.get((s.addr - d.addr) as usize..(end - d.addr) as usize)?;
                return Some(Object { start: s.addr, end, name: &s.name, bytes: Some(bytes) });
            }
            elf.zero_fill.iter().any(|&(a, n)| s.addr >= a && end <= a.saturating_add(n)).then_some(Object {
                start: s.addr,
                end,
                name: &s.name,
                bytes: None,
            })
        })
        .collect();
    out.sort_by_key(|o| (o.start, o.end));
    out.dedup_by_key(|o| (o.start, o.end));
    out
}

/// The object holding `addr`, if any (objects may nest: the smallest).
fn holder<'o, 'e>(objs: &'o [Object<'e>], addr: u64) -> Option<&'o Object<'e>> {
    objs.iter().filter(|o| (o.start..o.end).contains(&addr)).min_by_key(|o| o.end - o.start)
}

/// Per privileged call P makes, the pinned reads on its way there.
pub(super) fn pinned(elf: &Elf, p: &Program, sites: &[Site]) -> BTreeMap<(Abi, u32), Vec<Pinned>> {
    let objs = objects(elf);
    if objs.is_empty() {
        return BTreeMap::new();
    }
    // Objects something may write: named by an instruction other than as a plain read there,
    // or pointed to from data.
    let mut escaped: BTreeSet<u64> = BTreeSet::new();
    let mut written: Vec<(u64, u64)> = Vec::new();
    let mut mark = |addr: u64| {
        for o in objs.iter().filter(|o| (o.start..o.end).contains(&addr)) {
            escaped.insert(o.start);
        }
    };
    for f in &p.funcs {
        for i in &f.insns {
            if let Some((a, n)) = i.static_write {
                written.push((a, a.saturating_add(u64::from(n.max(1)))));
            }
            for &r in &i.refs {
                let direct = [i.static_read, i.static_write].iter().flatten().any(|&(a, _)| a == r);
                if !direct {
                    mark(r);
                }
            }
        }
    }
    for d in &elf.data {
        for w in d.data.chunks_exact(8) {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            mark(u64::from_le_bytes(b));
        }
    }

    let func_of = |rip: u64| p.funcs.iter().position(|f| rip > f.start && rip <= f.end);
    let mut out = BTreeMap::new();
    let calls: BTreeSet<(Abi, u32)> =
        sites.iter().filter(|s| s.reachable).flat_map(|s| s.calls.iter().copied()).collect();
    for (abi, nr) in calls.into_iter().filter(|&(a, n)| privileged(a, n)) {
        // Functions from which a direct call chain reaches a site of the call.
        let mut on_way = vec![false; p.funcs.len()];
        let mut work: Vec<usize> = sites
            .iter()
            .filter(|s| s.reachable && s.calls.contains(&(abi, nr)))
            .filter_map(|s| func_of(s.rip))
            .collect();
        // Bounded: each function enters the work list once.
        while let Some(f) = work.pop() {
            if std::mem::replace(&mut on_way[f], true) {
                continue;
            }
            work.extend(p.callers[f].iter().map(|c| c.caller));
        }
        let mut reads: BTreeSet<Pinned> = BTreeSet::new();
        for (fi, f) in p.funcs.iter().enumerate() {
            if !on_way[fi] || !p.reachable[fi] {
                continue;
            }
            for (addr, size) in f.insns.iter().filter_map(|i| i.static_read) {
                if !matches!(size, 1 | 2 | 4 | 8) {
                    continue;
                }
                let Some(o) = holder(&objs, addr) else { continue };
                let Some(end) = addr.checked_add(u64::from(size)) else { continue };
                if escaped.contains(&o.start) || end > o.end || written.iter().any(|&(a, b)| a < end && addr < b) {
                    continue;
                }
                let at = (addr - o.start) as usize;
                let value = match o.bytes {
                    Some(b) => b
                        .get(at..at + usize::from(size))
                        .map_or(0, |v| v.iter().rev().fold(0u64, |acc, &x| (acc << 8) | u64::from(x))),
                    None => 0,
                };
                reads.insert(Pinned { addr, size, value, what: format!("{}+{:#x}", o.name, at) });
            }
        }
        if !reads.is_empty() {
            out.insert((abi, nr), reads.into_iter().take(MAX_PER_CALL).collect());
        }
    }
    out
}

/// The assertions for pinned reads `ps`, one per read so that an alert names the variable and
/// shows the value seen: (label, condition).
pub fn assertions(elf: &Elf, ps: &[Pinned]) -> Vec<(String, String)> {
    ps.iter()
        .map(|p| {
            let ty = match p.size {
                1 => "u8",
                2 => "u16",
                4 => "u32",
                _ => "u64",
            };
            let at = if elf.position_independent { format!("$base + {:#x}", p.addr) } else { format!("{:#x}", p.addr) };
            (format!("pinned {}", p.what), format!("*({ty} *)({at}) == {:#x}", p.value))
        })
        .collect()
}
