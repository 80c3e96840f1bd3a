//! `semguard policy infer` on gcc -static fixtures: what it finds (numbers through libc, through
//! glibc's `syscall()` wrapper, inline `syscall` with constant arguments, `int $0x80`), a golden
//! of the emitted source, and benign runs replayed from strace through the Assertion Checker
//! with the compiled inferred policy: zero violations.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use semguard_core::checker::Checker;
use semguard_core::policy::Policy;
use semguard_core::regs::Registers;
use semguard_core::syscall::{Abi, Syscall};
use semguard_core::syscall_names;
use semguard_static_tool::compile::{compile, load_program};
use semguard_static_tool::elf::Elf;
use semguard_static_tool::infer::{emit, infer};

fn fixture() -> PathBuf {
    common::build("infer", &["infer.c"], &["-O2", "-g", "-static"])
}

fn hello() -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-stub/hello.c");
    let dst = common::fixtures().join("../../target-hello.c");
    let _ = dst;
    // Built like guest-stub/Makefile builds it.
    let out = common::tmp().join("hello");
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "gcc".into()))
        .args(["-O2", "-g", "-Wall", "-Wextra", "-Werror", "-static", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .unwrap();
    assert!(status.success());
    out
}

fn nr(name: &str) -> u32 {
    syscall_names::number(Abi::X86_64, name).unwrap()
}

#[test]
fn finds_calls_through_libc_wrappers_inline_asm_and_int80() {
    let exe = fixture();
    let elf = Elf::read(exe.to_str().unwrap()).unwrap();
    let inf = infer(&elf).unwrap();
    let calls = inf.syscalls();
    for name in ["openat", "read", "close", "write", "getpid", "getppid", "exit_group", "newfstatat"] {
        assert!(calls.contains(&(Abi::X86_64, nr(name))), "{name} missing");
    }
    assert!(calls.contains(&(Abi::Ia32, 20)), "int $0x80 getpid missing");
    assert!(!calls.contains(&(Abi::X86_64, nr("execve"))), "P never execs");
    // glibc's syscall(): its one `syscall` instruction, numbered by its callers.
    let wrapper: Vec<_> = inf.sites.iter().filter(|s| s.func == "syscall" && s.reachable).collect();
    assert_eq!(wrapper.len(), 1);
    assert!(wrapper[0].via_wrapper);
    assert!(wrapper[0].calls.contains(&(Abi::X86_64, nr("getpid"))));
    // Inline asm in main: constant number and constant fd/count.
    let note = inf.sites.iter().find(|s| s.func == "main" && s.calls.contains(&(Abi::X86_64, 1))).unwrap();
    assert_eq!(note.const_args.get(&0), Some(&2));
    assert_eq!(note.const_args.get(&2), Some(&5));
    let ppid = inf.sites.iter().find(|s| s.func == "main" && s.calls.contains(&(Abi::X86_64, nr("getppid")))).unwrap();
    assert!(!ppid.unresolved && !ppid.via_wrapper);
    // Every site's RIP is the address after its instruction, inside its function.
    let sym = |n: &str| elf.symbols.get(n).unwrap().addr;
    assert_eq!(note.rip, sym("main") + note.offset + 2);
    // The automaton starts with what _start's path makes first and ends at exit_group.
    let a = &inf.automaton;
    assert_eq!(a.states[0], "start");
    let exit_state = a.states.iter().position(|s| s == "after_exit_group").unwrap() as u32;
    assert!(a.transitions.iter().all(|t| t.0 != exit_state), "nothing follows exit_group");
    assert!(a.transitions.iter().any(|t| t.0 == 0));
}

#[test]
fn emitted_source_is_golden_and_compiles() {
    let exe = fixture();
    let elf = Elf::read(exe.to_str().unwrap()).unwrap();
    let inf = infer(&elf).unwrap();
    let src = emit::source(&elf, &inf);
    let shown = src.replace(exe.to_str().unwrap(), "infer");
    common::golden("infer.sgi", &common::normalise(&shown, &elf, true));
    let mut prog = load_program(exe.to_str().unwrap()).unwrap();
    if let Err(d) = compile(&src, &mut prog, None) {
        panic!("{}", semguard_static_tool::compile::render("inferred.sgi", &src, &d));
    }
}

/// Memory that is never read: inferred invariants only look at arguments and call sites.
struct NoMemory;
impl semguard_core::mem::VirtMemory for NoMemory {
    fn read_bytes(
        &mut self,
        _: semguard_core::addr::GuestVirtAddr,
        _: &mut [u8],
    ) -> Result<(), semguard_core::mem::MemError> {
        Err(semguard_core::mem::MemError::Overflow)
    }
}

/// The system calls of one run of `exe args`, from `strace -i -e raw=all` (user RIP and raw
/// arguments), without the tracer's own `execve`.
fn strace(exe: &Path, args: &[&str]) -> Option<Vec<Syscall>> {
    let log = common::tmp().join(format!("strace-{}-{}.log", exe.file_name()?.to_string_lossy(), args.len()));
    let status = Command::new("strace")
        .args(["-qq", "-i", "-e", "raw=all", "-o"])
        .arg(&log)
        .arg(exe)
        .args(args)
        .output()
        .ok()?;
    let _ = status;
    let text = std::fs::read_to_string(&log).ok()?;
    let mut calls = Vec::new();
    for line in text.lines().skip(1) {
        let Some(rest) = line.strip_prefix('[') else { continue };
        let Some((ip, rest)) = rest.split_once("] ") else { continue };
        let Ok(rip) = u64::from_str_radix(ip, 16) else { continue };
        let Some((name, rest)) = rest.split_once('(') else { continue };
        let Some(nr) = syscall_names::number(Abi::X86_64, name) else { panic!("unknown call {name} in {line}") };
        let inner = rest.split(')').next().unwrap_or("");
        let mut a = [0u64; 6];
        for (k, v) in inner.split(", ").filter(|v| !v.is_empty()).take(6).enumerate() {
            a[k] = match v.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).unwrap(),
                None => v.parse::<i64>().map(|x| x as u64).unwrap_or_else(|_| panic!("arg {v} in {line}")),
            };
        }
        calls.push(Syscall { abi: Abi::X86_64, nr, args: a, user_rip: rip });
    }
    Some(calls)
}

/// Infers, compiles and replays benign runs; returns (calls replayed, violations).
fn replay(exe: &Path, runs: &[&[&str]]) -> (usize, Vec<String>) {
    let elf = Elf::read(exe.to_str().unwrap()).unwrap();
    let inf = infer(&elf).unwrap();
    let src = emit::source(&elf, &inf);
    let mut prog = load_program(exe.to_str().unwrap()).unwrap();
    let blob = compile(&src, &mut prog, None)
        .unwrap_or_else(|d| panic!("{}", semguard_static_tool::compile::render("i", &src, &d)))
        .blob;
    let c = Checker::new(Policy::decode(&blob).unwrap());
    let (mut n, mut bad) = (0, Vec::new());
    for args in runs {
        let calls = strace(exe, args).expect("strace runs");
        assert!(calls.len() > 5, "{args:?}: {calls:?}");
        let mut st = c.new_process();
        for sc in calls {
            n += 1;
            let v = c.check(&mut st, &sc, &Registers::default(), &mut NoMemory);
            if !v.is_allow() {
                bad.push(format!(
                    "{args:?} {} at {:#x}: {v:?}",
                    syscall_names::name(sc.abi, sc.nr).unwrap_or("?"),
                    sc.user_rip
                ));
            }
        }
    }
    (n, bad)
}

fn have_strace() -> bool {
    Command::new("strace").arg("-V").output().is_ok_and(|o| o.status.success())
}

#[test]
fn benign_runs_of_the_fixture_have_no_violations() {
    if !have_strace() {
        println!("skipped: strace is not installed");
        return;
    }
    let (n, bad) = replay(&fixture(), &[&[], &["/etc/hostname"], &["/nonexistent"], &["/etc/hostname", "x"]]);
    println!("{n} calls replayed");
    assert!(bad.is_empty(), "{} violations:\n{}", bad.len(), bad.join("\n"));
}

#[test]
fn benign_runs_of_guest_stub_hello_have_no_violations() {
    if !have_strace() {
        println!("skipped: strace is not installed");
        return;
    }
    let (n, bad) = replay(&hello(), &[&[], &["a", "b"]]);
    println!("{n} calls replayed");
    assert!(bad.is_empty(), "{} violations:\n{}", bad.len(), bad.join("\n"));
}

#[test]
fn an_unexpected_call_is_caught() {
    // The same run with one call moved to a site P never uses, one made from main through
    // `int $0x80` where P uses `syscall`, and an execve P never makes.
    let exe = fixture();
    let elf = Elf::read(exe.to_str().unwrap()).unwrap();
    let inf = infer(&elf).unwrap();
    let src = emit::source(&elf, &inf);
    let mut prog = load_program(exe.to_str().unwrap()).unwrap();
    let blob = compile(&src, &mut prog, None).unwrap().blob;
    let c = Checker::new(Policy::decode(&blob).unwrap());
    let main = elf.symbols["main"].addr;
    let check = |sc: Syscall| c.check_rules(&sc, &Registers::default(), &mut NoMemory);
    let getppid =
        inf.sites.iter().find(|s| s.func == "main" && s.calls.contains(&(Abi::X86_64, nr("getppid")))).unwrap();
    assert!(check(Syscall { abi: Abi::X86_64, nr: nr("getppid"), args: [0; 6], user_rip: getppid.rip }).is_allow());
    assert!(!check(Syscall { abi: Abi::X86_64, nr: nr("getppid"), args: [0; 6], user_rip: main + 1 }).is_allow());
    assert!(!check(Syscall { abi: Abi::X86_64, nr: nr("execve"), args: [0; 6], user_rip: getppid.rip }).is_allow());
    // The inline write with fd 2, count 5: another fd or length at that site is refused.
    let note = inf.sites.iter().find(|s| s.func == "main" && s.calls.contains(&(Abi::X86_64, 1))).unwrap();
    let w = |fd, count| Syscall { abi: Abi::X86_64, nr: 1, args: [fd, 0x479012, count, 0, 0, 0], user_rip: note.rip };
    let buf = note.const_args[&1];
    let w2 = |fd, count| Syscall { args: [fd, buf, count, 0, 0, 0], ..w(fd, count) };
    assert!(check(w2(2, 5)).is_allow());
    assert!(!check(w2(1, 5)).is_allow());
    assert!(!check(w2(2, 500)).is_allow());
    // clock_gettime may come from the vDSO's fallback at a run-time address: any site.
    assert!(check(Syscall {
        abi: Abi::X86_64,
        nr: nr("clock_gettime"),
        args: [1, 0, 0, 0, 0, 0],
        user_rip: 0x7fff_f000_0a3d
    })
    .is_allow());
    // An x32 call (nothing in P makes one) is another ABI: refused.
    assert!(!check(Syscall { abi: Abi::X32, nr: 1, args: [0; 6], user_rip: note.rip }).is_allow());
}

#[test]
fn cli_infer_writes_source() {
    let exe = fixture();
    let out = common::tmp().join("cli-infer.sgi");
    let o = semguard_static_tool::cli::run([
        "semguard",
        "policy",
        "infer",
        exe.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("system calls from"), "{}", o.stdout);
    assert!(std::fs::read_to_string(&out).unwrap().starts_with("# Inferred by `semguard policy infer`"));
    let o = semguard_static_tool::cli::run([
        "semguard",
        "policy",
        "infer",
        common::fixtures().join("app.c").to_str().unwrap(),
        "-o",
        "/tmp/x",
    ]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("not an ELF file"));
}
