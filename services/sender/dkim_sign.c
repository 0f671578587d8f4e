/* dkim_sign.c: building and signing the DKIM-Signature field. */
#include "dkim_sign.h"

#include <openssl/rsa.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compose_header.h"
#include "dkim_canon.h"
#include "mime_encode.h"
#include "xd/util.h"

const char *const snd_dkim_default_headers[] = {
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "From",
};
const size_t snd_dkim_n_default_headers =
    sizeof(snd_dkim_default_headers) / sizeof(snd_dkim_default_headers[0]);

/* SHA-256 fetched once: OpenSSL 3's one-shot SHA256() looks the algorithm
 * up in a locked table on every call, which costs more than hashing 1 KB. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static void sha256(const void *data, size_t n, unsigned char out[32])
{
    pthread_once(&sha256_once, fetch_sha256);
    if (!sha256_md || EVP_Digest(data, n, out, NULL, sha256_md, NULL) != 1)
        abort(); /* SHA-256 unavailable: the build is broken, not the request */
}

int snd_dkim_raw_sign(snd_dkim_alg alg, EVP_PKEY *pkey, const unsigned char digest[32],
                      unsigned char *sig, size_t sig_size)
{
    size_t len = sig_size;
    int ok = 0;
    if (alg == SND_DKIM_ED25519_SHA256) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        ok = md && EVP_DigestSignInit(md, NULL, NULL, NULL, pkey) == 1 &&
             EVP_DigestSign(md, sig, &len, digest, 32) == 1;
        EVP_MD_CTX_free(md);
    } else if (alg == SND_DKIM_RSA_SHA256) {
        EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(pkey, NULL);
        ok = pc && EVP_PKEY_sign_init(pc) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
             EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) == 1 &&
             EVP_PKEY_sign(pc, sig, &len, digest, 32) == 1;
        EVP_PKEY_CTX_free(pc);
    }
    return ok ? (int)len : -1;
}

static int key_matches(const snd_dkim_signer *s)
{
    int id = EVP_PKEY_get_base_id(s->pkey);
    if (s->alg == SND_DKIM_RSA_SHA256)
        return id == EVP_PKEY_RSA && EVP_PKEY_get_bits(s->pkey) >= 1024;
    if (s->alg == SND_DKIM_ED25519_SHA256)
        return id == EVP_PKEY_ED25519;
    return 0;
}

/* Appends the selected header fields (RFC 6376 5.4.2: each name takes the
 * bottom-most instance not used yet; a missing one contributes nothing). */
static void add_signed_headers(snd_buf *hin, const snd_dkim_signer *s, const snd_hfield *f, int nf,
                               unsigned char *used)
{
    for (size_t h = 0; h < s->n_headers; h++) {
        const char *name = s->headers[h];
        size_t nl = strlen(name);
        for (int i = nf - 1; i >= 0; i--) {
            if (used[i] || f[i].name_len != nl || strncasecmp(f[i].start, name, nl) != 0)
                continue;
            used[i] = 1;
            if (s->simple)
                snd_dkim_canon_header_simple(hin, f[i].start, f[i].len);
            else
                snd_dkim_canon_header_relaxed(hin, f[i].start, f[i].len);
            break;
        }
    }
}

static xd_code check_signer(const snd_dkim_signer *s, xd_err *err)
{
    if (!s->pkey || !key_matches(s))
        return xd_err_set(err, XD_INVALID_ARGUMENT,
                          "DKIM key does not match the algorithm (RSA of 1024+ bits or Ed25519)");
    if (!s->domain || !s->selector || !s->domain[0] || !s->selector[0] ||
        xd_has_crlf_nul(s->domain, strlen(s->domain)) ||
        xd_has_crlf_nul(s->selector, strlen(s->selector)) || strchr(s->domain, ';') ||
        strchr(s->selector, ';'))
        return xd_err_set(err, XD_INVALID_ARGUMENT, "DKIM domain and selector must be set");
    if (s->n_headers == 0 || !s->headers)
        return xd_err_set(err, XD_INVALID_ARGUMENT, "DKIM h= list is empty");
    for (size_t i = 0; i < s->n_headers; i++)
        if (!snd_hdr_valid_name(s->headers[i]))
            return xd_err_set(err, XD_INVALID_ARGUMENT, "DKIM h= entry %zu is not a field name", i);
    return XD_OK;
}

xd_code snd_dkim_sign(const snd_dkim_signer *s, const char *msg, size_t len, snd_buf *out,
                      xd_err *err)
{
    xd_code rc = check_signer(s, err);
    if (rc != XD_OK)
        return rc;
    snd_hfield fields[SND_DKIM_MAX_FIELDS];
    unsigned char used[SND_DKIM_MAX_FIELDS] = {0};
    const char *body;
    size_t body_len;
    int nf = snd_dkim_split(msg, len, fields, SND_DKIM_MAX_FIELDS, &body, &body_len);
    if (nf < 0)
        return xd_err_set(err, XD_INVALID_ARGUMENT,
                          "message header is malformed or has over %d fields", SND_DKIM_MAX_FIELDS);

    snd_buf canon, tags, field, hin;
    snd_buf_init(&canon, len + 64);
    snd_buf_init(&tags, 0);
    snd_buf_init(&field, 0);
    snd_buf_init(&hin, 0);

    snd_buf_reserve(&canon, body_len + 256);
    snd_buf_reserve(&hin, 2048);
    /* Body hash. */
    unsigned char digest[32];
    if (s->simple)
        snd_dkim_canon_body_simple(&canon, body, body_len);
    else
        snd_dkim_canon_body_relaxed(&canon, body, body_len);
    sha256(canon.data, canon.len, digest);

    /* The tag list with an empty b=. */
    snd_buf_cat(&tags, "v=1; a=", s->alg == SND_DKIM_RSA_SHA256 ? "rsa-sha256" : "ed25519-sha256",
                "; c=", s->simple ? "simple/simple" : "relaxed/relaxed", "; d=", s->domain, ";",
                NULL);
    if (s->identity)
        snd_buf_printf(&tags, " i=%s;", s->identity);
    if (s->include_q)
        snd_buf_puts(&tags, " q=dns/txt;");
    snd_buf_cat(&tags, " s=", s->selector, ";", NULL);
    if (s->timestamp >= 0)
        snd_buf_printf(&tags, " t=%lld;", (long long)s->timestamp);
    if (s->expire > 0)
        snd_buf_printf(&tags, " x=%lld;", (long long)s->expire);
    snd_buf_puts(&tags, " h=");
    for (size_t i = 0; i < s->n_headers; i++) {
        if (i)
            snd_buf_puts(&tags, s->h_sep ? s->h_sep : ":");
        snd_buf_puts(&tags, s->headers[i]);
    }
    snd_buf_puts(&tags, "; bh=");
    snd_base64_raw(&tags, digest, 32, 0);
    snd_buf_puts(&tags, "; b=");
    if (snd_hdr_write(&field, "DKIM-Signature", tags.data, tags.len) != 0) {
        rc = xd_err_set(err, XD_INVALID_ARGUMENT, "DKIM-Signature field would exceed 998 octets");
        goto done;
    }
    field.len -= 2; /* drop the CRLF: the signature follows b= */
    field.data[field.len] = '\0';

    /* Header hash input: signed fields, then this field without CRLF. */
    add_signed_headers(&hin, s, fields, nf, used);
    if (s->simple)
        snd_buf_append(&hin, field.data, field.len);
    else {
        snd_dkim_canon_header_relaxed(&hin, field.data, field.len);
        hin.len -= 2;
    }
    if (canon.overflow || tags.overflow || hin.overflow) {
        rc = xd_err_set(err, XD_INVALID_ARGUMENT, "message too large to sign");
        goto done;
    }
    sha256(hin.data, hin.len, digest);
    unsigned char sig[1024];
    int sig_len = snd_dkim_raw_sign(s->alg, s->pkey, digest, sig, sizeof sig);
    if (sig_len < 0) {
        rc = xd_err_set(err, XD_INTERNAL, "DKIM signing failed in OpenSSL");
        goto done;
    }

    /* b= folded in pieces of 60 base64 octets on continuation lines. */
    snd_buf_reset(&canon);
    snd_base64_raw(&canon, sig, (size_t)sig_len, 0);
    const char *nl = field.data;
    for (const char *p = field.data; (p = strstr(p, "\r\n")) != NULL; p += 2)
        nl = p + 2;
    size_t col = (size_t)(field.data + field.len - nl);
    snd_buf_append(out, field.data, field.len);
    for (size_t i = 0; i < canon.len;) {
        size_t room = col < 76 ? 76 - col : 0;
        if (room < 8) {
            snd_buf_append(out, "\r\n ", 3);
            col = 1;
            continue;
        }
        size_t take = canon.len - i < room ? canon.len - i : room;
        snd_buf_append(out, canon.data + i, take);
        col += take;
        i += take;
    }
    snd_buf_append(out, "\r\n", 2);
    rc = out->overflow ? xd_err_set(err, XD_RESOURCE_EXHAUSTED, "output buffer full") : XD_OK;
done:
    snd_buf_free(&canon);
    snd_buf_free(&tags);
    snd_buf_free(&field);
    snd_buf_free(&hin);
    return rc;
}
