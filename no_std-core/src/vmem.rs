//! Guest virtual memory over the page-table walker (Introspection Library).
//!
//! [`GuestMemory`] is one address space of the monitored guest — a root table frame and a
//! [`PagingConfig`] — read through a caller's [`FrameReader`], translated by
//! [`crate::walker::walk`] and, optionally, a [`TranslationCache`]. It implements
//! [`VirtMemory`], so every bounded read helper (integers, pointers, C strings, arrays) works on
//! it, page by page: a read may cross 4 KiB, 2 MiB and 1 GiB page boundaries and each piece is
//! translated on its own.
//!
//! One `GuestMemory` serves both P's user addresses and guest-kernel addresses: a PV guest's
//! kernel is mapped in every process's page tables (`v->arch.guest_table` is the kernel pgd,
//! which also holds the user half), so the root taken from P's trap reads both.
//!
//! With a cache, the caller owns the [`TranslationCache`] and must start a new epoch at every
//! event (see [`crate::tcache`]); `GuestMemory` itself keeps no state between calls.

use crate::addr::{Frame, FrameKind, GuestVirtAddr, PAGE_SIZE};
use crate::mem::{FrameReader, MemError, VirtMemory};
use crate::tcache::TranslationCache;
use crate::walker::{walk, PagingConfig, Translation, WalkError, WalkErrorKind};

/// Guest memory that can also tell where a virtual address lives (for the process finder,
/// which needs the frame of a kernel pgd, and for tests with mock memories).
pub trait VirtTranslate<K: FrameKind>: VirtMemory {
    /// Translates `va` in this address space.
    fn translate(&mut self, va: GuestVirtAddr) -> Result<Translation<K>, WalkError>;
}

/// One address space of the monitored guest, readable at virtual addresses.
///
/// Borrows the frame reader and (optionally) the translation cache, so it is cheap to create
/// per event or per address space.
pub struct GuestMemory<'a, K: FrameKind, R: FrameReader<K> + ?Sized, const N: usize = 64> {
    reader: &'a mut R,
    cache: Option<&'a mut TranslationCache<K, N>>,
    root: Frame<K>,
    cfg: PagingConfig,
}

impl<'a, K: FrameKind, R: FrameReader<K> + ?Sized> GuestMemory<'a, K, R> {
    /// Address space `root` without a cache: every page of every read is walked.
    pub fn uncached(reader: &'a mut R, root: Frame<K>, cfg: PagingConfig) -> Self {
        Self { reader, cache: None, root, cfg }
    }
}

impl<'a, K: FrameKind, R: FrameReader<K> + ?Sized, const N: usize> GuestMemory<'a, K, R, N> {
    /// Address space `root` with translations cached in `cache` (which may be shared with
    /// other address spaces: entries are keyed by root).
    pub fn new(reader: &'a mut R, cache: &'a mut TranslationCache<K, N>, root: Frame<K>, cfg: PagingConfig) -> Self {
        Self { reader, cache: Some(cache), root, cfg }
    }

    /// The root table frame.
    pub fn root(&self) -> Frame<K> {
        self.root
    }
    /// Reads another address space from now on (cached translations are keyed by root, so
    /// none of this one's are reused for it).
    pub fn set_root(&mut self, root: Frame<K>) {
        self.root = root;
    }
    /// The paging configuration.
    pub fn config(&self) -> &PagingConfig {
        &self.cfg
    }
    /// The underlying frame reader.
    pub fn reader_mut(&mut self) -> &mut R {
        self.reader
    }

    /// Translates `va` (through the cache if there is one).
    pub fn translate(&mut self, va: GuestVirtAddr) -> Result<Translation<K>, WalkError> {
        match self.cache.as_deref_mut() {
            Some(c) => c.translate(self.reader, self.root, &self.cfg, va),
            None => walk(self.reader, self.root, &self.cfg, va),
        }
    }
}

impl<K: FrameKind, R: FrameReader<K> + ?Sized, const N: usize> VirtMemory for GuestMemory<'_, K, R, N> {
    /// Reads frame by frame. A failing translation is reported with the address of the first
    /// byte that could not be translated; a data frame that cannot be read is reported as a
    /// [`WalkError`] at level 0 with that frame's error.
    fn read_bytes(&mut self, va: GuestVirtAddr, buf: &mut [u8]) -> Result<(), MemError> {
        if buf.is_empty() {
            return Ok(());
        }
        // The last byte must exist; then no `va + done` below can overflow.
        va.checked_add(buf.len() as u64 - 1).ok_or(MemError::Overflow)?;
        // The previous piece's translation, reused while we stay inside its (huge) page.
        let mut last: Option<(GuestVirtAddr, Translation<K>)> = None;
        let mut done = 0usize;
        // Each iteration reads at least one byte.
        while done < buf.len() {
            let at = GuestVirtAddr(va.0 + done as u64);
            let t = match last.and_then(|(base, t)| t.rebase(base, at)) {
                Some(t) => t,
                None => self.translate(at).map_err(|error| MemError::Walk { va: at, error })?,
            };
            let off = t.frame_offset();
            let n = core::cmp::min(buf.len() - done, PAGE_SIZE as usize - off);
            // In bounds: done < len, n ≤ len - done.
            self.reader
                .read_frame(t.frame(), off, &mut buf[done..done + n])
                .map_err(|e| MemError::Walk { va: at, error: WalkError { level: 0, kind: WalkErrorKind::Frame(e) } })?;
            last = Some((at, t));
            done += n;
        }
        Ok(())
    }
}

impl<K: FrameKind, R: FrameReader<K> + ?Sized, const N: usize> VirtTranslate<K> for GuestMemory<'_, K, R, N> {
    fn translate(&mut self, va: GuestVirtAddr) -> Result<Translation<K>, WalkError> {
        GuestMemory::translate(self, va)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{Machine, Mfn};
    use crate::mem::FrameError;
    use crate::walker::testing::{FrameArena, FrameSlot, PageTableBuilder};
    use crate::walker::{pte, PageSize, PagingMode};
    use std::vec;
    use std::vec::Vec;

    const FLAGS: u64 = pte::P | pte::RW | pte::US;

    fn cfg() -> PagingConfig {
        PagingConfig::new(PagingMode::Level4, 46).unwrap()
    }

    /// Pattern byte for absolute address `a`, distinct per page.
    fn pat(a: u64) -> u8 {
        (a ^ (a >> 12) ^ (a >> 21) ^ (a >> 30)) as u8
    }

    /// A user page pair (non-contiguous frames), a 2 MiB pair and a 1 GiB pair in the kernel
    /// half, all filled with `pat` around their boundaries.
    fn setup(slots: &mut [FrameSlot]) -> PageTableBuilder<'_, Machine> {
        let mut b = PageTableBuilder::new(FrameArena::new(slots, 0x10), PagingMode::Level4).unwrap();
        b.map(0x40_0000, PageSize::Size4K, Mfn::new(0x900), FLAGS).unwrap();
        b.map(0x40_1000, PageSize::Size4K, Mfn::new(0x500), FLAGS).unwrap();
        b.map(0xffff_8880_0000_0000, PageSize::Size2M, Mfn::new(0x2000), FLAGS).unwrap();
        b.map(0xffff_8880_0020_0000, PageSize::Size2M, Mfn::new(0x1000), FLAGS).unwrap();
        b.map(0xffff_8881_0000_0000, PageSize::Size1G, Mfn::new(0x40000), FLAGS).unwrap();
        b.map(0xffff_8881_4000_0000, PageSize::Size1G, Mfn::new(0x80000), FLAGS).unwrap();
        for boundary in [0x40_1000u64, 0xffff_8880_0020_0000, 0xffff_8881_4000_0000] {
            let data: Vec<u8> = (boundary - 64..boundary + 64).map(pat).collect();
            b.write_virt(boundary - 64, &data).unwrap();
        }
        b
    }

    #[test]
    fn reads_cross_small_and_huge_page_boundaries() {
        let mut s = vec![FrameSlot::EMPTY; 24];
        let mut b = setup(&mut s);
        let root = b.root();
        let mut cache = TranslationCache::<Machine>::new();
        let mut m = GuestMemory::new(b.arena_mut(), &mut cache, root, cfg());
        for boundary in [0x40_1000u64, 0xffff_8880_0020_0000, 0xffff_8881_4000_0000] {
            for start in [boundary - 64, boundary - 5, boundary - 1, boundary] {
                let mut buf = [0u8; 64];
                m.read_bytes(GuestVirtAddr(start), &mut buf).unwrap();
                let want: Vec<u8> = (start..start + 64).map(pat).collect();
                assert_eq!(&buf[..], &want[..], "read at {start:#x}");
            }
        }
        // User and kernel addresses through the same root.
        assert_eq!(m.read_u8(GuestVirtAddr(0x40_0fff)).unwrap(), pat(0x40_0fff));
        assert_eq!(m.read_u8(GuestVirtAddr(0xffff_8880_001f_ffff)).unwrap(), pat(0xffff_8880_001f_ffff));
        let t = m.translate(GuestVirtAddr(0x40_1003)).unwrap();
        assert_eq!((t.frame(), t.frame_offset()), (Mfn::new(0x500), 3));
    }

    #[test]
    fn huge_page_read_reuses_its_translation() {
        let mut s = vec![FrameSlot::EMPTY; 24];
        let mut b = setup(&mut s);
        let root = b.root();
        // Uncached: a 128-byte read across two 4 KiB frames of one 2 MiB page walks once
        // (3 entry reads) and reads two data frames.
        let start = 0xffff_8880_0000_0000u64 + 0x1000 - 64;
        b.write_virt(start, &[7u8; 128]).unwrap();
        b.arena_mut().reset_reads();
        let mut m = GuestMemory::uncached(b.arena_mut(), root, cfg());
        let mut buf = [0u8; 128];
        m.read_bytes(GuestVirtAddr(start), &mut buf).unwrap();
        assert_eq!(buf, [7u8; 128]);
        assert_eq!(b.arena().reads(), 3 + 2);
    }

    #[test]
    fn cache_saves_walks_and_agrees() {
        let mut s = vec![FrameSlot::EMPTY; 24];
        let mut b = setup(&mut s);
        let root = b.root();
        let va = GuestVirtAddr(0x40_0ff0);
        let mut want = [0u8; 32];
        GuestMemory::uncached(b.arena_mut(), root, cfg()).read_bytes(va, &mut want).unwrap();
        let mut cache = TranslationCache::<Machine>::new();
        let mut got = [0u8; 32];
        GuestMemory::new(b.arena_mut(), &mut cache, root, cfg()).read_bytes(va, &mut got).unwrap();
        assert_eq!(got, want);
        b.arena_mut().reset_reads();
        GuestMemory::new(b.arena_mut(), &mut cache, root, cfg()).read_bytes(va, &mut got).unwrap();
        assert_eq!(got, want);
        // Second read: two data-frame reads, no walk.
        assert_eq!(b.arena().reads(), 2);
    }

    #[test]
    fn errors_name_the_failing_address() {
        let mut s = vec![FrameSlot::EMPTY; 24];
        let mut b = setup(&mut s);
        let root = b.root();
        // Data frame of a mapped page missing from the arena (e.g. not mappable by dom0).
        b.map(0x40_2000, PageSize::Size4K, Mfn::new(0xdead), FLAGS).unwrap();
        let mut m = GuestMemory::uncached(b.arena_mut(), root, cfg());
        let mut buf = [0u8; 8];
        assert_eq!(
            m.read_bytes(GuestVirtAddr(0x40_1ffc), &mut buf),
            Err(MemError::Walk {
                va: GuestVirtAddr(0x40_2000),
                error: WalkError { level: 0, kind: WalkErrorKind::Frame(FrameError::NotMapped { frame: 0xdead }) },
            })
        );
        // Unmapped neighbour: PT entry not present.
        assert_eq!(
            m.read_bytes(GuestVirtAddr(0x40_3ffc), &mut buf),
            Err(MemError::Walk {
                va: GuestVirtAddr(0x40_3ffc),
                error: WalkError { level: 1, kind: WalkErrorKind::NotPresent },
            })
        );
        // Running off the end of the user half.
        assert_eq!(
            m.read_bytes(GuestVirtAddr(0x7fff_ffff_fffc), &mut buf),
            Err(MemError::Walk {
                va: GuestVirtAddr(0x7fff_ffff_fffc),
                error: WalkError { level: 4, kind: WalkErrorKind::NotPresent },
            })
        );
        assert_eq!(m.read_bytes(GuestVirtAddr(u64::MAX - 6), &mut buf), Err(MemError::Overflow));
        assert_eq!(m.read_bytes(GuestVirtAddr(u64::MAX), &mut []), Ok(()));
        // The last byte of the address space is readable in principle (here: not mapped).
        assert!(matches!(m.read_u8(GuestVirtAddr(u64::MAX)), Err(MemError::Walk { .. })));
    }

    #[test]
    fn non_canonical_piece_is_reported() {
        let mut s = vec![FrameSlot::EMPTY; 24];
        let mut b = PageTableBuilder::<Machine>::new(FrameArena::new(&mut s, 0x10), PagingMode::Level4).unwrap();
        b.map_new(0x7fff_ffff_f000, FLAGS).unwrap();
        let root = b.root();
        let mut m = GuestMemory::uncached(b.arena_mut(), root, cfg());
        let mut buf = [0u8; 8];
        assert_eq!(
            m.read_bytes(GuestVirtAddr(0x7fff_ffff_fffc), &mut buf),
            Err(MemError::Walk {
                va: GuestVirtAddr(0x8000_0000_0000),
                error: WalkError { level: 4, kind: WalkErrorKind::NonCanonical },
            })
        );
    }

    #[test]
    fn cstr_through_page_tables() {
        let mut s = vec![FrameSlot::EMPTY; 24];
        let mut b = setup(&mut s);
        let root = b.root();
        b.write_virt(0x40_0ffa, b"/etc/passwd\0").unwrap();
        let mut cache = TranslationCache::<Machine>::new();
        let mut m = GuestMemory::new(b.arena_mut(), &mut cache, root, cfg());
        let mut buf = [0u8; 32];
        let n = m.read_cstr(GuestVirtAddr(0x40_0ffa), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"/etc/passwd");
        assert_eq!(m.root(), root);
        assert_eq!(m.config().mode(), PagingMode::Level4);
    }
}
