/* test_store.c: the verify store on a real SQLite file: idempotent and
 * reordered events, case notes, paginated org-scoped queries, suppression
 * rules, bounce/complaint ingestion, counts, domain report, health, purge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vf_analysis.h"
#include "vf_arf.h"
#include "vf_bounce.h"
#include "vf_store.h"

#define DAY_MS 86400000LL
#define T0     1795000000000LL /* 2026-11-18 */

typedef struct fixture {
    char dir[64];
    char path[128];
    xd_clock *clock;
    vf_store *store;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/vf_store_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/verify.db", f->dir);
    f->clock = xd_clock_manual_new(T0 + DAY_MS);
    xd_err err;
    assert_int_equal(vf_store_open(f->path, f->clock, NULL, &f->store, &err), XD_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    vf_store_close(f->store);
    xd_clock_free(f->clock);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static vf_event ev(const char *id, const char *org, const char *msg, const char *rcpt,
                   Xd__RecipientState st, int64_t t, uint64_t seq)
{
    vf_event e = {0};
    e.event_id = id;
    e.org_id = org;
    e.message_id = msg;
    e.recipient = rcpt;
    e.state = st;
    e.event_time_ms = t;
    e.sequence = seq;
    e.client_id = "client-1";
    e.module = "bulk-email";
    e.category = "marketing";
    e.subject = "Course starts Monday";
    e.from = "news@org.example";
    e.message_id_header = "<m1@org.example>";
    return e;
}

static void record(fixture *f, const vf_event *e, int n, unsigned want_applied, unsigned want_dups)
{
    unsigned applied, dups;
    xd_err err;
    assert_int_equal(vf_store_record(f->store, e, n, &applied, &dups, &err), XD_OK);
    assert_int_equal(applied, want_applied);
    assert_int_equal(dups, want_dups);
}

typedef struct rows {
    int n;
    vf_record_buf r[8];
} rows;

static void keep(void *ud, const vf_record *r)
{
    rows *out = ud;
    if (out->n < 8)
        vf_record_buf_copy(&out->r[out->n++], r);
}

static rows by_message(fixture *f, const char *org, const char *msg)
{
    rows out = {0};
    vf_query q = {.org_id = org, .message_id = msg};
    char next[64];
    xd_err err;
    assert_int_equal(vf_store_query(f->store, &q, keep, &out, next, &err), XD_OK);
    return out;
}

#define QUEUED    XD__RECIPIENT_STATE__RECIPIENT_STATE_QUEUED
#define DEFERRED  XD__RECIPIENT_STATE__RECIPIENT_STATE_DEFERRED
#define DELIVERED XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED
#define BOUNCED   XD__RECIPIENT_STATE__RECIPIENT_STATE_BOUNCED

static void test_duplicates_and_reordering(void **state)
{
    fixture *f = *state;
    vf_event q = ev("e1", "org-a", "m1", "Ann@Example.com", QUEUED, T0, 1);
    vf_event d = ev("e2", "org-a", "m1", "ann@example.com", DEFERRED, T0 + 1000, 2);
    d.reply_code = 451;
    d.reply_enhanced = "4.7.1";
    d.reply_text = "try later";
    vf_event ok = ev("e3", "org-a", "m1", "ann@example.com", DELIVERED, T0 + 60000, 3);
    ok.reply_code = 250;
    ok.reply_enhanced = "2.0.0";
    ok.reply_text = "OK queued as 123";
    ok.remote_host = "mx.example.com";
    /* Version and cipher: TLS 1.2 cipher names make this longer than 32. */
    ok.tls_version = "TLSv1.2 ECDHE-RSA-CHACHA20-POLY1305-SHA256";
    /* Arrival order: delivered first, then the older ones, then all again. */
    vf_event batch1[] = {ok};
    record(f, batch1, 1, 1, 0);
    vf_event batch2[] = {d, q};
    record(f, batch2, 2, 2, 0);
    vf_event batch3[] = {q, d, ok};
    record(f, batch3, 3, 0, 3);
    rows r = by_message(f, "org-a", "m1");
    assert_int_equal(r.n, 1);
    const vf_record *x = &r.r[0].rec;
    assert_int_equal(x->state, DELIVERED); /* latest by event time, not arrival */
    assert_int_equal(x->created_ms, T0);   /* the queued time, arrived last */
    assert_int_equal(x->state_ms[DEFERRED], T0 + 1000);
    assert_int_equal(x->events, 3);
    assert_int_equal(x->reply_code, 250); /* the latest reply, not the deferral's */
    assert_string_equal(x->remote_host, "mx.example.com");
    assert_string_equal(x->note_tls_version, "TLSv1.2 ECDHE-RSA-CHACHA20-POLY1305-SHA256");
    assert_int_equal(x->note_delivered_ms, T0 + 60000);
    assert_string_equal(x->note_reply_enhanced, "2.0.0");
    assert_string_equal(x->recipient, "ann@example.com");
    char note[1024];
    vf_case_note_text(x, note, sizeof note);
    assert_non_null(strstr(note, "mx.example.com"));
    assert_non_null(strstr(note, "250 2.0.0"));
    /* Counters saw each recipient once despite the duplicates. */
    vf_counts c;
    xd_err err;
    assert_int_equal(vf_store_totals(f->store, "org-a", NULL, T0 - DAY_MS, T0 + DAY_MS, &c, &err),
                     XD_OK);
    assert_int_equal(c.sent, 1);
    assert_int_equal(c.delivered, 1);
    assert_int_equal(c.deferred, 1);
    assert_int_equal(c.bounced, 0);
}

static void test_same_time_uses_sequence(void **state)
{
    fixture *f = *state;
    vf_event a = ev("s1", "org-a", "m2", "bob@example.com", BOUNCED, T0, 5);
    vf_event b = ev("s2", "org-a", "m2", "bob@example.com", DEFERRED, T0, 4);
    vf_event batch[] = {a, b};
    record(f, batch, 2, 2, 0);
    rows r = by_message(f, "org-a", "m2");
    assert_int_equal(r.r[0].rec.state, BOUNCED);
}

static void test_validation(void **state)
{
    fixture *f = *state;
    unsigned a, d;
    xd_err err;
    vf_event bad = ev("x", "org-a", "m", "no-at-sign", QUEUED, T0, 0);
    assert_int_equal(vf_store_record(f->store, &bad, 1, &a, &d, &err), XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, "events[0].recipient");
    vf_event crlf = ev("x", "org-a", "m", "a@b.example", QUEUED, T0, 0);
    crlf.subject = "hi\r\nBcc: evil@example.com";
    assert_int_equal(vf_store_record(f->store, &crlf, 1, &a, &d, &err), XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, "events[0].subject");
    vf_event longtls = ev("x", "org-a", "m", "a@b.example", QUEUED, T0, 0);
    char tls[98];
    memset(tls, 'A', 97);
    tls[97] = '\0';
    longtls.tls_version = tls;
    assert_int_equal(vf_store_record(f->store, &longtls, 1, &a, &d, &err), XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, "events[0].tls_version");
    vf_event nostate = ev("x", "org-a", "m", "a@b.example", 0, T0, 0);
    assert_int_equal(vf_store_record(f->store, &nostate, 1, &a, &d, &err), XD_INVALID_ARGUMENT);
    /* Nothing was stored by the refused batches. */
    assert_int_equal(by_message(f, "org-a", "m").n, 0);
}

static void test_tenant_isolation(void **state)
{
    fixture *f = *state;
    vf_event a = ev("same-id", "org-a", "m3", "carol@example.com", DELIVERED, T0, 1);
    vf_event b = ev("same-id", "org-b", "m3", "carol@example.com", QUEUED, T0, 1);
    record(f, &a, 1, 1, 0);
    record(f, &b, 1, 1, 0); /* event ids are per organization */
    assert_int_equal(by_message(f, "org-a", "m3").r[0].rec.state, DELIVERED);
    assert_int_equal(by_message(f, "org-b", "m3").r[0].rec.state, QUEUED);
    assert_int_equal(by_message(f, "org-c", "m3").n, 0);
    rows out = {0};
    vf_query q = {.org_id = "org-b", .recipient = "carol@example.com"};
    char next[64];
    xd_err err;
    assert_int_equal(vf_store_query(f->store, &q, keep, &out, next, &err), XD_OK);
    assert_int_equal(out.n, 1);
    assert_string_equal(out.r[0].rec.org_id, "org-b");
    vf_query qc = {.org_id = "org-c", .client_id = "client-1"};
    out.n = 0;
    assert_int_equal(vf_store_query(f->store, &qc, keep, &out, next, &err), XD_OK);
    assert_int_equal(out.n, 0);
    vf_suppression s = {.org_id = "org-a",
                        .address = "carol@example.com",
                        .reason = XD__SUPPRESSION_REASON__SUPPRESSION_REASON_MANUAL};
    int created, found;
    assert_int_equal(vf_store_suppress(f->store, &s, &created, NULL, NULL, &err), XD_OK);
    assert_int_equal(vf_store_check_suppressed(f->store, "org-b", "carol@example.com", "", &found,
                                               NULL, NULL, &err),
                     XD_OK);
    assert_int_equal(found, 0);
    vf_counts c;
    assert_int_equal(vf_store_totals(f->store, "org-b", NULL, T0 - DAY_MS, T0 + DAY_MS, &c, &err),
                     XD_OK);
    assert_int_equal(c.delivered, 0);
    assert_int_equal(c.sent, 1);
}

static void test_pagination_by_client(void **state)
{
    fixture *f = *state;
    vf_event e[25];
    char ids[25][16], msgs[25][16];
    for (int i = 0; i < 25; i++) {
        snprintf(ids[i], sizeof ids[i], "p%d", i);
        snprintf(msgs[i], sizeof msgs[i], "pm%d", i);
        e[i] = ev(ids[i], "org-a", msgs[i], "dan@example.com", DELIVERED, T0 + i * 1000, 1);
    }
    record(f, e, 25, 25, 0);
    char token[64] = "";
    int total = 0, pages = 0;
    int64_t last_time = INT64_MAX;
    do {
        rows out = {0};
        vf_query q = {.org_id = "org-a",
                      .client_id = "client-1",
                      .delivered_only = 1,
                      .page_size = 8,
                      .page_token = token};
        char next[64];
        xd_err err;
        assert_int_equal(vf_store_query(f->store, &q, keep, &out, next, &err), XD_OK);
        for (int i = 0; i < out.n; i++) {
            assert_true(out.r[i].rec.created_ms < last_time); /* newest first, no repeats */
            last_time = out.r[i].rec.created_ms;
        }
        total += out.n;
        pages++;
        snprintf(token, sizeof token, "%s", next);
    } while (token[0] && pages < 10);
    assert_int_equal(total, 25);
    assert_int_equal(pages, 4);
    /* A time range narrows by-recipient queries. */
    rows out = {0};
    vf_query q = {.org_id = "org-a",
                  .recipient = "DAN@example.com",
                  .from_ms = T0 + 5000,
                  .to_ms = T0 + 10000};
    char next[64];
    xd_err err;
    assert_int_equal(vf_store_query(f->store, &q, keep, &out, next, &err), XD_OK);
    assert_int_equal(out.n, 5);
    vf_query badtok = {.org_id = "org-a", .client_id = "client-1", .page_token = "garbage"};
    assert_int_equal(vf_store_query(f->store, &badtok, keep, &out, next, &err),
                     XD_INVALID_ARGUMENT);
}

static void test_suppression_rules(void **state)
{
    fixture *f = *state;
    xd_err err;
    int created, found;
    vf_suppression unsub = {.org_id = "org-a",
                            .address = "Eve@Example.com",
                            .reason = XD__SUPPRESSION_REASON__SUPPRESSION_REASON_UNSUBSCRIBED,
                            .source = "one-click"};
    assert_int_equal(vf_store_suppress(f->store, &unsub, &created, NULL, NULL, &err), XD_OK);
    assert_int_equal(created, 1);
    assert_int_equal(vf_store_suppress(f->store, &unsub, &created, NULL, NULL, &err), XD_OK);
    assert_int_equal(created, 0); /* idempotent */
    vf_store_check_suppressed(f->store, "org-a", "eve@example.com", "marketing", &found, NULL, NULL,
                              &err);
    assert_int_equal(found, 1);
    /* A marketing unsubscribe does not block a password reset. */
    vf_store_check_suppressed(f->store, "org-a", "eve@example.com", "transactional", &found, NULL,
                              NULL, &err);
    assert_int_equal(found, 0);
    /* Per-category scope. */
    vf_suppression news = {.org_id = "org-a",
                           .address = "frank@example.com",
                           .scope = "newsletter",
                           .reason = XD__SUPPRESSION_REASON__SUPPRESSION_REASON_MANUAL};
    vf_store_suppress(f->store, &news, &created, NULL, NULL, &err);
    vf_store_check_suppressed(f->store, "org-a", "frank@example.com", "newsletter", &found, NULL,
                              NULL, &err);
    assert_int_equal(found, 1);
    vf_store_check_suppressed(f->store, "org-a", "frank@example.com", "billing", &found, NULL, NULL,
                              &err);
    assert_int_equal(found, 0);
    /* Hard bounces block everything, and expire. */
    vf_suppression hb = {.org_id = "org-a",
                         .address = "gone@example.com",
                         .reason = XD__SUPPRESSION_REASON__SUPPRESSION_REASON_HARD_BOUNCE};
    vf_store_suppress(f->store, &hb, &created, NULL, NULL, &err);
    vf_store_check_suppressed(f->store, "org-a", "gone@example.com", "transactional", &found, NULL,
                              NULL, &err);
    assert_int_equal(found, 1);
    xd_clock_advance_ms(f->clock, 91 * DAY_MS);
    vf_store_check_suppressed(f->store, "org-a", "gone@example.com", "transactional", &found, NULL,
                              NULL, &err);
    assert_int_equal(found, 0);
    /* Remove is idempotent. */
    int removed;
    assert_int_equal(vf_store_unsuppress(f->store, "org-a", "eve@example.com", "", &removed, &err),
                     XD_OK);
    assert_int_equal(removed, 1);
    vf_store_unsuppress(f->store, "org-a", "eve@example.com", "", &removed, &err);
    assert_int_equal(removed, 0);
    vf_suppression bad = {.org_id = "org-a", .address = "x@example.com", .reason = 0};
    assert_int_equal(vf_store_suppress(f->store, &bad, &created, NULL, NULL, &err),
                     XD_INVALID_ARGUMENT);
}

static int count_sup;
static void count_one(void *ud, const vf_suppression *s)
{
    (void)ud;
    (void)s;
    count_sup++;
}

static void test_suppression_pagination(void **state)
{
    fixture *f = *state;
    xd_err err;
    int created;
    char addr[32];
    for (int i = 0; i < 12; i++) {
        snprintf(addr, sizeof addr, "u%02d@example.com", i);
        vf_suppression s = {.org_id = "org-a",
                            .address = addr,
                            .reason = XD__SUPPRESSION_REASON__SUPPRESSION_REASON_MANUAL};
        assert_int_equal(vf_store_suppress(f->store, &s, &created, NULL, NULL, &err), XD_OK);
    }
    char token[600] = "", next[600];
    int pages = 0;
    count_sup = 0;
    do {
        assert_int_equal(vf_store_list_suppressions(f->store, "org-a", "", 0, 5, token, count_one,
                                                    NULL, next, &err),
                         XD_OK);
        snprintf(token, sizeof token, "%s", next);
        pages++;
    } while (token[0] && pages < 10);
    assert_int_equal(count_sup, 12);
    assert_int_equal(pages, 3);
    count_sup = 0;
    vf_store_list_suppressions(f->store, "org-b", "", 0, 5, "", count_one, NULL, next, &err);
    assert_int_equal(count_sup, 0);
}

static char *read_corpus(const char *rel, size_t *len)
{
    const char *root = getenv("XD_CORPORA");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root ? root : "/work/shared/corpora", rel);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    static char buf[1 << 20];
    *len = fread(buf, 1, sizeof buf - 1, fp);
    buf[*len] = '\0';
    fclose(fp);
    return buf;
}

static void test_bounce_suppresses_and_updates_log(void **state)
{
    fixture *f = *state;
    /* lhost-postfix-03 bounces a mail to a non-existent user (5.1.1). */
    size_t len;
    const char *raw = read_corpus("sisimai-set-of-emails/maildir/bsd/lhost-sendmail-01.eml", &len);
    vf_bounce *b = malloc(sizeof *b);
    assert_int_equal(vf_bounce_parse(raw, len, b), 0);
    assert_true(b->n >= 1);
    assert_true(b->rcpts[0].cls.hard);
    /* Pretend we delivered to that recipient first. */
    vf_event e = ev("b1", "org-a", "mb", b->rcpts[0].recipient, DELIVERED, T0, 1);
    record(f, &e, 1, 1, 0);
    unsigned suppressed;
    int dup;
    xd_err err;
    assert_int_equal(
        vf_store_ingest_bounce(f->store, "org-a", "bounce-1", "", b, &suppressed, &dup, &err),
        XD_OK);
    assert_int_equal(suppressed, 1);
    assert_int_equal(dup, 0);
    assert_int_equal(
        vf_store_ingest_bounce(f->store, "org-a", "bounce-1", "", b, &suppressed, &dup, &err),
        XD_OK);
    assert_int_equal(dup, 1);
    assert_int_equal(suppressed, 0);
    rows r = by_message(f, "org-a", "mb");
    assert_int_equal(r.r[0].rec.state, BOUNCED);
    assert_true(r.r[0].rec.note_delivered_ms > 0); /* the delivery proof stays */
    assert_int_equal(r.r[0].rec.failure_category,
                     XD__FAILURE_CATEGORY__FAILURE_CATEGORY_INVALID_RECIPIENT);
    int found;
    vf_store_check_suppressed(f->store, "org-a", b->rcpts[0].recipient, "transactional", &found,
                              NULL, NULL, &err);
    assert_int_equal(found, 1);
    unsigned recent;
    vf_store_recent_bounces(f->store, "org-a", b->rcpts[0].recipient, T0, &recent, &err);
    assert_int_equal(recent, 1);
    free(b);
}

static void test_complaints(void **state)
{
    fixture *f = *state;
    size_t len;
    xd_err err;
    unsigned suppressed;
    int dup, found;
    vf_arf arf;
    const char *raw = read_corpus("arf-feedback-reports/stalwart/002.eml", &len);
    assert_int_equal(vf_arf_parse(raw, len, &arf), 0);
    assert_string_equal(arf.feedback_type, "abuse");
    assert_true(arf.n_rcpts >= 1);
    assert_int_equal(
        vf_store_ingest_complaint(f->store, "org-a", "c1", &arf, &suppressed, &dup, &err), XD_OK);
    assert_int_equal(suppressed, (unsigned)arf.n_rcpts);
    vf_store_check_suppressed(f->store, "org-a", arf.rcpts[0], "marketing", &found, NULL, NULL,
                              &err);
    assert_int_equal(found, 1);
    raw = read_corpus("arf-feedback-reports/stalwart/004.eml", &len);
    assert_int_equal(vf_arf_parse(raw, len, &arf), 0);
    assert_string_equal(arf.feedback_type, "auth-failure");
    assert_int_equal(
        vf_store_ingest_complaint(f->store, "org-a", "c2", &arf, &suppressed, &dup, &err), XD_OK);
    assert_int_equal(suppressed, 0); /* auth-failure never suppresses */
}

static void test_counts_and_domain_report(void **state)
{
    fixture *f = *state;
    xd_err err;
    /* 10 recipients at corp.example: 8 rejected by policy; 5 at fine.example delivered. */
    vf_event e[15];
    char ids[15][16], rc[15][32];
    for (int i = 0; i < 15; i++) {
        snprintf(ids[i], sizeof ids[i], "d%d", i);
        snprintf(rc[i], sizeof rc[i], "u%d@%s", i, i < 10 ? "corp.example" : "fine.example");
        int rejected = i < 8;
        e[i] = ev(ids[i], "org-a", ids[i], rc[i], rejected ? BOUNCED : DELIVERED, T0 + i, 1);
        if (rejected) {
            e[i].reply_code = 550;
            e[i].reply_enhanced = "5.7.1";
            e[i].reply_text = "Message rejected by policy";
            e[i].failure_category = XD__FAILURE_CATEGORY__FAILURE_CATEGORY_POLICY_BLOCK;
        }
        if (i >= 12)
            e[i].module = "password-reset", e[i].client_id = "client-2";
    }
    record(f, e, 15, 15, 0);
    vf_domain_row *rows_out;
    unsigned n;
    assert_int_equal(
        vf_store_domain_report(f->store, "org-a", T0 - DAY_MS, T0 + DAY_MS, 0, &rows_out, &n, &err),
        XD_OK);
    assert_int_equal(n, 2);
    assert_string_equal(rows_out[0].domain, "corp.example");
    assert_int_equal(rows_out[0].volume, 10);
    assert_int_equal(rows_out[0].rejected, 8);
    assert_int_equal(rows_out[0].by_category[XD__FAILURE_CATEGORY__FAILURE_CATEGORY_POLICY_BLOCK],
                     8);
    vf_domain_verdict v;
    vf_domain_judge(vf_store_settings(f->store), &rows_out[0], &v);
    assert_true(v.flagged);
    assert_non_null(strstr(v.remedy, "allow mail from smtp.xenegrade.net"));
    vf_domain_judge(vf_store_settings(f->store), &rows_out[1], &v);
    assert_false(v.flagged);
    free(rows_out);
    /* Other orgs see nothing. */
    assert_int_equal(
        vf_store_domain_report(f->store, "org-b", T0 - DAY_MS, T0 + DAY_MS, 0, &rows_out, &n, &err),
        XD_OK);
    assert_int_equal(n, 0);
    free(rows_out);
    assert_int_equal(vf_store_domain_report(f->store, "org-a", T0, T0 - 1, 0, &rows_out, &n, &err),
                     XD_INVALID_ARGUMENT);
    /* Health: 8 of 15 bounced in the last 7 days is critical. */
    vf_health h;
    assert_int_equal(vf_org_health(f->store, "org-a", &h, &err), XD_OK);
    assert_int_equal(h.windows[0].counts.sent, 15);
    assert_int_equal(h.level, XD__HEALTH_LEVEL__HEALTH_LEVEL_CRITICAL);
    assert_int_equal(h.windows[0].bounce_level, XD__HEALTH_LEVEL__HEALTH_LEVEL_CRITICAL);
    assert_int_equal(vf_org_health(f->store, "org-b", &h, &err), XD_OK);
    assert_int_equal(h.level, XD__HEALTH_LEVEL__HEALTH_LEVEL_OK);
}

typedef struct counts_seen {
    vf_counts total;
    int clients, modules;
    vf_counts client2;
} counts_seen;

static void on_total(void *ud, const char *k, const vf_counts *c)
{
    (void)k;
    ((counts_seen *)ud)->total = *c;
}
static void on_client(void *ud, const char *k, const vf_counts *c)
{
    counts_seen *s = ud;
    s->clients++;
    if (strcmp(k, "client-2") == 0)
        s->client2 = *c;
}
static void on_module(void *ud, const char *k, const vf_counts *c)
{
    (void)k;
    (void)c;
    ((counts_seen *)ud)->modules++;
}

static void test_monthly_counts(void **state)
{
    fixture *f = *state;
    test_counts_and_domain_report(state);
    counts_seen s = {0};
    xd_err err;
    assert_int_equal(
        vf_store_counts(f->store, "org-a", "2026-11", on_total, on_client, on_module, &s, &err),
        XD_OK);
    assert_int_equal(s.total.sent, 15);
    assert_int_equal(s.total.bounced, 8);
    assert_int_equal(s.total.delivered, 7);
    assert_int_equal(s.clients, 2);
    assert_int_equal(s.modules, 2);
    assert_int_equal(s.client2.sent, 3);
    /* The counters equal a recount from the log. */
    assert_int_equal(vf_store_rebuild_counters(f->store, &err), XD_OK);
    counts_seen again = {0};
    vf_store_counts(f->store, "org-a", "2026-11", on_total, on_client, on_module, &again, &err);
    assert_memory_equal(&again.total, &s.total, sizeof s.total);
    assert_int_equal(
        vf_store_counts(f->store, "org-a", "2026-13", on_total, on_client, on_module, &s, &err),
        XD_INVALID_ARGUMENT);
}

static void test_counters_match_rebuild_after_reordering(void **state)
{
    fixture *f = *state;
    /* The first event to arrive lacks client and module; the later ones
     * move the recipient between months (queued time arrives last). */
    vf_event a = ev("r1", "org-a", "mr", "zed@example.com", DELIVERED, T0 + 40 * DAY_MS, 2);
    a.client_id = "";
    a.module = "";
    vf_event b = ev("r2", "org-a", "mr", "zed@example.com", BOUNCED, T0 + 41 * DAY_MS, 3);
    b.failure_category = XD__FAILURE_CATEGORY__FAILURE_CATEGORY_MAILBOX_FULL;
    vf_event c = ev("r3", "org-a", "mr", "zed@example.com", QUEUED, T0, 1);
    record(f, &a, 1, 1, 0);
    record(f, &b, 1, 1, 0);
    record(f, &c, 1, 1, 0);
    counts_seen before = {0}, after = {0};
    xd_err err;
    vf_store_counts(f->store, "org-a", "2026-11", on_total, on_client, on_module, &before, &err);
    assert_int_equal(before.total.sent, 1);
    assert_int_equal(before.total.bounced, 1);
    assert_int_equal(before.clients, 1); /* no stale "" client left behind */
    counts_seen dec = {0};
    vf_store_counts(f->store, "org-a", "2026-12", on_total, on_client, on_module, &dec, &err);
    assert_int_equal(dec.total.sent, 0);
    vf_domain_row *rows_out;
    unsigned n;
    vf_store_domain_report(f->store, "org-a", T0 - DAY_MS, T0 + 60 * DAY_MS, 0, &rows_out, &n,
                           &err);
    assert_int_equal(n, 1);
    assert_int_equal(rows_out[0].by_category[XD__FAILURE_CATEGORY__FAILURE_CATEGORY_MAILBOX_FULL],
                     1);
    free(rows_out);
    assert_int_equal(vf_store_rebuild_counters(f->store, &err), XD_OK);
    vf_store_counts(f->store, "org-a", "2026-11", on_total, on_client, on_module, &after, &err);
    assert_memory_equal(&before.total, &after.total, sizeof before.total);
    assert_int_equal(after.clients, before.clients);
}

static void test_domain_report_months_and_days(void **state)
{
    fixture *f = *state;
    /* One recipient every 5 days for 120 days from 2026-11-18. */
    vf_event e[24];
    char ids[24][16];
    for (int i = 0; i < 24; i++) {
        snprintf(ids[i], sizeof ids[i], "y%d", i);
        e[i] = ev(ids[i], "org-a", ids[i], "r@span.example", i % 3 ? DELIVERED : BOUNCED,
                  T0 + i * 5 * DAY_MS, 1);
        e[i].failure_category = XD__FAILURE_CATEGORY__FAILURE_CATEGORY_MAILBOX_FULL;
    }
    record(f, e, 24, 24, 0);
    xd_err err;
    /* Periods with and without whole months give the same totals as a
     * count of the events inside them. */
    static const int64_t spans[][2] = {{0, 120}, {3, 97}, {10, 40}, {13, 14}, {0, 1}};
    for (size_t k = 0; k < sizeof spans / sizeof spans[0]; k++) {
        int64_t from = T0 + spans[k][0] * DAY_MS, to = T0 + spans[k][1] * DAY_MS;
        uint64_t want = 0, want_bounced = 0;
        for (int i = 0; i < 24; i++) {
            int64_t t = T0 + i * 5 * DAY_MS;
            /* the report rounds out to whole UTC days */
            if (t / DAY_MS >= from / DAY_MS && t / DAY_MS < (to + DAY_MS - 1) / DAY_MS) {
                want++;
                want_bounced += i % 3 == 0;
            }
        }
        vf_domain_row *rows_out;
        unsigned n;
        assert_int_equal(
            vf_store_domain_report(f->store, "org-a", from, to, 0, &rows_out, &n, &err), XD_OK);
        assert_int_equal(n, want ? 1 : 0);
        if (n) {
            assert_int_equal(rows_out[0].volume, want);
            assert_int_equal(rows_out[0].rejected, want_bounced);
        }
        free(rows_out);
    }
}

static void test_retention_purge(void **state)
{
    fixture *f = *state;
    vf_event e = ev("old", "org-a", "mold", "old@example.com", DELIVERED, T0, 1);
    record(f, &e, 1, 1, 0);
    unsigned deleted;
    xd_err err;
    xd_clock_advance_ms(f->clock, 399 * DAY_MS);
    assert_int_equal(vf_store_purge(f->store, &deleted, &err), XD_OK);
    assert_int_equal(deleted, 0);
    assert_int_equal(by_message(f, "org-a", "mold").n, 1);
    xd_clock_advance_ms(f->clock, 2 * DAY_MS);
    assert_int_equal(vf_store_purge(f->store, &deleted, &err), XD_OK);
    assert_int_equal(deleted, 1);
    assert_int_equal(by_message(f, "org-a", "mold").n, 0);
    /* Its event id was forgotten too (the de-duplication window ended). */
    record(f, &e, 1, 1, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_duplicates_and_reordering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_time_uses_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tenant_isolation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pagination_by_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_suppression_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_suppression_pagination, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounce_suppresses_and_updates_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_complaints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counts_and_domain_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_monthly_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters_match_rebuild_after_reordering, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_domain_report_months_and_days, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_purge, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
