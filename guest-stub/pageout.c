/* pageout PID: memory pressure on one process, on demand. Asks the guest kernel to reclaim every
 * page of PID's mappings (process_madvise(MADV_PAGEOUT), as a proactive-reclaim daemon would)
 * and prints how many of its pages were resident before and after:
 *     SEMGUARD-PROG name=pageout pid=N resident-before=A resident-after=B
 * Clean file pages are dropped from PID's page tables (and from the page cache); anonymous
 * pages go to swap if the guest has some. Run as root (CAP_SYS_NICE). Exits 1 if nothing was
 * reclaimed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_process_madvise
#define SYS_process_madvise 440
#endif
#define MADV_PAGEOUT_ 21
#define MAX_RANGES 64

/* Resident pages of PID, from /proc/PID/statm (second field), or -1. */
static long resident(int pid)
{
    char path[64];
    long size, rss;
    snprintf(path, sizeof path, "/proc/%d/statm", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    int n = fscanf(f, "%ld %ld", &size, &rss);
    fclose(f);
    return n == 2 ? rss : -1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: pageout PID\n");
        return 2;
    }
    int pid = atoi(argv[1]);
    char path[64], line[512];
    struct iovec iov[MAX_RANGES];
    int n = 0;

    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *maps = fopen(path, "r");
    if (maps == NULL) {
        perror(path);
        return 2;
    }
    while (n < MAX_RANGES && fgets(line, sizeof line, maps) != NULL) {
        unsigned long start, end;
        if (sscanf(line, "%lx-%lx", &start, &end) != 2)
            continue;
        /* The kernel's own pages of the process are not reclaimable. */
        if (strstr(line, "[vvar]") || strstr(line, "[vdso]") || strstr(line, "[vsyscall]"))
            continue;
        iov[n].iov_base = (void *)start;
        iov[n].iov_len = end - start;
        n++;
    }
    fclose(maps);

    long before = resident(pid);
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
        perror("pidfd_open");
        return 2;
    }
    long done = syscall(SYS_process_madvise, pidfd, iov, n, MADV_PAGEOUT_, 0);
    if (done < 0) {
        perror("process_madvise");
        return 2;
    }
    close(pidfd);
    long after = resident(pid);
    printf("SEMGUARD-PROG name=pageout pid=%d ranges=%d bytes=%ld resident-before=%ld resident-after=%ld\n", pid, n,
           done, before, after);
    return after >= 0 && after < before ? 0 : 1;
}
