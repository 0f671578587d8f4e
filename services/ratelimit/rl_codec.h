/*
 * rl_codec.h: a tiny little-endian byte writer/reader for the blobs the
 * engine persists (window rings, GCRA TAT, leases, reputation, dedup).
 *
 * A writer owns its growing buffer (free with rl_wbuf_free, or take it). A
 * reader borrows the bytes and sets `bad` on any overrun instead of reading
 * past the end. Thread-safety: none (plain values).
 */
#ifndef RL_CODEC_H
#define RL_CODEC_H

#include <stddef.h>
#include <stdint.h>

typedef struct rl_wbuf {
    unsigned char *p;
    size_t len, cap;
    int oom;
} rl_wbuf;

void rl_wbuf_free(rl_wbuf *b);
void rl_put_u8(rl_wbuf *b, uint8_t v);
void rl_put_u32(rl_wbuf *b, uint32_t v);
void rl_put_u64(rl_wbuf *b, uint64_t v);
void rl_put_i64(rl_wbuf *b, int64_t v);
void rl_put_str(rl_wbuf *b, const char *s);             /* u32 length + bytes */
void rl_put_bytes(rl_wbuf *b, const void *p, size_t n); /* raw, no length */

typedef struct rl_rbuf {
    const unsigned char *p;
    size_t len, pos;
    int bad;
} rl_rbuf;

uint8_t rl_get_u8(rl_rbuf *r);
uint32_t rl_get_u32(rl_rbuf *r);
uint64_t rl_get_u64(rl_rbuf *r);
int64_t rl_get_i64(rl_rbuf *r);
/* Copies a string into out (size bytes, truncating is an error: bad=1). */
void rl_get_str(rl_rbuf *r, char *out, size_t size);

#endif
