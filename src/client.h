/*
 * client.h -- a client connection: its query buffer and parser, and its
 * replies, kept in request order whatever answers each request.
 *
 *   reqs:  head -> [GET a: awaiting primary] -> [PING: done "+PONG"] -> tail
 *   out:   bytes ready to write (every reply before head)
 *
 * A reply that arrives for the head request goes straight to out, followed
 * by every done request behind it. A reply for a later request is held in
 * that request until the ones before it are answered.
 */
#ifndef TD_CLIENT_H
#define TD_CLIENT_H

#include <ev.h>
#include <stdint.h>

#include "buf.h"
#include "resp.h"

struct client;
struct watcher;
struct blocked;
struct sub;

/* One request awaiting or holding its reply. */
struct req {
    struct req    *next;      /* next request of the same client */
    struct client *client;    /* NULL once the client has gone */
    /* Sees a backend's reply first (blocking pops); returns 1 when it
     * took care of it and the request stays as it is. */
    int           (*hook)(struct req *r, const char *reply, size_t len);
    void          *hook_ctx;
    struct buf    reply;      /* held reply, while earlier ones are due */
    size_t        counted;    /* of it, bytes counted in client->held */
    int           done;       /* reply complete */
    int           mute;       /* CLIENT REPLY OFF/SKIP: reply dropped */
    int           route;      /* enum metrics_route: timed when not NONE */
    int64_t       start_ns;   /* metrics_clock() at dispatch, if timed */
};

/* Why a command's replies are dropped (client->muted). */
#define MUTED_OFF   1    /* CLIENT REPLY OFF was in force */
#define MUTED_SKIP  2    /* it follows CLIENT REPLY SKIP */

#define CLIENT_CLOSE_AFTER_REPLY  (1 << 0)  /* QUIT, protocol error */
#define CLIENT_CLOSING            (1 << 1)  /* queued for freeing */
#define CLIENT_PENDING_WRITE      (1 << 2)  /* on srv.pending_writes */
#define CLIENT_UNIX               (1 << 3)  /* connected on the unix socket */
#define CLIENT_TLS_HANDSHAKE      (1 << 4)  /* TLS handshake in progress */
#define CLIENT_HELD               (1 << 5)  /* a command for the primary
                                             * waits for reads on replicas */
#define CLIENT_PAUSED             (1 << 6)  /* held by CLIENT PAUSE */
#define CLIENT_PROCESSING         (1 << 7)  /* in process_input() */

struct client {
    uint64_t           id;
    int                fd;
    int                flags;
    ev_io              rio;
    ev_io              wio;
    struct ssl_st      *ssl;           /* connected on tls-port */
    char               addr[64];       /* peer, "ip:port" or the socket */
    char               laddr[64];      /* our end */

    struct buf         in;             /* query buffer */
    struct resp_parser parser;
    struct buf         out;            /* replies ready to write */
    struct req         *head;          /* requests in order */
    struct req         *tail;
    uint64_t           nreqs;          /* requests awaiting or holding */
    uint64_t           held;           /* bytes held in requests */

    long long          db;             /* emulated SELECT */
    uint64_t           woff;           /* stream offset after its last
                                        * write (WAIT, read routing) */
    uint64_t           writes_inflight;/* writes sent, not yet in the
                                        * stream */
    uint64_t           replica_reads;  /* reads in flight on replicas */
    struct watcher     *watching;      /* WATCHed keys (watch.c) */
    int                watch_dirty;    /* one was written: EXEC fails */
    int                monitor;        /* in MONITOR mode */
    struct blocked     *blocked;       /* waiting in a blocking pop */
    struct sub         **subs;         /* Pub/Sub subscriptions */
    size_t             nsubs;
    int                multi;          /* inside MULTI */
    int                multi_dirty;    /* a queued command was refused */
    int                multi_writes;   /* a queued command may write */
    size_t             multi_count;    /* commands queued */
    long long          multi_db;       /* database after the queued
                                        * SELECTs */
    struct buf         multi_buf;      /* queued commands, RESP */
    int                authenticated;
    int                reply_off;      /* CLIENT REPLY OFF */
    int                reply_skip;     /* CLIENT REPLY SKIP: the next
                                        * command's reply is dropped */
    int                muted;          /* the command being dispatched
                                        * gets no reply: MUTED_* bits */
    const struct acl_user *user;       /* as Redis's c->user: the
                                        * default user until AUTH */
    char               *name;          /* CLIENT SETNAME */
    char               lastcmd[32];    /* for CLIENT LIST */

    double             ctime;          /* ev_now() at accept */
    double             last_active;    /* ev_now() at last read */
    double             obuf_soft_since;/* 0: under the soft limit */

    struct client      *prev;          /* srv's list, least active first */
    struct client      *next;
    struct client      *next_pending;  /* srv.pending_writes */
    struct client      *next_closing;  /* srv.closing */
};

/* Takes ownership of an accepted socket (is_tls: on tls-port). */
struct client *client_create(int fd, int is_unix, int is_tls);

/* Schedules the client to be freed before the loop sleeps. */
void client_close(struct client *c, const char *why);
/* Frees every client queued by client_close(). */
void client_reap(void);

/* Where a reply produced by tandem goes: out when nothing is ahead of it,
 * otherwise a done request at the tail (or nowhere, under CLIENT REPLY
 * OFF or SKIP). */
struct buf *client_reply_buf(struct client *c);

/* Adds a request awaiting a reply from a backend. */
struct req *client_req_push(struct client *c);
/* Times r, sent to a backend now by route (enum metrics_route), until
 * its reply (tandem_command_duration_seconds). */
void req_time(struct req *r, int route);
/* A backend's reply for r (or the error text when it failed). */
void req_reply(struct req *r, const char *reply, size_t len);

/* Marks c to have its output written before the loop sleeps. */
void client_want_write(struct client *c);
/* Writes every pending client's output (once per loop iteration). */
void client_flush_all(void);

/* Recomputes which watchers c needs (read unless closing, connecting or
 * congested). */
void client_update_io(struct client *c);

/* Restarts reading and parsing clients held back while the primary was
 * connecting or congested. */
void client_resume_all(void);

/* c waits in a blocking pop: its further commands wait too, as with
 * Redis. client_unblock() lets them go. */
void client_block(struct client *c);
void client_unblock(struct client *c);

/* A read of c on a replica was answered or moved to the primary. */
void client_replica_read_done(struct client *c);
/* Resumes clients whose held command may now go (before sleeping). */
void client_release_held(void);

/* Once a second: idle timeouts and the soft output limit. */
void client_cron(void);

/* Writes the CLIENT LIST line of c. */
void client_describe(const struct client *c, struct buf *b);

#endif
