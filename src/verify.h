/*
 * verify.h -- the background verifier of DESIGN I12 (c): TANDEM CHECK
 * walks the keyspace, compares every key of the primary with every online
 * replica, and repairs what differs with a key transfer (I8).
 *
 *   walk:     SCAN the primary (every db but meta-db) on the pipe, paced by
 *             verify-max-keys-per-sec; then SCAN each replica on its own
 *             verifier connection, for keys only the replica has.
 *   read:     a read-only script gives, per key, its type, a digest of its
 *             content that does not depend on the encoding (sets, hashes
 *             and zsets are summed, not concatenated, so element order
 *             does not matter) and its PEXPIRETIME: on the pipe for the
 *             primary (point P, stream offset O), then on each replica
 *             once the replica has acknowledged O.
 *   window:   every key a stream unit touches after O is recorded; a key
 *             touched before a replica's answer is not compared but read
 *             again in a later batch.
 *   confirm:  a key that differs with a clean window is read again; only a
 *             second clean difference is one. It is then transferred into
 *             the stream, counted and logged.
 *
 * Keys whose expiry (either side) is due are left to expire. Memory is one
 * batch of keys, never O(keys).
 */
#ifndef TD_VERIFY_H
#define TD_VERIFY_H

#include <stddef.h>

#include "buf.h"

/* Starts a pass. Returns 0 and fills err when one is running or the
 * primary is not up. */
int verify_start(char *err, size_t errlen);
/* Stops the pass in progress. Returns 0 when none was running. */
int verify_stop(void);

/* TANDEM CHECK STATUS: "verify_status:...\r\n..." lines. */
void verify_status(struct buf *b);

/* A unit just appended to the stream (run in db). */
void verify_on_stream(long long db, const char *p, size_t len);

/* Once a second: verify-interval starts passes. */
void verify_cron(void);

/* Shutdown: the pass stops, its connections close. */
void verify_shutdown(void);

#endif
