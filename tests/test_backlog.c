/*
 * Unit tests for the backlog ring and its batch marks (src/backlog.c),
 * and the ring of expected replies beside it (src/expect.c).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "backlog.h"
#include "expect.h"

/* Copies [from, to) out of the ring through its iovecs. */
static size_t
read_range(const struct backlog *b, uint64_t from, uint64_t to, char *out)
{
    struct iovec iov[2];
    int n = backlog_iov(b, from, to, iov);
    size_t len = 0;
    int i;

    ck_assert_int_ge(n, 0);
    for (i = 0; i < n; i++) {
        memcpy(out + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    return len;
}

START_TEST(test_offsets_grow_and_ranges_read_back)
{
    struct backlog b;
    char out[64];

    backlog_init(&b, 16, 0, 0);
    backlog_append(&b, "abcdef", 6);
    backlog_mark(&b, 1, 0);
    backlog_append(&b, "ghij", 4);
    backlog_mark(&b, 2, 3);
    ck_assert_uint_eq(b.end, 10);
    ck_assert_uint_eq(backlog_first(&b), 0);
    ck_assert_uint_eq(read_range(&b, 2, 8, out), 6);
    ck_assert(memcmp(out, "cdefgh", 6) == 0);
    backlog_free(&b);
}
END_TEST

START_TEST(test_wrapping_ring_gives_two_iovecs_and_drops_old_bytes)
{
    struct backlog b;
    struct iovec iov[2];
    struct backlog_mark m;
    char out[64];

    backlog_init(&b, 16, 100, 0);
    backlog_append(&b, "0123456789", 10);
    backlog_mark(&b, 1, 0);
    backlog_append(&b, "ABCDEFGHIJ", 10);    /* 20 bytes in a 16-byte ring */
    backlog_mark(&b, 2, 0);
    ck_assert_uint_eq(b.start, 104);
    ck_assert_uint_eq(b.end, 120);
    /* The mark at 100 fell out; 110 is the oldest place to resume. */
    ck_assert(!backlog_mark_at(&b, 100, &m));
    ck_assert(backlog_mark_at(&b, 110, &m));
    ck_assert_uint_eq(m.commands, 1);
    ck_assert_uint_eq(backlog_first(&b), 110);
    ck_assert_int_eq(backlog_iov(&b, 103, 120, iov), -1);
    ck_assert_int_eq(backlog_iov(&b, 104, 120, iov), 2);
    ck_assert_uint_eq(read_range(&b, 104, 120, out), 16);
    ck_assert(memcmp(out, "456789ABCDEFGHIJ", 16) == 0);
    backlog_free(&b);
}
END_TEST

START_TEST(test_next_mark_bounds_batches_at_boundaries)
{
    struct backlog b;
    struct backlog_mark m;
    int i;

    backlog_init(&b, 1024, 0, 0);
    for (i = 1; i <= 10; i++) {
        backlog_append(&b, "0123456789", 10);    /* a mark every 10 */
        backlog_mark(&b, (uint64_t)i, i % 3);
    }
    ck_assert(backlog_next_mark(&b, 0, 35, &m));
    ck_assert_uint_eq(m.offset, 30);
    ck_assert_uint_eq(m.commands, 3);
    ck_assert_int_eq(m.db, 0);
    ck_assert(backlog_next_mark(&b, 30, 5, &m));    /* less than a chunk */
    ck_assert_uint_eq(m.offset, 40);
    ck_assert(backlog_next_mark(&b, 90, 1000, &m));
    ck_assert_uint_eq(m.offset, 100);
    ck_assert(!backlog_next_mark(&b, 100, 1000, &m));
    /* Marking twice at one offset updates rather than duplicates. */
    backlog_mark(&b, 11, 5);
    ck_assert(backlog_mark_at(&b, 100, &m));
    ck_assert_uint_eq(m.commands, 11);
    ck_assert_int_eq(m.db, 5);
    backlog_free(&b);
}
END_TEST

START_TEST(test_many_marks_grow_their_ring)
{
    struct backlog b;
    struct backlog_mark m;
    uint64_t i;

    backlog_init(&b, 1 << 20, 0, 0);
    for (i = 1; i <= 5000; i++) {
        backlog_append(&b, "x", 1);
        backlog_mark(&b, i, 0);
    }
    ck_assert(backlog_mark_at(&b, 0, &m));
    ck_assert(backlog_mark_at(&b, 4321, &m));
    ck_assert_uint_eq(m.commands, 4321);
    backlog_free(&b);
}
END_TEST

START_TEST(test_append_larger_than_ring_keeps_the_tail)
{
    struct backlog b;
    char big[40];
    char out[16];

    memset(big, 'a', sizeof(big));
    memcpy(big + 32, "ZYXWVUTS", 8);
    backlog_init(&b, 8, 0, 0);
    backlog_append(&b, big, sizeof(big));
    ck_assert_uint_eq(b.end, 40);
    ck_assert_uint_eq(b.start, 32);
    ck_assert_uint_eq(read_range(&b, 32, 40, out), 8);
    ck_assert(memcmp(out, "ZYXWVUTS", 8) == 0);
    ck_assert_uint_eq(backlog_first(&b), 40);
    backlog_free(&b);
}
END_TEST

/* Digests are held for the newest cap commands; older ones, and ones
 * not appended yet, fall back to "no error". */
START_TEST(test_expect_ring_holds_the_newest_digests)
{
    struct expect_ring e;
    uint64_t ok = expect_digest("+OK\r\n", 5);
    uint64_t i;

    ck_assert(ok != EXPECT_NO_ERROR);
    ck_assert(expect_digest(":1\r\n", 4) != expect_digest(":2\r\n", 4));
    expect_init(&e, 4, 10);
    ck_assert(expect_at(&e, 10) == EXPECT_NO_ERROR);
    for (i = 0; i < 6; i++) {
        expect_push(&e, expect_digest(":1\r\n", 4) + i);
    }
    ck_assert_uint_eq(e.end, 16);
    ck_assert(expect_at(&e, 11) == EXPECT_NO_ERROR);   /* fell out */
    ck_assert(expect_at(&e, 12) == expect_digest(":1\r\n", 4) + 2);
    ck_assert(expect_at(&e, 15) == expect_digest(":1\r\n", 4) + 5);
    ck_assert(expect_at(&e, 16) == EXPECT_NO_ERROR);   /* not yet */

    ck_assert(expect_met(ok, "+OK\r\n", 5));
    ck_assert(!expect_met(ok, ":0\r\n", 4));
    ck_assert(expect_met(EXPECT_NO_ERROR, ":0\r\n", 4));
    ck_assert(!expect_met(EXPECT_NO_ERROR, "-ERR x\r\n", 8));
    ck_assert(!expect_met(expect_digest("-ERR x\r\n", 8), "-ERR x\r\n", 8));

    expect_reset(&e, 0);
    ck_assert(expect_at(&e, 0) == EXPECT_NO_ERROR);
    expect_push(&e, ok);
    ck_assert(expect_at(&e, 0) == ok);
    expect_free(&e);
}
END_TEST

int
main(void)
{
Suite *s = suite_create("backlog");
    TCase *tc = tcase_create("ring");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_offsets_grow_and_ranges_read_back);
    tcase_add_test(tc, test_wrapping_ring_gives_two_iovecs_and_drops_old_bytes);
    tcase_add_test(tc, test_next_mark_bounds_batches_at_boundaries);
    tcase_add_test(tc, test_many_marks_grow_their_ring);
    tcase_add_test(tc, test_append_larger_than_ring_keeps_the_tail);
    tcase_add_test(tc, test_expect_ring_holds_the_newest_digests);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
