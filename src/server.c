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
#include "failover.h"
#include "guard.h"
#include "shutdown.h"

#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"
#include "client.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "effects.h"
#include "replica.h"
#include "scripts.h"
#include "tls.h"
#include "block.h"
#include "pubsub.h"
#include "verify.h"
#include "wait.h"

/* Descriptors tandem needs besides clients: listeners, the pipe, logs,
 * and later replica links. */
#define TD_RESERVED_FDS 64

struct server srv;

static void
before_sleep_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    /* Clients whose held command may now go are dispatched first, so
     * that everything below sends it in this same iteration. */
    client_release_held();
    block_retry_touched();
    /* Replica links may ask the pipe for key transfers and SCANs: they
     * go before the pipe's write, which then carries them too. */
    stream_close_chunk(&srv.stream);
    replica_flush_all();
    pipe_flush(&srv.pipe);
    wait_check_all();
    client_flush_all();
    client_reap();
    /* Whatever wakes the loop next is timed afresh. */
    metrics_clock_reset();
}

static void
cron_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    client_cron();
    listener_resume_all();
    guard_cron();
    failover_cron();
    verify_cron();
}

/*
 * Makes room for maxclients connections plus tandem's own descriptors, as
 * Redis's adjustOpenFilesLimit() does: raises the soft RLIMIT_NOFILE (and
 * the hard one, where the process may) to maxclients + TD_RESERVED_FDS.
 * When the limit cannot go that high, maxclients is lowered to what fits,
 * with a warning; when not even tandem's own descriptors fit, start-up
 * fails (TD_ERR, with the reason in err), as Redis refuses to start.
 */
static td_status
adjust_open_files_limit(char *err, size_t errlen)
{
    rlim_t want = (rlim_t)srv.cfg.maxclients + TD_RESERVED_FDS;
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want) {
        return TD_OK;
    }
    rl.rlim_cur = want;
    if (rl.rlim_max < want) {
        rl.rlim_max = want;
    }
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
        return TD_OK;
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur <= TD_RESERVED_FDS) {
        snprintf(err, errlen, "the open files limit of %llu is not enough "
                 "for tandem to start: raise it (ulimit -n) to at least %llu "
                 "(maxclients + %d)", (unsigned long long)rl.rlim_cur,
                 (unsigned long long)want, TD_RESERVED_FDS);
        return TD_ERR;
    }
    log_warning("You requested maxclients of %lld requiring at least %llu "
                "max file descriptors. The open files limit is %llu: "
                "maxclients is now %llu.",
                srv.cfg.maxclients, (unsigned long long)want,
                (unsigned long long)rl.rlim_cur,
                (unsigned long long)(rl.rlim_cur - TD_RESERVED_FDS));
    srv.cfg.maxclients = (long long)(rl.rlim_cur - TD_RESERVED_FDS);
    return TD_OK;
}

static void
signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    shutdown_begin(w->signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static int
str_changed(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

/* Directives that need a restart: a reload that changes one says so. */
static void
warn_restart_needed(const struct config *next)
{
    const struct config *c = &srv.cfg;
    const char *changed[16];
    int n = 0;
    size_t i;

    if (c->port != next->port) {
        changed[n++] = "port";
    }
    if (c->tls_port != next->tls_port) {
        changed[n++] = "tls-port";
    }
    if (c->tls_replication != next->tls_replication) {
        changed[n++] = "tls-replication";
    }
    if (c->nbind != next->nbind) {
        changed[n++] = "bind";
    } else {
        for (i = 0; i < c->nbind; i++) {
            if (strcmp(c->bind[i], next->bind[i]) != 0) {
                changed[n++] = "bind";
                break;
            }
        }
    }
    if (str_changed(c->unixsocket, next->unixsocket)) {
        changed[n++] = "unixsocket";
    }
    if (strcmp(c->primary.spec, next->primary.spec) != 0) {
        changed[n++] = "primary";
    }
    if (c->backlog_size != next->backlog_size) {
        changed[n++] = "backlog-size";
    }
    if (c->meta_db != next->meta_db) {
        changed[n++] = "meta-db";
    }
    if (str_changed(c->backend_user, next->backend_user) ||
        str_changed(c->backend_password, next->backend_password)) {
        changed[n++] = "backend-user/backend-password";
    }
    if (c->metrics_port != next->metrics_port ||
        str_changed(c->metrics_bind, next->metrics_bind)) {
        changed[n++] = "metrics-port/metrics-bind";
    }
    if (str_changed(c->logfile, next->logfile)) {
        changed[n++] = "logfile";
    }
    /* Writes in flight were sent with the probes of the running mode. */
    if (c->script_verbatim != next->script_verbatim) {
        changed[n++] = "script-replication";
    }
    for (i = 0; i < (size_t)n; i++) {
        log_warning("Reload: '%s' changed; it takes effect after a restart",
                    changed[i]);
    }
}

/* The TLS settings a reload applied (their contexts are already built)
 * move into the running configuration. */
static void
swap_tls_settings(struct config *live, struct config *next)
{
    char **fields[][2] = {
        {&live->tls_cert_file, &next->tls_cert_file},
        {&live->tls_key_file, &next->tls_key_file},
        {&live->tls_key_file_pass, &next->tls_key_file_pass},
        {&live->tls_client_cert_file, &next->tls_client_cert_file},
        {&live->tls_client_key_file, &next->tls_client_key_file},
        {&live->tls_client_key_file_pass, &next->tls_client_key_file_pass},
        {&live->tls_ca_cert_file, &next->tls_ca_cert_file},
        {&live->tls_ca_cert_dir, &next->tls_ca_cert_dir},
        {&live->tls_protocols, &next->tls_protocols},
        {&live->tls_ciphers, &next->tls_ciphers},
        {&live->tls_ciphersuites, &next->tls_ciphersuites},
    };
    size_t i;

    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        char *tmp = *fields[i][0];

        *fields[i][0] = *fields[i][1];
        *fields[i][1] = tmp;
    }
    live->tls_auth_clients = next->tls_auth_clients;
    live->tls_prefer_server_ciphers = next->tls_prefer_server_ciphers;
    live->tls_session_caching = next->tls_session_caching;
}

/*
 * The users a reload built replace the running ones. When they differ,
 * tandem does what Redis 7.0's ACL LOAD does: clients authenticated as
 * any user but default are disconnected (they authenticate again under
 * the new rules); clients of the default user stay, under its new rules.
 * When the users are the same, nobody is disconnected.
 */
static void
swap_users(struct config *live, struct config *next)
{
    struct acl_users *users = acl_users_build(next->users, next->nusers,
                                              next->requirepass);
    struct acl_line *lines = live->users;
    size_t nlines = live->nusers;
    struct client *c;
    size_t closed = 0;

    live->users = next->users;
    live->nusers = next->nusers;
    next->users = lines;
    next->nusers = nlines;
    if (acl_users_same(srv.users, users)) {
        acl_users_free(users);
        return;
    }
    for (c = srv.clients_head; c != NULL; c = c->next) {
        if (!acl_user_is_default(c->user)) {
            closed += !(c->flags & CLIENT_CLOSING);
            client_close(c, "its user was reloaded (as Redis's ACL LOAD)");
        }
        /* The old users are freed now: even a closing client points to
         * a live user. */
        c->user = acl_user_default(users);
    }
    acl_users_free(srv.users);
    srv.users = users;
    log_notice("Users reloaded: %zu user(s); %zu client(s) of other users "
               "than default disconnected", acl_users_count(users), closed);
}

/*
 * SIGHUP: reads the configuration again (file and command line), all or
 * nothing. Replicas are added and removed, and the client limits, the
 * password, the log level and the seed pace take effect at once.
 */
static void
reload(void)
{
    struct config next;
    char err[CONFIG_ERR_LEN * 2];
    struct backend_addr *old;
    size_t nold;

    config_init(&next);
    if (config_load_args(&next, srv.argc, srv.argv, err, sizeof(err)) !=
            TD_OK ||
        config_validate(&next, err, sizeof(err)) != TD_OK) {
        char *p;

        for (p = err; *p != '\0'; p++) {
            if (*p == '\n') {
                *p = ' ';
            }
        }
        log_warning("Reload failed; the running configuration stays:%s",
                    err);
        config_free(&next);
        return;
    }
    /* What needs a restart keeps its running value for the contexts:
     * the listeners and links in place still need theirs. */
    next.tls_port = srv.cfg.tls_port;
    next.tls_replication = srv.cfg.tls_replication;
    next.primary.tls = srv.cfg.primary.tls;
    /* New certificates first: if they do not load, nothing changes. */
    if (tls_configure(&next, err, sizeof(err)) != TD_OK) {
        log_warning("Reload failed; the running configuration stays "
                    "(TLS: %s)", err);
        config_free(&next);
        return;
    }
    failover_map_config(&next);
    warn_restart_needed(&next);
    swap_tls_settings(&srv.cfg, &next);
    replica_reconfigure(next.replicas, next.nreplicas);
    old = srv.cfg.replicas;
    nold = srv.cfg.nreplicas;
    srv.cfg.replicas = next.replicas;
    srv.cfg.nreplicas = next.nreplicas;
    next.replicas = old;
    next.nreplicas = nold;
    {
        char *pass = srv.cfg.requirepass;

        srv.cfg.requirepass = next.requirepass;
        next.requirepass = pass;
    }
    swap_users(&srv.cfg, &next);
    srv.cfg.loglevel = next.loglevel;
    log_set_level(next.loglevel);
    srv.cfg.maxclients = next.maxclients;
    srv.cfg.timeout = next.timeout;
    srv.cfg.client_query_buffer_limit = next.client_query_buffer_limit;
    srv.cfg.proto_max_bulk_len = next.proto_max_bulk_len;
    srv.cfg.obuf_hard = next.obuf_hard;
    srv.cfg.obuf_soft = next.obuf_soft;
    srv.cfg.obuf_soft_seconds = next.obuf_soft_seconds;
    srv.cfg.seed_max_keys_per_sec = next.seed_max_keys_per_sec;
    srv.cfg.verify_max_keys_per_sec = next.verify_max_keys_per_sec;
    srv.cfg.verify_interval = next.verify_interval;
    srv.cfg.read_policy = next.read_policy;
    srv.cfg.read_eventual = next.read_eventual;
    srv.cfg.max_replica_lag = next.max_replica_lag;
    srv.cfg.connect_timeout = next.connect_timeout;
    srv.cfg.failover_after = next.failover_after;
    srv.cfg.failover_timeout = next.failover_timeout;
    srv.cfg.shutdown_timeout = next.shutdown_timeout;
    config_free(&next);
    log_notice("Configuration reloaded: %zu replica(s)", srv.cfg.nreplicas);
}

static void
sighup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    log_notice("Received SIGHUP, reloading the configuration");
    reload();
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
    if (adjust_open_files_limit(err, errlen) != TD_OK) {
        return TD_ERR;
    }
    if (tls_configure(&srv.cfg, err, errlen) != TD_OK) {
        return TD_ERR;
    }
    srv.users = acl_users_build(srv.cfg.users, srv.cfg.nusers,
                                srv.cfg.requirepass);
    make_run_id(srv.run_id);
    srv.start_time = td_ustime() / 1000000;
    if (listener_open_all(err, errlen) != TD_OK) {
        listener_close_all();
        return TD_ERR;
    }
    if (metrics_start(err, errlen) != TD_OK) {
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
    effects_set_script_lookup(scripts_find);
    pipe_start(&srv.pipe);
    pubsub_start();
    replica_start_all();
    return TD_OK;
}

void
server_stop(void)
{
    struct client *c;

    srv.shutdown_asap = 1;
    listener_close_all();
    metrics_stop();
    /* Give clients what is already due, then close them. */
    verify_shutdown();
    pipe_stop(&srv.pipe);
    pubsub_stop();
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
    acl_users_free(srv.users);
    srv.users = NULL;
    scripts_clear();
    tls_shutdown();
    if (srv.cfg.pidfile != NULL) {
        unlink(srv.cfg.pidfile);
    }
}
