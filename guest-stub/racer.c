/* racer: a protected program P whose second thread wins a time-of-check/time-of-use race against
 * the monitor — for the race-toctou e2e scenario. semguard checks openat's path in P's memory
 * while P's vCPU is stopped at the call; the guest kernel copies the same path again when the
 * call goes on. Another thread of P, on another vCPU, can rewrite the path in between: the check
 * reads an allowed name, the kernel opens a forbidden file.
 *
 *   racer DELAY N
 *       thread A (the main thread) opens `path` N times with openat(AT_FDCWD, path, O_RDONLY);
 *       `path` is a global buffer that holds ALLOWED_FILE. Thread B (made with the raw clone
 *       call, CLONE_VM | CLONE_THREAD: the second writer of P's memory) waits until A is about
 *       to make its call, spins DELAY iterations, writes SECRET_FILE into `path`, waits until
 *       A's call has returned and writes ALLOWED_FILE back. A reads what it opened: the file's
 *       first line says which file it is. One line per open (to stdout):
 *           SEMGUARD-PROG name=racer delay=D open=I result=allowed|secret|enoent|error:ERRNO|other spins=S
 *       (secret: the race won — the check saw ALLOWED_FILE, the kernel opened SECRET_FILE;
 *       spins: how many of B's polls A's call lasted, from A's announcement to its return), and
 *       at the end
 *           SEMGUARD-PROG name=racer delay=D opens=N allowed=… secret=… enoent=… other=… spins=MEDIAN status=done
 *       If the monitor reads SECRET_FILE (B wrote too early), enforce mode kills P there: the
 *       lines so far are all there is.
 *
 * A and B are each pinned to a vCPU of their own when the guest has two (sched_setaffinity):
 * while the monitor holds A's vCPU, B keeps running. Static, not PIE: `path`'s address is fixed.
 * Exit status: 0 after N opens, 1 on a setup error (with a status=fail line).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ALLOWED_FILE "/tmp/allowed"
#define SECRET_FILE "/tmp/secret"
#define MAX_OPENS 100000
#define STACK_SIZE (64 * 1024)

/* The name openat is given; the policy allows only ALLOWED_FILE here. */
char path[64] __attribute__((aligned(64))) = ALLOWED_FILE;

/* A's announcements and B's answers (sequence numbers of opens). */
static volatile long announced;   /* A: about to make call I */
static volatile long returned;    /* A: call I has returned */
static volatile long restored;    /* B: path holds ALLOWED_FILE again after call I */
static volatile long stop;        /* A: B may exit */
static volatile long b_exited;    /* B: about to exit */
static volatile long b_cpu_ok;    /* B: pinned (1) or not (-1) */
static long delay;
static unsigned long call_spins[MAX_OPENS + 1]; /* B's polls during call I */

/* Writes a name into path without library calls (B shares A's TLS: no errno, no stdio). */
static void put_path(const char *name)
{
    size_t i = 0;

    do {
        ((volatile char *)path)[i] = name[i];
    } while (name[i++] != '\0');
}

static int pin_to(int cpu)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return (int)syscall(SYS_sched_setaffinity, 0, sizeof set, &set);
}

static int writer(void *arg)
{
    long i;

    (void)arg;
    b_cpu_ok = pin_to(1) == 0 ? 1 : -1;
    for (i = 1;; i++) {
        unsigned long t;
        int written = 0;

        while (announced < i) {
            if (stop)
                goto out;
        }
        /* One poll per iteration, whether B still waits to write or waits for the return: t
         * counts the same unit before and after the write. */
        for (t = 0;; t++) {
            if (!written && t >= (unsigned long)delay) {
                put_path(SECRET_FILE);
                written = 1;
            }
            if (returned >= i)
                break;
        }
        put_path(ALLOWED_FILE);
        call_spins[i] = t;
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        restored = i;
    }
out:
    b_exited = 1;
    return 0;
}

static int cmp_ul(const void *a, const void *b)
{
    unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    long n, i, allowed = 0, secret = 0, enoent = 0, other = 0;
    char *end, *stack;
    unsigned long median;
    int a_cpu_ok;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 3) {
        fprintf(stderr, "usage: racer DELAY N\n");
        return 2;
    }
    delay = strtol(argv[1], &end, 10);
    if (*end != '\0' || delay < 0) {
        fprintf(stderr, "racer: bad DELAY '%s'\n", argv[1]);
        return 2;
    }
    n = strtol(argv[2], &end, 10);
    if (*end != '\0' || n <= 0 || n > MAX_OPENS) {
        fprintf(stderr, "racer: bad N '%s' (1..%d)\n", argv[2], MAX_OPENS);
        return 2;
    }
    a_cpu_ok = pin_to(0) == 0;

    stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED) {
        printf("SEMGUARD-PROG name=racer delay=%ld error=mmap:%s status=fail\n", delay, strerror(errno));
        return 1;
    }
    /* The second thread: glibc's clone() wrapper makes the clone call (not clone3), and the
     * thread ends with the exit call when writer returns. */
    if (clone(writer, stack + STACK_SIZE,
              CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM, NULL) < 0) {
        printf("SEMGUARD-PROG name=racer delay=%ld error=clone:%s status=fail\n", delay, strerror(errno));
        return 1;
    }
    while (b_cpu_ok == 0)
        ;
    printf("SEMGUARD-PROG name=racer delay=%ld opens=%ld pinned=%s\n", delay, n,
           a_cpu_ok && b_cpu_ok == 1 ? "yes" : "no");

    for (i = 1; i <= n; i++) {
        char buf[32];
        const char *result;
        ssize_t got;
        long fd;

        while (restored < i - 1)
            ;
        announced = i;
        fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY);
        returned = i;
        if (fd < 0) {
            static char err[32];

            if (errno == ENOENT) {
                result = "enoent";
                enoent++;
            } else {
                snprintf(err, sizeof err, "error:%d", errno);
                result = err;
                other++;
            }
        } else {
            got = read((int)fd, buf, sizeof buf - 1);
            buf[got > 0 ? got : 0] = '\0';
            if (got > 0 && strncmp(buf, "allowed", 7) == 0) {
                result = "allowed";
                allowed++;
            } else if (got > 0 && strncmp(buf, "secret", 6) == 0) {
                result = "secret";
                secret++;
            } else {
                result = "other";
                other++;
            }
            close((int)fd);
        }
        while (restored < i)
            ;
        printf("SEMGUARD-PROG name=racer delay=%ld open=%ld result=%s spins=%lu\n", delay, i, result,
               call_spins[i]);
    }
    stop = 1;
    while (!b_exited)
        ;
    qsort(call_spins + 1, (size_t)n, sizeof call_spins[0], cmp_ul);
    median = call_spins[1 + n / 2];
    printf("SEMGUARD-PROG name=racer delay=%ld opens=%ld allowed=%ld secret=%ld enoent=%ld other=%ld spins=%lu "
           "status=done\n",
           delay, n, allowed, secret, enoent, other, median);
    return 0;
}
