/*
 * test_queue.c: the sender's durable queue (queue_store.h) on a manual
 * clock against a real SQLite file in a temp dir: the retry schedule (5 min
 * start, doubling, jitter bounds, 4 h cap), expiry at the maximum age (3
 * days) as EXPIRED, send_at scheduling, Cancel of unsent recipients only,
 * the idempotency key, in-flight work put back at start with the same
 * Message-ID, per-destination fairness (a huge backlog does not starve
 * other destinations), group commit under concurrent writers, and a mixed run in which every
 * recipient ends in exactly one final state with exactly one final event.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compose_message.h"
#include "deliver_message.h"
#include "queue_fixture.h"
#include "queue_store.h"
#include "sender.pb-c.h"
#include "xd/arena.h"
#include "xd/clock.h"
#include "xd/log.h"

#define MIN_MS  60000LL
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS  (24 * HOUR_MS)

enum { QUEUED = 1, DEFERRED = 2, DELIVERED = 3, BOUNCED = 4, EXPIRED = 5, SUPPRESSED = 6 };
enum { CANCELLED = 9, SENDING = 10 };

static snd_rcpt_status get_rcpt(fixture *f, const char *org, const char *mid, size_t i)
{
    snd_message_info m;
    xd_err err;
    assert_int_equal(snd_queue_get(f->q, org, mid, &m, &err), XD_OK);
    assert_true(i < m.n);
    snd_rcpt_status s = m.rcpts[i];
    snd_message_info_free(&m);
    return s;
}

static size_t claim(fixture *f, snd_claim *c, int64_t *next_due)
{
    xd_err err;
    int64_t nd = 0;
    assert_int_equal(snd_queue_claim(f->q, 1000, c, &nd, &err), XD_OK);
    if (next_due)
        *next_due = nd;
    return c->n;
}

static void finish_all(fixture *f, const snd_claim *c, snd_result_kind kind, int code,
                       const char *text)
{
    snd_rcpt_result *r = calloc(c->n, sizeof *r);
    for (size_t i = 0; i < c->n; i++) {
        r[i].recipient_id = c->r[i].recipient_id;
        r[i].kind = kind;
        r[i].code = code;
        r[i].enhanced = code >= 500 ? "5.1.1" : code >= 400 ? "4.2.1" : "2.0.0";
        r[i].text = text;
        r[i].remote_host = "mx.dest.example";
        r[i].failure = kind == SND_RES_DELIVERED ? 0 : 16;
    }
    xd_err err;
    assert_int_equal(snd_queue_finish(f->q, r, c->n, &err), XD_OK);
    free(r);
}

/* All outbox events, oldest first (malloc'd). */
static snd_event *events(fixture *f, size_t *n)
{
    snd_event *ev = NULL;
    xd_err err;
    assert_int_equal(snd_outbox_fetch(f->q, 100000, &ev, n, &err), XD_OK);
    return ev;
}

static int64_t expected_delay(unsigned attempts)
{
    int64_t d = 5 * MIN_MS;
    for (unsigned i = 1; i < attempts && d < 4 * HOUR_MS; i++)
        d *= 2;
    return d < 4 * HOUR_MS ? d : 4 * HOUR_MS;
}

/* ------------------------------------------------------------ tests */

/* Defaults: 5 min, doubling, 4 h cap, no overflow at high counts; with
 * 10 % jitter every delay stays within +-10 % and does spread. */
static void test_backoff_schedule(void **state)
{
    (void)state;
    fixture *f = fixture_new(NULL);
    static const int64_t want[] = {5 * MIN_MS,   10 * MIN_MS, 20 * MIN_MS, 40 * MIN_MS, 80 * MIN_MS,
                                   160 * MIN_MS, 4 * HOUR_MS, 4 * HOUR_MS, 4 * HOUR_MS};
    for (unsigned a = 1; a <= 9; a++)
        assert_int_equal(snd_queue_backoff_ms(f->q, a), want[a - 1]);
    assert_int_equal(snd_queue_backoff_ms(f->q, 64), 4 * HOUR_MS);
    assert_int_equal(snd_queue_backoff_ms(f->q, 100000), 4 * HOUR_MS);
    fixture_free(f);

    snd_queue_config cfg = {.jitter_permille = 100};
    f = fixture_new(&cfg);
    for (unsigned a = 1; a <= 9; a++) {
        int64_t base = want[a - 1], lo = INT64_MAX, hi = 0;
        double sum = 0;
        for (int i = 0; i < 400; i++) {
            int64_t d = snd_queue_backoff_ms(f->q, a);
            assert_true(d >= base - base / 10 && d <= base + base / 10);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
            sum += (double)d;
        }
        assert_true(lo < base && hi > base); /* it does jitter, both ways */
        double mean = sum / 400;
        assert_true(mean > base * 0.97 && mean < base * 1.03);
    }
    fixture_free(f);
}

/* The queue applies the schedule: each 4xx defers by the next delay (not
 * claimable a millisecond early), until the next try would fall past 3
 * days: then EXPIRED with the last reply kept and failure EXPIRED. */
static void test_retry_until_expired(void **state)
{
    (void)state;
    fixture *f = fixture_new(NULL);
    snd_submit_result res;
    sub_opts o = {.org = "org-a", .domain = "dest.example", .n = 1};
    assert_int_equal(submit(f, &o, &res), XD_OK);
    /* The expected schedule, computed independently. */
    int64_t t = 0;
    unsigned want_attempts = 0;
    for (;;) {
        want_attempts++;
        int64_t d = expected_delay(want_attempts);
        if (t + d >= 3 * DAY_MS)
            break;
        t += d;
    }
    unsigned attempts = 0;
    for (;;) {
        snd_claim c;
        int64_t next_due;
        assert_int_equal(claim(f, &c, &next_due), 1);
        assert_string_equal(c.r[0].recipient_id, res.rcpts[0].recipient_id);
        assert_int_equal(c.r[0].attempts, attempts);
        finish_all(f, &c, SND_RES_TEMPFAIL, 451, "try again later");
        snd_claim_free(&c);
        attempts++;
        snd_rcpt_status s = get_rcpt(f, "org-a", res.message_id, 0);
        assert_int_equal(s.attempts, attempts);
        if (s.state == EXPIRED) {
            assert_int_equal(s.failure, SND_FAIL_EXPIRED);
            assert_int_equal(s.code, 451);
            assert_string_equal(s.text, "try again later");
            break;
        }
        assert_int_equal(s.state, DEFERRED);
        int64_t now = xd_clock_now_ms(f->clock);
        assert_int_equal(s.next_attempt_at_ms - now, expected_delay(attempts));
        assert_int_equal(s.code, 451);
        /* one ms early: nothing due, and the queue names the due time */
        xd_clock_set_ms(f->clock, s.next_attempt_at_ms - 1);
        assert_int_equal(claim(f, &c, &next_due), 0);
        assert_int_equal(next_due, s.next_attempt_at_ms);
        snd_claim_free(&c);
        xd_clock_set_ms(f->clock, s.next_attempt_at_ms);
        assert_true(attempts < 100);
    }
    assert_int_equal(attempts, want_attempts);
    assert_true(xd_clock_now_ms(f->clock) - T0 < 3 * DAY_MS);
    /* Events: QUEUED, one DEFERRED per retry, one EXPIRED, in sequence. */
    size_t n;
    snd_event *ev = events(f, &n);
    assert_int_equal(n, 1 + attempts);
    assert_int_equal(ev[0].state, QUEUED);
    for (size_t i = 1; i < n; i++) {
        assert_int_equal(ev[i].state, i + 1 < n ? DEFERRED : EXPIRED);
        assert_int_equal(ev[i].sequence, ev[i - 1].sequence + 1);
    }
    free(ev);
    snd_submit_result_free(&res);
    fixture_free(f);
}

/* A recipient that never got an attempt (postponed by pacing beyond the
 * maximum age) expires when claimed, without being handed out. */
static void test_expired_at_claim(void **state)
{
    (void)state;
    fixture *f = fixture_new(NULL);
    snd_submit_result res;
    sub_opts o = {.org = "org-a", .domain = "slow.example", .n = 2};
    assert_int_equal(submit(f, &o, &res), XD_OK);
    snd_claim c;
    assert_int_equal(claim(f, &c, NULL), 2);
    snd_rcpt_result r[2] = {
        {.recipient_id = c.r[0].recipient_id,
         .kind = SND_RES_POSTPONE,
         .retry_at_ms = T0 + 3 * DAY_MS},
        {.recipient_id = c.r[1].recipient_id,
         .kind = SND_RES_POSTPONE,
         .retry_at_ms = T0 + 3 * DAY_MS - 1},
    };
    xd_err err;
    assert_int_equal(snd_queue_finish(f->q, r, 2, &err), XD_OK);
    snd_claim_free(&c);
    /* postponed, not attempted: still QUEUED, no event */
    assert_int_equal(get_rcpt(f, "org-a", res.message_id, 0).state, QUEUED);
    xd_clock_set_ms(f->clock, T0 + 3 * DAY_MS - 1);
    assert_int_equal(claim(f, &c, NULL), 1); /* just inside the maximum age */
    snd_claim_free(&c);
    xd_clock_set_ms(f->clock, T0 + 3 * DAY_MS);
    assert_int_equal(claim(f, &c, NULL), 0); /* the other one expired on the way */
    snd_claim_free(&c);
    snd_rcpt_status s = get_rcpt(f, "org-a", res.message_id, 0);
    assert_int_equal(s.state, EXPIRED);
    assert_int_equal(s.attempts, 0);
    assert_int_equal(s.failure, SND_FAIL_EXPIRED);
    size_t n;
    snd_event *ev = events(f, &n);
    assert_int_equal(n, 3); /* two QUEUED, one EXPIRED */
    assert_int_equal(ev[2].state, EXPIRED);
    assert_string_equal(ev[2].recipient_id, res.rcpts[0].recipient_id);
    assert_non_null(strstr(ev[2].text, "maximum age"));
    free(ev);
    snd_submit_result_free(&res);
    fixture_free(f);
}

/* send_at: not claimable before its time, named as the next due time; the
 * maximum age counts from send_at, not from the Submit. */
static void test_send_at(void **state)
{
    (void)state;
    fixture *f = fixture_new(NULL);
    snd_submit_result now_res, later_res;
    sub_opts later = {
        .org = "org-a", .domain = "later.example", .n = 1, .send_at_ms = T0 + 2 * HOUR_MS};
    assert_int_equal(submit(f, &later, &later_res), XD_OK);
    snd_claim c;
    int64_t next_due;
    assert_int_equal(claim(f, &c, &next_due), 0);
    assert_int_equal(next_due, T0 + 2 * HOUR_MS);
    snd_claim_free(&c);
    /* a message without send_at goes first meanwhile */
    sub_opts now = {.org = "org-a", .domain = "now.example", .n = 1};
    assert_int_equal(submit(f, &now, &now_res), XD_OK);
    assert_int_equal(claim(f, &c, NULL), 1);
    assert_string_equal(c.r[0].message_id, now_res.message_id);
    finish_all(f, &c, SND_RES_DELIVERED, 250, "ok");
    snd_claim_free(&c);
    xd_clock_set_ms(f->clock, T0 + 2 * HOUR_MS - 1);
    assert_int_equal(claim(f, &c, NULL), 0);
    snd_claim_free(&c);
    xd_clock_set_ms(f->clock, T0 + 2 * HOUR_MS);
    assert_int_equal(claim(f, &c, NULL), 1);
    assert_string_equal(c.r[0].message_id, later_res.message_id);
    /* 3 days after Submit but less after send_at: deferred, not expired */
    xd_clock_set_ms(f->clock, T0 + 3 * DAY_MS + HOUR_MS);
    finish_all(f, &c, SND_RES_TEMPFAIL, 450, "busy");
    snd_claim_free(&c);
    assert_int_equal(get_rcpt(f, "org-a", later_res.message_id, 0).state, DEFERRED);
    snd_submit_result_free(&now_res);
    snd_submit_result_free(&later_res);
    fixture_free(f);
}

static int in_list(const snd_id_list *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->ids[i], id) == 0)
            return 1;
    return 0;
}

/* Cancel takes only recipients not yet sent: QUEUED and DEFERRED go to
 * CANCELLED (one event each) and are never claimed; SENDING and final ones
 * are reported as not cancelled; another organization sees NOT_FOUND. */
static void test_cancel(void **state)
{
    (void)state;
    fixture *f = fixture_new(NULL);
    snd_submit_result a, b;
    sub_opts oa = {.org = "org-a", .domain = "dest.example", .n = 4};
    assert_int_equal(submit(f, &oa, &a), XD_OK);
    /* rcpt0 delivered, rcpt1 deferred, rcpt2 in flight, rcpt3 queued */
    snd_claim c;
    assert_int_equal(claim(f, &c, NULL), 4);
    snd_rcpt_result r[4] = {
        {.recipient_id = a.rcpts[0].recipient_id, .kind = SND_RES_DELIVERED, .code = 250},
        {.recipient_id = a.rcpts[1].recipient_id, .kind = SND_RES_TEMPFAIL, .code = 451},
        {.recipient_id = a.rcpts[3].recipient_id,
         .kind = SND_RES_POSTPONE,
         .retry_at_ms = T0 + HOUR_MS},
    };
    xd_err err;
    assert_int_equal(snd_queue_finish(f->q, r, 3, &err), XD_OK);
    snd_claim_free(&c);
    snd_id_list done, not_done;
    assert_int_equal(snd_queue_cancel(f->q, "org-b", a.message_id, NULL, 0, &done, &not_done, &err),
                     XD_NOT_FOUND);
    const char *bogus[] = {"m000000000000-9"};
    assert_int_equal(
        snd_queue_cancel(f->q, "org-a", a.message_id, bogus, 1, &done, &not_done, &err),
        XD_NOT_FOUND);
    assert_string_equal(err.field, "recipient_ids");
    /* only rcpt1 by id first */
    const char *one[] = {a.rcpts[1].recipient_id};
    assert_int_equal(snd_queue_cancel(f->q, "org-a", a.message_id, one, 1, &done, &not_done, &err),
                     XD_OK);
    assert_int_equal(done.n, 1);
    assert_int_equal(not_done.n, 0);
    assert_true(in_list(&done, a.rcpts[1].recipient_id));
    snd_id_list_free(&done);
    snd_id_list_free(&not_done);
    /* then the whole message */
    assert_int_equal(snd_queue_cancel(f->q, "org-a", a.message_id, NULL, 0, &done, &not_done, &err),
                     XD_OK);
    assert_int_equal(done.n, 1);
    assert_true(in_list(&done, a.rcpts[3].recipient_id));
    assert_int_equal(not_done.n, 3);
    assert_true(in_list(&not_done, a.rcpts[0].recipient_id)); /* delivered */
    assert_true(in_list(&not_done, a.rcpts[1].recipient_id)); /* already cancelled */
    assert_true(in_list(&not_done, a.rcpts[2].recipient_id)); /* in flight */
    snd_id_list_free(&done);
    snd_id_list_free(&not_done);
    assert_int_equal(get_rcpt(f, "org-a", a.message_id, 1).state, CANCELLED);
    assert_int_equal(get_rcpt(f, "org-a", a.message_id, 3).state, CANCELLED);
    assert_int_equal(get_rcpt(f, "org-a", a.message_id, 2).state, SENDING);
    /* cancelled ones are never handed out, even once due */
    xd_clock_set_ms(f->clock, T0 + 2 * HOUR_MS);
    sub_opts ob = {.org = "org-a", .domain = "other.example", .n = 1};
    assert_int_equal(submit(f, &ob, &b), XD_OK);
    assert_int_equal(claim(f, &c, NULL), 1);
    assert_string_equal(c.r[0].message_id, b.message_id);
    snd_claim_free(&c);
    assert_int_equal(claim(f, &c, NULL), 0);
    snd_claim_free(&c);
    /* the in-flight one finishes normally: its outcome stands */
    snd_rcpt_result last = {
        .recipient_id = a.rcpts[2].recipient_id, .kind = SND_RES_DELIVERED, .code = 250};
    assert_int_equal(snd_queue_finish(f->q, &last, 1, &err), XD_OK);
    assert_int_equal(get_rcpt(f, "org-a", a.message_id, 2).state, DELIVERED);
    size_t n;
    snd_event *ev = events(f, &n);
    size_t cancelled = 0;
    for (size_t i = 0; i < n; i++)
        cancelled += ev[i].state == CANCELLED;
    assert_int_equal(cancelled, 2);
    free(ev);
    snd_submit_result_free(&a);
    snd_submit_result_free(&b);
    fixture_free(f);
}

/* The same key in the same organization returns the first answer (same
 * ids, nothing stored twice); another organization or no key stores anew. */
static void test_idempotency_key(void **state)
{
    (void)state;
    fixture *f = fixture_new(NULL);
    snd_submit_result r1, r2, r3, r4, r5;
    sub_opts o = {.org = "org-a", .domain = "dest.example", .n = 3, .key = "order-42"};
    assert_int_equal(submit(f, &o, &r1), XD_OK);
    assert_int_equal(r1.duplicate, 0);
    xd_clock_advance_ms(f->clock, HOUR_MS);
    reopen(f); /* the key is durable */
    assert_int_equal(submit(f, &o, &r2), XD_OK);
    assert_int_equal(r2.duplicate, 1);
    assert_string_equal(r2.message_id, r1.message_id);
    assert_int_equal(r2.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(r2.rcpts[i].recipient_id, r1.rcpts[i].recipient_id);
        assert_string_equal(r2.rcpts[i].address, r1.rcpts[i].address);
    }
    int64_t counts[16];
    xd_err err;
    assert_int_equal(snd_queue_count_states(f->q, counts, &err), XD_OK);
    assert_int_equal(counts[QUEUED], 3);
    o.org = "org-b";
    assert_int_equal(submit(f, &o, &r3), XD_OK);
    assert_int_equal(r3.duplicate, 0);
    assert_string_not_equal(r3.message_id, r1.message_id);
    o.org = "org-a";
    o.key = NULL;
    assert_int_equal(submit(f, &o, &r4), XD_OK);
    assert_int_equal(submit(f, &o, &r5), XD_OK);
    assert_string_not_equal(r4.message_id, r5.message_id);
    assert_int_equal(snd_queue_count_states(f->q, counts, &err), XD_OK);
    assert_int_equal(counts[QUEUED], 12);
    snd_submit_result *all[] = {&r1, &r2, &r3, &r4, &r5};
    for (size_t i = 0; i < 5; i++)
        snd_submit_result_free(all[i]);
    fixture_free(f);
}

/* Composes the stored message of rid's copy and returns its Message-ID
 * header value (malloc'd). */
static char *compose_message_id(fixture *f, const char *mid, const char *rid)
{
    snd_message_info meta;
    void *blob = NULL;
    size_t len = 0;
    xd_err err;
    assert_int_equal(snd_queue_load_request(f->q, mid, &meta, &blob, &len, &err), XD_OK);
    xd_arena *a = xd_arena_new();
    Xd__SubmitRequest *req = xd__submit_request__unpack(xd_arena_allocator(a), len, blob);
    free(blob);
    assert_non_null(req);
    snd_message m;
    snd_message_from_proto(req, a, &m);
    static const char secret[] = "0123456789abcdef0123456789abcdef-queue-test";
    snd_optout_config oc = {.secret = secret,
                            .secret_len = sizeof secret - 1,
                            .base_url = "https://xd.test/unsubscribe",
                            .mailto = "unsubscribe@xd.test"};
    snd_compose_opts o = {.message_id = meta.message_id,
                          .recipient_id = rid,
                          .recipient = &m.to[strtoul(strrchr(rid, '-') + 1, NULL, 10) - 1],
                          .date_ms = meta.created_at_ms,
                          .optout = &oc};
    snd_buf out;
    snd_buf_init(&out, SND_MAX_MESSAGE);
    assert_int_equal(snd_compose(&m, &o, &out, &err), XD_OK);
    char *text = strndup((const char *)out.data, out.len);
    char *h = strstr(text, "\r\nMessage-ID: ");
    assert_non_null(h);
    h += 14;
    char *id = strndup(h, strcspn(h, "\r"));
    free(text);
    snd_buf_free(&out);
    xd__submit_request__free_unpacked(req, xd_arena_allocator(a));
    xd_arena_free(a);
    return id;
}

/* A crash while recipients are SENDING: after reopening the file, recover
 * puts them back (QUEUED, or DEFERRED when attempted before), due now, no
 * event; they are claimed again under the same ids, and the copy composed
 * afterwards carries the same Message-ID. */
static void test_recover_in_flight(void **state)
{
    (void)state;
    fixture *f = fixture_new(NULL);
    snd_submit_result a;
    sub_opts o = {.org = "org-a", .domain = "dest.example", .n = 2};
    assert_int_equal(submit(f, &o, &a), XD_OK);
    snd_claim c;
    assert_int_equal(claim(f, &c, NULL), 2);
    /* rcpt1 gets one 4xx, then is in flight again when the crash comes */
    snd_rcpt_result r = {.recipient_id = a.rcpts[1].recipient_id,
                         .kind = SND_RES_TEMPFAIL,
                         .code = 421,
                         .text = "closing"};
    xd_err err;
    assert_int_equal(snd_queue_finish(f->q, &r, 1, &err), XD_OK);
    snd_claim_free(&c);
    xd_clock_advance_ms(f->clock, 10 * MIN_MS);
    assert_int_equal(claim(f, &c, NULL), 1);
    snd_claim_free(&c);
    char *before[2] = {compose_message_id(f, a.message_id, a.rcpts[0].recipient_id),
                       compose_message_id(f, a.message_id, a.rcpts[1].recipient_id)};
    assert_string_not_equal(before[0], before[1]);
    size_t n_ev_before;
    free(events(f, &n_ev_before));
    /* "crash": the file is closed with both rows SENDING */
    xd_clock_advance_ms(f->clock, MIN_MS);
    reopen(f);
    int64_t counts[16];
    assert_int_equal(snd_queue_count_states(f->q, counts, &err), XD_OK);
    assert_int_equal(counts[SENDING], 2);
    assert_int_equal(claim(f, &c, NULL), 0); /* nothing handed out twice */
    snd_claim_free(&c);
    size_t n = 0;
    assert_int_equal(snd_queue_recover(f->q, &n, &err), XD_OK);
    assert_int_equal(n, 2);
    assert_int_equal(get_rcpt(f, "org-a", a.message_id, 0).state, QUEUED);
    snd_rcpt_status s1 = get_rcpt(f, "org-a", a.message_id, 1);
    assert_int_equal(s1.state, DEFERRED);
    assert_int_equal(s1.attempts, 1);
    size_t n_ev_after;
    free(events(f, &n_ev_after));
    assert_int_equal(n_ev_after, n_ev_before); /* SENDING is never reported */
    assert_int_equal(claim(f, &c, NULL), 2);
    assert_string_equal(c.r[0].recipient_id, a.rcpts[0].recipient_id);
    assert_string_equal(c.r[1].recipient_id, a.rcpts[1].recipient_id);
    assert_string_equal(c.r[0].message_id, a.message_id);
    assert_int_equal(c.r[1].attempts, 1);
    for (size_t i = 0; i < 2; i++) {
        char *after = compose_message_id(f, a.message_id, c.r[i].recipient_id);
        assert_string_equal(after, before[i]);
        assert_non_null(strstr(after, a.message_id));
        free(after);
        free(before[i]);
    }
    snd_claim_free(&c);
    assert_int_equal(snd_queue_recover(f->q, &n, &err), XD_OK);
    assert_int_equal(n, 2); /* claimed again: recover is idempotent per start */
    snd_submit_result_free(&a);
    fixture_free(f);
}

static size_t claim_max(fixture *f, size_t max, snd_claim *c)
{
    xd_err err;
    int64_t nd = 0;
    assert_int_equal(snd_queue_claim(f->q, max, c, &nd, &err), XD_OK);
    return c->n;
}

/* Per-destination fairness: a 1,000-recipient backlog at one destination,
 * older than everything else, does not starve later mail to two others:
 * claims take turns among the destinations with due work. */
static void test_destination_fairness(void **state)
{
    (void)state;
    fixture *f = fixture_new(NULL);
    snd_submit_result big, b, c;
    sub_opts ob = {.org = "org-a", .domain = "huge.example", .n = 1000};
    assert_int_equal(submit(f, &ob, &big), XD_OK);
    xd_clock_advance_ms(f->clock, 1000);
    sub_opts o1 = {.org = "org-a", .domain = "small.example", .n = 1};
    sub_opts o2 = {.org = "org-b", .domain = "huge.example", .n = 2};
    assert_int_equal(submit(f, &o1, &b), XD_OK);
    assert_int_equal(submit(f, &o2, &c), XD_OK);
    /* Four claims of at most 100 (as four workers would make): the two
     * small destinations are served among them, not after ten big claims. */
    int seen_b = 0, seen_c = 0, big_claims = 0;
    for (int i = 0; i < 4; i++) {
        snd_claim cl;
        assert_true(claim_max(f, 100, &cl) > 0);
        if (strcmp(cl.r[0].message_id, b.message_id) == 0)
            seen_b = 1, assert_int_equal(cl.n, 1);
        else if (strcmp(cl.r[0].message_id, c.message_id) == 0)
            seen_c = 1, assert_int_equal(cl.n, 2);
        else
            big_claims++, assert_int_equal(cl.n, 100);
        snd_claim_free(&cl);
    }
    assert_true(seen_b && seen_c);
    assert_int_equal(big_claims, 2);
    /* The backlog still drains completely afterwards. */
    size_t total = 0;
    for (int i = 0; i < 20; i++) {
        snd_claim cl;
        total += claim_max(f, 100, &cl);
        snd_claim_free(&cl);
    }
    assert_int_equal(total, 1000 - 200);
    snd_submit_result_free(&big);
    snd_submit_result_free(&b);
    snd_submit_result_free(&c);
    fixture_free(f);
}

typedef struct writer_arg {
    fixture *f;
    int id;
    char mids[40][SND_ID_MAX];
    int failed;
} writer_arg;

static void *writer(void *p)
{
    writer_arg *w = p;
    char org[32];
    snprintf(org, sizeof org, "org-w%d", w->id);
    for (int i = 0; i < 40; i++) {
        snd_submit_result r;
        sub_opts o = {.org = org, .domain = "w.example", .n = 2};
        if (submit(w->f, &o, &r) != XD_OK) {
            w->failed++;
            continue;
        }
        snprintf(w->mids[i], SND_ID_MAX, "%s", r.message_id);
        snd_submit_result_free(&r);
        /* a failing write in the same batches must undo only itself */
        snd_id_list d, nd;
        xd_err err;
        if (snd_queue_cancel(w->f->q, org, "m-none", NULL, 0, &d, &nd, &err) != XD_NOT_FOUND)
            w->failed++;
    }
    return NULL;
}

/* Group commit: 8 threads submitting at once (with failing writes mixed
 * in) share commits; every acknowledged Submit is in the file after it is
 * closed and opened again, and nothing else is. */
static void test_concurrent_writes_group_commit(void **state)
{
    (void)state;
    fixture *f = fixture_new(NULL);
    enum { W = 8 };
    writer_arg args[W];
    pthread_t th[W];
    memset(args, 0, sizeof args);
    for (int i = 0; i < W; i++) {
        args[i].f = f;
        args[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, writer, &args[i]), 0);
    }
    for (int i = 0; i < W; i++)
        pthread_join(th[i], NULL);
    reopen(f);
    int64_t counts[16];
    xd_err err;
    assert_int_equal(snd_queue_count_states(f->q, counts, &err), XD_OK);
    assert_int_equal(counts[QUEUED], W * 40 * 2);
    for (int i = 0; i < W; i++) {
        assert_int_equal(args[i].failed, 0);
        char org[32];
        snprintf(org, sizeof org, "org-w%d", i);
        for (int k = 0; k < 40; k++) {
            snd_message_info m;
            assert_int_equal(snd_queue_get(f->q, org, args[i].mids[k], &m, &err), XD_OK);
            assert_int_equal(m.n, 2);
            snd_message_info_free(&m);
        }
    }
    size_t n;
    free(events(f, &n));
    assert_int_equal(n, W * 40 * 2); /* one QUEUED event per recipient */
    fixture_free(f);
}

/* Deterministic generator for the mixed run. */
static uint32_t rnd(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* 300 recipients over 3 destinations, worked on with random outcomes
 * (delivered, 4xx, 5xx, suppressed, postponed, a restart with rows in
 * flight, cancels) while the clock runs: every recipient reaches exactly
 * one final state, the outbox holds exactly one final event for each
 * (matching that state), and a late second finish changes nothing. */
static void test_every_recipient_one_final_state(void **state)
{
    (void)state;
    fixture *f = fixture_new(NULL);
    enum { MSGS = 30, PER = 10 };
    snd_submit_result res[MSGS];
    static const char *const doms[] = {"a.example", "b.example", "c.example"};
    for (int i = 0; i < MSGS; i++) {
        sub_opts o = {.org = i % 2 ? "org-a" : "org-b", .domain = doms[i % 3], .n = PER};
        assert_int_equal(submit(f, &o, &res[i]), XD_OK);
    }
    uint32_t seed = 0x9e3779b9u;
    xd_err err;
    int rounds = 0;
    for (;; rounds++) {
        assert_true(rounds < 2000);
        int64_t counts[16];
        assert_int_equal(snd_queue_count_states(f->q, counts, &err), XD_OK);
        if (counts[QUEUED] + counts[DEFERRED] + counts[SENDING] == 0)
            break;
        snd_claim c;
        int64_t next_due;
        if (claim(f, &c, &next_due) == 0) {
            snd_claim_free(&c);
            if (counts[SENDING] > 0) { /* left by a "crash" below */
                reopen(f);
                size_t n;
                assert_int_equal(snd_queue_recover(f->q, &n, &err), XD_OK);
            } else if (next_due != INT64_MAX) {
                xd_clock_set_ms(f->clock, next_due);
            } /* else: the claim expired the last waiting rows */
            continue;
        }
        snd_rcpt_result *r = calloc(c.n, sizeof *r);
        size_t k = 0;
        for (size_t i = 0; i < c.n; i++) {
            uint32_t x = rnd(&seed) % 100;
            if (x < 3)
                continue; /* left SENDING: the next restart puts it back */
            if (strcmp(c.domain, "c.example") == 0 && x < 90)
                x = 99; /* a destination that mostly defers: some expire */
            r[k].recipient_id = c.r[i].recipient_id;
            r[k].kind = x < 30   ? SND_RES_DELIVERED
                        : x < 40 ? SND_RES_PERMFAIL
                        : x < 45 ? SND_RES_SUPPRESSED
                        : x < 55 ? SND_RES_POSTPONE
                                 : SND_RES_TEMPFAIL;
            r[k].code = r[k].kind == SND_RES_DELIVERED  ? 250
                        : r[k].kind == SND_RES_PERMFAIL ? 550
                                                        : 451;
            r[k].retry_at_ms = xd_clock_now_ms(f->clock) + 20 * MIN_MS;
            k++;
        }
        assert_int_equal(snd_queue_finish(f->q, r, k, &err), XD_OK);
        /* a duplicate report of the same outcomes is ignored */
        assert_int_equal(snd_queue_finish(f->q, r, k, &err), XD_OK);
        free(r);
        snd_claim_free(&c);
        if (rnd(&seed) % 10 == 0) {
            snd_id_list d, nd;
            int pick = (int)(rnd(&seed) % MSGS);
            assert_int_equal(snd_queue_cancel(f->q, pick % 2 ? "org-a" : "org-b",
                                              res[pick].message_id, NULL, 0, &d, &nd, &err),
                             XD_OK);
            snd_id_list_free(&d);
            snd_id_list_free(&nd);
        }
        xd_clock_advance_ms(f->clock, 7 * MIN_MS);
    }
    /* Final states per recipient and final events per recipient. */
    size_t n;
    snd_event *ev = events(f, &n);
    int finals_seen[16] = {0};
    for (int i = 0; i < MSGS; i++) {
        snd_message_info m;
        assert_int_equal(
            snd_queue_get(f->q, i % 2 ? "org-a" : "org-b", res[i].message_id, &m, &err), XD_OK);
        for (size_t j = 0; j < m.n; j++) {
            int st = m.rcpts[j].state;
            assert_true(st == DELIVERED || st == BOUNCED || st == EXPIRED || st == SUPPRESSED ||
                        st == CANCELLED);
            finals_seen[st]++;
            size_t finals = 0;
            int last_state = 0;
            uint64_t last_seq = 0;
            for (size_t e = 0; e < n; e++) {
                if (strcmp(ev[e].recipient_id, m.rcpts[j].recipient_id) != 0)
                    continue;
                assert_true(ev[e].sequence > last_seq); /* strictly ordered */
                last_seq = ev[e].sequence;
                last_state = ev[e].state;
                if (ev[e].state != QUEUED && ev[e].state != DEFERRED)
                    finals++;
            }
            assert_int_equal(finals, 1);
            assert_int_equal(last_state, st);
        }
        snd_message_info_free(&m);
    }
    int kinds = 0;
    for (int s = 0; s < 16; s++)
        kinds += finals_seen[s] > 0;
    print_message("mixed run: %d rounds, delivered %d bounced %d expired %d suppressed %d "
                  "cancelled %d\n",
                  rounds, finals_seen[DELIVERED], finals_seen[BOUNCED], finals_seen[EXPIRED],
                  finals_seen[SUPPRESSED], finals_seen[CANCELLED]);
    assert_true(kinds >= 4); /* the run did exercise the outcomes */
    free(ev);
    for (int i = 0; i < MSGS; i++)
        snd_submit_result_free(&res[i]);
    fixture_free(f);
}

int main(void)
{
    xd_log_init("sender-queue-test", XD_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_schedule),
        cmocka_unit_test(test_retry_until_expired),
        cmocka_unit_test(test_expired_at_claim),
        cmocka_unit_test(test_send_at),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_idempotency_key),
        cmocka_unit_test(test_recover_in_flight),
        cmocka_unit_test(test_destination_fairness),
        cmocka_unit_test(test_concurrent_writes_group_commit),
        cmocka_unit_test(test_every_recipient_one_final_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
