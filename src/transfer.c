/*
 * transfer.c -- DUMP + PEXPIRETIME on the pipe, rendered; see transfer.h.
 */
#include "transfer.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "effects.h"
#include "pipe.h"
#include "resp.h"
#include "server.h"

struct transfer {
    long long   db;
    char        *key;
    size_t      klen;
    char        *dump;        /* DUMP's reply, as received */
    size_t      dlen;
    transfer_fn fn;
    void        *ctx;
    int         to_stream;
};

static void
on_dump(void *ctx, const char *reply, size_t len)
{
    struct transfer *t = ctx;

    if (reply == NULL) {
        return;    /* the PEXPIRETIME callback reports and frees */
    }
    t->dump = td_malloc(len);
    memcpy(t->dump, reply, len);
    t->dlen = len;
}

/* PEXPIRETIME's reply completes the transfer. */
static void
on_expiry(void *ctx, const char *reply, size_t len)
{
    struct transfer *t = ctx;
    struct resp_arg key = {t->key, t->klen};
    struct buf cmd;

    buf_init(&cmd);
    if (reply == NULL) {
        if (t->fn != NULL) {
            t->fn(t->ctx, TRANSFER_LOST, t->db, t->key, t->klen, NULL, 0, 0);
        }
    } else if (t->dump == NULL ||
               effects_transfer(&key, t->dump, t->dlen, reply, len, &cmd) <
                   0) {
        if (t->fn != NULL) {
            t->fn(t->ctx, TRANSFER_BAD_REPLY, t->db, t->key, t->klen, NULL,
                  0, t->dlen);
        }
    } else {
        if (t->to_stream && srv.pipe.tee) {
            stream_append(&srv.stream, t->db, buf_head(&cmd), cmd.len, 1,
                          NULL);
        }
        if (t->fn != NULL) {
            t->fn(t->ctx, TRANSFER_DONE, t->db, t->key, t->klen,
                  buf_head(&cmd), cmd.len, t->dlen);
        }
    }
    buf_free(&cmd);
    free(t->key);
    free(t->dump);
    free(t);
}

static void
send_transfer(long long db, const char *key, size_t klen, transfer_fn fn,
              void *ctx, int to_stream)
{
    struct transfer *t = td_calloc(1, sizeof(*t));
    struct resp_arg dump[2] = {{"DUMP", 4}, {key, klen}};
    struct resp_arg expiry[2] = {{"PEXPIRETIME", 11}, {key, klen}};
    struct buf b;

    t->db = db;
    t->key = td_strndup(key, klen);
    t->klen = klen;
    t->fn = fn;
    t->ctx = ctx;
    t->to_stream = to_stream;
    buf_init(&b);
    resp_add_command(&b, 2, dump);
    pipe_send_internal_db(&srv.pipe, db, buf_head(&b), b.len, on_dump, t);
    buf_clear(&b);
    resp_add_command(&b, 2, expiry);
    pipe_send_internal_db(&srv.pipe, db, buf_head(&b), b.len, on_expiry, t);
    buf_free(&b);
}

void
transfer_key(long long db, const char *key, size_t klen, transfer_fn fn,
             void *ctx)
{
    send_transfer(db, key, klen, fn, ctx, 0);
}

void
transfer_key_to_stream(long long db, const char *key, size_t klen,
                       transfer_fn fn, void *ctx)
{
    send_transfer(db, key, klen, fn, ctx, 1);
}
