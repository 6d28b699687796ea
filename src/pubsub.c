/*
 * pubsub.c -- multiplexed subscriptions; see pubsub.h.
 *
 * A subscription is (kind, name) -> the clients subscribed. The client
 * keeps the same subscriptions in its own list, for its counts and for
 * unsubscribing all at once.
 */
#include "pubsub.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "conn.h"
#include "dispatch.h"
#include "keyevents.h"
#include "log.h"
#include "server.h"

/* A client's (P|S)SUBSCRIBE confirmation held until the primary has
 * confirmed the subscription: a message published after the client saw
 * its confirmation must reach it. */
struct held_confirm {
    struct req *req;
    struct buf reply;
};

struct sub {
    struct sub          *next;     /* hash chain */
    enum pubsub_kind    kind;
    char                *name;
    size_t              len;
    struct client       **clients;
    size_t              nclients;
    size_t              cap;
    int                 unconfirmed; /* sent to the primary, not yet
                                      * confirmed by it */
    struct held_confirm *held;
    size_t              nheld;
};

#define NBUCKETS 4096

static struct sub *buckets[NBUCKETS];
static size_t nsubs[PS_KINDS];
static struct conn subconn;
static int started;

static const char *const verbs[PS_KINDS][2] = {
    {"subscribe", "unsubscribe"},
    {"psubscribe", "punsubscribe"},
    {"ssubscribe", "sunsubscribe"},
};

static size_t
bucket_of(enum pubsub_kind kind, const char *name, size_t len)
{
    size_t h = 5381 + (size_t)kind;
    size_t i;

    for (i = 0; i < len; i++) {
        h = h * 33 + (unsigned char)name[i];
    }
    return h % NBUCKETS;
}

static struct sub *
find(enum pubsub_kind kind, const char *name, size_t len)
{
    struct sub *s;

    for (s = buckets[bucket_of(kind, name, len)]; s != NULL; s = s->next) {
        if (s->kind == kind && s->len == len &&
            memcmp(s->name, name, len) == 0) {
            return s;
        }
    }
    return NULL;
}

size_t
pubsub_count(const struct client *c)
{
    return c->nsubs;
}

/* Tells the primary, on the subscriber connection. Returns 0 when it is
 * not up (subscriptions are made again when it is). */
static int
tell_primary(const char *verb, const char *name, size_t len)
{
    struct resp_arg argv[2] = {{verb, strlen(verb)}, {name, len}};

    if (subconn.state != CONN_UP) {
        return 0;
    }
    resp_add_command(&srv.pubsub_out, 2, argv);
    conn_want_write(&subconn, 1);
    return 1;
}

/* The primary confirmed s (or it can no longer): held confirmations go
 * to their clients. */
static void
confirmed(struct sub *s)
{
    size_t i;

    s->unconfirmed = 0;
    for (i = 0; i < s->nheld; i++) {
        req_reply(s->held[i].req, buf_head(&s->held[i].reply),
                  s->held[i].reply.len);
        buf_free(&s->held[i].reply);
    }
    free(s->held);
    s->held = NULL;
    s->nheld = 0;
}

static void
add_event(struct buf *b, const char *verb, const char *name, size_t len,
          size_t count)
{
    resp_add_array(b, 3);
    resp_add_bulk_str(b, verb);
    if (name != NULL) {
        resp_add_bulk(b, name, len);
    } else {
        resp_add_null_bulk(b);
    }
    resp_add_int(b, (long long)count);
}

static void
reply_event(struct client *c, const char *verb, const char *name,
            size_t len, size_t count)
{
    add_event(client_reply_buf(c), verb, name, len, count);
}

void
pubsub_subscribe(struct client *c, enum pubsub_kind kind, size_t argc,
                 const struct resp_arg *argv)
{
    size_t i;

    for (i = 1; i < argc; i++) {
        struct sub *s = find(kind, argv[i].ptr, argv[i].len);
        size_t k;
        int already = 0;

        if (s == NULL) {
            size_t b = bucket_of(kind, argv[i].ptr, argv[i].len);

            s = td_calloc(1, sizeof(*s));
            s->kind = kind;
            s->name = td_strndup(argv[i].ptr, argv[i].len);
            s->len = argv[i].len;
            s->next = buckets[b];
            buckets[b] = s;
            nsubs[kind]++;
            s->unconfirmed = tell_primary(verbs[kind][0], s->name, s->len);
        }
        for (k = 0; k < s->nclients; k++) {
            already |= s->clients[k] == c;
        }
        if (!already) {
            if (s->nclients == s->cap) {
                s->cap = s->cap == 0 ? 4 : s->cap * 2;
                s->clients = td_realloc(s->clients,
                                        s->cap * sizeof(*s->clients));
            }
            s->clients[s->nclients++] = c;
            c->subs = td_realloc(c->subs, (c->nsubs + 1) * sizeof(*c->subs));
            c->subs[c->nsubs++] = s;
        }
        if (s->unconfirmed) {
            struct held_confirm *h;

            s->held = td_realloc(s->held, (s->nheld + 1) * sizeof(*s->held));
            h = &s->held[s->nheld++];
            buf_init(&h->reply);
            add_event(&h->reply, verbs[kind][0], argv[i].ptr, argv[i].len,
                      c->nsubs);
            h->req = client_req_push(c);
        } else {
            reply_event(c, verbs[kind][0], argv[i].ptr, argv[i].len,
                        c->nsubs);
        }
    }
}

/* Removes c from s; drops s (and tells the primary) when it is empty. */
static void
leave(struct client *c, struct sub *s)
{
    size_t k;

    for (k = 0; k < s->nclients; k++) {
        if (s->clients[k] == c) {
            s->clients[k] = s->clients[--s->nclients];
            break;
        }
    }
    for (k = 0; k < c->nsubs; k++) {
        if (c->subs[k] == s) {
            c->subs[k] = c->subs[--c->nsubs];
            break;
        }
    }
    if (s->nclients == 0) {
        struct sub **pp = &buckets[bucket_of(s->kind, s->name, s->len)];

        while (*pp != s) {
            pp = &(*pp)->next;
        }
        *pp = s->next;
        nsubs[s->kind]--;
        confirmed(s);
        /* tandem's own keyevent patterns stay subscribed. */
        if (s->kind != PS_PATTERN || !keyevents_is_own(s->name, s->len)) {
            tell_primary(verbs[s->kind][1], s->name, s->len);
        }
        free(s->name);
        free(s->clients);
        free(s);
    }
}

void
pubsub_unsubscribe(struct client *c, enum pubsub_kind kind, size_t argc,
                   const struct resp_arg *argv)
{
    size_t i;
    int any = 0;

    if (argc == 1) {
        /* All of this kind. */
        for (i = c->nsubs; i-- > 0;) {
            struct sub *s = c->subs[i];
            char *name;
            size_t len;

            if (s->kind != kind) {
                continue;
            }
            name = td_strndup(s->name, s->len);
            len = s->len;
            leave(c, s);
            reply_event(c, verbs[kind][1], name, len, c->nsubs);
            free(name);
            any = 1;
            i = TD_MIN(i, c->nsubs);
        }
        if (!any) {
            reply_event(c, verbs[kind][1], NULL, 0, c->nsubs);
        }
        return;
    }
    for (i = 1; i < argc; i++) {
        struct sub *s = find(kind, argv[i].ptr, argv[i].len);
        size_t k;

        for (k = 0; s != NULL && k < s->nclients; k++) {
            if (s->clients[k] == c) {
                leave(c, s);
                break;
            }
        }
        reply_event(c, verbs[kind][1], argv[i].ptr, argv[i].len, c->nsubs);
    }
}

void
pubsub_client_gone(struct client *c)
{
    while (c->nsubs > 0) {
        leave(c, c->subs[c->nsubs - 1]);
    }
    free(c->subs);
    c->subs = NULL;
}

void
pubsub_command(struct client *c, size_t argc, const struct resp_arg *argv)
{
    const struct resp_arg *sub = &argv[1];
    struct buf *b;
    size_t i;

    if (td_slice_eq(sub->ptr, sub->len, "channels") ||
        td_slice_eq(sub->ptr, sub->len, "shardchannels")) {
        enum pubsub_kind kind = sub->ptr[0] == 's' || sub->ptr[0] == 'S'
                                    ? PS_SHARD : PS_CHANNEL;
        struct buf names;
        size_t n = 0;

        if (argc > 3) {
            dispatch_error(c, "wrong number of arguments for 'pubsub' "
                              "command");
            return;
        }
        buf_init(&names);
        for (i = 0; i < NBUCKETS; i++) {
            struct sub *s;

            for (s = buckets[i]; s != NULL; s = s->next) {
                if (s->kind == kind &&
                    (argc < 3 || td_glob_match(argv[2].ptr, argv[2].len,
                                              s->name, s->len))) {
                    resp_add_bulk(&names, s->name, s->len);
                    n++;
                }
            }
        }
        b = client_reply_buf(c);
        resp_add_array(b, (long long)n);
        buf_append(b, names.data != NULL ? buf_head(&names) : "", names.len);
        buf_free(&names);
    } else if (td_slice_eq(sub->ptr, sub->len, "numsub") ||
               td_slice_eq(sub->ptr, sub->len, "shardnumsub")) {
        enum pubsub_kind kind = sub->ptr[0] == 's' || sub->ptr[0] == 'S'
                                    ? PS_SHARD : PS_CHANNEL;

        b = client_reply_buf(c);
        resp_add_array(b, (long long)(argc - 2) * 2);
        for (i = 2; i < argc; i++) {
            struct sub *s = find(kind, argv[i].ptr, argv[i].len);

            resp_add_bulk(b, argv[i].ptr, argv[i].len);
            resp_add_int(b, s != NULL ? (long long)s->nclients : 0);
        }
    } else if (td_slice_eq(sub->ptr, sub->len, "numpat") && argc == 2) {
        resp_add_int(client_reply_buf(c), (long long)nsubs[PS_PATTERN]);
    } else if (td_slice_eq(sub->ptr, sub->len, "help") && argc == 2) {
        static const char *const help[] = {
            "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> "
            "(default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels.",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a "
            "<pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard "
            "level channel(s)",
            "HELP",
            "    Print this help.",
        };

        b = client_reply_buf(c);
        resp_add_array(b, (long long)(sizeof(help) / sizeof(help[0])));
        for (i = 0; i < sizeof(help) / sizeof(help[0]); i++) {
            resp_add_simple(b, help[i]);
        }
    } else {
        char msg[256];

        snprintf(msg, sizeof(msg),
                 "unknown subcommand '%.*s'. Try PUBSUB HELP.",
                 (int)TD_MIN(sub->len, 128), sub->ptr);
        dispatch_error(c, msg);
    }
}

/* ---- PUBLISH's count ------------------------------------------------ */

/* How many tandem clients a message on channel reaches, and how many
 * subscriptions tandem's own connection holds that it matches (what the
 * primary counted for tandem). */
static void
receivers(enum pubsub_kind kind, const char *ch, size_t len, long long *clients,
          long long *backend)
{
    struct sub *s = find(kind, ch, len);
    size_t i;

    *clients = s != NULL ? (long long)s->nclients : 0;
    *backend = s != NULL ? 1 : 0;
    if (kind != PS_CHANNEL || nsubs[PS_PATTERN] == 0) {
        return;
    }
    for (i = 0; i < NBUCKETS; i++) {
        for (s = buckets[i]; s != NULL; s = s->next) {
            if (s->kind == PS_PATTERN &&
                td_glob_match(s->name, s->len, ch, len)) {
                *clients += (long long)s->nclients;
                *backend += 1;
            }
        }
    }
}

struct publish_ctx {
    enum pubsub_kind kind;
    size_t           len;
    char             channel[];
};

/* The primary counted tandem's connection once per matching
 * subscription: the client gets Redis's count, its own receivers being
 * tandem's clients, plus anyone subscribed on the primary directly. */
static int
publish_reply(struct req *r, const char *reply, size_t len)
{
    struct publish_ctx *ctx = r->hook_ctx;
    long long primary;
    long long clients;
    long long backend;
    const char *eol;
    char out[32];
    int n;

    r->hook = NULL;
    r->hook_ctx = NULL;
    if (r->client == NULL || len < 4 || reply[0] != ':' ||
        (eol = memchr(reply, '\r', len)) == NULL ||
        !td_str2ll(reply + 1, (size_t)(eol - reply - 1), &primary)) {
        free(ctx);
        return 0;    /* delivered as it is */
    }
    receivers(ctx->kind, ctx->channel, ctx->len, &clients, &backend);
    free(ctx);
    n = snprintf(out, sizeof(out), ":%lld\r\n",
                 TD_MAX(primary - backend, 0LL) + clients);
    req_reply(r, out, (size_t)n);
    return 1;
}

void
pubsub_publish_hook(struct req *r, int shard, const struct resp_arg *channel)
{
    struct publish_ctx *ctx = td_malloc(sizeof(*ctx) + channel->len + 1);

    ctx->kind = shard ? PS_SHARD : PS_CHANNEL;
    ctx->len = channel->len;
    memcpy(ctx->channel, channel->ptr, channel->len);
    ctx->channel[channel->len] = '\0';
    r->hook = publish_reply;
    r->hook_ctx = ctx;
}

/* ---- the subscriber connection ------------------------------------- */

static void
fan_out(struct sub *s, const char *reply, size_t len)
{
    size_t k;

    for (k = 0; s != NULL && k < s->nclients; k++) {
        struct client *c = s->clients[k];

        if (!(c->flags & CLIENT_CLOSING)) {
            buf_append(client_reply_buf(c), reply, len);
        }
    }
}

static void
on_reply(struct conn *cn, const char *reply, size_t len)
{
    redisReply *r = resp_read_reply(reply, len);

    if (r == NULL) {
        return;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 3 &&
        r->element[0]->type == REDIS_REPLY_STRING) {
        const char *kind = r->element[0]->str;
        const redisReply *name = r->element[1];

        if (strcmp(kind, "subscribe") == 0 ||
            strcmp(kind, "psubscribe") == 0 ||
            strcmp(kind, "ssubscribe") == 0) {
            enum pubsub_kind k = kind[0] == 'p'   ? PS_PATTERN
                                 : kind[1] == 's' ? PS_SHARD
                                                  : PS_CHANNEL;
            struct sub *s = find(k, name->str, name->len);

            log_debug("pubsub: %s %.*s confirmed (%s)", kind,
                      (int)TD_MIN(name->len, 64), name->str,
                      s == NULL ? "no sub" : s->unconfirmed ? "held" : "-");
            if (s != NULL && s->unconfirmed) {
                confirmed(s);
            }
        } else if (strcmp(kind, "message") == 0) {
            fan_out(find(PS_CHANNEL, name->str, name->len), reply, len);
        } else if (strcmp(kind, "pmessage") == 0) {
            if (r->elements == 4 && keyevents_is_own(name->str, name->len)) {
                keyevents_message(r->element[2]->str, r->element[2]->len,
                                  r->element[3]->str, r->element[3]->len);
            }
            fan_out(find(PS_PATTERN, name->str, name->len), reply, len);
        } else if (strcmp(kind, "smessage") == 0) {
            fan_out(find(PS_SHARD, name->str, name->len), reply, len);
        }
    } else if (r->type == REDIS_REPLY_ERROR) {
        log_warning("Pub/Sub connection to the primary: %s", r->str);
    }
    freeReplyObject(r);
}

static void
on_writable(struct conn *cn)
{
    while (srv.pubsub_out.len > 0) {
        struct iovec iov = {buf_head(&srv.pubsub_out), srv.pubsub_out.len};
        ssize_t n = conn_writev(cn, &iov, 1);

        if (n <= 0) {
            return;
        }
        buf_consume(&srv.pubsub_out, (size_t)n);
    }
    conn_want_write(cn, 0);
}

static void
on_connected(struct conn *cn)
{
    const char *user = srv.cfg.primary.user != NULL ? srv.cfg.primary.user
                                                    : srv.cfg.backend_user;
    const char *pass = srv.cfg.primary.password != NULL
                           ? srv.cfg.primary.password
                           : srv.cfg.backend_password;
    size_t i;

    buf_clear(&srv.pubsub_out);
    conn_up(cn);
    if (pass != NULL) {
        struct resp_arg auth[3] = {{"AUTH", 4},
                                   {user != NULL ? user : "default", 0},
                                   {pass, strlen(pass)}};

        auth[1].len = strlen(auth[1].ptr);
        resp_add_command(&srv.pubsub_out, 3, auth);
    }
    /* tandem's own, then every client's again: the primary forgot them. */
    for (i = 0; keyevents_patterns[i] != NULL; i++) {
        tell_primary("psubscribe", keyevents_patterns[i],
                     strlen(keyevents_patterns[i]));
    }
    for (i = 0; i < NBUCKETS; i++) {
        struct sub *s;

        for (s = buckets[i]; s != NULL; s = s->next) {
            tell_primary(verbs[s->kind][0], s->name, s->len);
        }
    }
    on_writable(cn);
}

static void
on_down(struct conn *cn, const char *why, int was_up)
{
    size_t i;

    /* Confirmations held for the lost connection go out now: the
     * subscriptions are made again when it is back. */
    for (i = 0; i < NBUCKETS; i++) {
        struct sub *s;

        for (s = buckets[i]; s != NULL; s = s->next) {
            if (s->unconfirmed) {
                confirmed(s);
            }
        }
    }
    buf_clear(&srv.pubsub_out);
    if (was_up && !srv.shutdown_asap) {
        log_warning("Pub/Sub connection to the primary lost (%s); "
                    "subscriptions are made again on reconnect", why);
    }
}

static const struct conn_ops pubsub_ops = {
    on_connected,
    on_reply,
    on_writable,
    on_down,
};

void
pubsub_start(void)
{
    buf_init(&srv.pubsub_out);
    conn_init(&subconn, "pubsub", srv.cfg.primary.host,
              (int)srv.cfg.primary.port, srv.cfg.primary.tls, &pubsub_ops,
              NULL);
    conn_connect(&subconn);
    started = 1;
}

void
pubsub_retarget(void)
{
    if (!started) {
        return;
    }
    subconn.retry = 0;
    conn_fail(&subconn, "the primary changed");
    ev_timer_stop(srv.loop, &subconn.timer);
    conn_free(&subconn);
    conn_init(&subconn, "pubsub", srv.cfg.primary.host,
              (int)srv.cfg.primary.port, srv.cfg.primary.tls, &pubsub_ops,
              NULL);
    conn_connect(&subconn);
}

void
pubsub_stop(void)
{
    size_t i;

    if (!started) {
        return;
    }
    subconn.retry = 0;
    conn_fail(&subconn, "tandem is shutting down");
    conn_free(&subconn);
    buf_free(&srv.pubsub_out);
    for (i = 0; i < NBUCKETS; i++) {
        while (buckets[i] != NULL) {
            struct sub *s = buckets[i];

            buckets[i] = s->next;
            confirmed(s);
            free(s->name);
            free(s->clients);
            free(s);
        }
    }
    started = 0;
}
