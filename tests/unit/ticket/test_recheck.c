/* test_recheck.c: verify down at Create, findings pending, filled later;
 * back-off; a person's status change is not overridden. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_helpers.h"

static int setup(void **state)
{
    *state = fixture_new();
    return 0;
}

static int teardown(void **state)
{
    fixture_free(*state);
    return 0;
}

static void test_down_then_up(void **state)
{
    fixture *fx = *state;
    xd_arena *a = xd_arena_new();
    fx->verify.code = XD_UNAVAILABLE;
    tk_ticket *t = file(fx, "org-a", "jane@example.com", NULL, a);
    assert_int_equal(t->status, TK_STATUS_OPEN);
    assert_int_equal(t->findings.state, TK_FINDINGS_PENDING);
    assert_int_equal(t->findings.action, TK_ACTION_AWAIT_CHECK);
    assert_int_equal(t->findings.attempts, 1);
    assert_int_equal(t->findings.next_check_ms, T0_MS + 1000);
    assert_non_null(strstr(t->findings.last_error, "UNAVAILABLE"));

    tk_recheck *r = NULL;
    xd_err err;
    assert_int_equal(tk_recheck_start(fx->store, fx->clock, fake_diagnose, &fx->verify,
                                      &fx->svc.recheck, 0, &r, &err),
                     XD_OK);
    /* Not due yet: verify is not asked. */
    int calls = fx->verify.calls;
    assert_int_equal(tk_recheck_run_once(r), 0);
    assert_int_equal(fx->verify.calls, calls);
    /* Due, still down: attempt 2, next in 2 s (doubling). */
    xd_clock_advance_ms(fx->clock, 1000);
    assert_int_equal(tk_recheck_run_once(r), 0);
    tk_scope org = scope_of_org("org-a");
    assert_int_equal(tk_store_get(fx->store, &org, t->id, 1, a, &t, &err), XD_OK);
    assert_int_equal(t->findings.state, TK_FINDINGS_PENDING);
    assert_int_equal(t->findings.attempts, 2);
    assert_int_equal(t->findings.next_check_ms, T0_MS + 1000 + 2000);
    /* verify is back: the findings arrive, the first status applies, and an
     * intake note tells the organization. */
    fx->verify.code = XD_OK;
    xd_clock_advance_ms(fx->clock, 2000);
    assert_int_equal(tk_recheck_run_once(r), 1);
    assert_int_equal(tk_store_get(fx->store, &org, t->id, 1, a, &t, &err), XD_OK);
    assert_int_equal(t->findings.state, TK_FINDINGS_COMPLETE);
    assert_int_equal(t->findings.d.verdict, TK_VERDICT_DELIVERED);
    assert_int_equal(t->findings.attempts, 3);
    assert_int_equal(t->findings.checked_ms, T0_MS + 3000);
    assert_int_equal(t->status, TK_STATUS_WAITING_ON_RECIPIENT_IT);
    assert_int_equal(t->n_comments, 1);
    assert_string_equal(t->comments[0].author, "intake");
    assert_non_null(strstr(t->comments[0].body, "after 3 attempts"));
    assert_non_null(strstr(t->comments[0].body, "whitelist"));
    /* Nothing left to do. */
    calls = fx->verify.calls;
    xd_clock_advance_ms(fx->clock, 60000);
    assert_int_equal(tk_recheck_run_once(r), 0);
    assert_int_equal(fx->verify.calls, calls);
    tk_recheck_stop(r);
    xd_arena_free(a);
}

/* With verify unreachable, one round asks once, not once per ticket. */
static void test_unreachable_verify_stops_the_round(void **state)
{
    fixture *fx = *state;
    xd_arena *a = xd_arena_new();
    fx->verify.code = XD_UNAVAILABLE;
    for (int i = 0; i < 3; i++) {
        char rcpt[32];
        snprintf(rcpt, sizeof(rcpt), "u%d@example.com", i);
        file(fx, "org-a", rcpt, NULL, a);
    }
    tk_recheck *r = NULL;
    xd_err err;
    assert_int_equal(tk_recheck_start(fx->store, fx->clock, fake_diagnose, &fx->verify,
                                      &fx->svc.recheck, 0, &r, &err),
                     XD_OK);
    xd_clock_advance_ms(fx->clock, 1000);
    int calls = fx->verify.calls;
    assert_int_equal(tk_recheck_run_once(r), 0);
    assert_int_equal(fx->verify.calls, calls + 1);
    /* Back up: the two untouched tickets are still due; the one asked
     * waits for its back-off (2 s). */
    fx->verify.code = XD_OK;
    assert_int_equal(tk_recheck_run_once(r), 2);
    xd_clock_advance_ms(fx->clock, 2000);
    assert_int_equal(tk_recheck_run_once(r), 1);
    tk_recheck_stop(r);
    xd_arena_free(a);
}

static void test_backoff_caps(void **state)
{
    (void)state;
    tk_recheck_options o = {.interval_ms = 1000, .max_interval_ms = 5000};
    assert_int_equal(tk_recheck_delay_ms(&o, 1), 1000);
    assert_int_equal(tk_recheck_delay_ms(&o, 2), 2000);
    assert_int_equal(tk_recheck_delay_ms(&o, 3), 4000);
    assert_int_equal(tk_recheck_delay_ms(&o, 4), 5000);
    assert_int_equal(tk_recheck_delay_ms(&o, 400), 5000);
}

static void test_person_moved_ticket_keeps_status(void **state)
{
    fixture *fx = *state;
    xd_arena *a = xd_arena_new();
    fx->verify.code = XD_UNAVAILABLE;
    tk_ticket *t = file(fx, "org-a", "jane@example.com", NULL, a);
    tk_scope org = scope_of_org("org-a");
    tk_update u = {.status = TK_STATUS_INVESTIGATING};
    int changed;
    xd_err err;
    assert_int_equal(tk_store_update(fx->store, &org, t->id, &u, a, &t, &changed, &err), XD_OK);
    tk_recheck *r = NULL;
    assert_int_equal(tk_recheck_start(fx->store, fx->clock, fake_diagnose, &fx->verify,
                                      &fx->svc.recheck, 0, &r, &err),
                     XD_OK);
    fx->verify.code = XD_OK;
    fx->verify.verdict = TK_VERDICT_SUPPRESSED;
    xd_clock_advance_ms(fx->clock, 1000);
    assert_int_equal(tk_recheck_run_once(r), 1);
    assert_int_equal(tk_store_get(fx->store, &org, t->id, 1, a, &t, &err), XD_OK);
    assert_int_equal(t->findings.state, TK_FINDINGS_COMPLETE);
    assert_int_equal(t->status, TK_STATUS_INVESTIGATING); /* not overridden */
    assert_int_equal(t->findings.action, TK_ACTION_RESOLVE_WITH_EXPLANATION);
    tk_recheck_stop(r);
    xd_arena_free(a);
}

static void test_thread_fills_findings(void **state)
{
    fixture *fx = *state;
    xd_arena *a = xd_arena_new();
    fx->verify.code = XD_UNAVAILABLE;
    tk_ticket *t = file(fx, "org-a", "jane@example.com", NULL, a);
    fx->verify.code = XD_OK;
    xd_clock_advance_ms(fx->clock, 1000); /* due */
    tk_recheck_options o = {.interval_ms = 20, .max_interval_ms = 100};
    tk_recheck *r = NULL;
    xd_err err;
    assert_int_equal(
        tk_recheck_start(fx->store, fx->clock, fake_diagnose, &fx->verify, &o, 1, &r, &err), XD_OK);
    tk_scope org = scope_of_org("org-a");
    for (int i = 0; i < 250; i++) { /* bounded: 5 s */
        assert_int_equal(tk_store_get(fx->store, &org, t->id, 0, a, &t, &err), XD_OK);
        if (t->findings.state == TK_FINDINGS_COMPLETE)
            break;
        usleep(20000);
    }
    assert_int_equal(t->findings.state, TK_FINDINGS_COMPLETE);
    tk_recheck_stop(r);
    xd_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_down_then_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_verify_stops_the_round, setup, teardown),
        cmocka_unit_test(test_backoff_caps),
        cmocka_unit_test_setup_teardown(test_person_moved_ticket_keeps_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thread_fills_findings, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
