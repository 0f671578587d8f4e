/*
 * queue_internal.h: the queue's struct and helpers shared by queue_store.c,
 * queue_claim.c and outbox_store.c. Not for use elsewhere.
 * Memory: the queue owns its connection. Thread-safety: callers hold mu
 * around every use of db; writes take it through snd_qtx_begin/end.
 */
#ifndef SND_QUEUE_INTERNAL_H
#define SND_QUEUE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include "queue_store.h"

#define SND_Q_STMTS      40  /* cached prepared statements */
#define SND_QTX_OUTCOMES 256 /* transaction outcomes remembered */

struct snd_queue {
    sqlite3 *db;
    struct {
        sqlite3_stmt *st;
        int in_use;
    } stmts[SND_Q_STMTS]; /* queue_stmt.c; under mu */
    pthread_mutex_t mu;
    /* Group commit (queue_batch.c), all under mu but writers_waiting. */
    pthread_cond_t committed;   /* a transaction was committed or failed */
    atomic_int writers_waiting; /* writers blocked on mu */
    int tx_open;                /* the shared transaction is open */
    unsigned tx_ops;            /* writes in it */
    uint64_t gen;               /* number of the current/last transaction */
    uint64_t ended_gen;         /* last one that ended (they end in order) */
    /* Whether each of the last SND_QTX_OUTCOMES transactions committed, at
     * gen % SND_QTX_OUTCOMES: a writer waiting for its own transaction must
     * learn that one's fate, not the fate of a later one. */
    unsigned char gen_committed[SND_QTX_OUTCOMES];
    char fail_msg[200]; /* why the last failed one failed */
    int op_changes;     /* sqlite3_total_changes at the write's start */
    int op_must_wait;   /* the write read data it must see durable */
    int op_no_wait;     /* the write need not be durable on return */
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

/* Every write goes through these. begin locks mu and opens (or joins) the
 * shared transaction and a savepoint for this write; end keeps the write
 * (rc == XD_OK) or undoes it, returns only once the write is committed (or
 * failed: then an error), and unlocks. end returns rc, or the commit's
 * failure. On a failed begin, mu is not held. */
xd_code snd_qtx_begin(snd_queue *q, xd_err *err);
xd_code snd_qtx_end(snd_queue *q, xd_code rc, xd_err *err);
/* begin, after committing the writes pending in the open batch: for a write
 * that must see only durable rows (a claim hands mail to SMTP; a Submit
 * still in the batch could roll back after its mail left). */
xd_code snd_qtx_begin_committed(snd_queue *q, xd_err *err);
/* Marks the current write as needing durability although it changed
 * nothing (it answers from rows that may not be committed yet). */
void snd_qtx_must_wait(snd_queue *q);
/* Marks the current write as not needing durability on return: losing it
 * in a crash is harmless (a claim: SENDING rows go back to the queue at
 * start anyway), and a later commit makes it durable. */
void snd_qtx_no_wait(snd_queue *q);
/* With q->mu held: commits the shared transaction if one is open, so that
 * what is read next is durable. A read whose result leaves the process (the
 * outbox pump) must call it: an uncommitted batch can still roll back, and
 * its rowids would then be reused by other events. */
xd_code snd_qtx_flush_locked(snd_queue *q, xd_err *err);
void snd_qtx_init(snd_queue *q);
void snd_qtx_fini(snd_queue *q);

/* A prepared statement for sql from the cache (reset, no bindings), to be
 * handed back with snd_q_done (never sqlite3_finalize). Lock held. */
xd_code snd_q_prepare(snd_queue *q, const char *sql, sqlite3_stmt **out, xd_err *err);
void snd_q_done(snd_queue *q, sqlite3_stmt *st);
void snd_q_stmts_free(snd_queue *q);

/* Inserts one outbox event (inside the caller's transaction). */
int snd_outbox_add(snd_queue *q, const snd_event_row *e);

/* Copies column col of st into out (size bytes, truncated). */
void snd_col_copy(sqlite3_stmt *st, int col, char *out, size_t size);

#endif
