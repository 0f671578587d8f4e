/* gw_store.c: organizations, hashed API keys and idempotency keys in SQLite. */
#include "gw_store.h"
#include "xd/db.h"
#include "xd/util.h"
#include "envelope.pb-c.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct gw_store {
    sqlite3 *db;
    /* The two reads on every request, prepared once (reset after use). */
    sqlite3_stmt *get_key;
    sqlite3_stmt *get_org;
    pthread_mutex_t lock;
    const xd_clock *clock;
    /* When this process opened the store: an unfinished idempotency row
     * created before it belongs to a process that died (one gateway writes
     * this file), so a retry takes it over at once. */
    int64_t opened_ms;
    unsigned char pepper[GW_PEPPER_LEN];
};

static const char *const migrations[] = {
    "CREATE TABLE orgs("
    " id TEXT PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " status INTEGER NOT NULL,"
    " reason TEXT NOT NULL DEFAULT '',"
    " status_since_ms INTEGER NOT NULL,"
    " status_changed_by TEXT NOT NULL DEFAULT '',"
    " created_ms INTEGER NOT NULL,"
    " operator_org INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE api_keys("
    " id TEXT PRIMARY KEY,"
    " org_id TEXT NOT NULL REFERENCES orgs(id),"
    " role INTEGER NOT NULL,"
    " hash BLOB NOT NULL,"
    " label TEXT NOT NULL DEFAULT '',"
    " created_ms INTEGER NOT NULL,"
    " created_by TEXT NOT NULL,"
    " revoked_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX api_keys_org ON api_keys(org_id);"
    "CREATE TABLE idempotency("
    " org_id TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " digest BLOB NOT NULL,"
    " reply BLOB," /* NULL while the first call runs */
    " created_ms INTEGER NOT NULL,"
    " expires_ms INTEGER NOT NULL,"
    " PRIMARY KEY(org_id, key));"
    "CREATE INDEX idempotency_expiry ON idempotency(expires_ms);",
};

#define ORG_COLS                                                                                   \
    "id, name, status, reason, status_since_ms, status_changed_by, created_ms, "                   \
    "operator_org"
#define KEY_COLS "id, org_id, role, label, created_ms, created_by, revoked_ms"

xd_code gw_store_open(const char *db_path, const char *pepper_path, const xd_clock *clock,
                      gw_store **out, xd_err *err)
{
    gw_store *s = calloc(1, sizeof(*s));
    if (!s)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    s->clock = clock;
    s->opened_ms = xd_clock_now_ms(clock);
    xd_code rc = gw_pepper_load(pepper_path, s->pepper, err);
    if (rc == XD_OK)
        rc = xd_db_open(db_path, migrations, (int)XD_ARRAY_LEN(migrations), NULL, &s->db, err);
    if (rc == XD_OK)
        rc = xd_db_prepare(s->db, "SELECT " KEY_COLS ", hash FROM api_keys WHERE id = ?",
                           &s->get_key, err);
    if (rc == XD_OK)
        rc = xd_db_prepare(s->db, "SELECT " ORG_COLS " FROM orgs WHERE id = ?", &s->get_org, err);
    if (rc != XD_OK) {
        sqlite3_finalize(s->get_key);
        xd_db_close(s->db);
        free(s);
        return rc;
    }
    pthread_mutex_init(&s->lock, NULL);
    *out = s;
    return XD_OK;
}

void gw_store_close(gw_store *s)
{
    if (!s)
        return;
    sqlite3_finalize(s->get_key);
    sqlite3_finalize(s->get_org);
    xd_db_close(s->db);
    pthread_mutex_destroy(&s->lock);
    memset(s->pepper, 0, sizeof(s->pepper));
    free(s);
}

static void copy_col(sqlite3_stmt *st, int col, char *dst, size_t size)
{
    xd_strlcpy(dst, xd_db_column_text(st, col), size);
}

static void read_org(sqlite3_stmt *st, gw_org *o)
{
    memset(o, 0, sizeof(*o));
    copy_col(st, 0, o->id, sizeof(o->id));
    copy_col(st, 1, o->name, sizeof(o->name));
    o->status = sqlite3_column_int(st, 2);
    copy_col(st, 3, o->reason, sizeof(o->reason));
    o->status_since_ms = sqlite3_column_int64(st, 4);
    copy_col(st, 5, o->status_changed_by, sizeof(o->status_changed_by));
    o->created_ms = sqlite3_column_int64(st, 6);
    o->operator_org = sqlite3_column_int(st, 7);
}

static void read_key(sqlite3_stmt *st, gw_api_key *k)
{
    memset(k, 0, sizeof(*k));
    copy_col(st, 0, k->id, sizeof(k->id));
    copy_col(st, 1, k->org_id, sizeof(k->org_id));
    k->role = sqlite3_column_int(st, 2);
    copy_col(st, 3, k->label, sizeof(k->label));
    k->created_ms = sqlite3_column_int64(st, 4);
    copy_col(st, 5, k->created_by, sizeof(k->created_by));
    k->revoked_ms = sqlite3_column_int64(st, 6);
}

/* ---- organizations (callers hold the lock) ---- */

static xd_code get_org_locked(gw_store *s, const char *org_id, gw_org *out, xd_err *err)
{
    sqlite3_stmt *st = s->get_org;
    xd_code rc = XD_OK;
    xd_db_bind_text(st, 1, org_id);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        read_org(st, out);
    else if (r == SQLITE_DONE)
        rc = xd_err_field(err, XD_NOT_FOUND, "org_id", "organization '%.40s' does not exist",
                          org_id);
    else
        rc = xd_db_fail(s->db, r, "read organization", err);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static xd_code create_org_locked(gw_store *s, const char *name, int operator_org, gw_org *out,
                                 xd_err *err)
{
    /* The operator organization has a fixed id, the one services treat as
     * Xenegrade staff (ticket's staff_org_id); others get "org_" + random. */
    sqlite3_stmt *st = NULL;
    xd_code rc = xd_db_prepare(s->db, "SELECT id FROM orgs WHERE name = ?", &st, err);
    if (rc != XD_OK)
        return rc;
    xd_db_bind_text(st, 1, name);
    if (sqlite3_step(st) == SQLITE_ROW) {
        rc = xd_err_field(err, XD_ALREADY_EXISTS, "name",
                          "an organization named '%s' already exists (id %s)", name,
                          xd_db_column_text(st, 0));
        sqlite3_finalize(st);
        return rc;
    }
    sqlite3_finalize(st);
    char id[GW_ORG_ID_MAX + 1] = "org_";
    if (operator_org)
        xd_strlcpy(id, GW_OPERATOR_ORG_ID, sizeof(id));
    else
        xd_random_hex(id + 4, 8);
    int64_t now = xd_clock_now_ms(s->clock);
    rc = xd_db_prepare(s->db,
                       "INSERT INTO orgs(id, name, status, status_since_ms, created_ms, "
                       "operator_org) VALUES(?, ?, ?, ?, ?, ?)",
                       &st, err);
    if (rc != XD_OK)
        return rc;
    xd_db_bind_text(st, 1, id);
    xd_db_bind_text(st, 2, name);
    sqlite3_bind_int(st, 3, GW_ORG_ENABLED);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int64(st, 5, now);
    sqlite3_bind_int(st, 6, operator_org ? 1 : 0);
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r != SQLITE_DONE)
        return xd_db_fail(s->db, r, "insert organization", err);
    return get_org_locked(s, id, out, err);
}

xd_code gw_store_create_org(gw_store *s, const char *name, int operator_org, gw_org *out,
                            xd_err *err)
{
    pthread_mutex_lock(&s->lock);
    xd_code rc = xd_db_begin(s->db, err);
    if (rc == XD_OK) {
        rc = create_org_locked(s, name, operator_org, out, err);
        if (rc == XD_OK)
            rc = xd_db_commit(s->db, err);
        if (rc != XD_OK)
            xd_db_rollback(s->db);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

xd_code gw_store_get_org(gw_store *s, const char *org_id, gw_org *out, xd_err *err)
{
    pthread_mutex_lock(&s->lock);
    xd_code rc = get_org_locked(s, org_id, out, err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

xd_code gw_store_list_orgs(gw_store *s, const char *after_id, int max, gw_org *out, int *n_out,
                           xd_err *err)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    int n = 0;
    xd_code rc = xd_db_prepare(
        s->db, "SELECT " ORG_COLS " FROM orgs WHERE id > ? ORDER BY id LIMIT ?", &st, err);
    if (rc == XD_OK) {
        xd_db_bind_text(st, 1, after_id ? after_id : "");
        sqlite3_bind_int(st, 2, max);
        int r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW && n < max)
            read_org(st, &out[n++]);
        if (r != SQLITE_ROW && r != SQLITE_DONE)
            rc = xd_db_fail(s->db, r, "list organizations", err);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->lock);
    *n_out = n;
    return rc;
}

xd_code gw_store_set_org_status(gw_store *s, const char *org_id, int status, const char *reason,
                                const char *changed_by, gw_org *out, xd_err *err)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    xd_code rc = xd_db_prepare(s->db,
                               "UPDATE orgs SET status = ?, reason = ?, status_since_ms = ?, "
                               "status_changed_by = ? WHERE id = ?",
                               &st, err);
    if (rc == XD_OK) {
        sqlite3_bind_int(st, 1, status);
        xd_db_bind_text(st, 2, status == GW_ORG_SUSPENDED ? reason : "");
        sqlite3_bind_int64(st, 3, xd_clock_now_ms(s->clock));
        xd_db_bind_text(st, 4, changed_by);
        xd_db_bind_text(st, 5, org_id);
        int r = sqlite3_step(st);
        sqlite3_finalize(st);
        if (r != SQLITE_DONE)
            rc = xd_db_fail(s->db, r, "update organization status", err);
        else if (sqlite3_changes(s->db) == 0)
            rc = xd_err_field(err, XD_NOT_FOUND, "org_id", "organization '%.40s' does not exist",
                              org_id);
    }
    if (rc == XD_OK)
        rc = get_org_locked(s, org_id, out, err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

xd_code gw_store_auto_suspend(gw_store *s, const char *org_id, int64_t expected_since_ms,
                              const char *reason, const char *changed_by, int *changed, xd_err *err)
{
    *changed = 0;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    xd_code rc = xd_db_prepare(s->db,
                               "UPDATE orgs SET status = ?, reason = ?, status_since_ms = ?, "
                               "status_changed_by = ? WHERE id = ? AND status = ? AND "
                               "status_since_ms = ? AND operator_org = 0",
                               &st, err);
    if (rc == XD_OK) {
        sqlite3_bind_int(st, 1, GW_ORG_SUSPENDED);
        xd_db_bind_text(st, 2, reason);
        sqlite3_bind_int64(st, 3, xd_clock_now_ms(s->clock));
        xd_db_bind_text(st, 4, changed_by);
        xd_db_bind_text(st, 5, org_id);
        sqlite3_bind_int(st, 6, GW_ORG_ENABLED);
        sqlite3_bind_int64(st, 7, expected_since_ms);
        int r = sqlite3_step(st);
        sqlite3_finalize(st);
        if (r != SQLITE_DONE)
            rc = xd_db_fail(s->db, r, "suspend organization", err);
        else
            *changed = sqlite3_changes(s->db) > 0;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ---- API keys ---- */

static xd_code create_key_locked(gw_store *s, const char *org_id, int role, const char *label,
                                 const char *created_by, gw_api_key *out, char *key_text,
                                 size_t key_text_size, xd_err *err)
{
    gw_key_parts parts;
    char text[GW_KEY_TEXT_MAX];
    gw_key_generate(&parts, text, sizeof(text));
    unsigned char hash[GW_KEY_HASH_LEN];
    gw_key_hash(s->pepper, parts.secret, hash);
    sqlite3_stmt *st = NULL;
    xd_code rc = xd_db_prepare(s->db,
                               "INSERT INTO api_keys(id, org_id, role, hash, label, created_ms, "
                               "created_by) VALUES(?, ?, ?, ?, ?, ?, ?)",
                               &st, err);
    if (rc == XD_OK) {
        xd_db_bind_text(st, 1, parts.id);
        xd_db_bind_text(st, 2, org_id);
        sqlite3_bind_int(st, 3, role);
        sqlite3_bind_blob(st, 4, hash, sizeof(hash), SQLITE_TRANSIENT);
        xd_db_bind_text(st, 5, label ? label : "");
        sqlite3_bind_int64(st, 6, xd_clock_now_ms(s->clock));
        xd_db_bind_text(st, 7, created_by);
        int r = sqlite3_step(st);
        sqlite3_finalize(st);
        if ((r & 0xff) == SQLITE_CONSTRAINT)
            rc = xd_err_field(err, XD_NOT_FOUND, "org_id", "organization '%.40s' does not exist",
                              org_id);
        else if (r != SQLITE_DONE)
            rc = xd_db_fail(s->db, r, "insert API key", err);
    }
    if (rc == XD_OK) {
        memset(out, 0, sizeof(*out));
        xd_strlcpy(out->id, parts.id, sizeof(out->id));
        xd_strlcpy(out->org_id, org_id, sizeof(out->org_id));
        out->role = role;
        xd_strlcpy(out->label, label ? label : "", sizeof(out->label));
        out->created_ms = xd_clock_now_ms(s->clock);
        xd_strlcpy(out->created_by, created_by, sizeof(out->created_by));
        xd_strlcpy(key_text, text, key_text_size);
    }
    memset(&parts, 0, sizeof(parts));
    memset(text, 0, sizeof(text));
    return rc;
}

xd_code gw_store_create_key(gw_store *s, const char *org_id, int role, const char *label,
                            const char *created_by, gw_api_key *out, char *key_text,
                            size_t key_text_size, xd_err *err)
{
    pthread_mutex_lock(&s->lock);
    xd_code rc =
        create_key_locked(s, org_id, role, label, created_by, out, key_text, key_text_size, err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static xd_code get_key_locked(gw_store *s, const char *key_id, gw_api_key *out,
                              unsigned char hash[GW_KEY_HASH_LEN], xd_err *err)
{
    sqlite3_stmt *st = s->get_key;
    xd_code rc = XD_OK;
    xd_db_bind_text(st, 1, key_id);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        read_key(st, out);
        if (hash) {
            memset(hash, 0, GW_KEY_HASH_LEN);
            if (sqlite3_column_bytes(st, 7) == GW_KEY_HASH_LEN)
                memcpy(hash, sqlite3_column_blob(st, 7), GW_KEY_HASH_LEN);
        }
    } else if (r == SQLITE_DONE) {
        rc = xd_err_field(err, XD_NOT_FOUND, "key_id", "API key '%.20s' does not exist", key_id);
    } else {
        rc = xd_db_fail(s->db, r, "read API key", err);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

xd_code gw_store_authenticate(gw_store *s, const char *key_text, gw_api_key *out, xd_err *err)
{
    gw_key_parts parts;
    if (gw_key_parse(key_text, &parts) != 0)
        return xd_err_set(err, XD_UNAUTHENTICATED,
                          "missing or malformed API key: send 'xdk_<id>_<secret>' (HTTP: "
                          "Authorization: Bearer <key>; NNG: Caller.principal)");
    unsigned char want[GW_KEY_HASH_LEN], got[GW_KEY_HASH_LEN];
    gw_key_hash(s->pepper, parts.secret, got);
    gw_api_key row;
    xd_err lookup;
    xd_err_clear(&lookup);
    pthread_mutex_lock(&s->lock);
    xd_code rc = get_key_locked(s, parts.id, &row, want, &lookup);
    pthread_mutex_unlock(&s->lock);
    memset(&parts, 0, sizeof(parts));
    if (rc == XD_NOT_FOUND)
        xd_random_bytes(want, sizeof(want)); /* still compare: same time as a wrong secret */
    else if (rc != XD_OK) {
        *err = lookup;
        return rc;
    }
    int match = xd_const_eq(want, got, sizeof(want));
    if (rc == XD_NOT_FOUND || !match)
        return xd_err_set(err, XD_UNAUTHENTICATED, "API key is not valid");
    if (row.revoked_ms)
        return xd_err_set(err, XD_UNAUTHENTICATED, "API key %s was revoked", row.id);
    *out = row;
    return XD_OK;
}

xd_code gw_store_get_key(gw_store *s, const char *key_id, gw_api_key *out, xd_err *err)
{
    pthread_mutex_lock(&s->lock);
    xd_code rc = get_key_locked(s, key_id, out, NULL, err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

xd_code gw_store_list_keys(gw_store *s, const char *org_id, int include_revoked, gw_api_key *out,
                           int max, int *n_out, xd_err *err)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    int n = 0;
    xd_code rc = xd_db_prepare(s->db,
                               "SELECT " KEY_COLS " FROM api_keys WHERE org_id = ? AND "
                               "(? OR revoked_ms = 0) ORDER BY created_ms, id LIMIT ?",
                               &st, err);
    if (rc == XD_OK) {
        xd_db_bind_text(st, 1, org_id);
        sqlite3_bind_int(st, 2, include_revoked ? 1 : 0);
        sqlite3_bind_int(st, 3, max);
        int r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW && n < max)
            read_key(st, &out[n++]);
        if (r != SQLITE_ROW && r != SQLITE_DONE)
            rc = xd_db_fail(s->db, r, "list API keys", err);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->lock);
    *n_out = n;
    return rc;
}

xd_code gw_store_revoke_key(gw_store *s, const char *key_id, gw_api_key *out, xd_err *err)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    xd_code rc = xd_db_prepare(
        s->db, "UPDATE api_keys SET revoked_ms = ? WHERE id = ? AND revoked_ms = 0", &st, err);
    if (rc == XD_OK) {
        sqlite3_bind_int64(st, 1, xd_clock_now_ms(s->clock));
        xd_db_bind_text(st, 2, key_id);
        int r = sqlite3_step(st);
        sqlite3_finalize(st);
        if (r != SQLITE_DONE)
            rc = xd_db_fail(s->db, r, "revoke API key", err);
    }
    if (rc == XD_OK)
        rc = get_key_locked(s, key_id, out, NULL, err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

xd_code gw_store_bootstrap_operator(gw_store *s, const char *label, gw_api_key *out, char *key_text,
                                    size_t key_text_size, xd_err *err)
{
    pthread_mutex_lock(&s->lock);
    gw_org org;
    sqlite3_stmt *st = NULL;
    xd_code rc = xd_db_begin(s->db, err);
    if (rc != XD_OK)
        goto done;
    rc = xd_db_prepare(s->db, "SELECT " ORG_COLS " FROM orgs WHERE operator_org = 1 LIMIT 1", &st,
                       err);
    if (rc == XD_OK) {
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW)
            read_org(st, &org);
        sqlite3_finalize(st);
        if (r == SQLITE_DONE)
            rc = create_org_locked(s, GW_OPERATOR_ORG, 1, &org, err);
        else if (r != SQLITE_ROW)
            rc = xd_db_fail(s->db, r, "find operator organization", err);
    }
    if (rc == XD_OK)
        rc = create_key_locked(s, org.id, XD__ROLE__ROLE_OPERATOR, label, "bootstrap", out,
                               key_text, key_text_size, err);
    if (rc == XD_OK)
        rc = xd_db_commit(s->db, err);
    if (rc != XD_OK)
        xd_db_rollback(s->db);
done:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ---- idempotency ---- */

/* Idempotency rows cache answers whose durable truth lives downstream: the
 * sender deduplicates Submit by the same key and ratelimit deduplicates
 * Consume by an id derived from it. Losing the newest rows to a power cut
 * only re-runs a send that is then answered as a duplicate, so their
 * commits skip the fsync (synchronous=NORMAL in WAL mode: still safe when
 * this process crashes) and two fsyncs leave every SendEmail. Every other
 * write keeps FULL, and its fsync covers the rows written before it. Lock
 * held. */
static void idem_sync(gw_store *s, int relaxed)
{
    sqlite3_exec(s->db, relaxed ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL", NULL,
                 NULL, NULL);
}

xd_code gw_store_idem_begin(gw_store *s, const char *org_id, const char *key,
                            const unsigned char digest[GW_DIGEST_LEN], int64_t ttl_ms,
                            int64_t stale_ms, gw_idem_state *state, unsigned char **reply_out,
                            size_t *reply_len, int64_t *first_ms, xd_err *err)
{
    *reply_out = NULL;
    *reply_len = 0;
    int64_t now = xd_clock_now_ms(s->clock);
    pthread_mutex_lock(&s->lock);
    idem_sync(s, 1);
    sqlite3_stmt *st = NULL;
    xd_code rc = xd_db_begin(s->db, err);
    if (rc != XD_OK)
        goto out;
    rc = xd_db_prepare(s->db,
                       "SELECT digest, reply, created_ms, expires_ms FROM idempotency "
                       "WHERE org_id = ? AND key = ?",
                       &st, err);
    if (rc != XD_OK)
        goto out;
    xd_db_bind_text(st, 1, org_id);
    xd_db_bind_text(st, 2, key);
    int r = sqlite3_step(st);
    int take = 1; /* insert or take over the row */
    if (r == SQLITE_ROW && sqlite3_column_int64(st, 3) > now) {
        int same = sqlite3_column_bytes(st, 0) == GW_DIGEST_LEN &&
                   xd_const_eq(sqlite3_column_blob(st, 0), digest, GW_DIGEST_LEN);
        int64_t created = sqlite3_column_int64(st, 2);
        int has_reply = sqlite3_column_type(st, 1) != SQLITE_NULL;
        *first_ms = created;
        take = 0;
        if (!same) {
            *state = GW_IDEM_MISMATCH;
        } else if (has_reply) {
            size_t n = (size_t)sqlite3_column_bytes(st, 1);
            *reply_out = malloc(n ? n : 1);
            if (n)
                memcpy(*reply_out, sqlite3_column_blob(st, 1), n);
            *reply_len = n;
            *state = GW_IDEM_REPLAY;
        } else if (created >= s->opened_ms && now - created < stale_ms) {
            *state = GW_IDEM_IN_PROGRESS;
        } else {
            take = 1; /* the first call's process died before finishing */
        }
    } else if (r != SQLITE_ROW && r != SQLITE_DONE) {
        rc = xd_db_fail(s->db, r, "read idempotency key", err);
        take = 0;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == XD_OK && take) {
        rc = xd_db_prepare(s->db,
                           "INSERT OR REPLACE INTO idempotency(org_id, key, digest, reply, "
                           "created_ms, expires_ms) VALUES(?, ?, ?, NULL, ?, ?)",
                           &st, err);
        if (rc == XD_OK) {
            xd_db_bind_text(st, 1, org_id);
            xd_db_bind_text(st, 2, key);
            sqlite3_bind_blob(st, 3, digest, GW_DIGEST_LEN, SQLITE_TRANSIENT);
            sqlite3_bind_int64(st, 4, now);
            sqlite3_bind_int64(st, 5, now + ttl_ms);
            r = sqlite3_step(st);
            if (r != SQLITE_DONE)
                rc = xd_db_fail(s->db, r, "reserve idempotency key", err);
            sqlite3_finalize(st);
        }
        *state = GW_IDEM_NEW;
        *first_ms = now;
    }
    if (rc == XD_OK)
        rc = xd_db_commit(s->db, err);
out:
    if (rc != XD_OK) {
        xd_db_rollback(s->db);
        free(*reply_out);
        *reply_out = NULL;
    }
    idem_sync(s, 0);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

xd_code gw_store_idem_finish(gw_store *s, const char *org_id, const char *key,
                             const unsigned char *reply, size_t reply_len, xd_err *err)
{
    pthread_mutex_lock(&s->lock);
    idem_sync(s, 1);
    sqlite3_stmt *st = NULL;
    xd_code rc = xd_db_prepare(
        s->db, "UPDATE idempotency SET reply = ? WHERE org_id = ? AND key = ?", &st, err);
    if (rc == XD_OK) {
        sqlite3_bind_blob(st, 1, reply_len ? (const void *)reply : "", (int)reply_len,
                          SQLITE_TRANSIENT);
        xd_db_bind_text(st, 2, org_id);
        xd_db_bind_text(st, 3, key);
        int r = sqlite3_step(st);
        sqlite3_finalize(st);
        if (r != SQLITE_DONE)
            rc = xd_db_fail(s->db, r, "store idempotent reply", err);
    }
    idem_sync(s, 0);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void gw_store_idem_abandon(gw_store *s, const char *org_id, const char *key)
{
    pthread_mutex_lock(&s->lock);
    idem_sync(s, 1);
    sqlite3_stmt *st = NULL;
    xd_err err;
    if (xd_db_prepare(s->db,
                      "DELETE FROM idempotency WHERE org_id = ? AND key = ? AND reply IS NULL", &st,
                      &err) == XD_OK) {
        xd_db_bind_text(st, 1, org_id);
        xd_db_bind_text(st, 2, key);
        sqlite3_step(st);
        sqlite3_finalize(st);
    }
    idem_sync(s, 0);
    pthread_mutex_unlock(&s->lock);
}

int gw_store_idem_expire(gw_store *s)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    xd_err err;
    int n = 0;
    if (xd_db_prepare(s->db, "DELETE FROM idempotency WHERE expires_ms <= ?", &st, &err) == XD_OK) {
        sqlite3_bind_int64(st, 1, xd_clock_now_ms(s->clock));
        if (sqlite3_step(st) == SQLITE_DONE)
            n = sqlite3_changes(s->db);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->lock);
    return n;
}
