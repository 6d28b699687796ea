/*
 * Unit tests for the command table (src/cmdtable.c), loaded from a COMMAND
 * reply recorded from Redis 7.0 (tests/fixtures/command-7.0.resp).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdtable.h"
#include "fixture.h"

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

/* Splits "a b c" into argv slices over a static copy. */
static size_t
words(const char *line, struct resp_arg *argv, size_t max)
{
    static char copy[512];
    size_t n = 0;
    char *p;

    snprintf(copy, sizeof(copy), "%s", line);
    for (p = strtok(copy, " "); p != NULL && n < max; p = strtok(NULL, " ")) {
        argv[n].ptr = p;
        argv[n].len = strlen(p);
        n++;
    }
    return n;
}

START_TEST(test_every_command_of_redis_7_is_loaded)
{
    const struct cmd *get = cmdtable_find(&table, "GeT", 3);
    const struct cmd *set = cmdtable_find(&table, "set", 3);

    ck_assert_uint_eq(table.ncmds, 240);
    ck_assert_ptr_nonnull(get);
    ck_assert_str_eq(get->name, "get");
    ck_assert_int_eq(get->arity, 2);
    ck_assert(get->flags & CMD_READONLY);
    ck_assert(!(get->flags & CMD_WRITE));
    ck_assert(set->flags & CMD_WRITE);
    ck_assert(cmdtable_find(&table, "blpop", 5)->flags & CMD_BLOCKING);
    ck_assert_ptr_null(cmdtable_find(&table, "nosuch", 6));
    /* The raw entry is a complete reply naming the command. */
    ck_assert(get->rawlen > 10);
    ck_assert(memcmp(get->raw, "*10\r\n$3\r\nget\r\n", 14) == 0);
}
END_TEST

START_TEST(test_subcommands_resolve_like_redis)
{
    struct resp_arg argv[4];
    struct cmd *c;

    ck_assert_int_eq(cmdtable_lookup(&table, words("CONFIG GET x", argv, 4),
                                     argv, &c), CMD_FOUND);
    ck_assert_str_eq(c->name, "config|get");
    ck_assert_int_eq(cmdtable_lookup(&table, words("config nope", argv, 4),
                                     argv, &c), CMD_UNKNOWN_SUB);
    /* A container alone is the container (its arity then fails). */
    ck_assert_int_eq(cmdtable_lookup(&table, words("config", argv, 4), argv,
                                     &c), CMD_FOUND);
    ck_assert_str_eq(c->name, "config");
    ck_assert(!cmd_arity_ok(c, 1));
    ck_assert_int_eq(cmdtable_lookup(&table, words("nosuch a", argv, 4),
                                     argv, &c), CMD_UNKNOWN);
}
END_TEST

START_TEST(test_arity)
{
    const struct cmd *get = cmdtable_find(&table, "get", 3);
    const struct cmd *mset = cmdtable_find(&table, "mset", 4);

    ck_assert(cmd_arity_ok(get, 2));
    ck_assert(!cmd_arity_ok(get, 1));
    ck_assert(!cmd_arity_ok(get, 3));
    ck_assert(cmd_arity_ok(mset, 3));
    ck_assert(cmd_arity_ok(mset, 7));
    ck_assert(!cmd_arity_ok(mset, 2));
}
END_TEST

struct key_case {
    const char *line;
    long        nkeys;
    int         pos[4];
};

static const struct key_case key_cases[] = {
    {"GET k", 1, {1}},
    {"SET k v EX 10", 1, {1}},
    {"MSET a 1 b 2 c 3", 3, {1, 3, 5}},
    {"DEL a b c", 3, {1, 2, 3}},
    {"RENAME a b", 2, {1, 2}},
    {"ZUNIONSTORE dst 2 a b WEIGHTS 1 2", 3, {1, 3, 4}},
    {"EVAL script 2 k1 k2 arg", 2, {3, 4}},
    {"EVAL script 0 arg", 0, {0}},
    {"XREAD COUNT 1 STREAMS s1 s2 0 0", 2, {4, 5}},
    {"LMPOP 2 l1 l2 LEFT", 2, {2, 3}},
    {"PING", 0, {0}},
    {"SORT k STORE dst", -1, {0}},
    {"MIGRATE h 6379 k 0 1000", -1, {0}},
};

START_TEST(test_key_positions_follow_key_specs)
{
    const struct key_case *kc = &key_cases[_i];
    struct resp_arg argv[16];
    size_t argc = words(kc->line, argv, 16);
    struct cmd *c;
    int pos[8];
    long n;
    long i;

    ck_assert_int_eq(cmdtable_lookup(&table, argc, argv, &c), CMD_FOUND);
    n = cmd_keys(c, argc, argv, pos, 8);
    ck_assert_msg(n == kc->nkeys, "%s: %ld keys, expected %ld", kc->line, n,
                  kc->nkeys);
    for (i = 0; i < n; i++) {
        ck_assert_msg(pos[i] == kc->pos[i], "%s: key %ld at %d, expected %d",
                      kc->line, i, pos[i], kc->pos[i]);
    }
}
END_TEST

START_TEST(test_malformed_reply_is_refused)
{
    struct cmdtable t;
    char err[256];

    cmdtable_init(&t);
    ck_assert_int_eq(cmdtable_load(&t, "*1\r\n:1\r\n", 8, err, sizeof(err)),
                     TD_ERR);
    ck_assert_int_eq(cmdtable_load(&t, "-ERR no\r\n", 9, err, sizeof(err)),
                     TD_ERR);
    ck_assert(strstr(err, "no") != NULL);
    ck_assert_int_eq(cmdtable_load(&t, "*2\r\n", 4, err, sizeof(err)),
                     TD_ERR);
    ck_assert_uint_eq(t.ncmds, 0);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("cmdtable");
    TCase *tc = tcase_create("fixture");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, load_fixture, unload);
    tcase_add_test(tc, test_every_command_of_redis_7_is_loaded);
    tcase_add_test(tc, test_subcommands_resolve_like_redis);
    tcase_add_test(tc, test_arity);
    tcase_add_loop_test(tc, test_key_positions_follow_key_specs, 0,
                        sizeof(key_cases) / sizeof(key_cases[0]));
    tcase_add_test(tc, test_malformed_reply_is_refused);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
