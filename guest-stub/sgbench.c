/*
 * sgbench: system-call micro-benchmark for the Mon-VM (scripts/bench, issue 7). Times, inside
 * the guest, ITERS calls of each operation and prints one line per operation:
 *
 *   SGBENCH op=<name> iters=<N> ns=<total> ns_per_call=<total/N>
 *
 *   sgbench ITERS [OP...]     OP: getppid read1 openclose write4k (default: all four)
 *
 * The operations touch only the files named in `bench` (a global, so the policy can check the
 * calls' arguments against P's own variables — which is what the Assertion Checker costs).
 * Exit status 0 when every call succeeded, 1 otherwise (a failed call would make the timing
 * meaningless).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct bench_config {
    char data_path[64];  /* opened and closed by openclose; read1 reads its first byte */
    char sink_path[64];  /* write4k writes here */
    unsigned long max_write;
};

struct bench_config bench = { "/tmp/sgbench.dat", "/dev/null", 4096 };

static char block[4096];

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

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 0;
    int status = 0;
    int fd;

    if (iters <= 0) {
        fprintf(stderr, "usage: sgbench ITERS [getppid|read1|openclose|write4k]...\n");
        return 2;
    }
    /* The data file exists before any timing starts. */
    fd = open(bench.data_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "x", 1) != 1 || close(fd) != 0) {
        perror("sgbench: data file");
        return 1;
    }
    memset(block, 'b', sizeof(block));
    for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
        int wanted = argc <= 2;
        uint64_t t0, t1;

        for (int a = 2; a < argc; a++)
            wanted |= strcmp(argv[a], ops[k].name) == 0;
        if (!wanted)
            continue;
        t0 = now_ns();
        if (ops[k].run(iters) != 0) {
            printf("SGBENCH op=%s error\n", ops[k].name);
            status = 1;
            continue;
        }
        t1 = now_ns();
        printf("SGBENCH op=%s iters=%ld ns=%llu ns_per_call=%llu\n", ops[k].name, iters,
               (unsigned long long)(t1 - t0), (unsigned long long)((t1 - t0) / (uint64_t)iters));
        fflush(stdout);
    }
    return status;
}
