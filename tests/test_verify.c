/*
 * test_verify.c -- integration: the background verifier, TANDEM CHECK
 * (DESIGN I12 c).
 *
 * Each test starts a primary, two replicas and tandem, writes 5,000 keys
 * of every type through tandem (strings, lists, sets, hashes, zsets,
 * streams, some with TTLs) and waits until both replicas hold them.
 *
 *   planted_differences   five differences planted on a replica directly
 *                         (a value, a deleted key, a stray key, a TTL, a
 *                         set member): the pass finds exactly those five,
 *                         repairs them, and replcheck then finds none
 *   no_false_differences  a pass while a writer keeps changing the same
 *                         keys through tandem (scripts, transactions,
 *                         TTLs, deletes): no difference, no repair
 *   rate_limit            a pass at verify-max-keys-per-sec 1000 over
 *                         N keys takes at least N / 1000 seconds
 *
 * Processes are stopped by PID only.
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
#define NKEYS 5000

static struct fleet F;

static void
teardown(void)
{
    fleet_teardown(&F);
}

/* Drains n pipelined replies, failing on an error. */
static void
drain(redisContext *c, int n)
{
    while (n-- > 0) {
        redisReply *r = NULL;

        ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        ck_assert_msg(r->type != REDIS_REPLY_ERROR, "error: %s", r->str);
        freeReplyObject(r);
    }
}

/* NKEYS keys through tandem: six types in turn, every fifth with a TTL
 * (an hour, so none expires during the test). */
static void
write_dataset(redisContext *c)
{
    int i;
    int pending = 0;

    for (i = 0; i < NKEYS; i++) {
        switch (i % 6) {
        case 0:
            redisAppendCommand(c, "SET k:%d value-%d", i, i);
            break;
        case 1:
            redisAppendCommand(c, "RPUSH k:%d a b c %d", i, i);
            break;
        case 2:
            redisAppendCommand(c, "SADD k:%d x y z %d", i, i);
            break;
        case 3:
            redisAppendCommand(c, "HSET k:%d f1 v1 f2 v2 n %d", i, i);
            break;
        case 4:
            redisAppendCommand(c, "ZADD k:%d 1 a 2.5 b %d c", i, i);
            break;
        default:
            redisAppendCommand(c, "XADD k:%d * f %d", i, i);
            break;
        }
        pending++;
        if (i % 5 == 0) {
            redisAppendCommand(c, "EXPIRE k:%d 3600", i);
            pending++;
        }
        if (pending >= 500) {
            drain(c, pending);
            pending = 0;
        }
    }
    drain(c, pending);
}

static void
wait_synced(void)
{
    char report[2048];

    ck_assert_msg(replcheck_wait_synced(F.tandem.port, 20000, report,
                                        sizeof(report)) == 0,
                  "not in sync: %s", report);
}

/* A numeric field of TANDEM CHECK STATUS (-1 when absent); status gets
 * verify_status's value when not NULL. */
static long long
status_field(redisContext *c, const char *field, char *status, size_t len)
{
    redisReply *r = redisCommand(c, "TANDEM CHECK STATUS");
    const char *p;
    long long v = -1;
    char key[64];

    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    snprintf(key, sizeof(key), "%s:", field);
    if ((p = strstr(r->str, key)) != NULL) {
        v = strtoll(p + strlen(key), NULL, 10);
    }
    if (status != NULL && (p = strstr(r->str, "verify_status:")) != NULL) {
        size_t n = strcspn(p + 14, "\r\n");

        snprintf(status, len, "%.*s", (int)n, p + 14);
    }
    freeReplyObject(r);
    return v;
}

/* Waits (bounded) until the pass started is over. */
static void
wait_pass(redisContext *c, int timeout_ms)
{
    long long deadline = replcheck_now_ms() + timeout_ms;
    char status[32] = "";

    while (replcheck_now_ms() < deadline) {
        status_field(c, "verify_keys_checked", status, sizeof(status));
        if (strcmp(status, "running") != 0) {
            break;
        }
        replcheck_sleep_ms(50);
    }
    ck_assert_msg(strcmp(status, "finished") == 0,
                  "the pass did not finish: %s", status);
}

/* Starts a pass and waits until it is over. */
static void
check_pass(redisContext *c, int timeout_ms)
{
    cmd_status(c, "OK", "TANDEM CHECK");
    wait_pass(c, timeout_ms);
}

static void
compare_all(const char *when)
{
    char report[4096];
    int i;

    for (i = 0; i < NREPLICAS; i++) {
        int d = replcheck_compare(F.primary.port, F.replica[i].port, report,
                                  sizeof(report));

        ck_assert_msg(d == 0, "%s: replica %d: %d differences: %s", when, i,
                      d, report);
    }
}

/* ---- a. planted differences ----------------------------------------- */

START_TEST(test_check_repairs_planted_differences)
{
    static const char *const extra[] = {"--verify-max-keys-per-sec", "20000",
                                        NULL};
    redisContext *c;
    redisContext *r0;
    redisReply *r;
    char report[4096];

    fleet_start(&F, NREPLICAS, NULL, extra);
    c = harness_connect(F.tandem.port);
    write_dataset(c);
    wait_synced();
    compare_all("before planting");

    /* Five differences, directly on replica 0. */
    r0 = harness_connect(F.replica[0].port);
    cmd_status(r0, "OK", "SET k:6 changed");             /* a value */
    ck_assert_int_eq(cmd_int(r0, "DEL k:9"), 1);          /* a deleted key */
    cmd_status(r0, "OK", "SET stray:1 x");                /* a stray key */
    ck_assert_int_eq(cmd_int(r0, "EXPIRE k:10 7200"), 1); /* a TTL */
    ck_assert_int_eq(cmd_int(r0, "SADD k:2 extra"), 1);   /* a member */
    ck_assert_int_gt(replcheck_compare(F.primary.port, F.replica[0].port,
                                       report, sizeof(report)),
                     0);

    /* One pass at a time. */
    cmd_status(c, "OK", "TANDEM CHECK");
    r = redisCommand(c, "TANDEM CHECK");
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_msg(strstr(r->str, "already running") != NULL, "%s", r->str);
    freeReplyObject(r);

    wait_pass(c, 60000);
    /* Every key of the primary, and the stray one (SCAN may return a key
     * twice, never skip one). */
    ck_assert_int_ge(status_field(c, "verify_keys_checked", NULL, 0),
                     NKEYS + 1);
    ck_assert_int_eq(status_field(c, "verify_differences", NULL, 0), 5);
    ck_assert_int_eq(status_field(c, "verify_repairs", NULL, 0), 5);
    ck_assert_int_eq(atoll(harness_info_field(c, "stats",
                                              "verify_repairs")),
                     5);
    ck_assert_int_eq(replcheck_count_in_file(F.tandem.log,
                                             "differs on replica"),
                     5);
    wait_synced();
    compare_all("after the repairs");
    printf("planted 5 differences: found %lld, repaired %lld\n",
           status_field(c, "verify_differences", NULL, 0),
           status_field(c, "verify_repairs", NULL, 0));

    /* A second pass finds nothing. */
    check_pass(c, 60000);
    ck_assert_int_eq(status_field(c, "verify_differences", NULL, 0), 0);
    ck_assert_int_eq(status_field(c, "verify_repairs", NULL, 0), 0);
    redisFree(r0);
    redisFree(c);
}
END_TEST

/* ---- b. no false differences under writes --------------------------- */

static volatile int writer_stop;
static long writer_ops;

/* Keeps changing the dataset's keys through tandem: plain writes, TTLs,
 * deletes and re-creates, transactions, and scripts (replicated as key
 * transfers, which enter the stream after the script's reply). */
static void *
writer(void *arg)
{
    redisContext *c = harness_connect(F.tandem.port);
    unsigned seed = 42;
    long n = 0;

    (void)arg;
    while (!writer_stop && c != NULL && c->err == 0) {
        int k = (int)(rand_r(&seed) % NKEYS);
        int pending = 1;

        switch (rand_r(&seed) % 9) {
        case 0:
            redisAppendCommand(c, "SET w:%d %d", k, n);
            break;
        case 1:
            redisAppendCommand(c, "INCR w:counter:%d", k % 50);
            break;
        case 2:
            redisAppendCommand(c, "SADD w:set:%d m%d", k % 200, n);
            break;
        case 3:
            redisAppendCommand(c, "HSET w:hash:%d f%d %d", k % 200, k, n);
            break;
        case 4:
            redisAppendCommand(c, "PEXPIRE w:%d 600000", k);
            break;
        case 5:
            redisAppendCommand(c, "DEL w:%d", k);
            break;
        case 6:
            redisAppendCommand(c, "MULTI");
            redisAppendCommand(c, "LPUSH w:list:%d %d", k % 100, n);
            redisAppendCommand(c, "ZADD w:z:%d %d m%d", k % 100, n, k);
            redisAppendCommand(c, "EXEC");
            pending = 4;
            break;
        case 7:
            redisAppendCommand(c, "EVAL %s 2 w:%d w:counter:%d 1",
                               "redis.call('SET', KEYS[1], ARGV[1]); "
                               "return redis.call('INCR', KEYS[2])",
                               k, k % 50);
            break;
        default:
            redisAppendCommand(c, "XADD w:stream:%d * n %d", k % 50, n);
            break;
        }
        while (pending-- > 0) {
            redisReply *r = NULL;

            if (redisGetReply(c, (void **)&r) != REDIS_OK) {
                break;
            }
            freeReplyObject(r);
        }
        n++;
    }
    writer_ops = n;
    if (c != NULL) {
        redisFree(c);
    }
    return NULL;
}

/* The writer's keys: the same db, mixed with the dataset; written once
 * before the pass so that the pass walks them while they change. */
static void
write_writer_keys(redisContext *c)
{
    int i;

    for (i = 0; i < NKEYS; i += 2) {
        redisAppendCommand(c, "SET w:%d init", i);
    }
    drain(c, NKEYS / 2);
}

START_TEST(test_check_under_writes_finds_no_false_differences)
{
    static const char *const extra[] = {"--verify-max-keys-per-sec", "4000",
                                        NULL};
    redisContext *c;
    pthread_t th;
    long long rereads;
    long long checked;

    fleet_start(&F, NREPLICAS, NULL, extra);
    c = harness_connect(F.tandem.port);
    write_dataset(c);
    write_writer_keys(c);
    wait_synced();

    writer_stop = 0;
    ck_assert_int_eq(pthread_create(&th, NULL, writer, NULL), 0);
    replcheck_sleep_ms(200);
    check_pass(c, 90000);
    writer_stop = 1;
    pthread_join(th, NULL);

    checked = status_field(c, "verify_keys_checked", NULL, 0);
    rereads = status_field(c, "verify_rereads", NULL, 0);
    printf("under %ld concurrent writes: %lld keys checked, %lld re-reads, "
           "%lld differences, %lld repairs, %lld not compared\n",
           writer_ops, checked, rereads,
           status_field(c, "verify_differences", NULL, 0),
           status_field(c, "verify_repairs", NULL, 0),
           status_field(c, "verify_keys_not_compared", NULL, 0));
    ck_assert_int_gt(writer_ops, 1000);
    ck_assert_int_ge(checked, NKEYS);
    ck_assert_int_eq(status_field(c, "verify_differences", NULL, 0), 0);
    ck_assert_int_eq(status_field(c, "verify_repairs", NULL, 0), 0);
    ck_assert_int_eq(replcheck_count_in_file(F.tandem.log,
                                             "differs on replica"),
                     0);
    wait_synced();
    compare_all("after the writes");
    redisFree(c);
}
END_TEST

/* ---- c. the rate limit ----------------------------------------------- */

START_TEST(test_check_rate_limit_holds)
{
    static const char *const extra[] = {"--verify-max-keys-per-sec", "1000",
                                        NULL};
    redisContext *c;
    long long ms;
    long long t0;
    int i;

    fleet_start(&F, NREPLICAS, NULL, extra);
    c = harness_connect(F.tandem.port);
    for (i = 0; i < 2000; i++) {
        redisAppendCommand(c, "SET r:%d %d", i, i);
    }
    drain(c, 2000);
    wait_synced();
    t0 = replcheck_now_ms();
    check_pass(c, 60000);
    ms = status_field(c, "verify_duration_ms", NULL, 0);
    printf("rate limit: 2000 keys at verify-max-keys-per-sec 1000: the pass "
           "(primary and 2 replica walks) took %lld ms (wall %lld ms)\n", ms,
           replcheck_now_ms() - t0);
    ck_assert_int_ge(status_field(c, "verify_keys_checked", NULL, 0), 2000);
    ck_assert_int_ge(ms, 2000);
    ck_assert_int_eq(status_field(c, "verify_differences", NULL, 0), 0);

    /* STOP ends a pass in progress. */
    cmd_status(c, "OK", "TANDEM CHECK");
    cmd_status(c, "OK", "TANDEM CHECK STOP");
    {
        char status[32];

        status_field(c, "verify_keys_checked", status, sizeof(status));
        ck_assert_str_eq(status, "stopped");
    }
    redisFree(c);
}
END_TEST

static void
add_case(Suite *s, const char *name, const TTest *test)
{
    harness_add_case(s, name, test, NULL, teardown, 180);
}

int
main(void)
{
    Suite *s = suite_create("verify");

    add_case(s, "planted_differences",
             test_check_repairs_planted_differences);
    add_case(s, "no_false_differences",
             test_check_under_writes_finds_no_false_differences);
    add_case(s, "rate_limit", test_check_rate_limit_holds);
    return harness_run_suite(s);
}
