/* dkim_keys.c: DKIM key generation, sealing, rotation (see dkim_keys.h). */
#include "dkim_keys.h"
#include "seal_gcm.h"

#include <errno.h>
#include <fcntl.h>
#include <idn2.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compose_buf.h"
#include "mime_encode.h"
#include "sender_schema.h"
#include "xd/db.h"
#include "xd/util.h"

#define NONCE_LEN SND_SEAL_NONCE_LEN
#define TAG_LEN   SND_SEAL_TAG_LEN
#define PEM_MAX   8192

struct snd_keystore {
    sqlite3 *db;
    pthread_mutex_t mu;
    unsigned char master[32];
    const xd_clock *clock;
};

/* ------------------------------------------------------------ master key */

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

xd_code snd_dkim_master_key(const char *hex_key, const char *key_file, unsigned char out[32],
                            xd_err *err)
{
    if (hex_key && hex_key[0]) {
        if (strlen(hex_key) != 64)
            return xd_err_field(err, XD_INVALID_ARGUMENT, "dkim.master_key",
                                "dkim.master_key must be 64 hex digits (32 octets)");
        for (int i = 0; i < 32; i++) {
            int hi = hex_val(hex_key[2 * i]), lo = hex_val(hex_key[2 * i + 1]);
            if (hi < 0 || lo < 0)
                return xd_err_field(err, XD_INVALID_ARGUMENT, "dkim.master_key",
                                    "dkim.master_key must be 64 hex digits");
            out[i] = (unsigned char)(hi << 4 | lo);
        }
        return XD_OK;
    }
    int fd = open(key_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        unsigned char k[32];
        xd_random_bytes(k, sizeof k);
        fd = open(key_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, k, sizeof k) != (ssize_t)sizeof k || fsync(fd) != 0) {
            if (fd >= 0)
                close(fd);
            OPENSSL_cleanse(k, sizeof k);
            return xd_err_set(err, XD_UNAVAILABLE, "cannot create DKIM master key file %s: %s",
                              key_file, strerror(errno));
        }
        close(fd);
        memcpy(out, k, 32);
        OPENSSL_cleanse(k, sizeof k);
        return XD_OK;
    }
    if (fd < 0)
        return xd_err_set(err, XD_UNAVAILABLE, "cannot open DKIM master key file %s: %s", key_file,
                          strerror(errno));
    struct stat st;
    ssize_t got = -1;
    if (fstat(fd, &st) == 0 && (st.st_mode & 077) == 0)
        got = read(fd, out, 32);
    close(fd);
    if ((st.st_mode & 077) != 0)
        return xd_err_set(err, XD_FAILED_PRECONDITION,
                          "DKIM master key file %s is readable by group/others: chmod 600 it",
                          key_file);
    if (got != 32)
        return xd_err_set(err, XD_DATA_LOSS, "DKIM master key file %s is not 32 octets", key_file);
    return XD_OK;
}

/* --------------------------------------------------------------- sealing */

static void make_aad(const snd_dkim_key_info *k, char *aad, size_t size)
{
    snprintf(aad, size, "%s|%s|%s|%s", k->key_id, k->org_id, k->domain, k->selector);
}

/* ------------------------------------------------------------ public TXT */

xd_code snd_dkim_public_txt(EVP_PKEY *key, snd_dkim_alg alg, char *out, size_t out_size,
                            xd_err *err)
{
    unsigned char raw[1024];
    size_t n = 0;
    if (alg == SND_DKIM_ED25519_SHA256) {
        n = sizeof raw;
        if (EVP_PKEY_get_raw_public_key(key, raw, &n) != 1)
            return xd_err_set(err, XD_INTERNAL, "cannot export the Ed25519 public key");
    } else {
        unsigned char *p = raw;
        int len = i2d_PUBKEY(key, NULL);
        if (len <= 0 || (size_t)len > sizeof raw || i2d_PUBKEY(key, &p) != len)
            return xd_err_set(err, XD_INTERNAL, "cannot export the RSA public key");
        n = (size_t)len;
    }
    snd_buf b;
    snd_buf_init(&b, out_size - 1);
    snd_buf_printf(&b, "v=DKIM1; k=%s; p=", alg == SND_DKIM_ED25519_SHA256 ? "ed25519" : "rsa");
    snd_base64_raw(&b, raw, n, 0);
    xd_code rc = XD_OK;
    if (b.overflow)
        rc = xd_err_set(err, XD_INTERNAL, "DKIM TXT record too long");
    else
        memcpy(out, b.data, b.len + 1);
    snd_buf_free(&b);
    return rc;
}

int snd_dkim_txt_split(const char *txt, char chunks[][256], int max_chunks)
{
    size_t n = strlen(txt);
    int k = 0;
    for (size_t i = 0; i < n; i += 255) {
        if (k >= max_chunks)
            return -1;
        size_t take = n - i < 255 ? n - i : 255;
        memcpy(chunks[k], txt + i, take);
        chunks[k][take] = '\0';
        k++;
    }
    return k;
}

/* --------------------------------------------------------------- helpers */

xd_code snd_dkim_normalize_domain(const char *domain, char *out, xd_err *err)
{
    size_t n = domain ? strlen(domain) : 0;
    if (n == 0 || n > 253 || xd_has_crlf_nul(domain, n))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "domain", "domain must be 1-253 octets");
    char *alabel = NULL;
    int rc = idn2_to_ascii_8z(domain, &alabel, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (rc != IDN2_OK)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "domain", "domain is not a valid name: %s",
                            idn2_strerror(rc));
    size_t m = strlen(alabel), labels = 1, label = 0;
    int ok = m > 0 && m <= 253;
    for (size_t i = 0; ok && i <= m; i++) {
        char c = alabel[i];
        if (c == '.' || c == '\0') {
            ok = label > 0 && label <= 63 && alabel[i - 1] != '-';
            labels += (c == '.');
            label = 0;
            continue;
        }
        if (c >= 'A' && c <= 'Z')
            alabel[i] = (char)(c - 'A' + 'a');
        c = alabel[i];
        ok = ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && label > 0));
        label++;
    }
    if (ok && labels < 2)
        ok = 0;
    if (ok)
        memcpy(out, alabel, m + 1);
    idn2_free(alabel);
    return ok ? XD_OK
              : xd_err_field(err, XD_INVALID_ARGUMENT, "domain",
                             "domain must be a DNS name with at least two labels");
}

static xd_code check_selector(const char *s, xd_err *err)
{
    size_t n = strlen(s);
    int ok = n >= 1 && n <= 63 && s[0] != '-' && s[n - 1] != '-';
    for (size_t i = 0; ok && i < n; i++)
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-';
    return ok ? XD_OK
              : xd_err_field(err, XD_INVALID_ARGUMENT, "selector",
                             "selector must be 1-63 octets of a-z, 0-9 and '-' (one DNS label)");
}

static EVP_PKEY *generate(snd_dkim_alg alg, int bits)
{
    if (alg == SND_DKIM_ED25519_SHA256)
        return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
}

static const char *const KEY_COLS =
    "key_id, org_id, domain, selector, algorithm, bits, state, public_txt, created_at_ms, "
    "activated_at_ms, retired_at_ms";

static void read_row(sqlite3_stmt *st, snd_dkim_key_info *k)
{
    memset(k, 0, sizeof *k);
    xd_strlcpy(k->key_id, xd_db_column_text(st, 0), sizeof k->key_id);
    xd_strlcpy(k->org_id, xd_db_column_text(st, 1), sizeof k->org_id);
    xd_strlcpy(k->domain, xd_db_column_text(st, 2), sizeof k->domain);
    xd_strlcpy(k->selector, xd_db_column_text(st, 3), sizeof k->selector);
    k->alg = (snd_dkim_alg)sqlite3_column_int(st, 4);
    k->bits = sqlite3_column_int(st, 5);
    k->state = (snd_key_state)sqlite3_column_int(st, 6);
    xd_strlcpy(k->txt, xd_db_column_text(st, 7), sizeof k->txt);
    k->created_at_ms = sqlite3_column_int64(st, 8);
    k->activated_at_ms = sqlite3_column_int64(st, 9);
    k->retired_at_ms = sqlite3_column_int64(st, 10);
}

/* Finds one key by a WHERE clause over (org, domain, alg|selector, state);
 * returns 1 found, 0 none, -1 error. */
static int find_key(snd_keystore *ks, const char *where, const char *org, const char *domain,
                    const char *text3, int int3, int state, snd_dkim_key_info *out, xd_err *err)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT %s FROM dkim_keys WHERE %s", KEY_COLS, where);
    sqlite3_stmt *st = NULL;
    if (xd_db_prepare(ks->db, sql, &st, err) != XD_OK)
        return -1;
    sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, domain, -1, SQLITE_STATIC);
    if (text3)
        sqlite3_bind_text(st, 3, text3, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int(st, 3, int3);
    sqlite3_bind_int(st, 4, state);
    int rc = sqlite3_step(st);
    int found = 0;
    if (rc == SQLITE_ROW) {
        read_row(st, out);
        found = 1;
    } else if (rc != SQLITE_DONE) {
        xd_db_fail(ks->db, rc, "read dkim_keys", err);
        found = -1;
    }
    sqlite3_finalize(st);
    return found;
}

#define WHERE_BY_STATE                                                                             \
    "org_id = ?1 AND domain = ?2 AND algorithm = ?3 AND state = ?4 ORDER BY created_at_ms DESC "   \
    "LIMIT 1"
#define WHERE_BY_SELECTOR "org_id = ?1 AND domain = ?2 AND selector = ?3 AND ?4 = ?4"

/* Generates, seals and inserts a key (inside the caller's transaction). */
static xd_code insert_new(snd_keystore *ks, snd_dkim_key_info *k, xd_err *err)
{
    EVP_PKEY *key = generate(k->alg, k->bits);
    if (!key)
        return xd_err_set(err, XD_INTERNAL, "key generation failed in OpenSSL");
    xd_code rc = snd_dkim_public_txt(key, k->alg, k->txt, sizeof k->txt, err);
    unsigned char pem[PEM_MAX], sealed[PEM_MAX + NONCE_LEN + TAG_LEN];
    size_t pem_len = 0, sealed_len = 0;
    if (rc == XD_OK) {
        BIO *bio = BIO_new(BIO_s_mem());
        char *p = NULL;
        long n = 0;
        if (bio && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1 &&
            (n = BIO_get_mem_data(bio, &p)) > 0 && (size_t)n <= sizeof pem) {
            memcpy(pem, p, (size_t)n);
            pem_len = (size_t)n;
        } else {
            rc = xd_err_set(err, XD_INTERNAL, "cannot serialise the private key");
        }
        if (bio && p && n > 0)
            OPENSSL_cleanse(p, (size_t)n);
        BIO_free(bio);
    }
    char aad[512];
    make_aad(k, aad, sizeof aad);
    if (rc == XD_OK && snd_seal(ks->master, aad, pem, pem_len, sealed, &sealed_len) != 0)
        rc = xd_err_set(err, XD_INTERNAL, "cannot seal the private key");
    OPENSSL_cleanse(pem, sizeof pem);
    EVP_PKEY_free(key);
    if (rc != XD_OK)
        return rc;
    sqlite3_stmt *st = NULL;
    if ((rc = xd_db_prepare(ks->db,
                            "INSERT INTO dkim_keys (key_id, org_id, domain, selector, algorithm, "
                            "bits, state, public_txt, private_sealed, created_at_ms, "
                            "activated_at_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                            &st, err)) != XD_OK)
        return rc;
    sqlite3_bind_text(st, 1, k->key_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, k->org_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, k->domain, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, k->selector, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, k->alg);
    sqlite3_bind_int(st, 6, k->bits);
    sqlite3_bind_int(st, 7, k->state);
    sqlite3_bind_text(st, 8, k->txt, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 9, sealed, (int)sealed_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 10, k->created_at_ms);
    sqlite3_bind_int64(st, 11, k->activated_at_ms);
    int src = sqlite3_step(st);
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return xd_db_fail(ks->db, src, "insert dkim key", err);
    return XD_OK;
}

static void default_selector(const snd_keystore *ks, snd_dkim_alg alg, int attempt, char *out)
{
    time_t t = (time_t)(xd_clock_now_ms(ks->clock) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    if (attempt == 0)
        snprintf(out, 64, "xd%04d%02d%02d%c", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 alg == SND_DKIM_ED25519_SHA256 ? 'e' : 'r');
    else
        snprintf(out, 64, "xd%04d%02d%02d%c-%d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 alg == SND_DKIM_ED25519_SHA256 ? 'e' : 'r', attempt + 1);
}

static xd_code check_common(const char *org_id, snd_dkim_alg alg, int *bits, xd_err *err)
{
    if (!org_id || !org_id[0] || strlen(org_id) > 128)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "org_id", "org_id must be 1-128 octets");
    if (alg != SND_DKIM_RSA_SHA256 && alg != SND_DKIM_ED25519_SHA256)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "algorithm",
                            "algorithm must be RSA_SHA256 or ED25519_SHA256");
    if (alg == SND_DKIM_ED25519_SHA256) {
        *bits = 256;
        return XD_OK;
    }
    if (*bits == 0)
        *bits = SND_DKIM_DEFAULT_BITS;
    if (*bits != 1024 && *bits != 2048 && *bits != 3072 && *bits != 4096)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "bits",
                            "bits must be 1024, 2048, 3072 or 4096 (RFC 8301: at least 1024)");
    return XD_OK;
}

/* Creates under the lock and inside an open transaction. want_state 0 =
 * ACTIVE when none is active, else PENDING. */
static xd_code create_locked(snd_keystore *ks, const char *org, const char *domain,
                             const char *selector, snd_dkim_alg alg, int bits, int pending_only,
                             snd_dkim_key_info *out, xd_err *err)
{
    snd_dkim_key_info k, other;
    memset(&k, 0, sizeof k);
    xd_strlcpy(k.org_id, org, sizeof k.org_id);
    xd_strlcpy(k.domain, domain, sizeof k.domain);
    k.alg = alg;
    k.bits = bits;
    if (selector[0]) {
        xd_strlcpy(k.selector, selector, sizeof k.selector);
        int f = find_key(ks, WHERE_BY_SELECTOR, org, domain, selector, 0, 0, &other, err);
        if (f < 0)
            return err->code;
        if (f == 1) {
            if (other.alg == alg && !pending_only) {
                *out = other; /* idempotent repeat */
                return XD_OK;
            }
            return xd_err_field(err, XD_ALREADY_EXISTS, "selector",
                                "selector %s is already used for %s; choose another", selector,
                                domain);
        }
    } else {
        for (int attempt = 0;; attempt++) {
            if (attempt >= 20)
                return xd_err_field(err, XD_ALREADY_EXISTS, "selector",
                                    "no free generated selector today; give one");
            default_selector(ks, alg, attempt, k.selector);
            int f = find_key(ks, WHERE_BY_SELECTOR, org, domain, k.selector, 0, 0, &other, err);
            if (f < 0)
                return err->code;
            if (f == 0)
                break;
        }
    }
    int has_active =
        find_key(ks, WHERE_BY_STATE, org, domain, NULL, alg, SND_KEY_ACTIVE, &other, err);
    if (has_active < 0)
        return err->code;
    int has_pending =
        find_key(ks, WHERE_BY_STATE, org, domain, NULL, alg, SND_KEY_PENDING, &other, err);
    if (has_pending < 0)
        return err->code;
    if (has_active && has_pending)
        return xd_err_set(err, XD_FAILED_PRECONDITION,
                          "%s already has an active and a pending key of this algorithm: "
                          "promote the pending one (RotateDkimKey PROMOTE) first",
                          domain);
    int64_t now = xd_clock_now_ms(ks->clock);
    k.state = has_active ? SND_KEY_PENDING : SND_KEY_ACTIVE;
    k.created_at_ms = now;
    k.activated_at_ms = k.state == SND_KEY_ACTIVE ? now : 0;
    xd_random_hex(k.key_id, 16);
    xd_code rc = insert_new(ks, &k, err);
    if (rc == XD_OK)
        *out = k;
    return rc;
}

xd_code snd_keystore_open(const char *path, const unsigned char master[32], const xd_clock *clock,
                          snd_keystore **out, xd_err *err)
{
    snd_keystore *ks = calloc(1, sizeof *ks);
    if (!ks)
        return xd_err_set(err, XD_RESOURCE_EXHAUSTED, "out of memory");
    xd_code rc =
        xd_db_open(path, snd_schema_migrations, snd_schema_n_migrations, NULL, &ks->db, err);
    if (rc != XD_OK) {
        free(ks);
        return rc;
    }
    pthread_mutex_init(&ks->mu, NULL);
    memcpy(ks->master, master, 32);
    ks->clock = clock ? clock : xd_clock_system();
    *out = ks;
    return XD_OK;
}

void snd_keystore_close(snd_keystore *ks)
{
    if (!ks)
        return;
    xd_db_close(ks->db);
    pthread_mutex_destroy(&ks->mu);
    OPENSSL_cleanse(ks->master, sizeof ks->master);
    free(ks);
}

/* Runs fn inside the lock and an IMMEDIATE transaction. */
#define WITH_TX(ks, err, ...)                                                                      \
    do {                                                                                           \
        pthread_mutex_lock(&(ks)->mu);                                                             \
        rc = xd_db_begin((ks)->db, err);                                                           \
        if (rc == XD_OK) {                                                                         \
            __VA_ARGS__;                                                                           \
            if (rc == XD_OK)                                                                       \
                rc = xd_db_commit((ks)->db, err);                                                  \
            if (rc != XD_OK)                                                                       \
                xd_db_rollback((ks)->db);                                                          \
        }                                                                                          \
        pthread_mutex_unlock(&(ks)->mu);                                                           \
    } while (0)

xd_code snd_dkim_create(snd_keystore *ks, const char *org_id, const char *domain,
                        const char *selector, snd_dkim_alg alg, int bits, snd_dkim_key_info *out,
                        xd_err *err)
{
    char dom[254];
    xd_code rc = check_common(org_id, alg, &bits, err);
    if (rc == XD_OK)
        rc = snd_dkim_normalize_domain(domain, dom, err);
    const char *sel = selector ? selector : "";
    if (rc == XD_OK && sel[0])
        rc = check_selector(sel, err);
    if (rc != XD_OK)
        return rc;
    WITH_TX(ks, err, rc = create_locked(ks, org_id, dom, sel, alg, bits, 0, out, err));
    return rc;
}

xd_code snd_dkim_list(snd_keystore *ks, const char *org_id, const char *domain, int include_retired,
                      snd_dkim_key_info **out, size_t *n, xd_err *err)
{
    char dom[254] = "";
    if (domain && domain[0]) {
        xd_code rc = snd_dkim_normalize_domain(domain, dom, err);
        if (rc != XD_OK)
            return rc;
    }
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT %s FROM dkim_keys WHERE org_id = ?1 AND (?2 = '' OR domain = ?2) AND "
             "(?3 OR state != 3) ORDER BY created_at_ms DESC, key_id LIMIT 1000",
             KEY_COLS);
    pthread_mutex_lock(&ks->mu);
    sqlite3_stmt *st = NULL;
    xd_code rc = xd_db_prepare(ks->db, sql, &st, err);
    snd_dkim_key_info *list = NULL;
    size_t count = 0, cap = 0;
    if (rc == XD_OK) {
        sqlite3_bind_text(st, 1, org_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, dom, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, include_retired ? 1 : 0);
        int src;
        while ((src = sqlite3_step(st)) == SQLITE_ROW) {
            if (count == cap) {
                cap = cap ? cap * 2 : 8;
                snd_dkim_key_info *p = realloc(list, cap * sizeof *list);
                if (!p)
                    abort();
                list = p;
            }
            read_row(st, &list[count++]);
        }
        if (src != SQLITE_DONE)
            rc = xd_db_fail(ks->db, src, "list dkim keys", err);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&ks->mu);
    if (rc != XD_OK) {
        free(list);
        return rc;
    }
    *out = list;
    *n = count;
    return XD_OK;
}

xd_code snd_dkim_rotate_start(snd_keystore *ks, const char *org_id, const char *domain,
                              snd_dkim_alg alg, const char *new_selector, int bits,
                              snd_dkim_key_info *active, snd_dkim_key_info *pending, xd_err *err)
{
    char dom[254];
    int b = bits;
    xd_code rc = check_common(org_id, alg, &b, err);
    if (rc == XD_OK)
        rc = snd_dkim_normalize_domain(domain, dom, err);
    const char *sel = new_selector ? new_selector : "";
    if (rc == XD_OK && sel[0])
        rc = check_selector(sel, err);
    if (rc != XD_OK)
        return rc;
    WITH_TX(ks, err, {
        int f = find_key(ks, WHERE_BY_STATE, org_id, dom, NULL, alg, SND_KEY_ACTIVE, active, err);
        if (f <= 0)
            rc = f < 0 ? err->code
                       : xd_err_set(err, XD_FAILED_PRECONDITION,
                                    "%s has no active key of this algorithm: create one first "
                                    "(CreateDkimKey)",
                                    dom);
        if (rc == XD_OK) {
            f = find_key(ks, WHERE_BY_STATE, org_id, dom, NULL, alg, SND_KEY_PENDING, pending, err);
            if (f < 0)
                rc = err->code;
            else if (f == 1 && sel[0] && strcmp(sel, pending->selector) != 0)
                rc = xd_err_field(err, XD_FAILED_PRECONDITION, "new_selector",
                                  "a rotation to selector %s is already pending: promote it "
                                  "first",
                                  pending->selector);
            else if (f == 0) {
                int use_bits = bits ? b : (alg == SND_DKIM_RSA_SHA256 ? active->bits : 256);
                rc = create_locked(ks, org_id, dom, sel, alg, use_bits, 1, pending, err);
            }
        }
    });
    return rc;
}

static xd_code set_state(snd_keystore *ks, const char *key_id, snd_key_state state, int64_t now,
                         xd_err *err)
{
    sqlite3_stmt *st = NULL;
    xd_code rc =
        xd_db_prepare(ks->db,
                      state == SND_KEY_ACTIVE
                          ? "UPDATE dkim_keys SET state = 1, activated_at_ms = ?2 WHERE key_id = ?1"
                          : "UPDATE dkim_keys SET state = 3, retired_at_ms = ?2 WHERE key_id = ?1",
                      &st, err);
    if (rc != XD_OK)
        return rc;
    sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    int src = sqlite3_step(st);
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? XD_OK : xd_db_fail(ks->db, src, "update dkim key", err);
}

xd_code snd_dkim_rotate_promote(snd_keystore *ks, const char *org_id, const char *domain,
                                snd_dkim_alg alg, snd_dkim_key_info *active,
                                snd_dkim_key_info *retired, xd_err *err)
{
    char dom[254];
    int b = 0;
    xd_code rc = check_common(org_id, alg, &b, err);
    if (rc == XD_OK)
        rc = snd_dkim_normalize_domain(domain, dom, err);
    if (rc != XD_OK)
        return rc;
    WITH_TX(ks, err, {
        snd_dkim_key_info pend, old;
        int fp = find_key(ks, WHERE_BY_STATE, org_id, dom, NULL, alg, SND_KEY_PENDING, &pend, err);
        int fa = fp < 0 ? -1
                        : find_key(ks, WHERE_BY_STATE, org_id, dom, NULL, alg, SND_KEY_ACTIVE, &old,
                                   err);
        int64_t now = xd_clock_now_ms(ks->clock);
        if (fp < 0 || fa < 0)
            rc = err->code;
        else if (fp == 0)
            rc = xd_err_set(err, XD_FAILED_PRECONDITION,
                            "%s has no pending key to promote: RotateDkimKey START first", dom);
        else {
            rc = set_state(ks, pend.key_id, SND_KEY_ACTIVE, now, err);
            if (rc == XD_OK && fa == 1)
                rc = set_state(ks, old.key_id, SND_KEY_RETIRED, now, err);
            if (rc == XD_OK) {
                pend.state = SND_KEY_ACTIVE;
                pend.activated_at_ms = now;
                *active = pend;
                memset(retired, 0, sizeof *retired);
                if (fa == 1) {
                    old.state = SND_KEY_RETIRED;
                    old.retired_at_ms = now;
                    *retired = old;
                }
            }
        }
    });
    return rc;
}

xd_code snd_dkim_load_active(snd_keystore *ks, const char *org_id, const char *domain,
                             snd_dkim_key_info info[2], EVP_PKEY *keys[2], size_t *n, xd_err *err)
{
    char dom[254];
    xd_code rc = snd_dkim_normalize_domain(domain, dom, err);
    if (rc != XD_OK)
        return rc;
    size_t count = 0;
    pthread_mutex_lock(&ks->mu);
    static const snd_dkim_alg algs[2] = {SND_DKIM_RSA_SHA256, SND_DKIM_ED25519_SHA256};
    for (int a = 0; a < 2 && rc == XD_OK; a++) {
        sqlite3_stmt *st = NULL;
        rc = xd_db_prepare(ks->db,
                           "SELECT key_id, org_id, domain, selector, algorithm, bits, state, "
                           "public_txt, created_at_ms, activated_at_ms, retired_at_ms, "
                           "private_sealed FROM dkim_keys WHERE org_id = ?1 AND domain = ?2 AND "
                           "algorithm = ?3 AND state = 1 ORDER BY activated_at_ms DESC LIMIT 1",
                           &st, err);
        if (rc != XD_OK)
            break;
        sqlite3_bind_text(st, 1, org_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, dom, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, algs[a]);
        int src = sqlite3_step(st);
        if (src == SQLITE_ROW) {
            snd_dkim_key_info *k = &info[count];
            read_row(st, k);
            const unsigned char *blob = sqlite3_column_blob(st, 11);
            size_t blob_len = (size_t)sqlite3_column_bytes(st, 11);
            unsigned char pem[PEM_MAX + 1];
            size_t pem_len = 0;
            char aad[512];
            make_aad(k, aad, sizeof aad);
            if (blob_len > sizeof pem ||
                snd_unseal(ks->master, aad, blob, blob_len, pem, &pem_len)) {
                rc = xd_err_set(err, XD_DATA_LOSS,
                                "DKIM key %s cannot be unsealed (wrong master key?)", k->key_id);
            } else {
                BIO *bio = BIO_new_mem_buf(pem, (int)pem_len);
                keys[count] = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
                BIO_free(bio);
                if (!keys[count])
                    rc = xd_err_set(err, XD_DATA_LOSS, "DKIM key %s is corrupt", k->key_id);
                else
                    count++;
            }
            OPENSSL_cleanse(pem, sizeof pem);
        } else if (src != SQLITE_DONE) {
            rc = xd_db_fail(ks->db, src, "load dkim key", err);
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&ks->mu);
    if (rc != XD_OK) {
        for (size_t i = 0; i < count; i++)
            EVP_PKEY_free(keys[i]);
        return rc;
    }
    *n = count;
    return XD_OK;
}
