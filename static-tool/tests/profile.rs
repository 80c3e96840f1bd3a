//! `semguard profile`: the guest-kernel profile from BTF and from DWARF of a gcc-built
//! kernel-shaped fixture (checked against the layout the fixture prints about itself; with its
//! maple tree, a version-2 profile, and without, version 1), and from the real kernel that
//! scripts/build-kernel produced (scripts/test builds it first and names it in
//! `SEMGUARD_KERNEL_DIR`; then, or under CI, a missing kernel is a failure, not a skip).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use semguard_core::profile::{NodeLayout, Profile, ProfileFields, VmaLayout};
use semguard_static_tool::cli::run;
use semguard_static_tool::elf::Elf;
use semguard_static_tool::profile::{extract, LayoutSource};

const KDATA: [&str; 3] = ["-DKDATA", "-static", "-Wl,--section-start=.kdata=0xffffffff82000000"];

fn with(extra: &[&str]) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = KDATA.to_vec();
    for e in extra {
        v.push(Box::leak(e.to_string().into_boxed_str()));
    }
    v
}

/// The layout as the compiler sees it: the fixture built normally prints it.
fn truth() -> Vec<u64> {
    truth_of("kernel-truth", &["-O0"])
}

fn truth_of(name: &str, flags: &[&str]) -> Vec<u64> {
    let exe = common::build(name, &["kernel.c"], flags);
    let out = Command::new(&exe).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().split_whitespace().map(|v| v.parse().unwrap()).collect()
}

fn system_map(elf: &Path) -> String {
    let e = Elf::read(elf.to_str().unwrap()).unwrap();
    let mut lines: Vec<String> = e.all_symbols.iter().map(|s| format!("{:016x} D {}", s.addr, s.name)).collect();
    lines.sort();
    lines.join("\n") + "\n"
}

fn expected_fields(t: &[u64]) -> ProfileFields {
    ProfileFields {
        init_task: 0xffff_ffff_8200_0000,
        task_struct_size: t[0] as u32,
        task_tasks: t[1] as u32,
        task_comm: t[2] as u32,
        task_pid: t[3] as u32,
        task_tgid: t[4] as u32,
        task_mm: t[5] as u32,
        task_real_parent: Some(t[6] as u32),
        mm_struct_size: t[7] as u32,
        mm_pgd: t[8] as u32,
        comm_len: 16,
    }
}

/// The VMA layout the fixture prints after the task fields.
fn expected_vma(t: &[u64]) -> VmaLayout {
    let v = |i: usize| t[9 + i];
    VmaLayout {
        mm_mt: v(0) as u32,
        tree_size: v(1) as u16,
        tree_root: v(2) as u16,
        vma_size: v(3) as u32,
        vma_start: v(4) as u32,
        vma_end: v(5) as u32,
        vma_flags: v(6) as u32,
        node_size: v(7) as u16,
        node_parent: v(8) as u16,
        range64: NodeLayout {
            pivot: v(9) as u16,
            slot: v(10) as u16,
            meta_end: v(11) as u16,
            slots: v(12) as u8,
            pivots: v(13) as u8,
        },
        arange64: NodeLayout {
            pivot: v(14) as u16,
            slot: v(15) as u16,
            meta_end: v(16) as u16,
            slots: v(17) as u8,
            pivots: v(18) as u8,
        },
        saved_auxv: v(19) as u16,
        auxv_words: v(20) as u16,
    }
}

#[test]
fn btf_and_dwarf_give_the_compilers_layout() {
    let t = truth();
    assert_eq!(t.len(), 9 + 21, "the fixture prints the task and the VMA layouts and saved_auxv");
    let want = expected_fields(&t);
    let want_vma = expected_vma(&t);
    for (name, flags, source) in
        [("kernel-btf", with(&["-gbtf"]), LayoutSource::Btf), ("kernel-dwarf", with(&["-g"]), LayoutSource::Dwarf)]
    {
        let exe = common::build(name, &["kernel.c"], &flags);
        let map = system_map(&exe);
        let (p, src) = extract(Elf::read(exe.to_str().unwrap()).unwrap(), &map).unwrap();
        assert_eq!(src, source, "{name}");
        assert_eq!(*p.fields(), want, "{name}");
        assert_eq!(p.vma_layout(), Some(&want_vma), "{name}");
        assert_eq!(p.version(), 2, "{name}");
    }
    // The fixture really exercises anonymous members and bit-fields before them, a maple tree
    // inside mm_struct's anonymous struct, and metadata sharing a range node's last slot.
    assert!(t[1] > 8 && t[8] > 16);
    assert_eq!(want_vma.range64.meta_end, want_vma.range64.slot + 8 * 15);

    // Without mm_mt (a kernel before 6.1): a version-1 profile, the VMA lookup unavailable.
    let t1 = truth_of("kernel-truth-nomaple", &["-O0", "-DNO_MAPLE"]);
    assert_eq!(t1.len(), 9);
    for (name, flags) in
        [("kernel-btf-nomaple", with(&["-gbtf", "-DNO_MAPLE"])), ("kernel-dwarf-nomaple", with(&["-g", "-DNO_MAPLE"]))]
    {
        let exe = common::build(name, &["kernel.c"], &flags);
        let (p, _) = extract(Elf::read(exe.to_str().unwrap()).unwrap(), &system_map(&exe)).unwrap();
        assert_eq!((*p.fields(), p.vma_layout(), p.version()), (expected_fields(&t1), None, 1), "{name}");
    }
}

#[test]
fn cli_writes_a_profile_the_core_decodes() {
    let exe = common::build("kernel-btf", &["kernel.c"], &with(&["-gbtf"]));
    let dir = common::tmp();
    let map = dir.join("kernel-btf.System.map");
    std::fs::write(&map, system_map(&exe)).unwrap();
    let out = dir.join("guest.prof");
    let o = run(["semguard", "profile", exe.to_str().unwrap(), map.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("guest-kernel profile from Btf"), "{}", o.stdout);
    assert!(o.stdout.contains("init_task            0xffffffff82000000"), "{}", o.stdout);
    assert!(o.stdout.contains("version              2"), "{}", o.stdout);
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(bytes.len(), 112);
    let p = Profile::decode(&bytes).unwrap();
    assert_eq!(*p.fields(), expected_fields(&truth()));
    assert_eq!(p.vma_layout(), Some(&expected_vma(&truth())));

    // The profile can be embedded into a policy and shown.
    let app = common::app();
    let src = dir.join("embed.sgi");
    std::fs::write(&src, "syscall execve deny;\n").unwrap();
    let blob = dir.join("embed.sgp");
    let o = common::compile_policy(&app, &src, &blob, &["--profile", out.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = run(["semguard", "policy", "show", blob.to_str().unwrap()]);
    assert!(
        o.stdout
            .contains("kernel profile: 112 bytes\n  version              2\n  init_task            0xffffffff82000000"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("maple_range_64       pivot[15] at"), "{}", o.stdout);
    // A file that is not a profile is refused.
    let o = common::compile_policy(&app, &src, &blob, &["--profile", src.to_str().unwrap()]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("not a guest-kernel profile: TooShort"), "{}", o.stderr);
}

#[test]
fn every_profile_error() {
    let exe = common::build("kernel-btf", &["kernel.c"], &with(&["-gbtf"]));
    let elf = || Elf::read(exe.to_str().unwrap()).unwrap();
    let e = extract(elf(), "ffffffff81000000 T _text\n").unwrap_err();
    assert_eq!(e.to_string(), "System.map has no `init_task`");
    let e = extract(elf(), "ffffffff81000000 D init_task\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("System.map says init_task is at 0xffffffff81000000 but {} says 0xffffffff82000000: they come from different builds", exe.display())
    );
    let bare = common::build("kernel-bare", &["kernel.c"], &KDATA);
    let e = extract(Elf::read(bare.to_str().unwrap()).unwrap(), &system_map(&bare)).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{} has neither .BTF nor DWARF: build the kernel with CONFIG_DEBUG_INFO_BTF or CONFIG_DEBUG_INFO",
            bare.display()
        )
    );
    // A user-space init_task (wrong System.map or not a kernel) fails the core's validation.
    let user = common::build("kernel-user", &["kernel.c"], &["-gbtf", "-static"]);
    let e = extract(Elf::read(user.to_str().unwrap()).unwrap(), &system_map(&user)).unwrap_err();
    assert!(e.to_string().starts_with("the extracted profile is not valid: InitTask("), "{e}");
    // CLI errors.
    let o = run(["semguard", "profile", "/nonexistent/vmlinux", "/nonexistent/map", "-o", "/tmp/x"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "semguard: /nonexistent/map: No such file or directory (os error 2)\n")
    );
    let o = run(["semguard", "profile", exe.to_str().unwrap()]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("required arguments were not provided"), "{}", o.stderr);
}

/// The artefact directory of scripts/build-kernel, if a finished build is there:
/// `$SEMGUARD_KERNEL_DIR`, else the newest `$SEMGUARD_CACHE/kernel-*` (default
/// /var/cache/semguard) holding both `vmlinux` and `System.map`.
fn built_kernel() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("SEMGUARD_KERNEL_DIR") {
        return Some(PathBuf::from(d));
    }
    let cache = std::env::var_os("SEMGUARD_CACHE").map_or(PathBuf::from("/var/cache/semguard"), PathBuf::from);
    let mut dirs: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(cache)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("kernel-")))
        .filter(|p| p.join("vmlinux").is_file() && p.join("System.map").is_file())
        .filter_map(|p| Some((std::fs::metadata(p.join("vmlinux")).ok()?.modified().ok()?, p)))
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, p)| p)
}

/// The built kernel's vmlinux and System.map text. `None` (the test skips, saying so) only on a
/// developer's machine without a kernel build; where scripts/test named one
/// (`SEMGUARD_KERNEL_DIR`) or under CI (`CI` set), a missing kernel fails the test.
fn real_kernel() -> Option<(PathBuf, String)> {
    let required = std::env::var_os("SEMGUARD_KERNEL_DIR").is_some() || std::env::var_os("CI").is_some();
    let found = built_kernel().filter(|d| d.join("vmlinux").is_file() && d.join("System.map").is_file());
    let Some(dir) = found else {
        assert!(
            !required,
            "no built kernel (SEMGUARD_KERNEL_DIR={:?}): scripts/test builds it with scripts/build-kernel",
            std::env::var_os("SEMGUARD_KERNEL_DIR")
        );
        println!("skipped: no built kernel (run scripts/build-kernel, or set SEMGUARD_KERNEL_DIR)");
        return None;
    };
    let map = std::fs::read_to_string(dir.join("System.map")).unwrap();
    Some((dir.join("vmlinux"), map))
}

#[test]
fn real_guest_kernel_when_built() {
    let Some((vmlinux, map)) = real_kernel() else { return };
    let (p, source) = extract(Elf::read(vmlinux.to_str().unwrap()).unwrap(), &map).unwrap();
    println!("{}: {source:?}\n{}", vmlinux.display(), semguard_static_tool::profile::describe(&p));
    assert_eq!(source, LayoutSource::Btf, "our kernel config enables BTF");
    let f = p.fields();
    assert_eq!(f.comm_len, 16);
    assert!(f.init_task >= 0xffff_ffff_8000_0000);
    // Our kernel (6.12) keeps its VMAs in a maple tree: a version-2 profile. What the kernel
    // source states about the layout (include/linux/maple_tree.h, 64-bit), the BTF must agree
    // with; the offsets themselves come from the BTF.
    let v = *p.vma_layout().expect("the kernel's mm_struct has mm_mt");
    assert_eq!(p.version(), 2);
    assert_eq!(v.node_size, 256, "MAPLE_NODE_SLOTS 31: 256 bytes including ->parent");
    assert_eq!((v.range64.slots, v.range64.pivots), (16, 15), "MAPLE_RANGE64_SLOTS");
    assert_eq!((v.arange64.slots, v.arange64.pivots), (10, 9), "MAPLE_ARANGE64_SLOTS");
    assert_eq!(v.node_parent, 0, "parent is every node kind's first member");
    assert_eq!(v.range64.pivot, 8, "maple_range_64: parent, then pivot[]");
    assert_eq!(v.range64.slot, v.range64.pivot + 8 * 15, "then slot[]");
    assert_eq!(v.range64.meta_end, v.range64.slot + 8 * 15, "meta shares the last slot");
    assert_eq!(v.arange64.slot, v.arange64.pivot + 8 * 9, "maple_arange_64: pivot[], slot[]");
    assert_eq!(v.arange64.meta_end, v.arange64.slot + 8 * 10 + 8 * 10, "then gap[], then meta");
    assert_eq!((v.vma_start, v.vma_end), (0, 8), "vm_start and vm_end open vm_area_struct");
    assert!(v.mm_mt + v.tree_size as u32 <= f.mm_struct_size);
    // The profile survives its encoding.
    let bytes = semguard_static_tool::profile::encode(&p).unwrap();
    assert_eq!(bytes.len(), 112);
    assert_eq!(Profile::decode(&bytes), Ok(p));
}

/// The same kernel through its DWARF instead of BTF must give the same profile, VMA layout
/// included (the whole DWARF is indexed: about 2 s optimised, 20 s in a debug build).
#[test]
fn real_guest_kernel_dwarf_agrees_with_btf() {
    let Some((vmlinux, map)) = real_kernel() else { return };
    let elf = Elf::read(vmlinux.to_str().unwrap()).unwrap();
    let (btf, _) = extract(elf.clone(), &map).unwrap();
    let mut no_btf = elf;
    no_btf.extra.remove(".BTF");
    assert!(no_btf.has_dwarf(), "vmlinux has no DWARF");
    let t = std::time::Instant::now();
    let (dwarf, source) = extract(no_btf, &map).unwrap();
    println!("DWARF profile in {:?}", t.elapsed());
    assert_eq!(source, LayoutSource::Dwarf);
    assert_eq!(dwarf, btf);
    assert!(dwarf.vma_layout().is_some());
}
