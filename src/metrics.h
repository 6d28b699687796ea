/*
 * metrics.h -- the Prometheus text endpoint on metrics-port (DESIGN
 * section 7), and the command latency histogram it exposes.
 *
 * Every other value it shows is read, when scraped, from where INFO reads
 * it: the counters of stats.h, the clients, the pipe, the stream and the
 * replica links. Only the histogram is kept here, fed by client.c.
 */
#ifndef TD_METRICS_H
#define TD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "util.h"

/* Where a timed request was sent: the route label of
 * tandem_command_duration_seconds. */
#define METRICS_ROUTE_LIST(X)                                             \
    X(NONE, "none")        /* not timed: tandem's replies, blocking */    \
    X(PRIMARY, "primary")  /* on the pipe */                              \
    X(REPLICA, "replica")  /* on a replica's read connection */

enum metrics_route {
#define X(id, name) METRICS_ROUTE_##id,
    METRICS_ROUTE_LIST(X)
#undef X
    METRICS_NROUTES
};

/* Upper bounds of the latency buckets, in seconds (then +Inf). */
#define METRICS_BUCKETS_LIST(X)                                           \
    X(0.0001) X(0.00025) X(0.0005) X(0.001) X(0.0025) X(0.005) X(0.01)    \
    X(0.025) X(0.05) X(0.1) X(0.25) X(0.5) X(1) X(2.5) X(5) X(10)

/* Opens the listener when metrics-port is set (nothing otherwise).
 * Fills err and returns TD_ERR when it cannot listen. */
td_status metrics_start(char *err, size_t errlen) TD_WUR;
/* Closes the listener and every metrics connection. */
void metrics_stop(void);

/*
 * The time of the batch of events being handled, for latencies: read
 * (td_nstime()) at the first call after a reset, then the same until the
 * next reset. Resets happen where a batch starts -- a client's query
 * bytes about to be parsed, a backend's reply bytes just read -- and
 * before the loop sleeps, so the commands of one pipelined read, or the
 * replies of one backend read, share one clock read instead of one each
 * (a clock read is ~30 ns, about as much as tandem spends per pipelined
 * command on the rest of a GET's path). A stamp is at most one batch's
 * processing old; after a sleep it is always fresh.
 */
int64_t metrics_clock(void);
void metrics_clock_reset(void);

/* A timed request's reply is available: adds the time from start_ns
 * (metrics_clock() at dispatch) to now (metrics_clock()) to route's
 * histogram. */
void metrics_observe(enum metrics_route route, int64_t start_ns);

/* Appends the exposition text (format 0.0.4) of every metric to b. */
void metrics_render(struct buf *b);

/*
 * Answers one HTTP request whose first len bytes are in req: returns 0
 * when its header is not complete yet and len < max, else the status
 * code, with the whole response (status line, header, body) appended to
 * out: 200 for GET or HEAD of /metrics (and of /, a pointer to it), 404
 * for other paths, 405 for other methods, 400 for a malformed request
 * line, 431 when max bytes hold no complete header.
 */
int metrics_answer(const char *req, size_t len, size_t max, struct buf *out);

#endif
