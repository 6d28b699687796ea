/*
 * failover.c -- a replica becomes the primary; see failover.h.
 *
 * The steps run from a short repeating timer, as the shutdown's drain
 * does: each looks at the pipe and the replica links as the event loop
 * left them.
 */
#include "failover.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "guard.h"
#include "log.h"
#include "lostwrites.h"
#include "pause.h"
#include "pipe.h"
#include "pubsub.h"
#include "replica.h"
#include "server.h"
#include "shutdown.h"
#include "stream.h"

enum phase { FO_IDLE, FO_DRAIN, FO_CATCH_UP };

static enum phase phase = FO_IDLE;
static char target_spec[256];
static char reason[300];
static double deadline;
static ev_timer poll_timer;
static int timer_ready;
static double last_up;             /* ev_now() when the pipe was up */
static uint64_t failovers;
static char last[600];             /* the last failover, for INFO */

int
failover_in_progress(void)
{
    return phase != FO_IDLE;
}

static struct backend_addr
addr_dup(const struct backend_addr *a)
{
    struct backend_addr c;

    c.host = td_strdup(a->host);
    c.port = a->port;
    c.user = a->user != NULL ? td_strdup(a->user) : NULL;
    c.password = a->password != NULL ? td_strdup(a->password) : NULL;
    c.spec = td_strdup(a->spec);
    c.tls = a->tls;
    return c;
}

static int
same_host_port(const struct backend_addr *a, const struct backend_addr *b)
{
    return strcmp(a->host, b->host) == 0 && a->port == b->port;
}

static void
finish(void)
{
    phase = FO_IDLE;
    reason[0] = '\0';    /* kept until here: switch_primary logs it */
    ev_timer_stop(srv.loop, &poll_timer);
    if (!shutdown_draining()) {
        pause_release_all();
    }
}

static void
give_up(const char *why)
{
    log_warning("Failover to %s given up: %s; tandem goes back to the "
                "primary %s", target_spec, why, srv.cfg.primary.spec);
    pipe_reattach(&srv.pipe);
    finish();
}

/* Makes the failover outlive a restart: the configuration file's primary
 * and replica lines are rewritten (as Sentinel rewrites its own). A
 * command line that names them overrides the file: its owner is told. */
static void
rewrite_config(void)
{
    char err[512];
    int i;

    for (i = 0; i < srv.argc; i++) {
        if (strcmp(srv.argv[i], "--primary") == 0 ||
            strcmp(srv.argv[i], "--replica") == 0) {
            log_warning("The command line names the primary or replicas: "
                        "change it to --primary %s before restarting "
                        "tandem", srv.cfg.primary.spec);
            return;
        }
    }
    if (srv.cfg.file == NULL) {
        log_warning("No configuration file to rewrite: restart tandem with "
                    "--primary %s", srv.cfg.primary.spec);
        return;
    }
    if (config_rewrite_topology(srv.cfg.file, &srv.cfg.primary,
                                srv.cfg.replicas, srv.cfg.nreplicas, err,
                                sizeof(err)) != TD_OK) {
        log_warning("Could not rewrite the configuration file after the "
                    "failover (%s): update primary and replica in %s "
                    "before restarting tandem", err, srv.cfg.file);
        return;
    }
    log_notice("Configuration file %s rewritten: primary %s, %zu "
               "replica(s)", srv.cfg.file, srv.cfg.primary.spec,
               srv.cfg.nreplicas);
}

/* The replica at target_spec becomes the primary; the old primary joins
 * the replicas. */
static void
switch_primary(const struct replica *target, uint64_t end)
{
    const struct backend_addr *t = replica_address(target);
    struct backend_addr old_primary = srv.cfg.primary;
    struct backend_addr *list;
    size_t n = 0;
    size_t i;
    char old_id[41];

    log_notice("Failover: %s becomes the primary at stream offset %llu "
               "(%s)", t->spec, (unsigned long long)end, reason);
    replica_drop_unsettled(end, "it was not at the stream's end when the "
                                "primary changed (failover)");
    /* The writes lost with the old primary's pipe stay with it. */
    lost_writes_forget();
    memcpy(old_id, srv.stream.id, sizeof(old_id));
    stream_new_id(&srv.stream);
    /* A no-op batch, so the replicas' stamps carry the new id at once
     * (a replica that reconnects with the old id is seeded). */
    stream_append(&srv.stream, srv.stream.db, "*1\r\n$4\r\nPING\r\n", 14,
                  1, NULL);

    list = td_calloc(srv.cfg.nreplicas + 1, sizeof(*list));
    for (i = 0; i < srv.cfg.nreplicas; i++) {
        if (!same_host_port(&srv.cfg.replicas[i], t)) {
            list[n++] = addr_dup(&srv.cfg.replicas[i]);
        }
    }
    srv.cfg.primary = addr_dup(t);
    list[n++] = old_primary;          /* seeded when it comes back */
    replica_reconfigure(list, n);
    for (i = 0; i < srv.cfg.nreplicas; i++) {
        config_backend_free(&srv.cfg.replicas[i]);
    }
    free(srv.cfg.replicas);
    srv.cfg.replicas = list;
    srv.cfg.nreplicas = n;

    guard_reset();
    pipe_retarget(&srv.pipe);
    pubsub_retarget();
    failovers++;
    snprintf(last, sizeof(last), "from %s to %s at offset %llu, stream %s "
             "(was %s): %s", old_primary.spec, srv.cfg.primary.spec,
             (unsigned long long)end, srv.stream.id, old_id, reason);
    log_warning("Failover done: %s", last);
    rewrite_config();
    finish();
}

static void
poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    uint64_t end = stream_offset(&srv.stream);
    struct replica *target;

    if (phase == FO_DRAIN) {
        if (srv.pipe.conn.state == CONN_UP && srv.pipe.slots.count > 0 &&
            ev_now(loop) < deadline) {
            return;
        }
        pipe_detach(&srv.pipe, "failover in progress");
        phase = FO_CATCH_UP;
        return;
    }
    target = replica_failover_target(target_spec, strlen(target_spec));
    if (target == NULL) {
        give_up("the replica is no longer online");
        return;
    }
    if (replica_all_settled(end)) {
        switch_primary(target, end);
    } else if (ev_now(loop) >= deadline) {
        if (replica_settled(target, end)) {
            switch_primary(target, end);
        } else {
            give_up("it did not reach the stream's end within "
                    "failover-timeout");
        }
    }
}

int
failover_start(const char *spec, size_t len, char *err, size_t errlen)
{
    struct replica *target;

    if (phase != FO_IDLE) {
        snprintf(err, errlen, "a failover is already in progress");
        return 0;
    }
    if (shutdown_draining()) {
        snprintf(err, errlen, "tandem is shutting down");
        return 0;
    }
    target = replica_failover_target(spec, len);
    if (target == NULL) {
        if (spec != NULL) {
            snprintf(err, errlen, "'%.*s' is not an online replica",
                     (int)TD_MIN(len, 128), spec);
        } else {
            snprintf(err, errlen, "no replica is online");
        }
        return 0;
    }
    snprintf(target_spec, sizeof(target_spec), "%s",
             replica_address(target)->spec);
    if (reason[0] == '\0' || spec != NULL) {
        snprintf(reason, sizeof(reason), "TANDEM FAILOVER");
    }
    log_warning("Failover to %s started (%s)", target_spec, reason);
    pause_hold_all();
    phase = FO_DRAIN;
    deadline = ev_now(srv.loop) + (double)srv.cfg.failover_timeout / 1000.0;
    if (!timer_ready) {
        ev_timer_init(&poll_timer, poll_cb, 0.0, 0.01);
        timer_ready = 1;
    }
    ev_timer_start(srv.loop, &poll_timer);
    return 1;
}

void
failover_cron(void)
{
    double now = ev_now(srv.loop);
    char err[300];

    if (pipe_is_up(&srv.pipe) || last_up == 0) {
        last_up = now;
        return;
    }
    if (srv.cfg.failover_after <= 0 || phase != FO_IDLE ||
        shutdown_draining()) {
        return;
    }
    if (guard_holding()) {
        snprintf(reason, sizeof(reason), "the primary %s came back without "
                 "its data", srv.cfg.primary.spec);
    } else if ((now - last_up) * 1000.0 >= (double)srv.cfg.failover_after) {
        snprintf(reason, sizeof(reason), "the primary %s was unreachable "
                 "for %lld ms", srv.cfg.primary.spec,
                 (long long)((now - last_up) * 1000.0));
    } else {
        return;
    }
    if (!failover_start(NULL, 0, err, sizeof(err))) {
        log_warning("Automatic failover not possible: %s", err);
        last_up = now;    /* tried: again after failover-after */
        reason[0] = '\0';
    }
}

void
failover_map_config(struct config *next)
{
    size_t i;

    if (failovers == 0 || same_host_port(&next->primary, &srv.cfg.primary)) {
        return;
    }
    for (i = 0; i < next->nreplicas; i++) {
        if (same_host_port(&next->replicas[i], &srv.cfg.primary)) {
            struct backend_addr swap = next->primary;

            next->primary = next->replicas[i];
            next->replicas[i] = swap;
            return;
        }
    }
    log_warning("The configuration names neither the primary %s nor it as "
                "a replica; the replicas are taken as listed",
                srv.cfg.primary.spec);
}

void
failover_info(struct buf *b)
{
    buf_printf(b,
               "failovers:%llu\r\nfailover_in_progress:%d\r\n"
               "last_failover:%s\r\n",
               (unsigned long long)failovers, phase != FO_IDLE, last);
}
