/* test_gateway_e2e.c: the real xd-gateway process, driven as a module and an
 * operator would: curl against its HTTP/JSON face, xdctl and an NNG client
 * against its RPC socket. One stand-in service (an xd RPC server answering
 * Health as "verify") is up; ratelimit, sender and ticket are down. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "gateway.pb-c.h"
#include "xd/clock.h"
#include "xd/rpc_client.h"
#include "xd/rpc_server.h"
#include "gw_harness.h"

static char rpc_url[400], operator_key[200];
static const char *bin_dir;
static pid_t gateway_pid;
static xd_server *fake_verify;
static xd_client *client;

/* ---- helpers ---- */

static char *xdctl(const char *args, int *rc)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "XDCTL_GATEWAY='%s' '%s/services/xdctl/xdctl' %s 2>&1", rpc_url,
             bin_dir, args);
    char *out = NULL;
    *rc = gwh_run(cmd, &out);
    return out;
}

/* ---- setup: bootstrap, stand-in verify, the gateway process ---- */

static int setup(void **state)
{
    (void)state;
    bin_dir = getenv("XD_BINARY_DIR");
    assert_non_null(bin_dir);
    snprintf(gwh_dir, sizeof(gwh_dir), "/tmp/xd-gw-e2e-XXXXXX");
    assert_non_null(mkdtemp(gwh_dir));
    snprintf(rpc_url, sizeof(rpc_url), "ipc://%s/gateway.sock", gwh_dir);
    int port = gwh_free_port();
    snprintf(gwh_http_base, sizeof(gwh_http_base), "http://127.0.0.1:%d", port);

    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof(cmd), "'%s/services/xdctl/xdctl' bootstrap --data-dir %s/data", bin_dir,
             gwh_dir);
    assert_int_equal(gwh_run(cmd, &out), 0);
    char *k = strstr(out, "xdk_");
    assert_non_null(k);
    snprintf(operator_key, sizeof(operator_key), "%.*s", (int)strcspn(k, "\n"), k);
    free(out);

    char verify_url[400];
    snprintf(verify_url, sizeof(verify_url), "ipc://%s/verify.sock", gwh_dir);
    xd_server_options so = {.url = verify_url, .service_name = "verify", .workers = 2};
    xd_err err;
    assert_int_equal(xd_server_start(&so, &xd__gateway__descriptor, NULL, 0, &fake_verify, &err),
                     XD_OK);

    gateway_pid = fork();
    if (gateway_pid == 0) {
        char v[8][512];
        snprintf(v[0], 512, "%s/data", gwh_dir);
        setenv("XD_GATEWAY_DATA_DIR", v[0], 1);
        setenv("XD_GATEWAY_LISTEN", rpc_url, 1);
        setenv("XD_GATEWAY_HTTP_LISTEN", gwh_http_base, 1);
        setenv("XD_GATEWAY_HTTP_MAX_BODY", "64k", 1);
        setenv("XD_GATEWAY_VERIFY_URL", verify_url, 1);
        const char *names[] = {"RATELIMIT", "SENDER", "TICKET"};
        const char *files[] = {"ratelimit", "sender", "ticket"};
        for (int i = 0; i < 3; i++) {
            char env[64];
            snprintf(env, sizeof(env), "XD_GATEWAY_%s_URL", names[i]);
            snprintf(v[1 + i], 512, "ipc://%s/%s.sock", gwh_dir, files[i]);
            setenv(env, v[1 + i], 1);
        }
        char exe[600];
        snprintf(exe, sizeof(exe), "%s/services/gateway/xd-gateway", bin_dir);
        execl(exe, exe, (char *)NULL);
        _exit(127);
    }
    xd_client_options co = {.connect_wait_ms = 500};
    assert_int_equal(xd_client_open(rpc_url, "gateway", &co, &client, &err), XD_OK);
    /* Up when its Health answers (at most ~10 s under sanitizers). */
    for (int i = 0; i < 100; i++) {
        xd_arena *a = xd_arena_new();
        Xd__HealthRequest hr = XD__HEALTH_REQUEST__INIT;
        ProtobufCMessage *rep = NULL;
        xd_code rc = xd_client_call(client, NULL, "Health", &hr.base, &xd__health_reply__descriptor,
                                    a, &rep, &err);
        xd_arena_free(a);
        if (rc == XD_OK)
            return 0;
        usleep(100000);
    }
    fail_msg("xd-gateway did not come up");
    return 1;
}

static int teardown(void **state)
{
    (void)state;
    xd_client_close(client);
    int st = 0;
    if (gateway_pid > 0) {
        kill(gateway_pid, SIGTERM);
        waitpid(gateway_pid, &st, 0);
    }
    xd_server_stop(fake_verify);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", gwh_dir);
    if (system(cmd) != 0)
        return 1;
    /* SIGTERM is a clean stop: exit 0. */
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

/* Creates an organization and a key of role in it over HTTP; returns the key. */
static char *org_with_key(const char *name, const char *role, char *org_id_out)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
    gwh_reply r = gwh_http("/v1/CreateOrganization", operator_key, body, NULL);
    assert_int_equal(r.status, 200);
    strcpy(org_id_out, gwh_str(r.json, "orgId"));
    gwh_free(&r);
    snprintf(body, sizeof(body), "{\"orgId\":\"%s\",\"role\":\"%s\",\"label\":\"e2e\"}", org_id_out,
             role);
    r = gwh_http("/v1/CreateApiKey", operator_key, body, NULL);
    assert_int_equal(r.status, 200);
    char *key = strdup(gwh_str(r.json, "secretKey"));
    assert_int_equal(strncmp(key, "xdk_", 4), 0);
    gwh_free(&r);
    return key;
}

/* ---- tests ---- */

static void test_http_auth(void **state)
{
    (void)state;
    gwh_expect_error(gwh_http("/v1/WhoAmI", NULL, "{}", NULL), 401, "UNAUTHENTICATED", "API key");
    gwh_expect_error(gwh_http("/v1/WhoAmI", "xdk_0000000000000000_00", "{}", NULL), 401,
                     "UNAUTHENTICATED", NULL);
    char wrong[200];
    strcpy(wrong, operator_key);
    wrong[strlen(wrong) - 1] = wrong[strlen(wrong) - 1] == '0' ? '1' : '0';
    gwh_expect_error(gwh_http("/v1/WhoAmI", wrong, "{}", NULL), 401, "UNAUTHENTICATED",
                     "not valid");

    char org[64];
    char *module = org_with_key("E2E Auth", "ROLE_MODULE", org);
    gwh_reply r = gwh_http("/v1/WhoAmI", module, "{}", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(gwh_str(r.json, "orgId"), org);
    assert_string_equal(gwh_str(r.json, "role"), "ROLE_MODULE");
    char key_id[32];
    strcpy(key_id, gwh_str(r.json, "keyId"));
    gwh_free(&r);
    gwh_expect_error(gwh_http("/v1/ListOrganizations", module, "{}", NULL), 403,
                     "PERMISSION_DENIED", "operator");
    char body[128];
    snprintf(body, sizeof(body), "{\"keyId\":\"%s\"}", key_id);
    r = gwh_http("/v1/RevokeApiKey", operator_key, body, NULL);
    assert_int_equal(r.status, 200);
    gwh_free(&r);
    gwh_expect_error(gwh_http("/v1/WhoAmI", module, "{}", NULL), 401, "UNAUTHENTICATED", "revoked");
    free(module);
}

static void test_http_bad_input(void **state)
{
    (void)state;
    gwh_expect_error(gwh_http("/v1/CreateOrganization", operator_key, "{\"name\":", NULL), 400,
                     "INVALID_ARGUMENT", "not valid JSON");
    gwh_expect_error(gwh_http("/v1/CreateOrganization", operator_key, "{\"name\":42}", NULL), 400,
                     "INVALID_ARGUMENT", "expected a string");
    gwh_reply r = gwh_http("/v1/CreateOrganization", operator_key, "{\"nmae\":\"x\"}", NULL);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(gwh_str(r.json, "message"), "nmae"));
    json_t *d0 = json_array_get(json_object_get(r.json, "details"), 0);
    assert_string_equal(gwh_str(d0, "field"), "nmae");
    gwh_free(&r);
    gwh_expect_error(gwh_http("/v1/CreateOrganization", operator_key, "[]", NULL), 400,
                     "INVALID_ARGUMENT", "JSON object");
    gwh_expect_error(
        gwh_http("/v1/CreateOrganization", operator_key, "{\"name\":\"a\\r\\nBcc: x\"}", NULL), 400,
        "INVALID_ARGUMENT", "control character");
    gwh_expect_error(gwh_http("/v1/NoSuchMethod", operator_key, "{}", NULL), 501, "UNIMPLEMENTED",
                     "NoSuchMethod");
    gwh_expect_error(gwh_http("/v1/WhoAmI", operator_key, "{}", "-H 'Transfer-Encoding: chunked'"),
                     400, "INVALID_ARGUMENT", "chunked");
    /* Oversize: the gateway runs with http_max_body=64k. */
    size_t big = 100 * 1024;
    char *body = malloc(big + 32);
    strcpy(body, "{\"name\":\"");
    memset(body + 9, 'a', big);
    strcpy(body + 9 + big, "\"}");
    r = gwh_http("/v1/CreateOrganization", operator_key, body, NULL);
    free(body);
    assert_int_equal(r.status, 400);
    assert_non_null(r.json);
    assert_non_null(strstr(gwh_str(r.json, "message"), "65536"));
    gwh_free(&r);
    /* Just under the limit, a long name is refused by the method, naming it. */
    body = malloc(2000);
    strcpy(body, "{\"name\":\"");
    memset(body + 9, 'b', 1000);
    strcpy(body + 1009, "\"}");
    r = gwh_http("/v1/CreateOrganization", operator_key, body, NULL);
    free(body);
    assert_int_equal(r.status, 400);
    assert_string_equal(gwh_str(json_array_get(json_object_get(r.json, "details"), 0), "field"),
                        "name");
    gwh_free(&r);
    /* The gateway still serves. */
    r = gwh_http("/v1/WhoAmI", operator_key, "{}", NULL);
    assert_int_equal(r.status, 200);
    gwh_free(&r);
}

static void test_isolation_over_http(void **state)
{
    (void)state;
    char org_a[64], org_b[64];
    char *admin_a = org_with_key("E2E Iso A", "ROLE_ADMIN", org_a);
    char *admin_b = org_with_key("E2E Iso B", "ROLE_ADMIN", org_b);
    char body[256];
    snprintf(body, sizeof(body), "{\"orgId\":\"%s\"}", org_b);
    gwh_expect_error(gwh_http("/v1/ListApiKeys", admin_a, body, NULL), 404, "NOT_FOUND", NULL);
    gwh_expect_error(gwh_http("/v1/GetOrganization", admin_a, body, NULL), 404, "NOT_FOUND", NULL);
    gwh_reply r = gwh_http("/v1/WhoAmI", admin_b, "{}", NULL);
    snprintf(body, sizeof(body), "{\"keyId\":\"%s\"}", gwh_str(r.json, "keyId"));
    gwh_free(&r);
    gwh_expect_error(gwh_http("/v1/RevokeApiKey", admin_a, body, NULL), 404, "NOT_FOUND", NULL);
    r = gwh_http("/v1/WhoAmI", admin_b, "{}", NULL);
    assert_int_equal(r.status, 200); /* B's key untouched */
    gwh_free(&r);
    free(admin_a);
    free(admin_b);
}

static void test_suspension_via_xdctl(void **state)
{
    (void)state;
    char org[64];
    char *module = org_with_key("E2E Suspend", "ROLE_MODULE", org);
    char args[600];
    int rc;
    snprintf(args, sizeof(args), "--key '%s' org suspend %s --reason 'spam trap hits'",
             operator_key, org);
    free(xdctl(args, &rc));
    assert_int_equal(rc, 0);
    gwh_expect_error(gwh_http("/v1/SendEmail", module, "{\"idempotencyKey\":\"k1\"}", NULL), 400,
                     "FAILED_PRECONDITION", "spam trap hits");
    /* The same over NNG, with a forged Caller: org and role come from the key. */
    xd_arena *a = xd_arena_new();
    Xd__Caller caller = XD__CALLER__INIT;
    caller.principal = module;
    caller.org_id = "org_someone_else";
    caller.role = XD__ROLE__ROLE_OPERATOR;
    xd_call_options o = {.caller = &caller};
    Xd__SubmitRequest se = XD__SUBMIT_REQUEST__INIT;
    ProtobufCMessage *rep = NULL;
    xd_err err;
    xd_err_clear(&err);
    assert_int_equal(xd_client_call(client, &o, "SendEmail", &se.base,
                                    &xd__send_email_reply__descriptor, a, &rep, &err),
                     XD_FAILED_PRECONDITION);
    assert_non_null(strstr(err.message, "spam trap hits"));
    Xd__ListOrganizationsRequest lo = XD__LIST_ORGANIZATIONS_REQUEST__INIT;
    assert_int_equal(xd_client_call(client, &o, "ListOrganizations", &lo.base,
                                    &xd__list_organizations_reply__descriptor, a, &rep, &err),
                     XD_PERMISSION_DENIED);
    xd_arena_free(a);
    snprintf(args, sizeof(args), "--key '%s' org enable %s", operator_key, org);
    free(xdctl(args, &rc));
    assert_int_equal(rc, 0);
    /* Enabled: past the status check; ratelimit is down here, so the send
     * stops there, UNAVAILABLE naming it, and nothing is queued. */
    gwh_expect_error(gwh_http("/v1/SendEmail", module, "{\"idempotencyKey\":\"k1\"}", NULL), 400,
                     "INVALID_ARGUMENT", "recipient");
    gwh_expect_error(
        gwh_http("/v1/SendEmail", module,
                 "{\"idempotencyKey\":\"k2\",\"to\":[{\"address\":\"a@example.com\"}]}", NULL),
        503, "UNAVAILABLE", "ratelimit");
    free(module);
}

static void test_xdctl_exit_codes(void **state)
{
    (void)state;
    int rc;
    char args[600];
    snprintf(args, sizeof(args), "--key '%s' org get org_0000000000000000", operator_key);
    char *out = xdctl(args, &rc);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "NOT_FOUND"));
    free(out);
    out = xdctl("org suspend", &rc);
    assert_int_equal(rc, 1);
    free(out);
    out = xdctl("org suspend --help", &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "--reason"));
    free(out);
    out = xdctl("whoami", &rc); /* no key */
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "UNAUTHENTICATED"));
    free(out);
    snprintf(args, sizeof(args), "--key '%s' --csv org list", operator_key);
    out = xdctl(args, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(strncmp(out, "orgId,name,status,", 18), 0);
    assert_non_null(strstr(out, "Xenegrade"));
    free(out);
    /* The banner and test-send commands: usage errors before any call. */
    out = xdctl("banner set --help", &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "--image-file FILE"));
    assert_non_null(strstr(out, "--html-file FILE"));
    free(out);
    out = xdctl("banner remove --help", &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "--module NAME"));
    free(out);
    out = xdctl("send-test --help", &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "MESSAGE_ID --to"));
    free(out);
    out = xdctl("banner set --html-file /nonexistent/banner.html", &rc);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "cannot read /nonexistent/banner.html"));
    free(out);
    out = xdctl("send-test msg_1", &rc); /* --to missing */
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "--to"));
    free(out);
    out = xdctl("banner", &rc); /* a group alone lists its commands */
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "banner list"));
    free(out);
    snprintf(args, sizeof(args), "--key '%s' --json whoami", operator_key);
    out = xdctl(args, &rc);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(gwh_str(j, "role"), "ROLE_OPERATOR");
    json_decref(j);
    free(out);
}

static void test_services_down(void **state)
{
    (void)state;
    int64_t t0 = xd_monotonic_ms();
    gwh_reply r = gwh_http("/healthz", NULL, NULL, NULL);
    int64_t took = xd_monotonic_ms() - t0;
    assert_int_equal(r.status, 503);
    assert_false(json_is_true(json_object_get(r.json, "allUp")));
    json_t *svcs = json_object_get(r.json, "services");
    assert_int_equal(json_array_size(svcs), 5);
    for (size_t i = 0; i < json_array_size(svcs); i++) {
        json_t *s = json_array_get(svcs, i);
        const char *name = gwh_str(s, "name");
        int up = json_is_true(json_object_get(s, "up"));
        if (strcmp(name, "gateway") == 0 || strcmp(name, "verify") == 0) {
            if (!up)
                fail_msg("%s should be up: %s", name, r.body);
        } else {
            assert_false(up);
            assert_non_null(strstr(gwh_str(s, "error"), "UNAVAILABLE"));
            assert_non_null(strstr(gwh_str(s, "error"), name)); /* names the service */
        }
    }
    gwh_free(&r);
    /* Bound, not a benchmark: a hang would take the 30 s HTTP deadline. */
    assert_true(took < 10000);
    int rc;
    char args[400];
    snprintf(args, sizeof(args), "--key '%s' health", operator_key);
    char *out = xdctl(args, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "ratelimit"));
    free(out);
}

static void test_metrics_and_unsubscribe(void **state)
{
    (void)state;
    gwh_reply r = gwh_http("/v1/WhoAmI", NULL, "{}", NULL);
    gwh_free(&r);
    r = gwh_http("/metrics", NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body,
                           "xd_gateway_requests_total{method=\"WhoAmI\",transport=\"http\",code="
                           "\"UNAUTHENTICATED\"}"));
    assert_non_null(strstr(r.body, "xd_gateway_request_duration_seconds_bucket{method=\"WhoAmI\""));
    /* Services as last seen by a health check (test_services_down ran one). */
    assert_non_null(strstr(r.body, "xd_service_up{service=\"ratelimit\"} 0"));
    assert_non_null(strstr(r.body, "xd_service_up{service=\"verify\"} 1"));
    const char *type = strstr(r.body, "# TYPE xd_service_up gauge");
    assert_non_null(type);
    assert_null(strstr(type + 1, "# TYPE xd_service_up gauge")); /* one TYPE per family */
    /* No sender here: said as xd_up 0, and no queue figures passed off as
     * current; the whole text is valid for Prometheus's own parser. */
    char *samples = gwh_prom_check(r.body);
    assert_non_null(strstr(samples, "xd_up{service=\"sender\"} 0"));
    assert_null(strstr(samples, "xd_queue_depth"));
    assert_non_null(
        strstr(samples, "xd_gateway_request_duration_seconds_count{method=\"WhoAmI\"}"));
    free(samples);
    gwh_free(&r);
    /* Without optout_secret: a clear 503, never a fake success. */
    r = gwh_http("/u/eyJvcmciOiJ4In0.c2ln", NULL, NULL, NULL);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "Nothing was changed"));
    gwh_free(&r);
    r = gwh_http("/unsubscribe?t=eyJvcmciOiJ4In0.c2ln", NULL, "List-Unsubscribe=One-Click", NULL);
    assert_int_equal(r.status, 503);
    gwh_free(&r);
    r = gwh_http("/u/%3Cscript%3E", NULL, NULL, NULL);
    assert_int_equal(r.status, 400);
    assert_null(strstr(r.body, "<script>"));
    gwh_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_auth),
        cmocka_unit_test(test_http_bad_input),
        cmocka_unit_test(test_isolation_over_http),
        cmocka_unit_test(test_suspension_via_xdctl),
        cmocka_unit_test(test_xdctl_exit_codes),
        cmocka_unit_test(test_services_down),
        cmocka_unit_test(test_metrics_and_unsubscribe),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
