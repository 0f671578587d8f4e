/* seal_gcm.c: AES-256-GCM sealing (see seal_gcm.h). */
#include "seal_gcm.h"

#include <string.h>
#include <openssl/evp.h>

#include "xd/util.h"

int snd_seal(const unsigned char key[32], const char *aad, const unsigned char *pt, size_t n,
             unsigned char *out, size_t *out_len)
{
    int ok = 0, len = 0, fin = 0;
    unsigned char *nonce = out, *ct = out + SND_SEAL_NONCE_LEN;
    xd_random_bytes(nonce, SND_SEAL_NONCE_LEN);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (c && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
        EVP_EncryptUpdate(c, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) == 1 &&
        EVP_EncryptUpdate(c, ct, &len, pt, (int)n) == 1 &&
        EVP_EncryptFinal_ex(c, ct + len, &fin) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SND_SEAL_TAG_LEN, ct + len + fin) == 1) {
        *out_len = SND_SEAL_NONCE_LEN + (size_t)(len + fin) + SND_SEAL_TAG_LEN;
        ok = 1;
    }
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

int snd_unseal(const unsigned char key[32], const char *aad, const unsigned char *in, size_t n,
               unsigned char *pt, size_t *pt_len)
{
    if (n < SND_SEAL_NONCE_LEN + SND_SEAL_TAG_LEN)
        return -1;
    int ok = 0, len = 0, fin = 0;
    size_t ct_len = n - SND_SEAL_NONCE_LEN - SND_SEAL_TAG_LEN;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (c && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, in) == 1 &&
        EVP_DecryptUpdate(c, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) == 1 &&
        EVP_DecryptUpdate(c, pt, &len, in + SND_SEAL_NONCE_LEN, (int)ct_len) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SND_SEAL_TAG_LEN,
                            (void *)(in + SND_SEAL_NONCE_LEN + ct_len)) == 1 &&
        EVP_DecryptFinal_ex(c, pt + len, &fin) == 1) {
        *pt_len = (size_t)(len + fin);
        ok = 1;
    }
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}
