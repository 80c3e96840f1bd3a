// SPDX-License-Identifier: GPL-2.0
/*
 * kint80.ko — the guest kernel executes `int $0x80` itself, for the kernel-int80 scenario.
 *
 * Xen's system-call monitor must report the calls of guest *user* mode only. At insmod this
 * module executes, in guest kernel mode, `calls` times: int $0x80 with eax = `nr` (an ia32
 * number), ebx = `marker`, ecx = 0x80, edx = the call's index — so dom0 can check that none
 * of them is reported — and prints what the guest kernel's int $0x80 entry received:
 *   SEMGUARD-KINT80 call=I ... status=ok|bad     one line per call
 *   SEMGUARD-KINT80 done calls=N delivered=N ... status=ok|bad
 * insmod fails (EIO) unless every call reached the entry exactly once, with the registers
 * the module set, from kernel mode, and resumed right after the instruction.
 *
 * Linux 6.12 panics on a kernel-mode int $0x80: Xen bounces it to the address the guest
 * registered for vector 0x80, xen_asm_int80_emulation (`pop %rcx; pop %r11; jmp
 * asm_int80_emulation`), with CS's RPL cleared (create_bounce_frame), so user_mode() is
 * false in do_int80_emulation() and it calls panic("Unexpected external interrupt 0x80")
 * (arch/x86/entry/common.c). To survive it without changing anything Xen sees — its trap
 * table, the registers, the instruction — the module points that stub's final jmp at
 * kint80_landing (entry.S), which stands in for asm_int80_emulation, for the duration of
 * each call, and puts it back. The write goes through a writable alias of the kernel-text
 * page (vmap), with events masked, on a guest with one vCPU: nothing else can execute the
 * stub meanwhile. `entry` is xen_asm_int80_emulation's address (from /proc/kallsyms); it and
 * the jmp's target are checked against kallsyms and the stub's bytes before anything is
 * written.
 */
#include <linux/cpumask.h>
#include <linux/irqflags.h>
#include <linux/kallsyms.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/string.h>
#include <linux/vmalloc.h>
#include <asm/sync_core.h>

static unsigned long entry;
module_param(entry, ulong, 0444);
MODULE_PARM_DESC(entry, "address of xen_asm_int80_emulation (/proc/kallsyms)");
static int nr = 64;
module_param(nr, int, 0444);
MODULE_PARM_DESC(nr, "ia32 system-call number (default 64, getppid)");
static int calls = 3;
module_param(calls, int, 0444);
MODULE_PARM_DESC(calls, "how many times (default 3)");
static unsigned long marker = 0x4b494e54;
module_param(marker, ulong, 0444);
MODULE_PARM_DESC(marker, "first argument (ebx) of every call (default 0x4b494e54)");

/* Written by kint80_landing (entry.S); the field order is its offsets. */
struct kint80_seen {
	unsigned long nr, a1, a2, a3, rip, cs, count;
};
struct kint80_seen kint80_seen;

long kint80_call(long nr, long a1, long a2, long a3);
extern char kint80_resume[], kint80_landing[];

/* The stub: pop %rcx (59); pop %r11 (41 5b); jmp rel32 (e9 xx xx xx xx). */
static const u8 stub_head[] = { 0x59, 0x41, 0x5b, 0xe9 };
#define REL_AT 4
#define STUB_LEN 8

static bool is_symbol(unsigned long addr, const char *name)
{
	char buf[KSYM_SYMBOL_LEN];
	size_t n = strlen(name);

	sprint_symbol(buf, addr);
	return !strncmp(buf, name, n) && !strncmp(buf + n, "+0x0/", 5);
}

static int __init kint80_init(void)
{
	const u8 *stub = (const u8 *)entry;
	unsigned long rel_addr = entry + REL_AT, target;
	long landing_rel;
	s32 orig, landing, now;
	struct page *page;
	void *alias;
	s32 *rel;
	int i, good = 0;

	if (num_online_cpus() != 1) {
		pr_err("SEMGUARD-KINT80 error: needs a guest with one vCPU (has %u)\n", num_online_cpus());
		return -EINVAL;
	}
	if (!entry || !is_symbol(entry, "xen_asm_int80_emulation")) {
		pr_err("SEMGUARD-KINT80 error: entry=%#lx is not xen_asm_int80_emulation\n", entry);
		return -EINVAL;
	}
	if (memcmp(stub, stub_head, sizeof(stub_head))) {
		pr_err("SEMGUARD-KINT80 error: unexpected bytes at xen_asm_int80_emulation: %*ph\n",
		       STUB_LEN, stub);
		return -EINVAL;
	}
	memcpy(&orig, stub + REL_AT, sizeof(orig));
	target = entry + STUB_LEN + (long)orig;
	if (!is_symbol(target, "asm_int80_emulation")) {
		pr_err("SEMGUARD-KINT80 error: the stub jumps to %pS, not asm_int80_emulation\n",
		       (void *)target);
		return -EINVAL;
	}
	landing_rel = (long)kint80_landing - (long)(entry + STUB_LEN);
	landing = (s32)landing_rel;
	if (landing != landing_rel || offset_in_page(rel_addr) > PAGE_SIZE - sizeof(s32)) {
		pr_err("SEMGUARD-KINT80 error: cannot point the stub at %px\n", kint80_landing);
		return -EINVAL;
	}

	/* Kernel text is read-only: write through an alias (vmap may sleep: before masking). */
	page = virt_to_page((void *)rel_addr);
	alias = vmap(&page, 1, VM_MAP, PAGE_KERNEL);
	if (!alias)
		return -ENOMEM;
	rel = alias + offset_in_page(rel_addr);

	for (i = 1; i <= calls; i++) {
		unsigned long flags, before;
		struct kint80_seen s;
		long ret;
		bool ok;

		local_irq_save(flags);
		before = kint80_seen.count;
		WRITE_ONCE(*rel, landing);
		sync_core();
		ret = kint80_call(nr, marker, 0x80, i);
		WRITE_ONCE(*rel, orig);
		sync_core();
		s = kint80_seen;
		local_irq_restore(flags);

		/*
		 * Delivered once, registers as set (not rewritten: no kill, no exit_group), from
		 * kernel mode (RPL 0 in the frame's CS), resumed after the instruction.
		 */
		ok = s.count == before + 1 && ret == (long)s.count && s.nr == (unsigned long)nr &&
		     s.a1 == marker && s.a2 == 0x80 && s.a3 == (unsigned long)i &&
		     s.rip == (unsigned long)kint80_resume && (s.cs & 3) == 0;
		good += ok;
		pr_info("SEMGUARD-KINT80 call=%d nr=%d ret=%ld delivered=%lu seen_nr=%lu args=%#lx,%#lx,%#lx rip=%#lx cs=%#lx event_mask=%lu status=%s\n",
			i, nr, ret, s.count - before, s.nr, s.a1, s.a2, s.a3, s.rip, s.cs & 0xffff,
			(s.cs >> 32) & 0xff, ok ? "ok" : "bad");
	}
	vunmap(alias);

	memcpy(&now, stub + REL_AT, sizeof(now));
	pr_info("SEMGUARD-KINT80 done calls=%d delivered=%lu good=%d entry=%#lx landing=%#lx resume=%#lx restored=%d status=%s\n",
		calls, kint80_seen.count, good, entry, (unsigned long)kint80_landing,
		(unsigned long)kint80_resume, now == orig,
		good == calls && now == orig ? "ok" : "bad");
	return good == calls && now == orig ? 0 : -EIO;
}

static void __exit kint80_exit(void)
{
}

module_init(kint80_init);
module_exit(kint80_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("semguard test: the guest kernel's own int $0x80 (kernel-int80 scenario)");
