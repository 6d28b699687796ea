/*
 * watch.c -- watched keys: a hash from (db, key) to the clients watching
 * it, and each client's own list of what it watches.
 */
#include "watch.h"

#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "cmdtable.h"
#include "server.h"
#include "block.h"

struct watcher {
    struct watcher *next_in_key;    /* same key, other clients */
    struct watcher *next_of_client; /* same client, other keys */
    struct client  *client;
    long long      db;
    char           *key;
    size_t         len;
    uint64_t       hash;
};

static struct watcher **table = NULL;   /* chains by hash */
static size_t table_size = 0;
static size_t nwatching = 0;            /* clients with watches */

static uint64_t
hash_of(long long db, const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)db;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    return h;
}

int
watch_any(const struct client *c)
{
    return c->watching != NULL;
}

size_t
watch_clients(void)
{
    return nwatching;
}

void
watch_keys(struct client *c, size_t n, const struct resp_arg *keys)
{
    size_t i;

    if (table == NULL) {
        table_size = 4096;
        table = td_calloc(table_size, sizeof(*table));
    }
    if (c->watching == NULL && n > 0) {
        nwatching++;
    }
    for (i = 0; i < n; i++) {
        uint64_t h = hash_of(c->db, keys[i].ptr, keys[i].len);
        struct watcher *w;

        for (w = c->watching; w != NULL; w = w->next_of_client) {
            if (w->db == c->db && w->len == keys[i].len &&
                memcmp(w->key, keys[i].ptr, w->len) == 0) {
                break;
            }
        }
        if (w != NULL) {
            continue;    /* already watched */
        }
        w = td_calloc(1, sizeof(*w));
        w->client = c;
        w->db = c->db;
        w->key = td_strndup(keys[i].ptr, keys[i].len);
        w->len = keys[i].len;
        w->hash = h;
        w->next_in_key = table[h % table_size];
        table[h % table_size] = w;
        w->next_of_client = c->watching;
        c->watching = w;
    }
}

void
watch_clear(struct client *c)
{
    struct watcher *w = c->watching;

    if (w != NULL) {
        nwatching--;
    }
    while (w != NULL) {
        struct watcher *next = w->next_of_client;
        struct watcher **pp = &table[w->hash % table_size];

        while (*pp != w) {
            pp = &(*pp)->next_in_key;
        }
        *pp = w->next_in_key;
        free(w->key);
        free(w);
        w = next;
    }
    c->watching = NULL;
    c->watch_dirty = 0;
}

static void
touch_key(long long db, const char *key, size_t len)
{
    uint64_t h = hash_of(db, key, len);
    struct watcher *w;

    block_touch_key(db, key, len);
    if (table == NULL) {
        return;
    }
    for (w = table[h % table_size]; w != NULL; w = w->next_in_key) {
        if (w->hash == h && w->db == db && w->len == len &&
            memcmp(w->key, key, len) == 0) {
            w->client->watch_dirty = 1;
        }
    }
}

void
watch_touch_key(long long db, const char *key, size_t len)
{
    touch_key(db, key, len);
}

/* Marks every watcher of db (all databases when db < 0). */
static void
touch_db(long long db)
{
    size_t i;

    block_touch_db(db);
    for (i = 0; i < table_size; i++) {
        struct watcher *w;

        for (w = table[i]; w != NULL; w = w->next_in_key) {
            if (db < 0 || w->db == db) {
                w->client->watch_dirty = 1;
            }
        }
    }
}

void
watch_touch(long long db, const struct cmd *cmd, size_t argc,
            const struct resp_arg *argv)
{
    int pos[64];
    long n;
    long i;

    if ((nwatching == 0 && block_count() == 0) || cmd == NULL) {
        return;
    }
    /* Scripts write without the write flag: their declared keys count. */
    if (!(cmd->flags & CMD_WRITE) && strcmp(cmd->name, "eval") != 0 &&
        strcmp(cmd->name, "evalsha") != 0 && strcmp(cmd->name, "fcall") != 0) {
        return;
    }
    if (strcmp(cmd->name, "flushall") == 0) {
        touch_db(-1);
        return;
    }
    if (strcmp(cmd->name, "flushdb") == 0) {
        touch_db(db);
        return;
    }
    if (strcmp(cmd->name, "swapdb") == 0 && argc == 3) {
        long long a;
        long long b;

        if (td_str2ll(argv[1].ptr, argv[1].len, &a) &&
            td_str2ll(argv[2].ptr, argv[2].len, &b)) {
            touch_db(a);
            touch_db(b);
        }
        return;
    }
    n = cmd_keys(cmd, argc, argv, pos, 64);
    if (n < 0 || n > 64 || strcmp(cmd->name, "move") == 0 ||
        strcmp(cmd->name, "copy") == 0) {
        /* Keys elsewhere or unknown: everything that could be. */
        touch_db(-1);
        return;
    }
    for (i = 0; i < n; i++) {
        touch_key(db, argv[pos[i]].ptr, argv[pos[i]].len);
    }
}

void
watch_touch_queued(long long db, const char *queued, size_t len)
{
    struct resp_walk w;

    if (nwatching == 0 && block_count() == 0) {
        return;
    }
    resp_walk_init(&w, queued, len, db);
    while (resp_walk_next(&w) == 1) {
        struct cmd *cmd = NULL;

        if (!w.is_select &&
            cmdtable_lookup(&srv.pipe.table, w.parser.argc, w.parser.argv,
                            &cmd) == CMD_FOUND) {
            watch_touch(w.db, cmd, w.parser.argc, w.parser.argv);
        }
    }
    resp_walk_free(&w);
}
