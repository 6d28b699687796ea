/*
 * builtin.c -- the commands tandem answers itself, with Redis 7's replies
 * and error texts. Each concerns the client's own connection, which tandem
 * emulates on top of the shared pipe, or tandem as a whole.
 */
#include "builtin.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acl.h"
#include "client.h"
#include "cmdtable.h"
#include "dispatch.h"
#include "info.h"
#include "failover.h"
#include "guard.h"
#include "multi.h"
#include "pause.h"
#include "replica.h"
#include "log.h"
#include "tls.h"
#include "server.h"
#include "version.h"
#include "verify.h"
#include "wait.h"
#include "watch.h"
#include "monitor.h"
#include "pubsub.h"
#include "block.h"

static void cmd_ping(struct client *, size_t, const struct resp_arg *,
                     const char *, size_t, int);
static void cmd_echo(struct client *, size_t, const struct resp_arg *,
                     const char *, size_t, int);
static void cmd_quit(struct client *, size_t, const struct resp_arg *,
                     const char *, size_t, int);
static void cmd_reset(struct client *, size_t, const struct resp_arg *,
                      const char *, size_t, int);
static void cmd_hello(struct client *, size_t, const struct resp_arg *,
                      const char *, size_t, int);
static void cmd_auth(struct client *, size_t, const struct resp_arg *,
                     const char *, size_t, int);
static void cmd_select(struct client *, size_t, const struct resp_arg *,
                       const char *, size_t, int);
static void cmd_client(struct client *, size_t, const struct resp_arg *,
                       const char *, size_t, int);
static void cmd_command(struct client *, size_t, const struct resp_arg *,
                        const char *, size_t, int);
static void cmd_info(struct client *, size_t, const struct resp_arg *,
                     const char *, size_t, int);
static void cmd_multi(struct client *, size_t, const struct resp_arg *,
                      const char *, size_t, int);
static void cmd_exec(struct client *, size_t, const struct resp_arg *,
                     const char *, size_t, int);
static void cmd_discard(struct client *, size_t, const struct resp_arg *,
                        const char *, size_t, int);
static void cmd_wait(struct client *, size_t, const struct resp_arg *,
                     const char *, size_t, int);
static void cmd_tandem(struct client *, size_t, const struct resp_arg *,
                       const char *, size_t, int);
static void cmd_watch(struct client *, size_t, const struct resp_arg *,
                      const char *, size_t, int);
static void cmd_monitor(struct client *, size_t, const struct resp_arg *,
                        const char *, size_t, int);
static void cmd_subscribe(struct client *, size_t, const struct resp_arg *,
                          const char *, size_t, int);
static void cmd_unsubscribe(struct client *, size_t,
                            const struct resp_arg *, const char *, size_t,
                            int);
static void cmd_pubsub(struct client *, size_t, const struct resp_arg *,
                       const char *, size_t, int);
static void cmd_unwatch(struct client *, size_t, const struct resp_arg *,
                        const char *, size_t, int);
static void cmd_acl(struct client *, size_t, const struct resp_arg *,
                    const char *, size_t, int);

static const struct builtin builtins[] = {
    {"ping", -1, BUILTIN_QUEUED | BUILTIN_SUBSCRIBED, cmd_ping},
    {"echo", 2, BUILTIN_QUEUED, cmd_echo},
    {"quit", -1, BUILTIN_NO_AUTH | BUILTIN_IN_MULTI | BUILTIN_SUBSCRIBED,
     cmd_quit},
    {"reset", 1, BUILTIN_NO_AUTH | BUILTIN_IN_MULTI | BUILTIN_SUBSCRIBED,
     cmd_reset},
    {"multi", 1, BUILTIN_IN_MULTI, cmd_multi},
    {"exec", 1, BUILTIN_IN_MULTI, cmd_exec},
    {"discard", 1, BUILTIN_IN_MULTI, cmd_discard},
    {"wait", 3, 0, cmd_wait},
    {"tandem", -2, 0, cmd_tandem},
    {"watch", -2, BUILTIN_IN_MULTI, cmd_watch},
    {"monitor", 1, 0, cmd_monitor},
    {"subscribe", -2, BUILTIN_SUBSCRIBED, cmd_subscribe},
    {"psubscribe", -2, BUILTIN_SUBSCRIBED, cmd_subscribe},
    {"ssubscribe", -2, BUILTIN_SUBSCRIBED, cmd_subscribe},
    {"unsubscribe", -1, BUILTIN_SUBSCRIBED, cmd_unsubscribe},
    {"punsubscribe", -1, BUILTIN_SUBSCRIBED, cmd_unsubscribe},
    {"sunsubscribe", -1, BUILTIN_SUBSCRIBED, cmd_unsubscribe},
    {"pubsub", -2, 0, cmd_pubsub},
    {"unwatch", 1, BUILTIN_QUEUED, cmd_unwatch},
    {"hello", -1, BUILTIN_NO_AUTH, cmd_hello},
    {"auth", -2, BUILTIN_NO_AUTH, cmd_auth},
    {"select", 2, BUILTIN_IN_MULTI, cmd_select},
    {"client", -2, 0, cmd_client},
    {"command", -1, 0, cmd_command},
    {"info", -1, 0, cmd_info},
    {"acl", -2, 0, cmd_acl},
};

const struct builtin *
builtin_find(const char *name, size_t len)
{
    size_t i;

    /* Every builtin name is 4 to 12 letters but ACL: GET, SET and DEL
     * cost one comparison. */
    TD_ASSERT(len > 0);
    if (len == 3) {
        return td_slice_eq(name, len, "acl")
                   ? &builtins[sizeof(builtins) / sizeof(builtins[0]) - 1]
                   : NULL;
    }
    if (len < 4 || len > 12) {
        return NULL;
    }
    for (i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
        if (td_slice_eq(name, len, builtins[i].name)) {
            return &builtins[i];
        }
    }
    return NULL;
}

static void
cmd_ping(struct client *c, size_t argc, const struct resp_arg *argv,
         const char *raw, size_t rawlen, int is_inline)
{
    if (argc > 2) {
        dispatch_error(c, "wrong number of arguments for 'ping' command");
    } else if (c->nsubs > 0) {
        /* In subscribed mode RESP2 PING answers ["pong", msg]. */
        struct buf *b = client_reply_buf(c);

        resp_add_array(b, 2);
        resp_add_bulk(b, "pong", 4);
        resp_add_bulk(b, argc == 2 ? argv[1].ptr : "",
                      argc == 2 ? argv[1].len : 0);
    } else if (argc == 2) {
        resp_add_bulk(client_reply_buf(c), argv[1].ptr, argv[1].len);
    } else {
        resp_add_simple(client_reply_buf(c), "PONG");
    }
}

static void
cmd_echo(struct client *c, size_t argc, const struct resp_arg *argv,
         const char *raw, size_t rawlen, int is_inline)
{
    resp_add_bulk(client_reply_buf(c), argv[1].ptr, argv[1].len);
}

static void
cmd_quit(struct client *c, size_t argc, const struct resp_arg *argv,
         const char *raw, size_t rawlen, int is_inline)
{
    resp_add_simple(client_reply_buf(c), "OK");
    c->flags |= CLIENT_CLOSE_AFTER_REPLY;
}

static void
cmd_reset(struct client *c, size_t argc, const struct resp_arg *argv,
          const char *raw, size_t rawlen, int is_inline)
{
    c->db = 0;
    free(c->name);
    c->name = NULL;
    /* Back to the default user, logged in only when it needs no
     * password (Redis's clearClientConnectionState). */
    c->user = acl_user_default(srv.users);
    c->authenticated = acl_user_open(c->user);
    /* Replies are on again, for this one too (unless it follows SKIP). */
    c->reply_off = 0;
    c->reply_skip = 0;
    c->muted &= ~MUTED_OFF;
    multi_reset(c);
    watch_clear(c);
    monitor_stop(c);
    pubsub_client_gone(c);
    resp_add_simple(client_reply_buf(c), "RESET");
}

/* Checks a user/password pair against tandem's own users (acl.c); no
 * user means the default user. Returns the user, or NULL when the pair is
 * wrong or the user is off. */
static const struct acl_user *
check_credentials(const struct resp_arg *user, const struct resp_arg *pass)
{
    const struct acl_user *u =
        user == NULL ? acl_user_default(srv.users)
                     : acl_user_find(srv.users, user->ptr, user->len);

    if (u == NULL || !acl_user_check_password(u, pass->ptr, pass->len)) {
        return NULL;
    }
    return u;
}

static void
authenticated(struct client *c, const struct acl_user *u)
{
    c->user = u;
    c->authenticated = 1;
    c->parser.unauth = 0;
}

static void
cmd_auth(struct client *c, size_t argc, const struct resp_arg *argv,
         const char *raw, size_t rawlen, int is_inline)
{
    const struct acl_user *u;

    if (argc > 3) {
        dispatch_error(c, "syntax error");
        return;
    }
    if (argc == 2 && acl_user_nopass(acl_user_default(srv.users))) {
        dispatch_error(c, "AUTH <password> called without any password "
                          "configured for the default user. Are you sure "
                          "your configuration is correct?");
        return;
    }
    u = check_credentials(argc == 3 ? &argv[1] : NULL, &argv[argc - 1]);
    if (u == NULL) {
        dispatch_error(c, "-WRONGPASS invalid username-password pair or "
                          "user is disabled.");
        return;
    }
    authenticated(c, u);
    resp_add_simple(client_reply_buf(c), "OK");
}

static int
valid_client_name(const char *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (p[i] < '!' || p[i] > '~') {
            return 0;
        }
    }
    return 1;
}

static void
set_name(struct client *c, const struct resp_arg *name)
{
    free(c->name);
    c->name = name->len == 0 ? NULL : td_strndup(name->ptr, name->len);
}

static const char *
server_version(void)
{
    return srv.pipe.redis_version[0] != '\0' ? srv.pipe.redis_version
                                             : "7.0.0";
}

static void
cmd_hello(struct client *c, size_t argc, const struct resp_arg *argv,
          const char *raw, size_t rawlen, int is_inline)
{
    const struct resp_arg *setname = NULL;
    long long ver = 2;
    size_t i = 1;
    struct buf *b;

    if (argc >= 2) {
        if (!td_str2ll(argv[1].ptr, argv[1].len, &ver)) {
            dispatch_error(c, "Protocol version is not an integer or out of "
                              "range");
            return;
        }
        i = 2;
        if (ver != 2) {
            /* RESP3 is not served end to end yet: clients fall back. */
            dispatch_error(c, "-NOPROTO unsupported protocol version");
            return;
        }
    }
    for (; i < argc; i++) {
        size_t left = argc - i - 1;

        if (td_slice_eq(argv[i].ptr, argv[i].len, "AUTH") && left >= 2) {
            const struct acl_user *u = check_credentials(&argv[i + 1],
                                                         &argv[i + 2]);

            if (u == NULL) {
                dispatch_error(c, "-WRONGPASS invalid username-password "
                                  "pair or user is disabled.");
                return;
            }
            authenticated(c, u);
            i += 2;
        } else if (td_slice_eq(argv[i].ptr, argv[i].len, "SETNAME") &&
                   left >= 1) {
            setname = &argv[i + 1];
            if (!valid_client_name(setname->ptr, setname->len)) {
                dispatch_error(c, "Client names cannot contain spaces, "
                                  "newlines or special characters.");
                return;
            }
            i++;
        } else {
            char msg[256];

            snprintf(msg, sizeof(msg), "Syntax error in HELLO option '%.*s'",
                     (int)TD_MIN(argv[i].len, 128), argv[i].ptr);
            dispatch_error(c, msg);
            return;
        }
    }
    if (!c->authenticated) {
        dispatch_error(c, "-NOAUTH HELLO must be called with the client "
                          "already authenticated, otherwise the HELLO "
                          "<proto> AUTH <user> <pass> option can be used to "
                          "authenticate the client and select the RESP "
                          "protocol version at the same time");
        return;
    }
    if (setname != NULL) {
        set_name(c, setname);
    }
    b = client_reply_buf(c);
    resp_add_array(b, 14);
    resp_add_bulk_str(b, "server");
    resp_add_bulk_str(b, "redis");
    resp_add_bulk_str(b, "version");
    resp_add_bulk_str(b, server_version());
    resp_add_bulk_str(b, "proto");
    resp_add_int(b, 2);
    resp_add_bulk_str(b, "id");
    resp_add_int(b, (long long)c->id);
    resp_add_bulk_str(b, "mode");
    resp_add_bulk_str(b, "standalone");
    resp_add_bulk_str(b, "role");
    resp_add_bulk_str(b, "master");
    resp_add_bulk_str(b, "modules");
    resp_add_array(b, 0);
}

/* Inside a transaction a refused SELECT dooms its EXEC, as in Redis. */
static void
select_error(struct client *c, const char *msg)
{
    if (c->multi) {
        multi_flag_error(c);
    }
    dispatch_error(c, msg);
}

static void
cmd_select(struct client *c, size_t argc, const struct resp_arg *argv,
           const char *raw, size_t rawlen, int is_inline)
{
    long long db;

    if (!td_str2ll(argv[1].ptr, argv[1].len, &db) || db > INT32_MAX ||
        db < INT32_MIN) {
        select_error(c, "value is not an integer or out of range");
        return;
    }
    if (db < 0 || db >= srv.pipe.databases) {
        select_error(c, "DB index is out of range");
        return;
    }
    if (db == srv.cfg.meta_db) {
        char msg[256];

        snprintf(msg, sizeof(msg),
                 "tandem: DB %lld is reserved for tandem's replication "
                 "metadata (meta-db)", db);
        select_error(c, msg);
        return;
    }
    if (c->multi) {
        /* Runs inside the transaction on the primary, and the client is
         * in that database after EXEC, as with Redis. */
        multi_queue(c, argc, argv, raw, rawlen, is_inline);
        c->multi_db = db;
        return;
    }
    c->db = db;
    resp_add_simple(client_reply_buf(c), "OK");
}

static const char *const client_help[] = {
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "LIST [TYPE <normal|master|replica|pubsub>] [ID <id> [<id> ...]]",
    "    Return information about client connections (tandem's clients).",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "KILL <ip:port>|ID <id>|ADDR <ip:port>|LADDR <ip:port>|SKIPME yes|no",
    "    Kill connections to tandem.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock a client blocked in a blocking command or WAIT.",
    "NO-EVICT (ON|OFF)",
    "    tandem never evicts clients: accepted for compatibility.",
    "HELP",
    "    Print this help.",
};

static void
client_list(struct client *c, size_t argc, const struct resp_arg *argv)
{
    struct buf text;
    struct client *o;
    long long *ids = NULL;
    size_t nids = 0;
    size_t i;

    if (argc > 2) {
        if (argc >= 4 && td_slice_eq(argv[2].ptr, argv[2].len, "TYPE") &&
            argc == 4) {
            /* Every tandem client is of the normal class. */
            if (!td_slice_eq(argv[3].ptr, argv[3].len, "normal")) {
                if (td_slice_eq(argv[3].ptr, argv[3].len, "master") ||
                    td_slice_eq(argv[3].ptr, argv[3].len, "replica") ||
                    td_slice_eq(argv[3].ptr, argv[3].len, "slave") ||
                    td_slice_eq(argv[3].ptr, argv[3].len, "pubsub")) {
                    resp_add_bulk(client_reply_buf(c), "", 0);
                } else {
                    char msg[256];

                    snprintf(msg, sizeof(msg), "Unknown client type '%.*s'",
                             (int)TD_MIN(argv[3].len, 64), argv[3].ptr);
                    dispatch_error(c, msg);
                }
                return;
            }
        } else if (argc >= 4 && td_slice_eq(argv[2].ptr, argv[2].len, "ID")) {
            ids = td_calloc(argc - 3, sizeof(*ids));
            for (i = 3; i < argc; i++) {
                if (!td_str2ll(argv[i].ptr, argv[i].len, &ids[nids]) ||
                    ids[nids] <= 0) {
                    free(ids);
                    dispatch_error(c, "Invalid client ID");
                    return;
                }
                nids++;
            }
        } else {
            dispatch_error(c, "syntax error");
            return;
        }
    }
    buf_init(&text);
    for (o = srv.clients_head; o != NULL; o = o->next) {
        int wanted = nids == 0;

        for (i = 0; i < nids && !wanted; i++) {
            wanted = (uint64_t)ids[i] == o->id;
        }
        if (wanted && !(o->flags & CLIENT_CLOSING)) {
            client_describe(o, &text);
        }
    }
    resp_add_bulk(client_reply_buf(c), text.data == NULL ? "" : buf_head(&text),
                  text.len);
    buf_free(&text);
    free(ids);
}

/* CLIENT KILL addr, or CLIENT KILL [ID id] [ADDR a] [LADDR a] [TYPE t]
 * [USER u] [SKIPME yes|no], over tandem's own clients. */
static void
client_kill(struct client *c, size_t argc, const struct resp_arg *argv)
{
    const struct resp_arg *addr = NULL;
    const struct resp_arg *laddr = NULL;
    long long id = 0;
    int skipme = 1;
    int typed_other = 0;
    const struct acl_user *user = NULL;
    struct client *o;
    long long killed = 0;
    size_t i;

    if (argc == 3) {
        for (o = srv.clients_head; o != NULL; o = o->next) {
            if (!(o->flags & CLIENT_CLOSING) &&
                td_slice_eq(argv[2].ptr, argv[2].len, o->addr)) {
                break;
            }
        }
        if (o == NULL) {
            dispatch_error(c, "No such client");
            return;
        }
        resp_add_simple(client_reply_buf(c), "OK");
        if (o == c) {
            c->flags |= CLIENT_CLOSE_AFTER_REPLY;
        } else {
            client_close(o, "CLIENT KILL");
        }
        return;
    }
    if (argc < 4 || argc % 2 != 0) {
        dispatch_error(c, "syntax error");
        return;
    }
    for (i = 2; i + 1 < argc; i += 2) {
        const struct resp_arg *k = &argv[i];
        const struct resp_arg *v = &argv[i + 1];

        if (td_slice_eq(k->ptr, k->len, "id")) {
            if (!td_str2ll(v->ptr, v->len, &id) || id <= 0) {
                dispatch_error(c, "client-id should be greater than 0");
                return;
            }
        } else if (td_slice_eq(k->ptr, k->len, "addr")) {
            addr = v;
        } else if (td_slice_eq(k->ptr, k->len, "laddr")) {
            laddr = v;
        } else if (td_slice_eq(k->ptr, k->len, "type")) {
            if (td_slice_eq(v->ptr, v->len, "normal")) {
                typed_other = 0;
            } else if (td_slice_eq(v->ptr, v->len, "master") ||
                       td_slice_eq(v->ptr, v->len, "replica") ||
                       td_slice_eq(v->ptr, v->len, "slave") ||
                       td_slice_eq(v->ptr, v->len, "pubsub")) {
                typed_other = 1;    /* tandem's clients are all normal */
            } else {
                char msg[128];

                snprintf(msg, sizeof(msg), "Unknown client type '%.*s'",
                         (int)TD_MIN(v->len, 64), v->ptr);
                dispatch_error(c, msg);
                return;
            }
        } else if (td_slice_eq(k->ptr, k->len, "user")) {
            user = acl_user_find(srv.users, v->ptr, v->len);
            if (user == NULL) {
                char msg[128];

                snprintf(msg, sizeof(msg), "No such user '%.*s'",
                         (int)TD_MIN(v->len, 64), v->ptr);
                dispatch_error(c, msg);
                return;
            }
        } else if (td_slice_eq(k->ptr, k->len, "skipme")) {
            if (td_slice_eq(v->ptr, v->len, "yes")) {
                skipme = 1;
            } else if (td_slice_eq(v->ptr, v->len, "no")) {
                skipme = 0;
            } else {
                dispatch_error(c, "syntax error");
                return;
            }
        } else {
            dispatch_error(c, "syntax error");
            return;
        }
    }
    for (o = srv.clients_head; o != NULL && !typed_other;
         o = o->next) {
        if ((o->flags & CLIENT_CLOSING) || (id != 0 && o->id != (uint64_t)id) ||
            (addr != NULL && !td_slice_eq(addr->ptr, addr->len, o->addr)) ||
            (laddr != NULL && !td_slice_eq(laddr->ptr, laddr->len, o->laddr)) ||
            (user != NULL && o->user != user) ||
            (skipme && o == c)) {
            continue;
        }
        killed++;
        if (o == c) {
            c->flags |= CLIENT_CLOSE_AFTER_REPLY;
        } else {
            client_close(o, "CLIENT KILL");
        }
    }
    resp_add_int(client_reply_buf(c), killed);
}

/* CLIENT UNBLOCK id [TIMEOUT|ERROR]: a client waiting in tandem (blocking
 * pop or WAIT) is answered now. */
static void
client_unblock_cmd(struct client *c, size_t argc, const struct resp_arg *argv)
{
    long long id;
    int error = 0;
    struct client *o;
    int done = 0;

    if (argc < 3 || argc > 4 || !td_str2ll(argv[2].ptr, argv[2].len, &id)) {
        dispatch_error(c, argc < 3 || argc > 4 ? "syntax error"
                                               : "value is not an integer "
                                                 "or out of range");
        return;
    }
    if (argc == 4) {
        if (td_slice_eq(argv[3].ptr, argv[3].len, "error")) {
            error = 1;
        } else if (!td_slice_eq(argv[3].ptr, argv[3].len, "timeout")) {
            dispatch_error(c, "CLIENT UNBLOCK reason should be TIMEOUT or "
                              "ERROR");
            return;
        }
    }
    for (o = srv.clients_head; o != NULL; o = o->next) {
        if (o->id == (uint64_t)id && !(o->flags & CLIENT_CLOSING)) {
            done = block_unblock(o, error) || wait_unblock(o, error);
            break;
        }
    }
    resp_add_int(client_reply_buf(c), done);
}

/* A subcommand that needs a part of tandem not built yet. */
static void
sub_not_supported(struct client *c, const char *container,
                  const struct resp_arg *sub)
{
    char msg[256];
    char upper[32];

    snprintf(msg, sizeof(msg), "tandem: %s %s is not supported by this "
             "version of tandem yet", container,
             td_upper(upper, sizeof(upper), sub->ptr, sub->len));
    dispatch_error(c, msg);
}

/* CLIENT REPLY ON|OFF|SKIP, as Redis: OFF and SKIP have no reply of
 * their own; SKIP drops the next command's. */
static void
client_reply(struct client *c, size_t argc, const struct resp_arg *argv)
{
    if (argc != 3) {
        dispatch_error(c, "wrong number of arguments for 'client|reply' "
                          "command");
    } else if (td_slice_eq(argv[2].ptr, argv[2].len, "on")) {
        c->reply_off = 0;
        c->reply_skip = 0;
        c->muted = 0;
        resp_add_simple(client_reply_buf(c), "OK");
    } else if (td_slice_eq(argv[2].ptr, argv[2].len, "off")) {
        c->reply_off = 1;
    } else if (td_slice_eq(argv[2].ptr, argv[2].len, "skip")) {
        if (!c->reply_off) {
            c->reply_skip = 1;
        }
    } else {
        dispatch_error(c, "syntax error");
    }
}

/* ---- subcommands ------------------------------------------------------ */

/* Which subcommand: SUB("list") in a function with `sub`. */
#define SUB(name) td_slice_eq(sub->ptr, sub->len, name)

/* Redis's error for a subcommand with the wrong number of arguments
 * ("client|id"), then return. */
#define ARITY(ok, fullname)                                                  \
    do {                                                                     \
        if (!(ok)) {                                                         \
            dispatch_error(c, "wrong number of arguments for '" fullname     \
                              "' command");                                  \
            return;                                                          \
        }                                                                    \
    } while (0)

/* A HELP subcommand's reply: one status line each. */
static void
reply_help(struct client *c, const char *const *lines, size_t n)
{
    struct buf *b = client_reply_buf(c);
    size_t i;

    resp_add_array(b, (long long)n);
    for (i = 0; i < n; i++) {
        resp_add_simple(b, lines[i]);
    }
}

/* Redis's error for an unknown subcommand of cmd ("CLIENT"). */
static void
unknown_sub(struct client *c, const char *cmd, const struct resp_arg *sub)
{
    char msg[256];

    snprintf(msg, sizeof(msg), "unknown subcommand '%.*s'. Try %s HELP.",
             (int)TD_MIN(sub->len, 128), sub->ptr, cmd);
    dispatch_error(c, msg);
}

static void
cmd_client(struct client *c, size_t argc, const struct resp_arg *argv,
           const char *raw, size_t rawlen, int is_inline)
{
    const struct resp_arg *sub = &argv[1];

    if (SUB("id")) {
        ARITY(argc == 2, "client|id");
        resp_add_int(client_reply_buf(c), (long long)c->id);
    } else if (SUB("getname")) {
        ARITY(argc == 2, "client|getname");
        if (c->name == NULL) {
            resp_add_null_bulk(client_reply_buf(c));
        } else {
            resp_add_bulk_str(client_reply_buf(c), c->name);
        }
    } else if (SUB("setname")) {
        ARITY(argc == 3, "client|setname");
        if (!valid_client_name(argv[2].ptr, argv[2].len)) {
            dispatch_error(c, "Client names cannot contain spaces, newlines "
                              "or special characters.");
            return;
        }
        set_name(c, &argv[2]);
        resp_add_simple(client_reply_buf(c), "OK");
    } else if (SUB("info")) {
        struct buf text;

        ARITY(argc == 2, "client|info");
        buf_init(&text);
        client_describe(c, &text);
        resp_add_bulk(client_reply_buf(c), buf_head(&text), text.len);
        buf_free(&text);
    } else if (SUB("list")) {
        client_list(c, argc, argv);
    } else if (SUB("help")) {
        ARITY(argc == 2, "client|help");
        reply_help(c, client_help, TD_ARRAY_LEN(client_help));
    } else if (SUB("kill")) {
        client_kill(c, argc, argv);
    } else if (SUB("unblock")) {
        client_unblock_cmd(c, argc, argv);
    } else if (SUB("no-evict")) {
        /* tandem never evicts clients: either setting holds. */
        if (argc != 3 || (!td_slice_eq(argv[2].ptr, argv[2].len, "on") &&
                          !td_slice_eq(argv[2].ptr, argv[2].len, "off"))) {
            dispatch_error(c, "syntax error");
            return;
        }
        resp_add_simple(client_reply_buf(c), "OK");
    } else if (SUB("reply")) {
        client_reply(c, argc, argv);
    } else if (SUB("pause")) {
        pause_command(c, argc, argv);
    } else if (SUB("unpause")) {
        unpause_command(c, argc);
    } else if (SUB("tracking") || SUB("trackinginfo") ||
               SUB("caching") || SUB("getredir") ||
               SUB("no-touch") || SUB("setinfo")) {
        sub_not_supported(c, "CLIENT", sub);
    } else {
        unknown_sub(c, "CLIENT", sub);
    }
}

/* COMMAND, COMMAND COUNT and COMMAND INFO come from the table tandem
 * learned; the other subcommands are stateless and go to the primary. */
static void
cmd_command(struct client *c, size_t argc, const struct resp_arg *argv,
            const char *raw, size_t rawlen, int is_inline)
{
    const struct cmdtable *t = &srv.pipe.table;
    struct buf *b;
    size_t i;

    if (!pipe_is_up(&srv.pipe)) {
        char msg[512];

        pipe_unavailable_error(&srv.pipe, msg, sizeof(msg));
        dispatch_error(c, msg);
        return;
    }
    if (argc == 1) {
        b = client_reply_buf(c);
        buf_append(b, t->raw, t->rawlen);
    } else if (td_slice_eq(argv[1].ptr, argv[1].len, "count")) {
        if (argc != 2) {
            dispatch_error(c, "wrong number of arguments for "
                              "'command|count' command");
            return;
        }
        resp_add_int(client_reply_buf(c), (long long)t->ncmds);
    } else if (td_slice_eq(argv[1].ptr, argv[1].len, "info")) {
        b = client_reply_buf(c);
        if (argc == 2) {
            buf_append(b, t->raw, t->rawlen);
            return;
        }
        resp_add_array(b, (long long)(argc - 2));
        for (i = 2; i < argc; i++) {
            const struct cmd *cmd = cmdtable_find(t, argv[i].ptr,
                                                  argv[i].len);

            if (cmd == NULL) {
                resp_add_null_bulk(b);
            } else {
                buf_append(b, cmd->raw, cmd->rawlen);
            }
        }
    } else {
        /* COMMAND DOCS, GETKEYS, LIST: stateless, no need to wait. */
        (void)dispatch_forward(c, NULL, argc, argv, raw, rawlen, is_inline);
    }
}

static void
cmd_info(struct client *c, size_t argc, const struct resp_arg *argv,
         const char *raw, size_t rawlen, int is_inline)
{
    struct buf text;

    buf_init(&text);
    info_generate(&text, argc - 1, argv + 1);
    resp_add_bulk(client_reply_buf(c), text.data == NULL ? "" : buf_head(&text),
                  text.len);
    buf_free(&text);
}

static void
cmd_multi(struct client *c, size_t argc, const struct resp_arg *argv,
          const char *raw, size_t rawlen, int is_inline)
{
    multi_command(c);
}

static void
cmd_exec(struct client *c, size_t argc, const struct resp_arg *argv,
         const char *raw, size_t rawlen, int is_inline)
{
    multi_exec(c);
}

static void
cmd_discard(struct client *c, size_t argc, const struct resp_arg *argv,
            const char *raw, size_t rawlen, int is_inline)
{
    multi_discard(c);
}

static void
cmd_wait(struct client *c, size_t argc, const struct resp_arg *argv,
         const char *raw, size_t rawlen, int is_inline)
{
    wait_command(c, argc, argv);
}

static const char *const tandem_help[] = {
    "TANDEM <subcommand> [<arg> ...]. Subcommands are:",
    "STATUS",
    "    The stream, the primary link and the replicas, in one text.",
    "REPLICAS",
    "    One line per replica: address, state, offsets, lag, seeding.",
    "RESYNC <host:port>",
    "    Seed the replica again from the primary (DUMP/RESTORE).",
    "RELOAD-TLS",
    "    Load the TLS certificates and keys again, for new connections.",
    "FAILOVER [<host:port>]",
    "    Make a replica the primary (by default the online one furthest",
    "    ahead): clients wait, every replica catches up, the stream goes",
    "    on under a new id, the old primary becomes a replica.",
    "CHECK [STATUS|STOP]",
    "    Start a verification pass: every key of the primary is compared",
    "    with every online replica, at verify-max-keys-per-sec, and what",
    "    differs is repaired by a key transfer. STATUS: its progress and",
    "    counts; STOP: end the pass in progress.",
    "ACCEPT-PRIMARY",
    "    Take a primary held for having come back without its data as it",
    "    is (replicas that lost writes are then seeded from it).",
    "HELP",
    "    Print this help.",
};

/* tandem's own admin command, on the client port like Redis's INFO. */
static void
cmd_tandem(struct client *c, size_t argc, const struct resp_arg *argv,
           const char *raw, size_t rawlen, int is_inline)
{
    const struct resp_arg *sub = &argv[1];

    if (SUB("replicas") && argc == 2) {
        replica_list(client_reply_buf(c));
    } else if (SUB("resync") && argc == 3) {
        if (!replica_resync(argv[2].ptr, argv[2].len)) {
            char msg[256];

            snprintf(msg, sizeof(msg), "tandem: no replica '%.*s'",
                     (int)TD_MIN(argv[2].len, 128), argv[2].ptr);
            dispatch_error(c, msg);
            return;
        }
        resp_add_simple(client_reply_buf(c), "OK");
    } else if (SUB("reload-tls") && argc == 2) {
        char err[512];

        if (tls_configure(&srv.cfg, err, sizeof(err)) != TD_OK) {
            char msg[600];

            log_warning("TANDEM RELOAD-TLS failed; the certificates in use "
                        "stay: %s", err);
            snprintf(msg, sizeof(msg), "tandem: TLS reload failed, the "
                     "certificates in use stay: %s", err);
            dispatch_error(c, msg);
            return;
        }
        log_notice("TLS certificates reloaded by TANDEM RELOAD-TLS");
        resp_add_simple(client_reply_buf(c), "OK");
    } else if (SUB("failover") && argc <= 3) {
        char err[300];

        if (!failover_start(argc == 3 ? argv[2].ptr : NULL,
                            argc == 3 ? argv[2].len : 0, err, sizeof(err))) {
            char msg[400];

            snprintf(msg, sizeof(msg), "tandem: can't fail over: %s", err);
            dispatch_error(c, msg);
            return;
        }
        resp_add_simple(client_reply_buf(c), "OK");
    } else if (SUB("accept-primary") &&
               argc == 2) {
        if (!guard_accept()) {
            dispatch_error(c, "tandem: the primary is not held");
            return;
        }
        resp_add_simple(client_reply_buf(c), "OK");
    } else if (SUB("check") && argc <= 3) {
        if (argc == 2) {
            char err[160];

            if (!verify_start(err, sizeof(err))) {
                char msg[256];

                snprintf(msg, sizeof(msg), "tandem: can't check: %s", err);
                dispatch_error(c, msg);
                return;
            }
            resp_add_simple(client_reply_buf(c), "OK");
        } else if (td_slice_eq(argv[2].ptr, argv[2].len, "status")) {
            struct buf text;

            buf_init(&text);
            verify_status(&text);
            resp_add_bulk(client_reply_buf(c), buf_head(&text), text.len);
            buf_free(&text);
        } else if (td_slice_eq(argv[2].ptr, argv[2].len, "stop")) {
            if (!verify_stop()) {
                dispatch_error(c, "tandem: no verification pass is running");
                return;
            }
            resp_add_simple(client_reply_buf(c), "OK");
        } else {
            dispatch_error(c, "tandem: TANDEM CHECK [STATUS|STOP]");
        }
    } else if (SUB("status") && argc == 2) {
        struct buf text;
        char line[512];

        buf_init(&text);
        snprintf(line, sizeof(line),
                 "stream_id:%s\r\nstream_offset:%llu\r\n"
                 "primary:%s\r\nprimary_link_status:%s\r\n"
                 "replicas:%zu\r\nreplicas_online:%d\r\n"
                 "connected_clients:%llu\r\n",
                 srv.stream.id,
                 (unsigned long long)stream_offset(&srv.stream),
                 srv.cfg.primary.spec, conn_state_name(srv.pipe.conn.state),
                 replica_total(), replica_online_count(),
                 (unsigned long long)srv.nclients);
        buf_append_str(&text, line);
        resp_add_bulk(client_reply_buf(c), buf_head(&text), text.len);
        buf_free(&text);
    } else if (SUB("help") && argc == 2) {
        reply_help(c, tandem_help, TD_ARRAY_LEN(tandem_help));
    } else {
        char msg[256];

        snprintf(msg, sizeof(msg),
                 "unknown subcommand or wrong number of arguments for "
                 "'%.*s'. Try TANDEM HELP.",
                 (int)TD_MIN(sub->len, 128), sub->ptr);
        dispatch_error(c, msg);
    }
}

static void
cmd_watch(struct client *c, size_t argc, const struct resp_arg *argv,
          const char *raw, size_t rawlen, int is_inline)
{
    if (c->multi) {
        /* As Redis 7: an error, and the transaction still runs. */
        dispatch_error(c, "WATCH inside MULTI is not allowed");
        return;
    }
    watch_keys(c, argc - 1, argv + 1);
    resp_add_simple(client_reply_buf(c), "OK");
}

static void
cmd_unwatch(struct client *c, size_t argc, const struct resp_arg *argv,
            const char *raw, size_t rawlen, int is_inline)
{
    watch_clear(c);
    resp_add_simple(client_reply_buf(c), "OK");
}

static void
cmd_monitor(struct client *c, size_t argc, const struct resp_arg *argv,
            const char *raw, size_t rawlen, int is_inline)
{
    resp_add_simple(client_reply_buf(c), "OK");
    monitor_start(c);
}

/* Which kind of subscription a (un)subscribe command is about. */
static enum pubsub_kind
pubsub_kind_of(const struct resp_arg *name)
{
    if (td_slice_eq(name->ptr, name->len, "psubscribe") ||
        td_slice_eq(name->ptr, name->len, "punsubscribe")) {
        return PS_PATTERN;
    }
    if (td_slice_eq(name->ptr, name->len, "ssubscribe") ||
        td_slice_eq(name->ptr, name->len, "sunsubscribe")) {
        return PS_SHARD;
    }
    return PS_CHANNEL;
}

static void
cmd_subscribe(struct client *c, size_t argc, const struct resp_arg *argv,
              const char *raw, size_t rawlen, int is_inline)
{
    if (c->multi) {
        multi_flag_error(c);
        dispatch_error(c, "Command not allowed inside a transaction");
        return;
    }
    pubsub_subscribe(c, pubsub_kind_of(&argv[0]), argc, argv);
}

static void
cmd_unsubscribe(struct client *c, size_t argc, const struct resp_arg *argv,
                const char *raw, size_t rawlen, int is_inline)
{
    pubsub_unsubscribe(c, pubsub_kind_of(&argv[0]), argc, argv);
}

static void
cmd_pubsub(struct client *c, size_t argc, const struct resp_arg *argv,
           const char *raw, size_t rawlen, int is_inline)
{
    pubsub_command(c, argc, argv);
}

static const char *const acl_help[] = {
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "LIST",
    "    Show users details in config file format.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "SETUSER, DELUSER, LOAD, SAVE",
    "    Refused: tandem's users come from its configuration ('user' lines),",
    "    reloaded on SIGHUP.",
    "HELP",
    "    Print this help.",
};

/* Appends the names of the commands and subcommands in category cat, as
 * Redis's ACL CAT <category> lists them (a subcommand by its own
 * categories). Returns how many. */
static long
acl_cat_commands(struct buf *b, const struct cmd *cmds, size_t n, int cat)
{
    long count = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        const struct cmd *cmd = &cmds[i];

        if (cmd->flags & CMD_MODULE) {
            continue;
        }
        if (cmd->categories & (1u << cat)) {
            resp_add_bulk_str(b, cmd->name);
            count++;
        }
        count += acl_cat_commands(b, cmd->subs, cmd->nsubs, cat);
    }
    return count;
}

static void
acl_cat(struct client *c, size_t argc, const struct resp_arg *argv)
{
    struct buf *b = client_reply_buf(c);
    struct buf names;
    long count;
    int cat;

    if (argc == 2) {
        resp_add_array(b, CMD_CAT_COUNT);
        for (cat = 0; cat < CMD_CAT_COUNT; cat++) {
            resp_add_bulk_str(b, cmd_category_name(cat));
        }
        return;
    }
    cat = cmd_category_lookup(argv[2].ptr, argv[2].len);
    if (cat < 0) {
        char msg[160];

        snprintf(msg, sizeof(msg), "Unknown category '%.*s'",
                 (int)TD_MIN(argv[2].len, 64), argv[2].ptr);
        dispatch_error(c, msg);
        return;
    }
    buf_init(&names);
    count = acl_cat_commands(&names, srv.pipe.table.cmds,
                             srv.pipe.table.ncmds, cat);
    resp_add_array(b, count);
    buf_append(b, buf_head(&names), names.len);
    buf_free(&names);
}

/* ACL GENPASS [bits]: random hex, as Redis's (from OpenSSL's generator). */
static void
acl_genpass(struct client *c, size_t argc, const struct resp_arg *argv)
{
    long long bits = 256;
    unsigned char raw[512];
    char hex[1025];
    size_t chars;
    size_t i;

    if (argc == 3 && (!td_str2ll(argv[2].ptr, argv[2].len, &bits) ||
                      bits <= 0 || bits > 4096)) {
        dispatch_error(c, "ACL GENPASS argument must be the number of bits "
                          "for the output password, a positive number up "
                          "to 4096");
        return;
    }
    chars = (size_t)(bits + 3) / 4;
    if (RAND_bytes(raw, (int)((chars + 1) / 2)) != 1) {
        dispatch_error(c, "tandem: no random bytes available");
        return;
    }
    for (i = 0; i < (chars + 1) / 2; i++) {
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    }
    hex[chars] = '\0';
    resp_add_bulk(client_reply_buf(c), hex, chars);
}

/* ACL: tandem's users (acl.c). They come from the configuration, so the
 * subcommands that would change them are refused with where to go. */
static void
cmd_acl(struct client *c, size_t argc, const struct resp_arg *argv,
        const char *raw, size_t rawlen, int is_inline)
{
    const struct resp_arg *sub = &argv[1];
    struct buf *b;
    size_t i;

    if (SUB("whoami")) {
        ARITY(argc == 2, "acl|whoami");
        resp_add_bulk_str(client_reply_buf(c), acl_user_name(c->user));
    } else if (SUB("users")) {
        ARITY(argc == 2, "acl|users");
        b = client_reply_buf(c);
        resp_add_array(b, (long long)acl_users_count(srv.users));
        for (i = 0; i < acl_users_count(srv.users); i++) {
            resp_add_bulk_str(b, acl_user_name(acl_users_at(srv.users, i)));
        }
    } else if (SUB("list")) {
        ARITY(argc == 2, "acl|list");
        b = client_reply_buf(c);
        resp_add_array(b, (long long)acl_users_count(srv.users));
        for (i = 0; i < acl_users_count(srv.users); i++) {
            struct buf line;

            buf_init(&line);
            acl_user_describe(acl_users_at(srv.users, i), &line);
            resp_add_bulk(b, buf_head(&line), line.len);
            buf_free(&line);
        }
    } else if (SUB("cat")) {
        ARITY(argc == 2 || argc == 3, "acl|cat");
        acl_cat(c, argc, argv);
    } else if (SUB("genpass")) {
        ARITY(argc == 2 || argc == 3, "acl|genpass");
        acl_genpass(c, argc, argv);
    } else if (SUB("help")) {
        ARITY(argc == 2, "acl|help");
        reply_help(c, acl_help, TD_ARRAY_LEN(acl_help));
    } else if (SUB("setuser") || SUB("deluser") || SUB("load") ||
               SUB("save")) {
        char msg[400];
        char upper[16];

        td_upper(upper, sizeof(upper), sub->ptr, sub->len);
        snprintf(msg, sizeof(msg),
                 "tandem: ACL %s is not allowed through tandem: tandem's "
                 "users come from its configuration ('user' lines) and a "
                 "SIGHUP reloads them; manage backend users on each "
                 "backend", upper);
        dispatch_error(c, msg);
    } else if (SUB("getuser") || SUB("log") || SUB("dryrun")) {
        sub_not_supported(c, "ACL", sub);
    } else {
        unknown_sub(c, "ACL", sub);
    }
}
