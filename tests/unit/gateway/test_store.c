/* test_store.c: the gateway's SQLite store on a real file: organizations,
 * hashed API keys, the pepper file, bootstrap, idempotency keys. */
#define _GNU_SOURCE /* memmem */
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

#include "envelope.pb-c.h"
#include "gw_store.h"
#include "xd/db.h"

static char dir[256], db_path[300], pepper_path[300];

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/xd-gw-store-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(db_path, sizeof(db_path), "%s/gateway.db", dir);
    snprintf(pepper_path, sizeof(pepper_path), "%s/gateway.pepper", dir);
    xd_clock *clock = xd_clock_manual_new(1800000000000LL);
    *state = clock;
    return 0;
}

static int teardown(void **state)
{
    xd_clock_free(*state);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

static gw_store *open_store(xd_clock *clock)
{
    gw_store *s = NULL;
    xd_err err;
    xd_err_clear(&err);
    if (gw_store_open(db_path, pepper_path, clock, &s, &err) != XD_OK)
        fail_msg("open: %s", err.message);
    return s;
}

static void test_orgs(void **state)
{
    gw_store *s = open_store(*state);
    gw_org a, b, got;
    xd_err err;
    assert_int_equal(gw_store_create_org(s, "Acme", 0, &a, &err), XD_OK);
    assert_int_equal(strncmp(a.id, "org_", 4), 0);
    assert_int_equal(a.status, GW_ORG_ENABLED);
    assert_int_equal(gw_store_create_org(s, "Acme", 0, &b, &err), XD_ALREADY_EXISTS);
    assert_non_null(strstr(err.message, a.id));
    assert_int_equal(gw_store_create_org(s, "Beta", 0, &b, &err), XD_OK);
    assert_int_equal(gw_store_get_org(s, "org_missing", &got, &err), XD_NOT_FOUND);

    xd_clock_advance_ms(*state, 5000);
    assert_int_equal(
        gw_store_set_org_status(s, a.id, GW_ORG_SUSPENDED, "spam traps hit", "k1", &got, &err),
        XD_OK);
    assert_int_equal(got.status, GW_ORG_SUSPENDED);
    assert_string_equal(got.reason, "spam traps hit");
    assert_int_equal(got.status_since_ms, 1800000005000LL);
    assert_string_equal(got.status_changed_by, "k1");
    assert_int_equal(
        gw_store_set_org_status(s, "org_missing", GW_ORG_ENABLED, "", "k1", &got, &err),
        XD_NOT_FOUND);
    gw_store_close(s);

    /* Durable: a new connection sees the suspension. */
    s = open_store(*state);
    assert_int_equal(gw_store_get_org(s, a.id, &got, &err), XD_OK);
    assert_int_equal(got.status, GW_ORG_SUSPENDED);
    gw_org list[4];
    int n = 0;
    assert_int_equal(gw_store_list_orgs(s, "", 4, list, &n, &err), XD_OK);
    assert_int_equal(n, 2);
    assert_int_equal(gw_store_list_orgs(s, list[0].id, 4, list, &n, &err), XD_OK);
    assert_int_equal(n, 1);
    gw_store_close(s);
}

static void test_keys_hashed_and_checked(void **state)
{
    gw_store *s = open_store(*state);
    gw_org org;
    xd_err err;
    assert_int_equal(gw_store_create_org(s, "Acme", 0, &org, &err), XD_OK);
    gw_api_key key, who;
    char text[GW_KEY_TEXT_MAX];
    assert_int_equal(gw_store_create_key(s, org.id, XD__ROLE__ROLE_MODULE, "ci", "k0", &key, text,
                                         sizeof(text), &err),
                     XD_OK);
    assert_int_equal(strlen(text), GW_KEY_TEXT_MAX - 1);
    assert_int_equal(strncmp(text, "xdk_", 4), 0);
    assert_int_equal(gw_store_authenticate(s, text, &who, &err), XD_OK);
    assert_string_equal(who.id, key.id);
    assert_string_equal(who.org_id, org.id);
    assert_int_equal(who.role, XD__ROLE__ROLE_MODULE);

    /* The secret is not in the database file: only its HMAC. */
    const char *secret = text + 4 + GW_KEY_ID_HEX + 1;
    FILE *f = fopen(db_path, "rb");
    assert_non_null(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    assert_null(memmem(buf, n, secret, strlen(secret)));

    /* One flipped secret character, an unknown id, garbage: UNAUTHENTICATED. */
    char wrong[GW_KEY_TEXT_MAX];
    memcpy(wrong, text, sizeof(wrong));
    wrong[sizeof(wrong) - 2] = wrong[sizeof(wrong) - 2] == 'a' ? 'b' : 'a';
    assert_int_equal(gw_store_authenticate(s, wrong, &who, &err), XD_UNAUTHENTICATED);
    assert_null(strstr(err.message, secret));
    memcpy(wrong, text, sizeof(wrong));
    wrong[5] = wrong[5] == 'a' ? 'b' : 'a';
    assert_int_equal(gw_store_authenticate(s, wrong, &who, &err), XD_UNAUTHENTICATED);
    assert_int_equal(gw_store_authenticate(s, "xdk_short", &who, &err), XD_UNAUTHENTICATED);
    assert_int_equal(gw_store_authenticate(s, "", &who, &err), XD_UNAUTHENTICATED);
    assert_int_equal(gw_store_authenticate(s, NULL, &who, &err), XD_UNAUTHENTICATED);

    /* Revoked: refused from then on; revoking again is harmless. */
    gw_api_key rk;
    assert_int_equal(gw_store_revoke_key(s, key.id, &rk, &err), XD_OK);
    assert_true(rk.revoked_ms > 0);
    assert_int_equal(gw_store_revoke_key(s, key.id, &rk, &err), XD_OK);
    assert_int_equal(gw_store_authenticate(s, text, &who, &err), XD_UNAUTHENTICATED);
    assert_non_null(strstr(err.message, "revoked"));
    assert_int_equal(gw_store_revoke_key(s, "0000000000000000", &rk, &err), XD_NOT_FOUND);

    gw_api_key list[8];
    int nk = 0;
    assert_int_equal(gw_store_list_keys(s, org.id, 0, list, 8, &nk, &err), XD_OK);
    assert_int_equal(nk, 0);
    assert_int_equal(gw_store_list_keys(s, org.id, 1, list, 8, &nk, &err), XD_OK);
    assert_int_equal(nk, 1);
    /* A key for an organization that does not exist is refused. */
    assert_int_equal(gw_store_create_key(s, "org_nope", XD__ROLE__ROLE_MODULE, "", "k0", &key, text,
                                         sizeof(text), &err),
                     XD_NOT_FOUND);
    gw_store_close(s);
}

static void test_pepper_file(void **state)
{
    gw_store *s = open_store(*state);
    gw_org org;
    xd_err err;
    gw_api_key key, who;
    char text[GW_KEY_TEXT_MAX];
    assert_int_equal(gw_store_create_org(s, "Acme", 0, &org, &err), XD_OK);
    assert_int_equal(gw_store_create_key(s, org.id, XD__ROLE__ROLE_ADMIN, "", "k0", &key, text,
                                         sizeof(text), &err),
                     XD_OK);
    gw_store_close(s);
    struct stat st;
    assert_int_equal(stat(pepper_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, GW_PEPPER_LEN);
    /* Same pepper after reopening: the key still works. */
    s = open_store(*state);
    assert_int_equal(gw_store_authenticate(s, text, &who, &err), XD_OK);
    gw_store_close(s);
    /* Another pepper: the stored hashes no longer match. */
    unlink(pepper_path);
    s = open_store(*state);
    assert_int_equal(gw_store_authenticate(s, text, &who, &err), XD_UNAUTHENTICATED);
    gw_store_close(s);
}

static void test_bootstrap(void **state)
{
    gw_store *s = open_store(*state);
    xd_err err;
    gw_api_key k1, k2, who;
    char t1[GW_KEY_TEXT_MAX], t2[GW_KEY_TEXT_MAX];
    assert_int_equal(gw_store_bootstrap_operator(s, "first", &k1, t1, sizeof(t1), &err), XD_OK);
    assert_int_equal(gw_store_bootstrap_operator(s, "second", &k2, t2, sizeof(t2), &err), XD_OK);
    assert_string_equal(k1.org_id, k2.org_id); /* one operator organization */
    assert_int_equal(gw_store_authenticate(s, t2, &who, &err), XD_OK);
    assert_int_equal(who.role, XD__ROLE__ROLE_OPERATOR);
    assert_string_equal(who.created_by, "bootstrap");
    gw_org org;
    assert_int_equal(gw_store_get_org(s, k1.org_id, &org, &err), XD_OK);
    assert_true(org.operator_org);
    assert_string_equal(org.name, GW_OPERATOR_ORG);
    gw_store_close(s);
}

static void test_idempotency(void **state)
{
    gw_store *s = open_store(*state);
    xd_err err;
    unsigned char d1[GW_DIGEST_LEN], d2[GW_DIGEST_LEN];
    memset(d1, 1, sizeof(d1));
    memset(d2, 2, sizeof(d2));
    gw_idem_state st;
    unsigned char *reply = NULL;
    size_t len = 0;
    int64_t first = 0;
    const int64_t ttl = 3600000, stale = 60000;
    assert_int_equal(
        gw_store_idem_begin(s, "org_a", "k", d1, ttl, stale, &st, &reply, &len, &first, &err),
        XD_OK);
    assert_int_equal(st, GW_IDEM_NEW);
    /* While the first runs: the same request waits, another is refused. */
    assert_int_equal(
        gw_store_idem_begin(s, "org_a", "k", d1, ttl, stale, &st, &reply, &len, &first, &err),
        XD_OK);
    assert_int_equal(st, GW_IDEM_IN_PROGRESS);
    assert_int_equal(
        gw_store_idem_begin(s, "org_a", "k", d2, ttl, stale, &st, &reply, &len, &first, &err),
        XD_OK);
    assert_int_equal(st, GW_IDEM_MISMATCH);
    /* Keys are per organization. */
    assert_int_equal(
        gw_store_idem_begin(s, "org_b", "k", d2, ttl, stale, &st, &reply, &len, &first, &err),
        XD_OK);
    assert_int_equal(st, GW_IDEM_NEW);
    assert_int_equal(gw_store_idem_finish(s, "org_a", "k", (const unsigned char *)"R1", 2, &err),
                     XD_OK);
    assert_int_equal(
        gw_store_idem_begin(s, "org_a", "k", d1, ttl, stale, &st, &reply, &len, &first, &err),
        XD_OK);
    assert_int_equal(st, GW_IDEM_REPLAY);
    assert_int_equal(len, 2);
    assert_memory_equal(reply, "R1", 2);
    free(reply);
    reply = NULL;
    /* Abandoned reservation: a retry runs again. */
    gw_store_idem_abandon(s, "org_b", "k");
    assert_int_equal(
        gw_store_idem_begin(s, "org_b", "k", d1, ttl, stale, &st, &reply, &len, &first, &err),
        XD_OK);
    assert_int_equal(st, GW_IDEM_NEW);
    /* A reservation whose process died is taken over after stale_ms. */
    xd_clock_advance_ms(*state, stale + 1);
    assert_int_equal(
        gw_store_idem_begin(s, "org_b", "k", d1, ttl, stale, &st, &reply, &len, &first, &err),
        XD_OK);
    assert_int_equal(st, GW_IDEM_NEW);
    /* After the TTL the key is free again, and expire removes it. */
    xd_clock_advance_ms(*state, ttl + 1);
    assert_int_equal(
        gw_store_idem_begin(s, "org_a", "k", d2, ttl, stale, &st, &reply, &len, &first, &err),
        XD_OK);
    assert_int_equal(st, GW_IDEM_NEW);
    xd_clock_advance_ms(*state, ttl + 1);
    assert_int_equal(gw_store_idem_expire(s), 2);
    gw_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_orgs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_hashed_and_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pepper_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bootstrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotency, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
