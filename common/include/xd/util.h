/*
 * util.h: small helpers with no better home: randomness, hex, constant-time
 * comparison, bounded string copies, process memory.
 * Thread-safety: all functions are safe from any thread.
 */
#ifndef XD_UTIL_H
#define XD_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Fills buf with cryptographically strong random bytes (getrandom); aborts
 * if the kernel cannot provide them. */
void xd_random_bytes(void *buf, size_t n);

/* Writes 2*n_bytes hex characters of random plus NUL into out. */
void xd_random_hex(char *out, size_t n_bytes);

/* Lower-case hex of data into out (2*n+1 bytes). */
void xd_hex_encode(const void *data, size_t n, char *out);

/* Returns 1 when the n bytes are equal, in time independent of content. */
int xd_const_eq(const void *a, const void *b, size_t n);

/* Copies at most size-1 bytes and terminates; returns strlen(src). */
size_t xd_strlcpy(char *dst, const char *src, size_t size);

/* Resident set size of this process (or pid when > 0) in KiB; 0 if unknown. */
uint64_t xd_rss_kib(int pid);

/* Returns 1 when s (length n) contains CR, LF or NUL. */
int xd_has_crlf_nul(const char *s, size_t n);

#define XD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
