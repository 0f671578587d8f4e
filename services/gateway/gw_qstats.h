/*
 * gw_qstats.h: the sender's queue depth and delivery outcomes for
 * GET /metrics, from sender.QueueStats, cached.
 *
 * A scrape never waits long for the sender: the figures are fetched at most
 * once per cache_ms (by the scrape that finds them stale; concurrent
 * scrapes use what is there), each fetch within timeout_ms. When the sender
 * does not answer, `xd_up{service="sender"} 0` is shown and the stale
 * figures are left out rather than shown as current.
 * Memory: owns its cache; the backends are borrowed and must outlive it.
 * Thread-safety: every function may be called from any thread.
 */
#ifndef GW_QSTATS_H
#define GW_QSTATS_H

#include <stddef.h>
#include <stdint.h>
#include "gw_backends.h"

typedef struct gw_qstats gw_qstats;

gw_qstats *gw_qstats_new(gw_backends *backends, int64_t cache_ms, int64_t timeout_ms);
void gw_qstats_free(gw_qstats *q);

/* The Prometheus text of the sender's figures (refreshed first when stale);
 * malloc'd, caller frees. */
char *gw_qstats_render(gw_qstats *q, size_t *len_out);

#endif
