/*
 * tee.c -- renders applied writes into the stream.
 *
 * Each command is parsed again from the copy the pipe kept (its argv
 * slices point into that copy), classified by effects_classify() exactly
 * as at dispatch, and rendered with its reply and, for relative TTLs, the
 * next PEXPIRETIME reply. A transaction's effects are appended in one
 * call, so a batch boundary never falls inside it. Beside each command
 * goes what it must answer on a replica (expect.h): the primary's own
 * reply when it enters the stream as sent.
 */
#include "tee.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effects.h"
#include "log.h"
#include "lostwrites.h"
#include "replica.h"
#include "resp.h"
#include "scripts.h"
#include "server.h"

static struct buf effect_buf;
static uint64_t *effect_expect;      /* one per command in effect_buf */
static size_t effect_nexpect;
static size_t effect_expect_cap;
static struct resp_parser parser;
static int parser_ready;

/* Iterates over a sequence of complete replies. */
struct reply_iter {
    const char *p;
    size_t     len;
    size_t     off;
};

static int
next_reply(struct reply_iter *it, const char **reply, size_t *len)
{
    struct resp_scan scan;

    if (it->off >= it->len) {
        return 0;
    }
    resp_scan_init(&scan);
    if (resp_scan_reply(&scan, it->p + it->off, it->len - it->off, len) !=
        1) {
        return 0;
    }
    *reply = it->p + it->off;
    it->off += *len;
    return 1;
}

/* Keeps tandem's script cache in step with the primary's. */
static void
remember_scripts(const struct cmd *cmd, size_t argc,
                 const struct resp_arg *argv, const char *reply)
{
    if (reply[0] == '-') {
        return;
    }
    if ((strcmp(cmd->name, "eval") == 0 ||
         strcmp(cmd->name, "script|load") == 0) && argc >= 2) {
        const struct resp_arg *body = cmd->name[0] == 'e' ? &argv[1]
                                                          : &argv[2];

        scripts_add(body->ptr, body->len);
    } else if (strcmp(cmd->name, "script|flush") == 0) {
        scripts_clear();
    }
}

static void
add_expect(uint64_t digest, int n)
{
    for (; n > 0; n--) {
        if (effect_nexpect == effect_expect_cap) {
            effect_expect_cap = effect_expect_cap == 0 ? 16
                                                       : effect_expect_cap * 2;
            effect_expect = td_realloc(effect_expect, effect_expect_cap *
                                                      sizeof(*effect_expect));
        }
        effect_expect[effect_nexpect++] = digest;
    }
}

static void
clear_effects(void)
{
    buf_clear(&effect_buf);
    effect_nexpect = 0;
}

/* Renders one command's effect into effect_buf; returns commands added.
 * raw is the command as sent: the common case appends it unchanged. */
static int
render_one(size_t argc, const struct resp_arg *argv, const char *raw,
           size_t rawlen, const char *reply, size_t rlen,
           struct reply_iter *probes, struct buf *after, int *nafter)
{
    struct cmd *cmd = NULL;
    enum effect e;
    size_t nprobes;
    size_t from;
    size_t i;
    int n;

    if (cmdtable_lookup(&srv.pipe.table, argc, argv, &cmd) != CMD_FOUND) {
        return 0;
    }
    e = effects_classify(cmd, argc, argv, srv.cfg.script_verbatim);
    if (e == EFFECT_AS_SENT) {
        if (rlen == 0 || reply[0] == '-' ||
            effects_changed_nothing(cmd, reply, rlen)) {
            return 0;
        }
        buf_append(&effect_buf, raw, rawlen);
        /* SORT ... BY nosort lists a set in its hash table's order, which
         * each process seeds on its own. */
        add_expect(strcmp(cmd->name, "sort") == 0
                       ? EXPECT_NO_ERROR
                       : expect_digest(reply, rlen),
                   1);
        return 1;
    }
    if (e == EFFECT_SCRIPT_LOAD || e == EFFECT_SCRIPT ||
        e == EFFECT_SCRIPT_VERBATIM) {
        remember_scripts(cmd, argc, argv, reply);
    }
    /* This command's probe replies: the next ones in line. */
    nprobes = effects_probes(e, cmd, argc, argv, NULL);
    from = probes->off;
    for (i = 0; i < nprobes; i++) {
        const char *r;
        size_t len;

        if (!next_reply(probes, &r, &len)) {
            break;
        }
    }
    n = effects_render(e, cmd, argc, argv, reply, rlen, probes->p + from,
                       probes->off - from, &effect_buf, after, nafter);
    if (n < 0) {
        log_warning("tee: unexpected reply to %s; replicating the command "
                    "as sent", cmd->name);
        resp_add_command(&effect_buf, argc, argv);
        n = 1;
    }
    add_expect(EXPECT_NO_ERROR, n);
    return n;
}

static void
prepare(void)
{
    if (!parser_ready) {
        resp_parser_init(&parser, 1LL << 40);
        buf_init(&effect_buf);
        parser_ready = 1;
    }
    clear_effects();
}

void
tee_write(long long db, const char *raw, size_t rawlen, const char *reply,
          size_t rlen, const char *probes, size_t plen)
{
    struct reply_iter pit = {probes, plen, 0};
    size_t consumed;
    int n;

    prepare();
    resp_parser_reset(&parser);
    if (resp_parse_request(&parser, raw, rawlen, &consumed) !=
        RESP_COMMAND) {
        return;
    }
    n = render_one(parser.argc, parser.argv, raw, consumed, reply, rlen,
                   &pit, NULL, NULL);
    if (n > 0) {
        stream_append(&srv.stream, db, buf_head(&effect_buf), effect_buf.len,
                      (uint64_t)n, effect_expect);
    }
}

/* What the probes after a transaction found, per database, appended
 * once the whole transaction is in the stream. */
struct tail {
    long long  db;
    struct buf cmds;
    int        n;
};

static struct tail *tails;
static size_t ntails;
static size_t tails_cap;

static struct tail *
tail_for(long long db)
{
    struct tail *t;

    if (ntails > 0 && tails[ntails - 1].db == db) {
        return &tails[ntails - 1];
    }
    if (ntails == tails_cap) {
        size_t i;

        tails_cap = tails_cap == 0 ? 4 : tails_cap * 2;
        tails = td_realloc(tails, tails_cap * sizeof(*tails));
        for (i = ntails; i < tails_cap; i++) {
            buf_init(&tails[i].cmds);
        }
    }
    t = &tails[ntails++];
    t->db = db;
    t->n = 0;
    buf_clear(&t->cmds);
    return t;
}

void
tee_exec(long long db, const char *raw, size_t rawlen, const char *reply,
         size_t rlen, const char *probes, size_t plen)
{
    struct reply_iter pit = {probes, plen, 0};
    struct reply_iter rit;
    long long count;
    const char *eol;
    size_t off = 0;
    uint64_t total = 0;
    size_t i;

    prepare();
    ntails = 0;
    /* An error (EXECABORT) or a null array (aborted) applied nothing. */
    if (rlen < 4 || reply[0] != '*' ||
        (eol = memchr(reply, '\r', rlen)) == NULL ||
        !td_str2ll(reply + 1, (size_t)(eol - reply - 1), &count) ||
        count <= 0) {
        return;
    }
    rit.p = reply;
    rit.len = rlen;
    rit.off = (size_t)(eol - reply) + 2;
    resp_parser_reset(&parser);
    while (off < rawlen && count-- > 0) {
        const char *r;
        size_t len;
        size_t consumed;
        struct tail *t;
        int n;

        if (resp_parse_request(&parser, raw + off, rawlen - off,
                               &consumed) != RESP_COMMAND ||
            !next_reply(&rit, &r, &len)) {
            break;
        }
        off += consumed;
        if (td_slice_eq(parser.argv[0].ptr, parser.argv[0].len, "select")) {
            long long to;

            /* What came before ran in db; what follows, in the new one.
             * All parts land in the same chunk, so in one batch. */
            if (len > 0 && r[0] == '+' && parser.argc == 2 &&
                td_str2ll(parser.argv[1].ptr, parser.argv[1].len, &to)) {
                if (total > 0) {
                    stream_append(&srv.stream, db, buf_head(&effect_buf),
                                  effect_buf.len, total, effect_expect);
                }
                clear_effects();
                total = 0;
                db = to;
            }
            continue;
        }
        t = tail_for(db);
        n = render_one(parser.argc, parser.argv, raw + off - consumed,
                       consumed, r, len, &pit, &t->cmds, &t->n);
        total += n > 0 ? (uint64_t)n : 0;
    }
    if (total > 0) {
        stream_append(&srv.stream, db, buf_head(&effect_buf), effect_buf.len,
                      total, effect_expect);
    }
    for (i = 0; i < ntails; i++) {
        if (tails[i].n > 0) {
            stream_append(&srv.stream, tails[i].db, buf_head(&tails[i].cmds),
                          tails[i].cmds.len, (uint64_t)tails[i].n, NULL);
        }
    }
}

/* The pipe is up: the writes lost with it are mended first, then the
 * replica links waiting for it go on. */
void
tee_pipe_up(void)
{
    lost_writes_repair();
    replica_pipe_up();
}

void
tee_pipe_lost(void)
{
    replica_pipe_lost();
}
