/*
 * block.h -- blocking pops served by tandem (DESIGN section 4): BLPOP,
 * BRPOP, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP, BRPOPLPUSH and BLMOVE.
 *
 * tandem tries the non-blocking form on the pipe (LMPOP, ZMPOP,
 * RPOPLPUSH, LMOVE); when it comes back empty the client waits in tandem
 * -- holding no backend connection -- and the form is tried again after
 * any write tandem dispatches that touches one of its keys, first-blocked
 * first-served (the pipe runs the tries in that order). The pop that
 * succeeds is an ordinary write: teed as its non-blocking form. The
 * timeout is a libev timer; 0 waits forever.
 */
#ifndef TD_BLOCK_H
#define TD_BLOCK_H

#include <stddef.h>

#include "resp.h"

struct client;
struct cmd;

/* True when cmd is a blocking pop tandem serves. */
int block_supported(const struct cmd *cmd);
/* Runs a blocking pop for c (arity already checked). */
void block_command(struct client *c, const struct cmd *cmd, size_t argc,
                   const struct resp_arg *argv);

/* A write touched key in db (or every key of db, db < 0: all). */
void block_touch_key(long long db, const char *key, size_t len);
void block_touch_db(long long db);
/* Tries again the pops whose keys were touched (before sleeping). */
void block_retry_touched(void);

/* CLIENT UNBLOCK: answers c's blocking pop as a timeout, or with the
 * UNBLOCKED error. Returns 0 when c is not blocked in one. */
int block_unblock(struct client *c, int error);

/* The client is going: nothing is popped for it any more. */
void block_client_gone(struct client *c);

/* Clients waiting in a blocking pop, for INFO. */
size_t block_count(void);

#endif
