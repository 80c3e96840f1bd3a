/* smpstress: a protected program P with one thread per vCPU, each making checked system calls
 * in a loop — for the stress-smp e2e scenario, where semguard.ko is reloaded and its policy
 * replaced while the calls go on.
 *
 *   smpstress THREADS SECONDS
 *       THREADS threads (pthreads: one address space, so every vCPU traps on P's page tables),
 *       thread i pinned to vCPU i % ncpus, each looping until /tmp/stop exists (the main
 *       thread looks once a second) or for at most SECONDS:
 *           getppid()                         (allowed by rule)
 *           openat(AT_FDCWD, path, O_RDONLY)  (path is a global; the policy reads it)
 *           read(fd, buf, 16), close(fd)
 *       and checks every result (getppid = the parent's pid, the file's content). Then
 *           SEMGUARD-PROG name=smpstress threads=T max_seconds=S rounds=N per=N0,N1,... errors=E pinned=yes|no status=done
 *       rounds: loop iterations of all threads (4 calls each); errors: unexpected results.
 * A thread left paused by the monitor would keep the process from ending: the scenario waits
 * for the status line. Exit status 0, or 1 on a setup error or any error.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64

/* The policy compares openat's path with this array (P's own variable). */
char path[32] = "/tmp/allowed";

static struct worker {
    pthread_t tid;
    int index;
    long rounds;
    long errors;
    int pinned;
} workers[MAX_THREADS];

static int ncpus;
static double seconds;
static pid_t parent;
static volatile int stop;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    cpu_set_t set;
    char buf[16];
    double end;

    CPU_ZERO(&set);
    CPU_SET(w->index % ncpus, &set);
    w->pinned = sched_setaffinity(0, sizeof(set), &set) == 0;
    end = now() + seconds;
    while (!stop && now() < end) {
        int fd;
        ssize_t n;

        if (getppid() != parent)
            w->errors++;
        fd = openat(AT_FDCWD, path, O_RDONLY);
        if (fd < 0) {
            w->errors++;
        } else {
            n = read(fd, buf, sizeof(buf));
            if (n < 7 || memcmp(buf, "allowed", 7) != 0)
                w->errors++;
            close(fd);
        }
        w->rounds++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 4, i, pinned = 1;
    long rounds = 0, errors = 0;
    char per[MAX_THREADS * 12] = "";
    size_t len = 0;

    seconds = argc > 2 ? atof(argv[2]) : 10;
    /* Not sysconf(): glibc would open /sys/devices/system/cpu/online, a path P may not open. */
    {
        cpu_set_t all;

        ncpus = sched_getaffinity(0, sizeof(all), &all) == 0 ? CPU_COUNT(&all) : 0;
    }
    parent = getppid();
    if (threads < 1 || threads > MAX_THREADS || ncpus < 1) {
        printf("SEMGUARD-PROG name=smpstress status=fail reason=usage\n");
        return 1;
    }
    for (i = 0; i < threads; i++) {
        workers[i].index = i;
        if (pthread_create(&workers[i].tid, NULL, work, &workers[i]) != 0) {
            printf("SEMGUARD-PROG name=smpstress status=fail reason=pthread_create\n");
            return 1;
        }
    }
    for (double end = now() + seconds; !stop && now() < end;) {
        sleep(1);
        stop = access("/tmp/stop", F_OK) == 0;
    }
    stop = 1;
    for (i = 0; i < threads; i++) {
        pthread_join(workers[i].tid, NULL);
        rounds += workers[i].rounds;
        errors += workers[i].errors;
        pinned &= workers[i].pinned;
        len += snprintf(per + len, sizeof(per) - len, "%s%ld", i ? "," : "", workers[i].rounds);
    }
    printf("SEMGUARD-PROG name=smpstress threads=%d max_seconds=%g rounds=%ld per=%s errors=%ld pinned=%s status=done\n",
           threads, seconds, rounds, per, errors, pinned ? "yes" : "no");
    return errors ? 1 : 0;
}
