/*
 * deliver_internal.h: the worker pool struct shared by deliver_worker.c
 * (threads) and deliver_group.c (one group's delivery). Not for use
 * elsewhere. Thread-safety: mu guards stop and the condition variable.
 */
#ifndef SND_DELIVER_INTERNAL_H
#define SND_DELIVER_INTERNAL_H

#include <pthread.h>
#include "deliver_worker.h"

struct snd_deliver {
    snd_deliver_config cfg;
    snd_deliver_deps deps;
    pthread_t *threads;
    int n_threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    unsigned kicks;
};

int snd_deliver_stopping(snd_deliver *d);

/* Sleeps pause_ms or until stop; returns 1 when the pool is stopping. */
int snd_deliver_pause(snd_deliver *d, int64_t pause_ms);

#endif
