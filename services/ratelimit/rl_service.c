/* rl_service.c: configuration and lifetime of the ratelimit daemon; see
 * rl_service.h. */
#include "rl_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "xd/log.h"
#include "xd/service.h"

const xd_config_item rl_config_items[] = {
    {"db_path", XD_CFG_STRING, "", "SQLite file; empty = <data_dir>/ratelimit.db"},
    {"policy_file", XD_CFG_STRING, "",
     "JSON policy applied at start-up when it differs from the stored one (README.md)"},
    {"window_max_entries", XD_CFG_INT, "256",
     "records per rolling window: granule = window / this (exact at 1 ms)", 2, 1000000},
    {"max_keys", XD_CFG_INT, "4000000", "most counter keys held in memory", 1000, 100000000},
    {"dedup_max", XD_CFG_INT, "1000000", "most request ids remembered", 1000, 100000000},
    {"dedup_ttl", XD_CFG_DURATION, "24h", "how long a request id is remembered", 60000,
     31LL * 86400000},
    {"sync", XD_CFG_ENUM, "full",
     "full: fsync every group commit (survives power loss); normal: survives a process crash "
     "(kill -9) but a power loss may drop the last commits",
     .choices = (const char *const[]){"full", "normal", NULL}},
    {"durable_timeout", XD_CFG_DURATION, "2s",
     "longest wait for the SQLite commit before answering UNAVAILABLE", 10, 60000},
};
const int rl_n_config_items = (int)(sizeof(rl_config_items) / sizeof(rl_config_items[0]));

static char *read_file(const char *path, xd_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        xd_err_field(err, XD_INVALID_ARGUMENT, "policy_file", "cannot open policy_file %s", path);
        return NULL;
    }
    char *buf = malloc(RL_POLICY_MAX_JSON + 1);
    size_t n = buf ? fread(buf, 1, RL_POLICY_MAX_JSON + 1, f) : 0;
    fclose(f);
    if (!buf || n > RL_POLICY_MAX_JSON) {
        free(buf);
        xd_err_field(err, XD_INVALID_ARGUMENT, "policy_file",
                     "policy_file %s is larger than %d bytes", path, RL_POLICY_MAX_JSON);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

xd_code rl_service_init(const xd_config *cfg, void **ctx_out, xd_err *err)
{
    rl_service *svc = calloc(1, sizeof(*svc));
    if (!svc)
        return xd_err_set(err, XD_RESOURCE_EXHAUSTED, "out of memory");
    char db_path[1024];
    if (xd_config_str(cfg, "db_path")[0])
        snprintf(db_path, sizeof(db_path), "%s", xd_config_str(cfg, "db_path"));
    else
        xd_service_path(cfg, "ratelimit.db", db_path, sizeof(db_path));
    char *policy = NULL;
    const char *pf = xd_config_str(cfg, "policy_file");
    if (pf[0] && !(policy = read_file(pf, err))) {
        free(svc);
        return err->code;
    }
    if (policy) { /* a bad file is a start-up error that names the problem */
        rl_policy *p = NULL;
        xd_code rc = rl_policy_parse(policy, &p, err);
        free(p);
        if (rc != XD_OK) {
            free(policy);
            free(svc);
            return rc;
        }
    }
    svc->clock = xd_clock_system();
    svc->durable_timeout_ms = xd_config_int(cfg, "durable_timeout");
    rl_store_options so = {
        .db_path = db_path,
        .policy_file_json = policy,
        .clock = svc->clock,
        .sync_normal = strcmp(xd_config_str(cfg, "sync"), "normal") == 0,
        .engine =
            {
                .window_max_entries = (uint32_t)xd_config_int(cfg, "window_max_entries"),
                .max_keys = (uint64_t)xd_config_int(cfg, "max_keys"),
                .dedup_max = (uint32_t)xd_config_int(cfg, "dedup_max"),
                .dedup_ttl_ms = xd_config_int(cfg, "dedup_ttl"),
            },
    };
    rl_restore_stats st;
    xd_code rc = rl_store_open(&so, &svc->engine, &svc->store, &st, err);
    free(policy);
    if (rc != XD_OK) {
        free(svc);
        return rc;
    }
    uint64_t keys, leases, dedup;
    rl_engine_counts(svc->engine, &keys, &leases, &dedup);
    XD_INFO("restored %llu items (%llu unreadable) in %lld ms from %s: %llu keys, %llu leases, "
            "%llu request ids, policy version %llu",
            (unsigned long long)st.items, (unsigned long long)st.bad, (long long)st.elapsed_ms,
            db_path, (unsigned long long)keys, (unsigned long long)leases,
            (unsigned long long)dedup, (unsigned long long)st.policy_version);
    *ctx_out = svc;
    return XD_OK;
}

void rl_service_fini(void *ctx)
{
    rl_service *svc = ctx;
    if (!svc)
        return;
    rl_store_close(svc->store);
    rl_engine_free(svc->engine);
    free(svc);
}
