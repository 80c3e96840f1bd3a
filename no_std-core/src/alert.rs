//! Alert records: what semguard.ko reports per violation through `/dev/semguard`, and what the
//! static tool's `semguard alerts` decodes. This module is the one definition of the bytes.
//!
//! # Format, version 1
//!
//! A `read()` of `/dev/semguard` returns zero or more whole records, back to back. Every record
//! is [`RECORD_SIZE`] bytes, little-endian, fixed layout:
//!
//! | off | size | field | meaning |
//! |----:|----:|---|---|
//! | 0 | 4 | magic | `"SGAR"` |
//! | 4 | 2 | version | [`VERSION`] (1); a decoder rejects any other |
//! | 6 | 2 | size | [`RECORD_SIZE`]: the stride to the next record |
//! | 8 | 8 | seq | record number since the module was loaded, from 0; a gap means records were dropped (ring full) |
//! | 16 | 8 | time_ns | dom0 `CLOCK_REALTIME` at the event, ns since the Unix epoch |
//! | 24 | 4 | policy_id | id of the policy that decided |
//! | 28 | 2 | domid | the monitored domain |
//! | 30 | 1 | abi | 0 x86-64, 1 ia32, 2 x32 ([`Abi`]) |
//! | 31 | 1 | entry | how the call entered Xen ([`EntryKind`] wire value) |
//! | 32 | 4 | vcpu | the trapping vCPU |
//! | 36 | 4 | pid | P's process id (tgid) as the task finder saw it; 0 if unknown |
//! | 40 | 4 | nr | system-call number within its ABI |
//! | 44 | 1 | kind | [`AlertKind`] |
//! | 45 | 1 | action | [`Action`] |
//! | 46 | 1 | fault | [`FaultKind`] for kind `Unverifiable`, else 0 |
//! | 47 | 1 | nvalues | number of valid entries in `values` (≤ 4) |
//! | 48 | 4 | invariant_id | the invariant's stable id; `0xFFFF_FFFF` if no invariant decided |
//! | 52 | 2 | invariant_index | its index in the policy; `0xFFFF` if none |
//! | 54 | 2 | at | kind `Unverifiable`: offset of the faulting instruction in the invariant's code |
//! | 56 | 4 | trace_state | kind `Trace`: the automaton state before the call |
//! | 60 | 4 | reserved | 0 |
//! | 64 | 8 | user_rip | the user RIP the call returns to (the call site) |
//! | 72 | 8 | fault_addr | fault `Memory`/`StringTooLong`: the guest address; else 0 |
//! | 80 | 48 | args | the six arguments in ABI order |
//! | 128 | 32 | values | values the invariant noted (`note`), first `nvalues` valid, rest 0 |
//! | 160 | 16 | comm | P's `comm` as configured (NUL-padded) |
//!
//! Later versions may only grow `size` and add fields at the end; a decoder of version 1
//! reads exactly these fields and rejects other versions, so a mismatch is loud.
//!
//! The layout is declared once, as `RawAlert` below; a unit test holds this table to it.

use core::fmt;
use core::mem::offset_of;

use crate::eval::{EvalFault, Values, Verdict, ViolationKind, MAX_VALUES};
use crate::regs::EntryKind;
use crate::syscall::{Abi, Syscall};
use crate::syscall_names;
use crate::wire::{le_record, read, Le};

/// `"SGAR"`.
pub const MAGIC: [u8; 4] = *b"SGAR";
/// Format version of this definition.
pub const VERSION: u16 = 1;
/// Bytes per record (version 1).
pub const RECORD_SIZE: usize = RawAlert::SIZE;
/// Length of the `comm` field.
pub const COMM_LEN: usize = 16;

/// `invariant_id` when no invariant decided.
pub const NO_INVARIANT_ID: u32 = u32::MAX;
/// `invariant_index` when no invariant decided.
pub const NO_INVARIANT_INDEX: u16 = u16::MAX;

le_record! {
    /// A record as stored (see the module docs for what each field means).
    struct RawAlert, size 176 {
        magic: [u8; 4] = 0,
        version: u16 = 4,
        size: u16 = 6,
        seq: u64 = 8,
        time_ns: u64 = 16,
        policy_id: u32 = 24,
        domid: u16 = 28,
        abi: u8 = 30,
        entry: u8 = 31,
        vcpu: u32 = 32,
        pid: u32 = 36,
        nr: u32 = 40,
        kind: u8 = 44,
        action: u8 = 45,
        fault: u8 = 46,
        nvalues: u8 = 47,
        invariant_id: u32 = 48,
        invariant_index: u16 = 52,
        at: u16 = 54,
        trace_state: u32 = 56,
        reserved: u32 = 60,
        user_rip: u64 = 64,
        fault_addr: u64 = 72,
        args: [u64; 6] = 80,
        values: [u64; MAX_VALUES] = 128,
        comm: [u8; COMM_LEN] = 160,
    }
}

/// What the record reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum AlertKind {
    /// The invariant evaluated to false.
    InvariantFalse = 1,
    /// The invariant denies the call.
    Denied = 2,
    /// Wrong call site.
    WrongCallSite = 3,
    /// No rule, default deny.
    DefaultDeny = 4,
    /// An ABI the policy has no rules for.
    OtherAbi = 5,
    /// The legal-trace automaton has no transition.
    Trace = 6,
    /// The call could not be checked (see `fault`).
    Unverifiable = 7,
}

impl AlertKind {
    /// From the wire byte.
    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::InvariantFalse,
            2 => Self::Denied,
            3 => Self::WrongCallSite,
            4 => Self::DefaultDeny,
            5 => Self::OtherAbi,
            6 => Self::Trace,
            7 => Self::Unverifiable,
            _ => return None,
        })
    }
    /// Short name for logs and the CLI.
    pub const fn name(self) -> &'static str {
        match self {
            Self::InvariantFalse => "invariant-false",
            Self::Denied => "denied",
            Self::WrongCallSite => "wrong-call-site",
            Self::DefaultDeny => "default-deny",
            Self::OtherAbi => "other-abi",
            Self::Trace => "trace",
            Self::Unverifiable => "unverifiable",
        }
    }
}

/// What semguard did about the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Action {
    /// Enforce mode: the call was rewritten to `exit_group` (P killed).
    Killed = 1,
    /// Audit mode: recorded, the call went on.
    Audited = 2,
    /// Unverifiable with `fail=open`: the call went on.
    FailedOpen = 3,
}

impl Action {
    /// From the wire byte.
    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Killed,
            2 => Self::Audited,
            3 => Self::FailedOpen,
            _ => return None,
        })
    }
    /// Short name for logs and the CLI.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Killed => "killed",
            Self::Audited => "audited",
            Self::FailedOpen => "failed-open",
        }
    }
}

/// Why an `Unverifiable` call could not be checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FaultKind {
    /// Not unverifiable.
    None = 0,
    /// Reading guest memory failed at `fault_addr`.
    Memory = 1,
    /// Division by zero.
    DivideByZero = 2,
    /// A string had no NUL within its bound (starts at `fault_addr`).
    StringTooLong = 3,
    /// The invariant's code broke a verified assumption.
    Malformed = 4,
    /// The call itself could not be decoded (an ia32 argument on an unreadable user stack).
    Decode = 5,
}

impl FaultKind {
    /// From the wire byte.
    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::None,
            1 => Self::Memory,
            2 => Self::DivideByZero,
            3 => Self::StringTooLong,
            4 => Self::Malformed,
            5 => Self::Decode,
            _ => return None,
        })
    }
    /// Short name for logs and the CLI.
    pub const fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Memory => "memory",
            Self::DivideByZero => "divide-by-zero",
            Self::StringTooLong => "string-too-long",
            Self::Malformed => "malformed",
            Self::Decode => "decode",
        }
    }
    /// Whether `fault_addr` means something for this fault (the guest address that failed).
    pub const fn has_addr(self) -> bool {
        matches!(self, Self::Memory | Self::StringTooLong | Self::Decode)
    }
}

/// One alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertRecord {
    /// Record number since load.
    pub seq: u64,
    /// `CLOCK_REALTIME` ns.
    pub time_ns: u64,
    /// Policy id.
    pub policy_id: u32,
    /// Monitored domain.
    pub domid: u16,
    /// The call's ABI.
    pub abi: Abi,
    /// Entry into Xen.
    pub entry: EntryKind,
    /// Trapping vCPU.
    pub vcpu: u32,
    /// P's pid, 0 if unknown.
    pub pid: u32,
    /// Call number within the ABI.
    pub nr: u32,
    /// What is reported.
    pub kind: AlertKind,
    /// What was done.
    pub action: Action,
    /// Fault for `Unverifiable`.
    pub fault: FaultKind,
    /// Invariant id, [`NO_INVARIANT_ID`] if none.
    pub invariant_id: u32,
    /// Invariant index, [`NO_INVARIANT_INDEX`] if none.
    pub invariant_index: u16,
    /// Faulting instruction offset (`Unverifiable`).
    pub at: u16,
    /// Automaton state (`Trace`).
    pub trace_state: u32,
    /// Call site.
    pub user_rip: u64,
    /// Faulting guest address.
    pub fault_addr: u64,
    /// Arguments.
    pub args: [u64; 6],
    /// Noted values.
    pub values: Values,
    /// P's name, NUL-padded.
    pub comm: [u8; COMM_LEN],
}

/// Why bytes are not a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertError {
    /// Fewer than [`RECORD_SIZE`] bytes.
    Truncated {
        /// Bytes available.
        len: usize,
    },
    /// Not `"SGAR"`.
    BadMagic,
    /// Another format version.
    Version {
        /// The version found.
        got: u16,
    },
    /// The size field is not [`RECORD_SIZE`].
    Size {
        /// The size found.
        got: u16,
    },
    /// A field holds a value this version does not define.
    BadField {
        /// Offset of the field.
        offset: usize,
        /// Its value.
        value: u64,
    },
}

impl fmt::Display for AlertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { len } => write!(f, "truncated alert record: {len} of {RECORD_SIZE} bytes"),
            Self::BadMagic => f.write_str("not an alert record (bad magic)"),
            Self::Version { got } => write!(f, "alert record version {got}, this decoder reads {VERSION}"),
            Self::Size { got } => write!(f, "alert record size {got}, expected {RECORD_SIZE}"),
            Self::BadField { offset, value } => write!(f, "alert record field at +{offset} has bad value {value:#x}"),
        }
    }
}

fn abi_from_u8(v: u8) -> Option<Abi> {
    match v {
        0 => Some(Abi::X86_64),
        1 => Some(Abi::Ia32),
        2 => Some(Abi::X32),
        _ => None,
    }
}

impl AlertRecord {
    /// An `Unverifiable` record without invariant or fault, the common part of every record.
    #[allow(clippy::too_many_arguments)]
    fn base(
        sc: &Syscall,
        entry: EntryKind,
        action: Action,
        policy_id: u32,
        domid: u16,
        vcpu: u32,
        pid: u32,
        comm: &[u8],
    ) -> Self {
        let mut r = Self {
            seq: 0,
            time_ns: 0,
            policy_id,
            domid,
            abi: sc.abi,
            entry,
            vcpu,
            pid,
            nr: sc.nr,
            kind: AlertKind::Unverifiable,
            action,
            fault: FaultKind::None,
            invariant_id: NO_INVARIANT_ID,
            invariant_index: NO_INVARIANT_INDEX,
            at: 0,
            trace_state: 0,
            user_rip: sc.user_rip,
            fault_addr: 0,
            args: sc.args,
            values: Values::new(),
            comm: [0; COMM_LEN],
        };
        // At most COMM_LEN - 1 bytes: the field always ends in a NUL.
        for (d, s) in r.comm.iter_mut().zip(comm.iter().take(COMM_LEN - 1)) {
            *d = *s;
        }
        r
    }

    /// A record for `verdict` (not [`Verdict::Allow`]: that is no alert, `None`) about call `sc`.
    /// `seq`, `time_ns`, `pid`, `policy_id`, `domid`, `vcpu` and `comm` are the caller's.
    #[allow(clippy::too_many_arguments)]
    pub fn from_verdict(
        verdict: &Verdict,
        sc: &Syscall,
        entry: EntryKind,
        action: Action,
        policy_id: u32,
        domid: u16,
        vcpu: u32,
        pid: u32,
        comm: &[u8],
    ) -> Option<Self> {
        let mut r = Self::base(sc, entry, action, policy_id, domid, vcpu, pid, comm);
        match *verdict {
            Verdict::Allow => return None,
            Verdict::Violation { invariant, kind, values } => {
                if let Some(inv) = invariant {
                    r.invariant_id = inv.id;
                    r.invariant_index = inv.index;
                }
                r.values = values;
                r.kind = match kind {
                    ViolationKind::InvariantFalse => AlertKind::InvariantFalse,
                    ViolationKind::Denied => AlertKind::Denied,
                    ViolationKind::WrongCallSite => AlertKind::WrongCallSite,
                    ViolationKind::DefaultDeny => AlertKind::DefaultDeny,
                    ViolationKind::OtherAbi => AlertKind::OtherAbi,
                    ViolationKind::Trace { state } => {
                        r.trace_state = state;
                        AlertKind::Trace
                    }
                };
            }
            Verdict::Unverifiable { invariant, at, reason } => {
                r.kind = AlertKind::Unverifiable;
                r.invariant_id = invariant.id;
                r.invariant_index = invariant.index;
                r.at = at;
                (r.fault, r.fault_addr) = match reason {
                    EvalFault::Memory { addr, .. } => (FaultKind::Memory, addr),
                    EvalFault::DivideByZero => (FaultKind::DivideByZero, 0),
                    EvalFault::StringTooLong { addr, .. } => (FaultKind::StringTooLong, addr),
                    EvalFault::Malformed => (FaultKind::Malformed, 0),
                };
            }
        }
        Some(r)
    }

    /// A record for a call that could not even be decoded (ia32 argument on an unreadable
    /// user stack at `addr`): kind `Unverifiable`, fault `Decode`.
    #[allow(clippy::too_many_arguments)]
    pub fn undecodable(
        sc: &Syscall,
        entry: EntryKind,
        action: Action,
        addr: u64,
        policy_id: u32,
        domid: u16,
        vcpu: u32,
        pid: u32,
        comm: &[u8],
    ) -> Self {
        let mut r = Self::base(sc, entry, action, policy_id, domid, vcpu, pid, comm);
        r.fault = FaultKind::Decode;
        r.fault_addr = addr;
        r
    }

    /// `comm` up to its first NUL.
    pub fn comm(&self) -> &[u8] {
        let n = self.comm.iter().position(|&c| c == 0).unwrap_or(COMM_LEN);
        self.comm.get(..n).unwrap_or(&[])
    }

    /// The call's name in the Linux 6.12 table of its ABI.
    pub fn syscall_name(&self) -> Option<&'static str> {
        syscall_names::name(self.abi, self.nr)
    }

    /// Encodes the record.
    pub fn encode(&self) -> [u8; RECORD_SIZE] {
        let mut values = [0u64; MAX_VALUES];
        for (d, v) in values.iter_mut().zip(self.values.as_slice()) {
            *d = *v;
        }
        let raw = RawAlert {
            magic: MAGIC,
            version: VERSION,
            size: RECORD_SIZE as u16,
            seq: self.seq,
            time_ns: self.time_ns,
            policy_id: self.policy_id,
            domid: self.domid,
            abi: self.abi as u8,
            entry: self.entry as u8,
            vcpu: self.vcpu,
            pid: self.pid,
            nr: self.nr,
            kind: self.kind as u8,
            action: self.action as u8,
            fault: self.fault as u8,
            nvalues: self.values.len() as u8,
            invariant_id: self.invariant_id,
            invariant_index: self.invariant_index,
            at: self.at,
            trace_state: self.trace_state,
            reserved: 0,
            user_rip: self.user_rip,
            fault_addr: self.fault_addr,
            args: self.args,
            values,
            comm: self.comm,
        };
        let mut o = [0u8; RECORD_SIZE];
        raw.write_le(&mut o, 0);
        o
    }

    /// Decodes one record from the start of `b`.
    pub fn decode(b: &[u8]) -> Result<Self, AlertError> {
        let r: RawAlert = read(b, 0).ok_or(AlertError::Truncated { len: b.len() })?;
        if r.magic != MAGIC {
            return Err(AlertError::BadMagic);
        }
        if r.version != VERSION {
            return Err(AlertError::Version { got: r.version });
        }
        if usize::from(r.size) != RECORD_SIZE {
            return Err(AlertError::Size { got: r.size });
        }
        let bad = |offset: usize, value: u8| AlertError::BadField { offset, value: u64::from(value) };
        let abi = abi_from_u8(r.abi).ok_or(bad(offset_of!(RawAlert, abi), r.abi))?;
        let entry = EntryKind::from_u8(r.entry).ok_or(bad(offset_of!(RawAlert, entry), r.entry))?;
        let kind = AlertKind::from_u8(r.kind).ok_or(bad(offset_of!(RawAlert, kind), r.kind))?;
        let action = Action::from_u8(r.action).ok_or(bad(offset_of!(RawAlert, action), r.action))?;
        let fault = FaultKind::from_u8(r.fault).ok_or(bad(offset_of!(RawAlert, fault), r.fault))?;
        let nvalues = usize::from(r.nvalues);
        if nvalues > MAX_VALUES {
            return Err(bad(offset_of!(RawAlert, nvalues), r.nvalues));
        }
        let mut values = Values::new();
        for v in r.values.iter().take(nvalues) {
            values.push(*v);
        }
        Ok(Self {
            seq: r.seq,
            time_ns: r.time_ns,
            policy_id: r.policy_id,
            domid: r.domid,
            abi,
            entry,
            vcpu: r.vcpu,
            pid: r.pid,
            nr: r.nr,
            kind,
            action,
            fault,
            invariant_id: r.invariant_id,
            invariant_index: r.invariant_index,
            at: r.at,
            trace_state: r.trace_state,
            user_rip: r.user_rip,
            fault_addr: r.fault_addr,
            args: r.args,
            values,
            comm: r.comm,
        })
    }
}

/// Decodes a buffer of back-to-back records (what one `read()` returns), in order. Stops at
/// the first error (yielded once); a trailing partial record is a [`AlertError::Truncated`].
pub fn decode_all(b: &[u8]) -> impl Iterator<Item = Result<AlertRecord, AlertError>> + '_ {
    let mut rest = Some(b);
    core::iter::from_fn(move || {
        let cur = rest?;
        if cur.is_empty() {
            rest = None;
            return None;
        }
        let r = AlertRecord::decode(cur);
        rest = match r {
            Ok(_) => cur.get(RECORD_SIZE..),
            Err(_) => None,
        };
        Some(r)
    })
}

/// One line: `seq=3 time_ns=… dom=1 pid=42 comm=sgloop openat(x86_64) kind=invariant-false
/// action=killed invariant=7#0 values=[0x1, 0x2] rip=0x401234 args=[…]`.
impl fmt::Display for AlertRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seq={} time_ns={} dom={} vcpu={} pid={} comm=",
            self.seq, self.time_ns, self.domid, self.vcpu, self.pid
        )?;
        for &c in self.comm() {
            if c.is_ascii_graphic() {
                write!(f, "{}", c as char)?;
            } else {
                write!(f, "\\x{c:02x}")?;
            }
        }
        let abi = match self.abi {
            Abi::X86_64 => "x86_64",
            Abi::Ia32 => "ia32",
            Abi::X32 => "x32",
        };
        match self.syscall_name() {
            Some(n) => write!(f, " syscall={n}/{}({abi})", self.nr)?,
            None => write!(f, " syscall={}({abi})", self.nr)?,
        }
        write!(f, " kind={} action={} policy={:#x}", self.kind.name(), self.action.name(), self.policy_id)?;
        if self.invariant_id != NO_INVARIANT_ID {
            write!(f, " invariant={}#{}", self.invariant_id, self.invariant_index)?;
        }
        match self.kind {
            AlertKind::Trace => write!(f, " state={}", self.trace_state)?,
            AlertKind::Unverifiable => {
                write!(f, " fault={} at={}", self.fault.name(), self.at)?;
                if self.fault.has_addr() {
                    write!(f, " addr={:#x}", self.fault_addr)?;
                }
            }
            _ => {}
        }
        f.write_str(" values=[")?;
        for (i, v) in self.values.as_slice().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{v:#x}")?;
        }
        write!(f, "] rip={:#x} args=[", self.user_rip)?;
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{a:#x}")?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::InvariantRef;
    use std::format;
    use std::vec::Vec;

    fn call() -> Syscall {
        Syscall { abi: Abi::X86_64, nr: 257, args: [0xffff_ff9c, 0x0040_2000, 0x241, 0o644, 5, 6], user_rip: 0x40_1234 }
    }

    fn sample() -> AlertRecord {
        let mut values = Values::new();
        values.push(0x0040_2000);
        values.push(7);
        let v = Verdict::Violation {
            invariant: Some(InvariantRef { index: 2, id: 0x77 }),
            kind: ViolationKind::InvariantFalse,
            values,
        };
        let mut r =
            AlertRecord::from_verdict(&v, &call(), EntryKind::Syscall64, Action::Killed, 0x5e6a4d, 1, 0, 42, b"sgloop")
                .unwrap();
        r.seq = 3;
        r.time_ns = 1_700_000_000_123_456_789;
        r
    }

    #[test]
    fn format_docs_match_the_declared_layout() {
        crate::wire::assert_documented(include_str!("alert.rs"), "# Format, version 1", RawAlert::FIELDS);
    }

    #[test]
    fn round_trip_and_exact_offsets() {
        let r = sample();
        let b = r.encode();
        assert_eq!(&b[0..4], b"SGAR");
        assert_eq!(u16::from_le_bytes([b[4], b[5]]), 1);
        assert_eq!(u16::from_le_bytes([b[6], b[7]]), 176);
        assert_eq!(u64::from_le_bytes(b[8..16].try_into().unwrap()), 3);
        assert_eq!(u32::from_le_bytes(b[24..28].try_into().unwrap()), 0x5e6a4d);
        assert_eq!(u16::from_le_bytes([b[28], b[29]]), 1);
        assert_eq!((b[30], b[31]), (0, 0));
        assert_eq!(u32::from_le_bytes(b[36..40].try_into().unwrap()), 42);
        assert_eq!(u32::from_le_bytes(b[40..44].try_into().unwrap()), 257);
        assert_eq!((b[44], b[45], b[46], b[47]), (1, 1, 0, 2));
        assert_eq!(u32::from_le_bytes(b[48..52].try_into().unwrap()), 0x77);
        assert_eq!(u16::from_le_bytes([b[52], b[53]]), 2);
        assert_eq!(u64::from_le_bytes(b[64..72].try_into().unwrap()), 0x40_1234);
        assert_eq!(u64::from_le_bytes(b[88..96].try_into().unwrap()), 0x0040_2000);
        assert_eq!(u64::from_le_bytes(b[136..144].try_into().unwrap()), 7);
        assert_eq!(&b[144..160], &[0u8; 16]);
        assert_eq!(&b[160..166], b"sgloop");
        assert_eq!(AlertRecord::decode(&b), Ok(r));
        assert_eq!(r.comm(), b"sgloop");
    }

    #[test]
    fn every_verdict_kind_maps_and_round_trips() {
        let inv = InvariantRef { index: 0, id: 9 };
        let verdicts = [
            Verdict::Violation { invariant: None, kind: ViolationKind::DefaultDeny, values: Values::new() },
            Verdict::Violation { invariant: None, kind: ViolationKind::OtherAbi, values: Values::new() },
            Verdict::Violation { invariant: None, kind: ViolationKind::Trace { state: 5 }, values: Values::new() },
            Verdict::Violation { invariant: Some(inv), kind: ViolationKind::Denied, values: Values::new() },
            Verdict::Violation { invariant: Some(inv), kind: ViolationKind::WrongCallSite, values: Values::new() },
            Verdict::Unverifiable { invariant: inv, at: 4, reason: EvalFault::DivideByZero },
            Verdict::Unverifiable { invariant: inv, at: 6, reason: EvalFault::StringTooLong { addr: 0x1000, max: 8 } },
        ];
        let want = [
            AlertKind::DefaultDeny,
            AlertKind::OtherAbi,
            AlertKind::Trace,
            AlertKind::Denied,
            AlertKind::WrongCallSite,
            AlertKind::Unverifiable,
            AlertKind::Unverifiable,
        ];
        for (v, k) in verdicts.iter().zip(want) {
            let r = AlertRecord::from_verdict(v, &call(), EntryKind::Int80, Action::Audited, 1, 2, 3, 4, b"p").unwrap();
            assert_eq!(r.kind, k);
            assert_eq!(AlertRecord::decode(&r.encode()), Ok(r));
        }
        let r =
            AlertRecord::from_verdict(&verdicts[2], &call(), EntryKind::Syscall64, Action::Killed, 1, 2, 3, 4, b"p")
                .unwrap();
        assert_eq!(r.trace_state, 5);
        assert_eq!(r.invariant_id, NO_INVARIANT_ID);
        let r = AlertRecord::from_verdict(
            &verdicts[6],
            &call(),
            EntryKind::Syscall64,
            Action::FailedOpen,
            1,
            2,
            3,
            4,
            b"p",
        )
        .unwrap();
        assert_eq!((r.fault, r.fault_addr, r.at), (FaultKind::StringTooLong, 0x1000, 6));
        assert!(AlertRecord::from_verdict(
            &Verdict::Allow,
            &call(),
            EntryKind::Syscall64,
            Action::Killed,
            1,
            2,
            3,
            4,
            b""
        )
        .is_none());
        let u = AlertRecord::undecodable(&call(), EntryKind::Sysenter, Action::Killed, 0xfff0, 1, 2, 3, 4, b"p");
        assert_eq!((u.kind, u.fault, u.fault_addr), (AlertKind::Unverifiable, FaultKind::Decode, 0xfff0));
        assert_eq!(AlertRecord::decode(&u.encode()), Ok(u));
    }

    #[test]
    fn long_comm_is_truncated_with_a_nul() {
        let r = AlertRecord::from_verdict(
            &Verdict::Violation { invariant: None, kind: ViolationKind::DefaultDeny, values: Values::new() },
            &call(),
            EntryKind::Syscall64,
            Action::Killed,
            0,
            0,
            0,
            0,
            b"abcdefghijklmnopqrstuvwxyz",
        )
        .unwrap();
        assert_eq!(r.comm(), b"abcdefghijklmno");
    }

    #[test]
    fn bad_records_are_rejected() {
        let good = sample().encode();
        assert_eq!(AlertRecord::decode(&good[..175]), Err(AlertError::Truncated { len: 175 }));
        let mut b = good;
        b[0] = b'X';
        assert_eq!(AlertRecord::decode(&b), Err(AlertError::BadMagic));
        let mut b = good;
        b[4] = 2;
        assert_eq!(AlertRecord::decode(&b), Err(AlertError::Version { got: 2 }));
        let mut b = good;
        b[6] = 0;
        assert!(matches!(AlertRecord::decode(&b), Err(AlertError::Size { .. })));
        for (off, v) in [(30usize, 3u8), (31, 4), (44, 0), (44, 8), (45, 0), (46, 6), (47, 5)] {
            let mut b = good;
            b[off] = v;
            assert_eq!(
                AlertRecord::decode(&b),
                Err(AlertError::BadField { offset: off, value: u64::from(v) }),
                "+{off}"
            );
        }
    }

    #[test]
    fn stream_of_records() {
        let mut a = sample();
        let mut buf = Vec::new();
        for seq in 0..3 {
            a.seq = seq;
            buf.extend_from_slice(&a.encode());
        }
        let got: Vec<_> = decode_all(&buf).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[2].unwrap().seq, 2);
        buf.extend_from_slice(&[0u8; 10]);
        let got: Vec<_> = decode_all(&buf).collect();
        assert_eq!(got.len(), 4);
        assert_eq!(got[3], Err(AlertError::Truncated { len: 10 }));
        assert_eq!(decode_all(&[]).count(), 0);
    }

    #[test]
    fn display_names_the_call_and_values() {
        let s = format!("{}", sample());
        assert!(s.contains("pid=42 comm=sgloop syscall=openat/257(x86_64) kind=invariant-false action=killed"), "{s}");
        assert!(s.contains("invariant=119#2 values=[0x402000, 0x7]"), "{s}");
    }
}
