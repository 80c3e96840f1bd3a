// SPDX-License-Identifier: GPL-2.0

//! The Xen plumbing of xen.c and xenabi.c behind safe Rust: each resource the module holds
//! (the ring page, the event-channel binding, the foreign-mapping pool) is a handle that
//! releases it on drop; the domctls are plain calls. Every `unsafe` FFI call of the module's
//! Xen side is in this file. monitor.rs decides which, when and what to do on error.

use core::ffi::c_void;
use core::ptr::NonNull;

use kernel::ffi::{c_int, c_uint, c_ulong};
use kernel::prelude::*;
use semguard_core::ring::{SharedPage, PAGE_SIZE};
use semguard_core::tracking::Filter;
use semguard_core::xen_abi::RING_MAX_PAGES;

/// xen.c's `struct sg_fmap_pool` (opaque here).
#[repr(C)]
struct FmapPool {
    _private: [u8; 0],
}

extern "C" {
    fn sg_xen_pv_dom0() -> bool;
    fn sg_phys_bits() -> c_uint;
    fn sg_now_ns() -> u64;
    fn sg_realtime_ns() -> u64;
    fn sg_lock_irqsave() -> c_ulong;
    fn sg_unlock_irqrestore(flags: c_ulong);
    fn sg_ring_alloc(order: c_uint, va: *mut *mut u8, mfns: *mut u64) -> *mut c_void;
    fn sg_ring_free(page: *mut c_void, order: c_uint);
    fn sg_ring_probe(page: *mut c_void, order: c_uint) -> c_int;
    fn sg_vm_event_enable(domid: u16, mfns: *const u64, nr: u32, port: *mut u32) -> c_int;
    fn sg_vm_event_disable(domid: u16) -> c_int;
    fn sg_monitor_syscall(
        domid: u16,
        enable: bool,
        flags: u32,
        pgd_match: u64,
        pgd_mask: u64,
        bitmap: *const u8,
        other: *const u8,
        bitmap_len: usize,
    ) -> c_int;
    fn sg_domain_info(
        domid: u16,
        handle: *mut u8,
        dead: *mut bool,
        shut_down: *mut bool,
        reason: *mut u32,
        vcpus: *mut u32,
    ) -> c_int;
    fn sg_evtchn_bind(domid: u16, remote_port: u32) -> c_int;
    fn sg_evtchn_unbind(irq: c_int);
    fn sg_notify(irq: c_int);
    fn sg_fmap_init(n: c_uint) -> *mut FmapPool;
    fn sg_fmap_slot(pool: *const FmapPool, slot: c_uint) -> *const u8;
    fn sg_fmap_map(pool: *const FmapPool, slot: c_uint, mfn: u64, domid: u16, all_cpus: bool) -> c_int;
    fn sg_this_cpu() -> c_uint;
    fn sg_fmap_unmap(pool: *const FmapPool, slot: c_uint) -> c_int;
    fn sg_fmap_fini(pool: *mut FmapPool);
    fn sg_msleep(ms: c_uint);
    fn sg_poll_start(ms: c_uint);
    fn sg_poll_stop();
    fn sg_guest_kernel_cr3(domid: u16, vcpu: u32, cr3: *mut u64) -> c_int;
}

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

/// The CPU this runs on. Stable only while it cannot migrate: under the monitor lock
/// (interrupts off), where fmap.rs calls it.
pub(crate) fn this_cpu() -> u32 {
    // SAFETY: reads the per-CPU CPU number; no preconditions.
    unsafe { sg_this_cpu() }
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

/// The monitor ring's pages: ours, mapped by Xen between `vm_event_enable` and the moment Xen
/// lets go of them. Dropping it frees the pages only if Xen confirms that nobody else holds a
/// writable reference to them (`sg_ring_probe`: the page-table pin Linux would do if it reused
/// a page), and keeps them otherwise, with a log line: a page Xen still maps, handed back to
/// Linux, makes the next page-table pin of it fail (failed multicalls, then a dom0 CPU stuck
/// for good: the dying-domain-ring scenario on the code before this check). Whoever holds it should
/// still drop it only once Xen has let go ([`RingPage::leak`] keeps pages that Xen did not
/// let go of); the check is the last line of defence, not the protocol.
pub(crate) struct RingPage {
    page: NonNull<c_void>,
    va: NonNull<u8>,
    /// log2 of the page count.
    order: u32,
    /// Each page's machine frame (the first `1 << order`).
    mfns: [u64; RING_MAX_PAGES],
}

// SAFETY: the page is plain memory owned by this handle; the monitor lock serialises its users.
unsafe impl Send for RingPage {}

impl RingPage {
    /// `pages` zeroed pages (a power of two, at most [`RING_MAX_PAGES`]). Process context.
    pub(crate) fn alloc(pages: usize) -> Result<Self> {
        if !pages.is_power_of_two() || pages > RING_MAX_PAGES {
            return Err(EINVAL);
        }
        let order = pages.trailing_zeros();
        let mut va = core::ptr::null_mut();
        let mut mfns = [0u64; RING_MAX_PAGES];
        // SAFETY: both out pointers are valid for writes, `mfns` for `pages` = 2^order entries;
        // process context (GFP_KERNEL).
        let page = unsafe { sg_ring_alloc(order, &mut va, mfns.as_mut_ptr()) };
        match (NonNull::new(page), NonNull::new(va)) {
            (Some(page), Some(va)) => Ok(Self { page, va, order, mfns }),
            _ => Err(ENOMEM),
        }
    }

    /// The pages' machine frames in ring order, which Xen maps.
    pub(crate) fn mfns(&self) -> &[u64] {
        &self.mfns[..self.pages()]
    }

    /// How many pages.
    pub(crate) fn pages(&self) -> usize {
        1 << self.order
    }

    /// Gives the page up without freeing it: Xen may still map it.
    pub(crate) fn leak(self) {
        core::mem::forget(self);
    }

    /// The byte range `off..off + len` of the pages, if inside them.
    fn range(&self, off: usize, len: usize) -> Option<*mut u8> {
        let end = off.checked_add(len)?;
        // `add` stays inside the pages' allocation.
        (end <= self.pages() * PAGE_SIZE).then(|| self.va.as_ptr().wrapping_add(off))
    }
}

// Xen writes the page concurrently: indices are read and written with single volatile 32-bit
// accesses (READ_ONCE/WRITE_ONCE), slots copied once into or out of our own buffers.
impl SharedPage for RingPage {
    fn load_u32(&self, off: usize) -> u32 {
        match self.range(off, 4) {
            // SAFETY: in bounds of the live page; every ring index is 4-aligned (xen_abi).
            Some(p) => unsafe { core::ptr::read_volatile(p.cast::<u32>()) },
            None => 0,
        }
    }
    fn store_u32(&mut self, off: usize, v: u32) {
        if let Some(p) = self.range(off, 4) {
            // SAFETY: in bounds of the live page, 4-aligned as above.
            unsafe { core::ptr::write_volatile(p.cast::<u32>(), v) };
        }
    }
    fn read(&self, off: usize, out: &mut [u8]) {
        if let Some(p) = self.range(off, out.len()) {
            // SAFETY: `out.len()` bytes in bounds of the live page; `out` is ours and distinct.
            unsafe { core::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), out.len()) };
        }
    }
    fn write(&mut self, off: usize, data: &[u8]) {
        if let Some(p) = self.range(off, data.len()) {
            // SAFETY: as in `read`, in the other direction.
            unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
        }
    }
    /// x86 keeps loads in order with loads and stores with stores (Linux's `virt_rmb`/
    /// `virt_wmb` are compiler barriers there): the index/slot order needs only the compiler's.
    fn barrier(&self) {
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for RingPage {
    fn drop(&mut self) {
        let mfn = self.mfns[0];
        // SAFETY: the pages came from `sg_ring_alloc` with this order and live (this handle
        // owns them); nothing of ours uses them any more (the handle is being dropped), so
        // zeroing them and changing their direct-map alias for the duration of the call races
        // with nobody in dom0.
        let probe = errno(unsafe { sg_ring_probe(self.page.as_ptr(), self.order) });
        match probe {
            Ok(()) => {
                pr_info!("ring page (mfn {:#x}, {} in all) freed: Xen holds no reference to it\n", mfn, self.pages())
            }
            Err(e) if e == EBUSY => {
                pr_err!(
                    "Xen still holds the monitor ring page (mfn {:#x}, {} in all) that was to be freed: keeping it\n",
                    mfn,
                    self.pages()
                );
                return;
            }
            Err(e) if e == EIO => {
                pr_err!(
                    "checking the ring page (mfn {:#x}, {} in all) left one unusable: keeping it\n",
                    mfn,
                    self.pages()
                );
                return;
            }
            // The check could not run (the pages are as they were): the owner's word stands.
            Err(e) => pr_warn!(
                "ring page (mfn {:#x}, {} in all) freed unchecked: Xen could not be asked (error {})\n",
                mfn,
                self.pages(),
                e.to_errno()
            ),
        }
        // SAFETY: the pages came from `sg_ring_alloc` with this order and are freed once (this
        // is the drop); Xen holds no reference to them (the probe above), or the probe could
        // not run and the owner dropped them only after Xen let go (see the type's docs).
        unsafe { sg_ring_free(self.page.as_ptr(), self.order) };
    }
}

/// Our end of the ring's event channel, bound to Xen's port, with the IRQ handler that runs
/// the event path. Dropping it waits for a running handler and closes the port, so it must be
/// dropped in process context and not under the monitor lock (the handler takes it).
pub(crate) struct EvtchnBinding {
    irq: c_int,
}

impl EvtchnBinding {
    /// Binds Xen's `remote_port` of `domid` and installs the handler (which calls
    /// `semguard_rust_event`; its state must be ready). Process context.
    pub(crate) fn bind(domid: u16, remote_port: u32) -> Result<Self> {
        // SAFETY: process context; plain values.
        let irq = unsafe { sg_evtchn_bind(domid, remote_port) };
        if irq < 0 {
            return Err(Error::from_errno(irq));
        }
        Ok(Self { irq })
    }

    /// Notifies Xen (it then resumes the vCPUs whose responses are on the ring).
    pub(crate) fn notify(&self) {
        // SAFETY: the IRQ is bound while `self` lives; notifying is safe in any context.
        unsafe { sg_notify(self.irq) };
    }
}

impl Drop for EvtchnBinding {
    fn drop(&mut self) {
        // SAFETY: the IRQ was bound by `bind` and is unbound once; the caller drops this in
        // process context without the monitor lock (see the type's docs).
        unsafe { sg_evtchn_unbind(self.irq) };
    }
}

/// A pool of ballooned pages whose kernel addresses show foreign guest frames (fmap.rs keeps
/// which slot shows what). Dropping it returns the pages, which must all be unmapped by then:
/// fmap.rs drops it only after every unmap succeeded, and leaks it otherwise. Process context.
pub(crate) struct FramePool {
    pool: NonNull<FmapPool>,
    slots: u32,
}

// SAFETY: the pool is owned by this handle; the monitor lock serialises its users.
unsafe impl Send for FramePool {}

impl FramePool {
    /// Allocates `slots` pages. Process context.
    pub(crate) fn new(slots: u32) -> Result<Self> {
        // SAFETY: process context (allocates, may sleep).
        let pool = NonNull::new(unsafe { sg_fmap_init(slots) }).ok_or(ENOMEM)?;
        Ok(Self { pool, slots })
    }

    /// Maps guest frame `mfn` of `domid` read-only at `slot`, flushing the slot's old
    /// translation on every dom0 vCPU (`all_cpus`) or only on this one.
    pub(crate) fn map(&self, slot: u32, mfn: u64, domid: u16, all_cpus: bool) -> Result {
        // SAFETY: the pool lives; the callee checks `slot`; Xen checks the frame is the guest's.
        errno(unsafe { sg_fmap_map(self.pool.as_ptr(), slot, mfn, domid, all_cpus) })
    }

    /// Removes `slot`'s mapping (flushing every CPU).
    pub(crate) fn unmap(&self, slot: u32) -> Result {
        // SAFETY: the pool lives; the callee checks `slot`.
        errno(unsafe { sg_fmap_unmap(self.pool.as_ptr(), slot) })
    }

    /// Copies `buf.len()` bytes at `off` of `slot`'s page.
    ///
    /// # Safety
    ///
    /// `slot` must show a frame now (its last [`FramePool::map`] succeeded and no unmap
    /// followed): reading an unmapped slot faults.
    pub(crate) unsafe fn read(&self, slot: u32, off: usize, buf: &mut [u8]) -> Result {
        let end = off.checked_add(buf.len()).ok_or(EINVAL)?;
        if slot >= self.slots || end > PAGE_SIZE {
            return Err(EINVAL);
        }
        // SAFETY: the pool lives and `slot` is inside it.
        let base = unsafe { sg_fmap_slot(self.pool.as_ptr(), slot) };
        if base.is_null() {
            return Err(EINVAL);
        }
        // SAFETY: `off..end` is inside the slot's page, which is mapped (the caller's promise);
        // `buf` is ours and distinct.
        unsafe { core::ptr::copy_nonoverlapping(base.wrapping_add(off), buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    /// Gives the pool up without returning it (some slot could not be unmapped).
    pub(crate) fn leak(self) {
        core::mem::forget(self);
    }
}

impl Drop for FramePool {
    fn drop(&mut self) {
        // SAFETY: created by `sg_fmap_init`, returned once; every slot is unmapped (the type's
        // contract, kept by fmap.rs); process context.
        unsafe { sg_fmap_fini(self.pool.as_ptr()) };
    }
}

/// `XEN_VM_EVENT_ENABLE_FRAME` with the ring's pages; Xen's event channel port.
pub(crate) fn vm_event_enable(domid: u16, ring: &RingPage) -> Result<u32> {
    let mut port = 0u32;
    let mfns = ring.mfns();
    // SAFETY: `mfns` is valid for `mfns.len()` reads (1 to RING_MAX_PAGES, checked again by
    // the callee), `port` is a valid out pointer; the domctl buffer is the callee's.
    errno(unsafe { sg_vm_event_enable(domid, mfns.as_ptr(), mfns.len() as u32, &mut port) })?;
    Ok(port)
}

/// `XEN_VM_EVENT_DISABLE`: Xen answers what still waits (fail closed) and unmaps the ring.
pub(crate) fn vm_event_disable(domid: u16) -> Result {
    // SAFETY: a domctl on a buffer of the callee's.
    errno(unsafe { sg_vm_event_disable(domid) })
}

/// `monitor_op` ENABLE (replacing any filter) with `filter`.
pub(crate) fn monitor_enable(domid: u16, filter: &Filter) -> Result {
    let f = filter;
    let other = f.other.as_ref().map_or(core::ptr::null(), |b| b.as_ptr());
    // SAFETY: both bitmaps (the second if not null) are readable for the length during the
    // call: they are `f`'s, of the same type.
    errno(unsafe {
        sg_monitor_syscall(domid, true, f.flags, f.pgd_match, f.pgd_mask, f.bitmap.as_ptr(), other, f.bitmap.len())
    })
}

/// `monitor_op` DISABLE: no new reports.
pub(crate) fn monitor_disable(domid: u16) -> Result {
    let none = [0u8; semguard_core::tracking::BITMAP_BYTES];
    // SAFETY: as above; DISABLE does not read the bitmap.
    errno(unsafe { sg_monitor_syscall(domid, false, 0, 0, 0, none.as_ptr(), core::ptr::null(), none.len()) })
}

/// What getdomaininfo says about a domain.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct DomainInfo {
    /// The UUID the toolstack gave it: a later domain with the same id has another one.
    pub(crate) handle: [u8; 16],
    /// `XEN_DOMINF_dying`, which Xen sets only at `DOMDYING_dead`: the domain's memory is
    /// relinquished and its vm_event rings are unmapped (both under the domctl lock). While its
    /// memory is being relinquished (`DOMDYING_dying`) the flag is still clear.
    pub(crate) dead: bool,
    /// `XEN_DOMINF_shutdown`: the guest shut down (power-off, reboot, suspend, crash, watchdog,
    /// soft reset), with `reason`; the toolstack destroys, saves or restarts it.
    pub(crate) shut_down: bool,
    /// The `SHUTDOWN_*` code while shut down.
    pub(crate) reason: u32,
    /// How many vCPUs it can have (`max_vcpu_id` + 1): each may hold a ring slot, waiting in a
    /// reported call.
    pub(crate) vcpus: u32,
}

impl DomainInfo {
    /// The name of the shutdown reason (xen/include/public/sched.h, `SHUTDOWN_*`).
    pub(crate) fn reason_name(&self) -> &'static str {
        match self.reason {
            0 => "poweroff",
            1 => "reboot",
            2 => "suspend",
            3 => "crash",
            4 => "watchdog",
            5 => "soft_reset",
            _ => "unknown",
        }
    }
}

/// The domain's state; `ESRCH` if there is no domain with this id.
pub(crate) fn domain_info(domid: u16) -> Result<DomainInfo> {
    let mut info = DomainInfo { handle: [0; 16], dead: false, shut_down: false, reason: 0, vcpus: 0 };
    // SAFETY: every out pointer is valid for writes of its type (the handle for 16 bytes, the
    // size of Xen's xen_domain_handle_t, which the callee copies); a domctl on a buffer of the
    // callee's.
    errno(unsafe {
        sg_domain_info(
            domid,
            info.handle.as_mut_ptr(),
            &mut info.dead,
            &mut info.shut_down,
            &mut info.reason,
            &mut info.vcpus,
        )
    })?;
    Ok(info)
}

/// Sleeps `ms` milliseconds. Process context, no lock held.
pub(crate) fn sleep_ms(ms: u32) {
    // SAFETY: msleep; the callers are in process context and hold no spinlock.
    unsafe { sg_msleep(ms) };
}

/// The guest kernel's page-table base (machine address) from vCPU `vcpu`'s context.
pub(crate) fn guest_kernel_cr3(domid: u16, vcpu: u32) -> Result<u64> {
    let mut cr3 = 0u64;
    // SAFETY: `cr3` is a valid out pointer; process context (allocates with GFP_KERNEL).
    errno(unsafe { sg_guest_kernel_cr3(domid, vcpu, &mut cr3) })?;
    Ok(cr3)
}

/// The periodic housekeeping (`semguard_rust_poll` every `ms` milliseconds) while it lives.
pub(crate) struct Poll(());

impl Poll {
    /// Starts it.
    pub(crate) fn start(ms: u32) -> Self {
        // SAFETY: no preconditions.
        unsafe { sg_poll_start(ms) };
        Self(())
    }
}

impl Drop for Poll {
    fn drop(&mut self) {
        // SAFETY: started by `start`; process context, not under the monitor lock (it waits
        // for a running poll, which takes the lock).
        unsafe { sg_poll_stop() };
    }
}
