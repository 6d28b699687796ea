/*
 * buf.c -- growable byte buffer; see buf.h for its layout.
 */
#include "buf.h"

#include <stdio.h>

#include <stdlib.h>
#include <string.h>

#include "util.h"

void
buf_init(struct buf *b)
{
    b->data = NULL;
    b->start = 0;
    b->len = 0;
    b->cap = 0;
}

void
buf_free(struct buf *b)
{
    free(b->data);
    buf_init(b);
}

void
buf_compact(struct buf *b)
{
    if (b->start == 0) {
        return;
    }
    if (b->len > 0) {
        memmove(b->data, b->data + b->start, b->len);
    }
    b->start = 0;
}

void
buf_reserve(struct buf *b, size_t n)
{
    size_t need;
    size_t cap;

    if (buf_room(b) >= n) {
        return;
    }
    /* Reclaim the consumed head before growing when that is enough or the
     * head is most of the allocation. */
    if (b->start > 0 && (b->cap - b->len >= n || b->start >= b->cap / 2)) {
        buf_compact(b);
        if (buf_room(b) >= n) {
            return;
        }
    }
    need = b->start + b->len + n;
    cap = b->cap == 0 ? 256 : b->cap;
    while (cap < need) {
        cap = cap < (64u << 20) ? cap * 2 : cap + (64u << 20);
    }
    b->data = td_realloc(b->data, cap);
    b->cap = cap;
}

void
buf_append(struct buf *b, const void *p, size_t n)
{
    if (n == 0) {
        return;
    }
    buf_reserve(b, n);
    memcpy(buf_tail(b), p, n);
    b->len += n;
}

void
buf_append_str(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void
buf_consume(struct buf *b, size_t n)
{
    TD_ASSERT(n <= b->len);
    b->start += n;
    b->len -= n;
    if (b->len == 0) {
        b->start = 0;
    }
}

void
buf_clear(struct buf *b)
{
    b->start = 0;
    b->len = 0;
}

void
buf_shrink(struct buf *b, size_t max)
{
    if (b->len == 0 && b->cap > max) {
        buf_free(b);
    }
}

void
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list again;
    int n;

    va_copy(again, ap);
    buf_reserve(b, 128);
    n = vsnprintf(buf_tail(b), buf_room(b), fmt, ap);
    if (n >= 0 && (size_t)n >= buf_room(b)) {
        buf_reserve(b, (size_t)n + 1);
        n = vsnprintf(buf_tail(b), buf_room(b), fmt, again);
    }
    va_end(again);
    if (n > 0) {
        b->len += (size_t)n;
    }
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}
