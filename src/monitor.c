/*
 * monitor.c -- MONITOR clients and the feed; see monitor.h.
 */
#include "monitor.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

#include "client.h"
#include "server.h"

static struct client **monitors = NULL;
static size_t nmonitors = 0;

void
monitor_start(struct client *c)
{
    if (c->monitor) {
        return;
    }
    monitors = td_realloc(monitors, (nmonitors + 1) * sizeof(*monitors));
    monitors[nmonitors++] = c;
    c->monitor = 1;
}

void
monitor_stop(struct client *c)
{
    size_t i;

    if (!c->monitor) {
        return;
    }
    for (i = 0; i < nmonitors; i++) {
        if (monitors[i] == c) {
            monitors[i] = monitors[--nmonitors];
            break;
        }
    }
    c->monitor = 0;
}

/* Redis's sdscatrepr: quoted, with escapes for what is not printable. */
static void
add_repr(struct buf *b, const char *p, size_t len)
{
    size_t i;

    buf_append(b, "\"", 1);
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];
        char esc[8];

        switch (ch) {
        case '\\':
        case '"':
            esc[0] = '\\';
            esc[1] = (char)ch;
            buf_append(b, esc, 2);
            break;
        case '\n':
            buf_append(b, "\\n", 2);
            break;
        case '\r':
            buf_append(b, "\\r", 2);
            break;
        case '\t':
            buf_append(b, "\\t", 2);
            break;
        case '\a':
            buf_append(b, "\\a", 2);
            break;
        case '\b':
            buf_append(b, "\\b", 2);
            break;
        default:
            if (isprint(ch)) {
                buf_append(b, &p[i], 1);
            } else {
                snprintf(esc, sizeof(esc), "\\x%02x", ch);
                buf_append(b, esc, 4);
            }
            break;
        }
    }
    buf_append(b, "\"", 1);
}

void
monitor_feed(const struct client *c, size_t argc, const struct resp_arg *argv)
{
    struct buf line;
    struct timeval tv;
    char head[160];
    size_t i;

    if (nmonitors == 0 || argc == 0 ||
        td_slice_eq(argv[0].ptr, argv[0].len, "auth") ||
        (td_slice_eq(argv[0].ptr, argv[0].len, "hello") && argc > 2)) {
        return;
    }
    gettimeofday(&tv, NULL);
    buf_init(&line);
    snprintf(head, sizeof(head), "+%ld.%06ld [%lld %s%s]", (long)tv.tv_sec,
             (long)tv.tv_usec, c->db, (c->flags & CLIENT_UNIX) ? "unix:" : "",
             c->addr);
    buf_append_str(&line, head);
    for (i = 0; i < argc; i++) {
        buf_append(&line, " ", 1);
        add_repr(&line, argv[i].ptr, argv[i].len);
    }
    buf_append(&line, "\r\n", 2);
    for (i = 0; i < nmonitors; i++) {
        struct client *m = monitors[i];

        /* Its own MONITOR comes first in a monitor's feed as in Redis,
         * but nothing of a closing client. */
        if (!(m->flags & CLIENT_CLOSING)) {
            buf_append(client_reply_buf(m), buf_head(&line), line.len);
        }
    }
    buf_free(&line);
}
