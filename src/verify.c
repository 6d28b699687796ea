/*
 * verify.c -- the background verifier (DESIGN I12 c); see verify.h.
 *
 * One pass walks the primary, then each replica, one batch at a time:
 *
 *   SCAN (pipe, or the replica's verifier connection)
 *     -> keys of one db
 *   FINGERPRINT on the pipe                    reply: offset O, window opens
 *     -> for each replica compared: wait until acked >= O, then
 *   FINGERPRINT on the replica's verifier connection
 *     -> compare each key whose window is clean; the rest, and first-time
 *        differences, form the next batch (a re-check)
 *   second clean difference -> transfer_key() into the stream
 *
 * Why a clean window means a real difference: the primary's answer is
 * exactly the state at stream offset O (every write before it in the
 * pipe was teed before its reply came). The replica answers with a state
 * at some offset >= O (it acknowledged O before it was asked) and at most
 * what had been appended when its answer arrived; every unit appended
 * after O was looked at for the batch's keys. A key none of those units
 * touched holds the same value at both points. What is not yet in the
 * stream at O but applied on the primary (a script's effects, transferred
 * after its reply) is in the stream before the re-check's point: hence
 * the confirmation.
 *
 * The verifier never writes on a replica link or its read connection: each
 * replica gets a small connection of its own for the pass (SCAN, SELECT
 * and the read-only script). Pace: verify-max-keys-per-sec, a token
 * bucket that holds at most one second's worth and starts empty.
 */
#include "verify.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdtable.h"
#include "conn.h"
#include "fifo.h"
#include "keyset.h"
#include "log.h"
#include "pipe.h"
#include "replica.h"
#include "resp.h"
#include "server.h"
#include "stream.h"
#include "transfer.h"

#define VERIFY_BATCH 100              /* keys per batch at most */
#define VERIFY_TICK_S 0.01            /* how often acks are looked at */
#define VERIFY_WAIT_MS 10000          /* a replica's answer, at most */
#define VERIFY_MAX_ATTEMPTS 8         /* reads of a key kept busy */
#define VERIFY_EXPIRY_GRACE_MS 2000   /* "due" expiry: left to expire */
#define VERIFY_MAX_TARGETS 64         /* replicas compared (a bit mask) */

/*
 * The fingerprint script, the same on both sides. ARGV[1] "full": type,
 * digest and PEXPIRETIME of each key; otherwise type and PEXPIRETIME only
 * (the replica walk looks for keys the primary lacks). The digest of a
 * set, hash or zset is a sum of the elements' SHA1s (mod 2^24 in five
 * lanes), so it does not depend on the order the encoding yields them in;
 * lists and streams are chained in their order; scores are normalized.
 */
static const char fingerprint_lua[] =
    "local full = ARGV[1] == 'full'\n"
    "local M = 16777216\n"
    "local function lp(s) s = tostring(s) return #s .. ':' .. s end\n"
    "local function acc(a, s)\n"
    "  local h = redis.sha1hex(s)\n"
    "  for j = 0, 4 do\n"
    "    a[j + 1] = (a[j + 1] + tonumber(string.sub(h, j * 6 + 1,\n"
    "                j * 6 + 6), 16)) % M\n"
    "  end\n"
    "end\n"
    "local function sum(a, n)\n"
    "  return string.format('%d:%06x%06x%06x%06x%06x', n, a[1], a[2],\n"
    "                       a[3], a[4], a[5])\n"
    "end\n"
    "local function score(s)\n"
    "  local n = tonumber(s)\n"
    "  if n == nil then return s end\n"
    "  return string.format('%.17g', n)\n"
    "end\n"
    "local out = {}\n"
    "for i = 1, #KEYS do\n"
    "  local k = KEYS[i]\n"
    "  local t = redis.call('TYPE', k)['ok']\n"
    "  local d = ''\n"
    "  if full and t ~= 'none' then\n"
    "    if t == 'string' then\n"
    "      d = redis.sha1hex(redis.call('GET', k))\n"
    "    elseif t == 'list' then\n"
    "      local n = redis.call('LLEN', k)\n"
    "      local h = ''\n"
    "      for s = 0, n - 1, 1000 do\n"
    "        for _, e in ipairs(redis.call('LRANGE', k, s, s + 999)) do\n"
    "          h = redis.sha1hex(h .. lp(e))\n"
    "        end\n"
    "      end\n"
    "      d = n .. ':' .. h\n"
    "    elseif t == 'set' then\n"
    "      local a = {0, 0, 0, 0, 0}\n"
    "      local m = redis.call('SMEMBERS', k)\n"
    "      for _, e in ipairs(m) do acc(a, e) end\n"
    "      d = sum(a, #m)\n"
    "    elseif t == 'hash' then\n"
    "      local a = {0, 0, 0, 0, 0}\n"
    "      local m = redis.call('HGETALL', k)\n"
    "      for j = 1, #m, 2 do acc(a, lp(m[j]) .. m[j + 1]) end\n"
    "      d = sum(a, #m / 2)\n"
    "    elseif t == 'zset' then\n"
    "      local a = {0, 0, 0, 0, 0}\n"
    "      local m = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')\n"
    "      for j = 1, #m, 2 do acc(a, lp(m[j]) .. score(m[j + 1])) end\n"
    "      d = sum(a, #m / 2)\n"
    "    elseif t == 'stream' then\n"
    "      local h = ''\n"
    "      for _, e in ipairs(redis.call('XRANGE', k, '-', '+')) do\n"
    "        h = h .. lp(e[1])\n"
    "        for _, f in ipairs(e[2]) do h = h .. lp(f) end\n"
    "        h = redis.sha1hex(h)\n"
    "      end\n"
    "      local x = redis.call('XINFO', 'STREAM', k)\n"
    "      for j = 1, #x, 2 do\n"
    "        local f = x[j]\n"
    "        if f == 'length' or f == 'last-generated-id' or\n"
    "           f == 'max-deleted-entry-id' or f == 'entries-added' then\n"
    "          h = h .. lp(f) .. lp(x[j + 1])\n"
    "        end\n"
    "      end\n"
    "      for _, g in ipairs(redis.call('XINFO', 'GROUPS', k)) do\n"
    "        for j = 1, #g, 2 do\n"
    "          local f = g[j]\n"
    "          if f == 'name' or f == 'pending' or\n"
    "             f == 'last-delivered-id' or f == 'entries-read' then\n"
    "            h = h .. lp(f) .. lp(g[j + 1])\n"
    "          end\n"
    "        end\n"
    "      end\n"
    "      d = redis.sha1hex(h)\n"
    "    else\n"
    "      d = redis.sha1hex(redis.call('DUMP', k))\n"
    "    end\n"
    "  end\n"
    "  out[#out + 1] = t\n"
    "  out[#out + 1] = d\n"
    "  out[#out + 1] = redis.call('PEXPIRETIME', k)\n"
    "end\n"
    "return out\n";

/* One key's fingerprint. */
struct fingerprint {
    char      type[24];
    char      digest[64];
    long long expiry;       /* PEXPIRETIME: -1 none, -2 no key */
};

/* A key of the batch. */
struct vkey {
    char               *key;
    size_t             len;
    int                attempts;    /* reads so far */
    uint64_t           suspect;     /* targets where it differed once */
    uint64_t           confirmed;   /* targets where it differed twice */
    uint64_t           recheck;     /* targets to read again */
    struct fingerprint primary;
    const char         *what;       /* how it differed (for the log) */
};

/* A call on a verifier connection awaiting its reply. */
struct vcall {
    void     (*fn)(size_t target, uint64_t seq, const char *reply,
                   size_t len);
    uint64_t seq;
};

/* A replica taking part in the pass. */
struct vtarget {
    const struct replica *r;
    struct conn          conn;
    struct buf           out;
    struct fifo          calls;       /* struct vcall */
    long long            db;          /* selected on conn */
    int                  healthy;     /* answered PING */
    int                  gone;        /* left the pass */
    /* In the batch: */
    int                  in_batch;
    int                  asked;
    int                  answered;
    uint64_t             seeds;       /* r->seeds when asked */
};

enum batch_step {
    STEP_NONE,          /* no batch */
    STEP_SCAN,          /* SCAN in flight */
    STEP_PRIMARY,       /* the primary's fingerprints in flight */
    STEP_REPLICAS,      /* waiting for acks and the replicas' answers */
    STEP_REPAIR         /* transfers in flight */
};

static struct {
    int             running;
    int             stopped;          /* the last pass did not finish */
    char            why[160];         /* why it stopped */
    uint64_t        seq;              /* tags every call of a batch */
    int64_t         started_ms;
    int64_t         finished_ms;
    int64_t         last_end_ms;      /* for verify-interval */
    uint64_t        passes;
    /* this pass */
    uint64_t        checked;
    uint64_t        differences;
    uint64_t        repairs;
    uint64_t        skipped;
    uint64_t        rechecks;
    /* the walk: -1 the primary, else targets[walk] */
    int             walk;
    long long       db;
    char            cursor[32];
    double          tokens;
    int64_t         tokens_ms;
    /* the batch */
    enum batch_step step;
    long long       bdb;
    int             bwalk;
    int             full;
    struct vkey     *keys;
    size_t          nkeys;
    uint64_t        offset;           /* the primary's point */
    int64_t         asked_ms;
    struct keyset   members;          /* the batch's keys */
    struct keyset   touched;          /* ... touched after offset */
    int             all_touched;
    size_t          transfers;        /* repairs in flight */
    struct vkey     *after;           /* re-check that waits for them */
    size_t          nafter;
    /* replicas */
    struct vtarget  *targets;
    size_t          ntargets;
    int             closing;          /* connections to close */
    ev_timer        tick;
} V;

static void advance(void);
static void finish(const char *stopped_why);
static void ask_replicas(void);
static void install_recheck(struct vkey *again, size_t nagain);

/* ---- pace -------------------------------------------------------- */

static uint64_t
budget(void)
{
    double rate = (double)srv.cfg.verify_max_keys_per_sec;
    int64_t now = td_mstime();

    if (rate <= 0) {
        return UINT64_MAX;
    }
    V.tokens += rate * (double)(now - V.tokens_ms) / 1000.0;
    V.tokens_ms = now;
    if (V.tokens > rate) {
        V.tokens = rate;
    }
    return V.tokens >= 1 ? (uint64_t)V.tokens : 0;
}

static void
spend(size_t keys)
{
    if (srv.cfg.verify_max_keys_per_sec > 0) {
        V.tokens -= (double)keys;
    }
}

/* Keys a batch wants from the budget before it may start. */
static uint64_t
batch_need(void)
{
    long long rate = srv.cfg.verify_max_keys_per_sec;

    return rate > 0 && rate < VERIFY_BATCH ? (uint64_t)rate : VERIFY_BATCH;
}

/* ---- the verifier connections --------------------------------------- */

static void
target_send(struct vtarget *t, size_t argc, const struct resp_arg *argv,
            void (*fn)(size_t, uint64_t, const char *, size_t), uint64_t seq)
{
    struct vcall call = {fn, seq};

    resp_add_command(&t->out, argc, argv);
    fifo_push(&t->calls, &call);
}

static void
target_flush(struct vtarget *t)
{
    while (t->out.len > 0 && t->conn.state != CONN_DOWN &&
           t->conn.state != CONN_CONNECTING) {
        struct iovec iov = {buf_head(&t->out), t->out.len};
        ssize_t n = conn_writev(&t->conn, &iov, 1);

        if (n <= 0) {
            break;
        }
        buf_consume(&t->out, (size_t)n);
    }
    if (t->conn.state != CONN_DOWN && t->conn.state != CONN_CONNECTING) {
        conn_want_write(&t->conn, t->out.len > 0);
    }
}

/* Selects db on the connection when needed. */
static void
target_select(struct vtarget *t, long long db)
{
    char num[24];
    struct resp_arg argv[2] = {{"SELECT", 6}, {num, 0}};

    if (t->db == db) {
        return;
    }
    argv[1].len = (size_t)snprintf(num, sizeof(num), "%lld", db);
    target_send(t, 2, argv, NULL, 0);
    t->db = db;
}

static size_t
target_index(const struct vtarget *t)
{
    return (size_t)(t - V.targets);
}

static void
on_target_connected(struct conn *c)
{
    struct vtarget *t = c->owner;
    const struct backend_addr *a = replica_address(t->r);
    const char *user = a->user != NULL ? a->user : srv.cfg.backend_user;
    const char *pass = a->password != NULL ? a->password
                                           : srv.cfg.backend_password;
    struct resp_arg ping[1] = {{"PING", 4}};

    t->db = 0;
    if (pass != NULL && pass[0] != '\0') {
        struct resp_arg auth[3] = {{"AUTH", 4},
                                   {user != NULL && user[0] != '\0'
                                        ? user : "default", 0},
                                   {pass, strlen(pass)}};

        auth[1].len = strlen(auth[1].ptr);
        target_send(t, 3, auth, NULL, 0);
    }
    target_send(t, 1, ping, NULL, 0);
    target_flush(t);
}

static void
on_target_reply(struct conn *c, const char *reply, size_t len)
{
    struct vtarget *t = c->owner;
    struct vcall call;

    if (t->calls.count == 0) {
        conn_fail(c, "reply with no request");
        return;
    }
    fifo_pop(&t->calls, &call);
    if (call.fn == NULL) {
        /* AUTH, PING or SELECT */
        if (reply[0] == '-') {
            char why[256];

            snprintf(why, sizeof(why), "refused: %.*s",
                     (int)TD_MIN(len - 2, 200), reply + 1);
            conn_fail(c, why);
            return;
        }
        if (!t->healthy && len >= 5 && memcmp(reply, "+PONG", 5) == 0) {
            t->healthy = 1;
            conn_up(c);
        }
        return;
    }
    call.fn(target_index(t), call.seq, reply, len);
}

static void
on_target_writable(struct conn *c)
{
    target_flush(c->owner);
}

static void
on_target_down(struct conn *c, const char *why, int was_up)
{
    struct vtarget *t = c->owner;
    size_t i = target_index(t);
    struct fifo calls = t->calls;

    t->healthy = 0;
    t->db = 0;
    buf_clear(&t->out);
    /* The callbacks may send again on this target: they see an empty
     * queue, and the old one is answered from here. */
    fifo_init(&t->calls, sizeof(struct vcall));
    while (calls.count > 0) {
        struct vcall call;

        fifo_pop(&calls, &call);
        if (call.fn != NULL) {
            call.fn(i, call.seq, NULL, 0);
        }
    }
    fifo_free(&calls);
    if (was_up && V.running && !srv.shutdown_asap) {
        log_warning("Verifier: connection to replica %s lost (%s)",
                    replica_address(t->r)->spec, why);
    }
}

static const struct conn_ops target_ops = {
    on_target_connected,
    on_target_reply,
    on_target_writable,
    on_target_down,
};

static void
close_targets(void)
{
    size_t i;

    for (i = 0; i < V.ntargets; i++) {
        struct vtarget *t = &V.targets[i];

        t->conn.retry = 0;
        if (t->conn.state != CONN_DOWN) {
            conn_fail(&t->conn, "closed");
        }
        conn_free(&t->conn);
        buf_free(&t->out);
        fifo_free(&t->calls);
    }
    free(V.targets);
    V.targets = NULL;
    V.ntargets = 0;
}

/* Is the replica still configured, online, not being seeded? */
static int
target_online(const struct vtarget *t)
{
    size_t i;

    if (t->gone) {
        return 0;
    }
    for (i = 0; i < replica_total(); i++) {
        if (replica_at(i) == t->r) {
            return t->r->state == REPLICA_ONLINE && !t->r->seed.active;
        }
    }
    return 0;
}

/* ---- the batch ---------------------------------------------------- */

static void
batch_clear(void)
{
    size_t i;

    for (i = 0; i < V.nkeys; i++) {
        free(V.keys[i].key);
    }
    free(V.keys);
    V.keys = NULL;
    V.nkeys = 0;
    keyset_clear(&V.members);
    keyset_clear(&V.touched);
    V.all_touched = 0;
    V.step = STEP_NONE;
    V.transfers = 0;
    V.seq++;
}

static int
parse_fingerprints(const char *reply, size_t len, size_t n,
                   struct fingerprint *out)
{
    redisReply *rr = resp_read_reply(reply, len);
    size_t i;

    if (rr == NULL || rr->type != REDIS_REPLY_ARRAY ||
        rr->elements != n * 3) {
        if (rr != NULL) {
            freeReplyObject(rr);
        }
        return 0;
    }
    for (i = 0; i < n; i++) {
        redisReply *ty = rr->element[i * 3];
        redisReply *dg = rr->element[i * 3 + 1];
        redisReply *ex = rr->element[i * 3 + 2];

        if (ty->type != REDIS_REPLY_STRING ||
            dg->type != REDIS_REPLY_STRING ||
            ex->type != REDIS_REPLY_INTEGER) {
            freeReplyObject(rr);
            return 0;
        }
        snprintf(out[i].type, sizeof(out[i].type), "%.*s",
                 (int)TD_MIN(ty->len, sizeof(out[i].type) - 1), ty->str);
        snprintf(out[i].digest, sizeof(out[i].digest), "%.*s",
                 (int)TD_MIN(dg->len, sizeof(out[i].digest) - 1), dg->str);
        out[i].expiry = ex->integer;
    }
    freeReplyObject(rr);
    return 1;
}

/* The fingerprint command for the batch's keys. */
static void
fingerprint_command(struct buf *b)
{
    size_t argc = 4 + V.nkeys;
    struct resp_arg *argv = td_calloc(argc, sizeof(*argv));
    char num[24];
    size_t i;

    argv[0].ptr = "EVAL_RO";
    argv[0].len = 7;
    argv[1].ptr = fingerprint_lua;
    argv[1].len = sizeof(fingerprint_lua) - 1;
    argv[2].ptr = num;
    argv[2].len = (size_t)snprintf(num, sizeof(num), "%zu", V.nkeys);
    for (i = 0; i < V.nkeys; i++) {
        argv[3 + i].ptr = V.keys[i].key;
        argv[3 + i].len = V.keys[i].len;
    }
    argv[3 + V.nkeys].ptr = V.full ? "full" : "types";
    argv[3 + V.nkeys].len = V.full ? 4 : 5;
    resp_add_command(b, argc, argv);
    free(argv);
}

static int
expiry_due(long long expiry, int64_t now)
{
    return expiry >= 0 && expiry <= now + VERIFY_EXPIRY_GRACE_MS;
}

/* How a replica's fingerprint differs from the primary's, or NULL. */
static const char *
difference(const struct fingerprint *p, const struct fingerprint *r,
           int full)
{
    int64_t now = td_mstime();

    if (expiry_due(p->expiry, now) || expiry_due(r->expiry, now)) {
        return NULL;    /* left to expire on both sides */
    }
    if (!full) {
        /* The replica walk: only keys the primary does not have. */
        return strcmp(p->type, "none") == 0 && strcmp(r->type, "none") != 0
                   ? "only on the replica" : NULL;
    }
    if (strcmp(p->type, r->type) != 0) {
        return strcmp(r->type, "none") == 0
                   ? "missing on the replica"
                   : (strcmp(p->type, "none") == 0 ? "only on the replica"
                                                   : "type");
    }
    if (strcmp(p->digest, r->digest) != 0) {
        return "value";
    }
    if (p->expiry != r->expiry) {
        return "expiry";
    }
    return NULL;
}

static void
on_repaired(void *ctx, enum transfer_status status, long long db,
            const char *key, size_t klen, const char *cmd, size_t len,
            size_t dump_bytes)
{
    uint64_t seq = (uint64_t)(uintptr_t)ctx;

    if (!V.running || seq != V.seq) {
        return;
    }
    if (status == TRANSFER_DONE) {
        V.repairs++;
        srv.stats.verify_repairs++;
    } else {
        log_warning("Verifier: the repair of a key (db %lld) failed: %s",
                    db, status == TRANSFER_LOST ? "the primary was lost"
                                                : "unexpected DUMP reply");
    }
    if (--V.transfers == 0) {
        struct vkey *after = V.after;

        V.after = NULL;
        install_recheck(after, V.nafter);
    }
}

/* Keys to read again become the next batch (same db, same walk). */
static void
install_recheck(struct vkey *again, size_t nagain)
{
    long long db = V.bdb;
    int walk = V.bwalk;
    int full = V.full;
    size_t i;

    batch_clear();
    if (nagain == 0) {
        free(again);
        advance();
        return;
    }
    V.rechecks += nagain;
    V.keys = again;
    V.nkeys = nagain;
    V.bdb = db;
    V.bwalk = walk;
    V.full = full;
    for (i = 0; i < nagain; i++) {
        keyset_add(&V.members, db, again[i].key, again[i].len);
    }
    advance();    /* STEP_NONE with keys: sent when the pace allows */
}

/* Every answer is in: compare, repair, and keep what must be read again
 * as the next batch. */
static void
evaluate(void)
{
    struct vkey *again = td_calloc(V.nkeys, sizeof(*again));
    size_t nagain = 0;
    size_t i;

    for (i = 0; i < V.nkeys; i++) {
        struct vkey *k = &V.keys[i];
        size_t t;

        if (k->confirmed != 0) {
            for (t = 0; t < V.ntargets; t++) {
                if (k->confirmed & (1ULL << t)) {
                    V.differences++;
                    srv.stats.verify_differences++;
                    log_notice("Verifier: key '%.*s'%s (db %lld) differs on "
                               "replica %s (%s); repairing it",
                               (int)TD_MIN(k->len, 64), k->key,
                               k->len > 64 ? "..." : "", V.bdb,
                               replica_address(V.targets[t].r)->spec,
                               k->what != NULL ? k->what : "value");
                }
            }
            V.transfers++;
            transfer_key_to_stream(V.bdb, k->key, k->len, on_repaired,
                                   (void *)(uintptr_t)V.seq);
            continue;
        }
        if (k->recheck == 0) {
            continue;
        }
        if (k->attempts >= VERIFY_MAX_ATTEMPTS) {
            V.skipped++;
            log_verbose("Verifier: key '%.*s' (db %lld) kept changing; "
                        "not compared", (int)TD_MIN(k->len, 64), k->key,
                        V.bdb);
            continue;
        }
        again[nagain] = *k;
        again[nagain].key = k->key;
        k->key = NULL;
        again[nagain].recheck = 0;
        nagain++;
    }
    if (V.transfers > 0) {
        /* The re-check waits for the repairs (they end this batch). */
        V.after = again;
        V.nafter = nagain;
        V.step = STEP_REPAIR;
        return;
    }
    install_recheck(again, nagain);
}

static void
on_replica_fingerprints(size_t ti, uint64_t seq, const char *reply,
                        size_t len)
{
    struct vtarget *t;
    struct fingerprint *fp;
    int clean_all;
    size_t i;

    if (!V.running || seq != V.seq || V.step != STEP_REPLICAS) {
        return;
    }
    t = &V.targets[ti];
    t->answered = 1;
    fp = td_calloc(V.nkeys, sizeof(*fp));
    if (reply == NULL || !parse_fingerprints(reply, len, V.nkeys, fp) ||
        t->r->seeds != t->seeds || !target_online(t)) {
        if (reply != NULL && reply[0] == '-') {
            log_warning("Verifier: replica %s refused the fingerprint "
                        "script: %.*s", replica_address(t->r)->spec,
                        (int)TD_MIN(len - 2, 200), reply + 1);
        }
        /* Not compared: read again. */
        for (i = 0; i < V.nkeys; i++) {
            V.keys[i].recheck |= 1ULL << ti;
        }
        free(fp);
        ask_replicas();
        return;
    }
    clean_all = !V.all_touched;
    for (i = 0; i < V.nkeys; i++) {
        struct vkey *k = &V.keys[i];
        const char *what;

        if (!clean_all || keyset_has(&V.touched, V.bdb, k->key, k->len)) {
            k->recheck |= 1ULL << ti;
            continue;
        }
        what = difference(&k->primary, &fp[i], V.full);
        if (what == NULL) {
            k->suspect &= ~(1ULL << ti);
        } else if (k->suspect & (1ULL << ti)) {
            k->confirmed |= 1ULL << ti;
            k->what = what;
        } else {
            k->suspect |= 1ULL << ti;
            k->recheck |= 1ULL << ti;
        }
    }
    free(fp);
    ask_replicas();
}

/* Sends the fingerprints to the replicas that have acknowledged the
 * primary's point; gives up on those that take too long. */
static void
ask_replicas(void)
{
    int64_t now = td_mstime();
    size_t pending = 0;
    size_t i;

    for (i = 0; i < V.ntargets; i++) {
        struct vtarget *t = &V.targets[i];

        if (!t->in_batch || t->answered) {
            continue;
        }
        if (!target_online(t) ||
            (!t->asked && now - V.asked_ms > VERIFY_WAIT_MS)) {
            /* Offline, seeding, or not caught up: not compared now. */
            size_t j;

            t->answered = 1;
            for (j = 0; j < V.nkeys; j++) {
                V.keys[j].recheck |= 1ULL << i;
            }
            continue;
        }
        if (!t->asked && t->healthy && t->r->acked >= V.offset) {
            struct buf b;

            buf_init(&b);
            fingerprint_command(&b);
            target_select(t, V.bdb);
            buf_append(&t->out, buf_head(&b), b.len);
            {
                struct vcall call = {on_replica_fingerprints, V.seq};

                fifo_push(&t->calls, &call);
            }
            buf_free(&b);
            t->asked = 1;
            t->seeds = t->r->seeds;
            target_flush(t);
        }
        pending++;
    }
    if (pending == 0) {
        evaluate();
    }
}

static void
on_primary_fingerprints(void *ctx, const char *reply, size_t len)
{
    uint64_t seq = (uint64_t)(uintptr_t)ctx;
    struct fingerprint *fp;
    size_t i;

    if (reply == NULL) {
        if (V.running && seq == V.seq) {
            finish("the primary was lost");
        }
        return;
    }
    if (!V.running || seq != V.seq) {
        return;
    }
    /* The window opens here: the primary's state is the stream's at this
     * offset. */
    V.offset = stream_offset(&srv.stream);
    V.asked_ms = td_mstime();
    keyset_clear(&V.touched);
    V.all_touched = 0;
    fp = td_calloc(V.nkeys, sizeof(*fp));
    if (!parse_fingerprints(reply, len, V.nkeys, fp)) {
        char why[300];

        snprintf(why, sizeof(why), "the fingerprint script failed on the "
                 "primary: %.*s", (int)TD_MIN(len > 2 ? len - 2 : 0, 200),
                 reply);
        free(fp);
        finish(why);
        return;
    }
    for (i = 0; i < V.nkeys; i++) {
        V.keys[i].primary = fp[i];
        V.keys[i].attempts++;
        if (V.keys[i].attempts == 1 &&
            (V.full || strcmp(fp[i].type, "none") == 0)) {
            V.checked++;
            srv.stats.verify_keys_checked++;
        }
    }
    free(fp);
    for (i = 0; i < V.ntargets; i++) {
        struct vtarget *t = &V.targets[i];

        t->in_batch = target_online(t) &&
                      (V.bwalk < 0 || (size_t)V.bwalk == i);
        t->asked = 0;
        t->answered = 0;
    }
    if (!V.full) {
        /* The replica walk: keys the primary has were compared in its
         * walk; they leave the batch. */
        size_t n = 0;

        for (i = 0; i < V.nkeys; i++) {
            if (strcmp(V.keys[i].primary.type, "none") == 0) {
                V.keys[n++] = V.keys[i];
            } else {
                keyset_remove(&V.members, V.bdb, V.keys[i].key,
                              V.keys[i].len);
                free(V.keys[i].key);
            }
        }
        V.nkeys = n;
        if (n == 0) {
            batch_clear();
            advance();
            return;
        }
    }
    V.step = STEP_REPLICAS;
    ask_replicas();
}

/* Sends the batch's fingerprints on the pipe. */
static void
send_batch(void)
{
    struct buf b;

    buf_init(&b);
    fingerprint_command(&b);
    V.step = STEP_PRIMARY;
    pipe_send_internal_db(&srv.pipe, V.bdb, buf_head(&b), b.len,
                          on_primary_fingerprints, (void *)(uintptr_t)V.seq);
    buf_free(&b);
}

/* ---- the walk ------------------------------------------------------ */

static void
next_db(void)
{
    V.db++;
    if (V.db == srv.cfg.meta_db) {
        V.db++;
    }
    strcpy(V.cursor, "0");
    if (V.db >= srv.pipe.databases) {
        /* This walk is over: the next replica's, or the end. */
        V.walk++;
        while ((size_t)V.walk < V.ntargets &&
               !target_online(&V.targets[V.walk])) {
            V.walk++;
        }
        V.db = srv.cfg.meta_db == 0 ? 1 : 0;
    }
}

/* A SCAN's reply: its keys become the batch. */
static void
scanned(uint64_t seq, const char *reply, size_t len)
{
    redisReply *rr;
    size_t i;
    size_t n;

    if (!V.running || seq != V.seq || V.step != STEP_SCAN) {
        return;
    }
    if (reply == NULL) {
        if (V.bwalk < 0) {
            finish("the primary was lost");
        } else {
            /* The replica's walk ends; the rest goes on. */
            V.targets[V.bwalk].gone = 1;
            V.db = srv.pipe.databases;
            next_db();
            batch_clear();
            advance();
        }
        return;
    }
    rr = resp_read_reply(reply, len);
    if (rr == NULL || rr->type != REDIS_REPLY_ARRAY || rr->elements != 2 ||
        rr->element[0]->type != REDIS_REPLY_STRING ||
        rr->element[1]->type != REDIS_REPLY_ARRAY) {
        if (rr != NULL) {
            freeReplyObject(rr);
        }
        if (V.bwalk >= 0) {
            /* e.g. a replica with fewer databases: its walk ends. */
            log_warning("Verifier: SCAN failed on replica %s: %.*s",
                        replica_address(V.targets[V.bwalk].r)->spec,
                        (int)TD_MIN(len - 2, 200), reply);
            V.db = srv.pipe.databases;
            next_db();
            batch_clear();
            advance();
            return;
        }
        finish("SCAN failed on the primary");
        return;
    }
    n = rr->element[1]->elements;
    spend(n);
    snprintf(V.cursor, sizeof(V.cursor), "%s", rr->element[0]->str);
    V.keys = td_calloc(n > 0 ? n : 1, sizeof(*V.keys));
    for (i = 0; i < n; i++) {
        redisReply *k = rr->element[1]->element[i];

        if (k->type != REDIS_REPLY_STRING) {
            continue;
        }
        V.keys[V.nkeys].key = td_strndup(k->str, k->len);
        V.keys[V.nkeys].len = k->len;
        V.nkeys++;
        keyset_add(&V.members, V.bdb, k->str, k->len);
    }
    freeReplyObject(rr);
    if (strcmp(V.cursor, "0") == 0) {
        next_db();
    }
    if (V.nkeys == 0) {
        batch_clear();
        advance();
        return;
    }
    send_batch();
}

static void
on_primary_scan(void *ctx, const char *reply, size_t len)
{
    scanned((uint64_t)(uintptr_t)ctx, reply, len);
}

static void
on_replica_scan(size_t ti, uint64_t seq, const char *reply, size_t len)
{
    scanned(seq, reply, len);
}

static void
issue_scan(uint64_t count)
{
    char num[24];
    struct resp_arg argv[4] = {{"SCAN", 4}, {V.cursor, strlen(V.cursor)},
                               {"COUNT", 5}, {num, 0}};

    argv[3].len = (size_t)snprintf(num, sizeof(num), "%llu",
                                   (unsigned long long)count);
    V.step = STEP_SCAN;
    V.bdb = V.db;
    V.bwalk = V.walk;
    V.full = V.walk < 0;
    if (V.walk < 0) {
        struct buf b;

        buf_init(&b);
        resp_add_command(&b, 4, argv);
        pipe_send_internal_db(&srv.pipe, V.db, buf_head(&b), b.len,
                              on_primary_scan, (void *)(uintptr_t)V.seq);
        buf_free(&b);
    } else {
        struct vtarget *t = &V.targets[V.walk];

        target_select(t, V.db);
        target_send(t, 4, argv, on_replica_scan, V.seq);
        target_flush(t);
    }
}

/* Moves the pass on: the next batch (a re-check first), or the end. */
static void
advance(void)
{
    uint64_t allowed;

    if (!V.running) {
        return;
    }
    if (V.step == STEP_REPLICAS) {
        ask_replicas();
        return;
    }
    if (V.step != STEP_NONE) {
        return;
    }
    if (!pipe_is_up(&srv.pipe)) {
        finish("the primary is not available");
        return;
    }
    allowed = budget();
    if (V.nkeys > 0) {
        /* A re-check is ready. */
        if (allowed >= TD_MIN((uint64_t)V.nkeys, batch_need())) {
            spend(V.nkeys);
            send_batch();
        }
        return;
    }
    if (V.walk >= 0 && (size_t)V.walk >= V.ntargets) {
        if (V.transfers == 0) {
            finish(NULL);
        }
        return;
    }
    if (V.walk >= 0 && !target_online(&V.targets[V.walk])) {
        V.db = srv.pipe.databases;
        next_db();
        advance();
        return;
    }
    if (V.walk >= 0 && !V.targets[V.walk].healthy) {
        return;    /* connecting */
    }
    if (allowed >= batch_need()) {
        issue_scan(batch_need());
    }
}

static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    if (V.closing) {
        V.closing = 0;
        close_targets();
    }
    if (!V.running) {
        ev_timer_stop(srv.loop, &V.tick);
        return;
    }
    advance();
}

/* ---- the pass -------------------------------------------------------- */

static void
finish(const char *stopped_why)
{
    int64_t now = td_mstime();

    if (!V.running) {
        return;
    }
    V.running = 0;
    V.finished_ms = now;
    V.last_end_ms = now;
    V.stopped = stopped_why != NULL;
    snprintf(V.why, sizeof(V.why), "%s",
             stopped_why != NULL ? stopped_why : "");
    batch_clear();
    if (V.after != NULL) {
        size_t i;

        for (i = 0; i < V.nafter; i++) {
            free(V.after[i].key);
        }
        free(V.after);
        V.after = NULL;
    }
    V.closing = 1;    /* on the next tick, off every call stack */
    if (stopped_why != NULL) {
        log_warning("Verifier: pass stopped (%s): %llu keys checked, %llu "
                    "differences, %llu repairs", stopped_why,
                    (unsigned long long)V.checked,
                    (unsigned long long)V.differences,
                    (unsigned long long)V.repairs);
    } else {
        log_notice("Verifier: pass finished in %.1f s: %llu keys checked, "
                   "%llu differences, %llu repairs, %llu keys not compared "
                   "(kept changing), %llu re-reads",
                   (double)(now - V.started_ms) / 1000.0,
                   (unsigned long long)V.checked,
                   (unsigned long long)V.differences,
                   (unsigned long long)V.repairs,
                   (unsigned long long)V.skipped,
                   (unsigned long long)V.rechecks);
    }
}

int
verify_start(char *err, size_t errlen)
{
    size_t i;
    size_t n;

    if (V.running) {
        snprintf(err, errlen, "a verification pass is already running");
        return 0;
    }
    if (!pipe_is_up(&srv.pipe)) {
        snprintf(err, errlen, "the primary is not available");
        return 0;
    }
    if (V.closing) {
        V.closing = 0;
        close_targets();
    }
    if (V.members.slots == NULL) {
        keyset_init(&V.members);
        keyset_init(&V.touched);
        ev_timer_init(&V.tick, tick_cb, VERIFY_TICK_S, VERIFY_TICK_S);
    }
    batch_clear();
    n = TD_MIN(replica_total(), VERIFY_MAX_TARGETS);
    V.targets = td_calloc(n > 0 ? n : 1, sizeof(*V.targets));
    V.ntargets = n;
    for (i = 0; i < n; i++) {
        struct vtarget *t = &V.targets[i];
        const struct backend_addr *a;

        t->r = replica_at(i);
        a = replica_address(t->r);
        buf_init(&t->out);
        fifo_init(&t->calls, sizeof(struct vcall));
        conn_init(&t->conn, "verify", a->host, a->port,
                  a->tls || srv.cfg.tls_replication, &target_ops, t);
        conn_connect(&t->conn);
    }
    V.running = 1;
    V.stopped = 0;
    V.why[0] = '\0';
    V.passes++;
    V.checked = V.differences = V.repairs = V.skipped = V.rechecks = 0;
    V.transfers = 0;
    V.walk = -1;
    V.db = srv.cfg.meta_db == 0 ? 1 : 0;
    strcpy(V.cursor, "0");
    V.tokens = 0;
    V.started_ms = td_mstime();
    V.tokens_ms = V.started_ms;
    V.finished_ms = 0;
    log_notice("Verifier: pass started over the primary and %zu "
               "replica(s), at most %lld keys/s", n,
               srv.cfg.verify_max_keys_per_sec);
    ev_timer_again(srv.loop, &V.tick);
    return 1;
}

int
verify_stop(void)
{
    if (!V.running) {
        return 0;
    }
    finish("stopped by TANDEM CHECK STOP");
    return 1;
}

void
verify_status(struct buf *b)
{
    char line[1024];
    int64_t end = V.running ? td_mstime() : V.finished_ms;
    const char *status = V.passes == 0 ? "never"
                         : V.running   ? "running"
                         : V.stopped   ? "stopped"
                                       : "finished";
    const char *where = "";
    char phase[160];

    phase[0] = '\0';
    if (V.running) {
        if (V.walk < 0) {
            snprintf(phase, sizeof(phase), "primary db%lld", V.db);
        } else if ((size_t)V.walk < V.ntargets) {
            where = replica_address(V.targets[V.walk].r)->spec;
            snprintf(phase, sizeof(phase), "replica %s db%lld", where,
                     V.db);
        } else {
            snprintf(phase, sizeof(phase), "repairs");
        }
    }
    snprintf(line, sizeof(line),
             "verify_status:%s\r\n"
             "verify_phase:%s\r\n"
             "verify_passes:%llu\r\n"
             "verify_keys_checked:%llu\r\n"
             "verify_differences:%llu\r\n"
             "verify_repairs:%llu\r\n"
             "verify_keys_not_compared:%llu\r\n"
             "verify_rereads:%llu\r\n"
             "verify_duration_ms:%lld\r\n"
             "verify_max_keys_per_sec:%lld\r\n"
             "verify_stopped_why:%s\r\n",
             status, phase, (unsigned long long)V.passes,
             (unsigned long long)V.checked,
             (unsigned long long)V.differences,
             (unsigned long long)V.repairs,
             (unsigned long long)V.skipped,
             (unsigned long long)V.rechecks,
             (long long)(V.passes == 0 ? 0 : end - V.started_ms),
             srv.cfg.verify_max_keys_per_sec, V.why);
    buf_append_str(b, line);
}

/* ---- the window ------------------------------------------------------ */

void
verify_on_stream(long long db, const char *p, size_t len)
{
    struct resp_parser parser;
    size_t off = 0;
    int pos[256];

    if (!V.running || V.all_touched || V.step != STEP_REPLICAS) {
        return;
    }
    resp_parser_init(&parser, 1LL << 40);
    while (off < len && !V.all_touched) {
        size_t consumed = 0;
        struct cmd *cmd = NULL;
        long n;
        long i;

        if (resp_parse_request(&parser, p + off, len - off, &consumed) !=
                RESP_COMMAND ||
            cmdtable_lookup(&srv.pipe.table, parser.argc, parser.argv,
                            &cmd) != CMD_FOUND) {
            V.all_touched = 1;
            break;
        }
        off += consumed;
        if (strcmp(cmd->name, "flushall") == 0 ||
            strcmp(cmd->name, "flushdb") == 0 ||
            strcmp(cmd->name, "swapdb") == 0 ||
            strcmp(cmd->name, "move") == 0 ||
            strcmp(cmd->name, "copy") == 0 ||
            strcmp(cmd->name, "select") == 0) {
            /* Keys in other databases, or all of them. */
            V.all_touched = 1;
            break;
        }
        if (db != V.bdb) {
            continue;
        }
        n = cmd_keys(cmd, parser.argc, parser.argv, pos,
                     sizeof(pos) / sizeof(pos[0]));
        if (n < 0 || n > (long)(sizeof(pos) / sizeof(pos[0]))) {
            V.all_touched = 1;
            break;
        }
        for (i = 0; i < n; i++) {
            const struct resp_arg *k = &parser.argv[pos[i]];

            if (keyset_has(&V.members, db, k->ptr, k->len)) {
                keyset_add(&V.touched, db, k->ptr, k->len);
            }
        }
    }
    resp_parser_free(&parser);
}

/* ---- periodic passes and shutdown ------------------------------------ */

void
verify_cron(void)
{
    char err[128];
    int64_t now = td_mstime();

    if (srv.cfg.verify_interval <= 0 || V.running ||
        !pipe_is_up(&srv.pipe) || replica_online_count() == 0) {
        return;
    }
    if (V.last_end_ms == 0) {
        V.last_end_ms = now;    /* the first pass one interval after start */
        return;
    }
    if (now - V.last_end_ms >= srv.cfg.verify_interval * 1000LL &&
        !verify_start(err, sizeof(err))) {
        log_verbose("Verifier: periodic pass not started: %s", err);
    }
}

void
verify_shutdown(void)
{
    if (V.running) {
        finish("shutting down");
    }
    if (V.members.slots != NULL) {
        ev_timer_stop(srv.loop, &V.tick);
    }
    close_targets();
    V.closing = 0;
}
