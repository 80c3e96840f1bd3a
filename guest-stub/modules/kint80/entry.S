/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kint80_call() executes int $0x80 in guest kernel mode; kint80_landing stands in for the
 * guest kernel's asm_int80_emulation while main.c points the Xen entry stub's jump at it
 * (Linux panics on a kernel-mode int $0x80: see main.c).
 */
#include <linux/linkage.h>
#include <linux/objtool.h>
#include <asm/unwind_hints.h>

	.text

/* long kint80_call(long nr, long a1, long a2, long a3): the ia32 ABI's eax, ebx, ecx, edx. */
SYM_FUNC_START(kint80_call)
	push	%rbx
	mov	%rdi, %rax
	mov	%rsi, %rbx
	mov	%rcx, %r8
	mov	%rdx, %rcx
	mov	%r8, %rdx
	int	$0x80
SYM_INNER_LABEL(kint80_resume, SYM_L_GLOBAL)
	pop	%rbx
	RET
SYM_FUNC_END(kint80_call)

/*
 * Entered from xen_asm_int80_emulation after its `pop %rcx; pop %r11` (the registers Xen
 * saved in the bounce frame), so %rsp points at the exception frame Xen built:
 * RIP, CS (bits 32-39: saved event mask), RFLAGS, RSP, SS. Records what the guest kernel's
 * entry received, returns the delivery count in %rax and resumes after the int at the
 * frame's RSP. No iret hypercall: same stack, same (kernel) mode, and kint80_call masked
 * events itself, so the mask Xen set on the bounce is the one it had. Clobbers %r11, as the
 * entry stub does.
 */
SYM_CODE_START(kint80_landing)
	UNWIND_HINT_IRET_REGS
	ANNOTATE_NOENDBR
	mov	%rax, kint80_seen+0(%rip)	/* nr */
	mov	%rbx, kint80_seen+8(%rip)	/* arguments 1-3 */
	mov	%rcx, kint80_seen+16(%rip)
	mov	%rdx, kint80_seen+24(%rip)
	mov	0(%rsp), %rax
	mov	%rax, kint80_seen+32(%rip)	/* RIP after the int */
	mov	8(%rsp), %rax
	mov	%rax, kint80_seen+40(%rip)	/* CS as the guest kernel sees it */
	incq	kint80_seen+48(%rip)		/* deliveries */
	mov	kint80_seen+48(%rip), %rax
	mov	0(%rsp), %r11
	mov	24(%rsp), %rsp
	UNWIND_HINT_UNDEFINED
	jmp	*%r11
SYM_CODE_END(kint80_landing)
