//! semguard-mkpolicy: writes the policy blobs the module scenarios load into dom0's
//! /lib/firmware — valid example policies and deliberately broken ones — and checks each with
//! the same decoder the kernel module runs, so a blob can never silently mean something else.
//!
//!     semguard-mkpolicy OUT_DIR [--profile FILE]
//!
//! Prints one line per file: `NAME BYTES ok id=0x…` or `NAME BYTES rejected: <PolicyError>`.
//! Until the static tool compiles real policies, the valid blobs come from
//! `semguard_core::policy::examples`.
//!
//! With `--profile FILE` (a guest-kernel profile from `semguard profile`, which semguard.ko
//! needs to find P in the guest) every valid blob carries it, and the policies for
//! guest-stub's `sgloop` are written too:
//! - `sgloop.pol`: `getpriority(which, who)` only with `who == 0` (sgloop's normal call;
//!   its `bad` command asks for `who = 4242`), the value noted for the alert;
//! - `sgloop-lenient.pol`: the same call with `who < 10000` (allows the bad call), to show a
//!   policy replaced through /dev/semguard;
//! - `sgloop-unverifiable.pol`: `getpriority` is checked by reading P's address 8 (never
//!   mapped): every check is unverifiable, so `fail=` decides;
//! - `no-profile.pol`: a valid policy without a profile (semguard.ko refuses it).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use semguard_core::policy::{
    examples, BinOp, CodeWriter, DefaultAction, EncodeError, InvariantSpec, Policy, PolicyBuilder, PolicyError,
    RuleAction, RuleSpec, Width,
};
use semguard_core::profile::Profile;
use semguard_core::syscall::Abi;

mod blobs;

use blobs::{corrupt_checksum, corrupt_opcode, Expect};

/// One file to write: its name, its bytes and what decoding must give.
struct Blob {
    name: &'static str,
    bytes: Vec<u8>,
    expect: Expect,
}

fn encode(f: impl Fn(&mut [u8]) -> Result<usize, EncodeError>) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; 64 * 1024];
    let n = f(&mut buf).map_err(|e| format!("encoding an example policy failed: {e:?}"))?;
    buf.truncate(n);
    Ok(buf)
}

/// `getpriority` (x86-64 140), the call sgloop makes in its loop.
const NR_GETPRIORITY: u32 = 140;
/// The `who` sgloop's `bad` command passes.
pub const SGLOOP_BAD_WHO: u64 = 4242;

/// A policy for sgloop: `getpriority`'s `who` (argument 1) compared with `bound` by `op`,
/// noted for the alert; everything else allowed.
fn sgloop_policy(
    out: &mut [u8],
    id: u32,
    name: &str,
    op: BinOp,
    bound: u64,
    profile: &[u8],
) -> Result<usize, EncodeError> {
    let mut code = [0u8; 32];
    let mut w = CodeWriter::new(&mut code);
    w.arg(1).note().push(bound).bin(op);
    let n = w.finish()?;
    sgloop_rule(out, id, name, &code[..n], profile)
}

/// The unmapped address `sgloop-unverifiable.pol` reads.
pub const UNMAPPED_ADDR: u64 = 8;

/// `getpriority`'s `who` compared with the u64 at [`UNMAPPED_ADDR`] (which no process maps).
fn sgloop_unverifiable(out: &mut [u8], profile: &[u8]) -> Result<usize, EncodeError> {
    let mut code = [0u8; 32];
    let mut w = CodeWriter::new(&mut code);
    w.arg(1).push(UNMAPPED_ADDR).load(Width::W64, false).bin(BinOp::Eq);
    let n = w.finish()?;
    sgloop_rule(out, 0x5c_10_03, "getpriority.who==*(u64*)8", &code[..n], profile)
}

/// A policy with one rule for `getpriority` checked by `code`, default allow.
fn sgloop_rule(out: &mut [u8], id: u32, name: &str, code: &[u8], profile: &[u8]) -> Result<usize, EncodeError> {
    let rules = [RuleSpec { abi: Abi::X86_64, nr: NR_GETPRIORITY, site: None, action: RuleAction::Check(0) }];
    let invs = [InvariantSpec { id, name, code }];
    PolicyBuilder {
        rules: &rules,
        invariants: &invs,
        kernel_profile: Some(profile),
        ..PolicyBuilder::new(id, DefaultAction::Allow)
    }
    .encode(out)
}

fn blobs(profile: Option<&[u8]>) -> Result<Vec<Blob>, String> {
    let typical = match profile {
        Some(p) => encode(|out| examples::typical_with_profile(out, p))?,
        None => encode(examples::typical)?,
    };
    let open = encode(|out| examples::open_path_equals_with_profile(out, examples::GOOD_PATH, profile))?;
    let mut all = vec![
        Blob { name: "typical.pol", bytes: typical.clone(), expect: Expect::Valid },
        Blob { name: "open-path.pol", bytes: open, expect: Expect::Valid },
        Blob { name: "bad-checksum.pol", bytes: corrupt_checksum(&typical)?, expect: Expect::ChecksumMismatch },
        Blob { name: "bad-opcode.pol", bytes: corrupt_opcode(&typical)?, expect: Expect::BadOpcode },
    ];
    if let Some(p) = profile {
        let strict = encode(|out| sgloop_policy(out, 0x5c_10_01, "getpriority.who==0", BinOp::Eq, 0, p))?;
        let lenient = encode(|out| sgloop_policy(out, 0x5c_10_02, "getpriority.who<10000", BinOp::LtU, 10_000, p))?;
        all.push(Blob { name: "sgloop.pol", bytes: strict, expect: Expect::Valid });
        all.push(Blob { name: "sgloop-lenient.pol", bytes: lenient, expect: Expect::Valid });
        let unverifiable = encode(|out| sgloop_unverifiable(out, p))?;
        all.push(Blob { name: "sgloop-unverifiable.pol", bytes: unverifiable, expect: Expect::Valid });
        // Valid, but without the profile semguard.ko needs to find P: insmod must refuse it.
        let bare = encode(|out| examples::open_path_equals(out, examples::GOOD_PATH))?;
        all.push(Blob { name: "no-profile.pol", bytes: bare, expect: Expect::Valid });
    }
    Ok(all)
}

/// Decodes `bytes` and says whether the result is what `expect` wants, as a report line.
fn check(blob: &Blob) -> Result<String, String> {
    let mut line = format!("{} {}", blob.name, blob.bytes.len());
    let result: Result<Policy<'_>, PolicyError> = Policy::decode(&blob.bytes);
    match (&result, blob.expect) {
        (Ok(p), Expect::Valid) => {
            let _ =
                write!(line, " ok id={:#x} rules={} invariants={}", p.policy_id(), p.rule_count(), p.invariant_count());
            Ok(line)
        }
        (Err(e @ PolicyError::ChecksumMismatch { .. }), Expect::ChecksumMismatch)
        | (Err(e @ PolicyError::BadOpcode { .. }), Expect::BadOpcode) => {
            let _ = write!(line, " rejected: {e}");
            Ok(line)
        }
        (Ok(_), want) => Err(format!("{}: decodes, but should be rejected ({want:?})", blob.name)),
        (Err(e), want) => Err(format!("{}: rejected with \"{e}\", expected {want:?}", blob.name)),
    }
}

fn run(out: &Path, profile: Option<&Path>) -> Result<(), String> {
    let profile = match profile {
        Some(p) => {
            let bytes = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
            Profile::decode(&bytes).map_err(|e| format!("{}: not a guest-kernel profile: {e:?}", p.display()))?;
            Some(bytes)
        }
        None => None,
    };
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    for blob in blobs(profile.as_deref())? {
        let line = check(&blob)?;
        let path: PathBuf = out.join(blob.name);
        std::fs::write(&path, &blob.bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("{line}");
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (out, profile) = match args.as_slice() {
        [_, out] => (out, None),
        [_, out, flag, p] if flag == "--profile" => (out, Some(Path::new(p))),
        _ => {
            eprintln!("usage: semguard-mkpolicy OUT_DIR [--profile FILE]");
            return ExitCode::from(2);
        }
    };
    match run(Path::new(out), profile) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("semguard-mkpolicy: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_blob_decodes_as_expected() {
        let all = blobs(None).expect("example policies encode");
        assert_eq!(all.len(), 4);
        for b in &all {
            check(b).expect("blob decodes as its expectation says");
        }
    }

    /// A profile as `semguard profile` writes it (values of a plausible 6.12 build).
    fn profile() -> Vec<u8> {
        use semguard_core::profile::ProfileFields;
        let f = ProfileFields {
            init_task: 0xffff_ffff_8260_0940,
            task_struct_size: 9792,
            task_tasks: 2336,
            task_comm: 3048,
            task_pid: 2504,
            task_tgid: 2508,
            task_mm: 2392,
            task_real_parent: Some(2520),
            mm_struct_size: 1344,
            mm_pgd: 80,
            comm_len: 16,
        };
        let mut out = vec![0u8; 64];
        let n = Profile::new(f).expect("valid").encode(&mut out).expect("encodes");
        out.truncate(n);
        out
    }

    #[test]
    fn with_a_profile_every_valid_blob_carries_it_and_sgloop_decides_as_documented() {
        use semguard_core::checker::Checker;
        use semguard_core::eval::Verdict;
        use semguard_core::regs::Registers;
        use semguard_core::syscall::Syscall;
        let kp = profile();
        let all = blobs(Some(&kp)).expect("encodes");
        assert_eq!(all.len(), 8);
        for b in &all {
            check(b).expect("blob decodes as its expectation says");
            if b.name == "no-profile.pol" {
                assert_eq!(Policy::decode(&b.bytes).unwrap().kernel_profile(), None);
            } else if b.expect == Expect::Valid {
                assert_eq!(Policy::decode(&b.bytes).unwrap().kernel_profile(), Some(&kp[..]), "{}", b.name);
            }
        }
        let call =
            |who| Syscall { abi: Abi::X86_64, nr: NR_GETPRIORITY, args: [0, who, 0, 0, 0, 0], user_rip: 0x401000 };
        let mut mem = examples::memory();
        let regs = Registers::default();
        let mut verdict = |name: &str, who| {
            let b = all.iter().find(|b| b.name == name).expect("written");
            let c = Checker::new(Policy::decode(&b.bytes).expect("valid"));
            c.check(&mut c.new_process(), &call(who), &regs, &mut mem)
        };
        assert_eq!(verdict("sgloop.pol", 0), Verdict::Allow);
        match verdict("sgloop.pol", SGLOOP_BAD_WHO) {
            Verdict::Violation { values, .. } => assert_eq!(values.as_slice(), &[SGLOOP_BAD_WHO]),
            other => panic!("{other:?}"),
        }
        assert_eq!(verdict("sgloop-lenient.pol", SGLOOP_BAD_WHO), Verdict::Allow);
        match verdict("sgloop-unverifiable.pol", 0) {
            Verdict::Unverifiable { reason: semguard_core::eval::EvalFault::Memory { addr, .. }, .. } => {
                assert_eq!(addr, UNMAPPED_ADDR)
            }
            other => panic!("{other:?}"),
        }
        assert!(!verdict("sgloop-lenient.pol", 10_000).is_allow());
    }

    #[test]
    fn the_valid_blobs_differ() {
        let all = blobs(None).expect("example policies encode");
        let ids: Vec<u32> = all
            .iter()
            .filter(|b| b.expect == Expect::Valid)
            .map(|b| Policy::decode(&b.bytes).expect("valid").policy_id())
            .collect();
        assert_eq!(ids.len(), 2);
        assert_ne!(ids[0], ids[1], "reloading the other blob must show a different policy id");
    }

    #[test]
    fn a_wrong_expectation_is_reported() {
        let typical = encode(examples::typical).expect("encodes");
        let b = Blob { name: "x", bytes: typical, expect: Expect::ChecksumMismatch };
        assert!(check(&b).is_err());
    }
}
