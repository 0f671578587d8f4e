/*
 * vf_store.h: verify's SQLite store: message log, case notes, suppression
 * list, bounce and complaint records, and the counters behind the reports.
 *
 * Every query takes the organization explicitly and filters on it first:
 * there is no query without org_id. Events are applied idempotently by event
 * id; a recipient's current state is the one of its latest event by (event
 * time, sequence), whatever the arrival order. Reports read counter tables
 * (monthly per client/module, daily per domain/category) that each event
 * updates in the same transaction by subtracting the recipient's old
 * contribution and adding the new one, so reports cost O(groups), not
 * O(rows).
 * Memory: strings handed to row callbacks live only during the callback.
 * Thread-safety: one connection guarded by a mutex; safe from any thread.
 */
#ifndef VF_STORE_H
#define VF_STORE_H

#include <stdint.h>

#include "xd/clock.h"
#include "xd/status.h"
#include "verify.pb-c.h"

typedef struct vf_store vf_store;

typedef struct vf_settings {
    int64_t retention_ms;  /* message log retention (default 400 days) */
    int64_t bounce_ttl_ms; /* hard-bounce suppression lifetime (default 90 days) */
    double complaint_warn, complaint_critical; /* fractions, 0.001 = 0.1% */
    double bounce_warn, bounce_critical;
    char sending_host[128]; /* our outbound host, named in remedies */
} vf_settings;

/* Fills the defaults of the issue (400 days, 90 days, 0.1%/0.3%, 5%/10%). */
void vf_settings_default(vf_settings *s);

xd_code vf_store_open(const char *path, const xd_clock *clock, const vf_settings *settings,
                      vf_store **out, xd_err *err);
void vf_store_close(vf_store *store);
const vf_settings *vf_store_settings(const vf_store *store);
const xd_clock *vf_store_clock(const vf_store *store);

/* ---- events ---- */

#define VF_MAX_EVENTS 1000
#define VF_MAX_TEXT   998 /* longest subject / reply text kept */
#define VF_MAX_ID     256 /* longest id, address, host, client or module */

typedef struct vf_event {
    const char *event_id, *org_id, *message_id, *recipient;
    Xd__RecipientState state;
    int64_t event_time_ms;
    uint64_t sequence;
    const char *client_id, *module, *category, *message_id_header, *subject, *from;
    unsigned reply_code;
    const char *reply_enhanced, *reply_text, *remote_host, *tls_version;
    Xd__FailureCategory failure_category;
} vf_event;

/* Checks one event's fields (ids, sizes, CR/LF, state); names the field. */
xd_code vf_event_validate(const vf_event *ev, xd_err *err);

/* Applies n events in one transaction; replies only after the commit. */
xd_code vf_store_record(vf_store *store, const vf_event *events, int n, unsigned *applied,
                        unsigned *duplicates, xd_err *err);

/* ---- message log ---- */

typedef struct vf_record {
    int64_t row_id;
    const char *org_id, *message_id, *recipient, *client_id, *module, *category;
    const char *message_id_header, *subject, *from;
    Xd__RecipientState state;
    int64_t state_time_ms, created_ms;
    int64_t state_ms[11]; /* indexed by RecipientState; 0 = never */
    unsigned reply_code;
    const char *reply_enhanced, *reply_text, *remote_host, *tls_version;
    Xd__FailureCategory failure_category;
    unsigned events;
    /* Case note (delivery proof), when delivered_ms > 0. */
    int64_t note_delivered_ms;
    unsigned note_reply_code;
    const char *note_remote_host, *note_reply_enhanced, *note_reply_text, *note_tls_version;
} vf_record;

typedef void (*vf_record_fn)(void *ud, const vf_record *r);

typedef struct vf_query {
    const char *org_id;
    const char *message_id; /* by message ... */
    const char *recipient;  /* ... or by recipient and time range ... */
    const char *client_id;  /* ... or by client */
    int64_t from_ms, to_ms; /* created time, [from, to); 0 = unbounded */
    int delivered_only;
    unsigned page_size;     /* 0 = 100, capped at 1000 */
    const char *page_token; /* "" = first page */
} vf_query;

/* Calls fn for each record of the page; writes the next page token (""
 * when done) into next_token (>= 64 bytes). */
xd_code vf_store_query(vf_store *store, const vf_query *q, vf_record_fn fn, void *ud,
                       char *next_token, xd_err *err);

/* Formats the case note sentence for r into out. */
void vf_case_note_text(const vf_record *r, char *out, size_t size);

/* ---- suppression ---- */

typedef struct vf_suppression {
    const char *org_id, *address, *scope, *source, *detail;
    Xd__SuppressionReason reason; /* from verify.pb-c.h, as int */
    int64_t created_ms, expires_ms;
} vf_suppression;

typedef void (*vf_suppression_fn)(void *ud, const vf_suppression *s);

/* Adds or refreshes (same org, address, scope). *created = 0 when the same
 * entry existed. expires_ms 0 = default for the reason. Calls fn with the
 * stored entry. */
xd_code vf_store_suppress(vf_store *store, const vf_suppression *s, int *created,
                          vf_suppression_fn fn, void *ud, xd_err *err);
xd_code vf_store_unsuppress(vf_store *store, const char *org_id, const char *address,
                            const char *scope, int *removed, xd_err *err);
xd_code vf_store_list_suppressions(vf_store *store, const char *org_id, const char *address,
                                   int include_expired, unsigned page_size, const char *token,
                                   vf_suppression_fn fn, void *ud, char *next_token, xd_err *err);
/* The entry that blocks address for category now (fn called once), or
 * *found = 0. Unsubscribes and complaints do not block "transactional". */
xd_code vf_store_check_suppressed(vf_store *store, const char *org_id, const char *address,
                                  const char *category, int *found, vf_suppression_fn fn, void *ud,
                                  xd_err *err);

/* Bounces of address in the org since since_ms. */
xd_code vf_store_recent_bounces(vf_store *store, const char *org_id, const char *address,
                                int64_t since_ms, unsigned *count, xd_err *err);

/* ---- bounces and complaints ---- */

/* Marks an ingested document id; *first = 0 when it was seen before. Must
 * run inside vf_store_ingest_* (used by them). */
typedef struct vf_bounce vf_bounce;
xd_code vf_store_ingest_bounce(vf_store *store, const char *org_id, const char *bounce_id,
                               const char *message_id, const vf_bounce *b, unsigned *suppressed,
                               int *duplicate, xd_err *err);

typedef struct vf_arf vf_arf;
xd_code vf_store_ingest_complaint(vf_store *store, const char *org_id, const char *complaint_id,
                                  const vf_arf *a, unsigned *suppressed, int *duplicate,
                                  xd_err *err);

/* ---- reports ---- */

typedef struct vf_counts {
    uint64_t sent, delivered, deferred, bounced, suppressed, complained;
} vf_counts;

typedef void (*vf_counts_fn)(void *ud, const char *key, const vf_counts *c);

/* month "YYYY-MM". Calls total once (key NULL), then per client, per module. */
xd_code vf_store_counts(vf_store *store, const char *org_id, const char *month, vf_counts_fn total,
                        vf_counts_fn per_client, vf_counts_fn per_module, void *ud, xd_err *err);

typedef struct vf_domain_row {
    char domain[VF_MAX_ID];
    uint64_t volume, delivered, deferred, rejected, complained;
    uint64_t by_category[32];
} vf_domain_row;

/* Fills rows (caller frees *rows with free()), biggest volume first. */
xd_code vf_store_domain_report(vf_store *store, const char *org_id, int64_t from_ms, int64_t to_ms,
                               unsigned max_domains, vf_domain_row **rows, unsigned *n_rows,
                               xd_err *err);

/* Totals over the days [from_ms, to_ms) (by queued day), optionally one domain. */
xd_code vf_store_totals(vf_store *store, const char *org_id, const char *domain, int64_t from_ms,
                        int64_t to_ms, vf_counts *out, xd_err *err);

/* Deletes log rows older than the retention. */
xd_code vf_store_purge(vf_store *store, unsigned *deleted, xd_err *err);

/* Recomputes the counter tables from the log (after bulk loads). */
xd_code vf_store_rebuild_counters(vf_store *store, xd_err *err);

/* A record whose strings live in its own buffers (outlives callbacks). */
typedef struct vf_record_buf {
    vf_record rec; /* points into the buffers below */
    char org_id[VF_MAX_ID + 1], message_id[VF_MAX_ID + 1], recipient[VF_MAX_ID + 1];
    char client_id[VF_MAX_ID + 1], module[VF_MAX_ID + 1], category[VF_MAX_ID + 1];
    char message_id_header[VF_MAX_ID + 1], subject[VF_MAX_TEXT + 1], from[VF_MAX_ID + 1];
    char reply_enhanced[32], reply_text[VF_MAX_TEXT + 1], remote_host[VF_MAX_ID + 1];
    char tls_version[97], note_remote_host[VF_MAX_ID + 1], note_reply_enhanced[32];
    char note_reply_text[VF_MAX_TEXT + 1], note_tls_version[97];
} vf_record_buf;

void vf_record_buf_copy(vf_record_buf *buf, const vf_record *r);

/* "example.com" from "a@Example.COM" (lower-cased) into out. */
void vf_domain_of(const char *address, char *out, size_t size);

#endif
