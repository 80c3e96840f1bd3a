// SPDX-License-Identifier: GPL-2.0

//! The alert ring: the last [`ALERT_SLOTS`] alert records, encoded once (semguard-core
//! `alert`, the format `semguard alerts` decodes), read through /dev/semguard.

use semguard_core::alert::{AlertRecord, RECORD_SIZE};

/// Records kept; older ones are overwritten (readers see the gap in `seq`).
pub(crate) const ALERT_SLOTS: usize = 64;

/// A bounded ring of encoded records.
pub(crate) struct AlertRing {
    recs: [[u8; RECORD_SIZE]; ALERT_SLOTS],
    /// `seq` of the next record; records `next - min(next, SLOTS) .. next` are kept.
    next: u64,
}

impl AlertRing {
    /// Empty.
    pub(crate) const fn new() -> Self {
        Self { recs: [[0; RECORD_SIZE]; ALERT_SLOTS], next: 0 }
    }

    /// Stores `rec` with the next sequence number (returned).
    pub(crate) fn push(&mut self, rec: &mut AlertRecord) -> u64 {
        rec.seq = self.next;
        if let Some(slot) = self.recs.get_mut((self.next % ALERT_SLOTS as u64) as usize) {
            *slot = rec.encode();
        }
        self.next = self.next.wrapping_add(1);
        rec.seq
    }

    /// Copies the kept records with `seq >= *cursor` into `buf` (whole records only) and
    /// moves `*cursor` past them; a cursor older than the oldest kept record starts there.
    /// Returns the bytes written.
    pub(crate) fn read(&self, cursor: &mut u64, buf: &mut [u8]) -> usize {
        let oldest = self.next.saturating_sub(ALERT_SLOTS as u64);
        if *cursor < oldest || *cursor > self.next {
            *cursor = oldest;
        }
        let mut done = 0usize;
        // At most ALERT_SLOTS iterations.
        while *cursor < self.next {
            let Some(dst) = buf.get_mut(done..done + RECORD_SIZE) else { break };
            let Some(src) = self.recs.get((*cursor % ALERT_SLOTS as u64) as usize) else { break };
            dst.copy_from_slice(src);
            done += RECORD_SIZE;
            *cursor += 1;
        }
        done
    }
}
