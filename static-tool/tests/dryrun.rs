//! `semguard policy check` beyond the guest-stub programs: P's threads are checked (they share
//! its address space, as the module sees them), a 64-bit P's `int $0x80` is an ia32 call, and
//! an invariant that cannot be decided kills P unless `--fail-open`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
