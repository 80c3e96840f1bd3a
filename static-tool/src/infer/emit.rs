//! Writes inference results as invariant source a person can review and edit (see
//! `LANGUAGE.md`): default deny; per system call the call sites it may come from; per site
//! the arguments that are constant there; the legal-trace automaton.

use std::collections::BTreeMap;
use std::fmt::Write;

use semguard_core::syscall::Abi;
use semguard_core::syscall_names;

use super::kernel::{self, Handlers};
use super::{Inferred, Site};
use crate::elf::Elf;
use crate::sysargs::{self, ArgTy};

/// How a call is named in source: `write`, `ia32:open`, `x32:0`, or a number.
pub fn call_text(abi: Abi, nr: u32) -> String {
    let prefix = match abi {
        Abi::X86_64 => "",
        Abi::Ia32 => "ia32:",
        Abi::X32 => "x32:",
    };
    match syscall_names::name(abi, nr) {
        Some(n) => format!("{prefix}{n}"),
        None => format!("{prefix}{nr}"),
    }
}

/// A constant argument as a literal of the argument's C type.
fn literal(ty: ArgTy, abi: Abi, v: u64) -> String {
    match ty {
        ArgTy::Int { size, signed, word } => {
            let size = if word && abi == Abi::Ia32 { 4 } else { size };
            let bits = u32::from(size) * 8;
            let v = if bits >= 64 { v } else { v & ((1u64 << bits) - 1) };
            if signed {
                let s = if bits >= 64 { v as i64 } else { ((v << (64 - bits)) as i64) >> (64 - bits) };
                if s.unsigned_abs() < 4096 {
                    s.to_string()
                } else if s < 0 {
                    format!("-{:#x}", s.unsigned_abs())
                } else {
                    format!("{s:#x}")
                }
            } else if v < 4096 {
                v.to_string()
            } else {
                format!("{v:#x}")
            }
        }
        _ => format!("{v:#x}"),
    }
}

/// The C string at `addr` in P's read-only data, if there is a short printable one.
fn string_at(elf: &Elf, addr: u64) -> Option<String> {
    let sec = elf.data.iter().find(|d| addr >= d.addr && addr < d.addr + d.data.len() as u64)?;
    let bytes = sec.data.get((addr - sec.addr) as usize..)?;
    let end = bytes.iter().take(80).position(|&b| b == 0)?;
    let s = std::str::from_utf8(&bytes[..end]).ok()?;
    if s.chars().all(|c| (' '..='~').contains(&c)) && !s.contains("*/") {
        Some(s.to_string())
    } else {
        None
    }
}

/// Calls the x86-64 vDSO implements and may fall back to with its own `syscall`; and
/// `getrandom` when P looks up Linux 6.11's vDSO `getrandom` (its name is in P's data, as
/// libcs look vDSO functions up by name).
fn from_vdso(elf: &Elf, abi: Abi, nr: u32) -> bool {
    abi == Abi::X86_64
        && match syscall_names::name(abi, nr) {
            Some("clock_gettime" | "gettimeofday" | "time" | "getcpu" | "clock_getres") => true,
            Some("getrandom") => {
                let name = b"__vdso_getrandom\0";
                elf.data.iter().any(|d| d.data.windows(name.len()).any(|w| w == name))
            }
            _ => false,
        }
}

fn where_(s: &Site) -> String {
    format!("{}+{:#x}", s.func, s.offset)
}

/// Names a user RIP: `function+offset` of the instruction before it.
fn where_rip(elf: &Elf, inf: &Inferred, rip: u64) -> String {
    if let Some(s) = inf.sites.iter().find(|s| s.rip == rip) {
        return where_(s);
    }
    match elf.function_at(rip - 2) {
        Some(f) => format!("{}+{:#x}", f.name, rip - 2 - f.addr),
        None => format!("{:#x}", rip - 2),
    }
}

/// `from A, B, …;` lines, each site commented with where it is.
fn from_lines(o: &mut String, sites: &[(u64, String)]) {
    for (k, (rip, what)) in sites.iter().enumerate() {
        let lead = if k == 0 { "    from " } else { "         " };
        let end = if k + 1 == sites.len() { ";" } else { "," };
        let _ = writeln!(o, "{lead}{rip:#x}{end}  # {what}");
    }
}

/// The constant naming the signal handlers the inferred policy lets P install when it keeps
/// the trace: SIG_DFL, SIG_IGN and P's address-taken functions that make no system call.
const QUIET: &str = "QUIET_HANDLERS";

fn quiet_handlers(o: &mut String, silent: &[(u64, String)]) {
    let _ = writeln!(o, "\n# Signal handlers P may install (see rt_sigaction): SIG_DFL, SIG_IGN and P's functions");
    let _ = writeln!(o, "# whose address is taken and that make no system call.");
    let _ = writeln!(o, "const {QUIET} = {{");
    let _ = writeln!(o, "    0, 1,  # SIG_DFL, SIG_IGN");
    for (addr, name) in silent {
        let _ = writeln!(o, "    {addr:#x},  # {name}");
    }
    let _ = writeln!(o, "}};");
}

/// The guard that keeps the trace sound when P installs signal handlers: the handler being
/// installed is one of [`QUIET`]. The kernel's `struct sigaction` has the handler first.
const HANDLER_GUARD: &str =
    "    # The trace holds only while no signal handler makes a system call (one runs between any
    # two of P's calls): installing one that does is refused (the handler is first in `act`).
    assert handler_makes_no_call: rt_sigaction.act == 0 || *(u64 *)rt_sigaction.act in QUIET_HANDLERS;
";

/// The constant-argument assertion for one site and call, if any argument is constant.
fn const_assert(elf: &Elf, abi: Abi, nr: u32, s: &Site) -> Option<(String, Vec<String>)> {
    if s.via_wrapper || s.const_args.is_empty() {
        return None;
    }
    let name = syscall_names::name(abi, nr)?;
    let args = sysargs::args(name)?;
    let mut conds = Vec::new();
    let mut notes = Vec::new();
    for (i, (arg, ty)) in args.iter().enumerate() {
        let Some(&v) = s.const_args.get(&i) else { continue };
        // An address in a position-independent P's image is an offset from its load base.
        let in_image =
            |v: u64| elf.code.iter().chain(&elf.data).any(|d| v >= d.addr && v - d.addr < d.data.len() as u64);
        let value = match ty {
            ArgTy::Int { .. } => literal(*ty, abi, v),
            _ if elf.position_independent && in_image(v) => format!("$base + {v:#x}"),
            _ => literal(*ty, abi, v),
        };
        conds.push(format!("{name}.{arg} == {value}"));
        if matches!(ty, ArgTy::CharPtr | ArgTy::Path) {
            if let Some(text) = string_at(elf, v) {
                notes.push(format!("{name}.{arg} points to \"{text}\""));
            }
        }
    }
    if conds.is_empty() {
        return None;
    }
    Some((conds.join(" && "), notes))
}

/// The invariant source for `inf`.
pub fn source(elf: &Elf, inf: &Inferred) -> String {
    let mut o = String::new();
    let reachable_sites: Vec<&Site> = inf.sites.iter().filter(|s| s.reachable).collect();
    let calls = inf.syscalls();
    let _ = writeln!(o, "# Inferred by `semguard policy infer` from {}.", elf.path);
    let _ = writeln!(
        o,
        "# {} functions ({} reachable), {} system-call instructions ({} reachable), {} distinct calls.",
        inf.functions,
        inf.reachable_functions,
        inf.sites.len(),
        reachable_sites.len(),
        calls.len()
    );
    let _ = writeln!(o, "#");
    let _ = writeln!(o, "# Review before compiling. Every call P can make is allowed only from the call sites");
    let _ = writeln!(o, "# (user RIPs after the system-call instruction) where it was found; arguments that are");
    let _ = writeln!(o, "# constant at a site are asserted there. Calls the kernel makes P make (rt_sigreturn");
    let _ = writeln!(o, "# when a signal handler returns, restart_syscall after an interrupted sleep) are allowed");
    let _ = writeln!(o, "# where the kernel makes them. The trace is a may-follow over-approximation of P's");
    let _ = writeln!(o, "# control flow, kept per process: none is emitted for a P that may create threads or");
    let _ = writeln!(o, "# install a signal handler that makes system calls (their calls interleave with P's).");
    for w in &inf.warnings {
        let _ = writeln!(o, "# warning: {w}");
    }
    let writers = super::other_writers(elf, inf);
    let _ = writeln!(o, "\npolicy {{\n    default deny;\n    other_abis deny;");
    if writers.is_empty() {
        let _ =
            writeln!(o, "    # P never creates threads or shares its memory (no clone with CLONE_VM or CLONE_THREAD,");
        let _ = writeln!(o, "    # no clone3 or vfork, no pthread_create, no shared mapping): P is the only writer of");
        let _ = writeln!(o, "    # its memory, so what the checker reads is what the kernel reads. Keep it that way:");
        let _ = writeln!(o, "    single_writer;");
    } else {
        let _ = writeln!(o, "    # single_writer is off: P may create threads or share its memory:");
        for w in &writers {
            let _ = writeln!(o, "    #   {w}");
        }
        let _ =
            writeln!(o, "    # so another thread can change what an invariant reads from P's memory after the check");
        let _ = writeln!(o, "    # (LANGUAGE.md, \"Time of check and time of use\").");
    }
    let _ = writeln!(o, "}}");
    let unused: Vec<&str> = crate::classes::ASYNC_IO
        .iter()
        .copied()
        .filter(|c| syscall_names::number(Abi::X86_64, c).is_none_or(|nr| !calls.contains(&(Abi::X86_64, nr))))
        .collect();
    if !unused.is_empty() {
        let _ =
            writeln!(o, "\n# io_uring and AIO read and write P's memory without a system call per operation; P does");
        let _ = writeln!(o, "# not use them. Denied explicitly, so the policy stays safe if `default` is changed.");
        let _ = writeln!(o, "syscall {} deny;", unused.join(", "));
    }

    let mut by_call: BTreeMap<(Abi, u32), Vec<&Site>> = BTreeMap::new();
    for s in &reachable_sites {
        for c in &s.calls {
            by_call.entry(*c).or_default().push(s);
        }
    }
    let guard = match &inf.kernel.handlers {
        Handlers::Silent { silent, .. } => {
            quiet_handlers(&mut o, silent);
            Some(HANDLER_GUARD)
        }
        _ => None,
    };
    let guarded = |abi: Abi, nr: u32| abi == Abi::X86_64 && syscall_names::name(abi, nr) == Some("rt_sigaction");
    for (&(abi, nr), sites) in &by_call {
        // Emitted with the other calls the kernel makes P make, below.
        if kernel::induced(abi, nr) {
            continue;
        }
        let name = call_text(abi, nr);
        let _ = writeln!(o, "\n# {} — {} call site(s)", name, sites.len());
        if from_vdso(elf, abi, nr) {
            // The vDSO's own fallback `syscall` makes these too, from an address only known
            // at run time: no call-site restriction.
            let _ = writeln!(o, "# (also made by the vDSO at a run-time address, so allowed from any site)");
            let _ = writeln!(o, "syscall {name} {{ }}");
            continue;
        }
        let guard = guard.filter(|_| guarded(abi, nr));
        // P's variables on the way to a privileged call that P never writes: still as linked.
        let pinned_text = inf.pinned.get(&(abi, nr)).map(|ps| {
            let mut t = String::from(
                "    # P reads these on its way here and no instruction of P writes them:
",
            );
            for p in ps {
                let _ = writeln!(t, "    #   {:#x} {} ({} bytes, linked as {:#x})", p.addr, p.what, p.size, p.value);
            }
            for (label, cond) in super::pinned::assertions(elf, ps) {
                let _ = writeln!(t, "    assert \"{label}\": {cond};");
            }
            t
        });
        let _ = writeln!(o, "syscall {name} {{");
        let from: Vec<(u64, String)> = sites
            .iter()
            .map(|s| (s.rip, format!("{}{}", where_(s), if s.via_wrapper { " (wrapper)" } else { "" })))
            .collect();
        from_lines(&mut o, &from);
        o.push_str(guard.unwrap_or(""));
        o.push_str(pinned_text.as_deref().unwrap_or(""));
        let _ = writeln!(o, "}}");
        for s in sites {
            if let Some((cond, notes)) = const_assert(elf, abi, nr, s) {
                let _ = writeln!(o, "syscall {name} at {:#x} {{  # {}", s.rip, where_(s));
                for n in notes {
                    let _ = writeln!(o, "    # {n}");
                }
                let _ = writeln!(o, "    assert {cond};");
                // A site rule replaces the any-site rules at its site: the guards again.
                o.push_str(guard.unwrap_or(""));
                o.push_str(pinned_text.as_deref().unwrap_or(""));
                let _ = writeln!(o, "}}");
            }
        }
    }

    // Calls the kernel makes P make.
    let sigreturn = syscall_names::number(Abi::X86_64, "rt_sigreturn").map(|n| (Abi::X86_64, n));
    let found_sigreturn: Vec<&Site> = sigreturn.and_then(|c| by_call.get(&c)).cloned().unwrap_or_default();
    if inf.kernel.sigreturn() || !found_sigreturn.is_empty() {
        let mut from: Vec<(u64, String)> = found_sigreturn.iter().map(|s| (s.rip, where_(s))).collect();
        for &r in &inf.kernel.restorers {
            if !from.iter().any(|f| f.0 == r) {
                from.push((r, where_rip(elf, inf, r)));
            }
        }
        from.sort();
        let _ =
            writeln!(o, "\n# rt_sigreturn — the kernel returns from a signal handler through the restorer it put on");
        let _ = writeln!(o, "# the handler's stack; P's code never calls it.");
        if inf.kernel.sigreturn() {
            let _ = writeln!(o, "# Needed: P makes rt_sigaction, so it may install a handler.");
        }
        if from.is_empty() {
            let _ = writeln!(o, "# The restorer (mov $15, %eax; syscall) was not found in P: allowed from any site.");
            let _ = writeln!(o, "syscall rt_sigreturn {{ }}");
        } else {
            let _ = writeln!(o, "# Only from P's restorer (mov $15, %eax; syscall).");
            let _ = writeln!(o, "syscall rt_sigreturn {{");
            from_lines(&mut o, &from);
            let _ = writeln!(o, "}}");
        }
    }
    if !inf.kernel.other_sigreturns.is_empty() {
        let list: Vec<String> = inf.kernel.other_sigreturns.iter().map(|&(a, n)| call_text(a, n)).collect();
        let _ = writeln!(o, "\n# P installs signal handlers through another ABI too: their returns, from any site.");
        let _ = writeln!(o, "syscall {} {{ }}", list.join(", "));
    }
    for (&abi, sites) in &inf.kernel.restart {
        let Some(nr) = syscall_names::number(abi, "restart_syscall") else { continue };
        let from: Vec<(u64, String)> = sites.iter().map(|&r| (r, where_rip(elf, inf, r))).collect();
        let _ = writeln!(
            o,
            "\n# {} — the kernel resumes a sleeping call interrupted by a signal that ran no",
            call_text(abi, nr)
        );
        let _ = writeln!(o, "# handler (stop and continue) by re-executing its instruction with this number: from the");
        let _ = writeln!(o, "# sites of P's restartable calls (nanosleep, clock_nanosleep, poll, futex, …).");
        let _ = writeln!(o, "syscall {} {{", call_text(abi, nr));
        from_lines(&mut o, &from);
        let _ = writeln!(o, "}}");
    }

    // A site whose number is not known on every path may make any of the calls P makes
    // elsewhere — never one the policy denies, never the kernel's own (above).
    let denied: Vec<&str> = unused.clone();
    let unresolved: Vec<&&Site> = reachable_sites.iter().filter(|s| s.unresolved).collect();
    for s in unresolved {
        // `syscall` makes x86-64 (or x32) calls, `int $0x80` ia32 ones.
        let all = calls
            .iter()
            .filter(|(abi, _)| (*abi == Abi::Ia32) == (s.entry_abi == Abi::Ia32))
            .filter(|&&(abi, nr)| !kernel::induced(abi, nr))
            .filter(|&&(abi, nr)| {
                !(abi == Abi::X86_64 && syscall_names::name(abi, nr).is_some_and(|n| denied.contains(&n)))
            })
            .map(|&(abi, nr)| call_text(abi, nr))
            .collect::<Vec<_>>();
        if all.is_empty() {
            let _ = writeln!(
                o,
                "\n# {:#x} ({}): number unknown on some path, and P makes no other {} call: nothing allowed",
                s.rip,
                where_(s),
                if s.entry_abi == Abi::Ia32 { "ia32" } else { "x86-64" }
            );
            continue;
        }
        let _ = writeln!(o, "\n# {:#x} ({}): number unknown on some path, so any of P's calls", s.rip, where_(s));
        let _ = writeln!(o, "syscall {}\n    at {:#x} allow;", all.join(", "), s.rip);
    }

    if !inf.no_trace.is_empty() {
        o.push('\n');
        for why in &inf.no_trace {
            let _ = writeln!(o, "# no trace: {why} and the automaton is kept per process:");
        }
        let _ = writeln!(o, "#   another thread's or a handler's calls come between any two of P's own, which the");
        let _ = writeln!(o, "#   automaton's one state (P's last call) cannot follow.");
        return o;
    }
    let a = &inf.automaton;
    let _ = writeln!(o, "\n# Legal-trace automaton: {} states, {} transitions.", a.states.len(), a.transitions.len());
    let _ = writeln!(o, "trace {} {{", a.states.first().map_or("start", String::as_str));
    let mut by_from: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for &(from, abi, nr, to) in &a.transitions {
        let target = a.states.get(to as usize).map_or("?", String::as_str);
        by_from.entry(from).or_default().push(format!("{} -> {target}", call_text(abi, nr)));
    }
    for (from, ts) in by_from {
        let state = a.states.get(from as usize).map_or("?", String::as_str);
        let _ = write!(o, "    {state}:");
        let mut col = 5 + state.len();
        for (k, t) in ts.iter().enumerate() {
            let piece = if k + 1 == ts.len() { format!(" {t};") } else { format!(" {t},") };
            if col + piece.len() > 100 {
                let _ = write!(o, "\n       ");
                col = 7;
            }
            col += piece.len();
            o.push_str(&piece);
        }
        o.push('\n');
    }
    let _ = writeln!(o, "}}");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_follow_the_argument_type() {
        let int = ArgTy::Int { size: 4, signed: true, word: false };
        assert_eq!(literal(int, Abi::X86_64, 0xffff_ff9c), "-100");
        assert_eq!(literal(int, Abi::X86_64, 0xffff_ffff_ffff_ff9c), "-100");
        assert_eq!(literal(int, Abi::X86_64, 0x8000_0000), "-0x80000000");
        let uint = ArgTy::Int { size: 4, signed: false, word: false };
        assert_eq!(literal(uint, Abi::X86_64, 0x1_0000_0002), "2");
        let size = ArgTy::Int { size: 8, signed: false, word: true };
        assert_eq!(literal(size, Abi::X86_64, 0x1_0000_0000), "0x100000000");
        assert_eq!(literal(size, Abi::Ia32, 0x1_0000_0010), "16");
        assert_eq!(literal(ArgTy::CharPtr, Abi::X86_64, 0x48ef58), "0x48ef58");
        assert_eq!(call_text(Abi::Ia32, 5), "ia32:open");
        assert_eq!(call_text(Abi::X86_64, 9999), "9999");
    }

    fn site(rip: u64, entry_abi: Abi, calls: &[(Abi, u32)], unresolved: bool) -> Site {
        Site {
            rip,
            func: "f".into(),
            offset: rip - 0x1002,
            entry_abi,
            calls: calls.iter().copied().collect(),
            const_args: Default::default(),
            via_wrapper: false,
            unresolved,
            reachable: true,
        }
    }

    #[test]
    fn unresolved_sites_allow_only_what_p_makes_elsewhere() {
        let elf = Elf::empty("t");
        let x = |n: &str| (Abi::X86_64, syscall_names::number(Abi::X86_64, n).unwrap());
        let inf = Inferred {
            functions: 1,
            reachable_functions: 1,
            sites: vec![
                site(0x1010, Abi::X86_64, &[x("write"), x("nanosleep")], false),
                site(0x1020, Abi::X86_64, &[x("rt_sigreturn")], false),
                // Unresolved: a `syscall` and an `int $0x80` (P makes no ia32 call).
                site(0x1030, Abi::X86_64, &[], true),
                site(0x1040, Abi::Ia32, &[], true),
            ],
            automaton: crate::ir::AutomatonIr { states: Vec::new(), initial: 0, transitions: Vec::new() },
            no_trace: vec!["P may create threads (P links pthread_create)".into()],
            kernel: kernel::KernelCalls {
                handlers: Handlers::None,
                restorers: vec![0x1020],
                restart: [(Abi::X86_64, vec![0x1010, 0x1030])].into_iter().collect(),
                other_sigreturns: Vec::new(),
            },
            warnings: Vec::new(),
            pinned: Default::default(),
        };
        let src = source(&elf, &inf);
        // The unresolved `syscall` may make what P makes elsewhere, not the kernel's calls or
        // the denied io_uring and AIO calls.
        assert!(src.contains("\nsyscall write, nanosleep\n    at 0x1030 allow;\n"), "{src}");
        // P makes no ia32 call: nothing for the `int $0x80`, and no invalid empty rule.
        assert!(
            src.contains("# 0x1040 (f+0x3e): number unknown on some path, and P makes no other ia32 call"),
            "{src}"
        );
        assert!(!src.contains("syscall \n"), "{src}");
        // rt_sigreturn found at a site: from it; restart_syscall from the sleep and the
        // unresolved site.
        assert!(src.contains("syscall rt_sigreturn {\n    from 0x1020;"), "{src}");
        assert!(src.contains("syscall restart_syscall {\n    from 0x1010,  # f+0xe\n         0x1030;"), "{src}");
        assert!(src.contains(
            "# no trace: P may create threads (P links pthread_create) and the automaton is kept per process"
        ));
        assert!(!src.contains("\ntrace "), "{src}");
    }

    /// Every constant-argument assert inference can write — any described call, any
    /// argument, values of every width and sign, x86-64 and ia32 — type-checks, and so do
    /// the handler guard and the kernel-induced rules.
    #[test]
    fn everything_inference_writes_type_checks() {
        use crate::compile::{compile, render};
        let values = [0u64, 1, 0x7f, 0xffff, 0x8000_0000, 0xffff_ffff, 0x1_0000_0000, 0x7fff_ffff_ffff_ffff, u64::MAX];
        let elf = crate::dwarf::Program::without_binary().elf;
        let mut src = String::from("policy { default deny; other_abis allow; }\n");
        let mut site_rip = 0x40_1000u64;
        for name in sysargs::described() {
            for abi in [Abi::X86_64, Abi::Ia32] {
                let Some(nr) = syscall_names::number(abi, name) else { continue };
                for &v in &values {
                    let n = sysargs::args(name).map_or(0, |a| a.len());
                    let mut s = site(site_rip, abi, &[(abi, nr)], false);
                    s.const_args = (0..n).map(|i| (i, v)).collect();
                    if let Some((cond, _)) = const_assert(&elf, abi, nr, &s) {
                        let _ = writeln!(src, "syscall {} at {site_rip:#x} {{ assert {cond}; }}", call_text(abi, nr));
                    }
                    site_rip += 2;
                }
            }
        }
        let mut o = String::new();
        quiet_handlers(&mut o, &[(0x40_2000, "h".into())]);
        src.push_str(&o);
        let _ = write!(src, "syscall rt_sigaction {{\n    from 0x401000;\n{HANDLER_GUARD}}}\n");
        src.push_str(
            "syscall rt_sigreturn, restart_syscall, ia32:rt_sigreturn, ia32:sigreturn, ia32:restart_syscall { }\n",
        );
        let mut prog = crate::dwarf::Program::without_binary();
        if let Err(d) = compile(&src, &mut prog, None) {
            panic!("{}", render("inferred.sgi", &src, &d));
        }
        assert!(src.lines().count() > 1000, "{} rules", src.lines().count());
    }
}
