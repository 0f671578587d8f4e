/*
 * tk_text.h: checks on free-text input and the RFC 3339 times support gives.
 *
 * Nothing here allocates; results go to caller buffers.
 * Thread-safety: pure functions.
 */
#ifndef TK_TEXT_H
#define TK_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* 1 when s is well-formed UTF-8 with no control characters (multi_line
 * allows TAB, LF and CR); 0 otherwise. */
int tk_text_clean(const char *s, int multi_line);

/* 1 when s has at least one non-whitespace character. */
int tk_text_has_content(const char *s);

/* Parses an RFC 3339 date-time WITH a zone ("2026-11-27T09:15:00+01:00",
 * "...T09:15Z", fractional seconds allowed, 't'/' ' as separator) into Unix
 * ms. Returns 0 on success; -1 with reason (a phrase saying what to fix)
 * otherwise. */
int tk_parse_time(const char *text, int64_t *out_ms, char *reason, size_t reason_size);

#endif
