/* vf_store_reports.c: counts, domain report, totals, retention, rebuild. */
#include "vf_store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY_MS 86400000LL

enum { ST_COUNTS_TOTAL = 48, ST_COUNTS_CLIENT, ST_COUNTS_MODULE, ST_DOMAINS, ST_TOTALS };

#define SUMS                                                                                       \
    "sum(sent), sum(delivered), sum(deferred), sum(bounced), sum(suppressed), sum(complained)"

static void read_counts(sqlite3_stmt *st, int first, vf_counts *c)
{
    c->sent = (uint64_t)sqlite3_column_int64(st, first);
    c->delivered = (uint64_t)sqlite3_column_int64(st, first + 1);
    c->deferred = (uint64_t)sqlite3_column_int64(st, first + 2);
    c->bounced = (uint64_t)sqlite3_column_int64(st, first + 3);
    c->suppressed = (uint64_t)sqlite3_column_int64(st, first + 4);
    c->complained = (uint64_t)sqlite3_column_int64(st, first + 5);
}

static int valid_month(const char *m)
{
    return m && strlen(m) == 7 && m[4] == '-' && m[0] >= '1' && m[0] <= '9' && m[1] >= '0' &&
           m[1] <= '9' && m[2] >= '0' && m[2] <= '9' && m[3] >= '0' && m[3] <= '9' &&
           ((m[5] == '0' && m[6] >= '1' && m[6] <= '9') ||
            (m[5] == '1' && m[6] >= '0' && m[6] <= '2'));
}

static xd_code run_grouped(vf_store *s, int which, const char *sql, const char *org,
                           const char *month, vf_counts_fn fn, void *ud, xd_err *err)
{
    sqlite3_stmt *st = vf_stmt(s, which, sql);
    if (!st)
        return xd_db_fail(s->db, sqlite3_errcode(s->db), "prepare counts", err);
    sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, month, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        vf_counts c;
        read_counts(st, 1, &c);
        fn(ud, which == ST_COUNTS_TOTAL ? NULL : xd_db_column_text(st, 0), &c);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? XD_OK : xd_db_fail(s->db, rc, "read counts", err);
}

xd_code vf_store_counts(vf_store *store, const char *org_id, const char *month, vf_counts_fn total,
                        vf_counts_fn per_client, vf_counts_fn per_module, void *ud, xd_err *err)
{
    if (!valid_month(month))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "month",
                            "month must be \"YYYY-MM\" (e.g. \"2026-11\")");
    pthread_mutex_lock(&store->lock);
    xd_code rc = run_grouped(store, ST_COUNTS_TOTAL,
                             "SELECT '', " SUMS " FROM counts_monthly WHERE org_id=?1 AND month=?2"
                             " HAVING count(*) > 0",
                             org_id, month, total, ud, err);
    if (rc == XD_OK)
        rc = run_grouped(store, ST_COUNTS_CLIENT,
                         "SELECT client_id, " SUMS " FROM counts_monthly WHERE org_id=?1 AND"
                         " month=?2 GROUP BY client_id ORDER BY sum(sent) DESC LIMIT 1000",
                         org_id, month, per_client, ud, err);
    if (rc == XD_OK)
        rc = run_grouped(store, ST_COUNTS_MODULE,
                         "SELECT module, " SUMS " FROM counts_monthly WHERE org_id=?1 AND"
                         " month=?2 GROUP BY module ORDER BY sum(sent) DESC LIMIT 1000",
                         org_id, month, per_module, ud, err);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

/* First day (days since the epoch) of the month containing day. */
static int64_t month_start(int64_t day)
{
    time_t t = (time_t)(day * 86400);
    struct tm tm;
    gmtime_r(&t, &tm);
    return day - (tm.tm_mday - 1);
}

static int64_t month_start_on_or_before(int64_t day)
{
    return month_start(day);
}

static int64_t month_start_on_or_after(int64_t day)
{
    int64_t m = month_start(day);
    return m == day ? day : month_start(m + 32);
}

static int by_volume_desc(const void *a, const void *b)
{
    const vf_domain_row *x = a, *y = b;
    if (x->volume != y->volume)
        return x->volume < y->volume ? 1 : -1;
    return strcmp(x->domain, y->domain);
}

static xd_code check_period(int64_t from_ms, int64_t to_ms, xd_err *err)
{
    if (from_ms <= 0 || to_ms <= from_ms)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "from_ms",
                            "give a period with 0 < from_ms < to_ms (Unix ms)");
    if (to_ms - from_ms > 400 * DAY_MS)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "to_ms",
                            "the period is longer than 400 days; ask for a shorter one");
    return XD_OK;
}

xd_code vf_store_domain_report(vf_store *store, const char *org_id, int64_t from_ms, int64_t to_ms,
                               unsigned max_domains, vf_domain_row **rows, unsigned *n_rows,
                               xd_err *err)
{
    *rows = NULL;
    *n_rows = 0;
    xd_code rc = check_period(from_ms, to_ms, err);
    if (rc != XD_OK)
        return rc;
    unsigned cap = 64, n = 0;
    vf_domain_row *out = calloc(cap, sizeof *out);
    if (!out)
        return xd_err_set(err, XD_INTERNAL, "out of memory building the domain report");
    pthread_mutex_lock(&store->lock);
    /* Days are whole UTC days: the period is rounded out to days. Whole
     * months inside it are read from the monthly table, the edges by day. */
    int64_t d0 = from_ms / DAY_MS, d1 = (to_ms + DAY_MS - 1) / DAY_MS;
    int64_t m0 = month_start_on_or_after(d0), m1 = month_start_on_or_before(d1);
    char month0[16] = "", month1[16] = "";
    if (m0 < m1) {
        vf_month_of(m0 * DAY_MS, month0, sizeof month0);
        vf_month_of(m1 * DAY_MS, month1, sizeof month1);
    } else {
        m0 = m1 = d1; /* no whole month: every day from the daily table */
    }
    sqlite3_stmt *st =
        vf_stmt(store, ST_DOMAINS,
                "SELECT domain, category, " SUMS " FROM (SELECT domain, category, sent, delivered,"
                " deferred, bounced, suppressed, complained FROM counts_daily WHERE org_id=?1 AND"
                " ((day >= ?2 AND day < ?4) OR (day >= ?5 AND day < ?3)) UNION ALL SELECT domain,"
                " category, sent, delivered, deferred, bounced, suppressed, complained FROM"
                " counts_domain_monthly WHERE org_id=?1 AND month >= ?6 AND month < ?7)"
                " GROUP BY domain, category ORDER BY domain");
    if (!st) {
        rc = xd_db_fail(store->db, sqlite3_errcode(store->db), "prepare domain report", err);
        goto done;
    }
    sqlite3_bind_text(st, 1, org_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, d0);
    sqlite3_bind_int64(st, 3, d1);
    sqlite3_bind_int64(st, 4, m0);
    sqlite3_bind_int64(st, 5, m1);
    sqlite3_bind_text(st, 6, month0, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, month1, -1, SQLITE_STATIC);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *domain = xd_db_column_text(st, 0);
        if (n == 0 || strcmp(out[n - 1].domain, domain) != 0) {
            if (n == cap) {
                vf_domain_row *bigger = realloc(out, 2 * cap * sizeof *out);
                if (!bigger) {
                    rc = xd_err_set(err, XD_INTERNAL, "out of memory in the domain report");
                    break;
                }
                out = bigger;
                memset(out + cap, 0, cap * sizeof *out);
                cap *= 2;
            }
            snprintf(out[n].domain, sizeof out[n].domain, "%s", domain);
            n++;
        }
        vf_domain_row *d = &out[n - 1];
        int cat = sqlite3_column_int(st, 1);
        vf_counts c;
        read_counts(st, 2, &c);
        d->volume += c.sent;
        d->delivered += c.delivered;
        d->deferred += c.deferred;
        d->rejected += c.bounced;
        d->complained += c.complained;
        if (cat > 0 && cat < 32)
            d->by_category[cat] += c.bounced;
    }
    if (rc == XD_OK && step != SQLITE_DONE)
        rc = xd_db_fail(store->db, step, "read domain report", err);
    sqlite3_reset(st);
done:
    pthread_mutex_unlock(&store->lock);
    if (rc != XD_OK) {
        free(out);
        return rc;
    }
    qsort(out, n, sizeof *out, by_volume_desc);
    unsigned max = max_domains == 0 ? 100 : max_domains > 1000 ? 1000 : max_domains;
    *rows = out;
    *n_rows = n < max ? n : max;
    return XD_OK;
}

xd_code vf_store_totals(vf_store *store, const char *org_id, const char *domain, int64_t from_ms,
                        int64_t to_ms, vf_counts *out, xd_err *err)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&store->lock);
    xd_code rc = XD_OK;
    sqlite3_stmt *st = vf_stmt(store, ST_TOTALS,
                               "SELECT " SUMS " FROM counts_daily WHERE org_id=?1 AND day >= ?2"
                               " AND day < ?3 AND (?4 = '' OR domain = ?4)");
    if (!st) {
        rc = xd_db_fail(store->db, sqlite3_errcode(store->db), "prepare totals", err);
    } else {
        sqlite3_bind_text(st, 1, org_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, from_ms / DAY_MS);
        sqlite3_bind_int64(st, 3, (to_ms + DAY_MS - 1) / DAY_MS);
        sqlite3_bind_text(st, 4, domain ? domain : "", -1, SQLITE_STATIC);
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW)
            read_counts(st, 0, out);
        else
            rc = xd_db_fail(store->db, step, "read totals", err);
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&store->lock);
    return rc;
}

/* Constant SQL run in order inside one transaction. */
static xd_code exec_all(vf_store *s, const char *const *sql, int n, xd_err *err)
{
    xd_code rc = xd_db_begin(s->db, err);
    for (int i = 0; rc == XD_OK && i < n; i++)
        rc = xd_db_exec(s->db, sql[i], err);
    if (rc == XD_OK)
        rc = xd_db_commit(s->db, err);
    else
        xd_db_rollback(s->db);
    return rc;
}

/* Event ids are only for de-duplication. The table has no time index (one
 * B-tree less per event), so old ids are removed by walking its primary key
 * in chunks, each in its own short transaction: requests wait at most one
 * chunk. */
static xd_code purge_events(vf_store *store, int64_t cutoff, xd_err *err)
{
    char org[VF_MAX_ID + 1] = "", id[VF_MAX_ID + 1] = "";
    for (;;) {
        pthread_mutex_lock(&store->lock);
        sqlite3_stmt *scan = NULL, *del = NULL;
        xd_code rc = xd_db_prepare(store->db,
                                   "SELECT org_id, event_id, time_ms FROM events WHERE"
                                   " (org_id, event_id) > (?1, ?2) ORDER BY org_id, event_id"
                                   " LIMIT 5000",
                                   &scan, err);
        if (rc == XD_OK)
            rc = xd_db_prepare(store->db, "DELETE FROM events WHERE org_id=?1 AND event_id=?2",
                               &del, err);
        if (rc == XD_OK)
            rc = xd_db_begin(store->db, err);
        int rows = 0, step = SQLITE_DONE;
        if (rc == XD_OK) {
            sqlite3_bind_text(scan, 1, org, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(scan, 2, id, -1, SQLITE_TRANSIENT);
            while ((step = sqlite3_step(scan)) == SQLITE_ROW) {
                rows++;
                snprintf(org, sizeof org, "%s", xd_db_column_text(scan, 0));
                snprintf(id, sizeof id, "%s", xd_db_column_text(scan, 1));
                if (sqlite3_column_int64(scan, 2) >= cutoff)
                    continue;
                sqlite3_reset(del);
                sqlite3_bind_text(del, 1, org, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(del, 2, id, -1, SQLITE_TRANSIENT);
                if (sqlite3_step(del) != SQLITE_DONE) {
                    step = SQLITE_ERROR;
                    break;
                }
            }
            if (step != SQLITE_DONE)
                rc = xd_db_fail(store->db, sqlite3_errcode(store->db), "purge events", err);
            sqlite3_finalize(scan);
            scan = NULL;
            if (rc == XD_OK)
                rc = xd_db_commit(store->db, err);
            else
                xd_db_rollback(store->db);
        }
        sqlite3_finalize(scan);
        sqlite3_finalize(del);
        pthread_mutex_unlock(&store->lock);
        if (rc != XD_OK || rows < 5000)
            return rc;
    }
}

xd_code vf_store_purge(vf_store *store, unsigned *deleted, xd_err *err)
{
    *deleted = 0;
    int64_t cutoff = xd_clock_now_ms(store->clock) - store->settings.retention_ms;
    pthread_mutex_lock(&store->lock);
    xd_code rc = xd_db_begin(store->db, err);
    static const char *const sql[] = {
        "DELETE FROM case_notes WHERE recipient_row IN (SELECT id FROM recipients WHERE"
        " created_ms < ?1)",
        "DELETE FROM recipients WHERE created_ms < ?1",
        "DELETE FROM bounces WHERE time_ms < ?1",
        "DELETE FROM ingested WHERE time_ms < ?1",
    };
    /* Counters are kept: monthly reports outlive the detailed log. */
    for (size_t i = 0; rc == XD_OK && i < sizeof sql / sizeof sql[0]; i++) {
        sqlite3_stmt *st;
        rc = xd_db_prepare(store->db, sql[i], &st, err);
        if (rc != XD_OK)
            break;
        sqlite3_bind_int64(st, 1, cutoff);
        int step = sqlite3_step(st);
        if (step != SQLITE_DONE)
            rc = xd_db_fail(store->db, step, "purge", err);
        else if (i == 1)
            *deleted = (unsigned)sqlite3_changes(store->db);
        sqlite3_finalize(st);
    }
    if (rc == XD_OK)
        rc = xd_db_commit(store->db, err);
    else
        xd_db_rollback(store->db);
    pthread_mutex_unlock(&store->lock);
    if (rc == XD_OK)
        rc = purge_events(store, cutoff, err);
    return rc;
}

xd_code vf_store_rebuild_counters(vf_store *store, xd_err *err)
{
    static const char *const sql[] = {
        "DELETE FROM counts_monthly",
        "DELETE FROM counts_daily",
        "DELETE FROM counts_domain_monthly",
        "INSERT INTO counts_monthly SELECT org_id,"
        " strftime('%Y-%m', created_ms / 1000, 'unixepoch'), client_id, module, count(*),"
        " sum(delivered_ms > 0), sum(deferred_ms > 0), sum(state IN (4, 5)), sum(state = 6),"
        " sum(complained_ms > 0) FROM recipients GROUP BY 1, 2, 3, 4",
        "INSERT INTO counts_daily SELECT org_id, created_ms / 86400000, domain,"
        " CASE WHEN state IN (4, 5) THEN failure_category ELSE 0 END, count(*),"
        " sum(delivered_ms > 0), sum(deferred_ms > 0), sum(state IN (4, 5)), sum(state = 6),"
        " sum(complained_ms > 0) FROM recipients GROUP BY 1, 2, 3, 4",
        "INSERT INTO counts_domain_monthly SELECT org_id,"
        " strftime('%Y-%m', day * 86400, 'unixepoch'), domain, category, sum(sent),"
        " sum(delivered), sum(deferred), sum(bounced), sum(suppressed), sum(complained)"
        " FROM counts_daily GROUP BY 1, 2, 3, 4",
    };
    pthread_mutex_lock(&store->lock);
    /* The GROUP BY sorts the whole log: keep that sort in memory. */
    xd_db_exec(store->db, "PRAGMA temp_store=MEMORY", NULL);
    xd_code rc = exec_all(store, sql, (int)(sizeof sql / sizeof sql[0]), err);
    xd_db_exec(store->db, "PRAGMA temp_store=DEFAULT", NULL);
    pthread_mutex_unlock(&store->lock);
    return rc;
}
