/* Integration: basic proxying through the real tandem binary. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct proc redis;
static struct proc tandem;

static void
setup(void)
{
    ck_assert_int_eq(harness_start_redis(&redis, NULL), 0);
    ck_assert_int_eq(harness_start_tandem(&tandem, redis.port, NULL, 1), 0);
}

static void
teardown(void)
{
    harness_stop(&tandem);
    harness_stop(&redis);
}

START_TEST(test_set_then_get_through_tandem)
{
    redisContext *c = harness_connect(tandem.port);
    redisReply *r = harness_cmd(c, "SET a 1");

    ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    r = harness_cmd(c, "GET a");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_str_eq(r->str, "1");
    freeReplyObject(r);
    redisFree(c);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("test_cli");
    TCase *tc = tcase_create("basic");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_set_then_get_through_tandem);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
