/* test_autosuspend.c: the auto-suspension rules without a verify: when
 * verify's health reply means "suspend" (a critical window with enough
 * recipients) and what the reason says, the operator's grace period, and
 * the store's compare-and-set (an operator's change in between wins; the
 * operator organization never). The sweep against a real xd-verify is
 * tests/integration/gateway/test_gateway_autosuspend.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_autosuspend.h"

#define CRIT XD__HEALTH_LEVEL__HEALTH_LEVEL_CRITICAL
#define WARN XD__HEALTH_LEVEL__HEALTH_LEVEL_WARN
#define OK   XD__HEALTH_LEVEL__HEALTH_LEVEL_OK

typedef struct health {
    Xd__RateWindow w[2];
    Xd__RateWindow *pw[2];
    Xd__GetOrgHealthReply h;
} health;

static void make_health(health *x)
{
    for (int i = 0; i < 2; i++) {
        x->w[i] = (Xd__RateWindow)XD__RATE_WINDOW__INIT;
        x->w[i].days = i ? 30 : 7;
        x->w[i].bounce_level = x->w[i].complaint_level = OK;
        x->pw[i] = &x->w[i];
    }
    x->h = (Xd__GetOrgHealthReply)XD__GET_ORG_HEALTH_REPLY__INIT;
    x->h.windows = x->pw;
    x->h.n_windows = 2;
    x->h.level = OK;
    x->h.bounce_warn = 0.02;
    x->h.bounce_critical = 0.05;
    x->h.complaint_warn = 0.001;
    x->h.complaint_critical = 0.003;
}

static void test_judge(void **state)
{
    (void)state;
    health x;
    char reason[GW_REASON_MAX + 1];
    make_health(&x);
    assert_false(gw_autosuspend_judge(&x.h, 100, reason, sizeof(reason)));
    assert_string_equal(reason, "");
    /* A warning is not enough. */
    x.w[0].bounce_level = WARN;
    x.w[0].sent = 1000;
    assert_false(gw_autosuspend_judge(&x.h, 100, reason, sizeof(reason)));
    /* Critical bounces over 7 days with enough recipients: suspend, and say
     * which rate, window, counts and threshold. */
    x.w[0].bounce_level = CRIT;
    x.w[0].bounced = 120;
    x.w[0].bounce_rate = 0.12;
    assert_true(gw_autosuspend_judge(&x.h, 100, reason, sizeof(reason)));
    assert_non_null(strstr(reason, "bounce rate 12.00%"));
    assert_non_null(strstr(reason, "last 7 days"));
    assert_non_null(strstr(reason, "120 of 1000"));
    assert_non_null(strstr(reason, "critical 5.00%"));
    assert_null(strpbrk(reason, "\r\n")); /* SetOrganizationStatus's rule for reasons */
    assert_true(strlen(reason) <= GW_REASON_MAX);
    /* Too few recipients: noise, not a reason. */
    assert_false(gw_autosuspend_judge(&x.h, 1001, reason, sizeof(reason)));
    /* Complaints over 30 days. */
    make_health(&x);
    x.w[1].complaint_level = CRIT;
    x.w[1].sent = 5000;
    x.w[1].complained = 20;
    x.w[1].complaint_rate = 0.004;
    assert_true(gw_autosuspend_judge(&x.h, 100, reason, sizeof(reason)));
    assert_non_null(strstr(reason, "complaint rate 0.400%"));
    assert_non_null(strstr(reason, "last 30 days"));
    assert_non_null(strstr(reason, "critical 0.300%"));
}

static void test_grace(void **state)
{
    (void)state;
    gw_org o;
    memset(&o, 0, sizeof(o));
    o.status = GW_ORG_ENABLED;
    o.status_since_ms = 1000000;
    /* Created enabled: nobody re-enabled it. */
    assert_false(gw_autosuspend_in_grace(&o, 1000001, 3600000));
    strcpy(o.status_changed_by, "0123456789abcdef"); /* an operator's key id */
    assert_true(gw_autosuspend_in_grace(&o, 1000000 + 3599999, 3600000));
    assert_false(gw_autosuspend_in_grace(&o, 1000000 + 3600000, 3600000));
    o.status = GW_ORG_SUSPENDED;
    assert_false(gw_autosuspend_in_grace(&o, 1000001, 3600000));
}

static void test_store_compare_and_set(void **state)
{
    (void)state;
    char dir[] = "/tmp/xd-gw-autosusp-XXXXXX", db[300], pepper[300];
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof(db), "%s/gateway.db", dir);
    snprintf(pepper, sizeof(pepper), "%s/gateway.pepper", dir);
    xd_clock *clock = xd_clock_manual_new(1800000000000LL);
    gw_store *s = NULL;
    xd_err err;
    assert_int_equal(gw_store_open(db, pepper, clock, &s, &err), XD_OK);
    gw_org a, now, op;
    assert_int_equal(gw_store_create_org(s, "Org A", 0, &a, &err), XD_OK);
    int changed = -1;
    /* The operator changed the row after the sweep read it: left alone. */
    xd_clock_advance_ms(clock, 10);
    assert_int_equal(gw_store_set_org_status(s, a.id, GW_ORG_ENABLED, "", "opkey", &now, &err),
                     XD_OK);
    assert_int_equal(gw_store_auto_suspend(s, a.id, a.status_since_ms, "automatic suspension: x",
                                           GW_AUTOSUSPEND_BY, &changed, &err),
                     XD_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(gw_store_get_org(s, a.id, &now, &err), XD_OK);
    assert_int_equal(now.status, GW_ORG_ENABLED);
    /* As read: suspended, with the reason and who did it. */
    assert_int_equal(gw_store_auto_suspend(s, a.id, now.status_since_ms, "automatic suspension: x",
                                           GW_AUTOSUSPEND_BY, &changed, &err),
                     XD_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(gw_store_get_org(s, a.id, &now, &err), XD_OK);
    assert_int_equal(now.status, GW_ORG_SUSPENDED);
    assert_string_equal(now.reason, "automatic suspension: x");
    assert_string_equal(now.status_changed_by, GW_AUTOSUSPEND_BY);
    /* Already suspended: nothing more. */
    assert_int_equal(gw_store_auto_suspend(s, a.id, now.status_since_ms, "again", GW_AUTOSUSPEND_BY,
                                           &changed, &err),
                     XD_OK);
    assert_int_equal(changed, 0);
    /* The operator organization, never. */
    gw_api_key k;
    char text[GW_KEY_TEXT_MAX];
    assert_int_equal(gw_store_bootstrap_operator(s, "t", &k, text, sizeof(text), &err), XD_OK);
    assert_int_equal(gw_store_get_org(s, k.org_id, &op, &err), XD_OK);
    assert_int_equal(
        gw_store_auto_suspend(s, op.id, op.status_since_ms, "x", GW_AUTOSUSPEND_BY, &changed, &err),
        XD_OK);
    assert_int_equal(changed, 0);
    gw_store_close(s);
    xd_clock_free(clock);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_judge),
        cmocka_unit_test(test_grace),
        cmocka_unit_test(test_store_compare_and_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
