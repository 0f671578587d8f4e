/* deliver_worker.c: the worker threads (see deliver_worker.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deliver_internal.h"
#include "xd/log.h"
#include "xd/clock.h"

int snd_deliver_stopping(snd_deliver *d)
{
    pthread_mutex_lock(&d->mu);
    int s = d->stop;
    pthread_mutex_unlock(&d->mu);
    return s;
}

int snd_deliver_pause(snd_deliver *d, int64_t pause_ms)
{
    struct timespec ts;
    xd_monotonic_deadline(pause_ms, &ts);
    pthread_mutex_lock(&d->mu);
    while (!d->stop)
        if (pthread_cond_timedwait(&d->cv, &d->mu, &ts) == ETIMEDOUT)
            break;
    int stopping = d->stop;
    pthread_mutex_unlock(&d->mu);
    return stopping;
}

/* Sleeps until wake_at (Unix ms by the queue clock, mapped to a bounded
 * relative wait), a kick or stop. */
static void idle_wait(snd_deliver *d, int64_t next_due_ms, unsigned seen_kicks)
{
    int64_t now = xd_clock_now_ms(d->deps.clock);
    int64_t wait = d->cfg.idle_poll_ms;
    if (next_due_ms != INT64_MAX && next_due_ms - now < wait)
        wait = next_due_ms - now;
    if (wait < 1)
        wait = 1;
    struct timespec ts;
    xd_monotonic_deadline(wait, &ts);
    pthread_mutex_lock(&d->mu);
    while (!d->stop && d->kicks == seen_kicks) {
        if (pthread_cond_timedwait(&d->cv, &d->mu, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&d->mu);
}

static void *worker_main(void *arg)
{
    snd_deliver *d = arg;
    while (!snd_deliver_stopping(d)) {
        pthread_mutex_lock(&d->mu);
        unsigned kicks = d->kicks;
        pthread_mutex_unlock(&d->mu);
        snd_claim c;
        int64_t next_due = INT64_MAX;
        xd_err err;
        xd_err_clear(&err);
        if (snd_queue_claim(d->deps.queue, d->cfg.claim_max, &c, &next_due, &err) != XD_OK) {
            XD_WARN("delivery: cannot claim work: %s", err.message);
            idle_wait(d, xd_clock_now_ms(d->deps.clock) + 1000, kicks);
            continue;
        }
        if (c.n == 0) {
            snd_claim_free(&c);
            idle_wait(d, next_due, kicks);
            continue;
        }
        if (c.n >= d->cfg.claim_max)
            snd_deliver_kick(d); /* a full claim: more may wait, bring in the next worker */
        snd_deliver_group(d, &c);
        snd_claim_free(&c);
    }
    return NULL;
}

xd_code snd_deliver_start(const snd_deliver_config *cfg, const snd_deliver_deps *deps,
                          snd_deliver **out, xd_err *err)
{
    snd_deliver *d = calloc(1, sizeof *d);
    if (!d)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    d->cfg = *cfg;
    d->deps = *deps;
    if (!d->deps.clock)
        d->deps.clock = xd_clock_system();
    if (d->cfg.workers <= 0)
        d->cfg.workers = 4;
    if (d->cfg.claim_max == 0 || d->cfg.claim_max > 1000)
        d->cfg.claim_max = 100;
    if (d->cfg.tx_max_rcpts == 0 || d->cfg.tx_max_rcpts > SND_SMTP_MAX_RCPTS)
        d->cfg.tx_max_rcpts = 100;
    if (d->cfg.msgs_per_conn == 0)
        d->cfg.msgs_per_conn = 100;
    if (d->cfg.idle_poll_ms <= 0)
        d->cfg.idle_poll_ms = 1000;
    if (d->cfg.unreachable_retry_ms <= 0)
        d->cfg.unreachable_retry_ms = 30000;
    snd_smtp_timeouts_fill_defaults(&d->cfg.timeouts);
    pthread_mutex_init(&d->mu, NULL);
    xd_cond_init_monotonic(&d->cv);
    d->threads = calloc((size_t)d->cfg.workers, sizeof *d->threads);
    if (!d->threads) {
        free(d);
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    }
    for (int i = 0; i < d->cfg.workers; i++) {
        if (pthread_create(&d->threads[i], NULL, worker_main, d) != 0) {
            snd_deliver_stop(d);
            return xd_err_set(err, XD_INTERNAL, "cannot start delivery worker %d", i);
        }
        d->n_threads++;
    }
    *out = d;
    return XD_OK;
}

/* Wakes one idle worker: a Submit adds work for one claim, and a worker
 * whose claim was full wakes the next (below), so a backlog brings every
 * worker in without waking all of them for each message (each wake costs a
 * claim transaction). */
void snd_deliver_kick(snd_deliver *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    d->kicks++;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

void snd_deliver_stop(snd_deliver *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    d->stop = 1;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    for (int i = 0; i < d->n_threads; i++)
        pthread_join(d->threads[i], NULL);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d->threads);
    free(d);
}
