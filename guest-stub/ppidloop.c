/* ppidloop N LABEL: N getppid calls (raw SYSCALL, one instruction), timed inside the guest with
 * the vDSO clock (no system call), for the monitor's per-event round trip. Starts with the
 * sched_yield(0x5347) marker so sgmon --latch can select this process.
 *   SEMGUARD-PROG name=ppidloop label=LABEL n=N ns_per_call=T status=ok */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long sys1(long nr, long a1)
{
    long ret;

    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a1) : "rcx", "r11", "memory");
    return ret;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000, bad = 0;
    struct timespec a, b;
    long long ns;

    sys1(24, 0x5347);
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++)
        bad += sys1(110, 0) <= 0;
    clock_gettime(CLOCK_MONOTONIC, &b);
    ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
    printf("SEMGUARD-PROG name=ppidloop label=%s n=%ld ns_per_call=%lld status=%s\n", argc > 2 ? argv[2] : "-", n,
           n > 0 ? ns / n : 0, bad ? "fail" : "ok");
    return bad ? 1 : 0;
}
