/*
 * test_limits.c -- integration: DESIGN section 5, the rows about clients.
 *
 * Every case runs the real tandem binary in front of a real redis-server
 * and talks raw RESP over TCP, so that the exact reply bytes and the close
 * that follows can be asserted. Where Redis 7 has the same limit, the same
 * bytes are sent to a reference redis-server (`ref`) configured the same
 * way and its reply must be byte for byte the same.
 *
 * "Nothing reached the primary" is checked with the primary's own INFO
 * commandstats: between two readings on a direct connection, the only
 * calls are those tandem forwarded -- here the GET that checks that the
 * key the bad request would have written does not exist.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct proc redis;      /* tandem's primary */
static struct proc tandem;
static struct proc ref;        /* a plain Redis 7 to compare replies with */
static const char *tandem_password = NULL;   /* tandem's requirepass */

/* A write that would leave a trace on the primary if it ever ran. */
#define TRAP_KEY "limits:trap"
#define TRAP "*3\r\n$3\r\nSET\r\n$11\r\n" TRAP_KEY "\r\n$1\r\nv\r\n"

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

/* Printable form of a reply for failure messages (static buffer). */
static const char *
esc(const char *s, size_t len)
{
    static char out[2][512];
    static int which = 0;
    char *o = out[which ^= 1];
    size_t j = 0;
    size_t i;

    for (i = 0; i < len && j + 8 < sizeof(out[0]); i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '\r') {
            j += (size_t)snprintf(o + j, sizeof(out[0]) - j, "\\r");
        } else if (c == '\n') {
            j += (size_t)snprintf(o + j, sizeof(out[0]) - j, "\\n");
        } else if (c < 32 || c > 126) {
            j += (size_t)snprintf(o + j, sizeof(out[0]) - j, "\\x%02x", c);
        } else {
            o[j++] = (char)c;
        }
    }
    if (i < len) {
        j += (size_t)snprintf(o + j, sizeof(out[0]) - j, "...(%zu bytes)",
                              len);
    }
    o[j] = '\0';
    return o;
}

/* port: who replied (0: not known here), for the failure message. */
#define assert_reply(port, got, gotlen, want)                                \
    ck_assert_msg((gotlen) == strlen(want) &&                                \
                      memcmp((got), (want), strlen(want)) == 0,              \
                  "port %d replied \"%s\", expected \"%s\"", (port),         \
                  esc((got), (gotlen)), esc((want), strlen(want)))

/* Connects, sends in, reads until the peer closes or timeout_ms. */
static size_t
exchange(int port, const char *in, size_t inlen, char *out, size_t outlen,
         int timeout_ms, int *closed)
{
    int fd = harness_raw_connect(port);
    size_t got;

    /* A peer that closes early may reset the connection: the reply is
     * what counts, so a failed send is not an error here. */
    (void)harness_send_all(fd, in, inlen);
    got = harness_read_until_close(fd, out, outlen, timeout_ms, closed);
    close(fd);
    return got;
}

/* Sends in to port and asserts the exact reply followed by a close. */
static void
expect_error_and_close(int port, const char *in, size_t inlen,
                       const char *want)
{
    char out[4096];
    int closed = 0;
    size_t got = exchange(port, in, inlen, out, sizeof(out), 5000, &closed);

    assert_reply(port, out, got, want);
    ck_assert_msg(closed, "port %d kept the connection open after \"%s\"",
                  port, esc(out, got));
}

/* Sends in to port and asserts the exact reply with the connection still
 * open after wait_ms. */
static void
expect_reply_open(int port, const char *in, size_t inlen, const char *want,
                  int wait_ms)
{
    char out[4096];
    int closed = 0;
    size_t got = exchange(port, in, inlen, out, sizeof(out), wait_ms,
                          &closed);

    assert_reply(port, out, got, want);
    ck_assert_msg(!closed, "port %d closed the connection", port);
}

static redisReply *
cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    ck_assert_msg(r != NULL, "command failed: %s", c->errstr);
    return r;
}

static long long
cmd_int(redisContext *c, const char *fmt, const char *arg)
{
    redisReply *r = cmd(c, fmt, arg);
    long long v;

    ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "expected an integer, "
                  "got type %d (%s)", r->type,
                  r->str != NULL ? r->str : "");
    v = r->integer;
    freeReplyObject(r);
    return v;
}

/* An INFO field of the server on port, as a number (-1 when absent). */
static long long
info_ll(int port, const char *section, const char *field)
{
    redisContext *c = harness_connect(port);
    const char *v = harness_info_field(c, section, field);
    long long n = v != NULL ? atoll(v) : -1;

    redisFree(c);
    return n;
}

/* How many commands reached the primary: the calls (and rejected calls)
 * of INFO commandstats, read on a fresh direct connection, leaving out
 * INFO (our own probes) and PING (a health check). */
static long long
primary_commands(void)
{
    redisContext *c = harness_connect(redis.port);
    redisReply *r = cmd(c, "INFO commandstats");
    long long total = 0;
    const char *p;

    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    for (p = strstr(r->str, "cmdstat_"); p != NULL;
         p = strstr(p + 1, "cmdstat_")) {
        const char *calls = strstr(p, ":calls=");
        const char *rejected = strstr(p, "rejected_calls=");
        const char *eol = strstr(p, "\r\n");

        if (strncmp(p, "cmdstat_info:", 13) == 0 ||
            strncmp(p, "cmdstat_ping:", 13) == 0) {
            continue;
        }
        if (calls != NULL && (eol == NULL || calls < eol)) {
            total += atoll(calls + 7);
        }
        if (rejected != NULL && (eol == NULL || rejected < eol)) {
            total += atoll(rejected + 15);
        }
    }
    freeReplyObject(r);
    redisFree(c);
    return total;
}

/* Checks through tandem (on a connection that was open all along) that
 * the trap key does not exist, then that the primary executed nothing but
 * that GET and `forwarded` commands since `before`. */
static void
assert_nothing_reached(redisContext *bystander, long long before,
                       int forwarded)
{
    redisReply *r = cmd(bystander, "GET %s", TRAP_KEY);

    ck_assert_msg(r->type == REDIS_REPLY_NIL, "the trap key was written");
    freeReplyObject(r);
    ck_assert_int_eq(primary_commands() - before, 1 + forwarded);
}

/* tandem still serves: the bystander and a brand new client. */
static void
assert_serving(redisContext *bystander)
{
    redisContext *c = harness_connect(tandem.port);
    redisReply *r = cmd(bystander, "PING");

    ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
    ck_assert_str_eq(r->str, "PONG");
    freeReplyObject(r);
    if (tandem_password != NULL) {
        r = cmd(c, "AUTH %s", tandem_password);
        ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
        freeReplyObject(r);
    }
    r = cmd(c, "SET limits:alive %s", "yes");
    ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    r = cmd(c, "GET limits:alive");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_str_eq(r->str, "yes");
    freeReplyObject(r);
    redisFree(c);
}

static void
start_primary_and_tandem(const char *const *redis_extra,
                         const char *const *tandem_extra)
{
    ck_assert_int_eq(harness_start_redis(&redis, redis_extra), 0);
    if (harness_start_tandem(&tandem, redis.port, tandem_extra, 1) != 0) {
        ck_abort_msg("tandem did not start");
    }
}

/* tandem with requirepass: the harness's readiness check (PING, INFO)
 * cannot authenticate, so wait here for AUTH + an up pipe. */
static void
start_primary_and_tandem_with_password(const char *pass)
{
    char port[16];
    char primary[64];
    const char *args[] = {"--port", port, "--primary", primary,
                          "--requirepass", pass, "--loglevel", "verbose",
                          NULL};
    long long deadline;

    tandem_password = pass;
    ck_assert_int_eq(harness_start_redis(&redis, NULL), 0);
    snprintf(primary, sizeof(primary), "127.0.0.1:%d", redis.port);
    tandem.port = harness_free_port();
    snprintf(port, sizeof(port), "%d", tandem.port);
    ck_assert_int_eq(harness_spawn_tandem(&tandem, args), 0);
    tandem.port = atoi(port);
    deadline = now_ms() + 10000;
    while (now_ms() < deadline) {
        struct timeval tv = {1, 0};
        redisContext *c = redisConnectWithTimeout("127.0.0.1", tandem.port,
                                                  tv);
        int up = 0;

        if (c != NULL && c->err == 0) {
            redisReply *r = redisCommand(c, "AUTH %s", pass);

            if (r != NULL) {
                freeReplyObject(r);
                up = harness_info_field(c, "primary",
                                        "primary_link_status") != NULL &&
                     strcmp(harness_info_field(c, "primary",
                                               "primary_link_status"),
                            "up") == 0;
            }
        }
        if (c != NULL) {
            redisFree(c);
        }
        if (up) {
            return;
        }
        sleep_ms(20);
    }
    harness_dump_log(&tandem);
    ck_abort_msg("tandem with requirepass did not come up");
}

static void
start_ref(const char *const *extra)
{
    ck_assert_int_eq(harness_start_redis(&ref, extra), 0);
}

static void
setup_default(void)
{
    start_primary_and_tandem(NULL, NULL);
    start_ref(NULL);
}

/* Stops tandem with SIGTERM. Returns 1 when it exited cleanly: status 0
 * and no sanitizer report in its log (so the sanitizer build checks
 * tandem in every case). */
static int
stop_tandem_cleanly(void)
{
    char text[4096];
    FILE *f;
    size_t n;
    int status;
    int dirty;

    if (tandem.pid <= 0) {
        harness_stop(&tandem);
        return 1;
    }
    harness_signal(&tandem, SIGTERM);
    status = harness_wait_exit(&tandem, 10000);
    text[0] = '\0';
    f = fopen(tandem.log, "r");
    if (f != NULL) {
        /* A report, if any, is at the end. */
        if (fseek(f, -(long)(sizeof(text) - 1), SEEK_END) != 0) {
            rewind(f);
        }
        n = fread(text, 1, sizeof(text) - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    dirty = strstr(text, "Sanitizer") != NULL ||
            strstr(text, "runtime error") != NULL;
    if (status != 0 || dirty) {
        fprintf(stderr, "tandem exited with status %d%s\n", status,
                dirty ? " and a sanitizer report" : "");
        harness_dump_log(&tandem);
    }
    harness_stop(&tandem);
    return status == 0 && !dirty;
}

static void
teardown(void)
{
    int clean = stop_tandem_cleanly();

    harness_stop(&redis);
    harness_stop(&ref);
    ck_assert_msg(clean, "tandem did not shut down cleanly on SIGTERM "
                  "(see the log above)");
}

static void
ping_pong(int fd)
{
    char out[64];
    size_t got;

    ck_assert_int_eq(harness_send_all(fd, "PING\r\n", 6), 0);
    got = harness_read_exact(fd, out, 7, 5000);
    assert_reply(0, out, got, "+PONG\r\n");
}

/* ---- malformed requests ---- */

struct bad_row {
    const char *input;
    size_t      len;
    const char *reply;
    int         forwarded;   /* commands before the error that run */
};

#define ROW(in, reply, fwd) {in, sizeof(in) - 1, reply, fwd}

static const struct bad_row bad_rows[] = {
    ROW("*abc\r\n",
        "-ERR Protocol error: invalid multibulk length\r\n", 0),
    ROW("*3000000000\r\n",
        "-ERR Protocol error: invalid multibulk length\r\n", 0),
    ROW("*1\r\n$abc\r\n",
        "-ERR Protocol error: invalid bulk length\r\n", 0),
    ROW("*1\r\n$-5\r\n",
        "-ERR Protocol error: invalid bulk length\r\n", 0),
    /* Over the default proto-max-bulk-len (512mb). */
    ROW("*2\r\n$3\r\nGET\r\n$600000000\r\n",
        "-ERR Protocol error: invalid bulk length\r\n", 0),
    ROW("*1\r\nx\r\n",
        "-ERR Protocol error: expected '$', got 'x'\r\n", 0),
    ROW("*2\r\n$3\r\nGET\r\n:1\r\n",
        "-ERR Protocol error: expected '$', got ':'\r\n", 0),
    ROW("SET \"a b\r\n",
        "-ERR Protocol error: unbalanced quotes in request\r\n", 0),
    ROW("SET 'a b\r\n",
        "-ERR Protocol error: unbalanced quotes in request\r\n", 0),
    ROW("SET \"a\"b c\r\n",
        "-ERR Protocol error: unbalanced quotes in request\r\n", 0),
    /* A good command before the bad one, in the same write, is answered
     * first; a forwarded one waits for the primary's reply. */
    ROW("PING\r\n*abc\r\n",
        "+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n", 0),
    ROW("*3\r\n$3\r\nSET\r\n$13\r\nlimits:before\r\n$1\r\n1\r\n*abc\r\n",
        "+OK\r\n-ERR Protocol error: invalid multibulk length\r\n", 1),
    ROW("*1\r\n$4\r\nPING\r\n*1\r\n$-1\r\n",
        "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n", 0),
};

#define NBAD_ROWS ((int)(sizeof(bad_rows) / sizeof(bad_rows[0])))

START_TEST(test_malformed_request_gets_redis_error_then_close)
{
    const struct bad_row *row = &bad_rows[_i];
    redisContext *bystander = harness_connect(tandem.port);
    char in[256];
    long long before;

    /* Whatever follows the bad bytes in the same write must not run. */
    ck_assert_uint_lt(row->len + sizeof(TRAP), sizeof(in));
    memcpy(in, row->input, row->len);
    memcpy(in + row->len, TRAP, sizeof(TRAP) - 1);

    before = primary_commands();
    expect_error_and_close(tandem.port, in, row->len + sizeof(TRAP) - 1,
                           row->reply);
    assert_nothing_reached(bystander, before, row->forwarded);
    assert_serving(bystander);
    redisFree(bystander);

    /* Redis 7 itself says exactly the same. */
    expect_error_and_close(ref.port, in, row->len + sizeof(TRAP) - 1,
                           row->reply);
}
END_TEST

/* Sends prefix + fill bytes until the line that starts `skip` bytes in is
 * exactly 64 KB (no error yet, connection open), then one more byte: the
 * exact error, and a close. */
static void
check_64k_line(int port, const char *prefix, size_t skip, const char *want)
{
    size_t total = skip + 64 * 1024;
    size_t plen = strlen(prefix);
    char *big = malloc(total + 1);
    char out[1024];
    int closed = 0;
    int fd = harness_raw_connect(port);
    size_t got;

    ck_assert_ptr_nonnull(big);
    memcpy(big, prefix, plen);
    memset(big + plen, '1', total + 1 - plen);
    ck_assert_int_eq(harness_send_all(fd, big, total), 0);
    got = harness_read_until_close(fd, out, sizeof(out), 300, &closed);
    ck_assert_msg(got == 0 && !closed, "port %d: at 64 KB already \"%s\"%s",
                  port, esc(out, got), closed ? " and closed" : "");
    ck_assert_int_eq(harness_send_all(fd, big + total, 1), 0);
    got = harness_read_until_close(fd, out, sizeof(out), 5000, &closed);
    assert_reply(port, out, got, want);
    ck_assert_msg(closed, "port %d kept the connection open", port);
    close(fd);
    free(big);
}

START_TEST(test_line_over_64k_without_newline_is_refused)
{
    static const struct {
        const char *prefix;
        size_t      skip;     /* where the line starts */
        const char *reply;
    } cases[] = {
        {"SET", 0, "-ERR Protocol error: too big inline request\r\n"},
        {"*", 0, "-ERR Protocol error: too big mbulk count string\r\n"},
        {"*1\r\n$", 4,
         "-ERR Protocol error: too big bulk count string\r\n"},
    };
    redisContext *bystander = harness_connect(tandem.port);
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long long before = primary_commands();

        check_64k_line(tandem.port, cases[i].prefix, cases[i].skip,
                       cases[i].reply);
        assert_nothing_reached(bystander, before, 0);
        assert_serving(bystander);
        check_64k_line(ref.port, cases[i].prefix, cases[i].skip,
                       cases[i].reply);
    }
    redisFree(bystander);
}
END_TEST

/* Empty requests are skipped, as Redis skips them, and the connection
 * goes on. */
START_TEST(test_empty_requests_are_ignored)
{
    static const char in[] = "*0\r\n*-1\r\n\r\n   \r\n\nPING\r\n";
    redisContext *bystander = harness_connect(tandem.port);
    long long before = primary_commands();

    expect_reply_open(tandem.port, in, sizeof(in) - 1, "+PONG\r\n", 300);
    assert_nothing_reached(bystander, before, 0);
    expect_reply_open(ref.port, in, sizeof(in) - 1, "+PONG\r\n", 300);
    redisFree(bystander);
}
END_TEST

/* ---- requests that arrive in pieces ---- */

static const char split_req[] =
    "*3\r\n$3\r\nSET\r\n$12\r\nlimits:split\r\n$5\r\nvalue\r\n"
    "*2\r\n$3\r\nGET\r\n$12\r\nlimits:split\r\n"
    "SET limits:inline \"a b\"\r\nGET limits:inline\n";
static const char split_reply[] = "+OK\r\n$5\r\nvalue\r\n+OK\r\n$3\r\na b\r\n";

START_TEST(test_request_one_byte_per_write_is_parsed)
{
    int fd = harness_raw_connect(tandem.port);
    int one = 1;
    char out[256];
    size_t i;
    size_t got;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    for (i = 0; i < sizeof(split_req) - 1; i++) {
        ck_assert_int_eq(harness_send_all(fd, split_req + i, 1), 0);
        sleep_ms(2);
    }
    got = harness_read_exact(fd, out, sizeof(split_reply) - 1, 5000);
    assert_reply(tandem.port, out, got, split_reply);
    close(fd);
}
END_TEST

START_TEST(test_request_split_at_every_boundary_is_parsed)
{
    size_t len = sizeof(split_req) - 1;
    size_t cut;

    for (cut = 1; cut < len; cut++) {
        int fd = harness_raw_connect(tandem.port);
        int one = 1;
        char out[256];
        size_t got;

        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        ck_assert_int_eq(harness_send_all(fd, split_req, cut), 0);
        sleep_ms(3);
        ck_assert_int_eq(harness_send_all(fd, split_req + cut, len - cut), 0);
        got = harness_read_exact(fd, out, sizeof(split_reply) - 1, 5000);
        ck_assert_msg(got == sizeof(split_reply) - 1 &&
                          memcmp(out, split_reply, got) == 0,
                      "cut at %zu: reply \"%s\"", cut, esc(out, got));
        close(fd);
    }
}
END_TEST

/* ---- proto-max-bulk-len ---- */

START_TEST(test_bulk_over_proto_max_bulk_len_is_refused)
{
    static const char *const args[] = {"--proto-max-bulk-len", "1mb", NULL};
    static const char over[] =
        "*3\r\n$3\r\nSET\r\n$11\r\n" TRAP_KEY "\r\n$2000000\r\n";
    static const char just_over[] =
        "*3\r\n$3\r\nSET\r\n$11\r\n" TRAP_KEY "\r\n$1048577\r\n";
    static const char at_limit[] =
        "*3\r\n$3\r\nSET\r\n$10\r\nlimits:max\r\n$1048576\r\n";
    const char *want = "-ERR Protocol error: invalid bulk length\r\n";
    size_t n = 1024 * 1024;
    char *req = malloc(sizeof(at_limit) + n + 2);
    size_t reqlen = sizeof(at_limit) - 1 + n + 2;
    redisContext *bystander;
    long long before;
    int port;
    int k;

    ck_assert_ptr_nonnull(req);
    start_primary_and_tandem(NULL, args);
    start_ref(args);
    bystander = harness_connect(tandem.port);
    before = primary_commands();
    expect_error_and_close(tandem.port, over, sizeof(over) - 1, want);
    expect_error_and_close(tandem.port, just_over, sizeof(just_over) - 1,
                           want);
    assert_nothing_reached(bystander, before, 0);
    assert_serving(bystander);

    /* Exactly proto-max-bulk-len is still a valid argument. */
    memcpy(req, at_limit, sizeof(at_limit) - 1);
    memset(req + sizeof(at_limit) - 1, 'x', n);
    memcpy(req + reqlen - 2, "\r\n", 2);
    for (k = 0; k < 2; k++) {
        port = k == 0 ? tandem.port : ref.port;
        expect_error_and_close(port, over, sizeof(over) - 1, want);
        expect_reply_open(port, req, reqlen, "+OK\r\n", 500);
    }
    ck_assert_int_eq(cmd_int(bystander, "STRLEN %s", "limits:max"),
                     (long long)n);
    redisFree(bystander);
    free(req);
}
END_TEST

/* ---- client-query-buffer-limit ---- */

/* An incomplete request whose argument outgrows a 1 MB query buffer: the
 * connection is closed without a reply, as Redis does. */
static void
overflow_query_buffer(int port)
{
    static const char head[] =
        "*3\r\n$3\r\nSET\r\n$11\r\n" TRAP_KEY "\r\n$1500000\r\n";
    size_t n = 1200 * 1000;
    char *payload = malloc(n);
    char out[1024];
    int closed = 0;
    int fd = harness_raw_connect(port);
    size_t got;

    ck_assert_ptr_nonnull(payload);
    memset(payload, 'q', n);
    ck_assert_int_eq(harness_send_all(fd, head, sizeof(head) - 1), 0);
    (void)harness_send_all(fd, payload, n);   /* may be reset midway */
    got = harness_read_until_close(fd, out, sizeof(out), 5000, &closed);
    ck_assert_msg(got == 0, "port %d replied \"%s\"", port, esc(out, got));
    ck_assert_msg(closed, "port %d kept an oversized query buffer", port);
    close(fd);
    free(payload);
}

START_TEST(test_query_buffer_over_limit_closes_and_releases_memory)
{
    static const char *const args[] = {"--client-query-buffer-limit", "1mb",
                                       NULL};
    static const char fits_head[] =
        "*3\r\n$3\r\nSET\r\n$11\r\nlimits:fits\r\n$900000\r\n";
    size_t n = 900000;
    size_t reqlen = sizeof(fits_head) - 1 + n + 2;
    char *req = malloc(reqlen);
    redisContext *bystander;
    long long before;
    long long rss0;
    long long rss1;
    int i;

    ck_assert_ptr_nonnull(req);
    start_primary_and_tandem(NULL, args);
    start_ref(args);
    bystander = harness_connect(tandem.port);
    rss0 = info_ll(tandem.port, "memory", "used_memory_rss");
    ck_assert_int_gt(rss0, 0);

    before = primary_commands();
    overflow_query_buffer(tandem.port);
    assert_nothing_reached(bystander, before, 0);
    ck_assert_int_eq(info_ll(tandem.port, "stats",
                             "client_query_buffer_limit_disconnections"), 1);
    assert_serving(bystander);
    overflow_query_buffer(ref.port);

    /* Again and again: the memory goes back. */
    for (i = 0; i < 8; i++) {
        overflow_query_buffer(tandem.port);
    }
    ck_assert_int_eq(info_ll(tandem.port, "stats",
                             "client_query_buffer_limit_disconnections"), 9);
    rss1 = info_ll(tandem.port, "memory", "used_memory_rss");
    ck_assert_msg(rss1 < rss0 + 50LL * 1024 * 1024,
                  "RSS grew from %lld to %lld", rss0, rss1);

    /* A request that fits is served whole. */
    memcpy(req, fits_head, sizeof(fits_head) - 1);
    memset(req + sizeof(fits_head) - 1, 'f', n);
    memcpy(req + reqlen - 2, "\r\n", 2);
    expect_reply_open(tandem.port, req, reqlen, "+OK\r\n", 500);
    expect_reply_open(ref.port, req, reqlen, "+OK\r\n", 500);
    ck_assert_int_eq(cmd_int(bystander, "STRLEN %s", "limits:fits"),
                     (long long)n);
    redisFree(bystander);
    free(req);
}
END_TEST

/* ---- client-output-buffer-limit ---- */

#define BIG_VALUE (100 * 1000)
#define NGETS 100
/* Each reply: "$100000\r\n" + value + "\r\n". */
#define ALL_REPLIES ((size_t)NGETS * (BIG_VALUE + 11))

static void
set_big_value(int port)
{
    redisContext *c = harness_connect(port);
    char *v = malloc(BIG_VALUE);
    redisReply *r;

    ck_assert_ptr_nonnull(v);
    memset(v, 'o', BIG_VALUE);
    r = redisCommand(c, "SET limits:big %b", v, (size_t)BIG_VALUE);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisFree(c);
    free(v);
}

/* A client that asks for ~10 MB and does not read. Returns its socket. */
static int
start_slow_reader(int port)
{
    char req[NGETS * 16];
    size_t len = 0;
    int small = 64 * 1024;
    int fd = harness_raw_connect(port);
    int i;

    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    for (i = 0; i < NGETS; i++) {
        memcpy(req + len, "GET limits:big\r\n", 16);
        len += 16;
    }
    ck_assert_int_eq(harness_send_all(fd, req, len), 0);
    return fd;
}

/* Reads what the slow reader gets: less than everything, then a close. */
static void
assert_cut(int fd, int port)
{
    char *out = malloc(ALL_REPLIES + 1);
    int closed = 0;
    size_t got;

    ck_assert_ptr_nonnull(out);
    got = harness_read_until_close(fd, out, ALL_REPLIES + 1, 10000, &closed);
    ck_assert_msg(closed, "port %d: slow reader not cut (%zu bytes read)",
                  port, got);
    ck_assert_msg(got < ALL_REPLIES, "port %d: all %zu bytes delivered",
                  port, got);
    ck_assert_msg(got == 0 || memcmp(out, "$100000\r\nooo", 12) == 0,
                  "port %d: unexpected bytes \"%s\"", port,
                  esc(out, got < 32 ? got : 32));
    free(out);
    close(fd);
}

START_TEST(test_output_hard_limit_cuts_a_client_that_does_not_read)
{
    static const char *const args[] = {"--client-output-buffer-limit",
                                       "normal", "1mb", "0", "0", NULL};
    redisContext *bystander;
    int fd;
    int rfd;

    start_primary_and_tandem(NULL, args);
    start_ref(args);
    set_big_value(tandem.port);
    set_big_value(ref.port);
    bystander = harness_connect(tandem.port);

    fd = start_slow_reader(tandem.port);
    rfd = start_slow_reader(ref.port);
    /* Until tandem has cut it (at most 15 s: a loaded machine may take
     * more than a second to pass 10 MB through the primary). */
    {
        long long until = now_ms() + 15000;

        sleep_ms(1000);
        while (info_ll(tandem.port, "stats",
                       "client_output_buffer_limit_disconnections") < 1 &&
               now_ms() < until) {
            sleep_ms(100);
        }
    }
    assert_cut(fd, tandem.port);
    assert_cut(rfd, ref.port);
    ck_assert_int_ge(info_ll(tandem.port, "stats",
                             "client_output_buffer_limit_disconnections"), 1);
    assert_serving(bystander);
    /* A client that reads gets a big reply whole. */
    {
        redisReply *r = cmd(bystander, "GET limits:big");

        ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
        ck_assert_uint_eq(r->len, BIG_VALUE);
        freeReplyObject(r);
    }
    redisFree(bystander);
}
END_TEST

/* Replies that tandem makes itself (PING, ECHO, errors) queued behind a
 * forwarded request count once, and are released once: a client that
 * pipelines a mix and reads everything is never over any limit. */
START_TEST(test_pipelined_forwarded_and_local_replies_are_not_cut)
{
    static const char one[] =
        "SET limits:mix 1\r\nPING\r\nGET limits:mix\r\nECHO hi\r\n"
        "NOSUCHCMD\r\nINCR limits:mix\r\n";
    static const char one_reply[] =
        "+OK\r\n+PONG\r\n$1\r\n1\r\n$2\r\nhi\r\n"
        "-ERR unknown command 'NOSUCHCMD', with args beginning with: \r\n"
        ":2\r\n";
    char in[sizeof(one) * 10];
    char want[sizeof(one_reply) * 10];
    char out[sizeof(one_reply) * 10 + 64];
    size_t inlen = 0;
    size_t wantlen = 0;
    int closed = 0;
    int fd;
    int i;
    size_t got;

    start_primary_and_tandem(NULL, NULL);
    start_ref(NULL);
    for (i = 0; i < 10; i++) {
        memcpy(in + inlen, one, sizeof(one) - 1);
        inlen += sizeof(one) - 1;
        memcpy(want + wantlen, one_reply, sizeof(one_reply) - 1);
        wantlen += sizeof(one_reply) - 1;
        /* Each round starts from SET ... 1 again: INCR gives 2. */
    }
    want[wantlen] = '\0';
    fd = harness_raw_connect(tandem.port);
    ck_assert_int_eq(harness_send_all(fd, in, inlen), 0);
    got = harness_read_exact(fd, out, wantlen, 5000);
    assert_reply(tandem.port, out, got, want);
    /* Still connected, and still served. */
    got = harness_read_until_close(fd, out, sizeof(out), 1500, &closed);
    ck_assert_msg(got == 0 && !closed, "after the replies: \"%s\"%s",
                  esc(out, got), closed ? " and closed" : "");
    ping_pong(fd);
    close(fd);
    ck_assert_int_eq(info_ll(tandem.port, "stats",
                             "client_output_buffer_limit_disconnections"), 0);
    /* Redis 7 gives the same bytes. */
    fd = harness_raw_connect(ref.port);
    ck_assert_int_eq(harness_send_all(fd, in, inlen), 0);
    got = harness_read_exact(fd, out, wantlen, 5000);
    assert_reply(ref.port, out, got, want);
    close(fd);
}
END_TEST

START_TEST(test_output_buffer_soft_limit_cuts_after_its_seconds)
{
    static const char *const args[] = {"--client-output-buffer-limit",
                                       "normal", "0", "200kb", "1", NULL};
    const char *field = "client_output_buffer_limit_disconnections";
    redisContext *bystander;
    long long start;
    long long cut_ms = -1;
    int fd;

    start_primary_and_tandem(NULL, args);
    set_big_value(tandem.port);
    bystander = harness_connect(tandem.port);

    start = now_ms();
    fd = start_slow_reader(tandem.port);
    sleep_ms(300);
    /* Over the soft limit, but not yet for its seconds. */
    ck_assert_int_eq(info_ll(tandem.port, "stats", field), 0);
    while (now_ms() - start < 5000) {
        if (info_ll(tandem.port, "stats", field) >= 1) {
            cut_ms = now_ms() - start;
            break;
        }
        sleep_ms(50);
    }
    ck_assert_msg(cut_ms >= 0, "not cut within 5 s");
    ck_assert_msg(cut_ms >= 800, "cut after %lld ms, before the soft "
                  "limit's 1 s", cut_ms);
    assert_cut(fd, tandem.port);
    assert_serving(bystander);
    redisFree(bystander);
}
END_TEST

/* ---- maxclients ---- */

static void
wait_connected_clients(redisContext *c, long long want)
{
    long long deadline = now_ms() + 3000;
    const char *v = NULL;

    while (now_ms() < deadline) {
        v = harness_info_field(c, "clients", "connected_clients");
        if (v != NULL && atoll(v) == want) {
            return;
        }
        sleep_ms(20);
    }
    ck_abort_msg("connected_clients is %s, expected %lld",
                 v != NULL ? v : "(none)", want);
}

/* With maxclients 3: three clients are served, the fourth is told so and
 * closed, and a slot freed is a slot usable again. */
static void
check_maxclients(int port)
{
    redisContext *c1 = harness_connect(port);
    char out[256];
    int closed = 0;
    int fd2;
    int fd3;
    int fd4;
    int fd5;
    size_t got;
    const char *v;

    wait_connected_clients(c1, 1);
    fd2 = harness_raw_connect(port);
    ping_pong(fd2);
    fd3 = harness_raw_connect(port);
    ping_pong(fd3);

    fd4 = harness_raw_connect(port);
    (void)harness_send_all(fd4, "PING\r\n", 6);
    got = harness_read_until_close(fd4, out, sizeof(out), 5000, &closed);
    assert_reply(port, out, got,
                 "-ERR max number of clients reached\r\n");
    ck_assert_msg(closed, "port %d: refused client left open", port);
    close(fd4);
    v = harness_info_field(c1, "stats", "rejected_connections");
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(atoll(v), 1);

    /* The three admitted clients are unaffected. */
    ping_pong(fd2);
    ping_pong(fd3);

    close(fd2);
    wait_connected_clients(c1, 2);
    fd5 = harness_raw_connect(port);
    ping_pong(fd5);
    close(fd5);
    close(fd3);
    redisFree(c1);
}

START_TEST(test_maxclients_refuses_the_extra_client)
{
    static const char *const args[] = {"--maxclients", "3", NULL};

    start_primary_and_tandem(NULL, args);
    start_ref(args);
    check_maxclients(tandem.port);
    check_maxclients(ref.port);
}
END_TEST

/* ---- the open files limit ---- */

/* Room tandem keeps for its own descriptors at the least (Redis keeps 32;
 * tandem keeps more). */
#define OWN_FDS_MIN 32

/* Starts the primary, then tandem with --maxclients maxclients under an
 * open files limit of soft (and hard; 0 leaves the hard limit as it is).
 * When ready is 0 it does not wait for tandem to answer. */
static void
start_with_nofile(const char *maxclients, long soft, long hard, int ready)
{
    char port[16];
    char primary[64];
    const char *args[] = {"--port", port, "--primary", primary,
                          "--maxclients", maxclients, "--loglevel",
                          "verbose", NULL};

    ck_assert_int_eq(harness_start_redis(&redis, NULL), 0);
    snprintf(primary, sizeof(primary), "127.0.0.1:%d", redis.port);
    snprintf(port, sizeof(port), "%d", harness_free_port());
    ck_assert_int_eq(harness_spawn_tandem_nofile(&tandem, soft, hard, args),
                     0);
    tandem.port = atoi(port);
    if (ready && harness_wait_ready(&tandem, 10000) != 0) {
        harness_dump_log(&tandem);
        ck_abort_msg("tandem did not start");
    }
}

/* Occurrences of needle in tandem's log. */
static int
count_in_log(const char *needle)
{
    char *text = malloc(1 << 20);
    size_t n = 0;
    int count = 0;
    const char *p;
    FILE *f = fopen(tandem.log, "r");

    ck_assert_ptr_nonnull(text);
    if (f != NULL) {
        n = fread(text, 1, (1 << 20) - 1, f);
        fclose(f);
    }
    text[n] = '\0';
    for (p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle)) {
        count++;
    }
    free(text);
    return count;
}

/* tandem's soft RLIMIT_NOFILE, from /proc/<pid>/limits. */
static long long
nofile_soft(pid_t pid)
{
    char path[64];
    char line[256];
    long long soft = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "Max open files", 14) == 0) {
            soft = strtoll(line + 14, NULL, 10);
        }
    }
    fclose(f);
    ck_assert_msg(soft > 0, "no open files limit in %s", path);
    return soft;
}

static long long
tandem_maxclients(void)
{
    redisContext *c = harness_connect(tandem.port);
    const char *v = harness_info_field(c, "clients", "maxclients");
    long long n;

    ck_assert_ptr_nonnull(v);
    n = atoll(v);
    redisFree(c);
    return n;
}

/* A soft limit below what maxclients needs, under a hard limit that
 * allows it: tandem raises its soft limit and keeps maxclients. */
START_TEST(test_open_files_limit_raised_to_fit_maxclients)
{
    struct rlimit rl;
    long long soft;

    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 1000 + 256) {
        printf("limits: hard open files limit %llu, too low for this test\n",
               (unsigned long long)rl.rlim_max);
        return;
    }
    start_with_nofile("1000", 256, 0, 1);
    soft = nofile_soft(tandem.pid);
    printf("limits: maxclients 1000 from a soft limit of 256: tandem's soft "
           "limit is %lld\n", soft);
    ck_assert_msg(soft >= 1000 + OWN_FDS_MIN, "tandem's soft open files "
                  "limit is %lld, below maxclients 1000 + %d", soft,
                  OWN_FDS_MIN);
    ck_assert_int_eq(tandem_maxclients(), 1000);
    ck_assert_int_eq(count_in_log("maxclients is now"), 0);
}
END_TEST

/* A hard limit of 300 for maxclients 10000: tandem lowers maxclients to
 * what fits, says so in its log, and serves. (A process that may raise
 * its hard limit, root with CAP_SYS_RESOURCE, raises it instead.) */
START_TEST(test_maxclients_lowered_to_fit_the_open_files_limit)
{
    long long soft;
    long long maxclients;
    char line[128];
    int fd;

    start_with_nofile("10000", 300, 300, 1);
    soft = nofile_soft(tandem.pid);
    maxclients = tandem_maxclients();
    printf("limits: maxclients 10000 under a hard limit of 300: tandem's "
           "soft limit %lld, maxclients %lld\n", soft, maxclients);
    if (soft >= 10000 + OWN_FDS_MIN) {
        ck_assert_int_eq(maxclients, 10000);
        return;
    }
    ck_assert_int_eq(soft, 300);
    ck_assert_msg(maxclients < 10000 && maxclients + OWN_FDS_MIN <= soft &&
                      maxclients > 0,
                  "maxclients %lld under an open files limit of %lld",
                  maxclients, soft);
    snprintf(line, sizeof(line), "maxclients is now %lld.", maxclients);
    ck_assert_msg(count_in_log(line) == 1,
                  "no \"%s\" in tandem's log", line);
    fd = harness_raw_connect(tandem.port);
    ping_pong(fd);
    close(fd);
}
END_TEST

/* An open files limit that does not even hold tandem's own descriptors:
 * tandem refuses to start, says why, and exits 1. */
START_TEST(test_open_files_limit_too_low_to_start)
{
    int status;

    start_with_nofile("10000", 40, 40, 0);
    status = harness_wait_exit(&tandem, 10000);
    if (status == -1 && tandem.pid > 0 && nofile_soft(tandem.pid) >= 10000) {
        /* It could raise its hard limit (CAP_SYS_RESOURCE) and runs. */
        return;
    }
    if (status != 1) {
        harness_dump_log(&tandem);
    }
    ck_assert_int_eq(status, 1);
    ck_assert_int_eq(count_in_log("tandem: the open files limit of 40 is "
                                  "not enough for tandem to start"), 1);
}
END_TEST

/* ---- timeout ---- */

START_TEST(test_idle_client_closed_after_timeout_active_one_not)
{
    static const char *const args[] = {"--timeout", "2", NULL};
    long long start;
    long long closed_ms = -1;
    int idle;
    int active;
    int i;
    redisContext *c;
    const char *v;

    start_primary_and_tandem(NULL, args);
    start = now_ms();
    idle = harness_raw_connect(tandem.port);
    active = harness_raw_connect(tandem.port);
    /* 4.5 s of a PING every 300 ms on one, silence on the other (2 s:
     * a loaded machine can stall the active one for a second). */
    for (i = 0; i < 15; i++) {
        char out[64];
        int closed = 0;
        size_t got;

        ping_pong(active);
        if (closed_ms < 0) {
            got = harness_read_until_close(idle, out, sizeof(out), 300,
                                           &closed);
            ck_assert_msg(got == 0, "idle client got \"%s\"", esc(out, got));
            if (closed) {
                closed_ms = now_ms() - start;
            }
        } else {
            sleep_ms(300);
        }
    }
    ck_assert_msg(closed_ms >= 0, "idle client still open after 4.5 s");
    ck_assert_msg(closed_ms >= 1900, "idle client closed after %lld ms, "
                  "before the 2 s timeout", closed_ms);
    ping_pong(active);
    close(active);
    close(idle);

    c = harness_connect(tandem.port);
    v = harness_info_field(c, "stats", "client_idle_timeouts");
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(atoll(v), 1);
    redisFree(c);
}
END_TEST

/* ---- limits before AUTH ---- */

#define AUTH_REQ "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n"

static char *
bulk_request(const char *head, size_t n, char fill, const char *tail,
             size_t *len)
{
    size_t hl = strlen(head);
    size_t tl = strlen(tail);
    char *req = malloc(hl + n + 2 + tl);

    ck_assert_ptr_nonnull(req);
    memcpy(req, head, hl);
    memset(req + hl, fill, n);
    memcpy(req + hl + n, "\r\n", 2);
    memcpy(req + hl + n + 2, tail, tl);
    *len = hl + n + 2 + tl;
    return req;
}

START_TEST(test_unauthenticated_client_gets_small_limits)
{
    static const char many[] =
        "*11\r\n$3\r\nDEL\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"
        "$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$1\r\nh\r\n$1\r\ni\r\n"
        "$11\r\n" TRAP_KEY "\r\n";
    static const char ten[] =
        "*10\r\n$3\r\nDEL\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"
        "$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$1\r\nh\r\n$11\r\n" TRAP_KEY "\r\n";
    static const char big_head[] =
        "*3\r\n$3\r\nSET\r\n$11\r\n" TRAP_KEY "\r\n$20000\r\n";
    const char *noauth = "-NOAUTH Authentication required.\r\n";
    char in[512];
    char *req;
    size_t len;
    redisContext *bystander;
    redisReply *r;
    long long before;
    int k;

    start_primary_and_tandem_with_password("pw");
    start_ref(NULL);
    {
        redisContext *rc = harness_connect(ref.port);

        r = cmd(rc, "CONFIG SET requirepass pw");
        ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
        freeReplyObject(r);
        redisFree(rc);
    }
    bystander = harness_connect(tandem.port);
    r = cmd(bystander, "AUTH pw");
    ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);

    for (k = 0; k < 2; k++) {
        int port = k == 0 ? tandem.port : ref.port;

        if (k == 0) {
            before = primary_commands();
        }
        /* Before AUTH: eleven arguments, or a 20000-byte bulk, are a
         * protocol error. */
        expect_error_and_close(port, many, sizeof(many) - 1,
                               "-ERR Protocol error: unauthenticated "
                               "multibulk length\r\n");
        expect_error_and_close(port, big_head, sizeof(big_head) - 1,
                               "-ERR Protocol error: unauthenticated "
                               "bulk length\r\n");
        /* At the limits: parsed, and refused with NOAUTH. */
        expect_reply_open(port, ten, sizeof(ten) - 1, noauth, 300);
        req = bulk_request("*3\r\n$3\r\nSET\r\n$11\r\n" TRAP_KEY
                           "\r\n$16384\r\n", 16384, 'u', "", &len);
        expect_reply_open(port, req, len, noauth, 300);
        free(req);
        if (k == 0) {
            assert_nothing_reached(bystander, before, 0);
            assert_serving(bystander);
        }

        /* After AUTH, the same sizes are fine. */
        snprintf(in, sizeof(in), "%s%s", AUTH_REQ, many);
        expect_reply_open(port, in, strlen(in), "+OK\r\n:0\r\n", 300);
        req = bulk_request(AUTH_REQ "*3\r\n$3\r\nSET\r\n$14\r\n"
                           "limits:authbig\r\n$20000\r\n", 20000, 'a', "",
                           &len);
        expect_reply_open(port, req, len, "+OK\r\n+OK\r\n", 300);
        free(req);
    }
    ck_assert_int_eq(cmd_int(bystander, "STRLEN %s", "limits:authbig"),
                     20000);
    redisFree(bystander);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("limits");
    TCase *tc;
    SRunner *sr;
    int failed;

    /* A write to a connection tandem closed must fail, not kill us. */
    signal(SIGPIPE, SIG_IGN);

    tc = tcase_create("bad_input");
    tcase_add_checked_fixture(tc, setup_default, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_malformed_request_gets_redis_error_then_close,
                        0, NBAD_ROWS);
    tcase_add_test(tc, test_line_over_64k_without_newline_is_refused);
    tcase_add_test(tc, test_empty_requests_are_ignored);
    tcase_add_test(tc, test_request_one_byte_per_write_is_parsed);
    tcase_add_test(tc, test_request_split_at_every_boundary_is_parsed);
    suite_add_tcase(s, tc);

    tc = tcase_create("configured_limits");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_bulk_over_proto_max_bulk_len_is_refused);
    tcase_add_test(tc,
                   test_query_buffer_over_limit_closes_and_releases_memory);
    tcase_add_test(tc, test_output_hard_limit_cuts_a_client_that_does_not_read);
    tcase_add_test(tc, test_pipelined_forwarded_and_local_replies_are_not_cut);
    tcase_add_test(tc, test_output_buffer_soft_limit_cuts_after_its_seconds);
    tcase_add_test(tc, test_maxclients_refuses_the_extra_client);
    tcase_add_test(tc, test_open_files_limit_raised_to_fit_maxclients);
    tcase_add_test(tc, test_maxclients_lowered_to_fit_the_open_files_limit);
    tcase_add_test(tc, test_open_files_limit_too_low_to_start);
    tcase_add_test(tc, test_idle_client_closed_after_timeout_active_one_not);
    tcase_add_test(tc, test_unauthenticated_client_gets_small_limits);
    suite_add_tcase(s, tc);

    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
