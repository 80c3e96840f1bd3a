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
}

/// Loads P for compiling: must be an x86-64, non-PIE ELF (variables and call sites are
/// absolute addresses in the policy) with a GNU build-id in a loaded segment (the policy
/// records it as P's identity).
pub fn load_program(path: &str) -> Result<Program, ToolError> {
    let elf = Elf::read(path)?;
    program_from_elf(elf)
}

/// [`load_program`] for an already parsed ELF.
pub fn program_from_elf(elf: Elf) -> Result<Program, ToolError> {
    if !elf.x86_64 {
        return Err(ToolError::elf(&elf.path, ElfProblem::NotX86_64));
    }
    if elf.position_independent {
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
    let policy = typecheck::check(&file, src, prog)?;
    let build_id = prog.elf.build_id.as_ref().and_then(|b| Some((b.bytes.as_slice(), b.note_vaddr?)));
    let identity = build_id.map(|(build_id, note_vaddr)| IdentitySpec { build_id, note_vaddr, relative: false });
    let blob = codegen::encode(&policy, kernel_profile, identity).map_err(|d| vec![d])?;
    Ok(Compiled { policy, blob })
}

/// Renders errors as `file:line:col: error: …` blocks.
pub fn render(name: &str, src: &str, diags: &[Diag]) -> String {
    let s = Source::new(name, src);
    diags.iter().map(|d| s.render(d)).collect::<Vec<_>>().join("\n")
}
