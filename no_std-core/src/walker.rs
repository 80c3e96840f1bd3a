//! x86-64 guest page-table walker (Introspection Library).
//!
//! Translates a guest virtual address through the monitored guest's page tables the way the CPU
//! does, for 4-level and 5-level paging and 4 KiB, 2 MiB and 1 GiB pages. Every table is read
//! through a [`FrameReader`] with one 8-byte read per level, and every frame number is a typed
//! [`Frame<K>`]: PV tables hold machine frames (`Mfn`), HVM/PVH tables guest frames (`Gfn`).
//!
//! The tables are hostile input. The walk is a loop over at most five levels (no recursion, no
//! allocation, no panic), and every way a translation can fail is a [`WalkError`] naming the
//! level and the reason: entry not present, reserved bits set (PS in a PML5/PML4 entry, frame
//! bits at or above MAXPHYADDR, the bits a huge page must keep clear, NX while EFER.NXE is off),
//! a table frame that cannot be read, or a non-canonical address. An entry pointing back at an
//! upper table (a loop) is harmless: the level counter still ends the walk.
//!
//! The walker only reads: it never sets accessed/dirty bits, so the guest cannot notice it.

use crate::addr::{Frame, FrameKind, GuestVirtAddr, PAGE_SHIFT};
use crate::mem::{FrameError, FrameReader};

#[cfg(any(test, feature = "testing"))]
pub mod testing;

/// Why a translation failed, and at which level (5 = PML5, 4 = PML4, 3 = PDPT, 2 = PD,
/// 1 = PT). Level 0 means the translation succeeded but the final data frame could not be
/// read (reported by virtual reads in [`crate::vmem`], never by [`walk`] itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkError {
    /// Paging level whose entry (or table) caused the failure.
    pub level: u8,
    /// What went wrong there.
    pub kind: WalkErrorKind,
}

/// What went wrong at one level of a walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkErrorKind {
    /// The entry's present bit is clear.
    NotPresent,
    /// The table frame could not be read.
    Frame(FrameError),
    /// A present entry has reserved bits set (the CPU would raise #PF with RSVD). `bits` are
    /// exactly the offending bits of the entry.
    ReservedBits {
        /// The entry's bits that must be zero at this level but are not.
        bits: u64,
    },
    /// The address is not canonical for the paging mode (the CPU would raise #GP). Reported
    /// at the top level.
    NonCanonical,
}

/// Page-table entry bits the walker interprets.
pub mod pte {
    /// Present.
    pub const P: u64 = 1 << 0;
    /// Writable.
    pub const RW: u64 = 1 << 1;
    /// User-accessible.
    pub const US: u64 = 1 << 2;
    /// Page size: a 1 GiB (PDPT) or 2 MiB (PD) page instead of a table. Reserved in PML4/PML5
    /// entries; PAT in a PT entry.
    pub const PS: u64 = 1 << 7;
    /// Execute disable (valid only while EFER.NXE is set).
    pub const NX: u64 = 1 << 63;
    /// Physical-address field, bits 51:12 (before MAXPHYADDR is applied).
    pub const ADDR: u64 = 0x000f_ffff_ffff_f000;
    /// Bits 29:13 of a 1 GiB page entry: reserved (bit 12 is PAT).
    pub const RSVD_1G: u64 = 0x3fff_e000;
    /// Bits 20:13 of a 2 MiB page entry: reserved (bit 12 is PAT).
    pub const RSVD_2M: u64 = 0x001f_e000;
}

/// Number of page-table levels (CR4.LA57).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PagingMode {
    /// 4-level paging: 48-bit virtual addresses.
    Level4,
    /// 5-level paging: 57-bit virtual addresses.
    Level5,
}

impl PagingMode {
    /// Number of table levels walked.
    pub const fn levels(self) -> u8 {
        match self {
            Self::Level4 => 4,
            Self::Level5 => 5,
        }
    }
    /// Width of a virtual address before sign extension.
    pub const fn va_bits(self) -> u32 {
        match self {
            Self::Level4 => 48,
            Self::Level5 => 57,
        }
    }
    /// Whether `va` is canonical: bits 63 down to `va_bits() - 1` all equal.
    pub const fn is_canonical(self, va: GuestVirtAddr) -> bool {
        let shift = 64 - self.va_bits();
        (((va.0 << shift) as i64) >> shift) as u64 == va.0
    }
}

/// Size of the page a translation ended in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PageSize {
    /// 4 KiB, mapped by a PT entry.
    Size4K,
    /// 2 MiB, mapped by a PD entry with PS set.
    Size2M,
    /// 1 GiB, mapped by a PDPT entry with PS set.
    Size1G,
}

impl PageSize {
    /// log2 of the size in bytes.
    pub const fn shift(self) -> u32 {
        match self {
            Self::Size4K => 12,
            Self::Size2M => 21,
            Self::Size1G => 30,
        }
    }
    /// Size in bytes.
    pub const fn bytes(self) -> u64 {
        1 << self.shift()
    }
    /// Page-table level whose entry maps a page of this size.
    pub const fn leaf_level(self) -> u8 {
        match self {
            Self::Size4K => 1,
            Self::Size2M => 2,
            Self::Size1G => 3,
        }
    }
}

/// Why a [`PagingConfig`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// MAXPHYADDR must be in 32..=52 (the architectural range that real CPUs report).
    MaxPhysBits(u8),
}

/// How the walked tables are to be interpreted: paging mode and the CPU features that decide
/// which entry bits are reserved. Values come from the monitored vCPU (CR4.LA57, EFER.NXE) and
/// the host CPU (CPUID 0x80000008 MAXPHYADDR, 1 GiB page support) — for a PV guest the tables
/// hold machine addresses, so MAXPHYADDR is the host's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PagingConfig {
    mode: PagingMode,
    max_phys_bits: u8,
    nx_enabled: bool,
    gbpages: bool,
    /// Reserved bits common to every level: address bits 51:MAXPHYADDR, and NX without NXE.
    /// Precomputed so that the walk does one AND per level.
    common_rsvd: u64,
}

impl PagingConfig {
    /// A configuration with EFER.NXE set and 1 GiB pages supported (what a 64-bit Xen guest
    /// sees on any CPU Xen 4.17 runs on); MAXPHYADDR must be in 32..=52.
    pub const fn new(mode: PagingMode, max_phys_bits: u8) -> Result<Self, ConfigError> {
        if max_phys_bits < 32 || max_phys_bits > 52 {
            return Err(ConfigError::MaxPhysBits(max_phys_bits));
        }
        Ok(Self::build(mode, max_phys_bits, true, true))
    }

    const fn build(mode: PagingMode, max_phys_bits: u8, nx_enabled: bool, gbpages: bool) -> Self {
        // Bits max_phys_bits..=51 of the address field; empty when MAXPHYADDR is 52.
        let below = (1u64 << max_phys_bits) - 1;
        let mut common_rsvd = pte::ADDR & !below;
        if !nx_enabled {
            common_rsvd |= pte::NX;
        }
        Self { mode, max_phys_bits, nx_enabled, gbpages, common_rsvd }
    }

    /// Same configuration with EFER.NXE as given (when off, bit 63 is reserved).
    pub const fn with_nx(self, nx_enabled: bool) -> Self {
        Self::build(self.mode, self.max_phys_bits, nx_enabled, self.gbpages)
    }

    /// Same configuration with 1 GiB page support as given (when off, PS in a PDPT entry is
    /// reserved).
    pub const fn with_gbpages(self, gbpages: bool) -> Self {
        Self::build(self.mode, self.max_phys_bits, self.nx_enabled, gbpages)
    }

    /// The paging mode.
    pub const fn mode(&self) -> PagingMode {
        self.mode
    }
    /// MAXPHYADDR.
    pub const fn max_phys_bits(&self) -> u8 {
        self.max_phys_bits
    }
    /// Whether EFER.NXE is modelled as set.
    pub const fn nx_enabled(&self) -> bool {
        self.nx_enabled
    }
    /// Whether 1 GiB pages are allowed.
    pub const fn gbpages(&self) -> bool {
        self.gbpages
    }

    /// The root table frame named by a CR3 value: drops the PCID/flag bits 11:0, bit 63 (the
    /// no-flush hint of MOV to CR3) and bits at or above MAXPHYADDR.
    pub const fn root_from_cr3<K: FrameKind>(&self, cr3: u64) -> Frame<K> {
        let below = (1u64 << self.max_phys_bits) - 1;
        Frame::new((cr3 & pte::ADDR & below) >> PAGE_SHIFT)
    }

    /// Bits that must be zero in a present entry at `level`, given whether it has PS set.
    /// `None` when PS itself is not allowed there.
    const fn reserved(&self, level: u8, ps: bool) -> u64 {
        match (level, ps) {
            (4 | 5, _) => self.common_rsvd | pte::PS,
            (3, true) if !self.gbpages => self.common_rsvd | pte::PS,
            (3, true) => self.common_rsvd | pte::RSVD_1G,
            (2, true) => self.common_rsvd | pte::RSVD_2M,
            _ => self.common_rsvd,
        }
    }
}

/// Effective access rights of a translation, accumulated over all levels as the CPU does:
/// writable and user only if every level allows it, no-execute if any level forbids execution.
/// (Supervisor-mode rules such as CR0.WP, SMEP and SMAP are the accessor's business, not the
/// mapping's.) For a PV guest Xen forces the user bit on guest-kernel mappings, so `user` does
/// not tell P's pages from the guest kernel's there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Access {
    /// Every level has R/W set.
    pub writable: bool,
    /// Every level has U/S set.
    pub user: bool,
    /// Some level has XD set (and EFER.NXE is on).
    pub nx: bool,
}

/// A successful translation. Present is implied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation<K: FrameKind> {
    /// First 4 KiB frame of the page (aligned to the page size).
    pub page_frame: Frame<K>,
    /// Size of the page the address lies in.
    pub page_size: PageSize,
    /// Offset of the address inside that page (`< page_size.bytes()`).
    pub page_offset: u64,
    /// Effective access rights.
    pub access: Access,
}

impl<K: FrameKind> Translation<K> {
    /// The 4 KiB frame holding the translated byte (what a [`FrameReader`] reads).
    pub const fn frame(&self) -> Frame<K> {
        // Wrapping: fields are public, and a hand-made value must not panic (walker-made ones
        // never come near the limit: frames < 2^40, offsets < 2^30).
        Frame::new(self.page_frame.raw().wrapping_add(self.page_offset >> PAGE_SHIFT))
    }
    /// Offset of the translated byte inside [`Self::frame`].
    pub const fn frame_offset(&self) -> usize {
        (self.page_offset & 0xfff) as usize
    }
    /// Byte address in the frame space of `K` (machine or guest-physical).
    pub const fn phys_addr(&self) -> u64 {
        self.page_frame.base().wrapping_add(self.page_offset)
    }
    /// The same page's translation for another address `va` inside it, or `None` if `va`'s
    /// page offset does not lie in the page that `base_va` (the address this translation was
    /// made for) lies in.
    pub const fn rebase(&self, base_va: GuestVirtAddr, va: GuestVirtAddr) -> Option<Self> {
        let mask = !(self.page_size.bytes() - 1);
        if base_va.0 & mask != va.0 & mask {
            return None;
        }
        Some(Self {
            page_frame: self.page_frame,
            page_size: self.page_size,
            page_offset: va.0 & !mask,
            access: self.access,
        })
    }
}

/// Index of `va`'s entry in the table at `level` (1..=5).
#[inline]
const fn index(va: GuestVirtAddr, level: u8) -> usize {
    ((va.0 >> (PAGE_SHIFT + 9 * (level as u32 - 1))) & 0x1ff) as usize
}

/// Reads entry `idx` of `table`, the table at `level`.
#[inline]
fn read_entry<K: FrameKind, R: FrameReader<K> + ?Sized>(
    reader: &mut R,
    table: Frame<K>,
    level: u8,
    idx: usize,
) -> Result<u64, WalkError> {
    let mut b = [0u8; 8];
    reader.read_frame(table, idx * 8, &mut b).map_err(|e| WalkError { level, kind: WalkErrorKind::Frame(e) })?;
    Ok(u64::from_le_bytes(b))
}

/// Checks a present entry's reserved bits and folds its rights into `acc`.
#[inline]
fn check_entry(cfg: &PagingConfig, level: u8, e: u64, ps: bool, acc: &mut Access) -> Result<(), WalkError> {
    if e & pte::P == 0 {
        return Err(WalkError { level, kind: WalkErrorKind::NotPresent });
    }
    let bad = e & cfg.reserved(level, ps);
    if bad != 0 {
        return Err(WalkError { level, kind: WalkErrorKind::ReservedBits { bits: bad } });
    }
    acc.writable &= e & pte::RW != 0;
    acc.user &= e & pte::US != 0;
    acc.nx |= cfg.nx_enabled && e & pte::NX != 0;
    Ok(())
}

/// Builds the translation for a leaf entry `e` mapping a page of `size`.
#[inline]
fn leaf<K: FrameKind>(va: GuestVirtAddr, e: u64, size: PageSize, access: Access) -> Translation<K> {
    let low = size.bytes() - 1;
    Translation {
        page_frame: Frame::new((e & pte::ADDR & !low) >> PAGE_SHIFT),
        page_size: size,
        page_offset: va.0 & low,
        access,
    }
}

/// Translates `va` through the tables rooted at `root`.
///
/// Reads one 8-byte entry per level (at most five reads), allocates nothing and cannot panic.
/// The result does not depend on anything but the table contents, `cfg` and `va`.
pub fn walk<K: FrameKind, R: FrameReader<K> + ?Sized>(
    reader: &mut R,
    root: Frame<K>,
    cfg: &PagingConfig,
    va: GuestVirtAddr,
) -> Result<Translation<K>, WalkError> {
    let top = cfg.mode.levels();
    if !cfg.mode.is_canonical(va) {
        return Err(WalkError { level: top, kind: WalkErrorKind::NonCanonical });
    }
    let mut acc = Access { writable: true, user: true, nx: false };
    let mut table = root;
    // Upper levels (PML5/PML4 down to PD): an entry is a table or, at 3 and 2, a huge page.
    // The range is fixed by the mode, so hostile entries (loops back to the root, …) cannot
    // lengthen the walk.
    let mut level = top;
    while level >= 2 {
        let e = read_entry(reader, table, level, index(va, level))?;
        let ps = e & pte::PS != 0;
        check_entry(cfg, level, e, ps, &mut acc)?;
        // PS at 4/5 (and at 3 without gbpages) was refused as reserved by `check_entry`.
        if ps {
            let size = if level == 3 { PageSize::Size1G } else { PageSize::Size2M };
            return Ok(leaf(va, e, size, acc));
        }
        table = Frame::new((e & pte::ADDR) >> PAGE_SHIFT);
        level -= 1;
    }
    // PT level: bit 7 is PAT here, never PS.
    let e = read_entry(reader, table, 1, index(va, 1))?;
    check_entry(cfg, 1, e, false, &mut acc)?;
    Ok(leaf(va, e, PageSize::Size4K, acc))
}

#[cfg(test)]
mod tests {
    use super::testing::{FrameArena, FrameSlot, PageTableBuilder};
    use super::*;
    use crate::addr::{Gfn, Guest, Machine, Mfn};
    use std::vec;
    use std::vec::Vec;

    fn slots(n: usize) -> Vec<FrameSlot> {
        vec![FrameSlot::EMPTY; n]
    }

    fn cfg4() -> PagingConfig {
        PagingConfig::new(PagingMode::Level4, 46).unwrap()
    }

    const FLAGS: u64 = pte::P | pte::RW | pte::US;

    #[test]
    fn config_validation_and_cr3() {
        assert_eq!(PagingConfig::new(PagingMode::Level4, 31), Err(ConfigError::MaxPhysBits(31)));
        assert_eq!(PagingConfig::new(PagingMode::Level4, 53), Err(ConfigError::MaxPhysBits(53)));
        let c = PagingConfig::new(PagingMode::Level5, 52).unwrap();
        assert_eq!(c.common_rsvd, 0);
        assert_eq!(cfg4().common_rsvd, 0x000f_c000_0000_0000);
        assert_eq!(cfg4().with_nx(false).common_rsvd, 0x800f_c000_0000_0000);
        // PCID bits, the no-flush bit and bits above MAXPHYADDR are not part of the root.
        let root: Mfn = cfg4().root_from_cr3(0x8000_4000_1234_5fff);
        assert_eq!(root, Mfn::new(0x12345));
    }

    #[test]
    fn canonical_addresses() {
        let m4 = PagingMode::Level4;
        assert!(m4.is_canonical(GuestVirtAddr(0x0000_7fff_ffff_ffff)));
        assert!(m4.is_canonical(GuestVirtAddr(0xffff_8000_0000_0000)));
        assert!(!m4.is_canonical(GuestVirtAddr(0x0000_8000_0000_0000)));
        assert!(!m4.is_canonical(GuestVirtAddr(0xfff0_0000_0000_0000)));
        let m5 = PagingMode::Level5;
        assert!(m5.is_canonical(GuestVirtAddr(0x00ff_ffff_ffff_ffff)));
        assert!(m5.is_canonical(GuestVirtAddr(0xff00_0000_0000_0000)));
        assert!(!m5.is_canonical(GuestVirtAddr(0x0100_0000_0000_0000)));
    }

    #[test]
    fn four_kib_page_and_one_read_per_level() {
        let mut s = slots(8);
        let mut b = PageTableBuilder::<Machine>::new(FrameArena::new(&mut s, 0x100), PagingMode::Level4).unwrap();
        let va = 0x0000_7f12_3456_7000u64;
        b.map(va, PageSize::Size4K, Mfn::new(0xabcde), FLAGS | pte::NX).unwrap();
        let root = b.root();
        let mut arena = b.into_arena();
        arena.reset_reads();
        let t = walk(&mut arena, root, &cfg4(), GuestVirtAddr(va + 0x9a)).unwrap();
        assert_eq!(arena.reads(), 4);
        assert_eq!(t.page_frame, Mfn::new(0xabcde));
        assert_eq!(t.frame(), Mfn::new(0xabcde));
        assert_eq!(t.page_size, PageSize::Size4K);
        assert_eq!(t.page_offset, 0x9a);
        assert_eq!(t.frame_offset(), 0x9a);
        assert_eq!(t.phys_addr(), 0xabcde09a);
        assert_eq!(t.access, Access { writable: true, user: true, nx: true });
        // Five levels, five reads.
        let mut s5 = slots(8);
        let mut b = PageTableBuilder::<Machine>::new(FrameArena::new(&mut s5, 0x100), PagingMode::Level5).unwrap();
        let va5 = 0x00ab_cdef_1234_5000u64;
        b.map(va5, PageSize::Size4K, Mfn::new(0x77), FLAGS).unwrap();
        let root = b.root();
        let mut arena = b.into_arena();
        arena.reset_reads();
        let c5 = PagingConfig::new(PagingMode::Level5, 46).unwrap();
        let t = walk(&mut arena, root, &c5, GuestVirtAddr(va5 + 1)).unwrap();
        assert_eq!(arena.reads(), 5);
        assert_eq!(t.frame(), Mfn::new(0x77));
        // The same address under 4-level paging is not canonical.
        let e = walk(&mut arena, root, &cfg4(), GuestVirtAddr(va5)).unwrap_err();
        assert_eq!(e, WalkError { level: 4, kind: WalkErrorKind::NonCanonical });
    }

    #[test]
    fn huge_pages_report_size_offset_and_subframe() {
        let mut s = slots(8);
        let mut b = PageTableBuilder::<Guest>::new(FrameArena::new(&mut s, 0x10), PagingMode::Level4).unwrap();
        let va2m = 0xffff_8880_0020_0000u64;
        let va1g = 0xffff_8881_4000_0000u64;
        b.map(va2m, PageSize::Size2M, Gfn::new(0x400), FLAGS).unwrap();
        b.map(va1g, PageSize::Size1G, Gfn::new(0x80000), pte::P).unwrap();
        let root = b.root();
        let mut arena = b.into_arena();
        arena.reset_reads();
        let t = walk(&mut arena, root, &cfg4(), GuestVirtAddr(va2m + 0x1f_f123)).unwrap();
        assert_eq!(arena.reads(), 3);
        assert_eq!((t.page_frame, t.page_size, t.page_offset), (Gfn::new(0x400), PageSize::Size2M, 0x1f_f123));
        assert_eq!(t.frame(), Gfn::new(0x5ff));
        assert_eq!(t.frame_offset(), 0x123);
        let t = walk(&mut arena, root, &cfg4(), GuestVirtAddr(va1g + 0x3fff_ffff)).unwrap();
        assert_eq!((t.page_size, t.page_offset), (PageSize::Size1G, 0x3fff_ffff));
        assert_eq!(t.frame(), Gfn::new(0x80000 + 0x3ffff));
        // The 1 GiB leaf is read-only and supervisor-only even though upper levels allow both.
        assert_eq!(t.access, Access { writable: false, user: false, nx: false });
        // rebase stays inside the page and refuses addresses outside it.
        let r = t.rebase(GuestVirtAddr(va1g + 0x3fff_ffff), GuestVirtAddr(va1g + 5)).unwrap();
        assert_eq!(r.page_offset, 5);
        assert_eq!(t.rebase(GuestVirtAddr(va1g), GuestVirtAddr(va1g + (1 << 30))), None);
    }

    #[test]
    fn pat_bit_in_huge_page_frame_is_not_address() {
        // Bit 12 of a 2 MiB entry is PAT, not an address bit.
        let mut s = slots(8);
        let mut b = PageTableBuilder::<Machine>::new(FrameArena::new(&mut s, 0x10), PagingMode::Level4).unwrap();
        let va = 0x4000_0000u64;
        let (pd, idx) = b.entry_location(va, 2).unwrap();
        b.set_entry(pd, idx, 0x1234_0000_0000 | 0x1000 | pte::PS | FLAGS).unwrap();
        let root = b.root();
        let t = walk(b.arena_mut(), root, &cfg4(), GuestVirtAddr(va)).unwrap();
        assert_eq!(t.page_frame, Mfn::new(0x1_2340_0000));
    }

    #[test]
    fn access_accumulates_across_levels() {
        let mut s = slots(8);
        let mut b = PageTableBuilder::<Machine>::new(FrameArena::new(&mut s, 0x10), PagingMode::Level4).unwrap();
        let va = 0x1000u64;
        b.map(va, PageSize::Size4K, Mfn::new(9), FLAGS).unwrap();
        let root = b.root();
        let cfg = cfg4();
        let t = walk(b.arena_mut(), root, &cfg, GuestVirtAddr(va)).unwrap();
        assert_eq!(t.access, Access { writable: true, user: true, nx: false });
        // Clear RW in the PDPT entry, set NX in the PML4 entry: both propagate to the leaf.
        let (pdpt, i3) = b.entry_location(va, 3).unwrap();
        let e3 = b.arena().read_u64(pdpt, i3 * 8).unwrap();
        b.set_entry(pdpt, i3, e3 & !pte::RW).unwrap();
        let (pml4, i4) = b.entry_location(va, 4).unwrap();
        let e4 = b.arena().read_u64(pml4, i4 * 8).unwrap();
        b.set_entry(pml4, i4, e4 | pte::NX).unwrap();
        let t = walk(b.arena_mut(), root, &cfg, GuestVirtAddr(va)).unwrap();
        assert_eq!(t.access, Access { writable: false, user: true, nx: true });
        // Clearing U/S at the PD level makes the page supervisor-only.
        let (pd, i2) = b.entry_location(va, 2).unwrap();
        let e2 = b.arena().read_u64(pd, i2 * 8).unwrap();
        b.set_entry(pd, i2, e2 & !pte::US).unwrap();
        let t = walk(b.arena_mut(), root, &cfg, GuestVirtAddr(va)).unwrap();
        assert!(!t.access.user);
        // With EFER.NXE off, the NX bit in the PML4 entry is reserved.
        let e = walk(b.arena_mut(), root, &cfg.with_nx(false), GuestVirtAddr(va)).unwrap_err();
        assert_eq!(e, WalkError { level: 4, kind: WalkErrorKind::ReservedBits { bits: pte::NX } });
    }

    #[test]
    fn failures_name_level_and_reason() {
        let mut s = slots(8);
        let mut b = PageTableBuilder::<Machine>::new(FrameArena::new(&mut s, 0x10), PagingMode::Level4).unwrap();
        let va = 0x7000_0000_0000u64;
        b.map(va, PageSize::Size4K, Mfn::new(9), FLAGS).unwrap();
        let root = b.root();
        let cfg = cfg4();
        // Not present at PML4 for another address.
        let e = walk(b.arena_mut(), root, &cfg, GuestVirtAddr(0x1000)).unwrap_err();
        assert_eq!(e, WalkError { level: 4, kind: WalkErrorKind::NotPresent });
        // Not present at PT level (same tables, neighbour page).
        let e = walk(b.arena_mut(), root, &cfg, GuestVirtAddr(va + 0x1000)).unwrap_err();
        assert_eq!(e, WalkError { level: 1, kind: WalkErrorKind::NotPresent });
        // PS at PML4 is reserved.
        let (pml4, i4) = b.entry_location(va, 4).unwrap();
        let e4 = b.arena().read_u64(pml4, i4 * 8).unwrap();
        b.set_entry(pml4, i4, e4 | pte::PS).unwrap();
        let e = walk(b.arena_mut(), root, &cfg, GuestVirtAddr(va)).unwrap_err();
        assert_eq!(e, WalkError { level: 4, kind: WalkErrorKind::ReservedBits { bits: pte::PS } });
        b.set_entry(pml4, i4, e4).unwrap();
        // Frame bits above MAXPHYADDR (46) in the PD entry.
        let (pd, i2) = b.entry_location(va, 2).unwrap();
        let e2 = b.arena().read_u64(pd, i2 * 8).unwrap();
        b.set_entry(pd, i2, e2 | 1 << 47).unwrap();
        let e = walk(b.arena_mut(), root, &cfg, GuestVirtAddr(va)).unwrap_err();
        assert_eq!(e, WalkError { level: 2, kind: WalkErrorKind::ReservedBits { bits: 1 << 47 } });
        // …which MAXPHYADDR 52 accepts, and then the table frame does not exist.
        let wide = PagingConfig::new(PagingMode::Level4, 52).unwrap();
        let e = walk(b.arena_mut(), root, &wide, GuestVirtAddr(va)).unwrap_err();
        let missing = ((e2 | 1 << 47) & pte::ADDR) >> 12;
        assert_eq!(e, WalkError { level: 1, kind: WalkErrorKind::Frame(FrameError::NotMapped { frame: missing }) });
        // Huge-page reserved bits: a 2 MiB entry with bit 13 set.
        b.set_entry(pd, i2, 0x20_0000 | 1 << 13 | pte::PS | FLAGS).unwrap();
        let e = walk(b.arena_mut(), root, &cfg, GuestVirtAddr(va)).unwrap_err();
        assert_eq!(e, WalkError { level: 2, kind: WalkErrorKind::ReservedBits { bits: 1 << 13 } });
        // A 1 GiB entry with bit 20 set; and PS at PDPT without gbpages.
        let (pdpt, i3) = b.entry_location(va, 3).unwrap();
        b.set_entry(pdpt, i3, 0x4000_0000 | 1 << 20 | pte::PS | FLAGS).unwrap();
        let e = walk(b.arena_mut(), root, &cfg, GuestVirtAddr(va)).unwrap_err();
        assert_eq!(e, WalkError { level: 3, kind: WalkErrorKind::ReservedBits { bits: 1 << 20 } });
        b.set_entry(pdpt, i3, 0x4000_0000 | pte::PS | FLAGS).unwrap();
        assert!(walk(b.arena_mut(), root, &cfg, GuestVirtAddr(va)).is_ok());
        let e = walk(b.arena_mut(), root, &cfg.with_gbpages(false), GuestVirtAddr(va)).unwrap_err();
        assert_eq!(e, WalkError { level: 3, kind: WalkErrorKind::ReservedBits { bits: pte::PS } });
        // An unreadable root.
        let e = walk(b.arena_mut(), Mfn::new(0xdead), &cfg, GuestVirtAddr(va)).unwrap_err();
        assert_eq!(e, WalkError { level: 4, kind: WalkErrorKind::Frame(FrameError::NotMapped { frame: 0xdead }) });
    }

    #[test]
    fn self_referencing_tables_end_after_fixed_levels() {
        // Every PML4 entry points back at the PML4 itself (a recursive mapping, or a hostile
        // loop): the walk still reads exactly four entries and treats the root as each level.
        let mut s = slots(2);
        let mut arena = FrameArena::<Machine>::new(&mut s, 0x10);
        let root = arena.alloc().unwrap();
        for i in 0..512 {
            arena.write_u64(root, i * 8, root.base() | FLAGS).unwrap();
        }
        arena.reset_reads();
        let t = walk(&mut arena, root, &cfg4(), GuestVirtAddr(0x1234)).unwrap();
        assert_eq!(arena.reads(), 4);
        assert_eq!(t.frame(), root);
        assert_eq!(t.frame_offset(), 0x234);
    }

    #[test]
    fn page_index_per_level() {
        let va = GuestVirtAddr(0x1ff << 48 | 0x100 << 39 | 0x0ab << 30 | 0x002 << 21 | 0x1fe << 12 | 0x123);
        assert_eq!(index(va, 1), 0x1fe);
        assert_eq!(index(va, 2), 0x002);
        assert_eq!(index(va, 3), 0x0ab);
        assert_eq!(index(va, 4), 0x100);
        assert_eq!(index(va, 5), 0x1ff);
    }

    #[test]
    fn page_size_helpers() {
        assert_eq!(PageSize::Size4K.bytes(), 4096);
        assert_eq!(PageSize::Size2M.bytes(), 2 << 20);
        assert_eq!(PageSize::Size1G.bytes(), 1 << 30);
        assert_eq!(PageSize::Size1G.leaf_level(), 3);
        assert_eq!(PagingMode::Level5.levels(), 5);
    }
}
