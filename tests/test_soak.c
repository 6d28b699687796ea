/*
 * test_soak.c -- a bounded fault soak (DESIGN section 8 "Fault tests",
 * I5-I11): faults of every kind, mixed, under continuous load, for
 * TANDEM_SOAK_SECONDS (default 90). Run by "make check-long" only.
 *
 *   writers (threads) --+                      +--> server 0 \
 *   ledger (thread)  ---+--> tandem (:port) ---+--> server 1  } one is the
 *   faults (main)    ---+    (config file,     +--> server 2 /  primary
 *                            rewritten on failover)
 *
 * Three redis-servers, all with AOF and appendfsync always (any of them
 * may be a replica: a replica killed with SIGKILL comes back with its
 * stamp, and after a failover a former replica is the primary), one of
 * them the primary, and tandem started from a configuration file with
 * failover-after 1000 and a 1mb backlog, so that the file follows the
 * failovers across tandem restarts and a stopped replica falls out of the
 * ring.
 *
 * Load: SOAK_WRITERS threads write a mix (SET with and without TTL, INCR,
 * HSET, LPUSH, MULTI/EXEC, EVAL) through tandem, and a ledger thread does
 * SET ledger:<n> <n> then WAIT 1 2000, records each n whose WAIT said
 * >= 1 and reads it back on the same connection (read your writes, I10).
 * Every call has a timeout; an error reply or a lost connection is
 * counted and the thread goes on (reconnecting), so faults never hang it.
 *
 * Faults, from the main thread, one after another with 0.5-3 s of load in
 * between, in rounds that take every kind once in an order drawn from a
 * seeded PRNG (TANDEM_SOAK_SEED replays the sequence; the timing, and so
 * the exact interleaving, varies):
 *   stop      SIGSTOP of a replica for 0.5-3 s, then SIGCONT
 *   kill      SIGKILL of a replica, restarted 0.2-2 s later on its port
 *             and directory (its AOF holds its stamp)
 *   overflow  SIGSTOP of a replica, 2 MB of large values written (twice
 *             the backlog), then SIGCONT: it is cut off and seeded
 *   restart   SIGTERM to tandem (a clean shutdown and its mark), started
 *             again from the file on the same port
 *   primary   SIGKILL of the primary; tandem fails over after 1 s; 1-3 s
 *             later an empty redis-server comes back on the old primary's
 *             port (its directory emptied) and tandem, which lists it as a
 *             replica after the failover, seeds it
 *
 * The end: the load stops, every replica must come online with nothing to
 * catch up (bounded), then every ledger entry acknowledged by WAIT is on
 * the final primary with its value, both replicas compare equal to it key
 * by key (replcheck_compare: 0 differences), and tandem is still running
 * and exits 0 on SIGTERM with no sanitizer report in its log. A summary
 * line gives the seed, the faults of each kind, the writes, the ledger,
 * the failovers and the seeds per server.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "replcheck.h"

#define NSERVERS 3
#define SOAK_WRITERS 4
#define SOAK_CHUNK 20           /* commands pipelined per round trip */
#define SOAK_KEYS 200           /* keys per family */
#define SOAK_SHORT_TTL_S 4      /* longest short TTL: expires in the soak */
#define SOAK_IO_TIMEOUT_S 10    /* every client call */
#define SOAK_BIG_VALUES 32      /* overflow: 32 x 64 KB = 2 x the backlog */
#define SOAK_BIG_LEN (64 * 1024)
#define SOAK_ERRKINDS 16

enum fault {
    FAULT_STOP,
    FAULT_KILL,
    FAULT_OVERFLOW,
    FAULT_RESTART,
    FAULT_PRIMARY,
    FAULT_KINDS
};

static const char *const fault_names[FAULT_KINDS] = {
    "stop", "kill", "overflow", "restart", "primary"};

static const char *const aof_args[] = {"--appendonly", "yes",
                                       "--appendfsync", "always", NULL};

/* Distinct error texts seen by the load, with counts (for the summary). */
struct errkind {
    char text[64];
    long count;
};

struct writer {
    pthread_t     thread;
    int           id;
    unsigned int  seed;
    long          commands;     /* replies read (errors included) */
    long          error_replies;
    long          io_errors;    /* lost connections and timeouts */
    long          reconnects;
};

static struct {
    struct proc     server[NSERVERS];
    char            spec[NSERVERS][64];
    struct proc     tandem;         /* dir "": its log is in S.dir */
    int             tandem_port;
    char            dir[256];       /* config file, tandem's log */
    char            conf[300];
    unsigned int    seed;
    unsigned int    prng;           /* the fault sequence's state */
    int             stop_load;
    struct writer   writer[SOAK_WRITERS];
    struct writer   ledger;
    unsigned char   *acked;         /* acked[n]: WAIT said >= 1 */
    long            ledger_cap;
    long            ledger_next;
    pthread_mutex_t lock;           /* errkinds */
    struct errkind  errkinds[SOAK_ERRKINDS];
    long            faults[FAULT_KINDS];
    long            primary_skipped;
    long            primary_with_one;    /* kills with one replica online */
    long            stale_reads;    /* ledger reads that missed the write */
    char            first_stale[128];
} S;

/* ---- processes ----------------------------------------------------- */

static void
dump_logs(void)
{
    int i;

    harness_dump_log(&S.tandem);
    for (i = 0; i < NSERVERS; i++) {
        harness_dump_log(&S.server[i]);
    }
}

static int
soak_rand(int lo, int hi)
{
    return lo + (int)(rand_r(&S.prng) % (unsigned int)(hi - lo + 1));
}

/* Spawns tandem from the configuration file, its output appended to the
 * one log, and waits until it answers and its pipe is up. */
static void
tandem_start(void)
{
    const char *bin = getenv("TANDEM_BIN");
    char *argv[3];
    long long deadline;
    int attempt;

    argv[0] = (char *)(bin != NULL ? bin : "../src/tandem");
    argv[1] = S.conf;
    argv[2] = NULL;
    for (attempt = 0; attempt < 5; attempt++) {
        memset(&S.tandem, 0, sizeof(S.tandem));
        snprintf(S.tandem.log, sizeof(S.tandem.log), "%s/tandem.log", S.dir);
        S.tandem.port = S.tandem_port;
        S.tandem.pid = harness_spawn(&S.tandem, argv);
        ck_assert_int_gt(S.tandem.pid, 0);
        if (harness_wait_ready(&S.tandem, 10000) == 0) {
            break;
        }
        /* e.g. the port not free yet: it exited; try again */
        harness_stop(&S.tandem);
        replcheck_sleep_ms(300);
    }
    ck_assert_msg(S.tandem.pid > 0, "tandem does not start from %s",
                  S.conf);
    deadline = replcheck_now_ms() + 15000;
    for (;;) {
        redisContext *c = harness_connect(S.tandem_port);
        const char *v = harness_info_field(c, "primary",
                                           "primary_link_status");
        int up = v != NULL && strcmp(v, "up") == 0;

        redisFree(c);
        if (up) {
            return;
        }
        if (replcheck_now_ms() >= deadline) {
            dump_logs();
            ck_abort_msg("tandem's pipe is not up within 15 s");
        }
        replcheck_sleep_ms(50);
    }
}

/* SIGTERM to tandem; returns its exit status (-2: a sanitizer report in
 * its log, -1: it did not exit within 20 s and was killed). */
static int
tandem_stop(void)
{
    int status;

    if (S.tandem.pid <= 0) {
        return -1;
    }
    harness_signal(&S.tandem, SIGTERM);
    status = harness_wait_exit(&S.tandem, 20000);
    harness_stop(&S.tandem);
    if (status == 0 &&
        (replcheck_count_in_file(S.tandem.log, "Sanitizer") > 0 ||
         replcheck_count_in_file(S.tandem.log, "runtime error") > 0)) {
        status = -2;
    }
    return status;
}

/* The port of tandem's current primary (0 when tandem does not answer or
 * its pipe is not up). */
static int
primary_port(void)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", S.tandem_port,
                                              tv);
    int port = 0;

    if (c == NULL || c->err != 0) {
        if (c != NULL) {
            redisFree(c);
        }
        return 0;
    }
    redisSetTimeout(c, tv);
    {
        const char *v = harness_info_field(c, "primary", "primary_port");

        port = v != NULL ? atoi(v) : 0;
        v = harness_info_field(c, "primary", "primary_link_status");
        if (v == NULL || strcmp(v, "up") != 0) {
            port = 0;
        }
    }
    redisFree(c);
    return port;
}

static int
server_of_port(int port)
{
    int i;

    for (i = 0; i < NSERVERS; i++) {
        if (S.server[i].port == port) {
            return i;
        }
    }
    return -1;
}

/* The current primary's index (waits up to 20 s for the pipe). */
static int
current_primary(void)
{
    long long deadline = replcheck_now_ms() + 20000;

    for (;;) {
        int i = server_of_port(primary_port());

        if (i >= 0) {
            return i;
        }
        if (replcheck_now_ms() >= deadline) {
            dump_logs();
            ck_abort_msg("tandem has no primary up for 20 s");
        }
        replcheck_sleep_ms(50);
    }
}

/* A replica (not the primary) drawn from the PRNG. */
static int
pick_replica(int primary)
{
    int k = soak_rand(0, NSERVERS - 2);
    int i;

    for (i = 0; i < NSERVERS; i++) {
        if (i != primary && k-- == 0) {
            return i;
        }
    }
    return (primary + 1) % NSERVERS;
}

/* Starts server i again on its port and directory. */
static void
server_restart(int i)
{
    ck_assert_msg(replcheck_restart_redis(&S.server[i], aof_args) == 0,
                  "can't restart server %d on port %d", i, S.server[i].port);
}

static void
server_kill(int i)
{
    harness_signal(&S.server[i], SIGKILL);
    ck_assert_int_eq(harness_wait_exit(&S.server[i], 5000), 128 + SIGKILL);
}

/* A replica's state in tandem's INFO replication ("" when absent). */
static void
replica_state(int i, char *out, size_t len)
{
    char line[1024];

    out[0] = '\0';
    if (replcheck_slave_line(S.tandem_port, S.server[i].port, line,
                             sizeof(line)) == 0) {
        replcheck_line_field(line, "state", out, len);
    }
}

/* ---- load ------------------------------------------------------------ */

static void
note_error(const char *text)
{
    int i;

    pthread_mutex_lock(&S.lock);
    for (i = 0; i < SOAK_ERRKINDS; i++) {
        struct errkind *k = &S.errkinds[i];

        if (k->text[0] == '\0') {
            snprintf(k->text, sizeof(k->text), "%s", text);
        }
        if (strncmp(k->text, text, sizeof(k->text) - 1) == 0) {
            k->count++;
            break;
        }
    }
    pthread_mutex_unlock(&S.lock);
}

static void
count_reply(struct writer *w, const redisReply *r)
{
    size_t i;

    if (r->type == REDIS_REPLY_ERROR) {
        w->error_replies++;
        note_error(r->str);
    } else if (r->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < r->elements; i++) {
            count_reply(w, r->element[i]);
        }
    }
}

static int
stopping(void)
{
    return __atomic_load_n(&S.stop_load, __ATOMIC_SEQ_CST);
}

/* A connection to tandem with every call bounded, on database db; NULL
 * when tandem does not answer (e.g. it is restarting). */
static redisContext *
load_connect(struct writer *w, int db)
{
    struct timeval ctv = {2, 0};
    struct timeval tv = {SOAK_IO_TIMEOUT_S, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", S.tandem_port,
                                              ctv);
    redisReply *r;

    w->reconnects++;
    if (c == NULL || c->err != 0) {
        if (c != NULL) {
            redisFree(c);
        }
        return NULL;
    }
    redisSetTimeout(c, tv);
    r = redisCommand(c, "SELECT %d", db);
    if (r == NULL || r->type != REDIS_REPLY_STATUS) {
        if (r != NULL) {
            freeReplyObject(r);
        }
        redisFree(c);
        return NULL;
    }
    freeReplyObject(r);
    return c;
}

static const char eval_script[] =
    "local v = redis.call('INCR', KEYS[1]) "
    "redis.call('HSET', KEYS[2], 'last', v, ARGV[1], ARGV[2]) "
    "return v";

/* Appends one command of the mix; returns how many replies it adds. */
static int
mix_append(redisContext *c, unsigned int *seed)
{
    int op = (int)(rand_r(seed) % 100);
    int k = (int)(rand_r(seed) % SOAK_KEYS);
    int m = (int)(rand_r(seed) % 1000);

    if (op < 15) {
        redisAppendCommand(c, "SET s:%d v%d", k, m);
    } else if (op < 22) {
        redisAppendCommand(c, "SET s:%d t%d EX %d", k, m,
                           1 + m % SOAK_SHORT_TTL_S);
    } else if (op < 30) {
        redisAppendCommand(c, "SET s:%d l%d PX %d", k, m, 60000 + m * 500);
    } else if (op < 45) {
        redisAppendCommand(c, "INCR c:%d", k);
    } else if (op < 57) {
        redisAppendCommand(c, "HSET h:%d f%d v%d", k, m % 20, m);
    } else if (op < 67) {
        redisAppendCommand(c, "LPUSH l:%d e%d", k, m);
    } else if (op < 70) {
        redisAppendCommand(c, "LTRIM l:%d 0 29", k);
    } else if (op < 73) {
        redisAppendCommand(c, "EXPIRE h:%d %d", k, 100 + m);
    } else if (op < 75) {
        redisAppendCommand(c, "DEL s:%d", k);
    } else if (op < 88) {
        redisAppendCommand(c, "MULTI");
        redisAppendCommand(c, "INCR c:%d", k);
        redisAppendCommand(c, "HSET h:%d x%d %d", (k + 1) % SOAK_KEYS,
                           m % 10, m);
        redisAppendCommand(c, "LPUSH l:%d m%d", (k + 2) % SOAK_KEYS, m);
        redisAppendCommand(c, "SET s:%d x%d EX %d", (k + 3) % SOAK_KEYS, m,
                           300 + m);
        redisAppendCommand(c, "EXEC");
        return 6;
    } else {
        redisAppendCommand(c, "EVAL %s 2 e:%d eh:%d f%d %d", eval_script, k,
                           k, m % 7, m);
    }
    return 1;
}

static void *
writer_main(void *arg)
{
    struct writer *w = arg;
    redisContext *c = NULL;

    while (!stopping()) {
        long errors;
        int n = 0;
        int i;

        if (c == NULL) {
            c = load_connect(w, w->id % 2);
            if (c == NULL) {
                replcheck_sleep_ms(100);
                continue;
            }
        }
        while (n < SOAK_CHUNK) {
            n += mix_append(c, &w->seed);
        }
        errors = w->error_replies;
        for (i = 0; i < n; i++) {
            void *reply = NULL;

            if (redisGetReply(c, &reply) != REDIS_OK) {
                w->io_errors++;
                redisFree(c);
                c = NULL;
                replcheck_sleep_ms(50);
                break;
            }
            w->commands++;
            count_reply(w, reply);
            freeReplyObject(reply);
        }
        /* Errors (the primary unavailable): retry a little later. */
        replcheck_sleep_ms(w->error_replies > errors ? 50 : 2);
    }
    if (c != NULL) {
        redisFree(c);
    }
    return NULL;
}

/* One ledger command on *c, counted with its reply. NULL when the
 * connection failed: it is closed and *c is NULL, to reconnect. */
static redisReply *
ledger_command(struct writer *w, redisContext **c, const char *fmt, ...)
{
    redisReply *r;
    va_list ap;

    va_start(ap, fmt);
    r = redisvCommand(*c, fmt, ap);
    va_end(ap);
    if (r == NULL) {
        w->io_errors++;
        redisFree(*c);
        *c = NULL;
        return NULL;
    }
    w->commands++;
    count_reply(w, r);
    return r;
}

/* SET ledger:<n> <n>, then WAIT 1 2000 on the same connection: n is
 * acknowledged when WAIT says >= 1, and then GET must see it. */
static void *
ledger_main(void *arg)
{
    struct writer *w = arg;
    redisContext *c = NULL;

    while (!stopping() && S.ledger_next < S.ledger_cap) {
        long n = S.ledger_next++;
        redisReply *r;
        int ok;

        if (c == NULL) {
            c = load_connect(w, 0);
            if (c == NULL) {
                replcheck_sleep_ms(100);
                continue;
            }
        }
        if ((r = ledger_command(w, &c, "SET ledger:%ld %ld", n, n)) == NULL) {
            continue;
        }
        ok = r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        if (!ok) {
            replcheck_sleep_ms(20);
            continue;
        }
        if ((r = ledger_command(w, &c, "WAIT 1 2000")) == NULL) {
            continue;
        }
        ok = r->type == REDIS_REPLY_INTEGER && r->integer >= 1;
        freeReplyObject(r);
        if (!ok) {
            continue;
        }
        S.acked[n] = 1;
        /* Read your own write (I10): wherever tandem sends the GET, an
         * acknowledged write is there. */
        if ((r = ledger_command(w, &c, "GET ledger:%ld", n)) == NULL) {
            continue;
        }
        if (r->type != REDIS_REPLY_ERROR &&
            (r->type != REDIS_REPLY_STRING || atol(r->str) != n)) {
            if (S.stale_reads++ == 0) {
                snprintf(S.first_stale, sizeof(S.first_stale),
                         "GET ledger:%ld gave %s", n,
                         r->type == REDIS_REPLY_STRING ? r->str : "nil");
            }
        }
        freeReplyObject(r);
    }
    if (c != NULL) {
        redisFree(c);
    }
    return NULL;
}

/* ---- faults ---------------------------------------------------------- */

static void
fault_stop(int primary)
{
    int i = pick_replica(primary);
    int ms = soak_rand(500, 3000);

    printf("soak: stop server %d (port %d) for %d ms\n", i,
           S.server[i].port, ms);
    harness_signal(&S.server[i], SIGSTOP);
    replcheck_sleep_ms(ms);
    harness_signal(&S.server[i], SIGCONT);
}

static void
fault_kill(int primary)
{
    int i = pick_replica(primary);
    int ms = soak_rand(200, 2000);

    printf("soak: kill server %d (port %d), back after %d ms\n", i,
           S.server[i].port, ms);
    server_kill(i);
    replcheck_sleep_ms(ms);
    server_restart(i);
}

static void
fault_overflow(int primary)
{
    int i = pick_replica(primary);
    char *value = malloc(SOAK_BIG_LEN + 1);
    struct timeval tv = {SOAK_IO_TIMEOUT_S, 0};
    redisContext *c;
    int ok = 0;
    int j;

    ck_assert_ptr_nonnull(value);
    memset(value, 'B', SOAK_BIG_LEN);
    value[SOAK_BIG_LEN] = '\0';
    harness_signal(&S.server[i], SIGSTOP);
    c = redisConnectWithTimeout("127.0.0.1", S.tandem_port, tv);
    if (c != NULL && c->err == 0) {
        redisSetTimeout(c, tv);
        for (j = 0; j < SOAK_BIG_VALUES; j++) {
            redisAppendCommand(c, "SET big:%d %s", j, value);
        }
        for (j = 0; j < SOAK_BIG_VALUES; j++) {
            redisReply *r = NULL;

            if (redisGetReply(c, (void **)&r) != REDIS_OK) {
                break;
            }
            ok += r->type == REDIS_REPLY_STATUS;
            freeReplyObject(r);
        }
    }
    if (c != NULL) {
        redisFree(c);
    }
    printf("soak: overflow: server %d (port %d) stopped, %d of %d x %d KB "
           "written\n", i, S.server[i].port, ok, SOAK_BIG_VALUES,
           SOAK_BIG_LEN / 1024);
    replcheck_sleep_ms(soak_rand(100, 1000));
    harness_signal(&S.server[i], SIGCONT);
    free(value);
}

static void
fault_restart(void)
{
    int status;

    printf("soak: tandem restart (SIGTERM, then from %s)\n", S.conf);
    status = tandem_stop();
    if (status != 0) {
        dump_logs();
    }
    ck_assert_msg(status == 0, "tandem exited with %d on SIGTERM (-2: "
                  "sanitizer report)", status);
    tandem_start();
}

/* Returns 0 when the fault was skipped (no replica online to fail over
 * to within 30 s). */
static int
fault_primary(int primary)
{
    long long deadline = replcheck_now_ms() + 30000;
    long long t0;
    int online = 0;
    int now;
    int ms;
    int i;
    char cmdline[400];

    for (;;) {
        online = 0;
        for (i = 0; i < NSERVERS; i++) {
            char st[32];

            if (i == primary) {
                continue;
            }
            replica_state(i, st, sizeof(st));
            online += strcmp(st, "online") == 0;
        }
        if (online > 0 || replcheck_now_ms() >= deadline) {
            break;
        }
        replcheck_sleep_ms(100);
    }
    if (online == 0) {
        printf("soak: primary kill skipped: no replica online\n");
        S.primary_skipped++;
        return 0;
    }
    S.primary_with_one += online == 1;
    printf("soak: kill the primary, server %d (port %d), %d replica(s) "
           "online\n", primary, S.server[primary].port, online);
    t0 = replcheck_now_ms();
    server_kill(primary);
    deadline = t0 + 30000;
    for (;;) {
        now = server_of_port(primary_port());
        if (now >= 0 && now != primary) {
            break;
        }
        if (replcheck_now_ms() >= deadline) {
            dump_logs();
            ck_abort_msg("no failover within 30 s of the primary's kill");
        }
        replcheck_sleep_ms(50);
    }
    ms = soak_rand(1000, 3000);
    printf("soak: failover to server %d (port %d) after %lld ms; the old "
           "primary back empty in %d ms\n", now, S.server[now].port,
           replcheck_now_ms() - t0, ms);
    replcheck_sleep_ms(ms);
    /* Back without its data: the AOF and any RDB removed. */
    snprintf(cmdline, sizeof(cmdline),
             "rm -rf '%s/appendonlydir' '%s/dump.rdb'",
             S.server[primary].dir, S.server[primary].dir);
    ck_assert_int_eq(system(cmdline), 0);
    server_restart(primary);
    return 1;
}

/* ---- the soak ---------------------------------------------------------- */

static void
soak_setup(void)
{
    FILE *f;
    const char *s;
    int i;

    memset(&S, 0, sizeof(S));
    pthread_mutex_init(&S.lock, NULL);
    s = getenv("TANDEM_SOAK_SEED");
    S.seed = s != NULL ? (unsigned int)strtoul(s, NULL, 10)
                       : (unsigned int)(time(NULL) ^ (getpid() << 8));
    S.prng = S.seed;
    snprintf(S.dir, sizeof(S.dir), "/tmp/tandem-test-soak-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(S.dir));
    snprintf(S.conf, sizeof(S.conf), "%s/tandem.conf", S.dir);
    for (i = 0; i < NSERVERS; i++) {
        ck_assert_int_eq(harness_start_redis(&S.server[i], aof_args), 0);
        snprintf(S.spec[i], sizeof(S.spec[i]), "127.0.0.1:%d",
                 S.server[i].port);
    }
    S.tandem_port = harness_free_port();
    f = fopen(S.conf, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "# test_soak: rewritten by tandem on failover\n"
            "port %d\nprimary %s\nreplica %s\nreplica %s\n"
            "failover-after 1000\nbacklog-size 1mb\nloglevel verbose\n",
            S.tandem_port, S.spec[0], S.spec[1], S.spec[2]);
    fclose(f);
    S.ledger_cap = 4000000;
    S.acked = calloc((size_t)S.ledger_cap, 1);
    ck_assert_ptr_nonnull(S.acked);
}

static void
soak_teardown(void)
{
    char cmdline[320];
    int i;

    for (i = 0; i < NSERVERS; i++) {
        harness_signal(&S.server[i], SIGCONT);
    }
    if (S.tandem.pid > 0) {
        harness_stop(&S.tandem);
    }
    for (i = 0; i < NSERVERS; i++) {
        harness_stop(&S.server[i]);
    }
    if (S.dir[0] != '\0' && getenv("TANDEM_KEEP_TEST_DIRS") == NULL) {
        snprintf(cmdline, sizeof(cmdline), "rm -rf '%s'", S.dir);
        if (system(cmdline) != 0) {
            fprintf(stderr, "could not remove %s\n", S.dir);
        }
    }
    free(S.acked);
}

static int
soak_seconds(void)
{
    const char *s = getenv("TANDEM_SOAK_SECONDS");
    int n = s != NULL ? atoi(s) : 90;

    return n > 0 ? n : 90;
}

/* Every acknowledged ledger entry on the server on port, with its value.
 * Returns the number verified; missing gets the first missing one. */
static long
verify_ledger(int port, long *acked, char *missing, size_t len)
{
    redisContext *c = harness_connect(port);
    long verified = 0;
    long n;

    *acked = 0;
    missing[0] = '\0';
    for (n = 0; n < S.ledger_next; n += 256) {
        long m = n + 256 < S.ledger_next ? n + 256 : S.ledger_next;
        long j;

        for (j = n; j < m; j++) {
            redisAppendCommand(c, "GET ledger:%ld", j);
        }
        for (j = n; j < m; j++) {
            redisReply *r = NULL;

            ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
            if (S.acked[j]) {
                (*acked)++;
                if (r->type == REDIS_REPLY_STRING && atol(r->str) == j) {
                    verified++;
                } else if (missing[0] == '\0') {
                    snprintf(missing, len, "ledger:%ld is %s", j,
                             r->type == REDIS_REPLY_STRING ? r->str
                                                           : "(nil)");
                }
            }
            freeReplyObject(r);
        }
    }
    redisFree(c);
    return verified;
}

START_TEST(test_soak_faults_under_load)
{
    int seconds = soak_seconds();
    long long t0, end;
    long long writes = 0, errs = 0, ioerrs = 0;
    long acked, verified;
    char missing[256];
    char report[4096];
    int primary;
    int order[FAULT_KINDS];
    int k = FAULT_KINDS;
    int status;
    int i;

    soak_setup();
    printf("soak: seed %u (TANDEM_SOAK_SEED=%u replays the fault "
           "sequence), %d s, servers %d %d %d, tandem %d, dir %s\n", S.seed,
           S.seed, seconds, S.server[0].port, S.server[1].port,
           S.server[2].port, S.tandem_port, S.dir);
    fflush(stdout);
    tandem_start();
    if (replcheck_wait_synced(S.tandem_port, 20000, report,
                              sizeof(report)) != 0) {
        dump_logs();
        ck_abort_msg("replicas not online within 20 s: %s", report);
    }

    t0 = replcheck_now_ms();
    for (i = 0; i < SOAK_WRITERS; i++) {
        S.writer[i].id = i;
        S.writer[i].seed = S.seed * 31u + (unsigned int)i;
        ck_assert_int_eq(pthread_create(&S.writer[i].thread, NULL,
                                        writer_main, &S.writer[i]), 0);
    }
    S.ledger.id = SOAK_WRITERS;
    ck_assert_int_eq(pthread_create(&S.ledger.thread, NULL, ledger_main,
                                    &S.ledger), 0);

    end = t0 + (long long)seconds * 1000;
    while (replcheck_now_ms() < end) {
        enum fault f;

        replcheck_sleep_ms(soak_rand(500, 3000));
        if (replcheck_now_ms() >= end) {
            break;
        }
        if (k == FAULT_KINDS) {
            /* A new round: every kind once, in a random order. */
            for (i = 0; i < FAULT_KINDS; i++) {
                order[i] = i;
            }
            for (i = FAULT_KINDS - 1; i > 0; i--) {
                int j = soak_rand(0, i);
                int t = order[i];

                order[i] = order[j];
                order[j] = t;
            }
            k = 0;
        }
        f = (enum fault)order[k++];
        primary = current_primary();
        printf("soak: %5.1f s: %s\n", (replcheck_now_ms() - t0) / 1000.0,
               fault_names[f]);
        fflush(stdout);
        switch (f) {
        case FAULT_STOP:
            fault_stop(primary);
            break;
        case FAULT_KILL:
            fault_kill(primary);
            break;
        case FAULT_OVERFLOW:
            fault_overflow(primary);
            break;
        case FAULT_RESTART:
            fault_restart();
            break;
        case FAULT_PRIMARY:
            if (!fault_primary(primary)) {
                continue;
            }
            break;
        default:
            break;
        }
        S.faults[f]++;
        fflush(stdout);
    }

    /* The end: load off, everyone back, then the checks. */
    __atomic_store_n(&S.stop_load, 1, __ATOMIC_SEQ_CST);
    for (i = 0; i < SOAK_WRITERS; i++) {
        pthread_join(S.writer[i].thread, NULL);
        writes += S.writer[i].commands;
        errs += S.writer[i].error_replies;
        ioerrs += S.writer[i].io_errors;
    }
    pthread_join(S.ledger.thread, NULL);
    printf("soak: load stopped after %.1f s\n",
           (replcheck_now_ms() - t0) / 1000.0);
    /* Short TTLs run out, then every replica online, nothing to catch
     * up. */
    replcheck_sleep_ms((SOAK_SHORT_TTL_S + 1) * 1000);
    if (replcheck_wait_synced(S.tandem_port, 120000, report,
                              sizeof(report)) != 0) {
        dump_logs();
        ck_abort_msg("seed %u: replicas not in sync within 120 s of the "
                     "end of the load: %s", S.seed, report);
    }
    primary = current_primary();

    verified = verify_ledger(S.server[primary].port, &acked, missing,
                             sizeof(missing));
    printf("soak: ledger: %ld SET, %ld acknowledged by WAIT 1, %ld on the "
           "final primary (port %d)\n", S.ledger_next, acked, verified,
           S.server[primary].port);
    if (verified != acked) {
        dump_logs();
    }
    ck_assert_msg(verified == acked, "seed %u: %ld of %ld acknowledged "
                  "ledger entries lost; first: %s", S.seed,
                  acked - verified, acked, missing);
    ck_assert_msg(S.stale_reads == 0, "seed %u: %ld reads of an "
                  "acknowledged ledger entry, on the writer's connection, "
                  "did not see it; first: %s", S.seed, S.stale_reads,
                  S.first_stale);

    for (i = 0; i < NSERVERS; i++) {
        struct replcheck_stats st;
        int d;

        if (i == primary) {
            continue;
        }
        d = replcheck_compare_ex(S.server[primary].port, S.server[i].port,
                                 &st, report, sizeof(report));
        printf("soak: server %d (port %d) vs the primary: %s\n", i,
               S.server[i].port, report);
        if (d != 0) {
            dump_logs();
        }
        ck_assert_msg(d == 0, "seed %u: server %d differs from the primary "
                      "%d: %s", S.seed, i, primary, report);
    }

    ck_assert_msg(kill(S.tandem.pid, 0) == 0 &&
                      waitpid(S.tandem.pid, NULL, WNOHANG) == 0,
                  "tandem is not running at the end");
    {
        int failovers = replcheck_count_in_file(S.tandem.log,
                                                "Failover done:");
        /* Each clean restart found its mark and went on with the same
         * stream (shutdown.h): its replicas were not seeded for it. */
        int continued = replcheck_count_in_file(S.tandem.log,
                                                "Clean-shutdown mark found "
                                                "on the primary: "
                                                "continuing stream");
        int seeds[NSERVERS];
        int continues[NSERVERS];
        char needle[160];
        long long el = replcheck_now_ms() - t0;

        for (i = 0; i < NSERVERS; i++) {
            seeds[i] = replcheck_seeded_lines(S.tandem.log, S.spec[i], NULL);
            snprintf(needle, sizeof(needle), "Replica %s continues from "
                     "offset", S.spec[i]);
            continues[i] = replcheck_count_in_file(S.tandem.log, needle);
        }
        status = tandem_stop();
        if (status != 0) {
            harness_dump_log(&S.tandem);
        }
        ck_assert_msg(status == 0, "tandem exited with %d on SIGTERM at the "
                      "end (-2: sanitizer report)", status);
        ck_assert_msg(continued == S.faults[FAULT_RESTART], "seed %u: %d of "
                      "%ld clean restarts continued the stream", S.seed,
                      continued, S.faults[FAULT_RESTART]);
        printf("soak: %ld ledger reads missed their write\n",
               S.stale_reads);
        printf("soak: errors seen by the load:\n");
        for (i = 0; i < SOAK_ERRKINDS && S.errkinds[i].text[0] != '\0';
             i++) {
            printf("soak:   %6ld  %s\n", S.errkinds[i].count,
                   S.errkinds[i].text);
        }
        printf("soak: SUMMARY seed %u, %.1f s: faults stop %ld, kill %ld, "
               "overflow %ld, restart %ld (%d continued the stream), "
               "primary %ld (%ld skipped, %ld with one replica online); "
               "%lld replies to %d writers "
               "(%lld error replies, %lld lost connections), ledger %ld "
               "acknowledged / %ld verified of %ld; %d failovers; seeds "
               "%d/%d/%d, partial resyncs %d/%d/%d (servers 0/1/2); final "
               "primary server %d; 0 differences\n", S.seed, el / 1000.0,
               S.faults[FAULT_STOP], S.faults[FAULT_KILL],
               S.faults[FAULT_OVERFLOW], S.faults[FAULT_RESTART],
               continued, S.faults[FAULT_PRIMARY], S.primary_skipped,
               S.primary_with_one, writes, SOAK_WRITERS, errs, ioerrs,
               acked, verified, S.ledger_next, failovers, seeds[0],
               seeds[1], seeds[2], continues[0], continues[1],
               continues[2], primary);
        fflush(stdout);
    }
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("soak");

    harness_add_case(s, "soak", test_soak_faults_under_load, NULL,
                     soak_teardown, soak_seconds() + 400);
    return harness_run_suite(s);
}
