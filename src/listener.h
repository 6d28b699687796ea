/*
 * listener.h -- the sockets clients connect to: TCP on every `bind`
 * address and `port`, TLS on every `bind` address and `tls-port`, and
 * the optional `unixsocket`.
 */
#ifndef TD_LISTENER_H
#define TD_LISTENER_H

#include <ev.h>
#include <stddef.h>

#include "util.h"

struct listener {
    int             fd;
    int             is_unix;
    int             is_tls;         /* tls-port */
    int             paused;         /* out of descriptors for now */
    char            name[128];      /* for logs */
    ev_io           io;
    struct listener *next;
};

/* Opens every configured listener onto srv.listeners. */
td_status listener_open_all(char *err, size_t errlen) TD_WUR;
/* Restarts listeners paused for lack of descriptors (from the cron). */
void listener_resume_all(void);
/* Stops accepting and closes them (the unix socket file is removed). */
void listener_close_all(void);

#endif
