/*
 * pipe.h -- the pipe: tandem's single pipelined connection to the primary
 * (DESIGN invariant I2). Every command sent to the primary on behalf of
 * clients travels here in dispatch order; replies come back in the same
 * order and are matched to their slots.
 *
 *   clients --dispatch--> [ out buffer ] --write--> primary
 *                         [ slot FIFO  ] <--read--- replies, in order
 *
 * A slot is a client's read, a client's write (its effect enters the
 * replication stream when its reply shows it applied: I3), a transaction
 * sent at EXEC, a PEXPIRETIME probe that gives a write's absolute expiry,
 * or one of tandem's own commands (its reply goes to a callback).
 */
#ifndef TD_PIPE_H
#define TD_PIPE_H

#include <ev.h>
#include <stdint.h>

#include "buf.h"
#include "cmdtable.h"
#include "conn.h"
#include "effects.h"
#include "fifo.h"
#include "resp.h"
#include "util.h"

struct req;

/* Receives the reply to one of tandem's own commands; reply is NULL when
 * the pipe was lost before the reply came. */
typedef void (*pipe_reply_fn)(void *ctx, const char *reply, size_t len);

enum slot_kind {
    SLOT_READ,        /* a client's command that writes nothing */
    SLOT_WRITE,       /* a client's write: teed when applied */
    SLOT_EXEC,        /* a client's EXEC: its queued writes are teed */
    SLOT_QUEUED,      /* MULTI and the +QUEUED of a transaction */
    SLOT_PROBE,       /* PEXPIRETIME after a write with a relative TTL */
    SLOT_INTERNAL     /* tandem's own command */
};

struct pipe_slot {
    enum slot_kind kind;
    struct req     *req;       /* the client's request, or NULL */
    pipe_reply_fn  fn;         /* SLOT_INTERNAL */
    void           *ctx;
    long long      db;         /* where a write ran */
    uint32_t       write_len;  /* its bytes in pipe.writes */
    uint32_t       probes;     /* PEXPIRETIME slots that follow it */
};

struct pipe {
    struct conn      conn;
    struct buf       out;            /* commands not yet written */

    struct fifo      slots;          /* struct pipe_slot: awaited replies */

    /* The tee: writes awaiting their replies, and a write whose reply
     * came but whose PEXPIRETIME probes have not yet. */
    int              tee;            /* replicas exist: record writes */
    struct buf       writes;
    struct pipe_slot held;
    struct buf       held_reply;
    struct buf       probe_replies;
    uint32_t         probes_left;

    long long        db;             /* database selected on the primary */
    long long        databases;      /* the primary's 'databases' */
    struct cmdtable  table;          /* from the primary's COMMAND */
    int              handshake_left; /* handshake replies still awaited */
    int              origin_checked; /* keyspace looked at once */
    int              mark_taken;     /* clean-shutdown mark read once */
    int              untrusted;      /* connected, but held: the primary
                                      * lost data (guard.c) */
    char             redis_version[32];
    char             run_id[41];
};

/* Starts connecting to the configured primary. */
void pipe_start(struct pipe *p);
/* Failover: stops the connection and its reconnecting (requests in
 * flight are answered with the error); reattach reconnects to the same
 * primary, retarget to srv.cfg.primary as it is now. */
void pipe_detach(struct pipe *p, const char *why);
void pipe_reattach(struct pipe *p);
void pipe_retarget(struct pipe *p);

/* Closes the connection for good (shutdown). */
void pipe_stop(struct pipe *p);

/* True when client commands can be dispatched now. */
static inline int
pipe_is_up(const struct pipe *p)
{
    return p->conn.state == CONN_UP && !p->untrusted;
}

/* True while a connection attempt is in progress: clients wait for it
 * rather than get an error. */
static inline int
pipe_is_connecting(const struct pipe *p)
{
    return p->conn.state == CONN_CONNECTING ||
           p->conn.state == CONN_HANDSHAKE;
}

/* Too much unsent: clients should stop being read until it drains. */
int pipe_congested(const struct pipe *p);

/* Sends a client's command: raw is a complete RESP command, run in db.
 * cmd is its table entry (for the tee). */
void pipe_send_request(struct pipe *p, struct req *r, long long db,
                       const struct cmd *cmd, size_t argc,
                       const struct resp_arg *argv, const char *raw,
                       size_t rawlen);
/* Sends a client's transaction: MULTI, the queued commands (count of
 * them, RESP in queued/len), EXEC, whose reply goes to r. It starts in db
 * and its SELECTs leave the client in final_db. */
void pipe_send_transaction(struct pipe *p, struct req *r, long long db,
                           long long final_db, const char *queued,
                           size_t len, size_t count);
/* Sends one of tandem's own commands. */
void pipe_send_internal(struct pipe *p, const char *cmd, size_t len,
                        pipe_reply_fn fn, void *ctx);

/* Sends one of tandem's own commands to run in database db. */
void pipe_send_internal_db(struct pipe *p, long long db, const char *cmd,
                           size_t len, pipe_reply_fn fn, void *ctx);

/* The guard trusts the primary again: the pipe comes up for clients. */
void pipe_release_held(struct pipe *p);

/* Writes what is pending (called once per loop iteration). */
void pipe_flush(struct pipe *p);

/* Reads "field:value" out of an INFO reply. Returns 1 when found. */
int pipe_info_field(const char *text, size_t len, const char *name,
                    char *dst, size_t dstlen);

/* Text of the error given to requests while the primary is unavailable. */
void pipe_unavailable_error(const struct pipe *p, char *dst, size_t len);

#endif
