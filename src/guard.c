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
#include "server.h"
#include "stream.h"

static char known_run_id[41];     /* the primary we trust */
static long long last_keys = -1;  /* last sample, outside the meta-db */
static long long last_volatile;   /* of them, with a TTL */
static int holding;
static char held_run_id[41];
static char reason[400];
static int sampling;              /* an INFO keyspace is on the pipe */
static uint64_t sample_offset;    /* the stream's end at the sample */

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

int
guard_admit(const char *run_id, const char *keyspace, size_t len)
{
    long long keys, vol, floor;

    count_keys(keyspace, len, &keys, &vol);
    floor = last_keys - last_volatile;
    if (known_run_id[0] == '\0' || strcmp(run_id, known_run_id) == 0 ||
        last_keys < 0 || !lost_data(keys) || replica_total() == 0) {
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
    if (!holding || strcmp(held_run_id, run_id) != 0) {
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
        if (!lost_data(keys)) {
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

void
guard_cron(void)
{
    static const char info[] = "*2\r\n$4\r\nINFO\r\n$8\r\nkeyspace\r\n";

    if (sampling || (!pipe_is_up(&srv.pipe) && !holding) ||
        srv.pipe.conn.state != CONN_UP) {
        return;
    }
    sampling = 1;
    pipe_send_internal(&srv.pipe, info, sizeof(info) - 1, on_sample, NULL);
}

void
guard_flushed(void)
{
    last_keys = 0;
    last_volatile = 0;
    sample_offset = UINT64_MAX;    /* until the next sample: anything goes */
}

void
guard_reset(void)
{
    known_run_id[0] = '\0';
    last_keys = -1;
    last_volatile = 0;
    holding = 0;
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
               "primary_sampled_volatile_keys:%lld\r\n",
               holding, holding ? reason : "", last_keys, last_volatile);
}
