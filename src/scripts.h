/*
 * scripts.h -- the Lua scripts tandem has seen loaded (EVAL, SCRIPT LOAD),
 * by SHA1 as Redis names them: EVALSHA is replicated as EVAL in verbatim
 * mode, and a seeded replica gets them with SCRIPT LOAD.
 */
#ifndef TD_SCRIPTS_H
#define TD_SCRIPTS_H

#include <stddef.h>

void scripts_add(const char *body, size_t len);
/* The body for a SHA1 (40 hex digits, any case), or NULL. */
const char *scripts_find(const char *sha, size_t len, size_t *body_len);
void scripts_clear(void);
size_t scripts_count(void);
void scripts_each(void (*fn)(void *ctx, const char *body, size_t len),
                  void *ctx);

/* SHA1 of data as 40 lower-case hex digits plus NUL. */
void scripts_sha1(const char *data, size_t len, char *hex);

#endif
