/*
 * dispatch.h -- the router: what happens to each parsed client command.
 *
 *   tandem's own command (PING, AUTH, CLIENT, INFO, ...) -> answered here
 *   unknown / wrong arity / not authenticated           -> Redis's error
 *   needs connection state tandem does not emulate yet  -> tandem's -ERR
 *   everything else                                     -> the pipe
 */
#ifndef TD_DISPATCH_H
#define TD_DISPATCH_H

#include <stddef.h>

#include "resp.h"

struct client;
struct cmd;

/* Handles one command. raw/rawlen are the request's bytes as received;
 * is_inline tells that they are not RESP and must be re-encoded. Returns
 * 0 when the command must wait (nothing was done): it is for the primary
 * while reads of the same client are in flight on replicas, and a read's
 * state must not include a later write (it could be retried on the
 * primary). */
int dispatch_command(struct client *c, size_t argc,
                     const struct resp_arg *argv, const char *raw,
                     size_t rawlen, int is_inline);

/* Sends a command to a replica (reads that may go there) or the primary
 * on c's behalf, as received. Returns 0, doing nothing, when it must wait
 * (see dispatch_command). */
int dispatch_forward(struct client *c, const struct cmd *cmd, size_t argc,
                     const struct resp_arg *argv, const char *raw,
                     size_t rawlen, int is_inline);

/* While the primary is unavailable (down, connecting, held): 1 when the
 * command is a read that a replica in sync enough for c may serve now
 * (as a Redis replica with replica-serve-stale-data yes would). */
int dispatch_replica_can_serve(struct client *c, size_t argc,
                               const struct resp_arg *argv);

/* Replies with an error and counts it. */
void dispatch_error(struct client *c, const char *msg);

#endif
