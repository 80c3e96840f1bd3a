/*
 * sgbench: system-call micro-benchmark for the Mon-VM (scripts/bench, issue 7). Times, inside
 * the guest, ITERS calls of each operation and prints one line per operation:
 *
 *   SGBENCH rep=<r> op=<name> iters=<N> ns=<total> ns_per_call=<total/N>
 *
 *   sgbench [-r REPS] [-g] [-s N | -p | -P] ITERS [OP...]
 *                                 OP: getppid read1 openclose write4k (default: all)
 *   sgbench -i                    idle: marker call, then sleep until killed
 *
 * -g: before timing, wait for a line on the FIFO bench.go_path (the scenario writes it once the
 * monitor is attached), then make the marker call sched_yield(0x5347) by which a consumer that
 * latches on it (sgmon --latch 24:0x5347) learns P's page-table base. Everything is repeated
 * REPS times in the same process, so one attachment covers every repetition.
 *
 * -s N: before timing, confine itself with a seccomp-bpf filter the way a user who protects a
 * program from inside the guest would: an architecture check, then N compares of the system-call
 * number (an allow list; every call it makes is in it, at the end, after N - k numbers it does not
 * use), anything else kills the process. This is the in-guest alternative scripts/bench compares
 * semguard with; it sees only the number and argument registers, never memory behind a pointer.
 *
 * -p: what one page-in restart costs (semguard.ko answers a call whose checked memory is not
 * present with VM_EVENT_SYSCALL_PAGE_IN: P takes the fault, makes the call again, which is
 * checked again). openclose opens a copy of bench.data_path that lies in a page of a private
 * read-only mapping of PAGEIN_FILE, and drops that page from sgbench's page tables with
 * madvise(MADV_DONTNEED) before each open: the page stays in the page cache, so the fault is a
 * minor one, and every timed openat needs exactly one page-in (its invariant reads the path).
 * -P: the control: the same madvise on another page of that mapping, 16 pages further (outside
 * the kernel's 64 KiB fault-around window), and the same open of the copy, which stays present.
 * -p minus -P is the restart (the checked madvise is in both; the control's drops a page that is
 * no longer mapped after its first iteration, the page-in run's one mapped again by the fault).
 * Only for semguard.ko and no monitor: sgmon cannot page in (it would fail the call as
 * unverifiable). Not with -s: madvise is not in the seccomp filter.
 *
 * The operations touch only the files named in `bench` (a global, so the policy can check the
 * calls' arguments against P's own variables — which is what the Assertion Checker costs).
 * Exit status 0 when every call succeeded, 1 otherwise (a failed call would make the timing
 * meaningless).
 */
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct bench_config {
    char data_path[64];  /* opened and closed by openclose; read1 reads its first byte */
    char sink_path[64];  /* write4k writes here */
    char go_path[64];    /* -g: the FIFO the scenario's go line arrives on */
    unsigned long max_write;
};

struct bench_config bench = { "/tmp/sgbench.dat", "/dev/null", "/tmp/sgbench.go", 4096 };

static char block[4096];

/* -p / -P: the mapped file and the page openclose drops before each open (see the header). */
#define PAGEIN_FILE "/tmp/sgbench.map"
#define PAGE 4096
#define FAR_PAGE 16  /* a 64 KiB fault-around window away from page 0 */
static const char *paged_path;  /* bench.data_path's copy in page 0 of the mapping */
static char *drop_page;         /* page 0 (-p) or page FAR_PAGE (-P) */

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int op_getppid(long n)
{
    for (long i = 0; i < n; i++)
        if (getppid() <= 0)
            return -1;
    return 0;
}

static int op_read1(long n)
{
    int fd = open(bench.data_path, O_RDONLY);
    char c;

    if (fd < 0)
        return -1;
    for (long i = 0; i < n; i++)
        if (pread(fd, &c, 1, 0) != 1)
            return -1;
    return close(fd);
}

static int op_openclose(long n)
{
    for (long i = 0; i < n; i++) {
        int fd = open(bench.data_path, O_RDONLY);

        if (fd < 0 || close(fd) != 0)
            return -1;
    }
    return 0;
}

/* openclose under -p / -P: the madvise is part of every iteration (and of its cost). */
static int op_openclose_paged(long n)
{
    for (long i = 0; i < n; i++) {
        int fd;

        if (madvise(drop_page, PAGE, MADV_DONTNEED) != 0)
            return -1;
        fd = open(paged_path, O_RDONLY);
        if (fd < 0 || close(fd) != 0)
            return -1;
    }
    return 0;
}

/* -p / -P: PAGEIN_FILE holds bench.data_path at the start of page 0 and of page FAR_PAGE (a
 * sparse file: the pages between are not in the page cache, so a fault on page 0 maps nothing
 * else), mapped private and read-only; page 0 is touched so that the control finds it present. */
static int map_paged(int pagein)
{
    size_t len = strlen(bench.data_path) + 1;
    volatile char touch;
    char *map;
    int fd;

    fd = open(PAGEIN_FILE, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || pwrite(fd, bench.data_path, len, 0) != (ssize_t)len ||
        pwrite(fd, bench.data_path, len, FAR_PAGE * PAGE) != (ssize_t)len)
        return -1;
    map = mmap(NULL, (FAR_PAGE + 1) * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED || close(fd) != 0)
        return -1;
    touch = map[0];
    (void)touch;
    paged_path = map;
    drop_page = pagein ? map : map + FAR_PAGE * PAGE;
    printf("SGBENCH paged mode=%s\n", pagein ? "pagein" : "control");
    fflush(stdout);
    return 0;
}

static int op_write4k(long n)
{
    int fd = open(bench.sink_path, O_WRONLY);

    if (fd < 0)
        return -1;
    for (long i = 0; i < n; i++)
        if (write(fd, block, bench.max_write) != (ssize_t)bench.max_write)
            return -1;
    return close(fd);
}

static const struct {
    const char *name;
    int (*run)(long);
} ops[] = {
    { "getppid", op_getppid },
    { "read1", op_read1 },
    { "openclose", op_openclose },
    { "write4k", op_write4k },
};

/* The marker call consumers latch on (see ivm-module/sgmon/e2e/sgmon-lib.sh). */
static void marker(void)
{
    syscall(SYS_sched_yield, 0x5347);
}

/* Every call sgbench (static glibc) can make once the filter is on: the timed operations, the
 * clock, stdio, exit. Anything else would kill it, which the benchmark reports as an error. */
static const int seccomp_needed[] = {
    SYS_read, SYS_write, SYS_open, SYS_openat, SYS_close, SYS_pread64, SYS_getppid,
    SYS_clock_gettime, SYS_fstat, SYS_newfstatat, SYS_ioctl, SYS_lseek, SYS_brk, SYS_mmap,
    SYS_munmap, SYS_rt_sigreturn, SYS_sched_yield, SYS_exit, SYS_exit_group,
};
#define N_NEEDED ((int)(sizeof(seccomp_needed) / sizeof(seccomp_needed[0])))
#define SECCOMP_MAX_COMPARES 1000

static int is_needed(int nr)
{
    for (int i = 0; i < N_NEEDED; i++)
        if (seccomp_needed[i] == nr)
            return 1;
    return 0;
}

/* Installs the filter described in the header: N compares, the numbers sgbench needs last, so a
 * call that the kernel cannot answer from its per-number cache runs through all of them. */
static int seccomp_confine(int n)
{
    static struct sock_filter insns[4 + 2 * SECCOMP_MAX_COMPARES + 1];
    struct sock_fprog prog;
    int k = 0, filler = n - N_NEEDED, nr = 0;

    if (n < N_NEEDED || n > SECCOMP_MAX_COMPARES) {
        fprintf(stderr, "sgbench: -s needs %d..%d compares\n", N_NEEDED, SECCOMP_MAX_COMPARES);
        return -1;
    }
    insns[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    insns[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
    insns[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    insns[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    /* Each compare is followed by its own allow: a jump to one shared allow would not fit the
     * 8-bit jump offset past 255 instructions. */
    for (int i = 0; i < n; i++) {
        int want;

        if (i < filler) {
            while (is_needed(nr))
                nr++;
            want = nr++;
        } else {
            want = seccomp_needed[i - filler];
        }
        insns[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)want, 0, 1);
        insns[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    }
    insns[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    prog.len = (unsigned short)k;
    prog.filter = insns;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
        perror("sgbench: seccomp");
        return -1;
    }
    printf("SGBENCH seccomp compares=%d instructions=%d\n", n, k);
    fflush(stdout);
    return 0;
}

/* Blocks until a line arrives on the FIFO at bench.go_path. */
static int wait_go(void)
{
    char line[16];
    int fd;

    if (mkfifo(bench.go_path, 0600) != 0)
        return -1;
    printf("SGBENCH waiting fifo=%s\n", bench.go_path);
    fflush(stdout);
    fd = open(bench.go_path, O_RDONLY);
    if (fd < 0 || read(fd, line, sizeof(line)) <= 0)
        return -1;
    close(fd);
    marker();
    return 0;
}

int main(int argc, char **argv)
{
    long iters, reps = 1;
    int status = 0, go = 0, a = 1, compares = 0, paged = -1;
    int fd;

    for (; a < argc && argv[a][0] == '-'; a++) {
        if (strcmp(argv[a], "-i") == 0) {
            marker();
            for (;;)
                pause();
        } else if (strcmp(argv[a], "-g") == 0) {
            go = 1;
        } else if (strcmp(argv[a], "-r") == 0 && a + 1 < argc) {
            reps = atol(argv[++a]);
        } else if (strcmp(argv[a], "-s") == 0 && a + 1 < argc) {
            compares = atoi(argv[++a]);
            if (compares <= 0)
                break;
        } else if (strcmp(argv[a], "-p") == 0 || strcmp(argv[a], "-P") == 0) {
            paged = argv[a][1] == 'p';
        } else {
            break;
        }
    }
    iters = a < argc ? atol(argv[a]) : 0;
    if (iters <= 0 || reps <= 0 || (paged >= 0 && compares > 0)) {
        fprintf(stderr, "usage: sgbench [-r REPS] [-g] [-s N | -p | -P] ITERS [getppid|read1|openclose|write4k]...\n"
                        "       sgbench -i\n");
        return 2;
    }
    a++;
    /* The data file exists before any timing starts. */
    fd = open(bench.data_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "x", 1) != 1 || close(fd) != 0) {
        perror("sgbench: data file");
        return 1;
    }
    if (paged >= 0 && map_paged(paged) != 0) {
        perror("sgbench: " PAGEIN_FILE);
        return 1;
    }
    memset(block, 'b', sizeof(block));
    if (go && wait_go() != 0) {
        perror("sgbench: go fifo");
        return 1;
    }
    if (compares > 0 && seccomp_confine(compares) != 0)
        return 1;
    for (long rep = 1; rep <= reps; rep++) {
        for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
            int wanted = a >= argc;
            int (*run)(long) = ops[k].run;
            uint64_t t0, t1;

            for (int b = a; b < argc; b++)
                wanted |= strcmp(argv[b], ops[k].name) == 0;
            if (!wanted)
                continue;
            if (run == op_openclose && paged >= 0)
                run = op_openclose_paged;
            t0 = now_ns();
            if (run(iters) != 0) {
                printf("SGBENCH rep=%ld op=%s error\n", rep, ops[k].name);
                status = 1;
                continue;
            }
            t1 = now_ns();
            printf("SGBENCH rep=%ld op=%s iters=%ld ns=%llu ns_per_call=%llu\n", rep, ops[k].name,
                   iters, (unsigned long long)(t1 - t0),
                   (unsigned long long)((t1 - t0) / (uint64_t)iters));
            fflush(stdout);
        }
    }
    return status;
}
