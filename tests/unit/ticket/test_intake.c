/* test_intake.c: the intake judgement for every diagnosis verdict. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "tk_intake.h"
#include "tk_recheck.h"

static const tk_intake_facts facts = {.recipient = "jane@example.com",
                                      .recipient_domain = "example.com",
                                      .module = "bulk-email",
                                      .issue_type = TK_ISSUE_NOT_RECEIVED};

static tk_diagnosis diag(tk_verdict v)
{
    tk_diagnosis d;
    memset(&d, 0, sizeof(d));
    d.verdict = v;
    d.summary = "summary from verify";
    return d;
}

static void expect(const tk_assessment *a, tk_status status, tk_action action, const char *phrase)
{
    if (a->first_status != status || a->action != action || !strstr(a->next_step, phrase))
        fail_msg("got %s / %s / \"%s\"; want %s / %s / ...%s...", tk_status_name(a->first_status),
                 tk_action_name(a->action), a->next_step, tk_status_name(status),
                 tk_action_name(action), phrase);
}

static void test_no_record_escalates(void **state)
{
    (void)state;
    tk_diagnosis d = diag(TK_VERDICT_NO_RECORD);
    tk_assessment a;
    tk_intake_assess(&facts, &d, &a);
    expect(&a, TK_STATUS_INVESTIGATING, TK_ACTION_ESCALATE_TO_XENEGRADE, "Escalate to Xenegrade");
    assert_non_null(strstr(a.next_step, "bulk-email"));
    assert_non_null(strstr(a.next_step, "No record"));
}

static void test_delivered_waits_on_recipient_it_with_whitelist(void **state)
{
    (void)state;
    tk_diagnosis d = diag(TK_VERDICT_DELIVERED);
    d.record_found = 1;
    d.reply_code = 250;
    d.reply_enhanced = "2.0.0";
    d.reply_text = "Ok: queued as 4AB";
    d.remote_host = "mx1.example.com";
    d.delivered_ms = 1795764900000LL; /* 2026-11-27T07:35:00Z */
    tk_assessment a;
    tk_intake_assess(&facts, &d, &a);
    expect(&a, TK_STATUS_WAITING_ON_RECIPIENT_IT, TK_ACTION_CONTACT_RECIPIENT_IT, "whitelist");
    assert_non_null(strstr(a.next_step, "mx1.example.com"));
    assert_non_null(strstr(a.next_step, "250 2.0.0 Ok: queued as 4AB"));
    assert_non_null(strstr(a.next_step, "2026-11-27T07:35:00"));
    assert_non_null(strstr(a.next_step, "spam"));

    /* Delivered but the complaint is about the content: our side. */
    tk_intake_facts fmt = facts;
    fmt.issue_type = TK_ISSUE_MISSING_BANNER;
    tk_intake_assess(&fmt, &d, &a);
    expect(&a, TK_STATUS_INVESTIGATING, TK_ACTION_ESCALATE_TO_XENEGRADE, "content");
}

static void test_in_progress_waits(void **state)
{
    (void)state;
    tk_diagnosis d = diag(TK_VERDICT_IN_PROGRESS);
    d.reply_code = 451;
    d.reply_text = "try later";
    tk_assessment a;
    tk_intake_assess(&facts, &d, &a);
    expect(&a, TK_STATUS_OPEN, TK_ACTION_WAIT_FOR_RETRIES, "451 try later");
}

static void test_bounces_by_category(void **state)
{
    (void)state;
    struct {
        int category;
        tk_status status;
        tk_action action;
        const char *phrase;
    } cases[] = {
        {TK_FAIL_INVALID_RECIPIENT, TK_STATUS_WAITING_ON_CUSTOMER, TK_ACTION_CONFIRM_ADDRESS,
         "confirm the recipient's address"},
        {TK_FAIL_MAILBOX_DISABLED, TK_STATUS_WAITING_ON_CUSTOMER, TK_ACTION_CONFIRM_ADDRESS,
         "does not exist or is disabled"},
        {TK_FAIL_MAILBOX_FULL, TK_STATUS_WAITING_ON_CUSTOMER, TK_ACTION_CONTACT_RECIPIENT_IT,
         "mailbox is full"},
        {TK_FAIL_POLICY_BLOCK, TK_STATUS_WAITING_ON_RECIPIENT_IT, TK_ACTION_CONTACT_RECIPIENT_IT,
         "whitelist"},
        {TK_FAIL_CONTENT_BLOCK, TK_STATUS_WAITING_ON_RECIPIENT_IT, TK_ACTION_CONTACT_RECIPIENT_IT,
         "whitelist"},
        {TK_FAIL_AUTH_FAILURE, TK_STATUS_INVESTIGATING, TK_ACTION_ESCALATE_TO_XENEGRADE,
         "Escalate"},
        {0, TK_STATUS_INVESTIGATING, TK_ACTION_ESCALATE_TO_XENEGRADE, "Escalate"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tk_diagnosis d = diag(TK_VERDICT_BOUNCED);
        d.failure_category = cases[i].category;
        d.reply_code = 550;
        d.reply_enhanced = "5.1.1";
        d.reply_text = "rejected";
        d.remote_host = "mx.example.com";
        tk_assessment a;
        tk_intake_assess(&facts, &d, &a);
        expect(&a, cases[i].status, cases[i].action, cases[i].phrase);
        assert_non_null(strstr(a.next_step, "550 5.1.1 rejected"));
    }
}

static void test_opt_out_and_complaint_resolve(void **state)
{
    (void)state;
    tk_diagnosis d = diag(TK_VERDICT_SUPPRESSED);
    d.suppressed_ms = 1795700000000LL;
    tk_assessment a;
    tk_intake_assess(&facts, &d, &a);
    expect(&a, TK_STATUS_RESOLVED, TK_ACTION_RESOLVE_WITH_EXPLANATION, "opted out");
    assert_true(a.suppressed);
    d = diag(TK_VERDICT_COMPLAINED);
    tk_intake_assess(&facts, &d, &a);
    expect(&a, TK_STATUS_RESOLVED, TK_ACTION_RESOLVE_WITH_EXPLANATION,
           "reported the email as spam");
}

static void test_invalid_expired_domain_unknown(void **state)
{
    (void)state;
    tk_assessment a;
    tk_diagnosis d = diag(TK_VERDICT_INVALID_ADDRESS);
    tk_intake_assess(&facts, &d, &a);
    expect(&a, TK_STATUS_WAITING_ON_CUSTOMER, TK_ACTION_CONFIRM_ADDRESS, "cannot receive mail");
    d = diag(TK_VERDICT_EXPIRED);
    tk_intake_assess(&facts, &d, &a);
    expect(&a, TK_STATUS_WAITING_ON_RECIPIENT_IT, TK_ACTION_CONTACT_RECIPIENT_IT, "maximum age");
    d = diag(TK_VERDICT_DOMAIN_PROBLEM);
    tk_intake_assess(&facts, &d, &a);
    expect(&a, TK_STATUS_WAITING_ON_RECIPIENT_IT, TK_ACTION_CONTACT_RECIPIENT_IT,
           "fails for other recipients too");
    assert_true(a.domain_problem);
    d = diag(TK_VERDICT_UNSPECIFIED);
    tk_intake_assess(&facts, &d, &a);
    expect(&a, TK_STATUS_OPEN, TK_ACTION_REVIEW_MANUALLY, "summary from verify");
}

/* A diagnose function whose answer the test sets. */
static xd_code answer_code;
static tk_verdict answer_verdict;
static xd_code fake_diagnose(void *ctx, const tk_diagnose_query *q, xd_arena *arena,
                             tk_diagnosis *out, xd_err *err)
{
    (void)ctx;
    (void)arena;
    assert_string_equal(q->recipient, "jane@example.com");
    if (answer_code != XD_OK)
        return xd_err_set(err, answer_code, "verify said no");
    *out = diag(answer_verdict);
    return XD_OK;
}

static void test_check_once_classifies_errors(void **state)
{
    (void)state;
    xd_arena *arena = xd_arena_new();
    tk_diagnose_query q = {.org_id = "org-a", .recipient = "jane@example.com"};
    tk_assessment a;
    tk_findings f;
    const xd_code pending[] = {XD_UNAVAILABLE, XD_DEADLINE_EXCEEDED, XD_UNIMPLEMENTED, XD_INTERNAL,
                               XD_RESOURCE_EXHAUSTED};
    for (size_t i = 0; i < sizeof(pending) / sizeof(pending[0]); i++) {
        answer_code = pending[i];
        tk_check_once(fake_diagnose, NULL, &q, &facts, 1000, 1, arena, &a, &f);
        assert_int_equal(f.state, TK_FINDINGS_PENDING);
        assert_int_equal(a.first_status, TK_STATUS_OPEN);
        assert_int_equal(f.action, TK_ACTION_AWAIT_CHECK);
        assert_non_null(strstr(f.last_error, "verify said no"));
        assert_non_null(strstr(f.next_step, "runs again automatically"));
    }
    answer_code = XD_INVALID_ARGUMENT;
    tk_check_once(fake_diagnose, NULL, &q, &facts, 1000, 1, arena, &a, &f);
    assert_int_equal(f.state, TK_FINDINGS_FAILED);
    assert_int_equal(f.action, TK_ACTION_REVIEW_MANUALLY);
    answer_code = XD_OK;
    answer_verdict = TK_VERDICT_SUPPRESSED;
    tk_check_once(fake_diagnose, NULL, &q, &facts, 1000, 2, arena, &a, &f);
    assert_int_equal(f.state, TK_FINDINGS_COMPLETE);
    assert_int_equal(f.d.verdict, TK_VERDICT_SUPPRESSED);
    assert_int_equal(f.checked_ms, 1000);
    assert_int_equal(f.attempts, 2);
    assert_int_equal(a.first_status, TK_STATUS_RESOLVED);
    xd_arena_free(arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_record_escalates),
        cmocka_unit_test(test_delivered_waits_on_recipient_it_with_whitelist),
        cmocka_unit_test(test_in_progress_waits),
        cmocka_unit_test(test_bounces_by_category),
        cmocka_unit_test(test_opt_out_and_complaint_resolve),
        cmocka_unit_test(test_invalid_expired_domain_unknown),
        cmocka_unit_test(test_check_once_classifies_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
