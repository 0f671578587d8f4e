/*
 * test_mime.c: transfer encodings, encoded words, header folding and the
 * encoding choice, checked by decoding what we wrote.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "compose_header.h"
#include "mime_encode.h"

static size_t max_line(const char *s)
{
    size_t best = 0, cur = 0;
    for (; *s; s++) {
        if (s[0] == '\r' && s[1] == '\n') {
            best = cur > best ? cur : best;
            cur = 0;
            s++;
        } else {
            cur++;
        }
    }
    return cur > best ? cur : best;
}

static int hexv(char c)
{
    return c <= '9' ? c - '0' : c - 'A' + 10;
}

/* Minimal QP decoder for the round trip. */
static size_t qp_decode(const char *in, char *out)
{
    size_t o = 0;
    for (const char *p = in; *p; p++) {
        if (p[0] == '=' && p[1] == '\r' && p[2] == '\n') {
            p += 2;
        } else if (p[0] == '=') {
            out[o++] = (char)(hexv(p[1]) * 16 + hexv(p[2]));
            p += 2;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
    return o;
}

static void test_qp_round_trip(void **state)
{
    (void)state;
    const char *in = "Grüße = 100%   \r\n.leading dot\r\ntrailing tab\t\r\n"
                     "a very long line that goes on and on and on and on and on and on and on "
                     "and on and on and on and on and on and on and end";
    snd_buf b;
    snd_buf_init(&b, 0);
    snd_mime_qp(&b, in, strlen(in));
    assert_true(max_line(b.data) <= 76);
    assert_null(strstr(b.data, " \r\n")); /* trailing space encoded */
    assert_null(strstr(b.data, "\t\r\n"));
    assert_null(strstr(b.data, "\r\n.")); /* leading dot encoded */
    char *dec = malloc(b.len + 1);
    qp_decode(b.data, dec);
    assert_string_equal(dec, in);
    free(dec);
    snd_buf_free(&b);
}

static void test_base64(void **state)
{
    (void)state;
    unsigned char data[1000], back[1000];
    for (int i = 0; i < 1000; i++)
        data[i] = (unsigned char)(i * 31);
    snd_buf b;
    snd_buf_init(&b, 0);
    snd_mime_base64(&b, data, sizeof data);
    assert_true(max_line(b.data) == 76);
    assert_int_equal(snd_base64_decode(b.data, b.len, back, sizeof back), 1000);
    assert_memory_equal(back, data, 1000);
    snd_buf_reset(&b);
    snd_base64_raw(&b, "ab", 2, 1);
    assert_string_equal(b.data, "YWI");
    snd_buf_free(&b);
}

static void test_encoded_words(void **state)
{
    (void)state;
    /* 60 x "é" (2 octets) + emoji: must split into words <= 75, never mid-character. */
    char in[200] = "";
    for (int i = 0; i < 60; i++)
        strcat(in, "\xc3\xa9");
    strcat(in, "\xf0\x9f\x8e\x93");
    snd_buf b;
    snd_buf_init(&b, 0);
    snd_mime_encoded_words(&b, in, strlen(in));
    char joined[400] = "";
    char *copy = strdup(b.data);
    for (char *w = strtok(copy, " "); w; w = strtok(NULL, " ")) {
        assert_true(strlen(w) <= 75);
        assert_int_equal(strncmp(w, "=?UTF-8?B?", 10), 0);
        unsigned char dec[100];
        long n = snd_base64_decode(w + 10, strlen(w) - 12, dec, sizeof dec);
        assert_true(n > 0);
        dec[n] = '\0';
        assert_true(snd_is_valid_utf8((char *)dec, (size_t)n)); /* whole characters */
        strcat(joined, (char *)dec);
    }
    assert_string_equal(joined, in);
    free(copy);
    snd_buf_free(&b);
}

static void test_fold(void **state)
{
    (void)state;
    char value[3000] = "";
    for (int i = 0; i < 200; i++)
        strcat(value, "word12345 ");
    snd_buf b;
    snd_buf_init(&b, 0);
    assert_int_equal(snd_hdr_write(&b, "Subject", value, strlen(value) - 1), 0);
    assert_true(max_line(b.data) <= 78);
    /* Unfolding gives the value back. */
    char *un = malloc(b.len + 1);
    size_t o = 0;
    for (size_t i = 0; i < b.len; i++) {
        if (b.data[i] == '\r' && b.data[i + 1] == '\n') {
            i++;
            continue;
        }
        un[o++] = b.data[i];
    }
    un[o] = '\0';
    assert_int_equal(strncmp(un, "Subject: ", 9), 0);
    value[strlen(value) - 1] = '\0';
    assert_string_equal(un + 9, value);
    free(un);
    /* A single word over 998 cannot be folded: refused. */
    snd_buf_reset(&b);
    char word[1200];
    memset(word, 'x', 1100);
    assert_int_equal(snd_hdr_write(&b, "X", word, 1100), -1);
    snd_buf_free(&b);
}

static void test_choose_cte(void **state)
{
    (void)state;
    assert_int_equal(snd_mime_choose_text_cte("plain\r\ntext\r\n", 13), SND_CTE_7BIT);
    assert_int_equal(snd_mime_choose_text_cte("caf\xc3\xa9 au lait\r\n", 15), SND_CTE_QP);
    assert_int_equal(snd_mime_choose_text_cte("a =_b\r\n", 7), SND_CTE_QP); /* boundary-like */
    char line[1200];
    memset(line, 'a', sizeof line);
    assert_int_equal(snd_mime_choose_text_cte(line, sizeof line), SND_CTE_QP);
    const char *cyr = "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82";
    assert_int_equal(snd_mime_choose_text_cte(cyr, strlen(cyr)), SND_CTE_BASE64);
}

static void test_mailbox_forms(void **state)
{
    (void)state;
    snd_buf b;
    snd_buf_init(&b, 0);
    xd_err err;
    assert_int_equal(snd_hdr_mailbox(&b, "to[0]", "Bob@Example.ORG", "Bob Smith", 0, &err), XD_OK);
    assert_string_equal(b.data, "Bob Smith <Bob@example.org>");
    snd_buf_reset(&b);
    assert_int_equal(snd_hdr_mailbox(&b, "to[0]", "a@b.example", "Smith, Bob \"Q\"", 0, &err),
                     XD_OK);
    assert_string_equal(b.data, "\"Smith, Bob \\\"Q\\\"\" <a@b.example>");
    snd_buf_reset(&b);
    assert_int_equal(snd_hdr_mailbox(&b, "to[0]", "a@münchen.example", "Jürgen", 0, &err), XD_OK);
    assert_string_equal(b.data, "=?UTF-8?B?SsO8cmdlbg==?= <a@xn--mnchen-3ya.example>");
    snd_buf_reset(&b);
    assert_int_equal(snd_hdr_mailbox(&b, "to[0]", "a@münchen.example", "", 1, &err), XD_OK);
    assert_string_equal(b.data, "a@münchen.example"); /* SMTPUTF8 hop: kept as UTF-8 */
    snd_buf_reset(&b);
    assert_int_equal(snd_hdr_mailbox(&b, "to[0]", "a@b.example", "=?UTF-8?B?x?=", 0, &err), XD_OK);
    assert_int_equal(strncmp(b.data, "=?UTF-8?B?", 10), 0); /* look-alike is encoded */
    snd_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qp_round_trip), cmocka_unit_test(test_base64),
        cmocka_unit_test(test_encoded_words), cmocka_unit_test(test_fold),
        cmocka_unit_test(test_choose_cte),    cmocka_unit_test(test_mailbox_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
