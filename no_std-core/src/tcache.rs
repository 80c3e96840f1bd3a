//! Translation cache (Introspection Library): a small software TLB in front of the
//! page-table walker.
//!
//! Fixed size, no allocation: a direct-mapped array of `N` entries keyed by (root frame, paging
//! configuration, virtual page number, page size). A lookup probes at most three slots (one per
//! page size), so a hit costs no guest memory read at all; a miss costs one [`walk`].
//!
//! # When callers must invalidate
//!
//! The cache knows nothing about the guest: a cached translation is a copy of page-table
//! entries as they were when it was made, and the guest rewrites its page tables whenever any
//! of its vCPUs runs (mmap/munmap/brk, fork's copy-on-write, page reclaim, execve's new mm, the
//! kernel's own direct-map and vmalloc changes). Therefore:
//!
//! - **Call [`TranslationCache::new_epoch`] at the start of every event** (every trapped
//!   system call, every on-demand inspection). It is O(1) and drops every entry. A cached
//!   translation is reused only *within one paused event*.
//! - Reusing entries across events is correct only if something proves the tables unchanged
//!   between them (e.g. all their frames write-protected by the hypervisor with no write seen);
//!   semguard has no such proof today, so it does not do that.
//! - Call [`TranslationCache::invalidate_root`] when one address space goes away or is
//!   replaced (P exits or execs; its old pgd frame may be reused for other tables) if the
//!   cache is kept across that point, e.g. while inspecting several address spaces in one
//!   event. It is O(N).
//! - Within one event only the trapping vCPU is paused. Another vCPU of the guest may change
//!   the tables meanwhile; an uncached walk races with that just the same, so the cache adds no
//!   new window beyond the event itself, but it does not close that window either.
//!
//! Failed walks are not cached: an error is always re-checked against the tables.

use crate::addr::{Frame, FrameKind, GuestVirtAddr};
use crate::mem::FrameReader;
use crate::walker::{walk, Access, PageSize, PagingConfig, Translation, WalkError};

/// Hit/miss counters of a [`TranslationCache`] (wrapping).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that found nothing (each followed by a walk in [`TranslationCache::translate`]).
    pub misses: u64,
}

#[derive(Clone, Copy)]
struct Entry<K: FrameKind> {
    epoch: u64,
    root: Frame<K>,
    cfg: PagingConfig,
    /// `va >> page_size.shift()`: the virtual page number at this size.
    vpn: u64,
    page_size: PageSize,
    page_frame: Frame<K>,
    access: Access,
}

/// Sizes probed by a lookup, most common first.
const SIZES: [PageSize; 3] = [PageSize::Size4K, PageSize::Size2M, PageSize::Size1G];

/// A direct-mapped translation cache of `N` entries (`N ≥ 1`; 64 by default: 3.5 KiB).
pub struct TranslationCache<K: FrameKind, const N: usize = 64> {
    entries: [Option<Entry<K>>; N],
    /// Current epoch; entries from other epochs are dead. Never 0 (0 marks "never valid").
    epoch: u64,
    stats: CacheStats,
}

impl<K: FrameKind, const N: usize> Default for TranslationCache<K, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: FrameKind, const N: usize> TranslationCache<K, N> {
    /// An empty cache.
    pub const fn new() -> Self {
        // Compile-time check: a zero-sized cache would make the slot computation divide by 0.
        const { assert!(N > 0, "TranslationCache needs at least one entry") };
        Self { entries: [None; N], epoch: 1, stats: CacheStats { hits: 0, misses: 0 } }
    }

    /// Starts a new epoch: every cached translation becomes unusable, in O(1). Call at every
    /// event (see the module documentation).
    pub fn new_epoch(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            // After 2^64 epochs old entries could look current again: clear them for real.
            self.entries = [None; N];
            self.epoch = 1;
        }
    }

    /// Current epoch number (changes on every [`Self::new_epoch`]).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Drops every entry made for address space `root`, in O(N).
    pub fn invalidate_root(&mut self, root: Frame<K>) {
        for slot in self.entries.iter_mut() {
            if matches!(slot, Some(e) if e.root == root) {
                *slot = None;
            }
        }
    }

    /// Hit/miss counters.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Number of entries usable in the current epoch.
    pub fn live_entries(&self) -> usize {
        self.entries.iter().filter(|s| matches!(s, Some(e) if e.epoch == self.epoch)).count()
    }

    fn slot(root: Frame<K>, vpn: u64, size: PageSize) -> usize {
        // Multiplicative hash so that neighbouring pages and different roots spread out.
        let h = vpn.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ root.raw().wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
            ^ size.shift() as u64;
        ((h >> 32) % N as u64) as usize
    }

    /// The cached translation of `va` in address space (`root`, `cfg`), if one was stored in
    /// the current epoch. Counts a hit or a miss.
    pub fn lookup(&mut self, root: Frame<K>, cfg: &PagingConfig, va: GuestVirtAddr) -> Option<Translation<K>> {
        for size in SIZES {
            let vpn = va.0 >> size.shift();
            if let Some(Some(e)) = self.entries.get(Self::slot(root, vpn, size)) {
                if e.epoch == self.epoch && e.vpn == vpn && e.page_size == size && e.root == root && e.cfg == *cfg {
                    self.stats.hits = self.stats.hits.wrapping_add(1);
                    return Some(Translation {
                        page_frame: e.page_frame,
                        page_size: size,
                        page_offset: va.0 & (size.bytes() - 1),
                        access: e.access,
                    });
                }
            }
        }
        self.stats.misses = self.stats.misses.wrapping_add(1);
        None
    }

    /// Stores `t`, the translation of `va` in (`root`, `cfg`), for the current epoch. The
    /// whole page `t` lies in is covered, whatever its size.
    pub fn insert(&mut self, root: Frame<K>, cfg: &PagingConfig, va: GuestVirtAddr, t: &Translation<K>) {
        let size = t.page_size;
        let vpn = va.0 >> size.shift();
        let entry = Entry {
            epoch: self.epoch,
            root,
            cfg: *cfg,
            vpn,
            page_size: size,
            page_frame: t.page_frame,
            access: t.access,
        };
        if let Some(slot) = self.entries.get_mut(Self::slot(root, vpn, size)) {
            *slot = Some(entry);
        }
    }

    /// Translates `va` from the cache, or walks the tables and caches the result.
    pub fn translate<R: FrameReader<K> + ?Sized>(
        &mut self,
        reader: &mut R,
        root: Frame<K>,
        cfg: &PagingConfig,
        va: GuestVirtAddr,
    ) -> Result<Translation<K>, WalkError> {
        if let Some(t) = self.lookup(root, cfg, va) {
            return Ok(t);
        }
        let t = walk(reader, root, cfg, va)?;
        self.insert(root, cfg, va, &t);
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{Machine, Mfn};
    use crate::walker::testing::{FrameArena, FrameSlot, PageTableBuilder};
    use crate::walker::{pte, PagingMode};
    use std::vec;

    const FLAGS: u64 = pte::P | pte::RW | pte::US;

    fn cfg() -> PagingConfig {
        PagingConfig::new(PagingMode::Level4, 46).unwrap()
    }

    #[test]
    fn hit_costs_no_read_and_equals_walk() {
        let mut s = vec![FrameSlot::EMPTY; 8];
        let mut b = PageTableBuilder::<Machine>::new(FrameArena::new(&mut s, 0x10), PagingMode::Level4).unwrap();
        b.map(0x40_0000, PageSize::Size4K, Mfn::new(0x99), FLAGS).unwrap();
        b.map(0x60_0000, PageSize::Size2M, Mfn::new(0x800), FLAGS).unwrap();
        let root = b.root();
        let mut c = TranslationCache::<Machine, 16>::new();
        let a = b.arena_mut();
        for va in [0x40_0123u64, 0x60_0000, 0x7f_ffff, 0x61_2345] {
            let va = GuestVirtAddr(va);
            let first = c.translate(a, root, &cfg(), va).unwrap();
            a.reset_reads();
            let again = c.translate(a, root, &cfg(), va).unwrap();
            assert_eq!(a.reads(), 0, "second translation of {va:?} must come from the cache");
            assert_eq!(again, first);
            assert_eq!(again, walk(a, root, &cfg(), va).unwrap());
        }
        // The 2 MiB entry serves every address in its page: 0x7f_ffff and 0x61_2345 hit on the
        // first try after 0x60_0000 missed.
        assert_eq!(c.stats(), CacheStats { hits: 6, misses: 2 });
        assert_eq!(c.live_entries(), 2);
    }

    #[test]
    fn stale_entry_is_not_used_after_new_epoch() {
        let mut s = vec![FrameSlot::EMPTY; 8];
        let mut b = PageTableBuilder::<Machine>::new(FrameArena::new(&mut s, 0x10), PagingMode::Level4).unwrap();
        let va = 0x40_0000u64;
        b.map(va, PageSize::Size4K, Mfn::new(0x99), FLAGS).unwrap();
        let root = b.root();
        let mut c = TranslationCache::<Machine>::new();
        let gva = GuestVirtAddr(va);
        assert_eq!(c.translate(b.arena_mut(), root, &cfg(), gva).unwrap().frame(), Mfn::new(0x99));
        // The guest remaps the page (its vCPU ran between two events).
        b.map(va, PageSize::Size4K, Mfn::new(0x55), FLAGS).unwrap();
        // Same epoch: the cache still answers with the old frame (why epochs are needed).
        assert_eq!(c.translate(b.arena_mut(), root, &cfg(), gva).unwrap().frame(), Mfn::new(0x99));
        c.new_epoch();
        assert_eq!(c.live_entries(), 0);
        assert_eq!(c.translate(b.arena_mut(), root, &cfg(), gva).unwrap().frame(), Mfn::new(0x55));
        // Unmapped in the guest: after a new epoch the error is seen, not the old mapping.
        let (pt, idx) = b.entry_location(va, 1).unwrap();
        b.set_entry(pt, idx, 0).unwrap();
        c.new_epoch();
        assert!(c.translate(b.arena_mut(), root, &cfg(), gva).is_err());
    }

    #[test]
    fn invalidate_root_drops_only_that_root() {
        let mut s = vec![FrameSlot::EMPTY; 16];
        let mut b = PageTableBuilder::<Machine>::new(FrameArena::new(&mut s, 0x10), PagingMode::Level4).unwrap();
        b.map(0x1000, PageSize::Size4K, Mfn::new(0x99), FLAGS).unwrap();
        let root1 = b.root();
        let mut b2 = PageTableBuilder::new(b.into_arena(), PagingMode::Level4).unwrap();
        b2.map(0x1000, PageSize::Size4K, Mfn::new(0x77), FLAGS).unwrap();
        let root2 = b2.root();
        let a = b2.arena_mut();
        let mut c = TranslationCache::<Machine>::new();
        let va = GuestVirtAddr(0x1000);
        // Same VA in two address spaces: distinct entries.
        assert_eq!(c.translate(a, root1, &cfg(), va).unwrap().frame(), Mfn::new(0x99));
        assert_eq!(c.translate(a, root2, &cfg(), va).unwrap().frame(), Mfn::new(0x77));
        assert_eq!(c.live_entries(), 2);
        c.invalidate_root(root1);
        assert_eq!(c.lookup(root1, &cfg(), va), None);
        assert_eq!(c.lookup(root2, &cfg(), va).unwrap().frame(), Mfn::new(0x77));
    }

    #[test]
    fn key_includes_paging_config() {
        let mut c = TranslationCache::<Machine, 4>::new();
        let t = Translation {
            page_frame: Mfn::new(7),
            page_size: PageSize::Size4K,
            page_offset: 0,
            access: Access { writable: true, user: true, nx: false },
        };
        let root = Mfn::new(1);
        let va = GuestVirtAddr(0x5000);
        c.insert(root, &cfg(), va, &t);
        assert!(c.lookup(root, &cfg(), va).is_some());
        assert!(c.lookup(root, &cfg().with_nx(false), va).is_none());
        let c5 = PagingConfig::new(PagingMode::Level5, 46).unwrap();
        assert!(c.lookup(root, &c5, va).is_none());
        assert!(c.lookup(root, &cfg(), GuestVirtAddr(0x6000)).is_none());
    }

    #[test]
    fn epoch_wrap_clears_entries() {
        let mut c = TranslationCache::<Machine, 2>::new();
        let t = Translation {
            page_frame: Mfn::new(7),
            page_size: PageSize::Size1G,
            page_offset: 0,
            access: Access { writable: false, user: false, nx: true },
        };
        let va = GuestVirtAddr(0xffff_8880_0000_0000);
        c.epoch = u64::MAX;
        c.insert(Mfn::new(1), &cfg(), va, &t);
        assert!(c.lookup(Mfn::new(1), &cfg(), GuestVirtAddr(va.0 + 0x3fff_ffff)).is_some());
        c.new_epoch();
        assert_eq!(c.epoch(), 1);
        assert_eq!(c.live_entries(), 0);
        assert!(c.entries.iter().all(|e| e.is_none()));
    }

    #[test]
    fn default_cache_stays_small() {
        // Kept per monitored domain inside semguard.ko.
        let size = core::mem::size_of::<TranslationCache<Machine>>();
        assert!(size <= 5 * 1024, "{size} bytes");
    }

    #[test]
    fn single_entry_cache_evicts() {
        let mut c = TranslationCache::<Machine, 1>::new();
        let t = |f| Translation {
            page_frame: Mfn::new(f),
            page_size: PageSize::Size4K,
            page_offset: 0,
            access: Access { writable: true, user: true, nx: false },
        };
        c.insert(Mfn::new(1), &cfg(), GuestVirtAddr(0x1000), &t(5));
        c.insert(Mfn::new(1), &cfg(), GuestVirtAddr(0x2000), &t(6));
        assert!(c.lookup(Mfn::new(1), &cfg(), GuestVirtAddr(0x1000)).is_none());
        assert_eq!(c.lookup(Mfn::new(1), &cfg(), GuestVirtAddr(0x2abc)).unwrap().frame_offset(), 0xabc);
    }
}
