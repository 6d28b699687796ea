/*
 * test_pipe.c -- integration suite "pipe": what clients see when the
 * primary goes away and comes back (DESIGN section 5, "primary pipe
 * lost"):
 *
 *   - a request in flight when the primary dies gets an -ERR saying its
 *     outcome is unknown, in its slot, never a hang;
 *   - a new request while the primary is down gets a clear -ERR at once;
 *   - tandem reconnects with backoff, and commands work again, each client
 *     still in its own db;
 *   - tandem starts with no primary, and serves once one appears;
 *   - a backend that is not Redis 7 is refused at handshake with a clear
 *     log line.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct proc redis;
static struct proc tandem;

/* The fake, not-Redis-7 backend of the last test. */
static pthread_t fake_thread;
static int fake_running = 0;
static volatile int fake_stop = 0;
static volatile int fake_accepted = 0;
static int fake_fd = -1;

static void
setup(void)
{
    ck_assert_int_eq(harness_start_redis(&redis, NULL), 0);
    ck_assert_int_eq(harness_start_tandem(&tandem, redis.port, NULL, 1), 0);
}

/* For tests that arrange their own processes. */
static void
setup_none(void)
{
    memset(&redis, 0, sizeof(redis));
    memset(&tandem, 0, sizeof(tandem));
}

static void
teardown(void)
{
    /* harness_stop sends SIGCONT first: a stopped primary goes too. */
    harness_stop(&tandem);
    harness_stop(&redis);
    if (fake_running) {
        fake_stop = 1;
        pthread_join(fake_thread, NULL);
        fake_running = 0;
    }
    if (fake_fd >= 0) {
        close(fake_fd);
        fake_fd = -1;
    }
}

/* ---- helpers ---- */

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Polls INFO primary until primary_link_status is `state`. Returns 1, or
 * 0 after timeout_ms. */
static int
wait_link(redisContext *c, const char *state, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;

    for (;;) {
        const char *s = harness_info_field(c, "primary",
                                           "primary_link_status");

        if (s != NULL && strcmp(s, state) == 0) {
            return 1;
        }
        if (now_ms() >= deadline) {
            return 0;
        }
        sleep_ms(20);
    }
}

static long long
info_ll(redisContext *c, const char *section, const char *field)
{
    const char *v = harness_info_field(c, section, field);

    ck_assert_msg(v != NULL, "INFO %s has no %s", section, field);
    return atoll(v);
}

/* Copies an INFO field (harness_info_field's buffer is static). */
static void
info_str(redisContext *c, const char *section, const char *field, char *dst,
         size_t len)
{
    const char *v = harness_info_field(c, section, field);

    ck_assert_msg(v != NULL, "INFO %s has no %s", section, field);
    snprintf(dst, len, "%s", v);
}

static void
assert_error_prefix(redisReply *r, const char *prefix, const char *what)
{
    ck_assert_msg(r != NULL, "%s: no reply (hang or closed)", what);
    ck_assert_msg(r->type == REDIS_REPLY_ERROR &&
                      strncmp(r->str, prefix, strlen(prefix)) == 0,
                  "%s: expected an error starting with '%s', got type %d "
                  "'%s'", what, prefix, r->type,
                  r->str != NULL ? r->str : "");
}

/* Sends a command and times its reply. */
static redisReply *
timed_cmd(redisContext *c, long long *ms, const char *cmd)
{
    long long t0 = now_ms();
    redisReply *r = harness_cmd(c, cmd);

    *ms = now_ms() - t0;
    return r;
}

/* Writes out whatever hiredis has buffered, without reading. */
static void
flush_pipeline(redisContext *c)
{
    int done = 0;
    int rounds = 0;

    while (!done && rounds++ < 1000) {
        ck_assert_int_eq(redisBufferWrite(c, &done), REDIS_OK);
    }
    ck_assert(done);
}

/* 1 when the process's log contains needle. */
static int
log_contains(const struct proc *p, const char *needle)
{
    FILE *f = fopen(p->log, "r");
    char line[2048];
    int found = 0;

    if (f == NULL) {
        return 0;
    }
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        found = strstr(line, needle) != NULL;
    }
    fclose(f);
    return found;
}

/* The log line that contains needle (static buffer), or "". */
static const char *
log_line(const struct proc *p, const char *needle)
{
    static char line[2048];
    FILE *f = fopen(p->log, "r");

    if (f == NULL) {
        return "";
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, needle) != NULL) {
            fclose(f);
            return line;
        }
    }
    fclose(f);
    return "";
}

/* ---- tests ---- */

START_TEST(test_new_command_fails_fast_while_primary_is_down)
{
    redisContext *c = harness_connect(tandem.port);
    redisContext *admin = harness_connect(tandem.port);
    redisReply *r;
    char err[512];
    char primary[64];
    long long ms;
    int i;

    r = harness_cmd(c, "SET k v");
    ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);

    harness_stop(&redis);
    ck_assert_msg(wait_link(admin, "down", 3000),
                  "primary_link_status did not become down");

    snprintf(primary, sizeof(primary), "ERR tandem: the primary "
             "127.0.0.1:%d is unavailable (", redis.port);
    /* Every new command, quickly, and the connection stays usable. */
    for (i = 0; i < 5; i++) {
        r = timed_cmd(c, &ms, "GET k");
        assert_error_prefix(r, primary, "GET while down");
        ck_assert_msg(ms < 3000, "GET took %lld ms", ms);
        freeReplyObject(r);
    }
    r = timed_cmd(c, &ms, "SET k w");
    assert_error_prefix(r, "ERR tandem: the primary", "SET while down");
    ck_assert_msg(ms < 3000, "SET took %lld ms", ms);
    freeReplyObject(r);
    /* tandem's own commands still answer. */
    r = harness_cmd(c, "PING");
    ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
    ck_assert_str_eq(r->str, "PONG");
    freeReplyObject(r);

    ck_assert(wait_link(admin, "down", 3000));
    info_str(admin, "primary", "primary_last_error", err, sizeof(err));
    ck_assert_msg(err[0] != '\0', "primary_last_error is empty");
    ck_assert_int_eq(info_ll(admin, "stats", "primary_disconnects"), 1);
    redisFree(admin);
    redisFree(c);
}
END_TEST

START_TEST(test_tandem_reconnects_when_primary_returns_on_same_port)
{
    redisContext *a = harness_connect(tandem.port);
    redisContext *b = harness_connect(tandem.port);
    redisContext *d;
    redisReply *r;
    int port = redis.port;
    long long connects = info_ll(a, "stats", "primary_connects");
    long long t0;

    ck_assert_int_eq(connects, 1);
    r = harness_cmd(a, "SELECT 3");
    ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);

    harness_stop(&redis);
    ck_assert(wait_link(b, "down", 3000));
    r = harness_cmd(a, "SET k before");
    assert_error_prefix(r, "ERR tandem: the primary", "SET while down");
    freeReplyObject(r);

    /* Down for a while, so the backoff has grown. */
    sleep_ms(1000);
    ck_assert_int_eq(harness_start_redis_on_port(&redis, port, NULL), 0);
    t0 = now_ms();
    ck_assert_msg(wait_link(b, "up", 10000),
                  "tandem did not reconnect within 10 s");
    ck_assert_msg(now_ms() - t0 < 8000, "reconnect took %lld ms",
                  now_ms() - t0);
    ck_assert_int_eq(info_ll(b, "stats", "primary_connects"), connects + 1);

    /* Commands work again; each client is still in its own db. */
    r = harness_cmd(a, "SET k after3");
    ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    r = harness_cmd(b, "SET k after0");
    ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    r = harness_cmd(a, "GET k");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_str_eq(r->str, "after3");
    freeReplyObject(r);

    d = harness_connect(redis.port);
    r = harness_cmd(d, "GET k");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_str_eq(r->str, "after0");
    freeReplyObject(r);
    r = harness_cmd(d, "SELECT 3");
    freeReplyObject(r);
    r = harness_cmd(d, "GET k");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_str_eq(r->str, "after3");
    freeReplyObject(r);
    redisFree(d);
    {
        const char *e = harness_info_field(b, "primary",
                                           "primary_last_error");

        ck_assert_ptr_nonnull(e);
        ck_assert_str_eq(e, "");
    }
    redisFree(b);
    redisFree(a);
}
END_TEST

START_TEST(test_in_flight_requests_get_errors_when_primary_dies)
{
    redisContext *a = harness_connect(tandem.port);
    redisContext *b = harness_connect(tandem.port);
    redisContext *admin = harness_connect(tandem.port);
    redisReply *r;
    long long deadline;
    long long t0;
    int i;

    r = harness_cmd(a, "SET x 1");
    ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);

    /* A stopped primary takes requests into its socket but never
     * answers: they are in flight. */
    harness_signal(&redis, SIGSTOP);
    redisAppendCommand(a, "GET x");
    redisAppendCommand(a, "INCR y");
    redisAppendCommand(b, "SET z 1");
    flush_pipeline(a);
    flush_pipeline(b);

    deadline = now_ms() + 5000;
    while (info_ll(admin, "primary", "pipe_inflight") < 3 &&
           now_ms() < deadline) {
        sleep_ms(20);
    }
    ck_assert_int_ge(info_ll(admin, "primary", "pipe_inflight"), 3);
    /* tandem answers its own commands meanwhile. */
    r = harness_cmd(admin, "PING");
    ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);

    harness_signal(&redis, SIGKILL);
    t0 = now_ms();
    for (i = 0; i < 2; i++) {
        r = NULL;
        ck_assert_int_eq(redisGetReply(a, (void **)&r), REDIS_OK);
        assert_error_prefix(r, "ERR tandem: lost the connection to the "
                               "primary", i == 0 ? "GET x" : "INCR y");
        ck_assert_msg(strstr(r->str, "may or may not have been applied") !=
                          NULL, "%s", r->str);
        freeReplyObject(r);
    }
    r = NULL;
    ck_assert_int_eq(redisGetReply(b, (void **)&r), REDIS_OK);
    assert_error_prefix(r, "ERR tandem: lost the connection to the primary",
                        "SET z 1");
    freeReplyObject(r);
    ck_assert_msg(now_ms() - t0 < 3000, "errors took %lld ms",
                  now_ms() - t0);

    ck_assert_int_eq(info_ll(admin, "stats", "primary_failed_requests"), 3);
    ck_assert_int_eq(info_ll(admin, "primary", "pipe_inflight"), 0);
    /* The connections stay usable: new commands get the down error. */
    r = harness_cmd(a, "GET x");
    assert_error_prefix(r, "ERR tandem: the primary", "GET after the loss");
    freeReplyObject(r);
    r = harness_cmd(b, "PING");
    ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisFree(admin);
    redisFree(b);
    redisFree(a);
}
END_TEST

START_TEST(test_starts_without_primary_and_serves_when_it_appears)
{
    int port = harness_free_port();
    redisContext *c;
    redisContext *d;
    redisReply *r;
    char err[512];
    char want[128];

    ck_assert_int_eq(harness_start_tandem(&tandem, port, NULL, 0), 0);
    c = harness_connect(tandem.port);

    r = harness_cmd(c, "PING");
    ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
    ck_assert_str_eq(r->str, "PONG");
    freeReplyObject(r);
    r = harness_cmd(c, "GET k");
    snprintf(want, sizeof(want),
             "ERR tandem: the primary 127.0.0.1:%d is unavailable", port);
    assert_error_prefix(r, want, "GET with no primary");
    freeReplyObject(r);
    ck_assert(wait_link(c, "down", 3000));
    info_str(c, "primary", "primary_last_error", err, sizeof(err));
    ck_assert_msg(err[0] != '\0', "primary_last_error is empty");
    ck_assert_int_eq(info_ll(c, "stats", "primary_connects"), 0);

    ck_assert_int_eq(harness_start_redis_on_port(&redis, port, NULL), 0);
    ck_assert_msg(wait_link(c, "up", 10000),
                  "tandem did not connect within 10 s");
    r = harness_cmd(c, "GET k");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    r = harness_cmd(c, "SET k v");
    ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    d = harness_connect(redis.port);
    r = harness_cmd(d, "GET k");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_str_eq(r->str, "v");
    freeReplyObject(r);
    redisFree(d);
    ck_assert_int_eq(info_ll(c, "stats", "primary_connects"), 1);
    redisFree(c);
}
END_TEST

/*
 * A backend that speaks RESP but says it is Redis 6.2: it answers every
 * connection's first request with an INFO-like bulk, then reads until
 * tandem hangs up.
 */
static void *
fake_redis6(void *arg)
{
    static const char body[] =
        "# Server\r\nredis_version:6.2.0\r\nredis_mode:standalone\r\n"
        "run_id:0123456789012345678901234567890123456789\r\n";
    char reply[256];
    int n = snprintf(reply, sizeof(reply), "$%zu\r\n%s\r\n",
                     sizeof(body) - 1, body);

    while (!fake_stop) {
        struct pollfd pfd = {fake_fd, POLLIN, 0};
        long long deadline;
        int answered = 0;
        int fd;

        if (poll(&pfd, 1, 100) <= 0) {
            continue;
        }
        fd = accept(fake_fd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        fake_accepted++;
        deadline = now_ms() + 3000;
        while (!fake_stop && now_ms() < deadline) {
            struct pollfd cfd = {fd, POLLIN, 0};
            char buf[4096];
            ssize_t got;

            if (poll(&cfd, 1, 100) <= 0) {
                continue;
            }
            got = recv(fd, buf, sizeof(buf), 0);
            if (got <= 0) {
                break;
            }
            if (!answered) {
                if (send(fd, reply, (size_t)n, MSG_NOSIGNAL) != n) {
                    break;
                }
                answered = 1;
            }
        }
        close(fd);
    }
    return arg;
}

START_TEST(test_backend_that_is_not_redis_7_is_refused_with_a_log_line)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    redisContext *c;
    redisReply *r;
    long long deadline;
    char err[512];
    int one = 1;
    int port;

    fake_fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fake_fd, 0);
    setsockopt(fake_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fake_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(getsockname(fake_fd, (struct sockaddr *)&sa, &len), 0);
    ck_assert_int_eq(listen(fake_fd, 16), 0);
    port = ntohs(sa.sin_port);
    fake_stop = 0;
    fake_accepted = 0;
    ck_assert_int_eq(pthread_create(&fake_thread, NULL, fake_redis6, NULL),
                     0);
    fake_running = 1;

    ck_assert_int_eq(harness_start_tandem(&tandem, port, NULL, 0), 0);
    deadline = now_ms() + 5000;
    while (!log_contains(&tandem, "6.2.0") && now_ms() < deadline) {
        sleep_ms(20);
    }
    ck_assert_msg(log_contains(&tandem, "6.2.0"),
                  "no log line names the backend's version");
    {
        const char *line = log_line(&tandem, "6.2.0");

        ck_assert_msg(strstr(line, "Redis 7") != NULL &&
                          strstr(line, "refused") != NULL,
                      "unclear log line: %s", line);
    }
    ck_assert_int_ge(fake_accepted, 1);

    c = harness_connect(tandem.port);
    {
        const char *s = harness_info_field(c, "primary",
                                           "primary_link_status");

        ck_assert_ptr_nonnull(s);
        ck_assert_str_ne(s, "up");
    }
    info_str(c, "primary", "primary_last_error", err, sizeof(err));
    ck_assert_msg(strstr(err, "6.2.0") != NULL, "last error: %s", err);
    r = harness_cmd(c, "GET k");
    assert_error_prefix(r, "ERR tandem: the primary", "GET");
    ck_assert_msg(strstr(r->str, "6.2.0") != NULL, "%s", r->str);
    freeReplyObject(r);
    ck_assert_int_eq(info_ll(c, "stats", "primary_connects"), 0);
    redisFree(c);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("pipe");
    TCase *running = tcase_create("running");
    TCase *own = tcase_create("own-setup");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(running, setup, teardown);
    tcase_set_timeout(running, 60);
    tcase_add_test(running, test_new_command_fails_fast_while_primary_is_down);
    tcase_add_test(running,
                   test_tandem_reconnects_when_primary_returns_on_same_port);
    tcase_add_test(running,
                   test_in_flight_requests_get_errors_when_primary_dies);
    suite_add_tcase(s, running);

    tcase_add_checked_fixture(own, setup_none, teardown);
    tcase_set_timeout(own, 60);
    tcase_add_test(own,
                   test_starts_without_primary_and_serves_when_it_appears);
    tcase_add_test(own,
                   test_backend_that_is_not_redis_7_is_refused_with_a_log_line);
    suite_add_tcase(s, own);

    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
