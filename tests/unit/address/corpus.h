/*
 * corpus.h: readers for the address corpora in $XD_CORPORA (test-only).
 *
 * A corpus becomes a list of cases: the exact input octets, whether the
 * corpus calls it a valid RFC 5321 envelope mailbox, and a label to show
 * when the parser disagrees. The list owns its memory; free it with
 * corpus_free(). Single-threaded.
 */
#ifndef TEST_ADDRESS_CORPUS_H
#define TEST_ADDRESS_CORPUS_H

#include <stddef.h>

typedef struct corpus_case {
    char *input; /* decoded octets, NUL-terminated for printing */
    size_t len;
    int valid;   /* expectation: 1 valid envelope mailbox, 0 invalid */
    int utf8_ok; /* 1 when SMTPUTF8 local parts count as valid */
    char label[160];
} corpus_case;

typedef struct corpus {
    corpus_case *cases;
    size_t n;
} corpus;

/* Reads a CSV (RFC 4180 quoting) made for the corpus: hex_col holds the hex of
 * the input, valid_col "yes"/"no", label_col a diagnosis shown on a miss.
 * Returns 0 on success, -1 with a message on stderr. */
int corpus_read_csv(const char *path, int hex_col, int valid_col, int label_col, corpus *out);

/* Reads a JSON-Schema-Test-Suite format file with jansson; string data only. */
int corpus_read_jsonschema(const char *path, corpus *out);

void corpus_free(corpus *c);

#endif
