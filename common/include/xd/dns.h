/*
 * dns.h: synchronous DNS lookups (MX, A/AAAA, TXT) on c-ares, with a small
 * TTL-bounded cache.
 *
 * Every call blocks the calling thread for at most the configured timeout_ms
 * and says how the lookup ended (xd_dns_status): an answer, a null MX
 * (RFC 7505), a name that does not exist, a name without records of that
 * type, a server failure, or no answer in time. Names must already be
 * ASCII (A-labels): convert with xd_address_parse first.
 *
 * Threading: one xd_dns is shared by any number of threads. c-ares 1.18
 * channels are not thread-safe, so each call gets its own short-lived
 * channel, duplicated (ares_dup) under a mutex from a template channel that
 * holds the parsed configuration; /etc/resolv.conf is read once, at
 * xd_dns_new. Calls therefore never wait for each other's network I/O. The
 * cache is a hash table with LRU eviction behind its own mutex.
 *
 * Cache: answers (positive, NXDOMAIN, no-data, null MX) are kept for the
 * smallest TTL of the answer records, capped by cache_max_ttl_ms; negative
 * answers for the SOA's negative TTL (RFC 2308) or negative_ttl_ms when the
 * server sent no SOA. TTL 0 is not cached. Server failures and timeouts
 * are never cached. Time comes from the injected xd_clock.
 *
 * Memory: an xd_dns_answer owns its arrays; release them with
 * xd_dns_answer_free (safe on a zeroed or already freed answer).
 */
#ifndef XD_DNS_H
#define XD_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "xd/clock.h"
#include "xd/status.h"

#define XD_DNS_NAME_MAX    253 /* presentation form, no trailing dot */
#define XD_DNS_ANSWERS_MAX 64  /* records kept per answer; the rest are dropped */

typedef enum xd_dns_status {
    XD_DNS_OK = 0,   /* records found */
    XD_DNS_NULL_MX,  /* MX lookup: the domain accepts no mail (RFC 7505 "0 .") */
    XD_DNS_NXDOMAIN, /* the name does not exist (RCODE 3) */
    XD_DNS_NODATA,   /* the name exists but has no record of this type */
    XD_DNS_SERVFAIL, /* a server answered with an error (SERVFAIL, REFUSED, ...) */
    XD_DNS_TIMEOUT,  /* no server answered in time (or all refused to connect) */
    XD_DNS_BADNAME,  /* the name given is not a valid ASCII domain name */
    XD_DNS_ERROR,    /* local failure: out of memory, malformed reply, ... */
} xd_dns_status;

typedef struct xd_dns_config {
    /* "127.0.0.1:5353,[::1]:53" (c-ares CSV); NULL or "" = /etc/resolv.conf. */
    const char *servers;
    int timeout_ms;           /* whole-call budget; 0 = 5000 */
    int tries;                /* attempts per server; 0 = 2 */
    size_t cache_entries;     /* 0 = no cache */
    int64_t cache_max_ttl_ms; /* 0 = 3600000 (1 h) */
    int64_t negative_ttl_ms;  /* without an SOA; 0 = 60000 */
    const xd_clock *clock;    /* NULL = xd_clock_system() */
} xd_dns_config;

typedef struct xd_dns xd_dns;

typedef struct xd_dns_mx {
    uint16_t preference;
    char host[XD_DNS_NAME_MAX + 1]; /* no trailing dot */
} xd_dns_mx;

typedef struct xd_dns_addr {
    int family;              /* AF_INET or AF_INET6 */
    unsigned char bytes[16]; /* network order; 4 used for AF_INET */
    char text[46];           /* "192.0.2.1" or "2001:db8::1" */
} xd_dns_addr;

typedef struct xd_dns_txt {
    char *data; /* the record's strings joined, NUL-terminated */
    size_t len; /* octets in data (may hold NULs) */
} xd_dns_txt;

typedef struct xd_dns_answer {
    xd_dns_status status;
    int from_cache;
    int64_t ttl_ms; /* how long this answer stays valid from now */
    size_t n;       /* entries in the one array that matches the query */
    xd_dns_mx *mx;
    xd_dns_addr *addr;
    xd_dns_txt *txt;
} xd_dns_answer;

/* Creates a resolver; NULL cfg means all defaults. Returns NULL and sets err
 * (INVALID_ARGUMENT for a bad server list, INTERNAL otherwise) on failure. */
xd_dns *xd_dns_new(const xd_dns_config *cfg, xd_err *err);

/* Frees the resolver; no call may be running on it. Accepts NULL. */
void xd_dns_free(xd_dns *dns);

/* MX records of domain, sorted by preference; equal preferences keep the
 * server's order (the sender randomizes among them, RFC 5321 5.1). A null
 * MX gives XD_DNS_NULL_MX and no hosts. *out is always written; free it. For
 * every status but XD_DNS_OK, err says what happened (err may be NULL). */
xd_dns_status xd_dns_mx_lookup(xd_dns *dns, const char *domain, xd_dns_answer *out, xd_err *err);

/* Addresses of host; family AF_INET (A), AF_INET6 (AAAA) or AF_UNSPEC (both:
 * A records first, then AAAA; OK when either has records, else the more
 * temporary of the two failures). */
xd_dns_status xd_dns_addr_lookup(xd_dns *dns, const char *host, int family, xd_dns_answer *out,
                                 xd_err *err);

/* TXT records of name, each record's strings joined (as SPF and DKIM read them). */
xd_dns_status xd_dns_txt_lookup(xd_dns *dns, const char *name, xd_dns_answer *out, xd_err *err);

void xd_dns_answer_free(xd_dns_answer *answer);

/* Stable sort of n MX records by preference (what xd_dns_mx_lookup uses). */
void xd_dns_mx_sort(xd_dns_mx *mx, size_t n);

/* "NXDOMAIN" for XD_DNS_NXDOMAIN; "UNKNOWN" when out of range. */
const char *xd_dns_status_name(xd_dns_status status);

#endif
