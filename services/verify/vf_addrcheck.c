/* vf_addrcheck.c: see vf_addrcheck.h. */
#include "vf_addrcheck.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "xd/address.h"

#define DAY_MS 86400000LL

static const char *const providers[] = {
    "gmail.com",   "googlemail.com",  "yahoo.com",      "hotmail.com", "outlook.com",
    "live.com",    "icloud.com",      "me.com",         "aol.com",     "msn.com",
    "yahoo.co.uk", "hotmail.co.uk",   "protonmail.com", "proton.me",   "gmx.com",
    "gmx.de",      "web.de",          "mail.com",       "yandex.ru",   "comcast.net",
    "verizon.net", "att.net",         "btinternet.com", "orange.fr",   "free.fr",
    "outlook.de",  "hotmail.fr",      "libero.it",      "ymail.com",   "rocketmail.com",
    "bigpond.com", "optusnet.com.au", "shaw.ca",        "rogers.com",  "sky.com",
    "xtra.co.nz",
};

static const char *const roles[] = {
    "abuse",     "admin",    "administrator", "billing", "careers",    "contact",  "enquiries",
    "help",      "hello",    "hostmaster",    "hr",      "info",       "jobs",     "mail",
    "marketing", "no-reply", "noreply",       "office",  "postmaster", "privacy",  "root",
    "sales",     "security", "support",       "team",    "webmaster",  "accounts", "admissions",
};

/* Optimal string alignment distance, bounded: returns > limit early. */
static int edit_distance(const char *a, const char *b, int limit)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 64 || lb > 64 || (la > lb ? la - lb : lb - la) > limit)
        return limit + 1;
    int d[65][65];
    for (int i = 0; i <= la; i++)
        d[i][0] = i;
    for (int j = 0; j <= lb; j++)
        d[0][j] = j;
    for (int i = 1; i <= la; i++) {
        int row_min = limit + 1;
        for (int j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1; /* transposition: gmial -> gmail */
            d[i][j] = v;
            if (v < row_min)
                row_min = v;
        }
        if (row_min > limit)
            return limit + 1;
    }
    return d[la][lb];
}

const char *vf_typo_domain(const char *domain)
{
    char lower[256];
    size_t n = 0;
    for (; domain[n] && n + 1 < sizeof lower; n++)
        lower[n] = (char)tolower((unsigned char)domain[n]);
    lower[n] = '\0';
    const char *best = NULL;
    int best_d = 3;
    for (size_t i = 0; i < sizeof providers / sizeof providers[0]; i++) {
        if (strcmp(lower, providers[i]) == 0)
            return NULL; /* exactly a provider: no typo */
        /* Short names tolerate one edit, longer ones two. */
        int limit = strlen(providers[i]) >= 10 ? 2 : 1;
        int dist = edit_distance(lower, providers[i], limit);
        if (dist <= limit && dist < best_d) {
            best_d = dist;
            best = providers[i];
        }
    }
    return best;
}

int vf_is_role_account(const char *local)
{
    char lower[80];
    size_t n = 0;
    for (; local[n] && local[n] != '+' && n + 1 < sizeof lower; n++)
        lower[n] = (char)tolower((unsigned char)local[n]);
    lower[n] = '\0';
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp(lower, roles[i]) == 0)
            return 1;
    return 0;
}

static const char *diag_words(xd_addr_diag d)
{
    switch (d) {
    case XD_ADDR_EMPTY:
        return "the address is empty";
    case XD_ADDR_UNSAFE_CHAR:
        return "the address contains CR, LF or NUL";
    case XD_ADDR_TOO_LONG:
        return "the address is longer than 254 characters";
    case XD_ADDR_NO_AT:
        return "there is no '@' between the name and the domain";
    case XD_ADDR_LOCAL_EMPTY:
        return "there is nothing before the '@'";
    case XD_ADDR_LOCAL_TOO_LONG:
        return "the part before '@' is longer than 64 characters";
    case XD_ADDR_LOCAL_DOT:
        return "the part before '@' starts or ends with a dot or has two dots in a row";
    case XD_ADDR_LOCAL_CHAR:
        return "the part before '@' contains a character that is not allowed (space, comma, "
               "brackets, ...)";
    case XD_ADDR_QUOTED_CHAR:
        return "the quoted part contains a character that is not allowed";
    case XD_ADDR_QUOTED_UNCLOSED:
        return "a quote is opened but not closed";
    case XD_ADDR_BAD_UTF8:
        return "the address is not valid UTF-8";
    case XD_ADDR_NEEDS_SMTPUTF8:
        return "the part before '@' has non-ASCII characters";
    case XD_ADDR_DOMAIN_EMPTY:
        return "there is nothing after the '@'";
    case XD_ADDR_DOMAIN_TOO_LONG:
        return "the domain is longer than 255 characters";
    case XD_ADDR_LABEL_EMPTY:
        return "the domain starts or ends with a dot or has two dots in a row";
    case XD_ADDR_LABEL_TOO_LONG:
        return "a part of the domain is longer than 63 characters";
    case XD_ADDR_LABEL_HYPHEN:
        return "a part of the domain starts or ends with '-'";
    case XD_ADDR_LABEL_CHAR:
        return "the domain contains a character that is not allowed";
    case XD_ADDR_IDN:
        return "the international domain name is not valid (IDNA)";
    case XD_ADDR_LITERAL_UNCLOSED:
        return "an address literal '[' is not closed";
    case XD_ADDR_LITERAL_IPV4:
        return "the IPv4 address literal is malformed";
    case XD_ADDR_LITERAL_IPV6:
        return "the IPv6 address literal is malformed";
    case XD_ADDR_LITERAL_TAG:
        return "the address literal has an unknown tag";
    default:
        return "the address is not valid";
    }
}

static void check_dns_of(xd_dns *dns, const char *domain, vf_addr_result *out)
{
    xd_dns_answer a;
    memset(&a, 0, sizeof a);
    xd_dns_status st = xd_dns_mx_lookup(dns, domain, &a, NULL);
    if (st == XD_DNS_OK) {
        out->domain_status = XD__DOMAIN_STATUS__DOMAIN_STATUS_MX;
        for (size_t i = 0; i < a.n && out->n_mx < VF_ADDR_MAX_MX; i++)
            snprintf(out->mx[out->n_mx++], sizeof out->mx[0], "%s", a.mx[i].host);
    } else if (st == XD_DNS_NULL_MX) {
        out->domain_status = XD__DOMAIN_STATUS__DOMAIN_STATUS_NULL_MX;
    } else if (st == XD_DNS_NXDOMAIN) {
        out->domain_status = XD__DOMAIN_STATUS__DOMAIN_STATUS_NXDOMAIN;
    } else if (st == XD_DNS_NODATA) {
        /* RFC 5321 5.1: no MX means the domain's own address is the host. */
        xd_dns_answer h;
        memset(&h, 0, sizeof h);
        xd_dns_status hs = xd_dns_addr_lookup(dns, domain, AF_UNSPEC, &h, NULL);
        if (hs == XD_DNS_OK) {
            out->domain_status = XD__DOMAIN_STATUS__DOMAIN_STATUS_A_FALLBACK;
            snprintf(out->mx[out->n_mx++], sizeof out->mx[0], "%s", domain);
        } else if (hs == XD_DNS_NODATA || hs == XD_DNS_NXDOMAIN) {
            out->domain_status = XD__DOMAIN_STATUS__DOMAIN_STATUS_NO_ADDRESS;
        } else {
            out->domain_status = XD__DOMAIN_STATUS__DOMAIN_STATUS_TEMP_FAILURE;
        }
        xd_dns_answer_free(&h);
    } else {
        out->domain_status = XD__DOMAIN_STATUS__DOMAIN_STATUS_TEMP_FAILURE;
    }
    xd_dns_answer_free(&a);
}

static void keep_sup(void *ud, const vf_suppression *s)
{
    vf_addr_result *out = ud;
    snprintf(out->sup_scope, sizeof out->sup_scope, "%s", s->scope);
    snprintf(out->sup_source, sizeof out->sup_source, "%s", s->source);
    snprintf(out->sup_detail, sizeof out->sup_detail, "%s", s->detail);
    out->sup_reason = s->reason;
    out->sup_created_ms = s->created_ms;
    out->sup_expires_ms = s->expires_ms;
}

xd_code vf_check_address(vf_store *store, xd_dns *dns, const char *org_id, const char *address,
                         const char *category, int check_dns, vf_addr_result *out, xd_err *err)
{
    memset(out, 0, sizeof *out);
    xd_address addr;
    size_t pos = 0;
    xd_err perr;
    xd_err_clear(&perr);
    size_t len = address ? strnlen(address, 1024) : 0;
    xd_addr_diag d = xd_address_parse(address ? address : "", len, 0, &addr, &pos, &perr);
    if (d != XD_ADDR_OK) {
        out->verdict = XD__ADDRESS_VERDICT__ADDRESS_VERDICT_INVALID_SYNTAX;
        snprintf(out->diagnosis, sizeof out->diagnosis, "%s (at character %zu)", diag_words(d),
                 pos + 1);
        snprintf(out->summary, sizeof out->summary, "Not a valid email address: %s.",
                 out->diagnosis);
        return XD_OK;
    }
    /* Domains are case-insensitive: store and compare them lower-cased. */
    for (char *c = addr.domain_ascii; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    xd_address_format(&addr, 0, out->normalized, sizeof out->normalized);
    out->role = vf_is_role_account(addr.local);
    const char *typo = addr.literal ? NULL : vf_typo_domain(addr.domain_ascii);
    if (typo)
        snprintf(out->suggestion, sizeof out->suggestion, "%s@%s", addr.local, typo);
    if (check_dns && dns && !addr.literal)
        check_dns_of(dns, addr.domain_ascii, out);
    if (store && org_id) {
        xd_code rc = vf_store_check_suppressed(store, org_id, out->normalized, category,
                                               &out->suppressed, keep_sup, out, err);
        if (rc == XD_OK)
            rc = vf_store_recent_bounces(store, org_id, out->normalized,
                                         xd_clock_now_ms(vf_store_clock(store)) - 30 * DAY_MS,
                                         &out->recent_bounces, err);
        if (rc != XD_OK)
            return rc;
    }
    Xd__DomainStatus ds = out->domain_status;
    if (ds == XD__DOMAIN_STATUS__DOMAIN_STATUS_NULL_MX ||
        ds == XD__DOMAIN_STATUS__DOMAIN_STATUS_NXDOMAIN ||
        ds == XD__DOMAIN_STATUS__DOMAIN_STATUS_NO_ADDRESS) {
        out->verdict = XD__ADDRESS_VERDICT__ADDRESS_VERDICT_NO_MAIL_DOMAIN;
        snprintf(
            out->summary, sizeof out->summary, "The domain %.200s %s.%s%.200s%s", addr.domain_ascii,
            ds == XD__DOMAIN_STATUS__DOMAIN_STATUS_NULL_MX    ? "says it accepts no mail (null MX)"
            : ds == XD__DOMAIN_STATUS__DOMAIN_STATUS_NXDOMAIN ? "does not exist"
                                                              : "has no mail server",
            typo ? " Did you mean " : "", typo ? out->suggestion : "", typo ? "?" : "");
    } else if (out->suppressed) {
        out->verdict = XD__ADDRESS_VERDICT__ADDRESS_VERDICT_SUPPRESSED;
        snprintf(
            out->summary, sizeof out->summary,
            "The address is on the suppression list%s%.300s; mail of category '%.64s' is not sent.",
            out->sup_detail[0] ? ": " : "", out->sup_detail, category ? category : "");
    } else if (ds == XD__DOMAIN_STATUS__DOMAIN_STATUS_TEMP_FAILURE) {
        out->verdict = XD__ADDRESS_VERDICT__ADDRESS_VERDICT_DNS_UNAVAILABLE;
        snprintf(out->summary, sizeof out->summary,
                 "DNS did not answer for %.200s; check again later.", addr.domain_ascii);
    } else if (typo || out->role || out->recent_bounces) {
        out->verdict = XD__ADDRESS_VERDICT__ADDRESS_VERDICT_RISKY;
        snprintf(out->summary, sizeof out->summary, "Deliverable but risky:%s%s%s%s%s",
                 typo ? " possible typo, did you mean " : "", typo ? out->suggestion : "",
                 typo ? "?" : "", out->role ? " a role account (shared mailbox)." : "",
                 out->recent_bounces ? " bounced in the last 30 days." : "");
    } else {
        out->verdict = XD__ADDRESS_VERDICT__ADDRESS_VERDICT_VALID;
        snprintf(out->summary, sizeof out->summary, "%s looks deliverable%s.", out->normalized,
                 ds == XD__DOMAIN_STATUS__DOMAIN_STATUS_UNSPECIFIED ? " (domain not checked)" : "");
    }
    return XD_OK;
}
