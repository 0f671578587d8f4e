/*
 * test_util.h: small helpers shared by the sender_compose tests: reading
 * corpus files, temp dirs, running the independent verifiers.
 * Memory: returned buffers are malloc'd; the caller frees them.
 */
#ifndef SND_TEST_UTIL_H
#define SND_TEST_UTIL_H

#include <stddef.h>

/* Whole file into a NUL-terminated malloc'd buffer; NULL when unreadable. */
char *tu_read_file(const char *path, size_t *len);
int tu_write_file(const char *path, const void *data, size_t len);
/* "$XD_CORPORA/<rel>" (falls back to /work/shared/corpora). */
void tu_corpus_path(const char *rel, char *out, size_t size);
/* "$XD_SOURCE_DIR/tests/unit/sender_compose/<name>". */
void tu_helper_path(const char *name, char *out, size_t size);
/* Value of `item` in a CSV of item,value,... lines into out; 0 or -1. */
int tu_csv_value(const char *csv, const char *item, char *out, size_t size);
/* mkdtemp under $TMPDIR or /tmp; returns a static-lifetime copy in out. */
int tu_tempdir(char *out, size_t size);
/* Removes a temp dir and its files (one level). */
void tu_rmdir(const char *dir);
/* Runs a shell command, returns its exit status (-1 on failure to run). */
int tu_run(const char *cmd);

#endif
