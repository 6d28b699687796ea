/*
 * stream.h -- the replication stream (DESIGN I3, I4): the ordered effects
 * of every write the primary applied, as RESP commands, with a 40-hex id
 * and byte offsets like Redis's master_replid and master_repl_offset.
 *
 *   pipe reply --> effects --> stream_append() --> backlog ring
 *                                 (SELECT when the db changes)
 *   before sleep: stream_close_chunk() marks a batch boundary
 */
#ifndef TD_STREAM_H
#define TD_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "backlog.h"
#include "expect.h"

struct stream {
    char           id[41];          /* changes when history is cut */
    struct backlog backlog;
    long long      db;              /* database selected at the end */
    uint64_t       commands;        /* commands appended so far */
    uint64_t       chunk_commands;  /* commands since the last mark */
    struct expect_ring expect;      /* what each command must answer */
    /* Called with each unit appended (seeds in progress filter it). */
    void           (*on_append)(void *ctx, long long db, const char *p,
                                size_t len);
    void           *on_append_ctx;
    int            origin_empty;    /* the primary held no keys at
                                     * offset 0 (I1: tandem is the sole
                                     * writer), so an empty replica can
                                     * replay the stream from its start */
};

void stream_init(struct stream *s, size_t backlog_size);
void stream_free(struct stream *s);

/* A new history from here (failover): a new id; offsets and the backlog
 * go on, so replicas linked now continue, and a stamp of the old id no
 * longer matches. */
void stream_new_id(struct stream *s);

/* Continues an earlier stream (a clean-shutdown mark): its id, from
 * offset, with an empty backlog there. Only before anything is
 * appended. */
void stream_continue(struct stream *s, const char *id, uint64_t offset);

/* Appends the effect of one write (or of one whole transaction): ncmds
 * RESP commands in p, executed in database db. expect holds what each
 * must answer on a replica (expect.h), or is NULL for "no error". */
void stream_append(struct stream *s, long long db, const char *p,
                   size_t len, uint64_t ncmds, const uint64_t *expect);

/* Marks a batch boundary at the current end, if anything was appended
 * since the last one. Returns 1 when a new boundary was made. */
int stream_close_chunk(struct stream *s);

static inline uint64_t
stream_offset(const struct stream *s)
{
    return s->backlog.end;
}

#endif
