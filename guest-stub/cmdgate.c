/* cmdgate: a restricted command gate (like an ssh forced command), one of semguard's protected
 * programs P.
 *
 * Reads requests from stdin, one per line:
 *     run N [ARG]   run command N of the table below, replacing cmdgate (execve)
 * Commands below gate.user_limit are open to everybody; the ones above are for administrators,
 * and this deployment has none (gate.user_limit is the number of user commands). Refused and
 * malformed requests are logged to stdout and the gate reads the next line.
 *
 * THE BUG (deliberate; semguard must stop what it leads to): log_request() passes the request
 * line as printf's format (the classic missing "%s"). A refused request containing
 * "%7$n"-style directives writes through a pointer the attacker put in the same line (the
 * line buffer is on main's stack, where printf's stack arguments are found); the program is
 * static and not PIE, so the address of gate.user_limit is fixed. Raising the limit opens
 * the administrators' command, which runs /bin/sh -c ARG: "run 3 touch /tmp/owned".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct command {
    const char *name;
    const char *path;
    const char *arg0;
    int shell; /* ARG is a shell script (sh -c ARG) rather than one argument */
};

/* The commands; the first gate.user_limit are user commands. */
static const struct command commands[] = {
    { "date", "/bin/date", "date", 0 },
    { "uname", "/bin/uname", "uname", 0 },
    { "hostname", "/bin/hostname", "hostname", 0 },
    { "maint", "/bin/sh", "sh", 1 }, /* administrators only: runs ARG as a maintenance script */
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

struct gate_config {
    unsigned int user_limit; /* commands[0 .. user_limit) are open to users */
    unsigned int refused;    /* requests refused so far */
};

struct gate_config gate = { 3, 0 };

static void log_request(const char *why, const char *req)
{
    printf("SEMGUARD-PROG name=cmdgate refused=%s request=", why);
    printf(req); /* BUG: the request is used as the format */
    printf("\n");
    gate.refused++;
}

int main(void)
{
    char line[256];

    setvbuf(stdout, NULL, _IOLBF, 0);
    while (fgets(line, sizeof line, stdin) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *end;
        if (strncmp(line, "run ", 4) != 0) {
            log_request("syntax", line);
            continue;
        }
        unsigned long n = strtoul(line + 4, &end, 10);
        if (end == line + 4 || (*end != '\0' && *end != ' ')) {
            log_request("syntax", line);
            continue;
        }
        if (n >= NCOMMANDS || n >= gate.user_limit) {
            log_request("not-allowed", line);
            continue;
        }
        const struct command *c = &commands[n];
        char *argv[4] = { (char *)c->arg0, NULL, NULL, NULL };
        if (*end == ' ') {
            if (c->shell) {
                argv[1] = "-c";
                argv[2] = end + 1;
            } else {
                argv[1] = end + 1;
            }
        }
        printf("SEMGUARD-PROG name=cmdgate run=%s refused=%u\n", c->name, gate.refused);
        char *envp[] = { "PATH=/bin:/usr/bin", NULL };
        execve(c->path, argv, envp);
        perror(c->path);
        return 127;
    }
    printf("SEMGUARD-PROG name=cmdgate ran=none refused=%u status=ok\n", gate.refused);
    return 0;
}
