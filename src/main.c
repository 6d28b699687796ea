/*
 * main.c -- tandem's entry point: command line, process set-up (log,
 * daemonize, pid file, signals), then the event loop.
 *
 * Exit status: 0 after a clean shutdown (SIGTERM, SIGINT) or --help,
 * --version and a passing --check-config; 1 for a configuration error or
 * a listener that cannot be opened, before anything is served.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "server.h"
#include "tls.h"
#include "version.h"

static void
usage(FILE *out)
{
    fprintf(out,
            "Usage: tandem [/path/to/tandem.conf] [--directive value ...]\n"
            "       tandem --check-config [/path/to/tandem.conf] "
            "[--directive value ...]\n"
            "       tandem --version\n"
            "       tandem --help\n"
            "\n"
            "tandem is a replication proxy in front of plain redis-server "
            "processes.\n"
            "\n"
            "Examples:\n"
            "       tandem /etc/tandem/tandem.conf\n"
            "       tandem --port 6380 --primary 127.0.0.1:6379\n"
            "       tandem /etc/tandem/tandem.conf --loglevel verbose\n"
            "\n"
            "Directives and their defaults (see tandem(8) and "
            "conf/tandem.conf):\n");
    config_print_defaults();
}

static void
write_pidfile(const char *path)
{
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        log_warning("Failed to write PID file %s: %s", path, strerror(errno));
        return;
    }
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
}

int
main(int argc, char **argv)
{
    char err[CONFIG_ERR_LEN * 2];
    int check_only = 0;
    int first = 1;

    if (argc >= 2 && (strcmp(argv[1], "--version") == 0 ||
                      strcmp(argv[1], "-v") == 0)) {
        printf("tandem v=%s\n", TANDEM_VERSION);
        return 0;
    }
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
                      strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "--check-config") == 0) {
        check_only = 1;
        first = 2;
    }

    memset(&srv, 0, sizeof(srv));
    config_init(&srv.cfg);
    if (config_load_args(&srv.cfg, argc - first, argv + first, err,
                         sizeof(err)) != TD_OK ||
        config_validate(&srv.cfg, err, sizeof(err)) != TD_OK) {
        fprintf(stderr, "%s\n", err);
        config_free(&srv.cfg);
        return 1;
    }
    if (check_only) {
        /* Certificates and keys must load too. */
        if (tls_configure(&srv.cfg, err, sizeof(err)) != TD_OK) {
            fprintf(stderr, "tandem: TLS: %s\n", err);
            config_free(&srv.cfg);
            return 1;
        }
        tls_shutdown();
        printf("tandem: configuration OK\n");
        config_free(&srv.cfg);
        return 0;
    }

    log_set_level(srv.cfg.loglevel);
    if (log_open(srv.cfg.logfile, err, sizeof(err)) != TD_OK) {
        fprintf(stderr, "tandem: %s\n", err);
        config_free(&srv.cfg);
        return 1;
    }
    srv.executable = realpath(argv[0], NULL);
    srv.argc = argc - first;
    srv.argv = argv + first;
    signal(SIGPIPE, SIG_IGN);

    srv.loop = ev_default_loop(EVFLAG_AUTO);
    if (srv.loop == NULL) {
        fprintf(stderr, "tandem: can't initialise the event loop\n");
        return 1;
    }
    if (server_start(err, sizeof(err)) != TD_OK) {
        log_warning("%s", err);
        fprintf(stderr, "tandem: %s\n", err);
        return 1;
    }
    /* Daemonize only once the listeners are open, so that a failure is
     * still reported on the terminal with a non-zero exit status. */
    if (srv.cfg.daemonize) {
        if (daemon(1, 0) < 0) {
            log_warning("daemonize failed: %s", strerror(errno));
            return 1;
        }
        ev_loop_fork(srv.loop);
    }
    if (srv.cfg.pidfile != NULL) {
        write_pidfile(srv.cfg.pidfile);
    }
    log_notice("tandem %s started, pid %d, primary %s", TANDEM_VERSION,
               (int)getpid(), srv.cfg.primary.spec);

    ev_run(srv.loop, 0);

    server_stop();
    log_notice("tandem is now ready to exit, bye bye...");
    config_free(&srv.cfg);
    free(srv.executable);
    log_close();
    return 0;
}
