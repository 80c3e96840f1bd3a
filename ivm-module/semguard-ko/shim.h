/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The interface between the C part of semguard.ko (shim.c, xen.c, xenabi.c) and its Rust side:
 * ffi.rs and xen.rs declare the C functions Rust calls (the two structs are #[repr(C)] in
 * ffi.rs), exports.rs defines the Rust functions C calls. No sizes or numbers are shared here:
 * Rust passes them in.
 */
#ifndef SEMGUARD_SHIM_H
#define SEMGUARD_SHIM_H

#include <linux/types.h>

/* The module parameters as the loader left them (charp values may be NULL). */
struct semguard_params {
	int domid;
	const char *process;
	const char *policy;
	const char *mode;
	const char *fail;
};

void semguard_shim_params(struct semguard_params *out);

/* A loaded policy file: data/size stay valid until semguard_shim_policy_release. */
struct semguard_blob {
	const void *handle;
	const u8 *data;
	size_t size;
};

/* 0 or a negative errno (-ENOENT: no such file; -EFBIG: larger than max). */
int semguard_shim_policy_load(const char *name, size_t max, struct semguard_blob *out);
void semguard_shim_policy_release(struct semguard_blob *blob);

/* Defined in Rust: the counters' number, their sysfs names (static) and current values. */
unsigned int semguard_counter_count(void);
const char *semguard_counter_name(unsigned int which);
u64 semguard_counter_read(unsigned int which);

int semguard_shim_sysfs_add(void);
void semguard_shim_sysfs_remove(void);

/* Defined in Rust: a line describing the monitor's state for /sys/module/semguard/counters/state. */
size_t semguard_state_show(char *buf, size_t len);
/* Defined in Rust: the event path's per-stage profile, /sys/module/semguard/counters/profile. */
size_t semguard_profile_show(char *buf, size_t len);

/* The control device /dev/semguard (shim.c); Rust answers its reads and writes. */
/* read_max: most bytes one read copies; policy_max: the largest policy a write may carry. */
int semguard_shim_dev_register(size_t read_max, size_t policy_max);
void semguard_shim_dev_unregister(void);
/* Rust: copies whole alert records with seq >= *cursor into buf, advances *cursor; bytes or -errno. */
long semguard_rust_alerts_read(u64 *cursor, u8 *buf, size_t len);
/* Rust: replaces the policy with this blob; 0 or -errno (nothing changes then). */
int semguard_rust_policy_write(const u8 *data, size_t len);

/* Rust: the event path, called from the event channel's IRQ handler. */
void semguard_rust_event(void);
/* Rust: periodic housekeeping in process context; false stops the polling. */
bool semguard_rust_poll(void);

/* xen.c: Xen plumbing (see there). */
struct sg_fmap_pool;
bool sg_xen_pv_dom0(void);
unsigned int sg_phys_bits(void);
u64 sg_now_ns(void);
u64 sg_realtime_ns(void);
unsigned long sg_lock_irqsave(void);
void sg_unlock_irqrestore(unsigned long flags);
void *sg_ring_alloc(unsigned int order, u8 **va, u64 *mfns);
void sg_ring_free(void *page, unsigned int order);
int sg_ring_probe(void *page, unsigned int order);
int sg_evtchn_bind(u16 domid, u32 remote_port);
void sg_evtchn_unbind(int irq);
void sg_notify(int irq);
struct sg_fmap_pool *sg_fmap_init(unsigned int n);
const u8 *sg_fmap_slot(const struct sg_fmap_pool *pool, unsigned int slot);
int sg_fmap_map(const struct sg_fmap_pool *pool, unsigned int slot, u64 mfn, u16 domid,
		bool all_cpus);
unsigned int sg_this_cpu(void);
int sg_fmap_unmap(const struct sg_fmap_pool *pool, unsigned int slot);
void sg_fmap_fini(struct sg_fmap_pool *pool);
void sg_msleep(unsigned int ms);
void sg_poll_start(unsigned int ms);
void sg_poll_stop(void);
/* xenabi.c: the domctls (patched Xen headers) */
int sg_vm_event_enable(u16 domid, const u64 *mfns, u32 nr, u32 *port);
int sg_vm_event_disable(u16 domid);
int sg_monitor_syscall(u16 domid, bool enable, u32 flags, u64 pgd_match, u64 pgd_mask,
		       const u8 *bitmap, const u8 *other, size_t bitmap_len);
int sg_domain_info(u16 domid, u8 *handle, bool *dead, bool *shut_down, u32 *reason, u32 *vcpus);
int sg_guest_kernel_cr3(u16 domid, u32 vcpu, u64 *cr3);

#endif
