/*
 * guard.c -- the primary's data guard; see guard.h.
 */
#include "guard.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "pipe.h"
#include "replica.h"
#include "resp.h"
#include "server.h"
#include "stream.h"

static char known_run_id[41];     /* the primary we trust */
static long long last_keys = -1;  /* last sample, outside the meta-db */
static long long last_volatile;   /* of them, with a TTL */
static int holding;
static char held_run_id[41];
static char reason[600];
static int sampling;              /* an INFO keyspace is on the pipe */
static uint64_t sample_offset;    /* the stream's end at the sample */

/* The stamp tandem keeps in the primary's meta-db: the stream's id and
 * end, written on the pipe after the writes it covers, once a second
 * while writes come. A primary that comes back (another run_id) with an
 * older stamp, or none, came back with older data. */
#define STAMP_KEY "tandem:primary-stamp"
static uint64_t stamp_acked;      /* the newest stamp the primary applied */
static char stamp_acked_id[41];
static uint64_t stamp_epoch;      /* guard_reset/flush make stamps moot */
static int stamping;              /* a stamp's SET is on the pipe */
static char peer_stamp[96];       /* what the handshake found, or "" */
static int held_for_stamp;        /* keys coming back do not release it */

struct stamp_write {
    uint64_t offset;
    uint64_t epoch;
    char     id[41];
};

/* Sums "dbN:keys=K,expires=E,..." lines, leaving out the meta-db. */
static void
count_keys(const char *text, size_t len, long long *keys, long long *vol)
{
    const char *p = text;
    const char *end = text + len;

    *keys = 0;
    *vol = 0;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        long long db, k, e;

        if (eol == NULL) {
            eol = end;
        }
        if (sscanf(p, "db%lld:keys=%lld,expires=%lld", &db, &k, &e) == 3 &&
            db != srv.cfg.meta_db) {
            *keys += k;
            *vol += e;
        }
        p = eol + 1;
    }
}

long long
guard_keyspace_keys(const char *keyspace, size_t len)
{
    long long keys, vol;

    count_keys(keyspace, len, &keys, &vol);
    return keys;
}

static void
trust(const char *run_id, long long keys, long long vol)
{
    snprintf(known_run_id, sizeof(known_run_id), "%s", run_id);
    last_keys = keys;
    last_volatile = vol;
    sample_offset = stream_offset(&srv.stream);
}

/* Whether a new primary process lost data: it holds fewer keys than the
 * last sample's keys without a TTL, or none at all when writes were teed
 * since that sample (a primary restarted without persistence right after
 * writes the sample did not see). */
static int
lost_data(long long keys)
{
    return keys < last_keys - last_volatile ||
           (keys == 0 && stream_offset(&srv.stream) > sample_offset);
}

/* Whether the stamp the handshake read is older than the newest one this
 * primary had applied (or missing). */
static int
older_stamp(void)
{
    const char *colon = strchr(peer_stamp, ':');

    if (stamp_acked == 0) {
        return 0;
    }
    return colon == NULL || (size_t)(colon - peer_stamp) != 40 ||
           memcmp(peer_stamp, stamp_acked_id, 40) != 0 ||
           strtoull(colon + 1, NULL, 10) < stamp_acked;
}

static void
on_stamp_read(void *ctx, const char *reply, size_t len)
{
    const char *eol;

    peer_stamp[0] = '\0';
    if (reply == NULL || reply[0] != '$' || reply[1] == '-' ||
        (eol = memchr(reply, '\n', len)) == NULL) {
        return;
    }
    snprintf(peer_stamp, sizeof(peer_stamp), "%.*s",
             (int)TD_MIN(len - (size_t)(eol + 1 - reply) - 2,
                         sizeof(peer_stamp) - 1),
             eol + 1);
}

void
guard_handshake(void)
{
    static const char get[] =
        "*2\r\n$3\r\nGET\r\n$20\r\n" STAMP_KEY "\r\n";

    peer_stamp[0] = '\0';
    pipe_send_internal_db(&srv.pipe, srv.cfg.meta_db, get, sizeof(get) - 1,
                          on_stamp_read, NULL);
}

int
guard_admit(const char *run_id, const char *keyspace, size_t len)
{
    long long keys, vol, floor;
    int stale;

    count_keys(keyspace, len, &keys, &vol);
    floor = last_keys - last_volatile;
    stale = known_run_id[0] != '\0' && strcmp(run_id, known_run_id) != 0 &&
            older_stamp();
    if (replica_total() == 0 ||
        (!stale &&
         (known_run_id[0] == '\0' || strcmp(run_id, known_run_id) == 0 ||
          last_keys < 0 || !lost_data(keys)))) {
        if (known_run_id[0] != '\0' && strcmp(run_id, known_run_id) != 0) {
            log_notice("The primary is a new process (run_id %s, was %s) "
                       "and holds %lld keys (at least %lld expected): "
                       "trusted", run_id, known_run_id, keys,
                       floor > 0 ? floor : 0);
        }
        holding = 0;
        trust(run_id, keys, vol);
        return 1;
    }
    /* Too few keys says more than the stamp, and the keys coming back
     * can release it. */
    stale = stale && (last_keys < 0 || !lost_data(keys));
    if (stale && (!holding || strcmp(held_run_id, run_id) != 0)) {
        snprintf(reason, sizeof(reason),
                 "the primary %s came back as a new process (run_id %s, "
                 "was %s) with older data: its stamp says %s where it had "
                 "applied stream offset %llu; tandem holds writes so the "
                 "loss does not reach the replicas (TANDEM ACCEPT-PRIMARY "
                 "takes it as it is)",
                 srv.cfg.primary.spec, run_id, known_run_id,
                 peer_stamp[0] != '\0' ? peer_stamp : "nothing",
                 (unsigned long long)stamp_acked);
        log_warning("Holding the pipe: %s", reason);
    } else if (!holding || strcmp(held_run_id, run_id) != 0) {
        snprintf(reason, sizeof(reason),
                 "the primary %s came back as a new process (run_id %s, "
                 "was %s) holding %lld keys where %lld without a TTL were "
                 "before%s: it lost data, and tandem holds writes so the "
                 "loss does not reach the replicas (TANDEM ACCEPT-PRIMARY "
                 "takes it as it is)",
                 srv.cfg.primary.spec, run_id, known_run_id, keys,
                 floor > 0 ? floor : 0,
                 keys < floor ? "" : ", and writes came since");
        log_warning("Holding the pipe: %s", reason);
    }
    holding = 1;
    held_for_stamp = stale;
    snprintf(held_run_id, sizeof(held_run_id), "%s", run_id);
    return 0;
}

/* Whatever the primary holds now, the replicas do not know it came from
 * the stream: each is seeded from it. */
static void
release(const char *why)
{
    holding = 0;
    replica_mark_all_diverged(why);
    pipe_release_held(&srv.pipe);
}

static void
on_sample(void *ctx, const char *reply, size_t len)
{
    long long keys, vol;

    sampling = 0;
    if (reply == NULL || reply[0] != '$') {
        return;
    }
    if (holding) {
        count_keys(reply, len, &keys, &vol);
        if (!held_for_stamp && !lost_data(keys)) {
            log_notice("The held primary holds %lld keys again: trusted",
                       keys);
            trust(held_run_id, keys, vol);
            release("the primary came back as a new process and was held; "
                    "its keys were restored");
        }
        return;
    }
    if (pipe_is_up(&srv.pipe)) {
        count_keys(reply, len, &last_keys, &last_volatile);
        sample_offset = stream_offset(&srv.stream);
    }
}

static void
on_stamped(void *ctx, const char *reply, size_t len)
{
    struct stamp_write *w = ctx;

    if (w->epoch == stamp_epoch) {
        stamping = 0;
        if (reply != NULL && reply[0] == '+') {
            stamp_acked = w->offset;
            memcpy(stamp_acked_id, w->id, sizeof(stamp_acked_id));
        }
    }
    free(w);
}

/* A new stamp when the stream moved since the last one. */
static void
stamp(void)
{
    uint64_t end = stream_offset(&srv.stream);
    struct stamp_write *w;
    struct buf cmd;
    char value[64];

    if (stamping || holding || !pipe_is_up(&srv.pipe) ||
        replica_total() == 0 || end == 0 ||
        (end == stamp_acked && strcmp(stamp_acked_id, srv.stream.id) == 0)) {
        return;
    }
    w = td_malloc(sizeof(*w));
    w->offset = end;
    w->epoch = stamp_epoch;
    memcpy(w->id, srv.stream.id, sizeof(w->id));
    snprintf(value, sizeof(value), "%s:%llu", srv.stream.id,
             (unsigned long long)end);
    buf_init(&cmd);
    resp_add_array(&cmd, 3);
    resp_add_bulk_str(&cmd, "SET");
    resp_add_bulk_str(&cmd, STAMP_KEY);
    resp_add_bulk_str(&cmd, value);
    stamping = 1;
    pipe_send_internal_db(&srv.pipe, srv.cfg.meta_db, buf_head(&cmd),
                          cmd.len, on_stamped, w);
    buf_free(&cmd);
}

void
guard_cron(void)
{
    static const char info[] = "*2\r\n$4\r\nINFO\r\n$8\r\nkeyspace\r\n";

    stamp();
    if (sampling || (!pipe_is_up(&srv.pipe) && !holding) ||
        srv.pipe.conn.state != CONN_UP) {
        return;
    }
    sampling = 1;
    pipe_send_internal(&srv.pipe, info, sizeof(info) - 1, on_sample, NULL);
}

/* Stamps written so far say nothing of the primary from here on. */
static void
forget_stamps(void)
{
    stamp_acked = 0;
    stamp_acked_id[0] = '\0';
    stamping = 0;
    stamp_epoch++;
}

void
guard_meta_key_gone(const char *key, size_t len)
{
    if (td_slice_eq(key, len, STAMP_KEY)) {
        log_verbose("The primary evicted tandem's stamp; it is written "
                    "again with the next writes");
        forget_stamps();
    }
}

void
guard_flushed(void)
{
    last_keys = 0;
    last_volatile = 0;
    sample_offset = UINT64_MAX;    /* until the next sample: anything goes */
    forget_stamps();               /* FLUSHALL took the stamp too */
}

void
guard_reset(void)
{
    known_run_id[0] = '\0';
    last_keys = -1;
    last_volatile = 0;
    holding = 0;
    held_for_stamp = 0;
    forget_stamps();
}

int
guard_accept(void)
{
    if (!holding) {
        return 0;
    }
    log_warning("TANDEM ACCEPT-PRIMARY: the primary (run_id %s) is taken "
                "as it is", held_run_id);
    snprintf(known_run_id, sizeof(known_run_id), "%s", held_run_id);
    last_keys = -1;
    held_for_stamp = 0;
    forget_stamps();
    release("the primary came back without its data and was accepted as "
            "it is (TANDEM ACCEPT-PRIMARY)");
    return 1;
}

int
guard_holding(void)
{
    return holding;
}

const char *
guard_reason(void)
{
    return holding ? reason : "";
}

void
guard_info(struct buf *b)
{
    buf_printf(b,
               "primary_held:%d\r\nprimary_held_reason:%s\r\n"
               "primary_sampled_keys:%lld\r\n"
               "primary_sampled_volatile_keys:%lld\r\n"
               "primary_stamped_offset:%llu\r\n",
               holding, holding ? reason : "", last_keys, last_volatile,
               (unsigned long long)stamp_acked);
}
