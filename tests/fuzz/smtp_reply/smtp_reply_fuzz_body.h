/*
 * smtp_reply_fuzz_body.h: one fuzz iteration over the SMTP client's pure
 * parsers (reply lines, enhanced codes, EHLO keywords, the DATA encoder).
 * Shared by the libFuzzer harness and the deterministic unit test, which
 * runs it over the seeds and fixed mutations of them. It aborts on any
 * broken invariant, so a sanitizer or a trap catches the failure.
 * Thread-safety: no shared state.
 */
#ifndef SMTP_REPLY_FUZZ_BODY_H
#define SMTP_REPLY_FUZZ_BODY_H

#include <stddef.h>
#include <stdint.h>

void smtp_reply_fuzz_one(const uint8_t *data, size_t size);

#endif
