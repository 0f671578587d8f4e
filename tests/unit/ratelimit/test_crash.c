/*
 * test_crash.c: restore after an unclean stop never over-admits, with real
 * SQLite files and a real SIGKILL.
 *
 * A child process opens the store and consumes the way the daemon does: a
 * grant is "told" (written to a pipe) as soon as rl_engine_consume allows a
 * reply, i.e. without waiting for a commit when the grant is covered by
 * durable headroom. After a random number of requests it kills itself with
 * SIGKILL. The parent restores from the same file and checks:
 *  - the window: everything told plus everything the restored service still
 *    grants in the hour stays within the limit, and the restored count is at
 *    least what was told (and at most limit/4 + the cold allowance above it:
 *    the headroom charged is bounded);
 *  - GCRA pacing: told + granted after restore <= burst + elapsed/interval;
 *  - keys first used right before the kill (likely never journaled) are
 *    charged as a crashed run may have used them;
 *  - a key the database never held is charged exactly the crashed run's
 *    cold allowance, also after a later clean stop (the phantom persists);
 *  - a clean stop then restores the counts exactly;
 *  - with the store attached, a repeated request id replays and counts once.
 * Counts decide, never timing.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "rl_headroom.h"
#include "rl_store.h"

#define WIN_LIMIT  5000
#define PACE_BURST 100
#define PACE_IV_MS 1 /* 1000 per second */
#define COLD_ORGS  40

static const char POLICY[] =
    "{\"rules\": ["
    " {\"name\": \"org-hour\", \"kind\": \"window\", \"scope\": [\"org\"], \"limit\": 5000,"
    "  \"window_ms\": 3600000},"
    " {\"name\": \"ip-pace\", \"kind\": \"gcra\", \"scope\": [\"ip\"], \"limit\": 1000,"
    "  \"period_ms\": 1000, \"burst\": 100}],"
    " \"tiers\": {\"warmup_permille\": [1000]}}";

static char dir[256], db[300];

typedef struct told {
    int kind; /* 0 window acme, 1 pace ip, 2 cold org */
    int index;
    uint32_t granted;
} told;

static void open_store(rl_engine **e, rl_store **st)
{
    xd_err err;
    rl_restore_stats rs;
    rl_store_options o = {.db_path = db, .policy_file_json = POLICY};
    if (rl_store_open(&o, e, st, &rs, &err) != XD_OK)
        fail_msg("open: %s", err.message);
}

/* Consumes like a handler: waits only when the engine asks, then tells. */
static uint32_t consume_told(rl_engine *e, const char *rid, const rl_subject *s, uint32_t n)
{
    rl_decision d;
    xd_err err;
    int64_t now = xd_clock_now_ms(xd_clock_system());
    if (rl_engine_consume(e, rid, s, n, 1, 1, now, &d, &err) != XD_OK)
        return 0;
    if (d.seq && rl_engine_wait_durable(e, d.seq, 30000) != 0)
        return 0; /* UNAVAILABLE: nothing told */
    return d.granted;
}

static void child_main(int fd, unsigned seed, int requests, int wait_first)
{
    rl_engine *e;
    rl_store *st;
    open_store(&e, &st);
    char rid[64], org[32];
    rl_subject win = {.org_id = "acme"}, pace = {.ip = "192.0.2.7"};
    if (wait_first) { /* one commit so the run's epoch is durable */
        told t = {0, -1, consume_told(e, "first", &win, 1)};
        if (write(fd, &t, sizeof(t)) != sizeof(t))
            _exit(2);
    }
    for (int i = 0; i < requests; i++) {
        snprintf(rid, sizeof(rid), "w%d", i);
        told t = {0, i, consume_told(e, rid, &win, 1 + (uint32_t)(rand_r(&seed) % 4))};
        if (write(fd, &t, sizeof(t)) != sizeof(t))
            _exit(2);
        snprintf(rid, sizeof(rid), "p%d", i);
        t = (told){1, i, consume_told(e, rid, &pace, 1)};
        if (write(fd, &t, sizeof(t)) != sizeof(t))
            _exit(2);
    }
    for (int i = 0; i < COLD_ORGS && requests > 0; i++) {
        snprintf(org, sizeof(org), "cold%d", i);
        snprintf(rid, sizeof(rid), "c%d", i);
        rl_subject s = {.org_id = org};
        told t = {2, i, consume_told(e, rid, &s, 3)};
        if (write(fd, &t, sizeof(t)) != sizeof(t))
            _exit(2);
    }
    raise(SIGKILL);
    _exit(3);
}

/* Runs a child that consumes and is killed; sums what it told. */
static void crash_run(unsigned seed, int requests, int wait_first, uint64_t *win_told,
                      uint64_t *pace_told, uint32_t cold_told[COLD_ORGS])
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child_main(fds[1], seed, requests, wait_first);
    }
    close(fds[1]);
    told t;
    while (read(fds[0], &t, sizeof(t)) == sizeof(t)) {
        if (t.kind == 0)
            *win_told += t.granted;
        else if (t.kind == 1)
            *pace_told += t.granted;
        else if (t.index >= 0 && t.index < COLD_ORGS)
            cold_told[t.index] += t.granted;
    }
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static uint64_t window_used(rl_engine *e, const char *org)
{
    rl_explain x;
    xd_err err;
    rl_subject s = {.org_id = org};
    assert_int_equal(rl_engine_explain(e, &s, xd_clock_now_ms(xd_clock_system()), &x, &err), XD_OK);
    assert_int_equal(x.n_rules, 1);
    return x.rules[0].used;
}

/* Takes everything the window still grants for org now. */
static uint64_t fill(rl_engine *e, const char *org, const char *tag)
{
    char rid[64];
    snprintf(rid, sizeof(rid), "fill-%s-%s", tag, org);
    rl_subject s = {.org_id = org};
    return consume_told(e, rid, &s, WIN_LIMIT);
}

static void new_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/rl_crash_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof(db), "%s/ratelimit.db", dir);
}

static void remove_dir(void)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_kill9_never_over_admits(void **state)
{
    (void)state;
    unsigned seed = (unsigned)getpid();
    for (int round = 0; round < 4; round++) {
        new_dir();
        uint64_t win_told = 0, pace_told = 0;
        uint32_t cold_told[COLD_ORGS] = {0};
        int64_t t0 = xd_clock_now_ms(xd_clock_system());
        int requests = 100 + (int)(rand_r(&seed) % 500);
        crash_run(seed + (unsigned)round, requests, 0, &win_told, &pace_told, cold_told);
        rl_engine *e;
        rl_store *st;
        open_store(&e, &st);
        uint64_t used = window_used(e, "acme");
        printf("round %d: %d requests, window told %llu, restored %llu; pace told %llu\n", round,
               requests, (unsigned long long)win_told, (unsigned long long)used,
               (unsigned long long)pace_told);
        assert_true(used >= win_told);
        assert_true(used <= win_told + WIN_LIMIT / 4 + RL_COLD_MAX);
        uint64_t more = fill(e, "acme", "a");
        assert_true(win_told + more <= WIN_LIMIT);
        /* Pace: at most burst + elapsed / interval since the first grant. */
        int64_t t1 = xd_clock_now_ms(xd_clock_system());
        rl_subject pace = {.ip = "192.0.2.7"};
        uint64_t pace_more = 0;
        char rid[32];
        for (int k = 0; k < 2 * PACE_BURST; k++) {
            snprintf(rid, sizeof(rid), "pm%d", k);
            pace_more += consume_told(e, rid, &pace, 1);
        }
        int64_t t2 = xd_clock_now_ms(xd_clock_system());
        (void)t1;
        assert_true(pace_told + pace_more <= PACE_BURST + (uint64_t)((t2 - t0) / PACE_IV_MS) + 1);
        for (int i = 0; i < COLD_ORGS; i++) {
            char org[32];
            snprintf(org, sizeof(org), "cold%d", i);
            uint64_t c = fill(e, org, "c");
            if (cold_told[i] + c > WIN_LIMIT)
                fail_msg("%s: told %u before the crash, %llu after: over %d", org, cold_told[i],
                         (unsigned long long)c, WIN_LIMIT);
        }
        /* A clean stop restores exactly. */
        used = window_used(e, "acme");
        rl_store_close(st);
        rl_engine_free(e);
        open_store(&e, &st);
        assert_int_equal(window_used(e, "acme"), used);
        rl_store_close(st);
        rl_engine_free(e);
        remove_dir();
    }
}

/* A key never stored is charged the crashed run's allowance at first use,
 * in the run after the crash and after a later clean stop too. */
static void test_absent_key_charged_allowance(void **state)
{
    (void)state;
    new_dir();
    uint64_t win_told = 0, pace_told = 0;
    uint32_t cold_told[COLD_ORGS] = {0};
    crash_run(1, 0, 1, &win_told, &pace_told, cold_told);
    assert_int_equal(win_told, 1);
    rl_engine *e;
    rl_store *st;
    open_store(&e, &st);
    /* limit 5000: allowance min(16, 5000 / 64) = 16 */
    assert_int_equal(fill(e, "never-seen", "1"), WIN_LIMIT - RL_COLD_MAX);
    assert_int_equal(window_used(e, "never-seen"), WIN_LIMIT);
    /* acme's record from the crashed run: its told grant + at most the
     * allowance and the reservation (here none beyond the allowance). */
    uint64_t used = window_used(e, "acme");
    assert_true(used >= 1 && used <= 1 + WIN_LIMIT / 4 + RL_COLD_MAX);
    rl_store_close(st);
    rl_engine_free(e);
    open_store(&e, &st);
    assert_int_equal(fill(e, "also-never-seen", "2"), WIN_LIMIT - RL_COLD_MAX);
    assert_int_equal(window_used(e, "never-seen"), WIN_LIMIT); /* exact after a clean stop */
    rl_store_close(st);
    rl_engine_free(e);
    /* Clean stop, clean start: nothing new is charged to known keys. */
    open_store(&e, &st);
    assert_int_equal(window_used(e, "also-never-seen"), WIN_LIMIT);
    assert_int_equal(window_used(e, "acme"), used);
    rl_store_close(st);
    rl_engine_free(e);
    remove_dir();
}

/* With the store attached (replies not waiting for commits), a request id
 * seen before returns the first answer and counts once, in the same run and
 * after a clean restart. */
static void test_duplicate_ids_with_headroom(void **state)
{
    (void)state;
    new_dir();
    rl_engine *e;
    rl_store *st;
    open_store(&e, &st);
    rl_subject s = {.org_id = "dup-org"};
    rl_decision d;
    xd_err err;
    int64_t now = xd_clock_now_ms(xd_clock_system());
    assert_int_equal(consume_told(e, "dup-1", &s, 3), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rl_engine_consume(e, "dup-1", &s, 7, 0, 1, now, &d, &err), XD_OK);
        assert_true(d.replayed);
        assert_int_equal(d.granted, 3);
    }
    assert_int_equal(window_used(e, "dup-org"), 3);
    rl_store_close(st);
    rl_engine_free(e);
    open_store(&e, &st);
    assert_int_equal(rl_engine_consume(e, "dup-1", &s, 7, 0, 1, now, &d, &err), XD_OK);
    assert_true(d.replayed);
    assert_int_equal(d.granted, 3);
    assert_int_equal(window_used(e, "dup-org"), 3);
    rl_store_close(st);
    rl_engine_free(e);
    remove_dir();
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_never_over_admits),
        cmocka_unit_test(test_absent_key_charged_allowance),
        cmocka_unit_test(test_duplicate_ids_with_headroom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
