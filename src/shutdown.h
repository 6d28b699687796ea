/*
 * shutdown.h -- a clean shutdown and its mark (DESIGN section 6).
 *
 * On SIGTERM or SIGINT tandem stops accepting connections, holds its
 * clients' new commands (as CLIENT PAUSE ALL), lets what is in flight on
 * the pipe finish, and waits up to shutdown-timeout seconds for every
 * online replica to acknowledge the whole stream. Then it writes a mark
 * on the primary, in the meta-db:
 *
 *   tandem:shutdown = "<stream id>:<offset>:<primary run_id>"
 *
 * At the next start the pipe's handshake takes the mark (GETDEL). When
 * the primary is the same process (same run_id), the new tandem continues
 * that stream at that offset, so replicas whose stamp says the same are
 * online at once instead of being seeded again. A second signal stops at
 * once, without a mark.
 */
#ifndef TD_SHUTDOWN_H
#define TD_SHUTDOWN_H

#include <stddef.h>

/* SIGTERM/SIGINT: starts draining (a second one stops at once). */
void shutdown_begin(const char *signame);

/* True while draining. */
int shutdown_draining(void);

/* The pipe's handshake: sends the GETDEL of the mark (counts as one
 * handshake step: done() is called with the pipe when the reply is in). */
void shutdown_mark_take(void (*done)(void *pipe), void *pipe);

#endif
