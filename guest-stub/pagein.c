/* pagein: a protected program P whose checked memory only the Assertion Checker reads.
 *
 *     pagein benign    openat(LOG_PATH) and a short write: the path literal and the write limit
 *                      sit in pages of their own that pagein itself never touches
 *     pagein efault    openat() of a pointer into no mapping at all: the kernel says EFAULT
 *     pagein exploit   what an exploit would do: execve() of a "/bin/sh" literal pagein never
 *                      touched, running `touch /tmp/pagein-owned`
 *
 * Each mode first prints "SEMGUARD-PROG name=pagein pid=N ready" and waits for one line on stdin,
 * so that the scenario can have the guest reclaim pagein's pages in between (pageout.c). The
 * policy (policies/pagein.sgi) reads LOG_PATH, limits.max_write and the execve path: when the
 * guest has reclaimed their pages, the checker finds them not present at the system call, and
 * only a fault of pagein's brings them back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Aligned to and as large as the guest kernel's fault-around window (64 KiB: a fault maps the
 * neighbouring pages already in the page cache): nothing else pagein uses brings their pages
 * back into its page tables. */
#define WINDOW 65536
#define OWN_WINDOW __attribute__((aligned(WINDOW)))

static const char OWN_WINDOW log_path[WINDOW] = "/tmp/pagein.log";
static const char OWN_WINDOW shell_path[WINDOW] = "/bin/sh";

/* How long one write to the log may be. The policy reads it; pagein never does. */
struct write_limits {
    unsigned long max_write;
    char pad[WINDOW - sizeof(unsigned long)];
};
struct write_limits OWN_WINDOW limits = { 64, { 0 } };

/* An address below any mapping of a static non-PIE program (it loads at 0x400000). */
#define UNMAPPED ((const char *)0x10000)

static int benign(void)
{
    int fd = openat(AT_FDCWD, log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) {
        perror("openat");
        return 1;
    }
    int ok = write(fd, "paged\n", 6) == 6;
    close(fd);
    printf("SEMGUARD-PROG name=pagein mode=benign wrote=%s\n", ok ? "yes" : "no");
    return ok ? 0 : 1;
}

static int efault(void)
{
    int fd = openat(AT_FDCWD, UNMAPPED, O_RDONLY);
    int e = errno;
    printf("SEMGUARD-PROG name=pagein mode=efault fd=%d errno=%s\n", fd, fd < 0 && e == EFAULT ? "EFAULT" : strerror(e));
    if (fd >= 0)
        close(fd);
    return fd < 0 && e == EFAULT ? 0 : 1;
}

static int exploit(void)
{
    char *const argv[] = { "sh", "-c", "touch /tmp/pagein-owned", NULL };
    execve(shell_path, argv, NULL);
    perror("execve");
    return 1;
}

int main(int argc, char **argv)
{
    char line[16];

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 2) {
        fprintf(stderr, "usage: pagein benign|efault|exploit\n");
        return 2;
    }
    printf("SEMGUARD-PROG name=pagein pid=%d ready\n", (int)getpid());
    if (fgets(line, sizeof line, stdin) == NULL)
        return 2;
    if (strcmp(argv[1], "benign") == 0)
        return benign();
    if (strcmp(argv[1], "efault") == 0)
        return efault();
    if (strcmp(argv[1], "exploit") == 0)
        return exploit();
    fprintf(stderr, "pagein: unknown mode %s\n", argv[1]);
    return 2;
}
