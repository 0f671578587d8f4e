/*
 * vf_mime.h: a small, bounded MIME reader for bounces and feedback reports.
 *
 * It normalises line endings (CRLF, CR -> LF), splits multipart bodies
 * (nested at most VF_MIME_MAX_DEPTH deep, at most VF_MIME_MAX_PARTS leaves),
 * and decodes base64 and quoted-printable leaf bodies. message/rfc822 and
 * text/rfc822-headers parts are leaves: their text is kept, not descended,
 * because the original message inside a bounce is not the bounce's own text.
 * Memory: vf_mime_parse() returns one allocation tree that vf_mime_free()
 * releases; every string it hands out lives until then.
 * Thread-safety: no shared state.
 */
#ifndef VF_MIME_H
#define VF_MIME_H

#include <stddef.h>

#define VF_MIME_MAX_DEPTH 8
#define VF_MIME_MAX_PARTS 64

typedef struct vf_mime_part {
    char ctype[96]; /* lower-cased "type/subtype"; "text/plain" by default */
    char *headers;  /* the part's own header block, LF line endings */
    char *body;     /* decoded body, NUL-terminated (binary may hold NULs) */
    size_t body_len;
} vf_mime_part;

typedef struct vf_mime {
    char *text;    /* the whole message, LF line endings */
    char *headers; /* top-level header block */
    char *body;    /* top-level raw body (undecoded) */
    vf_mime_part parts[VF_MIME_MAX_PARTS];
    int n_parts;
} vf_mime;

/* Parses len bytes of raw. Returns NULL only on out-of-memory. */
vf_mime *vf_mime_parse(const char *raw, size_t len);
void vf_mime_free(vf_mime *m);

/* Copies the unfolded value of header `name` (case-insensitive, first one)
 * from a header block into out; returns 1 if found, 0 otherwise. */
int vf_mime_header(const char *headers, const char *name, char *out, size_t out_size);

/* Copies the value of parameter `param` of a structured header value
 * (e.g. boundary of a Content-Type) into out; 1 if found. */
int vf_mime_param(const char *value, const char *param, char *out, size_t out_size);

/* The first part whose ctype equals ctype, or NULL. */
const vf_mime_part *vf_mime_find(const vf_mime *m, const char *ctype);

#endif
