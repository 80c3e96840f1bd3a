//! Test memory for the walker: a fixed arena of 4 KiB frames (a [`FrameReader`]) and a
//! page-table builder. Core only, no allocation, so the same code serves unit tests, fuzz
//! targets and benchmarks (enable the crate's `testing` feature outside `cfg(test)`).
//!
//! The arena does not own its storage: the caller passes a slice of [`FrameSlot`]s (a
//! `static`, an array, or a `Vec` in std code), which keeps large arenas off the stack.
//!
//! ```ignore
//! let mut slots = vec![FrameSlot::EMPTY; 16];
//! let mut b = PageTableBuilder::<Machine>::new(FrameArena::new(&mut slots, 0x100), PagingMode::Level4)?;
//! let data = b.map_new(0x40_0000, pte::RW | pte::US)?;
//! b.write_virt(0x40_0ffe, b"crosses a page")?;  // creates the next page's frame if mapped
//! let root = b.root();
//! let t = walk(b.arena_mut(), root, &cfg, GuestVirtAddr(0x40_0000))?;
//! ```

use core::marker::PhantomData;

use super::{pte, walk, PageSize, PagingConfig, PagingMode, WalkError};
use crate::addr::{Frame, FrameKind, GuestVirtAddr, PAGE_SHIFT, PAGE_SIZE};
use crate::mem::{FrameError, FrameReader};

const FRAME_BYTES: usize = PAGE_SIZE as usize;

/// Storage for one frame of a [`FrameArena`].
#[derive(Clone)]
pub struct FrameSlot {
    frame: u64,
    data: [u8; FRAME_BYTES],
}

impl FrameSlot {
    /// An unused slot (for array initialisers: `[FrameSlot::EMPTY; N]`).
    pub const EMPTY: Self = Self { frame: 0, data: [0; FRAME_BYTES] };
}

/// Why an arena or builder operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArenaError {
    /// Every slot is in use.
    Full,
    /// The frame is already present (for [`FrameArena::insert`]).
    Exists {
        /// Raw frame number.
        frame: u64,
    },
    /// The frame is not present.
    Missing {
        /// Raw frame number.
        frame: u64,
    },
    /// `offset + len` exceeds the frame.
    OutOfBounds,
}

/// Number of recent lookups [`FrameArena`] remembers (enough for a 5-level walk plus data).
const RECENT: usize = 8;

/// Up to `slots.len()` present frames with arbitrary frame numbers; every other frame number
/// is unreadable ([`FrameError::NotMapped`]). Reads look the frame up among the last few
/// frames read, then by binary search over the present frames (kept sorted), so a benchmark of
/// repeated walks measures the walker rather than the lookup.
pub struct FrameArena<'s, K: FrameKind> {
    slots: &'s mut [FrameSlot],
    used: usize,
    next_alloc: u64,
    reads: u64,
    /// (frame, slot index) of recent reads; emptied whenever slots move.
    recent: [Option<(u64, usize)>; RECENT],
    recent_next: usize,
    _kind: PhantomData<K>,
}

impl<'s, K: FrameKind> FrameArena<'s, K> {
    /// An empty arena over `slots`; [`Self::alloc`] hands out frame numbers from `first_frame`
    /// upwards.
    pub fn new(slots: &'s mut [FrameSlot], first_frame: u64) -> Self {
        Self {
            slots,
            used: 0,
            next_alloc: first_frame,
            reads: 0,
            recent: [None; RECENT],
            recent_next: 0,
            _kind: PhantomData,
        }
    }

    /// Slot index of `frame` for a read, remembering it.
    fn find_recent(&mut self, frame: u64) -> Option<usize> {
        for (f, i) in self.recent.iter().flatten() {
            if *f == frame {
                return Some(*i);
            }
        }
        let i = self.find(frame).ok()?;
        if let Some(r) = self.recent.get_mut(self.recent_next) {
            *r = Some((frame, i));
        }
        self.recent_next = (self.recent_next + 1) % RECENT;
        Some(i)
    }

    fn find(&self, frame: u64) -> Result<usize, usize> {
        self.slots[..self.used].binary_search_by_key(&frame, |s| s.frame)
    }

    /// Number of present frames.
    pub fn len(&self) -> usize {
        self.used
    }
    /// Whether no frame is present.
    pub fn is_empty(&self) -> bool {
        self.used == 0
    }
    /// Maximum number of frames.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }
    /// Whether `frame` is present.
    pub fn contains(&self, frame: Frame<K>) -> bool {
        self.find(frame.raw()).is_ok()
    }

    /// Makes `frame` present, zero-filled.
    pub fn insert(&mut self, frame: Frame<K>) -> Result<(), ArenaError> {
        let pos = match self.find(frame.raw()) {
            Ok(_) => return Err(ArenaError::Exists { frame: frame.raw() }),
            Err(p) => p,
        };
        if self.used == self.slots.len() {
            return Err(ArenaError::Full);
        }
        // Move the free slot at `used` to `pos`, keeping the present frames sorted. Slots
        // move, so the remembered indices are stale.
        self.recent = [None; RECENT];
        self.slots[pos..=self.used].rotate_right(1);
        self.slots[pos].frame = frame.raw();
        self.slots[pos].data = [0; FRAME_BYTES];
        self.used += 1;
        Ok(())
    }

    /// Makes a fresh zero-filled frame present and returns its number (the lowest unused
    /// number at or above the previous allocation).
    pub fn alloc(&mut self) -> Result<Frame<K>, ArenaError> {
        if self.used == self.slots.len() {
            return Err(ArenaError::Full);
        }
        // At most `used` numbers can be taken, so this ends within `used + 1` steps.
        for _ in 0..=self.used {
            let f = Frame::new(self.next_alloc);
            self.next_alloc = self.next_alloc.wrapping_add(1);
            if !self.contains(f) {
                self.insert(f)?;
                return Ok(f);
            }
        }
        Err(ArenaError::Full)
    }

    /// The bytes of a present frame.
    pub fn frame(&self, frame: Frame<K>) -> Option<&[u8; FRAME_BYTES]> {
        self.find(frame.raw()).ok().map(|i| &self.slots[i].data)
    }
    /// The bytes of a present frame, mutable.
    pub fn frame_mut(&mut self, frame: Frame<K>) -> Option<&mut [u8; FRAME_BYTES]> {
        match self.find(frame.raw()) {
            Ok(i) => Some(&mut self.slots[i].data),
            Err(_) => None,
        }
    }

    /// Copies `data` into a present frame at `offset`.
    pub fn write(&mut self, frame: Frame<K>, offset: usize, data: &[u8]) -> Result<(), ArenaError> {
        let page = self.frame_mut(frame).ok_or(ArenaError::Missing { frame: frame.raw() })?;
        let end = offset.checked_add(data.len()).ok_or(ArenaError::OutOfBounds)?;
        page.get_mut(offset..end).ok_or(ArenaError::OutOfBounds)?.copy_from_slice(data);
        Ok(())
    }
    /// Writes a little-endian `u64` (a page-table entry) at byte `offset`.
    pub fn write_u64(&mut self, frame: Frame<K>, offset: usize, v: u64) -> Result<(), ArenaError> {
        self.write(frame, offset, &v.to_le_bytes())
    }
    /// Reads a little-endian `u64` at byte `offset` (not counted in [`Self::reads`]).
    pub fn read_u64(&self, frame: Frame<K>, offset: usize) -> Result<u64, ArenaError> {
        let page = self.frame(frame).ok_or(ArenaError::Missing { frame: frame.raw() })?;
        let end = offset.checked_add(8).ok_or(ArenaError::OutOfBounds)?;
        let b = page.get(offset..end).ok_or(ArenaError::OutOfBounds)?;
        let mut v = [0u8; 8];
        v.copy_from_slice(b);
        Ok(u64::from_le_bytes(v))
    }

    /// Number of [`FrameReader::read_frame`] calls since creation or [`Self::reset_reads`].
    pub fn reads(&self) -> u64 {
        self.reads
    }
    /// Resets the read counter.
    pub fn reset_reads(&mut self) {
        self.reads = 0;
    }
}

impl<K: FrameKind> FrameReader<K> for FrameArena<'_, K> {
    fn read_frame(&mut self, frame: Frame<K>, offset: usize, buf: &mut [u8]) -> Result<(), FrameError> {
        self.reads += 1;
        let end = offset.checked_add(buf.len()).ok_or(FrameError::OutOfBounds)?;
        if end > FRAME_BYTES {
            return Err(FrameError::OutOfBounds);
        }
        let i = self.find_recent(frame.raw()).ok_or(FrameError::NotMapped { frame: frame.raw() })?;
        let src = self.slots.get(i).and_then(|s| s.data.get(offset..end)).ok_or(FrameError::OutOfBounds)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// Why a [`PageTableBuilder`] operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// The arena refused.
    Arena(ArenaError),
    /// Address or frame not aligned to the page size.
    Misaligned,
    /// The address is not canonical for the builder's paging mode.
    NonCanonical,
    /// An existing entry on the way maps a huge page or points at a frame outside the arena,
    /// so no table can be created below it.
    Conflict {
        /// Level of that entry.
        level: u8,
    },
    /// Translating an address for [`PageTableBuilder::write_virt`] failed.
    Walk(WalkError),
    /// `level` is not a table level of the paging mode.
    BadLevel,
}

impl From<ArenaError> for BuildError {
    fn from(e: ArenaError) -> Self {
        Self::Arena(e)
    }
}

/// Builds x86-64 page tables inside a [`FrameArena`]: well-formed mappings with [`Self::map`],
/// arbitrary (hostile) entries with [`Self::entry_location`] + [`Self::set_entry`].
pub struct PageTableBuilder<'s, K: FrameKind> {
    arena: FrameArena<'s, K>,
    root: Frame<K>,
    mode: PagingMode,
    table_flags: u64,
}

impl<'s, K: FrameKind> PageTableBuilder<'s, K> {
    /// Allocates an empty root table in `arena`. Intermediate tables created later get
    /// P | RW | US, so the leaf flags decide the access rights unless changed with
    /// [`Self::set_table_flags`].
    pub fn new(mut arena: FrameArena<'s, K>, mode: PagingMode) -> Result<Self, ArenaError> {
        let root = arena.alloc()?;
        Ok(Self { arena, root, mode, table_flags: pte::P | pte::RW | pte::US })
    }

    /// Root table frame (what CR3 / `guest_table` names).
    pub fn root(&self) -> Frame<K> {
        self.root
    }
    /// The paging mode the tables are built for.
    pub fn mode(&self) -> PagingMode {
        self.mode
    }
    /// The arena.
    pub fn arena(&self) -> &FrameArena<'s, K> {
        &self.arena
    }
    /// The arena, mutable (also the [`FrameReader`] to walk with).
    pub fn arena_mut(&mut self) -> &mut FrameArena<'s, K> {
        &mut self.arena
    }
    /// Gives the arena back.
    pub fn into_arena(self) -> FrameArena<'s, K> {
        self.arena
    }
    /// Flags (P is always added) for intermediate tables created from now on.
    pub fn set_table_flags(&mut self, flags: u64) {
        self.table_flags = flags | pte::P;
    }

    /// Table frame and index of the entry at `level` on `va`'s path, creating missing tables
    /// above it. `level` counts as in [`WalkError`] (1 = PT).
    pub fn entry_location(&mut self, va: u64, level: u8) -> Result<(Frame<K>, usize), BuildError> {
        let top = self.mode.levels();
        if level == 0 || level > top {
            return Err(BuildError::BadLevel);
        }
        if !self.mode.is_canonical(GuestVirtAddr(va)) {
            return Err(BuildError::NonCanonical);
        }
        let mut table = self.root;
        let mut l = top;
        // At most five iterations: `l` decreases each time.
        while l > level {
            let idx = super::index(GuestVirtAddr(va), l);
            let e = self.arena.read_u64(table, idx * 8)?;
            if e & pte::P == 0 {
                let t = self.arena.alloc()?;
                self.arena.write_u64(table, idx * 8, t.base() | self.table_flags)?;
                table = t;
            } else {
                let next = Frame::new((e & pte::ADDR) >> PAGE_SHIFT);
                if e & pte::PS != 0 || !self.arena.contains(next) {
                    return Err(BuildError::Conflict { level: l });
                }
                table = next;
            }
            l -= 1;
        }
        Ok((table, super::index(GuestVirtAddr(va), level)))
    }

    /// Sets entry `index` of table `table` to `value` as is (no checks: for hostile entries).
    pub fn set_entry(&mut self, table: Frame<K>, index: usize, value: u64) -> Result<(), ArenaError> {
        let off = index.checked_mul(8).ok_or(ArenaError::OutOfBounds)?;
        self.arena.write_u64(table, off, value)
    }

    /// Maps the page of `size` at `va` to `frame` with `flags` (P, and PS for huge pages, are
    /// added). Replaces an existing leaf entry.
    pub fn map(&mut self, va: u64, size: PageSize, frame: Frame<K>, flags: u64) -> Result<(), BuildError> {
        let frames = size.bytes() >> PAGE_SHIFT;
        if va & (size.bytes() - 1) != 0 || frame.raw() & (frames - 1) != 0 {
            return Err(BuildError::Misaligned);
        }
        let (table, idx) = self.entry_location(va, size.leaf_level())?;
        let ps = if size == PageSize::Size4K { 0 } else { pte::PS };
        self.set_entry(table, idx, frame.base() | flags | pte::P | ps)?;
        Ok(())
    }

    /// Maps a fresh zero-filled 4 KiB frame at `va` with `flags` and returns the frame.
    pub fn map_new(&mut self, va: u64, flags: u64) -> Result<Frame<K>, BuildError> {
        let f = self.arena.alloc()?;
        self.map(va, PageSize::Size4K, f, flags)?;
        Ok(f)
    }

    /// Writes `data` at virtual address `va` through the current tables (translated with
    /// MAXPHYADDR 52), page by page. A mapped frame that is not in the arena yet (e.g. inside a
    /// huge page) is added to it.
    pub fn write_virt(&mut self, va: u64, data: &[u8]) -> Result<(), BuildError> {
        let cfg = PagingConfig::build(self.mode, 52, true, true);
        let mut done = 0usize;
        // Each iteration writes at least one byte.
        while done < data.len() {
            let at = va.checked_add(done as u64).ok_or(BuildError::NonCanonical)?;
            let t = walk(&mut self.arena, self.root, &cfg, GuestVirtAddr(at)).map_err(BuildError::Walk)?;
            let n = core::cmp::min(data.len() - done, FRAME_BYTES - t.frame_offset());
            if !self.arena.contains(t.frame()) {
                self.arena.insert(t.frame())?;
            }
            self.arena.write(t.frame(), t.frame_offset(), &data[done..done + n])?;
            done += n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{Machine, Mfn};
    use std::vec;

    #[test]
    fn arena_keeps_frames_sorted_and_bounded() {
        let mut s = vec![FrameSlot::EMPTY; 3];
        let mut a = FrameArena::<Machine>::new(&mut s, 5);
        a.insert(Mfn::new(9)).unwrap();
        assert_eq!(a.insert(Mfn::new(9)), Err(ArenaError::Exists { frame: 9 }));
        assert_eq!(a.alloc().unwrap(), Mfn::new(5));
        a.insert(Mfn::new(1)).unwrap();
        assert_eq!(a.alloc(), Err(ArenaError::Full));
        assert_eq!(a.insert(Mfn::new(2)), Err(ArenaError::Full));
        assert_eq!(a.len(), 3);
        assert!(a.contains(Mfn::new(1)) && a.contains(Mfn::new(5)) && a.contains(Mfn::new(9)));
        a.write(Mfn::new(9), 4090, &[1, 2, 3, 4, 5, 6]).unwrap();
        assert_eq!(a.write(Mfn::new(9), 4091, &[0; 6]), Err(ArenaError::OutOfBounds));
        assert_eq!(a.write(Mfn::new(7), 0, &[0]), Err(ArenaError::Missing { frame: 7 }));
        let mut b = [0u8; 6];
        a.read_frame(Mfn::new(9), 4090, &mut b).unwrap();
        assert_eq!(b, [1, 2, 3, 4, 5, 6]);
        assert_eq!(a.read_frame(Mfn::new(9), 4091, &mut b), Err(FrameError::OutOfBounds));
        assert_eq!(a.read_frame(Mfn::new(9), usize::MAX, &mut b), Err(FrameError::OutOfBounds));
        assert_eq!(a.read_frame(Mfn::new(8), 0, &mut b), Err(FrameError::NotMapped { frame: 8 }));
        assert_eq!(a.reads(), 4);
    }

    #[test]
    fn reads_stay_correct_when_slots_move() {
        let mut s = vec![FrameSlot::EMPTY; 4];
        let mut a = FrameArena::<Machine>::new(&mut s, 0);
        a.insert(Mfn::new(20)).unwrap();
        a.write(Mfn::new(20), 0, &[20]).unwrap();
        let mut b = [0u8; 1];
        a.read_frame(Mfn::new(20), 0, &mut b).unwrap();
        // Inserting a lower frame moves frame 20 to another slot.
        a.insert(Mfn::new(10)).unwrap();
        a.write(Mfn::new(10), 0, &[10]).unwrap();
        a.read_frame(Mfn::new(20), 0, &mut b).unwrap();
        assert_eq!(b, [20]);
        a.read_frame(Mfn::new(10), 0, &mut b).unwrap();
        assert_eq!(b, [10]);
    }

    #[test]
    fn alloc_skips_taken_numbers() {
        let mut s = vec![FrameSlot::EMPTY; 4];
        let mut a = FrameArena::<Machine>::new(&mut s, 10);
        a.insert(Mfn::new(10)).unwrap();
        a.insert(Mfn::new(11)).unwrap();
        assert_eq!(a.alloc().unwrap(), Mfn::new(12));
    }

    #[test]
    fn builder_maps_and_detects_conflicts() {
        let mut s = vec![FrameSlot::EMPTY; 16];
        let mut b = PageTableBuilder::<Machine>::new(FrameArena::new(&mut s, 0x100), PagingMode::Level4).unwrap();
        assert_eq!(b.map(0x1000, PageSize::Size2M, Mfn::new(0x200), 0), Err(BuildError::Misaligned));
        assert_eq!(b.map(0x20_0000, PageSize::Size2M, Mfn::new(0x201), 0), Err(BuildError::Misaligned));
        assert_eq!(b.map(0x8000_0000_0000, PageSize::Size4K, Mfn::new(1), 0), Err(BuildError::NonCanonical));
        assert_eq!(b.entry_location(0, 5), Err(BuildError::BadLevel));
        b.map(0x20_0000, PageSize::Size2M, Mfn::new(0x200), pte::RW).unwrap();
        // A 4 KiB page inside the 2 MiB page cannot get a PT.
        assert_eq!(b.map(0x20_1000, PageSize::Size4K, Mfn::new(1), 0), Err(BuildError::Conflict { level: 2 }));
        // Root, PDPT, PD: three tables.
        assert_eq!(b.arena().len(), 3);
        // write_virt adds the 4 KiB frame inside the huge page and crosses into the next one.
        b.write_virt(0x20_0ffe, b"abcd").unwrap();
        assert_eq!(&b.arena().frame(Mfn::new(0x200)).unwrap()[4094..], b"ab");
        assert_eq!(&b.arena().frame(Mfn::new(0x201)).unwrap()[..2], b"cd");
        // Unmapped target.
        assert!(matches!(b.write_virt(0x40_0000, b"x"), Err(BuildError::Walk(_))));
        let f = b.map_new(0x40_0000, 0).unwrap();
        b.write_virt(0x40_0010, b"x").unwrap();
        assert_eq!(b.arena().frame(f).unwrap()[0x10], b'x');
    }
}
