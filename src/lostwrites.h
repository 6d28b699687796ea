/*
 * lostwrites.h -- writes in flight when the pipe to the primary was lost
 * (DESIGN section 5). They may have applied on the primary without
 * entering the stream. When the pipe is back, the keys they name are
 * transferred (I8), so the replicas hold whatever the primary did with
 * them; a keyless write (FLUSHALL, FUNCTION LOAD, ...), one whose keys
 * reach into another database, or more keys than LOST_MAX_KEYS leave the
 * replicas to be seeded. A failover leaves that primary behind, and with
 * it whatever those writes did.
 *
 *   pipe lost:  lost_write() for each unanswered write, in order, then
 *               lost_writes_after(why)
 *   pipe up:    lost_writes_repair()  (the tee, before the replica links)
 *   failover:   lost_writes_forget()
 */
#ifndef TD_LOSTWRITES_H
#define TD_LOSTWRITES_H

#include <stddef.h>

/* A write (or a transaction's commands) in flight when the pipe was
 * lost, run in database db: its keys are remembered. */
void lost_write(long long db, const char *raw, size_t len);

/* The pipe was lost with the writes given to lost_write; why is the
 * pipe's error, for the log if the replicas must be seeded. */
void lost_writes_after(const char *why);

/* The pipe is up and trusted: transfers the remembered keys, or seeds
 * every replica when keys cannot say what the writes did. */
void lost_writes_repair(void);

/* A failover left that primary behind: nothing to mend. */
void lost_writes_forget(void);

#endif
