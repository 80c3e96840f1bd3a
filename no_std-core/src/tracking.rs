//! What Xen is told to report, and how calls are classified for following P: the number
//! bitmaps of P's address spaces and of the others (exec calls, to find new instances of P), and
//! the filter that carries them. Who P is — the set of address spaces — is [`crate::lineage`].

use crate::decision::FailMode;
use crate::policy::{DefaultAction, Policy};
use crate::syscall::{Abi, NR_EXIT_GROUP_IA32, NR_EXIT_GROUP_X86_64};
use crate::xen_abi::{
    MONITOR_SYSCALL_ADOPT, MONITOR_SYSCALL_BITMAP_BYTES, MONITOR_SYSCALL_FAIL_OPEN, MONITOR_SYSCALL_LINEAGE,
    MONITOR_SYSCALL_NR_FILTER, MONITOR_SYSCALL_NR_IA32,
};

/// Bytes of the number bitmap.
pub const BITMAP_BYTES: usize = MONITOR_SYSCALL_BITMAP_BYTES;
/// First bit of the ia32 half of the bitmap.
pub const NR_IA32: usize = MONITOR_SYSCALL_NR_IA32;
/// Mask of the page-table base Xen compares (the frame; PV guests set no low bits).
pub const PGD_MASK: u64 = !0xfff;
/// x86-64 and ia32 numbers of the calls the monitor must always see: execve, execveat (a new
/// image: P's, or another program) and, of P, exit_group (to notice its end). x32 numbers are ≥ 512, always reported.
pub const EXEC_64: [u32; 2] = [59, 322];
/// ia32 execve, execveat.
pub const EXEC_IA32: [u32; 2] = [11, 358];
/// x32 execve, execveat (without the x32 bit).
pub const EXEC_X32: [u32; 2] = [520, 545];

/// The argument holding the path if call `nr` of `abi` is an exec call (always a register
/// argument, also for the ia32 fast entries).
pub fn exec_path_arg(abi: Abi, nr: u32) -> Option<usize> {
    let [execve, execveat] = match abi {
        Abi::X86_64 => EXEC_64,
        Abi::Ia32 => EXEC_IA32,
        Abi::X32 => EXEC_X32,
    };
    if nr == execve {
        Some(0)
    } else if nr == execveat {
        Some(1)
    } else {
        None
    }
}

/// Whether call `nr` of `abi` is `exit_group`.
pub fn is_exit_group(abi: Abi, nr: u32) -> bool {
    match abi {
        Abi::X86_64 | Abi::X32 => nr == NR_EXIT_GROUP_X86_64,
        Abi::Ia32 => nr == NR_EXIT_GROUP_IA32,
    }
}

fn set_bit(b: &mut [u8; BITMAP_BYTES], n: usize) {
    if let Some(x) = b.get_mut(n / 8) {
        *x |= 1 << (n % 8);
    }
}

/// Bitmap of the calls of processes outside P's lineage: exec calls only (an exec may start P).
pub fn waiting_bitmap() -> [u8; BITMAP_BYTES] {
    let mut b = [0u8; BITMAP_BYTES];
    for n in EXEC_64 {
        set_bit(&mut b, n as usize);
    }
    for n in EXEC_IA32 {
        set_bit(&mut b, NR_IA32 + n as usize);
    }
    b
}

/// Bitmap of P's calls, `None` when every number must be reported: a default-deny
/// policy or a legal-trace automaton decides on every call.
pub fn tracking_bitmap(p: &Policy<'_>) -> Option<[u8; BITMAP_BYTES]> {
    if p.default_action() == DefaultAction::Deny || p.automaton().is_some() {
        return None;
    }
    let mut b = waiting_bitmap();
    set_bit(&mut b, NR_EXIT_GROUP_X86_64 as usize);
    set_bit(&mut b, NR_IA32 + NR_EXIT_GROUP_IA32 as usize);
    // Bounded by the rule count.
    for i in 0..p.rule_count() {
        let r = p.rule(i)?;
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

/// What Xen is told to report (`XEN_DOMCTL_MONITOR_EVENT_SYSCALL` enable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Filter {
    /// `MONITOR_SYSCALL_*` flags.
    pub flags: u32,
    /// Page-table base to match (with `pgd_mask`; mask 0 selects every process). With
    /// [`MONITOR_SYSCALL_ADOPT`]: the address space to add to the lineage set.
    pub pgd_match: u64,
    /// Bits of the page-table base compared (0 with [`MONITOR_SYSCALL_LINEAGE`]).
    pub pgd_mask: u64,
    /// Numbers reported of P's address spaces when [`MONITOR_SYSCALL_NR_FILTER`] is set.
    pub bitmap: [u8; BITMAP_BYTES],
    /// With [`MONITOR_SYSCALL_LINEAGE`]: numbers reported of the other address spaces.
    pub other: Option<[u8; BITMAP_BYTES]>,
}

impl Filter {
    /// P's lineage: the calls `policy` needs of P's address spaces (which Xen follows through
    /// fork and exec), the exec calls of every other process (to find new instances of P).
    /// `fail` decides what Xen does with a call of P it cannot report; other processes' calls
    /// always go on.
    pub fn lineage(policy: &Policy<'_>, fail: FailMode) -> Self {
        let fail = match fail {
            FailMode::Open => MONITOR_SYSCALL_FAIL_OPEN,
            FailMode::Closed => 0,
        };
        let (nr, bitmap) = match tracking_bitmap(policy) {
            Some(b) => (MONITOR_SYSCALL_NR_FILTER, b),
            None => (0, [0; BITMAP_BYTES]),
        };
        Self {
            flags: MONITOR_SYSCALL_LINEAGE | nr | fail,
            pgd_match: 0,
            pgd_mask: 0,
            bitmap,
            other: Some(waiting_bitmap()),
        }
    }

    /// The same filter, also adding the address space `pgd` (an instance of P found running)
    /// to Xen's set.
    pub fn adopting(self, pgd: u64) -> Self {
        Self { flags: self.flags | MONITOR_SYSCALL_ADOPT, pgd_match: pgd & PGD_MASK, ..self }
    }
}
