/*
 * seed_runner.c: the fuzz harness body as a normal unit test: every seed in
 * tests/fuzz/compose/seeds, then a fixed number of deterministic mutations
 * of each (byte flips, CR/LF/NUL insertions, truncations), so the suite
 * exercises the harness without clang. Aborts (fails) on a broken
 * invariant.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_compose_body.h"

#define MUTATIONS_PER_SEED 300

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static void mutate(uint8_t *buf, size_t *n, size_t cap, uint32_t *rng)
{
    static const uint8_t specials[] = {'\r', '\n', 0, ':', ' ', '=', '?', 0xc3, 0xff, '"', '<'};
    int ops = 1 + (int)(lcg(rng) % 4);
    for (int k = 0; k<ops && * n> 0; k++) {
        size_t at = lcg(rng) % *n;
        switch (lcg(rng) % 4) {
        case 0:
            buf[at] ^= (uint8_t)(1u << (lcg(rng) % 8));
            break;
        case 1:
            buf[at] = specials[lcg(rng) % sizeof specials];
            break;
        case 2:
            if (*n < cap) {
                memmove(buf + at + 1, buf + at, *n - at);
                buf[at] = specials[lcg(rng) % sizeof specials];
                (*n)++;
            }
            break;
        default:
            *n = at + 1;
            break;
        }
    }
}

int main(void)
{
    char dir[1024];
    const char *src = getenv("XD_SOURCE_DIR");
    snprintf(dir, sizeof dir, "%s/tests/fuzz/compose/seeds", src ? src : ".");
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "no seed corpus at %s\n", dir);
        return 1;
    }
    struct dirent *e;
    int seeds = 0;
    long runs = 0, composed = 0;
    uint32_t rng = 12345;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        uint8_t seed[8192], buf[8192 + 64];
        size_t n = fread(seed, 1, sizeof seed, f);
        fclose(f);
        composed += snd_fuzz_compose_one(seed, n);
        runs++;
        for (int i = 0; i < MUTATIONS_PER_SEED; i++) {
            size_t m = n;
            memcpy(buf, seed, n);
            mutate(buf, &m, sizeof buf, &rng);
            composed += snd_fuzz_compose_one(buf, m);
            runs++;
        }
        seeds++;
    }
    closedir(d);
    printf("compose fuzz seeds: %d seeds, %ld runs, %ld composed, no invariant broken\n", seeds,
           runs, composed);
    /* Both paths must be exercised: composing and rejecting. */
    return seeds > 0 && composed > 0 && composed < runs ? 0 : 1;
}
