/*
 * test_faults.c: the fault matrix. Each scenario of the SMTP client tests'
 * scripted server (fault_server.py: 421/554 greetings, 450/451/452/550/
 * 552/554 at MAIL, RCPT, DATA and the final dot, a connection dropped
 * mid-DATA, TLS failures, stalls past each timeout, malformed and very long
 * replies) is one organization's relay; one message goes to each. A
 * permanent fault must end BOUNCED after one attempt; a temporary one
 * DEFERRED, retried (short configured backoff) and EXPIRED at the maximum
 * age. Afterwards the outbox holds exactly one final event per recipient.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dtest.h"

enum { DEFERRED = 2, BOUNCED = 4, EXPIRED = 5 };

typedef struct scenario {
    const char *name;
    int expect; /* BOUNCED, or DEFERRED (then EXPIRED) */
    int code;   /* expected last reply code; 0 = none (network/timeout) */
} scenario;

static const scenario SCENARIOS[] = {
    {"greeting_421", DEFERRED, 421},   {"greeting_554", BOUNCED, 554},
    {"mail_450", DEFERRED, 450},       {"mail_451", DEFERRED, 451},
    {"mail_452", DEFERRED, 452},       {"mail_550", BOUNCED, 550},
    {"mail_552", BOUNCED, 552},        {"mail_554", BOUNCED, 554},
    {"rcpt_450", DEFERRED, 450},       {"rcpt_451", DEFERRED, 451},
    {"rcpt_452", DEFERRED, 452},       {"rcpt_550", BOUNCED, 550},
    {"rcpt_552", BOUNCED, 552},        {"rcpt_554", BOUNCED, 554},
    {"data_451", DEFERRED, 451},       {"data_554", BOUNCED, 554},
    {"dot_450", DEFERRED, 450},        {"dot_452", DEFERRED, 452},
    {"dot_550", BOUNCED, 550},         {"dot_552", BOUNCED, 552},
    {"drop_mid_data", DEFERRED, 0},    {"close_at_rcpt", DEFERRED, 0},
    {"starttls_garbage", DEFERRED, 0}, {"stall_greeting", DEFERRED, 0},
    {"stall_mail", DEFERRED, 0},       {"stall_dot", DEFERRED, 0},
    {"malformed_mail", DEFERRED, 0},   {"long_line_rcpt", DEFERRED, 0},
};
#define N_SCEN (sizeof SCENARIOS / sizeof SCENARIOS[0])

static struct {
    char dir[512];
    tu_child server;
    char names[80][32];
    uint16_t ports[80];
    int n;
    dt_sender s;
} g;

static uint16_t port_of(const char *name)
{
    for (int i = 0; i < g.n; i++)
        if (strcmp(g.names[i], name) == 0)
            return g.ports[i];
    return 0;
}

static int setup(void **state)
{
    (void)state;
    tu_tmpdir(g.dir, sizeof g.dir, "xd-dfaults");
    char script[1024], errlog[700], line[256];
    snprintf(script, sizeof script, "%s/tests/integration/sender_smtp/fault_server.py",
             getenv("XD_SOURCE_DIR") ? getenv("XD_SOURCE_DIR") : ".");
    snprintf(errlog, sizeof errlog, "%s/faults.log", g.dir);
    char *argv[] = {"/usr/bin/python3", script, NULL};
    if (tu_spawn(&g.server, argv, errlog) != 0)
        return -1;
    while (tu_read_line(&g.server, line, sizeof line, 15000) == 0) {
        unsigned port;
        if (strcmp(line, "READY") == 0)
            break;
        if (g.n < 80 && sscanf(line, "PORT %31s %u", g.names[g.n], &port) == 2)
            g.ports[g.n++] = (uint16_t)port;
    }
    /* A maximum age long enough for a few retries on a loaded machine. */
    const char *env[] = {"XD_SENDER_DELIVERY_WORKERS=8", "XD_SENDER_DELIVERY_ROUTE=none",
                         "XD_SENDER_RETRY_MAX_AGE=15s", "XD_SENDER_LOG_LEVEL=debug", NULL};
    if (g.n == 0 || dt_sender_start(&g.s, g.dir, env) != 0) {
        tu_sh("cat '%s' '%s/sender.log' >&2", errlog, g.dir);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dt_sender_stop(&g.s, SIGTERM);
    tu_stop(&g.server);
    xd_client_close(g.s.client);
    xd_arena_free(g.s.arena);
    if (!getenv("XD_KEEP"))
        tu_rmrf(g.dir);
    return 0;
}

static const char *state_name(int s)
{
    static const char *n[] = {"?",       "QUEUED",    "DEFERRED",   "DELIVERED",
                              "BOUNCED", "EXPIRED",   "SUPPRESSED", "COMPLAINED",
                              "UNSUB",   "CANCELLED", "SENDING"};
    return s >= 0 && s <= 10 ? n[s] : "?";
}

static void test_fault_matrix(void **state)
{
    (void)state;
    char mids[N_SCEN][64], orgs[N_SCEN][64];
    for (size_t i = 0; i < N_SCEN; i++) {
        uint16_t port = port_of(SCENARIOS[i].name);
        assert_true(port != 0);
        snprintf(orgs[i], sizeof orgs[i], "org-%s", SCENARIOS[i].name);
        /* ORG_RELAY, STARTTLS opportunistic, no AUTH */
        assert_int_equal(dt_set_relay(&g.s, orgs[i], 3, "127.0.0.1", port, 2, NULL, NULL), XD_OK);
        dt_msg m = {.org = orgs[i], .n_to = 1, .domain = "fault.test", .prefix = "bad"};
        Xd__SubmitReply *r;
        assert_int_equal(dt_submit(&g.s, &m, &r), XD_OK);
        snprintf(mids[i], sizeof mids[i], "%s", r->message_id);
    }
    /* First outcome of each: BOUNCED (final) or DEFERRED. */
    int failed = 0;
    for (size_t i = 0; i < N_SCEN; i++) {
        const scenario *sc = &SCENARIOS[i];
        Xd__GetMessageReply *gm = NULL;
        int64_t deadline = tu_now_ms() + 20000;
        int st = 0;
        while (tu_now_ms() < deadline) {
            if (dt_get(&g.s, orgs[i], mids[i], &gm) == XD_OK &&
                (st = gm->recipients[0]->state) != 1 && st != 10)
                break;
            usleep(50000);
        }
        Xd__RecipientStatus *rs = gm ? gm->recipients[0] : NULL;
        int code = rs && rs->last_reply ? (int)rs->last_reply->code : 0;
        int ok = rs && (st == sc->expect || (sc->expect == DEFERRED && st == EXPIRED)) &&
                 rs->attempts >= 1 && code == sc->code && rs->failure != 0;
        printf("FAULT %-18s -> %-9s attempts=%u code=%d failure=%d %s%s\n", sc->name,
               state_name(st), rs ? rs->attempts : 0, code, rs ? (int)rs->failure : -1,
               ok ? "ok" : "UNEXPECTED, want ", ok ? "" : state_name(sc->expect));
        failed += !ok;
    }
    assert_int_equal(failed, 0);
    /* Temporary faults are retried with backoff and expire at max age. */
    for (size_t i = 0; i < N_SCEN; i++) {
        if (SCENARIOS[i].expect != DEFERRED)
            continue;
        Xd__GetMessageReply *gm = dt_wait(&g.s, orgs[i], mids[i], 0, 60000);
        assert_non_null(gm);
        Xd__RecipientStatus *rs = gm->recipients[0];
        printf("FAULT %-18s -> final %s after %u attempts\n", SCENARIOS[i].name,
               state_name(rs->state), rs->attempts);
        assert_int_equal(rs->state, EXPIRED);
        assert_true(rs->attempts >= 2);
        assert_int_equal(rs->failure, 15);
    }
    /* Exactly one final event per recipient in the outbox. */
    int st = dt_sender_stop(&g.s, SIGTERM);
    assert_true(WIFEXITED(st));
    assert_int_equal(tu_sh("test \"$(sqlite3 '%s/sender.db' \"SELECT count(*) FROM (SELECT "
                           "recipient_id FROM outbox WHERE state IN (3,4,5,6,9) GROUP BY "
                           "recipient_id HAVING count(*) = 1)\")\" = %zu",
                           g.dir, N_SCEN),
                     0);
    assert_int_equal(tu_sh("test \"$(sqlite3 '%s/sender.db' \"SELECT count(*) FROM outbox "
                           "WHERE state IN (3,4,5,6,9)\")\" = %zu",
                           g.dir, N_SCEN),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fault_matrix)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
