/* route_store.c: per-organization relay settings (see route_store.h). */
#include "route_store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "seal_gcm.h"
#include "sender_schema.h"
#include "xd/db.h"
#include "xd/util.h"

struct snd_relay_store {
    sqlite3 *db;
    pthread_mutex_t mu;
    unsigned char master[32];
    const xd_clock *clock;
    int allow_capture;
};

xd_code snd_relay_store_open(const char *path, const unsigned char master[32],
                             const xd_clock *clock, int allow_capture, snd_relay_store **out,
                             xd_err *err)
{
    snd_relay_store *rs = calloc(1, sizeof *rs);
    if (!rs)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    xd_code rc =
        xd_db_open(path, snd_schema_migrations, snd_schema_n_migrations, NULL, &rs->db, err);
    if (rc != XD_OK) {
        free(rs);
        return rc;
    }
    pthread_mutex_init(&rs->mu, NULL);
    memcpy(rs->master, master, 32);
    rs->clock = clock ? clock : xd_clock_system();
    rs->allow_capture = allow_capture;
    *out = rs;
    return XD_OK;
}

void snd_relay_store_close(snd_relay_store *rs)
{
    if (!rs)
        return;
    xd_db_close(rs->db);
    pthread_mutex_destroy(&rs->mu);
    OPENSSL_cleanse(rs->master, sizeof rs->master);
    free(rs);
}

void snd_relay_wipe(snd_relay *r)
{
    OPENSSL_cleanse(r->password, sizeof r->password);
}

/* A host name or IP literal: letters, digits, '.', '-', ':' and brackets. */
static int host_ok(const char *h)
{
    size_t n = strlen(h);
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
            return 0;
    }
    return 1;
}

static xd_code validate(const snd_relay_store *rs, const snd_relay *in, xd_err *err)
{
    if (in->route < SND_ROUTE_DIRECT_MX || in->route > SND_ROUTE_TEST_CAPTURE)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "route",
                            "route must be DIRECT_MX, SMARTHOST or ORG_RELAY");
    if (in->route == SND_ROUTE_TEST_CAPTURE && !rs->allow_capture)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "route",
                            "TEST_CAPTURE is only available when delivery.allow_capture is on");
    if (in->tls < 0 || in->tls > SND_RELAY_TLS_IMPLICIT)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "tls", "unknown TLS policy");
    int relay = in->route == SND_ROUTE_SMARTHOST || in->route == SND_ROUTE_ORG_RELAY;
    if (relay && !host_ok(in->host))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "host",
                            "host must be a DNS name or IP literal of at most 253 octets");
    if (xd_has_crlf_nul(in->username, strlen(in->username)) ||
        xd_has_crlf_nul(in->password, strlen(in->password)))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "username",
                            "credentials must not contain CR, LF or NUL");
    if (!in->username[0] && in->password[0])
        return xd_err_field(err, XD_INVALID_ARGUMENT, "username", "a password needs a username");
    return XD_OK;
}

xd_code snd_relay_set(snd_relay_store *rs, const char *org_id, const snd_relay *in,
                      uint64_t expected_version, uint64_t *version, xd_err *err)
{
    xd_code rc = validate(rs, in, err);
    if (rc != XD_OK)
        return rc;
    unsigned char sealed[sizeof in->password + SND_SEAL_OVERHEAD];
    size_t sealed_len = 0;
    char aad[200];
    snprintf(aad, sizeof aad, "relay|%s", org_id);
    if (in->password[0] && snd_seal(rs->master, aad, (const unsigned char *)in->password,
                                    strlen(in->password), sealed, &sealed_len) != 0)
        return xd_err_set(err, XD_INTERNAL, "cannot seal the relay password");
    pthread_mutex_lock(&rs->mu);
    rc = xd_db_begin(rs->db, err);
    uint64_t cur = 0;
    sqlite3_stmt *st = NULL;
    if (rc == XD_OK)
        rc = xd_db_prepare(rs->db, "SELECT version FROM relays WHERE org_id = ?1", &st, err);
    if (rc == XD_OK) {
        xd_db_bind_text(st, 1, org_id);
        if (sqlite3_step(st) == SQLITE_ROW)
            cur = (uint64_t)sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (expected_version && expected_version != cur)
            rc = xd_err_field(err, XD_FAILED_PRECONDITION, "expected_version",
                              "the relay is at version %llu, not %llu", (unsigned long long)cur,
                              (unsigned long long)expected_version);
    }
    if (rc == XD_OK)
        rc = xd_db_prepare(rs->db,
                           "INSERT OR REPLACE INTO relays (org_id, route, host, port, tls, "
                           "username, password_sealed, version, updated_at_ms) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                           &st, err);
    if (rc == XD_OK) {
        xd_db_bind_text(st, 1, org_id);
        sqlite3_bind_int(st, 2, in->route);
        xd_db_bind_text(st, 3, in->host);
        sqlite3_bind_int(st, 4, in->port);
        sqlite3_bind_int(st, 5, in->tls);
        xd_db_bind_text(st, 6, in->username);
        if (sealed_len)
            sqlite3_bind_blob(st, 7, sealed, (int)sealed_len, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 7);
        sqlite3_bind_int64(st, 8, (int64_t)(cur + 1));
        sqlite3_bind_int64(st, 9, xd_clock_now_ms(rs->clock));
        int s = sqlite3_step(st);
        if (s != SQLITE_DONE)
            rc = xd_db_fail(rs->db, s, "storing the relay", err);
        sqlite3_finalize(st);
    }
    if (rc == XD_OK)
        rc = xd_db_commit(rs->db, err);
    if (rc != XD_OK)
        xd_db_rollback(rs->db);
    else
        *version = cur + 1;
    pthread_mutex_unlock(&rs->mu);
    return rc;
}

xd_code snd_relay_get(snd_relay_store *rs, const char *org_id, snd_relay *out, int *found,
                      xd_err *err)
{
    memset(out, 0, sizeof *out);
    *found = 0;
    pthread_mutex_lock(&rs->mu);
    sqlite3_stmt *st = NULL;
    xd_code rc = xd_db_prepare(rs->db,
                               "SELECT route, host, port, tls, username, password_sealed, version "
                               "FROM relays WHERE org_id = ?1",
                               &st, err);
    if (rc == XD_OK) {
        xd_db_bind_text(st, 1, org_id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            *found = 1;
            out->route = sqlite3_column_int(st, 0);
            xd_strlcpy(out->host, xd_db_column_text(st, 1), sizeof out->host);
            out->port = (uint16_t)sqlite3_column_int(st, 2);
            out->tls = sqlite3_column_int(st, 3);
            xd_strlcpy(out->username, xd_db_column_text(st, 4), sizeof out->username);
            out->version = (uint64_t)sqlite3_column_int64(st, 6);
            const unsigned char *blob = sqlite3_column_blob(st, 5);
            size_t n = (size_t)sqlite3_column_bytes(st, 5), pt_len = 0;
            char aad[200];
            snprintf(aad, sizeof aad, "relay|%s", org_id);
            if (blob && n) {
                if (n > sizeof out->password - 1 + SND_SEAL_OVERHEAD ||
                    snd_unseal(rs->master, aad, blob, n, (unsigned char *)out->password, &pt_len) !=
                        0)
                    rc = xd_err_set(err, XD_INTERNAL,
                                    "the relay password cannot be unsealed (wrong master key?)");
                else
                    out->password[pt_len] = '\0';
            }
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&rs->mu);
    if (rc != XD_OK)
        snd_relay_wipe(out);
    return rc;
}
