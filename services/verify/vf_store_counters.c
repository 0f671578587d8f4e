/* vf_store_counters.c: counter deltas gathered during a transaction and
 * written once per key before the commit (many events share a key). */
#include "vf_store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PENDING_SLOTS 4096 /* power of two */

typedef struct pending_entry {
    int used;
    int daily; /* 0 = counts_monthly(org, month, client, module); 1 = counts_daily(org, day,
                * domain, category); 2 = counts_domain_monthly(org, month, domain, category) */
    char org[VF_MAX_ID + 1], text1[VF_MAX_ID + 1], text2[VF_MAX_ID + 1];
    char month[16];
    int64_t day;
    int category;
    int64_t delta[6];
} pending_entry;

struct vf_pending {
    int count;
    pending_entry slots[PENDING_SLOTS];
};

vf_pending *vf_pending_new(void)
{
    return calloc(1, sizeof(vf_pending));
}

void vf_pending_free(vf_pending *p)
{
    free(p);
}

void vf_pending_clear(vf_pending *p)
{
    if (p->count == 0)
        return;
    for (int i = 0; i < PENDING_SLOTS; i++)
        p->slots[i].used = 0;
    p->count = 0;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (h ^ 0xff) * 1099511628211ULL;
}

static int same_key(const pending_entry *e, const pending_entry *k)
{
    if (e->daily != k->daily || strcmp(e->org, k->org) != 0 || strcmp(e->text1, k->text1) != 0)
        return 0;
    if (e->daily == 1)
        return e->day == k->day && e->category == k->category;
    if (e->daily == 2)
        return strcmp(e->month, k->month) == 0 && e->category == k->category;
    return strcmp(e->month, k->month) == 0 && strcmp(e->text2, k->text2) == 0;
}

static xd_code write_entry(vf_store *s, const pending_entry *e, xd_err *err)
{
    int zero = 1;
    for (int i = 0; i < 6; i++)
        zero &= e->delta[i] == 0;
    if (zero)
        return XD_OK; /* e.g. a state change inside one group */
    static const char *const monthly_sql =
        "INSERT INTO counts_monthly VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)"
        " ON CONFLICT DO UPDATE SET sent=sent+excluded.sent, "
        "delivered=delivered+excluded.delivered,"
        " deferred=deferred+excluded.deferred, bounced=bounced+excluded.bounced,"
        " suppressed=suppressed+excluded.suppressed, complained=complained+excluded.complained";
    static const char *const daily_sql =
        "INSERT INTO counts_daily VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)"
        " ON CONFLICT DO UPDATE SET sent=sent+excluded.sent, "
        "delivered=delivered+excluded.delivered,"
        " deferred=deferred+excluded.deferred, bounced=bounced+excluded.bounced,"
        " suppressed=suppressed+excluded.suppressed, complained=complained+excluded.complained";
    static const char *const domain_monthly_sql =
        "INSERT INTO counts_domain_monthly VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)"
        " ON CONFLICT DO UPDATE SET sent=sent+excluded.sent, "
        "delivered=delivered+excluded.delivered,"
        " deferred=deferred+excluded.deferred, bounced=bounced+excluded.bounced,"
        " suppressed=suppressed+excluded.suppressed, complained=complained+excluded.complained";
    sqlite3_stmt *st = e->daily == 1   ? vf_stmt(s, VF_ST_DAILY_ADD, daily_sql)
                       : e->daily == 2 ? vf_stmt(s, VF_ST_DOMAIN_MONTHLY_ADD, domain_monthly_sql)
                                       : vf_stmt(s, VF_ST_MONTHLY_ADD, monthly_sql);
    if (!st)
        return xd_db_fail(s->db, sqlite3_errcode(s->db), "prepare counters", err);
    sqlite3_bind_text(st, 1, e->org, -1, SQLITE_STATIC);
    if (e->daily == 1) {
        sqlite3_bind_int64(st, 2, e->day);
        sqlite3_bind_text(st, 3, e->text1, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, e->category);
    } else if (e->daily == 2) {
        sqlite3_bind_text(st, 2, e->month, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, e->text1, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, e->category);
    } else {
        sqlite3_bind_text(st, 2, e->month, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, e->text1, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, e->text2, -1, SQLITE_STATIC);
    }
    for (int i = 0; i < 6; i++)
        sqlite3_bind_int64(st, 5 + i, e->delta[i]);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? XD_OK : xd_db_fail(s->db, rc, "update counters", err);
}

xd_code vf_pending_flush(vf_store *s, xd_err *err)
{
    vf_pending *p = s->pending;
    xd_code rc = XD_OK;
    for (int i = 0; rc == XD_OK && i < PENDING_SLOTS && p->count > 0; i++)
        if (p->slots[i].used)
            rc = write_entry(s, &p->slots[i], err);
    vf_pending_clear(p);
    return rc;
}

static xd_code add(vf_store *s, const pending_entry *k, const int64_t *delta, int sign, xd_err *err)
{
    vf_pending *p = s->pending;
    if (p->count >= PENDING_SLOTS / 2) {
        xd_code rc = vf_pending_flush(s, err);
        if (rc != XD_OK)
            return rc;
    }
    uint64_t h = hash_str(14695981039346656037ULL, k->org);
    h = hash_str(h, k->text1);
    h = k->daily == 1   ? (h ^ (uint64_t)k->day ^ ((uint64_t)k->category << 40)) * 1099511628211ULL
        : k->daily == 2 ? (hash_str(h, k->month) ^ ((uint64_t)k->category << 40)) * 1099511628211ULL
                        : hash_str(hash_str(h, k->month), k->text2);
    h ^= (uint64_t)k->daily;
    for (unsigned i = (unsigned)h & (PENDING_SLOTS - 1);; i = (i + 1) & (PENDING_SLOTS - 1)) {
        pending_entry *e = &p->slots[i];
        if (!e->used) {
            *e = *k;
            e->used = 1;
            memset(e->delta, 0, sizeof e->delta);
            p->count++;
        } else if (!same_key(e, k)) {
            continue;
        }
        for (int j = 0; j < 6; j++)
            e->delta[j] += sign * delta[j];
        return XD_OK;
    }
}

xd_code vf_pending_add(vf_store *s, const char *org, const char *month, const char *client,
                       const char *module, int64_t day, const char *domain, int category,
                       const int64_t *delta, int sign, xd_err *err)
{
    pending_entry k;
    memset(&k, 0, sizeof k);
    snprintf(k.org, sizeof k.org, "%s", org);
    snprintf(k.month, sizeof k.month, "%s", month);
    snprintf(k.text1, sizeof k.text1, "%s", client);
    snprintf(k.text2, sizeof k.text2, "%s", module);
    xd_code rc = add(s, &k, delta, sign, err);
    if (rc != XD_OK)
        return rc;
    k.daily = 2;
    k.category = category;
    snprintf(k.text1, sizeof k.text1, "%s", domain);
    k.text2[0] = '\0';
    rc = add(s, &k, delta, sign, err);
    if (rc != XD_OK)
        return rc;
    k.daily = 1;
    k.day = day;
    k.month[0] = '\0';
    return add(s, &k, delta, sign, err);
}
