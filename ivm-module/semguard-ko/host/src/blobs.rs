//! Deliberately broken policy blobs: one the container check rejects, one only the bytecode
//! verifier rejects (its checksum is repaired, so every check before the verifier passes).

use semguard_core::crc::crc32;
use semguard_core::policy::format::CRC_OFFSET;
use semguard_core::policy::Policy;

/// What decoding a blob must give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Decodes.
    Valid,
    /// `PolicyError::ChecksumMismatch`.
    ChecksumMismatch,
    /// `PolicyError::BadOpcode`.
    BadOpcode,
}

/// A byte no opcode uses.
const NOT_AN_OPCODE: u8 = 0xFF;

/// `blob` with its last byte flipped and the stored CRC left as it was.
pub fn corrupt_checksum(blob: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = blob.to_vec();
    let last = out.last_mut().ok_or("empty blob")?;
    *last ^= 0xFF;
    Ok(out)
}

/// `blob` with the first opcode of invariant 0 replaced by a byte that is no opcode, and the
/// CRC recomputed over the result.
pub fn corrupt_opcode(blob: &[u8]) -> Result<Vec<u8>, String> {
    let policy = Policy::decode(blob).map_err(|e| format!("the source blob is invalid: {e}"))?;
    let code = policy.invariant(0).ok_or("the source blob has no invariant 0")?.code();
    // `code` borrows from `blob`: its distance from the start is the opcode's offset.
    let at = (code.as_ptr() as usize)
        .checked_sub(blob.as_ptr() as usize)
        .filter(|&at| at < blob.len())
        .ok_or("invariant code outside the blob")?;
    let mut out = blob.to_vec();
    *out.get_mut(at).ok_or("invariant code outside the blob")? = NOT_AN_OPCODE;
    set_crc(&mut out)?;
    Ok(out)
}

/// Stores the CRC-32 of `blob` (computed with the CRC field as zero) in the header.
fn set_crc(blob: &mut [u8]) -> Result<(), String> {
    let range = CRC_OFFSET..CRC_OFFSET + 4;
    blob.get_mut(range.clone()).ok_or("blob shorter than its header")?.fill(0);
    let crc = crc32(blob);
    blob.get_mut(range).ok_or("blob shorter than its header")?.copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use semguard_core::policy::{examples, PolicyError};

    fn typical() -> Vec<u8> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = examples::typical(&mut buf).expect("encodes");
        buf.truncate(n);
        buf
    }

    #[test]
    fn set_crc_reproduces_the_encoders_checksum() {
        let good = typical();
        let mut again = good.clone();
        again[CRC_OFFSET] ^= 0x5a;
        set_crc(&mut again).expect("has a header");
        assert_eq!(again, good);
    }

    #[test]
    fn corrupted_checksum_is_reported_as_such() {
        let bad = corrupt_checksum(&typical()).expect("non-empty");
        assert!(matches!(Policy::decode(&bad), Err(PolicyError::ChecksumMismatch { .. })));
    }

    #[test]
    fn corrupted_opcode_reaches_the_verifier() {
        let bad = corrupt_opcode(&typical()).expect("has invariant 0");
        match Policy::decode(&bad) {
            Err(PolicyError::BadOpcode { invariant: 0, at: 0, opcode: NOT_AN_OPCODE }) => {}
            other => panic!("unexpected: {other:?}"),
        }
    }
}
