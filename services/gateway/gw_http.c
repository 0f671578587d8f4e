/* gw_http.c: HTTP/JSON face: routes, a worker pool, JSON errors. */
#include "gw_http.h"
#include "gw_json.h"
#include "gw_metrics.h"
#include "gw_qstats.h"
#include "gw_unsubscribe.h"
#include "xd/log.h"
#include "xd/tls.h"
#include "xd/util.h"

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WORKERS_MAX     64
#define REQUEST_ID_MAX  64
#define TOKEN_MAX       1024
#define METHOD_NAME_MAX 64

typedef enum route {
    ROUTE_API,
    ROUTE_HEALTHZ,
    ROUTE_METRICS,
    ROUTE_UNSUB_GET,
    ROUTE_UNSUB_POST
} route;

typedef struct job {
    nng_aio *aio;
    route route;
    int64_t started_ns;
    struct job *next;
} job;

struct gw_http {
    gw_ctx *ctx;
    gw_http_options opts;
    nng_http_server *server;
    pthread_mutex_t lock;
    pthread_cond_t ready;
    job *head, *tail;
    int stopping;
    pthread_t workers[WORKERS_MAX];
    int n_workers;
};

int gw_http_status(int code)
{
    switch (code) {
    case XD_OK:
        return 200;
    case XD_CANCELLED:
        return 499;
    case XD_INVALID_ARGUMENT:
    case XD_FAILED_PRECONDITION:
    case XD_OUT_OF_RANGE:
        return 400;
    case XD_DEADLINE_EXCEEDED:
        return 504;
    case XD_NOT_FOUND:
        return 404;
    case XD_ALREADY_EXISTS:
    case XD_ABORTED:
        return 409;
    case XD_PERMISSION_DENIED:
        return 403;
    case XD_UNAUTHENTICATED:
        return 401;
    case XD_RESOURCE_EXHAUSTED:
        return 429;
    case XD_UNIMPLEMENTED:
        return 501;
    case XD_UNAVAILABLE:
        return 503;
    default:
        return 500;
    }
}

int gw_url_is_loopback(const char *url)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    return strncmp(host, "127.", 4) == 0 || strncmp(host, "[::1]", 5) == 0 ||
           strncmp(host, "localhost:", 10) == 0 || strcmp(host, "localhost") == 0;
}

/* ---- responses ---- */

static nng_http_res *respond(int status, const char *content_type, const char *body, size_t len)
{
    nng_http_res *res = NULL;
    if (nng_http_res_alloc(&res) != 0)
        return NULL;
    nng_http_res_set_status(res, (uint16_t)status);
    nng_http_res_set_header(res, "Content-Type", content_type);
    nng_http_res_set_header(res, "Cache-Control", "no-store");
    nng_http_res_set_header(res, "X-Content-Type-Options", "nosniff");
    nng_http_res_copy_data(res, body, len);
    return res;
}

static nng_http_res *respond_json(int status, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    nng_http_res *res =
        respond(status, "application/json", text ? text : "{}", text ? strlen(text) : 2);
    free(text);
    return res;
}

static nng_http_res *respond_error(int code, const xd_err *err)
{
    json_t *j = json_object();
    json_object_set_new(j, "code", json_string(xd_code_name(code)));
    json_object_set_new(j, "message", json_string(err->message));
    json_t *details = json_array();
    if (err->field[0]) {
        json_t *d = json_object();
        json_object_set_new(d, "field", json_string(err->field));
        json_object_set_new(d, "reason", json_string("invalid"));
        json_array_append_new(details, d);
    }
    json_object_set_new(j, "details", details);
    nng_http_res *res = respond_json(gw_http_status(code), j);
    if (res && err->retry_after_ms > 0) {
        char secs[24];
        snprintf(secs, sizeof(secs), "%lld", (err->retry_after_ms + 999) / 1000);
        nng_http_res_set_header(res, "Retry-After", secs);
    }
    return res;
}

static nng_http_res *error_text(int code, const char *message)
{
    xd_err err;
    xd_err_clear(&err);
    xd_err_set(&err, (xd_code)code, "%s", message);
    return respond_error(code, &err);
}

/* ---- routes ---- */

static const char *bearer(nng_http_req *req)
{
    const char *h = nng_http_req_get_header(req, "Authorization");
    if (!h)
        return NULL;
    if (strncasecmp(h, "Bearer ", 7) != 0)
        return "";
    h += 7;
    while (*h == ' ')
        h++;
    return h;
}

static void request_id(nng_http_req *req, char out[REQUEST_ID_MAX + 1])
{
    const char *h = nng_http_req_get_header(req, "X-Request-Id");
    size_t n = h ? strlen(h) : 0;
    int ok = n > 0 && n <= REQUEST_ID_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = (h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'z') ||
             (h[i] >= 'A' && h[i] <= 'Z') || h[i] == '-' || h[i] == '_';
    if (ok)
        memcpy(out, h, n + 1);
    else
        xd_random_hex(out, 16);
}

/* "/v1/SendEmail?x" -> "SendEmail"; 0 when the path is not a method name. */
static int method_from_uri(const char *uri, char out[METHOD_NAME_MAX])
{
    const char *p = uri + strlen("/v1/");
    size_t n = strcspn(p, "?#");
    if (n == 0 || n >= METHOD_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
              (p[i] >= '0' && p[i] <= '9')))
            return 0;
    memcpy(out, p, n);
    out[n] = '\0';
    return 1;
}

static nng_http_res *serve_api(gw_http *h, nng_http_req *hreq, const char **method_out, int *code)
{
    char method[METHOD_NAME_MAX];
    *method_out = "other";
    if (!method_from_uri(nng_http_req_get_uri(hreq), method)) {
        *code = XD_UNIMPLEMENTED;
        return error_text(XD_UNIMPLEMENTED, "no such method: use POST /v1/<Method> with a "
                                            "method of the Gateway service");
    }
    const ProtobufCMethodDescriptor *md =
        protobuf_c_service_descriptor_get_method_by_name(&xd__gateway__descriptor, method);
    if (!md) {
        *code = XD_UNIMPLEMENTED;
        char msg[160];
        snprintf(msg, sizeof(msg), "unknown method '%s' (see proto/gateway.proto)", method);
        return error_text(XD_UNIMPLEMENTED, msg);
    }
    *method_out = md->name;
    if (nng_http_req_get_header(hreq, "Transfer-Encoding")) {
        /* NNG does not read chunked bodies: refuse rather than see "{}". */
        *code = XD_INVALID_ARGUMENT;
        return error_text(XD_INVALID_ARGUMENT, "chunked request bodies are not supported: send "
                                               "the body with a Content-Length");
    }
    /* The body is JSON whatever Content-Type says (curl -d sends a form type). */
    char rid[REQUEST_ID_MAX + 1];
    request_id(hreq, rid);
    xd_arena *arena = xd_arena_new();
    if (!arena) {
        *code = XD_INTERNAL;
        return error_text(XD_INTERNAL, "out of memory");
    }
    void *body = NULL;
    size_t len = 0;
    nng_http_req_get_data(hreq, &body, &len);
    xd_err err;
    xd_err_clear(&err);
    ProtobufCMessage *in = NULL;
    nng_http_res *res = NULL;
    xd_code rc = gw_json_parse(body, len, md->input, arena, &in, &err);
    if (rc == XD_OK) {
        gw_req req = {
            .arena = arena,
            .method = md->name,
            .credential = bearer(hreq),
            .request_id = rid,
            .deadline_ms = xd_monotonic_ms() + h->opts.request_timeout_ms,
        };
        ProtobufCMessage *out = xd_arena_message(arena, md->output);
        xd_log_set_request_id(rid);
        rc = gw_api_dispatch(h->ctx, &req, in, out, &err);
        xd_log_set_request_id(NULL);
        if (rc == XD_OK)
            res = respond_json(200, gw_json_from_message(out));
    }
    if (rc != XD_OK)
        res = respond_error(rc, &err);
    if (res)
        nng_http_res_set_header(res, "X-Request-Id", rid);
    *code = rc;
    xd_arena_free(arena);
    return res;
}

static nng_http_res *serve_healthz(gw_http *h, int *code)
{
    xd_arena *arena = xd_arena_new();
    if (!arena)
        return error_text(XD_INTERNAL, "out of memory");
    Xd__SuiteHealthRequest in = XD__SUITE_HEALTH_REQUEST__INIT;
    in.timeout_ms = (uint32_t)h->ctx->health_timeout_ms;
    Xd__SuiteHealthReply *out = xd_arena_message(arena, &xd__suite_health_reply__descriptor);
    gw_req req = {.arena = arena, .method = "SuiteHealth"};
    xd_err err;
    xd_err_clear(&err);
    nng_http_res *res;
    *code = gw_suite_health(h->ctx, &req, &in.base, &out->base, &err);
    if (*code == XD_OK)
        res = respond_json(out->all_up ? 200 : 503, gw_json_from_message(&out->base));
    else
        res = respond_error(*code, &err);
    xd_arena_free(arena);
    return res;
}

static nng_http_res *serve_metrics(gw_http *h)
{
    size_t len = 0, qlen = 0;
    char *text = gw_metrics_render(h->ctx->metrics, &len);
    char *queue = h->ctx->qstats ? gw_qstats_render(h->ctx->qstats, &qlen) : NULL;
    char *all = malloc(len + qlen + 1);
    if (all) {
        memcpy(all, text ? text : "", text ? len : 0);
        memcpy(all + (text ? len : 0), queue ? queue : "", queue ? qlen : 0);
    }
    size_t n = (text ? len : 0) + (queue ? qlen : 0);
    nng_http_res *res = all ? respond(200, "text/plain; version=0.0.4", all, n) : NULL;
    free(all);
    free(queue);
    free(text);
    return res;
}

static int token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

/* The token of "/u/<token>" or "/unsubscribe?...t=<token>..." (the link the
 * sender puts in List-Unsubscribe: optout.base_url + "?t=" + token). It is
 * URL-safe base64 and '.', nothing else. */
static int token_from_uri(const char *uri, char out[TOKEN_MAX + 1])
{
    const char *p;
    if (strncmp(uri, "/u/", 3) == 0) {
        p = uri + 3;
    } else {
        const char *q = strchr(uri, '?');
        p = NULL;
        while (q && !p) {
            q++;
            if (strncmp(q, "t=", 2) == 0)
                p = q + 2;
            else
                q = strchr(q, '&');
        }
        if (!p)
            return 0;
    }
    size_t n = 0;
    while (p[n] && token_char(p[n]))
        n++;
    if (n == 0 || n > TOKEN_MAX || (p[n] && p[n] != '&' && p[n] != '#' && p[n] != '?'))
        return 0;
    memcpy(out, p, n);
    out[n] = '\0';
    return 1;
}

static nng_http_res *serve_unsubscribe(gw_http *h, nng_http_req *hreq, int post, int *code)
{
    char token[TOKEN_MAX + 1];
    if (!token_from_uri(nng_http_req_get_uri(hreq), token)) {
        *code = XD_INVALID_ARGUMENT;
        return respond(400, "text/plain; charset=utf-8",
                       "This unsubscribe link is damaged: copy the whole link from the email.\n",
                       71);
    }
    gw_unsub_result r;
    *code =
        post ? gw_unsubscribe_apply(h->ctx, token, &r) : gw_unsubscribe_check(h->ctx, token, &r);
    int status = *code == XD_OK ? 200 : gw_http_status(*code);
    char *page = post ? gw_unsubscribe_done_page(&r) : gw_unsubscribe_confirm_page(token, &r);
    nng_http_res *res =
        respond(status, "text/html; charset=utf-8", page ? page : "", page ? strlen(page) : 0);
    free(page);
    return res;
}

static void serve(gw_http *h, job *j)
{
    nng_http_req *hreq = nng_aio_get_input(j->aio, 0);
    const char *method = "other";
    int code = XD_OK;
    nng_http_res *res = NULL;
    switch (j->route) {
    case ROUTE_API:
        res = serve_api(h, hreq, &method, &code);
        break;
    case ROUTE_HEALTHZ:
        method = "healthz";
        res = serve_healthz(h, &code);
        break;
    case ROUTE_METRICS:
        method = "metrics";
        res = serve_metrics(h);
        break;
    case ROUTE_UNSUB_GET:
    case ROUTE_UNSUB_POST:
        method = "Unsubscribe";
        res = serve_unsubscribe(h, hreq, j->route == ROUTE_UNSUB_POST, &code);
        break;
    }
    gw_metrics_record(h->ctx->metrics, method, "http", code,
                      (xd_monotonic_ns() - j->started_ns) / 1000);
    if (!res) {
        nng_aio_finish(j->aio, NNG_ENOMEM);
        return;
    }
    nng_aio_set_output(j->aio, 0, res);
    nng_aio_finish(j->aio, 0);
}

static void *worker_main(void *arg)
{
    gw_http *h = arg;
    for (;;) {
        pthread_mutex_lock(&h->lock);
        while (!h->head && !h->stopping)
            pthread_cond_wait(&h->ready, &h->lock);
        job *j = h->head;
        if (!j) {
            pthread_mutex_unlock(&h->lock);
            return NULL;
        }
        h->head = j->next;
        if (!h->head)
            h->tail = NULL;
        pthread_mutex_unlock(&h->lock);
        serve(h, j);
        free(j);
    }
}

/* NNG's callback: queue the request, never block here. */
static void enqueue(nng_aio *aio, route r)
{
    nng_http_handler *hh = nng_aio_get_input(aio, 1);
    gw_http *h = nng_http_handler_get_data(hh);
    job *j = calloc(1, sizeof(*j));
    if (!j) {
        nng_aio_finish(aio, NNG_ENOMEM);
        return;
    }
    j->aio = aio;
    j->route = r;
    j->started_ns = xd_monotonic_ns();
    pthread_mutex_lock(&h->lock);
    if (h->stopping) {
        pthread_mutex_unlock(&h->lock);
        free(j);
        nng_http_res *res = error_text(XD_UNAVAILABLE, "the gateway is shutting down");
        nng_aio_set_output(aio, 0, res);
        nng_aio_finish(aio, res ? 0 : NNG_ENOMEM);
        return;
    }
    if (h->tail)
        h->tail->next = j;
    else
        h->head = j;
    h->tail = j;
    pthread_cond_signal(&h->ready);
    pthread_mutex_unlock(&h->lock);
}

static void cb_api(nng_aio *aio)
{
    enqueue(aio, ROUTE_API);
}
static void cb_healthz(nng_aio *aio)
{
    enqueue(aio, ROUTE_HEALTHZ);
}
static void cb_metrics(nng_aio *aio)
{
    enqueue(aio, ROUTE_METRICS);
}
static void cb_unsub_get(nng_aio *aio)
{
    enqueue(aio, ROUTE_UNSUB_GET);
}
static void cb_unsub_post(nng_aio *aio)
{
    enqueue(aio, ROUTE_UNSUB_POST);
}

static int add_route(gw_http *h, const char *path, const char *method, int tree, int64_t body,
                     void (*cb)(nng_aio *))
{
    nng_http_handler *hh = NULL;
    int rv = nng_http_handler_alloc(&hh, path, cb);
    if (rv == 0)
        rv = nng_http_handler_set_method(hh, method);
    if (rv == 0 && tree)
        rv = nng_http_handler_set_tree(hh);
    if (rv == 0 && body > 0)
        rv = nng_http_handler_collect_body(hh, true, (size_t)body);
    if (rv == 0)
        rv = nng_http_handler_set_data(hh, h, NULL);
    if (rv == 0)
        rv = nng_http_server_add_handler(h->server, hh);
    if (rv != 0 && hh)
        nng_http_handler_free(hh);
    return rv;
}

/* Errors the server produces itself (no route, body too large) in our JSON.
 * NNG 1.5 answers an oversized body with 400 (not 413) before our handler
 * runs, so the 400 page names both causes. */
static void set_error_pages(gw_http *h)
{
    char page[320];
    snprintf(page, sizeof(page),
             "{\"code\":\"INVALID_ARGUMENT\",\"message\":\"bad HTTP request: the body is "
             "larger than %lld bytes (http_max_body; send less data per call) or the request "
             "is malformed\",\"details\":[]}",
             (long long)h->opts.max_body_bytes);
    nng_http_server_set_error_page(h->server, 400, page);
    nng_http_server_set_error_page(h->server, 413, page);
    nng_http_server_set_error_page(h->server, 404,
                                   "{\"code\":\"NOT_FOUND\",\"message\":\"no such path: the API "
                                   "is POST /v1/<Method>\",\"details\":[]}");
    nng_http_server_set_error_page(h->server, 405,
                                   "{\"code\":\"INVALID_ARGUMENT\",\"message\":\"wrong HTTP "
                                   "method: the API takes POST\",\"details\":[]}");
}

static xd_code setup_tls(gw_http *h, xd_err *err)
{
    const gw_http_options *o = &h->opts;
    if (!o->tls_cert_file || !o->tls_cert_file[0] || !o->tls_key_file || !o->tls_key_file[0])
        return xd_err_set(err, XD_INVALID_ARGUMENT,
                          "http_listen %s is https:// but http_tls_cert/http_tls_key are not set",
                          o->url);
    nng_tls_config *cfg = NULL;
    xd_code code = xd_tls_server_config(o->tls_cert_file, o->tls_key_file, &cfg, err);
    if (code != XD_OK)
        return code;
    int rv = nng_http_server_set_tls(h->server, cfg);
    nng_tls_config_free(cfg);
    if (rv != 0)
        return xd_err_set(err, XD_INVALID_ARGUMENT, "HTTPS setup (cert %s, key %s): %s",
                          o->tls_cert_file, o->tls_key_file, nng_strerror(rv));
    return XD_OK;
}

xd_code gw_http_start(gw_ctx *ctx, const gw_http_options *o, gw_http **out, xd_err *err)
{
    int https = strncmp(o->url, "https://", 8) == 0;
    if (!https && strncmp(o->url, "http://", 7) != 0)
        return xd_err_set(err, XD_INVALID_ARGUMENT,
                          "http_listen '%s' must start with http:// or https://", o->url);
    if (!https && !gw_url_is_loopback(o->url) && !o->allow_plaintext_remote)
        return xd_err_set(err, XD_INVALID_ARGUMENT,
                          "http_listen %s is plain HTTP on a non-loopback address: use https:// "
                          "with http_tls_cert/http_tls_key, or set allow_plaintext_remote=true",
                          o->url);
    gw_http *h = calloc(1, sizeof(*h));
    if (!h)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    h->ctx = ctx;
    h->opts = *o;
    if (h->opts.request_timeout_ms <= 0)
        h->opts.request_timeout_ms = 30000;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->ready, NULL);
    nng_url *url = NULL;
    int rv = nng_url_parse(&url, o->url);
    if (rv == 0)
        rv = nng_http_server_hold(&h->server, url);
    if (url)
        nng_url_free(url);
    xd_code rc = XD_OK;
    if (rv != 0)
        rc = xd_err_set(err, XD_INVALID_ARGUMENT, "http_listen '%s': %s", o->url, nng_strerror(rv));
    if (rc == XD_OK && https)
        rc = setup_tls(h, err);
    if (rc == XD_OK) {
        int64_t body = o->max_body_bytes;
        rv = add_route(h, "/v1", "POST", 1, body, cb_api);
        if (rv == 0)
            rv = add_route(h, "/healthz", "GET", 0, 0, cb_healthz);
        if (rv == 0)
            rv = add_route(h, "/metrics", "GET", 0, 0, cb_metrics);
        if (rv == 0)
            rv = add_route(h, "/u", "GET", 1, 0, cb_unsub_get);
        if (rv == 0)
            rv = add_route(h, "/u", "POST", 1, 4096, cb_unsub_post);
        if (rv == 0)
            rv = add_route(h, "/unsubscribe", "GET", 0, 0, cb_unsub_get);
        if (rv == 0)
            rv = add_route(h, "/unsubscribe", "POST", 0, 4096, cb_unsub_post);
        if (rv != 0)
            rc = xd_err_set(err, XD_INTERNAL, "HTTP routes: %s", nng_strerror(rv));
    }
    if (rc == XD_OK) {
        set_error_pages(h);
        h->n_workers = o->workers > 0 ? (o->workers < WORKERS_MAX ? o->workers : WORKERS_MAX) : 4;
        for (int i = 0; i < h->n_workers; i++)
            pthread_create(&h->workers[i], NULL, worker_main, h);
        rv = nng_http_server_start(h->server);
        if (rv != 0)
            rc = xd_err_set(err, XD_UNAVAILABLE, "listen on %s: %s", o->url, nng_strerror(rv));
    }
    if (rc != XD_OK) {
        gw_http_stop(h);
        return rc;
    }
    XD_INFO("HTTP/JSON face on %s", o->url);
    *out = h;
    return XD_OK;
}

void gw_http_stop(gw_http *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->stopping = 1;
    pthread_cond_broadcast(&h->ready);
    pthread_mutex_unlock(&h->lock);
    for (int i = 0; i < h->n_workers; i++)
        pthread_join(h->workers[i], NULL);
    if (h->server) {
        nng_http_server_stop(h->server);
        nng_http_server_release(h->server);
    }
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->ready);
    free(h);
}
