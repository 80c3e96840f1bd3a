//! Writes inference results as invariant source a person can review and edit (see
//! `LANGUAGE.md`): default deny; per system call the call sites it may come from; per site
//! the arguments that are constant there; the legal-trace automaton.

use std::collections::BTreeMap;
use std::fmt::Write;

use semguard_core::syscall::Abi;
use semguard_core::syscall_names;

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

/// Calls the x86-64 vDSO implements and may fall back to with its own `syscall`.
fn from_vdso(abi: Abi, nr: u32) -> bool {
    abi == Abi::X86_64
        && matches!(
            syscall_names::name(abi, nr),
            Some("clock_gettime" | "gettimeofday" | "time" | "getcpu" | "clock_getres")
        )
}

fn where_(s: &Site) -> String {
    format!("{}+{:#x}", s.func, s.offset)
}

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
        let in_image = |v: u64| elf.code.iter().chain(&elf.data).any(|d| v >= d.addr && v - d.addr < d.data.len() as u64);
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
    let _ = writeln!(o, "# constant at a site are asserted there. The trace is a may-follow over-approximation of");
    let _ = writeln!(o, "# P's control flow; it does not model signal handlers (delete it if P handles signals).");
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
    for (&(abi, nr), sites) in &by_call {
        let name = call_text(abi, nr);
        let _ = writeln!(o, "\n# {} — {} call site(s)", name, sites.len());
        if from_vdso(abi, nr) {
            // The vDSO's own fallback `syscall` makes these too, from an address only known
            // at run time: no call-site restriction.
            let _ = writeln!(o, "# (also made by the vDSO at a run-time address, so allowed from any site)");
            let _ = writeln!(o, "syscall {name} {{ }}");
            continue;
        }
        let _ = writeln!(o, "syscall {name} {{");
        for (k, s) in sites.iter().enumerate() {
            let lead = if k == 0 { "    from " } else { "         " };
            let end = if k + 1 == sites.len() { ";" } else { "," };
            let _ = writeln!(
                o,
                "{lead}{:#x}{end}  # {}{}",
                s.rip,
                where_(s),
                if s.via_wrapper { " (wrapper)" } else { "" }
            );
        }
        let _ = writeln!(o, "}}");
        for s in sites {
            if let Some((cond, notes)) = const_assert(elf, abi, nr, s) {
                let _ = writeln!(o, "syscall {name} at {:#x} {{  # {}", s.rip, where_(s));
                for n in notes {
                    let _ = writeln!(o, "    # {n}");
                }
                let _ = writeln!(o, "    assert {cond};");
                let _ = writeln!(o, "}}");
            }
        }
    }

    // A site whose number is not known on every path may make any of P's calls.
    let unresolved: Vec<&&Site> = reachable_sites.iter().filter(|s| s.unresolved).collect();
    if !unresolved.is_empty() && !calls.is_empty() {
        for s in unresolved {
            // `syscall` makes x86-64 (or x32) calls, `int $0x80` ia32 ones.
            let all = calls
                .iter()
                .filter(|(abi, _)| (*abi == Abi::Ia32) == (s.entry_abi == Abi::Ia32))
                .map(|&(abi, nr)| call_text(abi, nr))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(o, "\n# {:#x} ({}): number unknown on some path, so any of P's calls", s.rip, where_(s));
            let _ = writeln!(o, "syscall {all}\n    at {:#x} allow;", s.rip);
        }
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
}
