/* lineage: a protected program P that forks, vforks, spawns, runs threads and execs itself — for
 * the lineage-* e2e scenarios (issue 13, "Who P is": P is every process running P's binary and
 * all of its descendants). Its policy (policies/lineage.sgi) lets it fork, clone, vfork, wait and
 * make its benign calls, lets it open only LINEAGE_FILE and exec only itself (/stub/lineage).
 * Each "exploit" mode below makes one call that policy forbids — in a descendant or in a new
 * image — the way an attacker who controls P would to get around a monitor that only checks
 * P's own address space. The parent reports what happened to the child; the scenario checks
 * whether the forbidden call's effect (a file) exists.
 *
 *   lineage server WORKERS REQUESTS
 *       a pre-forking server: WORKERS children read fixed-size requests from one pipe and each
 *       appends a line per request to LINEAGE_FILE (open, write, close, getpid); the parent
 *       writes REQUESTS requests, closes the pipe, waits for every worker and counts the lines.
 *       SEMGUARD-PROG name=lineage mode=server workers=8 exited0=8 handled=32 lines=40 bad= status=ok
 *   lineage fork-openat FILE      fork; the child opens FILE (O_CREAT): not LINEAGE_FILE
 *   lineage fork-exec FILE        fork; the child execs /bin/touch FILE: not /stub/lineage
 *   lineage vfork-exec FILE       vfork; the child execs /bin/touch FILE
 *   lineage spawn-exec FILE       posix_spawn(/bin/touch FILE) (glibc: clone(CLONE_VM|CLONE_VFORK)
 *                                 + execve in the child)
 *       SEMGUARD-PROG name=lineage mode=fork-openat child=PID status=137 how=exit|signal
 *       (status: the child's exit status, or 128 + its signal, as a shell shows it; 137 is
 *       semguard's kill; the child itself exits 0 after it made the call, 127 if the call
 *       failed)
 *   lineage threads-exec FILE
 *       a second thread calls getppid() in a loop; once it has run, the main thread execs
 *       /stub/lineage early-openat FILE — the new image's first action (its first call after
 *       glibc's start-up) opens FILE. Only the new image's fate reaches the shell: its exit
 *       status (137: killed at the open; 0: the open ran; 127: the exec failed).
 *   lineage early-openat FILE     opens FILE (O_CREAT) before anything else, then reports
 *       SEMGUARD-PROG name=lineage mode=early-openat file=FILE opened=yes status=exploited
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The one file P may open, and the one program it may exec (itself): the policy's constants. */
#define LINEAGE_FILE "/tmp/lineage.txt"
#define SELF "/stub/lineage"
/* One request on the server's pipe: less than PIPE_BUF, so each write and read is whole. */
#define REQ_SIZE 16

/* The status as a shell shows it: the exit code, or 128 + the signal. */
static int shell_status(int wstatus, const char **how)
{
    if (WIFEXITED(wstatus)) {
        *how = "exit";
        return WEXITSTATUS(wstatus);
    }
    if (WIFSIGNALED(wstatus)) {
        *how = "signal";
        return 128 + WTERMSIG(wstatus);
    }
    *how = "other";
    return -1;
}

static int report_child(const char *mode, pid_t pid)
{
    int wstatus, st;
    const char *how;

    if (pid < 0) {
        printf("SEMGUARD-PROG name=lineage mode=%s child=none error=%s status=fail\n", mode, strerror(errno));
        return 1;
    }
    if (waitpid(pid, &wstatus, 0) != pid) {
        printf("SEMGUARD-PROG name=lineage mode=%s child=%d error=waitpid:%s status=fail\n", mode, (int)pid,
               strerror(errno));
        return 1;
    }
    st = shell_status(wstatus, &how);
    printf("SEMGUARD-PROG name=lineage mode=%s child=%d status=%d how=%s\n", mode, (int)pid, st, how);
    return 0;
}

/* The forbidden open: a file that is not LINEAGE_FILE, created. */
static int open_forbidden(const char *file)
{
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    if (fd < 0)
        return 127;
    if (write(fd, "lineage\n", 8) != 8)
        return 127;
    close(fd);
    return 0;
}

static void touch_argv(const char *file, char *argv[3])
{
    argv[0] = "touch";
    argv[1] = (char *)file;
    argv[2] = NULL;
}

/* --- the pre-forking server --------------------------------------------------------------- */

static int append_line(const char *what, long n)
{
    char line[64];
    int len = snprintf(line, sizeof line, "%s %ld pid %d\n", what, n, (int)getpid());
    int fd = open(LINEAGE_FILE, O_WRONLY | O_CREAT | O_APPEND, 0644);
    int ok;

    if (fd < 0)
        return -1;
    ok = write(fd, line, (size_t)len) == len;
    close(fd);
    return ok ? 0 : -1;
}

/* One worker: a line when it starts, one per request; exits 0 unless a call failed. */
static int worker(int rfd, long id)
{
    char req[REQ_SIZE];
    ssize_t n;

    if (append_line("worker", id) != 0)
        return 1;
    while ((n = read(rfd, req, sizeof req)) == (ssize_t)sizeof req) {
        if (append_line("request", strtol(req, NULL, 10)) != 0)
            return 1;
    }
    return n == 0 ? 0 : 1;
}

static long count_lines(void)
{
    char buf[4096];
    long lines = 0;
    ssize_t n;
    int fd = open(LINEAGE_FILE, O_RDONLY);

    if (fd < 0)
        return -1;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
    close(fd);
    return lines;
}

static int server(long workers, long requests)
{
    int p[2], exited0 = 0;
    char bad[512] = "";
    size_t badlen = 0;
    long i, lines;

    if (workers <= 0 || workers > 64 || requests < 0 || requests > 100000 || pipe(p) != 0) {
        printf("SEMGUARD-PROG name=lineage mode=server error=setup status=fail\n");
        return 1;
    }
    for (i = 0; i < workers; i++) {
        pid_t pid = fork();

        if (pid == 0) {
            close(p[1]);
            exit(worker(p[0], i));
        }
        if (pid < 0) {
            printf("SEMGUARD-PROG name=lineage mode=server forked=%ld error=fork:%s status=fail\n", i,
                   strerror(errno));
            return 1;
        }
    }
    close(p[0]);
    for (i = 0; i < requests; i++) {
        char req[REQ_SIZE];

        memset(req, 0, sizeof req);
        snprintf(req, sizeof req, "%d", (int)i);
        if (write(p[1], req, sizeof req) != (ssize_t)sizeof req) {
            printf("SEMGUARD-PROG name=lineage mode=server written=%ld error=write:%s status=fail\n", i,
                   strerror(errno));
            return 1;
        }
    }
    close(p[1]);
    for (i = 0; i < workers; i++) {
        int wstatus, st;
        const char *how;
        pid_t pid = wait(&wstatus);

        if (pid < 0)
            break;
        st = shell_status(wstatus, &how);
        if (st == 0)
            exited0++;
        else if (badlen < sizeof bad - 32)
            badlen += (size_t)snprintf(bad + badlen, sizeof bad - badlen, "%s%d:%d", badlen ? "," : "", (int)pid, st);
    }
    lines = count_lines();
    printf("SEMGUARD-PROG name=lineage mode=server workers=%ld exited0=%d requests=%ld lines=%ld bad=%s status=%s\n",
           workers, exited0, requests, lines, badlen ? bad : "none",
           exited0 == workers && lines == workers + requests ? "ok" : "fail");
    return exited0 == workers && lines == workers + requests ? 0 : 1;
}

/* --- threads-exec ------------------------------------------------------------------------- */

static volatile unsigned long spins;

static void *ppid_loop(void *arg)
{
    (void)arg;
    for (;;) {
        getppid();
        spins++;
    }
    return NULL;
}

static int threads_exec(const char *file)
{
    pthread_t t;
    char *argv[] = { "lineage", "early-openat", (char *)file, NULL };
    int e = pthread_create(&t, NULL, ppid_loop, NULL);

    if (e != 0) {
        printf("SEMGUARD-PROG name=lineage mode=threads-exec error=pthread_create:%s status=fail\n", strerror(e));
        return 1;
    }
    /* The sibling is making its calls when the exec starts (on another vCPU, or when it
     * preempts this thread). */
    while (spins < 200)
        ;
    execve(SELF, argv, environ);
    printf("SEMGUARD-PROG name=lineage mode=threads-exec error=execve:%s status=fail\n", strerror(errno));
    return 127;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    const char *file = argc > 2 ? argv[2] : "";
    char *targv[3];
    pid_t pid;

    /* The new image's first action: before stdio or anything else makes a call. */
    if (strcmp(mode, "early-openat") == 0) {
        int st = open_forbidden(file);

        setvbuf(stdout, NULL, _IOLBF, 0);
        printf("SEMGUARD-PROG name=lineage mode=early-openat file=%s opened=%s status=%s\n", file,
               st == 0 ? "yes" : "no", st == 0 ? "exploited" : "fail");
        return st;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(mode, "server") == 0 && argc == 4)
        return server(atol(argv[2]), atol(argv[3]));
    if (argc != 3) {
        fprintf(stderr, "usage: lineage server WORKERS REQUESTS | lineage MODE FILE "
                        "(fork-openat fork-exec vfork-exec spawn-exec threads-exec early-openat)\n");
        return 2;
    }
    touch_argv(file, targv);
    if (strcmp(mode, "fork-openat") == 0) {
        pid = fork();
        if (pid == 0)
            _exit(open_forbidden(file));
        return report_child(mode, pid);
    }
    if (strcmp(mode, "fork-exec") == 0) {
        pid = fork();
        if (pid == 0) {
            execve("/bin/touch", targv, environ);
            _exit(127);
        }
        return report_child(mode, pid);
    }
    if (strcmp(mode, "vfork-exec") == 0) {
        pid = vfork();
        if (pid == 0) {
            execve("/bin/touch", targv, environ);
            _exit(127);
        }
        return report_child(mode, pid);
    }
    if (strcmp(mode, "spawn-exec") == 0) {
        int e = posix_spawn(&pid, "/bin/touch", NULL, NULL, targv, environ);

        if (e != 0) {
            /* glibc reports an exec failure of the child here (and has reaped it). */
            printf("SEMGUARD-PROG name=lineage mode=spawn-exec child=none error=%s status=127\n", strerror(e));
            return 0;
        }
        return report_child(mode, pid);
    }
    if (strcmp(mode, "threads-exec") == 0)
        return threads_exec(file);
    fprintf(stderr, "lineage: unknown mode '%s'\n", mode);
    return 2;
}
