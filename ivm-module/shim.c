// SPDX-License-Identifier: GPL-2.0
/*
 * semguard.ko's C shim: only what Linux 6.12's Rust cannot do yet. No decisions are made here;
 * semguard_main.rs validates every value and decides everything.
 *
 * - Module parameters (6.12's `module!` has no `params:`). All are 0444: only the module loader
 *   writes them, before init, so reading them needs no kernel_param_lock.
 * - Loading the policy blob from /lib/firmware: request_firmware without a struct device
 *   (6.12's Rust `Firmware::request` needs one, and has no way to make one outside a bus
 *   driver).
 * - A read-only sysfs group /sys/module/semguard/counters/ whose values Rust owns.
 */
#include <linux/err.h>
#include <linux/firmware.h>
#include <linux/kobject.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/sysfs.h>

#include "shim.h"

static int domid = -1;
module_param(domid, int, 0444);
MODULE_PARM_DESC(domid, "Xen domain id of the monitored VM (required)");

static char *process;
module_param(process, charp, 0444);
MODULE_PARM_DESC(process, "name (comm) of the protected process P in that VM (required)");

static char *policy;
module_param(policy, charp, 0444);
MODULE_PARM_DESC(policy, "policy blob, a file name under /lib/firmware (required)");

static char *mode = "enforce";
module_param(mode, charp, 0444);
MODULE_PARM_DESC(mode, "enforce (kill P on a violation) or audit (record only); default enforce");

static char *fail = "closed";
module_param(fail, charp, 0444);
MODULE_PARM_DESC(fail, "closed (kill P when a call cannot be checked) or open; default closed");

void semguard_shim_params(struct semguard_params *out)
{
	out->domid = domid;
	out->process = process;
	out->policy = policy;
	out->mode = mode;
	out->fail = fail;
}

/*
 * The policy file, the kernel's way: the firmware search path (/lib/firmware/...), kernel
 * credentials, LSM hooks. Without a struct device (6.12's Rust `Firmware::request` needs one),
 * so a missing file also gets the loader's own "(NULL device *): firmware: failed to load" line.
 */
#if !IS_REACHABLE(CONFIG_FW_LOADER)
#error "semguard.ko loads its policy with request_firmware: build the kernel with CONFIG_FW_LOADER=y"
#endif

int semguard_shim_policy_load(const char *name, size_t max, struct semguard_blob *out)
{
	const struct firmware *fw;
	int err;

	/* Direct: no user-mode helper fallback, no warning (Rust reports the error). */
	err = request_firmware_direct(&fw, name, NULL);
	if (err)
		return err;
	if (fw->size > max) {
		release_firmware(fw);
		return -EFBIG;
	}
	out->handle = fw;
	out->data = fw->data;
	out->size = fw->size;
	return 0;
}

void semguard_shim_policy_release(struct semguard_blob *blob)
{
	release_firmware(blob->handle);
	blob->handle = NULL;
	blob->data = NULL;
	blob->size = 0;
}

/* Counters: one read-only file each; the values live in Rust (semguard_counter_read). */
struct semguard_counter_attr {
	struct kobj_attribute attr;
	unsigned int which;
};

static ssize_t counter_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	const struct semguard_counter_attr *c =
		container_of(attr, struct semguard_counter_attr, attr);

	return sysfs_emit(buf, "%llu\n", (unsigned long long)semguard_counter_read(c->which));
}

#define COUNTER(n, w) \
	static struct semguard_counter_attr counter_##n = { __ATTR(n, 0444, counter_show, NULL), w }
COUNTER(events, SEMGUARD_COUNTER_EVENTS);
COUNTER(allowed, SEMGUARD_COUNTER_ALLOWED);
COUNTER(violations, SEMGUARD_COUNTER_VIOLATIONS);
COUNTER(unverifiable, SEMGUARD_COUNTER_UNVERIFIABLE);
COUNTER(kills, SEMGUARD_COUNTER_KILLS);
#undef COUNTER

static struct attribute *counter_attrs[] = {
	&counter_events.attr.attr,
	&counter_allowed.attr.attr,
	&counter_violations.attr.attr,
	&counter_unverifiable.attr.attr,
	&counter_kills.attr.attr,
	NULL,
};

static const struct attribute_group counter_group = {
	.name = "counters",
	.attrs = counter_attrs,
};

int semguard_shim_sysfs_add(void)
{
	return sysfs_create_group(&THIS_MODULE->mkobj.kobj, &counter_group);
}

void semguard_shim_sysfs_remove(void)
{
	sysfs_remove_group(&THIS_MODULE->mkobj.kobj, &counter_group);
}
