/*
 * gw_http.h: the HTTP/JSON face on NNG's HTTP server.
 *
 *   POST /v1/<Method>    body: the request message in proto3 JSON;
 *                        Authorization: Bearer <key>; reply: the reply
 *                        message, or {"code","message","details"} with the
 *                        HTTP status matching the gRPC code.
 *   GET  /healthz        SuiteHealth without a key (200 all up, 503 not).
 *   GET  /metrics        Prometheus text.
 *   POST /unsubscribe?t=<token>  RFC 8058 one-click unsubscribe (the link
 *                        the sender writes: optout.base_url must be
 *                        https://<this host>/unsubscribe); also /u/<token>.
 *   GET  (same URLs)     a page that confirms with a button (POSTs the form).
 * Requests are handed to a small worker pool: the NNG callback never blocks.
 * The server owns its threads; the ctx is borrowed and must outlive it.
 * Thread-safety: start/stop from one thread.
 */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stdint.h>
#include "gw_api.h"

typedef struct gw_http gw_http;

typedef struct gw_http_options {
    const char *url;           /* "http://127.0.0.1:7480" or "https://..." */
    const char *tls_cert_file; /* https:// only */
    const char *tls_key_file;
    int64_t max_body_bytes;     /* larger bodies -> 413 with a JSON error */
    int workers;                /* 0 = 4 */
    int allow_plaintext_remote; /* http:// on a non-loopback address */
    int64_t request_timeout_ms; /* deadline given to each call; 0 = 30 s */
} gw_http_options;

xd_code gw_http_start(gw_ctx *ctx, const gw_http_options *o, gw_http **out, xd_err *err);
void gw_http_stop(gw_http *h);

/* HTTP status for a gRPC code (INVALID_ARGUMENT -> 400, NOT_FOUND -> 404...). */
int gw_http_status(int code);

/* 1 when the URL's host is loopback (127.x, [::1], localhost). */
int gw_url_is_loopback(const char *url);

#endif
