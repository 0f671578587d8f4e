/* context.c: configuration keys and start-up / shut-down of xd-ticket. */
#include "context.h"
#include "xd/log.h"
#include "xd/service.h"
#include "xd/util.h"

#include <stdlib.h>

const xd_config_item ticket_config[] = {
    {"verify_url", XD_CFG_STRING, "tcp://127.0.0.1:7403",
     "RPC URL of xd-verify, asked for the intake check", .required = 1},
    {"verify_timeout", XD_CFG_DURATION, "3s", "time allowed for one Diagnose call", 50, 60000},
    {"recheck_interval", XD_CFG_DURATION, "30s",
     "first re-check of findings left pending (verify down), and the poll period", 10, 3600000},
    {"recheck_max_interval", XD_CFG_DURATION, "10m", "re-checks back off up to this", 10, 86400000},
    {"staff_org_id", XD_CFG_STRING, "xenegrade",
     "organization whose support/admin keys see every organization's tickets"},
};
const int ticket_config_count = (int)(sizeof(ticket_config) / sizeof(ticket_config[0]));

xd_code ticket_init(const xd_config *cfg, void **ctx_out, xd_err *err)
{
    ticket_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    char path[1024];
    xd_service_path(cfg, "ticket.db", path, sizeof(path));
    const xd_clock *clock = xd_clock_system();
    xd_code rc = tk_store_open(path, clock, &c->store, err);
    if (rc == XD_OK)
        rc = verify_link_open(xd_config_str(cfg, "verify_url"),
                              xd_config_int(cfg, "verify_timeout"), &c->verify, err);
    c->svc.store = c->store;
    c->svc.clock = clock;
    c->svc.diagnose = verify_link_diagnose;
    c->svc.diagnose_ctx = c->verify;
    c->svc.recheck.interval_ms = xd_config_int(cfg, "recheck_interval");
    c->svc.recheck.max_interval_ms = xd_config_int(cfg, "recheck_max_interval");
    xd_strlcpy(c->svc.staff_org, xd_config_str(cfg, "staff_org_id"), sizeof(c->svc.staff_org));
    if (rc == XD_OK && c->svc.recheck.max_interval_ms < c->svc.recheck.interval_ms)
        rc = xd_err_set(err, XD_INVALID_ARGUMENT,
                        "recheck_max_interval (%lld ms) is below recheck_interval (%lld ms)",
                        (long long)c->svc.recheck.max_interval_ms,
                        (long long)c->svc.recheck.interval_ms);
    if (rc == XD_OK)
        rc = tk_recheck_start(c->store, clock, verify_link_diagnose, c->verify, &c->svc.recheck, 1,
                              &c->recheck, err);
    if (rc != XD_OK) {
        ticket_fini(c);
        return rc;
    }
    XD_INFO("tickets in %s; intake checks against %s", path, xd_config_str(cfg, "verify_url"));
    *ctx_out = c;
    return XD_OK;
}

void ticket_fini(void *ctx)
{
    ticket_ctx *c = ctx;
    if (!c)
        return;
    tk_recheck_stop(c->recheck);
    verify_link_close(c->verify);
    tk_store_close(c->store);
    free(c);
}
