/*
 * metrics.c -- the Prometheus text endpoint (DESIGN section 7): a small
 * HTTP/1.x server on the loop, on metrics-bind:metrics-port, that answers
 * GET /metrics with the exposition format 0.0.4 and closes.
 *
 *   accept --> READING --header complete--> WRITING --all sent--> close
 *                 |  (at most 8 KB)            (EV_WRITE while the
 *                 |                              socket is full)
 *                 +-- 8 KB without a header: 431, then LINGERING
 *                     (our side shut, input discarded) until EOF
 *
 *   every connection: closed METRICS_DEADLINE_S after accept, whatever
 *   its state; at most METRICS_MAX_CONNS at once (more get a 503).
 *
 * A metrics connection is never a client: it has its own small table of
 * connections, its failures are logged at verbose and only close it, and
 * nothing on the request path waits for it. The text is built in one go
 * when the request is complete, so a scrape is one consistent snapshot of
 * one loop iteration; a body the socket does not take at once is written
 * as the socket drains.
 *
 * What it shows is read, when scraped, from where INFO reads it: the
 * counters of stats.h (tandem_<INFO name without "total_">_total), the
 * clients, the pipe, the stream, and each replica link (label
 * replica="host:port", never the configured spec, which may carry a
 * password). Only the latency histogram is kept here: client.c times
 * each request sent to a backend and calls metrics_observe() when its
 * reply is available.
 */
#include "metrics.h"

#include <errno.h>
#include <ev.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "block.h"
#include "log.h"
#include "net.h"
#include "replica.h"
#include "server.h"
#include "version.h"
#include "wait.h"
#include "watch.h"

#define METRICS_MAX_CONNS     16       /* open at once; more get a 503 */
#define METRICS_REQUEST_MAX   8192     /* bytes of request line + header */
#define METRICS_DEADLINE_S    10.0     /* a connection's whole life */
#define METRICS_LINGER_S      2.0      /* draining after an error reply */
#define METRICS_ACCEPTS       64       /* per accept callback */

#define CONTENT_TYPE_TEXT "text/plain; version=0.0.4; charset=utf-8"

struct mconn {
    int          fd;
    ev_io        io;             /* EV_READ, then EV_WRITE */
    ev_timer     deadline;
    char         in[METRICS_REQUEST_MAX];
    size_t       inlen;
    struct buf   out;            /* the response, not yet sent */
    int          linger;         /* after the response: drain input */
    struct mconn *prev;
    struct mconn *next;
};

/* ---- the latency histogram ---------------------------------------- */

static const double bucket_le[] = {
#define X(le) le,
    METRICS_BUCKETS_LIST(X)
#undef X
};

#define NBUCKETS (sizeof(bucket_le) / sizeof(bucket_le[0]))

static const int64_t bucket_ns[] = {
#define X(le) (int64_t)((le) * 1e9 + 0.5),
    METRICS_BUCKETS_LIST(X)
#undef X
};

struct histogram {
    uint64_t counts[NBUCKETS + 1];   /* per bucket, not cumulative; the
                                      * last is over the largest bound */
    uint64_t count;
    uint64_t sum_ns;
};

static struct histogram hist[METRICS_NROUTES];

static const char *const route_names[] = {
#define X(id, name) name,
    METRICS_ROUTE_LIST(X)
#undef X
};

static int64_t clock_ns;    /* 0: read at the next metrics_clock() */

int64_t
metrics_clock(void)
{
    if (clock_ns == 0) {
        clock_ns = td_nstime();
    }
    return clock_ns;
}

void
metrics_clock_reset(void)
{
    clock_ns = 0;
}

void
metrics_observe(enum metrics_route route, int64_t start_ns)
{
    struct histogram *h = &hist[route];
    int64_t d = metrics_clock() - start_ns;
    size_t i = 0;

    TD_ASSERT(route > METRICS_ROUTE_NONE && route < METRICS_NROUTES);
    if (d < 0) {
        d = 0;
    }
    while (i < NBUCKETS && d > bucket_ns[i]) {
        i++;
    }
    h->counts[i]++;
    h->count++;
    h->sum_ns += (uint64_t)d;
}

/* ---- the exposition text ------------------------------------------- */


/* Writes s escaped as the format wants: in HELP, backslash and newline;
 * in a label value, the double quote too. */
static void
add_escaped(struct buf *b, const char *s, int quote)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\') {
            buf_append(b, "\\\\", 2);
        } else if (*s == '\n') {
            buf_append(b, "\\n", 2);
        } else if (*s == '"' && quote) {
            buf_append(b, "\\\"", 2);
        } else {
            buf_append(b, s, 1);
        }
    }
}

/* The # HELP and # TYPE lines that open a metric family. */
static void
family(struct buf *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s ", name);
    add_escaped(b, help, 0);
    buf_printf(b, "\n# TYPE %s %s\n", name, type);
}

static void
gauge(struct buf *b, const char *name, const char *help, double v)
{
    family(b, name, "gauge", help);
    buf_printf(b, "%s %.17g\n", name, v);
}

static void
counter(struct buf *b, const char *name, const char *help, uint64_t v)
{
    family(b, name, "counter", help);
    buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* A stats.h counter: tandem_ + its INFO name without "total_" + _total
 * (total_commands_processed: tandem_commands_processed_total). */
static void
stat_counter(struct buf *b, const char *info_name, const char *help,
             uint64_t v)
{
    char name[128];

    if (strncmp(info_name, "total_", 6) == 0) {
        info_name += 6;
    }
    snprintf(name, sizeof(name), "tandem_%s_total", info_name);
    counter(b, name, help, v);
}

static void
proxy_metrics(struct buf *b)
{
    const struct pipe *p = &srv.pipe;
    const struct stream *s = &srv.stream;

    family(b, "tandem_build_info", "gauge",
           "always 1; the version label says which tandem this is");
    buf_append_str(b, "tandem_build_info{version=\"");
    add_escaped(b, TANDEM_VERSION, 1);
    buf_append_str(b, "\"} 1\n");
    gauge(b, "tandem_start_time_seconds",
          "when the process started, in seconds since the epoch",
          (double)srv.start_time);
#define X(field, name, help) stat_counter(b, name, help, srv.stats.field);
    STATS_LIST(X)
#undef X
    gauge(b, "tandem_connected_clients", "client connections open",
          (double)srv.nclients);
    gauge(b, "tandem_max_clients", "maxclients",
          (double)srv.cfg.maxclients);
    gauge(b, "tandem_blocked_clients",
          "clients waiting in a blocking command or WAIT",
          (double)(wait_count() + block_count()));
    gauge(b, "tandem_watching_clients", "clients with WATCHed keys",
          (double)watch_clients());
    gauge(b, "tandem_primary_up",
          "1 when the pipe to the primary is up (handshake done), else 0",
          p->conn.state == CONN_UP ? 1.0 : 0.0);
    counter(b, "tandem_primary_link_errors_total",
            "pipe connection failures: failed connects and lost links",
            p->conn.failures);
    gauge(b, "tandem_primary_inflight_requests",
          "requests sent on the pipe awaiting the primary's reply",
          (double)p->slots.count);
    gauge(b, "tandem_primary_pending_bytes",
          "bytes gathered for the pipe, not yet written",
          (double)p->out.len);
    gauge(b, "tandem_stream_offset_bytes",
          "the stream's offset (master_repl_offset): bytes of applied "
          "writes since the stream began",
          (double)stream_offset(s));
    counter(b, "tandem_stream_commands_total",
            "commands appended to the stream: the writes the primary "
            "applied, inserted SELECTs included",
            s->commands);
    gauge(b, "tandem_backlog_size_bytes", "backlog-size",
          (double)srv.cfg.backlog_size);
    gauge(b, "tandem_backlog_used_bytes",
          "bytes of the stream the backlog holds (repl_backlog_histlen)",
          (double)(s->backlog.end - s->backlog.start));
    gauge(b, "tandem_replicas", "replicas configured",
          (double)replica_total());
    gauge(b, "tandem_replicas_online",
          "replicas online (in sync; their acks count for WAIT)",
          (double)replica_online_count());
}

/* The replica label: host:port, brackets around an IPv6 literal. */
static void
replica_label(struct buf *b, const struct replica *r)
{
    char hostport[320];

    snprintf(hostport, sizeof(hostport),
             strchr(r->addr->host, ':') != NULL ? "[%s]:%d" : "%s:%d",
             r->addr->host, r->addr->port);
    buf_append_str(b, "replica=\"");
    add_escaped(b, hostport, 1);
    buf_append_str(b, "\"");
}

/* One value of every replica for the family name (the family's HELP and
 * TYPE lines first, even with no replica). */
enum replica_field {
    RF_ACKED,
    RF_LAG_BYTES,
    RF_LAG_SECONDS,
    RF_INFLIGHT,
    RF_BATCHES,
    RF_SEEDS,
    RF_REPAIRED_KEYS,
    RF_CONNECTS,
    RF_ERRORS,
    RF_READS,
    RF_FAILOVERS,
    RF_READ_LINK_UP
};

static void
replica_family(struct buf *b, const char *name, const char *type,
               const char *help, enum replica_field f)
{
    size_t i;

    family(b, name, type, help);
    for (i = 0; i < replica_total(); i++) {
        const struct replica *r = replica_at(i);
        int64_t lag_ms;
        uint64_t lag_bytes = replica_lag(r, &lag_ms);
        double v = 0;

        switch (f) {
        case RF_ACKED:
            v = (double)r->acked;
            break;
        case RF_LAG_BYTES:
            v = (double)lag_bytes;
            break;
        case RF_LAG_SECONDS:
            v = (double)lag_ms / 1000.0;
            break;
        case RF_INFLIGHT:
            v = (double)r->inflight.count;
            break;
        case RF_BATCHES:
            v = (double)r->batches;
            break;
        case RF_SEEDS:
            v = (double)r->seeds;
            break;
        case RF_REPAIRED_KEYS:
            v = (double)r->repair.keys;
            break;
        case RF_CONNECTS:
            v = (double)r->conn.connects;
            break;
        case RF_ERRORS:
            v = (double)r->conn.failures;
            break;
        case RF_READS:
            v = (double)r->rc.reads;
            break;
        case RF_FAILOVERS:
            v = (double)r->rc.failovers;
            break;
        case RF_READ_LINK_UP:
            v = readconn_ready(&r->rc) ? 1.0 : 0.0;
            break;
        }
        buf_printf(b, "%s{", name);
        replica_label(b, r);
        buf_printf(b, "} %.17g\n", v);
    }
}

static void
replica_metrics(struct buf *b)
{
    static const char *const states[] = {
#define X(id, name) name,
        REPLICA_STATE_LIST(X)
#undef X
    };
    size_t i;
    size_t k;

    family(b, "tandem_replica_state", "gauge",
           "1 for the replica link's current state, 0 for the others "
           "(down, handshake, seeding, online, needs-seed, refused)");
    for (i = 0; i < replica_total(); i++) {
        const struct replica *r = replica_at(i);

        for (k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
            buf_append_str(b, "tandem_replica_state{");
            replica_label(b, r);
            buf_printf(b, ",state=\"%s\"} %d\n", states[k], (size_t)r->state == k);
        }
    }
    replica_family(b, "tandem_replica_acked_offset_bytes", "gauge",
                   "stream offset the replica acknowledged (it holds the "
                   "stream up to there)", RF_ACKED);
    replica_family(b, "tandem_replica_lag_bytes", "gauge",
                   "stream bytes the replica has not acknowledged",
                   RF_LAG_BYTES);
    replica_family(b, "tandem_replica_lag_seconds", "gauge",
                   "age of the oldest batch the replica has not "
                   "acknowledged (0 when in sync)", RF_LAG_SECONDS);
    replica_family(b, "tandem_replica_batches_in_flight", "gauge",
                   "MULTI/EXEC batches sent, awaiting their EXEC reply",
                   RF_INFLIGHT);
    replica_family(b, "tandem_replica_batches_total", "counter",
                   "MULTI/EXEC batches sent to the replica", RF_BATCHES);
    replica_family(b, "tandem_replica_seeds_total", "counter",
                   "seeds started (DUMP/RESTORE copies of the primary)",
                   RF_SEEDS);
    replica_family(b, "tandem_replica_repaired_keys_total", "counter",
                   "keys transferred because the replica answered a teed "
                   "write otherwise than the primary", RF_REPAIRED_KEYS);
    replica_family(b, "tandem_replica_link_connects_total", "counter",
                   "replication link handshakes", RF_CONNECTS);
    replica_family(b, "tandem_replica_link_errors_total", "counter",
                   "replication link failures: failed connects, lost "
                   "links, links taken out of service", RF_ERRORS);
    replica_family(b, "tandem_replica_reads_total", "counter",
                   "client reads served by the replica", RF_READS);
    replica_family(b, "tandem_replica_read_failovers_total", "counter",
                   "reads routed to the replica but sent to the primary "
                   "instead (its read connection failed or stalled)",
                   RF_FAILOVERS);
    replica_family(b, "tandem_replica_read_link_up", "gauge",
                   "1 when the replica's read connection takes reads",
                   RF_READ_LINK_UP);
}

static void
latency_metrics(struct buf *b)
{
    static const char name[] = "tandem_command_duration_seconds";
    int route;
    size_t i;

    family(b, name, "histogram",
           "time from dispatching a client command to a backend (route) "
           "to its reply being available to the client; blocking "
           "commands and tandem's own replies are not timed");
    for (route = METRICS_ROUTE_NONE + 1; route < METRICS_NROUTES; route++) {
        const struct histogram *h = &hist[route];
        const char *rn = route_names[route];
        uint64_t cumulative = 0;

        for (i = 0; i < NBUCKETS; i++) {
            cumulative += h->counts[i];
            buf_printf(b, "%s_bucket{route=\"%s\",le=\"%g\"} %llu\n", name, rn,
                bucket_le[i], (unsigned long long)cumulative);
        }
        buf_printf(b, "%s_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", name, rn,
            (unsigned long long)h->count);
        buf_printf(b, "%s_sum{route=\"%s\"} %.9f\n", name, rn,
            (double)h->sum_ns / 1e9);
        buf_printf(b, "%s_count{route=\"%s\"} %llu\n", name, rn,
            (unsigned long long)h->count);
    }
}

void
metrics_render(struct buf *b)
{
    proxy_metrics(b);
    replica_metrics(b);
    latency_metrics(b);
}

/* ---- HTTP ------------------------------------------------------------ */

static const char index_html[] =
    "<html><head><title>tandem</title></head><body>"
    "<h1>tandem</h1><p><a href=\"/metrics\">Metrics</a></p>"
    "</body></html>\n";

static int
respond(struct buf *out, int status, const char *reason, const char *type,
        const char *body, size_t len, int head_only)
{
    buf_printf(out,
        "HTTP/1.1 %d %s\r\n"
        "Content-Type: %s\r\n"
        "Content-Length: %zu\r\n"
        "%s"
        "Connection: close\r\n"
        "\r\n",
        status, reason, type, len,
        status == 405 ? "Allow: GET, HEAD\r\n" : "");
    if (!head_only) {
        buf_append(out, body, len);
    }
    return status;
}

static int
respond_text(struct buf *out, int status, const char *reason,
             const char *text, int head_only)
{
    return respond(out, status, reason, "text/plain; charset=utf-8", text,
                   strlen(text), head_only);
}

/* Exact (case-sensitive) equality of a slice and a word: HTTP methods
 * and paths are case-sensitive. */
static int
slice_is(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && memcmp(s, word, len) == 0;
}

/* The end of the request's header (the empty line), or NULL. */
static const char *
header_end(const char *req, size_t len)
{
    size_t i;

    for (i = 0; i + 1 < len; i++) {
        if (req[i] == '\n' &&
            (req[i + 1] == '\n' ||
             (req[i + 1] == '\r' && i + 2 < len && req[i + 2] == '\n'))) {
            return req + i;
        }
    }
    return NULL;
}

int
metrics_answer(const char *req, size_t len, size_t max, struct buf *out)
{
    const char *eol;
    const char *sp1;
    const char *sp2;
    const char *path;
    size_t pathlen;
    size_t vlen;
    int head;

    if (header_end(req, len) == NULL) {
        if (len < max) {
            return 0;
        }
        return respond_text(out, 431, "Request Header Fields Too Large",
                            "request header too large\n", 0);
    }
    /* The request line: METHOD SP target SP HTTP/1.x */
    eol = memchr(req, '\n', len);
    if (eol > req && eol[-1] == '\r') {
        eol--;
    }
    sp1 = memchr(req, ' ', (size_t)(eol - req));
    sp2 = sp1 != NULL ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    vlen = sp2 != NULL ? (size_t)(eol - sp2 - 1) : 0;
    if (sp2 == NULL || sp1 == req || sp2 == sp1 + 1 || vlen != 8 ||
        memcmp(sp2 + 1, "HTTP/1.", 7) != 0) {
        return respond_text(out, 400, "Bad Request", "bad request line\n",
                            0);
    }
    head = slice_is(req, (size_t)(sp1 - req), "HEAD");
    if (!head && !slice_is(req, (size_t)(sp1 - req), "GET")) {
        return respond_text(out, 405, "Method Not Allowed",
                            "only GET and HEAD\n", 0);
    }
    path = sp1 + 1;
    for (pathlen = 0; path + pathlen < sp2 && path[pathlen] != '?';
         pathlen++) {
    }
    if (slice_is(path, pathlen, "/metrics")) {
        static struct buf body;

        buf_clear(&body);
        metrics_render(&body);
        respond(out, 200, "OK", CONTENT_TYPE_TEXT, buf_head(&body),
                body.len, head);
        buf_shrink(&body, 256 * 1024);
        return 200;
    }
    if (slice_is(path, pathlen, "/")) {
        return respond(out, 200, "OK", "text/html; charset=utf-8",
                       index_html, sizeof(index_html) - 1, head);
    }
    return respond_text(out, 404, "Not Found",
                        "not found: the metrics are at /metrics\n", head);
}

/* ---- connections ------------------------------------------------------ */

static int listen_fd = -1;
static ev_io listen_io;
static ev_timer resume_timer;        /* accepts paused for descriptors */
static struct mconn *conns;
static size_t nconns;

static void
mconn_close(struct mconn *m)
{
    ev_io_stop(srv.loop, &m->io);
    ev_timer_stop(srv.loop, &m->deadline);
    close(m->fd);
    buf_free(&m->out);
    if (m->prev != NULL) {
        m->prev->next = m->next;
    } else {
        conns = m->next;
    }
    if (m->next != NULL) {
        m->next->prev = m->prev;
    }
    nconns--;
    free(m);
}

/* Watches fd for events (EV_READ or EV_WRITE) only. */
static void
mconn_watch(struct mconn *m, int events)
{
    ev_io_stop(srv.loop, &m->io);
    ev_io_set(&m->io, m->fd, events);
    ev_io_start(srv.loop, &m->io);
}

/* The response is out: close, or after an error reply shut our side and
 * discard the rest of the request until the peer closes (so that it
 * reads the reply rather than a reset). */
static void
mconn_sent(struct mconn *m)
{
    if (!m->linger) {
        mconn_close(m);
        return;
    }
    (void)shutdown(m->fd, SHUT_WR);
    ev_timer_stop(srv.loop, &m->deadline);
    ev_timer_set(&m->deadline, METRICS_LINGER_S, 0.0);
    ev_timer_start(srv.loop, &m->deadline);
    mconn_watch(m, EV_READ);
}

static void
mconn_write(struct mconn *m)
{
    while (m->out.len > 0) {
        ssize_t n = send(m->fd, buf_head(&m->out), m->out.len, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                mconn_watch(m, EV_WRITE);
                return;
            }
            log_verbose("Metrics connection: write: %s", strerror(errno));
            mconn_close(m);
            return;
        }
        buf_consume(&m->out, (size_t)n);
    }
    mconn_sent(m);
}

static void
mconn_read(struct mconn *m)
{
    ssize_t n;
    int status;

    if (m->linger) {
        char junk[4096];

        n = recv(m->fd, junk, sizeof(junk), 0);
        if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) {
            return;
        }
        mconn_close(m);
        return;
    }
    n = recv(m->fd, m->in + m->inlen, sizeof(m->in) - m->inlen, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        if (n < 0) {
            log_verbose("Metrics connection: read: %s", strerror(errno));
        }
        mconn_close(m);
        return;
    }
    m->inlen += (size_t)n;
    status = metrics_answer(m->in, m->inlen, sizeof(m->in), &m->out);
    if (status == 0) {
        return;
    }
    if (status != 200) {
        const char *eol = memchr(m->in, '\n', m->inlen);
        char line[200];

        log_verbose("Metrics request answered %d: %s", status,
                    td_repr(line, sizeof(line), m->in,
                            eol != NULL ? (size_t)(eol - m->in) : m->inlen,
                            40));
    }
    /* An over-long header is still arriving. */
    m->linger = status == 431;
    mconn_write(m);
}

static void
mconn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct mconn *m = w->data;

    if (revents & EV_WRITE) {
        mconn_write(m);
    } else {
        mconn_read(m);
    }
}

static void
mconn_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct mconn *m = w->data;

    if (!m->linger) {
        log_verbose("Metrics connection closed after %.0f s without a "
                    "complete exchange", METRICS_DEADLINE_S);
    }
    mconn_close(m);
}

static void
mconn_open(int fd)
{
    struct mconn *m = td_malloc(sizeof(*m));

    m->fd = fd;
    m->inlen = 0;
    m->linger = 0;
    buf_init(&m->out);
    ev_io_init(&m->io, mconn_io_cb, fd, EV_READ);
    m->io.data = m;
    ev_io_start(srv.loop, &m->io);
    ev_timer_init(&m->deadline, mconn_deadline_cb, METRICS_DEADLINE_S, 0.0);
    m->deadline.data = m;
    ev_timer_start(srv.loop, &m->deadline);
    m->prev = NULL;
    m->next = conns;
    if (conns != NULL) {
        conns->prev = m;
    }
    conns = m;
    nconns++;
}

static void
resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    ev_io_start(loop, &listen_io);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    static const char busy[] =
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: 22\r\n"
        "Connection: close\r\n"
        "\r\n"
        "too many metrics conns";
    int i;

    for (i = 0; i < METRICS_ACCEPTS; i++) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                log_warning("Accepting a metrics connection: %s; pausing "
                            "for a second", strerror(errno));
                ev_io_stop(loop, &listen_io);
                ev_timer_set(&resume_timer, 1.0, 0.0);
                ev_timer_start(loop, &resume_timer);
            } else if (errno != EAGAIN && errno != EINTR &&
                       errno != ECONNABORTED) {
                log_verbose("Accepting a metrics connection: %s",
                            strerror(errno));
            }
            return;
        }
        if (nconns >= METRICS_MAX_CONNS) {
            /* Best effort: the socket is fresh and has room. */
            if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL) < 0) {
                /* refused either way */
            }
            log_verbose("Metrics connection refused: %d already open",
                        METRICS_MAX_CONNS);
            close(fd);
            continue;
        }
        mconn_open(fd);
    }
}

td_status
metrics_start(char *err, size_t errlen)
{
    if (srv.cfg.metrics_port == 0) {
        return TD_OK;
    }
    listen_fd = net_listen_tcp(srv.cfg.metrics_bind,
                               (int)srv.cfg.metrics_port, 64, err, errlen);
    if (listen_fd < 0) {
        return TD_ERR;
    }
    ev_io_init(&listen_io, accept_cb, listen_fd, EV_READ);
    ev_io_start(srv.loop, &listen_io);
    ev_timer_init(&resume_timer, resume_cb, 1.0, 0.0);
    log_notice("Metrics on http://%s:%lld/metrics", srv.cfg.metrics_bind,
               srv.cfg.metrics_port);
    return TD_OK;
}

void
metrics_stop(void)
{
    while (conns != NULL) {
        mconn_close(conns);
    }
    if (listen_fd >= 0) {
        ev_io_stop(srv.loop, &listen_io);
        ev_timer_stop(srv.loop, &resume_timer);
        close(listen_fd);
        listen_fd = -1;
    }
}
