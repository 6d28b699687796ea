/*
 * seed.h -- seeding a replica while clients keep writing (DESIGN I8, I9),
 * without a fork and without pausing anyone.
 *
 *   scan:   SCAN every database on the pipe; each key goes over with
 *           DUMP + PEXPIRETIME (riding the pipe, so exact as of that
 *           position) and reaches the replica as RESTORE ... REPLACE
 *           ABSTTL. Writes in the meantime are not sent; their keys
 *           become dirty.
 *   drain:  writes are sent again, except those touching a dirty key (or
 *           one whose transfer is on its way): those are held back and
 *           all their keys become dirty. Dirty keys are transferred in
 *           the background.
 *   online: nothing dirty, nothing in flight: the replica is stamped at
 *           the stream's end and continues as a normal link.
 *
 * The replica receives a flow that is, at every point, the stream as it
 * would have been for a replica holding the clean keys. A transfer's
 * RESTORE enters the flow when its DUMP reply arrives, which is exactly
 * its stream position. Memory is O(dirty keys + flow), never O(keys).
 *
 * FLUSHALL and FLUSHDB go through (they set the same state everywhere).
 * A write whose keys cannot be known (SWAPDB, MOVE, COPY ... DB, commands
 * whose key specs are incomplete) restarts the seed from scratch.
 */
#ifndef TD_SEED_H
#define TD_SEED_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "keyset.h"

struct replica;

struct seed {
    int           active;
    uint64_t      generation;       /* bumps on every (re)start */
    int           scanning;
    long long     scan_db;
    char          cursor[32];
    int           scan_inflight;    /* a SCAN awaits its reply */
    int           functions_pending;/* FUNCTION DUMP awaits its reply */
    int           asked;            /* FUNCTION DUMP and INFO keyspace
                                     * sent on the pipe */
    uint64_t      transfers_inflight;
    struct keyset dirty;            /* to transfer */
    struct keyset moving;           /* transfer on its way */
    struct buf    flow;             /* commands for the replica */
    long long     flow_db;          /* database selected in the flow */
    size_t        flow_written;     /* bytes of flow already written */
    uint64_t      flow_cmds;        /* commands in flow not yet written */
    uint64_t      replies_pending;  /* replies to written commands */
    int           finishing;        /* stamped; awaiting last replies */
    uint64_t      restarts;
    double        tokens;           /* seed-max-keys-per-sec budget */
    int64_t       tokens_ms;        /* when tokens were last topped up */

    /* progress */
    uint64_t      keys_done;
    uint64_t      keys_total;       /* estimated from INFO keyspace */
    uint64_t      bytes;
    int64_t       started_ms;
    int64_t       last_log_ms;
};

void seed_init(struct seed *s);
void seed_free(struct seed *s);

/* Starts (or restarts) seeding r on its open connection. */
void seed_start(struct replica *r, const char *why);
/* The link is gone: forget the seed (it starts over on reconnect). */
void seed_stop(struct replica *r);

/* A reply from a seeding replica. Returns 1 when it was the seed's. */
int seed_on_reply(struct replica *r, const char *reply, size_t len);
/* The socket can take more of the flow. */
void seed_write(struct replica *r);

/* A unit just appended to the stream (one write's or transaction's
 * effects, run in db). */
void seed_on_stream(struct replica *r, long long db, const char *p,
                    size_t len);

/* Once per loop iteration: scans, transfers, the flow, completion. */
void seed_tick(struct replica *r);

/* "seed_keys=...,seed_total=...,..." for INFO. */
void seed_describe(const struct replica *r, char *dst, size_t len);

#endif
