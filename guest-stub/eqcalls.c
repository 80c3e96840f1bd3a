/* eqcalls: one file, opened through the system calls that do what openat does — for the
 * equivalent-calls e2e scenario. A policy with a rule for openat only (default allow) does not
 * stop the same open made with openat2 or submitted through an io_uring: those are other
 * system calls (or no system call at all: the ring's open runs in the kernel on P's behalf).
 *
 *   eqcalls MODE PATH      MODE: openat | openat2 | io_uring
 *       openat    openat(AT_FDCWD, PATH, O_RDONLY)
 *       openat2   the raw call 437 with a struct open_how { O_RDONLY }
 *       io_uring  io_uring_setup (425), the three rings mapped, one IORING_OP_OPENAT entry
 *                 submitted and waited for with io_uring_enter (426); no liburing
 *   then reads the first line of what it opened and prints
 *       SEMGUARD-PROG name=eqcalls mode=MODE path=PATH fd=N content=LINE status=opened
 *   or, when a step fails,
 *       SEMGUARD-PROG name=eqcalls mode=MODE path=PATH step=STEP error=ERRNO-TEXT status=fail
 * Exit status: 0 opened, 1 a step failed, 2 usage. A monitor that kills it leaves no line
 * (status 137 in enforce mode).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NR_OPENAT2 437
#define NR_IO_URING_SETUP 425
#define NR_IO_URING_ENTER 426

static const char *mode, *path;

static int failed(const char *step, int err)
{
    printf("SEMGUARD-PROG name=eqcalls mode=%s path=%s step=%s error=%s status=fail\n", mode, path, step,
           strerror(err));
    return 1;
}

static long open_openat2(void)
{
    struct open_how how;

    memset(&how, 0, sizeof how);
    how.flags = O_RDONLY;
    return syscall(NR_OPENAT2, AT_FDCWD, path, &how, sizeof how);
}

/* io_uring: set up a ring of 4 entries, submit one IORING_OP_OPENAT, wait for its completion.
 * Returns the opened descriptor (>= 0) or -errno; *step names what failed. */
static long open_io_uring(const char **step)
{
    struct io_uring_params p;
    struct io_uring_sqe *sqes, *sqe;
    struct io_uring_cqe *cqe;
    size_t sq_size, cq_size;
    unsigned char *sq, *cq;
    unsigned tail, head, index, mask;
    long ring, n, res;

    memset(&p, 0, sizeof p);
    *step = "io_uring_setup";
    ring = syscall(NR_IO_URING_SETUP, 4, &p);
    if (ring < 0)
        return -errno;

    sq_size = p.sq_off.array + p.sq_entries * sizeof(uint32_t);
    cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if ((p.features & IORING_FEAT_SINGLE_MMAP) && cq_size > sq_size)
        sq_size = cq_size;
    *step = "mmap-sq";
    sq = mmap(NULL, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, (int)ring, IORING_OFF_SQ_RING);
    if (sq == MAP_FAILED)
        return -errno;
    if (p.features & IORING_FEAT_SINGLE_MMAP) {
        cq = sq;
    } else {
        *step = "mmap-cq";
        cq = mmap(NULL, cq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, (int)ring, IORING_OFF_CQ_RING);
        if (cq == MAP_FAILED)
            return -errno;
    }
    *step = "mmap-sqes";
    sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                (int)ring, IORING_OFF_SQES);
    if (sqes == MAP_FAILED)
        return -errno;

    /* One submission: the kernel opens PATH relative to the current directory. */
    tail = __atomic_load_n((unsigned *)(sq + p.sq_off.tail), __ATOMIC_ACQUIRE);
    mask = *(unsigned *)(sq + p.sq_off.ring_mask);
    index = tail & mask;
    sqe = &sqes[index];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_OPENAT;
    sqe->fd = AT_FDCWD;
    sqe->addr = (uint64_t)(uintptr_t)path;
    sqe->open_flags = O_RDONLY;
    sqe->user_data = 0x5e6;
    ((unsigned *)(sq + p.sq_off.array))[index] = index;
    __atomic_store_n((unsigned *)(sq + p.sq_off.tail), tail + 1, __ATOMIC_RELEASE);

    *step = "io_uring_enter";
    n = syscall(NR_IO_URING_ENTER, (int)ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0);
    if (n < 0)
        return -errno;
    if (n != 1)
        return -EIO;

    *step = "completion";
    head = __atomic_load_n((unsigned *)(cq + p.cq_off.head), __ATOMIC_ACQUIRE);
    if (head == __atomic_load_n((unsigned *)(cq + p.cq_off.tail), __ATOMIC_ACQUIRE))
        return -EAGAIN;
    cqe = &((struct io_uring_cqe *)(cq + p.cq_off.cqes))[head & *(unsigned *)(cq + p.cq_off.ring_mask)];
    if (cqe->user_data != 0x5e6)
        return -EPROTO;
    res = cqe->res;
    __atomic_store_n((unsigned *)(cq + p.cq_off.head), head + 1, __ATOMIC_RELEASE);
    *step = "openat-in-ring";
    return res;
}

int main(int argc, char **argv)
{
    const char *step = "open";
    char line[64];
    ssize_t got;
    long fd;
    char *nl;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 3) {
        fprintf(stderr, "usage: eqcalls openat|openat2|io_uring PATH\n");
        return 2;
    }
    mode = argv[1];
    path = argv[2];
    if (strcmp(mode, "openat") == 0) {
        fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY);
        if (fd < 0)
            fd = -errno;
    } else if (strcmp(mode, "openat2") == 0) {
        fd = open_openat2();
        if (fd < 0)
            fd = -errno;
    } else if (strcmp(mode, "io_uring") == 0) {
        fd = open_io_uring(&step);
    } else {
        fprintf(stderr, "eqcalls: unknown mode '%s'\n", mode);
        return 2;
    }
    if (fd < 0)
        return failed(step, (int)-fd);

    got = read((int)fd, line, sizeof line - 1);
    if (got < 0)
        return failed("read", errno);
    line[got] = '\0';
    nl = strchr(line, '\n');
    if (nl)
        *nl = '\0';
    for (char *c = line; *c; c++)
        if (*c == ' ')
            *c = '_';
    printf("SEMGUARD-PROG name=eqcalls mode=%s path=%s fd=%ld content=%s status=opened\n", mode, path, fd, line);
    close((int)fd);
    return 0;
}
