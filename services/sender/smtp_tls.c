/*
 * smtp_tls.c: the client SSL_CTX. Verification is on unless the caller opts
 * out; the host name check itself is set per connection (smtp_io.c).
 */
#include "smtp_internal.h"

#include <stdio.h>

#include <openssl/err.h>

SSL_CTX *snd_smtp_tls_ctx_new(const snd_smtp_opts *o, char *why, size_t why_len)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        snprintf(why, why_len, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
    if (o->tls_no_verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        int ok = o->ca_file ? SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL)
                            : SSL_CTX_set_default_verify_paths(ctx);
        if (!ok) {
            unsigned long e = ERR_get_error();
            char ebuf[160] = "";
            if (e)
                ERR_error_string_n(e, ebuf, sizeof(ebuf));
            ERR_clear_error();
            snprintf(why, why_len, "cannot load CA certificates from %s: %s",
                     o->ca_file ? o->ca_file : "the system store", ebuf);
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    return ctx;
}
