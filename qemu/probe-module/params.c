// SPDX-License-Identifier: GPL-2.0
/*
 * Parameters of semguard_probe. Linux 6.12's Rust `module!` has no `params:`, so they are
 * declared here, in a C object of the same .ko, and probe.rs reads them through the accessors.
 * Both are read-only in sysfs (0444): only the module loader writes them, before init, so
 * reading them needs no kernel_param_lock.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>

static int count = 1;
module_param(count, int, 0444);
MODULE_PARM_DESC(count, "an integer printed at load time");

static char *name = "semguard";
module_param(name, charp, 0444);
MODULE_PARM_DESC(name, "a string printed at load time");

/* Called from probe.rs. */
int semguard_probe_count(void);
const char *semguard_probe_name(void);

int semguard_probe_count(void)
{
	return count;
}

const char *semguard_probe_name(void)
{
	return name;
}
