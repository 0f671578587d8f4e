/* tk_address.c: address -> recipient domain, through the common RFC 5321
 * parser (xd/address.h): IDNs come out as lower-case A-labels. */
#include "tk_address.h"
#include "tk_model.h"
#include "xd/address.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Parses a whole mailbox and writes its lower-case A-label domain. */
static int domain_of(const char *mailbox, char *domain, size_t domain_size, char *reason,
                     size_t reason_size)
{
    xd_address addr;
    xd_err err;
    xd_err_clear(&err);
    if (xd_address_parse(mailbox, strlen(mailbox), 0, &addr, NULL, &err) != XD_ADDR_OK) {
        snprintf(reason, reason_size, "%s", err.message);
        return -1;
    }
    if (addr.literal) {
        snprintf(reason, reason_size,
                 "uses an address literal: give the recipient's domain name instead");
        return -1;
    }
    if (!strchr(addr.domain_ascii, '.')) {
        snprintf(reason, reason_size,
                 "has a domain without a dot: give the full domain, e.g. example.com");
        return -1;
    }
    size_t n = strlen(addr.domain_ascii);
    if (n + 1 > domain_size) {
        snprintf(reason, reason_size, "has a domain longer than %d characters", TK_DOMAIN_MAX);
        return -1;
    }
    for (size_t i = 0; i <= n; i++)
        domain[i] = (char)tolower((unsigned char)addr.domain_ascii[i]);
    return 0;
}

int tk_domain_normalize(const char *name, char *domain, size_t domain_size, char *reason,
                        size_t reason_size)
{
    size_t len = strlen(name);
    if (len == 0) {
        snprintf(reason, reason_size, "is empty: give a domain such as example.com");
        return -1;
    }
    if (len > TK_DOMAIN_MAX * 4) { /* Unicode form may be longer than the A-labels */
        snprintf(reason, reason_size, "is far longer than a domain name can be");
        return -1;
    }
    if (name[len - 1] == '.')
        len--; /* a root dot is allowed and dropped */
    if (memchr(name, '@', len) || memchr(name, '[', len)) {
        snprintf(reason, reason_size, "must be a domain name alone (no '@', no address literal)");
        return -1;
    }
    char mailbox[TK_DOMAIN_MAX * 4 + 16];
    snprintf(mailbox, sizeof(mailbox), "postmaster@%.*s", (int)len, name);
    char why[XD_ERR_MESSAGE_MAX];
    if (domain_of(mailbox, domain, domain_size, why, sizeof(why)) != 0) {
        /* The parser speaks of the whole mailbox; say it of the domain. */
        snprintf(reason, reason_size, "is not a valid domain name (%.150s)", why);
        return -1;
    }
    return 0;
}

int tk_address_domain(const char *address, char *domain, size_t domain_size, char *reason,
                      size_t reason_size)
{
    size_t len = strlen(address);
    if (len == 0) {
        snprintf(reason, reason_size, "is required: the recipient's email address");
        return -1;
    }
    char why[XD_ERR_MESSAGE_MAX];
    if (domain_of(address, domain, domain_size, why, sizeof(why)) != 0) {
        snprintf(reason, reason_size, "is not a valid address: %.180s", why);
        return -1;
    }
    return 0;
}
