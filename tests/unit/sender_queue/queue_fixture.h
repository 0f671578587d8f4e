/*
 * queue_fixture.h: a sender queue on a manual clock over a real SQLite file
 * in a fresh temp dir, and Submit with real packed requests, for the queue
 * tests.
 */
#ifndef XD_TEST_QUEUE_FIXTURE_H
#define XD_TEST_QUEUE_FIXTURE_H

#include "queue_store.h"
#include "xd/clock.h"

#define T0 1800000000000LL /* 2027-01-15, an arbitrary fixed start */

typedef struct fixture {
    char dir[256];
    char path[300];
    xd_clock *clock;
    snd_queue *q;
    snd_queue_config cfg;
} fixture;

/* A queue with cfg (zeroes = the defaults under test) on a fresh file in a
 * new directory under /tmp, or under parent when it is not NULL. */
fixture *fixture_new(const snd_queue_config *cfg);
fixture *fixture_new_in(const char *parent, const snd_queue_config *cfg);
/* Closes and opens the queue again, as a restart does. */
void reopen(fixture *f);
void fixture_free(fixture *f);

typedef struct sub_opts {
    const char *org, *domain, *key;
    size_t n;
    int64_t send_at_ms;
} sub_opts;

/* Submits n recipients rcpt<i>@<domain>; *res receives the reply (free
 * with snd_submit_result_free); err may be NULL. */
xd_code submit_err(fixture *f, const sub_opts *o, snd_submit_result *res, xd_err *err);
xd_code submit(fixture *f, const sub_opts *o, snd_submit_result *res);

#endif
