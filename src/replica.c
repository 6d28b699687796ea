/*
 * replica.c -- replica links: handshake and stamp, partial resync from the
 * backlog, stamped MULTI/EXEC batches sent from the ring, acknowledgements
 * and divergence. See replica.h for the picture.
 */
#include "replica.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "guard.h"
#include "log.h"
#include "pipe.h"
#include "server.h"
#include "verify.h"
#include "wait.h"
#include "watch.h"

#define REPLICA_BATCH_MAX (1024 * 1024)   /* bytes of stream per batch */
#define REPLICA_MAX_INFLIGHT 64           /* batches awaiting EXEC */
#define STAMP_KEY "tandem:stamp"

/* Each link is allocated on its own: callbacks in the pipe may point to
 * it. A link removed by a reload is retired, not freed, until shutdown. */
static struct replica **replicas = NULL;
static size_t nreplicas = 0;
static struct replica **retired = NULL;
static size_t nretired = 0;

static const char *const state_names[] = {
#define X(id, name) name,
    REPLICA_STATE_LIST(X)
#undef X
};

const char *
replica_state_name(enum replica_state s)
{
    return state_names[s];
}

static void
set_state(struct replica *r, enum replica_state s, const char *why)
{
    if (r->state == s && (why == NULL || strcmp(r->why, why) == 0)) {
        return;
    }
    if (why != NULL) {
        snprintf(r->why, sizeof(r->why), "%s", why);
    } else {
        r->why[0] = '\0';
    }
    if (s == REPLICA_NEEDS_SEED || s == REPLICA_REFUSED) {
        log_warning("Replica %s is %s: %s", r->addr->spec, state_names[s],
                    r->why);
    } else {
        log_notice("Replica %s: %s -> %s", r->addr->spec,
                   state_names[r->state], state_names[s]);
    }
    r->state = s;
}

/* Takes the link out of service and closes it; it reconnects later and
 * stays out of service until seeded. */
static void
out_of_service(struct replica *r, enum replica_state s, const char *why)
{
    set_state(r, s, why);
    conn_fail(&r->conn, why);
}

static void
send_cmd(struct replica *r, struct buf *b, int argc, const char **argv)
{
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, argc, argv, NULL);

    if (len > 0) {
        buf_append(b, cmd, (size_t)len);
    }
    free(cmd);
    TD_UNUSED(r);
}

/* ---- handshake ---------------------------------------------------- */

static void
on_connected(struct conn *c)
{
    struct replica *r = c->owner;
    const char *user = r->addr->user != NULL ? r->addr->user
                                             : srv.cfg.backend_user;
    const char *pass = r->addr->password != NULL ? r->addr->password
                                                 : srv.cfg.backend_password;
    char meta[24];
    const char *info[] = {"INFO", "server"};
    const char *select[] = {"SELECT", meta};
    const char *get[] = {"GET", STAMP_KEY};
    const char *keyspace[] = {"INFO", "keyspace"};
    struct buf out;
    struct iovec iov;

    snprintf(meta, sizeof(meta), "%lld", srv.cfg.meta_db);
    buf_init(&out);
    r->handshake_left = 0;
    if (pass != NULL) {
        const char *auth[] = {"AUTH", user != NULL ? user : "default", pass};

        send_cmd(r, &out, 3, auth);
        r->handshake_left++;
    }
    send_cmd(r, &out, 2, info);
    send_cmd(r, &out, 2, select);
    send_cmd(r, &out, 2, get);
    send_cmd(r, &out, 2, keyspace);
    r->handshake_left += 4;
    r->stamp[0] = '\0';
    r->has_keys = 0;
    set_state(r, REPLICA_HANDSHAKE, NULL);
    /* The handshake is a few hundred bytes: a fresh socket takes it. */
    iov.iov_base = buf_head(&out);
    iov.iov_len = out.len;
    if (conn_writev(c, &iov, 1) != (ssize_t)out.len &&
        c->state != CONN_DOWN) {
        conn_fail(c, "handshake did not fit the socket buffer");
    }
    buf_free(&out);
}

/* Compares dotted versions: <0, 0, >0. */
static int
version_cmp(const char *a, const char *b)
{
    int i;

    for (i = 0; i < 3; i++) {
        long x = strtol(a, (char **)&a, 10);
        long y = strtol(b, (char **)&b, 10);

        if (x != y) {
            return x < y ? -1 : 1;
        }
        if (*a == '.') {
            a++;
        }
        if (*b == '.') {
            b++;
        }
    }
    return 0;
}

static void decide(struct replica *r);

static void
start_seed(struct replica *r, const char *why)
{
    r->diverged = 0;
    fifo_pop_all(&r->inflight);
    r->writing = 0;
    repair_reset(r);
    conn_up(&r->conn);
    set_state(r, REPLICA_SEEDING, why);
    r->seeds++;
    seed_start(r, why);
}

void
replica_seeded(struct replica *r, const struct backlog_mark *m)
{
    /* Batches follow the seed's last commands at once; the replica counts
     * as online (WAIT, reads) when their replies are in. */
    repair_reset(r);
    r->acked = m->offset;
    r->sent = m->offset;
    r->sent_commands = m->commands;
    r->sent_db = m->db;
    r->last_ack_ms = td_mstime();
}

void
replica_seed_done(struct replica *r)
{
    set_state(r, REPLICA_ONLINE, NULL);
    wait_check_all();
}

/* The link carries the stream: online, or finishing a seed. */
static int
streaming(const struct replica *r)
{
    return r->state == REPLICA_ONLINE ||
           (r->state == REPLICA_SEEDING && r->seed.finishing);
}

void
replica_pipe_up(void)
{
    size_t i;

    for (i = 0; i < nreplicas; i++) {
        if (replicas[i]->decide_pending &&
            replicas[i]->state == REPLICA_HANDSHAKE) {
            decide(replicas[i]);
        }
    }
}

void
replica_pipe_lost(void)
{
    size_t i;

    for (i = 0; i < nreplicas; i++) {
        if (replicas[i]->state == REPLICA_SEEDING ||
            replicas[i]->seed.active) {
            conn_fail(&replicas[i]->conn, "the pipe to the primary was lost "
                                         "during the seed; it starts over");
        }
    }
}

/* Everything read at connect is in: continue from the stamp, replay an
 * empty fleet from the start, or leave the replica out of service. */
static void
decide(struct replica *r)
{
    struct backlog_mark m;
    char why[256];
    const char *colon = strchr(r->stamp, ':');
    uint64_t off = 0;

    /* Whether the primary was empty where the stream began, and its
     * version, are known once the pipe's handshake is done. */
    if (!pipe_is_up(&srv.pipe) || !srv.pipe.origin_checked) {
        r->decide_pending = 1;
        conn_up(&r->conn);    /* no connect deadline while waiting */
        return;
    }
    r->decide_pending = 0;
    if (version_cmp(r->redis_version, srv.pipe.redis_version) < 0) {
        snprintf(why, sizeof(why),
                 "it runs Redis %s, older than the primary's %s (DUMP "
                 "payloads do not go backwards)", r->redis_version,
                 srv.pipe.redis_version);
        out_of_service(r, REPLICA_REFUSED, why);
        return;
    }

    if (r->diverged) {
        start_seed(r, r->diverged_why[0] != '\0' ? r->diverged_why
                                                : "diverged earlier");
        return;
    }
    if (colon != NULL && (size_t)(colon - r->stamp) == 40 &&
        memcmp(r->stamp, srv.stream.id, 40) == 0) {
        off = strtoull(colon + 1, NULL, 10);
        if (!backlog_mark_at(&srv.stream.backlog, off, &m)) {
            snprintf(why, sizeof(why),
                     "its stamp offset %llu is no longer in the backlog "
                     "(first offset %llu)", (unsigned long long)off,
                     (unsigned long long)backlog_first(&srv.stream.backlog));
            start_seed(r, why);
            return;
        }
    } else if (r->stamp[0] == '\0' && !r->has_keys &&
               srv.stream.origin_empty &&
               backlog_mark_at(&srv.stream.backlog, 0, &m)) {
        off = 0;
    } else {
        if (r->stamp[0] == '\0') {
            snprintf(why, sizeof(why), "it has no stamp and %s",
                     r->has_keys ? "holds keys"
                                 : "the primary was not empty when the "
                                   "stream began");
        } else {
            snprintf(why, sizeof(why),
                     "its stamp is from another stream (%.60s)", r->stamp);
        }
        start_seed(r, why);
        return;
    }
    r->acked = repair_ack(r, off);
    r->sent = off;
    r->sent_commands = m.commands;
    r->sent_db = m.db;
    fifo_pop_all(&r->inflight);
    r->writing = 0;
    r->last_ack_ms = td_mstime();
    conn_up(&r->conn);
    set_state(r, REPLICA_ONLINE, NULL);
    log_notice("Replica %s continues from offset %llu (%llu bytes behind)",
               r->addr->spec, (unsigned long long)off,
               (unsigned long long)(stream_offset(&srv.stream) - off));
    replica_flush_all();
}

static void
handshake_reply(struct replica *r, const char *reply, size_t len)
{
    int step = r->handshake_left--;
    int with_auth = (r->addr->password != NULL ||
                     srv.cfg.backend_password != NULL);
    char why[300];

    /* Steps count down: [AUTH] INFO SELECT GET INFO-keyspace. */
    if (reply[0] == '-' && step != 2) {
        snprintf(why, sizeof(why), "handshake refused: %.*s",
                 (int)TD_MIN(len - 3, 200), reply + 1);
        conn_fail(&r->conn, why);
        return;
    }
    if (step == 5 && with_auth) {
        return;    /* AUTH +OK */
    }
    if (step == 4) {
        char version[32] = "";

        pipe_info_field(reply, len, "redis_version", version,
                        sizeof(version));
        snprintf(r->redis_version, sizeof(r->redis_version), "%s", version);
        if (atoi(version) < 7) {
            snprintf(why, sizeof(why),
                     "it runs Redis %s; tandem needs Redis 7 or newer",
                     version[0] != '\0' ? version : "(unknown)");
            out_of_service(r, REPLICA_REFUSED, why);
        }
        return;
    }
    if (step == 2) {
        /* GET tandem:stamp: a bulk, nil or WRONGTYPE. */
        if (reply[0] == '$' && reply[1] != '-') {
            const char *body = memchr(reply, '\n', len);

            if (body != NULL) {
                size_t blen = len - (size_t)(body + 1 - reply) - 2;

                snprintf(r->stamp, sizeof(r->stamp), "%.*s",
                         (int)TD_MIN(blen, sizeof(r->stamp) - 1), body + 1);
            }
        } else if (reply[0] == '-') {
            snprintf(r->stamp, sizeof(r->stamp), "(unreadable)");
        }
        return;
    }
    if (step == 1) {
        r->has_keys = guard_keyspace_keys(reply, len) > 0;
        decide(r);
    }
}

/* ---- batches ------------------------------------------------------ */

static void
add_bulk_cmd(struct buf *b, int argc, const char **argv)
{
    int i;

    resp_add_array(b, argc);
    for (i = 0; i < argc; i++) {
        resp_add_bulk_str(b, argv[i]);
    }
}

/* Writes the current batch on. Returns 1 when it is all written. */
static int
write_batch(struct replica *r)
{
    const struct backlog *bl = &srv.stream.backlog;
    size_t total_data = (size_t)(r->data_to - r->data_from);
    struct iovec iov[4];
    int n = 0;
    size_t skip = r->written;
    ssize_t w;

    for (;;) {
        size_t total = r->prefix.len + total_data + r->suffix.len;

        if (r->written == total) {
            r->writing = 0;
            conn_want_write(&r->conn, 0);
            return 1;
        }
        if (r->data_from < bl->start) {
            out_of_service(r, REPLICA_NEEDS_SEED,
                           "it fell out of the backlog while a batch was "
                           "being written");
            return 0;
        }
        n = 0;
        skip = r->written;
        if (skip < r->prefix.len) {
            iov[n].iov_base = buf_head(&r->prefix) + skip;
            iov[n].iov_len = r->prefix.len - skip;
            n++;
            skip = 0;
        } else {
            skip -= r->prefix.len;
        }
        if (skip < total_data) {
            struct iovec ring[2];
            int k = backlog_iov(bl, r->data_from + skip, r->data_to, ring);
            int i;

            for (i = 0; i < k; i++) {
                iov[n++] = ring[i];
            }
            skip = 0;
        } else {
            skip -= total_data;
        }
        iov[n].iov_base = buf_head(&r->suffix) + skip;
        iov[n].iov_len = r->suffix.len - skip;
        n++;
        w = conn_writev(&r->conn, iov, n);
        if (w < 0) {
            return 0;
        }
        if (w == 0) {
            conn_want_write(&r->conn, 1);
            return 0;
        }
        r->written += (size_t)w;
    }
}

/* Starts the next batch when the stream has more for this link. */
static int
start_batch(struct replica *r)
{
    const struct backlog *bl = &srv.stream.backlog;
    struct backlog_mark m;
    struct replica_batch b;
    char db[24];
    char meta[24];
    char stamp[80];
    const char *multi[] = {"MULTI"};
    const char *select_db[] = {"SELECT", db};
    const char *select_meta[] = {"SELECT", meta};
    const char *set[] = {"SET", STAMP_KEY, stamp};
    const char *exec[] = {"EXEC"};

    if (r->inflight.count >= REPLICA_MAX_INFLIGHT || r->sent >= bl->end ||
        !backlog_next_mark(bl, r->sent, REPLICA_BATCH_MAX, &m)) {
        return 0;
    }
    snprintf(db, sizeof(db), "%lld", r->sent_db);
    snprintf(meta, sizeof(meta), "%lld", srv.cfg.meta_db);
    snprintf(stamp, sizeof(stamp), "%s:%llu", srv.stream.id,
             (unsigned long long)m.offset);
    buf_clear(&r->prefix);
    buf_clear(&r->suffix);
    add_bulk_cmd(&r->prefix, 1, multi);
    add_bulk_cmd(&r->prefix, 2, select_db);
    add_bulk_cmd(&r->suffix, 2, select_meta);
    add_bulk_cmd(&r->suffix, 3, set);
    add_bulk_cmd(&r->suffix, 1, exec);

    memset(&b, 0, sizeof(b));
    b.from = r->sent;
    b.end = m.offset;
    b.first_command = r->sent_commands;
    b.commands = m.commands;
    b.db = r->sent_db;
    /* MULTI, SELECT, the commands, SELECT, SET, then EXEC's reply. */
    b.replies = 2 + (m.commands - r->sent_commands) + 2 + 1;
    b.sent_ms = td_mstime();
    fifo_push(&r->inflight, &b);

    r->data_from = r->sent;
    r->data_to = m.offset;
    r->written = 0;
    r->writing = 1;
    r->sent = m.offset;
    r->sent_commands = m.commands;
    r->sent_db = m.db;
    r->batches++;
    return 1;
}

static void
replica_send(struct replica *r)
{
    if (r->state == REPLICA_SEEDING && !r->seed.finishing) {
        seed_tick(r);
        return;
    }
    if (r->seed.finishing) {
        seed_write(r);    /* the seed's last commands go first */
        if (r->seed.flow.len > 0) {
            return;
        }
    }
    if (!streaming(r)) {
        return;
    }
    if (r->sent < srv.stream.backlog.start ||
        (r->writing && r->data_from < srv.stream.backlog.start)) {
        out_of_service(r, REPLICA_NEEDS_SEED,
                       "it fell behind by more than backlog-size");
        return;
    }
    for (;;) {
        if (r->writing && !write_batch(r)) {
            return;
        }
        if (!streaming(r) || !start_batch(r)) {
            return;
        }
    }
}

void
replica_flush_all(void)
{
    size_t i;

    for (i = 0; i < nreplicas; i++) {
        replica_send(replicas[i]);
        readconn_flush(&replicas[i]->rc);
    }
}

static void
on_reply(struct conn *c, const char *reply, size_t len)
{
    struct replica *r = c->owner;
    struct replica_batch *b;
    char err[256];
    char why[400];

    if (r->state == REPLICA_HANDSHAKE) {
        handshake_reply(r, reply, len);
        return;
    }
    if (seed_on_reply(r, reply, len)) {
        return;
    }
    if (!streaming(r) || r->inflight.count == 0) {
        conn_fail(c, "unexpected reply from the replica");
        return;
    }
    b = fifo_head(&r->inflight);
    if (--b->replies > 0) {
        if (reply[0] == '-' && !b->failed) {
            b->failed = 1;
            log_warning("Replica %s refused a command of the batch ending "
                        "at %llu: %.*s", r->addr->spec,
                        (unsigned long long)b->end,
                        (int)TD_MIN(len - 2, 200), reply + 1);
        }
        return;
    }
    if (!repair_check_batch(r, b, reply, len, err, sizeof(err))) {
        snprintf(why, sizeof(why),
                 "it diverged: the batch ending at offset %llu failed "
                 "there (%s) but applied on the primary",
                 (unsigned long long)b->end, err);
        replica_diverge(r, why);
        return;
    }
    r->acked = repair_ack(r, b->end);
    r->last_ack_ms = td_mstime();
    fifo_pop(&r->inflight, NULL);
    wait_check_all();
}

static void
on_writable(struct conn *c)
{
    replica_send(c->owner);
}

static void
on_down(struct conn *c, const char *why, int was_up)
{
    struct replica *r = c->owner;

    fifo_pop_all(&r->inflight);
    r->writing = 0;
    r->decide_pending = 0;
    seed_stop(r);
    if (r->state == REPLICA_NEEDS_SEED || r->state == REPLICA_REFUSED) {
        return;    /* closed on purpose; said why already */
    }
    if (srv.shutdown_asap) {
        log_notice("Closing the link to replica %s", r->addr->spec);
    } else if (streaming(r)) {
        log_warning("Lost replica %s: %s", r->addr->spec, why);
    } else if (r->state != REPLICA_DOWN || r->why[0] == '\0' ||
               strcmp(r->why, why) != 0) {
        log_warning("Can't connect to replica %s: %s", r->addr->spec, why);
    }
    r->state = REPLICA_DOWN;
    snprintf(r->why, sizeof(r->why), "%s", why);
}

static const struct conn_ops replica_conn_ops = {
    on_connected,
    on_reply,
    on_writable,
    on_down,
};

/* The stream's hook: seeds in progress, and the verifier's window, see
 * every unit appended. */
static void
on_stream_append(void *ctx, long long db, const char *p, size_t len)
{
    size_t i;

    verify_on_stream(db, p, len);
    for (i = 0; i < nreplicas; i++) {
        if (replicas[i]->seed.active) {
            seed_on_stream(replicas[i], db, p, len);
        }
    }
}

static struct backend_addr *
addr_copy(const struct backend_addr *a)
{
    struct backend_addr *c = td_calloc(1, sizeof(*c));

    c->host = td_strdup(a->host);
    c->port = a->port;
    c->user = a->user != NULL ? td_strdup(a->user) : NULL;
    c->password = a->password != NULL ? td_strdup(a->password) : NULL;
    c->spec = td_strdup(a->spec);
    c->tls = a->tls;
    return c;
}

/* Creates a link for a replica and starts connecting. */
static void
replica_add(const struct backend_addr *addr)
{
    struct replica *r = td_calloc(1, sizeof(*r));

    r->index = (int)nreplicas;
    r->addr = addr_copy(addr);
    r->state = REPLICA_DOWN;
    buf_init(&r->prefix);
    buf_init(&r->suffix);
    fifo_init(&r->inflight, sizeof(struct replica_batch));
    seed_init(&r->seed);
    conn_init(&r->conn, "replica", r->addr->host, r->addr->port,
              r->addr->tls || srv.cfg.tls_replication, &replica_conn_ops, r);
    replicas = td_realloc(replicas, (nreplicas + 1) * sizeof(*replicas));
    replicas[nreplicas++] = r;
    srv.pipe.tee = 1;
    conn_connect(&r->conn);
    readconn_start(&r->rc, r);
}

/* Closes a link for good. Its memory stays until shutdown: pipe
 * callbacks of its seed may still refer to it (they see a seed that is
 * no longer active and let go). */
static void
replica_close(struct replica *r, const char *why)
{
    r->conn.retry = 0;
    conn_fail(&r->conn, why);
    r->state = REPLICA_DOWN;
    seed_stop(r);
    readconn_stop(&r->rc);
}

static void
replica_free(struct replica *r)
{
    conn_free(&r->conn);
    buf_free(&r->prefix);
    buf_free(&r->suffix);
    seed_free(&r->seed);
    fifo_free(&r->inflight);
    config_backend_free(r->addr);
    free(r->addr);
    free(r);
}

void
replica_start_all(void)
{
    size_t i;

    srv.stream.on_append = on_stream_append;
    srv.stream.on_append_ctx = NULL;
    for (i = 0; i < srv.cfg.nreplicas; i++) {
        replica_add(&srv.cfg.replicas[i]);
    }
}

static int
same_addr(const struct backend_addr *a, const struct backend_addr *b)
{
    return strcmp(a->host, b->host) == 0 && a->port == b->port;
}

void
replica_reconfigure(const struct backend_addr *addrs, size_t n)
{
    size_t i;
    size_t j;

    /* Removed: retire their links. */
    for (i = 0; i < nreplicas;) {
        struct replica *r = replicas[i];
        int kept = 0;

        for (j = 0; j < n && !kept; j++) {
            kept = same_addr(r->addr, &addrs[j]);
        }
        if (kept) {
            i++;
            continue;
        }
        log_notice("Replica %s removed from the configuration",
                   r->addr->spec);
        replica_close(r, "removed from the configuration");
        retired = td_realloc(retired, (nretired + 1) * sizeof(*retired));
        retired[nretired++] = r;
        memmove(&replicas[i], &replicas[i + 1],
                (nreplicas - i - 1) * sizeof(*replicas));
        nreplicas--;
    }
    /* Added: new links, seeded like any replica that is not in sync. */
    for (j = 0; j < n; j++) {
        int known = 0;

        for (i = 0; i < nreplicas && !known; i++) {
            known = same_addr(replicas[i]->addr, &addrs[j]);
        }
        if (!known) {
            log_notice("Replica %s added to the configuration",
                       addrs[j].spec);
            replica_add(&addrs[j]);
        }
    }
    for (i = 0; i < nreplicas; i++) {
        replicas[i]->index = (int)i;
    }
}

void
replica_stop_all(void)
{
    size_t i;

    for (i = 0; i < nreplicas; i++) {
        replica_close(replicas[i], "tandem is shutting down");
        replica_free(replicas[i]);
    }
    for (i = 0; i < nretired; i++) {
        replica_free(retired[i]);
    }
    free(replicas);
    free(retired);
    replicas = NULL;
    retired = NULL;
    nreplicas = 0;
    nretired = 0;
}

void
replica_diverge(struct replica *r, const char *why)
{
    r->diverged = 1;
    snprintf(r->diverged_why, sizeof(r->diverged_why), "%s", why);
    if (r->state == REPLICA_DOWN) {
        snprintf(r->why, sizeof(r->why), "%s", why);    /* seeded on return */
        return;
    }
    out_of_service(r, REPLICA_NEEDS_SEED, why);
}

void
replica_mark_all_diverged(const char *why)
{
    size_t i;

    for (i = 0; i < nreplicas; i++) {
        struct replica *r = replicas[i];

        if (r->state != REPLICA_REFUSED) {
            replica_diverge(r, why);
        }
    }
}

int
replica_count_acked(uint64_t off)
{
    int n = 0;
    size_t i;

    for (i = 0; i < nreplicas; i++) {
        if (replicas[i]->state == REPLICA_ONLINE &&
            !replicas[i]->seed.finishing && replicas[i]->acked >= off) {
            n++;
        }
    }
    return n;
}

uint64_t
replica_lag(const struct replica *r, int64_t *lag_ms)
{
    uint64_t end = stream_offset(&srv.stream);
    uint64_t bytes = streaming(r) ? end - r->acked : 0;
    int64_t now = td_mstime();

    *lag_ms = 0;
    if (bytes > 0) {
        const struct replica_batch *oldest = fifo_head(&r->inflight);

        *lag_ms = oldest != NULL ? now - oldest->sent_ms
                                 : now - r->last_ack_ms;
    }
    return bytes;
}

struct replica *
replica_pick_reader(const struct client *c)
{
    static size_t turn = 0;
    struct replica *best = NULL;
    size_t k;

    /* A client with watches reads from the primary (DESIGN section 4). */
    if (watch_any(c)) {
        return NULL;
    }
    /* Least outstanding reads; ties go round robin. */
    turn++;
    for (k = 0; k < nreplicas; k++) {
        struct replica *r = replicas[(turn + k) % nreplicas];
        int64_t lag_ms;

        if (r->state != REPLICA_ONLINE || r->seed.finishing ||
            !readconn_ready(&r->rc)) {
            continue;
        }
        replica_lag(r, &lag_ms);
        if (lag_ms > srv.cfg.max_replica_lag) {
            continue;
        }
        if (!srv.cfg.read_eventual &&
            (c->writes_inflight > 0 || r->acked < c->woff)) {
            continue;
        }
        if (best == NULL || readconn_load(&r->rc) < readconn_load(&best->rc)) {
            best = r;
        }
    }
    if (best != NULL && srv.cfg.read_policy == READ_PREFER_REPLICA &&
        srv.pipe.slots.count < readconn_load(&best->rc)) {
        return NULL;    /* the primary is less busy */
    }
    return best;
}

/* One replica's INFO fields: "ip=...,port=...,state=...,...". */
static void
describe(const struct replica *r, char *line, size_t size)
{
    int online = r->state == REPLICA_ONLINE;
    int64_t lag_ms;
    uint64_t lag_bytes = replica_lag(r, &lag_ms);
    char reason[sizeof(r->why)];
    char progress[256] = "";
    char *p;

    if (r->state == REPLICA_SEEDING) {
        progress[0] = ',';
        seed_describe(r, progress + 1, sizeof(progress) - 1);
    }
    /* The reason is free text: keep the line parseable. */
    snprintf(reason, sizeof(reason), "%s",
             online || r->state == REPLICA_SEEDING ? "" : r->why);
    for (p = reason; *p != '\0'; p++) {
        if (*p == ',' || *p == '\r' || *p == '\n' || *p == ':') {
            *p = ';';
        }
    }
    snprintf(line, size,
             "ip=%s,port=%d,state=%s,offset=%llu,lag=%lld,lag_bytes=%llu,"
             "lag_ms=%lld,batches=%llu,seeds=%llu,repaired_keys=%llu,"
             "reads=%llu,read_link=%s,reads_to_primary=%llu%s%s%s",
             r->addr->host, r->addr->port, state_names[r->state],
             (unsigned long long)r->acked, (long long)(lag_ms / 1000),
             (unsigned long long)lag_bytes, (long long)lag_ms,
             (unsigned long long)r->batches,
             (unsigned long long)r->seeds,
             (unsigned long long)r->repair.keys,
             (unsigned long long)r->rc.reads,
             readconn_ready(&r->rc) ? "up" : "down",
             (unsigned long long)r->rc.failovers, progress,
             reason[0] != '\0' ? ",reason=" : "", reason);
}

void
replica_info(struct buf *b)
{
    int connected = 0;
    char line[1024];
    char fields[960];
    size_t i;

    for (i = 0; i < nreplicas; i++) {
        connected += replicas[i]->state == REPLICA_ONLINE;
    }
    snprintf(line, sizeof(line), "connected_slaves:%d\r\n", connected);
    buf_append_str(b, line);
    for (i = 0; i < nreplicas; i++) {
        describe(replicas[i], fields, sizeof(fields));
        snprintf(line, sizeof(line), "slave%zu:%s\r\n", i, fields);
        buf_append_str(b, line);
    }
}

void
replica_list(struct buf *b)
{
    char line[1024];
    char fields[960];
    size_t i;

    resp_add_array(b, (long long)nreplicas);
    for (i = 0; i < nreplicas; i++) {
        describe(replicas[i], fields, sizeof(fields));
        snprintf(line, sizeof(line), "%s %s", replicas[i]->addr->spec, fields);
        resp_add_bulk_str(b, line);
    }
}

/* The replica named by its spec as configured, or by host:port. */
static struct replica *
find_by_spec(const char *spec, size_t len)
{
    size_t i;

    for (i = 0; i < nreplicas; i++) {
        struct replica *r = replicas[i];
        char hostport[300];

        snprintf(hostport, sizeof(hostport), "%s:%d", r->addr->host,
                 r->addr->port);
        if (td_slice_eq(spec, len, r->addr->spec) ||
            td_slice_eq(spec, len, hostport)) {
            return r;
        }
    }
    return NULL;
}

/* Holds exactly the stream up to end, with nothing on its way. */
static int
settled_at(const struct replica *r, uint64_t end)
{
    return r->state == REPLICA_ONLINE && r->acked == end &&
           r->inflight.count == 0 && !r->writing;
}

struct replica *
replica_failover_target(const char *spec, size_t len)
{
    struct replica *best = NULL;
    size_t i;

    if (spec != NULL) {
        best = find_by_spec(spec, len);
        return best != NULL && best->state == REPLICA_ONLINE ? best : NULL;
    }
    for (i = 0; i < nreplicas; i++) {
        struct replica *r = replicas[i];

        if (r->state == REPLICA_ONLINE && !r->seed.finishing &&
            (best == NULL || r->acked > best->acked)) {
            best = r;
        }
    }
    return best;
}

int
replica_settled(const struct replica *r, uint64_t end)
{
    return settled_at(r, end);
}

int
replica_all_settled(uint64_t end)
{
    size_t i;

    for (i = 0; i < nreplicas; i++) {
        if (replicas[i]->state == REPLICA_ONLINE &&
            !settled_at(replicas[i], end)) {
            return 0;
        }
    }
    return 1;
}

void
replica_drop_unsettled(uint64_t end, const char *why)
{
    size_t i;

    for (i = 0; i < nreplicas; i++) {
        struct replica *r = replicas[i];

        if (r->state != REPLICA_DOWN && r->state != REPLICA_REFUSED &&
            !settled_at(r, end)) {
            r->diverged = 1;
            snprintf(r->diverged_why, sizeof(r->diverged_why), "%s", why);
            if (r->conn.state != CONN_DOWN) {
                out_of_service(r, REPLICA_NEEDS_SEED, why);
            }
        }
    }
}

const struct backend_addr *
replica_address(const struct replica *r)
{
    return r->addr;
}

int
replica_resync(const char *spec, size_t len)
{
    struct replica *r = find_by_spec(spec, len);

    if (r == NULL) {
        return 0;
    }
    r->diverged = 1;
    snprintf(r->diverged_why, sizeof(r->diverged_why),
             "TANDEM RESYNC by an operator");
    if (r->state == REPLICA_REFUSED) {
        r->state = REPLICA_DOWN;
    }
    if (r->conn.state != CONN_DOWN) {
        out_of_service(r, REPLICA_NEEDS_SEED, "TANDEM RESYNC by an operator");
    } else {
        conn_connect(&r->conn);
    }
    return 1;
}

const struct replica *
replica_at(size_t i)
{
    TD_ASSERT(i < nreplicas);
    return replicas[i];
}

int
replica_online_count(void)
{
    return replica_count_acked(0);
}

size_t
replica_total(void)
{
    return nreplicas;
}
