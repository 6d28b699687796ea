/*
 * Unit tests for the RESP request parser and reply scanner (src/resp.c):
 * every bad-input row of DESIGN section 5 that the parser owns, with
 * Redis 7's texts, and requests split at every byte boundary.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

#define MAXBULK (512LL * 1024 * 1024)

/* Parses all of input fed in chunks of `step` bytes, as a client's query
 * buffer would grow. Collects commands as "arg|arg|...;" into out.
 * Returns the error text, or NULL. */
static const char *
parse_stream(struct resp_parser *rp, const char *input, size_t len,
             size_t step, char *out, size_t outlen)
{
    size_t have = 0;
    size_t start = 0;

    out[0] = '\0';
    while (have < len || start < have) {
        size_t consumed;
        enum resp_result rc;

        if (have < len) {
            have = have + step > len ? len : have + step;
        }
        for (;;) {
            rc = resp_parse_request(rp, input + start, have - start,
                                    &consumed);
            if (rc == RESP_PROTO_ERROR) {
                return rp->error;
            }
            if (rc == RESP_NEED_MORE) {
                break;
            }
            if (rc == RESP_COMMAND) {
                size_t i;

                for (i = 0; i < rp->argc; i++) {
                    strncat(out, rp->argv[i].ptr,
                            rp->argv[i].len < outlen - strlen(out) - 2
                                ? rp->argv[i].len
                                : 0);
                    strcat(out, i + 1 < rp->argc ? "|" : ";");
                }
            }
            start += consumed;
            if (start == have) {
                break;
            }
        }
        if (have == len && rc == RESP_NEED_MORE) {
            break;
        }
    }
    return NULL;
}

/* The error text may live in the parser: it is copied out. */
static const char *
parse_all(const char *input, char *out, size_t outlen)
{
    static char error[128];
    struct resp_parser rp;
    const char *err;

    resp_parser_init(&rp, MAXBULK);
    err = parse_stream(&rp, input, strlen(input), strlen(input), out, outlen);
    if (err != NULL) {
        snprintf(error, sizeof(error), "%s", err);
        err = error;
    }
    resp_parser_free(&rp);
    return err;
}

START_TEST(test_multibulk_command_is_parsed_without_copying)
{
    const char *in = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
    struct resp_parser rp;
    size_t consumed;

    resp_parser_init(&rp, MAXBULK);
    ck_assert_int_eq(resp_parse_request(&rp, in, strlen(in), &consumed),
                     RESP_COMMAND);
    ck_assert_uint_eq(consumed, strlen(in));
    ck_assert_uint_eq(rp.argc, 3);
    /* Arguments are slices of the input itself. */
    ck_assert_ptr_eq(rp.argv[2].ptr, in + strlen(in) - 7);
    ck_assert_uint_eq(rp.argv[2].len, 5);
    resp_parser_free(&rp);
}
END_TEST

START_TEST(test_request_split_at_every_byte_boundary)
{
    const char *in = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$10\r\n0123456789\r\n"
                     "PING\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"
                     "GET \"a b\"\n";
    size_t step;
    char out[512];

    for (step = 1; step <= strlen(in); step++) {
        struct resp_parser rp;

        resp_parser_init(&rp, MAXBULK);
        ck_assert_ptr_null(parse_stream(&rp, in, strlen(in), step, out,
                                        sizeof(out)));
        ck_assert_str_eq(out, "SET|key|0123456789;PING;ECHO|;GET|a b;");
        resp_parser_free(&rp);
    }
}
END_TEST

START_TEST(test_inline_quotes_and_escapes)
{
    char out[256];

    ck_assert_ptr_null(parse_all("SET \"a\\x41\\n\" 'it\\'s'\r\n", out,
                                 sizeof(out)));
    ck_assert_str_eq(out, "SET|aA\n|it's;");
    ck_assert_ptr_null(parse_all("  \r\n\n", out, sizeof(out)));
    ck_assert_str_eq(out, "");
}
END_TEST

/* Found by tests/fuzz/fuzz_resp.c; redis-server 7.0.15 answers the same. */
START_TEST(test_inline_vertical_tab_and_form_feed_stay_in_argument)
{
    char out[256];

    ck_assert_ptr_null(parse_all("ECHO a\vb\r\nECHO a\fb\r\nECHO \va\r\n"
                                 "ECHO \"a\"\v\r\n",
                                 out, sizeof(out)));
    ck_assert_str_eq(out, "ECHO|a\vb;ECHO|a\fb;ECHO|a;ECHO|a;");
}
END_TEST

/* Redis looks for line ends with strchr(), so a NUL byte hides them: no
 * reply until the line is too big. Found by tests/fuzz/fuzz_resp.c. */
static const struct {
    const char *input;
    size_t     len;
    const char *too_big;
} nul_inputs[] = {
    {"ECHO a\0b\r\nPING\r\n", 16, "Protocol error: too big inline request"},
    {"ECHO \"a\0b\"\r\n", 12, "Protocol error: too big inline request"},
    {"*1\0\r\n$4\r\nPING\r\n", 15,
     "Protocol error: too big mbulk count string"},
    {"*1\r\n$4\0\r\nPING\r\n", 15,
     "Protocol error: too big bulk count string"},
    {"*1\r\n\0$4\r\nPING\r\n", 15,
     "Protocol error: too big bulk count string"},
};

START_TEST(test_nul_byte_hides_line_end_as_in_redis)
{
    size_t len = nul_inputs[_i].len;
    size_t n = RESP_INLINE_MAX + 100;
    char *in = malloc(n);
    struct resp_parser rp;
    size_t consumed;

    memset(in, 'x', n);
    memcpy(in, nul_inputs[_i].input, len);
    resp_parser_init(&rp, MAXBULK);
    ck_assert_int_eq(resp_parse_request(&rp, in, len, &consumed),
                     RESP_NEED_MORE);
    ck_assert_uint_eq(consumed, 0);
    /* More lines do not help; past the inline limit it is an error. */
    memcpy(in + len, "PING\r\n", 6);
    ck_assert_int_eq(resp_parse_request(&rp, in, len + 6, &consumed),
                     RESP_NEED_MORE);
    ck_assert_int_eq(resp_parse_request(&rp, in, n, &consumed),
                     RESP_PROTO_ERROR);
    ck_assert_str_eq(rp.error, nul_inputs[_i].too_big);
    resp_parser_free(&rp);
    free(in);
}
END_TEST

/* Found by tests/fuzz/fuzz_resp.c (UBSan: zero offset to a NULL pointer). */
START_TEST(test_inline_empty_arguments_point_into_scratch)
{
    const char *in = "\"\" ''\r\n";
    struct resp_parser rp;
    size_t consumed;

    resp_parser_init(&rp, MAXBULK);
    ck_assert_int_eq(resp_parse_request(&rp, in, strlen(in), &consumed),
                     RESP_COMMAND);
    ck_assert_uint_eq(consumed, strlen(in));
    ck_assert_uint_eq(rp.argc, 2);
    ck_assert_uint_eq(rp.argv[0].len, 0);
    ck_assert_ptr_nonnull(rp.argv[0].ptr);
    ck_assert_ptr_nonnull(rp.argv[1].ptr);
    resp_parser_free(&rp);
}
END_TEST

struct bad_input {
    const char *input;
    const char *error;
};

static const struct bad_input bad_inputs[] = {
    {"*abc\r\n", "Protocol error: invalid multibulk length"},
    {"*3000000000\r\n", "Protocol error: invalid multibulk length"},
    {"*1\r\n$abc\r\n", "Protocol error: invalid bulk length"},
    {"*1\r\n$-5\r\n", "Protocol error: invalid bulk length"},
    {"*1\r\n$600000000\r\n", "Protocol error: invalid bulk length"},
    {"*1\r\nx\r\n", "Protocol error: expected '$', got 'x'"},
    {"*2\r\n$3\r\nGET\r\n:1\r\n", "Protocol error: expected '$', got ':'"},
    {"SET \"a b\r\n", "Protocol error: unbalanced quotes in request"},
    {"SET 'a\r\n", "Protocol error: unbalanced quotes in request"},
    {"SET \"a\"b\r\n", "Protocol error: unbalanced quotes in request"},
};

START_TEST(test_bad_input_gets_redis_error_text)
{
    char out[256];
    const char *err = parse_all(bad_inputs[_i].input, out, sizeof(out));

    ck_assert_ptr_nonnull(err);
    ck_assert_str_eq(err, bad_inputs[_i].error);
}
END_TEST

START_TEST(test_empty_multibulk_is_skipped)
{
    char out[256];

    ck_assert_ptr_null(parse_all("*0\r\n*-1\r\nPING\r\n", out, sizeof(out)));
    ck_assert_str_eq(out, "PING;");
}
END_TEST

START_TEST(test_oversized_lines_without_newline_are_refused)
{
    size_t n = RESP_INLINE_MAX + 10;
    char *in = malloc(n + 1);
    struct resp_parser rp;
    size_t consumed;

    memset(in, 'a', n);
    in[n] = '\0';
    resp_parser_init(&rp, MAXBULK);
    ck_assert_int_eq(resp_parse_request(&rp, in, n, &consumed),
                     RESP_PROTO_ERROR);
    ck_assert_str_eq(rp.error, "Protocol error: too big inline request");
    in[0] = '*';
    resp_parser_reset(&rp);
    ck_assert_int_eq(resp_parse_request(&rp, in, n, &consumed),
                     RESP_PROTO_ERROR);
    ck_assert_str_eq(rp.error, "Protocol error: too big mbulk count string");
    memcpy(in, "*1\r\n", 4);
    resp_parser_reset(&rp);
    ck_assert_int_eq(resp_parse_request(&rp, in, n, &consumed),
                     RESP_PROTO_ERROR);
    ck_assert_str_eq(rp.error, "Protocol error: too big bulk count string");
    resp_parser_free(&rp);
    free(in);
}
END_TEST

START_TEST(test_unauthenticated_limits)
{
    struct resp_parser rp;
    size_t consumed;
    const char *many = "*11\r\n";
    const char *big = "*1\r\n$16385\r\n";

    resp_parser_init(&rp, MAXBULK);
    rp.unauth = 1;
    ck_assert_int_eq(resp_parse_request(&rp, many, strlen(many), &consumed),
                     RESP_PROTO_ERROR);
    ck_assert_str_eq(rp.error,
                     "Protocol error: unauthenticated multibulk length");
    resp_parser_reset(&rp);
    ck_assert_int_eq(resp_parse_request(&rp, big, strlen(big), &consumed),
                     RESP_PROTO_ERROR);
    ck_assert_str_eq(rp.error, "Protocol error: unauthenticated bulk length");
    resp_parser_reset(&rp);
    rp.unauth = 0;
    ck_assert_int_eq(resp_parse_request(&rp, big, strlen(big), &consumed),
                     RESP_NEED_MORE);
    ck_assert_uint_eq(rp.want, strlen(big) + 16385 + 2);
    resp_parser_free(&rp);
}
END_TEST

START_TEST(test_proto_max_bulk_len_is_enforced)
{
    struct resp_parser rp;
    size_t consumed;
    const char *ok = "*1\r\n$1048576\r\n";
    const char *big = "*1\r\n$1048577\r\n";

    resp_parser_init(&rp, 1048576);
    ck_assert_int_eq(resp_parse_request(&rp, ok, strlen(ok), &consumed),
                     RESP_NEED_MORE);
    resp_parser_reset(&rp);
    ck_assert_int_eq(resp_parse_request(&rp, big, strlen(big), &consumed),
                     RESP_PROTO_ERROR);
    ck_assert_str_eq(rp.error, "Protocol error: invalid bulk length");
    resp_parser_free(&rp);
}
END_TEST

START_TEST(test_reply_scanner_frames_nested_replies_across_reads)
{
    const char *replies = "+OK\r\n-ERR x\r\n:42\r\n$-1\r\n$3\r\nfoo\r\n"
                          "*-1\r\n*0\r\n*2\r\n*2\r\n:1\r\n$1\r\na\r\n+b\r\n";
    static const size_t lens[] = {5, 8, 5, 5, 9, 5, 4, 23};
    size_t n = strlen(replies);
    size_t step;

    for (step = 1; step <= n; step++) {
        struct resp_scan s;
        size_t have = 0;
        size_t start = 0;
        size_t found = 0;

        resp_scan_init(&s);
        while (start < n) {
            size_t len;
            int rc;

            if (have < n) {
                have = have + step > n ? n : have + step;
            }
            rc = resp_scan_reply(&s, replies + start, have - start, &len);
            ck_assert_int_ge(rc, 0);
            if (rc == 1) {
                ck_assert_uint_eq(len, lens[found]);
                found++;
                start += len;
            } else {
                ck_assert_uint_lt(have - start, n - start + 1);
                if (have == n) {
                    break;
                }
            }
        }
        ck_assert_uint_eq(found, 8);
    }
}
END_TEST

START_TEST(test_reply_scanner_rejects_garbage)
{
    struct resp_scan s;
    size_t len;

    resp_scan_init(&s);
    ck_assert_int_eq(resp_scan_reply(&s, "?x\r\n", 4, &len), -1);
    resp_scan_init(&s);
    ck_assert_int_eq(resp_scan_reply(&s, "$abc\r\n", 6, &len), -1);
}
END_TEST

START_TEST(test_error_writer_sanitizes_newlines)
{
    struct buf b;

    buf_init(&b);
    resp_add_error(&b, "bad\r\nthing");
    resp_add_error(&b, "-NOAUTH Authentication required.");
    buf_append(&b, "", 1);
    ck_assert_str_eq(buf_head(&b),
                     "-ERR bad  thing\r\n-NOAUTH Authentication required.\r\n");
    buf_free(&b);
}
END_TEST

/* A walk returns every command with the database it runs in; a SELECT
 * is returned, flagged, and moves the walk for what follows. */
START_TEST(test_walk_follows_selects)
{
    static const char run[] = "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n"
                              "*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n"
                              "*2\r\n$4\r\nINCR\r\n$1\r\nb\r\n";
    struct resp_walk w;

    resp_walk_init(&w, run, sizeof(run) - 1, 5);
    ck_assert_int_eq(resp_walk_next(&w), 1);
    ck_assert_int_eq(w.is_select, 0);
    ck_assert_int_eq(w.db, 5);
    ck_assert_uint_eq(w.parser.argc, 3);
    ck_assert_int_eq(resp_walk_next(&w), 1);
    ck_assert_int_eq(w.is_select, 1);
    ck_assert_int_eq(w.db, 5);
    ck_assert_int_eq(resp_walk_next(&w), 1);
    ck_assert_int_eq(w.is_select, 0);
    ck_assert_int_eq(w.db, 3);
    ck_assert_int_eq(memcmp(w.parser.argv[1].ptr, "b", 1), 0);
    ck_assert_int_eq(resp_walk_next(&w), 0);
    resp_walk_free(&w);

    /* Half a command is not a command. */
    resp_walk_init(&w, run, 20, 0);
    ck_assert_int_eq(resp_walk_next(&w), -1);
    resp_walk_free(&w);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("resp");
    TCase *tc = tcase_create("parser");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_multibulk_command_is_parsed_without_copying);
    tcase_add_test(tc, test_request_split_at_every_byte_boundary);
    tcase_add_test(tc, test_inline_quotes_and_escapes);
    tcase_add_loop_test(tc, test_bad_input_gets_redis_error_text, 0,
                        sizeof(bad_inputs) / sizeof(bad_inputs[0]));
    tcase_add_test(tc, test_inline_vertical_tab_and_form_feed_stay_in_argument);
    tcase_add_test(tc, test_inline_empty_arguments_point_into_scratch);
    tcase_add_loop_test(tc, test_nul_byte_hides_line_end_as_in_redis, 0,
                        sizeof(nul_inputs) / sizeof(nul_inputs[0]));
    tcase_add_test(tc, test_empty_multibulk_is_skipped);
    tcase_add_test(tc, test_oversized_lines_without_newline_are_refused);
    tcase_add_test(tc, test_unauthenticated_limits);
    tcase_add_test(tc, test_proto_max_bulk_len_is_enforced);
    tcase_add_test(tc, test_reply_scanner_frames_nested_replies_across_reads);
    tcase_add_test(tc, test_reply_scanner_rejects_garbage);
    tcase_add_test(tc, test_error_writer_sanitizes_newlines);
    tcase_add_test(tc, test_walk_follows_selects);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
