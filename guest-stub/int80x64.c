/* int80x64 N STATUS: ia32 system calls through `int $0x80` from 64-bit code (the classic way
 * around a filter that only knows the 64-bit table), for the syscall-abis scenario:
 *   sched_yield(0x5347) via SYSCALL   marker (sgmon --latch 24:0x5347)
 *   N x ia32 getppid (64) via int $0x80
 *   ia32 write (4) of "SEMGUARD-PROG name=int80x64 ..." via int $0x80
 *   ia32 exit_group (252) STATUS via int $0x80
 * The ia32 ABI truncates pointers to 32 bits, so the line lives in static storage (the static,
 * non-PIE binary is loaded below 4 GiB). */
#include <stdio.h>
#include <stdlib.h>

static char line[128];

static long int80(long nr, long a1, long a2, long a3)
{
    long ret;

    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a1), "c"(a2), "d"(a3) : "memory");
    return ret;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 3, status = argc > 2 ? atol(argv[2]) : 0, ppid = -1, r;
    int len;

    __asm__ volatile("syscall" : "=a"(r) : "a"(24L), "D"(0x5347L) : "rcx", "r11", "memory");
    for (long i = 0; i < n; i++)
        ppid = int80(64, 0, 0, 0);
    len = snprintf(line, sizeof line, "SEMGUARD-PROG name=int80x64 n=%ld ppid=%ld status=%s\n", n, ppid,
                   ppid > 0 ? "ok" : "fail");
    int80(4, 1, (long)(unsigned long)line, len);
    for (;;)
        int80(252, status, 0, 0);
}
