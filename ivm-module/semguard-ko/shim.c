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
 * - The control device /dev/semguard (6.12's Rust has no misc device): user copies only;
 *   Rust decides what a read returns and whether a written policy replaces the current one.
 */
#include <linux/err.h>
#include <linux/firmware.h>
#include <linux/fs.h>
#include <linux/kobject.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/sysfs.h>

#include "shim.h"

static int domid = -1;
module_param(domid, int, 0444);
MODULE_PARM_DESC(domid, "Xen domain id of the monitored VM (required)");

static char *process;
module_param(process, charp, 0444);
MODULE_PARM_DESC(process, "hint: the usual name (comm) of P in that VM; narrows the search at load and names P in the log (P is whatever runs the build-id the policy records)");

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

/*
 * Counters: one read-only file each. Rust owns them: their number, names (static strings) and
 * values (semguard_counter_count/_name/_read); this loops over the indices. The group hangs
 * off the module's kobject, whose sysfs_ops call module_attribute shows.
 */
struct semguard_counter_attr {
	struct module_attribute mattr;
	unsigned int which;
};

static ssize_t counter_show(struct module_attribute *mattr, struct module_kobject *mk, char *buf)
{
	const struct semguard_counter_attr *c =
		container_of(mattr, struct semguard_counter_attr, mattr);

	return sysfs_emit(buf, "%llu\n", (unsigned long long)semguard_counter_read(c->which));
}

static ssize_t state_show(struct module_attribute *mattr, struct module_kobject *mk, char *buf)
{
	/* sysfs gives a PAGE_SIZE buffer; Rust writes one line, truncated to fit. */
	return semguard_state_show(buf, PAGE_SIZE);
}
static struct module_attribute state_attr = __ATTR(state, 0444, state_show, NULL);

static ssize_t profile_show(struct module_attribute *mattr, struct module_kobject *mk, char *buf)
{
	/* A few lines, well under PAGE_SIZE; Rust truncates to fit. */
	return semguard_profile_show(buf, PAGE_SIZE);
}
static struct module_attribute profile_attr = __ATTR(profile, 0444, profile_show, NULL);

static struct semguard_counter_attr *counter_attrs;
static struct attribute **group_attrs;
static struct attribute_group counter_group = { .name = "counters" };

static void sysfs_free(void)
{
	kfree(group_attrs);
	kfree(counter_attrs);
	group_attrs = NULL;
	counter_attrs = NULL;
}

int semguard_shim_sysfs_add(void)
{
	unsigned int i, n = semguard_counter_count();
	int err;

	counter_attrs = kcalloc(n, sizeof(*counter_attrs), GFP_KERNEL);
	/* The counters, state, profile and the terminating NULL. */
	group_attrs = kcalloc(n + 3, sizeof(*group_attrs), GFP_KERNEL);
	if (!counter_attrs || !group_attrs) {
		sysfs_free();
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		struct semguard_counter_attr *c = &counter_attrs[i];

		sysfs_attr_init(&c->mattr.attr);
		c->mattr.attr.name = semguard_counter_name(i);
		c->mattr.attr.mode = 0444;
		c->mattr.show = counter_show;
		c->which = i;
		group_attrs[i] = &c->mattr.attr;
	}
	group_attrs[n] = &state_attr.attr;
	group_attrs[n + 1] = &profile_attr.attr;
	counter_group.attrs = group_attrs;
	err = sysfs_create_group(&THIS_MODULE->mkobj.kobj, &counter_group);
	if (err)
		sysfs_free();
	return err;
}

void semguard_shim_sysfs_remove(void)
{
	sysfs_remove_group(&THIS_MODULE->mkobj.kobj, &counter_group);
	sysfs_free();
}

/*
 * /dev/semguard. read: whole alert records (semguard-core alert.rs), from the file position,
 * which is the sequence number of the next record this opener has not seen; 0 when there is
 * none. write: one whole policy blob per write() call, validated like at load; on error nothing
 * changes. Both sizes are Rust's, given at registration.
 */
static size_t read_max, policy_max;

static ssize_t sg_dev_read(struct file *file, char __user *ubuf, size_t len, loff_t *pos)
{
	u64 cursor = *pos;
	long n;
	u8 *kbuf;

	len = min_t(size_t, len, read_max);
	kbuf = kmalloc(len ? len : 1, GFP_KERNEL);
	if (!kbuf)
		return -ENOMEM;
	n = semguard_rust_alerts_read(&cursor, kbuf, len);
	if (n > 0 && copy_to_user(ubuf, kbuf, n))
		n = -EFAULT;
	kfree(kbuf);
	if (n >= 0)
		*pos = cursor;
	return n;
}

static ssize_t sg_dev_write(struct file *file, const char __user *ubuf, size_t len, loff_t *pos)
{
	u8 *kbuf;
	int err;

	if (len == 0)
		return -EINVAL;
	if (len > policy_max)
		return -EFBIG;
	kbuf = kvmalloc(len, GFP_KERNEL);
	if (!kbuf)
		return -ENOMEM;
	if (copy_from_user(kbuf, ubuf, len)) {
		kvfree(kbuf);
		return -EFAULT;
	}
	err = semguard_rust_policy_write(kbuf, len);
	kvfree(kbuf);
	return err ? err : len;
}

static const struct file_operations sg_dev_fops = {
	.owner = THIS_MODULE,
	.read = sg_dev_read,
	.write = sg_dev_write,
	.llseek = default_llseek,
};

static struct miscdevice sg_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "semguard",
	.fops = &sg_dev_fops,
	.mode = 0600,
};

int semguard_shim_dev_register(size_t read_bytes, size_t policy_bytes)
{
	read_max = read_bytes;
	policy_max = policy_bytes;
	return misc_register(&sg_dev);
}

void semguard_shim_dev_unregister(void)
{
	misc_deregister(&sg_dev);
}
