/*
 * test_faults.c: the suite keeps its promises while things break. A steady
 * SendEmail load (4 module threads, 10 recipients per send, each send
 * retried with its idempotency key as a careful module would) runs through
 * the gateway for the whole test while, in turn:
 *   - each service (sender, ratelimit, verify, ticket, gateway) is kill -9'd
 *     and restarted;
 *   - ratelimit is down for a while (sends refused, deliveries postponed);
 *   - verify is down (sends refused, delivery events wait in the sender's
 *     outbox, a ticket waits with pending findings), then they drain;
 *   - the recipients' MX (smtp-sink) refuses connections, answers 4xx,
 *     stalls after the final dot, and hangs up after the final dot;
 *   - the sender's disk is full (its data dir is a small tmpfs, filled up,
 *     in a private mount namespace): it answers errors, stays up, recovers.
 * Then: every accepted recipient reaches a final state (GetEmailStatus),
 * none is lost, none is missing at the sink, and every duplicate copy at the
 * sink lies in a window where the MX had the data but the sender could not
 * commit the result (sender killed, reply stalled or dropped after the dot,
 * disk full). The counts are printed as a FAULTS line.
 */
#define _GNU_SOURCE /* unshare(2) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "xt_load.h"
#include "xt_peers.h"
#include "xt_suite.h"
#include "xt_util.h"

#define MIN_RECIPIENTS 5000
#define MAX_WINDOWS    16

static struct {
    xt_suite s;
    char peers[256];
    xt_dns dns;
    xt_sink sink;
    char org[64];
    char *module, *support;
    xt_load *load;
    int64_t windows[MAX_WINDOWS][2]; /* wall-clock seconds where duplicates may arise */
    int n_windows;
    int private_mounts; /* 1 when the disk-full phase can mount a tmpfs */
    int tmpfs_mounted;
    char ticket_id[64];
} g;

static char env_dns[96], env_port[96];
static const char *sender_env[] = {
    "XD_SENDER_DELIVERY_ROUTE=direct_mx",
    "XD_SENDER_DELIVERY_ALLOW_CAPTURE=false",
    "XD_SENDER_RETRY_INITIAL=1s",
    "XD_SENDER_RETRY_MAX=2s",
    "XD_SENDER_RETRY_MAX_AGE=30m",
    "XD_SENDER_RETRY_JITTER_PERMILLE=0",
    "XD_SENDER_DELIVERY_IDLE_POLL=100ms",
    "XD_SENDER_DELIVERY_UNREACHABLE_RETRY=1s",
    "XD_SENDER_SMTP_TIMEOUT_CONNECT=2s",
    "XD_SENDER_SMTP_TIMEOUT_COMMAND=2s",
    "XD_SENDER_SMTP_TIMEOUT_DATA_END=3s",
    "XD_SENDER_LOG_LEVEL=warn",
    env_dns,
    env_port,
    NULL,
};
static const char *ticket_env[] = {"XD_TICKET_RECHECK_INTERVAL=1s",
                                   "XD_TICKET_RECHECK_MAX_INTERVAL=2s", NULL};
static const char *quiet_rl[] = {"XD_RATELIMIT_LOG_LEVEL=warn", NULL};
static const char *quiet_vf[] = {"XD_VERIFY_LOG_LEVEL=warn", NULL};
static const char *quiet_gw[] = {"XD_GATEWAY_LOG_LEVEL=warn", NULL};

static void window_open(void)
{
    if (g.n_windows < MAX_WINDOWS)
        g.windows[g.n_windows][0] = (int64_t)time(NULL);
}

static void window_close(void)
{
    if (g.n_windows < MAX_WINDOWS)
        g.windows[g.n_windows++][1] = (int64_t)time(NULL);
}

static void phase(const char *what)
{
    xt_load_stats st;
    xt_load_get_stats(g.load, &st);
    fprintf(stderr, "[%6.1f s] %-40s accepted=%ld calls=%ld\n", st.elapsed_s, what, st.accepted,
            st.calls);
}

/* Waits (bounded) until the load has accepted `more` recipients beyond now. */
static void load_progresses(long more, int64_t timeout_ms)
{
    long target = xt_load_accepted(g.load) + more;
    for (int64_t end = xt_now_ms() + timeout_ms; xt_now_ms() < end; xt_sleep_ms(100))
        if (xt_load_accepted(g.load) >= target)
            return;
    fail_msg("the load made no progress (%ld of %ld accepted)", xt_load_accepted(g.load), target);
}

static int setup(void **state)
{
    (void)state;
    /* A private mount namespace: the tmpfs of the disk-full phase is ours
     * alone and disappears with the test. Needs root (CAP_SYS_ADMIN). */
    g.private_mounts =
        unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
    if (xt_tmpdir(g.peers, sizeof g.peers, "faults-peers") != 0)
        return -1;
    chmod(g.peers, 0711);
    const char *records[] = {"mx-host=load.test,mx.load.test,10",
                             "host-record=mx.load.test,127.0.0.1", NULL};
    if (xt_dns_start(&g.dns, g.peers, records) != 0)
        return -1;
    char dir[400];
    snprintf(dir, sizeof dir, "%s/mx", g.peers);
    if (xt_sink_start(&g.sink, dir, "127.0.0.1", 0, NULL) != 0)
        return -1;
    snprintf(env_dns, sizeof env_dns, "XD_SENDER_DNS_SERVERS=127.0.0.1:%d", g.dns.port);
    snprintf(env_port, sizeof env_port, "XD_SENDER_DIRECT_PORT=%d", g.sink.port);
    g.s.env[XT_SENDER] = sender_env;
    g.s.env[XT_TICKET] = ticket_env;
    g.s.env[XT_RATELIMIT] = quiet_rl;
    g.s.env[XT_VERIFY] = quiet_vf;
    g.s.env[XT_GATEWAY] = quiet_gw;
    if (xt_suite_prepare(&g.s, "faults") != 0)
        return -1;
    if (g.private_mounts) {
        mkdir(g.s.data[XT_SENDER], 0700);
        g.tmpfs_mounted =
            mount("tmpfs", g.s.data[XT_SENDER], "tmpfs", 0, "size=64m,mode=0700") == 0;
    }
    if (xt_suite_start_all(&g.s) != 0)
        return -1;
    if (xt_create_org(&g.s, "Faults College", g.org, sizeof g.org) != 0)
        return -1;
    if (xt_set_open_policy(&g.s) != 0)
        return -1;
    g.module = xt_create_key(&g.s, g.org, "ROLE_MODULE");
    g.support = xt_create_key(&g.s, g.org, "ROLE_SUPPORT");
    if (!g.module || !g.support)
        return -1;
    xt_load_options o = {.suite = &g.s,
                         .key = g.module,
                         .domain = "load.test",
                         .tag = "f",
                         .threads = 4,
                         .recipients = 10,
                         .pause_ms = 20,
                         .retry_for_ms = 120000,
                         .call_timeout_ms = 10000};
    return xt_load_start(&g.load, &o);
}

static int teardown(void **state)
{
    (void)state;
    xt_load_free(g.load);
    int unclean = 0;
    if (g.tmpfs_mounted) { /* the sender first: its data dir is unmounted before removal */
        unclean += xt_suite_stop_one(&g.s, XT_SENDER) != 0;
        umount2(g.s.data[XT_SENDER], MNT_DETACH);
    }
    unclean += xt_suite_stop(&g.s);
    xt_sink_stop(&g.sink);
    xt_dns_stop(&g.dns);
    if (!getenv("XD_KEEP"))
        xt_rmrf(g.peers);
    free(g.module);
    free(g.support);
    return unclean;
}

static void assert_all_alive(void)
{
    for (int i = 0; i < XT_N_SERVICES; i++)
        if (!xt_proc_alive(&g.s.proc[i])) {
            xt_proc_dump_log(&g.s.proc[i], 30);
            fail_msg("%s is not running", xt_service_names[i]);
        }
}

/* ---- kill -9 each service in turn under load, restart it ---- */

static void test_kill9_each_service(void **state)
{
    (void)state;
    load_progresses(200, 60000);
    const int order[] = {XT_SENDER, XT_RATELIMIT, XT_VERIFY, XT_TICKET, XT_GATEWAY};
    for (int k = 0; k < 5; k++) {
        int svc = order[k];
        char what[64];
        snprintf(what, sizeof what, "kill -9 %s", xt_service_names[svc]);
        phase(what);
        if (svc == XT_SENDER)
            window_open(); /* copies in flight may be delivered but not committed */
        xt_suite_kill9(&g.s, svc);
        xt_sleep_ms(500);
        assert_int_equal(xt_suite_start_one(&g.s, svc), 0);
        if (svc == XT_SENDER)
            window_close();
        load_progresses(100, 60000); /* the suite serves again */
    }
    assert_all_alive();
}

/* ---- ratelimit down: sends refused (retried), deliveries postponed ---- */

static void test_ratelimit_down(void **state)
{
    (void)state;
    phase("ratelimit down");
    xt_load_stats before, after;
    xt_load_get_stats(g.load, &before);
    assert_int_equal(xt_suite_stop_one(&g.s, XT_RATELIMIT), 0);
    xt_sleep_ms(3000);
    xt_load_get_stats(g.load, &after);
    assert_true(after.errors[XD_UNAVAILABLE] > before.errors[XD_UNAVAILABLE]);
    assert_int_equal(xt_suite_start_one(&g.s, XT_RATELIMIT), 0);
    load_progresses(100, 60000);
}

/* ---- verify down: events wait in the outbox, a ticket waits ---- */

static void test_verify_down_events_and_tickets_wait(void **state)
{
    (void)state;
    phase("verify down");
    assert_int_equal(xt_suite_stop_one(&g.s, XT_VERIFY), 0);
    time_t now = time(NULL);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    xt_http_reply r = xt_api(
        &g.s, g.support, "CreateSupportTicket",
        "{\"occurredAt\":\"%s\",\"recipient\":\"f-0-0-0@load.test\",\"module\":\"bulk-email\","
        "\"otherDomainTried\":\"TICKET_OTHER_DOMAIN_TRIED_UNKNOWN\","
        "\"issueType\":\"TICKET_ISSUE_TYPE_NOT_RECEIVED\",\"description\":\"not received\","
        "\"reporter\":\"faults\",\"idempotencyKey\":\"faults-ticket-1\"}",
        when);
    if (r.status != 200)
        fail_msg("CreateSupportTicket with verify down: %d %s", r.status, r.body);
    json_t *t = json_object_get(r.json, "ticket");
    snprintf(g.ticket_id, sizeof g.ticket_id, "%s", xt_str(t, "ticketId"));
    assert_string_equal(xt_str(json_object_get(t, "findings"), "state"),
                        "TICKET_FINDINGS_STATE_PENDING");
    xt_http_free(&r);
    xt_sleep_ms(3000);
    assert_int_equal(xt_suite_start_one(&g.s, XT_VERIFY), 0);
    /* The ticket's findings arrive by the re-check. */
    const char *state_now = "";
    for (int64_t end = xt_now_ms() + 60000; xt_now_ms() < end; xt_sleep_ms(500)) {
        r = xt_api(&g.s, g.support, "GetSupportTicket", "{\"ticketId\":\"%s\"}", g.ticket_id);
        state_now = xt_str(json_object_get(json_object_get(r.json, "ticket"), "findings"), "state");
        int done = strcmp(state_now, "TICKET_FINDINGS_STATE_COMPLETE") == 0;
        xt_http_free(&r);
        if (done)
            break;
    }
    r = xt_api(&g.s, g.support, "GetSupportTicket", "{\"ticketId\":\"%s\"}", g.ticket_id);
    assert_string_equal(
        xt_str(json_object_get(json_object_get(r.json, "ticket"), "findings"), "state"),
        "TICKET_FINDINGS_STATE_COMPLETE");
    xt_http_free(&r);
    load_progresses(100, 60000);
}

/* ---- the recipients' MX misbehaves ---- */

static void restart_sink(const char *const *extra)
{
    xt_sink_stop(&g.sink);
    assert_int_equal(xt_sink_start(&g.sink, g.sink.dir, "127.0.0.1", g.sink.port, extra), 0);
}

static void test_smtp_peer_faults(void **state)
{
    (void)state;
    phase("MX refuses connections");
    /* Each stop of the MX can cut a transaction after the sink stored the
     * message and before the sender read its 250: a copy the sender sends
     * again. So the whole phase is a window where duplicates may arise. */
    window_open();
    xt_sink_stop(&g.sink);
    xt_sleep_ms(3000);
    phase("MX answers 4xx to RCPT");
    const char *soft[] = {"-r", "rcpt", NULL};
    assert_int_equal(xt_sink_start(&g.sink, g.sink.dir, "127.0.0.1", g.sink.port, soft), 0);
    xt_sleep_ms(3000);
    phase("MX stalls after the final dot");
    const char *stall[] = {"-W", ".:20", NULL};
    restart_sink(stall);
    xt_sleep_ms(5000);
    phase("MX hangs up after the final dot");
    const char *drop[] = {"-q", ".", NULL};
    restart_sink(drop);
    xt_sleep_ms(3000);
    restart_sink(NULL);
    window_close();
    phase("MX healthy again");
    assert_all_alive();
    load_progresses(100, 60000);
}

/* ---- the sender's disk is full ---- */

static void test_sender_disk_full(void **state)
{
    (void)state;
    if (!g.tmpfs_mounted) {
        fprintf(stderr, "no private tmpfs (needs root): the disk-full phase is skipped\n");
        skip();
    }
    phase("sender disk full");
    xt_load_stats before, after;
    xt_load_get_stats(g.load, &before);
    window_open();
    char filler[400];
    snprintf(filler, sizeof filler, "%s/filler", g.s.data[XT_SENDER]);
    /* dd stops at ENOSPC: the file system is full afterwards. */
    xt_sh("dd if=/dev/zero of='%s' bs=64k 2>/dev/null", filler);
    xt_sleep_ms(4000);
    xt_load_get_stats(g.load, &after);
    long failed = 0;
    for (int i = 1; i < XT_CODES; i++)
        failed += after.errors[i] - before.errors[i];
    fprintf(stderr, "  while full: %ld failed SendEmail attempts, %ld recipients accepted\n",
            failed, after.accepted - before.accepted);
    /* Up and answering while full. */
    assert_true(xt_proc_alive(&g.s.proc[XT_SENDER]));
    assert_true(xt_suite_healthy(&g.s, XT_SENDER, 2000));
    assert_true(failed > 0); /* it said so: nothing was accepted without a commit */
    unlink(filler);
    window_close();
    phase("sender disk has room again");
    load_progresses(100, 60000);
    assert_all_alive();
}

/* ---- nothing accepted was lost ---- */

static void test_nothing_lost(void **state)
{
    (void)state;
    /* Enough volume first, then the load stops and the queue drains. */
    for (int64_t end = xt_now_ms() + 120000;
         xt_load_accepted(g.load) < MIN_RECIPIENTS && xt_now_ms() < end;)
        xt_sleep_ms(200);
    xt_load_stop(g.load);
    xt_load_stats st;
    xt_load_get_stats(g.load, &st);
    fprintf(stderr,
            "load: %ld calls, %ld sends ok, %ld given up, %ld recipients accepted in "
            "%.1f s; failed attempts:",
            st.calls, st.sends_ok, st.sends_failed, st.accepted, st.elapsed_s);
    for (int i = 1; i < XT_CODES; i++)
        if (st.errors[i])
            fprintf(stderr, " %s=%ld", xd_code_name(i), st.errors[i]);
    fprintf(stderr, "\n");
    assert_true(st.accepted >= MIN_RECIPIENTS);
    assert_int_equal(st.sends_failed, 0); /* every send got its reply, retried by key */
    xt_load_final f;
    int64_t t0 = xt_now_ms();
    int rc = xt_load_wait_final(g.load, g.support, 240000, &f);
    double drain_s = (double)(xt_now_ms() - t0) / 1000.0;
    xt_sink_tally k;
    const char *dirs[] = {g.sink.dir, NULL};
    xt_load_tally(g.load, dirs, (const int64_t(*)[2])g.windows, g.n_windows, 3, &k);
    printf("FAULTS accepted=%ld delivered=%ld other_final=%ld lost=%ld drain_s=%.1f "
           "sink_messages=%ld missing_at_sink=%ld duplicates=%ld dup_recipients=%ld "
           "unexplained_duplicates=%ld unknown_at_sink=%ld windows=%d\n",
           f.accepted, f.delivered, f.other_final, f.lost, drain_s, k.files, k.missing,
           k.duplicates, k.dup_recipients, k.unexplained, k.unknown, g.n_windows);
    fflush(stdout);
    if (f.lost > 0) {
        /* Evidence for the report: do they finish once the sender restarts
         * (start-up puts SENDING rows back in the queue)? */
        xt_load_final again;
        const char *m = f.first_lost_message;
        fprintf(stderr, "sender rows of %s (recipient, state, attempts, code):\n", m);
        xt_sh("sqlite3 -readonly '%s/sender.db' \"select recipient_id, state, attempts, "
              "last_code from recipients where message_id = '%s'; select 'outbox', count(*) "
              "from outbox where message_id = '%s'; select 'message', count(*) from messages "
              "where message_id = '%s'\" >&2",
              g.s.data[XT_SENDER], m, m, m);
        fprintf(stderr, "verify rows of %s (recipient, state, events):\n", m);
        xt_sh("sqlite3 -readonly '%s/verify.db' \"select recipient, state, events from "
              "recipients where message_id = '%s'\" >&2",
              g.s.data[XT_VERIFY], m);
        assert_int_equal(xt_suite_stop_one(&g.s, XT_SENDER), 0);
        assert_int_equal(xt_suite_start_one(&g.s, XT_SENDER), 0);
        xt_load_wait_final(g.load, g.support, 60000, &again);
        printf("FAULTS after a sender restart: lost=%ld delivered=%ld\n", again.lost,
               again.delivered);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(f.lost, 0);
    assert_int_equal(f.delivered, f.accepted); /* nothing expires within 30 min */
    assert_int_equal(k.missing, 0);
    assert_int_equal(k.accepted_seen, f.accepted);
    assert_int_equal(k.unexplained, 0);
    assert_int_equal(k.unknown, 0);
    assert_all_alive();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_each_service),
        cmocka_unit_test(test_ratelimit_down),
        cmocka_unit_test(test_verify_down_events_and_tickets_wait),
        cmocka_unit_test(test_smtp_peer_faults),
        cmocka_unit_test(test_sender_disk_full),
        cmocka_unit_test(test_nothing_lost),
    };
    return cmocka_run_group_tests_name("faults", tests, setup, teardown);
}
