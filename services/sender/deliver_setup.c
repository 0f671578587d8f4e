/* deliver_setup.c: the delivery side of xd-sender's start and stop (see
 * handlers.h). */
#include <stdlib.h>
#include <string.h>

#include "deliver_config.h"
#include "handlers.h"
#include "xd/log.h"

const char *const snd_route_choices[] = {"direct_mx", "smarthost", "test_capture", "none", NULL};
const char *const snd_tls_choices[] = {"required", "opportunistic", "implicit", NULL};

static int route_of(const char *s)
{
    return strcmp(s, "direct_mx") == 0      ? SND_ROUTE_DIRECT_MX
           : strcmp(s, "smarthost") == 0    ? SND_ROUTE_SMARTHOST
           : strcmp(s, "test_capture") == 0 ? SND_ROUTE_TEST_CAPTURE
                                            : SND_ROUTE_DEFAULT;
}

static int tls_of(const char *s)
{
    return strcmp(s, "opportunistic") == 0 ? SND_RELAY_TLS_OPPORTUNISTIC
           : strcmp(s, "implicit") == 0    ? SND_RELAY_TLS_IMPLICIT
                                           : SND_RELAY_TLS_REQUIRED;
}

static void timeouts(const xd_config *cfg, snd_smtp_timeouts *t)
{
    memset(t, 0, sizeof *t);
    int64_t cmd = xd_config_int(cfg, "smtp.timeout_command");
    t->connect_ms = xd_config_int(cfg, "smtp.timeout_connect");
    t->greeting_ms = t->ehlo_ms = t->starttls_ms = t->auth_ms = t->mail_ms = t->rcpt_ms = cmd;
    t->data_init_ms = t->data_block_ms = t->rset_ms = t->quit_ms = cmd;
    t->data_end_ms = xd_config_int(cfg, "smtp.timeout_data_end");
}

xd_code snd_delivery_init(snd_ctx *ctx, const xd_config *cfg, const char *db_path,
                          const unsigned char master[32], xd_err *err)
{
    snd_queue_config qc = {
        .retry_initial_ms = xd_config_int(cfg, "retry.initial"),
        .retry_max_ms = xd_config_int(cfg, "retry.max"),
        .max_age_ms = xd_config_int(cfg, "retry.max_age"),
        .jitter_permille = (int)xd_config_int(cfg, "retry.jitter_permille"),
    };
    ctx->max_send_ahead_ms = xd_config_int(cfg, "submit.max_ahead");
    /* A capture route is a test deployment's choice, made in both keys. */
    if (strcmp(xd_config_str(cfg, "delivery.route"), "test_capture") == 0 &&
        !xd_config_bool(cfg, "delivery.allow_capture"))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "delivery.route",
                            "delivery.route=test_capture needs delivery.allow_capture=true "
                            "(test deployments only); production uses direct_mx or a relay");
    xd_code rc = snd_queue_open(db_path, xd_clock_system(), &qc, &ctx->queue, err);
    if (rc == XD_OK)
        rc = snd_relay_store_open(db_path, master, xd_clock_system(),
                                  xd_config_bool(cfg, "delivery.allow_capture"), &ctx->relays, err);
    if (rc != XD_OK)
        return rc;
    size_t recovered = 0;
    rc = snd_queue_recover(ctx->queue, &recovered, err);
    if (rc != XD_OK)
        return rc;
    if (recovered)
        XD_INFO("delivery: %zu recipients were in flight at the last stop; retrying them",
                recovered);
    xd_dns_config dc = {.servers = xd_config_str(cfg, "dns.servers"),
                        .timeout_ms = (int)xd_config_int(cfg, "dns.timeout"),
                        .cache_entries = 4096};
    ctx->dns = xd_dns_new(&dc, err);
    if (!ctx->dns)
        return err->code ? err->code : XD_INTERNAL;
    const char *rl = xd_config_str(cfg, "ratelimit.url");
    if (rl[0]) {
        rc = snd_pacing_open(rl, xd_config_int(cfg, "ratelimit.timeout"), &ctx->pacing, err);
        if (rc != XD_OK)
            return rc;
    }
    const char *vf = xd_config_str(cfg, "verify.url");
    if (vf[0] && xd_config_bool(cfg, "verify.suppression")) {
        rc = snd_suppress_open(vf, xd_config_int(cfg, "verify.timeout"), &ctx->suppress, err);
        if (rc != XD_OK)
            return rc;
    }
    snd_deliver_config dc2 = {
        .workers = (int)xd_config_int(cfg, "delivery.workers"),
        .claim_max = (size_t)xd_config_int(cfg, "delivery.claim_max"),
        .tx_max_rcpts = (size_t)xd_config_int(cfg, "delivery.tx_max_rcpts"),
        .msgs_per_conn = (unsigned)xd_config_int(cfg, "delivery.msgs_per_conn"),
        .bounce_domain = xd_config_str(cfg, "delivery.bounce_domain"),
        .helo_name = xd_config_str(cfg, "delivery.helo_name"),
        .ca_file =
            xd_config_str(cfg, "smtp.ca_file")[0] ? xd_config_str(cfg, "smtp.ca_file") : NULL,
        .sending_ip = xd_config_str(cfg, "delivery.sending_ip"),
        .idle_poll_ms = xd_config_int(cfg, "delivery.idle_poll"),
        .unreachable_retry_ms = xd_config_int(cfg, "delivery.unreachable_retry"),
        .route =
            {
                .default_route = route_of(xd_config_str(cfg, "delivery.route")),
                .capture_host = xd_config_str(cfg, "capture.host"),
                .capture_port = (uint16_t)xd_config_int(cfg, "capture.port"),
                .smarthost_host = xd_config_str(cfg, "smarthost.host"),
                .smarthost_port = (uint16_t)xd_config_int(cfg, "smarthost.port"),
                .smarthost_tls = tls_of(xd_config_str(cfg, "smarthost.tls")),
                .smarthost_user = xd_config_str(cfg, "smarthost.username"),
                .smarthost_password = xd_config_str(cfg, "smarthost.password"),
                .mx_port = (uint16_t)xd_config_int(cfg, "direct.port"),
                .mx_tls_verify = xd_config_bool(cfg, "direct.tls_verify"),
                .dns = ctx->dns,
            },
    };
    timeouts(cfg, &dc2.timeouts);
    snd_deliver_deps deps = {
        .queue = ctx->queue,
        .relays = ctx->relays,
        .keys = ctx->keys,
        .optout = &ctx->optout,
        .pacing = ctx->pacing,
        .suppress = ctx->suppress,
        .clock = xd_clock_system(),
    };
    rc = snd_deliver_start(&dc2, &deps, &ctx->deliver, err);
    if (rc == XD_OK && vf[0]) {
        snd_pump_config pc = {.verify_url = vf, .timeout_ms = xd_config_int(cfg, "verify.timeout")};
        rc = snd_pump_start(&pc, ctx->queue, &ctx->pump, err);
    }
    if (rc == XD_OK)
        XD_INFO("delivery: %d workers, default route %s, pacing %s, events %s",
                dc2.workers ? dc2.workers : 4, xd_config_str(cfg, "delivery.route"),
                ctx->pacing ? rl : "off", ctx->pump ? vf : "kept in the outbox");
    /* A capture route or missing peers must never pass silently. */
    if (rc == XD_OK && strcmp(xd_config_str(cfg, "delivery.route"), "test_capture") == 0)
        XD_WARN("route is test_capture: mail goes to the local capture sink, not to "
                "recipients; set delivery.route=direct_mx (or a relay) for production");
    if (rc == XD_OK && (!ctx->pacing || !ctx->pump))
        XD_WARN("ratelimit.url or verify.url is not set: no pacing, or events stay in the outbox");
    return rc;
}

void snd_delivery_fini(snd_ctx *ctx)
{
    snd_deliver_stop(ctx->deliver);
    ctx->deliver = NULL;
    snd_pump_stop(ctx->pump);
    ctx->pump = NULL;
    snd_pacing_close(ctx->pacing);
    snd_suppress_close(ctx->suppress);
    xd_dns_free(ctx->dns);
    snd_relay_store_close(ctx->relays);
    snd_queue_close(ctx->queue);
    ctx->pacing = NULL;
    ctx->suppress = NULL;
    ctx->dns = NULL;
    ctx->relays = NULL;
    ctx->queue = NULL;
}
