/* compose_header.c: header validation, mailboxes, IDN, folding. */
#include "compose_header.h"

#include <idn2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mime_encode.h"
#include "xd/util.h"

xd_code snd_hdr_check_value(const char *field, const char *value, size_t max, xd_err *err)
{
    size_t n = strlen(value);
    if (xd_has_crlf_nul(value, n))
        return xd_err_field(err, XD_INVALID_ARGUMENT, field,
                            "%s contains CR or LF: header values must be one line", field);
    if (n > max)
        return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s is %zu octets; at most %zu allowed",
                            field, n, max);
    if (!snd_is_valid_utf8(value, n))
        return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s is not valid UTF-8", field);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((c < 0x20 && c != '\t') || c == 0x7F)
            return xd_err_field(err, XD_INVALID_ARGUMENT, field,
                                "%s contains control character 0x%02X", field, c);
    }
    return XD_OK;
}

/* RFC 5322 atext, plus '.' for dot-atom. */
static int is_atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int valid_local_part(const char *s, size_t n, int smtputf8)
{
    if (n == 0 || n > SND_LOCAL_PART_MAX || s[0] == '.' || s[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.' && s[i + 1] == '.')
            return 0;
        if (c >= 0x80 && smtputf8)
            continue;
        if (c != '.' && !is_atext(c))
            return 0;
    }
    return 1;
}

/* Checks an ASCII (A-label) domain: labels of [a-z0-9-], 1..63, no leading
 * or trailing '-', at least two labels, total at most 253. */
static int valid_ascii_domain(const char *d)
{
    size_t n = strlen(d), label = 0, labels = 1;
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i <= n; i++) {
        char c = d[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || d[i - 1] == '-')
                return 0;
            if (c == '.')
                labels++;
            label = 0;
            continue;
        }
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-';
        if (!ok || (label == 0 && c == '-'))
            return 0;
        label++;
    }
    return labels >= 2;
}

xd_code snd_hdr_address(snd_buf *out, const char *field, const char *address, int smtputf8,
                        xd_err *err)
{
    size_t n = strlen(address);
    if (xd_has_crlf_nul(address, n))
        return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s contains CR or LF", field);
    if (n == 0)
        return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s is empty: give local@domain",
                            field);
    if (n > SND_ADDRESS_MAX)
        return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s is %zu octets; at most %d allowed",
                            field, n, SND_ADDRESS_MAX);
    if (!snd_is_valid_utf8(address, n))
        return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s is not valid UTF-8", field);
    const char *at = strrchr(address, '@');
    if (!at || at == address || at[1] == '\0')
        return xd_err_field(err, XD_INVALID_ARGUMENT, field,
                            "%s \"%s\" is not an address: expected local@domain", field, address);
    size_t local_len = (size_t)(at - address);
    if (!valid_local_part(address, local_len, smtputf8))
        return xd_err_field(err, XD_INVALID_ARGUMENT, field,
                            "%s has an invalid local part (dot-atom of at most %d octets%s)", field,
                            SND_LOCAL_PART_MAX,
                            smtputf8 ? "" : "; non-ASCII needs SMTPUTF8");
    const char *domain = at + 1;
    int ascii = snd_is_printable_ascii(domain, strlen(domain));
    char *alabel = NULL;
    if (!ascii && !smtputf8) {
        int rc = idn2_to_ascii_8z(domain, &alabel, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
        if (rc != IDN2_OK)
            return xd_err_field(err, XD_INVALID_ARGUMENT, field,
                                "%s has a domain that is not a valid IDN: %s", field,
                                idn2_strerror(rc));
    }
    const char *check = alabel ? alabel : domain;
    if ((ascii || alabel) && !valid_ascii_domain(check)) {
        idn2_free(alabel);
        return xd_err_field(err, XD_INVALID_ARGUMENT, field,
                            "%s has an invalid domain (labels of letters, digits and '-')",
                            field);
    }
    snd_buf_append(out, address, local_len);
    snd_buf_putc(out, '@');
    for (const char *p = check; *p; p++) {
        char c = *p;
        snd_buf_putc(out, (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c);
    }
    idn2_free(alabel);
    return out->overflow ? xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s too long", field)
                         : XD_OK;
}

/* Appends a display name as a phrase. */
static void append_phrase(snd_buf *out, const char *name)
{
    size_t n = strlen(name);
    if (!snd_is_printable_ascii(name, n) || strstr(name, "=?")) {
        snd_mime_encoded_words(out, name, n);
        return;
    }
    int atoms = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!is_atext(c) && c != ' ')
            atoms = 0;
    }
    if (atoms && name[0] != ' ' && name[n - 1] != ' ' && !strstr(name, "  ")) {
        snd_buf_append(out, name, n);
        return;
    }
    snd_buf_putc(out, '"');
    for (size_t i = 0; i < n; i++) {
        if (name[i] == '"' || name[i] == '\\')
            snd_buf_putc(out, '\\');
        snd_buf_putc(out, name[i]);
    }
    snd_buf_putc(out, '"');
}

xd_code snd_hdr_mailbox(snd_buf *out, const char *field, const char *address,
                        const char *display_name, int smtputf8, xd_err *err)
{
    char f[XD_ERR_FIELD_MAX];
    snprintf(f, sizeof f, "%s.display_name", field);
    const char *name = display_name ? display_name : "";
    xd_code rc = snd_hdr_check_value(f, name, SND_DISPLAY_NAME_MAX, err);
    if (rc != XD_OK)
        return rc;
    snprintf(f, sizeof f, "%s.address", field);
    if (name[0] == '\0')
        return snd_hdr_address(out, f, address ? address : "", smtputf8, err);
    append_phrase(out, name);
    snd_buf_puts(out, " <");
    rc = snd_hdr_address(out, f, address ? address : "", smtputf8, err);
    snd_buf_putc(out, '>');
    return rc;
}

int snd_hdr_unstructured(snd_buf *out, const char *utf8)
{
    size_t n = strlen(utf8), word = 0;
    int plain = snd_is_printable_ascii(utf8, n) && !strstr(utf8, "=?");
    for (size_t i = 0; plain && i < n; i++) {
        word = (utf8[i] == ' ' || utf8[i] == '\t') ? 0 : word + 1;
        if (word > 76)
            plain = 0;
    }
    if (plain)
        return snd_buf_append(out, utf8, n);
    return snd_mime_encoded_words(out, utf8, n);
}

int snd_hdr_valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 76)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 33 || c > 126 || c == ':')
            return 0;
    }
    return 1;
}

int snd_hdr_write(snd_buf *out, const char *name, const char *value, size_t value_len)
{
    size_t col = strlen(name) + 2;
    snd_buf_puts(out, name);
    snd_buf_puts(out, ": ");
    size_t i = 0;
    int first = 1;
    while (i < value_len) {
        /* A word runs to the next space; spaces stay with the next word. */
        size_t j = i;
        if (!first)
            j++; /* the separating space */
        while (j < value_len && value[j] != ' ')
            j++;
        size_t w = j - i;
        if (!first && w > 1 && col + w > 78) {
            snd_buf_puts(out, "\r\n");
            col = 0; /* the word starts with its space: the fold's WSP */
        }
        if (col + w > 998)
            return -1;
        snd_buf_append(out, value + i, w);
        col += w;
        i = j;
        first = 0;
    }
    snd_buf_puts(out, "\r\n");
    return out->overflow ? -1 : 0;
}
