/*
 * pause.c -- CLIENT PAUSE; see pause.h.
 *
 * A held client is parked with CLIENT_HELD | CLIENT_PAUSED (dispatch
 * returns 0, its command is parsed again later); the timer that ends the
 * pause wakes the loop, whose before-sleep step releases held clients.
 */
#include "pause.h"

#include <ev.h>
#include <stdio.h>

#include "client.h"
#include "cmdtable.h"
#include "dispatch.h"
#include "log.h"
#include "server.h"
#include "shutdown.h"

enum pause_kind { PAUSE_NONE, PAUSE_WRITE, PAUSE_ALL };

static enum pause_kind kind = PAUSE_NONE;
static double until = 0;          /* ev_now() when it ends */
static ev_timer timer;
static int timer_ready = 0;

static void
end_pause(void)
{
    if (shutdown_draining()) {
        return;    /* clients stay held until tandem stops */
    }
    if (kind != PAUSE_NONE) {
        log_notice("Clients unpaused");
    }
    kind = PAUSE_NONE;
    until = 0;
    if (timer_ready) {
        ev_timer_stop(srv.loop, &timer);
    }
}

static void
timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    end_pause();
}

int
pause_in_effect(void)
{
    return kind != PAUSE_NONE;
}

int
pause_holds(const struct cmd *cmd, int may_write)
{
    if (kind == PAUSE_ALL) {
        return 1;
    }
    if (kind != PAUSE_WRITE) {
        return 0;
    }
    return may_write ||
           (cmd != NULL && (cmd->flags & (CMD_WRITE | CMD_MAY_REPLICATE)));
}

void
pause_command(struct client *c, size_t argc, const struct resp_arg *argv)
{
    enum pause_kind want = PAUSE_ALL;
    long long ms;
    double end;

    if (argc < 3) {
        dispatch_error(c, "wrong number of arguments for 'client|pause' "
                          "command");
        return;
    }
    if (argc > 4) {
        char msg[256];

        snprintf(msg, sizeof(msg), "unknown subcommand or wrong number of "
                 "arguments for '%.*s'. Try CLIENT HELP.",
                 (int)TD_MIN(argv[1].len, 128), argv[1].ptr);
        dispatch_error(c, msg);
        return;
    }
    if (!td_str2ll(argv[2].ptr, argv[2].len, &ms)) {
        dispatch_error(c, "timeout is not an integer or out of range");
        return;
    }
    if (ms < 0) {
        dispatch_error(c, "timeout is negative");
        return;
    }
    if (argc == 4) {
        if (td_slice_eq(argv[3].ptr, argv[3].len, "write")) {
            want = PAUSE_WRITE;
        } else if (!td_slice_eq(argv[3].ptr, argv[3].len, "all")) {
            dispatch_error(c, "CLIENT PAUSE mode must be WRITE or ALL");
            return;
        }
    }
    /* As Redis: a later end is kept, and ALL is not relaxed to WRITE. */
    end = ev_now(srv.loop) + (double)ms / 1000.0;
    if (end > until) {
        until = end;
    }
    if (kind != PAUSE_ALL) {
        kind = want;
    }
    if (!timer_ready) {
        ev_timer_init(&timer, timer_cb, 0.0, 0.0);
        timer_ready = 1;
    }
    ev_timer_stop(srv.loop, &timer);
    ev_timer_set(&timer, until - ev_now(srv.loop), 0.0);
    ev_timer_start(srv.loop, &timer);
    log_notice("Clients paused (%s) for %lld ms by C-%llu %s",
               kind == PAUSE_ALL ? "all" : "write", ms,
               (unsigned long long)c->id, c->addr);
    resp_add_simple(client_reply_buf(c), "OK");
}

void
pause_release_all(void)
{
    end_pause();
}

void
pause_hold_all(void)
{
    kind = PAUSE_ALL;
    until = 1e300;
    if (timer_ready) {
        ev_timer_stop(srv.loop, &timer);
    }
}

void
unpause_command(struct client *c, size_t argc)
{
    if (argc != 2) {
        dispatch_error(c, "wrong number of arguments for 'client|unpause' "
                          "command");
        return;
    }
    end_pause();
    resp_add_simple(client_reply_buf(c), "OK");
}
