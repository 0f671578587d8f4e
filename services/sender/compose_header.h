/*
 * compose_header.h: RFC 5322 header fields: validation of addresses and
 * values, display-name phrases (quoted or RFC 2047), IDN domains in
 * punycode (libidn2), and folding at whitespace so lines stay at most 78
 * octets where the content allows and never over 998.
 *
 * Errors are INVALID_ARGUMENT with err->field set to the field path the
 * caller passes ("to[2].address"). Addresses are parsed by the suite's shared
 * grammar (xd/address.h). Output goes to caller-owned snd_bufs.
 * Thread-safety: pure functions.
 */
#ifndef SND_COMPOSE_HEADER_H
#define SND_COMPOSE_HEADER_H

#include <stddef.h>
#include "compose_buf.h"
#include "xd/status.h"

#define SND_ADDRESS_MAX      254 /* RFC 5321 path limit minus <> */
#define SND_LOCAL_PART_MAX   64
#define SND_DISPLAY_NAME_MAX 200

/* Checks value (named field) has no CR, LF or NUL; XD_OK or INVALID_ARGUMENT. */
xd_code snd_hdr_check_value(const char *field, const char *value, size_t max, xd_err *err);

/* Validates an addr-spec "local@domain" and appends its wire form to out:
 * the domain in punycode (A-labels) unless smtputf8 is set, lower-cased.
 * A non-ASCII local part needs smtputf8 (else INVALID_ARGUMENT). */
xd_code snd_hdr_address(snd_buf *out, const char *field, const char *address, int smtputf8,
                        xd_err *err);

/* Appends a mailbox: `phrase <addr>` or just `addr` when the display name is
 * empty. The phrase is an atom sequence, a quoted-string, or encoded words
 * for non-ASCII. field is the mailbox's path ("from"); errors name
 * "<field>.address" or "<field>.display_name". */
xd_code snd_hdr_mailbox(snd_buf *out, const char *field, const char *address,
                        const char *display_name, int smtputf8, xd_err *err);

/* Appends unstructured text (Subject, custom values): as is when printable
 * ASCII without "=?" and no word over 76 octets, else as encoded words. */
int snd_hdr_unstructured(snd_buf *out, const char *utf8);

/* Appends "Name: value\r\n" folding value at its spaces (never inside a
 * word) to keep lines at most 78 octets when possible. value must be a
 * single line. Returns -1 when a line would still exceed 998 octets. */
int snd_hdr_write(snd_buf *out, const char *name, const char *value, size_t value_len);

/* 1 when name is a valid field name (printable ASCII except ':' and SP). */
int snd_hdr_valid_name(const char *name);

#endif
