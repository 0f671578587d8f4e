/*
 * dkim_keys.h: DKIM key management per organization and signing domain:
 * generation (RSA 1024-4096, default 2048; Ed25519), the DNS TXT record
 * (one line and split into <= 255-octet strings), two-step rotation
 * (pending selector, promote, retire) and loading the active keys for
 * signing.
 *
 * Private keys are sealed with AES-256-GCM under a 32-byte master key
 * (config `dkim.master_key`, or a 0600 file made at first start) before they
 * reach SQLite; they never appear in snd_dkim_key_info, replies or logs.
 * Every query is scoped by org_id.
 * Memory: the store owns its connection; list results are malloc'd arrays
 * the caller frees with free(); loaded EVP_PKEYs belong to the caller
 * (EVP_PKEY_free). Thread-safety: a store may be shared by threads (one
 * mutex around the connection).
 */
#ifndef SND_DKIM_KEYS_H
#define SND_DKIM_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include "dkim_sign.h"
#include "xd/clock.h"
#include "xd/status.h"

typedef enum snd_key_state {
    SND_KEY_STATE_UNSPECIFIED = 0,
    SND_KEY_ACTIVE = 1,
    SND_KEY_PENDING = 2,
    SND_KEY_RETIRED = 3,
} snd_key_state;

#define SND_DKIM_TXT_MAX      1024
#define SND_DKIM_MAX_CHUNKS   8
#define SND_DKIM_DEFAULT_BITS 2048

typedef struct snd_dkim_key_info {
    char key_id[33];
    char org_id[129];
    char domain[254]; /* A-labels, lower case */
    char selector[64];
    snd_dkim_alg alg;
    int bits;
    snd_key_state state;
    char txt[SND_DKIM_TXT_MAX]; /* "v=DKIM1; k=rsa; p=..." */
    int64_t created_at_ms, activated_at_ms, retired_at_ms;
} snd_dkim_key_info;

typedef struct snd_keystore snd_keystore;

/* Reads the master key: 64 hex digits in hex_key, or else the file at
 * key_file (created with 32 random bytes, mode 0600, when missing; an
 * existing file with group/other permissions is refused). */
xd_code snd_dkim_master_key(const char *hex_key, const char *key_file, unsigned char out[32],
                            xd_err *err);

/* Opens (migrating) the sender database at path. */
xd_code snd_keystore_open(const char *path, const unsigned char master[32], const xd_clock *clock,
                          snd_keystore **out, xd_err *err);
void snd_keystore_close(snd_keystore *ks);

/* Normalises a signing domain (IDN to A-labels, lower case) into out (254). */
xd_code snd_dkim_normalize_domain(const char *domain, char *out, xd_err *err);

/* Creates a key. selector "" = generated ("xd" + date + 'r'/'e'). bits 0 =
 * 2048. ACTIVE when no active key of that algorithm exists for the domain,
 * else PENDING. Same (org, domain, selector, alg) again = the existing key. */
xd_code snd_dkim_create(snd_keystore *ks, const char *org_id, const char *domain,
                        const char *selector, snd_dkim_alg alg, int bits, snd_dkim_key_info *out,
                        xd_err *err);

/* The organization's keys (optionally one domain; retired only when asked),
 * newest first. *out is malloc'd (may be NULL when *n is 0). */
xd_code snd_dkim_list(snd_keystore *ks, const char *org_id, const char *domain, int include_retired,
                      snd_dkim_key_info **out, size_t *n, xd_err *err);

/* Rotation step 1: a PENDING key next to the ACTIVE one (same algorithm;
 * bits 0 = the active key's). Returns both. A pending key that already
 * exists is returned as is. */
xd_code snd_dkim_rotate_start(snd_keystore *ks, const char *org_id, const char *domain,
                              snd_dkim_alg alg, const char *new_selector, int bits,
                              snd_dkim_key_info *active, snd_dkim_key_info *pending, xd_err *err);

/* Rotation step 2: PENDING -> ACTIVE and ACTIVE -> RETIRED, atomically. */
xd_code snd_dkim_rotate_promote(snd_keystore *ks, const char *org_id, const char *domain,
                                snd_dkim_alg alg, snd_dkim_key_info *active,
                                snd_dkim_key_info *retired, xd_err *err);

/* The active keys of (org, domain), at most one per algorithm (RSA first):
 * fills up to 2 infos and unsealed keys; *n = how many. */
xd_code snd_dkim_load_active(snd_keystore *ks, const char *org_id, const char *domain,
                             snd_dkim_key_info info[2], EVP_PKEY *keys[2], size_t *n, xd_err *err);

/* Splits a TXT value into strings of at most 255 octets; returns how many
 * (chunks[i] are NUL-terminated copies), or -1 when over max_chunks. */
int snd_dkim_txt_split(const char *txt, char chunks[][256], int max_chunks);

/* The public record for a key: "v=DKIM1; k=rsa; p=<SPKI DER base64>" or
 * "v=DKIM1; k=ed25519; p=<32 raw octets base64>". */
xd_code snd_dkim_public_txt(EVP_PKEY *key, snd_dkim_alg alg, char *out, size_t out_size,
                            xd_err *err);

#endif
