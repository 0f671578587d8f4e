/* gw_key.c: API key generation, parsing, hashing, and the pepper file. */
#include "gw_key.h"
#include "xd/util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int gw_is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[n] == '\0';
}

void gw_key_generate(gw_key_parts *parts, char *text, size_t text_size)
{
    xd_random_hex(parts->id, GW_KEY_ID_HEX / 2);
    xd_random_hex(parts->secret, GW_KEY_SECRET_HEX / 2);
    snprintf(text, text_size, "xdk_%s_%s", parts->id, parts->secret);
}

int gw_key_parse(const char *text, gw_key_parts *parts)
{
    if (!text || strlen(text) != GW_KEY_TEXT_MAX - 1 || strncmp(text, "xdk_", 4) != 0 ||
        text[4 + GW_KEY_ID_HEX] != '_')
        return -1;
    memcpy(parts->id, text + 4, GW_KEY_ID_HEX);
    parts->id[GW_KEY_ID_HEX] = '\0';
    memcpy(parts->secret, text + 4 + GW_KEY_ID_HEX + 1, GW_KEY_SECRET_HEX);
    parts->secret[GW_KEY_SECRET_HEX] = '\0';
    if (!gw_is_hex(parts->id, GW_KEY_ID_HEX) || !gw_is_hex(parts->secret, GW_KEY_SECRET_HEX))
        return -1;
    return 0;
}

void gw_key_hash(const unsigned char pepper[GW_PEPPER_LEN], const char *secret,
                 unsigned char hash[GW_KEY_HASH_LEN])
{
    unsigned int len = GW_KEY_HASH_LEN;
    HMAC(EVP_sha256(), pepper, GW_PEPPER_LEN, (const unsigned char *)secret, strlen(secret), hash,
         &len);
}

static xd_code read_exact(int fd, unsigned char *buf, size_t n, const char *path, xd_err *err)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return xd_err_set(err, XD_INTERNAL,
                              "pepper file %s is shorter than %d bytes: restore it from backup "
                              "(keys cannot be checked without it)",
                              path, GW_PEPPER_LEN);
        got += (size_t)r;
    }
    return XD_OK;
}

xd_code gw_pepper_load(const char *path, unsigned char pepper[GW_PEPPER_LEN], xd_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        unsigned char fresh[GW_PEPPER_LEN];
        xd_random_bytes(fresh, sizeof(fresh));
        /* O_EXCL: when two processes race, the loser reads the winner's file. */
        int wfd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (wfd >= 0) {
            ssize_t w = write(wfd, fresh, sizeof(fresh));
            int ok = w == (ssize_t)sizeof(fresh) && fsync(wfd) == 0;
            close(wfd);
            if (!ok) {
                unlink(path);
                return xd_err_set(err, XD_UNAVAILABLE, "cannot write pepper file %s: %s", path,
                                  strerror(errno));
            }
        } else if (errno != EEXIST) {
            return xd_err_set(err, XD_UNAVAILABLE, "cannot create pepper file %s: %s", path,
                              strerror(errno));
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0)
        return xd_err_set(err, XD_UNAVAILABLE, "cannot open pepper file %s: %s", path,
                          strerror(errno));
    xd_code rc = read_exact(fd, pepper, GW_PEPPER_LEN, path, err);
    close(fd);
    return rc;
}
