/*
 * queue_internal.h: the queue's struct and helpers shared by queue_store.c,
 * queue_claim.c and outbox_store.c. Not for use elsewhere.
 * Memory: the queue owns its connection. Thread-safety: callers hold mu
 * around every use of db.
 */
#ifndef SND_QUEUE_INTERNAL_H
#define SND_QUEUE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include "queue_store.h"

struct snd_queue {
    sqlite3 *db;
    pthread_mutex_t mu;
    const xd_clock *clock;
    snd_queue_config cfg;
    /* Round-robin cursor over destinations: the (org, domain) claimed last,
     * so that one destination's backlog cannot starve the others. */
    char rr_org[129];
    char rr_domain[256];
};

typedef struct snd_event_row {
    const char *recipient_id, *message_id, *address;
    int state;
    int64_t time_ms;
    int64_t sequence;
    int code;
    const char *enhanced, *text, *remote_host, *tls_version;
    int failure;
} snd_event_row;

/* Inserts one outbox event (inside the caller's transaction). */
int snd_outbox_add(snd_queue *q, const snd_event_row *e);

/* Copies column col of st into out (size bytes, truncated). */
void snd_col_copy(sqlite3_stmt *st, int col, char *out, size_t size);

#endif
