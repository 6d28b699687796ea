/*
 * pipe.c -- the one ordered connection to the primary (DESIGN I2).
 *
 * Life of the connection:
 *
 *   DOWN --timer--> CONNECTING --writable--> HANDSHAKE --replies--> UP
 *     ^                 |                        |                   |
 *     +-----------------+--- error / deadline ---+--- error / EOF ---+
 *
 * The handshake pipelines AUTH (when backend credentials are set),
 * INFO server (version guard, run_id) and COMMAND (the command table).
 * While CONNECTING or HANDSHAKE clients are not read, so they wait for the
 * primary instead of failing; while DOWN their commands are answered at
 * once with an error that names the primary and the last failure. When an
 * established connection is lost, every request still awaiting a reply is
 * answered, in order, with an error saying its outcome is unknown.
 *
 * Writes are gathered in `out` and written once per loop iteration
 * (pipe_flush from the server's ev_prepare), so many clients' commands
 * share each write(2).
 */
#include "pipe.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "log.h"
#include "net.h"
#include "server.h"

#define PIPE_READ_CHUNK (64 * 1024)
#define PIPE_HIGH_WATER (16u * 1024 * 1024)
#define PIPE_BACKOFF_MIN_MS 100
#define PIPE_BACKOFF_MAX_MS 5000

static const char *const state_names[] = {
#define X(id, name) name,
    PIPE_STATE_LIST(X)
#undef X
};

static int was_congested = 0;

const char *
pipe_state_name(enum pipe_state s)
{
    return state_names[s];
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void connect_now(struct pipe *p);

static void
set_state(struct pipe *p, enum pipe_state s)
{
    if (p->state != s) {
        log_verbose("pipe to primary %s: %s -> %s", srv.cfg.primary.spec,
                    state_names[p->state], state_names[s]);
        p->state = s;
    }
}

int
pipe_congested(const struct pipe *p)
{
    return p->out.len >= PIPE_HIGH_WATER;
}

void
pipe_unavailable_error(const struct pipe *p, char *dst, size_t len)
{
    snprintf(dst, len,
             "-ERR tandem: the primary %s is unavailable (%s); tandem is "
             "reconnecting",
             srv.cfg.primary.spec,
             p->last_error[0] != '\0' ? p->last_error : "not connected");
}

static void
slot_push(struct pipe *p, struct req *r, pipe_reply_fn fn, void *ctx)
{
    struct pipe_slot *s;

    if (p->slot_count == p->slot_cap) {
        size_t cap = p->slot_cap == 0 ? 1024 : p->slot_cap * 2;
        struct pipe_slot *slots = td_malloc(cap * sizeof(*slots));
        size_t i;

        for (i = 0; i < p->slot_count; i++) {
            slots[i] = p->slots[(p->slot_head + i) % p->slot_cap];
        }
        free(p->slots);
        p->slots = slots;
        p->slot_cap = cap;
        p->slot_head = 0;
    }
    s = &p->slots[(p->slot_head + p->slot_count) % p->slot_cap];
    s->req = r;
    s->fn = fn;
    s->ctx = ctx;
    p->slot_count++;
}

static struct pipe_slot
slot_pop(struct pipe *p)
{
    struct pipe_slot s = p->slots[p->slot_head];

    p->slot_head = (p->slot_head + 1) % p->slot_cap;
    p->slot_count--;
    return s;
}

/* Drops the connection, answers what was in flight and schedules a retry. */
static void
pipe_fail(struct pipe *p, const char *why)
{
    char msg[512];
    int was_up = p->state == PIPE_UP;
    uint64_t failed = 0;

    if (p->state == PIPE_DOWN) {
        return;
    }
    snprintf(p->last_error, sizeof(p->last_error), "%s", why);
    if (srv.shutdown_asap) {
        log_notice("Closing the pipe to the primary %s", srv.cfg.primary.spec);
    } else if (was_up) {
        log_warning("Lost the pipe to the primary %s: %s",
                    srv.cfg.primary.spec, why);
        srv.stats.pipe_disconnects++;
    } else {
        log_warning("Can't connect to the primary %s: %s",
                    srv.cfg.primary.spec, why);
    }
    ev_io_stop(srv.loop, &p->rio);
    ev_io_stop(srv.loop, &p->wio);
    ev_timer_stop(srv.loop, &p->timer);
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
    set_state(p, PIPE_DOWN);
    buf_clear(&p->out);
    buf_clear(&p->in);
    resp_scan_init(&p->scan);
    p->db = 0;

    snprintf(msg, sizeof(msg),
             "-ERR tandem: lost the connection to the primary %s before "
             "its reply (%s); the command may or may not have been "
             "applied\r\n",
             srv.cfg.primary.spec, why);
    while (p->slot_count > 0) {
        struct pipe_slot s = slot_pop(p);

        if (s.req != NULL) {
            req_reply(s.req, msg, strlen(msg));
            failed++;
        } else if (s.fn != NULL) {
            s.fn(s.ctx, NULL, 0);
        }
    }
    srv.stats.pipe_failed_requests += failed;
    if (failed > 0) {
        log_warning("%llu requests in flight answered with an error",
                    (unsigned long long)failed);
    }

    if (srv.shutdown_asap) {
        return;
    }
    p->backoff_ms = p->backoff_ms == 0
                        ? PIPE_BACKOFF_MIN_MS
                        : TD_MIN(p->backoff_ms * 2, PIPE_BACKOFF_MAX_MS);
    ev_timer_set(&p->timer, (double)p->backoff_ms / 1000.0, 0.0);
    ev_timer_start(srv.loop, &p->timer);
    /* Clients held while connecting now get errors instead of waiting. */
    client_resume_all();
}

static void
became_up(struct pipe *p)
{
    ev_timer_stop(srv.loop, &p->timer);
    set_state(p, PIPE_UP);
    p->backoff_ms = 0;
    p->last_error[0] = '\0';
    p->up_since = td_mstime();
    srv.stats.pipe_connects++;
    log_notice("Pipe to the primary %s is up (Redis %s, run_id %s, %zu "
               "commands known)",
               srv.cfg.primary.spec, p->redis_version, p->run_id,
               p->table.ncmds);
    client_resume_all();
}

static void
handshake_step_done(struct pipe *p)
{
    if (--p->handshake_left == 0 && p->state == PIPE_HANDSHAKE) {
        became_up(p);
    }
}

static void
on_auth(void *ctx, const char *reply, size_t len)
{
    struct pipe *p = ctx;
    char why[300];

    if (reply == NULL) {
        return;
    }
    if (reply[0] == '-') {
        snprintf(why, sizeof(why), "AUTH refused: %.*s",
                 (int)TD_MIN(len - 2, 200), reply + 1);
        pipe_fail(p, why);
        return;
    }
    handshake_step_done(p);
}

/* Reads "field:value" from an INFO reply's text. */
static int
info_field(const char *text, size_t len, const char *name, char *dst,
           size_t dstlen)
{
    size_t nlen = strlen(name);
    const char *p = text;
    const char *end = text + len;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t l = eol != NULL ? (size_t)(eol - p) : (size_t)(end - p);

        if (l > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == ':') {
            size_t vlen = l - nlen - 1;

            if (vlen > 0 && p[nlen + 1 + vlen - 1] == '\r') {
                vlen--;
            }
            snprintf(dst, dstlen, "%.*s", (int)vlen, p + nlen + 1);
            return 1;
        }
        p += l + 1;
    }
    return 0;
}

static void
on_info(void *ctx, const char *reply, size_t len)
{
    struct pipe *p = ctx;
    int major = 0;
    char why[300];

    if (reply == NULL) {
        return;
    }
    if (reply[0] != '$') {
        snprintf(why, sizeof(why), "INFO server failed: %.*s",
                 (int)TD_MIN(len - 2, 200), reply + 1);
        pipe_fail(p, why);
        return;
    }
    p->redis_version[0] = '\0';
    p->run_id[0] = '\0';
    info_field(reply, len, "redis_version", p->redis_version,
               sizeof(p->redis_version));
    info_field(reply, len, "run_id", p->run_id, sizeof(p->run_id));
    major = atoi(p->redis_version);
    if (major < 7) {
        snprintf(why, sizeof(why),
                 "refused: the primary runs Redis %s, tandem needs Redis 7 "
                 "or newer",
                 p->redis_version[0] != '\0' ? p->redis_version
                                             : "(unknown version)");
        pipe_fail(p, why);
        return;
    }
    handshake_step_done(p);
}

static void
on_command(void *ctx, const char *reply, size_t len)
{
    struct pipe *p = ctx;
    char err[256];
    char why[300];

    if (reply == NULL) {
        return;
    }
    if (cmdtable_load(&p->table, reply, len, err, sizeof(err)) != TD_OK) {
        snprintf(why, sizeof(why), "can't load the command table: %s", err);
        pipe_fail(p, why);
        return;
    }
    handshake_step_done(p);
}

/* CONFIG GET databases: optional, as CONFIG may be renamed away on a
 * hardened primary; Redis's default of 16 stands then. */
static void
on_databases(void *ctx, const char *reply, size_t len)
{
    struct pipe *p = ctx;
    redisReader *reader;
    void *obj = NULL;

    if (reply == NULL) {
        return;
    }
    reader = redisReaderCreate();
    if (redisReaderFeed(reader, reply, len) == REDIS_OK &&
        redisReaderGetReply(reader, &obj) == REDIS_OK && obj != NULL) {
        redisReply *r = obj;

        if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            r->element[1]->type == REDIS_REPLY_STRING) {
            p->databases = atoll(r->element[1]->str);
        } else {
            log_notice("CONFIG GET databases failed on the primary; "
                       "assuming 16 databases");
        }
    }
    if (obj != NULL) {
        freeReplyObject(obj);
    }
    redisReaderFree(reader);
    if (p->databases <= 0) {
        p->databases = 16;
    }
    handshake_step_done(p);
}

static void
on_select(void *ctx, const char *reply, size_t len)
{
    if (reply != NULL && reply[0] == '-') {
        log_warning("SELECT on the pipe failed: %.*s",
                    (int)TD_MIN(len - 2, 200), reply + 1);
    }
}

static void
send_formatted(struct pipe *p, pipe_reply_fn fn, int argc,
               const char **argv)
{
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, argc, argv, NULL);

    if (len < 0) {
        log_warning("can't format a command for the primary");
        return;
    }
    pipe_send_internal(p, cmd, (size_t)len, fn, p);
    free(cmd);
}

static void
start_handshake(struct pipe *p)
{
    const char *user = srv.cfg.primary.user != NULL ? srv.cfg.primary.user
                                                    : srv.cfg.backend_user;
    const char *pass = srv.cfg.primary.password != NULL
                           ? srv.cfg.primary.password
                           : srv.cfg.backend_password;
    const char *info[] = {"INFO", "server"};
    const char *command[] = {"COMMAND"};
    const char *databases[] = {"CONFIG", "GET", "databases"};

    set_state(p, PIPE_HANDSHAKE);
    p->handshake_left = 0;
    if (pass != NULL) {
        const char *auth[] = {"AUTH", user != NULL ? user : "default", pass};

        p->handshake_left++;
        send_formatted(p, on_auth, 3, auth);
    }
    p->handshake_left += 3;
    send_formatted(p, on_info, 2, info);
    send_formatted(p, on_command, 1, command);
    send_formatted(p, on_databases, 3, databases);
    ev_io_start(srv.loop, &p->rio);
    pipe_flush(p);
}

static void
connect_now(struct pipe *p)
{
    char err[256];

    p->fd = net_connect_tcp(srv.cfg.primary.host, (int)srv.cfg.primary.port,
                            err, sizeof(err));
    set_state(p, PIPE_CONNECTING);
    if (p->fd < 0) {
        pipe_fail(p, err);
        return;
    }
    net_set_nodelay(p->fd);
    net_set_keepalive(p->fd, (int)srv.cfg.tcp_keepalive);
    ev_io_set(&p->rio, p->fd, EV_READ);
    ev_io_set(&p->wio, p->fd, EV_WRITE);
    ev_io_start(srv.loop, &p->wio);
    ev_timer_set(&p->timer, (double)srv.cfg.connect_timeout / 1000.0, 0.0);
    ev_timer_start(srv.loop, &p->timer);
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct pipe *p = w->data;

    if (p->state == PIPE_DOWN) {
        connect_now(p);
    } else if (p->state != PIPE_UP) {
        pipe_fail(p, "connect-timeout expired before the handshake "
                     "completed");
    }
}

void
pipe_start(struct pipe *p)
{
    memset(p, 0, sizeof(*p));
    p->fd = -1;
    p->state = PIPE_DOWN;
    p->databases = 16;
    buf_init(&p->out);
    buf_init(&p->in);
    resp_scan_init(&p->scan);
    cmdtable_init(&p->table);
    ev_init(&p->rio, read_cb);
    ev_init(&p->wio, write_cb);
    ev_init(&p->timer, timer_cb);
    p->rio.data = p;
    p->wio.data = p;
    p->timer.data = p;
    connect_now(p);
}

void
pipe_stop(struct pipe *p)
{
    if (p->state != PIPE_DOWN) {
        pipe_fail(p, "tandem is shutting down");
    }
    ev_timer_stop(srv.loop, &p->timer);
    buf_free(&p->out);
    buf_free(&p->in);
    free(p->slots);
    p->slots = NULL;
    p->slot_cap = 0;
    cmdtable_free(&p->table);
}

void
pipe_send_internal(struct pipe *p, const char *cmd, size_t len,
                   pipe_reply_fn fn, void *ctx)
{
    buf_append(&p->out, cmd, len);
    slot_push(p, NULL, fn, ctx);
}

void
pipe_send_request(struct pipe *p, struct req *r, long long db,
                  const char *raw, size_t rawlen)
{
    TD_ASSERT(p->state == PIPE_UP);
    if (db != p->db) {
        char dbstr[24];
        const char *argv[] = {"SELECT", dbstr};

        snprintf(dbstr, sizeof(dbstr), "%lld", db);
        send_formatted(p, on_select, 2, argv);
        p->db = db;
    }
    buf_append(&p->out, raw, rawlen);
    slot_push(p, r, NULL, NULL);
    srv.stats.commands_forwarded++;
}

void
pipe_flush(struct pipe *p)
{
    if (p->fd < 0 || p->state == PIPE_CONNECTING || p->state == PIPE_DOWN) {
        return;
    }
    while (p->out.len > 0) {
        ssize_t n = write(p->fd, buf_head(&p->out), p->out.len);

        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                break;
            }
            pipe_fail(p, strerror(errno));
            return;
        }
        srv.stats.pipe_writes++;
        buf_consume(&p->out, (size_t)n);
    }
    if (p->out.len > 0) {
        ev_io_start(srv.loop, &p->wio);
    } else {
        ev_io_stop(srv.loop, &p->wio);
        buf_shrink(&p->out, 1024 * 1024);
    }
    if (was_congested && !pipe_congested(p)) {
        was_congested = 0;
        client_resume_all();
    } else if (pipe_congested(p)) {
        was_congested = 1;
    }
}

static void
write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct pipe *p = w->data;

    if (p->state == PIPE_CONNECTING) {
        int e = net_connect_result(p->fd);

        ev_io_stop(loop, &p->wio);
        if (e != 0) {
            pipe_fail(p, strerror(e));
            return;
        }
        start_handshake(p);
        return;
    }
    pipe_flush(p);
}

static void
read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct pipe *p = w->data;
    ssize_t n;

    buf_reserve(&p->in, TD_MAX(PIPE_READ_CHUNK, p->in.len));
    n = read(p->fd, buf_tail(&p->in), buf_room(&p->in));
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        pipe_fail(p, n == 0 ? "connection closed by the primary"
                            : strerror(errno));
        return;
    }
    p->in.len += (size_t)n;

    while (p->in.len > 0) {
        size_t len = 0;
        int rc = resp_scan_reply(&p->scan, buf_head(&p->in), p->in.len, &len);
        struct pipe_slot s;

        if (rc == 0) {
            break;
        }
        if (rc < 0) {
            pipe_fail(p, "malformed reply from the primary");
            return;
        }
        if (p->slot_count == 0) {
            pipe_fail(p, "reply from the primary with no request");
            return;
        }
        s = slot_pop(p);
        if (s.req != NULL) {
            req_reply(s.req, buf_head(&p->in), len);
        } else if (s.fn != NULL) {
            s.fn(s.ctx, buf_head(&p->in), len);
            if (p->state == PIPE_DOWN) {
                return;
            }
        }
        buf_consume(&p->in, len);
    }
    if (p->in.len == 0) {
        buf_shrink(&p->in, 1024 * 1024);
    }
}
