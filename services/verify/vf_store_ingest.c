/* vf_store_ingest.c: applying parsed bounces and complaints to the store. */
#include "vf_store_internal.h"

#include <stdio.h>
#include <string.h>

#include "vf_arf.h"
#include "vf_bounce.h"

enum { ST_INGESTED = 40, ST_BOUNCE_INSERT, ST_FIND_LATEST };

/* Records doc_id of kind; *first = 0 when seen before. */
static xd_code mark_ingested(vf_store *s, const char *org, const char *kind, const char *doc_id,
                             int *first, xd_err *err)
{
    sqlite3_stmt *st =
        vf_stmt(s, ST_INGESTED, "INSERT OR IGNORE INTO ingested VALUES(?1,?2,?3,?4)");
    if (!st)
        return xd_db_fail(s->db, sqlite3_errcode(s->db), "prepare ingested", err);
    sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, doc_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, xd_clock_now_ms(s->clock));
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return xd_db_fail(s->db, rc, "record ingested document", err);
    *first = sqlite3_changes(s->db) > 0;
    return XD_OK;
}

/* The latest log row for address (preferring the given message or
 * Message-ID header); copies its message id into msg_out. 1 found. */
static int find_latest(vf_store *s, const char *org, const char *addr, const char *message_id,
                       const char *header_id, char *msg_out, size_t size)
{
    sqlite3_stmt *st = vf_stmt(s, ST_FIND_LATEST,
                               "SELECT message_id FROM recipients WHERE org_id=?1 AND"
                               " recipient=?2 ORDER BY (message_id=?3 OR message_id_header=?4)"
                               " DESC, created_ms DESC LIMIT 1");
    if (!st)
        return 0;
    sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, addr, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, message_id ? message_id : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, header_id ? header_id : "", -1, SQLITE_STATIC);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found)
        snprintf(msg_out, size, "%s", xd_db_column_text(st, 0));
    sqlite3_reset(st);
    return found;
}

static xd_code apply_to_log(vf_store *s, const char *org, const char *addr, const char *event_id,
                            const char *message_id, const char *header_id, Xd__RecipientState state,
                            unsigned code, const char *status, const char *text, const char *host,
                            Xd__FailureCategory cat, xd_err *err)
{
    char msg[VF_MAX_ID + 1];
    if (!find_latest(s, org, addr, message_id, header_id, msg, sizeof msg))
        return XD_OK; /* nothing we sent: keep the record, no log change */
    vf_event ev = {0};
    ev.event_id = event_id;
    ev.org_id = org;
    ev.message_id = msg;
    ev.recipient = addr;
    ev.state = state;
    ev.event_time_ms = xd_clock_now_ms(s->clock);
    ev.reply_code = code >= 200 && code <= 599 ? code : 0;
    ev.reply_enhanced = status;
    ev.reply_text = text;
    ev.remote_host = host;
    ev.failure_category = cat;
    int dup;
    return vf_apply_event(s, &ev, &dup, err);
}

xd_code vf_store_ingest_bounce(vf_store *store, const char *org_id, const char *bounce_id,
                               const char *message_id, const vf_bounce *b, unsigned *suppressed,
                               int *duplicate, xd_err *err)
{
    *suppressed = 0;
    *duplicate = 0;
    int64_t now = xd_clock_now_ms(store->clock);
    pthread_mutex_lock(&store->lock);
    xd_code rc = xd_db_begin(store->db, err);
    int first = 1;
    if (rc == XD_OK)
        rc = mark_ingested(store, org_id, "bounce", bounce_id, &first, err);
    if (rc == XD_OK && !first)
        *duplicate = 1;
    int is_bounce = b->kind == VF_BOUNCE_DSN || b->kind == VF_BOUNCE_PROSE;
    for (int i = 0; rc == XD_OK && first && is_bounce && i < b->n; i++) {
        const vf_bounce_rcpt *r = &b->rcpts[i];
        int failed = strcmp(r->action, "failed") == 0;
        int delayed = strcmp(r->action, "delayed") == 0;
        if (!failed && !delayed)
            continue;
        if (failed) {
            sqlite3_stmt *st = vf_stmt(store, ST_BOUNCE_INSERT,
                                       "INSERT INTO bounces(org_id, address, time_ms, status,"
                                       " reply_code, category, reason, hard, diagnostic)"
                                       " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)");
            if (!st) {
                rc = xd_db_fail(store->db, sqlite3_errcode(store->db), "prepare bounce", err);
                break;
            }
            sqlite3_bind_text(st, 1, org_id, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, r->recipient, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, now);
            sqlite3_bind_text(st, 4, r->status, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 5, (int)r->reply_code);
            sqlite3_bind_int(st, 6, r->cls.category);
            sqlite3_bind_text(st, 7, r->cls.reason, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 8, r->cls.hard);
            sqlite3_bind_text(st, 9, r->diagnostic, -1, SQLITE_STATIC);
            int s = sqlite3_step(st);
            if (s != SQLITE_DONE) {
                rc = xd_db_fail(store->db, s, "store bounce", err);
                break;
            }
        }
        char event_id[VF_MAX_ID + 32];
        snprintf(event_id, sizeof event_id, "bounce:%.200s:%d", bounce_id, i);
        rc = apply_to_log(store, org_id, r->recipient, event_id, message_id, b->original_message_id,
                          failed ? XD__RECIPIENT_STATE__RECIPIENT_STATE_BOUNCED
                                 : XD__RECIPIENT_STATE__RECIPIENT_STATE_DEFERRED,
                          r->reply_code, r->status, r->diagnostic, r->remote_mta, r->cls.category,
                          err);
        if (rc == XD_OK && failed && r->cls.hard) {
            vf_suppression sup = {.org_id = org_id,
                                  .address = r->recipient,
                                  .scope = "",
                                  .reason = XD__SUPPRESSION_REASON__SUPPRESSION_REASON_HARD_BOUNCE,
                                  .source = "bounce",
                                  .detail = r->diagnostic};
            char detail[512];
            snprintf(detail, sizeof detail, "%s %s", r->status, r->diagnostic);
            sup.detail = detail;
            int created;
            rc = vf_suppress_locked(store, &sup, &created, err);
            if (rc == XD_OK)
                (*suppressed)++;
        }
    }
    rc = vf_finish_tx(store, rc, err);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

xd_code vf_store_ingest_complaint(vf_store *store, const char *org_id, const char *complaint_id,
                                  const vf_arf *a, unsigned *suppressed, int *duplicate,
                                  xd_err *err)
{
    *suppressed = 0;
    *duplicate = 0;
    pthread_mutex_lock(&store->lock);
    xd_code rc = xd_db_begin(store->db, err);
    int first = 1;
    if (rc == XD_OK)
        rc = mark_ingested(store, org_id, "complaint", complaint_id, &first, err);
    if (rc == XD_OK && !first)
        *duplicate = 1;
    int suppress = vf_arf_suppresses(a);
    int opt_out = strcmp(a->feedback_type, "opt-out") == 0;
    for (int i = 0; rc == XD_OK && first && suppress && i < a->n_rcpts; i++) {
        char event_id[VF_MAX_ID + 32];
        snprintf(event_id, sizeof event_id, "arf:%.200s:%d", complaint_id, i);
        rc = apply_to_log(store, org_id, a->rcpts[i], event_id, NULL, a->original_message_id,
                          opt_out ? XD__RECIPIENT_STATE__RECIPIENT_STATE_UNSUBSCRIBED
                                  : XD__RECIPIENT_STATE__RECIPIENT_STATE_COMPLAINED,
                          0, "", "", "", XD__FAILURE_CATEGORY__FAILURE_CATEGORY_UNSPECIFIED, err);
        if (rc != XD_OK)
            break;
        char detail[256];
        snprintf(detail, sizeof detail, "Feedback-Type %s from %.100s", a->feedback_type,
                 a->user_agent[0] ? a->user_agent : "(no User-Agent)");
        vf_suppression sup = {.org_id = org_id,
                              .address = a->rcpts[i],
                              .scope = "",
                              .reason =
                                  opt_out ? XD__SUPPRESSION_REASON__SUPPRESSION_REASON_UNSUBSCRIBED
                                          : XD__SUPPRESSION_REASON__SUPPRESSION_REASON_COMPLAINT,
                              .source = "arf",
                              .detail = detail};
        int created;
        rc = vf_suppress_locked(store, &sup, &created, err);
        if (rc == XD_OK)
            (*suppressed)++;
    }
    rc = vf_finish_tx(store, rc, err);
    pthread_mutex_unlock(&store->lock);
    return rc;
}
