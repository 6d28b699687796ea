/*
 * conn.c -- backend connections: connect, deadline, backoff, framing.
 */
#include "conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "net.h"
#include "server.h"
#include "tls.h"

#define CONN_READ_CHUNK (64 * 1024)
#define CONN_BACKOFF_MIN_MS 100
#define CONN_BACKOFF_MAX_MS 5000

static const char *const state_names[] = {
#define X(id, name) name,
    CONN_STATE_LIST(X)
#undef X
};

const char *
conn_state_name(enum conn_state s)
{
    return state_names[s];
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents);
static int deliver(struct conn *c);
static void write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

void
conn_init(struct conn *c, const char *role, const char *host, int port,
          int tls, const struct conn_ops *ops, void *owner)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->state = CONN_DOWN;
    c->retry = 1;
    c->host = td_strdup(host);
    c->port = port;
    snprintf(c->name, sizeof(c->name), "%s %s%s:%d", role,
             tls ? "rediss://" : "", host, port);
    c->ops = ops;
    c->owner = owner;
    c->tls = tls;
    buf_init(&c->in);
    resp_scan_init(&c->scan);
    ev_init(&c->rio, read_cb);
    ev_init(&c->wio, write_cb);
    ev_init(&c->timer, timer_cb);
    c->rio.data = c;
    c->wio.data = c;
    c->timer.data = c;
}

static void
close_socket(struct conn *c)
{
    ev_io_stop(srv.loop, &c->rio);
    ev_io_stop(srv.loop, &c->wio);
    ev_timer_stop(srv.loop, &c->timer);
    tls_free(c->ssl);
    c->ssl = NULL;
    c->tls_handshaking = 0;
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    buf_clear(&c->in);
    resp_scan_init(&c->scan);
}

void
conn_free(struct conn *c)
{
    close_socket(c);
    buf_free(&c->in);
    free(c->host);
    c->host = NULL;
}

static void
set_state(struct conn *c, enum conn_state s)
{
    if (c->state != s) {
        log_verbose("%s: %s -> %s", c->name, state_names[c->state],
                    state_names[s]);
        c->state = s;
    }
}

void
conn_fail(struct conn *c, const char *why)
{
    int was_up = c->state == CONN_UP;

    if (c->state == CONN_DOWN) {
        return;
    }
    snprintf(c->last_error, sizeof(c->last_error), "%s", why);
    c->failures++;
    close_socket(c);
    set_state(c, CONN_DOWN);
    if (c->retry && !srv.shutdown_asap) {
        c->backoff_ms = c->backoff_ms == 0
                            ? CONN_BACKOFF_MIN_MS
                            : TD_MIN(c->backoff_ms * 2, CONN_BACKOFF_MAX_MS);
        ev_timer_set(&c->timer, (double)c->backoff_ms / 1000.0, 0.0);
        ev_timer_start(srv.loop, &c->timer);
    }
    c->ops->down(c, why, was_up);
}

void
conn_up(struct conn *c)
{
    ev_timer_stop(srv.loop, &c->timer);
    /* A link may confirm UP more than once (a replica waiting for the
     * pipe, then deciding): one connection counts once. */
    if (c->state != CONN_UP) {
        c->connects++;
    }
    set_state(c, CONN_UP);
    c->backoff_ms = 0;
    c->last_error[0] = '\0';
    c->up_since = td_mstime();
}

void
conn_connect(struct conn *c)
{
    char err[256];

    if (c->state != CONN_DOWN) {
        return;
    }
    ev_timer_stop(srv.loop, &c->timer);
    c->fd = net_connect_tcp(c->host, c->port, err, sizeof(err));
    set_state(c, CONN_CONNECTING);
    if (c->fd < 0) {
        conn_fail(c, err);
        return;
    }
    net_set_nodelay(c->fd);
    net_set_keepalive(c->fd, (int)srv.cfg.tcp_keepalive);
    ev_io_set(&c->rio, c->fd, EV_READ);
    ev_io_set(&c->wio, c->fd, EV_WRITE);
    ev_io_start(srv.loop, &c->wio);
    ev_timer_set(&c->timer, (double)srv.cfg.connect_timeout / 1000.0, 0.0);
    ev_timer_start(srv.loop, &c->timer);
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct conn *c = w->data;

    if (c->state == CONN_DOWN) {
        conn_connect(c);
    } else if (c->state != CONN_UP) {
        conn_fail(c, "connect-timeout expired before the handshake "
                     "completed");
    }
}

void
conn_want_write(struct conn *c, int on)
{
    if (c->fd < 0 || c->state == CONN_CONNECTING) {
        return;
    }
    if (on) {
        ev_io_start(srv.loop, &c->wio);
    } else {
        ev_io_stop(srv.loop, &c->wio);
    }
}

/* TLS has no writev: the buffers go one after the other. */
static ssize_t
tls_writev(struct conn *c, const struct iovec *iov, int n)
{
    ssize_t total = 0;
    int i;

    for (i = 0; i < n; i++) {
        int want = 0;
        ssize_t w = tls_write(c->ssl, iov[i].iov_base, iov[i].iov_len, &want);

        if (w == -2) {
            break;
        }
        if (w < 0) {
            conn_fail(c, tls_last_error());
            return -1;
        }
        total += w;
        if ((size_t)w < iov[i].iov_len) {
            break;
        }
    }
    return total;
}

ssize_t
conn_writev(struct conn *c, const struct iovec *iov, int n)
{
    ssize_t w;

    if (c->fd < 0 || c->state == CONN_CONNECTING || c->state == CONN_DOWN ||
        c->tls_handshaking) {
        return 0;
    }
    if (c->ssl != NULL) {
        return tls_writev(c, iov, n);
    }
    w = writev(c->fd, iov, n);
    if (w < 0) {
        if (errno == EAGAIN || errno == EINTR) {
            return 0;
        }
        conn_fail(c, strerror(errno));
        return -1;
    }
    return w;
}

/* TCP (and TLS, where used) is up: the owner's handshake begins. */
static void
connected(struct conn *c)
{
    set_state(c, CONN_HANDSHAKE);
    ev_io_stop(srv.loop, &c->wio);
    ev_io_start(srv.loop, &c->rio);
    c->ops->connected(c);
}

static void
tls_step(struct conn *c)
{
    int want = 0;
    int rc = tls_handshake(c->ssl, &want);
    char why[300];

    if (rc < 0) {
        snprintf(why, sizeof(why), "%s", tls_last_error());
        conn_fail(c, why);
        return;
    }
    if (rc == 0) {
        if (want == TLS_WANT_READ) {
            ev_io_stop(srv.loop, &c->wio);
            ev_io_start(srv.loop, &c->rio);
        } else {
            ev_io_stop(srv.loop, &c->rio);
            ev_io_start(srv.loop, &c->wio);
        }
        return;
    }
    c->tls_handshaking = 0;
    log_verbose("%s: TLS up (%s)", c->name, tls_describe(c->ssl));
    connected(c);
}

static void
write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = w->data;

    if (c->state == CONN_CONNECTING && !c->tls_handshaking) {
        int e = net_connect_result(c->fd);

        ev_io_stop(loop, &c->wio);
        if (e != 0) {
            conn_fail(c, strerror(e));
            return;
        }
        if (c->tls) {
            c->ssl = tls_connect(c->fd, c->host);
            if (c->ssl == NULL) {
                conn_fail(c, "TLS is not configured for backends (see "
                             "tls-ca-cert-file)");
                return;
            }
            c->tls_handshaking = 1;
            tls_step(c);
            return;
        }
        connected(c);
        return;
    }
    if (c->tls_handshaking) {
        tls_step(c);
        return;
    }
    c->ops->writable(c);
}

/* Reads what the socket has: > 0 bytes, 0 nothing now, -1 failed. */
static ssize_t
fill(struct conn *c)
{
    ssize_t n;

    buf_reserve(&c->in, TD_MAX(CONN_READ_CHUNK, c->in.len));
    if (c->ssl != NULL) {
        int want = 0;

        n = tls_read(c->ssl, buf_tail(&c->in), buf_room(&c->in), &want);
        if (n == -2) {
            return 0;
        }
        if (n <= 0) {
            conn_fail(c, n == 0 ? "connection closed by the server"
                                : tls_last_error());
            return -1;
        }
    } else {
        n = read(c->fd, buf_tail(&c->in), buf_room(&c->in));
        if (n <= 0) {
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                return 0;
            }
            conn_fail(c, n == 0 ? "connection closed by the server"
                                : strerror(errno));
            return -1;
        }
    }
    c->in.len += (size_t)n;
    /* The replies in these bytes are available now (latency metrics). */
    metrics_clock_reset();
    return n;
}

static void
read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = w->data;

    if (c->tls_handshaking) {
        tls_step(c);
        return;
    }
    /* Records TLS already decrypted do not wake the loop: drain them. */
    do {
        if (fill(c) <= 0) {
            return;
        }
        if (!deliver(c)) {
            return;
        }
    } while (c->ssl != NULL && tls_pending(c->ssl) > 0);
}

/* Hands every complete reply to the owner. Returns 0 when the connection
 * failed meanwhile. */
static int
deliver(struct conn *c)
{
    while (c->in.len > 0) {
        size_t len = 0;
        int rc = resp_scan_reply(&c->scan, buf_head(&c->in), c->in.len, &len);

        if (rc == 0) {
            break;
        }
        if (rc < 0) {
            conn_fail(c, "malformed reply");
            return 0;
        }
        c->ops->reply(c, buf_head(&c->in), len);
        if (c->state == CONN_DOWN) {
            return 0;    /* failed inside the callback; buffers are reset */
        }
        buf_consume(&c->in, len);
    }
    if (c->in.len == 0) {
        buf_shrink(&c->in, 1024 * 1024);
    }
    return 1;
}
