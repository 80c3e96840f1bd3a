//! Xen vm_event ABI for the syscall monitor: the request Xen puts on the monitor ring when P
//! makes a system call, and the response semguard.ko puts back.
//!
//! # Source of truth
//!
//! The layout mirrors Xen 4.17.5's `xen/include/public/vm_event.h`
//! (`VM_EVENT_INTERFACE_VERSION` 7, unchanged by Debian's 4.17.5+72-g01140da4e8-1 patches) plus
//! one additive extension that semguard's Xen patch defines in that header:
//!
//! ```c
//! #define VM_EVENT_REASON_SYSCALL 31        /* off upstream's sequence, so a rebase cannot alias it */
//! #define VM_EVENT_SYSCALL_ENTRY_LSTAR    0   /* 64-bit SYSCALL (lstar_enter) */
//! #define VM_EVENT_SYSCALL_ENTRY_INT80    1   /* int $0x80 (int80_direct_trap) */
//! #define VM_EVENT_SYSCALL_ENTRY_SYSENTER 2   /* SYSENTER (sysenter_entry) */
//! #define VM_EVENT_SYSCALL_ENTRY_CSTAR    3   /* 32-bit SYSCALL (cstar_enter) */
//! struct vm_event_syscall {
//!     uint32_t entry;     /* VM_EVENT_SYSCALL_ENTRY_* */
//!     uint32_t seq;       /* per-vCPU request number, echoed in the response */
//!     uint64_t user_pgd;  /* PV: machine address of guest_table_user, 0 if none */
//!     uint64_t parent_pgd; /* lineage set: base whose pin added the caller's, else 0 */
//!     uint32_t flags;      /* VM_EVENT_SYSCALL_MEMBER … (request), WATCH … (response) */
//!     uint32_t _pad;
//! };
//! /* new member of vm_event_request_t's union u: */
//!     struct vm_event_syscall syscall;
//! ```
//!
//! The new member is 32 bytes, so the union `u` stays 32 bytes and the request 400: the
//! interface version stays 7 and the stock toolstack keeps working. Every size, alignment and
//! offset here is pinned by a compile-time assertion (so Kbuild builds check them too), and the
//! unit test `layout_matches_xen_headers` compiles those numbers as `_Static_assert`s against
//! every Xen public header it finds (`SEMGUARD_XEN_PUBLIC`, or `scripts/build-xen`'s artefacts
//! under `$SEMGUARD_CACHE/xen-*/include/public/`), including the `vm_event_syscall` part when
//! the header is a patched one (defines `VM_EVENT_REASON_SYSCALL`).
//!
//! # Request (Xen → semguard.ko), reason [`VM_EVENT_REASON_SYSCALL`]
//!
//! | field | value |
//! |---|---|
//! | `version` | [`VM_EVENT_INTERFACE_VERSION`] |
//! | `flags` | [`VM_EVENT_FLAG_VCPU_PAUSED`]: the event is synchronous, the vCPU waits for the answer |
//! | `reason` | [`VM_EVENT_REASON_SYSCALL`] |
//! | `vcpu_id` | the trapping vCPU |
//! | `u.syscall.entry` | which entry the call used ([`EntryKind`] wire value) |
//! | `u.syscall.seq` | per-vCPU request number; the response must echo it (copy `u` whole) |
//! | `u.syscall.user_pgd` | PV: machine address of the user-mode top-level table, 0 if none |
//! | `u.syscall.parent_pgd` | with [`MONITOR_SYSCALL_LINEAGE`]: the base of the address space on whose vCPU the caller's table was pinned (0 for roots and outside the set) |
//! | `u.syscall.flags` | with [`MONITOR_SYSCALL_LINEAGE`]: where the caller is in Xen's set ([`VM_EVENT_SYSCALL_MEMBER`], [`VM_EVENT_SYSCALL_CANDIDATE`], [`VM_EVENT_SYSCALL_FRESH`]; neither: outside it — a watched process's calls are not reported) |
//! | `data.regs.x86` | the guest's registers from Xen's entry frame: GPRs, `rip`, `rflags`, and `cr3` = the PV page-table base (`guest_table`'s MFN << 12). `rip`/`rsp` are 0 for SYSENTER (see [`crate::syscall`]) |
//!
//! # Response (semguard.ko → Xen)
//!
//! Same struct. `version` = 7, `reason`/`vcpu_id`/`altp2m_idx`/`u` copied from the request,
//! `flags` = [`VM_EVENT_FLAG_VCPU_PAUSED`] (unpause), plus [`VM_EVENT_FLAG_SET_REGISTERS`] when
//! `data.regs.x86` carries edited registers (the kill). For a PV vCPU Xen writes back only the
//! general-purpose registers rax, rbx, rcx, rdx, rbp, rsi, rdi, r8–r15 (the vCPU waits in user
//! mode, at the system-call instruction, which it executes again with them; a SYSENTER call has
//! already been bounced into the guest kernel); semguard copies every other field unchanged from
//! the request. Xen drops a response whose `seq` is not the vCPU's outstanding request. With
//! [`MONITOR_SYSCALL_LINEAGE`], `u.syscall.flags` of the response may ask Xen to watch
//! ([`VM_EVENT_SYSCALL_WATCH`]), adopt ([`VM_EVENT_SYSCALL_ADOPT`]) or release
//! ([`VM_EVENT_SYSCALL_RELEASE`]) the caller's address space; and instead of running the call,
//! to make the caller take a page fault and retry it ([`VM_EVENT_SYSCALL_PAGE_IN`], address in
//! `data.regs.x86.cr2`) or to complete it with a value ([`VM_EVENT_SYSCALL_RETURN`], in
//! `data.regs.x86.rax`).
//!
//! # Ring
//!
//! The standard Xen shared ring (`DEFINE_RING_TYPES(vm_event, …)`) in one 4 KiB page: a 64-byte
//! header (`req_prod`, `req_event`, `rsp_prod`, `rsp_event`, padding), then [`RING_SLOTS`]
//! slots of [`VM_EVENT_SIZE`] bytes, each holding a request or a response.
//!
//! # No `unsafe`
//!
//! The structs are `#[repr(C)]` with exactly the C layout, so a C shim can copy them as they are.
//! Inside semguard-core they are read from and written to byte buffers field by field
//! ([`VmEventSt::from_bytes`], [`VmEventSt::to_bytes`]): copying the request out of the shared
//! page once also means Xen cannot change it while it is being checked. The C unions are mirrored
//! by their one member this ABI uses (`data.regs.x86`, the union's largest member) or as opaque
//! bytes with a typed accessor (`u`), since reading a Rust union needs `unsafe`.

use crate::regs::{EntryKind, Registers};
use crate::syscall::{kill_edit, KillCondition};
use crate::wire::{self, le_record, Le};
use core::mem::{align_of, offset_of, size_of};

/// `VM_EVENT_INTERFACE_VERSION` of Xen 4.17 (kept by semguard's patch).
pub const VM_EVENT_INTERFACE_VERSION: u32 = 0x0000_0007;
/// Request: the vCPU is paused until the response. Response: unpause it.
pub const VM_EVENT_FLAG_VCPU_PAUSED: u32 = 1 << 0;
/// Response: write `data.regs.x86` back into the vCPU (needs a paused vCPU).
pub const VM_EVENT_FLAG_SET_REGISTERS: u32 = 1 << 8;
/// Last reason Xen 4.17 defines.
pub const VM_EVENT_REASON_VMEXIT: u32 = 15;
/// semguard's reason: P made a system call. Deliberately off upstream's sequence (4.18+ used
/// 16 for I/O instructions), so a later rebase cannot alias it.
pub const VM_EVENT_REASON_SYSCALL: u32 = 31;
/// `u.syscall.entry`: 64-bit `SYSCALL` (lstar).
pub const VM_EVENT_SYSCALL_ENTRY_LSTAR: u32 = EntryKind::Syscall64 as u32;
/// `u.syscall.entry`: `int $0x80`.
pub const VM_EVENT_SYSCALL_ENTRY_INT80: u32 = EntryKind::Int80 as u32;
/// `u.syscall.entry`: `SYSENTER`.
pub const VM_EVENT_SYSCALL_ENTRY_SYSENTER: u32 = EntryKind::Sysenter as u32;
/// `u.syscall.entry`: 32-bit `SYSCALL` (cstar).
pub const VM_EVENT_SYSCALL_ENTRY_CSTAR: u32 = EntryKind::CompatSyscall as u32;

/// Size of one request/response (`sizeof(vm_event_request_t)`).
pub const VM_EVENT_SIZE: usize = 400;
/// Bytes before the first ring slot (`offsetof(struct vm_event_sring, ring)`).
pub const RING_HEADER_SIZE: usize = 64;
/// Slots in a one-page ring (`__RING_SIZE` for 4096 bytes: the power of two that fits).
pub const RING_SLOTS: usize = ring_slots(1);
/// `XEN_VM_EVENT_RING_MAX_FRAMES`: most pages of a ring (`XEN_VM_EVENT_ENABLE_FRAME`'s
/// `nr_frames`, patch 0017).
pub const RING_MAX_PAGES: usize = 16;

/// Slots of a ring of `pages` pages: `__RING_SIZE` for `pages * 4096` bytes, the power of two
/// that fits (8, 16, 32 … for 1, 2, 4 … pages).
pub const fn ring_slots(pages: usize) -> usize {
    let fit = (pages * 4096).saturating_sub(RING_HEADER_SIZE) / VM_EVENT_SIZE;
    if fit == 0 {
        0
    } else {
        1 << (usize::BITS - 1 - fit.leading_zeros())
    }
}

/// The fewest pages (a power of two, so that none is wasted) whose ring holds a request of
/// each of `vcpus` vCPUs — each vCPU waiting in a reported call holds a slot until its answer
/// is read, and Xen refuses the monitor (`-ENOSPC`) on a smaller ring. `None` past
/// [`RING_MAX_PAGES`].
pub const fn ring_pages_for(vcpus: usize) -> Option<usize> {
    let mut pages = 1;
    while pages <= RING_MAX_PAGES {
        if ring_slots(pages) >= vcpus {
            return Some(pages);
        }
        pages *= 2;
    }
    None
}
/// Offset of `req_prod` in the ring header.
pub const RING_REQ_PROD: usize = 0;
/// Offset of `req_event` in the ring header.
pub const RING_REQ_EVENT: usize = 4;
/// Offset of `rsp_prod` in the ring header.
pub const RING_RSP_PROD: usize = 8;
/// Offset of `rsp_event` in the ring header.
pub const RING_RSP_EVENT: usize = 12;
const _: () = assert!(RING_HEADER_SIZE + RING_SLOTS * VM_EVENT_SIZE <= 4096);
const _: () = assert!(RING_HEADER_SIZE + 2 * RING_SLOTS * VM_EVENT_SIZE > 4096);
const _: () = assert!(ring_slots(2) == 16 && ring_slots(4) == 32 && ring_slots(RING_MAX_PAGES) == 128);
const _: () = assert!(matches!(ring_pages_for(1), Some(1)) && matches!(ring_pages_for(8), Some(1)));
const _: () = assert!(matches!(ring_pages_for(9), Some(2)) && matches!(ring_pages_for(12), Some(2)));
const _: () = assert!(matches!(ring_pages_for(128), Some(16)) && ring_pages_for(129).is_none());

// The syscall monitor's filter (`XEN_DOMCTL_monitor_op`, `XEN_DOMCTL_MONITOR_EVENT_SYSCALL`,
// patched `domctl.h`). Used by semguard.ko (passed unchanged to xenabi.c, which fills Xen's own
// struct) and sgmon (which encodes the domctl itself; its test `layout_matches_xen_headers`
// checks these values against the header).

/// `XEN_DOMCTL_MONITOR_SYSCALL_NR_FILTER`: report only the numbers set in the bitmap.
pub const MONITOR_SYSCALL_NR_FILTER: u32 = 1 << 0;
/// `XEN_DOMCTL_MONITOR_SYSCALL_FAIL_OPEN`: a call that cannot be reported (ring full, no
/// consumer) goes on; otherwise Xen kills the caller.
pub const MONITOR_SYSCALL_FAIL_OPEN: u32 = 1 << 1;
/// `XEN_DOMCTL_MONITOR_SYSCALL_NR_BITS`: bits in the number bitmap.
pub const MONITOR_SYSCALL_NR_BITS: usize = 1024;
/// `XEN_DOMCTL_MONITOR_SYSCALL_NR_IA32`: the first bit of the ia32 half (x86-64 numbers below).
pub const MONITOR_SYSCALL_NR_IA32: usize = 512;
/// Bytes of the number bitmap.
pub const MONITOR_SYSCALL_BITMAP_BYTES: usize = MONITOR_SYSCALL_NR_BITS / 8;
/// `XEN_DOMCTL_MONITOR_SYSCALL_LINEAGE`: follow a set of address spaces (P's instances and
/// their descendants, which join when their top-level table is pinned on a member's vCPU)
/// instead of matching one page-table base; `other_bitmap` selects the calls of the rest.
pub const MONITOR_SYSCALL_LINEAGE: u32 = 1 << 2;
/// `XEN_DOMCTL_MONITOR_SYSCALL_ADOPT`: with [`MONITOR_SYSCALL_LINEAGE`], add `pgd_match` to the
/// set as a member (an instance of P found running).
pub const MONITOR_SYSCALL_ADOPT: u32 = 1 << 3;
/// `XEN_DOMCTL_MONITOR_SYSCALL_MEMBERS`: most member tables Xen's set holds (a 64-bit PV Linux
/// address space pins two: kernel and user).
pub const MONITOR_SYSCALL_MEMBERS: usize = 1024;

/// `VM_EVENT_SYSCALL_MEMBER` (request): the caller's address space is a member of the set.
pub const VM_EVENT_SYSCALL_MEMBER: u32 = 1 << 0;
/// `VM_EVENT_SYSCALL_CANDIDATE` (request): a new image of a watched process, not yet adopted.
pub const VM_EVENT_SYSCALL_CANDIDATE: u32 = 1 << 1;
/// `VM_EVENT_SYSCALL_FRESH` (request): the first report since the caller joined the set.
pub const VM_EVENT_SYSCALL_FRESH: u32 = 1 << 3;
/// `VM_EVENT_SYSCALL_WATCH` (response): watch the caller (tables pinned on it become candidates).
pub const VM_EVENT_SYSCALL_WATCH: u32 = 1 << 8;
/// `VM_EVENT_SYSCALL_ADOPT` (response): make the caller a member.
pub const VM_EVENT_SYSCALL_ADOPT: u32 = 1 << 9;
/// `VM_EVENT_SYSCALL_RELEASE` (response): remove the caller from the set.
pub const VM_EVENT_SYSCALL_RELEASE: u32 = 1 << 10;
/// `VM_EVENT_SYSCALL_PAGE_IN` (response): do not run the call yet; the caller takes a user-mode
/// read page fault at `data.regs.x86.cr2` and executes the call again, which is reported again.
pub const VM_EVENT_SYSCALL_PAGE_IN: u32 = 1 << 11;
/// `VM_EVENT_SYSCALL_RETURN` (response): do not run the call; it returns `data.regs.x86.rax`.
pub const VM_EVENT_SYSCALL_RETURN: u32 = 1 << 12;
/// What a response may ask of the call itself rather than of the caller's address space.
const CALL_ANSWERS: u32 = VM_EVENT_SYSCALL_PAGE_IN | VM_EVENT_SYSCALL_RETURN;

/// C name and layout of a mirrored struct, compiled into `_Static_assert`s by the header test.
#[cfg(test)]
struct CLayout {
    c_type: &'static str,
    size: usize,
    align: usize,
    /// (field, offset, size)
    fields: &'static [(&'static str, usize, usize)],
}

/// Defines a `#[repr(C)]` struct with its C layout written once: a `le_record!` (compile-time
/// assertions for size and every offset, no implicit padding, the little-endian codec at those
/// offsets) that also derives `Default`, plus an alignment assertion and the table the header
/// test checks against C.
macro_rules! abi_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident = $cname:literal, size $size:literal, align $align:literal {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty = $off:literal, )*
        }
    ) => {
        le_record! {
            $(#[$meta])*
            #[derive(Default)]
            pub struct $name, size $size {
                $( $(#[$fmeta])* pub $field: $ty = $off, )*
            }
        }

        const _: () = assert!(align_of::<$name>() == $align);

        // FIELDS' sizes are the codec's, which le_record! asserts equal to size_of each type.
        #[cfg(test)]
        impl $name {
            const C_LAYOUT: CLayout = CLayout { c_type: $cname, size: $size, align: $align, fields: Self::FIELDS };
        }
    };
}

/// `struct vm_event_x86_selector_reg`: `uint32_t limit:20; uint32_t ar:12;` (bit-fields, so
/// kept as the raw word; GCC on x86 allocates them from bit 0).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmEventX86SelectorReg {
    /// `limit` in bits 0..20, `ar` in bits 20..32.
    pub raw: u32,
}
const _: () = assert!(size_of::<VmEventX86SelectorReg>() == 4);

impl VmEventX86SelectorReg {
    /// The segment limit (right-shifted by 12 if `ar`'s G bit is set).
    pub const fn limit(self) -> u32 {
        self.raw & 0xf_ffff
    }
    /// The access rights.
    pub const fn ar(self) -> u32 {
        self.raw >> 20
    }
    /// Packs `limit` and `ar` (excess bits are dropped, as C's bit-fields do).
    pub const fn new(limit: u32, ar: u32) -> Self {
        Self { raw: (limit & 0xf_ffff) | ((ar & 0xfff) << 20) }
    }
}

impl Le for VmEventX86SelectorReg {
    const SIZE: usize = 4;
    #[inline(always)]
    fn read_le(b: &[u8], at: usize) -> Self {
        Self { raw: u32::read_le(b, at) }
    }
    #[inline(always)]
    fn write_le(self, b: &mut [u8], at: usize) {
        self.raw.write_le(b, at);
    }
}

abi_struct! {
    /// `struct vm_event_regs_x86`: the vCPU's registers (`data.regs.x86`).
    pub struct VmEventRegsX86 = "struct vm_event_regs_x86", size 344, align 8 {
        #[allow(missing_docs)] pub rax: u64 = 0,
        #[allow(missing_docs)] pub rcx: u64 = 8,
        #[allow(missing_docs)] pub rdx: u64 = 16,
        #[allow(missing_docs)] pub rbx: u64 = 24,
        #[allow(missing_docs)] pub rsp: u64 = 32,
        #[allow(missing_docs)] pub rbp: u64 = 40,
        #[allow(missing_docs)] pub rsi: u64 = 48,
        #[allow(missing_docs)] pub rdi: u64 = 56,
        #[allow(missing_docs)] pub r8: u64 = 64,
        #[allow(missing_docs)] pub r9: u64 = 72,
        #[allow(missing_docs)] pub r10: u64 = 80,
        #[allow(missing_docs)] pub r11: u64 = 88,
        #[allow(missing_docs)] pub r12: u64 = 96,
        #[allow(missing_docs)] pub r13: u64 = 104,
        #[allow(missing_docs)] pub r14: u64 = 112,
        #[allow(missing_docs)] pub r15: u64 = 120,
        #[allow(missing_docs)] pub rflags: u64 = 128,
        #[allow(missing_docs)] pub dr6: u64 = 136,
        #[allow(missing_docs)] pub dr7: u64 = 144,
        #[allow(missing_docs)] pub rip: u64 = 152,
        #[allow(missing_docs)] pub cr0: u64 = 160,
        #[allow(missing_docs)] pub cr2: u64 = 168,
        /// Page-table base; for a PV guest the MFN-based `guest_table` address.
        pub cr3: u64 = 176,
        #[allow(missing_docs)] pub cr4: u64 = 184,
        #[allow(missing_docs)] pub sysenter_cs: u64 = 192,
        #[allow(missing_docs)] pub sysenter_esp: u64 = 200,
        #[allow(missing_docs)] pub sysenter_eip: u64 = 208,
        #[allow(missing_docs)] pub msr_efer: u64 = 216,
        #[allow(missing_docs)] pub msr_star: u64 = 224,
        #[allow(missing_docs)] pub msr_lstar: u64 = 232,
        #[allow(missing_docs)] pub gdtr_base: u64 = 240,
        /// Valid with `VM_EVENT_FLAG_NESTED_P2M` only.
        pub npt_base: u64 = 248,
        /// vmtrace position, `!0` when inactive.
        pub vmtrace_pos: u64 = 256,
        #[allow(missing_docs)] pub cs_base: u32 = 264,
        #[allow(missing_docs)] pub ss_base: u32 = 268,
        #[allow(missing_docs)] pub ds_base: u32 = 272,
        #[allow(missing_docs)] pub es_base: u32 = 276,
        #[allow(missing_docs)] pub fs_base: u64 = 280,
        #[allow(missing_docs)] pub gs_base: u64 = 288,
        #[allow(missing_docs)] pub cs: VmEventX86SelectorReg = 296,
        #[allow(missing_docs)] pub ss: VmEventX86SelectorReg = 300,
        #[allow(missing_docs)] pub ds: VmEventX86SelectorReg = 304,
        #[allow(missing_docs)] pub es: VmEventX86SelectorReg = 308,
        #[allow(missing_docs)] pub fs: VmEventX86SelectorReg = 312,
        #[allow(missing_docs)] pub gs: VmEventX86SelectorReg = 316,
        #[allow(missing_docs)] pub shadow_gs: u64 = 320,
        #[allow(missing_docs)] pub gdtr_limit: u16 = 328,
        #[allow(missing_docs)] pub cs_sel: u16 = 330,
        #[allow(missing_docs)] pub ss_sel: u16 = 332,
        #[allow(missing_docs)] pub ds_sel: u16 = 334,
        #[allow(missing_docs)] pub es_sel: u16 = 336,
        #[allow(missing_docs)] pub fs_sel: u16 = 338,
        #[allow(missing_docs)] pub gs_sel: u16 = 340,
        #[allow(missing_docs)] pub _pad: u16 = 342,
    }
}

abi_struct! {
    /// `struct vm_event_syscall` (semguard's extension): the syscall member of the union `u`.
    pub struct VmEventSyscall = "struct vm_event_syscall", size 32, align 8 {
        /// `VM_EVENT_SYSCALL_ENTRY_*`, the [`EntryKind`] wire value.
        pub entry: u32 = 0,
        /// Per-vCPU request number; the response echoes it.
        pub seq: u32 = 4,
        /// PV: machine address of the user-mode top-level table, 0 if none.
        pub user_pgd: u64 = 8,
        /// Lineage set: the base on whose vCPU the caller's table was pinned, else 0.
        pub parent_pgd: u64 = 16,
        /// `VM_EVENT_SYSCALL_*` set flags.
        pub flags: u32 = 24,
        /// Zero.
        pub _pad: u32 = 28,
    }
}

/// The union `u` of `vm_event_request_t` (32 bytes, 8-aligned), kept as bytes; only the
/// `syscall` member is decoded ([`VmEventU::syscall`]).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmEventU {
    /// The union's bytes as Xen wrote them.
    pub bytes: [u8; 32],
}
const _: () = assert!(size_of::<VmEventU>() == 32 && align_of::<VmEventU>() == 8);
const _: () = assert!(<VmEventSyscall as Le>::SIZE <= 32);

impl VmEventU {
    /// The `syscall` member.
    pub fn syscall(&self) -> VmEventSyscall {
        // In range: the member fits in the union (asserted above).
        VmEventSyscall::read_le(&self.bytes, 0)
    }
    /// A union holding `s` (the rest zero).
    pub fn from_syscall(s: VmEventSyscall) -> Self {
        let mut u = Self::default();
        // In range: the member fits in the union (asserted above).
        s.write_le(&mut u.bytes, 0);
        u
    }
}

impl Le for VmEventU {
    const SIZE: usize = 32;
    #[inline(always)]
    fn read_le(b: &[u8], at: usize) -> Self {
        Self { bytes: Le::read_le(b, at) }
    }
    #[inline(always)]
    fn write_le(self, b: &mut [u8], at: usize) {
        self.bytes.write_le(b, at);
    }
}

abi_struct! {
    /// `vm_event_request_t` / `vm_event_response_t` (`struct vm_event_st`).
    pub struct VmEventSt = "vm_event_request_t", size 400, align 8 {
        /// `VM_EVENT_INTERFACE_VERSION`.
        pub version: u32 = 0,
        /// `VM_EVENT_FLAG_*`.
        pub flags: u32 = 4,
        /// `VM_EVENT_REASON_*`.
        pub reason: u32 = 8,
        /// The vCPU the event is about.
        pub vcpu_id: u32 = 12,
        /// Alternate p2m index (with `VM_EVENT_FLAG_ALTERNATE_P2M`).
        pub altp2m_idx: u16 = 16,
        /// Zero.
        pub _pad: [u16; 3] = 18,
        /// Reason-specific payload; `u.syscall` for [`VM_EVENT_REASON_SYSCALL`].
        pub u: VmEventU = 24,
        /// `data.regs.x86` (the `data` union's largest member, so the union's size).
        pub data: VmEventRegsX86 = 56,
    }
}
const _: () = assert!(size_of::<VmEventSt>() == VM_EVENT_SIZE);
/// Bytes of a response before its register block: what Xen reads of one without
/// [`VM_EVENT_FLAG_SET_REGISTERS`] ([`VmEventSt::response_bytes`]).
pub const RESPONSE_HEAD_SIZE: usize = offset_of!(VmEventSt, data);
const _: () = assert!(RESPONSE_HEAD_SIZE == 56);

/// Why a vm_event request cannot be taken as a syscall event, or a response not built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XenAbiError {
    /// The byte buffer is shorter than [`VM_EVENT_SIZE`].
    Truncated {
        /// Its length.
        len: usize,
    },
    /// `version` is not [`VM_EVENT_INTERFACE_VERSION`]: the hypervisor speaks another ABI.
    VersionMismatch {
        /// The version found.
        got: u32,
    },
    /// `reason` is not [`VM_EVENT_REASON_SYSCALL`].
    UnknownReason {
        /// The reason found.
        got: u32,
    },
    /// `u.syscall.entry` is not a known entry kind.
    BadEntryKind {
        /// The value found.
        got: u32,
    },
    /// The request lacks [`VM_EVENT_FLAG_VCPU_PAUSED`]: the vCPU did not wait, so the call can
    /// be neither stopped nor edited.
    NotPaused,
}

/// A validated syscall event: what the Assertion Checker needs from a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallEvent {
    /// The trapping vCPU.
    pub vcpu_id: u32,
    /// How the call entered Xen.
    pub entry: EntryKind,
    /// The request's sequence number (echoed by the response).
    pub seq: u32,
    /// PV: machine address of the user-mode top-level table, 0 if none.
    pub user_pgd: u64,
    /// Lineage set: the base on whose vCPU the caller's table was pinned, else 0.
    pub parent_pgd: u64,
    /// Lineage set: `VM_EVENT_SYSCALL_*` request flags (0 without the set).
    pub set_flags: u32,
    /// The vCPU's registers at the trap.
    pub regs: Registers,
}

/// The registers semguard uses, from Xen's register block.
pub fn registers_from_x86(x: &VmEventRegsX86) -> Registers {
    Registers {
        rax: x.rax,
        rbx: x.rbx,
        rcx: x.rcx,
        rdx: x.rdx,
        rsi: x.rsi,
        rdi: x.rdi,
        rbp: x.rbp,
        rsp: x.rsp,
        r8: x.r8,
        r9: x.r9,
        r10: x.r10,
        r11: x.r11,
        r12: x.r12,
        r13: x.r13,
        r14: x.r14,
        r15: x.r15,
        rip: x.rip,
        rflags: x.rflags,
        cr3: x.cr3,
    }
}

/// Writes rax–r15, `rflags` and `rip` from `regs` into `x`; every other field of `x` (including
/// `cr3`) is left as it is. For a PV vCPU `VM_EVENT_FLAG_SET_REGISTERS` applies only the
/// general-purpose registers other than rsp, which is all the kill edit changes.
pub fn apply_registers(x: &mut VmEventRegsX86, regs: &Registers) {
    x.rax = regs.rax;
    x.rbx = regs.rbx;
    x.rcx = regs.rcx;
    x.rdx = regs.rdx;
    x.rsi = regs.rsi;
    x.rdi = regs.rdi;
    x.rbp = regs.rbp;
    x.rsp = regs.rsp;
    x.r8 = regs.r8;
    x.r9 = regs.r9;
    x.r10 = regs.r10;
    x.r11 = regs.r11;
    x.r12 = regs.r12;
    x.r13 = regs.r13;
    x.r14 = regs.r14;
    x.r15 = regs.r15;
    x.rip = regs.rip;
    x.rflags = regs.rflags;
}

impl VmEventSt {
    /// Decodes a request or response from the first [`VM_EVENT_SIZE`] bytes of `b` (e.g. a ring
    /// slot copied out of the shared page).
    pub fn from_bytes(b: &[u8]) -> Result<Self, XenAbiError> {
        wire::read(b, 0).ok_or(XenAbiError::Truncated { len: b.len() })
    }

    /// Encodes into the first [`VM_EVENT_SIZE`] bytes of `out`.
    pub fn to_bytes(&self, out: &mut [u8]) -> Result<(), XenAbiError> {
        let len = out.len();
        wire::write(out, 0, *self).ok_or(XenAbiError::Truncated { len })
    }

    /// Encodes a response for the ring into `out` and returns the bytes to write at the start
    /// of its slot: everything when it carries registers ([`VM_EVENT_FLAG_SET_REGISTERS`]),
    /// or an address or value for the call ([`VM_EVENT_SYSCALL_PAGE_IN`],
    /// [`VM_EVENT_SYSCALL_RETURN`]), otherwise only the [`RESPONSE_HEAD_SIZE`] bytes before
    /// `data`, all Xen reads of such a
    /// response (`vm_event_resume`: version, flags, reason, vcpu_id; the PV syscall hook:
    /// `u.syscall.seq`). The rest of the slot keeps whatever it held.
    pub fn response_bytes<'b>(&self, out: &'b mut [u8; VM_EVENT_SIZE]) -> &'b [u8] {
        if self.flags & VM_EVENT_FLAG_SET_REGISTERS != 0 || self.u.syscall().flags & CALL_ANSWERS != 0 {
            wire::write(&mut out[..], 0, *self);
            return &out[..];
        }
        let head = &mut out[..RESPONSE_HEAD_SIZE];
        self.version.write_le(head, offset_of!(VmEventSt, version));
        self.flags.write_le(head, offset_of!(VmEventSt, flags));
        self.reason.write_le(head, offset_of!(VmEventSt, reason));
        self.vcpu_id.write_le(head, offset_of!(VmEventSt, vcpu_id));
        self.altp2m_idx.write_le(head, offset_of!(VmEventSt, altp2m_idx));
        self._pad.write_le(head, offset_of!(VmEventSt, _pad));
        self.u.write_le(head, offset_of!(VmEventSt, u));
        head
    }

    /// Validates a request as a syscall event: version, reason, entry kind, paused vCPU.
    pub fn syscall_event(&self) -> Result<SyscallEvent, XenAbiError> {
        if self.version != VM_EVENT_INTERFACE_VERSION {
            return Err(XenAbiError::VersionMismatch { got: self.version });
        }
        if self.reason != VM_EVENT_REASON_SYSCALL {
            return Err(XenAbiError::UnknownReason { got: self.reason });
        }
        let sc = self.u.syscall();
        let entry = u8::try_from(sc.entry)
            .ok()
            .and_then(EntryKind::from_u8)
            .ok_or(XenAbiError::BadEntryKind { got: sc.entry })?;
        if self.flags & VM_EVENT_FLAG_VCPU_PAUSED == 0 {
            return Err(XenAbiError::NotPaused);
        }
        Ok(SyscallEvent {
            vcpu_id: self.vcpu_id,
            entry,
            seq: sc.seq,
            user_pgd: sc.user_pgd,
            parent_pgd: sc.parent_pgd,
            set_flags: sc.flags,
            regs: registers_from_x86(&self.data),
        })
    }

    /// A syscall request as Xen's patch fills it (for tests, fuzzers and the replay tools).
    pub fn syscall_request(vcpu_id: u32, entry: EntryKind, regs: &Registers) -> Self {
        let mut data = VmEventRegsX86 { cr3: regs.cr3, ..VmEventRegsX86::default() };
        apply_registers(&mut data, regs);
        Self {
            version: VM_EVENT_INTERFACE_VERSION,
            flags: VM_EVENT_FLAG_VCPU_PAUSED,
            reason: VM_EVENT_REASON_SYSCALL,
            vcpu_id,
            altp2m_idx: 0,
            _pad: [0; 3],
            u: VmEventU::from_syscall(VmEventSyscall { entry: entry as u32, ..VmEventSyscall::default() }),
            data,
        }
    }
}

impl VmEventSt {
    /// This response, asking Xen to apply `flags` ([`VM_EVENT_SYSCALL_WATCH`],
    /// [`VM_EVENT_SYSCALL_ADOPT`], [`VM_EVENT_SYSCALL_RELEASE`]) to the caller's address space;
    /// the request's flags echoed in it are replaced, an answer for the call
    /// ([`VM_EVENT_SYSCALL_PAGE_IN`], [`VM_EVENT_SYSCALL_RETURN`]) is kept.
    pub fn with_set_flags(mut self, flags: u32) -> Self {
        let mut sc = self.u.syscall();
        sc.flags = flags | (sc.flags & CALL_ANSWERS);
        self.u = VmEventU::from_syscall(sc);
        self
    }
}

/// The response to syscall request `req`: resume the vCPU, with `edited` registers written
/// back if given (the kill) or as it is. Fails if `req` is not a valid syscall event, so a
/// response is only ever built for a request this ABI understood.
pub fn build_response(req: &VmEventSt, edited: Option<&Registers>) -> Result<VmEventSt, XenAbiError> {
    req.syscall_event()?;
    let mut rsp = VmEventSt {
        version: VM_EVENT_INTERFACE_VERSION,
        flags: VM_EVENT_FLAG_VCPU_PAUSED,
        reason: req.reason,
        vcpu_id: req.vcpu_id,
        altp2m_idx: req.altp2m_idx,
        _pad: [0; 3],
        u: req.u,
        data: req.data,
    };
    if let Some(regs) = edited {
        apply_registers(&mut rsp.data, regs);
        rsp.flags |= VM_EVENT_FLAG_SET_REGISTERS;
    }
    Ok(rsp)
}

/// The response that keeps the call from the guest kernel for now: the caller takes a user-mode
/// read page fault at `va` (the guest kernel brings the page in) and executes the call again,
/// which Xen reports again.
pub fn page_in_response(req: &VmEventSt, va: u64) -> Result<VmEventSt, XenAbiError> {
    let mut rsp = build_response(req, None)?.with_set_flags(VM_EVENT_SYSCALL_PAGE_IN);
    rsp.data.cr2 = va;
    Ok(rsp)
}

/// The response that completes the call without running it: it returns `value` (e.g. `-EFAULT`
/// as the guest kernel would return it for a pointer into no mapping).
pub fn return_response(req: &VmEventSt, value: i64) -> Result<VmEventSt, XenAbiError> {
    let mut rsp = build_response(req, None)?.with_set_flags(VM_EVENT_SYSCALL_RETURN);
    rsp.data.rax = value as u64;
    Ok(rsp)
}

/// The response that kills P: the trapped call rewritten into `exit_group(status)` (see
/// [`kill_edit`]), with the condition under which the guest kernel runs it.
pub fn kill_response(req: &VmEventSt, status: i32) -> Result<(VmEventSt, KillCondition), XenAbiError> {
    let ev = req.syscall_event()?;
    let mut regs = ev.regs;
    let cond = kill_edit(ev.entry, &mut regs, status);
    Ok((build_response(req, Some(&regs))?, cond))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_without_registers_is_only_its_head() {
        let regs = Registers { rax: 59, rdi: 0x1234, cr3: 0x5000, ..Registers::default() };
        let mut req = VmEventSt::syscall_request(3, EntryKind::Syscall64, &regs);
        req.u = VmEventU::from_syscall(VmEventSyscall { seq: 77, ..VmEventSyscall::default() });
        let mut full = [0u8; VM_EVENT_SIZE];
        let mut out = [0u8; VM_EVENT_SIZE];

        let allow = build_response(&req, None).unwrap();
        allow.to_bytes(&mut full).unwrap();
        let head = allow.response_bytes(&mut out);
        assert_eq!(head, &full[..RESPONSE_HEAD_SIZE]);
        // Written over a slot that still holds the request, Xen reads the same response.
        let mut slot = [0u8; VM_EVENT_SIZE];
        req.to_bytes(&mut slot).unwrap();
        slot[..RESPONSE_HEAD_SIZE].copy_from_slice(head);
        let seen = VmEventSt::from_bytes(&slot).unwrap();
        assert_eq!(
            (seen.version, seen.flags, seen.reason, seen.vcpu_id),
            (allow.version, allow.flags, allow.reason, 3)
        );
        assert_eq!(seen.u.syscall().seq, 77);
        assert_eq!(seen.flags & VM_EVENT_FLAG_SET_REGISTERS, 0);

        let (kill, _) = kill_response(&req, 137).unwrap();
        kill.to_bytes(&mut full).unwrap();
        assert_eq!(kill.response_bytes(&mut out), &full[..], "a response with registers is written whole");

        // An answer for the call carries its address or value in the register block: whole too.
        let page_in = page_in_response(&req, 0x4010_0000).unwrap();
        assert_eq!((page_in.u.syscall().flags, page_in.data.cr2), (VM_EVENT_SYSCALL_PAGE_IN, 0x4010_0000));
        assert_eq!(page_in.flags & VM_EVENT_FLAG_SET_REGISTERS, 0, "Xen ignores them for a page-in");
        page_in.to_bytes(&mut full).unwrap();
        assert_eq!(page_in.response_bytes(&mut out), &full[..]);
        let ret = return_response(&req, -14).unwrap();
        assert_eq!((ret.u.syscall().flags, ret.data.rax), (VM_EVENT_SYSCALL_RETURN, (-14i64) as u64));
        ret.to_bytes(&mut full).unwrap();
        assert_eq!(ret.response_bytes(&mut out), &full[..]);
        assert_eq!(ret.u.syscall().seq, 77);
    }
    use crate::syscall::decode;
    use core::mem::offset_of;
    use std::format;
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::string::String;
    use std::vec::Vec;
    use std::{eprintln, println};

    #[test]
    fn response_echoes_seq_and_user_pgd() {
        let mut req = VmEventSt::syscall_request(2, EntryKind::Syscall64, &sample_regs());
        req.u = VmEventU::from_syscall(VmEventSyscall {
            seq: 0xdead_0007,
            user_pgd: 0x1234_5000,
            ..VmEventSyscall::default()
        });
        let ev = req.syscall_event().unwrap();
        assert_eq!((ev.seq, ev.user_pgd), (0xdead_0007, 0x1234_5000));
        let (rsp, _) = kill_response(&req, 9).unwrap();
        assert_eq!(rsp.u.syscall().seq, 0xdead_0007, "Xen drops a response with another seq");
        let mut b = [0u8; VM_EVENT_SIZE];
        rsp.to_bytes(&mut b).unwrap();
        assert_eq!(b[28..32], 0xdead_0007u32.to_le_bytes());
        // An entry value above 255 is not truncated into a valid kind.
        req.u = VmEventU::from_syscall(VmEventSyscall { entry: 0x100, ..VmEventSyscall::default() });
        assert_eq!(req.syscall_event(), Err(XenAbiError::BadEntryKind { got: 0x100 }));
    }

    fn sample_regs() -> Registers {
        Registers {
            rax: 59,
            rbx: 2,
            rcx: 0x40_1234,
            rdx: 4,
            rsi: 5,
            rdi: 6,
            rbp: 7,
            rsp: 0x7ffc_0000_1000,
            r8: 8,
            r9: 9,
            r10: 10,
            r11: 0x246,
            r12: 12,
            r13: 13,
            r14: 14,
            r15: 15,
            rip: 0x40_1234,
            rflags: 0x246,
            cr3: 0x1_2345_6000,
        }
    }

    #[test]
    fn request_bytes_land_at_the_c_offsets() {
        let mut req = VmEventSt::syscall_request(3, EntryKind::Sysenter, &sample_regs());
        req.data.gs = VmEventX86SelectorReg::new(0xabcde, 0x123);
        req.data._pad = 0xbeef;
        let mut b = [0u8; VM_EVENT_SIZE];
        req.to_bytes(&mut b).unwrap();
        assert_eq!(b[0..4], 7u32.to_le_bytes()); // version
        assert_eq!(b[4..8], 1u32.to_le_bytes()); // flags: VCPU_PAUSED
        assert_eq!(b[8..12], 31u32.to_le_bytes()); // reason
        assert_eq!(b[12..16], 3u32.to_le_bytes()); // vcpu_id
        assert_eq!(b[24], 2); // u.syscall.entry
        assert_eq!(b[56..64], 59u64.to_le_bytes()); // data.regs.x86.rax
        assert_eq!(b[56 + 24..56 + 32], 2u64.to_le_bytes()); // rbx after rax, rcx, rdx
        assert_eq!(b[56 + 152..56 + 160], 0x40_1234u64.to_le_bytes()); // rip
        assert_eq!(b[56 + 176..56 + 184], 0x1_2345_6000u64.to_le_bytes()); // cr3
        assert_eq!(b[56 + 316..56 + 320], 0x123a_bcdeu32.to_le_bytes()); // gs limit/ar
        assert_eq!(b[398..400], 0xbeefu16.to_le_bytes()); // last field
        assert_eq!(VmEventSt::from_bytes(&b), Ok(req));
    }

    #[test]
    fn short_buffers_are_errors() {
        let req = VmEventSt::syscall_request(0, EntryKind::Syscall64, &sample_regs());
        let mut b = [0u8; VM_EVENT_SIZE - 1];
        assert_eq!(req.to_bytes(&mut b), Err(XenAbiError::Truncated { len: 399 }));
        assert_eq!(VmEventSt::from_bytes(&b), Err(XenAbiError::Truncated { len: 399 }));
        assert_eq!(VmEventSt::from_bytes(&[]), Err(XenAbiError::Truncated { len: 0 }));
        // Longer buffers (a whole ring slot area) are fine; only the first 400 bytes count.
        let mut big = [0xffu8; 512];
        req.to_bytes(&mut big).unwrap();
        assert_eq!(big[400], 0xff);
        assert_eq!(VmEventSt::from_bytes(&big), Ok(req));
    }

    #[test]
    fn request_to_syscall_event() {
        let regs = sample_regs();
        let req = VmEventSt::syscall_request(1, EntryKind::Int80, &regs);
        let ev = req.syscall_event().unwrap();
        assert_eq!(
            ev,
            SyscallEvent {
                vcpu_id: 1,
                entry: EntryKind::Int80,
                seq: 0,
                user_pgd: 0,
                parent_pgd: 0,
                set_flags: 0,
                regs
            }
        );
        assert_eq!(decode(ev.entry, &ev.regs).name(), Some("oldolduname")); // ia32 59
    }

    #[test]
    fn validation_errors() {
        let good = VmEventSt::syscall_request(0, EntryKind::Syscall64, &sample_regs());
        let mut r = good;
        r.version = 6;
        assert_eq!(r.syscall_event(), Err(XenAbiError::VersionMismatch { got: 6 }));
        let mut r = good;
        r.reason = 1; // MEM_ACCESS
        assert_eq!(r.syscall_event(), Err(XenAbiError::UnknownReason { got: 1 }));
        let mut r = good;
        r.u.bytes[0] = 4;
        assert_eq!(r.syscall_event(), Err(XenAbiError::BadEntryKind { got: 4 }));
        let mut r = good;
        r.flags = 0;
        assert_eq!(r.syscall_event(), Err(XenAbiError::NotPaused));
        // No response for a request that does not validate.
        assert_eq!(build_response(&r, None), Err(XenAbiError::NotPaused));
        assert!(kill_response(&r, 0).is_err());
    }

    #[test]
    fn allow_response_resumes_without_register_write() {
        let mut req = VmEventSt::syscall_request(5, EntryKind::Syscall64, &sample_regs());
        req.altp2m_idx = 2;
        req.data.dr7 = 0x400;
        let rsp = build_response(&req, None).unwrap();
        assert_eq!(rsp.version, VM_EVENT_INTERFACE_VERSION);
        assert_eq!(rsp.flags, VM_EVENT_FLAG_VCPU_PAUSED);
        assert_eq!((rsp.reason, rsp.vcpu_id, rsp.altp2m_idx), (VM_EVENT_REASON_SYSCALL, 5, 2));
        assert_eq!(rsp.u, req.u);
        assert_eq!(rsp.data, req.data);
    }

    #[test]
    fn kill_response_for_each_entry() {
        for entry in [EntryKind::Syscall64, EntryKind::Int80, EntryKind::Sysenter, EntryKind::CompatSyscall] {
            let mut req = VmEventSt::syscall_request(0, entry, &sample_regs());
            req.data.cr3 = 0xabc000;
            req.data.fs_base = 0x7f00_0000_0000;
            let (rsp, cond) = kill_response(&req, 9).unwrap();
            assert_eq!(rsp.flags, VM_EVENT_FLAG_VCPU_PAUSED | VM_EVENT_FLAG_SET_REGISTERS);
            // Fields the write-back does not cover are echoed.
            assert_eq!((rsp.data.cr3, rsp.data.fs_base), (0xabc000, 0x7f00_0000_0000));
            let regs = registers_from_x86(&rsp.data);
            let d = decode(entry, &regs);
            assert_eq!(d.name(), Some("exit_group"), "{entry:?}");
            assert_eq!(d.reg_arg(0), Some(9));
            let (nr, first_arg) = match entry {
                EntryKind::Syscall64 => (231, rsp.data.rdi),
                _ => (252, rsp.data.rbx),
            };
            assert_eq!((rsp.data.rax, first_arg), (nr, 9));
            assert_eq!(cond == KillCondition::Certain, matches!(entry, EntryKind::Syscall64 | EntryKind::Int80));
            // The response survives the trip through bytes.
            let mut b = [0u8; VM_EVENT_SIZE];
            rsp.to_bytes(&mut b).unwrap();
            assert_eq!(VmEventSt::from_bytes(&b), Ok(rsp));
        }
    }

    #[test]
    fn register_conversion_round_trips() {
        let regs = sample_regs();
        let mut x = VmEventRegsX86::default();
        apply_registers(&mut x, &regs);
        x.cr3 = regs.cr3;
        assert_eq!(registers_from_x86(&x), regs);
        // apply_registers leaves cr3 alone.
        let mut y = x;
        apply_registers(&mut y, &Registers { cr3: 0, ..regs });
        assert_eq!(y.cr3, regs.cr3);
    }

    #[test]
    fn selector_reg_bitfields() {
        let s = VmEventX86SelectorReg::new(0xabcde, 0x123);
        assert_eq!((s.limit(), s.ar()), (0xabcde, 0x123));
        let s = VmEventX86SelectorReg::new(0xfff_ffff, 0xffff);
        assert_eq!((s.limit(), s.ar(), s.raw), (0xf_ffff, 0xfff, u32::MAX));
    }

    #[test]
    fn garbage_bytes_decode_or_fail_but_never_panic() {
        // Every byte pattern is some struct; validation, not decoding, rejects it.
        let mut b = [0u8; VM_EVENT_SIZE];
        for (i, v) in b.iter_mut().enumerate() {
            *v = (i as u8).wrapping_mul(151).wrapping_add(7);
        }
        let req = VmEventSt::from_bytes(&b).unwrap();
        let mut back = [0u8; VM_EVENT_SIZE];
        req.to_bytes(&mut back).unwrap();
        assert_eq!(back, b);
        assert!(req.syscall_event().is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_round_trip_and_validate_without_panic(
            v in proptest::collection::vec(proptest::prelude::any::<u8>(), VM_EVENT_SIZE)
        ) {
            let req = VmEventSt::from_bytes(&v).unwrap();
            let mut back = [0u8; VM_EVENT_SIZE];
            req.to_bytes(&mut back).unwrap();
            proptest::prop_assert_eq!(&back[..], &v[..]);
            match req.syscall_event() {
                Ok(ev) => {
                    proptest::prop_assert_eq!(req.version, VM_EVENT_INTERFACE_VERSION);
                    proptest::prop_assert_eq!(ev.entry as u8, v[24]);
                    proptest::prop_assert!(build_response(&req, None).is_ok());
                }
                Err(_) => proptest::prop_assert!(build_response(&req, None).is_err()),
            }
        }

        #[test]
        fn valid_requests_always_get_a_kill_response(
            vcpu in 0u32..64, entry in 0u8..4, g in proptest::array::uniform16(proptest::prelude::any::<u64>())
        ) {
            let entry = EntryKind::from_u8(entry).unwrap();
            let regs = Registers {
                rax: g[0], rbx: g[1], rcx: g[2], rdx: g[3], rsi: g[4], rdi: g[5], rbp: g[6], rsp: g[7],
                r8: g[8], r9: g[9], r10: g[10], r11: g[11], r12: g[12], r13: g[13], r14: g[14], r15: g[15],
                rip: g[0] ^ g[1], rflags: 0x202, cr3: g[2] & !0xfff,
            };
            let req = VmEventSt::syscall_request(vcpu, entry, &regs);
            let (rsp, _) = kill_response(&req, 7).unwrap();
            proptest::prop_assert_eq!(rsp.vcpu_id, vcpu);
            proptest::prop_assert_eq!(decode(entry, &registers_from_x86(&rsp.data)).name(), Some("exit_group"));
        }
    }

    // ---- check against the real C header -------------------------------------------------

    /// Directories holding a `vm_event.h` to check: `SEMGUARD_XEN_PUBLIC` if set (then it must
    /// exist), else `scripts/build-xen`'s finished artefacts under `$SEMGUARD_CACHE`.
    fn header_dirs() -> Result<Vec<PathBuf>, String> {
        if let Some(dir) = std::env::var_os("SEMGUARD_XEN_PUBLIC") {
            let dir = PathBuf::from(dir);
            if dir.join("vm_event.h").is_file() {
                return Ok(std::vec![dir]);
            }
            return Err(format!("SEMGUARD_XEN_PUBLIC={} has no vm_event.h", dir.display()));
        }
        let cache =
            std::env::var_os("SEMGUARD_CACHE").map_or_else(|| PathBuf::from("/var/cache/semguard"), PathBuf::from);
        // Without SEMGUARD_XEN_PUBLIC (scripts/test sets it to the current series' build): the
        // newest build in the cache; older ones may predate a change of the series.
        let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
        if let Ok(entries) = std::fs::read_dir(&cache) {
            for e in entries.flatten() {
                let p = e.path();
                let is_xen = e.file_name().to_str().is_some_and(|n| n.starts_with("xen-") && !n.ends_with(".tmp"));
                let public = p.join("include/public");
                let done = std::fs::metadata(p.join(".done")).and_then(|m| m.modified());
                if let (true, Ok(t), true) = (is_xen, done, public.join("vm_event.h").is_file()) {
                    if newest.as_ref().is_none_or(|(n, _)| t > *n) {
                        newest = Some((t, public));
                    }
                }
            }
        }
        Ok(newest.into_iter().map(|(_, p)| p).collect())
    }

    /// Every `#define NAME VALUE` with a plain integer VALUE the header defines (gcc -dM -E).
    fn header_macros(dir: &Path, work: &Path) -> Vec<(String, u64)> {
        let src = work.join("macros.c");
        std::fs::write(&src, "#include <stdint.h>\n#include \"vm_event.h\"\n").unwrap();
        let out = Command::new("gcc")
            .args(["-dM", "-E", "-D__XEN_TOOLS__", "-iquote"])
            .arg(dir)
            .arg(&src)
            .output()
            .expect("gcc is required to check the Xen ABI against the header");
        assert!(out.status.success(), "gcc -dM -E failed:\n{}", String::from_utf8_lossy(&out.stderr));
        let mut v = Vec::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut it = line.split_whitespace();
            if let (Some("#define"), Some(name), Some(val), None) = (it.next(), it.next(), it.next(), it.next()) {
                let val = val.trim_start_matches('(').trim_end_matches(')');
                let parsed = match val.strip_prefix("0x") {
                    Some(h) => u64::from_str_radix(h, 16).ok(),
                    None => val.parse::<u64>().ok(),
                };
                if let Some(p) = parsed {
                    v.push((String::from(name), p));
                }
            }
        }
        v
    }

    fn layout_asserts(c: &mut String, l: &CLayout) {
        let t = l.c_type;
        c.push_str(&format!("_Static_assert(sizeof({t}) == {}, \"sizeof({t}) == {}\");\n", l.size, l.size));
        c.push_str(&format!("_Static_assert(_Alignof({t}) == {}, \"_Alignof({t}) == {}\");\n", l.align, l.align));
        for (f, off, size) in l.fields {
            c.push_str(&format!("_Static_assert(offsetof({t}, {f}) == {off}, \"offsetof({t}, {f}) == {off}\");\n"));
            c.push_str(&format!("_Static_assert(sizeof((({t} *)0)->{f}) == {size}, \"sizeof({t}.{f}) == {size}\");\n"));
        }
    }

    /// The C program: every Rust number as a `_Static_assert` (a mismatch fails compilation
    /// with the field named), plus what needs running: bit-field packing and the ring size.
    fn check_program(with_syscall: bool) -> String {
        let mut c =
            String::from("#include <stdint.h>\n#include <stddef.h>\n#include <stdio.h>\n#include \"vm_event.h\"\n");
        c.push_str(&format!(
            "_Static_assert(VM_EVENT_INTERFACE_VERSION == {VM_EVENT_INTERFACE_VERSION}, \"version\");\n\
             _Static_assert(VM_EVENT_FLAG_VCPU_PAUSED == {VM_EVENT_FLAG_VCPU_PAUSED}, \"VCPU_PAUSED\");\n\
             _Static_assert(VM_EVENT_FLAG_SET_REGISTERS == {VM_EVENT_FLAG_SET_REGISTERS}, \"SET_REGISTERS\");\n\
             _Static_assert(VM_EVENT_REASON_VMEXIT == {VM_EVENT_REASON_VMEXIT}, \"REASON_VMEXIT\");\n\
             _Static_assert(sizeof(struct vm_event_x86_selector_reg) == 4, \"selector size\");\n\
             _Static_assert(sizeof(((vm_event_request_t *)0)->u) == {}, \"sizeof u\");\n\
             _Static_assert(_Alignof(__typeof__(((vm_event_request_t *)0)->u)) == {}, \"align u\");\n\
             _Static_assert(sizeof(((vm_event_request_t *)0)->data) == sizeof(struct vm_event_regs_x86), \"data is regs\");\n\
             _Static_assert(sizeof(vm_event_response_t) == sizeof(vm_event_request_t), \"rsp == req\");\n\
             _Static_assert(offsetof(struct vm_event_sring, req_prod) == {RING_REQ_PROD}, \"req_prod\");\n\
             _Static_assert(offsetof(struct vm_event_sring, req_event) == {RING_REQ_EVENT}, \"req_event\");\n\
             _Static_assert(offsetof(struct vm_event_sring, rsp_prod) == {RING_RSP_PROD}, \"rsp_prod\");\n\
             _Static_assert(offsetof(struct vm_event_sring, rsp_event) == {RING_RSP_EVENT}, \"rsp_event\");\n\
             _Static_assert(offsetof(struct vm_event_sring, ring) == {RING_HEADER_SIZE}, \"ring header\");\n\
             _Static_assert(sizeof(union vm_event_sring_entry) == {VM_EVENT_SIZE}, \"slot size\");\n",
            size_of::<VmEventU>(),
            align_of::<VmEventU>(),
        ));
        layout_asserts(&mut c, &VmEventRegsX86::C_LAYOUT);
        layout_asserts(&mut c, &VmEventSt::C_LAYOUT);
        if with_syscall {
            c.push_str(&format!(
                "_Static_assert(VM_EVENT_REASON_SYSCALL == {VM_EVENT_REASON_SYSCALL}, \"REASON_SYSCALL\");\n\
                 _Static_assert(VM_EVENT_SYSCALL_ENTRY_LSTAR == {VM_EVENT_SYSCALL_ENTRY_LSTAR}, \"entry lstar\");\n\
                 _Static_assert(VM_EVENT_SYSCALL_ENTRY_INT80 == {VM_EVENT_SYSCALL_ENTRY_INT80}, \"entry int80\");\n\
                 _Static_assert(VM_EVENT_SYSCALL_ENTRY_SYSENTER == {VM_EVENT_SYSCALL_ENTRY_SYSENTER}, \"entry sysenter\");\n\
                 _Static_assert(VM_EVENT_SYSCALL_ENTRY_CSTAR == {VM_EVENT_SYSCALL_ENTRY_CSTAR}, \"entry cstar\");\n\
                 _Static_assert(offsetof(vm_event_request_t, u.syscall) == {}, \"offset u.syscall\");\n\
                 _Static_assert(VM_EVENT_SYSCALL_MEMBER == {VM_EVENT_SYSCALL_MEMBER}, \"MEMBER\");\n\
                 _Static_assert(VM_EVENT_SYSCALL_CANDIDATE == {VM_EVENT_SYSCALL_CANDIDATE}, \"CANDIDATE\");\n\
                 _Static_assert(VM_EVENT_SYSCALL_FRESH == {VM_EVENT_SYSCALL_FRESH}, \"FRESH\");\n\
                 _Static_assert(VM_EVENT_SYSCALL_WATCH == {VM_EVENT_SYSCALL_WATCH}, \"WATCH\");\n\
                 _Static_assert(VM_EVENT_SYSCALL_ADOPT == {VM_EVENT_SYSCALL_ADOPT}, \"ADOPT\");\n\
                 _Static_assert(VM_EVENT_SYSCALL_RELEASE == {VM_EVENT_SYSCALL_RELEASE}, \"RELEASE\");\n\
                 _Static_assert(VM_EVENT_SYSCALL_PAGE_IN == {VM_EVENT_SYSCALL_PAGE_IN}, \"PAGE_IN\");\n\
                 _Static_assert(VM_EVENT_SYSCALL_RETURN == {VM_EVENT_SYSCALL_RETURN}, \"RETURN\");\n",
                offset_of!(VmEventSt, u),
            ));
            layout_asserts(&mut c, &VmEventSyscall::C_LAYOUT);
        }
        c.push_str(
            "int main(void) {\n\
             \x20   struct vm_event_x86_selector_reg s = { .limit = 0xabcde, .ar = 0x123 };\n\
             \x20   uint32_t raw; __builtin_memcpy(&raw, &s, 4);\n\
             \x20   printf(\"selector %#x\\n\", raw);\n\
             \x20   for (unsigned p = 1; p <= 16; p++)\n\
             \x20       printf(\"slots %u %u\\n\", p, (unsigned)__RING_SIZE((struct vm_event_sring *)0, p * 4096));\n\
             \x20   return 0;\n}\n",
        );
        c
    }

    fn check_header(dir: &Path, work: &Path) -> bool {
        let macros = header_macros(dir, work);
        let get = |n: &str| macros.iter().find(|(m, _)| m == n).map(|(_, v)| *v);
        let patched = get("VM_EVENT_REASON_SYSCALL").is_some();
        // Our reason must not alias any reason the header defines.
        let others: Vec<u64> = macros
            .iter()
            .filter(|(m, _)| m.starts_with("VM_EVENT_REASON_") && m != "VM_EVENT_REASON_SYSCALL")
            .map(|(_, v)| *v)
            .collect();
        assert!(others.len() >= 16, "{}: only {} VM_EVENT_REASON_* macros parsed", dir.display(), others.len());
        assert!(
            !others.contains(&u64::from(VM_EVENT_REASON_SYSCALL)),
            "{}: VM_EVENT_REASON_SYSCALL collides with another reason",
            dir.display()
        );

        let src = work.join("layout.c");
        let exe = work.join("layout");
        std::fs::write(&src, check_program(patched)).unwrap();
        let out = Command::new("gcc")
            .args(["-std=gnu11", "-Wall", "-Werror", "-D__XEN_TOOLS__", "-iquote"])
            .arg(dir)
            .arg(&src)
            .arg("-o")
            .arg(&exe)
            .output()
            .expect("gcc is required to check the Xen ABI against the header");
        assert!(
            out.status.success(),
            "Rust ABI mirror disagrees with {}/vm_event.h:\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let run = Command::new(&exe).output().unwrap();
        assert!(run.status.success());
        let stdout = String::from_utf8_lossy(&run.stdout);
        let raw = VmEventX86SelectorReg::new(0xabcde, 0x123).raw;
        assert!(stdout.contains(&format!("selector {raw:#x}\n")), "bit-field packing: {stdout}");
        for pages in 1..=RING_MAX_PAGES {
            let slots = ring_slots(pages);
            assert!(stdout.contains(&format!("slots {pages} {slots}\n")), "ring slots of {pages} pages: {stdout}");
        }
        patched
    }

    #[test]
    fn layout_matches_xen_headers() {
        let dirs = match header_dirs() {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        if dirs.is_empty() {
            eprintln!(
                "SKIPPED layout_matches_xen_headers: no Xen public headers found (set SEMGUARD_XEN_PUBLIC \
                 to a xen/include/public directory or run scripts/build-xen)"
            );
            return;
        }
        let work = std::env::temp_dir().join(format!("semguard-xen-abi-{}", std::process::id()));
        std::fs::create_dir_all(&work).unwrap();
        for dir in &dirs {
            let patched = check_header(dir, &work);
            println!(
                "checked {}/vm_event.h: base layout ok; syscall extension {}",
                dir.display(),
                if patched { "present and matching" } else { "absent (unpatched header)" }
            );
        }
        let _ = std::fs::remove_dir_all(&work);
    }
}
