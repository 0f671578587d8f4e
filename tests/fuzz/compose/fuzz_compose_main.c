/* fuzz_compose_main.c: the libFuzzer entry point (fuzz_compose with -DXD_FUZZ=ON and
 * clang; replayed without libFuzzer as the unit test fuzz_replay_compose). */
#include "fuzz_compose_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    snd_fuzz_compose_one(data, size);
    return 0;
}
