/*
 * pause.h -- CLIENT PAUSE and CLIENT UNPAUSE, kept in tandem: for the
 * time given, tandem holds its clients' commands (ALL) or only those that
 * may write (WRITE: commands flagged write or may_replicate, and an EXEC
 * whose transaction holds one), as Redis 7.0 does. Held clients keep
 * their place: their commands run in order when the pause ends. The
 * replication stream, seeds and blocking-pop retries go on.
 */
#ifndef TD_PAUSE_H
#define TD_PAUSE_H

#include <stddef.h>

#include "resp.h"

struct client;
struct cmd;

/* CLIENT PAUSE timeout [WRITE|ALL], CLIENT UNPAUSE (argv from CLIENT). */
void pause_command(struct client *c, size_t argc, const struct resp_arg *argv);
void unpause_command(struct client *c, size_t argc);

/* True when a command must wait for the pause to end: cmd is its table
 * entry, or NULL for a command tandem answers itself (held only by ALL;
 * may_write tells whether such a one writes, as EXEC may). */
int pause_holds(const struct cmd *cmd, int may_write);

/* Every client's new commands wait (a clean shutdown, a failover) until
 * pause_release_all() (a shutdown never releases). */
void pause_hold_all(void);
void pause_release_all(void);

/* True while a pause is in effect. */
int pause_in_effect(void);

#endif
