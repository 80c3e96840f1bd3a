//! The `semguard` command line (clap derive). [`run`] does the work and returns what to
//! print, so tests drive the same code as the binary.

use std::ffi::OsString;
use std::path::Path;

use clap::{Parser, Subcommand};
use semguard_core::decision::{Enforcement, FailMode, Mode};

use crate::compile;
use crate::diag::ToolError;
use crate::elf::Elf;
use crate::profile;
use crate::show;

/// semguard static tool: policies for the Assertion Checker and guest-kernel profiles.
#[derive(Parser, Debug)]
#[command(name = "semguard", version, about)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Policies: compile invariant source, show a compiled policy, infer invariants.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Extract the guest-kernel profile from vmlinux (BTF or DWARF) and System.map.
    Profile {
        /// The guest kernel's vmlinux.
        vmlinux: String,
        /// The guest kernel's System.map.
        system_map: String,
        /// Where to write the 64-byte profile.
        #[arg(short, long)]
        output: String,
    },
    /// In the I-VM: semguard.ko's counters, state and parameters (from sysfs).
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// The module's sysfs directory.
        #[arg(long, default_value = crate::operator::SYS_MODULE)]
        sys: String,
    },
    /// In the I-VM: the alert records semguard.ko kept (one per violation), oldest first.
    Alerts {
        /// Print JSON (one object per line) instead of a table.
        #[arg(long)]
        json: bool,
        /// The policy blob the module runs: invariants are shown by name.
        #[arg(long)]
        policy: Option<String>,
        /// The module's device (or a file of records).
        #[arg(long, default_value = crate::operator::DEVICE)]
        device: String,
    },
}

#[derive(Subcommand, Debug)]
enum PolicyCmd {
    /// Compile invariant source against P's ELF/DWARF into a binary policy.
    Compile {
        /// P's executable (x86-64, statically linked or non-PIE, with -g for variables).
        elf: String,
        /// Invariant source (.sgi).
        source: String,
        /// Output policy blob (.sgp).
        #[arg(short, long)]
        output: String,
        /// Embed this guest-kernel profile (from `semguard profile`) in the policy.
        #[arg(long)]
        profile: Option<String>,
    },
    /// Print a compiled policy: rules, invariants (disassembled), constants, automaton.
    Show {
        /// Policy blob.
        policy: String,
    },
    /// Dry run of the Assertion Checker on this host: run P under ptrace, check every system
    /// call against the policy, kill P before a violating call (exit status: 0 no violation,
    /// 3 violations, 1 error).
    Check {
        /// Policy blob (.sgp) compiled for P.
        policy: String,
        /// Record violations and let the calls run instead of killing P.
        #[arg(long)]
        audit: bool,
        /// Let calls whose invariant cannot be decided run (default: they are violations).
        #[arg(long)]
        fail_open: bool,
        /// Also write the alert records semguard.ko would write (read them with `semguard
        /// alerts --device FILE`).
        #[arg(long)]
        alerts: Option<String>,
        /// P and its arguments (after `--`); P inherits stdin, stdout and stderr.
        #[arg(last = true, required = true)]
        command: Vec<OsString>,
    },
    /// Infer invariants from P's binary; writes editable invariant source.
    Infer {
        /// P's executable (x86-64, statically linked).
        elf: String,
        /// Output invariant source (.sgi).
        #[arg(short, long)]
        output: String,
    },
}

/// Exit status of `semguard policy check` when the run had violations.
pub const CHECK_VIOLATIONS: i32 = 3;

/// What a command printed and its exit status.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Exit status.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

fn read_text(path: &str) -> Result<String, ToolError> {
    std::fs::read_to_string(path).map_err(|e| ToolError::io(path, e))
}

fn read(path: &str) -> Result<Vec<u8>, ToolError> {
    std::fs::read(path).map_err(|e| ToolError::io(path, e))
}

fn write(path: &str, data: &[u8]) -> Result<(), ToolError> {
    std::fs::write(path, data).map_err(|e| ToolError::io(path, e))
}

/// Runs the command line `args` (including the program name).
pub fn run<I, T>(args: I) -> Outcome
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let text = e.render().to_string();
            let code = e.exit_code();
            return if code == 0 {
                Outcome { code, stdout: text, stderr: String::new() }
            } else {
                Outcome { code, stdout: String::new(), stderr: text }
            };
        }
    };
    match dispatch(cli) {
        Ok(out) => out,
        Err(e) => Outcome { code: 1, stdout: String::new(), stderr: format!("semguard: {e}\n") },
    }
}

fn dispatch(cli: Cli) -> Result<Outcome, ToolError> {
    match cli.cmd {
        Cmd::Policy(PolicyCmd::Compile { elf, source, output, profile }) => {
            let src = read_text(&source)?;
            let kp = match &profile {
                Some(p) => {
                    let bytes = read(p)?;
                    semguard_core::profile::Profile::decode(&bytes).map_err(|error| ToolError::Profile {
                        context: format!("{p}: not a guest-kernel profile"),
                        error,
                    })?;
                    Some(bytes)
                }
                None => None,
            };
            let mut prog = compile::load_program(&elf)?;
            match compile::compile(&src, &mut prog, kp.as_deref()) {
                Ok(c) => {
                    write(&output, &c.blob)?;
                    Ok(Outcome {
                        code: 0,
                        stdout: format!(
                            "{output}: {} bytes, {} rules, {} invariants, policy id {:#x}\n",
                            c.blob.len(),
                            c.policy.rules.len(),
                            c.policy.invariants.len(),
                            c.policy.id
                        ),
                        // Lints: the policy is written all the same.
                        stderr: compile::render_warnings(&source, &src, &c.warnings),
                    })
                }
                Err(diags) => Ok(Outcome {
                    code: 1,
                    stdout: String::new(),
                    stderr: format!(
                        "{}\n{} error(s); nothing written\n",
                        compile::render(&source, &src, &diags),
                        diags.len()
                    ),
                }),
            }
        }
        Cmd::Policy(PolicyCmd::Show { policy }) => {
            let blob = read(&policy)?;
            let text = show::show(&blob).map_err(|error| ToolError::Policy { path: Some(policy), error })?;
            Ok(Outcome { code: 0, stdout: text, stderr: String::new() })
        }
        Cmd::Policy(PolicyCmd::Check { policy, audit, fail_open, alerts, command }) => {
            let blob = read(&policy)?;
            let enforcement = Enforcement {
                mode: if audit { Mode::Audit } else { Mode::Enforce },
                fail: if fail_open { FailMode::Open } else { FailMode::Closed },
            };
            let report = crate::dryrun::run(&blob, &command, enforcement, None)
                .map_err(|error| ToolError::Check { policy, error: Box::new(error) })?;
            if let Some(path) = &alerts {
                let bytes: Vec<u8> = report.findings.iter().flat_map(|f| f.record.encode()).collect();
                write(path, &bytes)?;
            }
            // P owns stdout; the report goes to stderr.
            Ok(Outcome {
                code: if report.violations > 0 { CHECK_VIOLATIONS } else { 0 },
                stdout: String::new(),
                stderr: report.render(),
            })
        }
        Cmd::Policy(PolicyCmd::Infer { elf, output }) => {
            let elf = Elf::read(&elf)?;
            let inferred = crate::infer::infer(&elf)?;
            let text = crate::infer::emit::source(&elf, &inferred);
            write(&output, text.as_bytes())?;
            Ok(Outcome {
                code: 0,
                stdout: format!(
                    "{output}: {} system calls from {} call sites, {} automaton states\n",
                    inferred.syscalls().len(),
                    inferred.sites.len(),
                    inferred.automaton.states.len()
                ),
                stderr: inferred.warnings.iter().map(|w| format!("warning: {w}\n")).collect(),
            })
        }
        Cmd::Status { json, sys } => {
            Ok(Outcome { code: 0, stdout: crate::operator::status(Path::new(&sys), json)?, stderr: String::new() })
        }
        Cmd::Alerts { json, policy, device } => {
            let blob = match &policy {
                Some(p) => Some(read(p)?),
                None => None,
            };
            let decoded = match (&blob, &policy) {
                (Some(b), Some(p)) => Some(
                    semguard_core::policy::Policy::decode(b)
                        .map_err(|error| ToolError::Policy { path: Some(p.clone()), error })?,
                ),
                _ => None,
            };
            let records = crate::operator::read_records(Path::new(&device))?;
            Ok(Outcome {
                code: 0,
                stdout: crate::operator::alerts(&records, decoded.as_ref(), json),
                stderr: String::new(),
            })
        }
        Cmd::Profile { vmlinux, system_map, output } => {
            let map = read_text(&system_map)?;
            let elf = Elf::read(&vmlinux)?;
            let (fields, source) = profile::extract(elf, &map)?;
            let bytes = profile::encode(fields)?;
            write(&output, &bytes)?;
            Ok(Outcome {
                code: 0,
                stdout: format!("{output}: guest-kernel profile from {source:?}\n{}\n", profile::describe(&fields)),
                stderr: String::new(),
            })
        }
    }
}
