/* vf_mime.c: see vf_mime.h. */
#include "vf_mime.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Converts CRLF and lone CR to LF; returns a new NUL-terminated copy. */
static char *normalise_eol(const char *raw, size_t len)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (raw[i] == '\r') {
            out[o++] = '\n';
            if (i + 1 < len && raw[i + 1] == '\n')
                i++;
        } else {
            out[o++] = raw[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* Finds the end of the header block starting at s (exclusive of "\n\n");
 * *body is set to the first body byte. */
static size_t header_block_len(const char *s, size_t n, const char **body)
{
    if (n > 0 && s[0] == '\n') {
        *body = s + 1;
        return 0;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] == '\n' && s[i + 1] == '\n') {
            *body = s + i + 2;
            return i + 1;
        }
    }
    *body = s + n;
    return n;
}

int vf_mime_header(const char *headers, const char *name, char *out, size_t out_size)
{
    if (!headers || out_size == 0)
        return 0;
    size_t nl = strlen(name);
    const char *p = headers;
    while (*p) {
        const char *eol = strchr(p, '\n');
        if (strncasecmp(p, name, nl) == 0) {
            const char *q = p + nl;
            while (*q == ' ' || *q == '\t')
                q++;
            if (*q == ':') {
                q++;
                size_t o = 0;
                for (;;) {
                    const char *end = strchr(q, '\n');
                    if (!end)
                        end = q + strlen(q);
                    while (q < end && (*q == ' ' || *q == '\t') && o == 0)
                        q++;
                    for (; q < end && o + 1 < out_size; q++)
                        out[o++] = (*q == '\t') ? ' ' : *q;
                    if (*end == '\n' && (end[1] == ' ' || end[1] == '\t')) {
                        if (o + 1 < out_size && o > 0)
                            out[o++] = ' ';
                        q = end + 1;
                        while (*q == ' ' || *q == '\t')
                            q++;
                        continue;
                    }
                    break;
                }
                while (o > 0 && isspace((unsigned char)out[o - 1]))
                    o--;
                out[o] = '\0';
                return 1;
            }
        }
        if (!eol)
            break;
        p = eol + 1;
    }
    return 0;
}

int vf_mime_param(const char *value, const char *param, char *out, size_t out_size)
{
    size_t pl = strlen(param);
    const char *p = value;
    while ((p = strchr(p, ';')) != NULL) {
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncasecmp(p, param, pl) == 0) {
            const char *q = p + pl;
            while (*q == ' ')
                q++;
            if (*q != '=')
                continue;
            q++;
            while (*q == ' ')
                q++;
            size_t o = 0;
            if (*q == '"') {
                q++;
                while (*q && *q != '"' && o + 1 < out_size)
                    out[o++] = *q++;
            } else {
                while (*q && *q != ';' && !isspace((unsigned char)*q) && o + 1 < out_size)
                    out[o++] = *q++;
            }
            out[o] = '\0';
            return o > 0;
        }
    }
    return 0;
}

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

static char *decode_base64(const char *s, size_t n, size_t *out_len)
{
    char *out = malloc(n / 4 * 3 + 4);
    if (!out)
        return NULL;
    unsigned acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0)
            continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static char *decode_qp(const char *s, size_t n, size_t *out_len)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=' && i + 1 < n && s[i + 1] == '\n') {
            i++; /* soft line break */
        } else if (s[i] == '=' && i + 2 < n && hex_value(s[i + 1]) >= 0 &&
                   hex_value(s[i + 2]) >= 0) {
            out[o++] = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

static char *copy_range(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (out) {
        memcpy(out, s, n);
        out[n] = '\0';
    }
    return out;
}

static void content_type_of(const char *headers, char *ctype, size_t size, char *boundary,
                            size_t bsize)
{
    char value[1024];
    boundary[0] = '\0';
    snprintf(ctype, size, "text/plain");
    if (!vf_mime_header(headers, "Content-Type", value, sizeof value))
        return;
    size_t o = 0;
    for (const char *p = value; *p && *p != ';' && !isspace((unsigned char)*p) && o + 1 < size; p++)
        ctype[o++] = (char)tolower((unsigned char)*p);
    if (o == 0)
        return;
    ctype[o] = '\0';
    vf_mime_param(value, "boundary", boundary, bsize);
}

/* Finds the next line "--boundary" at or after p; returns its start or NULL. */
static const char *find_delimiter(const char *p, const char *end, const char *boundary, size_t bl)
{
    while (p < end) {
        if ((size_t)(end - p) >= bl + 2 && p[0] == '-' && p[1] == '-' &&
            memcmp(p + 2, boundary, bl) == 0)
            return p;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return NULL;
        p = nl + 1;
    }
    return NULL;
}

static void add_leaf(vf_mime *m, const char *ctype, const char *headers, size_t hlen,
                     const char *body, size_t blen)
{
    if (m->n_parts >= VF_MIME_MAX_PARTS)
        return;
    vf_mime_part *part = &m->parts[m->n_parts];
    snprintf(part->ctype, sizeof part->ctype, "%s", ctype);
    part->headers = copy_range(headers, hlen);
    if (!part->headers)
        return;
    char cte[64] = "";
    vf_mime_header(part->headers, "Content-Transfer-Encoding", cte, sizeof cte);
    if (strcasecmp(cte, "base64") == 0)
        part->body = decode_base64(body, blen, &part->body_len);
    else if (strcasecmp(cte, "quoted-printable") == 0)
        part->body = decode_qp(body, blen, &part->body_len);
    else {
        part->body = copy_range(body, blen);
        part->body_len = blen;
    }
    if (!part->body) {
        free(part->headers);
        part->headers = NULL;
        return;
    }
    m->n_parts++;
}

static void parse_entity(vf_mime *m, const char *s, size_t n, int depth)
{
    const char *body;
    size_t hlen = header_block_len(s, n, &body);
    char *headers = copy_range(s, hlen);
    if (!headers)
        return;
    char ctype[96], boundary[256];
    content_type_of(headers, ctype, sizeof ctype, boundary, sizeof boundary);
    const char *end = s + n;
    size_t bl = strlen(boundary);
    if (strncmp(ctype, "multipart/", 10) == 0 && bl > 0 && depth < VF_MIME_MAX_DEPTH) {
        const char *d = find_delimiter(body, end, boundary, bl);
        if (d) {
            while (d && m->n_parts < VF_MIME_MAX_PARTS) {
                if (d + 2 + bl + 1 < end && d[2 + bl] == '-' && d[3 + bl] == '-')
                    break; /* closing delimiter */
                const char *start = memchr(d, '\n', (size_t)(end - d));
                if (!start)
                    break;
                start++;
                const char *next = find_delimiter(start, end, boundary, bl);
                const char *stop = next ? next : end;
                size_t len = (size_t)(stop - start);
                if (len > 0 && start[len - 1] == '\n')
                    len--; /* the LF before the delimiter belongs to it */
                parse_entity(m, start, len, depth + 1);
                d = next;
            }
            free(headers);
            return;
        }
    }
    /* A multipart whose delimiter never appears is read as text. */
    add_leaf(m, strncmp(ctype, "multipart/", 10) == 0 ? "text/plain" : ctype, headers, hlen, body,
             (size_t)(end - body));
    free(headers);
}

vf_mime *vf_mime_parse(const char *raw, size_t len)
{
    vf_mime *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->text = normalise_eol(raw, len);
    if (!m->text) {
        free(m);
        return NULL;
    }
    size_t n = strlen(m->text);
    const char *body;
    size_t hlen = header_block_len(m->text, n, &body);
    m->headers = copy_range(m->text, hlen);
    m->body = (char *)body;
    if (!m->headers) {
        vf_mime_free(m);
        return NULL;
    }
    parse_entity(m, m->text, n, 0);
    return m;
}

void vf_mime_free(vf_mime *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_parts; i++) {
        free(m->parts[i].headers);
        free(m->parts[i].body);
    }
    free(m->headers);
    free(m->text);
    free(m);
}

const vf_mime_part *vf_mime_find(const vf_mime *m, const char *ctype)
{
    for (int i = 0; i < m->n_parts; i++)
        if (strcmp(m->parts[i].ctype, ctype) == 0)
            return &m->parts[i];
    return NULL;
}
