/* gw_service.c: configuration, start-up and shutdown of xd-gateway, and the
 * host-side bootstrap of the first operator key. */
#include "gw_autosuspend.h"
#include "gw_handlers.h"
#include "gw_http.h"
#include "gw_metrics.h"
#include "gw_perm.h"
#include "gw_qstats.h"
#include "xd/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct gw_daemon {
    gw_ctx ctx;
    gw_http *http;
    gw_autosuspend *autosuspend;
    char *self_url;
    char *optout_secret;
} gw_daemon;

static const xd_config_item items[] = {
    {"http_listen", XD_CFG_STRING, "http://127.0.0.1:7480",
     "HTTP/JSON listen URL (http:// or https://); empty = no HTTP face"},
    {"http_tls_cert", XD_CFG_STRING, "", "PEM certificate for an https:// listener"},
    {"http_tls_key", XD_CFG_STRING, "", "PEM private key for an https:// listener", .secret = 1},
    {"http_max_body", XD_CFG_SIZE, "32m", "largest HTTP request body accepted", 1024, 256 << 20},
    {"http_workers", XD_CFG_INT, "4", "threads that serve HTTP requests", 1, 64},
    {"http_timeout", XD_CFG_DURATION, "30s", "deadline of one HTTP call", 100, 600000},
    {"ratelimit_url", XD_CFG_STRING, "tcp://127.0.0.1:7402", "RPC URL of xd-ratelimit",
     .required = 1},
    {"verify_url", XD_CFG_STRING, "tcp://127.0.0.1:7403", "RPC URL of xd-verify", .required = 1},
    {"sender_url", XD_CFG_STRING, "tcp://127.0.0.1:7401", "RPC URL of xd-sender", .required = 1},
    {"ticket_url", XD_CFG_STRING, "tcp://127.0.0.1:7404", "RPC URL of xd-ticket", .required = 1},
    {"services_tls_ca", XD_CFG_STRING, "", "CA file to verify services on tls+tcp:// URLs"},
    {"connect_wait", XD_CFG_DURATION, "250ms",
     "how long a call waits for a connection before UNAVAILABLE", 1, 10000},
    {"health_timeout", XD_CFG_DURATION, "1s", "per-service wait of SuiteHealth", 10, 10000},
    {"idempotency_ttl", XD_CFG_DURATION, "24h", "how long a SendEmail idempotency key lives", 60000,
     30LL * 24 * 3600 * 1000},
    {"optout_secret", XD_CFG_STRING, "",
     "secret of List-Unsubscribe tokens: the sender's optout.secret; empty = unsubscribe off",
     .secret = 1},
    {"metrics_cache", XD_CFG_DURATION, "5s",
     "how long GET /metrics reuses the sender's queue figures", 0, 3600000},
    {"metrics_timeout", XD_CFG_DURATION, "300ms",
     "budget of the sender's QueueStats call during a scrape", 10, 10000},
    {"auto_suspend", XD_CFG_BOOL, "false",
     "suspend organizations whose health at verify is critical (off by default)"},
    {"auto_suspend_interval", XD_CFG_DURATION, "5m", "time between auto-suspension sweeps", 10,
     24LL * 3600 * 1000},
    {"auto_suspend_batch", XD_CFG_INT, "100", "organizations checked per sweep (round-robin)", 1,
     1000},
    {"auto_suspend_grace", XD_CFG_DURATION, "7d",
     "no automatic re-suspension this long after an operator enabled an organization", 0,
     365LL * 24 * 3600 * 1000},
    {"auto_suspend_min_sent", XD_CFG_INT, "100",
     "recipients a critical window needs before it counts (small samples are noise)", 1, 100000000},
    {"auto_suspend_timeout", XD_CFG_DURATION, "2s", "budget of one GetOrgHealth call", 10, 60000},
    {"pepper_file", XD_CFG_STRING, "",
     "32-byte secret mixed into API key hashes; empty = <data_dir>/gateway.pepper"},
};

static void pepper_path(const char *data_dir, const char *pepper_file, char *out, size_t size)
{
    if (pepper_file && pepper_file[0])
        snprintf(out, size, "%s", pepper_file);
    else
        snprintf(out, size, "%s/gateway.pepper", data_dir);
}

static void fini(void *arg)
{
    gw_daemon *s = arg;
    if (!s)
        return;
    gw_http_stop(s->http);
    gw_autosuspend_stop(s->autosuspend);
    gw_qstats_free(s->ctx.qstats);
    gw_backends_close(s->ctx.backends);
    gw_store_close(s->ctx.store);
    gw_metrics_free(s->ctx.metrics);
    free(s->self_url);
    if (s->optout_secret) {
        memset(s->optout_secret, 0, strlen(s->optout_secret));
        free(s->optout_secret);
    }
    free(s);
}

static xd_code init(const xd_config *cfg, void **ctx_out, xd_err *err)
{
    gw_daemon *s = calloc(1, sizeof(*s));
    if (!s)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    gw_ctx *c = &s->ctx;
    c->clock = xd_clock_system();
    c->started_ms = xd_monotonic_ms();
    c->idem_ttl_ms = xd_config_int(cfg, "idempotency_ttl");
    c->health_timeout_ms = xd_config_int(cfg, "health_timeout");
    s->optout_secret = strdup(xd_config_str(cfg, "optout_secret"));
    c->optout_secret = s->optout_secret;
    s->self_url = strdup(xd_config_str(cfg, "listen"));
    c->self_url = s->self_url;
    c->metrics = gw_metrics_new();
    char db[4096], pepper[4096];
    xd_service_path(cfg, "gateway.db", db, sizeof(db));
    pepper_path(xd_service_data_dir(cfg), xd_config_str(cfg, "pepper_file"), pepper,
                sizeof(pepper));
    xd_code rc = gw_store_open(db, pepper, c->clock, &c->store, err);
    const char *urls[GW_SVC_COUNT] = {
        xd_config_str(cfg, "ratelimit_url"), xd_config_str(cfg, "verify_url"),
        xd_config_str(cfg, "sender_url"), xd_config_str(cfg, "ticket_url")};
    if (rc == XD_OK)
        rc = gw_backends_open(urls, xd_config_int(cfg, "connect_wait"),
                              xd_config_str(cfg, "services_tls_ca"), &c->backends, err);
    if (rc == XD_OK) {
        c->qstats = gw_qstats_new(c->backends, xd_config_int(cfg, "metrics_cache"),
                                  xd_config_int(cfg, "metrics_timeout"));
        if (!c->qstats)
            rc = xd_err_set(err, XD_INTERNAL, "out of memory");
    }
    if (rc == XD_OK && xd_config_bool(cfg, "auto_suspend")) {
        gw_autosuspend_options ao = {
            .interval_ms = xd_config_int(cfg, "auto_suspend_interval"),
            .batch = (int)xd_config_int(cfg, "auto_suspend_batch"),
            .grace_ms = xd_config_int(cfg, "auto_suspend_grace"),
            .min_sent = (uint64_t)xd_config_int(cfg, "auto_suspend_min_sent"),
            .timeout_ms = xd_config_int(cfg, "auto_suspend_timeout"),
        };
        rc = gw_autosuspend_start(c, &ao, &s->autosuspend, err);
    }
    const char *http = xd_config_str(cfg, "http_listen");
    if (rc == XD_OK && http[0]) {
        gw_http_options o = {
            .url = http,
            .tls_cert_file = xd_config_str(cfg, "http_tls_cert"),
            .tls_key_file = xd_config_str(cfg, "http_tls_key"),
            .max_body_bytes = xd_config_int(cfg, "http_max_body"),
            .workers = (int)xd_config_int(cfg, "http_workers"),
            .allow_plaintext_remote = xd_config_bool(cfg, "allow_plaintext_remote"),
            .request_timeout_ms = xd_config_int(cfg, "http_timeout"),
        };
        rc = gw_http_start(c, &o, &s->http, err);
    }
    if (rc != XD_OK) {
        fini(s);
        return rc;
    }
    *ctx_out = s;
    return XD_OK;
}

const xd_service_def *gw_service_def(void)
{
    static xd_service_def def;
    if (!def.name) {
        int n = 0;
        const xd_method_impl *m = gw_nng_methods(&n);
        def = (xd_service_def){
            .name = "gateway",
            .default_listen = "tcp://127.0.0.1:7400",
            .descriptor = &xd__gateway__descriptor,
            .methods = m,
            .n_methods = n,
            .config = items,
            .n_config = (int)(sizeof(items) / sizeof(items[0])),
            .init = init,
            .fini = fini,
        };
    }
    return &def;
}

int gw_bootstrap_operator(const char *data_dir, const char *pepper_file, const char *label,
                          int out_fd)
{
    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "bootstrap: cannot create data directory %s: %s\n", data_dir,
                strerror(errno));
        return 2;
    }
    char db[4096], pepper[4096];
    snprintf(db, sizeof(db), "%s/gateway.db", data_dir);
    pepper_path(data_dir, pepper_file, pepper, sizeof(pepper));
    xd_err err;
    xd_err_clear(&err);
    gw_store *store = NULL;
    if (gw_store_open(db, pepper, xd_clock_system(), &store, &err) != XD_OK) {
        fprintf(stderr, "bootstrap: %s\n", err.message);
        return 2;
    }
    gw_api_key key;
    char text[GW_KEY_TEXT_MAX];
    xd_code rc = gw_store_bootstrap_operator(store, label && label[0] ? label : "bootstrap", &key,
                                             text, sizeof(text), &err);
    gw_store_close(store);
    if (rc != XD_OK) {
        fprintf(stderr, "bootstrap: %s\n", err.message);
        return 2;
    }
    dprintf(out_fd,
            "Operator key created in %s (organization %s, key id %s).\n"
            "It is shown only now; store it safely:\n\n%s\n",
            db, key.org_id, key.id, text);
    memset(text, 0, sizeof(text));
    return 0;
}
