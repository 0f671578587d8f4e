/*
 * fuzz_smtp_reply.c: libFuzzer entry for the SMTP client's parsers.
 * Run: ./tests/fuzz/run 60 smtp_reply
 */
#include "smtp_reply_fuzz_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    smtp_reply_fuzz_one(data, size);
    return 0;
}
