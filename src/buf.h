/*
 * buf.h -- a growable byte buffer with a consumed head.
 *
 *   data                 data+start          data+start+len      data+cap
 *   |--- consumed -------|==== pending ======|---- free ----------|
 *
 * Readers consume from the head, writers append at the tail. The consumed
 * part is reclaimed by buf_compact() (a memmove) when it is worth it, so a
 * slice into the pending bytes stays valid until the next append, compact
 * or reserve.
 */
#ifndef TD_BUF_H
#define TD_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char   *data;    /* allocation, NULL when empty */
    size_t start;    /* first pending byte */
    size_t len;      /* pending bytes */
    size_t cap;      /* allocated bytes */
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);

/* Makes room for at least n bytes after the pending ones. */
void buf_reserve(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_append_str(struct buf *b, const char *s);
/* Appends printf-formatted text (any length). */
void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
void buf_consume(struct buf *b, size_t n);
void buf_clear(struct buf *b);

/* Moves the pending bytes to the front of the allocation. */
void buf_compact(struct buf *b);

/* Returns memory beyond max bytes to the allocator when the buffer is idle. */
void buf_shrink(struct buf *b, size_t max);

static inline char *
buf_head(const struct buf *b)
{
    return b->data + b->start;
}

static inline char *
buf_tail(const struct buf *b)
{
    return b->data + b->start + b->len;
}

static inline size_t
buf_room(const struct buf *b)
{
    return b->cap - b->start - b->len;
}

#endif
