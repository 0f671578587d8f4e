/* vf_store_events.c: applying delivery events to the log and counters. */
#include "vf_store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xd/util.h"

#define DAY_MS 86400000LL

/* The columns a recipient's counter contribution depends on. */
typedef struct row_state {
    int64_t id, created_ms, state_time_ms, reply_time_ms;
    int64_t state_seq, reply_seq;
    int state, failure_category;
    int64_t state_ms[11];
    char domain[VF_MAX_ID], client_id[VF_MAX_ID], module[VF_MAX_ID];
} row_state;

typedef struct contribution {
    char month[16];
    int64_t day;
    int category;
    int64_t sent, delivered, deferred, bounced, suppressed, complained;
    char client_id[VF_MAX_ID], module[VF_MAX_ID]; /* the keys as they were then */
} contribution;

static void contribution_of(const row_state *r, contribution *c)
{
    vf_month_of(r->created_ms, c->month, sizeof c->month);
    c->day = r->created_ms / DAY_MS;
    c->sent = 1;
    c->delivered = r->state_ms[XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED] > 0;
    c->deferred = r->state_ms[XD__RECIPIENT_STATE__RECIPIENT_STATE_DEFERRED] > 0;
    c->bounced = r->state == XD__RECIPIENT_STATE__RECIPIENT_STATE_BOUNCED ||
                 r->state == XD__RECIPIENT_STATE__RECIPIENT_STATE_EXPIRED;
    c->suppressed = r->state == XD__RECIPIENT_STATE__RECIPIENT_STATE_SUPPRESSED;
    c->complained = r->state_ms[XD__RECIPIENT_STATE__RECIPIENT_STATE_COMPLAINED] > 0;
    c->category = c->bounced ? r->failure_category : 0;
    memcpy(c->client_id, r->client_id, sizeof c->client_id);
    memcpy(c->module, r->module, sizeof c->module);
}

static xd_code add_counters(vf_store *s, const char *org, const row_state *r, const contribution *c,
                            int sign, xd_err *err)
{
    int64_t v[6] = {c->sent, c->delivered, c->deferred, c->bounced, c->suppressed, c->complained};
    return vf_pending_add(s, org, c->month, c->client_id, c->module, c->day, r->domain, c->category,
                          v, sign, err);
}

/* Loads the row for (org, message, recipient); returns 1 found, 0 not, -1 error. */
static int load_row(vf_store *s, const char *org, const char *msg, const char *rcpt, row_state *r)
{
    sqlite3_stmt *st = vf_stmt(
        s, VF_ST_ROW_SELECT,
        "SELECT id, created_ms, state, state_time_ms, state_seq, reply_time_ms, reply_seq,"
        " failure_category, domain, client_id, module, queued_ms, deferred_ms, delivered_ms,"
        " bounced_ms, expired_ms, suppressed_ms, complained_ms, unsubscribed_ms, cancelled_ms,"
        " sending_ms FROM recipients WHERE org_id=?1 AND message_id=?2 AND recipient=?3");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, msg, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, rcpt, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return -1;
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(st, 0);
    r->created_ms = sqlite3_column_int64(st, 1);
    r->state = sqlite3_column_int(st, 2);
    r->state_time_ms = sqlite3_column_int64(st, 3);
    r->state_seq = sqlite3_column_int64(st, 4);
    r->reply_time_ms = sqlite3_column_int64(st, 5);
    r->reply_seq = sqlite3_column_int64(st, 6);
    r->failure_category = sqlite3_column_int(st, 7);
    snprintf(r->domain, sizeof r->domain, "%s", xd_db_column_text(st, 8));
    snprintf(r->client_id, sizeof r->client_id, "%s", xd_db_column_text(st, 9));
    snprintf(r->module, sizeof r->module, "%s", xd_db_column_text(st, 10));
    for (int i = 1; i <= 10; i++)
        r->state_ms[i] = sqlite3_column_int64(st, 10 + i);
    sqlite3_reset(st);
    return 1;
}

/* 1 when (t1, q1) is at least as late as (t2, q2). */
static int not_older(int64_t t1, int64_t q1, int64_t t2, int64_t q2)
{
    return t1 > t2 || (t1 == t2 && q1 >= q2);
}

/* One recipient being changed: loaded once, changed by each of its events
 * in memory, written once (a batch often holds several events of the same
 * recipient: queued, sending, delivered). */
typedef struct group {
    int active, found;
    const char *org, *msg;
    char rcpt[VF_MAX_ID + 1];
    row_state r;
    contribution before;
    int64_t old_created;
    unsigned applied;
    /* First non-empty descriptive fields, and the latest reply. */
    const char *category, *header_id, *subject, *from;
    int reply_set;
    unsigned reply_code;
    const char *reply_enhanced, *reply_text, *remote_host, *tls_version;
    const vf_event *delivered[8]; /* delivered events, for the case note */
    int n_delivered;
} group;

static const char *first_set(const char *have, const char *v)
{
    return (have && have[0]) ? have : (v ? v : "");
}

/* Binds parameters 2..30 and 35 shared by the row INSERT and UPDATE. */
static void bind_row(sqlite3_stmt *st, const group *g)
{
    const row_state *r = &g->r;
    sqlite3_bind_text(st, 2, r->client_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r->module, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, g->category ? g->category : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, g->header_id ? g->header_id : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, g->subject ? g->subject : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, g->from ? g->from : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 8, r->state);
    sqlite3_bind_int64(st, 9, r->state_time_ms);
    sqlite3_bind_int64(st, 10, r->state_seq);
    sqlite3_bind_int64(st, 11, r->created_ms);
    for (int i = 1; i <= 10; i++)
        sqlite3_bind_int64(st, 11 + i, r->state_ms[i]);
    sqlite3_bind_int(st, 22, r->failure_category);
    sqlite3_bind_int64(st, 23, r->reply_time_ms);
    sqlite3_bind_int64(st, 24, r->reply_seq);
    sqlite3_bind_int(st, 25, g->reply_set);
    sqlite3_bind_int(st, 26, (int)g->reply_code);
    sqlite3_bind_text(st, 27, g->reply_enhanced ? g->reply_enhanced : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 28, g->reply_text ? g->reply_text : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 29, g->remote_host ? g->remote_host : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 30, g->tls_version ? g->tls_version : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 35, (int)g->applied);
}

static xd_code group_begin(vf_store *s, group *g, const vf_event *ev, xd_err *err)
{
    memset(g, 0, sizeof *g);
    g->active = 1;
    g->org = ev->org_id;
    g->msg = ev->message_id;
    vf_lower_copy(ev->recipient, g->rcpt, sizeof g->rcpt);
    int found = load_row(s, g->org, g->msg, g->rcpt, &g->r);
    if (found < 0)
        return xd_db_fail(s->db, sqlite3_errcode(s->db), "read recipient", err);
    g->found = found;
    if (!found) {
        memset(&g->r, 0, sizeof g->r);
        vf_domain_of(g->rcpt, g->r.domain, sizeof g->r.domain);
        g->r.created_ms = ev->event_time_ms;
    } else {
        contribution_of(&g->r, &g->before);
    }
    g->old_created = g->r.created_ms;
    return XD_OK;
}

static int same_recipient(const group *g, const vf_event *ev)
{
    if (!g->active || strcmp(g->org, ev->org_id) != 0 || strcmp(g->msg, ev->message_id) != 0)
        return 0;
    char rcpt[VF_MAX_ID + 1];
    vf_lower_copy(ev->recipient, rcpt, sizeof rcpt);
    return strcmp(g->rcpt, rcpt) == 0;
}

/* Records the event id (idempotency, once per organization); *dup = 1 when
 * it was seen before. */
static xd_code insert_event(vf_store *s, const group *g, const vf_event *ev, int *dup, xd_err *err)
{
    sqlite3_stmt *st =
        vf_stmt(s, VF_ST_EVENT_INSERT, "INSERT OR IGNORE INTO events VALUES(?1,?2,?3,?4,?5,?6)");
    if (!st)
        return xd_db_fail(s->db, sqlite3_errcode(s->db), "prepare event", err);
    sqlite3_bind_text(st, 1, ev->org_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ev->event_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, ev->message_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, g->rcpt, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, ev->state);
    sqlite3_bind_int64(st, 6, ev->event_time_ms);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return xd_db_fail(s->db, rc, "insert event", err);
    *dup = sqlite3_changes(s->db) == 0;
    return XD_OK;
}

/* Applies one (new) event to the group's row in memory. */
static void group_apply(group *g, const vf_event *ev)
{
    row_state *r = &g->r;
    g->applied++;
    /* Metadata fills in when first known (events may arrive in any order). */
    if (!r->client_id[0] && ev->client_id)
        snprintf(r->client_id, sizeof r->client_id, "%s", ev->client_id);
    if (!r->module[0] && ev->module)
        snprintf(r->module, sizeof r->module, "%s", ev->module);
    g->category = first_set(g->category, ev->category);
    g->header_id = first_set(g->header_id, ev->message_id_header);
    g->subject = first_set(g->subject, ev->subject);
    g->from = first_set(g->from, ev->from);
    if (ev->event_time_ms < r->created_ms)
        r->created_ms = ev->event_time_ms;
    int64_t seq = (int64_t)(ev->sequence & INT64_MAX);
    int latest = (!g->found && g->applied == 1) ||
                 not_older(ev->event_time_ms, seq, r->state_time_ms, r->state_seq);
    if (latest) {
        r->state = ev->state;
        r->state_time_ms = ev->event_time_ms;
        r->state_seq = seq;
    }
    if (ev->event_time_ms > r->state_ms[ev->state])
        r->state_ms[ev->state] = ev->event_time_ms;
    int has_reply = ev->reply_code > 0 || (ev->remote_host && ev->remote_host[0]);
    if (has_reply && not_older(ev->event_time_ms, seq, r->reply_time_ms, r->reply_seq)) {
        r->reply_time_ms = ev->event_time_ms;
        r->reply_seq = seq;
        r->failure_category = ev->state == XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED
                                  ? 0
                                  : (int)ev->failure_category;
        g->reply_set = 1;
        g->reply_code = ev->reply_code;
        g->reply_enhanced = ev->reply_enhanced;
        g->reply_text = ev->reply_text;
        g->remote_host = ev->remote_host;
        g->tls_version = ev->tls_version;
    } else if (!has_reply && ev->failure_category && latest) {
        r->failure_category = ev->failure_category;
    }
    if (ev->state == XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED && g->n_delivered < 8)
        g->delivered[g->n_delivered++] = ev;
}

static xd_code write_note(vf_store *s, const group *g, const vf_event *ev, xd_err *err)
{
    /* The case note keeps the first acceptance: later bounces or complaints
     * never erase the proof of delivery. */
    sqlite3_stmt *note = vf_stmt(s, VF_ST_NOTE_INSERT,
                                 "INSERT INTO case_notes VALUES(?1,?2,?3,?4,?5,?6,?7,?8)"
                                 " ON CONFLICT DO UPDATE SET delivered_ms=excluded.delivered_ms,"
                                 " remote_host=excluded.remote_host,"
                                 " reply_code=excluded.reply_code,"
                                 " reply_enhanced=excluded.reply_enhanced,"
                                 " reply_text=excluded.reply_text,"
                                 " tls_version=excluded.tls_version"
                                 " WHERE excluded.delivered_ms < delivered_ms");
    if (!note)
        return xd_db_fail(s->db, sqlite3_errcode(s->db), "prepare case note", err);
    sqlite3_bind_int64(note, 1, g->r.id);
    sqlite3_bind_text(note, 2, g->org, -1, SQLITE_STATIC);
    sqlite3_bind_int64(note, 3, ev->event_time_ms);
    sqlite3_bind_text(note, 4, ev->remote_host ? ev->remote_host : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(note, 5, (int)ev->reply_code);
    sqlite3_bind_text(note, 6, ev->reply_enhanced ? ev->reply_enhanced : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(note, 7, ev->reply_text ? ev->reply_text : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(note, 8, ev->tls_version ? ev->tls_version : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(note);
    return rc == SQLITE_DONE ? XD_OK : xd_db_fail(s->db, rc, "insert case note", err);
}

#define VF_UPDATE_COMMON                                                                           \
    " category=CASE WHEN category='' THEN ?4 ELSE category END,"                                   \
    " message_id_header=CASE WHEN message_id_header='' THEN ?5 ELSE message_id_header END,"        \
    " subject=CASE WHEN subject='' THEN ?6 ELSE subject END,"                                      \
    " from_addr=CASE WHEN from_addr='' THEN ?7 ELSE from_addr END,"                                \
    " state=?8, state_time_ms=?9, state_seq=?10,"                                                  \
    " queued_ms=?12, deferred_ms=?13, delivered_ms=?14, bounced_ms=?15, expired_ms=?16,"           \
    " suppressed_ms=?17, complained_ms=?18, unsubscribed_ms=?19, cancelled_ms=?20,"                \
    " sending_ms=?21, failure_category=?22, reply_time_ms=?23, reply_seq=?24,"                     \
    " reply_code=CASE WHEN ?25 THEN ?26 ELSE reply_code END,"                                      \
    " reply_enhanced=CASE WHEN ?25 THEN ?27 ELSE reply_enhanced END,"                              \
    " reply_text=CASE WHEN ?25 THEN ?28 ELSE reply_text END,"                                      \
    " remote_host=CASE WHEN ?25 THEN ?29 ELSE remote_host END,"                                    \
    " tls_version=CASE WHEN ?25 THEN ?30 ELSE tls_version END, events=events+?35 WHERE id=?1"

/* Writes the group's row once, its case notes and its counter change. */
static xd_code group_flush(vf_store *s, group *g, xd_err *err)
{
    if (!g->active)
        return XD_OK;
    g->active = 0;
    if (g->applied == 0)
        return XD_OK; /* only duplicates: nothing changes */
    int rc;
    row_state *r = &g->r;
    if (!g->found) {
        /* A new recipient: one INSERT with every column. */
        sqlite3_stmt *ins = vf_stmt(
            s, VF_ST_ROW_INSERT,
            "INSERT INTO recipients(org_id, message_id, recipient, domain, client_id, module,"
            " category, message_id_header, subject, from_addr, state, state_time_ms, state_seq,"
            " created_ms, queued_ms, deferred_ms, delivered_ms, bounced_ms, expired_ms,"
            " suppressed_ms, complained_ms, unsubscribed_ms, cancelled_ms, sending_ms,"
            " failure_category, reply_time_ms, reply_seq, reply_code, reply_enhanced, reply_text,"
            " remote_host, tls_version, events) VALUES(?31,?32,?33,?34,?2,?3,?4,?5,?6,?7,?8,?9,"
            "?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,"
            "CASE WHEN ?25 THEN ?26 ELSE 0 END, CASE WHEN ?25 THEN ?27 ELSE '' END,"
            "CASE WHEN ?25 THEN ?28 ELSE '' END, CASE WHEN ?25 THEN ?29 ELSE '' END,"
            "CASE WHEN ?25 THEN ?30 ELSE '' END, ?35)");
        if (!ins)
            return xd_db_fail(s->db, sqlite3_errcode(s->db), "prepare insert", err);
        bind_row(ins, g);
        sqlite3_bind_text(ins, 31, g->org, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 32, g->msg, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 33, g->rcpt, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 34, r->domain, -1, SQLITE_STATIC);
        rc = sqlite3_step(ins);
        if (rc != SQLITE_DONE)
            return xd_db_fail(s->db, rc, "insert recipient", err);
        r->id = sqlite3_last_insert_rowid(s->db);
    } else {
        /* SQLite rewrites an index only when its columns are SET: the usual
         * update leaves client, module and queued time (all indexed) alone. */
        int keys_change = g->old_created != r->created_ms ||
                          strcmp(g->before.client_id, r->client_id) != 0 ||
                          strcmp(g->before.module, r->module) != 0;
        sqlite3_stmt *up = keys_change ? vf_stmt(s, VF_ST_ROW_UPDATE,
                                                 "UPDATE recipients SET client_id=?2, module=?3, "
                                                 "created_ms=?11," VF_UPDATE_COMMON)
                                       : vf_stmt(s, VF_ST_ROW_UPDATE_LIGHT,
                                                 "UPDATE recipients SET" VF_UPDATE_COMMON);
        if (!up)
            return xd_db_fail(s->db, sqlite3_errcode(s->db), "prepare update", err);
        sqlite3_bind_int64(up, 1, r->id);
        bind_row(up, g);
        rc = sqlite3_step(up);
        if (rc != SQLITE_DONE)
            return xd_db_fail(s->db, rc, "update recipient", err);
    }
    for (int i = 0; i < g->n_delivered; i++) {
        xd_code x = write_note(s, g, g->delivered[i], err);
        if (x != XD_OK)
            return x;
    }
    contribution after;
    contribution_of(r, &after);
    xd_code x;
    if (g->found && (x = add_counters(s, g->org, r, &g->before, -1, err)) != XD_OK)
        return x;
    return add_counters(s, g->org, r, &after, +1, err);
}

/* Applies events[0..n) in order; consecutive events of one recipient share
 * one read and one write of its row. */
static xd_code apply_events(vf_store *s, const vf_event *events, int n, unsigned *applied,
                            unsigned *dups, xd_err *err)
{
    group *g = calloc(1, sizeof *g);
    if (!g)
        return xd_err_set(err, XD_INTERNAL, "out of memory applying events");
    xd_code rc = XD_OK;
    for (int i = 0; rc == XD_OK && i < n; i++) {
        const vf_event *ev = &events[i];
        if (!same_recipient(g, ev)) {
            rc = group_flush(s, g, err);
            if (rc == XD_OK)
                rc = group_begin(s, g, ev, err);
            if (rc != XD_OK)
                break;
        }
        int dup = 0;
        rc = insert_event(s, g, ev, &dup, err);
        if (rc != XD_OK)
            break;
        if (dup) {
            (*dups)++;
            continue;
        }
        group_apply(g, ev);
        (*applied)++;
    }
    if (rc == XD_OK)
        rc = group_flush(s, g, err);
    free(g);
    return rc;
}

xd_code vf_apply_event(vf_store *s, const vf_event *ev, int *dup, xd_err *err)
{
    unsigned applied = 0, dups = 0;
    xd_code rc = apply_events(s, ev, 1, &applied, &dups, err);
    *dup = dups > 0;
    return rc;
}

xd_code vf_store_record(vf_store *store, const vf_event *events, int n, unsigned *applied,
                        unsigned *duplicates, xd_err *err)
{
    *applied = *duplicates = 0;
    if (n > VF_MAX_EVENTS)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "events",
                            "%d events in one call; send at most %d", n, VF_MAX_EVENTS);
    for (int i = 0; i < n; i++) {
        xd_code rc = vf_event_validate(&events[i], err);
        if (rc != XD_OK) {
            char field[XD_ERR_FIELD_MAX + 16];
            snprintf(field, sizeof field, "events[%d].%s", i, err->field);
            xd_strlcpy(err->field, field, sizeof err->field);
            return rc;
        }
    }
    pthread_mutex_lock(&store->lock);
    xd_code rc = xd_db_begin(store->db, err);
    unsigned ok = 0, dups = 0;
    if (rc == XD_OK)
        rc = apply_events(store, events, n, &ok, &dups, err);
    rc = vf_finish_tx(store, rc, err);
    pthread_mutex_unlock(&store->lock);
    if (rc == XD_OK) {
        *applied = ok;
        *duplicates = dups;
    }
    return rc;
}
