/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The interface between shim.c and the Rust side of semguard.ko. semguard_main/shim.rs
 * declares the same items; keep the two in step (layouts are #[repr(C)] there).
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

/* Counter numbers, as Rust's `Counter` enum. */
enum {
	SEMGUARD_COUNTER_EVENTS = 0,
	SEMGUARD_COUNTER_ALLOWED = 1,
	SEMGUARD_COUNTER_VIOLATIONS = 2,
	SEMGUARD_COUNTER_UNVERIFIABLE = 3,
	SEMGUARD_COUNTER_KILLS = 4,
	SEMGUARD_COUNTER_CHECKED = 5,
	SEMGUARD_COUNTER_EVAL_MEAN_NS = 6,
	SEMGUARD_COUNTER_EVAL_MAX_NS = 7,
	SEMGUARD_COUNTER_OTHER = 8,
	SEMGUARD_COUNTER_BAD_REQUESTS = 9,
	SEMGUARD_COUNTER_ALERTS = 10,
	SEMGUARD_COUNTER_PID = 11,
	SEMGUARD_COUNTER_ATTACHES = 12,
	SEMGUARD_COUNTER_EVENT_MEAN_NS = 13,
	SEMGUARD_COUNTER_EVENT_MAX_NS = 14,
};

/* Defined in Rust: the current value of a counter (0 for an unknown number). */
u64 semguard_counter_read(unsigned int which);

int semguard_shim_sysfs_add(void);
void semguard_shim_sysfs_remove(void);

/* Defined in Rust: a line describing the monitor's state for /sys/module/semguard/counters/state. */
size_t semguard_state_show(char *buf, size_t len);
/* Defined in Rust: the event path's per-stage profile, /sys/module/semguard/counters/profile. */
size_t semguard_profile_show(char *buf, size_t len);

/* The control device /dev/semguard (shim.c); Rust answers its reads and writes. */
int semguard_shim_dev_register(void);
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
bool sg_xen_pv_dom0(void);
unsigned int sg_phys_bits(void);
u64 sg_now_ns(void);
u64 sg_realtime_ns(void);
unsigned long sg_lock_irqsave(void);
void sg_unlock_irqrestore(unsigned long flags);
int sg_ring_alloc(u64 *mfn);
void sg_ring_free(void);
int sg_vm_event_enable(u16 domid, u64 mfn, u32 *port);
int sg_vm_event_disable(u16 domid);
int sg_monitor_syscall(u16 domid, bool enable, u32 flags, u64 pgd_match, u64 pgd_mask,
		       const u8 *bitmap);
int sg_domain_alive(u16 domid);
u32 sg_ring_req_prod(void);
void sg_ring_get(u32 slot, u8 *out);
void sg_ring_put(u32 slot, const u8 *in);
void sg_ring_push_responses(u32 rsp_prod);
int sg_evtchn_bind(u16 domid, u32 remote_port);
void sg_evtchn_unbind(void);
void sg_notify(void);
int sg_fmap_init(unsigned int n);
int sg_fmap_map(unsigned int slot, u64 mfn, u16 domid, bool all_cpus);
unsigned int sg_this_cpu(void);
int sg_fmap_unmap(unsigned int slot);
void sg_fmap_read(unsigned int slot, size_t off, u8 *buf, size_t len);
void sg_fmap_fini(void);
void sg_poll_start(unsigned int ms);
void sg_poll_stop(void);
/* xenabi.c */
int sg_guest_kernel_cr3(u16 domid, u32 vcpu, u64 *cr3);

#endif
