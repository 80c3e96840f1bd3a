//! `semguard policy compile`: invariant source + P's ELF/DWARF → policy blob.

use crate::codegen;
use crate::diag::{Diag, ElfProblem, Source, ToolError};
use crate::dwarf::Program;
use crate::elf::Elf;
use crate::ir::PolicyIr;
use crate::parser;
use crate::typecheck;

/// A compiled policy.
#[derive(Debug)]
pub struct Compiled {
    /// The checked policy.
    pub policy: PolicyIr,
    /// The encoded blob (already decoded once as a self-check).
    pub blob: Vec<u8>,
}

/// Loads P for compiling: must be an x86-64, non-PIE ELF (variables and call sites are
/// absolute addresses in the policy).
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
    Program::new(elf)
}

/// Parses, checks and encodes `src` against `prog`. Errors carry source positions.
pub fn compile(src: &str, prog: &mut Program, kernel_profile: Option<&[u8]>) -> Result<Compiled, Vec<Diag>> {
    let file = parser::parse(src).map_err(|d| vec![d])?;
    let policy = typecheck::check(&file, src, prog)?;
    let blob = codegen::encode(&policy, kernel_profile).map_err(|d| vec![d])?;
    Ok(Compiled { policy, blob })
}

/// Renders errors as `file:line:col: error: …` blocks.
pub fn render(name: &str, src: &str, diags: &[Diag]) -> String {
    let s = Source::new(name, src);
    diags.iter().map(|d| s.render(d)).collect::<Vec<_>>().join("\n")
}
