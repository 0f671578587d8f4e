/* route_plan.c: routing of one destination group (see route_plan.h). */
#include "route_plan.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "xd/util.h"

enum { FAIL_DNS = 8, FAIL_ROUTING = 13 };

static snd_smtp_tls_policy tls_policy(int relay_tls)
{
    return relay_tls == SND_RELAY_TLS_OPPORTUNISTIC ? SND_SMTP_TLS_OPPORTUNISTIC
           : relay_tls == SND_RELAY_TLS_IMPLICIT    ? SND_SMTP_TLS_IMPLICIT
                                                    : SND_SMTP_TLS_REQUIRED;
}

static void add(snd_route_plan *p, const char *host, const char *name, const char *label,
                uint16_t port, snd_smtp_tls_policy tls, int no_verify, int auth)
{
    if (p->n >= SND_ROUTE_MAX_TARGETS)
        return;
    snd_target *t = &p->t[p->n++];
    memset(t, 0, sizeof *t);
    xd_strlcpy(t->host, host, sizeof t->host);
    xd_strlcpy(t->tls_name, name, sizeof t->tls_name);
    xd_strlcpy(t->label, label, sizeof t->label);
    t->port = port;
    t->tls = tls;
    t->tls_no_verify = no_verify;
    t->use_auth = auth;
}

static void fail(snd_route_plan *p, int permanent, int failure, const char *fmt, const char *a,
                 const char *b)
{
    p->permanent = permanent;
    p->failure = failure;
    snprintf(p->why, sizeof p->why, fmt, a, b);
}

/* Adds every address of host (A first, then AAAA). 0 when some were added,
 * 1 when the host has none (permanently), -1 on a temporary failure. */
static int add_host(const snd_route_config *cfg, snd_route_plan *p, const char *host)
{
    xd_dns_answer a;
    xd_dns_status s = xd_dns_addr_lookup(cfg->dns, host, AF_UNSPEC, &a, NULL);
    int r = s == XD_DNS_OK ? 0 : (s == XD_DNS_SERVFAIL || s == XD_DNS_TIMEOUT) ? -1 : 1;
    snd_smtp_tls_policy tls = SND_SMTP_TLS_OPPORTUNISTIC;
    for (size_t i = 0; s == XD_DNS_OK && i < a.n; i++)
        add(p, a.addr[i].text, host, host, cfg->mx_port, tls, !cfg->mx_tls_verify, 0);
    xd_dns_answer_free(&a);
    return r;
}

/* Shuffles each run of equal preference (RFC 5321 5.1: the sender MUST
 * randomize among MX hosts of the same preference to spread the load). */
static void shuffle_equal_preference(xd_dns_mx *mx, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && mx[j].preference == mx[i].preference)
            j++;
        for (size_t k = j - 1; k > i; k--) { /* Fisher-Yates over [i, j) */
            uint32_t r;
            xd_random_bytes(&r, sizeof r);
            size_t pick = i + r % (k - i + 1);
            xd_dns_mx tmp = mx[k];
            mx[k] = mx[pick];
            mx[pick] = tmp;
        }
        i = j;
    }
}

static xd_code plan_mx(const snd_route_config *cfg, const char *domain, snd_route_plan *p)
{
    if (!cfg->dns) {
        fail(p, 0, FAIL_DNS, "no resolver configured for direct delivery%s%s", "", "");
        return XD_OK;
    }
    xd_dns_answer mx;
    xd_err derr;
    xd_dns_status s = xd_dns_mx_lookup(cfg->dns, domain, &mx, &derr);
    int temp = 0;
    if (s == XD_DNS_OK) {
        shuffle_equal_preference(mx.mx, mx.n);
        for (size_t i = 0; i < mx.n; i++)
            if (add_host(cfg, p, mx.mx[i].host) < 0)
                temp = 1;
    } else if (s == XD_DNS_NODATA) {
        /* No MX: the domain itself is the implicit MX (RFC 5321 5.1). */
        int r = add_host(cfg, p, domain);
        temp = r < 0;
    }
    xd_dns_answer_free(&mx);
    if (p->n)
        return XD_OK;
    if (s == XD_DNS_NULL_MX)
        fail(p, 1, FAIL_DNS, "%s publishes a null MX: it accepts no mail%s", domain, "");
    else if (s == XD_DNS_NXDOMAIN)
        fail(p, 1, FAIL_DNS, "domain %s does not exist%s", domain, "");
    else if (s == XD_DNS_SERVFAIL || s == XD_DNS_TIMEOUT || temp)
        fail(p, 0, FAIL_DNS, "DNS lookup for %s failed: %s", domain, xd_dns_status_name(s));
    else
        fail(p, 1, FAIL_DNS, "%s has no MX and no address records%s", domain, "");
    return XD_OK;
}

xd_code snd_route_plan_make(const snd_route_config *cfg, snd_relay_store *rs, const char *org_id,
                            const char *domain, snd_route_plan *out, xd_err *err)
{
    memset(out, 0, sizeof *out);
    int found = 0;
    if (rs) {
        xd_code rc = snd_relay_get(rs, org_id, &out->relay, &found, err);
        if (rc != XD_OK)
            return rc;
    }
    out->route = found ? out->relay.route : cfg->default_route;
    char label[300];
    switch (out->route) {
    case SND_ROUTE_TEST_CAPTURE:
        snprintf(label, sizeof label, "capture:%s", cfg->capture_host);
        add(out, cfg->capture_host, cfg->capture_host, label, cfg->capture_port, SND_SMTP_TLS_OFF,
            1, 0);
        return XD_OK;
    case SND_ROUTE_SMARTHOST:
        if (!found) {
            if (!cfg->smarthost_host || !cfg->smarthost_host[0]) {
                fail(out, 0, FAIL_ROUTING, "no smarthost configured%s%s", "", "");
                return XD_OK;
            }
            xd_strlcpy(out->relay.host, cfg->smarthost_host, sizeof out->relay.host);
            out->relay.port = cfg->smarthost_port;
            out->relay.tls = cfg->smarthost_tls;
            xd_strlcpy(out->relay.username, cfg->smarthost_user ? cfg->smarthost_user : "",
                       sizeof out->relay.username);
            xd_strlcpy(out->relay.password, cfg->smarthost_password ? cfg->smarthost_password : "",
                       sizeof out->relay.password);
        }
        /* a relay host like the organization's own */
        __attribute__((fallthrough));
    case SND_ROUTE_ORG_RELAY:
        add(out, out->relay.host, out->relay.host, out->relay.host, out->relay.port,
            tls_policy(out->relay.tls), 0, out->relay.username[0] != 0);
        return XD_OK;
    case SND_ROUTE_DIRECT_MX:
        return plan_mx(cfg, domain, out);
    default:
        fail(out, 0, FAIL_ROUTING, "no route configured for organization %s%s", org_id, "");
        return XD_OK;
    }
}

void snd_route_plan_wipe(snd_route_plan *p)
{
    snd_relay_wipe(&p->relay);
}
