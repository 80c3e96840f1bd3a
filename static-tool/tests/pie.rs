//! Position-independent programs (static-pie and dynamic PIE): the policy records a relative
//! identity with P's entry point, call sites stay offsets (the checker compares RIP − base),
//! and the addresses of P's variables get the process's load base added at run time.

mod common;

use common::ElfImage;
use semguard_core::checker::Checker;
use semguard_core::eval::{EvalFault, Verdict, ViolationKind};
use semguard_core::policy::Policy;
use semguard_core::process::image_has_build_id;
use semguard_core::regs::Registers;
use semguard_core::syscall::{Abi, Syscall};
use semguard_static_tool::compile::{compile, load_program};
use semguard_static_tool::elf::Elf;

const SRC: &str = "policy { default deny; }\n\
                   syscall write { from &main + 4; assert write.count <= config.max_len; }\n";

/// Two load bases a kernel could pick (ASLR): page aligned, different high bits.
const BASES: [u64; 2] = [0x5555_5555_4000, 0x7f12_3456_7000];

fn write(count: u64, rip: u64) -> Syscall {
    Syscall { abi: Abi::X86_64, nr: 1, args: [1, 0, count, 0, 0, 0], user_rip: rip }
}

#[test]
fn pie_policies_follow_the_load_base() {
    for (name, flags) in
        [("app-static-pie", &["-g", "-O0", "-static-pie"][..]), ("app-dyn-pie", &["-g", "-O0", "-fpie", "-pie"][..])]
    {
        let exe = common::build(name, &["app.c", "app2.c"], flags);
        let elf = Elf::read(exe.to_str().unwrap()).unwrap();
        assert!(elf.position_independent, "{name}");
        let main = elf.symbols["main"].addr;
        let config = elf.symbols["config"].addr;
        let mut prog = load_program(exe.to_str().unwrap()).unwrap();
        let blob = match compile(SRC, &mut prog, None) {
            Ok(c) => c.blob,
            Err(d) => panic!("{name}: {}", semguard_static_tool::compile::render("p.sgi", SRC, &d)),
        };
        let shown = semguard_static_tool::show::show(&blob).unwrap();
        let line = format!(
            "at base+{:#x} (position-independent, entry base+{:#x})",
            elf.build_id.as_ref().unwrap().note_vaddr.unwrap(),
            elf.entry
        );
        assert!(shown.contains(&line), "{name}: {shown}");
        let policy = Policy::decode(&blob).unwrap();
        let id = policy.identity().unwrap();
        assert!(id.relative(), "{name}");
        assert_eq!(id.entry(), elf.entry, "{name}");
        let checker = Checker::new(policy);
        let regs = Registers::default();
        for base in BASES {
            let mut mem = ElfImage::load_at(&exe, base);
            // The identity holds at the base the auxiliary vector gives, and only there.
            assert_eq!(id.load_base(base + elf.entry), Some(base), "{name}");
            assert_eq!(image_has_build_id(&mut mem, base + id.note_vaddr(), id.build_id()), Ok(true), "{name}");
            let mut st = checker.new_process();
            st.set_base(base);
            let site = base + main + 4;
            assert_eq!(checker.check(&mut st, &write(100, site), &regs, &mut mem), Verdict::Allow, "{name}");
            match checker.check(&mut st, &write(5000, site), &regs, &mut mem) {
                Verdict::Violation { kind: ViolationKind::InvariantFalse, values, .. } => {
                    assert_eq!(values.as_slice(), &[5000, 4096], "{name}: config.max_len read at base + offset")
                }
                other => panic!("{name}: {other:?}"),
            }
            // The link-time address, or the site under another base, is not the site.
            for rip in [main + 4, site + 0x1000] {
                assert!(
                    matches!(
                        checker.check(&mut st, &write(1, rip), &regs, &mut mem),
                        Verdict::Violation { kind: ViolationKind::WrongCallSite, .. }
                    ),
                    "{name}: rip {rip:#x}"
                );
            }
            // A process whose base is not known reads the variable at its bare offset: not
            // mapped, so the call is unverifiable (fail closed), never allowed.
            let mut unknown = checker.new_process();
            assert!(
                matches!(
                    checker.check(&mut unknown, &write(1, main + 4), &regs, &mut mem),
                    Verdict::Unverifiable { reason: EvalFault::Memory { .. }, .. }
                ),
                "{name}: {:#x}",
                config
            );
        }
    }
}

#[test]
fn a_shared_library_is_refused() {
    use semguard_static_tool::diag::{ElfProblem, ToolError};
    let lib = common::build("app-lib.so", &["app2.c"], &["-g", "-O0", "-fpic", "-shared", "-nostartfiles"]);
    let e = load_program(lib.to_str().unwrap()).err().unwrap();
    assert!(matches!(&e, ToolError::Elf { problem: ElfProblem::PositionIndependent, .. }), "{e:?}");
    assert!(
        e.to_string().ends_with(
            "has no entry point (a shared library, not a program): its load base cannot be found in a process"
        ),
        "{e}"
    );
}

/// `semguard policy check` places a PIE as semguard.ko does: the load base from the process's
/// auxiliary vector, so invariants over P's variables read the right bytes under ASLR.
#[test]
fn the_dry_run_reads_a_pies_variables_at_its_load_base() {
    for (name, flags) in [
        ("app-static-pie-run", &["-g", "-O0", "-static-pie"][..]),
        ("app-dyn-pie-run", &["-g", "-O0", "-fpie", "-pie"][..]),
    ] {
        let exe = common::build(name, &["app.c", "app2.c"], flags);
        for (max_len, violations) in [(4096, false), (4095, true)] {
            let src = format!("policy {{ default allow; }}\nsyscall write {{ assert config.max_len == {max_len}; }}\n");
            let mut prog = load_program(exe.to_str().unwrap()).unwrap();
            let blob = compile(&src, &mut prog, None)
                .unwrap_or_else(|d| panic!("{}", semguard_static_tool::compile::render("p.sgi", &src, &d)))
                .blob;
            let p = common::tmp().join(format!("{name}-{max_len}.sgp"));
            std::fs::write(&p, blob).unwrap();
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_semguard"))
                .args(["policy", "check", "--audit"])
                .arg(&p)
                .arg("--")
                .arg(&exe)
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            let rep = String::from_utf8_lossy(&out.stderr);
            assert!(!rep.contains("UNVERIFIABLE") && !rep.contains("not the program"), "{name}: {rep}");
            assert_eq!(rep.contains("VIOLATION"), violations, "{name} max_len {max_len}: {rep}");
        }
    }
}
