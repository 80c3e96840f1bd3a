//! Source positions and error messages a person can act on: `file:line:col: error: …` followed
//! by the offending line and a caret under the spot.

use std::fmt;

use semguard_core::alert::{AlertError, RECORD_SIZE};
use semguard_core::policy::PolicyError;
use semguard_core::profile::ProfileError;

/// A byte range of the source text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// The span `start..end`.
    pub const fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }
    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

/// One compile error: where and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diag {
    /// Where in the invariant source.
    pub span: Span,
    /// What went wrong (and, where it helps, what to write instead).
    pub msg: String,
}

impl Diag {
    /// An error at `span`.
    pub fn new(span: Span, msg: impl Into<String>) -> Self {
        Self { span, msg: msg.into() }
    }
}

/// A source file with its name, for turning byte offsets into line and column.
#[derive(Clone, Debug)]
pub struct Source<'a> {
    /// Name shown in messages.
    pub name: &'a str,
    /// The text.
    pub text: &'a str,
}

impl<'a> Source<'a> {
    /// A named source text.
    pub fn new(name: &'a str, text: &'a str) -> Self {
        Self { name, text }
    }

    /// 1-based line and column (in characters) of byte offset `at` (clamped to the text).
    pub fn line_col(&self, at: usize) -> (usize, usize) {
        let at = floor_char_boundary(self.text, at.min(self.text.len()));
        let before = &self.text[..at];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self.text[line_start..at].chars().count() + 1;
        (line, col)
    }

    /// `file:line:col: error: msg`, the source line, and a caret line.
    pub fn render(&self, d: &Diag) -> String {
        self.render_as("error", d)
    }

    /// [`Source::render`] with another severity (`warning`).
    pub fn render_as(&self, severity: &str, d: &Diag) -> String {
        let (line, col) = self.line_col(d.span.start);
        let text = self.text.lines().nth(line - 1).unwrap_or("");
        let width = {
            let start = floor_char_boundary(self.text, d.span.start.min(self.text.len()));
            let end = floor_char_boundary(self.text, d.span.end.min(self.text.len())).max(start);
            // Underline at most to the end of the first line.
            let seg = &self.text[start..end];
            seg.split('\n').next().map_or(1, |s| s.chars().count().max(1))
        };
        let pad: String = text.chars().take(col - 1).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
        format!("{}:{}:{}: {severity}: {}\n  | {}\n  | {}{}", self.name, line, col, d.msg, text, pad, "^".repeat(width))
    }

    /// Only the first line of [`Source::render`] (for tests and one-line logs).
    pub fn short(&self, d: &Diag) -> String {
        let (line, col) = self.line_col(d.span.start);
        format!("{}:{}:{}: {}", self.name, line, col, d.msg)
    }
}

fn floor_char_boundary(s: &str, mut at: usize) -> usize {
    while at > 0 && !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Why a program or kernel image cannot be used (the path is [`ToolError::Elf`]'s).
#[derive(Debug)]
pub enum ElfProblem {
    /// Not an ELF file (with the parser's reason, if it had one).
    NotElf(Option<object::Error>),
    /// A section's data cannot be read (or decompressed).
    Section {
        /// The section's name.
        name: String,
        /// The parser's reason.
        error: object::Error,
    },
    /// Not an x86-64 program.
    NotX86_64,
    /// ET_DYN without an entry point (a shared library): no load base to find in a process.
    PositionIndependent,
    /// No executable section to analyse.
    NoCode,
    /// A dynamically linked program: its system calls are in its shared libraries.
    DynamicallyLinked {
        /// Its program interpreter.
        interpreter: String,
    },
    /// No GNU build-id note: the policy could not say which program P is.
    NoBuildId,
    /// The build-id note is not in a loadable segment, so a process's memory does not hold it.
    BuildIdNotLoaded,
    /// The build-id is longer than the policy format holds.
    BuildIdTooLong {
        /// Its length.
        len: usize,
    },
}

impl fmt::Display for ElfProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotElf(Some(e)) => write!(f, "not an ELF file: {e}"),
            Self::NotElf(None) => f.write_str("not an ELF file"),
            Self::Section { name, error } => write!(f, "section {name}: {error}"),
            Self::NotX86_64 => f.write_str("not an x86-64 program"),
            Self::PositionIndependent => f.write_str(
                "P is position-independent but has no entry point (a shared library, not a program): its load base cannot be found in a process",
            ),
            Self::NoCode => f.write_str("no code sections"),
            Self::DynamicallyLinked { interpreter } => write!(
                f,
                "P is dynamically linked (interpreter {interpreter}): its system calls are made in its shared libraries, which inference does not follow yet; write its policy by hand (semguard policy compile accepts it), or infer from a static or static-pie build"
            ),
            Self::NoBuildId => f.write_str(
                "P has no GNU build-id note (.note.gnu.build-id), which the policy records as P's identity; link P with -Wl,--build-id (gcc and ld on Debian do by default; something linked it with --build-id=none)",
            ),
            Self::BuildIdNotLoaded => f.write_str(
                "P's build-id note is not in a loadable segment, so a running P's memory does not hold it; link P with -Wl,--build-id and keep .note.gnu.build-id allocated",
            ),
            Self::BuildIdTooLong { len } => write!(
                f,
                "P's build-id is {len} bytes, the policy holds at most {}; link P with -Wl,--build-id (sha1, 20 bytes)",
                semguard_core::policy::format::MAX_BUILD_ID_LEN
            ),
        }
    }
}

/// Errors of the tool's commands that are not tied to a source position (those are
/// [`Diag`]s). Each variant says what failed; [`Display`](fmt::Display) is the message the
/// user sees (after `semguard: `).
#[derive(Debug)]
pub enum ToolError {
    /// The command line asks for something impossible (beyond what clap checks).
    Usage(&'static str),
    /// Reading or writing a file, directory or device failed.
    Io {
        /// What was read or written.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// P's (or the kernel's) ELF image cannot be used.
    Elf {
        /// The image.
        path: String,
        /// What is wrong with it.
        problem: ElfProblem,
    },
    /// The image's DWARF does not parse.
    Dwarf {
        /// The image.
        path: String,
        /// gimli's reason.
        error: gimli::Error,
    },
    /// The kernel's `.BTF` section does not parse.
    Btf(btf_rs::Error),
    /// The guest kernel's layout lacks what the process finder needs (a structure, a member,
    /// `init_task`), or its pieces disagree.
    KernelLayout(String),
    /// semguard-core refused a guest-kernel profile.
    Profile {
        /// What was being done (`the extracted profile is not valid`, `FILE: not a guest-kernel
        /// profile`).
        context: String,
        /// The core's reason.
        error: ProfileError,
    },
    /// A policy blob does not decode.
    Policy {
        /// The blob's file, when known here.
        path: Option<String>,
        /// The core's reason.
        error: PolicyError,
    },
    /// semguard.ko is not loaded: its sysfs directory is missing.
    ModuleNotLoaded {
        /// The directory.
        sys: String,
    },
    /// A sysfs directory without counters: not semguard.ko's.
    NoCounters {
        /// The `counters` directory.
        dir: String,
    },
    /// The module's alert device does not exist.
    NoDevice {
        /// The device.
        path: String,
        /// The open's error.
        error: std::io::Error,
    },
    /// An alert record does not decode.
    AlertRecord {
        /// The device or file.
        path: String,
        /// 0-based index of the record.
        index: usize,
        /// The core's reason.
        error: AlertError,
    },
    /// A ptrace request of the dry run failed.
    Ptrace {
        /// The request.
        request: u32,
        /// The thread.
        pid: i32,
        /// errno.
        error: std::io::Error,
    },
    /// Another system call of the dry run failed (`waitpid`, resuming a thread).
    Os {
        /// What was done.
        what: String,
        /// errno.
        error: std::io::Error,
    },
    /// P stopped being traceable before it ran (its first wait status was not a stop).
    NotStarted {
        /// P.
        program: String,
        /// The wait status.
        status: i32,
    },
    /// P made a system call of an architecture the dry run does not decode.
    UnknownArch(u32),
    /// Something the dry run relies on did not hold (a bug, not an input problem).
    Unexpected(&'static str),
    /// `semguard policy check` failed with this policy.
    Check {
        /// The policy's file.
        policy: String,
        /// What failed.
        error: Box<ToolError>,
    },
}

impl ToolError {
    /// [`ToolError::Io`] for `path`.
    pub fn io(path: impl fmt::Display, error: std::io::Error) -> Self {
        Self::Io { path: path.to_string(), error }
    }

    /// [`ToolError::Elf`] for `path`.
    pub fn elf(path: impl fmt::Display, problem: ElfProblem) -> Self {
        Self::Elf { path: path.to_string(), problem }
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(what) => f.write_str(what),
            Self::Io { path, error } => write!(f, "{path}: {error}"),
            Self::Elf { path, problem } => write!(f, "{path}: {problem}"),
            Self::Dwarf { path, error } => write!(f, "{path}: bad DWARF: {error}"),
            Self::Btf(e) => write!(f, "bad BTF: {e}"),
            Self::KernelLayout(what) => f.write_str(what),
            Self::Profile { context, error } => write!(f, "{context}: {error:?}"),
            Self::Policy { path: Some(p), error } => write!(f, "{p}: not a valid policy: {error}"),
            Self::Policy { path: None, error } => write!(f, "not a valid policy: {error}"),
            Self::ModuleNotLoaded { sys } => write!(f, "semguard.ko is not loaded (no {sys})"),
            Self::NoCounters { dir } => write!(f, "{dir}: no counters (is this semguard.ko?)"),
            Self::NoDevice { path, error } => write!(f, "{path}: {error} (is semguard.ko loaded?)"),
            Self::AlertRecord { path, index, error } => {
                write!(f, "{path}: record {index} (byte {}): {error}", index * RECORD_SIZE)
            }
            Self::Ptrace { request, pid, error } => write!(f, "ptrace({request:#x}, {pid}): {error}"),
            Self::Os { what, error } => write!(f, "{what}: {error}"),
            Self::NotStarted { program, status } => write!(f, "{program} did not start (wait status {status:#x})"),
            Self::UnknownArch(arch) => write!(f, "system call of unknown architecture {arch:#x}"),
            Self::Unexpected(what) => f.write_str(what),
            Self::Check { policy, error } => write!(f, "{policy}: {error}"),
        }
    }
}

impl std::error::Error for ToolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { error, .. }
            | Self::NoDevice { error, .. }
            | Self::Ptrace { error, .. }
            | Self::Os { error, .. } => Some(error),
            Self::Elf { problem: ElfProblem::NotElf(Some(e)) | ElfProblem::Section { error: e, .. }, .. } => Some(e),
            Self::Dwarf { error, .. } => Some(error),
            Self::Btf(e) => Some(e),
            Self::Check { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }
}

impl From<btf_rs::Error> for ToolError {
    fn from(e: btf_rs::Error) -> Self {
        Self::Btf(e)
    }
}

impl From<PolicyError> for ToolError {
    fn from(error: PolicyError) -> Self {
        Self::Policy { path: None, error }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let s = Source::new("p.sgi", "ab\ncdé f\n");
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(3), (2, 1));
        // 'é' is two bytes; the column counts characters.
        assert_eq!(s.line_col(7), (2, 4));
        assert_eq!(s.line_col(1000), (3, 1));
        let d = Diag::new(Span::new(7, 8), "expected `;`");
        assert_eq!(s.short(&d), "p.sgi:2:4: expected `;`");
        assert_eq!(s.render(&d), "p.sgi:2:4: error: expected `;`\n  | cdé f\n  |    ^");
    }

    #[test]
    fn tool_errors_say_what_failed() {
        use std::io::{Error, ErrorKind};
        let bad = PolicyError::TooShort { len: 5 };
        let e = ToolError::Check { policy: "p.sgp".into(), error: Box::new(bad.into()) };
        assert_eq!(e.to_string(), "p.sgp: not a valid policy: policy too short (5 bytes)");
        let inner = std::error::Error::source(&e).unwrap();
        assert!(matches!(inner.downcast_ref(), Some(ToolError::Policy { path: None, error }) if *error == bad));
        let e = ToolError::Policy { path: Some("p.sgp".into()), error: bad };
        assert_eq!(e.to_string(), "p.sgp: not a valid policy: policy too short (5 bytes)");
        let e = ToolError::NoDevice { path: "/dev/semguard".into(), error: Error::from(ErrorKind::NotFound) };
        assert_eq!(e.to_string(), "/dev/semguard: entity not found (is semguard.ko loaded?)");
        let e = ToolError::Ptrace { request: 0x4200, pid: 7, error: Error::from_raw_os_error(libc::ESRCH) };
        assert_eq!(e.to_string(), "ptrace(0x4200, 7): No such process (os error 3)");
        assert_eq!(ToolError::UnknownArch(0x28).to_string(), "system call of unknown architecture 0x28");
        let e = ToolError::AlertRecord { path: "f".into(), index: 2, error: AlertError::BadMagic };
        assert_eq!(e.to_string(), "f: record 2 (byte 352): not an alert record (bad magic)");
        let e = ToolError::elf("p", ElfProblem::NoCode);
        assert_eq!(e.to_string(), "p: no code sections");
    }
}
