//! semguard's **static tool**: turns P's program into the policy the Assertion Checker
//! evaluates. Invariant language (lexer → parser → resolver over P's DWARF → type checker →
//! code generator using semguard-core's encoder), the policy disassembler, inference of
//! invariants from P's binary, and the guest-kernel profile extractor.

pub mod ast;
pub mod charclass;
pub mod classes;
pub mod cli;
pub mod codegen;
pub mod compile;
pub mod ctype;
pub mod deny_final;
pub mod diag;
pub mod dryrun;
pub mod dwarf;
pub mod elf;
pub mod fuzz;
pub mod infer;
pub mod ir;
pub mod lexer;
pub mod operator;
pub mod parser;
pub mod profile;
pub mod show;
pub mod sysargs;
pub mod typecheck;
