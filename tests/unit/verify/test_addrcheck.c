/* test_addrcheck.c: recipient checks without DNS: syntax diagnosis, typo
 * suggestions, role accounts, suppression and bounce history, and accuracy
 * on the isemail and JSON-schema address corpora (RFC 5321 envelope
 * validity). DNS answers are tested against dnsmasq in the integration
 * suite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vf_addrcheck.h"

#define AV(x) XD__ADDRESS_VERDICT__ADDRESS_VERDICT_##x

static const char *corpora(void)
{
    const char *c = getenv("XD_CORPORA");
    return c ? c : "/work/shared/corpora";
}

static void test_typos_and_roles(void **state)
{
    (void)state;
    assert_string_equal(vf_typo_domain("gmial.com"), "gmail.com");
    assert_string_equal(vf_typo_domain("GMAIL.CON"), "gmail.com");
    assert_string_equal(vf_typo_domain("hotmial.com"), "hotmail.com");
    assert_string_equal(vf_typo_domain("yaho.com"), "yahoo.com");
    assert_string_equal(vf_typo_domain("outlok.com"), "outlook.com");
    assert_null(vf_typo_domain("gmail.com"));
    assert_null(vf_typo_domain("example.com"));
    assert_null(vf_typo_domain("xenegrade.net"));
    assert_true(vf_is_role_account("postmaster"));
    assert_true(vf_is_role_account("Info"));
    assert_true(vf_is_role_account("sales+eu"));
    assert_false(vf_is_role_account("ann.smith"));
    vf_addr_result r;
    xd_err err;
    assert_int_equal(vf_check_address(NULL, NULL, NULL, "ann@gmial.com", "", 0, &r, &err), XD_OK);
    assert_int_equal(r.verdict, AV(RISKY));
    assert_string_equal(r.suggestion, "ann@gmail.com");
    assert_int_equal(vf_check_address(NULL, NULL, NULL, "info@school.example", "", 0, &r, &err),
                     XD_OK);
    assert_int_equal(r.verdict, AV(RISKY));
    assert_true(r.role);
    assert_int_equal(vf_check_address(NULL, NULL, NULL, "Ann@Example.COM", "", 0, &r, &err), XD_OK);
    assert_int_equal(r.verdict, AV(VALID));
    assert_string_equal(r.normalized, "Ann@example.com");
}

static void test_syntax_diagnosis(void **state)
{
    (void)state;
    vf_addr_result r;
    xd_err err;
    vf_check_address(NULL, NULL, NULL, "ann.example.com", "", 0, &r, &err);
    assert_int_equal(r.verdict, AV(INVALID_SYNTAX));
    assert_non_null(strstr(r.diagnosis, "no '@'"));
    vf_check_address(NULL, NULL, NULL, "ann..smith@example.com", "", 0, &r, &err);
    assert_int_equal(r.verdict, AV(INVALID_SYNTAX));
    assert_non_null(strstr(r.diagnosis, "dot"));
    vf_check_address(NULL, NULL, NULL, "ann@example.com\r\nBcc: x@evil.example", "", 0, &r, &err);
    assert_int_equal(r.verdict, AV(INVALID_SYNTAX));
    vf_check_address(NULL, NULL, NULL, "", "", 0, &r, &err);
    assert_int_equal(r.verdict, AV(INVALID_SYNTAX));
    vf_check_address(NULL, NULL, NULL,
                     "user@b\xc3\xbc"
                     "cher.example",
                     "", 0, &r, &err);
    assert_int_equal(r.verdict, AV(VALID)); /* IDN domain, A-label form */
    assert_non_null(strstr(r.normalized, "xn--"));
}

static void test_suppression_and_history(void **state)
{
    (void)state;
    char dir[] = "/tmp/vf_addr_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/verify.db", dir);
    xd_clock *clock = xd_clock_manual_new(1795000000000LL);
    vf_store *store;
    xd_err err;
    assert_int_equal(vf_store_open(path, clock, NULL, &store, &err), XD_OK);
    vf_suppression s = {.org_id = "org-a",
                        .address = "eve@example.com",
                        .reason = XD__SUPPRESSION_REASON__SUPPRESSION_REASON_UNSUBSCRIBED,
                        .source = "one-click"};
    int created;
    assert_int_equal(vf_store_suppress(store, &s, &created, NULL, NULL, &err), XD_OK);
    vf_addr_result r;
    vf_check_address(store, NULL, "org-a", "Eve@example.com", "marketing", 0, &r, &err);
    assert_int_equal(r.verdict, AV(SUPPRESSED));
    assert_int_equal(r.sup_reason, XD__SUPPRESSION_REASON__SUPPRESSION_REASON_UNSUBSCRIBED);
    vf_check_address(store, NULL, "org-a", "eve@example.com", "transactional", 0, &r, &err);
    assert_int_equal(r.verdict, AV(VALID));
    vf_check_address(store, NULL, "org-b", "eve@example.com", "marketing", 0, &r, &err);
    assert_int_equal(r.verdict, AV(VALID));
    vf_store_close(store);
    xd_clock_free(clock);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static int hexval(int c)
{
    return c <= '9' ? c - '0' : (c | 32) - 'a' + 10;
}

/* Reads CSV column hex_col (address bytes) and a yes/no or true/false
 * column; counts agreement of "not INVALID_SYNTAX" with it. */
static void eval_csv(const char *rel, int hex_col, int valid_col, const char *only_prefix,
                     int *rows, int *ok)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", corpora(), rel);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[8192];
    assert_non_null(fgets(line, sizeof line, f));
    while (fgets(line, sizeof line, f)) {
        char *cols[16] = {0};
        int n = 0;
        for (char *p = line; p && n < 16;) {
            cols[n++] = p;
            p = strchr(p, ',');
            if (p)
                *p++ = '\0';
        }
        if (n <= valid_col || n <= hex_col)
            continue;
        if (only_prefix && strncmp(cols[0], only_prefix, strlen(only_prefix)) != 0)
            continue;
        char addr[2048];
        size_t len = 0;
        for (const char *h = cols[hex_col]; h[0] && h[1] && len + 1 < sizeof addr; h += 2)
            addr[len++] = (char)(hexval(h[0]) * 16 + hexval(h[1]));
        addr[len] = '\0';
        int want =
            strncmp(cols[valid_col], "yes", 3) == 0 || strncmp(cols[valid_col], "true", 4) == 0;
        vf_addr_result r;
        xd_err err;
        vf_check_address(NULL, NULL, NULL, addr, "", 0, &r, &err);
        int got = r.verdict != AV(INVALID_SYNTAX);
        (*rows)++;
        *ok += got == want;
        if (got != want && getenv("VF_VERBOSE"))
            printf("ADDR MISS %s: want %s got %s (%s)\n", addr, want ? "valid" : "invalid",
                   got ? "valid" : "invalid", r.diagnosis);
    }
    fclose(f);
}

static void test_corpora_accuracy(void **state)
{
    (void)state;
    int rows = 0, ok = 0;
    eval_csv("isemail-dominicsayers/tests.csv", 1, 8, NULL, &rows, &ok);
    printf("isemail-dominicsayers tests.csv: %d/%d envelope verdicts agree (%.1f%%)\n", ok, rows,
           100.0 * ok / rows);
    assert_true(rows == 164 && ok * 100 >= rows * 95);
    rows = ok = 0;
    eval_csv("isemail-dominicsayers/tests-original.csv", 1, 8, NULL, &rows, &ok);
    printf("isemail-dominicsayers tests-original.csv: %d/%d (%.1f%%)\n", ok, rows,
           100.0 * ok / rows);
    assert_true(ok * 100 >= rows * 95);
    rows = ok = 0;
    eval_csv("isemail-skeggse-js/tests.csv", 1, 7, NULL, &rows, &ok);
    printf("isemail-skeggse-js: %d/%d (%.1f%%)\n", ok, rows, 100.0 * ok / rows);
    assert_true(ok * 100 >= rows * 95);
    rows = ok = 0;
    eval_csv("email-jsonschema-test-suite/cases.csv", 2, 4, NULL, &rows, &ok);
    printf("email-jsonschema-test-suite: %d/%d (%.1f%%)\n", ok, rows, 100.0 * ok / rows);
    assert_true(ok * 100 >= rows * 90);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typos_and_roles),
        cmocka_unit_test(test_syntax_diagnosis),
        cmocka_unit_test(test_suppression_and_history),
        cmocka_unit_test(test_corpora_accuracy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
