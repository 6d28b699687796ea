/*
 * expect.h -- what each stream command must answer on a replica that held
 * the primary's state (DESIGN I12 a): a digest of the primary's own reply
 * where the command enters the stream as the client sent it, or "anything
 * but an error" where a rewritten form answers differently (SREM for
 * SPOP, RESTORE for a script, the SELECTs tandem inserts answer +OK and
 * get their digest).
 *
 *   stream commands:  0 1 2 ...            end-cap      end
 *                     [ fallen out: no error ][ digests held ]
 *
 * Digests are held for the newest commands only, 8 bytes each, in a ring
 * indexed by the stream's command count; a replica so far behind that its
 * commands fell out of the ring is held to "no error" alone.
 */
#ifndef TD_EXPECT_H
#define TD_EXPECT_H

#include <stddef.h>
#include <stdint.h>

/* The digest that stands for "anything but an error". */
#define EXPECT_NO_ERROR 0

struct expect_ring {
    uint64_t *digests;
    size_t   cap;
    uint64_t end;       /* index of the next command */
};

void expect_init(struct expect_ring *e, size_t cap, uint64_t first);
void expect_free(struct expect_ring *e);

/* Starts again at command index first (a continued stream). */
void expect_reset(struct expect_ring *e, uint64_t first);

/* Records what command number e->end must answer. */
void expect_push(struct expect_ring *e, uint64_t digest);

/* What command number index must answer (EXPECT_NO_ERROR when it fell
 * out of the ring or is not known). */
uint64_t expect_at(const struct expect_ring *e, uint64_t index);

/* The digest of a whole RESP reply (never EXPECT_NO_ERROR). */
uint64_t expect_digest(const char *reply, size_t len);

/* Whether reply satisfies digest. */
int expect_met(uint64_t digest, const char *reply, size_t len);

#endif
