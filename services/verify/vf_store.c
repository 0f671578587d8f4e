/* vf_store.c: schema, connection and the message log. See vf_store.h. */
#include "vf_store_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xd/util.h"

static const char *const migrations[] = {
    "CREATE TABLE recipients("
    " id INTEGER PRIMARY KEY,"
    " org_id TEXT NOT NULL, message_id TEXT NOT NULL, recipient TEXT NOT NULL,"
    " domain TEXT NOT NULL,"
    " client_id TEXT NOT NULL DEFAULT '', module TEXT NOT NULL DEFAULT '',"
    " category TEXT NOT NULL DEFAULT '', message_id_header TEXT NOT NULL DEFAULT '',"
    " subject TEXT NOT NULL DEFAULT '', from_addr TEXT NOT NULL DEFAULT '',"
    " state INTEGER NOT NULL DEFAULT 0, state_time_ms INTEGER NOT NULL DEFAULT 0,"
    " state_seq INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL,"
    " queued_ms INTEGER NOT NULL DEFAULT 0, deferred_ms INTEGER NOT NULL DEFAULT 0,"
    " delivered_ms INTEGER NOT NULL DEFAULT 0, bounced_ms INTEGER NOT NULL DEFAULT 0,"
    " expired_ms INTEGER NOT NULL DEFAULT 0, suppressed_ms INTEGER NOT NULL DEFAULT 0,"
    " complained_ms INTEGER NOT NULL DEFAULT 0, unsubscribed_ms INTEGER NOT NULL DEFAULT 0,"
    " cancelled_ms INTEGER NOT NULL DEFAULT 0, sending_ms INTEGER NOT NULL DEFAULT 0,"
    " reply_code INTEGER NOT NULL DEFAULT 0, reply_enhanced TEXT NOT NULL DEFAULT '',"
    " reply_text TEXT NOT NULL DEFAULT '', reply_time_ms INTEGER NOT NULL DEFAULT 0,"
    " reply_seq INTEGER NOT NULL DEFAULT 0, remote_host TEXT NOT NULL DEFAULT '',"
    " tls_version TEXT NOT NULL DEFAULT '', failure_category INTEGER NOT NULL DEFAULT 0,"
    " events INTEGER NOT NULL DEFAULT 0,"
    " UNIQUE(org_id, message_id, recipient));"
    "CREATE INDEX recipients_by_rcpt ON recipients(org_id, recipient, created_ms);"
    "CREATE INDEX recipients_by_client ON recipients(org_id, client_id, created_ms);"
    "CREATE INDEX recipients_by_created ON recipients(created_ms);"
    "CREATE TABLE events(org_id TEXT NOT NULL, event_id TEXT NOT NULL,"
    " message_id TEXT NOT NULL, recipient TEXT NOT NULL, state INTEGER NOT NULL,"
    " time_ms INTEGER NOT NULL,"
    " PRIMARY KEY(org_id, event_id)) WITHOUT ROWID;"
    "CREATE TABLE case_notes(recipient_row INTEGER PRIMARY KEY, org_id TEXT NOT NULL,"
    " delivered_ms INTEGER NOT NULL, remote_host TEXT NOT NULL, reply_code INTEGER NOT NULL,"
    " reply_enhanced TEXT NOT NULL, reply_text TEXT NOT NULL, tls_version TEXT NOT NULL);"
    "CREATE TABLE counts_monthly(org_id TEXT NOT NULL, month TEXT NOT NULL,"
    " client_id TEXT NOT NULL, module TEXT NOT NULL, sent INTEGER NOT NULL,"
    " delivered INTEGER NOT NULL, deferred INTEGER NOT NULL, bounced INTEGER NOT NULL,"
    " suppressed INTEGER NOT NULL, complained INTEGER NOT NULL,"
    " PRIMARY KEY(org_id, month, client_id, module)) WITHOUT ROWID;"
    "CREATE TABLE counts_daily(org_id TEXT NOT NULL, day INTEGER NOT NULL,"
    " domain TEXT NOT NULL, category INTEGER NOT NULL, sent INTEGER NOT NULL,"
    " delivered INTEGER NOT NULL, deferred INTEGER NOT NULL, bounced INTEGER NOT NULL,"
    " suppressed INTEGER NOT NULL, complained INTEGER NOT NULL,"
    " PRIMARY KEY(org_id, day, domain, category)) WITHOUT ROWID;"
    "CREATE TABLE suppressions(org_id TEXT NOT NULL, address TEXT NOT NULL,"
    " scope TEXT NOT NULL, reason INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
    " expires_ms INTEGER NOT NULL, source TEXT NOT NULL, detail TEXT NOT NULL,"
    " PRIMARY KEY(org_id, address, scope)) WITHOUT ROWID;"
    "CREATE TABLE bounces(id INTEGER PRIMARY KEY, org_id TEXT NOT NULL,"
    " address TEXT NOT NULL, time_ms INTEGER NOT NULL, status TEXT NOT NULL,"
    " reply_code INTEGER NOT NULL, category INTEGER NOT NULL, reason TEXT NOT NULL,"
    " hard INTEGER NOT NULL, diagnostic TEXT NOT NULL);"
    "CREATE INDEX bounces_by_address ON bounces(org_id, address, time_ms);"
    "CREATE TABLE ingested(org_id TEXT NOT NULL, kind TEXT NOT NULL, doc_id TEXT NOT NULL,"
    " time_ms INTEGER NOT NULL, PRIMARY KEY(org_id, kind, doc_id)) WITHOUT ROWID;",
    /* 2: per-domain counters by month, so year-long domain reports read
     * months instead of days. */
    "CREATE TABLE counts_domain_monthly(org_id TEXT NOT NULL, month TEXT NOT NULL,"
    " domain TEXT NOT NULL, category INTEGER NOT NULL, sent INTEGER NOT NULL,"
    " delivered INTEGER NOT NULL, deferred INTEGER NOT NULL, bounced INTEGER NOT NULL,"
    " suppressed INTEGER NOT NULL, complained INTEGER NOT NULL,"
    " PRIMARY KEY(org_id, month, domain, category)) WITHOUT ROWID;"
    "INSERT INTO counts_domain_monthly SELECT org_id,"
    " strftime('%Y-%m', day * 86400, 'unixepoch'), domain, category, sum(sent),"
    " sum(delivered), sum(deferred), sum(bounced), sum(suppressed), sum(complained)"
    " FROM counts_daily GROUP BY 1, 2, 3, 4;",
};

void vf_settings_default(vf_settings *s)
{
    s->retention_ms = 400LL * 86400000;
    s->bounce_ttl_ms = 90LL * 86400000;
    s->complaint_warn = 0.001;
    s->complaint_critical = 0.003;
    s->bounce_warn = 0.05;
    s->bounce_critical = 0.10;
    snprintf(s->sending_host, sizeof s->sending_host, "smtp.xenegrade.net");
}

#define COPY_FIELD(f) (xd_strlcpy(buf->f, r->f ? r->f : "", sizeof buf->f), buf->rec.f = buf->f)

void vf_record_buf_copy(vf_record_buf *buf, const vf_record *r)
{
    buf->rec = *r;
    COPY_FIELD(org_id);
    COPY_FIELD(message_id);
    COPY_FIELD(recipient);
    COPY_FIELD(client_id);
    COPY_FIELD(module);
    COPY_FIELD(category);
    COPY_FIELD(message_id_header);
    COPY_FIELD(subject);
    COPY_FIELD(from);
    COPY_FIELD(reply_enhanced);
    COPY_FIELD(reply_text);
    COPY_FIELD(remote_host);
    COPY_FIELD(tls_version);
    COPY_FIELD(note_remote_host);
    COPY_FIELD(note_reply_enhanced);
    COPY_FIELD(note_reply_text);
    COPY_FIELD(note_tls_version);
}

xd_code vf_store_open(const char *path, const xd_clock *clock, const vf_settings *settings,
                      vf_store **out, xd_err *err)
{
    vf_store *s = calloc(1, sizeof *s);
    if (!s)
        return xd_err_set(err, XD_INTERNAL, "out of memory opening the verify store");
    s->clock = clock;
    if (settings)
        s->settings = *settings;
    else
        vf_settings_default(&s->settings);
    pthread_mutex_init(&s->lock, NULL);
    s->pending = vf_pending_new();
    if (!s->pending) {
        free(s);
        return xd_err_set(err, XD_INTERNAL, "out of memory opening the verify store");
    }
    xd_code rc = xd_db_open(path, migrations, (int)XD_ARRAY_LEN(migrations), NULL, &s->db, err);
    if (rc != XD_OK) {
        pthread_mutex_destroy(&s->lock);
        vf_pending_free(s->pending);
        free(s);
        return rc;
    }
    /* The log's indexes outgrow SQLite's 2 MiB default cache quickly; a
     * larger cache and memory-mapped reads keep point queries off the disk. */
    xd_db_exec(s->db, "PRAGMA cache_size=-65536", NULL);
    xd_db_exec(s->db, "PRAGMA mmap_size=268435456", NULL);
    *out = s;
    return XD_OK;
}

void vf_store_close(vf_store *store)
{
    if (!store)
        return;
    vf_store_finalize_all(store);
    xd_db_close(store->db);
    pthread_mutex_destroy(&store->lock);
    vf_pending_free(store->pending);
    free(store);
}

const vf_settings *vf_store_settings(const vf_store *store)
{
    return &store->settings;
}

const xd_clock *vf_store_clock(const vf_store *store)
{
    return store->clock;
}

void vf_domain_of(const char *address, char *out, size_t size)
{
    const char *at = strrchr(address, '@');
    const char *d = at ? at + 1 : "";
    size_t o = 0;
    for (; *d && o + 1 < size; d++)
        out[o++] = (char)((*d >= 'A' && *d <= 'Z') ? *d + 32 : *d);
    out[o] = '\0';
}

void vf_lower_copy(const char *s, char *out, size_t size)
{
    size_t o = 0;
    for (; s && *s && o + 1 < size; s++)
        out[o++] = (char)((*s >= 'A' && *s <= 'Z') ? *s + 32 : *s);
    out[o] = '\0';
}

void vf_month_of(int64_t ms, char *out, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, size, "%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
}

/* ---------------------------------------------------------- validation */

static xd_code check_text(const char *value, const char *field, size_t max, int required,
                          xd_err *err)
{
    size_t n = value ? strlen(value) : 0;
    if (required && n == 0)
        return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s is required", field);
    if (n > max)
        return xd_err_field(err, XD_INVALID_ARGUMENT, field,
                            "%s is %zu bytes long; at most %zu are allowed", field, n, max);
    if (n && xd_has_crlf_nul(value, n))
        return xd_err_field(err, XD_INVALID_ARGUMENT, field,
                            "%s contains CR or LF; send it as one line", field);
    return XD_OK;
}

xd_code vf_event_validate(const vf_event *ev, xd_err *err)
{
    xd_code rc;
    if ((rc = check_text(ev->event_id, "event_id", VF_MAX_ID, 1, err)) ||
        (rc = check_text(ev->org_id, "org_id", VF_MAX_ID, 1, err)) ||
        (rc = check_text(ev->message_id, "message_id", VF_MAX_ID, 1, err)) ||
        (rc = check_text(ev->recipient, "recipient", VF_MAX_ID, 1, err)) ||
        (rc = check_text(ev->client_id, "client_id", VF_MAX_ID, 0, err)) ||
        (rc = check_text(ev->module, "module", VF_MAX_ID, 0, err)) ||
        (rc = check_text(ev->category, "category", VF_MAX_ID, 0, err)) ||
        (rc = check_text(ev->message_id_header, "message_id_header", VF_MAX_ID, 0, err)) ||
        (rc = check_text(ev->subject, "subject", VF_MAX_TEXT, 0, err)) ||
        (rc = check_text(ev->from, "from", VF_MAX_ID, 0, err)) ||
        (rc = check_text(ev->reply_enhanced, "reply.enhanced_code", 16, 0, err)) ||
        (rc = check_text(ev->reply_text, "reply.text", VF_MAX_TEXT, 0, err)) ||
        (rc = check_text(ev->remote_host, "remote_host", VF_MAX_ID, 0, err)) ||
        (rc = check_text(ev->tls_version, "tls_version", 96, 0, err)))
        return rc;
    if (!strchr(ev->recipient, '@'))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "recipient",
                            "recipient '%.64s' has no '@'; give the full address", ev->recipient);
    if (ev->state <= XD__RECIPIENT_STATE__RECIPIENT_STATE_UNSPECIFIED ||
        ev->state > XD__RECIPIENT_STATE__RECIPIENT_STATE_SENDING)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "state",
                            "state %d is not a RecipientState; use QUEUED..SENDING", ev->state);
    if (ev->event_time_ms <= 0)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "event_time_ms",
                            "event_time_ms must be a positive Unix time in milliseconds");
    if (ev->reply_code > 599)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "reply.code",
                            "reply.code %u is not an SMTP reply code (200..599)", ev->reply_code);
    return XD_OK;
}

/* ---------------------------------------------------------- statements */

sqlite3_stmt *vf_stmt(vf_store *s, int which, const char *sql)
{
    if (!s->stmts[which]) {
        if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[which], NULL) !=
            SQLITE_OK) {
            return NULL;
        }
    }
    sqlite3_reset(s->stmts[which]);
    sqlite3_clear_bindings(s->stmts[which]);
    return s->stmts[which];
}

void vf_store_finalize_all(vf_store *s)
{
    for (int i = 0; i < VF_ST_COUNT; i++) {
        sqlite3_finalize(s->stmts[i]);
        s->stmts[i] = NULL;
    }
}

xd_code vf_finish_tx(vf_store *s, xd_code rc, xd_err *err)
{
    if (rc == XD_OK)
        rc = vf_pending_flush(s, err);
    if (rc == XD_OK)
        rc = xd_db_commit(s->db, err);
    if (rc != XD_OK) {
        xd_db_rollback(s->db);
        vf_pending_clear(s->pending);
    }
    return rc;
}
