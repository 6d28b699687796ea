/*
 * guard.h -- a primary that comes back without its data (DESIGN I11).
 *
 * While the pipe is up tandem samples the primary's INFO keyspace once a
 * second: how many keys it holds outside the meta-db, and how many of
 * them have a TTL (those may expire while it is away). When the pipe
 * comes back to a primary with another run_id (a restart, another
 * server) holding fewer keys than the ones that could not have gone
 * (keys without a TTL at the last sample), tandem does not trust it:
 * while replicas exist, it holds the pipe -- clients get an error that
 * says why, nothing reaches the primary, and no replica is seeded from it
 * -- so the loss never reaches the replicas. It lets go when the primary
 * holds enough keys again (checked once a second, e.g. after an operator
 * restored it), or on TANDEM ACCEPT-PRIMARY (the operator takes the
 * primary as it is). Either way every replica is then seeded from the
 * primary: nothing says what it holds came from the stream. With
 * failover-after set, failover.c fails over instead.
 *
 * Key counts miss a primary restarted from an older snapshot that holds
 * as many keys. So once a second, while writes come, tandem also writes
 * a stamp into the primary's meta-db on the pipe, "<stream id>:<offset>",
 * after the writes it covers. A new primary process whose stamp is older
 * than the newest one the primary applied, or missing, came back with
 * older data: it is held the same way, and only TANDEM ACCEPT-PRIMARY
 * (or a failover) lets it go.
 */
#ifndef TD_GUARD_H
#define TD_GUARD_H

#include <stddef.h>

struct buf;

/* Keys outside the meta-db in an INFO keyspace reply (tandem's own keys
 * there say nothing of the dataset). */
long long guard_keyspace_keys(const char *keyspace, size_t len);

/* The pipe's handshake: reads the primary's stamp (before INFO
 * keyspace, which guard_admit gets). */
void guard_handshake(void);

/* The pipe's handshake has INFO keyspace of a primary whose run_id is
 * run_id. Returns 1 when the pipe may come up, 0 to hold it. */
int guard_admit(const char *run_id, const char *keyspace, size_t len);

/* Once a second while the pipe is up (or held): a new sample, or the
 * re-check of a held primary. */
void guard_cron(void);

/* A key of the primary's meta-db expired or was evicted: if it was the
 * stamp, the stamps written so far no longer say anything. */
void guard_meta_key_gone(const char *key, size_t len);

/* A flush went through tandem: the keys are gone on purpose. */
void guard_flushed(void);

/* The primary changed (failover): the first one the pipe reaches is
 * trusted as it is. */
void guard_reset(void);

/* TANDEM ACCEPT-PRIMARY: takes the held primary as it is. Returns 0 when
 * nothing was held. */
int guard_accept(void);

/* 1 while held; why says why (for errors, INFO and the log). */
int guard_holding(void);
const char *guard_reason(void);

/* INFO lines (primary_held, primary_held_reason, sampled key counts). */
void guard_info(struct buf *b);

#endif
