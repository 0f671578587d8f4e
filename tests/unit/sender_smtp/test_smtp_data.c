/*
 * test_smtp_data.c: dot-stuffing and CRLF normalisation of the DATA body,
 * including chunk boundaries that fall inside a CRLF or a doubled dot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "smtp_data.h"

/* Encodes msg with chunks of `chunk` bytes; returns a malloc'd string. */
static char *encode(const char *msg, size_t len, size_t chunk, size_t *out_len)
{
    snd_smtp_dot_encoder e;
    size_t cap = 2 * len + 16, total = 0, n;
    char *out = malloc(cap + chunk);
    snd_smtp_dot_encoder_init(&e, msg, len);
    while ((n = snd_smtp_dot_encode(&e, out + total, chunk)) > 0)
        total += n;
    out[total] = '\0';
    *out_len = total;
    return out;
}

static void expect(const char *in, const char *want)
{
    size_t chunks[] = {8, 9, 10, 11, 64, 4096};
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        size_t n;
        char *got = encode(in, strlen(in), chunks[i], &n);
        assert_string_equal(got, want);
        assert_int_equal(n, strlen(want));
        assert_int_equal(snd_smtp_dot_encoded_size(in, strlen(in)), strlen(want));
        free(got);
    }
}

static void test_dot_stuffing(void **state)
{
    (void)state;
    expect("", ".\r\n");
    expect("a", "a\r\n.\r\n");
    expect(".", "..\r\n.\r\n");
    expect(".\r\n", "..\r\n.\r\n");
    expect("x\r\n.\r\ny\r\n", "x\r\n..\r\ny\r\n.\r\n");
    expect("..two\r\n", "...two\r\n.\r\n");
    expect("a.b\r\n .c\r\n", "a.b\r\n .c\r\n.\r\n"); /* only at line start */
    expect("Subject: s\n\n.hidden\nend", "Subject: s\r\n\r\n..hidden\r\nend\r\n.\r\n");
}

static void test_line_endings(void **state)
{
    (void)state;
    expect("a\nb\n", "a\r\nb\r\n.\r\n");
    expect("a\rb\r", "a\r\nb\r\n.\r\n");
    expect("a\r\r\nb", "a\r\n\r\nb\r\n.\r\n");
    expect("a\n\rb", "a\r\n\r\nb\r\n.\r\n");
    expect("\r\n.\r\n", "\r\n..\r\n.\r\n"); /* a lone dot line cannot end the body early */
    expect("\n.", "\r\n..\r\n.\r\n");
}

static void test_large_and_8bit(void **state)
{
    (void)state;
    size_t len = 300000;
    char *msg = malloc(len);
    for (size_t i = 0; i < len; i++)
        msg[i] = (i % 50 == 49) ? '\n' : (i % 50 == 0 ? '.' : 'x');
    size_t n;
    char *got = encode(msg, len, 65536, &n);
    /* 6000 lines: each LF -> CRLF, each leading '.' doubled, + ".\r\n" */
    assert_int_equal(n, len + 6000 + 6000 + 3);
    assert_int_equal(snd_smtp_dot_encoded_size(msg, len), n);
    assert_false(snd_smtp_has_8bit(msg, len));
    msg[1234] = (char)0xc3;
    assert_true(snd_smtp_has_8bit(msg, len));
    free(got);
    free(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dot_stuffing),
        cmocka_unit_test(test_line_endings),
        cmocka_unit_test(test_large_and_8bit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
