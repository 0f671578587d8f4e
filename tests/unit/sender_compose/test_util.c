/* test_util.c: helpers for the sender_compose tests (see test_util.h). */
#include "test_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = (size_t)n;
    }
    return buf;
}

int tu_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

void tu_corpus_path(const char *rel, char *out, size_t size)
{
    const char *base = getenv("XD_CORPORA");
    snprintf(out, size, "%s/%s", base && base[0] ? base : "/work/shared/corpora", rel);
}

void tu_helper_path(const char *name, char *out, size_t size)
{
    const char *src = getenv("XD_SOURCE_DIR");
    snprintf(out, size, "%s/tests/unit/sender_compose/%s", src ? src : ".", name);
}

int tu_csv_value(const char *csv, const char *item, char *out, size_t size)
{
    size_t n = strlen(item);
    for (const char *line = csv; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, item, n) == 0 && line[n] == ',') {
            const char *v = line + n + 1, *end = strchr(v, ',');
            size_t len = end ? (size_t)(end - v) : strcspn(v, "\r\n");
            if (len >= size)
                return -1;
            memcpy(out, v, len);
            out[len] = '\0';
            return 0;
        }
    }
    return -1;
}

int tu_tempdir(char *out, size_t size)
{
    const char *t = getenv("TMPDIR");
    snprintf(out, size, "%s/xd-compose-XXXXXX", t && t[0] ? t : "/tmp");
    return mkdtemp(out) ? 0 : -1;
}

void tu_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

int tu_run(const char *cmd)
{
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}
