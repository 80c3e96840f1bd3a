/* runas UID GID CMD [ARG...] — runs CMD as an unprivileged user: drops every supplementary
 * group (setgroups(0)), then setgid(GID), then setuid(UID), checks that the real and effective
 * ids are the requested ones afterwards, and execv's CMD (a path: no PATH search) with ARG...
 * The process keeps its pid, so a shell's $! for `runas ... &` is CMD's pid.
 *
 * Any failure (bad number, a refused call, ids not as asked, exec failed) prints one line
 * "runas: ..." on stderr and exits 127; CMD never runs with other ids than those asked for.
 * Used by guest scenarios that act as an ordinary user of the guest (identity-decoy). */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static void die(const char *what, int err)
{
    if (err)
        fprintf(stderr, "runas: %s: %s\n", what, strerror(err));
    else
        fprintf(stderr, "runas: %s\n", what);
    exit(127);
}

/* A decimal id in [0, 2^32-2] (-1 is "no change" for the set*id calls: refused). */
static unsigned long parse_id(const char *s, const char *name)
{
    char *end;
    unsigned long v;

    if (*s < '0' || *s > '9') {
        fprintf(stderr, "runas: %s '%s' is not a decimal number\n", name, s);
        exit(127);
    }
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || *end || v >= 0xffffffffUL) {
        fprintf(stderr, "runas: %s '%s' is not a valid id\n", name, s);
        exit(127);
    }
    return v;
}

int main(int argc, char **argv)
{
    uid_t uid;
    gid_t gid;
    char msg[128];

    if (argc < 4) {
        fprintf(stderr, "usage: runas UID GID CMD [ARG...]\n");
        return 127;
    }
    uid = (uid_t)parse_id(argv[1], "UID");
    gid = (gid_t)parse_id(argv[2], "GID");

    if (setgroups(0, NULL) != 0)
        die("setgroups(0) failed", errno);
    if (setgid(gid) != 0) {
        snprintf(msg, sizeof msg, "setgid(%lu) failed", (unsigned long)gid);
        die(msg, errno);
    }
    if (setuid(uid) != 0) {
        snprintf(msg, sizeof msg, "setuid(%lu) failed", (unsigned long)uid);
        die(msg, errno);
    }
    if (getuid() != uid || geteuid() != uid) {
        snprintf(msg, sizeof msg, "after setuid(%lu): uid=%lu euid=%lu", (unsigned long)uid,
                 (unsigned long)getuid(), (unsigned long)geteuid());
        die(msg, 0);
    }
    if (getgid() != gid || getegid() != gid) {
        snprintf(msg, sizeof msg, "after setgid(%lu): gid=%lu egid=%lu", (unsigned long)gid,
                 (unsigned long)getgid(), (unsigned long)getegid());
        die(msg, 0);
    }
    if (getgroups(0, NULL) != 0)
        die("supplementary groups left after setgroups(0)", 0);

    execv(argv[3], &argv[3]);
    snprintf(msg, sizeof msg, "execv %.100s failed", argv[3]);
    die(msg, errno);
    return 127;
}
