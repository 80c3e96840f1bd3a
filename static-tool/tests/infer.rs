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

/// `src` compiled for `exe` (it must compile).
fn compiled(src: &str, exe: &Path) -> semguard_static_tool::compile::Compiled {
    let mut prog = load_program(exe.to_str().unwrap()).unwrap();
    compile(src, &mut prog, None)
        .unwrap_or_else(|d| panic!("{}", semguard_static_tool::compile::render("inferred.sgi", src, &d)))
}

fn rules_of(src: &str, exe: &Path) -> semguard_static_tool::ir::PolicyIr {
    compiled(src, exe).policy
}

fn inferred(exe: &Path) -> (Elf, semguard_static_tool::infer::Inferred, String) {
    let elf = Elf::read(exe.to_str().unwrap()).unwrap();
    let inf = infer(&elf).unwrap();
    let src = emit::source(&elf, &inf);
    (elf, inf, src)
}

#[test]
fn numbers_from_a_read_only_table_and_through_two_wrappers_are_resolved() {
    // syscall(numbers[i % 3]) with a const table, and outer(SYS_getegid) → inner → syscall():
    // -O2 loads the table through a register holding its address, -O0 through a scaled
    // index and keeps every parameter in a stack slot.
    for opt in ["-O0", "-O2"] {
        let exe = common::build(&format!("table{opt}"), &["table.c"], &[opt, "-g", "-static"]);
        let (_, inf, src) = inferred(&exe);
        let calls = inf.syscalls();
        for name in ["getuid", "geteuid", "getgid", "getegid"] {
            assert!(calls.contains(&(Abi::X86_64, nr(name))), "{opt}: {name} missing");
        }
        let wrapper: Vec<_> = inf.sites.iter().filter(|s| s.func == "syscall" && s.reachable).collect();
        assert_eq!(wrapper.len(), 1, "{opt}");
        assert!(!wrapper[0].unresolved, "{opt}: every caller of syscall() passes a known number");
        assert!(inf.warnings.is_empty(), "{opt}: {:?}", inf.warnings);
        // The compiled policy allows them only from the wrapper's site.
        let p = rules_of(&src, &exe);
        let uid = p.rules.iter().filter(|r| r.nr == nr("getuid")).count();
        assert!(uid >= 1, "{opt}");
    }
}

#[test]
fn globals_read_on_the_way_to_execve_and_never_written_are_pinned() {
    for (opt, flags) in [("-O0", &["-O0", "-g", "-static"][..]), ("-O2", &["-O2", "-g", "-static"][..]), ("pie", &["-O2", "-g", "-static-pie"][..])] {
        let exe = common::build(&format!("pinned{opt}"), &["pinned.c"], flags);
        let (elf, inf, src) = inferred(&exe);
        let execve = (Abi::X86_64, nr("execve"));
        let pinned = inf.pinned.get(&execve).unwrap_or_else(|| panic!("{opt}: nothing pinned at execve\n{src}"));
        let at = |name: &str, off: u64| elf.symbols[name].addr + off;
        let find = |addr: u64| pinned.iter().find(|p| p.addr == addr);
        // gate.limit (3) and verbose (0) are read before the exec and never written.
        assert_eq!(find(at("gate", 0)).map(|p| (p.size, p.value)), Some((4, 3)), "{opt}: {pinned:?}");
        assert_eq!(find(at("verbose", 0)).map(|p| (p.size, p.value)), Some((1, 0)), "{opt}: {pinned:?}");
        // gate.seen is written; `escaped` has its address taken; `alias` points into data.
        assert!(find(at("gate", 4)).is_none(), "{opt}: {pinned:?}");
        assert!(find(at("escaped", 0)).is_none(), "{opt}: {pinned:?}");
        // The policy compiles and asserts it at execve (a PIE's address relative to its base).
        let want = if elf.position_independent {
            format!("*(u32 *)($base + {:#x}) == 0x3", at("gate", 0))
        } else {
            format!("*(u32 *)({:#x}) == 0x3", at("gate", 0))
        };
        assert!(src.contains(&want), "{opt}: {src}");
        compiled(&src, &exe);
    }
}

#[test]
fn kernel_induced_calls_are_allowed_where_the_kernel_makes_them() {
    // infer.c: rt_sigaction only through abort() (SIG_DFL), so P installs no handler that
    // makes calls: the trace is kept, rt_sigreturn is a self-loop of every state and comes
    // only from the restorer (__restore_rt, a symbol of size 0 the kernel alone calls).
    let exe = fixture();
    let (elf, inf, src) = inferred(&exe);
    assert!(inf.no_trace.is_empty(), "{:?}", inf.no_trace);
    let restorer = elf.symbols["__restore_rt"].addr;
    assert_eq!(inf.kernel.restorers, vec![restorer + 9], "mov $15, %rax; syscall");
    assert!(src.contains("const QUIET_HANDLERS = {"), "{src}");
    let compiled = compiled(&src, &exe);
    let p = &compiled.policy;
    let c = Checker::new(Policy::decode(&compiled.blob).unwrap());
    let sigreturn = nr("rt_sigreturn");
    let call = |nr: u32, rip: u64| Syscall { abi: Abi::X86_64, nr, args: [0; 6], user_rip: rip };
    assert!(c.check_rules(&call(sigreturn, restorer + 9), &Registers::default(), &mut NoMemory).is_allow());
    let main = elf.symbols["main"].addr;
    assert!(!c.check_rules(&call(sigreturn, main + 4), &Registers::default(), &mut NoMemory).is_allow());
    // Every state P can go on from accepts rt_sigreturn and stays; every after_X accepts X
    // again.
    let a = p.automaton.as_ref().expect("a trace");
    for s in 0..a.states.len() as u32 {
        let last = a.states[s as usize] == "after_exit_group" || a.states[s as usize] == "after_exit";
        assert_eq!(a.transitions.contains(&(s, Abi::X86_64, sigreturn, s)), !last, "state {}", a.states[s as usize]);
    }
    let after_read = a.states.iter().position(|s| s == "after_read").unwrap() as u32;
    assert!(a.transitions.contains(&(after_read, Abi::X86_64, nr("read"), after_read)));
    assert!(!a.states.iter().any(|s| s == "after_rt_sigreturn"));
    // Installing a handler that makes calls is refused (the guard reads `act`'s first word).
    let sigaction = inf.sites.iter().find(|s| s.calls.contains(&(Abi::X86_64, nr("rt_sigaction")))).unwrap();
    let write = elf.symbols["__libc_write"].addr;
    let mut img = common::ElfImage::load(&exe);
    let act = 0x7fff_0000_0000u64;
    let install = |h: u64, img: &mut common::ElfImage| {
        img.write(act, &h.to_le_bytes());
        let sc =
            Syscall { abi: Abi::X86_64, nr: nr("rt_sigaction"), args: [10, act, 0, 8, 0, 0], user_rip: sigaction.rip };
        c.check_rules(&sc, &Registers::default(), img).is_allow()
    };
    assert!(install(0, &mut img), "SIG_DFL");
    assert!(install(1, &mut img), "SIG_IGN");
    assert!(!install(write, &mut img), "a handler that writes");
}

#[test]
fn a_handler_that_makes_calls_or_a_thread_means_no_trace() {
    let sig = common::build("signal", &["signal.c"], &["-O2", "-g", "-static"]);
    let (elf, inf, src) = inferred(&sig);
    assert_eq!(inf.no_trace.len(), 1, "{:?}", inf.no_trace);
    assert!(
        inf.no_trace[0].contains("signal handler that makes system calls (main calls sigaction"),
        "{:?}",
        inf.no_trace
    );
    assert!(src.contains("# no trace: P may install a signal handler"), "{src}");
    assert!(!src.contains("\ntrace "), "{src}");
    // rt_sigreturn from the restorer only.
    let restorer = elf.symbols["__restore_rt"].addr + 9;
    let p = rules_of(&src, &sig);
    assert!(p.automaton.is_none());
    let sr: Vec<_> = p.rules.iter().filter(|r| r.nr == nr("rt_sigreturn")).collect();
    assert!(!sr.is_empty());
    assert!(sr.iter().all(|r| r.site.is_none()), "a from rule");
    assert!(src.contains(&format!("syscall rt_sigreturn {{\n    from {restorer:#x};")), "{src}");

    let thr = common::build("threads", &["threads.c"], &["-O2", "-g", "-static", "-pthread"]);
    let (_, inf, src) = inferred(&thr);
    assert!(inf
        .no_trace
        .iter()
        .any(|w| w.starts_with("P may create threads (") && w.contains("P links pthread_create")));
    assert!(src.contains("# no trace: P may create threads ("), "{src}");
    assert!(src.contains("and the automaton is kept per process"), "{src}");
    assert!(rules_of(&src, &thr).automaton.is_none());
}

#[test]
fn an_interrupted_sleep_may_be_restarted_from_its_site() {
    let exe = common::build("sleep", &["sleep.c"], &["-O2", "-g", "-static"]);
    let (_, inf, src) = inferred(&exe);
    assert!(inf.no_trace.is_empty(), "signal(SIGPIPE, SIG_IGN) installs no handler: {:?}", inf.no_trace);
    let sleeps: Vec<u64> = inf
        .sites
        .iter()
        .filter(|s| s.reachable && s.calls.contains(&(Abi::X86_64, nr("clock_nanosleep"))))
        .map(|s| s.rip)
        .collect();
    assert!(!sleeps.is_empty());
    let restart = &inf.kernel.restart[&Abi::X86_64];
    assert!(sleeps.iter().all(|s| restart.contains(s)), "{sleeps:x?} {restart:x?}");
    let p = rules_of(&src, &exe);
    let a = p.automaton.as_ref().unwrap();
    for s in (0..a.states.len() as u32).filter(|&s| !a.states[s as usize].starts_with("after_exit")) {
        assert!(a.transitions.contains(&(s, Abi::X86_64, nr("restart_syscall"), s)), "{}", a.states[s as usize]);
    }
}

/// Inference's output for `exe` compiles without errors (warnings are fine), and no site
/// rule allows a call the policy denies.
fn infer_and_compile(exe: &Path) -> Result<usize, String> {
    let elf = Elf::read(exe.to_str().unwrap()).map_err(|e| e.to_string())?;
    let inf = infer(&elf).map_err(|e| e.to_string())?;
    let src = emit::source(&elf, &inf);
    let mut prog = load_program(exe.to_str().unwrap()).map_err(|e| e.to_string())?;
    let c = compile(&src, &mut prog, None)
        .map_err(|d| semguard_static_tool::compile::render(&exe.display().to_string(), &src, &d))?;
    // What the source denies (any site) is never in a site rule's `allow`.
    let denied: Vec<String> = src
        .lines()
        .filter_map(|l| l.strip_prefix("syscall ")?.strip_suffix(" deny;").map(String::from))
        .flat_map(|l| l.split(", ").map(String::from).collect::<Vec<_>>())
        .collect();
    let mut lines = src.lines();
    while let Some(l) = lines.next() {
        if let Some(list) = l.strip_prefix("syscall ").filter(|_| !l.contains('{') && !l.ends_with(';')) {
            let next = lines.next().unwrap_or("");
            assert!(next.trim_start().starts_with("at ") && next.ends_with(" allow;"), "{l}\n{next}");
            for call in list.split(", ") {
                assert!(!denied.iter().any(|d| d == call), "{}: {call} denied and allowed at {next}", exe.display());
            }
        }
    }
    Ok(c.policy.rules.len())
}

/// Every fixture, built like a user would: (name, sources, extra flags).
const FIXTURES: &[(&str, &[&str], &[&str])] = &[
    ("app", &["app.c", "app2.c"], &[]),
    ("infer", &["infer.c"], &[]),
    ("int80", &["int80.c"], &[]),
    ("kernel", &["kernel.c"], &[]),
    ("threads", &["threads.c"], &["-pthread"]),
    ("table", &["table.c"], &[]),
    ("signal", &["signal.c"], &[]),
    ("sleep", &["sleep.c"], &[]),
    ("pinned", &["pinned.c"], &[]),
];

#[test]
fn every_inferred_policy_of_every_fixture_compiles() {
    let mut n = 0;
    let mut failures = Vec::new();
    for (name, srcs, extra) in FIXTURES {
        for opt in ["-O0", "-O2"] {
            let mut flags = vec![opt, "-g", "-static", "-fno-pie", "-no-pie"];
            flags.extend_from_slice(extra);
            let exe = common::build(&format!("all-{name}{opt}"), srcs, &flags);
            match infer_and_compile(&exe) {
                Ok(_) => n += 1,
                Err(e) => failures.push(e),
            }
        }
    }
    println!("{n} inferred fixture policies compile");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!(n, FIXTURES.len() * 2);
}

#[test]
fn every_inferred_policy_of_every_static_pie_fixture_compiles() {
    // A static-pie's sites and image addresses are offsets from its load base
    // (LANGUAGE.md, "Position-independent programs").
    for (name, srcs, extra) in FIXTURES {
        for opt in ["-O0", "-O2"] {
            let mut flags = vec![opt, "-g", "-static-pie"];
            flags.extend_from_slice(extra);
            let exe = common::build(&format!("all-pie-{name}{opt}"), srcs, &flags);
            infer_and_compile(&exe).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

/// Whether the file at `path` is an x86-64 ELF executable that is not position-independent
/// and has no program interpreter (statically linked), from its first page.
fn static_non_pie(path: &Path) -> bool {
    use std::io::Read;
    let mut head = vec![0u8; 4096];
    let Ok(n) = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)) else { return false };
    let head = &head[..n];
    let u16_at = |o: usize| head.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| head.get(o..o + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()));
    let u64_at = |o: usize| head.get(o..o + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()));
    // ELF64, little-endian, ET_EXEC, EM_X86_64.
    if !head.starts_with(b"\x7fELF\x02\x01") || u16_at(16) != Some(2) || u16_at(18) != Some(62) {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(32), u16_at(54), u16_at(56)) else { return false };
    // No PT_INTERP (3) and no PT_DYNAMIC (2) among the program headers in the first page.
    (0..usize::from(phnum)).all(|k| {
        let at = phoff as usize + k * usize::from(phentsize);
        u32_at(at).is_some_and(|t| t != 2 && t != 3)
    })
}

/// Statically linked, non-PIE executables on this host (busybox-static's /bin/busybox, …):
/// at most a few, smallest first.
fn host_static_programs() -> Vec<PathBuf> {
    let mut found: Vec<(u64, PathBuf)> = Vec::new();
    for dir in ["/bin", "/usr/bin", "/sbin", "/usr/sbin"] {
        let Ok(rd) = std::fs::read_dir(dir) else { continue };
        for e in rd.flatten() {
            let Ok(path) = std::fs::canonicalize(e.path()) else { continue };
            let Ok(meta) = std::fs::metadata(&path) else { continue };
            if meta.is_file() && meta.len() <= 8 << 20 && static_non_pie(&path) {
                found.push((meta.len(), path));
            }
        }
    }
    found.sort();
    found.dedup_by(|a, b| a.1 == b.1);
    found.into_iter().take(6).map(|f| f.1).collect()
}

#[test]
fn inferred_policies_of_static_programs_on_this_host_compile() {
    let progs = host_static_programs();
    if progs.is_empty() {
        println!("note: no statically linked non-PIE program on this host (apt-get install busybox-static to try one)");
        return;
    }
    let mut failures = Vec::new();
    for p in &progs {
        match infer_and_compile(p) {
            Ok(rules) => println!("{}: inferred policy compiles ({rules} rules)", p.display()),
            // No build-id: `policy compile` cannot record P's identity; not inference's fault.
            Err(e) if e.contains("build-id") => println!("note: {} skipped: {e}", p.display()),
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
