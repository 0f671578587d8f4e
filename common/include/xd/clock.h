/*
 * clock.h: wall-clock time that tests can set.
 *
 * Service logic takes a `const xd_clock *` and never calls time() itself, so
 * tests drive windows, expiries and retries with a manual clock. The system
 * clock is a process-wide constant; a manual clock is owned by whoever
 * created it. Thread-safety: reading and setting a manual clock are atomic.
 */
#ifndef XD_CLOCK_H
#define XD_CLOCK_H

#include <pthread.h>
#include <stdint.h>

typedef struct xd_clock xd_clock;

/* The real clock (CLOCK_REALTIME). Never freed. */
const xd_clock *xd_clock_system(void);

/* A clock that only moves when told; starts at start_ms (Unix ms). Free with
 * xd_clock_free(). */
xd_clock *xd_clock_manual_new(int64_t start_ms);
void xd_clock_set_ms(xd_clock *clock, int64_t now_ms);
void xd_clock_advance_ms(xd_clock *clock, int64_t delta_ms);
void xd_clock_free(xd_clock *clock);

/* Unix time in milliseconds according to clock. */
int64_t xd_clock_now_ms(const xd_clock *clock);

/* Monotonic milliseconds (CLOCK_MONOTONIC), for deadlines and timing. */
int64_t xd_monotonic_ms(void);

/* Monotonic nanoseconds, for benchmarks. */
int64_t xd_monotonic_ns(void);

/* Fills out with CLOCK_MONOTONIC now + wait_ms, for pthread_cond_timedwait
 * on a condition variable created with CLOCK_MONOTONIC. */
struct timespec;
void xd_monotonic_deadline(int64_t wait_ms, struct timespec *out);

/* Initialises cv to time its waits by CLOCK_MONOTONIC (immune to wall-clock
 * jumps), the clock xd_monotonic_deadline fills. */
void xd_cond_init_monotonic(pthread_cond_t *cv);

/* Formats Unix ms as RFC 3339 UTC ("2026-11-27T21:44:00.123Z") into out
 * (at least 32 bytes). */
void xd_format_rfc3339(int64_t unix_ms, char *out, unsigned out_size);

#endif
