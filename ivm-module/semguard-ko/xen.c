// SPDX-License-Identifier: GPL-2.0
/*
 * semguard.ko's Xen plumbing, in C because Linux 6.12's Rust has no Xen bindings, no IRQ
 * registration and no IRQ-safe lock: the monitor ring page, the event channel and its IRQ,
 * the domctl hypercall, foreign mappings of guest frames, one spinlock, clocks and a periodic
 * work item. Every function does one mechanical step on what its caller hands it; the order,
 * the checks, every decision and the ownership of each resource are the Rust side's (xen.rs
 * wraps each resource in a handle that releases it on drop; monitor.rs orders them).
 */
#include <linux/gfp.h>
#include <linux/delay.h>
#include <linux/interrupt.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/workqueue.h>
#include <asm/pgtable.h>
#include <asm/processor.h>
#include <asm/xen/hypercall.h>
#include <asm/xen/page.h>
#include <xen/events.h>
#include <xen/interface/event_channel.h>
#include <xen/interface/xen.h>
#include <xen/xen.h>

#include "shim.h"
#include "xenabi.h"

int sg_xen_domctl(void *buf)
{
	return (int)_hypercall1(long, domctl, buf);
}

bool sg_xen_pv_dom0(void)
{
	return xen_pv_domain() && xen_initial_domain();
}

unsigned int sg_phys_bits(void)
{
	return boot_cpu_data.x86_phys_bits;
}

u64 sg_now_ns(void)
{
	return ktime_get_ns();
}

u64 sg_realtime_ns(void)
{
	return ktime_get_real_ns();
}

/* The one lock: the event handler (hard IRQ) and every control path take it. */
static DEFINE_SPINLOCK(sg_lock);

unsigned long sg_lock_irqsave(void)
{
	unsigned long flags;

	spin_lock_irqsave(&sg_lock, flags);
	return flags;
}

void sg_unlock_irqrestore(unsigned long flags)
{
	spin_unlock_irqrestore(&sg_lock, flags);
}

/* --- the monitor ring: 2^order pages of ours that Xen maps (XEN_VM_EVENT_ENABLE_FRAME) --- */

/*
 * Zeroed pages, contiguous in our address space (the ring is one array) but not in machine
 * memory, which Xen does not need: their kernel address for the ring accesses and, PV, each
 * page's machine frame for Xen (mfns has room for 2^order).
 */
void *sg_ring_alloc(unsigned int order, u8 **va, u64 *mfns)
{
	struct page *page = alloc_pages(GFP_KERNEL | __GFP_ZERO, order);
	unsigned long i;

	if (!page)
		return NULL;
	*va = page_address(page);
	for (i = 0; i < (1UL << order); i++)
		mfns[i] = pfn_to_mfn(page_to_pfn(page) + i);
	return page;
}

/* Only once Xen holds no mapping of them (the Rust handle checks with sg_ring_probe first). */
void sg_ring_free(void *page, unsigned int order)
{
	__free_pages(page, order);
}

/*
 * Does anyone besides our own direct-map alias hold a writable reference to the ring page?
 * The only other holder can be Xen's ring mapping (prepare_ring_for_helper takes a
 * PGT_writable_page type reference). Asked the way Linux would find out if it reused the page
 * as a page table, which is what goes wrong when a page Xen maps is freed: the page is zeroed,
 * its direct-map alias made read-only (as make_lowmem_page_readonly does), and Xen asked to
 * pin it as an L1 table, which it refuses while a writable reference remains. Then the pin and
 * the alias are undone.
 * 0: no other holder, the page is as before (zeroed) and may be freed; -EBUSY: Xen refused
 * the pin, the page is as before; -EINVAL (no 4 KiB direct-map alias) or -EAGAIN (the alias
 * could not be made read-only): the probe could not run, the page is as before; -EIO: a step
 * could not be undone: the page must never be freed nor touched again.
 */
static int sg_ring_probe_one(struct page *pg)
{
	void *va = page_address(pg);
	unsigned long addr = (unsigned long)va;
	struct mmuext_op op = { .arg1.mfn = pfn_to_mfn(page_to_pfn(pg)) };
	unsigned int level;
	pte_t *ptep, orig;
	int pinned;

	ptep = lookup_address(addr, &level);
	if (!ptep || level != PG_LEVEL_4K)
		return -EINVAL;
	orig = *ptep;
	/* An L1 table may hold only valid entries: ring contents are not. */
	clear_page(va);
	if (HYPERVISOR_update_va_mapping(addr, pte_wrprotect(orig), 0))
		return -EAGAIN; /* unchanged */
	op.cmd = MMUEXT_PIN_L1_TABLE;
	pinned = HYPERVISOR_mmuext_op(&op, 1, NULL, DOMID_SELF);
	if (!pinned) {
		op.cmd = MMUEXT_UNPIN_TABLE;
		if (HYPERVISOR_mmuext_op(&op, 1, NULL, DOMID_SELF))
			return -EIO; /* a pinned page table of ours now */
	}
	if (HYPERVISOR_update_va_mapping(addr, orig, 0))
		return -EIO; /* read-only in the direct map */
	return pinned ? -EBUSY : 0;
}

/* The same for each of the 2^order pages of the ring: the first answer other than 0. */
int sg_ring_probe(void *page, unsigned int order)
{
	unsigned long i;
	int err;

	for (i = 0; i < (1UL << order); i++) {
		err = sg_ring_probe_one((struct page *)page + i);
		if (err)
			return err;
	}
	return 0;
}

/* --- the event channel: bound to Xen's port, an IRQ whose handler runs the Rust event path --- */

static irqreturn_t sg_irq_handler(int irq, void *dev_id)
{
	semguard_rust_event();
	/* Late EOI: the next event of this channel is delivered only after this. */
	xen_irq_lateeoi(irq, 0);
	return IRQ_HANDLED;
}

/* The IRQ of a new local port bound to Xen's, or a negative errno. */
int sg_evtchn_bind(u16 domid, u32 remote_port)
{
	struct evtchn_bind_interdomain bind = { .remote_dom = domid, .remote_port = remote_port };
	struct evtchn_close close;
	int err, irq;

	err = HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &bind);
	if (err)
		return err;
	/*
	 * Linux binds a new event channel to CPU 0; IRQF_NOBALANCING keeps it there (irqbalance
	 * cannot move it), so the event path's remaps need only a local flush (fmap.rs).
	 */
	irq = bind_evtchn_to_irqhandler_lateeoi(bind.local_port, sg_irq_handler, IRQF_NOBALANCING,
						"semguard", NULL);
	if (irq < 0) {
		close.port = bind.local_port;
		HYPERVISOR_event_channel_op(EVTCHNOP_close, &close);
	}
	return irq;
}

/*
 * Waits for a running handler, then closes our port too (Xen then releases what still waits
 * on the ring: xen-patches/README.md).
 */
void sg_evtchn_unbind(int irq)
{
	unbind_from_irqhandler(irq, NULL);
}

void sg_notify(int irq)
{
	notify_remote_via_irq(irq);
}

/*
 * --- foreign mappings: guest frames read-only at kernel addresses ---
 * A pool of ballooned pages (xen_alloc_unpopulated_pages; their direct-map PTE is empty and
 * their pfn has no machine frame). A slot maps one guest frame by MFN (PV page tables hold
 * MFNs) with update_va_mapping_otherdomain; the old translation is flushed on every dom0 vCPU
 * or, when the Rust side knows no other CPU may hold it, on this CPU only. Read-only, so Xen
 * takes no type reference: the guest's page-table pages can be mapped too.
 */
struct sg_fmap_pool {
	unsigned int count;
	struct page *pages[];
};

struct sg_fmap_pool *sg_fmap_init(unsigned int n)
{
	struct sg_fmap_pool *pool = kzalloc(struct_size(pool, pages, n), GFP_KERNEL);

	if (!pool)
		return NULL;
	if (xen_alloc_unpopulated_pages(n, pool->pages)) {
		kfree(pool);
		return NULL;
	}
	pool->count = n;
	return pool;
}

/* The kernel address of slot `slot` (NULL past the pool); readable only while it is mapped. */
const u8 *sg_fmap_slot(const struct sg_fmap_pool *pool, unsigned int slot)
{
	if (slot >= pool->count)
		return NULL;
	return page_address(pool->pages[slot]);
}

/*
 * all_cpus: flush the slot's old translation on every dom0 vCPU, else on this CPU only (the
 * Rust side tracks which CPUs may hold it: fmap.rs).
 */
int sg_fmap_map(const struct sg_fmap_pool *pool, unsigned int slot, u64 mfn, u16 domid,
		bool all_cpus)
{
	pte_t pte;

	if (slot >= pool->count)
		return -EINVAL;
	pte = mfn_pte(mfn, PAGE_KERNEL_RO);
	return _hypercall4(int, update_va_mapping_otherdomain,
			   (unsigned long)page_address(pool->pages[slot]), pte.pte,
			   UVMF_INVLPG | (all_cpus ? UVMF_ALL : UVMF_LOCAL), domid);
}

/* Called with interrupts off (under sg_lock), so the CPU cannot change under the caller. */
unsigned int sg_this_cpu(void)
{
	return raw_smp_processor_id();
}

int sg_fmap_unmap(const struct sg_fmap_pool *pool, unsigned int slot)
{
	if (slot >= pool->count)
		return -EINVAL;
	return HYPERVISOR_update_va_mapping((unsigned long)page_address(pool->pages[slot]),
					    __pte_ma(0), UVMF_INVLPG | UVMF_ALL);
}

/* Every slot must be unmapped first (the balloon expects an empty PTE back). */
void sg_fmap_fini(struct sg_fmap_pool *pool)
{
	xen_free_unpopulated_pages(pool->count, pool->pages);
	kfree(pool);
}

/* Sleeps (process context). */
void sg_msleep(unsigned int ms)
{
	msleep(ms);
}

/* --- a periodic work item (process context) for the Rust side's housekeeping --- */

static unsigned long poll_period;
static void sg_poll_fn(struct work_struct *w);
static DECLARE_DELAYED_WORK(sg_poll_work, sg_poll_fn);

static void sg_poll_fn(struct work_struct *w)
{
	if (semguard_rust_poll())
		schedule_delayed_work(&sg_poll_work, poll_period);
}

void sg_poll_start(unsigned int ms)
{
	poll_period = msecs_to_jiffies(ms);
	schedule_delayed_work(&sg_poll_work, poll_period);
}

void sg_poll_stop(void)
{
	cancel_delayed_work_sync(&sg_poll_work);
}
