/*
 * util.h -- the status type, assertions and small string helpers shared by
 * every module.
 */
#ifndef TD_UTIL_H
#define TD_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* One status type for everything that can fail. */
typedef enum td_status {
    TD_OK = 0,
    TD_ERR = -1,
    TD_EAGAIN = -2
} td_status;

#define TD_WUR __attribute__((warn_unused_result))
#define TD_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define TD_UNUSED(x) ((void)(x))

#define TD_MIN(a, b) ((a) < (b) ? (a) : (b))
#define TD_MAX(a, b) ((a) > (b) ? (a) : (b))
#define TD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#ifdef TD_DEBUG
#define TD_ASSERT(cond) \
    ((cond) ? (void)0 : td_assert_fail(#cond, __FILE__, __LINE__))
#else
#define TD_ASSERT(cond) ((void)0)
#endif

void td_assert_fail(const char *cond, const char *file, int line)
    __attribute__((noreturn));

/* Allocation that never returns NULL: out of memory aborts with a log line,
 * as Redis's zmalloc does. */
void *td_malloc(size_t size);
void *td_calloc(size_t n, size_t size);
void *td_realloc(void *ptr, size_t size);
char *td_strdup(const char *s);
char *td_strndup(const char *s, size_t n);

/* Strict decimal parse of a whole slice, Redis's string2ll rules: no spaces,
 * no leading '+', no leading zeros. Returns 1 on success. */
int td_str2ll(const char *s, size_t len, long long *value);

/* Memory size with Redis's units: 1k=1000 1kb=1024 1m 1mb 1g 1gb, case
 * insensitive. Returns 1 on success. */
int td_memtoll(const char *s, long long *value);

/* Case-insensitive equality of a slice and a NUL-terminated word. */
int td_slice_eq(const char *s, size_t len, const char *word);

/* Redis's glob matching (stringmatchlen, case-sensitive): * ? [a-z] [^x]
 * and \ escapes. For Pub/Sub patterns, CHANNELS and ACL key and channel
 * patterns. */
int td_glob_match(const char *pat, size_t plen, const char *s, size_t slen);

/* Copies at most cap - 1 bytes of s, in upper case, NUL-terminated (for
 * command names in messages). Returns dst. */
char *td_upper(char *dst, size_t cap, const char *s, size_t len);

/* Writes a representation of s safe for a log line (quotes, \xNN escapes),
 * cut at max bytes of input. Returns dst. */
char *td_repr(char *dst, size_t dstlen, const char *s, size_t len, size_t max);

/* Monotonic milliseconds and wall-clock microseconds. */
int64_t td_mstime(void);
int64_t td_ustime(void);
/* Monotonic nanoseconds (clock_gettime through the vDSO: no system call
 * on Linux, about 30 ns). */
int64_t td_nstime(void);

#endif
