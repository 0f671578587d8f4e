/*
 * fuzz_compose_body.h: one fuzz iteration of the header encoder, composer
 * and DKIM header parser/canonicalizer, shared by the libFuzzer entry point
 * and the replay test (tests/fuzz/replay_main.c). Aborts on a broken invariant.
 * Thread-safety: not thread-safe (static key and buffers).
 */
#ifndef SND_FUZZ_COMPOSE_BODY_H
#define SND_FUZZ_COMPOSE_BODY_H

#include <stddef.h>
#include <stdint.h>

/* Input: a flag byte, then up to 10 NUL-separated fields: subject, from
 * display name, from address, to address, to display name, text body, HTML
 * body, custom header name, custom header value, attachment file name.
 * Returns 1 when a message was composed, 0 when the input was rejected. */
int snd_fuzz_compose_one(const uint8_t *data, size_t size);

#endif
