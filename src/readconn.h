/*
 * readconn.h -- a replica's read connection (DESIGN I10): reads routed to
 * a replica travel on a pipelined connection of their own, apart from the
 * replication link, so a slow read never delays the stream.
 *
 * Reads are idempotent: when the connection fails, stalls past the reply
 * deadline (max-replica-lag), or the replica answers NOSCRIPT/LOADING,
 * the reads in flight go to the primary's pipe instead, in their place in
 * each client's reply order.
 */
#ifndef TD_READCONN_H
#define TD_READCONN_H

#include <ev.h>
#include <stdint.h>

#include "buf.h"
#include "conn.h"
#include "fifo.h"

struct req;
struct replica;

struct read_slot {
    struct req *req;        /* NULL: tandem's own (SELECT, PING) */
    long long  db;
    uint32_t   len;         /* the command's bytes in `sent` */
    int64_t    sent_ms;
};

struct readconn {
    struct conn      conn;
    struct replica   *replica;
    struct buf       out;        /* not yet written */
    struct buf       sent;       /* copies of reads awaiting replies */
    struct fifo      slots;      /* struct read_slot, oldest first */
    long long        db;
    int              healthy;    /* answered since it connected */
    ev_timer         watch;      /* deadline and keepalive PING */
    int64_t          last_reply_ms;
    uint64_t         reads;      /* served here */
    uint64_t         failovers;  /* sent to the primary instead */
};

void readconn_start(struct readconn *rc, struct replica *r);
void readconn_stop(struct readconn *rc);

/* Ready to take reads. */
int readconn_ready(const struct readconn *rc);
/* Reads in flight (for balancing). */
static inline size_t
readconn_load(const struct readconn *rc)
{
    return rc->slots.count;
}

/* Sends a client's read (raw RESP, run in db). */
void readconn_send(struct readconn *rc, struct req *req, long long db,
                   const char *raw, size_t rawlen);

/* Writes what is pending (once per loop iteration). */
void readconn_flush(struct readconn *rc);

#endif
