/*
 * db.h: the SQLite conventions every service follows.
 *
 * xd_db_open() opens (creating) a database file in WAL mode with a busy
 * timeout, foreign keys on and synchronous=FULL (a committed transaction is
 * on disk before we reply), then applies the service's migrations: entry i
 * of the array brings the schema from user_version i to i+1, each in its own
 * transaction. SQL is only ever built from constants; values go through
 * sqlite3_bind_*. Thread-safety: one connection per thread, or a lock around
 * a shared one (SQLite is built serialized, but transactions are not).
 */
#ifndef XD_DB_H
#define XD_DB_H

#include <sqlite3.h>
#include "xd/status.h"

typedef struct xd_db_options {
    int busy_timeout_ms;    /* 0 = 5000 */
    int synchronous_normal; /* 1 = NORMAL (faster, loses last commits on power loss) */
    int read_only;
} xd_db_options;

/* Opens path (":memory:" allowed) and migrates it. On success writes *out. */
xd_code xd_db_open(const char *path, const char *const *migrations, int n_migrations,
                   const xd_db_options *options, sqlite3 **out, xd_err *err);

/* Finalizes nothing: the caller finalizes its statements first. Accepts NULL. */
void xd_db_close(sqlite3 *db);

/* Runs constant SQL (no parameters). */
xd_code xd_db_exec(sqlite3 *db, const char *sql, xd_err *err);

/* Prepares constant SQL; on success writes *out. */
xd_code xd_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out, xd_err *err);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. Rollback never fails loudly. */
xd_code xd_db_begin(sqlite3 *db, xd_err *err);
xd_code xd_db_commit(sqlite3 *db, xd_err *err);
void xd_db_rollback(sqlite3 *db);

/* Turns a SQLite result code into an xd_err: FULL, READONLY, IOERR, BUSY and
 * LOCKED become UNAVAILABLE (the store cannot take writes now), the rest
 * INTERNAL; the message names `what` and SQLite's own text. */
xd_code xd_db_fail(sqlite3 *db, int rc, const char *what, xd_err *err);

/* Current PRAGMA user_version, or -1. */
int xd_db_user_version(sqlite3 *db);

/* Binds a text value or NULL when s is NULL. */
int xd_db_bind_text(sqlite3_stmt *st, int idx, const char *s);

/* Column text as "" instead of NULL. */
const char *xd_db_column_text(sqlite3_stmt *st, int col);

#endif
