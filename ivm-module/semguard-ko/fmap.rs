// SPDX-License-Identifier: GPL-2.0

//! Guest frames for the Introspection Library: a [`FrameReader`] over a small pool of
//! foreign-mapping slots ([`FramePool`]), cached by machine frame number.
//!
//! Keeping a frame mapped across events is safe because nothing but the frame's identity is
//! cached: every event starts a new translation epoch (`TranslationCache::new_epoch`), so every
//! address is translated again through the guest's current page tables, and a mapping only
//! says "this slot shows frame M" — the bytes are read fresh each time. While a frame is mapped
//! Xen holds a reference to it, so it cannot become another domain's memory.
//!
//! # TLB flushes
//!
//! Reusing a slot for another frame must not leave a stale translation of the slot's address
//! on any CPU that could read through it later. Each slot remembers which dom0 CPUs may hold
//! its translation: the CPUs that read through it since the last flush on every CPU (all of
//! them, at first: the ballooned page's history is not known). A remap from the only such CPU
//! (or when there is none) flushes only that CPU (`UVMF_LOCAL`); otherwise every dom0 vCPU
//! (`UVMF_ALL`, an IPI in Xen). A CPU that never read through the slot since the last full
//! flush cannot hold a translation, and one that reads later walks the new PTE — the same
//! assumption Linux makes for its per-CPU `kmap_local` slots. All of it runs under the monitor
//! lock with interrupts off, so the current CPU does not change during a read or a remap. The
//! event-channel IRQ stays on one CPU (CPU 0, IRQF_NOBALANCING), so the event path's remaps are
//! local; the poll and attach, which may run elsewhere, make the slots they touch need a full
//! flush again.

use semguard_core::addr::{Frame, Machine, PAGE_SIZE};
use semguard_core::mem::{FrameError, FrameReader};

use crate::counters::{Stage, PROFILE};
use crate::xen::{self, FramePool};

/// Slots in the pool: enough for the walks (4 table frames per address) and the data of a
/// typical invariant, with room to keep the kernel's upper tables mapped.
pub(crate) const SLOTS: usize = 64;

#[derive(Clone, Copy)]
struct Slot {
    /// The frame mapped here, if any.
    mfn: Option<u64>,
    /// dom0 CPUs that may hold this slot's translation (bit n: CPU n; CPUs ≥ 64 set every bit).
    cpus: u64,
}

/// A slot whose history is unknown: every CPU may hold a translation.
const FRESH: Slot = Slot { mfn: None, cpus: u64::MAX };

/// The bit of CPU `cpu` in [`Slot::cpus`] (every bit for CPUs the mask cannot name).
fn cpu_bit(cpu: u32) -> u64 {
    if cpu < 64 {
        1u64 << cpu
    } else {
        u64::MAX
    }
}

/// The pool and which frame each slot shows. A slot is read only while `mfn` is `Some`: that
/// is the invariant that makes [`FramePool::read`] safe here.
pub(crate) struct ForeignFrames {
    domid: u16,
    slots: [Slot; SLOTS],
    /// Next slot to reuse (round robin).
    hand: usize,
    /// The pages (none before attach and after detach).
    pool: Option<FramePool>,
    /// Mappings made (misses), for the state line.
    pub(crate) maps: u64,
    /// Failed mappings (frames that are not the guest's).
    pub(crate) map_errors: u64,
    /// Remaps that flushed every dom0 vCPU (the rest flushed only the current CPU).
    pub(crate) global_flushes: u64,
    /// Time spent in frame reads (hits and misses), ns, so that the stages around them can
    /// leave it out.
    pub(crate) read_ns: u64,
}

impl ForeignFrames {
    /// An empty pool (not allocated yet).
    pub(crate) const fn new() -> Self {
        Self {
            domid: 0,
            slots: [FRESH; SLOTS],
            hand: 0,
            pool: None,
            maps: 0,
            map_errors: 0,
            global_flushes: 0,
            read_ns: 0,
        }
    }

    /// Takes `pool` (fresh, nothing mapped) for reading `domid`'s frames.
    pub(crate) fn attach(&mut self, pool: FramePool, domid: u16) {
        self.domid = domid;
        self.slots = [FRESH; SLOTS];
        self.hand = 0;
        self.pool = Some(pool);
    }

    /// Unmaps every slot and hands the pool back to be dropped outside the lock (returning
    /// its pages may sleep). A pool with a slot that could not be unmapped is leaked instead
    /// (the balloon expects an empty PTE back): `Err(failed unmaps)`.
    pub(crate) fn detach(&mut self) -> Result<Option<FramePool>, usize> {
        let Some(pool) = self.pool.take() else { return Ok(None) };
        let mut failed = 0;
        for (i, s) in self.slots.iter_mut().enumerate() {
            if s.mfn.take().is_some() && pool.unmap(i as u32).is_err() {
                failed += 1;
            }
            s.cpus = u64::MAX;
        }
        if failed == 0 {
            Ok(Some(pool))
        } else {
            pool.leak();
            Err(failed)
        }
    }

    /// The slot already showing `mfn`, if any (noting that this CPU reads through it now;
    /// the lock keeps the reader on this CPU).
    fn cached(&mut self, mfn: u64) -> Option<usize> {
        self.pool.as_ref()?;
        let i = self.slots.iter().position(|s| s.mfn == Some(mfn))?;
        let s = self.slots.get_mut(i)?;
        s.cpus |= cpu_bit(xen::this_cpu());
        Some(i)
    }

    /// Maps `mfn` into the next slot (round robin).
    fn map(&mut self, mfn: u64) -> Result<usize, FrameError> {
        let Some(pool) = self.pool.as_ref() else { return Err(FrameError::NotMapped { frame: mfn }) };
        let i = self.hand % SLOTS;
        self.hand = (i + 1) % SLOTS;
        let me = cpu_bit(xen::this_cpu());
        let all = self.slots.get(i).map_or(true, |s| s.cpus & !me != 0);
        // Replacing a present mapping is one hypercall; on failure the slot shows nothing.
        self.maps = self.maps.wrapping_add(1);
        if all {
            self.global_flushes = self.global_flushes.wrapping_add(1);
        }
        match pool.map(i as u32, mfn, self.domid, all) {
            Ok(()) => {
                if let Some(s) = self.slots.get_mut(i) {
                    s.mfn = Some(mfn);
                    // Flushed where needed: only this CPU, which reads next, may cache it now.
                    s.cpus = me;
                }
                Ok(i)
            }
            Err(_) => {
                self.map_errors = self.map_errors.wrapping_add(1);
                if let Some(s) = self.slots.get_mut(i) {
                    // The old mapping may still be there: remove it so the slot is clean
                    // (flushed everywhere; if that fails too, keep assuming any CPU holds it).
                    if s.mfn.take().is_some() && pool.unmap(i as u32).is_ok() {
                        s.cpus = 0;
                    }
                }
                Err(FrameError::NotMapped { frame: mfn })
            }
        }
    }

    /// Copies from slot `slot`, which shows a frame (`cached` or `map` just returned it).
    fn read_slot(&self, slot: usize, offset: usize, buf: &mut [u8]) -> Result<(), FrameError> {
        let shown = self.slots.get(slot).and_then(|s| s.mfn);
        let (Some(pool), Some(frame)) = (self.pool.as_ref(), shown) else { return Err(FrameError::OutOfBounds) };
        // SAFETY: the slot shows `frame` (`mfn` is `Some` only after a successful map and is
        // cleared before any unmap: the struct's invariant).
        unsafe { pool.read(slot as u32, offset, buf) }.map_err(|_| FrameError::NotMapped { frame })
    }
}

impl FrameReader<Machine> for ForeignFrames {
    fn read_frame(&mut self, frame: Frame<Machine>, offset: usize, buf: &mut [u8]) -> Result<(), FrameError> {
        let end = offset.checked_add(buf.len()).ok_or(FrameError::OutOfBounds)?;
        if end > PAGE_SIZE as usize {
            return Err(FrameError::OutOfBounds);
        }
        if let Some(slot) = self.cached(frame.raw()) {
            // Not timed (two clock readings would cost more than the read): a hit's time
            // stays in the stage it happens in.
            PROFILE.count(Stage::FrameHit);
            return self.read_slot(slot, offset, buf);
        }
        let t0 = xen::now_ns();
        let r = self.map(frame.raw()).and_then(|slot| self.read_slot(slot, offset, buf));
        let d = xen::now_ns().wrapping_sub(t0);
        self.read_ns = self.read_ns.wrapping_add(d);
        PROFILE.add(Stage::FrameMiss, d);
        r
    }
}
