/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Between xenabi.c (compiled against the patched Xen public headers) and xen.c (Linux's Xen
 * headers). The sizes are checked against Xen's with static_assert in xenabi.c.
 */
#ifndef SEMGUARD_XENABI_H
#define SEMGUARD_XENABI_H

#include <linux/types.h>

#define SG_DOMCTL_SIZE 144		/* sizeof(struct xen_domctl) */
#define SG_VM_EVENT_SIZE 400		/* sizeof(vm_event_request_t) */
#define SG_SYSCALL_BITMAP_BYTES 128	/* XEN_DOMCTL_MONITOR_SYSCALL_NR_BITS / 8 */
#define SG_SYSCALL_NR_IA32 512		/* first bit of the ia32 half */

/* sg_dc_monitor_syscall flags (mapped to XEN_DOMCTL_MONITOR_SYSCALL_*). */
#define SG_MONITOR_NR_FILTER (1U << 0)
#define SG_MONITOR_FAIL_OPEN (1U << 1)

/* A domctl buffer, aligned as struct xen_domctl. */
struct sg_domctl {
	u64 words[SG_DOMCTL_SIZE / 8];
};

void sg_dc_vm_event_enable_frame(void *buf, u16 domid, u64 mfn);
u32 sg_dc_vm_event_port(const void *buf);
void sg_dc_vm_event_disable(void *buf, u16 domid);
void sg_dc_monitor_syscall(void *buf, u16 domid, bool enable, u32 flags, u64 pgd_match,
			   u64 pgd_mask, u8 *bitmap);
void sg_dc_getdomaininfo(void *buf, u16 domid);
bool sg_dc_domaininfo_alive(const void *buf, u16 domid);
int sg_guest_kernel_cr3(u16 domid, u32 vcpu, u64 *cr3);

/* xen.c: issues the domctl hypercall on a filled buffer; 0 or a negative errno. */
int sg_xen_domctl(void *buf);

#endif
