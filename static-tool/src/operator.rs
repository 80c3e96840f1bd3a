//! Operator commands run in the I-VM (dom0): `semguard status` reads semguard.ko's counters
//! from sysfs, `semguard alerts` decodes its alert records from `/dev/semguard` with the
//! core's [`semguard_core::alert`] (the module's own definition of the bytes). Both print a
//! table or JSON.
//!
//! `status` lists every file of `/sys/module/semguard/counters/` (numbers, and the one-line
//! `state`) and `/sys/module/semguard/parameters/` as the module publishes them, so it shows
//! counters this tool does not know by name too.

use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use semguard_core::alert::{decode_all, AlertKind, AlertRecord, NO_INVARIANT_ID, NO_INVARIANT_INDEX};
use semguard_core::policy::Policy;
use semguard_core::syscall::Abi;

use crate::diag::ToolError;

/// Where the module's sysfs directory is.
pub const SYS_MODULE: &str = "/sys/module/semguard";
/// The module's control/alert device.
pub const DEVICE: &str = "/dev/semguard";
/// Bytes asked for per read (the module returns at most 64 whole records per read).
const READ_CHUNK: usize = 64 * semguard_core::alert::RECORD_SIZE;
/// Reads of the device at most: the ring holds 64 records, so a few reads drain it even while
/// new alerts arrive; the bound keeps a flood from holding the command forever.
const MAX_READS: usize = 1024;

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// The files of one sysfs directory, sorted by name: (name, trimmed content).
fn read_dir_files(dir: &Path) -> Result<Vec<(String, String)>, ToolError> {
    let rd = std::fs::read_dir(dir).map_err(|e| ToolError::io(dir.display(), e))?;
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|e| ToolError::io(dir.display(), e))?;
        let path = e.path();
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| ToolError::io(path.display(), e))?;
        out.push((e.file_name().to_string_lossy().into_owned(), text.trim_end().to_string()));
    }
    out.sort();
    Ok(out)
}

/// `semguard status`: counters, state and parameters of the loaded module under `sys`.
pub fn status(sys: &Path, json: bool) -> Result<String, ToolError> {
    if !sys.is_dir() {
        return Err(ToolError::ModuleNotLoaded { sys: sys.display().to_string() });
    }
    let counters_dir = sys.join("counters");
    let counters = read_dir_files(&counters_dir)?;
    if counters.is_empty() {
        return Err(ToolError::NoCounters { dir: counters_dir.display().to_string() });
    }
    let params = if sys.join("parameters").is_dir() { read_dir_files(&sys.join("parameters"))? } else { Vec::new() };
    let mut s = String::new();
    if json {
        let field = |(k, v): &(String, String)| match v.parse::<u64>() {
            Ok(n) => format!("{}: {n}", json_str(k)),
            Err(_) => format!("{}: {}", json_str(k), json_str(v)),
        };
        let c: Vec<String> = counters.iter().map(field).collect();
        let p: Vec<String> = params.iter().map(field).collect();
        let _ = writeln!(s, "{{\"counters\": {{{}}}, \"parameters\": {{{}}}}}", c.join(", "), p.join(", "));
        return Ok(s);
    }
    let width = counters.iter().chain(params.iter()).map(|(k, _)| k.len()).max().unwrap_or(0);
    let _ = writeln!(s, "semguard.ko ({})", sys.display());
    if !params.is_empty() {
        let _ = writeln!(s, "parameters:");
        for (k, v) in &params {
            let _ = writeln!(s, "  {k:<width$}  {v}");
        }
    }
    let _ = writeln!(s, "counters:");
    for (k, v) in &counters {
        let _ = writeln!(s, "  {k:<width$}  {v}");
    }
    Ok(s)
}

/// Reads every record the device (or a file of records) has for a new reader.
pub fn read_records(device: &Path) -> Result<Vec<AlertRecord>, ToolError> {
    let mut f = std::fs::File::open(device).map_err(|error| {
        let path = device.display().to_string();
        if error.kind() == std::io::ErrorKind::NotFound && device == Path::new(DEVICE) {
            ToolError::NoDevice { path, error }
        } else {
            ToolError::Io { path, error }
        }
    })?;
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    for _ in 0..MAX_READS {
        let n = f.read(&mut chunk).map_err(|e| ToolError::io(device.display(), e))?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
    }
    let mut out = Vec::new();
    for (i, r) in decode_all(&bytes).enumerate() {
        let r = r.map_err(|error| ToolError::AlertRecord { path: device.display().to_string(), index: i, error })?;
        out.push(r);
    }
    Ok(out)
}

/// `2026-11-26T13:48:24.123Z` from nanoseconds since the epoch (UTC).
pub fn utc(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let ms = (ns / 1_000_000) % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z", rem / 3600, (rem / 60) % 60, rem % 60)
}

fn abi_name(a: Abi) -> &'static str {
    match a {
        Abi::X86_64 => "x86_64",
        Abi::Ia32 => "ia32",
        Abi::X32 => "x32",
    }
}

/// The invariant's name from `policy` when the record's policy id matches it.
fn invariant_name(r: &AlertRecord, policy: Option<&Policy<'_>>) -> Option<String> {
    let p = policy?;
    if p.policy_id() != r.policy_id || r.invariant_index == NO_INVARIANT_INDEX {
        return None;
    }
    let inv = p.invariant(r.invariant_index)?;
    if inv.id() != r.invariant_id {
        return None;
    }
    inv.name().map(String::from)
}

fn syscall(r: &AlertRecord) -> String {
    match r.syscall_name() {
        Some(n) => format!("{n}({})", r.nr),
        None => format!("#{}", r.nr),
    }
}

fn what(r: &AlertRecord) -> String {
    let mut s = r.kind.name().to_string();
    match r.kind {
        AlertKind::Trace => {
            let _ = write!(s, " state {}", r.trace_state);
        }
        AlertKind::Unverifiable => {
            let _ = write!(s, " ({}", r.fault.name());
            if r.fault.has_addr() {
                let _ = write!(s, " at {:#x}", r.fault_addr);
            }
            s.push(')');
        }
        _ => {}
    }
    s
}

/// `semguard alerts`: the records as a table or JSON (one object per line). With `policy`
/// (the blob semguard.ko runs), invariants are shown by name.
pub fn alerts(records: &[AlertRecord], policy: Option<&Policy<'_>>, json: bool) -> String {
    let mut s = String::new();
    if json {
        for r in records {
            let inv = if r.invariant_id == NO_INVARIANT_ID { "null".to_string() } else { r.invariant_id.to_string() };
            let name = invariant_name(r, policy).map_or("null".to_string(), |n| json_str(&n));
            let nums = |v: &[u64]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ");
            let _ = writeln!(
                s,
                "{{\"seq\": {}, \"time\": {}, \"time_ns\": {}, \"domid\": {}, \"vcpu\": {}, \"pid\": {}, \"comm\": {}, \
                 \"abi\": \"{}\", \"nr\": {}, \"syscall\": {}, \"kind\": \"{}\", \"action\": \"{}\", \"fault\": \"{}\", \
                 \"fault_addr\": {}, \"policy_id\": {}, \"invariant_id\": {inv}, \"invariant\": {name}, \
                 \"trace_state\": {}, \"user_rip\": {}, \"args\": [{}], \"values\": [{}]}}",
                r.seq,
                json_str(&utc(r.time_ns)),
                r.time_ns,
                r.domid,
                r.vcpu,
                r.pid,
                json_str(&String::from_utf8_lossy(r.comm())),
                abi_name(r.abi),
                r.nr,
                r.syscall_name().map_or("null".to_string(), json_str),
                r.kind.name(),
                r.action.name(),
                r.fault.name(),
                r.fault_addr,
                r.policy_id,
                r.trace_state,
                r.user_rip,
                nums(&r.args),
                nums(r.values.as_slice()),
            );
        }
        return s;
    }
    if records.is_empty() {
        return "no alerts\n".to_string();
    }
    let _ = writeln!(
        s,
        "{:>4}  {:<24}  {:>3}  {:>6}  {:<15}  {:<18}  {:<16}  {:<8}  {:<28}  {:<18}  values",
        "seq", "time (UTC)", "dom", "pid", "comm", "syscall", "kind", "action", "invariant", "rip"
    );
    let mut prev: Option<u64> = None;
    for r in records {
        if let Some(p) = prev {
            if r.seq > p.wrapping_add(1) {
                let _ = writeln!(s, "  … {} records dropped (ring full)", r.seq - p - 1);
            }
        }
        prev = Some(r.seq);
        let inv = match (r.invariant_id, invariant_name(r, policy)) {
            (NO_INVARIANT_ID, _) => "-".to_string(),
            (id, Some(n)) => format!("{id} {n:?}"),
            (id, None) => format!("{id} (#{})", r.invariant_index),
        };
        let vals: Vec<String> = r.values.as_slice().iter().map(|v| format!("{v:#x}")).collect();
        let call = if r.abi == Abi::X86_64 { syscall(r) } else { format!("{}:{}", abi_name(r.abi), syscall(r)) };
        let _ = writeln!(
            s,
            "{:>4}  {:<24}  {:>3}  {:>6}  {:<15}  {:<18}  {:<16}  {:<8}  {:<28}  {:<#18x}  [{}]",
            r.seq,
            utc(r.time_ns),
            r.domid,
            r.pid,
            String::from_utf8_lossy(r.comm()),
            call,
            what(r),
            r.action.name(),
            inv,
            r.user_rip,
            vals.join(", ")
        );
    }
    s
}
