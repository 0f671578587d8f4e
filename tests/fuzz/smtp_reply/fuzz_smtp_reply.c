/*
 * fuzz_smtp_reply.c: libFuzzer entry for the SMTP client's parsers.
 * Run: build/tests/fuzz/smtp_reply/fuzz_smtp_reply tests/fuzz/smtp_reply/seeds
 */
#include "smtp_reply_fuzz_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    smtp_reply_fuzz_one(data, size);
    return 0;
}
