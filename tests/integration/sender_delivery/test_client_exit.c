/*
 * test_client_exit.c: clients that go away must not stall the sender for
 * the clients that follow. Separate client processes (client_exit_probe,
 * exec'd: nng is not fork-safe) open two xd_clients each and exit: after
 * their Submits, in the middle of Submits from four threads, and after
 * spawning a child that inherits their descriptors. After each, a fresh
 * client process's Submits must all be answered, each well within its
 * 60 s timeout (a stall of the reported ~30 s fails the bound).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dtest.h"

#define BOUND_MS 10000 /* far above a normal Submit, far below a stall */

static struct {
    char dir[512];
    char probe[700];
    dt_sink sink;
    dt_sender s;
} g;

static int setup(void **state)
{
    (void)state;
    tu_tmpdir(g.dir, sizeof g.dir, "xd-dclientexit");
    snprintf(g.probe, sizeof g.probe, "%s/tests/integration/sender_delivery/client_exit_probe",
             getenv("XD_BINARY_DIR") ? getenv("XD_BINARY_DIR") : ".");
    if (dt_sink_start(&g.sink, NULL, 0) != 0)
        return -1;
    char port[64];
    snprintf(port, sizeof port, "XD_SENDER_CAPTURE_PORT=%u", (unsigned)g.sink.port);
    const char *env[] = {port, NULL};
    return dt_sender_start(&g.s, g.dir, env);
}

static int teardown(void **state)
{
    (void)state;
    dt_sender_stop(&g.s, SIGTERM);
    dt_sink_stop(&g.sink);
    xd_client_close(g.s.client);
    xd_arena_free(g.s.arena);
    if (!getenv("XD_KEEP"))
        tu_rmrf(g.dir);
    return 0;
}

/* Runs a fresh client process: n Submits; returns the slowest in ms. */
static long next_client_max_ms(int n)
{
    char out[700];
    snprintf(out, sizeof out, "%s/probe.out", g.dir);
    assert_int_equal(tu_sh("'%s' '%s' submit %d > '%s'", g.probe, g.s.url, n, out), 0);
    size_t len = 0;
    char *text = tu_read_file(out, &len);
    assert_non_null(text);
    long max = -1;
    int failed = -1;
    assert_int_equal(sscanf(text, "MAXMS %ld FAILED %d", &max, &failed), 2);
    free(text);
    assert_int_equal(failed, 0);
    return max;
}

static void run_case(const char *mode, const char *arg)
{
    /* The exiting probes leak their clients on purpose. */
    assert_int_equal(tu_sh("ASAN_OPTIONS=detect_leaks=0 '%s' '%s' %s %s > /dev/null", g.probe,
                           g.s.url, mode, arg),
                     0);
    for (int round = 0; round < 2; round++) {
        long ms = next_client_max_ms(5);
        printf("CLIENT-EXIT after %-14s: next client's slowest Submit %ld ms\n", mode, ms);
        assert_true(ms >= 0 && ms < BOUND_MS);
    }
}

static void test_after_two_clients_exit(void **state)
{
    (void)state;
    assert_true(next_client_max_ms(3) < BOUND_MS);
    run_case("two-exit", "5");
}

static void test_after_exit_mid_submits(void **state)
{
    (void)state;
    run_case("inflight-exit", "300");
}

static void test_after_exit_with_child_holding_fds(void **state)
{
    (void)state;
    run_case("spawn-exit", "5");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_after_two_clients_exit),
        cmocka_unit_test(test_after_exit_mid_submits),
        cmocka_unit_test(test_after_exit_with_child_holding_fds),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
