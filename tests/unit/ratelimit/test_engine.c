/*
 * test_engine.c: ratelimit semantics with an injected clock: all-or-nothing
 * (a denial changes no counter), partial grants and exact retry_after,
 * per-message caps, duplicate request ids, refunds, leases (expiry, no
 * resurrection, idempotent release, capacity under 32 threads), tier moves
 * from feedback, provider rollup, policy validation and Explain.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rl_engine.h"

#define T0 1800000000000LL /* a UTC midnight */

static rl_engine *engine_with(const char *json)
{
    rl_policy *p = NULL;
    xd_err err;
    if (rl_policy_parse(json, &p, &err) != XD_OK)
        fail_msg("policy: %s", err.message);
    rl_engine *e = NULL;
    assert_int_equal(rl_engine_new(NULL, p, json, 1, &e, &err), XD_OK);
    return e;
}

static const char TWO_RULES[] =
    "{\"rules\": ["
    " {\"name\": \"cap\", \"kind\": \"per_message\", \"limit\": 50},"
    " {\"name\": \"org-hour\", \"kind\": \"window\", \"scope\": [\"org\"], \"limit\": 10,"
    "  \"window_ms\": 3600000},"
    " {\"name\": \"ip-hour\", \"kind\": \"window\", \"scope\": [\"ip\"], \"limit\": 5,"
    "  \"window_ms\": 3600000},"
    " {\"name\": \"conn\", \"kind\": \"connections\", \"scope\": [\"ip\", \"provider\"],"
    "  \"limit\": 2, \"ttl_ms\": 60000, \"messages_per_connection\": 30}],"
    " \"tiers\": {\"warmup_permille\": [1000]},"
    " \"providers\": [{\"name\": \"google\", \"mx_suffixes\": [\"google.com\"]}]}";

static uint64_t used_of(rl_engine *e, const rl_subject *s, const char *rule)
{
    rl_explain x;
    xd_err err;
    assert_int_equal(rl_engine_explain(e, s, T0, &x, &err), XD_OK);
    for (int i = 0; i < x.n_rules; i++)
        if (strcmp(x.rules[i].rule, rule) == 0)
            return x.rules[i].used;
    fail_msg("rule %s not in Explain", rule);
    return 0;
}

static void test_denial_changes_nothing(void **state)
{
    (void)state;
    rl_engine *e = engine_with(TWO_RULES);
    rl_decision d;
    xd_err err;
    rl_subject a = {.org_id = "acme", .ip = "192.0.2.1"};
    rl_subject b = {.org_id = "acme", .ip = "192.0.2.2"};
    assert_int_equal(rl_engine_consume(e, "r1", &a, 5, 0, 1, T0, &d, &err), XD_OK);
    assert_int_equal(d.verdict, RL_GRANTED);
    assert_int_equal(d.granted, 5);
    /* ip-hour is full: the org counter must not move on the denial. */
    assert_int_equal(rl_engine_consume(e, "r2", &a, 3, 0, 1, T0 + 10, &d, &err), XD_OK);
    assert_int_equal(d.verdict, RL_DENIED);
    assert_string_equal(d.binding_rule, "ip-hour");
    assert_int_equal(d.retry_after_ms, 3600000 - 10);
    assert_int_equal(used_of(e, &a, "org-hour"), 5);
    assert_int_equal(used_of(e, &a, "ip-hour"), 5);
    /* The org still has 5 through another IP. */
    assert_int_equal(rl_engine_consume(e, "r3", &b, 5, 0, 1, T0 + 20, &d, &err), XD_OK);
    assert_int_equal(d.granted, 5);
    assert_int_equal(used_of(e, &a, "org-hour"), 10);
    /* Check is a dry run. */
    assert_int_equal(rl_engine_consume(e, NULL, &b, 1, 0, 0, T0 + 30, &d, &err), XD_OK);
    assert_int_equal(d.verdict, RL_DENIED);
    assert_int_equal(used_of(e, &a, "org-hour"), 10);
    rl_engine_free(e);
}

static void test_partial_and_retry_exact(void **state)
{
    (void)state;
    rl_engine *e = engine_with(TWO_RULES);
    rl_decision d;
    xd_err err;
    rl_subject a = {.org_id = "acme", .ip = "192.0.2.1"};
    assert_int_equal(rl_engine_consume(e, "p1", &a, 3, 0, 1, T0, &d, &err), XD_OK);
    assert_int_equal(rl_engine_consume(e, "p2", &a, 1, 0, 1, T0 + 500, &d, &err), XD_OK);
    /* 4 used of ip-hour's 5: asking 4 with partial gives 1. */
    assert_int_equal(rl_engine_consume(e, "p3", &a, 4, 1, 1, T0 + 1000, &d, &err), XD_OK);
    assert_int_equal(d.verdict, RL_PARTIAL);
    assert_int_equal(d.granted, 1);
    assert_string_equal(d.binding_rule, "ip-hour");
    /* Full now; all-or-nothing 3 needs the grants to expire. With the default
     * 256 records per window, an hour has 14,062 ms granules: the grants at
     * T0, T0+500 and T0+1000 share one record stamped T0+1000 (late, never
     * early), so they all expire at T0+1000+1h. */
    assert_int_equal(rl_engine_consume(e, "p4", &a, 3, 0, 1, T0 + 2000, &d, &err), XD_OK);
    assert_int_equal(d.verdict, RL_DENIED);
    int64_t retry = d.retry_after_ms;
    assert_int_equal(retry, 3600000 + 1000 - 2000);
    assert_int_equal(rl_engine_consume(e, "p5", &a, 3, 0, 1, T0 + 2000 + retry - 1, &d, &err),
                     XD_OK);
    assert_int_equal(d.verdict, RL_DENIED);
    assert_int_equal(d.retry_after_ms, 1);
    assert_int_equal(rl_engine_consume(e, "p6", &a, 3, 0, 1, T0 + 2000 + retry, &d, &err), XD_OK);
    assert_int_equal(d.verdict, RL_GRANTED);
    /* More than a window can ever hold: -1, never. */
    assert_int_equal(rl_engine_consume(e, "p7", &a, 6, 0, 1, T0 + 9000000, &d, &err), XD_OK);
    assert_int_equal(d.verdict, RL_DENIED);
    assert_int_equal(d.retry_after_ms, -1);
    rl_engine_free(e);
}

static void test_per_message_cap(void **state)
{
    (void)state;
    rl_engine *e = engine_with("{\"rules\": [{\"name\": \"cap\", \"kind\": \"per_message\","
                               " \"limit\": 50}, {\"name\": \"org\", \"kind\": \"window\","
                               " \"scope\": [\"org\"], \"limit\": 1000, \"window_ms\": 60000}],"
                               " \"tiers\": {\"warmup_permille\": [1000]}}");
    rl_decision d;
    xd_err err;
    rl_subject a = {.org_id = "acme"};
    assert_int_equal(rl_engine_consume(e, "m1", &a, 120, 0, 1, T0, &d, &err), XD_OK);
    assert_int_equal(d.verdict, RL_PARTIAL);
    assert_int_equal(d.granted, 50);
    assert_string_equal(d.binding_rule, "cap");
    assert_int_equal(d.retry_after_ms, 0);
    assert_int_equal(used_of(e, &a, "org"), 50);
    rl_engine_free(e);
}

static void test_duplicate_request_id(void **state)
{
    (void)state;
    rl_engine *e = engine_with(TWO_RULES);
    rl_decision d, d2;
    xd_err err;
    rl_subject a = {.org_id = "acme", .ip = "192.0.2.1"};
    assert_int_equal(rl_engine_consume(e, "dup", &a, 2, 0, 1, T0, &d, &err), XD_OK);
    assert_int_equal(rl_engine_consume(e, "dup", &a, 2, 0, 1, T0 + 5, &d2, &err), XD_OK);
    assert_int_equal(d2.replayed, 1);
    assert_int_equal(d2.granted, 2);
    assert_int_equal(used_of(e, &a, "ip-hour"), 2);
    /* Even with another body the first answer stands. */
    assert_int_equal(rl_engine_consume(e, "dup", &a, 4, 0, 1, T0 + 6, &d2, &err), XD_OK);
    assert_int_equal(d2.granted, 2);
    assert_int_equal(used_of(e, &a, "ip-hour"), 2);
    /* Refund gives back once, by its own id. */
    uint32_t refunded = 0;
    uint64_t seq;
    assert_int_equal(rl_engine_refund(e, "rf1", "dup", 2, T0 + 7, &refunded, &seq, &err), XD_OK);
    assert_int_equal(refunded, 2);
    assert_int_equal(rl_engine_refund(e, "rf1", "dup", 2, T0 + 8, &refunded, &seq, &err), XD_OK);
    assert_int_equal(used_of(e, &a, "ip-hour"), 0);
    assert_int_equal(rl_engine_refund(e, "rf2", "dup", 1, T0 + 9, &refunded, &seq, &err),
                     XD_FAILED_PRECONDITION);
    assert_int_equal(rl_engine_refund(e, "rf3", "nope", 1, T0 + 9, &refunded, &seq, &err),
                     XD_NOT_FOUND);
    /* Bad input names the field. */
    assert_int_equal(rl_engine_consume(e, "", &a, 1, 0, 1, T0, &d, &err), XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, "request_id");
    assert_int_equal(rl_engine_consume(e, "x", &a, 0, 0, 1, T0, &d, &err), XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, "recipients");
    rl_subject bad = {.org_id = "a|i=b"};
    assert_int_equal(rl_engine_consume(e, "y", &bad, 1, 0, 1, T0, &d, &err), XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, "org_id");
    rl_engine_free(e);
}

static void test_leases(void **state)
{
    (void)state;
    rl_engine *e = engine_with(TWO_RULES);
    xd_err err;
    rl_lease_grant g1, g2, g3;
    rl_subject s = {.org_id = "acme", .ip = "192.0.2.1", .mx_host = "alt1.aspmx.l.google.com."};
    assert_int_equal(rl_engine_acquire(e, "a1", &s, T0, &g1, &err), XD_OK);
    assert_true(g1.granted);
    assert_int_equal(g1.messages_per_connection, 30);
    assert_int_equal(g1.expires_at_ms, T0 + 60000);
    assert_int_equal(rl_engine_acquire(e, "a2", &s, T0 + 1000, &g2, &err), XD_OK);
    assert_true(g2.granted);
    assert_int_equal(rl_engine_acquire(e, "a3", &s, T0 + 2000, &g3, &err), XD_OK);
    assert_false(g3.granted);
    assert_string_equal(g3.binding_rule, "conn");
    assert_int_equal(g3.retry_after_ms, 58000); /* when a1 expires */
    /* The same acquire id returns the same lease. */
    assert_int_equal(rl_engine_acquire(e, "a1", &s, T0 + 2000, &g3, &err), XD_OK);
    assert_string_equal(g3.lease_id, g1.lease_id);
    /* Renew a live lease; renew after expiry is refused (no resurrection). */
    int64_t exp;
    uint64_t seq;
    assert_int_equal(rl_engine_renew(e, g2.lease_id, T0 + 30000, &exp, &seq, &err), XD_OK);
    assert_int_equal(exp, T0 + 90000);
    assert_int_equal(rl_engine_renew(e, g1.lease_id, T0 + 60000, &exp, &seq, &err),
                     XD_FAILED_PRECONDITION);
    assert_int_equal(rl_engine_renew(e, g1.lease_id, T0 + 60001, &exp, &seq, &err), XD_NOT_FOUND);
    /* The crashed holder's slot came back after the TTL. */
    assert_int_equal(rl_engine_acquire(e, "a4", &s, T0 + 60000, &g3, &err), XD_OK);
    assert_true(g3.granted);
    /* Release is idempotent. */
    int released;
    assert_int_equal(rl_engine_release(e, g2.lease_id, T0 + 61000, &released, &seq, &err), XD_OK);
    assert_int_equal(released, 1);
    assert_int_equal(rl_engine_release(e, g2.lease_id, T0 + 61000, &released, &seq, &err), XD_OK);
    assert_int_equal(released, 0);
    assert_int_equal(
        rl_engine_release(e, "0123456789abcdef0123456789abcdef", T0, &released, &seq, &err), XD_OK);
    assert_int_equal(released, 0);
    rl_engine_free(e);
}

typedef struct lease_ctx {
    rl_engine *e;
    atomic_int held, max_held, grants;
    int id;
} lease_ctx;

typedef struct thread_arg {
    lease_ctx *c;
    int id;
} thread_arg;

static void *lease_worker(void *p)
{
    thread_arg *a = p;
    lease_ctx *c = a->c;
    rl_subject s = {.ip = "192.0.2.9", .provider = "google"};
    char rid[32];
    xd_err err;
    for (int i = 0; i < 300; i++) {
        rl_lease_grant g;
        snprintf(rid, sizeof(rid), "t%d-%d", a->id, i);
        if (rl_engine_acquire(c->e, rid, &s, T0 + i, &g, &err) != XD_OK || !g.granted)
            continue;
        int now_held = atomic_fetch_add(&c->held, 1) + 1;
        int m = atomic_load(&c->max_held);
        while (now_held > m && !atomic_compare_exchange_weak(&c->max_held, &m, now_held))
            ;
        atomic_fetch_add(&c->grants, 1);
        for (int k = 0; k < 20; k++) /* hold it a moment so holders overlap */
            sched_yield();
        atomic_fetch_sub(&c->held, 1);
        int released;
        uint64_t seq;
        rl_engine_release(c->e, g.lease_id, T0 + i, &released, &seq, &err);
    }
    return NULL;
}

static void test_lease_capacity_32_threads(void **state)
{
    (void)state;
    lease_ctx c = {.e = engine_with(TWO_RULES)};
    pthread_t th[32];
    thread_arg args[32];
    for (int i = 0; i < 32; i++) {
        args[i] = (thread_arg){&c, i};
        pthread_create(&th[i], NULL, lease_worker, &args[i]);
    }
    for (int i = 0; i < 32; i++)
        pthread_join(th[i], NULL);
    printf("32 threads: %d grants, at most %d held at once (limit 2)\n", atomic_load(&c.grants),
           atomic_load(&c.max_held));
    assert_true(atomic_load(&c.max_held) <= 2);
    assert_true(atomic_load(&c.grants) > 0);
    uint64_t keys, leases, dedup;
    rl_engine_counts(c.e, &keys, &leases, &dedup);
    assert_int_equal(leases, 0);
    rl_engine_free(c.e);
}

static const char TIERED[] =
    "{\"rules\": [{\"name\": \"org-hour\", \"kind\": \"window\", \"scope\": [\"org\"],"
    "  \"limit\": 1000, \"window_ms\": 3600000}],"
    " \"tiers\": {\"warmup_permille\": [100, 200, 500], \"flagged_permille\": 250},"
    " \"reputation\": {\"promote_after_clean_days\": 2, \"min_daily_volume\": 10,"
    "  \"bounce_flag_permille\": 100, \"complaint_flag_permille\": 5,"
    "  \"complaint_suspend_permille\": 50},"
    " \"feedback_patterns\": ["
    "  {\"name\": \"gmail-rate\", \"provider\": \"google\", \"enhanced_code\": \"4.7.28\","
    "   \"factor_permille\": 250, \"duration_ms\": 3600000},"
    "  {\"name\": \"yahoo-ts\", \"provider\": \"yahoo\", \"text_contains\": \"ts03\","
    "   \"factor_permille\": 100, \"duration_ms\": 7200000},"
    "  {\"name\": \"outlook-515\", \"provider\": \"microsoft\", \"enhanced_code\": \"5.7.515\","
    "   \"demote_to\": \"flagged\"}],"
    " \"providers\": [{\"name\": \"google\", \"mx_suffixes\": [\"google.com\"]},"
    "  {\"name\": \"yahoo\", \"mx_suffixes\": [\"yahoodns.net\"]},"
    "  {\"name\": \"microsoft\", \"mx_suffixes\": [\"outlook.com\"]}]}";

static uint64_t eff_of(rl_engine *e, const rl_subject *s, int64_t now)
{
    rl_explain x;
    xd_err err;
    assert_int_equal(rl_engine_explain(e, s, now, &x, &err), XD_OK);
    assert_int_equal(x.n_rules, 1);
    return x.rules[0].effective_limit;
}

/* The engine's clock never goes back, so this story moves forward in time. */
static void test_tiers_from_feedback(void **state)
{
    (void)state;
    rl_engine *e = engine_with(TIERED);
    xd_err err;
    rl_decision d;
    rl_feedback_result fr;
    const int64_t DAY = 86400000LL;
    rl_subject s = {.org_id = "acme"};
    /* New: warm-up grows by day. */
    assert_int_equal(rl_engine_consume(e, "c1", &s, 1, 0, 1, T0, &d, &err), XD_OK);
    assert_int_equal(eff_of(e, &s, T0), 100);
    /* Gmail 4.7.28 cuts the limit for google only, for an hour. */
    rl_subject g = {.org_id = "acme", .mx_host = "gmail-smtp-in.l.google.com"};
    assert_int_equal(rl_engine_feedback(e, "ev1", &g, RL_FB_DEFERRED, 421, "4.7.28",
                                        "Our system has detected an unusual rate", 1, T0 + 10, &fr,
                                        &err),
                     XD_OK);
    assert_int_equal(fr.n_matched, 1);
    assert_string_equal(fr.matched[0], "gmail-rate");
    /* The smallest factor wins: warm-up day 0 (100) beats the penalty (250). */
    assert_int_equal(eff_of(e, &g, T0 + 20), 100);
    assert_int_equal(eff_of(e, &s, T0 + DAY), 200);
    /* Day 2: warm-up 500, so the penalty binds while it lasts, for google only. */
    assert_int_equal(eff_of(e, &g, T0 + 2 * DAY), 500);
    assert_int_equal(rl_engine_feedback(e, "ev1b", &g, RL_FB_DEFERRED, 421, "4.7.28", "", 1,
                                        T0 + 2 * DAY, &fr, &err),
                     XD_OK);
    assert_int_equal(eff_of(e, &g, T0 + 2 * DAY + 1), 250);
    rl_subject y = {.org_id = "acme", .provider = "yahoo"};
    assert_int_equal(eff_of(e, &y, T0 + 2 * DAY + 1), 500);
    assert_int_equal(eff_of(e, &g, T0 + 2 * DAY + 3600000), 500);
    /* The same event id again changes nothing. */
    assert_int_equal(rl_engine_feedback(e, "ev1b", &g, RL_FB_DEFERRED, 421, "4.7.28", "", 1,
                                        T0 + 2 * DAY + 3600001, &fr, &err),
                     XD_OK);
    assert_int_equal(eff_of(e, &g, T0 + 2 * DAY + 3600002), 500);
    /* Yahoo TS03 text, case-insensitive. */
    rl_subject yh = {.ip = "192.0.2.7", .mx_host = "mta5.am0.yahoodns.net"};
    assert_int_equal(rl_engine_feedback(e, "ev2", &yh, RL_FB_DEFERRED, 421, "4.7.0",
                                        "[TS03] All messages from 192.0.2.7 will be deferred", 1,
                                        T0 + 3 * DAY, &fr, &err),
                     XD_OK);
    assert_int_equal(fr.n_matched, 1);
    /* Outlook 5.7.515 demotes to flagged. */
    rl_subject ms = {.org_id = "beta", .mx_host = "beta-com.mail.protection.outlook.com"};
    assert_int_equal(rl_engine_feedback(e, "ev3", &ms, RL_FB_BOUNCED, 550, "5.7.515",
                                        "Access denied, sending domain does not meet the "
                                        "required authentication level",
                                        1, T0 + 3 * DAY, &fr, &err),
                     XD_OK);
    assert_int_equal(fr.org_tier, RL_TIER_FLAGGED);
    rl_subject beta = {.org_id = "beta"};
    assert_int_equal(eff_of(e, &beta, T0 + 3 * DAY + 1), 250);
    /* The violation day resets the streak; then 2 clean days promote to good. */
    char id[16];
    for (int day = 1; day <= 3; day++) {
        snprintf(id, sizeof(id), "ok%d", day);
        assert_int_equal(rl_engine_feedback(e, id, &beta, RL_FB_DELIVERED, 250, "2.0.0", "ok", 50,
                                            T0 + (3 + day) * DAY, &fr, &err),
                         XD_OK);
        assert_int_equal(fr.org_tier, day < 3 ? RL_TIER_FLAGGED : RL_TIER_GOOD);
    }
    assert_int_equal(eff_of(e, &beta, T0 + 6 * DAY), 1000);
    /* Complaints above the suspend threshold suspend: nothing may go. */
    int64_t now = T0 + 6 * DAY;
    rl_subject gam = {.org_id = "gamma"};
    assert_int_equal(
        rl_engine_feedback(e, "g1", &gam, RL_FB_DELIVERED, 250, "", "", 90, now, &fr, &err), XD_OK);
    assert_int_equal(
        rl_engine_feedback(e, "g2", &gam, RL_FB_COMPLAINT, 0, "", "", 10, now, &fr, &err), XD_OK);
    assert_int_equal(fr.org_tier, RL_TIER_SUSPENDED);
    assert_int_equal(rl_engine_consume(e, "g3", &gam, 1, 1, 1, now + 5, &d, &err), XD_OK);
    assert_int_equal(d.verdict, RL_DENIED);
    assert_int_equal(d.retry_after_ms, -1);
    /* An operator override lifts it; the same policy twice keeps the version. */
    uint64_t v, seq;
    uint32_t n;
    char json[4096];
    snprintf(json, sizeof(json), "%.*s, \"tier_overrides\": {\"org:gamma\": \"good\"}}",
             (int)strlen(TIERED) - 1, TIERED);
    assert_int_equal(rl_engine_set_policy(e, json, 1, &v, &n, &seq, &err), XD_OK);
    assert_int_equal(v, 2);
    assert_int_equal(rl_engine_set_policy(e, json, 1, &v, &n, &seq, &err), XD_OK);
    assert_int_equal(v, 2);
    assert_int_equal(rl_engine_set_policy(e, TIERED, 1, &v, &n, &seq, &err),
                     XD_FAILED_PRECONDITION);
    assert_int_equal(rl_engine_consume(e, "g4", &gam, 1, 1, 1, now + 6, &d, &err), XD_OK);
    assert_int_equal(d.verdict, RL_GRANTED);
    rl_engine_free(e);
}

static void test_policy_errors(void **state)
{
    (void)state;
    rl_policy *p = NULL;
    xd_err err;
    assert_int_equal(rl_policy_parse("{", &p, &err), XD_INVALID_ARGUMENT);
    assert_int_equal(rl_policy_parse("{\"rules\": [{\"name\": \"a\", \"kind\": \"window\","
                                     " \"limit\": 5}]}",
                                     &p, &err),
                     XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, "window_ms");
    assert_int_equal(rl_policy_parse("{\"rules\": [{\"name\": \"a\", \"kind\": \"gcra\","
                                     " \"scope\": [\"planet\"], \"limit\": 5}]}",
                                     &p, &err),
                     XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, "scope");
    assert_int_equal(rl_policy_parse("{\"rules\": [{\"name\": \"a\", \"kind\": \"bucket\","
                                     " \"limit\": 5}]}",
                                     &p, &err),
                     XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, "kind");
    assert_int_equal(rl_policy_parse(rl_policy_default_json(), &p, &err), XD_OK);
    assert_string_equal(rl_policy_provider_for_mx(p, "ALT2.ASPMX.L.GOOGLE.COM."), "google");
    assert_null(rl_policy_provider_for_mx(p, "notgoogle.com"));
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_denial_changes_nothing),
        cmocka_unit_test(test_partial_and_retry_exact),
        cmocka_unit_test(test_per_message_cap),
        cmocka_unit_test(test_duplicate_request_id),
        cmocka_unit_test(test_leases),
        cmocka_unit_test(test_lease_capacity_32_threads),
        cmocka_unit_test(test_tiers_from_feedback),
        cmocka_unit_test(test_policy_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
