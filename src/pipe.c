/*
 * pipe.c -- the one ordered connection to the primary (DESIGN I2).
 *
 * The handshake pipelines AUTH (when backend credentials are set),
 * INFO server (version guard, run_id), COMMAND (the command table),
 * CONFIG GET databases and INFO keyspace (is the primary empty where the
 * stream begins?). While it runs clients are not read, so they wait for
 * the primary instead of failing; while the pipe is down their commands
 * are answered at once with an error that names the primary and the last
 * failure. When an established pipe is lost, every request still awaiting
 * a reply is answered, in order, with an error saying its outcome is
 * unknown.
 *
 * Writes are gathered in `out` and written once per loop iteration
 * (pipe_flush from the server's ev_prepare), so many clients' commands
 * share each write(2).
 *
 * The tee (I3): a client's write is also copied to `writes` until its
 * reply comes. A reply that shows it applied sends its effect into the
 * stream, and only then is the reply released to the client -- so a
 * client's WAIT, answered after its earlier replies, always sees the
 * offset of its last write. A write with a relative TTL is followed on
 * the pipe by PEXPIRETIME probes; its reply is held until they answer.
 */
#include "pipe.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "guard.h"
#include "keyevents.h"
#include "shutdown.h"
#include "log.h"
#include "lostwrites.h"
#include "server.h"
#include "tee.h"

#define PIPE_HIGH_WATER (16u * 1024 * 1024)

static void select_db(struct pipe *p, long long db);

static int was_congested = 0;

int
pipe_congested(const struct pipe *p)
{
    return p->out.len >= PIPE_HIGH_WATER;
}

void
pipe_unavailable_error(const struct pipe *p, char *dst, size_t len)
{
    if (p->untrusted) {
        snprintf(dst, len, "-ERR tandem: %s", guard_reason());
        return;
    }
    snprintf(dst, len,
             "-ERR tandem: the primary %s is unavailable (%s); tandem is "
             "reconnecting",
             srv.cfg.primary.spec,
             p->conn.last_error[0] != '\0' ? p->conn.last_error
                                           : "not connected");
}

static void
slot_push(struct pipe *p, const struct pipe_slot *slot)
{
    fifo_push(&p->slots, slot);
}

static struct pipe_slot
slot_pop(struct pipe *p)
{
    struct pipe_slot s;

    fifo_pop(&p->slots, &s);
    return s;
}

/* A client's write is settled: in the stream, or failed. */
static void
write_settled(const struct pipe_slot *s)
{
    if (s->req != NULL && s->req->client != NULL &&
        s->req->client->writes_inflight > 0) {
        s->req->client->writes_inflight--;
    }
}

static void
write_sent(struct req *r)
{
    if (r != NULL && r->client != NULL) {
        r->client->writes_inflight++;
    }
}

/* Hands each write still in `writes` to the tee: the held one (its reply
 * came, its probes did not), then those awaiting replies, in order. */
static void
lost_writes(struct pipe *p)
{
    const char *raw = buf_head(&p->writes);
    size_t off = 0;
    size_t i;

    if (p->probes_left > 0 && p->held.write_len <= p->writes.len) {
        lost_write(p->held.db, raw, p->held.write_len);
        off = p->held.write_len;
    }
    for (i = 0; i < p->slots.count; i++) {
        const struct pipe_slot *s = fifo_at(&p->slots, i);

        if ((s->kind == SLOT_WRITE || s->kind == SLOT_EXEC) &&
            off + s->write_len <= p->writes.len) {
            lost_write(s->db, raw + off, s->write_len);
            off += s->write_len;
        }
    }
}

/* The connection is gone: answer everything in flight, in order. */
static void
on_down(struct conn *c, const char *why, int was_up)
{
    struct pipe *p = c->owner;
    char msg[512];
    uint64_t failed = 0;

    if (srv.shutdown_asap) {
        log_notice("Closing the pipe to the primary %s",
                   srv.cfg.primary.spec);
    } else if (was_up) {
        log_warning("Lost the pipe to the primary %s: %s",
                    srv.cfg.primary.spec, why);
        srv.stats.pipe_disconnects++;
    } else {
        log_warning("Can't connect to the primary %s: %s",
                    srv.cfg.primary.spec, why);
    }
    buf_clear(&p->out);
    p->db = 0;

    snprintf(msg, sizeof(msg),
             "-ERR tandem: lost the connection to the primary %s before "
             "its reply (%s); the command may or may not have been "
             "applied\r\n",
             srv.cfg.primary.spec, why);
    if (was_up && p->tee && p->writes.len > 0) {
        lost_writes(p);
    }
    if (p->probes_left > 0 || p->held.req != NULL) {
        if (p->held.req != NULL) {
            write_settled(&p->held);
            req_reply(p->held.req, msg, strlen(msg));
            failed++;
        }
        memset(&p->held, 0, sizeof(p->held));
        p->probes_left = 0;
    }
    while (p->slots.count > 0) {
        struct pipe_slot s = slot_pop(p);

        if (s.kind == SLOT_WRITE || s.kind == SLOT_EXEC) {
            write_settled(&s);
        }
        if (s.req != NULL) {
            req_reply(s.req, msg, strlen(msg));
            failed++;
        } else if (s.fn != NULL) {
            s.fn(s.ctx, NULL, 0);
        }
    }
    if (was_up && p->tee && p->writes.len > 0) {
        /* Writes whose outcome is unknown may have reached the primary
         * and not the stream. */
        lost_writes_after(why);
    }
    if (was_up && p->tee) {
        tee_pipe_lost();
    }
    buf_clear(&p->writes);
    buf_clear(&p->held_reply);
    buf_clear(&p->probe_replies);
    srv.stats.pipe_failed_requests += failed;
    if (failed > 0) {
        log_warning("%llu requests in flight answered with an error",
                    (unsigned long long)failed);
    }
    /* Clients held while connecting now get errors instead of waiting. */
    if (!srv.shutdown_asap) {
        client_resume_all();
    }
}

/* Clients, the keyevents and the replica links may use the pipe. */
static void
open_for_use(struct pipe *p)
{
    client_resume_all();
    keyevents_pipe_up();
    if (p->tee) {
        tee_pipe_up();
    }
}

static void
became_up(struct pipe *p)
{
    conn_up(&p->conn);
    srv.stats.pipe_connects++;
    log_notice("Pipe to the primary %s is up (Redis %s, run_id %s, %zu "
               "commands known)%s",
               srv.cfg.primary.spec, p->redis_version, p->run_id,
               p->table.ncmds, p->untrusted ? ", but held" : "");
    if (p->untrusted) {
        client_resume_all();    /* waiting clients get the reason */
        return;
    }
    open_for_use(p);
}

void
pipe_release_held(struct pipe *p)
{
    if (!p->untrusted) {
        return;
    }
    p->untrusted = 0;
    log_notice("Pipe to the primary %s is no longer held",
               srv.cfg.primary.spec);
    if (p->conn.state == CONN_UP) {
        open_for_use(p);
    }
}

static void
handshake_step_done(struct pipe *p)
{
    if (--p->handshake_left == 0 && p->conn.state == CONN_HANDSHAKE) {
        became_up(p);
    }
}

static void
fail_with_reply(struct pipe *p, const char *what, const char *reply,
                size_t len)
{
    char why[300];

    snprintf(why, sizeof(why), "%s: %.*s", what,
             (int)TD_MIN(len > 2 ? len - 2 : 0, 200), reply + 1);
    conn_fail(&p->conn, why);
}

static void
on_auth(void *ctx, const char *reply, size_t len)
{
    struct pipe *p = ctx;

    if (reply == NULL) {
        return;
    }
    if (reply[0] == '-') {
        fail_with_reply(p, "AUTH refused", reply, len);
        return;
    }
    handshake_step_done(p);
}

int
pipe_info_field(const char *text, size_t len, const char *name, char *dst,
                size_t dstlen)
{
    size_t nlen = strlen(name);
    const char *q = text;
    const char *end = text + len;

    while (q < end) {
        const char *eol = memchr(q, '\n', (size_t)(end - q));
        size_t l = eol != NULL ? (size_t)(eol - q) : (size_t)(end - q);

        if (l > nlen && memcmp(q, name, nlen) == 0 && q[nlen] == ':') {
            size_t vlen = l - nlen - 1;

            if (vlen > 0 && q[nlen + 1 + vlen - 1] == '\r') {
                vlen--;
            }
            snprintf(dst, dstlen, "%.*s", (int)vlen, q + nlen + 1);
            return 1;
        }
        q += l + 1;
    }
    return 0;
}

static void
on_info(void *ctx, const char *reply, size_t len)
{
    struct pipe *p = ctx;
    char why[300];

    if (reply == NULL) {
        return;
    }
    if (reply[0] != '$') {
        fail_with_reply(p, "INFO server failed", reply, len);
        return;
    }
    p->redis_version[0] = '\0';
    p->run_id[0] = '\0';
    pipe_info_field(reply, len, "redis_version", p->redis_version,
                    sizeof(p->redis_version));
    pipe_info_field(reply, len, "run_id", p->run_id, sizeof(p->run_id));
    if (atoi(p->redis_version) < 7) {
        snprintf(why, sizeof(why),
                 "refused: the primary runs Redis %s, tandem needs Redis 7 "
                 "or newer",
                 p->redis_version[0] != '\0' ? p->redis_version
                                             : "(unknown version)");
        conn_fail(&p->conn, why);
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
        conn_fail(&p->conn, why);
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
    redisReply *r;

    if (reply == NULL) {
        return;
    }
    r = resp_read_reply(reply, len);
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[1]->type == REDIS_REPLY_STRING) {
        p->databases = atoll(r->element[1]->str);
    } else {
        log_notice("CONFIG GET databases failed on the primary; "
                   "assuming 16 databases");
    }
    if (r != NULL) {
        freeReplyObject(r);
    }
    if (p->databases <= 0) {
        p->databases = 16;
    }
    handshake_step_done(p);
}

/* INFO keyspace, once: an empty primary where the stream begins lets an
 * empty replica replay the stream from offset 0 instead of a seed. */
static void
on_keyspace(void *ctx, const char *reply, size_t len)
{
    struct pipe *p = ctx;

    if (reply == NULL) {
        return;
    }
    if (!p->origin_checked && stream_offset(&srv.stream) == 0) {
        srv.stream.origin_empty = reply[0] == '$' &&
                                  guard_keyspace_keys(reply, len) == 0;
        p->origin_checked = 1;
    }
    p->untrusted = reply[0] == '$' && !guard_admit(p->run_id, reply, len);
    handshake_step_done(p);
}

static void
on_mark_taken(void *ctx)
{
    struct pipe *p = ctx;

    p->mark_taken = 1;
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
on_connected(struct conn *c)
{
    struct pipe *p = c->owner;
    const char *user = srv.cfg.primary.user != NULL ? srv.cfg.primary.user
                                                    : srv.cfg.backend_user;
    const char *pass = srv.cfg.primary.password != NULL
                           ? srv.cfg.primary.password
                           : srv.cfg.backend_password;
    const char *info[] = {"INFO", "server"};
    const char *command[] = {"COMMAND"};
    const char *databases[] = {"CONFIG", "GET", "databases"};
    const char *keyspace[] = {"INFO", "keyspace"};

    p->handshake_left = 0;
    if (pass != NULL) {
        const char *auth[] = {"AUTH", user != NULL ? user : "default", pass};

        p->handshake_left++;
        send_formatted(p, on_auth, 3, auth);
    }
    p->handshake_left += 4;
    send_formatted(p, on_info, 2, info);
    send_formatted(p, on_command, 1, command);
    send_formatted(p, on_databases, 3, databases);
    guard_handshake();
    send_formatted(p, on_keyspace, 2, keyspace);
    if (!p->mark_taken) {
        p->handshake_left++;
        shutdown_mark_take(on_mark_taken, p);
    }
    select_db(p, 0);    /* clients start where a connection starts */
    pipe_flush(p);
}

/* The write at the head of `writes` has all its replies: tee it, then
 * release the reply to its client. */
static void
complete_write(struct pipe *p, const struct pipe_slot *s, const char *reply,
               size_t len)
{
    const char *raw = buf_head(&p->writes);

    if (p->tee) {
        if (s->kind == SLOT_EXEC) {
            tee_exec(s->db, raw, s->write_len, reply, len,
                     buf_head(&p->probe_replies), p->probe_replies.len);
        } else {
            tee_write(s->db, raw, s->write_len, reply, len,
                      buf_head(&p->probe_replies), p->probe_replies.len);
        }
        if (s->req != NULL && s->req->client != NULL) {
            s->req->client->woff = stream_offset(&srv.stream);
        }
    }
    buf_consume(&p->writes, s->write_len);
    buf_clear(&p->probe_replies);
    write_settled(s);
    if (s->req != NULL) {
        req_reply(s->req, reply, len);
    }
}

static void
on_reply(struct conn *c, const char *reply, size_t len)
{
    struct pipe *p = c->owner;
    struct pipe_slot s;

    if (p->slots.count == 0) {
        conn_fail(c, "reply from the primary with no request");
        return;
    }
    s = slot_pop(p);
    switch (s.kind) {
    case SLOT_READ:
        if (s.req != NULL) {
            req_reply(s.req, reply, len);
        }
        break;
    case SLOT_WRITE:
    case SLOT_EXEC:
        if (s.probes > 0) {
            p->held = s;
            p->probes_left = s.probes;
            buf_clear(&p->held_reply);
            buf_append(&p->held_reply, reply, len);
            break;
        }
        complete_write(p, &s, reply, len);
        break;
    case SLOT_PROBE:
        buf_append(&p->probe_replies, reply, len);
        if (--p->probes_left == 0) {
            struct pipe_slot held = p->held;

            memset(&p->held, 0, sizeof(p->held));
            complete_write(p, &held, buf_head(&p->held_reply),
                           p->held_reply.len);
            buf_clear(&p->held_reply);
        }
        break;
    case SLOT_QUEUED:
        if (reply[0] == '-') {
            log_verbose("transaction command refused by the primary: %.*s",
                        (int)TD_MIN(len - 2, 200), reply + 1);
        }
        break;
    case SLOT_INTERNAL:
        if (s.fn != NULL) {
            s.fn(s.ctx, reply, len);
        }
        break;
    }
}

static void
on_writable(struct conn *c)
{
    pipe_flush(c->owner);
}

static const struct conn_ops pipe_conn_ops = {
    on_connected,
    on_reply,
    on_writable,
    on_down,
};

void
pipe_start(struct pipe *p)
{
    memset(p, 0, sizeof(*p));
    fifo_init(&p->slots, sizeof(struct pipe_slot));
    p->databases = 16;
    p->tee = srv.cfg.nreplicas > 0;    /* replica_add() turns it on */
    buf_init(&p->out);
    buf_init(&p->writes);
    buf_init(&p->held_reply);
    buf_init(&p->probe_replies);
    cmdtable_init(&p->table);
    conn_init(&p->conn, "primary", srv.cfg.primary.host,
              (int)srv.cfg.primary.port, srv.cfg.primary.tls, &pipe_conn_ops,
              p);
    conn_connect(&p->conn);
}

void
pipe_detach(struct pipe *p, const char *why)
{
    p->conn.retry = 0;
    conn_fail(&p->conn, why);
    ev_timer_stop(srv.loop, &p->conn.timer);
}

void
pipe_reattach(struct pipe *p)
{
    p->conn.retry = 1;
    conn_connect(&p->conn);
}

void
pipe_retarget(struct pipe *p)
{
    pipe_detach(p, "the primary changed");
    conn_free(&p->conn);
    conn_init(&p->conn, "primary", srv.cfg.primary.host,
              (int)srv.cfg.primary.port, srv.cfg.primary.tls, &pipe_conn_ops,
              p);
    p->untrusted = 0;
    p->mark_taken = 1;    /* a mark is the old primary's business */
    conn_connect(&p->conn);
}

void
pipe_stop(struct pipe *p)
{
    p->conn.retry = 0;
    conn_fail(&p->conn, "tandem is shutting down");
    conn_free(&p->conn);
    buf_free(&p->out);
    buf_free(&p->writes);
    buf_free(&p->held_reply);
    buf_free(&p->probe_replies);
    fifo_free(&p->slots);
    cmdtable_free(&p->table);
}

void
pipe_send_internal(struct pipe *p, const char *cmd, size_t len,
                   pipe_reply_fn fn, void *ctx)
{
    struct pipe_slot s;

    memset(&s, 0, sizeof(s));
    s.kind = SLOT_INTERNAL;
    s.fn = fn;
    s.ctx = ctx;
    buf_append(&p->out, cmd, len);
    slot_push(p, &s);
}


void
pipe_send_internal_db(struct pipe *p, long long db, const char *cmd,
                      size_t len, pipe_reply_fn fn, void *ctx)
{
    select_db(p, db);
    pipe_send_internal(p, cmd, len, fn, ctx);
}

static void
select_db(struct pipe *p, long long db)
{
    char dbstr[24];
    const char *argv[] = {"SELECT", dbstr};

    if (db == p->db) {
        return;
    }
    snprintf(dbstr, sizeof(dbstr), "%lld", db);
    send_formatted(p, on_select, 2, argv);
    p->db = db;
}

/* The probes a write's effect needs were appended to out: their replies
 * go to the write. */
static void
push_probe_slots(struct pipe *p, size_t n)
{
    struct pipe_slot s;
    size_t i;

    memset(&s, 0, sizeof(s));
    s.kind = SLOT_PROBE;
    for (i = 0; i < n; i++) {
        slot_push(p, &s);
    }
}

void
pipe_send_request(struct pipe *p, struct req *r, long long db,
                  const struct cmd *cmd, size_t argc,
                  const struct resp_arg *argv, const char *raw,
                  size_t rawlen)
{
    struct pipe_slot s;
    enum effect e = EFFECT_NONE;

    TD_ASSERT(pipe_is_up(p));
    memset(&s, 0, sizeof(s));
    select_db(p, db);
    buf_append(&p->out, raw, rawlen);
    if (p->tee && cmd != NULL) {
        e = effects_classify(cmd, argc, argv, srv.cfg.script_verbatim);
    } else if (cmd != NULL && (cmd->flags & CMD_WRITE)) {
        /* Not recorded: the stream no longer describes the primary from
         * its start, so a replica added later must be seeded. */
        srv.stream.origin_empty = 0;
    }
    if (cmd != NULL && cmd->name[0] == 'f' &&
        (strcmp(cmd->name, "flushall") == 0 ||
         strcmp(cmd->name, "flushdb") == 0)) {
        guard_flushed();    /* fewer keys on purpose */
    }
    if (e == EFFECT_NONE) {
        s.kind = SLOT_READ;
        s.req = r;
        slot_push(p, &s);
    } else {
        s.kind = SLOT_WRITE;
        s.req = r;
        write_sent(r);
        s.db = db;
        s.write_len = (uint32_t)rawlen;
        buf_append(&p->writes, raw, rawlen);
        s.probes = (uint32_t)effects_probes(e, cmd, argc, argv, &p->out);
        slot_push(p, &s);
        push_probe_slots(p, s.probes);
    }
    srv.stats.commands_forwarded++;
}

void
pipe_send_transaction(struct pipe *p, struct req *r, long long db,
                      long long final_db, const char *queued, size_t len,
                      size_t count)
{
    static const char multi[] = "*1\r\n$5\r\nMULTI\r\n";
    static const char exec[] = "*1\r\n$4\r\nEXEC\r\n";
    struct pipe_slot s;
    struct resp_parser parser;
    size_t off = 0;
    size_t i;
    long long at = db;
    int selects = 0;
    int pass;

    TD_ASSERT(pipe_is_up(p));
    if (!p->tee) {
        srv.stream.origin_empty = 0;
    }
    select_db(p, db);
    memset(&s, 0, sizeof(s));
    s.kind = SLOT_QUEUED;
    buf_append(&p->out, multi, sizeof(multi) - 1);
    slot_push(p, &s);
    buf_append(&p->out, queued, len);
    for (i = 0; i < count; i++) {
        slot_push(p, &s);
    }
    buf_append(&p->out, exec, sizeof(exec) - 1);

    /* The probes follow EXEC, each command's in its own database: a
     * first pass counts them for the EXEC slot, a second sends them. */
    memset(&s, 0, sizeof(s));
    s.kind = p->tee ? SLOT_EXEC : SLOT_READ;
    s.req = r;
    s.db = db;
    resp_parser_init(&parser, srv.cfg.proto_max_bulk_len);
    for (pass = 0; pass < (p->tee ? 2 : 1); pass++) {
        at = db;
        off = 0;
        if (pass == 1) {
            s.write_len = (uint32_t)len;
            buf_append(&p->writes, queued, len);
            write_sent(r);
            slot_push(p, &s);
            if (selects) {
                /* The queued SELECTs ran only if EXEC did: the pipe's
                 * database is unknown until tandem selects one itself. */
                p->db = -1;
            }
        }
        while (off < len) {
            size_t consumed = 0;
            struct cmd *cmd = NULL;
            enum effect e;
            size_t n;

            if (resp_parse_request(&parser, queued + off, len - off,
                                   &consumed) != RESP_COMMAND) {
                break;
            }
            off += consumed;
            if (td_slice_eq(parser.argv[0].ptr, parser.argv[0].len,
                            "select") && parser.argc == 2 &&
                td_str2ll(parser.argv[1].ptr, parser.argv[1].len, &at)) {
                selects = 1;
                continue;
            }
            if (!p->tee ||
                cmdtable_lookup(&p->table, parser.argc, parser.argv,
                                &cmd) != CMD_FOUND) {
                continue;
            }
            e = effects_classify(cmd, parser.argc, parser.argv,
                                 srv.cfg.script_verbatim);
            n = effects_probes(e, cmd, parser.argc, parser.argv, NULL);
            if (n == 0) {
                continue;
            }
            if (pass == 0) {
                s.probes += (uint32_t)n;
            } else {
                select_db(p, at);
                effects_probes(e, cmd, parser.argc, parser.argv, &p->out);
                push_probe_slots(p, n);
            }
        }
    }
    if (!p->tee) {
        slot_push(p, &s);
        if (selects) {
            p->db = -1;
        }
    }
    select_db(p, final_db);
    resp_parser_free(&parser);
    srv.stats.commands_forwarded += count;
}

void
pipe_flush(struct pipe *p)
{
    ssize_t n;

    if (p->conn.state != CONN_HANDSHAKE && p->conn.state != CONN_UP) {
        return;
    }
    while (p->out.len > 0) {
        struct iovec iov = {buf_head(&p->out), p->out.len};

        n = conn_writev(&p->conn, &iov, 1);
        if (n < 0) {
            return;
        }
        if (n == 0) {
            break;
        }
        srv.stats.pipe_writes++;
        buf_consume(&p->out, (size_t)n);
    }
    conn_want_write(&p->conn, p->out.len > 0);
    if (p->out.len == 0) {
        buf_shrink(&p->out, 1024 * 1024);
    }
    if (was_congested && !pipe_congested(p)) {
        was_congested = 0;
        client_resume_all();
    } else if (pipe_congested(p)) {
        was_congested = 1;
    }
}
