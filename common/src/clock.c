/* clock.c: system and manual clocks. */
#include "xd/clock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct xd_clock {
    int manual;
    _Atomic int64_t now_ms;
};

static const xd_clock system_clock = {0, 0};

const xd_clock *xd_clock_system(void)
{
    return &system_clock;
}

xd_clock *xd_clock_manual_new(int64_t start_ms)
{
    xd_clock *clock = calloc(1, sizeof(*clock));
    if (!clock)
        abort();
    clock->manual = 1;
    atomic_store(&clock->now_ms, start_ms);
    return clock;
}

void xd_clock_set_ms(xd_clock *clock, int64_t now_ms)
{
    atomic_store(&clock->now_ms, now_ms);
}

void xd_clock_advance_ms(xd_clock *clock, int64_t delta_ms)
{
    atomic_fetch_add(&clock->now_ms, delta_ms);
}

void xd_clock_free(xd_clock *clock)
{
    if (clock && clock->manual)
        free(clock);
}

int64_t xd_clock_now_ms(const xd_clock *clock)
{
    if (clock && clock->manual)
        return atomic_load(&((xd_clock *)clock)->now_ms);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t xd_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t xd_monotonic_ms(void)
{
    return xd_monotonic_ns() / 1000000;
}

void xd_monotonic_deadline(int64_t wait_ms, struct timespec *out)
{
    clock_gettime(CLOCK_MONOTONIC, out);
    out->tv_sec += wait_ms / 1000;
    out->tv_nsec += (wait_ms % 1000) * 1000000;
    if (out->tv_nsec >= 1000000000) {
        out->tv_sec++;
        out->tv_nsec -= 1000000000;
    }
}

void xd_cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &attr);
    pthread_condattr_destroy(&attr);
}

void xd_format_rfc3339(int64_t unix_ms, char *out, unsigned out_size)
{
    time_t secs = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, out_size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(unix_ms % 1000 + 1000) % 1000);
}
