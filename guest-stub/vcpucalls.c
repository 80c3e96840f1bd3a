/* vcpucalls: one system call on every vCPU at once — for the ring-many-vcpus e2e scenario (issue
 * 15, "Ring capacity"). Each vCPU waiting in a reported call holds a slot of the monitor's ring
 * until its answer is read; a ring with fewer slots than the guest has vCPUs turns the calls
 * past its size away ("not reported (-16)": killed when failing closed, let through when
 * failing open).
 *
 *   vcpucalls NR THREADS
 *       THREADS threads (the main thread is thread 0), thread I pinned to vCPU I
 *       (sched_setaffinity), wait at a barrier until all are pinned, then each makes one
 *       64-bit call NR (the raw instruction: nothing of glibc's in between) with the marker
 *       arguments (0x5347, I). NR should be a number the guest kernel does not have (335 on
 *       x86-64: it returns -ENOSYS), so that nothing else in the guest makes it. When its
 *       call returns, each thread writes at once (one write(2), whatever the others do)
 *           SEMGUARD-PROG name=vcpucalls thread=I cpu=C rc=R errno=NAME
 *       (C: the vCPU it made the call on, R: the raw return value), so a call that returns
 *       while a monitor holds the others shows up before they do. After all returned:
 *           SEMGUARD-PROG name=vcpucalls threads=T pinned=P enosys=E other=O status=ok|bad
 *       status=ok when every thread was pinned to its own vCPU and every call returned ENOSYS.
 * Exit status: 0 for status=ok, 1 for status=bad or a setup error (status=fail line). A thread
 * a monitor kills takes the process with it (exit_group): the shell sees that status (137).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 128
#define MARKER 0x5347

struct slot {
    pthread_t tid;
    int index;
    int pinned;  /* 1: running on vCPU `index` after sched_setaffinity */
    int cpu;     /* the vCPU it made its call on */
    long rc;     /* the call's raw return value */
    int wrote;   /* its line was written whole */
};

static struct slot slots[MAX_THREADS];
static int nthreads;
static long nr;
static volatile int ready; /* threads pinned and at the barrier */
static volatile int go;    /* the main thread: call now */

/* The raw 64-bit SYSCALL instruction: the number and two arguments. */
static long raw_syscall2(long n, long a1, long a2)
{
    long ret;

    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a1), "S"(a2) : "rcx", "r11", "memory");
    return ret;
}

static const char *errno_name(long rc)
{
    if (rc >= 0)
        return "none";
    switch (-rc) {
    case ENOSYS:
        return "ENOSYS";
    case EINTR:
        return "EINTR";
    case EFAULT:
        return "EFAULT";
    case EPERM:
        return "EPERM";
    default:
        return "other";
    }
}

/* Makes the call on this vCPU and reports it at once, in one write. */
static void call_and_report(struct slot *s)
{
    char line[160];
    int len;

    s->cpu = sched_getcpu();
    s->rc = raw_syscall2(nr, MARKER, s->index);
    len = snprintf(line, sizeof line, "SEMGUARD-PROG name=vcpucalls thread=%d cpu=%d rc=%ld errno=%s\n", s->index,
                   s->cpu, s->rc, errno_name(s->rc));
    s->wrote = write(1, line, (size_t)len) == len;
}

static int pin(struct slot *s)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(s->index, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 && sched_getcpu() == s->index;
}

static void *run(void *arg)
{
    struct slot *s = arg;

    s->pinned = pin(s);
    __atomic_add_fetch(&ready, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&go, __ATOMIC_SEQ_CST))
        ;
    call_and_report(s);
    return NULL;
}

int main(int argc, char **argv)
{
    int i, pinned = 0, wrote = 0, enosys = 0, other = 0, ok;

    if (argc != 3 || (nr = atol(argv[1])) <= 0 || (nthreads = atoi(argv[2])) < 1 || nthreads > MAX_THREADS) {
        fprintf(stderr, "usage: vcpucalls NR THREADS (1..%d)\n", MAX_THREADS);
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    if (sysconf(_SC_NPROCESSORS_ONLN) < nthreads) {
        printf("SEMGUARD-PROG name=vcpucalls threads=%d cpus=%ld status=fail reason=fewer-vcpus\n", nthreads,
               sysconf(_SC_NPROCESSORS_ONLN));
        return 1;
    }
    for (i = 0; i < nthreads; i++)
        slots[i].index = i;
    for (i = 1; i < nthreads; i++) {
        int e = pthread_create(&slots[i].tid, NULL, run, &slots[i]);
        if (e != 0) {
            printf("SEMGUARD-PROG name=vcpucalls thread=%d status=fail reason=pthread_create:%s\n", i, strerror(e));
            return 1;
        }
    }
    /* Thread 0 is this one: pinned like the others, then it opens the barrier and calls. */
    slots[0].pinned = pin(&slots[0]);
    while (__atomic_load_n(&ready, __ATOMIC_SEQ_CST) < nthreads - 1)
        sched_yield();
    __atomic_store_n(&go, 1, __ATOMIC_SEQ_CST);
    call_and_report(&slots[0]);
    for (i = 1; i < nthreads; i++)
        pthread_join(slots[i].tid, NULL);
    for (i = 0; i < nthreads; i++) {
        pinned += slots[i].pinned && slots[i].cpu == i;
        wrote += slots[i].wrote;
        if (slots[i].rc == -ENOSYS)
            enosys++;
        else
            other++;
    }
    ok = pinned == nthreads && enosys == nthreads && wrote == nthreads;
    printf("SEMGUARD-PROG name=vcpucalls threads=%d pinned=%d enosys=%d other=%d status=%s\n", nthreads, pinned, enosys,
           other, ok ? "ok" : "bad");
    return ok ? 0 : 1;
}
