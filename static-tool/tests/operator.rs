//! `semguard status` and `semguard alerts` (the operator commands of the I-VM) on a sysfs-shaped
//! directory and on alert records — the dry run's (`semguard policy check --alerts FILE`, made
//! with the same core encoder semguard.ko uses) and hand-made ones for gaps and bad bytes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use semguard_core::alert::{Action, AlertRecord, RECORD_SIZE};
use semguard_core::eval::{InvariantRef, Values, Verdict, ViolationKind};
use semguard_core::regs::EntryKind;
use semguard_core::syscall::{Abi, Syscall};
use semguard_static_tool::cli::run;
use semguard_static_tool::operator::utc;

fn dir(name: &str) -> PathBuf {
    let d = common::tmp().join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fake_sysfs() -> PathBuf {
    let d = dir("sys-semguard");
    std::fs::create_dir_all(d.join("counters")).unwrap();
    std::fs::create_dir_all(d.join("parameters")).unwrap();
    for (k, v) in [("events", "120"), ("allowed", "117"), ("violations", "2"), ("kills", "1"), ("eval_mean_ns", "850")]
    {
        std::fs::write(d.join("counters").join(k), format!("{v}\n")).unwrap();
    }
    std::fs::write(d.join("counters/state"), "attached pid=42 comm=notesd\n").unwrap();
    std::fs::write(d.join("parameters/process"), "notesd\n").unwrap();
    std::fs::write(d.join("parameters/domid"), "1\n").unwrap();
    d
}

#[test]
fn status_prints_counters_state_and_parameters() {
    let d = fake_sysfs();
    let o = run(["semguard", "status", "--sys", d.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert!(lines[0].starts_with("semguard.ko ("));
    assert_eq!(lines[1], "parameters:");
    assert!(lines.contains(&"  domid         1"), "{}", o.stdout);
    assert!(lines.contains(&"  process       notesd"), "{}", o.stdout);
    assert!(lines.contains(&"  eval_mean_ns  850"), "{}", o.stdout);
    assert!(lines.contains(&"  state         attached pid=42 comm=notesd"), "{}", o.stdout);
    // Sorted by name.
    let a = o.stdout.find("  allowed").unwrap();
    let v = o.stdout.find("  violations").unwrap();
    assert!(a < v);

    let o = run(["semguard", "status", "--json", "--sys", d.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        o.stdout,
        "{\"counters\": {\"allowed\": 117, \"eval_mean_ns\": 850, \"events\": 120, \"kills\": 1, \
         \"state\": \"attached pid=42 comm=notesd\", \"violations\": 2}, \
         \"parameters\": {\"domid\": 1, \"process\": \"notesd\"}}\n"
    );
}

#[test]
fn status_errors() {
    let missing = common::tmp().join("no-such-module");
    let o = run(["semguard", "status", "--sys", missing.to_str().unwrap()]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("semguard.ko is not loaded"), "{}", o.stderr);
    let d = dir("sys-empty");
    std::fs::create_dir_all(d.join("counters")).unwrap();
    let o = run(["semguard", "status", "--sys", d.to_str().unwrap()]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("no counters"), "{}", o.stderr);
}

#[test]
fn utc_dates() {
    assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(utc(951_782_400_000_000_000), "2000-02-29T00:00:00.000Z");
    assert_eq!(utc(1_795_701_515_293_393_920), "2026-11-26T13:58:35.293Z");
    assert_eq!(utc(4_107_542_399_999_000_000), "2100-02-28T23:59:59.999Z");
}

fn record(seq: u64, nr: u32, verdict: Verdict, action: Action) -> AlertRecord {
    let sc = Syscall { abi: Abi::X86_64, nr, args: [1, 2, 3, 4, 5, 6], user_rip: 0x401000 };
    let mut r =
        AlertRecord::from_verdict(&verdict, &sc, EntryKind::Syscall64, action, 0xabc, 3, 0, 77, b"notesd").unwrap();
    r.seq = seq;
    r.time_ns = 1_000_000_000;
    r
}

#[test]
fn alerts_table_json_gaps_and_errors() {
    let d = dir("alerts");
    let file = d.join("records");
    std::fs::write(&file, b"").unwrap();
    let o = run(["semguard", "alerts", "--device", file.to_str().unwrap()]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "no alerts\n"), "{}", o.stderr);

    let mut values = Values::new();
    values.push(0x8a);
    values.push(0x80);
    let a = record(
        4,
        1,
        Verdict::Violation {
            invariant: Some(InvariantRef { index: 2, id: 5 }),
            kind: ViolationKind::InvariantFalse,
            values,
        },
        Action::Audited,
    );
    let b = record(
        9,
        59,
        Verdict::Violation { invariant: None, kind: ViolationKind::Trace { state: 7 }, values: Values::new() },
        Action::Killed,
    );
    let bytes: Vec<u8> = [a.encode(), b.encode()].concat();
    std::fs::write(&file, &bytes).unwrap();
    let o = run(["semguard", "alerts", "--device", file.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", o.stdout);
    assert!(lines[1].contains("write(1)") && lines[1].contains("invariant-false") && lines[1].contains("audited"));
    assert!(lines[1].contains("5 (#2)") && lines[1].contains("[0x8a, 0x80]"), "{}", lines[1]);
    assert!(lines[1].contains("1970-01-01T00:00:01.000Z") && lines[1].contains("notesd"), "{}", lines[1]);
    assert_eq!(lines[2], "  … 4 records dropped (ring full)");
    assert!(lines[3].contains("execve(59)") && lines[3].contains("trace state 7") && lines[3].contains("killed"));

    let o = run(["semguard", "alerts", "--json", "--device", file.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let first = o.stdout.lines().next().unwrap();
    assert!(first
        .starts_with("{\"seq\": 4, \"time\": \"1970-01-01T00:00:01.000Z\", \"time_ns\": 1000000000, \"domid\": 3,"));
    assert!(
        first.contains("\"syscall\": \"write\", \"kind\": \"invariant-false\", \"action\": \"audited\""),
        "{first}"
    );
    assert!(first.contains("\"invariant_id\": 5, \"invariant\": null") && first.contains("\"values\": [138, 128]"));
    assert!(o.stdout.lines().nth(1).unwrap().contains("\"invariant_id\": null"));

    // A truncated record and a bad version are reported with the record's position.
    std::fs::write(&file, &bytes[..RECORD_SIZE + 10]).unwrap();
    let o = run(["semguard", "alerts", "--device", file.to_str().unwrap()]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("record 1 (byte 176): truncated alert record: 10 of 176 bytes"), "{}", o.stderr);
    let mut bad = a.encode();
    bad[4] = 9;
    std::fs::write(&file, bad).unwrap();
    let o = run(["semguard", "alerts", "--device", file.to_str().unwrap()]);
    assert!(o.stderr.contains("record 0 (byte 0): alert record version 9"), "{}", o.stderr);
    let not_policy = d.join("not-a-policy.sgp");
    std::fs::write(&not_policy, b"SGAR").unwrap();
    let o = run(["semguard", "alerts", "--device", file.to_str().unwrap(), "--policy", not_policy.to_str().unwrap()]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("not-a-policy.sgp: not a valid policy"), "{}", o.stderr);
    let o = run(["semguard", "alerts", "--device", d.join("none").to_str().unwrap()]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("No such file"), "{}", o.stderr);
}

fn guest_program(name: &str) -> PathBuf {
    let src = format!("../../../guest-stub/{name}.c");
    common::build(name, &[&src], &["-O2", "-g", "-Wall", "-Wextra", "-Werror", "-static"])
}

#[test]
fn dry_run_alerts_read_back_with_invariant_names() {
    // The dry run's records for notesd's exploit, shown by `semguard alerts --policy`.
    let exe = guest_program("notesd");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-stub/policies/notesd.sgi");
    let policy = common::tmp().join("operator-notesd.sgp");
    let o = common::compile_policy(&exe, &src, &policy, &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    // Audit mode, a private target path: the exploit's own file name is rewritten to one
    // of the same length so this test does not race protect.rs over /tmp/pwned.
    let input =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-stub/inputs/notesd-exploit")).unwrap();
    let text = String::from_utf8(input).unwrap().replace("/tmp/pwned", "/tmp/sgop1");
    let inp = common::tmp().join("operator-exploit");
    std::fs::write(&inp, text).unwrap();
    let records = common::tmp().join("operator-alerts.bin");
    let out = Command::new(env!("CARGO_BIN_EXE_semguard"))
        .args(["policy", "check", "--audit", "--alerts"])
        .arg(&records)
        .arg(&policy)
        .arg("--")
        .arg(&exe)
        .stdin(std::fs::File::open(&inp).unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let _ = std::fs::remove_file("/tmp/sgop1");
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let o = run(["semguard", "alerts", "--device", records.to_str().unwrap(), "--policy", policy.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", o.stdout);
    assert!(lines[1].contains("openat(257)") && lines[1].contains("3 \"openat: notes_file\""), "{}", lines[1]);
    assert!(lines[1].contains(" audited ") && lines[1].contains(" notesd "), "{}", lines[1]);
    assert!(lines[2].contains("write(1)") && lines[2].contains("5 \"write: note_length\""), "{}", lines[2]);
    let o = run([
        "semguard",
        "alerts",
        "--json",
        "--device",
        records.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert!(o.stdout.lines().next().unwrap().contains("\"invariant\": \"openat: notes_file\""), "{}", o.stdout);
}
