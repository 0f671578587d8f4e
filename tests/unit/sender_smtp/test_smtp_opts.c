/*
 * test_smtp_opts.c: bad options and bad send arguments are refused with
 * INVALID_ARGUMENT naming the field, before any connection is made.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "smtp_client.h"

static void expect_bad(const snd_smtp_opts *o, const char *field)
{
    snd_smtp_session *s = NULL;
    snd_smtp_status st;
    xd_err err;
    xd_err_clear(&err);
    assert_int_equal(snd_smtp_open(o, &s, &st, &err), XD_INVALID_ARGUMENT);
    assert_null(s);
    assert_string_equal(err.field, field);
    assert_true(err.message[0] != '\0');
}

static void test_bad_opts(void **state)
{
    (void)state;
    snd_smtp_opts o;
    snd_smtp_opts_init(&o);
    assert_int_equal(o.port, 25);
    assert_int_equal(o.tls, SND_SMTP_TLS_REQUIRED);
    assert_int_equal(o.tls_no_verify, 0);
    expect_bad(&o, "host"); /* no host */
    o.host = "mx.example\r\nRCPT";
    expect_bad(&o, "host");
    o.host = "127.0.0.1";
    o.helo_name = "me\r\nMAIL FROM:<x>";
    expect_bad(&o, "helo_name");
    o.helo_name = "me.example";
    o.tls = (snd_smtp_tls_policy)9;
    expect_bad(&o, "tls");
    o.tls = SND_SMTP_TLS_OFF;
    o.username = "user";
    o.password = "secret";
    expect_bad(&o, "tls"); /* AUTH in clear text refused unless allowed */
    o.tls = SND_SMTP_TLS_REQUIRED;
    o.password = "sec\r\nret";
    expect_bad(&o, "password");
    o.password = "secret";
    o.ca_file = "/nonexistent/ca.pem";
    expect_bad(&o, "ca_file");
}

static void test_bad_send_args(void **state)
{
    (void)state;
    snd_smtp_status res[1], st;
    xd_err err;
    const char *rcpt[] = {"a@example.test"};
    const char *bad_rcpt[] = {"a@example.test>\r\nDATA"};
    assert_int_equal(snd_smtp_send(NULL, "", rcpt, 1, "x", 1, res, &st, &err), XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, "session");
    /* argument checks come before the session check, so a dummy pointer is never used */
    snd_smtp_session *fake = (snd_smtp_session *)&err;
    assert_int_equal(snd_smtp_send(fake, "x\r\n", rcpt, 1, "x", 1, res, &st, &err),
                     XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, "envelope_from");
    assert_int_equal(snd_smtp_send(fake, "", bad_rcpt, 1, "x", 1, res, &st, &err),
                     XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, "rcpts");
    assert_int_equal(snd_smtp_send(fake, "", rcpt, 0, "x", 1, res, &st, &err), XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, "rcpts");
    assert_int_equal(snd_smtp_send(fake, "", rcpt, 1, NULL, 5, res, &st, &err),
                     XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, "message");
}

/* RFC 5321 section 4.5.3.2 defaults; a configured value is kept. */
static void test_default_timeouts(void **state)
{
    (void)state;
    snd_smtp_timeouts t;
    memset(&t, 0, sizeof(t));
    t.rcpt_ms = 1234;
    snd_smtp_timeouts_fill_defaults(&t);
    assert_int_equal(t.greeting_ms, 5 * 60 * 1000);
    assert_int_equal(t.mail_ms, 5 * 60 * 1000);
    assert_int_equal(t.rcpt_ms, 1234);
    assert_int_equal(t.data_init_ms, 2 * 60 * 1000);
    assert_int_equal(t.data_block_ms, 3 * 60 * 1000);
    assert_int_equal(t.data_end_ms, 10 * 60 * 1000);
    assert_int_equal(t.connect_ms, 30 * 1000);
    assert_true(t.ehlo_ms > 0 && t.starttls_ms > 0 && t.auth_ms > 0 && t.rset_ms > 0 &&
                t.quit_ms > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_opts),
        cmocka_unit_test(test_bad_send_args),
        cmocka_unit_test(test_default_timeouts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
