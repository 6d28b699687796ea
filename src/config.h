/*
 * config.h -- tandem's directives: one typed table read by one loader for
 * the configuration file and the command line alike.
 *
 *   tandem [FILE] [--directive value ...]
 *
 * As with redis-server, a command-line directive takes every word up to the
 * next "--" as its arguments, and is applied after the file. An error names
 * where it was found (file line or argument), the directive and why; the
 * caller prints it and exits 1 before anything listens.
 */
#ifndef TD_CONFIG_H
#define TD_CONFIG_H

#include <stddef.h>

#include "acl.h"
#include "log.h"
#include "util.h"

#define CONFIG_ERR_LEN 1024

/* A backend's address: host:port or redis://[user:password@]host:port. */
struct backend_addr {
    char *host;       /* host name or IP literal, brackets removed */
    int  port;
    char *user;       /* NULL: use backend-user */
    char *password;   /* NULL: use backend-password */
    char *spec;       /* as written, for logs and INFO */
    int  tls;         /* rediss:// */
};

enum tls_auth {
    TLS_AUTH_NO = 0,
    TLS_AUTH_YES,
    TLS_AUTH_OPTIONAL
};

enum read_policy {
    READ_PRIMARY = 0,       /* every read on the primary */
    READ_REPLICA,           /* on eligible replicas, else the primary */
    READ_PREFER_REPLICA     /* replicas and the primary share reads */
};

struct config {
    char                *file;                   /* config file or NULL */

    /* Listeners */
    long long           port;                    /* 0 disables TCP */
    char                **bind;                  /* addresses to listen on */
    size_t              nbind;
    char                *unixsocket;             /* NULL: none */
    long long           unixsocketperm;          /* 0: umask */
    long long           tcp_backlog;
    long long           tcp_keepalive;           /* seconds, 0 off */

    /* Backends */
    struct backend_addr primary;
    struct backend_addr *replicas;
    size_t              nreplicas;
    char                *backend_user;
    char                *backend_password;
    long long           connect_timeout;         /* ms */
    long long           meta_db;
    long long           backlog_size;            /* bytes of stream kept */
    long long           seed_max_keys_per_sec;   /* 0: unlimited */
    long long           verify_max_keys_per_sec; /* 0: unlimited */
    long long           verify_interval;         /* seconds; 0: off */
    int                 script_verbatim;         /* script-replication */
    int                 read_policy;             /* enum read_policy */
    int                 read_eventual;           /* read-consistency */
    long long           max_replica_lag;         /* ms */

    /* Clients */
    char                *requirepass;
    struct acl_line     *users;                  /* `user` lines */
    size_t              nusers;
    long long           maxclients;
    long long           timeout;                 /* seconds, 0 never */
    long long           client_query_buffer_limit;
    long long           proto_max_bulk_len;
    long long           obuf_hard;               /* 0: no hard limit */
    long long           obuf_soft;               /* 0: no soft limit */
    long long           obuf_soft_seconds;

    /* TLS (Redis's directive names) */
    long long           tls_port;                /* 0: no TLS listener */
    char                *tls_cert_file;
    char                *tls_key_file;
    char                *tls_key_file_pass;
    char                *tls_client_cert_file;   /* to backends */
    char                *tls_client_key_file;
    char                *tls_client_key_file_pass;
    char                *tls_ca_cert_file;
    char                *tls_ca_cert_dir;
    int                 tls_auth_clients;        /* enum tls_auth */
    char                *tls_protocols;
    char                *tls_ciphers;
    char                *tls_ciphersuites;
    int                 tls_prefer_server_ciphers;
    int                 tls_session_caching;
    int                 tls_replication;         /* TLS to every replica */

    /* Metrics (Prometheus text over HTTP, metrics.c) */
    long long           metrics_port;            /* 0: no endpoint */
    char                *metrics_bind;           /* one address */

    /* Process */
    enum log_level      loglevel;
    char                *logfile;                /* NULL or "": stdout */
    char                *pidfile;
    int                 daemonize;
    long long           shutdown_timeout;        /* s to wait for replicas */
    long long           failover_after;          /* ms unreachable; 0 off */
    long long           failover_timeout;        /* ms to catch up */
};

/* After a failover: rewrites the `primary` and `replica` lines of the
 * configuration file at path, keeping every other line (comments too).
 * The first primary line becomes `primary <primary>`, the replica lines
 * are dropped and the new ones written after it. Atomic (a temporary
 * file renamed over it). */
td_status config_rewrite_topology(const char *path,
                                  const struct backend_addr *primary,
                                  const struct backend_addr *replicas,
                                  size_t n, char *err, size_t errlen) TD_WUR;

/* Fills c with every directive's default. */
void config_init(struct config *c);
void config_free(struct config *c);

/* Applies one directive given as words (argv[0] the name). `where`
 * describes its origin for the error message. */
td_status config_apply(struct config *c, int argc, char **argv,
                       char *err, size_t errlen) TD_WUR;

/* Reads a configuration file's text, line by line. */
td_status config_load_text(struct config *c, const char *text,
                           const char *origin, char *err,
                           size_t errlen) TD_WUR;
td_status config_load_file(struct config *c, const char *path, char *err,
                           size_t errlen) TD_WUR;

/* Parses the command line after the program name: an optional FILE, then
 * --directive words. Handles nothing else (--help and --version belong to
 * main). */
td_status config_load_args(struct config *c, int argc, char **argv,
                           char *err, size_t errlen) TD_WUR;

/* Checks what no single directive can: a primary is set, and so on. */
td_status config_validate(const struct config *c, char *err,
                          size_t errlen) TD_WUR;

/* Parses a backend address. */
td_status config_parse_backend(const char *spec, struct backend_addr *a,
                               char *err, size_t errlen) TD_WUR;
void config_backend_free(struct backend_addr *a);

/* Writes every directive with its default, one per line, as the example
 * configuration lists them (used by --help and its test). */
void config_print_defaults(void);

#endif
