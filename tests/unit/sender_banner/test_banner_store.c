/*
 * test_banner_store.c: the banner store and its bounds on a real sender.db
 * in a temp dir: every bound refused with its field named, set / replace /
 * remove / list per organization and module, content snapshots taken at
 * Submit (a later change or removal does not reach a queued message; a
 * test copy keeps its original's banner), unused content deleted, org
 * isolation, the per-organization count bound; and the queue counters
 * behind QueueStats (triggers, the migration's back-fill, org scope).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_stats.h"
#include "sender_banner.h"
#include "sender_schema.h"
#include "test_util.h"
#include "xd/db.h"

static struct {
    char dir[512];
    char path[600];
    xd_clock *clock;
    snd_queue *q;
    snd_banner_store *b;
} g;

static int setup(void **state)
{
    (void)state;
    if (tu_tempdir(g.dir, sizeof g.dir) != 0)
        return -1;
    snprintf(g.path, sizeof g.path, "%s/sender.db", g.dir);
    g.clock = xd_clock_manual_new(1800000000000LL);
    xd_err err;
    if (snd_queue_open(g.path, g.clock, NULL, &g.q, &err) != XD_OK)
        return -1;
    /* Its own connection to the same file, as in the service. */
    return snd_banner_store_open(g.path, g.clock, &g.b, &err) == XD_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    snd_banner_store_close(g.b);
    snd_queue_close(g.q);
    xd_clock_free(g.clock);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g.dir);
    tu_run(cmd);
    return 0;
}

static long long scalar(const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(g.path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void expect_field(const snd_banner_in *b, const char *field)
{
    xd_err err;
    xd_err_clear(&err);
    assert_int_equal(snd_banner_validate(b, 0, &err), XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, field);
    if (!strstr(err.message, field))
        fail_msg("message \"%s\" does not name %s", err.message, field);
}

static void test_bounds(void **state)
{
    (void)state;
    static unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    xd_err err;
    snd_banner_in ok = {.org_id = "org-a", .module = "", .html = "<p>Org</p>"};
    assert_int_equal(snd_banner_validate(&ok, 0, &err), XD_OK);
    snd_banner_in img = {.org_id = "org-a",
                         .module = "registration",
                         .html = "<img src=\"cid:banner\">",
                         .image = png,
                         .image_len = sizeof png,
                         .image_type = "image/png",
                         .image_alt = "Org logo"};
    assert_int_equal(snd_banner_validate(&img, 0, &err), XD_OK);

    char *big = malloc(SND_BANNER_MAX_IMAGE + 2);
    memset(big, 'a', SND_BANNER_MAX_IMAGE + 1);
    big[SND_BANNER_MAX_HTML + 1] = '\0';
    snd_banner_in b = ok;
    b.html = big;
    expect_field(&b, "banner.html");
    big[SND_BANNER_MAX_HTML] = '\0'; /* exactly at the bound */
    assert_int_equal(snd_banner_validate(&b, 0, &err), XD_OK);
    big[SND_BANNER_MAX_HTML] = 'a';
    b = ok;
    big[SND_BANNER_MAX_TEXT + 1] = '\0';
    b.text = big;
    expect_field(&b, "banner.text");
    b = img;
    b.image = big;
    b.image_len = SND_BANNER_MAX_IMAGE + 1;
    expect_field(&b, "banner.image");
    b.image_len = SND_BANNER_MAX_IMAGE;
    assert_int_equal(snd_banner_validate(&b, 0, &err), XD_OK);
    free(big);

    b = ok;
    b.html = "bad \xC3\x28 utf-8";
    expect_field(&b, "banner.html");
    b = ok;
    b.text = "\xFF";
    expect_field(&b, "banner.text");
    b = img;
    b.image_type = "application/pdf";
    expect_field(&b, "banner.image_content_type");
    b.image_type = "image/png\r\nX-Evil: 1";
    expect_field(&b, "banner.image_content_type");
    b = img;
    b.image_alt = "";
    expect_field(&b, "banner.image_alt");
    b.image_alt = "logo\r\nBcc: x@y";
    expect_field(&b, "banner.image_alt");
    char alt[SND_BANNER_MAX_ALT + 2];
    memset(alt, 'x', sizeof alt - 1);
    alt[sizeof alt - 1] = '\0';
    b.image_alt = alt;
    expect_field(&b, "banner.image_alt");
    b = ok;
    b.html = "<img src=\"cid:banner\">"; /* no image to point at */
    expect_field(&b, "banner.html");
    b.html = "<img src=\"cid:banner.other@x\">"; /* another Content-ID: fine */
    assert_int_equal(snd_banner_validate(&b, 0, &err), XD_OK);
    b = ok;
    b.image_type = "image/png"; /* type without image */
    expect_field(&b, "banner.image");
    b = ok;
    b.html = "";
    expect_field(&b, "banner.html"); /* empty banner */
    b = ok;
    b.module = "Registration";
    expect_field(&b, "banner.module");
    b.module = "a/b";
    expect_field(&b, "banner.module");
    char mod[SND_MAX_MODULE + 2];
    memset(mod, 'm', sizeof mod - 1);
    mod[sizeof mod - 1] = '\0';
    b.module = mod;
    expect_field(&b, "banner.module");
    b = ok;
    b.org_id = "";
    expect_field(&b, "banner.org_id");
    /* A remove needs only the names. */
    snd_banner_in rm = {.org_id = "org-a", .module = "x"};
    assert_int_equal(snd_banner_validate(&rm, 1, &err), XD_OK);
    /* The store refuses what validate refuses. */
    snd_banner_data out;
    b = ok;
    b.html = "<img src=\"cid:banner\">";
    assert_int_equal(snd_banner_set(g.b, &b, &out, &err), XD_INVALID_ARGUMENT);
}

/* Queues a one-recipient message of (org, module); returns its id. */
static void submit(const char *org, const char *module, const char *banner_of, char *mid)
{
    const char *addr[] = {"r@example.test"}, *dom[] = {"example.test"};
    snd_submit s = {.org_id = org,
                    .idempotency_key = "",
                    .module = module,
                    .client_id = "",
                    .from_address = "f@org.test",
                    .subject = "s",
                    .msgid_domain = "org.test",
                    .category = 1,
                    .request = "x",
                    .request_len = 1,
                    .addresses = addr,
                    .domains = dom,
                    .n = 1,
                    .banner_of = banner_of};
    snd_submit_result r;
    xd_err err;
    assert_int_equal(snd_queue_submit(g.q, &s, &r, &err), XD_OK);
    strcpy(mid, r.message_id);
    snd_submit_result_free(&r);
}

/* The html of the banner stored with mid, or "" when none. */
static const char *banner_of(const char *mid, char *buf, size_t size)
{
    snd_banner_data b;
    int found = 0;
    xd_err err;
    assert_int_equal(snd_banner_for_message(g.q, mid, &b, &found, &err), XD_OK);
    snprintf(buf, size, "%s", found ? b.html : "");
    snd_banner_data_free(&b);
    return buf;
}

static void set_html(const char *org, const char *module, const char *html)
{
    snd_banner_in b = {.org_id = org, .module = module, .html = html, .text = "T"};
    snd_banner_data out;
    xd_err err;
    assert_int_equal(snd_banner_set(g.b, &b, &out, &err), XD_OK);
    assert_string_equal(out.html, html);
    assert_string_equal(out.module, module);
    snd_banner_data_free(&out);
}

static void test_store_and_snapshots(void **state)
{
    (void)state;
    char m0[SND_ID_MAX], m1[SND_ID_MAX], m2[SND_ID_MAX], m3[SND_ID_MAX], m4[SND_ID_MAX];
    char buf[256];
    xd_err err;
    submit("org-s", "registration", NULL, m0);
    assert_string_equal(banner_of(m0, buf, sizeof buf), ""); /* none set yet */

    set_html("org-s", "", "<p>org</p>");
    set_html("org-s", "registration", "<p>registration</p>");
    submit("org-s", "registration", NULL, m1);
    submit("org-s", "catalogue", NULL, m2);
    assert_string_equal(banner_of(m1, buf, sizeof buf), "<p>registration</p>"); /* module wins */
    assert_string_equal(banner_of(m2, buf, sizeof buf), "<p>org</p>");

    /* Changing the banner later does not reach queued messages. */
    set_html("org-s", "registration", "<p>registration v2</p>");
    assert_string_equal(banner_of(m1, buf, sizeof buf), "<p>registration</p>");
    /* ...and the replaced content survives while m1 needs it. */
    assert_int_equal(scalar("SELECT count(*) FROM banner_contents WHERE html = "
                            "'<p>registration</p>'"),
                     1);
    /* A test copy keeps its original's banner, not the current one. */
    submit("org-s", "registration", m1, m3);
    assert_string_equal(banner_of(m3, buf, sizeof buf), "<p>registration</p>");
    submit("org-s", "registration", NULL, m4);
    assert_string_equal(banner_of(m4, buf, sizeof buf), "<p>registration v2</p>");

    /* Content nothing points at is deleted when replaced. */
    set_html("org-s", "catalogue", "<p>short-lived</p>");
    set_html("org-s", "catalogue", "<p>catalogue</p>");
    assert_int_equal(
        scalar("SELECT count(*) FROM banner_contents WHERE html = '<p>short-lived</p>'"), 0);

    /* Setting the same content again is idempotent: same time, one row. */
    snd_banner_data *list;
    size_t n;
    assert_int_equal(snd_banner_list(g.b, "org-s", &list, &n, &err), XD_OK);
    assert_int_equal(n, 3);
    assert_string_equal(list[0].module, ""); /* organization-wide first */
    assert_string_equal(list[1].module, "catalogue");
    assert_string_equal(list[2].module, "registration");
    int64_t t = list[2].updated_at_ms;
    snd_banner_list_free(list, n);
    xd_clock_advance_ms(g.clock, 5000);
    set_html("org-s", "registration", "<p>registration v2</p>");
    assert_int_equal(snd_banner_list(g.b, "org-s", &list, &n, &err), XD_OK);
    assert_int_equal(list[2].updated_at_ms, t);
    snd_banner_list_free(list, n);

    /* Remove: the module falls back to the organization's banner. */
    int changed = 0;
    assert_int_equal(snd_banner_remove(g.b, "org-s", "registration", &changed, &err), XD_OK);
    assert_true(changed);
    assert_int_equal(snd_banner_remove(g.b, "org-s", "registration", &changed, &err), XD_OK);
    assert_false(changed);
    submit("org-s", "registration", NULL, m4);
    assert_string_equal(banner_of(m4, buf, sizeof buf), "<p>org</p>");
    assert_string_equal(banner_of(m1, buf, sizeof buf), "<p>registration</p>");

    /* Another organization sees none of these and gets none of them. */
    assert_int_equal(snd_banner_list(g.b, "org-other", &list, &n, &err), XD_OK);
    assert_int_equal(n, 0);
    snd_banner_list_free(list, n);
    submit("org-other", "registration", NULL, m4);
    assert_string_equal(banner_of(m4, buf, sizeof buf), "");
}

static void test_image_round_trip(void **state)
{
    (void)state;
    unsigned char img[3000];
    for (size_t i = 0; i < sizeof img; i++)
        img[i] = (unsigned char)(i * 7);
    img[10] = 0; /* binary, NULs included */
    snd_banner_in b = {.org_id = "org-i",
                       .module = "",
                       .html = "<img src=\"cid:banner\" alt=\"Logo\">",
                       .image = img,
                       .image_len = sizeof img,
                       .image_type = "image/png",
                       .image_alt = "Org \"logo\""};
    snd_banner_data out;
    xd_err err;
    assert_int_equal(snd_banner_set(g.b, &b, &out, &err), XD_OK);
    assert_int_equal(out.image_len, sizeof img);
    assert_null(out.image); /* replies carry the size, not the bytes */
    snd_banner_data_free(&out);
    char mid[SND_ID_MAX];
    submit("org-i", "any", NULL, mid);
    snd_message m;
    memset(&m, 0, sizeof m);
    xd_arena *a = xd_arena_new();
    assert_int_equal(snd_banner_attach(g.q, mid, a, &m, &err), XD_OK);
    assert_non_null(m.banner);
    assert_int_equal(m.banner->image_len, sizeof img);
    assert_memory_equal(m.banner->image, img, sizeof img);
    assert_string_equal(m.banner->image_type, "image/png");
    assert_string_equal(m.banner->image_alt, "Org \"logo\"");
    assert_null(m.banner->text); /* none given: the composer uses the alt text */
    xd_arena_free(a);
}

static void test_count_bound(void **state)
{
    (void)state;
    xd_err err;
    snd_banner_data out;
    int i = 0;
    xd_code rc = XD_OK;
    for (; i < 100 && rc == XD_OK; i++) {
        char module[32];
        snprintf(module, sizeof module, "m%d", i);
        snd_banner_in b = {.org_id = "org-many", .module = module, .html = "<p>x</p>"};
        rc = snd_banner_set(g.b, &b, &out, &err);
        if (rc == XD_OK)
            snd_banner_data_free(&out);
    }
    assert_int_equal(rc, XD_RESOURCE_EXHAUSTED);
    assert_string_equal(err.field, "banner.module");
    assert_int_equal(i, 65); /* 64 stored, the 65th refused */
    /* Replacing an existing one is still allowed. */
    snd_banner_in b = {.org_id = "org-many", .module = "m3", .html = "<p>y</p>"};
    assert_int_equal(snd_banner_set(g.b, &b, &out, &err), XD_OK);
    snd_banner_data_free(&out);
}

static void test_queue_counts(void **state)
{
    (void)state;
    xd_err err;
    snd_queue_stats before, st;
    assert_int_equal(snd_queue_stats_read(g.q, "org-c", &before, &err), XD_OK);
    assert_int_equal(before.counts[SND_ST_QUEUED], 0);
    assert_int_equal(before.oldest_waiting_ms, 0);
    char m1[SND_ID_MAX], m2[SND_ID_MAX];
    int64_t t0 = xd_clock_now_ms(g.clock);
    submit("org-c", "x", NULL, m1);
    xd_clock_advance_ms(g.clock, 1000);
    submit("org-c", "x", NULL, m2);
    submit("org-d", "x", NULL, m2);
    assert_int_equal(snd_queue_stats_read(g.q, "org-c", &st, &err), XD_OK);
    assert_int_equal(st.counts[SND_ST_QUEUED], 2);
    assert_int_equal(st.oldest_waiting_ms, t0);
    assert_int_equal(st.outbox_pending, 2); /* one QUEUED event each */
    /* Claim and finish org-c's first recipient: QUEUED -> SENDING -> DELIVERED. */
    snd_claim c;
    int64_t next = 0;
    size_t delivered = 0;
    for (int round = 0; round < 5 && delivered == 0; round++) {
        assert_int_equal(snd_queue_claim(g.q, 10, &c, &next, &err), XD_OK);
        if (strcmp(c.org_id, "org-c") == 0) {
            /* Everything this claim took is SENDING now. */
            assert_int_equal(snd_queue_stats_read(g.q, "org-c", &st, &err), XD_OK);
            assert_int_equal(st.counts[SND_ST_SENDING], (int64_t)c.n);
            assert_int_equal(st.counts[SND_ST_QUEUED], 2 - (int64_t)c.n);
        }
        for (size_t i = 0; i < c.n; i++) {
            if (strcmp(c.org_id, "org-c") != 0 || strcmp(c.r[i].message_id, m1) != 0) {
                snd_rcpt_result back = {.recipient_id = c.r[i].recipient_id,
                                        .kind = SND_RES_POSTPONE,
                                        .retry_at_ms = xd_clock_now_ms(g.clock) + 3600000};
                assert_int_equal(snd_queue_finish(g.q, &back, 1, &err), XD_OK);
                continue;
            }
            snd_rcpt_result ok = {.recipient_id = c.r[i].recipient_id,
                                  .kind = SND_RES_DELIVERED,
                                  .code = 250,
                                  .text = "ok"};
            assert_int_equal(snd_queue_finish(g.q, &ok, 1, &err), XD_OK);
            delivered++;
        }
        snd_claim_free(&c);
    }
    assert_int_equal(delivered, 1);
    assert_int_equal(snd_queue_stats_read(g.q, "org-c", &st, &err), XD_OK);
    assert_int_equal(st.counts[SND_ST_QUEUED], 1);
    assert_int_equal(st.counts[SND_ST_DELIVERED], 1);
    assert_int_equal(st.counts[SND_ST_SENDING], 0);
    assert_int_equal(st.oldest_waiting_ms, t0 + 1000); /* m1 no longer waits */
    /* Every organization: the same figures as a full count of the table. */
    snd_queue_stats all;
    assert_int_equal(snd_queue_stats_read(g.q, NULL, &all, &err), XD_OK);
    int64_t counts[16];
    assert_int_equal(snd_queue_count_states(g.q, counts, &err), XD_OK);
    for (int s = 0; s < 16; s++)
        assert_int_equal(all.counts[s], counts[s]);
    assert_int_equal(all.outbox_pending, snd_outbox_pending(g.q));
    /* Acknowledged events leave the outbox count. */
    snd_event *ev = NULL;
    size_t n_ev = 0;
    assert_int_equal(snd_outbox_fetch(g.q, 10000, &ev, &n_ev, &err), XD_OK);
    assert_true(n_ev > 0);
    assert_int_equal(snd_outbox_ack(g.q, ev[n_ev / 2].id, &err), XD_OK);
    free(ev);
    assert_int_equal(snd_queue_stats_read(g.q, NULL, &all, &err), XD_OK);
    assert_int_equal(all.outbox_pending, snd_outbox_pending(g.q));
    assert_int_equal(scalar("SELECT count(*) FROM outbox o JOIN messages m USING (message_id) "
                            "WHERE m.org_id = 'org-c'"),
                     (snd_queue_stats_read(g.q, "org-c", &st, &err), st.outbox_pending));
    /* The counters equal a GROUP BY over the recipients, per org. */
    assert_int_equal(scalar("SELECT count(*) FROM (SELECT org_id, state, count(*) AS n FROM "
                            "recipients GROUP BY org_id, state) r LEFT JOIN queue_counts c "
                            "USING (org_id, state) WHERE c.n IS NOT r.n"),
                     0);
}

/* A database made before the counters: the migration back-fills them. */
static void test_migration_backfill(void **state)
{
    (void)state;
    char path[700];
    snprintf(path, sizeof path, "%s/old.db", g.dir);
    sqlite3 *db;
    xd_err err;
    assert_int_equal(xd_db_open(path, snd_schema_migrations, 2, NULL, &db, &err), XD_OK);
    assert_int_equal(
        xd_db_exec(db,
                   "INSERT INTO recipients (recipient_id, message_id, org_id, seq, address, "
                   "domain, state, born_ms, next_attempt_at_ms, updated_at_ms) VALUES "
                   "('r1','m1','org-old',0,'a@x','x',1,5,5,5),"
                   "('r2','m1','org-old',1,'b@x','x',3,5,0,5),"
                   "('r3','m1','org-old',2,'c@x','x',3,5,0,5)",
                   &err),
        XD_OK);
    xd_db_close(db);
    snd_queue *q;
    assert_int_equal(snd_queue_open(path, g.clock, NULL, &q, &err), XD_OK);
    snd_queue_stats st;
    assert_int_equal(snd_queue_stats_read(q, "org-old", &st, &err), XD_OK);
    assert_int_equal(st.counts[SND_ST_QUEUED], 1);
    assert_int_equal(st.counts[SND_ST_DELIVERED], 2);
    assert_int_equal(st.oldest_waiting_ms, 5);
    snd_queue_close(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds),           cmocka_unit_test(test_store_and_snapshots),
        cmocka_unit_test(test_image_round_trip), cmocka_unit_test(test_count_bound),
        cmocka_unit_test(test_queue_counts),     cmocka_unit_test(test_migration_backfill),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
