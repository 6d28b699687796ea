/*
 * config.c -- the directive table and its loader.
 *
 * Every directive is one row: name, type, where it lives in struct config,
 * its default written as it would be in the file, and bounds. Defaults are
 * applied through the same parser as the file and the command line, so a
 * default can never be a value the loader would refuse.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>

#include "resp.h"
#include "version.h"

enum directive_type {
    D_INT,        /* integer within [min, max] */
    D_MEMORY,     /* byte count with Redis's units */
    D_BOOL,       /* yes|no */
    D_STRING,     /* one word; "" clears */
    D_OCTAL,      /* file mode */
    D_LOGLEVEL,   /* debug|verbose|notice|warning */
    D_BIND,       /* one or more addresses */
    D_PRIMARY,    /* a backend address */
    D_REPLICA,    /* a backend address, repeatable */
    D_OBUF,       /* client-output-buffer-limit <class> <hard> <soft> <sec> */
    D_SCRIPTREPL, /* effects|verbatim */
    D_READPOLICY, /* primary|replica|prefer-replica */
    D_READCONSISTENCY, /* session|eventual */
    D_USER,       /* user <name> <rule> ..., repeatable */
    D_TLSAUTH     /* yes|no|optional */
};

struct directive {
    const char          *name;
    enum directive_type type;
    size_t              offset;     /* into struct config */
    const char          *def;       /* default as written; NULL: none */
    long long           min;
    long long           max;
};

#define OFF(field) offsetof(struct config, field)

static const struct directive directives[] = {
    {"port", D_INT, OFF(port), "6380", 0, 65535},
    {"bind", D_BIND, OFF(bind), "127.0.0.1", 0, 0},
    {"unixsocket", D_STRING, OFF(unixsocket), "", 0, 0},
    {"unixsocketperm", D_OCTAL, OFF(unixsocketperm), "0", 0, 0777},
    {"tcp-backlog", D_INT, OFF(tcp_backlog), "511", 1, 65535},
    {"tcp-keepalive", D_INT, OFF(tcp_keepalive), "300", 0, 86400},
    {"primary", D_PRIMARY, OFF(primary), NULL, 0, 0},
    {"replica", D_REPLICA, OFF(replicas), NULL, 0, 0},
    {"backend-user", D_STRING, OFF(backend_user), "", 0, 0},
    {"backend-password", D_STRING, OFF(backend_password), "", 0, 0},
    {"connect-timeout", D_INT, OFF(connect_timeout), "2000", 1, 3600000},
    {"meta-db", D_INT, OFF(meta_db), "15", 0, 1023},
    {"backlog-size", D_MEMORY, OFF(backlog_size), "64mb", 16 * 1024,
     1LL << 40},
    {"seed-max-keys-per-sec", D_INT, OFF(seed_max_keys_per_sec), "0", 0,
     1000000000},
    {"verify-max-keys-per-sec", D_INT, OFF(verify_max_keys_per_sec), "1000",
     0, 1000000000},
    {"verify-interval", D_INT, OFF(verify_interval), "0", 0, 100000000},
    {"script-replication", D_SCRIPTREPL, OFF(script_verbatim), "effects", 0,
     0},
    {"read-policy", D_READPOLICY, OFF(read_policy), "replica", 0, 0},
    {"read-consistency", D_READCONSISTENCY, OFF(read_eventual), "session", 0,
     0},
    {"max-replica-lag", D_INT, OFF(max_replica_lag), "1000", 1, 3600000},
    {"requirepass", D_STRING, OFF(requirepass), "", 0, 0},
    {"user", D_USER, OFF(users), NULL, 0, 0},
    {"maxclients", D_INT, OFF(maxclients), "10000", 1, 1000000},
    {"timeout", D_INT, OFF(timeout), "0", 0, 100000000},
    {"client-query-buffer-limit", D_MEMORY, OFF(client_query_buffer_limit),
     "1gb", 1024 * 1024, 1LL << 40},
    {"proto-max-bulk-len", D_MEMORY, OFF(proto_max_bulk_len), "512mb",
     1024 * 1024, 1LL << 40},
    {"client-output-buffer-limit", D_OBUF, OFF(obuf_hard),
     "normal 256mb 64mb 60", 0, 0},
    {"tls-port", D_INT, OFF(tls_port), "0", 0, 65535},
    {"tls-cert-file", D_STRING, OFF(tls_cert_file), "", 0, 0},
    {"tls-key-file", D_STRING, OFF(tls_key_file), "", 0, 0},
    {"tls-key-file-pass", D_STRING, OFF(tls_key_file_pass), "", 0, 0},
    {"tls-client-cert-file", D_STRING, OFF(tls_client_cert_file), "", 0, 0},
    {"tls-client-key-file", D_STRING, OFF(tls_client_key_file), "", 0, 0},
    {"tls-client-key-file-pass", D_STRING, OFF(tls_client_key_file_pass), "",
     0, 0},
    {"tls-ca-cert-file", D_STRING, OFF(tls_ca_cert_file), "", 0, 0},
    {"tls-ca-cert-dir", D_STRING, OFF(tls_ca_cert_dir), "", 0, 0},
    {"tls-auth-clients", D_TLSAUTH, OFF(tls_auth_clients), "yes", 0, 0},
    {"tls-protocols", D_STRING, OFF(tls_protocols), "", 0, 0},
    {"tls-ciphers", D_STRING, OFF(tls_ciphers), "", 0, 0},
    {"tls-ciphersuites", D_STRING, OFF(tls_ciphersuites), "", 0, 0},
    {"tls-prefer-server-ciphers", D_BOOL, OFF(tls_prefer_server_ciphers),
     "no", 0, 0},
    {"tls-session-caching", D_BOOL, OFF(tls_session_caching), "yes", 0, 0},
    {"tls-replication", D_BOOL, OFF(tls_replication), "no", 0, 0},
    {"metrics-port", D_INT, OFF(metrics_port), "0", 0, 65535},
    {"metrics-bind", D_STRING, OFF(metrics_bind), "127.0.0.1", 0, 0},
    {"loglevel", D_LOGLEVEL, OFF(loglevel), "notice", 0, 0},
    {"logfile", D_STRING, OFF(logfile), "", 0, 0},
    {"pidfile", D_STRING, OFF(pidfile), "", 0, 0},
    {"daemonize", D_BOOL, OFF(daemonize), "no", 0, 0},
    {"shutdown-timeout", D_INT, OFF(shutdown_timeout), "10", 0, 3600},
    {"failover-after", D_INT, OFF(failover_after), "0", 0, 86400000},
    {"failover-timeout", D_INT, OFF(failover_timeout), "10000", 100,
     3600000},
};

#define NDIRECTIVES (sizeof(directives) / sizeof(directives[0]))

#define FIELD(c, d, type) ((type *)((char *)(c) + (d)->offset))

static const struct directive *
find_directive(const char *name)
{
    size_t i;

    for (i = 0; i < NDIRECTIVES; i++) {
        if (strcasecmp(directives[i].name, name) == 0) {
            return &directives[i];
        }
    }
    return NULL;
}

void
config_backend_free(struct backend_addr *a)
{
    free(a->host);
    free(a->user);
    free(a->password);
    free(a->spec);
    memset(a, 0, sizeof(*a));
}

td_status
config_parse_backend(const char *spec, struct backend_addr *a, char *err,
                     size_t errlen)
{
    const char *p = spec;
    const char *at;
    const char *colon;
    const char *hend;
    long long port;
    struct backend_addr out;
    int url = 0;

    memset(&out, 0, sizeof(out));
    if (strncasecmp(p, "rediss://", 9) == 0) {
        out.tls = 1;
        p += 9;
        url = 1;
    } else if (strncasecmp(p, "redis://", 8) == 0) {
        p += 8;
        url = 1;
    }
    /* redis[s]://[[user]:password@]host:port */
    if (url && (at = strrchr(p, '@')) != NULL) {
        const char *sep = memchr(p, ':', (size_t)(at - p));

        if (sep == NULL) {
            out.password = td_strndup(p, (size_t)(at - p));
        } else {
            if (sep > p) {
                out.user = td_strndup(p, (size_t)(sep - p));
            }
            out.password = td_strndup(sep + 1, (size_t)(at - sep - 1));
        }
        p = at + 1;
    }
    if (p[0] == '[') {
        hend = strchr(p, ']');
        if (hend == NULL || hend[1] != ':') {
            snprintf(err, errlen, "'%s' is not host:port", spec);
            goto fail;
        }
        out.host = td_strndup(p + 1, (size_t)(hend - p - 1));
        colon = hend + 1;
    } else {
        colon = strrchr(p, ':');
        if (colon == NULL || colon == p) {
            snprintf(err, errlen, "'%s' is not host:port", spec);
            goto fail;
        }
        out.host = td_strndup(p, (size_t)(colon - p));
    }
    if (strchr(colon + 1, '/') != NULL) {
        /* Tolerate a trailing "/" after the port, nothing more. */
        if (strcmp(strchr(colon + 1, '/'), "/") != 0) {
            snprintf(err, errlen, "'%s': paths are not supported", spec);
            goto fail;
        }
    }
    if (!td_str2ll(colon + 1, strcspn(colon + 1, "/"), &port) || port < 1 ||
        port > 65535) {
        snprintf(err, errlen, "'%s': port must be between 1 and 65535", spec);
        goto fail;
    }
    out.port = (int)port;
    out.spec = td_strdup(spec);
    *a = out;
    return TD_OK;

fail:
    config_backend_free(&out);
    return TD_ERR;
}

static td_status
parse_int(const struct directive *d, const char *word, long long *v,
          char *err, size_t errlen)
{
    int ok;

    if (d->type == D_MEMORY) {
        ok = td_memtoll(word, v);
    } else if (d->type == D_OCTAL) {
        char *end;

        errno = 0;
        *v = strtoll(word, &end, 8);
        ok = errno == 0 && *end == '\0' && end != word;
    } else {
        ok = td_str2ll(word, strlen(word), v);
    }
    if (!ok || *v < d->min || *v > d->max) {
        if (d->type == D_MEMORY) {
            snprintf(err, errlen,
                     "argument must be a memory value (like 64mb) between "
                     "%lld and %lld bytes", d->min, d->max);
        } else if (d->type == D_OCTAL) {
            snprintf(err, errlen, "argument must be an octal mode");
        } else {
            snprintf(err, errlen,
                     "argument must be an integer between %lld and %lld",
                     d->min, d->max);
        }
        return TD_ERR;
    }
    return TD_OK;
}

static td_status
apply_obuf(struct config *c, int argc, char **argv, char *err, size_t errlen)
{
    long long v[3];
    int i;

    if (argc != 5) {
        snprintf(err, errlen,
                 "wrong number of arguments: expected <class> <hard limit> "
                 "<soft limit> <soft seconds>");
        return TD_ERR;
    }
    if (strcasecmp(argv[1], "normal") != 0 &&
        strcasecmp(argv[1], "pubsub") != 0 &&
        strcasecmp(argv[1], "replica") != 0 &&
        strcasecmp(argv[1], "slave") != 0) {
        snprintf(err, errlen, "unrecognized client limit class '%s'",
                 argv[1]);
        return TD_ERR;
    }
    for (i = 0; i < 3; i++) {
        int ok = i < 2 ? td_memtoll(argv[2 + i], &v[i])
                       : td_str2ll(argv[4], strlen(argv[4]), &v[i]);

        if (!ok || v[i] < 0) {
            snprintf(err, errlen, "invalid %s '%s'",
                     i == 0 ? "hard limit" : i == 1 ? "soft limit"
                                                    : "soft seconds",
                     argv[2 + i]);
            return TD_ERR;
        }
    }
    /* tandem's clients are all of the normal class; the other classes are
     * accepted so that a Redis configuration line reads the same. */
    if (strcasecmp(argv[1], "normal") == 0) {
        c->obuf_hard = v[0];
        c->obuf_soft = v[1];
        c->obuf_soft_seconds = v[2];
    }
    return TD_OK;
}

/* user <name> <rule> ...: checked now (so --check-config and a reload
 * catch a bad rule), compiled into users by acl_users_build(). */
static td_status
apply_user(struct config *c, int argc, char **argv, char *err,
           size_t errlen)
{
    struct acl_line line;
    size_t i;

    if (argc < 2) {
        snprintf(err, errlen, "'user' needs a name, then its rules (as "
                 "ACL SETUSER takes them)");
        return TD_ERR;
    }
    line.words = argv + 1;
    line.nwords = (size_t)(argc - 1);
    if (acl_check_line(&line, err, errlen) != TD_OK) {
        return TD_ERR;
    }
    for (i = 0; i < c->nusers; i++) {
        if (strcmp(c->users[i].words[0], argv[1]) == 0) {
            snprintf(err, errlen, "Duplicate user '%s' found: a user is "
                     "declared by one 'user' line", argv[1]);
            return TD_ERR;
        }
    }
    c->users = td_realloc(c->users, (c->nusers + 1) * sizeof(*c->users));
    line.words = td_calloc(line.nwords, sizeof(*line.words));
    for (i = 0; i < line.nwords; i++) {
        line.words[i] = td_strdup(argv[i + 1]);
    }
    c->users[c->nusers++] = line;
    return TD_OK;
}

static void
set_string(char **field, const char *value)
{
    free(*field);
    *field = value[0] == '\0' ? NULL : td_strdup(value);
}

td_status
config_apply(struct config *c, int argc, char **argv, char *err,
             size_t errlen)
{
    const struct directive *d;
    long long v;
    int i;

    if (argc < 1) {
        snprintf(err, errlen, "empty directive");
        return TD_ERR;
    }
    d = find_directive(argv[0]);
    if (d == NULL) {
        snprintf(err, errlen, "Bad directive or wrong number of arguments: "
                 "unknown directive '%s'", argv[0]);
        return TD_ERR;
    }
    if (d->type == D_OBUF) {
        return apply_obuf(c, argc, argv, err, errlen);
    }
    if (d->type == D_USER) {
        return apply_user(c, argc, argv, err, errlen);
    }
    if (d->type == D_BIND) {
        if (argc < 2) {
            snprintf(err, errlen, "'bind' needs at least one address");
            return TD_ERR;
        }
        for (i = 0; (size_t)i < c->nbind; i++) {
            free(c->bind[i]);
        }
        free(c->bind);
        c->nbind = (size_t)(argc - 1);
        c->bind = td_calloc(c->nbind, sizeof(*c->bind));
        for (i = 1; i < argc; i++) {
            c->bind[i - 1] = td_strdup(argv[i]);
        }
        return TD_OK;
    }
    if (argc != 2) {
        snprintf(err, errlen, "Bad directive or wrong number of arguments: "
                 "'%s' takes exactly one argument", d->name);
        return TD_ERR;
    }
    switch (d->type) {
    case D_INT:
    case D_MEMORY:
    case D_OCTAL:
        if (parse_int(d, argv[1], &v, err, errlen) != TD_OK) {
            return TD_ERR;
        }
        *FIELD(c, d, long long) = v;
        return TD_OK;
    case D_BOOL:
        if (strcasecmp(argv[1], "yes") == 0) {
            *FIELD(c, d, int) = 1;
        } else if (strcasecmp(argv[1], "no") == 0) {
            *FIELD(c, d, int) = 0;
        } else {
            snprintf(err, errlen, "argument must be 'yes' or 'no'");
            return TD_ERR;
        }
        return TD_OK;
    case D_STRING:
        set_string(FIELD(c, d, char *), argv[1]);
        return TD_OK;
    case D_SCRIPTREPL:
        if (strcasecmp(argv[1], "effects") == 0) {
            c->script_verbatim = 0;
        } else if (strcasecmp(argv[1], "verbatim") == 0) {
            c->script_verbatim = 1;
        } else {
            snprintf(err, errlen, "argument must be 'effects' or 'verbatim'");
            return TD_ERR;
        }
        return TD_OK;
    case D_READPOLICY:
        if (strcasecmp(argv[1], "primary") == 0) {
            c->read_policy = READ_PRIMARY;
        } else if (strcasecmp(argv[1], "replica") == 0) {
            c->read_policy = READ_REPLICA;
        } else if (strcasecmp(argv[1], "prefer-replica") == 0) {
            c->read_policy = READ_PREFER_REPLICA;
        } else {
            snprintf(err, errlen, "argument must be one of primary, replica, "
                     "prefer-replica");
            return TD_ERR;
        }
        return TD_OK;
    case D_READCONSISTENCY:
        if (strcasecmp(argv[1], "session") == 0) {
            c->read_eventual = 0;
        } else if (strcasecmp(argv[1], "eventual") == 0) {
            c->read_eventual = 1;
        } else {
            snprintf(err, errlen, "argument must be 'session' or 'eventual'");
            return TD_ERR;
        }
        return TD_OK;
    case D_TLSAUTH:
        if (strcasecmp(argv[1], "yes") == 0) {
            c->tls_auth_clients = TLS_AUTH_YES;
        } else if (strcasecmp(argv[1], "no") == 0) {
            c->tls_auth_clients = TLS_AUTH_NO;
        } else if (strcasecmp(argv[1], "optional") == 0) {
            c->tls_auth_clients = TLS_AUTH_OPTIONAL;
        } else {
            snprintf(err, errlen, "argument must be yes, no or optional");
            return TD_ERR;
        }
        return TD_OK;
    case D_LOGLEVEL:
        if (!log_level_parse(argv[1], &c->loglevel)) {
            snprintf(err, errlen,
                     "argument must be one of debug, verbose, notice, "
                     "warning");
            return TD_ERR;
        }
        return TD_OK;
    case D_PRIMARY: {
        struct backend_addr a;

        if (config_parse_backend(argv[1], &a, err, errlen) != TD_OK) {
            return TD_ERR;
        }
        config_backend_free(&c->primary);
        c->primary = a;
        return TD_OK;
    }
    case D_REPLICA: {
        struct backend_addr a;

        if (config_parse_backend(argv[1], &a, err, errlen) != TD_OK) {
            return TD_ERR;
        }
        c->replicas = td_realloc(c->replicas,
                                 (c->nreplicas + 1) * sizeof(*c->replicas));
        c->replicas[c->nreplicas++] = a;
        return TD_OK;
    }
    default:
        break;
    }
    snprintf(err, errlen, "internal error: unhandled directive type");
    return TD_ERR;
}

void
config_init(struct config *c)
{
    char err[CONFIG_ERR_LEN];
    size_t i;

    memset(c, 0, sizeof(*c));
    for (i = 0; i < NDIRECTIVES; i++) {
        const struct directive *d = &directives[i];
        struct buf words;
        size_t *offs = NULL;
        size_t *lens = NULL;
        size_t cap = 0;
        char *argv[8];
        long n;
        long j;

        if (d->def == NULL) {
            continue;
        }
        buf_init(&words);
        n = resp_split_inline(d->def, strlen(d->def), &words, &offs, &lens,
                              &cap);
        argv[0] = (char *)d->name;
        if (n == 0) {
            /* An empty default: a one-word "" argument. */
            argv[1] = (char *)"";
            n = 1;
            TD_ASSERT(config_apply(c, 2, argv, err, sizeof(err)) == TD_OK);
        } else {
            char *copies[7];

            for (j = 0; j < n && j < 7; j++) {
                copies[j] = td_strndup(buf_head(&words) + offs[j], lens[j]);
                argv[j + 1] = copies[j];
            }
            if (config_apply(c, (int)n + 1, argv, err, sizeof(err)) !=
                TD_OK) {
                fprintf(stderr, "tandem: bad default for %s: %s\n", d->name,
                        err);
                abort();
            }
            for (j = 0; j < n && j < 7; j++) {
                free(copies[j]);
            }
        }
        free(offs);
        free(lens);
        buf_free(&words);
    }
}

void
config_free(struct config *c)
{
    size_t i;

    free(c->file);
    for (i = 0; i < c->nbind; i++) {
        free(c->bind[i]);
    }
    free(c->bind);
    free(c->unixsocket);
    config_backend_free(&c->primary);
    for (i = 0; i < c->nreplicas; i++) {
        config_backend_free(&c->replicas[i]);
    }
    free(c->replicas);
    free(c->backend_user);
    free(c->backend_password);
    free(c->requirepass);
    for (i = 0; i < c->nusers; i++) {
        size_t j;

        for (j = 0; j < c->users[i].nwords; j++) {
            free(c->users[i].words[j]);
        }
        free(c->users[i].words);
    }
    free(c->users);
    free(c->tls_cert_file);
    free(c->tls_key_file);
    free(c->tls_key_file_pass);
    free(c->tls_client_cert_file);
    free(c->tls_client_key_file);
    free(c->tls_client_key_file_pass);
    free(c->tls_ca_cert_file);
    free(c->tls_ca_cert_dir);
    free(c->tls_protocols);
    free(c->tls_ciphers);
    free(c->tls_ciphersuites);
    free(c->metrics_bind);
    free(c->logfile);
    free(c->pidfile);
    memset(c, 0, sizeof(*c));
}

/* Applies one line's words; on error, prefixes the origin. */
static td_status
apply_words(struct config *c, const char *origin, const char *line,
            size_t linelen, struct buf *words, size_t nwords, size_t *offs,
            size_t *lens, char *err, size_t errlen)
{
    char **argv = td_calloc(nwords, sizeof(*argv));
    char why[CONFIG_ERR_LEN];
    char shown[256];
    td_status rc;
    size_t i;

    for (i = 0; i < nwords; i++) {
        argv[i] = td_strndup(buf_head(words) + offs[i], lens[i]);
    }
    rc = config_apply(c, (int)nwords, argv, why, sizeof(why));
    if (rc != TD_OK) {
        snprintf(err, errlen,
                 "\n*** FATAL CONFIG ERROR (tandem %s) ***\n"
                 "Reading %s\n>>> '%s'\n%s",
                 TANDEM_VERSION, origin,
                 td_repr(shown, sizeof(shown), line, linelen, 200), why);
    }
    for (i = 0; i < nwords; i++) {
        free(argv[i]);
    }
    free(argv);
    return rc;
}

td_status
config_load_text(struct config *c, const char *text, const char *origin,
                 char *err, size_t errlen)
{
    const char *p = text;
    int lineno = 0;
    td_status rc = TD_OK;
    struct buf words;
    size_t *offs = NULL;
    size_t *lens = NULL;
    size_t cap = 0;

    buf_init(&words);
    while (*p != '\0' && rc == TD_OK) {
        const char *eol = strchr(p, '\n');
        size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);
        const char *s = p;
        char where[512];
        long n;

        lineno++;
        p = eol != NULL ? eol + 1 : p + len;
        while (len > 0 && (*s == ' ' || *s == '\t')) {
            s++;
            len--;
        }
        while (len > 0 && (s[len - 1] == '\r' || s[len - 1] == ' ' ||
                           s[len - 1] == '\t')) {
            len--;
        }
        if (len == 0 || s[0] == '#') {
            continue;
        }
        snprintf(where, sizeof(where), "%s, at line %d", origin, lineno);
        buf_clear(&words);
        n = resp_split_inline(s, len, &words, &offs, &lens, &cap);
        if (n < 0) {
            char shown[256];

            snprintf(err, errlen,
                     "\n*** FATAL CONFIG ERROR (tandem %s) ***\n"
                     "Reading %s\n>>> '%s'\nUnbalanced quotes in "
                     "configuration line",
                     TANDEM_VERSION, where,
                     td_repr(shown, sizeof(shown), s, len, 200));
            rc = TD_ERR;
            break;
        }
        rc = apply_words(c, where, s, len, &words, (size_t)n, offs, lens, err,
                         errlen);
    }
    free(offs);
    free(lens);
    buf_free(&words);
    return rc;
}

/* The directive a configuration line sets ("" for blanks and comments). */
static void
line_directive(const char *line, size_t len, char *out, size_t outlen)
{
    size_t i = 0;
    size_t n = 0;

    while (i < len && (line[i] == ' ' || line[i] == '\t')) {
        i++;
    }
    while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\r' &&
           line[i] != '#' && n + 1 < outlen) {
        char ch = line[i++];

        out[n++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    out[n] = '\0';
}

td_status
config_rewrite_topology(const char *path, const struct backend_addr *primary,
                        const struct backend_addr *replicas, size_t n,
                        char *err, size_t errlen)
{
    FILE *in = fopen(path, "r");
    FILE *out;
    char tmp[4096];
    char line[8192];
    int primary_done = 0;
    size_t i;

    if (in == NULL) {
        snprintf(err, errlen, "can't read %s: %s", path, strerror(errno));
        return TD_ERR;
    }
    snprintf(tmp, sizeof(tmp), "%s.tandem-tmp", path);
    out = fopen(tmp, "w");
    if (out == NULL) {
        snprintf(err, errlen, "can't write %s: %s", tmp, strerror(errno));
        fclose(in);
        return TD_ERR;
    }
    while (fgets(line, sizeof(line), in) != NULL) {
        char word[32];

        line_directive(line, strlen(line), word, sizeof(word));
        if (strcmp(word, "replica") == 0) {
            continue;
        }
        if (strcmp(word, "primary") != 0 || primary_done) {
            fputs(line, out);
            continue;
        }
        fprintf(out, "primary %s\n", primary->spec);
        for (i = 0; i < n; i++) {
            fprintf(out, "replica %s\n", replicas[i].spec);
        }
        primary_done = 1;
    }
    if (!primary_done) {
        fprintf(out, "primary %s\n", primary->spec);
        for (i = 0; i < n; i++) {
            fprintf(out, "replica %s\n", replicas[i].spec);
        }
    }
    fclose(in);
    if (fflush(out) != 0 || fsync(fileno(out)) != 0 || fclose(out) != 0) {
        snprintf(err, errlen, "can't write %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return TD_ERR;
    }
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "can't rename %s to %s: %s", tmp, path,
                 strerror(errno));
        unlink(tmp);
        return TD_ERR;
    }
    return TD_OK;
}

td_status
config_load_file(struct config *c, const char *path, char *err,
                 size_t errlen)
{
    FILE *f = fopen(path, "r");
    struct buf text;
    char chunk[4096];
    size_t n;
    char origin[512];
    td_status rc;

    if (f == NULL) {
        snprintf(err, errlen, "Fatal error, can't open config file '%s': %s",
                 path, strerror(errno));
        return TD_ERR;
    }
    buf_init(&text);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        buf_append(&text, chunk, n);
    }
    fclose(f);
    buf_append(&text, "", 1);
    snprintf(origin, sizeof(origin), "the configuration file %s", path);
    rc = config_load_text(c, buf_head(&text), origin, err, errlen);
    buf_free(&text);
    if (rc == TD_OK) {
        free(c->file);
        c->file = td_strdup(path);
    }
    return rc;
}

td_status
config_load_args(struct config *c, int argc, char **argv, char *err,
                 size_t errlen)
{
    int i = 0;

    if (argc > 0 && strncmp(argv[0], "--", 2) != 0) {
        if (config_load_file(c, argv[0], err, errlen) != TD_OK) {
            return TD_ERR;
        }
        i = 1;
    }
    while (i < argc) {
        char **words;
        int nwords = 0;
        int j;
        char where[128];
        char line[1024];
        size_t off = 0;
        td_status rc;
        char why[CONFIG_ERR_LEN];

        if (strncmp(argv[i], "--", 2) != 0 || argv[i][2] == '\0') {
            snprintf(err, errlen,
                     "\n*** FATAL CONFIG ERROR (tandem %s) ***\n"
                     "Reading the command line, argument %d\n>>> '%s'\n"
                     "expected --directive (a configuration file may only "
                     "come first)", TANDEM_VERSION, i + 1, argv[i]);
            return TD_ERR;
        }
        words = td_calloc((size_t)(argc - i), sizeof(*words));
        words[nwords++] = argv[i] + 2;
        for (j = i + 1; j < argc && strncmp(argv[j], "--", 2) != 0; j++) {
            words[nwords++] = argv[j];
        }
        /* `--unixsocket ""` and friends: an empty word clears. */
        for (j = 0; j < nwords && off < sizeof(line); j++) {
            off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%s",
                                    j > 0 ? " " : "", words[j]);
        }
        snprintf(where, sizeof(where), "the command line, argument %d (--%s)",
                 i + 1, words[0]);
        rc = config_apply(c, nwords, words, why, sizeof(why));
        free(words);
        if (rc != TD_OK) {
            snprintf(err, errlen,
                     "\n*** FATAL CONFIG ERROR (tandem %s) ***\n"
                     "Reading %s\n>>> '%s'\n%s",
                     TANDEM_VERSION, where, line, why);
            return TD_ERR;
        }
        i += nwords;
    }
    return TD_OK;
}

td_status
config_validate(const struct config *c, char *err, size_t errlen)
{
    if (c->primary.host == NULL) {
        snprintf(err, errlen,
                 "\n*** FATAL CONFIG ERROR (tandem %s) ***\n"
                 "no primary: set 'primary host:port' in the configuration "
                 "file or --primary host:port on the command line",
                 TANDEM_VERSION);
        return TD_ERR;
    }
    {
        size_t i;
        size_t j;

        for (i = 0; i < c->nreplicas; i++) {
            const struct backend_addr *r = &c->replicas[i];

            if (strcmp(r->host, c->primary.host) == 0 &&
                r->port == c->primary.port) {
                snprintf(err, errlen,
                         "\n*** FATAL CONFIG ERROR (tandem %s) ***\n"
                         "replica %s is the primary: the stream would be "
                         "applied to it twice", TANDEM_VERSION, r->spec);
                return TD_ERR;
            }
            for (j = 0; j < i; j++) {
                if (strcmp(r->host, c->replicas[j].host) == 0 &&
                    r->port == c->replicas[j].port) {
                    snprintf(err, errlen,
                             "\n*** FATAL CONFIG ERROR (tandem %s) ***\n"
                             "replica %s is listed twice: the stream would "
                             "be applied to it twice", TANDEM_VERSION,
                             r->spec);
                    return TD_ERR;
                }
            }
        }
    }
    if (c->tls_port != 0 && c->tls_port == c->port) {
        snprintf(err, errlen,
                 "\n*** FATAL CONFIG ERROR (tandem %s) ***\n"
                 "'tls-port' and 'port' are both %lld", TANDEM_VERSION,
                 c->port);
        return TD_ERR;
    }
    if (c->metrics_port != 0 &&
        (c->metrics_port == c->port || c->metrics_port == c->tls_port)) {
        snprintf(err, errlen,
                 "\n*** FATAL CONFIG ERROR (tandem %s) ***\n"
                 "'metrics-port' %lld is also the client port", TANDEM_VERSION,
                 c->metrics_port);
        return TD_ERR;
    }
    if (c->metrics_port != 0 && c->metrics_bind == NULL) {
        snprintf(err, errlen,
                 "\n*** FATAL CONFIG ERROR (tandem %s) ***\n"
                 "'metrics-port' is set but 'metrics-bind' is empty",
                 TANDEM_VERSION);
        return TD_ERR;
    }
    if (c->port == 0 && c->tls_port == 0 && c->unixsocket == NULL) {
        snprintf(err, errlen,
                 "\n*** FATAL CONFIG ERROR (tandem %s) ***\n"
                 "nothing to listen on: 'port' and 'tls-port' are 0 and no "
                 "'unixsocket' is set", TANDEM_VERSION);
        return TD_ERR;
    }
    return TD_OK;
}

void
config_print_defaults(void)
{
    size_t i;

    for (i = 0; i < NDIRECTIVES; i++) {
        const struct directive *d = &directives[i];

        if (d->def == NULL) {
            printf("  %-28s (no default%s)\n", d->name,
                   d->type == D_REPLICA || d->type == D_USER ? ", repeatable"
                                                             : ", required");
        } else {
            printf("  %-28s %s\n", d->name,
                   d->def[0] == '\0' ? "\"\"" : d->def);
        }
    }
}
