/*
 * server.c -- the process: start-up, the once-per-iteration batching pass,
 * the one-second cron, signals and shutdown.
 *
 * Each loop iteration ends in before_sleep (an ev_prepare): the pipe's
 * gathered commands go out in as few writes as possible, every client with
 * replies gets them written, and clients closed during the iteration are
 * freed -- never while a callback further up the stack may still hold
 * them.
 */
#include "server.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "listener.h"
#include "log.h"
#include "replica.h"
#include "wait.h"

/* Descriptors tandem needs besides clients: listeners, the pipe, logs,
 * and later replica links. */
#define TD_RESERVED_FDS 64

struct server srv;

static void
before_sleep_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    /* Replica links may ask the pipe for key transfers and SCANs: they
     * go first, so that the pipe's write carries them too. */
    stream_close_chunk(&srv.stream);
    replica_flush_all();
    pipe_flush(&srv.pipe);
    wait_check_all();
    client_flush_all();
    client_reap();
}

static void
cron_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    client_cron();
    listener_resume_all();
}

/*
 * Makes room for maxclients connections plus tandem's own descriptors, as
 * Redis's adjustOpenFilesLimit() does; when the limit cannot be raised,
 * maxclients is lowered to what fits, with a warning.
 */
static void
adjust_open_files_limit(void)
{
    rlim_t want = (rlim_t)srv.cfg.maxclients + TD_RESERVED_FDS;
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want) {
        return;
    }
    rl.rlim_cur = want;
    if (rl.rlim_max < want) {
        rl.rlim_max = want;
    }
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
        return;
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur <= TD_RESERVED_FDS) {
        return;
    }
    log_warning("You requested maxclients of %lld requiring at least %llu "
                "max file descriptors. The open files limit is %llu: "
                "maxclients is now %llu.",
                srv.cfg.maxclients, (unsigned long long)want,
                (unsigned long long)rl.rlim_cur,
                (unsigned long long)(rl.rlim_cur - TD_RESERVED_FDS));
    srv.cfg.maxclients = (long long)(rl.rlim_cur - TD_RESERVED_FDS);
}

static void
signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    log_warning("Received %s scheduling shutdown...",
                w->signum == SIGINT ? "SIGINT" : "SIGTERM");
    srv.shutdown_asap = 1;
    ev_break(loop, EVBREAK_ALL);
}

static void
sighup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    /* As Redis, a hangup does not stop the proxy. Reloading the
     * configuration on SIGHUP comes with run-time replica changes. */
    log_notice("Received SIGHUP: configuration reload is not supported by "
               "this version of tandem yet; ignored");
}

static void
make_run_id(char *dst)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[20];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    size_t got = 0;
    int i;

    if (fd >= 0) {
        ssize_t n = read(fd, raw, sizeof(raw));

        got = n > 0 ? (size_t)n : 0;
        close(fd);
    }
    for (i = (int)got; i < 20; i++) {
        raw[i] = (unsigned char)(rand() ^ (int)td_ustime());
    }
    for (i = 0; i < 20; i++) {
        dst[i * 2] = hex[raw[i] >> 4];
        dst[i * 2 + 1] = hex[raw[i] & 15];
    }
    dst[40] = '\0';
}

td_status
server_start(char *err, size_t errlen)
{
    adjust_open_files_limit();
    make_run_id(srv.run_id);
    srv.start_time = td_ustime() / 1000000;
    if (listener_open_all(err, errlen) != TD_OK) {
        listener_close_all();
        return TD_ERR;
    }
    ev_prepare_init(&srv.before_sleep, before_sleep_cb);
    ev_prepare_start(srv.loop, &srv.before_sleep);
    ev_timer_init(&srv.cron, cron_cb, 1.0, 1.0);
    ev_timer_start(srv.loop, &srv.cron);
    ev_signal_init(&srv.sigterm, signal_cb, SIGTERM);
    ev_signal_start(srv.loop, &srv.sigterm);
    ev_signal_init(&srv.sigint, signal_cb, SIGINT);
    ev_signal_start(srv.loop, &srv.sigint);
    ev_signal_init(&srv.sighup, sighup_cb, SIGHUP);
    ev_signal_start(srv.loop, &srv.sighup);
    stream_init(&srv.stream, (size_t)srv.cfg.backlog_size);
    pipe_start(&srv.pipe);
    replica_start_all();
    return TD_OK;
}

void
server_stop(void)
{
    struct client *c;

    srv.shutdown_asap = 1;
    listener_close_all();
    /* Give clients what is already due, then close them. */
    pipe_stop(&srv.pipe);
    replica_stop_all();
    client_flush_all();
    for (c = srv.clients_head; c != NULL; c = c->next) {
        client_close(c, "tandem is shutting down");
    }
    client_reap();
    ev_prepare_stop(srv.loop, &srv.before_sleep);
    ev_timer_stop(srv.loop, &srv.cron);
    ev_signal_stop(srv.loop, &srv.sigterm);
    ev_signal_stop(srv.loop, &srv.sigint);
    ev_signal_stop(srv.loop, &srv.sighup);
    stream_free(&srv.stream);
    if (srv.cfg.pidfile != NULL) {
        unlink(srv.cfg.pidfile);
    }
}
