/* fuzz_address.c: the envelope address parser (common/include/xd/address.h)
 * reads addresses that modules and strangers send us. Any bytes must give a
 * diagnosis, never a crash; an accepted address must keep the documented
 * bounds, be safe in a header, and parse again to the same address when
 * formatted (what the sender writes into RCPT TO is what was validated). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xd/address.h"

static void check_accepted(const xd_address *a, unsigned options)
{
    if (strlen(a->local) > XD_ADDR_LOCAL_MAX || strlen(a->domain_ascii) > XD_ADDR_DOMAIN_MAX ||
        strlen(a->domain_utf8) > XD_ADDR_DOMAIN_UTF8_MAX)
        abort();
    if ((options & XD_ADDR_ASCII_ONLY) && a->needs_smtputf8)
        abort();
    char buf[XD_ADDR_LOCAL_MAX + XD_ADDR_DOMAIN_UTF8_MAX + 2];
    size_t n = xd_address_format(a, 0, buf, sizeof buf);
    if (n >= sizeof buf || !xd_address_header_safe(buf, n))
        abort();
    xd_address again;
    xd_err err;
    if (xd_address_parse(buf, n, options, &again, NULL, &err) != XD_ADDR_OK)
        abort(); /* the formatted form of an accepted address is accepted */
    if (strcmp(again.local, a->local) != 0 || strcmp(again.domain_ascii, a->domain_ascii) != 0)
        abort();
    xd_address_format(a, 1, buf, sizeof buf); /* the Unicode form formats too */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned options[] = {0, XD_ADDR_ASCII_ONLY};
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        xd_address a;
        xd_err err;
        size_t pos = (size_t)-1;
        xd_addr_diag d = xd_address_parse((const char *)data, size, options[i], &a, &pos, &err);
        if (!xd_address_diag_name(d))
            abort();
        if (d == XD_ADDR_OK)
            check_accepted(&a, options[i]);
        else if (pos > size) /* the position points into the input (or its end) */
            abort();
    }
    return 0;
}
