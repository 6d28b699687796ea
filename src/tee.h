/*
 * tee.h -- from applied writes to the replication stream (DESIGN I3): the
 * pipe hands over each write (or transaction) with the primary's replies,
 * the tee renders its effects and appends them to the stream.
 */
#ifndef TD_TEE_H
#define TD_TEE_H

#include <stddef.h>

/* One write: raw is its RESP command; probes the PEXPIRETIME replies that
 * followed it (if its effect needs them). */
void tee_write(long long db, const char *raw, size_t rawlen,
               const char *reply, size_t rlen, const char *probes,
               size_t plen);

/* A transaction: raw holds its queued commands, reply is EXEC's. The
 * applied commands' effects enter the stream as one unit. */
void tee_exec(long long db, const char *raw, size_t rawlen,
              const char *reply, size_t rlen, const char *probes,
              size_t plen);

/* The pipe is up (handshake done): replica links waiting for it go on. */
void tee_pipe_up(void);

/* The pipe was lost: seeds in progress lost their transfers. */
void tee_pipe_lost(void);

/* A write (or a transaction's commands) in flight when the pipe was
 * lost: its keys are transferred when the pipe is up again. */
void tee_lost_write(long long db, const char *raw, size_t len);

/* The pipe was lost with writes in flight (each given to
 * tee_lost_write): their outcome is unknown, so when the pipe is up again
 * their keys are transferred, or the replicas seeded when keys cannot say
 * what the writes did. */
void tee_writes_lost(const char *why);
/* A failover left that primary behind: the replicas match the stream. */
void tee_forget_lost_writes(void);

#endif
