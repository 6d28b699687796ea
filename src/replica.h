/*
 * replica.h -- replica links (DESIGN I5, I6): each configured replica gets
 * the stream in MULTI ... EXEC batches, each stamped inside the replica
 * with "<stream id>:<offset>" in meta-db, atomically with what it covers.
 *
 *   backlog:  ....[ acked )[ in flight )[ not sent yet )
 *                           batch, batch  <- next batch from the ring
 *
 * A batch on the wire (the middle part is sent from the ring, no copy):
 *
 *   MULTI | SELECT <db> | stream bytes [from, to) | SELECT <meta-db> |
 *   SET tandem:stamp <id>:<to> | EXEC
 *
 * EXEC's reply acknowledges `to`. At connect the stamp says where the
 * replica is: the same stream id and an offset still in the backlog mean
 * a partial resync; anything else leaves the replica out of service
 * (needs-seed) until it is seeded.
 */
#ifndef TD_REPLICA_H
#define TD_REPLICA_H

#include <stdint.h>

#include "backlog.h"

#include "buf.h"
#include "config.h"
#include "conn.h"
#include "fifo.h"
#include "readconn.h"
#include "repair.h"
#include "seed.h"

#define REPLICA_STATE_LIST(X)                                            \
    X(DOWN, "down")                /* not connected */                   \
    X(HANDSHAKE, "handshake")      /* connected, reading its stamp */    \
    X(SEEDING, "seeding")          /* being seeded (DUMP/RESTORE) */     \
    X(ONLINE, "online")            /* in sync: acks count for WAIT */    \
    X(NEEDS_SEED, "needs-seed")    /* out of service until seeded */     \
    X(REFUSED, "refused")          /* older Redis than the primary */

enum replica_state {
#define X(id, name) REPLICA_##id,
    REPLICA_STATE_LIST(X)
#undef X
};

struct replica_batch {
    uint64_t from;         /* stream offset it starts at */
    uint64_t end;          /* stream offset it acknowledges */
    uint64_t first_command; /* stream commands before from */
    uint64_t commands;     /* stream commands before end */
    long long db;          /* database selected at from */
    uint64_t replies;      /* replies still expected */
    int64_t  sent_ms;      /* td_mstime() when sent */
    int      failed;       /* a reply was an error */
};

struct replica {
    int                  index;
    struct backend_addr  *addr;
    struct conn          conn;
    enum replica_state   state;
    char                 why[256];      /* reason for needs-seed/refused */
    int                  diverged;      /* must be seeded before use */
    char                 diverged_why[256];

    int                  handshake_left;
    int                  decide_pending; /* waits for the pipe */
    char                 stamp[128];    /* read at connect */
    int                  has_keys;      /* any key outside meta-db */
    char                 redis_version[32];

    uint64_t             acked;         /* offset the replica holds */
    uint64_t             sent;          /* offset sent up to */
    uint64_t             sent_commands;
    long long            sent_db;       /* db selected at `sent` */

    /* The batch being written: prefix, ring range, suffix. */
    struct buf           prefix;
    struct buf           suffix;
    uint64_t             data_from;
    uint64_t             data_to;
    size_t               written;       /* bytes of the batch written */
    int                  writing;

    struct fifo          inflight;      /* replica_batch awaiting EXEC */

    struct seed          seed;          /* while seeding */
    struct replica_repair repair;       /* replies that differed (I12 a) */
    struct readconn      rc;            /* reads routed here */
    uint64_t             seeds;         /* seeds started */

    int64_t              last_ack_ms;   /* td_mstime() */
    uint64_t             batches;
    uint64_t             acked_at_last_report;
};

/* Creates the links for the configured replicas and starts connecting. */
void replica_start_all(void);
void replica_stop_all(void);

/* A reload's replica list: links for new replicas are added (and seeded as
 * needed), links for replicas no longer listed are closed. */
void replica_reconfigure(const struct backend_addr *addrs, size_t n);

/* Sends what the stream has beyond each link (once per loop iteration,
 * after the chunk is closed). */
void replica_flush_all(void);

/* A seed is complete up to the stream's boundary m: the link continues
 * from there (the seed's last replies still pending). */
void replica_seeded(struct replica *r, const struct backlog_mark *m);

/* The seed's last replies are in: the replica is online. */
void replica_seed_done(struct replica *r);

/* The pipe to the primary is up: links waiting for it decide. */
void replica_pipe_up(void);

/* The pipe to the primary was lost: seeds in progress start over. */
void replica_pipe_lost(void);

/* Takes the replica out of service until it is seeded. */
void replica_diverge(struct replica *r, const char *why);

/* Takes every replica out of service (their state is unknown). */
void replica_mark_all_diverged(const char *why);

/* Replicas online whose acked offset is at least off. */
int replica_count_acked(uint64_t off);

struct client;

/* The replica that should serve a read of client c now (DESIGN I10), or
 * NULL for the primary: online, answering, within max-replica-lag, and
 * under read-consistency session holding c's last write with none of c's
 * writes in flight; the least loaded one. */
struct replica *replica_pick_reader(const struct client *c);

/* INFO # Replication lines. */
void replica_info(struct buf *b);
/* TANDEM REPLICAS: an array with one line per replica. */
void replica_list(struct buf *b);
/* TANDEM RESYNC: forces a seed of the replica named by spec (as
 * configured, or host:port). Returns 0 when there is no such replica. */
int replica_resync(const char *spec, size_t len);

/* Failover (failover.c): the online replica named (NULL: the one with
 * the highest acknowledged offset), or NULL. */
struct replica *replica_failover_target(const char *spec, size_t len);
/* Online, acknowledged exactly end, nothing on its way. */
int replica_settled(const struct replica *r, uint64_t end);
/* Every online replica is settled at end. */
int replica_all_settled(uint64_t end);
/* Replicas not settled at end leave service, to be seeded. */
void replica_drop_unsettled(uint64_t end, const char *why);
const struct backend_addr *replica_address(const struct replica *r);
int replica_online_count(void);
size_t replica_total(void);
/* The i-th link, i < replica_total() (for the metrics endpoint). */
const struct replica *replica_at(size_t i);

/* How far behind r is: the stream bytes it has not acknowledged, and in
 * lag_ms the age of the oldest batch it has not acknowledged (0 when it
 * holds everything, or is not streaming). */
uint64_t replica_lag(const struct replica *r, int64_t *lag_ms);

const char *replica_state_name(enum replica_state s);

#endif
