//! Inference (`semguard policy infer`): from P's binary — statically linked x86-64 C programs
//! first — derive the system calls P can make, the call sites (user RIPs) of each, arguments
//! that are constant at a site, and a legal-trace automaton; [`emit`] writes them as editable
//! invariant source.
//!
//! How:
//! 1. Disassemble every function ([`disasm`]) and run constant propagation over its CFG
//!    ([`flow`]).
//! 2. At each `syscall` / `int $0x80` / `sysenter`, the number is the constant in eax. If eax
//!    holds the value a register had on entry to the function, the function is a wrapper
//!    (glibc's `syscall()`, or a helper taking the number as a parameter): the number is the
//!    constant that register holds at each direct call of the wrapper, followed through up to
//!    [`MAX_WRAPPER_DEPTH`] levels of wrappers.
//! 3. Reachability: from the entry point, over direct calls and jumps, plus every function
//!    whose address is taken — stored in data (vtables, `.init_array`, `.rela.iplt`) or
//!    loaded by reachable code — since indirect calls may reach any of those.
//! 4. Pinned globals ([`pinned`]): variables read on the way to a privileged call that no
//!    instruction of P writes; the call asserts they still hold their linked values.
//! 5. The automaton ([`trace`]) is the "what may come next" (digram) model over the
//!    interprocedural CFG.
//! 5. Calls the kernel makes P make ([`kernel`]): `rt_sigreturn` through the signal restorer
//!    when P can install a handler, `restart_syscall` after an interrupted sleeping call, and
//!    the self-loops that let the automaton accept them and the restart of an interrupted call.
//!    The automaton is kept per process (per address space): when P may run another task in
//!    its address space (a thread) or a signal handler that makes system calls, whose calls
//!    interleave with P's anywhere, inference emits no automaton ([`Inferred::no_trace`]).

pub mod disasm;
pub mod emit;
pub mod flow;
pub mod kernel;
pub mod pinned;
pub mod trace;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use semguard_core::syscall::{Abi, X32_SYSCALL_BIT};

use crate::diag::{ElfProblem, ToolError};
use crate::elf::Elf;
use crate::ir::AutomatonIr;
use disasm::{reg, Function, Kind};
use flow::{Facts, V};

/// Deepest chain of wrapper functions followed to find a system-call number.
pub const MAX_WRAPPER_DEPTH: usize = 4;

/// Argument registers of the x86-64 and ia32 system-call ABIs.
pub const ARGS_X86_64: [usize; 6] = [reg::RDI, reg::RSI, reg::RDX, reg::R10, reg::R8, reg::R9];
/// ia32: ebx, ecx, edx, esi, edi, ebp.
pub const ARGS_IA32: [usize; 6] = [reg::RBX, reg::RCX, reg::RDX, reg::RSI, reg::RDI, reg::RBP];

/// One system-call instruction of P.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// User RIP of the call: the address after the instruction.
    pub rip: u64,
    /// Function containing it.
    pub func: String,
    /// Offset of the instruction in the function.
    pub offset: u64,
    /// `syscall` → x86-64 (or x32); `int $0x80`/`sysenter` → ia32.
    pub entry_abi: Abi,
    /// Numbers this site can make, with the ABI (x32 when the number has the x32 bit).
    pub calls: BTreeSet<(Abi, u32)>,
    /// Arguments constant at the site (index → value), when the number is constant here.
    pub const_args: BTreeMap<usize, u64>,
    /// The number comes from callers of a wrapper (`func` is that wrapper).
    pub via_wrapper: bool,
    /// Some path reaches the site with a number inference could not determine.
    pub unresolved: bool,
    /// The site's function is reachable.
    pub reachable: bool,
}

/// What inference found.
#[derive(Clone, Debug)]
pub struct Inferred {
    /// Functions analysed.
    pub functions: usize,
    /// Reachable functions.
    pub reachable_functions: usize,
    /// Every system-call instruction, by address.
    pub sites: Vec<Site>,
    /// The legal-trace automaton (no states when [`Inferred::no_trace`] says why there is
    /// none).
    pub automaton: AutomatonIr,
    /// Why P gets no automaton (empty: it gets one).
    pub no_trace: Vec<String>,
    /// Calls the kernel makes P make, and what P's signal handlers may do.
    pub kernel: kernel::KernelCalls,
    /// Things the reviewer should know (unresolved numbers, …).
    pub warnings: Vec<String>,
    /// Per privileged call, P's variables read on the way there and never written
    /// ([`pinned`]).
    pub pinned: BTreeMap<(Abi, u32), Vec<pinned::Pinned>>,
}

impl Inferred {
    /// The system calls of reachable sites.
    pub fn syscalls(&self) -> BTreeSet<(Abi, u32)> {
        self.sites.iter().filter(|s| s.reachable).flat_map(|s| s.calls.iter().copied()).collect()
    }
}

/// A direct call (or tail jump) to a function start.
#[derive(Clone, Debug)]
pub(crate) struct CallSite {
    pub caller: usize,
    pub insn: usize,
}

/// The analysed program shared by the passes.
pub(crate) struct Program {
    pub funcs: Vec<Function>,
    pub facts: Vec<Facts>,
    pub by_start: HashMap<u64, usize>,
    pub callers: Vec<Vec<CallSite>>,
    pub reachable: Vec<bool>,
    pub address_taken: Vec<bool>,
    /// Some path of the function returns to its caller.
    pub may_return: Vec<bool>,
    /// The function holding P's entry point (`_start`), if any.
    pub entry: Option<usize>,
}

fn split_nr(entry_abi: Abi, raw: u64) -> (Abi, u32) {
    let nr = raw as u32;
    match entry_abi {
        Abi::X86_64 if nr & X32_SYSCALL_BIT != 0 && (nr as i32) >= 0 => (Abi::X32, nr & !X32_SYSCALL_BIT),
        abi => (abi, nr),
    }
}

impl Program {
    fn build(elf: &Elf) -> Program {
        let mut info = iced_x86::InstructionInfoFactory::new();
        let funcs: Vec<Function> = disasm::function_ranges(elf)
            .into_iter()
            .filter_map(|(n, s, e)| disasm::function(elf, &n, s, e, &mut info))
            .collect();
        let by_start: HashMap<u64, usize> = funcs.iter().enumerate().map(|(i, f)| (f.start, i)).collect();
        let may_return = may_return(&funcs, &by_start);
        let noreturn = |t: u64| by_start.get(&t).is_some_and(|&g| !may_return[g]);
        let read_only = |addr: u64, indexed: bool, width: u8| read_only_values(elf, addr, indexed, width);
        let env = flow::Env { noreturn: &noreturn, read_only: &read_only };
        let facts = funcs.iter().map(|f| flow::analyse(f, &env)).collect();
        let mut callers = vec![Vec::new(); funcs.len()];
        for (fi, f) in funcs.iter().enumerate() {
            for (k, i) in f.insns.iter().enumerate() {
                let target = match i.kind {
                    Kind::Call(Some(t)) | Kind::Jmp(Some(t)) | Kind::Jcc(t) => t,
                    _ => continue,
                };
                // Jumps inside the function are control flow, not calls.
                if (f.start..f.end).contains(&target) && target != f.start {
                    continue;
                }
                if let Some(&g) = by_start.get(&target) {
                    if g != fi || matches!(i.kind, Kind::Call(_)) {
                        callers[g].push(CallSite { caller: fi, insn: k });
                    }
                }
            }
        }
        let mut p = Program {
            may_return,
            reachable: vec![false; funcs.len()],
            address_taken: vec![false; funcs.len()],
            entry: None,
            funcs,
            facts,
            by_start,
            callers,
        };
        p.reachability(elf);
        p
    }

    fn reachability(&mut self, elf: &Elf) {
        let mut work: Vec<usize> = Vec::new();
        let entry = elf_entry(elf);
        self.entry = self.funcs.iter().position(|f| (f.start..f.end).contains(&entry));
        if let Some(e) = self.entry {
            work.push(e);
        }
        // Code addresses stored in data: vtables, init/fini arrays, IRELATIVE resolvers.
        for d in &elf.data {
            for w in d.data.chunks_exact(8) {
                let mut b = [0u8; 8];
                b.copy_from_slice(w);
                if let Some(&f) = self.by_start.get(&u64::from_le_bytes(b)) {
                    self.address_taken[f] = true;
                    work.push(f);
                }
            }
        }
        while let Some(f) = work.pop() {
            if std::mem::replace(&mut self.reachable[f], true) {
                continue;
            }
            for i in &self.funcs[f].insns {
                if let Kind::Call(Some(t)) | Kind::Jmp(Some(t)) | Kind::Jcc(t) = i.kind {
                    if let Some(&g) = self.by_start.get(&t) {
                        work.push(g);
                    }
                }
                for r in &i.refs {
                    if let Some(&g) = self.by_start.get(r) {
                        self.address_taken[g] = true;
                        work.push(g);
                    }
                }
            }
        }
    }
}

/// Which functions may return (least fixpoint, so a cycle of functions that only call each
/// other never returns): a path from the entry reaches a `ret` (or a jump out of the function
/// to one that may return, or an indirect jump), not passing a call of a function that
/// never returns.
fn may_return(funcs: &[Function], by_start: &HashMap<u64, usize>) -> Vec<bool> {
    let mut ret = vec![false; funcs.len()];
    // Each round can only turn entries to true, so at most one round per function changes
    // anything; the cap keeps a pathological binary bounded.
    for _ in 0..funcs.len().min(256) + 1 {
        let mut changed = false;
        for (fi, f) in funcs.iter().enumerate() {
            if ret[fi] {
                continue;
            }
            let mut seen = vec![false; f.blocks.len()];
            let mut work = vec![0usize];
            seen[0] = true;
            'blocks: while let Some(b) = work.pop() {
                let blk = &f.blocks[b];
                for i in &f.insns[blk.start..blk.end] {
                    if let Kind::Call(Some(t)) = i.kind {
                        if by_start.get(&t).is_some_and(|&g| !ret[g]) {
                            continue 'blocks;
                        }
                    }
                }
                if blk.exits {
                    let last = &f.insns[blk.end - 1];
                    let returns = match last.kind {
                        Kind::Jmp(Some(t)) | Kind::Jcc(t) => by_start.get(&t).is_none_or(|&g| ret[g]),
                        _ => true,
                    };
                    if returns {
                        ret[fi] = true;
                        changed = true;
                        break;
                    }
                }
                for &s in &blk.succs {
                    if !std::mem::replace(&mut seen[s], true) {
                        work.push(s);
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    ret
}

fn elf_entry(elf: &Elf) -> u64 {
    if elf.entry != 0 {
        return elf.entry;
    }
    // No entry in the header: `_start` is the entry of a static C program; fall back to `main`.
    elf.symbols.get("_start").or_else(|| elf.symbols.get("main")).map_or(0, |s| s.addr)
}

/// Whether a data section is read-only (by its name: `.rodata`, `.rodata.*`, `.lrodata`).
fn read_only_section(name: &str) -> bool {
    name.starts_with(".rodata") || name.starts_with(".lrodata")
}

/// The `width`-byte values a load at `addr` may read from P's read-only data: the value there,
/// or (`indexed`: `addr` plus an offset not known) every element of the read-only object —
/// a data symbol with a size — that holds `addr`, or that starts just after it (a table
/// indexed from 1 is addressed as `table - width`). `None` if the memory is not read-only
/// or the object's extent is not known (then the load is not resolved).
fn read_only_values(elf: &Elf, addr: u64, indexed: bool, width: u8) -> Option<Vec<u64>> {
    use crate::elf::SymKind;
    let w = u64::from(width);
    let sec = elf.data.iter().find(|d| {
        read_only_section(&d.name) && addr >= d.addr && addr.saturating_add(w) <= d.addr + d.data.len() as u64
    });
    let value_at = |sec: &crate::elf::CodeSection, a: u64| -> Option<u64> {
        let off = usize::try_from(a.checked_sub(sec.addr)?).ok()?;
        let bytes = sec.data.get(off..off.checked_add(usize::from(width))?)?;
        let mut b = [0u8; 8];
        b[..bytes.len()].copy_from_slice(bytes);
        Some(u64::from_le_bytes(b))
    };
    if !indexed {
        return value_at(sec?, addr).map(|v| vec![v]);
    }
    let i = elf.all_symbols.partition_point(|s| s.addr <= addr);
    let object = |s: &&crate::elf::Sym| s.kind == SymKind::Data && s.size >= w;
    let holding = elf.all_symbols[..i].iter().rev().take(16).filter(object).find(|s| addr < s.addr + s.size);
    let sym = match holding {
        Some(s) => s,
        None => elf.all_symbols[i..].iter().take(4).filter(object).find(|s| s.addr - addr <= 8 * w)?,
    };
    let sec = elf.data.iter().find(|d| {
        read_only_section(&d.name) && sym.addr >= d.addr && sym.addr + sym.size <= d.addr + d.data.len() as u64
    })?;
    // The elements at `addr + k * width` inside the object.
    let first =
        if addr >= sym.addr { addr - (addr - sym.addr) / w * w } else { addr + (sym.addr - addr).div_ceil(w) * w };
    let count = (sym.addr + sym.size).saturating_sub(first) / w;
    if count == 0 || count > flow::MAX_SET as u64 {
        return None;
    }
    (0..count).map(|k| value_at(sec, first + k * w)).collect()
}

/// Values of register `r` (an entry value of `func`) at the direct calls of `func`: the
/// constants found, and whether some caller (or no caller at all) leaves it unknown. A caller
/// passing one of a set of values (a read-only table) that is not `known` leaves it unknown.
fn resolve_param(
    p: &Program,
    func: usize,
    r: u8,
    depth: usize,
    known: &dyn Fn(u64) -> bool,
    out: &mut BTreeSet<u64>,
) -> bool {
    let mut unresolved = false;
    let callers: Vec<&CallSite> = p.callers[func].iter().filter(|c| p.reachable[c.caller]).collect();
    if callers.is_empty() || depth >= MAX_WRAPPER_DEPTH {
        return true;
    }
    for c in callers {
        let facts = &p.facts[c.caller];
        match facts.get(c.insn).map(|s| s[usize::from(r)]) {
            Some(V::Entry(r2)) => unresolved |= resolve_param(p, c.caller, r2, depth + 1, known, out),
            // An unreachable call.
            Some(V::Undef) => {}
            Some(V::Const(v)) => {
                out.insert(v);
            }
            Some(V::Set(set)) => {
                for &v in facts.sets.get(set) {
                    if known(v) {
                        out.insert(v);
                    } else {
                        unresolved = true;
                    }
                }
            }
            Some(V::Any) | None => unresolved = true,
        }
    }
    unresolved
}

/// Runs inference on P.
pub fn infer(elf: &Elf) -> Result<Inferred, ToolError> {
    if !elf.x86_64 {
        return Err(ToolError::elf(&elf.path, ElfProblem::NotX86_64));
    }
    if elf.code.is_empty() {
        return Err(ToolError::elf(&elf.path, ElfProblem::NoCode));
    }
    if let Some(interpreter) = &elf.interpreter {
        return Err(ToolError::elf(&elf.path, ElfProblem::DynamicallyLinked { interpreter: interpreter.clone() }));
    }
    let p = Program::build(elf);
    let mut sites = Vec::new();
    let mut site_of: HashMap<(usize, usize), usize> = HashMap::new();
    let mut warnings = Vec::new();
    for (fi, f) in p.funcs.iter().enumerate() {
        for (k, i) in f.insns.iter().enumerate() {
            let entry_abi = match i.kind {
                Kind::Syscall => Abi::X86_64,
                Kind::Int80 => Abi::Ia32,
                _ => continue,
            };
            let facts = &p.facts[fi];
            let st = facts.get(k).copied().unwrap_or(flow::State::UNDEF);
            let arg_regs = if entry_abi == Abi::Ia32 { ARGS_IA32 } else { ARGS_X86_64 };
            let mut site = Site {
                rip: i.next,
                func: f.name.clone(),
                offset: i.ip - f.start,
                entry_abi,
                calls: BTreeSet::new(),
                const_args: BTreeMap::new(),
                via_wrapper: false,
                unresolved: false,
                reachable: p.reachable[fi],
            };
            match st[reg::RAX] {
                V::Const(n) => {
                    site.calls.insert(split_nr(entry_abi, n));
                    for (a, &r) in arg_regs.iter().enumerate() {
                        if let V::Const(v) = st[r] {
                            let v = if entry_abi == Abi::Ia32 { v & 0xffff_ffff } else { v };
                            site.const_args.insert(a, v);
                        }
                    }
                }
                // One of several constants (paths that disagree, a read-only table). A number
                // no system call has means the values were not what they seemed (a table
                // misread): then the site counts as not resolved.
                V::Set(set) => {
                    for &n in facts.sets.get(set) {
                        let (abi, nr) = split_nr(entry_abi, n);
                        if semguard_core::syscall_names::name(abi, nr).is_some() {
                            site.calls.insert((abi, nr));
                        } else {
                            site.unresolved = true;
                        }
                    }
                }
                V::Entry(r) => {
                    site.via_wrapper = true;
                    let mut nrs = BTreeSet::new();
                    let known = |n: u64| {
                        let (abi, nr) = split_nr(entry_abi, n);
                        semguard_core::syscall_names::name(abi, nr).is_some()
                    };
                    site.unresolved = resolve_param(&p, fi, r, 0, &known, &mut nrs);
                    site.calls.extend(nrs.into_iter().map(|n| split_nr(entry_abi, n)));
                }
                // Dead code (after a call that never returns, or after exit_group).
                V::Undef => site.reachable = false,
                V::Any => site.unresolved = true,
            }
            if site.unresolved && site.reachable {
                warnings.push(format!(
                    "{:#x} ({}+{:#x}): the system-call number is not a constant on every path{}",
                    site.rip - 2,
                    site.func,
                    site.offset,
                    if site.calls.is_empty() {
                        String::new()
                    } else {
                        format!(" (found {} of them)", site.calls.len())
                    }
                ));
            }
            site_of.insert((fi, k), sites.len());
            sites.push(site);
        }
    }
    let kernel = kernel::analyse(elf, &p, &sites);
    let tasks = tasks(elf, &sites);
    let mut no_trace = Vec::new();
    if !tasks.is_empty() {
        no_trace.push(format!("P may create threads ({})", tasks.join(", ")));
    }
    if let kernel::Handlers::MakeCalls(why) = &kernel.handlers {
        no_trace.push(format!("P may install a signal handler that makes system calls ({})", why.join(", ")));
    }
    let automaton = if no_trace.is_empty() {
        let mut a = trace::automaton(&p, &sites, &site_of);
        kernel::self_loops(&mut a, &kernel);
        a
    } else {
        AutomatonIr { states: Vec::new(), initial: 0, transitions: Vec::new() }
    };
    let reachable_functions = p.reachable.iter().filter(|r| **r).count();
    let pinned = pinned::pinned(elf, &p, &sites);
    Ok(Inferred { functions: p.funcs.len(), reachable_functions, sites, automaton, no_trace, kernel, warnings, pinned })
}

/// What P's binary shows about the things that make another writer of P's memory, each with
/// whether it is another task in P's address space (a thread, a `vfork` child), whose calls
/// interleave with P's own.
fn writer_findings(elf: &Elf, sites: &[Site]) -> Vec<(String, bool)> {
    use semguard_core::syscall_names;
    let mut out = Vec::new();
    for s in sites.iter().filter(|s| s.reachable) {
        let at = format!("{:#x} ({}+{:#x})", s.rip, s.func, s.offset);
        for &(abi, nr) in &s.calls {
            let Some(name) = syscall_names::name(abi, nr) else { continue };
            let constant = |i: usize| if s.via_wrapper { None } else { s.const_args.get(&i).copied() };
            let (why, task) = match name {
                "clone" => match constant(0) {
                    Some(f) if f & crate::classes::CLONE_SHARES_MEMORY != 0 => {
                        ("clone with CLONE_VM or CLONE_THREAD", true)
                    }
                    Some(_) => continue,
                    // glibc's clone() wrapper passes its caller's flags: it may make a thread.
                    None => ("clone with flags not known at the call site", true),
                },
                "clone3" => ("clone3", true),
                "vfork" => ("vfork", true),
                "mmap" | "mmap2" => match constant(3) {
                    Some(f) if matches!(f & 0xf, 1 | 3) => ("mmap with MAP_SHARED", false),
                    _ => continue,
                },
                "ptrace" | "shmat" | "io_uring_setup" | "io_setup" | "process_vm_writev" | "userfaultfd" => {
                    (name, false)
                }
                _ => continue,
            };
            out.push((format!("{why} at {at}"), task));
        }
    }
    for sym in ["pthread_create", "thrd_create"] {
        if elf.symbols.contains_key(sym) {
            out.push((format!("P links {sym}"), true));
        }
    }
    out
}

/// Why P may run another task in its address space (a thread, a `vfork` child): `clone` with
/// `CLONE_VM` or `CLONE_THREAD` or flags not known, `clone3`, `vfork`, `pthread_create` or
/// `thrd_create` linked. Empty: none found.
pub fn tasks(elf: &Elf, sites: &[Site]) -> Vec<String> {
    writer_findings(elf, sites).into_iter().filter(|w| w.1).map(|w| w.0).collect()
}

/// Why another writer may change P's memory while P is stopped at a system call, as far as
/// P's binary shows (empty: none found): call sites that create threads (`clone` with
/// constant `CLONE_VM` or `CLONE_THREAD` flags, `clone3`, `vfork`), a thread-creating libc
/// function, and P's own calls that `single_writer` denies (so inference must not turn it
/// on): `ptrace`, `shmat`, io_uring, AIO, `process_vm_writev`, `userfaultfd`, and `mmap`
/// with constant `MAP_SHARED` flags. A `clone` whose flags are not known at its site (glibc's
/// `clone()` wrapper, which passes its caller's) counts: it may make a thread.
pub fn other_writers(elf: &Elf, inf: &Inferred) -> Vec<String> {
    writer_findings(elf, &inf.sites).into_iter().map(|w| w.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::{CodeSection, Sym, SymKind};

    fn elf_with_rodata(name: &str) -> Elf {
        let mut data = Vec::new();
        for v in [39u32, 102, 107, 104] {
            data.extend_from_slice(&v.to_le_bytes());
        }
        Elf {
            // `pad` (4 bytes) then `table` (3 entries) at 0x5004.
            all_symbols: vec![
                Sym { name: "pad".into(), addr: 0x5000, size: 4, kind: SymKind::Data, global: false },
                Sym { name: "table".into(), addr: 0x5004, size: 12, kind: SymKind::Data, global: false },
            ],
            data: vec![CodeSection { name: name.into(), addr: 0x5000, data }],
            ..Elf::empty("t")
        }
    }

    #[test]
    fn read_only_tables_give_their_entries() {
        let elf = elf_with_rodata(".rodata");
        assert_eq!(read_only_values(&elf, 0x5008, false, 4), Some(vec![107]));
        assert_eq!(read_only_values(&elf, 0x5004, true, 4), Some(vec![102, 107, 104]));
        // Inside the table: its elements at that alignment.
        assert_eq!(read_only_values(&elf, 0x5008, true, 4), Some(vec![102, 107, 104]));
        assert_eq!(read_only_values(&elf, 0x5004, true, 1), Some(vec![102, 0, 0, 0, 107, 0, 0, 0, 104, 0, 0, 0]));
        assert_eq!(read_only_values(&elf, 0x5004, true, 8), Some(vec![0x0000_006b_0000_0066]));
        // A table indexed from 1 (`table - 4`) that starts where no object holds the address:
        // here `pad` holds it, so pad's element is what is read.
        assert_eq!(read_only_values(&elf, 0x5000, true, 4), Some(vec![39]));
        // `table - 4` where no object holds the address: the object right after it.
        assert_eq!(read_only_values(&elf, 0x4ffc, true, 4), Some(vec![39]));
        // Outside any object or past the data: nothing known.
        assert_eq!(read_only_values(&elf, 0x5010, true, 4), None);
        assert_eq!(read_only_values(&elf, 0x6000, false, 4), None);
        // Writable data is not a table.
        let elf = elf_with_rodata(".data");
        assert_eq!(read_only_values(&elf, 0x5004, true, 4), None);
        assert_eq!(read_only_values(&elf, 0x5008, false, 4), None);
    }
}
