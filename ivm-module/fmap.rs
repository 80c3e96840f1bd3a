// SPDX-License-Identifier: GPL-2.0

//! Guest frames for the Introspection Library: a [`FrameReader`] over a small pool of
//! foreign-mapping slots (xen.c), cached by machine frame number.
//!
//! Keeping a frame mapped across events is safe because nothing but the frame's identity is
//! cached: every event starts a new translation epoch (`TranslationCache::new_epoch`), so every
//! address is translated again through the guest's current page tables, and a mapping only
//! says "this slot shows frame M" — the bytes are read fresh each time. While a frame is mapped
//! Xen holds a reference to it, so it cannot become another domain's memory.

use semguard_core::addr::{Frame, Machine, PAGE_SIZE};
use semguard_core::mem::{FrameError, FrameReader};

use crate::counters::{Stage, PROFILE};
use crate::xen;

/// Slots in the pool: enough for the walks (4 table frames per address) and the data of a
/// typical invariant, with room to keep the kernel's upper tables mapped.
pub(crate) const SLOTS: usize = 64;

#[derive(Clone, Copy)]
struct Slot {
    /// The frame mapped here, if any.
    mfn: Option<u64>,
}

/// The pool's bookkeeping (the pages themselves are xen.c's).
pub(crate) struct ForeignFrames {
    domid: u16,
    slots: [Slot; SLOTS],
    /// Next slot to reuse (round robin).
    hand: usize,
    /// Whether xen.c's pool exists.
    ready: bool,
    /// Mappings made (misses), for the state line.
    pub(crate) maps: u64,
    /// Failed mappings (frames that are not the guest's).
    pub(crate) map_errors: u64,
    /// Time spent in frame reads (hits and misses), ns, so that the stages around them can
    /// leave it out.
    pub(crate) read_ns: u64,
}

impl ForeignFrames {
    /// An empty pool (not allocated yet).
    pub(crate) const fn new() -> Self {
        Self { domid: 0, slots: [Slot { mfn: None }; SLOTS], hand: 0, ready: false, maps: 0, map_errors: 0, read_ns: 0 }
    }

    /// Marks the pool allocated for `domid` (after `xen::fmap_init` succeeded).
    pub(crate) fn set_ready(&mut self, domid: u16) {
        self.domid = domid;
        self.ready = true;
        self.slots = [Slot { mfn: None }; SLOTS];
        self.hand = 0;
    }

    /// Unmaps every slot; the pool can then be returned. Returns how many unmaps failed.
    pub(crate) fn unmap_all(&mut self) -> usize {
        let mut failed = 0;
        for (i, s) in self.slots.iter_mut().enumerate() {
            if s.mfn.take().is_some() && xen::fmap_unmap(i as u32).is_err() {
                failed += 1;
            }
        }
        self.ready = false;
        failed
    }

    /// The slot showing `mfn`, mapping it into the next slot if none does.
    fn slot_for(&mut self, mfn: u64) -> Result<usize, FrameError> {
        if !self.ready {
            return Err(FrameError::NotMapped { frame: mfn });
        }
        if let Some(i) = self.slots.iter().position(|s| s.mfn == Some(mfn)) {
            return Ok(i);
        }
        let i = self.hand % SLOTS;
        self.hand = (i + 1) % SLOTS;
        // Replacing a present mapping is one hypercall; on failure the slot shows nothing.
        self.maps = self.maps.wrapping_add(1);
        match xen::fmap_map(i as u32, mfn, self.domid) {
            Ok(()) => {
                if let Some(s) = self.slots.get_mut(i) {
                    s.mfn = Some(mfn);
                }
                Ok(i)
            }
            Err(_) => {
                self.map_errors = self.map_errors.wrapping_add(1);
                if let Some(s) = self.slots.get_mut(i) {
                    if s.mfn.take().is_some() {
                        // The old mapping may still be there: remove it so the slot is clean.
                        let _ = xen::fmap_unmap(i as u32);
                    }
                }
                Err(FrameError::NotMapped { frame: mfn })
            }
        }
    }
}

impl FrameReader<Machine> for ForeignFrames {
    fn read_frame(&mut self, frame: Frame<Machine>, offset: usize, buf: &mut [u8]) -> Result<(), FrameError> {
        let end = offset.checked_add(buf.len()).ok_or(FrameError::OutOfBounds)?;
        if end > PAGE_SIZE as usize {
            return Err(FrameError::OutOfBounds);
        }
        let t0 = xen::now_ns();
        let maps = self.maps;
        let slot = self.slot_for(frame.raw());
        if let Ok(slot) = slot {
            xen::fmap_read(slot as u32, offset, buf);
        }
        let d = xen::now_ns().wrapping_sub(t0);
        self.read_ns = self.read_ns.wrapping_add(d);
        PROFILE.add(if self.maps == maps { Stage::FrameHit } else { Stage::FrameMiss }, d);
        slot.map(|_| ())
    }
}
