/* seed_main.c: runs the JSON fuzz harness once over every seed file, so the
 * seeds are checked by every build (ctest), not only by -DXD_FUZZ=ON. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(void)
{
    const char *src = getenv("XD_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/tests/fuzz/json/seeds", src ? src : ".");
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "no seed directory %s\n", dir);
        return 1;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[2048];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        static uint8_t buf[1 << 16];
        size_t len = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, len);
        n++;
    }
    closedir(d);
    printf("%d seeds ran through the JSON harness\n", n);
    return n >= 10 ? 0 : 1;
}
