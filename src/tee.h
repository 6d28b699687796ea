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

/* The pipe is up (handshake done): writes lost with it are mended
 * (lostwrites.h), then the replica links waiting for it go on. */
void tee_pipe_up(void);

/* The pipe was lost: seeds in progress lost their transfers. */
void tee_pipe_lost(void);

#endif
