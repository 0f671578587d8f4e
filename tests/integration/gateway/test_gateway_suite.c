/* test_gateway_suite.c: the gateway in front of the real services (xd-ratelimit,
 * xd-verify, xd-sender, xd-ticket as processes over ipc://), driven over HTTP
 * as a module, support staff and an operator would: quota, recipient checks,
 * suppressions, one-click unsubscribe, tickets, cross-organization access,
 * and a service going down. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_harness.h"
#include "xd/clock.h"
#include "xd/optout_token.h"

#define OPTOUT_SECRET "integration-test-secret-0123456789abcdef"

static const char *bin_dir;
static pid_t pids[5]; /* ratelimit, verify, sender, ticket, gateway */
static const char *const services[5] = {"ratelimit", "verify", "sender", "ticket", "gateway"};
static char operator_key[200];
static char org_a[64], org_b[64];
static char *support_a, *support_b, *module_a, *admin_a, *admin_b;

static char *env(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *env(const char *fmt, ...)
{
    char *s = malloc(1024);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s, 1024, fmt, ap);
    va_end(ap);
    return s;
}

static int have_ticket; /* xd-ticket is built (its branch is merged) */

static pid_t start_service(int i)
{
    const char *name = services[i];
    char up[16];
    for (size_t k = 0; k <= strlen(name); k++)
        up[k] = (char)(name[k] >= 'a' && name[k] <= 'z' ? name[k] - 32 : name[k]);
    const char *e[16] = {
        env("XD_%s_LISTEN=ipc://%s/%s.sock", up, gwh_dir, name),
        env("XD_%s_DATA_DIR=%s/%s", up, gwh_dir, strcmp(name, "gateway") ? name : "data"),
        env("XD_%s_LOG_LEVEL=warn", up),
        env("XD_SENDER_OPTOUT_SECRET=" OPTOUT_SECRET),
        env("XD_SENDER_DELIVERY_ROUTE=test_capture"),
        env("XD_SENDER_DELIVERY_ALLOW_CAPTURE=true"),
        env("XD_TICKET_VERIFY_URL=ipc://%s/verify.sock", gwh_dir),
        env("XD_GATEWAY_HTTP_LISTEN=%s", gwh_http_base),
        env("XD_GATEWAY_OPTOUT_SECRET=" OPTOUT_SECRET),
        env("XD_GATEWAY_METRICS_CACHE=0"), /* every scrape asks the sender */
        env("XD_GATEWAY_RATELIMIT_URL=ipc://%s/ratelimit.sock", gwh_dir),
        env("XD_GATEWAY_VERIFY_URL=ipc://%s/verify.sock", gwh_dir),
        env("XD_GATEWAY_SENDER_URL=ipc://%s/sender.sock", gwh_dir),
        env("XD_GATEWAY_TICKET_URL=ipc://%s/ticket.sock", gwh_dir),
        NULL,
    };
    char exe[600];
    snprintf(exe, sizeof(exe), "%s/services/%s/xd-%s", bin_dir, name, name);
    pid_t pid = gwh_spawn(exe, e);
    for (int k = 0; e[k]; k++)
        free((char *)e[k]);
    return pid;
}

/* 1 when /healthz shows every started service up. */
static int all_up(void)
{
    gwh_reply r = gwh_http("/healthz", NULL, NULL, NULL);
    json_t *svcs = json_object_get(r.json, "services");
    int ok = r.status != 0 && json_array_size(svcs) == 5;
    for (size_t i = 0; ok && i < json_array_size(svcs); i++) {
        json_t *s = json_array_get(svcs, i);
        if (!json_is_true(json_object_get(s, "up")) &&
            (have_ticket || strcmp(gwh_str(s, "name"), "ticket") != 0))
            ok = 0;
    }
    gwh_free(&r);
    return ok;
}

/* Polls /healthz until every service is up (or fails after ~20 s). */
static void wait_all_up(void)
{
    for (int i = 0; i < 200; i++) {
        if (all_up())
            return;
        usleep(100000);
    }
    fail_msg("the suite did not come up healthy");
}

static char *make_org_key(const char *name, const char *role, char *org_out)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
    gwh_reply r = gwh_http("/v1/CreateOrganization", operator_key, body, NULL);
    if (r.status == 200)
        strcpy(org_out, gwh_str(r.json, "orgId"));
    gwh_free(&r);
    snprintf(body, sizeof(body), "{\"orgId\":\"%s\",\"role\":\"%s\"}", org_out, role);
    r = gwh_http("/v1/CreateApiKey", operator_key, body, NULL);
    assert_int_equal(r.status, 200);
    char *key = strdup(gwh_str(r.json, "secretKey"));
    gwh_free(&r);
    return key;
}

static int setup(void **state)
{
    (void)state;
    bin_dir = getenv("XD_BINARY_DIR");
    assert_non_null(bin_dir);
    gwh_make_dir("gw-suite");
    snprintf(gwh_http_base, sizeof(gwh_http_base), "http://127.0.0.1:%d", gwh_free_port());
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof(cmd), "'%s/services/xdctl/xdctl' bootstrap --data-dir %s/data", bin_dir,
             gwh_dir);
    assert_int_equal(gwh_run(cmd, &out), 0);
    char *k = strstr(out, "xdk_");
    assert_non_null(k);
    snprintf(operator_key, sizeof(operator_key), "%.*s", (int)strcspn(k, "\n"), k);
    free(out);
    char ticket_exe[600];
    snprintf(ticket_exe, sizeof(ticket_exe), "%s/services/ticket/xd-ticket", bin_dir);
    have_ticket = access(ticket_exe, X_OK) == 0;
    for (int i = 0; i < 5; i++)
        if (i != 3 || have_ticket)
            pids[i] = start_service(i);
    wait_all_up();
    support_a = make_org_key("Suite A", "ROLE_SUPPORT", org_a);
    module_a = make_org_key("Suite A", "ROLE_MODULE", org_a);
    support_b = make_org_key("Suite B", "ROLE_SUPPORT", org_b);
    admin_a = make_org_key("Suite A", "ROLE_ADMIN", org_a);
    admin_b = make_org_key("Suite B", "ROLE_ADMIN", org_b);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int bad = 0;
    for (int i = 4; i >= 0; i--)
        if (pids[i] > 0 && gwh_stop(pids[i]) != 0)
            bad = 1; /* every service stops cleanly on SIGTERM */
    free(support_a);
    free(support_b);
    free(module_a);
    free(admin_a);
    free(admin_b);
    gwh_remove_dir();
    return bad;
}

static json_t *outcome(const gwh_reply *r, size_t i)
{
    return json_array_get(json_object_get(r->json, "recipients"), i);
}

static void test_suppressed_and_invalid_recipients_are_reported(void **state)
{
    (void)state;
    gwh_reply r = gwh_http("/v1/AddSuppression", support_a,
                           "{\"address\":\"blocked@example.com\",\"reason\":"
                           "\"SUPPRESSION_REASON_MANUAL\",\"source\":\"api\"}",
                           NULL);
    assert_int_equal(r.status, 200);
    gwh_free(&r);
    r = gwh_http(
        "/v1/SendEmail", module_a,
        "{\"module\":\"registration\",\"category\":\"MAIL_CATEGORY_TRANSACTIONAL\","
        "\"from\":{\"address\":\"noreply@a.example\"},\"subject\":\"Hi\",\"textBody\":\"x\","
        "\"to\":[{\"address\":\"blocked@example.com\"},{\"address\":\"not an address\"}]}",
        NULL);
    if (r.status != 200)
        fail_msg("%d %s", r.status, r.body);
    assert_string_equal(gwh_str(outcome(&r, 0), "outcome"), "OUTCOME_SUPPRESSED");
    assert_true(strlen(gwh_str(outcome(&r, 0), "sinceMs")) > 0);
    assert_non_null(strstr(gwh_str(outcome(&r, 0), "reason"), "MANUAL"));
    assert_string_equal(gwh_str(outcome(&r, 1), "outcome"), "OUTCOME_INVALID");
    assert_true(strlen(gwh_str(outcome(&r, 1), "reason")) > 0);
    assert_string_equal(gwh_str(r.json, "messageId"), ""); /* nothing was queued */
    gwh_free(&r);
}

static void test_cross_organization_is_not_found(void **state)
{
    (void)state;
    /* B does not see A's suppression, and cannot name A. */
    gwh_reply r = gwh_http("/v1/ListSuppressions", support_b, "{}", NULL);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "blocked@example.com"));
    gwh_free(&r);
    char body[256];
    snprintf(body, sizeof(body), "{\"orgId\":\"%s\"}", org_a);
    gwh_expect_error(gwh_http("/v1/ListSuppressions", support_b, body, NULL), 404, "NOT_FOUND",
                     NULL);
    snprintf(body, sizeof(body), "{\"orgId\":\"%s\",\"address\":\"blocked@example.com\"}", org_a);
    gwh_expect_error(gwh_http("/v1/RemoveSuppression", support_b, body, NULL), 404, "NOT_FOUND",
                     NULL);
    r = gwh_http("/v1/ListSuppressions", support_a, "{}", NULL);
    assert_non_null(strstr(r.body, "blocked@example.com")); /* still there */
    gwh_free(&r);
    /* A module may not read suppressions at all. */
    gwh_expect_error(gwh_http("/v1/ListSuppressions", module_a, "{}", NULL), 403,
                     "PERMISSION_DENIED", NULL);
}

static void test_tickets_are_per_organization(void **state)
{
    (void)state;
    if (!have_ticket)
        skip(); /* xd-ticket is not part of this build yet */
    gwh_reply r = gwh_http(
        "/v1/CreateSupportTicket", support_a,
        "{\"occurredAt\":\"2026-11-27T09:15:00Z\",\"recipient\":\"someone@example.com\","
        "\"module\":\"registration\",\"otherDomainTried\":\"TICKET_OTHER_DOMAIN_TRIED_NO\","
        "\"issueType\":\"TICKET_ISSUE_TYPE_NOT_RECEIVED\",\"description\":\"never arrived\","
        "\"reporter\":\"Support A\",\"idempotencyKey\":\"t-1\"}",
        NULL);
    if (r.status != 200)
        fail_msg("%d %s", r.status, r.body);
    char body[128];
    snprintf(body, sizeof(body), "{\"ticketId\":\"%s\"}",
             gwh_str(json_object_get(r.json, "ticket"), "ticketId"));
    gwh_free(&r);
    r = gwh_http("/v1/GetSupportTicket", support_a, body, NULL);
    assert_int_equal(r.status, 200);
    gwh_free(&r);
    gwh_expect_error(gwh_http("/v1/GetSupportTicket", support_b, body, NULL), 404, "NOT_FOUND",
                     NULL);
    gwh_expect_error(gwh_http("/v1/CreateSupportTicket", module_a, "{}", NULL), 403,
                     "PERMISSION_DENIED", NULL);
}

static void test_one_click_unsubscribe(void **state)
{
    (void)state;
    xd_optout_claims c = {.scope = XD_OPTOUT_SCOPE_ORG};
    strcpy(c.org_id, org_a);
    strcpy(c.recipient, "reader@example.com");
    c.expires_at_s = xd_clock_now_ms(xd_clock_system()) / 1000 + 3600;
    char token[XD_OPTOUT_TOKEN_MAX], path[XD_OPTOUT_TOKEN_MAX + 32];
    xd_err err;
    assert_int_equal(
        xd_optout_token_make(OPTOUT_SECRET, strlen(OPTOUT_SECRET), &c, token, sizeof(token), &err),
        XD_OK);
    snprintf(path, sizeof(path), "/unsubscribe?t=%s", token);
    gwh_reply r = gwh_http(path, NULL, NULL, NULL); /* GET: a confirmation page */
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "r***@example.com"));
    assert_non_null(strstr(r.body, "<form method=\"post\""));
    gwh_free(&r);
    r = gwh_http("/v1/ListSuppressions", support_a, "{\"address\":\"reader@example.com\"}", NULL);
    assert_null(strstr(r.body, "reader@example.com")); /* GET changed nothing */
    gwh_free(&r);
    r = gwh_http(path, NULL, "List-Unsubscribe=One-Click", NULL); /* RFC 8058 POST */
    assert_int_equal(r.status, 200);
    gwh_free(&r);
    r = gwh_http("/v1/ListSuppressions", support_a, "{\"address\":\"reader@example.com\"}", NULL);
    assert_non_null(strstr(r.body, "SUPPRESSION_REASON_UNSUBSCRIBED"));
    gwh_free(&r);
    /* Altered or foreign tokens change nothing. */
    token[strlen(token) - 2] = token[strlen(token) - 2] == 'A' ? 'B' : 'A';
    snprintf(path, sizeof(path), "/unsubscribe?t=%s", token);
    r = gwh_http(path, NULL, "List-Unsubscribe=One-Click", NULL);
    assert_true(r.status >= 400 && r.status < 500);
    assert_non_null(strstr(r.body, "not valid"));
    gwh_free(&r);
    /* Over the API, B may not apply A's token. */
    c.expires_at_s += 10;
    assert_int_equal(
        xd_optout_token_make(OPTOUT_SECRET, strlen(OPTOUT_SECRET), &c, token, sizeof(token), &err),
        XD_OK);
    char body[XD_OPTOUT_TOKEN_MAX + 32];
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", token);
    gwh_expect_error(gwh_http("/v1/Unsubscribe", support_b, body, NULL), 404, "NOT_FOUND", NULL);
}

static void test_quota_and_refund(void **state)
{
    (void)state;
    gwh_reply r =
        gwh_http("/v1/SetRateLimitPolicy", operator_key,
                 "{\"policyJson\":\"{\\\"rules\\\":[{\\\"name\\\":\\\"org-hour\\\","
                 "\\\"kind\\\":\\\"window\\\",\\\"scope\\\":[\\\"org\\\"],\\\"limit\\\":3,"
                 "\\\"window_ms\\\":3600000}]}\"}",
                 NULL);
    if (r.status != 200)
        fail_msg("SetRateLimitPolicy: %d %s", r.status, r.body);
    gwh_free(&r);
    gwh_expect_error(gwh_http("/v1/SetRateLimitPolicy", support_a, "{}", NULL), 403,
                     "PERMISSION_DENIED", "operator");
    const char *four = "{\"module\":\"m\",\"to\":[{\"address\":\"a@example.com\"},{\"address\":"
                       "\"b@example.com\"},{\"address\":\"c@example.com\"},{\"address\":"
                       "\"d@example.com\"}]}";
    gwh_expect_error(gwh_http("/v1/SendEmail", module_a, four, NULL), 429, "RESOURCE_EXHAUSTED",
                     "split");
    /* A message the sender cannot accept (no category) comes back with the
     * sender's error, named, and its quota is given back: the rounds below
     * would not fit in the limit of 3 otherwise. */
    gwh_expect_error(gwh_http("/v1/SendEmail", module_a,
                              "{\"module\":\"m\",\"from\":{\"address\":\"noreply@a.example\"},"
                              "\"subject\":\"s\",\"textBody\":\"t\",\"to\":[{\"address\":"
                              "\"ok1@example.com\"},{\"address\":\"ok2@example.com\"}]}",
                              NULL),
                     400, "INVALID_ARGUMENT", "sender: ");
    /* Two recipients that are not queued are given back: the next two fit too. */
    const char *two_suppressed = "{\"module\":\"m\",\"to\":[{\"address\":\"blocked@example.com\"},"
                                 "{\"address\":\"reader@example.com\"}]}";
    for (int i = 0; i < 3; i++) {
        r = gwh_http("/v1/SendEmail", module_a, two_suppressed, NULL);
        if (r.status != 200)
            fail_msg("round %d: %d %s", i, r.status, r.body);
        gwh_free(&r);
    }
    /* Still within the limit of 3: two deliverable recipients are queued. */
    gwh_reply q = gwh_http("/v1/SendEmail", module_a,
                           "{\"module\":\"m\",\"category\":\"MAIL_CATEGORY_TRANSACTIONAL\","
                           "\"from\":{\"address\":\"noreply@a.example\"},\"subject\":\"s\","
                           "\"textBody\":\"t\",\"to\":[{\"address\":\"ok1@example.com\"},"
                           "{\"address\":\"ok2@example.com\"}]}",
                           NULL);
    if (q.status != 200)
        fail_msg("SendEmail: %d %s", q.status, q.body);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(gwh_str(outcome(&q, i), "outcome"), "OUTCOME_QUEUED");
        assert_true(strlen(gwh_str(outcome(&q, i), "recipientId")) > 0);
    }
    gwh_free(&q);
    /* One recipient left. A test copy the sender refuses gives its
     * reservation back: three in a row are each NOT_FOUND, never 429. */
    for (int i = 0; i < 3; i++)
        gwh_expect_error(gwh_http("/v1/SendTestEmail", module_a,
                                  "{\"messageId\":\"msg_doesnotexist\",\"toAddress\":"
                                  "\"me@a.example\"}",
                                  NULL),
                         404, "NOT_FOUND", NULL);
}

/* A test copy counts against the quota like any send (after
 * test_quota_and_refund: org A has one recipient left of 3 per hour). */
static void test_test_copy_counts_quota(void **state)
{
    (void)state;
    gwh_reply r = gwh_http("/v1/SendEmail", module_a,
                           "{\"module\":\"m\",\"category\":\"MAIL_CATEGORY_TRANSACTIONAL\","
                           "\"from\":{\"address\":\"noreply@a.example\"},\"subject\":\"s\","
                           "\"textBody\":\"t\",\"to\":[{\"address\":\"ok3@example.com\"}]}",
                           NULL);
    if (r.status != 200)
        fail_msg("SendEmail: %d %s", r.status, r.body);
    char body[300];
    snprintf(body, sizeof(body), "{\"messageId\":\"%s\",\"toAddress\":\"me@a.example\"}",
             gwh_str(r.json, "messageId"));
    gwh_free(&r);
    gwh_expect_error(gwh_http("/v1/SendTestEmail", module_a, body, NULL), 429, "RESOURCE_EXHAUSTED",
                     "over quota");
}

static void test_service_down_is_named(void **state)
{
    (void)state;
    assert_int_equal(gwh_stop(pids[1]), 0); /* verify */
    pids[1] = 0;
    gwh_expect_error(gwh_http("/v1/SendEmail", module_a,
                              "{\"module\":\"m\",\"to\":[{\"address\":\"x@example.com\"}]}", NULL),
                     503, "UNAVAILABLE", "verify");
    gwh_expect_error(gwh_http("/v1/ListSuppressions", support_a, "{}", NULL), 503, "UNAVAILABLE",
                     "verify");
    gwh_reply r = gwh_http("/healthz", NULL, NULL, NULL);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "verify is unavailable")); /* named, with its URL */
    gwh_free(&r);
    pids[1] = start_service(1); /* back: calls succeed again */
    wait_all_up();
    r = gwh_http("/v1/ListSuppressions", support_a, "{}", NULL);
    assert_int_equal(r.status, 200);
    gwh_free(&r);
}

/* xdctl with a key file, against the same gateway. */
static char *xdctl(const char *key, const char *args, int *rc)
{
    char key_file[400], cmd[4096];
    snprintf(key_file, sizeof(key_file), "%s/cli.key", gwh_dir);
    FILE *f = fopen(key_file, "w");
    fprintf(f, "%s\n", key);
    fclose(f);
    snprintf(cmd, sizeof(cmd),
             "XDCTL_GATEWAY=ipc://%s/gateway.sock XDCTL_KEY_FILE=%s '%s/services/xdctl/xdctl' %s "
             "2>&1",
             gwh_dir, key_file, bin_dir, args);
    char *out = NULL;
    *rc = gwh_run(cmd, &out);
    return out;
}

static void test_xdctl_service_commands(void **state)
{
    (void)state;
    int rc;
    char *out = xdctl(admin_a, "dkim create mail.a.example --algorithm ed25519_sha256", &rc);
    if (rc != 0)
        fail_msg("dkim create: %s", out);
    assert_non_null(strstr(out, "v=DKIM1")); /* the TXT record to publish */
    assert_non_null(strstr(out, "_domainkey.mail.a.example"));
    free(out);
    out = xdctl(admin_a, "--csv dkim list", &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "mail.a.example"));
    free(out);
    out = xdctl(module_a,
                "send --from noreply@a.example --to blocked@example.com --module m "
                "--subject Hi --text Hello --category transactional",
                &rc);
    if (rc != 0)
        fail_msg("send: %s", out);
    assert_non_null(strstr(out, "OUTCOME_SUPPRESSED"));
    free(out);
    out = xdctl(support_a, "suppress list", &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "blocked@example.com"));
    free(out);
    out = xdctl(module_a, "suppress list", &rc);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "PERMISSION_DENIED"));
    free(out);
    out = xdctl(support_a, "case-notes --recipient nobody@example.com --from 2026-11-01", &rc);
    if (rc != 0)
        fail_msg("case-notes: %s", out);
    free(out);
    out = xdctl(support_a, "send --to x@example.com", &rc); /* usage: --from missing */
    assert_int_equal(rc, 1);
    free(out);
    out = xdctl(support_a, "diagnose --help", &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "RECIPIENT"));
    free(out);
}

/* Writes a file in the test dir; returns its path (static buffer per slot). */
static const char *write_file(int slot, const char *name, const void *data, size_t len)
{
    static char paths[4][400];
    snprintf(paths[slot], sizeof(paths[slot]), "%s/%s", gwh_dir, name);
    FILE *f = fopen(paths[slot], "wb");
    assert_non_null(f);
    fwrite(data, 1, len, f);
    fclose(f);
    return paths[slot];
}

/* Every role x {SetBanner, ListBanners, SendTestEmail} over HTTP against the
 * real sender: the denied ones are 403, the allowed ones reach the sender
 * (whatever it answers, never 403/401). */
static void test_new_methods_role_matrix(void **state)
{
    (void)state;
    struct {
        const char *key_name;
        char *key;
        int allowed[3];
    } who[] = {{"module", module_a, {0, 0, 1}},
               {"support", support_a, {0, 0, 1}},
               {"admin", admin_a, {1, 1, 1}},
               {"operator", operator_key, {1, 1, 1}}};
    const char *paths[3] = {"/v1/SetBanner", "/v1/ListBanners", "/v1/SendTestEmail"};
    char bodies[3][256];
    snprintf(bodies[0], sizeof(bodies[0]),
             "{\"banner\":{\"orgId\":\"%s\",\"module\":\"matrix\","
             "\"text\":\"Matrix banner\"}}",
             org_a);
    snprintf(bodies[1], sizeof(bodies[1]), "{\"orgId\":\"%s\"}", org_a);
    snprintf(bodies[2], sizeof(bodies[2]),
             "{\"orgId\":\"%s\",\"messageId\":\"msg_none\",\"toAddress\":\"me@a.example\"}", org_a);
    for (size_t w = 0; w < 4; w++)
        for (int m = 0; m < 3; m++) {
            gwh_reply r = gwh_http(paths[m], who[w].key, bodies[m], NULL);
            if (!who[w].allowed[m] && r.status != 403)
                fail_msg("%s as %s: want 403, got %d %s", paths[m], who[w].key_name, r.status,
                         r.body);
            if (who[w].allowed[m] && (r.status == 403 || r.status == 401 || r.status == 501))
                fail_msg("%s as %s: got %d %s", paths[m], who[w].key_name, r.status, r.body);
            gwh_free(&r);
        }
}

#define BANNER_HTML "<p><img src=\"cid:banner\" alt=\"Suite A\"> Suite A College</p>\n"

static void test_banners(void **state)
{
    (void)state;
    static const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0,    0,    0,
                                  13,   'I', 'H', 'D', 'R',  0,    0,    0,    1,    0,    0,
                                  0,    1,   8,   6,   0,    0,    0,    0x1f, 0x15, 0xc4, 0x89};
    const char *html = write_file(0, "banner.html", BANNER_HTML, strlen(BANNER_HTML));
    const char *text = write_file(1, "banner.txt", "Suite A College\n", 16);
    const char *image = write_file(2, "logo.png", png, sizeof(png));
    char args[1600];
    snprintf(args, sizeof(args),
             "banner set --html-file %s --text-file %s --image-file %s --image-type image/png "
             "--image-alt 'Suite A logo'",
             html, text, image);
    int rc;
    char *out = xdctl(admin_a, args, &rc); /* over NNG */
    if (rc != 0)
        fail_msg("banner set: %s", out);
    free(out);
    /* Over HTTP: the stored banner, its image size, never the bytes. */
    gwh_reply r = gwh_http("/v1/ListBanners", admin_a, "{}", NULL);
    assert_int_equal(r.status, 200);
    json_t *list = json_object_get(r.json, "banners");
    json_t *org_wide = NULL;
    for (size_t i = 0; i < json_array_size(list); i++)
        if (!json_object_get(json_array_get(list, i), "module"))
            org_wide = json_array_get(list, i);
    if (!org_wide)
        fail_msg("no organization-wide banner: %s", r.body);
    assert_string_equal(gwh_str(org_wide, "orgId"), org_a);
    assert_non_null(strstr(gwh_str(org_wide, "html"), "cid:banner"));
    assert_int_equal(json_integer_value(json_object_get(org_wide, "imageSize")), sizeof(png));
    assert_null(json_object_get(org_wide, "image"));
    gwh_free(&r);
    /* A module banner through HTTP with the image in base64 (proto3 bytes). */
    r = gwh_http("/v1/SetBanner", admin_a,
                 "{\"banner\":{\"module\":\"registration\",\"text\":\"Registration office\","
                 "\"image\":\"iVBORw0KGgo=\",\"imageContentType\":\"image/png\","
                 "\"imageAlt\":\"Logo\"}}",
                 NULL);
    if (r.status != 200)
        fail_msg("SetBanner: %d %s", r.status, r.body);
    assert_string_equal(gwh_str(json_object_get(r.json, "banner"), "module"), "registration");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(r.json, "banner"), "imageSize")), 8);
    gwh_free(&r);
    /* B sees none of A's banners and cannot name A; the operator can. */
    r = gwh_http("/v1/ListBanners", admin_b, "{}", NULL);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "Suite A"));
    assert_null(strstr(r.body, org_a));
    gwh_free(&r);
    char body[300];
    snprintf(body, sizeof(body), "{\"orgId\":\"%s\"}", org_a);
    gwh_expect_error(gwh_http("/v1/ListBanners", admin_b, body, NULL), 404, "NOT_FOUND", NULL);
    snprintf(body, sizeof(body), "{\"banner\":{\"orgId\":\"%s\"},\"remove\":true}", org_a);
    gwh_expect_error(gwh_http("/v1/SetBanner", admin_b, body, NULL), 404, "NOT_FOUND", NULL);
    snprintf(body, sizeof(body), "{\"orgId\":\"%s\"}", org_a);
    r = gwh_http("/v1/ListBanners", operator_key, body, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "Registration office"));
    gwh_free(&r);
    /* xdctl lists and removes (NNG). */
    out = xdctl(admin_a, "--csv banner list", &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "registration"));
    free(out);
    out = xdctl(admin_a, "--json banner remove --module registration", &rc);
    if (rc != 0)
        fail_msg("banner remove: %s", out);
    assert_non_null(strstr(out, "\"changed\": true"));
    free(out);
    out = xdctl(admin_a, "--json banner remove --module registration", &rc); /* idempotent */
    assert_int_equal(rc, 0);
    assert_null(strstr(out, "\"changed\": true"));
    free(out);
    out = xdctl(admin_a, "banner list", &rc);
    assert_null(strstr(out, "Registration office"));
    assert_non_null(strstr(out, "Suite A College"));
    free(out);
    out = xdctl(module_a, "banner list", &rc);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "PERMISSION_DENIED"));
    free(out);
}

static void test_send_test_email(void **state)
{
    (void)state;
    /* The original: sent by an operator for organization B (its quota, not
     * A's, which test_quota_and_refund counts on). */
    char body[600];
    snprintf(body, sizeof(body),
             "{\"orgId\":\"%s\",\"module\":\"registration\",\"category\":"
             "\"MAIL_CATEGORY_TRANSACTIONAL\",\"from\":{\"address\":\"noreply@b.example\"},"
             "\"subject\":\"Enrolment\",\"textBody\":\"Welcome\",\"to\":[{\"address\":"
             "\"student@example.com\"}]}",
             org_b);
    gwh_reply r = gwh_http("/v1/SendEmail", operator_key, body, NULL);
    if (r.status != 200)
        fail_msg("SendEmail: %d %s", r.status, r.body);
    char original[128];
    snprintf(original, sizeof(original), "%s", gwh_str(r.json, "messageId"));
    assert_true(original[0]);
    gwh_free(&r);
    snprintf(body, sizeof(body), "{\"messageId\":\"%s\",\"toAddress\":\"support-me@b.example\"}",
             original);
    r = gwh_http("/v1/SendTestEmail", support_b, body, NULL); /* HTTP */
    if (r.status != 200)
        fail_msg("SendTestEmail: %d %s", r.status, r.body);
    json_t *o = json_array_get(json_object_get(r.json, "recipients"), 0);
    assert_string_equal(gwh_str(o, "address"), "support-me@b.example");
    assert_string_equal(gwh_str(o, "outcome"), "OUTCOME_QUEUED");
    assert_true(strlen(gwh_str(o, "recipientId")) > 0);
    assert_string_not_equal(gwh_str(r.json, "messageId"), original); /* a new message */
    gwh_free(&r);
    char args[300];
    int rc;
    snprintf(args, sizeof(args), "send-test %s --to admin-me@b.example", original);
    char *out = xdctl(admin_b, args, &rc); /* NNG */
    if (rc != 0)
        fail_msg("send-test: %s", out);
    assert_non_null(strstr(out, "admin-me@b.example"));
    assert_non_null(strstr(out, "OUTCOME_QUEUED"));
    free(out);
    /* Another organization's message: NOT_FOUND, for a key of A and for A
     * naming B. */
    gwh_expect_error(gwh_http("/v1/SendTestEmail", support_a, body, NULL), 404, "NOT_FOUND", NULL);
    snprintf(body, sizeof(body),
             "{\"orgId\":\"%s\",\"messageId\":\"%s\",\"toAddress\":\"a@a.example\"}", org_b,
             original);
    gwh_expect_error(gwh_http("/v1/SendTestEmail", admin_a, body, NULL), 404, "NOT_FOUND", NULL);
    gwh_expect_error(gwh_http("/v1/SendTestEmail", module_a,
                              "{\"messageId\":\"msg_doesnotexist\",\"toAddress\":\"me@a.example\"}",
                              NULL),
                     404, "NOT_FOUND", NULL);
}

/* /metrics with the real sender: valid text, queue depth and outcomes. */
static void test_metrics_with_queue_figures(void **state)
{
    (void)state;
    gwh_reply r = gwh_http("/metrics", NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    char *samples = gwh_prom_check(r.body);
    assert_non_null(strstr(samples, "xd_up{service=\"sender\"} 1"));
    static const char *const series[] = {
        "xd_queue_depth{state=\"queued\"} ",
        "xd_queue_depth{state=\"deferred\"} ",
        "xd_queue_depth{state=\"sending\"} ",
        "xd_deliveries{outcome=\"delivered\"} ",
        "xd_deliveries{outcome=\"bounced\"} ",
        "xd_deliveries{outcome=\"expired\"} ",
        "xd_sender_outbox_pending{} ",
        "xd_queue_oldest_waiting_seconds{} ",
        "xd_gateway_requests_total{code=\"OK\",method=\"SendEmail\",transport=\"http\"} ",
    };
    for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++)
        if (!strstr(samples, series[i]))
            fail_msg("no %s in\n%s", series[i], samples);
    /* The messages queued above are counted (queued, sending, delivered or
     * deferred: the capture sink is not running, so none is lost). */
    unsigned long long total = 0;
    const char *states[] = {
        "xd_queue_depth{state=\"queued\"} ", "xd_queue_depth{state=\"deferred\"} ",
        "xd_queue_depth{state=\"sending\"} ", "xd_deliveries{outcome=\"delivered\"} "};
    for (int i = 0; i < 4; i++)
        total += strtoull(strstr(samples, states[i]) + strlen(states[i]), NULL, 10);
    assert_true(total >= 3); /* SendEmail + two test copies */
    free(samples);
    gwh_free(&r);
}

/* A sender that hangs (SIGSTOP) does not hang a scrape: xd_up 0, quickly. */
static void test_metrics_with_hung_sender(void **state)
{
    (void)state;
    assert_int_equal(kill(pids[2], SIGSTOP), 0);
    int64_t t0 = xd_monotonic_ms();
    gwh_reply r = gwh_http("/metrics", NULL, NULL, NULL);
    int64_t took = xd_monotonic_ms() - t0;
    kill(pids[2], SIGCONT);
    assert_int_equal(r.status, 200);
    char *samples = gwh_prom_check(r.body);
    assert_non_null(strstr(samples, "xd_up{service=\"sender\"} 0"));
    assert_null(strstr(samples, "xd_queue_depth"));
    assert_non_null(strstr(r.body, "# sender QueueStats not available: DEADLINE_EXCEEDED"));
    /* metrics_timeout is 300 ms; a client default (5 s) would be far over. */
    if (took > 2500)
        fail_msg("a scrape with the sender stopped took %lld ms", (long long)took);
    free(samples);
    gwh_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suppressed_and_invalid_recipients_are_reported),
        cmocka_unit_test(test_cross_organization_is_not_found),
        cmocka_unit_test(test_tickets_are_per_organization),
        cmocka_unit_test(test_one_click_unsubscribe),
        cmocka_unit_test(test_xdctl_service_commands),
        cmocka_unit_test(test_new_methods_role_matrix),
        cmocka_unit_test(test_banners),
        cmocka_unit_test(test_send_test_email),
        cmocka_unit_test(test_metrics_with_queue_figures),
        cmocka_unit_test(test_metrics_with_hung_sender),
        cmocka_unit_test(test_quota_and_refund),
        cmocka_unit_test(test_service_down_is_named),
        cmocka_unit_test(test_test_copy_counts_quota),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
