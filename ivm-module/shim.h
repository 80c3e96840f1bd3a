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
};

/* Defined in Rust: the current value of a counter (0 for an unknown number). */
u64 semguard_counter_read(unsigned int which);

int semguard_shim_sysfs_add(void);
void semguard_shim_sysfs_remove(void);

#endif
