/*
 * stream.c -- the replication stream: effects appended in pipe order,
 * SELECTs inserted where the database changes, chunk boundaries marked
 * once per loop iteration.
 */
#include "stream.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "resp.h"
#include "util.h"

static void
new_id(char *dst)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[20];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, raw, sizeof(raw)) : -1;
    int i;

    if (fd >= 0) {
        close(fd);
    }
    for (i = got < 0 ? 0 : (int)got; i < 20; i++) {
        raw[i] = (unsigned char)(td_ustime() >> (i % 8));
    }
    for (i = 0; i < 20; i++) {
        dst[i * 2] = hex[raw[i] >> 4];
        dst[i * 2 + 1] = hex[raw[i] & 15];
    }
    dst[40] = '\0';
}

void
stream_init(struct stream *s, size_t backlog_size)
{
    memset(s, 0, sizeof(*s));
    new_id(s->id);
    backlog_init(&s->backlog, backlog_size, 0, 0);
    /* Stream commands are rarely under 64 bytes: the digests cost about
     * an eighth of the backlog and cover the commands it holds. */
    expect_init(&s->expect, TD_MAX(backlog_size / 64, 4096), 0);
}

void
stream_new_id(struct stream *s)
{
    new_id(s->id);
}

void
stream_continue(struct stream *s, const char *id, uint64_t offset)
{
    size_t size = s->backlog.size;

    memcpy(s->id, id, 40);
    s->id[40] = '\0';
    backlog_free(&s->backlog);
    backlog_init(&s->backlog, size, offset, 0);
    s->db = 0;
    s->commands = 0;
    s->chunk_commands = 0;
    expect_reset(&s->expect, 0);
    s->origin_empty = 0;
}

void
stream_free(struct stream *s)
{
    backlog_free(&s->backlog);
    expect_free(&s->expect);
}

void
stream_append(struct stream *s, long long db, const char *p, size_t len,
              uint64_t ncmds, const uint64_t *expect)
{
    static uint64_t ok_digest;
    uint64_t i;

    if (ncmds == 0) {
        return;
    }
    if (db != s->db) {
        char select[64];
        char num[24];
        int n = snprintf(num, sizeof(num), "%lld", db);

        n = snprintf(select, sizeof(select), "*2\r\n$6\r\nSELECT\r\n$%d\r\n%s\r\n",
                     n, num);
        backlog_append(&s->backlog, select, (size_t)n);
        if (ok_digest == 0) {
            ok_digest = expect_digest("+OK\r\n", 5);
        }
        expect_push(&s->expect, ok_digest);
        s->db = db;
        s->commands++;
        s->chunk_commands++;
    }
    backlog_append(&s->backlog, p, len);
    for (i = 0; i < ncmds; i++) {
        expect_push(&s->expect, expect != NULL ? expect[i] : EXPECT_NO_ERROR);
    }
    s->commands += ncmds;
    s->chunk_commands += ncmds;
    if (s->on_append != NULL) {
        s->on_append(s->on_append_ctx, db, p, len);
    }
}

int
stream_close_chunk(struct stream *s)
{
    if (s->chunk_commands == 0) {
        return 0;
    }
    backlog_mark(&s->backlog, s->commands, s->db);
    s->chunk_commands = 0;
    return 1;
}
