/* test_corpora.c: accuracy of the bounce, reply and ARF parsers on the
 * shared corpora. Prints the figures and misses; asserts floors set just
 * under what was measured (see the report for the figures). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpus_eval.h"
#include "vf_arf.h"
#include "vf_bounce.h"
#include "vf_classify.h"

static const char *corpora(void)
{
    const char *c = getenv("XD_CORPORA");
    return c ? c : "/work/shared/corpora";
}

static double pct(int a, int b)
{
    return b ? 100.0 * a / b : 0;
}

static void test_sisimai(void **state)
{
    (void)state;
    corpus_figures f;
    assert_int_equal(corpus_eval_sisimai(corpora(), getenv("VF_VERBOSE") != NULL, &f), 0);
    printf("sisimai bounces: %d rows; recipient found %d (%.1f%%); category %d (%.1f%%); "
           "sisimai reason %d (%.1f%%); status %d/%d (%.1f%%); hard/soft %d (%.1f%%)\n",
           f.rows, f.found, pct(f.found, f.rows), f.category_ok, pct(f.category_ok, f.rows),
           f.reason_ok, pct(f.reason_ok, f.rows), f.status_ok, f.status_rows,
           pct(f.status_ok, f.status_rows), f.hard_ok, pct(f.hard_ok, f.rows));
    printf("sisimai: not-bounce %d/%d, auto-replies %d/%d, ARF recognised %d/%d, line endings "
           "%d/%d\n",
           f.not_bounce_ok, f.not_bounce_rows, f.vacation_ok, f.vacation_rows, f.feedback_ok,
           f.feedback_rows, f.eol_ok, f.eol_rows);
    assert_int_equal(f.rows, 303);
    assert_true(pct(f.found, f.rows) >= 88.0);
    assert_true(pct(f.category_ok, f.rows) >= 60.0);
    assert_true(pct(f.status_ok, f.status_rows) >= 90.0);
    assert_true(pct(f.hard_ok, f.rows) >= 73.0);
    assert_int_equal(f.not_bounce_ok, f.not_bounce_rows);
    assert_int_equal(f.vacation_ok, f.vacation_rows);
    assert_int_equal(f.feedback_ok, f.feedback_rows);
    assert_int_equal(f.eol_ok, f.eol_rows);
}

static void test_kumomta(void **state)
{
    (void)state;
    kumo_figures k;
    assert_int_equal(corpus_eval_kumo(corpora(), 1, &k), 0);
    printf("kumomta DSN: %d rows; recipient %d; action %d; status %d; diagnostic %d\n", k.rows,
           k.found, k.action_ok, k.status_ok, k.diag_ok);
    assert_int_equal(k.rows, 9);
    assert_int_equal(k.found, 9);
    assert_int_equal(k.action_ok, 9);
    assert_int_equal(k.status_ok, 9);
    assert_int_equal(k.diag_ok, 9);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 21];
    *len = fread(buf, 1, sizeof buf - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void test_arf(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/arf-feedback-reports/expectations.csv", corpora());
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[2048];
    assert_non_null(fgets(line, sizeof line, f));
    int rows = 0, type_ok = 0, rcpt_ok = 0, ua_ok = 0, ua_rows = 0, suppress_ok = 0;
    char last[512] = "";
    vf_arf arf;
    while (fgets(line, sizeof line, f)) {
        char *cols[8] = {0};
        char *p = line;
        for (int i = 0; i < 8 && p; i++) {
            cols[i] = p;
            p = strchr(p, ',');
            if (p)
                *p++ = '\0';
        }
        if (!cols[1])
            continue;
        rows++;
        if (strcmp(cols[0], last) != 0) {
            snprintf(path, sizeof path, "%s/arf-feedback-reports/%s", corpora(), cols[0]);
            size_t len;
            char *raw = slurp(path, &len);
            assert_non_null(raw);
            assert_int_equal(vf_arf_parse(raw, len, &arf), 0);
            snprintf(last, sizeof last, "%s", cols[0]);
        }
        int ok = arf.is_report && strcmp(arf.feedback_type, cols[1]) == 0;
        type_ok += ok;
        rcpt_ok += arf.n_rcpts > 0;
        int want_suppress = strcmp(cols[1], "abuse") == 0 || strcmp(cols[1], "opt-out") == 0;
        suppress_ok += vf_arf_suppresses(&arf) == want_suppress;
        if (cols[2] && cols[2][0]) {
            ua_rows++;
            ua_ok += strcmp(arf.user_agent, cols[2]) == 0;
        }
        if (!ok || arf.n_rcpts == 0)
            printf("ARF MISS %s: type '%s' want '%s', %d recipients\n", cols[0], arf.feedback_type,
                   cols[1], arf.n_rcpts);
    }
    fclose(f);
    printf("ARF: %d rows; feedback type %d; suppress decision %d; recipient found %d; "
           "User-Agent %d/%d\n",
           rows, type_ok, suppress_ok, rcpt_ok, ua_ok, ua_rows);
    assert_int_equal(rows, 29);
    assert_int_equal(type_ok, rows);
    assert_int_equal(suppress_ok, rows);
    assert_true(rcpt_ok >= 25); /* arf-11, arf-15: "Undisclosed Recipients" */
    assert_int_equal(ua_ok, ua_rows);
}

static void test_reply_strings(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/sisimai-set-of-emails/sisimai-reason-sample-strings.csv",
             corpora());
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[2048];
    assert_non_null(fgets(line, sizeof line, f));
    int rows = 0, reason_ok = 0, cat_ok = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *comma = strchr(line, ',');
        if (!comma)
            continue;
        *comma = '\0';
        const char *want = line, *text = comma + 1;
        if (*text == '"')
            text++;
        char status[16] = "";
        vf_find_status(text, status);
        vf_class c = vf_classify(vf_find_reply_code(text), status, text);
        rows++;
        reason_ok += strcmp(c.reason, want) == 0;
        int cok = c.category == vf_reason_category(want);
        cat_ok += cok;
        if (!cok && getenv("VF_VERBOSE"))
            printf("REPLY MISS want %s got %s: %s\n", want, c.reason, text);
    }
    fclose(f);
    printf("reply strings: %d rows; category %d (%.1f%%); sisimai reason %d (%.1f%%)\n", rows,
           cat_ok, pct(cat_ok, rows), reason_ok, pct(reason_ok, rows));
    assert_int_equal(rows, 78);
    assert_true(pct(cat_ok, rows) >= 72.0);
}

static void test_classifier_basics(void **state)
{
    (void)state;
    vf_class c = vf_classify(550, "5.1.1",
                             "550 5.1.1 <a@b>: Recipient address rejected: User "
                             "unknown in virtual mailbox table");
    assert_int_equal(c.category, XD__FAILURE_CATEGORY__FAILURE_CATEGORY_INVALID_RECIPIENT);
    assert_true(c.hard);
    c = vf_classify(452, "4.2.2", "mailbox full");
    assert_int_equal(c.category, XD__FAILURE_CATEGORY__FAILURE_CATEGORY_MAILBOX_FULL);
    assert_false(c.hard);
    c = vf_classify(421, "4.7.0", "Too many connections from your IP, slow down");
    assert_int_equal(c.category, XD__FAILURE_CATEGORY__FAILURE_CATEGORY_RATE_LIMITED);
    c = vf_classify(554, "5.7.1",
                    "Service unavailable; Client host [192.0.2.1] blocked using "
                    "zen.spamhaus.org");
    assert_int_equal(c.category, XD__FAILURE_CATEGORY__FAILURE_CATEGORY_POLICY_BLOCK);
    c = vf_classify(550, "5.7.26", "Unauthenticated email is not accepted due to DMARC policy");
    assert_int_equal(c.category, XD__FAILURE_CATEGORY__FAILURE_CATEGORY_AUTH_FAILURE);
    c = vf_classify(0, "", "");
    assert_non_null(c.reason);
    char st[16];
    assert_true(vf_find_status("said: 550 5.1.1 no such user", st));
    assert_string_equal(st, "5.1.1");
    assert_false(vf_find_status("version 1.2.3.4 only", st));
    assert_int_equal(vf_find_reply_code("host said: 552 too big"), 552);
}

static void test_garbage_is_safe(void **state)
{
    (void)state;
    vf_bounce *b = malloc(sizeof *b);
    const char *inputs[] = {"", "\r\n\r\n", "Content-Type: multipart/report; boundary=\"\"\n\n--",
                            "Content-Type: multipart/mixed; boundary=x\n\n--x\n--x\n--x--\n",
                            "Content-Type: message/delivery-status\n\nFinal-Recipient: ;\n"};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
        assert_int_equal(vf_bounce_parse(inputs[i], strlen(inputs[i]), b), 0);
    /* Deep nesting stops at the bound. */
    size_t cap = 200000, n = 0;
    char *deep = malloc(cap);
    for (int i = 0; i < 2000 && n + 200 < cap; i++)
        n += (size_t)snprintf(deep + n, cap - n,
                              "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i);
    assert_int_equal(vf_bounce_parse(deep, n, b), 0);
    free(deep);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sisimai),
        cmocka_unit_test(test_kumomta),
        cmocka_unit_test(test_arf),
        cmocka_unit_test(test_reply_strings),
        cmocka_unit_test(test_classifier_basics),
        cmocka_unit_test(test_garbage_is_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
