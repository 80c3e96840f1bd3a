//! `semguard policy compile`: invariant source + P's ELF/DWARF → policy blob.

use crate::codegen;
use crate::diag::{Diag, ElfProblem, Source, ToolError};
use crate::dwarf::Program;
use crate::elf::Elf;
use crate::ir::PolicyIr;
use crate::parser;
use crate::typecheck;
use semguard_core::policy::format::MAX_BUILD_ID_LEN;
use semguard_core::policy::IdentitySpec;

/// A compiled policy.
#[derive(Debug)]
pub struct Compiled {
    /// The checked policy.
    pub policy: PolicyIr,
    /// The encoded blob (already decoded once as a self-check).
    pub blob: Vec<u8>,
    /// Warnings (lints): the policy is still written.
    pub warnings: Vec<Diag>,
}

/// Loads P for compiling: must be an x86-64 ELF program with a GNU build-id in a loaded
/// segment (the policy records it as P's identity). For a position-independent P (a static or
/// dynamic PIE) variables and call sites are offsets from its load base, which the consumer
/// learns per process from the entry point the kernel recorded; so P must have one.
pub fn load_program(path: &str) -> Result<Program, ToolError> {
    let elf = Elf::read(path)?;
    program_from_elf(elf)
}

/// [`load_program`] for an already parsed ELF.
pub fn program_from_elf(elf: Elf) -> Result<Program, ToolError> {
    if !elf.x86_64 {
        return Err(ToolError::elf(&elf.path, ElfProblem::NotX86_64));
    }
    if elf.position_independent && elf.entry == 0 {
        return Err(ToolError::elf(&elf.path, ElfProblem::PositionIndependent));
    }
    match &elf.build_id {
        None => return Err(ToolError::elf(&elf.path, ElfProblem::NoBuildId)),
        Some(b) if b.note_vaddr.is_none() => return Err(ToolError::elf(&elf.path, ElfProblem::BuildIdNotLoaded)),
        Some(b) if b.bytes.is_empty() => return Err(ToolError::elf(&elf.path, ElfProblem::NoBuildId)),
        Some(b) if b.bytes.len() > MAX_BUILD_ID_LEN => {
            return Err(ToolError::elf(&elf.path, ElfProblem::BuildIdTooLong { len: b.bytes.len() }))
        }
        Some(_) => {}
    }
    Program::new(elf)
}

/// Parses, checks and encodes `src` against `prog`. Errors carry source positions. The policy
/// records P's identity (build-id and the note descriptor's address) when `prog` has one,
/// which [`load_program`] ensures.
pub fn compile(src: &str, prog: &mut Program, kernel_profile: Option<&[u8]>) -> Result<Compiled, Vec<Diag>> {
    let file = parser::parse(src).map_err(|d| vec![d])?;
    let typecheck::Checked { policy, mut warnings } = typecheck::check(&file, src, prog)?;
    let build_id = prog.elf.build_id.as_ref().and_then(|b| Some((b.bytes.as_slice(), b.note_vaddr?)));
    let pie = prog.elf.position_independent;
    let entry = if pie { prog.elf.entry } else { 0 };
    let identity = build_id.map(|(build_id, note_vaddr)| IdentitySpec { build_id, note_vaddr, relative: pie, entry });
    let blob = codegen::encode(&policy, kernel_profile, identity).map_err(|d| vec![d])?;
    warnings.extend(toctou_warning(&file, &policy, prog));
    Ok(Compiled { policy, blob, warnings })
}

/// The time-of-check/time-of-use lint: the policy has invariants that read P's memory, does
/// not set `single_writer`, and P's binary shows it may create threads (or otherwise share
/// its memory; [`crate::infer::other_writers`]).
fn toctou_warning(file: &crate::ast::File, policy: &PolicyIr, prog: &Program) -> Option<Diag> {
    use crate::ast::{Item, PolicyOpt};
    let single_writer = file.items.iter().any(|i| match i {
        Item::Policy(opts) => opts.iter().any(|o| matches!(o, PolicyOpt::SingleWriter(_))),
        _ => false,
    });
    let reading = typecheck::memory_invariants(policy);
    let first = &policy.invariants[*reading.first()?];
    if single_writer {
        return None;
    }
    let why = writers_of(prog)?;
    if why.is_empty() {
        return None;
    }
    const SHOWN: usize = 3;
    let mut list = why.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if why.len() > SHOWN {
        list.push_str(&format!(" and {} more", why.len() - SHOWN));
    }
    Some(Diag::new(
        first.span,
        format!(
            "{} invariant(s) read P's memory (first: `{}`) and P may have another writer of its memory ({list}): a thread or a shared mapping can change that memory after the check and before the kernel reads it; add `policy {{ single_writer; }}` (LANGUAGE.md, \"Time of check and time of use\")",
            reading.len(),
            first.name
        ),
    ))
}

/// [`crate::infer::other_writers`] of P, remembered per binary (path and build-id) for the
/// life of the process: the analysis disassembles all of P. `None` if P has no code to
/// analyse (only the fuzzer's empty program).
fn writers_of(prog: &Program) -> Option<Vec<String>> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Key = (String, Vec<u8>);
    static SEEN: OnceLock<Mutex<HashMap<Key, Vec<String>>>> = OnceLock::new();
    let key = (prog.elf.path.clone(), prog.elf.build_id.as_ref().map(|b| b.bytes.clone()).unwrap_or_default());
    let seen = SEEN.get_or_init(Default::default);
    if let Some(w) = seen.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Some(w.clone());
    }
    let inf = crate::infer::infer(&prog.elf).ok()?;
    let why = crate::infer::other_writers(&prog.elf, &inf);
    seen.lock().unwrap_or_else(|e| e.into_inner()).insert(key, why.clone());
    Some(why)
}

/// Renders errors as `file:line:col: error: …` blocks.
pub fn render(name: &str, src: &str, diags: &[Diag]) -> String {
    let s = Source::new(name, src);
    diags.iter().map(|d| s.render(d)).collect::<Vec<_>>().join("\n")
}

/// Renders warnings as `file:line:col: warning: …` blocks, each ending with a newline.
pub fn render_warnings(name: &str, src: &str, diags: &[Diag]) -> String {
    let s = Source::new(name, src);
    diags.iter().map(|d| s.render_as("warning", d) + "\n").collect()
}
