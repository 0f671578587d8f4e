/* replay_main.c: runs a libFuzzer harness without libFuzzer, so every build's
 * test suite exercises it: each seed file in $XD_FUZZ_SEEDS, then
 * $XD_FUZZ_MUTATIONS (default 20000) deterministic mutations of the seeds
 * (bit flips, byte sets, truncations, splices). Sanitizers catch the bugs. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SEEDS     256
#define MAX_SEED_SIZE (256 * 1024)

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t next_random(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static size_t mutate(const uint8_t *in, size_t n, uint8_t *out, size_t cap, const uint8_t *other,
                     size_t other_n)
{
    if (n > cap)
        n = cap;
    memcpy(out, in, n);
    int ops = 1 + (int)(next_random() % 4);
    for (int i = 0; i < ops && n > 0; i++) {
        size_t pos = next_random() % n;
        switch (next_random() % 5) {
        case 0:
            out[pos] ^= (uint8_t)(1u << (next_random() % 8));
            break;
        case 1:
            out[pos] = (uint8_t)next_random();
            break;
        case 2:
            n = pos;
            break; /* truncate */
        case 3: {  /* splice a piece of another seed */
            if (!other_n)
                break;
            size_t from = next_random() % other_n, len = next_random() % 64;
            if (from + len > other_n)
                len = other_n - from;
            if (pos + len > cap)
                len = cap - pos;
            memcpy(out + pos, other + from, len);
            if (pos + len > n)
                n = pos + len;
            break;
        }
        default: { /* interesting bytes */
            static const uint8_t special[] = {0, 0xff, 0x7f, 0x80, '\r', '\n', ':', '"', '\\'};
            out[pos] = special[next_random() % sizeof(special)];
        }
        }
    }
    return n;
}

int main(void)
{
    const char *dir = getenv("XD_FUZZ_SEEDS");
    long mutations = getenv("XD_FUZZ_MUTATIONS") ? atol(getenv("XD_FUZZ_MUTATIONS")) : 20000;
    static uint8_t *seeds[MAX_SEEDS];
    static size_t sizes[MAX_SEEDS];
    int n = 0;
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d) {
        fprintf(stderr, "XD_FUZZ_SEEDS must name a directory of seed files\n");
        return 1;
    }
    struct dirent *e;
    while ((e = readdir(d)) && n < MAX_SEEDS) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        seeds[n] = malloc(MAX_SEED_SIZE);
        sizes[n] = fread(seeds[n], 1, MAX_SEED_SIZE, f);
        fclose(f);
        LLVMFuzzerTestOneInput(seeds[n], sizes[n]);
        n++;
    }
    closedir(d);
    if (n == 0) {
        fprintf(stderr, "no seeds in %s\n", dir);
        return 1;
    }
    uint8_t *buf = malloc(MAX_SEED_SIZE);
    for (long i = 0; i < mutations; i++) {
        int a = (int)(next_random() % (uint64_t)n), b = (int)(next_random() % (uint64_t)n);
        size_t len = mutate(seeds[a], sizes[a], buf, MAX_SEED_SIZE, seeds[b], sizes[b]);
        LLVMFuzzerTestOneInput(buf, len);
    }
    printf("replayed %d seeds and %ld mutations\n", n, mutations);
    for (int i = 0; i < n; i++)
        free(seeds[i]);
    free(buf);
    return 0;
}
