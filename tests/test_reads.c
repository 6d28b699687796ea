/*
 * test_reads.c -- integration: reads routed to replicas (DESIGN I10).
 *
 * Every test starts a fresh, empty fleet: a primary, two replicas and the
 * real tandem binary with both replicas (all empty, so both replicas come
 * online at once from offset 0). Clients talk to tandem with hiredis; the
 * counters that say where reads went are read from tandem's INFO stats
 * (reads_served_by_primary, reads_served_by_replicas) and from each
 * replica's line of TANDEM REPLICAS (reads=, read_link=,
 * reads_to_primary=). Every test ends by comparing both replicas with the
 * primary, key by key (replcheck.c): zero differences.
 *
 * Processes are stopped by PID only; a SIGSTOPped replica is always sent
 * SIGCONT in the teardown (harness_stop sends it too). Loops are bounded
 * by time or count; everything runs on 127.0.0.1.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "replcheck.h"

#define NREPLICAS 2
#define MAX_LAG_MS 1000             /* --max-replica-lag of every fleet */
#define READ_BOUND_MS (MAX_LAG_MS + 1000)

static struct fleet F;

/* Set to stop the worker threads of a test. */
static int g_stop;

static int
stopping(void)
{
    return __atomic_load_n(&g_stop, __ATOMIC_SEQ_CST);
}

static void
set_stop(int v)
{
    __atomic_store_n(&g_stop, v, __ATOMIC_SEQ_CST);
}

/* ---- fleet -------------------------------------------------------- */

/* Starts an empty fleet with tandem's max-replica-lag at MAX_LAG_MS (then
 * the extra arguments), and waits until both replicas are online with
 * nothing to catch up and both read connections are up. */
static void
reads_fleet_start(const char *const *tandem_extra)
{
    const char *args[32];
    char lag[16];
    long long deadline;
    int n = 0;
    int i;

    set_stop(0);
    snprintf(lag, sizeof(lag), "%d", MAX_LAG_MS);
    args[n++] = "--max-replica-lag";
    args[n++] = lag;
    for (i = 0; tandem_extra != NULL && tandem_extra[i] != NULL && n < 30;
         i++) {
        args[n++] = tandem_extra[i];
    }
    args[n] = NULL;
    fleet_start(&F, NREPLICAS, NULL, args);
    /* The read connections answer their first PING soon after. */
    deadline = replcheck_now_ms() + 10000;
    for (i = 0; i < NREPLICAS; i++) {
        char line[1024];
        char link[16] = "";

        while (replcheck_now_ms() < deadline) {
            if (replcheck_replicas_line(F.tandem.port, F.replica[i].port,
                                        line, sizeof(line)) == 0 &&
                replcheck_line_field(line, "read_link", link,
                                     sizeof(link)) == 0 &&
                strcmp(link, "up") == 0) {
                break;
            }
            replcheck_sleep_ms(20);
        }
        if (strcmp(link, "up") != 0) {
            fleet_dump_logs(&F);
            ck_abort_msg("read connection to replica %d not up within 10 s: "
                         "%s", i, line);
        }
    }
}

static void
teardown(void)
{
    set_stop(1);
    fleet_teardown(&F);
}

/* ---- commands ----------------------------------------------------- */




/* A bulk or status reply copied into out ("(nil)" for a null reply,
 * "-..." for an error). */

/* Asserts an array reply of exactly these bulk strings (n of them). */
static void
assert_array(const redisReply *r, const char *what, size_t n,
             const char *const *want)
{
    size_t i;

    ck_assert_msg(r->type == REDIS_REPLY_ARRAY,
                  "%s: expected an array, got type %d \"%s\"", what, r->type,
                  r->str != NULL ? r->str : "");
    ck_assert_msg(r->elements == n, "%s: %zu elements, expected %zu", what,
                  r->elements, n);
    for (i = 0; i < n; i++) {
        const redisReply *e = r->element[i];

        ck_assert_msg(e->type == REDIS_REPLY_STRING &&
                          strcmp(e->str, want[i]) == 0,
                      "%s: element %zu is type %d \"%s\", expected \"%s\"",
                      what, i, e->type, e->str != NULL ? e->str : "",
                      want[i]);
    }
}

/* ---- where reads went ------------------------------------------------ */

struct counters {
    long long primary;              /* reads_served_by_primary */
    long long replicas;             /* reads_served_by_replicas */
    long long reads[NREPLICAS];     /* TANDEM REPLICAS reads= */
    long long to_primary[NREPLICAS];/* TANDEM REPLICAS reads_to_primary= */
    char      link[NREPLICAS][16];  /* read_link= */
};

static long long
info_stat(redisContext *c, const char *field)
{
    const char *v = harness_info_field(c, "stats", field);

    ck_assert_msg(v != NULL, "INFO stats of tandem has no %s", field);
    return atoll(v);
}

static void
counters_read(struct counters *k)
{
    redisContext *c = harness_connect(F.tandem.port);
    int i;

    memset(k, 0, sizeof(*k));
    k->primary = info_stat(c, "reads_served_by_primary");
    k->replicas = info_stat(c, "reads_served_by_replicas");
    redisFree(c);
    for (i = 0; i < NREPLICAS; i++) {
        char line[1024];

        ck_assert_msg(replcheck_replicas_line(F.tandem.port,
                                              F.replica[i].port, line,
                                              sizeof(line)) == 0,
                      "TANDEM REPLICAS has no line for replica %d", i);
        k->reads[i] = (long long)replcheck_line_number(line, "reads", -1);
        k->to_primary[i] =
            (long long)replcheck_line_number(line, "reads_to_primary", -1);
        ck_assert_msg(k->reads[i] >= 0 && k->to_primary[i] >= 0,
                      "replica %d line lacks reads=/reads_to_primary=: %s",
                      i, line);
        if (replcheck_line_field(line, "read_link", k->link[i],
                                 sizeof(k->link[i])) != 0) {
            snprintf(k->link[i], sizeof(k->link[i]), "?");
        }
    }
}

static double
share(long long part, long long whole)
{
    return whole > 0 ? 100.0 * (double)part / (double)whole : 0.0;
}

/* ---- checks ------------------------------------------------------- */

static void
wait_synced(void)
{
    char report[2048];

    if (replcheck_wait_synced(F.tandem.port, 20000, report,
                              sizeof(report)) != 0) {
        fleet_dump_logs(&F);
        ck_abort_msg("replicas not in sync within 20 s: %s", report);
    }
}

static void
compare_all(const char *test)
{
    int i;

    wait_synced();
    for (i = 0; i < NREPLICAS; i++) {
        char report[4096];
        int diffs = replcheck_compare(F.primary.port, F.replica[i].port,
                                      report, sizeof(report));

        printf("%s: replica %d: %s\n", test, i, report);
        fflush(stdout);
        if (diffs != 0) {
            fleet_dump_logs(&F);
        }
        ck_assert_msg(diffs == 0, "%s: replica %d differs from the primary: "
                      "%s", test, i, report);
    }
}

/* Writes prefix_0 .. prefix_<n-1> = "val_<i>" through tandem (pipelined)
 * and waits until both replicas acked them (WAIT 2). */
static void
populate(const char *prefix, int n)
{
    redisContext *c = harness_connect(F.tandem.port);
    int i;

    for (i = 0; i < n; i++) {
        redisAppendCommand(c, "SET %s_%d val_%d", prefix, i, i);
    }
    for (i = 0; i < n; i++) {
        redisReply *r = NULL;

        ck_assert_msg(redisGetReply(c, (void **)&r) == REDIS_OK,
                      "populate: %s", c->errstr);
        ck_assert_msg(r->type == REDIS_REPLY_STATUS, "populate: SET %d: "
                      "type %d \"%s\"", i, r->type,
                      r->str != NULL ? r->str : "");
        freeReplyObject(r);
    }
    ck_assert_int_eq(cmd_int(c, "WAIT 2 10000"), 2);
    redisFree(c);
}

/* ---- worker threads ------------------------------------------------- */

/* A client that reads its own writes: sets k_<id> to n (SET, EVAL or
 * MULTI/SET/EXEC), then GET k_<id>, n increasing. */
struct rw_worker {
    pthread_t thread;
    int       id;
    int       port;
    int       eventual;     /* a GET may return an older n (or nil) */
    long      checked;      /* GETs checked */
    long      stale;        /* GETs that did not return the latest n */
    long      errors;       /* error replies / connection errors */
    long long max_ms;       /* slowest SET+GET round */
    char      first[256];   /* first problem */
};

static void
note(char *first, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
note(char *first, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (first[0] != '\0') {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(first, len, fmt, ap);
    va_end(ap);
}

/* Sends the write that sets k_<id> to n: SET, or a script (EVAL), or a
 * transaction (MULTI SET EXEC). Returns the number of replies it gives;
 * the last one is the write's own. */
static int
append_write(redisContext *c, int id, long long n, int kind)
{
    switch (kind) {
    case 1:
        redisAppendCommand(c, "EVAL %s 1 k_%d %lld",
                           "return redis.call('SET', KEYS[1], ARGV[1])", id,
                           n);
        return 1;
    case 2:
        redisAppendCommand(c, "MULTI");
        redisAppendCommand(c, "SET k_%d %lld", id, n);
        redisAppendCommand(c, "EXEC");
        return 3;
    default:
        redisAppendCommand(c, "SET k_%d %lld", id, n);
        return 1;
    }
}

static void *
rw_main(void *arg)
{
    struct rw_worker *w = arg;
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", w->port, tv);
    unsigned int seed = 7919u * (unsigned int)(w->id + 1);
    long long n = 0;
    long long deadline = replcheck_now_ms() + 60000;

    if (c == NULL || c->err != 0) {
        w->errors++;
        note(w->first, sizeof(w->first), "connect: %s",
             c != NULL ? c->errstr : "oom");
        if (c != NULL) {
            redisFree(c);
        }
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (w->id % 5 == 4) {
        /* Some clients work in another database: the read connections
         * SELECT it. */
        redisReply *r = redisCommand(c, "SELECT 2");

        if (r == NULL || r->type != REDIS_REPLY_STATUS) {
            w->errors++;
            note(w->first, sizeof(w->first), "SELECT 2 failed");
        }
        if (r != NULL) {
            freeReplyObject(r);
        }
    }
    while (!stopping() && replcheck_now_ms() < deadline) {
        redisReply *set = NULL;
        redisReply *get = NULL;
        int mode = (int)(rand_r(&seed) % 4);
        int kind = (int)(rand_r(&seed) % 8);
        int replies;
        int i;
        long long t0 = replcheck_now_ms();
        long long t;

        n++;
        kind = kind == 6 ? 1 : kind == 7 ? 2 : 0;
        /* 0, 1: the write and the GET in one write (the GET while the
         * write is in flight); 2: the GET after the write's reply; 3: the
         * same after a short pause, so that replicas have usually acked
         * the write. */
        replies = append_write(c, w->id, n, kind);
        if (mode <= 1) {
            redisAppendCommand(c, "GET k_%d", w->id);
        }
        for (i = 0; i < replies; i++) {
            if (set != NULL) {
                freeReplyObject(set);
                set = NULL;
            }
            if (redisGetReply(c, (void **)&set) != REDIS_OK) {
                w->errors++;
                note(w->first, sizeof(w->first), "write: %s", c->errstr);
                redisFree(c);
                return NULL;
            }
        }
        if (mode == 3) {
            replcheck_sleep_ms(1 + (int)(rand_r(&seed) % 3));
        }
        if (mode >= 2) {
            redisAppendCommand(c, "GET k_%d", w->id);
        }
        if (redisGetReply(c, (void **)&get) != REDIS_OK) {
            w->errors++;
            note(w->first, sizeof(w->first), "GET: %s", c->errstr);
            freeReplyObject(set);
            break;
        }
        t = replcheck_now_ms() - t0;
        if (t > w->max_ms) {
            w->max_ms = t;
        }
        if (kind == 2 ? set->type != REDIS_REPLY_ARRAY || set->elements != 1
                      : set->type != REDIS_REPLY_STATUS) {
            w->errors++;
            note(w->first, sizeof(w->first), "write %d of k_%d %lld: type "
                 "%d %s", kind, w->id, n, set->type,
                 set->str != NULL ? set->str : "");
        }
        w->checked++;
        if (get->type == REDIS_REPLY_STRING) {
            long long v = atoll(get->str);

            if (v != n && !(w->eventual && v < n)) {
                w->stale++;
                note(w->first, sizeof(w->first), "GET k_%d returned %s "
                     "after write %d of %lld (mode %d)", w->id, get->str,
                     kind, n, mode);
            }
        } else if (get->type == REDIS_REPLY_NIL && w->eventual) {
            /* not yet on that replica */
        } else {
            if (get->type == REDIS_REPLY_ERROR) {
                w->errors++;
            } else {
                w->stale++;
            }
            note(w->first, sizeof(w->first), "GET k_%d after write %d of "
                 "%lld: type %d %s (mode %d)", w->id, kind, n, get->type,
                 get->str != NULL ? get->str : "", mode);
        }
        freeReplyObject(set);
        freeReplyObject(get);
    }
    redisFree(c);
    return NULL;
}

/* A client that only reads: GET <prefix>_<k> of keys written earlier by
 * another connection ("val_<k>"), `pipeline` per round trip, until
 * stopped or `max_reads` reads. */
struct reader {
    pthread_t  thread;
    int        id;
    int        port;
    const char *prefix;
    int        nkeys;
    int        pipeline;
    long       max_reads;
    long       reads;
    long       wrong;
    long       errors;
    long       slow;        /* round trips longer than READ_BOUND_MS */
    long long  max_ms;
    char       first[256];
};

static void *
reader_main(void *arg)
{
    struct reader *w = arg;
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", w->port, tv);
    unsigned int seed = 104729u * (unsigned int)(w->id + 1);
    long long deadline = replcheck_now_ms() + 60000;
    int keys[64];

    if (c == NULL || c->err != 0) {
        w->errors++;
        note(w->first, sizeof(w->first), "connect: %s",
             c != NULL ? c->errstr : "oom");
        if (c != NULL) {
            redisFree(c);
        }
        return NULL;
    }
    redisSetTimeout(c, tv);
    while (!stopping() && w->reads < w->max_reads &&
           replcheck_now_ms() < deadline) {
        long long t0 = replcheck_now_ms();
        long long t;
        int i;

        for (i = 0; i < w->pipeline && i < 64; i++) {
            keys[i] = (int)(rand_r(&seed) % (unsigned int)w->nkeys);
            redisAppendCommand(c, "GET %s_%d", w->prefix, keys[i]);
        }
        for (i = 0; i < w->pipeline && i < 64; i++) {
            redisReply *r = NULL;
            char want[32];

            if (redisGetReply(c, (void **)&r) != REDIS_OK) {
                w->errors++;
                note(w->first, sizeof(w->first), "GET: %s (after %lld ms)",
                     c->errstr, replcheck_now_ms() - t0);
                redisFree(c);
                return NULL;
            }
            snprintf(want, sizeof(want), "val_%d", keys[i]);
            w->reads++;
            if (r->type == REDIS_REPLY_ERROR) {
                w->errors++;
                note(w->first, sizeof(w->first), "GET %s_%d: %s", w->prefix,
                     keys[i], r->str);
            } else if (r->type != REDIS_REPLY_STRING ||
                       strcmp(r->str, want) != 0) {
                w->wrong++;
                note(w->first, sizeof(w->first), "GET %s_%d: type %d \"%s\"",
                     w->prefix, keys[i], r->type,
                     r->str != NULL ? r->str : "");
            }
            freeReplyObject(r);
        }
        t = replcheck_now_ms() - t0;
        if (t > w->max_ms) {
            w->max_ms = t;
        }
        if (t > READ_BOUND_MS) {
            w->slow++;
        }
    }
    redisFree(c);
    return NULL;
}

/* A client that keeps writing w_<n> (so that a stopped replica's lag
 * grows). */
struct writer {
    pthread_t thread;
    int       port;
    long      writes;
    long      errors;
    char      first[256];
};

static void *
writer_main(void *arg)
{
    struct writer *w = arg;
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", w->port, tv);
    long long deadline = replcheck_now_ms() + 60000;

    if (c == NULL || c->err != 0) {
        w->errors++;
        note(w->first, sizeof(w->first), "connect");
        if (c != NULL) {
            redisFree(c);
        }
        return NULL;
    }
    redisSetTimeout(c, tv);
    while (!stopping() && replcheck_now_ms() < deadline) {
        redisReply *r;
        int i;

        for (i = 0; i < 8; i++) {
            redisAppendCommand(c, "SET w_%ld x%ld", w->writes + i,
                               w->writes + i);
        }
        for (i = 0; i < 8; i++) {
            r = NULL;
            if (redisGetReply(c, (void **)&r) != REDIS_OK) {
                w->errors++;
                note(w->first, sizeof(w->first), "SET: %s", c->errstr);
                redisFree(c);
                return NULL;
            }
            if (r->type != REDIS_REPLY_STATUS) {
                w->errors++;
                note(w->first, sizeof(w->first), "SET: type %d %s", r->type,
                     r->str != NULL ? r->str : "");
            }
            freeReplyObject(r);
        }
        w->writes += 8;
        replcheck_sleep_ms(2);
    }
    redisFree(c);
    return NULL;
}

static void
readers_start(struct reader *rd, int n, const char *prefix, int nkeys,
              int pipeline, long max_reads)
{
    int i;

    for (i = 0; i < n; i++) {
        memset(&rd[i], 0, sizeof(rd[i]));
        rd[i].id = i;
        rd[i].port = F.tandem.port;
        rd[i].prefix = prefix;
        rd[i].nkeys = nkeys;
        rd[i].pipeline = pipeline;
        rd[i].max_reads = max_reads;
        ck_assert_int_eq(pthread_create(&rd[i].thread, NULL, reader_main,
                                        &rd[i]), 0);
    }
}

/* Joins the readers and asserts every read was right; returns the reads
 * and the slowest round trip. */
static long
readers_join(struct reader *rd, int n, const char *what, long long *max_ms)
{
    long total = 0;
    int i;

    for (i = 0; i < n; i++) {
        pthread_join(rd[i].thread, NULL);
    }
    *max_ms = 0;
    for (i = 0; i < n; i++) {
        ck_assert_msg(rd[i].errors == 0 && rd[i].wrong == 0,
                      "%s: reader %d: %ld errors, %ld wrong replies; first: "
                      "%s", what, i, rd[i].errors, rd[i].wrong, rd[i].first);
        total += rd[i].reads;
        if (rd[i].max_ms > *max_ms) {
            *max_ms = rd[i].max_ms;
        }
    }
    return total;
}

/* ---- (a) zero stale reads -------------------------------------------- */

#define RW_CLIENTS 20
#define RW_SECONDS 10

static void *
stopper_main(void *arg)
{
    long *stops = arg;
    int k = 0;

    /* Every ~3 s: one replica SIGSTOPped for ~1.5 s, alternately. */
    while (!stopping()) {
        int i;

        for (i = 0; i < 15 && !stopping(); i++) {
            replcheck_sleep_ms(100);
        }
        if (stopping()) {
            break;
        }
        harness_signal(&F.replica[k], SIGSTOP);
        (*stops)++;
        for (i = 0; i < 15 && !stopping(); i++) {
            replcheck_sleep_ms(100);
        }
        harness_signal(&F.replica[k], SIGCONT);
        k ^= 1;
    }
    return NULL;
}

START_TEST(test_no_stale_reads)
{
    struct rw_worker w[RW_CLIENTS];
    struct counters before, after;
    pthread_t stopper;
    long stops = 0;
    long checked = 0;
    long long max_ms = 0;
    long long served;
    int i;

    reads_fleet_start(NULL);
    counters_read(&before);
    for (i = 0; i < RW_CLIENTS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].id = i;
        w[i].port = F.tandem.port;
        ck_assert_int_eq(pthread_create(&w[i].thread, NULL, rw_main, &w[i]),
                         0);
    }
    ck_assert_int_eq(pthread_create(&stopper, NULL, stopper_main, &stops), 0);
    replcheck_sleep_ms(RW_SECONDS * 1000);
    set_stop(1);
    for (i = 0; i < RW_CLIENTS; i++) {
        pthread_join(w[i].thread, NULL);
    }
    pthread_join(stopper, NULL);
    for (i = 0; i < NREPLICAS; i++) {
        harness_signal(&F.replica[i], SIGCONT);
    }
    counters_read(&after);
    for (i = 0; i < RW_CLIENTS; i++) {
        checked += w[i].checked;
        if (w[i].max_ms > max_ms) {
            max_ms = w[i].max_ms;
        }
    }
    served = (after.primary - before.primary) +
             (after.replicas - before.replicas);
    printf("no stale reads: %ld reads checked by %d clients in %d s, "
           "%ld replica stops; %.1f%% of %lld reads routed to replicas "
           "(replica 0: %lld served, %lld sent on to the primary; replica "
           "1: %lld, %lld); slowest SET+GET %lld ms\n",
           checked, RW_CLIENTS, RW_SECONDS, stops,
           share(after.replicas - before.replicas, served), served,
           after.reads[0] - before.reads[0],
           after.to_primary[0] - before.to_primary[0],
           after.reads[1] - before.reads[1],
           after.to_primary[1] - before.to_primary[1], max_ms);
    fflush(stdout);
    for (i = 0; i < RW_CLIENTS; i++) {
        ck_assert_msg(w[i].stale == 0 && w[i].errors == 0,
                      "client %d: %ld stale reads, %ld errors of %ld; first: "
                      "%s", i, w[i].stale, w[i].errors, w[i].checked,
                      w[i].first);
    }
    ck_assert_msg(checked > 1000, "only %ld reads checked", checked);
    ck_assert_msg(stops >= 2, "only %ld replica stops", stops);
    ck_assert_msg(after.replicas > before.replicas,
                  "no read was routed to a replica");
    compare_all("no stale reads");
}
END_TEST

/* ---- (b) read-heavy load goes to the replicas ------------------------ */

#define READERS 20

START_TEST(test_reads_on_replicas)
{
    struct reader rd[READERS];
    struct counters before, after;
    long long max_ms;
    long long p, r;
    long total;
    long long t0;

    reads_fleet_start(NULL);
    populate("rk", 1000);
    counters_read(&before);
    t0 = replcheck_now_ms();
    readers_start(rd, READERS, "rk", 1000, 8, 2000);
    total = readers_join(rd, READERS, "read-heavy", &max_ms);
    counters_read(&after);
    p = after.primary - before.primary;
    r = after.replicas - before.replicas;
    printf("read-heavy: %ld GETs by %d clients in %lld ms; %.1f%% served by "
           "replicas (%lld on replicas: %lld + %lld, %lld on the primary)\n",
           total, READERS, replcheck_now_ms() - t0, share(r, p + r), r,
           after.reads[0] - before.reads[0],
           after.reads[1] - before.reads[1], p);
    fflush(stdout);
    ck_assert_int_eq(total, READERS * 2000);
    ck_assert_msg(p + r >= total, "counters saw %lld reads, %ld were sent",
                  p + r, total);
    ck_assert_msg(share(r, p + r) >= 90.0,
                  "only %.1f%% of reads served by replicas", share(r, p + r));
    ck_assert_msg(after.reads[0] > before.reads[0] &&
                      after.reads[1] > before.reads[1],
                  "both replicas must serve reads (%lld, %lld)",
                  after.reads[0] - before.reads[0],
                  after.reads[1] - before.reads[1]);
    compare_all("read-heavy");
}
END_TEST

/* ---- (c) a stopped replica stops receiving reads --------------------- */

#define STALL_READERS 8

/* Runs readers (and a writer when `writes`), SIGSTOPs replica 0, and
 * checks that within MAX_LAG_MS + 1 s it gets no more reads while every
 * read still succeeds within READ_BOUND_MS. */
static void
stopped_replica(const char *what, int writes)
{
    struct reader rd[STALL_READERS];
    struct writer wr;
    struct counters before, stop, settled, end, cont;
    long long t_stop;
    long long max_ms;
    long total;
    long long deadline;
    int i;

    reads_fleet_start(NULL);
    populate("sk", 200);
    memset(&wr, 0, sizeof(wr));
    wr.port = F.tandem.port;
    if (writes) {
        ck_assert_int_eq(pthread_create(&wr.thread, NULL, writer_main, &wr),
                         0);
    }
    counters_read(&before);
    readers_start(rd, STALL_READERS, "sk", 200, 4, 1L << 40);
    replcheck_sleep_ms(1000);
    counters_read(&stop);
    harness_signal(&F.replica[0], SIGSTOP);
    t_stop = replcheck_now_ms();
    replcheck_sleep_ms(READ_BOUND_MS);
    counters_read(&settled);
    while (replcheck_now_ms() < t_stop + READ_BOUND_MS + 2000) {
        replcheck_sleep_ms(50);
    }
    counters_read(&end);
    set_stop(1);
    total = readers_join(rd, STALL_READERS, what, &max_ms);
    if (writes) {
        pthread_join(wr.thread, NULL);
        ck_assert_msg(wr.errors == 0, "%s: writer: %ld errors; first: %s",
                      what, wr.errors, wr.first);
    }
    printf("%s: %ld GETs%s%s; replica 0 served %lld before the stop, then "
           "%lld + %lld, %lld sent on to the primary (read_link %s, %s); "
           "replica 1 served %lld; primary %lld; slowest read round trip "
           "%lld ms\n", what, total, writes ? " and SETs" : "",
           writes ? "" : " (no writes)",
           stop.reads[0] - before.reads[0],
           settled.reads[0] - stop.reads[0], end.reads[0] - settled.reads[0],
           end.to_primary[0] - stop.to_primary[0], settled.link[0],
           end.link[0], end.reads[1] - stop.reads[1],
           end.primary - stop.primary, max_ms);
    fflush(stdout);
    ck_assert_msg(stop.reads[0] > before.reads[0],
                  "%s: replica 0 served no reads before it was stopped",
                  what);
    ck_assert_msg(end.reads[0] == settled.reads[0] &&
                      end.to_primary[0] == settled.to_primary[0],
                  "%s: replica 0 still gets reads %d ms after SIGSTOP "
                  "(reads %lld -> %lld, reads_to_primary %lld -> %lld)",
                  what, READ_BOUND_MS, settled.reads[0], end.reads[0],
                  settled.to_primary[0], end.to_primary[0]);
    ck_assert_msg(strcmp(end.link[0], "down") == 0,
                  "%s: replica 0 read_link=%s while stopped", what,
                  end.link[0]);
    ck_assert_msg(end.reads[1] > settled.reads[1] ||
                      end.primary > settled.primary,
                  "%s: no reads served after the stop", what);
    ck_assert_msg(max_ms <= READ_BOUND_MS,
                  "%s: a read took %lld ms (bound %d ms)", what, max_ms,
                  READ_BOUND_MS);
    if (!writes) {
        /* With no writes its lag stays 0: the reads it held when it
         * stopped must have gone to the primary at the deadline. */
        ck_assert_msg(end.to_primary[0] > stop.to_primary[0],
                      "%s: no read was moved from the stopped replica to "
                      "the primary", what);
    }

    /* Back: it serves reads again. */
    harness_signal(&F.replica[0], SIGCONT);
    wait_synced();
    {
        redisContext *c = harness_connect(F.tandem.port);
        char v[64];

        deadline = replcheck_now_ms() + 10000;
        do {
            for (i = 0; i < 20; i++) {
                char want[32];

                snprintf(want, sizeof(want), "val_%d", i);
                cmd_str(c, v, sizeof(v), "GET sk_%d", i);
                ck_assert_str_eq(v, want);
            }
            counters_read(&cont);
        } while (cont.reads[0] == end.reads[0] &&
                 replcheck_now_ms() < deadline);
        redisFree(c);
    }
    ck_assert_msg(cont.reads[0] > end.reads[0],
                  "%s: replica 0 serves no reads after SIGCONT (%s)", what,
                  cont.link[0]);
    compare_all(what);
}

START_TEST(test_stopped_replica_with_writes)
{
    stopped_replica("stopped replica, writes", 1);
}
END_TEST

START_TEST(test_stopped_replica_no_writes)
{
    stopped_replica("stopped replica, no writes", 0);
}
END_TEST

/* ---- (d) cursors stay on the primary ---------------------------------- */

#define SCAN_KEYS 500
#define MEMBERS 300

/* Iterates a cursor command from 0 back to 0 (bounded); fn gets each
 * returned element (pairs for HSCAN/ZSCAN: element i and i+1). Returns
 * the number of calls. */
static int
full_scan(redisContext *c, const char *what, const char *fmt_key,
          void (*fn)(const redisReply *elems, void *arg), void *arg)
{
    char cursor[32] = "0";
    int calls = 0;

    do {
        redisReply *r;

        if (fmt_key == NULL) {
            r = cmd(c, "SCAN %s COUNT 37", cursor);
        } else {
            r = cmd(c, "%s %s %s COUNT 37", what, fmt_key, cursor);
        }
        ck_assert_msg(r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                          r->element[0]->type == REDIS_REPLY_STRING &&
                          r->element[1]->type == REDIS_REPLY_ARRAY,
                      "%s: unexpected reply type %d %s", what, r->type,
                      r->str != NULL ? r->str : "");
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        fn(r->element[1], arg);
        freeReplyObject(r);
        calls++;
    } while (strcmp(cursor, "0") != 0 && calls < 100000);
    ck_assert_msg(strcmp(cursor, "0") == 0, "%s: no end after %d calls",
                  what, calls);
    return calls;
}

struct seen {
    int  counts[SCAN_KEYS + 8];
    int  bad;
    int  pairs;         /* HSCAN/ZSCAN: field/value pairs */
    char first_bad[128];
};

/* Index of "<prefix><n>" with n < limit, or -1. */
static int
index_of(const char *s, const char *prefix, int limit)
{
    size_t pl = strlen(prefix);
    char *end;
    long v;

    if (strncmp(s, prefix, pl) != 0) {
        return -1;
    }
    v = strtol(s + pl, &end, 10);
    return *end == '\0' && end != s + pl && v >= 0 && v < limit ? (int)v
                                                                 : -1;
}

static void
see_key(const redisReply *e, void *arg)
{
    struct seen *s = arg;
    size_t i;

    for (i = 0; i < e->elements; i++) {
        const char *k = e->element[i]->str;
        int idx = index_of(k, "ck_", SCAN_KEYS);

        if (idx < 0) {
            idx = strcmp(k, "myset") == 0    ? SCAN_KEYS
                  : strcmp(k, "myhash") == 0 ? SCAN_KEYS + 1
                  : strcmp(k, "myzset") == 0 ? SCAN_KEYS + 2
                                             : -1;
        }
        if (idx < 0) {
            s->bad++;
            snprintf(s->first_bad, sizeof(s->first_bad), "%s", k);
            continue;
        }
        s->counts[idx]++;
    }
}

static void
see_member(const redisReply *e, void *arg)
{
    struct seen *s = arg;
    size_t i;

    for (i = 0; i < e->elements; i += (size_t)(s->pairs ? 2 : 1)) {
        const char *k = e->element[i]->str;
        int idx = index_of(k, "m", MEMBERS);

        if (idx >= 0 && s->pairs) {
            char want[32];

            /* HSCAN: value "v<i>"; ZSCAN: score i. */
            if (i + 1 >= e->elements) {
                idx = -1;
            } else {
                snprintf(want, sizeof(want), s->pairs == 1 ? "v%d" : "%d",
                         idx);
                if (strcmp(e->element[i + 1]->str, want) != 0) {
                    idx = -1;
                }
            }
        }
        if (idx < 0) {
            s->bad++;
            snprintf(s->first_bad, sizeof(s->first_bad), "%s", k);
            continue;
        }
        s->counts[idx]++;
    }
}

/* Asserts each of n counts is >= 1; returns the duplicates. */
static int
check_seen(const struct seen *s, int n, const char *what)
{
    int dups = 0;
    int i;

    ck_assert_msg(s->bad == 0, "%s: %d unexpected elements, e.g. \"%s\"",
                  what, s->bad, s->first_bad);
    for (i = 0; i < n; i++) {
        ck_assert_msg(s->counts[i] >= 1, "%s: element %d never returned",
                      what, i);
        dups += s->counts[i] - 1;
    }
    return dups;
}

START_TEST(test_cursors_on_primary)
{
    redisContext *w;
    redisContext *c;
    struct counters before, after, later;
    struct seen s;
    int calls[4];
    int dups[4];
    int i;
    char v[64];

    reads_fleet_start(NULL);
    w = harness_connect(F.tandem.port);
    for (i = 0; i < SCAN_KEYS; i++) {
        redisAppendCommand(w, "SET ck_%d %d", i, i);
    }
    for (i = 0; i < MEMBERS; i++) {
        redisAppendCommand(w, "SADD myset m%d", i);
        redisAppendCommand(w, "HSET myhash m%d v%d", i, i);
        redisAppendCommand(w, "ZADD myzset %d m%d", i, i);
    }
    for (i = 0; i < SCAN_KEYS + 3 * MEMBERS; i++) {
        redisReply *r = NULL;

        ck_assert_int_eq(redisGetReply(w, (void **)&r), REDIS_OK);
        ck_assert_msg(r->type != REDIS_REPLY_ERROR, "populate: %s", r->str);
        freeReplyObject(r);
    }
    ck_assert_int_eq(cmd_int(w, "WAIT 2 10000"), 2);
    redisFree(w);

    /* A client that never wrote: its reads may all go to replicas. */
    c = harness_connect(F.tandem.port);
    counters_read(&before);
    memset(&s, 0, sizeof(s));
    calls[0] = full_scan(c, "SCAN", NULL, see_key, &s);
    dups[0] = check_seen(&s, SCAN_KEYS + 3, "SCAN");
    memset(&s, 0, sizeof(s));
    calls[1] = full_scan(c, "SSCAN", "myset", see_member, &s);
    dups[1] = check_seen(&s, MEMBERS, "SSCAN");
    memset(&s, 0, sizeof(s));
    s.pairs = 1;
    calls[2] = full_scan(c, "HSCAN", "myhash", see_member, &s);
    dups[2] = check_seen(&s, MEMBERS, "HSCAN");
    memset(&s, 0, sizeof(s));
    s.pairs = 2;
    calls[3] = full_scan(c, "ZSCAN", "myzset", see_member, &s);
    dups[3] = check_seen(&s, MEMBERS, "ZSCAN");
    counters_read(&after);
    printf("cursors: SCAN %d calls (%d duplicates), SSCAN %d (%d), HSCAN %d "
           "(%d), ZSCAN %d (%d); reads routed to replicas meanwhile: %lld, "
           "served by replicas: %lld + %lld\n",
           calls[0], dups[0], calls[1], dups[1], calls[2], dups[2], calls[3],
           dups[3], after.replicas - before.replicas,
           after.reads[0] - before.reads[0],
           after.reads[1] - before.reads[1]);
    fflush(stdout);
    ck_assert_msg(after.replicas == before.replicas &&
                      after.reads[0] == before.reads[0] &&
                      after.reads[1] == before.reads[1],
                  "cursor commands reached replicas");
    ck_assert_msg(dups[0] + dups[1] + dups[2] + dups[3] == 0,
                  "cursors returned duplicates (no writes ran meanwhile)");

    /* The same client's plain reads do go to replicas (the counters and
     * the routing work for it). */
    for (i = 0; i < 20; i++) {
        cmd_str(c, v, sizeof(v), "GET ck_%d", i);
        ck_assert_msg(atoi(v) == i, "GET ck_%d: %s", i, v);
    }
    counters_read(&later);
    ck_assert_msg(later.replicas >= after.replicas + 20,
                  "plain GETs of the same client were not routed to "
                  "replicas (%lld)", later.replicas - after.replicas);
    redisFree(c);
    compare_all("cursors");
}
END_TEST

/* ---- (e) reply order across backends ---------------------------------- */

#define ORDER_CMDS 1000
#define ORDER_KEYS 50

struct expect {
    int  type;          /* REDIS_REPLY_* */
    long long integer;
    char str[64];
    int  nelems;        /* MGET */
    char elems[3][64];
};

START_TEST(test_reply_order)
{
    static struct expect want[ORDER_CMDS];
    char wval[ORDER_KEYS][64];
    long long counter[ORDER_KEYS];
    struct counters before, after;
    redisContext *w;
    redisContext *c;
    unsigned int seed = 4242;
    int reads = 0, pipe_cmds = 0;
    int i;

    reads_fleet_start(NULL);
    w = harness_connect(F.tandem.port);
    for (i = 0; i < ORDER_KEYS; i++) {
        redisAppendCommand(w, "SET r_%d rv_%d", i, i);
        redisAppendCommand(w, "SET w_%d init_%d", i, i);
        redisAppendCommand(w, "SET c_%d %d", i, i * 10);
        snprintf(wval[i], sizeof(wval[i]), "init_%d", i);
        counter[i] = i * 10;
    }
    for (i = 0; i < 3 * ORDER_KEYS; i++) {
        redisReply *r = NULL;

        ck_assert_int_eq(redisGetReply(w, (void **)&r), REDIS_OK);
        freeReplyObject(r);
    }
    ck_assert_int_eq(cmd_int(w, "WAIT 2 10000"), 2);
    redisFree(w);

    c = harness_connect(F.tandem.port);
    counters_read(&before);
    /* First half: reads (to replicas) among PING/ECHO (to the primary);
     * second half: writes too. */
    for (i = 0; i < ORDER_CMDS; i++) {
        struct expect *e = &want[i];
        int kind = (int)(rand_r(&seed) % (i < ORDER_CMDS / 2 ? 5 : 8));
        int a = (int)(rand_r(&seed) % ORDER_KEYS);
        int b = (int)(rand_r(&seed) % ORDER_KEYS);

        memset(e, 0, sizeof(*e));
        switch (kind) {
        case 0:     /* GET of a key no one writes */
            redisAppendCommand(c, "GET r_%d", a);
            e->type = REDIS_REPLY_STRING;
            snprintf(e->str, sizeof(e->str), "rv_%d", a);
            reads++;
            break;
        case 1:     /* GET of a key this client may have written */
            redisAppendCommand(c, "GET w_%d", a);
            e->type = REDIS_REPLY_STRING;
            snprintf(e->str, sizeof(e->str), "%s", wval[a]);
            reads++;
            break;
        case 2:
            redisAppendCommand(c, "MGET r_%d w_%d nokey_%d", a, b, a);
            e->type = REDIS_REPLY_ARRAY;
            e->nelems = 3;
            snprintf(e->elems[0], sizeof(e->elems[0]), "rv_%d", a);
            snprintf(e->elems[1], sizeof(e->elems[1]), "%s", wval[b]);
            e->elems[2][0] = '\0';      /* nil */
            reads++;
            break;
        case 3:
            if (i % 2) {
                redisAppendCommand(c, "PING");
                e->type = REDIS_REPLY_STATUS;
                snprintf(e->str, sizeof(e->str), "PONG");
            } else {
                redisAppendCommand(c, "ECHO e_%d", i);
                e->type = REDIS_REPLY_STRING;
                snprintf(e->str, sizeof(e->str), "e_%d", i);
            }
            pipe_cmds++;
            break;
        case 4:
            redisAppendCommand(c, "EXISTS r_%d nokey w_%d c_%d", a, b, a);
            e->type = REDIS_REPLY_INTEGER;
            e->integer = 3;
            reads++;
            break;
        case 5:
        case 6:
            snprintf(wval[a], sizeof(wval[a]), "set_%d", i);
            redisAppendCommand(c, "SET w_%d %s", a, wval[a]);
            e->type = REDIS_REPLY_STATUS;
            snprintf(e->str, sizeof(e->str), "OK");
            pipe_cmds++;
            break;
        default:
            counter[a]++;
            redisAppendCommand(c, "INCR c_%d", a);
            e->type = REDIS_REPLY_INTEGER;
            e->integer = counter[a];
            pipe_cmds++;
            break;
        }
    }
    for (i = 0; i < ORDER_CMDS; i++) {
        const struct expect *e = &want[i];
        redisReply *r = NULL;

        ck_assert_msg(redisGetReply(c, (void **)&r) == REDIS_OK,
                      "reply %d: %s", i, c->errstr);
        ck_assert_msg(r->type == e->type,
                      "reply %d: type %d \"%s\", expected type %d \"%s\"", i,
                      r->type, r->str != NULL ? r->str : "", e->type, e->str);
        if (e->type == REDIS_REPLY_INTEGER) {
            ck_assert_msg(r->integer == e->integer,
                          "reply %d: %lld, expected %lld", i, r->integer,
                          e->integer);
        } else if (e->type == REDIS_REPLY_ARRAY) {
            size_t j;

            ck_assert_msg(r->elements == (size_t)e->nelems,
                          "reply %d: %zu elements", i, r->elements);
            for (j = 0; j < r->elements; j++) {
                const redisReply *x = r->element[j];

                if (e->elems[j][0] == '\0') {
                    ck_assert_msg(x->type == REDIS_REPLY_NIL,
                                  "reply %d element %zu: type %d", i, j,
                                  x->type);
                } else {
                    ck_assert_msg(x->type == REDIS_REPLY_STRING &&
                                      strcmp(x->str, e->elems[j]) == 0,
                                  "reply %d element %zu: \"%s\", expected "
                                  "\"%s\"", i, j,
                                  x->str != NULL ? x->str : "(nil)",
                                  e->elems[j]);
                }
            }
        } else {
            ck_assert_msg(strcmp(r->str, e->str) == 0,
                          "reply %d: \"%s\", expected \"%s\"", i, r->str,
                          e->str);
        }
        freeReplyObject(r);
    }
    counters_read(&after);
    printf("reply order: %d commands in one pipeline (%d reads, %d to the "
           "pipe), all replies in order and right; reads routed to "
           "replicas %lld, to the primary %lld\n",
           ORDER_CMDS, reads, pipe_cmds, after.replicas - before.replicas,
           after.primary - before.primary);
    fflush(stdout);
    ck_assert_msg(after.replicas > before.replicas,
                  "no read of the pipeline went to a replica");
    ck_assert_msg(after.primary > before.primary,
                  "no read of the pipeline went to the primary");
    redisFree(c);
    compare_all("reply order");
}
END_TEST

/* ---- (f) read-policy and read-consistency ----------------------------- */

START_TEST(test_policy_primary)
{
    static const char *const extra[] = {"--read-policy", "primary", NULL};
    struct reader rd[8];
    struct counters before, after;
    long long max_ms;
    long total;

    reads_fleet_start(extra);
    populate("pk", 200);
    counters_read(&before);
    readers_start(rd, 8, "pk", 200, 8, 1000);
    total = readers_join(rd, 8, "read-policy primary", &max_ms);
    counters_read(&after);
    printf("read-policy primary: %ld GETs; served by the primary %lld, "
           "routed to replicas %lld (replicas served %lld + %lld)\n", total,
           after.primary - before.primary, after.replicas - before.replicas,
           after.reads[0], after.reads[1]);
    fflush(stdout);
    ck_assert_msg(after.replicas == before.replicas && after.reads[0] == 0 &&
                      after.reads[1] == 0 && after.to_primary[0] == 0 &&
                      after.to_primary[1] == 0,
                  "a read reached a replica under read-policy primary");
    ck_assert_msg(after.primary - before.primary >= total,
                  "reads_served_by_primary grew by %lld for %ld reads",
                  after.primary - before.primary, total);
    compare_all("read-policy primary");
}
END_TEST

START_TEST(test_consistency_eventual)
{
    static const char *const extra[] = {"--read-consistency", "eventual",
                                        NULL};
    struct rw_worker w[8];
    struct counters before, after;
    long checked = 0;
    long served = 0;
    int i;

    reads_fleet_start(extra);
    counters_read(&before);
    for (i = 0; i < 8; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].id = i;
        w[i].port = F.tandem.port;
        w[i].eventual = 1;
        ck_assert_int_eq(pthread_create(&w[i].thread, NULL, rw_main, &w[i]),
                         0);
    }
    replcheck_sleep_ms(2000);
    set_stop(1);
    for (i = 0; i < 8; i++) {
        pthread_join(w[i].thread, NULL);
        ck_assert_msg(w[i].errors == 0 && w[i].stale == 0,
                      "client %d: %ld errors, %ld impossible values; first: "
                      "%s", i, w[i].errors, w[i].stale, w[i].first);
        checked += w[i].checked;
    }
    counters_read(&after);
    for (i = 0; i < NREPLICAS; i++) {
        served += (long)(after.reads[i] - before.reads[i]);
    }
    printf("read-consistency eventual: %ld SET+GET rounds; %.1f%% of the "
           "GETs routed to replicas (served there: %ld)\n", checked,
           share(after.replicas - before.replicas,
                 after.replicas - before.replicas + after.primary -
                     before.primary), served);
    fflush(stdout);
    ck_assert_msg(checked > 100, "only %ld rounds", checked);
    /* Even a GET pipelined behind the client's own SET may go to a
     * replica. */
    ck_assert_msg(after.replicas - before.replicas > checked / 2,
                  "only %lld of %ld GETs routed to replicas",
                  after.replicas - before.replicas, checked);
    compare_all("read-consistency eventual");
}
END_TEST

START_TEST(test_policy_prefer_replica)
{
    static const char *const extra[] = {"--read-policy", "prefer-replica",
                                        NULL};
    struct reader rd[READERS];
    struct rw_worker w[4];
    struct counters before, after;
    long long max_ms;
    long total;
    int i;

    reads_fleet_start(extra);
    populate("fk", 500);
    counters_read(&before);
    for (i = 0; i < 4; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].id = i;
        w[i].port = F.tandem.port;
        ck_assert_int_eq(pthread_create(&w[i].thread, NULL, rw_main, &w[i]),
                         0);
    }
    readers_start(rd, READERS, "fk", 500, 8, 1000);
    total = readers_join(rd, READERS, "prefer-replica", &max_ms);
    set_stop(1);
    for (i = 0; i < 4; i++) {
        pthread_join(w[i].thread, NULL);
        ck_assert_msg(w[i].errors == 0 && w[i].stale == 0,
                      "writer client %d: %ld errors, %ld stale; first: %s",
                      i, w[i].errors, w[i].stale, w[i].first);
    }
    counters_read(&after);
    printf("read-policy prefer-replica: %ld GETs (+ own-write GETs); "
           "primary %lld, replicas %lld (%.1f%%)\n", total,
           after.primary - before.primary, after.replicas - before.replicas,
           share(after.replicas - before.replicas,
                 after.replicas - before.replicas + after.primary -
                     before.primary));
    fflush(stdout);
    ck_assert_msg(after.replicas > before.replicas,
                  "no read went to a replica under prefer-replica");
    ck_assert_msg(after.primary > before.primary,
                  "no read went to the primary under prefer-replica");
    ck_assert_msg(after.primary - before.primary + after.replicas -
                          before.replicas >= total,
                  "counters saw fewer reads than were sent");
    compare_all("read-policy prefer-replica");
}
END_TEST

/* ---- (g) read-only scripts and SORT_RO --------------------------------- */

#define GET_SCRIPT "return redis.call('GET', KEYS[1])"
#define PRIMARY_ONLY_SCRIPT "return redis.call('GET', KEYS[1]) .. '-p'"
#define LOADED_SCRIPT "return redis.call('GET', KEYS[1]) .. '-t'"

/* Loads a script directly on the primary (not through tandem) and checks
 * that neither replica has it. Returns its SHA1 in sha. */
static void
load_on_primary_only(const char *body, char *sha, size_t len)
{
    redisContext *p = harness_connect(F.primary.port);
    int i;

    cmd_str(p, sha, len, "SCRIPT LOAD %s", body);
    ck_assert_int_eq((int)strlen(sha), 40);
    redisFree(p);
    for (i = 0; i < NREPLICAS; i++) {
        redisContext *r = harness_connect(F.replica[i].port);
        redisReply *x = cmd(r, "SCRIPT EXISTS %s", sha);

        ck_assert_msg(x->type == REDIS_REPLY_ARRAY && x->elements == 1 &&
                          x->element[0]->integer == 0,
                      "replica %d already has the script", i);
        freeReplyObject(x);
        redisFree(r);
    }
}

START_TEST(test_ro_scripts)
{
    static const char *const sorted[] = {"1", "3", "5", "7", "9"};
    static const char *const alpha[] = {"carol", "bob"};
    static const char *const by[] = {"obj-c", "obj-a", "obj-b"};
    struct counters before, after, mid;
    redisContext *w;
    redisContext *c;
    redisReply *r;
    char sha_t[64], sha_p[64], v[128];
    int i;

    reads_fleet_start(NULL);
    w = harness_connect(F.tandem.port);
    cmd_status(w, "OK", "SET sk hello");
    cmd_int(w, "RPUSH nums 5 3 9 1 7");
    cmd_int(w, "RPUSH names alice carol bob");
    cmd_int(w, "RPUSH ids a b c");
    cmd_status(w, "OK", "MSET wt_a 2 wt_b 3 wt_c 1 obj_a obj-a obj_b obj-b "
                        "obj_c obj-c");
    cmd_str(w, sha_t, sizeof(sha_t), "SCRIPT LOAD %s", LOADED_SCRIPT);
    ck_assert_int_eq((int)strlen(sha_t), 40);
    ck_assert_int_eq(cmd_int(w, "WAIT 2 10000"), 2);
    redisFree(w);
    load_on_primary_only(PRIMARY_ONLY_SCRIPT, sha_p, sizeof(sha_p));

    c = harness_connect(F.tandem.port);
    counters_read(&before);
    for (i = 0; i < 10; i++) {
        cmd_str(c, v, sizeof(v), "EVAL_RO %s 1 sk", GET_SCRIPT);
        ck_assert_str_eq(v, "hello");
        r = cmd(c, "SORT_RO nums");
        assert_array(r, "SORT_RO nums", 5, sorted);
        freeReplyObject(r);
        r = cmd(c, "SORT_RO names ALPHA DESC LIMIT 0 2");
        assert_array(r, "SORT_RO names ALPHA DESC LIMIT 0 2", 2, alpha);
        freeReplyObject(r);
        r = cmd(c, "SORT_RO ids BY wt_* GET obj_*");
        assert_array(r, "SORT_RO ids BY wt_* GET obj_*", 3, by);
        freeReplyObject(r);
        /* Loaded through tandem: the replicas have it too. */
        cmd_str(c, v, sizeof(v), "EVALSHA_RO %s 1 sk", sha_t);
        ck_assert_str_eq(v, "hello-t");
    }
    counters_read(&mid);
    printf("read-only scripts: EVAL_RO, SORT_RO, EVALSHA_RO x10: routed to "
           "replicas %lld, served there %lld + %lld, sent on to the primary "
           "%lld + %lld\n", mid.replicas - before.replicas,
           mid.reads[0] - before.reads[0], mid.reads[1] - before.reads[1],
           mid.to_primary[0] - before.to_primary[0],
           mid.to_primary[1] - before.to_primary[1]);
    ck_assert_msg(mid.replicas - before.replicas == 50,
                  "%lld of 50 read-only commands routed to replicas",
                  mid.replicas - before.replicas);
    ck_assert_msg(mid.reads[0] + mid.reads[1] - before.reads[0] -
                          before.reads[1] == 50,
                  "replicas served %lld of 50",
                  mid.reads[0] + mid.reads[1] - before.reads[0] -
                      before.reads[1]);

    /* Only on the primary: the replica answers NOSCRIPT and tandem asks
     * the primary instead. */
    for (i = 0; i < 10; i++) {
        cmd_str(c, v, sizeof(v), "EVALSHA_RO %s 1 sk", sha_p);
        ck_assert_msg(strcmp(v, "hello-p") == 0, "EVALSHA_RO of a script "
                      "only the primary has: \"%s\"", v);
    }
    /* Nowhere: the primary's NOSCRIPT reaches the client. */
    cmd_str(c, v, sizeof(v),
            "EVALSHA_RO 0123456789012345678901234567890123456789 1 sk");
    ck_assert_msg(strncmp(v, "-NOSCRIPT", 9) == 0,
                  "EVALSHA_RO of an unknown script: \"%s\"", v);
    counters_read(&after);
    printf("read-only scripts: EVALSHA_RO of a primary-only script x10: "
           "right result; sent on to the primary %lld + %lld\n",
           after.to_primary[0] - mid.to_primary[0],
           after.to_primary[1] - mid.to_primary[1]);
    ck_assert_msg(after.to_primary[0] + after.to_primary[1] -
                          mid.to_primary[0] - mid.to_primary[1] >= 10,
                  "NOSCRIPT from replicas did not go on to the primary");

    /* FCALL_RO, when FUNCTION LOAD passes through tandem. */
    w = harness_connect(F.tandem.port);
    r = cmd(w, "FUNCTION LOAD %s",
            "#!lua name=rlib\n"
            "redis.register_function{function_name='rget', "
            "callback=function(keys, args) return redis.call('GET', "
            "keys[1]) end, flags={'no-writes'}}");
    if (r->type == REDIS_REPLY_STRING) {
        freeReplyObject(r);
        ck_assert_int_eq(cmd_int(w, "WAIT 2 10000"), 2);
        counters_read(&mid);
        for (i = 0; i < 10; i++) {
            cmd_str(c, v, sizeof(v), "FCALL_RO rget 1 sk");
            ck_assert_str_eq(v, "hello");
        }
        counters_read(&after);
        printf("read-only scripts: FCALL_RO x10: routed to replicas %lld, "
               "served there %lld\n", after.replicas - mid.replicas,
               after.reads[0] + after.reads[1] - mid.reads[0] -
                   mid.reads[1]);
    } else {
        printf("read-only scripts: FUNCTION LOAD through tandem: type %d "
               "%s; FCALL_RO skipped\n", r->type,
               r->str != NULL ? r->str : "");
        freeReplyObject(r);
    }
    fflush(stdout);
    redisFree(w);
    redisFree(c);
    compare_all("read-only scripts");
}
END_TEST

/* ---- a read sent to a replica, then a write of the same client --------- */

/*
 * Redis runs one connection's commands in order: GET k then SET k new
 * returns the old value. A read routed to a replica that must be retried
 * on the primary (NOSCRIPT here) must still see the data as it was before
 * the client's later commands.
 */
START_TEST(test_retry_keeps_order)
{
    redisContext *w;
    redisContext *c;
    redisReply *r[3];
    char sha[64];
    int i;

    reads_fleet_start(NULL);
    w = harness_connect(F.tandem.port);
    cmd_status(w, "OK", "SET ok old");
    ck_assert_int_eq(cmd_int(w, "WAIT 2 10000"), 2);
    redisFree(w);
    load_on_primary_only(PRIMARY_ONLY_SCRIPT, sha, sizeof(sha));

    c = harness_connect(F.tandem.port);
    redisAppendCommand(c, "EVALSHA_RO %s 1 ok", sha);
    redisAppendCommand(c, "SET ok new");
    redisAppendCommand(c, "GET ok");
    for (i = 0; i < 3; i++) {
        r[i] = NULL;
        ck_assert_int_eq(redisGetReply(c, (void **)&r[i]), REDIS_OK);
    }
    printf("retry order: EVALSHA_RO (primary-only script) | SET | GET in "
           "one write: \"%s\" | \"%s\" | \"%s\"\n",
           r[0]->str != NULL ? r[0]->str : "?",
           r[1]->str != NULL ? r[1]->str : "?",
           r[2]->str != NULL ? r[2]->str : "?");
    fflush(stdout);
    ck_assert_msg(r[0]->type == REDIS_REPLY_STRING &&
                      strcmp(r[0]->str, "old-p") == 0,
                  "EVALSHA_RO sent before SET saw \"%s\", expected "
                  "\"old-p\"", r[0]->str != NULL ? r[0]->str : "?");
    ck_assert_msg(r[1]->type == REDIS_REPLY_STATUS, "SET: type %d",
                  r[1]->type);
    ck_assert_msg(r[2]->type == REDIS_REPLY_STRING &&
                      strcmp(r[2]->str, "new") == 0,
                  "GET after SET: \"%s\"", r[2]->str != NULL ? r[2]->str
                                                          : "?");
    for (i = 0; i < 3; i++) {
        freeReplyObject(r[i]);
    }
    redisFree(c);
    compare_all("retry order");
}
END_TEST

/* The same with a read held by a stalled replica past its deadline: both
 * replicas are stopped (no writes, so their lag stays 0), the client
 * pipelines GET then SET of the same key. */
START_TEST(test_stall_keeps_order)
{
    redisContext *w;
    redisContext *c;
    redisReply *r[3];
    long long t0;
    int i;

    reads_fleet_start(NULL);
    w = harness_connect(F.tandem.port);
    cmd_status(w, "OK", "SET sok old");
    ck_assert_int_eq(cmd_int(w, "WAIT 2 10000"), 2);
    redisFree(w);

    c = harness_connect(F.tandem.port);
    for (i = 0; i < NREPLICAS; i++) {
        harness_signal(&F.replica[i], SIGSTOP);
    }
    t0 = replcheck_now_ms();
    redisAppendCommand(c, "GET sok");
    redisAppendCommand(c, "SET sok new");
    redisAppendCommand(c, "GET sok");
    for (i = 0; i < 3; i++) {
        r[i] = NULL;
        ck_assert_int_eq(redisGetReply(c, (void **)&r[i]), REDIS_OK);
    }
    t0 = replcheck_now_ms() - t0;
    for (i = 0; i < NREPLICAS; i++) {
        harness_signal(&F.replica[i], SIGCONT);
    }
    printf("stall order: GET | SET | GET in one write, both replicas "
           "stopped: \"%s\" | \"%s\" | \"%s\" in %lld ms\n",
           r[0]->str != NULL ? r[0]->str : "?",
           r[1]->str != NULL ? r[1]->str : "?",
           r[2]->str != NULL ? r[2]->str : "?", t0);
    fflush(stdout);
    ck_assert_msg(t0 <= READ_BOUND_MS, "the pipeline took %lld ms", t0);
    ck_assert_msg(r[0]->type == REDIS_REPLY_STRING &&
                      strcmp(r[0]->str, "old") == 0,
                  "GET sent before SET saw \"%s\", expected \"old\"",
                  r[0]->str != NULL ? r[0]->str : "?");
    ck_assert_msg(r[2]->type == REDIS_REPLY_STRING &&
                      strcmp(r[2]->str, "new") == 0,
                  "GET after SET: \"%s\"", r[2]->str != NULL ? r[2]->str
                                                          : "?");
    for (i = 0; i < 3; i++) {
        freeReplyObject(r[i]);
    }
    redisFree(c);
    compare_all("stall order");
}
END_TEST

/* ---- read-only commands that still change the data ---------------------- */

/*
 * PFCOUNT is flagged readonly (and may-replicate): it stores the
 * cardinality it computed in the HyperLogLog's header. Routed to a
 * replica, it changes that replica's copy of the key only; the replicas
 * must still hold exactly what the primary holds.
 */
START_TEST(test_pfcount_keeps_replicas_equal)
{
    struct counters before, after;
    redisContext *w;
    redisContext *c;
    int i;

    reads_fleet_start(NULL);
    w = harness_connect(F.tandem.port);
    ck_assert_int_eq(cmd_int(w, "PFADD hll a b c d e"), 1);
    ck_assert_int_eq(cmd_int(w, "WAIT 2 10000"), 2);
    redisFree(w);
    c = harness_connect(F.tandem.port);
    counters_read(&before);
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(cmd_int(c, "PFCOUNT hll"), 5);
    }
    counters_read(&after);
    printf("pfcount: 4 PFCOUNTs routed to replicas %lld, to the primary "
           "%lld\n", after.replicas - before.replicas,
           after.primary - before.primary);
    fflush(stdout);
    redisFree(c);
    compare_all("pfcount");
}
END_TEST

/*
 * FCALL_RO of a function that only the primary has (loaded on it
 * directly, not through tandem): the replica answers "Function not
 * found"; like EVALSHA_RO's NOSCRIPT, the primary must answer instead.
 */
START_TEST(test_fcall_ro_primary_only)
{
    redisContext *p;
    redisContext *w;
    redisContext *c;
    char v[128];
    int i;

    reads_fleet_start(NULL);
    w = harness_connect(F.tandem.port);
    cmd_status(w, "OK", "SET fk fv");
    ck_assert_int_eq(cmd_int(w, "WAIT 2 10000"), 2);
    redisFree(w);
    p = harness_connect(F.primary.port);
    cmd_str(p, v, sizeof(v), "FUNCTION LOAD %s",
            "#!lua name=plib\n"
            "redis.register_function{function_name='pget', "
            "callback=function(keys, args) return redis.call('GET', "
            "keys[1]) end, flags={'no-writes'}}");
    ck_assert_str_eq(v, "plib");
    redisFree(p);
    c = harness_connect(F.tandem.port);
    for (i = 0; i < 4; i++) {
        cmd_str(c, v, sizeof(v), "FCALL_RO pget 1 fk");
        ck_assert_msg(strcmp(v, "fv") == 0, "FCALL_RO of a function only "
                      "the primary has: \"%s\"", v);
    }
    redisFree(c);
    compare_all("fcall_ro primary only");
}
END_TEST

/* One case per test, so that CK_RUN_CASE=<name> runs one alone. */
/*
 * The primary dies: reads a replica may serve go on being served (as a
 * Redis replica with replica-serve-stale-data yes), with the data the
 * client wrote; writes get the "unavailable" error at once, and nothing
 * hangs. When the primary is back, writes go on.
 */
START_TEST(test_reads_served_while_the_primary_is_down)
{
    redisContext *c;
    redisReply *r;
    int i;
    long long t0;

    reads_fleet_start(NULL);
    c = harness_connect(F.tandem.port);
    for (i = 0; i < 100; i++) {
        cmd_status(c, "OK", "SET down:%d v%d", i, i);
    }
    ck_assert_int_eq(cmd_int(c, "WAIT 2 5000"), 2);
    harness_signal(&F.primary, SIGKILL);
    ck_assert_int_eq(harness_wait_exit(&F.primary, 5000), 128 + SIGKILL);
    /* For 3 s: every read answered from a replica, every write refused. */
    t0 = replcheck_now_ms();
    for (i = 0; replcheck_now_ms() - t0 < 3000; i++) {
        long long t1 = replcheck_now_ms();
        char want[16];

        snprintf(want, sizeof(want), "v%d", i % 100);
        r = redisCommand(c, "GET down:%d", i % 100);
        ck_assert_ptr_nonnull(r);
        ck_assert_msg(r->type == REDIS_REPLY_STRING &&
                          strcmp(r->str, want) == 0,
                      "GET %d while the primary is down: type %d %s", i,
                      r->type, r->str != NULL ? r->str : "");
        freeReplyObject(r);
        ck_assert_msg(replcheck_now_ms() - t1 < 1000, "a read took %lld ms",
                      replcheck_now_ms() - t1);
        if (i % 10 == 0) {
            r = redisCommand(c, "SET down:w %d", i);
            /* "lost the connection": tandem had not yet seen the crash
             * when the first SET came, and sent it. */
            ck_assert_msg(r != NULL && r->type == REDIS_REPLY_ERROR &&
                              (strstr(r->str, "unavailable") != NULL ||
                               (i == 0 &&
                                strstr(r->str, "lost the connection") !=
                                    NULL)),
                          "a write while the primary is down: %s",
                          r != NULL && r->str != NULL ? r->str : "?");
            freeReplyObject(r);
        }
        usleep(5000);
    }
    printf("reads while the primary is down: %d reads served by replicas "
           "in 3 s\n", i);
    ck_assert_msg(replcheck_restart_redis(&F.primary, NULL) == 0,
                  "can't restart the primary");
    /* It came back empty: tandem holds it (its data is on the replicas),
     * and reads still come from them. */
    t0 = replcheck_now_ms();
    for (;;) {
        const char *s = harness_info_field(c, "primary",
                                           "primary_link_status");

        if (s != NULL && strcmp(s, "held") == 0) {
            break;
        }
        ck_assert_msg(replcheck_now_ms() - t0 < 10000, "not held in 10 s");
        usleep(50000);
    }
    r = redisCommand(c, "GET down:7");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_str_eq(r->str, "v7");
    freeReplyObject(r);
    redisFree(c);
}
END_TEST

static void
add_case(Suite *s, const char *name, const TTest *test)
{
    harness_add_case(s, name, test, NULL, teardown, 120);
}

int
main(void)
{
    Suite *s = suite_create("reads");

    add_case(s, "no_stale_reads", test_no_stale_reads);
    add_case(s, "primary_down", test_reads_served_while_the_primary_is_down);
    add_case(s, "reads_on_replicas", test_reads_on_replicas);
    add_case(s, "stopped_replica_writes", test_stopped_replica_with_writes);
    add_case(s, "stopped_replica_no_writes", test_stopped_replica_no_writes);
    add_case(s, "cursors", test_cursors_on_primary);
    add_case(s, "reply_order", test_reply_order);
    add_case(s, "policy_primary", test_policy_primary);
    add_case(s, "consistency_eventual", test_consistency_eventual);
    add_case(s, "policy_prefer_replica", test_policy_prefer_replica);
    add_case(s, "ro_scripts", test_ro_scripts);
    add_case(s, "retry_keeps_order", test_retry_keeps_order);
    add_case(s, "stall_keeps_order", test_stall_keeps_order);
    add_case(s, "pfcount", test_pfcount_keeps_replicas_equal);
    add_case(s, "fcall_ro_primary_only", test_fcall_ro_primary_only);
    return harness_run_suite(s);
}
