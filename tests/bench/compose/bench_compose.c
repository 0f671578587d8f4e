/*
 * bench_compose.c: messages composed and DKIM-signed per second (a 1 KB
 * text + HTML message, one per-recipient copy each time: opt-out token,
 * MIME, both canonicalizations, one signature) next to the raw OpenSSL sign
 * rate of the same key over a SHA-256 digest, measured in the same run,
 * interleaved one operation at a time. Prints `BENCH compose <alg> ours=<msgs/s>
 * raw=<signs/s> ratio=<x>`.
 */
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compose_message.h"
#include "xd/clock.h"

static const char SECRET[] = "bench-secret-bench-secret-bench-secret!!";

static int raw_sign(EVP_PKEY *key, int ed, const unsigned char *digest)
{
    unsigned char sig[1024];
    size_t len = sizeof sig;
    int ok;
    if (ed) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        ok = EVP_DigestSignInit(md, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestSign(md, sig, &len, digest, 32) == 1;
        EVP_MD_CTX_free(md);
    } else {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(key, NULL);
        ok = EVP_PKEY_sign_init(c) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1 &&
             EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) == 1 &&
             EVP_PKEY_sign(c, sig, &len, digest, 32) == 1;
        EVP_PKEY_CTX_free(c);
    }
    return ok;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 3.0;
    if (seconds <= 0)
        seconds = 3.0;
    /* ~1 KB of content: 500 octets of text, 520 of HTML. */
    char text[512], html[600];
    memset(text, 0, sizeof text);
    for (size_t i = 0; strlen(text) < 480;)
        i += (size_t)snprintf(text + i, sizeof text - i, "Line %zu of the course notice.\n", i);
    snprintf(html, sizeof html, "<html><body><h1>Course notice</h1><p>%.*s</p></body></html>", 470,
             text);
    snd_address to[1] = {{"alice@example.net", "Alice Example"}};
    snd_message m = {0};
    m.org_id = "org-bench";
    m.module = "registration";
    m.from = (snd_address){"noreply@mail.example.org", "Example Academy"};
    m.to = to;
    m.n_to = 1;
    m.subject = "Your course starts on Monday";
    m.text_body = text;
    m.html_body = html;
    m.category = SND_CATEGORY_TRANSACTIONAL;
    snd_optout_config optout = {SECRET, sizeof SECRET - 1, "https://mail.example.org/u",
                                "unsubscribe@mail.example.org", 0};
    snd_compose_opts o = {.message_id = "bench0001",
                          .recipient_id = "r1",
                          .recipient = &to[0],
                          .date_ms = 1795000000000LL,
                          .optout = &optout};

    const char *names[2] = {"rsa2048", "ed25519"};
    for (int alg = 0; alg < 2; alg++) {
        EVP_PKEY *key = alg == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
                                 : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        snd_dkim_signer s = {.alg = alg == 0 ? SND_DKIM_RSA_SHA256 : SND_DKIM_ED25519_SHA256,
                             .pkey = key,
                             .domain = "mail.example.org",
                             .selector = "b1"};
        snd_buf out;
        snd_buf_init(&out, 0);
        xd_err err;
        unsigned char digest[32] = {7};
        long pairs = 0;
        int64_t ours_ns = 0, raw_ns = 0, start = xd_monotonic_ns();
        /* Interleaved one by one, so load from neighbours and frequency
         * changes hit both sides alike. */
        while (xd_monotonic_ns() - start < (int64_t)(seconds * 1e9)) {
            int64_t t0 = xd_monotonic_ns();
            snd_buf_reset(&out);
            if (snd_compose_signed(&m, &o, &s, 1, &out, &err) != XD_OK) {
                fprintf(stderr, "compose failed: %s\n", err.message);
                return 1;
            }
            int64_t t1 = xd_monotonic_ns();
            if (!raw_sign(key, alg == 1, digest))
                return 1;
            int64_t t2 = xd_monotonic_ns();
            ours_ns += t1 - t0;
            raw_ns += t2 - t1;
            pairs++;
        }
        long ours_n = pairs, raw_n = pairs;
        double ours = ours_n / (ours_ns / 1e9), raw = raw_n / (raw_ns / 1e9);
        fprintf(stderr, "%s: message size %zu octets\n", names[alg], out.len);
        printf("BENCH compose %s ours=%.0f raw=%.0f ratio=%.2f\n", names[alg], ours, raw,
               ours / raw);
        snd_buf_free(&out);
        EVP_PKEY_free(key);
    }
    return 0;
}
