/*
 * block.c -- blocking pops; see block.h.
 *
 * The reply of each try comes back through the request's hook: an empty
 * one keeps the client waiting (its request stays pending, so its place
 * in its reply order is kept), anything else is converted to the
 * blocking command's reply shape and delivered. A try still on the pipe
 * when its client disconnects may pop for nobody: what it popped is put
 * back.
 */
#include "block.h"

#include <hiredis/hiredis.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "cmdtable.h"
#include "dispatch.h"
#include "keyset.h"
#include "log.h"
#include "pipe.h"
#include "server.h"
#include "watch.h"

enum block_kind {
    BK_LIST,      /* BLPOP, BRPOP: LMPOP ... COUNT 1, reply [key, elem] */
    BK_LMPOP,     /* BLMPOP: LMPOP, same reply */
    BK_ZPOP,      /* BZPOPMIN/MAX: ZMPOP, reply [key, member, score] */
    BK_ZMPOP,     /* BZMPOP: ZMPOP, same reply */
    BK_MOVE,      /* BRPOPLPUSH, BLMOVE: RPOPLPUSH/LMOVE, reply elem */
    BK_STREAM     /* XREAD, XREADGROUP ... BLOCK: without BLOCK, same
                   * reply */
};

struct blocked {
    struct blocked  *next;
    struct blocked  *prev;
    struct client   *client;      /* NULL once gone */
    struct req      *req;
    enum block_kind kind;
    long long       db;
    struct buf      retry;        /* the non-blocking form, RESP */
    size_t          nkeys;
    char            **keys;
    size_t          *klens;
    ev_timer        timer;
    int             timed_out;
    int             unblock_error;  /* CLIENT UNBLOCK ... ERROR */
    int             in_flight;
    int             again;        /* a key was touched while in flight */
    int             right;        /* popped from the right (LMPOP) */

    /* XREAD's "$" ids are resolved to each stream's last id first; the
     * try is built when the last resolution comes back. */
    size_t          resolving;    /* XINFO STREAM replies awaited */
    struct buf      resolve_error;/* the first error among them */
    size_t          nform;
    char            **form;       /* the try's arguments, owned */
    size_t          *flens;
};

static struct blocked *head = NULL;   /* oldest first */
static struct blocked *tail = NULL;
static size_t nblocked = 0;
static struct keyset keys_blocked;    /* every key someone waits on */
static struct keyset touched;         /* touched since the last retry */
static int touched_all = 0;           /* a db-wide write happened */
static long long touched_db = -2;     /* which db (-1: all) */

static const char *const supported[] = {
    "blpop", "brpop", "blmpop", "bzpopmin", "bzpopmax", "bzmpop",
    "brpoplpush", "blmove", "xread", "xreadgroup",
};

int
block_supported(const struct cmd *cmd)
{
    size_t i;

    for (i = 0; i < sizeof(supported) / sizeof(supported[0]); i++) {
        if (strcmp(cmd->name, supported[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

size_t
block_count(void)
{
    return nblocked;
}

static void
unlink_entry(struct blocked *b)
{
    if (b->prev != NULL) {
        b->prev->next = b->next;
    } else {
        head = b->next;
    }
    if (b->next != NULL) {
        b->next->prev = b->prev;
    } else {
        tail = b->prev;
    }
    nblocked--;
    if (nblocked == 0) {
        keyset_clear(&keys_blocked);
    }
}

static void
free_entry(struct blocked *b)
{
    size_t i;

    ev_timer_stop(srv.loop, &b->timer);
    for (i = 0; i < b->nkeys; i++) {
        free(b->keys[i]);
    }
    free(b->keys);
    free(b->klens);
    for (i = 0; i < b->nform; i++) {
        free(b->form[i]);
    }
    free(b->form);
    free(b->flens);
    buf_free(&b->retry);
    buf_free(&b->resolve_error);
    free(b);
}

/* The client stops waiting: its input is processed again. */
static void
finish(struct blocked *b)
{
    unlink_entry(b);
    if (b->client != NULL) {
        b->client->blocked = NULL;
        client_unblock(b->client);
    }
    free_entry(b);
}

static void
send_try(struct blocked *b)
{
    struct resp_parser parser;
    struct cmd *cmd = NULL;
    size_t consumed;

    resp_parser_init(&parser, 1LL << 40);
    if (resp_parse_request(&parser, buf_head(&b->retry), b->retry.len,
                           &consumed) == RESP_COMMAND) {
        cmdtable_lookup(&srv.pipe.table, parser.argc, parser.argv, &cmd);
        watch_touch(b->db, cmd, parser.argc, parser.argv);
        b->in_flight = 1;
        pipe_send_request(&srv.pipe, b->req, b->db, cmd, parser.argc,
                          parser.argv, buf_head(&b->retry), b->retry.len);
    }
    resp_parser_free(&parser);
}

/* Sends a write to undo a pop made for a client that left. */
static void
put_back(long long db, size_t argc, const struct resp_arg *argv)
{
    struct buf raw;
    struct cmd *cmd = NULL;

    if (!pipe_is_up(&srv.pipe) ||
        cmdtable_lookup(&srv.pipe.table, argc, argv, &cmd) != CMD_FOUND) {
        return;
    }
    buf_init(&raw);
    resp_add_command(&raw, argc, argv);
    /* Put back: other waiting clients may now be served. */
    watch_touch(db, cmd, argc, argv);
    pipe_send_request(&srv.pipe, NULL, db, cmd, argc, argv, buf_head(&raw),
                      raw.len);
    buf_free(&raw);
}

static void
restore_popped(struct blocked *b, const redisReply *r)
{
    size_t i;

    if (b->kind == BK_MOVE) {
        /* RPOPLPUSH/LMOVE src dst: move it back from dst to src. */
        struct resp_parser parser;
        size_t consumed;

        resp_parser_init(&parser, 1LL << 40);
        if (resp_parse_request(&parser, buf_head(&b->retry), b->retry.len,
                               &consumed) == RESP_COMMAND) {
            int rpoplpush = parser.argc == 3;
            struct resp_arg back[5] = {
                {"LMOVE", 5}, parser.argv[2], parser.argv[1],
                rpoplpush ? (struct resp_arg){"LEFT", 4} : parser.argv[4],
                rpoplpush ? (struct resp_arg){"RIGHT", 5} : parser.argv[3]};

            put_back(b->db, 5, back);
        }
        resp_parser_free(&parser);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        return;
    }
    {
        const redisReply *key = r->element[0];
        const redisReply *items = r->element[1];
        int zset = b->kind == BK_ZPOP || b->kind == BK_ZMPOP;
        size_t n = items->elements;
        struct resp_arg *argv = td_calloc(2 + n * 2, sizeof(*argv));
        size_t argc = 0;

        argv[argc].ptr = zset ? "ZADD" : (b->right ? "RPUSH" : "LPUSH");
        argv[argc].len = strlen(argv[argc].ptr);
        argc++;
        argv[argc].ptr = key->str;
        argv[argc++].len = key->len;
        for (i = n; i-- > 0;) {
            const redisReply *e = items->element[i];

            if (zset && e->type == REDIS_REPLY_ARRAY && e->elements == 2) {
                argv[argc].ptr = e->element[1]->str;
                argv[argc++].len = e->element[1]->len;
                argv[argc].ptr = e->element[0]->str;
                argv[argc++].len = e->element[0]->len;
            } else if (!zset) {
                argv[argc].ptr = e->str;
                argv[argc++].len = e->len;
            }
        }
        if (argc > 2) {
            put_back(b->db, argc, argv);
        }
        free(argv);
    }
}

static int
is_empty(const char *reply, size_t len)
{
    return (len >= 4 && (memcmp(reply, "*-1", 3) == 0 ||
                         memcmp(reply, "$-1", 3) == 0)) ||
           (len >= 3 && memcmp(reply, "*0\r", 3) == 0);
}

static void
deliver_timeout(struct blocked *b)
{
    struct req *r = b->req;
    static const char unblocked[] =
        "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n";

    r->hook = NULL;
    if (b->unblock_error) {
        req_reply(r, unblocked, sizeof(unblocked) - 1);
    } else if (b->kind == BK_MOVE) {
        req_reply(r, "$-1\r\n", 5);
    } else {
        req_reply(r, "*-1\r\n", 5);
    }
}

/* Converts the non-blocking form's reply to the blocking command's. */
static void
deliver(struct blocked *b, const char *reply, size_t len)
{
    struct req *r = b->req;
    redisReply *rr;
    struct buf out;

    r->hook = NULL;
    if (b->kind != BK_LIST && b->kind != BK_ZPOP) {
        req_reply(r, reply, len);    /* same shape */
        return;
    }
    rr = resp_read_reply(reply, len);
    buf_init(&out);
    if (rr != NULL && rr->type == REDIS_REPLY_ARRAY && rr->elements == 2 &&
        rr->element[1]->type == REDIS_REPLY_ARRAY &&
        rr->element[1]->elements >= 1) {
        const redisReply *key = rr->element[0];
        const redisReply *first = rr->element[1]->element[0];

        if (b->kind == BK_LIST) {
            resp_add_array(&out, 2);
            resp_add_bulk(&out, key->str, key->len);
            resp_add_bulk(&out, first->str, first->len);
        } else if (first->type == REDIS_REPLY_ARRAY && first->elements == 2) {
            resp_add_array(&out, 3);
            resp_add_bulk(&out, key->str, key->len);
            resp_add_bulk(&out, first->element[0]->str,
                          first->element[0]->len);
            resp_add_bulk(&out, first->element[1]->str,
                          first->element[1]->len);
        }
    }
    if (out.len > 0) {
        req_reply(r, buf_head(&out), out.len);
    } else {
        req_reply(r, reply, len);
    }
    buf_free(&out);
    if (rr != NULL) {
        freeReplyObject(rr);
    }
}

/* Each try's reply. Returns 1 to keep the request pending. */
static int
on_try(struct req *r, const char *reply, size_t len)
{
    struct blocked *b = r->hook_ctx;

    b->in_flight = 0;
    if (b->client == NULL) {
        /* Gone meanwhile: what was popped goes back. (Entries an
         * XREADGROUP delivered stay pending for the consumer: they can
         * be claimed, as after a consumer crash.) */
        if (b->kind != BK_STREAM && !is_empty(reply, len) &&
            reply[0] != '-') {
            redisReply *rr = resp_read_reply(reply, len);

            if (rr != NULL) {
                restore_popped(b, rr);
                freeReplyObject(rr);
            } else if (b->kind == BK_MOVE) {
                restore_popped(b, NULL);
            }
        }
        r->hook = NULL;
        unlink_entry(b);
        free_entry(b);
        return 0;    /* the orphaned request is released */
    }
    if (reply[0] == '-') {
        r->hook = NULL;
        req_reply(r, reply, len);
        finish(b);
        return 1;
    }
    if (is_empty(reply, len)) {
        if (b->timed_out) {
            deliver_timeout(b);
            finish(b);
        } else if (b->again && b->nkeys > 0) {
            /* A write touched a key while this try was on its way and
             * may have run after it: try again before sleeping. */
            b->again = 0;
            keyset_add(&touched, b->db, b->keys[0], b->klens[0]);
        }
        return 1;    /* keeps waiting */
    }
    deliver(b, reply, len);
    finish(b);
    return 1;
}

static void
timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct blocked *b = t->data;

    b->timed_out = 1;
    if (!b->in_flight && b->resolving == 0) {
        deliver_timeout(b);
        finish(b);
    }
}

/* Redis's timeout: seconds as a decimal, 0 forever. */
static int
parse_timeout(struct client *c, const struct resp_arg *a, double *secs)
{
    char tmp[64];
    char *end;

    if (a->len == 0 || a->len >= sizeof(tmp)) {
        dispatch_error(c, "timeout is not a float or out of range");
        return 0;
    }
    memcpy(tmp, a->ptr, a->len);
    tmp[a->len] = '\0';
    *secs = strtod(tmp, &end);
    if (*end != '\0' || isnan(*secs) || isinf(*secs)) {
        dispatch_error(c, "timeout is not a float or out of range");
        return 0;
    }
    if (*secs < 0) {
        dispatch_error(c, "timeout is negative");
        return 0;
    }
    return 1;
}

/* Parks c on keys (in its db) until a try succeeds or secs pass (0:
 * forever). The caller builds the try and sends it. */
static struct blocked *
park(struct client *c, enum block_kind kind, double secs, size_t nkeys,
     const struct resp_arg *keys)
{
    struct blocked *b = td_calloc(1, sizeof(*b));
    size_t i;

    b->client = c;
    b->kind = kind;
    b->db = c->db;
    buf_init(&b->retry);
    buf_init(&b->resolve_error);
    b->nkeys = nkeys;
    b->keys = td_calloc(nkeys + 1, sizeof(*b->keys));
    b->klens = td_calloc(nkeys + 1, sizeof(*b->klens));
    for (i = 0; i < nkeys; i++) {
        b->keys[i] = td_strndup(keys[i].ptr, keys[i].len);
        b->klens[i] = keys[i].len;
        keyset_add(&keys_blocked, b->db, b->keys[i], b->klens[i]);
    }
    b->req = client_req_push(c);
    b->req->hook = on_try;
    b->req->hook_ctx = b;
    ev_timer_init(&b->timer, timeout_cb, secs, 0.0);
    b->timer.data = b;
    if (secs > 0) {
        ev_timer_start(srv.loop, &b->timer);
    }
    b->prev = tail;
    if (tail != NULL) {
        tail->next = b;
    } else {
        head = b;
    }
    tail = b;
    nblocked++;
    c->blocked = b;
    client_block(c);
    return b;
}

/* The try, once every "$" has its id. */
static void
resolved(struct blocked *b)
{
    struct resp_arg *argv = td_calloc(b->nform, sizeof(*argv));
    size_t i;

    if (b->client == NULL) {
        unlink_entry(b);
        free_entry(b);
        free(argv);
        return;
    }
    if (b->resolve_error.len > 0) {
        b->req->hook = NULL;
        req_reply(b->req, buf_head(&b->resolve_error), b->resolve_error.len);
        finish(b);
        free(argv);
        return;
    }
    if (b->timed_out) {
        deliver_timeout(b);
        finish(b);
        free(argv);
        return;
    }
    for (i = 0; i < b->nform; i++) {
        argv[i].ptr = b->form[i];
        argv[i].len = b->flens[i];
    }
    resp_add_command(&b->retry, b->nform, argv);
    free(argv);
    send_try(b);
}

struct resolution {
    struct blocked *b;
    size_t         arg;      /* which of b->form is "$" */
};

/* XINFO STREAM's reply: the stream's last-generated-id replaces "$"; a
 * stream that does not exist yet starts from 0-0, as in Redis. */
static void
on_resolve(void *ctx, const char *reply, size_t len)
{
    struct resolution *res = ctx;
    struct blocked *b = res->b;
    redisReply *rr = reply != NULL ? resp_read_reply(reply, len) : NULL;
    const char *id = NULL;
    size_t idlen = 0;
    size_t i;

    if (rr != NULL && rr->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i + 1 < rr->elements; i += 2) {
            const redisReply *f = rr->element[i];

            if (f->type == REDIS_REPLY_STRING &&
                td_slice_eq(f->str, f->len, "last-generated-id") &&
                rr->element[i + 1]->type == REDIS_REPLY_STRING) {
                id = rr->element[i + 1]->str;
                idlen = rr->element[i + 1]->len;
            }
        }
    } else if (rr != NULL && rr->type == REDIS_REPLY_ERROR &&
               strcmp(rr->str, "ERR no such key") == 0) {
        id = "0-0";
        idlen = 3;
    }
    if (id != NULL) {
        free(b->form[res->arg]);
        b->form[res->arg] = td_strndup(id, idlen);
        b->flens[res->arg] = idlen;
    } else if (b->resolve_error.len == 0) {
        if (reply == NULL) {
            char msg[512];

            pipe_unavailable_error(&srv.pipe, msg, sizeof(msg) - 2);
            buf_append(&b->resolve_error, msg, strlen(msg));
            buf_append(&b->resolve_error, "\r\n", 2);
        } else if (reply[0] == '-') {
            buf_append(&b->resolve_error, reply, len);
        } else {
            static const char odd[] =
                "-ERR tandem: unexpected XINFO STREAM reply\r\n";

            buf_append(&b->resolve_error, odd, sizeof(odd) - 1);
        }
    }
    if (rr != NULL) {
        freeReplyObject(rr);
    }
    free(res);
    if (--b->resolving == 0) {
        resolved(b);
    }
}

/* Redis's millisecond timeout of XREAD and XREADGROUP. */
static int
parse_timeout_ms(struct client *c, const struct resp_arg *a, double *secs)
{
    long long ms;

    if (!td_str2ll(a->ptr, a->len, &ms)) {
        dispatch_error(c, "timeout is not an integer or out of range");
        return 0;
    }
    if (ms < 0) {
        dispatch_error(c, "timeout is negative");
        return 0;
    }
    *secs = (double)ms / 1000.0;
    return 1;
}

/*
 * XREAD [COUNT n] BLOCK ms STREAMS key... id... and XREADGROUP GROUP g c
 * [COUNT n] BLOCK ms [NOACK] STREAMS key... id...: the try is the same
 * command without BLOCK. Syntax errors are left to the primary: the
 * first try answers them.
 */
static void
stream_command(struct client *c, const struct cmd *cmd, size_t argc,
               const struct resp_arg *argv)
{
    struct blocked *b;
    size_t streams = 0;
    size_t nkeys = 0;
    double secs = 0;
    size_t i;
    size_t nform = 0;
    int group = strcmp(cmd->name, "xreadgroup") == 0;
    char *skip;

    skip = td_calloc(argc, 1);
    /* Redis's option parsing, in its order and with its words: the try
     * must not meet an error the blocking form would not. */
    for (i = 1; i < argc; i++) {
        int more = i + 1 < argc;
        const struct resp_arg *o = &argv[i];

        if (td_slice_eq(o->ptr, o->len, "block") && more) {
            if (!parse_timeout_ms(c, &argv[i + 1], &secs)) {
                free(skip);
                return;
            }
            skip[i] = skip[i + 1] = 1;
            i++;
        } else if (td_slice_eq(o->ptr, o->len, "count") && more) {
            long long count;

            if (!td_str2ll(argv[i + 1].ptr, argv[i + 1].len, &count)) {
                dispatch_error(c, "value is not an integer or out of range");
                free(skip);
                return;
            }
            i++;
        } else if (td_slice_eq(o->ptr, o->len, "streams") && more) {
            streams = i;
            if ((argc - streams - 1) % 2 != 0) {
                /* Redis 7.0's words, for XREADGROUP too. */
                dispatch_error(c, "Unbalanced XREAD list of streams: for "
                                  "each stream key an ID or '$' must be "
                                  "specified.");
                free(skip);
                return;
            }
            nkeys = (argc - streams - 1) / 2;
            break;
        } else if (td_slice_eq(o->ptr, o->len, "group") && i + 2 < argc) {
            if (!group) {
                dispatch_error(c, "The GROUP option is only supported by "
                                  "XREADGROUP. You called XREAD instead.");
                free(skip);
                return;
            }
            i += 2;
        } else if (td_slice_eq(o->ptr, o->len, "noack")) {
            if (!group) {
                dispatch_error(c, "The NOACK option is only supported by "
                                  "XREADGROUP. You called XREAD instead.");
                free(skip);
                return;
            }
        } else {
            dispatch_error(c, "syntax error");
            free(skip);
            return;
        }
    }
    if (streams == 0) {
        dispatch_error(c, "syntax error");
        free(skip);
        return;
    }
    b = park(c, BK_STREAM, secs, nkeys,
             nkeys > 0 ? &argv[streams + 1] : NULL);
    b->form = td_calloc(argc, sizeof(*b->form));
    b->flens = td_calloc(argc, sizeof(*b->flens));
    for (i = 0; i < argc; i++) {
        if (skip[i]) {
            continue;
        }
        b->form[nform] = td_strndup(argv[i].ptr, argv[i].len);
        b->flens[nform] = argv[i].len;
        nform++;
    }
    b->nform = nform;
    free(skip);
    /* "$": the ids after the keys, at the end of the form. */
    for (i = 0; !group && i < nkeys; i++) {
        size_t arg = nform - nkeys + i;

        if (b->flens[arg] == 1 && b->form[arg][0] == '$') {
            struct resolution *res = td_malloc(sizeof(*res));
            const char *xargv[] = {"XINFO", "STREAM", b->keys[i]};
            size_t xlens[] = {5, 6, b->klens[i]};
            char *xcmd;
            int xlen;

            res->b = b;
            res->arg = arg;
            xlen = redisFormatCommandArgv(&xcmd, 3, xargv, xlens);
            b->resolving++;
            pipe_send_internal_db(&srv.pipe, b->db, xcmd, (size_t)xlen,
                                  on_resolve, res);
            redisFreeCommand(xcmd);
        }
    }
    if (b->resolving == 0) {
        resolved(b);
    }
}

void
block_command(struct client *c, const struct cmd *cmd, size_t argc,
              const struct resp_arg *argv)
{
    struct blocked *b;
    struct resp_arg *form = td_calloc(argc + 4, sizeof(*form));
    size_t nform = 0;
    const struct resp_arg *t;
    double secs;
    int *pos = td_malloc(64 * sizeof(*pos));
    long nk;
    long i;
    char count[24];
    enum block_kind kind;
    int right = 0;
    const char *n = cmd->name;

    if (strcmp(n, "xread") == 0 || strcmp(n, "xreadgroup") == 0) {
        free(form);
        free(pos);
        stream_command(c, cmd, argc, argv);
        return;
    }
    if (strcmp(n, "blpop") == 0 || strcmp(n, "brpop") == 0 ||
        strcmp(n, "bzpopmin") == 0 || strcmp(n, "bzpopmax") == 0) {
        int zset = n[1] == 'z';

        t = &argv[argc - 1];
        kind = zset ? BK_ZPOP : BK_LIST;
        form[nform].ptr = zset ? "ZMPOP" : "LMPOP";
        form[nform++].len = 5;
        form[nform].ptr = count;
        form[nform++].len = (size_t)snprintf(count, sizeof(count), "%zu",
                                             argc - 2);
        for (i = 1; i < (long)argc - 1; i++) {
            form[nform++] = argv[i];
        }
        right = strcmp(n, "brpop") == 0;
        form[nform].ptr = zset ? (strcmp(n, "bzpopmin") == 0 ? "MIN" : "MAX")
                               : (right ? "RIGHT" : "LEFT");
        form[nform].len = strlen(form[nform].ptr);
        nform++;
    } else if (strcmp(n, "blmpop") == 0 || strcmp(n, "bzmpop") == 0) {
        t = &argv[1];
        kind = n[1] == 'z' ? BK_ZMPOP : BK_LMPOP;
        form[nform].ptr = kind == BK_ZMPOP ? "ZMPOP" : "LMPOP";
        form[nform++].len = 5;
        for (i = 2; i < (long)argc; i++) {
            if (td_slice_eq(argv[i].ptr, argv[i].len, "right")) {
                right = 1;
            }
            form[nform++] = argv[i];
        }
    } else {
        /* BRPOPLPUSH src dst t -> RPOPLPUSH; BLMOVE ... t -> LMOVE. */
        t = &argv[argc - 1];
        kind = BK_MOVE;
        form[nform].ptr = argc == 4 ? "RPOPLPUSH" : "LMOVE";
        form[nform].len = strlen(form[nform].ptr);
        nform++;
        for (i = 1; i < (long)argc - 1; i++) {
            form[nform++] = argv[i];
        }
    }
    if (!parse_timeout(c, t, &secs)) {
        free(form);
        free(pos);
        return;
    }
    nk = cmd_keys(cmd, argc, argv, pos, 64);
    if (nk > 64) {
        pos = td_realloc(pos, (size_t)nk * sizeof(*pos));
        nk = cmd_keys(cmd, argc, argv, pos, (size_t)nk);
    }
    if (nk < 0) {
        nk = 0;
    }
    {
        struct resp_arg *keys = td_calloc((size_t)nk + 1, sizeof(*keys));

        for (i = 0; i < nk; i++) {
            keys[i] = argv[pos[i]];
        }
        b = park(c, kind, secs, (size_t)nk, keys);
        free(keys);
    }
    free(pos);
    b->right = right;
    resp_add_command(&b->retry, nform, form);
    free(form);
    send_try(b);
}

void
block_touch_key(long long db, const char *key, size_t len)
{
    if (nblocked > 0 && keyset_has(&keys_blocked, db, key, len)) {
        keyset_add(&touched, db, key, len);
    }
}

void
block_touch_db(long long db)
{
    if (nblocked > 0) {
        touched_all = 1;
        touched_db = touched_db == -2 || touched_db == db ? db : -1;
    }
}

void
block_retry_touched(void)
{
    struct blocked *b;

    if (nblocked == 0 || (touched.count == 0 && !touched_all)) {
        return;
    }
    for (b = head; b != NULL; b = b->next) {
        size_t i;
        int go = touched_all && (touched_db < 0 || touched_db == b->db);

        if (b->timed_out || b->client == NULL || b->resolving > 0) {
            continue;    /* a try not yet sent sees the write anyway */
        }
        for (i = 0; i < b->nkeys && !go; i++) {
            go = keyset_has(&touched, b->db, b->keys[i], b->klens[i]);
        }
        if (go && b->in_flight) {
            b->again = 1;    /* its empty reply sends the next try */
        } else if (go && pipe_is_up(&srv.pipe)) {
            send_try(b);
        }
    }
    keyset_clear(&touched);
    touched_all = 0;
    touched_db = -2;
}

int
block_unblock(struct client *c, int error)
{
    struct blocked *b = c->blocked;

    if (b == NULL || b->timed_out) {
        return 0;
    }
    b->timed_out = 1;
    b->unblock_error = error;
    if (!b->in_flight && b->resolving == 0) {
        deliver_timeout(b);
        finish(b);
    }
    return 1;
}

void
block_client_gone(struct client *c)
{
    struct blocked *b = c->blocked;

    if (b == NULL) {
        return;
    }
    c->blocked = NULL;
    b->client = NULL;
    if (b->in_flight || b->resolving > 0) {
        return;    /* its reply puts back what it popped, then frees */
    }
    b->req->hook = NULL;
    b->req->done = 1;    /* released with the client's requests */
    unlink_entry(b);
    free_entry(b);
}
