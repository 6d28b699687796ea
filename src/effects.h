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
 *   EVAL/EVALSHA/FCALL     -> RESTORE ... REPLACE ABSTTL (or DEL) of each
 *                             declared key, from DUMP and PEXPIRETIME right
 *                             after it (script-replication effects), or
 *                             the script itself with EVALSHA made EVAL
 *                             (script-replication verbatim)
 *   anything deterministic -> as sent
 *
 * An error reply enters nothing (a script's keys are transferred anyway:
 * it may have written before failing). What an effect needs besides the
 * reply comes from probes the dispatcher sends on the pipe right after the
 * write (effects_probes): PEXPIRETIME for absolute expiry times, from the
 * primary's own clock, so replicas expire keys at the same instant; DUMP
 * for a script's keys.
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
    EFFECT_MIGRATE,
    EFFECT_SCRIPT,        /* script-replication effects: its keys' values */
    EFFECT_SCRIPT_VERBATIM, /* the script, EVALSHA turned into EVAL */
    EFFECT_SCRIPT_LOAD    /* SCRIPT LOAD: as sent, and remembered */
};

/* Finds a script's body by its SHA1 (tandem's script cache), for
 * EVALSHA in verbatim mode. Returns NULL when unknown. */
typedef const char *(*effects_script_lookup)(const char *sha, size_t len,
                                             size_t *body_len);
void effects_set_script_lookup(effects_script_lookup fn);

/*
 * The key transfer (DESIGN I8): the stream command that sets key to what
 * DUMP and PEXPIRETIME (their replies, sent back to back on the pipe)
 * found on the primary: RESTORE key <abs-ms|0> <payload> REPLACE ABSTTL,
 * or DEL when the key does not exist. Returns 1, or -1 when a reply has
 * an unexpected shape.
 */
int effects_transfer(const struct resp_arg *key, const char *dump,
                     size_t dlen, const char *expiry, size_t elen,
                     struct buf *out);

/* Whether a write that enters the stream as sent changed nothing, as its
 * reply shows: a pop that found nothing to pop (a blocking pop's tries,
 * mostly). */
int effects_changed_nothing(const struct cmd *cmd, const char *reply,
                            size_t rlen);

/* Decides, from the command alone, how it will enter the stream.
 * script_verbatim selects script-replication verbatim. */
enum effect effects_classify(const struct cmd *cmd, size_t argc,
                             const struct resp_arg *argv,
                             int script_verbatim);

/* Appends to out (when not NULL) the probe commands the effect needs
 * right after the command, and returns how many there are. */
size_t effects_probes(enum effect e, const struct cmd *cmd, size_t argc,
                      const struct resp_arg *argv, struct buf *out);

/*
 * Appends the effect to out as RESP commands. reply is the primary's
 * reply to the command; probes the replies to its probes, in order (plen
 * bytes). Returns the number of commands appended (0: nothing enters the
 * stream), or -1 when a reply has an unexpected shape.
 *
 * What the probes found (absolute expiries, a script's keys) describes
 * the keys as the probes saw them. For one command that is right after
 * it; for a transaction, after all of it, since the probes follow EXEC:
 * such commands then go to `after` (when not NULL, with their count in
 * *nafter), to be appended once the whole transaction is.
 */
int effects_render(enum effect e, const struct cmd *cmd, size_t argc,
                   const struct resp_arg *argv, const char *reply,
                   size_t rlen, const char *probes, size_t plen,
                   struct buf *out, struct buf *after, int *nafter);

#endif
