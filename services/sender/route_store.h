/*
 * route_store.h: how each organization's mail leaves (SetRelay): direct MX,
 * a smarthost, the organization's own relay (host, port, TLS policy,
 * credentials) or, in test deployments, the local capture. The relay
 * password is sealed with AES-256-GCM (seal_gcm.h) under the master key,
 * bound to its organization; it is returned only to the delivery code,
 * never in a reply or a log line. Every query is scoped by org_id.
 * Memory: the store owns its connection; snd_relay is a caller-owned value
 * (wipe password after use with snd_relay_wipe).
 * Thread-safety: one mutex around the connection.
 */
#ifndef SND_ROUTE_STORE_H
#define SND_ROUTE_STORE_H

#include <stdint.h>
#include "xd/clock.h"
#include "xd/status.h"

/* RouteKind and RelayTls values (proto/common.proto, proto/sender.proto). */
enum {
    SND_ROUTE_DEFAULT = 0,
    SND_ROUTE_DIRECT_MX = 1,
    SND_ROUTE_SMARTHOST = 2,
    SND_ROUTE_ORG_RELAY = 3,
    SND_ROUTE_TEST_CAPTURE = 4,
};
enum {
    SND_RELAY_TLS_REQUIRED = 1,
    SND_RELAY_TLS_OPPORTUNISTIC = 2,
    SND_RELAY_TLS_IMPLICIT = 3,
};

typedef struct snd_relay {
    int route;
    char host[254];
    uint16_t port;
    int tls; /* SND_RELAY_TLS_*; 0 = REQUIRED */
    char username[256];
    char password[256];
    uint64_t version;
} snd_relay;

typedef struct snd_relay_store snd_relay_store;

/* allow_capture: TEST_CAPTURE may be chosen (test deployments only). */
xd_code snd_relay_store_open(const char *path, const unsigned char master[32],
                             const xd_clock *clock, int allow_capture, snd_relay_store **out,
                             xd_err *err);
void snd_relay_store_close(snd_relay_store *rs);

/* Validates and stores org's route; expected_version != 0 must equal the
 * stored version (FAILED_PRECONDITION otherwise). Writes the new version. */
xd_code snd_relay_set(snd_relay_store *rs, const char *org_id, const snd_relay *in,
                      uint64_t expected_version, uint64_t *version, xd_err *err);

/* org's route with the password unsealed; *found = 0 when none is set. */
xd_code snd_relay_get(snd_relay_store *rs, const char *org_id, snd_relay *out, int *found,
                      xd_err *err);

void snd_relay_wipe(snd_relay *r);

#endif
