/* gw_autosuspend.c: the sweeper that suspends organizations whose health at
 * verify is critical (see gw_autosuspend.h for the rules). */
#include "gw_autosuspend.h"
#include "xd/log.h"
#include "xd/clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_MAX 1000

struct gw_autosuspend {
    gw_ctx *ctx;
    gw_autosuspend_options o;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
    char cursor[GW_ORG_ID_MAX + 1]; /* last organization asked about; "" = start over */
};

static const char *level_name(Xd__HealthLevel l)
{
    switch (l) {
    case XD__HEALTH_LEVEL__HEALTH_LEVEL_OK:
        return "ok";
    case XD__HEALTH_LEVEL__HEALTH_LEVEL_WARN:
        return "warn";
    case XD__HEALTH_LEVEL__HEALTH_LEVEL_CRITICAL:
        return "critical";
    default:
        return "unknown";
    }
}

int gw_autosuspend_judge(const Xd__GetOrgHealthReply *h, uint64_t min_sent, char *reason,
                         size_t size)
{
    if (size)
        reason[0] = '\0';
    for (size_t i = 0; i < h->n_windows; i++) {
        const Xd__RateWindow *w = h->windows[i];
        if (!w || w->sent < min_sent)
            continue;
        if (w->bounce_level == XD__HEALTH_LEVEL__HEALTH_LEVEL_CRITICAL) {
            snprintf(reason, size,
                     "automatic suspension: bounce rate %.2f%% over the last %u days (%llu of "
                     "%llu recipients bounced) is at or above the critical %.2f%%; clean the "
                     "address lists, then ask Xenegrade to enable email again",
                     w->bounce_rate * 100, w->days, (unsigned long long)w->bounced,
                     (unsigned long long)w->sent, h->bounce_critical * 100);
            return 1;
        }
        if (w->complaint_level == XD__HEALTH_LEVEL__HEALTH_LEVEL_CRITICAL) {
            snprintf(reason, size,
                     "automatic suspension: complaint rate %.3f%% over the last %u days (%llu "
                     "complaints, %llu recipients) is at or above the critical %.3f%%; send only "
                     "to people who opted in, then ask Xenegrade to enable email again",
                     w->complaint_rate * 100, w->days, (unsigned long long)w->complained,
                     (unsigned long long)w->sent, h->complaint_critical * 100);
            return 1;
        }
    }
    return 0;
}

int gw_autosuspend_in_grace(const gw_org *org, int64_t now_ms, int64_t grace_ms)
{
    /* An organization created enabled has no status_changed_by; one that an
     * operator enabled names the operator's key. */
    return org->status == GW_ORG_ENABLED && org->status_changed_by[0] &&
           strcmp(org->status_changed_by, GW_AUTOSUSPEND_BY) != 0 &&
           now_ms - org->status_since_ms < grace_ms;
}

/* Every figure of the health reply on one line, for the log. */
static void describe(const Xd__GetOrgHealthReply *h, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "level=%s", level_name(h->level));
    for (size_t i = 0; i < h->n_windows && n < size; i++) {
        const Xd__RateWindow *w = h->windows[i];
        n += (size_t)snprintf(out + n, size - n,
                              " %ud: sent=%llu bounced=%llu complained=%llu bounce_rate=%.4f "
                              "(%s) complaint_rate=%.5f (%s);",
                              w->days, (unsigned long long)w->sent, (unsigned long long)w->bounced,
                              (unsigned long long)w->complained, w->bounce_rate,
                              level_name(w->bounce_level), w->complaint_rate,
                              level_name(w->complaint_level));
    }
    if (n < size)
        snprintf(out + n, size - n, " thresholds: bounce %.4f/%.4f complaint %.5f/%.5f",
                 h->bounce_warn, h->bounce_critical, h->complaint_warn, h->complaint_critical);
}

/* Asks verify about one organization and suspends it when critical. */
static void check_org(gw_autosuspend *a, const gw_org *org, xd_arena *arena)
{
    gw_ctx *ctx = a->ctx;
    if (org->operator_org || org->status != GW_ORG_ENABLED)
        return;
    Xd__GetOrgHealthRequest rq = XD__GET_ORG_HEALTH_REQUEST__INIT;
    rq.org_id = (char *)org->id;
    Xd__Caller caller = XD__CALLER__INIT;
    caller.role = XD__ROLE__ROLE_SERVICE;
    caller.principal = "gateway";
    xd_call_options co = {.timeout_ms = a->o.timeout_ms, .caller = &caller};
    ProtobufCMessage *m = NULL;
    xd_err err;
    xd_err_clear(&err);
    xd_code rc =
        xd_client_call(gw_backends_client(ctx->backends, GW_SVC_VERIFY), &co, "GetOrgHealth",
                       &rq.base, &xd__get_org_health_reply__descriptor, arena, &m, &err);
    if (rc != XD_OK) {
        XD_WARN("auto-suspension: health of organization %s unknown, left as it is: %s: %s",
                org->id, xd_code_name(rc), err.message);
        return;
    }
    const Xd__GetOrgHealthReply *h = (const Xd__GetOrgHealthReply *)m;
    char reason[GW_REASON_MAX + 1], figures[1024];
    if (!gw_autosuspend_judge(h, a->o.min_sent, reason, sizeof(reason)))
        return;
    describe(h, figures, sizeof(figures));
    int64_t now = xd_clock_now_ms(ctx->clock);
    if (gw_autosuspend_in_grace(org, now, a->o.grace_ms)) {
        XD_INFO("auto-suspension: organization %s is critical but stays enabled: key %s enabled "
                "it %lld ms ago (grace %lld ms) [verify: %s]",
                org->id, org->status_changed_by, (long long)(now - org->status_since_ms),
                (long long)a->o.grace_ms, figures);
        return;
    }
    int changed = 0;
    if (gw_store_auto_suspend(ctx->store, org->id, org->status_since_ms, reason, GW_AUTOSUSPEND_BY,
                              &changed, &err) != XD_OK) {
        XD_ERROR("auto-suspension: organization %s could not be suspended: %s", org->id,
                 err.message);
        return;
    }
    if (changed)
        XD_WARN("auto-suspension: organization %s (%s) suspended: %s [verify: %s]", org->id,
                org->name, reason, figures);
    else
        XD_INFO("auto-suspension: organization %s changed during the check; left as the operator "
                "set it",
                org->id);
}

static void sweep(gw_autosuspend *a)
{
    gw_org *orgs = calloc((size_t)a->o.batch, sizeof(gw_org));
    xd_arena *arena = xd_arena_new();
    xd_err err;
    xd_err_clear(&err);
    int n = 0;
    if (!orgs || !arena ||
        gw_store_list_orgs(a->ctx->store, a->cursor, a->o.batch, orgs, &n, &err) != XD_OK) {
        XD_ERROR("auto-suspension: cannot list organizations: %s", err.message);
        n = 0;
    }
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&a->lock);
        int stopping = a->stopping;
        pthread_mutex_unlock(&a->lock);
        if (stopping)
            break;
        check_org(a, &orgs[i], arena);
        xd_arena_reset(arena);
    }
    /* A short page means the end of the table: start over next time. */
    if (n == a->o.batch)
        snprintf(a->cursor, sizeof(a->cursor), "%s", orgs[n - 1].id);
    else
        a->cursor[0] = '\0';
    xd_arena_free(arena);
    free(orgs);
}

static void *thread_main(void *arg)
{
    gw_autosuspend *a = arg;
    pthread_mutex_lock(&a->lock);
    while (!a->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += a->o.interval_ms / 1000;
        until.tv_nsec += (a->o.interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        int r = 0;
        while (!a->stopping && r != ETIMEDOUT)
            r = pthread_cond_timedwait(&a->wake, &a->lock, &until);
        if (a->stopping)
            break;
        pthread_mutex_unlock(&a->lock);
        sweep(a);
        pthread_mutex_lock(&a->lock);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

xd_code gw_autosuspend_start(gw_ctx *ctx, const gw_autosuspend_options *o, gw_autosuspend **out,
                             xd_err *err)
{
    if (!ctx->backends)
        return xd_err_set(err, XD_FAILED_PRECONDITION, "auto_suspend needs verify_url");
    if (o->interval_ms < 1 || o->batch < 1 || o->batch > BATCH_MAX)
        return xd_err_set(err, XD_INVALID_ARGUMENT,
                          "auto_suspend_interval must be positive and auto_suspend_batch 1-%d",
                          BATCH_MAX);
    gw_autosuspend *a = calloc(1, sizeof(*a));
    if (!a)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    a->ctx = ctx;
    a->o = *o;
    pthread_mutex_init(&a->lock, NULL);
    xd_cond_init_monotonic(&a->wake);
    if (pthread_create(&a->thread, NULL, thread_main, a) != 0) {
        pthread_cond_destroy(&a->wake);
        pthread_mutex_destroy(&a->lock);
        free(a);
        return xd_err_set(err, XD_INTERNAL, "cannot start the auto-suspension thread");
    }
    XD_INFO("auto-suspension on: every %lld ms, %d organizations per sweep, grace %lld ms after "
            "an operator enables one, at least %llu recipients in a critical window",
            (long long)o->interval_ms, o->batch, (long long)o->grace_ms,
            (unsigned long long)o->min_sent);
    *out = a;
    return XD_OK;
}

void gw_autosuspend_stop(gw_autosuspend *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    a->stopping = 1;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->thread, NULL);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->lock);
    free(a);
}
