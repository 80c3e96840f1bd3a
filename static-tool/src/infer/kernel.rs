//! Calls the kernel makes P make, which no path of P's own control flow shows:
//!
//! - `rt_sigreturn`: a signal handler returns into the restorer the kernel put on the
//!   handler's stack (glibc's `__restore_rt`: `mov $15, %rax; syscall`), which P's code never
//!   calls. Needed when P can install a handler: when P makes `rt_sigaction` (a handler is
//!   only ever installed through it, and `execve` resets handlers; under the inferred policy
//!   an unresolved site can only make calls P makes elsewhere).
//! - `restart_syscall`: a sleeping call interrupted by a signal that runs no handler (a stop
//!   and continue, a signal ignored by default while P is traced) with `ERESTART_RESTARTBLOCK`
//!   (`nanosleep`, `clock_nanosleep`, `poll` and `futex` with a timeout …) is resumed by the
//!   kernel: it re-executes P's `syscall` instruction with the number of `restart_syscall`,
//!   so it comes from the interrupted call's site.
//! - The interrupted call itself again (`ERESTARTSYS`, `ERESTARTNOINTR`, `ERESTARTNOHAND`):
//!   the same instruction re-executed, so the trace automaton must accept X after X.
//!
//! And what P's signal handlers may do: the automaton is kept per process, a handler runs
//! between any two of P's calls, and after it P goes on where it was. A handler that makes no
//! system call only adds `rt_sigreturn`, which the automaton accepts as a self-loop on every
//! state; one that makes calls interleaves them anywhere, which the automaton (state = the
//! last call) cannot follow, so inference then emits no automaton.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use semguard_core::syscall::Abi;
use semguard_core::syscall_names;

use super::disasm::Kind;
use super::{Program, Site};
use crate::elf::{Elf, SymKind};
use crate::ir::AutomatonIr;

/// Calls that end up in the kernel's signal or restart machinery rather than P's control flow.
pub fn induced(abi: Abi, nr: u32) -> bool {
    matches!(syscall_names::name(abi, nr), Some("rt_sigreturn" | "sigreturn" | "restart_syscall"))
}

/// Calls that may be interrupted with `ERESTART_RESTARTBLOCK` (and so resumed with
/// `restart_syscall`): Linux's `nanosleep`, `clock_nanosleep`, `poll` and `futex` (wait with a
/// timeout), their time64 variants, and — conservatively — the other waits with a timeout.
pub fn restartable(abi: Abi, nr: u32) -> bool {
    matches!(
        syscall_names::name(abi, nr),
        Some(
            "nanosleep"
                | "clock_nanosleep"
                | "clock_nanosleep_time64"
                | "poll"
                | "ppoll"
                | "ppoll_time64"
                | "select"
                | "_newselect"
                | "pselect6"
                | "pselect6_time64"
                | "futex"
                | "futex_time64"
                | "futex_waitv"
                | "epoll_wait"
                | "epoll_pwait"
                | "epoll_pwait2"
        )
    )
}

/// Whether P can install signal handlers, and what they may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handlers {
    /// P makes no `rt_sigaction`: it never installs a handler.
    None,
    /// P makes `rt_sigaction`, but as far as its binary shows installs no handler that makes
    /// a system call: the callers that install one are known to set `SIG_DFL`, `SIG_IGN` or
    /// a handler that makes no call (`installers`). `silent` are P's functions whose address
    /// is taken and that make no system call (with their names): the handlers the inferred
    /// policy lets P install, so the automaton stays sound.
    Silent {
        /// Who installs handlers.
        installers: Vec<String>,
        /// Address-taken functions that make no system call.
        silent: Vec<(u64, String)>,
    },
    /// P may install a handler that makes system calls (why).
    MakeCalls(Vec<String>),
}

/// What [`analyse`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelCalls {
    /// Signal handlers.
    pub handlers: Handlers,
    /// User RIPs of P's signal restorer (`rt_sigreturn` with a constant number, or the bytes
    /// `mov $15, %eax/%rax; syscall`); empty if none was found.
    pub restorers: Vec<u64>,
    /// Per ABI, the sites `restart_syscall` may come from: those of restartable calls, and
    /// unresolved sites when P makes a restartable call of that ABI.
    pub restart: BTreeMap<Abi, Vec<u64>>,
    /// The returns from handlers P installs through another ABI (ia32 `sigaction`, x32
    /// `rt_sigaction`): the kernel sets up such a frame for that ABI, whose restorer inference
    /// does not look for, so they are allowed from any site.
    pub other_sigreturns: Vec<(Abi, u32)>,
}

impl KernelCalls {
    /// P needs `rt_sigreturn`.
    pub fn sigreturn(&self) -> bool {
        self.handlers != Handlers::None
    }
}

/// Functions that call `rt_sigaction` for their caller (the handler comes from the caller).
const WRAPPERS: &[&str] = &[
    "__libc_sigaction",
    "__sigaction",
    "sigaction",
    "__bsd_signal",
    "bsd_signal",
    "signal",
    "ssignal",
    "__sysv_signal",
    "sysv_signal",
    "sigset",
];
/// Wrappers that take the handler as their second argument (rsi).
const SIGNAL_LIKE: &[&str] =
    &["__bsd_signal", "bsd_signal", "signal", "ssignal", "__sysv_signal", "sysv_signal", "sigset"];
/// glibc functions that install no handler that makes calls: `abort` (SIG_DFL for SIGABRT),
/// `profil` (`__profil_counter`, which makes none), `system` (SIG_IGN, then P's own old
/// actions back), `posix_spawn`'s child (SIG_DFL), `sigignore` (SIG_IGN).
const BENIGN: &[&str] =
    &["abort", "__profil", "profil", "do_system", "__libc_system", "system", "__spawni_child", "sigignore"];

/// Functions of P that make no system call: no `syscall`/`int $0x80` instruction, no
/// indirect call or jump, and only calls of functions that make none.
fn silent_functions(p: &Program) -> Vec<bool> {
    let n = p.funcs.len();
    let mut silent = vec![true; n];
    let mut work = Vec::new();
    for (fi, f) in p.funcs.iter().enumerate() {
        let noisy = f.insns.iter().any(|i| match i.kind {
            Kind::Syscall | Kind::Int80 | Kind::Call(None) | Kind::Jmp(None) => true,
            Kind::Call(Some(t)) | Kind::Jmp(Some(t)) | Kind::Jcc(t) => {
                !(f.start..f.end).contains(&t) && !p.by_start.contains_key(&t)
            }
            _ => false,
        });
        if noisy {
            silent[fi] = false;
            work.push(fi);
        }
    }
    while let Some(g) = work.pop() {
        for c in &p.callers[g] {
            if std::mem::replace(&mut silent[c.caller], false) {
                work.push(c.caller);
            }
        }
    }
    silent
}

/// Every text symbol's name by address.
fn aliases(elf: &Elf) -> HashMap<u64, Vec<&str>> {
    let mut m: HashMap<u64, Vec<&str>> = HashMap::new();
    for s in elf.all_symbols.iter().filter(|s| s.kind == SymKind::Text) {
        m.entry(s.addr).or_default().push(&s.name);
    }
    m
}

struct Judge<'a> {
    p: &'a Program,
    names: HashMap<u64, Vec<&'a str>>,
    silent: &'a [bool],
    installers: BTreeSet<String>,
    reasons: Vec<String>,
    seen: Vec<bool>,
}

impl Judge<'_> {
    fn is(&self, f: usize, list: &[&str]) -> bool {
        self.names.get(&self.p.funcs[f].start).is_some_and(|ns| ns.iter().any(|n| list.contains(n)))
    }
    fn name(&self, f: usize) -> &str {
        &self.p.funcs[f].name
    }
    /// Whether the handler a `signal`-like function gets at call `insn` of `caller` (rsi) is
    /// SIG_DFL, SIG_IGN or a function that makes no call, on every path.
    fn harmless(&self, caller: usize, insn: usize) -> bool {
        let facts = &self.p.facts[caller];
        let Some(st) = facts.get(insn) else { return false };
        let Some(vals) = facts.sets.values(st[super::disasm::reg::RSI]) else { return false };
        vals.iter().all(|&h| h <= 1 || self.p.by_start.get(&h).is_some_and(|&g| self.silent[g]))
    }
    /// Judges who calls wrapper `g` (and so chooses the handler).
    fn walk_up(&mut self, g: usize) {
        if std::mem::replace(&mut self.seen[g], true) {
            return;
        }
        if self.p.address_taken[g] {
            self.reasons.push(format!("the address of {} is taken", self.name(g)));
        }
        for c in self.p.callers[g].clone() {
            let cf = c.caller;
            if !self.p.reachable[cf] || cf == g {
                continue;
            }
            if self.is(cf, WRAPPERS) {
                self.walk_up(cf);
            } else if self.is(cf, BENIGN) {
                self.installers.insert(self.name(cf).to_string());
            } else if self.is(g, SIGNAL_LIKE) && self.harmless(cf, c.insn) {
                self.installers.insert(format!(
                    "{} ({} with SIG_DFL, SIG_IGN or a handler making no call)",
                    self.name(cf),
                    self.name(g)
                ));
            } else {
                let r = format!("{} calls {}", self.name(cf), self.name(g));
                if !self.reasons.contains(&r) {
                    self.reasons.push(r);
                }
            }
        }
    }
}

fn handlers(elf: &Elf, p: &Program, sites: &[Site]) -> Handlers {
    let reachable: Vec<&Site> = sites.iter().filter(|s| s.reachable).collect();
    let calls: BTreeSet<(Abi, u32)> = reachable.iter().flat_map(|s| s.calls.iter().copied()).collect();
    let named = |abi: Abi, nr: u32, names: &[&str]| syscall_names::name(abi, nr).is_some_and(|n| names.contains(&n));
    let installs = |&(abi, nr): &(Abi, u32)| match abi {
        Abi::X86_64 | Abi::X32 => named(abi, nr, &["rt_sigaction"]),
        Abi::Ia32 => named(abi, nr, &["rt_sigaction", "sigaction", "signal"]),
    };
    if !calls.iter().any(installs) {
        return Handlers::None;
    }
    let silent = silent_functions(p);
    let mut j = Judge {
        p,
        names: aliases(elf),
        silent: &silent,
        installers: BTreeSet::new(),
        reasons: Vec::new(),
        seen: vec![false; p.funcs.len()],
    };
    for &(abi, nr) in calls.iter().filter(|c| installs(c) && c.0 != Abi::X86_64) {
        j.reasons.push(format!("P makes {}", super::emit::call_text(abi, nr)));
    }
    for s in &reachable {
        let at = format!("{:#x} ({}+{:#x})", s.rip, s.func, s.offset);
        if s.unresolved && s.entry_abi != Abi::Ia32 {
            j.reasons.push(format!("the number is not known at {at}"));
            continue;
        }
        if !s.calls.iter().any(|c| installs(c) && c.0 == Abi::X86_64) {
            continue;
        }
        let Some(&f) = p.by_start.get(&(s.rip - 2 - s.offset)) else {
            j.reasons.push(format!("rt_sigaction at {at}"));
            continue;
        };
        if j.is(f, WRAPPERS) {
            j.walk_up(f);
        } else {
            j.reasons.push(format!("rt_sigaction at {at}"));
        }
    }
    if !j.reasons.is_empty() {
        return Handlers::MakeCalls(j.reasons);
    }
    let silent = p
        .funcs
        .iter()
        .enumerate()
        .filter(|&(g, _)| p.address_taken[g] && p.reachable[g] && silent[g])
        .map(|(_, f)| (f.start, f.name.clone()))
        .collect();
    Handlers::Silent { installers: j.installers.into_iter().collect(), silent }
}

/// The `mov $15, %eax; syscall` and `mov $15, %rax; syscall` byte sequences in P's code: the
/// user RIPs after them.
fn restorer_bytes(elf: &Elf) -> Vec<u64> {
    const EAX: [u8; 7] = [0xb8, 0x0f, 0, 0, 0, 0x0f, 0x05];
    const RAX: [u8; 9] = [0x48, 0xc7, 0xc0, 0x0f, 0, 0, 0, 0x0f, 0x05];
    let mut out = Vec::new();
    for c in &elf.code {
        for pat in [&EAX[..], &RAX[..]] {
            for (k, w) in c.data.windows(pat.len()).enumerate() {
                if w == pat {
                    out.push(c.addr + (k + pat.len()) as u64);
                }
            }
        }
    }
    out
}

/// Analyses what the kernel may make P call.
pub(crate) fn analyse(elf: &Elf, p: &Program, sites: &[Site]) -> KernelCalls {
    let handlers = handlers(elf, p, sites);
    let mut restorers: BTreeSet<u64> = sites
        .iter()
        .filter(|s| !s.unresolved && !s.calls.is_empty())
        .filter(|s| {
            s.calls.iter().all(|&(abi, nr)| abi == Abi::X86_64 && syscall_names::name(abi, nr) == Some("rt_sigreturn"))
        })
        .map(|s| s.rip)
        .collect();
    restorers.extend(restorer_bytes(elf));
    let reachable: Vec<&Site> = sites.iter().filter(|s| s.reachable).collect();
    let calls: BTreeSet<(Abi, u32)> = reachable.iter().flat_map(|s| s.calls.iter().copied()).collect();
    let mut restart: BTreeMap<Abi, BTreeSet<u64>> = BTreeMap::new();
    for s in &reachable {
        for &(abi, nr) in &s.calls {
            // A futex wait without a timeout (a constant null `utime`) is restarted with
            // ERESTARTSYS, not through restart_syscall.
            let untimed_futex =
                syscall_names::name(abi, nr) == Some("futex") && !s.via_wrapper && s.const_args.get(&3) == Some(&0);
            if restartable(abi, nr) && !untimed_futex {
                restart.entry(abi).or_default().insert(s.rip);
            }
        }
        if s.unresolved {
            // `syscall` makes x86-64 and x32 calls, `int $0x80` ia32 ones.
            for &(abi, nr) in &calls {
                if (abi == Abi::Ia32) == (s.entry_abi == Abi::Ia32) && restartable(abi, nr) {
                    restart.entry(abi).or_default().insert(s.rip);
                }
            }
        }
    }
    let named = |abi: Abi, names: &[&str]| {
        calls.iter().any(|&(a, nr)| a == abi && syscall_names::name(a, nr).is_some_and(|n| names.contains(&n)))
    };
    let mut other_sigreturns = Vec::new();
    if named(Abi::Ia32, &["rt_sigaction", "sigaction", "signal"]) {
        for n in ["rt_sigreturn", "sigreturn"] {
            other_sigreturns.extend(syscall_names::number(Abi::Ia32, n).map(|nr| (Abi::Ia32, nr)));
        }
    }
    if named(Abi::X32, &["rt_sigaction"]) {
        other_sigreturns.extend(syscall_names::number(Abi::X32, "rt_sigreturn").map(|nr| (Abi::X32, nr)));
    }
    KernelCalls {
        handlers,
        other_sigreturns,
        restorers: restorers.into_iter().collect(),
        restart: restart.into_iter().map(|(a, s)| (a, s.into_iter().collect())).collect(),
    }
}

/// Lets the automaton accept the kernel-induced calls anywhere without moving: a self-loop
/// on every state for `rt_sigreturn` (when P needs it: its handlers make no call, or the
/// automaton would not be emitted) and for `restart_syscall` of each ABI that may need it.
/// States with no transition at all (after `exit_group` and `exit`: P is gone) get none.
pub fn self_loops(a: &mut AutomatonIr, k: &KernelCalls) {
    let mut calls: Vec<(Abi, u32)> = Vec::new();
    if k.sigreturn() {
        calls.extend(syscall_names::number(Abi::X86_64, "rt_sigreturn").map(|n| (Abi::X86_64, n)));
    }
    for &abi in k.restart.keys() {
        calls.extend(syscall_names::number(abi, "restart_syscall").map(|n| (abi, n)));
    }
    let live: BTreeSet<u32> = a.transitions.iter().map(|t| t.0).collect();
    let mut edges: BTreeSet<(u32, Abi, u32, u32)> = a.transitions.iter().copied().collect();
    for s in live {
        for &(abi, nr) in &calls {
            edges.insert((s, abi, nr, s));
        }
    }
    a.transitions = edges.into_iter().collect();
}
