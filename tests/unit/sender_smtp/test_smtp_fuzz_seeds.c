/*
 * test_smtp_fuzz_seeds.c: the libFuzzer body (tests/fuzz/smtp_reply) run
 * deterministically over every seed and fixed mutations of each (byte
 * flips, inserted CR/LF/'.'/'-', truncations, repeats), so every build
 * exercises the same invariants the fuzzer checks. The body aborts on a
 * broken invariant; ASan/UBSan catch memory errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_reply_fuzz_body.h"

#define MUTATIONS_PER_SEED 3000

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t next_rand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static size_t mutate(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    static const uint8_t special[] = {'\r', '\n', '.', '-', ' ', '0', '5', 0, 0xff, '2'};
    size_t len = n < cap ? n : cap;
    memcpy(out, in, len);
    int ops = 1 + (int)(next_rand() % 4);
    for (int k = 0; k < ops; k++) {
        uint64_t r = next_rand();
        size_t at = len ? (size_t)(r >> 8) % len : 0;
        switch (r % 5) {
        case 0: /* flip a bit */
            if (len)
                out[at] ^= (uint8_t)(1u << ((r >> 40) % 8));
            break;
        case 1: /* insert a special byte */
            if (len < cap) {
                memmove(out + at + 1, out + at, len - at);
                out[at] = special[(r >> 32) % sizeof(special)];
                len++;
            }
            break;
        case 2: /* truncate */
            len = at;
            break;
        case 3: /* duplicate a slice (repeats lines, builds long replies) */
        {
            size_t sl = len - at;
            if (sl > 0 && len + sl <= cap) {
                memcpy(out + len, out + at, sl);
                len += sl;
            }
            break;
        }
        default: /* replace with a special byte */
            if (len)
                out[at] = special[(r >> 24) % sizeof(special)];
        }
    }
    return len;
}

static void test_seeds_and_mutations(void **state)
{
    (void)state;
    const char *src = getenv("XD_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/tests/fuzz/smtp_reply/seeds", src ? src : ".");
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    int seeds = 0;
    size_t cap = 1 << 16;
    uint8_t *buf = malloc(cap), *mut = malloc(cap);
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[2048];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        size_t n = fread(buf, 1, cap, f);
        fclose(f);
        smtp_reply_fuzz_one(buf, n);
        for (int i = 0; i < MUTATIONS_PER_SEED; i++) {
            size_t m = mutate(buf, n, mut, cap);
            smtp_reply_fuzz_one(mut, m);
        }
        seeds++;
    }
    closedir(d);
    free(buf);
    free(mut);
    print_message("ran %d seeds x %d mutations\n", seeds, MUTATIONS_PER_SEED);
    assert_true(seeds >= 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_seeds_and_mutations)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
