/* fuzz_compose_body.c: composer invariants under arbitrary input. */
#include "fuzz_compose_body.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compose_message.h"
#include "dkim_canon.h"
#include "dkim_sign.h"

#define N_FIELDS 10

static const char SECRET[] = "fuzzing-secret-fuzzing-secret-fuzzing!!";

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz invariant broken: %s\n", what);
        abort();
    }
}

/* Header names the composer may write; anything else means injection. */
static int known_field(const char *name, size_t n)
{
    static const char *const KNOWN[] = {"From",
                                        "Sender",
                                        "Reply-To",
                                        "To",
                                        "Cc",
                                        "Subject",
                                        "Date",
                                        "Message-ID",
                                        "MIME-Version",
                                        "List-Unsubscribe",
                                        "List-Unsubscribe-Post",
                                        "Content-Type",
                                        "Content-Transfer-Encoding",
                                        "DKIM-Signature",
                                        "Keywords",
                                        "X-Campaign-Id",
                                        "X-Entity-Ref-Id",
                                        "X-XenDirect-Module",
                                        "X-XenDirect-Ref",
                                        "Precedence",
                                        "Auto-Submitted",
                                        "Comments",
                                        "References",
                                        "In-Reply-To"};
    for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++)
        if (strlen(KNOWN[i]) == n && strncasecmp(name, KNOWN[i], n) == 0)
            return 1;
    return 0;
}

static void check_output(const snd_buf *out, int n_custom)
{
    const char *s = out->data;
    size_t n = out->len, line = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r') {
            check(i + 1 < n && s[i + 1] == '\n', "bare CR");
            check(line <= 998, "line over 998 octets");
            line = 0;
            i++;
            continue;
        }
        check(s[i] != '\n', "bare LF");
        check(s[i] != '\0', "NUL in output");
        line++;
    }
    snd_hfield f[SND_DKIM_MAX_FIELDS];
    const char *body;
    size_t body_len;
    int nf = snd_dkim_split(s, n, f, SND_DKIM_MAX_FIELDS, &body, &body_len);
    check(nf > 0, "composed header does not parse");
    int tos = 0;
    for (int i = 0; i < nf; i++) {
        check(known_field(f[i].start, f[i].name_len), "unexpected header field (injection)");
        tos += f[i].name_len == 2 && strncasecmp(f[i].start, "To", 2) == 0;
    }
    check(tos == 1, "To appears exactly once");
    check(nf <= 16 + n_custom, "too many header fields");
}

static EVP_PKEY *fuzz_key(void)
{
    static EVP_PKEY *key;
    if (!key) {
        unsigned char seed[32];
        memset(seed, 42, sizeof seed);
        key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    }
    return key;
}

int snd_fuzz_compose_one(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 64 * 1024)
        return 0;
    uint8_t flags = data[0];
    /* Copy into NUL-separated fields (always terminated). */
    char *copy = malloc(size + N_FIELDS + 1);
    memcpy(copy, data + 1, size - 1);
    memset(copy + size - 1, 0, N_FIELDS + 2);
    const char *field[N_FIELDS];
    const char *p = copy, *end = copy + size - 1;
    for (int i = 0; i < N_FIELDS; i++) {
        field[i] = p <= end ? p : "";
        if (p <= end)
            p += strlen(p) + 1;
    }

    /* The raw input through the DKIM parser and canonicalizers. */
    snd_hfield hf[64];
    const char *body;
    size_t body_len;
    int nf = snd_dkim_split((const char *)data, size, hf, 64, &body, &body_len);
    snd_buf canon;
    snd_buf_init(&canon, 0);
    for (int i = 0; i < nf; i++)
        snd_dkim_canon_header_relaxed(&canon, hf[i].start, hf[i].len);
    if (nf >= 0)
        snd_dkim_canon_body_relaxed(&canon, body, body_len);
    snd_buf_free(&canon);

    snd_address to[1] = {{field[3][0] ? field[3] : "a@b.example", field[4]}};
    snd_custom_header hdr[1] = {{field[7], field[8]}};
    static const unsigned char bytes[] = {0, 1, 2, 0xff};
    snd_attachment att[1] = {{field[9], "application/octet-stream", NULL, bytes, sizeof bytes}};
    snd_message m = {0};
    m.org_id = "org-fuzz";
    m.module = "fuzz";
    m.from = (snd_address){field[2][0] ? field[2] : "x@y.example", field[1]};
    m.to = to;
    m.n_to = 1;
    m.subject = field[0];
    m.text_body = field[5];
    m.html_body = field[6];
    m.headers = hdr;
    m.n_headers = field[7][0] ? 1 : 0;
    m.attachments = att;
    m.n_attachments = (flags & 4) ? 1 : 0;
    m.category = (flags & 8) ? SND_CATEGORY_MARKETING : SND_CATEGORY_TRANSACTIONAL;
    m.shared = flags & 1;
    snd_optout_config optout = {SECRET, sizeof SECRET - 1, "https://u.example/u", "unsub@u.example",
                                0};
    snd_banner banner = {.html = field[6], .text = field[0]};
    snd_compose_opts o = {.message_id = "fuzz1",
                          .recipient_id = m.shared ? NULL : "r1",
                          .recipient = &to[0],
                          .date_ms = 1795000000000LL,
                          .smtputf8 = (flags & 2) != 0,
                          .banner = (flags & 16) ? &banner : NULL,
                          .optout = &optout};
    snd_dkim_signer signer = {.alg = SND_DKIM_ED25519_SHA256,
                              .pkey = fuzz_key(),
                              .domain = "y.example",
                              .selector = "fz"};
    snd_buf out;
    snd_buf_init(&out, 0);
    xd_err err;
    xd_err_clear(&err);
    xd_code rc = snd_compose_signed(&m, &o, &signer, 1, &out, &err);
    if (rc == XD_OK)
        check_output(&out, (int)m.n_headers);
    else
        check(rc == XD_INVALID_ARGUMENT && err.message[0], "rejection without a clear error");
    snd_buf_free(&out);
    free(copy);
    return rc == XD_OK;
}
