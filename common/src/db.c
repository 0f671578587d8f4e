/* db.c: SQLite open/migrate and error mapping. */
#include "xd/db.h"

#include <stdio.h>
#include <string.h>

xd_code xd_db_fail(sqlite3 *db, int rc, const char *what, xd_err *err)
{
    int primary = rc & 0xff;
    const char *detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    switch (primary) {
    case SQLITE_FULL:
        return xd_err_set(err, XD_UNAVAILABLE, "%s: the disk is full (%s); free space and retry",
                          what, detail);
    case SQLITE_READONLY:
        return xd_err_set(err, XD_UNAVAILABLE,
                          "%s: the database is read-only (%s); check file permissions", what,
                          detail);
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
        return xd_err_set(err, XD_UNAVAILABLE, "%s: storage I/O error (%s)", what, detail);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return xd_err_set(err, XD_UNAVAILABLE, "%s: the database is busy (%s); retry", what,
                          detail);
    case SQLITE_CONSTRAINT:
        return xd_err_set(err, XD_ALREADY_EXISTS, "%s: %s", what, detail);
    default:
        return xd_err_set(err, XD_INTERNAL, "%s: %s", what, detail);
    }
}

xd_code xd_db_exec(sqlite3 *db, const char *sql, xd_err *err)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? XD_OK : xd_db_fail(db, rc, "sql", err);
}

xd_code xd_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out, xd_err *err)
{
    int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    return rc == SQLITE_OK ? XD_OK : xd_db_fail(db, rc, "prepare", err);
}

xd_code xd_db_begin(sqlite3 *db, xd_err *err)
{
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    return rc == SQLITE_OK ? XD_OK : xd_db_fail(db, rc, "begin transaction", err);
}

xd_code xd_db_commit(sqlite3 *db, xd_err *err)
{
    int rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        return XD_OK;
    xd_code code = xd_db_fail(db, rc, "commit", err);
    xd_db_rollback(db);
    return code;
}

void xd_db_rollback(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

int xd_db_user_version(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return version;
}

static xd_code migrate(sqlite3 *db, const char *const *migrations, int n, xd_err *err)
{
    int version = xd_db_user_version(db);
    if (version < 0)
        return xd_db_fail(db, SQLITE_ERROR, "read schema version", err);
    if (version > n)
        return xd_err_set(err, XD_FAILED_PRECONDITION,
                          "database schema version %d is newer than this build knows (%d); "
                          "run the newer release or restore a backup",
                          version, n);
    for (int i = version; i < n; i++) {
        xd_code rc = xd_db_begin(db, err);
        if (rc != XD_OK)
            return rc;
        char pragma[64];
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", i + 1);
        int src = sqlite3_exec(db, migrations[i], NULL, NULL, NULL);
        if (src == SQLITE_OK)
            src = sqlite3_exec(db, pragma, NULL, NULL, NULL);
        if (src != SQLITE_OK) {
            char what[64];
            snprintf(what, sizeof(what), "migration %d", i + 1);
            rc = xd_db_fail(db, src, what, err);
            xd_db_rollback(db);
            return rc;
        }
        if ((rc = xd_db_commit(db, err)) != XD_OK)
            return rc;
    }
    return XD_OK;
}

xd_code xd_db_open(const char *path, const char *const *migrations, int n_migrations,
                   const xd_db_options *options, sqlite3 **out, xd_err *err)
{
    xd_db_options defaults = {0};
    if (!options)
        options = &defaults;
    sqlite3 *db = NULL;
    int flags =
        options->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        char what[600];
        snprintf(what, sizeof(what), "open database %s", path);
        xd_code code = xd_db_fail(db, rc, what, err);
        sqlite3_close(db);
        return code;
    }
    sqlite3_busy_timeout(db, options->busy_timeout_ms ? options->busy_timeout_ms : 5000);
    sqlite3_extended_result_codes(db, 1);
    xd_code code = xd_db_exec(db, "PRAGMA foreign_keys = ON", err);
    if (code == XD_OK && !options->read_only)
        code = xd_db_exec(db, "PRAGMA journal_mode = WAL", err);
    if (code == XD_OK)
        code = xd_db_exec(db,
                          options->synchronous_normal ? "PRAGMA synchronous = NORMAL"
                                                      : "PRAGMA synchronous = FULL",
                          err);
    if (code == XD_OK && !options->read_only)
        code = migrate(db, migrations, n_migrations, err);
    if (code != XD_OK) {
        sqlite3_close(db);
        return code;
    }
    *out = db;
    return XD_OK;
}

void xd_db_close(sqlite3 *db)
{
    if (db)
        sqlite3_close(db);
}

int xd_db_bind_text(sqlite3_stmt *st, int idx, const char *s)
{
    return s ? sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, idx);
}

const char *xd_db_column_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? (const char *)t : "";
}
