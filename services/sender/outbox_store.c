/* outbox_store.c: reading and acknowledging queued events (see queue_store.h). */
#include <stdlib.h>
#include <string.h>

#include "queue_internal.h"
#include "xd/db.h"

xd_code snd_outbox_fetch(snd_queue *q, size_t max, snd_event **out, size_t *n, xd_err *err)
{
    *out = NULL;
    *n = 0;
    if (max == 0)
        return XD_OK;
    snd_event *ev = calloc(max, sizeof *ev);
    if (!ev)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    pthread_mutex_lock(&q->mu);
    sqlite3_stmt *st = NULL;
    /* Only committed events may leave for verify (see snd_qtx_flush_locked). */
    xd_code rc = snd_qtx_flush_locked(q, err);
    if (rc == XD_OK)
        rc = snd_q_prepare(
            q,
            "SELECT o.id, o.event_id, o.recipient_id, o.message_id, o.address, o.state, "
            "o.event_time_ms, o.sequence, o.code, o.enhanced, o.text, o.remote_host, "
            "o.tls_version, "
            "o.failure, m.org_id, m.module, m.client_id, m.from_address, m.msgid_domain, "
            "m.subject, "
            "m.category, m.shared FROM outbox o JOIN messages m ON m.message_id = o.message_id "
            "ORDER BY o.id LIMIT ?1",
            &st, err);
    if (rc == XD_OK) {
        sqlite3_bind_int64(st, 1, (int64_t)max);
        int s;
        while (*n < max && (s = sqlite3_step(st)) == SQLITE_ROW) {
            snd_event *e = &ev[(*n)++];
            e->id = sqlite3_column_int64(st, 0);
            snd_col_copy(st, 1, e->event_id, sizeof e->event_id);
            snd_col_copy(st, 2, e->recipient_id, sizeof e->recipient_id);
            snd_col_copy(st, 3, e->message_id, sizeof e->message_id);
            snd_col_copy(st, 4, e->address, sizeof e->address);
            e->state = sqlite3_column_int(st, 5);
            e->event_time_ms = sqlite3_column_int64(st, 6);
            e->sequence = (uint64_t)sqlite3_column_int64(st, 7);
            e->code = sqlite3_column_int(st, 8);
            snd_col_copy(st, 9, e->enhanced, sizeof e->enhanced);
            snd_col_copy(st, 10, e->text, sizeof e->text);
            snd_col_copy(st, 11, e->remote_host, sizeof e->remote_host);
            snd_col_copy(st, 12, e->tls_version, sizeof e->tls_version);
            e->failure = sqlite3_column_int(st, 13);
            snd_col_copy(st, 14, e->org_id, sizeof e->org_id);
            snd_col_copy(st, 15, e->module, sizeof e->module);
            snd_col_copy(st, 16, e->client_id, sizeof e->client_id);
            snd_col_copy(st, 17, e->from_address, sizeof e->from_address);
            snd_col_copy(st, 18, e->msgid_domain, sizeof e->msgid_domain);
            snd_col_copy(st, 19, e->subject, sizeof e->subject);
            e->category = sqlite3_column_int(st, 20);
            e->shared = sqlite3_column_int(st, 21);
        }
        snd_q_done(q, st);
    }
    pthread_mutex_unlock(&q->mu);
    if (rc != XD_OK || *n == 0) {
        free(ev);
        *out = NULL;
        *n = 0;
        return rc;
    }
    *out = ev;
    return XD_OK;
}

xd_code snd_outbox_ack(snd_queue *q, int64_t last_id, xd_err *err)
{
    xd_code rc = snd_qtx_begin(q, err);
    if (rc != XD_OK)
        return rc;
    sqlite3_stmt *st = NULL;
    rc = snd_q_prepare(q, "DELETE FROM outbox WHERE id <= ?1", &st, err);
    if (rc == XD_OK) {
        sqlite3_bind_int64(st, 1, last_id);
        int s = sqlite3_step(st);
        if (s != SQLITE_DONE)
            rc = xd_db_fail(q->db, s, "deleting acknowledged events", err);
        snd_q_done(q, st);
    }
    return snd_qtx_end(q, rc, err);
}

int64_t snd_outbox_pending(snd_queue *q)
{
    pthread_mutex_lock(&q->mu);
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (snd_q_prepare(q, "SELECT count(*) FROM outbox", &st, NULL) == XD_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
        snd_q_done(q, st);
    }
    pthread_mutex_unlock(&q->mu);
    return n;
}
