/*
 * queue_stats.h: queue depth for metrics and operators (QueueStats): the
 * recipients in each state, the age of the oldest one still waiting, and
 * the events verify has not acknowledged yet.
 *
 * Cheap on a large queue: the per-state and outbox counts come from
 * queue_counts, which triggers keep in step with every recipient insert,
 * state change and delete and every outbox insert and delete
 * (sender_schema.c, migration 3); the oldest waiting recipient is the
 * first entry of a partial index. Nothing walks the queue.
 * Memory: plain out-struct. Thread-safety: locks the queue itself.
 */
#ifndef SND_QUEUE_STATS_H
#define SND_QUEUE_STATS_H

#include <stdint.h>

#include "queue_store.h"

typedef struct snd_queue_stats {
    int64_t counts[16];        /* by RecipientState value (SND_ST_*) */
    int64_t oldest_waiting_ms; /* born_ms of the oldest QUEUED/DEFERRED; 0 = none */
    int64_t outbox_pending;
} snd_queue_stats;

/* Statistics of one organization, or of all when org_id is NULL or "". */
xd_code snd_queue_stats_read(snd_queue *q, const char *org_id, snd_queue_stats *out, xd_err *err);

#endif
