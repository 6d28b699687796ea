/*
 * repair.c -- replies compared, keys repaired; see repair.h.
 */
#include "repair.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backlog.h"
#include "cmdtable.h"
#include "expect.h"
#include "log.h"
#include "replica.h"
#include "resp.h"
#include "server.h"
#include "transfer.h"
#include "util.h"

/* Past this, seeding the replica again is the better repair. */
#define REPAIR_MAX_KEYS 256       /* keys to transfer for one batch */

struct repair_key {
    long long  db;
    char       *key;
    size_t     klen;
};

struct repair_ctx {
    struct replica *r;
    uint64_t       epoch;
};

static int
repairing(const struct replica *r)
{
    return r->repair.pending > 0 || r->repair.until > 0;
}

void
repair_reset(struct replica *r)
{
    r->repair.pending = 0;
    r->repair.until = 0;
    r->repair.epoch++;
}

uint64_t
repair_ack(struct replica *r, uint64_t off)
{
    if (!repairing(r)) {
        return off;
    }
    if (r->repair.pending == 0 && off >= r->repair.until) {
        log_notice("Replica %s holds the repairs up to offset %llu",
                   r->addr->spec, (unsigned long long)r->repair.until);
        r->repair.until = 0;
        return off;
    }
    return TD_MIN(off, r->repair.hold);
}

/* The transfer's command entered the stream where the pipe's order puts
 * it; the replica's acknowledgements wait for that offset. */
static void
on_repaired(void *ctx, enum transfer_status status, long long db,
            const char *key, size_t klen, const char *cmd, size_t len,
            size_t dump_bytes)
{
    struct repair_ctx *x = ctx;
    struct replica *r = x->r;
    int current = x->epoch == r->repair.epoch;
    char shown[80];

    free(x);
    if (status == TRANSFER_DONE && srv.pipe.tee) {
        srv.stats.replica_repairs++;
    }
    if (!current) {
        return;    /* the replica was seeded meanwhile */
    }
    r->repair.pending--;
    if (status != TRANSFER_DONE) {
        char why[200];

        snprintf(why, sizeof(why), "the repair of key %s %s",
                 td_repr(shown, sizeof(shown), key, klen, 40),
                 status == TRANSFER_LOST ? "was lost with the pipe"
                                         : "got an unexpected reply");
        replica_diverge(r, why);
        return;
    }
    r->repair.keys++;
    r->repair.until = stream_offset(&srv.stream);
}

/* The keys of the batch's commands that differed (their indexes within
 * the batch, ascending), read again from the backlog. Returns the number
 * of keys, or -1 (why filled) when keys cannot repair them. */
static long
differing_keys(const struct replica_batch *b, const uint64_t *diffs,
               size_t ndiffs, struct repair_key *keys, char *name,
               size_t namelen, char *why, size_t whylen)
{
    const struct backlog *bl = &srv.stream.backlog;
    struct resp_walk w;
    struct iovec iov[2];
    struct buf data;
    uint64_t index = 0;
    size_t d = 0;
    long nkeys = 0;
    int k;
    int i;

    if (b->from < bl->start ||
        (k = backlog_iov(bl, b->from, b->end, iov)) < 0) {
        snprintf(why, whylen, "the batch left the backlog before its "
                              "difference could be repaired");
        return -1;
    }
    buf_init(&data);
    for (i = 0; i < k; i++) {
        buf_append(&data, iov[i].iov_base, iov[i].iov_len);
    }
    resp_walk_init(&w, buf_head(&data), data.len, b->db);
    while (d < ndiffs && resp_walk_next(&w) == 1) {
        struct resp_parser *rp = &w.parser;
        struct cmd *cmd = NULL;
        char this[64];
        char *p;
        int pos[REPAIR_MAX_KEYS];
        long n;
        long j;

        if (index++ != diffs[d]) {
            continue;
        }
        d++;
        if (cmdtable_lookup(&srv.pipe.table, rp->argc, rp->argv, &cmd) !=
            CMD_FOUND) {
            snprintf(why, whylen, "a command tandem does not know differed");
            nkeys = -1;
            break;
        }
        td_upper(this, sizeof(this), cmd->name, strlen(cmd->name));
        for (p = this; (p = strchr(p, '|')) != NULL; p++) {
            *p = ' ';
        }
        if (d == 1) {
            snprintf(name, namelen, "%s", this);
        }
        if (strcmp(cmd->name, "restore") == 0) {
            /* The repair itself: a replica that refuses a key's copy
             * would refuse it again. */
            snprintf(why, whylen, "it refused a RESTORE");
            nkeys = -1;
            break;
        }
        n = cmd_keys_in_db(cmd, rp->argc, rp->argv, pos, REPAIR_MAX_KEYS);
        if (n <= 0 || n > REPAIR_MAX_KEYS - nkeys) {
            snprintf(why, whylen, "%s differed, and %s", this,
                     n == 0 ? "it has no keys to transfer"
                     : n < 0 ? "its keys are not all in one database"
                             : "too many keys differ to transfer them");
            nkeys = -1;
            break;
        }
        for (j = 0; j < n; j++) {
            const struct resp_arg *a = &rp->argv[pos[j]];

            keys[nkeys].db = w.db;
            keys[nkeys].key = td_strndup(a->ptr, a->len);
            keys[nkeys].klen = a->len;
            nkeys++;
        }
    }
    if (nkeys >= 0 && d < ndiffs) {
        snprintf(why, whylen, "the batch could not be read back");
        nkeys = -1;
    }
    if (nkeys < 0) {
        for (i = 0; i < REPAIR_MAX_KEYS && keys[i].key != NULL; i++) {
            free(keys[i].key);
            keys[i].key = NULL;
        }
    }
    resp_walk_free(&w);
    buf_free(&data);
    return nkeys;
}

/* Sends the transfers; the acknowledgements stop at the batch's start. */
static void
start_repair(struct replica *r, const struct replica_batch *b,
             struct repair_key *keys, long nkeys, const char *name,
             const char *first, size_t flen)
{
    char shown[120];
    char key[80];
    long i;

    if (!repairing(r)) {
        r->repair.hold = b->from;
    }
    log_warning("Replica %s answered %s (batch ending at %llu) with %s, "
                "otherwise than the primary; transferring %s%s", r->addr->spec,
                name, (unsigned long long)b->end,
                td_repr(shown, sizeof(shown), first, flen, 80),
                td_repr(key, sizeof(key), keys[0].key, keys[0].klen, 40),
                nkeys > 1 ? " and other keys" : "");
    for (i = 0; i < nkeys; i++) {
        struct repair_ctx *x = td_malloc(sizeof(*x));

        x->r = r;
        x->epoch = r->repair.epoch;
        r->repair.pending++;
        transfer_key_to_stream(keys[i].db, keys[i].key, keys[i].klen,
                               on_repaired, x);
        free(keys[i].key);
    }
}

int
repair_check_batch(struct replica *r, const struct replica_batch *b,
                   const char *reply, size_t len, char *why, size_t whylen)
{
    static uint64_t *diffs;
    static size_t diffs_cap;
    struct repair_key keys[REPAIR_MAX_KEYS];
    char name[64] = "";
    uint64_t ncmds = b->commands - b->first_command;
    const char *eol = memchr(reply, '\r', len);
    const char *first = NULL;
    size_t flen = 0;
    size_t ndiffs = 0;
    long long count;
    long long i;
    long nkeys;
    size_t off;

    if (reply[0] == '-') {
        snprintf(why, whylen, "%.*s", (int)TD_MIN(len - 2, 200), reply + 1);
        return 0;
    }
    if (reply[0] != '*' || eol == NULL ||
        !td_str2ll(reply + 1, (size_t)(eol - reply - 1), &count) ||
        count != (long long)ncmds + 3) {
        snprintf(why, whylen, "EXEC did not run (%.*s)",
                 (int)TD_MIN(len - 2, 60), reply);
        return 0;
    }
    off = (size_t)(eol - reply) + 2;
    for (i = 0; i < count; i++) {
        struct resp_scan scan;
        const char *e = reply + off;
        size_t elen;

        resp_scan_init(&scan);
        if (off >= len || resp_scan_reply(&scan, e, len - off, &elen) != 1) {
            snprintf(why, whylen, "EXEC's reply is cut short");
            return 0;
        }
        off += elen;
        if (i == 0 || i > (long long)ncmds) {
            if (e[0] == '-') {
                snprintf(why, whylen, "%.*s", (int)TD_MIN(elen - 2, 200),
                         e + 1);
                return 0;
            }
            continue;
        }
        if (expect_met(expect_at(&srv.stream.expect,
                                 b->first_command + (uint64_t)i - 1),
                       e, elen)) {
            continue;
        }
        if (ndiffs == diffs_cap) {
            diffs_cap = diffs_cap == 0 ? 16 : diffs_cap * 2;
            diffs = td_realloc(diffs, diffs_cap * sizeof(*diffs));
        }
        diffs[ndiffs++] = (uint64_t)i - 1;
        if (first == NULL) {
            first = e;
            flen = elen - 2;
        }
    }
    if (ndiffs == 0) {
        return 1;
    }
    r->repair.differences += ndiffs;
    srv.stats.replica_reply_differences += ndiffs;
    memset(keys, 0, sizeof(keys));
    nkeys = differing_keys(b, diffs, ndiffs, keys, name, sizeof(name), why,
                           whylen);
    if (nkeys < 0) {
        return 0;
    }
    start_repair(r, b, keys, nkeys, name, first, flen);
    return 1;
}
