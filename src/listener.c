/*
 * listener.c -- accepting clients, with `maxclients` enforced as Redis
 * does: the connection is accepted, told "-ERR max number of clients
 * reached" and closed.
 */
#include "listener.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "log.h"
#include "net.h"
#include "server.h"

#define MAX_ACCEPTS_PER_CALL 1000

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct listener *l = w->data;
    int i;

    for (i = 0; i < MAX_ACCEPTS_PER_CALL; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                /* Out of descriptors: the pending connection would make a
                 * level-triggered watcher spin. Pause accepting; the cron
                 * resumes within a second. */
                log_warning("Accepting client connection: %s; pausing "
                            "accepts for a second (raise the open files "
                            "limit or lower maxclients)", strerror(errno));
                ev_io_stop(loop, &l->io);
                l->paused = 1;
            } else if (errno != EAGAIN && errno != EINTR &&
                       errno != ECONNABORTED) {
                log_warning("Accepting client connection: %s",
                            strerror(errno));
            }
            return;
        }
        srv.stats.connections_received++;
        if (srv.nclients >= (uint64_t)srv.cfg.maxclients) {
            static const char msg[] = "-ERR max number of clients reached\r\n";

            /* Best effort, as Redis: the socket is fresh and has room. */
            if (write(fd, msg, sizeof(msg) - 1) < 0) {
                /* nothing to do: the client is refused either way */
            }
            srv.stats.rejected_connections++;
            close(fd);
            continue;
        }
        if (!l->is_unix) {
            net_set_nodelay(fd);
            net_set_keepalive(fd, (int)srv.cfg.tcp_keepalive);
        }
        client_create(fd, l->is_unix, l->is_tls);
    }
}

static void
add_listener(int fd, int is_unix, int is_tls, const char *name)
{
    struct listener *l = td_calloc(1, sizeof(*l));

    l->fd = fd;
    l->is_unix = is_unix;
    l->is_tls = is_tls;
    snprintf(l->name, sizeof(l->name), "%s", name);
    ev_io_init(&l->io, accept_cb, fd, EV_READ);
    l->io.data = l;
    ev_io_start(srv.loop, &l->io);
    l->next = srv.listeners;
    srv.listeners = l;
}

/* Listens on every bind address at port. */
static td_status
open_tcp(long long port, int is_tls, char *err, size_t errlen)
{
    char name[160];
    size_t i;

    for (i = 0; i < srv.cfg.nbind; i++) {
        const char *addr = srv.cfg.bind[i];
        int fd = net_listen_tcp(addr, (int)port, (int)srv.cfg.tcp_backlog,
                                err, errlen);

        if (fd < 0) {
            /* "-addr" marks an optional address, as in Redis. */
            if (addr[0] == '-') {
                log_notice("Skipping optional bind address %s: %s",
                           addr + 1, err);
                continue;
            }
            return TD_ERR;
        }
        snprintf(name, sizeof(name), "%s:%lld", addr, port);
        add_listener(fd, 0, is_tls, name);
        log_notice("Listening on %s%s", name, is_tls ? " (TLS)" : "");
    }
    return TD_OK;
}

td_status
listener_open_all(char *err, size_t errlen)
{
    if (srv.cfg.port != 0 && open_tcp(srv.cfg.port, 0, err, errlen) != TD_OK) {
        return TD_ERR;
    }
    if (srv.cfg.tls_port != 0 &&
        open_tcp(srv.cfg.tls_port, 1, err, errlen) != TD_OK) {
        return TD_ERR;
    }
    if (srv.cfg.unixsocket != NULL) {
        int fd = net_listen_unix(srv.cfg.unixsocket,
                                 (int)srv.cfg.unixsocketperm,
                                 (int)srv.cfg.tcp_backlog, err, errlen);

        if (fd < 0) {
            return TD_ERR;
        }
        add_listener(fd, 1, 0, srv.cfg.unixsocket);
        log_notice("Listening on unix socket %s", srv.cfg.unixsocket);
    }
    if (srv.listeners == NULL) {
        snprintf(err, errlen, "no listener could be opened");
        return TD_ERR;
    }
    return TD_OK;
}

void
listener_resume_all(void)
{
    struct listener *l;

    for (l = srv.listeners; l != NULL; l = l->next) {
        if (l->paused) {
            l->paused = 0;
            ev_io_start(srv.loop, &l->io);
        }
    }
}

void
listener_close_all(void)
{
    while (srv.listeners != NULL) {
        struct listener *l = srv.listeners;

        srv.listeners = l->next;
        ev_io_stop(srv.loop, &l->io);
        close(l->fd);
        if (l->is_unix) {
            unlink(l->name);
        }
        free(l);
    }
}
