/*
 * vf_store_internal.h: what the vf_store_*.c files share: the store struct,
 * cached prepared statements and small helpers. Not for handlers.
 * Thread-safety: callers hold store->lock around statement use.
 */
#ifndef VF_STORE_INTERNAL_H
#define VF_STORE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>

#include "vf_store.h"
#include "xd/db.h"

enum {
    VF_ST_EVENT_INSERT,
    VF_ST_ROW_SELECT,
    VF_ST_ROW_INSERT,
    VF_ST_ROW_UPDATE,
    VF_ST_ROW_UPDATE_LIGHT,
    VF_ST_NOTE_INSERT,
    VF_ST_MONTHLY_ADD,
    VF_ST_DAILY_ADD,
    VF_ST_DOMAIN_MONTHLY_ADD,
    VF_ST_COUNT = 64,
};

typedef struct vf_pending vf_pending;

struct vf_store {
    sqlite3 *db;
    const xd_clock *clock;
    vf_settings settings;
    pthread_mutex_t lock;
    sqlite3_stmt *stmts[VF_ST_COUNT];
    vf_pending *pending; /* counter deltas of the open transaction */
};

/* Counter deltas: gathered per key during a transaction, written by
 * vf_pending_flush() just before the commit; cleared on rollback. */
vf_pending *vf_pending_new(void);
void vf_pending_free(vf_pending *p);
void vf_pending_clear(vf_pending *p);
xd_code vf_pending_flush(vf_store *s, xd_err *err);
xd_code vf_pending_add(vf_store *s, const char *org, const char *month, const char *client,
                       const char *module, int64_t day, const char *domain, int category,
                       const int64_t *delta, int sign, xd_err *err);

/* Commits after flushing counters, or rolls back and drops them. */
xd_code vf_finish_tx(vf_store *s, xd_code rc, xd_err *err);

/* Prepares sql once into slot which, resets and clears it; NULL on error. */
sqlite3_stmt *vf_stmt(vf_store *s, int which, const char *sql);
void vf_store_finalize_all(vf_store *s);

void vf_lower_copy(const char *s, char *out, size_t size);
void vf_month_of(int64_t ms, char *out, size_t size);

/* Applies one validated event inside an open transaction; *dup = 1 when its
 * id was seen before. */
xd_code vf_apply_event(vf_store *s, const vf_event *ev, int *dup, xd_err *err);

/* Adds a suppression inside an open transaction. */
xd_code vf_suppress_locked(vf_store *s, const vf_suppression *sup, int *created, xd_err *err);

#endif
