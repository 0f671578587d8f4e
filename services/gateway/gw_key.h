/*
 * gw_key.h: API key text format and hashing.
 *
 * A key is "xdk_<id>_<secret>": id = 16 lower-case hex characters (public,
 * stored in clear, used to find the row), secret = 64 hex characters (32
 * random bytes). The database keeps only HMAC-SHA256(pepper, secret); the
 * pepper is a 32-byte file next to the database (0600), so a copy of the
 * database alone cannot confirm a guessed key. Hashes are compared with
 * xd_const_eq. Memory: callers own every buffer. Thread-safety: pure functions.
 */
#ifndef GW_KEY_H
#define GW_KEY_H

#include <stddef.h>
#include "xd/status.h"

#define GW_KEY_ID_HEX     16
#define GW_KEY_SECRET_HEX 64
#define GW_KEY_TEXT_MAX   (4 + GW_KEY_ID_HEX + 1 + GW_KEY_SECRET_HEX + 1)
#define GW_KEY_HASH_LEN   32
#define GW_PEPPER_LEN     32

typedef struct gw_key_parts {
    char id[GW_KEY_ID_HEX + 1];
    char secret[GW_KEY_SECRET_HEX + 1];
} gw_key_parts;

/* Makes a fresh random key: writes parts and the full text (GW_KEY_TEXT_MAX). */
void gw_key_generate(gw_key_parts *parts, char *text, size_t text_size);

/* Splits key text into parts. Returns 0, or -1 when the text is not a
 * well-formed key (the caller answers UNAUTHENTICATED without saying more). */
int gw_key_parse(const char *text, gw_key_parts *parts);

/* HMAC-SHA256(pepper, secret) into hash (GW_KEY_HASH_LEN bytes). */
void gw_key_hash(const unsigned char pepper[GW_PEPPER_LEN], const char *secret,
                 unsigned char hash[GW_KEY_HASH_LEN]);

/* Reads the pepper file at path, creating it (0600, random) when absent.
 * UNAVAILABLE/INTERNAL with the path when it cannot. */
xd_code gw_pepper_load(const char *path, unsigned char pepper[GW_PEPPER_LEN], xd_err *err);

/* 1 when s is exactly n lower-case hex characters. */
int gw_is_hex(const char *s, size_t n);

#endif
