// SPDX-License-Identifier: GPL-2.0

//! What Xen reports in each phase (the syscall-number bitmap) and the call classifications the
//! phases use. Plain Rust over semguard-core (no kernel API), so the host tests compile this very
//! file too (ivm-module/host/tests/module_filter.rs).

use semguard_core::policy::{DefaultAction, Policy};
use semguard_core::syscall::{Abi, Syscall};

/// Bytes of the syscall-number bitmap (`XEN_DOMCTL_MONITOR_SYSCALL_NR_BITS / 8`; xenabi.c
/// checks it against the patched header).
pub(crate) const BITMAP_BYTES: usize = 128;
/// First bit of the ia32 half of the bitmap (`XEN_DOMCTL_MONITOR_SYSCALL_NR_IA32`).
pub(crate) const NR_IA32: usize = 512;

pub(crate) fn set_bit(b: &mut [u8; BITMAP_BYTES], n: usize) {
    if let Some(x) = b.get_mut(n / 8) {
        *x |= 1 << (n % 8);
    }
}

/// x86-64 and ia32 numbers of the calls the monitor must always see of P: execve, execveat
/// (to follow it) and exit_group (to notice its end). x32 numbers are ≥ 512, always reported.
pub(crate) const EXEC_64: [u32; 2] = [59, 322];
pub(crate) const EXEC_IA32: [u32; 2] = [11, 358];
pub(crate) const EXEC_X32: [u32; 2] = [520, 545];
pub(crate) const EXIT_GROUP_64: u32 = 231;
pub(crate) const EXIT_GROUP_IA32: u32 = 252;

/// The argument holding the path if call `nr` of `abi` is an exec call (always a register
/// argument, also for the ia32 fast entries).
pub(crate) fn exec_path_arg(abi: Abi, nr: u32) -> Option<usize> {
    let (execve, execveat) = match abi {
        Abi::X86_64 => (EXEC_64[0], EXEC_64[1]),
        Abi::Ia32 => (EXEC_IA32[0], EXEC_IA32[1]),
        Abi::X32 => (EXEC_X32[0], EXEC_X32[1]),
    };
    if nr == execve {
        Some(0)
    } else if nr == execveat {
        Some(1)
    } else {
        None
    }
}

pub(crate) fn is_exit_group(sc: &Syscall) -> bool {
    match sc.abi {
        Abi::X86_64 | Abi::X32 => sc.nr == EXIT_GROUP_64,
        Abi::Ia32 => sc.nr == EXIT_GROUP_IA32,
    }
}

/// Bitmap of the `Waiting` phase: exec calls only.
pub(crate) fn waiting_bitmap() -> [u8; BITMAP_BYTES] {
    let mut b = [0u8; BITMAP_BYTES];
    for n in EXEC_64 {
        set_bit(&mut b, n as usize);
    }
    for n in EXEC_IA32 {
        set_bit(&mut b, NR_IA32 + n as usize);
    }
    b
}

/// Bitmap of the `Tracking` phase, `None` when every number must be reported: a default-deny
/// policy or a legal-trace automaton decides on every call.
pub(crate) fn tracking_bitmap(p: &Policy<'_>) -> Option<[u8; BITMAP_BYTES]> {
    if p.default_action() == DefaultAction::Deny || p.automaton().is_some() {
        return None;
    }
    let mut b = waiting_bitmap();
    set_bit(&mut b, EXIT_GROUP_64 as usize);
    set_bit(&mut b, NR_IA32 + EXIT_GROUP_IA32 as usize);
    // Bounded by the rule count.
    for i in 0..p.rule_count() {
        let Some(r) = p.rule(i) else { return None };
        let nr = r.nr as usize;
        match r.abi {
            Abi::X86_64 if nr < NR_IA32 => set_bit(&mut b, nr),
            Abi::Ia32 if nr < NR_IA32 => set_bit(&mut b, NR_IA32 + nr),
            // Numbers the bitmap cannot name are always reported.
            _ => {}
        }
    }
    // An ABI without rules is a violation for every call of it: report all of them.
    if p.deny_other_abis() {
        if !p.has_rules_for(Abi::X86_64) {
            for n in 0..NR_IA32 {
                set_bit(&mut b, n);
            }
        }
        if !p.has_rules_for(Abi::Ia32) {
            for n in NR_IA32..2 * NR_IA32 {
                set_bit(&mut b, n);
            }
        }
    }
    Some(b)
}

/// The comm an exec of `path` gives (the base name, truncated to 15 bytes).
pub(crate) fn comm_of_path(path: &[u8]) -> &[u8] {
    let base = match path.iter().rposition(|&c| c == b'/') {
        Some(i) => path.get(i + 1..).unwrap_or(&[]),
        None => path,
    };
    base.get(..base.len().min(15)).unwrap_or(base)
}
