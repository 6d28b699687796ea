/*
 * keyset.h -- a set of (database, key) pairs: a seeding replica's dirty
 * keys. Open addressing with tombstones; memory is proportional to the
 * keys held, never to the dataset.
 */
#ifndef TD_KEYSET_H
#define TD_KEYSET_H

#include <stddef.h>
#include <stdint.h>

struct keyset_entry {
    char      *key;      /* NULL: empty; KEYSET_TOMB: removed */
    size_t    len;
    long long db;
    uint64_t  hash;
};

struct keyset {
    struct keyset_entry *slots;
    size_t              cap;      /* power of two */
    size_t              count;    /* live entries */
    size_t              used;     /* live + tombstones */
    size_t              cursor;   /* where keyset_pop looks next */
};

void keyset_init(struct keyset *s);
void keyset_free(struct keyset *s);
void keyset_clear(struct keyset *s);

/* Returns 1 when added, 0 when it was there. */
int keyset_add(struct keyset *s, long long db, const char *key, size_t len);
int keyset_has(const struct keyset *s, long long db, const char *key,
               size_t len);
int keyset_remove(struct keyset *s, long long db, const char *key,
                  size_t len);
/* Removes every key of one database. */
void keyset_remove_db(struct keyset *s, long long db);

/* Takes some entry out of the set (caller frees *key). Returns 0 when the
 * set is empty. */
int keyset_pop(struct keyset *s, long long *db, char **key, size_t *len);

#endif
