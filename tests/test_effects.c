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
#include "fixture.h"
#include "effects.h"

static struct cmdtable table;

static void
load_fixture(void)
{
    fixture_load_command_table(&table);
}

static void
unload(void)
{
    cmdtable_free(&table);
}

/* Renders the effect of `line` (words split on spaces) with the given
 * replies, as "ARG|ARG;ARG|ARG;" for comparison. */
static int verbatim;

static const char *
lookup_script(const char *sha, size_t len, size_t *blen)
{
    if (len == 40 && memcmp(sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff831",
                            40) == 0) {
        *blen = 8;
        return "return 1";
    }
    return NULL;
}

/* probes: the replies to the effect's probes, concatenated. */
static const char *
effect_of(const char *line, const char *reply, const char *probes,
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
    size_t off = 0;
    char *p;

    snprintf(copy, sizeof(copy), "%s", line);
    for (p = strtok(copy, " "); p != NULL; p = strtok(NULL, " ")) {
        argv[argc].ptr = p;
        argv[argc].len = strlen(p);
        argc++;
    }
    ck_assert_int_eq(cmdtable_lookup(&table, argc, argv, &cmd), CMD_FOUND);
    e = effects_classify(cmd, argc, argv, verbatim);
    buf_init(&b);
    effects_set_script_lookup(lookup_script);
    *ncmds = effects_render(e, cmd, argc, argv, reply, strlen(reply),
                            probes, probes != NULL ? strlen(probes) : 0, &b,
                            NULL, NULL);
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
    const char *probes;       /* replies to the probes (PEXPIRETIME...) */
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
    /* Reads and PUBLISH enter nothing. */
    {"GET k", "$1\r\nv\r\n", NULL, 0, ""},
    {"PUBLISH ch m", ":1\r\n", NULL, 0, ""},
    /* Scripts (effects mode): their keys' values after them, even when
     * they failed part-way. */
    {"EVAL script 2 a b x", ":0\r\n",
     "$4\r\nPAYL\r\n:-1\r\n$-1\r\n:-2\r\n", 2,
     "RESTORE|a|0|PAYL|REPLACE|ABSTTL;DEL|b;"},
    {"EVALSHA e0e1f9fabfc9d4800c877a703b823ac0578ff831 1 k", "-ERR boom\r\n",
     "$2\r\nPL\r\n:1700000000000\r\n", 1,
     "RESTORE|k|1700000000000|PL|REPLACE|ABSTTL;"},
    {"FCALL f 1 k", ":1\r\n", "$2\r\nPL\r\n:-1\r\n", 1,
     "RESTORE|k|0|PL|REPLACE|ABSTTL;"},
    {"EVAL script 0", ":0\r\n", NULL, 0, ""},
    {"SCRIPT LOAD body", "$40\r\n0123456789012345678901234567890123456789"
                         "\r\n", NULL, 1, "SCRIPT|LOAD|body;"},
};

START_TEST(test_effect_rows)
{
    const struct effect_case *c = &cases[_i];
    int n;
    const char *got = effect_of(c->command, c->reply, c->probes, &n);

    ck_assert_msg(n == c->ncmds, "%s: %d commands, expected %d", c->command,
                  n, c->ncmds);
    ck_assert_msg(strcmp(got, c->stream) == 0, "%s: '%s', expected '%s'",
                  c->command, got, c->stream);
}
END_TEST

/* The probes each kind asks the primary for, right after the write. */
static const char *
probes_of(const char *line)
{
    static char out[512];
    static char copy[256];
    struct resp_arg argv[16];
    size_t argc = 0;
    struct cmd *cmd;
    struct buf b;
    char *p;
    size_t n;

    snprintf(copy, sizeof(copy), "%s", line);
    for (p = strtok(copy, " "); p != NULL; p = strtok(NULL, " ")) {
        argv[argc].ptr = p;
        argv[argc].len = strlen(p);
        argc++;
    }
    ck_assert_int_eq(cmdtable_lookup(&table, argc, argv, &cmd), CMD_FOUND);
    buf_init(&b);
    n = effects_probes(effects_classify(cmd, argc, argv, verbatim), cmd,
                       argc, argv, &b);
    ck_assert_uint_eq(n, effects_probes(effects_classify(cmd, argc, argv,
                                                         verbatim),
                                        cmd, argc, argv, NULL));
    snprintf(out, sizeof(out), "%zu:%.*s", n, (int)b.len,
             b.data != NULL ? buf_head(&b) : "");
    buf_free(&b);
    return out;
}

START_TEST(test_probes_ask_for_the_right_keys)
{
    ck_assert_str_eq(probes_of("SET key v EX 10"),
                     "1:*2\r\n$11\r\nPEXPIRETIME\r\n$3\r\nkey\r\n");
    ck_assert_str_eq(probes_of("SET key v"), "0:");
    ck_assert_str_eq(probes_of("EVAL s 1 k a"),
                     "2:*2\r\n$4\r\nDUMP\r\n$1\r\nk\r\n"
                     "*2\r\n$11\r\nPEXPIRETIME\r\n$1\r\nk\r\n");
    verbatim = 1;
    ck_assert_str_eq(probes_of("EVAL s 1 k a"), "0:");
    verbatim = 0;
}
END_TEST

START_TEST(test_verbatim_scripts_turn_evalsha_into_eval)
{
    int n;

    verbatim = 1;
    ck_assert_str_eq(effect_of("EVALSHA e0e1f9fabfc9d4800c877a703b823ac0578ff831 "
                               "0", ":1\r\n", NULL, &n),
                     "EVAL|return 1|0;");
    ck_assert_str_eq(effect_of("EVALSHA 0000000000000000000000000000000000000000 "
                               "0", ":1\r\n", NULL, &n),
                     "EVALSHA|0000000000000000000000000000000000000000|0;");
    ck_assert_str_eq(effect_of("EVAL s 0", "-ERR x\r\n", NULL, &n), "");
    verbatim = 0;
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

/* A pop that found nothing changed nothing: it does not enter the
 * stream (a blocking pop's empty tries). Anything else does. */
static int
changed_nothing(const char *name, const char *reply)
{
    struct resp_arg argv[1] = {{name, strlen(name)}};
    struct cmd *cmd;

    ck_assert_int_eq(cmdtable_lookup(&table, 1, argv, &cmd), CMD_FOUND);
    return effects_changed_nothing(cmd, reply, strlen(reply));
}

START_TEST(test_empty_pops_change_nothing)
{
    ck_assert(changed_nothing("lmpop", "*-1\r\n"));
    ck_assert(changed_nothing("zmpop", "*-1\r\n"));
    ck_assert(changed_nothing("lmove", "$-1\r\n"));
    ck_assert(changed_nothing("lpop", "$-1\r\n"));
    ck_assert(changed_nothing("zpopmin", "*0\r\n"));
    ck_assert(!changed_nothing("lpop", "$1\r\na\r\n"));
    ck_assert(!changed_nothing("lmpop", "*2\r\n$1\r\nk\r\n*1\r\n$1\r\na\r\n"));
    ck_assert(!changed_nothing("getdel", "$-1\r\n"));    /* not a pop */
    ck_assert(!changed_nothing("del", ":0\r\n"));
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
    tcase_add_test(tc, test_probes_ask_for_the_right_keys);
    tcase_add_test(tc, test_verbatim_scripts_turn_evalsha_into_eval);
    tcase_add_test(tc, test_malformed_replies_are_reported);
    tcase_add_test(tc, test_empty_pops_change_nothing);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
