/*
 * client.c -- client connections: reading and parsing requests, keeping
 * replies in request order, writing them back, and the limits that keep a
 * client's memory bounded (query buffer, output buffer, idle timeout).
 *
 * Reading stops while the pipe is connecting or congested; the bytes stay
 * in the socket and in the query buffer, so nothing is lost and memory
 * stays bounded. Output is written once per loop iteration for every
 * client that has some (srv.pending_writes), and a write watcher is armed
 * only when the socket would block.
 */
#include "client.h"
#include "pause.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "acl.h"
#include "dispatch.h"
#include "log.h"
#include "net.h"
#include "server.h"
#include "tls.h"
#include "wait.h"
#include "watch.h"
#include "metrics.h"
#include "monitor.h"
#include "block.h"
#include "pubsub.h"

#define CLIENT_READ_CHUNK (16 * 1024)
#define CLIENT_BIG_ARG (32 * 1024)

static struct req *req_free_list = NULL;
static uint64_t held_clients = 0;
static size_t req_free_count = 0;

static struct req *
req_alloc(void)
{
    struct req *r = req_free_list;

    if (r != NULL) {
        req_free_list = r->next;
        req_free_count--;
    } else {
        r = td_malloc(sizeof(*r));
        buf_init(&r->reply);
    }
    r->next = NULL;
    r->client = NULL;
    r->hook = NULL;
    r->hook_ctx = NULL;
    r->done = 0;
    r->counted = 0;
    r->route = METRICS_ROUTE_NONE;
    return r;
}

static void
req_release(struct req *r)
{
    if (req_free_count >= 4096 || r->reply.cap > 4096) {
        buf_free(&r->reply);
    } else {
        buf_clear(&r->reply);
    }
    if (req_free_count >= 4096) {
        free(r);
        return;
    }
    r->next = req_free_list;
    req_free_list = r;
    req_free_count++;
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void write_cb(struct ev_loop *loop, ev_io *w, int revents);

static void
list_unlink(struct client *c)
{
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        srv.clients_head = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    } else {
        srv.clients_tail = c->prev;
    }
    c->prev = NULL;
    c->next = NULL;
}

static void
list_append(struct client *c)
{
    c->prev = srv.clients_tail;
    c->next = NULL;
    if (srv.clients_tail != NULL) {
        srv.clients_tail->next = c;
    } else {
        srv.clients_head = c;
    }
    srv.clients_tail = c;
}

struct client *
client_create(int fd, int is_unix, int is_tls)
{
    struct client *c = td_calloc(1, sizeof(*c));

    c->id = ++srv.next_client_id;
    c->fd = fd;
    c->flags = is_unix ? CLIENT_UNIX : 0;
    net_peer_name(fd, is_unix, c->addr, sizeof(c->addr), 0);
    net_peer_name(fd, is_unix, c->laddr, sizeof(c->laddr), 1);
    buf_init(&c->in);
    buf_init(&c->out);
    buf_init(&c->multi_buf);
    resp_parser_init(&c->parser, srv.cfg.proto_max_bulk_len);
    c->user = acl_user_default(srv.users);
    c->authenticated = acl_user_open(c->user);
    c->parser.unauth = !c->authenticated;
    c->ctime = ev_now(srv.loop);
    c->last_active = c->ctime;
    strcpy(c->lastcmd, "NULL");

    ev_io_init(&c->rio, read_cb, fd, EV_READ);
    ev_io_init(&c->wio, write_cb, fd, EV_WRITE);
    c->rio.data = c;
    c->wio.data = c;
    list_append(c);
    srv.nclients++;
    if (is_tls) {
        c->ssl = tls_accept(fd);
        if (c->ssl == NULL) {
            log_warning("C-%llu %s: can't start TLS: %s",
                        (unsigned long long)c->id, c->addr, tls_last_error());
            client_close(c, NULL);
            return c;
        }
        c->flags |= CLIENT_TLS_HANDSHAKE;
        srv.stats.tls_connections++;
    }
    client_update_io(c);
    log_verbose("C-%llu %s accepted%s", (unsigned long long)c->id, c->addr,
                is_tls ? " (TLS)" : "");
    return c;
}

void
client_close(struct client *c, const char *why)
{
    if (c->flags & CLIENT_CLOSING) {
        return;
    }
    c->flags |= CLIENT_CLOSING;
    ev_io_stop(srv.loop, &c->rio);
    ev_io_stop(srv.loop, &c->wio);
    c->next_closing = srv.closing;
    srv.closing = c;
    if (why != NULL) {
        log_verbose("C-%llu %s closed: %s", (unsigned long long)c->id,
                    c->addr, why);
    }
}

static void
client_free(struct client *c)
{
    struct req *r;

    wait_client_gone(c);
    watch_clear(c);
    monitor_stop(c);
    block_client_gone(c);
    pubsub_client_gone(c);
    if (c->flags & CLIENT_HELD) {
        held_clients--;
    }
    r = c->head;
    /* Requests still awaiting the primary stay in the pipe's slots: they
     * are orphaned and freed when their reply arrives. */
    while (r != NULL) {
        struct req *next = r->next;

        r->client = NULL;
        r->next = NULL;
        if (r->done) {
            req_release(r);
        }
        r = next;
    }
    if (c->flags & CLIENT_PENDING_WRITE) {
        struct client **pp = &srv.pending_writes;

        while (*pp != c) {
            pp = &(*pp)->next_pending;
        }
        *pp = c->next_pending;
    }
    list_unlink(c);
    srv.nclients--;
    tls_free(c->ssl);
    close(c->fd);
    buf_free(&c->in);
    buf_free(&c->out);
    buf_free(&c->multi_buf);
    resp_parser_free(&c->parser);
    free(c->name);
    free(c);
}

void
client_reap(void)
{
    while (srv.closing != NULL) {
        struct client *c = srv.closing;

        srv.closing = c->next_closing;
        client_free(c);
    }
}

void
client_want_write(struct client *c)
{
    if (c->flags & (CLIENT_PENDING_WRITE | CLIENT_CLOSING)) {
        return;
    }
    c->flags |= CLIENT_PENDING_WRITE;
    c->next_pending = srv.pending_writes;
    srv.pending_writes = c;
}

/* Applies client-output-buffer-limit; returns 0 when c was closed. */
static int
check_output_limits(struct client *c)
{
    uint64_t used = c->out.len + c->held;
    long long hard = srv.cfg.obuf_hard;
    long long soft = srv.cfg.obuf_soft;
    int over = 0;

    if (hard > 0 && used >= (uint64_t)hard) {
        over = 1;
    } else if (soft > 0 && used >= (uint64_t)soft) {
        double now = ev_now(srv.loop);

        if (c->obuf_soft_since == 0) {
            c->obuf_soft_since = now;
        } else if (now - c->obuf_soft_since >=
                   (double)srv.cfg.obuf_soft_seconds) {
            over = 1;
        }
    } else {
        c->obuf_soft_since = 0;
    }
    if (over) {
        log_warning("Client id=%llu addr=%s name=%s closed for overcoming "
                    "of output buffer limits (%llu bytes pending).",
                    (unsigned long long)c->id, c->addr,
                    c->name != NULL ? c->name : "",
                    (unsigned long long)used);
        srv.stats.client_obuf_limit_disconnections++;
        client_close(c, NULL);
        return 0;
    }
    return 1;
}

struct buf *
client_reply_buf(struct client *c)
{
    static struct buf dropped;
    struct req *r;

    if (c->muted || c->reply_off) {
        buf_clear(&dropped);
        return &dropped;
    }
    client_want_write(c);
    if (c->head == NULL) {
        return &c->out;
    }
    r = client_req_push(c);
    r->done = 1;
    return &r->reply;
}

struct req *
client_req_push(struct client *c)
{
    struct req *r = req_alloc();

    r->client = c;
    r->mute = c->muted || c->reply_off;
    if (c->tail != NULL) {
        c->tail->next = r;
    } else {
        c->head = r;
    }
    c->tail = r;
    c->nreqs++;
    return r;
}

/* Moves every done request at the head to out. */
static void
drain_done(struct client *c)
{
    while (c->head != NULL && c->head->done) {
        struct req *r = c->head;

        c->head = r->next;
        if (c->head == NULL) {
            c->tail = NULL;
        }
        c->nreqs--;
        /* Only backend replies were counted; tandem's own replies are
         * written into the request directly and are small. */
        c->held -= r->counted;
        buf_append(&c->out, buf_head(&r->reply), r->reply.len);
        req_release(r);
    }
}

void
req_time(struct req *r, int route)
{
    r->route = route;
    r->start_ns = metrics_clock();
}

void
req_reply(struct req *r, const char *reply, size_t len)
{
    struct client *c = r->client;

    /* The reply is available: the first one counts (a hook may rewrite
     * it and call again). */
    if (r->route != METRICS_ROUTE_NONE) {
        metrics_observe((enum metrics_route)r->route, r->start_ns);
        r->route = METRICS_ROUTE_NONE;
    }
    if (r->hook != NULL && r->hook(r, reply, len)) {
        return;
    }
    if (c == NULL) {
        req_release(r);
        return;
    }
    if (r->mute) {
        len = 0;
    }
    if (c->head == r) {
        c->head = r->next;
        if (c->head == NULL) {
            c->tail = NULL;
        }
        c->nreqs--;
        buf_append(&c->out, reply, len);
        req_release(r);
        drain_done(c);
    } else {
        buf_append(&r->reply, reply, len);
        r->done = 1;
        r->counted = len;
        c->held += len;
    }
    client_want_write(c);
    check_output_limits(c);
}

void
client_update_io(struct client *c)
{
    int reading;

    if (c->flags & CLIENT_CLOSING) {
        return;
    }
    /* A held or blocked client is still read (up to its query buffer
     * limit), so that tandem sees it leave. */
    reading = !(c->flags & CLIENT_CLOSE_AFTER_REPLY) &&
              !pipe_is_connecting(&srv.pipe) && !pipe_congested(&srv.pipe);
    if (reading && !ev_is_active(&c->rio)) {
        ev_io_start(srv.loop, &c->rio);
    } else if (!reading && ev_is_active(&c->rio)) {
        ev_io_stop(srv.loop, &c->rio);
    }
}

/* Replies with a protocol error and closes after the reply, as Redis. */
static void
protocol_error(struct client *c)
{
    char sample[160];

    resp_add_error(client_reply_buf(c), c->parser.error);
    srv.stats.protocol_errors++;
    srv.stats.error_replies++;
    log_verbose("C-%llu %s protocol error: %s (query buffer starts: \"%s\")",
                (unsigned long long)c->id, c->addr, c->parser.error,
                td_repr(sample, sizeof(sample), buf_head(&c->in), c->in.len,
                        64));
    c->flags |= CLIENT_CLOSE_AFTER_REPLY;
    buf_clear(&c->in);
    resp_parser_reset(&c->parser);
}

static void process_input_loop(struct client *c);

/* Parses and dispatches every complete request in the query buffer. A
 * command may resume every client (TANDEM ACCEPT-PRIMARY brings the pipe
 * up): the client running it is already in this loop, which goes on. */
static void
process_input(struct client *c)
{
    if (c->flags & CLIENT_PROCESSING) {
        return;
    }
    c->flags |= CLIENT_PROCESSING;
    process_input_loop(c);
    c->flags &= ~CLIENT_PROCESSING;
}

static void
process_input_loop(struct client *c)
{
    /* Its commands are dispatched now: they share one clock read. */
    metrics_clock_reset();
    while (c->in.len > 0 &&
           !(c->flags & (CLIENT_CLOSE_AFTER_REPLY | CLIENT_CLOSING |
                         CLIENT_HELD))) {
        size_t consumed = 0;
        enum resp_result rc;

        if (pipe_congested(&srv.pipe)) {
            break;
        }
        c->parser.unauth = !c->authenticated;
        rc = resp_parse_request(&c->parser, buf_head(&c->in), c->in.len,
                                &consumed);
        if (rc == RESP_NEED_MORE) {
            break;
        }
        if (rc == RESP_PROTO_ERROR) {
            protocol_error(c);
            break;
        }
        /* While the pipe connects, commands wait for it (parsed again
         * when it is up) -- except reads a replica can serve now. */
        if (rc == RESP_COMMAND && pipe_is_connecting(&srv.pipe) &&
            !dispatch_replica_can_serve(c, c->parser.argc,
                                        c->parser.argv)) {
            resp_parser_reset(&c->parser);
            break;
        }
        if (rc == RESP_COMMAND) {
            int skip = c->reply_skip;
            int dispatched;

            /* CLIENT REPLY: this command's replies are dropped. */
            c->muted = (c->reply_off ? MUTED_OFF : 0) |
                       (skip ? MUTED_SKIP : 0);
            c->reply_skip = 0;
            dispatched = dispatch_command(c, c->parser.argc, c->parser.argv,
                                          buf_head(&c->in), consumed,
                                          buf_head(&c->in)[0] != '*');
            c->muted = 0;
            if (!dispatched) {
                c->reply_skip = skip;
                /* Held until the client's reads on replicas are answered:
                 * parsed again then. */
                resp_parser_reset(&c->parser);
                c->flags |= CLIENT_HELD;
                held_clients++;
                break;
            }
            srv.stats.commands_processed++;
        }
        buf_consume(&c->in, consumed);
    }
    if (c->in.len == 0) {
        buf_shrink(&c->in, 64 * 1024);
    }
}

/* Drives a client's TLS handshake; returns 1 once it is complete. */
static int
tls_step(struct client *c)
{
    int want = 0;
    int rc = tls_handshake(c->ssl, &want);

    if (rc < 0) {
        static int64_t last_ms;
        static uint64_t quiet;
        int64_t now = td_mstime();

        srv.stats.tls_handshake_failures++;
        /* At most one line a second: a port scan must not flood the log. */
        if (now - last_ms >= 1000) {
            log_notice("C-%llu %s: TLS handshake failed: %s%s",
                       (unsigned long long)c->id, c->addr, tls_last_error(),
                       quiet > 0 ? " (and more not logged)" : "");
            last_ms = now;
            quiet = 0;
        } else {
            quiet++;
        }
        client_close(c, NULL);
        return 0;
    }
    if (rc == 0) {
        if (want == TLS_WANT_WRITE) {
            ev_io_start(srv.loop, &c->wio);
        } else {
            ev_io_stop(srv.loop, &c->wio);
        }
        return 0;
    }
    c->flags &= ~CLIENT_TLS_HANDSHAKE;
    ev_io_stop(srv.loop, &c->wio);
    log_verbose("C-%llu %s: TLS up (%s)", (unsigned long long)c->id,
                c->addr, tls_describe(c->ssl));
    return 1;
}

/* Reads from the socket or the TLS session: > 0 bytes, 0 nothing now,
 * -1 the client is gone. */
static ssize_t
client_read(struct client *c, char *buf, size_t len)
{
    ssize_t n;

    if (c->ssl != NULL) {
        int want = 0;

        n = tls_read(c->ssl, buf, len, &want);
        if (n == -2) {
            return 0;
        }
        if (n <= 0) {
            client_close(c, n == 0 ? "connection closed by the client"
                                   : tls_last_error());
            return -1;
        }
        return n;
    }
    n = read(c->fd, buf, len);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
            return 0;
        }
        client_close(c, strerror(errno));
        return -1;
    }
    if (n == 0) {
        client_close(c, "connection closed by the client");
        return -1;
    }
    return n;
}

static void
read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct client *c = w->data;
    size_t want = CLIENT_READ_CHUNK;
    ssize_t n;

    if ((c->flags & CLIENT_TLS_HANDSHAKE) && !tls_step(c)) {
        return;
    }
    /* A big argument in progress: read it in as few calls as possible. */
    if (c->parser.want > c->in.len &&
        c->parser.want - c->in.len > CLIENT_BIG_ARG) {
        want = c->parser.want - c->in.len;
    }
    buf_reserve(&c->in, want);
    n = client_read(c, buf_tail(&c->in), buf_room(&c->in));
    if (n <= 0) {
        return;
    }
    /* What TLS decrypted beyond this read waits in the session, where
     * the loop cannot see it: take it now. */
    while (c->ssl != NULL && tls_pending(c->ssl) > 0) {
        ssize_t more;

        c->in.len += (size_t)n;
        srv.stats.net_input_bytes += (uint64_t)n;
        buf_reserve(&c->in, (size_t)tls_pending(c->ssl));
        more = client_read(c, buf_tail(&c->in), buf_room(&c->in));
        if (more < 0) {
            return;
        }
        n = more;
    }
    c->in.len += (size_t)n;
    srv.stats.net_input_bytes += (uint64_t)n;
    c->last_active = ev_now(loop);
    list_unlink(c);
    list_append(c);

    if (c->in.len > (uint64_t)srv.cfg.client_query_buffer_limit) {
        char sample[160];

        log_warning("Closing client that reached max query buffer length: "
                    "id=%llu addr=%s qbuf=%zu (qbuf initial bytes: \"%s\")",
                    (unsigned long long)c->id, c->addr, c->in.len,
                    td_repr(sample, sizeof(sample), buf_head(&c->in),
                            c->in.len, 64));
        srv.stats.client_qbuf_limit_disconnections++;
        client_close(c, NULL);
        return;
    }
    process_input(c);
    client_update_io(c);
}

/* Writes as much of c's output as the socket takes. Returns 0 when c was
 * closed. */
static int
write_out(struct client *c)
{
    if (c->flags & CLIENT_TLS_HANDSHAKE) {
        return 1;    /* replies wait for the handshake */
    }
    while (c->out.len > 0) {
        ssize_t n;

        if (c->ssl != NULL) {
            int want = 0;

            n = tls_write(c->ssl, buf_head(&c->out), c->out.len, &want);
            if (n == -2) {
                break;
            }
            if (n < 0) {
                client_close(c, tls_last_error());
                return 0;
            }
        } else {
            n = write(c->fd, buf_head(&c->out), c->out.len);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) {
                    break;
                }
                client_close(c, strerror(errno));
                return 0;
            }
        }
        srv.stats.net_output_bytes += (uint64_t)n;
        buf_consume(&c->out, (size_t)n);
    }
    if (c->out.len == 0) {
        buf_shrink(&c->out, 64 * 1024);
        if (ev_is_active(&c->wio)) {
            ev_io_stop(srv.loop, &c->wio);
        }
        if ((c->flags & CLIENT_CLOSE_AFTER_REPLY) && c->head == NULL) {
            client_close(c, "closed after reply");
            return 0;
        }
    } else if (!ev_is_active(&c->wio)) {
        ev_io_start(srv.loop, &c->wio);
    }
    return check_output_limits(c);
}

static void
write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct client *c = w->data;

    if (c->flags & CLIENT_TLS_HANDSHAKE) {
        if (tls_step(c)) {
            client_want_write(c);
        }
        return;
    }
    write_out(c);
}

void
client_flush_all(void)
{
    while (srv.pending_writes != NULL) {
        struct client *c = srv.pending_writes;

        srv.pending_writes = c->next_pending;
        c->flags &= ~CLIENT_PENDING_WRITE;
        if (!(c->flags & CLIENT_CLOSING)) {
            write_out(c);
        }
    }
}

void
client_replica_read_done(struct client *c)
{
    if (c != NULL && c->replica_reads > 0) {
        c->replica_reads--;
    }
}

void
client_block(struct client *c)
{
    if (!(c->flags & CLIENT_HELD)) {
        c->flags |= CLIENT_HELD;
        held_clients++;
    }
}

void
client_unblock(struct client *c)
{
    /* client_release_held() resumes it before the loop sleeps. */
    TD_UNUSED(c);
}

void
client_release_held(void)
{
    struct client *c;
    struct client *next;

    if (held_clients == 0) {
        return;
    }
    for (c = srv.clients_head; c != NULL; c = next) {
        next = c->next;
        if (!(c->flags & CLIENT_HELD) || c->replica_reads > 0 ||
            c->blocked != NULL ||
            ((c->flags & CLIENT_PAUSED) && pause_in_effect())) {
            continue;
        }
        c->flags &= ~(CLIENT_HELD | CLIENT_PAUSED);
        held_clients--;
        if (!(c->flags & CLIENT_CLOSING)) {
            process_input(c);
            client_update_io(c);
        }
    }
}

void
client_resume_all(void)
{
    struct client *c;
    struct client *next;

    for (c = srv.clients_head; c != NULL; c = next) {
        next = c->next;
        if (c->flags & CLIENT_CLOSING) {
            continue;
        }
        process_input(c);
        client_update_io(c);
    }
}

void
client_cron(void)
{
    double now = ev_now(srv.loop);
    struct client *c;
    struct client *next;

    if (srv.cfg.timeout > 0) {
        /* Least recently active first: stop at the first one that is not
         * idle. Clients still awaiting replies are not idle. */
        for (c = srv.clients_head; c != NULL; c = next) {
            next = c->next;
            if (now - c->last_active <= (double)srv.cfg.timeout) {
                break;
            }
            /* As Redis, subscribers and blocked clients are not idle. */
            if (c->nreqs == 0 && c->nsubs == 0 && c->blocked == NULL &&
                !(c->flags & CLIENT_CLOSING)) {
                srv.stats.client_timeouts++;
                client_close(c, "idle timeout");
            }
        }
    }
    if (srv.cfg.obuf_soft > 0) {
        for (c = srv.clients_head; c != NULL; c = c->next) {
            if (c->obuf_soft_since != 0 && !(c->flags & CLIENT_CLOSING)) {
                check_output_limits(c);
            }
        }
    }
}

void
client_describe(const struct client *c, struct buf *b)
{
    char line[1024];
    double now = ev_now(srv.loop);
    char events[3];
    int e = 0;

    if (ev_is_active(&c->rio)) {
        events[e++] = 'r';
    }
    if (ev_is_active(&c->wio)) {
        events[e++] = 'w';
    }
    events[e] = '\0';
    snprintf(line, sizeof(line),
             "id=%llu addr=%s laddr=%s fd=%d name=%s age=%lld idle=%lld "
             "flags=%s db=%lld sub=0 psub=0 ssub=0 multi=%lld qbuf=%zu "
             "qbuf-free=%zu argv-mem=0 multi-mem=0 rbs=%zu rbp=0 obl=%zu "
             "oll=%llu omem=%llu tot-mem=%zu events=%s cmd=%s user=%s "
             "redir=-1 resp=2\n",
             (unsigned long long)c->id, c->addr, c->laddr, c->fd,
             c->name != NULL ? c->name : "", (long long)(now - c->ctime),
             (long long)(now - c->last_active),
             (c->flags & CLIENT_UNIX) ? "U" : (c->multi ? "x" : "N"), c->db,
             c->multi ? (long long)c->multi_count : -1LL, c->in.len,
             c->in.cap - c->in.start - c->in.len, c->in.cap, c->out.len,
             (unsigned long long)c->nreqs,
             (unsigned long long)(c->out.cap + c->held),
             sizeof(*c) + c->in.cap + c->out.cap + (size_t)c->held, events,
             c->lastcmd, acl_user_name(c->user));
    buf_append_str(b, line);
}
