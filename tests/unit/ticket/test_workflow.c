/* test_workflow.c: every status pair against the documented workflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "tk_model.h"
#include "tk_workflow.h"

/* The table from proto/ticket.proto, written out independently. */
static int expected(int from, int to)
{
    static const char *const allowed[] = {
        [TK_STATUS_OPEN] = "2345", /* investigating, waiting x2, resolved */
        [TK_STATUS_INVESTIGATING] = "345",
        [TK_STATUS_WAITING_ON_CUSTOMER] = "245",
        [TK_STATUS_WAITING_ON_RECIPIENT_IT] = "235",
        [TK_STATUS_RESOLVED] = "61", /* close, reopen */
        [TK_STATUS_CLOSED] = "1",    /* reopen */
    };
    return strchr(allowed[from], '0' + to) != NULL;
}

static void test_every_pair(void **state)
{
    (void)state;
    for (int from = 1; from < TK_STATUS_COUNT; from++)
        for (int to = 1; to < TK_STATUS_COUNT; to++) {
            if (from == to)
                continue;
            if (tk_transition_allowed((tk_status)from, (tk_status)to) != expected(from, to))
                fail_msg("%s -> %s", tk_status_name(from), tk_status_name(to));
            xd_err err;
            xd_code rc = tk_check_transition("XD-000001", (tk_status)from, (tk_status)to, &err);
            assert_int_equal(rc, expected(from, to) ? XD_OK : XD_FAILED_PRECONDITION);
        }
}

static void test_refusal_names_allowed_moves(void **state)
{
    (void)state;
    xd_err err;
    assert_int_equal(tk_check_transition("XD-000007", TK_STATUS_OPEN, TK_STATUS_CLOSED, &err),
                     XD_FAILED_PRECONDITION);
    assert_string_equal(err.field, "status");
    assert_non_null(strstr(err.message, "XD-000007 is OPEN and cannot move to CLOSED"));
    assert_non_null(strstr(err.message, "INVESTIGATING, WAITING_ON_CUSTOMER, "
                                        "WAITING_ON_RECIPIENT_IT, RESOLVED"));
    assert_int_equal(tk_check_transition("XD-000007", TK_STATUS_CLOSED, TK_STATUS_RESOLVED, &err),
                     XD_FAILED_PRECONDITION);
    assert_non_null(strstr(err.message, "allowed from CLOSED: OPEN"));
    /* Same status: a repeat, accepted. Unknown status: invalid argument. */
    assert_int_equal(tk_check_transition("XD-1", TK_STATUS_CLOSED, TK_STATUS_CLOSED, &err), XD_OK);
    assert_int_equal(tk_check_transition("XD-1", TK_STATUS_OPEN, (tk_status)9, &err),
                     XD_INVALID_ARGUMENT);
}

static void test_ids(void **state)
{
    (void)state;
    char buf[24];
    tk_format_id(123, buf, sizeof(buf));
    assert_string_equal(buf, "XD-000123");
    tk_format_id(12345678, buf, sizeof(buf));
    assert_string_equal(buf, "XD-12345678");
    assert_int_equal(tk_parse_id("XD-000123"), 123);
    assert_int_equal(tk_parse_id("xd-7"), 7);
    assert_int_equal(tk_parse_id("XD-"), 0);
    assert_int_equal(tk_parse_id("XD-12a"), 0);
    assert_int_equal(tk_parse_id("123"), 0);
    assert_int_equal(tk_parse_id("XD-1234567890123"), 0);
    assert_int_equal(tk_parse_id(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_pair),
        cmocka_unit_test(test_refusal_names_allowed_moves),
        cmocka_unit_test(test_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
