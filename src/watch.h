/*
 * watch.h -- WATCH/UNWATCH emulated in tandem (DESIGN section 4).
 *
 * Every write tandem sends to the primary passes here first; a write that
 * touches a watched key (FLUSHDB, FLUSHALL and SWAPDB touch whole
 * databases, a write whose keys cannot be known touches its database)
 * marks its watchers dirty, and a dirty client's EXEC answers the null
 * array without sending anything. Marking at dispatch is exact in order:
 * the pipe runs commands in dispatch order, so a write dispatched before
 * an EXEC runs before it. It may abort a transaction for a write that
 * turned out to change nothing, which clients of WATCH retry anyway.
 */
#ifndef TD_WATCH_H
#define TD_WATCH_H

#include <stddef.h>

#include "resp.h"

struct client;
struct cmd;

/* WATCH key [key ...] (not inside MULTI: the caller checks). */
void watch_keys(struct client *c, size_t n, const struct resp_arg *keys);
/* UNWATCH, EXEC, DISCARD, RESET, disconnect. */
void watch_clear(struct client *c);
/* True when the client watches something. */
int watch_any(const struct client *c);

/* A write about to be sent to the primary, run in db. */
void watch_touch(long long db, const struct cmd *cmd, size_t argc,
                 const struct resp_arg *argv);
/* A key changed on the primary by itself (expired, evicted). */
void watch_touch_key(long long db, const char *key, size_t len);
/* Same, for each command of a transaction's queue (RESP, from db). */
void watch_touch_queued(long long db, const char *queued, size_t len);

/* Clients watching keys, for INFO. */
size_t watch_clients(void);

#endif
