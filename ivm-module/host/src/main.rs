//! semguard-mkpolicy: writes the policy blobs the module scenarios load into dom0's
//! /lib/firmware — valid example policies and deliberately broken ones — and checks each with
//! the same decoder the kernel module runs, so a blob can never silently mean something else.
//!
//!     semguard-mkpolicy OUT_DIR
//!
//! Prints one line per file: `NAME BYTES ok id=0x…` or `NAME BYTES rejected: <PolicyError>`.
//! Until the static tool compiles real policies, the valid blobs come from
//! `semguard_core::policy::examples`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use semguard_core::policy::{examples, EncodeError, Policy, PolicyError};

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

fn blobs() -> Result<Vec<Blob>, String> {
    let typical = encode(examples::typical)?;
    let open = encode(|out| examples::open_path_equals(out, examples::GOOD_PATH))?;
    Ok(vec![
        Blob { name: "typical.pol", bytes: typical.clone(), expect: Expect::Valid },
        Blob { name: "open-path.pol", bytes: open, expect: Expect::Valid },
        Blob { name: "bad-checksum.pol", bytes: corrupt_checksum(&typical)?, expect: Expect::ChecksumMismatch },
        Blob { name: "bad-opcode.pol", bytes: corrupt_opcode(&typical)?, expect: Expect::BadOpcode },
    ])
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

fn run(out: &Path) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    for blob in blobs()? {
        let line = check(&blob)?;
        let path: PathBuf = out.join(blob.name);
        std::fs::write(&path, &blob.bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("{line}");
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, out] = args.as_slice() else {
        eprintln!("usage: semguard-mkpolicy OUT_DIR");
        return ExitCode::from(2);
    };
    match run(Path::new(out)) {
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
        let all = blobs().expect("example policies encode");
        assert_eq!(all.len(), 4);
        for b in &all {
            check(b).expect("blob decodes as its expectation says");
        }
    }

    #[test]
    fn the_valid_blobs_differ() {
        let all = blobs().expect("example policies encode");
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
