/*
 * util.c -- allocation wrappers, number parsing and escaping.
 */
#include "util.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "log.h"

void
td_assert_fail(const char *cond, const char *file, int line)
{
    log_msg(LOG_WARNING, "assertion failed: %s (%s:%d)", cond, file, line);
    fprintf(stderr, "tandem: assertion failed: %s (%s:%d)\n", cond, file,
            line);
    abort();
}

static void
oom(size_t size)
{
    fprintf(stderr, "tandem: out of memory allocating %zu bytes\n", size);
    abort();
}

void *
td_malloc(size_t size)
{
    void *p = malloc(size == 0 ? 1 : size);

    if (p == NULL) {
        oom(size);
    }
    return p;
}

void *
td_calloc(size_t n, size_t size)
{
    void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);

    if (p == NULL) {
        oom(n * size);
    }
    return p;
}

void *
td_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size == 0 ? 1 : size);

    if (p == NULL) {
        oom(size);
    }
    return p;
}

char *
td_strdup(const char *s)
{
    return td_strndup(s, strlen(s));
}

char *
td_strndup(const char *s, size_t n)
{
    char *p = td_malloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

int
td_str2ll(const char *s, size_t len, long long *value)
{
    const char *p = s;
    size_t plen = 0;
    int negative = 0;
    unsigned long long v;

    if (len == 0 || len > 20) {
        return 0;
    }
    if (len == 1 && p[0] == '0') {
        *value = 0;
        return 1;
    }
    if (p[0] == '-') {
        negative = 1;
        p++;
        plen++;
        if (plen == len) {
            return 0;
        }
    }
    if (p[0] >= '1' && p[0] <= '9') {
        v = (unsigned long long)(p[0] - '0');
        p++;
        plen++;
    } else {
        return 0;
    }
    while (plen < len && p[0] >= '0' && p[0] <= '9') {
        if (v > (ULLONG_MAX / 10)) {
            return 0;
        }
        v *= 10;
        if (v > (ULLONG_MAX - (unsigned long long)(p[0] - '0'))) {
            return 0;
        }
        v += (unsigned long long)(p[0] - '0');
        p++;
        plen++;
    }
    if (plen < len) {
        return 0;
    }
    if (negative) {
        if (v > ((unsigned long long)(-(LLONG_MIN + 1)) + 1)) {
            return 0;
        }
        *value = (long long)(0ULL - v);
    } else {
        if (v > (unsigned long long)LLONG_MAX) {
            return 0;
        }
        *value = (long long)v;
    }
    return 1;
}

int
td_memtoll(const char *s, long long *value)
{
    const char *u = s;
    long long mul;
    long long v;
    size_t digits;

    while (*u == '-' || isdigit((unsigned char)*u)) {
        u++;
    }
    if (*u == '\0' || strcasecmp(u, "b") == 0) {
        mul = 1;
    } else if (strcasecmp(u, "k") == 0) {
        mul = 1000;
    } else if (strcasecmp(u, "kb") == 0) {
        mul = 1024;
    } else if (strcasecmp(u, "m") == 0) {
        mul = 1000LL * 1000;
    } else if (strcasecmp(u, "mb") == 0) {
        mul = 1024LL * 1024;
    } else if (strcasecmp(u, "g") == 0) {
        mul = 1000LL * 1000 * 1000;
    } else if (strcasecmp(u, "gb") == 0) {
        mul = 1024LL * 1024 * 1024;
    } else {
        return 0;
    }
    digits = (size_t)(u - s);
    if (digits == 0 || !td_str2ll(s, digits, &v) || v < 0) {
        return 0;
    }
    if (v > LLONG_MAX / mul) {
        return 0;
    }
    *value = v * mul;
    return 1;
}

int
td_slice_eq(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

char *
td_repr(char *dst, size_t dstlen, const char *s, size_t len, size_t max)
{
    size_t o = 0;
    size_t i;

    if (dstlen == 0) {
        return dst;
    }
    for (i = 0; i < len && i < max && o + 5 < dstlen; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '\\' || c == '"') {
            dst[o++] = '\\';
            dst[o++] = (char)c;
        } else if (c == '\n') {
            dst[o++] = '\\';
            dst[o++] = 'n';
        } else if (c == '\r') {
            dst[o++] = '\\';
            dst[o++] = 'r';
        } else if (isprint(c)) {
            dst[o++] = (char)c;
        } else {
            o += (size_t)snprintf(dst + o, dstlen - o, "\\x%02x", c);
        }
    }
    if (i < len && o + 4 < dstlen) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o < dstlen ? o : dstlen - 1] = '\0';
    return dst;
}

int64_t
td_mstime(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
td_nstime(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
td_ustime(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

char *
td_upper(char *dst, size_t cap, const char *s, size_t len)
{
    size_t n = TD_MIN(len, cap - 1);
    size_t i;

    for (i = 0; i < n; i++) {
        char ch = s[i];

        dst[i] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
    }
    dst[n] = '\0';
    return dst;
}

int
td_glob_match(const char *p, size_t plen, const char *s, size_t slen)
{
    while (plen > 0 && slen > 0) {
        switch (p[0]) {
        case '*':
            while (plen > 1 && p[1] == '*') {
                p++;
                plen--;
            }
            if (plen == 1) {
                return 1;
            }
            while (slen > 0) {
                if (td_glob_match(p + 1, plen - 1, s, slen)) {
                    return 1;
                }
                s++;
                slen--;
            }
            return 0;
        case '?':
            break;
        case '[': {
            int not = 0;
            int match = 0;

            p++;
            plen--;
            if (plen > 0 && p[0] == '^') {
                not = 1;
                p++;
                plen--;
            }
            while (plen > 0 && p[0] != ']') {
                if (p[0] == '\\' && plen >= 2) {
                    p++;
                    plen--;
                    match |= p[0] == s[0];
                } else if (plen >= 3 && p[1] == '-') {
                    char lo = p[0] < p[2] ? p[0] : p[2];
                    char hi = p[0] < p[2] ? p[2] : p[0];

                    match |= s[0] >= lo && s[0] <= hi;
                    p += 2;
                    plen -= 2;
                } else {
                    match |= p[0] == s[0];
                }
                p++;
                plen--;
            }
            if (plen == 0) {
                return 0;    /* unterminated class */
            }
            if (not) {
                match = !match;
            }
            if (!match) {
                return 0;
            }
            break;
        }
        case '\\':
            if (plen >= 2) {
                p++;
                plen--;
            }
            /* fall through */
        default:
            if (p[0] != s[0]) {
                return 0;
            }
            break;
        }
        p++;
        plen--;
        s++;
        slen--;
    }
    while (plen > 0 && p[0] == '*') {
        p++;
        plen--;
    }
    return plen == 0 && slen == 0;
}
