/*
 * pipe.h -- the pipe: tandem's single pipelined connection to the primary
 * (DESIGN invariant I2). Every command sent to the primary on behalf of
 * clients travels here in dispatch order; replies come back in the same
 * order and are matched to their slots.
 *
 *   clients --dispatch--> [ out buffer ] --write--> primary
 *                         [ slot FIFO  ] <--read--- replies, in order
 *
 * A slot is either a client request (its reply goes to the client's
 * ordered reply queue) or tandem's own command (its reply goes to a
 * callback, e.g. the handshake's COMMAND).
 */
#ifndef TD_PIPE_H
#define TD_PIPE_H

#include <ev.h>
#include <stdint.h>

#include "buf.h"
#include "cmdtable.h"
#include "resp.h"
#include "util.h"

struct req;

#define PIPE_STATE_LIST(X)                                                 \
    X(DOWN, "down")             /* no connection; retrying with backoff */ \
    X(CONNECTING, "connecting") /* TCP connect in progress */              \
    X(HANDSHAKE, "handshake")   /* AUTH, COMMAND and INFO in flight */     \
    X(UP, "up")                 /* serving clients */

enum pipe_state {
#define X(id, name) PIPE_##id,
    PIPE_STATE_LIST(X)
#undef X
};

/* Receives the reply to one of tandem's own commands; reply is NULL when
 * the pipe was lost before the reply came. */
typedef void (*pipe_reply_fn)(void *ctx, const char *reply, size_t len);

struct pipe_slot {
    struct req     *req;      /* a client's request, or NULL */
    pipe_reply_fn  fn;        /* tandem's own command */
    void           *ctx;
};

struct pipe {
    enum pipe_state  state;
    int              fd;
    ev_io            rio;
    ev_io            wio;
    ev_timer         timer;          /* connect deadline, or retry backoff */
    int64_t          backoff_ms;

    struct buf       out;            /* commands not yet written */
    struct buf       in;             /* replies not yet matched */
    struct resp_scan scan;

    struct pipe_slot *slots;         /* FIFO ring of awaited replies */
    size_t           slot_head;
    size_t           slot_count;
    size_t           slot_cap;

    long long        db;             /* database selected on the primary */
    long long        databases;      /* the primary's 'databases' */
    struct cmdtable  table;          /* from the primary's COMMAND */
    int              handshake_left; /* handshake replies still awaited */
    int              handshake_ok;
    char             redis_version[32];
    char             run_id[41];
    char             last_error[256];
    int64_t          up_since;       /* ms, td_mstime() */
};

/* Starts connecting to the configured primary. */
void pipe_start(struct pipe *p);
/* Closes the connection for good (shutdown). */
void pipe_stop(struct pipe *p);

/* True when client commands can be dispatched now. */
static inline int
pipe_is_up(const struct pipe *p)
{
    return p->state == PIPE_UP;
}

/* True while a connection attempt is in progress: clients wait for it
 * rather than get an error. */
static inline int
pipe_is_connecting(const struct pipe *p)
{
    return p->state == PIPE_CONNECTING || p->state == PIPE_HANDSHAKE;
}

/* Too much unsent: clients should stop being read until it drains. */
int pipe_congested(const struct pipe *p);

/* Sends a client's request: raw is a complete RESP command. Selects db
 * first when the pipe is elsewhere. */
void pipe_send_request(struct pipe *p, struct req *r, long long db,
                       const char *raw, size_t rawlen);
/* Sends one of tandem's own commands. */
void pipe_send_internal(struct pipe *p, const char *cmd, size_t len,
                        pipe_reply_fn fn, void *ctx);

/* Writes what is pending (called once per loop iteration). */
void pipe_flush(struct pipe *p);

const char *pipe_state_name(enum pipe_state s);

/* Text of the error given to requests while the primary is unavailable. */
void pipe_unavailable_error(const struct pipe *p, char *dst, size_t len);

#endif
