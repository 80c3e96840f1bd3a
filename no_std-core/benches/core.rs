//! Host micro-benchmarks of the per-event work in semguard-core: page walks (uncached and
//! through the translation cache), guest reads, and (with the Assertion Checker) invariant
//! evaluation. `cargo bench -p semguard-core`; numbers go in the issue notes, never into tests.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use semguard_core::addr::{GuestVirtAddr, Machine};
use semguard_core::mem::VirtMemory;
use semguard_core::tcache::TranslationCache;
use semguard_core::vmem::GuestMemory;
use semguard_core::walker::testing::{FrameArena, FrameSlot, PageTableBuilder};
use semguard_core::walker::{pte, walk, PageSize, PagingConfig, PagingMode};

const USER_VA: u64 = 0x0000_7fff_f7a0_1230;
const HUGE_VA: u64 = 0x0000_0000_0060_0000;

fn build(slots: &mut [FrameSlot]) -> PageTableBuilder<'_, Machine> {
    let mut b = PageTableBuilder::new(FrameArena::new(slots, 0x1000), PagingMode::Level4).expect("arena");
    let flags = pte::P | pte::RW | pte::US;
    b.map_new(USER_VA & !0xfff, flags).expect("map 4k");
    b.map_new((USER_VA & !0xfff) + 4096, flags).expect("map 4k");
    b.map(HUGE_VA & !0x1f_ffff, PageSize::Size2M, semguard_core::addr::Frame::new(0x40000), flags).expect("map 2m");
    b.write_virt((USER_VA & !0xfff) + 4096 - 8, b"/tmp/out.txt\0").expect("string");
    b
}

fn translation(c: &mut Criterion) {
    let mut slots = vec![FrameSlot::EMPTY; 32];
    let mut b = build(&mut slots);
    let root = b.root();
    let cfg = PagingConfig::new(PagingMode::Level4, 52).expect("cfg");
    let arena = b.arena_mut();
    let va = GuestVirtAddr(USER_VA);

    c.bench_function("walk 4K uncached", |bn| bn.iter(|| walk(arena, root, &cfg, black_box(va))));
    c.bench_function("walk 2M uncached", |bn| bn.iter(|| walk(arena, root, &cfg, black_box(GuestVirtAddr(HUGE_VA)))));

    let mut cache = TranslationCache::<Machine>::new();
    c.bench_function("translate cached (hit)", |bn| bn.iter(|| cache.translate(arena, root, &cfg, black_box(va))));
    c.bench_function("translate new epoch (miss + walk)", |bn| {
        bn.iter(|| {
            cache.new_epoch();
            cache.translate(arena, root, &cfg, black_box(va))
        })
    });

    let mut cache = TranslationCache::<Machine>::new();
    let mut mem = GuestMemory::new(arena, &mut cache, root, cfg);
    c.bench_function("read_u64 cached", |bn| bn.iter(|| mem.read_u64(black_box(va))));
    let mut buf = [0u8; 64];
    c.bench_function("read_cstr 12 bytes across a page, cached", |bn| {
        bn.iter(|| mem.read_cstr(black_box(GuestVirtAddr((USER_VA & !0xfff) + 4096 - 8)), &mut buf))
    });
}

fn assertion_checker(c: &mut Criterion) {
    use semguard_core::checker::Checker;
    use semguard_core::eval::evaluate;
    use semguard_core::policy::{examples, Policy};
    use semguard_core::regs::Registers;

    let mut blob = [0u8; 2048];
    let n = examples::typical(&mut blob).expect("typical policy");
    let blob = &blob[..n];
    c.bench_function("policy decode + validate (typical, 4 invariants)", |bn| {
        bn.iter(|| Policy::decode(black_box(blob)).map(|p| p.rule_count()))
    });
    let policy = Policy::decode(blob).expect("decode");
    let checker = Checker::new(policy);
    let regs = Registers::default();
    let mut mem = examples::memory();
    let calls = examples::typical_calls();
    let names = ["openat path == const (allowed)", "openat path == const (violation)", "write site + count <= config.max_len (allowed)"];
    for (i, name) in names.iter().enumerate() {
        let (sc, expect_allow) = calls[i];
        let mut st = checker.new_process();
        assert_eq!(checker.check(&mut st, &sc, &regs, &mut mem).is_allow(), expect_allow, "{name}");
        c.bench_function(&format!("check {name}"), |bn| {
            bn.iter(|| checker.check(&mut st, black_box(&sc), &regs, &mut mem))
        });
    }
    let inv = policy.invariant(2).expect("write invariant");
    let (sc, _) = calls[2];
    c.bench_function("evaluate one invariant (write count <= config.max_len)", |bn| {
        bn.iter(|| evaluate(&inv, black_box(&sc), &regs, &mut mem))
    });
}

criterion_group!(benches, translation, assertion_checker);
criterion_main!(benches);
