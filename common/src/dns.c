/*
 * dns.c: synchronous c-ares lookups with a per-call channel and a cache
 * (see dns.h for the threading model).
 */
#include "xd/dns.h"

#include <arpa/inet.h>
#include <ares.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns_cache.h"
#include "dns_parse.h"

struct xd_dns {
    pthread_mutex_t mu; /* guards tmpl: ares_dup reads it */
    ares_channel tmpl;
    int timeout_ms;
    int64_t max_ttl_ms, neg_ttl_ms;
    const xd_clock *clock;
    dns_cache *cache;
};

static const char *const status_names[] = {"OK",       "NULL_MX", "NXDOMAIN", "NODATA",
                                           "SERVFAIL", "TIMEOUT", "BADNAME",  "ERROR"};

const char *xd_dns_status_name(xd_dns_status status)
{
    if ((unsigned)status >= sizeof(status_names) / sizeof(status_names[0]))
        return "UNKNOWN";
    return status_names[status];
}

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_status = ARES_SUCCESS;

static void lib_init(void)
{
    lib_status = ares_library_init(ARES_LIB_INIT_ALL);
}

xd_dns *xd_dns_new(const xd_dns_config *cfg, xd_err *err)
{
    xd_dns_config defaults = {0};
    if (!cfg)
        cfg = &defaults;
    pthread_once(&lib_once, lib_init);
    if (lib_status != ARES_SUCCESS) {
        xd_err_set(err, XD_INTERNAL, "dns: c-ares init failed: %s", ares_strerror(lib_status));
        return NULL;
    }
    if (cfg->timeout_ms < 0 || cfg->tries < 0 || cfg->cache_max_ttl_ms < 0 ||
        cfg->negative_ttl_ms < 0) {
        xd_err_field(err, XD_INVALID_ARGUMENT, "dns", "dns: timeouts, tries and TTLs must be >= 0");
        return NULL;
    }
    xd_dns *dns = calloc(1, sizeof(*dns));
    if (!dns) {
        xd_err_set(err, XD_INTERNAL, "dns: out of memory");
        return NULL;
    }
    dns->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 5000;
    dns->max_ttl_ms = cfg->cache_max_ttl_ms ? cfg->cache_max_ttl_ms : 3600000;
    dns->neg_ttl_ms = cfg->negative_ttl_ms ? cfg->negative_ttl_ms : 60000;
    dns->clock = cfg->clock ? cfg->clock : xd_clock_system();
    int tries = cfg->tries ? cfg->tries : 2;
    /* c-ares doubles the per-try timeout each round; the call's own deadline
     * (dns->timeout_ms) is enforced in wait_for_answer regardless. */
    int per_try_ms = dns->timeout_ms / ((1 << (tries < 8 ? tries : 8)) - 1);
    /* NOCHECKRESP: hand SERVFAIL/REFUSED answers to us instead of retrying
     * them into ARES_ECONNREFUSED, which would look like "no server". The
     * price: a server-error answer is final (failover still covers servers
     * that time out or are unreachable). */
    struct ares_options opts = {.timeout = per_try_ms > 20 ? per_try_ms : 20,
                                .tries = tries,
                                .flags = ARES_FLAG_NOCHECKRESP};
    int rc =
        ares_init_options(&dns->tmpl, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS);
    if (rc != ARES_SUCCESS) {
        xd_err_set(err, XD_INTERNAL, "dns: resolver init failed: %s", ares_strerror(rc));
        free(dns);
        return NULL;
    }
    if (cfg->servers && cfg->servers[0]) {
        rc = ares_set_servers_ports_csv(dns->tmpl, cfg->servers);
        if (rc != ARES_SUCCESS) {
            xd_err_field(err, XD_INVALID_ARGUMENT, "servers",
                         "dns: bad server list (want \"127.0.0.1:5353,[::1]:53\"): %s",
                         ares_strerror(rc));
            ares_destroy(dns->tmpl);
            free(dns);
            return NULL;
        }
    }
    if (cfg->cache_entries) {
        dns->cache = dns_cache_new(cfg->cache_entries, dns->clock);
        if (!dns->cache) {
            xd_err_set(err, XD_INTERNAL, "dns: out of memory");
            ares_destroy(dns->tmpl);
            free(dns);
            return NULL;
        }
    }
    pthread_mutex_init(&dns->mu, NULL);
    return dns;
}

void xd_dns_free(xd_dns *dns)
{
    if (!dns)
        return;
    ares_destroy(dns->tmpl);
    dns_cache_free(dns->cache);
    pthread_mutex_destroy(&dns->mu);
    free(dns);
}

void xd_dns_answer_free(xd_dns_answer *answer)
{
    if (!answer)
        return;
    if (answer->txt) {
        for (size_t i = 0; i < answer->n; i++)
            free(answer->txt[i].data);
    }
    free(answer->mx);
    free(answer->addr);
    free(answer->txt);
    answer->mx = NULL;
    answer->addr = NULL;
    answer->txt = NULL;
    answer->n = 0;
}

void xd_dns_mx_sort(xd_dns_mx *mx, size_t n)
{
    /* Insertion sort: stable, and n is at most XD_DNS_ANSWERS_MAX. */
    for (size_t i = 1; i < n; i++) {
        xd_dns_mx key = mx[i];
        size_t j = i;
        while (j > 0 && mx[j - 1].preference > key.preference) {
            mx[j] = mx[j - 1];
            j--;
        }
        mx[j] = key;
    }
}

/* Lower-cases name into norm without a trailing dot; 0 when it is not a
 * plausible ASCII domain name (LDH plus "_" for _dmarc and _domainkey). */
static int normalize_name(const char *name, char norm[XD_DNS_NAME_MAX + 1])
{
    size_t n = name ? strnlen(name, XD_DNS_NAME_MAX + 2) : 0;
    if (n > 0 && name[n - 1] == '.')
        n--;
    if (n == 0 || n > XD_DNS_NAME_MAX)
        return 0;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_') {
            label++;
        } else if (ch >= 'A' && ch <= 'Z') {
            ch = (unsigned char)(ch - 'A' + 'a');
            label++;
        } else {
            return 0;
        }
        if (label > 63)
            return 0;
        norm[i] = (char)ch;
    }
    if (label == 0)
        return 0;
    norm[n] = '\0';
    return 1;
}

typedef struct raw_reply {
    int done;
    int status; /* ARES_* */
    unsigned char *buf;
    int len;
} raw_reply;

static void on_reply(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    raw_reply *r = arg;
    r->done = 1;
    r->status = status;
    if (abuf && alen > 0) {
        r->buf = malloc((size_t)alen);
        if (r->buf) {
            memcpy(r->buf, abuf, (size_t)alen);
            r->len = alen;
        }
    }
}

/* Drives the channel until the reply arrives or deadline_ms passes; on the
 * deadline the query is cancelled (the callback then sees ARES_ECANCELLED). */
static void wait_for_answer(ares_channel ch, raw_reply *r, int64_t deadline_ms)
{
    while (!r->done) {
        int64_t left = deadline_ms - xd_monotonic_ms();
        if (left <= 0) {
            ares_cancel(ch);
            break;
        }
        ares_socket_t socks[ARES_GETSOCK_MAXNUM];
        int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
        struct pollfd pfd[ARES_GETSOCK_MAXNUM];
        nfds_t n = 0;
        for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
            /* ARES_GETSOCK_WRITABLE shifts 1 into the sign bit: test bits unsigned. */
            unsigned readable = ((unsigned)bits >> i) & 1u;
            unsigned writable = ((unsigned)bits >> (i + ARES_GETSOCK_MAXNUM)) & 1u;
            short ev = (short)((readable ? POLLIN : 0) | (writable ? POLLOUT : 0));
            if (ev)
                pfd[n++] = (struct pollfd){.fd = socks[i], .events = ev};
        }
        struct timeval max_tv = {.tv_sec = left / 1000, .tv_usec = (left % 1000) * 1000};
        struct timeval tv, *tvp = ares_timeout(ch, &max_tv, &tv);
        int wait_ms = (int)(tvp->tv_sec * 1000 + (tvp->tv_usec + 999) / 1000);
        int rc = poll(pfd, n, wait_ms);
        if (rc < 0 && errno != EINTR) {
            ares_cancel(ch);
            break;
        }
        int handled = 0;
        for (nfds_t i = 0; rc > 0 && i < n; i++) {
            if (!pfd[i].revents)
                continue;
            ares_socket_t rd =
                pfd[i].revents & (POLLIN | POLLERR | POLLHUP) ? pfd[i].fd : ARES_SOCKET_BAD;
            ares_socket_t wr = pfd[i].revents & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD;
            ares_process_fd(ch, rd, wr);
            handled = 1;
        }
        if (!handled)
            ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* retries, timeouts */
    }
}

/* Sends one query on a fresh channel and waits for it. */
static void query_raw(xd_dns *dns, const char *name, int type, raw_reply *r)
{
    memset(r, 0, sizeof(*r));
    ares_channel ch;
    pthread_mutex_lock(&dns->mu);
    int rc = ares_dup(&ch, dns->tmpl);
    pthread_mutex_unlock(&dns->mu);
    if (rc != ARES_SUCCESS) {
        r->done = 1;
        r->status = rc;
        return;
    }
    int64_t deadline = xd_monotonic_ms() + dns->timeout_ms;
    ares_query(ch, name, 1 /* IN */, type, on_reply, r);
    wait_for_answer(ch, r, deadline);
    ares_destroy(ch);
    if (!r->done) { /* cannot happen after ares_cancel, but never report success */
        r->done = 1;
        r->status = ARES_ETIMEOUT;
    }
}

static xd_dns_status map_ares(int status)
{
    switch (status) {
    case ARES_SUCCESS:
        return XD_DNS_OK;
    case ARES_ENODATA:
        return XD_DNS_NODATA;
    case ARES_ENOTFOUND:
        return XD_DNS_NXDOMAIN;
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
    case ARES_ENOTIMP:
    case ARES_EFORMERR:
    case ARES_EBADRESP:
        return XD_DNS_SERVFAIL;
    case ARES_ETIMEOUT:
    case ARES_ECONNREFUSED:
    case ARES_ECANCELLED:
        return XD_DNS_TIMEOUT;
    case ARES_EBADNAME:
        return XD_DNS_BADNAME;
    default:
        return XD_DNS_ERROR;
    }
}

static xd_code status_code(xd_dns_status s)
{
    switch (s) {
    case XD_DNS_OK:
        return XD_OK;
    case XD_DNS_NULL_MX:
        return XD_FAILED_PRECONDITION;
    case XD_DNS_NXDOMAIN:
    case XD_DNS_NODATA:
        return XD_NOT_FOUND;
    case XD_DNS_SERVFAIL:
        return XD_UNAVAILABLE;
    case XD_DNS_TIMEOUT:
        return XD_DEADLINE_EXCEEDED;
    case XD_DNS_BADNAME:
        return XD_INVALID_ARGUMENT;
    default:
        return XD_INTERNAL;
    }
}

static const char *type_name(int type)
{
    switch (type) {
    case DNS_T_MX:
        return "MX";
    case DNS_T_A:
        return "A";
    case DNS_T_AAAA:
        return "AAAA";
    default:
        return "TXT";
    }
}

static void explain(xd_err *err, xd_dns_status s, int type, const char *name, int ares_status)
{
    if (s == XD_DNS_OK) {
        xd_err_clear(err);
        return;
    }
    static const char *const why[] = {
        [XD_DNS_OK] = "ok",
        [XD_DNS_NULL_MX] = "the domain publishes a null MX (RFC 7505): it accepts no mail",
        [XD_DNS_NXDOMAIN] = "the name does not exist (NXDOMAIN)",
        [XD_DNS_NODATA] = "the name exists but has no record of this type",
        [XD_DNS_SERVFAIL] = "the DNS server answered with an error; retry later",
        [XD_DNS_TIMEOUT] = "no DNS server answered in time; retry later",
        [XD_DNS_BADNAME] = "not a valid ASCII domain name (convert IDNs to A-labels first)",
        [XD_DNS_ERROR] = "local resolver failure",
    };
    xd_err_field(err, status_code(s), "domain", "dns: %s %.253s: %s (%s)", type_name(type),
                 name ? name : "(null)", why[s],
                 ares_status < 0 ? "cached answer" : ares_strerror(ares_status));
}

/* One query type for one name: cache, then network, then cache the result. */
static xd_dns_status lookup(xd_dns *dns, const char *name, int type, xd_dns_answer *out,
                            xd_err *err)
{
    memset(out, 0, sizeof(*out));
    char norm[XD_DNS_NAME_MAX + 1];
    if (!normalize_name(name, norm)) {
        out->status = XD_DNS_BADNAME;
        explain(err, out->status, type, name, ARES_EBADNAME);
        return out->status;
    }
    if (dns->cache && dns_cache_get(dns->cache, type, norm, out)) {
        explain(err, out->status, type, norm, -1);
        return out->status;
    }
    raw_reply r;
    query_raw(dns, norm, type, &r);
    int rc = r.status;
    if (rc == ARES_SUCCESS) {
        if (type == DNS_T_MX)
            rc = dns_parse_mx(r.buf, r.len, out);
        else if (type == DNS_T_TXT)
            rc = dns_parse_txt(r.buf, r.len, out);
        else
            rc = dns_parse_addr(r.buf, r.len, type, out);
    }
    if (rc != ARES_SUCCESS)
        xd_dns_answer_free(out);
    if (out->status != XD_DNS_NULL_MX)
        out->status = map_ares(rc);
    int64_t ans_s, neg_s;
    dns_reply_ttls(r.buf, r.len, &ans_s, &neg_s);
    free(r.buf);
    int64_t ttl_ms = 0;
    if (out->status == XD_DNS_OK || out->status == XD_DNS_NULL_MX)
        ttl_ms = ans_s > 0 ? ans_s * 1000 : 0;
    else if (out->status == XD_DNS_NXDOMAIN || out->status == XD_DNS_NODATA)
        ttl_ms = neg_s >= 0 ? neg_s * 1000 : dns->neg_ttl_ms;
    if (ttl_ms > dns->max_ttl_ms)
        ttl_ms = dns->max_ttl_ms;
    out->ttl_ms = ttl_ms;
    if (dns->cache && ttl_ms > 0)
        dns_cache_put(dns->cache, type, norm, out, ttl_ms);
    explain(err, out->status, type, norm, rc);
    return out->status;
}

xd_dns_status xd_dns_mx_lookup(xd_dns *dns, const char *domain, xd_dns_answer *out, xd_err *err)
{
    return lookup(dns, domain, DNS_T_MX, out, err);
}

xd_dns_status xd_dns_txt_lookup(xd_dns *dns, const char *name, xd_dns_answer *out, xd_err *err)
{
    return lookup(dns, name, DNS_T_TXT, out, err);
}

/* Lower is more temporary: a retry may change it. */
static int permanence(xd_dns_status s)
{
    switch (s) {
    case XD_DNS_TIMEOUT:
        return 0;
    case XD_DNS_SERVFAIL:
        return 1;
    case XD_DNS_ERROR:
        return 2;
    case XD_DNS_NODATA:
        return 3;
    default:
        return 4;
    }
}

xd_dns_status xd_dns_addr_lookup(xd_dns *dns, const char *host, int family, xd_dns_answer *out,
                                 xd_err *err)
{
    if (family == AF_INET || family == AF_INET6)
        return lookup(dns, host, family == AF_INET ? DNS_T_A : DNS_T_AAAA, out, err);
    if (family != AF_UNSPEC) {
        memset(out, 0, sizeof(*out));
        out->status = XD_DNS_ERROR;
        xd_err_field(err, XD_INVALID_ARGUMENT, "family",
                     "dns: family must be AF_INET, AF_INET6 or AF_UNSPEC");
        return out->status;
    }
    xd_dns_answer v4, v6;
    xd_err err6;
    lookup(dns, host, DNS_T_A, &v4, err);
    if (v4.status == XD_DNS_NXDOMAIN || v4.status == XD_DNS_BADNAME) {
        *out = v4; /* the name does not exist for AAAA either */
        return out->status;
    }
    lookup(dns, host, DNS_T_AAAA, &v6, &err6);
    if (v4.status != XD_DNS_OK && v6.status != XD_DNS_OK) {
        int keep6 = permanence(v6.status) < permanence(v4.status);
        *out = keep6 ? v6 : v4;
        if (keep6 && err)
            *err = err6;
        return out->status;
    }
    memset(out, 0, sizeof(*out));
    out->status = XD_DNS_OK;
    out->from_cache =
        (v4.status != XD_DNS_OK || v4.from_cache) && (v6.status != XD_DNS_OK || v6.from_cache);
    out->addr = calloc(v4.n + v6.n, sizeof(*out->addr));
    if (!out->addr) {
        out->status = XD_DNS_ERROR;
        xd_err_set(err, XD_INTERNAL, "dns: out of memory");
    } else {
        if (v4.status == XD_DNS_OK)
            memcpy(out->addr, v4.addr, v4.n * sizeof(*out->addr));
        if (v6.status == XD_DNS_OK)
            memcpy(out->addr + (v4.status == XD_DNS_OK ? v4.n : 0), v6.addr,
                   v6.n * sizeof(*out->addr));
        out->n = (v4.status == XD_DNS_OK ? v4.n : 0) + (v6.status == XD_DNS_OK ? v6.n : 0);
        out->ttl_ms = v4.ttl_ms < v6.ttl_ms ? v4.ttl_ms : v6.ttl_ms;
        xd_err_clear(err);
    }
    xd_dns_answer_free(&v4);
    xd_dns_answer_free(&v6);
    return out->status;
}
