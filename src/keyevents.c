/*
 * keyevents.c -- the primary's expired and evicted keys; see
 * keyevents.h.
 *
 * The events come on the Pub/Sub connection, outside the pipe's order.
 * That is safe for the transfer: DUMP and PEXPIRETIME go on the pipe when
 * the event arrives, so they see every write sent before them, and the
 * RESTORE or DEL they produce enters the stream at that point of the
 * pipe's order, after those writes and before any later one.
 */
#include "keyevents.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "guard.h"
#include "log.h"
#include "pipe.h"
#include "resp.h"
#include "server.h"
#include "stream.h"
#include "transfer.h"
#include "watch.h"

const char *const keyevents_patterns[] = {
    "__keyevent@*__:expired",
    "__keyevent@*__:evicted",
    NULL,
};

int
keyevents_is_own(const char *name, size_t len)
{
    size_t i;

    for (i = 0; keyevents_patterns[i] != NULL; i++) {
        if (strlen(keyevents_patterns[i]) == len &&
            memcmp(keyevents_patterns[i], name, len) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ---- turning the notifications on ----------------------------------- */

static void
on_config_set(void *ctx, const char *reply, size_t len)
{
    char *flags = ctx;

    if (reply != NULL && reply[0] == '-') {
        log_warning("Could not turn on keyspace events on the primary "
                    "(CONFIG SET notify-keyspace-events %s: %.*s): keys "
                    "that expire or are evicted there do not mark WATCHers "
                    "and are not transferred to replicas at once",
                    flags, (int)(len > 2 ? len - 3 : 0), reply + 1);
    } else if (reply != NULL) {
        log_notice("Keyspace events on the primary: notify-keyspace-events "
                   "is \"%s\"", flags);
    }
    free(flags);
}

/* CONFIG GET's reply: the primary's flags, to which "Exe" are added
 * (what is there stays: other users of the notifications keep theirs). */
static void
on_config_get(void *ctx, const char *reply, size_t len)
{
    redisReply *r = reply != NULL ? resp_read_reply(reply, len) : NULL;
    char flags[64];
    size_t n = 0;
    int all, has_keyevent, has_expired, has_evicted;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[1]->type != REDIS_REPLY_STRING) {
        if (reply != NULL && reply[0] == '-') {
            log_warning("Could not read notify-keyspace-events on the "
                        "primary (%.*s): keys that expire or are evicted "
                        "there do not mark WATCHers at once",
                        (int)(len > 2 ? len - 3 : 0), reply + 1);
        }
        if (r != NULL) {
            freeReplyObject(r);
        }
        return;
    }
    n = r->element[1]->len < sizeof(flags) - 4 ? r->element[1]->len : 0;
    memcpy(flags, r->element[1]->str, n);
    flags[n] = '\0';
    freeReplyObject(r);
    /* Looked at before any is appended: flags is terminated only here. */
    all = strchr(flags, 'A') != NULL;
    has_keyevent = strchr(flags, 'E') != NULL;
    has_expired = all || strchr(flags, 'x') != NULL;
    has_evicted = all || strchr(flags, 'e') != NULL;
    if (has_keyevent && has_expired && has_evicted) {
        log_verbose("Keyspace events on the primary already on (\"%s\")",
                    flags);
        return;
    }
    if (!has_keyevent) {
        flags[n++] = 'E';
    }
    if (!has_expired) {
        flags[n++] = 'x';
    }
    if (!has_evicted) {
        flags[n++] = 'e';
    }
    flags[n] = '\0';
    {
        struct resp_arg argv[4] = {{"CONFIG", 6}, {"SET", 3},
                                   {"notify-keyspace-events", 22},
                                   {flags, n}};
        struct buf b;

        buf_init(&b);
        resp_add_command(&b, 4, argv);
        pipe_send_internal(&srv.pipe, buf_head(&b), b.len, on_config_set,
                           td_strndup(flags, n));
        buf_free(&b);
    }
}

void
keyevents_pipe_up(void)
{
    static const char get[] =
        "*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$22\r\nnotify-keyspace-events\r\n";

    pipe_send_internal(&srv.pipe, get, sizeof(get) - 1, on_config_get, NULL);
}

/* ---- the events ----------------------------------------------------- */

/* The transfer's command entered the stream at its place in the pipe's
 * order (unless the replicas are gone). */
static void
on_transferred(void *ctx, enum transfer_status status, long long db,
               const char *key, size_t klen, const char *cmd, size_t len,
               size_t dump_bytes)
{
    if (status == TRANSFER_DONE && srv.pipe.tee) {
        srv.stats.keyevent_transfers++;
        log_debug("keyevent: key transferred to the replicas (%zu bytes)",
                  dump_bytes);
    }
}

void
keyevents_message(const char *channel, size_t clen, const char *key,
                  size_t klen)
{
    static const char prefix[] = "__keyevent@";
    const char *p = channel + sizeof(prefix) - 1;
    const char *end = channel + clen;
    const char *at;
    long long db;
    int evicted;

    if (clen < sizeof(prefix) - 1 ||
        memcmp(channel, prefix, sizeof(prefix) - 1) != 0 ||
        (at = memchr(p, '_', (size_t)(end - p))) == NULL ||
        !td_str2ll(p, (size_t)(at - p), &db)) {
        return;
    }
    evicted = end - at >= 9 && memcmp(end - 7, "evicted", 7) == 0;
    if (evicted) {
        srv.stats.keys_evicted_seen++;
    } else {
        srv.stats.keys_expired_seen++;
    }
    if (db == srv.cfg.meta_db) {
        /* tandem's own keys: an allkeys-* maxmemory-policy may evict the
         * primary's stamp, which then says nothing. */
        guard_meta_key_gone(key, klen);
        return;
    }
    watch_touch_key(db, key, klen);
    if (srv.pipe.tee && pipe_is_up(&srv.pipe)) {
        transfer_key_to_stream(db, key, klen, on_transferred, NULL);
    }
}
