/*
 * test_clients.c -- integration: real client behaviours against tandem.
 *
 * Every test starts a fresh, empty fleet: a primary, two replicas and the
 * real tandem binary with both replicas, and ends by comparing both
 * replicas with the primary key by key (replcheck.c): zero differences.
 *
 *   redis_py_client_behaviours  runs tests/redispy_check.py (Debian's
 *       python3-redis) against tandem: WATCH/MULTI/EXEC retry loop from
 *       threads, a 1,000-command pipeline, pub/sub, blpop with a producer,
 *       read-your-own-write.
 *   queue_100_consumers_10_producers  100 hiredis consumers in BLPOP, 10
 *       producers RPUSHing unique elements: each delivered exactly once.
 *   many_blocked_clients_and_subscribers  N connections blocked in BLPOP,
 *       then N subscribers (N from TANDEM_MANY_CLIENTS, default 2,000;
 *       "make check-long" runs 10,000) hold no backend connection: the
 *       primary's connected_clients does not move. Prints tandem's
 *       clients, the primary's connections and tandem's RSS per client.
 *
 * Processes are stopped by PID only; loops are bounded by time or count;
 * everything runs on 127.0.0.1.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "replcheck.h"

#define NREPLICAS 2

static struct fleet F;

/* ---- fleet -------------------------------------------------------- */

/* Waits until the replicas have everything, then compares each with the
 * primary: zero differences. */
static void
assert_replicas_identical(void)
{
    char report[4096];
    int i;

    if (replcheck_wait_synced(F.tandem.port, 20000, report,
                              sizeof(report)) != 0) {
        fleet_dump_logs(&F);
        ck_abort_msg("replicas not in sync within 20 s: %s", report);
    }
    for (i = 0; i < NREPLICAS; i++) {
        int d = replcheck_compare(F.primary.port, F.replica[i].port, report,
                                  sizeof(report));

        printf("clients: replica %d vs primary: %d differences\n", i, d);
        ck_assert_msg(d == 0, "replica %d differs from the primary (%d): %s",
                      i, d, report);
    }
}

static void
teardown(void)
{
    fleet_teardown(&F);
}

static long long
info_ll(int port, const char *section, const char *field)
{
    redisContext *c = harness_connect(port);
    const char *v = harness_info_field(c, section, field);
    long long n;

    ck_assert_msg(v != NULL, "INFO %s on port %d has no %s", section, port,
                  field);
    n = atoll(v);
    redisFree(c);
    return n;
}

/* ---- 1. redis-py --------------------------------------------------- */

#define REDISPY_TIMEOUT_MS 60000

START_TEST(test_redis_py_client_behaviours)
{
    const char *srcdir = getenv("TANDEM_SRCDIR");
    const char *python = access("/usr/bin/python3", X_OK) == 0
                             ? "/usr/bin/python3" : "python3";
    char script[1024];
    char portstr[16];
    static char out[65536];
    size_t used = 0;
    long long deadline;
    int pfd[2];
    int status = 0;
    int exited = 0;
    pid_t pid;

    fleet_start(&F, NREPLICAS, NULL, NULL);
    snprintf(script, sizeof(script), "%s/tests/redispy_check.py",
             srcdir != NULL ? srcdir : ".");
    snprintf(portstr, sizeof(portstr), "%d", F.tandem.port);
    ck_assert_int_eq(pipe(pfd), 0);
    pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        close(pfd[1]);
        execlp(python, python, script, portstr, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", python, strerror(errno));
        _exit(127);
    }
    close(pfd[1]);
    deadline = replcheck_now_ms() + REDISPY_TIMEOUT_MS;
    for (;;) {
        struct pollfd p = {pfd[0], POLLIN, 0};
        long long left = deadline - replcheck_now_ms();
        ssize_t n;

        if (left <= 0) {
            break;
        }
        if (poll(&p, 1, (int)left) <= 0) {
            continue;
        }
        n = read(pfd[0], out + used, sizeof(out) - 1 - used);
        if (n <= 0) {
            break;              /* EOF: the script is done */
        }
        used += (size_t)n;
        if (used >= sizeof(out) - 1) {
            used = 0;           /* keep reading; keep the tail */
        }
    }
    out[used] = '\0';
    close(pfd[0]);
    /* Reap it, bounded; kill it (by its PID) when it overran. */
    while (replcheck_now_ms() < deadline + 2000) {
        pid_t w = waitpid(pid, &status, WNOHANG);

        if (w == pid) {
            exited = 1;
            break;
        }
        replcheck_sleep_ms(20);
    }
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    printf("%s", out);
    fflush(stdout);
    if (!exited) {
        fleet_dump_logs(&F);
    }
    ck_assert_msg(exited, "redispy_check.py did not finish within %d s:\n%s",
                  REDISPY_TIMEOUT_MS / 1000, out);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "redispy_check.py exited with status %d:\n%s",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1, out);
    ck_assert_msg(strstr(out, "redis-py: all checks passed") != NULL,
                  "redispy_check.py did not report success:\n%s", out);
    assert_replicas_identical();
}
END_TEST

/* ---- 2. queue: 100 consumers, 10 producers ------------------------- */

/* The same queue over a list (RPUSH / BLPOP) or a stream with a consumer
 * group (XADD / XREADGROUP BLOCK / XACK). */

#define NCONSUMERS 100
#define NPRODUCERS 10
#define PER_PRODUCER 1000
#define CHUNK 50
#define TOTAL (NPRODUCERS * PER_PRODUCER)
#define QUEUE_DEADLINE_MS 30000

static struct {
    pthread_mutex_t lock;
    int             seen[TOTAL];     /* deliveries per element */
    long            received;        /* all deliveries */
    long            bad;             /* replies that are not an element */
    long            errors;          /* failed commands */
    char            first_error[256];
    int             stop;
    int             stream;          /* the stream form of the queue */
} Q;

struct worker {
    pthread_t     tid;
    redisContext *c;
    int           idx;
    long long     client_id;
    long          got;
};

static int
q_stopping(void)
{
    return __atomic_load_n(&Q.stop, __ATOMIC_SEQ_CST);
}

static void
q_error(const char *what, const redisContext *c, const redisReply *r)
{
    pthread_mutex_lock(&Q.lock);
    if (Q.errors++ == 0) {
        snprintf(Q.first_error, sizeof(Q.first_error), "%s: %s", what,
                 r != NULL && r->str != NULL ? r->str : c->errstr);
    }
    pthread_mutex_unlock(&Q.lock);
}

static void
q_deliver(const char *s)
{
    int p = -1;
    int n = -1;
    int end = 0;

    pthread_mutex_lock(&Q.lock);
    Q.received++;
    if (sscanf(s, "p%d:%d%n", &p, &n, &end) == 2 && s[end] == '\0' &&
        p >= 0 && p < NPRODUCERS && n >= 0 && n < PER_PRODUCER) {
        Q.seen[p * PER_PRODUCER + n]++;
    } else {
        Q.bad++;
    }
    pthread_mutex_unlock(&Q.lock);
}

static long
q_received(void)
{
    long n;

    pthread_mutex_lock(&Q.lock);
    n = Q.received;
    pthread_mutex_unlock(&Q.lock);
    return n;
}

static void
q_bad(void)
{
    pthread_mutex_lock(&Q.lock);
    Q.bad++;
    pthread_mutex_unlock(&Q.lock);
}

/* XREADGROUP's reply: [[jobs, [[id, [e, value]], ...]]]; each entry is
 * delivered and acknowledged. Returns 0 when a command failed. */
static int
stream_deliver(struct worker *w, const redisReply *r)
{
    const redisReply *entries;
    size_t i;

    if (r->type == REDIS_REPLY_NIL) {
        return 1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
        r->element[0]->elements != 2 ||
        strcmp(r->element[0]->element[0]->str, "jobs") != 0) {
        q_bad();
        return 1;
    }
    entries = r->element[0]->element[1];
    for (i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        redisReply *ack;

        if (e->elements != 2 || e->element[1]->elements != 2) {
            q_bad();
            continue;
        }
        q_deliver(e->element[1]->element[1]->str);
        w->got++;
        ack = redisCommand(w->c, "XACK jobs g %s", e->element[0]->str);
        if (ack == NULL || ack->type != REDIS_REPLY_INTEGER ||
            ack->integer != 1) {
            q_error("XACK", w->c, ack);
            if (ack != NULL) {
                freeReplyObject(ack);
            }
            return 0;
        }
        freeReplyObject(ack);
    }
    return 1;
}

static void *
consumer_main(void *arg)
{
    struct worker *w = arg;

    while (!q_stopping()) {
        redisReply *r = Q.stream
            ? redisCommand(w->c, "XREADGROUP GROUP g c%d COUNT 10 BLOCK 5000 "
                                 "STREAMS jobs >", w->idx)
            : redisCommand(w->c, "BLPOP queue 5");

        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            q_error(Q.stream ? "XREADGROUP" : "BLPOP", w->c, r);
            if (r != NULL) {
                freeReplyObject(r);
            }
            break;
        }
        if (Q.stream) {
            int ok = stream_deliver(w, r);

            freeReplyObject(r);
            if (!ok) {
                break;
            }
            continue;
        }
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            r->element[1]->type == REDIS_REPLY_STRING) {
            if (strcmp(r->element[0]->str, "queue") != 0) {
                q_bad();
            }
            q_deliver(r->element[1]->str);
            w->got++;
        } else if (r->type != REDIS_REPLY_NIL) {
            q_bad();
        }
        freeReplyObject(r);
    }
    return NULL;
}

static void *
producer_main(void *arg)
{
    struct worker *w = arg;
    int n = 0;

    while (n < PER_PRODUCER) {
        const char *argv[CHUNK + 2];
        char        elems[CHUNK][32];
        int         k;
        int         argc = 0;
        redisReply *r;

        if (Q.stream) {
            /* CHUNK XADDs pipelined: one write, CHUNK replies. */
            int sent = 0;

            for (k = 0; k < CHUNK && n < PER_PRODUCER; k++, n++, sent++) {
                snprintf(elems[k], sizeof(elems[k]), "p%d:%d", w->idx, n);
                redisAppendCommand(w->c, "XADD jobs * e %s", elems[k]);
            }
            for (k = 0; k < sent; k++) {
                if (redisGetReply(w->c, (void **)&r) != REDIS_OK ||
                    r->type != REDIS_REPLY_STRING) {
                    q_error("XADD", w->c, r);
                    if (r != NULL) {
                        freeReplyObject(r);
                    }
                    return NULL;
                }
                freeReplyObject(r);
            }
            w->got += sent;
            continue;
        }
        argv[argc++] = "RPUSH";
        argv[argc++] = "queue";
        for (k = 0; k < CHUNK && n < PER_PRODUCER; k++, n++) {
            snprintf(elems[k], sizeof(elems[k]), "p%d:%d", w->idx, n);
            argv[argc++] = elems[k];
        }
        r = redisCommandArgv(w->c, argc, argv, NULL);
        if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
            q_error("RPUSH", w->c, r);
            if (r != NULL) {
                freeReplyObject(r);
            }
            break;
        }
        freeReplyObject(r);
        w->got += k;
    }
    return NULL;
}

/* The consumer group itself (what XREADGROUP and XACK changed, which the
 * key comparison's XRANGE does not show) is the same on every replica. */
static void
assert_group_state_replicated(void)
{
    static const char *const fields[] = {"consumers", "pending",
                                         "last-delivered-id", "entries-read"};
    char want[4][64], got[64];
    redisContext *c;
    redisReply *r;
    size_t f, i;
    int k;

    for (k = -1; k < NREPLICAS; k++) {
        c = harness_connect(k < 0 ? F.primary.port : F.replica[k].port);
        r = redisCommand(c, "XINFO GROUPS jobs");
        ck_assert_msg(r != NULL && r->type == REDIS_REPLY_ARRAY &&
                          r->elements == 1,
                      "XINFO GROUPS on %s", k < 0 ? "primary" : "replica");
        for (f = 0; f < 4; f++) {
            got[0] = '\0';
            for (i = 0; i + 1 < r->element[0]->elements; i += 2) {
                const redisReply *v = r->element[0]->element[i + 1];

                if (strcmp(r->element[0]->element[i]->str, fields[f]) != 0) {
                    continue;
                }
                if (v->type == REDIS_REPLY_INTEGER) {
                    snprintf(got, sizeof(got), "%lld", v->integer);
                } else if (v->type == REDIS_REPLY_STRING) {
                    snprintf(got, sizeof(got), "%s", v->str);
                }
            }
            if (k < 0) {
                snprintf(want[f], sizeof(want[f]), "%s", got);
            } else {
                ck_assert_msg(strcmp(want[f], got) == 0,
                              "replica %d: group %s %s, primary %s", k,
                              fields[f], got, want[f]);
            }
        }
        if (k < 0) {
            printf("clients: stream group on the primary: consumers %s, "
                   "pending %s, last-delivered-id %s, entries-read %s; the "
                   "same on every replica\n", want[0], want[1], want[2],
                   want[3]);
        }
        freeReplyObject(r);
        redisFree(c);
    }
}

static void
run_queue(int stream)
{
    static struct worker cons[NCONSUMERS];
    static struct worker prod[NPRODUCERS];
    redisContext *admin;
    long long t0, deadline;
    long lost = 0, dup = 0, pushed = 0, unblocked = 0;
    long long left;
    int i;

    fleet_start(&F, NREPLICAS, NULL, NULL);
    memset(&Q, 0, sizeof(Q));
    pthread_mutex_init(&Q.lock, NULL);
    Q.stream = stream;
    admin = harness_connect(F.tandem.port);
    if (stream) {
        cmd_status(admin, "OK", "XGROUP CREATE jobs g $ MKSTREAM");
    }
    /* Connections are made here: harness_connect aborts on failure. */
    for (i = 0; i < NCONSUMERS; i++) {
        memset(&cons[i], 0, sizeof(cons[i]));
        cons[i].idx = i;
        cons[i].c = harness_connect(F.tandem.port);
        cons[i].client_id = cmd_int(cons[i].c, "CLIENT ID");
    }
    for (i = 0; i < NPRODUCERS; i++) {
        memset(&prod[i], 0, sizeof(prod[i]));
        prod[i].idx = i;
        prod[i].c = harness_connect(F.tandem.port);
    }
    t0 = replcheck_now_ms();
    for (i = 0; i < NCONSUMERS; i++) {
        ck_assert_int_eq(pthread_create(&cons[i].tid, NULL, consumer_main,
                                        &cons[i]), 0);
    }
    for (i = 0; i < NPRODUCERS; i++) {
        ck_assert_int_eq(pthread_create(&prod[i].tid, NULL, producer_main,
                                        &prod[i]), 0);
    }
    for (i = 0; i < NPRODUCERS; i++) {
        pthread_join(prod[i].tid, NULL);
        pushed += prod[i].got;
    }
    deadline = t0 + QUEUE_DEADLINE_MS;
    while (q_received() < pushed && replcheck_now_ms() < deadline) {
        replcheck_sleep_ms(10);
    }
    printf("clients: queue: %ld pushed, %ld received in %lld ms\n", pushed,
           q_received(), replcheck_now_ms() - t0);
    /* Stop the consumers: they see the flag after their BLPOP, which
     * CLIENT UNBLOCK ends early (else its 5 s timeout does). */
    __atomic_store_n(&Q.stop, 1, __ATOMIC_SEQ_CST);
    for (i = 0; i < NCONSUMERS; i++) {
        unblocked += cmd_int(admin, "CLIENT UNBLOCK %lld", cons[i].client_id);
    }
    for (i = 0; i < NCONSUMERS; i++) {
        pthread_join(cons[i].tid, NULL);
        redisFree(cons[i].c);
    }
    for (i = 0; i < NPRODUCERS; i++) {
        redisFree(prod[i].c);
    }
    for (i = 0; i < TOTAL; i++) {
        if (Q.seen[i] == 0) {
            lost++;
        } else if (Q.seen[i] > 1) {
            dup += Q.seen[i] - 1;
        }
    }
    {
        long busiest = 0, idle = 0;

        for (i = 0; i < NCONSUMERS; i++) {
            if (cons[i].got > busiest) {
                busiest = cons[i].got;
            }
            if (cons[i].got == 0) {
                idle++;
            }
        }
        printf("clients: queue: %d consumers, %d producers x %d: "
               "%ld received, %ld lost, %ld duplicated, %ld bad, "
               "%ld errors; busiest consumer %ld, consumers with none %ld, "
               "%ld unblocked at the end\n",
               NCONSUMERS, NPRODUCERS, PER_PRODUCER, Q.received, lost, dup,
               Q.bad, Q.errors, busiest, idle, unblocked);
    }
    if (stream) {
        /* Everything delivered was acknowledged: nothing pending. */
        redisReply *r = redisCommand(admin, "XPENDING jobs g");

        ck_assert_msg(r != NULL && r->type == REDIS_REPLY_ARRAY &&
                          r->elements == 4,
                      "XPENDING gave no summary");
        left = r->element[0]->integer;
        freeReplyObject(r);
    } else {
        left = cmd_int(admin, "LLEN queue");
    }
    printf("clients: queue (%s): %lld left %s\n", stream ? "stream" : "list",
           left, stream ? "pending" : "in the queue");
    fflush(stdout);
    ck_assert_msg(Q.errors == 0, "%ld commands failed, first: %s", Q.errors,
                  Q.first_error);
    ck_assert_msg(pushed == TOTAL, "pushed %ld of %d", pushed, TOTAL);
    ck_assert_msg(lost == 0, "%ld elements never delivered", lost);
    ck_assert_msg(dup == 0, "%ld duplicate deliveries", dup);
    ck_assert_msg(Q.bad == 0, "%ld unexpected replies", Q.bad);
    ck_assert_msg(Q.received == TOTAL, "received %ld, expected %d",
                  Q.received, TOTAL);
    ck_assert_msg(left == 0, "%lld elements left", left);
    redisFree(admin);
    pthread_mutex_destroy(&Q.lock);
    assert_replicas_identical();
    if (stream) {
        assert_group_state_replicated();
    }
}

START_TEST(test_queue_100_consumers_10_producers)
{
    run_queue(0);
}
END_TEST

/* The same with XREADGROUP BLOCK: each entry delivered to exactly one
 * consumer, acknowledged, and the replicas hold the same stream. */
START_TEST(test_stream_group_100_consumers_10_producers)
{
    run_queue(1);
}
END_TEST

/* ---- 3. many blocked clients and subscribers ----------------------- */

/*
 * The number of clients in each phase comes from TANDEM_MANY_CLIENTS
 * (default MANY_CLIENTS_DEFAULT, which keeps "make check" short; "make
 * check-long" runs this case with 10,000). The two phases follow each
 * other in one tandem run, so that one process never needs more than
 * about N sockets at once: a hard RLIMIT_NOFILE of 20,000 must do for
 * N = 10,000 on both sides.
 *
 *   phase 1  N clients parked in BLPOP on N keys;  closed, then
 *   phase 2  N subscribers over MANY_CHANNELS channels, one PUBLISH per
 *            channel that every subscriber reads.
 */
#define MANY_CLIENTS_DEFAULT 2000
#define MANY_CLIENTS_MAX 100000
#define MANY_CHANNELS 10
#define PRIMARY_CONN_MAX 10
#define MANY_FD_SLACK 256       /* our own descriptors besides the clients */
#define MANY_MAXCLIENTS_SLACK 100 /* tandem: INFO connections and the like */

static int
many_clients(void)
{
    const char *v = getenv("TANDEM_MANY_CLIENTS");
    char *end;
    long n;

    if (v == NULL || *v == '\0') {
        return MANY_CLIENTS_DEFAULT;
    }
    n = strtol(v, &end, 10);
    if (*end != '\0' || n < MANY_CHANNELS || n > MANY_CLIENTS_MAX) {
        fprintf(stderr, "TANDEM_MANY_CLIENTS=%s: want %d to %d\n", v,
                MANY_CHANNELS, MANY_CLIENTS_MAX);
        abort();
    }
    return (int)n;
}

/* Deadlines grow with the client count: 1 ms per client, at least min_ms. */
static int
many_deadline_ms(int nclients, int min_ms)
{
    return nclients > min_ms ? nclients : min_ms;
}

/* Reads from fd until the bytes read contain needle, or timeout_ms.
 * Returns 1 when found. */
static int
read_until_contains(int fd, const char *needle, int timeout_ms)
{
    char buf[4096];
    size_t used = 0;
    long long deadline = replcheck_now_ms() + timeout_ms;

    buf[0] = '\0';
    while (strstr(buf, needle) == NULL) {
        struct pollfd p = {fd, POLLIN, 0};
        long long left = deadline - replcheck_now_ms();
        ssize_t n;

        if (left <= 0 || used >= sizeof(buf) - 1) {
            return 0;
        }
        if (poll(&p, 1, (int)left) <= 0) {
            continue;
        }
        n = recv(fd, buf + used, sizeof(buf) - 1 - used, 0);
        if (n <= 0) {
            return 0;
        }
        used += (size_t)n;
        buf[used] = '\0';
    }
    return 1;
}

/* Raises our soft RLIMIT_NOFILE (up to the hard limit) to hold want. */
static void
raise_nofile(rlim_t want)
{
    struct rlimit rl;

    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur >= want) {
        return;
    }
    rl.rlim_cur = want;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
    }
    ck_assert_msg(setrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= want,
                  "cannot raise RLIMIT_NOFILE to %llu (hard limit %llu)",
                  (unsigned long long)want, (unsigned long long)rl.rlim_max);
}

/* What one phase measures: tandem and the primary before and with its
 * clients. */
struct many_figures {
    long long prim_before;      /* primary connected_clients, before */
    long long prim_with;        /* ... with the clients connected */
    long long tandem_before;    /* tandem connected_clients, before */
    long long tandem_with;      /* ... with the clients connected */
    long long blocked;          /* tandem blocked_clients with them */
    long long rss_start;        /* tandem used_memory_rss at fleet start */
    long long rss_before;       /* ... before this phase */
    long long rss_with;         /* ... with the clients connected */
};

static void
many_measure_before(struct many_figures *m, long long rss_start)
{
    m->rss_start = rss_start;
    m->prim_before = info_ll(F.primary.port, "clients", "connected_clients");
    m->tandem_before = info_ll(F.tandem.port, "clients", "connected_clients");
    m->rss_before = info_ll(F.tandem.port, "memory", "used_memory_rss");
}

/* Takes the figures with the clients connected, prints them and asserts
 * that the primary's connections did not grow with them. The INFO
 * connection itself counts on the primary: prim_before includes it, as
 * prim_with does; on tandem, tandem_with includes it and tandem_before
 * does too. RSS is printed per client over the phase's start and over
 * tandem's start: tandem's heap keeps what the first phase freed and the
 * second phase reuses it, so for the second phase the first figure is
 * low and the second high. */
static void
many_measure_with(struct many_figures *m, const char *what, int n)
{
    m->blocked = info_ll(F.tandem.port, "clients", "blocked_clients");
    m->tandem_with = info_ll(F.tandem.port, "clients", "connected_clients");
    m->prim_with = info_ll(F.primary.port, "clients", "connected_clients");
    m->rss_with = info_ll(F.tandem.port, "memory", "used_memory_rss");
    printf("clients: many: %s: %d clients; tandem blocked_clients %lld, "
           "connected_clients %lld before, %lld with them\n", what, n,
           m->blocked, m->tandem_before, m->tandem_with);
    printf("clients: many: %s: primary connected_clients %lld before, %lld "
           "with them\n", what, m->prim_before, m->prim_with);
    printf("clients: many: %s: tandem used_memory_rss %lld before, %lld "
           "with them: %lld bytes per client over the phase's start, %lld "
           "over tandem's start (%lld)\n", what, m->rss_before, m->rss_with,
           (m->rss_with - m->rss_before) / n,
           (m->rss_with - m->rss_start) / n, m->rss_start);
    fflush(stdout);
    ck_assert_msg(m->tandem_with >= m->tandem_before + n,
                  "%s: tandem shows %lld connected clients, expected >= "
                  "%lld", what, m->tandem_with, m->tandem_before + n);
    ck_assert_msg(m->prim_with <= PRIMARY_CONN_MAX,
                  "%s: primary has %lld connections (> %d)", what,
                  m->prim_with, PRIMARY_CONN_MAX);
    ck_assert_msg(m->prim_with == m->prim_before,
                  "%s: primary connections went from %lld to %lld", what,
                  m->prim_before, m->prim_with);
}

/* Closes the n sockets of fds and waits until tandem has let go of them:
 * no blocked client left and connected_clients back to tandem_before. */
static void
many_close_all(int *fds, int n, long long tandem_before, const char *what)
{
    long long deadline;
    long long blocked = -1;
    long long clients = -1;
    int i;

    for (i = 0; i < n; i++) {
        close(fds[i]);
        fds[i] = -1;
    }
    deadline = replcheck_now_ms() + many_deadline_ms(n, 10000);
    while (replcheck_now_ms() < deadline) {
        blocked = info_ll(F.tandem.port, "clients", "blocked_clients");
        clients = info_ll(F.tandem.port, "clients", "connected_clients");
        if (blocked == 0 && clients <= tandem_before) {
            break;
        }
        replcheck_sleep_ms(50);
    }
    ck_assert_msg(blocked == 0 && clients <= tandem_before,
                  "%s: after closing, tandem still shows %lld blocked and "
                  "%lld connected clients (%lld before)", what, blocked,
                  clients, tandem_before);
}

START_TEST(test_many_blocked_clients_and_subscribers_cost_no_backend_connections)
{
    int n = many_clients();
    char maxclients[32];
    const char *extra[] = {"--maxclients", maxclients, NULL};
    struct many_figures m;
    long long rss_start, deadline, received_by = 0, published = 0;
    int *fds = calloc((size_t)n, sizeof(*fds));
    int per_channel[MANY_CHANNELS] = {0};
    redisContext *c;
    int i;

    ck_assert_ptr_nonnull(fds);
    /* One phase's sockets plus our own; tandem gets maxclients for one
     * phase and its INFO connections, and raises its own open files
     * limit to fit it. */
    raise_nofile((rlim_t)n + MANY_FD_SLACK);
    snprintf(maxclients, sizeof(maxclients), "%d",
             n + MANY_MAXCLIENTS_SLACK);
    fleet_start(&F, NREPLICAS, NULL, extra);
    rss_start = info_ll(F.tandem.port, "memory", "used_memory_rss");

    /* Phase 1: n clients parked in BLPOP, each on a key of its own. */
    many_measure_before(&m, rss_start);
    for (i = 0; i < n; i++) {
        char req[128];
        int len;

        fds[i] = harness_raw_connect(F.tandem.port);
        len = snprintf(req, sizeof(req),
                       "*3\r\n$5\r\nBLPOP\r\n$%d\r\nidle:%d\r\n$1\r\n0\r\n",
                       (int)strlen("idle:") + snprintf(NULL, 0, "%d", i), i);
        ck_assert_int_eq(harness_send_all(fds[i], req, (size_t)len), 0);
    }
    deadline = replcheck_now_ms() + many_deadline_ms(n, 20000);
    while (replcheck_now_ms() < deadline &&
           info_ll(F.tandem.port, "clients", "blocked_clients") < n) {
        replcheck_sleep_ms(50);
    }
    many_measure_with(&m, "blocked (BLPOP)", n);
    ck_assert_msg(m.blocked == n, "tandem shows %lld blocked clients, "
                  "expected %d", m.blocked, n);
    many_close_all(fds, n, m.tandem_before, "blocked (BLPOP)");

    /* Phase 2: n subscribers over MANY_CHANNELS channels. */
    many_measure_before(&m, rss_start);
    for (i = 0; i < n; i++) {
        char req[128];
        int len;

        fds[i] = harness_raw_connect(F.tandem.port);
        len = snprintf(req, sizeof(req),
                       "*2\r\n$9\r\nSUBSCRIBE\r\n$6\r\nchan:%d\r\n",
                       i % MANY_CHANNELS);
        ck_assert_int_eq(harness_send_all(fds[i], req, (size_t)len), 0);
        per_channel[i % MANY_CHANNELS]++;
    }
    /* Every subscriber gets its confirmation. */
    for (i = 0; i < n; i++) {
        char want[64];

        snprintf(want, sizeof(want), "chan:%d\r\n:1\r\n", i % MANY_CHANNELS);
        ck_assert_msg(read_until_contains(fds[i], want, 10000),
                      "subscriber %d: no SUBSCRIBE confirmation in 10 s", i);
    }
    many_measure_with(&m, "subscribers", n);
    ck_assert_msg(m.blocked == 0, "tandem shows %lld blocked clients with "
                  "only subscribers", m.blocked);

    /* One message per channel; PUBLISH counts that channel's subscribers
     * and every subscriber reads the message of its channel. */
    c = harness_connect(F.tandem.port);
    for (i = 0; i < MANY_CHANNELS; i++) {
        long long count = cmd_int(c, "PUBLISH chan:%d hello-many-%d", i, i);

        ck_assert_msg(count == per_channel[i], "PUBLISH chan:%d returned "
                      "%lld, expected %d", i, count, per_channel[i]);
        published += count;
    }
    redisFree(c);
    for (i = 0; i < n; i++) {
        char want[64];

        snprintf(want, sizeof(want), "hello-many-%d\r\n", i % MANY_CHANNELS);
        if (read_until_contains(fds[i], want, 5000)) {
            received_by++;
        }
    }
    printf("clients: many: subscribers: PUBLISH to each of %d channels "
           "returned %lld in all; %lld of %d subscribers received their "
           "channel's message\n", MANY_CHANNELS, published, received_by, n);
    fflush(stdout);
    ck_assert_msg(published == n, "PUBLISH returned %lld in all, expected "
                  "%d", published, n);
    ck_assert_msg(received_by == n, "%lld of %d subscribers got the "
                  "message", received_by, n);
    many_close_all(fds, n, m.tandem_before, "subscribers");
    free(fds);
    assert_replicas_identical();
}
END_TEST

/* ---- 4. keys that expire or are evicted on the primary -------------- */

/* A WATCHed key that expires on the primary fails the watcher's EXEC, as
 * in Redis; keys the primary evicts (the replicas have no maxmemory) are
 * deleted on the replicas too, from the primary's keyevents. */
START_TEST(test_expired_and_evicted_keys_reach_watchers_and_replicas)
{
    redisContext *c, *d;
    redisReply *r;
    long long t0, used, evicted, seen, transfers;
    int i;

    fleet_start(&F, NREPLICAS, NULL, NULL);
    c = harness_connect(F.tandem.port);
    d = harness_connect(F.primary.port);
    /* tandem turned the notifications on. */
    r = redisCommand(d, "CONFIG GET notify-keyspace-events");
    ck_assert_msg(strchr(r->element[1]->str, 'E') != NULL &&
                      strchr(r->element[1]->str, 'x') != NULL &&
                      strchr(r->element[1]->str, 'e') != NULL,
                  "notify-keyspace-events is \"%s\"", r->element[1]->str);
    freeReplyObject(r);

    /* WATCH, then the key expires on the primary: EXEC fails. */
    cmd_status(c, "OK", "SET w:ttl v PX 200");
    cmd_status(c, "OK", "SET w:kept v");
    cmd_status(c, "OK", "WATCH w:ttl");
    t0 = replcheck_now_ms();
    while (cmd_int(d, "EXISTS w:ttl") == 1 &&
           replcheck_now_ms() - t0 < 5000) {
        replcheck_sleep_ms(50);
    }
    replcheck_sleep_ms(300);    /* the event's way to tandem */
    cmd_status(c, "OK", "MULTI");
    cmd_status(c, "QUEUED", "SET w:ttl again");
    r = redisCommand(c, "EXEC");
    ck_assert_msg(r != NULL && r->type == REDIS_REPLY_NIL,
                  "EXEC after the watched key expired ran (type %d)",
                  r != NULL ? r->type : -1);
    freeReplyObject(r);
    /* A watched key that stays: EXEC runs. */
    cmd_status(c, "OK", "WATCH w:kept");
    cmd_status(c, "OK", "MULTI");
    cmd_status(c, "QUEUED", "SET w:kept changed");
    r = redisCommand(c, "EXEC");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);

    /* Evictions: the primary gets a small maxmemory, the replicas none. */
    used = info_ll(F.primary.port, "memory", "used_memory");
    cmd_status(d, "OK", "CONFIG SET maxmemory-policy allkeys-random");
    cmd_status(d, "OK", "CONFIG SET maxmemory %lld", used + 2 * 1024 * 1024);
    {
        char value[1024];

        memset(value, 'e', sizeof(value));
        for (i = 0; i < 6000; i++) {
            r = redisCommand(c, "SET ev:%d %b", i, value, sizeof(value));
            ck_assert_msg(r != NULL && r->type == REDIS_REPLY_STATUS,
                          "SET ev:%d: %s", i,
                          r != NULL && r->str != NULL ? r->str : "?");
            freeReplyObject(r);
        }
    }
    /* The primary may go on evicting a little after the writes (the
     * transfers' DUMPs use its memory too): wait until tandem has seen
     * every eviction the primary counts. */
    t0 = replcheck_now_ms();
    do {
        replcheck_sleep_ms(100);
        evicted = info_ll(F.primary.port, "stats", "evicted_keys");
        seen = info_ll(F.tandem.port, "stats", "primary_evicted_keys");
        transfers = info_ll(F.tandem.port, "stats", "keyevent_transfers");
    } while ((seen != evicted || transfers < evicted) &&
             replcheck_now_ms() - t0 < 10000);
    printf("clients: keyevents: primary evicted %lld keys, tandem saw %lld "
           "evicted and %lld expired, %lld transfers\n", evicted, seen,
           info_ll(F.tandem.port, "stats", "primary_expired_keys"),
           transfers);
    ck_assert_msg(evicted > 1000, "the primary evicted only %lld keys",
                  evicted);
    ck_assert_int_eq(seen, evicted);
    /* tandem's stamp in the primary's meta-db may be evicted too (a few
     * times: it is written again each second of writes): counted, not
     * transferred. */
    ck_assert_msg(transfers >= evicted - 10, "%lld transfers for %lld "
                  "evictions", transfers, evicted);
    cmd_status(d, "OK", "CONFIG SET maxmemory 0");
    redisFree(c);
    redisFree(d);
    assert_replicas_identical();
}
END_TEST

/* One case per test, so that CK_RUN_CASE=<name> runs one alone. */
static void
add_case(Suite *s, const char *name, const TTest *test, int timeout_s)
{
    harness_add_case(s, name, test, NULL, teardown, timeout_s);
}

int
main(void)
{
    Suite *s = suite_create("clients");
    int many = many_clients();

    add_case(s, "redis_py", test_redis_py_client_behaviours, 120);
    add_case(s, "queue", test_queue_100_consumers_10_producers, 120);
    add_case(s, "stream_group", test_stream_group_100_consumers_10_producers,
             120);
    add_case(s, "keyevents",
             test_expired_and_evicted_keys_reach_watchers_and_replicas, 120);
    /* 120 s for the default 2,000 clients, more in proportion. */
    add_case(s, "many_clients",
             test_many_blocked_clients_and_subscribers_cost_no_backend_connections,
             many <= MANY_CLIENTS_DEFAULT ? 120
                                          : 120 * many / MANY_CLIENTS_DEFAULT);
    return harness_run_suite(s);
}
