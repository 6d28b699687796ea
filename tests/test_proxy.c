/*
 * test_proxy.c -- integration suite "proxy": a real redis-server (the
 * primary) and the real tandem binary on loopback, driven with hiredis and
 * with raw sockets.
 *
 * What a client must not be able to tell apart from talking to Redis 7:
 * replies complete and in order under concurrent pipelined load, SELECT
 * emulated per client on the one shared pipe, inline commands, Redis's
 * own error texts (compared byte for byte with what the primary itself
 * answers to the same bytes), the connection commands tandem answers
 * itself, AUTH, and the unix socket. Commands tandem cannot serve on the
 * shared pipe answer a clear "ERR tandem" error, never a hang, and leave
 * the connection and the other clients working.
 */
#include <check.h>
#include <sys/time.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct proc redis;
static struct proc tandem;
static struct proc tandem2;     /* a second tandem some tests start */
static char sockdir[64];        /* temp dir for the unix socket test */

static void
setup(void)
{
    ck_assert_int_eq(harness_start_redis(&redis, NULL), 0);
    ck_assert_int_eq(harness_start_tandem(&tandem, redis.port, NULL, 1), 0);
}

static void
teardown(void)
{
    char cmd[128];

    harness_stop(&tandem2);
    harness_stop(&tandem);
    harness_stop(&redis);
    if (sockdir[0] != '\0') {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sockdir);
        if (system(cmd) != 0) {
            fprintf(stderr, "could not remove %s\n", sockdir);
        }
        sockdir[0] = '\0';
    }
}

/* ---- small helpers ---- */

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A growable byte buffer for building requests and expected replies. */
struct sbuf {
    char  *p;
    size_t len;
    size_t cap;
};

static void
sb_add(struct sbuf *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap == 0 ? 4096 : b->cap;

        while (b->len + n + 1 > cap) {
            cap *= 2;
        }
        b->p = realloc(b->p, cap);
        if (b->p == NULL) {
            abort();
        }
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        abort();
    }
    sb_add(b, tmp, (size_t)n);
}

/* Appends a RESP multibulk request. */
static void
sb_cmd(struct sbuf *b, int argc, const char *const *argv)
{
    int i;

    sb_printf(b, "*%d\r\n", argc);
    for (i = 0; i < argc; i++) {
        sb_printf(b, "$%zu\r\n", strlen(argv[i]));
        sb_add(b, argv[i], strlen(argv[i]));
        sb_add(b, "\r\n", 2);
    }
}

static void
sb_bulk(struct sbuf *b, const char *s)
{
    if (s == NULL) {
        sb_add(b, "$-1\r\n", 5);
        return;
    }
    sb_printf(b, "$%zu\r\n%s\r\n", strlen(s), s);
}

static size_t
min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Printable form of RESP bytes for failure messages (static buffer). */
static const char *
repr(const char *s, size_t len)
{
    static char out[4][1024];
    static int which = 0;
    char *o = out[which++ % 4];
    size_t j = 0;
    size_t i;

    for (i = 0; i < len && j + 8 < sizeof(out[0]); i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch == '\r') {
            o[j++] = '\\';
            o[j++] = 'r';
        } else if (ch == '\n') {
            o[j++] = '\\';
            o[j++] = 'n';
        } else if (ch < 32 || ch > 126) {
            j += (size_t)snprintf(o + j, 5, "\\x%02x", ch);
        } else {
            o[j++] = (char)ch;
        }
    }
    if (i < len) {
        memcpy(o + j, "...", 3);
        j += 3;
    }
    o[j] = '\0';
    return o;
}

/*
 * Sends req on fd and reads until nreplies complete RESP replies have
 * arrived (or 10 s pass, or the peer closes). Returns the raw bytes read,
 * NUL-terminated, in out.
 */
static size_t
exchange_fd(int fd, const char *req, size_t reqlen, char *out, size_t cap,
            int nreplies)
{
    redisReader *rd = redisReaderCreate();
    long long deadline = now_ms() + 10000;
    size_t got = 0;
    int complete = 0;

    ck_assert_int_eq(harness_send_all(fd, req, reqlen), 0);
    while (complete < nreplies && got + 1 < cap) {
        struct pollfd pfd = {fd, POLLIN, 0};
        long long left = deadline - now_ms();
        void *reply = NULL;
        ssize_t n;

        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
            break;
        }
        n = recv(fd, out + got, cap - 1 - got, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        redisReaderFeed(rd, out + got, (size_t)n);
        got += (size_t)n;
        while (complete < nreplies &&
               redisReaderGetReply(rd, &reply) == REDIS_OK && reply != NULL) {
            freeReplyObject(reply);
            reply = NULL;
            complete++;
        }
    }
    out[got] = '\0';
    redisReaderFree(rd);
    return got;
}

/* exchange_fd for a NUL-terminated request. */
static size_t
exchange_str(int fd, const char *req, char *out, size_t cap, int nreplies)
{
    return exchange_fd(fd, req, strlen(req), out, cap, nreplies);
}

/* exchange_fd on a fresh connection to port. */
static size_t
exchange(int port, const char *req, size_t reqlen, char *out, size_t cap,
         int nreplies)
{
    int fd = harness_raw_connect(port);
    size_t n = exchange_fd(fd, req, reqlen, out, cap, nreplies);

    close(fd);
    return n;
}

/*
 * Sends the same bytes to the primary directly and to tandem, each on a
 * fresh connection, and asserts that the replies are byte for byte the
 * same. Returns tandem's reply (static buffer) for further checks.
 */
static const char *
assert_same_as_redis(const char *req, int nreplies)
{
    static char from_tandem[64 * 1024];
    static char from_redis[64 * 1024];
    size_t nt = exchange(tandem.port, req, strlen(req), from_tandem,
                         sizeof(from_tandem), nreplies);
    size_t nr = exchange(redis.port, req, strlen(req), from_redis,
                         sizeof(from_redis), nreplies);

    ck_assert_msg(nr > 0, "no reply from redis to %s", repr(req, strlen(req)));
    ck_assert_msg(nt == nr && memcmp(from_tandem, from_redis, nr) == 0,
                  "request %s:\n  redis:  %s\n  tandem: %s",
                  repr(req, strlen(req)), repr(from_redis, nr),
                  repr(from_tandem, nt));
    return from_tandem;
}

/* Asserts an error reply and returns its text. */
static void
assert_error(redisReply *r, const char *text)
{
    ck_assert_ptr_nonnull(r);
    ck_assert_msg(r->type == REDIS_REPLY_ERROR,
                  "expected error '%s', got reply type %d (%s)", text,
                  r->type, r->str != NULL ? r->str : "");
    ck_assert_str_eq(r->str, text);
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

static void
assert_status(redisReply *r, const char *text)
{
    ck_assert_ptr_nonnull(r);
    ck_assert_msg(r->type == REDIS_REPLY_STATUS,
                  "expected +%s, got type %d (%s)", text, r->type,
                  r->str != NULL ? r->str : "");
    ck_assert_str_eq(r->str, text);
}

static void
assert_bulk(redisReply *r, const char *text)
{
    ck_assert_ptr_nonnull(r);
    if (text == NULL) {
        ck_assert_msg(r->type == REDIS_REPLY_NIL,
                      "expected nil, got type %d (%s)", r->type,
                      r->str != NULL ? r->str : "");
        return;
    }
    ck_assert_msg(r->type == REDIS_REPLY_STRING,
                  "expected \"%s\", got type %d (%s)", text, r->type,
                  r->str != NULL ? r->str : "");
    ck_assert_str_eq(r->str, text);
}

static void
assert_int(redisReply *r, long long v)
{
    ck_assert_ptr_nonnull(r);
    ck_assert_msg(r->type == REDIS_REPLY_INTEGER,
                  "expected :%lld, got type %d (%s)", v, r->type,
                  r->str != NULL ? r->str : "");
    ck_assert_int_eq(r->integer, v);
}

/* Runs a command and checks the reply with one of the assert_* above. */
#define EXPECT_STATUS(c, text, ...)                                          \
    do {                                                                     \
        redisReply *r_ = harness_cmd((c), __VA_ARGS__);                      \
        assert_status(r_, (text));                                           \
        freeReplyObject(r_);                                                 \
    } while (0)
#define EXPECT_BULK(c, text, ...)                                            \
    do {                                                                     \
        redisReply *r_ = harness_cmd((c), __VA_ARGS__);                      \
        assert_bulk(r_, (text));                                             \
        freeReplyObject(r_);                                                 \
    } while (0)
#define EXPECT_INT(c, v, ...)                                                \
    do {                                                                     \
        redisReply *r_ = harness_cmd((c), __VA_ARGS__);                      \
        assert_int(r_, (v));                                                 \
        freeReplyObject(r_);                                                 \
    } while (0)
#define EXPECT_ERROR(c, text, ...)                                           \
    do {                                                                     \
        redisReply *r_ = harness_cmd((c), __VA_ARGS__);                      \
        assert_error(r_, (text));                                            \
        freeReplyObject(r_);                                                 \
    } while (0)

/* Polls INFO primary until the pipe is up. Returns 1, or 0 on timeout. */
static int
wait_link_up(redisContext *c, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;

    while (now_ms() < deadline) {
        const char *s = harness_info_field(c, "primary",
                                           "primary_link_status");

        if (s != NULL && strcmp(s, "up") == 0) {
            return 1;
        }
        usleep(20000);
    }
    return 0;
}

/* ---- basic proxying ---- */

START_TEST(test_set_then_get_lands_on_the_primary)
{
    redisContext *c = harness_connect(tandem.port);
    redisContext *d = harness_connect(redis.port);

    EXPECT_STATUS(c, "OK", "SET a 1");
    EXPECT_BULK(c, "1", "GET a");
    EXPECT_STATUS(c, "OK", "SET %s %b", "bin", "x\0y\r\nz", (size_t)6);
    /* The data is on the primary, not only in tandem. */
    EXPECT_BULK(d, "1", "GET a");
    {
        redisReply *r = harness_cmd(d, "GET bin");

        ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
        ck_assert_int_eq(r->len, 6);
        ck_assert(memcmp(r->str, "x\0y\r\nz", 6) == 0);
        freeReplyObject(r);
    }
    /* And what is written directly is read back through tandem. */
    EXPECT_STATUS(d, "OK", "SET direct yes");
    EXPECT_BULK(c, "yes", "GET direct");
    EXPECT_BULK(c, NULL, "GET missing");
    redisFree(d);
    redisFree(c);
}
END_TEST

/*
 * A reply tandem makes itself (PING, ECHO, SELECT, CLIENT ...) that waits
 * behind a forwarded command's reply must not upset the client's output
 * accounting: the connection stays open through many such pipelines.
 */
START_TEST(test_builtin_behind_forwarded_reply_keeps_connection)
{
    char out[4096];
    int fd = harness_raw_connect(tandem.port);
    int i;

    for (i = 0; i < 20; i++) {
        size_t n = exchange_str(fd, "*2\r\n$3\r\nGET\r\n$1\r\na\r\nPING\r\n"
                                    "ECHO e\r\n", out, sizeof(out), 3);

        ck_assert_msg(n == 19 &&
                          strcmp(out, "$-1\r\n+PONG\r\n$1\r\ne\r\n") == 0,
                      "round %d: got %s", i, repr(out, n));
    }
    close(fd);
}
END_TEST

/* ---- the key test: concurrent pipelined clients ---- */

#define LOAD_CLIENTS 20
#define LOAD_CMDS 10000

struct loader {
    int                port;
    int                id;
    pthread_barrier_t *start;
    int               *set_db;      /* db holding k_<id>_<i>, or -1 */
    long long          counter[2];  /* counter_<id> in db 0 and db 1 */
    size_t             matched;     /* replies that arrived as expected */
    char               err[2048];
};

/* Value of key index j in the current db, or NULL. */
static const char *
model_get(const struct loader *l, int j, int db, char *tmp, size_t len)
{
    if (j < 0 || l->set_db[j] != db) {
        return NULL;
    }
    snprintf(tmp, len, "v_%d", j);
    return tmp;
}

/*
 * Builds one client's 10,000 commands and, alongside, the exact bytes
 * Redis must answer, from a model of the client's keys. The mix covers
 * status, bulk, nil, integer and array replies, inline and multibulk
 * requests, commands tandem answers itself (PING, ECHO, SELECT) between
 * forwarded ones, and db switches.
 */
static void
build_load(struct loader *l, struct sbuf *req, struct sbuf *exp,
           size_t *req_off, size_t *exp_off)
{
    char key[64];
    char key2[64];
    char val[64];
    char tmp[64];
    char tmp2[64];
    char counter[64];
    int db = 0;
    int last_set = -1;
    int i;

    snprintf(counter, sizeof(counter), "counter_%d", l->id);
    for (i = 0; i < LOAD_CMDS; i++) {
        int r = i % 10;

        req_off[i] = req->len;
        exp_off[i] = exp->len;
        if (r == 0 || r == 5) {
            const char *argv[3] = {"SET", key, val};

            snprintf(key, sizeof(key), "k_%d_%d", l->id, i);
            snprintf(val, sizeof(val), "v_%d", i);
            sb_cmd(req, 3, argv);
            sb_add(exp, "+OK\r\n", 5);
            l->set_db[i] = db;
            last_set = i;
        } else if (r == 1) {
            const char *argv[2] = {"GET", key};

            snprintf(key, sizeof(key), "k_%d_%d", l->id, last_set);
            sb_cmd(req, 2, argv);
            sb_bulk(exp, model_get(l, last_set, db, tmp, sizeof(tmp)));
        } else if (r == 2) {
            const char *argv[2] = {"INCR", counter};

            sb_cmd(req, 2, argv);
            sb_printf(exp, ":%lld\r\n", ++l->counter[db]);
        } else if (r == 3) {
            sb_add(req, "PING\r\n", 6);     /* inline */
            sb_add(exp, "+PONG\r\n", 7);
        } else if (r == 4) {
            const char *argv[2] = {"ECHO", val};

            snprintf(val, sizeof(val), "x_%d", i);
            sb_cmd(req, 2, argv);
            sb_bulk(exp, val);
        } else if (r == 6) {
            const char *argv[2] = {"EXISTS", key};

            snprintf(key, sizeof(key), "k_%d_%d", l->id, last_set);
            sb_cmd(req, 2, argv);
            sb_printf(exp, ":%d\r\n", l->set_db[last_set] == db ? 1 : 0);
        } else if (r == 7) {
            const char *argv[2] = {"DEL", key};
            int j = i - 7;

            snprintf(key, sizeof(key), "k_%d_%d", l->id, j);
            sb_cmd(req, 2, argv);
            sb_printf(exp, ":%d\r\n", l->set_db[j] == db ? 1 : 0);
            if (l->set_db[j] == db) {
                l->set_db[j] = -1;
            }
        } else if (r == 8 && (i / 10) % 7 == 3) {
            const char *argv[2] = {"SELECT", db == 0 ? "1" : "0"};

            sb_cmd(req, 2, argv);
            sb_add(exp, "+OK\r\n", 5);
            db = 1 - db;
        } else if (r == 8) {
            const char *argv[2] = {"GET", key};
            int j = i - 3;

            snprintf(key, sizeof(key), "k_%d_%d", l->id, j);
            sb_cmd(req, 2, argv);
            sb_bulk(exp, model_get(l, j, db, tmp, sizeof(tmp)));
        } else {
            const char *argv[3] = {"MGET", key, key2};
            int j1 = i - 9;
            int j2 = i - 4;

            snprintf(key, sizeof(key), "k_%d_%d", l->id, j1);
            snprintf(key2, sizeof(key2), "k_%d_%d", l->id, j2);
            sb_cmd(req, 3, argv);
            sb_add(exp, "*2\r\n", 4);
            sb_bulk(exp, model_get(l, j1, db, tmp, sizeof(tmp)));
            sb_bulk(exp, model_get(l, j2, db, tmp2, sizeof(tmp2)));
        }
    }
    req_off[LOAD_CMDS] = req->len;
    exp_off[LOAD_CMDS] = exp->len;
}

/* Reports the first reply that differs from the model. */
static void
describe_mismatch(struct loader *l, const struct sbuf *req,
                  const struct sbuf *exp, const size_t *req_off,
                  const size_t *exp_off, const char *got, size_t gotlen)
{
    size_t off = 0;
    int k = 0;

    while (off < gotlen && off < exp->len && got[off] == exp->p[off]) {
        off++;
    }
    while (k < LOAD_CMDS && exp_off[k + 1] <= off) {
        k++;
    }
    l->matched = (size_t)k;
    if (k >= LOAD_CMDS) {
        snprintf(l->err, sizeof(l->err),
                 "client %d: all %d replies matched but %zu extra bytes "
                 "followed: %s", l->id, LOAD_CMDS, gotlen - exp->len,
                 repr(got + exp->len, gotlen - exp->len));
        return;
    }
    snprintf(l->err, sizeof(l->err),
             "client %d: reply %d of %d is wrong or missing (%zu of %zu "
             "reply bytes received)\n  command:  %s\n  expected: %s\n"
             "  got:      %s",
             l->id, k + 1, LOAD_CMDS, gotlen, exp->len,
             repr(req->p + req_off[k], req_off[k + 1] - req_off[k]),
             repr(exp->p + exp_off[k],
                  min_size(exp_off[k + 1] - exp_off[k], 200)),
             repr(got + exp_off[k],
                  gotlen > exp_off[k] ? min_size(gotlen - exp_off[k], 200)
                                      : 0));
}

static void *
load_thread(void *arg)
{
    struct loader *l = arg;
    struct sbuf req = {NULL, 0, 0};
    struct sbuf exp = {NULL, 0, 0};
    size_t *req_off = calloc(LOAD_CMDS + 1, sizeof(*req_off));
    size_t *exp_off = calloc(LOAD_CMDS + 1, sizeof(*exp_off));
    char *got;
    size_t gotlen = 0;
    long long deadline;
    int fd;
    int closed = 0;

    if (req_off == NULL || exp_off == NULL) {
        abort();
    }
    build_load(l, &req, &exp, req_off, exp_off);
    got = malloc(exp.len + 4096);
    if (got == NULL) {
        abort();
    }
    fd = harness_raw_connect(l->port);
    pthread_barrier_wait(l->start);

    /* The whole pipeline in one buffer, handed to the kernel at once. */
    if (harness_send_all(fd, req.p, req.len) != 0) {
        snprintf(l->err, sizeof(l->err), "client %d: send failed: %s",
                 l->id, strerror(errno));
        goto out;
    }
    deadline = now_ms() + 45000;
    while (gotlen < exp.len) {
        struct pollfd pfd = {fd, POLLIN, 0};
        long long left = deadline - now_ms();
        ssize_t n;

        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
            break;
        }
        n = recv(fd, got + gotlen, exp.len + 4096 - gotlen, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            closed = 1;
            break;
        }
        gotlen += (size_t)n;
    }
    /* Nothing may follow the last reply. */
    if (gotlen == exp.len && !closed) {
        struct pollfd pfd = {fd, POLLIN, 0};

        if (poll(&pfd, 1, 50) > 0) {
            ssize_t n = recv(fd, got + gotlen, 4096, 0);

            if (n > 0) {
                gotlen += (size_t)n;
            }
        }
    }
    if (gotlen == exp.len && memcmp(got, exp.p, exp.len) == 0) {
        l->matched = LOAD_CMDS;
    } else {
        describe_mismatch(l, &req, &exp, req_off, exp_off, got, gotlen);
        if (closed) {
            size_t n = strlen(l->err);

            snprintf(l->err + n, sizeof(l->err) - n,
                     "\n  (the connection was closed)");
        }
    }
out:
    close(fd);
    free(got);
    free(req.p);
    free(exp.p);
    free(req_off);
    free(exp_off);
    return NULL;
}

START_TEST(test_pipelined_clients_get_replies_complete_and_in_order)
{
    static struct loader loaders[LOAD_CLIENTS];
    pthread_t threads[LOAD_CLIENTS];
    pthread_barrier_t start;
    redisContext *d;
    long long keys[2] = {0, 0};
    int i;
    int j;
    int db;

    pthread_barrier_init(&start, NULL, LOAD_CLIENTS);
    for (i = 0; i < LOAD_CLIENTS; i++) {
        struct loader *l = &loaders[i];

        memset(l, 0, sizeof(*l));
        l->port = tandem.port;
        l->id = i;
        l->start = &start;
        l->set_db = malloc(LOAD_CMDS * sizeof(*l->set_db));
        ck_assert_ptr_nonnull(l->set_db);
        for (j = 0; j < LOAD_CMDS; j++) {
            l->set_db[j] = -1;
        }
        ck_assert_int_eq(pthread_create(&threads[i], NULL, load_thread, l),
                         0);
    }
    for (i = 0; i < LOAD_CLIENTS; i++) {
        pthread_join(threads[i], NULL);
    }
    pthread_barrier_destroy(&start);
    for (i = 0; i < LOAD_CLIENTS; i++) {
        if (loaders[i].err[0] != '\0') {
            harness_dump_log(&tandem);
        }
        ck_assert_msg(loaders[i].err[0] == '\0', "%s", loaders[i].err);
        ck_assert_int_eq(loaders[i].matched, LOAD_CMDS);
    }

    /* The primary holds exactly what the clients' commands imply. */
    d = harness_connect(redis.port);
    for (db = 0; db < 2; db++) {
        redisReply *r;
        long long n = 0;

        EXPECT_STATUS(d, "OK", "SELECT %d", db);
        for (i = 0; i < LOAD_CLIENTS; i++) {
            const struct loader *l = &loaders[i];
            char v[32];

            snprintf(v, sizeof(v), "%lld", l->counter[db]);
            EXPECT_BULK(d, l->counter[db] > 0 ? v : NULL, "GET counter_%d",
                        i);
            keys[db] += l->counter[db] > 0;
            for (j = 0; j < LOAD_CMDS; j++) {
                if (l->set_db[j] == db) {
                    redisAppendCommand(d, "GET k_%d_%d", i, j);
                    n++;
                }
            }
            for (j = 0; j < LOAD_CMDS; j++) {
                void *reply = NULL;
                char want[32];

                if (l->set_db[j] != db) {
                    continue;
                }
                ck_assert_int_eq(redisGetReply(d, &reply), REDIS_OK);
                snprintf(want, sizeof(want), "v_%d", j);
                ck_assert_msg(((redisReply *)reply)->type ==
                                      REDIS_REPLY_STRING &&
                                  strcmp(((redisReply *)reply)->str, want) ==
                                      0,
                              "db %d key k_%d_%d: expected %s", db, i, j,
                              want);
                freeReplyObject(reply);
            }
        }
        keys[db] += n;
        r = harness_cmd(d, "DBSIZE");
        assert_int(r, keys[db]);
        freeReplyObject(r);
    }
    /* Every client had keys in both dbs: the SELECTs really switched. */
    ck_assert_int_gt(keys[0], LOAD_CLIENTS);
    ck_assert_int_gt(keys[1], LOAD_CLIENTS);
    redisFree(d);
    for (i = 0; i < LOAD_CLIENTS; i++) {
        free(loaders[i].set_db);
    }
}
END_TEST

/* ---- SELECT emulation ---- */

START_TEST(test_select_gives_each_client_its_own_db)
{
    redisContext *a = harness_connect(tandem.port);
    redisContext *b = harness_connect(tandem.port);
    redisContext *d = harness_connect(redis.port);
    redisReply *r;
    int i;

    EXPECT_STATUS(a, "OK", "SELECT 3");
    for (i = 0; i < 50; i++) {
        char va[32];
        char vb[32];

        snprintf(va, sizeof(va), "a3_%d", i);
        snprintf(vb, sizeof(vb), "b0_%d", i);
        EXPECT_STATUS(a, "OK", "SET samekey %s", va);
        EXPECT_STATUS(b, "OK", "SET samekey %s", vb);
        EXPECT_BULK(a, va, "GET samekey");
        EXPECT_BULK(b, vb, "GET samekey");
    }
    /* Pipelined and interleaved, too. */
    redisAppendCommand(a, "INCR cnt");
    redisAppendCommand(b, "INCR cnt");
    redisAppendCommand(a, "INCR cnt");
    redisAppendCommand(a, "GET samekey");
    redisAppendCommand(b, "GET samekey");
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(redisGetReply(a, (void **)&r), REDIS_OK);
        if (i < 2) {
            assert_int(r, i + 1);
        } else {
            assert_bulk(r, "a3_49");
        }
        freeReplyObject(r);
    }
    for (i = 0; i < 2; i++) {
        ck_assert_int_eq(redisGetReply(b, (void **)&r), REDIS_OK);
        if (i == 0) {
            assert_int(r, 1);
        } else {
            assert_bulk(r, "b0_49");
        }
        freeReplyObject(r);
    }

    /* On the primary the values are in the right dbs. */
    EXPECT_STATUS(d, "OK", "SELECT 3");
    EXPECT_BULK(d, "a3_49", "GET samekey");
    EXPECT_BULK(d, "2", "GET cnt");
    EXPECT_STATUS(d, "OK", "SELECT 0");
    EXPECT_BULK(d, "b0_49", "GET samekey");
    EXPECT_BULK(d, "1", "GET cnt");
    redisFree(d);
    redisFree(b);
    redisFree(a);
}
END_TEST

START_TEST(test_select_errors_match_redis_and_meta_db_is_refused)
{
    redisContext *a = harness_connect(tandem.port);
    redisReply *r;

    EXPECT_STATUS(a, "OK", "SELECT 3");
    EXPECT_STATUS(a, "OK", "SET where three");
    EXPECT_ERROR(a, "ERR DB index is out of range", "SELECT 16");
    EXPECT_ERROR(a, "ERR DB index is out of range", "SELECT -1");
    EXPECT_ERROR(a, "ERR value is not an integer or out of range",
                 "SELECT abc");
    r = harness_cmd(a, "SELECT 15");
    assert_error_prefix(r, "ERR tandem:", "SELECT 15 (meta-db)");
    freeReplyObject(r);
    /* A failed SELECT leaves the client where it was. */
    EXPECT_BULK(a, "three", "GET where");

    /* Same bytes, same reply as Redis itself. */
    assert_same_as_redis("*2\r\n$6\r\nSELECT\r\n$2\r\n16\r\n", 1);
    assert_same_as_redis("*2\r\n$6\r\nSELECT\r\n$3\r\nabc\r\n", 1);
    assert_same_as_redis("*2\r\n$6\r\nSELECT\r\n$20\r\n99999999999999999999"
                         "\r\n", 1);
    assert_same_as_redis("*3\r\n$6\r\nSELECT\r\n$1\r\n1\r\n$1\r\n2\r\n", 1);
    assert_same_as_redis("*2\r\n$4\r\nMOVE\r\n$1\r\nk\r\n", 1);
    /* Moving or copying into the meta-db is refused as well. */
    EXPECT_STATUS(a, "OK", "SET tomove 1");
    r = harness_cmd(a, "MOVE tomove 15");
    assert_error_prefix(r, "ERR tandem:", "MOVE k 15 (meta-db)");
    freeReplyObject(r);
    r = harness_cmd(a, "SWAPDB 0 15");
    assert_error_prefix(r, "ERR tandem:", "SWAPDB 0 15 (meta-db)");
    freeReplyObject(r);
    r = harness_cmd(a, "COPY tomove x DB 15");
    assert_error_prefix(r, "ERR tandem:", "COPY ... DB 15 (meta-db)");
    freeReplyObject(r);
    EXPECT_INT(a, 1, "MOVE tomove 4");
    redisFree(a);
}
END_TEST

/* ---- inline commands ---- */

START_TEST(test_inline_commands_work_with_quoting)
{
    char out[4096];
    int fd = harness_raw_connect(tandem.port);
    redisContext *d = harness_connect(redis.port);
    redisReply *r;

    exchange_str(fd, "SET inl 5\r\nGET inl\r\n", out, sizeof(out), 2);
    ck_assert_str_eq(out, "+OK\r\n$1\r\n5\r\n");

    /* Quotes and escapes, as redis-cli and telnet users type them. */
    exchange_str(fd, "SET \"a b\" \"x\\ty\"\r\nGET \"a b\"\r\n", out,
                 sizeof(out), 2);
    ck_assert_str_eq(out, "+OK\r\n$3\r\nx\ty\r\n");
    exchange_str(fd, "ECHO 'it\\'s'\r\nECHO \"\\x41\\x42\"\r\n", out,
                 sizeof(out), 2);
    ck_assert_str_eq(out, "$4\r\nit's\r\n$2\r\nAB\r\n");

    /* Inline and multibulk mixed in one write, and an LF-only line. */
    exchange_str(fd, "INCR n\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\nINCR n\r\n",
                 out, sizeof(out), 3);
    ck_assert_str_eq(out, ":1\r\n:2\r\n:3\r\n");
    /* An empty line is skipped, as Redis does. */
    exchange_str(fd, "\r\nPING\r\n", out, sizeof(out), 1);
    ck_assert_str_eq(out, "+PONG\r\n");
    close(fd);

    /* What the inline commands wrote is on the primary. */
    r = harness_cmd(d, "GET %s", "a b");
    assert_bulk(r, "x\ty");
    freeReplyObject(r);
    EXPECT_BULK(d, "5", "GET inl");
    EXPECT_BULK(d, "3", "GET n");
    redisFree(d);

    /* And every reply is the one Redis gives to the same bytes. */
    assert_same_as_redis("SET \"q q\" \"a\\nb\"\r\nGET \"q q\"\r\n", 2);
    assert_same_as_redis("ECHO 'it\\'s'\r\nECHO \"\\x41\\x42\"\r\n", 2);
    assert_same_as_redis("EXISTS inl \"a b\" nope\r\n", 1);
}
END_TEST

START_TEST(test_unbalanced_quotes_inline_is_a_protocol_error)
{
    char out[4096];
    int fd = harness_raw_connect(tandem.port);
    int closed = 0;

    ck_assert_int_eq(harness_send_all(fd, "SET \"a b\r\n", 10), 0);
    harness_read_until_close(fd, out, sizeof(out), 5000, &closed);
    ck_assert_str_eq(out,
                     "-ERR Protocol error: unbalanced quotes in request\r\n");
    ck_assert_int_eq(closed, 1);
    close(fd);
}
END_TEST

/* ---- Redis's error texts ---- */

START_TEST(test_error_texts_are_identical_to_redis)
{
    const char *r;

    r = assert_same_as_redis("*3\r\n$3\r\nFOO\r\n$1\r\na\r\n$1\r\nb\r\n", 1);
    ck_assert_str_eq(r, "-ERR unknown command 'FOO', with args beginning "
                        "with: 'a' 'b' \r\n");
    r = assert_same_as_redis("*1\r\n$3\r\nGET\r\n", 1);
    ck_assert_str_eq(r, "-ERR wrong number of arguments for 'get' "
                        "command\r\n");
    r = assert_same_as_redis("*2\r\n$6\r\nCONFIG\r\n$3\r\nFOO\r\n", 1);
    ck_assert_str_eq(r, "-ERR unknown subcommand 'FOO'. Try CONFIG "
                        "HELP.\r\n");
    r = assert_same_as_redis("*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n"
                             "$3\r\na b\r\n", 1);
    ck_assert_str_eq(r, "-ERR Client names cannot contain spaces, newlines "
                        "or special characters.\r\n");
    r = assert_same_as_redis("*3\r\n$4\r\nPING\r\n$1\r\na\r\n$1\r\nb\r\n", 1);
    ck_assert_str_eq(r, "-ERR wrong number of arguments for 'ping' "
                        "command\r\n");

    /* More of the same family. */
    assert_same_as_redis("*1\r\n$3\r\nfoo\r\n", 1);
    assert_same_as_redis("FOO\r\n", 1);
    assert_same_as_redis("*2\r\n$4\r\nECHO\r\n*0\r\n", 1);
    assert_same_as_redis("*1\r\n$4\r\nECHO\r\n", 1);
    assert_same_as_redis("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
                         "*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n", 2);
    assert_same_as_redis("*2\r\n$6\r\nCLIENT\r\n$3\r\nFOO\r\n", 1);
    assert_same_as_redis("*1\r\n$6\r\nCLIENT\r\n", 1);
    assert_same_as_redis("*3\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n$1\r\nx\r\n", 1);
    assert_same_as_redis("*3\r\n$6\r\nCLIENT\r\n$7\r\nGETNAME\r\n"
                         "$1\r\nx\r\n", 1);
    assert_same_as_redis("*2\r\n$3\r\nACL\r\n$3\r\nFOO\r\n", 1);
    assert_same_as_redis("*3\r\n$3\r\nACL\r\n$6\r\nWHOAMI\r\n$1\r\nx\r\n",
                         1);
    assert_same_as_redis("*2\r\n$3\r\nACL\r\n$6\r\nWHOAMI\r\n", 1);
    assert_same_as_redis("*2\r\n$6\r\nOBJECT\r\n$3\r\nBAR\r\n", 1);
    assert_same_as_redis("*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nXX"
                         "\r\n*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
                         "$3\r\nBAD\r\n", 2);
    assert_same_as_redis("*2\r\n$5\r\nHELLO\r\n$3\r\nabc\r\n", 1);
}
END_TEST

/* ---- commands tandem answers itself ---- */

START_TEST(test_ping_and_echo_answer_as_redis)
{
    redisContext *c = harness_connect(tandem.port);

    EXPECT_STATUS(c, "PONG", "PING");
    EXPECT_BULK(c, "hello world", "PING %s", "hello world");
    EXPECT_BULK(c, "", "PING %s", "");
    EXPECT_BULK(c, "x y", "ECHO %s", "x y");
    EXPECT_ERROR(c, "ERR wrong number of arguments for 'echo' command",
                 "ECHO a b");
    redisFree(c);
    assert_same_as_redis("*1\r\n$4\r\nPING\r\n", 1);
    assert_same_as_redis("*2\r\n$4\r\nping\r\n$3\r\nabc\r\n", 1);
    assert_same_as_redis("*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", 1);
}
END_TEST

START_TEST(test_hello_2_describes_connection_hello_3_is_refused)
{
    redisContext *c = harness_connect(tandem.port);
    redisReply *r = harness_cmd(c, "HELLO 2");
    redisReply *id = harness_cmd(c, "CLIENT ID");
    size_t i;

    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 14);
    for (i = 0; i < 14; i += 2) {
        ck_assert_int_eq(r->element[i]->type, REDIS_REPLY_STRING);
    }
    ck_assert_str_eq(r->element[0]->str, "server");
    ck_assert_str_eq(r->element[1]->str, "redis");
    ck_assert_str_eq(r->element[2]->str, "version");
    ck_assert_int_eq(r->element[3]->type, REDIS_REPLY_STRING);
    ck_assert_str_eq(r->element[4]->str, "proto");
    ck_assert_int_eq(r->element[5]->type, REDIS_REPLY_INTEGER);
    ck_assert_int_eq(r->element[5]->integer, 2);
    ck_assert_str_eq(r->element[6]->str, "id");
    ck_assert_int_eq(r->element[7]->type, REDIS_REPLY_INTEGER);
    ck_assert_int_eq(id->type, REDIS_REPLY_INTEGER);
    ck_assert_int_eq(r->element[7]->integer, id->integer);
    ck_assert_str_eq(r->element[8]->str, "mode");
    ck_assert_str_eq(r->element[9]->str, "standalone");
    ck_assert_str_eq(r->element[10]->str, "role");
    ck_assert_str_eq(r->element[11]->str, "master");
    ck_assert_str_eq(r->element[12]->str, "modules");
    ck_assert_int_eq(r->element[13]->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->element[13]->elements, 0);
    freeReplyObject(r);
    freeReplyObject(id);

    /* HELLO with no version answers the same way; SETNAME names us. */
    r = harness_cmd(c, "HELLO");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 14);
    freeReplyObject(r);
    r = harness_cmd(c, "HELLO 2 SETNAME viahello");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    EXPECT_BULK(c, "viahello", "CLIENT GETNAME");

    EXPECT_ERROR(c, "NOPROTO unsupported protocol version", "HELLO 3");
    EXPECT_ERROR(c, "NOPROTO unsupported protocol version", "HELLO 1");
    /* Still RESP2 and working. */
    EXPECT_STATUS(c, "OK", "SET h 1");
    EXPECT_BULK(c, "1", "GET h");
    redisFree(c);
}
END_TEST

START_TEST(test_client_name_id_info_and_list_are_per_connection)
{
    redisContext *a = harness_connect(tandem.port);
    redisContext *b = harness_connect(tandem.port);
    redisReply *ida = harness_cmd(a, "CLIENT ID");
    redisReply *idb = harness_cmd(b, "CLIENT ID");
    redisReply *r;
    char want[64];

    ck_assert_int_eq(ida->type, REDIS_REPLY_INTEGER);
    ck_assert_int_eq(idb->type, REDIS_REPLY_INTEGER);
    ck_assert_int_gt(ida->integer, 0);
    ck_assert_int_ne(ida->integer, idb->integer);

    EXPECT_BULK(a, NULL, "CLIENT GETNAME");
    EXPECT_STATUS(a, "OK", "CLIENT SETNAME alice");
    EXPECT_STATUS(b, "OK", "CLIENT SETNAME bob");
    EXPECT_BULK(a, "alice", "CLIENT GETNAME");
    EXPECT_BULK(b, "bob", "CLIENT GETNAME");

    r = harness_cmd(a, "CLIENT INFO");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    snprintf(want, sizeof(want), "id=%lld ", ida->integer);
    ck_assert_msg(strncmp(r->str, want, strlen(want)) == 0, "%s", r->str);
    ck_assert_ptr_nonnull(strstr(r->str, " name=alice "));
    ck_assert_ptr_null(strstr(r->str, "bob"));
    freeReplyObject(r);

    /* Both show in CLIENT LIST, each with its own id and name, one line
     * each. */
    r = harness_cmd(b, "CLIENT LIST");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    snprintf(want, sizeof(want), "id=%lld ", ida->integer);
    ck_assert_ptr_nonnull(strstr(r->str, want));
    snprintf(want, sizeof(want), "id=%lld ", idb->integer);
    ck_assert_ptr_nonnull(strstr(r->str, want));
    ck_assert_ptr_nonnull(strstr(r->str, " name=alice "));
    ck_assert_ptr_nonnull(strstr(r->str, " name=bob "));
    {
        int lines = 0;
        const char *p;

        for (p = r->str; *p != '\0'; p++) {
            lines += *p == '\n';
        }
        ck_assert_int_eq(lines, 2);
    }
    freeReplyObject(r);

    /* CLIENT LIST ID filters. */
    r = harness_cmd(a, "CLIENT LIST ID %lld", idb->integer);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_ptr_nonnull(strstr(r->str, " name=bob "));
    ck_assert_ptr_null(strstr(r->str, "alice"));
    freeReplyObject(r);

    /* An empty name clears it. */
    EXPECT_STATUS(a, "OK", "CLIENT SETNAME %s", "");
    EXPECT_BULK(a, NULL, "CLIENT GETNAME");

    /* A new connection gets a new id. */
    {
        redisContext *c = harness_connect(tandem.port);

        r = harness_cmd(c, "CLIENT ID");
        ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
        ck_assert_int_ne(r->integer, ida->integer);
        ck_assert_int_ne(r->integer, idb->integer);
        freeReplyObject(r);
        redisFree(c);
    }
    freeReplyObject(ida);
    freeReplyObject(idb);
    redisFree(b);
    redisFree(a);
}
END_TEST

START_TEST(test_command_count_and_info_match_the_primary)
{
    redisContext *c = harness_connect(tandem.port);
    redisContext *d = harness_connect(redis.port);
    redisReply *rt = harness_cmd(c, "COMMAND COUNT");
    redisReply *rr = harness_cmd(d, "COMMAND COUNT");

    ck_assert_int_eq(rt->type, REDIS_REPLY_INTEGER);
    ck_assert_int_eq(rr->type, REDIS_REPLY_INTEGER);
    ck_assert_int_gt(rr->integer, 100);
    ck_assert_int_eq(rt->integer, rr->integer);
    freeReplyObject(rt);
    freeReplyObject(rr);
    redisFree(d);
    redisFree(c);

    /* Byte for byte what the primary says. */
    assert_same_as_redis("*3\r\n$7\r\nCOMMAND\r\n$4\r\nINFO\r\n$3\r\nget\r\n",
                         1);
    assert_same_as_redis("*4\r\n$7\r\nCOMMAND\r\n$4\r\nINFO\r\n$3\r\nSET\r\n"
                         "$6\r\nnosuch\r\n", 1);
    assert_same_as_redis("*4\r\n$7\r\nCOMMAND\r\n$7\r\nGETKEYS\r\n$3\r\nGET"
                         "\r\n$3\r\nkey\r\n", 1);
}
END_TEST

START_TEST(test_info_has_server_clients_and_stats_sections)
{
    redisContext *c = harness_connect(tandem.port);
    redisContext *c2 = harness_connect(tandem.port);
    redisContext *c3 = harness_connect(tandem.port);
    redisReply *r = harness_cmd(c, "INFO");
    const char *v;
    long long before;
    long long after;

    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_ptr_nonnull(strstr(r->str, "# Server\r\n"));
    ck_assert_ptr_nonnull(strstr(r->str, "# Clients\r\n"));
    ck_assert_ptr_nonnull(strstr(r->str, "# Stats\r\n"));
    ck_assert_ptr_nonnull(strstr(r->str, "\r\nconnected_clients:"));
    ck_assert_ptr_nonnull(strstr(r->str, "\r\ntotal_commands_processed:"));
    ck_assert_ptr_nonnull(strstr(r->str, "redis_version:"));
    freeReplyObject(r);

    /* Only the asked section. */
    r = harness_cmd(c, "INFO clients");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_ptr_nonnull(strstr(r->str, "# Clients\r\n"));
    ck_assert_ptr_null(strstr(r->str, "# Server"));
    ck_assert_ptr_null(strstr(r->str, "# Stats"));
    freeReplyObject(r);

    v = harness_info_field(c, "clients", "connected_clients");
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(atoll(v), 3);
    redisFree(c3);
    redisFree(c2);

    /* total_commands_processed counts each command, INFO included. */
    v = harness_info_field(c, "stats", "total_commands_processed");
    ck_assert_ptr_nonnull(v);
    before = atoll(v);
    EXPECT_STATUS(c, "PONG", "PING");
    EXPECT_BULK(c, NULL, "GET nothing");
    v = harness_info_field(c, "stats", "total_commands_processed");
    ck_assert_ptr_nonnull(v);
    after = atoll(v);
    ck_assert_int_eq(after - before, 3);

    /* The closed connections are gone from the count. */
    {
        long long deadline = now_ms() + 3000;

        for (;;) {
            v = harness_info_field(c, "clients", "connected_clients");
            ck_assert_ptr_nonnull(v);
            if (atoll(v) == 1 || now_ms() > deadline) {
                break;
            }
            usleep(20000);
        }
        ck_assert_int_eq(atoll(v), 1);
    }
    redisFree(c);
}
END_TEST

START_TEST(test_quit_replies_ok_then_closes)
{
    char out[256];
    int fd = harness_raw_connect(tandem.port);
    int closed = 0;

    /* Commands after QUIT in the same write are not executed. */
    ck_assert_int_eq(harness_send_all(fd, "SET q 1\r\nQUIT\r\nSET q 2\r\n",
                                      24), 0);
    harness_read_until_close(fd, out, sizeof(out), 5000, &closed);
    ck_assert_str_eq(out, "+OK\r\n+OK\r\n");
    ck_assert_int_eq(closed, 1);
    close(fd);
    {
        redisContext *d = harness_connect(redis.port);

        EXPECT_BULK(d, "1", "GET q");
        redisFree(d);
    }
}
END_TEST

START_TEST(test_reset_replies_reset_and_returns_to_db_0)
{
    redisContext *c = harness_connect(tandem.port);
    redisContext *d = harness_connect(redis.port);

    EXPECT_STATUS(c, "OK", "SELECT 5");
    EXPECT_STATUS(c, "OK", "CLIENT SETNAME before");
    EXPECT_STATUS(c, "OK", "SET rk in5");
    EXPECT_STATUS(c, "RESET", "RESET");
    EXPECT_BULK(c, NULL, "CLIENT GETNAME");
    EXPECT_BULK(c, NULL, "GET rk");
    EXPECT_STATUS(c, "OK", "SET rk in0");

    EXPECT_BULK(d, "in0", "GET rk");
    EXPECT_STATUS(d, "OK", "SELECT 5");
    EXPECT_BULK(d, "in5", "GET rk");
    redisFree(d);
    redisFree(c);
}
END_TEST

/* ---- AUTH ---- */

/* Starts tandem with requirepass; waits until it accepts connections. */
static int
start_tandem_with_password(struct proc *p, int primary_port,
                           const char *password)
{
    char port[16];
    char primary[64];
    int tport = harness_free_port();
    const char *args[] = {"--port", port, "--primary", primary,
                          "--loglevel", "verbose", "--requirepass",
                          password, NULL};
    long long deadline = now_ms() + 10000;

    snprintf(port, sizeof(port), "%d", tport);
    snprintf(primary, sizeof(primary), "127.0.0.1:%d", primary_port);
    if (harness_spawn_tandem(p, args) != 0) {
        return -1;
    }
    p->port = tport;
    while (now_ms() < deadline) {
        if (harness_can_connect(tport)) {
            return 0;
        }
        usleep(20000);
    }
    harness_dump_log(p);
    return -1;
}

START_TEST(test_requirepass_gates_commands_until_auth)
{
    redisContext *c;
    redisReply *r;

    /* Not harness_start_tandem: its readiness PING would need the
     * password. */
    ck_assert_int_eq(start_tandem_with_password(&tandem2, redis.port,
                                                "s3cret"), 0);
    c = harness_connect(tandem2.port);
    EXPECT_STATUS(c, "OK", "AUTH s3cret");
    ck_assert_msg(wait_link_up(c, 10000), "the pipe did not come up");
    redisFree(c);
    c = harness_connect(tandem2.port);

    EXPECT_ERROR(c, "NOAUTH Authentication required.", "GET k");
    EXPECT_ERROR(c, "NOAUTH Authentication required.", "SET k v");
    EXPECT_ERROR(c, "NOAUTH Authentication required.", "SELECT 1");
    EXPECT_ERROR(c, "WRONGPASS invalid username-password pair or user is "
                    "disabled.", "AUTH wrong");
    EXPECT_ERROR(c, "WRONGPASS invalid username-password pair or user is "
                    "disabled.", "AUTH other s3cret");
    EXPECT_ERROR(c, "NOAUTH Authentication required.", "GET k");
    EXPECT_STATUS(c, "OK", "AUTH s3cret");
    EXPECT_BULK(c, NULL, "GET k");
    EXPECT_STATUS(c, "OK", "SET k v");
    EXPECT_BULK(c, "v", "GET k");
    redisFree(c);

    /* The two-argument form, for the default user. */
    c = harness_connect(tandem2.port);
    EXPECT_STATUS(c, "OK", "AUTH default s3cret");
    EXPECT_BULK(c, "v", "GET k");
    /* RESET logs the client out again. */
    EXPECT_STATUS(c, "RESET", "RESET");
    EXPECT_ERROR(c, "NOAUTH Authentication required.", "GET k");
    redisFree(c);

    /* HELLO 2 AUTH authenticates and answers the handshake. */
    c = harness_connect(tandem2.port);
    r = harness_cmd(c, "HELLO 2 AUTH default wrong");
    assert_error_prefix(r, "WRONGPASS", "HELLO with a wrong password");
    freeReplyObject(r);
    r = harness_cmd(c, "HELLO 2");
    assert_error_prefix(r, "NOAUTH", "HELLO before AUTH");
    freeReplyObject(r);
    r = harness_cmd(c, "HELLO 2 AUTH default s3cret");
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 14);
    freeReplyObject(r);
    EXPECT_BULK(c, "v", "GET k");
    redisFree(c);
}
END_TEST

START_TEST(test_auth_without_requirepass_gives_redis_error)
{
    redisContext *c = harness_connect(tandem.port);
    const char *r;

    EXPECT_ERROR(c, "ERR AUTH <password> called without any password "
                    "configured for the default user. Are you sure your "
                    "configuration is correct?", "AUTH x");
    EXPECT_STATUS(c, "OK", "SET still works");
    redisFree(c);
    r = assert_same_as_redis("*2\r\n$4\r\nAUTH\r\n$1\r\nx\r\n", 1);
    ck_assert_str_eq(r, "-ERR AUTH <password> called without any password "
                        "configured for the default user. Are you sure your "
                        "configuration is correct?\r\n");
    /* Redis's default user has no password: any password passes. */
    assert_same_as_redis("*3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$1\r\nx\r\n",
                         1);
    assert_same_as_redis("*3\r\n$4\r\nAUTH\r\n$5\r\nalice\r\n$1\r\nx\r\n", 1);
}
END_TEST

/* ---- WATCH, emulated in tandem ---- */

static long long
reply_int(redisReply *r)
{
    long long v;

    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    v = r->integer;
    freeReplyObject(r);
    return v;
}

START_TEST(test_watch_broken_by_another_client_aborts_exec)
{
    redisContext *a = harness_connect(tandem.port);
    redisContext *b = harness_connect(tandem.port);
    redisReply *r;

    EXPECT_STATUS(a, "OK", "SET w 1");
    /* Untouched: the transaction runs. */
    EXPECT_STATUS(a, "OK", "WATCH w");
    EXPECT_STATUS(a, "OK", "MULTI");
    EXPECT_STATUS(a, "QUEUED", "INCR w");
    r = harness_cmd(a, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 1);
    freeReplyObject(r);
    /* Another client writes the key: EXEC is the null array and nothing
     * of the transaction runs. */
    EXPECT_STATUS(a, "OK", "WATCH w other");
    EXPECT_STATUS(b, "OK", "SET w 10");
    EXPECT_STATUS(a, "OK", "MULTI");
    EXPECT_STATUS(a, "QUEUED", "SET w 99");
    r = harness_cmd(a, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    EXPECT_BULK(a, "10", "GET w");
    /* EXEC cleared the watches: the next transaction runs. */
    EXPECT_STATUS(a, "OK", "MULTI");
    EXPECT_STATUS(a, "QUEUED", "SET w 11");
    r = harness_cmd(a, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    /* FLUSHDB touches every key of its database; UNWATCH forgets. */
    EXPECT_STATUS(a, "OK", "WATCH w");
    EXPECT_STATUS(b, "OK", "FLUSHDB");
    EXPECT_STATUS(a, "OK", "MULTI");
    r = harness_cmd(a, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    EXPECT_STATUS(a, "OK", "WATCH w");
    EXPECT_STATUS(a, "OK", "UNWATCH");
    EXPECT_STATUS(b, "OK", "SET w 5");
    EXPECT_STATUS(a, "OK", "MULTI");
    EXPECT_STATUS(a, "QUEUED", "INCR w");
    r = harness_cmd(a, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    ck_assert_int_eq(reply_int(harness_cmd(b, "INCR w")), 7);
    /* Another client's transaction writing the key counts too, and a
     * watch in another database does not. */
    EXPECT_STATUS(a, "OK", "WATCH w");
    EXPECT_STATUS(b, "OK", "SELECT 2");
    EXPECT_STATUS(b, "OK", "SET w x");
    EXPECT_STATUS(b, "OK", "MULTI");
    EXPECT_STATUS(b, "QUEUED", "SELECT 0");
    EXPECT_STATUS(b, "QUEUED", "DEL w");
    r = harness_cmd(b, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    EXPECT_STATUS(a, "OK", "MULTI");
    r = harness_cmd(a, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    /* WATCH inside MULTI is Redis's error; as in Redis 7 the transaction
     * still runs. */
    EXPECT_STATUS(a, "OK", "MULTI");
    r = harness_cmd(a, "WATCH w");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_str_eq(r->str, "ERR WATCH inside MULTI is not allowed");
    freeReplyObject(r);
    r = harness_cmd(a, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    /* A script writing a watched key breaks the watch too. */
    EXPECT_STATUS(a, "OK", "WATCH w");
    freeReplyObject(harness_cmd(b, "EVAL %s 1 w", "return redis.call('SET', KEYS[1], 'e')"));
    EXPECT_STATUS(a, "OK", "MULTI");
    r = harness_cmd(a, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    redisFree(a);
    redisFree(b);
}
END_TEST

/* ---- MONITOR, served by tandem ---- */

START_TEST(test_monitor_shows_commands_in_redis_format)
{
    int fd = harness_raw_connect(tandem.port);
    redisContext *c = harness_connect(tandem.port);
    char out[4096];
    size_t n;
    int closed;

    ck_assert_int_eq(harness_send_all(fd, "MONITOR\r\n", 9), 0);
    n = harness_read_until_close(fd, out, 6, 2000, &closed);
    ck_assert_uint_eq(n, 5);
    ck_assert_str_eq(out, "+OK\r\n");
    EXPECT_STATUS(c, "OK", "SET mon %s", "v\n\"q\"");
    EXPECT_STATUS(c, "OK", "SELECT 4");
    EXPECT_BULK(c, NULL, "GET mon");
    EXPECT_STATUS(c, "OK", "AUTH default secret");
    n = harness_read_until_close(fd, out, sizeof(out), 500, &closed);
    ck_assert_msg(strstr(out, "] \"SET\" \"mon\" \"v\\n\\\"q\\\"\"\r\n") != NULL,
                  "got %s", out);
    ck_assert_msg(strstr(out, " [0 127.0.0.1:") != NULL, "got %s", out);
    ck_assert_msg(strstr(out, "\"SELECT\" \"4\"") != NULL, "got %s", out);
    ck_assert_msg(strstr(out, " [4 127.0.0.1:") != NULL &&
                      strstr(out, "\"GET\" \"mon\"") != NULL, "got %s", out);
    /* AUTH is never shown, as in Redis. */
    ck_assert_msg(strstr(out, "AUTH") == NULL && strstr(out, "secret") == NULL,
                  "got %s", out);
    ck_assert(out[0] == '+');
    close(fd);
    redisFree(c);
}
END_TEST

/* ---- blocking pops, served by tandem ---- */

START_TEST(test_blocking_pops_wait_in_tandem_and_are_served_in_order)
{
    redisContext *a = harness_connect(tandem.port);
    redisContext *b = harness_connect(tandem.port);
    redisContext *p = harness_connect(tandem.port);
    redisReply *r;
    double t0;
    struct timeval tv;

    /* Timeout: the null array after about the time asked. */
    gettimeofday(&tv, NULL);
    t0 = (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
    r = harness_cmd(a, "BLPOP empty 0.3");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    gettimeofday(&tv, NULL);
    ck_assert((double)tv.tv_sec + (double)tv.tv_usec / 1e6 - t0 >= 0.25);
    /* Two clients blocked, first-blocked first-served; a command the
     * first pipelined behind its BLPOP is answered after it. */
    ck_assert_int_eq(redisAppendCommand(a, "BLPOP q 5"), REDIS_OK);
    ck_assert_int_eq(redisAppendCommand(a, "PING"), REDIS_OK);
    ck_assert_int_eq(redisBufferWrite(a, &(int){0}), REDIS_OK);
    usleep(100000);
    ck_assert_int_eq(redisAppendCommand(b, "BLPOP q 5"), REDIS_OK);
    ck_assert_int_eq(redisBufferWrite(b, &(int){0}), REDIS_OK);
    usleep(100000);
    r = harness_cmd(p, "RPUSH q first second");
    ck_assert_int_eq(r->integer, 2);
    freeReplyObject(r);
    ck_assert_int_eq(redisGetReply(a, (void **)&r), REDIS_OK);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_str_eq(r->element[0]->str, "q");
    ck_assert_str_eq(r->element[1]->str, "first");
    freeReplyObject(r);
    ck_assert_int_eq(redisGetReply(a, (void **)&r), REDIS_OK);
    ck_assert_str_eq(r->str, "PONG");
    freeReplyObject(r);
    ck_assert_int_eq(redisGetReply(b, (void **)&r), REDIS_OK);
    ck_assert_str_eq(r->element[1]->str, "second");
    freeReplyObject(r);
    /* Sorted sets and moves, with Redis's reply shapes. */
    ck_assert_int_eq(redisAppendCommand(a, "BZPOPMIN z 5"), REDIS_OK);
    ck_assert_int_eq(redisBufferWrite(a, &(int){0}), REDIS_OK);
    usleep(50000);
    freeReplyObject(harness_cmd(p, "ZADD z 2 m"));
    ck_assert_int_eq(redisGetReply(a, (void **)&r), REDIS_OK);
    ck_assert_int_eq(r->elements, 3);
    ck_assert_str_eq(r->element[1]->str, "m");
    ck_assert_str_eq(r->element[2]->str, "2");
    freeReplyObject(r);
    r = harness_cmd(a, "BLMOVE nothing dst LEFT RIGHT 0.1");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    /* A bad timeout is Redis's error. */
    r = harness_cmd(a, "BLPOP q -1");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_str_eq(r->str, "ERR timeout is negative");
    freeReplyObject(r);
    /* A push that lands while a try is on its way is not lost: every
     * BLPOP is served, none waits out its timeout. */
    {
        int k;

        for (k = 0; k < 100; k++) {
            ck_assert_int_eq(redisAppendCommand(a, "BLPOP race 2"), REDIS_OK);
            ck_assert_int_eq(redisBufferWrite(a, &(int){0}), REDIS_OK);
            freeReplyObject(harness_cmd(p, "LPUSH race v%d", k));
            ck_assert_int_eq(redisGetReply(a, (void **)&r), REDIS_OK);
            ck_assert_msg(r->type == REDIS_REPLY_ARRAY,
                          "BLPOP %d got no element", k);
            freeReplyObject(r);
        }
    }
    /* More keys than tandem's small arrays: still woken by any of them. */
    {
        char cmd[2048];
        size_t off = 0;
        int k;

        off += (size_t)snprintf(cmd + off, sizeof(cmd) - off, "BLPOP");
        for (k = 0; k < 80; k++) {
            off += (size_t)snprintf(cmd + off, sizeof(cmd) - off, " many%d",
                                    k);
        }
        snprintf(cmd + off, sizeof(cmd) - off, " 5");
        ck_assert_int_eq(redisAppendCommand(a, cmd), REDIS_OK);
        ck_assert_int_eq(redisBufferWrite(a, &(int){0}), REDIS_OK);
        usleep(50000);
        freeReplyObject(harness_cmd(p, "RPUSH many77 x"));
        ck_assert_int_eq(redisGetReply(a, (void **)&r), REDIS_OK);
        ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
        ck_assert_str_eq(r->element[0]->str, "many77");
        freeReplyObject(r);
    }
    /* A client that leaves while blocked is served nothing. */
    ck_assert_int_eq(redisAppendCommand(b, "BLPOP gone 0"), REDIS_OK);
    ck_assert_int_eq(redisBufferWrite(b, &(int){0}), REDIS_OK);
    usleep(50000);
    redisFree(b);
    usleep(50000);
    freeReplyObject(harness_cmd(p, "RPUSH gone kept"));
    usleep(50000);
    r = harness_cmd(p, "LRANGE gone 0 -1");
    ck_assert_int_eq(r->elements, 1);
    ck_assert_str_eq(r->element[0]->str, "kept");
    freeReplyObject(r);
    redisFree(a);
    redisFree(p);
}
END_TEST

/* ---- Pub/Sub through one subscriber connection ---- */

START_TEST(test_pubsub_fans_out_from_one_backend_subscription)
{
    redisContext *s1 = harness_connect(tandem.port);
    redisContext *s2 = harness_connect(tandem.port);
    redisContext *pat = harness_connect(tandem.port);
    redisContext *pub = harness_connect(tandem.port);
    redisContext *direct = harness_connect(redis.port);
    redisReply *r;
    int i;

    for (i = 0; i < 2; i++) {
        redisContext *s = i == 0 ? s1 : s2;

        r = harness_cmd(s, "SUBSCRIBE news");
        ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
        ck_assert_str_eq(r->element[0]->str, "subscribe");
        ck_assert_str_eq(r->element[1]->str, "news");
        ck_assert_int_eq(r->element[2]->integer, 1);
        freeReplyObject(r);
    }
    r = harness_cmd(pat, "PSUBSCRIBE ne*");
    ck_assert_str_eq(r->element[0]->str, "psubscribe");
    freeReplyObject(r);
    usleep(100000);
    /* The primary sees one channel subscription and one pattern, not
     * three subscribers. */
    r = harness_cmd(direct, "PUBSUB NUMSUB news");
    ck_assert_int_eq(r->element[1]->integer, 1);
    freeReplyObject(r);
    r = harness_cmd(pub, "PUBSUB NUMSUB news");
    ck_assert_int_eq(r->element[1]->integer, 2);
    freeReplyObject(r);
    /* Published through tandem and directly on the primary: both
     * reach every subscriber. */
    /* Redis's count: the clients reached (two on the channel, one on a
     * matching pattern), not tandem's one backend connection. */
    r = harness_cmd(pub, "PUBLISH news one");
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    ck_assert_int_eq(r->integer, 3);
    freeReplyObject(r);
    freeReplyObject(harness_cmd(direct, "PUBLISH news two"));
    for (i = 0; i < 2; i++) {
        redisContext *s = i == 0 ? s1 : s2;
        int m;

        for (m = 0; m < 2; m++) {
            ck_assert_int_eq(redisGetReply(s, (void **)&r), REDIS_OK);
            ck_assert_str_eq(r->element[0]->str, "message");
            ck_assert_str_eq(r->element[1]->str, "news");
            ck_assert_str_eq(r->element[2]->str, m == 0 ? "one" : "two");
            freeReplyObject(r);
        }
    }
    ck_assert_int_eq(redisGetReply(pat, (void **)&r), REDIS_OK);
    ck_assert_str_eq(r->element[0]->str, "pmessage");
    ck_assert_str_eq(r->element[1]->str, "ne*");
    ck_assert_str_eq(r->element[3]->str, "one");
    freeReplyObject(r);
    /* Subscribed mode: Redis's rule; PING answers [pong, ""]. */
    r = harness_cmd(s1, "GET x");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert(strstr(r->str, "only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / "
                             "PING / QUIT / RESET are allowed") != NULL);
    freeReplyObject(r);
    r = harness_cmd(s1, "PING");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_str_eq(r->element[0]->str, "pong");
    freeReplyObject(r);
    /* UNSUBSCRIBE of all: back to normal. The last one leaving ends the
     * primary's subscription. */
    r = harness_cmd(s1, "UNSUBSCRIBE");
    ck_assert_str_eq(r->element[0]->str, "unsubscribe");
    ck_assert_int_eq(r->element[2]->integer, 0);
    freeReplyObject(r);
    EXPECT_BULK(s1, NULL, "GET x");
    redisFree(s2);
    redisFree(pat);
    usleep(200000);
    r = harness_cmd(direct, "PUBSUB NUMSUB news");
    ck_assert_int_eq(r->element[1]->integer, 0);
    freeReplyObject(r);
    /* Only tandem's own two keyevent patterns (expired, evicted) stay. */
    r = harness_cmd(direct, "PUBSUB NUMPAT");
    ck_assert_int_eq(r->integer, 2);
    freeReplyObject(r);
    redisFree(s1);
    redisFree(pub);
    redisFree(direct);
}
END_TEST

/* A message published right after a client's SUBSCRIBE was confirmed
 * reaches it, though the publish goes on the pipe and the subscription on
 * the subscriber connection: tandem confirms a new subscription only
 * once the primary has. */
START_TEST(test_publish_right_after_subscribe_is_received)
{
    redisContext *via_tandem = harness_connect(tandem.port);
    redisContext *direct = harness_connect(redis.port);
    int i;

    for (i = 0; i < 200; i++) {
        redisContext *sub = harness_connect(tandem.port);
        redisReply *r = harness_cmd(sub, i % 2 ? "PSUBSCRIBE fresh:%d:*"
                                               : "SUBSCRIBE fresh:%d:x", i);

        ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
        freeReplyObject(r);
        /* On the primary directly it races tandem's own SUBSCRIBE there
         * most closely. */
        r = harness_cmd(i % 4 < 2 ? direct : via_tandem,
                        "PUBLISH fresh:%d:x hello", i);
        ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
        freeReplyObject(r);
        ck_assert_msg(redisGetReply(sub, (void **)&r) == REDIS_OK,
                      "subscriber %d got no message", i);
        ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
        ck_assert_str_eq(r->element[r->elements - 1]->str, "hello");
        freeReplyObject(r);
        redisFree(sub);
    }
    redisFree(via_tandem);
    redisFree(direct);
}
END_TEST

/* ---- CLIENT KILL and CLIENT UNBLOCK over tandem's clients ---- */

START_TEST(test_client_kill_and_unblock)
{
    redisContext *a = harness_connect(tandem.port);
    redisContext *b = harness_connect(tandem.port);
    redisContext *c = harness_connect(tandem.port);
    redisReply *r;
    long long bid;
    long long cid;
    char cmdline[128];

    r = harness_cmd(b, "CLIENT ID");
    bid = r->integer;
    freeReplyObject(r);
    r = harness_cmd(c, "CLIENT ID");
    cid = r->integer;
    freeReplyObject(r);
    /* UNBLOCK: a blocking pop answers at once, as a timeout or an error;
     * a client not blocked gives 0. */
    ck_assert_int_eq(redisAppendCommand(b, "BLPOP nothing 0"), REDIS_OK);
    ck_assert_int_eq(redisBufferWrite(b, &(int){0}), REDIS_OK);
    usleep(50000);
    snprintf(cmdline, sizeof(cmdline), "CLIENT UNBLOCK %lld", bid);
    r = harness_cmd(a, cmdline);
    ck_assert_int_eq(r->integer, 1);
    freeReplyObject(r);
    ck_assert_int_eq(redisGetReply(b, (void **)&r), REDIS_OK);
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    ck_assert_int_eq(redisAppendCommand(b, "BLPOP nothing 0"), REDIS_OK);
    ck_assert_int_eq(redisBufferWrite(b, &(int){0}), REDIS_OK);
    usleep(50000);
    snprintf(cmdline, sizeof(cmdline), "CLIENT UNBLOCK %lld ERROR", bid);
    r = harness_cmd(a, cmdline);
    ck_assert_int_eq(r->integer, 1);
    freeReplyObject(r);
    ck_assert_int_eq(redisGetReply(b, (void **)&r), REDIS_OK);
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_str_eq(r->str, "UNBLOCKED client unblocked via CLIENT UNBLOCK");
    freeReplyObject(r);
    r = harness_cmd(a, cmdline);
    ck_assert_int_eq(r->integer, 0);
    freeReplyObject(r);
    /* KILL ID: that client is closed, the count is 1; the killer stays. */
    snprintf(cmdline, sizeof(cmdline), "CLIENT KILL ID %lld", cid);
    r = harness_cmd(a, cmdline);
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    ck_assert_int_eq(r->integer, 1);
    freeReplyObject(r);
    r = harness_cmd(c, "PING");
    ck_assert_ptr_null(r);
    r = harness_cmd(a, "CLIENT KILL 1.2.3.4:5");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_str_eq(r->str, "ERR No such client");
    freeReplyObject(r);
    EXPECT_STATUS(a, "PONG", "PING");
    redisFree(a);
    redisFree(b);
    redisFree(c);
}
END_TEST

/* ---- refused commands ---- */

START_TEST(test_refused_commands_answer_clear_errors_and_keep_working)
{
    static const char *const refused[] = {
        "REPLICAOF no one",
        "SLAVEOF no one",
        "SHUTDOWN",
        "SHUTDOWN NOSAVE",
        "DEBUG SLEEP 0",
        "CONFIG SET maxmemory 1",
        "SYNC",
        "FAILOVER",
    };
    redisContext *c = harness_connect(tandem.port);
    redisContext *other = harness_connect(tandem.port);
    redisContext *d;
    size_t i;

    EXPECT_STATUS(c, "OK", "SET alive yes");
    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        long long t0 = now_ms();
        redisReply *r = harness_cmd(c, refused[i]);

        assert_error_prefix(r, "ERR tandem", refused[i]);
        ck_assert_msg(now_ms() - t0 < 3000, "%s took %lld ms", refused[i],
                      now_ms() - t0);
        freeReplyObject(r);
        /* The same connection keeps working ... */
        EXPECT_BULK(c, "yes", "GET alive");
        /* ... and other clients are not disturbed. */
        EXPECT_INT(other, (long long)i + 1, "INCR other_counter");
    }

    /* Pipelined between forwarded commands, the refusal keeps its slot. */
    redisAppendCommand(c, "INCR p");
    redisAppendCommand(c, "DEBUG SLEEP 0");
    redisAppendCommand(c, "INCR p");
    redisAppendCommand(c, "SHUTDOWN");
    redisAppendCommand(c, "INCR p");
    for (i = 0; i < 5; i++) {
        redisReply *r = NULL;

        ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        if (i % 2 == 0) {
            assert_int(r, (long long)i / 2 + 1);
        } else {
            assert_error_prefix(r, "ERR tandem", "pipelined refusal");
        }
        freeReplyObject(r);
    }

    /* The primary was not stopped, reconfigured or made a replica. */
    d = harness_connect(redis.port);
    {
        redisReply *r = harness_cmd(d, "CONFIG GET maxmemory");

        ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
        ck_assert_int_eq(r->elements, 2);
        ck_assert_str_eq(r->element[1]->str, "0");
        freeReplyObject(r);
    }
    ck_assert_str_eq(harness_info_field(d, "replication", "role"), "master");
    EXPECT_STATUS(d, "PONG", "PING");
    redisFree(d);
    redisFree(other);
    redisFree(c);
}
END_TEST

START_TEST(test_xread_without_block_is_forwarded)
{
    redisContext *c = harness_connect(tandem.port);
    redisReply *r;

    r = harness_cmd(c, "XADD s 1-1 f v");
    assert_bulk(r, "1-1");
    freeReplyObject(r);
    r = harness_cmd(c, "XREAD COUNT 10 STREAMS s 0");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 1);
    ck_assert_str_eq(r->element[0]->element[0]->str, "s");
    ck_assert_int_eq(r->element[0]->element[1]->elements, 1);
    ck_assert_str_eq(r->element[0]->element[1]->element[0]->element[0]->str,
                     "1-1");
    freeReplyObject(r);
    /* Nothing new: the null reply, at once. */
    r = harness_cmd(c, "XREAD STREAMS s $");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    /* A stream whose name is "block" is a key, not the option. */
    r = harness_cmd(c, "XADD block 2-1 f v");
    assert_bulk(r, "2-1");
    freeReplyObject(r);
    r = harness_cmd(c, "XREAD STREAMS block 0");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 1);
    freeReplyObject(r);
    redisFree(c);
}
END_TEST

/* XREAD and XREADGROUP with BLOCK wait in tandem like the blocking pops:
 * "$" is the stream's last id when the command arrived, the timeout is
 * in milliseconds, and the reply is the non-blocking form's. */
START_TEST(test_xread_block_waits_in_tandem)
{
    redisContext *a = harness_connect(tandem.port);
    redisContext *b = harness_connect(tandem.port);
    redisContext *p = harness_connect(tandem.port);
    redisContext *d = harness_connect(redis.port);
    redisReply *r;
    long long t0;
    int k;

    r = harness_cmd(p, "XADD s 1-1 f old");
    assert_bulk(r, "1-1");
    freeReplyObject(r);
    /* "$" waits for what comes after the command, not the entry before. */
    ck_assert_int_eq(redisAppendCommand(a, "XREAD BLOCK 5000 STREAMS s $"),
                     REDIS_OK);
    ck_assert_int_eq(redisAppendCommand(a, "PING"), REDIS_OK);
    ck_assert_int_eq(redisBufferWrite(a, &(int){0}), REDIS_OK);
    usleep(100000);
    r = harness_cmd(p, "XADD s 2-1 f new");
    assert_bulk(r, "2-1");
    freeReplyObject(r);
    ck_assert_int_eq(redisGetReply(a, (void **)&r), REDIS_OK);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 1);
    ck_assert_str_eq(r->element[0]->element[0]->str, "s");
    ck_assert_int_eq(r->element[0]->element[1]->elements, 1);
    ck_assert_str_eq(r->element[0]->element[1]->element[0]->element[0]->str,
                     "2-1");
    freeReplyObject(r);
    ck_assert_int_eq(redisGetReply(a, (void **)&r), REDIS_OK);
    ck_assert_str_eq(r->str, "PONG");
    freeReplyObject(r);
    /* Timeout in milliseconds: the null array after about that long. */
    t0 = now_ms();
    r = harness_cmd(a, "XREAD BLOCK 300 STREAMS s $");
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    ck_assert_msg(now_ms() - t0 >= 250, "timed out after %lld ms",
                  now_ms() - t0);
    /* A stream that does not exist yet: "$" is 0-0, as in Redis. */
    ck_assert_int_eq(redisAppendCommand(a, "XREAD COUNT 5 BLOCK 0 STREAMS "
                                           "later s $ $"), REDIS_OK);
    ck_assert_int_eq(redisBufferWrite(a, &(int){0}), REDIS_OK);
    usleep(100000);
    freeReplyObject(harness_cmd(p, "XADD later 5-5 f v"));
    ck_assert_int_eq(redisGetReply(a, (void **)&r), REDIS_OK);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_str_eq(r->element[0]->element[0]->str, "later");
    freeReplyObject(r);
    /* Errors in Redis's words and order, compared with the primary fed the
     * same commands (without BLOCK's wait when they fail). */
    {
        static const char *const bad[] = {
            "XREAD BLOCK abc STREAMS s 0",
            "XREAD BLOCK -1 STREAMS s 0",
            "XREAD BLOCK 10 STREAMS s",
            "XREAD BLOCK 10 STREAMS",
            "XREAD COUNT x BLOCK 10 STREAMS s 0",
            "XREAD GROUP g c BLOCK 10 STREAMS s 0",
            "XREAD NOACK BLOCK 10 STREAMS s 0",
            "XREAD BOGUS BLOCK 10 STREAMS s 0",
            "XREADGROUP GROUP g c BLOCK 10 STREAMS s",
            "XREADGROUP GROUP nogroup c BLOCK 10 STREAMS s >",
            "XREAD BLOCK 10 STREAMS str $",
        };
        size_t i;

        freeReplyObject(harness_cmd(p, "SET str x"));
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            redisReply *want = harness_cmd(d, bad[i]);

            r = harness_cmd(a, bad[i]);
            ck_assert_msg(want->type == REDIS_REPLY_ERROR,
                          "%s: Redis gave no error", bad[i]);
            ck_assert_msg(r->type == REDIS_REPLY_ERROR &&
                              strcmp(r->str, want->str) == 0,
                          "%s: tandem '%s', Redis '%s'", bad[i],
                          r->type == REDIS_REPLY_ERROR ? r->str : "(none)",
                          want->str);
            freeReplyObject(r);
            freeReplyObject(want);
        }
    }
    /* Consumer groups: two consumers blocked on ">", each new entry goes
     * to exactly one of them, first-blocked first-served. */
    EXPECT_STATUS(p, "OK", "XGROUP CREATE s g $");
    ck_assert_int_eq(redisAppendCommand(a, "XREADGROUP GROUP g ca BLOCK 5000 "
                                           "STREAMS s >"), REDIS_OK);
    ck_assert_int_eq(redisBufferWrite(a, &(int){0}), REDIS_OK);
    usleep(50000);
    ck_assert_int_eq(redisAppendCommand(b, "XREADGROUP GROUP g cb BLOCK 5000 "
                                           "STREAMS s >"), REDIS_OK);
    ck_assert_int_eq(redisBufferWrite(b, &(int){0}), REDIS_OK);
    usleep(50000);
    freeReplyObject(harness_cmd(p, "XADD s 3-1 f x"));
    ck_assert_int_eq(redisGetReply(a, (void **)&r), REDIS_OK);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_str_eq(r->element[0]->element[1]->element[0]->element[0]->str,
                     "3-1");
    freeReplyObject(r);
    freeReplyObject(harness_cmd(p, "XADD s 4-1 f y"));
    ck_assert_int_eq(redisGetReply(b, (void **)&r), REDIS_OK);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_str_eq(r->element[0]->element[1]->element[0]->element[0]->str,
                     "4-1");
    freeReplyObject(r);
    r = harness_cmd(d, "XPENDING s g");
    ck_assert_int_eq(r->element[0]->integer, 2);
    freeReplyObject(r);
    /* An XADD racing each try is never missed. */
    for (k = 0; k < 50; k++) {
        char id[32];

        snprintf(id, sizeof(id), "%d-1", 10 + k);
        ck_assert_int_eq(redisAppendCommand(a, "XREADGROUP GROUP g ca BLOCK "
                                               "2000 STREAMS s >"), REDIS_OK);
        ck_assert_int_eq(redisBufferWrite(a, &(int){0}), REDIS_OK);
        freeReplyObject(harness_cmd(p, "XADD s %s f v", id));
        ck_assert_int_eq(redisGetReply(a, (void **)&r), REDIS_OK);
        ck_assert_msg(r->type == REDIS_REPLY_ARRAY,
                      "XREADGROUP %d got nothing", k);
        freeReplyObject(r);
    }
    /* CLIENT UNBLOCK answers it as a timeout. */
    {
        long long id;

        r = harness_cmd(b, "CLIENT ID");
        id = r->integer;
        freeReplyObject(r);
        ck_assert_int_eq(redisAppendCommand(b, "XREAD BLOCK 0 STREAMS s $"),
                         REDIS_OK);
        ck_assert_int_eq(redisBufferWrite(b, &(int){0}), REDIS_OK);
        usleep(100000);
        ck_assert_str_eq(harness_info_field(p, "clients", "blocked_clients"),
                         "1");
        EXPECT_INT(p, 1, "CLIENT UNBLOCK %lld", id);
        ck_assert_int_eq(redisGetReply(b, (void **)&r), REDIS_OK);
        ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
        freeReplyObject(r);
    }
    /* A client that leaves while blocked is forgotten. */
    ck_assert_int_eq(redisAppendCommand(b, "XREAD BLOCK 0 STREAMS s $"),
                     REDIS_OK);
    ck_assert_int_eq(redisBufferWrite(b, &(int){0}), REDIS_OK);
    usleep(100000);
    redisFree(b);
    usleep(100000);
    ck_assert_str_eq(harness_info_field(p, "clients", "blocked_clients"),
                     "0");
    /* Inside MULTI, BLOCK does not block (Redis's rule). */
    EXPECT_STATUS(a, "OK", "MULTI");
    EXPECT_STATUS(a, "QUEUED", "XREAD BLOCK 0 STREAMS nothing $");
    r = harness_cmd(a, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 1);
    ck_assert_int_eq(r->element[0]->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    redisFree(a);
    redisFree(d);
    redisFree(p);
}
END_TEST

/* CLIENT REPLY OFF / SKIP / ON: the same bytes as Redis given the same
 * pipeline, including replies that come back from the primary later. */
START_TEST(test_client_reply_off_skip_on_as_redis)
{
    static const char req[] =
        "CLIENT REPLY OFF\r\nSET cr 1\r\nGET cr\r\nPING\r\n"
        "NOSUCHCMD\r\nINCR cr\r\nCLIENT REPLY ON\r\nGET cr\r\n"
        "CLIENT REPLY SKIP\r\nINCR cr\r\nINCR cr\r\n"
        "CLIENT REPLY SKIP\r\nPING\r\nECHO shown\r\n"
        "CLIENT REPLY OFF\r\nCLIENT REPLY SKIP\r\nINCR cr\r\n"
        "CLIENT REPLY ON\r\nCLIENT REPLY\r\nCLIENT REPLY MAYBE\r\n"
        "MULTI\r\nINCR cr\r\nEXEC\r\n"
        "CLIENT REPLY SKIP\r\nRESET\r\nCLIENT REPLY OFF\r\nRESET\r\n"
        "ECHO end\r\n";
    /* What comes back: OK, "2", :4, "shown", OK, 2 errors, the
     * transaction (3 replies), RESET, "end" (the first RESET follows
     * SKIP; the second clears OFF and answers). */
    const int nreplies = 12;
    char want[4096], got[4096];
    size_t wn, gn;
    int fd;

    fd = harness_raw_connect(redis.port);
    wn = exchange_str(fd, req, want, sizeof(want), nreplies);
    close(fd);
    fd = harness_raw_connect(tandem.port);
    gn = exchange_str(fd, req, got, sizeof(got), nreplies);
    close(fd);
    ck_assert_msg(strstr(want, "$3\r\nend\r\n") != NULL,
                  "Redis's replies incomplete: %s", repr(want, wn));
    ck_assert_msg(gn == wn && memcmp(got, want, wn) == 0,
                  "tandem: %s\nRedis:  %s", repr(got, gn), repr(want, wn));
    /* The muted writes did run (the primary is the same Redis: tandem's
     * SET started cr again from 1): 1 to 5, then 6 in the transaction. */
    {
        redisContext *c = harness_connect(tandem.port);

        EXPECT_BULK(c, "6", "GET cr");
        redisFree(c);
    }
}
END_TEST

/* CLIENT PAUSE holds tandem's clients as Redis holds its own: WRITE lets
 * reads through and holds writes (and an EXEC with a write) until the
 * time passes or CLIENT UNPAUSE; ALL holds everything. Nothing is lost or
 * reordered. */
START_TEST(test_client_pause_holds_writes_or_all)
{
    redisContext *a = harness_connect(tandem.port);
    redisContext *b = harness_connect(tandem.port);
    redisContext *d = harness_connect(redis.port);
    redisReply *r;
    long long t0;
    size_t i;

    EXPECT_STATUS(a, "OK", "SET pz 1");
    /* WRITE for 600 ms: a read at once, a write after the pause. */
    EXPECT_STATUS(a, "OK", "CLIENT PAUSE 600 WRITE");
    t0 = now_ms();
    EXPECT_BULK(b, "1", "GET pz");
    ck_assert_msg(now_ms() - t0 < 300, "a read waited %lld ms",
                  now_ms() - t0);
    ck_assert_int_eq(redisAppendCommand(b, "INCR pz"), REDIS_OK);
    ck_assert_int_eq(redisAppendCommand(b, "GET pz"), REDIS_OK);
    ck_assert_int_eq(redisBufferWrite(b, &(int){0}), REDIS_OK);
    usleep(200000);
    /* Not on the primary yet. */
    EXPECT_BULK(d, "1", "GET pz");
    ck_assert_int_eq(redisGetReply(b, (void **)&r), REDIS_OK);
    assert_int(r, 2);
    freeReplyObject(r);
    ck_assert_msg(now_ms() - t0 >= 500, "the write waited only %lld ms",
                  now_ms() - t0);
    ck_assert_int_eq(redisGetReply(b, (void **)&r), REDIS_OK);
    assert_bulk(r, "2");
    freeReplyObject(r);
    /* A transaction queued before the pause: its EXEC waits; UNPAUSE
     * ends the wait at once. */
    EXPECT_STATUS(b, "OK", "MULTI");
    EXPECT_STATUS(b, "QUEUED", "INCR pz");
    EXPECT_STATUS(a, "OK", "CLIENT PAUSE 20000 WRITE");
    ck_assert_int_eq(redisAppendCommand(b, "EXEC"), REDIS_OK);
    ck_assert_int_eq(redisBufferWrite(b, &(int){0}), REDIS_OK);
    usleep(200000);
    EXPECT_BULK(d, "2", "GET pz");
    t0 = now_ms();
    EXPECT_STATUS(a, "OK", "CLIENT UNPAUSE");
    ck_assert_int_eq(redisGetReply(b, (void **)&r), REDIS_OK);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    assert_int(r->element[0], 3);
    freeReplyObject(r);
    ck_assert_msg(now_ms() - t0 < 1000, "EXEC came %lld ms after UNPAUSE",
                  now_ms() - t0);
    /* ALL for 400 ms: even PING waits. */
    EXPECT_STATUS(a, "OK", "CLIENT PAUSE 400");
    t0 = now_ms();
    EXPECT_STATUS(b, "PONG", "PING");
    ck_assert_msg(now_ms() - t0 >= 300, "PING waited only %lld ms",
                  now_ms() - t0);
    /* Redis's errors. */
    {
        static const char *const bad[] = {
            "CLIENT PAUSE abc", "CLIENT PAUSE -1", "CLIENT PAUSE 10 foo",
            "CLIENT PAUSE", "CLIENT PAUSE 10 write extra",
            "CLIENT UNPAUSE x",
        };

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            redisReply *want = harness_cmd(d, bad[i]);

            r = harness_cmd(a, bad[i]);
            ck_assert_msg(want->type == REDIS_REPLY_ERROR &&
                              r->type == REDIS_REPLY_ERROR &&
                              strcmp(r->str, want->str) == 0,
                          "%s: tandem '%s', Redis '%s'", bad[i],
                          r->type == REDIS_REPLY_ERROR ? r->str : "(none)",
                          want->str != NULL ? want->str : "(none)");
            freeReplyObject(r);
            freeReplyObject(want);
        }
    }
    EXPECT_BULK(d, "3", "GET pz");
    redisFree(a);
    redisFree(b);
    redisFree(d);
}
END_TEST

START_TEST(test_multi_exec_runs_queued_commands_and_wait_does_not_hang)
{
    redisContext *c = harness_connect(tandem.port);
    redisContext *other = harness_connect(tandem.port);
    redisReply *r;
    long long t0;

    /* DESIGN section 4: transactions are queued in tandem. */
    EXPECT_STATUS(c, "OK", "MULTI");
    EXPECT_STATUS(c, "QUEUED", "SET m 1");
    EXPECT_INT(other, 1, "INCR o");
    EXPECT_STATUS(c, "QUEUED", "INCR m");
    r = harness_cmd(c, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 2);
    assert_status(r->element[0], "OK");
    assert_int(r->element[1], 2);
    freeReplyObject(r);
    EXPECT_BULK(c, "2", "GET m");
    EXPECT_STATUS(c, "OK", "MULTI");
    EXPECT_STATUS(c, "QUEUED", "SET m 9");
    EXPECT_STATUS(c, "OK", "DISCARD");
    EXPECT_BULK(c, "2", "GET m");
    EXPECT_ERROR(c, "ERR EXEC without MULTI", "EXEC");

    /* SELECT inside MULTI runs in the transaction and, as in Redis, leaves
     * the client in that db after EXEC. */
    EXPECT_STATUS(c, "OK", "MULTI");
    EXPECT_STATUS(c, "QUEUED", "SELECT 2");
    EXPECT_STATUS(c, "QUEUED", "SET m in2");
    r = harness_cmd(c, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->elements, 2);
    freeReplyObject(r);
    EXPECT_BULK(c, "in2", "GET m");
    {
        redisContext *d = harness_connect(redis.port);

        EXPECT_BULK(d, "2", "GET m");
        EXPECT_STATUS(d, "OK", "SELECT 2");
        EXPECT_BULK(d, "in2", "GET m");
        redisFree(d);
    }
    EXPECT_STATUS(c, "OK", "SELECT 0");

    /* WAIT with no replicas: 0 at once, or 0 at the timeout. */
    EXPECT_INT(c, 0, "WAIT 0 0");
    t0 = now_ms();
    EXPECT_INT(c, 0, "WAIT 1 300");
    ck_assert_int_ge(now_ms() - t0, 250);
    ck_assert_int_lt(now_ms() - t0, 5000);
    EXPECT_BULK(c, "2", "GET m");
    EXPECT_INT(other, 2, "INCR o");
    redisFree(other);
    redisFree(c);
}
END_TEST

/* ---- unix socket ---- */

START_TEST(test_unix_socket_accepts_and_proxies)
{
    char path[128];
    const char *extra[] = {"--unixsocket", path, NULL};
    struct timeval tv = {10, 0};
    redisContext *c;
    redisContext *d;
    redisReply *r;

    snprintf(sockdir, sizeof(sockdir), "/tmp/tandem-test-sock-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(sockdir));
    snprintf(path, sizeof(path), "%s/t.sock", sockdir);
    ck_assert_int_eq(harness_start_tandem(&tandem2, redis.port, extra, 1), 0);

    c = redisConnectUnixWithTimeout(path, tv);
    ck_assert_ptr_nonnull(c);
    ck_assert_msg(c->err == 0, "connect %s: %s", path, c->errstr);
    redisSetTimeout(c, tv);
    EXPECT_STATUS(c, "PONG", "PING");
    EXPECT_STATUS(c, "OK", "SET viaunix 1");
    EXPECT_INT(c, 2, "INCR viaunix");
    r = harness_cmd(c, "CLIENT INFO");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_ptr_nonnull(strstr(r->str, " flags=U "));
    freeReplyObject(r);

    d = harness_connect(redis.port);
    EXPECT_BULK(d, "2", "GET viaunix");
    redisFree(d);
    /* TCP still works next to it. */
    d = harness_connect(tandem2.port);
    EXPECT_BULK(d, "2", "GET viaunix");
    redisFree(d);
    redisFree(c);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("proxy");
    TCase *basic = tcase_create("basic");
    TCase *load = tcase_create("load");
    TCase *conn = tcase_create("connection");
    TCase *refuse = tcase_create("refused");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(basic, setup, teardown);
    tcase_set_timeout(basic, 60);
    tcase_add_test(basic, test_set_then_get_lands_on_the_primary);
    tcase_add_test(basic,
                   test_builtin_behind_forwarded_reply_keeps_connection);
    tcase_add_test(basic, test_select_gives_each_client_its_own_db);
    tcase_add_test(basic,
                   test_select_errors_match_redis_and_meta_db_is_refused);
    tcase_add_test(basic, test_inline_commands_work_with_quoting);
    tcase_add_test(basic, test_unbalanced_quotes_inline_is_a_protocol_error);
    tcase_add_test(basic, test_error_texts_are_identical_to_redis);
    suite_add_tcase(s, basic);

    tcase_add_checked_fixture(load, setup, teardown);
    tcase_set_timeout(load, 100);
    tcase_add_test(load,
                   test_pipelined_clients_get_replies_complete_and_in_order);
    suite_add_tcase(s, load);

    tcase_add_checked_fixture(conn, setup, teardown);
    tcase_set_timeout(conn, 60);
    tcase_add_test(conn, test_ping_and_echo_answer_as_redis);
    tcase_add_test(conn,
                   test_hello_2_describes_connection_hello_3_is_refused);
    tcase_add_test(conn,
                   test_client_name_id_info_and_list_are_per_connection);
    tcase_add_test(conn, test_command_count_and_info_match_the_primary);
    tcase_add_test(conn, test_info_has_server_clients_and_stats_sections);
    tcase_add_test(conn, test_quit_replies_ok_then_closes);
    tcase_add_test(conn, test_reset_replies_reset_and_returns_to_db_0);
    tcase_add_test(conn, test_requirepass_gates_commands_until_auth);
    tcase_add_test(conn, test_auth_without_requirepass_gives_redis_error);
    tcase_add_test(conn, test_unix_socket_accepts_and_proxies);
    suite_add_tcase(s, conn);

    tcase_add_checked_fixture(refuse, setup, teardown);
    tcase_set_timeout(refuse, 60);
    tcase_add_test(refuse,
                   test_refused_commands_answer_clear_errors_and_keep_working);
    tcase_add_test(refuse, test_watch_broken_by_another_client_aborts_exec);
    tcase_add_test(refuse, test_monitor_shows_commands_in_redis_format);
    tcase_add_test(refuse, test_pubsub_fans_out_from_one_backend_subscription);
    tcase_add_test(refuse, test_publish_right_after_subscribe_is_received);
    tcase_add_test(refuse, test_client_kill_and_unblock);
    tcase_add_test(refuse,
                   test_blocking_pops_wait_in_tandem_and_are_served_in_order);
    tcase_add_test(refuse, test_xread_without_block_is_forwarded);
    tcase_add_test(refuse, test_xread_block_waits_in_tandem);
    tcase_add_test(refuse, test_client_reply_off_skip_on_as_redis);
    tcase_add_test(refuse, test_client_pause_holds_writes_or_all);
    tcase_add_test(refuse,
                   test_multi_exec_runs_queued_commands_and_wait_does_not_hang);
    suite_add_tcase(s, refuse);

    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
