/*
 * multi.c -- MULTI/EXEC/DISCARD with Redis's replies and errors.
 */
#include "multi.h"

#include <stdio.h>

#include "client.h"
#include "dispatch.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "watch.h"

void
multi_reset(struct client *c)
{
    c->multi = 0;
    c->multi_dirty = 0;
    c->multi_writes = 0;
    c->multi_count = 0;
    buf_clear(&c->multi_buf);
    buf_shrink(&c->multi_buf, 64 * 1024);
}

void
multi_command(struct client *c)
{
    if (c->multi) {
        dispatch_error(c, "MULTI calls can not be nested");
        return;
    }
    c->multi = 1;
    c->multi_db = c->db;
    resp_add_simple(client_reply_buf(c), "OK");
}

void
multi_discard(struct client *c)
{
    if (!c->multi) {
        dispatch_error(c, "DISCARD without MULTI");
        return;
    }
    multi_reset(c);
    watch_clear(c);
    resp_add_simple(client_reply_buf(c), "OK");
}

void
multi_flag_error(struct client *c)
{
    c->multi_dirty = 1;
}

void
multi_queue(struct client *c, size_t argc, const struct resp_arg *argv,
            const char *raw, size_t rawlen, int is_inline)
{
    if (is_inline) {
        resp_add_command(&c->multi_buf, argc, argv);
    } else {
        buf_append(&c->multi_buf, raw, rawlen);
    }
    c->multi_count++;
    if (c->multi_buf.len > (size_t)srv.cfg.client_query_buffer_limit) {
        log_warning("Closing client id=%llu addr=%s: its transaction "
                    "exceeds client-query-buffer-limit",
                    (unsigned long long)c->id, c->addr);
        srv.stats.client_qbuf_limit_disconnections++;
        client_close(c, NULL);
        return;
    }
    resp_add_simple(client_reply_buf(c), "QUEUED");
}

void
multi_exec(struct client *c)
{
    char msg[512];
    struct req *r;

    if (!c->multi) {
        dispatch_error(c, "EXEC without MULTI");
        return;
    }
    if (c->multi_dirty) {
        multi_reset(c);
        watch_clear(c);
        dispatch_error(c, "-EXECABORT Transaction discarded because of "
                          "previous errors.");
        return;
    }
    if (c->watch_dirty) {
        /* A watched key was written: the transaction does not run (a
         * refused queued command wins, as in Redis). */
        multi_reset(c);
        watch_clear(c);
        buf_append(client_reply_buf(c), "*-1\r\n", 5);
        return;
    }
    if (c->multi_count == 0) {
        multi_reset(c);
        watch_clear(c);
        resp_add_array(client_reply_buf(c), 0);
        return;
    }
    if (!pipe_is_up(&srv.pipe)) {
        multi_reset(c);
        watch_clear(c);
        pipe_unavailable_error(&srv.pipe, msg, sizeof(msg));
        dispatch_error(c, msg);
        return;
    }
    watch_clear(c);
    watch_touch_queued(c->db, buf_head(&c->multi_buf), c->multi_buf.len);
    r = client_req_push(c);
    req_time(r, METRICS_ROUTE_PRIMARY);
    pipe_send_transaction(&srv.pipe, r, c->db, c->multi_db,
                          buf_head(&c->multi_buf), c->multi_buf.len,
                          c->multi_count);
    c->db = c->multi_db;
    multi_reset(c);
}
