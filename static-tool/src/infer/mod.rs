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
//! 4. The automaton ([`trace`]) is the "what may come next" (digram) model over the
//!    interprocedural CFG.

pub mod disasm;
pub mod emit;
pub mod flow;
pub mod trace;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use semguard_core::syscall::{Abi, X32_SYSCALL_BIT};

use crate::diag::{ElfProblem, ToolError};
use crate::elf::Elf;
use crate::ir::AutomatonIr;
use disasm::{reg, Function, Kind};
use flow::{State, V};

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
    /// The legal-trace automaton.
    pub automaton: AutomatonIr,
    /// Things the reviewer should know (unresolved numbers, …).
    pub warnings: Vec<String>,
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
    pub states: Vec<Vec<State>>,
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
        let states = funcs.iter().map(|f| flow::analyse(f, &noreturn)).collect();
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
            states,
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

/// Values of register `r` (an entry value of `func`) at the direct calls of `func`: the
/// constants found, and whether some caller (or no caller at all) leaves it unknown.
fn resolve_param(p: &Program, func: usize, r: u8, depth: usize, out: &mut BTreeSet<u64>) -> bool {
    let mut unresolved = false;
    let callers: Vec<&CallSite> = p.callers[func].iter().filter(|c| p.reachable[c.caller]).collect();
    if callers.is_empty() || depth >= MAX_WRAPPER_DEPTH {
        return true;
    }
    for c in callers {
        match p.states[c.caller].get(c.insn).map(|s| s[usize::from(r)]) {
            Some(V::Const(v)) => {
                out.insert(v);
            }
            Some(V::Entry(r2)) => unresolved |= resolve_param(p, c.caller, r2, depth + 1, out),
            _ => unresolved = true,
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
            let st = p.states[fi][k];
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
                V::Entry(r) => {
                    site.via_wrapper = true;
                    let mut nrs = BTreeSet::new();
                    site.unresolved = resolve_param(&p, fi, r, 0, &mut nrs);
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
    let automaton = trace::automaton(&p, &sites, &site_of);
    let reachable_functions = p.reachable.iter().filter(|r| **r).count();
    Ok(Inferred { functions: p.funcs.len(), reachable_functions, sites, automaton, warnings })
}

/// Why another writer may change P's memory while P is stopped at a system call, as far as
/// P's binary shows (empty: none found): call sites that create threads (`clone` with
/// constant `CLONE_VM` or `CLONE_THREAD` flags, `clone3`, `vfork`), a thread-creating libc
/// function, and P's own calls that `single_writer` denies (so inference must not turn it
/// on): `ptrace`, `shmat`, io_uring, AIO, `process_vm_writev`, `userfaultfd`, and `mmap`
/// with constant `MAP_SHARED` flags. A `clone` whose flags are not constant (glibc's
/// `clone()` wrapper) does not count by itself: glibc creates threads with `clone3`, and
/// `pthread_create` is found by its symbol.
pub fn other_writers(elf: &Elf, inf: &Inferred) -> Vec<String> {
    use semguard_core::syscall_names;
    let mut out = Vec::new();
    for s in inf.sites.iter().filter(|s| s.reachable) {
        let at = format!("{:#x} ({}+{:#x})", s.rip, s.func, s.offset);
        for &(abi, nr) in &s.calls {
            let Some(name) = syscall_names::name(abi, nr) else { continue };
            let constant = |i: usize| if s.via_wrapper { None } else { s.const_args.get(&i).copied() };
            let why = match name {
                "clone" => match constant(0) {
                    Some(f) if f & crate::classes::CLONE_SHARES_MEMORY != 0 => "clone with CLONE_VM or CLONE_THREAD",
                    Some(_) => continue,
                    // glibc's clone() wrapper passes its caller's flags: it may make a thread.
                    None => "clone with flags not known at the call site",
                },
                "clone3" => "clone3",
                "vfork" => "vfork",
                "mmap" | "mmap2" => match constant(3) {
                    Some(f) if matches!(f & 0xf, 1 | 3) => "mmap with MAP_SHARED",
                    _ => continue,
                },
                "ptrace" | "shmat" | "io_uring_setup" | "io_setup" | "process_vm_writev" | "userfaultfd" => name,
                _ => continue,
            };
            out.push(format!("{why} at {at}"));
        }
    }
    for sym in ["pthread_create", "thrd_create"] {
        if elf.symbols.contains_key(sym) {
            out.push(format!("P links {sym}"));
        }
    }
    out
}
