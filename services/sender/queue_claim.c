/* queue_claim.c: workers' side of the queue: claim, finish, recover, backoff
 * (see queue_store.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue_internal.h"
#include "xd/db.h"
#include "xd/util.h"

int64_t snd_queue_backoff_ms(const snd_queue *q, unsigned attempts)
{
    int64_t d = q->cfg.retry_initial_ms;
    for (unsigned i = 1; i < attempts && d < q->cfg.retry_max_ms; i++)
        d *= 2;
    if (d > q->cfg.retry_max_ms)
        d = q->cfg.retry_max_ms;
    if (q->cfg.jitter_permille > 0) {
        uint32_t r;
        xd_random_bytes(&r, sizeof r);
        int64_t span = d * q->cfg.jitter_permille / 1000;
        if (span > 0)
            d += (int64_t)(r % (uint64_t)(2 * span + 1)) - span;
    }
    return d > 0 ? d : 1;
}

/* Sets a final or deferred state with its event. Lock and tx held. */
static xd_code set_state(snd_queue *q, const char *rid, int from_state, int state,
                         int count_attempt, int64_t next_ms, const snd_rcpt_result *r, int64_t now,
                         int *changed, xd_err *err)
{
    *changed = 0;
    sqlite3_stmt *st = NULL;
    xd_code rc = snd_q_prepare(
        q,
        "UPDATE recipients SET state = ?3, attempts = attempts + ?4, next_attempt_at_ms = ?5, "
        "updated_at_ms = ?6, last_code = ?7, last_enhanced = ?8, last_text = ?9, failure = ?10, "
        "remote_host = ?11, event_seq = event_seq + 1 "
        "WHERE recipient_id = ?1 AND state = ?2 RETURNING event_seq, message_id, address",
        &st, err);
    if (rc != XD_OK)
        return rc;
    xd_db_bind_text(st, 1, rid);
    sqlite3_bind_int(st, 2, from_state);
    sqlite3_bind_int(st, 3, state);
    sqlite3_bind_int(st, 4, count_attempt);
    sqlite3_bind_int64(st, 5, next_ms);
    sqlite3_bind_int64(st, 6, now);
    sqlite3_bind_int(st, 7, r ? r->code : 0);
    xd_db_bind_text(st, 8, r && r->enhanced ? r->enhanced : "");
    xd_db_bind_text(st, 9, r && r->text ? r->text : "");
    sqlite3_bind_int(st, 10, r ? r->failure : SND_FAIL_EXPIRED);
    xd_db_bind_text(st, 11, r && r->remote_host ? r->remote_host : "");
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        char mid[SND_ID_MAX], addr[SND_ADDR_MAX];
        snd_col_copy(st, 1, mid, sizeof mid);
        snd_col_copy(st, 2, addr, sizeof addr);
        snd_event_row e = {.recipient_id = rid,
                           .message_id = mid,
                           .address = addr,
                           .state = state,
                           .time_ms = now,
                           .sequence = sqlite3_column_int64(st, 0),
                           .code = r ? r->code : 0,
                           .enhanced = r ? r->enhanced : "",
                           .text = r ? r->text : "maximum age reached before delivery",
                           .remote_host = r ? r->remote_host : "",
                           .tls_version = r ? r->tls_version : "",
                           .failure = r ? r->failure : SND_FAIL_EXPIRED};
        s = sqlite3_step(st);
        if (s == SQLITE_DONE && snd_outbox_add(q, &e) != 0)
            s = sqlite3_errcode(q->db);
        *changed = 1;
    }
    snd_q_done(q, st);
    return s == SQLITE_DONE ? XD_OK : xd_db_fail(q->db, s, "recording a state", err);
}

/* Claimed rows past the maximum age end EXPIRED instead of being sent;
 * they are removed from the claim. Lock and tx held. */
static xd_code expire_claimed(snd_queue *q, snd_claim *c, const int64_t *born, int64_t now,
                              xd_err *err)
{
    size_t keep = 0;
    xd_code rc = XD_OK;
    for (size_t i = 0; i < c->n && rc == XD_OK; i++) {
        if (now - born[i] < q->cfg.max_age_ms) {
            c->r[keep++] = c->r[i];
            continue;
        }
        int changed;
        rc = set_state(q, c->r[i].recipient_id, SND_ST_SENDING, SND_ST_EXPIRED, 0, 0, NULL, now,
                       &changed, err);
    }
    c->n = keep;
    return rc;
}

static int cmp_claim(const void *a, const void *b)
{
    const snd_claim_rcpt *x = a, *y = b;
    int c = strcmp(x->message_id, y->message_id);
    return c ? c : strcmp(x->recipient_id, y->recipient_id);
}

static int64_t next_due(snd_queue *q)
{
    sqlite3_stmt *st = NULL;
    int64_t t = INT64_MAX;
    if (snd_q_prepare(q,
                      "SELECT next_attempt_at_ms FROM recipients WHERE state IN (1, 2) "
                      "ORDER BY next_attempt_at_ms LIMIT 1",
                      &st, NULL) != XD_OK)
        return t;
    if (sqlite3_step(st) == SQLITE_ROW)
        t = sqlite3_column_int64(st, 0);
    snd_q_done(q, st);
    return t;
}

#define RR_STEPS 64 /* destinations looked at per claim before the fallback */

static int dest_cmp(const char *o1, const char *d1, const char *o2, const char *d2)
{
    int c = strcmp(o1, o2);
    return c ? c : strcmp(d1, d2);
}

/* The next destination after the cursor (wrapping once) that has a due
 * recipient, within RR_STEPS destinations; each step is two index seeks on
 * recipients_dest, so a huge backlog costs nothing here. 1 when found (out's
 * org_id/domain set), 0 when not, -1 on a database error. Lock and tx held. */
static int pick_round_robin(snd_queue *q, int64_t now, snd_claim *out)
{
    sqlite3_stmt *next = NULL, *due = NULL;
    int found = -1;
    if (snd_q_prepare(q,
                      "SELECT org_id, domain FROM recipients WHERE state IN (1, 2) AND "
                      "(org_id, domain) > (?1, ?2) ORDER BY org_id, domain LIMIT 1",
                      &next, NULL) != XD_OK ||
        snd_q_prepare(q,
                      "SELECT 1 FROM recipients WHERE state IN (1, 2) AND org_id = ?1 AND "
                      "domain = ?2 AND next_attempt_at_ms <= ?3 LIMIT 1",
                      &due, NULL) != XD_OK)
        goto out;
    char org[sizeof out->org_id], dom[sizeof out->domain];
    xd_strlcpy(org, q->rr_org, sizeof org);
    xd_strlcpy(dom, q->rr_domain, sizeof dom);
    int wrapped = 0;
    found = 0;
    for (int step = 0; step < RR_STEPS && !found; step++) {
        sqlite3_reset(next);
        xd_db_bind_text(next, 1, org);
        xd_db_bind_text(next, 2, dom);
        int s = sqlite3_step(next);
        if (s == SQLITE_DONE) {
            if (wrapped || (!q->rr_org[0] && !q->rr_domain[0]))
                break; /* went round, or the queue has no waiting rows */
            wrapped = 1;
            org[0] = dom[0] = '\0';
            continue;
        }
        if (s != SQLITE_ROW) {
            found = -1;
            break;
        }
        snd_col_copy(next, 0, org, sizeof org);
        snd_col_copy(next, 1, dom, sizeof dom);
        if (wrapped && dest_cmp(org, dom, q->rr_org, q->rr_domain) > 0)
            break; /* past the start: every destination was looked at */
        sqlite3_reset(due);
        xd_db_bind_text(due, 1, org);
        xd_db_bind_text(due, 2, dom);
        sqlite3_bind_int64(due, 3, now);
        s = sqlite3_step(due);
        if (s == SQLITE_ROW) {
            xd_strlcpy(out->org_id, org, sizeof out->org_id);
            xd_strlcpy(out->domain, dom, sizeof out->domain);
            found = 1;
        } else if (s != SQLITE_DONE) {
            found = -1;
        }
    }
out:
    snd_q_done(q, next);
    snd_q_done(q, due);
    return found;
}

/* Picks a destination with due rows, round robin among destinations (the
 * most overdue one when the walk finds none), and claims its due rows. */
static xd_code pick(snd_queue *q, size_t max, int64_t now, snd_claim *out, xd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rr = pick_round_robin(q, now, out);
    if (rr < 0)
        return xd_db_fail(q->db, sqlite3_errcode(q->db), "picking due work", err);
    if (!rr) {
        xd_code rc = snd_q_prepare(q,
                                   "SELECT org_id, domain FROM recipients WHERE state IN (1, 2) "
                                   "AND next_attempt_at_ms <= ?1 ORDER BY next_attempt_at_ms "
                                   "LIMIT 1",
                                   &st, err);
        if (rc != XD_OK)
            return rc;
        sqlite3_bind_int64(st, 1, now);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            snd_col_copy(st, 0, out->org_id, sizeof out->org_id);
            snd_col_copy(st, 1, out->domain, sizeof out->domain);
        }
        snd_q_done(q, st);
        if (s != SQLITE_ROW)
            return s == SQLITE_DONE ? XD_OK : xd_db_fail(q->db, s, "picking due work", err);
    }
    xd_strlcpy(q->rr_org, out->org_id, sizeof q->rr_org);
    xd_strlcpy(q->rr_domain, out->domain, sizeof q->rr_domain);
    /* SELECT the due rows in index order, then mark each by its key: an
     * UPDATE ... IN (SELECT ... LIMIT) RETURNING builds and drops two
     * ephemeral tables per claim, which showed as a tenth of the CPU. */
    int s;
    xd_code rc = snd_q_prepare(q,
                               "SELECT recipient_id, message_id, address, attempts, born_ms "
                               "FROM recipients WHERE state IN (1, 2) AND org_id = ?1 AND "
                               "domain = ?2 AND next_attempt_at_ms <= ?3 "
                               "ORDER BY next_attempt_at_ms LIMIT ?4",
                               &st, err);
    if (rc != XD_OK)
        return rc;
    xd_db_bind_text(st, 1, out->org_id);
    xd_db_bind_text(st, 2, out->domain);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, (int64_t)max);
    out->r = calloc(max, sizeof *out->r);
    int64_t *born = calloc(max, sizeof *born);
    if (!out->r || !born) {
        free(born);
        snd_q_done(q, st);
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    }
    while (out->n < max && (s = sqlite3_step(st)) == SQLITE_ROW) {
        snd_claim_rcpt *c = &out->r[out->n++];
        snd_col_copy(st, 0, c->recipient_id, sizeof c->recipient_id);
        snd_col_copy(st, 1, c->message_id, sizeof c->message_id);
        snd_col_copy(st, 2, c->address, sizeof c->address);
        c->attempts = (unsigned)sqlite3_column_int(st, 3);
        born[out->n - 1] = sqlite3_column_int64(st, 4);
    }
    if (out->n == max)
        s = SQLITE_DONE; /* LIMIT reached: the rest is not needed */
    snd_q_done(q, st);
    sqlite3_stmt *up = NULL;
    if (s == SQLITE_DONE && out->n > 0 &&
        (rc = snd_q_prepare(q,
                            "UPDATE recipients SET state = 10, updated_at_ms = ?2 "
                            "WHERE recipient_id = ?1 AND state IN (1, 2)",
                            &up, err)) != XD_OK) {
        free(born);
        return rc;
    }
    for (size_t i = 0; up && i < out->n && s == SQLITE_DONE; i++) {
        sqlite3_reset(up);
        xd_db_bind_text(up, 1, out->r[i].recipient_id);
        sqlite3_bind_int64(up, 2, now);
        s = sqlite3_step(up);
    }
    snd_q_done(q, up);
    rc = s == SQLITE_DONE ? expire_claimed(q, out, born, now, err)
                          : xd_db_fail(q->db, s, "claiming", err);
    free(born);
    if (rc != XD_OK)
        return rc;
    qsort(out->r, out->n, sizeof *out->r, cmp_claim);
    return XD_OK;
}

xd_code snd_queue_claim(snd_queue *q, size_t max, snd_claim *out, int64_t *next_due_ms, xd_err *err)
{
    memset(out, 0, sizeof *out);
    if (max == 0 || max > 1000)
        max = 1000;
    *next_due_ms = INT64_MAX;
    xd_code rc = snd_qtx_begin_committed(q, err);
    if (rc != XD_OK)
        return rc;
    int64_t now = xd_clock_now_ms(q->clock);
    rc = pick(q, max, now, out, err);
    if (rc == XD_OK && out->n == 0)
        *next_due_ms = next_due(q);
    /* SENDING need not be durable: after a crash those rows would be put
     * back in the queue anyway, and the outcome's commit covers it. Rows
     * expired here are expired again at the next claim if lost. */
    snd_qtx_no_wait(q);
    rc = snd_qtx_end(q, rc, err);
    if (rc != XD_OK) {
        snd_claim_free(out);
        *next_due_ms = INT64_MAX;
    }
    return rc;
}

void snd_claim_free(snd_claim *c)
{
    if (!c)
        return;
    free(c->r);
    c->r = NULL;
    c->n = 0;
}

/* Postpones without an attempt: back to QUEUED/DEFERRED by attempts. */
static xd_code postpone(snd_queue *q, const snd_rcpt_result *r, int64_t now, xd_err *err)
{
    sqlite3_stmt *st = NULL;
    xd_code rc = snd_q_prepare(q,
                               "UPDATE recipients SET state = CASE WHEN attempts > 0 THEN 2 "
                               "ELSE 1 END, next_attempt_at_ms = ?2, updated_at_ms = ?3 "
                               "WHERE recipient_id = ?1 AND state = 10",
                               &st, err);
    if (rc != XD_OK)
        return rc;
    xd_db_bind_text(st, 1, r->recipient_id);
    sqlite3_bind_int64(st, 2, r->retry_at_ms > now ? r->retry_at_ms : now);
    sqlite3_bind_int64(st, 3, now);
    int s = sqlite3_step(st);
    snd_q_done(q, st);
    return s == SQLITE_DONE ? XD_OK : xd_db_fail(q->db, s, "postponing", err);
}

/* born_ms and attempts of a SENDING row, for the retry decision. */
static int row_age(snd_queue *q, const char *rid, int64_t *born, unsigned *attempts)
{
    sqlite3_stmt *st = NULL;
    if (snd_q_prepare(q, "SELECT born_ms, attempts FROM recipients WHERE recipient_id = ?1", &st,
                      NULL) != XD_OK)
        return -1;
    xd_db_bind_text(st, 1, rid);
    int ok = sqlite3_step(st) == SQLITE_ROW;
    if (ok) {
        *born = sqlite3_column_int64(st, 0);
        *attempts = (unsigned)sqlite3_column_int(st, 1);
    }
    snd_q_done(q, st);
    return ok ? 0 : -1;
}

static xd_code finish_one(snd_queue *q, const snd_rcpt_result *r, int64_t now, xd_err *err)
{
    int changed = 0;
    switch (r->kind) {
    case SND_RES_POSTPONE:
        return postpone(q, r, now, err);
    case SND_RES_DELIVERED:
        return set_state(q, r->recipient_id, SND_ST_SENDING, SND_ST_DELIVERED, 1, 0, r, now,
                         &changed, err);
    case SND_RES_PERMFAIL:
        return set_state(q, r->recipient_id, SND_ST_SENDING, SND_ST_BOUNCED, 1, 0, r, now, &changed,
                         err);
    case SND_RES_SUPPRESSED:
        return set_state(q, r->recipient_id, SND_ST_SENDING, SND_ST_SUPPRESSED, 0, 0, r, now,
                         &changed, err);
    case SND_RES_TEMPFAIL:
        break;
    }
    int64_t born = now;
    unsigned attempts = 0;
    if (row_age(q, r->recipient_id, &born, &attempts) != 0)
        return XD_OK; /* gone: nothing to record */
    int64_t next = now + snd_queue_backoff_ms(q, attempts + 1);
    if (next - born >= q->cfg.max_age_ms) {
        /* The next try would come after the maximum age: give up now,
         * keeping the last reply as the reason. */
        snd_rcpt_result x = *r;
        x.failure = SND_FAIL_EXPIRED;
        return set_state(q, r->recipient_id, SND_ST_SENDING, SND_ST_EXPIRED, 1, 0, &x, now,
                         &changed, err);
    }
    return set_state(q, r->recipient_id, SND_ST_SENDING, SND_ST_DEFERRED, 1, next, r, now, &changed,
                     err);
}

xd_code snd_queue_finish(snd_queue *q, const snd_rcpt_result *r, size_t n, xd_err *err)
{
    if (n == 0)
        return XD_OK;
    xd_code rc = snd_qtx_begin(q, err);
    if (rc != XD_OK)
        return rc;
    int64_t now = xd_clock_now_ms(q->clock);
    for (size_t i = 0; i < n && rc == XD_OK; i++)
        rc = finish_one(q, &r[i], now, err);
    return snd_qtx_end(q, rc, err);
}

xd_code snd_queue_recover(snd_queue *q, size_t *n, xd_err *err)
{
    *n = 0;
    xd_code rc = snd_qtx_begin(q, err);
    if (rc != XD_OK)
        return rc;
    int64_t now = xd_clock_now_ms(q->clock);
    sqlite3_stmt *st = NULL;
    rc = snd_q_prepare(q,
                       "UPDATE recipients SET state = CASE WHEN attempts > 0 THEN 2 "
                       "ELSE 1 END, next_attempt_at_ms = ?1 WHERE state = 10",
                       &st, err);
    if (rc == XD_OK) {
        sqlite3_bind_int64(st, 1, now);
        int s = sqlite3_step(st);
        if (s != SQLITE_DONE)
            rc = xd_db_fail(q->db, s, "recovering in-flight recipients", err);
        else
            *n = (size_t)sqlite3_changes(q->db);
        snd_q_done(q, st);
    }
    return snd_qtx_end(q, rc, err);
}

xd_code snd_queue_count_states(snd_queue *q, int64_t counts[16], xd_err *err)
{
    memset(counts, 0, 16 * sizeof counts[0]);
    pthread_mutex_lock(&q->mu);
    sqlite3_stmt *st = NULL;
    xd_code rc =
        snd_q_prepare(q, "SELECT state, count(*) FROM recipients GROUP BY state", &st, err);
    if (rc == XD_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            int s = sqlite3_column_int(st, 0);
            if (s >= 0 && s < 16)
                counts[s] = sqlite3_column_int64(st, 1);
        }
        snd_q_done(q, st);
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}
