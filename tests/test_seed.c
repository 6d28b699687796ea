/*
 * test_seed.c -- integration: seeding a replica with DUMP/RESTORE while
 * clients keep writing (DESIGN I8, I9).
 *
 * Each test preloads the primary directly (pipelined hiredis, before
 * tandem starts), so that tandem finds a non-empty primary and seeds its
 * replicas, then drives tandem with hiredis while the seed runs: a writer
 * thread with its own connection hammers the keyspace through tandem
 * (INCR, also inside MULTI/EXEC and through EVAL, on counters whose exact
 * values it keeps; SET, APPEND, RENAME, SUNIONSTORE, DEL, EXPIRE, LPUSH,
 * RPOP, HSET, ZADD, XADD, SADD, SPOP, INCRBYFLOAT; transactions that
 * SELECT another db; FLUSHDB on request). Every test ends with WAIT
 * through tandem and a key-by-key comparison of every replica with the
 * primary (replcheck.c): zero differences.
 *
 *   under_writes        200,000 keys of every type in dbs 0, 1, 5 (and 14),
 *                       with and without TTLs, one empty replica, writer
 *                       and a FLUSHDB of db 5 mid-seed; counters exact
 *   restart_after_kill  replica SIGKILLed mid-seed, back empty on its port
 *   two_replicas        two empty replicas seeded together
 *   resync              TANDEM RESYNC host:port; unknown replica: error
 *   rate_limit          seed-max-keys-per-sec 5000, 20,000 keys: >= 3 s
 *   swapdb, move_copy   SWAPDB, MOVE, COPY ... DB, SORT ... STORE restart it
 *   foreign_data        foreign keys, foreign or no stamp: all replaced
 *   stalled_replica     replica SIGSTOPped mid-seed: never reported online
 *                       meanwhile, tandem's memory does not follow the data
 *   functions           libraries replaced as on a Redis full sync
 *
 * Processes are stopped by PID only (harness_stop, harness_signal); the
 * teardown sends SIGCONT first. 127.0.0.1 only. Every wait is bounded.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "replcheck.h"

#define MAX_OLD_DIRS 4

/* Under AddressSanitizer, RSS says little about tandem's own memory. */
#if defined(__SANITIZE_ADDRESS__)
#define TD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TD_ASAN 1
#endif
#endif

#ifdef TD_ASAN
#define RSS_BOUND (4096LL * 1024 * 1024)
#else
#define RSS_BOUND (256LL * 1024 * 1024)
#endif

static struct fleet F;

/* What a test holds besides its fleet. */
static struct {
    char      old_dir[MAX_OLD_DIRS][256]; /* dirs of killed replicas */
    int       nold;
    long long t0;                         /* when the test started */
} Test;

/* ---- fleet -------------------------------------------------------- */

static void
setup(void)
{
    memset(&Test, 0, sizeof(Test));
    Test.t0 = replcheck_now_ms();
}

/* Stops the fleet; how tandem exits is not checked here (the other
 * replication suites check it with fleet_teardown). */
static void
teardown(void)
{
    int i;

    fleet_stop(&F);
    for (i = 0; i < Test.nold; i++) {
        replcheck_remove_dir(Test.old_dir[i]);
    }
    printf("  (test took %.1f s)\n",
           (double)(replcheck_now_ms() - Test.t0) / 1000.0);
}

/* Kills replica i with SIGKILL, reaps it, and restarts an empty
 * redis-server on the same port (in a new directory). */
static void
kill_and_restart_empty(int i)
{
    int port = F.replica[i].port;

    harness_signal(&F.replica[i], SIGKILL);
    ck_assert_int_eq(harness_wait_exit(&F.replica[i], 5000), 128 + SIGKILL);
    if (Test.nold < MAX_OLD_DIRS) {
        snprintf(Test.old_dir[Test.nold++], sizeof(Test.old_dir[0]), "%s",
                 F.replica[i].dir);
    }
    ck_assert_msg(harness_start_redis_on_port(&F.replica[i], port, NULL) ==
                      0,
                  "can't restart replica %d on port %d", i, port);
}

/* ---- commands ----------------------------------------------------- */





static long long
wall_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Keys of every database but tandem's meta-db (15), from INFO keyspace. */
static long long
total_keys(int port)
{
    redisContext *c = harness_connect(port);
    redisReply *r = cmd(c, "INFO keyspace");
    long long total = 0;
    const char *p = r->str;

    while ((p = strstr(p, "\ndb")) != NULL) {
        int db = atoi(p + 3);
        const char *k = strstr(p, "keys=");

        if (k != NULL && db != 15) {
            total += atoll(k + 5);
        }
        p++;
    }
    freeReplyObject(r);
    redisFree(c);
    return total;
}

/* ---- the dataset -------------------------------------------------- */

enum { T_STR, T_LIST, T_HASH, T_SET, T_ZSET, T_STREAM, NTYPES };

static const char *const tname[NTYPES] = {"str", "list", "hash", "set",
                                          "zset", "stream"};

#define NCTR 32          /* counters ctr:0..31 in each counter database */
#define LOAD_WINDOW 2000 /* pipelined commands per round trip */

struct loader {
    redisContext *c;
    long         pending;
    long         commands;
    long         errors;
    char         first_error[256];
};

static void
load_drain(struct loader *l)
{
    while (l->pending > 0) {
        redisReply *r = NULL;

        ck_assert_msg(redisGetReply(l->c, (void **)&r) == REDIS_OK,
                      "preload: %s", l->c->errstr);
        if (r->type == REDIS_REPLY_ERROR && l->errors++ == 0) {
            snprintf(l->first_error, sizeof(l->first_error), "%s", r->str);
        }
        freeReplyObject(r);
        l->pending--;
    }
}

static void
load_cmd(struct loader *l, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ck_assert_int_eq(redisvAppendCommand(l->c, fmt, ap), REDIS_OK);
    va_end(ap);
    l->commands++;
    if (++l->pending >= LOAD_WINDOW) {
        load_drain(l);
    }
}

static void
load_begin(struct loader *l, int port)
{
    memset(l, 0, sizeof(*l));
    l->c = harness_connect(port);
}

static void
load_end(struct loader *l)
{
    load_drain(l);
    ck_assert_msg(l->errors == 0, "preload: %ld error replies, first: %s",
                  l->errors, l->first_error);
    redisFree(l->c);
    l->c = NULL;
}

/* A value of 16..140 bytes that says where it was written. */
static const char *
value_for(int db, int t, long idx, int *len)
{
    static char v[192];
    int n = snprintf(v, sizeof(v), "db%d-%s-%ld-", db, tname[t], idx);
    int want = 16 + (int)(idx * 7 % 125);

    while (n < want) {
        v[n] = (char)('a' + (idx + n) % 26);
        n++;
    }
    v[n] = '\0';
    *len = n;
    return v;
}

/*
 * nkeys keys in db: as many of each type (strings take the rest). Every
 * third key has an expiry an hour or two away; a few keys per type are
 * big (hash-table or skiplist encoded, hundreds of elements); a quarter
 * of the sets hold strings (hash-table sets), the rest integers; a tenth
 * of the streams have a consumer group.
 */
static void
load_db(struct loader *l, int db, long nkeys)
{
    long per = nkeys / NTYPES;
    int t;

    load_cmd(l, "SELECT %d", db);
    for (t = 0; t < NTYPES; t++) {
        long n = t == T_STR ? nkeys - per * (NTYPES - 1) : per;
        long idx;

        for (idx = 0; idx < n; idx++) {
            int big = idx % 5000 == 7;
            int len;
            const char *v = value_for(db, t, idx, &len);
            int j;

            switch (t) {
            case T_STR:
                load_cmd(l, "SET str:%ld %b", idx, v, (size_t)len);
                break;
            case T_LIST:
                load_cmd(l, "RPUSH list:%ld a%ld b c %b e", idx, idx, v,
                         (size_t)len);
                for (j = 0; big && j < 600; j++) {
                    load_cmd(l, "RPUSH list:%ld big-%d-%b", idx, j, v,
                             (size_t)len);
                }
                break;
            case T_HASH:
                load_cmd(l, "HSET hash:%ld f0 %ld f1 %b f2 x f3 y", idx, idx,
                         v, (size_t)len);
                for (j = 0; big && j < 600; j++) {
                    load_cmd(l, "HSET hash:%ld bf%d %d", idx, j, j);
                }
                break;
            case T_SET:
                if (idx % 4 == 0) {
                    load_cmd(l, "SADD set:%ld m%ld alpha beta %ld", idx, idx,
                             idx % 17);
                } else {
                    load_cmd(l, "SADD set:%ld %ld 1 2 3", idx, idx + 100);
                }
                for (j = 0; big && j < 600; j++) {
                    load_cmd(l, "SADD set:%ld %d", idx, 1000 + j);
                }
                break;
            case T_ZSET:
                load_cmd(l, "ZADD zset:%ld 1 a 2.5 b %ld m%ld", idx, idx,
                         idx);
                for (j = 0; big && j < 300; j++) {
                    load_cmd(l, "ZADD zset:%ld %d z%d", idx, j, j);
                }
                break;
            default:
                load_cmd(l, "XADD stream:%ld 1-1 f %b", idx, v, (size_t)len);
                load_cmd(l, "XADD stream:%ld 2-%ld g h", idx, idx + 1);
                if (idx % 10 == 0) {
                    load_cmd(l, "XGROUP CREATE stream:%ld grp 0", idx);
                }
                break;
            }
            if (idx % 3 == 1) {
                load_cmd(l, "EXPIRE %s:%ld %ld", tname[t], idx,
                         3600 + idx % 3600);
            }
        }
    }
}

/* Counters ctr:0..NCTR-1 = 1000 + k in db. */
static void
load_counters(struct loader *l, int db)
{
    int k;

    load_cmd(l, "SELECT %d", db);
    for (k = 0; k < NCTR; k++) {
        load_cmd(l, "SET ctr:%d %d", k, 1000 + k);
    }
}

/* n keys ttl:<i> in db that expire 1.5 to 4.5 s from now (absolute
 * times); returns the last expiry (ms since the epoch). The writers never
 * touch them. */
static long long
load_short_ttl(struct loader *l, int db, int n)
{
    long long base = wall_ms();
    long long last = 0;
    int i;

    load_cmd(l, "SELECT %d", db);
    for (i = 0; i < n; i++) {
        long long at = base + 1500 + (i * 37) % 3000;

        load_cmd(l, "SET ttl:%d short PXAT %lld", i, at);
        if (at > last) {
            last = at;
        }
    }
    return last;
}

/* ---- the writer --------------------------------------------------- */

#define WRITER_CHUNK 32

enum { K_ANY, K_OK, K_QUEUED, K_INCR, K_EXEC, K_RENAME };

struct writer {
    pthread_t    thread;
    int          running;
    int          port;
    int          ndbs;
    int          dbs[4];
    long         range[4];      /* keys per type in each db */
    int          ctr_db[2];     /* databases holding the counters */
    int          flush_db;      /* FLUSHDB on request (-1: never) */
    atomic_int   stop;
    atomic_int   flush_req;     /* FLUSHDBs asked for */
    atomic_int   flush_done;    /* FLUSHDBs that replied +OK */
    atomic_long  ops;
    long long    ctr[2][NCTR];  /* what each counter must hold */
    long         missing;       /* RENAME of a key that was not there */
    long         transactions;
    long         errors;
    char         first_error[256];
    char         fatal[256];
    redisContext *c;            /* kept open: WAIT after the join */
    unsigned int seed;
    int          cur_db;
};

struct expect {
    int kind;
    int ci;     /* counter db index */
    int k;      /* counter */
};

static void
writer_fail(struct writer *w, const char *fmt, ...)
{
    va_list ap;

    if (w->fatal[0] != '\0') {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(w->fatal, sizeof(w->fatal), fmt, ap);
    va_end(ap);
}

/* Appends SELECT db when the connection is elsewhere. */
static int
writer_select(struct writer *w, int db, struct expect *e, int n)
{
    if (db == w->cur_db) {
        return n;
    }
    redisAppendCommand(w->c, "SELECT %d", db);
    e[n].kind = K_OK;
    w->cur_db = db;
    return n + 1;
}

/* Appends one random write (and the SELECT it needs). */
static int
writer_op(struct writer *w, struct expect *e, int n)
{
    unsigned int *s = &w->seed;
    int op = (int)(rand_r(s) % 100);
    int di = (int)(rand_r(s) % (unsigned int)w->ndbs);
    int db = w->dbs[di];
    long range = w->range[di] + w->range[di] / 20 + 1;
    long i1 = (long)(rand_r(s) % (unsigned long)range);
    long i2 = (long)(rand_r(s) % (unsigned long)range);
    long i3 = (long)(rand_r(s) % (unsigned long)range);
    int m = (int)(rand_r(s) % 50);
    const char *t = tname[rand_r(s) % NTYPES];
    int ci = (int)(rand_r(s) % 2);
    int k = (int)(rand_r(s) % NCTR);

    if (op < 20 || (op >= 92 && op < 95)) {
        /* INCR, or the same through a script (script-replication
         * effects: the stream gets a key transfer). */
        n = writer_select(w, w->ctr_db[ci], e, n);
        if (op < 20) {
            redisAppendCommand(w->c, "INCR ctr:%d", k);
        } else {
            redisAppendCommand(w->c, "EVAL %s 1 ctr:%d",
                               "return redis.call('INCR', KEYS[1])", k);
        }
        e[n].kind = K_INCR;
        e[n].ci = ci;
        e[n].k = k;
        return n + 1;
    }
    if (op >= 88 && op < 92) {
        /* A transaction that changes database half way: the counter in
         * its db, then two writes in db; the client stays in db. */
        n = writer_select(w, w->ctr_db[ci], e, n);
        redisAppendCommand(w->c, "MULTI");
        e[n++].kind = K_OK;
        redisAppendCommand(w->c, "INCR ctr:%d", k);
        e[n++].kind = K_QUEUED;
        redisAppendCommand(w->c, "SELECT %d", db);
        e[n++].kind = K_QUEUED;
        redisAppendCommand(w->c, "SET str:%ld tx%d", i1, m);
        e[n++].kind = K_QUEUED;
        redisAppendCommand(w->c, "HSET hash:%ld tx %d", i2, m);
        e[n++].kind = K_QUEUED;
        redisAppendCommand(w->c, "EXEC");
        e[n].kind = K_EXEC;
        e[n].ci = ci;
        e[n].k = k;
        w->cur_db = db;
        return n + 1;
    }
    n = writer_select(w, db, e, n);
    e[n].kind = K_ANY;
    if (op < 28) {
        if (m % 5 == 0) {
            redisAppendCommand(w->c, "SET str:%ld w%d-%ld EX %d", i1, m, i2,
                               1000 + m);
        } else {
            redisAppendCommand(w->c, "SET str:%ld w%d-%ld", i1, m, i2);
        }
    } else if (op < 33) {
        redisAppendCommand(w->c, "APPEND str:%ld +%d", i1, m);
    } else if (op < 37) {
        static const char *const same[] = {"str", "hash", "zset", "list"};
        const char *rt = same[m % 4];

        redisAppendCommand(w->c, "RENAME %s:%ld %s:%ld", rt, i1, rt, i2);
        e[n].kind = K_RENAME;
    } else if (op < 41) {
        redisAppendCommand(w->c, "SUNIONSTORE set:%ld set:%ld set:%ld", i1,
                           i2, i3);
    } else if (op < 45) {
        redisAppendCommand(w->c, "DEL %s:%ld", t, i1);
    } else if (op < 51) {
        redisAppendCommand(w->c, "EXPIRE %s:%ld %d", t, i1,
                           1000 + (int)(rand_r(s) % 5000));
    } else if (op < 57) {
        redisAppendCommand(w->c, "LPUSH list:%ld l%d", i1, m);
    } else if (op < 61) {
        redisAppendCommand(w->c, "RPOP list:%ld", i1);
    } else if (op < 67) {
        redisAppendCommand(w->c, "HSET hash:%ld f%d v%ld", i1, m, i2);
    } else if (op < 73) {
        redisAppendCommand(w->c, "ZADD zset:%ld %d m%d", i1, m * 3, m);
    } else if (op < 76) {
        redisAppendCommand(w->c, "XADD stream:%ld * w %d", i1, m);
    } else if (op < 80) {
        redisAppendCommand(w->c, "SADD set:%ld s%d", i1, m);
    } else if (op < 82) {
        redisAppendCommand(w->c, "SPOP set:%ld", i1);
    } else if (op < 84) {
        redisAppendCommand(w->c, "INCRBYFLOAT flt:%ld 0.%d", i1, m + 1);
    } else {
        redisAppendCommand(w->c, "SET new:%ld n%d", i1, m);
    }
    return n + 1;
}

static void
writer_count(struct writer *w, int ci, int k, const redisReply *r)
{
    w->ctr[ci][k]++;
    if (r->type != REDIS_REPLY_INTEGER || r->integer != w->ctr[ci][k]) {
        writer_fail(w, "INCR ctr:%d in db %d: expected %lld, got type %d "
                    "(%lld, \"%s\")", k, w->ctr_db[ci], w->ctr[ci][k],
                    r->type, r->integer, r->str != NULL ? r->str : "");
    }
}

static void
writer_error(struct writer *w, const redisReply *r)
{
    if (r->type == REDIS_REPLY_ERROR && w->errors++ == 0) {
        snprintf(w->first_error, sizeof(w->first_error), "%s", r->str);
    }
}

static void
writer_check(struct writer *w, const struct expect *e, const redisReply *r)
{
    size_t i;

    switch (e->kind) {
    case K_OK:
    case K_QUEUED:
        if (r->type != REDIS_REPLY_STATUS ||
            strcmp(r->str, e->kind == K_OK ? "OK" : "QUEUED") != 0) {
            writer_fail(w, "expected +%s, got type %d \"%s\"",
                        e->kind == K_OK ? "OK" : "QUEUED", r->type,
                        r->str != NULL ? r->str : "");
        }
        return;
    case K_INCR:
        writer_count(w, e->ci, e->k, r);
        return;
    case K_EXEC:
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 4) {
            writer_fail(w, "EXEC: type %d, %zu elements \"%s\"", r->type,
                        r->elements, r->str != NULL ? r->str : "");
            return;
        }
        writer_count(w, e->ci, e->k, r->element[0]);
        for (i = 1; i < 4; i++) {
            writer_error(w, r->element[i]);
        }
        w->transactions++;
        return;
    case K_RENAME:
        if (r->type == REDIS_REPLY_ERROR &&
            strcmp(r->str, "ERR no such key") == 0) {
            w->missing++;
            return;
        }
        break;
    default:
        break;
    }
    writer_error(w, r);
}

static void *
writer_main(void *arg)
{
    struct writer *w = arg;
    struct expect e[WRITER_CHUNK * 7 + 4];

    while (!atomic_load(&w->stop) && w->fatal[0] == '\0') {
        int n = 0;
        int flushing = 0;
        int i;

        if (w->flush_db >= 0 &&
            atomic_load(&w->flush_req) > atomic_load(&w->flush_done)) {
            n = writer_select(w, w->flush_db, e, n);
            redisAppendCommand(w->c, "FLUSHDB");
            e[n++].kind = K_OK;
            flushing = 1;
        }
        for (i = 0; i < WRITER_CHUNK; i++) {
            n = writer_op(w, e, n);
        }
        for (i = 0; i < n; i++) {
            redisReply *r = NULL;

            if (redisGetReply(w->c, (void **)&r) != REDIS_OK) {
                writer_fail(w, "connection to tandem: %s", w->c->errstr);
                return NULL;
            }
            writer_check(w, &e[i], r);
            freeReplyObject(r);
        }
        if (flushing && w->fatal[0] == '\0') {
            atomic_fetch_add(&w->flush_done, 1);
        }
        atomic_fetch_add(&w->ops, n);
    }
    return NULL;
}

/* A writer over dbs (with range keys per type each), counters in
 * ctr_db0/ctr_db1 (preloaded by load_counters), FLUSHDB of flush_db on
 * request. */
static void
writer_start(struct writer *w, int ndbs, const int *dbs, const long *range,
             int ctr_db0, int ctr_db1, int flush_db)
{
    struct timeval tv = {30, 0};
    int i;
    int k;

    memset(w, 0, sizeof(*w));
    w->port = F.tandem.port;
    w->ndbs = ndbs;
    for (i = 0; i < ndbs; i++) {
        w->dbs[i] = dbs[i];
        w->range[i] = range[i];
    }
    w->ctr_db[0] = ctr_db0;
    w->ctr_db[1] = ctr_db1;
    w->flush_db = flush_db;
    w->cur_db = 0;
    w->seed = (unsigned int)getpid() ^ (unsigned int)wall_ms();
    for (i = 0; i < 2; i++) {
        for (k = 0; k < NCTR; k++) {
            w->ctr[i][k] = 1000 + k;
        }
    }
    w->c = harness_connect(w->port);
    redisSetTimeout(w->c, tv);
    ck_assert_int_eq(pthread_create(&w->thread, NULL, writer_main, w), 0);
    w->running = 1;
}

/* Stops and joins the writer; asserts it saw no unexpected reply. */
static void
writer_stop(struct writer *w)
{
    if (!w->running) {
        return;
    }
    atomic_store(&w->stop, 1);
    ck_assert_int_eq(pthread_join(w->thread, NULL), 0);
    w->running = 0;
    ck_assert_msg(w->fatal[0] == '\0', "writer: %s", w->fatal);
    ck_assert_msg(w->errors == 0, "writer: %ld error replies, first: %s",
                  w->errors, w->first_error);
}

/* WAIT n 0 on the writer's connection (its last write is counted). */
static void
writer_wait(struct writer *w, int n)
{
    long long t0 = replcheck_now_ms();

    ck_assert_int_eq(cmd_int(w->c, "WAIT %d 0", n), n);
    printf("  WAIT %d 0 after the writer stopped returned %d in %lld ms\n",
           n, n, replcheck_now_ms() - t0);
}

/* Every counter holds exactly what the writer counted, on the primary
 * and on each replica (read directly). */
static void
assert_counters(const struct writer *w)
{
    int ci;
    int k;
    int i;

    for (i = -1; i < F.nreplicas; i++) {
        redisContext *c = harness_connect(i < 0 ? F.primary.port
                                                : F.replica[i].port);

        for (ci = 0; ci < 2; ci++) {
            cmd_status(c, "OK", "SELECT %d", w->ctr_db[ci]);
            for (k = 0; k < NCTR; k++) {
                char got[64];
                char want[64];

                cmd_str(c, got, sizeof(got), "GET ctr:%d", k);
                snprintf(want, sizeof(want), "%lld", w->ctr[ci][k]);
                ck_assert_msg(strcmp(got, want) == 0,
                              "ctr:%d in db %d is %s on the %s, the writer "
                              "counted %s", k, w->ctr_db[ci], got,
                              i < 0 ? "primary" : F.spec[i], want);
            }
        }
        redisFree(c);
    }
}

static void
writer_free(struct writer *w)
{
    if (w->c != NULL) {
        redisFree(w->c);
        w->c = NULL;
    }
}

/* ---- watching the seed -------------------------------------------- */

static const char *const seed_fields[] = {"seed_keys", "seed_total",
                                          "seed_percent", "seed_bytes",
                                          "seed_rate", "seed_eta",
                                          "seed_dirty", "seed_phase"};

/* Replica i's TANDEM REPLICAS line, and its state. */
static void
replica_line(int i, char *line, size_t len, char *state, size_t slen)
{
    ck_assert_msg(replcheck_replicas_line(F.tandem.port, F.replica[i].port,
                                          line, len) == 0,
                  "no TANDEM REPLICAS line for replica %d", i);
    if (replcheck_line_field(line, "state", state, slen) != 0) {
        snprintf(state, slen, "?");
    }
}

/* A seeding line has every progress field, with sane values. */
static void
assert_seed_fields(const char *line)
{
    char v[64];
    size_t f;

    for (f = 0; f < sizeof(seed_fields) / sizeof(seed_fields[0]); f++) {
        ck_assert_msg(replcheck_line_field(line, seed_fields[f], v,
                                           sizeof(v)) == 0,
                      "state=seeding without %s: %s", seed_fields[f], line);
    }
    replcheck_line_field(line, "seed_phase", v, sizeof(v));
    ck_assert_msg(strcmp(v, "scan") == 0 || strcmp(v, "drain") == 0 ||
                      strcmp(v, "finishing") == 0,
                  "seed_phase=%s: %s", v, line);
    ck_assert_msg(replcheck_line_number(line, "seed_percent", -1) >= 0 &&
                      replcheck_line_number(line, "seed_percent", -1) <= 100,
                  "seed_percent out of range: %s", line);
}

static long
seeds_of(int i)
{
    char line[1024];

    ck_assert_msg(replcheck_slave_line(F.tandem.port, F.replica[i].port, line,
                                       sizeof(line)) == 0,
                  "no INFO replication line for replica %d", i);
    return (long)replcheck_line_number(line, "seeds", -1);
}

/* Waits (bounded) until replica i is online with nothing to catch up. */
static void
wait_online(int i, int timeout_ms)
{
    char line[1024];

    if (replcheck_wait_replica_synced(F.tandem.port, F.replica[i].port,
                                      timeout_ms, line, sizeof(line)) != 0) {
        fleet_dump_logs(&F);
        ck_abort_msg("replica %d not online within %d ms: %s", i, timeout_ms,
                     line);
    }
}

/* Waits (bounded) until replica i is online (it may still lag: a writer
 * keeps the stream moving). */
static void
wait_state_online(int i, int timeout_ms)
{
    char line[1024];

    if (replcheck_wait_slave_state(F.tandem.port, F.replica[i].port,
                                   "online", timeout_ms, line,
                                   sizeof(line)) != 0) {
        fleet_dump_logs(&F);
        ck_abort_msg("replica %d not online within %d ms: %s", i, timeout_ms,
                     line);
    }
}

/* Waits (bounded) until replica i is seeding with at least pct percent
 * done and seeds >= min_seeds. Returns the line. */
static void
wait_seed_progress(int i, long min_seeds, double pct, int timeout_ms,
                   char *line, size_t len)
{
    long long deadline = replcheck_now_ms() + timeout_ms;
    char state[32];

    for (;;) {
        replica_line(i, line, len, state, sizeof(state));
        if (strcmp(state, "seeding") == 0 &&
            replcheck_line_number(line, "seeds", 0) >= (double)min_seeds &&
            replcheck_line_number(line, "seed_percent", 0) >= pct) {
            return;
        }
        if (replcheck_now_ms() > deadline) {
            fleet_dump_logs(&F);
            ck_abort_msg("replica %d: no seed %ld at %.0f%% within %d ms: %s",
                         i, min_seeds, pct, timeout_ms, line);
        }
        replcheck_sleep_ms(10);
    }
}

/* Compares replica i with the primary; asserts 0 differences. */
static long
compare_one(const char *test, int i)
{
    struct replcheck_stats st;
    char report[4096];
    long long t0 = replcheck_now_ms();
    int diffs = replcheck_compare_ex(F.primary.port, F.replica[i].port, &st,
                                     report, sizeof(report));

    printf("%s: %s [%lld ms]\n", test, report, replcheck_now_ms() - t0);
    fflush(stdout);
    if (diffs != 0) {
        fleet_dump_logs(&F);
    }
    ck_assert_msg(diffs == 0, "%s: replica %d differs from the primary: %s",
                  test, i, report);
    return st.keys;
}

/* A write through tandem and WAIT for every replica: a replica counts
 * only once it holds the whole seed and the write (INFO may say online
 * while the seed's last commands are still on their way). */
static void
sync_point(void)
{
    redisContext *c = harness_connect(F.tandem.port);

    cmd_status(c, "OK", "SET seed-test:sync %lld", wall_ms());
    ck_assert_int_eq(cmd_int(c, "WAIT %d 30000", F.nreplicas), F.nreplicas);
    redisFree(c);
}

static void
compare_all(const char *test)
{
    int i;

    for (i = 0; i < F.nreplicas; i++) {
        wait_online(i, 30000);
    }
    sync_point();
    for (i = 0; i < F.nreplicas; i++) {
        compare_one(test, i);
    }
}

/* The last "seeded" log line of replica i; asserts there are want of
 * them (want < 0: at least one). */
static void
seeded_line(int i, int want, struct replcheck_seeded *s)
{
    int n = replcheck_seeded_lines(F.tandem.log, F.spec[i], s);

    if (want < 0) {
        ck_assert_msg(n >= 1, "no \"Replica %s seeded\" line in the log",
                      F.spec[i]);
    } else {
        ck_assert_msg(n == want, "%d \"Replica %s seeded\" lines in the log, "
                      "expected %d", n, F.spec[i], want);
    }
}

static long long
peak_rss(void)
{
    redisContext *c = harness_connect(F.tandem.port);
    const char *v = harness_info_field(c, "memory", "used_memory_peak_rss");
    long long rss = v != NULL ? atoll(v) : -1;

    redisFree(c);
    return rss;
}

/* Sleeps until the wall clock is past ms (short expiries are over on
 * every server, so the comparison can't race with them). */
static void
sleep_past(long long ms)
{
    long long now = wall_ms();

    if (now <= ms + 200) {
        replcheck_sleep_ms((int)(ms + 200 - now));
    }
}

/* ---- a. 200,000 keys of every type, seeded under a writer -------- */

START_TEST(test_seed_under_writes)
{
    static const int wdbs[3] = {0, 1, 5};
    static const long wrange[3] = {60000 / NTYPES, 60000 / NTYPES,
                                   80000 / NTYPES};
    struct writer w;
    struct loader l;
    struct replcheck_seeded sd;
    char line[1024];
    char state[32];
    char phase[32];
    char after_flush[64] = "";
    char info_line[1024] = "";
    long long t0;
    long long tl;
    long long tl2;
    long long t_seed = -1;
    long long t_online = -1;
    long long last_expiry;
    long long keys;
    long long rss;
    long ops_seed_start = -1;
    long ops_online = -1;
    double max_dirty = 0;
    double seed_total = 0;
    int saw_scan = 0;
    int saw_drain = 0;
    int saw_finishing = 0;
    int polls = 0;

    fleet_start_servers(&F, 1, NULL);

    /* 1. The primary: 200,000 keys of six types in dbs 0, 1 and 5, a few
     * in db 14, counters, keys about to expire. */
    tl = replcheck_now_ms();
    load_begin(&l, F.primary.port);
    load_db(&l, 0, 60000);
    load_db(&l, 1, 60000);
    load_db(&l, 5, 80000);
    load_db(&l, 14, 600);
    load_counters(&l, 0);
    load_counters(&l, 1);
    last_expiry = load_short_ttl(&l, 0, 1000);
    tl2 = load_short_ttl(&l, 1, 1000);
    if (tl2 > last_expiry) {
        last_expiry = tl2;
    }
    load_end(&l);
    keys = total_keys(F.primary.port);
    printf("seed under writes: primary preloaded with %lld keys (%ld "
           "commands) in %lld ms\n", keys, l.commands,
           replcheck_now_ms() - tl);
    ck_assert_int_ge(keys, 200000);

    /* 2. tandem with one empty replica: seeded, since the primary is not
     * empty. The writer starts at once. */
    t0 = replcheck_now_ms();
    fleet_start_tandem(&F, NULL, 0);
    writer_start(&w, 3, wdbs, wrange, 0, 1, 5);

    /* 3. Watch the seed until the replica is online: progress fields,
     * phases, and a FLUSHDB of db 5 in the middle of it (at 80%, when the
     * scan is in db 5: part of db 5 is on the replica, part not yet). */
    for (;;) {
        replica_line(0, line, sizeof(line), state, sizeof(state));
        polls++;
        if (strcmp(state, "seeding") == 0) {
            double pct = replcheck_line_number(line, "seed_percent", 0);

            assert_seed_fields(line);
            if (t_seed < 0) {
                t_seed = replcheck_now_ms();
                ops_seed_start = atomic_load(&w.ops);
            }
            replcheck_line_field(line, "seed_phase", phase, sizeof(phase));
            saw_scan |= strcmp(phase, "scan") == 0;
            saw_drain |= strcmp(phase, "drain") == 0;
            saw_finishing |= strcmp(phase, "finishing") == 0;
            if (replcheck_line_number(line, "seed_dirty", 0) > max_dirty) {
                max_dirty = replcheck_line_number(line, "seed_dirty", 0);
            }
            seed_total = replcheck_line_number(line, "seed_total", 0);
            if (atomic_load(&w.flush_req) == 0 &&
                (pct >= 80 || strcmp(phase, "scan") != 0)) {
                atomic_store(&w.flush_req, 1);
            } else if (atomic_load(&w.flush_done) >= 1 &&
                       after_flush[0] == '\0') {
                snprintf(after_flush, sizeof(after_flush),
                         "seeding, phase %s, %.1f%%", phase, pct);
                if (strcmp(phase, "drain") == 0) {
                    atomic_store(&w.flush_req, 2);   /* and one in drain */
                }
            } else if (strcmp(phase, "drain") == 0 &&
                       atomic_load(&w.flush_req) == 1 &&
                       atomic_load(&w.flush_done) == 1) {
                atomic_store(&w.flush_req, 2);
            }
            if (info_line[0] == '\0') {
                ck_assert_int_eq(replcheck_slave_line(F.tandem.port,
                                                      F.replica[0].port,
                                                      info_line,
                                                      sizeof(info_line)), 0);
                if (strstr(info_line, "state=seeding") != NULL) {
                    assert_seed_fields(info_line);
                } else {
                    info_line[0] = '\0';
                }
            }
        } else if (strcmp(state, "online") == 0) {
            t_online = replcheck_now_ms();
            ops_online = atomic_load(&w.ops);
            if (atomic_load(&w.flush_done) >= 1 && after_flush[0] == '\0') {
                snprintf(after_flush, sizeof(after_flush), "online");
            }
            break;
        }
        if (w.fatal[0] != '\0' || replcheck_now_ms() - t0 > 120000) {
            break;
        }
        replcheck_sleep_ms(20);
    }
    if (t_online < 0) {
        atomic_store(&w.stop, 1);
        fleet_dump_logs(&F);
        ck_abort_msg("replica not online within 120 s (writer: %s): %s",
                     w.fatal[0] != '\0' ? w.fatal : "ok", line);
    }

    /* 4. The writer goes on a little longer, then stops. */
    replcheck_sleep_ms(1000);
    writer_stop(&w);
    printf("seed under writes: writer sent %ld commands (%ld while the "
           "replica was seeding), %ld MULTI/EXEC, %d FLUSHDB of db 5 (first "
           "one seen %s), %ld RENAME of a missing key\n",
           atomic_load(&w.ops), ops_online - ops_seed_start, w.transactions,
           atomic_load(&w.flush_done),
           after_flush[0] != '\0' ? after_flush : "never", w.missing);
    ck_assert_msg(t_seed >= 0, "the replica was never seen seeding");
    ck_assert_msg(ops_online - ops_seed_start >= 1000,
                  "only %ld writes while the replica was seeding",
                  ops_online - ops_seed_start);
    ck_assert_msg(atomic_load(&w.flush_done) >= 1,
                  "no FLUSHDB was done during the seed");
    ck_assert_msg(strncmp(after_flush, "seeding", 7) == 0,
                  "the FLUSHDB did not land in the middle of the seed: "
                  "after it the replica was %s", after_flush);

    /* 5. Everything the writer did is on the replica. */
    writer_wait(&w, 1);
    assert_counters(&w);
    writer_free(&w);

    /* One seed, no restart: FLUSHDB goes through. */
    seeded_line(0, 1, &sd);
    ck_assert_int_eq(seeds_of(0), 1);
    /* The FLUSHDB spared the seed the rest of db 5 (a fifth of the keys
     * at most); the writer's dirty keys add to the count. */
    ck_assert_msg(sd.keys >= keys * 7 / 10, "seeded %lld keys of %lld",
                  sd.keys, keys);
    rss = peak_rss();

    sleep_past(last_expiry);
    keys = compare_one("seed under writes", 0);
    printf("seed under writes: %lld keys compared, 0 differences; seed of "
           "%lld keys (%lld bytes, seed_total %.0f) took %.1f s by the log "
           "(%.1f s from tandem's start to online, %d polls), %.0f keys/s; "
           "phases seen: %s%s%s; peak seed_dirty %.0f; tandem peak RSS "
           "%.1f MB\n", keys, sd.keys, sd.bytes, seed_total, sd.secs,
           (double)(t_online - t0) / 1000.0, polls,
           sd.secs > 0 ? (double)sd.keys / sd.secs : 0.0,
           saw_scan ? "scan " : "", saw_drain ? "drain " : "",
           saw_finishing ? "finishing" : "", max_dirty,
           (double)rss / (1024.0 * 1024.0));
    fflush(stdout);
    ck_assert_msg(rss > 0 && rss < RSS_BOUND,
                  "tandem's peak RSS is %lld bytes", rss);
}
END_TEST

/* ---- b. a replica killed mid-seed, back empty --------------------- */

START_TEST(test_seed_restart_after_kill)
{
    static const char *const slow[] = {"--seed-max-keys-per-sec", "15000",
                                       NULL};
    static const int wdbs[2] = {0, 1};
    static const long wrange[2] = {20000 / NTYPES, 20000 / NTYPES};
    struct writer w;
    struct loader l;
    struct replcheck_seeded sd;
    char line[1024];
    char needle[160];
    char stamp[128];
    long long keys;
    redisContext *rc;

    fleet_start_servers(&F, 1, NULL);
    load_begin(&l, F.primary.port);
    load_db(&l, 0, 20000);
    load_db(&l, 1, 20000);
    load_counters(&l, 0);
    load_counters(&l, 1);
    load_end(&l);
    keys = total_keys(F.primary.port);

    fleet_start_tandem(&F, slow, 0);
    writer_start(&w, 2, wdbs, wrange, 0, 1, -1);
    wait_seed_progress(0, 1, 30, 60000, line, sizeof(line));
    printf("seed restart: killing the replica at %s\n", line);

    /* Half seeded, the replica says so: its stamp is no position. */
    rc = harness_connect(F.replica[0].port);
    cmd_status(rc, "OK", "SELECT 15");
    cmd_str(rc, stamp, sizeof(stamp), "GET tandem:stamp");
    redisFree(rc);
    ck_assert_msg(strchr(stamp, ':') == NULL,
                  "a half-seeded replica holds stamp \"%s\"", stamp);

    kill_and_restart_empty(0);
    wait_state_online(0, 60000);
    replcheck_sleep_ms(300);
    writer_stop(&w);
    writer_wait(&w, 1);
    assert_counters(&w);
    writer_free(&w);

    snprintf(needle, sizeof(needle), "Seeding replica %s (", F.spec[0]);
    ck_assert_int_ge(replcheck_count_in_file(F.tandem.log, needle), 2);
    ck_assert_int_ge(seeds_of(0), 2);
    seeded_line(0, 1, &sd);
    printf("seed restart: seeds=%ld; the seed after the restart moved %lld "
           "keys (%lld bytes) in %.1f s; writer sent %ld commands\n",
           seeds_of(0), sd.keys, sd.bytes, sd.secs, atomic_load(&w.ops));
    /* From scratch: the whole dataset went over again. */
    ck_assert_msg(sd.keys >= keys * 9 / 10, "the second seed moved %lld "
                  "keys; the primary holds %lld", sd.keys, keys);
    compare_all("seed restart");
}
END_TEST

/* ---- c. two replicas seeded together ------------------------------ */

START_TEST(test_two_replicas_seed_together)
{
    static const int wdbs[3] = {0, 1, 5};
    static const long wrange[3] = {20000 / NTYPES, 20000 / NTYPES,
                                   10000 / NTYPES};
    struct writer w;
    struct loader l;
    struct replcheck_seeded sd;
    long long keys;
    int i;

    fleet_start_servers(&F, 2, NULL);
    load_begin(&l, F.primary.port);
    load_db(&l, 0, 20000);
    load_db(&l, 1, 20000);
    load_db(&l, 5, 10000);
    load_counters(&l, 0);
    load_counters(&l, 1);
    load_end(&l);
    keys = total_keys(F.primary.port);

    fleet_start_tandem(&F, NULL, 0);
    writer_start(&w, 3, wdbs, wrange, 0, 1, -1);
    for (i = 0; i < 2; i++) {
        wait_state_online(i, 120000);
    }
    replcheck_sleep_ms(500);
    writer_stop(&w);
    writer_wait(&w, 2);
    assert_counters(&w);
    writer_free(&w);
    for (i = 0; i < 2; i++) {
        seeded_line(i, 1, &sd);
        ck_assert_int_eq(seeds_of(i), 1);
        printf("two replicas: %s seeded with %lld keys in %.1f s\n",
               F.spec[i], sd.keys, sd.secs);
        ck_assert_int_ge(sd.keys, keys * 9 / 10);
    }
    printf("two replicas: writer sent %ld commands\n", atomic_load(&w.ops));
    compare_all("two replicas");
}
END_TEST

/* ---- d. TANDEM RESYNC --------------------------------------------- */

START_TEST(test_resync)
{
    static const int wdbs[2] = {0, 1};
    static const long wrange[2] = {10000 / NTYPES, 10000 / NTYPES};
    struct writer w;
    struct loader l;
    struct replcheck_seeded sd;
    char line[1024];
    char got[256];
    char want[256];
    redisContext *c;
    redisContext *rc;
    redisContext *pc;
    redisReply *r;
    long long deadline;

    fleet_start_servers(&F, 1, NULL);
    load_begin(&l, F.primary.port);
    load_db(&l, 0, 10000);
    load_db(&l, 1, 10000);
    load_counters(&l, 0);
    load_counters(&l, 1);
    load_end(&l);
    fleet_start_tandem(&F, NULL, 0);
    wait_online(0, 60000);
    ck_assert_int_eq(seeds_of(0), 1);

    /* Writes made directly on the replica (outside the contract): the
     * resync repairs them. */
    rc = harness_connect(F.replica[0].port);
    cmd_status(rc, "OK", "SET stray 1");
    cmd_status(rc, "OK", "SET str:5 tampered");
    cmd_status(rc, "OK", "SELECT 7");
    cmd_status(rc, "OK", "SET stray7 1");
    redisFree(rc);

    writer_start(&w, 2, wdbs, wrange, 0, 1, -1);
    replcheck_sleep_ms(200);
    c = harness_connect(F.tandem.port);

    /* Unknown replicas and a missing argument: errors, nothing moves. */
    r = cmd(c, "TANDEM RESYNC 127.0.0.1:1");
    ck_assert_msg(r->type == REDIS_REPLY_ERROR &&
                      strstr(r->str, "no replica") != NULL,
                  "TANDEM RESYNC of an unknown replica: type %d \"%s\"",
                  r->type, r->str != NULL ? r->str : "");
    printf("resync: TANDEM RESYNC 127.0.0.1:1 -> -%s\n", r->str);
    freeReplyObject(r);
    r = cmd(c, "TANDEM RESYNC nosuchhost:%d", F.replica[0].port);
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    r = cmd(c, "TANDEM RESYNC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    ck_assert_int_eq(seeds_of(0), 1);
    replcheck_slave_line(F.tandem.port, F.replica[0].port, line,
                         sizeof(line));
    ck_assert_msg(strstr(line, "state=online") != NULL,
                  "after the refused RESYNCs: %s", line);

    /* The real one. */
    cmd_status(c, "OK", "TANDEM RESYNC %s", F.spec[0]);
    deadline = replcheck_now_ms() + 30000;
    while (seeds_of(0) < 2) {
        if (replcheck_now_ms() > deadline) {
            fleet_dump_logs(&F);
            ck_abort_msg("TANDEM RESYNC did not start a seed within 30 s");
        }
        replcheck_sleep_ms(10);
    }
    wait_state_online(0, 60000);
    replcheck_sleep_ms(300);
    writer_stop(&w);
    writer_wait(&w, 1);
    assert_counters(&w);
    writer_free(&w);
    seeded_line(0, 2, &sd);
    printf("resync: seeds=%ld; the resync moved %lld keys in %.1f s\n",
           seeds_of(0), sd.keys, sd.secs);

    rc = harness_connect(F.replica[0].port);
    pc = harness_connect(F.primary.port);
    ck_assert_int_eq(cmd_int(rc, "EXISTS stray"), 0);
    cmd_str(rc, got, sizeof(got), "GET str:5");
    cmd_str(pc, want, sizeof(want), "GET str:5");
    ck_assert_str_eq(got, want);
    cmd_status(rc, "OK", "SELECT 7");
    ck_assert_int_eq(cmd_int(rc, "DBSIZE"), 0);
    redisFree(rc);
    redisFree(pc);
    redisFree(c);
    compare_all("resync");
}
END_TEST

/* ---- e. seed-max-keys-per-sec ------------------------------------- */

START_TEST(test_seed_rate_limit)
{
    static const char *const limit[] = {"--seed-max-keys-per-sec", "5000",
                                        NULL};
    struct loader l;
    struct replcheck_seeded sd;
    char line[1024];
    char state[32];
    long long t0;
    long long t_online;
    double max_rate = 0;

    fleet_start_servers(&F, 1, NULL);
    load_begin(&l, F.primary.port);
    load_db(&l, 0, 20000);
    load_end(&l);
    ck_assert_int_eq(total_keys(F.primary.port), 20000);

    t0 = replcheck_now_ms();
    fleet_start_tandem(&F, limit, 0);
    for (;;) {
        replica_line(0, line, sizeof(line), state, sizeof(state));
        if (strcmp(state, "online") == 0) {
            break;
        }
        if (strcmp(state, "seeding") == 0 &&
            replcheck_line_number(line, "seed_rate", 0) > max_rate &&
            replcheck_now_ms() - t0 > 1500) {
            max_rate = replcheck_line_number(line, "seed_rate", 0);
        }
        if (replcheck_now_ms() - t0 > 60000) {
            fleet_dump_logs(&F);
            ck_abort_msg("not online within 60 s: %s", line);
        }
        replcheck_sleep_ms(50);
    }
    t_online = replcheck_now_ms();
    sync_point();
    seeded_line(0, 1, &sd);
    printf("rate limit: 20000 keys at seed-max-keys-per-sec 5000: seeded in "
           "%.1f s by the log (%.1f s from tandem's start), %.0f keys/s "
           "overall, highest seed_rate seen after 1.5 s: %.0f\n", sd.secs,
           (double)(t_online - t0) / 1000.0,
           sd.secs > 0 ? (double)sd.keys / sd.secs : 0.0, max_rate);
    ck_assert_msg(sd.secs >= 3.0, "20000 keys at 5000 keys/s took %.1f s",
                  sd.secs);
    ck_assert_msg(sd.secs <= 30.0, "20000 keys at 5000 keys/s took %.1f s",
                  sd.secs);
    ck_assert_int_eq(sd.keys, 20000);
    compare_all("rate limit");
}
END_TEST

/* ---- f. SWAPDB (and MOVE, COPY ... DB, SORT) restart the seed ---- */

START_TEST(test_swapdb_restarts_seed)
{
    static const char *const slow[] = {"--seed-max-keys-per-sec", "10000",
                                       NULL};
    static const int wdbs[2] = {2, 3};
    static const long wrange[2] = {2000 / NTYPES, 2000 / NTYPES};
    struct writer w;
    struct loader l;
    char line[1024];
    char got[256];
    redisContext *c;
    redisContext *rc;
    long seeds;

    fleet_start_servers(&F, 1, NULL);
    load_begin(&l, F.primary.port);
    load_db(&l, 0, 15000);
    load_db(&l, 1, 15000);
    load_db(&l, 2, 2000);
    load_db(&l, 3, 2000);
    load_counters(&l, 2);
    load_counters(&l, 3);
    load_end(&l);

    fleet_start_tandem(&F, slow, 0);
    writer_start(&w, 2, wdbs, wrange, 2, 3, -1);
    wait_seed_progress(0, 1, 20, 60000, line, sizeof(line));
    seeds = seeds_of(0);
    c = harness_connect(F.tandem.port);
    cmd_status(c, "OK", "SWAPDB 0 1");
    printf("swapdb: SWAPDB 0 1 sent at %s\n", line);
    wait_state_online(0, 60000);
    ck_assert_msg(seeds_of(0) > seeds, "SWAPDB during the seed: seeds %ld "
                  "then %ld", seeds, seeds_of(0));
    ck_assert_int_ge(replcheck_count_in_file(F.tandem.log,
                                             "a swapdb during the seed"), 1);
    replcheck_sleep_ms(300);
    writer_stop(&w);
    writer_wait(&w, 1);
    assert_counters(&w);
    writer_free(&w);

    /* db 0 holds what db 1 held, on the replica too. */
    rc = harness_connect(F.replica[0].port);
    cmd_str(rc, got, sizeof(got), "GET str:3");
    ck_assert_msg(strncmp(got, "db1-", 4) == 0, "str:3 in db 0 on the "
                  "replica after SWAPDB 0 1: %s", got);
    redisFree(rc);
    redisFree(c);
    printf("swapdb: seeds=%ld\n", seeds_of(0));
    compare_all("swapdb");
}
END_TEST

START_TEST(test_move_copy_restart_seed)
{
    static const char *const slow[] = {"--seed-max-keys-per-sec", "10000",
                                       NULL};
    struct loader l;
    char line[1024];
    char got[256];
    redisContext *c;
    redisContext *rc;
    long seeds;

    fleet_start_servers(&F, 1, NULL);
    load_begin(&l, F.primary.port);
    load_db(&l, 0, 20000);
    load_end(&l);

    fleet_start_tandem(&F, slow, 0);
    c = harness_connect(F.tandem.port);

    wait_seed_progress(0, 1, 20, 60000, line, sizeof(line));
    seeds = seeds_of(0);
    ck_assert_int_eq(cmd_int(c, "MOVE str:1 4"), 1);
    wait_seed_progress(0, seeds + 1, 20, 60000, line, sizeof(line));
    seeds = seeds_of(0);
    ck_assert_int_eq(cmd_int(c, "COPY str:2 str:2 DB 6"), 1);
    wait_seed_progress(0, seeds + 1, 20, 60000, line, sizeof(line));
    seeds = seeds_of(0);
    /* SORT's key specs are incomplete (BY/GET patterns name keys). */
    ck_assert_int_eq(cmd_int(c, "SORT list:5 ALPHA STORE sorted"), 5);
    wait_seed_progress(0, seeds + 1, 1, 60000, line, sizeof(line));
    wait_online(0, 60000);
    ck_assert_int_ge(seeds_of(0), 4);
    ck_assert_int_ge(replcheck_count_in_file(F.tandem.log,
                                             "a move during the seed"), 1);
    ck_assert_int_ge(replcheck_count_in_file(F.tandem.log,
                                             "a copy during the seed"), 1);
    ck_assert_int_ge(replcheck_count_in_file(F.tandem.log,
                                             "a sort during the seed"), 1);
    cmd_status(c, "OK", "SET after 1");
    ck_assert_int_eq(cmd_int(c, "WAIT 1 5000"), 1);

    rc = harness_connect(F.replica[0].port);
    ck_assert_int_eq(cmd_int(rc, "EXISTS str:1"), 0);
    cmd_status(rc, "OK", "SELECT 4");
    cmd_str(rc, got, sizeof(got), "GET str:1");
    ck_assert_msg(strncmp(got, "db0-str-1-", 10) == 0, "str:1 in db 4: %s",
                  got);
    cmd_status(rc, "OK", "SELECT 6");
    cmd_str(rc, got, sizeof(got), "GET str:2");
    ck_assert_msg(strncmp(got, "db0-str-2-", 10) == 0, "str:2 in db 6: %s",
                  got);
    cmd_status(rc, "OK", "SELECT 0");
    ck_assert_int_eq(cmd_int(rc, "LLEN sorted"), 5);
    redisFree(rc);
    redisFree(c);
    printf("move/copy: seeds=%ld\n", seeds_of(0));
    compare_all("move/copy");
}
END_TEST

/* ---- g. a replica holding foreign data ---------------------------- */

START_TEST(test_foreign_data_replaced)
{
    static const char *const dbs[] = {"0", "3", "14"};
    struct loader l;
    char got[256];
    char needle[200];
    char replid[64] = "";
    redisContext *tc;
    size_t d;
    int i;
    int k;

    fleet_start_servers(&F, 2, NULL);
    load_begin(&l, F.primary.port);
    load_db(&l, 0, 10000);
    load_db(&l, 2, 2000);
    load_end(&l);

    /* Replica 0: foreign keys and a stamp from another stream. Replica 1:
     * foreign keys, no stamp. Some foreign keys share a name with the
     * primary's, with another value or another type. */
    for (i = 0; i < 2; i++) {
        redisContext *rc = harness_connect(F.replica[i].port);

        for (d = 0; d < 3; d++) {
            cmd_status(rc, "OK", "SELECT %s", dbs[d]);
            for (k = 0; k < 200; k++) {
                cmd_status(rc, "OK", "SET foreign:%d x", k);
            }
            cmd_int(rc, "SADD foreign-set a b c");
            cmd_int(rc, "EXPIRE foreign-set 5000");
        }
        cmd_status(rc, "OK", "SELECT 0");
        cmd_status(rc, "OK", "SET str:0 foreign-value");
        ck_assert_int_eq(cmd_int(rc, "HSET list:1 f v"), 1);
        cmd_status(rc, "OK", "SELECT 2");
        ck_assert_int_eq(cmd_int(rc, "SADD str:3 a"), 1);
        if (i == 0) {
            cmd_status(rc, "OK", "SELECT 15");
            cmd_status(rc, "OK", "SET tandem:stamp "
                       "0123456789abcdef0123456789abcdef01234567:12345");
        }
        redisFree(rc);
    }

    fleet_start_tandem(&F, NULL, 0);
    for (i = 0; i < 2; i++) {
        wait_online(i, 60000);
    }
    snprintf(needle, sizeof(needle), "Seeding replica %s (its stamp is "
             "from another stream", F.spec[0]);
    ck_assert_msg(replcheck_count_in_file(F.tandem.log, needle) == 1,
                  "no \"%s\" line", needle);
    snprintf(needle, sizeof(needle), "Seeding replica %s (it has no stamp "
             "and holds keys", F.spec[1]);
    ck_assert_msg(replcheck_count_in_file(F.tandem.log, needle) == 1,
                  "no \"%s\" line", needle);

    tc = harness_connect(F.tandem.port);
    cmd_status(tc, "OK", "SET after-seed 1");
    ck_assert_int_eq(cmd_int(tc, "WAIT 2 5000"), 2);
    snprintf(replid, sizeof(replid), "%s",
             harness_info_field(tc, "replication", "master_replid"));
    redisFree(tc);
    for (i = 0; i < 2; i++) {
        redisContext *rc = harness_connect(F.replica[i].port);

        for (d = 0; d < 3; d++) {
            cmd_status(rc, "OK", "SELECT %s", dbs[d]);
            ck_assert_int_eq(cmd_int(rc, "EXISTS foreign:0 foreign:199 "
                                         "foreign-set"), 0);
        }
        cmd_status(rc, "OK", "SELECT 15");
        cmd_str(rc, got, sizeof(got), "GET tandem:stamp");
        ck_assert_msg(strlen(replid) == 40 &&
                          strncmp(got, replid, 40) == 0 && got[40] == ':',
                      "replica %d: stamp \"%s\", stream id %s", i, got,
                      replid);
        redisFree(rc);
    }
    compare_all("foreign data");
}
END_TEST

/* ---- a replica stalled during its seed ---------------------------- */

#define STALL_KEYS 15000
#define STALL_VALUE 4000     /* random bytes: DUMP can't compress them */

static void
load_random(int port)
{
    struct loader l;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    char *v = malloc(STALL_VALUE);
    long i;
    size_t j;

    ck_assert_ptr_nonnull(v);
    load_begin(&l, port);
    for (i = 0; i < STALL_KEYS; i++) {
        for (j = 0; j + 8 <= STALL_VALUE; j += 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            memcpy(v + j, &x, 8);
        }
        load_cmd(&l, "SET big:%ld %b", i, v, (size_t)STALL_VALUE);
    }
    load_end(&l);
    free(v);
}

static long long
rss_now(void)
{
    redisContext *c = harness_connect(F.tandem.port);
    const char *v = harness_info_field(c, "memory", "used_memory_rss");
    long long rss = v != NULL ? atoll(v) : -1;

    redisFree(c);
    return rss;
}

/*
 * The replica is SIGSTOPped as soon as its seed starts and stays stopped
 * for 5 s (the seed alone takes under a second). It can't have applied
 * the seed meanwhile, so tandem must not report it online (state=online,
 * lag_bytes=0), and tandem's memory must not grow with the dataset
 * (DESIGN I7: O(backlog + clients), never O(dataset); I9: O(dirty keys),
 * not O(keys)): whether it pauses the seed or cuts the replica off is its
 * call. Once resumed, the replica ends identical.
 */
START_TEST(test_stalled_replica_during_seed)
{
    static const char *const args[] = {"--backlog-size", "1mb", NULL};
    long long dataset = (long long)STALL_KEYS * STALL_VALUE;
    char line[1024];
    char online_line[1024] = "";
    char state[32];
    long long t0;
    long long rss;
    long long max_rss = 0;
    int online_polls = 0;
    int polls = 0;
    int bad_rss;

    fleet_start_servers(&F, 1, NULL);
    load_random(F.primary.port);
    fleet_start_tandem(&F, args, 0);
    t0 = replcheck_now_ms();
    for (;;) {
        replica_line(0, line, sizeof(line), state, sizeof(state));
        if (strcmp(state, "seeding") == 0) {
            break;
        }
        if (replcheck_now_ms() - t0 > 10000) {
            fleet_dump_logs(&F);
            ck_abort_msg("the replica was not seeding within 10 s: %s", line);
        }
        replcheck_sleep_ms(2);
    }
    harness_signal(&F.replica[0], SIGSTOP);
    printf("stalled replica: %lld MB dataset; replica stopped at %s\n",
           dataset >> 20, line);
    t0 = replcheck_now_ms();
    while (replcheck_now_ms() - t0 < 5000) {
        replcheck_sleep_ms(100);
        replica_line(0, line, sizeof(line), state, sizeof(state));
        rss = rss_now();
        max_rss = rss > max_rss ? rss : max_rss;
        polls++;
        if (strcmp(state, "online") == 0 && online_polls++ == 0) {
            snprintf(online_line, sizeof(online_line), "%s", line);
        }
    }
    printf("stalled replica: after 5 s stopped: %s; tandem RSS %.1f MB "
           "(peak %.1f MB); reported online in %d of %d polls%s%s\n", line,
           (double)max_rss / 1048576.0, (double)peak_rss() / 1048576.0,
           online_polls, polls, online_polls > 0 ? ", e.g. " : "",
           online_line);
    harness_signal(&F.replica[0], SIGCONT);
    wait_online(0, 60000);
    compare_all("stalled replica");

    rss = peak_rss();
#ifdef TD_ASAN
    /* ASan's quarantine and shadow memory make RSS say little here. */
    bad_rss = 0;
#else
    bad_rss = rss >= dataset / 2;
#endif
    printf("stalled replica: tandem peak RSS %.1f MB for a %.1f MB dataset\n",
           (double)rss / 1048576.0, (double)dataset / 1048576.0);
    ck_assert_msg(online_polls == 0 && !bad_rss,
                  "a replica SIGSTOPped during its seed:%s%s%s%s",
                  online_polls > 0 ? " tandem reported it online before it "
                                     "could apply the seed (" : "",
                  online_polls > 0 ? online_line : "",
                  online_polls > 0 ? ");" : "",
                  bad_rss ? " tandem's RSS grew with the dataset, O(dataset) "
                            "instead of O(backlog + dirty keys)" : "");
}
END_TEST

/* ---- functions go over with the seed ------------------------------ */

/* FUNCTION LIST WITHCODE as text (libraries sorted by Redis by name). */
static void
function_list(int port, char *out, size_t len)
{
    redisContext *c = harness_connect(port);
    redisReply *r = cmd(c, "FUNCTION LIST WITHCODE");
    size_t i;
    size_t j;
    size_t used = 0;

    out[0] = '\0';
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    for (i = 0; i < r->elements; i++) {
        const redisReply *lib = r->element[i];

        for (j = 0; j + 1 < lib->elements; j += 2) {
            const redisReply *v = lib->element[j + 1];

            if (v->type == REDIS_REPLY_STRING && used < len) {
                used += (size_t)snprintf(out + used, len - used, "%s=%s;",
                                         lib->element[j]->str, v->str);
            }
        }
    }
    freeReplyObject(r);
    redisFree(c);
}

START_TEST(test_seed_functions)
{
    static const char *const lib =
        "#!lua name=seedlib\n"
        "redis.register_function('seedf', function(keys, args) "
        "return 'primary' end)";
    static const char *const other =
        "#!lua name=seedlib\n"
        "redis.register_function('seedf', function(keys, args) "
        "return 'stale' end)";
    static const char *const foreign =
        "#!lua name=foreignlib\n"
        "redis.register_function('foreignf', function(keys, args) "
        "return 'foreign' end)";
    struct loader l;
    char want[4096];
    char got[4096];
    redisContext *c;
    redisReply *r;

    fleet_start_servers(&F, 1, NULL);
    load_begin(&l, F.primary.port);
    load_db(&l, 0, 3000);
    load_end(&l);
    c = harness_connect(F.primary.port);
    r = cmd(c, "FUNCTION LOAD %s", lib);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    freeReplyObject(r);
    redisFree(c);
    c = harness_connect(F.replica[0].port);
    r = cmd(c, "FUNCTION LOAD %s", other);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    freeReplyObject(r);
    r = cmd(c, "FUNCTION LOAD %s", foreign);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    freeReplyObject(r);
    cmd_status(c, "OK", "SET foreign 1");
    redisFree(c);

    fleet_start_tandem(&F, NULL, 0);
    wait_online(0, 60000);
    sync_point();
    function_list(F.primary.port, want, sizeof(want));
    function_list(F.replica[0].port, got, sizeof(got));
    printf("functions: primary %s\nfunctions: replica %s\n", want, got);
    ck_assert_msg(strcmp(got, want) == 0, "after the seed the replica's "
                  "functions differ from the primary's:\n  primary: %s\n"
                  "  replica: %s", want, got);
    compare_all("functions");
}
END_TEST

/* One case per test, so that CK_RUN_CASE=<name> runs one alone. */
/* ---- k. Pub/Sub while a replica seeds ---- */

#define NSUBS 5         /* 3 on the channel, 2 on a pattern */
#define MAX_PUB 3000    /* published through tandem, at most */
#define MIN_SEEDING 50  /* of them while the replica seeds, at least */

/* Subscribers keep receiving, in order and completely, messages
 * published through tandem and on the primary while a replica is seeded
 * (and written to); the replica ends identical. */
START_TEST(test_pubsub_during_seed)
{
    static const char *const limit[] = {"--seed-max-keys-per-sec", "5000",
                                        NULL};
    redisContext *sub[NSUBS];
    redisContext *pub, *direct;
    struct loader l;
    char line[1024];
    char state[32];
    long seeding_pubs = 0;
    int npub = 0, ndirect = 0;
    int i, k;

    fleet_start_servers(&F, 1, NULL);
    load_begin(&l, F.primary.port);
    load_db(&l, 0, 20000);
    load_end(&l);
    fleet_start_tandem(&F, limit, 0);
    for (k = 0; k < NSUBS; k++) {
        redisReply *r;

        sub[k] = harness_connect(F.tandem.port);
        r = redisCommand(sub[k], k < 3 ? "SUBSCRIBE news" : "PSUBSCRIBE n*");
        ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
        freeReplyObject(r);
    }
    pub = harness_connect(F.tandem.port);
    direct = harness_connect(F.primary.port);
    /* Publish (and write) until the seed is over, one every 10 ms. */
    for (i = 0; i < MAX_PUB; i++) {
        redisReply *r;

        replica_line(0, line, sizeof(line), state, sizeof(state));
        if (strcmp(state, "seeding") == 0) {
            seeding_pubs++;
        } else if (strcmp(state, "online") == 0 && seeding_pubs > 0) {
            break;
        }
        r = redisCommand(pub, "PUBLISH news t%d", i);
        ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
        ck_assert_msg(r->integer == NSUBS, "PUBLISH %d reached %lld", i,
                      r->integer);
        freeReplyObject(r);
        npub++;
        freeReplyObject(redisCommand(pub, "SET pub:%d %d", i, i));
        if (i % 4 == 0) {
            freeReplyObject(redisCommand(direct, "PUBLISH news d%d", i / 4));
            ndirect++;
        }
        replcheck_sleep_ms(10);
    }
    printf("pubsub during seed: %ld of %d publishes while the replica was "
           "seeding\n", seeding_pubs, npub);
    ck_assert_msg(seeding_pubs >= MIN_SEEDING, "only %ld publishes during "
                  "the seed", seeding_pubs);
    for (k = 0; k < NSUBS; k++) {
        struct timeval tv = {10, 0};
        int next_t = 0, next_d = 0;

        redisSetTimeout(sub[k], tv);
        for (i = 0; i < npub + ndirect; i++) {
            redisReply *r = NULL;
            const char *msg;
            int n;

            ck_assert_msg(redisGetReply(sub[k], (void **)&r) == REDIS_OK,
                          "subscriber %d: message %d missing", k, i);
            msg = r->element[r->elements - 1]->str;
            if (sscanf(msg, "t%d", &n) == 1) {
                ck_assert_msg(n == next_t, "subscriber %d: t%d after t%d", k,
                              n, next_t - 1);
                next_t++;
            } else {
                ck_assert_msg(sscanf(msg, "d%d", &n) == 1 && n == next_d,
                              "subscriber %d: unexpected %s", k, msg);
                next_d++;
            }
            freeReplyObject(r);
        }
        redisFree(sub[k]);
    }
    printf("pubsub during seed: %d subscribers each got all %d + %d "
           "messages in order\n", NSUBS, npub, ndirect);
    redisFree(pub);
    redisFree(direct);
    wait_online(0, 60000);
    compare_all("pubsub during seed");
}
END_TEST

static void
add_case(Suite *s, const char *name, const TTest *test, int timeout)
{
    harness_add_case(s, name, test, setup, teardown, timeout);
}

int
main(void)
{
    Suite *s = suite_create("seed");

    setvbuf(stdout, NULL, _IOLBF, 0);
    add_case(s, "under_writes", test_seed_under_writes, 170);
    add_case(s, "restart_after_kill", test_seed_restart_after_kill, 120);
    add_case(s, "two_replicas", test_two_replicas_seed_together, 150);
    add_case(s, "resync", test_resync, 120);
    add_case(s, "rate_limit", test_seed_rate_limit, 90);
    add_case(s, "swapdb", test_swapdb_restarts_seed, 120);
    add_case(s, "move_copy", test_move_copy_restart_seed, 120);
    add_case(s, "foreign_data", test_foreign_data_replaced, 90);
    add_case(s, "stalled_replica", test_stalled_replica_during_seed, 120);
    add_case(s, "functions", test_seed_functions, 60);
    add_case(s, "pubsub", test_pubsub_during_seed, 90);
    return harness_run_suite(s);
}
