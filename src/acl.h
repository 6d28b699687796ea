/*
 * acl.h -- tandem's own users: a subset of Redis's ACL, from `user` lines
 * in tandem's configuration (and requirepass for the default user).
 *
 * Rules are Redis's (ACL SETUSER syntax) and apply left to right. The
 * commands' categories and key specs come from the primary's COMMAND
 * reply, so command rules are kept as written and matched at check time.
 */
#ifndef TD_ACL_H
#define TD_ACL_H

#include <stddef.h>

#include "buf.h"
#include "resp.h"
#include "util.h"

struct cmd;

/* One `user <name> <rule> ...` line, as words (the name first). */
struct acl_line {
    char   **words;
    size_t nwords;
};

struct acl_user;
struct acl_users;

/* What a check found (Redis's ACL_DENIED_* cases). */
enum acl_verdict {
    ACL_OK = 0,
    ACL_DENIED_CMD,
    ACL_DENIED_KEY,
    ACL_DENIED_CHANNEL
};

/* Checks one line's name and rules, in Redis's words; err says which rule
 * and why. Does not know the other lines. */
td_status acl_check_line(const struct acl_line *line, char *err,
                         size_t errlen) TD_WUR;

/* Builds the users of a configuration from its (checked) lines and
 * requirepass: the default user is `on nopass ~* &* +@all`, with
 * requirepass as its password when set, unless a line defines it. */
struct acl_users *acl_users_build(const struct acl_line *lines, size_t n,
                                  const char *requirepass);
void acl_users_free(struct acl_users *set);

/* 1 when both sets describe the same users with the same rules. */
int acl_users_same(const struct acl_users *a, const struct acl_users *b);

/* The users by name order, as ACL USERS lists them. */
size_t acl_users_count(const struct acl_users *set);
const struct acl_user *acl_users_at(const struct acl_users *set, size_t i);

const struct acl_user *acl_user_default(const struct acl_users *set);
const struct acl_user *acl_user_find(const struct acl_users *set,
                                     const char *name, size_t len);

const char *acl_user_name(const struct acl_user *u);
int acl_user_is_default(const struct acl_user *u);

/* 1 when the user has nopass (any password is accepted). */
int acl_user_nopass(const struct acl_user *u);

/* A new connection's state under this user: authenticated at once when
 * the user is on and has nopass (Redis's rule for the default user). */
int acl_user_open(const struct acl_user *u);

/* 1 when the user is on and the password is one of its own (or it has
 * nopass). Compares SHA-256 digests in constant time. */
int acl_user_check_password(const struct acl_user *u, const char *pass,
                            size_t len);

/* Appends the user's ACL LIST line ("user <name> on #<sha256> ~* ..."),
 * never a clear-text password. */
void acl_user_describe(const struct acl_user *u, struct buf *b);

/*
 * Checks whether the user may run cmd (parent: its container, for a
 * subcommand, else NULL) with these arguments: the command, then its keys
 * (read or write access from the key specs' flags), then the channels of
 * PUBLISH and the SUBSCRIBE family, as Redis 7.0's ACLSelectorCheckCmd.
 * Commands flagged no_auth (AUTH, HELLO) are always allowed.
 */
enum acl_verdict acl_check(const struct acl_user *u, const struct cmd *cmd,
                           const struct cmd *parent, size_t argc,
                           const struct resp_arg *argv);

/* SHA-256 of data as 64 lower-case hex digits and a NUL. */
void acl_sha256_hex(const char *data, size_t len, char out[65]);

#endif
