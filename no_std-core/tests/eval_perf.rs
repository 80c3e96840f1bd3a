//! Hot-path timing: typical invariants and the whole Assertion Checker per call, against an
//! in-memory guest (so the number is the checker's own cost, without page-table walks).
//!
//! Timing depends on the machine and build, so this is not part of the default run:
//!     cargo test --release -p semguard-core --test eval_perf -- --ignored --nocapture
//! It fails if a typical invariant takes more than 200 ns (the design target).

mod policy_support;

use std::hint::black_box;
use std::time::Instant;

use policy_support::*;
use semguard_core::addr::GuestVirtAddr;
use semguard_core::checker::Checker;
use semguard_core::eval::evaluate;
use semguard_core::mem::{MemError, VirtMemory};
use semguard_core::policy::Policy;
use semguard_core::regs::Registers;
use semguard_core::syscall::{Abi, Syscall};

/// A few pages in an array: the cheapest memory that still goes through `VirtMemory`.
struct FastMem {
    pages: Vec<(u64, Box<[u8; 4096]>)>,
}

impl FastMem {
    fn from(m: &Mem, pages: &[u64]) -> Self {
        let pages = pages
            .iter()
            .map(|&base| {
                let mut p = Box::new([0u8; 4096]);
                for (i, b) in p.iter_mut().enumerate() {
                    *b = m.byte(base + i as u64).unwrap_or(0);
                }
                (base, p)
            })
            .collect();
        Self { pages }
    }
}

impl VirtMemory for FastMem {
    fn read_bytes(&mut self, va: GuestVirtAddr, buf: &mut [u8]) -> Result<(), MemError> {
        let base = va.0 & !0xfff;
        let off = (va.0 & 0xfff) as usize;
        let page = self.pages.iter().find(|(b, _)| *b == base).ok_or(MemError::Overflow)?;
        let src = page.1.get(off..off + buf.len()).ok_or(MemError::Overflow)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

fn time_ns<T>(iters: u32, mut f: impl FnMut() -> T) -> f64 {
    // Warm up, then take the best of five runs (least disturbed by the other jobs on the box).
    for _ in 0..iters / 10 {
        black_box(f());
    }
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            t.elapsed().as_nanos() as f64 / f64::from(iters)
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
#[ignore = "timing; run with --release -- --ignored"]
fn typical_invariants_within_200ns() {
    let blob = full_policy();
    let p = Policy::decode(&blob).unwrap();
    let mut mem = FastMem::from(&memory(), &[PATH_ADDR & !0xfff, CONFIG_MAX_LEN & !0xfff]);
    let regs = Registers { rsi: 1, ..Registers::default() };
    let call = |nr, args, rip| Syscall { abi: Abi::X86_64, nr, args, user_rip: rip };
    let cases = [
        ("open: path == const (str_eq, 10 guest bytes)", 0u16, call(NR_OPEN, [PATH_ADDR, 0, 0, 0, 0, 0], 0)),
        ("write: count <= config.max_len (ld32)", 1, call(NR_WRITE, [1, 0, 100, 0, 0, 0], SITE_A)),
        ("write: only from call sites", 2, call(NR_WRITE, [1, 0, 100, 0, 0, 0], SITE_B)),
        ("execve: deny", 3, call(NR_EXECVE, [0; 6], 0)),
        ("read: set && (lt || strlen) && reg", 4, call(NR_READ, [3, 0, 10, 0, 0, 0], 0)),
    ];
    let iters = 200_000;
    let mut worst: f64 = 0.0;
    for (name, idx, sc) in cases {
        let inv = p.invariant(idx).unwrap();
        let ns = time_ns(iters, || evaluate(black_box(&inv), black_box(&sc), &regs, &mut mem));
        println!("{name:55} {ns:7.1} ns");
        worst = worst.max(ns);
    }
    let ns = time_ns(iters, || p.matching_rules(Abi::X86_64, black_box(NR_WRITE), black_box(SITE_A)));
    println!("{:55} {ns:7.1} ns", "rule lookup (9 rules)");
    let a = p.automaton().unwrap();
    let ns = time_ns(iters, || a.next(black_box(1), Abi::X86_64, black_box(NR_WRITE)));
    println!("{:55} {ns:7.1} ns", "automaton step (5 transitions)");
    let ns = time_ns(iters, || p.invariant(black_box(1)).map(|i| i.id()));
    println!("{:55} {ns:7.1} ns", "invariant view");
    let c = Checker::new(p);
    let mut st = c.new_process();
    let writes = call(NR_WRITE, [1, 0, 100, 0, 0, 0], SITE_A);
    let ns = time_ns(iters, || c.check_rules(black_box(&writes), &regs, &mut mem));
    println!("{:55} {ns:7.1} ns", "checker: write (lookup + 2 invariants)");
    let getpid = call(39, [0; 6], 0);
    let ns_allow = time_ns(iters, || c.check(&mut st, black_box(&getpid), &regs, &mut mem));
    println!("{:55} {ns_allow:7.1} ns", "checker: allow rule + automaton step");
    assert!(cfg!(not(debug_assertions)), "timings are only meaningful in a release build");
    assert!(worst < 200.0, "slowest typical invariant took {worst:.1} ns");
}
