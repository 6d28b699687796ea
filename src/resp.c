/*
 * resp.c -- RESP2 request parsing, reply framing and reply writing.
 *
 * A multibulk request as it sits in a client's query buffer:
 *
 *   *3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n
 *   ^ request start       ^off[1] ^off[2]
 *
 * The parser walks it once, remembering where each argument starts
 * (relative to the request start, so the buffer may move between reads).
 * It follows Redis's processMultibulkBuffer() and processInlineBuffer()
 * byte for byte, including what they do not check (the byte after '\r'
 * and the two bytes after a bulk) and what strchr() does to them (a NUL
 * byte hides every line end after it), so that forwarding the raw request
 * gives the primary exactly the command tandem saw, and a client sees
 * what Redis itself would answer.
 */
#include "resp.h"

#include <limits.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"
#include <hiredis/hiredis.h>

void
resp_parser_init(struct resp_parser *rp, long long max_bulk)
{
    memset(rp, 0, sizeof(*rp));
    rp->max_bulk = max_bulk;
    rp->bulk = -1;
    buf_init(&rp->scratch);
}

void
resp_parser_free(struct resp_parser *rp)
{
    free(rp->off);
    free(rp->argv);
    buf_free(&rp->scratch);
    rp->off = NULL;
    rp->argv = NULL;
    rp->argcap = 0;
}

void
resp_parser_reset(struct resp_parser *rp)
{
    rp->multibulk = 0;
    rp->bulk = -1;
    rp->pos = 0;
    rp->argc = 0;
    rp->want = 0;
    rp->error = NULL;
}

static void
ensure_args(struct resp_parser *rp, size_t n)
{
    size_t cap;

    if (rp->argcap >= n) {
        return;
    }
    cap = rp->argcap == 0 ? 8 : rp->argcap;
    while (cap < n) {
        cap *= 2;
    }
    rp->off = td_realloc(rp->off, cap * sizeof(*rp->off));
    rp->argv = td_realloc(rp->argv, cap * sizeof(*rp->argv));
    rp->argcap = cap;
}

/* The first c in p[0..n) as Redis finds it, with strchr() on the query
 * buffer: a NUL byte before it hides it (Redis then waits for more input
 * until the line is too big). */
static const char *
line_end(const char *p, size_t n, char c)
{
    const char *at = memchr(p, c, n);

    if (at == NULL || memchr(p, '\0', (size_t)(at - p)) != NULL) {
        return NULL;
    }
    return at;
}

static enum resp_result
proto_error(struct resp_parser *rp, const char *msg)
{
    rp->error = msg;
    return RESP_PROTO_ERROR;
}

static enum resp_result
parse_inline(struct resp_parser *rp, const char *p, size_t n,
             size_t *consumed)
{
    const char *nl = line_end(p, n, '\n');
    size_t linelen;
    size_t *offs = NULL;
    size_t *lens = NULL;
    size_t lcap = 0;
    long argc;
    long i;

    if (nl == NULL) {
        if (n > RESP_INLINE_MAX) {
            return proto_error(rp, "Protocol error: too big inline request");
        }
        return RESP_NEED_MORE;
    }
    linelen = (size_t)(nl - p);
    *consumed = linelen + 1;
    if (linelen > 0 && p[linelen - 1] == '\r') {
        linelen--;
    }

    /* Unescaping never lengthens the line: one allocation, and never a
     * NULL data pointer, even when every argument is empty ("" alone). */
    buf_clear(&rp->scratch);
    buf_reserve(&rp->scratch, linelen + 1);
    argc = resp_split_inline(p, linelen, &rp->scratch, &offs, &lens, &lcap);
    if (argc < 0) {
        free(offs);
        free(lens);
        *consumed = 0;
        return proto_error(rp, "Protocol error: unbalanced quotes in request");
    }
    ensure_args(rp, (size_t)argc);
    for (i = 0; i < argc; i++) {
        rp->argv[i].ptr = buf_head(&rp->scratch) + offs[i];
        rp->argv[i].len = lens[i];
    }
    free(offs);
    free(lens);
    rp->argc = (size_t)argc;
    return argc == 0 ? RESP_EMPTY : RESP_COMMAND;
}

static enum resp_result
parse_multibulk(struct resp_parser *rp, const char *p, size_t n,
                size_t *consumed)
{
    const char *cr;
    long long ll;
    size_t i;

    if (rp->multibulk == 0) {
        cr = line_end(p, n, '\r');
        if (cr == NULL) {
            if (n > RESP_INLINE_MAX) {
                return proto_error(rp,
                                   "Protocol error: too big mbulk count string");
            }
            return RESP_NEED_MORE;
        }
        /* Room for the byte after '\r' is required, its value is not. */
        if ((size_t)(cr - p) + 2 > n) {
            return RESP_NEED_MORE;
        }
        if (!td_str2ll(p + 1, (size_t)(cr - p - 1), &ll) || ll > INT_MAX) {
            return proto_error(rp, "Protocol error: invalid multibulk length");
        }
        if (ll > RESP_UNAUTH_MAX_ARGS && rp->unauth) {
            return proto_error(rp,
                               "Protocol error: unauthenticated multibulk length");
        }
        rp->pos = (size_t)(cr - p) + 2;
        if (ll <= 0) {
            *consumed = rp->pos;
            resp_parser_reset(rp);
            return RESP_EMPTY;
        }
        rp->multibulk = ll;
        rp->argc = 0;
        rp->bulk = -1;
        /* As Redis, do not trust a huge count with memory up front. */
        ensure_args(rp, (size_t)TD_MIN(ll, 1024));
    }

    while ((long long)rp->argc < rp->multibulk) {
        if (rp->bulk == -1) {
            const char *q = p + rp->pos;
            size_t avail = n - rp->pos;

            cr = line_end(q, avail, '\r');
            if (cr == NULL) {
                if (avail > RESP_INLINE_MAX) {
                    return proto_error(rp,
                                       "Protocol error: too big bulk count string");
                }
                return RESP_NEED_MORE;
            }
            if ((size_t)(cr - q) + 2 > avail) {
                return RESP_NEED_MORE;
            }
            if (q[0] != '$') {
                snprintf(rp->errbuf, sizeof(rp->errbuf),
                         "Protocol error: expected '$', got '%c'", q[0]);
                return proto_error(rp, rp->errbuf);
            }
            if (!td_str2ll(q + 1, (size_t)(cr - q - 1), &ll) || ll < 0 ||
                ll > rp->max_bulk) {
                return proto_error(rp, "Protocol error: invalid bulk length");
            }
            if (ll > RESP_UNAUTH_MAX_BULK && rp->unauth) {
                return proto_error(rp,
                                   "Protocol error: unauthenticated bulk length");
            }
            rp->pos += (size_t)(cr - q) + 2;
            rp->bulk = ll;
            rp->want = rp->pos + (size_t)ll + 2;
        }
        if (n - rp->pos < (size_t)rp->bulk + 2) {
            return RESP_NEED_MORE;
        }
        ensure_args(rp, rp->argc + 1);
        rp->off[rp->argc] = rp->pos;
        rp->argv[rp->argc].len = (size_t)rp->bulk;
        rp->argc++;
        rp->pos += (size_t)rp->bulk + 2;
        rp->bulk = -1;
        rp->want = 0;
    }

    for (i = 0; i < rp->argc; i++) {
        rp->argv[i].ptr = p + rp->off[i];
    }
    *consumed = rp->pos;
    ll = (long long)rp->argc;
    resp_parser_reset(rp);
    rp->argc = (size_t)ll;
    return RESP_COMMAND;
}

enum resp_result
resp_parse_request(struct resp_parser *rp, const char *p, size_t n,
                   size_t *consumed)
{
    *consumed = 0;
    rp->error = NULL;
    if (rp->multibulk == 0) {
        rp->argc = 0;
    }
    if (n == 0) {
        return RESP_NEED_MORE;
    }
    if (p[0] == '*') {
        return parse_multibulk(rp, p, n, consumed);
    }
    return parse_inline(rp, p, n, consumed);
}

static int
is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

static int
hex_val(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return c - 'A' + 10;
}

static int
is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' ||
           c == '\f';
}

long
resp_split_inline(const char *line, size_t len, struct buf *out,
                  size_t **offs, size_t **lens, size_t *cap)
{
    size_t i = 0;
    long argc = 0;

    for (;;) {
        int inq = 0;    /* inside "double quotes" */
        int insq = 0;   /* inside 'single quotes' */
        int done = 0;
        size_t start;

        while (i < len && is_space(line[i])) {
            i++;
        }
        if (i >= len) {
            return argc;
        }
        start = out->len;
        while (!done) {
            char c = i < len ? line[i] : '\0';
            int end = i >= len;

            if (inq) {
                if (end) {
                    return -1;
                }
                if (c == '\\' && i + 3 < len && line[i + 1] == 'x' &&
                    is_hex(line[i + 2]) && is_hex(line[i + 3])) {
                    char b = (char)(hex_val(line[i + 2]) * 16 +
                                    hex_val(line[i + 3]));
                    buf_append(out, &b, 1);
                    i += 3;
                } else if (c == '\\' && i + 1 < len) {
                    char b;

                    i++;
                    switch (line[i]) {
                    case 'n': b = '\n'; break;
                    case 'r': b = '\r'; break;
                    case 't': b = '\t'; break;
                    case 'b': b = '\b'; break;
                    case 'a': b = '\a'; break;
                    default: b = line[i]; break;
                    }
                    buf_append(out, &b, 1);
                } else if (c == '"') {
                    /* A closing quote must be followed by a space. */
                    if (i + 1 < len && !is_space(line[i + 1])) {
                        return -1;
                    }
                    done = 1;
                } else {
                    buf_append(out, &c, 1);
                }
            } else if (insq) {
                if (end) {
                    return -1;
                }
                if (c == '\\' && i + 1 < len && line[i + 1] == '\'') {
                    i++;
                    buf_append(out, "'", 1);
                } else if (c == '\'') {
                    if (i + 1 < len && !is_space(line[i + 1])) {
                        return -1;
                    }
                    done = 1;
                } else {
                    buf_append(out, &c, 1);
                }
            } else {
                /* Only these end an unquoted argument: "a\vb" is one. */
                if (end || c == ' ' || c == '\n' || c == '\r' || c == '\t') {
                    done = 1;
                } else if (c == '"') {
                    inq = 1;
                } else if (c == '\'') {
                    insq = 1;
                } else {
                    buf_append(out, &c, 1);
                }
            }
            if (i < len) {
                i++;
            }
        }
        if ((size_t)argc >= *cap) {
            *cap = *cap == 0 ? 8 : *cap * 2;
            *offs = td_realloc(*offs, *cap * sizeof(**offs));
            *lens = td_realloc(*lens, *cap * sizeof(**lens));
        }
        (*offs)[argc] = start;
        (*lens)[argc] = out->len - start;
        argc++;
    }
}

void
resp_scan_init(struct resp_scan *s)
{
    s->pos = 0;
    s->depth = 0;
}

int
resp_scan_reply(struct resp_scan *s, const char *p, size_t n, size_t *len)
{
    for (;;) {
        const char *q = p + s->pos;
        size_t avail = n - s->pos;
        const char *cr;
        long long ll;
        size_t line;

        if (avail < 3) {
            return 0;
        }
        cr = memchr(q, '\r', avail);
        if (cr == NULL || (size_t)(cr - q) + 2 > avail) {
            return 0;
        }
        if (cr[1] != '\n') {
            return -1;
        }
        line = (size_t)(cr - q) + 2;
        switch (q[0]) {
        case '+':
        case '-':
            s->pos += line;
            break;
        case ':':
            if (!td_str2ll(q + 1, line - 3, &ll)) {
                return -1;
            }
            s->pos += line;
            break;
        case '$':
            if (!td_str2ll(q + 1, line - 3, &ll) || ll < -1) {
                return -1;
            }
            if (ll >= 0) {
                if (avail < line + (size_t)ll + 2) {
                    return 0;
                }
                s->pos += (size_t)ll + 2;
            }
            s->pos += line;
            break;
        case '*':
            if (!td_str2ll(q + 1, line - 3, &ll) || ll < -1) {
                return -1;
            }
            s->pos += line;
            if (ll > 0) {
                if (s->depth == RESP_SCAN_MAX_DEPTH) {
                    return -1;
                }
                s->left[s->depth++] = ll;
                continue;
            }
            break;
        default:
            return -1;
        }
        /* One element done: close every aggregate it completes. */
        while (s->depth > 0 && --s->left[s->depth - 1] == 0) {
            s->depth--;
        }
        if (s->depth == 0) {
            *len = s->pos;
            resp_scan_init(s);
            return 1;
        }
    }
}

void
resp_add_simple(struct buf *b, const char *s)
{
    buf_append(b, "+", 1);
    buf_append_str(b, s);
    buf_append(b, "\r\n", 2);
}

void
resp_add_error(struct buf *b, const char *msg)
{
    size_t start;
    size_t i;

    if (msg[0] != '-') {
        buf_append(b, "-ERR ", 5);
    }
    buf_reserve(b, strlen(msg) + 2);
    start = b->len;
    buf_append_str(b, msg);
    for (i = start; i < b->len; i++) {
        char *c = buf_head(b) + i;

        if (*c == '\r' || *c == '\n') {
            *c = ' ';
        }
    }
    buf_append(b, "\r\n", 2);
}

void
resp_add_errorf(struct buf *b, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    resp_add_error(b, msg);
}

static void
add_prefixed(struct buf *b, char type, long long v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%c%lld\r\n", type, v);

    buf_append(b, tmp, (size_t)n);
}

void
resp_add_int(struct buf *b, long long v)
{
    add_prefixed(b, ':', v);
}

void
resp_add_bulk(struct buf *b, const char *p, size_t len)
{
    add_prefixed(b, '$', (long long)len);
    buf_append(b, p, len);
    buf_append(b, "\r\n", 2);
}

void
resp_add_bulk_str(struct buf *b, const char *s)
{
    resp_add_bulk(b, s, strlen(s));
}

void
resp_add_null_bulk(struct buf *b)
{
    buf_append(b, "$-1\r\n", 5);
}

void
resp_add_array(struct buf *b, long long n)
{
    add_prefixed(b, '*', n);
}

void
resp_add_command(struct buf *b, size_t argc, const struct resp_arg *argv)
{
    size_t i;

    resp_add_array(b, (long long)argc);
    for (i = 0; i < argc; i++) {
        resp_add_bulk(b, argv[i].ptr, argv[i].len);
    }
}

struct redisReply *
resp_read_reply(const char *p, size_t len)
{
    redisReader *reader = redisReaderCreate();
    void *obj = NULL;

    if (redisReaderFeed(reader, p, len) != REDIS_OK ||
        redisReaderGetReply(reader, &obj) != REDIS_OK) {
        obj = NULL;
    }
    redisReaderFree(reader);
    return obj;
}

void
resp_walk_init(struct resp_walk *w, const char *p, size_t len, long long db)
{
    resp_parser_init(&w->parser, 1LL << 40);
    w->p = p;
    w->len = len;
    w->off = 0;
    w->db = db;
    w->is_select = 0;
}

int
resp_walk_next(struct resp_walk *w)
{
    struct resp_parser *rp = &w->parser;
    size_t consumed;

    if (w->is_select && rp->argc == 2) {
        td_str2ll(rp->argv[1].ptr, rp->argv[1].len, &w->db);
    }
    w->is_select = 0;
    if (w->off >= w->len) {
        return 0;
    }
    resp_parser_reset(rp);
    if (resp_parse_request(rp, w->p + w->off, w->len - w->off, &consumed) !=
        RESP_COMMAND) {
        return -1;
    }
    w->off += consumed;
    w->is_select = td_slice_eq(rp->argv[0].ptr, rp->argv[0].len, "select");
    return 1;
}

void
resp_walk_free(struct resp_walk *w)
{
    resp_parser_free(&w->parser);
}
