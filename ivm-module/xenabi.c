// SPDX-License-Identifier: GPL-2.0
/*
 * semguard.ko: the domctls semguard issues, built against the patched Xen public headers
 * (scripts/build-module copies scripts/build-xen's include/public/ to xen-public/ beside this
 * file: the same headers semguard-core's xen_abi test checks, so there is one source of truth
 * for every layout). Linux has no domctl.h/vm_event.h, and Xen's public headers clash with
 * Linux's include/xen/interface/, so this translation unit includes only Xen's and
 * <linux/types.h>; xen.c issues the hypercall on the opaque buffer filled here.
 *
 * No decisions: each function fills one domctl exactly as its caller (Rust) says, or reads
 * one OUT field.
 */
#include <linux/types.h>
#include <linux/string.h>
#include <linux/build_bug.h>
#include <linux/stddef.h>
#include <linux/errno.h>
#include <linux/slab.h>

#include "xen-public/domctl.h"
#include "xen-public/vm_event.h"

#include "xenabi.h"

#if !defined(XEN_VM_EVENT_ENABLE_FRAME) || !defined(XEN_DOMCTL_MONITOR_EVENT_SYSCALL)
#error "xen-public/ holds unpatched Xen headers: semguard needs the PV system-call monitor series"
#endif

static_assert(sizeof(struct xen_domctl) == SG_DOMCTL_SIZE);
static_assert(SG_SYSCALL_BITMAP_BYTES * 8 == XEN_DOMCTL_MONITOR_SYSCALL_NR_BITS);
static_assert(SG_SYSCALL_NR_IA32 == XEN_DOMCTL_MONITOR_SYSCALL_NR_IA32);
static_assert(sizeof(vm_event_request_t) == SG_VM_EVENT_SIZE);
static_assert(offsetof(struct vm_event_sring, ring) == 64);
static_assert(sizeof(union vm_event_sring_entry) == SG_VM_EVENT_SIZE);
static_assert(offsetof(struct vm_event_sring, req_prod) == 0 && offsetof(struct vm_event_sring, rsp_prod) == 8);

static struct xen_domctl *dc_init(void *buf, u32 cmd, u16 domid)
{
	struct xen_domctl *dc = buf;

	memset(dc, 0, sizeof(*dc));
	dc->cmd = cmd;
	dc->interface_version = XEN_DOMCTL_INTERFACE_VERSION;
	dc->domain = domid;
	return dc;
}

void sg_dc_vm_event_enable_frame(void *buf, u16 domid, u64 mfn)
{
	struct xen_domctl *dc = dc_init(buf, XEN_DOMCTL_vm_event_op, domid);

	dc->u.vm_event_op.op = XEN_VM_EVENT_ENABLE_FRAME;
	dc->u.vm_event_op.mode = XEN_DOMCTL_VM_EVENT_OP_MONITOR;
	dc->u.vm_event_op.u.enable_frame.frame = mfn;
}

u32 sg_dc_vm_event_port(const void *buf)
{
	const struct xen_domctl *dc = buf;

	return dc->u.vm_event_op.u.enable_frame.port;
}

void sg_dc_vm_event_disable(void *buf, u16 domid)
{
	struct xen_domctl *dc = dc_init(buf, XEN_DOMCTL_vm_event_op, domid);

	dc->u.vm_event_op.op = XEN_VM_EVENT_DISABLE;
	dc->u.vm_event_op.mode = XEN_DOMCTL_VM_EVENT_OP_MONITOR;
}

void sg_dc_monitor_syscall(void *buf, u16 domid, bool enable, u32 flags, u64 pgd_match,
			   u64 pgd_mask, u8 *bitmap)
{
	struct xen_domctl *dc = dc_init(buf, XEN_DOMCTL_monitor_op, domid);

	dc->u.monitor_op.op = enable ? XEN_DOMCTL_MONITOR_OP_ENABLE : XEN_DOMCTL_MONITOR_OP_DISABLE;
	dc->u.monitor_op.event = XEN_DOMCTL_MONITOR_EVENT_SYSCALL;
	if (!enable)
		return;
	dc->u.monitor_op.u.syscall.flags =
		(flags & SG_MONITOR_NR_FILTER ? XEN_DOMCTL_MONITOR_SYSCALL_NR_FILTER : 0) |
		(flags & SG_MONITOR_FAIL_OPEN ? XEN_DOMCTL_MONITOR_SYSCALL_FAIL_OPEN : 0);
	dc->u.monitor_op.u.syscall.pgd_match = pgd_match;
	dc->u.monitor_op.u.syscall.pgd_mask = pgd_mask;
	set_xen_guest_handle(dc->u.monitor_op.u.syscall.nr_bitmap, bitmap);
}

void sg_dc_getdomaininfo(void *buf, u16 domid)
{
	dc_init(buf, XEN_DOMCTL_getdomaininfo, domid);
}

bool sg_dc_domaininfo_alive(const void *buf, u16 domid)
{
	const struct xen_domctl *dc = buf;

	/* getdomaininfo answers the next domain at or after domid: check it is ours. */
	return dc->domain == domid && !(dc->u.getdomaininfo.flags &
					 (XEN_DOMINF_dying | XEN_DOMINF_shutdown));
}

int sg_guest_kernel_cr3(u16 domid, u32 vcpu, u64 *cr3)
{
	struct xen_domctl dc;
	vcpu_guest_context_t *ctxt;
	int err;

	/* About 5 KiB: not on the stack. */
	ctxt = kzalloc(sizeof(*ctxt), GFP_KERNEL);
	if (!ctxt)
		return -ENOMEM;
	dc_init(&dc, XEN_DOMCTL_getvcpucontext, domid);
	dc.u.vcpucontext.vcpu = vcpu;
	set_xen_guest_handle(dc.u.vcpucontext.ctxt, ctxt);
	err = sg_xen_domctl(&dc);
	if (!err) {
		/* 64-bit PV: ctrlreg[3] = xen_pfn_to_cr3(MFN of guest_table), the kernel pgd. */
		*cr3 = ctxt->ctrlreg[3];
		if (!(ctxt->flags & VGCF_online))
			err = -ENODEV;
	}
	kfree(ctxt);
	return err;
}
