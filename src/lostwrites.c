/*
 * lostwrites.c -- writes in flight when the pipe was lost; see
 * lostwrites.h.
 */
#include "lostwrites.h"

#include <stdio.h>
#include <stdlib.h>

#include "cmdtable.h"
#include "effects.h"
#include "keyset.h"
#include "log.h"
#include "replica.h"
#include "resp.h"
#include "server.h"
#include "transfer.h"

#define LOST_MAX_KEYS 100000

static struct keyset lost_keys;
static int lost_keys_ready;
static int lost_seed;               /* keys cannot say what changed */
static char lost_reason[300];
static int lost_pending;

static void
forget_lost(void)
{
    lost_pending = 0;
    lost_seed = 0;
    if (lost_keys_ready) {
        keyset_clear(&lost_keys);
    }
}

void
lost_write(long long db, const char *raw, size_t len)
{
    struct resp_walk w;
    int more;

    if (!lost_keys_ready) {
        keyset_init(&lost_keys);
        lost_keys_ready = 1;
    }
    resp_walk_init(&w, raw, len, db);
    while (!lost_seed && (more = resp_walk_next(&w)) != 0) {
        struct resp_parser *rp = &w.parser;
        struct cmd *cmd = NULL;
        int pos[64];
        long n;
        long i;

        if (more < 0 || (!w.is_select &&
                         cmdtable_lookup(&srv.pipe.table, rp->argc, rp->argv,
                                         &cmd) != CMD_FOUND)) {
            lost_seed = 1;
            break;
        }
        if (w.is_select || effects_classify(cmd, rp->argc, rp->argv,
                                            srv.cfg.script_verbatim) ==
                               EFFECT_NONE) {
            continue;    /* a read inside a transaction */
        }
        n = cmd_keys_in_db(cmd, rp->argc, rp->argv, pos, 64);
        if (n <= 0 || n > 64 ||
            lost_keys.count + (size_t)n > LOST_MAX_KEYS) {
            lost_seed = 1;
            break;
        }
        for (i = 0; i < n; i++) {
            keyset_add(&lost_keys, w.db, rp->argv[pos[i]].ptr,
                       rp->argv[pos[i]].len);
        }
    }
    resp_walk_free(&w);
}

static void
on_lost_key_transferred(void *ctx, enum transfer_status status,
                        long long db, const char *key, size_t klen,
                        const char *cmd, size_t len, size_t dump_bytes)
{
    if (status != TRANSFER_DONE) {
        /* Lost again with the pipe: the next time it is up, seed. */
        if (!lost_pending) {
            snprintf(lost_reason, sizeof(lost_reason),
                     "the transfer of keys written while the pipe was lost "
                     "was lost in turn");
        }
        lost_pending = 1;
        lost_seed = 1;
    }
}

void
lost_writes_repair(void)
{
    long long db;
    char *key;
    size_t klen;

    if (!lost_pending) {
        return;
    }
    if (lost_seed) {
        replica_mark_all_diverged(lost_reason);
        forget_lost();
        return;
    }
    log_notice("Transferring %zu key%s written by requests in flight when "
               "the pipe was lost", lost_keys.count,
               lost_keys.count == 1 ? "" : "s");
    srv.stats.lost_write_transfers += lost_keys.count;
    while (keyset_pop(&lost_keys, &db, &key, &klen)) {
        transfer_key_to_stream(db, key, klen, on_lost_key_transferred,
                               NULL);
        free(key);
    }
    forget_lost();
}

void
lost_writes_forget(void)
{
    forget_lost();
}

void
lost_writes_after(const char *why)
{
    snprintf(lost_reason, sizeof(lost_reason),
             "writes were in flight when the pipe to the primary was lost "
             "(%s), and keys cannot say what they did", why);
    lost_pending = 1;
}
