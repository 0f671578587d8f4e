/*
 * test_canon_fast.c: the fast paths of relaxed body canonicalization, the
 * transfer-encoding choice and CRLF normalization against plain octet-by-
 * octet reference implementations (RFC 6376 3.4.4 and the rules in
 * mime_encode.h, written here the obvious way), on 200,000 random inputs
 * over the octets that matter (letters, space, tab, CR, LF, '=', '_',
 * 0x7F, 0x80, NUL) and on long lines around the 998-octet limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "compose_buf.h"
#include "dkim_canon.h"
#include "mime_encode.h"

static int wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 6376 3.4.4: WSP runs -> one SP, none at line end; no empty lines at
 * the end; a non-empty body ends in CRLF. Lines end at CRLF only. */
static void ref_body_relaxed(snd_buf *out, const char *b, size_t n)
{
    snd_buf lines;
    snd_buf_init(&lines, 0);
    size_t i = 0, keep = 0;
    while (i < n) {
        size_t eol = i;
        while (eol < n && !(b[eol] == '\r' && eol + 1 < n && b[eol + 1] == '\n'))
            eol++;
        int pending = 0;
        for (size_t k = i; k < eol; k++) {
            if (wsp(b[k])) {
                pending = 1;
                continue;
            }
            if (pending)
                snd_buf_putc(&lines, ' ');
            pending = 0;
            snd_buf_putc(&lines, b[k]);
        }
        snd_buf_append(&lines, "\r\n", 2);
        size_t line_len = 0;
        for (size_t k = i; k < eol; k++)
            line_len += !wsp(b[k]);
        if (line_len)
            keep = lines.len;
        i = eol < n ? eol + 2 : n;
    }
    snd_buf_append(out, lines.data ? lines.data : "", keep);
    snd_buf_free(&lines);
}

static snd_cte ref_cte(const char *t, size_t n)
{
    size_t line = 0, esc = 0;
    int plain = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c == '\r' && i + 1 < n && t[i + 1] == '\n') {
            line = 0;
            i++;
            continue;
        }
        if (c >= 0x80 || c == 0 || c == '\r' || c == '\n' || (c < 0x20 && c != '\t')) {
            plain = 0;
            esc++;
        } else if (c == '=') {
            esc++;
            if (i + 1 < n && t[i + 1] == '_')
                plain = 0;
        }
        if (++line > 998)
            plain = 0;
    }
    return plain ? SND_CTE_7BIT : esc * 4 > n ? SND_CTE_BASE64 : SND_CTE_QP;
}

static void ref_crlf(snd_buf *out, const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '\r' || t[i] == '\n') {
            snd_buf_append(out, "\r\n", 2);
            if (t[i] == '\r' && i + 1 < n && t[i + 1] == '\n')
                i++;
        } else {
            snd_buf_putc(out, t[i]);
        }
    }
}

static const char ALPHABET[] = {'a',  'b',  ' ', ' ', '\t', '\r',       '\n',
                                '\r', '\n', '=', '_', 0x7f, (char)0x80, 0};

static void check_one(const char *in, size_t n)
{
    snd_buf a, b;
    snd_buf_init(&a, 0);
    snd_buf_init(&b, 0);
    snd_dkim_canon_body_relaxed(&a, in, n);
    ref_body_relaxed(&b, in, n);
    if (a.len != b.len || memcmp(a.data ? a.data : "", b.data ? b.data : "", a.len) != 0)
        fail_msg("relaxed body differs for a %zu-octet input", n);
    assert_int_equal(snd_mime_choose_text_cte(in, n), ref_cte(in, n));
    snd_buf_reset(&a);
    snd_buf_reset(&b);
    snd_mime_crlf_normalize(&a, in, n);
    ref_crlf(&b, in, n);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data ? a.data : "", b.data ? b.data : "", a.len);
    snd_buf_free(&a);
    snd_buf_free(&b);
}

static void test_random_inputs(void **state)
{
    (void)state;
    srand(12345);
    char in[64];
    for (int round = 0; round < 200000; round++) {
        size_t n = (size_t)(rand() % (int)sizeof in);
        for (size_t i = 0; i < n; i++)
            in[i] = ALPHABET[rand() % (int)sizeof ALPHABET];
        check_one(in, n);
    }
}

static void test_long_lines(void **state)
{
    (void)state;
    static char in[3000];
    for (size_t len = 995; len <= 1001; len++) {
        memset(in, 'x', sizeof in);
        check_one(in, len);
        in[len] = '\r';
        in[len + 1] = '\n';
        check_one(in, len + 2);
        check_one(in, len + 40);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_inputs),
        cmocka_unit_test(test_long_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
