/* vf_service.c: configuration, start-up and the retention thread. */
#include "vf_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "xd/log.h"
#include "xd/service.h"

const xd_config_item vf_config_items[] = {
    {"db_path", XD_CFG_STRING, "", "SQLite file; empty = <data_dir>/verify.db"},
    {"retention", XD_CFG_DURATION, "400d", "how long the message log is kept", 86400000LL,
     3650LL * 86400000},
    {"bounce_suppression_ttl", XD_CFG_DURATION, "90d", "lifetime of hard-bounce suppressions",
     3600000LL, 3650LL * 86400000},
    {"complaint_warn_ppm", XD_CFG_INT, "1000", "complaint rate warning, parts per million", 1,
     1000000},
    {"complaint_critical_ppm", XD_CFG_INT, "3000", "complaint rate critical, ppm", 1, 1000000},
    {"bounce_warn_ppm", XD_CFG_INT, "50000", "bounce rate warning, ppm", 1, 1000000},
    {"bounce_critical_ppm", XD_CFG_INT, "100000", "bounce rate critical, ppm", 1, 1000000},
    {"sending_host", XD_CFG_STRING, "smtp.xenegrade.net",
     "our outbound host, named in remedies for recipients' IT teams"},
    {"dns_servers", XD_CFG_STRING, "",
     "resolvers for recipient checks, \"127.0.0.1:5353,[::1]:53\"; empty = /etc/resolv.conf"},
    {"dns_timeout", XD_CFG_DURATION, "3s", "budget of one DNS lookup", 100, 60000},
    {"dns_cache_entries", XD_CFG_INT, "4096", "DNS answers kept (short TTL-bound cache)", 0,
     1000000},
    {"purge_interval", XD_CFG_DURATION, "1h", "how often expired log rows are deleted", 1000,
     86400000LL},
};
const int vf_n_config_items = (int)(sizeof vf_config_items / sizeof vf_config_items[0]);

static int64_t purge_interval_ms = 3600000;

static void *purge_loop(void *arg)
{
    vf_service *svc = arg;
    int64_t waited = purge_interval_ms; /* purge once at start-up */
    while (!xd_service_stopping() && svc->purge_running) {
        if (waited >= purge_interval_ms) {
            waited = 0;
            unsigned deleted = 0;
            xd_err err;
            xd_err_clear(&err);
            if (vf_store_purge(svc->store, &deleted, &err) != XD_OK)
                XD_WARN("retention purge failed: %s", err.message);
            else if (deleted)
                XD_INFO("retention purge deleted %u log rows", deleted);
        }
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        waited += 200;
    }
    return NULL;
}

vf_service *vf_service_wrap(vf_store *store)
{
    vf_service *svc = calloc(1, sizeof *svc);
    if (svc)
        svc->store = store;
    return svc;
}

xd_code vf_service_init(const xd_config *cfg, void **ctx_out, xd_err *err)
{
    vf_settings settings;
    vf_settings_default(&settings);
    settings.retention_ms = xd_config_int(cfg, "retention");
    settings.bounce_ttl_ms = xd_config_int(cfg, "bounce_suppression_ttl");
    settings.complaint_warn = (double)xd_config_int(cfg, "complaint_warn_ppm") / 1e6;
    settings.complaint_critical = (double)xd_config_int(cfg, "complaint_critical_ppm") / 1e6;
    settings.bounce_warn = (double)xd_config_int(cfg, "bounce_warn_ppm") / 1e6;
    settings.bounce_critical = (double)xd_config_int(cfg, "bounce_critical_ppm") / 1e6;
    snprintf(settings.sending_host, sizeof settings.sending_host, "%s",
             xd_config_str(cfg, "sending_host"));
    purge_interval_ms = xd_config_int(cfg, "purge_interval");
    char path[1024];
    const char *db_path = xd_config_str(cfg, "db_path");
    if (db_path[0])
        snprintf(path, sizeof path, "%s", db_path);
    else
        xd_service_path(cfg, "verify.db", path, sizeof path);
    vf_store *store;
    xd_code rc = vf_store_open(path, xd_clock_system(), &settings, &store, err);
    if (rc != XD_OK)
        return rc;
    vf_service *svc = vf_service_wrap(store);
    if (!svc) {
        vf_store_close(store);
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    }
    xd_dns_config dc = {.servers = xd_config_str(cfg, "dns_servers"),
                        .timeout_ms = (int)xd_config_int(cfg, "dns_timeout"),
                        .cache_entries = (size_t)xd_config_int(cfg, "dns_cache_entries"),
                        .cache_max_ttl_ms = 300000};
    svc->dns = xd_dns_new(&dc, err);
    if (!svc->dns) {
        vf_store_close(store);
        free(svc);
        return err->code ? err->code : XD_INTERNAL;
    }
    svc->purge_running = 1;
    if (pthread_create(&svc->purge_thread, NULL, purge_loop, svc) != 0) {
        svc->purge_running = 0;
        XD_WARN("retention thread did not start; the log will not be purged");
    }
    *ctx_out = svc;
    return XD_OK;
}

void vf_service_fini(void *ctx)
{
    vf_service *svc = ctx;
    if (!svc)
        return;
    if (svc->purge_running) {
        svc->purge_running = 0;
        pthread_join(svc->purge_thread, NULL);
    }
    xd_dns_free(svc->dns);
    vf_store_close(svc->store);
    free(svc);
}
