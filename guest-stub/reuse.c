/* reuse PID N CMD [ARG...] — kills PID with SIGKILL and, as soon as it is dead, runs CMD N times
 * in a row (fork, execv, waitpid; one at a time, as fast as it can), for the lineage-reuse e2e
 * scenario (issue 13): after P dies, the guest kernel hands P's freed page-table frames to the
 * next address spaces it makes — these — so a monitor that still has P's frame in its filter
 * checks an unrelated process against P's policy.
 *
 * "Dead" is PID's /proc/PID/stat state Z (a zombie: it has left its address space; PID is
 * expected to be a child of the caller, which reaps it later) or PID gone; waited for without
 * sleeping (sched_yield), at most 5 s.
 * Prints one line (pids: every child's pid in order; bad: pid:status of each child that did not
 * exit 0, status as a shell shows it, 128 + signal if it was killed by one):
 *   SEMGUARD-PROG name=reuse target=PID dead_after_us=T n=N exited0=N bad=none elapsed_ms=T
 *       pids=P1,P2,... status=ok
 * status=fail (exit 1) if a child did not exit 0; exit 2 on a usage or setup error. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_N 1000

static long long now_us(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* PID's state letter from /proc/PID/stat, or 0 if it is gone. */
static char state_of(pid_t pid)
{
    char path[64], buf[512], *p;
    ssize_t n;
    int fd;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* after the comm, which may hold anything */
    return p && p[1] == ' ' ? p[2] : '?';
}

int main(int argc, char **argv)
{
    static pid_t pids[MAX_N];
    static char bad[4096];
    size_t badlen = 0;
    long n, i, exited0 = 0;
    pid_t target;
    long long t0, dead, t1;
    char st;

    if (argc < 4 || (target = (pid_t)atol(argv[1])) <= 0 || (n = atol(argv[2])) <= 0 || n > MAX_N) {
        fprintf(stderr, "usage: reuse PID N CMD [ARG...]  (N <= %d)\n", MAX_N);
        return 2;
    }
    setvbuf(stdout, NULL, _IOFBF, 0); /* one write at the end: nothing between the kill and the runs */
    t0 = now_us();
    if (kill(target, SIGKILL) != 0) {
        printf("SEMGUARD-PROG name=reuse target=%d error=kill:%s status=fail\n", (int)target, strerror(errno));
        return 2;
    }
    while ((st = state_of(target)) != 0 && st != 'Z' && st != 'X') {
        if (now_us() - t0 > 5000000) {
            printf("SEMGUARD-PROG name=reuse target=%d error=still-alive state=%c status=fail\n", (int)target, st);
            return 2;
        }
        sched_yield();
    }
    dead = now_us();
    for (i = 0; i < n; i++) {
        int wstatus, code;
        pid_t pid = fork();

        if (pid == 0) {
            execv(argv[3], &argv[3]);
            _exit(127);
        }
        if (pid < 0 || waitpid(pid, &wstatus, 0) != pid) {
            printf("SEMGUARD-PROG name=reuse target=%d run=%ld error=%s status=fail\n", (int)target, i,
                   strerror(errno));
            return 2;
        }
        pids[i] = pid;
        code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus) : -1;
        if (code == 0)
            exited0++;
        else if (badlen < sizeof bad - 32)
            badlen += (size_t)snprintf(bad + badlen, sizeof bad - badlen, "%s%d:%d", badlen ? "," : "", (int)pid,
                                       code);
    }
    t1 = now_us();
    printf("SEMGUARD-PROG name=reuse target=%d dead_after_us=%lld n=%ld exited0=%ld bad=%s elapsed_ms=%lld pids=",
           (int)target, dead - t0, n, exited0, badlen ? bad : "none", (t1 - dead) / 1000);
    for (i = 0; i < n; i++)
        printf("%s%d", i ? "," : "", (int)pids[i]);
    printf(" status=%s\n", exited0 == n ? "ok" : "fail");
    fflush(stdout);
    return exited0 == n ? 0 : 1;
}
