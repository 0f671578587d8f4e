/* vf_store_suppress.c: the suppression list and bounce history. */
#include "vf_store_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xd/util.h"

enum {
    ST_SUP_UPSERT = 24,
    ST_SUP_GET,
    ST_SUP_CHECK,
    ST_SUP_DELETE,
    ST_SUP_LIST,
    ST_BOUNCES,
    ST_SUP_READ
};

static void read_sup(sqlite3_stmt *st, vf_suppression *s)
{
    s->org_id = xd_db_column_text(st, 0);
    s->address = xd_db_column_text(st, 1);
    s->scope = xd_db_column_text(st, 2);
    s->reason = (Xd__SuppressionReason)sqlite3_column_int(st, 3);
    s->created_ms = sqlite3_column_int64(st, 4);
    s->expires_ms = sqlite3_column_int64(st, 5);
    s->source = xd_db_column_text(st, 6);
    s->detail = xd_db_column_text(st, 7);
}

static xd_code check_field(const char *v, const char *field, size_t max, int required, xd_err *err)
{
    size_t n = v ? strlen(v) : 0;
    if (required && n == 0)
        return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s is required", field);
    if (n > max)
        return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s is longer than %zu bytes", field,
                            max);
    if (n && xd_has_crlf_nul(v, n))
        return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s contains CR or LF", field);
    return XD_OK;
}

xd_code vf_suppress_locked(vf_store *s, const vf_suppression *sup, int *created, xd_err *err)
{
    char addr[VF_MAX_ID + 1];
    vf_lower_copy(sup->address, addr, sizeof addr);
    int64_t now = xd_clock_now_ms(s->clock);
    int64_t expires = sup->expires_ms;
    if (expires == 0 && sup->reason == XD__SUPPRESSION_REASON__SUPPRESSION_REASON_HARD_BOUNCE)
        expires = now + s->settings.bounce_ttl_ms;
    /* Same (org, address, scope): refresh reason/expiry; created = changed
     * from nothing or from an expired entry. */
    sqlite3_stmt *get = vf_stmt(s, ST_SUP_GET,
                                "SELECT expires_ms FROM suppressions WHERE org_id=?1 AND"
                                " address=?2 AND scope=?3");
    if (!get)
        return xd_db_fail(s->db, sqlite3_errcode(s->db), "prepare suppression read", err);
    sqlite3_bind_text(get, 1, sup->org_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(get, 2, addr, -1, SQLITE_STATIC);
    sqlite3_bind_text(get, 3, sup->scope ? sup->scope : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(get);
    int existed = 0;
    if (rc == SQLITE_ROW) {
        int64_t old = sqlite3_column_int64(get, 0);
        existed = old == 0 || old > now;
    } else if (rc != SQLITE_DONE) {
        return xd_db_fail(s->db, rc, "read suppression", err);
    }
    sqlite3_reset(get);
    sqlite3_stmt *up =
        vf_stmt(s, ST_SUP_UPSERT,
                "INSERT INTO suppressions VALUES(?1,?2,?3,?4,?5,?6,?7,?8) ON CONFLICT DO UPDATE SET"
                " reason=excluded.reason, expires_ms=excluded.expires_ms, source=excluded.source,"
                " detail=excluded.detail,"
                " created_ms=CASE WHEN ?9 THEN created_ms ELSE excluded.created_ms END");
    if (!up)
        return xd_db_fail(s->db, sqlite3_errcode(s->db), "prepare suppression", err);
    sqlite3_bind_text(up, 1, sup->org_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(up, 2, addr, -1, SQLITE_STATIC);
    sqlite3_bind_text(up, 3, sup->scope ? sup->scope : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(up, 4, sup->reason);
    sqlite3_bind_int64(up, 5, now);
    sqlite3_bind_int64(up, 6, expires);
    sqlite3_bind_text(up, 7, sup->source ? sup->source : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(up, 8, sup->detail ? sup->detail : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(up, 9, existed);
    rc = sqlite3_step(up);
    if (rc != SQLITE_DONE)
        return xd_db_fail(s->db, rc, "store suppression", err);
    *created = !existed;
    return XD_OK;
}

xd_code vf_store_suppress(vf_store *store, const vf_suppression *sup, int *created,
                          vf_suppression_fn fn, void *ud, xd_err *err)
{
    xd_code rc;
    if ((rc = check_field(sup->org_id, "org_id", VF_MAX_ID, 1, err)) ||
        (rc = check_field(sup->address, "address", VF_MAX_ID, 1, err)) ||
        (rc = check_field(sup->scope, "scope", 64, 0, err)) ||
        (rc = check_field(sup->source, "source", 64, 0, err)) ||
        (rc = check_field(sup->detail, "detail", 512, 0, err)))
        return rc;
    if (strchr(sup->address, '\t') || (sup->scope && strchr(sup->scope, '\t')))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "address",
                            "address and scope may not hold tabs");
    if (!strchr(sup->address, '@'))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "address",
                            "address has no '@'; give the full address");
    if (sup->reason <= XD__SUPPRESSION_REASON__SUPPRESSION_REASON_UNSPECIFIED ||
        sup->reason > XD__SUPPRESSION_REASON__SUPPRESSION_REASON_MANUAL)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "reason",
                            "reason must be UNSUBSCRIBED, HARD_BOUNCE, COMPLAINT or MANUAL");
    if (sup->expires_ms < 0)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "expires_ms",
                            "expires_ms must be 0 (default) or a Unix time in ms");
    pthread_mutex_lock(&store->lock);
    rc = xd_db_begin(store->db, err);
    if (rc == XD_OK)
        rc = vf_suppress_locked(store, sup, created, err);
    if (rc == XD_OK)
        rc = xd_db_commit(store->db, err);
    else
        xd_db_rollback(store->db);
    if (rc == XD_OK && fn) {
        char addr[VF_MAX_ID + 1];
        vf_lower_copy(sup->address, addr, sizeof addr);
        sqlite3_stmt *st = vf_stmt(store, ST_SUP_READ,
                                   "SELECT org_id, address, scope, reason, created_ms,"
                                   " expires_ms, source, detail FROM suppressions"
                                   " WHERE org_id=?1 AND address=?2 AND scope=?3");
        if (st) {
            sqlite3_bind_text(st, 1, sup->org_id, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, addr, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, sup->scope ? sup->scope : "", -1, SQLITE_STATIC);
            if (sqlite3_step(st) == SQLITE_ROW) {
                vf_suppression out;
                read_sup(st, &out);
                fn(ud, &out);
            }
            sqlite3_reset(st);
        }
    }
    pthread_mutex_unlock(&store->lock);
    return rc;
}

xd_code vf_store_unsuppress(vf_store *store, const char *org_id, const char *address,
                            const char *scope, int *removed, xd_err *err)
{
    xd_code rc;
    if ((rc = check_field(org_id, "org_id", VF_MAX_ID, 1, err)) ||
        (rc = check_field(address, "address", VF_MAX_ID, 1, err)) ||
        (rc = check_field(scope, "scope", 64, 0, err)))
        return rc;
    char addr[VF_MAX_ID + 1];
    vf_lower_copy(address, addr, sizeof addr);
    pthread_mutex_lock(&store->lock);
    sqlite3_stmt *st = vf_stmt(store, ST_SUP_DELETE,
                               "DELETE FROM suppressions WHERE org_id=?1 AND address=?2 AND"
                               " scope=?3");
    if (!st) {
        rc = xd_db_fail(store->db, sqlite3_errcode(store->db), "prepare delete", err);
    } else {
        sqlite3_bind_text(st, 1, org_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, addr, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, scope ? scope : "", -1, SQLITE_STATIC);
        int s = sqlite3_step(st);
        if (s != SQLITE_DONE)
            rc = xd_db_fail(store->db, s, "delete suppression", err);
        else
            *removed = sqlite3_changes(store->db) > 0;
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&store->lock);
    return rc;
}

xd_code vf_store_list_suppressions(vf_store *store, const char *org_id, const char *address,
                                   int include_expired, unsigned page_size, const char *token,
                                   vf_suppression_fn fn, void *ud, char *next_token, xd_err *err)
{
    next_token[0] = '\0';
    xd_code rc;
    if ((rc = check_field(org_id, "org_id", VF_MAX_ID, 1, err)) ||
        (rc = check_field(address, "address", VF_MAX_ID, 0, err)) ||
        (rc = check_field(token, "page.page_token", 2 * VF_MAX_ID + 80, 0, err)))
        return rc;
    /* Token: "<address>\t<scope>" of the last row, hex-free: tab cannot occur
     * in either (CR/LF/NUL are refused; tab is refused below). */
    char after_addr[VF_MAX_ID + 1] = "", after_scope[80] = "";
    if (token && token[0]) {
        const char *tab = strchr(token, '\t');
        if (!tab || (size_t)(tab - token) > VF_MAX_ID)
            return xd_err_field(err, XD_INVALID_ARGUMENT, "page.page_token",
                                "page_token is not one this service returned");
        memcpy(after_addr, token, (size_t)(tab - token));
        after_addr[tab - token] = '\0';
        xd_strlcpy(after_scope, tab + 1, sizeof after_scope);
    }
    char addr[VF_MAX_ID + 1];
    vf_lower_copy(address, addr, sizeof addr);
    unsigned limit = page_size == 0 ? 100 : page_size > 1000 ? 1000 : page_size;
    int64_t now = xd_clock_now_ms(store->clock);
    pthread_mutex_lock(&store->lock);
    sqlite3_stmt *st = vf_stmt(
        store, ST_SUP_LIST,
        "SELECT org_id, address, scope, reason, created_ms, expires_ms, source, detail"
        " FROM suppressions WHERE org_id=?1 AND (?2 = '' OR address=?2)"
        " AND (?3 OR expires_ms = 0 OR expires_ms > ?4)"
        " AND (address > ?5 OR (address = ?5 AND scope > ?6)) ORDER BY address, scope LIMIT ?7");
    if (!st) {
        rc = xd_db_fail(store->db, sqlite3_errcode(store->db), "prepare list", err);
        goto done;
    }
    sqlite3_bind_text(st, 1, org_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, addr, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, include_expired ? 1 : 0);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_text(st, 5, after_addr, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, after_scope, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 7, (int)limit + 1);
    unsigned n = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == limit)
            break;
        vf_suppression s;
        read_sup(st, &s);
        fn(ud, &s);
        n++;
        snprintf(next_token, 2 * VF_MAX_ID + 80, "%s\t%s", s.address, s.scope);
    }
    if (step != SQLITE_ROW)
        next_token[0] = '\0';
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = xd_db_fail(store->db, step, "list suppressions", err);
    sqlite3_reset(st);
done:
    pthread_mutex_unlock(&store->lock);
    return rc;
}

xd_code vf_store_check_suppressed(vf_store *store, const char *org_id, const char *address,
                                  const char *category, int *found, vf_suppression_fn fn, void *ud,
                                  xd_err *err)
{
    *found = 0;
    char addr[VF_MAX_ID + 1];
    vf_lower_copy(address, addr, sizeof addr);
    int transactional = category && strcmp(category, "transactional") == 0;
    xd_code rc = XD_OK;
    pthread_mutex_lock(&store->lock);
    /* Org-wide entries and the category's own; unsubscribes and complaints
     * never block transactional mail (password resets, receipts). */
    sqlite3_stmt *st =
        vf_stmt(store, ST_SUP_CHECK,
                "SELECT org_id, address, scope, reason, created_ms, expires_ms, source, detail"
                " FROM suppressions WHERE org_id=?1 AND address=?2 AND (scope='' OR scope=?3)"
                " AND (expires_ms = 0 OR expires_ms > ?4) AND NOT (?5 AND reason IN (1, 3))"
                " ORDER BY reason = 2, scope DESC LIMIT 1");
    if (!st) {
        rc = xd_db_fail(store->db, sqlite3_errcode(store->db), "prepare check", err);
    } else {
        sqlite3_bind_text(st, 1, org_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, addr, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, category ? category : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, xd_clock_now_ms(store->clock));
        sqlite3_bind_int(st, 5, transactional);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            *found = 1;
            if (fn) {
                vf_suppression out;
                read_sup(st, &out);
                fn(ud, &out);
            }
        } else if (s != SQLITE_DONE) {
            rc = xd_db_fail(store->db, s, "check suppression", err);
        }
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&store->lock);
    return rc;
}

xd_code vf_store_recent_bounces(vf_store *store, const char *org_id, const char *address,
                                int64_t since_ms, unsigned *count, xd_err *err)
{
    char addr[VF_MAX_ID + 1];
    vf_lower_copy(address, addr, sizeof addr);
    xd_code rc = XD_OK;
    *count = 0;
    pthread_mutex_lock(&store->lock);
    sqlite3_stmt *st = vf_stmt(store, ST_BOUNCES,
                               "SELECT count(*) FROM bounces WHERE org_id=?1 AND address=?2"
                               " AND time_ms >= ?3");
    if (!st) {
        rc = xd_db_fail(store->db, sqlite3_errcode(store->db), "prepare bounces", err);
    } else {
        sqlite3_bind_text(st, 1, org_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, addr, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, since_ms);
        if (sqlite3_step(st) == SQLITE_ROW)
            *count = (unsigned)sqlite3_column_int(st, 0);
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&store->lock);
    return rc;
}
