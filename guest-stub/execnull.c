/* execnull COUNTFILE — execve(NULL, NULL, NULL) in a loop, for the irq-bound e2e scenario
 * (issue 13): any guest user can make exec calls whose path cannot be read. Each call fails
 * with EFAULT and the loop goes on until the process is killed.
 *
 * The number of calls made so far is kept in COUNTFILE (created, 8 bytes, a little-endian
 * u64) through a shared mapping, so counting costs no system call: read it with
 *   od -An -tu8 -N8 COUNTFILE
 * Prints one line before the loop starts (after the first call, whose error it shows):
 *   SEMGUARD-PROG name=execnull first-error=EFAULT status=ok
 * and exits 1 with status=fail if the file cannot be set up or the first call does not fail
 * with EFAULT. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    volatile uint64_t *count;
    long r;
    int fd;

    if (argc != 2) {
        fprintf(stderr, "usage: execnull COUNTFILE\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, sizeof *count) != 0) {
        printf("SEMGUARD-PROG name=execnull error=%s:%s status=fail\n", argv[1], strerror(errno));
        return 1;
    }
    count = mmap(NULL, sizeof *count, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (count == MAP_FAILED) {
        printf("SEMGUARD-PROG name=execnull error=mmap:%s status=fail\n", strerror(errno));
        return 1;
    }
    close(fd);
    r = syscall(SYS_execve, NULL, NULL, NULL);
    if (r != -1 || errno != EFAULT) {
        printf("SEMGUARD-PROG name=execnull first-result=%ld first-error=%s status=fail\n", r, strerror(errno));
        return 1;
    }
    *count = 1;
    printf("SEMGUARD-PROG name=execnull first-error=EFAULT status=ok\n");
    for (;;) {
        syscall(SYS_execve, NULL, NULL, NULL);
        *count += 1;
    }
}
