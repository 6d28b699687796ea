/*
 * expect.c -- the ring of expected replies of the stream's commands.
 */
#include "expect.h"

#include <stdlib.h>

#include "util.h"

void
expect_init(struct expect_ring *e, size_t cap, uint64_t first)
{
    e->cap = cap > 0 ? cap : 1;
    e->digests = td_calloc(e->cap, sizeof(*e->digests));
    e->end = first;
}

void
expect_free(struct expect_ring *e)
{
    free(e->digests);
    e->digests = NULL;
    e->cap = 0;
}

void
expect_reset(struct expect_ring *e, uint64_t first)
{
    e->end = first;
}

void
expect_push(struct expect_ring *e, uint64_t digest)
{
    e->digests[e->end % e->cap] = digest;
    e->end++;
}

uint64_t
expect_at(const struct expect_ring *e, uint64_t index)
{
    if (index >= e->end || e->end - index > e->cap) {
        return EXPECT_NO_ERROR;
    }
    return e->digests[index % e->cap];
}

/* FNV-1a, 64 bits: replies are short, and a collision only means a
 * difference goes unnoticed until the verifier sees it. */
uint64_t
expect_digest(const char *reply, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)reply[i];
        h *= 1099511628211ULL;
    }
    return h == EXPECT_NO_ERROR ? 1 : h;
}

int
expect_met(uint64_t digest, const char *reply, size_t len)
{
    if (len == 0 || reply[0] == '-') {
        return 0;
    }
    return digest == EXPECT_NO_ERROR || expect_digest(reply, len) == digest;
}
