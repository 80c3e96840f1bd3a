/* sysseq N STATUS [LIMIT]: a known system-call sequence for the syscall-* scenarios, all through the
 * 64-bit SYSCALL instruction in raw inline asm (libc cannot add, drop or reorder calls):
 *   sched_yield(0x5347)   marker: sgmon --latch 24:0x5347 learns this process's page-table base
 *   N x getppid()         from one instruction (every event has the same rip)
 *   write(1, line, len)   "SEMGUARD-PROG name=sysseq n=N ppid=P status=ok"
 *   exit_group(STATUS)
 * A consumer that kills call K stops it before the line is written.
 * sysseq_limit (LIMIT, default 128) is what the policy ivm-module/sgmon/e2e/sysseq.sgi bounds
 * the write's length with: P's own variable, read by the Assertion Checker from P's memory. */
#include <stdio.h>
#include <stdlib.h>

#define SG_MARKER_ARG 0x5347L

volatile unsigned long sysseq_limit = 128;

static long sys1(long nr, long a1)
{
    long ret;

    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a1) : "rcx", "r11", "memory");
    return ret;
}

static long sys3(long nr, long a1, long a2, long a3)
{
    long ret;

    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a1), "S"(a2), "d"(a3) : "rcx", "r11", "memory");
    return ret;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 5, status = argc > 2 ? atol(argv[2]) : 0, ppid = -1;
    char line[128];
    int len;

    if (argc > 3)
        sysseq_limit = strtoul(argv[3], NULL, 0);
    sys1(24, SG_MARKER_ARG); /* sched_yield: ignores its argument */
    for (long i = 0; i < n; i++)
        ppid = sys1(110, 0); /* getppid */
    len = snprintf(line, sizeof line, "SEMGUARD-PROG name=sysseq n=%ld ppid=%ld status=%s\n", n, ppid,
                   ppid > 0 ? "ok" : "fail");
    sys3(1, 1, (long)line, len);
    for (;;)
        sys1(231, status); /* exit_group */
}
