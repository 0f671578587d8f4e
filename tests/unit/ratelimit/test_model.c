/*
 * test_model.c: the ratelimit engine against brute-force oracles.
 *
 * 1) A bare rl_window (limit N, window W) driven by >= 10^6 random grants
 *    with random clock steps: every decision and every retry_after must equal
 *    the oracle's (all grants kept in a list, sums by scanning), and no
 *    trailing window may ever hold more than N. A second run with a tiny
 *    ring (records merge) must never over-admit.
 * 2) The whole engine with 3 rules per request (two rolling windows and GCRA
 *    pacing) for >= 10^6 Consume calls over 4 organizations with an injected
 *    clock: grants (full or partial) and retry_after_ms must equal an oracle
 *    built from prefix sums over every grant and an exact rational leaky
 *    bucket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rl_engine.h"
#include "rl_window.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

typedef struct grant {
    int64_t ts;
    uint64_t n;
} grant;

/* Brute force: recipients granted in (now - w, now]. */
static uint64_t oracle_sum(const grant *g, size_t n, int64_t now, int64_t w)
{
    uint64_t s = 0;
    for (size_t i = n; i-- > 0;) {
        if (now - g[i].ts >= w)
            break;
        s += g[i].n;
    }
    return s;
}

/* Brute force: the earliest ms from now when need more fit. */
static int64_t oracle_retry(const grant *g, size_t n, int64_t now, int64_t w, uint64_t limit,
                            uint64_t need)
{
    if (need > limit)
        return -1;
    for (int64_t t = now;; t++) {
        /* candidates are only expiry instants, but scanning them is enough */
        if (oracle_sum(g, n, t, w) + need <= limit)
            return t - now;
        /* jump to the next expiry to keep the oracle fast */
        int64_t next = INT64_MAX;
        for (size_t i = n; i-- > 0;) {
            if (t - g[i].ts >= w)
                break;
            if (g[i].ts + w < next)
                next = g[i].ts + w;
        }
        t = next - 1;
    }
}

static void run_window(uint32_t max_entries, long ops, int expect_exact)
{
    const uint64_t limit = 100;
    const int64_t w = 1000;
    rl_window win = {0};
    size_t cap = 1 << 20, n = 0;
    grant *g = malloc(sizeof(*g) * cap);
    assert_non_null(g);
    int64_t now = 1700000000000LL;
    long granted = 0, denied = 0, under = 0;
    for (long op = 0; op < ops; op++) {
        uint64_t r = rnd();
        now += (r % 8 == 0) ? (int64_t)(r >> 8) % 1500 : (int64_t)((r >> 8) % 12);
        uint64_t need = 1 + (r >> 20) % 12;
        rl_window_expire(&win, now, w);
        uint64_t used = oracle_sum(g, n, now, w);
        int oracle_fits = used + need <= limit;
        int fits = rl_window_available(&win, limit) >= need;
        if (expect_exact) {
            assert_int_equal(fits, oracle_fits);
            assert_int_equal(win.sum, used);
        }
        /* Safety in every mode: we never admit what the oracle refuses. */
        if (fits)
            assert_true(oracle_fits);
        if (!fits && oracle_fits)
            under++;
        if (fits) {
            assert_int_equal(
                rl_window_add(&win, now, need, max_entries, rl_window_granule_ms(w, max_entries)),
                0);
            if (n == cap) { /* keep only the tail that can still matter */
                size_t keep = 4096;
                memmove(g, g + n - keep, keep * sizeof(*g));
                n = keep;
            }
            g[n++] = (grant){now, need};
            granted++;
            assert_true(oracle_sum(g, n, now, w) <= limit);
        } else {
            denied++;
            int64_t retry = rl_window_retry_ms(&win, now, w, limit, need);
            if (expect_exact)
                assert_int_equal(retry, oracle_retry(g, n, now, w, limit, need));
            /* Retrying at retry_after succeeds if nothing else consumed. */
            rl_window probe = {0};
            for (uint32_t i = 0; i < win.n; i++)
                assert_int_equal(rl_window_add(&probe, rl_window_at(&win, i).ts_ms,
                                               rl_window_at(&win, i).count, 1 << 20, 1),
                                 0);
            rl_window_expire(&probe, now + retry, w);
            assert_true(rl_window_available(&probe, limit) >= need);
            if (retry > 0) {
                rl_window_free(&probe);
                for (uint32_t i = 0; i < win.n; i++)
                    assert_int_equal(rl_window_add(&probe, rl_window_at(&win, i).ts_ms,
                                                   rl_window_at(&win, i).count, 1 << 20, 1),
                                     0);
                rl_window_expire(&probe, now + retry - 1, w);
                assert_true(rl_window_available(&probe, limit) < need);
            }
            rl_window_free(&probe);
        }
    }
    printf("window max_entries=%u ops=%ld granted=%ld denied=%ld under-admitted=%ld\n", max_entries,
           ops, granted, denied, under);
    assert_true(granted > ops / 4);
    if (expect_exact)
        assert_int_equal(under, 0);
    rl_window_free(&win);
    free(g);
}

static void test_window_exact(void **state)
{
    (void)state;
    run_window(4096, 1000000, 1);
}

static void test_window_merged_never_over(void **state)
{
    (void)state;
    run_window(4, 300000, 0);
}

/* A steady stream through a coarse window: merging by granule costs at most
 * one granule of throughput (limit per window + granule), never degenerates
 * into one ever-young record that blocks the window. */
static void test_window_granule_throughput(void **state)
{
    (void)state;
    const uint64_t limit = 100;
    const int64_t w = 1000;
    const uint32_t max_entries = 4; /* granule 250 ms */
    rl_window win = {0};
    int64_t now = 0;
    uint64_t granted = 0;
    for (int i = 0; i < 200000; i++, now += 1) {
        rl_window_expire(&win, now, w);
        if (rl_window_available(&win, limit) >= 1) {
            assert_int_equal(
                rl_window_add(&win, now, 1, max_entries, rl_window_granule_ms(w, max_entries)), 0);
            granted++;
        }
        assert_true(win.n <= max_entries + 1);
    }
    /* 200 s: exact would give 100 per 1000 ms = 20000; the bound is
     * 100 per 1250 ms = 16000. */
    printf("steady stream: %llu granted in 200 s (exact 20000, floor 16000)\n",
           (unsigned long long)granted);
    assert_true(granted >= 16000 && granted <= 20000);
    rl_window_free(&win);
}

/* ---- whole engine, 3 rules per request ---- */

#define ORGS 4
static const char POLICY[] =
    "{\"rules\": ["
    " {\"name\": \"hour\", \"kind\": \"window\", \"scope\": [\"org\"], \"limit\": 40,"
    "  \"window_ms\": 6000},"
    " {\"name\": \"day\", \"kind\": \"window\", \"scope\": [\"org\"], \"limit\": 120,"
    "  \"window_ms\": 60000},"
    " {\"name\": \"pace\", \"kind\": \"gcra\", \"scope\": [\"org\"], \"limit\": 50,"
    "  \"period_ms\": 10000, \"burst\": 10}],"
    " \"tiers\": {\"warmup_permille\": [1000]}}";

typedef struct org_oracle {
    grant *g;
    size_t n, cap;
    uint64_t *prefix; /* prefix[i] = sum of g[0..i) */
    /* leaky bucket in units of recipient*period_ms: exact rationals */
    int64_t level, last_ms;
} org_oracle;

static uint64_t prefix_window(const org_oracle *o, int64_t now, int64_t w)
{
    if (o->n == 0)
        return 0;
    /* first grant with now - ts < w, by binary search */
    size_t lo = 0, hi = o->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (now - o->g[mid].ts >= w)
            lo = mid + 1;
        else
            hi = mid;
    }
    return o->prefix[o->n] - o->prefix[lo];
}

static int64_t window_retry(const org_oracle *o, int64_t now, int64_t w, uint64_t limit,
                            uint64_t need)
{
    if (need > limit)
        return -1;
    uint64_t used = prefix_window(o, now, w);
    if (used + need <= limit)
        return 0;
    /* walk grants inside the window from the oldest */
    size_t lo = 0, hi = o->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (now - o->g[mid].ts >= w)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint64_t freed = 0;
    for (size_t i = lo; i < o->n; i++) {
        freed += o->g[i].n;
        if (used - freed + need <= limit)
            return o->g[i].ts + w - now;
    }
    return -1;
}

static const int64_t PERIOD = 10000, RATE = 50, BURST = 10;

static int64_t bucket_level(const org_oracle *o, int64_t now)
{
    int64_t l = o->level - RATE * (now - o->last_ms);
    return l > 0 ? l : 0;
}

static uint64_t bucket_avail(const org_oracle *o, int64_t now)
{
    int64_t room = BURST * PERIOD - bucket_level(o, now);
    return room > 0 ? (uint64_t)(room / PERIOD) : 0;
}

static int64_t bucket_retry(const org_oracle *o, int64_t now, uint64_t need)
{
    if ((int64_t)need > BURST)
        return -1;
    int64_t excess = bucket_level(o, now) + (int64_t)need * PERIOD - BURST * PERIOD;
    if (excess <= 0)
        return 0;
    return (excess + RATE - 1) / RATE;
}

static void oracle_grant(org_oracle *o, int64_t now, uint64_t n)
{
    if (o->n + 1 >= o->cap) {
        o->cap = o->cap ? o->cap * 2 : 1024;
        o->g = realloc(o->g, o->cap * sizeof(*o->g));
        o->prefix = realloc(o->prefix, (o->cap + 1) * sizeof(*o->prefix));
        assert_non_null(o->g);
        assert_non_null(o->prefix);
        if (o->n == 0)
            o->prefix[0] = 0;
    }
    o->g[o->n] = (grant){now, n};
    o->prefix[o->n + 1] = o->prefix[o->n] + n;
    o->n++;
    o->level = bucket_level(o, now) + (int64_t)n * PERIOD;
    o->last_ms = now;
}

static int64_t max_retry(int64_t a, int64_t b)
{
    if (a < 0 || b < 0)
        return -1;
    return a > b ? a : b;
}

static void test_engine_model(void **state)
{
    (void)state;
    rl_policy *p = NULL;
    xd_err err;
    assert_int_equal(rl_policy_parse(POLICY, &p, &err), XD_OK);
    rl_engine *e = NULL;
    rl_engine_options opt = {.window_max_entries = 1 << 16, .dedup_max = 1000};
    assert_int_equal(rl_engine_new(&opt, p, POLICY, 1, &e, &err), XD_OK);
    org_oracle orc[ORGS];
    memset(orc, 0, sizeof(orc));
    int64_t now = 1800000000000LL;
    for (int i = 0; i < ORGS; i++)
        orc[i].last_ms = now;
    char org[16], rid[32];
    long ops = 1000000, granted_ops = 0, partial_ops = 0, denied_ops = 0;
    rl_decision d;
    for (long op = 0; op < ops; op++) {
        uint64_t r = rnd();
        now += (r % 4 == 0) ? 0 : (int64_t)((r >> 4) % 400);
        int o = (int)((r >> 12) % ORGS);
        uint64_t need = 1 + (r >> 16) % 12;
        int partial = (int)((r >> 24) & 1);
        snprintf(org, sizeof(org), "org%d", o);
        snprintf(rid, sizeof(rid), "r%ld", op);
        rl_subject s = {.org_id = org};
        assert_int_equal(rl_engine_consume(e, rid, &s, (uint32_t)need, partial, 1, now, &d, &err),
                         XD_OK);
        org_oracle *x = &orc[o];
        uint64_t a1 = 40 - prefix_window(x, now, 6000);
        uint64_t a2 = 120 - prefix_window(x, now, 60000);
        uint64_t a3 = bucket_avail(x, now);
        uint64_t fit = need;
        if (a1 < fit)
            fit = a1;
        if (a2 < fit)
            fit = a2;
        if (a3 < fit)
            fit = a3;
        uint64_t expect = fit == need ? need : (partial ? fit : 0);
        assert_int_equal(d.granted, expect);
        assert_int_equal(d.n_rules, 3);
        if (expect > 0) {
            oracle_grant(x, now, expect);
            assert_true(prefix_window(x, now, 6000) <= 40);
            assert_true(prefix_window(x, now, 60000) <= 120);
            if (expect == need)
                granted_ops++;
            else
                partial_ops++;
        } else {
            denied_ops++;
            uint64_t n1 = partial ? 1 : need;
            int64_t want = max_retry(
                max_retry(window_retry(x, now, 6000, 40, n1), window_retry(x, now, 60000, 120, n1)),
                bucket_retry(x, now, n1));
            assert_int_equal(d.verdict, RL_DENIED);
            assert_int_equal(d.retry_after_ms, want);
        }
    }
    printf("engine model ops=%ld granted=%ld partial=%ld denied=%ld\n", ops, granted_ops,
           partial_ops, denied_ops);
    assert_true(granted_ops > 1000 && partial_ops > 100 && denied_ops > 1000);
    for (int i = 0; i < ORGS; i++) {
        free(orc[i].g);
        free(orc[i].prefix);
    }
    rl_engine_free(e);
}

/* GCRA: at most burst at an instant and burst + L/interval over any L; the
 * retry is the first millisecond that works. */
static void test_gcra_bounds(void **state)
{
    (void)state;
    rl_gcra g = rl_gcra_params(7, 1000, 3); /* interval = ceil(1e9/7) ns */
    assert_int_equal(g.interval_ns, 142857143);
    int64_t tat = 0, now = 1000000;
    assert_int_equal(rl_gcra_available(g, tat, now), 3);
    tat = rl_gcra_take(g, tat, now, 3);
    assert_int_equal(rl_gcra_available(g, tat, now), 0);
    int64_t retry = rl_gcra_retry_ms(g, tat, now, 1);
    assert_int_equal(retry, 143); /* 142.857143 ms rounded up */
    assert_int_equal(rl_gcra_available(g, tat, now + retry - 1), 0);
    assert_int_equal(rl_gcra_available(g, tat, now + retry), 1);
    assert_int_equal(rl_gcra_retry_ms(g, tat, now, 4), -1);
    /* Greedy taker over 100 s: never more than burst + L/interval in any L. */
    int64_t times[4000];
    int n = 0;
    tat = 0;
    for (int64_t t = now; t < now + 100000 && n < 4000; t++) {
        while (rl_gcra_available(g, tat, t) >= 1 && n < 4000) {
            tat = rl_gcra_take(g, tat, t, 1);
            times[n++] = t;
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = i; j < n && j < i + 50; j++) {
            int64_t l_ns = (times[j] - times[i]) * 1000000;
            assert_true(j - i + 1 <= 3 + l_ns / g.interval_ns);
        }
    assert_true(n >= 700 && n <= 703);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gcra_bounds),
        cmocka_unit_test(test_window_exact),
        cmocka_unit_test(test_window_merged_never_over),
        cmocka_unit_test(test_window_granule_throughput),
        cmocka_unit_test(test_engine_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
