/*
 * test_faults.c: the fault matrix end to end. Each scenario of the SMTP
 * client tests' scripted server (fault_server.py) is one organization's
 * relay and gets one message: 421/554 greetings, 421 to EHLO, 450/451/452/
 * 550/552/554 at MAIL, RCPT, DATA and the final dot, a connection dropped
 * at RCPT and mid-DATA, TLS failures (STARTTLS refused, garbage instead of a
 * handshake, plaintext injected after the 220, a real handshake with an
 * untrusted certificate, implicit TLS against a plain server), a stall past
 * each timeout (greeting, EHLO, STARTTLS, handshake, MAIL, RCPT, DATA, body,
 * final dot), and malformed, over-long and endless replies. A permanent
 * fault must end BOUNCED after exactly one attempt and never be retried; a
 * temporary one DEFERRED, retried (short configured backoff) and EXPIRED at
 * the maximum age with at least two attempts. Afterwards the outbox holds
 * exactly one final event per recipient. Prints the matrix ("FAULT ...").
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
enum { REQ = 1, OPP = 2, IMPL = 3 };    /* RelayTls */
enum { F_TLS = 9, F_EXPIRED_CAT = 15 }; /* FailureCategory */

typedef struct scenario {
    const char *name;
    int tls;     /* the relay's TLS policy */
    int expect;  /* BOUNCED, or DEFERRED (then EXPIRED) */
    int code;    /* expected last reply code; 0 = none (network/timeout) */
    int failure; /* expected failure category at the first outcome; 0 = any */
} scenario;

#define CODES(c, cls)                                                                              \
    {"mail_" #c, OPP, cls, c, 0}, {"rcpt_" #c, OPP, cls, c, 0}, {"data_" #c, OPP, cls, c, 0},      \
    {                                                                                              \
        "dot_" #c, OPP, cls, c, 0                                                                  \
    }

static const scenario SCENARIOS[] = {
    {"greeting_421", OPP, DEFERRED, 421, 0},
    {"greeting_554", OPP, BOUNCED, 554, 0},
    {"ehlo_421", OPP, DEFERRED, 421, 0},
    CODES(450, DEFERRED),
    CODES(451, DEFERRED),
    CODES(452, DEFERRED),
    CODES(550, BOUNCED),
    CODES(552, BOUNCED),
    CODES(554, BOUNCED),
    {"drop_mid_data", OPP, DEFERRED, 0, 0},
    {"close_at_rcpt", OPP, DEFERRED, 0, 0},
    {"starttls_454", REQ, DEFERRED, 454, F_TLS},
    {"starttls_garbage", REQ, DEFERRED, 0, F_TLS},
    {"starttls_inject", REQ, DEFERRED, 0, F_TLS},
    {"starttls_untrusted", REQ, DEFERRED, 0, F_TLS},
    {"implicit_to_plain", IMPL, DEFERRED, 0, F_TLS},
    {"stall_greeting", OPP, DEFERRED, 0, 0},
    {"stall_ehlo", OPP, DEFERRED, 0, 0},
    {"stall_starttls", REQ, DEFERRED, 0, F_TLS},
    {"stall_tls_handshake", REQ, DEFERRED, 0, F_TLS},
    {"stall_mail", OPP, DEFERRED, 0, 0},
    {"stall_rcpt", OPP, DEFERRED, 0, 0},
    {"stall_data", OPP, DEFERRED, 0, 0},
    {"stall_body", OPP, DEFERRED, 0, 0},
    {"stall_dot", OPP, DEFERRED, 0, 0},
    {"malformed_greeting", OPP, DEFERRED, 0, 0},
    {"malformed_mail", OPP, DEFERRED, 0, 0},
    {"malformed_multiline", OPP, DEFERRED, 0, 0},
    {"long_line_rcpt", OPP, DEFERRED, 0, 0},
    {"many_lines_rcpt", OPP, DEFERRED, 0, 0},
    {"garbage_bytes_mail", OPP, DEFERRED, 0, 0},
};
#define N_SCEN (sizeof SCENARIOS / sizeof SCENARIOS[0])

static struct {
    char dir[512];
    tu_child server;
    char names[96][32];
    uint16_t ports[96];
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
        if (g.n < 96 && sscanf(line, "PORT %31s %u", g.names[g.n], &port) == 2)
            g.ports[g.n++] = (uint16_t)port;
    }
    /* A maximum age long enough for a few retries of every scenario on a
     * loaded machine (a stall holds a worker for the 2-3 s timeout). */
    const char *env[] = {"XD_SENDER_DELIVERY_WORKERS=16", "XD_SENDER_DELIVERY_ROUTE=none",
                         "XD_SENDER_RETRY_MAX_AGE=25s", "XD_SENDER_LOG_LEVEL=debug", NULL};
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
        /* ORG_RELAY with the scenario's TLS policy, no AUTH */
        assert_int_equal(
            dt_set_relay(&g.s, orgs[i], 3, "127.0.0.1", port, SCENARIOS[i].tls, NULL, NULL), XD_OK);
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
                 rs->attempts >= 1 && code == sc->code && rs->failure != 0 &&
                 (sc->expect == BOUNCED ? rs->attempts == 1 : 1) &&
                 (sc->failure == 0 || st == EXPIRED || (int)rs->failure == sc->failure);
        printf("FAULT %-20s tls=%d -> %-9s attempts=%u code=%d failure=%d %s%s | %.60s\n", sc->name,
               sc->tls, state_name(st), rs ? rs->attempts : 0, code, rs ? (int)rs->failure : -1,
               ok ? "ok" : "UNEXPECTED, want ", ok ? "" : state_name(sc->expect),
               rs && rs->last_reply && rs->last_reply->text ? rs->last_reply->text : "");
        failed += !ok;
    }
    assert_int_equal(failed, 0);
    /* Temporary faults are retried with backoff and expire at max age. */
    for (size_t i = 0; i < N_SCEN; i++) {
        if (SCENARIOS[i].expect != DEFERRED)
            continue;
        Xd__GetMessageReply *gm = dt_wait(&g.s, orgs[i], mids[i], 0, 90000);
        assert_non_null(gm);
        Xd__RecipientStatus *rs = gm->recipients[0];
        printf("FAULT %-20s -> final %s after %u attempts\n", SCENARIOS[i].name,
               state_name(rs->state), rs->attempts);
        assert_int_equal(rs->state, EXPIRED);
        assert_true(rs->attempts >= 2);
        assert_int_equal(rs->failure, F_EXPIRED_CAT);
    }
    /* Permanent faults were never retried meanwhile. */
    for (size_t i = 0; i < N_SCEN; i++) {
        if (SCENARIOS[i].expect != BOUNCED)
            continue;
        Xd__GetMessageReply *gm = NULL;
        assert_int_equal(dt_get(&g.s, orgs[i], mids[i], &gm), XD_OK);
        assert_int_equal(gm->recipients[0]->state, BOUNCED);
        assert_int_equal(gm->recipients[0]->attempts, 1);
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
