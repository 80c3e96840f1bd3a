// SPDX-License-Identifier: GPL-2.0
/*
 * sgloop: a long-lived protected program P for semguard's module scenarios.
 *
 * Every 100 ms it makes one recognisable system call, getpriority(PRIO_PROCESS, 0), until told
 * otherwise on stdin (one command a line):
 *   bad   makes getpriority(PRIO_PROCESS, 4242) once — the call ivm-module/semguard-ko/host's sgloop.pol
 *         forbids (who must be 0); under enforce semguard kills P in that call, so the line
 *         after it is printed only if the call went on (audit, or a lenient policy);
 *   exec  execs its own file again (same pid and name, a new address space; semguard must
 *         follow P across the exec);
 *   stop  exits 0.
 * EOF on stdin keeps the loop going (it then runs until killed).
 *
 *   SEMGUARD-PROG name=sgloop state=running pid=N
 *   SEMGUARD-PROG name=sgloop state=tick calls=N          (every 50 calls)
 *   SEMGUARD-PROG name=sgloop state=bad-call-returned rc=R errno=E
 *   SEMGUARD-PROG name=sgloop state=stopped calls=N
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BAD_WHO 4242

/* The raw call, so that libc cannot answer it from a cache or merge it away. */
static long prio(long who)
{
	return syscall(SYS_getpriority, PRIO_PROCESS, who);
}

int main(void)
{
	unsigned long calls = 0;
	int stdin_open = 1;
	char line[64];

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("SEMGUARD-PROG name=sgloop state=running pid=%d\n", (int)getpid());
	for (;;) {
		struct pollfd pfd = { .fd = 0, .events = POLLIN };
		int ready = stdin_open ? poll(&pfd, 1, 100) : (usleep(100000), 0);

		prio(0);
		calls++;
		if (calls % 50 == 0)
			printf("SEMGUARD-PROG name=sgloop state=tick calls=%lu\n", calls);
		if (ready <= 0 || !(pfd.revents & (POLLIN | POLLHUP)))
			continue;
		if (!fgets(line, sizeof(line), stdin)) {
			stdin_open = 0;
			continue;
		}
		line[strcspn(line, "\r\n")] = '\0';
		if (strcmp(line, "bad") == 0) {
			long rc;

			errno = 0;
			rc = prio(BAD_WHO);
			printf("SEMGUARD-PROG name=sgloop state=bad-call-returned rc=%ld errno=%d\n", rc, errno);
		} else if (strcmp(line, "exec") == 0) {
			char self[256];
			/* The file's own path, so that the new comm is its name again (not "exe"). */
			ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

			self[n > 0 ? n : 0] = '\0';
			printf("SEMGUARD-PROG name=sgloop state=exec calls=%lu path=%s\n", calls, self);
			execl(self, "sgloop", (char *)NULL);
			printf("SEMGUARD-PROG name=sgloop state=exec-failed errno=%d\n", errno);
		} else if (strcmp(line, "stop") == 0) {
			printf("SEMGUARD-PROG name=sgloop state=stopped calls=%lu\n", calls);
			return 0;
		}
	}
}
