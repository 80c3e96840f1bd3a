//! semguard's page-table walker side by side with memflow's x86-64 translation (issue 7):
//! the same x86-64 4-level page tables in one flat physical-memory image, the same virtual
//! addresses, both answers checked equal before anything is timed, then timed in one run.
//!
//!     cargo bench -p semguard-core --bench vs_memflow
//!
//! Both read page-table entries from the same `Vec<u8>` (physical address = offset): semguard
//! through a bounds-checked `FrameReader`, memflow through its `MappedPhysicalMemory` connector.
//! Uncached: semguard's `walker::walk` against memflow's `VirtualTranslate3::virt_to_phys` (the
//! architecture translator alone). Cached: semguard's `TranslationCache` against memflow's
//! `CachedVirtualTranslate` (its TLB) over `DirectTranslate`. The address set is larger than
//! semguard's cache on purpose in one case (misses included) and fits it in the other.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use memflow::architecture::x86::x64;
use memflow::connector::MappedPhysicalMemory;
use memflow::mem::{CachedVirtualTranslate, DirectTranslate, MemoryMap, VirtualTranslate2, VirtualTranslate3};
use memflow::cglue::tuple::CTup3;
use memflow::types::{umem, Address, PhysicalAddress};
use semguard_core::addr::{Frame, GuestVirtAddr, Machine};
use semguard_core::mem::{FrameError, FrameReader};
use semguard_core::tcache::TranslationCache;
use semguard_core::walker::testing::{FrameArena, FrameSlot, PageTableBuilder};
use semguard_core::walker::{pte, walk, PageSize, PagingConfig, PagingMode};

const FIRST_FRAME: u64 = 0x10;
const SLOTS: usize = 1024;

/// Flat physical memory: frame `n` is `image[n * 4096..]`.
struct FlatPhys<'a>(&'a [u8]);

impl FrameReader<Machine> for FlatPhys<'_> {
    fn read_frame(&mut self, frame: Frame<Machine>, offset: usize, buf: &mut [u8]) -> Result<(), FrameError> {
        let start = usize::try_from(frame.base()).map_err(|_| FrameError::NotMapped { frame: frame.raw() })?.checked_add(offset);
        let src = start
            .and_then(|s| Some((s, s.checked_add(buf.len())?)))
            .and_then(|(s, e)| self.0.get(s..e))
            .ok_or(FrameError::NotMapped { frame: frame.raw() })?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// Page tables for a process-like address space: text/data near 4 MiB, a heap, a stack below
/// 128 TiB, a few 2 MiB pages, and scattered pages whose tables are all distinct. Returns the
/// flat image, the root frame and the virtual addresses to translate.
fn address_space() -> (Vec<u8>, u64, Vec<u64>) {
    let mut slots = vec![FrameSlot::EMPTY; SLOTS];
    let mut b = PageTableBuilder::new(FrameArena::new(&mut slots, FIRST_FRAME), PagingMode::Level4).expect("arena");
    let flags = pte::P | pte::RW | pte::US;
    let mut vas = Vec::new();
    let add = |b: &mut PageTableBuilder<'_, Machine>, va: u64, vas: &mut Vec<u64>| {
        b.map_new(va, flags).expect("map 4K");
        vas.push(va + 0x123);
    };
    for i in 0..64 {
        add(&mut b, 0x40_0000 + i * 0x1000, &mut vas); // text and data
        add(&mut b, 0x4c_0000 + i * 0x1000, &mut vas); // heap
        add(&mut b, 0x7fff_ffde_0000 + i * 0x1000, &mut vas); // stack
    }
    for i in 0..64u64 {
        // A distinct PML4/PDPT/PD path per page (worst case for both translators' caches).
        add(&mut b, 0x1000_0000_0000 + i * 0x4020_1000, &mut vas);
    }
    for i in 0..8u64 {
        let va = 0x2000_0000 + i * 0x20_0000;
        b.map(va, PageSize::Size2M, Frame::new(0x8_0000 + i * 512), flags).expect("map 2M");
        vas.push(va + 0x1_2345);
    }
    let root = b.root().raw();
    let arena = b.into_arena();
    let mut image = vec![0u8; ((FIRST_FRAME as usize) + SLOTS) * 4096];
    for n in FIRST_FRAME..FIRST_FRAME + SLOTS as u64 {
        if let Some(data) = arena.frame(Frame::new(n)) {
            let at = n as usize * 4096;
            image[at..at + 4096].copy_from_slice(data);
        }
    }
    (image, root, vas)
}

fn compare(c: &mut Criterion) {
    let (mut image, root, vas) = address_space();
    let cfg = PagingConfig::new(PagingMode::Level4, 52).expect("cfg");
    let root_frame = Frame::<Machine>::new(root);

    // semguard's answers, from the image memflow will read too.
    let ours: Vec<u64> = {
        let mut phys = FlatPhys(&image);
        vas.iter()
            .map(|&va| walk(&mut phys, root_frame, &cfg, GuestVirtAddr(va)).expect("semguard walk").phys_addr())
            .collect()
    };
    assert!(walk(&mut FlatPhys(&image), root_frame, &cfg, GuestVirtAddr(0x5000_0000)).is_err());
    let image_len = image.len();
    let mut map = MemoryMap::new();
    map.push(Address::null(), &mut image[..image_len]);
    let mut mem = MappedPhysicalMemory::with_info(map);
    let translator = x64::new_translator(Address::from(root << 12));
    for (&va, &want) in vas.iter().zip(&ours) {
        let got = translator.virt_to_phys(&mut mem, Address::from(va)).expect("memflow translate");
        assert_eq!(got.address().to_umem(), want, "memflow and semguard disagree on {va:#x}");
    }
    // And both refuse an unmapped address.
    assert!(translator.virt_to_phys(&mut mem, Address::from(0x5000_0000u64)).is_err());

    let mut group = c.benchmark_group("translate");
    // 264 addresses: more than semguard's 64-entry cache, so the cached rows include misses.
    let all = vas.clone();
    // 48 addresses of the text/heap/stack areas: a typical event's working set, fits both caches.
    let hot: Vec<u64> = vas.iter().step_by(4).take(48).copied().collect();

    for (name, set) in [("all-264", &all), ("hot-48", &hot)] {
        group.bench_with_input(BenchmarkId::new("memflow uncached", name), set, |bn, set| {
            bn.iter(|| {
                let mut acc = 0u64;
                for &va in set.iter() {
                    acc ^= translator.virt_to_phys(&mut mem, Address::from(black_box(va))).map_or(0, |p| p.address().to_umem());
                }
                acc
            })
        });
        // memflow's batch interface (how its VirtualDma translates a scatter list): one call
        // for the whole set, results through callbacks.
        let mut direct = DirectTranslate::new();
        {
            let mut got = Vec::new();
            let out = &mut |e: CTup3<PhysicalAddress, Address, umem>| {
                got.push((e.1.to_umem(), e.0.address().to_umem()));
                true
            };
            let fail = &mut |_: (memflow::error::Error, CTup3<Address, Address, umem>)| false;
            let addrs = set.iter().map(|&va| CTup3::<_, _, umem>(Address::from(va), Address::from(va), 1));
            direct.virt_to_phys_iter(&mut mem, &translator, addrs, &mut out.into(), &mut fail.into());
            got.sort_unstable();
            let mut want: Vec<(u64, u64)> =
                set.iter().map(|va| (*va, ours[vas.iter().position(|v| v == va).expect("va")])).collect();
            want.sort_unstable();
            assert_eq!(got, want, "memflow's batch translation disagrees with semguard ({name})");
        }
        group.bench_with_input(BenchmarkId::new("memflow batch uncached", name), set, |bn, set| {
            bn.iter(|| {
                let mut acc = 0u64;
                let mut failed = 0u32;
                let out = &mut |e: CTup3<PhysicalAddress, Address, umem>| {
                    acc ^= e.0.address().to_umem();
                    true
                };
                let fail = &mut |_: (memflow::error::Error, CTup3<Address, Address, umem>)| {
                    failed += 1;
                    true
                };
                direct.virt_to_phys_iter(
                    &mut mem,
                    &translator,
                    set.iter().map(|&va| CTup3::<_, _, umem>(Address::from(black_box(va)), Address::from(va), 1)),
                    &mut out.into(),
                    &mut fail.into(),
                );
                (acc, failed)
            })
        });
        let mut vat = CachedVirtualTranslate::builder(DirectTranslate::new())
            .arch(x64::ARCH)
            .build()
            .expect("memflow cached translate");
        group.bench_with_input(BenchmarkId::new("memflow cached", name), set, |bn, set| {
            bn.iter(|| {
                let mut acc = 0u64;
                for &va in set.iter() {
                    acc ^= vat
                        .virt_to_phys(&mut mem, &translator, Address::from(black_box(va)))
                        .map_or(0, |p| p.address().to_umem());
                }
                acc
            })
        });
    }
    drop(mem);

    let mut phys = FlatPhys(&image);
    for (name, set) in [("all-264", &all), ("hot-48", &hot)] {
        group.bench_with_input(BenchmarkId::new("semguard uncached", name), set, |bn, set| {
            bn.iter(|| {
                let mut acc = 0u64;
                for &va in set.iter() {
                    acc ^= walk(&mut phys, root_frame, &cfg, GuestVirtAddr(black_box(va))).map_or(0, |t| t.phys_addr());
                }
                acc
            })
        });
        let mut cache = TranslationCache::<Machine>::new();
        group.bench_with_input(BenchmarkId::new("semguard cached", name), set, |bn, set| {
            bn.iter(|| {
                let mut acc = 0u64;
                for &va in set.iter() {
                    acc ^= cache
                        .translate(&mut phys, root_frame, &cfg, GuestVirtAddr(black_box(va)))
                        .map_or(0, |t| t.phys_addr());
                }
                acc
            })
        });
        // What the module does per event: a new epoch, then the event's translations.
        let mut cache = TranslationCache::<Machine>::new();
        group.bench_with_input(BenchmarkId::new("semguard new epoch + cached", name), set, |bn, set| {
            bn.iter(|| {
                cache.new_epoch();
                let mut acc = 0u64;
                for &va in set.iter() {
                    acc ^= cache
                        .translate(&mut phys, root_frame, &cfg, GuestVirtAddr(black_box(va)))
                        .map_or(0, |t| t.phys_addr());
                }
                acc
            })
        });
    }
    group.finish();
}

criterion_group!(benches, compare);
criterion_main!(benches);
