//! Bodies of the fuzz targets, shared by `fuzz/` (libFuzzer, nightly) and by the host test
//! `tests/fuzz_smoke.rs`, which runs them over random inputs on every `cargo test` so a target
//! that no longer builds or panics on easy input is caught without a fuzzer.
//!
//! Each body takes arbitrary bytes and must never panic.

use crate::mem::flat::FlatMemory;
use crate::syscall::decode;
use crate::xen_abi::{build_response, kill_response, VmEventSt, VM_EVENT_SIZE};

/// Hostile vm_event requests: decode the ring slot, decode the syscall (reading the stacked
/// argument from hostile memory), and build the responses.
pub fn vm_event(data: &[u8]) {
    let (slot, rest) = data.split_at(data.len().min(VM_EVENT_SIZE));
    let Ok(req) = VmEventSt::from_bytes(slot) else { return };
    let _ = build_response(&req, None);
    let _ = kill_response(&req, 9);
    let Ok(ev) = req.syscall_event() else { return };
    let d = decode(ev.entry, &ev.regs);
    // Whatever the registers point at, P's stack is the rest of the input.
    let mut mem = FlatMemory::<2>::new();
    let sp = ev.regs.rsp & 0xffff_ffff;
    let _ = mem.write(sp, rest);
    let _ = d.complete(&mut mem);
    let _ = d.vdso32_return_address(&mut mem);
    let mut out = [0u8; VM_EVENT_SIZE];
    let _ = req.to_bytes(&mut out);
}

use crate::addr::{Frame, GuestVirtAddr, Machine, PAGE_SIZE};
use crate::mem::VirtMemory;
use crate::process::{find_all, ProcessInfo, Select};
use crate::profile::{Profile, ProfileFields};
use crate::tcache::TranslationCache;
use crate::vmem::GuestMemory;
use crate::walker::testing::{FrameArena, FrameSlot};
use crate::walker::{walk, PagingConfig, PagingMode};

/// Frames of hostile memory a walker input can fill (frame numbers 0..HOSTILE_FRAMES).
const HOSTILE_FRAMES: usize = 6;

/// Splits `data` into a control header and up to [`HOSTILE_FRAMES`] frames (numbered from 0,
/// so that small frame numbers in hostile entries point at other hostile frames; frame 0 is
/// the root) and hands the arena to `f` with the header.
fn with_hostile_frames(data: &[u8], f: impl FnOnce(&[u8], &mut FrameArena<'_, Machine>)) {
    const HEADER: usize = 32;
    let (head, body) = data.split_at(data.len().min(HEADER));
    let mut slots: [FrameSlot; HOSTILE_FRAMES] = core::array::from_fn(|_| FrameSlot::EMPTY);
    let mut arena = FrameArena::new(&mut slots, 0);
    for (i, chunk) in body.chunks(PAGE_SIZE as usize).take(HOSTILE_FRAMES).enumerate() {
        let frame = Frame::new(i as u64);
        if arena.insert(frame).is_err() || arena.write(frame, 0, chunk).is_err() {
            return;
        }
    }
    f(head, &mut arena);
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        v.copy_from_slice(s);
    }
    u64::from_le_bytes(v)
}

/// The walker, the translation cache and guest reads over hostile page tables: nothing may
/// panic, and a cached translation must equal the uncached one.
pub fn walker(data: &[u8]) {
    with_hostile_frames(data, |head, arena| {
        let mode = if head.first().copied().unwrap_or(0) & 1 == 0 { PagingMode::Level4 } else { PagingMode::Level5 };
        let phys_bits = 32 + head.get(1).copied().unwrap_or(0) % 21;
        let Ok(cfg) = PagingConfig::new(mode, phys_bits) else { return };
        let cfg = cfg.with_nx(head.get(2).copied().unwrap_or(0) & 1 == 0);
        let root = Frame::<Machine>::new(0);
        let mut cache = TranslationCache::<Machine, 8>::new();
        for i in 0..3 {
            let va = GuestVirtAddr(u64_at(head, 8 + 8 * i));
            let plain = walk(arena, root, &cfg, va);
            let cached = cache.translate(arena, root, &cfg, va);
            let again = cache.translate(arena, root, &cfg, va);
            assert_eq!(plain, cached, "cached translation differs");
            assert_eq!(plain, again, "cache hit differs");
        }
        let va = GuestVirtAddr(u64_at(head, 8));
        let mut mem = GuestMemory::new(arena, &mut cache, root, cfg);
        let _ = mem.read_u64(va);
        let mut s = [0u8; 300];
        let _ = mem.read_cstr(va, &mut s);
        let mut big = [0u8; 5000];
        let _ = mem.read_bytes(va, &mut big);
    });
}

/// The guest-kernel profile decoder.
pub fn profile(data: &[u8]) {
    if let Ok(p) = Profile::decode(data) {
        let mut out = [0u8; crate::profile::MAX_ENCODED_LEN];
        let n = p.encode(&mut out).expect("a decoded profile re-encodes");
        assert_eq!(&out[..n], data, "a profile re-encodes to the bytes it was decoded from");
        assert_eq!(Profile::decode(&out[..n]), Ok(p), "profile round trip");
    }
}

/// The small task and mm layout the fuzzers' synthetic guests use, with `init_task` there.
fn task_layout(init_task: u64, task_real_parent: Option<u32>) -> ProfileFields {
    ProfileFields {
        init_task,
        task_struct_size: 512,
        task_tasks: 8,
        task_comm: 64,
        task_pid: 32,
        task_tgid: 36,
        task_mm: 48,
        task_real_parent,
        mm_struct_size: 1152,
        mm_pgd: 16,
        comm_len: 16,
    }
}

/// The process finder over a hostile task list in hostile page tables.
pub fn process(data: &[u8]) {
    with_hostile_frames(data, |head, arena| {
        let Ok(cfg) = PagingConfig::new(PagingMode::Level4, 52) else { return };
        let fields = task_layout(0xffff_8000_0000_0000 | (u64_at(head, 0) & 0xffff_ffff), Some(56));
        let Ok(profile) = Profile::new(fields) else { return };
        let mut mem = GuestMemory::uncached(arena, Frame::new(0), cfg);
        let blank = ProcessInfo::<Machine> {
            task: GuestVirtAddr(0),
            pid: 0,
            tgid: 0,
            comm: [0; 16],
            mm: GuestVirtAddr(0),
            pgd_va: GuestVirtAddr(0),
            pgd: Frame::new(0),
            parent: None,
        };
        let mut infos = [blank; 4];
        let _ = find_all(&mut mem, &profile, Select::Comm(b"victim"), 64, &mut infos);
        let _ = find_all(&mut mem, &profile, Select::Pid((u64_at(head, 8) & 0xffff) as u32), 64, &mut infos);
    });
}

use crate::profile::{NodeLayout, VmaLayout};
use crate::vma::{find_vma, find_vma_from, Lookup};

/// The VMA tree's layout in our Linux 6.12 x86-64 guest kernel, as its BTF gives it (the static
/// tool's real-kernel test reads it from the kernel): the fuzzer's and the tests' sample.
pub const LINUX_6_12_VMA: VmaLayout = VmaLayout {
    mm_mt: 64,
    vma_size: 152,
    vma_start: 0,
    vma_end: 8,
    vma_flags: 32,
    tree_size: 16,
    tree_root: 8,
    node_size: 256,
    node_parent: 0,
    range64: NodeLayout { pivot: 8, slot: 128, meta_end: 248, slots: 16, pivots: 15 },
    arange64: NodeLayout { pivot: 8, slot: 80, meta_end: 240, slots: 10, pivots: 9 },
    saved_auxv: 392,
    auxv_words: 52,
};

/// The VMA lookup over a hostile VMA tree: the input's first 8 bytes are the address looked
/// up, the rest fills four pages — the mm (its tree at `MM + 64`), two pages of maple nodes and
/// one of `vm_area_struct`s, at fixed kernel addresses the input's pointers can name. Nothing
/// may panic, and a VMA returned must cover the address.
pub fn vma(data: &[u8]) {
    const MM: u64 = 0xffff_8880_0600_0000;
    const PAGES: [u64; 4] = [MM, 0xffff_8880_0400_0000, 0xffff_8880_0400_1000, 0xffff_8880_0500_0000];
    let (head, body) = data.split_at(data.len().min(8));
    let addr = u64_at(head, 0);
    let mut mem = FlatMemory::<4>::new();
    for (&at, chunk) in PAGES.iter().zip(body.chunks(PAGE_SIZE as usize)) {
        let _ = mem.write(at, chunk);
    }
    let Ok(profile) = Profile::with_vma_layout(task_layout(0xffff_ffff_8200_0000, None), LINUX_6_12_VMA) else {
        return;
    };
    if let Ok(Some(v)) = find_vma(&mut mem, &profile, GuestVirtAddr(MM), addr) {
        assert!(v.contains(addr), "a VMA that does not cover the address");
    }
    if let Ok(Some(v)) = find_vma_from(&mut mem, &profile, GuestVirtAddr(MM), addr) {
        assert!(v.end > addr, "find_vma_from returned a VMA below the address");
    }
    if let Ok(Lookup::Gap { first, last }) = crate::vma::lookup(&mut mem, &profile, GuestVirtAddr(MM), addr) {
        assert!(first <= addr && addr <= last, "a gap that does not contain the address");
    }
}

use crate::checker::Checker;
use crate::policy::{examples, Policy};
use crate::regs::Registers;
use crate::syscall::{Abi, Syscall};

/// Where the header keeps the CRC-32 (after magic, major, minor, total length).
const POLICY_CRC_AT: usize = 12;

/// Fixes a mutated policy's checksum so the mutation reaches the validation behind it.
fn fix_policy_crc(blob: &mut [u8]) {
    if blob.len() < POLICY_CRC_AT + 4 {
        return;
    }
    blob[POLICY_CRC_AT..POLICY_CRC_AT + 4].fill(0);
    let crc = crate::crc::crc32(blob);
    blob[POLICY_CRC_AT..POLICY_CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Runs every typical call (and a few built from `seed`) through a checker over `policy`.
fn exercise(policy: Policy<'_>, seed: &[u8]) {
    if let Some(id) = policy.identity() {
        // Validation bounds what a decoded identity can hand the module.
        let n = id.build_id().len();
        assert!((1..=crate::policy::format::MAX_BUILD_ID_LEN).contains(&n), "build-id of {n} bytes");
    }
    let checker = Checker::new(policy);
    let mut st = checker.new_process();
    let mut mem = examples::memory();
    let regs = Registers::default();
    for (sc, _) in examples::typical_calls() {
        let _ = checker.check(&mut st, &sc, &regs, &mut mem);
    }
    for chunk in seed.chunks(16).take(8) {
        let abi = match chunk.first().copied().unwrap_or(0) % 3 {
            0 => Abi::X86_64,
            1 => Abi::Ia32,
            _ => Abi::X32,
        };
        let sc = Syscall {
            abi,
            nr: u32::from(chunk.get(1).copied().unwrap_or(0)),
            args: [u64_at(chunk, 8), examples::GOOD_PATH_ADDR, 100, 0, 0, 0],
            user_rip: u64_at(chunk, 0),
        };
        let _ = checker.check(&mut st, &sc, &regs, &mut mem);
    }
}

/// The policy decoder on arbitrary bytes; what it accepts must evaluate without panicking.
pub fn policy_decode(data: &[u8]) {
    if let Ok(p) = Policy::decode(data) {
        exercise(p, data);
    }
}

/// Structured mutations of valid policies (checksum repaired) so that the fuzzer reaches the
/// section, bytecode and constant validation rather than stopping at the CRC.
pub fn policy_mutated(data: &[u8]) {
    let mut blob = [0u8; 2048];
    let which = data.first().copied().unwrap_or(0);
    let built = match which % 5 {
        0 => examples::typical(&mut blob),
        1 => examples::trace(&mut blob),
        2 => examples::with_identity(&mut blob),
        3 => examples::path_checks(&mut blob),
        _ => examples::write_count_le_config(&mut blob, examples::CONFIG_ADDR + examples::MAX_LEN_OFFSET),
    };
    let Ok(n) = built else { return };
    let blob = &mut blob[..n];
    // Each 3-byte group: position (2 bytes) and an XOR mask.
    for m in data.get(1..).unwrap_or(&[]).chunks_exact(3).take(16) {
        let pos = usize::from(u16::from_le_bytes([m[0], m[1]])) % n;
        blob[pos] ^= m[2];
    }
    fix_policy_crc(blob);
    if let Ok(p) = Policy::decode(blob) {
        exercise(p, data);
    }
}

/// The evaluator over hostile registers, arguments and P's memory, with the typical policy and
/// the path checks (hostile strings for the bounded string scans).
pub fn evaluator(data: &[u8]) {
    let mut blob = [0u8; 2048];
    let Ok(n) = examples::typical(&mut blob) else { return };
    let Ok(policy) = Policy::decode(&blob[..n]) else { return };
    let mut blob2 = [0u8; 1024];
    let Ok(n2) = examples::path_checks(&mut blob2) else { return };
    let Ok(paths) = Policy::decode(&blob2[..n2]) else { return };
    let checker = Checker::new(policy);
    let paths = Checker::new(paths);
    let mut st = checker.new_process();
    let mut paths_st = paths.new_process();
    let (head, body) = data.split_at(data.len().min(64));
    // P's memory: the rest of the input, at the addresses the invariants read.
    let mut mem = crate::mem::flat::FlatMemory::<4>::new();
    let _ = mem.write(examples::GOOD_PATH_ADDR - 8, body.get(..4096).unwrap_or(body));
    let _ = mem.write(examples::CONFIG_ADDR, body.get(4096..).unwrap_or(&[]));
    let regs = Registers { rip: u64_at(head, 0), rsp: u64_at(head, 8), ..Registers::default() };
    for (i, nr) in
        [examples::nr::OPEN, examples::nr::OPENAT, examples::nr::WRITE, examples::nr::EXECVE].into_iter().enumerate()
    {
        let mut args = [0u64; 6];
        for (k, a) in args.iter_mut().enumerate() {
            *a = u64_at(head, 16 + 8 * ((i + k) % 6));
        }
        let sc = Syscall { abi: Abi::X86_64, nr, args, user_rip: regs.rip };
        let _ = checker.check(&mut st, &sc, &regs, &mut mem);
        let _ = paths.check(&mut paths_st, &sc, &regs, &mut mem);
    }
    // The path checks on strings at and around the hostile bytes.
    for delta in [0u64, 8, 4095, 4100] {
        let sc = Syscall {
            abi: Abi::X86_64,
            nr: examples::nr::OPENAT,
            args: [0, examples::GOOD_PATH_ADDR - 8 + delta, 0, 0, 0, 0],
            user_rip: regs.rip,
        };
        let _ = paths.check(&mut paths_st, &sc, &regs, &mut mem);
    }
}
