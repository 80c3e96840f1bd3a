// SPDX-License-Identifier: GPL-2.0
/*
 * semguard.ko's Xen plumbing, in C because Linux 6.12's Rust has no Xen bindings, no IRQ
 * registration and no IRQ-safe lock: the monitor ring page, the event channel and its IRQ,
 * the domctl hypercall, foreign mappings of guest frames, one spinlock, clocks and a periodic
 * work item. Every function does one mechanical step; the order, the checks and every
 * decision are the Rust side's (monitor.rs). Sequence: /work/notes/xen-series.md 4.A.
 */
#include <linux/gfp.h>
#include <linux/interrupt.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/workqueue.h>
#include <asm/processor.h>
#include <asm/xen/hypercall.h>
#include <asm/xen/page.h>
#include <xen/events.h>
#include <xen/interface/event_channel.h>
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

/* --- the monitor ring: one page of ours that Xen maps (XEN_VM_EVENT_ENABLE_FRAME) --- */

static struct page *ring_page;
static u8 *ring_va;

int sg_ring_alloc(u64 *mfn)
{
	if (ring_page)
		return -EBUSY;
	ring_page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!ring_page)
		return -ENOMEM;
	ring_va = page_address(ring_page);
	/* PV: Xen names the caller's memory by machine frame. */
	*mfn = pfn_to_mfn(page_to_pfn(ring_page));
	return 0;
}

/* Only after XEN_VM_EVENT_DISABLE succeeded (or the domain is gone): Xen held a mapping. */
void sg_ring_free(void)
{
	if (ring_page)
		__free_page(ring_page);
	ring_page = NULL;
	ring_va = NULL;
}

int sg_vm_event_enable(u16 domid, u64 mfn, u32 *port)
{
	struct sg_domctl dc;
	int err;

	sg_dc_vm_event_enable_frame(&dc, domid, mfn);
	err = sg_xen_domctl(&dc);
	if (!err)
		*port = sg_dc_vm_event_port(&dc);
	return err;
}

int sg_vm_event_disable(u16 domid)
{
	struct sg_domctl dc;

	sg_dc_vm_event_disable(&dc, domid);
	return sg_xen_domctl(&dc);
}

int sg_monitor_syscall(u16 domid, bool enable, u32 flags, u64 pgd_match, u64 pgd_mask,
		       const u8 *bitmap)
{
	struct sg_domctl dc;
	/* Xen copies it during the hypercall; a copy keeps the caller's const. */
	u8 bits[SG_SYSCALL_BITMAP_BYTES];

	memcpy(bits, bitmap, sizeof(bits));
	sg_dc_monitor_syscall(&dc, domid, enable, flags, pgd_match, pgd_mask, bits);
	return sg_xen_domctl(&dc);
}

int sg_domain_alive(u16 domid)
{
	struct sg_domctl dc;
	int err;

	sg_dc_getdomaininfo(&dc, domid);
	err = sg_xen_domctl(&dc);
	if (err)
		return err;
	return sg_dc_domaininfo_alive(&dc, domid) ? 0 : -ESRCH;
}

/* Ring header and slots (layout: semguard-core xen_abi, checked against Xen's in xenabi.c). */
u32 sg_ring_req_prod(void)
{
	u32 rp = READ_ONCE(*(u32 *)(ring_va + 0));

	virt_rmb(); /* requests are read after req_prod */
	return rp;
}

void sg_ring_get(u32 slot, u8 *out)
{
	memcpy(out, ring_va + 64 + (slot % 8) * SG_VM_EVENT_SIZE, SG_VM_EVENT_SIZE);
}

void sg_ring_put(u32 slot, const u8 *in)
{
	memcpy(ring_va + 64 + (slot % 8) * SG_VM_EVENT_SIZE, in, SG_VM_EVENT_SIZE);
}

void sg_ring_push_responses(u32 rsp_prod)
{
	virt_wmb(); /* responses are visible before rsp_prod */
	WRITE_ONCE(*(u32 *)(ring_va + 8), rsp_prod);
}

/* --- the event channel: bound to Xen's port, an IRQ whose handler runs the Rust event path --- */

static int sg_irq = -1;

static irqreturn_t sg_irq_handler(int irq, void *dev_id)
{
	semguard_rust_event();
	/* Late EOI: the next event of this channel is delivered only after this. */
	xen_irq_lateeoi(irq, 0);
	return IRQ_HANDLED;
}

int sg_evtchn_bind(u16 domid, u32 remote_port)
{
	struct evtchn_bind_interdomain bind = { .remote_dom = domid, .remote_port = remote_port };
	struct evtchn_close close;
	int err, irq;

	if (sg_irq >= 0)
		return -EBUSY;
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
		return irq;
	}
	sg_irq = irq;
	return 0;
}

/* Closes our port too (Xen then releases what waits on the ring: see xen-series.md 5). */
void sg_evtchn_unbind(void)
{
	if (sg_irq >= 0)
		unbind_from_irqhandler(sg_irq, NULL);
	sg_irq = -1;
}

void sg_notify(void)
{
	if (sg_irq >= 0)
		notify_remote_via_irq(sg_irq);
}

/*
 * --- foreign mappings: guest frames read-only at kernel addresses ---
 * A pool of ballooned pages (xen_alloc_unpopulated_pages; their direct-map PTE is empty and
 * their pfn has no machine frame). A slot maps one guest frame by MFN (PV page tables hold
 * MFNs) with update_va_mapping_otherdomain; the old translation is flushed on every dom0 vCPU
 * or, when the Rust side knows no other CPU may hold it, on this CPU only. Read-only, so Xen takes no type reference: the
 * guest's page-table pages can be mapped too.
 */
static struct page **fmap_pages;
static unsigned int fmap_count;

int sg_fmap_init(unsigned int n)
{
	int err;

	if (fmap_pages)
		return -EBUSY;
	fmap_pages = kcalloc(n, sizeof(*fmap_pages), GFP_KERNEL);
	if (!fmap_pages)
		return -ENOMEM;
	err = xen_alloc_unpopulated_pages(n, fmap_pages);
	if (err) {
		kfree(fmap_pages);
		fmap_pages = NULL;
		return err;
	}
	fmap_count = n;
	return 0;
}

/* all_cpus: flush the slot's old translation on every dom0 vCPU, else on this CPU only
 * (the Rust side tracks which CPUs may hold it: fmap.rs). */
int sg_fmap_map(unsigned int slot, u64 mfn, u16 domid, bool all_cpus)
{
	unsigned long va;
	pte_t pte;

	if (slot >= fmap_count)
		return -EINVAL;
	va = (unsigned long)page_address(fmap_pages[slot]);
	pte = mfn_pte(mfn, PAGE_KERNEL_RO);
	return _hypercall4(int, update_va_mapping_otherdomain, va, pte.pte,
			   UVMF_INVLPG | (all_cpus ? UVMF_ALL : UVMF_LOCAL), domid);
}

/* Called with interrupts off (under sg_lock), so the CPU cannot change under the caller. */
unsigned int sg_this_cpu(void)
{
	return raw_smp_processor_id();
}

int sg_fmap_unmap(unsigned int slot)
{
	unsigned long va;

	if (slot >= fmap_count)
		return -EINVAL;
	va = (unsigned long)page_address(fmap_pages[slot]);
	return HYPERVISOR_update_va_mapping(va, __pte_ma(0), UVMF_INVLPG | UVMF_ALL);
}

/* Only for a slot the caller mapped (an unmapped one would fault); off + len <= PAGE_SIZE. */
void sg_fmap_read(unsigned int slot, size_t off, u8 *buf, size_t len)
{
	if (slot >= fmap_count || off > PAGE_SIZE || len > PAGE_SIZE - off)
		return;
	memcpy(buf, (u8 *)page_address(fmap_pages[slot]) + off, len);
}

/* Every slot must be unmapped first (the balloon expects an empty PTE back). */
void sg_fmap_fini(void)
{
	if (!fmap_pages)
		return;
	xen_free_unpopulated_pages(fmap_count, fmap_pages);
	kfree(fmap_pages);
	fmap_pages = NULL;
	fmap_count = 0;
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
