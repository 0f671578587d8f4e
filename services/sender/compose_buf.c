/* compose_buf.c: growable capped byte buffer (see compose_buf.h). */
#include "compose_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SND_BUF_DEFAULT_MAX (64u * 1024u * 1024u)

void snd_buf_init(snd_buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max ? max : SND_BUF_DEFAULT_MAX;
}

void snd_buf_free(snd_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->overflow = 0;
}

void snd_buf_reset(snd_buf *b)
{
    b->len = 0;
    b->overflow = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* Makes room for n more bytes plus the NUL; -1 when over the cap. */
static int reserve(snd_buf *b, size_t n)
{
    if (b->overflow || n > b->max - b->len) {
        b->overflow = 1;
        return -1;
    }
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        abort(); /* a request path must not limp on without memory */
    b->data = p;
    b->cap = cap;
    return 0;
}

int snd_buf_reserve(snd_buf *b, size_t n)
{
    if (reserve(b, n) != 0)
        return -1;
    b->data[b->len] = '\0';
    return 0;
}

int snd_buf_append(snd_buf *b, const void *data, size_t n)
{
    if (reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int snd_buf_puts(snd_buf *b, const char *s)
{
    return snd_buf_append(b, s, strlen(s));
}

int snd_buf_cat(snd_buf *b, ...)
{
    va_list ap;
    va_start(ap, b);
    int rc = 0;
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;)
        rc |= snd_buf_append(b, s, strlen(s));
    va_end(ap);
    return rc ? -1 : 0;
}

int snd_buf_printf(snd_buf *b, const char *fmt, ...)
{
    va_list ap;
    /* One pass when it fits the room already there (the common case);
     * make some room first so fresh buffers take this path too. */
    if (!b->overflow && b->cap < b->len + 256 && b->max - b->len >= 256)
        snd_buf_reserve(b, 256);
    if (!b->overflow && b->data && b->cap > b->len + 1) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        int n = vsnprintf(b->data + b->len, room, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < room && (size_t)n <= b->max - b->len) {
            b->len += (size_t)n;
            return 0;
        }
        b->data[b->len] = '\0';
    }
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n) != 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}
