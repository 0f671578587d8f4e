/* test_db.c: open, WAL, migrations by user_version, error mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xd/db.h"

static char dir[64], path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/xd-test-db-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/t.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static const char *const v1[] = {
    "CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);",
};
static const char *const v2[] = {
    "CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);",
    "ALTER TABLE item ADD COLUMN size INTEGER NOT NULL DEFAULT 0;",
};
static const char *const broken[] = {
    "CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);",
    "ALTER TABLE item ADD COLUMN size INTEGER NOT NULL DEFAULT 0;",
    "CREATE TABLE other(x INT); THIS IS NOT SQL;",
};

static void test_migrations(void **state)
{
    (void)state;
    sqlite3 *db = NULL;
    xd_err err;
    assert_int_equal(xd_db_open(path, v1, 1, NULL, &db, &err), XD_OK);
    assert_int_equal(xd_db_user_version(db), 1);
    assert_int_equal(xd_db_exec(db, "INSERT INTO item(name) VALUES ('a')", &err), XD_OK);
    xd_db_close(db);

    /* Reopen with one more migration: only the new one runs, data kept. */
    assert_int_equal(xd_db_open(path, v2, 2, NULL, &db, &err), XD_OK);
    assert_int_equal(xd_db_user_version(db), 2);
    sqlite3_stmt *st = NULL;
    assert_int_equal(xd_db_prepare(db, "SELECT name, size FROM item", &st, &err), XD_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal(xd_db_column_text(st, 0), "a");
    sqlite3_finalize(st);
    assert_int_equal(xd_db_prepare(db, "PRAGMA journal_mode", &st, &err), XD_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal(xd_db_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    assert_int_equal(xd_db_prepare(db, "PRAGMA foreign_keys", &st, &err), XD_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    xd_db_close(db);

    /* A failing migration rolls back whole and says which one. */
    assert_int_not_equal(xd_db_open(path, broken, 3, NULL, &db, &err), XD_OK);
    assert_non_null(strstr(err.message, "migration 3"));
    assert_int_equal(xd_db_open(path, v2, 2, NULL, &db, &err), XD_OK);
    assert_int_equal(xd_db_user_version(db), 2);
    assert_int_not_equal(xd_db_exec(db, "SELECT * FROM other", &err), XD_OK);
    xd_db_close(db);

    /* Older code must not open a newer schema. */
    assert_int_equal(xd_db_open(path, v1, 1, NULL, &db, &err), XD_FAILED_PRECONDITION);
    assert_non_null(strstr(err.message, "newer"));
}

static void test_errors_mapped(void **state)
{
    (void)state;
    sqlite3 *db = NULL;
    xd_err err;
    assert_int_equal(xd_db_open(path, v1, 1, NULL, &db, &err), XD_OK);
    assert_int_equal(xd_db_exec(db, "INSERT INTO item(name) VALUES ('dup')", &err), XD_OK);
    assert_int_equal(xd_db_exec(db, "INSERT INTO item(name) VALUES ('dup')", &err),
                     XD_ALREADY_EXISTS);
    assert_int_equal(xd_db_begin(db, &err), XD_OK);
    assert_int_equal(xd_db_exec(db, "INSERT INTO item(name) VALUES ('gone')", &err), XD_OK);
    xd_db_rollback(db);
    sqlite3_stmt *st = NULL;
    assert_int_equal(xd_db_prepare(db, "SELECT count(*) FROM item", &st, &err), XD_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    xd_db_close(db);

    /* A directory we cannot create files in: UNAVAILABLE with the path. */
    assert_int_equal(xd_db_open("/nonexistent-dir/x.db", v1, 1, NULL, &db, &err), XD_UNAVAILABLE);
    assert_non_null(strstr(err.message, "/nonexistent-dir/x.db"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_mapped, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
