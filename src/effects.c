/*
 * effects.c -- turning an applied write into its deterministic effect;
 * see effects.h for the table.
 *
 * Conditional writes (SET NX, ZADD GT, ...) need no special case: replicas
 * hold the same state as the primary at the same stream position, so a
 * deterministic command decides the same way there. Only what depends on
 * the clock or on chance is rewritten.
 */
#include "effects.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
arg_is(const struct resp_arg *a, const char *word)
{
    return td_slice_eq(a->ptr, a->len, word);
}

/* Position of XADD's id argument, skipping its options. */
static size_t
xadd_id_pos(size_t argc, const struct resp_arg *argv)
{
    size_t i = 2;

    while (i < argc) {
        if (arg_is(&argv[i], "nomkstream")) {
            i++;
        } else if (arg_is(&argv[i], "maxlen") || arg_is(&argv[i], "minid")) {
            i++;
            if (i < argc && (arg_is(&argv[i], "=") || arg_is(&argv[i], "~"))) {
                i++;
            }
            i++;
        } else if (arg_is(&argv[i], "limit")) {
            i += 2;
        } else {
            break;
        }
    }
    return i;
}

static effects_script_lookup script_lookup = NULL;

void
effects_set_script_lookup(effects_script_lookup fn)
{
    script_lookup = fn;
}

int
effects_changed_nothing(const struct cmd *cmd, const char *reply,
                        size_t rlen)
{
    static const char *const pops[] = {"lpop", "rpop", "lmpop", "zpopmin",
                                       "zpopmax", "zmpop", "lmove",
                                       "rpoplpush", NULL};
    size_t i;

    if (!(rlen == 5 && (memcmp(reply, "$-1\r\n", 5) == 0 ||
                        memcmp(reply, "*-1\r\n", 5) == 0)) &&
        !(rlen == 4 && memcmp(reply, "*0\r\n", 4) == 0)) {
        return 0;
    }
    for (i = 0; pops[i] != NULL; i++) {
        if (strcmp(cmd->name, pops[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

enum effect
effects_classify(const struct cmd *cmd, size_t argc,
                 const struct resp_arg *argv, int script_verbatim)
{
    const char *n = cmd->name;
    size_t i;

    if (!(cmd->flags & CMD_WRITE)) {
        /* Scripts change the dataset without the write flag. */
        if (strcmp(n, "eval") == 0 || strcmp(n, "evalsha") == 0 ||
            strcmp(n, "fcall") == 0) {
            return script_verbatim ? EFFECT_SCRIPT_VERBATIM : EFFECT_SCRIPT;
        }
        if (strcmp(n, "pfcount") == 0) {
            return EFFECT_AS_SENT;    /* it may update the key's cache */
        }
        if (strcmp(n, "script|load") == 0 || strcmp(n, "script|flush") == 0) {
            return EFFECT_SCRIPT_LOAD;    /* as sent, and tandem's cache */
        }
        return EFFECT_NONE;
    }
    switch (n[0]) {
    case 'e':
        if (strcmp(n, "expire") == 0) {
            return EFFECT_TTL_ONLY;
        }
        break;
    case 'p':
        if (strcmp(n, "pexpire") == 0) {
            return EFFECT_TTL_ONLY;
        }
        if (strcmp(n, "psetex") == 0) {
            return EFFECT_TTL;
        }
        break;
    case 's':
        if (strcmp(n, "setex") == 0) {
            return EFFECT_TTL;
        }
        if (strcmp(n, "spop") == 0) {
            return EFFECT_SPOP;
        }
        if (strcmp(n, "set") == 0) {
            for (i = 3; i < argc; i++) {
                if (arg_is(&argv[i], "ex") || arg_is(&argv[i], "px")) {
                    return EFFECT_TTL;
                }
            }
        }
        break;
    case 'g':
        if (strcmp(n, "getex") == 0) {
            for (i = 2; i < argc; i++) {
                if (arg_is(&argv[i], "ex") || arg_is(&argv[i], "px")) {
                    return EFFECT_TTL;
                }
            }
        }
        break;
    case 'r':
        if (strcmp(n, "restore") == 0 && argc >= 4 &&
            !arg_is(&argv[2], "0")) {
            for (i = 4; i < argc; i++) {
                if (arg_is(&argv[i], "absttl")) {
                    return EFFECT_AS_SENT;
                }
            }
            return EFFECT_TTL;
        }
        break;
    case 'i':
        if (strcmp(n, "incrbyfloat") == 0) {
            return EFFECT_INCRBYFLOAT;
        }
        break;
    case 'h':
        if (strcmp(n, "hincrbyfloat") == 0) {
            return EFFECT_HINCRBYFLOAT;
        }
        break;
    case 'x':
        if (strcmp(n, "xadd") == 0) {
            i = xadd_id_pos(argc, argv);
            if (i < argc && arg_is(&argv[i], "*")) {
                return EFFECT_XADD_ID;
            }
        }
        break;
    case 'm':
        if (strcmp(n, "migrate") == 0) {
            return EFFECT_MIGRATE;
        }
        break;
    default:
        break;
    }
    return EFFECT_AS_SENT;
}

static void
add_cmd2(struct buf *out, const char *cmd, const struct resp_arg *a)
{
    struct resp_arg argv[2] = {{cmd, strlen(cmd)}, *a};

    resp_add_command(out, 2, argv);
}

/* The key whose expiry a TTL kind needs: always the first. */
#define TTL_KEY 1

/* Positions of a command's keys, however many (caller frees). */
static int *
key_positions(const struct cmd *cmd, size_t argc, const struct resp_arg *argv,
              long *n)
{
    int *pos = td_malloc(64 * sizeof(*pos));

    *n = cmd_keys(cmd, argc, argv, pos, 64);
    if (*n > 64) {
        pos = td_realloc(pos, (size_t)*n * sizeof(*pos));
        *n = cmd_keys(cmd, argc, argv, pos, (size_t)*n);
    }
    return pos;
}

size_t
effects_probes(enum effect e, const struct cmd *cmd, size_t argc,
               const struct resp_arg *argv, struct buf *out)
{
    int *pos;
    long n;
    long i;

    if (e == EFFECT_TTL || e == EFFECT_TTL_ONLY) {
        if (argc <= TTL_KEY) {
            return 0;
        }
        if (out != NULL) {
            struct resp_arg probe[2] = {{"PEXPIRETIME", 11}, argv[TTL_KEY]};

            resp_add_command(out, 2, probe);
        }
        return 1;
    }
    if (e != EFFECT_SCRIPT) {
        return 0;
    }
    pos = key_positions(cmd, argc, argv, &n);
    for (i = 0; out != NULL && i < n; i++) {
        struct resp_arg dump[2] = {{"DUMP", 4}, argv[pos[i]]};
        struct resp_arg expiry[2] = {{"PEXPIRETIME", 11}, argv[pos[i]]};

        resp_add_command(out, 2, dump);
        resp_add_command(out, 2, expiry);
    }
    free(pos);
    return n > 0 ? (size_t)n * 2 : 0;
}

/* Takes the next complete reply out of probes. */
static int
next_probe(const char **probes, size_t *plen, const char **reply,
           size_t *len)
{
    struct resp_scan scan;

    resp_scan_init(&scan);
    if (*plen == 0 ||
        resp_scan_reply(&scan, *probes, *plen, len) != 1) {
        return 0;
    }
    *reply = *probes;
    *probes += *len;
    *plen -= *len;
    return 1;
}

/* The absolute expiry of key from PEXPIRETIME's reply. */
static int
render_expiry(const struct resp_arg *key, const char *ttl_reply,
              size_t ttl_len, struct buf *out)
{
    long long ms;
    char num[32];
    struct resp_arg argv[3];
    const char *eol;

    if (ttl_reply == NULL || ttl_len < 4 || ttl_reply[0] != ':' ||
        (eol = memchr(ttl_reply, '\r', ttl_len)) == NULL ||
        !td_str2ll(ttl_reply + 1, (size_t)(eol - ttl_reply - 1), &ms)) {
        return -1;
    }
    if (ms == -2) {
        add_cmd2(out, "DEL", key);
    } else if (ms == -1) {
        add_cmd2(out, "PERSIST", key);
    } else {
        snprintf(num, sizeof(num), "%lld", ms);
        argv[0].ptr = "PEXPIREAT";
        argv[0].len = 9;
        argv[1] = *key;
        argv[2].ptr = num;
        argv[2].len = strlen(num);
        resp_add_command(out, 3, argv);
    }
    return 1;
}

static int
render_spop(const struct resp_arg *key, redisReply *r, struct buf *out)
{
    size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 1;
    size_t i;

    if (r->type == REDIS_REPLY_NIL ||
        (r->type == REDIS_REPLY_ARRAY && r->elements == 0)) {
        return 0;
    }
    resp_add_array(out, (long long)n + 2);
    resp_add_bulk(out, "SREM", 4);
    resp_add_bulk(out, key->ptr, key->len);
    if (r->type == REDIS_REPLY_STRING) {
        resp_add_bulk(out, r->str, r->len);
        return 1;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        resp_add_bulk(out, r->element[i]->str, r->element[i]->len);
    }
    return 1;
}

static int
render_migrate(size_t argc, const struct resp_arg *argv, redisReply *r,
               struct buf *out)
{
    size_t i;
    size_t keys_at = 0;
    int copy = 0;

    if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, "OK") != 0) {
        return 0;    /* NOKEY: nothing moved */
    }
    for (i = 6; i < argc; i++) {
        if (arg_is(&argv[i], "copy")) {
            copy = 1;
        } else if (arg_is(&argv[i], "auth")) {
            i++;
        } else if (arg_is(&argv[i], "auth2")) {
            i += 2;
        } else if (arg_is(&argv[i], "keys")) {
            keys_at = i + 1;
            break;
        }
    }
    if (copy) {
        return 0;
    }
    if (keys_at == 0) {
        add_cmd2(out, "DEL", &argv[3]);
        return 1;
    }
    resp_add_array(out, (long long)(argc - keys_at) + 1);
    resp_add_bulk(out, "DEL", 3);
    for (i = keys_at; i < argc; i++) {
        resp_add_bulk(out, argv[i].ptr, argv[i].len);
    }
    return 1;
}

int
effects_transfer(const struct resp_arg *key, const char *dump, size_t dlen,
                 const char *expiry, size_t elen, struct buf *out)
{
    long long ms = 0;
    const char *eol;
    const char *body;

    if (elen < 4 || expiry[0] != ':' ||
        (eol = memchr(expiry, '\r', elen)) == NULL ||
        !td_str2ll(expiry + 1, (size_t)(eol - expiry - 1), &ms)) {
        return -1;
    }
    if (dlen < 4 || dump[0] != '$' || dump[1] == '-' || ms == -2 ||
        (body = memchr(dump, '\n', dlen)) == NULL) {
        add_cmd2(out, "DEL", key);
    } else {
        char abs[24];
        struct resp_arg restore[6] = {{"RESTORE", 7}, *key, {abs, 0},
                                      {body + 1, 0}, {"REPLACE", 7},
                                      {"ABSTTL", 6}};

        restore[2].len = (size_t)snprintf(abs, sizeof(abs), "%lld",
                                          ms < 0 ? 0 : ms);
        restore[3].len = dlen - (size_t)(body + 1 - dump) - 2;
        resp_add_command(out, 6, restore);
    }
    return 1;
}

/* The value of each key a script declared, as DUMP and PEXPIRETIME
 * found it right after the script. */
static int
render_script_keys(const struct cmd *cmd, size_t argc,
                   const struct resp_arg *argv, const char *probes,
                   size_t plen, struct buf *out)
{
    long n;
    int *pos = key_positions(cmd, argc, argv, &n);
    long i;

    for (i = 0; i < n; i++) {
        const char *dump;
        const char *expiry;
        size_t dlen;
        size_t elen;

        if (!next_probe(&probes, &plen, &dump, &dlen) ||
            !next_probe(&probes, &plen, &expiry, &elen) ||
            effects_transfer(&argv[pos[i]], dump, dlen, expiry, elen, out) <
                0) {
            free(pos);
            return -1;
        }
    }
    free(pos);
    return n > 0 ? (int)n : 0;
}

/* EVALSHA becomes EVAL with the body tandem saw loaded. */
static int
render_verbatim(size_t argc, const struct resp_arg *argv, struct buf *out)
{
    const char *body;
    size_t blen;
    struct resp_arg *copy;

    if (!td_slice_eq(argv[0].ptr, argv[0].len, "evalsha") ||
        script_lookup == NULL ||
        (body = script_lookup(argv[1].ptr, argv[1].len, &blen)) == NULL) {
        resp_add_command(out, argc, argv);
        return 1;
    }
    copy = td_malloc(argc * sizeof(*copy));
    memcpy(copy, argv, argc * sizeof(*copy));
    copy[0].ptr = "EVAL";
    copy[0].len = 4;
    copy[1].ptr = body;
    copy[1].len = blen;
    resp_add_command(out, argc, copy);
    free(copy);
    return 1;
}

int
effects_render(enum effect e, const struct cmd *cmd, size_t argc,
               const struct resp_arg *argv, const char *reply, size_t rlen,
               const char *probes, size_t plen, struct buf *out,
               struct buf *after, int *nafter)
{
    redisReply *r = NULL;
    const char *ttl_reply = NULL;
    size_t ttl_len = 0;
    struct buf *state = after != NULL ? after : out;
    int n = 0;

    if (e == EFFECT_SCRIPT) {
        /* Even a failed script may have written before it failed. */
        n = render_script_keys(cmd, argc, argv, probes, plen, state);
        if (after != NULL && n > 0) {
            *nafter += n;
            return 0;
        }
        return n;
    }
    if (e == EFFECT_NONE || rlen == 0 || reply[0] == '-') {
        return 0;
    }
    if (e == EFFECT_TTL || e == EFFECT_TTL_ONLY) {
        next_probe(&probes, &plen, &ttl_reply, &ttl_len);
    }
    switch (e) {
    case EFFECT_AS_SENT:
    case EFFECT_SCRIPT_LOAD:
        resp_add_command(out, argc, argv);
        return 1;
    case EFFECT_SCRIPT_VERBATIM:
        return render_verbatim(argc, argv, out);
    case EFFECT_TTL:
        resp_add_command(out, argc, argv);
        n = render_expiry(&argv[TTL_KEY], ttl_reply, ttl_len, state);
        if (n < 0) {
            return -1;
        }
        if (after != NULL) {
            *nafter += n;
            return 1;
        }
        return 2;
    case EFFECT_TTL_ONLY:
        if (rlen >= 2 && reply[0] == ':' && reply[1] == '0') {
            return 0;    /* no such key, or NX/XX/GT/LT said no */
        }
        n = render_expiry(&argv[TTL_KEY], ttl_reply, ttl_len, state);
        if (after != NULL && n > 0) {
            /* In a transaction a later command may rename or move the
             * key: the relative form goes in place (it follows the key),
             * the primary's absolute expiry of what is left after. */
            *nafter += n;
            resp_add_command(out, argc, argv);
            return 1;
        }
        return n;
    default:
        break;
    }

    r = resp_read_reply(reply, rlen);
    if (r == NULL) {
        return -1;
    }
    switch (e) {
    case EFFECT_SPOP:
        n = render_spop(&argv[1], r, out);
        break;
    case EFFECT_INCRBYFLOAT:
        if (r->type != REDIS_REPLY_STRING) {
            n = -1;
            break;
        }
        resp_add_array(out, 4);
        resp_add_bulk(out, "SET", 3);
        resp_add_bulk(out, argv[1].ptr, argv[1].len);
        resp_add_bulk(out, r->str, r->len);
        resp_add_bulk(out, "KEEPTTL", 7);
        n = 1;
        break;
    case EFFECT_HINCRBYFLOAT:
        if (r->type != REDIS_REPLY_STRING || argc < 3) {
            n = -1;
            break;
        }
        resp_add_array(out, 4);
        resp_add_bulk(out, "HSET", 4);
        resp_add_bulk(out, argv[1].ptr, argv[1].len);
        resp_add_bulk(out, argv[2].ptr, argv[2].len);
        resp_add_bulk(out, r->str, r->len);
        n = 1;
        break;
    case EFFECT_XADD_ID: {
        size_t idpos = xadd_id_pos(argc, argv);
        size_t i;

        if (r->type == REDIS_REPLY_NIL) {
            n = 0;    /* NOMKSTREAM and no stream */
            break;
        }
        if (r->type != REDIS_REPLY_STRING || idpos >= argc) {
            n = -1;
            break;
        }
        resp_add_array(out, (long long)argc);
        for (i = 0; i < argc; i++) {
            if (i == idpos) {
                resp_add_bulk(out, r->str, r->len);
            } else {
                resp_add_bulk(out, argv[i].ptr, argv[i].len);
            }
        }
        n = 1;
        break;
    }
    case EFFECT_MIGRATE:
        n = render_migrate(argc, argv, r, out);
        break;
    default:
        n = -1;
        break;
    }
    freeReplyObject(r);
    return n;
}
