/* sleepers N [vm|fork] — starts N processes that sleep in pause() until they are killed, for the
 * irq-bound e2e scenario (issue 13): a guest with a long task list, made by an ordinary user.
 *
 *   vm    (default) each sleeper is clone(CLONE_VM | SIGCHLD): a process of its own (its own
 *         pid and thread group, one entry of the kernel's task list, as `ps` shows it) that
 *         shares this program's address space, so it costs the guest a task (task_struct and
 *         kernel stack, about 25 KiB), not a copy of the page tables (a 64-bit PV mm pins two
 *         top-level tables plus the lower levels: about 70 KiB more per forked sleeper, which
 *         would take 5000 sleepers past the guest memory the test bed has)
 *   fork  each sleeper is a fork()ed child (its own address space)
 *
 * Prints one line when all are started, then this process sleeps too (kill it, or its process
 * group, to end them all):
 *   SEMGUARD-PROG name=sleepers mode=vm started=N first=PID last=PID status=ok
 * If a sleeper cannot be started (fork/clone fails: RLIMIT_NPROC, kernel.threads-max, memory),
 * the line says how many were and why, with status=fail, and the program exits 1 (the ones
 * started keep sleeping).
 * What a sleeper does after it starts: pause() in a loop (a signal that does not kill it only
 * wakes it). */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Stack of one vm sleeper: it only calls pause(), which needs far less. */
#define SLOT 1024

static int sleep_forever(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return 0;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 0;
    const char *mode = argc > 2 ? argv[2] : "vm";
    int vm = strcmp(mode, "vm") == 0;
    char *stacks = NULL;
    pid_t first = 0, last = 0;
    long i;

    if (n <= 0 || (!vm && strcmp(mode, "fork") != 0)) {
        fprintf(stderr, "usage: sleepers N [vm|fork]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (vm) {
        stacks = mmap(NULL, (size_t)n * SLOT, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (stacks == MAP_FAILED) {
            printf("SEMGUARD-PROG name=sleepers mode=vm started=0 error=mmap:%s status=fail\n", strerror(errno));
            return 1;
        }
    }
    for (i = 0; i < n; i++) {
        pid_t pid;

        if (vm) {
            /* The stack grows down from the end of this sleeper's slot. */
            pid = clone(sleep_forever, stacks + (size_t)(i + 1) * SLOT, CLONE_VM | SIGCHLD, NULL);
        } else {
            pid = fork();
            if (pid == 0)
                sleep_forever(NULL);
        }
        if (pid < 0) {
            printf("SEMGUARD-PROG name=sleepers mode=%s started=%ld error=%s:%s status=fail\n", mode, i,
                   vm ? "clone" : "fork", strerror(errno));
            return 1;
        }
        if (i == 0)
            first = pid;
        last = pid;
    }
    printf("SEMGUARD-PROG name=sleepers mode=%s started=%ld first=%d last=%d status=ok\n", mode, n, (int)first,
           (int)last);
    sleep_forever(NULL);
    return 0;
}
