//! Shared helpers for the policy/eval/checker integration tests. Uses only the public API,
//! as the static tool and the kernel module will, and needs no `testing` feature.
#![allow(dead_code)]

use std::collections::BTreeMap;

use semguard_core::addr::GuestVirtAddr;
use semguard_core::crc::crc32;
use semguard_core::mem::{MemError, VirtMemory};
use semguard_core::policy::format::{self, SectionKind, CRC_OFFSET, DIR_ENTRY_LEN, HEADER_LEN};
use semguard_core::policy::{
    AutomatonSpec, BinOp, CodeWriter, ConstId, ConstSpec, DefaultAction, InvariantSpec, Policy, PolicyBuilder,
    PolicyError, RuleAction, RuleSpec, TransitionSpec, Width,
};
use semguard_core::regs::Reg;
use semguard_core::syscall::Abi;
use semguard_core::walker::{WalkError, WalkErrorKind};

/// Sparse guest memory: present pages only where written.
#[derive(Clone, Default)]
pub struct Mem {
    pages: BTreeMap<u64, Box<[u8; 4096]>>,
}

impl Mem {
    pub fn write(&mut self, va: u64, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            let a = va.wrapping_add(i as u64);
            self.pages.entry(a & !0xfff).or_insert_with(|| Box::new([0; 4096]))[(a & 0xfff) as usize] = b;
        }
    }
    pub fn map(&mut self, page: u64) {
        self.pages.entry(page & !0xfff).or_insert_with(|| Box::new([0; 4096]));
    }
    /// The page containing `va`, made present.
    pub fn page_mut(&mut self, va: u64) -> &mut [u8; 4096] {
        self.pages.entry(va & !0xfff).or_insert_with(|| Box::new([0; 4096]))
    }
    pub fn byte(&self, a: u64) -> Option<u8> {
        self.pages.get(&(a & !0xfff)).map(|p| p[(a & 0xfff) as usize])
    }
}

impl VirtMemory for Mem {
    fn read_bytes(&mut self, va: GuestVirtAddr, buf: &mut [u8]) -> Result<(), MemError> {
        va.checked_add(buf.len() as u64).ok_or(MemError::Overflow)?;
        for (i, slot) in buf.iter_mut().enumerate() {
            let a = va.0 + i as u64;
            *slot = self.byte(a).ok_or(MemError::Walk {
                va: GuestVirtAddr(a),
                error: WalkError { level: 1, kind: WalkErrorKind::NotPresent },
            })?;
        }
        Ok(())
    }
}

pub const NR_READ: u32 = 0;
pub const NR_WRITE: u32 = 1;
pub const NR_OPEN: u32 = 2;
pub const NR_CLOSE: u32 = 3;
pub const NR_EXECVE: u32 = 59;
pub const NR_OPENAT: u32 = 257;

pub const PATH: &[u8] = b"/srv/data";
pub const PATH_ADDR: u64 = 0x7000_0ff0;
pub const CONFIG_MAX_LEN: u64 = 0x60_0010;
pub const MAX_LEN: u32 = 512;
pub const SITE_A: u64 = 0x40_1000;
pub const SITE_B: u64 = 0x40_2000;

/// P's memory for [`full_policy`].
pub fn memory() -> Mem {
    let mut m = Mem::default();
    let mut p = PATH.to_vec();
    p.push(0);
    m.write(PATH_ADDR, &p);
    m.write(CONFIG_MAX_LEN, &MAX_LEN.to_le_bytes());
    m.write(0x60_0100, b"a\0b");
    m
}

fn code(f: impl FnOnce(&mut CodeWriter)) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let mut w = CodeWriter::new(&mut buf);
    f(&mut w);
    let n = w.finish().expect("assembles");
    buf.truncate(n);
    buf
}

/// Invariant codes of [`full_policy`], in index order.
pub fn full_codes() -> Vec<Vec<u8>> {
    vec![
        // 0: open path == PATH
        code(|w| {
            w.arg(0).str_eq(ConstId(0));
        }),
        // 1: count <= config.max_len
        code(|w| {
            w.arg(2).note().push(CONFIG_MAX_LEN).load(Width::W32, false).note().bin(BinOp::LeU);
        }),
        // 2: only from SITE_A/SITE_B
        code(|w| {
            w.require_site(ConstId(1)).push(1);
        }),
        // 3: deny
        code(|w| {
            w.deny();
        }),
        // 4: fd in {0, 3, 4} && (count < 4096 || strlen(buf) <= 100) && rsi != 0
        code(|w| {
            let end = w.label();
            let or = w.label();
            w.arg(0).in_set(ConstId(3)).and_then(end);
            w.arg(2).push(4096).bin(BinOp::LtU).or_else(or).arg(1).strlen(100).push(100).bin(BinOp::LeU).bind(or);
            w.and_then(end).reg(Reg::Rsi).push(0).bin(BinOp::Ne).bind(end);
        }),
        // 5: bytes at 0x600100 == "a\0b", signed arithmetic
        code(|w| {
            let end = w.label();
            w.push(0x60_0100).bytes_eq(ConstId(2)).and_then(end);
            w.arg(3).emit(semguard_core::policy::Insn::Sext(Width::W32)).push(u64::MAX).bin(BinOp::GtS).bind(end);
        }),
    ]
}

/// A policy using every section and most instructions.
pub fn full_policy() -> Vec<u8> {
    let codes = full_codes();
    let names = ["open.path", "write.count", "write.sites", "no-execve", "read.misc", "close.misc"];
    let ids = [10, 11, 12, 13, 14, 15];
    let invs: Vec<InvariantSpec> =
        codes.iter().zip(names).zip(ids).map(|((c, name), id)| InvariantSpec { id, name, code: c }).collect();
    let rule = |abi, nr, site, action| RuleSpec { abi, nr, site, action };
    let rules = [
        rule(Abi::X86_64, NR_WRITE, None, RuleAction::Check(1)),
        rule(Abi::X86_64, NR_WRITE, None, RuleAction::Check(2)),
        rule(Abi::X86_64, NR_WRITE, Some(0x40_9000), RuleAction::Allow),
        rule(Abi::X86_64, NR_OPEN, None, RuleAction::Check(0)),
        rule(Abi::X86_64, NR_EXECVE, None, RuleAction::Check(3)),
        rule(Abi::X86_64, NR_READ, None, RuleAction::Check(4)),
        rule(Abi::X86_64, NR_CLOSE, None, RuleAction::Check(5)),
        rule(Abi::Ia32, 4, None, RuleAction::Check(1)),
        rule(Abi::X86_64, 39, None, RuleAction::Allow),
    ];
    let consts = [
        ConstSpec::Bytes(PATH),
        ConstSpec::Set(&[SITE_A, SITE_B]),
        ConstSpec::Bytes(b"a\0b"),
        ConstSpec::Set(&[0, 3, 4]),
    ];
    let t = |from, nr, to| TransitionSpec { from, abi: Abi::X86_64, nr, to };
    let transitions = [t(0, NR_OPEN, 1), t(1, NR_READ, 1), t(1, NR_WRITE, 1), t(1, NR_CLOSE, 2), t(2, 39, 2)];
    let b = PolicyBuilder {
        flags: format::POLICY_DENY_OTHER_ABIS,
        rules: &rules,
        invariants: &invs,
        constants: &consts,
        automaton: Some(AutomatonSpec { states: 3, initial: 0, transitions: &transitions }),
        kernel_profile: Some(&[1, 2, 3, 4, 5]),
        ..PolicyBuilder::new(0xabcd, DefaultAction::Deny)
    };
    let mut out = vec![0u8; b.encoded_len().unwrap()];
    let n = b.encode(&mut out).unwrap();
    assert_eq!(n, out.len());
    out
}

/// A blob being edited by a test.
#[derive(Clone)]
pub struct Blob(pub Vec<u8>);

impl Blob {
    pub fn decode(&self) -> Result<Policy<'_>, PolicyError> {
        Policy::decode(&self.0)
    }
    /// Recomputes the checksum after an edit.
    pub fn fix_crc(&mut self) -> &mut Self {
        self.0[CRC_OFFSET..CRC_OFFSET + 4].fill(0);
        let c = crc32(&self.0);
        self.0[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&c.to_le_bytes());
        self
    }
    pub fn put(&mut self, at: usize, bytes: &[u8]) -> &mut Self {
        self.0[at..at + bytes.len()].copy_from_slice(bytes);
        self
    }
    pub fn u16_at(&self, at: usize) -> u16 {
        u16::from_le_bytes(self.0[at..at + 2].try_into().unwrap())
    }
    pub fn u32_at(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.0[at..at + 4].try_into().unwrap())
    }
    pub fn section_count(&self) -> usize {
        self.0[25] as usize
    }
    /// Byte offset of directory entry `i`.
    pub fn dir(&self, i: usize) -> usize {
        HEADER_LEN + i * DIR_ENTRY_LEN
    }
    /// (directory entry offset, section offset, section length) of `kind`.
    pub fn section(&self, kind: SectionKind) -> (usize, usize, usize) {
        for i in 0..self.section_count() {
            let d = self.dir(i);
            if self.u16_at(d) == kind as u16 {
                return (d, self.u32_at(d + 4) as usize, self.u32_at(d + 8) as usize);
            }
        }
        panic!("no section {kind:?}")
    }
    /// Offset of record `i` of a counted table section (rules, invariants, constants).
    pub fn record(&self, kind: SectionKind, i: usize) -> usize {
        let size = match kind {
            SectionKind::Rules => format::RULE_LEN,
            SectionKind::Invariants => format::INVARIANT_LEN,
            SectionKind::Constants => format::CONST_ENTRY_LEN,
            SectionKind::Automaton => {
                return self.section(kind).1 + format::AUTOMATON_HEADER_LEN + i * format::TRANSITION_LEN
            }
            other => panic!("{other:?} has no records"),
        };
        self.section(kind).1 + format::TABLE_HEADER_LEN + i * size
    }
}

/// The build-id of [`identity_policy`] (20 bytes, as GNU ld's default sha1).
pub const BUILD_ID: [u8; 20] = [
    0x73, 0x84, 0x2a, 0x75, 0x99, 0xf2, 0x4d, 0xd1, 0xd0, 0x99, 0x3e, 0x9b, 0xf9, 0xb2, 0xe2, 0x10, 0x61, 0xdb, 0x01,
    0x26,
];
/// Where [`identity_policy`] says the build-id note's descriptor is.
pub const NOTE_VADDR: u64 = 0x40_02b4;

/// The entry point [`identity_policy_with`] records for a relative identity.
pub const PIE_ENTRY: u64 = 0x1040;

/// A small policy (one allow rule, a kernel profile) that records P's identity: `build_id` at
/// `note_vaddr`.
pub fn identity_policy_with(build_id: &[u8], note_vaddr: u64, relative: bool) -> Vec<u8> {
    let rules = [RuleSpec { abi: Abi::X86_64, nr: NR_READ, site: None, action: RuleAction::Allow }];
    let b = PolicyBuilder {
        rules: &rules,
        kernel_profile: Some(&[9, 8, 7]),
        identity: Some(semguard_core::policy::IdentitySpec {
            build_id,
            note_vaddr,
            relative,
            entry: if relative { PIE_ENTRY } else { 0 },
        }),
        ..PolicyBuilder::new(0x1d, DefaultAction::Deny)
    };
    let mut out = vec![0u8; b.encoded_len().unwrap()];
    let n = b.encode(&mut out).unwrap();
    out.truncate(n);
    out
}

/// [`identity_policy_with`] the 20-byte [`BUILD_ID`] at [`NOTE_VADDR`], absolute.
pub fn identity_policy() -> Vec<u8> {
    identity_policy_with(&BUILD_ID, NOTE_VADDR, false)
}

/// A policy whose invariants use the bounded string scans: `open` paths must not contain
/// `"../"`, must not end in `".so"` and must be at most 64 bytes of `[a-z/.]`; `read` checks
/// the same path with a class that excludes `/` (false for [`PATH`]).
pub fn strings_policy() -> Vec<u8> {
    let path_class = semguard_core::policy::class_bitmap(&[(b'a', b'z'), (b'/', b'/'), (b'.', b'.')]);
    let name_class = semguard_core::policy::class_bitmap(&[(b'a', b'z'), (b'.', b'.')]);
    let consts = [
        ConstSpec::Bytes(b"../"),
        ConstSpec::Bytes(b".so"),
        ConstSpec::Class(&path_class),
        ConstSpec::Class(&name_class),
    ];
    let codes = [
        code(|w| {
            let end = w.label();
            w.arg(0).str_contains(ConstId(0), 256).lnot().and_then(end);
            w.arg(0).str_suffix(ConstId(1), 256).lnot().and_then(end);
            w.arg(0).str_class(ConstId(2), 64).bind(end);
        }),
        code(|w| {
            w.arg(1).str_class(ConstId(3), 4096);
        }),
    ];
    let invs = [
        InvariantSpec { id: 1, name: "open.path", code: &codes[0] },
        InvariantSpec { id: 2, name: "read.name", code: &codes[1] },
    ];
    let rules = [
        RuleSpec { abi: Abi::X86_64, nr: NR_OPEN, site: None, action: RuleAction::Check(0) },
        RuleSpec { abi: Abi::X86_64, nr: NR_READ, site: None, action: RuleAction::Check(1) },
    ];
    let b = PolicyBuilder {
        rules: &rules,
        invariants: &invs,
        constants: &consts,
        ..PolicyBuilder::new(0x57, DefaultAction::Allow)
    };
    let mut out = vec![0u8; b.encoded_len().unwrap()];
    let n = b.encode(&mut out).unwrap();
    out.truncate(n);
    out
}
