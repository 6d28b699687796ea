/*
 * dispatch.c -- routes each parsed command: tandem's own commands, Redis's
 * checks in Redis's order (unknown command, arity, authentication), the
 * commands tandem must refuse, and the pipe for everything else.
 */
#include "dispatch.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "acl.h"
#include "builtin.h"
#include "client.h"
#include "cmdtable.h"
#include "log.h"
#include "metrics.h"
#include "multi.h"
#include "replica.h"
#include "watch.h"
#include "monitor.h"
#include "block.h"
#include "pubsub.h"
#include "pause.h"
#include "server.h"

/*
 * Commands that need state on the primary connection that tandem does not
 * emulate yet, or that would break the contract (DESIGN section 4). Each
 * would stall or corrupt the shared pipe if forwarded, so each gets a
 * clear error instead.
 */
struct refusal {
    const char *name;       /* as the command table names it */
    const char *message;
};

#define NOT_YET(what) \
    "tandem: " what " is not supported by this version of tandem yet"
#define FORBIDDEN(what, why) "tandem: " what " is not allowed through tandem: " why

static const struct refusal refusals[] = {
    {"waitaof", NOT_YET("WAITAOF")},
    {"replicaof", FORBIDDEN("REPLICAOF", "tandem replicates the fleet itself")},
    {"slaveof", FORBIDDEN("SLAVEOF", "tandem replicates the fleet itself")},
    {"sync", FORBIDDEN("SYNC", "tandem replicates the fleet itself")},
    {"psync", FORBIDDEN("PSYNC", "tandem replicates the fleet itself")},
    {"failover", FORBIDDEN("FAILOVER", "tandem replicates the fleet itself")},
    {"shutdown", FORBIDDEN("SHUTDOWN", "it would stop the primary; stop "
                                       "backends directly")},
    {"debug", FORBIDDEN("DEBUG", "use the backends directly")},
    {"config|set", FORBIDDEN("CONFIG SET", "configure the backends "
                                           "directly")},
    {"config|rewrite", FORBIDDEN("CONFIG REWRITE", "configure the backends "
                                                   "directly")},
    {"config|resetstat", FORBIDDEN("CONFIG RESETSTAT", "configure the "
                                                       "backends directly")},
    {"module|load", FORBIDDEN("MODULE LOAD", "load modules on every backend "
                                             "directly")},
    {"module|loadex", FORBIDDEN("MODULE LOADEX", "load modules on every "
                                                 "backend directly")},
    {"module|unload", FORBIDDEN("MODULE UNLOAD", "unload modules on every "
                                                 "backend directly")},
};

/*
 * The route of a command, decided once per command table entry and cached
 * in cmd->route, so the common case costs one comparison:
 *   ROUTE_FORWARD          to the pipe
 *   ROUTE_READ             a read: to a replica when one may serve it
 *   ROUTE_XREAD            a read, or with BLOCK served by block.c
 *   ROUTE_BLOCKING         served by block.c, or refused
 *   ROUTE_DB_ARGS          to the pipe unless it names the meta-db
 *   ROUTE_REFUSED + i      refused with refusals[i]
 */
enum {
    ROUTE_UNKNOWN = 0,
    ROUTE_FORWARD,
    ROUTE_READ,
    ROUTE_XREAD,
    ROUTE_BLOCKING,
    ROUTE_DB_ARGS,
    ROUTE_REFUSED
};

static int touches_meta_db(const struct cmd *cmd, size_t argc,
                           const struct resp_arg *argv);

static const char blocking_refusal[] =
    "tandem: this blocking command is not served by this version of "
    "tandem (it would hold the shared connection to the primary)";

static int
decide_route(const struct cmd *cmd)
{
    size_t i;

    for (i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        if (strcmp(refusals[i].name, cmd->name) == 0) {
            return ROUTE_REFUSED + (int)i;
        }
    }
    if (strcmp(cmd->name, "xread") == 0 ||
        strcmp(cmd->name, "xreadgroup") == 0) {
        return ROUTE_XREAD;
    }
    if (cmd->flags & CMD_BLOCKING) {
        return ROUTE_BLOCKING;
    }
    if (strcmp(cmd->name, "swapdb") == 0 || strcmp(cmd->name, "move") == 0 ||
        strcmp(cmd->name, "copy") == 0) {
        return ROUTE_DB_ARGS;
    }
    /* Cursors stay on the primary: a cursor from one server must never
     * be continued on another. */
    /* PFCOUNT may rewrite its key's cached cardinality: the primary runs
     * it and the stream carries it (may_replicate). */
    if ((cmd->flags & CMD_READONLY) && !(cmd->flags & CMD_MAY_REPLICATE) &&
        strcmp(cmd->name, "pfcount") != 0 && strcmp(cmd->name, "scan") != 0 &&
        strcmp(cmd->name, "sscan") != 0 && strcmp(cmd->name, "hscan") != 0 &&
        strcmp(cmd->name, "zscan") != 0) {
        return ROUTE_READ;
    }
    return ROUTE_FORWARD;
}

/* XREAD and XREADGROUP block with a BLOCK option. Options come before
 * STREAMS; after it are keys and ids, which may well be called "block". */
static int
xread_blocks(size_t argc, const struct resp_arg *argv)
{
    size_t i;

    for (i = 1; i < argc; i++) {
        if (td_slice_eq(argv[i].ptr, argv[i].len, "streams")) {
            return 0;
        }
        if (td_slice_eq(argv[i].ptr, argv[i].len, "block")) {
            return 1;
        }
    }
    return 0;
}

static const char *
refusal_for(struct cmd *cmd, size_t argc, const struct resp_arg *argv)
{
    if (cmd->route == ROUTE_UNKNOWN) {
        cmd->route = decide_route(cmd);
    }
    switch (cmd->route) {
    case ROUTE_FORWARD:
    case ROUTE_READ:
        return NULL;
    case ROUTE_XREAD:
        return NULL;
    case ROUTE_BLOCKING:
        return blocking_refusal;
    case ROUTE_DB_ARGS:
        if (touches_meta_db(cmd, argc, argv)) {
            static char msg[160];

            snprintf(msg, sizeof(msg),
                     "tandem: DB %lld is reserved for tandem's replication "
                     "metadata (meta-db)", srv.cfg.meta_db);
            return msg;
        }
        return NULL;
    default:
        return refusals[cmd->route - ROUTE_REFUSED].message;
    }
}

/* The database numbers that SWAPDB, MOVE and COPY ... DB name. */
static int
touches_meta_db(const struct cmd *cmd, size_t argc,
                const struct resp_arg *argv)
{
    long long db;
    size_t i;

    if (strcmp(cmd->name, "swapdb") == 0) {
        for (i = 1; i < 3 && i < argc; i++) {
            if (td_str2ll(argv[i].ptr, argv[i].len, &db) &&
                db == srv.cfg.meta_db) {
                return 1;
            }
        }
    } else if (strcmp(cmd->name, "move") == 0 && argc == 3) {
        return td_str2ll(argv[2].ptr, argv[2].len, &db) &&
               db == srv.cfg.meta_db;
    } else if (strcmp(cmd->name, "copy") == 0) {
        for (i = 3; i + 1 < argc; i++) {
            if (td_slice_eq(argv[i].ptr, argv[i].len, "db") &&
                td_str2ll(argv[i + 1].ptr, argv[i + 1].len, &db) &&
                db == srv.cfg.meta_db) {
                return 1;
            }
        }
    }
    return 0;
}

void
dispatch_error(struct client *c, const char *msg)
{
    srv.stats.error_replies++;
    resp_add_error(client_reply_buf(c), msg);
}

/* Refuses a command the way Redis's processCommand() does: inside a
 * transaction the refusal also dooms its EXEC. */
static void
reject(struct client *c, const char *msg)
{
    if (c->multi) {
        multi_flag_error(c);
    }
    dispatch_error(c, msg);
}

static void
set_lastcmd(struct client *c, const char *name, size_t len)
{
    size_t i;

    len = TD_MIN(len, sizeof(c->lastcmd) - 1);
    for (i = 0; i < len; i++) {
        char ch = name[i];

        c->lastcmd[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    c->lastcmd[len] = '\0';
}

static void
unknown_command(struct client *c, size_t argc, const struct resp_arg *argv)
{
    char args[256];
    size_t off = 0;
    size_t i;

    args[0] = '\0';
    for (i = 1; i < argc && off < 128; i++) {
        int n = snprintf(args + off, sizeof(args) - off, "'%.*s' ",
                         (int)TD_MIN(argv[i].len, 128 - off), argv[i].ptr);

        if (n < 0) {
            break;
        }
        off += (size_t)n;
        if (off >= sizeof(args)) {
            off = sizeof(args) - 1;
            break;
        }
    }
    {
        char msg[512];

        snprintf(msg, sizeof(msg),
                 "unknown command '%.*s', with args beginning with: %s",
                 (int)TD_MIN(argv[0].len, 128), argv[0].ptr, args);
        reject(c, msg);
    }
}

static void
unknown_subcommand(struct client *c, const struct resp_arg *argv)
{
    char msg[512];
    char upper[64];

    snprintf(msg, sizeof(msg), "unknown subcommand '%.*s'. Try %s HELP.",
             (int)TD_MIN(argv[1].len, 128), argv[1].ptr,
             td_upper(upper, sizeof(upper), argv[0].ptr, argv[0].len));
    reject(c, msg);
}

static int
arity_ok(int arity, size_t argc)
{
    return arity > 0 ? argc == (size_t)arity : argc >= (size_t)-arity;
}

static void
wrong_arity(struct client *c, const char *name)
{
    char msg[256];

    snprintf(msg, sizeof(msg), "wrong number of arguments for '%s' command",
             name);
    reject(c, msg);
}

static void
noauth(struct client *c)
{
    reject(c, "-NOAUTH Authentication required.");
}

int
dispatch_forward(struct client *c, const struct cmd *cmd, size_t argc,
                 const struct resp_arg *argv, const char *raw,
                 size_t rawlen, int is_inline)
{
    static struct buf encoded;
    struct replica *replica = NULL;
    struct req *r;

    if (cmd != NULL && cmd->route == ROUTE_READ &&
        srv.cfg.read_policy != READ_PRIMARY) {
        replica = replica_pick_reader(c);
    }
    if (replica == NULL && c->replica_reads > 0) {
        return 0;
    }
    r = client_req_push(c);
    if (is_inline) {
        buf_clear(&encoded);
        resp_add_command(&encoded, argc, argv);
        raw = buf_head(&encoded);
        rawlen = encoded.len;
    }
    req_time(r, replica != NULL ? METRICS_ROUTE_REPLICA
                                : METRICS_ROUTE_PRIMARY);
    if (replica != NULL) {
        srv.stats.reads_replicas++;
        c->replica_reads++;
        readconn_send(&replica->rc, r, c->db, raw, rawlen);
        return 1;
    }
    if (cmd != NULL && cmd->route == ROUTE_READ) {
        srv.stats.reads_primary++;
    }
    watch_touch(c->db, cmd, argc, argv);
    if (cmd != NULL && (cmd->flags & CMD_PUBSUB) && argc == 3 &&
        (strcmp(cmd->name, "publish") == 0 ||
         strcmp(cmd->name, "spublish") == 0)) {
        pubsub_publish_hook(r, cmd->name[0] == 's', &argv[1]);
    }
    pipe_send_request(&srv.pipe, r, c->db, cmd, argc, argv, raw, rawlen);
    return 1;
}

/* tandem's own admin command is not in the primary's table: its ACL
 * categories are @admin and @dangerous. */
static char tandem_cmd_name[] = "tandem";
static struct cmd tandem_cmd = {
    .name = tandem_cmd_name,
    .arity = -2,
    .categories = (1u << CMD_CAT_ADMIN) | (1u << CMD_CAT_DANGEROUS),
};

/*
 * The ACL check (acl.c), made after arity and authentication as Redis's
 * processCommand() makes it, for every route: builtins, blocking
 * commands, refusals, transactions and the pipe. A builtin is checked as
 * the primary's table describes the same name (CLIENT LIST as
 * client|list). Returns 1 when the command may go on; otherwise the
 * client has Redis's -NOPERM, and a transaction it is in is doomed.
 */
static int
acl_permits(struct client *c, const struct builtin *b, const struct cmd *cmd,
            size_t argc, const struct resp_arg *argv)
{
    const struct cmd *parent = NULL;
    struct cmd stand_in;
    char msg[256];

    if (b != NULL) {
        struct cmd *found;

        switch (cmdtable_lookup(&srv.pipe.table, argc, argv, &found)) {
        case CMD_FOUND:
            cmd = found;
            break;
        case CMD_UNKNOWN_SUB:
            return 1;   /* the builtin answers Redis's unknown subcommand */
        case CMD_UNKNOWN:
            if (strcmp(b->name, "tandem") == 0) {
                cmd = &tandem_cmd;
                break;
            }
            /* No table yet: the rules about the name itself still hold. */
            memset(&stand_in, 0, sizeof(stand_in));
            stand_in.name = (char *)b->name;
            stand_in.flags = (b->flags & BUILTIN_NO_AUTH) ? CMD_NO_AUTH : 0;
            cmd = &stand_in;
            break;
        }
    }
    if (strchr(cmd->name, '|') != NULL) {
        parent = cmdtable_find(&srv.pipe.table, argv[0].ptr, argv[0].len);
    }
    switch (acl_check(c->user, cmd, parent, argc, argv)) {
    case ACL_OK:
        return 1;
    case ACL_DENIED_CMD:
        snprintf(msg, sizeof(msg), "-NOPERM this user has no permissions to "
                 "run the '%s' command", cmd->name);
        reject(c, msg);
        return 0;
    case ACL_DENIED_KEY:
        reject(c, "-NOPERM this user has no permissions to access one of "
                  "the keys used as arguments");
        return 0;
    case ACL_DENIED_CHANNEL:
        reject(c, "-NOPERM this user has no permissions to access one of "
                  "the channels used as arguments");
        return 0;
    }
    return 0;
}

int
dispatch_replica_can_serve(struct client *c, size_t argc,
                           const struct resp_arg *argv)
{
    struct cmd *cmd = NULL;

    if (srv.pipe.table.ncmds == 0 || c->multi || !c->authenticated ||
        srv.cfg.read_policy == READ_PRIMARY ||
        cmdtable_lookup(&srv.pipe.table, argc, argv, &cmd) != CMD_FOUND ||
        !cmd_arity_ok(cmd, argc)) {
        return 0;
    }
    if (cmd->route == ROUTE_UNKNOWN) {
        cmd->route = decide_route(cmd);
    }
    return cmd->route == ROUTE_READ && replica_pick_reader(c) != NULL;
}

int
dispatch_command(struct client *c, size_t argc, const struct resp_arg *argv,
                 const char *raw, size_t rawlen, int is_inline)
{
    const struct builtin *b = builtin_find(argv[0].ptr, argv[0].len);
    struct cmd *cmd = NULL;
    const char *refusal;
    enum cmd_lookup found;

    set_lastcmd(c, argv[0].ptr, argv[0].len);
    /* RESP2's subscribed mode: Redis's rule and words. */
    if (c->nsubs > 0 &&
        !(b != NULL && (b->flags & BUILTIN_SUBSCRIBED))) {
        char msg[256];

        snprintf(msg, sizeof(msg), "Can't execute '%s': only (P|S)SUBSCRIBE "
                 "/ (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in "
                 "this context", c->lastcmd);
        dispatch_error(c, msg);
        return 1;
    }
    if (b == NULL) {
        if (!pipe_is_up(&srv.pipe) &&
            !dispatch_replica_can_serve(c, argc, argv)) {
            char msg[512];

            if (!c->authenticated) {
                noauth(c);
                return 1;
            }
            pipe_unavailable_error(&srv.pipe, msg, sizeof(msg));
            reject(c, msg);
            return 1;
        }
        found = cmdtable_lookup(&srv.pipe.table, argc, argv, &cmd);
        if (found == CMD_UNKNOWN) {
            unknown_command(c, argc, argv);
            return 1;
        }
        if (found == CMD_UNKNOWN_SUB) {
            unknown_subcommand(c, argv);
            return 1;
        }
    }
    /* Redis's order: arity, authentication, then the user's permissions. */
    if (b != NULL ? !arity_ok(b->arity, argc) : !cmd_arity_ok(cmd, argc)) {
        wrong_arity(c, b != NULL ? b->name : cmd->name);
        return 1;
    }
    if (!c->authenticated && !(b != NULL && (b->flags & BUILTIN_NO_AUTH))) {
        noauth(c);
        return 1;
    }
    if (!acl_permits(c, b, cmd, argc, argv)) {
        return 1;
    }
    /* CLIENT PAUSE: a builtin waits only for ALL, or as an EXEC whose
     * transaction may write. */
    if (pause_holds(cmd, b != NULL && c->multi && c->multi_writes &&
                             td_slice_eq(argv[0].ptr, argv[0].len, "exec"))) {
        c->flags |= CLIENT_PAUSED;
        return 0;
    }
    if (cmd != NULL && (cmd->flags & (CMD_WRITE | CMD_MAY_REPLICATE))) {
        c->multi_writes |= c->multi;    /* EXEC then counts as a write */
    }
    if (b != NULL) {
        if (c->multi && !(b->flags & BUILTIN_IN_MULTI)) {
            if (b->flags & BUILTIN_QUEUED) {
                multi_queue(c, argc, argv, raw, rawlen, is_inline);
            } else {
                reject(c, "Command not allowed inside a transaction");
            }
        } else if (c->multi && c->replica_reads > 0 &&
                   td_slice_eq(argv[0].ptr, argv[0].len, "exec")) {
            return 0;    /* the transaction goes to the primary: wait */
        } else {
            monitor_feed(c, argc, argv);
            b->fn(c, argc, argv, raw, rawlen, is_inline);
        }
        return 1;
    }
    if (cmd->route == ROUTE_UNKNOWN) {
        cmd->route = decide_route(cmd);
    }
    if ((cmd->route == ROUTE_BLOCKING && block_supported(cmd)) ||
        (cmd->route == ROUTE_XREAD && xread_blocks(argc, argv))) {
        /* Inside MULTI a blocking pop does not block (Redis's rule): it
         * is queued as it is. */
        if (c->multi) {
            monitor_feed(c, argc, argv);
            multi_queue(c, argc, argv, raw, rawlen, is_inline);
        } else if (!pipe_is_up(&srv.pipe)) {
            char msg[512];

            pipe_unavailable_error(&srv.pipe, msg, sizeof(msg));
            reject(c, msg);
        } else if (c->replica_reads > 0) {
            return 0;
        } else {
            monitor_feed(c, argc, argv);
            block_command(c, cmd, argc, argv);
        }
        return 1;
    }
    refusal = refusal_for(cmd, argc, argv);
    if (refusal != NULL) {
        reject(c, refusal);
        return 1;
    }
    if (c->multi) {
        if (cmd->flags & CMD_NO_MULTI) {
            reject(c, "Command not allowed inside a transaction");
        } else {
            monitor_feed(c, argc, argv);
            multi_queue(c, argc, argv, raw, rawlen, is_inline);
        }
        return 1;
    }
    if (!dispatch_forward(c, cmd, argc, argv, raw, rawlen, is_inline)) {
        return 0;
    }
    monitor_feed(c, argc, argv);
    return 1;
}
