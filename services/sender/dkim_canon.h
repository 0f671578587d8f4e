/*
 * dkim_canon.h: DKIM canonicalization (RFC 6376 3.4) of header fields and
 * bodies, "simple" and "relaxed", plus splitting a message into its header
 * fields and body.
 *
 * Outputs are appended to caller-owned snd_bufs; the header field views
 * point into the caller's message. Thread-safety: pure functions.
 */
#ifndef SND_DKIM_CANON_H
#define SND_DKIM_CANON_H

#include <stddef.h>
#include "compose_buf.h"

/* One header field as it appears, including its folding, without the final
 * CRLF; name_len is the length of the name before the colon (trailing WSP
 * excluded). */
typedef struct snd_hfield {
    const char *start;
    size_t len;
    size_t name_len;
} snd_hfield;

/* Splits a CRLF message into at most max fields and the body (after the
 * empty line). Returns the number of fields, or -1 when the header block is
 * malformed (a line without a colon, a bare LF, more than max fields). */
int snd_dkim_split(const char *msg, size_t len, snd_hfield *fields, int max, const char **body,
                   size_t *body_len);

/* "name:value\r\n" in relaxed form (3.4.2): name lower-cased, folding
 * removed, WSP runs as one SP, WSP around the colon and at the end removed. */
int snd_dkim_canon_header_relaxed(snd_buf *out, const char *field, size_t len);

/* The field unchanged plus CRLF (3.4.1). */
int snd_dkim_canon_header_simple(snd_buf *out, const char *field, size_t len);

/* Body in relaxed form (3.4.4): WSP runs as one SP, trailing WSP removed,
 * trailing empty lines removed; an empty body stays empty. */
int snd_dkim_canon_body_relaxed(snd_buf *out, const char *body, size_t len);

/* Body in simple form (3.4.3): trailing empty lines removed; an empty body
 * becomes CRLF. */
int snd_dkim_canon_body_simple(snd_buf *out, const char *body, size_t len);

#endif
