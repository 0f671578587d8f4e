/* xt_suite.c: start, stop and call the five xdmail services (see xt_suite.h). */
#include "xt_suite.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.pb-c.h"
#include "xt_peers.h"
#include "xt_util.h"

const char *const xt_service_names[XT_N_SERVICES] = {"ratelimit", "verify", "sender", "ticket",
                                                     "gateway"};

#define MAX_ENV 64

static void upper(const char *in, char *out)
{
    size_t i = 0;
    for (; in[i]; i++)
        out[i] = (char)(in[i] >= 'a' && in[i] <= 'z' ? in[i] - 32 : in[i]);
    out[i] = '\0';
}

/* The test's own entries first, then each default whose name it did not set. */
static int add_default(char **env, int n, char *kv)
{
    size_t name_len = strcspn(kv, "=") + 1;
    for (int i = 0; i < n; i++)
        if (strncmp(env[i], kv, name_len) == 0) {
            free(kv);
            return n;
        }
    env[n] = kv;
    return n + 1;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    char *s = malloc(1024);
    va_list ap;
    va_start(ap, f);
    vsnprintf(s, 1024, f, ap);
    va_end(ap);
    return s;
}

static int build_env(xt_suite *s, int svc, char **env)
{
    int n = 0;
    for (int i = 0; s->env[svc] && s->env[svc][i] && n < MAX_ENV / 2; i++)
        env[n++] = strdup(s->env[svc][i]);
    int own = n;
    char up[16];
    upper(xt_service_names[svc], up);
    n = add_default(env, n, fmt("XD_%s_LISTEN=%s", up, s->url[svc]));
    n = add_default(env, n, fmt("XD_%s_DATA_DIR=%s", up, s->data[svc]));
    n = add_default(env, n, fmt("XD_%s_LOG_LEVEL=info", up));
    switch (svc) {
    case XT_SENDER:
        n = add_default(env, n, fmt("XD_SENDER_OPTOUT_SECRET=%s", s->optout_secret));
        n = add_default(env, n, fmt("XD_SENDER_OPTOUT_BASE_URL=%s/unsubscribe", s->http_base));
        n = add_default(env, n, fmt("XD_SENDER_OPTOUT_MAILTO=unsubscribe@xd.test"));
        n = add_default(env, n, fmt("XD_SENDER_RATELIMIT_URL=%s", s->url[XT_RATELIMIT]));
        n = add_default(env, n, fmt("XD_SENDER_VERIFY_URL=%s", s->url[XT_VERIFY]));
        n = add_default(env, n, fmt("XD_SENDER_SMTP_CA_FILE=%s/ca.pem", s->certs));
        break;
    case XT_TICKET:
        n = add_default(env, n, fmt("XD_TICKET_VERIFY_URL=%s", s->url[XT_VERIFY]));
        break;
    case XT_GATEWAY:
        n = add_default(env, n, fmt("XD_GATEWAY_HTTP_LISTEN=%s", s->http_base));
        n = add_default(env, n, fmt("XD_GATEWAY_HTTP_TLS_CERT=%s/server.pem", s->certs));
        n = add_default(env, n, fmt("XD_GATEWAY_HTTP_TLS_KEY=%s/server.key", s->certs));
        n = add_default(env, n, fmt("XD_GATEWAY_OPTOUT_SECRET=%s", s->optout_secret));
        for (int k = 0; k < XT_GATEWAY; k++) {
            char u[16];
            upper(xt_service_names[k], u);
            n = add_default(env, n, fmt("XD_GATEWAY_%s_URL=%s", u, s->url[k]));
        }
        break;
    default:
        break;
    }
    (void)own;
    env[n] = NULL;
    return n;
}

int xt_suite_healthy(xt_suite *s, int svc, int64_t timeout_ms)
{
    xd_err err;
    if (!s->health[svc]) {
        xd_client_options o = {.default_timeout_ms = 2000, .connect_wait_ms = 500};
        if (xd_client_open(s->url[svc], xt_service_names[svc], &o, &s->health[svc], &err) != XD_OK)
            return 0;
    }
    xd_arena *a = xd_arena_new();
    Xd__HealthRequest hr = XD__HEALTH_REQUEST__INIT;
    ProtobufCMessage *rep = NULL;
    xd_call_options co = {.timeout_ms = timeout_ms};
    int ok = xd_client_call(s->health[svc], &co, "Health", &hr.base, &xd__health_reply__descriptor,
                            a, &rep, &err) == XD_OK;
    xd_arena_free(a);
    return ok;
}

int xt_suite_start_one(xt_suite *s, int svc)
{
    char *env[MAX_ENV];
    build_env(s, svc, env);
    char exe[700], log[400];
    snprintf(exe, sizeof exe, "%s/services/%s/xd-%s", s->bin_dir, xt_service_names[svc],
             xt_service_names[svc]);
    snprintf(log, sizeof log, "%s/%s.log", s->dir, xt_service_names[svc]);
    char *argv[] = {exe, NULL};
    int rc = xt_proc_spawn(&s->proc[svc], argv, (const char *const *)env, log);
    for (int i = 0; env[i]; i++)
        free(env[i]);
    if (rc != 0)
        return -1;
    for (int64_t end = xt_now_ms() + 30000; xt_now_ms() < end;) {
        if (!xt_proc_alive(&s->proc[svc]))
            break;
        if (xt_suite_healthy(s, svc, 500))
            return 0;
        xt_sleep_ms(50);
    }
    fprintf(stderr, "xt: %s did not become healthy; log %s:\n", xt_service_names[svc], log);
    xt_proc_dump_log(&s->proc[svc], 30);
    return -1;
}

int xt_suite_stop_one(xt_suite *s, int svc)
{
    return xt_proc_stop(&s->proc[svc], 20000);
}

void xt_suite_kill9(xt_suite *s, int svc)
{
    xt_proc_kill9(&s->proc[svc]);
}

static int bootstrap(xt_suite *s)
{
    char *out = NULL;
    int rc = xt_sh_out(&out, "'%s/services/xdctl/xdctl' bootstrap --data-dir '%s' 2>&1", s->bin_dir,
                       s->data[XT_GATEWAY]);
    const char *k = out ? strstr(out, "xdk_") : NULL;
    if (rc == 0 && k)
        snprintf(s->operator_key, sizeof s->operator_key, "%.*s", (int)strcspn(k, " \n\r"), k);
    else
        fprintf(stderr, "xt: xdctl bootstrap failed (%d): %s\n", rc, out ? out : "");
    free(out);
    return s->operator_key[0] ? 0 : -1;
}

int xt_suite_start(xt_suite *s, const char *name)
{
    return xt_suite_prepare(s, name) == 0 ? xt_suite_start_all(s) : -1;
}

int xt_suite_prepare(xt_suite *s, const char *name)
{
    const char *bin = getenv("XD_BINARY_DIR"), *src = getenv("XD_SOURCE_DIR");
    if (!bin || !src || xt_tmpdir(s->dir, sizeof s->dir, name) != 0)
        return -1;
    snprintf(s->bin_dir, sizeof s->bin_dir, "%s", bin);
    snprintf(s->src_dir, sizeof s->src_dir, "%s", src);
    snprintf(s->certs, sizeof s->certs, "%s/certs", s->dir);
    snprintf(s->http_base, sizeof s->http_base, "https://127.0.0.1:%d", xt_free_tcp_port());
    /* A fresh opt-out secret per run, shared by the sender and the gateway. */
    char *hex = NULL;
    if (xt_sh_out(&hex, "openssl rand -hex 32") != 0 || !hex || strlen(hex) < 64) {
        free(hex);
        return -1;
    }
    snprintf(s->optout_secret, sizeof s->optout_secret, "%.64s", hex);
    free(hex);
    mkdir(s->certs, 0700);
    if (xt_make_certs(s->certs) != 0)
        return -1;
    for (int i = 0; i < XT_N_SERVICES; i++) {
        snprintf(s->url[i], sizeof s->url[i], "ipc://%s/%s.sock", s->dir, xt_service_names[i]);
        snprintf(s->data[i], sizeof s->data[i], "%s/%s", s->dir, xt_service_names[i]);
    }
    return bootstrap(s);
}

int xt_suite_start_all(xt_suite *s)
{
    for (int i = 0; i < XT_N_SERVICES; i++)
        if (xt_suite_start_one(s, i) != 0)
            return -1;
    xd_err err;
    xd_client_options o = {.default_timeout_ms = 30000, .connect_wait_ms = 2000};
    return xd_client_open(s->url[XT_GATEWAY], "gateway", &o, &s->gw, &err) == XD_OK ? 0 : -1;
}

int xt_suite_stop(xt_suite *s)
{
    int unclean = 0;
    if (s->gw)
        xd_client_close(s->gw);
    s->gw = NULL;
    for (int i = 0; i < XT_N_SERVICES; i++) {
        if (s->health[i])
            xd_client_close(s->health[i]);
        s->health[i] = NULL;
    }
    for (int i = XT_N_SERVICES - 1; i >= 0; i--)
        if (s->proc[i].pid > 0 && xt_suite_stop_one(s, i) != 0) {
            fprintf(stderr, "xt: %s did not stop cleanly\n", xt_service_names[i]);
            xt_proc_dump_log(&s->proc[i], 20);
            unclean++;
        }
    if (!getenv("XD_KEEP"))
        xt_rmrf(s->dir);
    else
        fprintf(stderr, "xt: kept %s\n", s->dir);
    return unclean;
}

xd_code xt_gw_call(xt_suite *s, const char *key, const char *method, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *reply_desc, xd_arena *arena,
                   ProtobufCMessage **reply_out, xd_err *err)
{
    Xd__Caller caller = XD__CALLER__INIT;
    caller.principal = (char *)key;
    xd_call_options o = {.caller = &caller, .timeout_ms = 30000};
    xd_err_clear(err);
    return xd_client_call(s->gw, &o, method, req, reply_desc, arena, reply_out, err);
}

xt_http_reply xt_http(xt_suite *s, const char *path, const char *key, const char *body)
{
    xt_http_reply r = {0};
    char body_file[400], out_file[400], head_file[400], key_file[400];
    snprintf(body_file, sizeof body_file, "%s/http-body.json", s->dir);
    snprintf(out_file, sizeof out_file, "%s/http-out.txt", s->dir);
    snprintf(head_file, sizeof head_file, "%s/http-head.txt", s->dir);
    snprintf(key_file, sizeof key_file, "%s/http-auth.txt", s->dir);
    if (body)
        xt_write_file(body_file, body, strlen(body), 0600);
    /* The key goes through a 0600 header file, never on a command line. */
    char auth[500] = "";
    if (key) {
        char line[300];
        int n = snprintf(line, sizeof line, "Authorization: Bearer %s\n", key);
        xt_write_file(key_file, line, (size_t)n, 0600);
        snprintf(auth, sizeof auth, "-H @'%s'", key_file);
    }
    char *status = NULL;
    int rc = xt_sh_out(&status,
                       "curl -s --max-time 60 --cacert '%s/ca.pem' -D '%s' -o '%s' "
                       "-w '%%{http_code}' %s %s%s%s '%s%s'",
                       s->certs, head_file, out_file, auth, body ? "-X POST --data-binary @'" : "",
                       body ? body_file : "", body ? "'" : "", s->http_base, path);
    r.status = rc == 0 && status ? atoi(status) : 0;
    free(status);
    r.body = xt_read_file(out_file, NULL);
    if (!r.body)
        r.body = calloc(1, 1);
    r.json = json_loads(r.body, 0, NULL);
    char *head = xt_read_file(head_file, NULL);
    for (char *c = head; c && *c; c++) /* header names are case-insensitive */
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    const char *ra = head ? strstr(head, "\nretry-after:") : NULL;
    if (ra)
        snprintf(r.retry_after, sizeof r.retry_after, "%.*s", (int)strcspn(ra + 14, "\r\n"),
                 ra + 14 + strspn(ra + 14, " "));
    free(head);
    unlink(out_file);
    unlink(head_file);
    return r;
}

void xt_http_free(xt_http_reply *r)
{
    free(r->body);
    json_decref(r->json);
    r->body = NULL;
    r->json = NULL;
}

xt_http_reply xt_api(xt_suite *s, const char *key, const char *method, const char *f, ...)
{
    char *body = malloc(1 << 16), path[128];
    va_list ap;
    va_start(ap, f);
    vsnprintf(body, 1 << 16, f, ap);
    va_end(ap);
    snprintf(path, sizeof path, "/v1/%s", method);
    xt_http_reply r = xt_http(s, path, key, body);
    free(body);
    return r;
}

const char *xt_str(const json_t *j, const char *key)
{
    const char *v = json_string_value(json_object_get(j, key));
    return v ? v : "";
}

int xt_create_org(xt_suite *s, const char *name, char *org_out, size_t cap)
{
    xt_http_reply r = xt_api(s, s->operator_key, "CreateOrganization", "{\"name\":\"%s\"}", name);
    int ok = r.status == 200 && xt_str(r.json, "orgId")[0];
    if (ok)
        snprintf(org_out, cap, "%s", xt_str(r.json, "orgId"));
    else
        fprintf(stderr, "xt: CreateOrganization %s: %d %s\n", name, r.status, r.body);
    xt_http_free(&r);
    return ok ? 0 : -1;
}

char *xt_create_key(xt_suite *s, const char *org, const char *role)
{
    xt_http_reply r = xt_api(s, s->operator_key, "CreateApiKey",
                             "{\"orgId\":\"%s\",\"role\":\"%s\",\"label\":\"e2e\"}", org, role);
    char *key = NULL;
    if (r.status == 200 && strncmp(xt_str(r.json, "secretKey"), "xdk_", 4) == 0)
        key = strdup(xt_str(r.json, "secretKey"));
    else
        fprintf(stderr, "xt: CreateApiKey %s %s: %d %s\n", org, role, r.status, r.body);
    xt_http_free(&r);
    return key;
}

int xt_set_open_policy(xt_suite *s)
{
    xt_http_reply r = xt_api(
        s, s->operator_key, "SetRateLimitPolicy", "%s",
        "{\"policyJson\":\"{\\\"rules\\\":["
        "{\\\"name\\\":\\\"per-message\\\",\\\"kind\\\":\\\"per_message\\\",\\\"scope\\\":[],"
        "\\\"limit\\\":100},"
        "{\\\"name\\\":\\\"org-hour\\\",\\\"kind\\\":\\\"window\\\",\\\"scope\\\":[\\\"org\\\"],"
        "\\\"limit\\\":10000000,\\\"window_ms\\\":3600000,\\\"scaled\\\":false}]}\"}");
    int ok = r.status == 200;
    if (!ok)
        fprintf(stderr, "xt: SetRateLimitPolicy: %d %s\n", r.status, r.body);
    xt_http_free(&r);
    return ok ? 0 : -1;
}
