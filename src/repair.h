/*
 * repair.h -- a replica's replies to its batches, held against what the
 * stream's commands must answer (DESIGN I12 a, I6; expect.h).
 *
 *   EXEC reply:  [ SELECT | c1 c2 ... ck | SELECT meta | SET stamp ]
 *                           ^ c2 answered otherwise than on the primary
 *       -> the keys of c2 are transferred (I8): RESTORE/DEL enters the
 *          stream for every replica, at the pipe's present position;
 *       -> the replica stays online, but its acknowledged offset stops
 *          where the batch began until the stream holding the repair is
 *          acknowledged, so WAIT and reads never count on the bad value.
 *
 * A difference that no key transfer can mend (a command without keys,
 * such as FLUSHALL or FUNCTION LOAD; one reaching into another database;
 * a batch gone from the backlog; a RESTORE the replica refused, which a
 * repair would only send again) leaves the replica diverged, to be
 * seeded, as before.
 */
#ifndef TD_REPAIR_H
#define TD_REPAIR_H

#include <stddef.h>
#include <stdint.h>

struct replica;
struct replica_batch;

struct replica_repair {
    unsigned  pending;      /* key transfers sent, not yet in the stream */
    uint64_t  until;        /* stream offset after the last repair */
    uint64_t  hold;         /* acknowledgements stop here meanwhile */
    uint64_t  epoch;        /* a seed makes earlier repairs moot */
    uint64_t  differences;  /* replies that differed (INFO) */
    uint64_t  keys;         /* keys repaired (INFO) */
};

/*
 * Checks EXEC's reply to batch b against the stream. Returns 1 when every
 * reply is as expected or the differences are being repaired, 0 when the
 * replica cannot be repaired by keys (why says why).
 */
int repair_check_batch(struct replica *r, const struct replica_batch *b,
                       const char *reply, size_t len, char *why,
                       size_t whylen);

/* The offset the replica may be said to hold once it applied up to off:
 * off, or less while a repair is outstanding. */
uint64_t repair_ack(struct replica *r, uint64_t off);

/* Forgets outstanding repairs (the replica is being seeded). */
void repair_reset(struct replica *r);

#endif
