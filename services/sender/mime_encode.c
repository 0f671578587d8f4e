/* mime_encode.c: base64, quoted-printable, encoded words (see mime_encode.h). */
#include "mime_encode.h"

#include <stdint.h>
#include <string.h>

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char HEX[] = "0123456789ABCDEF";

const char *snd_cte_name(snd_cte cte)
{
    switch (cte) {
    case SND_CTE_QP:
        return "quoted-printable";
    case SND_CTE_BASE64:
        return "base64";
    default:
        return "7bit";
    }
}

/* 1 when none of the 8 octets at p is below 0x20, above 0x7F or '='
 * (word-at-a-time tests; a false "no" only sends the word the slow way). */
static int plain_word(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t below_space = (w - ones * 0x20) & ~w & highs;
    uint64_t eq = w ^ (ones * '=');
    uint64_t has_eq = (eq - ones) & ~eq & highs;
    return ((below_space | has_eq | (w & highs)) == 0);
}

snd_cte snd_mime_choose_text_cte(const char *text, size_t n)
{
    const unsigned char *t = (const unsigned char *)text;
    size_t escapes = 0, line_start = 0;
    int plain = 1;
    for (size_t i = 0; i < n; i++) {
        /* Eight octets at a time while all are 0x20-0x7F but '=' (none of
         * them can end a line or need an escape). */
        while (i + 8 <= n && plain_word(t + i))
            i += 8;
        if (i >= n)
            break;
        unsigned char c = t[i];
        /* 0x20-0x7F but '=', and tab: nothing to note, the usual case. */
        if (((unsigned char)(c - 0x20) < 0x60 && c != '=') || c == '\t')
            continue;
        if (c == '\r' && i + 1 < n && t[i + 1] == '\n') {
            if (i - line_start > 998)
                plain = 0;
            line_start = ++i + 1;
            continue;
        }
        escapes++;
        if (c != '=' || (i + 1 < n && t[i + 1] == '_'))
            plain = 0;
    }
    if (n - line_start > 998)
        plain = 0;
    if (plain)
        return SND_CTE_7BIT;
    return escapes * 4 > n ? SND_CTE_BASE64 : SND_CTE_QP;
}

int snd_mime_crlf_normalize(snd_buf *out, const char *text, size_t n)
{
    /* Jump between line ends with memchr; each of CR and LF is looked up
     * again only once passed, so a text without one of them stays linear. */
    if (n == 0)
        return snd_buf_append(out, "", 0);
    const char *p = text, *end = text + n;
    const char *cr = memchr(p, '\r', n), *lf = memchr(p, '\n', n);
    while (cr || lf) {
        const char *eol = !cr ? lf : !lf ? cr : cr < lf ? cr : lf;
        snd_buf_append(out, p, (size_t)(eol - p));
        snd_buf_append(out, "\r\n", 2);
        p = eol + 1;
        if (*eol == '\r' && p < end && *p == '\n')
            p++;
        if (cr && cr < p)
            cr = memchr(p, '\r', (size_t)(end - p));
        if (lf && lf < p)
            lf = memchr(p, '\n', (size_t)(end - p));
    }
    return snd_buf_append(out, p, (size_t)(end - p));
}

static int b64_core(snd_buf *out, const unsigned char *p, size_t n, const char *alpha, int pad,
                    int wrap)
{
    char quad[4];
    size_t col = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        size_t left = n - i;
        if (left > 1)
            v |= (unsigned)p[i + 1] << 8;
        if (left > 2)
            v |= p[i + 2];
        quad[0] = alpha[(v >> 18) & 63];
        quad[1] = alpha[(v >> 12) & 63];
        quad[2] = left > 1 ? alpha[(v >> 6) & 63] : '=';
        quad[3] = left > 2 ? alpha[v & 63] : '=';
        size_t k = 4;
        if (!pad)
            k = left > 2 ? 4 : left + 1;
        snd_buf_append(out, quad, k);
        col += 4;
        if (wrap && col >= 76) {
            snd_buf_append(out, "\r\n", 2);
            col = 0;
        }
    }
    if (wrap && col)
        snd_buf_append(out, "\r\n", 2);
    return out->overflow ? -1 : 0;
}

int snd_mime_base64(snd_buf *out, const void *data, size_t n)
{
    return b64_core(out, data, n, B64, 1, 1);
}

int snd_base64_raw(snd_buf *out, const void *data, size_t n, int url)
{
    return b64_core(out, data, n, url ? B64URL : B64, !url, 0);
}

long snd_base64_decode(const char *in, size_t n, unsigned char *out, size_t out_size)
{
    unsigned v = 0;
    int bits = 0;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        const char *at;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == '=')
            break;
        if (c == '\0' || !(at = strchr(B64, c)))
            return -1;
        v = (v << 6) | (unsigned)(at - B64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (len >= out_size)
                return -1;
            out[len++] = (unsigned char)((v >> bits) & 0xFF);
        }
    }
    return (long)len;
}

/* Appends one QP-encoded line (no CRLF inside) with soft breaks. */
static void qp_line(snd_buf *out, const unsigned char *p, size_t n)
{
    size_t col = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        int last = (i + 1 == n);
        int literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last);
        /* A leading '.' is escaped too: some SMTP paths mangle it. */
        if (col == 0 && c == '.')
            literal = 0;
        size_t w = literal ? 1 : 3;
        if (col + w > 75) {
            snd_buf_append(out, "=\r\n", 3);
            col = 0;
        }
        if (literal) {
            snd_buf_putc(out, (char)c);
        } else {
            char e[3] = {'=', HEX[c >> 4], HEX[c & 15]};
            snd_buf_append(out, e, 3);
        }
        col += w;
    }
}

int snd_mime_qp(snd_buf *out, const char *text, size_t n)
{
    size_t start = 0, i = 0;
    while (i <= n) {
        int eol = (i < n && text[i] == '\r' && i + 1 < n && text[i + 1] == '\n');
        if (i < n && !eol) {
            i++;
            continue;
        }
        qp_line(out, (const unsigned char *)text + start, i - start);
        if (i == n)
            break;
        snd_buf_append(out, "\r\n", 2);
        i += 2;
        start = i;
    }
    return out->overflow ? -1 : 0;
}

/* Length of the UTF-8 sequence starting with lead byte c (1 for ASCII and
 * for stray bytes, which validation rejects earlier). */
static size_t utf8_seq_len(unsigned char c)
{
    if (c >= 0xF0)
        return 4;
    if (c >= 0xE0)
        return 3;
    if (c >= 0xC0)
        return 2;
    return 1;
}

int snd_mime_encoded_words(snd_buf *out, const char *utf8, size_t n)
{
    /* "=?UTF-8?B?" + "?=" = 12 octets; 75 - 12 = 63 -> 45 raw octets max
     * (60 base64 chars). */
    const size_t max_raw = 45;
    size_t i = 0;
    int first = 1;
    while (i < n) {
        size_t take = 0;
        while (i + take < n) {
            size_t l = utf8_seq_len((unsigned char)utf8[i + take]);
            if (take + l > max_raw)
                break;
            take += l;
        }
        if (take == 0 || i + take > n)
            take = n - i < max_raw ? n - i : max_raw;
        if (!first)
            snd_buf_putc(out, ' ');
        snd_buf_puts(out, "=?UTF-8?B?");
        snd_base64_raw(out, utf8 + i, take, 0);
        snd_buf_puts(out, "?=");
        first = 0;
        i += take;
    }
    return out->overflow ? -1 : 0;
}

int snd_is_printable_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c > 0x7E)
            return 0;
    }
    return 1;
}

int snd_is_valid_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        /* ASCII fast path, 8 octets at a time. */
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (!(w & 0x8080808080808080ULL)) {
                i += 8;
                continue;
            }
        }
        unsigned c = p[i];
        size_t l;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            l = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            l = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            l = 4;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + l > n)
            return 0;
        for (size_t k = 1; k < l; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((l == 3 && cp < 0x800) || (l == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += l;
    }
    return 1;
}
