/*
 * mime_encode.h: MIME transfer encodings and RFC 2047 encoded words.
 *
 * Every encoder appends to a caller-owned snd_buf and writes CRLF line ends;
 * no output line exceeds 76 octets (RFC 2045) except 7bit text, which the
 * chooser allows only when every line fits in 998 octets (RFC 5322 2.1.1).
 * Thread-safety: pure functions.
 */
#ifndef SND_MIME_ENCODE_H
#define SND_MIME_ENCODE_H

#include <stddef.h>
#include "compose_buf.h"

typedef enum snd_cte {
    SND_CTE_7BIT = 0,
    SND_CTE_QP = 1,
    SND_CTE_BASE64 = 2,
} snd_cte;

/* "7bit", "quoted-printable" or "base64". */
const char *snd_cte_name(snd_cte cte);

/* Picks the encoding for a text body (already CRLF-normalised): 7bit when it
 * is ASCII without NUL, every line is at most 998 octets and it cannot be
 * mistaken for a boundary of ours ("=_"); otherwise quoted-printable, or
 * base64 when more than a quarter of the octets would need escaping. */
snd_cte snd_mime_choose_text_cte(const char *text, size_t n);

/* Appends text with every CR, LF or CRLF turned into CRLF. */
int snd_mime_crlf_normalize(snd_buf *out, const char *text, size_t n);

/* Base64 (RFC 2045 6.8) in lines of 76 octets, each ended by CRLF. */
int snd_mime_base64(snd_buf *out, const void *data, size_t n);

/* Quoted-printable (RFC 2045 6.7) of CRLF text: CRLF stays a hard break,
 * soft breaks keep lines at most 76 octets, trailing space/tab encoded. */
int snd_mime_qp(snd_buf *out, const char *text, size_t n);

/* Plain base64 without line breaks, standard (url=0) or URL-safe without
 * padding (url=1). */
int snd_base64_raw(snd_buf *out, const void *data, size_t n, int url);

/* Decodes standard base64 (whitespace ignored); returns decoded length or -1. */
long snd_base64_decode(const char *in, size_t n, unsigned char *out, size_t out_size);

/* Appends UTF-8 text as RFC 2047 "B" encoded words (=?UTF-8?B?...?=) of at
 * most 75 octets each, separated by a single space (the header folder breaks
 * there), never splitting a UTF-8 sequence. */
int snd_mime_encoded_words(snd_buf *out, const char *utf8, size_t n);

/* 1 when s is printable ASCII (0x20..0x7E) plus tab. */
int snd_is_printable_ascii(const char *s, size_t n);

/* 1 when s is well-formed UTF-8 (no overlongs, no surrogates). */
int snd_is_valid_utf8(const char *s, size_t n);

#endif
