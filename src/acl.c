/*
 * acl.c -- tandem's own users (a subset of Redis 7.0's ACL).
 *
 * A user is what its rules, applied left to right, leave behind:
 *
 *   user alice on >pw ~app:* %R~ro:* &news.* +@all -@dangerous
 *        |     |  |   |       |       |       '-- command rules, in order
 *        |     |  |   |       |       '-- channel patterns (or allchannels)
 *        |     |  |   '-------'-- key patterns, each read and/or write
 *        |     |  '-- SHA-256 digests of its passwords (or nopass)
 *        |     '-- on/off
 *        '-- name
 *
 * Redis turns command rules into a bitmap over its command table at once.
 * tandem learns the table from the primary only when it connects (and
 * again at each reconnect), so it keeps the command rules as written and
 * evaluates them at check time: the last rule that matches a command
 * decides, which is what the bitmap records. A category rule matches a
 * command in that category, and a subcommand whose container is in it; a
 * command rule matches the command and its subcommands; `+cmd|arg` on a
 * command without subcommands allows that first argument only (Redis's
 * deprecated first-arg rule), until a later rule about cmd resets it.
 * `+@all`, `-@all`, `allcommands`, `nocommands` and `reset` replace every
 * command rule before them.
 *
 * Command names are not checked against the table at configuration time
 * (there is none yet): a rule about a command the primary does not have
 * matches nothing.
 */
#include "acl.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmdtable.h"

#define ACL_READ (1 << 0)
#define ACL_WRITE (1 << 1)

struct acl_keypat {
    char *pat;
    int  perm;                  /* ACL_READ | ACL_WRITE */
};

enum rule_kind {
    RULE_ALL,                   /* +@all / -@all */
    RULE_CATEGORY,              /* +@cat / -@cat */
    RULE_COMMAND                /* +cmd, +cmd|sub (or first-arg) */
};

struct acl_rule {
    int            allow;       /* + or - */
    enum rule_kind kind;
    int            category;    /* RULE_CATEGORY */
    char           *name;       /* RULE_COMMAND: lower case, "cmd|sub" */
};

struct acl_user {
    char              *name;
    int               on;
    int               nopass;
    unsigned char     (*hashes)[32];  /* SHA-256 of each password */
    size_t            nhashes;
    int               allkeys;
    struct acl_keypat *keys;
    size_t            nkeys;
    int               allchannels;
    char              **channels;
    size_t            nchannels;
    struct acl_rule   *rules;
    size_t            nrules;
};

struct acl_users {
    struct acl_user **users;    /* sorted by name */
    size_t          n;
    struct acl_user *def;       /* the default user, one of users */
};

void
acl_sha256_hex(const char *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    unsigned int i;

    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1) {
        abort();
    }
    for (i = 0; i < 32; i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
    out[64] = '\0';
}

static void
sha256(const char *data, size_t len, unsigned char out[32])
{
    unsigned int mdlen = 0;

    if (EVP_Digest(data, len, out, &mdlen, EVP_sha256(), NULL) != 1 ||
        mdlen != 32) {
        abort();
    }
}

/* 64 lower-case hex digits, as Redis's '#' and '!' rules require. */
static int
parse_hash(const char *hex, unsigned char out[32])
{
    size_t i;

    if (strlen(hex) != 64) {
        return 0;
    }
    for (i = 0; i < 64; i++) {
        char ch = hex[i];

        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
            return 0;
        }
    }
    for (i = 0; i < 32; i++) {
        unsigned int v;

        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            return 0;
        }
        out[i] = (unsigned char)v;
    }
    return 1;
}

static struct acl_user *
user_new(const char *name)
{
    struct acl_user *u = td_calloc(1, sizeof(*u));

    u->name = td_strdup(name);
    return u;
}

static void
reset_passwords(struct acl_user *u)
{
    free(u->hashes);
    u->hashes = NULL;
    u->nhashes = 0;
}

static void
reset_keys(struct acl_user *u)
{
    size_t i;

    for (i = 0; i < u->nkeys; i++) {
        free(u->keys[i].pat);
    }
    free(u->keys);
    u->keys = NULL;
    u->nkeys = 0;
    u->allkeys = 0;
}

static void
reset_channels(struct acl_user *u)
{
    size_t i;

    for (i = 0; i < u->nchannels; i++) {
        free(u->channels[i]);
    }
    free(u->channels);
    u->channels = NULL;
    u->nchannels = 0;
    u->allchannels = 0;
}

static void
reset_rules(struct acl_user *u)
{
    size_t i;

    for (i = 0; i < u->nrules; i++) {
        free(u->rules[i].name);
    }
    free(u->rules);
    u->rules = NULL;
    u->nrules = 0;
}

static void
user_free(struct acl_user *u)
{
    if (u == NULL) {
        return;
    }
    reset_passwords(u);
    reset_keys(u);
    reset_channels(u);
    reset_rules(u);
    free(u->name);
    free(u);
}

static void
add_rule(struct acl_user *u, int allow, enum rule_kind kind, int category,
         const char *name)
{
    struct acl_rule *r;

    if (kind == RULE_ALL) {
        reset_rules(u);     /* everything before is overridden */
    }
    u->rules = td_realloc(u->rules, (u->nrules + 1) * sizeof(*u->rules));
    r = &u->rules[u->nrules++];
    r->allow = allow;
    r->kind = kind;
    r->category = category;
    r->name = NULL;
    if (name != NULL) {
        char *p;

        r->name = td_strdup(name);
        for (p = r->name; *p != '\0'; p++) {
            if (*p >= 'A' && *p <= 'Z') {
                *p = (char)(*p + 32);
            }
        }
    }
}

static int
find_hash(const struct acl_user *u, const unsigned char h[32])
{
    size_t i;

    for (i = 0; i < u->nhashes; i++) {
        if (memcmp(u->hashes[i], h, 32) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static void
add_hash(struct acl_user *u, const unsigned char h[32])
{
    u->nopass = 0;
    if (find_hash(u, h) >= 0) {
        return;
    }
    u->hashes = td_realloc(u->hashes, (u->nhashes + 1) * sizeof(*u->hashes));
    memcpy(u->hashes[u->nhashes++], h, 32);
}

static const char *
del_hash(struct acl_user *u, const unsigned char h[32])
{
    int i = find_hash(u, h);

    if (i < 0) {
        return "The password you are trying to remove from the user does "
               "not exist";
    }
    memmove(&u->hashes[i], &u->hashes[i + 1],
            (u->nhashes - (size_t)i - 1) * sizeof(*u->hashes));
    u->nhashes--;
    return NULL;
}

/*
 * Applies one rule (Redis's ACLSetSelector and ACLSetUser cases). Returns
 * NULL, or why the rule is refused, in Redis's words where Redis has them.
 */
static const char *
apply_rule(struct acl_user *u, const char *op)
{
    unsigned char h[32];
    size_t len = strlen(op);

    if (len == 0) {
        return "Syntax error";
    }
    if (strcasecmp(op, "on") == 0) {
        u->on = 1;
    } else if (strcasecmp(op, "off") == 0) {
        u->on = 0;
    } else if (strcasecmp(op, "nopass") == 0) {
        reset_passwords(u);
        u->nopass = 1;
    } else if (strcasecmp(op, "resetpass") == 0) {
        reset_passwords(u);
        u->nopass = 0;
    } else if (op[0] == '>') {
        sha256(op + 1, len - 1, h);
        add_hash(u, h);
    } else if (op[0] == '#') {
        if (!parse_hash(op + 1, h)) {
            return "The password hash must be exactly 64 characters and "
                   "contain only lowercase hexadecimal characters";
        }
        add_hash(u, h);
    } else if (op[0] == '<') {
        sha256(op + 1, len - 1, h);
        return del_hash(u, h);
    } else if (op[0] == '!') {
        if (!parse_hash(op + 1, h)) {
            return "The password hash must be exactly 64 characters and "
                   "contain only lowercase hexadecimal characters";
        }
        return del_hash(u, h);
    } else if (strcasecmp(op, "allkeys") == 0 || strcmp(op, "~*") == 0) {
        reset_keys(u);
        u->allkeys = 1;
    } else if (strcasecmp(op, "resetkeys") == 0) {
        reset_keys(u);
    } else if (op[0] == '~' || op[0] == '%') {
        int perm = 0;
        size_t i = 0;
        size_t k;

        if (op[0] == '%') {
            for (i = 1; i < len && op[i] != '~'; i++) {
                if (op[i] == 'R' || op[i] == 'r') {
                    perm |= ACL_READ;
                } else if (op[i] == 'W' || op[i] == 'w') {
                    perm |= ACL_WRITE;
                } else {
                    return "Syntax error";
                }
            }
            if (perm == 0 || i == len) {
                return "Syntax error";
            }
        } else {
            perm = ACL_READ | ACL_WRITE;
        }
        if (u->allkeys) {
            return "Adding a pattern after the * pattern (or the 'allkeys' "
                   "flag) is not valid and does not have any effect. Try "
                   "'resetkeys' to start with an empty list of patterns";
        }
        if (perm == (ACL_READ | ACL_WRITE) && strcmp(op + i + 1, "*") == 0) {
            reset_keys(u);
            u->allkeys = 1;
            return NULL;
        }
        for (k = 0; k < u->nkeys; k++) {
            if (strcmp(u->keys[k].pat, op + i + 1) == 0) {
                u->keys[k].perm |= perm;
                return NULL;
            }
        }
        u->keys = td_realloc(u->keys, (u->nkeys + 1) * sizeof(*u->keys));
        u->keys[u->nkeys].pat = td_strdup(op + i + 1);
        u->keys[u->nkeys].perm = perm;
        u->nkeys++;
    } else if (strcasecmp(op, "allchannels") == 0 || strcmp(op, "&*") == 0) {
        reset_channels(u);
        u->allchannels = 1;
    } else if (strcasecmp(op, "resetchannels") == 0) {
        reset_channels(u);
    } else if (op[0] == '&') {
        size_t k;

        if (u->allchannels) {
            return "Adding a pattern after the * pattern (or the "
                   "'allchannels' flag) is not valid and does not have any "
                   "effect. Try 'resetchannels' to start with an empty list "
                   "of channels";
        }
        for (k = 0; k < u->nchannels; k++) {
            if (strcmp(u->channels[k], op + 1) == 0) {
                return NULL;
            }
        }
        u->channels = td_realloc(u->channels,
                                 (u->nchannels + 1) * sizeof(*u->channels));
        u->channels[u->nchannels++] = td_strdup(op + 1);
    } else if (strcasecmp(op, "allcommands") == 0 ||
               strcasecmp(op, "+@all") == 0) {
        add_rule(u, 1, RULE_ALL, 0, NULL);
    } else if (strcasecmp(op, "nocommands") == 0 ||
               strcasecmp(op, "-@all") == 0) {
        add_rule(u, 0, RULE_ALL, 0, NULL);
    } else if ((op[0] == '+' || op[0] == '-') && op[1] == '@') {
        int cat = cmd_category_lookup(op + 2, len - 2);

        if (cat < 0) {
            return "Unknown command or category name in ACL";
        }
        add_rule(u, op[0] == '+', RULE_CATEGORY, cat, NULL);
    } else if (op[0] == '+' || op[0] == '-') {
        const char *bar = strchr(op + 1, '|');

        if (len == 1 || bar == op + 1) {
            return "Unknown command or category name in ACL";
        }
        if (bar != NULL) {
            if (strchr(bar + 1, '|') != NULL) {
                return "Allowing first-arg of a subcommand is not supported";
            }
            if (bar[1] == '\0') {
                return "Syntax error";
            }
        }
        add_rule(u, op[0] == '+', RULE_COMMAND, 0, op + 1);
    } else if (strcasecmp(op, "reset") == 0) {
        reset_passwords(u);
        u->nopass = 0;
        reset_keys(u);
        reset_channels(u);
        u->on = 0;
        add_rule(u, 0, RULE_ALL, 0, NULL);
    } else if (op[0] == '(' || strcasecmp(op, "clearselectors") == 0) {
        return "Selectors are not supported by tandem";
    } else if (strcasecmp(op, "skip-sanitize-payload") == 0 ||
               strcasecmp(op, "sanitize-payload") == 0) {
        /* RESTORE payloads are the primary's business: accepted. */
    } else {
        return "Syntax error";
    }
    return NULL;
}

/* Builds a user from a line; NULL with err filled when a rule is bad. */
static struct acl_user *
user_from_line(const struct acl_line *line, char *err, size_t errlen)
{
    struct acl_user *u;
    size_t i;

    if (line->nwords < 1 || line->words[0][0] == '\0') {
        snprintf(err, errlen, "'user' needs a name and rules");
        return NULL;
    }
    if (strpbrk(line->words[0], " \t\r\n") != NULL) {
        snprintf(err, errlen, "Error in user declaration '%s': Usernames "
                 "can't contain spaces or null characters",
                 line->words[0]);
        return NULL;
    }
    u = user_new(line->words[0]);
    for (i = 1; i < line->nwords; i++) {
        const char *why = apply_rule(u, line->words[i]);

        if (why != NULL) {
            char shown[128];
            const char *w = line->words[i];

            /* A password rule is not echoed back. */
            if (w[0] == '>' || w[0] == '<') {
                snprintf(shown, sizeof(shown), "%c...", w[0]);
            } else {
                snprintf(shown, sizeof(shown), "%.100s", w);
            }
            snprintf(err, errlen, "Error in user declaration '%s' at rule "
                     "'%s': %s", u->name, shown, why);
            user_free(u);
            return NULL;
        }
    }
    return u;
}

td_status
acl_check_line(const struct acl_line *line, char *err, size_t errlen)
{
    struct acl_user *u = user_from_line(line, err, errlen);

    if (u == NULL) {
        return TD_ERR;
    }
    user_free(u);
    return TD_OK;
}

static int
by_name(const void *a, const void *b)
{
    const struct acl_user *x = *(const struct acl_user *const *)a;
    const struct acl_user *y = *(const struct acl_user *const *)b;

    return strcmp(x->name, y->name);
}

struct acl_users *
acl_users_build(const struct acl_line *lines, size_t n,
                const char *requirepass)
{
    struct acl_users *set = td_calloc(1, sizeof(*set));
    size_t i;

    set->users = td_calloc(n + 1, sizeof(*set->users));
    for (i = 0; i < n; i++) {
        char err[512];
        struct acl_user *u = user_from_line(&lines[i], err, sizeof(err));

        TD_ASSERT(u != NULL);
        if (u == NULL) {
            continue;
        }
        if (strcmp(u->name, "default") == 0) {
            set->def = u;
        }
        set->users[set->n++] = u;
    }
    if (set->def == NULL) {
        struct acl_user *d = user_new("default");

        d->on = 1;
        d->allkeys = 1;
        d->allchannels = 1;
        add_rule(d, 1, RULE_ALL, 0, NULL);
        if (requirepass != NULL) {
            unsigned char h[32];

            sha256(requirepass, strlen(requirepass), h);
            add_hash(d, h);
        } else {
            d->nopass = 1;
        }
        set->def = d;
        set->users[set->n++] = d;
    }
    qsort(set->users, set->n, sizeof(*set->users), by_name);
    return set;
}

void
acl_users_free(struct acl_users *set)
{
    size_t i;

    if (set == NULL) {
        return;
    }
    for (i = 0; i < set->n; i++) {
        user_free(set->users[i]);
    }
    free(set->users);
    free(set);
}

int
acl_users_same(const struct acl_users *a, const struct acl_users *b)
{
    struct buf da;
    struct buf db;
    size_t i;
    int same;

    if (a->n != b->n) {
        return 0;
    }
    buf_init(&da);
    buf_init(&db);
    for (i = 0; i < a->n; i++) {
        acl_user_describe(a->users[i], &da);
        buf_append(&da, "\n", 1);
        acl_user_describe(b->users[i], &db);
        buf_append(&db, "\n", 1);
    }
    same = da.len == db.len && memcmp(buf_head(&da), buf_head(&db),
                                      da.len) == 0;
    buf_free(&da);
    buf_free(&db);
    return same;
}

size_t
acl_users_count(const struct acl_users *set)
{
    return set->n;
}

const struct acl_user *
acl_users_at(const struct acl_users *set, size_t i)
{
    return i < set->n ? set->users[i] : NULL;
}

const struct acl_user *
acl_user_default(const struct acl_users *set)
{
    return set->def;
}

const struct acl_user *
acl_user_find(const struct acl_users *set, const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < set->n; i++) {
        const char *n = set->users[i]->name;

        if (strlen(n) == len && memcmp(n, name, len) == 0) {
            return set->users[i];
        }
    }
    return NULL;
}

const char *
acl_user_name(const struct acl_user *u)
{
    return u->name;
}

int
acl_user_is_default(const struct acl_user *u)
{
    return strcmp(u->name, "default") == 0;
}

int
acl_user_nopass(const struct acl_user *u)
{
    return u->nopass;
}

int
acl_user_open(const struct acl_user *u)
{
    return u->on && u->nopass;
}

int
acl_user_check_password(const struct acl_user *u, const char *pass,
                        size_t len)
{
    unsigned char h[32];
    int ok = 0;
    size_t i;

    if (!u->on) {
        return 0;
    }
    if (u->nopass) {
        return 1;
    }
    sha256(pass, len, h);
    /* Every digest is compared, each in constant time. */
    for (i = 0; i < u->nhashes; i++) {
        ok |= CRYPTO_memcmp(h, u->hashes[i], 32) == 0;
    }
    return ok;
}

void
acl_user_describe(const struct acl_user *u, struct buf *b)
{
    size_t i;

    buf_append_str(b, "user ");
    buf_append_str(b, u->name);
    buf_append_str(b, u->on ? " on" : " off");
    if (u->nopass) {
        buf_append_str(b, " nopass");
    }
    for (i = 0; i < u->nhashes; i++) {
        char hex[65];
        size_t j;

        for (j = 0; j < 32; j++) {
            snprintf(hex + 2 * j, 3, "%02x", u->hashes[i][j]);
        }
        buf_append_str(b, " #");
        buf_append_str(b, hex);
    }
    if (u->allkeys) {
        buf_append_str(b, " ~*");
    }
    for (i = 0; i < u->nkeys; i++) {
        const struct acl_keypat *k = &u->keys[i];

        buf_append_str(b, k->perm == ACL_READ    ? " %R~"
                          : k->perm == ACL_WRITE ? " %W~"
                                                 : " ~");
        buf_append_str(b, k->pat);
    }
    buf_append_str(b, u->allchannels ? " &*" : " resetchannels");
    for (i = 0; i < u->nchannels; i++) {
        buf_append_str(b, " &");
        buf_append_str(b, u->channels[i]);
    }
    if (u->nrules == 0 || u->rules[0].kind != RULE_ALL) {
        buf_append_str(b, " -@all");
    }
    for (i = 0; i < u->nrules; i++) {
        const struct acl_rule *r = &u->rules[i];

        buf_append_str(b, r->allow ? " +" : " -");
        if (r->kind == RULE_ALL) {
            buf_append_str(b, "@all");
        } else if (r->kind == RULE_CATEGORY) {
            buf_append_str(b, "@");
            buf_append_str(b, cmd_category_name(r->category));
        } else {
            buf_append_str(b, r->name);
        }
    }
}

/* Whether a command rule names cmd: the command, its container, or the
 * subcommand by its full name. */
static int
names_command(const char *rule, const struct cmd *cmd,
              const struct cmd *parent)
{
    return strcmp(rule, cmd->name) == 0 ||
           (parent != NULL && strcmp(rule, parent->name) == 0);
}

static int
command_allowed(const struct acl_user *u, const struct cmd *cmd,
                const struct cmd *parent, size_t argc,
                const struct resp_arg *argv)
{
    uint32_t cats = cmd->categories | (parent != NULL ? parent->categories
                                                      : 0);
    int allowed = 0;
    int firstarg = 0;
    size_t i;

    for (i = 0; i < u->nrules; i++) {
        const struct acl_rule *r = &u->rules[i];
        const char *bar;
        int match = 0;

        switch (r->kind) {
        case RULE_ALL:
            match = 1;
            break;
        case RULE_CATEGORY:
            match = !(cmd->flags & CMD_MODULE) &&
                    (cats & (1u << r->category)) != 0;
            break;
        case RULE_COMMAND:
            bar = strchr(r->name, '|');
            if (bar == NULL || parent != NULL) {
                match = names_command(r->name, cmd, parent);
            } else if (cmd->nsubs == 0 && r->allow &&
                       strncmp(r->name, cmd->name,
                               (size_t)(bar - r->name)) == 0 &&
                       cmd->name[bar - r->name] == '\0') {
                /* The first-arg form: SELECT|0 allows SELECT 0. */
                if (argc >= 2 &&
                    td_slice_eq(argv[1].ptr, argv[1].len, bar + 1)) {
                    firstarg = 1;
                }
            }
            break;
        }
        if (match) {
            allowed = r->allow;
            firstarg = 0;
        }
    }
    return allowed || firstarg;
}

static int
key_allowed(const struct acl_user *u, const char *key, size_t len,
            int need)
{
    size_t i;

    for (i = 0; i < u->nkeys; i++) {
        const struct acl_keypat *k = &u->keys[i];

        if ((k->perm & need) == need &&
            td_glob_match(k->pat, strlen(k->pat), key, len)) {
            return 1;
        }
    }
    return 0;
}

static int
keys_allowed(const struct acl_user *u, const struct cmd *cmd, size_t argc,
             const struct resp_arg *argv)
{
    int pos_small[32];
    int spec_small[32];
    int *pos = pos_small;
    int *spec = spec_small;
    long n;
    long i;
    int ok = 1;

    n = cmd_keys_specs(cmd, argc, argv, pos, spec, 32, 1);
    if (n > 32) {
        pos = td_calloc((size_t)n, sizeof(*pos));
        spec = td_calloc((size_t)n, sizeof(*spec));
        n = cmd_keys_specs(cmd, argc, argv, pos, spec, (size_t)n, 1);
    }
    for (i = 0; i < n && ok; i++) {
        uint32_t f = cmd->specs[spec[i]].flags;
        int need = 0;

        if (f & KS_NOT_KEY) {
            continue;
        }
        /* Redis 7.0's ACLSelectorCheckKey: access reads, the rest
         * writes. */
        if (f & KS_ACCESS) {
            need |= ACL_READ;
        }
        if (f & (KS_INSERT | KS_DELETE | KS_UPDATE)) {
            need |= ACL_WRITE;
        }
        ok = key_allowed(u, argv[pos[i]].ptr, argv[pos[i]].len, need);
    }
    if (pos != pos_small) {
        free(pos);
        free(spec);
    }
    return ok;
}

static int
channel_allowed(const struct acl_user *u, const struct resp_arg *ch,
                int is_pattern)
{
    size_t i;

    for (i = 0; i < u->nchannels; i++) {
        const char *p = u->channels[i];
        size_t plen = strlen(p);

        /* A subscription to a pattern needs that very pattern. */
        if (is_pattern ? (plen == ch->len && memcmp(p, ch->ptr, plen) == 0)
                       : td_glob_match(p, plen, ch->ptr, ch->len)) {
            return 1;
        }
    }
    return 0;
}

/* The channels of PUBLISH, SPUBLISH and the SUBSCRIBE family (Redis's
 * getChannelsFromCommand); unsubscribing is never refused. */
static int
channels_allowed(const struct acl_user *u, const struct cmd *cmd,
                 size_t argc, const struct resp_arg *argv)
{
    size_t first = 1;
    size_t last;
    int is_pattern = 0;
    size_t i;

    if (strcmp(cmd->name, "publish") == 0 ||
        strcmp(cmd->name, "spublish") == 0) {
        last = 1;
    } else if (strcmp(cmd->name, "subscribe") == 0 ||
               strcmp(cmd->name, "ssubscribe") == 0) {
        last = argc - 1;
    } else if (strcmp(cmd->name, "psubscribe") == 0) {
        last = argc - 1;
        is_pattern = 1;
    } else {
        return 1;
    }
    for (i = first; i <= last && i < argc; i++) {
        if (!channel_allowed(u, &argv[i], is_pattern)) {
            return 0;
        }
    }
    return 1;
}

enum acl_verdict
acl_check(const struct acl_user *u, const struct cmd *cmd,
          const struct cmd *parent, size_t argc, const struct resp_arg *argv)
{
    if (cmd->flags & CMD_NO_AUTH) {
        return ACL_OK;
    }
    if (!command_allowed(u, cmd, parent, argc, argv)) {
        return ACL_DENIED_CMD;
    }
    if (!u->allkeys && cmd->nspecs > 0 && !keys_allowed(u, cmd, argc, argv)) {
        return ACL_DENIED_KEY;
    }
    if (!u->allchannels && !channels_allowed(u, cmd, argc, argv)) {
        return ACL_DENIED_CHANNEL;
    }
    return ACL_OK;
}
