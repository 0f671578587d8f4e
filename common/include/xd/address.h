/*
 * address.h: parse and validate an envelope email address (RFC 5321 Mailbox,
 * extended by RFC 6531 for UTF-8 local parts and RFC 5890 for IDN domains).
 *
 * Accepts exactly what may stand between "<" and ">" in MAIL FROM / RCPT TO:
 * a dot-string or quoted-string local part, "@", and a domain name or an
 * address literal ([IPv4] or [IPv6:...]). No comments, no folding
 * whitespace, no display names, no obsolete RFC 5322 syntax. Length limits:
 * local part 64 octets, domain 255 octets (A-label form), label 63 octets,
 * whole mailbox 254 octets (a 256-octet path minus "<" and ">").
 *
 * U-label domains are converted to A-labels with libidn2 (UTS #46
 * non-transitional, NFC input); A-labels are checked by converting back.
 * A non-ASCII local part is accepted, well-formed UTF-8 only, and flagged
 * needs_smtputf8 (refused instead with XD_ADDR_ASCII_ONLY).
 *
 * Memory: xd_address holds everything in fixed arrays owned by the caller;
 * nothing is allocated that outlives a call. Thread-safety: no shared state,
 * every function may run on any thread.
 */
#ifndef XD_ADDRESS_H
#define XD_ADDRESS_H

#include <stddef.h>

#include "xd/status.h"

#define XD_ADDR_LOCAL_MAX   64  /* RFC 5321 4.5.3.1.1 */
#define XD_ADDR_DOMAIN_MAX  255 /* RFC 5321 4.5.3.1.2 */
#define XD_ADDR_LABEL_MAX   63  /* RFC 1035 2.3.4 */
#define XD_ADDR_MAILBOX_MAX 254 /* RFC 5321 4.5.3.1.3 path 256 minus "<" ">" */
/* A domain's Unicode form can be longer than its A-label form. */
#define XD_ADDR_DOMAIN_UTF8_MAX 1023

/* Options for xd_address_parse. */
enum {
    XD_ADDR_ASCII_ONLY = 1 << 0, /* reject a non-ASCII local part (no SMTPUTF8) */
};

/* Why an address was refused; XD_ADDR_OK when it was not. */
typedef enum xd_addr_diag {
    XD_ADDR_OK = 0,
    XD_ADDR_EMPTY,            /* nothing given */
    XD_ADDR_UNSAFE_CHAR,      /* CR, LF or NUL: header/SMTP injection */
    XD_ADDR_TOO_LONG,         /* whole mailbox over 254 octets */
    XD_ADDR_NO_AT,            /* no "@" separating local part and domain */
    XD_ADDR_LOCAL_EMPTY,      /* nothing before "@" */
    XD_ADDR_LOCAL_TOO_LONG,   /* local part over 64 octets */
    XD_ADDR_LOCAL_DOT,        /* leading, trailing or doubled dot */
    XD_ADDR_LOCAL_CHAR,       /* a character not allowed in a dot-string */
    XD_ADDR_QUOTED_CHAR,      /* a character not allowed in a quoted-string */
    XD_ADDR_QUOTED_UNCLOSED,  /* quoted-string without its closing quote */
    XD_ADDR_BAD_UTF8,         /* ill-formed UTF-8 (overlong, surrogate, cut) */
    XD_ADDR_NEEDS_SMTPUTF8,   /* non-ASCII local part with XD_ADDR_ASCII_ONLY */
    XD_ADDR_DOMAIN_EMPTY,     /* nothing after "@" */
    XD_ADDR_DOMAIN_TOO_LONG,  /* domain over 255 octets in A-label form */
    XD_ADDR_LABEL_EMPTY,      /* empty label: leading, trailing or doubled dot */
    XD_ADDR_LABEL_TOO_LONG,   /* label over 63 octets */
    XD_ADDR_LABEL_HYPHEN,     /* label starts or ends with "-" */
    XD_ADDR_LABEL_CHAR,       /* a character not allowed in a domain label */
    XD_ADDR_IDN,              /* U-label or A-label refused by IDNA */
    XD_ADDR_LITERAL_UNCLOSED, /* "[" without "]" at the end */
    XD_ADDR_LITERAL_IPV4,     /* malformed IPv4 address literal */
    XD_ADDR_LITERAL_IPV6,     /* malformed IPv6 address literal */
    XD_ADDR_LITERAL_TAG,      /* general address literal with an unknown tag */
} xd_addr_diag;

typedef struct xd_address {
    /* Local part exactly as given (quotes and backslashes kept). */
    char local[XD_ADDR_LOCAL_MAX + 1];
    /* Domain for DNS and SMTP without SMTPUTF8: A-labels, or the literal with
     * its brackets. Converted domains come out lower-case (IDNA mapping);
     * all-ASCII domains keep the case they were given. */
    char domain_ascii[XD_ADDR_DOMAIN_MAX + 1];
    /* Same domain with A-labels shown as Unicode (equal to domain_ascii when
     * there are no IDN labels). */
    char domain_utf8[XD_ADDR_DOMAIN_UTF8_MAX + 1];
    int quoted;         /* local part is a quoted-string */
    int literal;        /* domain is an address literal */
    int idn;            /* domain has U-labels or A-labels */
    int needs_smtputf8; /* local part is non-ASCII: RCPT needs SMTPUTF8 */
} xd_address;

/* Parses the len octets at in (no terminator needed) with options
 * (XD_ADDR_*). On success fills *out and returns XD_ADDR_OK. On failure
 * returns the diagnosis, sets err to INVALID_ARGUMENT with field "address"
 * and a message naming the rule and the octet position, stores that position
 * in *err_pos when err_pos is not NULL, and leaves *out unspecified. */
xd_addr_diag xd_address_parse(const char *in, size_t len, unsigned options, xd_address *out,
                              size_t *err_pos, xd_err *err);

/* Short stable name of a diagnosis ("LOCAL_TOO_LONG"); "UNKNOWN" if out of range. */
const char *xd_address_diag_name(xd_addr_diag diag);

/* Returns 1 when the len octets contain no CR, LF or NUL, so they can go in
 * a header or an SMTP command line without injection; 0 otherwise. */
int xd_address_header_safe(const char *in, size_t len);

/* Writes "local@domain_ascii" (or domain_utf8 when utf8 is nonzero) into
 * buf; returns the length it needs, as snprintf does. */
size_t xd_address_format(const xd_address *addr, int utf8, char *buf, size_t size);

#endif
