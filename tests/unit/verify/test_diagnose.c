/* test_diagnose.c: every Diagnose verdict from a real store, with the
 * evidence and next steps support would read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vf_diagnose.h"
#include "vf_store.h"

#define DAY_MS 86400000LL
#define T0     1795000000000LL

typedef struct fixture {
    char dir[64];
    xd_clock *clock;
    vf_store *store;
    vf_diagnosis d;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/vf_diag_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char path[128];
    snprintf(path, sizeof path, "%s/verify.db", f->dir);
    f->clock = xd_clock_manual_new(T0 + 3600000);
    xd_err err;
    assert_int_equal(vf_store_open(path, f->clock, NULL, &f->store, &err), XD_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    vf_store_close(f->store);
    xd_clock_free(f->clock);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void put(fixture *f, const char *id, const char *msg, const char *rcpt,
                Xd__RecipientState st, int64_t t, unsigned code, const char *enh, const char *text,
                Xd__FailureCategory cat)
{
    vf_event e = {.event_id = id,
                  .org_id = "org-a",
                  .message_id = msg,
                  .recipient = rcpt,
                  .state = st,
                  .event_time_ms = t,
                  .client_id = "c1",
                  .module = "registration",
                  .subject = "Welcome",
                  .from = "hello@org.example",
                  .reply_code = code,
                  .reply_enhanced = enh,
                  .reply_text = text,
                  .remote_host = code ? "mx.example.com" : "",
                  .failure_category = cat};
    unsigned a, d;
    xd_err err;
    assert_int_equal(vf_store_record(f->store, &e, 1, &a, &d, &err), XD_OK);
}

static Xd__DiagnoseVerdict diagnose(fixture *f, const char *rcpt, vf_address_checker checker)
{
    vf_diagnose_request r = {.org_id = "org-a", .recipient = rcpt, .around_ms = T0};
    xd_err err;
    assert_int_equal(vf_diagnose(f->store, &r, checker, NULL, &f->d, &err), XD_OK);
    assert_true(f->d.n_steps >= 5);
    assert_true(f->d.n_next >= 1);
    assert_true(strlen(f->d.summary) > 10);
    return f->d.verdict;
}

#define ST(x) XD__RECIPIENT_STATE__RECIPIENT_STATE_##x
#define FC(x) XD__FAILURE_CATEGORY__FAILURE_CATEGORY_##x
#define DV(x) XD__DIAGNOSE_VERDICT__DIAGNOSE_VERDICT_##x

static void test_no_record(void **state)
{
    fixture *f = *state;
    assert_int_equal(diagnose(f, "nobody@example.com", NULL), DV(NO_RECORD));
    assert_true(f->d.steps[0].problem);
}

static void test_delivered(void **state)
{
    fixture *f = *state;
    put(f, "e1", "m1", "ann@example.com", ST(QUEUED), T0, 0, "", "", 0);
    put(f, "e2", "m1", "ann@example.com", ST(DELIVERED), T0 + 120000, 250, "2.0.0", "OK", 0);
    assert_int_equal(diagnose(f, "ann@example.com", NULL), DV(DELIVERED));
    assert_non_null(strstr(f->d.summary, "mx.example.com"));
    assert_non_null(strstr(f->d.summary, "250 2.0.0"));
    assert_non_null(strstr(f->d.next[0], "spam/junk"));
    assert_true(f->d.has_record);
    assert_string_equal(f->d.record.rec.message_id, "m1");
}

static void test_in_progress(void **state)
{
    fixture *f = *state;
    put(f, "e1", "m1", "bob@example.com", ST(DEFERRED), T0, 451, "4.7.1", "Greylisted", 0);
    assert_int_equal(diagnose(f, "bob@example.com", NULL), DV(IN_PROGRESS));
    assert_non_null(strstr(f->d.summary, "Greylisted"));
}

static void test_bounced(void **state)
{
    fixture *f = *state;
    put(f, "e1", "m1", "typo@example.com", ST(BOUNCED), T0, 550, "5.1.1", "User unknown",
        FC(INVALID_RECIPIENT));
    assert_int_equal(diagnose(f, "typo@example.com", NULL), DV(BOUNCED));
    assert_non_null(strstr(f->d.summary, "User unknown"));
    assert_non_null(strstr(f->d.next[0], "correct the addresses"));
}

static void test_domain_problem(void **state)
{
    fixture *f = *state;
    char id[16], rcpt[64];
    for (int i = 0; i < 6; i++) {
        snprintf(id, sizeof id, "o%d", i);
        snprintf(rcpt, sizeof rcpt, "staff%d@corp.example", i);
        put(f, id, id, rcpt, ST(BOUNCED), T0 + i, 550, "5.7.1", "Rejected by policy",
            FC(POLICY_BLOCK));
    }
    assert_int_equal(diagnose(f, "staff0@corp.example", NULL), DV(DOMAIN_PROBLEM));
    assert_non_null(strstr(f->d.next[0], "allow mail from smtp.xenegrade.net"));
}

static void test_suppressed(void **state)
{
    fixture *f = *state;
    put(f, "e1", "m1", "out@example.com", ST(SUPPRESSED), T0, 0, "", "", 0);
    vf_suppression s = {.org_id = "org-a",
                        .address = "out@example.com",
                        .reason = XD__SUPPRESSION_REASON__SUPPRESSION_REASON_UNSUBSCRIBED,
                        .source = "one-click"};
    int created;
    xd_err err;
    assert_int_equal(vf_store_suppress(f->store, &s, &created, NULL, NULL, &err), XD_OK);
    assert_int_equal(diagnose(f, "out@example.com", NULL), DV(SUPPRESSED));
    assert_non_null(strstr(f->d.summary, "unsubscribed"));
}

static void test_complained(void **state)
{
    fixture *f = *state;
    put(f, "e1", "m1", "angry@example.com", ST(DELIVERED), T0, 250, "2.0.0", "OK", 0);
    put(f, "e2", "m1", "angry@example.com", ST(COMPLAINED), T0 + DAY_MS / 2, 0, "", "", 0);
    assert_int_equal(diagnose(f, "angry@example.com", NULL), DV(COMPLAINED));
}

static void test_expired(void **state)
{
    fixture *f = *state;
    put(f, "e1", "m1", "slow@example.com", ST(EXPIRED), T0, 421, "4.4.2", "timeout",
        FC(CONNECTION_FAILURE));
    assert_int_equal(diagnose(f, "slow@example.com", NULL), DV(EXPIRED));
}

static int says_bad(void *ud, const char *address, char *finding, size_t size)
{
    (void)ud;
    snprintf(finding, size, "%s: the domain does not exist (NXDOMAIN).", address);
    return 1;
}

static void test_invalid_address(void **state)
{
    fixture *f = *state;
    assert_int_equal(diagnose(f, "x@no-such-domain.example", says_bad), DV(INVALID_ADDRESS));
    vf_diagnose_request r = {.org_id = "org-a", .recipient = "not-an-address"};
    xd_err err;
    assert_int_equal(vf_diagnose(f->store, &r, NULL, NULL, &f->d, &err), XD_INVALID_ARGUMENT);
}

static void test_other_org_invisible(void **state)
{
    fixture *f = *state;
    put(f, "e1", "m1", "ann@example.com", ST(DELIVERED), T0, 250, "2.0.0", "OK", 0);
    vf_diagnose_request r = {.org_id = "org-b", .recipient = "ann@example.com", .around_ms = T0};
    xd_err err;
    assert_int_equal(vf_diagnose(f->store, &r, NULL, NULL, &f->d, &err), XD_OK);
    assert_int_equal(f->d.verdict, DV(NO_RECORD));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delivered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_progress, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_domain_problem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_suppressed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_complained, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_org_invisible, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
