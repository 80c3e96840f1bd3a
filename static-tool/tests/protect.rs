//! The protected programs of guest-stub/ (notesd, cmdgate) against their policies, on the host:
//! each built as guest-stub/Makefile builds it, run under `semguard policy check` (the
//! Assertion Checker dry run under ptrace) with the inputs the guest scenarios use.
//!
//! - the bugs are real: without semguard each exploit has its malicious effect;
//! - hand-written policy (guest-stub/policies/*.sgi): benign inputs give zero violations and
//!   the program's normal output; each exploit is a violation of the expected invariant and P
//!   is killed before the malicious call runs (the file it would create does not exist);
//!   audit mode records the same violation and lets the call run;
//! - inferred policy (`semguard policy infer`): benign inputs give zero violations; which
//!   exploits it catches is asserted as measured (none: both exploits make only calls P makes
//!   anyway, from the same call sites, in an order P's control flow allows).
//!
//! The runs share fixed paths (/tmp/notes.txt, /tmp/pwned, /tmp/owned: the programs' own), so
//! they are serialised.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use semguard_static_tool::compile::{compile, load_program, render};
use semguard_static_tool::elf::Elf;
use semguard_static_tool::infer::{emit, infer};

static RUNS: Mutex<()> = Mutex::new(());

fn guest_stub() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-stub")
}

/// `guest-stub/NAME.c` built with guest-stub/Makefile's flags.
fn program(name: &str) -> PathBuf {
    let src = format!("../../../guest-stub/{name}.c");
    common::build(name, &[&src], &["-O2", "-g", "-Wall", "-Wextra", "-Werror", "-static"])
}

fn input(name: &str) -> PathBuf {
    guest_stub().join("inputs").join(name)
}

/// Compiles invariant source `src` for `exe` into a blob file; returns its path.
fn compile_to(exe: &Path, src: &str, out: &str) -> PathBuf {
    let mut prog = load_program(exe.to_str().unwrap()).unwrap();
    let c = compile(src, &mut prog, None).unwrap_or_else(|d| panic!("{}", render(out, src, &d)));
    let path = common::tmp().join(out);
    std::fs::write(&path, &c.blob).unwrap();
    path
}

fn hand_policy(name: &str) -> PathBuf {
    let src = std::fs::read_to_string(guest_stub().join("policies").join(format!("{name}.sgi"))).unwrap();
    compile_to(&program(name), &src, &format!("{name}.sgp"))
}

fn inferred_policy(name: &str) -> PathBuf {
    let exe = program(name);
    let elf = Elf::read(exe.to_str().unwrap()).unwrap();
    let src = emit::source(&elf, &infer(&elf).unwrap());
    compile_to(&exe, &src, &format!("{name}.inferred.sgp"))
}

struct Run {
    code: i32,
    stdout: String,
    report: String,
}

/// `semguard policy check [--audit] POLICY -- PROG < INPUT`.
fn check(policy: &Path, prog: &Path, input_name: &str, audit: bool) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_semguard"));
    cmd.args(["policy", "check"]);
    if audit {
        cmd.arg("--audit");
    }
    let out = cmd
        .arg(policy)
        .arg("--")
        .arg(prog)
        .stdin(std::fs::File::open(input(input_name)).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        report: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The file each exploit creates, and what a clean slate removes first.
const PWNED: &str = "/tmp/pwned";
const OWNED: &str = "/tmp/owned";
const NOTES: &str = "/tmp/notes.txt";

fn clean() {
    for f in [PWNED, OWNED, NOTES] {
        let _ = std::fs::remove_file(f);
    }
}

fn exists(p: &str) -> bool {
    Path::new(p).exists()
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    RUNS.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn cmdgate_exploit_targets_gate_user_limit_of_this_build() {
    // The exploit carries &gate.user_limit (the first member) as printf's 19th argument: 8-byte
    // aligned at offset 24 of its first line. A change to cmdgate.c that moves `gate` must
    // update guest-stub/inputs/cmdgate-exploit.
    let exe = program("cmdgate");
    let elf = Elf::read(exe.to_str().unwrap()).unwrap();
    let gate = elf.symbols.get("gate").expect("gate symbol").addr;
    let bytes = std::fs::read(input("cmdgate-exploit")).unwrap();
    let addr = u64::from_le_bytes(bytes[24..32].try_into().unwrap());
    assert_eq!(addr, gate, "exploit address {addr:#x}, &gate {gate:#x}");
    assert!(bytes.starts_with(b"run 9 %19$n\0"));
}

#[test]
fn the_bugs_are_real_without_semguard() {
    let _g = lock();
    for (prog, inp, effect) in [("notesd", "notesd-exploit", PWNED), ("cmdgate", "cmdgate-exploit", OWNED)] {
        clean();
        let out = Command::new(program(prog))
            .stdin(std::fs::File::open(input(inp)).unwrap())
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        assert!(exists(effect), "{inp} did not create {effect}: {}", String::from_utf8_lossy(&out.stdout));
        // The benign input of the same program does not.
        clean();
        let benign = if prog == "notesd" { "notesd-benign" } else { "cmdgate-benign2" };
        Command::new(program(prog)).stdin(std::fs::File::open(input(benign)).unwrap()).output().unwrap();
        assert!(!exists(effect), "{benign} created {effect}");
    }
    clean();
}

#[test]
fn hand_policies_allow_benign_runs() {
    let _g = lock();
    clean();
    let r = check(&hand_policy("notesd"), &program("notesd"), "notesd-benign", false);
    assert_eq!(r.code, 0, "{}", r.report);
    assert!(r.report.contains(" 0 violations, 0 unverifiable; P exited with status 0"), "{}", r.report);
    assert!(r.stdout.contains("notes=3 failed=0 file=/tmp/notes.txt status=ok"), "{}", r.stdout);
    let notes = std::fs::read_to_string(NOTES).unwrap();
    assert_eq!(notes.lines().count(), 3);
    assert!(notes.starts_with("buy milk\ncall the plumber at 10\n"));
    assert_eq!(notes.lines().nth(2).unwrap().len(), 127, "the longest note that fits");

    let r = check(&hand_policy("cmdgate"), &program("cmdgate"), "cmdgate-benign1", false);
    assert_eq!(r.code, 0, "{}", r.report);
    assert!(r.stdout.contains("run=date refused=0"), "{}", r.stdout);
    assert!(r.report.contains("runs another program"), "{}", r.report);
    assert!(r.report.contains(" 0 violations, 0 unverifiable; P exited with status 0"), "{}", r.report);

    // A refused administrator request is the program working as intended: no violation.
    let r = check(&hand_policy("cmdgate"), &program("cmdgate"), "cmdgate-benign2", false);
    assert_eq!(r.code, 0, "{}", r.report);
    assert!(r.stdout.contains("refused=not-allowed request=run 3 touch /tmp/owned"), "{}", r.stdout);
    assert!(r.stdout.contains("run=uname refused=2"), "{}", r.stdout);
    assert!(r.stdout.lines().any(|l| l == "Linux"), "uname -s ran: {}", r.stdout);
    assert!(!exists(OWNED));
    clean();
}

#[test]
fn notesd_exploit_is_killed_before_it_opens_the_attackers_file() {
    let _g = lock();
    clean();
    let r = check(&hand_policy("notesd"), &program("notesd"), "notesd-exploit", false);
    assert_eq!(r.code, semguard_static_tool::cli::CHECK_VIOLATIONS, "{}", r.report);
    let first = r.report.lines().next().unwrap();
    assert!(first.contains("x86_64 openat(257)"), "{first}");
    assert!(first.contains("VIOLATION invariant false, invariant id 3 \"openat: notes_file\""), "{first}");
    assert!(first.contains("filename=\"/tmp/pwned\""), "{first}");
    assert!(r.report.contains("1 violations") && r.report.contains("P killed before event"), "{}", r.report);
    assert!(!exists(PWNED), "the attacker's file was created");
    // The benign first note went where it should; the second never reached any file.
    assert_eq!(std::fs::read_to_string(NOTES).unwrap(), "first\n");
    assert!(r.stdout.contains("note=1 bytes=5") && !r.stdout.contains("note=2"), "{}", r.stdout);

    // Audit mode: the same violation and the overlong write after it are recorded, P goes on.
    clean();
    let r = check(&hand_policy("notesd"), &program("notesd"), "notesd-exploit", true);
    assert_eq!(r.code, semguard_static_tool::cli::CHECK_VIOLATIONS, "{}", r.report);
    assert!(r.report.contains("\"openat: notes_file\""), "{}", r.report);
    assert!(r.report.contains("\"write: note_length\"") && r.report.contains("0x8a"), "{}", r.report);
    assert!(r.report.contains("2 violations") && r.report.contains("P exited with status 0"), "{}", r.report);
    assert!(exists(PWNED), "audit mode lets the call run");
    clean();
}

#[test]
fn cmdgate_exploit_is_killed_before_the_shell_runs() {
    let _g = lock();
    clean();
    let r = check(&hand_policy("cmdgate"), &program("cmdgate"), "cmdgate-exploit", false);
    assert_eq!(r.code, semguard_static_tool::cli::CHECK_VIOLATIONS, "{}", r.report);
    let first = r.report.lines().next().unwrap();
    assert!(first.contains("x86_64 execve(59)"), "{first}");
    assert!(first.contains("invariant id 4 \"execve: user_limit_intact\", values [0x6]"), "{first}");
    assert!(first.contains("filename=\"/bin/sh\""), "{first}");
    assert!(r.report.contains("P killed before event"), "{}", r.report);
    // The format string did its damage (the gate believed it) but the shell never ran.
    assert!(r.stdout.contains("run=maint"), "{}", r.stdout);
    assert!(!exists(OWNED), "the attacker's command ran");

    // The command invariant alone (whatever state led there) catches it too.
    let src = std::fs::read_to_string(guest_stub().join("policies/cmdgate.sgi"))
        .unwrap()
        .replace("assert user_limit_intact: gate.user_limit == USER_COMMANDS;", "");
    let only_cmd = compile_to(&program("cmdgate"), &src, "cmdgate-cmd-only.sgp");
    let r = check(&only_cmd, &program("cmdgate"), "cmdgate-exploit", false);
    assert!(r.report.contains("\"execve: user_command\""), "{}", r.report);
    assert!(!exists(OWNED));

    // Audit mode: recorded, and the shell runs.
    let r = check(&hand_policy("cmdgate"), &program("cmdgate"), "cmdgate-exploit", true);
    assert_eq!(r.code, semguard_static_tool::cli::CHECK_VIOLATIONS, "{}", r.report);
    assert!(r.report.contains("1 violations"), "{}", r.report);
    assert!(exists(OWNED), "audit mode lets the call run");
    clean();
}

#[test]
fn inferred_policies_allow_benign_runs_catch_cmdgate_and_miss_notesd() {
    let _g = lock();
    let mut table = Vec::new();
    for (prog, benign, exploit, effect, want_caught) in [
        // notesd's overflow rewrites a path on the stack: nothing inference pins.
        ("notesd", &["notesd-benign"][..], "notesd-exploit", PWNED, false),
        // cmdgate's %n rewrites gate.user_limit, which main reads on its way to execve and no
        // instruction writes: the inferred `pinned` invariant catches it.
        ("cmdgate", &["cmdgate-benign1", "cmdgate-benign2"][..], "cmdgate-exploit", OWNED, true),
    ] {
        let policy = inferred_policy(prog);
        for b in benign {
            clean();
            let r = check(&policy, &program(prog), b, false);
            assert_eq!(r.code, 0, "{b} under the inferred policy:\n{}", r.report);
            assert!(r.report.contains(" 0 violations, 0 unverifiable"), "{}", r.report);
        }
        clean();
        let r = check(&policy, &program(prog), exploit, false);
        let caught = r.code == semguard_static_tool::cli::CHECK_VIOLATIONS;
        table.push(format!("{exploit}: inferred policy {}", if caught { "catches it" } else { "misses it" }));
        assert_eq!(caught, want_caught, "{exploit} (update the notes):\n{}", r.report);
        if caught {
            assert!(r.report.contains("\"execve: pinned gate+0x0\", values [0x6]"), "{}", r.report);
            assert!(!exists(effect), "the attacker's command ran");
        } else {
            // The call sites, the constant arguments and the call order are all ones P uses
            // benignly; only P's data differs, in a place inference does not pin.
            assert!(exists(effect));
        }
    }
    clean();
    println!("{}", table.join("\n"));
}

#[test]
fn check_reports_errors() {
    let policy = hand_policy("notesd");
    let o = semguard_static_tool::cli::run([
        "semguard",
        "policy",
        "check",
        policy.to_str().unwrap(),
        "--",
        "/nonexistent/program",
    ]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("/nonexistent/program"), "{}", o.stderr);
    let bad = common::tmp().join("not-a-policy.sgp");
    std::fs::write(&bad, b"hello").unwrap();
    let o = semguard_static_tool::cli::run(["semguard", "policy", "check", bad.to_str().unwrap(), "--", "/bin/true"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("not a valid policy"), "{}", o.stderr);
    // P is required.
    let o = semguard_static_tool::cli::run(["semguard", "policy", "check", policy.to_str().unwrap()]);
    assert_eq!(o.code, 2, "{}", o.stderr);
}

#[test]
fn proc_mem_reads_like_the_guest_walk_fails() {
    use semguard_core::addr::GuestVirtAddr;
    use semguard_core::mem::{MemError, VirtMemory};
    use semguard_core::walker::WalkErrorKind;
    use semguard_static_tool::dryrun::ProcMem;

    static KNOWN: [u8; 16] = *b"semguard-procmem";
    let mut m = ProcMem::open(std::process::id() as i32).unwrap();
    let va = KNOWN.as_ptr() as u64;
    let mut buf = [0u8; 16];
    m.read_bytes(GuestVirtAddr(va), &mut buf).unwrap();
    assert_eq!(&buf, &KNOWN);
    // A read that runs from a mapped page into an unmapped one names the unmapped page.
    // SAFETY: a fresh anonymous mapping of two pages; the second is unmapped again and only
    // the first is touched (through /proc/self/mem, which does not fault).
    let base = unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            0x2000,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        assert_eq!(libc::munmap((p as *mut u8).add(0x1000).cast(), 0x1000), 0);
        p as u64
    };
    let mut two = [0u8; 32];
    m.read_bytes(GuestVirtAddr(base + 0x1000 - 16), &mut two[..16]).unwrap();
    match m.read_bytes(GuestVirtAddr(base + 0x1000 - 16), &mut two) {
        Err(MemError::Walk { va, .. }) => assert_eq!(va.0, base + 0x1000),
        other => panic!("{other:?}"),
    }
    // Unmapped page 0: the failure names the page.
    match m.read_bytes(GuestVirtAddr(0x10), &mut buf) {
        Err(MemError::Walk { va, error }) => {
            assert_eq!(va.0, 0x10);
            assert_eq!(error.kind, WalkErrorKind::NotPresent);
        }
        other => panic!("{other:?}"),
    }
    // The kernel half and wrap-around.
    assert!(matches!(
        m.read_bytes(GuestVirtAddr(0xffff_8000_0000_0000), &mut buf),
        Err(MemError::Walk { error: semguard_core::walker::WalkError { kind: WalkErrorKind::NonCanonical, .. }, .. })
    ));
    assert_eq!(m.read_bytes(GuestVirtAddr(u64::MAX - 4), &mut buf), Err(MemError::Overflow));
}
