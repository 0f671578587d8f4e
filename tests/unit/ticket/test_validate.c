/* test_validate.c: the Create validation matrix, times and domains. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "tk_address.h"
#include "tk_text.h"
#include "tk_validate.h"

/* 2026-11-27T12:00:00Z */
#define NOW_MS 1795780800000LL

static tk_create_input good(void)
{
    tk_create_input in = {
        .occurred_at = "2026-11-27T09:15:00+01:00",
        .recipient = "Jane.Doe@Example.COM",
        .recipient_domain = "",
        .module = "bulk-email",
        .other_domain_tried = TK_OTHER_NO,
        .other_domain = "",
        .issue_type = TK_ISSUE_NOT_RECEIVED,
        .description = "The course confirmation never arrived.",
        .additional_info = "",
        .reporter = "support@school.example",
        .message_id = "",
        .idempotency_key = "",
    };
    return in;
}

static int has_field(const tk_problems *p, const char *field)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->items[i].field, field) == 0)
            return 1;
    return 0;
}

static const char *reason_of(const tk_problems *p, const char *field)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->items[i].field, field) == 0)
            return p->items[i].reason;
    return "";
}

static void test_good_ticket_passes_and_derives(void **state)
{
    (void)state;
    tk_create_input in = good();
    tk_create_valid v;
    tk_problems p;
    assert_int_equal(tk_validate_create(&in, NOW_MS, &v, &p), 0);
    assert_string_equal(v.recipient_domain, "example.com");
    /* 09:15 at +01:00 is 08:15Z. */
    assert_int_equal(v.occurred_ms, NOW_MS - (3 * 60 + 45) * 60 * 1000LL);
    in.recipient_domain = "EXAMPLE.com";
    assert_int_equal(tk_validate_create(&in, NOW_MS, &v, &p), 0);
    in.other_domain_tried = TK_OTHER_YES;
    in.other_domain = "Gmail.com";
    assert_int_equal(tk_validate_create(&in, NOW_MS, &v, &p), 0);
    assert_string_equal(v.other_domain, "gmail.com");
}

static void test_empty_request_names_every_required_field(void **state)
{
    (void)state;
    tk_create_input in = {0};
    tk_create_valid v;
    tk_problems p;
    int n = tk_validate_create(&in, NOW_MS, &v, &p);
    const char *required[] = {"occurred_at", "recipient",   "module",  "other_domain_tried",
                              "issue_type",  "description", "reporter"};
    assert_int_equal(n, 7);
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        assert_true(has_field(&p, required[i]));
    char msg[512];
    tk_problems_message(&p, msg, sizeof(msg));
    assert_non_null(strstr(msg, "7 ticket fields to fix (occurred_at, recipient, module, "
                                "other_domain_tried, issue_type, description, reporter)"));
}

/* One bad field at a time: exactly that field is named, with a reason. */
typedef struct {
    const char *field;
    void (*spoil)(tk_create_input *in);
    const char *reason_part;
} bad_case;

static char big[9000];
static void no_zone(tk_create_input *in)
{
    in->occurred_at = "2026-11-27T09:15:00";
}
static void no_time(tk_create_input *in)
{
    in->occurred_at = "2026-11-27";
}
static void bad_date(tk_create_input *in)
{
    in->occurred_at = "2026-02-30T09:15:00Z";
}
static void future(tk_create_input *in)
{
    in->occurred_at = "2026-11-28T12:00:00Z";
}
static void words(tk_create_input *in)
{
    in->occurred_at = "yesterday";
}
static void no_at(tk_create_input *in)
{
    in->recipient = "jane.example.com";
}
static void bad_dom(tk_create_input *in)
{
    in->recipient = "jane@exa mple.com";
}
static void crlf_rcpt(tk_create_input *in)
{
    in->recipient = "jane@example.com\r\nBcc: x@y.z";
}
static void dom_mismatch(tk_create_input *in)
{
    in->recipient_domain = "example.org";
}
static void module_crlf(tk_create_input *in)
{
    in->module = "bulk\nemail";
}
static void yes_no_domain(tk_create_input *in)
{
    in->other_domain_tried = TK_OTHER_YES;
}
static void no_with_domain(tk_create_input *in)
{
    in->other_domain = "gmail.com";
}
static void same_domain(tk_create_input *in)
{
    in->other_domain_tried = TK_OTHER_YES;
    in->other_domain = "example.com";
}
static void tried_bogus(tk_create_input *in)
{
    in->other_domain_tried = 9;
}
static void issue_bogus(tk_create_input *in)
{
    in->issue_type = 42;
}
static void blank_desc(tk_create_input *in)
{
    in->description = "   \n\t ";
}
static void huge_desc(tk_create_input *in)
{
    in->description = big;
}
static void huge_info(tk_create_input *in)
{
    in->additional_info = big;
}
static void bad_utf8(tk_create_input *in)
{
    in->reporter = "J\xc3\x28ne";
}
static void long_key(tk_create_input *in)
{
    in->idempotency_key = big;
}

static void test_each_bad_field_is_named(void **state)
{
    (void)state;
    memset(big, 'a', sizeof(big) - 1);
    const bad_case cases[] = {
        {"occurred_at", no_zone, "no time zone"},
        {"occurred_at", no_time, "no time of day"},
        {"occurred_at", bad_date, "not a real date"},
        {"occurred_at", future, "in the future"},
        {"occurred_at", words, "not a date and time"},
        {"recipient", no_at, "NO_AT"},
        {"recipient", bad_dom, "not a valid address"},
        {"recipient", crlf_rcpt, "control characters"},
        {"recipient_domain", dom_mismatch, "does not match"},
        {"module", module_crlf, "line breaks"},
        {"other_domain", yes_no_domain, "required when other_domain_tried is YES"},
        {"other_domain", no_with_domain, "must be empty"},
        {"other_domain", same_domain, "recipient's own domain"},
        {"other_domain_tried", tried_bogus, "YES"},
        {"issue_type", issue_bogus, "NOT_RECEIVED"},
        {"description", blank_desc, "required"},
        {"description", huge_desc, "at most 8000"},
        {"additional_info", huge_info, "at most 8000"},
        {"reporter", bad_utf8, "UTF-8"},
        {"idempotency_key", long_key, "at most 128"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tk_create_input in = good();
        cases[i].spoil(&in);
        tk_create_valid v;
        tk_problems p;
        int n = tk_validate_create(&in, NOW_MS, &v, &p);
        if (n != 1 || !has_field(&p, cases[i].field) ||
            !strstr(reason_of(&p, cases[i].field), cases[i].reason_part))
            fail_msg("case %zu (%s): %d problems, first %s: %s", i, cases[i].field, n,
                     n ? p.items[0].field : "-", n ? p.items[0].reason : "-");
    }
}

static void test_several_bad_fields_at_once(void **state)
{
    (void)state;
    tk_create_input in = good();
    in.occurred_at = "2026-11-27 09:15";
    in.recipient = "nobody";
    in.issue_type = 0;
    tk_create_valid v;
    tk_problems p;
    assert_int_equal(tk_validate_create(&in, NOW_MS, &v, &p), 3);
    char msg[512];
    tk_problems_message(&p, msg, sizeof(msg));
    assert_non_null(strstr(msg, "3 ticket fields to fix (occurred_at, recipient, issue_type)"));
    assert_non_null(strstr(msg, "no time zone"));
}

static void test_times(void **state)
{
    (void)state;
    int64_t ms = 0;
    char why[160];
    assert_int_equal(tk_parse_time("1970-01-01T00:00:00Z", &ms, why, sizeof(why)), -1); /* < 2000 */
    assert_int_equal(tk_parse_time("2000-01-01T00:00:00Z", &ms, why, sizeof(why)), 0);
    assert_int_equal(ms, 946684800000LL);
    assert_int_equal(tk_parse_time("2024-02-29T23:59:59.5-05:30", &ms, why, sizeof(why)), 0);
    assert_int_equal(ms, 1709270999500LL);
    assert_int_equal(tk_parse_time("2023-02-29T10:00Z", &ms, why, sizeof(why)), -1);
    assert_int_equal(tk_parse_time("2026-11-27T09:15:00+1:00", &ms, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "zone offset"));
    assert_int_equal(tk_parse_time("2026-11-27T09:15:00Zjunk", &ms, why, sizeof(why)), -1);
}

static void test_domains(void **state)
{
    (void)state;
    char d[256], why[160];
    assert_int_equal(tk_address_domain("a@Mail.Example.ORG", d, sizeof(d), why, sizeof(why)), 0);
    assert_string_equal(d, "mail.example.org");
    assert_int_equal(tk_domain_normalize("Mail.Example.ORG.", d, sizeof(d), why, sizeof(why)), 0);
    assert_string_equal(d, "mail.example.org");
    /* IDN: the Unicode form and the A-label form name the same domain. */
    assert_int_equal(tk_address_domain("a@B\xc3\xbc"
                                       "cher.example",
                                       d, sizeof(d), why, sizeof(why)),
                     0);
    assert_string_equal(d, "xn--bcher-kva.example");
    assert_int_equal(tk_domain_normalize("b\xc3\xbc"
                                         "cher.example",
                                         d, sizeof(d), why, sizeof(why)),
                     0);
    assert_string_equal(d, "xn--bcher-kva.example");
    assert_int_equal(tk_address_domain("a@[192.0.2.1]", d, sizeof(d), why, sizeof(why)), -1);
    assert_non_null(strstr(why, "address literal"));
    assert_int_equal(tk_domain_normalize("a@b.com", d, sizeof(d), why, sizeof(why)), -1);
    assert_int_equal(
        tk_address_domain("\"odd@local\"@xn--bcher-kva.example", d, sizeof(d), why, sizeof(why)),
        0);
    assert_string_equal(d, "xn--bcher-kva.example");
    assert_int_equal(tk_address_domain("a@-bad.com", d, sizeof(d), why, sizeof(why)), -1);
    assert_int_equal(tk_address_domain("a@localhost", d, sizeof(d), why, sizeof(why)), -1);
    assert_int_equal(tk_address_domain("a@ex..com", d, sizeof(d), why, sizeof(why)), -1);
    assert_int_equal(tk_address_domain("@example.com", d, sizeof(d), why, sizeof(why)), -1);
}

static void test_update_and_comment_rules(void **state)
{
    (void)state;
    tk_problems p;
    assert_int_equal(tk_validate_update(0, 0, NULL, "", "", &p), 1);
    assert_string_equal(p.items[0].field, "status");
    assert_int_equal(tk_validate_update(9, 0, NULL, "", "", &p), 1);
    assert_int_equal(tk_validate_update(TK_STATUS_RESOLVED, 0, NULL, "fixed", "", &p), 1);
    assert_string_equal(p.items[0].field, "author");
    assert_int_equal(tk_validate_update(TK_STATUS_RESOLVED, 1, "ann", "fixed", "bob", &p), 0);
    assert_int_equal(tk_validate_comment("", "", "", &p), 2);
    assert_true(has_field(&p, "author") && has_field(&p, "body"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_ticket_passes_and_derives),
        cmocka_unit_test(test_empty_request_names_every_required_field),
        cmocka_unit_test(test_each_bad_field_is_named),
        cmocka_unit_test(test_several_bad_fields_at_once),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_domains),
        cmocka_unit_test(test_update_and_comment_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
