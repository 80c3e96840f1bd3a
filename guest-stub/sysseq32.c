/* sysseq32 N STATUS (32-bit, built with -m32): the ia32 fast entries, for syscall-abis/-kill.
 *   sched_yield(0x5347) via int $0x80      marker (sgmon --latch32 158:0x5347)
 *   N x getppid via the vDSO's __kernel_vsyscall (AT_SYSINFO): the kernel patches it to SYSCALL
 *       (compat, Xen's cstar entry) on AMD-vendor CPUs and to SYSENTER on Intel-vendor ones
 *   N x getppid via int $0x80
 *   write(1, line) and exit_group(STATUS) via __kernel_vsyscall
 * Prints its vDSO entry address in the line ("vsyscall=0x...") for the log. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>

static unsigned long vsyscall;

static long vsys(long nr, long a1, long a2, long a3)
{
    long ret;

    __asm__ volatile("call *%[f]" : "=a"(ret) : "a"(nr), "b"(a1), "c"(a2), "d"(a3), [f] "m"(vsyscall) : "memory");
    return ret;
}

static long int80(long nr, long a1)
{
    long ret;

    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a1) : "memory");
    return ret;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 3, status = argc > 2 ? atol(argv[2]) : 0, p1 = -1, p2 = -1;
    char line[160];
    int len;

    vsyscall = getauxval(AT_SYSINFO);
    if (!vsyscall) {
        printf("SEMGUARD-PROG name=sysseq32 status=fail reason=no-AT_SYSINFO\n");
        return 3;
    }
    int80(158, 0x5347);
    for (long i = 0; i < n; i++)
        p1 = vsys(64, 0, 0, 0);
    for (long i = 0; i < n; i++)
        p2 = int80(64, 0);
    len = snprintf(line, sizeof line, "SEMGUARD-PROG name=sysseq32 n=%ld ppid=%ld/%ld vsyscall=%#lx status=%s\n", n,
                   p1, p2, vsyscall, p1 > 0 && p1 == p2 ? "ok" : "fail");
    vsys(4, 1, (long)line, len);
    for (;;)
        vsys(252, status, 0, 0);
}
