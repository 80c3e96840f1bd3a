// SPDX-License-Identifier: GPL-2.0
/*
 * semguard.ko: the domctls semguard issues, built against the patched Xen public headers
 * (scripts/build-module copies scripts/build-xen's include/public/ to xen-public/ beside this
 * file: the same headers semguard-core's xen_abi test checks, so there is one source of truth
 * for every layout). Linux has no domctl.h/vm_event.h, and Xen's public headers clash with
 * Linux's include/xen/interface/, so this translation unit includes only Xen's and
 * <linux/types.h>; xen.c issues the hypercall on the struct filled here.
 *
 * No decisions: each function issues one domctl exactly as its caller (Rust) says and returns
 * its OUT fields.
 */
#include <linux/build_bug.h>
#include <linux/types.h>
#include <linux/string.h>
#include <linux/errno.h>
#include <linux/slab.h>

#include "xen-public/domctl.h"

#include "shim.h"
#include "xenabi.h"

#if !defined(XEN_VM_EVENT_ENABLE_FRAME) || !defined(XEN_DOMCTL_MONITOR_EVENT_SYSCALL)
#error "xen-public/ holds unpatched Xen headers: semguard needs the PV system-call monitor series"
#endif

static void dc_init(struct xen_domctl *dc, u32 cmd, u16 domid)
{
	memset(dc, 0, sizeof(*dc));
	dc->cmd = cmd;
	dc->interface_version = XEN_DOMCTL_INTERFACE_VERSION;
	dc->domain = domid;
}

/* The ring: nr frames (1 to XEN_VM_EVENT_RING_MAX_FRAMES), in ring order. */
int sg_vm_event_enable(u16 domid, const u64 *mfns, u32 nr, u32 *port)
{
	struct xen_domctl dc;
	/* Xen copies them during the hypercall; a copy keeps the caller's const. */
	uint64_t frames[XEN_VM_EVENT_RING_MAX_FRAMES];
	int err;

	if (nr < 1 || nr > XEN_VM_EVENT_RING_MAX_FRAMES)
		return -EINVAL;
	dc_init(&dc, XEN_DOMCTL_vm_event_op, domid);
	dc.u.vm_event_op.op = XEN_VM_EVENT_ENABLE_FRAME;
	dc.u.vm_event_op.mode = XEN_DOMCTL_VM_EVENT_OP_MONITOR;
	if (nr == 1) {
		dc.u.vm_event_op.u.enable_frame.frame = mfns[0];
	} else {
		memcpy(frames, mfns, nr * sizeof(frames[0]));
		dc.u.vm_event_op.u.enable_frame.nr_frames = nr;
		set_xen_guest_handle(dc.u.vm_event_op.u.enable_frame.frames, frames);
	}
	err = sg_xen_domctl(&dc);
	if (!err)
		*port = dc.u.vm_event_op.u.enable_frame.port;
	return err;
}

int sg_vm_event_disable(u16 domid)
{
	struct xen_domctl dc;

	dc_init(&dc, XEN_DOMCTL_vm_event_op, domid);
	dc.u.vm_event_op.op = XEN_VM_EVENT_DISABLE;
	dc.u.vm_event_op.mode = XEN_DOMCTL_VM_EVENT_OP_MONITOR;
	return sg_xen_domctl(&dc);
}

/*
 * flags are XEN_DOMCTL_MONITOR_SYSCALL_* as Rust passes them (semguard-core xen_abi); the
 * bitmaps' lengths are checked here, against the header, not assumed. other (the lineage
 * mode's bitmap of the calls of processes outside P's lineage) may be NULL.
 */
int sg_monitor_syscall(u16 domid, bool enable, u32 flags, u64 pgd_match, u64 pgd_mask,
		       const u8 *bitmap, const u8 *other, size_t bitmap_len)
{
	struct xen_domctl dc;
	/* Xen copies them during the hypercall; copies keep the caller's const. */
	u8 bits[XEN_DOMCTL_MONITOR_SYSCALL_NR_BITS / 8];
	u8 other_bits[XEN_DOMCTL_MONITOR_SYSCALL_NR_BITS / 8];

	if (bitmap_len != sizeof(bits) ||
	    flags & ~(XEN_DOMCTL_MONITOR_SYSCALL_NR_FILTER | XEN_DOMCTL_MONITOR_SYSCALL_FAIL_OPEN |
		      XEN_DOMCTL_MONITOR_SYSCALL_LINEAGE | XEN_DOMCTL_MONITOR_SYSCALL_ADOPT))
		return -EINVAL;
	dc_init(&dc, XEN_DOMCTL_monitor_op, domid);
	dc.u.monitor_op.op = enable ? XEN_DOMCTL_MONITOR_OP_ENABLE : XEN_DOMCTL_MONITOR_OP_DISABLE;
	dc.u.monitor_op.event = XEN_DOMCTL_MONITOR_EVENT_SYSCALL;
	if (enable) {
		memcpy(bits, bitmap, sizeof(bits));
		dc.u.monitor_op.u.syscall.flags = flags;
		dc.u.monitor_op.u.syscall.pgd_match = pgd_match;
		dc.u.monitor_op.u.syscall.pgd_mask = pgd_mask;
		set_xen_guest_handle(dc.u.monitor_op.u.syscall.nr_bitmap, bits);
		if (other) {
			memcpy(other_bits, other, sizeof(other_bits));
			set_xen_guest_handle(dc.u.monitor_op.u.syscall.other_bitmap, other_bits);
		}
	}
	return sg_xen_domctl(&dc);
}

/*
 * The domain's state as getdomaininfo reports it: its handle (the UUID the toolstack gave it,
 * which tells one domain from a later one with the same id), XEN_DOMINF_dying (set only once
 * the domain is DOMDYING_dead: its memory relinquished and its vm_event rings unmapped, both
 * under the domctl lock getdomaininfo takes too), XEN_DOMINF_shutdown and the SHUTDOWN_* code.
 * -ESRCH if no domain has this id.
 */
int sg_domain_info(u16 domid, u8 *handle, bool *dead, bool *shut_down, u32 *reason, u32 *vcpus)
{
	struct xen_domctl dc;
	u32 flags;
	int err;

	dc_init(&dc, XEN_DOMCTL_getdomaininfo, domid);
	err = sg_xen_domctl(&dc);
	if (err)
		return err;
	/* getdomaininfo answers the next domain at or after domid: check it is ours. */
	if (dc.domain != domid || dc.u.getdomaininfo.domain != domid)
		return -ESRCH;
	/* The caller's buffer holds 16 bytes. */
	BUILD_BUG_ON(sizeof(dc.u.getdomaininfo.handle) != 16);
	flags = dc.u.getdomaininfo.flags;
	memcpy(handle, dc.u.getdomaininfo.handle, sizeof(dc.u.getdomaininfo.handle));
	*dead = flags & XEN_DOMINF_dying;
	*shut_down = flags & XEN_DOMINF_shutdown;
	*reason = (flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;
	/* Each vCPU (max_vcpu_id + 1 of them) may wait in a reported call. */
	*vcpus = dc.u.getdomaininfo.max_vcpu_id + 1;
	return 0;
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
