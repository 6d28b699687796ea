/*
 * conn.h -- a connection to a backend: non-blocking connect with a
 * deadline, reconnection with exponential backoff, and RESP reply framing.
 * The pipe and the replica links are built on it; what they send and how
 * they read each reply is theirs, through a small table of callbacks.
 *
 *   DOWN --retry timer--> CONNECTING --connected--> HANDSHAKE --conn_up--> UP
 *     ^                        |                        |                 |
 *     +------------ conn_fail (error, EOF, deadline) ---+-----------------+
 */
#ifndef TD_CONN_H
#define TD_CONN_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "buf.h"
#include "resp.h"

#define CONN_STATE_LIST(X)          \
    X(DOWN, "down")                 \
    X(CONNECTING, "connecting")     \
    X(HANDSHAKE, "handshake")       \
    X(UP, "up")

enum conn_state {
#define X(id, name) CONN_##id,
    CONN_STATE_LIST(X)
#undef X
};

struct conn;

struct conn_ops {
    /* TCP is connected: send the handshake. */
    void (*connected)(struct conn *c);
    /* One complete reply. */
    void (*reply)(struct conn *c, const char *reply, size_t len);
    /* The socket can take more bytes (after conn_want_write). */
    void (*writable)(struct conn *c);
    /* The connection is gone (was_up: it had been UP). */
    void (*down)(struct conn *c, const char *why, int was_up);
};

struct conn {
    enum conn_state       state;
    int                   fd;
    ev_io                 rio;
    ev_io                 wio;
    ev_timer              timer;        /* connect deadline or retry */
    int64_t               backoff_ms;
    int                   retry;        /* reconnect after a failure */
    struct buf            in;
    struct resp_scan      scan;
    char                  *host;
    int                   port;
    char                  name[96];     /* "primary 10.0.0.1:6379" */
    char                  last_error[256];
    const struct conn_ops *ops;
    void                  *owner;
    int64_t               up_since;     /* td_mstime() */
    int                   tls;          /* speak TLS to this backend */
    struct ssl_st         *ssl;
    int                   tls_handshaking;
    uint64_t              connects;     /* times UP was reached */
    uint64_t              failures;     /* conn_fail calls: failed
                                         * connects and lost links */
};

/* tls: the connection speaks TLS (rediss://). */
void conn_init(struct conn *c, const char *role, const char *host, int port,
               int tls, const struct conn_ops *ops, void *owner);
/* Stops everything and releases buffers (no callback). */
void conn_free(struct conn *c);

/* Connects now (from DOWN). */
void conn_connect(struct conn *c);
/* Closes, reports down() and, when retry is set, schedules a reconnect
 * with backoff. Safe to call from inside a callback. */
void conn_fail(struct conn *c, const char *why);
/* The handshake is complete. */
void conn_up(struct conn *c);

void conn_want_write(struct conn *c, int on);
/* Writes what the socket takes. Returns bytes written (0 when it would
 * block), or -1 after failing the connection. */
ssize_t conn_writev(struct conn *c, const struct iovec *iov, int n);

const char *conn_state_name(enum conn_state s);

#endif
