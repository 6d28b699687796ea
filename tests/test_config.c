/*
 * Unit tests for the directive table and its loader (src/config.c).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static struct config cfg;
static char err[2048];

static void
setup(void)
{
    config_init(&cfg);
    err[0] = '\0';
}

static void
teardown(void)
{
    config_free(&cfg);
}

START_TEST(test_defaults)
{
    ck_assert_int_eq(cfg.port, 6380);
    ck_assert_uint_eq(cfg.nbind, 1);
    ck_assert_str_eq(cfg.bind[0], "127.0.0.1");
    ck_assert_ptr_null(cfg.unixsocket);
    ck_assert_ptr_null(cfg.requirepass);
    ck_assert_int_eq(cfg.maxclients, 10000);
    ck_assert_int_eq(cfg.timeout, 0);
    ck_assert_int_eq(cfg.client_query_buffer_limit, 1024LL * 1024 * 1024);
    ck_assert_int_eq(cfg.proto_max_bulk_len, 512LL * 1024 * 1024);
    ck_assert_int_eq(cfg.obuf_hard, 256LL * 1024 * 1024);
    ck_assert_int_eq(cfg.obuf_soft, 64LL * 1024 * 1024);
    ck_assert_int_eq(cfg.obuf_soft_seconds, 60);
    ck_assert_int_eq(cfg.meta_db, 15);
    ck_assert_int_eq(cfg.loglevel, LOG_NOTICE);
    ck_assert_ptr_null(cfg.primary.host);
    /* No primary: the configuration is incomplete. */
    ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), TD_ERR);
    ck_assert(strstr(err, "primary") != NULL);
}
END_TEST

START_TEST(test_file_text_with_comments_quotes_and_units)
{
    const char *text =
        "# a comment\n"
        "\n"
        "port 7000\n"
        "   bind 127.0.0.1 -::1   \n"
        "primary redis://app:p%40ss@db1:6379\n"
        "replica 10.0.0.2:6379\n"
        "replica [::1]:6390\n"
        "replica rediss://:pw@dc2.example:6391\n"
        "requirepass \"with space\"\n"
        "client-query-buffer-limit 2mb\n"
        "proto-max-bulk-len 2000k\n"
        "client-output-buffer-limit normal 1gb 100mb 30\n"
        "client-output-buffer-limit pubsub 32mb 8mb 60\n"
        "LogLevel warning\r\n"
        "daemonize no\n";

    ck_assert_int_eq(config_load_text(&cfg, text, "test", err, sizeof(err)),
                     TD_OK);
    ck_assert_int_eq(cfg.port, 7000);
    ck_assert_uint_eq(cfg.nbind, 2);
    ck_assert_str_eq(cfg.bind[1], "-::1");
    ck_assert_str_eq(cfg.primary.host, "db1");
    ck_assert_int_eq(cfg.primary.port, 6379);
    ck_assert_str_eq(cfg.primary.user, "app");
    ck_assert_str_eq(cfg.primary.password, "p%40ss");
    ck_assert_uint_eq(cfg.nreplicas, 3);
    ck_assert_int_eq(cfg.replicas[2].tls, 1);
    ck_assert_str_eq(cfg.replicas[2].host, "dc2.example");
    ck_assert_str_eq(cfg.replicas[2].password, "pw");
    ck_assert_ptr_null(cfg.replicas[2].user);
    ck_assert_str_eq(cfg.replicas[0].host, "10.0.0.2");
    ck_assert_str_eq(cfg.replicas[1].host, "::1");
    ck_assert_int_eq(cfg.replicas[1].port, 6390);
    ck_assert_int_eq(cfg.replicas[1].tls, 0);
    ck_assert_str_eq(cfg.requirepass, "with space");
    ck_assert_int_eq(cfg.client_query_buffer_limit, 2 * 1024 * 1024);
    ck_assert_int_eq(cfg.proto_max_bulk_len, 2000000);
    ck_assert_int_eq(cfg.obuf_hard, 1024LL * 1024 * 1024);
    ck_assert_int_eq(cfg.obuf_soft, 100LL * 1024 * 1024);
    ck_assert_int_eq(cfg.obuf_soft_seconds, 30);
    ck_assert_int_eq(cfg.loglevel, LOG_WARNING);
    ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), TD_OK);
}
END_TEST

START_TEST(test_command_line_after_file_wins)
{
    char *argv[] = {"--primary", "127.0.0.1:6379", "--port", "7001",
                    "--bind", "127.0.0.1", "::1", "--requirepass", "",
                    "--replica", "h:1", "--replica", "h:2"};

    ck_assert_int_eq(config_load_text(&cfg, "port 7000\nrequirepass x\n",
                                      "test", err, sizeof(err)), TD_OK);
    ck_assert_int_eq(config_load_args(&cfg, 13, argv, err, sizeof(err)),
                     TD_OK);
    ck_assert_int_eq(cfg.port, 7001);
    ck_assert_uint_eq(cfg.nbind, 2);
    ck_assert_ptr_null(cfg.requirepass);
    ck_assert_uint_eq(cfg.nreplicas, 2);
}
END_TEST

START_TEST(test_error_names_line_directive_and_reason)
{
    const char *text = "port 7000\n# fine\nport 70000\n";

    ck_assert_int_eq(config_load_text(&cfg, text, "the configuration file x",
                                      err, sizeof(err)), TD_ERR);
    ck_assert_msg(strstr(err, "at line 3") != NULL, "%s", err);
    ck_assert_msg(strstr(err, ">>> 'port 70000'") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "between 0 and 65535") != NULL, "%s", err);
}
END_TEST

struct bad_line {
    const char *line;
    const char *why;
};

static const struct bad_line bad_lines[] = {
    {"nosuch 1", "unknown directive 'nosuch'"},
    {"port", "takes exactly one argument"},
    {"port 1 2", "takes exactly one argument"},
    {"port -1", "between 0 and 65535"},
    {"maxclients 0", "between 1 and 1000000"},
    {"daemonize maybe", "'yes' or 'no'"},
    {"loglevel loud", "debug, verbose, notice, warning"},
    {"client-query-buffer-limit 10q", "memory value"},
    {"primary nohostport", "is not host:port"},
    {"primary h:0", "port must be between 1 and 65535"},
    {"tls-auth-clients maybe", "yes, no or optional"},
    {"client-output-buffer-limit normal 1mb", "wrong number of arguments"},
    {"client-output-buffer-limit weird 1 1 1", "unrecognized client limit"},
    {"requirepass \"open", "Unbalanced quotes"},
};

START_TEST(test_bad_lines_are_refused_with_a_reason)
{
    ck_assert_int_eq(config_load_text(&cfg, bad_lines[_i].line, "test", err,
                                      sizeof(err)), TD_ERR);
    ck_assert_msg(strstr(err, bad_lines[_i].why) != NULL,
                  "'%s' gave: %s", bad_lines[_i].line, err);
}
END_TEST

START_TEST(test_command_line_error_names_the_argument)
{
    char *argv[] = {"--primary", "h:1", "--port", "abc"};
    char *stray[] = {"--port", "1", "stray.conf"};

    ck_assert_int_eq(config_load_args(&cfg, 4, argv, err, sizeof(err)),
                     TD_ERR);
    ck_assert_msg(strstr(err, "argument 3 (--port)") != NULL, "%s", err);
    /* Words after a directive's value belong to it: port gets 2 words. */
    ck_assert_int_eq(config_load_args(&cfg, 3, stray, err, sizeof(err)),
                     TD_ERR);
    ck_assert_msg(strstr(err, "exactly one argument") != NULL, "%s", err);
}
END_TEST

START_TEST(test_memory_units)
{
    long long v;

    ck_assert(td_memtoll("1k", &v) && v == 1000);
    ck_assert(td_memtoll("1KB", &v) && v == 1024);
    ck_assert(td_memtoll("3m", &v) && v == 3000000);
    ck_assert(td_memtoll("3mb", &v) && v == 3 * 1024 * 1024);
    ck_assert(td_memtoll("2gb", &v) && v == 2LL * 1024 * 1024 * 1024);
    ck_assert(td_memtoll("123", &v) && v == 123);
    ck_assert(!td_memtoll("", &v));
    ck_assert(!td_memtoll("mb", &v));
    ck_assert(!td_memtoll("-1", &v));
    ck_assert(!td_memtoll("1tb", &v));
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("loader");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_file_text_with_comments_quotes_and_units);
    tcase_add_test(tc, test_command_line_after_file_wins);
    tcase_add_test(tc, test_error_names_line_directive_and_reason);
    tcase_add_loop_test(tc, test_bad_lines_are_refused_with_a_reason, 0,
                        sizeof(bad_lines) / sizeof(bad_lines[0]));
    tcase_add_test(tc, test_command_line_error_names_the_argument);
    tcase_add_test(tc, test_memory_units);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
