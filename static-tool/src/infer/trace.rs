//! The legal-trace automaton ("process self"): a digram model over P's interprocedural CFG.
//! State *start* is before P's first system call; state *after_X* means the last system call
//! was X; from it, the transitions are the calls that can come next on some path of the
//! CFG. Deterministic by construction (the target state is named by the call).
//!
//! It over-approximates: all paths are assumed feasible; an indirect call may reach any
//! function whose address is taken (and return), so such a function may return after any
//! indirect call; a wrapper's numbers are merged over its callers; exit and exit_group end
//! the trace. A call the kernel interrupts and restarts comes again from the same
//! instruction, so every state *after_X* accepts X again. The calls the kernel makes P make
//! (`rt_sigreturn`, `restart_syscall`) are not part of this model: [`super::kernel`] adds them
//! as self-loops, and inference emits no automaton for a P whose signal handlers make calls
//! (they interleave anywhere) or that may create threads.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use semguard_core::syscall::Abi;

use super::disasm::Kind;
use super::{Program, Site};
use crate::ir::AutomatonIr;

/// A set of calls (bits over the dense numbering of all calls P's sites make), or
/// "anything".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Calls {
    bits: Vec<u64>,
    /// Any call at all.
    pub any: bool,
}

impl Calls {
    fn empty(words: usize) -> Self {
        Calls { bits: vec![0; words], any: false }
    }
    fn insert(&mut self, i: usize) {
        if let Some(w) = self.bits.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }
    fn contains(&self, i: usize) -> bool {
        self.bits.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    fn union(&mut self, o: &Calls) -> bool {
        let mut changed = o.any && !self.any;
        self.any |= o.any;
        for (a, b) in self.bits.iter_mut().zip(&o.bits) {
            let n = *a | *b;
            changed |= n != *a;
            *a = n;
        }
        changed
    }
}

/// Fixpoint iterations over all functions (each only grows sets; this is a safety cap).
const MAX_ROUNDS: usize = 64;

struct Ctx<'a> {
    p: &'a Program,
    /// The calls each site can make, as bits.
    site_calls: Vec<Calls>,
    words: usize,
    site_of: &'a HashMap<(usize, usize), usize>,
    first: Vec<Calls>,
    nullable: Vec<bool>,
    /// What an indirect call can make first: the first calls of every address-taken function.
    indirect: Calls,
}

impl Ctx<'_> {
    /// Calls that can come first from instruction `k` of function `f` on, and whether the
    /// function can return (or leave) before any.
    fn walk(&self, f: usize, k: usize) -> (Calls, bool) {
        let func = &self.p.funcs[f];
        let mut out = Calls::empty(self.words);
        let mut returns = false;
        let mut seen = vec![false; func.blocks.len()];
        // (block, first instruction to look at)
        let mut work: Vec<(usize, usize)> = Vec::new();
        match func.block_of.get(k) {
            Some(&b) => work.push((b, k)),
            None => {
                // Past the last instruction: falling off the end.
                return (out, true);
            }
        }
        while let Some((b, from)) = work.pop() {
            let blk = &func.blocks[b];
            let mut stopped = false;
            for idx in from..blk.end {
                let i = &func.insns[idx];
                match i.kind {
                    Kind::Syscall | Kind::Int80 => {
                        if let Some(&s) = self.site_of.get(&(f, idx)) {
                            out.union(&self.site_calls[s]);
                        }
                        stopped = true;
                    }
                    Kind::Call(Some(t)) => match self.p.by_start.get(&t) {
                        Some(&g) => {
                            out.union(&self.first[g]);
                            stopped = !self.nullable[g] || !self.p.may_return[g];
                        }
                        // Not a function start: a PLT stub of an IFUNC (`jmp *GOT`), i.e. an
                        // indirect call.
                        None => {
                            out.union(&self.indirect);
                        }
                    },
                    // An indirect call reaches some address-taken function (and may return).
                    Kind::Call(None) => {
                        out.union(&self.indirect);
                    }
                    Kind::Jmp(Some(t)) | Kind::Jcc(t) if !(func.start..func.end).contains(&t) => {
                        match self.p.by_start.get(&t) {
                            Some(&g) => {
                                out.union(&self.first[g]);
                            }
                            None => {
                                out.union(&self.indirect);
                            }
                        }
                    }
                    Kind::Jmp(None) => {
                        out.union(&self.indirect);
                    }
                    _ => {}
                }
                if stopped {
                    break;
                }
            }
            if stopped {
                continue;
            }
            if blk.exits {
                returns = true;
            }
            for &s in &blk.succs {
                if !std::mem::replace(&mut seen[s], true) {
                    work.push((s, func.blocks[s].start));
                }
            }
        }
        (out, returns)
    }
}

/// `exit` and `exit_group`.
fn ends_process(abi: Abi, nr: u32) -> bool {
    matches!(semguard_core::syscall_names::name(abi, nr), Some("exit" | "exit_group"))
}

fn state_name(abi: Abi, nr: u32) -> String {
    let prefix = match abi {
        Abi::X86_64 => "",
        Abi::Ia32 => "ia32_",
        Abi::X32 => "x32_",
    };
    match semguard_core::syscall_names::name(abi, nr) {
        Some(n) => format!("after_{prefix}{n}"),
        None => format!("after_{prefix}nr{nr}"),
    }
}

/// Builds the automaton.
pub(crate) fn automaton(p: &Program, sites: &[Site], site_of: &HashMap<(usize, usize), usize>) -> AutomatonIr {
    let n = p.funcs.len();
    // Dense numbering of every call any site makes.
    let all: Vec<(Abi, u32)> =
        sites.iter().flat_map(|s| s.calls.iter().copied()).collect::<BTreeSet<_>>().into_iter().collect();
    let dense: BTreeMap<(Abi, u32), usize> = all.iter().enumerate().map(|(i, c)| (*c, i)).collect();
    let words = all.len().div_ceil(64).max(1);
    let site_calls: Vec<Calls> = sites
        .iter()
        .map(|s| {
            let mut c = Calls::empty(words);
            for call in s.calls.iter().filter(|c| !super::kernel::induced(c.0, c.1)) {
                c.insert(dense[call]);
            }
            c.any = s.unresolved;
            c
        })
        .collect();
    let empty = Calls::empty(words);
    let mut c = Ctx {
        p,
        site_calls,
        words,
        site_of,
        first: vec![empty.clone(); n],
        nullable: vec![false; n],
        indirect: empty.clone(),
    };
    // First calls and nullability of every reachable function.
    for _ in 0..MAX_ROUNDS {
        let mut changed = false;
        for f in (0..n).filter(|&f| p.reachable[f]) {
            let (first, ret) = c.walk(f, 0);
            changed |= c.first[f].union(&first);
            if ret && !c.nullable[f] {
                c.nullable[f] = true;
                changed = true;
            }
            if p.address_taken[f] {
                let ff = c.first[f].clone();
                changed |= c.indirect.union(&ff);
            }
        }
        if !changed {
            break;
        }
    }
    // What can follow a return from each function.
    let entry = p.entry;
    let mut follow: Vec<Calls> = vec![empty.clone(); n];
    for (f, fl) in follow.iter_mut().enumerate() {
        if !p.address_taken[f] && p.callers[f].is_empty() && Some(f) != entry {
            fl.any = true;
        }
    }
    // Where an indirect call returns to: after each indirect call (or jump) of reachable code.
    let mut indirect_after: Vec<(usize, Calls, bool)> = Vec::new();
    for f in (0..n).filter(|&f| p.reachable[f]) {
        for (k, i) in p.funcs[f].insns.iter().enumerate() {
            match i.kind {
                Kind::Call(None) => {
                    let (s, r) = c.walk(f, k + 1);
                    indirect_after.push((f, s, r));
                }
                // An indirect jump that leaves the function returns to its caller.
                Kind::Jmp(None) => indirect_after.push((f, empty.clone(), true)),
                _ => {}
            }
        }
    }
    let after_call: Vec<Vec<(usize, Calls, bool)>> = (0..n)
        .map(|f| {
            p.callers[f]
                .iter()
                .filter(|cs| p.reachable[cs.caller])
                .map(|cs| {
                    let (s, r) = c.walk(cs.caller, cs.insn + 1);
                    (cs.caller, s, r)
                })
                .collect()
        })
        .collect();
    for _ in 0..MAX_ROUNDS {
        let mut changed = false;
        for f in (0..n).filter(|&f| p.reachable[f]) {
            let indirect = if p.address_taken[f] { indirect_after.as_slice() } else { &[] };
            for (h, s, r) in after_call[f].iter().chain(indirect) {
                changed |= follow[f].union(s);
                if *r {
                    let fh = follow[*h].clone();
                    changed |= follow[f].union(&fh);
                }
            }
        }
        if !changed {
            break;
        }
    }
    // Universe of calls and the transitions.
    let universe: BTreeSet<(Abi, u32)> = sites
        .iter()
        .filter(|s| s.reachable)
        .flat_map(|s| s.calls.iter().copied())
        .filter(|c| !super::kernel::induced(c.0, c.1))
        .collect();
    let mut states = vec!["start".to_string()];
    let mut index: BTreeMap<(Abi, u32), u32> = BTreeMap::new();
    for &(abi, nr) in &universe {
        index.insert((abi, nr), states.len() as u32);
        states.push(state_name(abi, nr));
    }
    let expand = |calls: &Calls| -> BTreeSet<(Abi, u32)> {
        if calls.any {
            universe.clone()
        } else {
            universe.iter().copied().filter(|c| calls.contains(dense[c])).collect()
        }
    };
    let mut edges: BTreeSet<(u32, Abi, u32, u32)> = BTreeSet::new();
    if let Some(e) = entry.filter(|&e| p.reachable[e]) {
        let (first, _) = c.walk(e, 0);
        for (abi, nr) in expand(&first) {
            edges.insert((0, abi, nr, index[&(abi, nr)]));
        }
    } else {
        for &(abi, nr) in &universe {
            edges.insert((0, abi, nr, index[&(abi, nr)]));
        }
    }
    for (&(f, k), &s) in site_of {
        let site = &sites[s];
        if !site.reachable {
            continue;
        }
        // exit and exit_group never return: nothing follows them (whatever code the compiler
        // placed after the instruction).
        if !site.unresolved && !site.calls.is_empty() && site.calls.iter().all(|&(abi, nr)| ends_process(abi, nr)) {
            continue;
        }
        let (mut next, ret) = c.walk(f, k + 1);
        if ret {
            next.union(&follow[f]);
        }
        let next = expand(&next);
        for from in &site.calls {
            let Some(&fs) = index.get(from) else { continue };
            for &(abi, nr) in &next {
                edges.insert((fs, abi, nr, index[&(abi, nr)]));
            }
        }
    }
    // A call interrupted by a signal and restarted by the kernel (ERESTARTSYS and the like)
    // is made again by the same instruction.
    for (&(abi, nr), &s) in &index {
        if !ends_process(abi, nr) {
            edges.insert((s, abi, nr, s));
        }
    }
    AutomatonIr { states, initial: 0, transitions: edges.into_iter().collect() }
}
