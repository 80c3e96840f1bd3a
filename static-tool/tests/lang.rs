//! The language's defences against a hostile P: classes of equivalent calls (each class
//! compiled against the app fixture and decided by the Assertion Checker on P's memory
//! image), `policy { single_writer; }` (which no `at SITE` rule can bypass), the lints
//! (`file:line:col: warning: …`), and what `policy infer` says about threads.

mod common;

use std::path::PathBuf;

use common::{app, ElfImage};
use semguard_core::checker::Checker;
use semguard_core::eval::{Verdict, ViolationKind};
use semguard_core::policy::Policy;
use semguard_core::regs::Registers;
use semguard_core::syscall::{Abi, Syscall};
use semguard_core::syscall_names;
use semguard_static_tool::compile::{compile, load_program, Compiled};
use semguard_static_tool::diag::Source;
use semguard_static_tool::elf::Elf;
use semguard_static_tool::infer::{emit, infer};

fn threads() -> PathBuf {
    common::build("threads", &["threads.c"], &["-O2", "-g", "-static", "-pthread"])
}

fn infer_fixture() -> PathBuf {
    common::build("infer", &["infer.c"], &["-O2", "-g", "-static"])
}

fn compile_for(exe: &std::path::Path, src: &str) -> Compiled {
    let mut prog = load_program(exe.to_str().unwrap()).unwrap();
    match compile(src, &mut prog, None) {
        Ok(c) => c,
        Err(d) => panic!("{}", semguard_static_tool::compile::render("t.sgi", src, &d)),
    }
}

/// Compiles `src` for the app fixture.
fn compiled(src: &str) -> Compiled {
    compile_for(&app(), src)
}

/// The warnings of compiling `src` for `exe`, as `line:col: message`.
fn warnings_for(exe: &std::path::Path, src: &str) -> Vec<String> {
    let c = compile_for(exe, src);
    let s = Source::new("t", src);
    c.warnings.iter().map(|d| s.short(d).trim_start_matches("t:").to_string()).collect()
}

fn warnings(src: &str) -> Vec<String> {
    warnings_for(&app(), src)
}

/// The first error of compiling `src` for the app fixture, as `line:col: message`.
fn first_error(src: &str) -> String {
    let mut prog = load_program(app().to_str().unwrap()).unwrap();
    match compile(src, &mut prog, None) {
        Ok(_) => panic!("compiled: {src}"),
        Err(d) => Source::new("t", src).short(&d[0]).trim_start_matches("t:").to_string(),
    }
}

fn nr(abi: Abi, name: &str) -> u32 {
    syscall_names::number(abi, name).unwrap_or_else(|| panic!("{abi:?} {name}"))
}

/// Decides calls with a compiled policy on the app fixture's memory image.
struct Judge {
    blob: Vec<u8>,
    mem: ElfImage,
}

const RIP: u64 = 0x40_1234;
/// Strings and structures placed in P's stack area of the image.
const AT: u64 = 0x7ffd_0000;
const AT2: u64 = 0x7ffd_0800;

impl Judge {
    fn new(src: &str) -> Judge {
        Judge { blob: compiled(src).blob, mem: ElfImage::load(&app()) }
    }
    fn decide(&mut self, abi: Abi, name: &str, args: [u64; 6], rip: u64) -> Verdict {
        let c = Checker::new(Policy::decode(&self.blob).unwrap());
        let sc = Syscall { abi, nr: nr(abi, name), args, user_rip: rip };
        c.check_rules(&sc, &Registers { rsp: 0x7ffd_1000, ..Registers::default() }, &mut self.mem)
    }
    fn x64(&mut self, name: &str, args: [u64; 6]) -> Verdict {
        self.decide(Abi::X86_64, name, args, RIP)
    }
    /// The invariant an x86-64 call violates.
    fn fail_x64(&mut self, name: &str, args: [u64; 6]) -> Option<String> {
        let v = self.x64(name, args);
        self.failed(&v)
    }
    /// The name of the invariant a violation names.
    fn failed(&self, v: &Verdict) -> Option<String> {
        let p = Policy::decode(&self.blob).unwrap();
        match v {
            Verdict::Violation { invariant: Some(r), .. } => {
                p.invariant(r.index).and_then(|i| i.name().map(String::from))
            }
            _ => None,
        }
    }
    /// (abi, nr, site) of every rule.
    fn rules(&self) -> Vec<(Abi, u32, Option<u64>)> {
        let p = Policy::decode(&self.blob).unwrap();
        (0..p.rule_count()).filter_map(|i| p.rule(i)).map(|r| (r.abi, r.nr, r.site)).collect()
    }
}

const AT_FDCWD: u64 = (-100i64) as u64;

#[test]
fn file_open_covers_open_openat_openat2_and_creat() {
    let mut j = Judge::new(
        "syscall class file_open {\n\
             assert file_open.path == \"/etc/app.conf\" || startswith(file_open.path, \"/tmp/\");\n\
             assert ro: (file_open.flags & O_ACCMODE) == O_RDONLY && file_open.dfd == AT_FDCWD;\n\
             assert file_open.mode == 0 && file_open.resolve == 0 && file_open.flags < 0x100000000;\n\
         }\n\
         syscall getpid allow;\n",
    );
    let ok = b"/etc/app.conf\0";
    let bad = b"/etc/shadow\0";
    j.mem.write(AT, ok);
    // open(path, flags, mode): dfd is AT_FDCWD.
    assert_eq!(j.x64("open", [AT, 0, 0, 0, 0, 0]), Verdict::Allow);
    let v = j.x64("open", [AT, 2, 0, 0, 0, 0]);
    assert_eq!(j.failed(&v).as_deref(), Some("file_open: ro"));
    // open's flags are an int: the upper half of the register is not the call's.
    assert_eq!(j.x64("open", [AT, 0xffff_0000_0000_0000, 0, 0, 0, 0]), Verdict::Allow);
    // open's mode is a umode_t (16 bits).
    assert_eq!(j.x64("open", [AT, 0, 0x1_0000, 0, 0, 0]), Verdict::Allow);
    assert!(!j.x64("open", [AT, 0, 0o644, 0, 0, 0]).is_allow());
    // openat(dfd, path, flags, mode).
    assert_eq!(j.x64("openat", [AT_FDCWD, AT, 0, 0, 0, 0]), Verdict::Allow);
    assert_eq!(j.x64("openat", [0xffff_ff9c, AT, 0, 0, 0, 0]), Verdict::Allow, "dfd is an int");
    assert_eq!(j.fail_x64("openat", [3, AT, 0, 0, 0, 0]).as_deref(), Some("file_open: ro"));
    // openat2(dfd, path, how, size): flags, mode, resolve are read from struct open_how.
    let how = |j: &mut Judge, flags: u64, mode: u64, resolve: u64| {
        j.mem.write(AT2, &flags.to_le_bytes());
        j.mem.write(AT2 + 8, &mode.to_le_bytes());
        j.mem.write(AT2 + 16, &resolve.to_le_bytes());
    };
    how(&mut j, 0, 0, 0);
    assert_eq!(j.x64("openat2", [AT_FDCWD, AT, AT2, 24, 0, 0]), Verdict::Allow);
    how(&mut j, 2, 0, 0);
    assert_eq!(j.fail_x64("openat2", [AT_FDCWD, AT, AT2, 24, 0, 0]).as_deref(), Some("file_open: ro"));
    // All 64 bits of how->flags count (the kernel refuses unknown bits, the policy too).
    how(&mut j, 1 << 40, 0, 0);
    assert!(!j.x64("openat2", [AT_FDCWD, AT, AT2, 24, 0, 0]).is_allow());
    how(&mut j, 0, 0o600, 0);
    assert!(!j.x64("openat2", [AT_FDCWD, AT, AT2, 24, 0, 0]).is_allow());
    how(&mut j, 0, 0, 0x08);
    assert!(!j.x64("openat2", [AT_FDCWD, AT, AT2, 24, 0, 0]).is_allow());
    // An unreadable `how` is unverifiable: fail-closed.
    assert!(matches!(j.x64("openat2", [AT_FDCWD, AT, 0x10, 24, 0, 0]), Verdict::Unverifiable { .. }));
    // creat(path, mode) always means O_CREAT | O_WRONLY | O_TRUNC.
    assert_eq!(j.fail_x64("creat", [AT, 0, 0, 0, 0, 0]).as_deref(), Some("file_open: ro"));
    // The path, for every member.
    j.mem.write(AT, bad);
    let name = "file_open: file_open.path == \"/etc/app.conf\" || startswith(file_open.path, \"/tmp/\")";
    for (call, args) in [
        ("open", [AT, 0, 0, 0, 0, 0]),
        ("openat", [AT_FDCWD, AT, 0, 0, 0, 0]),
        ("openat2", [AT_FDCWD, AT, AT2, 24, 0, 0]),
        ("creat", [AT, 0, 0, 0, 0, 0]),
    ] {
        let v = j.x64(call, args);
        assert!(matches!(v, Verdict::Violation { kind: ViolationKind::InvariantFalse, .. }), "{call}: {v:?}");
        assert_eq!(j.failed(&v).as_deref(), Some(name), "{call}");
    }
    // No ia32 rule in the policy: ia32 members are not expanded (other_abis deny refuses them).
    assert!(j.rules().iter().all(|r| r.0 == Abi::X86_64));
    let calls: Vec<u32> = j.rules().iter().map(|r| r.1).collect();
    for call in ["open", "openat", "openat2", "creat"] {
        assert!(calls.contains(&nr(Abi::X86_64, call)), "{call}");
    }
}

#[test]
fn classes_expand_to_ia32_members_when_the_policy_has_ia32_rules() {
    let mut j = Judge::new(
        "syscall class file_open { assert file_open.path == \"/etc/app.conf\"; }\n\
         syscall ia32:getpid allow;\n",
    );
    j.mem.write(AT, b"/etc/shadow\0");
    for call in ["open", "openat", "openat2", "creat"] {
        assert!(j.rules().contains(&(Abi::Ia32, nr(Abi::Ia32, call), None)), "ia32:{call}");
    }
    assert!(!j.decide(Abi::Ia32, "open", [AT, 0, 0, 0, 0, 0], RIP).is_allow());
    assert!(!j.decide(Abi::Ia32, "openat", [AT_FDCWD & 0xffff_ffff, AT, 0, 0, 0, 0], RIP).is_allow());
    j.mem.write(AT, b"/etc/app.conf\0");
    assert_eq!(j.decide(Abi::Ia32, "openat", [0xffff_ff9c, AT, 0, 0, 0, 0], RIP), Verdict::Allow);
    // `other_abis allow` also expands them (otherwise ia32 calls would reach the default).
    let j = Judge::new("policy { other_abis allow; }\nsyscall class exec deny;\nsyscall getpid allow;\n");
    for call in ["execve", "execveat"] {
        assert!(j.rules().contains(&(Abi::Ia32, nr(Abi::Ia32, call), None)), "ia32:{call}");
        assert!(j.rules().contains(&(Abi::X32, nr(Abi::X32, call), None)), "x32:{call}");
    }
}

#[test]
fn file_write_file_read_and_socket_send_name_the_descriptor_of_every_member() {
    let mut j = Judge::new(
        "syscall class file_write { assert file_write.fd in {1, 2}; }\n\
         syscall class file_read { assert file_read.fd == 0; }\n\
         syscall class socket_send { assert socket_send.fd == 7 && (socket_send.flags & 0x4000) == 0; }\n",
    );
    // (call, index of the descriptor written to).
    for (call, i) in [
        ("write", 0),
        ("pwrite64", 0),
        ("writev", 0),
        ("pwritev", 0),
        ("pwritev2", 0),
        ("sendfile", 0),
        ("splice", 2),
        ("tee", 1),
        ("copy_file_range", 2),
        ("vmsplice", 0),
    ] {
        // Descriptor 0 elsewhere: what the file_read rule wants of the calls in both classes.
        let mut args = [0u64; 6];
        args[i] = 2;
        assert_eq!(j.x64(call, args), Verdict::Allow, "{call}");
        args[i] = 3;
        let v = j.x64(call, args);
        assert_eq!(j.failed(&v).as_deref(), Some("file_write: file_write.fd in {1, 2}"), "{call}");
    }
    // (call, index of the descriptor read from); sendfile, splice, tee and copy_file_range are
    // in both classes, with both rules.
    for (call, i) in [
        ("read", 0),
        ("pread64", 0),
        ("readv", 0),
        ("preadv", 0),
        ("preadv2", 0),
        ("sendfile", 1),
        ("splice", 0),
        ("tee", 0),
        ("copy_file_range", 0),
    ] {
        // Descriptor 1 elsewhere: what the file_write rule wants.
        let mut args = [1u64; 6];
        args[i] = 0;
        assert_eq!(j.x64(call, args), Verdict::Allow, "{call} {args:?}");
        args[i] = 4;
        assert_eq!(j.fail_x64(call, args).as_deref(), Some("file_read: file_read.fd == 0"), "{call}");
    }
    for (call, flags) in [("sendto", 3), ("sendmsg", 2), ("sendmmsg", 3)] {
        let mut args = [7u64, 0, 0, 0, 0, 0];
        assert_eq!(j.x64(call, args), Verdict::Allow, "{call}");
        args[flags] = 0x4000;
        assert!(!j.x64(call, args).is_allow(), "{call}");
        args = [8, 0, 0, 0, 0, 0];
        assert!(!j.x64(call, args).is_allow(), "{call}");
    }
}

#[test]
fn exec_reads_path_and_argv_of_execve_and_execveat() {
    let mut j = Judge::new(
        "syscall class exec { assert exec.path == \"/bin/date\" && exec.argv[1] == \"-u\" && exec.argv[2] == 0; }\n\
         syscall class exec { assert exec.dfd == AT_FDCWD && exec.flags == 0 && exec.envp != 0; }\n",
    );
    j.mem.write(AT, b"/bin/date\0");
    j.mem.write(AT + 16, b"-u\0");
    j.mem.write(AT + 32, b"-R\0");
    let argv = AT2;
    let envp = AT2 + 64;
    for (k, p) in [AT, AT + 16, 0].iter().enumerate() {
        j.mem.write(argv + 8 * k as u64, &p.to_le_bytes());
    }
    assert_eq!(j.x64("execve", [AT, argv, envp, 0, 0, 0]), Verdict::Allow);
    assert_eq!(j.x64("execveat", [AT_FDCWD, AT, argv, envp, 0, 0]), Verdict::Allow);
    // execveat(fd, "", …, AT_EMPTY_PATH) runs the file an fd refers to: the path, the dfd and
    // the flags all say so.
    assert!(!j.x64("execveat", [3, AT, argv, envp, 0x1000, 0]).is_allow());
    assert!(!j.x64("execve", [AT, argv, 0, 0, 0, 0]).is_allow());
    j.mem.write(argv + 8, &(AT + 32).to_le_bytes());
    let v = j.x64("execveat", [AT_FDCWD, AT, argv, envp, 0, 0]);
    assert_eq!(
        j.failed(&v).as_deref(),
        Some("exec: exec.path == \"/bin/date\" && exec.argv[1] == \"-u\" && exec.argv[2] == 0")
    );
}

#[test]
fn exec_argv_of_ia32_members_is_an_array_of_4_byte_pointers() {
    let mut j = Judge::new(
        "syscall ia32:getpid allow;\n\
         syscall class exec { assert (char *)exec.argv[1] == \"-u\"; }\n",
    );
    j.mem.write(AT + 16, b"-u\0");
    j.mem.write(AT + 32, b"-R\0");
    let (argv32, argv64) = (AT2, AT2 + 64);
    j.mem.write(argv32, &[0x10, 0, 0, 0]);
    j.mem.write(argv32 + 4, &((AT + 16) as u32).to_le_bytes());
    j.mem.write(argv64 + 8, &(AT + 16).to_le_bytes());
    assert_eq!(j.decide(Abi::Ia32, "execve", [AT, argv32, 0, 0, 0, 0], RIP), Verdict::Allow);
    assert_eq!(j.decide(Abi::X86_64, "execve", [AT, argv64, 0, 0, 0, 0], RIP), Verdict::Allow);
    j.mem.write(argv32 + 4, &((AT + 32) as u32).to_le_bytes());
    assert!(!j.decide(Abi::Ia32, "execveat", [0, AT, argv32, 0, 0, 0], RIP).is_allow());
}

#[test]
fn class_allow_deny_from_and_sites() {
    let mut j = Judge::new(
        "policy { default deny; }\n\
         syscall class exec deny;\n\
         syscall class file_write { from 0x401000, 0x402000; }\n\
         syscall class file_write at 0x402000 { assert file_write.fd == 2; }\n\
         syscall class socket_send allow;\n",
    );
    for call in ["execve", "execveat"] {
        let v = j.x64(call, [0; 6]);
        assert!(matches!(v, Verdict::Violation { kind: ViolationKind::Denied, .. }), "{call}");
        assert_eq!(j.failed(&v).as_deref(), Some("exec: deny"));
    }
    for call in ["sendto", "sendmsg", "sendmmsg"] {
        assert_eq!(j.x64(call, [0; 6]), Verdict::Allow, "{call}");
    }
    for call in ["write", "pwritev2", "vmsplice"] {
        assert_eq!(j.decide(Abi::X86_64, call, [5, 0, 0, 0, 0, 0], 0x40_1000), Verdict::Allow, "{call}");
        assert_eq!(j.decide(Abi::X86_64, call, [2, 0, 0, 0, 0, 0], 0x40_2000), Verdict::Allow, "{call}");
        assert!(!j.decide(Abi::X86_64, call, [5, 0, 0, 0, 0, 0], 0x40_2000).is_allow(), "{call}");
        let v = j.decide(Abi::X86_64, call, [2, 0, 0, 0, 0, 0], 0x40_3000);
        assert!(matches!(v, Verdict::Violation { kind: ViolationKind::WrongCallSite, .. }), "{call}: {v:?}");
    }
    // Members with the same code share one invariant: `from` is one, `fd == 2` is one per
    // way of reading the descriptor (arg 0, 1 or 2).
    let p = compiled("syscall class file_write { assert file_write.fd == 2; }");
    assert_eq!(p.policy.invariants.len(), 3);
    assert!(p.policy.invariants.iter().all(|i| i.name == "file_write: file_write.fd == 2"));
}

#[test]
fn class_errors_name_the_place_and_the_problem() {
    let cases = [
        ("syscall class file_opn allow;", "1:15: unknown system-call class `file_opn`; did you mean `file_open`?; the classes are `file_open`, `file_write`, `file_read`, `exec`, `socket_send`"),
        ("syscall class file_open { assert file_open.pth == 0; }", "1:44: class `file_open` has no argument `pth`; did you mean `path`?; its arguments are: path, flags, mode, dfd, resolve"),
        ("syscall class file_open { assert openat.flags == 0; }", "1:34: `openat.flags`: a class rule is checked for every member of `file_open`; name the class's arguments: `file_open.path`, `file_open.flags`, `file_open.mode`, `file_open.dfd`, `file_open.resolve`"),
        ("syscall openat { assert file_open.flags == 0; }", "1:25: `file_open.flags` names an argument of the class `file_open`: use it inside `syscall class file_open { … }`"),
        ("syscall class exec { assert file_open.flags == 0; }", "1:29: `file_open.flags` names an argument of the class `file_open`: use it inside `syscall class file_open { … }`"),
        ("const X = exec.path;", "1:11: `exec.path` names an argument of the class `exec`: use it inside `syscall class exec { … }`"),
        ("syscall class file_open { assert file_open.flags == \"x\"; }", "1:34: a string comparison needs a `char *` or `char` array, found `u64`"),
        ("syscall class file_open { assert file_open.dfd > 0xffffffffffffffff; }", "1:50: constant 18446744073709551615 does not fit a signed operand"),
        // ia32 members' argv holds 4-byte pointers: `u32 *`, so the element is not a string
        // until cast (`(char *)exec.argv[1]` works for every ABI).
        ("syscall ia32:getpid allow; syscall class exec { assert exec.argv[1] == \"-u\"; }", "1:56: for `ia32:execve` (member of class `exec`): a string comparison needs a `char *` or `char` array, found `u32`"),
        ("policy { single_writer; single_writer; }", "1:25: policy option `single_writer` given twice"),
        ("syscall class file_open at {} allow;", "1:28: `at` needs at least one call site"),
    ];
    let mut bad = Vec::new();
    for (src, want) in cases {
        let got = first_error(src);
        if got != want {
            bad.push(format!("  {src}\n  actual:   {got}\n  expected: {want}"));
        }
    }
    assert!(bad.is_empty(), "{} mismatches:\n{}", bad.len(), bad.join("\n"));
}

#[test]
fn coverage_lint_fires_when_a_default_allow_policy_constrains_one_member_only() {
    let w = warnings("syscall getpid allow;\nsyscall openat { assert (openat.flags & O_ACCMODE) == O_RDONLY; }\n");
    assert!(
        w.contains(&"2:1: openat is constrained but open, openat2, creat are not (default allow lets them through); use `syscall class file_open`".to_string()),
        "{w:?}"
    );
    let w = warnings("syscall execve deny;\n");
    assert!(w.iter().any(|m| m.starts_with("1:1: execve is constrained but execveat is not")), "{w:?}");
    let w = warnings("syscall write, writev { from 0x401000; }\n");
    assert!(w.iter().any(|m| m.starts_with("1:1: write, writev are constrained but pwrite64, pwritev,")), "{w:?}");
    // Not when every member has a rule, when the class is used, or under default deny.
    let quiet = [
        "syscall openat { assert openat.flags == 0; }\nsyscall open, openat2, creat deny;\n",
        "syscall class file_open { assert file_open.flags == 0; }\n",
        "policy { default deny; }\nsyscall openat { assert openat.flags == 0; }\n",
        // A plain `allow` constrains nothing.
        "syscall openat allow;\n",
    ];
    for src in quiet {
        let w = warnings(src);
        assert!(!w.iter().any(|m| m.contains("constrained")), "{src}: {w:?}");
    }
    // ia32 members are checked when the policy has ia32 rules.
    let w = warnings("syscall getpid allow;\nsyscall ia32:open deny;\n");
    assert!(
        w.iter()
            .any(|m| m.starts_with("2:1: ia32:open is constrained but ia32:openat, ia32:openat2, ia32:creat are not")),
        "{w:?}"
    );
}

#[test]
fn io_uring_lint_fires_when_a_default_allow_policy_does_not_deny_them() {
    let w = warnings("policy { default allow; }\nsyscall getpid allow;\n");
    assert!(
        w.contains(&"1:18: io_uring and AIO perform reads and writes without a system call per operation; a default-allow policy should deny them: `syscall io_uring_setup, io_uring_enter, io_uring_register, io_setup, io_submit deny;`".to_string()),
        "{w:?}"
    );
    let w = warnings("syscall getpid allow;\nsyscall io_uring_setup, io_setup deny;\n");
    assert!(w.iter().any(|m| m.ends_with("`syscall io_uring_enter, io_uring_register, io_submit deny;`")), "{w:?}");
    for src in [
        "syscall getpid allow;\nsyscall io_uring_setup, io_uring_enter, io_uring_register, io_setup, io_submit deny;\n",
        "policy { default deny; }\nsyscall getpid allow;\n",
    ] {
        assert!(warnings(src).is_empty(), "{src}: {:?}", warnings(src));
    }
    // A site rule or an assert is not a denial.
    let w = warnings(
        "syscall getpid allow;\nsyscall io_uring_setup, io_uring_enter, io_uring_register, io_setup deny;\nsyscall io_submit { assert $arg0 == 0; }\n",
    );
    assert!(w.iter().any(|m| m.ends_with("`syscall io_submit deny;`")), "{w:?}");
}

#[test]
fn warnings_are_printed_and_the_policy_is_written() {
    let dir = common::tmp();
    let src = dir.join("lint.sgi");
    std::fs::write(&src, "syscall getpid allow;\nsyscall openat { assert openat.flags == 0; }\n").unwrap();
    let out = dir.join("lint.sgp");
    let _ = std::fs::remove_file(&out);
    let o = common::compile_policy(&app(), &src, &out, &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(out.exists());
    let first = format!(
        "{}:2:1: warning: openat is constrained but open, openat2, creat are not (default allow lets them through); use `syscall class file_open`\n  | syscall openat {{ assert openat.flags == 0; }}\n  | ^^^^^^^^^^^^^^\n",
        src.display()
    );
    assert!(o.stderr.starts_with(&first), "{}", o.stderr);
    assert!(o.stderr.contains(": warning: io_uring and AIO"), "{}", o.stderr);
}

#[test]
fn single_writer_holds_at_every_call_site() {
    let mut j = Judge::new(
        "policy { single_writer; }\n\
         syscall getpid allow;\n\
         syscall clone at 0x401000 allow;\n\
         syscall clone3, vfork, ptrace, shmat, io_uring_setup, process_vm_writev, userfaultfd at 0x401000 allow;\n\
         syscall mmap at 0x402000 allow;\n\
         syscall mmap at 0x403000 { assert mmap.len < 0x100000; }\n",
    );
    const CLONE_VM: u64 = 0x100;
    const CLONE_THREAD: u64 = 0x10000;
    const SIGCHLD: u64 = 17;
    for site in [RIP, 0x40_1000] {
        // fork-like clone: allowed; a thread or a shared address space: violation.
        assert_eq!(j.decide(Abi::X86_64, "clone", [SIGCHLD, 0, 0, 0, 0, 0], site), Verdict::Allow);
        for flags in [CLONE_VM, CLONE_THREAD, CLONE_VM | 0x4000 | SIGCHLD, 0x3d0f00] {
            let v = j.decide(Abi::X86_64, "clone", [flags, 0, 0, 0, 0, 0], site);
            assert_eq!(j.failed(&v).as_deref(), Some("single_writer: clone without CLONE_VM or CLONE_THREAD"));
        }
        for call in
            ["clone3", "vfork", "ptrace", "shmat", "io_uring_setup", "process_vm_writev", "userfaultfd", "io_setup"]
        {
            let v = j.decide(Abi::X86_64, call, [0; 6], site);
            assert!(matches!(v, Verdict::Violation { kind: ViolationKind::Denied, .. }), "{call} at {site:#x}: {v:?}");
            assert!(j.failed(&v).unwrap().starts_with("single_writer: "), "{call}");
        }
    }
    const MAP_SHARED: u64 = 1;
    const MAP_PRIVATE: u64 = 2;
    const MAP_SHARED_VALIDATE: u64 = 3;
    const MAP_ANONYMOUS: u64 = 0x20;
    for site in [RIP, 0x40_2000, 0x40_3000] {
        assert_eq!(
            j.decide(Abi::X86_64, "mmap", [0, 4096, 3, MAP_PRIVATE | MAP_ANONYMOUS, 0, 0], site),
            Verdict::Allow
        );
        for flags in [MAP_SHARED, MAP_SHARED_VALIDATE, MAP_SHARED | MAP_ANONYMOUS] {
            let v = j.decide(Abi::X86_64, "mmap", [0, 4096, 3, flags, 3, 0], site);
            assert_eq!(
                j.failed(&v).as_deref(),
                Some("single_writer: mmap without MAP_SHARED or MAP_SHARED_VALIDATE"),
                "{flags:#x} at {site:#x}"
            );
        }
    }
    // The site's own rule still holds too.
    assert!(!j.decide(Abi::X86_64, "mmap", [0, 0x200000, 3, MAP_PRIVATE, 0, 0], 0x40_3000).is_allow());
}

#[test]
fn single_writer_does_not_open_what_default_deny_closes() {
    let mut j = Judge::new(
        "policy { default deny; single_writer; }\n\
         syscall getpid allow;\n\
         syscall clone at 0x401000 allow;\n",
    );
    assert_eq!(j.decide(Abi::X86_64, "clone", [17, 0, 0, 0, 0, 0], 0x40_1000), Verdict::Allow);
    assert!(!j.decide(Abi::X86_64, "clone", [0x100, 0, 0, 0, 0, 0], 0x40_1000).is_allow());
    // Another site has no rule: the default still refuses it.
    let v = j.decide(Abi::X86_64, "clone", [17, 0, 0, 0, 0, 0], RIP);
    assert!(matches!(v, Verdict::Violation { kind: ViolationKind::DefaultDeny, .. }), "{v:?}");
    let v = j.x64("mmap", [0, 4096, 3, 2, 0, 0]);
    assert!(matches!(v, Verdict::Violation { kind: ViolationKind::DefaultDeny, .. }), "{v:?}");
}

#[test]
fn single_writer_covers_ia32_when_the_policy_has_ia32_rules() {
    let src = "policy { single_writer; }\nsyscall getpid allow;\n";
    let j = Judge::new(src);
    assert!(j.rules().iter().all(|r| r.0 == Abi::X86_64), "no ia32 rules: other_abis deny refuses ia32");
    let mut j = Judge::new(&format!("{src}syscall ia32:getpid allow;\nsyscall ia32:clone at 0x401000 allow;\n"));
    let ia32 = |j: &mut Judge, call: &str, args: [u64; 6], rip: u64| j.decide(Abi::Ia32, call, args, rip);
    // i386 clone(flags, newsp, parent_tid, tls, child_tid): the flags are ebx, argument 0.
    for site in [RIP, 0x40_1000] {
        assert_eq!(ia32(&mut j, "clone", [17, 0, 0, 0, 0, 0], site), Verdict::Allow);
        assert!(!ia32(&mut j, "clone", [0x10100, 0, 0, 0, 0, 0], site).is_allow());
    }
    assert_eq!(ia32(&mut j, "mmap2", [0, 4096, 3, 0x22, 0, 0], RIP), Verdict::Allow);
    assert!(!ia32(&mut j, "mmap2", [0, 4096, 3, 0x01, 3, 0], RIP).is_allow());
    // Old mmap (its arguments in memory) and ipc(SHMAT, …).
    assert!(!ia32(&mut j, "mmap", [AT, 0, 0, 0, 0, 0], RIP).is_allow());
    assert!(!ia32(&mut j, "ipc", [21, 0, 0, 0, 0, 0], RIP).is_allow());
    assert!(!ia32(&mut j, "ipc", [0x1_0015, 0, 0, 0, 0, 0], RIP).is_allow(), "version bits above SHMAT");
    assert_eq!(ia32(&mut j, "ipc", [1, 0, 0, 0, 0, 0], RIP), Verdict::Allow, "semop");
    for call in ["clone3", "vfork", "ptrace", "shmat", "io_uring_setup", "process_vm_writev", "userfaultfd"] {
        assert!(!ia32(&mut j, call, [0; 6], RIP).is_allow(), "ia32:{call}");
    }
}

#[test]
fn a_deny_is_final_at_every_site() {
    // An any-site deny (a call's or a class's) holds at sites whose rules would allow the call:
    // an explicit `at` rule (with a warning), a list of calls at a site (as inference writes
    // for a site whose number it could not resolve) and a class site rule (silently).
    for deny in ["syscall execve deny;", "syscall class exec deny;"] {
        let src = format!(
            "policy {{ default allow; }}\n\
             {deny}\n\
             syscall execve at 0x401000 allow;\n\
             syscall getpid, execve at 0x402000 allow;\n\
             syscall class exec at 0x403000 {{ assert exec.flags == 0; }}\n\
             syscall execve at 0x404000 {{ assert execve.filename != 0; }}\n\
             syscall execve at 0x405000 deny;\n\
             syscall io_uring_setup, io_uring_enter, io_uring_register, io_setup, io_submit deny;\n"
        );
        let mut j = Judge::new(&src);
        for site in [RIP, 0x40_1000, 0x40_2000, 0x40_3000, 0x40_4000, 0x40_5000] {
            let v = j.decide(Abi::X86_64, "execve", [AT, 0, 0, 0, 0, 0], site);
            assert!(matches!(v, Verdict::Violation { kind: ViolationKind::Denied, .. }), "{deny} at {site:#x}: {v:?}");
        }
        // The other calls of those site rules are still allowed there.
        assert_eq!(j.decide(Abi::X86_64, "getpid", [0; 6], 0x40_2000), Verdict::Allow);
        // Warnings name the explicit site rules of the call only (not the list, the class
        // rule or the site's own deny).
        let w = warnings(&src);
        let finals: Vec<&String> = w.iter().filter(|m| m.contains("a deny is final")).collect();
        let name = if deny.contains("class") { "exec: deny" } else { "execve: deny" };
        assert_eq!(
            finals,
            [
                &format!("3:1: `execve` is denied for every site (`{name}`, a deny is final), so this site rule does not allow it"),
                &format!("6:1: `execve` is denied for every site (`{name}`, a deny is final), so this site rule does not allow it"),
            ],
            "{w:?}"
        );
    }
    // Without an any-site deny, a site rule decides at its site as before.
    let mut j = Judge::new("policy { default deny; }\nsyscall getpid allow;\nsyscall execve at 0x401000 allow;\n");
    assert_eq!(j.decide(Abi::X86_64, "execve", [AT, 0, 0, 0, 0, 0], 0x40_1000), Verdict::Allow);
    // A site deny is not final elsewhere.
    let mut j = Judge::new("policy { default allow; }\nsyscall execve at 0x401000 deny;\nsyscall io_uring_setup, io_uring_enter, io_uring_register, io_setup, io_submit deny;\n");
    assert_eq!(j.decide(Abi::X86_64, "execve", [AT, 0, 0, 0, 0, 0], 0x40_2000), Verdict::Allow);
}

#[test]
fn toctou_lint_fires_for_memory_reads_when_p_may_create_threads() {
    let reads = "syscall getpid allow;\nsyscall openat { assert startswith(openat.filename, \"/tmp/\"); }\n";
    let w = warnings_for(&threads(), reads);
    let toctou: Vec<&String> = w.iter().filter(|m| m.contains("P may have another writer of its memory")).collect();
    assert_eq!(toctou.len(), 1, "{w:?}");
    assert!(toctou[0].starts_with("2:18: 1 invariant(s) read P's memory (first: `openat: startswith(openat.filename, \"/tmp/\")`) and P may have another writer of its memory ("), "{}", toctou[0]);
    assert!(toctou[0].contains("P links pthread_create"), "{}", toctou[0]);
    assert!(toctou[0].ends_with("add `policy { single_writer; }` (LANGUAGE.md, \"Time of check and time of use\")"));
    let quiet = |exe: &std::path::Path, src: &str| {
        let w = warnings_for(exe, src);
        assert!(!w.iter().any(|m| m.contains("P may have another writer of its memory")), "{src}: {w:?}");
    };
    // single_writer set; P without threads; invariants over registers only.
    quiet(&threads(), &format!("policy {{ single_writer; }}\n{reads}"));
    quiet(&app(), reads);
    quiet(&threads(), "syscall getpid allow;\nsyscall openat { assert openat.flags == 0 && $rip != 0; }\n");
    // Globals are memory too.
    let w = warnings_for(&threads(), "syscall write { assert *(u32 *)&main != 0; }\n");
    assert!(w.iter().any(|m| m.contains("P may have another writer of its memory")), "{w:?}");
}

#[test]
fn infer_turns_single_writer_on_only_without_threads() {
    let src_of = |exe: &std::path::Path| {
        let elf = Elf::read(exe.to_str().unwrap()).unwrap();
        emit::source(&elf, &infer(&elf).unwrap())
    };
    let single = src_of(&infer_fixture());
    assert!(single.contains("\n    single_writer;\n"), "{single}");
    assert!(single.contains("# P never creates threads or shares its memory"), "{single}");
    assert!(single.contains("\nsyscall io_uring_setup, io_uring_enter, io_uring_register, io_setup, io_submit deny;\n"));
    let threaded = src_of(&threads());
    assert!(!threaded.contains("    single_writer;"), "{threaded}");
    assert!(threaded.contains("# single_writer is off: P may create threads or share its memory:"), "{threaded}");
    assert!(threaded.contains("#   P links pthread_create\n"), "{threaded}");
    assert!(threaded.contains("#   clone3 at 0x"), "{threaded}");
}

/// Every fixture's inferred policy compiles, and what it decides about threads matches
/// the binary: `single_writer` exactly when `other_writers` finds nothing.
#[test]
fn every_inferred_policy_of_the_fixtures_compiles() {
    let fixtures = [infer_fixture(), threads(), app(), common::build("int80", &["int80.c"], &["-O2", "-g", "-static"])];
    for exe in fixtures {
        let elf = Elf::read(exe.to_str().unwrap()).unwrap();
        let inf = infer(&elf).unwrap();
        let src = emit::source(&elf, &inf);
        let single = src.contains("\n    single_writer;\n");
        assert_eq!(single, semguard_static_tool::infer::other_writers(&elf, &inf).is_empty(), "{}", exe.display());
        let mut prog = load_program(exe.to_str().unwrap()).unwrap();
        let c = compile(&src, &mut prog, None).unwrap_or_else(|d| {
            panic!("{}: {}", exe.display(), semguard_static_tool::compile::render("i.sgi", &src, &d))
        });
        // Default deny: no default-allow lints; threads are declared in the source.
        assert!(c.warnings.is_empty(), "{}: {:?}", exe.display(), c.warnings);
        let p = Policy::decode(&c.blob).unwrap();
        let uring = nr(Abi::X86_64, "io_uring_setup");
        assert!((0..p.rule_count()).filter_map(|i| p.rule(i)).any(|r| r.nr == uring && r.abi == Abi::X86_64));
    }
}

/// Mutations of a source using classes and `single_writer` never panic the compiler (the
/// fuzz target's body), and an accepted one decodes.
#[test]
fn mutated_class_sources_never_panic() {
    let seed = "policy { default allow; single_writer; other_abis allow; }\n\
        syscall class file_open at {0x401000, 0x402000} { from 0x401000; assert ok: file_open.path == \"/x\" && (file_open.flags & 3) == 0; }\n\
        syscall class exec { assert (char *)exec.argv[1] == \"-u\" && exec.dfd == AT_FDCWD; }\n\
        syscall class file_write deny; syscall class file_read deny; syscall class socket_send allow;\n\
        syscall ia32:clone at 0x401000 allow; syscall openat { assert openat.flags == 0; }\n";
    let words: [&[u8]; 10] =
        [b"class ", b"file_open.", b"exec.argv", b"single_writer;", b"{", b"}", b";", b"at ", b"ia32:", b"\""];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut prog = semguard_static_tool::dwarf::Program::without_binary();
    if let Err(d) = compile(seed, &mut prog, None) {
        panic!("{}", semguard_static_tool::compile::render("seed", seed, &d));
    }
    for _ in 0..2000 {
        let mut v = seed.as_bytes().to_vec();
        for _ in 0..(next() % 3 + 1) {
            let at = (next() as usize) % v.len().max(1);
            match next() % 3 {
                0 => v[at] = next() as u8,
                1 => {
                    let end = (at + (next() as usize % 8)).min(v.len());
                    v.drain(at..end);
                }
                _ => {
                    let w = words[(next() as usize) % words.len()];
                    v.splice(at..at, w.iter().copied());
                }
            }
            if v.is_empty() {
                break;
            }
        }
        semguard_static_tool::fuzz::fuzz_parse(&v);
    }
}
