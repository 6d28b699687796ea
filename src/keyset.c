/*
 * keyset.c -- (db, key) set; see keyset.h.
 */
#include "keyset.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static char tomb;
#define KEYSET_TOMB (&tomb)

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

void
keyset_init(struct keyset *s)
{
    memset(s, 0, sizeof(*s));
}

void
keyset_clear(struct keyset *s)
{
    size_t i;

    for (i = 0; i < s->cap; i++) {
        if (s->slots[i].key != NULL && s->slots[i].key != KEYSET_TOMB) {
            free(s->slots[i].key);
        }
        s->slots[i].key = NULL;
    }
    s->count = 0;
    s->used = 0;
    s->cursor = 0;
}

void
keyset_free(struct keyset *s)
{
    keyset_clear(s);
    free(s->slots);
    keyset_init(s);
}

static struct keyset_entry *
find(const struct keyset *s, long long db, const char *key, size_t len,
     uint64_t h)
{
    size_t i;

    if (s->cap == 0) {
        return NULL;
    }
    for (i = h & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        struct keyset_entry *e = &s->slots[i];

        if (e->key == NULL) {
            return NULL;
        }
        if (e->key != KEYSET_TOMB && e->hash == h && e->db == db &&
            e->len == len && memcmp(e->key, key, len) == 0) {
            return e;
        }
    }
}

static void
grow(struct keyset *s)
{
    struct keyset_entry *old = s->slots;
    size_t oldcap = s->cap;
    size_t i;

    s->cap = s->cap == 0 ? 64 : (s->count * 4 > s->cap ? s->cap * 2 : s->cap);
    s->slots = td_calloc(s->cap, sizeof(*s->slots));
    s->used = s->count;
    s->cursor = 0;
    for (i = 0; i < oldcap; i++) {
        struct keyset_entry *e = &old[i];
        size_t j;

        if (e->key == NULL || e->key == KEYSET_TOMB) {
            continue;
        }
        for (j = e->hash & (s->cap - 1); s->slots[j].key != NULL;
             j = (j + 1) & (s->cap - 1)) {
        }
        s->slots[j] = *e;
    }
    free(old);
}

int
keyset_add(struct keyset *s, long long db, const char *key, size_t len)
{
    uint64_t h = hash_of(db, key, len);
    size_t i;

    if (find(s, db, key, len, h) != NULL) {
        return 0;
    }
    if ((s->used + 1) * 2 > s->cap) {
        grow(s);
    }
    for (i = h & (s->cap - 1);
         s->slots[i].key != NULL && s->slots[i].key != KEYSET_TOMB;
         i = (i + 1) & (s->cap - 1)) {
    }
    if (s->slots[i].key == NULL) {
        s->used++;
    }
    s->slots[i].key = td_strndup(key, len);
    s->slots[i].len = len;
    s->slots[i].db = db;
    s->slots[i].hash = h;
    s->count++;
    return 1;
}

int
keyset_has(const struct keyset *s, long long db, const char *key, size_t len)
{
    return find(s, db, key, len, hash_of(db, key, len)) != NULL;
}

static void
take(struct keyset *s, struct keyset_entry *e, int free_key)
{
    if (free_key) {
        free(e->key);
    }
    e->key = KEYSET_TOMB;
    s->count--;
}

int
keyset_remove(struct keyset *s, long long db, const char *key, size_t len)
{
    struct keyset_entry *e = find(s, db, key, len, hash_of(db, key, len));

    if (e == NULL) {
        return 0;
    }
    take(s, e, 1);
    return 1;
}

void
keyset_remove_db(struct keyset *s, long long db)
{
    size_t i;

    for (i = 0; i < s->cap; i++) {
        struct keyset_entry *e = &s->slots[i];

        if (e->key != NULL && e->key != KEYSET_TOMB && e->db == db) {
            take(s, e, 1);
        }
    }
}

int
keyset_pop(struct keyset *s, long long *db, char **key, size_t *len)
{
    size_t n;

    if (s->count == 0) {
        return 0;
    }
    for (n = 0; n < s->cap; n++) {
        struct keyset_entry *e = &s->slots[s->cursor];

        s->cursor = (s->cursor + 1) & (s->cap - 1);
        if (e->key != NULL && e->key != KEYSET_TOMB) {
            *db = e->db;
            *key = e->key;
            *len = e->len;
            take(s, e, 0);
            return 1;
        }
    }
    return 0;
}
