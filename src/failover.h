/*
 * failover.h -- failover (DESIGN I11): a replica becomes the primary.
 *
 * TANDEM FAILOVER [replica], or, with failover-after > 0, a primary that
 * has been unreachable (or held for having lost its data, guard.h) that
 * long. The steps:
 *   1. clients' new commands are held (as CLIENT PAUSE ALL); what is in
 *      flight on the pipe finishes, then the pipe is detached;
 *   2. every online replica is brought to the stream's end from the
 *      backlog -- writes the old primary applied and the stream holds are
 *      not lost even when no replica had them yet -- within
 *      failover-timeout; a replica that does not get there leaves service
 *      (it is seeded later), and if the chosen one does not, the failover
 *      is given up and tandem goes back to the old primary;
 *   3. the chosen replica (the named one, else the one with the highest
 *      acknowledged offset) becomes the primary; the stream goes on at the
 *      same offset under a new id; the other replicas continue; the old
 *      primary joins the replica list and is seeded when it comes back.
 * The configuration file's primary and replica lines are then rewritten
 * (not when the command line names them: that is logged).
 * Writes that were in flight on the pipe when the old primary was lost
 * were answered with an error and may be lost; writes acknowledged with
 * WAIT n (n >= 1) are not.
 */
#ifndef TD_FAILOVER_H
#define TD_FAILOVER_H

#include <stddef.h>

struct buf;
struct config;

/* TANDEM FAILOVER: spec NULL picks the best replica. Returns 0 and fills
 * err when it cannot start. */
int failover_start(const char *spec, size_t len, char *err, size_t errlen);

/* Once a second: starts an automatic failover when it is due. */
void failover_cron(void);

/* True while a failover is in progress. */
int failover_in_progress(void);

/* SIGHUP after a failover: the file still names the old primary, so its
 * primary and replica lines are read with the failover applied. */
void failover_map_config(struct config *next);

/* INFO lines. */
void failover_info(struct buf *b);

#endif
