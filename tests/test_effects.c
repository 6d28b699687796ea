/*
 * Unit tests for effect rewriting (src/effects.c): every row of DESIGN
 * section 3 that the rewriting owns, from the command and the primary's
 * replies to what enters the stream.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdtable.h"
#include "effects.h"

static struct cmdtable table;

static void
load_fixture(void)
{
    const char *srcdir = getenv("TANDEM_SRCDIR");
    char path[1024];
    char err[256];
    FILE *f;
    char *data;
    long len;

    snprintf(path, sizeof(path), "%s/tests/fixtures/command-7.0.resp",
             srcdir != NULL ? srcdir : "..");
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "can't open %s", path);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = malloc((size_t)len);
    ck_assert_uint_eq(fread(data, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    cmdtable_init(&table);
    ck_assert(cmdtable_load(&table, data, (size_t)len, err, sizeof(err)) ==
              TD_OK);
    free(data);
}

static void
unload(void)
{
    cmdtable_free(&table);
}

/* Renders the effect of `line` (words split on spaces) with the given
 * replies, as "ARG|ARG;ARG|ARG;" for comparison. */
static const char *
effect_of(const char *line, const char *reply, const char *ttl_reply,
          int *ncmds)
{
    static char out[1024];
    static char copy[512];
    struct resp_arg argv[32];
    size_t argc = 0;
    struct cmd *cmd;
    struct buf b;
    struct resp_parser rp;
    enum effect e;
    int ttl_key;
    size_t off = 0;
    char *p;

    snprintf(copy, sizeof(copy), "%s", line);
    for (p = strtok(copy, " "); p != NULL; p = strtok(NULL, " ")) {
        argv[argc].ptr = p;
        argv[argc].len = strlen(p);
        argc++;
    }
    ck_assert_int_eq(cmdtable_lookup(&table, argc, argv, &cmd), CMD_FOUND);
    e = effects_classify(cmd, argc, argv, &ttl_key);
    buf_init(&b);
    *ncmds = effects_render(e, argc, argv, ttl_key, reply, strlen(reply),
                            ttl_reply, ttl_reply != NULL ? strlen(ttl_reply)
                                                         : 0, &b);
    out[0] = '\0';
    resp_parser_init(&rp, 1 << 20);
    while (off < b.len) {
        size_t consumed;
        size_t i;

        ck_assert_int_eq(resp_parse_request(&rp, buf_head(&b) + off,
                                            b.len - off, &consumed),
                         RESP_COMMAND);
        for (i = 0; i < rp.argc; i++) {
            strncat(out, rp.argv[i].ptr, rp.argv[i].len);
            strcat(out, i + 1 < rp.argc ? "|" : ";");
        }
        off += consumed;
    }
    resp_parser_free(&rp);
    buf_free(&b);
    return out;
}

struct effect_case {
    const char *command;
    const char *reply;
    const char *ttl_reply;    /* PEXPIRETIME's, for the TTL kinds */
    int        ncmds;
    const char *stream;
};

static const struct effect_case cases[] = {
    /* Deterministic writes go as sent, conditional ones too. */
    {"SET k v", "+OK\r\n", NULL, 1, "SET|k|v;"},
    {"SET k v NX", "$-1\r\n", NULL, 1, "SET|k|v|NX;"},
    {"INCR n", ":5\r\n", NULL, 1, "INCR|n;"},
    {"DEL a b", ":2\r\n", NULL, 1, "DEL|a|b;"},
    {"SET k v EXAT 1900000000", "+OK\r\n", NULL, 1,
     "SET|k|v|EXAT|1900000000;"},
    /* Errors enter nothing. */
    {"INCR s", "-ERR value is not an integer or out of range\r\n", NULL, 0,
     ""},
    /* Relative TTLs become the primary's absolute expiry. */
    {"EXPIRE k 100", ":1\r\n", ":1900000000123\r\n", 1,
     "PEXPIREAT|k|1900000000123;"},
    {"PEXPIRE k 100", ":1\r\n", ":1900000000123\r\n", 1,
     "PEXPIREAT|k|1900000000123;"},
    {"EXPIRE k 100 GT", ":0\r\n", ":1900000000123\r\n", 0, ""},
    {"EXPIRE k -1", ":1\r\n", ":-2\r\n", 1, "DEL|k;"},
    {"SETEX k 10 v", "+OK\r\n", ":1700000000000\r\n", 2,
     "SETEX|k|10|v;PEXPIREAT|k|1700000000000;"},
    {"PSETEX k 10 v", "+OK\r\n", ":1700000000000\r\n", 2,
     "PSETEX|k|10|v;PEXPIREAT|k|1700000000000;"},
    {"SET k v EX 10", "+OK\r\n", ":1700000000000\r\n", 2,
     "SET|k|v|EX|10;PEXPIREAT|k|1700000000000;"},
    {"SET k v px 10 NX", "$-1\r\n", ":-1\r\n", 2,
     "SET|k|v|px|10|NX;PERSIST|k;"},
    {"GETEX k EX 10", "$1\r\nv\r\n", ":1700000000000\r\n", 2,
     "GETEX|k|EX|10;PEXPIREAT|k|1700000000000;"},
    {"RESTORE k 5000 payload", "+OK\r\n", ":1700000000000\r\n", 2,
     "RESTORE|k|5000|payload;PEXPIREAT|k|1700000000000;"},
    {"RESTORE k 1700000000000 payload ABSTTL", "+OK\r\n", NULL, 1,
     "RESTORE|k|1700000000000|payload|ABSTTL;"},
    /* Chance becomes what happened. */
    {"SPOP s", "$1\r\na\r\n", NULL, 1, "SREM|s|a;"},
    {"SPOP s 3", "*2\r\n$1\r\na\r\n$1\r\nb\r\n", NULL, 1, "SREM|s|a|b;"},
    {"SPOP s", "$-1\r\n", NULL, 0, ""},
    {"SPOP s 2", "*0\r\n", NULL, 0, ""},
    /* Floating point becomes the primary's result. */
    {"INCRBYFLOAT f 0.1", "$3\r\n1.1\r\n", NULL, 1, "SET|f|1.1|KEEPTTL;"},
    {"HINCRBYFLOAT h f 2.5", "$3\r\n3.5\r\n", NULL, 1, "HSET|h|f|3.5;"},
    /* Generated ids become the primary's. */
    {"XADD s * f v", "$15\r\n1700000000000-0\r\n", NULL, 1,
     "XADD|s|1700000000000-0|f|v;"},
    {"XADD s MAXLEN ~ 10 * f v", "$3\r\n5-1\r\n", NULL, 1,
     "XADD|s|MAXLEN|~|10|5-1|f|v;"},
    {"XADD s NOMKSTREAM * f v", "$-1\r\n", NULL, 0, ""},
    {"XADD s 5-5 f v", "$3\r\n5-5\r\n", NULL, 1, "XADD|s|5-5|f|v;"},
    /* A migrated key is gone from here. */
    {"MIGRATE h 6379 k 0 1000", "+OK\r\n", NULL, 1, "DEL|k;"},
    {"MIGRATE h 6379 k 0 1000 COPY", "+OK\r\n", NULL, 0, ""},
    {"MIGRATE h 6379 k 0 1000", "+NOKEY\r\n", NULL, 0, ""},
    /* Reads and PUBLISH enter nothing; scripts go verbatim. */
    {"GET k", "$1\r\nv\r\n", NULL, 0, ""},
    {"PUBLISH ch m", ":1\r\n", NULL, 0, ""},
    {"EVAL return 0", ":0\r\n", NULL, 1, "EVAL|return|0;"},
};

START_TEST(test_effect_rows)
{
    const struct effect_case *c = &cases[_i];
    int n;
    const char *got = effect_of(c->command, c->reply, c->ttl_reply, &n);

    ck_assert_msg(n == c->ncmds, "%s: %d commands, expected %d", c->command,
                  n, c->ncmds);
    ck_assert_msg(strcmp(got, c->stream) == 0, "%s: '%s', expected '%s'",
                  c->command, got, c->stream);
}
END_TEST

START_TEST(test_ttl_kinds_ask_for_the_right_key)
{
    struct resp_arg argv[4] = {{"SET", 3}, {"key", 3}, {"v", 1}, {"EX", 2}};
    struct cmd *cmd;
    int ttl_key = 0;

    ck_assert_int_eq(cmdtable_lookup(&table, 4, argv, &cmd), CMD_FOUND);
    ck_assert(effects_need_ttl(effects_classify(cmd, 4, argv, &ttl_key)));
    ck_assert_int_eq(ttl_key, 1);
    ck_assert(!effects_need_ttl(effects_classify(cmd, 3, argv, &ttl_key)));
}
END_TEST

START_TEST(test_malformed_replies_are_reported)
{
    int n;

    effect_of("INCRBYFLOAT f 1", ":1\r\n", NULL, &n);
    ck_assert_int_eq(n, -1);
    effect_of("EXPIRE k 10", ":1\r\n", "+OK\r\n", &n);
    ck_assert_int_eq(n, -1);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("effects");
    TCase *tc = tcase_create("rows");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, load_fixture, unload);
    tcase_add_loop_test(tc, test_effect_rows, 0,
                        sizeof(cases) / sizeof(cases[0]));
    tcase_add_test(tc, test_ttl_kinds_ask_for_the_right_key);
    tcase_add_test(tc, test_malformed_replies_are_reported);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
