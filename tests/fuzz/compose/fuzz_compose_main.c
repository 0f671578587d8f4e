/* fuzz_compose_main.c: libFuzzer entry point (built with -DXD_FUZZ=ON and clang). */
#include "fuzz_compose_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    snd_fuzz_compose_one(data, size);
    return 0;
}
