// SPDX-License-Identifier: GPL-2.0

//! Module parameters → validated configuration.
//!
//! Plain Rust without the `kernel` crate or `crate::` paths (semguard-core only), so the host
//! tests in `ivm-module/semguard-ko/host` compile this same file. Every parameter is checked before anything is
//! loaded or registered; an error names the parameter and what is wrong with its value.

use core::fmt;

/// Longest process name: a task's `comm` is 16 bytes including the NUL (`TASK_COMM_LEN`).
pub(crate) const PROCESS_MAX: usize = 15;
/// Longest policy file name (relative to /lib/firmware).
pub(crate) const POLICY_NAME_MAX: usize = 200;
/// Highest ordinary Xen domain id (`DOMID_FIRST_RESERVED - 1`).
pub(crate) const DOMID_MAX: i32 = 0x7fef;
/// Longest piece of a bad value quoted back in an error message.
const QUOTE_MAX: usize = 64;

/// The parameters as the module loader left them (`None`: not given and no default).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawParams<'a> {
    /// `domid=`, -1 when not given.
    pub(crate) domid: i32,
    /// `process=`.
    pub(crate) process: Option<&'a [u8]>,
    /// `policy=`.
    pub(crate) policy: Option<&'a [u8]>,
    /// `mode=` (default "enforce").
    pub(crate) mode: Option<&'a [u8]>,
    /// `fail=` (default "closed").
    pub(crate) fail: Option<&'a [u8]>,
}

pub(crate) use semguard_core::decision::{Enforcement, FailMode, Mode};

/// A validated name of printable ASCII, stored with a terminating NUL so that it can be
/// handed to C as is.
#[derive(Clone, Copy)]
pub(crate) struct Name<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Name<N> {
    /// Copies `bytes` and a NUL; `None` if that does not fit in `N`.
    fn new(bytes: &[u8]) -> Option<Self> {
        // There must be room for the NUL after the name.
        if bytes.len() >= N {
            return None;
        }
        let mut buf = [0u8; N];
        buf.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(Self { buf, len: bytes.len() })
    }

    /// The name.
    pub(crate) fn as_str(&self) -> &str {
        // Only printable ASCII gets here (see `printable`), so the conversion cannot fail.
        self.buf.get(..self.len).and_then(|b| core::str::from_utf8(b).ok()).unwrap_or("")
    }

    /// The name followed by its NUL.
    pub(crate) fn as_bytes_with_nul(&self) -> &[u8] {
        self.buf.get(..=self.len).unwrap_or(&[0])
    }
}

impl<const N: usize> fmt::Display for Name<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> fmt::Debug for Name<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// The validated configuration of one load of semguard.ko.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    /// The monitored VM.
    pub(crate) domid: u16,
    /// `process=`: a hint, P's usual `comm`. It narrows the search for instances of P running
    /// at load and names P in the log; it never makes a process P (its build-id does).
    pub(crate) process: Option<Name<{ PROCESS_MAX + 1 }>>,
    /// Policy file name under /lib/firmware.
    pub(crate) policy: Name<{ POLICY_NAME_MAX + 1 }>,
    /// Enforce or audit.
    pub(crate) mode: Mode,
    /// Fail closed or open.
    pub(crate) fail: FailMode,
}

/// Which parameter is wrong and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParamError<'a> {
    /// A required parameter was not given.
    Missing(&'static str),
    /// `domid` outside 0..=DOMID_MAX.
    DomidOutOfRange(i32),
    /// `domid=0`: dom0 is the I-VM itself; Xen refuses a monitor on the calling domain.
    DomidIsDom0,
    /// A string parameter that is empty.
    Empty(&'static str),
    /// A string parameter longer than allowed.
    TooLong {
        /// Parameter name.
        param: &'static str,
        /// The value.
        value: &'a [u8],
        /// Allowed length.
        max: usize,
    },
    /// A string parameter with a byte outside printable ASCII (or a space where none may be).
    NotPrintable {
        /// Parameter name.
        param: &'static str,
        /// The value.
        value: &'a [u8],
    },
    /// `policy` is not a plain relative path under /lib/firmware.
    PolicyPath {
        /// The value.
        value: &'a [u8],
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A value that is not one of the allowed words.
    NotOneOf {
        /// Parameter name.
        param: &'static str,
        /// The value.
        value: &'a [u8],
        /// The allowed words, for the message.
        expected: &'static str,
    },
}

/// A parameter value as it may be shown in the kernel log: printable ASCII as is, anything
/// else as `\xNN`, cut after [`QUOTE_MAX`] bytes.
struct Quoted<'a>(&'a [u8]);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0.iter().take(QUOTE_MAX) {
            if (0x20..0x7f).contains(&b) && b != b'\\' {
                write!(f, "{}", char::from(b))?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        if self.0.len() > QUOTE_MAX {
            f.write_str("...")?;
        }
        Ok(())
    }
}

impl fmt::Display for ParamError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ParamError::Missing(p) => write!(f, "{p}: missing (required)"),
            ParamError::DomidOutOfRange(d) => write!(f, "domid={d}: not a domain id (0..={DOMID_MAX})"),
            ParamError::DomidIsDom0 => {
                f.write_str("domid=0: that is dom0, where semguard runs; give the monitored domU's id")
            }
            ParamError::Empty(p) => write!(f, "{p}: empty"),
            ParamError::TooLong { param, value, max } => {
                write!(f, "{param}={}: {} bytes, at most {max}", Quoted(value), value.len())
            }
            ParamError::NotPrintable { param, value } => {
                write!(f, "{param}={}: only printable ASCII is accepted", Quoted(value))
            }
            ParamError::PolicyPath { value, reason } => write!(f, "policy={}: {reason}", Quoted(value)),
            ParamError::NotOneOf { param, value, expected } => {
                write!(f, "{param}={}: expected {expected}", Quoted(value))
            }
        }
    }
}

/// True if every byte is printable ASCII (space included when `space`).
fn printable(bytes: &[u8], space: bool) -> bool {
    bytes.iter().all(|&b| (0x21..0x7f).contains(&b) || (space && b == b' '))
}

fn required<'a>(param: &'static str, value: Option<&'a [u8]>) -> Result<&'a [u8], ParamError<'a>> {
    match value {
        None => Err(ParamError::Missing(param)),
        Some([]) => Err(ParamError::Empty(param)),
        Some(v) => Ok(v),
    }
}

fn name<'a, const N: usize>(param: &'static str, value: &'a [u8], space: bool) -> Result<Name<N>, ParamError<'a>> {
    if value.len() >= N {
        return Err(ParamError::TooLong { param, value, max: N - 1 });
    }
    if !printable(value, space) {
        return Err(ParamError::NotPrintable { param, value });
    }
    Name::new(value).ok_or(ParamError::TooLong { param, value, max: N - 1 })
}

/// A firmware name must stay inside /lib/firmware: relative, no `.`/`..` or empty components
/// (request_firmware refuses `..` too, but with a less clear message).
fn check_policy_path(value: &[u8]) -> Result<(), ParamError<'_>> {
    if value.first() == Some(&b'/') {
        return Err(ParamError::PolicyPath { value, reason: "must be relative to /lib/firmware" });
    }
    for component in value.split(|&b| b == b'/') {
        match component {
            b"" => return Err(ParamError::PolicyPath { value, reason: "empty path component" }),
            b"." | b".." => {
                return Err(ParamError::PolicyPath { value, reason: "'.' and '..' are not allowed" });
            }
            _ => {}
        }
    }
    Ok(())
}

fn one_of<'a, T: Copy>(
    param: &'static str,
    value: Option<&'a [u8]>,
    choices: &[(&'static str, T)],
    expected: &'static str,
) -> Result<T, ParamError<'a>> {
    let value = required(param, value)?;
    choices.iter().find(|(word, _)| word.as_bytes() == value).map(|&(_, v)| v).ok_or(ParamError::NotOneOf {
        param,
        value,
        expected,
    })
}

impl Config {
    /// How the log and alerts name P: the hint, or "P".
    pub(crate) fn label(&self) -> &str {
        self.process.as_ref().map_or("P", |n| n.as_str())
    }

    /// What a violation and an undecidable call do.
    pub(crate) const fn enforcement(&self) -> Enforcement {
        Enforcement { mode: self.mode, fail: self.fail }
    }

    /// Validates the parameters, in the order they are documented; the first error wins.
    pub(crate) fn from_raw<'a>(raw: &RawParams<'a>) -> Result<Config, ParamError<'a>> {
        if raw.domid == -1 {
            return Err(ParamError::Missing("domid"));
        }
        let domid = match u16::try_from(raw.domid) {
            Ok(d) if i32::from(d) <= DOMID_MAX => d,
            _ => return Err(ParamError::DomidOutOfRange(raw.domid)),
        };
        if domid == 0 {
            return Err(ParamError::DomidIsDom0);
        }
        // A comm may contain spaces; a file name here may not.
        let process = match raw.process {
            None => None,
            Some(v) => Some(name("process", required("process", Some(v))?, true)?),
        };
        let policy_raw = required("policy", raw.policy)?;
        let policy = name("policy", policy_raw, false)?;
        check_policy_path(policy_raw)?;
        let mode = one_of("mode", raw.mode, &[("enforce", Mode::Enforce), ("audit", Mode::Audit)], "enforce or audit")?;
        let fail =
            one_of("fail", raw.fail, &[("closed", FailMode::Closed), ("open", FailMode::Open)], "closed or open")?;
        Ok(Config { domid, process, policy, mode, fail })
    }
}
