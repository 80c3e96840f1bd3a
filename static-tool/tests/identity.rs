//! P's identity in the policy: `policy compile` records P's GNU build-id and where the note's
//! descriptor sits in P's image, refuses a binary without one, `policy show` prints it, and
//! the dry run warns when the program it runs is not the one the policy was compiled for.

mod common;

use semguard_core::addr::GuestVirtAddr;
use semguard_core::mem::VirtMemory;
use semguard_core::policy::Policy;
use semguard_static_tool::cli::run;
use semguard_static_tool::compile::{compile, load_program};
use semguard_static_tool::diag::{ElfProblem, ToolError};
use semguard_static_tool::elf::Elf;

const SRC: &str = "policy { id 0x1d; default allow; }\nsyscall getppid deny;\n";

/// `readelf -n`'s "Build ID:" of `path`, when binutils is there (a second opinion on the
/// bytes the tool reads through `object`).
fn readelf_build_id(path: &std::path::Path) -> Option<String> {
    let out = std::process::Command::new("readelf").arg("-n").arg(path).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines().find_map(|l| l.trim().strip_prefix("Build ID: ").map(|s| s.trim().to_string()))
}

#[test]
fn compile_records_ps_build_id_and_where_a_process_has_it() {
    let app = common::app();
    let elf = Elf::read(app.to_str().unwrap()).unwrap();
    let bid = elf.build_id.clone().expect("gcc links a build-id by default");
    assert!(!bid.bytes.is_empty() && bid.bytes.len() <= 64);
    if let Some(hex) = readelf_build_id(&app) {
        assert_eq!(bid.hex(), hex);
    }
    let mut prog = load_program(app.to_str().unwrap()).unwrap();
    let blob = compile(SRC, &mut prog, None).unwrap().blob;
    let p = Policy::decode(&blob).unwrap();
    assert_eq!(p.version(), (1, 1));
    let id = p.identity().expect("the policy records P's identity");
    assert_eq!(id.build_id(), &bid.bytes[..]);
    assert_eq!(Some(id.note_vaddr()), bid.note_vaddr);
    assert!(!id.relative(), "a static non-PIE P: the address is absolute");
    // P's image as loaded holds the build-id at that address: what the module will read
    // from a process's own memory.
    let mut image = common::ElfImage::load(&app);
    let mut got = vec![0u8; id.build_id().len()];
    image.read_bytes(GuestVirtAddr(id.note_vaddr()), &mut got).unwrap();
    assert_eq!(got, id.build_id());
    // The note header before it: namesz 4, descsz, NT_GNU_BUILD_ID (3), "GNU\0".
    let mut head = [0u8; 16];
    image.read_bytes(GuestVirtAddr(id.note_vaddr() - 16), &mut head).unwrap();
    assert_eq!(&head[..4], &4u32.to_le_bytes());
    assert_eq!(&head[4..8], &(got.len() as u32).to_le_bytes());
    assert_eq!(&head[8..12], &3u32.to_le_bytes());
    assert_eq!(&head[12..], b"GNU\0");
}

#[test]
fn a_binary_without_build_id_is_refused() {
    let nobid = common::build(
        "app-nobuildid",
        &["app.c", "app2.c"],
        &["-g", "-O0", "-static", "-no-pie", "-Wl,--build-id=none"],
    );
    assert!(Elf::read(nobid.to_str().unwrap()).unwrap().build_id.is_none());
    let e = load_program(nobid.to_str().unwrap()).err().unwrap();
    assert!(matches!(&e, ToolError::Elf { problem: ElfProblem::NoBuildId, .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.starts_with(nobid.to_str().unwrap()), "names the file: {msg}");
    assert!(msg.contains("no GNU build-id") && msg.contains("-Wl,--build-id"), "{msg}");

    let out = common::tmp().join("nobuildid.sgp");
    let _ = std::fs::remove_file(&out);
    let src = common::tmp().join("identity.sgi");
    std::fs::write(&src, SRC).unwrap();
    let o = common::compile_policy(&nobid, &src, &out, &[]);
    assert_eq!(o.code, 1, "{o:?}");
    assert_eq!(o.stderr, format!("semguard: {msg}\n"));
    assert!(!out.exists(), "nothing written");
    // A build-id chosen at link time is as good as the default one.
    let chosen = common::build(
        "app-chosen-id",
        &["app.c", "app2.c"],
        &["-g", "-O0", "-static", "-no-pie", "-Wl,--build-id=0x0123456789abcdef"],
    );
    let mut prog = load_program(chosen.to_str().unwrap()).unwrap();
    let p = compile(SRC, &mut prog, None).unwrap().blob;
    let p = Policy::decode(&p).unwrap();
    assert_eq!(p.identity().unwrap().build_id(), &[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);
}

#[test]
fn show_prints_the_identity() {
    let app = common::app();
    let elf = Elf::read(app.to_str().unwrap()).unwrap();
    let bid = elf.build_id.unwrap();
    let out = common::tmp().join("identity-show.sgp");
    let src = common::tmp().join("identity-show.sgi");
    std::fs::write(&src, SRC).unwrap();
    let o = common::compile_policy(&app, &src, &out, &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = run(["semguard", "policy", "show", out.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let line = format!("identity: build-id {} at {:#x}", bid.hex(), bid.note_vaddr.unwrap());
    assert_eq!(o.stdout.lines().nth(1), Some(line.as_str()), "{}", o.stdout);
}

#[test]
fn the_dry_run_warns_when_the_program_is_not_the_policys() {
    let exe = common::build("threads", &["threads.c"], &["-O2", "-g", "-static", "-pthread"]);
    let other = common::build(
        "threads-other-id",
        &["threads.c"],
        &["-O2", "-g", "-static", "-pthread", "-Wl,--build-id=0xfeedface"],
    );
    let none =
        common::build("threads-no-id", &["threads.c"], &["-O2", "-g", "-static", "-pthread", "-Wl,--build-id=none"]);
    let mut prog = load_program(exe.to_str().unwrap()).unwrap();
    let blob = compile(SRC, &mut prog, None).unwrap().blob;
    let want = prog.elf.build_id.as_ref().unwrap().hex();
    let pol = common::tmp().join("identity-threads.sgp");
    std::fs::write(&pol, &blob).unwrap();
    let check = |p: &std::path::Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_semguard"))
            .args(["policy", "check"])
            .arg(&pol)
            .arg("--")
            .arg(p)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // The program the policy was compiled for: no warning.
    let (code, out, rep) = check(&exe);
    assert_eq!((code, out.as_str()), (Some(0), "main done\n"), "{rep}");
    assert!(!rep.contains("warning"), "{rep}");
    // Another build-id, or none: a warning first, and the run is checked all the same.
    for (p, have) in [(&other, "has build-id feedface"), (&none, "has no build-id")] {
        let (code, out, rep) = check(p);
        assert_eq!((code, out.as_str()), (Some(0), "main done\n"), "{rep}");
        let first = rep.lines().next().unwrap();
        assert!(first.starts_with(&format!("warning: {} {have}", p.display())), "{rep}");
        assert!(first.contains(&format!("the policy was compiled for build-id {want}")), "{rep}");
        assert!(rep.contains("semguard check: "), "{rep}");
    }
}
