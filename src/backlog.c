/*
 * backlog.c -- the stream's ring buffer and its batch marks; see
 * backlog.h for the picture.
 *
 * The ring is allocated lazily up to its size. Marks live in a second,
 * growable ring; when a mark's offset falls out of the data ring it is
 * dropped, so every mark refers to held bytes (except the newest one,
 * which may equal `end`).
 */
#include "backlog.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MARKS_INITIAL 1024

void
backlog_init(struct backlog *b, size_t size, uint64_t offset, long long db)
{
    memset(b, 0, sizeof(*b));
    b->size = size;
    b->ring = td_malloc(size);
    b->start = offset;
    b->end = offset;
    b->mark_cap = MARKS_INITIAL;
    b->marks = td_malloc(b->mark_cap * sizeof(*b->marks));
    b->marks[0].offset = offset;
    b->marks[0].commands = 0;
    b->marks[0].db = db;
    b->mark_count = 1;
}

void
backlog_free(struct backlog *b)
{
    free(b->ring);
    free(b->marks);
    memset(b, 0, sizeof(*b));
}

static struct backlog_mark *
mark(const struct backlog *b, size_t i)
{
    return &b->marks[(b->mark_head + i) % b->mark_cap];
}

void
backlog_append(struct backlog *b, const char *p, size_t len)
{
    size_t pos;
    size_t first;

    if (len >= b->size) {
        /* Only the tail fits. */
        p += len - b->size;
        b->end += len - b->size;
        len = b->size;
    }
    pos = (size_t)(b->end % b->size);
    first = TD_MIN(len, b->size - pos);
    memcpy(b->ring + pos, p, first);
    memcpy(b->ring, p + first, len - first);
    b->end += len;
    if (b->end - b->start > b->size) {
        b->start = b->end - b->size;
    }
    /* Drop marks whose offset is no longer held. */
    while (b->mark_count > 1 && mark(b, 0)->offset < b->start) {
        b->mark_head = (b->mark_head + 1) % b->mark_cap;
        b->mark_count--;
    }
}

void
backlog_mark(struct backlog *b, uint64_t commands, long long db)
{
    struct backlog_mark *last = mark(b, b->mark_count - 1);

    if (last->offset == b->end) {
        last->commands = commands;
        last->db = db;
        return;
    }
    if (b->mark_count == b->mark_cap) {
        size_t cap = b->mark_cap * 2;
        struct backlog_mark *marks = td_malloc(cap * sizeof(*marks));
        size_t i;

        for (i = 0; i < b->mark_count; i++) {
            marks[i] = *mark(b, i);
        }
        free(b->marks);
        b->marks = marks;
        b->mark_cap = cap;
        b->mark_head = 0;
    }
    last = mark(b, b->mark_count);
    last->offset = b->end;
    last->commands = commands;
    last->db = db;
    b->mark_count++;
}

uint64_t
backlog_first(const struct backlog *b)
{
    uint64_t oldest = mark(b, 0)->offset;

    return oldest >= b->start ? oldest : b->end;
}

/* Index of the last mark with offset <= off, or -1. */
static long
mark_floor(const struct backlog *b, uint64_t off)
{
    long lo = 0;
    long hi = (long)b->mark_count - 1;
    long found = -1;

    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;

        if (mark(b, (size_t)mid)->offset <= off) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return found;
}

int
backlog_mark_at(const struct backlog *b, uint64_t offset,
                struct backlog_mark *m)
{
    long i = mark_floor(b, offset);

    if (i < 0 || mark(b, (size_t)i)->offset != offset ||
        offset < b->start) {
        return 0;
    }
    *m = *mark(b, (size_t)i);
    return 1;
}

int
backlog_next_mark(const struct backlog *b, uint64_t from, size_t max_bytes,
                  struct backlog_mark *m)
{
    long i = mark_floor(b, from + max_bytes);
    long j = mark_floor(b, from);

    if (i >= 0 && mark(b, (size_t)i)->offset > from) {
        *m = *mark(b, (size_t)i);
        return 1;
    }
    /* Nothing within max_bytes: the first mark after from. */
    j = j + 1;
    if (j < (long)b->mark_count) {
        *m = *mark(b, (size_t)j);
        return 1;
    }
    return 0;
}

int
backlog_iov(const struct backlog *b, uint64_t from, uint64_t to,
            struct iovec *iov)
{
    size_t pos;
    size_t len;
    size_t first;

    if (from < b->start || to > b->end || from > to) {
        return -1;
    }
    if (from == to) {
        return 0;
    }
    pos = (size_t)(from % b->size);
    len = (size_t)(to - from);
    first = TD_MIN(len, b->size - pos);
    iov[0].iov_base = b->ring + pos;
    iov[0].iov_len = first;
    if (first == len) {
        return 1;
    }
    iov[1].iov_base = b->ring;
    iov[1].iov_len = len - first;
    return 2;
}
