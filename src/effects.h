/*
 * effects.h -- the deterministic effect of an applied write (DESIGN
 * section 3): what enters the replication stream once the primary's reply
 * shows the write took effect.
 *
 *   SET k v EX 10          -> SET k v EX 10 + PEXPIREAT k <primary's ms>
 *   EXPIRE k 10   (:1)     -> PEXPIREAT k <primary's ms>
 *   SPOP s 2      (a, b)   -> SREM s a b
 *   INCRBYFLOAT k 1.5 (3)  -> SET k 3 KEEPTTL
 *   HINCRBYFLOAT h f 1 (2) -> HSET h f 2
 *   XADD s * f v  (1-0)    -> XADD s 1-0 f v
 *   MIGRATE ... k ... (OK) -> DEL k
 *   anything deterministic -> as sent
 *
 * An error reply enters nothing. Absolute expiry times come from the
 * primary's own clock: for the TTL kinds the dispatcher sends
 * PEXPIRETIME <key> on the pipe right after the write, and its reply is
 * the second input here. Replicas then expire keys at the same instant.
 */
#ifndef TD_EFFECTS_H
#define TD_EFFECTS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cmdtable.h"
#include "resp.h"

enum effect {
    EFFECT_NONE = 0,      /* not a write */
    EFFECT_AS_SENT,       /* deterministic: the command itself */
    EFFECT_TTL,           /* the command, then its key's absolute expiry */
    EFFECT_TTL_ONLY,      /* EXPIRE/PEXPIRE: the absolute expiry alone */
    EFFECT_SPOP,
    EFFECT_INCRBYFLOAT,
    EFFECT_HINCRBYFLOAT,
    EFFECT_XADD_ID,       /* XADD ... * ...: the id the primary chose */
    EFFECT_MIGRATE
};

/* Decides, from the command alone, how it will enter the stream. For the
 * TTL kinds, *ttl_key is the position of the key whose PEXPIRETIME the
 * dispatcher must ask for right after the command. */
enum effect effects_classify(const struct cmd *cmd, size_t argc,
                             const struct resp_arg *argv, int *ttl_key);

static inline int
effects_need_ttl(enum effect e)
{
    return e == EFFECT_TTL || e == EFFECT_TTL_ONLY;
}

/*
 * Appends the effect to out as RESP commands. reply is the primary's
 * reply to the command; ttl_reply the reply to PEXPIRETIME (TTL kinds
 * only, else NULL). Returns the number of commands appended (0: nothing
 * enters the stream), or -1 when a reply has an unexpected shape.
 */
int effects_render(enum effect e, size_t argc, const struct resp_arg *argv,
                   int ttl_key, const char *reply, size_t rlen,
                   const char *ttl_reply, size_t ttl_len, struct buf *out);

#endif
