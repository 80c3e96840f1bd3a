/* hello: the first guest-stub program. Makes a few ordinary system calls and prints what they
 * returned as one machine-readable line, so a scenario can tell that a static program really
 * ran inside the Mon-VM (and later, that monitored system calls still return sane values).
 * Exit status 0 only if every call succeeded. */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct utsname u;
    char cwd[256];
    int ok = 1;

    if (uname(&u) != 0) {
        ok = 0;
        strcpy(u.release, "?");
        strcpy(u.machine, "?");
    }
    if (getcwd(cwd, sizeof cwd) == NULL) {
        ok = 0;
        strcpy(cwd, "?");
    }
    printf("SEMGUARD-PROG name=hello pid=%ld ppid=%ld uid=%ld release=%s machine=%s cwd=%s args=%d status=%s\n",
           (long)getpid(), (long)getppid(), (long)getuid(), u.release, u.machine, cwd, argc - 1,
           ok ? "ok" : "fail");
    for (int i = 1; i < argc; i++)
        printf("SEMGUARD-PROG name=hello arg%d=%s\n", i, argv[i]);
    return ok ? 0 : 1;
}
