/* notesd: a small notes daemon, one of semguard's protected programs P.
 *
 * Reads requests from stdin, one per line, and appends notes to the configured notes file:
 *     note TEXT    append TEXT as one line to config.notes_path (at most config.max_note bytes)
 *     quit         stop
 * and prints one machine-readable line per request and a summary, so a scenario can check that
 * a benign run did its work.
 *
 * THE BUG (deliberate; semguard must stop what it leads to): handle_note() checks the request
 * line against the size of the daemon's input buffer, not against the record it copies it into,
 * and copies TEXT into the fixed-size record.text with strcpy. A note longer than
 * sizeof record.text runs on into record.path, the file the record is about to be written to,
 * which the record already holds. Both live in one struct, so the overflow does not depend on
 * how the compiler lays out the stack: 128 bytes of text followed by "/tmp/pwned" make notesd
 * open /tmp/pwned (creating it) and write 138 bytes there instead of a note to its own file.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NOTE_MAX 128

/* The daemon's configuration: where notes go and how long one may be. The policy reads it. */
struct notes_config {
    char notes_path[64];
    unsigned long max_note;
};

struct notes_config config = { "/tmp/notes.txt", NOTE_MAX };

/* One note on its way to the notes file. */
struct record {
    char text[NOTE_MAX];
    char path[64];
};

static unsigned long notes_written;

/* Appends one note; returns 0 on success. */
static int handle_note(const char *text)
{
    struct record rec;

    strcpy(rec.path, config.notes_path);
    /* BUG: the request line was bounded by the input buffer (512 bytes), not by rec.text. */
    strcpy(rec.text, text);

    int fd = open(rec.path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) {
        perror(rec.path);
        return -1;
    }
    size_t n = strlen(rec.text);
    int ok = write(fd, rec.text, n) == (ssize_t)n && write(fd, "\n", 1) == 1;
    close(fd);
    if (!ok)
        return -1;
    notes_written++;
    printf("SEMGUARD-PROG name=notesd note=%lu bytes=%zu\n", notes_written, n);
    return 0;
}

int main(void)
{
    char line[512];
    int failed = 0;

    setvbuf(stdout, NULL, _IOLBF, 0);
    while (fgets(line, sizeof line, stdin) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "note ", 5) == 0) {
            if (handle_note(line + 5) != 0)
                failed++;
        } else if (strcmp(line, "quit") == 0) {
            break;
        } else if (line[0] != '\0') {
            printf("SEMGUARD-PROG name=notesd unknown-request\n");
            failed++;
        }
    }
    printf("SEMGUARD-PROG name=notesd notes=%lu failed=%d file=%s status=%s\n", notes_written, failed,
           config.notes_path, failed ? "fail" : "ok");
    return failed ? 1 : 0;
}
