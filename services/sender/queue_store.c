/* queue_store.c: Submit, GetMessage, Cancel on the queue (see queue_store.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_internal.h"
#include "sender_banner.h"
#include "sender_schema.h"
#include "xd/db.h"
#include "xd/util.h"

void snd_col_copy(sqlite3_stmt *st, int col, char *out, size_t size)
{
    xd_strlcpy(out, xd_db_column_text(st, col), size);
}

xd_code snd_queue_open(const char *path, const xd_clock *clock, const snd_queue_config *cfg,
                       snd_queue **out, xd_err *err)
{
    snd_queue *q = calloc(1, sizeof *q);
    if (!q)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    xd_code rc =
        xd_db_open(path, snd_schema_migrations, snd_schema_n_migrations, NULL, &q->db, err);
    if (rc != XD_OK) {
        free(q);
        return rc;
    }
    /* Statements that fire the queue_counts triggers keep a statement
     * journal; on disk it cost ~30 us per recipient row, in memory ~4. */
    rc = xd_db_exec(q->db, "PRAGMA temp_store = MEMORY", err);
    if (rc != XD_OK) {
        xd_db_close(q->db);
        free(q);
        return rc;
    }
    pthread_mutex_init(&q->mu, NULL);
    snd_qtx_init(q);
    q->clock = clock ? clock : xd_clock_system();
    if (cfg)
        q->cfg = *cfg;
    if (q->cfg.retry_initial_ms <= 0)
        q->cfg.retry_initial_ms = 5 * 60000;
    if (q->cfg.retry_max_ms <= 0)
        q->cfg.retry_max_ms = 4 * 3600000;
    if (q->cfg.max_age_ms <= 0)
        q->cfg.max_age_ms = 3LL * 86400000;
    *out = q;
    return XD_OK;
}

void snd_queue_close(snd_queue *q)
{
    if (!q)
        return;
    snd_q_stmts_free(q);
    xd_db_close(q->db);
    snd_qtx_fini(q);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

int snd_outbox_add(snd_queue *q, const snd_event_row *e)
{
    static const char *sql =
        "INSERT INTO outbox (event_id, recipient_id, message_id, address, state, event_time_ms, "
        "sequence, code, enhanced, text, remote_host, tls_version, failure) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
    sqlite3_stmt *st = NULL;
    if (snd_q_prepare(q, sql, &st, NULL) != XD_OK)
        return -1;
    char id[33];
    xd_random_hex(id, 16);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    xd_db_bind_text(st, 2, e->recipient_id);
    xd_db_bind_text(st, 3, e->message_id);
    xd_db_bind_text(st, 4, e->address);
    sqlite3_bind_int(st, 5, e->state);
    sqlite3_bind_int64(st, 6, e->time_ms);
    sqlite3_bind_int64(st, 7, e->sequence);
    sqlite3_bind_int(st, 8, e->code);
    xd_db_bind_text(st, 9, e->enhanced ? e->enhanced : "");
    xd_db_bind_text(st, 10, e->text ? e->text : "");
    xd_db_bind_text(st, 11, e->remote_host ? e->remote_host : "");
    xd_db_bind_text(st, 12, e->tls_version ? e->tls_version : "");
    sqlite3_bind_int(st, 13, e->failure);
    int rc = sqlite3_step(st);
    snd_q_done(q, st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Fills out->rcpts with the message's recipients in order. Lock held. */
static xd_code read_refs(snd_queue *q, const char *message_id, snd_submit_result *out, xd_err *err)
{
    sqlite3_stmt *st = NULL;
    xd_code rc = snd_q_prepare(q,
                               "SELECT recipient_id, address FROM recipients WHERE message_id = ?1 "
                               "ORDER BY seq",
                               &st, err);
    if (rc != XD_OK)
        return rc;
    xd_db_bind_text(st, 1, message_id);
    size_t cap = 0;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == cap) {
            cap = cap ? cap * 2 : 8;
            snd_rcpt_ref *n = realloc(out->rcpts, cap * sizeof *n);
            if (!n) {
                snd_q_done(q, st);
                return xd_err_set(err, XD_INTERNAL, "out of memory");
            }
            out->rcpts = n;
        }
        snd_col_copy(st, 0, out->rcpts[out->n].recipient_id, SND_ID_MAX);
        snd_col_copy(st, 1, out->rcpts[out->n].address, SND_ADDR_MAX);
        out->n++;
    }
    snd_q_done(q, st);
    if (s != SQLITE_DONE)
        return xd_db_fail(q->db, s, "reading recipients", err);
    xd_strlcpy(out->message_id, message_id, SND_ID_MAX);
    return XD_OK;
}

/* The message id stored under (org, key), or 0 when the key is new. */
static int find_key(snd_queue *q, const char *org, const char *key, char *mid)
{
    sqlite3_stmt *st = NULL;
    if (snd_q_prepare(q,
                      "SELECT message_id FROM submit_keys WHERE org_id = ?1 AND "
                      "idempotency_key = ?2",
                      &st, NULL) != XD_OK)
        return 0;
    xd_db_bind_text(st, 1, org);
    xd_db_bind_text(st, 2, key);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found)
        snd_col_copy(st, 0, mid, SND_ID_MAX);
    snd_q_done(q, st);
    return found;
}

static xd_code insert_message(snd_queue *q, const snd_submit *s, const char *mid, int64_t now,
                              xd_err *err)
{
    sqlite3_stmt *st = NULL;
    xd_code rc = snd_q_prepare(
        q,
        "INSERT INTO messages (message_id, org_id, module, client_id, from_address, msgid_domain, "
        "subject, category, shared, created_at_ms, send_at_ms, request) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        &st, err);
    if (rc != XD_OK)
        return rc;
    xd_db_bind_text(st, 1, mid);
    xd_db_bind_text(st, 2, s->org_id);
    xd_db_bind_text(st, 3, s->module ? s->module : "");
    xd_db_bind_text(st, 4, s->client_id ? s->client_id : "");
    xd_db_bind_text(st, 5, s->from_address ? s->from_address : "");
    xd_db_bind_text(st, 6, s->msgid_domain ? s->msgid_domain : "");
    xd_db_bind_text(st, 7, s->subject ? s->subject : "");
    sqlite3_bind_int(st, 8, s->category);
    sqlite3_bind_int(st, 9, s->shared);
    sqlite3_bind_int64(st, 10, now);
    sqlite3_bind_int64(st, 11, s->send_at_ms);
    sqlite3_bind_blob(st, 12, s->request, (int)s->request_len, SQLITE_STATIC);
    int r = sqlite3_step(st);
    snd_q_done(q, st);
    if (r != SQLITE_DONE)
        return xd_db_fail(q->db, r, "storing the message", err);
    return XD_OK;
}

static xd_code insert_recipients(snd_queue *q, const snd_submit *s, const char *mid, int64_t now,
                                 xd_err *err)
{
    sqlite3_stmt *st = NULL;
    xd_code rc = snd_q_prepare(
        q,
        "INSERT INTO recipients (recipient_id, message_id, org_id, seq, address, domain, state, "
        "born_ms, next_attempt_at_ms, updated_at_ms, event_seq) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8, ?9, 1)",
        &st, err);
    if (rc != XD_OK)
        return rc;
    int64_t due = s->send_at_ms > now ? s->send_at_ms : now;
    for (size_t i = 0; i < s->n && rc == XD_OK; i++) {
        char rid[SND_ID_MAX];
        snprintf(rid, sizeof rid, "%s-%zu", mid, i + 1);
        sqlite3_reset(st);
        xd_db_bind_text(st, 1, rid);
        xd_db_bind_text(st, 2, mid);
        xd_db_bind_text(st, 3, s->org_id);
        sqlite3_bind_int64(st, 4, (int64_t)i);
        xd_db_bind_text(st, 5, s->addresses[i]);
        xd_db_bind_text(st, 6, s->domains[i]);
        sqlite3_bind_int64(st, 7, due);
        sqlite3_bind_int64(st, 8, due);
        sqlite3_bind_int64(st, 9, now);
        int r = sqlite3_step(st);
        if (r != SQLITE_DONE) {
            rc = xd_db_fail(q->db, r, "storing a recipient", err);
            break;
        }
        snd_event_row e = {.recipient_id = rid,
                           .message_id = mid,
                           .address = s->addresses[i],
                           .state = SND_ST_QUEUED,
                           .time_ms = now,
                           .sequence = 1};
        if (snd_outbox_add(q, &e) != 0)
            rc = xd_db_fail(q->db, sqlite3_errcode(q->db), "storing an event", err);
    }
    snd_q_done(q, st);
    return rc;
}

xd_code snd_queue_submit(snd_queue *q, const snd_submit *s, snd_submit_result *out, xd_err *err)
{
    memset(out, 0, sizeof *out);
    int has_key = s->idempotency_key && s->idempotency_key[0];
    xd_code rc = snd_qtx_begin(q, err);
    if (rc != XD_OK)
        return rc;
    char mid[SND_ID_MAX];
    if (has_key && find_key(q, s->org_id, s->idempotency_key, mid)) {
        /* The first answer; through qtx_end so that a first Submit still
         * in the open transaction is durable before this reply. */
        rc = read_refs(q, mid, out, err);
        out->duplicate = 1;
        snd_qtx_must_wait(q);
        rc = snd_qtx_end(q, rc, err);
        if (rc != XD_OK)
            snd_submit_result_free(out);
        return rc;
    }
    int64_t now = xd_clock_now_ms(q->clock);
    mid[0] = 'm';
    xd_random_hex(mid + 1, 12);
    if (rc == XD_OK)
        rc = insert_message(q, s, mid, now, err);
    if (rc == XD_OK)
        rc = snd_banner_snapshot(q, s->org_id, s->module, mid, s->banner_of, err);
    if (rc == XD_OK)
        rc = insert_recipients(q, s, mid, now, err);
    if (rc == XD_OK && has_key) {
        sqlite3_stmt *st = NULL;
        rc = snd_q_prepare(q,
                           "INSERT INTO submit_keys (org_id, idempotency_key, message_id) "
                           "VALUES (?1, ?2, ?3)",
                           &st, err);
        if (rc == XD_OK) {
            xd_db_bind_text(st, 1, s->org_id);
            xd_db_bind_text(st, 2, s->idempotency_key);
            xd_db_bind_text(st, 3, mid);
            int r = sqlite3_step(st);
            if (r != SQLITE_DONE)
                rc = xd_db_fail(q->db, r, "storing the idempotency key", err);
            snd_q_done(q, st);
        }
    }
    if (rc == XD_OK)
        rc = read_refs(q, mid, out, err);
    rc = snd_qtx_end(q, rc, err);
    if (rc != XD_OK)
        snd_submit_result_free(out);
    return rc;
}

void snd_submit_result_free(snd_submit_result *r)
{
    if (!r)
        return;
    free(r->rcpts);
    r->rcpts = NULL;
    r->n = 0;
}

static const char *const MSG_COLS = "message_id, org_id, module, client_id, from_address, "
                                    "msgid_domain, subject, category, shared, created_at_ms, "
                                    "send_at_ms";

static void read_meta(sqlite3_stmt *st, snd_message_info *m)
{
    snd_col_copy(st, 0, m->message_id, sizeof m->message_id);
    snd_col_copy(st, 1, m->org_id, sizeof m->org_id);
    snd_col_copy(st, 2, m->module, sizeof m->module);
    snd_col_copy(st, 3, m->client_id, sizeof m->client_id);
    snd_col_copy(st, 4, m->from_address, sizeof m->from_address);
    snd_col_copy(st, 5, m->msgid_domain, sizeof m->msgid_domain);
    snd_col_copy(st, 6, m->subject, sizeof m->subject);
    m->category = sqlite3_column_int(st, 7);
    m->shared = sqlite3_column_int(st, 8);
    m->created_at_ms = sqlite3_column_int64(st, 9);
    m->send_at_ms = sqlite3_column_int64(st, 10);
}

/* Reads the message row (scoped by org when org is not NULL). Lock held. */
static xd_code load_meta(snd_queue *q, const char *org, const char *mid, snd_message_info *m,
                         void **request, size_t *len, xd_err *err)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT %s, request FROM messages WHERE message_id = ?1%s", MSG_COLS,
             org ? " AND org_id = ?2" : "");
    sqlite3_stmt *st = NULL;
    xd_code rc = snd_q_prepare(q, sql, &st, err);
    if (rc != XD_OK)
        return rc;
    xd_db_bind_text(st, 1, mid);
    if (org)
        xd_db_bind_text(st, 2, org);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        read_meta(st, m);
        if (request) {
            int n = sqlite3_column_bytes(st, 11);
            *request = malloc(n > 0 ? (size_t)n : 1);
            if (!*request)
                rc = xd_err_set(err, XD_INTERNAL, "out of memory");
            else {
                if (n > 0)
                    memcpy(*request, sqlite3_column_blob(st, 11), (size_t)n);
                *len = (size_t)n;
            }
        }
    } else if (r == SQLITE_DONE) {
        rc = xd_err_field(err, XD_NOT_FOUND, "message_id", "no message %s in this organization",
                          mid);
    } else {
        rc = xd_db_fail(q->db, r, "reading the message", err);
    }
    snd_q_done(q, st);
    return rc;
}

static xd_code load_rcpts(snd_queue *q, snd_message_info *m, xd_err *err)
{
    sqlite3_stmt *st = NULL;
    xd_code rc = snd_q_prepare(q,
                               "SELECT recipient_id, address, state, attempts, last_code, "
                               "last_enhanced, last_text, failure, updated_at_ms, "
                               "next_attempt_at_ms, remote_host FROM recipients "
                               "WHERE message_id = ?1 ORDER BY seq",
                               &st, err);
    if (rc != XD_OK)
        return rc;
    xd_db_bind_text(st, 1, m->message_id);
    size_t cap = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (m->n == cap) {
            cap = cap ? cap * 2 : 8;
            snd_rcpt_status *n = realloc(m->rcpts, cap * sizeof *n);
            if (!n) {
                snd_q_done(q, st);
                return xd_err_set(err, XD_INTERNAL, "out of memory");
            }
            m->rcpts = n;
        }
        snd_rcpt_status *s = &m->rcpts[m->n++];
        memset(s, 0, sizeof *s);
        snd_col_copy(st, 0, s->recipient_id, sizeof s->recipient_id);
        snd_col_copy(st, 1, s->address, sizeof s->address);
        s->state = sqlite3_column_int(st, 2);
        s->attempts = (unsigned)sqlite3_column_int(st, 3);
        s->code = sqlite3_column_int(st, 4);
        snd_col_copy(st, 5, s->enhanced, sizeof s->enhanced);
        snd_col_copy(st, 6, s->text, sizeof s->text);
        s->failure = sqlite3_column_int(st, 7);
        s->updated_at_ms = sqlite3_column_int64(st, 8);
        s->next_attempt_at_ms = sqlite3_column_int64(st, 9);
        snd_col_copy(st, 10, s->remote_host, sizeof s->remote_host);
    }
    snd_q_done(q, st);
    return r == SQLITE_DONE ? XD_OK : xd_db_fail(q->db, r, "reading recipients", err);
}

xd_code snd_queue_get(snd_queue *q, const char *org_id, const char *message_id,
                      snd_message_info *out, xd_err *err)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&q->mu);
    xd_code rc = load_meta(q, org_id, message_id, out, NULL, NULL, err);
    if (rc == XD_OK)
        rc = load_rcpts(q, out, err);
    pthread_mutex_unlock(&q->mu);
    if (rc != XD_OK)
        snd_message_info_free(out);
    return rc;
}

xd_code snd_queue_load_request(snd_queue *q, const char *message_id, snd_message_info *meta,
                               void **request, size_t *len, xd_err *err)
{
    memset(meta, 0, sizeof *meta);
    pthread_mutex_lock(&q->mu);
    xd_code rc = load_meta(q, NULL, message_id, meta, request, len, err);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

void snd_message_info_free(snd_message_info *m)
{
    if (!m)
        return;
    free(m->rcpts);
    m->rcpts = NULL;
    m->n = 0;
}

static int list_add(snd_id_list *l, const char *id)
{
    char(*n)[SND_ID_MAX] = realloc(l->ids, (l->n + 1) * sizeof *n);
    if (!n)
        return -1;
    l->ids = n;
    xd_strlcpy(l->ids[l->n++], id, SND_ID_MAX);
    return 0;
}

void snd_id_list_free(snd_id_list *l)
{
    if (!l)
        return;
    free(l->ids);
    l->ids = NULL;
    l->n = 0;
}

/* Cancels one recipient row when it is still waiting; *seq = its new event
 * sequence, 0 when it was not waiting. Lock and tx held. */
static xd_code cancel_one(snd_queue *q, const char *rid, int64_t now, int64_t *seq, xd_err *err)
{
    *seq = 0;
    sqlite3_stmt *st = NULL;
    xd_code rc = snd_q_prepare(q,
                               "UPDATE recipients SET state = 9, next_attempt_at_ms = 0, "
                               "updated_at_ms = ?2, event_seq = event_seq + 1 "
                               "WHERE recipient_id = ?1 AND state IN (1, 2) RETURNING event_seq",
                               &st, err);
    if (rc != XD_OK)
        return rc;
    xd_db_bind_text(st, 1, rid);
    sqlite3_bind_int64(st, 2, now);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *seq = sqlite3_column_int64(st, 0);
        s = sqlite3_step(st);
    }
    snd_q_done(q, st);
    return s == SQLITE_DONE ? XD_OK : xd_db_fail(q->db, s, "cancelling", err);
}

xd_code snd_queue_cancel(snd_queue *q, const char *org_id, const char *message_id,
                         const char *const *ids, size_t n_ids, snd_id_list *cancelled,
                         snd_id_list *not_cancelled, xd_err *err)
{
    memset(cancelled, 0, sizeof *cancelled);
    memset(not_cancelled, 0, sizeof *not_cancelled);
    snd_message_info m;
    memset(&m, 0, sizeof m);
    xd_code rc = snd_qtx_begin(q, err);
    if (rc != XD_OK)
        return rc;
    rc = load_meta(q, org_id, message_id, &m, NULL, NULL, err);
    if (rc == XD_OK)
        rc = load_rcpts(q, &m, err);
    for (size_t i = 0; rc == XD_OK && n_ids && i < n_ids; i++) {
        size_t j = 0;
        while (j < m.n && strcmp(m.rcpts[j].recipient_id, ids[i]) != 0)
            j++;
        if (j == m.n)
            rc = xd_err_field(err, XD_NOT_FOUND, "recipient_ids",
                              "recipient %.47s is not part of message %s", ids[i], message_id);
    }
    int64_t now = xd_clock_now_ms(q->clock);
    for (size_t j = 0; rc == XD_OK && j < m.n; j++) {
        int wanted = n_ids == 0;
        for (size_t i = 0; i < n_ids && !wanted; i++)
            wanted = strcmp(m.rcpts[j].recipient_id, ids[i]) == 0;
        if (!wanted)
            continue;
        int64_t seq = 0;
        rc = cancel_one(q, m.rcpts[j].recipient_id, now, &seq, err);
        int done = seq > 0;
        if (rc == XD_OK && done) {
            snd_event_row e = {.recipient_id = m.rcpts[j].recipient_id,
                               .message_id = m.message_id,
                               .address = m.rcpts[j].address,
                               .state = SND_ST_CANCELLED,
                               .time_ms = now,
                               .sequence = seq};
            if (snd_outbox_add(q, &e) != 0)
                rc = xd_db_fail(q->db, sqlite3_errcode(q->db), "storing an event", err);
        }
        if (rc == XD_OK && list_add(done ? cancelled : not_cancelled, m.rcpts[j].recipient_id) != 0)
            rc = xd_err_set(err, XD_INTERNAL, "out of memory");
    }
    rc = snd_qtx_end(q, rc, err);
    if (rc != XD_OK) {
        snd_id_list_free(cancelled);
        snd_id_list_free(not_cancelled);
    }
    snd_message_info_free(&m);
    return rc;
}
