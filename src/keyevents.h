/*
 * keyevents.h -- keys that expire or are evicted on the primary (DESIGN
 * I12 b). tandem turns on the primary's expired and evicted keyevent
 * notifications (adding "Exe" to its notify-keyspace-events, where the
 * primary allows CONFIG SET) and subscribes to them on its Pub/Sub
 * connection. For each such key it
 *   - marks the clients that WATCH it, as Redis does (their EXEC fails);
 *   - transfers the key to the replicas (DUMP + PEXPIRETIME on the pipe,
 *     then RESTORE or DEL in the stream, I8), so a replica whose clock is
 *     behind, or that does not evict, does not keep it.
 */
#ifndef TD_KEYEVENTS_H
#define TD_KEYEVENTS_H

#include <stddef.h>

/* The patterns tandem subscribes to itself, NULL-terminated. */
extern const char *const keyevents_patterns[];

/* True when (pattern) name is one of tandem's own subscriptions. */
int keyevents_is_own(const char *name, size_t len);

/* The pipe is up: make sure the primary sends the events. */
void keyevents_pipe_up(void);

/* A pmessage for one of tandem's patterns: channel names the db and the
 * event, payload is the key. */
void keyevents_message(const char *channel, size_t clen, const char *key,
                       size_t klen);

#endif
