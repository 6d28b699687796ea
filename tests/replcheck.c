/*
 * replcheck.c -- replica consistency checker and fleet helpers for the
 * replication tests; see replcheck.h.
 *
 * Why DUMP alone is not enough: Redis serializes a hash-table encoded set
 * or hash (and 7.0 keeps every set of non-integer members in a hash
 * table) in the order of its buckets, and a bucket is chosen by SipHash
 * with a seed each redis-server process draws at random at start-up. Two
 * servers that received exactly the same commands thus give different
 * DUMP payloads for such keys. When two payloads differ, the key's
 * content is compared by type (the members, fields and values, ordered
 * where Redis does not order them); it counts as a difference only when
 * the contents differ.
 */
#include "replcheck.h"

#include <check.h>
#include <stdarg.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPORTED 5      /* differing keys named in the report */
#define BATCH 256           /* keys per pipelined round trip */

long long
replcheck_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
replcheck_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* ---- small containers --------------------------------------------- */

struct bstr {
    char   *p;
    size_t len;
};

struct bvec {
    struct bstr *v;
    size_t      n;
    size_t      cap;
};

static void
bvec_push(struct bvec *b, const char *p, size_t len)
{
    if (b->n == b->cap) {
        b->cap = b->cap == 0 ? 256 : b->cap * 2;
        b->v = realloc(b->v, b->cap * sizeof(*b->v));
        if (b->v == NULL) {
            abort();
        }
    }
    b->v[b->n].p = malloc(len + 1);
    if (b->v[b->n].p == NULL) {
        abort();
    }
    memcpy(b->v[b->n].p, p, len);
    b->v[b->n].p[len] = '\0';
    b->v[b->n].len = len;
    b->n++;
}

static void
bvec_free(struct bvec *b)
{
    size_t i;

    for (i = 0; i < b->n; i++) {
        free(b->v[i].p);
    }
    free(b->v);
    memset(b, 0, sizeof(*b));
}

static int
bstr_cmp(const struct bstr *a, const struct bstr *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->p, b->p, n);

    if (c != 0) {
        return c;
    }
    return a->len < b->len ? -1 : a->len > b->len;
}

static int
bstr_qsort_cmp(const void *a, const void *b)
{
    return bstr_cmp(a, b);
}

static void
bvec_sort_unique(struct bvec *b)
{
    size_t i;
    size_t out = 0;

    if (b->n == 0) {
        return;
    }
    qsort(b->v, b->n, sizeof(*b->v), bstr_qsort_cmp);
    for (i = 0; i < b->n; i++) {
        if (out > 0 && bstr_cmp(&b->v[out - 1], &b->v[i]) == 0) {
            free(b->v[i].p);
            continue;
        }
        b->v[out++] = b->v[i];
    }
    b->n = out;
}

/* A growable text, for canonical forms of replies. */
struct text {
    char   *p;
    size_t len;
    size_t cap;
};

static void
text_add(struct text *t, const char *p, size_t len)
{
    if (t->len + len + 1 > t->cap) {
        t->cap = (t->len + len + 1) * 2;
        t->p = realloc(t->p, t->cap);
        if (t->p == NULL) {
            abort();
        }
    }
    memcpy(t->p + t->len, p, len);
    t->len += len;
    t->p[t->len] = '\0';
}

static void
text_addf(struct text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
text_addf(struct text *t, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0) {
        text_add(t, tmp, (size_t)n < sizeof(tmp) ? (size_t)n
                                                 : sizeof(tmp) - 1);
    }
}

/* A reply as unambiguous text (length-prefixed strings). */
static void
text_reply(struct text *t, const redisReply *r)
{
    size_t i;

    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        text_addf(t, "$%zu:", r->len);
        text_add(t, r->str, r->len);
        break;
    case REDIS_REPLY_INTEGER:
        text_addf(t, ":%lld", r->integer);
        break;
    case REDIS_REPLY_NIL:
        text_add(t, "_", 1);
        break;
    case REDIS_REPLY_ARRAY:
        text_addf(t, "*%zu", r->elements);
        for (i = 0; i < r->elements; i++) {
            text_reply(t, r->element[i]);
        }
        break;
    default:
        text_addf(t, "?%d", r->type);
        break;
    }
}

/* ---- report ------------------------------------------------------- */

static void
report_add(char *report, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
report_add(char *report, size_t len, const char *fmt, ...)
{
    size_t used;
    va_list ap;

    if (report == NULL || len == 0) {
        return;
    }
    used = strlen(report);
    if (used + 1 >= len) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(report + used, len - used, fmt, ap);
    va_end(ap);
}

/* A key for a message: printable, truncated. */
static const char *
show(const struct bstr *k)
{
    static char out[80];
    size_t i;
    size_t n = 0;

    for (i = 0; i < k->len && n + 5 < sizeof(out); i++) {
        unsigned char ch = (unsigned char)k->p[i];

        if (ch >= 32 && ch < 127) {
            out[n++] = (char)ch;
        } else {
            n += (size_t)snprintf(out + n, sizeof(out) - n, "\\x%02x", ch);
        }
    }
    out[n] = '\0';
    return out;
}

struct cmp_ctx {
    redisContext           *pc;    /* primary */
    redisContext           *rc;    /* replica */
    struct replcheck_stats *st;
    char                   *report;
    size_t                 len;
    int                    db;
    int                    failed; /* a server could not be read */
};

static void
difference(struct cmp_ctx *x, const struct bstr *k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
difference(struct cmp_ctx *x, const struct bstr *k, const char *fmt, ...)
{
    char why[256];
    va_list ap;

    x->st->diffs++;
    if (x->st->diffs > MAX_REPORTED) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    report_add(x->report, x->len, "\n  db%d '%s': %s", x->db, show(k), why);
}

/* ---- reading ------------------------------------------------------ */

static redisContext *
connect_to(int port)
{
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);

    if (c == NULL || c->err != 0) {
        if (c != NULL) {
            redisFree(c);
        }
        return NULL;
    }
    tv.tv_sec = 30;
    redisSetTimeout(c, tv);
    return c;
}

static int
select_db(redisContext *c, int db)
{
    redisReply *r = redisCommand(c, "SELECT %d", db);
    int ok = r != NULL && r->type == REDIS_REPLY_STATUS;

    if (r != NULL) {
        freeReplyObject(r);
    }
    return ok ? 0 : -1;
}

/* Every key of the selected db, sorted, without duplicates. */
static int
scan_keys(redisContext *c, struct bvec *keys)
{
    char cursor[32] = "0";
    int rounds = 0;

    do {
        redisReply *r = redisCommand(c, "SCAN %s COUNT 1000", cursor);
        size_t i;

        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            if (r != NULL) {
                freeReplyObject(r);
            }
            return -1;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (i = 0; i < r->element[1]->elements; i++) {
            const redisReply *k = r->element[1]->element[i];

            bvec_push(keys, k->str, k->len);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0 && ++rounds < 10000000);
    bvec_sort_unique(keys);
    return 0;
}

/* The content of a key in canonical form: the elements, sorted where
 * Redis leaves their order to the hash table. */
static int
content(redisContext *c, const struct bstr *k, const char *type,
        struct bvec *out)
{
    redisReply *r;
    size_t i;
    int sort = 0;
    int pairs = 0;

    if (strcmp(type, "string") == 0) {
        r = redisCommand(c, "GET %b", k->p, k->len);
    } else if (strcmp(type, "list") == 0) {
        r = redisCommand(c, "LRANGE %b 0 -1", k->p, k->len);
    } else if (strcmp(type, "set") == 0) {
        r = redisCommand(c, "SMEMBERS %b", k->p, k->len);
        sort = 1;
    } else if (strcmp(type, "zset") == 0) {
        r = redisCommand(c, "ZRANGE %b 0 -1 WITHSCORES", k->p, k->len);
    } else if (strcmp(type, "hash") == 0) {
        r = redisCommand(c, "HGETALL %b", k->p, k->len);
        sort = 1;
        pairs = 1;
    } else if (strcmp(type, "stream") == 0) {
        r = redisCommand(c, "XRANGE %b - +", k->p, k->len);
    } else {
        return -1;
    }
    if (r == NULL) {
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        struct text t = {NULL, 0, 0};

        text_reply(&t, r);
        bvec_push(out, t.p, t.len);
        free(t.p);
    } else {
        for (i = 0; i < r->elements; i += pairs ? 2 : 1) {
            struct text t = {NULL, 0, 0};

            text_reply(&t, r->element[i]);
            if (pairs && i + 1 < r->elements) {
                text_reply(&t, r->element[i + 1]);
            }
            bvec_push(out, t.p != NULL ? t.p : "", t.len);
            free(t.p);
        }
    }
    freeReplyObject(r);
    if (sort) {
        qsort(out->v, out->n, sizeof(*out->v), bstr_qsort_cmp);
    }
    return 0;
}

static int
get_type(redisContext *c, const struct bstr *k, char *type, size_t len)
{
    redisReply *r = redisCommand(c, "TYPE %b", k->p, k->len);
    int ok = r != NULL && r->type == REDIS_REPLY_STATUS;

    if (ok) {
        snprintf(type, len, "%s", r->str);
    }
    if (r != NULL) {
        freeReplyObject(r);
    }
    return ok ? 0 : -1;
}

/* DUMP payloads differ: compare the contents. */
static void
compare_content(struct cmp_ctx *x, const struct bstr *k)
{
    char pt[32];
    char rt[32];
    struct bvec pv = {NULL, 0, 0};
    struct bvec rv = {NULL, 0, 0};
    size_t i;

    if (get_type(x->pc, k, pt, sizeof(pt)) < 0 ||
        get_type(x->rc, k, rt, sizeof(rt)) < 0) {
        x->failed = 1;
        return;
    }
    if (strcmp(pt, rt) != 0) {
        difference(x, k, "type %s on the primary, %s on the replica", pt, rt);
        return;
    }
    if (content(x->pc, k, pt, &pv) < 0 || content(x->rc, k, rt, &rv) < 0) {
        difference(x, k, "DUMP differs and %s content can't be compared",
                   pt);
    } else if (pv.n != rv.n) {
        difference(x, k, "%s with %zu elements on the primary, %zu on the "
                          "replica", pt, pv.n, rv.n);
    } else {
        for (i = 0; i < pv.n; i++) {
            if (bstr_cmp(&pv.v[i], &rv.v[i]) != 0) {
                difference(x, k, "%s element %zu differs: primary %.60s, "
                                 "replica %.60s", pt, i, pv.v[i].p,
                           rv.v[i].p);
                break;
            }
        }
        if (i == pv.n) {
            x->st->content_equal++;
        }
    }
    bvec_free(&pv);
    bvec_free(&rv);
}

/* DUMP and PEXPIRETIME of n keys on one server, pipelined. */
static int
fetch(redisContext *c, const struct bstr *keys, size_t n,
      redisReply **dumps, redisReply **ttls)
{
    size_t i;
    void *r;

    for (i = 0; i < n; i++) {
        redisAppendCommand(c, "DUMP %b", keys[i].p, keys[i].len);
        redisAppendCommand(c, "PEXPIRETIME %b", keys[i].p, keys[i].len);
    }
    for (i = 0; i < n; i++) {
        if (redisGetReply(c, &r) != REDIS_OK) {
            return -1;
        }
        dumps[i] = r;
        if (redisGetReply(c, &r) != REDIS_OK) {
            return -1;
        }
        ttls[i] = r;
    }
    return 0;
}

static void
compare_batch(struct cmp_ctx *x, const struct bstr *keys, size_t n)
{
    redisReply *pd[BATCH] = {0};
    redisReply *pt[BATCH] = {0};
    redisReply *rd[BATCH] = {0};
    redisReply *rt[BATCH] = {0};
    size_t i;

    if (fetch(x->pc, keys, n, pd, pt) < 0 ||
        fetch(x->rc, keys, n, rd, rt) < 0) {
        x->failed = 1;
        goto out;
    }
    for (i = 0; i < n; i++) {
        const struct bstr *k = &keys[i];
        long long pe;
        long long re;
        long long d;

        x->st->keys++;
        if (pd[i]->type != REDIS_REPLY_STRING ||
            rd[i]->type != REDIS_REPLY_STRING) {
            difference(x, k, "DUMP gave type %d on the primary, %d on the "
                             "replica (key gone?)", pd[i]->type,
                       rd[i]->type);
            continue;
        }
        if (pd[i]->len == rd[i]->len &&
            memcmp(pd[i]->str, rd[i]->str, pd[i]->len) == 0) {
            x->st->dump_equal++;
        } else {
            long before = x->st->diffs;

            compare_content(x, k);
            if (x->st->diffs != before || x->failed) {
                continue;
            }
        }
        if (pt[i]->type != REDIS_REPLY_INTEGER ||
            rt[i]->type != REDIS_REPLY_INTEGER) {
            difference(x, k, "PEXPIRETIME failed");
            continue;
        }
        pe = pt[i]->integer;
        re = rt[i]->integer;
        if (pe >= 0) {
            x->st->with_ttl++;
        }
        if (pe == -1 || re == -1 || pe == -2 || re == -2) {
            if (pe != re) {
                difference(x, k, "PEXPIRETIME %lld on the primary, %lld on "
                                 "the replica", pe, re);
            }
            continue;
        }
        d = pe > re ? pe - re : re - pe;
        if (d > x->st->max_ttl_diff_ms) {
            x->st->max_ttl_diff_ms = d;
        }
        if (d > REPLCHECK_TTL_SLACK_MS) {
            difference(x, k, "expires at %lld on the primary, %lld on the "
                             "replica (%lld ms apart)", pe, re, d);
        }
    }
out:
    for (i = 0; i < n; i++) {
        if (pd[i] != NULL) {
            freeReplyObject(pd[i]);
        }
        if (pt[i] != NULL) {
            freeReplyObject(pt[i]);
        }
        if (rd[i] != NULL) {
            freeReplyObject(rd[i]);
        }
        if (rt[i] != NULL) {
            freeReplyObject(rt[i]);
        }
    }
}

static void
compare_db(struct cmp_ctx *x)
{
    struct bvec pk = {NULL, 0, 0};
    struct bvec rk = {NULL, 0, 0};
    struct bstr batch[BATCH];
    size_t nb = 0;
    size_t i = 0;
    size_t j = 0;

    if (select_db(x->pc, x->db) < 0 || select_db(x->rc, x->db) < 0 ||
        scan_keys(x->pc, &pk) < 0 || scan_keys(x->rc, &rk) < 0) {
        x->failed = 1;
        goto out;
    }
    while (i < pk.n || j < rk.n) {
        int c = i == pk.n ? 1 : j == rk.n ? -1 : bstr_cmp(&pk.v[i], &rk.v[j]);

        if (c < 0) {
            x->st->keys++;
            difference(x, &pk.v[i], "missing on the replica");
            i++;
        } else if (c > 0) {
            x->st->keys++;
            difference(x, &rk.v[j], "only on the replica");
            j++;
        } else {
            batch[nb++] = pk.v[i];
            i++;
            j++;
            if (nb == BATCH) {
                compare_batch(x, batch, nb);
                nb = 0;
            }
        }
        if (x->failed) {
            goto out;
        }
    }
    if (nb > 0) {
        compare_batch(x, batch, nb);
    }
out:
    bvec_free(&pk);
    bvec_free(&rk);
}

int
replcheck_compare_ex(int primary_port, int replica_port,
                     struct replcheck_stats *st, char *report, size_t len)
{
    struct replcheck_stats local;
    struct cmp_ctx x;
    char keys[2048];
    int db;

    if (st == NULL) {
        st = &local;
    }
    memset(st, 0, sizeof(*st));
    if (report != NULL && len > 0) {
        report[0] = '\0';
    }
    memset(&x, 0, sizeof(x));
    x.st = st;
    keys[0] = '\0';
    x.report = keys;
    x.len = sizeof(keys);
    x.pc = connect_to(primary_port);
    x.rc = connect_to(replica_port);
    if (x.pc == NULL || x.rc == NULL) {
        report_add(report, len, "can't connect to %s %d",
                   x.pc == NULL ? "the primary" : "the replica",
                   x.pc == NULL ? primary_port : replica_port);
        if (x.pc != NULL) {
            redisFree(x.pc);
        }
        if (x.rc != NULL) {
            redisFree(x.rc);
        }
        return -1;
    }
    for (db = 0; db < REPLCHECK_DBS && !x.failed; db++) {
        x.db = db;
        compare_db(&x);
    }
    redisFree(x.pc);
    redisFree(x.rc);
    if (x.failed) {
        report_add(report, len, "reading db%d of primary %d / replica %d "
                                "failed", x.db, primary_port, replica_port);
        return -1;
    }
    if (report != NULL && len > 0) {
        snprintf(report, len,
                 "replica %d vs primary %d: %ld keys compared, %ld "
                 "differences (%ld identical DUMP, %ld same content in "
                 "another hash-table order, %ld with expiry, max expiry "
                 "diff %lld ms)%s",
                 replica_port, primary_port, st->keys, st->diffs,
                 st->dump_equal, st->content_equal, st->with_ttl,
                 st->max_ttl_diff_ms, keys);
    }
    return st->diffs > 0x7fffffff ? 0x7fffffff : (int)st->diffs;
}

int
replcheck_compare(int primary_port, int replica_port, char *report,
                  size_t len)
{
    return replcheck_compare_ex(primary_port, replica_port, NULL, report,
                                len);
}

/* ---- tandem's INFO replication ------------------------------------ */

/* The INFO replication text, or NULL (caller frees). */
static char *
info_replication(int tandem_port)
{
    redisContext *c = connect_to(tandem_port);
    redisReply *r;
    char *text = NULL;

    if (c == NULL) {
        return NULL;
    }
    r = redisCommand(c, "INFO replication");
    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        text = strdup(r->str);
    }
    if (r != NULL) {
        freeReplyObject(r);
    }
    redisFree(c);
    return text;
}

int
replcheck_line_field(const char *line, const char *field, char *out,
                     size_t len)
{
    size_t flen = strlen(field);
    const char *p = line;

    while (p != NULL && *p != '\0') {
        if ((p == line || p[-1] == ',' || p[-1] == ':') &&
            strncmp(p, field, flen) == 0 && p[flen] == '=') {
            const char *v = p + flen + 1;
            size_t vlen = strcspn(v, ",\r\n");

            snprintf(out, len, "%.*s", (int)vlen, v);
            return 0;
        }
        p = strpbrk(p, ",:");
        if (p != NULL) {
            p++;
        }
    }
    return -1;
}

/* Calls fn for each "slaveN:" line (copied, without the CRLF). */
static int
for_each_slave(const char *text, int (*fn)(const char *line, void *arg),
               void *arg)
{
    const char *p = text;
    int n = 0;

    while (p != NULL && *p != '\0') {
        size_t l = strcspn(p, "\r\n");

        if (strncmp(p, "slave", 5) == 0 && p[5] >= '0' && p[5] <= '9') {
            char line[1024];

            snprintf(line, sizeof(line), "%.*s", (int)l, p);
            n++;
            if (fn(line, arg) != 0) {
                return -1;
            }
        }
        p += l;
        while (*p == '\r' || *p == '\n') {
            p++;
        }
    }
    return n;
}

struct port_find {
    int    port;
    char   *line;
    size_t len;
    int    found;
};

static int
find_port(const char *line, void *arg)
{
    struct port_find *f = arg;
    char port[16];

    if (replcheck_line_field(line, "port", port, sizeof(port)) == 0 &&
        atoi(port) == f->port) {
        const char *colon = strchr(line, ':');

        snprintf(f->line, f->len, "%s", colon != NULL ? colon + 1 : line);
        f->found = 1;
        return 1;
    }
    return 0;
}

int
replcheck_slave_line(int tandem_port, int replica_port, char *line,
                     size_t len)
{
    char *text = info_replication(tandem_port);
    struct port_find f = {replica_port, line, len, 0};

    if (len > 0) {
        line[0] = '\0';
    }
    if (text == NULL) {
        return -1;
    }
    for_each_slave(text, find_port, &f);
    free(text);
    return f.found ? 0 : -1;
}

static int
line_synced(const char *line)
{
    char state[32];
    char lag[32];

    return replcheck_line_field(line, "state", state, sizeof(state)) == 0 &&
           strcmp(state, "online") == 0 &&
           replcheck_line_field(line, "lag_bytes", lag, sizeof(lag)) == 0 &&
           strcmp(lag, "0") == 0;
}

struct synced_acc {
    int    all;
    char   *report;
    size_t len;
};

static int
acc_synced(const char *line, void *arg)
{
    struct synced_acc *a = arg;

    if (!line_synced(line)) {
        a->all = 0;
    }
    report_add(a->report, a->len, "%s; ", line);
    return 0;
}

int
replcheck_wait_synced(int tandem_port, int timeout_ms, char *report,
                      size_t len)
{
    long long deadline = replcheck_now_ms() + timeout_ms;

    for (;;) {
        char *text = info_replication(tandem_port);
        struct synced_acc a = {1, report, len};
        int n = -1;

        if (report != NULL && len > 0) {
            report[0] = '\0';
        }
        if (text != NULL) {
            n = for_each_slave(text, acc_synced, &a);
            free(text);
        } else {
            report_add(report, len, "INFO replication failed");
        }
        if (n > 0 && a.all) {
            return 0;
        }
        if (replcheck_now_ms() >= deadline) {
            return -1;
        }
        replcheck_sleep_ms(20);
    }
}

int
replcheck_wait_replica_synced(int tandem_port, int replica_port,
                              int timeout_ms, char *report, size_t len)
{
    long long deadline = replcheck_now_ms() + timeout_ms;

    for (;;) {
        if (replcheck_slave_line(tandem_port, replica_port, report, len) ==
                0 &&
            line_synced(report)) {
            return 0;
        }
        if (replcheck_now_ms() >= deadline) {
            return -1;
        }
        replcheck_sleep_ms(20);
    }
}

int
replcheck_wait_slave_state(int tandem_port, int replica_port,
                           const char *state, int timeout_ms, char *line,
                           size_t len)
{
    long long deadline = replcheck_now_ms() + timeout_ms;

    for (;;) {
        char s[32];

        if (replcheck_slave_line(tandem_port, replica_port, line, len) == 0 &&
            replcheck_line_field(line, "state", s, sizeof(s)) == 0 &&
            strcmp(s, state) == 0) {
            return 0;
        }
        if (replcheck_now_ms() >= deadline) {
            return -1;
        }
        replcheck_sleep_ms(20);
    }
}

long long
replcheck_stream_offset(int tandem_port)
{
    char *text = info_replication(tandem_port);
    const char *p;
    long long off = -1;

    if (text == NULL) {
        return -1;
    }
    p = strstr(text, "master_repl_offset:");
    if (p != NULL) {
        off = atoll(p + strlen("master_repl_offset:"));
    }
    free(text);
    return off;
}

/* ---- processes ---------------------------------------------------- */

static int
answers_ping(int port)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    int ok = 0;

    if (c != NULL && c->err == 0) {
        redisReply *r;

        redisSetTimeout(c, tv);
        r = redisCommand(c, "PING");
        ok = r != NULL && r->type == REDIS_REPLY_STATUS &&
             strcmp(r->str, "PONG") == 0;
        if (r != NULL) {
            freeReplyObject(r);
        }
    }
    if (c != NULL) {
        redisFree(c);
    }
    return ok;
}

int
replcheck_restart_redis(struct proc *p, const char *const *extra)
{
    /* replcheck_start_redis_at copies dir before it clears p. */
    return replcheck_start_redis_at(p, p->port, p->dir, extra);
}

int
replcheck_start_redis_at(struct proc *p, int port, const char *dir,
                         const char *const *extra)
{
    char portstr[16];
    char dirbuf[256];
    char *argv[64];
    int attempt;

    snprintf(dirbuf, sizeof(dirbuf), "%s", dir);
    memset(p, 0, sizeof(*p));
    p->port = port;
    snprintf(p->dir, sizeof(p->dir), "%s", dirbuf);
    snprintf(p->log, sizeof(p->log), "%s/out.log", p->dir);
    snprintf(portstr, sizeof(portstr), "%d", port);
    for (attempt = 0; attempt < 10; attempt++) {
        long long deadline = replcheck_now_ms() + 10000;
        int n = 0;
        int i;
        int status;
        pid_t pid;

        argv[n++] = (char *)"redis-server";
        argv[n++] = (char *)"--port";
        argv[n++] = portstr;
        argv[n++] = (char *)"--bind";
        argv[n++] = (char *)"127.0.0.1";
        argv[n++] = (char *)"--save";
        argv[n++] = (char *)"";
        argv[n++] = (char *)"--appendonly";
        argv[n++] = (char *)"no";
        argv[n++] = (char *)"--dir";
        argv[n++] = p->dir;
        argv[n++] = (char *)"--daemonize";
        argv[n++] = (char *)"no";
        for (i = 0; extra != NULL && extra[i] != NULL && n < 62; i++) {
            argv[n++] = (char *)extra[i];
        }
        argv[n] = NULL;
        pid = harness_spawn(p, argv);
        if (pid < 0) {
            return -1;
        }
        p->pid = pid;
        while (replcheck_now_ms() < deadline) {
            if (answers_ping(port)) {
                return 0;
            }
            if (waitpid(pid, &status, WNOHANG) == pid) {
                p->pid = 0;    /* e.g. the port is not free yet */
                break;
            }
            replcheck_sleep_ms(20);
        }
        if (p->pid > 0) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            p->pid = 0;
        }
        replcheck_sleep_ms(200);
    }
    return -1;
}

int
replcheck_count_in_file(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int n = 0;

    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, needle) != NULL) {
            n++;
        }
    }
    fclose(f);
    return n;
}

/* ---- added for the seed suite ------------------------------------- */

int
replcheck_seeded_lines(const char *log, const char *spec,
                       struct replcheck_seeded *last)
{
    FILE *f = fopen(log, "r");
    char needle[160];
    char line[4096];
    int n = 0;

    if (f == NULL) {
        return -1;
    }
    snprintf(needle, sizeof(needle), "Replica %s seeded: ", spec);
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *p = strstr(line, needle);
        struct replcheck_seeded s;

        if (p == NULL) {
            continue;
        }
        memset(&s, 0, sizeof(s));
        if (sscanf(p + strlen(needle),
                   "%lld keys, %lld bytes in %lf s; online at offset %lld",
                   &s.keys, &s.bytes, &s.secs, &s.offset) != 4) {
            continue;
        }
        n++;
        if (last != NULL) {
            *last = s;
        }
    }
    fclose(f);
    return n;
}

int
replcheck_replicas_line(int tandem_port, int replica_port, char *line,
                        size_t len)
{
    redisContext *c = connect_to(tandem_port);
    redisReply *r;
    int found = -1;
    size_t i;

    if (len > 0) {
        line[0] = '\0';
    }
    if (c == NULL) {
        return -1;
    }
    r = redisCommand(c, "TANDEM REPLICAS");
    if (r != NULL && r->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < r->elements && found < 0; i++) {
            const redisReply *e = r->element[i];
            const char *fields;
            char port[16];

            if (e->type != REDIS_REPLY_STRING ||
                (fields = strchr(e->str, ' ')) == NULL) {
                continue;
            }
            fields++;
            if (replcheck_line_field(fields, "port", port, sizeof(port)) ==
                    0 &&
                atoi(port) == replica_port) {
                snprintf(line, len, "%s", fields);
                found = 0;
            }
        }
    }
    if (r != NULL) {
        freeReplyObject(r);
    }
    redisFree(c);
    return found;
}

double
replcheck_line_number(const char *line, const char *field, double dflt)
{
    char v[64];
    char *end;
    double d;

    if (replcheck_line_field(line, field, v, sizeof(v)) != 0) {
        return dflt;
    }
    d = strtod(v, &end);
    return end == v ? dflt : d;
}

void
replcheck_remove_dir(const char *dir)
{
    char cmd[400];

    if (dir == NULL || strncmp(dir, "/tmp/tandem-test-", 17) != 0 ||
        strchr(dir, '\'') != NULL || getenv("TANDEM_KEEP_TEST_DIRS") != NULL) {
        return;
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "replcheck: could not remove %s\n", dir);
    }
}

/* ---- the fleet --------------------------------------------------- */

void
fleet_start_servers(struct fleet *f, int nreplicas,
                    const char *const *replica_extra)
{
    int i;

    ck_assert_msg(nreplicas >= 0 && nreplicas <= FLEET_MAX_REPLICAS,
                  "a fleet has 0 to %d replicas, not %d", FLEET_MAX_REPLICAS,
                  nreplicas);
    memset(f, 0, sizeof(*f));
    ck_assert_int_eq(harness_start_redis(&f->primary, NULL), 0);
    f->nreplicas = nreplicas;
    for (i = 0; i < nreplicas; i++) {
        ck_assert_int_eq(harness_start_redis(&f->replica[i], replica_extra),
                         0);
        snprintf(f->spec[i], sizeof(f->spec[i]), "127.0.0.1:%d",
                 f->replica[i].port);
    }
}

void
fleet_start_tandem(struct fleet *f, const char *const *tandem_extra,
                   int wait_online_ms)
{
    /* "--replica spec" per replica, the extra words, NULL. */
    const char *args[2 * FLEET_MAX_REPLICAS + 32];
    char report[2048];
    int n = 0;
    int i;

    for (i = 0; i < f->nreplicas; i++) {
        args[n++] = "--replica";
        args[n++] = f->spec[i];
    }
    for (i = 0; tandem_extra != NULL && tandem_extra[i] != NULL; i++) {
        ck_assert_msg(n < (int)(sizeof(args) / sizeof(args[0])) - 1,
                      "too many tandem arguments");
        args[n++] = tandem_extra[i];
    }
    args[n] = NULL;
    ck_assert_int_eq(harness_start_tandem(&f->tandem, f->primary.port, args,
                                          1),
                     0);
    if (wait_online_ms > 0 &&
        replcheck_wait_synced(f->tandem.port, wait_online_ms, report,
                              sizeof(report)) != 0) {
        fleet_dump_logs(f);
        ck_abort_msg("replicas not online within %d ms: %s", wait_online_ms,
                     report);
    }
}

void
fleet_start(struct fleet *f, int nreplicas, const char *const *replica_extra,
            const char *const *tandem_extra)
{
    fleet_start_servers(f, nreplicas, replica_extra);
    fleet_start_tandem(f, tandem_extra, FLEET_ONLINE_MS);
}

void
fleet_dump_logs(const struct fleet *f)
{
    int i;

    harness_dump_log(&f->tandem);
    for (i = 0; i < f->nreplicas; i++) {
        harness_dump_log(&f->replica[i]);
    }
}

static void
fleet_continue_replicas(struct fleet *f)
{
    int i;

    for (i = 0; i < f->nreplicas; i++) {
        harness_signal(&f->replica[i], SIGCONT);
    }
}

int
replcheck_stop_tandem(struct proc *tandem)
{
    int status;

    if (tandem->pid <= 0) {
        return 0;
    }
    harness_signal(tandem, SIGTERM);
    status = harness_wait_exit(tandem, 10000);
    /* "Sanitizer" heads ASan's and LSan's reports, "runtime error" each
     * of UBSan's; either fails a build that checks them. */
    if (status != 0 ||
        replcheck_count_in_file(tandem->log, "Sanitizer") > 0 ||
        replcheck_count_in_file(tandem->log, "runtime error") > 0) {
        harness_dump_log(tandem);
        if (status == 0) {
            status = -2;
        }
    }
    /* Kills it when it did not exit; harness_stop removes the directory
     * only of a process it stopped itself. */
    harness_stop(tandem);
    replcheck_remove_dir(tandem->dir);
    return status;
}

int
fleet_stop_tandem(struct fleet *f)
{
    if (f->tandem.pid <= 0) {
        return 0;
    }
    fleet_continue_replicas(f);
    return replcheck_stop_tandem(&f->tandem);
}

void
fleet_stop(struct fleet *f)
{
    int i;

    fleet_continue_replicas(f);
    harness_stop(&f->tandem);
    for (i = 0; i < f->nreplicas; i++) {
        harness_stop(&f->replica[i]);
    }
    harness_stop(&f->primary);
}

void
fleet_teardown(struct fleet *f)
{
    int status = fleet_stop_tandem(f);

    fleet_stop(f);
    ck_assert_msg(status == 0, "tandem did not exit cleanly on SIGTERM "
                  "(status %d, -2: sanitizer report in its log)", status);
}

/* ---- commands that must succeed (they fail the test otherwise) ---- */

redisReply *
cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    ck_assert_msg(r != NULL, "command %s failed: %s", fmt, c->errstr);
    return r;
}

void
cmd_status(redisContext *c, const char *want, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    ck_assert_msg(r != NULL, "%s: %s", fmt, c->errstr);
    ck_assert_msg(r->type == REDIS_REPLY_STATUS && strcmp(r->str, want) == 0,
                  "%s: expected +%s, got type %d \"%s\"", fmt, want, r->type,
                  r->str != NULL ? r->str : "");
    freeReplyObject(r);
}

long long
cmd_int(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;
    long long v;

    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    ck_assert_msg(r != NULL, "%s: %s", fmt, c->errstr);
    ck_assert_msg(r->type == REDIS_REPLY_INTEGER,
                  "%s: expected an integer, got type %d \"%s\"", fmt,
                  r->type, r->str != NULL ? r->str : "");
    v = r->integer;
    freeReplyObject(r);
    return v;
}

void
cmd_str(redisContext *c, char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    ck_assert_msg(r != NULL, "%s: %s", fmt, c->errstr);
    if (r->type == REDIS_REPLY_NIL) {
        snprintf(out, len, "(nil)");
    } else if (r->type == REDIS_REPLY_ERROR) {
        snprintf(out, len, "-%s", r->str);
    } else {
        ck_assert_msg(r->type == REDIS_REPLY_STRING ||
                          r->type == REDIS_REPLY_STATUS,
                      "%s: expected a string, got type %d \"%s\"", fmt,
                      r->type, r->str != NULL ? r->str : "");
        snprintf(out, len, "%.*s", (int)r->len, r->str);
    }
    freeReplyObject(r);
}
