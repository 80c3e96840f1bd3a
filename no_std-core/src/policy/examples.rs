//! Example policies with typical invariants, for tests, fuzz targets and benchmarks
//! (`feature = "testing"`):
//! - `open`/`openat`: the path must equal a constant;
//! - `write`: only from known call sites, and `count <= config.max_len` read from P's memory;
//! - `execve`: denied;
//! - a legal-trace automaton (open → read* → close → write* → exit);
//! - `openat`: input validation of the path with the bounded string scans ([`path_checks`]).
//!
//! Each builder writes the encoded policy into a caller's buffer and returns its length.

use super::encode::{
    AutomatonSpec, CodeWriter, ConstSpec, EncodeError, IdentitySpec, InvariantSpec, PolicyBuilder, RuleSpec,
    TransitionSpec,
};
use super::format::POLICY_DENY_OTHER_ABIS;
use super::op::{BinOp, ConstId, Width};
use super::{DefaultAction, RuleAction};
use crate::mem::flat::FlatMemory;
use crate::syscall::{Abi, Syscall};

/// x86-64 system-call numbers used by the examples.
#[allow(missing_docs)]
pub mod nr {
    pub const READ: u32 = 0;
    pub const WRITE: u32 = 1;
    pub const OPEN: u32 = 2;
    pub const CLOSE: u32 = 3;
    pub const EXECVE: u32 = 59;
    pub const EXIT_GROUP: u32 = 231;
    pub const OPENAT: u32 = 257;
}

/// The only file P may open.
pub const GOOD_PATH: &[u8] = b"/etc/app/app.conf";
/// A file P must not open.
pub const BAD_PATH: &[u8] = b"/etc/shadow";
/// Where [`memory`] puts [`GOOD_PATH`].
pub const GOOD_PATH_ADDR: u64 = 0x7ffd_0000;
/// Where [`memory`] puts [`BAD_PATH`].
pub const BAD_PATH_ADDR: u64 = 0x7ffd_0100;
/// Address of P's global `config` (what the static tool would take from DWARF).
pub const CONFIG_ADDR: u64 = 0x60_1000;
/// Offset of `config.max_len` (a `u32`).
pub const MAX_LEN_OFFSET: u64 = 8;
/// Value of `config.max_len` in [`memory`].
pub const MAX_LEN: u64 = 4096;
/// Call sites (user RIP after `syscall`) from which P writes.
pub const WRITE_SITES: [u64; 2] = [0x40_1a2b, 0x40_2c3d];

/// Invariant ids used by the examples.
pub const ID_OPEN: u32 = 1;
/// `openat` path invariant.
pub const ID_OPENAT: u32 = 2;
/// `write` invariant.
pub const ID_WRITE: u32 = 3;
/// `execve` denial.
pub const ID_EXECVE: u32 = 4;
/// Call-site restriction of [`only_from_rips`].
pub const ID_SITES: u32 = 5;
/// Path validation of [`path_checks`].
pub const ID_PATH_CHECKS: u32 = 6;

const C_PATH: ConstId = ConstId(0);
const C_SITES: ConstId = ConstId(1);

/// P's memory as the examples expect it: both paths and `config`.
pub fn memory() -> FlatMemory<4> {
    let mut m = FlatMemory::new();
    let mut put = |addr: u64, bytes: &[u8]| {
        let ok = m.write(addr, bytes);
        debug_assert!(ok, "four pages are enough for the example memory");
    };
    let mut path = [0u8; 64];
    path[..GOOD_PATH.len()].copy_from_slice(GOOD_PATH);
    put(GOOD_PATH_ADDR, &path[..GOOD_PATH.len() + 1]);
    let mut bad = [0u8; 64];
    bad[..BAD_PATH.len()].copy_from_slice(BAD_PATH);
    put(BAD_PATH_ADDR, &bad[..BAD_PATH.len() + 1]);
    put(CONFIG_ADDR, &0xc0ffee_u64.to_le_bytes());
    put(CONFIG_ADDR + MAX_LEN_OFFSET, &(MAX_LEN as u32).to_le_bytes());
    m
}

/// `path == GOOD_PATH` for the path in argument `arg`.
fn path_code(buf: &mut [u8], arg: u8) -> Result<usize, EncodeError> {
    let mut w = CodeWriter::new(buf);
    w.arg(arg).str_eq(C_PATH);
    Ok(w.finish()?)
}

/// `write`: from a known site, and `count <= config.max_len` (both values noted).
fn write_code(buf: &mut [u8], sites: Option<ConstId>) -> Result<usize, EncodeError> {
    let mut w = CodeWriter::new(buf);
    if let Some(c) = sites {
        w.require_site(c);
    }
    w.arg(2).note().push(CONFIG_ADDR + MAX_LEN_OFFSET).load(Width::W32, false).note().bin(BinOp::LeU);
    Ok(w.finish()?)
}

fn deny_code(buf: &mut [u8]) -> Result<usize, EncodeError> {
    let mut w = CodeWriter::new(buf);
    w.deny();
    Ok(w.finish()?)
}

fn one_rule(
    out: &mut [u8],
    abi_nr: u32,
    id: u32,
    name: &str,
    code: &[u8],
    consts: &[ConstSpec<'_>],
) -> Result<usize, EncodeError> {
    let rules = [RuleSpec { abi: Abi::X86_64, nr: abi_nr, site: None, action: RuleAction::Check(0) }];
    let invs = [InvariantSpec { id, name, code }];
    PolicyBuilder {
        rules: &rules,
        invariants: &invs,
        constants: consts,
        ..PolicyBuilder::new(id, DefaultAction::Allow)
    }
    .encode(out)
}

/// `open(path)` and `openat(_, path)`: the path must equal `path`.
pub fn open_path_equals(out: &mut [u8], path: &[u8]) -> Result<usize, EncodeError> {
    open_path_equals_with_profile(out, path, None)
}

/// [`open_path_equals`] with a guest-kernel profile section (what semguard.ko needs to find P).
pub fn open_path_equals_with_profile(
    out: &mut [u8],
    path: &[u8],
    kernel_profile: Option<&[u8]>,
) -> Result<usize, EncodeError> {
    let (mut c0, mut c1) = ([0u8; 16], [0u8; 16]);
    let n0 = path_code(&mut c0, 0)?;
    let n1 = path_code(&mut c1, 1)?;
    let rules = [
        RuleSpec { abi: Abi::X86_64, nr: nr::OPENAT, site: None, action: RuleAction::Check(1) },
        RuleSpec { abi: Abi::X86_64, nr: nr::OPEN, site: None, action: RuleAction::Check(0) },
    ];
    let invs = [
        InvariantSpec { id: ID_OPEN, name: "open.path", code: &c0[..n0] },
        InvariantSpec { id: ID_OPENAT, name: "openat.path", code: &c1[..n1] },
    ];
    let consts = [ConstSpec::Bytes(path)];
    PolicyBuilder {
        rules: &rules,
        invariants: &invs,
        constants: &consts,
        kernel_profile,
        ..PolicyBuilder::new(1, DefaultAction::Allow)
    }
    .encode(out)
}

/// `write(fd, buf, count)`: `count <= config.max_len`, with `config.max_len` a `u32` at
/// `max_len_addr` in P's memory.
pub fn write_count_le_config(out: &mut [u8], max_len_addr: u64) -> Result<usize, EncodeError> {
    let mut c = [0u8; 32];
    let mut w = CodeWriter::new(&mut c);
    w.arg(2).note().push(max_len_addr).load(Width::W32, false).note().bin(BinOp::LeU);
    let n = w.finish()?;
    one_rule(out, nr::WRITE, ID_WRITE, "write.count<=config.max_len", &c[..n], &[])
}

/// `execve` is not allowed.
pub fn deny_execve(out: &mut [u8]) -> Result<usize, EncodeError> {
    let mut c = [0u8; 4];
    let n = deny_code(&mut c)?;
    one_rule(out, nr::EXECVE, ID_EXECVE, "no-execve", &c[..n], &[])
}

/// Syscall `nr` only from the user RIPs in `rips` (at most 16; any order, duplicates
/// allowed).
pub fn only_from_rips(out: &mut [u8], nr: u32, rips: &[u64]) -> Result<usize, EncodeError> {
    let mut set = [0u64; 16];
    let mut n = 0usize;
    for &r in rips {
        // Insertion into a sorted, duplicate-free prefix.
        let pos = set[..n].partition_point(|&x| x < r);
        if set[..n].get(pos) == Some(&r) {
            continue;
        }
        if n == set.len() {
            return Err(EncodeError::TooLarge);
        }
        set.copy_within(pos..n, pos + 1);
        set[pos] = r;
        n += 1;
    }
    let mut c = [0u8; 16];
    let mut w = CodeWriter::new(&mut c);
    w.require_site(ConstId(0)).push(1);
    let len = w.finish()?;
    one_rule(out, nr, ID_SITES, "call-sites", &c[..len], &[ConstSpec::Set(&set[..n])])
}

/// All typical invariants in one policy: open/openat path, write sites + length, no execve.
/// Default allow, and calls through other ABIs (int 0x80…) are denied.
pub fn typical(out: &mut [u8]) -> Result<usize, EncodeError> {
    typical_with_profile(out, b"opaque guest-kernel profile")
}

/// [`typical`] with `kernel_profile` as its guest-kernel profile section.
pub fn typical_with_profile(out: &mut [u8], kernel_profile: &[u8]) -> Result<usize, EncodeError> {
    let (mut c0, mut c1, mut c2, mut c3) = ([0u8; 16], [0u8; 16], [0u8; 64], [0u8; 4]);
    let n0 = path_code(&mut c0, 0)?;
    let n1 = path_code(&mut c1, 1)?;
    let n2 = write_code(&mut c2, Some(C_SITES))?;
    let n3 = deny_code(&mut c3)?;
    let invs = [
        InvariantSpec { id: ID_OPEN, name: "open.path", code: &c0[..n0] },
        InvariantSpec { id: ID_OPENAT, name: "openat.path", code: &c1[..n1] },
        InvariantSpec { id: ID_WRITE, name: "write.site+count<=config.max_len", code: &c2[..n2] },
        InvariantSpec { id: ID_EXECVE, name: "no-execve", code: &c3[..n3] },
    ];
    let rules = [
        RuleSpec { abi: Abi::X86_64, nr: nr::EXECVE, site: None, action: RuleAction::Check(3) },
        RuleSpec { abi: Abi::X86_64, nr: nr::WRITE, site: None, action: RuleAction::Check(2) },
        RuleSpec { abi: Abi::X86_64, nr: nr::OPENAT, site: None, action: RuleAction::Check(1) },
        RuleSpec { abi: Abi::X86_64, nr: nr::OPEN, site: None, action: RuleAction::Check(0) },
    ];
    let consts = [ConstSpec::Bytes(GOOD_PATH), ConstSpec::Set(&WRITE_SITES)];
    PolicyBuilder {
        flags: POLICY_DENY_OTHER_ABIS,
        rules: &rules,
        invariants: &invs,
        constants: &consts,
        kernel_profile: Some(kernel_profile),
        ..PolicyBuilder::new(0x5e_6a_4d, DefaultAction::Allow)
    }
    .encode(out)
}

/// `openat(_, path)`: `path` holds no `"../"`, does not end in `".so"`, and is at most 255
/// bytes of `[a-z0-9/._-]` — `!contains(path, "../", 1024) && !endswith(path, ".so", 1024) &&
/// charset(path, "[a-z0-9/._-]", 255)`. [`GOOD_PATH`] passes, [`BAD_PATH`] too (it is a
/// plain path); `"/etc/../x"`, `"/lib/x.so"` and `"/Etc"` do not.
pub fn path_checks(out: &mut [u8]) -> Result<usize, EncodeError> {
    let class =
        super::class_bitmap(&[(b'a', b'z'), (b'0', b'9'), (b'/', b'/'), (b'.', b'.'), (b'_', b'_'), (b'-', b'-')]);
    let consts = [ConstSpec::Bytes(b"../"), ConstSpec::Bytes(b".so"), ConstSpec::Class(&class)];
    let mut c = [0u8; 64];
    let mut w = CodeWriter::new(&mut c);
    let end = w.label();
    w.arg(1).str_contains(ConstId(0), 1024).lnot().and_then(end);
    w.arg(1).str_suffix(ConstId(1), 1024).lnot().and_then(end);
    w.arg(1).str_class(ConstId(2), 255).bind(end);
    let n = w.finish()?;
    one_rule(out, nr::OPENAT, ID_PATH_CHECKS, "openat.path-checks", &c[..n], &consts)
}

/// A small policy (`execve` denied) that names P by its identity: a 20-byte build-id whose
/// note descriptor P's image holds at `0x400270` (fuzz targets mutate it).
pub fn with_identity(out: &mut [u8]) -> Result<usize, EncodeError> {
    let mut c = [0u8; 4];
    let n = deny_code(&mut c)?;
    let invs = [InvariantSpec { id: ID_EXECVE, name: "no-execve", code: &c[..n] }];
    let rules = [RuleSpec { abi: Abi::X86_64, nr: nr::EXECVE, site: None, action: RuleAction::Check(0) }];
    let build_id = [
        0x5e, 0x6a, 0x4d, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc,
        0xfe, 0x42,
    ];
    PolicyBuilder {
        rules: &rules,
        invariants: &invs,
        identity: Some(IdentitySpec { build_id: &build_id, note_vaddr: 0x40_0270, relative: false, entry: 0 }),
        ..PolicyBuilder::new(0x1d_e471, DefaultAction::Allow)
    }
    .encode(out)
}

/// Where a position-independent P's `limit` variable is, relative to its load base.
pub const PIE_LIMIT_OFFSET: u64 = 0x4010;
/// The one call site (relative) from which [`pie`] allows `write`.
pub const PIE_WRITE_SITE: u64 = 0x1234;
/// The entry point [`pie`] records (relative).
pub const PIE_ENTRY: u64 = 0x1040;

/// A position-independent P's policy (relative identity): `write` only from
/// [`PIE_WRITE_SITE`], with `count <= limit`, a `u32` at [`PIE_LIMIT_OFFSET`] from the load
/// base; default deny.
pub fn pie(out: &mut [u8]) -> Result<usize, EncodeError> {
    let mut c = [0u8; 32];
    let mut w = CodeWriter::new(&mut c);
    w.arg(2).push(PIE_LIMIT_OFFSET).emit(super::op::Insn::ImageBase).bin(BinOp::Add).load(Width::W32, false);
    w.bin(BinOp::LeU);
    let n = w.finish().map_err(EncodeError::Asm)?;
    let invs = [InvariantSpec { id: ID_WRITE, name: "limit", code: &c[..n] }];
    let rules =
        [RuleSpec { abi: Abi::X86_64, nr: nr::WRITE, site: Some(PIE_WRITE_SITE), action: RuleAction::Check(0) }];
    let build_id = [0x91; 20];
    PolicyBuilder {
        rules: &rules,
        invariants: &invs,
        identity: Some(IdentitySpec { build_id: &build_id, note_vaddr: 0x2b4, relative: true, entry: PIE_ENTRY }),
        ..PolicyBuilder::new(0x91e, DefaultAction::Deny)
    }
    .encode(out)
}

/// States of [`trace`]'s automaton.
#[allow(missing_docs)]
pub mod state {
    pub const START: u32 = 0;
    pub const READING: u32 = 1;
    pub const WRITING: u32 = 2;
    pub const EXITED: u32 = 3;
}

/// A legal-trace policy: `openat (read)* close (write)* exit_group`, plus `execve` denied by
/// a rule. Default allow for the rules (the automaton constrains the order).
pub fn trace(out: &mut [u8]) -> Result<usize, EncodeError> {
    use state::*;
    let mut c = [0u8; 4];
    let n = deny_code(&mut c)?;
    let invs = [InvariantSpec { id: ID_EXECVE, name: "no-execve", code: &c[..n] }];
    let rules = [RuleSpec { abi: Abi::X86_64, nr: nr::EXECVE, site: None, action: RuleAction::Check(0) }];
    let t = |from, nr, to| TransitionSpec { from, abi: Abi::X86_64, nr, to };
    let transitions = [
        t(WRITING, nr::EXIT_GROUP, EXITED),
        t(START, nr::OPENAT, READING),
        t(READING, nr::READ, READING),
        t(READING, nr::CLOSE, WRITING),
        t(WRITING, nr::WRITE, WRITING),
    ];
    PolicyBuilder {
        rules: &rules,
        invariants: &invs,
        automaton: Some(AutomatonSpec { states: 4, initial: START, transitions: &transitions }),
        ..PolicyBuilder::new(7, DefaultAction::Allow)
    }
    .encode(out)
}

/// Typical calls against [`typical`] with [`memory`], each with whether it should be allowed:
/// for benchmarks and fuzzing seeds.
pub fn typical_calls() -> [(Syscall, bool); 6] {
    let c = |nr, args, rip| Syscall { abi: Abi::X86_64, nr, args, user_rip: rip };
    [
        (c(nr::OPENAT, [0, GOOD_PATH_ADDR, 0, 0, 0, 0], 0x40_1000), true),
        (c(nr::OPENAT, [0, BAD_PATH_ADDR, 0, 0, 0, 0], 0x40_1000), false),
        (c(nr::WRITE, [1, 0x1000, 100, 0, 0, 0], WRITE_SITES[1]), true),
        (c(nr::WRITE, [1, 0x1000, MAX_LEN + 1, 0, 0, 0], WRITE_SITES[0]), false),
        (c(nr::EXECVE, [0; 6], 0x40_1000), false),
        (c(39, [0; 6], 0x40_1000), true),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::Checker;
    use crate::eval::{Verdict, ViolationKind};
    use crate::policy::Policy;
    use crate::regs::Registers;

    fn decode(f: impl FnOnce(&mut [u8]) -> Result<usize, EncodeError>, buf: &mut [u8]) -> usize {
        let n = f(buf).unwrap();
        Policy::decode(&buf[..n]).unwrap();
        n
    }

    #[test]
    fn every_example_decodes() {
        let mut buf = [0u8; 4096];
        decode(|b| open_path_equals(b, GOOD_PATH), &mut buf);
        decode(|b| write_count_le_config(b, CONFIG_ADDR + MAX_LEN_OFFSET), &mut buf);
        decode(deny_execve, &mut buf);
        decode(|b| only_from_rips(b, nr::WRITE, &[3, 1, 2, 1]), &mut buf);
        let n = decode(typical, &mut buf);
        let p = Policy::decode(&buf[..n]).unwrap();
        assert_eq!(p.kernel_profile(), Some(&b"opaque guest-kernel profile"[..]));
        assert_eq!(p.invariant(2).unwrap().name(), Some("write.site+count<=config.max_len"));
        decode(trace, &mut buf);
        decode(path_checks, &mut buf);
        assert_eq!(
            only_from_rips(&mut buf, 1, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]),
            Err(EncodeError::TooLarge)
        );
    }

    #[test]
    fn typical_calls_get_the_expected_verdicts() {
        let mut buf = [0u8; 4096];
        let n = typical(&mut buf).unwrap();
        let c = Checker::new(Policy::decode(&buf[..n]).unwrap());
        let mut mem = memory();
        let mut st = c.new_process();
        for (sc, allowed) in typical_calls() {
            let v = c.check(&mut st, &sc, &Registers::default(), &mut mem);
            assert_eq!(v.is_allow(), allowed, "{sc:?}: {v:?}");
        }
    }

    #[test]
    fn single_invariant_examples_behave() {
        let mut buf = [0u8; 4096];
        let mut mem = memory();
        let regs = Registers::default();
        let c = |nr, args: [u64; 6], rip| Syscall { abi: Abi::X86_64, nr, args, user_rip: rip };

        let n = open_path_equals(&mut buf, GOOD_PATH).unwrap();
        let ch = Checker::new(Policy::decode(&buf[..n]).unwrap());
        let mut st = ch.new_process();
        assert!(ch.check(&mut st, &c(nr::OPEN, [GOOD_PATH_ADDR, 0, 0, 0, 0, 0], 0), &regs, &mut mem).is_allow());
        assert!(!ch.check(&mut st, &c(nr::OPEN, [BAD_PATH_ADDR, 0, 0, 0, 0, 0], 0), &regs, &mut mem).is_allow());
        assert!(!ch.check(&mut st, &c(nr::OPENAT, [0, BAD_PATH_ADDR, 0, 0, 0, 0], 0), &regs, &mut mem).is_allow());

        let n = write_count_le_config(&mut buf, CONFIG_ADDR + MAX_LEN_OFFSET).unwrap();
        let ch = Checker::new(Policy::decode(&buf[..n]).unwrap());
        assert!(ch.check(&mut st, &c(nr::WRITE, [1, 0, MAX_LEN, 0, 0, 0], 0), &regs, &mut mem).is_allow());
        assert!(!ch.check(&mut st, &c(nr::WRITE, [1, 0, MAX_LEN + 1, 0, 0, 0], 0), &regs, &mut mem).is_allow());

        let n = deny_execve(&mut buf).unwrap();
        let ch = Checker::new(Policy::decode(&buf[..n]).unwrap());
        assert!(matches!(
            ch.check(&mut st, &c(nr::EXECVE, [0; 6], 0), &regs, &mut mem),
            Verdict::Violation { kind: ViolationKind::Denied, .. }
        ));
        assert!(ch.check(&mut st, &c(nr::WRITE, [0; 6], 0), &regs, &mut mem).is_allow());

        let n = path_checks(&mut buf).unwrap();
        let ch = Checker::new(Policy::decode(&buf[..n]).unwrap());
        let openat = |path: &[u8], mem: &mut FlatMemory<4>, st: &mut crate::checker::ProcessState| {
            assert!(mem.write(0x7ffd_0200, path));
            ch.check(st, &c(nr::OPENAT, [0, 0x7ffd_0200, 0, 0, 0, 0], 0), &regs, mem).is_allow()
        };
        assert!(openat(b"/etc/app/app.conf\0", &mut mem, &mut st));
        assert!(openat(b"/var/log/x-1_2.txt\0", &mut mem, &mut st));
        assert!(!openat(b"/etc/../x\0", &mut mem, &mut st));
        assert!(!openat(b"/lib/x.so\0", &mut mem, &mut st));
        assert!(!openat(b"/Etc\0", &mut mem, &mut st));

        let n = only_from_rips(&mut buf, nr::WRITE, &[0x40_2000, 0x40_1000]).unwrap();
        let ch = Checker::new(Policy::decode(&buf[..n]).unwrap());
        assert!(ch.check(&mut st, &c(nr::WRITE, [0; 6], 0x40_1000), &regs, &mut mem).is_allow());
        assert!(ch.check(&mut st, &c(nr::WRITE, [0; 6], 0x40_2000), &regs, &mut mem).is_allow());
        assert!(matches!(
            ch.check(&mut st, &c(nr::WRITE, [0; 6], 0x40_3000), &regs, &mut mem),
            Verdict::Violation { kind: ViolationKind::WrongCallSite, .. }
        ));
    }
}
