/* rl_codec.c: byte writer/reader; see rl_codec.h. */
#include "rl_codec.h"

#include <stdlib.h>
#include <string.h>

void rl_wbuf_free(rl_wbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

static void put_bytes(rl_wbuf *b, const void *src, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 64;
        while (ncap < b->len + n)
            ncap *= 2;
        unsigned char *np = realloc(b->p, ncap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

void rl_put_u8(rl_wbuf *b, uint8_t v)
{
    put_bytes(b, &v, 1);
}

void rl_put_u32(rl_wbuf *b, uint32_t v)
{
    unsigned char t[4];
    for (int i = 0; i < 4; i++)
        t[i] = (unsigned char)(v >> (8 * i));
    put_bytes(b, t, 4);
}

void rl_put_u64(rl_wbuf *b, uint64_t v)
{
    unsigned char t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (unsigned char)(v >> (8 * i));
    put_bytes(b, t, 8);
}

void rl_put_i64(rl_wbuf *b, int64_t v)
{
    rl_put_u64(b, (uint64_t)v);
}

void rl_put_str(rl_wbuf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    rl_put_u32(b, (uint32_t)n);
    put_bytes(b, s, n);
}

static const unsigned char *take(rl_rbuf *r, size_t n)
{
    if (r->bad || r->len - r->pos < n) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *p = r->p + r->pos;
    r->pos += n;
    return p;
}

uint8_t rl_get_u8(rl_rbuf *r)
{
    const unsigned char *p = take(r, 1);
    return p ? p[0] : 0;
}

uint32_t rl_get_u32(rl_rbuf *r)
{
    const unsigned char *p = take(r, 4);
    uint32_t v = 0;
    for (int i = 0; p && i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

uint64_t rl_get_u64(rl_rbuf *r)
{
    const unsigned char *p = take(r, 8);
    uint64_t v = 0;
    for (int i = 0; p && i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int64_t rl_get_i64(rl_rbuf *r)
{
    return (int64_t)rl_get_u64(r);
}

void rl_get_str(rl_rbuf *r, char *out, size_t size)
{
    uint32_t n = rl_get_u32(r);
    out[0] = '\0';
    if (n >= size) {
        r->bad = 1;
        return;
    }
    const unsigned char *p = take(r, n);
    if (!p)
        return;
    memcpy(out, p, n);
    out[n] = '\0';
}

void rl_put_bytes(rl_wbuf *b, const void *p, size_t n)
{
    put_bytes(b, p, n);
}
