/*
 * test_replication.c -- integration: the replication stream end to end
 * (DESIGN I3-I7, section 3 "Deterministic effects", section 8 "Tests").
 *
 * Every test starts a fresh, empty fleet: a primary, two replicas and the
 * real tandem binary with both replicas (an empty replica in front of a
 * primary that was empty when tandem started replays the stream from
 * offset 0, so both come online at once). Clients talk to tandem with
 * hiredis; the replicas are read directly to see what the stream did.
 * Every test ends by comparing each replica that must be in sync with
 * the primary, key by key, in every database (replcheck.c): zero
 * differences.
 *
 * Processes are stopped by PID only; a SIGSTOPped replica is always sent
 * SIGCONT in the teardown (harness_stop sends it too).
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "replcheck.h"

#define NREPLICAS 2

static struct fleet F;

static const char *const aof_args[] = {"--appendonly", "yes",
                                       "--appendfsync", "always", NULL};

/* ---- fleet -------------------------------------------------------- */

static void
teardown(void)
{
    fleet_teardown(&F);
}

/* ---- commands ----------------------------------------------------- */





/* Asserts an error reply that starts with want. */
static void
cmd_error(redisContext *c, const char *want, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    ck_assert_msg(r != NULL, "%s: %s", fmt, c->errstr);
    ck_assert_msg(r->type == REDIS_REPLY_ERROR &&
                      strncmp(r->str, want, strlen(want)) == 0,
                  "%s: expected -%s..., got type %d \"%s\"", fmt, want,
                  r->type, r->str != NULL ? r->str : "");
    freeReplyObject(r);
}

static redisContext *
replica_conn(int i, int db)
{
    redisContext *c = harness_connect(F.replica[i].port);

    if (db != 0) {
        cmd_status(c, "OK", "SELECT %d", db);
    }
    return c;
}

static long long
wall_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- checks ------------------------------------------------------- */

static void
wait_synced(void)
{
    char report[2048];

    if (replcheck_wait_synced(F.tandem.port, 15000, report,
                              sizeof(report)) != 0) {
        fleet_dump_logs(&F);
        ck_abort_msg("replicas not in sync within 15 s: %s", report);
    }
}

/* Compares replica i with the primary; asserts 0 differences. */
static long
compare_one(const char *test, int i)
{
    struct replcheck_stats st;
    char report[4096];
    int diffs = replcheck_compare_ex(F.primary.port, F.replica[i].port, &st,
                                     report, sizeof(report));

    printf("%s: %s\n", test, report);
    fflush(stdout);
    if (diffs != 0) {
        fleet_dump_logs(&F);
    }
    ck_assert_msg(diffs == 0, "%s: replica %d differs from the primary: %s",
                  test, i, report);
    return st.keys;
}

static void
compare_all(const char *test)
{
    int i;

    wait_synced();
    for (i = 0; i < NREPLICAS; i++) {
        compare_one(test, i);
    }
}

/* PEXPIRETIME of key in db 0 on the primary and on each replica: the
 * replicas must hold the primary's absolute expiry. */
static void
assert_same_expiry(const char *key, long long min_ms, long long max_ms)
{
    redisContext *p = harness_connect(F.primary.port);
    long long pe = cmd_int(p, "PEXPIRETIME %s", key);
    int i;

    ck_assert_msg(pe >= min_ms && pe <= max_ms,
                  "%s expires at %lld on the primary, expected within "
                  "[%lld, %lld]", key, pe, min_ms, max_ms);
    for (i = 0; i < NREPLICAS; i++) {
        redisContext *r = replica_conn(i, 0);
        long long re = cmd_int(r, "PEXPIRETIME %s", key);
        long long d = re > pe ? re - pe : pe - re;

        ck_assert_msg(d <= 10, "%s expires at %lld on the primary and %lld "
                      "on replica %d (%lld ms apart)", key, pe, re, i, d);
        redisFree(r);
    }
    redisFree(p);
}

/* The same string value on the primary and every replica (db 0). */
static void
assert_same_string(const char *key, const char *want)
{
    char got[512];
    int i;
    redisContext *p = harness_connect(F.primary.port);

    cmd_str(p, got, sizeof(got), "GET %s", key);
    ck_assert_msg(strcmp(got, want) == 0, "%s is \"%s\" on the primary, "
                  "expected \"%s\"", key, got, want);
    redisFree(p);
    for (i = 0; i < NREPLICAS; i++) {
        redisContext *r = replica_conn(i, 0);

        cmd_str(r, got, sizeof(got), "GET %s", key);
        ck_assert_msg(strcmp(got, want) == 0, "%s is \"%s\" on replica %d, "
                      "expected \"%s\"", key, got, i, want);
        redisFree(r);
    }
}

static void
slave_line(int i, char *line, size_t len)
{
    ck_assert_msg(replcheck_slave_line(F.tandem.port, F.replica[i].port,
                                       line, len) == 0,
                  "no INFO replication line for replica %d", i);
}

static void
assert_state(int i, const char *state)
{
    char line[1024];
    char s[32];

    slave_line(i, line, sizeof(line));
    ck_assert_msg(replcheck_line_field(line, "state", s, sizeof(s)) == 0 &&
                      strcmp(s, state) == 0,
                  "replica %d: expected state=%s in \"%s\"", i, state, line);
}

static void
wait_state(int i, const char *state, int timeout_ms)
{
    char line[1024];

    if (replcheck_wait_slave_state(F.tandem.port, F.replica[i].port, state,
                                   timeout_ms, line, sizeof(line)) != 0) {
        fleet_dump_logs(&F);
        ck_abort_msg("replica %d did not become %s within %d ms: %s", i,
                     state, timeout_ms, line);
    }
}

/* The "seeds" field of replica i's INFO line (-1: absent, i.e. a tandem
 * without seeding). */
static long
seeds_of(int i)
{
    char line[1024];
    char v[32];

    slave_line(i, line, sizeof(line));
    return replcheck_line_field(line, "seeds", v, sizeof(v)) == 0 ? atol(v)
                                                                   : -1;
}

/* Kills replica i with SIGKILL and reaps it. */
static void
kill_replica(int i)
{
    harness_signal(&F.replica[i], SIGKILL);
    ck_assert_int_eq(harness_wait_exit(&F.replica[i], 5000), 128 + SIGKILL);
}

/* Restarts replica i on its port and directory. */
static void
restart_replica(int i, const char *const *extra)
{
    ck_assert_msg(replcheck_restart_redis(&F.replica[i], extra) == 0,
                  "can't restart replica %d on port %d", i,
                  F.replica[i].port);
}

/* Sends n pipelined SET prefix:<from+i> <value_len bytes> and reads
 * every reply, asserting that each is +OK. */
static void
pipeline_sets(redisContext *c, const char *prefix, int from, int n,
              size_t value_len)
{
    char *value = malloc(value_len + 1);
    int i;

    ck_assert_ptr_nonnull(value);
    memset(value, 'v', value_len);
    value[value_len] = '\0';
    for (i = 0; i < n; i++) {
        redisAppendCommand(c, "SET %s:%d %s", prefix, from + i, value);
    }
    for (i = 0; i < n; i++) {
        redisReply *r = NULL;

        ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        ck_assert_msg(r->type == REDIS_REPLY_STATUS, "SET %d: type %d %s",
                      i, r->type, r->str != NULL ? r->str : "");
        freeReplyObject(r);
    }
    free(value);
}

/* ---- 0. the checker itself ---------------------------------------- */

/* Two plain servers written directly: replcheck_compare must find every
 * planted difference, and nothing where only the hash-table order of
 * equal sets and hashes differs. */
START_TEST(test_checker_finds_differences)
{
    struct replcheck_stats st;
    char report[4096];
    redisContext *a;
    redisContext *b;
    int diffs;
    int i;

    memset(&F, 0, sizeof(F));
    ck_assert_int_eq(harness_start_redis(&F.primary, NULL), 0);
    ck_assert_int_eq(harness_start_redis(&F.replica[0], NULL), 0);
    a = harness_connect(F.primary.port);
    b = harness_connect(F.replica[0].port);
    for (i = 0; i < 2; i++) {
        redisContext *x = i == 0 ? a : b;
        int m;

        /* Equal content, different DUMP (hash seeds differ). */
        for (m = 0; m < 200; m++) {
            freeReplyObject(cmd(x, "SADD bigset member-%d", m));
            freeReplyObject(cmd(x, "HSET bighash field-%d v%d", m, m));
        }
        cmd_status(x, "OK", "SET same v");
        cmd_status(x, "OK", "SET samettl v PX 100000");
        cmd_status(x, "OK", "SELECT 15");
        cmd_status(x, "OK", "SET tandem:stamp %d", i);   /* not compared */
        cmd_status(x, "OK", "SELECT 0");
    }
    /* Five planted differences, in three databases. */
    cmd_status(a, "OK", "SET only-primary 1");
    cmd_status(b, "OK", "SELECT 3");
    cmd_status(b, "OK", "SET only-replica 1");
    cmd_status(b, "OK", "SELECT 0");
    cmd_status(a, "OK", "SET value a");
    cmd_status(b, "OK", "SET value b");
    cmd_status(a, "OK", "SET ttl v EX 100");
    cmd_status(b, "OK", "SET ttl v");
    freeReplyObject(cmd(a, "SELECT 14"));
    freeReplyObject(cmd(b, "SELECT 14"));
    freeReplyObject(cmd(a, "SADD set a b c"));
    freeReplyObject(cmd(b, "SADD set a b d"));
    diffs = replcheck_compare_ex(F.primary.port, F.replica[0].port, &st,
                                 report, sizeof(report));
    printf("checker: %s\n", report);
    ck_assert_msg(diffs == 5, "expected 5 differences: %s", report);
    ck_assert_int_eq(st.keys, 9);
    ck_assert_int_ge(st.content_equal, 1);
    ck_assert_ptr_nonnull(strstr(report, "only-primary"));
    ck_assert_ptr_nonnull(strstr(report, "only-replica"));
    /* An expiry 5 s apart is a difference; 0.5 s apart is not. */
    freeReplyObject(cmd(a, "SELECT 0"));
    freeReplyObject(cmd(b, "SELECT 0"));
    freeReplyObject(cmd(a, "DEL only-primary value ttl"));
    freeReplyObject(cmd(b, "DEL value ttl"));
    freeReplyObject(cmd(a, "SELECT 14"));
    freeReplyObject(cmd(b, "SELECT 14"));
    freeReplyObject(cmd(a, "DEL set"));
    freeReplyObject(cmd(b, "DEL set"));
    freeReplyObject(cmd(b, "SELECT 3"));
    freeReplyObject(cmd(b, "FLUSHDB"));
    freeReplyObject(cmd(a, "SELECT 0"));
    freeReplyObject(cmd(b, "SELECT 0"));
    ck_assert_int_eq(replcheck_compare(F.primary.port, F.replica[0].port,
                                       report, sizeof(report)), 0);
    freeReplyObject(cmd(a, "PEXPIREAT same %lld", wall_ms() + 100000));
    freeReplyObject(cmd(b, "PEXPIREAT same %lld", wall_ms() + 100500));
    ck_assert_int_eq(replcheck_compare(F.primary.port, F.replica[0].port,
                                       report, sizeof(report)), 0);
    freeReplyObject(cmd(b, "PEXPIREAT same %lld", wall_ms() + 105000));
    ck_assert_int_eq(replcheck_compare(F.primary.port, F.replica[0].port,
                                       report, sizeof(report)), 1);
    redisFree(a);
    redisFree(b);
}
END_TEST

/* ---- 1. deterministic effects ------------------------------------- */

START_TEST(test_effects)
{
    redisContext *c;
    redisContext *p;
    redisReply *r;
    char popped[6][64];
    char ids[3][64];
    char want[128];
    char got[128];
    long long t0;
    long long off;
    int i;
    int j;

    fleet_start(&F, NREPLICAS, NULL, NULL);
    c = harness_connect(F.tandem.port);

    /* FLUSHALL, SWAPDB, MOVE: as sent (the stamp in meta-db survives, as
     * each batch writes it after its commands). */
    cmd_status(c, "OK", "SET before-flush 1");
    cmd_status(c, "OK", "SELECT 2");
    cmd_status(c, "OK", "SET before-flush 2");
    cmd_status(c, "OK", "FLUSHALL");
    cmd_status(c, "OK", "SELECT 1");
    cmd_status(c, "OK", "SET swapped a");
    cmd_status(c, "OK", "SWAPDB 1 2");
    cmd_status(c, "OK", "SET moved b");
    ck_assert_int_eq(cmd_int(c, "MOVE moved 5"), 1);
    cmd_status(c, "OK", "SELECT 0");

    /* Deterministic writes, as sent. */
    cmd_status(c, "OK", "SET s1 hello");
    cmd_status(c, "OK", "SET gone x");
    ck_assert_int_eq(cmd_int(c, "DEL gone"), 1);
    for (i = 1; i <= 3; i++) {
        ck_assert_int_eq(cmd_int(c, "INCR counter"), i);
    }

    /* Relative TTLs: the replicas must hold the primary's absolute
     * expiry. */
    t0 = wall_ms();
    cmd_status(c, "OK", "SET e1 v");
    ck_assert_int_eq(cmd_int(c, "EXPIRE e1 100"), 1);
    cmd_status(c, "OK", "SET e2 v");
    ck_assert_int_eq(cmd_int(c, "PEXPIRE e2 100000"), 1);
    cmd_status(c, "OK", "SETEX e3 100 v");
    cmd_status(c, "OK", "PSETEX e4 100000 v");
    cmd_status(c, "OK", "SET e5 v EX 100");
    cmd_status(c, "OK", "SET e6 v PX 100000");
    cmd_status(c, "OK", "SET e7 v");
    cmd_str(c, got, sizeof(got), "GETEX e7 EX 100");
    ck_assert_str_eq(got, "v");
    r = cmd(c, "DUMP s1");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    cmd_status(c, "OK", "RESTORE e8 100000 %b", r->str, r->len);
    freeReplyObject(r);

    /* INCRBYFLOAT keeps the TTL (SET ... KEEPTTL); a negative TTL
     * deletes the key. */
    cmd_status(c, "OK", "SET e9 1 EX 100");
    cmd_str(c, got, sizeof(got), "INCRBYFLOAT e9 0.5");
    ck_assert_str_eq(got, "1.5");
    cmd_status(c, "OK", "SET negttl v");
    ck_assert_int_eq(cmd_int(c, "EXPIRE negttl -1"), 1);

    /* EXPIRE of a missing key, and an EXPIRE NX/GT that said no: nothing
     * enters the stream. */
    off = replcheck_stream_offset(F.tandem.port);
    ck_assert_int_eq(cmd_int(c, "EXPIRE missing 100"), 0);
    ck_assert_int_eq(cmd_int(c, "EXPIRE e1 500 NX"), 0);
    ck_assert_int_eq(cmd_int(c, "PEXPIRE e2 1000 GT"), 0);
    ck_assert_int_eq(replcheck_stream_offset(F.tandem.port), off);

    /* SPOP: the replicas lose the members the primary popped. */
    for (i = 0; i < 20; i++) {
        ck_assert_int_eq(cmd_int(c, "SADD pset member:%d", i), 1);
    }
    cmd_str(c, popped[0], sizeof(popped[0]), "SPOP pset");
    r = cmd(c, "SPOP pset 5");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 5);
    for (i = 0; i < 5; i++) {
        snprintf(popped[i + 1], sizeof(popped[i + 1]), "%s",
                 r->element[i]->str);
    }
    freeReplyObject(r);

    /* Floats: the replicas get the primary's exact result. */
    cmd_str(c, got, sizeof(got), "INCRBYFLOAT fl 0.1");
    cmd_str(c, got, sizeof(got), "INCRBYFLOAT fl 0.2");
    cmd_str(c, got, sizeof(got), "INCRBYFLOAT fl 1e-5");
    ck_assert_str_eq(got, "0.30001");
    cmd_str(c, got, sizeof(got), "INCRBYFLOAT fl 3.0e3");
    cmd_str(c, got, sizeof(got), "HINCRBYFLOAT hf f 10.5");
    cmd_str(c, got, sizeof(got), "HINCRBYFLOAT hf f 0.1");
    cmd_str(c, got, sizeof(got), "HINCRBYFLOAT hf f -1e-3");
    ck_assert_str_eq(got, "10.599");

    /* XADD *: the replicas get the ids the primary generated; an
     * approximate trim (~) ends the same. */
    for (i = 0; i < 3; i++) {
        cmd_str(c, ids[i], sizeof(ids[i]), "XADD st * field %d", i);
    }
    for (i = 0; i < 300; i++) {
        cmd_str(c, got, sizeof(got), "XADD trimmed MAXLEN ~ 50 * n %d", i);
    }

    /* SELECT: writes land in that database on the replicas. */
    cmd_status(c, "OK", "SELECT 3");
    cmd_status(c, "OK", "SET in3 three");
    cmd_status(c, "OK", "SELECT 4");
    cmd_status(c, "OK", "SET f4a 1");
    cmd_status(c, "OK", "SET f4b 2");
    cmd_status(c, "OK", "FLUSHDB");
    cmd_status(c, "OK", "SET f4c 3");
    cmd_status(c, "OK", "SELECT 0");

    /* A failed write: an error, nothing in the stream. */
    cmd_status(c, "OK", "SET notint abc");
    off = replcheck_stream_offset(F.tandem.port);
    cmd_error(c, "ERR value is not an integer", "INCR notint");
    cmd_error(c, "WRONGTYPE", "HSET notint f v");
    cmd_error(c, "WRONGTYPE", "SADD notint m");
    ck_assert_int_eq(replcheck_stream_offset(F.tandem.port), off);

    wait_synced();

    assert_same_string("s1", "hello");
    assert_same_string("counter", "3");
    assert_same_string("gone", "(nil)");
    assert_same_string("notint", "abc");
    assert_same_string("missing", "(nil)");
    assert_same_string("negttl", "(nil)");
    assert_same_string("e9", "1.5");
    assert_same_string("before-flush", "(nil)");
    {
        static const char *const ttl_keys[] = {"e1", "e2", "e3", "e4", "e5",
                                               "e6", "e7", "e8", "e9"};

        for (i = 0; i < 9; i++) {
            assert_same_expiry(ttl_keys[i], t0 + 100000 - 5000,
                               wall_ms() + 100000 + 5000);
        }
    }
    p = harness_connect(F.primary.port);
    cmd_str(p, want, sizeof(want), "GET fl");
    assert_same_string("fl", want);
    for (i = 0; i < NREPLICAS; i++) {
        redisContext *rc = replica_conn(i, 0);

        ck_assert_int_eq(cmd_int(rc, "SCARD pset"), 14);
        for (j = 0; j < 6; j++) {
            ck_assert_msg(cmd_int(rc, "SISMEMBER pset %s", popped[j]) == 0,
                          "replica %d still has popped member %s", i,
                          popped[j]);
        }
        cmd_str(rc, got, sizeof(got), "HGET hf f");
        ck_assert_str_eq(got, "10.599");
        r = cmd(rc, "XRANGE st - +");
        ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
        ck_assert_int_eq(r->elements, 3);
        for (j = 0; j < 3; j++) {
            ck_assert_str_eq(r->element[j]->element[0]->str, ids[j]);
        }
        freeReplyObject(r);
        ck_assert_int_eq(cmd_int(rc, "XLEN trimmed"),
                         cmd_int(p, "XLEN trimmed"));
        ck_assert_int_eq(cmd_int(rc, "EXISTS in3"), 0);
        cmd_status(rc, "OK", "SELECT 3");
        cmd_str(rc, got, sizeof(got), "GET in3");
        ck_assert_str_eq(got, "three");
        cmd_status(rc, "OK", "SELECT 4");
        ck_assert_int_eq(cmd_int(rc, "DBSIZE"), 1);
        ck_assert_int_eq(cmd_int(rc, "EXISTS f4c"), 1);
        cmd_status(rc, "OK", "SELECT 2");
        cmd_str(rc, got, sizeof(got), "GET swapped");
        ck_assert_str_eq(got, "a");
        ck_assert_int_eq(cmd_int(rc, "EXISTS before-flush"), 0);
        cmd_status(rc, "OK", "SELECT 5");
        cmd_str(rc, got, sizeof(got), "GET moved");
        ck_assert_str_eq(got, "b");
        cmd_status(rc, "OK", "SELECT 15");
        cmd_str(rc, got, sizeof(got), "GET tandem:stamp");
        ck_assert_msg(strlen(got) > 41 && got[40] == ':',
                      "replica %d: stamp \"%s\" after FLUSHALL", i, got);
        redisFree(rc);
    }
    redisFree(p);
    /* Still online after the failed writes. */
    assert_state(0, "online");
    assert_state(1, "online");
    redisFree(c);
    compare_all("effects");
}
END_TEST

/* ---- 2. transactions ---------------------------------------------- */

START_TEST(test_transactions)
{
    redisContext *c;
    redisReply *r;
    char member[64];
    char popped2[2][64];
    long long off;
    long long t0;
    int i;

    fleet_start(&F, NREPLICAS, NULL, NULL);
    c = harness_connect(F.tandem.port);
    ck_assert_int_eq(cmd_int(c, "SADD tset a b c d e f g"), 7);

    t0 = wall_ms();
    cmd_status(c, "OK", "MULTI");
    cmd_status(c, "QUEUED", "SET t1 v");
    cmd_status(c, "QUEUED", "INCR t2");
    cmd_status(c, "QUEUED", "EXPIRE t1 100");
    cmd_status(c, "QUEUED", "SPOP tset");
    r = cmd(c, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 4);
    ck_assert_int_eq(r->element[0]->type, REDIS_REPLY_STATUS);
    ck_assert_str_eq(r->element[0]->str, "OK");
    ck_assert_int_eq(r->element[1]->type, REDIS_REPLY_INTEGER);
    ck_assert_int_eq(r->element[1]->integer, 1);
    ck_assert_int_eq(r->element[2]->type, REDIS_REPLY_INTEGER);
    ck_assert_int_eq(r->element[2]->integer, 1);
    ck_assert_int_eq(r->element[3]->type, REDIS_REPLY_STRING);
    snprintf(member, sizeof(member), "%s", r->element[3]->str);
    freeReplyObject(r);

    /* More non-deterministic commands inside one transaction. */
    cmd_status(c, "OK", "MULTI");
    cmd_status(c, "QUEUED", "SET t3 v EX 100");
    cmd_status(c, "QUEUED", "INCRBYFLOAT t4 1.5");
    cmd_status(c, "QUEUED", "XADD ts * a 1");
    cmd_status(c, "QUEUED", "HINCRBYFLOAT th f 2.25");
    cmd_status(c, "QUEUED", "SPOP tset 2");
    cmd_status(c, "QUEUED", "PEXPIRE t4 200000");
    r = cmd(c, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 6);
    ck_assert_str_eq(r->element[1]->str, "1.5");
    ck_assert_int_eq(r->element[4]->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->element[4]->elements, 2);
    for (i = 0; i < 2; i++) {
        snprintf(popped2[i], sizeof(popped2[i]), "%s",
                 r->element[4]->element[i]->str);
    }
    ck_assert_int_eq(r->element[5]->integer, 1);
    freeReplyObject(r);

    /* A transaction in another database. */
    cmd_status(c, "OK", "SELECT 6");
    cmd_status(c, "OK", "MULTI");
    cmd_status(c, "QUEUED", "SET in6 six");
    cmd_status(c, "QUEUED", "SETEX in6ttl 100 x");
    r = cmd(c, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 2);
    freeReplyObject(r);
    cmd_status(c, "OK", "SELECT 0");

    /* SELECT inside MULTI: the effects land in each database, TTL
     * probes too, and the client stays in the last one after EXEC. */
    cmd_status(c, "OK", "MULTI");
    cmd_status(c, "QUEUED", "SET s0 zero");
    cmd_status(c, "QUEUED", "SELECT 8");
    cmd_status(c, "QUEUED", "SET in8 eight");
    cmd_status(c, "QUEUED", "SETEX in8ttl 100 x");
    cmd_status(c, "QUEUED", "INCRBYFLOAT in8f 2.5");
    cmd_status(c, "QUEUED", "SELECT 9");
    cmd_status(c, "QUEUED", "PSETEX in9ttl 150000 y");
    r = cmd(c, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 7);
    freeReplyObject(r);
    cmd_status(c, "OK", "SET after9 1");
    cmd_status(c, "OK", "SELECT 0");

    /* A command that fails at run time inside EXEC: the others apply,
     * the failed one enters nothing, the replicas stay online. */
    cmd_status(c, "OK", "MULTI");
    cmd_status(c, "QUEUED", "SET tx abc");
    cmd_status(c, "QUEUED", "INCR tx");
    cmd_status(c, "QUEUED", "SET ty 1");
    r = cmd(c, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 3);
    ck_assert_int_eq(r->element[1]->type, REDIS_REPLY_ERROR);
    ck_assert_int_eq(r->element[2]->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);

    /* An unknown command (and a wrong arity) dooms the transaction:
     * EXECABORT and nothing applied, nothing in the stream. */
    off = replcheck_stream_offset(F.tandem.port);
    cmd_status(c, "OK", "MULTI");
    cmd_status(c, "QUEUED", "SET ta 1");
    cmd_error(c, "ERR unknown command", "NOSUCHCOMMAND x");
    cmd_status(c, "QUEUED", "SET tb 1");
    cmd_error(c, "EXECABORT Transaction discarded because of previous "
                 "errors", "EXEC");
    cmd_status(c, "OK", "MULTI");
    cmd_status(c, "QUEUED", "SET tc 1");
    cmd_error(c, "ERR wrong number of arguments", "INCR");
    cmd_error(c, "EXECABORT", "EXEC");
    ck_assert_int_eq(cmd_int(c, "EXISTS ta tb tc"), 0);
    ck_assert_int_eq(replcheck_stream_offset(F.tandem.port), off);

    /* DISCARD. */
    cmd_status(c, "OK", "MULTI");
    cmd_status(c, "QUEUED", "SET td 1");
    cmd_status(c, "OK", "DISCARD");
    ck_assert_int_eq(cmd_int(c, "EXISTS td"), 0);
    cmd_error(c, "ERR DISCARD without MULTI", "DISCARD");
    ck_assert_int_eq(replcheck_stream_offset(F.tandem.port), off);

    /* Nested MULTI: an error that leaves the transaction open, as in
     * Redis. */
    cmd_status(c, "OK", "MULTI");
    cmd_status(c, "QUEUED", "SET n1 1");
    cmd_error(c, "ERR MULTI calls can not be nested", "MULTI");
    cmd_status(c, "QUEUED", "SET n2 2");
    r = cmd(c, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 2);
    freeReplyObject(r);

    cmd_error(c, "ERR EXEC without MULTI", "EXEC");

    wait_synced();
    assert_same_string("t1", "v");
    assert_same_string("t2", "1");
    assert_same_string("t4", "1.5");
    assert_same_string("tx", "abc");
    assert_same_string("ty", "1");
    assert_same_string("n1", "1");
    assert_same_string("n2", "2");
    assert_same_string("ta", "(nil)");
    assert_same_string("td", "(nil)");
    assert_same_expiry("t1", t0 + 95000, wall_ms() + 105000);
    assert_same_expiry("t3", t0 + 95000, wall_ms() + 105000);
    assert_same_expiry("t4", t0 + 195000, wall_ms() + 205000);
    {
        static const struct {
            int        db;
            const char *key;
        } ttl[] = {{8, "in8ttl"}, {9, "in9ttl"}};
        redisContext *pc = harness_connect(F.primary.port);
        size_t t;

        for (t = 0; t < 2; t++) {
            long long pe;

            cmd_status(pc, "OK", "SELECT %d", ttl[t].db);
            pe = cmd_int(pc, "PEXPIRETIME %s", ttl[t].key);
            ck_assert_int_gt(pe, t0 + 95000);
            for (i = 0; i < NREPLICAS; i++) {
                redisContext *rc = replica_conn(i, ttl[t].db);

                ck_assert_int_eq(cmd_int(rc, "PEXPIRETIME %s", ttl[t].key),
                                 pe);
                redisFree(rc);
            }
        }
        redisFree(pc);
    }
    for (i = 0; i < NREPLICAS; i++) {
        redisContext *rc = replica_conn(i, 0);

        ck_assert_int_eq(cmd_int(rc, "SCARD tset"), 4);
        ck_assert_int_eq(cmd_int(rc, "SISMEMBER tset %s", member), 0);
        ck_assert_int_eq(cmd_int(rc, "SISMEMBER tset %s", popped2[0]), 0);
        ck_assert_int_eq(cmd_int(rc, "SISMEMBER tset %s", popped2[1]), 0);
        ck_assert_int_eq(cmd_int(rc, "EXISTS in6 in6ttl"), 0);
        cmd_status(rc, "OK", "SELECT 6");
        ck_assert_int_eq(cmd_int(rc, "EXISTS in6 in6ttl"), 2);
        ck_assert_int_gt(cmd_int(rc, "PTTL in6ttl"), 90000);
        cmd_status(rc, "OK", "SELECT 0");
        ck_assert_int_eq(cmd_int(rc, "EXISTS s0"), 1);
        ck_assert_int_eq(cmd_int(rc, "EXISTS in8 in8ttl in8f in9ttl "
                                     "after9"), 0);
        cmd_status(rc, "OK", "SELECT 8");
        ck_assert_int_eq(cmd_int(rc, "EXISTS in8 in8ttl in8f"), 3);
        cmd_status(rc, "OK", "SELECT 9");
        ck_assert_int_eq(cmd_int(rc, "EXISTS in9ttl after9"), 2);
        redisFree(rc);
    }
    assert_state(0, "online");
    assert_state(1, "online");
    redisFree(c);
    compare_all("transactions");
}
END_TEST

/* ---- 2b. relative TTLs followed by a key move in one transaction -- */

/*
 * A relative TTL must reach the replicas as the absolute expiry the key
 * had right after that command, even when a later command of the same
 * transaction renames or moves the key. The replicas must end identical
 * without being cut off (no divergence, no seed).
 */
static void
assert_no_divergence(const char *test, const long *seeds_before)
{
    int i;

    for (i = 0; i < NREPLICAS; i++) {
        ck_assert_msg(seeds_of(i) == seeds_before[i], "%s: replica %d was "
                      "re-seeded (seeds %ld -> %ld)", test, i,
                      seeds_before[i], seeds_of(i));
        ck_assert_msg(replcheck_count_in_file(F.tandem.log, "diverged") == 0,
                      "%s: tandem logged a divergence", test);
    }
}

START_TEST(test_ttl_then_move_in_multi)
{
    redisContext *c;
    redisReply *r;
    long seeds[NREPLICAS];
    int i;

    fleet_start(&F, NREPLICAS, NULL, NULL);
    for (i = 0; i < NREPLICAS; i++) {
        seeds[i] = seeds_of(i);
    }
    c = harness_connect(F.tandem.port);
    cmd_status(c, "OK", "MULTI");
    cmd_status(c, "QUEUED", "SET mk v EX 100");
    cmd_status(c, "QUEUED", "MOVE mk 3");
    r = cmd(c, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 2);
    ck_assert_int_eq(r->element[1]->type, REDIS_REPLY_INTEGER);
    ck_assert_int_eq(r->element[1]->integer, 1);
    freeReplyObject(r);
    ck_assert_int_eq(cmd_int(c, "WAIT 2 5000"), 2);
    redisFree(c);
    /* The replicas say they hold it: they must. */
    for (i = 0; i < NREPLICAS; i++) {
        redisContext *rc = replica_conn(i, 3);

        ck_assert_msg(cmd_int(rc, "EXISTS mk") == 1, "replica %d acked the "
                      "transaction but has no db3 'mk' (SET ... EX then "
                      "MOVE in one MULTI)", i);
        redisFree(rc);
    }
    compare_all("ttl then move");
    assert_no_divergence("ttl then move", seeds);
}
END_TEST

START_TEST(test_ttl_then_rename_in_multi)
{
    redisContext *c;
    redisReply *r;
    long seeds[NREPLICAS];
    int i;

    fleet_start(&F, NREPLICAS, NULL, NULL);
    for (i = 0; i < NREPLICAS; i++) {
        seeds[i] = seeds_of(i);
    }
    c = harness_connect(F.tandem.port);
    /* The atomic replace idiom, and an EXPIRE before a RENAME. */
    cmd_status(c, "OK", "SET final old");
    cmd_status(c, "OK", "MULTI");
    cmd_status(c, "QUEUED", "SETEX tmp 100 new");
    cmd_status(c, "QUEUED", "RENAME tmp final");
    r = cmd(c, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 2);
    ck_assert_int_eq(r->element[1]->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    cmd_status(c, "OK", "SET e v");
    cmd_status(c, "OK", "MULTI");
    cmd_status(c, "QUEUED", "EXPIRE e 100");
    cmd_status(c, "QUEUED", "RENAME e e2");
    r = cmd(c, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 2);
    freeReplyObject(r);
    ck_assert_int_eq(cmd_int(c, "WAIT 2 5000"), 2);
    redisFree(c);
    wait_synced();
    assert_no_divergence("ttl then rename", seeds);
    assert_same_string("final", "new");
    compare_all("ttl then rename");
}
END_TEST

/* ---- 3. WAIT ------------------------------------------------------ */

START_TEST(test_wait)
{
    redisContext *c;
    redisContext *c2;
    redisReply *r;
    long long t0;
    long long el;
    long long max_wait = 0;
    int done = 0;
    int sent = 0;
    int bad = 0;
    int i;
    int k;

    fleet_start(&F, NREPLICAS, NULL, NULL);
    c = harness_connect(F.tandem.port);
    c2 = harness_connect(F.tandem.port);

    /* After writes, WAIT 2 0 returns 2 and both replicas already hold
     * the data (read at once, no sleep). */
    for (i = 0; i < 10; i++) {
        cmd_status(c, "OK", "SET wk:%d value-%d", i, i);
    }
    t0 = replcheck_now_ms();
    ck_assert_int_eq(cmd_int(c, "WAIT 2 0"), 2);
    el = replcheck_now_ms() - t0;
    for (k = 0; k < NREPLICAS; k++) {
        redisContext *rc = replica_conn(k, 0);

        for (i = 0; i < 10; i++) {
            char got[64];
            char want[64];

            cmd_str(rc, got, sizeof(got), "GET wk:%d", i);
            snprintf(want, sizeof(want), "value-%d", i);
            ck_assert_msg(strcmp(got, want) == 0, "replica %d: wk:%d is "
                          "\"%s\" right after WAIT returned 2", k, i, got);
        }
        redisFree(rc);
    }
    printf("wait: WAIT 2 0 after 10 writes took %lld ms\n", el);

    /* WAIT pipelined right behind 100 writes: it counts the last one. */
    for (i = 0; i < 100; i++) {
        redisAppendCommand(c, "SET pw:%d %d", i, i);
    }
    redisAppendCommand(c, "WAIT 2 5000");
    for (i = 0; i <= 100; i++) {
        ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        if (i == 100) {
            ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
            ck_assert_int_eq(r->integer, 2);
        }
        freeReplyObject(r);
    }
    for (k = 0; k < NREPLICAS; k++) {
        redisContext *rc = replica_conn(k, 0);
        char got[64];

        cmd_str(rc, got, sizeof(got), "GET pw:99");
        ck_assert_msg(strcmp(got, "99") == 0, "replica %d: pw:99 is \"%s\" "
                      "right after a pipelined WAIT returned 2", k, got);
        redisFree(rc);
    }

    /* A client with no writes gets the count at once. */
    t0 = replcheck_now_ms();
    ck_assert_int_eq(cmd_int(c2, "WAIT 2 0"), 2);
    el = replcheck_now_ms() - t0;
    ck_assert_msg(el < 100, "WAIT 2 0 without writes took %lld ms", el);
    /* ... and asking for more replicas than there are times out with the
     * count. */
    t0 = replcheck_now_ms();
    ck_assert_int_eq(cmd_int(c2, "WAIT 3 200"), 2);
    el = replcheck_now_ms() - t0;
    ck_assert_msg(el >= 180 && el < 3000, "WAIT 3 200 took %lld ms", el);

    /* WAIT 2 1000 after each of 1,000 writes returns 2 every time. */
    for (i = 0; i < 1000; i++) {
        long long n;

        cmd_status(c, "OK", "SET w1000:%d %d", i, i);
        t0 = replcheck_now_ms();
        n = cmd_int(c, "WAIT 2 1000");
        el = replcheck_now_ms() - t0;
        if (el > max_wait) {
            max_wait = el;
        }
        bad += n != 2;
        done++;
    }
    printf("wait: %d x (SET + WAIT 2 1000): %d did not return 2, slowest "
           "WAIT %lld ms\n", done, bad, max_wait);
    ck_assert_msg(bad == 0, "%d of %d WAIT 2 1000 did not return 2", bad,
                  done);

    /* One replica stopped: WAIT 2 500 times out with 1, WAIT 1 0 returns
     * at once, other clients are not delayed meanwhile. */
    harness_signal(&F.replica[1], SIGSTOP);
    cmd_status(c, "OK", "SET after-stop 1");
    t0 = replcheck_now_ms();
    redisAppendCommand(c, "WAIT 2 500");
    while (!sent) {
        ck_assert_int_eq(redisBufferWrite(c, &sent), REDIS_OK);
    }
    {
        long long p0 = replcheck_now_ms();
        long long ping_ms;
        long long set_ms;

        cmd_status(c2, "PONG", "PING");
        ping_ms = replcheck_now_ms() - p0;
        p0 = replcheck_now_ms();
        cmd_status(c2, "OK", "SET other-client 1");
        cmd_str(c2, (char[16]){0}, 16, "GET other-client");
        set_ms = replcheck_now_ms() - p0;
        ck_assert_msg(replcheck_now_ms() - t0 < 450,
                      "the second client's commands ended after the "
                      "WAIT's timeout: can't tell if they were delayed");
        printf("wait: during a pending WAIT, PING took %lld ms, SET+GET "
               "%lld ms\n", ping_ms, set_ms);
        ck_assert_msg(ping_ms < 100, "PING took %lld ms while another "
                      "client waited", ping_ms);
        ck_assert_msg(set_ms < 100, "SET+GET took %lld ms while another "
                      "client waited", set_ms);
    }
    ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
    el = replcheck_now_ms() - t0;
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    ck_assert_int_eq(r->integer, 1);
    freeReplyObject(r);
    printf("wait: WAIT 2 500 with a replica stopped returned 1 after %lld "
           "ms\n", el);
    ck_assert_msg(el >= 450 && el < 3000, "WAIT 2 500 took %lld ms", el);

    t0 = replcheck_now_ms();
    ck_assert_int_eq(cmd_int(c, "WAIT 1 0"), 1);
    el = replcheck_now_ms() - t0;
    printf("wait: WAIT 1 0 with a replica stopped returned 1 after %lld "
           "ms\n", el);
    ck_assert_msg(el < 500, "WAIT 1 0 took %lld ms", el);

    /* A client that goes away while its WAIT is pending. */
    {
        redisContext *c3 = harness_connect(F.tandem.port);

        cmd_status(c3, "OK", "SET leaver 1");
        redisAppendCommand(c3, "WAIT 2 0");
        sent = 0;
        while (!sent) {
            ck_assert_int_eq(redisBufferWrite(c3, &sent), REDIS_OK);
        }
        replcheck_sleep_ms(50);
        redisFree(c3);
        replcheck_sleep_ms(50);
        cmd_status(c2, "PONG", "PING");
    }

    harness_signal(&F.replica[1], SIGCONT);
    ck_assert_int_eq(cmd_int(c, "WAIT 2 5000"), 2);
    {
        const char *blocked = harness_info_field(c2, "clients",
                                                 "blocked_clients");

        ck_assert_ptr_nonnull(blocked);
        ck_assert_str_eq(blocked, "0");
    }
    redisFree(c);
    redisFree(c2);
    compare_all("wait");
}
END_TEST

/* ---- 4. mixed write load ------------------------------------------ */

#define MIX_CLIENTS 20
#define MIX_PER_CLIENT 5000
#define MIX_CHUNK 100
#define MIX_KEYS 150

struct worker {
    pthread_t thread;
    int       id;
    int       port;
    long      limit;        /* commands to send */
    int       pause_ms;     /* between chunks */
    int       *stop;        /* set (atomically) to stop early */
    long      sent;
    long      transactions;
    long      errors;
    long      wait_result;
    char      first_error[256];
    char      fatal[256];
};

static const char *const families[] = {"str", "cnt", "flt", "list", "hash",
                                       "set", "zset", "stream"};

/* Appends one random command; returns how many were appended. */
static int
mix_command(redisContext *c, unsigned int *seed)
{
    int op = (int)(rand_r(seed) % 100);
    int k = (int)(rand_r(seed) % MIX_KEYS);
    int m = (int)(rand_r(seed) % 40);
    const char *fam = families[rand_r(seed) % 8];

    switch (op) {
    case 0: case 1: case 2: case 3: case 4: case 5: case 6: {
        char value[96];
        int len = (int)(rand_r(seed) % 80);

        memset(value, 'a' + m % 26, (size_t)len);
        value[len] = '\0';
        redisAppendCommand(c, "SET str:%d v%d-%s", k, m, value);
        break;
    }
    case 7: case 8: case 9:
        redisAppendCommand(c, "APPEND str:%d +%d", k, m);
        break;
    case 10: case 11: case 12: case 13:
        redisAppendCommand(c, "INCR cnt:%d", k);
        break;
    case 14: case 15: case 16: case 17:
        redisAppendCommand(c, "INCRBYFLOAT flt:%d %s", k,
                           m % 3 == 0 ? "0.1" : m % 3 == 1 ? "-1.25e-3"
                                                           : "3.3333");
        break;
    case 18: case 19: case 20: case 21: case 22:
        redisAppendCommand(c, "LPUSH list:%d e%d", k, m);
        break;
    case 23: case 24: case 25:
        redisAppendCommand(c, "RPOP list:%d", k);
        break;
    case 26: case 27:
        redisAppendCommand(c, "LTRIM list:%d 0 29", k);
        break;
    case 28: case 29: case 30: case 31: case 32:
        redisAppendCommand(c, "HSET hash:%d f%d v%d", k, m, op);
        break;
    case 33: case 34: case 35:
        redisAppendCommand(c, "HINCRBY hash:%d i%d 3", k, m % 5);
        break;
    case 36: case 37: case 38:
        redisAppendCommand(c, "HINCRBYFLOAT hash:%d x%d 0.75", k, m % 5);
        break;
    case 39: case 40:
        redisAppendCommand(c, "HDEL hash:%d f%d", k, m);
        break;
    case 41: case 42: case 43: case 44: case 45: case 46:
        redisAppendCommand(c, "SADD set:%d m%d", k, m);
        break;
    case 47: case 48:
        redisAppendCommand(c, "SPOP set:%d", k);
        break;
    case 49:
        redisAppendCommand(c, "SPOP set:%d 3", k);
        break;
    case 50: case 51:
        redisAppendCommand(c, "SREM set:%d m%d", k, m);
        break;
    case 52: case 53: case 54: case 55: case 56:
        redisAppendCommand(c, "ZADD zset:%d %d m%d", k, op, m);
        break;
    case 57: case 58: case 59:
        redisAppendCommand(c, "ZINCRBY zset:%d 1.5 m%d", k, m);
        break;
    case 60: case 61:
        redisAppendCommand(c, "ZREM zset:%d m%d", k, m);
        break;
    case 62: case 63: case 64: case 65:
        redisAppendCommand(c, "EXPIRE %s:%d %d", fam, k, 100 + m * 20);
        break;
    case 66: case 67: case 68:
        redisAppendCommand(c, "SET str:%d ex%d EX %d", k, m, 100 + m * 10);
        break;
    case 69: case 70:
        redisAppendCommand(c, "PEXPIRE %s:%d %d", fam, k, 150000 + m);
        break;
    case 71: case 72:
        redisAppendCommand(c, "GETEX str:%d EX %d", k, 300 + m);
        break;
    case 73: case 74: case 75:
        redisAppendCommand(c, "PERSIST %s:%d", fam, k);
        break;
    case 76: case 77: case 78:
        redisAppendCommand(c, "DEL %s:%d", fam, k);
        break;
    case 79: case 80: case 81:
        redisAppendCommand(c, "XADD stream:%d MAXLEN ~ 40 * f %d", k, m);
        break;
    case 82:
        redisAppendCommand(c, "SETEX str:%d %d sx", k, 200 + m);
        break;
    default:
        redisAppendCommand(c, "SET str:%d plain%d", k, m);
        break;
    }
    return 1;
}

static void
count_errors(struct worker *w, const redisReply *r)
{
    size_t i;

    if (r->type == REDIS_REPLY_ERROR) {
        if (w->errors++ == 0) {
            snprintf(w->first_error, sizeof(w->first_error), "%s", r->str);
        }
    } else if (r->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < r->elements; i++) {
            if (r->element[i]->type == REDIS_REPLY_ERROR) {
                count_errors(w, r->element[i]);
            }
        }
    }
}

static void *
mix_worker(void *arg)
{
    struct worker *w = arg;
    struct timeval tv = {30, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", w->port, tv);
    unsigned int seed = (unsigned int)(w->id * 7919 + 17);
    redisReply *r;
    int db = w->id % 3;

    if (c == NULL || c->err != 0) {
        snprintf(w->fatal, sizeof(w->fatal), "connect: %s",
                 c != NULL ? c->errstr : "oom");
        if (c != NULL) {
            redisFree(c);
        }
        return NULL;
    }
    redisSetTimeout(c, tv);
    r = redisCommand(c, "SELECT %d", db);
    if (r == NULL || r->type != REDIS_REPLY_STATUS) {
        snprintf(w->fatal, sizeof(w->fatal), "SELECT failed");
    }
    if (r != NULL) {
        freeReplyObject(r);
    }
    while (w->fatal[0] == '\0' && w->sent < w->limit &&
           (w->stop == NULL || !__atomic_load_n(w->stop, __ATOMIC_SEQ_CST))) {
        int n = 0;
        int i;

        /* Every so often a transaction, anywhere in the pipeline: its
         * +OK and +QUEUED replies, made by tandem, queue behind writes
         * still awaiting the primary. */
        while (n < MIX_CHUNK) {
            if (rand_r(&seed) % 40 == 0) {
                int t = 2 + (int)(rand_r(&seed) % 4);

                redisAppendCommand(c, "MULTI");
                for (i = 0; i < t; i++) {
                    mix_command(c, &seed);
                }
                redisAppendCommand(c, "EXEC");
                n += t + 2;
                w->transactions++;
            } else {
                n += mix_command(c, &seed);
            }
        }
        for (i = 0; i < n; i++) {
            void *reply = NULL;

            if (redisGetReply(c, &reply) != REDIS_OK) {
                snprintf(w->fatal, sizeof(w->fatal), "reply %ld: %s",
                         w->sent + i, c->errstr);
                break;
            }
            count_errors(w, reply);
            freeReplyObject(reply);
        }
        w->sent += n;
        if (w->pause_ms > 0) {
            replcheck_sleep_ms(w->pause_ms);
        }
    }
    if (w->fatal[0] == '\0') {
        r = redisCommand(c, "WAIT 2 10000");
        if (r != NULL && r->type == REDIS_REPLY_INTEGER) {
            w->wait_result = (long)r->integer;
        } else {
            snprintf(w->fatal, sizeof(w->fatal), "WAIT failed: %s",
                     r == NULL ? c->errstr : r->str);
        }
        if (r != NULL) {
            freeReplyObject(r);
        }
    }
    redisFree(c);
    return NULL;
}

START_TEST(test_mixed_load)
{
    static struct worker w[MIX_CLIENTS];
    long total = 0;
    long transactions = 0;
    long errors = 0;
    long keys = 0;
    long long t0;
    long long el;
    int i;

    fleet_start(&F, NREPLICAS, NULL, NULL);
    t0 = replcheck_now_ms();
    for (i = 0; i < MIX_CLIENTS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].id = i;
        w[i].port = F.tandem.port;
        w[i].limit = MIX_PER_CLIENT;
        ck_assert_int_eq(pthread_create(&w[i].thread, NULL, mix_worker,
                                        &w[i]), 0);
    }
    for (i = 0; i < MIX_CLIENTS; i++) {
        pthread_join(w[i].thread, NULL);
    }
    el = replcheck_now_ms() - t0;
    for (i = 0; i < MIX_CLIENTS; i++) {
        ck_assert_msg(w[i].fatal[0] == '\0', "client %d: %s", i,
                      w[i].fatal);
        ck_assert_msg(w[i].wait_result == 2, "client %d: WAIT 2 10000 "
                      "returned %ld", i, w[i].wait_result);
        total += w[i].sent;
        transactions += w[i].transactions;
        errors += w[i].errors;
        ck_assert_msg(w[i].errors == 0, "client %d: %ld error replies, "
                      "first: %s", i, w[i].errors, w[i].first_error);
    }
    wait_synced();
    for (i = 0; i < NREPLICAS; i++) {
        keys = compare_one("mixed load", i);
    }
    printf("mixed load: %ld commands from %d clients (pipelined by %d, "
           "%ld MULTI/EXEC) in %lld ms, %ld error replies; %ld keys "
           "compared on each of %d replicas, 0 differences\n", total,
           MIX_CLIENTS, MIX_CHUNK, transactions, el, errors, keys,
           NREPLICAS);
    fflush(stdout);
    ck_assert_msg(total >= 100000, "only %ld commands sent", total);
    ck_assert_msg(keys > 1000, "only %ld keys compared", keys);
}
END_TEST

/* ---- 4b. tandem's own replies inside a pipeline ------------------ */

/*
 * Replies that tandem produces itself (PING, ECHO, MULTI's +OK, +QUEUED)
 * queued behind a write that still awaits the primary: every reply in
 * order, the connection stays open, the replicas get the writes.
 */
START_TEST(test_pipelined_own_replies)
{
    static const char *const want[] = {"OK", "PONG", "OK", "OK", "QUEUED",
                                       "QUEUED", "*", "hello", "OK"};
    redisContext *c;
    size_t i;
    int round;

    fleet_start(&F, NREPLICAS, NULL, NULL);
    c = harness_connect(F.tandem.port);
    for (round = 0; round < 20; round++) {
        redisAppendCommand(c, "SET pa:%d 1", round);
        redisAppendCommand(c, "PING");
        redisAppendCommand(c, "SET pb:%d 2", round);
        redisAppendCommand(c, "MULTI");
        redisAppendCommand(c, "SET pc:%d 3", round);
        redisAppendCommand(c, "INCR pcount");
        redisAppendCommand(c, "EXEC");
        redisAppendCommand(c, "ECHO hello");
        redisAppendCommand(c, "SET pd:%d 4", round);
        for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
            redisReply *r = NULL;

            ck_assert_msg(redisGetReply(c, (void **)&r) == REDIS_OK,
                          "round %d, reply %zu (%s): %s", round, i, want[i],
                          c->errstr);
            if (want[i][0] == '*') {
                ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
                ck_assert_int_eq(r->elements, 2);
            } else {
                ck_assert_msg(r->str != NULL && strcmp(r->str, want[i]) == 0,
                              "round %d, reply %zu: expected %s, got type "
                              "%d \"%s\"", round, i, want[i], r->type,
                              r->str != NULL ? r->str : "");
            }
            freeReplyObject(r);
        }
        /* The connection is still usable after the primary's replies. */
        cmd_status(c, "PONG", "PING");
    }
    ck_assert_int_eq(cmd_int(c, "WAIT 2 5000"), 2);
    assert_same_string("pcount", "20");
    redisFree(c);
    compare_all("pipelined own replies");
}
END_TEST

/* ---- 5. partial resync after SIGKILL ------------------------------ */

/* Offset of the last "Replica <spec> continues from offset N" line of
 * tandem's log, and how many there are. */
static int
last_continue_offset(const char *spec, long long *off)
{
    FILE *f = fopen(F.tandem.log, "r");
    char needle[128];
    char line[4096];
    int n = 0;

    snprintf(needle, sizeof(needle), "Replica %s continues from offset ",
             spec);
    *off = -1;
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *p = strstr(line, needle);

        if (p != NULL) {
            *off = atoll(p + strlen(needle));
            n++;
        }
    }
    fclose(f);
    return n;
}

/* Log lines that say the replica could not continue from the backlog:
 * out of service (needs-seed) or a seed started. */
static int
no_continue_lines(const char *spec)
{
    char needle[128];
    int a;
    int b;

    snprintf(needle, sizeof(needle), "Replica %s is needs-seed", spec);
    a = replcheck_count_in_file(F.tandem.log, needle);
    snprintf(needle, sizeof(needle), "Seeding replica %s (", spec);
    b = replcheck_count_in_file(F.tandem.log, needle);
    return a + b;
}

START_TEST(test_partial_resync_after_kill)
{
    redisContext *c;
    long long off_at_kill = -1;
    long long resumed_at;
    long long stamp_off = -1;
    char stamp[128];
    char counter_after_restart[32];
    long seeds_before;
    int lines_before;
    int continues;
    int chunk;
    int i;

    fleet_start(&F, NREPLICAS, aof_args, NULL);
    seeds_before = seeds_of(1);
    lines_before = no_continue_lines(F.spec[1]);
    c = harness_connect(F.tandem.port);
    for (chunk = 0; chunk < 100; chunk++) {
        for (i = 0; i < 100; i++) {
            redisAppendCommand(c, "INCR counter");
        }
        if (chunk == 50) {
            /* Killed while this chunk is on its way through tandem. */
            int done = 0;

            while (!done) {
                ck_assert_int_eq(redisBufferWrite(c, &done), REDIS_OK);
            }
            kill_replica(1);
        }
        for (i = 0; i < 100; i++) {
            redisReply *r = NULL;

            ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
            ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
            ck_assert_int_eq(r->integer, chunk * 100 + i + 1);
            freeReplyObject(r);
        }
        if (chunk == 50) {
            /* An upper bound of what the replica could have got. */
            off_at_kill = replcheck_stream_offset(F.tandem.port);
        } else if (chunk == 69) {
            /* Down for 20 chunks of writes, back with its AOF, which
             * holds its stamp of this stream. */
            redisContext *rc;
            const char *id = harness_info_field(c, "replication",
                                                "master_replid");
            char replid[64];

            ck_assert_ptr_nonnull(id);
            snprintf(replid, sizeof(replid), "%s", id);
            restart_replica(1, aof_args);
            rc = replica_conn(1, 15);
            /* One atomic read: tandem may already be resuming the replica
             * and applying batches while the test looks. */
            {
                redisReply *rr;

                freeReplyObject(redisCommand(rc, "MULTI"));
                freeReplyObject(redisCommand(rc, "GET tandem:stamp"));
                freeReplyObject(redisCommand(rc, "SELECT 0"));
                freeReplyObject(redisCommand(rc, "GET counter"));
                rr = redisCommand(rc, "EXEC");
                ck_assert_ptr_nonnull(rr);
                ck_assert_int_eq(rr->type, REDIS_REPLY_ARRAY);
                ck_assert_int_eq(rr->elements, 3);
                ck_assert_int_eq(rr->element[0]->type, REDIS_REPLY_STRING);
                snprintf(stamp, sizeof(stamp), "%s", rr->element[0]->str);
                snprintf(counter_after_restart,
                         sizeof(counter_after_restart), "%s",
                         rr->element[2]->type == REDIS_REPLY_STRING
                             ? rr->element[2]->str : "0");
                freeReplyObject(rr);
            }
            redisFree(rc);
            ck_assert_msg(strlen(stamp) > 41 &&
                              strncmp(stamp, replid, 40) == 0 &&
                              stamp[40] == ':',
                          "restarted replica's stamp \"%s\", stream %s",
                          stamp, replid);
            stamp_off = atoll(stamp + 41);
            /* The stamp is atomic with what it covers (I5): every
             * "INCR counter" is 27 bytes of stream, and nothing else is
             * in it. */
            ck_assert_msg(atol(counter_after_restart) > 0 &&
                              atoll(counter_after_restart) * 27 == stamp_off,
                          "the AOF gave back counter=%s with stamp offset "
                          "%lld", counter_after_restart, stamp_off);
        }
    }
    wait_state(1, "online", 20000);
    ck_assert_int_eq(cmd_int(c, "WAIT 2 10000"), 2);
    wait_synced();
    continues = last_continue_offset(F.spec[1], &resumed_at);
    printf("partial resync: replica killed at stream offset %lld, "
           "restarted with counter=%s and stamp offset %lld from its AOF, "
           "resumed from offset %lld (stream end %lld)\n", off_at_kill,
           counter_after_restart, stamp_off, resumed_at,
           replcheck_stream_offset(F.tandem.port));
    /* INFO: no seed. The log: a resume from the stamp, no needs-seed. */
    ck_assert_int_eq(seeds_of(1), seeds_before);
    ck_assert_msg(continues >= 1, "no partial resync logged for %s",
                  F.spec[1]);
    /* It resumed from what its AOF held, from before the kill (the
     * stamp read above may be later: tandem may have resumed first). */
    ck_assert_msg(resumed_at > 0 && resumed_at <= off_at_kill &&
                      resumed_at <= stamp_off && resumed_at % 27 == 0,
                  "replica resumed from offset %lld; killed at %lld, its "
                  "stamp read %lld", resumed_at, off_at_kill, stamp_off);
    ck_assert_int_eq(no_continue_lines(F.spec[1]), lines_before);
    assert_same_string("counter", "10000");
    redisFree(c);
    compare_all("partial resync");
}
END_TEST

/* ---- 6. a replica restarted empty --------------------------------- */

/*
 * Waits until replica i has left the stream for good: needs-seed, or
 * (with seeding) a seed counted in INFO. Returns the line.
 */
static void
wait_cut_off(int i, long seeds_before, char *line, size_t len)
{
    long long deadline = replcheck_now_ms() + 20000;

    for (;;) {
        char s[32] = "";
        char v[32];

        slave_line(i, line, len);
        replcheck_line_field(line, "state", s, sizeof(s));
        if (strcmp(s, "needs-seed") == 0 || strcmp(s, "seeding") == 0 ||
            (replcheck_line_field(line, "seeds", v, sizeof(v)) == 0 &&
             atol(v) > seeds_before)) {
            return;
        }
        if (replcheck_now_ms() > deadline) {
            fleet_dump_logs(&F);
            ck_abort_msg("replica %d was not cut off from the stream: %s", i,
                         line);
        }
        replcheck_sleep_ms(10);
    }
}

/* After a replica was cut off: either tandem seeds it (DESIGN I9) and it
 * ends online and identical, or (a tandem without seeding) it stays
 * needs-seed. */
static void
finish_cut_off(const char *test, int i, long seeds_before)
{
    char line[1024];

    if (seeds_before >= 0) {
        if (replcheck_wait_replica_synced(F.tandem.port, F.replica[i].port,
                                          30000, line, sizeof(line)) != 0) {
            fleet_dump_logs(&F);
            ck_abort_msg("%s: replica %d not seeded within 30 s: %s", test,
                         i, line);
        }
        ck_assert_msg(seeds_of(i) > seeds_before, "%s: replica %d came back "
                      "without a seed", test, i);
        printf("%s: replica %d seeded: %s\n", test, i, line);
        compare_all(test);
    } else {
        int k;

        for (k = 0; k < 10; k++) {
            assert_state(i, "needs-seed");
            replcheck_sleep_ms(100);
        }
        ck_assert_int_eq(replcheck_wait_replica_synced(F.tandem.port,
                                                       F.replica[1 - i].port,
                                                       10000, line,
                                                       sizeof(line)), 0);
        compare_one(test, 1 - i);
    }
}

/* Offset 0 has left the backlog: the empty replica can't replay the
 * stream; it is cut off (and seeded, slowly, with seed-max-keys-per-sec
 * so that the window is long enough to watch). */
START_TEST(test_empty_restart_needs_seed)
{
    static const char *const slow_seed[] = {"--backlog-size", "64kb",
                                            "--seed-max-keys-per-sec", "100",
                                            NULL};
    redisContext *c;
    redisContext *rc;
    char line[1024];
    long seeds_before;
    long long t0;
    long long el;
    int i;

    fleet_start(&F, NREPLICAS, NULL, slow_seed);
    c = harness_connect(F.tandem.port);
    for (i = 0; i < 4; i++) {
        pipeline_sets(c, "big", i * 50, 50, 1024);
    }
    wait_synced();
    ck_assert_msg(replcheck_stream_offset(F.tandem.port) > 3 * 65536,
                  "the stream should be well past the 64 KB backlog");
    seeds_before = seeds_of(1);

    kill_replica(1);
    restart_replica(1, NULL);      /* same port, no AOF: empty */
    wait_cut_off(1, seeds_before, line, sizeof(line));
    printf("empty restart: %s\n", line);
    rc = replica_conn(1, 0);
    printf("empty restart: the restarted replica holds %lld keys\n",
           cmd_int(rc, "DBSIZE"));
    redisFree(rc);

    /* The other replica carries on. */
    assert_state(0, "online");
    cmd_status(c, "OK", "SET after-restart 1");
    t0 = replcheck_now_ms();
    ck_assert_int_eq(cmd_int(c, "WAIT 1 0"), 1);
    el = replcheck_now_ms() - t0;
    ck_assert_msg(el < 1000, "WAIT 1 0 took %lld ms", el);
    t0 = replcheck_now_ms();
    ck_assert_int_eq(cmd_int(c, "WAIT 2 200"), 1);
    el = replcheck_now_ms() - t0;
    printf("empty restart: WAIT 2 200 returned 1 after %lld ms\n", el);
    ck_assert_msg(el >= 180 && el < 3000, "WAIT 2 200 took %lld ms", el);
    redisFree(c);
    finish_cut_off("empty restart", 1, seeds_before);
}
END_TEST

/* Offset 0 still in the backlog: the empty replica replays the whole
 * stream from offset 0 (no seed) and is identical again. */
START_TEST(test_empty_restart_replays_from_origin)
{
    redisContext *c;
    long long resumed_at;
    long seeds_before;
    int lines_before;
    int continues;
    int i;

    fleet_start(&F, NREPLICAS, NULL, NULL);
    c = harness_connect(F.tandem.port);
    pipeline_sets(c, "k", 0, 200, 100);
    for (i = 0; i < 50; i++) {
        ck_assert_int_eq(cmd_int(c, "EXPIRE k:%d %d", i, 100 + i), 1);
        cmd_str(c, (char[64]){0}, 64, "INCRBYFLOAT f 0.1");
        ck_assert_int_eq(cmd_int(c, "SADD s m%d", i), 1);
    }
    cmd_str(c, (char[64]){0}, 64, "SPOP s");
    ck_assert_int_eq(cmd_int(c, "WAIT 2 5000"), 2);
    seeds_before = seeds_of(1);
    lines_before = no_continue_lines(F.spec[1]);
    continues = last_continue_offset(F.spec[1], &resumed_at);
    kill_replica(1);
    restart_replica(1, NULL);
    wait_state(1, "online", 15000);
    ck_assert_int_eq(last_continue_offset(F.spec[1], &resumed_at),
                     continues + 1);
    ck_assert_int_eq(resumed_at, 0);
    ck_assert_int_eq(no_continue_lines(F.spec[1]), lines_before);
    ck_assert_int_eq(seeds_of(1), seeds_before);
    pipeline_sets(c, "after", 0, 10, 10);
    ck_assert_int_eq(cmd_int(c, "WAIT 2 5000"), 2);
    redisFree(c);
    compare_all("replay from origin");
}
END_TEST

/* ---- 7. backlog overflow ------------------------------------------ */

START_TEST(test_backlog_overflow)
{
    static const char *const args[] = {"--backlog-size", "64kb",
                                       "--seed-max-keys-per-sec", "2000",
                                       NULL};
    static struct worker w[4];
    redisContext *c;
    char line[1024];
    char value[1025];
    long seeds_before;
    long total = 0;
    long long t0;
    long long el;
    int stop = 0;
    int i;

    fleet_start(&F, NREPLICAS, NULL, args);
    seeds_before = seeds_of(1);
    c = harness_connect(F.tandem.port);
    memset(value, 'x', 1024);
    value[1024] = '\0';

    harness_signal(&F.replica[1], SIGSTOP);
    t0 = replcheck_now_ms();
    for (i = 0; i < 1000; i++) {
        cmd_status(c, "OK", "SET ov:%d %s", i, value);
    }
    el = replcheck_now_ms() - t0;
    /* The running replica keeps up meanwhile; the stopped one fell out
     * of the ring. */
    ck_assert_int_eq(cmd_int(c, "WAIT 1 5000"), 1);
    ck_assert_int_eq(cmd_int(c, "WAIT 2 200"), 1);
    slave_line(1, line, sizeof(line));
    printf("backlog overflow: 1000 x 1 KB SET in %lld ms with a replica "
           "stopped; stopped replica: %s\n", el, line);
    ck_assert_msg(strstr(line, "state=online") == NULL,
                  "the stopped replica is still online: %s", line);

    /* Clients keep writing while it comes back (and, with seeding, while
     * it is seeded). */
    for (i = 0; i < 4; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].id = 100 + i;
        w[i].port = F.tandem.port;
        w[i].limit = 1000000;
        w[i].pause_ms = 10;
        w[i].stop = &stop;
        ck_assert_int_eq(pthread_create(&w[i].thread, NULL, mix_worker,
                                        &w[i]), 0);
    }
    harness_signal(&F.replica[1], SIGCONT);
    wait_cut_off(1, seeds_before, line, sizeof(line));
    if (seeds_before >= 0) {
        /* Until it is online again, then a little more. */
        replcheck_wait_slave_state(F.tandem.port, F.replica[1].port,
                                   "online", 30000, line, sizeof(line));
        replcheck_sleep_ms(300);
    } else {
        replcheck_sleep_ms(1000);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
    for (i = 0; i < 4; i++) {
        pthread_join(w[i].thread, NULL);
        ck_assert_msg(w[i].fatal[0] == '\0', "writer %d: %s", i, w[i].fatal);
        ck_assert_msg(w[i].errors == 0, "writer %d: %ld errors, first: %s",
                      i, w[i].errors, w[i].first_error);
        total += w[i].sent;
    }
    printf("backlog overflow: %ld commands written while the replica came "
           "back: %s\n", total, line);
    assert_state(0, "online");
    redisFree(c);
    ck_assert_int_eq(replcheck_wait_replica_synced(F.tandem.port,
                                                   F.replica[0].port, 10000,
                                                   line, sizeof(line)), 0);
    compare_one("backlog overflow", 0);
    finish_cut_off("backlog overflow", 1, seeds_before);
}
END_TEST

/* One case per test, so that CK_RUN_CASE=<name> runs one alone. */
/* ---- 9. clean shutdown and restart ---------------------------------- */

/* Starts tandem again in front of the same fleet. */
static void
tandem_restart(const char *const *extra)
{
    const char *args[32];
    char report[2048];
    int n = 0;
    int i;

    for (i = 0; i < NREPLICAS; i++) {
        args[n++] = "--replica";
        args[n++] = F.spec[i];
    }
    for (i = 0; extra != NULL && extra[i] != NULL && n < 30; i++) {
        args[n++] = extra[i];
    }
    args[n] = NULL;
    ck_assert_int_eq(harness_start_tandem(&F.tandem, F.primary.port, args, 1),
                     0);
    if (replcheck_wait_synced(F.tandem.port, 20000, report,
                              sizeof(report)) != 0) {
        fleet_dump_logs(&F);
        ck_abort_msg("replicas not online within 20 s: %s", report);
    }
}

/* The primary's clean-shutdown mark, or "" when there is none. */
static void
read_mark(char *out, size_t len)
{
    redisContext *d = harness_connect(F.primary.port);

    cmd_status(d, "OK", "SELECT 15");
    cmd_str(d, out, len, "GET tandem:shutdown");
    if (strcmp(out, "(nil)") == 0) {
        out[0] = '\0';
    }
    redisFree(d);
}

/*
 * SIGTERM drains: writes in flight finish and are answered, new ones are
 * held and never sent, the replicas get everything, and a mark on the
 * primary lets the next tandem continue the same stream: the replicas
 * are online at once, not seeded. A mark from another primary process is
 * not trusted: then they are seeded.
 */
START_TEST(test_clean_restart_continues_without_seeding)
{
    redisContext *c;
    char replid[64], mark[256], want[128], line[1024];
    long long off, answered = 0;
    int i;

    fleet_start(&F, NREPLICAS, NULL, NULL);
    c = harness_connect(F.tandem.port);
    pipeline_sets(c, "before", 0, 2000, 100);
    cmd_status(c, "OK", "SET ttl:key v EX 1000");
    ck_assert_int_eq(cmd_int(c, "WAIT 2 5000"), 2);
    /* 20,000 INCRs in one go, then SIGTERM while tandem works on them:
     * every INCR the primary applied is answered, none is lost. */
    for (i = 0; i < 20000; i++) {
        redisAppendCommand(c, "INCR counter");
    }
    {
        int done = 0;

        while (!done) {
            ck_assert_int_eq(redisBufferWrite(c, &done), REDIS_OK);
        }
    }
    harness_signal(&F.tandem, SIGTERM);
    for (i = 0; i < 20000; i++) {
        redisReply *r = NULL;

        if (redisGetReply(c, (void **)&r) != REDIS_OK) {
            break;
        }
        ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
        ck_assert_int_eq(r->integer, i + 1);
        answered++;
        freeReplyObject(r);
    }
    redisFree(c);
    ck_assert_int_eq(harness_wait_exit(&F.tandem, 15000), 0);
    harness_stop(&F.tandem);
    {
        redisContext *d = harness_connect(F.primary.port);
        char counter[32];

        cmd_str(d, counter, sizeof(counter), "GET counter");
        printf("clean restart: %lld of 20000 INCRs answered before the "
               "shutdown, primary counter %s\n", answered, counter);
        ck_assert_msg(atoll(counter) == answered || (answered == 0 &&
                                                      strcmp(counter,
                                                             "(nil)") == 0),
                      "primary counter %s, %lld answered", counter, answered);
        redisFree(d);
    }
    read_mark(mark, sizeof(mark));
    ck_assert_msg(strlen(mark) > 82 && mark[40] == ':',
                  "no clean-shutdown mark on the primary (\"%s\")", mark);
    memcpy(replid, mark, 40);
    replid[40] = '\0';
    off = atoll(mark + 41);

    /* The next tandem continues: same stream, replicas online, no seed. */
    tandem_restart(NULL);
    c = harness_connect(F.tandem.port);
    ck_assert_str_eq(harness_info_field(c, "replication", "master_replid"),
                     replid);
    ck_assert_int_eq(atoll(harness_info_field(c, "replication",
                                              "master_repl_offset")), off);
    for (i = 0; i < NREPLICAS; i++) {
        ck_assert_int_eq(seeds_of(i), 0);
    }
    snprintf(want, sizeof(want), "continuing stream %s at offset %lld",
             replid, off);
    ck_assert_int_eq(replcheck_count_in_file(F.tandem.log, want), 1);
    read_mark(mark, sizeof(mark));
    ck_assert_msg(mark[0] == '\0', "the mark was not taken: %s", mark);
    printf("clean restart: stream %s continued at offset %lld, 0 seeds\n",
           replid, off);
    /* And goes on. */
    pipeline_sets(c, "after", 0, 2000, 100);
    ck_assert_int_eq(cmd_int(c, "INCR counter"), answered + 1);
    ck_assert_int_eq(cmd_int(c, "WAIT 2 5000"), 2);
    redisFree(c);
    compare_all("clean restart");

    /* A mark whose primary run_id is not this primary's: seeded. */
    ck_assert_int_eq(fleet_stop_tandem(&F), 0);
    read_mark(mark, sizeof(mark));
    ck_assert_msg(strlen(mark) > 82, "no mark after the second stop");
    {
        redisContext *d = harness_connect(F.primary.port);
        char forged[256];

        snprintf(forged, sizeof(forged), "%.*s%s", 82, mark,
                 "0000000000000000000000000000000000000000");
        cmd_status(d, "OK", "SELECT 15");
        cmd_status(d, "OK", "SET tandem:shutdown %s", forged);
        redisFree(d);
    }
    tandem_restart(NULL);
    for (i = 0; i < NREPLICAS; i++) {
        ck_assert_int_eq(seeds_of(i), 1);
    }
    ck_assert_int_eq(replcheck_count_in_file(F.tandem.log,
                                             "from another primary process"),
                     1);
    slave_line(0, line, sizeof(line));
    compare_all("restart with a foreign mark");
}
END_TEST

/* ---- 10. a primary that comes back without its data ----------------- */

/* Kills the primary and starts it again on its port and directory: it
 * loads what it saved there (nothing, unless the test ran SAVE: no
 * persistence is what a crash of a cache-style primary leaves). */
static void
primary_restart_empty(void)
{
    harness_signal(&F.primary, SIGKILL);
    ck_assert_int_eq(harness_wait_exit(&F.primary, 5000), 128 + SIGKILL);
    ck_assert_msg(replcheck_restart_redis(&F.primary, NULL) == 0,
                  "can't restart the primary on port %d", F.primary.port);
}

/* Waits until tandem's INFO says primary_link_status is want. */
static void
wait_link(redisContext *c, const char *want, int timeout_ms)
{
    long long t0 = wall_ms();
    const char *v = NULL;

    while (wall_ms() - t0 < timeout_ms) {
        v = harness_info_field(c, "primary", "primary_link_status");
        if (v != NULL && strcmp(v, want) == 0) {
            return;
        }
        usleep(50000);
    }
    fleet_dump_logs(&F);
    ck_abort_msg("primary_link_status is %s, not %s, after %d ms",
                 v != NULL ? v : "(none)", want, timeout_ms);
}

static long long
dbsize_of(int port)
{
    redisContext *d = harness_connect(port);
    long long n = cmd_int(d, "DBSIZE");

    redisFree(d);
    return n;
}

/* A write while the primary is held gets the reason, which says why. */
static void
assert_write_held(redisContext *c, const char *write, const char *why)
{
    redisReply *r = redisCommand(c, write);

    ck_assert_msg(r != NULL && r->type == REDIS_REPLY_ERROR &&
                      strstr(r->str, why) != NULL,
                  "%s while held: %s", write,
                  r != NULL && r->str != NULL ? r->str : "(no error)");
    printf("held primary: %s\n", r->str);
    freeReplyObject(r);
}

/* Waits (up to 10 s) until the field of tandem's INFO primary section
 * reads want: the guard's keyspace sample and its stamp in the primary
 * are taken once a second. */
static void
wait_primary_field(redisContext *c, const char *field, long long want)
{
    long long t0 = wall_ms();

    for (;;) {
        const char *v = harness_info_field(c, "primary", field);

        if (v != NULL && atoll(v) == want) {
            return;
        }
        ck_assert_msg(wall_ms() - t0 < 10000, "%s is %s, not %lld, after "
                      "10 s", field, v != NULL ? v : "(none)", want);
        usleep(100000);
    }
}

/* Until tandem's keyspace sample counts what the primary holds now. */
static void
wait_guard_sample(redisContext *c)
{
    wait_primary_field(c, "primary_sampled_keys",
                       dbsize_of(F.primary.port));
}

/*
 * DESIGN I11: a primary restarted without its data is not trusted. tandem
 * holds the pipe (clients get the reason, nothing reaches the primary, no
 * replica is seeded from it) until the primary holds its keys again or an
 * operator accepts it; then the replicas are seeded from it.
 */
START_TEST(test_primary_back_without_data_is_held)
{
    redisContext *c, *rep;
    int i;

    fleet_start(&F, NREPLICAS, NULL, NULL);
    c = harness_connect(F.tandem.port);
    pipeline_sets(c, "keep", 0, 1000, 50);
    cmd_status(c, "OK", "SET vol v EX 1000");
    ck_assert_int_eq(cmd_int(c, "WAIT 2 5000"), 2);
    wait_guard_sample(c);

    primary_restart_empty();
    wait_link(c, "held", 15000);
    assert_write_held(c, "SET after:loss 1", "lost data");
    usleep(1500000);
    ck_assert_int_eq(dbsize_of(F.primary.port), 0);
    for (i = 0; i < NREPLICAS; i++) {
        ck_assert_int_eq(dbsize_of(F.replica[i].port), 1001);
        ck_assert_int_eq(seeds_of(i), 0);
    }

    /* An operator restores the keys on the primary (here from a replica,
     * key by key): tandem trusts it again, and seeds the replicas. */
    rep = harness_connect(F.replica[0].port);
    {
        redisContext *d = harness_connect(F.primary.port);

        for (i = 0; i < 1000; i++) {
            redisReply *dump = redisCommand(rep, "DUMP keep:%d", i);

            ck_assert_int_eq(dump->type, REDIS_REPLY_STRING);
            cmd_status(d, "OK", "RESTORE keep:%d 0 %b", i, dump->str,
                       dump->len);
            freeReplyObject(dump);
        }
        redisFree(d);
    }
    wait_link(c, "up", 15000);
    cmd_status(c, "OK", "SET after:restore 1");
    ck_assert_int_eq(cmd_int(c, "WAIT 2 20000"), 2);
    for (i = 0; i < NREPLICAS; i++) {
        ck_assert_int_eq(seeds_of(i), 1);
    }
    compare_all("primary restored");

    /* Lost again; this time the operator takes it as it is. */
    wait_guard_sample(c);
    primary_restart_empty();
    wait_link(c, "held", 15000);
    cmd_error(c, "ERR tandem: the primary", "SET after:loss 2");
    cmd_status(c, "OK", "TANDEM ACCEPT-PRIMARY");
    cmd_error(c, "ERR tandem: the primary is not held",
              "TANDEM ACCEPT-PRIMARY");
    cmd_status(c, "OK", "SET after:accept 1");
    ck_assert_int_eq(cmd_int(c, "WAIT 2 20000"), 2);
    for (i = 0; i < NREPLICAS; i++) {
        ck_assert_int_eq(seeds_of(i), 2);
        ck_assert_int_eq(dbsize_of(F.replica[i].port), 1);
    }
    compare_all("primary accepted");
    redisFree(rep);
    redisFree(c);
}
END_TEST

/* Until tandem's stamp in the primary covers the whole stream. */
static void
wait_stamped(redisContext *c)
{
    wait_primary_field(c, "primary_stamped_offset",
                       replcheck_stream_offset(F.tandem.port));
}

/*
 * DESIGN I11: a primary restarted from an older snapshot that holds as
 * many keys as before is not trusted either. tandem's stamp in the
 * primary's meta-db (written on the pipe once a second while writes come)
 * is older there than the one the primary had applied: tandem holds the
 * pipe until TANDEM ACCEPT-PRIMARY, and the replicas keep the newer data.
 */
START_TEST(test_primary_back_with_older_data_is_held)
{
    redisContext *c, *p, *rep;
    int i;

    fleet_start(&F, NREPLICAS, NULL, NULL);
    c = harness_connect(F.tandem.port);
    pipeline_sets(c, "snap", 0, 300, 50);
    ck_assert_int_eq(cmd_int(c, "WAIT 2 5000"), 2);
    wait_stamped(c);
    p = harness_connect(F.primary.port);
    cmd_status(p, "OK", "SAVE");    /* the snapshot: old values, old stamp */
    redisFree(p);
    for (i = 0; i < 300; i++) {
        cmd_status(c, "OK", "SET snap:%d new%d", i, i);
    }
    ck_assert_int_eq(cmd_int(c, "WAIT 2 5000"), 2);
    wait_stamped(c);
    wait_guard_sample(c);

    primary_restart_empty();    /* loads the snapshot: 300 old keys */
    ck_assert_int_eq(dbsize_of(F.primary.port), 300);
    wait_link(c, "held", 15000);
    assert_write_held(c, "SET after:old 1", "older data");
    rep = harness_connect(F.replica[0].port);
    {
        char v[32];

        cmd_str(rep, v, sizeof(v), "GET snap:7");
        ck_assert_str_eq(v, "new7");
    }
    redisFree(rep);
    for (i = 0; i < NREPLICAS; i++) {
        ck_assert_int_eq(seeds_of(i), 0);
    }

    /* The operator takes it as it is: the replicas follow it. */
    cmd_status(c, "OK", "TANDEM ACCEPT-PRIMARY");
    cmd_status(c, "OK", "SET after:accept 1");
    ck_assert_int_eq(cmd_int(c, "WAIT 2 20000"), 2);
    for (i = 0; i < NREPLICAS; i++) {
        ck_assert_int_eq(seeds_of(i), 1);
    }
    redisFree(c);
    compare_all("older snapshot accepted");
}
END_TEST

/* ---- 11. failover ---------------------------------------------------- */

/* The "seeds" field of the replica on port. */
static long
seeds_on(int port)
{
    char line[1024];
    char v[32];

    ck_assert_msg(replcheck_slave_line(F.tandem.port, port, line,
                                       sizeof(line)) == 0,
                  "no INFO replication line for the replica on %d", port);
    return replcheck_line_field(line, "seeds", v, sizeof(v)) == 0 ? atol(v)
                                                                   : -1;
}

static void
wait_state_port(int port, const char *state, int timeout_ms)
{
    char line[1024];

    if (replcheck_wait_slave_state(F.tandem.port, port, state, timeout_ms,
                                   line, sizeof(line)) != 0) {
        fleet_dump_logs(&F);
        ck_abort_msg("replica %d did not become %s within %d ms: %s", port,
                     state, timeout_ms, line);
    }
}

/* Waits until tandem's pipe is up to the primary on port. */
static void
wait_primary(redisContext *c, int port, int timeout_ms)
{
    long long t0 = wall_ms();
    char want[16];

    snprintf(want, sizeof(want), "%d", port);
    while (wall_ms() - t0 < timeout_ms) {
        const char *v = harness_info_field(c, "primary", "primary_port");
        int at = v != NULL && strcmp(v, want) == 0;

        /* (the field is returned in a static buffer: one at a time) */
        v = harness_info_field(c, "primary", "primary_link_status");
        if (at && v != NULL && strcmp(v, "up") == 0) {
            return;
        }
        usleep(50000);
    }
    fleet_dump_logs(&F);
    ck_abort_msg("the primary is not %d within %d ms", port, timeout_ms);
}

/* Compares the servers on ports with the one on primary_port. */
static void
compare_ports(const char *test, int primary_port, const int *ports, int n)
{
    char report[4096];
    int i;

    for (i = 0; i < n; i++) {
        int d = replcheck_compare(primary_port, ports[i], report,
                                  sizeof(report));

        printf("%s: %d vs primary %d: %d differences\n", test, ports[i],
               primary_port, d);
        ck_assert_msg(d == 0, "%s: %d differs from %d: %s", test, ports[i],
                      primary_port, report);
    }
}

/* INFO last_failover ends with the failover's reason, and the log's
 * "Failover: ... becomes the primary at stream offset N (reason)" lines
 * never show an empty reason. */
static void
assert_failover_reason(redisContext *c, const char *want)
{
    const char *last = harness_info_field(c, "primary", "last_failover");
    const char *colon = last != NULL ? strrchr(last, ':') : NULL;

    ck_assert_msg(colon != NULL && strstr(colon, want) != NULL,
                  "last_failover \"%s\" does not end with its reason "
                  "(\"%s\")", last != NULL ? last : "(none)", want);
    ck_assert_int_eq(replcheck_count_in_file(F.tandem.log, " ()"), 0);
}

/*
 * TANDEM FAILOVER, then an automatic one: the new primary is a replica,
 * the other replica continues without a seed, the old primary becomes a
 * replica (seeded), and every write acknowledged with WAIT 1 survives the
 * primary's crash.
 */
START_TEST(test_failover_manual_then_automatic)
{
    static const char *const auto_fo[] = {"--failover-after", "1000", NULL};
    redisContext *c;
    int old_primary = 0;
    int others[2];
    long long acked = 0;
    int i;

    fleet_start(&F, NREPLICAS, NULL, auto_fo);
    old_primary = F.primary.port;
    c = harness_connect(F.tandem.port);
    pipeline_sets(c, "fo", 0, 2000, 64);
    ck_assert_int_eq(cmd_int(c, "WAIT 2 5000"), 2);

    /* Manual: both replicas are at the end; the first listed wins. */
    cmd_status(c, "OK", "TANDEM FAILOVER");
    wait_primary(c, F.replica[0].port, 15000);
    ck_assert_str_eq(harness_info_field(c, "primary", "failovers"), "1");
    assert_failover_reason(c, "TANDEM FAILOVER");
    cmd_status(c, "OK", "SET after:manual 1");
    /* WAIT answers how many acknowledged: the old primary, seeded
     * meanwhile, may already be one of them. */
    ck_assert_int_ge(cmd_int(c, "WAIT 1 5000"), 1);
    ck_assert_int_eq(seeds_on(F.replica[1].port), 0);
    /* The old primary is a replica now, seeded from the new one. */
    wait_state_port(old_primary, "online", 20000);
    ck_assert_int_eq(cmd_int(c, "WAIT 2 10000"), 2);
    others[0] = F.replica[1].port;
    others[1] = old_primary;
    compare_ports("manual failover", F.replica[0].port, others, 2);

    /* Automatic: the new primary crashes under WAIT-acknowledged writes. */
    for (i = 0; i < 300; i++) {
        cmd_status(c, "OK", "SET acked:%d %d", i, i);
        if (cmd_int(c, "WAIT 1 2000") >= 1) {
            acked = i + 1;
        }
    }
    harness_signal(&F.replica[0], SIGKILL);
    ck_assert_int_eq(harness_wait_exit(&F.replica[0], 5000), 128 + SIGKILL);
    /* Until tandem fails over (after failover-after), writes get the
     * "primary unavailable" error; a client retrying gets through. */
    {
        long long t0 = wall_ms();
        int errors = 0;

        for (;;) {
            redisReply *r = redisCommand(c, "SET after:auto 1");

            ck_assert_ptr_nonnull(r);
            if (r->type == REDIS_REPLY_STATUS) {
                freeReplyObject(r);
                break;
            }
            /* "lost the connection": tandem had not yet seen the crash
             * when the SET came, and sent it. */
            ck_assert_msg(r->type == REDIS_REPLY_ERROR &&
                              (strstr(r->str, "unavailable") != NULL ||
                               strstr(r->str, "lost the connection") !=
                                   NULL),
                          "SET during the failover: %s",
                          r->str != NULL ? r->str : "?");
            freeReplyObject(r);
            errors++;
            ck_assert_msg(wall_ms() - t0 < 15000, "no failover in 15 s");
            usleep(50000);
        }
        printf("automatic failover: writes refused for %lld ms (%d "
               "tries)\n", wall_ms() - t0, errors);
    }
    {
        const char *p = harness_info_field(c, "primary", "primary_port");
        int now = p != NULL ? atoi(p) : 0;

        ck_assert_msg(now == F.replica[1].port || now == old_primary,
                      "the primary is %d after the crash", now);
        ck_assert_str_eq(harness_info_field(c, "primary", "failovers"), "2");
        /* The reason, in INFO and the log, is the automatic one. */
        assert_failover_reason(c, "was unreachable for");
        printf("automatic failover: primary %d crashed, %lld writes "
               "acknowledged by WAIT 1, new primary %d\n",
               F.replica[0].port, acked, now);
        {
            redisContext *d = harness_connect(now);

            for (i = 0; i < acked; i++) {
                char v[32];

                cmd_str(d, v, sizeof(v), "GET acked:%d", i);
                ck_assert_int_eq(atoi(v), i);
            }
            redisFree(d);
        }
        ck_assert_int_ge(cmd_int(c, "WAIT 1 10000"), 1);
        others[0] = now == old_primary ? F.replica[1].port : old_primary;
        compare_ports("automatic failover", now, others, 1);
    }
    redisFree(c);
}
END_TEST

static int file_port;    /* the port the test's configuration file sets */

/* Starts tandem from exactly one argument, a configuration file, and
 * waits until both replicas are online. */
static void
tandem_from_file(const char *path)
{
    const char *args[] = {path, NULL};
    char report[2048];

    ck_assert_int_eq(harness_spawn_tandem(&F.tandem, args), 0);
    F.tandem.port = file_port;
    ck_assert_int_eq(harness_wait_ready(&F.tandem, 10000), 0);
    if (replcheck_wait_synced(F.tandem.port, 20000, report,
                              sizeof(report)) != 0) {
        fleet_dump_logs(&F);
        ck_abort_msg("replicas not online within 20 s: %s", report);
    }
}

/*
 * A failover rewrites the configuration file's primary and replica lines
 * (the rest stays); a SIGHUP keeps it; and a restart from the file -- a
 * clean one -- continues on the new primary without seeding anyone.
 */
START_TEST(test_failover_rewrites_the_configuration_file)
{
    char path[400], text[4096], want[128], port[16];
    redisContext *c;
    FILE *f;
    size_t n;
    int i;

    memset(&F, 0, sizeof(F));
    ck_assert_int_eq(harness_start_redis(&F.primary, NULL), 0);
    for (i = 0; i < NREPLICAS; i++) {
        ck_assert_int_eq(harness_start_redis(&F.replica[i], NULL), 0);
        snprintf(F.spec[i], sizeof(F.spec[i]), "127.0.0.1:%d",
                 F.replica[i].port);
    }
    file_port = harness_free_port();
    snprintf(port, sizeof(port), "%d", file_port);
    snprintf(path, sizeof(path), "%s/tandem.conf", F.primary.dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "# the fleet\nport %s\nprimary 127.0.0.1:%d\n# replicas:\n"
            "replica %s\nreplica %s\nloglevel verbose\n", port,
            F.primary.port, F.spec[0], F.spec[1]);
    fclose(f);
    tandem_from_file(path);
    c = harness_connect(F.tandem.port);
    pipeline_sets(c, "file", 0, 500, 32);
    ck_assert_int_eq(cmd_int(c, "WAIT 2 5000"), 2);
    cmd_status(c, "OK", "TANDEM FAILOVER %s", F.spec[1]);
    wait_primary(c, F.replica[1].port, 15000);

    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    printf("failover, the file after:\n%s", text);
    snprintf(want, sizeof(want), "primary %s\n", F.spec[1]);
    ck_assert_msg(strstr(text, want) != NULL, "no '%s' in the file", want);
    snprintf(want, sizeof(want), "replica %s\n", F.spec[0]);
    ck_assert_msg(strstr(text, want) != NULL, "no '%s' in the file", want);
    snprintf(want, sizeof(want), "replica 127.0.0.1:%d\n", F.primary.port);
    ck_assert_msg(strstr(text, want) != NULL, "no '%s' in the file", want);
    ck_assert(strstr(text, "# the fleet\n") != NULL);
    ck_assert(strstr(text, "# replicas:\n") != NULL);
    ck_assert(strstr(text, "loglevel verbose\n") != NULL);

    /* SIGHUP reads the rewritten file: nothing moves. */
    harness_signal(&F.tandem, SIGHUP);
    usleep(300000);
    wait_primary(c, F.replica[1].port, 5000);
    ck_assert_int_eq(replcheck_count_in_file(F.tandem.log,
                                             "Configuration reloaded: 2 "
                                             "replica(s)"), 1);
    cmd_status(c, "OK", "SET after:file 1");
    ck_assert_int_eq(cmd_int(c, "WAIT 2 20000"), 2);
    redisFree(c);

    /* A clean restart from the file: the new primary, no seed. */
    ck_assert_int_eq(fleet_stop_tandem(&F), 0);
    tandem_from_file(path);
    c = harness_connect(F.tandem.port);
    wait_primary(c, F.replica[1].port, 5000);
    ck_assert_int_eq(seeds_on(F.replica[0].port), 0);
    ck_assert_int_eq(seeds_on(F.primary.port), 0);
    redisFree(c);
    {
        int others[2] = {F.replica[0].port, F.primary.port};

        compare_ports("failover from a file", F.replica[1].port, others, 2);
    }
}
END_TEST

/*
 * DESIGN I12 a: a replica that answers a teed write otherwise than the
 * primary did has that write's keys transferred, and stays online. The
 * differences are planted by writing to replica 0 directly: a key of
 * another type (WRONGTYPE there), a counter with another value (INCR
 * answers 101 there, 1 on the primary), a set member already there
 * (SADD answers 0), and the same inside a transaction.
 * I6: the replica's acknowledgement waits for the repair. The primary is
 * paused (CLIENT PAUSE ALL) while the replica answers, so the repair's
 * DUMP waits there: WAIT 2 counts only replica 1, and replica 0 still
 * holds its wrong value. Once the pause ends WAIT 2 gives 2, and right
 * after it the replica holds the primary's values.
 * A difference that no key can repair (FUNCTION LOAD of a library the
 * replica already has) leaves the replica to be seeded, as before.
 */
START_TEST(test_reply_difference_is_repaired)
{
    static const char lib[] = "#!lua name=replib\n"
                              "redis.register_function('one', "
                              "function() return 1 end)";
    redisContext *c;
    redisContext *rc;
    redisContext *p;
    redisReply *r;
    char line[1024];
    long seeds[NREPLICAS];
    int i;

    fleet_start(&F, NREPLICAS, NULL, NULL);
    for (i = 0; i < NREPLICAS; i++) {
        seeds[i] = seeds_of(i);
    }
    rc = replica_conn(0, 0);
    cmd_status(rc, "OK", "SET strkey hello");
    cmd_status(rc, "OK", "SET counter 100");
    ck_assert_int_eq(cmd_int(rc, "SADD members x"), 1);
    cmd_status(rc, "OK", "SET counter2 41");

    c = harness_connect(F.tandem.port);
    p = harness_connect(F.primary.port);
    harness_signal(&F.replica[0], SIGSTOP);
    ck_assert_int_eq(cmd_int(c, "LPUSH strkey a"), 1);
    ck_assert_int_eq(cmd_int(c, "WAIT 1 5000"), 1);
    cmd_status(p, "OK", "CLIENT PAUSE 1500 ALL");
    harness_signal(&F.replica[0], SIGCONT);
    ck_assert_int_eq(cmd_int(c, "WAIT 2 500"), 1);
    r = cmd(rc, "TYPE strkey");
    ck_assert_msg(strcmp(r->str, "string") == 0, "the repair reached the "
                  "replica while the primary was paused (%s)", r->str);
    freeReplyObject(r);
    ck_assert_int_eq(cmd_int(c, "WAIT 2 10000"), 2);
    r = cmd(rc, "TYPE strkey");
    ck_assert_str_eq(r->str, "list");
    freeReplyObject(r);
    redisFree(p);

    ck_assert_int_eq(cmd_int(c, "INCR counter"), 1);
    ck_assert_int_eq(cmd_int(c, "SADD members x"), 1);
    cmd_status(c, "OK", "MULTI");
    cmd_status(c, "QUEUED", "INCR counter2");
    cmd_status(c, "QUEUED", "SET plain 1");
    r = cmd(c, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 2);
    freeReplyObject(r);
    ck_assert_int_eq(cmd_int(c, "WAIT 2 10000"), 2);

    /* Acknowledged means repaired. */
    assert_same_string("counter", "1");
    assert_same_string("counter2", "1");
    ck_assert_int_eq(cmd_int(rc, "SCARD members"), 1);

    slave_line(0, line, sizeof(line));
    ck_assert_msg(strstr(line, "state=online") != NULL, "%s", line);
    ck_assert_msg(replcheck_line_number(line, "repaired_keys", -1) >= 4,
                  "replica 0 should have 4 keys repaired: %s", line);
    for (i = 0; i < NREPLICAS; i++) {
        ck_assert_msg(seeds_of(i) == seeds[i], "replica %d was seeded", i);
    }
    ck_assert_msg(replcheck_count_in_file(F.tandem.log,
                                          "otherwise than the primary") >= 1,
                  "tandem did not log the difference");
    ck_assert_int_eq(replcheck_count_in_file(F.tandem.log, "diverged"), 0);
    compare_all("reply difference");

    /* No key to transfer: the replica is seeded. */
    r = redisCommand(rc, "FUNCTION LOAD %s", lib);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    freeReplyObject(r);
    r = redisCommand(c, "FUNCTION LOAD %s", lib);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    freeReplyObject(r);
    cmd_status(c, "OK", "SET after:function 1");
    wait_synced();
    ck_assert_msg(seeds_of(0) == seeds[0] + 1, "replica 0: seeds %ld -> %ld",
                  seeds[0], seeds_of(0));
    ck_assert_msg(seeds_of(1) == seeds[1], "replica 1 was seeded");
    ck_assert_int_ge(replcheck_count_in_file(F.tandem.log,
                                             "it has no keys to transfer"),
                     1);
    redisFree(rc);
    redisFree(c);
    compare_all("reply difference, then a seed");
}
END_TEST

/*
 * DESIGN section 5: writes in flight when the pipe is lost may have
 * applied on the primary without entering the stream. When the pipe is
 * back their keys are transferred: the replicas stay online, nothing is
 * seeded, and they end identical to the primary. The pipe is cut by
 * CLIENT KILL TYPE normal on the primary (tandem's Pub/Sub connection is
 * not of that type) while a pipeline of INCRs goes through tandem.
 */
START_TEST(test_lost_writes_are_transferred)
{
    redisContext *c;
    redisContext *p;
    long seeds[NREPLICAS];
    int attempt;
    int lost = 0;
    int i;

    fleet_start(&F, NREPLICAS, NULL, NULL);
    for (i = 0; i < NREPLICAS; i++) {
        seeds[i] = seeds_of(i);
    }
    c = harness_connect(F.tandem.port);
    p = harness_connect(F.primary.port);
    for (attempt = 0; attempt < 10 && !lost; attempt++) {
        int done = 0;
        int errors = 0;

        for (i = 0; i < 20000; i++) {
            redisAppendCommand(c, "INCR lost:%d", i % 10);
        }
        /* What the socket takes at once is on the way; then the cut. */
        ck_assert_int_eq(redisBufferWrite(c, &done), REDIS_OK);
        freeReplyObject(cmd(p, "CLIENT KILL TYPE normal SKIPME yes"));
        for (i = 0; i < 20000; i++) {
            redisReply *r = NULL;

            ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
            if (r->type == REDIS_REPLY_ERROR) {
                errors++;
            }
            freeReplyObject(r);
        }
        lost = replcheck_count_in_file(F.tandem.log, "written by requests "
                                                     "in flight") > 0;
        printf("lost writes, attempt %d: %d of 20000 INCRs answered with "
               "an error\n", attempt + 1, errors);
        /* Wait for the pipe to be back. */
        for (i = 0; i < 100; i++) {
            redisReply *r = redisCommand(c, "SET after:cut %d", attempt);

            ck_assert_ptr_nonnull(r);
            if (r->type == REDIS_REPLY_STATUS) {
                freeReplyObject(r);
                break;
            }
            freeReplyObject(r);
            usleep(100000);
        }
        lost = replcheck_count_in_file(F.tandem.log, "written by requests "
                                                     "in flight") > 0;
    }
    ck_assert_msg(lost, "no write was in flight at the cut in 10 attempts");
    ck_assert_int_eq(cmd_int(c, "WAIT 2 10000"), 2);
    wait_synced();
    for (i = 0; i < NREPLICAS; i++) {
        ck_assert_msg(seeds_of(i) == seeds[i], "replica %d was seeded (%ld "
                      "-> %ld)", i, seeds[i], seeds_of(i));
        assert_state(i, "online");
    }
    ck_assert_msg(atoi(harness_info_field(c, "stats",
                                          "lost_write_transfers")) >= 1,
                  "INFO lost_write_transfers is 0");
    redisFree(p);
    redisFree(c);
    compare_all("lost writes");
}
END_TEST

/*
 * A pop that finds nothing changes nothing, so it does not enter the
 * stream: a BLPOP that times out (its tries come back empty) and an LPOP
 * of a missing list leave the stream's offset where it was. A pop that
 * finds an element does enter it.
 */
START_TEST(test_empty_pops_stay_out_of_the_stream)
{
    redisContext *c;
    redisReply *r;
    long long before;

    fleet_start(&F, NREPLICAS, NULL, NULL);
    c = harness_connect(F.tandem.port);
    cmd_status(c, "OK", "SET start 1");
    ck_assert_int_eq(cmd_int(c, "WAIT 2 5000"), 2);
    before = replcheck_stream_offset(F.tandem.port);
    r = cmd(c, "BLPOP nolist 0.3");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    r = cmd(c, "LPOP nolist");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    r = cmd(c, "BZPOPMIN nozset 0.2");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    ck_assert_int_eq(replcheck_stream_offset(F.tandem.port), before);

    ck_assert_int_eq(cmd_int(c, "RPUSH list a b"), 2);
    r = cmd(c, "BLPOP list 1");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_str_eq(r->element[1]->str, "a");
    freeReplyObject(r);
    ck_assert_int_eq(cmd_int(c, "WAIT 2 5000"), 2);
    ck_assert_int_gt(replcheck_stream_offset(F.tandem.port), before);
    redisFree(c);
    compare_all("empty pops");
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
    Suite *s = suite_create("replication");

    add_case(s, "checker", test_checker_finds_differences);
    add_case(s, "effects", test_effects);
    add_case(s, "transactions", test_transactions);
    add_case(s, "ttl_then_move_in_multi", test_ttl_then_move_in_multi);
    add_case(s, "ttl_then_rename_in_multi", test_ttl_then_rename_in_multi);
    add_case(s, "wait", test_wait);
    add_case(s, "reply_difference", test_reply_difference_is_repaired);
    add_case(s, "lost_writes", test_lost_writes_are_transferred);
    add_case(s, "empty_pops", test_empty_pops_stay_out_of_the_stream);
    add_case(s, "mixed_load", test_mixed_load);
    add_case(s, "pipelined_own_replies", test_pipelined_own_replies);
    add_case(s, "partial_resync", test_partial_resync_after_kill);
    add_case(s, "empty_restart", test_empty_restart_needs_seed);
    add_case(s, "replay_from_origin", test_empty_restart_replays_from_origin);
    add_case(s, "backlog_overflow", test_backlog_overflow);
    add_case(s, "clean_restart", test_clean_restart_continues_without_seeding);
    add_case(s, "primary_held", test_primary_back_without_data_is_held);
    add_case(s, "primary_older", test_primary_back_with_older_data_is_held);
    add_case(s, "failover", test_failover_manual_then_automatic);
    add_case(s, "failover_file", test_failover_rewrites_the_configuration_file);
    return harness_run_suite(s);
}
