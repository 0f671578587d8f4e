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
    size_t name_len = (size_t)(colon - field);
    while (name_len > 0 && is_wsp(field[name_len - 1]))
        name_len--;
    for (size_t i = 0; i < name_len; i++) {
        char c = field[i];
        snd_buf_putc(out, (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c);
    }
    snd_buf_putc(out, ':');
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
            snd_buf_putc(out, ' ');
        pending_space = 0;
        started = 1;
        snd_buf_putc(out, c);
    }
    return snd_buf_append(out, "\r\n", 2);
}

int snd_dkim_canon_header_simple(snd_buf *out, const char *field, size_t len)
{
    snd_buf_append(out, field, len);
    return snd_buf_append(out, "\r\n", 2);
}

/* Length of body up to and including the last line with content (for
 * relaxed, content = something other than WSP): what remains once the
 * trailing empty lines are ignored. */
static size_t trim_trailing_empty_lines(const char *body, size_t len, int relaxed)
{
    size_t keep = 0, i = 0;
    while (i < len) {
        size_t eol = i;
        while (eol < len && !(body[eol] == '\r' && eol + 1 < len && body[eol + 1] == '\n'))
            eol++;
        int content = 0;
        for (size_t k = i; k < eol && !content; k++)
            content = !relaxed || !is_wsp(body[k]);
        size_t next = eol < len ? eol + 2 : len;
        if (content)
            keep = next;
        i = next;
    }
    return keep;
}

int snd_dkim_canon_body_relaxed(snd_buf *out, const char *body, size_t len)
{
    size_t end = trim_trailing_empty_lines(body, len, 1);
    snd_buf_reserve(out, end + 2);
    size_t i = 0;
    while (i < end) {
        size_t eol = i;
        while (eol < end && !(body[eol] == '\r' && eol + 1 < end && body[eol + 1] == '\n'))
            eol++;
        /* Fast path: a line with no tab, no double space and no trailing
         * space is already canonical (true of base64 and most text). */
        int plain = eol == i || body[eol - 1] != ' ';
        for (size_t k = i; plain && k < eol; k++)
            plain = body[k] != '\t' && !(body[k] == ' ' && k + 1 < eol && body[k + 1] == ' ');
        if (plain) {
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
