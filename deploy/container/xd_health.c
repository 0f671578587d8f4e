/* xd_health.c: xd-health, the container health probe: one Health RPC to one service.
 *
 *   xd-health [--timeout MS] [--ca FILE] [--server-name NAME] URL [SERVICE]
 * Calls the service's built-in Health method at URL (tcp://, tls+tcp://,
 * ipc://) and prints one line: "<service> SERVING version=... uptime_ms=...".
 * Exit codes: 0 the service answered SERVING (and, with SERVICE, it is that
 * service); 1 it did not answer, answered an error, is not serving or is
 * another service; 2 usage error. Needs no API key: Health is open on every
 * service. Used by the image's HEALTHCHECK and by Kubernetes exec probes. */
#include "common.pb-c.h"
#include "xd/arena.h"
#include "xd/log.h"
#include "xd/rpc_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_DOWN  1
#define EXIT_USAGE 2

static int usage(void)
{
    fprintf(stderr, "usage: xd-health [--timeout MS] [--ca FILE] [--server-name NAME] URL "
                    "[SERVICE]\n");
    return EXIT_USAGE;
}

static int parse_timeout_ms(const char *text, long long *out)
{
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (!text[0] || *end || v < 1 || v > 60000)
        return -1;
    *out = v;
    return 0;
}

static int probe(const char *url, const char *want, const xd_client_options *opts,
                 long long timeout_ms)
{
    xd_err err;
    xd_err_clear(&err);
    xd_client *client = NULL;
    if (xd_client_open(url, want ? want : "service", opts, &client, &err) != XD_OK) {
        fprintf(stderr, "xd-health: %s: %s\n", xd_code_name(err.code), err.message);
        return EXIT_DOWN;
    }
    xd_arena *arena = xd_arena_new();
    Xd__HealthRequest rq = XD__HEALTH_REQUEST__INIT;
    Xd__HealthReply *h = NULL;
    xd_call_options call = {.timeout_ms = timeout_ms};
    int rc = EXIT_DOWN;
    if (!arena) {
        fprintf(stderr, "xd-health: out of memory\n");
    } else if (xd_client_call(client, &call, "Health", &rq.base, &xd__health_reply__descriptor,
                              arena, (ProtobufCMessage **)&h, &err) != XD_OK) {
        fprintf(stderr, "xd-health: %s: %s: %s\n", url, xd_code_name(err.code), err.message);
    } else if (h->status != XD__HEALTH_REPLY__STATUS__STATUS_SERVING) {
        fprintf(stderr, "xd-health: %s: %s is not serving (status %d)\n", url, h->service,
                (int)h->status);
    } else if (want && strcmp(want, h->service) != 0) {
        fprintf(stderr, "xd-health: %s answers as '%s', expected '%s'\n", url, h->service, want);
    } else {
        printf("%s SERVING version=%s uptime_ms=%lld in_flight=%lld rss_kib=%lld\n", h->service,
               h->version, (long long)h->uptime_ms, (long long)h->in_flight, (long long)h->rss_kib);
        rc = 0;
    }
    xd_arena_free(arena);
    xd_client_close(client);
    return rc;
}

int main(int argc, char **argv)
{
    long long timeout_ms = 2000;
    xd_client_options opts = {.connect_wait_ms = 1000};
    const char *url = NULL;
    const char *want = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--timeout") == 0 && i + 1 < argc) {
            if (parse_timeout_ms(argv[++i], &timeout_ms) != 0) {
                fprintf(stderr, "xd-health: --timeout wants milliseconds in 1..60000\n");
                return EXIT_USAGE;
            }
        } else if (strcmp(a, "--ca") == 0 && i + 1 < argc) {
            opts.tls_ca_file = argv[++i];
        } else if (strcmp(a, "--server-name") == 0 && i + 1 < argc) {
            opts.tls_server_name = argv[++i];
        } else if (a[0] == '-') {
            return usage();
        } else if (!url) {
            url = a;
        } else if (!want) {
            want = a;
        } else {
            return usage();
        }
    }
    if (!url || strlen(url) > 512 || (want && strlen(want) > 64))
        return usage();
    /* The probe's own log lines (redials) would only add noise to probe output. */
    xd_log_init("xd-health", XD_LOG_ERROR);
    opts.connect_wait_ms = timeout_ms < opts.connect_wait_ms ? timeout_ms : opts.connect_wait_ms;
    opts.default_timeout_ms = timeout_ms;
    return probe(url, want, &opts, timeout_ms);
}
