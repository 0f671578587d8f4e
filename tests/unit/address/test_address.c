/*
 * test_address.c: xd_address_parse against three public address corpora
 * (accuracy with a floor, every miss printed) and hand-written cases for the
 * length limits, IDN conversion, address literals and injection characters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpus.h"
#include "xd/address.h"

/* Accuracy floors, set just under what was measured (see the report). */
#define FLOOR_DOMINIC_TESTS    0.99 /* measured 164/164 */
#define FLOOR_DOMINIC_ORIGINAL 0.97 /* measured 272/279 = 0.9749 */
#define FLOOR_SKEGGSE          0.98 /* measured 207/210 = 0.9857 */
#define FLOOR_JSONSCHEMA       0.99 /* measured 33/33 */

static void corpus_path(char *buf, size_t size, const char *rel)
{
    const char *root = getenv("XD_CORPORA");
    snprintf(buf, size, "%s/%s", root ? root : "/work/shared/corpora", rel);
}

/* Runs every case, prints the misses, returns the fraction that matched. */
static double accuracy(const char *name, const corpus *c)
{
    size_t hits = 0;
    for (size_t i = 0; i < c->n; i++) {
        const corpus_case *k = &c->cases[i];
        xd_address a;
        xd_err err;
        xd_err_clear(&err);
        unsigned opts = k->utf8_ok ? 0 : XD_ADDR_ASCII_ONLY;
        xd_addr_diag d = xd_address_parse(k->input, k->len, opts, &a, NULL, &err);
        int got_valid = d == XD_ADDR_OK;
        if (got_valid == k->valid) {
            hits++;
            continue;
        }
        printf("MISS %s %s: expected %s, got %s; input (%zu octets) \"", name, k->label,
               k->valid ? "valid" : "invalid", xd_address_diag_name(d), k->len);
        for (size_t j = 0; j < k->len && j < 100; j++) {
            unsigned char ch = (unsigned char)k->input[j];
            if (ch < 32 || ch == 127)
                printf("\\x%02x", ch);
            else
                putchar(ch);
        }
        printf("%s\"\n", k->len > 100 ? "..." : "");
    }
    double acc = c->n ? (double)hits / (double)c->n : 0.0;
    printf("ACCURACY %s %zu/%zu = %.4f\n", name, hits, c->n, acc);
    return acc;
}

static void check_csv(const char *rel, const char *name, int hex_col, int valid_col, int label_col,
                      double floor)
{
    char path[512];
    corpus_path(path, sizeof(path), rel);
    corpus c;
    assert_int_equal(corpus_read_csv(path, hex_col, valid_col, label_col, &c), 0);
    assert_true(c.n > 100);
    double acc = accuracy(name, &c);
    corpus_free(&c);
    assert_true(acc >= floor);
}

static void test_corpus_dominic_tests(void **state)
{
    (void)state;
    /* id,address_hex,...,diagnosis(5),...,valid_rfc5321_envelope(8) */
    check_csv("isemail-dominicsayers/tests.csv", "dominicsayers/tests", 1, 8, 5,
              FLOOR_DOMINIC_TESTS);
}

static void test_corpus_dominic_original(void **state)
{
    (void)state;
    check_csv("isemail-dominicsayers/tests-original.csv", "dominicsayers/tests-original", 1, 8, 5,
              FLOOR_DOMINIC_ORIGINAL);
}

static void test_corpus_skeggse(void **state)
{
    (void)state;
    /* index,address_hex_utf8,...,diagnosis(4),...,valid_rfc5321_envelope(7) */
    check_csv("isemail-skeggse-js/tests.csv", "skeggse", 1, 7, 4, FLOOR_SKEGGSE);
}

static void test_corpus_jsonschema(void **state)
{
    (void)state;
    const char *files[] = {"email-jsonschema-test-suite/email.json",
                           "email-jsonschema-test-suite/idn-email.json"};
    corpus all = {0};
    for (size_t f = 0; f < 2; f++) {
        char path[512];
        corpus_path(path, sizeof(path), files[f]);
        corpus c;
        assert_int_equal(corpus_read_jsonschema(path, &c), 0);
        /* Merge so one figure covers the suite. */
        all.cases = realloc(all.cases, (all.n + c.n) * sizeof(*all.cases));
        assert_non_null(all.cases);
        memcpy(all.cases + all.n, c.cases, c.n * sizeof(*c.cases));
        all.n += c.n;
        free(c.cases);
    }
    assert_int_equal(all.n, 33); /* SOURCE.md: 33 string cases */
    double acc = accuracy("jsonschema", &all);
    corpus_free(&all);
    assert_true(acc >= FLOOR_JSONSCHEMA);
}

/* Parses a C string; returns the diagnosis and fills *a. */
static xd_addr_diag parse(const char *s, xd_address *a)
{
    xd_err err;
    xd_err_clear(&err);
    xd_addr_diag d = xd_address_parse(s, strlen(s), 0, a, NULL, &err);
    assert_int_equal(err.code, d == XD_ADDR_OK ? XD_OK : XD_INVALID_ARGUMENT);
    return d;
}

static char *repeat(char *dst, char ch, size_t n)
{
    memset(dst, ch, n);
    dst[n] = '\0';
    return dst;
}

static void test_local_part_limit(void **state)
{
    (void)state;
    char buf[400], local[100];
    xd_address a;
    snprintf(buf, sizeof(buf), "%s@example.com", repeat(local, 'a', 64));
    assert_int_equal(parse(buf, &a), XD_ADDR_OK);
    assert_int_equal(strlen(a.local), 64);
    snprintf(buf, sizeof(buf), "%s@example.com", repeat(local, 'a', 65));
    assert_int_equal(parse(buf, &a), XD_ADDR_LOCAL_TOO_LONG);
    /* Quotes count: 62 characters + 2 quotes = 64. */
    snprintf(buf, sizeof(buf), "\"%s\"@example.com", repeat(local, 'a', 62));
    assert_int_equal(parse(buf, &a), XD_ADDR_OK);
    assert_int_equal(a.quoted, 1);
    snprintf(buf, sizeof(buf), "\"%s\"@example.com", repeat(local, 'a', 63));
    assert_int_equal(parse(buf, &a), XD_ADDR_LOCAL_TOO_LONG);
    /* UTF-8 is counted in octets: 32 x U+00E9 = 64 octets; 33 = 66. */
    char utf[200] = "";
    for (int i = 0; i < 32; i++)
        strcat(utf, "\xc3\xa9");
    snprintf(buf, sizeof(buf), "%s@example.com", utf);
    assert_int_equal(parse(buf, &a), XD_ADDR_OK);
    assert_int_equal(a.needs_smtputf8, 1);
    strcat(utf, "\xc3\xa9");
    snprintf(buf, sizeof(buf), "%s@example.com", utf);
    assert_int_equal(parse(buf, &a), XD_ADDR_LOCAL_TOO_LONG);
}

static void test_label_limit(void **state)
{
    (void)state;
    char buf[400], label[100];
    xd_address a;
    snprintf(buf, sizeof(buf), "x@%s.com", repeat(label, 'b', 63));
    assert_int_equal(parse(buf, &a), XD_ADDR_OK);
    snprintf(buf, sizeof(buf), "x@%s.com", repeat(label, 'b', 64));
    size_t pos = 0;
    xd_err err;
    assert_int_equal(xd_address_parse(buf, strlen(buf), 0, &a, &pos, &err), XD_ADDR_LABEL_TOO_LONG);
    assert_int_equal(pos, 2 + 63); /* first octet past the limit */
    assert_string_equal(err.field, "address");
    assert_non_null(strstr(err.message, "LABEL_TOO_LONG"));
    assert_non_null(strstr(err.message, "octet 65"));
}

/* Builds local@ + labels of 63 'c' joined by dots, padded to exactly total octets. */
static void mailbox_of_length(char *buf, size_t total)
{
    strcpy(buf, "x@");
    size_t n = 2;
    while (n < total) {
        if (n > 2)
            buf[n++] = '.';
        size_t label = total - n > 63 ? 63 : total - n;
        memset(buf + n, 'c', label);
        n += label;
    }
    buf[n] = '\0';
    assert_int_equal(strlen(buf), total);
}

static void test_mailbox_limit(void **state)
{
    (void)state;
    char buf[400];
    xd_address a;
    mailbox_of_length(buf, 254);
    assert_int_equal(parse(buf, &a), XD_ADDR_OK);
    assert_int_equal(strlen(a.domain_ascii), 252);
    mailbox_of_length(buf, 255);
    assert_int_equal(parse(buf, &a), XD_ADDR_TOO_LONG);
}

static void test_idn_round_trip(void **state)
{
    (void)state;
    xd_address a;
    assert_int_equal(parse("user@b\xc3\xbc"
                           "cher.example",
                           &a),
                     XD_ADDR_OK);
    assert_string_equal(a.domain_ascii, "xn--bcher-kva.example");
    assert_string_equal(a.domain_utf8, "b\xc3\xbc"
                                       "cher.example");
    assert_int_equal(a.idn, 1);
    assert_int_equal(a.needs_smtputf8, 0); /* the A-label form needs no SMTPUTF8 */

    assert_int_equal(parse("user@XN--BCHER-KVA.example", &a), XD_ADDR_OK);
    assert_string_equal(a.domain_ascii, "xn--bcher-kva.example");
    assert_string_equal(a.domain_utf8, "b\xc3\xbc"
                                       "cher.example");

    /* Non-transitional: German sharp s stays (not mapped to "ss"). */
    assert_int_equal(parse("u@fa\xc3\x9f.de", &a), XD_ADDR_OK);
    assert_string_equal(a.domain_ascii, "xn--fa-hia.de");
    /* Upper-case U-label is mapped to lower case. */
    assert_int_equal(parse("u@B\xc3\x9c"
                           "CHER.example",
                           &a),
                     XD_ADDR_OK);
    assert_string_equal(a.domain_ascii, "xn--bcher-kva.example");
    /* Not NFC (e + combining acute) is normalized first. */
    assert_int_equal(parse("u@cafe\xcc\x81.com", &a), XD_ADDR_OK);
    assert_string_equal(a.domain_ascii, "xn--caf-dma.com");

    char out[600];
    assert_int_equal(xd_address_format(&a, 1, out, sizeof(out)), strlen("u@caf\xc3\xa9.com"));
    assert_string_equal(out, "u@caf\xc3\xa9.com");

    /* Bad A-labels and disallowed code points are refused. */
    assert_int_equal(parse("u@xn--.com", &a), XD_ADDR_LABEL_HYPHEN);
    assert_int_equal(parse("u@xn--zz9999.com", &a), XD_ADDR_IDN);          /* bad punycode */
    assert_int_equal(parse("u@xn--a-ecp.ru", &a), XD_ADDR_IDN);            /* TR46 refuses */
    assert_int_equal(parse("u@exa\xe2\x98\x83mple.com", &a), XD_ADDR_IDN); /* snowman */
    assert_int_equal(parse("u@a\xe2\x80\x8c"
                           "b.com",
                           &a),
                     XD_ADDR_IDN); /* ZWNJ, CONTEXTJ */
    /* Fullwidth "_" maps to ASCII "_", which no domain label may hold. */
    assert_int_equal(parse("u@a\xef\xbc\xbf"
                           "b.com",
                           &a),
                     XD_ADDR_LABEL_CHAR);
    /* Fullwidth letters map to ASCII. */
    assert_int_equal(parse("u@\xef\xbd\x81\xef\xbd\x82.com", &a), XD_ADDR_OK);
    assert_string_equal(a.domain_ascii, "ab.com");
}

static void test_idn_limits_after_conversion(void **state)
{
    (void)state;
    /* 20 distinct CJK characters: 60 octets as UTF-8 but longer than 63 as an
     * A-label, so the label limit applies to the converted form. */
    char buf[400] = "x@";
    for (int i = 0; i < 20; i++) {
        unsigned cp = 0x4E00 + (unsigned)i * 997;
        char u[4] = {(char)(0xE0 | (cp >> 12)), (char)(0x80 | ((cp >> 6) & 0x3F)),
                     (char)(0x80 | (cp & 0x3F)), 0};
        strcat(buf, u);
    }
    strcat(buf, ".com");
    xd_address a;
    xd_err err;
    assert_int_equal(xd_address_parse(buf, strlen(buf), 0, &a, NULL, &err), XD_ADDR_LABEL_TOO_LONG);
    assert_true(strlen(buf) - 2 - 4 <= 63); /* the UTF-8 label itself fits */
    assert_non_null(strstr(err.message, "A-label"));
}

static void test_literals(void **state)
{
    (void)state;
    xd_address a;
    assert_int_equal(parse("a@[127.0.0.1]", &a), XD_ADDR_OK);
    assert_int_equal(a.literal, 1);
    assert_string_equal(a.domain_ascii, "[127.0.0.1]");
    assert_int_equal(parse("a@[IPv6:::1]", &a), XD_ADDR_OK);
    assert_int_equal(parse("a@[IPv6:1:2:3:4:5:6:7:8]", &a), XD_ADDR_OK);
    assert_int_equal(parse("a@[IPv6:1:2:3:4:5:6::]", &a), XD_ADDR_OK);
    assert_int_equal(parse("a@[IPv6::ffff:127.0.0.1]", &a), XD_ADDR_LITERAL_IPV6);
    assert_int_equal(parse("a@[IPv6:::ffff:127.0.0.1]", &a), XD_ADDR_OK);
    assert_int_equal(parse("a@[IPv6:1:2:3:4:5:6:1.2.3.4]", &a), XD_ADDR_OK);
    assert_int_equal(parse("a@[IPv6:1:2:3:4:5:6:7:1.2.3.4]", &a), XD_ADDR_LITERAL_IPV6);
    assert_int_equal(parse("a@[IPv6:1:2:3:4:5:6::8]", &a), XD_ADDR_LITERAL_IPV6);
    assert_int_equal(parse("a@[IPv6:1::2::3]", &a), XD_ADDR_LITERAL_IPV6);
    assert_int_equal(parse("a@[IPv6:1:::2]", &a), XD_ADDR_LITERAL_IPV6);
    assert_int_equal(parse("a@[IPv6:12345::1]", &a), XD_ADDR_LITERAL_IPV6);
    assert_int_equal(parse("a@[127.0.0.300]", &a), XD_ADDR_LITERAL_IPV4);
    assert_int_equal(parse("a@[127.0.0]", &a), XD_ADDR_LITERAL_IPV4);
    assert_int_equal(parse("a@[x-tag:stuff]", &a), XD_ADDR_LITERAL_TAG);
    assert_int_equal(parse("a@[127.0.0.1", &a), XD_ADDR_LITERAL_UNCLOSED);
}

static void test_local_part_rules(void **state)
{
    (void)state;
    xd_address a;
    assert_int_equal(parse("first.last@example.com", &a), XD_ADDR_OK);
    assert_string_equal(a.local, "first.last");
    assert_int_equal(parse("!#$%&'*+-/=?^_`{|}~@example.com", &a), XD_ADDR_OK);
    assert_int_equal(parse("\"a b@c\\\"d\"@example.com", &a), XD_ADDR_OK);
    assert_string_equal(a.local, "\"a b@c\\\"d\"");
    assert_int_equal(parse(".a@example.com", &a), XD_ADDR_LOCAL_DOT);
    assert_int_equal(parse("a.@example.com", &a), XD_ADDR_LOCAL_DOT);
    assert_int_equal(parse("a..b@example.com", &a), XD_ADDR_LOCAL_DOT);
    assert_int_equal(parse("a b@example.com", &a), XD_ADDR_LOCAL_CHAR);
    assert_int_equal(parse("a(c)@example.com", &a), XD_ADDR_LOCAL_CHAR);
    assert_int_equal(parse("\"a\tb\"@example.com", &a), XD_ADDR_QUOTED_CHAR);
    assert_int_equal(parse("\"ab@example.com", &a), XD_ADDR_QUOTED_UNCLOSED);
    assert_int_equal(parse("\"a\"b@example.com", &a), XD_ADDR_LOCAL_CHAR);
    assert_int_equal(parse("@example.com", &a), XD_ADDR_LOCAL_EMPTY);
    assert_int_equal(parse("example.com", &a), XD_ADDR_NO_AT);
    assert_int_equal(parse("a@", &a), XD_ADDR_DOMAIN_EMPTY);
    assert_int_equal(parse("a@b@c.com", &a), XD_ADDR_LABEL_CHAR);
    assert_int_equal(parse("a@-b.com", &a), XD_ADDR_LABEL_HYPHEN);
    assert_int_equal(parse("a@b-.com", &a), XD_ADDR_LABEL_HYPHEN);
    assert_int_equal(parse("a@b..com", &a), XD_ADDR_LABEL_EMPTY);
    assert_int_equal(parse("a@b.com.", &a), XD_ADDR_LABEL_EMPTY);
    assert_int_equal(parse("a@b_c.com", &a), XD_ADDR_LABEL_CHAR);
    assert_int_equal(parse("", &a), XD_ADDR_EMPTY);
}

static void test_utf8(void **state)
{
    (void)state;
    xd_address a;
    xd_err err;
    const char *greek = "\xce\xb4\xce\xbf\xce\xba@example.com";
    assert_int_equal(parse(greek, &a), XD_ADDR_OK);
    assert_int_equal(a.needs_smtputf8, 1);
    assert_int_equal(xd_address_parse(greek, strlen(greek), XD_ADDR_ASCII_ONLY, &a, NULL, &err),
                     XD_ADDR_NEEDS_SMTPUTF8);
    assert_int_equal(parse("\xc0\x80@example.com", &a), XD_ADDR_BAD_UTF8);     /* overlong */
    assert_int_equal(parse("\xed\xa0\x80@example.com", &a), XD_ADDR_BAD_UTF8); /* surrogate */
    assert_int_equal(parse("\xf4\x90\x80\x80@example.com", &a), XD_ADDR_BAD_UTF8);
    assert_int_equal(parse("\xe2\x82@example.com", &a), XD_ADDR_BAD_UTF8); /* cut */
    assert_int_equal(parse("a@ex\xff.com", &a), XD_ADDR_BAD_UTF8);
}

static void test_injection_rejected(void **state)
{
    (void)state;
    const char *bad[] = {"a@b.com\r\nRCPT TO:<x@y.com>", "a@b.com\n", "a\r@b.com",
                         "\"a\r\nb\"@b.com"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        xd_address a;
        size_t pos = 999;
        xd_err err;
        assert_int_equal(xd_address_parse(bad[i], strlen(bad[i]), 0, &a, &pos, &err),
                         XD_ADDR_UNSAFE_CHAR);
        assert_true(bad[i][pos] == '\r' || bad[i][pos] == '\n');
        assert_int_equal(xd_address_header_safe(bad[i], strlen(bad[i])), 0);
    }
    const char nul[] = "a@b.com\0evil";
    xd_address a;
    size_t pos = 0;
    assert_int_equal(xd_address_parse(nul, sizeof(nul) - 1, 0, &a, &pos, NULL),
                     XD_ADDR_UNSAFE_CHAR);
    assert_int_equal(pos, 7);
    assert_int_equal(xd_address_header_safe(nul, sizeof(nul) - 1), 0);
    assert_int_equal(xd_address_header_safe("a@b.com", 7), 1);
}

static void test_huge_input_bounded(void **state)
{
    (void)state;
    size_t n = 1u << 20;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'a', n);
    big[10] = '@';
    big[n] = '\0';
    xd_address a;
    assert_int_equal(parse(big, &a), XD_ADDR_TOO_LONG);
    big[10] = 'a';
    assert_int_equal(parse(big, &a), XD_ADDR_NO_AT);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_part_limit),
        cmocka_unit_test(test_label_limit),
        cmocka_unit_test(test_mailbox_limit),
        cmocka_unit_test(test_idn_round_trip),
        cmocka_unit_test(test_idn_limits_after_conversion),
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_local_part_rules),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_injection_rejected),
        cmocka_unit_test(test_huge_input_bounded),
        cmocka_unit_test(test_corpus_dominic_tests),
        cmocka_unit_test(test_corpus_dominic_original),
        cmocka_unit_test(test_corpus_skeggse),
        cmocka_unit_test(test_corpus_jsonschema),
    };
    return cmocka_run_group_tests_name("address", tests, NULL, NULL);
}
