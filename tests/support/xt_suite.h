/*
 * xt_suite.h: the five xdmail services as real processes (build/services/
 * <svc>/xd-<svc>) on ipc:// sockets in a temp dir, configured the way
 * ./deploy/up does it (env XD_<SVC>_<KEY>, a shared opt-out secret, the
 * gateway's HTTPS face with a test certificate, the first operator key made
 * by `xdctl bootstrap`), and the two ways a module talks to it: the
 * gateway's NNG socket (protobuf) and its HTTP/JSON face (curl).
 * Memory: the xt_suite is caller-owned; replies of xt_gw_call live in the
 * arena given; json_t replies belong to the caller (json_decref).
 * Thread-safety: xt_gw_call may run from many threads at once (one xd_client
 * shared); starting, stopping and xt_http belong to one thread.
 */
#ifndef XT_SUITE_H
#define XT_SUITE_H

#include <jansson.h>

#include "xd/rpc_client.h"
#include "xt_proc.h"

enum { XT_RATELIMIT, XT_VERIFY, XT_SENDER, XT_TICKET, XT_GATEWAY, XT_N_SERVICES };

extern const char *const xt_service_names[XT_N_SERVICES];

typedef struct xt_suite {
    char dir[256];     /* temp dir: <svc>.sock, <svc>/ data, <svc>.log, certs/ */
    char bin_dir[512]; /* the build dir (XD_BINARY_DIR) */
    char src_dir[512]; /* the source dir (XD_SOURCE_DIR) */
    char url[XT_N_SERVICES][300];
    char data[XT_N_SERVICES][300];
    char certs[300];    /* ca.pem, server.pem ... (xt_make_certs) */
    char http_base[64]; /* "https://127.0.0.1:<port>" */
    char optout_secret[80];
    char operator_key[200];
    /* Extra "KEY=VALUE" entries per service (NULL-ended; the test owns them). */
    const char *const *env[XT_N_SERVICES];
    xt_proc proc[XT_N_SERVICES];
    xd_client *gw; /* NNG client to the gateway */
    /* One Health client per service, kept for the suite's life (it redials
     * after a restart; opening and closing one per probe leaks in libnng). */
    xd_client *health[XT_N_SERVICES];
} xt_suite;

/* Creates the temp dir, certificates and the operator key, and starts every
 * service (s->env[i] may be NULL for defaults) in dependency order, each
 * waited for by Health (bounded). 0 or -1 (with the failing service's log
 * printed). Call after filling s->env. = xt_suite_prepare + xt_suite_start_all. */
int xt_suite_start(xt_suite *s, const char *name);
/* The first half: temp dir, paths, certificates, operator key; nothing runs. */
int xt_suite_prepare(xt_suite *s, const char *name);
/* The second half: starts the five services and opens the gateway client. */
int xt_suite_start_all(xt_suite *s);

/* (Re)starts one service and waits (bounded, 30 s) until its Health answers. */
int xt_suite_start_one(xt_suite *s, int svc);
/* SIGTERM (bounded); the exit status (0 = clean). */
int xt_suite_stop_one(xt_suite *s, int svc);
void xt_suite_kill9(xt_suite *s, int svc);
/* Health of one service over its own socket within timeout_ms: 1 = serving. */
int xt_suite_healthy(xt_suite *s, int svc, int64_t timeout_ms);
/* Stops every service (gateway first); returns the number that did not exit
 * 0; removes the temp dir unless XD_KEEP is set. */
int xt_suite_stop(xt_suite *s);

/* A call through the gateway's NNG socket as the holder of key. */
xd_code xt_gw_call(xt_suite *s, const char *key, const char *method, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *reply_desc, xd_arena *arena,
                   ProtobufCMessage **reply_out, xd_err *err);

typedef struct xt_http_reply {
    int status;           /* HTTP status; 0 = no connection */
    json_t *json;         /* parsed body, NULL when not JSON */
    char *body;           /* raw body (malloc'd) */
    char retry_after[32]; /* Retry-After header value, "" when absent */
} xt_http_reply;

/* curl against the gateway's HTTPS face (its CA trusted): body NULL = GET;
 * key NULL = no Authorization. */
xt_http_reply xt_http(xt_suite *s, const char *path, const char *key, const char *body);
void xt_http_free(xt_http_reply *r);
/* POST /v1/<method> with a JSON body built from fmt; the reply. */
xt_http_reply xt_api(xt_suite *s, const char *key, const char *method, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A string member of a JSON object ("" when absent). */
const char *xt_str(const json_t *j, const char *key);

/* As the operator, replaces ratelimit's policy with one that does not limit
 * a load test: 100 recipients per message, 10 million per organization and
 * hour, not scaled by reputation (a new organization starts in warm-up at
 * 5% of the default 2,000 an hour). 0 or -1. */
int xt_set_open_policy(xt_suite *s);

/* Creates an organization (operator) and returns its id in org_out. */
int xt_create_org(xt_suite *s, const char *name, char *org_out, size_t cap);
/* Creates a key of role ("ROLE_MODULE", ...) in org; returns it (malloc'd). */
char *xt_create_key(xt_suite *s, const char *org, const char *role);

#endif
