/*
 * monitor.h -- MONITOR, served by tandem from what it dispatches, in
 * Redis's line format:
 *
 *   +1700000000.123456 [0 127.0.0.1:52344] "SET" "k" "v"
 *
 * Every command that passed tandem's checks is shown once, whether
 * tandem answered it, a replica or the primary. As in Redis, AUTH and
 * HELLO ... AUTH are not shown.
 */
#ifndef TD_MONITOR_H
#define TD_MONITOR_H

#include <stddef.h>

#include "resp.h"

struct client;

/* MONITOR: c receives every command from now on. */
void monitor_start(struct client *c);
/* The client is going (or RESET). */
void monitor_stop(struct client *c);
/* A command of c about to run in db. */
void monitor_feed(const struct client *c, size_t argc,
                  const struct resp_arg *argv);

#endif
