/* vf_store_log.c: message log queries (by message, recipient, client). */
#include "vf_store_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xd/clock.h"

#define ROW_COLUMNS                                                                                \
    "r.id, r.org_id, r.message_id, r.recipient, r.client_id, r.module, r.category,"                \
    " r.message_id_header, r.subject, r.from_addr, r.state, r.state_time_ms, r.created_ms,"        \
    " r.queued_ms, r.deferred_ms, r.delivered_ms, r.bounced_ms, r.expired_ms, r.suppressed_ms,"    \
    " r.complained_ms, r.unsubscribed_ms, r.cancelled_ms, r.sending_ms, r.reply_code,"             \
    " r.reply_enhanced, r.reply_text, r.remote_host, r.tls_version, r.failure_category,"           \
    " r.events, n.delivered_ms, n.reply_code, n.remote_host, n.reply_enhanced, n.reply_text,"      \
    " n.tls_version FROM recipients r LEFT JOIN case_notes n ON n.recipient_row = r.id"

/* Each query mode has its own constant SQL and index. */
static const char *const sql_by_message =
    "SELECT " ROW_COLUMNS " WHERE r.org_id=?1 AND r.message_id=?2 AND r.id>?3"
    " AND (?4 = 0 OR r.delivered_ms > 0) ORDER BY r.id LIMIT ?5";
static const char *const sql_by_recipient =
    "SELECT " ROW_COLUMNS " WHERE r.org_id=?1 AND r.recipient=?2"
    " AND r.created_ms >= ?6 AND r.created_ms < ?7"
    " AND (r.created_ms < ?8 OR (r.created_ms = ?8 AND r.id < ?3))"
    " AND (?4 = 0 OR r.delivered_ms > 0) ORDER BY r.created_ms DESC, r.id DESC LIMIT ?5";
static const char *const sql_by_client =
    "SELECT " ROW_COLUMNS " WHERE r.org_id=?1 AND r.client_id=?2"
    " AND r.created_ms >= ?6 AND r.created_ms < ?7"
    " AND (r.created_ms < ?8 OR (r.created_ms = ?8 AND r.id < ?3))"
    " AND (?4 = 0 OR r.delivered_ms > 0) ORDER BY r.created_ms DESC, r.id DESC LIMIT ?5";

enum { ST_BY_MESSAGE = 20, ST_BY_RECIPIENT, ST_BY_CLIENT };

static void read_row(sqlite3_stmt *st, vf_record *r)
{
    memset(r, 0, sizeof *r);
    r->row_id = sqlite3_column_int64(st, 0);
    r->org_id = xd_db_column_text(st, 1);
    r->message_id = xd_db_column_text(st, 2);
    r->recipient = xd_db_column_text(st, 3);
    r->client_id = xd_db_column_text(st, 4);
    r->module = xd_db_column_text(st, 5);
    r->category = xd_db_column_text(st, 6);
    r->message_id_header = xd_db_column_text(st, 7);
    r->subject = xd_db_column_text(st, 8);
    r->from = xd_db_column_text(st, 9);
    r->state = (Xd__RecipientState)sqlite3_column_int(st, 10);
    r->state_time_ms = sqlite3_column_int64(st, 11);
    r->created_ms = sqlite3_column_int64(st, 12);
    for (int i = 1; i <= 10; i++)
        r->state_ms[i] = sqlite3_column_int64(st, 12 + i);
    r->reply_code = (unsigned)sqlite3_column_int(st, 23);
    r->reply_enhanced = xd_db_column_text(st, 24);
    r->reply_text = xd_db_column_text(st, 25);
    r->remote_host = xd_db_column_text(st, 26);
    r->tls_version = xd_db_column_text(st, 27);
    r->failure_category = (Xd__FailureCategory)sqlite3_column_int(st, 28);
    r->events = (unsigned)sqlite3_column_int(st, 29);
    r->note_delivered_ms = sqlite3_column_int64(st, 30);
    r->note_reply_code = (unsigned)sqlite3_column_int(st, 31);
    r->note_remote_host = xd_db_column_text(st, 32);
    r->note_reply_enhanced = xd_db_column_text(st, 33);
    r->note_reply_text = xd_db_column_text(st, 34);
    r->note_tls_version = xd_db_column_text(st, 35);
}

/* Tokens are "<created_ms>.<row id>" of the last row returned. */
static int parse_token(const char *token, int64_t *t, int64_t *id)
{
    if (!token || !token[0]) {
        *t = INT64_MAX;
        *id = INT64_MAX;
        return 0;
    }
    char *end;
    long long a = strtoll(token, &end, 10);
    if (*end != '.')
        return -1;
    long long b = strtoll(end + 1, &end, 10);
    if (*end != '\0' || b < 0)
        return -1;
    *t = a;
    *id = b;
    return 0;
}

xd_code vf_store_query(vf_store *store, const vf_query *q, vf_record_fn fn, void *ud,
                       char *next_token, xd_err *err)
{
    next_token[0] = '\0';
    if (!q->org_id || !q->org_id[0])
        return xd_err_field(err, XD_INVALID_ARGUMENT, "org_id", "an organization is required");
    int64_t tok_t, tok_id;
    if (parse_token(q->page_token, &tok_t, &tok_id) != 0)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "page.page_token",
                            "page_token is not one this service returned; pass "
                            "next_page_token back unchanged");
    unsigned limit = q->page_size == 0 ? 100 : q->page_size > 1000 ? 1000 : q->page_size;
    int which;
    const char *sql, *key;
    char lowered[VF_MAX_ID + 1];
    if (q->message_id && q->message_id[0]) {
        which = ST_BY_MESSAGE, sql = sql_by_message, key = q->message_id;
        if (!q->page_token || !q->page_token[0])
            tok_id = 0;
    } else if (q->recipient && q->recipient[0]) {
        vf_lower_copy(q->recipient, lowered, sizeof lowered);
        which = ST_BY_RECIPIENT, sql = sql_by_recipient, key = lowered;
    } else if (q->client_id && q->client_id[0]) {
        which = ST_BY_CLIENT, sql = sql_by_client, key = q->client_id;
    } else {
        return xd_err_field(err, XD_INVALID_ARGUMENT, "recipient",
                            "give a message_id, a recipient or a client_id to search by");
    }
    if (strlen(key) > VF_MAX_ID)
        return xd_err_set(err, XD_INVALID_ARGUMENT, "search key longer than %d bytes", VF_MAX_ID);
    pthread_mutex_lock(&store->lock);
    sqlite3_stmt *st = vf_stmt(store, which, sql);
    xd_code rc = XD_OK;
    if (!st) {
        rc = xd_db_fail(store->db, sqlite3_errcode(store->db), "prepare log query", err);
        goto done;
    }
    sqlite3_bind_text(st, 1, q->org_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, tok_id);
    sqlite3_bind_int(st, 4, q->delivered_only ? 1 : 0);
    sqlite3_bind_int(st, 5, (int)limit + 1);
    if (which != ST_BY_MESSAGE) {
        sqlite3_bind_int64(st, 6, q->from_ms > 0 ? q->from_ms : 0);
        sqlite3_bind_int64(st, 7, q->to_ms > 0 ? q->to_ms : INT64_MAX);
        sqlite3_bind_int64(st, 8, tok_t);
    }
    unsigned n = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        vf_record r;
        read_row(st, &r);
        if (n == limit) {
            break; /* one more exists: the page is full */
        }
        n++;
        fn(ud, &r);
        snprintf(next_token, 64, "%" PRId64 ".%" PRId64,
                 which == ST_BY_MESSAGE ? (int64_t)0 : r.created_ms, r.row_id);
    }
    if (step != SQLITE_ROW)
        next_token[0] = '\0'; /* ran out: no further page */
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = xd_db_fail(store->db, step, "read message log", err);
    sqlite3_reset(st);
done:
    pthread_mutex_unlock(&store->lock);
    return rc;
}

void vf_case_note_text(const vf_record *r, char *out, size_t size)
{
    char when[40];
    xd_format_rfc3339(r->note_delivered_ms, when, sizeof when);
    snprintf(out, size,
             "Accepted for delivery to %s at %s by %s with reply \"%u %s %s\"%s%s; message %s "
             "(Message-ID %s, subject \"%.120s\") from %s for client %s via %s.",
             r->recipient, when, r->note_remote_host[0] ? r->note_remote_host : "(unknown host)",
             r->note_reply_code, r->note_reply_enhanced, r->note_reply_text,
             r->note_tls_version[0] ? " over " : " without TLS",
             r->note_tls_version[0] ? r->note_tls_version : "", r->message_id,
             r->message_id_header[0] ? r->message_id_header : "(none)", r->subject, r->from,
             r->client_id[0] ? r->client_id : "(none)", r->module[0] ? r->module : "(none)");
}
