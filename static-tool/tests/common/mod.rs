//! Shared helpers of the static tool's integration tests: C fixtures compiled with gcc at test
//! time (so the DWARF is real), golden files, and output normalisation.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Serialises fixture builds (tests run in parallel threads).
static BUILD: Mutex<()> = Mutex::new(());

/// `semguard policy compile ELF SRC -o OUT [EXTRA…]` through the CLI.
pub fn compile_policy(elf: &Path, src: &Path, out: &Path, extra: &[&str]) -> semguard_static_tool::cli::Outcome {
    let mut args = vec!["semguard", "policy", "compile", elf.to_str().unwrap(), src.to_str().unwrap(), "-o"];
    args.push(out.to_str().unwrap());
    args.extend_from_slice(extra);
    semguard_static_tool::cli::run(args)
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn tmp() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("semguard-static-tool");
    std::fs::create_dir_all(&d).expect("create test tmp dir");
    d
}

/// Compiles C `sources` (in tests/fixtures) into `out_name` with `flags`; `$CC` overrides gcc.
/// Rebuilt when a source is newer than the output.
pub fn build(out_name: &str, sources: &[&str], flags: &[&str]) -> PathBuf {
    let _g = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let out = tmp().join(out_name);
    let srcs: Vec<PathBuf> = sources.iter().map(|s| fixtures().join(s)).collect();
    let stamp = tmp().join(format!("{out_name}.flags"));
    let flag_text = flags.join(" ");
    let fresh = out.exists()
        && std::fs::read_to_string(&stamp).ok().as_deref() == Some(flag_text.as_str())
        && srcs.iter().all(|s| {
            let (a, b) =
                (std::fs::metadata(s).and_then(|m| m.modified()), std::fs::metadata(&out).and_then(|m| m.modified()));
            matches!((a, b), (Ok(a), Ok(b)) if a <= b)
        });
    if !fresh {
        let cc = std::env::var("CC").unwrap_or_else(|_| "gcc".into());
        let status = Command::new(&cc)
            .args(flags)
            .args(&srcs)
            .arg("-o")
            .arg(&out)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
        assert!(status.success(), "{cc} {flags:?} {srcs:?} failed");
        std::fs::write(&stamp, flag_text).expect("write stamp");
    }
    out
}

/// The compiler fixture: app.c + app2.c, -g -O0 -static.
pub fn app() -> PathBuf {
    build("app", &["app.c", "app2.c"], &["-g", "-O0", "-static", "-fno-pie", "-no-pie"])
}

/// Compares `actual` with golden file `name` in tests/golden; `SEMGUARD_BLESS=1` rewrites it.
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("SEMGUARD_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with SEMGUARD_BLESS=1 to create it)", path.display()));
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(10)
            .map(|(i, (a, b))| format!("line {}:\n  golden: {a}\n  actual: {b}", i + 1))
            .collect();
        panic!(
            "{} differs from the output ({} vs {} lines):\n{}\n(SEMGUARD_BLESS=1 rewrites it)",
            path.display(),
            expected.lines().count(),
            actual.lines().count(),
            diff.join("\n")
        );
    }
}

/// Replaces addresses inside P's data symbols by `&name+off` and (if `code`) code addresses
/// by `func+off`, the checksum by `<crc>` and P's identity by placeholders, so golden files do not depend on the toolchain's
/// layout.
pub fn normalise(text: &str, elf: &semguard_static_tool::elf::Elf, code: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("0x") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 2..];
        let n = tail.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(tail.len());
        let digits = &tail[..n];
        match u64::from_str_radix(digits, 16) {
            Ok(v) if n > 0 => out.push_str(&symbolise(v, elf, code).unwrap_or_else(|| format!("0x{digits}"))),
            _ => out.push_str(&format!("0x{digits}")),
        }
        rest = &tail[n..];
    }
    out.push_str(rest);
    let mut lines: Vec<String> = out.lines().map(String::from).collect();
    for l in lines.iter_mut() {
        if let Some(i) = l.find("crc32 ") {
            l.truncate(i);
            l.push_str("crc32 <crc>");
        }
        // The build-id and the note's address depend on the toolchain.
        if l.starts_with("identity: build-id ") {
            *l = "identity: build-id <build-id> at <vaddr>".to_string();
        }
    }
    lines.join("\n") + "\n"
}

fn symbolise(v: u64, elf: &semguard_static_tool::elf::Elf, code: bool) -> Option<String> {
    use semguard_static_tool::elf::SymKind;
    if v < 0x1000 {
        return None;
    }
    let s = elf
        .all_symbols
        .iter()
        .filter(|s| {
            (s.kind == SymKind::Data || (code && s.kind == SymKind::Text)) && v >= s.addr && v < s.addr + s.size.max(1)
        })
        .min_by_key(|s| (s.size, s.name.clone()))?;
    let prefix = if s.kind == SymKind::Data { "&" } else { "" };
    Some(if v == s.addr { format!("{prefix}{}", s.name) } else { format!("{prefix}{}+{:#x}", s.name, v - s.addr) })
}

/// P's memory at start: every allocated section of the ELF (`.bss` zero), page by page.
pub struct ElfImage {
    pages: std::collections::HashMap<u64, Box<[u8; 4096]>>,
}

impl ElfImage {
    pub fn load(path: &Path) -> ElfImage {
        Self::load_at(path, 0)
    }
    /// [`ElfImage::load`] with every address moved by `base` (a position-independent P
    /// loaded there; relocations are not applied).
    pub fn load_at(path: &Path, base: u64) -> ElfImage {
        use object::{Object, ObjectSection, SectionFlags};
        let data = std::fs::read(path).unwrap();
        let file = object::File::parse(&*data).unwrap();
        let mut img = ElfImage { pages: Default::default() };
        for s in file.sections() {
            let SectionFlags::Elf { sh_flags, .. } = s.flags() else { continue };
            let sh_flags = sh_flags.0;
            // SHF_ALLOC, not SHF_TLS (the TLS template is not where threads' variables live).
            if sh_flags & 2 == 0 || sh_flags & 0x400 != 0 || s.size() == 0 {
                continue;
            }
            let bytes = s.data().unwrap_or(&[]);
            for i in 0..s.size() {
                img.write(base + s.address() + i, &[bytes.get(i as usize).copied().unwrap_or(0)]);
            }
        }
        img
    }
    pub fn write(&mut self, va: u64, data: &[u8]) {
        for (i, b) in data.iter().enumerate() {
            let a = va + i as u64;
            let page = self.pages.entry(a & !0xfff).or_insert_with(|| Box::new([0; 4096]));
            page[(a & 0xfff) as usize] = *b;
        }
    }
}

impl semguard_core::mem::VirtMemory for ElfImage {
    fn read_bytes(
        &mut self,
        va: semguard_core::addr::GuestVirtAddr,
        buf: &mut [u8],
    ) -> Result<(), semguard_core::mem::MemError> {
        for (i, slot) in buf.iter_mut().enumerate() {
            let a = va.0.wrapping_add(i as u64);
            let page = self.pages.get(&(a & !0xfff)).ok_or(semguard_core::mem::MemError::Overflow)?;
            *slot = page[(a & 0xfff) as usize];
        }
        Ok(())
    }
}
