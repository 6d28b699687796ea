/*
 * server.h -- the process-wide state: the event loop, the configuration,
 * the clients, the pipe to the primary and the counters.
 *
 * One tandem process serves one fleet; like Redis's `server`, this state is
 * a single global that the modules on the request path share.
 */
#ifndef TD_SERVER_H
#define TD_SERVER_H

#include <ev.h>
#include <stdint.h>

#include "config.h"
#include "pipe.h"
#include "stats.h"
#include "stream.h"

struct acl_users;
struct client;
struct listener;

struct server {
    struct ev_loop  *loop;
    struct config   cfg;
    char            *executable;      /* argv[0], absolute when known */
    int             argc;             /* the command line after argv[0], */
    char            **argv;           /* read again on SIGHUP */
    char            run_id[41];       /* random, per process */
    int64_t         start_time;       /* unix seconds */

    struct listener *listeners;       /* NULL-terminated list */
    struct acl_users *users;          /* tandem's users (acl.c), built
                                       * from cfg's user lines and
                                       * requirepass */

    /* Clients, least recently active first (the idle-timeout order). */
    struct client   *clients_head;
    struct client   *clients_tail;
    uint64_t        nclients;
    uint64_t        next_client_id;
    struct client   *pending_writes;  /* clients with output to flush */
    struct client   *closing;         /* clients to free before sleeping */

    struct pipe     pipe;             /* the one connection to the primary */
    struct stream   stream;           /* applied writes, for the replicas */
    struct buf      pubsub_out;       /* to the subscriber connection */
    struct stats    stats;

    ev_prepare      before_sleep;     /* batching: flush, write, reap */
    ev_timer        cron;             /* once a second: timeouts, limits */
    ev_signal       sigterm;
    ev_signal       sigint;
    ev_signal       sighup;
    int             shutdown_asap;
};

extern struct server srv;

/* Sets srv up from a loaded configuration, opens listeners, starts the
 * pipe. Fills err and returns TD_ERR when a listener cannot be opened. */
td_status server_start(char *err, size_t errlen) TD_WUR;
/* Stops accepting, closes every client and the pipe, removes the unix
 * socket and the pid file. */
void server_stop(void);

#endif
