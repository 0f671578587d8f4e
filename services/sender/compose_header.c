/* compose_header.c: header validation, mailboxes, IDN, folding. */
#include "compose_header.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mime_encode.h"
#include "xd/address.h"
#include "xd/util.h"

xd_code snd_hdr_check_value(const char *field, const char *value, size_t max, xd_err *err)
{
    size_t n = strlen(value);
    if (xd_has_crlf_nul(value, n))
        return xd_err_field(err, XD_INVALID_ARGUMENT, field,
                            "%s contains CR or LF: header values must be one line", field);
    if (n > max)
        return xd_err_field(err, XD_INVALID_ARGUMENT, field,
                            "%s is %zu octets; at most %zu allowed", field, n, max);
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

/* RFC 5322 atext. */
static int is_atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

xd_code snd_hdr_address(snd_buf *out, const char *field, const char *address, int smtputf8,
                        xd_err *err)
{
    size_t n = strlen(address);
    if (!xd_address_header_safe(address, n))
        return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s contains CR or LF", field);
    if (n == 0)
        return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s is empty: give local@domain",
                            field);
    if (n > SND_ADDRESS_MAX)
        return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s is %zu octets; at most %d allowed",
                            field, n, SND_ADDRESS_MAX);
    /* The suite's one address grammar (RFC 5321 + 6531 + IDNA). */
    xd_address a;
    xd_err perr;
    xd_err_clear(&perr);
    if (xd_address_parse(address, n, smtputf8 ? 0 : XD_ADDR_ASCII_ONLY, &a, NULL, &perr) !=
        XD_ADDR_OK)
        return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s: %s%s", field, perr.message,
                            smtputf8 ? "" : " (non-ASCII local parts need SMTPUTF8)");
    /* Mail to people goes to a public domain: refuse single-label names. */
    if (!a.literal && !strchr(a.domain_ascii, '.'))
        return xd_err_field(err, XD_INVALID_ARGUMENT, field,
                            "%s: domain \"%s\" is a single label, not a mail domain", field,
                            a.domain_ascii);
    snd_buf_puts(out, a.local);
    snd_buf_putc(out, '@');
    const char *dom = smtputf8 ? a.domain_utf8 : a.domain_ascii;
    for (const char *p = dom; *p; p++) {
        char c = *p;
        snd_buf_putc(out, (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c);
    }
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

/* f = field + suffix, cut to fit as snprintf would (hot path: no printf). */
static void field_name(char f[XD_ERR_FIELD_MAX], const char *field, const char *suffix)
{
    size_t a = strlen(field), b = strlen(suffix);
    if (a > XD_ERR_FIELD_MAX - 1)
        a = XD_ERR_FIELD_MAX - 1;
    if (b > XD_ERR_FIELD_MAX - 1 - a)
        b = XD_ERR_FIELD_MAX - 1 - a;
    memcpy(f, field, a);
    memcpy(f + a, suffix, b);
    f[a + b] = '\0';
}

xd_code snd_hdr_mailbox(snd_buf *out, const char *field, const char *address,
                        const char *display_name, int smtputf8, xd_err *err)
{
    char f[XD_ERR_FIELD_MAX];
    field_name(f, field, ".display_name");
    const char *name = display_name ? display_name : "";
    xd_code rc = snd_hdr_check_value(f, name, SND_DISPLAY_NAME_MAX, err);
    if (rc != XD_OK)
        return rc;
    field_name(f, field, ".address");
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
