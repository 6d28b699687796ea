/*
 * fifo.h -- a growable ring of fixed-size items, oldest first: the pipe's
 * awaited replies, a replica link's batches in flight, a read
 * connection's reads.
 */
#ifndef TD_FIFO_H
#define TD_FIFO_H

#include <stddef.h>

struct fifo {
    char   *items;
    size_t size;      /* bytes per item */
    size_t head;      /* index of the oldest */
    size_t count;
    size_t cap;
};

void fifo_init(struct fifo *f, size_t item_size);
void fifo_free(struct fifo *f);
/* Appends a copy of item. */
void fifo_push(struct fifo *f, const void *item);
/* The i-th oldest item (0: the head). */
void *fifo_at(const struct fifo *f, size_t i);
/* Copies the oldest item out (when out is not NULL) and drops it. */
void fifo_pop(struct fifo *f, void *out);

/* Drops every item. */
static inline void
fifo_pop_all(struct fifo *f)
{
    f->head = 0;
    f->count = 0;
}

static inline void *
fifo_head(const struct fifo *f)
{
    return f->count > 0 ? fifo_at(f, 0) : NULL;
}

#endif
