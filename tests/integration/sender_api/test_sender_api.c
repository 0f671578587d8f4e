/*
 * test_sender_api.c: SetBanner, ListBanners, SendTestCopy and QueueStats
 * through a real xd-sender process over NNG, delivering on the capture
 * route to Postfix's smtp-sink (one file per message). Each delivered copy
 * is checked as a recipient would see it and verified by two independent
 * DKIM verifiers (dkimpy and opendkim-testmsg, keys from a local file /
 * a loopback dnsmasq; the sender_compose test scripts):
 *   - a module's banner wins over the organization's; both show in the text
 *     and the HTML part, the image inline under the message's Content-ID;
 *   - the banner is fixed at Submit: changing it before a scheduled message
 *     goes out does not change that message;
 *   - SendTestCopy arrives with "[TEST] ", X-XenDirect-Test, the original's
 *     bodies, attachment and banner, signed; repeats by key; another
 *     organization's id is NOT_FOUND; modules cannot set the test header;
 *   - QueueStats counts what was submitted, delivered and cancelled, the
 *     events in the outbox, the oldest waiting recipient; org scope, and
 *     every organization only for operators.
 * Needs: postfix (smtp-sink), python3-dkim, opendkim-tools, dnsmasq-base.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dtest.h"

#define FROM_DOMAIN "sender.xd.test"

static const unsigned char PNG[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0,    0,   0,
                                    13,   'I', 'H', 'D', 'R',  0,    0,    0,    1,    0,   0,
                                    0,    1,   8,   6,   0,    0,    0,    0x1f, 0x15, 0xc4};

static struct {
    char dir[512];
    char sink_dir[600];
    char dns[700];
    tu_child sink;
    uint16_t port;
    dt_sender s;
    int n_seen; /* files already matched */
} g;

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int call(const char *caller_org, int role, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *rd, ProtobufCMessage **out, xd_err *err)
{
    Xd__Caller caller = XD__CALLER__INIT;
    caller.org_id = (char *)caller_org;
    caller.role = (Xd__Role)role;
    xd_call_options o = {.caller = &caller, .timeout_ms = 20000};
    xd_err_clear(err);
    return xd_client_call(g.s.client, &o, method, req, rd, g.s.arena, out, err);
}

/* Adds "<selector>._domainkey.<domain> <TXT>" of a new key to the DNS file. */
static void create_key(const char *org, Xd__DkimAlgorithm alg, const char *selector)
{
    Xd__CreateDkimKeyRequest r = XD__CREATE_DKIM_KEY_REQUEST__INIT;
    r.org_id = (char *)org;
    r.domain = FROM_DOMAIN;
    r.selector = (char *)selector;
    r.algorithm = alg;
    ProtobufCMessage *out;
    xd_err err;
    assert_int_equal(call(org, XD__ROLE__ROLE_ADMIN, "CreateDkimKey", &r.base,
                          &xd__create_dkim_key_reply__descriptor, &out, &err),
                     XD_OK);
    Xd__CreateDkimKeyReply *rep = (Xd__CreateDkimKeyReply *)out;
    FILE *f = fopen(g.dns, "a");
    assert_non_null(f);
    fprintf(f, "%s %s\n", rep->key->record->name, rep->key->record->value);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    tu_tmpdir(g.dir, sizeof g.dir, "xd-sapi");
    /* Its own dir: smtp-sink drops to nobody before it writes. */
    tu_tmpdir(g.sink_dir, sizeof g.sink_dir, "xd-sapi-sink");
    chmod(g.sink_dir, 0777);
    snprintf(g.dns, sizeof g.dns, "%s/dns.txt", g.dir);
    g.port = tu_free_port(0);
    char listen[64], tmpl[700];
    snprintf(listen, sizeof listen, "127.0.0.1:%u", (unsigned)g.port);
    snprintf(tmpl, sizeof tmpl, "%s/msg.", g.sink_dir);
    char *argv[] = {"/usr/sbin/smtp-sink", "-u", "nobody", "-d", tmpl, listen, "64", NULL};
    if (tu_spawn(&g.sink, argv, NULL) != 0 || tu_wait_port("127.0.0.1", g.port, 5000) != 0)
        return -1;
    char port[64];
    snprintf(port, sizeof port, "XD_SENDER_CAPTURE_PORT=%u", (unsigned)g.port);
    const char *env[] = {port, NULL};
    if (dt_sender_start(&g.s, g.dir, env) != 0) {
        tu_sh("cat '%s/sender.log' >&2", g.dir);
        return -1;
    }
    create_key("org-a", XD__DKIM_ALGORITHM__DKIM_ALGORITHM_RSA_SHA256, "rsa1");
    create_key("org-a", XD__DKIM_ALGORITHM__DKIM_ALGORITHM_ED25519_SHA256, "ed1");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int st = dt_sender_stop(&g.s, SIGTERM);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        tu_sh("tail -30 '%s/sender.log' >&2", g.dir);
    tu_stop(&g.sink);
    tu_rmrf(g.sink_dir);
    xd_client_close(g.s.client);
    xd_arena_free(g.s.arena);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        tu_rmrf(g.dir);
    return 0;
}

static Xd__MailAddress *addr(const char *a, const char *name)
{
    Xd__MailAddress *m = xd_arena_message(g.s.arena, &xd__mail_address__descriptor);
    m->address = (char *)a;
    m->display_name = (char *)(name ? name : "");
    return m;
}

static Xd__Banner *banner(const char *org, const char *module, const char *html, const char *text)
{
    Xd__Banner *b = xd_arena_message(g.s.arena, &xd__banner__descriptor);
    b->org_id = (char *)org;
    b->module = (char *)module;
    b->html = (char *)html;
    b->text = (char *)text;
    return b;
}

static int set_banner(const char *caller, Xd__Banner *b, int remove, Xd__SetBannerReply **out,
                      xd_err *err)
{
    Xd__SetBannerRequest r = XD__SET_BANNER_REQUEST__INIT;
    r.banner = b;
    r.remove = remove;
    ProtobufCMessage *rep = NULL;
    int rc = call(caller, XD__ROLE__ROLE_ADMIN, "SetBanner", &r.base,
                  &xd__set_banner_reply__descriptor, &rep, err);
    if (out)
        *out = (Xd__SetBannerReply *)rep;
    return rc;
}

/* A text + HTML message of org/module to one address, with an attachment. */
static Xd__SubmitRequest *message(const char *org, const char *module, const char *to)
{
    Xd__SubmitRequest *r = xd_arena_message(g.s.arena, &xd__submit_request__descriptor);
    r->org_id = (char *)org;
    r->module = (char *)module;
    r->client_id = "client-9";
    r->from = addr("news@" FROM_DOMAIN, "Org News");
    r->n_to = 1;
    r->to = (Xd__MailAddress **)xd_arena_ptrs(g.s.arena, 1);
    r->to[0] = addr(to, NULL);
    r->subject = "Banner check";
    r->text_body = "Plain body of the banner check.\n";
    r->html_body = "<html><body><p>HTML body of the banner check.</p></body></html>";
    Xd__Attachment *a = xd_arena_message(g.s.arena, &xd__attachment__descriptor);
    a->filename = "report.txt";
    a->content_type = "text/plain";
    a->content.data = (uint8_t *)"attachment-bytes-0123456789";
    a->content.len = strlen("attachment-bytes-0123456789");
    r->n_attachments = 1;
    r->attachments = (Xd__Attachment **)xd_arena_ptrs(g.s.arena, 1);
    r->attachments[0] = a;
    r->category = XD__MAIL_CATEGORY__MAIL_CATEGORY_TRANSACTIONAL;
    r->idempotency_key = "";
    return r;
}

static Xd__SubmitReply *submit(Xd__SubmitRequest *r)
{
    ProtobufCMessage *out;
    xd_err err;
    int rc = call(r->org_id, XD__ROLE__ROLE_MODULE, "Submit", &r->base,
                  &xd__submit_reply__descriptor, &out, &err);
    if (rc != XD_OK)
        fail_msg("Submit: %s", err.message);
    return (Xd__SubmitReply *)out;
}

/* The delivered copy carrying Message-ID <mid.*>, read from the sink,
 * line ends back to CRLF, written to dir/<name>.eml. Waits for delivery. */
static char *delivered(const char *org, const char *mid, const char *name, char *path, size_t cap)
{
    Xd__GetMessageReply *r = dt_wait(&g.s, org, mid, 3 /* DELIVERED */, 20000);
    if (!r)
        tu_sh("tail -20 '%s/sender.log' >&2", g.dir);
    assert_non_null(r);
    char needle[128];
    snprintf(needle, sizeof needle, "Message-ID: <%s.", mid);
    for (int tries = 0; tries < 100; tries++) {
        DIR *d = opendir(g.sink_dir);
        assert_non_null(d);
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strncmp(e->d_name, "msg.", 4) != 0)
                continue;
            char p[1200];
            snprintf(p, sizeof p, "%s/%s", g.sink_dir, e->d_name);
            size_t len = 0;
            char *raw = tu_read_file(p, &len);
            if (!raw || !strstr(raw, needle)) {
                free(raw);
                continue;
            }
            /* smtp-sink writes LF; the message on the wire was CRLF only. */
            char *crlf = malloc(len * 2 + 1);
            size_t k = 0;
            for (size_t i = 0; i < len; i++) {
                if (raw[i] == '\n')
                    crlf[k++] = '\r';
                crlf[k++] = raw[i];
            }
            crlf[k] = '\0';
            free(raw);
            closedir(d);
            snprintf(path, cap, "%s/%s.eml", g.dir, name);
            FILE *f = fopen(path, "wb");
            assert_non_null(f);
            fwrite(crlf, 1, k, f);
            fclose(f);
            return crlf;
        }
        closedir(d);
        usleep(50000);
    }
    fail_msg("no message %s at the sink", mid);
    return NULL;
}

/* Both independent verifiers pass every signature of the file. */
static void dkim_verifies(const char *path)
{
    const char *src = getenv("XD_SOURCE_DIR") ? getenv("XD_SOURCE_DIR") : ".";
    assert_int_equal(tu_sh("/usr/bin/python3 '%s/tests/unit/sender_compose/dkim_tools.py' verify "
                           "'%s' '%s' >&2",
                           src, g.dns, path),
                     0);
    char work[700];
    snprintf(work, sizeof work, "%s/odkim", g.dir);
    mkdir(work, 0700);
    assert_int_equal(tu_sh("'%s/tests/unit/sender_compose/opendkim_verify.sh' '%s' '%s' '%s' >&2",
                           src, g.dns, work, path),
                     0);
}

static size_t count(const char *hay, const char *needle)
{
    return dt_count(hay, needle);
}

/* The part of the message from its "Content-Type: text/<sub>" header on. */
static const char *part(const char *msg, const char *subtype)
{
    char h[64];
    snprintf(h, sizeof h, "Content-Type: text/%s", subtype);
    const char *p = strstr(msg, h);
    assert_non_null(p);
    return p;
}

static char reg_mid[64], reg_path[700];

static void test_banners_in_both_parts(void **state)
{
    (void)state;
    xd_err err;
    Xd__SetBannerReply *rep;
    assert_int_equal(
        set_banner("org-a",
                   banner("org-a", "", "<div class=\"org-bn\">ORGWIDE HTML</div>", "ORGWIDE TEXT"),
                   0, &rep, &err),
        XD_OK);
    assert_true(rep->changed);
    Xd__Banner *mb = banner("org-a", "registration",
                            "<div class=\"reg-bn\"><img src=\"cid:banner\" alt=\"Reg\"></div>",
                            "REGISTRATION TEXT");
    mb->image.data = (uint8_t *)PNG;
    mb->image.len = sizeof PNG;
    mb->image_content_type = "image/png";
    mb->image_alt = "Registration logo";
    assert_int_equal(set_banner("org-a", mb, 0, &rep, &err), XD_OK);
    assert_int_equal(rep->banner->image_size, sizeof PNG);
    assert_int_equal(rep->banner->image.len, 0); /* replies carry no image bytes */

    ProtobufCMessage *out;
    Xd__ListBannersRequest lr = XD__LIST_BANNERS_REQUEST__INIT;
    lr.org_id = "org-a";
    assert_int_equal(call("org-a", XD__ROLE__ROLE_ADMIN, "ListBanners", &lr.base,
                          &xd__list_banners_reply__descriptor, &out, &err),
                     XD_OK);
    Xd__ListBannersReply *list = (Xd__ListBannersReply *)out;
    assert_int_equal(list->n_banners, 2);
    assert_string_equal(list->banners[0]->module, "");
    assert_string_equal(list->banners[1]->module, "registration");
    assert_int_equal(list->banners[1]->image_size, sizeof PNG);
    assert_string_equal(list->banners[1]->image_alt, "Registration logo");

    /* The module's banner wins over the organization's. */
    Xd__SubmitReply *r = submit(message("org-a", "registration", "pat@one.test"));
    snprintf(reg_mid, sizeof reg_mid, "%s", r->message_id);
    char *msg = delivered("org-a", reg_mid, "registration", reg_path, sizeof reg_path);
    assert_non_null(strstr(part(msg, "plain"), "REGISTRATION TEXT\r\n\r\nPlain body"));
    const char *html = part(msg, "html");
    assert_non_null(strstr(html, "reg-bn"));
    assert_null(strstr(msg, "ORGWIDE"));
    assert_null(strstr(msg, "cid:banner\"")); /* rewritten to the message's own id */
    assert_int_equal(count(msg, "cid:banner."), 1);
    assert_int_equal(count(msg, "Content-ID: <banner."), 1);
    assert_non_null(strstr(msg, "multipart/related"));
    assert_non_null(strstr(msg, "Content-Type: image/png"));
    assert_non_null(strstr(msg, "report.txt"));
    dkim_verifies(reg_path);
    free(msg);

    /* Another module gets the organization's banner. */
    r = submit(message("org-a", "catalogue", "sam@one.test"));
    char path[700];
    msg = delivered("org-a", r->message_id, "catalogue", path, sizeof path);
    assert_non_null(strstr(part(msg, "plain"), "ORGWIDE TEXT\r\n\r\nPlain body"));
    assert_non_null(strstr(part(msg, "html"), "ORGWIDE HTML"));
    assert_null(strstr(msg, "REGISTRATION"));
    assert_null(strstr(msg, "multipart/related"));
    dkim_verifies(path);
    free(msg);

    /* Bad banners are refused with the field named; another org's is not ours. */
    Xd__Banner *bad = banner("org-a", "x", "<p>x</p>", "");
    bad->image.data = (uint8_t *)PNG;
    bad->image.len = sizeof PNG;
    bad->image_content_type = "text/html";
    bad->image_alt = "alt";
    assert_int_equal(set_banner("org-a", bad, 0, NULL, &err), XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, "banner.image_content_type");
    assert_int_equal(set_banner("org-b", banner("org-a", "", "<p>x</p>", ""), 0, NULL, &err),
                     XD_PERMISSION_DENIED);
}

static void test_banner_fixed_at_submit(void **state)
{
    (void)state;
    xd_err err;
    /* Scheduled 3 s ahead; the banner changes before it goes out. */
    assert_int_equal(
        set_banner("org-a", banner("org-a", "news", "<p>NEWS V1</p>", "NEWS V1"), 0, NULL, &err),
        XD_OK);
    Xd__SubmitRequest *req = message("org-a", "news", "kim@one.test");
    req->send_at_ms = wall_ms() + 3000;
    Xd__SubmitReply *r = submit(req);
    assert_int_equal(
        set_banner("org-a", banner("org-a", "news", "<p>NEWS V2</p>", "NEWS V2"), 0, NULL, &err),
        XD_OK);
    char path[700];
    char *msg = delivered("org-a", r->message_id, "news", path, sizeof path);
    assert_non_null(strstr(msg, "NEWS V1"));
    assert_null(strstr(msg, "NEWS V2"));
    dkim_verifies(path);
    free(msg);
    /* Removed: the module falls back to the organization's banner. */
    Xd__SetBannerReply *rep;
    assert_int_equal(set_banner("org-a", banner("org-a", "news", "", ""), 1, &rep, &err), XD_OK);
    assert_true(rep->changed);
    assert_int_equal(set_banner("org-a", banner("org-a", "news", "", ""), 1, &rep, &err), XD_OK);
    assert_false(rep->changed);
    r = submit(message("org-a", "news", "lee@one.test"));
    msg = delivered("org-a", r->message_id, "news2", path, sizeof path);
    assert_non_null(strstr(msg, "ORGWIDE TEXT"));
    free(msg);
}

static int test_copy(const char *caller, const char *org, const char *mid, const char *to,
                     const char *key, Xd__SubmitReply **out, xd_err *err)
{
    Xd__SendTestCopyRequest r = XD__SEND_TEST_COPY_REQUEST__INIT;
    r.org_id = (char *)org;
    r.message_id = (char *)mid;
    r.to = addr(to, "Tester");
    r.idempotency_key = (char *)(key ? key : "");
    ProtobufCMessage *rep = NULL;
    int rc = call(caller, XD__ROLE__ROLE_SUPPORT, "SendTestCopy", &r.base,
                  &xd__submit_reply__descriptor, &rep, err);
    *out = (Xd__SubmitReply *)rep;
    return rc;
}

static void test_send_test_copy(void **state)
{
    (void)state;
    xd_err err;
    assert_true(reg_mid[0]);
    /* The registration banner changes first: the copy keeps the original's. */
    assert_int_equal(set_banner("org-a", banner("org-a", "registration", "<p>REG V2</p>", "REG V2"),
                                0, NULL, &err),
                     XD_OK);
    Xd__SubmitReply *r;
    assert_int_equal(test_copy("org-a", "org-a", reg_mid, "tester@two.test", "t-1", &r, &err),
                     XD_OK);
    assert_false(r->duplicate);
    assert_int_equal(r->n_recipients, 1);
    assert_string_equal(r->recipients[0]->address, "tester@two.test");
    char copy_mid[64];
    snprintf(copy_mid, sizeof copy_mid, "%s", r->message_id);
    assert_string_not_equal(copy_mid, reg_mid);
    /* Same key: the first answer. */
    Xd__SubmitReply *again;
    assert_int_equal(test_copy("org-a", "org-a", reg_mid, "tester@two.test", "t-1", &again, &err),
                     XD_OK);
    assert_true(again->duplicate);
    assert_string_equal(again->message_id, copy_mid);

    char path[700];
    char *msg = delivered("org-a", copy_mid, "testcopy", path, sizeof path);
    size_t orig_len = 0;
    char *orig = tu_read_file(reg_path, &orig_len);
    assert_non_null(strstr(msg, "Subject: [TEST] Banner check\r\n"));
    char hdr[128];
    snprintf(hdr, sizeof hdr, "X-XenDirect-Test: %s\r\n", reg_mid);
    assert_non_null(strstr(msg, hdr));
    assert_non_null(strstr(msg, "To: Tester <tester@two.test>"));
    assert_null(strstr(msg, "pat@one.test"));
    /* Same shape: the original's banner (not V2), bodies, image, attachment. */
    assert_non_null(strstr(part(msg, "plain"), "REGISTRATION TEXT\r\n\r\nPlain body"));
    assert_non_null(strstr(part(msg, "html"), "reg-bn"));
    assert_null(strstr(msg, "REG V2"));
    assert_int_equal(count(msg, "Content-ID: <banner."), 1);
    assert_non_null(strstr(msg, "report.txt"));
    assert_non_null(strstr(msg, "From: Org News <news@" FROM_DOMAIN ">"));
    const char *ct_o = strstr(orig, "Content-Type: multipart/mixed"),
               *ct_c = strstr(msg, "Content-Type: multipart/mixed");
    assert_non_null(ct_o);
    assert_non_null(ct_c);
    dkim_verifies(path);
    free(orig);
    free(msg);
    /* The copy's GetMessage: same module, subject marked. */
    Xd__GetMessageReply *gm;
    assert_int_equal(dt_get(&g.s, "org-a", copy_mid, &gm), XD_OK);
    assert_string_equal(gm->module, "registration");
    assert_string_equal(gm->subject, "[TEST] Banner check");

    /* Another organization's message does not exist for org-b. */
    assert_int_equal(test_copy("org-b", "org-b", reg_mid, "x@two.test", NULL, &r, &err),
                     XD_NOT_FOUND);
    assert_string_equal(err.field, "message_id");
    assert_int_equal(test_copy("org-b", "org-a", reg_mid, "x@two.test", NULL, &r, &err),
                     XD_PERMISSION_DENIED);
    assert_int_equal(test_copy("org-a", "org-a", "m-none", "x@two.test", NULL, &r, &err),
                     XD_NOT_FOUND);
    assert_int_equal(test_copy("org-a", "org-a", reg_mid, "bad\r\nBcc: x@y", NULL, &r, &err),
                     XD_INVALID_ARGUMENT);
    /* Modules cannot mark their own mail as a test. */
    Xd__SubmitRequest *req = message("org-a", "registration", "pat@one.test");
    Xd__CustomHeader *h = xd_arena_message(g.s.arena, &xd__custom_header__descriptor);
    h->name = "X-XenDirect-Test";
    h->value = reg_mid;
    req->n_headers = 1;
    req->headers = (Xd__CustomHeader **)xd_arena_ptrs(g.s.arena, 1);
    req->headers[0] = h;
    ProtobufCMessage *out;
    assert_int_equal(call("org-a", XD__ROLE__ROLE_MODULE, "Submit", &req->base,
                          &xd__submit_reply__descriptor, &out, &err),
                     XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, "headers");
}

static uint64_t state_count(const Xd__QueueStatsReply *r, const char *state)
{
    for (size_t i = 0; i < r->n_states; i++)
        if (strcmp(r->states[i]->state, state) == 0)
            return r->states[i]->count;
    fail_msg("no state %s in QueueStats", state);
    return 0;
}

static Xd__QueueStatsReply *stats(const char *caller, int role, const char *org, int *rc)
{
    Xd__QueueStatsRequest r = XD__QUEUE_STATS_REQUEST__INIT;
    r.org_id = (char *)org;
    ProtobufCMessage *out = NULL;
    xd_err err;
    *rc = call(caller, role, "QueueStats", &r.base, &xd__queue_stats_reply__descriptor, &out, &err);
    return (Xd__QueueStatsReply *)out;
}

static void test_queue_stats(void **state)
{
    (void)state;
    int rc;
    /* org-c starts empty: two delivered, one scheduled then cancelled,
     * one scheduled and waiting. */
    Xd__QueueStatsReply *st = stats("org-c", XD__ROLE__ROLE_SUPPORT, "org-c", &rc);
    assert_int_equal(rc, XD_OK);
    assert_int_equal(st->n_states, 8);
    for (size_t i = 0; i < st->n_states; i++)
        assert_int_equal(st->states[i]->count, 0);
    assert_int_equal(st->oldest_waiting_age_ms, 0);
    assert_int_equal(st->outbox_pending, 0);

    Xd__SubmitRequest *two = message("org-c", "stats", "a@three.test");
    two->n_to = 2;
    two->to = (Xd__MailAddress **)xd_arena_ptrs(g.s.arena, 2);
    two->to[0] = addr("a@three.test", NULL);
    two->to[1] = addr("b@three.test", NULL);
    Xd__SubmitReply *r = submit(two);
    assert_non_null(dt_wait(&g.s, "org-c", r->message_id, 3, 20000));
    Xd__SubmitRequest *later = message("org-c", "stats", "c@three.test");
    later->send_at_ms = wall_ms() + 600000;
    Xd__SubmitReply *r2 = submit(later);
    Xd__CancelReply *cr;
    assert_int_equal(dt_cancel(&g.s, "org-c", r2->message_id, NULL, &cr), XD_OK);
    assert_int_equal(cr->n_cancelled, 1);
    Xd__SubmitRequest *wait = message("org-c", "stats", "d@three.test");
    wait->send_at_ms = wall_ms() + 600000;
    submit(wait);

    st = stats("org-c", XD__ROLE__ROLE_SUPPORT, "org-c", &rc);
    assert_int_equal(rc, XD_OK);
    assert_int_equal(state_count(st, "delivered"), 2);
    assert_int_equal(state_count(st, "cancelled"), 1);
    assert_int_equal(state_count(st, "queued"), 1);
    assert_int_equal(state_count(st, "sending"), 0);
    assert_int_equal(state_count(st, "deferred"), 0);
    assert_int_equal(state_count(st, "bounced"), 0);
    /* The waiting one is due in the future: it has not waited yet. */
    assert_int_equal(st->oldest_waiting_age_ms, 0);
    /* No verify configured: every event stays (QUEUED + final per
     * recipient, QUEUED for the waiting one). */
    assert_int_equal(st->outbox_pending, 2 * 2 + 2 + 1);

    /* Every organization: operators (and services) only. */
    Xd__QueueStatsReply *all = stats("", XD__ROLE__ROLE_OPERATOR, "", &rc);
    assert_int_equal(rc, XD_OK);
    assert_true(state_count(all, "delivered") >= state_count(st, "delivered") + 5);
    assert_true(all->outbox_pending > st->outbox_pending);
    stats("", XD__ROLE__ROLE_MODULE, "", &rc);
    assert_int_equal(rc, XD_PERMISSION_DENIED);
    stats("org-c", XD__ROLE__ROLE_OPERATOR, "", &rc);
    assert_int_equal(rc, XD_PERMISSION_DENIED);
    stats("org-c", XD__ROLE__ROLE_SUPPORT, "org-a", &rc);
    assert_int_equal(rc, XD_PERMISSION_DENIED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_banners_in_both_parts),
        cmocka_unit_test(test_banner_fixed_at_submit),
        cmocka_unit_test(test_send_test_copy),
        cmocka_unit_test(test_queue_stats),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
