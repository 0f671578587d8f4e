/* test_store.c: tickets in a real SQLite file: create and repeats, tenant
 * isolation, workflow, comments, list filters and pages, grouping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_helpers.h"

static int setup(void **state)
{
    *state = fixture_new();
    return 0;
}

static int teardown(void **state)
{
    fixture_free(*state);
    return 0;
}

static void test_create_get_and_repeat(void **state)
{
    fixture *fx = *state;
    xd_arena *a = xd_arena_new();
    tk_scope org = scope_of_org("org-a");
    tk_create_input in = ticket_input("Jane@Example.com", "key-1");
    tk_ticket *t = NULL, *again = NULL;
    int created = 0;
    tk_problems p;
    xd_err err;
    assert_int_equal(tk_service_create(&fx->svc, &org, &in, "r1", NULL, a, &t, &created, &p, &err),
                     XD_OK);
    assert_true(created);
    assert_int_equal(t->id, 1);
    assert_string_equal(t->recipient_domain, "example.com");
    assert_int_equal(t->status, TK_STATUS_WAITING_ON_RECIPIENT_IT); /* delivered */
    assert_int_equal(t->findings.state, TK_FINDINGS_COMPLETE);
    assert_int_equal(t->findings.d.verdict, TK_VERDICT_DELIVERED);
    assert_int_equal(t->findings.d.n_steps, 1);
    assert_string_equal(t->findings.d.steps[0].question, "Is there a record?");
    assert_string_equal(t->findings.d.next_steps[0], "ask about spam folder");
    assert_int_equal(t->created_ms, T0_MS);
    assert_int_equal(fx->verify.calls, 1);

    /* Same key, same details (a re-send with a new request id): same ticket,
     * verify not asked again. */
    assert_int_equal(
        tk_service_create(&fx->svc, &org, &in, "r2", NULL, a, &again, &created, &p, &err), XD_OK);
    assert_false(created);
    assert_int_equal(again->id, t->id);
    assert_int_equal(fx->verify.calls, 1);
    /* Same key, other details: refused, naming the first ticket. */
    in.description = "something else";
    assert_int_equal(
        tk_service_create(&fx->svc, &org, &in, "r3", NULL, a, &again, &created, &p, &err),
        XD_ALREADY_EXISTS);
    assert_non_null(strstr(err.message, "XD-000001"));
    /* No key: the request id is the key. */
    in = ticket_input("bob@example.org", "");
    assert_int_equal(
        tk_service_create(&fx->svc, &org, &in, "rid-9", NULL, a, &t, &created, &p, &err), XD_OK);
    assert_true(created);
    assert_int_equal(
        tk_service_create(&fx->svc, &org, &in, "rid-9", NULL, a, &again, &created, &p, &err),
        XD_OK);
    assert_false(created);
    assert_int_equal(again->id, t->id);
    /* The same key in another organization is another ticket. */
    tk_scope other = scope_of_org("org-b");
    in = ticket_input("Jane@Example.com", "key-1");
    assert_int_equal(
        tk_service_create(&fx->svc, &other, &in, "r4", NULL, a, &t, &created, &p, &err), XD_OK);
    assert_true(created);
    assert_int_equal(t->id, 3);

    /* Validation reaches the caller with every field. */
    tk_create_input bad = {0};
    assert_int_equal(tk_service_create(&fx->svc, &org, &bad, "r5", NULL, a, &t, &created, &p, &err),
                     XD_INVALID_ARGUMENT);
    assert_int_equal(p.n, 7);
    assert_string_equal(err.field, "occurred_at");
    assert_non_null(strstr(err.message, "7 ticket fields to fix"));
    /* Staff must say which organization. */
    tk_scope staff = staff_scope();
    in = ticket_input("x@example.net", "k");
    assert_int_equal(
        tk_service_create(&fx->svc, &staff, &in, "r6", NULL, a, &t, &created, &p, &err),
        XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, "org_id");
    xd_arena_free(a);
}

static void test_isolation(void **state)
{
    fixture *fx = *state;
    xd_arena *a = xd_arena_new();
    tk_ticket *mine = file(fx, "org-a", "jane@example.com", NULL, a);
    file(fx, "org-b", "joe@example.com", NULL, a);
    tk_scope org_a = scope_of_org("org-a"), org_b = scope_of_org("org-b"), staff = staff_scope();
    tk_ticket *t = NULL;
    xd_err err;
    assert_int_equal(tk_store_get(fx->store, &org_a, mine->id, 1, a, &t, &err), XD_OK);
    assert_int_equal(tk_store_get(fx->store, &org_b, mine->id, 1, a, &t, &err), XD_NOT_FOUND);
    assert_non_null(strstr(err.message, "XD-000001 not found"));
    assert_int_equal(tk_store_get(fx->store, &staff, mine->id, 1, a, &t, &err), XD_OK);
    /* Another org cannot change or comment either. */
    tk_update u = {.status = TK_STATUS_INVESTIGATING};
    int changed = 0, created = 0;
    assert_int_equal(tk_store_update(fx->store, &org_b, mine->id, &u, a, &t, &changed, &err),
                     XD_NOT_FOUND);
    tk_comment *c = NULL;
    assert_int_equal(
        tk_store_add_comment(fx->store, &org_b, mine->id, "x", "y", 0, "k", a, &c, &created, &err),
        XD_NOT_FOUND);
    /* Lists: each org its own, staff all, staff filtered to one org. */
    tk_list_filter f = {.limit = 50};
    tk_ticket **rows = NULL;
    int n = 0;
    int64_t next = 0;
    assert_int_equal(tk_store_list(fx->store, &org_a, &f, a, &rows, &n, &next, &err), XD_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0]->org_id, "org-a");
    assert_int_equal(tk_store_list(fx->store, &staff, &f, a, &rows, &n, &next, &err), XD_OK);
    assert_int_equal(n, 2);
    tk_scope staff_b;
    assert_int_equal(tk_scope_for("", 4, "org-b", "xenegrade", &staff_b, &err), XD_OK);
    assert_int_equal(tk_store_list(fx->store, &staff_b, &f, a, &rows, &n, &next, &err), XD_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0]->org_id, "org-b");
    /* Grouping sees only the org's own tickets. */
    tk_group_filter g = {.min_tickets = 1, .max_domains = 10};
    tk_group *groups = NULL;
    assert_int_equal(tk_store_group_by_domain(fx->store, &org_a, &g, a, &groups, &n, &err), XD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(groups[0].tickets, 1);
    assert_int_equal(groups[0].organizations, 1);
    xd_arena_free(a);
}

static void test_scope_rules(void **state)
{
    (void)state;
    tk_scope s;
    xd_err err;
    assert_int_equal(tk_scope_for("org-a", 1 /* MODULE */, "", "xenegrade", &s, &err),
                     XD_PERMISSION_DENIED);
    assert_int_equal(tk_scope_for("org-a", 0, "", "xenegrade", &s, &err), XD_PERMISSION_DENIED);
    assert_int_equal(tk_scope_for("", 2, "", "xenegrade", &s, &err), XD_PERMISSION_DENIED);
    assert_int_equal(tk_scope_for("org-a", 2, "org-b", "xenegrade", &s, &err),
                     XD_PERMISSION_DENIED);
    assert_string_equal(err.field, "org_id");
    assert_int_equal(tk_scope_for("org-a", 2, "org-a", "xenegrade", &s, &err), XD_OK);
    assert_false(s.staff);
    /* Xenegrade's own support staff see every organization. */
    assert_int_equal(tk_scope_for("xenegrade", 2, "", "xenegrade", &s, &err), XD_OK);
    assert_true(s.staff);
    assert_string_equal(s.org_id, "");
    assert_true(tk_scope_allows(&s, "org-z"));
    /* With no staff organization configured, nobody is staff by org. */
    assert_int_equal(tk_scope_for("xenegrade", 2, "", "", &s, &err), XD_OK);
    assert_false(s.staff);
    assert_int_equal(tk_scope_for("", 5 /* SERVICE */, "org-c", "", &s, &err), XD_OK);
    assert_true(s.staff);
    assert_string_equal(s.org_id, "org-c");
    assert_false(tk_scope_allows(&s, "org-d"));
}

static void test_workflow_times_and_notes(void **state)
{
    fixture *fx = *state;
    xd_arena *a = xd_arena_new();
    fx->verify.verdict = TK_VERDICT_NO_RECORD; /* first status INVESTIGATING */
    tk_ticket *t = file(fx, "org-a", "jane@example.com", NULL, a);
    assert_int_equal(t->status, TK_STATUS_INVESTIGATING);
    tk_scope org = scope_of_org("org-a"), staff = staff_scope();
    xd_err err;
    int changed = 0;
    tk_update u = {.status = TK_STATUS_CLOSED};
    assert_int_equal(tk_store_update(fx->store, &org, t->id, &u, a, &t, &changed, &err),
                     XD_FAILED_PRECONDITION);
    assert_non_null(strstr(err.message, "allowed from INVESTIGATING: WAITING_ON_CUSTOMER, "
                                        "WAITING_ON_RECIPIENT_IT, RESOLVED"));
    xd_clock_advance_ms(fx->clock, 60000);
    u = (tk_update){.status = TK_STATUS_WAITING_ON_CUSTOMER,
                    .note = "Asked the school for the address.",
                    .author = "ann",
                    .note_key = "rid:u1"};
    assert_int_equal(tk_store_update(fx->store, &org, t->id, &u, a, &t, &changed, &err), XD_OK);
    assert_true(changed);
    assert_int_equal(t->status, TK_STATUS_WAITING_ON_CUSTOMER);
    assert_int_equal(t->updated_ms, T0_MS + 60000);
    assert_int_equal(t->n_comments, 1);
    assert_string_equal(t->comments[0].body, "Asked the school for the address.");
    /* The same update again (a re-send): no change, no second note. */
    assert_int_equal(tk_store_update(fx->store, &org, t->id, &u, a, &t, &changed, &err), XD_OK);
    assert_false(changed);
    assert_int_equal(t->n_comments, 1);
    xd_clock_advance_ms(fx->clock, 60000);
    u = (tk_update){.status = TK_STATUS_RESOLVED};
    assert_int_equal(tk_store_update(fx->store, &org, t->id, &u, a, &t, &changed, &err), XD_OK);
    assert_int_equal(t->resolved_ms, T0_MS + 120000);
    xd_clock_advance_ms(fx->clock, 60000);
    u.status = TK_STATUS_CLOSED;
    assert_int_equal(tk_store_update(fx->store, &org, t->id, &u, a, &t, &changed, &err), XD_OK);
    assert_int_equal(t->closed_ms, T0_MS + 180000);
    u.status = TK_STATUS_INVESTIGATING;
    assert_int_equal(tk_store_update(fx->store, &org, t->id, &u, a, &t, &changed, &err),
                     XD_FAILED_PRECONDITION);
    assert_non_null(strstr(err.message, "allowed from CLOSED: OPEN"));
    u.status = TK_STATUS_OPEN; /* reopen */
    assert_int_equal(tk_store_update(fx->store, &org, t->id, &u, a, &t, &changed, &err), XD_OK);
    assert_int_equal(t->status, TK_STATUS_OPEN);
    assert_int_equal(t->resolved_ms, 0);
    assert_int_equal(t->closed_ms, 0);
    /* Assignee: staff only. */
    u = (tk_update){.set_assignee = 1, .assignee = "lee@xenegrade"};
    assert_int_equal(tk_store_update(fx->store, &org, t->id, &u, a, &t, &changed, &err),
                     XD_PERMISSION_DENIED);
    assert_int_equal(tk_store_update(fx->store, &staff, t->id, &u, a, &t, &changed, &err), XD_OK);
    assert_string_equal(t->assignee, "lee@xenegrade");
    /* Still there after closing and reopening the database file. */
    tk_store_close(fx->store);
    assert_int_equal(tk_store_open(fx->path, fx->clock, &fx->store, &err), XD_OK);
    fx->svc.store = fx->store;
    assert_int_equal(tk_store_get(fx->store, &org, t->id, 1, a, &t, &err), XD_OK);
    assert_string_equal(t->assignee, "lee@xenegrade");
    assert_int_equal(t->status, TK_STATUS_OPEN);
    xd_arena_free(a);
}

static void test_comments_visibility(void **state)
{
    fixture *fx = *state;
    xd_arena *a = xd_arena_new();
    tk_ticket *t = file(fx, "org-a", "jane@example.com", NULL, a);
    tk_scope org = scope_of_org("org-a"), staff = staff_scope();
    tk_comment *c = NULL;
    int created = 0;
    xd_err err;
    assert_int_equal(tk_store_add_comment(fx->store, &org, t->id, "ann", "Any news?", 0, "c1", a,
                                          &c, &created, &err),
                     XD_OK);
    assert_true(created);
    assert_int_equal(c->seq, 1);
    assert_int_equal(tk_store_add_comment(fx->store, &org, t->id, "ann", "Any news?", 0, "c1", a,
                                          &c, &created, &err),
                     XD_OK);
    assert_false(created);
    assert_int_equal(c->seq, 1);
    assert_int_equal(tk_store_add_comment(fx->store, &org, t->id, "ann", "secret", 1, "c2", a, &c,
                                          &created, &err),
                     XD_PERMISSION_DENIED);
    assert_int_equal(tk_store_add_comment(fx->store, &staff, t->id, "lee", "MX blocks our IP", 1,
                                          "c3", a, &c, &created, &err),
                     XD_OK);
    assert_int_equal(c->seq, 2);
    assert_true(c->internal);
    assert_int_equal(tk_store_get(fx->store, &org, t->id, 1, a, &t, &err), XD_OK);
    assert_int_equal(t->comment_count, 1);
    assert_int_equal(t->n_comments, 1);
    assert_string_equal(t->comments[0].body, "Any news?");
    assert_int_equal(tk_store_get(fx->store, &staff, t->id, 1, a, &t, &err), XD_OK);
    assert_int_equal(t->comment_count, 2);
    assert_string_equal(t->comments[1].body, "MX blocks our IP");
    /* A ticket keeps at most TK_COMMENTS_MAX comments. */
    for (int i = 2; i < TK_COMMENTS_MAX; i++) {
        char key[16];
        snprintf(key, sizeof(key), "n%d", i);
        assert_int_equal(tk_store_add_comment(fx->store, &org, t->id, "ann", "more", 0, key, a, &c,
                                              &created, &err),
                         XD_OK);
    }
    assert_int_equal(tk_store_add_comment(fx->store, &org, t->id, "ann", "one too many", 0, "last",
                                          a, &c, &created, &err),
                     XD_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(err.message, "500 comments"));
    /* A repeat of an existing comment still answers (idempotent). */
    assert_int_equal(tk_store_add_comment(fx->store, &org, t->id, "ann", "Any news?", 0, "c1", a,
                                          &c, &created, &err),
                     XD_OK);
    xd_arena_free(a);
}

static void test_list_filters_and_pages(void **state)
{
    fixture *fx = *state;
    xd_arena *a = xd_arena_new();
    tk_scope org = scope_of_org("org-a");
    tk_problems p;
    xd_err err;
    /* 25 tickets: domains d0..d4 in turn, issue types alternate, times 1 min apart. */
    for (int i = 0; i < 25; i++) {
        char rcpt[64], key[16];
        snprintf(rcpt, sizeof(rcpt), "user%d@d%d.example", i, i % 5);
        snprintf(key, sizeof(key), "k%d", i);
        tk_create_input in = ticket_input(rcpt, key);
        in.issue_type = i % 2 ? TK_ISSUE_SPAM_FOLDER : TK_ISSUE_NOT_RECEIVED;
        in.module = i < 20 ? "bulk-email" : "password-reset";
        tk_ticket *t = NULL;
        int created;
        assert_int_equal(
            tk_service_create(&fx->svc, &org, &in, key, NULL, a, &t, &created, &p, &err), XD_OK);
        xd_clock_advance_ms(fx->clock, 60000);
    }
    tk_list_filter f = {.limit = 10};
    tk_ticket **rows = NULL;
    int n = 0, seen = 0;
    int64_t next = 0, last_id = 1000;
    do { /* pages of 10: 10, 10, 5, newest first, no repeats */
        f.before_id = next;
        assert_int_equal(tk_store_list(fx->store, &org, &f, a, &rows, &n, &next, &err), XD_OK);
        for (int i = 0; i < n; i++) {
            assert_true(rows[i]->id < last_id);
            last_id = rows[i]->id;
        }
        seen += n;
    } while (next);
    assert_int_equal(seen, 25);
    f = (tk_list_filter){.limit = 50, .recipient_domain = "d3.example"};
    assert_int_equal(tk_store_list(fx->store, &org, &f, a, &rows, &n, &next, &err), XD_OK);
    assert_int_equal(n, 5);
    f = (tk_list_filter){.limit = 50, .issue_mask = 1u << TK_ISSUE_SPAM_FOLDER};
    assert_int_equal(tk_store_list(fx->store, &org, &f, a, &rows, &n, &next, &err), XD_OK);
    assert_int_equal(n, 12);
    f = (tk_list_filter){.limit = 50, .module = "password-reset"};
    assert_int_equal(tk_store_list(fx->store, &org, &f, a, &rows, &n, &next, &err), XD_OK);
    assert_int_equal(n, 5);
    /* Created in [T0 + 5 min, T0 + 10 min): tickets 5..9. */
    f = (tk_list_filter){.limit = 50, .from_ms = T0_MS + 300000, .to_ms = T0_MS + 600000};
    assert_int_equal(tk_store_list(fx->store, &org, &f, a, &rows, &n, &next, &err), XD_OK);
    assert_int_equal(n, 5);
    assert_int_equal(rows[0]->id, 10);
    assert_int_equal(rows[4]->id, 6);
    f = (tk_list_filter){.limit = 50, .status_mask = 1u << TK_STATUS_RESOLVED};
    assert_int_equal(tk_store_list(fx->store, &org, &f, a, &rows, &n, &next, &err), XD_OK);
    assert_int_equal(n, 0);
    f = (tk_list_filter){.limit = 50, .status_mask = 1u << TK_STATUS_WAITING_ON_RECIPIENT_IT};
    assert_int_equal(tk_store_list(fx->store, &org, &f, a, &rows, &n, &next, &err), XD_OK);
    assert_int_equal(n, 25);
    xd_arena_free(a);
}

static void test_group_by_domain(void **state)
{
    fixture *fx = *state;
    xd_arena *a = xd_arena_new();
    /* corp.example: three recipients delivered (accepted, yet "not received")
     * in two orgs; other.example: one ticket, no record. */
    file(fx, "org-a", "a@corp.example", NULL, a);
    file(fx, "org-a", "b@corp.example", NULL, a);
    file(fx, "org-b", "c@CORP.example", NULL, a);
    fx->verify.verdict = TK_VERDICT_NO_RECORD;
    file(fx, "org-a", "z@other.example", NULL, a);
    fx->verify.verdict = TK_VERDICT_DOMAIN_PROBLEM;
    file(fx, "org-b", "q@flagged.example", NULL, a);
    tk_scope staff = staff_scope();
    tk_group_filter g = {.min_tickets = 1, .max_domains = 10};
    tk_group *groups = NULL;
    int n = 0;
    xd_err err;
    assert_int_equal(tk_store_group_by_domain(fx->store, &staff, &g, a, &groups, &n, &err), XD_OK);
    assert_int_equal(n, 3);
    assert_string_equal(groups[0].domain, "corp.example");
    assert_int_equal(groups[0].tickets, 3);
    assert_int_equal(groups[0].organizations, 2);
    assert_int_equal(groups[0].recipients, 3);
    assert_int_equal(groups[0].verdict_counts[TK_VERDICT_DELIVERED], 3);
    assert_int_equal(groups[0].issue_counts[TK_ISSUE_NOT_RECEIVED], 3);
    assert_true(groups[0].domain_pattern);
    assert_non_null(strstr(groups[0].pattern, "3 different recipients at corp.example"));
    assert_int_equal(groups[0].n_ids, 3);
    assert_int_equal(groups[0].ids[0], 3); /* newest first */
    /* One ticket each: flagged by verify, or no pattern at all. */
    for (int i = 1; i < 3; i++) {
        if (strcmp(groups[i].domain, "flagged.example") == 0) {
            assert_true(groups[i].domain_pattern);
            assert_non_null(strstr(groups[i].pattern, "failing for other recipients"));
        } else {
            assert_string_equal(groups[i].domain, "other.example");
            assert_false(groups[i].domain_pattern);
            assert_string_equal(groups[i].pattern, "");
        }
    }
    g.min_tickets = 2;
    assert_int_equal(tk_store_group_by_domain(fx->store, &staff, &g, a, &groups, &n, &err), XD_OK);
    assert_int_equal(n, 1);
    /* Closed tickets leave the default grouping. */
    tk_ticket *t = NULL;
    int changed;
    tk_update u = {.status = TK_STATUS_RESOLVED};
    for (int id = 1; id <= 3; id++) {
        u.status = TK_STATUS_RESOLVED;
        assert_int_equal(tk_store_update(fx->store, &staff, id, &u, a, &t, &changed, &err), XD_OK);
        u.status = TK_STATUS_CLOSED;
        assert_int_equal(tk_store_update(fx->store, &staff, id, &u, a, &t, &changed, &err), XD_OK);
    }
    assert_int_equal(tk_store_group_by_domain(fx->store, &staff, &g, a, &groups, &n, &err), XD_OK);
    assert_int_equal(n, 0);
    xd_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_get_and_repeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_isolation, setup, teardown),
        cmocka_unit_test(test_scope_rules),
        cmocka_unit_test_setup_teardown(test_workflow_times_and_notes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_comments_visibility, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_filters_and_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_by_domain, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
