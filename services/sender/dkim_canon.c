/* dkim_canon.c: RFC 6376 canonicalization (see dkim_canon.h). */
#include "dkim_canon.h"

#include <string.h>

static int is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

int snd_dkim_split(const char *msg, size_t len, snd_hfield *fields, int max, const char **body,
                   size_t *body_len)
{
    int n = 0;
    size_t i = 0;
    while (i < len) {
        if (len - i >= 2 && msg[i] == '\r' && msg[i + 1] == '\n') {
            *body = msg + i + 2;
            *body_len = len - i - 2;
            return n;
        }
        if (is_wsp(msg[i]) || n >= max)
            return -1; /* continuation without a field, or too many */
        size_t start = i, name_len = 0;
        while (i < len && msg[i] != ':' && msg[i] != '\r' && msg[i] != '\n')
            i++;
        if (i >= len || msg[i] != ':')
            return -1;
        name_len = i - start;
        while (name_len > 0 && is_wsp(msg[start + name_len - 1]))
            name_len--;
        if (name_len == 0)
            return -1;
        /* Runs to a CRLF not followed by WSP. */
        for (;;) {
            while (i < len && msg[i] != '\r' && msg[i] != '\n')
                i++;
            if (i + 1 >= len || msg[i] != '\r' || msg[i + 1] != '\n')
                return -1;
            if (i + 2 < len && is_wsp(msg[i + 2])) {
                i += 2;
                continue;
            }
            break;
        }
        fields[n].start = msg + start;
        fields[n].len = i - start;
        fields[n].name_len = name_len;
        n++;
        i += 2;
    }
    /* Header only, no separator line: the body is empty. */
    *body = msg + len;
    *body_len = 0;
    return n;
}

int snd_dkim_canon_header_relaxed(snd_buf *out, const char *field, size_t len)
{
    const char *colon = memchr(field, ':', len);
    if (!colon)
        return -1;
    /* The canonical form is never longer than the field plus CRLF: write it
     * in place instead of one checked append per octet. */
    if (snd_buf_reserve(out, len + 3) != 0)
        return -1;
    char *w = out->data + out->len;
    size_t name_len = (size_t)(colon - field);
    while (name_len > 0 && is_wsp(field[name_len - 1]))
        name_len--;
    for (size_t i = 0; i < name_len; i++) {
        char c = field[i];
        *w++ = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    *w++ = ':';
    const char *v = colon + 1, *end = field + len;
    int pending_space = 0, started = 0;
    for (; v < end; v++) {
        char c = *v;
        if (c == '\r' || c == '\n')
            continue; /* unfolding */
        if (is_wsp(c)) {
            pending_space = started;
            continue;
        }
        if (pending_space)
            *w++ = ' ';
        pending_space = 0;
        started = 1;
        *w++ = c;
    }
    *w++ = '\r';
    *w++ = '\n';
    out->len = (size_t)(w - out->data);
    out->data[out->len] = '\0';
    return 0;
}

int snd_dkim_canon_header_simple(snd_buf *out, const char *field, size_t len)
{
    snd_buf_append(out, field, len);
    return snd_buf_append(out, "\r\n", 2);
}

static int is_crlf_at(const char *s, size_t i, size_t end)
{
    return i + 1 < end && s[i] == '\r' && s[i + 1] == '\n';
}

/* Length of body up to and including the last line with content (for
 * relaxed, content = something other than WSP): what remains once the
 * trailing empty lines are ignored. Walks back from the end, so only the
 * tail is read. */
static size_t trim_trailing_empty_lines(const char *body, size_t len, int relaxed)
{
    size_t keep = len;
    while (keep > 0) {
        size_t eol = keep >= 2 && is_crlf_at(body, keep - 2, keep) ? keep - 2 : keep;
        size_t start = eol;
        while (start > 0 && !(start >= 2 && is_crlf_at(body, start - 2, start)))
            start--;
        for (size_t k = start; k < eol; k++)
            if (!relaxed || !is_wsp(body[k]))
                return keep;
        keep = start;
    }
    return 0;
}

/* Index of the first CRLF at or after i before end, or end. */
static size_t next_crlf(const char *s, size_t i, size_t end)
{
    const char *p = s + i;
    while ((p = memchr(p, '\r', (size_t)(s + end - p))) != NULL) {
        if (p + 1 < s + end && p[1] == '\n')
            return (size_t)(p - s);
        p++;
    }
    return end;
}

/* 1 when body[0..end) has no tab, no two spaces in a row and no space
 * before a line end: then relaxed canonicalization changes nothing in it
 * (true of base64 and of most composed text). One branch-free pass over
 * the body instead of a loop per line. */
static int already_relaxed(const char *body, size_t end)
{
    if (end == 0 || body[end - 1] == ' ' || body[0] == '\t')
        return 0;
    const unsigned char *b = (const unsigned char *)body;
    unsigned bad = 0;
    for (size_t k = 1; k < end; k++)
        bad |= (unsigned)(b[k] == '\t') |
               ((unsigned)(b[k] == ' ' || b[k] == '\r') & (unsigned)(b[k - 1] == ' '));
    return !bad;
}

int snd_dkim_canon_body_relaxed(snd_buf *out, const char *body, size_t len)
{
    size_t end = trim_trailing_empty_lines(body, len, 1);
    snd_buf_reserve(out, end + 2);
    if (already_relaxed(body, end)) {
        snd_buf_append(out, body, end);
        if (!(end >= 2 && is_crlf_at(body, end - 2, end)))
            snd_buf_append(out, "\r\n", 2);
        return out->overflow ? -1 : 0;
    }
    size_t i = 0;
    while (i < end) {
        size_t eol = next_crlf(body, i, end);
        /* Fast path: a line with no tab, no double space and no trailing
         * space is already canonical (true of base64 and most text). */
        int bad = eol > i && body[eol - 1] == ' ';
        char prev = 0;
        for (size_t k = i; k < eol; k++) {
            char c = body[k];
            bad |= (c == '\t') | ((c == ' ') & (prev == ' '));
            prev = c;
        }
        if (!bad) {
            snd_buf_append(out, body + i, eol - i);
        } else {
            int pending = 0;
            for (size_t k = i; k < eol; k++) {
                if (is_wsp(body[k])) {
                    pending = 1;
                    continue;
                }
                if (pending)
                    snd_buf_putc(out, ' ');
                pending = 0;
                snd_buf_putc(out, body[k]);
            }
        }
        snd_buf_append(out, "\r\n", 2);
        i = eol + 2;
    }
    return out->overflow ? -1 : 0;
}

int snd_dkim_canon_body_simple(snd_buf *out, const char *body, size_t len)
{
    size_t end = trim_trailing_empty_lines(body, len, 0);
    if (end == 0)
        return snd_buf_append(out, "\r\n", 2);
    snd_buf_append(out, body, end);
    if (end < 2 || body[end - 2] != '\r' || body[end - 1] != '\n')
        snd_buf_append(out, "\r\n", 2);
    return out->overflow ? -1 : 0;
}
