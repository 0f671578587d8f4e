/*
 * test_optout_token.c: the opt-out token codec (common/optout_token.c) and
 * the links built from it: round trip, forgery, other secret, expiry,
 * malformed input, claim validation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "optout_links.h"
#include "xd/optout_token.h"

static const char SECRET[] = "an-opt-out-secret-of-at-least-32-octets!";

static xd_optout_claims claims(void)
{
    xd_optout_claims c;
    memset(&c, 0, sizeof c);
    strcpy(c.org_id, "org-7");
    strcpy(c.recipient, "alice@example.net");
    c.scope = XD_OPTOUT_SCOPE_CATEGORY;
    strcpy(c.category, "registration");
    c.expires_at_s = 2000000000;
    return c;
}

static void test_round_trip(void **state)
{
    (void)state;
    xd_optout_claims c = claims(), got;
    char tok[XD_OPTOUT_TOKEN_MAX];
    xd_err err;
    assert_int_equal(xd_optout_token_make(SECRET, strlen(SECRET), &c, tok, sizeof tok, &err),
                     XD_OK);
    /* URL-safe: no characters that need escaping in a URL or header. */
    for (const char *p = tok; *p; p++)
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", *p));
    assert_int_equal(xd_optout_token_verify(SECRET, strlen(SECRET), tok, 1900000000, &got, &err),
                     XD_OK);
    assert_string_equal(got.org_id, "org-7");
    assert_string_equal(got.recipient, "alice@example.net");
    assert_int_equal(got.scope, XD_OPTOUT_SCOPE_CATEGORY);
    assert_string_equal(got.category, "registration");
    assert_int_equal(got.expires_at_s, 2000000000);
    c.scope = XD_OPTOUT_SCOPE_ORG;
    assert_int_equal(xd_optout_token_make(SECRET, strlen(SECRET), &c, tok, sizeof tok, &err),
                     XD_OK);
    assert_int_equal(xd_optout_token_verify(SECRET, strlen(SECRET), tok, 1900000000, &got, &err),
                     XD_OK);
    assert_int_equal(got.scope, XD_OPTOUT_SCOPE_ORG);
    assert_string_equal(got.category, "");
}

static void test_forgery_and_expiry(void **state)
{
    (void)state;
    xd_optout_claims c = claims(), got;
    char tok[XD_OPTOUT_TOKEN_MAX], bad[XD_OPTOUT_TOKEN_MAX];
    xd_err err;
    assert_int_equal(xd_optout_token_make(SECRET, strlen(SECRET), &c, tok, sizeof tok, &err),
                     XD_OK);
    /* Flip each character of the token in turn: never accepted. */
    size_t n = strlen(tok);
    for (size_t i = 0; i < n; i++) {
        strcpy(bad, tok);
        if (bad[i] == '.')
            continue;
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        xd_code rc = xd_optout_token_verify(SECRET, strlen(SECRET), bad, 1900000000, &got, &err);
        assert_true(rc == XD_UNAUTHENTICATED || rc == XD_INVALID_ARGUMENT);
    }
    /* Another organization's claims with this MAC: refused. */
    xd_optout_claims other = claims();
    strcpy(other.org_id, "org-8");
    char tok2[XD_OPTOUT_TOKEN_MAX];
    xd_optout_token_make(SECRET, strlen(SECRET), &other, tok2, sizeof tok2, &err);
    strcpy(bad, tok2);
    strcpy(strchr(bad, '.'), strchr(tok, '.'));
    assert_int_equal(xd_optout_token_verify(SECRET, strlen(SECRET), bad, 1900000000, &got, &err),
                     XD_UNAUTHENTICATED);
    /* Another secret. */
    const char other_secret[] = "another-secret-that-is-32-octets-long!!";
    assert_int_equal(
        xd_optout_token_verify(other_secret, strlen(other_secret), tok, 1900000000, &got, &err),
        XD_UNAUTHENTICATED);
    /* Expired. */
    assert_int_equal(xd_optout_token_verify(SECRET, strlen(SECRET), tok, 2000000001, &got, &err),
                     XD_FAILED_PRECONDITION);
    assert_int_equal(xd_optout_token_verify(SECRET, strlen(SECRET), tok, 2000000000, &got, &err),
                     XD_OK);
}

static void test_malformed(void **state)
{
    (void)state;
    xd_optout_claims got;
    xd_err err;
    const char *bad[] = {"", ".", "abc", "abc.", ".abc", "a.b.c", "!!!!.????", "A.AAAA"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(xd_optout_token_verify(SECRET, strlen(SECRET), bad[i], 0, &got, &err),
                         XD_INVALID_ARGUMENT);
    assert_int_equal(xd_optout_token_verify(SECRET, strlen(SECRET), NULL, 0, &got, &err),
                     XD_INVALID_ARGUMENT);
    char huge[4096];
    memset(huge, 'A', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    huge[100] = '.';
    assert_int_equal(xd_optout_token_verify(SECRET, strlen(SECRET), huge, 0, &got, &err),
                     XD_INVALID_ARGUMENT);
}

static void test_make_checks(void **state)
{
    (void)state;
    char tok[XD_OPTOUT_TOKEN_MAX];
    xd_err err;
    xd_optout_claims c = claims();
    assert_int_equal(xd_optout_token_make("short", 5, &c, tok, sizeof tok, &err),
                     XD_INVALID_ARGUMENT);
    strcpy(c.recipient, "a@b\nscope");
    assert_int_equal(xd_optout_token_make(SECRET, strlen(SECRET), &c, tok, sizeof tok, &err),
                     XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, "recipient");
    c = claims();
    c.category[0] = '\0';
    assert_int_equal(xd_optout_token_make(SECRET, strlen(SECRET), &c, tok, sizeof tok, &err),
                     XD_INVALID_ARGUMENT);
    c = claims();
    c.scope = XD_OPTOUT_SCOPE_UNSPECIFIED;
    assert_int_equal(xd_optout_token_make(SECRET, strlen(SECRET), &c, tok, sizeof tok, &err),
                     XD_INVALID_ARGUMENT);
    c = claims();
    assert_int_equal(xd_optout_token_make(SECRET, strlen(SECRET), &c, tok, 20, &err),
                     XD_INVALID_ARGUMENT);
}

static void test_links(void **state)
{
    (void)state;
    snd_optout_config cfg = {SECRET, strlen(SECRET), "https://mail.example.org/u",
                             "unsub@mail.example.org", 0};
    snd_optout_links l;
    xd_err err;
    assert_int_equal(snd_optout_links_make(&cfg, "org-7", "bob@example.net", 1, "news",
                                           1795000000000LL, &l, &err),
                     XD_OK);
    assert_int_equal(strncmp(l.url, "https://mail.example.org/u?t=", 29), 0);
    assert_string_equal(l.url + 29, l.token);
    assert_int_equal(strncmp(l.mailto, "mailto:unsub@mail.example.org?subject=unsubscribe%20", 52),
                     0);
    xd_optout_claims got;
    assert_int_equal(
        xd_optout_token_verify(SECRET, strlen(SECRET), l.token, 1795000000, &got, &err), XD_OK);
    assert_int_equal(got.scope, XD_OPTOUT_SCOPE_ORG); /* marketing: organization-wide */
    assert_int_equal(got.expires_at_s, 1795000000 + 365 * 86400);
    const char *bad_urls[] = {"http://mail.example.org/u", "https://x/u?a=b", "https://x/\"><",
                              "ftp://x", "https://"};
    for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
        cfg.base_url = bad_urls[i];
        assert_int_equal(snd_optout_config_check(&cfg, &err), XD_INVALID_ARGUMENT);
        assert_string_equal(err.field, "optout.base_url");
    }
    cfg.base_url = "https://mail.example.org/u";
    cfg.mailto = "not-an-address";
    assert_int_equal(snd_optout_config_check(&cfg, &err), XD_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_forgery_and_expiry),
        cmocka_unit_test(test_malformed),  cmocka_unit_test(test_make_checks),
        cmocka_unit_test(test_links),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
