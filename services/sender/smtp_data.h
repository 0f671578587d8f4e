/*
 * smtp_data.h: the DATA body transform (RFC 5321 §4.5.2 and §2.3.8): line
 * endings normalised to CRLF (a bare CR or LF becomes CRLF), a leading '.'
 * on a line doubled, a final CRLF added when missing, then ".\r\n". Pure
 * code, no I/O: the client pulls encoded chunks and writes them.
 *
 * Memory: the encoder points into the caller's message, which must stay
 * valid and unchanged while it is used; it allocates nothing.
 * Thread-safety: an encoder is used by one thread at a time.
 */
#ifndef SND_SMTP_DATA_H
#define SND_SMTP_DATA_H

#include <stddef.h>
#include <stdint.h>

typedef struct snd_smtp_dot_encoder {
    const unsigned char *in;
    size_t len;
    size_t pos;
    int at_line_start;
    int finished; /* the terminating ".\r\n" has been emitted */
} snd_smtp_dot_encoder;

void snd_smtp_dot_encoder_init(snd_smtp_dot_encoder *e, const void *msg, size_t len);

/* Writes the next encoded bytes into out (cap >= 8) and returns how many;
 * returns 0 once everything, terminator included, has been produced. */
size_t snd_smtp_dot_encode(snd_smtp_dot_encoder *e, char *out, size_t cap);

/* Size of the full encoded body, terminator included (for SIZE=). */
uint64_t snd_smtp_dot_encoded_size(const void *msg, size_t len);

/* Returns 1 when any byte has the high bit set (needs BODY=8BITMIME). */
int snd_smtp_has_8bit(const void *data, size_t len);

#endif
