/*
 * scripts.c -- script cache: open addressing on the SHA1, bodies owned.
 */
#include "scripts.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct script {
    char   sha[41];
    char   *body;      /* NULL: empty slot */
    size_t len;
};

static struct script *slots = NULL;
static size_t cap = 0;
static size_t count = 0;

void
scripts_sha1(const char *data, size_t len, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    unsigned int i;

    EVP_Digest(data, len, md, &mdlen, EVP_sha1(), NULL);
    for (i = 0; i < mdlen && i < 20; i++) {
        hex[i * 2] = digits[md[i] >> 4];
        hex[i * 2 + 1] = digits[md[i] & 15];
    }
    hex[40] = '\0';
}

static size_t
slot_of(const char *sha)
{
    size_t h = 0;
    int i;

    for (i = 0; i < 16; i++) {
        h = h * 16 + (size_t)(isdigit((unsigned char)sha[i])
                                  ? sha[i] - '0' : sha[i] - 'a' + 10);
    }
    return h & (cap - 1);
}

static struct script *
lookup(const char *sha)
{
    size_t i;

    if (cap == 0) {
        return NULL;
    }
    for (i = slot_of(sha); slots[i].body != NULL; i = (i + 1) & (cap - 1)) {
        if (memcmp(slots[i].sha, sha, 40) == 0) {
            return &slots[i];
        }
    }
    return NULL;
}

static void
insert(const char *sha, char *body, size_t len)
{
    size_t i = slot_of(sha);

    while (slots[i].body != NULL) {
        i = (i + 1) & (cap - 1);
    }
    memcpy(slots[i].sha, sha, 41);
    slots[i].body = body;
    slots[i].len = len;
}

void
scripts_add(const char *body, size_t len)
{
    char sha[41];

    scripts_sha1(body, len, sha);
    if (lookup(sha) != NULL) {
        return;
    }
    if ((count + 1) * 2 > cap) {
        struct script *old = slots;
        size_t oldcap = cap;
        size_t i;

        cap = cap == 0 ? 64 : cap * 2;
        slots = td_calloc(cap, sizeof(*slots));
        for (i = 0; i < oldcap; i++) {
            if (old[i].body != NULL) {
                insert(old[i].sha, old[i].body, old[i].len);
            }
        }
        free(old);
    }
    insert(sha, td_strndup(body, len), len);
    count++;
}

const char *
scripts_find(const char *sha, size_t len, size_t *body_len)
{
    char lower[41];
    struct script *s;
    size_t i;

    if (len != 40) {
        return NULL;
    }
    for (i = 0; i < 40; i++) {
        lower[i] = (char)tolower((unsigned char)sha[i]);
        if (!isxdigit((unsigned char)lower[i])) {
            return NULL;
        }
    }
    lower[40] = '\0';
    s = lookup(lower);
    if (s == NULL) {
        return NULL;
    }
    *body_len = s->len;
    return s->body;
}

void
scripts_clear(void)
{
    size_t i;

    for (i = 0; i < cap; i++) {
        free(slots[i].body);
    }
    free(slots);
    slots = NULL;
    cap = 0;
    count = 0;
}

size_t
scripts_count(void)
{
    return count;
}

void
scripts_each(void (*fn)(void *ctx, const char *body, size_t len), void *ctx)
{
    size_t i;

    for (i = 0; i < cap; i++) {
        if (slots[i].body != NULL) {
            fn(ctx, slots[i].body, slots[i].len);
        }
    }
}
