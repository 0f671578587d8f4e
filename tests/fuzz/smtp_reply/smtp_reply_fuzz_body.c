/*
 * smtp_reply_fuzz_body.c: feeds untrusted bytes to every pure parser of the
 * SMTP client and checks what must always hold: codes in range, text free
 * of control bytes, enhanced codes well formed, and the DATA encoder's
 * output un-stuffing back to the line-normalised input.
 */
#include "smtp_reply_fuzz_body.h"

#include <stdlib.h>
#include <string.h>

#include "smtp_data.h"
#include "smtp_reply.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static void check_enhanced(const char *e)
{
    size_t n = strlen(e);
    CHECK(n < SND_SMTP_ENHANCED_MAX);
    if (n == 0)
        return;
    CHECK(e[0] == '2' || e[0] == '4' || e[0] == '5');
    CHECK(e[1] == '.');
    int dots = 0;
    for (size_t i = 2; i < n; i++) {
        CHECK((e[i] >= '0' && e[i] <= '9') || e[i] == '.');
        dots += e[i] == '.';
    }
    CHECK(dots == 1);
}

static void check_reply(const snd_smtp_reply *r)
{
    CHECK(r->code >= 200 && r->code <= 559);
    CHECK(memchr(r->text, '\0', sizeof(r->text)) != NULL);
    for (const char *p = r->text; *p; p++)
        CHECK((unsigned char)*p >= 0x20 || *p == '\t');
    check_enhanced(r->enhanced);
    if (r->enhanced[0])
        CHECK(r->enhanced[0] == (char)('0' + r->code / 100));
}

static void fuzz_replies(const uint8_t *data, size_t size)
{
    snd_smtp_reply_parser p;
    size_t pos = 0;
    snd_smtp_reply_parser_reset(&p);
    while (pos < size) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t end = nl ? (size_t)(nl - data) : size;
        snd_smtp_parse_rc rc = snd_smtp_reply_feed(&p, (const char *)data + pos, end - pos);
        if (rc == SND_SMTP_PARSE_DONE) {
            check_reply(&p.reply);
            CHECK(p.n_lines <= SND_SMTP_REPLY_LINES);
            snd_smtp_reply_parser_reset(&p);
        } else if (rc == SND_SMTP_PARSE_ERROR) {
            CHECK(p.error[0] != '\0');
            snd_smtp_reply_parser_reset(&p);
        }
        pos = end + 1;
    }
}

/* Normalises line endings like the encoder: CRLF, bare CR, bare LF -> LF. */
static size_t normalise(const uint8_t *in, size_t n, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '\r') {
            if (i + 1 < n && in[i + 1] == '\n')
                i++;
            out[o++] = '\n';
        } else {
            out[o++] = in[i];
        }
    }
    return o;
}

static void fuzz_encoder(const uint8_t *data, size_t size)
{
    snd_smtp_dot_encoder e;
    size_t cap = 3 * size + 16, total = 0, n;
    char *enc = malloc(cap);
    uint8_t *norm = malloc(size + 1), *dec = malloc(cap);
    CHECK(enc && norm && dec);
    snd_smtp_dot_encoder_init(&e, data, size);
    /* small, odd chunk sizes exercise the boundaries */
    while ((n = snd_smtp_dot_encode(&e, enc + total, 8 + (total % 13))) > 0) {
        total += n;
        CHECK(total <= 2 * size + 5);
    }
    CHECK(total == snd_smtp_dot_encoded_size(data, size));
    CHECK(total >= 3 && memcmp(enc + total - 3, ".\r\n", 3) == 0);
    CHECK(total == 3 || (total >= 5 && memcmp(enc + total - 5, "\r\n.\r\n", 5) == 0));
    /* decode: every CR is followed by LF; a line starting with '.' had it doubled */
    size_t d = 0, i = 0, body_end = total - 3;
    int line_start = 1;
    while (i < body_end) {
        char c = enc[i];
        if (c == '\r') {
            CHECK(i + 1 < body_end && enc[i + 1] == '\n');
            dec[d++] = '\n';
            i += 2;
            line_start = 1;
            continue;
        }
        CHECK(c != '\n');
        if (line_start && c == '.') {
            CHECK(i + 1 < body_end && enc[i + 1] == '.');
            i++;
        }
        dec[d++] = (uint8_t)c;
        line_start = 0;
        i++;
    }
    size_t nn = normalise(data, size, norm);
    if (nn > 0 && norm[nn - 1] != '\n')
        norm[nn++] = '\n';
    CHECK(d == nn && memcmp(dec, norm, nn) == 0);
    free(enc);
    free(norm);
    free(dec);
}

void smtp_reply_fuzz_one(const uint8_t *data, size_t size)
{
    char enh[SND_SMTP_ENHANCED_MAX];
    snd_smtp_ext ext;
    if (size > 1 << 20)
        return;
    fuzz_replies(data, size);
    if (snd_smtp_ext_parse_reply(&ext, (const char *)data, size) == 0)
        CHECK((ext.auth_mechs & ~3u) == 0);
    size_t el = snd_smtp_enhanced_parse((const char *)data, size, enh);
    CHECK(el == strlen(enh));
    check_enhanced(enh);
    fuzz_encoder(data, size);
}
