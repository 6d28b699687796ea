/*
 * builtin.h -- commands tandem answers itself, because they concern the
 * client's own connection (PING, ECHO, QUIT, RESET, HELLO, AUTH, SELECT,
 * CLIENT) or tandem as a whole (COMMAND, INFO).
 */
#ifndef TD_BUILTIN_H
#define TD_BUILTIN_H

#include <stddef.h>

#include "resp.h"

struct client;

#define BUILTIN_NO_AUTH (1 << 0)   /* allowed before authentication */
#define BUILTIN_IN_MULTI (1 << 1)  /* acts at once inside a transaction */
#define BUILTIN_QUEUED (1 << 2)    /* queued inside a transaction, and then
                                    * answered by the primary */
#define BUILTIN_SUBSCRIBED (1 << 3) /* allowed in subscribed mode */

struct builtin {
    const char *name;
    int        arity;       /* Redis's convention */
    int        flags;
    void       (*fn)(struct client *c, size_t argc,
                     const struct resp_arg *argv, const char *raw,
                     size_t rawlen, int is_inline);
};

/* The builtin named argv[0], or NULL. */
const struct builtin *builtin_find(const char *name, size_t len);

#endif
