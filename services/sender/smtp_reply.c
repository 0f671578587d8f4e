/*
 * smtp_reply.c: reply lines, enhanced status codes and EHLO keywords. Every
 * input byte is untrusted network data: lengths are checked before each
 * access and nothing is written past the fixed-size fields.
 */
#include "smtp_reply.h"

#include <string.h>

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char ascii_upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/* Case-insensitive comparison of a (length n) with the upper-case word w. */
static int word_eq(const char *a, size_t n, const char *w)
{
    size_t wl = strlen(w);
    if (n != wl)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (ascii_upper(a[i]) != w[i])
            return 0;
    return 1;
}

void snd_smtp_reply_parser_reset(snd_smtp_reply_parser *p)
{
    memset(p, 0, sizeof(*p));
}

static snd_smtp_parse_rc fail(snd_smtp_reply_parser *p, const char *why)
{
    size_t n = strlen(why);
    if (n >= sizeof(p->error))
        n = sizeof(p->error) - 1;
    memcpy(p->error, why, n);
    p->error[n] = '\0';
    return SND_SMTP_PARSE_ERROR;
}

/* Appends text to the reply, separating lines by one space and replacing
 * bytes that are not printable ASCII, so the result is safe in logs/JSON. */
static void append_text(snd_smtp_reply_parser *p, const char *s, size_t n)
{
    size_t cap = sizeof(p->reply.text) - 1;
    if (p->text_len > 0 && p->text_len < cap && n > 0)
        p->reply.text[p->text_len++] = ' ';
    for (size_t i = 0; i < n && p->text_len < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        p->reply.text[p->text_len++] = (c >= 0x20 && c < 0x7f) || c == '\t' ? (char)c : '?';
    }
    p->reply.text[p->text_len] = '\0';
}

size_t snd_smtp_enhanced_parse(const char *text, size_t len, char out[SND_SMTP_ENHANCED_MAX])
{
    size_t i = 0;
    out[0] = '\0';
    if (len < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.')
        return 0;
    i = 2;
    for (int part = 0; part < 2; part++) {
        size_t start = i;
        while (i < len && is_digit(text[i]) && i - start < 4)
            i++;
        size_t digits = i - start;
        if (digits == 0 || digits > 3)
            return 0;
        if (part == 0) {
            if (i >= len || text[i] != '.')
                return 0;
            i++;
        }
    }
    if (i < len && text[i] != ' ' && text[i] != '\t')
        return 0;
    memcpy(out, text, i); /* i <= 9 < SND_SMTP_ENHANCED_MAX */
    out[i] = '\0';
    return i;
}

snd_smtp_parse_rc snd_smtp_reply_feed(snd_smtp_reply_parser *p, const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len > SND_SMTP_LINE_MAX)
        return fail(p, "reply line longer than the limit");
    if (p->n_lines >= SND_SMTP_REPLY_LINES)
        return fail(p, "reply has too many lines");
    if (p->n_bytes + len > SND_SMTP_REPLY_MAX)
        return fail(p, "reply longer than the limit");
    if (len < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]))
        return fail(p, "reply line does not start with a 3-digit code");
    if (line[0] < '2' || line[0] > '5' || line[1] > '5')
        return fail(p, "reply code out of range");
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    int last = 1;
    if (len > 3) {
        if (line[3] == '-')
            last = 0;
        else if (line[3] != ' ')
            return fail(p, "reply code not followed by space or hyphen");
    }
    if (p->n_lines > 0 && code != p->reply.code)
        return fail(p, "reply lines carry different codes");

    const char *text = len > 4 ? line + 4 : "";
    size_t tlen = len > 4 ? len - 4 : 0;
    char enh[SND_SMTP_ENHANCED_MAX];
    size_t elen = snd_smtp_enhanced_parse(text, tlen, enh);
    if (elen > 0 && enh[0] != line[0])
        elen = 0; /* a class that disagrees with the code is ignored */
    if (p->n_lines == 0) {
        p->reply.code = code;
        if (elen > 0)
            memcpy(p->reply.enhanced, enh, elen + 1);
    }
    if (elen > 0 && strcmp(enh, p->reply.enhanced) == 0) {
        text += elen;
        tlen -= elen;
        while (tlen > 0 && (*text == ' ' || *text == '\t')) {
            text++;
            tlen--;
        }
    }
    append_text(p, text, tlen);
    p->n_lines++;
    p->n_bytes += len;
    return last ? SND_SMTP_PARSE_DONE : SND_SMTP_PARSE_MORE;
}

/* Parses a decimal without sign; returns -1 on garbage or overflow. */
static int parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 19)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

static void parse_auth_mechs(snd_smtp_ext *ext, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        size_t start = i;
        while (i < n && s[i] != ' ' && s[i] != '\t')
            i++;
        if (word_eq(s + start, i - start, "PLAIN"))
            ext->auth_mechs |= SND_SMTP_AUTH_PLAIN;
        else if (word_eq(s + start, i - start, "LOGIN"))
            ext->auth_mechs |= SND_SMTP_AUTH_LOGIN;
    }
}

void snd_smtp_ext_parse_line(snd_smtp_ext *ext, const char *text, size_t len)
{
    size_t k = 0;
    while (k < len && text[k] != ' ' && text[k] != '\t' && text[k] != '=')
        k++;
    const char *param = text + k;
    size_t plen = len - k;
    if (plen > 0) { /* skip the separator */
        param++;
        plen--;
    }
    if (word_eq(text, k, "PIPELINING")) {
        ext->flags |= SND_SMTP_EXT_PIPELINING;
    } else if (word_eq(text, k, "8BITMIME")) {
        ext->flags |= SND_SMTP_EXT_8BITMIME;
    } else if (word_eq(text, k, "SMTPUTF8")) {
        ext->flags |= SND_SMTP_EXT_SMTPUTF8;
    } else if (word_eq(text, k, "ENHANCEDSTATUSCODES")) {
        ext->flags |= SND_SMTP_EXT_ENHANCEDSTATUSCODES;
    } else if (word_eq(text, k, "STARTTLS")) {
        ext->flags |= SND_SMTP_EXT_STARTTLS;
    } else if (word_eq(text, k, "SIZE")) {
        uint64_t v = 0;
        ext->flags |= SND_SMTP_EXT_SIZE;
        while (plen > 0 && param[plen - 1] == ' ')
            plen--;
        if (plen > 0 && parse_u64(param, plen, &v) == 0)
            ext->size_max = v;
    } else if (word_eq(text, k, "AUTH")) {
        /* "AUTH PLAIN LOGIN" and the pre-standard "AUTH=LOGIN PLAIN" */
        ext->flags |= SND_SMTP_EXT_AUTH;
        parse_auth_mechs(ext, param, plen);
    }
}

int snd_smtp_ext_parse_reply(snd_smtp_ext *ext, const char *data, size_t len)
{
    snd_smtp_reply_parser p;
    size_t pos = 0;
    snd_smtp_reply_parser_reset(&p);
    memset(ext, 0, sizeof(*ext));
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len;
        const char *line = data + pos;
        size_t llen = end - pos;
        snd_smtp_parse_rc rc = snd_smtp_reply_feed(&p, line, llen);
        if (rc == SND_SMTP_PARSE_ERROR)
            return -1;
        if (p.n_lines > 1) {
            if (llen > 0 && line[llen - 1] == '\r')
                llen--;
            if (llen > 4)
                snd_smtp_ext_parse_line(ext, line + 4, llen - 4);
        }
        pos = end + 1;
        if (rc == SND_SMTP_PARSE_DONE)
            return pos >= len ? 0 : -1; /* bytes after the last line */
    }
    return -1; /* reply never ended */
}
