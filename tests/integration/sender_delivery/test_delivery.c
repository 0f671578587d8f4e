/*
 * test_delivery.c: the sender's queue end to end through a real xd-sender
 * process and Postfix's smtp-sink on loopback (TEST_CAPTURE route):
 * Submit -> DELIVERED with one id per recipient, the copies at the sink
 * with their Message-IDs and VERP envelope senders, idempotency keys,
 * org isolation and input errors, scheduled sends and Cancel, shared
 * copies split by the transaction recipient cap, and a clean restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dtest.h"

#include <time.h>

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct {
    char dir[512];
    dt_sink sink;
    dt_sender s;
} g;

static int setup(void **state)
{
    (void)state;
    tu_tmpdir(g.dir, sizeof g.dir, "xd-delivery");
    if (dt_sink_start(&g.sink, NULL, 0) != 0)
        return -1;
    char port[64];
    snprintf(port, sizeof port, "XD_SENDER_CAPTURE_PORT=%u", (unsigned)g.sink.port);
    const char *env[] = {port, "XD_SENDER_DELIVERY_TX_MAX_RCPTS=2", NULL};
    if (dt_sender_start(&g.s, g.dir, env) != 0) {
        tu_sh("cat '%s/sender.log' >&2", g.dir);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int st = dt_sender_stop(&g.s, SIGTERM);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        tu_sh("tail -30 '%s/sender.log' >&2", g.dir);
    dt_sink_stop(&g.sink);
    xd_client_close(g.s.client);
    xd_arena_free(g.s.arena);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        tu_rmrf(g.dir);
    return 0;
}

static void test_deliver_per_recipient(void **state)
{
    (void)state;
    dt_msg m = {.org = "org-a", .n_to = 3, .domain = "one.test", .prefix = "pr"};
    Xd__SubmitReply *r;
    assert_int_equal(dt_submit(&g.s, &m, &r), XD_OK);
    assert_int_equal(r->n_recipients, 3);
    assert_false(r->duplicate);
    char mid[64];
    snprintf(mid, sizeof mid, "%s", r->message_id);
    for (size_t i = 0; i < 3; i++) {
        char want[96];
        snprintf(want, sizeof want, "%s-%zu", mid, i + 1);
        assert_string_equal(r->recipients[i]->recipient_id, want);
    }
    Xd__GetMessageReply *gm = dt_wait(&g.s, "org-a", mid, 0, 20000);
    assert_non_null(gm);
    for (size_t i = 0; i < gm->n_recipients; i++) {
        assert_int_equal(gm->recipients[i]->state, XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED);
        assert_int_equal(gm->recipients[i]->attempts, 1);
        assert_int_equal(gm->recipients[i]->last_reply->code, 250);
        assert_non_null(strstr(gm->recipients[i]->remote_host, "capture:"));
        assert_int_equal(gm->recipients[i]->next_attempt_at_ms, 0);
    }
    /* Each copy once at the sink, with its own Message-ID and VERP sender. */
    for (size_t i = 0; i < 3; i++) {
        char needle[160];
        snprintf(needle, sizeof needle, "Message-ID: <%s.%s-%zu@sender.xd.test>", mid, mid, i + 1);
        assert_int_equal(dt_sink_count(&g.sink, needle), 1);
        snprintf(needle, sizeof needle, "b-%s-%zu@bounce.xd.test", mid, i + 1);
        assert_true(dt_sink_count(&g.sink, needle) >= 1);
        snprintf(needle, sizeof needle, "pr%zu@one.test", i);
        assert_true(dt_sink_count(&g.sink, needle) >= 1);
    }
}

static void test_shared_split(void **state)
{
    (void)state;
    /* 5 recipients, at most 2 per transaction: 3 transactions of one copy. */
    dt_msg m = {.org = "org-a", .n_to = 5, .domain = "shared.test", .prefix = "sh", .shared = 1};
    Xd__SubmitReply *r;
    assert_int_equal(dt_submit(&g.s, &m, &r), XD_OK);
    char mid[64];
    snprintf(mid, sizeof mid, "%s", r->message_id);
    Xd__GetMessageReply *gm = dt_wait(&g.s, "org-a", mid, 0, 20000);
    assert_non_null(gm);
    for (size_t i = 0; i < gm->n_recipients; i++)
        assert_int_equal(gm->recipients[i]->state, XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED);
    char needle[160];
    snprintf(needle, sizeof needle, "Message-ID: <%s@sender.xd.test>", mid);
    assert_int_equal(dt_sink_count(&g.sink, needle), 3);
    snprintf(needle, sizeof needle, "b-%s@bounce.xd.test", mid);
    assert_true(dt_sink_count(&g.sink, needle) >= 3);
}

static void test_idempotency(void **state)
{
    (void)state;
    dt_msg m = {.org = "org-a", .key = "order-42", .n_to = 2, .domain = "idem.test"};
    Xd__SubmitReply *r1, *r2;
    assert_int_equal(dt_submit(&g.s, &m, &r1), XD_OK);
    char mid[64], rid[64];
    snprintf(mid, sizeof mid, "%s", r1->message_id);
    snprintf(rid, sizeof rid, "%s", r1->recipients[1]->recipient_id);
    m.n_to = 1; /* a different body under the same key: the first answer */
    assert_int_equal(dt_submit(&g.s, &m, &r2), XD_OK);
    assert_true(r2->duplicate);
    assert_string_equal(r2->message_id, mid);
    assert_int_equal(r2->n_recipients, 2);
    assert_string_equal(r2->recipients[1]->recipient_id, rid);
    /* The same key in another organization is another message. */
    m.org = "org-b";
    assert_int_equal(dt_submit(&g.s, &m, &r2), XD_OK);
    assert_false(r2->duplicate);
    assert_string_not_equal(r2->message_id, mid);
    assert_non_null(dt_wait(&g.s, "org-a", mid, 0, 20000));
    char needle[160];
    snprintf(needle, sizeof needle, "Message-ID: <%s.%s@", mid, rid);
    assert_int_equal(dt_sink_count(&g.sink, needle), 1);
}

static void test_isolation_and_errors(void **state)
{
    (void)state;
    dt_msg m = {.org = "org-a", .n_to = 1, .domain = "iso.test"};
    Xd__SubmitReply *r;
    assert_int_equal(dt_submit(&g.s, &m, &r), XD_OK);
    char mid[64];
    snprintf(mid, sizeof mid, "%s", r->message_id);
    Xd__GetMessageReply *gm;
    assert_int_equal(dt_get(&g.s, "org-b", mid, &gm), XD_NOT_FOUND);
    Xd__CancelReply *cr;
    assert_int_equal(dt_cancel(&g.s, "org-b", mid, NULL, &cr), XD_NOT_FOUND);
    /* Bad recipient address: INVALID_ARGUMENT, nothing stored. */
    m.domain = "bad domain.test";
    assert_int_equal(dt_submit(&g.s, &m, &r), XD_INVALID_ARGUMENT);
    /* send_at too far ahead */
    m.domain = "iso.test";
    m.send_at_ms = wall_ms() + 40LL * 86400000;
    assert_int_equal(dt_submit(&g.s, &m, &r), XD_INVALID_ARGUMENT);
    /* SetRelay: bad host, capture allowed in tests, version check. */
    assert_int_equal(dt_set_relay(&g.s, "org-r", 3, "bad\r\nhost", 25, 1, NULL, NULL),
                     XD_INVALID_ARGUMENT);
    assert_int_equal(dt_set_relay(&g.s, "org-r", 9, "", 0, 0, NULL, NULL), XD_INVALID_ARGUMENT);
    assert_int_equal(dt_set_relay(&g.s, "org-r", 3, "relay.test", 2525, 2, "u", "p"), XD_OK);
}

static void test_send_at_and_cancel(void **state)
{
    (void)state;
    dt_msg m = {.org = "org-a",
                .n_to = 3,
                .domain = "later.test",
                .prefix = "lt",
                .send_at_ms = wall_ms() + 3000};
    Xd__SubmitReply *r;
    assert_int_equal(dt_submit(&g.s, &m, &r), XD_OK);
    char mid[64], rid0[64];
    snprintf(mid, sizeof mid, "%s", r->message_id);
    snprintf(rid0, sizeof rid0, "%s", r->recipients[0]->recipient_id);
    usleep(500000);
    Xd__GetMessageReply *gm;
    assert_int_equal(dt_get(&g.s, "org-a", mid, &gm), XD_OK);
    for (size_t i = 0; i < gm->n_recipients; i++) {
        assert_int_equal(gm->recipients[i]->state, XD__RECIPIENT_STATE__RECIPIENT_STATE_QUEUED);
        assert_true(gm->recipients[i]->next_attempt_at_ms >= m.send_at_ms);
    }
    Xd__CancelReply *cr;
    assert_int_equal(dt_cancel(&g.s, "org-a", mid, rid0, &cr), XD_OK);
    assert_int_equal(cr->n_cancelled, 1);
    assert_string_equal(cr->cancelled[0], rid0);
    /* The other two go at send_at; then nothing is left to cancel. */
    gm = dt_wait(&g.s, "org-a", mid, 0, 20000);
    assert_non_null(gm);
    assert_int_equal(gm->recipients[0]->state, XD__RECIPIENT_STATE__RECIPIENT_STATE_CANCELLED);
    assert_int_equal(gm->recipients[1]->state, XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED);
    assert_int_equal(gm->recipients[2]->state, XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED);
    assert_true(gm->recipients[1]->updated_at_ms >= m.send_at_ms);
    assert_int_equal(dt_cancel(&g.s, "org-a", mid, NULL, &cr), XD_OK);
    assert_int_equal(cr->n_cancelled, 0);
    assert_int_equal(cr->n_not_cancelled, 3);
    assert_int_equal(dt_sink_count(&g.sink, "lt0@later.test"), 0);
    assert_int_equal(dt_cancel(&g.s, "org-a", mid, "m-unknown-1", &cr), XD_NOT_FOUND);
}

static void test_restart_keeps_everything(void **state)
{
    (void)state;
    dt_msg m = {
        .org = "org-a", .n_to = 2, .domain = "restart.test", .send_at_ms = wall_ms() + 1500};
    Xd__SubmitReply *r;
    assert_int_equal(dt_submit(&g.s, &m, &r), XD_OK);
    char mid[64];
    snprintf(mid, sizeof mid, "%s", r->message_id);
    int st = dt_sender_stop(&g.s, SIGTERM);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    char port[64];
    snprintf(port, sizeof port, "XD_SENDER_CAPTURE_PORT=%u", (unsigned)g.sink.port);
    const char *env[] = {port, NULL};
    assert_int_equal(dt_sender_start(&g.s, g.dir, env), 0);
    Xd__GetMessageReply *gm = dt_wait(&g.s, "org-a", mid, 0, 20000);
    assert_non_null(gm);
    assert_int_equal(gm->recipients[0]->state, XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deliver_per_recipient),
        cmocka_unit_test(test_shared_split),
        cmocka_unit_test(test_idempotency),
        cmocka_unit_test(test_isolation_and_errors),
        cmocka_unit_test(test_send_at_and_cancel),
        cmocka_unit_test(test_restart_keeps_everything),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
