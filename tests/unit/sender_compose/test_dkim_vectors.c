/*
 * test_dkim_vectors.c: our canonicalization and signer against published
 * vectors: RFC 8463 Appendix A (both b= values byte for byte), RFC 6376
 * 3.4.5 (exact canonical bytes), the RFC empty-body hashes, dkimpy's
 * simple body hash of the same message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "compose_buf.h"
#include "dkim_canon.h"
#include "dkim_sign.h"
#include "mime_encode.h"
#include "test_util.h"

static char *corpus(const char *rel, size_t *len)
{
    char path[1024];
    tu_corpus_path(rel, path, sizeof path);
    char *data = tu_read_file(path, len);
    if (!data)
        fail_msg("cannot read corpus file %s", path);
    return data;
}

static void sha256_b64(const void *data, size_t n, char *out)
{
    unsigned char d[32];
    SHA256(data, n, d);
    snd_buf b;
    snd_buf_init(&b, 0);
    snd_base64_raw(&b, d, 32, 0);
    strcpy(out, b.data);
    snd_buf_free(&b);
}

/* The b= (or bh=) value of a DKIM-Signature field with whitespace removed. */
static void tag_value(const char *field, const char *tag, char *out, size_t size)
{
    char pat[16];
    snprintf(pat, sizeof pat, " %s=", tag);
    const char *p = strstr(field, pat);
    assert_non_null(p);
    p += strlen(pat);
    size_t o = 0;
    for (; *p && *p != ';' && o + 1 < size; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
            out[o++] = *p;
    out[o] = '\0';
}

static const char *const RFC8463_H[] = {"from",       "to",   "subject", "date",
                                        "message-id", "from", "subject", "date"};

static void sign_rfc8463(snd_dkim_alg alg, EVP_PKEY *key, const char *selector, snd_buf *out)
{
    size_t len;
    char *msg = corpus("dkim-rfc-vectors/rfc8463/unsigned-message.eml", &len);
    snd_dkim_signer s = {
        .alg = alg,
        .pkey = key,
        .domain = "football.example.com",
        .selector = selector,
        .identity = "@football.example.com",
        .include_q = 1,
        .timestamp = 1528637909,
        .headers = RFC8463_H,
        .n_headers = 8,
        .h_sep = " : ",
    };
    xd_err err;
    xd_err_clear(&err);
    assert_int_equal(snd_dkim_sign(&s, msg, len, out, &err), XD_OK);
    free(msg);
}

static void test_rfc8463_ed25519(void **state)
{
    (void)state;
    char *csv = corpus("dkim-rfc-vectors/rfc8463/expected.csv", NULL);
    char seed_b64[128], want_b[256], want_bh[128], got[256];
    assert_int_equal(tu_csv_value(csv, "ed25519_private_seed_b64", seed_b64, sizeof seed_b64), 0);
    assert_int_equal(tu_csv_value(csv, "ed25519_b_tag", want_b, sizeof want_b), 0);
    assert_int_equal(tu_csv_value(csv, "body_hash_relaxed_sha256_b64", want_bh, sizeof want_bh), 0);
    unsigned char seed[64];
    assert_int_equal(snd_base64_decode(seed_b64, strlen(seed_b64), seed, sizeof seed), 32);
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    assert_non_null(key);
    snd_buf out;
    snd_buf_init(&out, 0);
    sign_rfc8463(SND_DKIM_ED25519_SHA256, key, "brisbane", &out);
    tag_value(out.data, "bh", got, sizeof got);
    assert_string_equal(got, want_bh);
    tag_value(out.data, "b", got, sizeof got);
    assert_string_equal(got, want_b);
    /* Every line of our field fits, and the field ends the header line. */
    assert_true(out.len > 2 && memcmp(out.data + out.len - 2, "\r\n", 2) == 0);
    snd_buf_free(&out);
    EVP_PKEY_free(key);
    free(csv);
}

static void test_rfc8463_rsa(void **state)
{
    (void)state;
    char *csv = corpus("dkim-rfc-vectors/rfc8463/expected.csv", NULL);
    char want_b[512], got[512];
    assert_int_equal(tu_csv_value(csv, "rsa_b_tag", want_b, sizeof want_b), 0);
    char path[1024];
    tu_corpus_path("dkim-rfc-vectors/rfc8463/keys/rsa-test-private.pem", path, sizeof path);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(key);
    snd_buf out;
    snd_buf_init(&out, 0);
    sign_rfc8463(SND_DKIM_RSA_SHA256, key, "test", &out);
    tag_value(out.data, "b", got, sizeof got);
    assert_string_equal(got, want_b);
    snd_buf_free(&out);
    EVP_PKEY_free(key);
    free(csv);
}

static void test_rfc8463_bodies(void **state)
{
    (void)state;
    size_t len, rlen, slen;
    char *msg = corpus("dkim-rfc-vectors/rfc8463/unsigned-message.eml", &len);
    char *relaxed = corpus("dkim-rfc-vectors/rfc8463/derived/body-canon-relaxed.bin", &rlen);
    char *simple = corpus("dkim-rfc-vectors/rfc8463/derived/body-canon-simple.bin", &slen);
    char *csv = corpus("dkim-rfc-vectors/rfc8463/expected.csv", NULL);
    snd_hfield f[16];
    const char *body;
    size_t body_len;
    assert_int_equal(snd_dkim_split(msg, len, f, 16, &body, &body_len), 5);
    snd_buf b;
    snd_buf_init(&b, 0);
    snd_dkim_canon_body_relaxed(&b, body, body_len);
    assert_int_equal(b.len, rlen);
    assert_memory_equal(b.data, relaxed, rlen);
    snd_buf_reset(&b);
    snd_dkim_canon_body_simple(&b, body, body_len);
    assert_int_equal(b.len, slen);
    assert_memory_equal(b.data, simple, slen);
    char want[128], got[64];
    assert_int_equal(tu_csv_value(csv, "body_hash_simple_sha256_b64", want, sizeof want), 0);
    sha256_b64(b.data, b.len, got);
    assert_string_equal(got, want);
    snd_buf_free(&b);
    free(msg);
    free(relaxed);
    free(simple);
    free(csv);
}

static void test_rfc6376_345(void **state)
{
    (void)state;
    size_t len, n;
    char *msg = corpus("dkim-rfc-vectors/rfc6376-3.4.5/input.eml", &len);
    const char *files[4] = {"relaxed-header.bin", "relaxed-body.bin", "simple-header.bin",
                            "simple-body.bin"};
    snd_hfield f[8];
    const char *body;
    size_t body_len;
    assert_int_equal(snd_dkim_split(msg, len, f, 8, &body, &body_len), 2);
    for (int which = 0; which < 4; which++) {
        char rel[256];
        snprintf(rel, sizeof rel, "dkim-rfc-vectors/rfc6376-3.4.5/%s", files[which]);
        char *want = corpus(rel, &n);
        snd_buf b;
        snd_buf_init(&b, 0);
        int relaxed = which < 2, header = which % 2 == 0;
        if (header)
            for (int i = 0; i < 2; i++)
                relaxed ? snd_dkim_canon_header_relaxed(&b, f[i].start, f[i].len)
                        : snd_dkim_canon_header_simple(&b, f[i].start, f[i].len);
        else
            relaxed ? snd_dkim_canon_body_relaxed(&b, body, body_len)
                    : snd_dkim_canon_body_simple(&b, body, body_len);
        assert_int_equal(b.len, n);
        assert_memory_equal(b.data, want, n);
        snd_buf_free(&b);
        free(want);
    }
    free(msg);
}

static int csv_last_column(const char *csv, const char *item, char out[128])
{
    const char *p = strstr(csv, item);
    if (!p)
        return -1;
    size_t n = strcspn(p, "\r\n");
    const char *comma = p + n;
    while (comma > p && comma[-1] != ',')
        comma--;
    size_t len = (size_t)(p + n - comma);
    if (comma == p || len == 0 || len >= 128)
        return -1;
    memcpy(out, comma, len);
    out[len] = '\0';
    return 0;
}

static void test_empty_body_hashes(void **state)
{
    (void)state;
    char *csv = corpus("dkim-rfc-vectors/rfc6376-3.4.5/expected.csv", NULL);
    char want_simple[128], want_relaxed[128], got[64];
    /* Those rows keep the hash in their last column. */
    assert_int_equal(csv_last_column(csv, "(empty body; simple = CRLF)", want_simple), 0);
    assert_int_equal(csv_last_column(csv, "(empty body; relaxed = empty)", want_relaxed), 0);
    const char *bodies[] = {"", "\r\n\r\n", " \t\r\n"};
    for (int i = 0; i < 3; i++) {
        snd_buf b;
        snd_buf_init(&b, 0);
        snd_dkim_canon_body_relaxed(&b, bodies[i], strlen(bodies[i]));
        sha256_b64(b.data ? b.data : "", b.len, got);
        assert_string_equal(got, want_relaxed);
        snd_buf_free(&b);
    }
    for (int i = 0; i < 2; i++) {
        snd_buf b;
        snd_buf_init(&b, 0);
        snd_dkim_canon_body_simple(&b, bodies[i], strlen(bodies[i]));
        sha256_b64(b.data, b.len, got);
        assert_string_equal(got, want_simple);
        snd_buf_free(&b);
    }
    free(csv);
}

/* A message whose header is malformed is refused, not signed. */
static void test_malformed_rejected(void **state)
{
    (void)state;
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    const char *h[] = {"from"};
    snd_dkim_signer s = {.alg = SND_DKIM_ED25519_SHA256,
                         .pkey = key,
                         .domain = "a.example",
                         .selector = "s",
                         .timestamp = -1,
                         .headers = h,
                         .n_headers = 1};
    const char *bad[] = {"From a@b.example\r\n\r\nx\r\n", " cont\r\nFrom: a\r\n\r\n",
                         "From: a\nTo: b\r\n\r\n"};
    for (int i = 0; i < 3; i++) {
        snd_buf out;
        snd_buf_init(&out, 0);
        xd_err err;
        xd_err_clear(&err);
        assert_int_equal(snd_dkim_sign(&s, bad[i], strlen(bad[i]), &out, &err),
                         XD_INVALID_ARGUMENT);
        snd_buf_free(&out);
    }
    /* An RSA key under the ed25519 algorithm is refused too. */
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    s.pkey = rsa;
    snd_buf out;
    snd_buf_init(&out, 0);
    xd_err err;
    assert_int_equal(snd_dkim_sign(&s, "From: a\r\n\r\n", 11, &out, &err), XD_INVALID_ARGUMENT);
    snd_buf_free(&out);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8463_ed25519),   cmocka_unit_test(test_rfc8463_rsa),
        cmocka_unit_test(test_rfc8463_bodies),    cmocka_unit_test(test_rfc6376_345),
        cmocka_unit_test(test_empty_body_hashes), cmocka_unit_test(test_malformed_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
