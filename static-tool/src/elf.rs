//! P's ELF file through the `object` crate: kind, symbols, executable sections, and the raw
//! DWARF sections for the resolver (decompressed if needed).

use std::collections::HashMap;
use std::rc::Rc;

use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol};

use crate::diag::{ElfProblem, ToolError};

/// What an ELF symbol names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymKind {
    /// Code.
    Text,
    /// Data.
    Data,
    /// Thread-local data.
    Tls,
    /// Anything else.
    Other,
}

/// An ELF symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sym {
    /// Name.
    pub name: String,
    /// Address.
    pub addr: u64,
    /// Size in bytes (0 if unknown).
    pub size: u64,
    /// Kind.
    pub kind: SymKind,
    /// True for global/weak binding.
    pub global: bool,
}

/// An executable section's bytes.
#[derive(Clone, Debug)]
pub struct CodeSection {
    /// Name (`.text`, …).
    pub name: String,
    /// Load address.
    pub addr: u64,
    /// Bytes.
    pub data: Vec<u8>,
}

/// P's GNU build-id (the `NT_GNU_BUILD_ID` note, normally in `.note.gnu.build-id`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildId {
    /// The note's descriptor: the build-id bytes.
    pub bytes: Vec<u8>,
    /// Virtual address of the descriptor as linked, if a loadable segment (`PT_LOAD`) maps
    /// it: where a process running P has these bytes in its own memory.
    pub note_vaddr: Option<u64>,
}

impl BuildId {
    /// The build-id as lowercase hex (as `readelf -n` and `file` print it).
    pub fn hex(&self) -> String {
        hex(&self.bytes)
    }
}

/// Bytes as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The parts of an ELF file the static tool uses.
#[derive(Clone, Debug)]
pub struct Elf {
    /// Path it was read from (for messages).
    pub path: String,
    /// True if x86-64.
    pub x86_64: bool,
    /// True for ET_DYN (PIE or shared object): addresses are relative to a load base.
    pub position_independent: bool,
    /// The entry point from the ELF header (`e_entry`; 0 if none).
    pub entry: u64,
    /// Symbols by name (the first definition wins; local symbols of the same name are kept
    /// in `all_symbols`).
    pub symbols: HashMap<String, Sym>,
    /// Every defined symbol, sorted by address.
    pub all_symbols: Vec<Sym>,
    /// Executable sections.
    pub code: Vec<CodeSection>,
    /// Other allocated sections with contents (data, read-only data, relocation tables), for
    /// finding code addresses stored in data.
    pub data: Vec<CodeSection>,
    /// DWARF sections by name (`.debug_info`, …), decompressed.
    pub debug: HashMap<String, Rc<[u8]>>,
    /// Other named sections' data kept for callers that ask (e.g. `.BTF`).
    pub extra: HashMap<String, Vec<u8>>,
    /// The GNU build-id, if the file has one.
    pub build_id: Option<BuildId>,
    /// Allocated sections without file contents (`.bss`): (address, size), zero at start.
    pub zero_fill: Vec<(u64, u64)>,
    /// The program interpreter (`.interp`: the dynamic loader) of a dynamically linked
    /// program; `None` for static programs (static-pie included) and shared libraries.
    pub interpreter: Option<String>,
}

/// Sections besides DWARF that callers may need.
const EXTRA_SECTIONS: [&str; 1] = [".BTF"];

/// The `NT_GNU_BUILD_ID` note's descriptor (through `object`: note sections, or `PT_NOTE`
/// segments without section headers) and its address as linked: the `PT_LOAD` segment whose
/// file bytes hold the descriptor says where it is mapped. A malformed note counts as none.
fn build_id(file: &object::File<'_>, data: &[u8]) -> Option<BuildId> {
    let desc = file.build_id().ok()??;
    // `desc` borrows from `data`: its offset in the file is the distance between the two.
    let offset = (desc.as_ptr() as usize).checked_sub(data.as_ptr() as usize)? as u64;
    let note_vaddr = file.segments().find_map(|seg| {
        let (start, size) = seg.file_range();
        let end = start.checked_add(size)?;
        (offset >= start && offset.checked_add(desc.len() as u64)? <= end)
            .then(|| seg.address().checked_add(offset - start))
            .flatten()
    });
    Some(BuildId { bytes: desc.to_vec(), note_vaddr })
}

/// The build-id of the ELF file at `path` alone (no symbols, no DWARF): `None` if the file
/// is not ELF or has no build-id note.
pub fn read_build_id(path: &std::path::Path) -> Result<Option<BuildId>, ToolError> {
    let data = std::fs::read(path).map_err(|e| ToolError::io(path.to_string_lossy(), e))?;
    Ok(object::File::parse(&*data).ok().and_then(|file| build_id(&file, &data)))
}

impl Elf {
    /// An x86-64 file with nothing in it (no symbols, sections or DWARF), named `path`: the
    /// start of a hand-made `Elf` (`Elf { code: …, ..Elf::empty("t") }`) for tests and fuzzing.
    pub fn empty(path: &str) -> Elf {
        Elf {
            path: path.to_string(),
            // A hand-made image is x86-64; `parse` reads the real answer from the file.
            x86_64: true,
            position_independent: false,
            entry: 0,
            symbols: HashMap::new(),
            all_symbols: Vec::new(),
            code: Vec::new(),
            data: Vec::new(),
            debug: HashMap::new(),
            extra: HashMap::new(),
            build_id: None,
            zero_fill: Vec::new(),
            interpreter: None,
        }
    }

    /// Reads and parses `path`.
    pub fn read(path: &str) -> Result<Elf, ToolError> {
        let data = std::fs::read(path).map_err(|e| ToolError::io(path, e))?;
        Self::parse(path, &data)
    }

    /// Parses an ELF image held in memory; `path` is only for messages.
    pub fn parse(path: &str, data: &[u8]) -> Result<Elf, ToolError> {
        let file = object::File::parse(data).map_err(|e| ToolError::elf(path, ElfProblem::NotElf(Some(e))))?;
        if file.format() != object::BinaryFormat::Elf {
            return Err(ToolError::elf(path, ElfProblem::NotElf(None)));
        }
        let mut elf = Elf {
            x86_64: file.architecture() == object::Architecture::X86_64,
            position_independent: file.kind() == object::ObjectKind::Dynamic,
            entry: file.entry(),
            build_id: build_id(&file, data),
            interpreter: file
                .section_by_name(".interp")
                .and_then(|s| s.data().ok())
                .map(|d| String::from_utf8_lossy(d.split(|&b| b == 0).next().unwrap_or(&[])).into_owned()),
            ..Elf::empty(path)
        };
        for s in file.symbols() {
            if s.is_undefined() {
                continue;
            }
            let Ok(name) = s.name() else { continue };
            if name.is_empty() {
                continue;
            }
            let kind = match s.kind() {
                object::SymbolKind::Text => SymKind::Text,
                object::SymbolKind::Data => SymKind::Data,
                object::SymbolKind::Tls => SymKind::Tls,
                _ => SymKind::Other,
            };
            let sym = Sym { name: name.to_string(), addr: s.address(), size: s.size(), kind, global: s.is_global() };
            // Prefer global definitions over local ones of the same name.
            match elf.symbols.get(name) {
                Some(old) if old.global || !sym.global => {}
                _ => {
                    elf.symbols.insert(name.to_string(), sym.clone());
                }
            }
            elf.all_symbols.push(sym);
        }
        elf.all_symbols.sort_by(|a, b| (a.addr, &a.name).cmp(&(b.addr, &b.name)));
        for sec in file.sections() {
            let Ok(name) = sec.name() else { continue };
            let section_err = |error| ToolError::elf(path, ElfProblem::Section { name: name.to_string(), error });
            if name.starts_with(".debug_") || name.starts_with(".zdebug_") {
                let bytes = sec.uncompressed_data().map_err(section_err)?;
                let canonical = name.replacen(".zdebug_", ".debug_", 1);
                elf.debug.insert(canonical, Rc::from(&*bytes));
            } else if EXTRA_SECTIONS.contains(&name) {
                let bytes = sec.uncompressed_data().map_err(section_err)?;
                elf.extra.insert(name.to_string(), bytes.into_owned());
            } else if sec.kind() == object::SectionKind::UninitializedData && sec.address() != 0 {
                elf.zero_fill.push((sec.address(), sec.size()));
            } else if sec.kind() == object::SectionKind::Text {
                if let Ok(bytes) = sec.data() {
                    elf.code.push(CodeSection { name: name.to_string(), addr: sec.address(), data: bytes.to_vec() });
                }
            } else if sec.address() != 0
                && (name == ".rela.iplt"
                    || !matches!(
                        sec.kind(),
                        object::SectionKind::UninitializedData
                            | object::SectionKind::UninitializedTls
                            | object::SectionKind::Metadata
                            | object::SectionKind::Debug
                            | object::SectionKind::Other
                            | object::SectionKind::Note
                    ))
            {
                if let Ok(bytes) = sec.data() {
                    elf.data.push(CodeSection { name: name.to_string(), addr: sec.address(), data: bytes.to_vec() });
                }
            }
        }
        elf.code.sort_by_key(|c| c.addr);
        Ok(elf)
    }

    /// True if the file has DWARF type information.
    pub fn has_dwarf(&self) -> bool {
        self.debug.get(".debug_info").is_some_and(|d| !d.is_empty())
    }

    /// The function symbol containing `addr`, if any (for naming call sites).
    pub fn function_at(&self, addr: u64) -> Option<&Sym> {
        let i = self.all_symbols.partition_point(|s| s.addr <= addr);
        self.all_symbols[..i]
            .iter()
            .rev()
            .filter(|s| s.kind == SymKind::Text)
            .take(8)
            .find(|s| addr >= s.addr && (addr < s.addr + s.size.max(1)))
    }
}
