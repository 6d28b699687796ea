/*
 * backlog.h -- the replication backlog (DESIGN I4, I7): one ring buffer
 * holding the most recent bytes of the stream, addressed by stream offset,
 * plus the marks where batches may begin and end.
 *
 *   stream offsets:  start                                  end
 *                      |<------------- held in ring -------->|
 *   ring:            [ ...older data overwritten... | held | free ]
 *   marks:             ^m1        ^m2        ^m3            ^m4
 *
 * A mark is a chunk boundary: whole commands (never half of a client
 * transaction) lie between two marks, and each mark records how many
 * commands the stream held and which database was selected there, so a
 * replica link can wrap any range between marks into a self-contained
 * MULTI ... EXEC batch. Replica links read the ring through iovecs; they
 * never copy it.
 */
#ifndef TD_BACKLOG_H
#define TD_BACKLOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct backlog_mark {
    uint64_t  offset;      /* stream offset of the boundary */
    uint64_t  commands;    /* commands in the stream before it */
    long long db;          /* database selected at the boundary */
};

struct backlog {
    char                *ring;
    size_t              size;        /* capacity in bytes */
    uint64_t            start;       /* oldest offset still held */
    uint64_t            end;         /* offset after the newest byte */
    struct backlog_mark *marks;      /* ring of marks, oldest first */
    size_t              mark_cap;
    size_t              mark_head;
    size_t              mark_count;
};

/* The ring starts empty at `offset`, with a first mark there. */
void backlog_init(struct backlog *b, size_t size, uint64_t offset,
                  long long db);
void backlog_free(struct backlog *b);

/* Appends stream bytes (whole commands). Older bytes fall out. */
void backlog_append(struct backlog *b, const char *p, size_t len);

/* Records a boundary at the current end (no-op if one is there). */
void backlog_mark(struct backlog *b, uint64_t commands, long long db);

/* The oldest offset a batch can start from (held and marked). */
uint64_t backlog_first(const struct backlog *b);

/* The mark exactly at offset. Returns 1 and fills m when found. */
int backlog_mark_at(const struct backlog *b, uint64_t offset,
                    struct backlog_mark *m);

/*
 * The end of the next batch starting at the mark `from`: the furthest
 * mark not more than max_bytes after it, or the first mark after it when
 * even that is further. Returns 0 when no mark lies after from.
 */
int backlog_next_mark(const struct backlog *b, uint64_t from,
                      size_t max_bytes, struct backlog_mark *m);

/* Fills at most 2 iovecs covering [from, to) in the ring. Returns the
 * count, or -1 when the range is not held. */
int backlog_iov(const struct backlog *b, uint64_t from, uint64_t to,
                struct iovec *iov);

#endif
