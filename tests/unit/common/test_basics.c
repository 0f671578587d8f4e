/* test_basics.c: arena, clock, status names, util helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common.pb-c.h"
#include "xd/arena.h"
#include "xd/clock.h"
#include "xd/status.h"
#include "xd/util.h"

static void test_arena(void **state)
{
    (void)state;
    xd_arena *a = xd_arena_new();
    char *s = xd_arena_strdup(a, "hello");
    assert_string_equal(s, "hello");
    assert_string_equal(xd_arena_printf(a, "%d-%s", 7, "x"), "7-x");
    unsigned char *big = xd_arena_alloc(a, 100000); /* larger than a block */
    for (int i = 0; i < 100000; i++)
        assert_int_equal(big[i], 0);
    for (int i = 0; i < 10000; i++) /* many small ones across blocks */
        assert_int_equal(((uintptr_t)xd_arena_alloc(a, 24)) % 16, 0);
    Xd__HealthReply *h = xd_arena_message(a, &xd__health_reply__descriptor);
    assert_string_equal(h->service, "");
    xd_arena_reset(a);
    assert_string_equal(xd_arena_strdup(a, "again"), "again");
    xd_arena_free(a);
}

static void test_clock(void **state)
{
    (void)state;
    xd_clock *c = xd_clock_manual_new(1000);
    assert_int_equal(xd_clock_now_ms(c), 1000);
    xd_clock_advance_ms(c, 500);
    assert_int_equal(xd_clock_now_ms(c), 1500);
    xd_clock_set_ms(c, 1795815840123LL);
    char buf[32];
    xd_format_rfc3339(xd_clock_now_ms(c), buf, sizeof(buf));
    assert_string_equal(buf, "2026-11-27T21:44:00.123Z");
    xd_clock_free(c);
    assert_true(xd_clock_now_ms(xd_clock_system()) > 1700000000000LL);
}

static void test_status_and_util(void **state)
{
    (void)state;
    assert_string_equal(xd_code_name(XD_RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED");
    assert_string_equal(xd_code_name(99), "UNKNOWN");
    assert_int_equal(xd_code_from_name("NOT_FOUND"), XD_NOT_FOUND);
    assert_int_equal(xd_code_from_name("nope"), -1);
    xd_err err;
    assert_int_equal(xd_err_field(&err, XD_INVALID_ARGUMENT, "to", "bad %s", "address"),
                     XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, "to");
    assert_string_equal(err.message, "bad address");
    char hex[33], hex2[33];
    xd_random_hex(hex, 16);
    xd_random_hex(hex2, 16);
    assert_int_equal(strlen(hex), 32);
    assert_string_not_equal(hex, hex2);
    assert_true(xd_const_eq("abc", "abc", 3));
    assert_false(xd_const_eq("abc", "abd", 3));
    assert_true(xd_has_crlf_nul("a\r\nb", 4));
    assert_false(xd_has_crlf_nul("plain", 5));
    char small[4];
    assert_int_equal(xd_strlcpy(small, "abcdef", sizeof(small)), 6);
    assert_string_equal(small, "abc");
    assert_true(xd_rss_kib(0) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_clock),
        cmocka_unit_test(test_status_and_util),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
