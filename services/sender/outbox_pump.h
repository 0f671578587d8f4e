/*
 * outbox_pump.h: one thread that moves the event outbox to
 * verify.RecordEvents in batches (at most 1000 events per call, oldest
 * first) and deletes a batch only when verify acknowledged it
 * (at-least-once; verify ignores repeated event ids). While verify is down
 * the events wait in SQLite and the pump backs off (doubling up to
 * max_backoff_ms): nothing is lost. Built against proto/verify.proto when
 * present; without it the pump never deletes anything.
 * Memory: the pump borrows the queue. Thread-safety: kick/stop from any
 * thread.
 */
#ifndef SND_OUTBOX_PUMP_H
#define SND_OUTBOX_PUMP_H

#include <stdint.h>
#include "queue_store.h"

typedef struct snd_pump snd_pump;

typedef struct snd_pump_config {
    const char *verify_url;
    size_t batch;           /* events per call; 0 = 500 */
    int64_t timeout_ms;     /* per call; 0 = 2000 */
    int64_t idle_ms;        /* poll when empty; 0 = 200 */
    int64_t max_backoff_ms; /* when verify fails; 0 = 10000 */
} snd_pump_config;

xd_code snd_pump_start(const snd_pump_config *cfg, snd_queue *q, snd_pump **out, xd_err *err);
void snd_pump_kick(snd_pump *p);
void snd_pump_stop(snd_pump *p);

/* Events acknowledged by verify since start. */
uint64_t snd_pump_acked(const snd_pump *p);

#endif
