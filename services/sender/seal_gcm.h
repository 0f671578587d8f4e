/*
 * seal_gcm.h: AES-256-GCM sealing of secrets at rest (DKIM private keys,
 * relay passwords) under the service master key. A sealed blob is
 * nonce (12) || ciphertext || tag (16); the AAD binds it to its row, so a
 * blob copied onto another row does not open.
 * Memory: caller-owned buffers; out needs n + SND_SEAL_OVERHEAD bytes.
 * Thread-safety: reentrant.
 */
#ifndef SND_SEAL_GCM_H
#define SND_SEAL_GCM_H

#include <stddef.h>

#define SND_SEAL_NONCE_LEN 12
#define SND_SEAL_TAG_LEN   16
#define SND_SEAL_OVERHEAD  (SND_SEAL_NONCE_LEN + SND_SEAL_TAG_LEN)

/* Returns 0, or -1 when OpenSSL fails. */
int snd_seal(const unsigned char key[32], const char *aad, const unsigned char *pt, size_t n,
             unsigned char *out, size_t *out_len);

/* Returns 0, or -1 when the blob is malformed or does not authenticate
 * (wrong key, wrong AAD, tampered). pt needs n bytes. */
int snd_unseal(const unsigned char key[32], const char *aad, const unsigned char *in, size_t n,
               unsigned char *pt, size_t *pt_len);

#endif
