/*
 * fuzz_resp.c -- libFuzzer target for the RESP request parser and the
 * reply scanner (src/resp.c). Built and run by scripts/fuzz.
 *
 * An input is a small header, then the bytes a client (or a backend)
 * sends:
 *
 *   byte 0     flags: bit 0 the client has not authenticated
 *                     bits 1-3 pick proto-max-bulk-len (max_bulks[])
 *                     bit 4 reset the parser before each read
 *   bytes 1-3  split pattern: read k brings 1 + (byte[1 + k % 3] & 63)
 *              bytes, so zeros feed the parser byte by byte
 *   rest       the stream
 *
 * The request parser is driven as src/client.c's process_input() drives
 * it: parse, consume each command, stop at the first protocol error. It
 * runs twice, once on the whole stream and once read by read; each read
 * hands the parser a fresh allocation of exactly the pending bytes, so
 * ASan catches a read past them or a slice kept from an earlier read.
 * Both runs must give the same commands, byte for byte, and the same error.
 *
 * Every call is checked: consumed within what was given (and not 0 for a
 * command, or the client would spin), argv slices inside the request (or,
 * for inline commands, inside the parser's scratch buffer), a multibulk
 * request equal to its re-encoding, the unauthenticated limits and
 * proto-max-bulk-len kept, errors in Redis 7's words and only where Redis
 * would give them, and the parser's memory bounded by the input. Inline
 * lines are compared with ref_split(), which follows Redis 7's
 * processInlineBuffer() and sdssplitargs() on C strings: a NUL byte hides
 * every line end after it (strchr), and only space, tab, CR and LF end an
 * unquoted argument.
 *
 * The reply scanner gets the same stream, whole and read by read; every
 * reply it frames is also given to hiredis's reader (resp_read_reply()).
 *
 * The build shrinks RESP_INLINE_MAX (scripts/fuzz) so that the "too big"
 * errors are reachable with small inputs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "resp.h"
#include "util.h"

#define CHECK(cond)                                                      \
    do {                                                                 \
        if (!(cond)) {                                                   \
            fprintf(stderr, "fuzz_resp: %s:%d: check failed: %s\n",      \
                    __FILE__, __LINE__, #cond);                          \
            abort();                                                     \
        }                                                                \
    } while (0)

#define HEADER 4

static const long long max_bulks[] = {
    512LL * 1024 * 1024, 0, 1, 3, 16, 100, 16384, 1024 * 1024
};

struct opts {
    int           unauth;         /* parser.unauth */
    long long     max_bulk;       /* proto-max-bulk-len */
    int           reset;          /* reset the parser before each read */
    uint8_t       pattern[3];     /* split pattern */
    size_t        total;          /* length of the stream */
};

/* One command (or empty request) as a run saw it. */
struct event {
    enum resp_result kind;        /* RESP_COMMAND or RESP_EMPTY */
    size_t           consumed;    /* request length */
    size_t           argc;        /* arguments */
    size_t           off;         /* its arguments in run.args */
    size_t           len;         /* their serialized length */
};

struct run {
    struct event *ev;             /* commands in order */
    size_t       nev;             /* how many */
    size_t       evcap;           /* room in ev */
    struct buf   args;            /* arguments: length, then bytes */
    int          failed;          /* ended with a protocol error */
    char         error[128];      /* its text */
};

static void
run_init(struct run *r)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->args);
}

static void
run_free(struct run *r)
{
    free(r->ev);
    buf_free(&r->args);
}

static void
run_record(struct run *r, const struct resp_parser *rp,
           enum resp_result kind, size_t consumed)
{
    struct event *e;
    size_t i;

    if (r->nev == r->evcap) {
        r->evcap = r->evcap == 0 ? 16 : r->evcap * 2;
        r->ev = td_realloc(r->ev, r->evcap * sizeof(*r->ev));
    }
    e = &r->ev[r->nev++];
    e->kind = kind;
    e->consumed = consumed;
    e->argc = kind == RESP_COMMAND ? rp->argc : 0;
    e->off = r->args.len;
    for (i = 0; i < e->argc; i++) {
        buf_append(&r->args, &rp->argv[i].len, sizeof(rp->argv[i].len));
        buf_append(&r->args, rp->argv[i].ptr, rp->argv[i].len);
    }
    e->len = r->args.len - e->off;
}

/* Where Redis finds c in p[0..n): strchr() on the query buffer, so a NUL
 * byte hides it. */
static const char *
redis_find(const char *p, size_t n, char c)
{
    const char *at = memchr(p, c, n);

    if (at == NULL || memchr(p, '\0', (size_t)(at - p)) != NULL) {
        return NULL;
    }
    return at;
}

static int
ref_is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' ||
           c == '\f';
}

static int
ref_is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

static int
ref_hex(char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/*
 * Redis 7's sdssplitargs() rules on the NUL-terminated string s: blanks
 * (isspace) are skipped between arguments; an unquoted argument ends at
 * space, LF, CR, tab or the end; a closing quote must be followed by a
 * blank or the end. Appends each argument as (length, bytes) to out, as
 * run_record() does. Returns the count, or -1 for unbalanced quotes.
 */
static long
ref_split(const char *s, struct buf *out)
{
    long argc = 0;

    for (;;) {
        struct buf cur;
        int inq = 0;
        int insq = 0;
        int done = 0;

        while (*s != '\0' && ref_is_space(*s)) {
            s++;
        }
        if (*s == '\0') {
            return argc;
        }
        buf_init(&cur);
        while (!done) {
            char c = *s;

            if (inq) {
                if (c == '\\' && s[1] == 'x' && ref_is_hex(s[2]) &&
                    ref_is_hex(s[3])) {
                    c = (char)(ref_hex(s[2]) * 16 + ref_hex(s[3]));
                    buf_append(&cur, &c, 1);
                    s += 3;
                } else if (c == '\\' && s[1] != '\0') {
                    s++;
                    switch (*s) {
                    case 'n': c = '\n'; break;
                    case 'r': c = '\r'; break;
                    case 't': c = '\t'; break;
                    case 'b': c = '\b'; break;
                    case 'a': c = '\a'; break;
                    default: c = *s; break;
                    }
                    buf_append(&cur, &c, 1);
                } else if (c == '"') {
                    if (s[1] != '\0' && !ref_is_space(s[1])) {
                        buf_free(&cur);
                        return -1;
                    }
                    done = 1;
                } else if (c == '\0') {
                    buf_free(&cur);
                    return -1;
                } else {
                    buf_append(&cur, &c, 1);
                }
            } else if (insq) {
                if (c == '\\' && s[1] == '\'') {
                    s++;
                    buf_append(&cur, "'", 1);
                } else if (c == '\'') {
                    if (s[1] != '\0' && !ref_is_space(s[1])) {
                        buf_free(&cur);
                        return -1;
                    }
                    done = 1;
                } else if (c == '\0') {
                    buf_free(&cur);
                    return -1;
                } else {
                    buf_append(&cur, &c, 1);
                }
            } else {
                switch (c) {
                case ' ':
                case '\n':
                case '\r':
                case '\t':
                case '\0':
                    done = 1;
                    break;
                case '"':
                    inq = 1;
                    break;
                case '\'':
                    insq = 1;
                    break;
                default:
                    buf_append(&cur, &c, 1);
                    break;
                }
            }
            if (*s != '\0') {
                s++;
            }
        }
        buf_append(out, &cur.len, sizeof(cur.len));
        if (cur.len > 0) {
            buf_append(out, buf_head(&cur), cur.len);
        }
        buf_free(&cur);
        argc++;
    }
}

/* The inline line that starts p[0..n), as Redis splits it: returns the
 * count (or -1) and leaves the serialized arguments in out. The line must
 * hold no NUL (Redis would not have seen its end). */
static long
ref_inline(const char *p, size_t n, struct buf *out)
{
    const char *nl = redis_find(p, n, '\n');
    size_t len;
    char *line;
    long argc;

    CHECK(nl != NULL);
    len = (size_t)(nl - p);
    if (len > 0 && p[len - 1] == '\r') {
        len--;
    }
    line = td_malloc(len + 1);
    memcpy(line, p, len);
    line[len] = '\0';
    buf_clear(out);
    argc = ref_split(line, out);
    free(line);
    return argc;
}

static int
is_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Checks a protocol error against where Redis 7 would give it. */
static void
check_error(const struct resp_parser *rp, const struct opts *o,
            const char *p, size_t n)
{
    static const char expected[] = "Protocol error: expected '$', got '";
    const char *e = rp->error;
    const char *q = p + rp->pos;
    size_t avail = n - rp->pos;

    CHECK(e != NULL);
    if (p[0] != '*') {
        if (strcmp(e, "Protocol error: too big inline request") == 0) {
            CHECK(redis_find(p, n, '\n') == NULL && n > RESP_INLINE_MAX);
        } else {
            struct buf ref;

            CHECK(strcmp(e, "Protocol error: unbalanced quotes in request") ==
                  0);
            buf_init(&ref);
            CHECK(ref_inline(p, n, &ref) == -1);
            buf_free(&ref);
        }
        return;
    }
    CHECK(rp->pos <= n);
    if (strcmp(e, "Protocol error: too big mbulk count string") == 0) {
        CHECK(rp->multibulk == 0);
        CHECK(redis_find(p, n, '\r') == NULL && n > RESP_INLINE_MAX);
    } else if (strcmp(e, "Protocol error: invalid multibulk length") == 0 ||
               strcmp(e, "Protocol error: unauthenticated multibulk length") ==
                   0) {
        CHECK(rp->multibulk == 0);
        CHECK(redis_find(p, n, '\r') != NULL);
        CHECK(e[16] == 'i' || o->unauth);
    } else if (strcmp(e, "Protocol error: too big bulk count string") == 0) {
        CHECK(rp->multibulk > 0 && rp->bulk == -1);
        CHECK(redis_find(q, avail, '\r') == NULL && avail > RESP_INLINE_MAX);
    } else if (strcmp(e, "Protocol error: invalid bulk length") == 0 ||
               strcmp(e, "Protocol error: unauthenticated bulk length") ==
                   0) {
        CHECK(rp->multibulk > 0 && rp->bulk == -1);
        CHECK(q[0] == '$' && redis_find(q, avail, '\r') != NULL);
        CHECK(e[16] == 'i' || o->unauth);
    } else {
        CHECK(is_prefix(e, expected));
        CHECK(rp->multibulk > 0 && rp->bulk == -1);
        CHECK(redis_find(q, avail, '\r') != NULL);
        CHECK(q[0] != '$' && e[sizeof(expected) - 1] == q[0]);
        CHECK(strlen(e) == sizeof(expected) + 1);
        CHECK(e[sizeof(expected)] == '\'');
    }
}

/* Checks a multibulk command against its raw request p[0..consumed):
 * re-encoded, it has the same length and the same bytes except where
 * Redis does not look (the byte after each '\r', the two after a bulk). */
static void
check_multibulk(const struct resp_parser *rp, const struct opts *o,
                const char *p, size_t consumed)
{
    struct buf enc;
    size_t i;

    CHECK(rp->argc >= 1);
    if (o->unauth) {
        CHECK(rp->argc <= RESP_UNAUTH_MAX_ARGS);
    }
    for (i = 0; i < rp->argc; i++) {
        const struct resp_arg *a = &rp->argv[i];

        CHECK(a->ptr >= p && a->ptr + a->len + 2 <= p + consumed);
        CHECK((long long)a->len <= o->max_bulk);
        if (o->unauth) {
            CHECK(a->len <= RESP_UNAUTH_MAX_BULK);
        }
    }
    buf_init(&enc);
    resp_add_command(&enc, rp->argc, rp->argv);
    CHECK(enc.len == consumed);
    /* Arguments are the raw bytes themselves, so wherever the encoding
     * has a type byte or a digit, the request has it too. */
    for (i = 0; i < consumed; i++) {
        char c = buf_head(&enc)[i];

        if (c == '*' || c == '$' || (c >= '0' && c <= '9')) {
            CHECK(p[i] == c);
        }
    }
    buf_free(&enc);
}

/* One call to resp_parse_request() on p[0..n), checked. */
static enum resp_result
parse_checked(struct resp_parser *rp, const struct opts *o, const char *p,
              size_t n, size_t *consumed)
{
    enum resp_result rc;
    size_t i;

    rp->unauth = o->unauth;
    rc = resp_parse_request(rp, p, n, consumed);
    CHECK(*consumed <= n);
    /* Memory follows the input, not what it announces. */
    CHECK(rp->argcap <= 2 * (1024 + o->total));
    CHECK(rp->scratch.cap <= 2 * o->total + 256);
    switch (rc) {
    case RESP_NEED_MORE:
        CHECK(*consumed == 0);
        CHECK(rp->want == 0 || rp->want > n);
        if (p[0] != '*') {
            CHECK(redis_find(p, n, '\n') == NULL && n <= RESP_INLINE_MAX);
        }
        break;
    case RESP_PROTO_ERROR:
        check_error(rp, o, p, n);
        break;
    case RESP_EMPTY:
    case RESP_COMMAND:
        CHECK(*consumed > 0);
        CHECK(rc == RESP_COMMAND ? rp->argc > 0 : rp->argc == 0);
        if (p[0] == '*') {
            if (rc == RESP_COMMAND) {
                check_multibulk(rp, o, p, *consumed);
            } else {
                const char *cr = redis_find(p, n, '\r');

                CHECK(cr != NULL && *consumed == (size_t)(cr - p) + 2);
            }
        } else {
            const char *nl = redis_find(p, n, '\n');
            struct buf ref;
            struct buf got;

            CHECK(nl != NULL && *consumed == (size_t)(nl - p) + 1);
            for (i = 0; i < rp->argc; i++) {
                const struct resp_arg *a = &rp->argv[i];

                CHECK(a->ptr >= buf_head(&rp->scratch));
                CHECK(a->ptr + a->len <=
                      buf_head(&rp->scratch) + rp->scratch.len);
            }
            buf_init(&ref);
            buf_init(&got);
            CHECK(ref_inline(p, n, &ref) == (long)rp->argc);
            for (i = 0; i < rp->argc; i++) {
                buf_append(&got, &rp->argv[i].len, sizeof(rp->argv[i].len));
                buf_append(&got, rp->argv[i].ptr, rp->argv[i].len);
            }
            CHECK(got.len == ref.len);
            CHECK(got.len == 0 ||
                  memcmp(buf_head(&got), buf_head(&ref), got.len) == 0);
            buf_free(&ref);
            buf_free(&got);
        }
        break;
    default:
        CHECK(!"unknown result");
    }
    return rc;
}

/* Parses s[0..n) as client input, whole (split == 0) or read by read. */
static void
run_parser(const struct opts *o, const char *s, size_t n, int split,
           struct run *r)
{
    struct resp_parser rp;
    size_t have = 0;
    size_t start = 0;
    size_t reads = 0;
    size_t want = 0;

    resp_parser_init(&rp, o->max_bulk);
    while (have < n) {
        size_t chunk = split ? 1 + (o->pattern[reads % 3] & 63) : n;
        size_t off = 0;
        char *p;

        reads++;
        have = TD_MIN(n, have + chunk);
        p = td_malloc(have - start);
        memcpy(p, s + start, have - start);
        if (split && o->reset) {
            resp_parser_reset(&rp);
        }
        while (start < have) {
            size_t consumed;
            enum resp_result rc;

            rc = parse_checked(&rp, o, p + off, have - start, &consumed);
            if (rc == RESP_NEED_MORE) {
                if (rp.want != 0) {
                    want = rp.want;
                }
                break;
            }
            if (rc == RESP_PROTO_ERROR) {
                r->failed = 1;
                snprintf(r->error, sizeof(r->error), "%s", rp.error);
                free(p);
                resp_parser_free(&rp);
                return;
            }
            /* A request never ends before the length it announced. */
            CHECK(want == 0 || consumed >= want);
            want = 0;
            run_record(r, &rp, rc, consumed);
            off += consumed;
            start += consumed;
        }
        free(p);
    }
    resp_parser_free(&rp);
}

static int
is_too_big(const char *e)
{
    return strstr(e, "too big") != NULL;
}

static void
fuzz_parser(const struct opts *o, const char *s, size_t n)
{
    struct run whole;
    struct run split;
    size_t i;

    run_init(&whole);
    run_init(&split);
    run_parser(o, s, n, 0, &whole);
    run_parser(o, s, n, 1, &split);

    /* Read by read, a long line can be refused before its end arrives
     * (as in Redis); otherwise both runs agree. */
    if (split.failed && is_too_big(split.error)) {
        CHECK(split.nev <= whole.nev);
    } else {
        CHECK(split.nev == whole.nev);
        CHECK(split.failed == whole.failed);
        CHECK(!whole.failed || strcmp(split.error, whole.error) == 0);
    }
    for (i = 0; i < split.nev; i++) {
        const struct event *a = &whole.ev[i];
        const struct event *b = &split.ev[i];

        CHECK(a->kind == b->kind && a->consumed == b->consumed);
        CHECK(a->argc == b->argc && a->len == b->len);
        CHECK(a->len == 0 || memcmp(buf_head(&whole.args) + a->off,
                                    buf_head(&split.args) + b->off,
                                    a->len) == 0);
    }
    run_free(&whole);
    run_free(&split);
}

/* Frames s[0..n) as backend replies, whole or read by read. Returns the
 * number of replies (their lengths in lens), negated minus one when the
 * scan ended on a malformed reply. */
static long
run_scanner(const struct opts *o, const char *s, size_t n, int split,
            size_t *lens)
{
    struct resp_scan sc;
    size_t have = 0;
    size_t start = 0;
    size_t reads = 0;
    long count = 0;

    resp_scan_init(&sc);
    while (have < n) {
        size_t chunk = split ? 1 + (o->pattern[reads % 3] & 63) : n;
        size_t off = 0;
        char *p;

        reads++;
        have = TD_MIN(n, have + chunk);
        p = td_malloc(have - start);
        memcpy(p, s + start, have - start);
        while (start < have) {
            size_t len = 0;
            int rc = resp_scan_reply(&sc, p + off, have - start, &len);

            CHECK(rc >= -1 && rc <= 1);
            CHECK(sc.pos <= have - start);
            CHECK(sc.depth >= 0 && sc.depth <= RESP_SCAN_MAX_DEPTH);
            if (rc == 0) {
                break;
            }
            if (rc < 0) {
                free(p);
                return -count - 1;
            }
            CHECK(len >= 3 && len <= have - start);
            CHECK(sc.pos == 0 && sc.depth == 0);
            if (!split) {
                struct redisReply *reply = resp_read_reply(p + off, len);

                if (reply != NULL) {
                    freeReplyObject(reply);
                }
            }
            lens[count++] = len;
            off += len;
            start += len;
        }
        free(p);
    }
    return count;
}

static void
fuzz_scanner(const struct opts *o, const char *s, size_t n)
{
    size_t *whole = td_malloc((n / 3 + 1) * sizeof(*whole));
    size_t *split = td_malloc((n / 3 + 1) * sizeof(*split));
    long a = run_scanner(o, s, n, 0, whole);
    long b = run_scanner(o, s, n, 1, split);
    long i;

    CHECK(a == b);
    for (i = 0; i < (a < 0 ? -a - 1 : a); i++) {
        CHECK(whole[i] == split[i]);
    }
    free(whole);
    free(split);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct opts o;
    const char *s;
    size_t n;

    if (size < HEADER + 1) {
        return 0;
    }
    o.unauth = data[0] & 1;
    o.max_bulk = max_bulks[(data[0] >> 1) & 7];
    o.reset = (data[0] >> 4) & 1;
    memcpy(o.pattern, data + 1, sizeof(o.pattern));
    s = (const char *)data + HEADER;
    n = size - HEADER;
    o.total = n;
    fuzz_parser(&o, s, n);
    fuzz_scanner(&o, s, n);
    return 0;
}
