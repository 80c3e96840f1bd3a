// SPDX-License-Identifier: GPL-2.0

//! Declarations of the Xen plumbing in xen.c and xenabi.c (shim.h), and thin safe wrappers.
//! Each call does one mechanical step; monitor.rs decides which, when and what to do on error.

use kernel::ffi::{c_int, c_uint, c_ulong};
use kernel::prelude::*;

extern "C" {
    fn sg_xen_pv_dom0() -> bool;
    fn sg_phys_bits() -> c_uint;
    fn sg_now_ns() -> u64;
    fn sg_realtime_ns() -> u64;
    fn sg_lock_irqsave() -> c_ulong;
    fn sg_unlock_irqrestore(flags: c_ulong);
    fn sg_ring_alloc(mfn: *mut u64) -> c_int;
    fn sg_ring_free();
    fn sg_vm_event_enable(domid: u16, mfn: u64, port: *mut u32) -> c_int;
    fn sg_vm_event_disable(domid: u16) -> c_int;
    fn sg_monitor_syscall(
        domid: u16,
        enable: bool,
        flags: u32,
        pgd_match: u64,
        pgd_mask: u64,
        bitmap: *const u8,
    ) -> c_int;
    fn sg_domain_alive(domid: u16) -> c_int;
    fn sg_ring_req_prod() -> u32;
    fn sg_ring_get(slot: u32, out: *mut u8);
    fn sg_ring_put(slot: u32, inp: *const u8);
    fn sg_ring_push_responses(rsp_prod: u32);
    fn sg_evtchn_bind(domid: u16, remote_port: u32) -> c_int;
    fn sg_evtchn_unbind();
    fn sg_notify();
    fn sg_fmap_init(n: c_uint) -> c_int;
    fn sg_fmap_map(slot: c_uint, mfn: u64, domid: u16, all_cpus: bool) -> c_int;
    fn sg_this_cpu() -> c_uint;
    fn sg_fmap_unmap(slot: c_uint) -> c_int;
    fn sg_fmap_read(slot: c_uint, off: usize, buf: *mut u8, len: usize);
    fn sg_fmap_fini();
    fn sg_poll_start(ms: c_uint);
    fn sg_poll_stop();
    fn sg_guest_kernel_cr3(domid: u16, vcpu: u32, cr3: *mut u64) -> c_int;
}

use crate::filter::BITMAP_BYTES;
/// `sg_monitor_syscall` flag: report only the numbers in the bitmap.
pub(crate) const NR_FILTER: u32 = 1 << 0;
/// `sg_monitor_syscall` flag: a call that cannot be reported goes on (else Xen kills it).
pub(crate) const FAIL_OPEN: u32 = 1 << 1;

fn errno(r: c_int) -> Result {
    if r == 0 {
        Ok(())
    } else {
        Err(Error::from_errno(r))
    }
}

/// True in a PV dom0 (the only place the ring/mapping calls here work).
pub(crate) fn pv_dom0() -> bool {
    // SAFETY: reads Xen's boot-time domain type; no preconditions.
    unsafe { sg_xen_pv_dom0() }
}

/// The host's MAXPHYADDR as dom0's CPUID reports it.
pub(crate) fn phys_bits() -> u8 {
    // SAFETY: reads boot_cpu_data; no preconditions.
    u8::try_from(unsafe { sg_phys_bits() }).unwrap_or(52)
}

/// Monotonic clock, ns.
pub(crate) fn now_ns() -> u64 {
    // SAFETY: ktime_get_ns is safe in any context.
    unsafe { sg_now_ns() }
}

/// Wall clock, ns since the epoch.
pub(crate) fn realtime_ns() -> u64 {
    // SAFETY: ktime_get_real_ns is safe in any context.
    unsafe { sg_realtime_ns() }
}

/// The monitor's IRQ-safe spinlock, held while the guard lives.
pub(crate) struct LockGuard {
    flags: c_ulong,
}

impl LockGuard {
    /// Takes the lock with interrupts off (the event handler takes it in hard-IRQ context).
    pub(crate) fn lock() -> Self {
        // SAFETY: a plain spinlock; released exactly once by the guard's drop.
        Self { flags: unsafe { sg_lock_irqsave() } }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // SAFETY: the lock is held by this guard (taken in `lock`), with these saved flags.
        unsafe { sg_unlock_irqrestore(self.flags) };
    }
}

/// Allocates the ring page; its MFN.
pub(crate) fn ring_alloc() -> Result<u64> {
    let mut mfn = 0u64;
    // SAFETY: `mfn` is a valid out pointer; process context (GFP_KERNEL).
    errno(unsafe { sg_ring_alloc(&mut mfn) })?;
    Ok(mfn)
}

/// Frees the ring page. Only after `vm_event_disable` succeeded or the domain is gone.
pub(crate) fn ring_free() {
    // SAFETY: the caller guarantees Xen holds no mapping of the page any more.
    unsafe { sg_ring_free() };
}

/// `XEN_VM_EVENT_ENABLE_FRAME` with the ring page; Xen's event channel port.
pub(crate) fn vm_event_enable(domid: u16, mfn: u64) -> Result<u32> {
    let mut port = 0u32;
    // SAFETY: `port` is a valid out pointer; the domctl buffer is the callee's.
    errno(unsafe { sg_vm_event_enable(domid, mfn, &mut port) })?;
    Ok(port)
}

/// `XEN_VM_EVENT_DISABLE`: Xen answers what still waits (fail closed) and unmaps the ring.
pub(crate) fn vm_event_disable(domid: u16) -> Result {
    // SAFETY: a domctl on a buffer of the callee's.
    errno(unsafe { sg_vm_event_disable(domid) })
}

/// `monitor_op` ENABLE (replacing any filter) with these flags, pgd filter and bitmap.
pub(crate) fn monitor_enable(
    domid: u16,
    flags: u32,
    pgd_match: u64,
    pgd_mask: u64,
    bitmap: &[u8; BITMAP_BYTES],
) -> Result {
    // SAFETY: `bitmap` is 128 readable bytes for the duration of the call.
    errno(unsafe { sg_monitor_syscall(domid, true, flags, pgd_match, pgd_mask, bitmap.as_ptr()) })
}

/// `monitor_op` DISABLE: no new reports.
pub(crate) fn monitor_disable(domid: u16) -> Result {
    let none = [0u8; BITMAP_BYTES];
    // SAFETY: as above; DISABLE does not read the bitmap.
    errno(unsafe { sg_monitor_syscall(domid, false, 0, 0, 0, none.as_ptr()) })
}

/// Ok if the domain exists and is neither dying nor shut down.
pub(crate) fn domain_alive(domid: u16) -> Result {
    // SAFETY: a domctl on a buffer of the callee's.
    errno(unsafe { sg_domain_alive(domid) })
}

/// The ring's `req_prod` (with the read barrier before reading requests).
pub(crate) fn ring_req_prod() -> u32 {
    // SAFETY: only called while the ring page exists (the monitor is attached).
    unsafe { sg_ring_req_prod() }
}

/// Copies slot `idx % 8` out of the ring.
pub(crate) fn ring_get(idx: u32, out: &mut [u8; 400]) {
    // SAFETY: `out` is 400 writable bytes; the ring page exists (attached).
    unsafe { sg_ring_get(idx, out.as_mut_ptr()) };
}

/// Writes a response into slot `idx % 8`.
pub(crate) fn ring_put(idx: u32, inp: &[u8; 400]) {
    // SAFETY: `inp` is 400 readable bytes; the ring page exists (attached).
    unsafe { sg_ring_put(idx, inp.as_ptr()) };
}

/// Publishes responses up to `rsp_prod` (write barrier first).
pub(crate) fn ring_push_responses(rsp_prod: u32) {
    // SAFETY: the ring page exists (attached).
    unsafe { sg_ring_push_responses(rsp_prod) };
}

/// Binds Xen's port and installs the IRQ handler (which calls `semguard_rust_event`).
pub(crate) fn evtchn_bind(domid: u16, remote_port: u32) -> Result {
    // SAFETY: process context; the handler's Rust state is initialised before this call.
    errno(unsafe { sg_evtchn_bind(domid, remote_port) })
}

/// Removes the handler (waiting for a running one) and closes our port. Sleeps.
pub(crate) fn evtchn_unbind() {
    // SAFETY: process context, not under the monitor lock (free_irq waits for the handler).
    unsafe { sg_evtchn_unbind() };
}

/// Notifies Xen (it then resumes the vCPUs whose responses are on the ring).
pub(crate) fn notify() {
    // SAFETY: a no-op when unbound.
    unsafe { sg_notify() };
}

/// Allocates `n` ballooned pages as foreign-mapping slots.
pub(crate) fn fmap_init(n: u32) -> Result {
    // SAFETY: process context.
    errno(unsafe { sg_fmap_init(n) })
}

/// Maps guest frame `mfn` of `domid` read-only at slot `slot`, flushing the slot's old
/// translation on every dom0 vCPU (`all_cpus`) or only on this CPU (see fmap.rs: only when no
/// other CPU may hold it).
pub(crate) fn fmap_map(slot: u32, mfn: u64, domid: u16, all_cpus: bool) -> Result {
    // SAFETY: the callee checks `slot`; Xen checks that the frame is the guest's.
    errno(unsafe { sg_fmap_map(slot, mfn, domid, all_cpus) })
}

/// The CPU this runs on. Stable only while it cannot migrate: under the monitor lock
/// (interrupts off), where fmap.rs calls it.
pub(crate) fn this_cpu() -> u32 {
    // SAFETY: reads the per-CPU CPU number; no preconditions.
    unsafe { sg_this_cpu() }
}

/// Removes slot `slot`'s mapping.
pub(crate) fn fmap_unmap(slot: u32) -> Result {
    // SAFETY: the callee checks `slot`.
    errno(unsafe { sg_fmap_unmap(slot) })
}

/// Copies `buf.len()` bytes at `off` of mapped slot `slot`. The caller checked
/// `off + len <= 4096` and that the slot is mapped.
pub(crate) fn fmap_read(slot: u32, off: usize, buf: &mut [u8]) {
    // SAFETY: `buf` is writable for its length; the callee re-checks slot and bounds; the
    // slot is mapped (the caller's promise), so the copy does not fault.
    unsafe { sg_fmap_read(slot, off, buf.as_mut_ptr(), buf.len()) };
}

/// Returns the pool (every slot unmapped first).
pub(crate) fn fmap_fini() {
    // SAFETY: process context; the caller unmapped every slot.
    unsafe { sg_fmap_fini() };
}

/// Starts calling `semguard_rust_poll` every `ms` milliseconds.
pub(crate) fn poll_start(ms: u32) {
    // SAFETY: no preconditions.
    unsafe { sg_poll_start(ms) };
}

/// Stops it, waiting for a running call.
pub(crate) fn poll_stop() {
    // SAFETY: process context, not under the monitor lock.
    unsafe { sg_poll_stop() };
}

/// The guest kernel's page-table base (machine address) from vCPU `vcpu`'s context.
pub(crate) fn guest_kernel_cr3(domid: u16, vcpu: u32) -> Result<u64> {
    let mut cr3 = 0u64;
    // SAFETY: `cr3` is a valid out pointer; process context (allocates with GFP_KERNEL).
    errno(unsafe { sg_guest_kernel_cr3(domid, vcpu, &mut cr3) })?;
    Ok(cr3)
}
