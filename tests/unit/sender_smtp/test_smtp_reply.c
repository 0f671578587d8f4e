/*
 * test_smtp_reply.c: the reply parser, enhanced status codes (every code of
 * the IANA registry in both failure classes) and EHLO keyword parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_reply.h"

static snd_smtp_parse_rc feed(snd_smtp_reply_parser *p, const char *line)
{
    return snd_smtp_reply_feed(p, line, strlen(line));
}

static void test_single_line(void **state)
{
    (void)state;
    snd_smtp_reply_parser p;
    snd_smtp_reply_parser_reset(&p);
    assert_int_equal(feed(&p, "250 2.1.0 Sender ok\r"), SND_SMTP_PARSE_DONE);
    assert_int_equal(p.reply.code, 250);
    assert_string_equal(p.reply.enhanced, "2.1.0");
    assert_string_equal(p.reply.text, "Sender ok");

    snd_smtp_reply_parser_reset(&p);
    assert_int_equal(feed(&p, "354"), SND_SMTP_PARSE_DONE); /* code alone is legal */
    assert_int_equal(p.reply.code, 354);
    assert_string_equal(p.reply.text, "");
}

static void test_multi_line(void **state)
{
    (void)state;
    snd_smtp_reply_parser p;
    snd_smtp_reply_parser_reset(&p);
    assert_int_equal(feed(&p, "550-5.1.1 The account does not exist."), SND_SMTP_PARSE_MORE);
    assert_int_equal(feed(&p, "550-5.1.1 Please check"), SND_SMTP_PARSE_MORE);
    assert_int_equal(feed(&p, "550 5.1.1 the address."), SND_SMTP_PARSE_DONE);
    assert_int_equal(p.reply.code, 550);
    assert_string_equal(p.reply.enhanced, "5.1.1");
    assert_string_equal(p.reply.text, "The account does not exist. Please check the address.");
}

static void test_malformed(void **state)
{
    (void)state;
    snd_smtp_reply_parser p;
    const char *bad[] = {"", "25", "2x0 hi", "250x", "600 no", "199 no", "260 no", "abc", "250_x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snd_smtp_reply_parser_reset(&p);
        assert_int_equal(feed(&p, bad[i]), SND_SMTP_PARSE_ERROR);
        assert_true(p.error[0] != '\0');
    }
    snd_smtp_reply_parser_reset(&p);
    assert_int_equal(feed(&p, "250-first"), SND_SMTP_PARSE_MORE);
    assert_int_equal(feed(&p, "251 second"), SND_SMTP_PARSE_ERROR);
    assert_non_null(strstr(p.error, "different codes"));
}

static void test_bounds(void **state)
{
    (void)state;
    snd_smtp_reply_parser p;
    char *line = malloc(SND_SMTP_LINE_MAX + 10);
    memset(line, 'a', SND_SMTP_LINE_MAX + 9);
    memcpy(line, "250 ", 4);
    snd_smtp_reply_parser_reset(&p);
    assert_int_equal(snd_smtp_reply_feed(&p, line, SND_SMTP_LINE_MAX), SND_SMTP_PARSE_DONE);
    assert_true(strlen(p.reply.text) < SND_SMTP_TEXT_MAX); /* kept text truncated */
    snd_smtp_reply_parser_reset(&p);
    assert_int_equal(snd_smtp_reply_feed(&p, line, SND_SMTP_LINE_MAX + 1), SND_SMTP_PARSE_ERROR);
    free(line);

    snd_smtp_reply_parser_reset(&p);
    snd_smtp_parse_rc rc = SND_SMTP_PARSE_MORE;
    int n = 0;
    while (rc == SND_SMTP_PARSE_MORE && n < 100000) {
        rc = feed(&p, "250-x");
        n++;
    }
    assert_int_equal(rc, SND_SMTP_PARSE_ERROR);
    assert_int_equal(n, SND_SMTP_REPLY_LINES + 1);

    /* total size: lines under the line limit but too many bytes together */
    char big[SND_SMTP_LINE_MAX + 1];
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "250-", 4);
    snd_smtp_reply_parser_reset(&p);
    rc = SND_SMTP_PARSE_MORE;
    n = 0;
    while (rc == SND_SMTP_PARSE_MORE && n < 1000) {
        rc = feed(&p, big);
        n++;
    }
    assert_int_equal(rc, SND_SMTP_PARSE_ERROR);
    assert_true((size_t)n * SND_SMTP_LINE_MAX > SND_SMTP_REPLY_MAX);
}

static void test_text_sanitised(void **state)
{
    (void)state;
    snd_smtp_reply_parser p;
    const char line[] = "450 bad\x01\x1b[31m\x7f\xc3\xa9 text";
    snd_smtp_reply_parser_reset(&p);
    assert_int_equal(snd_smtp_reply_feed(&p, line, sizeof(line) - 1), SND_SMTP_PARSE_DONE);
    assert_string_equal(p.reply.text, "bad??[31m??? text");
}

static void test_enhanced(void **state)
{
    (void)state;
    char e[SND_SMTP_ENHANCED_MAX];
    struct {
        const char *in, *want;
    } cases[] = {
        {"5.1.1 user unknown", "5.1.1"},
        {"4.7.28", "4.7.28"},
        {"2.0.0\tok", "2.0.0"},
        {"5.123.123 x", "5.123.123"},
        {"5.1234.1 x", ""},
        {"5.1.1x", ""},
        {"3.1.1 x", ""},
        {"5..1 x", ""},
        {"5.1. x", ""},
        {"5.1", ""},
        {"", ""},
        {"x.1.1", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = snd_smtp_enhanced_parse(cases[i].in, strlen(cases[i].in), e);
        assert_string_equal(e, cases[i].want);
        assert_int_equal(n, strlen(cases[i].want));
    }
    /* a class that disagrees with the reply code is not taken */
    snd_smtp_reply_parser p;
    snd_smtp_reply_parser_reset(&p);
    assert_int_equal(feed(&p, "550 4.2.2 mailbox full"), SND_SMTP_PARSE_DONE);
    assert_string_equal(p.reply.enhanced, "");
    assert_string_equal(p.reply.text, "4.2.2 mailbox full");
}

/* Every code of IANA's registry parses in both failure classes. */
static void test_enhanced_iana_corpus(void **state)
{
    (void)state;
    const char *dir = getenv("XD_CORPORA");
    char path[1024];
    snprintf(path, sizeof(path), "%s/smtp-status-codes/enhanced-status-codes-flat.csv",
             dir ? dir : "../shared/corpora");
    FILE *f = fopen(path, "r");
    if (!f) {
        print_message("corpus missing at %s\n", path);
        fail();
    }
    char line[4096];
    int checked = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned subj, det;
        if (sscanf(line, "X.%u.%u,", &subj, &det) != 2)
            continue;
        for (int cls = 4; cls <= 5; cls++) {
            char reply[64], want[16];
            snprintf(want, sizeof(want), "%d.%u.%u", cls, subj, det);
            snprintf(reply, sizeof(reply), "%d50 %s sample text", cls, want);
            snd_smtp_reply_parser p;
            snd_smtp_reply_parser_reset(&p);
            assert_int_equal(feed(&p, reply), SND_SMTP_PARSE_DONE);
            assert_string_equal(p.reply.enhanced, want);
            assert_string_equal(p.reply.text, "sample text");
            checked++;
        }
    }
    fclose(f);
    print_message("checked %d IANA enhanced codes\n", checked);
    assert_true(checked >= 160); /* 81 codes x 2 classes in the 2020 registry */
}

static void test_ehlo(void **state)
{
    (void)state;
    snd_smtp_ext ext;
    const char r[] = "250-mx.example greets you\r\n250-pipelining\r\n250-SIZE 10240000\r\n"
                     "250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n"
                     "250-STARTTLS\r\n250-AUTH=LOGIN\r\n250-AUTH PLAIN CRAM-MD5\r\n"
                     "250 X-UNKNOWN whatever\r\n";
    assert_int_equal(snd_smtp_ext_parse_reply(&ext, r, sizeof(r) - 1), 0);
    assert_int_equal(ext.flags, SND_SMTP_EXT_PIPELINING | SND_SMTP_EXT_SIZE |
                                    SND_SMTP_EXT_8BITMIME | SND_SMTP_EXT_SMTPUTF8 |
                                    SND_SMTP_EXT_ENHANCEDSTATUSCODES | SND_SMTP_EXT_STARTTLS |
                                    SND_SMTP_EXT_AUTH);
    assert_int_equal(ext.size_max, 10240000);
    assert_int_equal(ext.auth_mechs, SND_SMTP_AUTH_PLAIN | SND_SMTP_AUTH_LOGIN);

    /* the greeting line is not a keyword; SIZE without a number; no extensions */
    const char r2[] = "250-STARTTLS is my name\n250 SIZE\n";
    assert_int_equal(snd_smtp_ext_parse_reply(&ext, r2, sizeof(r2) - 1), 0);
    assert_int_equal(ext.flags, SND_SMTP_EXT_SIZE);
    assert_int_equal(ext.size_max, 0);

    const char r3[] = "250 only-greeting\r\n";
    assert_int_equal(snd_smtp_ext_parse_reply(&ext, r3, sizeof(r3) - 1), 0);
    assert_int_equal(ext.flags, 0);

    const char bad[] = "250-mx\r\n250-PIPELINING\r\n";
    assert_int_equal(snd_smtp_ext_parse_reply(&ext, bad, sizeof(bad) - 1), -1);
    const char huge[] = "250-mx\r\n250 SIZE 99999999999999999999999\r\n";
    assert_int_equal(snd_smtp_ext_parse_reply(&ext, huge, sizeof(huge) - 1), 0);
    assert_int_equal(ext.size_max, 0); /* overflow ignored, not wrapped */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_line),
        cmocka_unit_test(test_multi_line),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_text_sanitised),
        cmocka_unit_test(test_enhanced),
        cmocka_unit_test(test_enhanced_iana_corpus),
        cmocka_unit_test(test_ehlo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
