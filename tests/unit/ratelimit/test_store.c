/*
 * test_store.c: ratelimit state survives a restart through a real SQLite
 * file in a temp dir: window counts, GCRA debt, request-id answers, leases,
 * reputation and the policy; a changed policy file wins at start-up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "rl_store.h"

static const char POLICY[] =
    "{\"rules\": ["
    " {\"name\": \"org-hour\", \"kind\": \"window\", \"scope\": [\"org\"], \"limit\": 10,"
    "  \"window_ms\": 3600000},"
    " {\"name\": \"pace\", \"kind\": \"gcra\", \"scope\": [\"org\"], \"limit\": 60,"
    "  \"period_ms\": 60000, \"burst\": 6},"
    " {\"name\": \"conn\", \"kind\": \"connections\", \"scope\": [\"ip\"], \"limit\": 1,"
    "  \"ttl_ms\": 600000}],"
    " \"tiers\": {\"warmup_permille\": [1000]}}";

static char dir[256], db[300];

static void open_store(const char *policy, rl_engine **e, rl_store **st, rl_restore_stats *rs)
{
    xd_err err;
    rl_store_options o = {.db_path = db, .policy_file_json = policy};
    if (rl_store_open(&o, e, st, rs, &err) != XD_OK)
        fail_msg("open: %s", err.message);
}

static void test_restart_keeps_state(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/rl_store_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof(db), "%s/ratelimit.db", dir);
    rl_engine *e;
    rl_store *st;
    rl_restore_stats rs;
    xd_err err;
    rl_decision d;
    int64_t now = xd_clock_now_ms(xd_clock_system());
    open_store(POLICY, &e, &st, &rs);
    assert_int_equal(rs.policy_version, 1);
    rl_subject s = {.org_id = "acme", .ip = "192.0.2.1"};
    assert_int_equal(rl_engine_consume(e, "k1", &s, 6, 0, 1, now, &d, &err), XD_OK);
    assert_int_equal(d.granted, 6);
    assert_int_equal(rl_engine_wait_durable(e, d.seq, 5000), 0);
    rl_lease_grant g;
    assert_int_equal(rl_engine_acquire(e, "l1", &s, now, &g, &err), XD_OK);
    assert_true(g.granted);
    assert_int_equal(rl_engine_wait_durable(e, g.seq, 5000), 0);
    rl_feedback_result fr;
    assert_int_equal(
        rl_engine_feedback(e, "f1", &s, RL_FB_BOUNCED, 550, "5.1.1", "no user", 1, now, &fr, &err),
        XD_OK);
    assert_int_equal(rl_engine_wait_durable(e, fr.seq, 5000), 0);
    rl_store_close(st);
    rl_engine_free(e);

    /* Same policy: restored as is. */
    open_store(POLICY, &e, &st, &rs);
    assert_int_equal(rs.policy_version, 1);
    assert_int_equal(rs.bad, 0);
    assert_true(rs.items >= 5);
    /* 6 of 10 used: 5 more do not fit, 4 do; pace has 0 burst left (6). */
    assert_int_equal(rl_engine_consume(e, "k2", &s, 5, 0, 0, now + 1, &d, &err), XD_OK);
    assert_int_equal(d.verdict, RL_DENIED);
    /* The request id answers from the first run. */
    assert_int_equal(rl_engine_consume(e, "k1", &s, 6, 0, 1, now + 1, &d, &err), XD_OK);
    assert_int_equal(d.replayed, 1);
    assert_int_equal(d.granted, 6);
    /* The lease still holds the only slot and can be renewed. */
    rl_lease_grant g2;
    assert_int_equal(rl_engine_acquire(e, "l2", &s, now + 2, &g2, &err), XD_OK);
    assert_false(g2.granted);
    int64_t exp;
    uint64_t seq;
    assert_int_equal(rl_engine_renew(e, g.lease_id, now + 3, &exp, &seq, &err), XD_OK);
    rl_explain x;
    assert_int_equal(rl_engine_explain(e, &s, now + 4, &x, &err), XD_OK);
    assert_int_equal(x.org_tier, RL_TIER_NEW);
    assert_int_equal(x.rules[0].used, 6);
    rl_store_close(st);
    rl_engine_free(e);

    /* A different policy file wins as a new version; counts carry over by
     * rule name. */
    char changed[sizeof(POLICY) + 8];
    snprintf(changed, sizeof(changed), "%s", POLICY);
    char *p = strstr(changed, "\"limit\": 10");
    assert_non_null(p);
    memcpy(p, "\"limit\": 20", 11);
    open_store(changed, &e, &st, &rs);
    assert_int_equal(rs.policy_version, 2);
    assert_int_equal(rl_engine_explain(e, &s, now + 5, &x, &err), XD_OK);
    assert_int_equal(x.policy_version, 2);
    assert_int_equal(x.rules[0].effective_limit, 20);
    assert_int_equal(x.rules[0].used, 6);
    rl_store_close(st);
    rl_engine_free(e);
    open_store(NULL, &e, &st, &rs);
    assert_int_equal(rs.policy_version, 2); /* stored, no file: kept */
    rl_store_close(st);
    rl_engine_free(e);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Enough changes that the background compactor folds the log into the
 * state table while more changes arrive: whichever part a record is in,
 * the latest version must come back. */
static void test_log_and_compaction(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/rl_store_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof(db), "%s/ratelimit.db", dir);
    rl_engine *e;
    rl_store *st;
    rl_restore_stats rs;
    xd_err err;
    rl_decision d;
    char org[32], rid[32];
    int64_t now = xd_clock_now_ms(xd_clock_system());
    open_store(POLICY, &e, &st, &rs);
    uint64_t last = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 3000; i++) {
            snprintf(org, sizeof(org), "org%d", i);
            snprintf(rid, sizeof(rid), "c%d-%d", round, i);
            rl_subject s = {.org_id = org};
            assert_int_equal(rl_engine_consume(e, rid, &s, 1, 0, 1, now, &d, &err), XD_OK);
            assert_int_equal(d.granted, 1);
            last = d.seq;
        }
        assert_int_equal(rl_engine_wait_durable(e, last, 30000), 0);
        usleep(300000); /* give the compactor a chance (either outcome is valid) */
    }
    rl_store_close(st);
    rl_engine_free(e);
    open_store(POLICY, &e, &st, &rs);
    assert_int_equal(rs.bad, 0);
    uint64_t keys, leases, dedup;
    rl_engine_counts(e, &keys, &leases, &dedup);
    assert_int_equal(keys, 6000); /* a window and a pace key per org */
    assert_int_equal(dedup, 9000);
    for (int i = 0; i < 3000; i += 499) {
        snprintf(org, sizeof(org), "org%d", i);
        rl_subject s = {.org_id = org};
        rl_explain x;
        assert_int_equal(rl_engine_explain(e, &s, now, &x, &err), XD_OK);
        assert_int_equal(x.rules[0].used, 3);
    }
    assert_int_equal(
        rl_engine_consume(e, "c1-17", &(rl_subject){.org_id = "x"}, 1, 0, 1, now, &d, &err), XD_OK);
    assert_int_equal(d.replayed, 1);
    rl_store_close(st);
    rl_engine_free(e);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restart_keeps_state),
        cmocka_unit_test(test_log_and_compaction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
