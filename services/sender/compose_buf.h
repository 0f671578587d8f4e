/*
 * compose_buf.h: a growable byte buffer with a hard size cap, used to build
 * messages, headers and canonical forms.
 *
 * The buffer owns its heap memory (free with snd_buf_free). Appends past the
 * cap fail with -1 and leave the buffer marked `overflow`, so a builder can
 * append freely and check once at the end. The content is always
 * NUL-terminated (not counted in len). Thread-safety: one owner at a time.
 */
#ifndef SND_COMPOSE_BUF_H
#define SND_COMPOSE_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct snd_buf {
    char *data;
    size_t len;
    size_t cap;   /* allocated bytes */
    size_t max;   /* hard cap on len; 0 = 64 MiB */
    int overflow; /* 1 once an append did not fit */
} snd_buf;

void snd_buf_init(snd_buf *b, size_t max);
void snd_buf_free(snd_buf *b);
/* Forgets the content, keeps the memory and the cap. */
void snd_buf_reset(snd_buf *b);
/* Makes room for n more octets without appending (a size hint); -1 over the cap. */
int snd_buf_reserve(snd_buf *b, size_t n);
int snd_buf_append(snd_buf *b, const void *data, size_t n);
int snd_buf_puts(snd_buf *b, const char *s);
/* Inline fast path: composing appends one octet at a time in hot loops. */
static inline int snd_buf_putc(snd_buf *b, char c)
{
    if (!b->overflow && b->len + 2 <= b->cap && b->len < b->max) {
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
        return 0;
    }
    return snd_buf_append(b, &c, 1);
}
int snd_buf_printf(snd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends each string up to the NULL that ends the list: for the hot
 * paths, where vsnprintf costs more than the copying. */
int snd_buf_cat(snd_buf *b, ...) __attribute__((sentinel));

#endif
