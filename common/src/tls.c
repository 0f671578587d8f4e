/* tls.c: NNG TLS configurations from PEM files. */
#include "xd/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEM_MAX_BYTES (1 << 20)

/* Reads a whole PEM file (at most 1 MiB) as a string; NULL on failure. */
static char *read_pem(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(PEM_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, PEM_MAX_BYTES + 1, f) : 0;
    fclose(f);
    if (!buf || n == 0 || n > PEM_MAX_BYTES) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

xd_code xd_tls_server_config(const char *cert_file, const char *key_file, nng_tls_config **out,
                             xd_err *err)
{
    if (!cert_file || !cert_file[0] || !key_file || !key_file[0])
        return xd_err_set(err, XD_INVALID_ARGUMENT,
                          "a TLS listener needs both a certificate file and a key file");
    /* nng_tls_config_cert_key_file() wants both in one file (its third
     * argument is a password), so load the two files ourselves. */
    char *cert = read_pem(cert_file), *key = read_pem(key_file);
    nng_tls_config *cfg = NULL;
    int rv = cert && key ? nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER) : NNG_ENOENT;
    if (rv == 0)
        rv = nng_tls_config_own_cert(cfg, cert, key, NULL);
    if (key)
        memset(key, 0, strlen(key));
    free(cert);
    free(key);
    if (rv != 0) {
        if (cfg)
            nng_tls_config_free(cfg);
        return xd_err_set(err, XD_INVALID_ARGUMENT, "TLS certificate %s / key %s: %s", cert_file,
                          key_file, rv == NNG_ENOENT ? "cannot read the files" : nng_strerror(rv));
    }
    *out = cfg;
    return XD_OK;
}

xd_code xd_tls_client_config(const char *ca_file, const char *server_name, nng_tls_config **out,
                             xd_err *err)
{
    nng_tls_config *cfg = NULL;
    int rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT);
    if (rv == 0)
        rv = nng_tls_config_ca_file(cfg, ca_file);
    if (rv == 0 && server_name && server_name[0])
        rv = nng_tls_config_server_name(cfg, server_name);
    if (rv == 0)
        rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
    if (rv != 0) {
        if (cfg)
            nng_tls_config_free(cfg);
        return xd_err_set(err, XD_INVALID_ARGUMENT, "TLS CA file %s: %s", ca_file,
                          nng_strerror(rv));
    }
    *out = cfg;
    return XD_OK;
}
