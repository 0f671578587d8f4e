/*
 * address.c: RFC 5321 / RFC 6531 envelope address parser (see address.h).
 *
 * One pass over the local part, one over the domain labels, then libidn2 for
 * IDN domains. Every failure names its rule and the first offending octet.
 */
#include "xd/address.h"

#include <idn2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct parse_ctx {
    const unsigned char *s;
    size_t len;
    size_t *err_pos;
    xd_err *err;
} parse_ctx;

static const char *const diag_names[] = {
    [XD_ADDR_OK] = "OK",
    [XD_ADDR_EMPTY] = "EMPTY",
    [XD_ADDR_UNSAFE_CHAR] = "UNSAFE_CHAR",
    [XD_ADDR_TOO_LONG] = "TOO_LONG",
    [XD_ADDR_NO_AT] = "NO_AT",
    [XD_ADDR_LOCAL_EMPTY] = "LOCAL_EMPTY",
    [XD_ADDR_LOCAL_TOO_LONG] = "LOCAL_TOO_LONG",
    [XD_ADDR_LOCAL_DOT] = "LOCAL_DOT",
    [XD_ADDR_LOCAL_CHAR] = "LOCAL_CHAR",
    [XD_ADDR_QUOTED_CHAR] = "QUOTED_CHAR",
    [XD_ADDR_QUOTED_UNCLOSED] = "QUOTED_UNCLOSED",
    [XD_ADDR_BAD_UTF8] = "BAD_UTF8",
    [XD_ADDR_NEEDS_SMTPUTF8] = "NEEDS_SMTPUTF8",
    [XD_ADDR_DOMAIN_EMPTY] = "DOMAIN_EMPTY",
    [XD_ADDR_DOMAIN_TOO_LONG] = "DOMAIN_TOO_LONG",
    [XD_ADDR_LABEL_EMPTY] = "LABEL_EMPTY",
    [XD_ADDR_LABEL_TOO_LONG] = "LABEL_TOO_LONG",
    [XD_ADDR_LABEL_HYPHEN] = "LABEL_HYPHEN",
    [XD_ADDR_LABEL_CHAR] = "LABEL_CHAR",
    [XD_ADDR_IDN] = "IDN",
    [XD_ADDR_LITERAL_UNCLOSED] = "LITERAL_UNCLOSED",
    [XD_ADDR_LITERAL_IPV4] = "LITERAL_IPV4",
    [XD_ADDR_LITERAL_IPV6] = "LITERAL_IPV6",
    [XD_ADDR_LITERAL_TAG] = "LITERAL_TAG",
};

const char *xd_address_diag_name(xd_addr_diag diag)
{
    if ((unsigned)diag >= sizeof(diag_names) / sizeof(diag_names[0]) || !diag_names[diag])
        return "UNKNOWN";
    return diag_names[diag];
}

int xd_address_header_safe(const char *in, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '\r' || in[i] == '\n' || in[i] == '\0')
            return 0;
    }
    return 1;
}

static xd_addr_diag fail(parse_ctx *c, xd_addr_diag diag, size_t pos, const char *what)
{
    if (c->err_pos)
        *c->err_pos = pos;
    xd_err_field(c->err, XD_INVALID_ARGUMENT, "address", "address: %s at octet %zu: %s",
                 xd_address_diag_name(diag), pos, what);
    return diag;
}

/* Length of the well-formed UTF-8 sequence (RFC 3629) at s[0..n), 0 if none. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char b = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF; /* range allowed for the second octet */
    if (b >= 0xC2 && b <= 0xDF) {
        need = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 3;
        if (b == 0xE0)
            lo = 0xA0; /* overlong */
        if (b == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 4;
        if (b == 0xF0)
            lo = 0x90; /* overlong */
        if (b == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (n < need || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    }
    return need;
}

/* RFC 5322 atext, ASCII part. */
static int is_atext(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return 1;
    return ch != 0 && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL;
}

static int is_digit(unsigned char ch)
{
    return ch >= '0' && ch <= '9';
}

static int is_alnum(unsigned char ch)
{
    return is_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static int is_hex(unsigned char ch)
{
    return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* Parses the local part from octet 0; on success *end is the index of "@". */
static xd_addr_diag parse_local(parse_ctx *c, unsigned options, xd_address *out, size_t *end)
{
    const unsigned char *s = c->s;
    size_t i = 0;
    if (s[0] == '"') {
        out->quoted = 1;
        for (i = 1; i < c->len && s[i] != '"'; i++) {
            unsigned char ch = s[i];
            if (ch == '\\') {
                if (i + 1 >= c->len || s[i + 1] < 32 || s[i + 1] > 126)
                    return fail(c, XD_ADDR_QUOTED_CHAR, i + 1,
                                "a backslash must be followed by a printable ASCII character");
                i++;
            } else if (ch >= 0x80) {
                size_t n = utf8_seq_len(s + i, c->len - i);
                if (n == 0)
                    return fail(c, XD_ADDR_BAD_UTF8, i, "ill-formed UTF-8 in the local part");
                out->needs_smtputf8 = 1;
                i += n - 1;
            } else if (ch < 32 || ch == 127) {
                return fail(c, XD_ADDR_QUOTED_CHAR, i,
                            "control characters are not allowed in a quoted local part");
            }
        }
        if (i >= c->len)
            return fail(c, XD_ADDR_QUOTED_UNCLOSED, i, "the quoted local part has no closing '\"'");
        i++;
        if (i >= c->len || s[i] != '@')
            return fail(c, i >= c->len ? XD_ADDR_NO_AT : XD_ADDR_LOCAL_CHAR, i,
                        "expected '@' right after the closing quote");
    } else {
        size_t atom_len = 0;
        for (i = 0; i < c->len && s[i] != '@'; i++) {
            unsigned char ch = s[i];
            if (ch == '.') {
                if (atom_len == 0)
                    return fail(c, XD_ADDR_LOCAL_DOT, i,
                                "a dot may not start or end the local part or follow another dot "
                                "(quote the local part to keep it)");
                atom_len = 0;
                continue;
            }
            if (ch >= 0x80) {
                size_t n = utf8_seq_len(s + i, c->len - i);
                if (n == 0)
                    return fail(c, XD_ADDR_BAD_UTF8, i, "ill-formed UTF-8 in the local part");
                out->needs_smtputf8 = 1;
                i += n - 1;
            } else if (!is_atext(ch)) {
                return fail(c, XD_ADDR_LOCAL_CHAR, i,
                            "character not allowed in an unquoted local part");
            }
            atom_len++;
        }
        if (i == 0)
            return fail(c, XD_ADDR_LOCAL_EMPTY, 0, "the local part before '@' is empty");
        if (atom_len == 0)
            return fail(c, XD_ADDR_LOCAL_DOT, i - 1, "the local part may not end with a dot");
    }
    if (i > XD_ADDR_LOCAL_MAX)
        return fail(c, XD_ADDR_LOCAL_TOO_LONG, XD_ADDR_LOCAL_MAX,
                    "the local part is longer than 64 octets");
    if (out->needs_smtputf8 && (options & XD_ADDR_ASCII_ONLY))
        return fail(c, XD_ADDR_NEEDS_SMTPUTF8, 0,
                    "a non-ASCII local part needs SMTPUTF8, which is not allowed here");
    memcpy(out->local, s, i);
    out->local[i] = '\0';
    *end = i;
    return XD_ADDR_OK;
}

/* RFC 5321 IPv4-address-literal body: four Snum (0-255, 1-3 digits). */
static int ipv4_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= n || s[i] != '.')
                return 0;
            i++;
        }
        size_t digits = 0;
        unsigned value = 0;
        while (i < n && is_digit(s[i]) && digits < 3) {
            value = value * 10 + (unsigned)(s[i] - '0');
            i++;
            digits++;
        }
        if (digits == 0 || value > 255)
            return 0;
    }
    return i == n;
}

/* Counts colon-separated IPv6-hex groups in s[0..n); -1 when malformed. An
 * empty run (n == 0) has no groups. */
static int ipv6_groups(const unsigned char *s, size_t n)
{
    if (n == 0)
        return 0;
    int groups = 0;
    size_t digits = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == ':') {
            if (digits == 0)
                return -1;
            groups++;
            digits = 0;
        } else if (is_hex(s[i]) && digits < 4) {
            digits++;
        } else {
            return -1;
        }
    }
    return groups;
}

/* RFC 5321 4.1.3 IPv6-addr: full, compressed, and both with a trailing IPv4. */
static int ipv6_ok(const unsigned char *s, size_t n)
{
    /* A trailing IPv4 takes the place of two groups. */
    size_t v4_start = n;
    for (size_t i = n; i > 0; i--) {
        if (s[i - 1] == ':') {
            v4_start = i;
            break;
        }
    }
    int v4 = 0;
    if (v4_start < n && memchr(s + v4_start, '.', n - v4_start)) {
        if (!ipv4_ok(s + v4_start, n - v4_start))
            return 0;
        v4 = 1;
        n = v4_start; /* keep the ':' before the IPv4 for the checks below */
    }
    const unsigned char *dc = NULL;
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] == ':' && s[i + 1] == ':') {
            dc = s + i;
            break;
        }
    }
    int max_groups = v4 ? 6 : 8;
    if (!dc) {
        if (v4) {
            if (n < 1)
                return 0;
            n--; /* the ':' before the IPv4 */
        }
        return ipv6_groups(s, n) == max_groups;
    }
    size_t left_n = (size_t)(dc - s);
    const unsigned char *right = dc + 2;
    size_t right_n = n - left_n - 2;
    if (v4) {
        /* "::1.2.3.4" leaves nothing on the right; "::ab:1.2.3.4" leaves "ab:". */
        if (right_n > 0) {
            if (right[right_n - 1] != ':')
                return 0;
            right_n--;
        }
    }
    for (size_t i = left_n + 1; i + 1 < n; i++) {
        if (s[i] == ':' && s[i + 1] == ':')
            return 0; /* a second "::", or ":::" */
    }
    int left = ipv6_groups(s, left_n), rgt = ipv6_groups(right, right_n);
    if (left < 0 || rgt < 0)
        return 0;
    /* "::" stands for at least two groups (RFC 5321 4.1.3). */
    return left + rgt <= max_groups - 2;
}

static xd_addr_diag parse_literal(parse_ctx *c, size_t start, xd_address *out)
{
    const unsigned char *s = c->s;
    if (s[c->len - 1] != ']')
        return fail(c, XD_ADDR_LITERAL_UNCLOSED, c->len,
                    "an address literal must end with ']' at the end of the address");
    const unsigned char *body = s + start + 1;
    size_t n = c->len - start - 2;
    if (n >= 5 && strncasecmp((const char *)body, "IPv6:", 5) == 0) {
        if (!ipv6_ok(body + 5, n - 5))
            return fail(c, XD_ADDR_LITERAL_IPV6, start + 6,
                        "not an RFC 5321 IPv6 address (at most 8 groups; '::' replaces 2 or "
                        "more; an IPv4 tail counts as 2)");
    } else if (memchr(body, ':', n)) {
        return fail(c, XD_ADDR_LITERAL_TAG, start + 1,
                    "only [IPv4] and [IPv6:...] address literals are supported");
    } else if (!ipv4_ok(body, n)) {
        return fail(c, XD_ADDR_LITERAL_IPV4, start + 1,
                    "not an IPv4 address (four numbers 0-255 joined by dots)");
    }
    out->literal = 1;
    memcpy(out->domain_ascii, s + start, c->len - start);
    out->domain_ascii[c->len - start] = '\0';
    memcpy(out->domain_utf8, out->domain_ascii, c->len - start + 1);
    return XD_ADDR_OK;
}

/* Checks the LDH rules on an ASCII domain (A-labels included) that starts at
 * input octet pos_base. A domain converted by IDNA no longer lines up with the
 * input, so its failures point at the domain's first octet. */
static xd_addr_diag check_ldh(parse_ctx *c, const char *d, size_t n, size_t pos_base, int converted,
                              int *has_alabel)
{
#define LDH_POS(off) (converted ? pos_base : pos_base + (off))
    size_t label_start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && d[i] != '.') {
            if (!is_alnum((unsigned char)d[i]) && d[i] != '-')
                return fail(c, XD_ADDR_LABEL_CHAR, LDH_POS(i),
                            "a domain label may hold only letters, digits and '-'");
            continue;
        }
        size_t label_len = i - label_start;
        if (label_len == 0)
            return fail(c, XD_ADDR_LABEL_EMPTY, LDH_POS(i),
                        "empty domain label (leading, trailing or doubled dot)");
        if (label_len > XD_ADDR_LABEL_MAX)
            return fail(c, XD_ADDR_LABEL_TOO_LONG, LDH_POS(label_start + XD_ADDR_LABEL_MAX),
                        "a domain label is longer than 63 octets");
        if (d[label_start] == '-' || d[i - 1] == '-')
            return fail(c, XD_ADDR_LABEL_HYPHEN,
                        LDH_POS(d[label_start] == '-' ? label_start : i - 1),
                        "a domain label may not start or end with '-'");
        if (label_len >= 4 && strncasecmp(d + label_start, "xn--", 4) == 0)
            *has_alabel = 1;
        label_start = i + 1;
    }
    if (n > XD_ADDR_DOMAIN_MAX)
        return fail(c, XD_ADDR_DOMAIN_TOO_LONG, LDH_POS(XD_ADDR_DOMAIN_MAX),
                    "the domain is longer than 255 octets");
    return XD_ADDR_OK;
#undef LDH_POS
}

/* Converts a domain with U-labels or A-labels; fills both forms. */
static xd_addr_diag convert_idn(parse_ctx *c, size_t start, xd_address *out)
{
    char buf[XD_ADDR_MAILBOX_MAX + 1];
    size_t n = c->len - start;
    memcpy(buf, c->s + start, n);
    buf[n] = '\0';
    char *ascii = NULL, *utf8 = NULL, *again = NULL;
    /* No STD3 flag: libidn2 then drops some mapped characters (a fullwidth "_"
     * vanishes), silently changing the domain; check_ldh refuses them instead. */
    const int flags = IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT;
    xd_addr_diag diag = XD_ADDR_OK;
    int rc = idn2_to_ascii_8z(buf, &ascii, flags);
    if (rc == IDN2_OK)
        rc = idn2_to_unicode_8z8z(ascii, &utf8, 0);
    if (rc == IDN2_OK)
        rc = idn2_to_ascii_8z(utf8, &again, flags);                   /* A-labels must round-trip */
    if (rc == IDN2_TOO_BIG_LABEL || rc == IDN2_PUNYCODE_BIG_OUTPUT) { /* label over 63 */
        diag = fail(c, XD_ADDR_LABEL_TOO_LONG, start,
                    "a domain label is longer than 63 octets in its A-label (xn--) form");
        goto out;
    }
    if (rc == IDN2_TOO_BIG_DOMAIN) {
        diag = fail(c, XD_ADDR_DOMAIN_TOO_LONG, start,
                    "the domain is longer than 255 octets in its A-label (xn--) form");
        goto out;
    }
    if (rc != IDN2_OK) {
        char what[200];
        snprintf(what, sizeof(what), "the internationalized domain is refused by IDNA: %s",
                 idn2_strerror(rc));
        diag = fail(c, XD_ADDR_IDN, start, what);
        goto out;
    }
    if (strcasecmp(again, ascii) != 0) {
        diag = fail(c, XD_ADDR_IDN, start, "an A-label (xn--) does not round-trip through IDNA");
        goto out;
    }
    size_t ascii_n = strlen(ascii), utf8_n = strlen(utf8);
    int has_alabel = 0;
    diag = check_ldh(c, ascii, ascii_n, start, 1, &has_alabel);
    if (diag != XD_ADDR_OK)
        goto out;
    if (utf8_n > XD_ADDR_DOMAIN_UTF8_MAX) {
        diag = fail(c, XD_ADDR_DOMAIN_TOO_LONG, start, "the Unicode domain is too long");
        goto out;
    }
    memcpy(out->domain_ascii, ascii, ascii_n + 1);
    memcpy(out->domain_utf8, utf8, utf8_n + 1);
    out->idn = 1;
out:
    idn2_free(ascii);
    idn2_free(utf8);
    idn2_free(again);
    return diag;
}

static xd_addr_diag parse_domain(parse_ctx *c, size_t start, xd_address *out)
{
    const unsigned char *s = c->s;
    size_t n = c->len - start;
    if (n == 0)
        return fail(c, XD_ADDR_DOMAIN_EMPTY, start, "the domain after '@' is empty");
    if (s[start] == '[')
        return parse_literal(c, start, out);
    int non_ascii = 0;
    for (size_t i = start; i < c->len; i++) {
        if (s[i] < 0x80)
            continue;
        size_t len = utf8_seq_len(s + i, c->len - i);
        if (len == 0)
            return fail(c, XD_ADDR_BAD_UTF8, i, "ill-formed UTF-8 in the domain");
        non_ascii = 1;
        i += len - 1;
    }
    if (non_ascii) {
        /* Structure first, so "a..b" or a stray ASCII character gets a precise
         * diagnosis instead of a generic IDNA one. */
        size_t label_start = start;
        for (size_t i = start; i <= c->len; i++) {
            if (i < c->len && s[i] != '.') {
                if (s[i] < 0x80 && !is_alnum(s[i]) && s[i] != '-')
                    return fail(c, XD_ADDR_LABEL_CHAR, i,
                                "a domain label may hold only letters, digits, '-' and "
                                "Unicode letters");
                continue;
            }
            if (i == label_start)
                return fail(c, XD_ADDR_LABEL_EMPTY, i,
                            "empty domain label (leading, trailing or doubled dot)");
            label_start = i + 1;
        }
        return convert_idn(c, start, out);
    }
    int has_alabel = 0;
    xd_addr_diag diag = check_ldh(c, (const char *)s + start, n, start, 0, &has_alabel);
    if (diag != XD_ADDR_OK)
        return diag;
    if (has_alabel)
        return convert_idn(c, start, out);
    memcpy(out->domain_ascii, s + start, n);
    out->domain_ascii[n] = '\0';
    memcpy(out->domain_utf8, out->domain_ascii, n + 1);
    return XD_ADDR_OK;
}

xd_addr_diag xd_address_parse(const char *in, size_t len, unsigned options, xd_address *out,
                              size_t *err_pos, xd_err *err)
{
    parse_ctx c = {.s = (const unsigned char *)in, .len = len, .err_pos = err_pos, .err = err};
    if (!in || len == 0)
        return fail(&c, XD_ADDR_EMPTY, 0, "the address is empty");
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '\r' || in[i] == '\n' || in[i] == '\0')
            return fail(&c, XD_ADDR_UNSAFE_CHAR, i, "CR, LF and NUL are never allowed");
    }
    if (!memchr(in, '@', len))
        return fail(&c, XD_ADDR_NO_AT, len, "expected local-part@domain");
    memset(out, 0, sizeof(*out));
    size_t at = 0;
    xd_addr_diag diag = parse_local(&c, options, out, &at);
    if (diag != XD_ADDR_OK)
        return diag;
    /* Bound the domain before converting it: no valid mailbox is longer. */
    if (len > XD_ADDR_MAILBOX_MAX)
        return fail(&c, XD_ADDR_TOO_LONG, XD_ADDR_MAILBOX_MAX,
                    "the address is longer than 254 octets");
    diag = parse_domain(&c, at + 1, out);
    if (diag != XD_ADDR_OK)
        return diag;
    if (at + 1 + strlen(out->domain_ascii) > XD_ADDR_MAILBOX_MAX)
        return fail(&c, XD_ADDR_TOO_LONG, XD_ADDR_MAILBOX_MAX,
                    "the address with its domain in A-labels is longer than 254 octets");
    xd_err_clear(err);
    return XD_ADDR_OK;
}

size_t xd_address_format(const xd_address *addr, int utf8, char *buf, size_t size)
{
    int n =
        snprintf(buf, size, "%s@%s", addr->local, utf8 ? addr->domain_utf8 : addr->domain_ascii);
    return n < 0 ? 0 : (size_t)n;
}
