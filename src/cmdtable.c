/*
 * cmdtable.c -- parses the primary's COMMAND reply into a lookup table.
 *
 * Each entry of the reply is, in RESP2:
 *
 *   [name, arity, [flags], first, last, step, [acl categories], [tips],
 *    [key specs], [subcommands]]
 *
 * where a key spec is a flat list of field/value pairs:
 *
 *   ["flags", [...], "begin_search", ["type", "index", "spec", ["index", 1]],
 *    "find_keys", ["type", "range", "spec",
 *                  ["lastkey", 0, "keystep", 1, "limit", 0]]]
 *
 * hiredis parses the tree; resp_scan_reply() finds where each top-level
 * entry lies in the raw bytes, so COMMAND INFO can be answered verbatim.
 */
#include "cmdtable.h"

#include <ctype.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const flag_names[] = {
#define X(id, name) name,
    CMD_FLAG_LIST(X)
#undef X
};

static const char *const category_names[] = {
#define X(id, name) name,
    CMD_ACL_CATEGORY_LIST(X)
#undef X
};

const char *
cmd_category_name(int cat)
{
    return cat >= 0 && cat < CMD_CAT_COUNT ? category_names[cat] : NULL;
}

int
cmd_category_lookup(const char *name, size_t len)
{
    int i;

    for (i = 0; i < CMD_CAT_COUNT; i++) {
        if (td_slice_eq(name, len, category_names[i])) {
            return i;
        }
    }
    return -1;
}

/* Key spec flag names, as COMMAND writes them. */
static const struct {
    const char *name;
    uint32_t   bit;
} keyspec_flags[] = {
    {"RO", KS_RO}, {"RW", KS_RW}, {"OW", KS_OW}, {"RM", KS_RM},
    {"access", KS_ACCESS}, {"update", KS_UPDATE}, {"insert", KS_INSERT},
    {"delete", KS_DELETE}, {"not_key", KS_NOT_KEY},
};

const char *
cmd_flag_name(enum cmd_flag_bit bit)
{
    return bit < CMD_BIT_COUNT ? flag_names[bit] : "?";
}

void
cmdtable_init(struct cmdtable *t)
{
    memset(t, 0, sizeof(*t));
}

static void
cmd_free(struct cmd *c)
{
    size_t i;

    free(c->name);
    for (i = 0; i < c->nspecs; i++) {
        free(c->specs[i].keyword);
    }
    free(c->specs);
    for (i = 0; i < c->nsubs; i++) {
        cmd_free(&c->subs[i]);
    }
    free(c->subs);
}

void
cmdtable_free(struct cmdtable *t)
{
    size_t i;

    for (i = 0; i < t->ncmds; i++) {
        cmd_free(&t->cmds[i]);
    }
    free(t->cmds);
    free(t->slots);
    free(t->raw);
    cmdtable_init(t);
}

static uint32_t
name_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (uint32_t)tolower((unsigned char)s[i]);
        h *= 16777619u;
    }
    return h;
}

static int
is_str(const redisReply *r)
{
    return r != NULL &&
           (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

/* Looks a field up in a flat [name, value, ...] list. */
static const redisReply *
field(const redisReply *list, const char *name)
{
    size_t i;

    if (list == NULL || list->type != REDIS_REPLY_ARRAY) {
        return NULL;
    }
    for (i = 0; i + 1 < list->elements; i += 2) {
        if (is_str(list->element[i]) &&
            strcasecmp(list->element[i]->str, name) == 0) {
            return list->element[i + 1];
        }
    }
    return NULL;
}

static int
int_field(const redisReply *list, const char *name, int def)
{
    const redisReply *r = field(list, name);

    return r != NULL && r->type == REDIS_REPLY_INTEGER ? (int)r->integer
                                                       : def;
}

static void
parse_keyspec(const redisReply *r, struct keyspec *ks)
{
    const redisReply *flags = field(r, "flags");
    const redisReply *bs = field(r, "begin_search");
    const redisReply *fk = field(r, "find_keys");
    const redisReply *type;
    const redisReply *spec;
    size_t i;

    memset(ks, 0, sizeof(*ks));
    if (flags != NULL && flags->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < flags->elements; i++) {
            size_t f;

            if (!is_str(flags->element[i])) {
                continue;
            }
            if (strcasecmp(flags->element[i]->str, "incomplete") == 0) {
                ks->incomplete = 1;
            }
            for (f = 0; f < sizeof(keyspec_flags) / sizeof(keyspec_flags[0]);
                 f++) {
                if (strcasecmp(flags->element[i]->str,
                               keyspec_flags[f].name) == 0) {
                    ks->flags |= keyspec_flags[f].bit;
                }
            }
        }
    }
    type = field(bs, "type");
    spec = field(bs, "spec");
    if (is_str(type) && strcasecmp(type->str, "index") == 0) {
        ks->begin = KS_BEGIN_INDEX;
        ks->index = int_field(spec, "index", 0);
    } else if (is_str(type) && strcasecmp(type->str, "keyword") == 0) {
        const redisReply *kw = field(spec, "keyword");

        ks->begin = KS_BEGIN_KEYWORD;
        ks->keyword = td_strdup(is_str(kw) ? kw->str : "");
        ks->startfrom = int_field(spec, "startfrom", 1);
    }
    type = field(fk, "type");
    spec = field(fk, "spec");
    if (is_str(type) && strcasecmp(type->str, "range") == 0) {
        ks->find = KS_FIND_RANGE;
        ks->lastkey = int_field(spec, "lastkey", 0);
        ks->keystep = int_field(spec, "keystep", 1);
        ks->limit = int_field(spec, "limit", 0);
    } else if (is_str(type) && strcasecmp(type->str, "keynum") == 0) {
        ks->find = KS_FIND_KEYNUM;
        ks->keynumidx = int_field(spec, "keynumidx", 0);
        ks->firstkey = int_field(spec, "firstkey", 1);
        ks->keystep = int_field(spec, "keystep", 1);
    }
    if (ks->keystep <= 0) {
        ks->keystep = 1;
    }
}

static td_status
parse_entry(const redisReply *e, struct cmd *c, char *err, size_t errlen)
{
    const redisReply *flags;
    const redisReply *specs;
    const redisReply *subs;
    size_t i;
    char *p;

    memset(c, 0, sizeof(*c));
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 6 ||
        !is_str(e->element[0]) || e->element[1]->type != REDIS_REPLY_INTEGER ||
        e->element[2]->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "malformed COMMAND entry");
        return TD_ERR;
    }
    c->name = td_strdup(e->element[0]->str);
    for (p = c->name; *p != '\0'; p++) {
        *p = (char)tolower((unsigned char)*p);
    }
    c->arity = (int)e->element[1]->integer;
    flags = e->element[2];
    for (i = 0; i < flags->elements; i++) {
        unsigned b;

        if (!is_str(flags->element[i])) {
            continue;
        }
        for (b = 0; b < CMD_BIT_COUNT; b++) {
            if (strcasecmp(flags->element[i]->str, flag_names[b]) == 0) {
                c->flags |= 1u << b;
            }
        }
    }
    c->first_key = (int)e->element[3]->integer;
    c->last_key = (int)e->element[4]->integer;
    c->key_step = (int)e->element[5]->integer;
    /* The ACL categories, "@read" and so on; unknown ones (a newer
     * Redis's) are left out. */
    if (e->elements > 6 && e->element[6]->type == REDIS_REPLY_ARRAY) {
        const redisReply *cats = e->element[6];

        for (i = 0; i < cats->elements; i++) {
            const char *n;
            int cat;

            if (!is_str(cats->element[i])) {
                continue;
            }
            n = cats->element[i]->str;
            n += n[0] == '@';
            cat = cmd_category_lookup(n, strlen(n));
            if (cat >= 0) {
                c->categories |= 1u << cat;
            }
        }
    }

    specs = e->elements > 8 ? e->element[8] : NULL;
    if (specs != NULL && specs->type == REDIS_REPLY_ARRAY &&
        specs->elements > 0) {
        c->nspecs = specs->elements;
        c->specs = td_calloc(c->nspecs, sizeof(*c->specs));
        for (i = 0; i < c->nspecs; i++) {
            parse_keyspec(specs->element[i], &c->specs[i]);
        }
    }
    subs = e->elements > 9 ? e->element[9] : NULL;
    if (subs != NULL && subs->type == REDIS_REPLY_ARRAY &&
        subs->elements > 0) {
        c->subs = td_calloc(subs->elements, sizeof(*c->subs));
        for (i = 0; i < subs->elements; i++) {
            if (parse_entry(subs->element[i], &c->subs[i], err, errlen) !=
                TD_OK) {
                cmd_free(c);
                return TD_ERR;
            }
            c->nsubs++;
        }
    }
    return TD_OK;
}

static void
index_insert(struct cmdtable *t, struct cmd *c)
{
    size_t i = name_hash(c->name, strlen(c->name)) & (t->nslots - 1);

    while (t->slots[i] != NULL) {
        i = (i + 1) & (t->nslots - 1);
    }
    t->slots[i] = c;
}

td_status
cmdtable_load(struct cmdtable *t, const char *reply, size_t len, char *err,
              size_t errlen)
{
    redisReader *reader = redisReaderCreate();
    void *obj = NULL;
    redisReply *r;
    struct resp_scan scan;
    size_t off;
    size_t i;
    td_status rc = TD_ERR;

    cmdtable_free(t);
    reader->maxbuf = 0;
    if (redisReaderFeed(reader, reply, len) != REDIS_OK ||
        redisReaderGetReply(reader, &obj) != REDIS_OK || obj == NULL) {
        snprintf(err, errlen, "COMMAND reply is incomplete or malformed");
        goto out;
    }
    r = obj;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "COMMAND failed on the primary: %s", r->str);
        goto out;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "COMMAND reply is not an array");
        goto out;
    }
    t->raw = td_malloc(len);
    memcpy(t->raw, reply, len);
    t->rawlen = len;
    t->cmds = td_calloc(r->elements, sizeof(*t->cmds));
    /* Skip the top-level "*N\r\n" header to reach the entries' bytes. */
    off = (size_t)((const char *)memchr(reply, '\n', len) - reply) + 1;
    resp_scan_init(&scan);
    for (i = 0; i < r->elements; i++) {
        size_t elen = 0;

        if (parse_entry(r->element[i], &t->cmds[i], err, errlen) != TD_OK) {
            goto out;
        }
        t->ncmds++;
        if (resp_scan_reply(&scan, t->raw + off, len - off, &elen) != 1) {
            snprintf(err, errlen, "COMMAND reply framing is malformed");
            goto out;
        }
        t->cmds[i].raw = t->raw + off;
        t->cmds[i].rawlen = elen;
        off += elen;
    }
    t->nslots = 16;
    while (t->nslots < t->ncmds * 2) {
        t->nslots *= 2;
    }
    t->slots = td_calloc(t->nslots, sizeof(*t->slots));
    for (i = 0; i < t->ncmds; i++) {
        index_insert(t, &t->cmds[i]);
    }
    rc = TD_OK;

out:
    if (obj != NULL) {
        freeReplyObject(obj);
    }
    redisReaderFree(reader);
    if (rc != TD_OK) {
        cmdtable_free(t);
    }
    return rc;
}

struct cmd *
cmdtable_find(const struct cmdtable *t, const char *name, size_t len)
{
    size_t i;

    if (t->nslots == 0) {
        return NULL;
    }
    i = name_hash(name, len) & (t->nslots - 1);
    while (t->slots[i] != NULL) {
        struct cmd *c = t->slots[i];

        if (strncasecmp(c->name, name, len) == 0 && c->name[len] == '\0') {
            return c;
        }
        i = (i + 1) & (t->nslots - 1);
    }
    return NULL;
}

enum cmd_lookup
cmdtable_lookup(const struct cmdtable *t, size_t argc,
                const struct resp_arg *argv, struct cmd **cmd)
{
    struct cmd *base = cmdtable_find(t, argv[0].ptr, argv[0].len);
    size_t baselen;
    size_t i;

    *cmd = base;
    if (base == NULL) {
        return CMD_UNKNOWN;
    }
    if (argc == 1 || base->nsubs == 0) {
        return CMD_FOUND;
    }
    baselen = strlen(base->name);
    for (i = 0; i < base->nsubs; i++) {
        const char *sub = base->subs[i].name + baselen + 1;

        if (strncasecmp(sub, argv[1].ptr, argv[1].len) == 0 &&
            sub[argv[1].len] == '\0') {
            *cmd = &base->subs[i];
            return CMD_FOUND;
        }
    }
    return CMD_UNKNOWN_SUB;
}

long
cmd_keys(const struct cmd *c, size_t argc, const struct resp_arg *argv,
         int *pos, size_t max)
{
    return cmd_keys_specs(c, argc, argv, pos, NULL, max, 0);
}

long
cmd_keys_in_db(const struct cmd *c, size_t argc, const struct resp_arg *argv,
               int *pos, size_t max)
{
    if (strcmp(c->name, "swapdb") == 0 || strcmp(c->name, "move") == 0) {
        return -1;
    }
    if (strcmp(c->name, "copy") == 0) {
        size_t i;

        for (i = 3; i < argc; i++) {
            if (td_slice_eq(argv[i].ptr, argv[i].len, "db")) {
                return -1;
            }
        }
    }
    return cmd_keys(c, argc, argv, pos, max);
}

long
cmd_keys_specs(const struct cmd *c, size_t argc, const struct resp_arg *argv,
               int *pos, int *specs, size_t max, int lenient)
{
    long n = 0;
    size_t s;

    for (s = 0; s < c->nspecs; s++) {
        const struct keyspec *ks = &c->specs[s];
        long first;
        long last;
        long step = ks->keystep;
        long i;

        if (ks->incomplete && !lenient) {
            return -1;
        }
        if (ks->begin == KS_BEGIN_INDEX) {
            first = ks->index;
        } else if (ks->begin == KS_BEGIN_KEYWORD) {
            long from = ks->startfrom > 0 ? ks->startfrom
                                          : (long)argc + ks->startfrom;
            long to = ks->startfrom > 0 ? (long)argc - 1 : 1;
            long dir = ks->startfrom > 0 ? 1 : -1;

            first = 0;
            for (i = from; i >= 1 && i < (long)argc; i += dir) {
                if (td_slice_eq(argv[i].ptr, argv[i].len, ks->keyword)) {
                    first = i + 1;
                    break;
                }
                if (i == to) {
                    break;
                }
            }
            if (first == 0) {
                continue;
            }
        } else if (lenient) {
            continue;
        } else {
            return -1;
        }
        if (first >= (long)argc) {
            continue;
        }
        if (ks->find == KS_FIND_RANGE) {
            if (ks->lastkey >= 0) {
                last = first + ks->lastkey;
            } else if (ks->limit == 0) {
                last = (long)argc + ks->lastkey;
            } else {
                last = first + (((long)argc - first) / ks->limit +
                                ks->lastkey);
            }
        } else if (ks->find == KS_FIND_KEYNUM) {
            long long numkeys;
            long at = first + ks->keynumidx;

            if (at >= (long)argc ||
                !td_str2ll(argv[at].ptr, argv[at].len, &numkeys) ||
                numkeys < 0) {
                return 0;
            }
            first += ks->firstkey;
            last = first + ((long)numkeys - 1) * step;
        } else if (lenient) {
            continue;
        } else {
            return -1;
        }
        for (i = first; i <= last; i += step) {
            if (i >= (long)argc || i < first) {
                /* Arguments that do not fit the spec: the primary will
                 * answer with an arity or syntax error. */
                return 0;
            }
            if ((size_t)n < max) {
                pos[n] = (int)i;
                if (specs != NULL) {
                    specs[n] = (int)s;
                }
            }
            n++;
        }
    }
    return n;
}
