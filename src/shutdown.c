/*
 * shutdown.c -- clean shutdown and its mark; see shutdown.h.
 *
 * Draining is checked from a short repeating timer: the pipe has nothing
 * in flight, and every online replica has acknowledged the stream's end
 * (the replicas' stamps then hold that offset). The mark is written only
 * after that, or when shutdown-timeout passes; a replica that was behind
 * then has a stamp that does not match the mark and is seeded later.
 */
#include "shutdown.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backlog.h"
#include "buf.h"
#include "listener.h"
#include "log.h"
#include "pause.h"
#include "pipe.h"
#include "replica.h"
#include "resp.h"
#include "server.h"
#include "stream.h"

#define MARK_KEY "tandem:shutdown"

static int draining;
static int mark_sent;
static double deadline;
static ev_timer poll_timer;
static ev_timer mark_timer;

int
shutdown_draining(void)
{
    return draining;
}

static void
stop_now(void)
{
    ev_timer_stop(srv.loop, &poll_timer);
    ev_timer_stop(srv.loop, &mark_timer);
    srv.shutdown_asap = 1;
    ev_break(srv.loop, EVBREAK_ALL);
}

static void
mark_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    log_warning("The primary did not answer the clean-shutdown mark in "
                "time: the next start seeds the replicas");
    stop_now();
}

static void
on_mark_written(void *ctx, const char *reply, size_t len)
{
    if (reply != NULL && reply[0] == '+') {
        log_notice("Clean shutdown: mark written on the primary (stream %s "
                   "at offset %llu, %d of %zu replicas there)",
                   srv.stream.id,
                   (unsigned long long)stream_offset(&srv.stream),
                   replica_count_acked(stream_offset(&srv.stream)),
                   replica_total());
    } else {
        log_warning("Clean shutdown: the primary refused the mark (%.*s): "
                    "the next start seeds the replicas",
                    reply != NULL ? (int)(len > 3 ? len - 3 : 0) : 4,
                    reply != NULL ? reply + 1 : "lost");
    }
    stop_now();
}

static void
write_mark(void)
{
    char value[128];
    struct resp_arg argv[3] = {{"SET", 3}, {MARK_KEY, sizeof(MARK_KEY) - 1},
                               {value, 0}};
    struct buf b;

    mark_sent = 1;
    argv[2].len = (size_t)snprintf(value, sizeof(value), "%s:%llu:%s",
                                   srv.stream.id,
                                   (unsigned long long)stream_offset(
                                       &srv.stream),
                                   srv.pipe.run_id);
    buf_init(&b);
    resp_add_command(&b, 3, argv);
    pipe_send_internal_db(&srv.pipe, srv.cfg.meta_db, buf_head(&b), b.len,
                          on_mark_written, NULL);
    buf_free(&b);
    pipe_flush(&srv.pipe);
    ev_timer_init(&mark_timer, mark_timeout_cb, 2.0, 0.0);
    ev_timer_start(srv.loop, &mark_timer);
}

static int
drained(void)
{
    uint64_t end = stream_offset(&srv.stream);

    return srv.pipe.slots.count == 0 &&
           replica_count_acked(end) >= replica_online_count();
}

static void
poll_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    int done = drained();

    if (mark_sent) {
        return;
    }
    if (!done && ev_now(loop) < deadline) {
        return;
    }
    if (!done) {
        log_warning("Clean shutdown: shutdown-timeout (%lld s) passed with "
                    "%d of %d online replicas at the stream's end",
                    srv.cfg.shutdown_timeout,
                    replica_count_acked(stream_offset(&srv.stream)),
                    replica_online_count());
    }
    /* Only a stream worth continuing gets a mark. */
    if (pipe_is_up(&srv.pipe) && replica_total() > 0) {
        write_mark();
    } else {
        stop_now();
    }
}

void
shutdown_begin(const char *signame)
{
    if (draining) {
        log_warning("Received %s again: stopping now, without a "
                    "clean-shutdown mark", signame);
        stop_now();
        return;
    }
    log_warning("Received %s scheduling shutdown...", signame);
    draining = 1;
    listener_close_all();
    pause_hold_all();
    deadline = ev_now(srv.loop) + (double)srv.cfg.shutdown_timeout;
    ev_timer_init(&poll_timer, poll_cb, 0.0, 0.01);
    ev_timer_start(srv.loop, &poll_timer);
}

/* ---- at start: the mark ---------------------------------------------- */

static void (*take_done)(void *);
static void *take_pipe;

/* "<id>:<offset>:<run_id>": continue that stream when the primary is the
 * process that received the mark and the stream here has not begun. */
static void
on_mark(void *ctx, const char *reply, size_t len)
{
    redisReply *r = reply != NULL ? resp_read_reply(reply, len) : NULL;

    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        char id[41];
        unsigned long long off;
        char run_id[41];

        if (sscanf(r->str, "%40[0-9a-f]:%llu:%40[0-9a-f]", id, &off,
                   run_id) != 3 || strlen(id) != 40) {
            log_warning("Ignoring a malformed clean-shutdown mark on the "
                        "primary (%.60s)", r->str);
        } else if (strcmp(run_id, srv.pipe.run_id) != 0) {
            log_warning("The clean-shutdown mark on the primary is from "
                        "another primary process (run_id %s, now %s): "
                        "replicas are seeded", run_id, srv.pipe.run_id);
        } else if (stream_offset(&srv.stream) != 0 ||
                   srv.stream.commands != 0) {
            log_notice("Ignoring a clean-shutdown mark: this stream has "
                       "begun");
        } else {
            stream_continue(&srv.stream, id, off);
            log_notice("Clean-shutdown mark found on the primary: "
                       "continuing stream %s at offset %llu", id, off);
        }
    } else if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        log_warning("Could not read the clean-shutdown mark on the "
                    "primary: %s", r->str);
    }
    if (r != NULL) {
        freeReplyObject(r);
    }
    if (reply != NULL) {
        take_done(take_pipe);
    }
}

void
shutdown_mark_take(void (*done)(void *pipe), void *pipe)
{
    static const char getdel[] =
        "*2\r\n$6\r\nGETDEL\r\n$15\r\n" MARK_KEY "\r\n";

    take_done = done;
    take_pipe = pipe;
    pipe_send_internal_db(&srv.pipe, srv.cfg.meta_db, getdel,
                          sizeof(getdel) - 1, on_mark, NULL);
}
