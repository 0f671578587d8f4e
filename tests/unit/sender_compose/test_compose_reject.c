/*
 * test_compose_reject.c: header injection, oversize and malformed input are
 * refused with INVALID_ARGUMENT naming the offending field; nothing is
 * composed for them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "compose_message.h"

static const char SECRET[] = "0123456789abcdef0123456789abcdef-test-secret";
static const snd_optout_config OPTOUT = {SECRET, sizeof SECRET - 1, "https://mail.example.org/u",
                                         "unsubscribe@mail.example.org", 0};
static snd_address TO[1] = {{"alice@example.net", "Alice"}};

static snd_message good(void)
{
    snd_message m = {0};
    m.org_id = "org-1";
    m.module = "registration";
    m.from = (snd_address){"noreply@example.org", "Example"};
    m.to = TO;
    m.n_to = 1;
    m.subject = "Welcome";
    m.text_body = "Hi";
    m.category = SND_CATEGORY_TRANSACTIONAL;
    return m;
}

/* Composes m and expects INVALID_ARGUMENT on field, and no output. */
static void expect_field(const snd_message *m, int smtputf8, const char *field)
{
    snd_compose_opts o = {.message_id = "m1",
                          .recipient_id = "r1",
                          .recipient = &m->to[0],
                          .date_ms = 1795000000000LL,
                          .optout = &OPTOUT,
                          .smtputf8 = smtputf8};
    if (m->n_to == 0)
        o.recipient = &TO[0];
    snd_buf out;
    snd_buf_init(&out, 0);
    xd_err err;
    xd_err_clear(&err);
    xd_code rc = snd_compose(m, &o, &out, &err);
    if (rc != XD_INVALID_ARGUMENT || strcmp(err.field, field) != 0)
        fail_msg("want INVALID_ARGUMENT on %s, got %s on '%s': %s", field, xd_code_name(rc),
                 err.field, err.message);
    if (!strstr(err.message, field))
        fail_msg("message for %s does not name it: %s", field, err.message);
    snd_buf_free(&out);
}

static void test_good_composes(void **state)
{
    (void)state;
    snd_message m = good();
    snd_compose_opts o = {.message_id = "m1",
                          .recipient_id = "r1",
                          .recipient = &TO[0],
                          .date_ms = 1795000000000LL,
                          .optout = &OPTOUT};
    snd_buf out;
    snd_buf_init(&out, 0);
    xd_err err;
    assert_int_equal(snd_compose(&m, &o, &out, &err), XD_OK);
    assert_non_null(strstr(out.data, "\r\nSubject: Welcome\r\n"));
    assert_non_null(strstr(out.data, "Date: Wed, 18 Nov 2026 11:06:40 +0000"));
    assert_null(strstr(out.data, "\r\nSender:"));
    /* Sender appears only when someone other than the author sends. */
    snd_address sender = {"bounces@xendirect.example", "XenDirect"};
    o.sender = &sender;
    snd_buf_reset(&out);
    assert_int_equal(snd_compose(&m, &o, &out, &err), XD_OK);
    assert_non_null(strstr(out.data, "\r\nSender: XenDirect <bounces@xendirect.example>\r\n"));
    sender.address = "NoReply@example.org"; /* the author itself: no Sender */
    snd_buf_reset(&out);
    assert_int_equal(snd_compose(&m, &o, &out, &err), XD_OK);
    assert_null(strstr(out.data, "\r\nSender:"));
    snd_buf_free(&out);
}

static void test_injection(void **state)
{
    (void)state;
    snd_address to[2] = {{"alice@example.net", NULL}, {"bob@example.net\r\nBcc: eve@evil", NULL}};
    snd_message m = good();
    m.to = to;
    m.n_to = 2;
    expect_field(&m, 0, "to[1].address");
    to[1] = (snd_address){"bob@example.net", "Bob\nBcc: eve@evil"};
    expect_field(&m, 0, "to[1].display_name");
    m = good();
    m.subject = "Hello\r\nBcc: eve@evil.example";
    expect_field(&m, 0, "subject");
    m = good();
    m.from.display_name = "Example\rX";
    expect_field(&m, 0, "from.display_name");
    m = good();
    snd_address reply[1] = {{"a@b.example\n", NULL}};
    m.reply_to = reply;
    m.n_reply_to = 1;
    expect_field(&m, 0, "reply_to[0].address");
    m = good();
    snd_custom_header h[2] = {{"X-Campaign-Id", "spring"}, {"X-XenDirect-Ref", "a\r\nBcc: x"}};
    m.headers = h;
    m.n_headers = 2;
    expect_field(&m, 0, "headers[1].value");
    h[1] = (snd_custom_header){"Bcc", "eve@evil.example"};
    expect_field(&m, 0, "headers[1].name");
    h[1] = (snd_custom_header){"X-Campaign-Id:", "x"};
    expect_field(&m, 0, "headers[1].name");
    h[1] = (snd_custom_header){"List-Unsubscribe", "<https://evil.example>"};
    expect_field(&m, 0, "headers[1].name");
    h[1] = (snd_custom_header){"DKIM-Signature", "v=1"};
    expect_field(&m, 0, "headers[1].name");
    m = good();
    snd_attachment a[1] = {{"x.txt\r\nContent-Type: text/html", "text/plain", NULL, "x", 1}};
    m.attachments = a;
    m.n_attachments = 1;
    expect_field(&m, 0, "attachments[0].filename");
    a[0] = (snd_attachment){"x.txt", "text/plain\r\nX: y", NULL, "x", 1};
    expect_field(&m, 0, "attachments[0].content_type");
    a[0] = (snd_attachment){"x.txt", "text/plain", "a>\r\nX: y", "x", 1};
    expect_field(&m, 0, "attachments[0].content_id");
    m = good();
    m.subject = "tab\tok but bell \a is not";
    expect_field(&m, 0, "subject");
}

static void test_oversize(void **state)
{
    (void)state;
    snd_message m = good();
    char *big = malloc(SND_MAX_BODY + 2);
    memset(big, 'a', SND_MAX_BODY + 1);
    big[SND_MAX_BODY + 1] = '\0';
    m.text_body = big;
    expect_field(&m, 0, "text_body");
    m = good();
    m.html_body = big;
    expect_field(&m, 0, "html_body");
    m = good();
    big[999] = '\0';
    m.subject = big;
    expect_field(&m, 0, "subject");
    m = good();
    big[901] = '\0';
    snd_custom_header h[1] = {{"Keywords", big}};
    m.headers = h;
    m.n_headers = 1;
    expect_field(&m, 0, "headers[0].value");
    m = good();
    big[201] = '\0';
    m.from.display_name = big;
    expect_field(&m, 0, "from.display_name");
    m = good();
    static char addr[300];
    memset(addr, 'a', 250);
    strcpy(addr + 250, "@example.org");
    m.from.address = addr;
    expect_field(&m, 0, "from.address");
    memset(addr, 'a', 70);
    strcpy(addr + 70, "@example.org");
    expect_field(&m, 0, "from.address"); /* local part over 64 */
    free(big);

    m = good();
    static snd_address many[1001];
    for (int i = 0; i < 1001; i++)
        many[i] = TO[0];
    m.to = many;
    m.n_to = 1001;
    expect_field(&m, 0, "to");
    m.n_to = 600;
    m.bcc = many;
    m.n_bcc = 401;
    expect_field(&m, 0, "to");
    m = good();
    m.n_to = 0;
    expect_field(&m, 0, "to");
    m = good();
    static snd_address replies[11];
    for (int i = 0; i < 11; i++)
        replies[i] = TO[0];
    m.reply_to = replies;
    m.n_reply_to = 11;
    expect_field(&m, 0, "reply_to");

    m = good();
    static snd_attachment files[21];
    for (int i = 0; i < 21; i++)
        files[i] = (snd_attachment){"f.bin", "application/octet-stream", NULL, "x", 1};
    m.attachments = files;
    m.n_attachments = 21;
    expect_field(&m, 0, "attachments");
    static char fake; /* the size is checked before any byte is read */
    files[0] = (snd_attachment){"f.bin", "application/octet-stream", NULL, &fake, SND_MAX_FILE + 1};
    m.n_attachments = 1;
    expect_field(&m, 0, "attachments[0].content");
    for (int i = 0; i < 3; i++)
        files[i] = (snd_attachment){"f.bin", "application/octet-stream", NULL, &fake, SND_MAX_FILE};
    m.n_attachments = 3;
    expect_field(&m, 0, "attachments[2].content");
    m = good();
    static snd_custom_header hs[21];
    for (int i = 0; i < 21; i++)
        hs[i] = (snd_custom_header){"Keywords", "x"};
    m.headers = hs;
    m.n_headers = 21;
    expect_field(&m, 0, "headers");
}

static void test_malformed(void **state)
{
    (void)state;
    snd_message m = good();
    snd_address to[1] = {{"no-at-sign.example", NULL}};
    m.to = to;
    const char *bad[] = {"no-at-sign.example", "@example.org",   "a@",
                         "a..b@example.org",   ".a@example.org", "a@-bad.example",
                         "a@bad-.example",     "a@localhost",    "a b@example.org",
                         "a@exa mple.org",     "a@xn--.example"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        to[0].address = bad[i];
        expect_field(&m, 0, "to[0].address");
    }
    /* A non-ASCII local part needs SMTPUTF8 on the next hop. */
    to[0].address = "jürgen@example.org";
    expect_field(&m, 0, "recipient.address");
    to[0].address = "bad\xff@example.org";
    expect_field(&m, 0, "to[0].address");
    m = good();
    m.subject = "caf\xc3";
    expect_field(&m, 0, "subject");
    m = good();
    m.html_body = "<p>\xed\xa0\x80</p>"; /* a surrogate in UTF-8 */
    expect_field(&m, 0, "html_body");
    m = good();
    m.text_body = "";
    expect_field(&m, 0, "text_body");
    m = good();
    m.subject = "";
    expect_field(&m, 0, "subject");
    m = good();
    m.category = SND_CATEGORY_UNSPECIFIED;
    expect_field(&m, 0, "category");
    m = good();
    m.module = "Bad Module";
    expect_field(&m, 0, "module");
    m = good();
    m.org_id = "";
    expect_field(&m, 0, "org_id");
    m = good();
    snd_attachment a[1] = {{"../etc/passwd", "text/plain", NULL, "x", 1}};
    m.attachments = a;
    m.n_attachments = 1;
    expect_field(&m, 0, "attachments[0].filename");
    a[0] = (snd_attachment){"x", "textplain", NULL, "x", 1};
    expect_field(&m, 0, "attachments[0].content_type");
    a[0] = (snd_attachment){"x", "multipart/mixed", NULL, "x", 1};
    expect_field(&m, 0, "attachments[0].content_type");
    m = good();
    m.html_body = "<img src=cid:x>";
    snd_attachment img[1] = {{"x.pdf", "application/pdf", "x@y", "x", 1}};
    m.inline_images = img;
    m.n_inline_images = 1;
    expect_field(&m, 0, "inline_images[0].content_type");
    img[0] = (snd_attachment){"x.png", "image/png", "", "x", 1};
    expect_field(&m, 0, "inline_images[0].content_id");
    m.html_body = NULL;
    img[0] = (snd_attachment){"x.png", "image/png", "x@y", "x", 1};
    expect_field(&m, 0, "inline_images");
    /* Message ids come from our store, but are checked all the same. */
    m = good();
    snd_compose_opts o = {.message_id = "m1>\r\nX: y",
                          .recipient = &TO[0],
                          .date_ms = 1795000000000LL,
                          .optout = &OPTOUT};
    snd_buf out;
    snd_buf_init(&out, 0);
    xd_err err;
    assert_int_equal(snd_compose(&m, &o, &out, &err), XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, "message_id");
    snd_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_composes),
        cmocka_unit_test(test_injection),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
