/* tk_address.c: address -> recipient domain (a minimal RFC 5321 split until
 * common/include/xd/address.h is on main). */
#include "tk_address.h"
#include "tk_model.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(reason, reason_size, __VA_ARGS__);                                                \
        return -1;                                                                                 \
    } while (0)

int tk_domain_normalize(const char *name, char *domain, size_t domain_size, char *reason,
                        size_t reason_size)
{
    size_t len = strlen(name);
    if (len == 0)
        FAIL("is empty: give a domain such as example.com");
    if (len > TK_DOMAIN_MAX || len + 1 > domain_size)
        FAIL("is longer than %d characters", TK_DOMAIN_MAX);
    if (name[len - 1] == '.')
        len--; /* a root dot is allowed and dropped */
    size_t label = 0;
    int labels = 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '.') {
            if (label == 0 || name[i - 1] == '-')
                FAIL("has an empty label or a label ending in '-' at position %zu", i);
            label = 0;
            labels++;
            domain[i] = '.';
            continue;
        }
        if (!(isalnum(c) || c == '-'))
            FAIL("has a character not allowed in a domain name at position %zu (letters, "
                 "digits, '-' and '.' only; give IDNs in xn-- form)",
                 i);
        if (c == '-' && label == 0)
            FAIL("has a label starting with '-' at position %zu", i);
        if (++label > 63)
            FAIL("has a label longer than 63 characters");
        domain[i] = (char)tolower(c);
    }
    if (label == 0 || name[len - 1] == '-')
        FAIL("ends with an empty label or '-'");
    if (labels < 2)
        FAIL("has no dot: give the full domain, e.g. example.com");
    domain[len] = '\0';
    return 0;
}

int tk_address_domain(const char *address, char *domain, size_t domain_size, char *reason,
                      size_t reason_size)
{
    size_t len = strlen(address);
    if (len == 0)
        FAIL("is required: the recipient's email address");
    if (len > TK_ADDRESS_MAX)
        FAIL("is longer than %d characters", TK_ADDRESS_MAX);
    const char *at = strrchr(address, '@');
    if (!at)
        FAIL("has no '@': give the full address, e.g. name@example.com");
    size_t local_len = (size_t)(at - address);
    if (local_len == 0)
        FAIL("has nothing before '@'");
    if (local_len > 64)
        FAIL("has a local part longer than 64 characters");
    for (size_t i = 0; i < local_len; i++) {
        unsigned char c = (unsigned char)address[i];
        if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',' || c == ';')
            FAIL("has a space, control character or one of <>,; at position %zu", i);
    }
    char why[160];
    if (tk_domain_normalize(at + 1, domain, domain_size, why, sizeof(why)) != 0)
        FAIL("has an invalid domain: it %s", why);
    return 0;
}
