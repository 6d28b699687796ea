/*
 * log.c -- Redis-style log lines to stdout or a file.
 *
 * The role letter is 'P' (proxy). Marks follow Redis: '.' debug,
 * '-' verbose, '*' notice, '#' warning.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum log_level log_min_level = LOG_NOTICE;

static FILE *log_file = NULL;

td_status
log_open(const char *path, char *err, size_t errlen)
{
    FILE *f;

    if (path == NULL || path[0] == '\0') {
        log_close();
        return TD_OK;
    }
    f = fopen(path, "a");
    if (f == NULL) {
        snprintf(err, errlen, "can't open the log file %s: %s", path,
                 strerror(errno));
        return TD_ERR;
    }
    log_close();
    log_file = f;
    return TD_OK;
}

void
log_close(void)
{
    if (log_file != NULL) {
        fclose(log_file);
        log_file = NULL;
    }
}

void
log_set_level(enum log_level level)
{
    log_min_level = level;
}

int
log_level_parse(const char *name, enum log_level *level)
{
    static const char *const names[] = {"debug", "verbose", "notice",
                                        "warning"};
    int i;

    for (i = 0; i < 4; i++) {
        if (strcasecmp(name, names[i]) == 0) {
            *level = (enum log_level)i;
            return 1;
        }
    }
    return 0;
}

void
log_write(enum log_level level, const char *fmt, ...)
{
    static const char marks[] = ".-*#";
    char msg[1024];
    char when[64];
    struct timeval tv;
    struct tm tm;
    va_list ap;
    FILE *out = log_file != NULL ? log_file : stdout;
    size_t off;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    off = strftime(when, sizeof(when), "%d %b %Y %H:%M:%S.", &tm);
    snprintf(when + off, sizeof(when) - off, "%03d", (int)(tv.tv_usec / 1000));

    fprintf(out, "%d:P %s %c %s\n", (int)getpid(), when, marks[level], msg);
    fflush(out);
}
