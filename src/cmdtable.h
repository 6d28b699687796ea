/*
 * cmdtable.h -- the primary's command table, learned from its COMMAND
 * reply at connect: flags, arity and key positions of every command and
 * subcommand, so new and module commands route without a code change.
 */
#ifndef TD_CMDTABLE_H
#define TD_CMDTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "resp.h"
#include "util.h"

/* Command flags, named as COMMAND names them. */
#define CMD_FLAG_LIST(X)                        \
    X(WRITE, "write")                           \
    X(READONLY, "readonly")                     \
    X(DENYOOM, "denyoom")                       \
    X(MODULE, "module")                         \
    X(ADMIN, "admin")                           \
    X(PUBSUB, "pubsub")                         \
    X(NOSCRIPT, "noscript")                     \
    X(BLOCKING, "blocking")                     \
    X(LOADING, "loading")                       \
    X(STALE, "stale")                           \
    X(SKIP_MONITOR, "skip_monitor")             \
    X(SKIP_SLOWLOG, "skip_slowlog")             \
    X(ASKING, "asking")                         \
    X(FAST, "fast")                             \
    X(NO_AUTH, "no_auth")                       \
    X(MAY_REPLICATE, "may_replicate")           \
    X(NO_MANDATORY_KEYS, "no_mandatory_keys")   \
    X(NO_ASYNC_LOADING, "no_async_loading")     \
    X(NO_MULTI, "no_multi")                     \
    X(MOVABLEKEYS, "movablekeys")               \
    X(ALLOW_BUSY, "allow_busy")

enum cmd_flag_bit {
#define X(id, name) CMD_BIT_##id,
    CMD_FLAG_LIST(X)
#undef X
    CMD_BIT_COUNT
};

#define X(id, name) CMD_##id = 1u << CMD_BIT_##id,
enum cmd_flag { CMD_FLAG_LIST(X) CMD_FLAG_NONE = 0 };
#undef X

/* ACL categories, named as COMMAND names them (without the '@'): Redis
 * 7.0's list, in its order (ACL CAT lists them so). */
#define CMD_ACL_CATEGORY_LIST(X)                \
    X(KEYSPACE, "keyspace")                     \
    X(READ, "read")                             \
    X(WRITE, "write")                           \
    X(SET, "set")                               \
    X(SORTEDSET, "sortedset")                   \
    X(LIST, "list")                             \
    X(HASH, "hash")                             \
    X(STRING, "string")                         \
    X(BITMAP, "bitmap")                         \
    X(HYPERLOGLOG, "hyperloglog")               \
    X(GEO, "geo")                               \
    X(STREAM, "stream")                         \
    X(PUBSUB, "pubsub")                         \
    X(ADMIN, "admin")                           \
    X(FAST, "fast")                             \
    X(SLOW, "slow")                             \
    X(BLOCKING, "blocking")                     \
    X(DANGEROUS, "dangerous")                   \
    X(CONNECTION, "connection")                 \
    X(TRANSACTION, "transaction")               \
    X(SCRIPTING, "scripting")

enum cmd_acl_category {
#define X(id, name) CMD_CAT_##id,
    CMD_ACL_CATEGORY_LIST(X)
#undef X
    CMD_CAT_COUNT
};

/* The category's name, or NULL past the list; its index by name, or -1. */
const char *cmd_category_name(int cat);
int cmd_category_lookup(const char *name, size_t len);

/* Key spec flags (COMMAND DOCS): what a command does with the key. */
#define KS_RO (1u << 0)
#define KS_RW (1u << 1)
#define KS_OW (1u << 2)
#define KS_RM (1u << 3)
#define KS_ACCESS (1u << 4)
#define KS_UPDATE (1u << 5)
#define KS_INSERT (1u << 6)
#define KS_DELETE (1u << 7)
#define KS_NOT_KEY (1u << 8)

enum keyspec_begin { KS_BEGIN_UNKNOWN, KS_BEGIN_INDEX, KS_BEGIN_KEYWORD };
enum keyspec_find { KS_FIND_UNKNOWN, KS_FIND_RANGE, KS_FIND_KEYNUM };

/* One key spec, as Redis 7 describes it (see COMMAND DOCS). */
struct keyspec {
    enum keyspec_begin begin;
    int                index;        /* BEGIN_INDEX: argument position */
    char               *keyword;     /* BEGIN_KEYWORD: the word */
    int                startfrom;    /* BEGIN_KEYWORD: where to search */
    enum keyspec_find  find;
    int                lastkey;      /* RANGE: last key, relative */
    int                keystep;      /* RANGE and KEYNUM: step */
    int                limit;        /* RANGE: with negative lastkey */
    int                keynumidx;    /* KEYNUM: where numkeys is */
    int                firstkey;     /* KEYNUM: first key after it */
    int                incomplete;   /* spec may miss keys */
    uint32_t           flags;        /* KS_* */
};

struct cmd {
    char           *name;       /* lower case; "client|setname" for subs */
    int            arity;       /* Redis's convention: -N means >= N */
    uint32_t       flags;       /* enum cmd_flag bits */
    uint32_t       categories;  /* 1 << enum cmd_acl_category bits */
    int            first_key;
    int            last_key;
    int            key_step;
    struct keyspec *specs;
    size_t         nspecs;
    struct cmd     *subs;       /* subcommands, or NULL */
    size_t         nsubs;
    const char     *raw;        /* this entry in the COMMAND reply */
    size_t         rawlen;
    int            route;       /* the router's cached decision; 0 until
                                 * it makes one (see dispatch.c) */
};

struct cmdtable {
    char       *raw;            /* the COMMAND reply, owned */
    size_t     rawlen;
    struct cmd *cmds;
    size_t     ncmds;
    struct cmd **slots;         /* open-addressing index into cmds */
    size_t     nslots;
};

enum cmd_lookup {
    CMD_FOUND,
    CMD_UNKNOWN,                /* no such command */
    CMD_UNKNOWN_SUB             /* a container without that subcommand */
};

void cmdtable_init(struct cmdtable *t);
void cmdtable_free(struct cmdtable *t);

/* Builds the table from a complete COMMAND reply (RESP2 bytes). */
td_status cmdtable_load(struct cmdtable *t, const char *reply, size_t len,
                        char *err, size_t errlen) TD_WUR;

/* Finds a top-level command by name, case-insensitively. */
struct cmd *cmdtable_find(const struct cmdtable *t, const char *name,
                          size_t len);

/* Resolves argv to a command or subcommand as Redis's lookupCommand does. */
enum cmd_lookup cmdtable_lookup(const struct cmdtable *t, size_t argc,
                                const struct resp_arg *argv,
                                struct cmd **cmd);

static inline int
cmd_arity_ok(const struct cmd *c, size_t argc)
{
    return c->arity > 0 ? argc == (size_t)c->arity
                        : argc >= (size_t)-c->arity;
}

/*
 * Finds the key positions of a command, following its key specs (Redis's
 * getKeysUsingKeySpecs). Writes at most max positions. Returns the number
 * of keys (which may exceed max), 0 when there are none or the arguments
 * do not fit the specs, or -1 when a spec is incomplete or unknown and
 * only the primary's COMMAND GETKEYS can tell.
 */
long cmd_keys(const struct cmd *c, size_t argc, const struct resp_arg *argv,
              int *pos, size_t max);

/* As cmd_keys, for a command that touches keys of the selected database
 * only: -1 for those that reach into another (SWAPDB, MOVE, COPY ... DB),
 * where a key alone does not say what changed. */
long cmd_keys_in_db(const struct cmd *c, size_t argc,
                    const struct resp_arg *argv, int *pos, size_t max);

/*
 * As cmd_keys, and also writes in specs[i] the index of the key spec that
 * found pos[i]. With lenient set, an incomplete spec still gives the keys
 * it finds (what Redis's ACL check does) instead of -1.
 */
long cmd_keys_specs(const struct cmd *c, size_t argc,
                    const struct resp_arg *argv, int *pos, int *specs,
                    size_t max, int lenient);

/* The flag's name, for INFO and tests. */
const char *cmd_flag_name(enum cmd_flag_bit bit);

#endif
