/*
 * test_banner_compose.c: where the composer puts a banner. The text form
 * opens the text part, the HTML block follows <body>, "cid:banner" in the
 * block becomes the message's own Content-ID and the image travels in
 * multipart/related under that id; no second <img> is added then; the
 * alt text is escaped; a banner stored with the message (snd_message.banner)
 * is used when the options carry none; composing twice gives the same
 * octets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compose_message.h"

static const char SECRET[] = "0123456789abcdef0123456789abcdef-banner-test";

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static char *compose(const snd_message *m, const snd_banner *opt_banner)
{
    snd_optout_config oc = {SECRET, strlen(SECRET), "https://mail.example.org/u",
                            "unsub@example.org", 86400000LL * 30};
    snd_address to = m->to[0];
    snd_compose_opts o = {.message_id = "mBANNER1",
                          .recipient_id = "mBANNER1-1",
                          .recipient = &to,
                          .date_ms = 1800000000000LL,
                          .banner = opt_banner,
                          .optout = &oc};
    snd_buf out;
    snd_buf_init(&out, SND_MAX_MESSAGE);
    xd_err err;
    xd_code rc = snd_compose(m, &o, &out, &err);
    if (rc != XD_OK)
        fail_msg("compose: %s", err.message);
    char *s = malloc(out.len + 1);
    memcpy(s, out.data, out.len);
    s[out.len] = '\0';
    snd_buf_free(&out);
    return s;
}

static const unsigned char PNG[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13};

static void message(snd_message *m, const snd_address *to)
{
    memset(m, 0, sizeof *m);
    m->org_id = "org-a";
    m->module = "registration";
    m->from = (snd_address){"news@org.example", "Org"};
    m->to = to;
    m->n_to = 1;
    m->subject = "Banner";
    m->text_body = "Body text.";
    m->html_body = "<html><body class=\"x\"><p>Body html.</p></body></html>";
    m->category = SND_CATEGORY_TRANSACTIONAL;
}

static void test_cid_rewritten_and_placed(void **state)
{
    (void)state;
    snd_address to = {"pat@example.net", NULL};
    snd_message m;
    message(&m, &to);
    snd_banner b = {.html = "<div id=\"bn\"><img src=\"CID:banner\" width=\"600\"></div>",
                    .text = "ORG BANNER TEXT",
                    .image = PNG,
                    .image_len = sizeof PNG,
                    .image_type = "image/png",
                    .image_alt = "Org <logo>"};
    m.banner = &b; /* stored with the message; no banner in the options */
    char *s = compose(&m, NULL);
    const char *cid_hdr = strstr(s, "Content-ID: <banner.");
    assert_non_null(cid_hdr);
    char cid[128];
    assert_int_equal(sscanf(cid_hdr, "Content-ID: <%127[^>]>", cid), 1);
    char want[200];
    snprintf(want, sizeof want, "<body class=\"x\"><div id=\"bn\"><img src=\"cid:%s\" width=", cid);
    assert_non_null(strstr(s, want));
    assert_int_equal(count(s, "<img"), 1); /* the block shows it: no extra <img> */
    assert_null(strstr(s, "src=\"CID:banner\""));
    assert_non_null(strstr(s, "multipart/related"));
    assert_non_null(strstr(s, "\r\n\r\nORG BANNER TEXT\r\n\r\nBody text."));
    assert_non_null(strstr(s, "Content-Disposition: inline"));
    /* Same input, same octets (a retry). */
    char *again = compose(&m, NULL);
    assert_string_equal(s, again);
    free(again);
    free(s);
}

static void test_image_without_reference_gets_block(void **state)
{
    (void)state;
    snd_address to = {"pat@example.net", NULL};
    snd_message m;
    message(&m, &to);
    snd_banner stored = {.html = "<p>stored</p>"};
    m.banner = &stored;
    snd_banner b = {.html = "<p>options</p>",
                    .image = PNG,
                    .image_len = sizeof PNG,
                    .image_type = "image/png",
                    .image_alt = "Org \"logo\" & co"};
    char *s = compose(&m, &b); /* the options' banner wins */
    assert_null(strstr(s, "<p>stored</p>"));
    assert_non_null(strstr(s, "<p>options</p><div><img src=\"cid:banner."));
    assert_non_null(strstr(s, "alt=\"Org &quot;logo&quot; &amp; co\"></div>"));
    /* No text form given: the text part opens with the alt text. */
    assert_non_null(strstr(s, "\r\n\r\nOrg \"logo\" & co\r\n\r\nBody text."));
    free(s);
}

static void test_no_banner(void **state)
{
    (void)state;
    snd_address to = {"pat@example.net", NULL};
    snd_message m;
    message(&m, &to);
    char *s = compose(&m, NULL);
    assert_null(strstr(s, "banner"));
    assert_null(strstr(s, "multipart/related"));
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cid_rewritten_and_placed),
        cmocka_unit_test(test_image_without_reference_gets_block),
        cmocka_unit_test(test_no_banner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
