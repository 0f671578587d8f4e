/* tk_recheck.c: intake check at Create and the background re-check. */
#include "tk_recheck.h"
#include "xd/log.h"
#include "xd/clock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tk_recheck {
    tk_store *store;
    const xd_clock *clock;
    tk_diagnose_fn fn;
    void *fn_ctx;
    tk_recheck_options o;
    pthread_t thread;
    int has_thread;
    int stop;
    pthread_mutex_t lock;
    pthread_cond_t wake;
};

xd_code tk_check_once(tk_diagnose_fn fn, void *fn_ctx, const tk_diagnose_query *q,
                      const tk_intake_facts *facts, int64_t now_ms, int attempts, xd_arena *arena,
                      tk_assessment *a, tk_findings *f)
{
    tk_diagnosis *d = xd_arena_alloc(arena, sizeof(*d));
    xd_err err;
    xd_err_clear(&err);
    xd_code rc = fn(fn_ctx, q, arena, d, &err);
    if (rc == XD_OK) {
        tk_intake_assess(facts, d, a);
        tk_intake_findings(TK_FINDINGS_COMPLETE, d, a, now_ms, attempts, "", f);
        return XD_OK;
    }
    const char *why = xd_arena_printf(arena, "%s: %s", xd_code_name(rc), err.message);
    tk_findings_state state = tk_intake_error_state(rc);
    if (state == TK_FINDINGS_PENDING)
        tk_intake_pending(why, a);
    else
        tk_intake_failed(why, a);
    tk_intake_findings(state, NULL, a, now_ms, attempts, why, f);
    return rc;
}

int64_t tk_recheck_delay_ms(const tk_recheck_options *o, int attempts)
{
    int64_t delay = o->interval_ms;
    for (int i = 1; i < attempts && delay < o->max_interval_ms; i++)
        delay *= 2;
    return delay < o->max_interval_ms ? delay : o->max_interval_ms;
}

/* Re-checks one pending ticket: 1 when its findings are now final, 0 when
 * still pending, -1 when verify is unreachable (the rest of the batch would
 * fail the same way: wait for the next round). */
static int recheck_ticket(tk_recheck *r, const tk_ticket *t, xd_arena *arena)
{
    char name[24];
    tk_format_id(t->id, name, sizeof(name));
    tk_diagnose_query q = {.org_id = t->org_id,
                           .recipient = t->recipient,
                           .message_id = t->message_id,
                           .around_ms = t->occurred_ms};
    tk_intake_facts facts = {.recipient = t->recipient,
                             .recipient_domain = t->recipient_domain,
                             .module = t->module,
                             .issue_type = t->issue_type};
    int attempts = t->findings.attempts + 1;
    int64_t now = xd_clock_now_ms(r->clock);
    tk_assessment a;
    tk_findings f;
    xd_code asked = tk_check_once(r->fn, r->fn_ctx, &q, &facts, now, attempts, arena, &a, &f);
    const char *note = NULL;
    if (f.state == TK_FINDINGS_PENDING)
        f.next_check_ms = now + tk_recheck_delay_ms(&r->o, attempts);
    else
        note = xd_arena_printf(
            arena, "Intake check done after %d attempt%s: %s Next step: %s", attempts,
            attempts == 1 ? "" : "s",
            f.state == TK_FINDINGS_COMPLETE && f.d.summary && *f.d.summary ? f.d.summary : "",
            a.next_step);
    xd_err err;
    if (tk_store_record_check(r->store, t->id, &f, a.first_status, note, &err) != XD_OK) {
        XD_WARN("re-check of %s not recorded: %s", name, err.message);
        return -1; /* the store is in trouble: try again next round */
    }
    if (f.state == TK_FINDINGS_PENDING)
        XD_INFO("re-check of %s: verify still unavailable (%s); next in %lld ms", name,
                f.last_error, (long long)(f.next_check_ms - now));
    else
        XD_INFO("re-check of %s: findings %s, verdict %s, status %s", name,
                f.state == TK_FINDINGS_COMPLETE ? "complete" : "failed",
                tk_verdict_name(f.d.verdict), tk_status_name(a.first_status));
    if (f.state != TK_FINDINGS_PENDING)
        return 1;
    return asked == XD_UNAVAILABLE ? -1 : 0;
}

int tk_recheck_run_once(tk_recheck *r)
{
    xd_arena *arena = xd_arena_new();
    if (!arena)
        return 0;
    tk_ticket **due = NULL;
    int n = 0, done = 0;
    xd_err err;
    if (tk_store_due_checks(r->store, xd_clock_now_ms(r->clock), r->o.batch, arena, &due, &n,
                            &err) != XD_OK)
        XD_WARN("re-check: cannot read pending tickets: %s", err.message);
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&r->lock);
        int stop = r->stop;
        pthread_mutex_unlock(&r->lock);
        if (stop)
            break;
        int result = recheck_ticket(r, due[i], arena);
        if (result < 0)
            break;
        done += result;
    }
    xd_arena_free(arena);
    return done;
}

static void *recheck_main(void *p)
{
    tk_recheck *r = p;
    pthread_mutex_lock(&r->lock);
    while (!r->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += r->o.interval_ms / 1000;
        until.tv_nsec += (r->o.interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!r->stop && pthread_cond_timedwait(&r->wake, &r->lock, &until) == 0)
            ;
        if (r->stop)
            break;
        pthread_mutex_unlock(&r->lock);
        tk_recheck_run_once(r);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

xd_code tk_recheck_start(tk_store *store, const xd_clock *clock, tk_diagnose_fn fn, void *fn_ctx,
                         const tk_recheck_options *o, int start_thread, tk_recheck **out,
                         xd_err *err)
{
    if (o->interval_ms <= 0 || o->max_interval_ms < o->interval_ms)
        return xd_err_set(err, XD_INVALID_ARGUMENT,
                          "recheck_interval must be > 0 and <= recheck_max_interval");
    tk_recheck *r = calloc(1, sizeof(*r));
    if (!r)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    r->store = store;
    r->clock = clock;
    r->fn = fn;
    r->fn_ctx = fn_ctx;
    r->o = *o;
    if (r->o.batch <= 0)
        r->o.batch = 20;
    pthread_mutex_init(&r->lock, NULL);
    xd_cond_init_monotonic(&r->wake);
    if (start_thread) {
        if (pthread_create(&r->thread, NULL, recheck_main, r) != 0) {
            pthread_cond_destroy(&r->wake);
            pthread_mutex_destroy(&r->lock);
            free(r);
            return xd_err_set(err, XD_INTERNAL, "cannot start the re-check thread");
        }
        r->has_thread = 1;
    }
    *out = r;
    return XD_OK;
}

void tk_recheck_stop(tk_recheck *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = 1;
    pthread_cond_broadcast(&r->wake);
    pthread_mutex_unlock(&r->lock);
    if (r->has_thread)
        pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
