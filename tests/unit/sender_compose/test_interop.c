/*
 * test_interop.c: our canonicalization against mail signed by other
 * implementations (ietf.org, facebookmail.com, topicbox.com, github.com via
 * stalwart's corpus; Exim's Ed25519 and Gmail's degenerate folding via
 * dkimpy's). A small test-only verifier built on snd_dkim_canon_* checks
 * bh= and b= of every signature with OpenSSL; a one-octet change to each
 * message must then fail. rsa-sha1 vectors (dkim-perl-mail-dkim) are not
 * used: RFC 8301 retired rsa-sha1 and we never sign with it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compose_buf.h"
#include "dkim_canon.h"
#include "mime_encode.h"
#include "test_util.h"

#define MAX_RECORDS 8

typedef struct records {
    int n;
    char name[MAX_RECORDS][256];
    char value[MAX_RECORDS][1024];
} records;

/* LF line ends to CRLF (leaves existing CRLF alone). */
static char *to_crlf(const char *in, size_t n, size_t *out_len)
{
    char *out = malloc(2 * n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
            out[o++] = '\r';
        out[o++] = in[i];
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

static void add_record(records *r, const char *line, size_t len)
{
    const char *sp = memchr(line, ' ', len);
    assert_non_null(sp);
    assert_true(r->n < MAX_RECORDS);
    snprintf(r->name[r->n], sizeof r->name[0], "%.*s", (int)(sp - line), line);
    snprintf(r->value[r->n], sizeof r->value[0], "%.*s", (int)(len - (size_t)(sp + 1 - line)),
             sp + 1);
    r->n++;
}

static void load_records(const char *text, records *r)
{
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\r\n");
        if (n)
            add_record(r, p, n);
        p += n;
        while (*p == '\r' || *p == '\n')
            p++;
    }
}

/* Value of tag in a tag list ("a=b; c=d"), whitespace removed. */
static int tag(const char *list, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == ';')
            p++;
        const char *eq = strchr(p, '=');
        if (!eq)
            return -1;
        const char *ne = eq;
        while (ne > p && (ne[-1] == ' ' || ne[-1] == '\t'))
            ne--;
        const char *end = strchr(eq, ';');
        if (!end)
            end = eq + strlen(eq);
        if ((size_t)(ne - p) == nl && strncmp(p, name, nl) == 0) {
            size_t o = 0;
            for (const char *v = eq + 1; v < end && o + 1 < size; v++)
                if (*v != ' ' && *v != '\t' && *v != '\r' && *v != '\n')
                    out[o++] = *v;
            out[o] = '\0';
            return 0;
        }
        p = end;
    }
    return -1;
}

/* The field with the b= value deleted (RFC 6376 3.7), into out. */
static void strip_b(const snd_hfield *f, snd_buf *out)
{
    const char *s = f->start, *end = f->start + f->len;
    const char *colon = memchr(s, ':', f->len);
    const char *p = colon + 1;
    while (p < end) {
        const char *t = p;
        while (t < end && (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n'))
            t++;
        const char *semi = memchr(t, ';', (size_t)(end - t));
        const char *stop = semi ? semi : end;
        const char *q = t + 1;
        while (q < stop && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
            q++;
        if (t < end && *t == 'b' && q < stop && *q == '=') {
            snd_buf_append(out, s, (size_t)(q + 1 - s));
            snd_buf_append(out, stop, (size_t)(end - stop));
            return;
        }
        p = semi ? semi + 1 : end;
    }
    fail_msg("no b= tag");
}

/* Verifies signature number `which`; returns 1 pass, 0 fail. */
static int verify_one(const char *msg, size_t len, const records *r, int which)
{
    snd_hfield f[512];
    const char *body;
    size_t body_len;
    int nf = snd_dkim_split(msg, len, f, 512, &body, &body_len);
    assert_true(nf > 0);
    int seen = -1, sig_i = -1;
    for (int i = 0; i < nf && sig_i < 0; i++)
        if (f[i].name_len == 14 && strncasecmp(f[i].start, "DKIM-Signature", 14) == 0 &&
            ++seen == which)
            sig_i = i;
    assert_true(sig_i >= 0);
    char *val = strndup(memchr(f[sig_i].start, ':', f[sig_i].len) + 1,
                        f[sig_i].len - f[sig_i].name_len - 1);
    char a[64], c[64] = "simple/simple", d[256], s[128], h[2048], bh[128], b[1024], l[32];
    assert_int_equal(tag(val, "a", a, sizeof a), 0);
    tag(val, "c", c, sizeof c);
    assert_int_equal(tag(val, "d", d, sizeof d), 0);
    assert_int_equal(tag(val, "s", s, sizeof s), 0);
    assert_int_equal(tag(val, "h", h, sizeof h), 0);
    assert_int_equal(tag(val, "bh", bh, sizeof bh), 0);
    assert_int_equal(tag(val, "b", b, sizeof b), 0);
    int has_l = tag(val, "l", l, sizeof l) == 0;
    free(val);
    int hrelaxed = strncmp(c, "relaxed", 7) == 0;
    const char *slash = strchr(c, '/');
    int brelaxed = slash && strcmp(slash + 1, "relaxed") == 0;

    snd_buf canon;
    snd_buf_init(&canon, 0);
    if (brelaxed)
        snd_dkim_canon_body_relaxed(&canon, body, body_len);
    else
        snd_dkim_canon_body_simple(&canon, body, body_len);
    size_t blen = canon.len;
    if (has_l && (size_t)atol(l) < blen)
        blen = (size_t)atol(l);
    unsigned char digest[32];
    SHA256((const unsigned char *)canon.data, blen, digest);
    snd_buf enc;
    snd_buf_init(&enc, 0);
    snd_base64_raw(&enc, digest, 32, 0);
    int body_ok = strcmp(enc.data, bh) == 0;
    snd_buf_free(&enc);

    /* Header hash input. */
    snd_buf hin;
    snd_buf_init(&hin, 0);
    unsigned char used[512] = {0};
    for (char *name = strtok(h, ":"); name; name = strtok(NULL, ":")) {
        size_t nl = strlen(name);
        for (int i = nf - 1; i >= 0; i--) {
            if (used[i] || f[i].name_len != nl || strncasecmp(f[i].start, name, nl) != 0)
                continue;
            used[i] = 1;
            if (hrelaxed)
                snd_dkim_canon_header_relaxed(&hin, f[i].start, f[i].len);
            else
                snd_dkim_canon_header_simple(&hin, f[i].start, f[i].len);
            break;
        }
    }
    snd_buf self;
    snd_buf_init(&self, 0);
    strip_b(&f[sig_i], &self);
    if (hrelaxed)
        snd_dkim_canon_header_relaxed(&hin, self.data, self.len);
    else
        snd_dkim_canon_header_simple(&hin, self.data, self.len);
    hin.len -= 2; /* without its CRLF */
    snd_buf_free(&self);

    /* Key from the records. */
    char owner[512], p[1024], k[32] = "rsa";
    snprintf(owner, sizeof owner, "%s._domainkey.%s", s, d);
    const char *rec = NULL;
    for (int i = 0; i < r->n; i++)
        if (strcasecmp(r->name[i], owner) == 0 ||
            (strncasecmp(r->name[i], owner, strlen(owner)) == 0 &&
             r->name[i][strlen(owner)] == '.'))
            rec = r->value[i];
    assert_non_null(rec);
    assert_int_equal(tag(rec, "p", p, sizeof p), 0);
    tag(rec, "k", k, sizeof k);
    unsigned char der[1024], sig[1024];
    long dn = snd_base64_decode(p, strlen(p), der, sizeof der);
    long sn = snd_base64_decode(b, strlen(b), sig, sizeof sig);
    assert_true(dn > 0 && sn > 0);
    int ok = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (strcmp(a, "ed25519-sha256") == 0) {
        EVP_PKEY *pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, (size_t)dn);
        SHA256((const unsigned char *)hin.data, hin.len, digest);
        ok = pub && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pub) == 1 &&
             EVP_DigestVerify(md, sig, (size_t)sn, digest, 32) == 1;
        EVP_PKEY_free(pub);
    } else {
        assert_string_equal(a, "rsa-sha256");
        const unsigned char *q = der;
        EVP_PKEY *pub = d2i_PUBKEY(NULL, &q, dn);
        if (!pub) { /* some publish a bare RSAPublicKey (PKCS#1) */
            q = der;
            pub = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, dn);
        }
        ok = pub && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1 &&
             EVP_DigestVerify(md, sig, (size_t)sn, (const unsigned char *)hin.data, hin.len) == 1;
        EVP_PKEY_free(pub);
    }
    EVP_MD_CTX_free(md);
    snd_buf_free(&hin);
    snd_buf_free(&canon);
    return ok && body_ok;
}

static int count_sigs(const char *msg)
{
    int n = 0;
    for (const char *p = msg; (p = strstr(p, "DKIM-Signature:")) != NULL; p++)
        if (p == msg || p[-1] == '\n')
            n++;
    return n;
}

/* Verifies every signature, then a copy with one body octet changed. */
static void check_message(const char *msg, size_t len, const records *r, const char *name)
{
    int n = count_sigs(msg);
    assert_true(n >= 1);
    for (int i = 0; i < n; i++)
        if (!verify_one(msg, len, r, i))
            fail_msg("%s: signature %d does not verify with our canonicalization", name, i);
    char *bad = malloc(len + 1);
    memcpy(bad, msg, len + 1);
    char *body = strstr(bad, "\r\n\r\n") + 4;
    while (*body == '\r' || *body == '\n' || *body == ' ')
        body++;
    *body = *body == 'x' ? 'y' : 'x';
    for (int i = 0; i < n; i++)
        if (verify_one(bad, len, r, i))
            fail_msg("%s: signature %d still verifies after a body change", name, i);
    free(bad);
}

static void test_stalwart(void **state)
{
    (void)state;
    for (int i = 2; i <= 6; i++) {
        char rel[256];
        snprintf(rel, sizeof rel,
                 "dkim-rfc-vectors/interop/upstream/stalwart-mail-auth_resources_dkim_%03d.txt", i);
        char path[1024];
        tu_corpus_path(rel, path, sizeof path);
        size_t n, len;
        char *raw = tu_read_file(path, &n);
        assert_non_null(raw);
        char *sep = strstr(raw, "\n\n");
        assert_non_null(sep);
        *sep = '\0';
        records r = {0};
        load_records(raw, &r);
        char *msg = to_crlf(sep + 2, n - (size_t)(sep + 2 - raw), &len);
        check_message(msg, len, &r, rel);
        free(msg);
        free(raw);
    }
}

static void test_dkimpy(void **state)
{
    (void)state;
    char path[1024];
    tu_corpus_path("dkim-rfc-vectors/interop/dns-records-dkimpy.txt", path, sizeof path);
    char *dns = tu_read_file(path, NULL);
    assert_non_null(dns);
    records r = {0};
    load_records(dns, &r);
    const char *files[] = {"dkimpy_ed25519test2.msg", "dkimpy_test2.message"};
    for (int i = 0; i < 2; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "dkim-rfc-vectors/interop/upstream/%s", files[i]);
        tu_corpus_path(rel, path, sizeof path);
        size_t n, len;
        char *raw = tu_read_file(path, &n);
        assert_non_null(raw);
        char *msg = to_crlf(raw, n, &len);
        check_message(msg, len, &r, rel);
        free(msg);
        free(raw);
    }
    free(dns);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stalwart),
        cmocka_unit_test(test_dkimpy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
