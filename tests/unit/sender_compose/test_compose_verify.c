/*
 * test_compose_verify.c: every composed shape, signed with an RSA-2048 and
 * an Ed25519 key made by the key store, is checked structurally (CRLF, no
 * line over 998, no Bcc, opt-out headers and token, h= coverage, stable
 * bytes across retries) and then verified by two independent verifiers:
 * dkimpy and opendkim-testmsg, both reading our public keys from a local
 * file, not from DNS. A tampered copy must fail both (the check can fail).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compose_message.h"
#include "dkim_keys.h"
#include "test_util.h"
#include "xd/optout_token.h"

#define ORG    "org-42"
#define DOMAIN "mail.example.org"
#define NOW_MS 1795000000000LL /* fixed clock: 2026-11-18T11:06:40Z */

static const char SECRET[] = "0123456789abcdef0123456789abcdef-test-secret";

typedef struct fixture {
    char dir[512];
    char dns[600];
    snd_keystore *ks;
    xd_clock *clock;
    EVP_PKEY *keys[2];
    snd_dkim_key_info info[2];
    snd_dkim_signer signers[2];
    snd_optout_config optout;
    int n_files;
    char files[32][600];
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_int_equal(tu_tempdir(fx->dir, sizeof fx->dir), 0);
    char db[600];
    snprintf(db, sizeof db, "%s/sender.db", fx->dir);
    unsigned char master[32];
    memset(master, 7, sizeof master);
    fx->clock = xd_clock_manual_new(NOW_MS);
    xd_err err;
    xd_err_clear(&err);
    assert_int_equal(snd_keystore_open(db, master, fx->clock, &fx->ks, &err), XD_OK);
    snd_dkim_key_info k;
    assert_int_equal(
        snd_dkim_create(fx->ks, ORG, DOMAIN, "rsa1", SND_DKIM_RSA_SHA256, 2048, &k, &err), XD_OK);
    assert_int_equal(
        snd_dkim_create(fx->ks, ORG, DOMAIN, "ed1", SND_DKIM_ED25519_SHA256, 0, &k, &err), XD_OK);
    size_t n = 0;
    assert_int_equal(snd_dkim_load_active(fx->ks, ORG, DOMAIN, fx->info, fx->keys, &n, &err),
                     XD_OK);
    assert_int_equal(n, 2);
    /* The DNS file both verifiers read: "<selector>._domainkey.<domain> <TXT>". */
    snprintf(fx->dns, sizeof fx->dns, "%s/dns.txt", fx->dir);
    FILE *f = fopen(fx->dns, "w");
    for (int i = 0; i < 2; i++) {
        fprintf(f, "%s._domainkey.%s %s\n", fx->info[i].selector, fx->info[i].domain,
                fx->info[i].txt);
        fx->signers[i] = (snd_dkim_signer){.alg = fx->info[i].alg,
                                           .pkey = fx->keys[i],
                                           .domain = fx->info[i].domain,
                                           .selector = fx->info[i].selector};
    }
    fclose(f);
    fx->optout = (snd_optout_config){SECRET, strlen(SECRET), "https://mail.example.org/u",
                                     "unsubscribe@mail.example.org", 0};
    *state = fx;
    return 0;
}

/* Each test starts with an empty file list (the keys are shared). */
static int reset_files(void **state)
{
    fixture *fx = *state;
    fx->n_files = 0;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    for (int i = 0; i < 2; i++)
        EVP_PKEY_free(fx->keys[i]);
    snd_keystore_close(fx->ks);
    xd_clock_free(fx->clock);
    if (!getenv("XD_KEEP_TEST_DIR"))
        tu_rmdir(fx->dir);
    free(fx);
    return 0;
}

static const snd_address FROM = {"news@mail.example.org", "Example Org"};

static snd_message base_message(void)
{
    static const snd_address to[] = {{"alice@example.net", "Alice"}};
    snd_message m = {0};
    m.org_id = ORG;
    m.module = "bulk-email";
    m.from = FROM;
    m.to = to;
    m.n_to = 1;
    m.subject = "Course catalogue for spring";
    m.text_body = "Hello Alice,\n\nthe new courses are online.\n";
    m.category = SND_CATEGORY_MARKETING;
    return m;
}

/* Header block of msg (up to the empty line), NUL-terminated copy. */
static char *header_block(const char *msg)
{
    const char *end = strstr(msg, "\r\n\r\n");
    assert_non_null(end);
    size_t n = (size_t)(end - msg) + 2;
    char *h = malloc(n + 1);
    memcpy(h, msg, n);
    h[n] = '\0';
    return h;
}

/* Unfolded value of the first field called name, into out. */
static int field_value(const char *hdr, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    for (const char *p = hdr; p && *p; p = strstr(p, "\r\n") ? strstr(p, "\r\n") + 2 : NULL) {
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            size_t o = 0;
            for (const char *v = p + nl + 1; *v && o + 1 < size; v++) {
                if (v[0] == '\r' && v[1] == '\n') {
                    if (v[2] != ' ' && v[2] != '\t')
                        break;
                    v++;
                    continue;
                }
                out[o++] = *v;
            }
            out[o] = '\0';
            return 0;
        }
    }
    return -1;
}

static void check_structure(const char *msg, size_t len)
{
    size_t line = 0;
    for (size_t i = 0; i < len; i++) {
        if (msg[i] == '\n')
            assert_true(i > 0 && msg[i - 1] == '\r'); /* no bare LF */
        if (msg[i] == '\r') {
            assert_true(i + 1 < len && msg[i + 1] == '\n'); /* no bare CR */
            assert_true(line <= 998);
            line = 0;
            i++;
            continue;
        }
        assert_true((unsigned char)msg[i] < 0x80); /* 7-bit clean without SMTPUTF8 */
        line++;
    }
    char *hdr = header_block(msg);
    char v[8192];
    assert_int_equal(field_value(hdr, "List-Unsubscribe-Post", v, sizeof v), 0);
    assert_string_equal(v, " List-Unsubscribe=One-Click");
    assert_int_equal(field_value(hdr, "List-Unsubscribe", v, sizeof v), 0);
    assert_non_null(strstr(v, "<https://mail.example.org/u?t="));
    assert_non_null(strstr(v, "<mailto:unsubscribe@mail.example.org?subject=unsubscribe%20"));
    assert_int_equal(field_value(hdr, "MIME-Version", v, sizeof v), 0);
    assert_int_equal(field_value(hdr, "Date", v, sizeof v), 0);
    assert_int_equal(field_value(hdr, "Message-ID", v, sizeof v), 0);
    assert_int_equal(field_value(hdr, "Bcc", v, sizeof v), -1);
    /* Both signatures, each covering the opt-out headers and over-signing From. */
    int sigs = 0;
    for (const char *p = hdr; (p = strstr(p, "DKIM-Signature:")) != NULL; p++) {
        char sig[4096];
        assert_int_equal(field_value(p, "DKIM-Signature", sig, sizeof sig), 0);
        char *h = strstr(sig, " h=");
        assert_non_null(h);
        char hl[1024];
        sscanf(h + 3, "%1023[^;]", hl);
        for (char *c = hl; *c; c++)
            *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        const char *need[] = {"from:",
                              "to:",
                              "cc:",
                              "subject:",
                              "date:",
                              "message-id:",
                              "mime-version:",
                              "content-type:",
                              "reply-to:",
                              "list-unsubscribe:",
                              "list-unsubscribe-post:"};
        for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
            assert_non_null(strstr(hl, need[i]));
        assert_non_null(strstr(strstr(hl, "from:") + 5, "from")); /* over-signed */
        sigs++;
    }
    assert_int_equal(sigs, 2);
    free(hdr);
}

/* Composes, checks, writes <dir>/<name>.eml; checks retries give the same bytes. */
static void compose_shape(fixture *fx, const char *name, const snd_message *m,
                          const snd_compose_opts *o_in)
{
    snd_compose_opts o = o_in ? *o_in : (snd_compose_opts){0};
    o.message_id = o.message_id ? o.message_id : "m0001";
    o.date_ms = NOW_MS;
    o.optout = &fx->optout;
    if (!m->shared && !o.recipient)
        o.recipient = &m->to[0];
    if (!m->shared && !o.recipient_id)
        o.recipient_id = "r1";
    snd_buf a, b;
    snd_buf_init(&a, 0);
    snd_buf_init(&b, 0);
    xd_err err;
    xd_err_clear(&err);
    xd_code rc = snd_compose_signed(m, &o, fx->signers, 2, &a, &err);
    if (rc != XD_OK)
        fail_msg("%s: %s (field %s)", name, err.message, err.field);
    assert_int_equal(snd_compose_signed(m, &o, fx->signers, 2, &b, &err), XD_OK);
    assert_int_equal(a.len, b.len); /* a retry is byte-identical (Message-ID included) */
    assert_memory_equal(a.data, b.data, a.len);
    check_structure(a.data, a.len);
    char path[600];
    snprintf(path, sizeof path, "%s/%s.eml", fx->dir, name);
    assert_int_equal(tu_write_file(path, a.data, a.len), 0);
    memcpy(fx->files[fx->n_files], path, sizeof path);
    fx->n_files++;
    snd_buf_free(&a);
    snd_buf_free(&b);
}

static void compose_all_shapes(fixture *fx)
{
    snd_message m = base_message();
    compose_shape(fx, "text_only", &m, NULL);

    m.html_body = "<html><body><h1>Hello Alice</h1><p>The new courses are online.</p>"
                  "</body></html>";
    static const snd_address reply[] = {{"office@example.org", "Front Office"}};
    m.reply_to = reply;
    m.n_reply_to = 1;
    compose_shape(fx, "html_text", &m, NULL);

    static unsigned char pdf[3000];
    for (size_t i = 0; i < sizeof pdf; i++)
        pdf[i] = (unsigned char)(i * 7 + 3);
    static const char notes[] = "line one\r\nline two\r\n";
    snd_attachment att[2] = {
        {"timetable.pdf", "application/pdf", NULL, pdf, sizeof pdf},
        {"Übersicht – Kurse.txt", "text/plain", NULL, notes, sizeof notes - 1},
    };
    m.attachments = att;
    m.n_attachments = 2;
    compose_shape(fx, "attachments", &m, NULL);

    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13};
    snd_attachment img[1] = {{"logo.png", "image/png", "logo@example.org", png, sizeof png}};
    m.n_attachments = 0;
    m.html_body = "<html><body><img src=\"cid:logo@example.org\"><p>Welcome</p></body></html>";
    m.inline_images = img;
    m.n_inline_images = 1;
    compose_shape(fx, "inline_image", &m, NULL);
    m.attachments = att;
    m.n_attachments = 2;
    compose_shape(fx, "inline_and_attachments", &m, NULL);

    snd_message u = base_message();
    static const snd_address to_u[] = {{"juergen@bücher.example", "Jürgen Müller"}};
    static const snd_address to_a[] = {{"zoe@bücher.example", "Zoë \"Z\" O'Brien, PhD"}};
    u.from.display_name = "Écoles Réunies — Büro";
    u.subject = "Ihre Anmeldung: Kurs «Grundlagen» beginnt am Montag — bitte bestätigen 🎓";
    u.text_body = "Grüße aus Zürich!\nÀ bientôt.\n";
    u.html_body = "<p>Grüße aus Zürich!</p>";
    u.to = to_a;
    compose_shape(fx, "non_ascii_idn", &u, NULL);
    u.to = to_u;
    snd_compose_opts ou = {.recipient = &to_u[0], .recipient_id = "r2"};
    compose_shape(fx, "non_ascii_idn2", &u, &ou);

    snd_message l = base_message();
    static char long_text[6000], long_html[9000];
    memset(long_text, 'x', sizeof long_text - 1);
    for (size_t i = 100; i < sizeof long_text - 1; i += 1500)
        long_text[i] = ' ';
    strcpy(long_html, "<p>");
    memset(long_html + 3, 'y', 8000);
    strcpy(long_html + 8003, "</p>");
    l.text_body = long_text;
    l.html_body = long_html;
    l.subject = "A subject with a very long word "
                "Supercalifragilisticexpialidocious-Supercalifragilisticexpialidocious-"
                "Supercalifragilisticexpialidocious and trailing words";
    compose_shape(fx, "long_lines", &l, NULL);

    snd_message bn = base_message();
    bn.html_body = "<html><body><p>Term starts soon.</p></body></html>";
    snd_banner banner = {.html = "<div class=\"org-banner\">Example Org Academy</div>",
                         .text = "Example Org Academy",
                         .image = png,
                         .image_len = sizeof png,
                         .image_type = "image/png",
                         .image_alt = "Example Org"};
    snd_compose_opts ob = {.banner = &banner};
    compose_shape(fx, "banner", &bn, &ob);

    /* Many recipients: one shared copy to 300 visible addresses plus Bcc. */
    static snd_address many_to[250], many_cc[50], many_bcc[20];
    static char names[320][64];
    for (int i = 0; i < 320; i++) {
        snprintf(names[i], sizeof names[i], "student%03d@school%d.example.net", i, i % 7);
        snd_address a = {names[i], i % 3 ? "Student Name" : NULL};
        if (i < 250)
            many_to[i] = a;
        else if (i < 300)
            many_cc[i - 250] = a;
        else
            many_bcc[i - 300] = a;
    }
    snd_message mr = base_message();
    mr.to = many_to;
    mr.n_to = 250;
    mr.cc = many_cc;
    mr.n_cc = 50;
    mr.bcc = many_bcc;
    mr.n_bcc = 20;
    mr.shared = 1;
    mr.category = SND_CATEGORY_TRANSACTIONAL;
    mr.module = "registration";
    compose_shape(fx, "many_recipients_shared", &mr, NULL);
    /* Bcc addresses never appear anywhere in the shared copy. */
    size_t n;
    char *shared = tu_read_file(fx->files[fx->n_files - 1], &n);
    for (int i = 300; i < 320; i++)
        assert_null(strstr(shared, names[i]));
    free(shared);
    /* Per-recipient copies of the same message: To shows only the recipient. */
    for (int i = 0; i < 3; i++) {
        char nm[64], rid[16];
        snprintf(nm, sizeof nm, "per_recipient_%d", i);
        snprintf(rid, sizeof rid, "r%d", i);
        mr.shared = 0;
        snd_compose_opts op = {.recipient = &many_bcc[i], .recipient_id = rid};
        compose_shape(fx, nm, &mr, &op);
    }
}

static void test_shapes_structure_and_tokens(void **state)
{
    fixture *fx = *state;
    compose_all_shapes(fx);
    /* The per-recipient copy's token names its recipient and verifies
     * without any database. */
    size_t n;
    char *msg = tu_read_file(fx->files[fx->n_files - 1], &n);
    char *t = strstr(msg, "?t=");
    assert_non_null(t);
    char token[XD_OPTOUT_TOKEN_MAX];
    sscanf(t + 3, "%1023[^>]", token);
    xd_optout_claims c;
    xd_err err;
    assert_int_equal(xd_optout_token_verify(SECRET, strlen(SECRET), token, NOW_MS / 1000, &c, &err),
                     XD_OK);
    assert_string_equal(c.org_id, ORG);
    assert_string_equal(c.recipient, "student302@school1.example.net");
    assert_int_equal(c.scope, XD_OPTOUT_SCOPE_CATEGORY);
    assert_string_equal(c.category, "registration");
    char *hdr = header_block(msg);
    char to[512];
    assert_int_equal(field_value(hdr, "To", to, sizeof to), 0);
    assert_string_equal(to, " Student Name <student302@school1.example.net>");
    char mid[256];
    assert_int_equal(field_value(hdr, "Message-ID", mid, sizeof mid), 0);
    assert_string_equal(mid, " <m0001.r2@mail.example.org>");
    /* The footer link is in the body as well. */
    assert_non_null(strstr(strstr(msg, "\r\n\r\n"), token));
    free(hdr);
    free(msg);
    /* IDN: the recipient's domain went out in punycode. */
    msg = tu_read_file(fx->files[6], &n);
    assert_non_null(strstr(msg, "@xn--bcher-kva.example"));
    assert_non_null(strstr(msg, "Subject: =?UTF-8?B?"));
    free(msg);
    /* Banner: the same block at the top of both parts. */
    for (int i = 0; i < fx->n_files; i++) {
        if (!strstr(fx->files[i], "/banner.eml"))
            continue;
        msg = tu_read_file(fx->files[i], &n);
        const char *text = strstr(msg, "Content-Type: text/plain");
        const char *html = strstr(msg, "Content-Type: text/html");
        assert_non_null(text);
        assert_non_null(html);
        assert_non_null(strstr(text, "\r\n\r\nExample Org Academy\r\n\r\nHello Alice"));
        assert_non_null(strstr(html, "<body><div class=\"org-banner\">Example Org Academy</div>"
                                     "<div><img src=\"cid:banner."));
        /* The image part carries the Content-ID the HTML references. */
        char cid[128];
        assert_int_equal(sscanf(strstr(html, "cid:") + 4, "%127[^\"]", cid), 1);
        char want[160];
        snprintf(want, sizeof want, "Content-ID: <%s>", cid);
        assert_non_null(strstr(msg, want));
        assert_non_null(strstr(msg, "multipart/related"));
        free(msg);
    }
}

static void run_verifiers(fixture *fx, const char *extra_file, int want_pass)
{
    char tools[600], odk[600];
    tu_helper_path("dkim_tools.py", tools, sizeof tools);
    tu_helper_path("opendkim_verify.sh", odk, sizeof odk);
    size_t cap = 64 * 1024;
    char *files = calloc(1, cap);
    if (extra_file) {
        strcat(files, " ");
        strcat(files, extra_file);
    } else {
        for (int i = 0; i < fx->n_files; i++) {
            strcat(files, " ");
            strcat(files, fx->files[i]);
        }
    }
    char *cmd = malloc(cap + 2048);
    snprintf(cmd, cap + 2048, "/usr/bin/python3 %s verify %s%s", tools, fx->dns, files);
    int rc = tu_run(cmd);
    if (want_pass)
        assert_int_equal(rc, 0);
    else
        assert_int_equal(rc, 1);
    snprintf(cmd, cap + 2048, "%s %s %s%s", odk, fx->dns, fx->dir, files);
    rc = tu_run(cmd);
    if (want_pass)
        assert_int_equal(rc, 0);
    else
        assert_int_equal(rc, 1);
    free(cmd);
    free(files);
}

static void test_two_verifiers(void **state)
{
    fixture *fx = *state;
    compose_all_shapes(fx);
    assert_true(fx->n_files >= 12);
    run_verifiers(fx, NULL, 1);
}

/* Negative controls: a changed Subject, or a changed List-Unsubscribe,
 * must fail both verifiers. */
static void test_tampered_fails(void **state)
{
    fixture *fx = *state;
    snd_message m = base_message();
    compose_shape(fx, "tamper_base", &m, NULL);
    size_t n;
    /* Control: the untouched copy passes with the same keys and DNS file,
     * so the failures below come from the tampering alone. */
    run_verifiers(fx, fx->files[0], 1);
    char *msg = tu_read_file(fx->files[0], &n);
    char *s = strstr(msg, "Subject: Course");
    assert_non_null(s);
    s[9] = 'K';
    char path[600];
    snprintf(path, sizeof path, "%s/tampered_subject.eml", fx->dir);
    tu_write_file(path, msg, n);
    run_verifiers(fx, path, 0);
    s[9] = 'C';
    s = strstr(msg, "u?t=");
    assert_non_null(s);
    s[4] = s[4] == 'A' ? 'B' : 'A';
    snprintf(path, sizeof path, "%s/tampered_unsub.eml", fx->dir);
    tu_write_file(path, msg, n);
    run_verifiers(fx, path, 0);
    free(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_shapes_structure_and_tokens, reset_files),
        cmocka_unit_test_setup(test_two_verifiers, reset_files),
        cmocka_unit_test_setup(test_tampered_fails, reset_files),
    };
    /* One key store and key pair for the group: RSA keygen is slow under ASan. */
    return cmocka_run_group_tests(tests, setup, teardown);
}
