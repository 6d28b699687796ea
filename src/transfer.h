/*
 * transfer.h -- the key transfer of DESIGN I8, over the pipe: DUMP and
 * PEXPIRETIME of one key, sent back to back in its database, rendered
 * (effects_transfer) into the stream command that sets the key to what
 * they found there: RESTORE key <abs-ms|0> <payload> REPLACE ABSTTL, or
 * DEL. Because both ride the pipe, the command describes the key at that
 * point of the pipe's order: after every write sent before, before any
 * sent after. Seeding (seed.c) and the primary's keyevents (keyevents.c)
 * use it.
 */
#ifndef TD_TRANSFER_H
#define TD_TRANSFER_H

#include <stddef.h>

enum transfer_status {
    TRANSFER_DONE,        /* cmd holds the stream command */
    TRANSFER_LOST,        /* the pipe was lost before the replies */
    TRANSFER_BAD_REPLY    /* a reply had an unexpected shape */
};

/* Called once per transfer. cmd/len: the rendered command (TRANSFER_DONE
 * only, else NULL/0); dump_bytes: the size of DUMP's reply. */
typedef void (*transfer_fn)(void *ctx, enum transfer_status status,
                            long long db, const char *key, size_t klen,
                            const char *cmd, size_t len, size_t dump_bytes);

/* Sends the transfer of key (in db) on the pipe; fn gets its outcome. */
void transfer_key(long long db, const char *key, size_t klen, transfer_fn fn,
                  void *ctx);

/* The same, and the rendered command enters the stream, for every
 * replica, before fn (which may be NULL) is called -- as long as there
 * are replicas to send it to. Repairs use it (keyevents, verify, repair,
 * lost writes); a seed sends its transfers to one replica instead. */
void transfer_key_to_stream(long long db, const char *key, size_t klen,
                            transfer_fn fn, void *ctx);

#endif
