//! Property tests of the page-table walker, the translation cache and `GuestMemory` against an
//! independently written reference translator, on random (often hostile) page-table trees.
//!
//! The guest memory model here is deliberately separate from `walker::testing`: frames live
//! in a hash map; frames in a "missing" range cannot be read; every other frame reads as a
//! deterministic pattern (so huge pages and wild frame numbers have content without storing
//! it).

use std::collections::HashMap;

use proptest::prelude::*;
use semguard_core::addr::{Frame, GuestVirtAddr, Machine, Mfn};
use semguard_core::mem::{FrameError, FrameReader, MemError, VirtMemory};
use semguard_core::tcache::TranslationCache;
use semguard_core::vmem::GuestMemory;
use semguard_core::walker::{walk, PagingConfig, PagingMode, Translation, WalkError, WalkErrorKind};

/// Table frames of a generated tree; the root is the first.
const TABLES: [u64; 8] = [0x1000, 0x1007, 0x100e, 0x1015, 0x101c, 0x1023, 0x102a, 0x1031];
/// Frames that do not exist.
const MISSING: std::ops::Range<u64> = 0x9_0000..0x9_0100;
/// Entry indices populated in every table, so that random addresses hit entries often.
const IDX: [u64; 5] = [0, 1, 255, 256, 511];

struct MapMem {
    frames: HashMap<u64, Vec<u8>>,
    reads: u64,
}

fn pattern(frame: u64, off: u64) -> u8 {
    let x = (frame << 12 | off).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x >> 56) as u8
}

impl MapMem {
    /// The memory model shared by the reader and the reference: `None` = unreadable frame.
    fn byte(&self, frame: u64, off: u64) -> Option<u8> {
        if MISSING.contains(&frame) {
            return None;
        }
        match self.frames.get(&frame) {
            Some(f) => Some(f[off as usize]),
            None => Some(pattern(frame, off)),
        }
    }
    fn u64_at(&self, frame: u64, off: u64) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..8 {
            v |= (self.byte(frame, off + i)? as u64) << (8 * i);
        }
        Some(v)
    }
}

impl FrameReader<Machine> for MapMem {
    fn read_frame(&mut self, frame: Mfn, offset: usize, buf: &mut [u8]) -> Result<(), FrameError> {
        self.reads += 1;
        if offset.checked_add(buf.len()).is_none_or(|e| e > 4096) {
            return Err(FrameError::OutOfBounds);
        }
        for (i, b) in buf.iter_mut().enumerate() {
            *b = self.byte(frame.raw(), (offset + i) as u64).ok_or(FrameError::NotMapped { frame: frame.raw() })?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
struct Setup {
    levels: u32,
    maxphy: u32,
    nxe: bool,
    gbpages: bool,
    /// entries[t][j]: entry IDX[j] of table TABLES[t].
    entries: Vec<Vec<u64>>,
}

impl Setup {
    fn cfg(&self) -> PagingConfig {
        let mode = if self.levels == 5 { PagingMode::Level5 } else { PagingMode::Level4 };
        PagingConfig::new(mode, self.maxphy as u8).unwrap().with_nx(self.nxe).with_gbpages(self.gbpages)
    }
    fn mem(&self) -> MapMem {
        let mut frames = HashMap::new();
        for (t, entries) in self.entries.iter().enumerate() {
            let mut f = vec![0u8; 4096];
            for (j, e) in entries.iter().enumerate() {
                let at = IDX[j] as usize * 8;
                f[at..at + 8].copy_from_slice(&e.to_le_bytes());
            }
            frames.insert(TABLES[t], f);
        }
        MapMem { frames, reads: 0 }
    }
}

// ---------------------------------------------------------------------------------------------
// Reference translator: recursive, bit-by-bit, written from the SDM tables without looking at
// the walker's masks.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RefErr {
    NotPresent,
    Unreadable(u64),
    Reserved(u64),
    NonCanonical,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RefOk {
    phys: u64,
    size: u64,
    w: bool,
    u: bool,
    nx: bool,
}

fn bit(v: u64, b: u32) -> bool {
    (v >> b) & 1 == 1
}

fn ref_reserved(s: &Setup, level: u32, e: u64) -> u64 {
    let mut bad = 0u64;
    for b in s.maxphy..52 {
        if bit(e, b) {
            bad |= 1 << b;
        }
    }
    if !s.nxe && bit(e, 63) {
        bad |= 1 << 63;
    }
    let ps = bit(e, 7);
    if ps && (level >= 4 || (level == 3 && !s.gbpages)) {
        bad |= 1 << 7;
    }
    let huge_low = match level {
        3 if s.gbpages => 13..30,
        2 => 13..21,
        _ => 0..0,
    };
    if ps {
        for b in huge_low {
            if bit(e, b) {
                bad |= 1 << b;
            }
        }
    }
    bad
}

fn ref_step(
    m: &MapMem,
    s: &Setup,
    level: u32,
    table: u64,
    va: u64,
    acc: (bool, bool, bool),
) -> Result<RefOk, (u8, RefErr)> {
    let idx = (va >> (12 + 9 * (level - 1))) % 512;
    let e = m.u64_at(table, idx * 8).ok_or((level as u8, RefErr::Unreadable(table)))?;
    if !bit(e, 0) {
        return Err((level as u8, RefErr::NotPresent));
    }
    let bad = ref_reserved(s, level, e);
    if bad != 0 {
        return Err((level as u8, RefErr::Reserved(bad)));
    }
    let acc = (acc.0 && bit(e, 1), acc.1 && bit(e, 2), acc.2 || (s.nxe && bit(e, 63)));
    let addr = e % (1 << 52);
    let leaf_shift = match level {
        1 => Some(12),
        2 if bit(e, 7) => Some(21),
        3 if bit(e, 7) => Some(30),
        _ => None,
    };
    match leaf_shift {
        Some(sh) => {
            let size = 1u64 << sh;
            Ok(RefOk { phys: (addr / size) * size + va % size, size, w: acc.0, u: acc.1, nx: acc.2 })
        }
        None => ref_step(m, s, level - 1, addr / 4096, va, acc),
    }
}

fn reference(m: &MapMem, s: &Setup, va: u64) -> Result<RefOk, (u8, RefErr)> {
    let va_bits = if s.levels == 5 { 57 } else { 48 };
    let top = va >> (va_bits - 1);
    if top != 0 && top != (1u64 << (65 - va_bits)) - 1 {
        return Err((s.levels as u8, RefErr::NonCanonical));
    }
    ref_step(m, s, s.levels, TABLES[0], va, (true, true, false))
}

fn as_ref(r: &Result<Translation<Machine>, WalkError>) -> Result<RefOk, (u8, RefErr)> {
    match r {
        Ok(t) => {
            assert!(t.page_offset < t.page_size.bytes());
            assert_eq!(t.frame().base() + t.frame_offset() as u64, t.phys_addr());
            Ok(RefOk {
                phys: t.phys_addr(),
                size: t.page_size.bytes(),
                w: t.access.writable,
                u: t.access.user,
                nx: t.access.nx,
            })
        }
        Err(e) => Err((
            e.level,
            match e.kind {
                WalkErrorKind::NotPresent => RefErr::NotPresent,
                WalkErrorKind::Frame(FrameError::NotMapped { frame }) => RefErr::Unreadable(frame),
                WalkErrorKind::Frame(FrameError::OutOfBounds) => panic!("walker read out of frame bounds"),
                WalkErrorKind::ReservedBits { bits } => RefErr::Reserved(bits),
                WalkErrorKind::NonCanonical => RefErr::NonCanonical,
            },
        )),
    }
}

fn to_walk_error((level, e): (u8, RefErr)) -> WalkError {
    let kind = match e {
        RefErr::NotPresent => WalkErrorKind::NotPresent,
        RefErr::Unreadable(frame) => WalkErrorKind::Frame(FrameError::NotMapped { frame }),
        RefErr::Reserved(bits) => WalkErrorKind::ReservedBits { bits },
        RefErr::NonCanonical => WalkErrorKind::NonCanonical,
    };
    WalkError { level, kind }
}

// ---------------------------------------------------------------------------------------------
// Generators.

fn flags() -> impl Strategy<Value = u64> {
    // Low flag bits (P added by the caller), PS with some probability, NX, and sometimes the
    // ignored/protection-key bits 62:52.
    (any::<u16>(), prop::bool::weighted(0.3), prop::bool::weighted(0.3), prop::option::weighted(0.2, 0u64..0x800))
        .prop_map(|(low, ps, nx, high)| {
            let mut f = (low as u64 & 0xf7e) | if ps { 1 << 7 } else { 0 };
            if nx {
                f |= 1 << 63;
            }
            if let Some(h) = high {
                f |= h << 52;
            }
            f
        })
}

fn entry() -> impl Strategy<Value = u64> {
    let table = (0..TABLES.len(), flags()).prop_map(|(t, f)| TABLES[t] << 12 | (f & !(1 << 7)) | 1);
    let table_or_huge = (0..TABLES.len(), flags()).prop_map(|(t, f)| TABLES[t] << 12 | f | 1);
    // Frames aligned for 2 MiB or 1 GiB pages, or unaligned (reserved low bits in a huge
    // page entry; fine for a 4 KiB one).
    let leaf = (0u64..1 << 14, 0u32..10, flags()).prop_map(|(fr, align, f)| {
        let fr = match align {
            0..=4 => fr << 9,
            5..=7 => (fr & 0xff) << 18,
            _ => fr,
        };
        fr << 12 | f | 1
    });
    let missing = (MISSING, flags()).prop_map(|(fr, f)| fr << 12 | (f & !(1 << 7)) | 1);
    let above_maxphy = (36u32..52, 0..TABLES.len(), flags()).prop_map(|(b, t, f)| 1u64 << b | TABLES[t] << 12 | f | 1);
    prop_oneof![
        1 => any::<u64>().prop_map(|v| v & !1),
        6 => table,
        2 => table_or_huge,
        4 => leaf,
        1 => missing,
        1 => above_maxphy,
        1 => any::<u64>().prop_map(|v| v | 1),
    ]
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        prop_oneof![Just(4u32), Just(5u32)],
        prop_oneof![Just(36u32), Just(40), Just(46), Just(52)],
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.8),
        prop::collection::vec(prop::collection::vec(entry(), IDX.len()), TABLES.len()),
    )
        .prop_map(|(levels, maxphy, nxe, gbpages, entries)| Setup { levels, maxphy, nxe, gbpages, entries })
}

/// Addresses whose indices are mostly populated ones; canonical for `levels` 90% of the time.
fn address() -> impl Strategy<Value = (u64, bool)> {
    (any::<u64>(), prop::collection::vec(prop::option::weighted(0.95, 0..IDX.len()), 5), prop::bool::weighted(0.9))
        .prop_map(|(raw, idx, canon)| {
            let mut va = raw;
            for (l, i) in idx.iter().enumerate() {
                if let Some(i) = i {
                    let sh = 12 + 9 * l as u32;
                    va = va & !(0x1ff << sh) | IDX[*i] << sh;
                }
            }
            (va, canon)
        })
}

fn canonicalize(va: u64, levels: u32) -> u64 {
    let sh = if levels == 5 { 7 } else { 16 };
    ((va << sh) as i64 >> sh) as u64
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn walker_agrees_with_reference(s in setup(), addrs in prop::collection::vec(address(), 24)) {
        let mut m = s.mem();
        let cfg = s.cfg();
        for (raw, canon) in addrs {
            let va = if canon { canonicalize(raw, s.levels) } else { raw };
            m.reads = 0;
            let got = walk(&mut m, Frame::new(TABLES[0]), &cfg, GuestVirtAddr(va));
            let want = reference(&m, &s, va);
            prop_assert_eq!(as_ref(&got), want, "va {:#x}", va);
            // One 8-byte read per level walked, never more than the mode's levels.
            let walked = match &got {
                Ok(t) => s.levels as u64 + 1 - t.page_size.leaf_level() as u64,
                Err(e) if e.kind == WalkErrorKind::NonCanonical => 0,
                Err(e) => s.levels as u64 + 1 - e.level as u64,
            };
            prop_assert_eq!(m.reads, walked);
        }
    }

    #[test]
    fn cached_translation_equals_uncached(s in setup(), addrs in prop::collection::vec(address(), 48)) {
        let mut m = s.mem();
        let cfg = s.cfg();
        let root = Mfn::new(TABLES[0]);
        // A tiny cache (collisions, evictions) and the default one.
        let mut small = TranslationCache::<Machine, 4>::new();
        let mut big = TranslationCache::<Machine>::new();
        for round in 0..2 {
            for &(raw, canon) in &addrs {
                let va = GuestVirtAddr(if canon { canonicalize(raw, s.levels) } else { raw });
                let plain = walk(&mut m, root, &cfg, va);
                prop_assert_eq!(small.translate(&mut m, root, &cfg, va), plain);
                prop_assert_eq!(big.translate(&mut m, root, &cfg, va), plain);
                if plain.is_ok() {
                    m.reads = 0;
                    prop_assert_eq!(big.translate(&mut m, root, &cfg, va), plain);
                    prop_assert_eq!(m.reads, 0, "successful translation must be a hit right after");
                }
            }
            if round == 0 {
                small.new_epoch();
            }
        }
    }

    #[test]
    fn guest_memory_reads_match_reference(
        s in setup(),
        reads in prop::collection::vec((address(), 0u64..80, 1usize..96), 16),
    ) {
        let mut m = s.mem();
        let cfg = s.cfg();
        let root = Mfn::new(TABLES[0]);
        let mut cache = TranslationCache::<Machine>::new();
        for ((raw, canon), back, len) in reads {
            let va = if canon { canonicalize(raw, s.levels) } else { raw };
            // Start near the end of a page so that many reads cross a boundary.
            let va = (va | 0xfff).wrapping_sub(back);
            let mut want = vec![0u8; len];
            let mut want_err = None;
            if va.checked_add(len as u64 - 1).is_none() {
                want_err = Some(MemError::Overflow);
            } else {
                for (i, slot) in want.iter_mut().enumerate() {
                    let a = va + i as u64;
                    let byte = match reference(&m, &s, a) {
                        Ok(t) => m.byte(t.phys >> 12, t.phys & 0xfff).ok_or(WalkError {
                            level: 0,
                            kind: WalkErrorKind::Frame(FrameError::NotMapped { frame: t.phys >> 12 }),
                        }),
                        Err(e) => Err(to_walk_error(e)),
                    };
                    match byte {
                        Ok(b) => *slot = b,
                        Err(error) => {
                            want_err = Some(MemError::Walk { va: GuestVirtAddr(a), error });
                            break;
                        }
                    }
                }
            }
            let mut got = vec![0u8; len];
            let r = GuestMemory::uncached(&mut m, root, cfg).read_bytes(GuestVirtAddr(va), &mut got);
            let mut got_cached = vec![0u8; len];
            let rc = GuestMemory::new(&mut m, &mut cache, root, cfg).read_bytes(GuestVirtAddr(va), &mut got_cached);
            prop_assert_eq!(r, rc);
            match want_err {
                Some(e) => prop_assert_eq!(r, Err(e), "va {:#x} len {}", va, len),
                None => {
                    prop_assert_eq!(r, Ok(()), "va {:#x} len {}", va, len);
                    prop_assert_eq!(&got, &want);
                    prop_assert_eq!(&got_cached, &want);
                }
            }
        }
    }
}

/// The generators do produce each outcome (guards against a property that passes vacuously).
#[test]
fn generators_cover_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen = [0usize; 8];
    for _ in 0..400 {
        let s = setup().new_tree(&mut runner).unwrap().current();
        let m = s.mem();
        for _ in 0..24 {
            let (raw, canon) = address().new_tree(&mut runner).unwrap().current();
            let va = if canon { canonicalize(raw, s.levels) } else { raw };
            let k = match reference(&m, &s, va) {
                Ok(t) if t.size == 4096 => 0,
                Ok(t) if t.size == 2 << 20 => 1,
                Ok(_) => 2,
                Err((_, RefErr::NotPresent)) => 3,
                Err((_, RefErr::Unreadable(_))) => 4,
                Err((l, RefErr::Reserved(b))) if b == 1 << 7 && l >= 4 => 5,
                Err((_, RefErr::Reserved(_))) => 6,
                Err((_, RefErr::NonCanonical)) => 7,
            };
            seen[k] += 1;
        }
    }
    eprintln!("outcome counts {seen:?}");
    assert!(seen.iter().all(|&n| n >= 20), "outcome counts {seen:?}");
}
