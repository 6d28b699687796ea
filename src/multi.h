/*
 * multi.h -- client transactions, queued in tandem (DESIGN section 4):
 * MULTI starts queueing, each command is checked by name and arity and
 * answered +QUEUED, and EXEC sends the whole transaction contiguously on
 * the pipe (MULTI, commands, EXEC), so no other client's command can come
 * between them. Its applied commands enter the stream as one unit.
 */
#ifndef TD_MULTI_H
#define TD_MULTI_H

#include <stddef.h>

#include "resp.h"

struct client;

void multi_command(struct client *c);
void multi_exec(struct client *c);
void multi_discard(struct client *c);

/* Queues a command of an open transaction (already checked). */
void multi_queue(struct client *c, size_t argc, const struct resp_arg *argv,
                 const char *raw, size_t rawlen, int is_inline);

/* A queued command was refused: EXEC will abort. */
void multi_flag_error(struct client *c);

/* Forgets the transaction (DISCARD, RESET, client gone). */
void multi_reset(struct client *c);

#endif
