/* test_config.c: defaults < file < environment, and clear errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xd/config.h"

static const char *const modes[] = {"direct", "smarthost", NULL};
static const xd_config_item items[] = {
    {"listen", XD_CFG_STRING, "tcp://127.0.0.1:1", "listen URL", .required = 1},
    {"workers", XD_CFG_INT, "8", "threads", 1, 64},
    {"retry.first", XD_CFG_DURATION, "5m", "first retry", 1000, 86400000},
    {"max_size", XD_CFG_SIZE, "10m", "largest message", 1024, 1 << 30},
    {"tls", XD_CFG_BOOL, "yes", "use TLS"},
    {"mode", XD_CFG_ENUM, "direct", "route", .choices = modes},
    {"password", XD_CFG_STRING, "", "relay password", .secret = 1},
};
#define N_ITEMS ((int)(sizeof(items) / sizeof(items[0])))

static char *write_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/xd-test-config-%d.conf", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_defaults(void **state)
{
    (void)state;
    xd_config *cfg = NULL;
    xd_err err;
    assert_int_equal(xd_config_load("unit", items, N_ITEMS, NULL, &cfg, &err), XD_OK);
    assert_string_equal(xd_config_str(cfg, "listen"), "tcp://127.0.0.1:1");
    assert_int_equal(xd_config_int(cfg, "workers"), 8);
    assert_int_equal(xd_config_int(cfg, "retry.first"), 300000);
    assert_int_equal(xd_config_int(cfg, "max_size"), 10 << 20);
    assert_true(xd_config_bool(cfg, "tls"));
    assert_string_equal(xd_config_str(cfg, "mode"), "direct");
    xd_config_free(cfg);
}

static void test_file_then_env(void **state)
{
    (void)state;
    char *path = write_file("# comment\nworkers = 4\n\nmode = smarthost\nretry.first=90s\n");
    setenv("XD_UNIT_WORKERS", "16", 1);
    xd_config *cfg = NULL;
    xd_err err;
    assert_int_equal(xd_config_load("unit", items, N_ITEMS, path, &cfg, &err), XD_OK);
    assert_int_equal(xd_config_int(cfg, "workers"), 16); /* env beats file */
    assert_string_equal(xd_config_str(cfg, "mode"), "smarthost");
    assert_int_equal(xd_config_int(cfg, "retry.first"), 90000);
    xd_config_free(cfg);
    unsetenv("XD_UNIT_WORKERS");
    unlink(path);
}

static void expect_error(const char *env_key, const char *value, const char *needle)
{
    setenv(env_key, value, 1);
    xd_config *cfg = NULL;
    xd_err err;
    assert_int_equal(xd_config_load("unit", items, N_ITEMS, NULL, &cfg, &err), XD_INVALID_ARGUMENT);
    assert_null(cfg);
    if (!strstr(err.message, needle))
        fail_msg("message '%s' lacks '%s'", err.message, needle);
    unsetenv(env_key);
}

static void test_bad_values_name_key_and_allowed(void **state)
{
    (void)state;
    expect_error("XD_UNIT_WORKERS", "0", "'workers'");
    expect_error("XD_UNIT_WORKERS", "0", "from 1 to 64");
    expect_error("XD_UNIT_WORKERS", "many", "XD_UNIT_WORKERS");
    expect_error("XD_UNIT_RETRY_FIRST", "5 minutes", "250ms, 5s");
    expect_error("XD_UNIT_MODE", "carrier-pigeon", "one of: direct smarthost");
    expect_error("XD_UNIT_TLS", "maybe", "true/false");
    expect_error("XD_UNIT_LISTEN", "", "'listen'");
    expect_error("XD_UNIT_MAX_SIZE", "2g", "'max_size'");
}

static void test_secret_never_echoed(void **state)
{
    (void)state;
    static const xd_config_item secret_int[] = {
        {"pin", XD_CFG_INT, "1", "a secret number", 1, 9, .secret = 1}};
    setenv("XD_UNIT_PIN", "hunter2", 1);
    xd_config *cfg = NULL;
    xd_err err;
    assert_int_equal(xd_config_load("unit", secret_int, 1, NULL, &cfg, &err), XD_INVALID_ARGUMENT);
    assert_null(strstr(err.message, "hunter2"));
    unsetenv("XD_UNIT_PIN");
}

static void test_file_errors(void **state)
{
    (void)state;
    xd_config *cfg = NULL;
    xd_err err;
    char *path = write_file("colour = blue\n");
    assert_int_equal(xd_config_load("unit", items, N_ITEMS, path, &cfg, &err), XD_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "unknown config key 'colour'"));
    path = write_file("workers 4\n");
    assert_int_equal(xd_config_load("unit", items, N_ITEMS, path, &cfg, &err), XD_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, ":1: expected 'key = value'"));
    unlink(path);
    assert_int_equal(xd_config_load("unit", items, N_ITEMS, "/nonexistent/x.conf", &cfg, &err),
                     XD_INVALID_ARGUMENT);
}

static void test_parsers(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(xd_parse_duration_ms("250ms", &v), 0);
    assert_int_equal(v, 250);
    assert_int_equal(xd_parse_duration_ms("3d", &v), 0);
    assert_int_equal(v, 259200000);
    assert_int_equal(xd_parse_duration_ms("-1s", &v), -1);
    assert_int_equal(xd_parse_duration_ms("1w", &v), -1);
    assert_int_equal(xd_parse_size("64k", &v), 0);
    assert_int_equal(v, 65536);
    assert_int_equal(xd_parse_size("1GB", &v), 0);
    assert_int_equal(v, 1LL << 30);
    assert_int_equal(xd_parse_size("12q", &v), -1);
    char env[64];
    xd_config_env_name("sender", "smtp.timeout-data", env, sizeof(env));
    assert_string_equal(env, "XD_SENDER_SMTP_TIMEOUT_DATA");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_file_then_env),
        cmocka_unit_test(test_bad_values_name_key_and_allowed),
        cmocka_unit_test(test_secret_never_echoed),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_parsers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
