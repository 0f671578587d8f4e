/*
 * route_plan.h: where one (organization, recipient domain) group goes: the
 * ordered list of SMTP targets to try, from the organization's route
 * (route_store.h) or the configured default. DIRECT_MX looks up MX records
 * with c-ares (xd/dns.h) in preference order (hosts of equal preference
 * in random order, RFC 5321 5.1), each host's A then AAAA
 * addresses, and falls back to the domain's own A/AAAA when it has no MX
 * (RFC 5321 5.1). A null MX (RFC 7505) or a domain that does not exist is a
 * permanent failure; a resolver failure or timeout a temporary one.
 * Memory: the plan is a caller-owned value; its relay holds the unsealed
 * password (snd_route_plan_wipe when done). Thread-safety: reentrant; the
 * config and the resolver are shared read-only.
 */
#ifndef SND_ROUTE_PLAN_H
#define SND_ROUTE_PLAN_H

#include <stdint.h>
#include "route_store.h"
#include "smtp_client.h"
#include "xd/dns.h"

#define SND_ROUTE_MAX_TARGETS 16

typedef struct snd_route_config {
    int default_route;        /* SND_ROUTE_*, for organizations without SetRelay */
    const char *capture_host; /* TEST_CAPTURE sink */
    uint16_t capture_port;
    const char *smarthost_host; /* SMARTHOST */
    uint16_t smarthost_port;
    int smarthost_tls; /* SND_RELAY_TLS_* */
    const char *smarthost_user, *smarthost_password;
    uint16_t mx_port;  /* DIRECT_MX: 25 (tests use another) */
    int mx_tls_verify; /* verify MX certificates (off: opportunistic, like most MTAs) */
    xd_dns *dns;
} snd_route_config;

typedef struct snd_target {
    char host[256];     /* what to connect to: an IP literal or a name */
    char tls_name[256]; /* name for SNI and verification */
    char label[256];    /* remote_host as recorded ("mx1.example.net") */
    uint16_t port;
    snd_smtp_tls_policy tls;
    int tls_no_verify;
    int use_auth; /* username/password of the plan's relay */
} snd_target;

typedef struct snd_route_plan {
    int route; /* SND_ROUTE_* in effect */
    snd_target t[SND_ROUTE_MAX_TARGETS];
    size_t n;
    int permanent;   /* no target, and never will be (null MX, NXDOMAIN) */
    int failure;     /* FailureCategory when n == 0 */
    char why[256];   /* when n == 0 */
    snd_relay relay; /* credentials for use_auth targets */
} snd_route_plan;

/* Builds the plan; XD_OK even when n == 0 (then permanent/why say why). */
xd_code snd_route_plan_make(const snd_route_config *cfg, snd_relay_store *rs, const char *org_id,
                            const char *domain, snd_route_plan *out, xd_err *err);
void snd_route_plan_wipe(snd_route_plan *p);

#endif
