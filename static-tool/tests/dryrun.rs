//! `semguard policy check` beyond the guest-stub programs: P's threads are checked (they share
//! its address space, as the module sees them), a 64-bit P's `int $0x80` is an ia32 call, and
//! an invariant that cannot be decided kills P unless `--fail-open`, and every call that did not
//! pass takes semguard-core's action for the mode (the alert records say which).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use semguard_core::alert::{decode_all, Action, FaultKind};
use semguard_static_tool::cli::CHECK_VIOLATIONS;
use semguard_static_tool::compile::{compile, load_program, render};

fn policy(exe: &Path, src: &str, name: &str) -> PathBuf {
    let mut prog = load_program(exe.to_str().unwrap()).unwrap();
    let c = compile(src, &mut prog, None).unwrap_or_else(|d| panic!("{}", render(name, src, &d)));
    let p = common::tmp().join(name);
    std::fs::write(&p, c.blob).unwrap();
    p
}

/// (exit code, P's stdout, report)
fn check(policy: &Path, flags: &[&str], cmd: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_semguard"))
        .args(["policy", "check"])
        .args(flags)
        .arg(policy)
        .arg("--")
        .args(cmd)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_threads_call_is_checked_and_kills_p() {
    let exe = common::build("threads", &["threads.c"], &["-O2", "-g", "-static", "-pthread"]);
    let p = policy(&exe, "policy { default allow; }\nsyscall getppid deny;\n", "threads.sgp");
    let e = exe.to_str().unwrap();
    let (code, out, rep) = check(&p, &[], &[e]);
    assert_eq!((code, out.as_str()), (0, "main done\n"), "{rep}");
    let (code, out, rep) = check(&p, &[], &[e, "thread"]);
    assert_eq!(code, CHECK_VIOLATIONS, "{rep}");
    assert!(rep.contains("getppid(110)") && rep.contains("VIOLATION denied") && rep.contains("(thread "), "{rep}");
    assert!(rep.contains("P killed before"), "{rep}");
    assert_eq!(out, "", "neither thread printed after the kill");
    let (code, out, rep) = check(&p, &["--audit"], &[e, "thread"]);
    assert_eq!(code, CHECK_VIOLATIONS, "{rep}");
    assert!(out.starts_with("worker ppid=") && out.ends_with("main done\n"), "{out}");
    assert!(rep.contains("1 violations") && rep.contains("P exited with status 0"), "{rep}");
}

#[test]
fn int80_from_a_64_bit_p_is_an_ia32_call() {
    let exe = common::build("int80", &["int80.c"], &["-O2", "-g", "-static"]);
    // Rules for x86-64 only: `other_abis deny` (the default) refuses ia32 calls.
    let p = policy(&exe, "policy { default allow; }\nsyscall getpid allow;\n", "int80.sgp");
    let e = exe.to_str().unwrap();
    let (code, out, rep) = check(&p, &[], &[e]);
    assert_eq!(code, 0, "{rep}");
    assert!(out.starts_with("getpid="), "{out}");
    let (code, out, rep) = check(&p, &[], &[e, "x"]);
    assert_eq!(code, CHECK_VIOLATIONS, "{rep}");
    assert!(rep.contains("ia32 getpid(20)") && rep.contains("ABI the policy has no rules for"), "{rep}");
    assert_eq!(out, "");
    // A policy with an ia32 rule lets it run; the kernel answers it like the 64-bit one.
    let p = policy(&exe, "policy { default allow; }\nsyscall getpid, ia32:getpid allow;\n", "int80-ok.sgp");
    let (code, out, rep) = check(&p, &[], &[e, "x"]);
    assert_eq!(code, 0, "{rep}");
    let pids: Vec<&str> = out.lines().map(|l| l.rsplit('=').next().unwrap()).collect();
    assert_eq!(pids.len(), 2);
    assert_eq!(pids[0], pids[1], "{out}");
}

#[test]
fn unverifiable_invariants_fail_closed_unless_told_otherwise() {
    let exe = common::build("int80", &["int80.c"], &["-O2", "-g", "-static"]);
    // Page 0 is never mapped: the invariant cannot be decided.
    let p = policy(&exe, "policy { default allow; }\nsyscall getpid { assert *(u64 *)0x10 == 0; }\n", "unverif.sgp");
    let e = exe.to_str().unwrap();
    let (code, out, rep) = check(&p, &[], &[e]);
    assert_eq!(code, CHECK_VIOLATIONS, "{rep}");
    assert!(rep.contains("UNVERIFIABLE") && rep.contains("P's memory at 0x10 is unreadable"), "{rep}");
    assert!(rep.contains("1 violations, 1 unverifiable") && rep.contains("P killed before"), "{rep}");
    assert_eq!(out, "");
    let (code, out, rep) = check(&p, &["--fail-open"], &[e]);
    assert_eq!(code, 0, "{rep}");
    assert!(rep.contains("0 violations, 1 unverifiable"), "{rep}");
    assert!(out.starts_with("getpid="), "{out}");
}

/// The alert records `--alerts FILE` wrote: (action, fault kind) of each.
fn alerts(file: &Path) -> Vec<(Action, FaultKind)> {
    let bytes = std::fs::read(file).unwrap();
    decode_all(&bytes).map(|r| r.map(|r| (r.action, r.fault)).unwrap()).collect()
}

#[test]
fn unverifiable_calls_take_the_cores_action_in_every_mode() {
    let exe = common::build("int80", &["int80.c"], &["-O2", "-g", "-static"]);
    // An ia32 rule too: the int $0x80 call is decided like the 64-bit one (all six arguments in
    // registers, nothing read from P's stack).
    let src = "policy { default allow; }\nsyscall getpid, ia32:getpid { assert *(u64 *)0x10 == 0; }\n";
    let p = policy(&exe, src, "unverif-modes.sgp");
    let e = exe.to_str().unwrap();
    let file = common::tmp().join("unverif-modes.alerts");
    let f = file.to_str().unwrap();
    let run = |flags: &[&str]| {
        let _ = std::fs::remove_file(&file);
        let all: Vec<&str> = [&["--alerts", f], flags].concat();
        let (code, out, rep) = check(&p, &all, &[e, "x"]);
        (code, out, rep, alerts(&file))
    };
    let unreadable = FaultKind::Memory;

    // Enforce, fail closed: the first (ia32) call kills P.
    let (code, out, rep, recs) = run(&[]);
    assert_eq!(code, CHECK_VIOLATIONS, "{rep}");
    assert_eq!(out, "");
    assert!(rep.contains("ia32 getpid(20)") && rep.contains("UNVERIFIABLE"), "{rep}");
    assert!(rep.contains(" 1 violations, 1 unverifiable; P killed before event"), "{rep}");
    assert_eq!(recs, [(Action::Killed, unreadable)]);

    // Audit, fail closed: both calls are violations, recorded as audited; P runs to its end.
    let (code, out, rep, recs) = run(&["--audit"]);
    assert_eq!(code, CHECK_VIOLATIONS, "{rep}");
    assert!(out.starts_with("ia32 getpid=") && out.contains("\ngetpid="), "{out}");
    assert!(rep.contains(" 2 violations, 2 unverifiable; P exited with status 0"), "{rep}");
    assert_eq!(recs, [(Action::Audited, unreadable); 2]);

    // Enforce, fail open: both run, counted as allowed, recorded as failed open.
    let (code, out, rep, recs) = run(&["--fail-open"]);
    assert_eq!(code, 0, "{rep}");
    assert!(out.contains("\ngetpid="), "{out}");
    assert!(rep.contains(" 0 violations, 2 unverifiable; P exited with status 0"), "{rep}");
    assert_eq!(recs, [(Action::FailedOpen, unreadable); 2]);

    // Audit, fail open: counted as in enforce mode; the core records a call audit mode let
    // through as audited.
    let (code, _, rep, recs) = run(&["--audit", "--fail-open"]);
    assert_eq!(code, 0, "{rep}");
    assert!(rep.contains(" 0 violations, 2 unverifiable; P exited with status 0"), "{rep}");
    assert_eq!(recs, [(Action::Audited, unreadable); 2]);
}

#[test]
fn a_violation_is_killed_or_audited_and_fail_open_does_not_apply() {
    let exe = common::build("int80", &["int80.c"], &["-O2", "-g", "-static"]);
    let p = policy(&exe, "policy { default allow; }\nsyscall getpid deny;\n", "deny-getpid.sgp");
    let e = exe.to_str().unwrap();
    let file = common::tmp().join("deny-getpid.alerts");
    let f = file.to_str().unwrap();
    let (code, out, rep) = check(&p, &["--alerts", f], &[e]);
    assert_eq!((code, out.as_str()), (CHECK_VIOLATIONS, ""), "{rep}");
    assert!(rep.contains("x86_64 getpid(39)") && rep.contains("VIOLATION denied"), "{rep}");
    assert_eq!(alerts(&file), [(Action::Killed, FaultKind::None)]);
    // --fail-open does not apply to a violation.
    let (code, out, rep) = check(&p, &["--alerts", f, "--audit", "--fail-open"], &[e]);
    assert_eq!(code, CHECK_VIOLATIONS, "{rep}");
    assert!(out.starts_with("getpid="), "{out}");
    assert!(rep.contains(" 1 violations, 0 unverifiable; P exited with status 0"), "{rep}");
    assert_eq!(alerts(&file), [(Action::Audited, FaultKind::None)]);
}

#[test]
fn string_predicates_check_the_path_p_opens() {
    // The app fixture opens `config.path`, "/etc/app.conf" (openat on x86-64).
    let exe = common::app();
    let e = exe.to_str().unwrap();
    let rule = |assert: &str| format!("policy {{ default allow; }}\nsyscall openat {{ assert {assert}; }}\n");
    let ok = "endswith(openat.filename, \".conf\") && !contains(openat.filename, \"..\") && \
              charset(openat.filename, \"[a-z/.]\", 64)";
    let p = policy(&exe, &rule(ok), "strings-ok.sgp");
    let (code, _, rep) = check(&p, &[], &[e]);
    assert_eq!(code, 0, "{rep}");
    assert!(rep.contains("0 violations"), "{rep}");
    for (bad, name) in [
        ("endswith(openat.filename, \".cfg\")", "strings-suffix.sgp"),
        ("!contains(openat.filename, \"/app\")", "strings-contains.sgp"),
        ("charset(openat.filename, \"[a-z.]\")", "strings-class.sgp"),
        ("charset(openat.filename, \"[a-z/.]\", 12)", "strings-bound.sgp"),
    ] {
        let p = policy(&exe, &rule(bad), name);
        let (code, _, rep) = check(&p, &[], &[e]);
        assert_eq!(code, CHECK_VIOLATIONS, "{bad}: {rep}");
        assert!(rep.contains("x86_64 openat(257)") && rep.contains("VIOLATION"), "{bad}: {rep}");
    }
}

/// `exe`'s inferred policy, compiled.
fn inferred_policy(exe: &Path, name: &str) -> PathBuf {
    let elf = semguard_static_tool::elf::Elf::read(exe.to_str().unwrap()).unwrap();
    let inf = semguard_static_tool::infer::infer(&elf).unwrap();
    let src = semguard_static_tool::infer::emit::source(&elf, &inf);
    policy(exe, &src, name)
}

#[test]
fn signal_handlers_threads_restarts_and_tables_run_under_their_inferred_policy() {
    let signal = common::build("signal", &["signal.c"], &["-O2", "-g", "-static"]);
    let threads = common::build("threads", &["threads.c"], &["-O2", "-g", "-static", "-pthread"]);
    let sleep = common::build("sleep", &["sleep.c"], &["-O2", "-g", "-static"]);
    let table0 = common::build("table-O0", &["table.c"], &["-O0", "-g", "-static"]);
    let table2 = common::build("table-O2", &["table.c"], &["-O2", "-g", "-static"]);
    // The same as static-pie (sites relative to the load base, image constants `$base + …`).
    let signal_pie = common::build("signal-pie", &["signal.c"], &["-O2", "-g", "-static-pie"]);
    let table_pie = common::build("table-O2-pie", &["table.c"], &["-O2", "-g", "-static-pie"]);
    let runs: [(&Path, &[&str], &str); 7] = [
        (&signal_pie, &[], "handled\ngot 1\n"),
        (&table_pie, &[], "sum "),
        // A SIGUSR1 handler that writes: rt_sigreturn from the restorer, and no trace.
        (&signal, &[], "handled\ngot 1\n"),
        // A thread: no trace (the automaton is per process).
        (&threads, &["thread"], "main done\n"),
        // Stopped and continued in nanosleep: restart_syscall, which the trace accepts.
        (&sleep, &[], "slept 0, child 0\n"),
        // Numbers from a read-only table through syscall().
        (&table0, &[], "sum "),
        (&table2, &[], "sum "),
    ];
    for (exe, args, out_end) in runs {
        let name = exe.file_name().unwrap().to_string_lossy().into_owned();
        let p = inferred_policy(exe, &format!("inferred-{name}.sgp"));
        let cmd: Vec<&str> = std::iter::once(exe.to_str().unwrap()).chain(args.iter().copied()).collect();
        let (code, out, rep) = check(&p, &[], &cmd);
        assert_eq!(code, 0, "{name}: {rep}");
        assert!(rep.contains(" 0 violations, 0 unverifiable; P exited with status 0"), "{name}: {rep}");
        assert!(out.ends_with(out_end) || out.starts_with(out_end), "{name}: {out}");
    }
    // Those runs did make the kernel's calls: a policy denying them stops each.
    for (exe, call) in [(&signal, "rt_sigreturn"), (&sleep, "restart_syscall")] {
        let src = format!("policy {{ default allow; }}\nsyscall {call} deny;\n");
        let p = policy(exe, &src, &format!("deny-{call}.sgp"));
        let (code, _, rep) = check(&p, &[], &[exe.to_str().unwrap()]);
        assert_eq!(code, CHECK_VIOLATIONS, "{rep}");
        assert!(rep.contains(&format!("x86_64 {call}(")) && rep.contains("VIOLATION denied"), "{rep}");
    }
}
