/* test_helpers.h: a temp store, a service around it and a diagnose function
 * the test steers (unit tests of the logic; the real verify runs in
 * tests/integration/ticket). */
#ifndef TICKET_TEST_HELPERS_H
#define TICKET_TEST_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tk_service.h"

/* 2026-11-27T12:00:00Z */
#define T0_MS 1795780800000LL

typedef struct fake_verify {
    xd_code code;       /* answer code */
    tk_verdict verdict; /* when code is XD_OK */
    int calls;
} fake_verify;

static xd_code fake_diagnose(void *ctx, const tk_diagnose_query *q, xd_arena *arena,
                             tk_diagnosis *out, xd_err *err)
{
    (void)q;
    (void)arena;
    fake_verify *f = ctx;
    f->calls++;
    if (f->code != XD_OK)
        return xd_err_set(err, f->code, "verify is unavailable (test)");
    memset(out, 0, sizeof(*out));
    out->verdict = f->verdict;
    out->summary = "accepted by mx.example.com";
    out->record_found = f->verdict != TK_VERDICT_NO_RECORD;
    out->reply_code = 250;
    out->reply_enhanced = "2.0.0";
    out->reply_text = "OK";
    out->remote_host = "mx.example.com";
    out->steps[0] = (tk_step){"Is there a record?", "yes", 0};
    out->n_steps = 1;
    out->next_steps[0] = "ask about spam folder";
    out->n_next = 1;
    return XD_OK;
}

typedef struct fixture {
    char dir[64];
    char path[128];
    xd_clock *clock;
    tk_store *store;
    fake_verify verify;
    tk_service svc;
} fixture;

static inline fixture *fixture_new(void)
{
    fixture *fx = calloc(1, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/xd-ticket-test-XXXXXX");
    if (!mkdtemp(fx->dir))
        abort();
    snprintf(fx->path, sizeof(fx->path), "%s/ticket.db", fx->dir);
    fx->clock = xd_clock_manual_new(T0_MS);
    xd_err err;
    if (tk_store_open(fx->path, fx->clock, &fx->store, &err) != XD_OK) {
        fprintf(stderr, "open: %s\n", err.message);
        abort();
    }
    fx->verify.code = XD_OK;
    fx->verify.verdict = TK_VERDICT_DELIVERED;
    fx->svc.store = fx->store;
    fx->svc.clock = fx->clock;
    fx->svc.diagnose = fake_diagnose;
    fx->svc.diagnose_ctx = &fx->verify;
    fx->svc.recheck.interval_ms = 1000;
    fx->svc.recheck.max_interval_ms = 8000;
    snprintf(fx->svc.staff_org, sizeof(fx->svc.staff_org), "xenegrade");
    return fx;
}

static inline void fixture_free(fixture *fx)
{
    tk_store_close(fx->store);
    char db[160];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(db, sizeof(db), "%s%s", fx->path, suffix[i]);
        unlink(db);
    }
    rmdir(fx->dir);
    xd_clock_free(fx->clock);
    free(fx);
}

static inline tk_create_input ticket_input(const char *recipient, const char *key)
{
    tk_create_input in = {
        .occurred_at = "2026-11-27T09:15:00+01:00",
        .recipient = recipient,
        .module = "bulk-email",
        .other_domain_tried = TK_OTHER_UNKNOWN,
        .issue_type = TK_ISSUE_NOT_RECEIVED,
        .description = "Course confirmation not received.",
        .reporter = "support@org.example",
        .idempotency_key = key,
    };
    return in;
}

static inline tk_scope scope_of_org(const char *org)
{
    tk_scope s;
    xd_err err;
    if (tk_scope_for(org, 2 /* ROLE_SUPPORT */, "", "xenegrade", &s, &err) != XD_OK)
        abort();
    return s;
}

static inline tk_scope staff_scope(void)
{
    tk_scope s;
    xd_err err;
    if (tk_scope_for("", 4 /* ROLE_OPERATOR */, "", "xenegrade", &s, &err) != XD_OK)
        abort();
    return s;
}

/* Files a ticket for org; aborts the test on failure. */
static inline tk_ticket *file(fixture *fx, const char *org, const char *recipient, const char *key,
                              xd_arena *a)
{
    tk_scope s = scope_of_org(org);
    tk_create_input in = ticket_input(recipient, key);
    tk_ticket *t = NULL;
    int created = 0;
    tk_problems p;
    xd_err err;
    static int next_rid;
    char rid[32];
    snprintf(rid, sizeof(rid), "rid-%d", ++next_rid);
    if (tk_service_create(&fx->svc, &s, &in, rid, NULL, a, &t, &created, &p, &err) != XD_OK) {
        fprintf(stderr, "create: %s\n", err.message);
        abort();
    }
    return t;
}

#endif
