/* test_gateway_autosuspend.c: automatic suspension against a real xd-verify.
 * Bounces are fed to verify through its RecordEvents RPC (as the sender's
 * outbox pump does) until one organization's health is CRITICAL; then:
 *  1. with the default configuration (auto_suspend off, sweeping fast) the
 *     gateway never suspends it;
 *  2. with auto_suspend on it is suspended by the sweep, with a reason that
 *     quotes verify's figures, which SendEmail's FAILED_PRECONDITION then
 *     shows; the log names the organization, the figures and the reason; a
 *     healthy organization stays enabled;
 *  3. an operator enables it again: the sweeps that follow within the grace
 *     period leave it enabled (and log why); after the grace it is
 *     suspended again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gw_harness.h"
#include "verify.pb-c.h"
#include "xd/clock.h"
#include "xd/rpc_client.h"

#define GRACE_MS 4000

static const char *bin_dir;
static pid_t verify_pid, gateway_pid;
static char operator_key[200], log_path[400];
static char org_bad[64], org_good[64];
static char *module_bad;

static pid_t spawn_logged(const char *exe, char *const *env, const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0)
            dup2(fd, 2);
        for (int i = 0; env[i]; i++)
            putenv(env[i]);
        execl(exe, exe, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static pid_t start_verify(void)
{
    static char e[3][600];
    snprintf(e[0], sizeof(e[0]), "XD_VERIFY_LISTEN=ipc://%s/verify.sock", gwh_dir);
    snprintf(e[1], sizeof(e[1]), "XD_VERIFY_DATA_DIR=%s/verify", gwh_dir);
    snprintf(e[2], sizeof(e[2]), "XD_VERIFY_LOG_LEVEL=warn");
    char *env[] = {e[0], e[1], e[2], NULL};
    char exe[600], log[600];
    snprintf(exe, sizeof(exe), "%s/services/verify/xd-verify", bin_dir);
    snprintf(log, sizeof(log), "%s/verify.log", gwh_dir);
    return spawn_logged(exe, env, log);
}

/* The gateway with auto-suspension sweeping every 200 ms; on = 0 leaves
 * auto_suspend at its default. */
static pid_t start_gateway(int on)
{
    static char e[12][600];
    int n = 0;
    snprintf(e[n++], sizeof(e[0]), "XD_GATEWAY_LISTEN=ipc://%s/gateway.sock", gwh_dir);
    snprintf(e[n++], sizeof(e[0]), "XD_GATEWAY_DATA_DIR=%s/data", gwh_dir);
    snprintf(e[n++], sizeof(e[0]), "XD_GATEWAY_HTTP_LISTEN=%s", gwh_http_base);
    snprintf(e[n++], sizeof(e[0]), "XD_GATEWAY_LOG_LEVEL=info");
    snprintf(e[n++], sizeof(e[0]), "XD_GATEWAY_VERIFY_URL=ipc://%s/verify.sock", gwh_dir);
    /* The other services are not running: the sweep needs only verify. */
    snprintf(e[n++], sizeof(e[0]), "XD_GATEWAY_RATELIMIT_URL=ipc://%s/none-rl.sock", gwh_dir);
    snprintf(e[n++], sizeof(e[0]), "XD_GATEWAY_SENDER_URL=ipc://%s/none-snd.sock", gwh_dir);
    snprintf(e[n++], sizeof(e[0]), "XD_GATEWAY_AUTO_SUSPEND_INTERVAL=200ms");
    snprintf(e[n++], sizeof(e[0]), "XD_GATEWAY_AUTO_SUSPEND_MIN_SENT=10");
    snprintf(e[n++], sizeof(e[0]), "XD_GATEWAY_AUTO_SUSPEND_GRACE=%dms", GRACE_MS);
    if (on)
        snprintf(e[n++], sizeof(e[0]), "XD_GATEWAY_AUTO_SUSPEND=true");
    char *env[13];
    for (int i = 0; i < n; i++)
        env[i] = e[i];
    env[n] = NULL;
    char exe[600];
    snprintf(exe, sizeof(exe), "%s/services/gateway/xd-gateway", bin_dir);
    pid_t pid = spawn_logged(exe, env, log_path);
    for (int i = 0; i < 100; i++) { /* until the HTTP face answers */
        gwh_reply r = gwh_http("/v1/WhoAmI", operator_key, "{}", NULL);
        int up = r.status == 200;
        gwh_free(&r);
        if (up)
            return pid;
        usleep(100000);
    }
    fail_msg("the gateway did not start");
    return pid;
}

static void make_org(const char *name, char *org_out)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
    gwh_reply r = gwh_http("/v1/CreateOrganization", operator_key, body, NULL);
    assert_int_equal(r.status, 200);
    strcpy(org_out, gwh_str(r.json, "orgId"));
    gwh_free(&r);
}

/* n recipients queued for org, the first `bounced` of them bounced (5.1.1),
 * the rest delivered: what the sender's pump would record at verify. */
static void feed_events(const char *org, int n, int bounced)
{
    char url[400];
    snprintf(url, sizeof(url), "ipc://%s/verify.sock", gwh_dir);
    xd_client_options co = {.connect_wait_ms = 5000};
    xd_client *c = NULL;
    xd_err err;
    assert_int_equal(xd_client_open(url, "verify", &co, &c, &err), XD_OK);
    xd_arena *a = xd_arena_new();
    Xd__DeliveryEvent **evs = (Xd__DeliveryEvent **)xd_arena_ptrs(a, (size_t)(2 * n));
    int64_t now = xd_clock_now_ms(xd_clock_system());
    Xd__SmtpReply bounce = XD__SMTP_REPLY__INIT, ok = XD__SMTP_REPLY__INIT;
    bounce.code = 550;
    bounce.enhanced_code = "5.1.1";
    bounce.text = "User unknown";
    ok.code = 250;
    ok.enhanced_code = "2.0.0";
    ok.text = "OK";
    for (int i = 0; i < n; i++)
        for (int step = 0; step < 2; step++) {
            Xd__DeliveryEvent *e = xd_arena_message(a, &xd__delivery_event__descriptor);
            e->event_id = xd_arena_printf(a, "%s-ev-%d-%d", org, i, step);
            e->org_id = (char *)org;
            e->message_id = xd_arena_printf(a, "%s-msg-%d", org, i);
            e->recipient = xd_arena_printf(a, "rcpt%d@example.com", i);
            e->event_time_ms = now - 60000 + i * 10 + step;
            e->sequence = (uint64_t)step;
            e->module = "registration";
            e->category = "transactional";
            e->subject = "Welcome";
            e->from = "noreply@acme.example";
            if (step == 0) {
                e->state = XD__RECIPIENT_STATE__RECIPIENT_STATE_QUEUED;
            } else if (i < bounced) {
                e->state = XD__RECIPIENT_STATE__RECIPIENT_STATE_BOUNCED;
                e->reply = &bounce;
                e->failure_category = XD__FAILURE_CATEGORY__FAILURE_CATEGORY_INVALID_RECIPIENT;
            } else {
                e->state = XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED;
                e->reply = &ok;
            }
            evs[2 * i + step] = e;
        }
    Xd__RecordEventsRequest rq = XD__RECORD_EVENTS_REQUEST__INIT;
    rq.events = evs;
    rq.n_events = (size_t)(2 * n);
    Xd__Caller caller = XD__CALLER__INIT;
    caller.role = XD__ROLE__ROLE_SERVICE;
    caller.principal = "test-pump";
    xd_call_options o = {.caller = &caller, .timeout_ms = 10000};
    ProtobufCMessage *rep = NULL;
    xd_code rc = xd_client_call(c, &o, "RecordEvents", &rq.base,
                                &xd__record_events_reply__descriptor, a, &rep, &err);
    if (rc != XD_OK)
        fail_msg("RecordEvents: %s", err.message);
    assert_int_equal(((Xd__RecordEventsReply *)rep)->applied, 2 * n);
    xd_arena_free(a);
    xd_client_close(c);
}

static char *org_field(const char *org, const char *field)
{
    char body[128];
    snprintf(body, sizeof(body), "{\"orgId\":\"%s\"}", org);
    gwh_reply r = gwh_http("/v1/GetOrganization", operator_key, body, NULL);
    assert_int_equal(r.status, 200);
    char *v = strdup(gwh_str(r.json, field));
    gwh_free(&r);
    return v;
}

static int is_suspended(const char *org)
{
    char *s = org_field(org, "status");
    int yes = strcmp(s, "ORG_STATUS_SUSPENDED") == 0;
    free(s);
    return yes;
}

/* Polls up to 15 s for the org to be suspended; returns 1 when it is. */
static int wait_suspended(const char *org)
{
    for (int i = 0; i < 150; i++) {
        if (is_suspended(org))
            return 1;
        usleep(100000);
    }
    return 0;
}

static char *read_log(void)
{
    char *out = NULL;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "cat '%s'", log_path);
    gwh_run(cmd, &out);
    return out;
}

static int setup(void **state)
{
    (void)state;
    bin_dir = getenv("XD_BINARY_DIR");
    assert_non_null(bin_dir);
    gwh_make_dir("gw-autosusp");
    snprintf(gwh_http_base, sizeof(gwh_http_base), "http://127.0.0.1:%d", gwh_free_port());
    snprintf(log_path, sizeof(log_path), "%s/gateway.log", gwh_dir);
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof(cmd), "'%s/services/xdctl/xdctl' bootstrap --data-dir %s/data", bin_dir,
             gwh_dir);
    assert_int_equal(gwh_run(cmd, &out), 0);
    char *k = strstr(out, "xdk_");
    assert_non_null(k);
    snprintf(operator_key, sizeof(operator_key), "%.*s", (int)strcspn(k, "\n"), k);
    free(out);
    verify_pid = start_verify();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int bad = gwh_stop(gateway_pid) != 0;
    bad |= gwh_stop(verify_pid) != 0;
    free(module_bad);
    gwh_remove_dir();
    return bad;
}

static void test_off_by_default(void **state)
{
    (void)state;
    gateway_pid = start_gateway(0);
    make_org("Bouncy College", org_bad);
    make_org("Careful College", org_good);
    char body[256];
    snprintf(body, sizeof(body), "{\"orgId\":\"%s\",\"role\":\"ROLE_MODULE\"}", org_bad);
    gwh_reply r = gwh_http("/v1/CreateApiKey", operator_key, body, NULL);
    assert_int_equal(r.status, 200);
    module_bad = strdup(gwh_str(r.json, "secretKey"));
    gwh_free(&r);
    feed_events(org_bad, 20, 8);  /* 40% bounced */
    feed_events(org_good, 20, 0); /* all delivered */
    /* verify itself says critical (through the gateway's facade). */
    snprintf(body, sizeof(body), "{\"orgId\":\"%s\"}", org_bad);
    r = gwh_http("/v1/GetOrganizationHealth", operator_key, body, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(gwh_str(r.json, "level"), "HEALTH_LEVEL_CRITICAL");
    gwh_free(&r);
    /* Several sweep intervals pass: nothing happens while the switch is off. */
    usleep(1500000);
    assert_false(is_suspended(org_bad));
    char *log = read_log();
    assert_null(strstr(log, "auto-suspension"));
    free(log);
    assert_int_equal(gwh_stop(gateway_pid), 0);
    gateway_pid = 0;
}

static void test_critical_org_is_suspended_with_reason(void **state)
{
    (void)state;
    gateway_pid = start_gateway(1);
    if (!wait_suspended(org_bad))
        fail_msg("org %s was not suspended", org_bad);
    char *by = org_field(org_bad, "statusChangedBy");
    assert_string_equal(by, "auto-suspension");
    free(by);
    char *reason = org_field(org_bad, "statusReason");
    assert_non_null(strstr(reason, "automatic suspension: bounce rate 40.00%"));
    assert_non_null(strstr(reason, "8 of 20 recipients"));
    /* SendEmail quotes it. */
    gwh_reply r = gwh_http("/v1/SendEmail", module_bad,
                           "{\"module\":\"m\",\"to\":[{\"address\":\"x@example.com\"}]}", NULL);
    assert_int_equal(r.status, 400);
    assert_string_equal(gwh_str(r.json, "code"), "FAILED_PRECONDITION");
    assert_non_null(strstr(gwh_str(r.json, "message"), reason));
    gwh_free(&r);
    /* The log: which organization, verify's figures, the reason. */
    char *log = read_log();
    char want[200];
    snprintf(want, sizeof(want), "auto-suspension: organization %s (Bouncy College) suspended",
             org_bad);
    assert_non_null(strstr(log, want));
    assert_non_null(strstr(log, "sent=20 bounced=8"));
    assert_non_null(strstr(log, reason));
    free(log);
    free(reason);
    /* The healthy one is left alone (several sweeps have covered it). */
    assert_false(is_suspended(org_good));
}

static void test_operator_reenable_has_grace(void **state)
{
    (void)state;
    char body[256];
    snprintf(body, sizeof(body), "{\"orgId\":\"%s\",\"status\":\"ORG_STATUS_ENABLED\"}", org_bad);
    int64_t asked_at = xd_monotonic_ms();
    gwh_reply r = gwh_http("/v1/SetOrganizationStatus", operator_key, body, NULL);
    assert_int_equal(r.status, 200);
    gwh_free(&r);
    int64_t enabled_at = xd_monotonic_ms();
    /* A sweep sees it critical and leaves it enabled, saying why. */
    char want[200];
    snprintf(want, sizeof(want), "organization %s is critical but stays enabled", org_bad);
    int seen = 0;
    for (int i = 0; i < 150 && !seen; i++) {
        char *log = read_log();
        seen = strstr(log, want) != NULL;
        free(log);
        if (!seen)
            usleep(100000);
    }
    int64_t seen_after = xd_monotonic_ms() - enabled_at;
    if (seen_after < GRACE_MS)
        assert_false(is_suspended(org_bad)); /* still inside the grace period */
    assert_true(seen);
    /* After the grace, the next sweep suspends it again. */
    assert_true(wait_suspended(org_bad));
    assert_true(xd_monotonic_ms() - asked_at >= GRACE_MS - 50);
    assert_false(is_suspended(org_good));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_by_default),
        cmocka_unit_test(test_critical_org_is_suspended_with_reason),
        cmocka_unit_test(test_operator_reenable_has_grace),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
