/*
 * fifo.c -- ring of items; see fifo.h.
 */
#include "fifo.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void
fifo_init(struct fifo *f, size_t item_size)
{
    memset(f, 0, sizeof(*f));
    f->size = item_size;
}

void
fifo_free(struct fifo *f)
{
    free(f->items);
    fifo_init(f, f->size);
}

void *
fifo_at(const struct fifo *f, size_t i)
{
    TD_ASSERT(i < f->count);
    return f->items + ((f->head + i) % f->cap) * f->size;
}

void
fifo_push(struct fifo *f, const void *item)
{
    if (f->count == f->cap) {
        size_t cap = f->cap == 0 ? 64 : f->cap * 2;
        char *items = td_malloc(cap * f->size);
        size_t first = f->count == 0 ? 0 : TD_MIN(f->count, f->cap - f->head);

        /* Unwrap into the new allocation, oldest first. */
        if (f->count > 0) {
            memcpy(items, f->items + f->head * f->size, first * f->size);
            memcpy(items + first * f->size, f->items,
                   (f->count - first) * f->size);
        }
        free(f->items);
        f->items = items;
        f->cap = cap;
        f->head = 0;
    }
    memcpy(f->items + ((f->head + f->count) % f->cap) * f->size, item,
           f->size);
    f->count++;
}

void
fifo_pop(struct fifo *f, void *out)
{
    TD_ASSERT(f->count > 0);
    if (out != NULL) {
        memcpy(out, f->items + f->head * f->size, f->size);
    }
    f->head = (f->head + 1) % f->cap;
    f->count--;
}
