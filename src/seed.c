/*
 * seed.c -- seeding a replica with DUMP/RESTORE while clients keep
 * writing; see seed.h for the algorithm and why it is exact.
 */
#include "seed.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdtable.h"
#include "log.h"
#include "pipe.h"
#include "replica.h"
#include "scripts.h"
#include "server.h"
#include "transfer.h"
#include "wait.h"

#define SEED_SCAN_COUNT 1000         /* SCAN's COUNT */
#define SEED_MAX_TRANSFERS 4000      /* keys in flight per replica */
#define SEED_LOG_INTERVAL_MS 5000
#define SEED_FLOW_HIGH (8u * 1024 * 1024) /* no new transfers above this */

/* A transfer in flight: DUMP's reply is kept until PEXPIRETIME's. */
/* A key transfer of this replica's seed in flight. */
struct seed_transfer {
    struct replica *r;
    uint64_t       generation;
};

/* A SCAN, FUNCTION DUMP or INFO keyspace in flight. */
struct seed_call {
    struct replica *r;
    uint64_t       generation;
    long long      db;
};

void
seed_init(struct seed *s)
{
    memset(s, 0, sizeof(*s));
    keyset_init(&s->dirty);
    keyset_init(&s->moving);
    buf_init(&s->flow);
}

void
seed_free(struct seed *s)
{
    keyset_free(&s->dirty);
    keyset_free(&s->moving);
    buf_free(&s->flow);
}

static int
current(const struct replica *r, uint64_t generation)
{
    return r->seed.active && r->seed.generation == generation &&
           r->conn.state != CONN_DOWN;
}

/* Appends a command to the flow, selecting db first when needed
 * (db < 0: the command does not care). */
static void
flow_add(struct replica *r, long long db, const char *cmd, size_t len)
{
    struct seed *s = &r->seed;

    if (db >= 0 && db != s->flow_db) {
        char num[24];
        struct resp_arg argv[2] = {{"SELECT", 6}, {num, 0}};

        argv[1].len = (size_t)snprintf(num, sizeof(num), "%lld", db);
        resp_add_command(&s->flow, 2, argv);
        s->replies_pending++;
        s->flow_db = db;
    }
    buf_append(&s->flow, cmd, len);
    s->replies_pending++;
}

static void
flow_add_argv(struct replica *r, long long db, size_t argc,
              const struct resp_arg *argv)
{
    struct buf b;

    buf_init(&b);
    resp_add_command(&b, argc, argv);
    flow_add(r, db, buf_head(&b), b.len);
    buf_free(&b);
}

static void
stamp(struct replica *r, const char *value)
{
    struct resp_arg argv[3] = {{"SET", 3}, {"tandem:stamp", 12},
                               {value, strlen(value)}};

    flow_add_argv(r, srv.cfg.meta_db, 3, argv);
}

static void
send_on_pipe(long long db, pipe_reply_fn fn, void *ctx, size_t argc,
             const struct resp_arg *argv)
{
    struct buf b;

    buf_init(&b);
    resp_add_command(&b, argc, argv);
    pipe_send_internal_db(&srv.pipe, db, buf_head(&b), b.len, fn, ctx);
    buf_free(&b);
}

/* ---- key transfer (I8) ---------------------------------------------- */

/* A transfer's RESTORE (or DEL) enters the replica's flow here, at the
 * stream position of its DUMP. */
static void
on_transferred(void *ctx, enum transfer_status status, long long db,
               const char *key, size_t klen, const char *cmd, size_t len,
               size_t dump_bytes)
{
    struct seed_transfer *t = ctx;
    struct replica *r = t->r;
    struct seed *s = &r->seed;

    /* A lost pipe restarts the seed (a new generation), and a restarted
     * seed has forgotten this transfer. */
    if (status == TRANSFER_LOST || !current(r, t->generation)) {
        free(t);
        return;
    }
    free(t);
    s->transfers_inflight--;
    keyset_remove(&s->moving, db, key, klen);
    keyset_remove(&s->dirty, db, key, klen);
    if (status == TRANSFER_BAD_REPLY) {
        conn_fail(&r->conn, "unexpected DUMP/PEXPIRETIME reply for a key; "
                            "seeding restarts");
        return;
    }
    flow_add(r, db, cmd, len);
    s->bytes += dump_bytes;
    s->keys_done++;
}

static void
transfer(struct replica *r, long long db, const char *key, size_t klen)
{
    struct seed *s = &r->seed;
    struct seed_transfer *t;

    if (!keyset_add(&s->moving, db, key, klen)) {
        return;    /* already on its way */
    }
    t = td_calloc(1, sizeof(*t));
    t->r = r;
    t->generation = s->generation;
    transfer_key(db, key, klen, on_transferred, t);
    s->transfers_inflight++;
}

/* ---- scan ------------------------------------------------------------ */

static void
next_db(struct replica *r)
{
    struct seed *s = &r->seed;

    s->scan_db++;
    if (s->scan_db == srv.cfg.meta_db) {
        s->scan_db++;
    }
    strcpy(s->cursor, "0");
    if (s->scan_db >= srv.pipe.databases) {
        s->scanning = 0;
        log_notice("Seeding replica %s: scan of the primary complete (%llu "
                   "keys sent, %zu dirty)", r->addr->spec,
                   (unsigned long long)s->keys_done, s->dirty.count);
    }
}

/* How many keys the pace limit lets through now (seed-max-keys-per-sec;
 * unlimited when 0). The budget refills continuously and holds at most
 * one second's worth. */
static uint64_t
budget(struct seed *s)
{
    double rate = (double)srv.cfg.seed_max_keys_per_sec;
    int64_t now = td_mstime();

    if (rate <= 0) {
        return UINT64_MAX;
    }
    s->tokens += rate * (double)(now - s->tokens_ms) / 1000.0;
    s->tokens_ms = now;
    if (s->tokens > rate) {
        s->tokens = rate;
    }
    return s->tokens >= 1 ? (uint64_t)s->tokens : 0;
}

static void
spend(struct seed *s, uint64_t keys)
{
    if (srv.cfg.seed_max_keys_per_sec > 0) {
        s->tokens -= (double)keys;
    }
}

static void
on_scan(void *ctx, const char *reply, size_t len)
{
    struct seed_call *call = ctx;
    struct replica *r = call->r;
    struct seed *s = &r->seed;
    redisReply *rr;
    size_t i;

    if (reply == NULL || !current(r, call->generation)) {
        free(call);
        return;
    }
    s->scan_inflight = 0;
    rr = resp_read_reply(reply, len);
    if (rr == NULL || rr->type != REDIS_REPLY_ARRAY || rr->elements != 2 ||
        rr->element[0]->type != REDIS_REPLY_STRING ||
        rr->element[1]->type != REDIS_REPLY_ARRAY) {
        log_warning("Seeding replica %s: SCAN failed on the primary: %.*s",
                    r->addr->spec, (int)TD_MIN(len, 200), reply);
        if (rr != NULL) {
            freeReplyObject(rr);
        }
        free(call);
        conn_fail(&r->conn, "SCAN failed on the primary; seeding restarts");
        return;
    }
    for (i = 0; i < rr->element[1]->elements; i++) {
        redisReply *k = rr->element[1]->element[i];

        transfer(r, call->db, k->str, k->len);
    }
    spend(s, rr->element[1]->elements);
    snprintf(s->cursor, sizeof(s->cursor), "%s", rr->element[0]->str);
    if (strcmp(s->cursor, "0") == 0) {
        next_db(r);
    }
    freeReplyObject(rr);
    free(call);
}

static void
issue_scan(struct replica *r, uint64_t count_limit)
{
    struct seed *s = &r->seed;
    struct seed_call *call = td_calloc(1, sizeof(*call));
    char count[16];
    struct resp_arg argv[4] = {{"SCAN", 4}, {s->cursor, strlen(s->cursor)},
                               {"COUNT", 5}, {count, 0}};

    count_limit = TD_MIN(count_limit, SEED_SCAN_COUNT);
    argv[3].len = (size_t)snprintf(count, sizeof(count), "%llu",
                                   (unsigned long long)count_limit);
    call->r = r;
    call->generation = s->generation;
    call->db = s->scan_db;
    s->scan_inflight = 1;
    send_on_pipe(s->scan_db, on_scan, call, 4, argv);
}

static void
on_functions(void *ctx, const char *reply, size_t len)
{
    struct seed_call *call = ctx;
    struct replica *r = call->r;
    const char *body;

    if (reply != NULL && current(r, call->generation)) {
        r->seed.functions_pending = 0;
        if (reply[0] == '$' && reply[1] != '-' &&
            (body = memchr(reply, '\n', len)) != NULL) {
            size_t plen = len - (size_t)(body + 1 - reply) - 2;
            /* FLUSH: the replica keeps no library the primary lacks
             * (FLUSHALL leaves functions alone). */
            struct resp_arg argv[4] = {{"FUNCTION", 8}, {"RESTORE", 7},
                                       {body + 1, plen}, {"FLUSH", 5}};

            flow_add_argv(r, -1, 4, argv);
        }
    }
    free(call);
}

static void
on_keyspace(void *ctx, const char *reply, size_t len)
{
    struct seed_call *call = ctx;
    struct replica *r = call->r;
    char meta[32];
    const char *p = reply;
    const char *end = reply + len;
    uint64_t total = 0;

    if (reply != NULL && current(r, call->generation)) {
        snprintf(meta, sizeof(meta), "db%lld:", srv.cfg.meta_db);
        while ((p = memmem(p, (size_t)(end - p), "\ndb", 3)) != NULL) {
            const char *keys = memmem(p, (size_t)(end - p), "keys=", 5);

            p++;
            if (keys != NULL && strncmp(p, meta, strlen(meta)) != 0) {
                total += strtoull(keys + 5, NULL, 10);
            }
        }
        r->seed.keys_total = total;
    }
    free(call);
}

static void
call_on_pipe(struct replica *r, pipe_reply_fn fn, size_t argc,
             const struct resp_arg *argv)
{
    struct seed_call *call = td_calloc(1, sizeof(*call));

    call->r = r;
    call->generation = r->seed.generation;
    send_on_pipe(0, fn, call, argc, argv);
}

/* ---- start, stop, progress ---------------------------------------- */

static void
load_script(void *ctx, const char *body, size_t len)
{
    struct resp_arg argv[3] = {{"SCRIPT", 6}, {"LOAD", 4}, {body, len}};

    flow_add_argv(ctx, -1, 3, argv);
}

static void ask_primary(struct replica *r);

void
seed_start(struct replica *r, const char *why)
{
    struct seed *s = &r->seed;
    struct resp_arg flushall[2] = {{"FLUSHALL", 8}, {"ASYNC", 5}};
    uint64_t generation = s->generation + 1;
    uint64_t restarts = s->restarts + (s->generation > 0);

    seed_free(s);
    seed_init(s);
    s->generation = generation;
    s->restarts = restarts;
    s->active = 1;
    s->scanning = 1;
    s->scan_db = srv.cfg.meta_db == 0 ? 1 : 0;
    strcpy(s->cursor, "0");
    s->flow_db = -1;
    s->started_ms = td_mstime();
    s->last_log_ms = s->started_ms;
    s->tokens_ms = s->started_ms;
    log_notice("Seeding replica %s (%s): its data is replaced, as a Redis "
               "replica's on a full sync", r->addr->spec, why);

    /* The replica's old data goes, and a half-seeded replica is never
     * mistaken for an in-sync one. */
    flow_add_argv(r, -1, 2, flushall);
    stamp(r, "seeding");
    /* The scripts tandem has seen loaded, for EVALSHA on the replica. */
    scripts_each(load_script, r);
    s->functions_pending = 1;
}

/* Functions and the key count are asked for once the pipe is up. */
static void
ask_primary(struct replica *r)
{
    struct resp_arg fdump[2] = {{"FUNCTION", 8}, {"DUMP", 4}};
    struct resp_arg keyspace[2] = {{"INFO", 4}, {"keyspace", 8}};

    r->seed.asked = 1;
    call_on_pipe(r, on_functions, 2, fdump);
    call_on_pipe(r, on_keyspace, 2, keyspace);
}

void
seed_stop(struct replica *r)
{
    struct seed *s = &r->seed;

    if (!s->active) {
        return;
    }
    /* Callbacks still in the pipe see another generation and let go. */
    s->generation++;
    s->active = 0;
    s->finishing = 0;
    s->transfers_inflight = 0;
    s->scan_inflight = 0;
    keyset_clear(&s->dirty);
    keyset_clear(&s->moving);
    buf_clear(&s->flow);
    s->flow_written = 0;
    s->replies_pending = 0;
}

void
seed_describe(const struct replica *r, char *dst, size_t len)
{
    const struct seed *s = &r->seed;
    int64_t ms = td_mstime() - s->started_ms;
    double rate = ms > 0 ? (double)s->keys_done * 1000.0 / (double)ms : 0;
    uint64_t left = s->keys_total > s->keys_done
                        ? s->keys_total - s->keys_done : 0;

    snprintf(dst, len,
             "seed_keys=%llu,seed_total=%llu,seed_percent=%.1f,"
             "seed_bytes=%llu,seed_rate=%.0f,seed_eta=%.0f,seed_dirty=%zu,"
             "seed_phase=%s",
             (unsigned long long)s->keys_done,
             (unsigned long long)s->keys_total,
             s->keys_total > 0
                 ? TD_MIN(100.0, 100.0 * (double)s->keys_done /
                                     (double)s->keys_total)
                 : (s->scanning ? 0.0 : 100.0),
             (unsigned long long)s->bytes, rate,
             rate > 0 ? (double)left / rate : -1.0, s->dirty.count,
             s->scanning ? "scan" : (s->finishing ? "finishing" : "drain"));
}

/* ---- the stream during a seed ------------------------------------- */

void
seed_on_stream(struct replica *r, long long db, const char *p, size_t len)
{
    struct seed *s = &r->seed;
    struct resp_parser parser;
    size_t off = 0;
    size_t npos = 64;
    int *pos;

    if (!s->active || s->finishing) {
        return;
    }
    pos = td_malloc(npos * sizeof(*pos));
    resp_parser_init(&parser, 1LL << 40);
    while (off < len) {
        size_t consumed = 0;
        struct cmd *cmd = NULL;
        long n;
        long i;
        int hold = s->scanning;

        if (resp_parse_request(&parser, p + off, len - off, &consumed) !=
                RESP_COMMAND ||
            cmdtable_lookup(&srv.pipe.table, parser.argc, parser.argv,
                            &cmd) != CMD_FOUND) {
            break;
        }
        if (strcmp(cmd->name, "flushall") == 0 ||
            strcmp(cmd->name, "flushdb") == 0) {
            /* Same state everywhere afterwards: the replica gets it, and
             * what was dirty there is settled. */
            if (cmd->name[5] == 'a') {
                keyset_clear(&s->dirty);
            } else {
                keyset_remove_db(&s->dirty, db);
            }
            flow_add(r, db, p + off, consumed);
            off += consumed;
            continue;
        }
        n = cmd_keys_in_db(cmd, parser.argc, parser.argv, pos, npos);
        if (n > (long)npos) {
            npos = (size_t)n;
            pos = td_realloc(pos, npos * sizeof(*pos));
            n = cmd_keys_in_db(cmd, parser.argc, parser.argv, pos, npos);
        }
        if (n < 0) {
            char why[160];

            snprintf(why, sizeof(why),
                     "a %s during the seed touched keys tandem cannot "
                     "follow; seeding restarts", cmd->name);
            resp_parser_free(&parser);
            free(pos);
            conn_fail(&r->conn, why);
            return;
        }
        for (i = 0; i < n && !hold; i++) {
            const struct resp_arg *k = &parser.argv[pos[i]];

            hold = keyset_has(&s->dirty, db, k->ptr, k->len) ||
                   keyset_has(&s->moving, db, k->ptr, k->len);
        }
        if (hold && n > 0) {
            for (i = 0; i < n; i++) {
                const struct resp_arg *k = &parser.argv[pos[i]];

                keyset_add(&s->dirty, db, k->ptr, k->len);
            }
        } else {
            /* Keyless writes (FUNCTION LOAD, SCRIPT LOAD, ...) and writes
             * on clean keys go through in order. */
            flow_add(r, db, p + off, consumed);
        }
        off += consumed;
    }
    resp_parser_free(&parser);
    free(pos);
}

/* ---- replies and writes --------------------------------------------- */

int
seed_on_reply(struct replica *r, const char *reply, size_t len)
{
    struct seed *s = &r->seed;

    if (s->replies_pending == 0) {
        return 0;
    }
    s->replies_pending--;
    if (reply[0] == '-') {
        char why[300];

        snprintf(why, sizeof(why),
                 "a seeding command failed on the replica (%.*s); seeding "
                 "restarts", (int)TD_MIN(len - 2, 200), reply + 1);
        log_warning("Replica %s: %s", r->addr->spec, why);
        conn_fail(&r->conn, why);
        return 1;
    }
    if (s->replies_pending == 0 && s->finishing) {
        int64_t ms = td_mstime() - s->started_ms;

        s->finishing = 0;
        s->active = 0;
        log_notice("Replica %s seeded: %llu keys, %llu bytes in %.1f s; "
                   "online at offset %llu", r->addr->spec,
                   (unsigned long long)s->keys_done,
                   (unsigned long long)s->bytes, (double)ms / 1000.0,
                   (unsigned long long)r->acked);
        keyset_free(&s->dirty);
        keyset_free(&s->moving);
        buf_free(&s->flow);
        replica_seed_done(r);
    }
    return 1;
}

void
seed_write(struct replica *r)
{
    struct seed *s = &r->seed;

    while (s->flow.len > 0) {
        struct iovec iov = {buf_head(&s->flow), s->flow.len};
        ssize_t n = conn_writev(&r->conn, &iov, 1);

        if (n < 0) {
            return;
        }
        if (n == 0) {
            conn_want_write(&r->conn, 1);
            return;
        }
        buf_consume(&s->flow, (size_t)n);
    }
    conn_want_write(&r->conn, 0);
    buf_shrink(&s->flow, 4 * 1024 * 1024);
}

/* Nothing dirty and nothing moving: stamp the replica at the stream's end
 * and hand it to the normal link. */
static void
finish(struct replica *r)
{
    struct seed *s = &r->seed;
    struct backlog_mark m;
    uint64_t end = stream_offset(&srv.stream);
    char value[80];

    if (!backlog_mark_at(&srv.stream.backlog, end, &m)) {
        return;    /* not at a boundary yet: next iteration */
    }
    snprintf(value, sizeof(value), "%s:%llu", srv.stream.id,
             (unsigned long long)end);
    stamp(r, value);
    s->finishing = 1;
    replica_seeded(r, &m);
}

void
seed_tick(struct replica *r)
{
    struct seed *s = &r->seed;
    int64_t now;

    if (!s->active || r->conn.state == CONN_DOWN) {
        return;
    }
    if (s->flow.len > (size_t)srv.cfg.backlog_size) {
        /* A replica that does not take its seed must not grow tandem's
         * memory: as one that falls out of the backlog, it starts over. */
        conn_fail(&r->conn, "it fell behind its seed by more than "
                            "backlog-size; the seed starts over");
        return;
    }
    if (pipe_is_up(&srv.pipe) && !s->finishing &&
        s->flow.len < SEED_FLOW_HIGH) {
        uint64_t allowed = budget(s);

        if (!s->asked) {
            ask_primary(r);
        }
        while (s->transfers_inflight < SEED_MAX_TRANSFERS && allowed > 0) {
            long long db;
            char *key;
            size_t klen;

            if (s->scanning) {
                if (!s->scan_inflight) {
                    issue_scan(r, allowed);
                }
                break;
            }
            if (!keyset_pop(&s->dirty, &db, &key, &klen)) {
                break;
            }
            if (!keyset_has(&s->moving, db, key, klen)) {
                transfer(r, db, key, klen);
                spend(s, 1);
                allowed--;
            }
            free(key);
        }
        if (!s->scanning && !s->scan_inflight && !s->functions_pending &&
            s->transfers_inflight == 0 && s->dirty.count == 0 &&
            s->moving.count == 0) {
            finish(r);
        }
    }
    seed_write(r);
    now = td_mstime();
    if (s->active && now - s->last_log_ms >= SEED_LOG_INTERVAL_MS) {
        char progress[256];

        seed_describe(r, progress, sizeof(progress));
        log_notice("Seeding replica %s: %s", r->addr->spec, progress);
        s->last_log_ms = now;
    }
}
