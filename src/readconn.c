/*
 * readconn.c -- read connections to replicas; see readconn.h.
 */
#include "readconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "log.h"
#include "pipe.h"
#include "replica.h"
#include "server.h"

#define READCONN_WATCH_S 0.1          /* how often the deadline is checked */
#define READCONN_PING_MS 1000         /* keepalive when idle */

/* A read the replica could not serve goes to the primary, or fails with
 * the primary's unavailability when the pipe is down too. */
static void
to_primary(struct readconn *rc, struct req *req, long long db,
           const char *raw, size_t len)
{
    rc->failovers++;
    /* On the pipe now, before anything the client sent after it. */
    client_replica_read_done(req->client);
    if (pipe_is_up(&srv.pipe)) {
        pipe_send_request(&srv.pipe, req, db, NULL, 0, NULL, raw, len);
    } else {
        char msg[512];
        size_t n;

        pipe_unavailable_error(&srv.pipe, msg, sizeof(msg) - 2);
        n = strlen(msg);
        memcpy(msg + n, "\r\n", 3);
        req_reply(req, msg, n + 2);
    }
}

static void
on_down(struct conn *c, const char *why, int was_up)
{
    struct readconn *rc = c->owner;
    size_t moved = 0;

    rc->healthy = 0;
    rc->db = 0;
    buf_clear(&rc->out);
    while (rc->slots.count > 0) {
        struct read_slot s;

        fifo_pop(&rc->slots, &s);
        if (s.req != NULL) {
            to_primary(rc, s.req, s.db, buf_head(&rc->sent), s.len);
            moved++;
        }
        buf_consume(&rc->sent, s.len);
    }
    if (was_up && !srv.shutdown_asap) {
        log_warning("Read connection to replica %s lost (%s); %zu reads "
                    "went to the primary", rc->replica->addr->spec, why,
                    moved);
    }
}

static void
send_internal(struct readconn *rc, const char *cmd, size_t len)
{
    struct read_slot s;

    memset(&s, 0, sizeof(s));
    s.sent_ms = td_mstime();
    buf_append(&rc->out, cmd, len);
    fifo_push(&rc->slots, &s);
}

static void
on_connected(struct conn *c)
{
    struct readconn *rc = c->owner;
    const struct backend_addr *a = rc->replica->addr;
    const char *user = a->user != NULL ? a->user : srv.cfg.backend_user;
    const char *pass = a->password != NULL ? a->password
                                           : srv.cfg.backend_password;
    struct buf b;

    buf_init(&b);
    if (pass != NULL) {
        struct resp_arg auth[3] = {{"AUTH", 4},
                                   {user != NULL ? user : "default", 0},
                                   {pass, strlen(pass)}};

        auth[1].len = strlen(auth[1].ptr);
        resp_add_command(&b, 3, auth);
        send_internal(rc, buf_head(&b), b.len);
    }
    send_internal(rc, "*1\r\n$4\r\nPING\r\n", 14);
    buf_free(&b);
    /* Up only once the replica answers: a backend that accepts and then
     * drops the connection is retried with backoff, not in a loop. */
    readconn_flush(rc);
}

static void
on_reply(struct conn *c, const char *reply, size_t len)
{
    struct readconn *rc = c->owner;
    struct read_slot s;

    if (rc->slots.count == 0) {
        conn_fail(c, "reply with no request");
        return;
    }
    fifo_pop(&rc->slots, &s);
    rc->last_reply_ms = td_mstime();
    if (s.req == NULL) {
        /* AUTH, SELECT or PING: an error before the first PONG means the
         * replica will not serve reads on this connection. */
        if (reply[0] == '-' && !rc->healthy) {
            char why[256];

            snprintf(why, sizeof(why), "handshake refused: %.*s",
                     (int)TD_MIN(len - 2, 200), reply + 1);
            conn_fail(c, why);
            return;
        }
        if (len >= 5 && memcmp(reply, "+PONG", 5) == 0 && !rc->healthy) {
            rc->healthy = 1;
            conn_up(c);
        }
        return;
    }
    /* A replica that lacks a script or a function, or is still loading:
     * the primary answers instead. */
    if (len > 9 && (memcmp(reply, "-NOSCRIPT", 9) == 0 ||
                    memcmp(reply, "-LOADING", 8) == 0 ||
                    memcmp(reply, "-BUSY", 5) == 0 ||
                    (len >= 23 &&
                     memcmp(reply, "-ERR Function not found", 23) == 0))) {
        to_primary(rc, s.req, s.db, buf_head(&rc->sent), s.len);
    } else {
        rc->reads++;
        client_replica_read_done(s.req->client);
        req_reply(s.req, reply, len);
    }
    buf_consume(&rc->sent, s.len);
}

static void
on_writable(struct conn *c)
{
    readconn_flush(c->owner);
}

static const struct conn_ops readconn_ops = {
    on_connected,
    on_reply,
    on_writable,
    on_down,
};

/* The reply deadline, and a PING when idle. */
static void
watch_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct readconn *rc = w->data;
    int64_t now = td_mstime();

    if (rc->conn.state != CONN_UP) {
        return;
    }
    if (rc->slots.count > 0) {
        const struct read_slot *oldest = fifo_head(&rc->slots);

        if (now - oldest->sent_ms > srv.cfg.max_replica_lag) {
            char why[128];

            snprintf(why, sizeof(why),
                     "no reply within max-replica-lag (%lld ms)",
                     srv.cfg.max_replica_lag);
            conn_fail(&rc->conn, why);
        }
        return;
    }
    if (now - rc->last_reply_ms >= READCONN_PING_MS) {
        send_internal(rc, "*1\r\n$4\r\nPING\r\n", 14);
        readconn_flush(rc);
    }
}

void
readconn_start(struct readconn *rc, struct replica *r)
{
    memset(rc, 0, sizeof(*rc));
    fifo_init(&rc->slots, sizeof(struct read_slot));
    rc->replica = r;
    buf_init(&rc->out);
    buf_init(&rc->sent);
    conn_init(&rc->conn, "read", r->addr->host, r->addr->port,
              r->addr->tls || srv.cfg.tls_replication, &readconn_ops, rc);
    ev_timer_init(&rc->watch, watch_cb, READCONN_WATCH_S, READCONN_WATCH_S);
    rc->watch.data = rc;
    ev_timer_start(srv.loop, &rc->watch);
    conn_connect(&rc->conn);
}

void
readconn_stop(struct readconn *rc)
{
    ev_timer_stop(srv.loop, &rc->watch);
    rc->conn.retry = 0;
    conn_fail(&rc->conn, "closed");
    conn_free(&rc->conn);
    buf_free(&rc->out);
    buf_free(&rc->sent);
    fifo_free(&rc->slots);
}

int
readconn_ready(const struct readconn *rc)
{
    return rc->conn.state == CONN_UP && rc->healthy;
}

void
readconn_send(struct readconn *rc, struct req *req, long long db,
              const char *raw, size_t rawlen)
{
    struct read_slot s;

    if (db != rc->db) {
        char num[24];
        struct resp_arg argv[2] = {{"SELECT", 6}, {num, 0}};
        struct buf b;

        argv[1].len = (size_t)snprintf(num, sizeof(num), "%lld", db);
        buf_init(&b);
        resp_add_command(&b, 2, argv);
        send_internal(rc, buf_head(&b), b.len);
        buf_free(&b);
        rc->db = db;
    }
    memset(&s, 0, sizeof(s));
    s.req = req;
    s.db = db;
    s.len = (uint32_t)rawlen;
    s.sent_ms = td_mstime();
    buf_append(&rc->out, raw, rawlen);
    buf_append(&rc->sent, raw, rawlen);
    fifo_push(&rc->slots, &s);
}

void
readconn_flush(struct readconn *rc)
{
    while (rc->out.len > 0) {
        struct iovec iov = {buf_head(&rc->out), rc->out.len};
        ssize_t n = conn_writev(&rc->conn, &iov, 1);

        if (n < 0) {
            return;
        }
        if (n == 0) {
            break;
        }
        buf_consume(&rc->out, (size_t)n);
    }
    conn_want_write(&rc->conn, rc->out.len > 0);
}
