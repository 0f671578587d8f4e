/*
 * test_dns.c: xd_dns against a real dnsmasq on 127.0.0.1: MX order, null MX,
 * A/AAAA, TXT, NXDOMAIN / no-data / server failure, the cache (answers
 * survive the server within TTL, expire after it, size bound), timeouts on a
 * silent and on a closed port, and many threads sharing one resolver.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dnsmasq_run.h"
#include "xd/dns.h"

static const char *const records[] = {
    "--mx-host=mx.test,mx-b.mx.test,20",
    "--mx-host=mx.test,mx-a.mx.test,10",
    "--mx-host=mx.test,mx-c.mx.test,30",
    "--mx-host=mx.test,mx-d.mx.test,20",
    "--mx-host=nullmx.test,.,0", /* RFC 7505 null MX: dnsmasq serves "0 ." */
    "--host-record=mx-a.mx.test,127.0.0.10",
    "--host-record=dual.test,127.0.0.11,fd00::11",
    "--txt-record=txt.test,v=spf1 -all",
    "--txt-record=txt.test,part1,part2", /* one record, two strings */
    "--txt-record=_dmarc.txt.test,v=DMARC1; p=reject",
    NULL,
};

/* A dnsmasq of a test's own (the test stops it), stopped by solo_teardown
 * even when an assertion ends the test early. */
static dnsmasq_run solo;

static int solo_setup(void **state)
{
    *state = &solo;
    return dnsmasq_start(&solo, records);
}

static int solo_teardown(void **state)
{
    (void)state;
    dnsmasq_stop(&solo);
    return 0;
}

typedef struct fixture {
    dnsmasq_run server;
    xd_dns *dns; /* no cache: every call goes to dnsmasq */
    char servers[64];
} fixture;

static int setup(void **state)
{
    static fixture f;
    memset(&f, 0, sizeof(f));
    if (dnsmasq_start(&f.server, records) != 0)
        return -1;
    snprintf(f.servers, sizeof(f.servers), "127.0.0.1:%d", f.server.port);
    xd_dns_config cfg = {.servers = f.servers, .timeout_ms = 2000};
    xd_err err;
    f.dns = xd_dns_new(&cfg, &err);
    if (!f.dns) {
        fprintf(stderr, "xd_dns_new: %s\n", err.message);
        dnsmasq_stop(&f.server);
        return -1;
    }
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    xd_dns_free(f->dns);
    dnsmasq_stop(&f->server);
    return 0;
}

static void test_mx_sorted(void **state)
{
    fixture *f = *state;
    xd_dns_answer a;
    xd_err err;
    assert_int_equal(xd_dns_mx_lookup(f->dns, "mx.test", &a, &err), XD_DNS_OK);
    assert_int_equal(err.code, XD_OK);
    assert_int_equal(a.n, 4);
    assert_int_equal(a.from_cache, 0);
    assert_string_equal(a.mx[0].host, "mx-a.mx.test");
    assert_int_equal(a.mx[0].preference, 10);
    assert_int_equal(a.mx[1].preference, 20);
    assert_int_equal(a.mx[2].preference, 20);
    assert_true(
        (strcmp(a.mx[1].host, "mx-b.mx.test") == 0 && strcmp(a.mx[2].host, "mx-d.mx.test") == 0) ||
        (strcmp(a.mx[1].host, "mx-d.mx.test") == 0 && strcmp(a.mx[2].host, "mx-b.mx.test") == 0));
    assert_string_equal(a.mx[3].host, "mx-c.mx.test");
    assert_int_equal(a.mx[3].preference, 30);
    assert_int_equal(a.ttl_ms, 60000); /* --local-ttl=60 */
    xd_dns_answer_free(&a);
    /* Case and a trailing dot do not matter. */
    assert_int_equal(xd_dns_mx_lookup(f->dns, "MX.Test.", &a, NULL), XD_DNS_OK);
    assert_int_equal(a.n, 4);
    xd_dns_answer_free(&a);
}

static void test_mx_sort_is_stable(void **state)
{
    (void)state;
    xd_dns_mx mx[5] = {{30, "c"}, {10, "a1"}, {20, "b1"}, {10, "a2"}, {20, "b2"}};
    xd_dns_mx_sort(mx, 5);
    const char *want[] = {"a1", "a2", "b1", "b2", "c"};
    for (int i = 0; i < 5; i++)
        assert_string_equal(mx[i].host, want[i]);
}

static void test_null_mx(void **state)
{
    fixture *f = *state;
    xd_dns_answer a;
    xd_err err;
    assert_int_equal(xd_dns_mx_lookup(f->dns, "nullmx.test", &a, &err), XD_DNS_NULL_MX);
    assert_int_equal(a.n, 0);
    assert_int_equal(err.code, XD_FAILED_PRECONDITION);
    assert_non_null(strstr(err.message, "RFC 7505"));
    xd_dns_answer_free(&a);
}

static void test_negative_answers(void **state)
{
    fixture *f = *state;
    xd_dns_answer a;
    xd_err err;
    assert_int_equal(xd_dns_mx_lookup(f->dns, "nope.test", &a, &err), XD_DNS_NXDOMAIN);
    assert_int_equal(err.code, XD_NOT_FOUND);
    assert_string_equal(err.field, "domain");
    xd_dns_answer_free(&a);
    assert_int_equal(xd_dns_mx_lookup(f->dns, "mx-a.mx.test", &a, &err), XD_DNS_NODATA);
    xd_dns_answer_free(&a);
    assert_int_equal(xd_dns_txt_lookup(f->dns, "dual.test", &a, &err), XD_DNS_NODATA);
    xd_dns_answer_free(&a);
    assert_int_equal(xd_dns_addr_lookup(f->dns, "mx-a.mx.test", AF_INET6, &a, &err), XD_DNS_NODATA);
    xd_dns_answer_free(&a);
    /* dnsmasq has no upstream: names outside .test are REFUSED. */
    assert_int_equal(xd_dns_mx_lookup(f->dns, "example.org", &a, &err), XD_DNS_SERVFAIL);
    assert_int_equal(err.code, XD_UNAVAILABLE);
    xd_dns_answer_free(&a);
}

static void test_bad_names(void **state)
{
    fixture *f = *state;
    char long_label[80], long_name[300];
    memset(long_label, 'a', 64);
    strcpy(long_label + 64, ".test");
    memset(long_name, 0, sizeof(long_name));
    for (int i = 0; i < 4; i++)
        strcat(long_name, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.");
    strcat(long_name, "test"); /* 4 * 64 + 4 = 260 octets */
    const char *bad[] = {
        NULL,       "",       ".", "a..test", "bad name.test", "a\r\n.test", "m\xc3\xbc.test",
        long_label, long_name};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        xd_dns_answer a;
        xd_err err;
        assert_int_equal(xd_dns_mx_lookup(f->dns, bad[i], &a, &err), XD_DNS_BADNAME);
        assert_int_equal(err.code, XD_INVALID_ARGUMENT);
        xd_dns_answer_free(&a);
    }
}

static void test_addresses(void **state)
{
    fixture *f = *state;
    xd_dns_answer a;
    assert_int_equal(xd_dns_addr_lookup(f->dns, "mx-a.mx.test", AF_INET, &a, NULL), XD_DNS_OK);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.addr[0].family, AF_INET);
    assert_string_equal(a.addr[0].text, "127.0.0.10");
    unsigned char want4[4] = {127, 0, 0, 10};
    assert_memory_equal(a.addr[0].bytes, want4, 4);
    xd_dns_answer_free(&a);

    assert_int_equal(xd_dns_addr_lookup(f->dns, "dual.test", AF_INET6, &a, NULL), XD_DNS_OK);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.addr[0].family, AF_INET6);
    assert_string_equal(a.addr[0].text, "fd00::11");
    xd_dns_answer_free(&a);

    assert_int_equal(xd_dns_addr_lookup(f->dns, "dual.test", AF_UNSPEC, &a, NULL), XD_DNS_OK);
    assert_int_equal(a.n, 2);
    assert_string_equal(a.addr[0].text, "127.0.0.11"); /* A first, then AAAA */
    assert_string_equal(a.addr[1].text, "fd00::11");
    xd_dns_answer_free(&a);

    /* Only an A record: AF_UNSPEC still answers. */
    assert_int_equal(xd_dns_addr_lookup(f->dns, "mx-a.mx.test", AF_UNSPEC, &a, NULL), XD_DNS_OK);
    assert_int_equal(a.n, 1);
    xd_dns_answer_free(&a);
    assert_int_equal(xd_dns_addr_lookup(f->dns, "nope.test", AF_UNSPEC, &a, NULL), XD_DNS_NXDOMAIN);
    xd_dns_answer_free(&a);
}

static void test_txt(void **state)
{
    fixture *f = *state;
    xd_dns_answer a;
    assert_int_equal(xd_dns_txt_lookup(f->dns, "txt.test", &a, NULL), XD_DNS_OK);
    assert_int_equal(a.n, 2);
    int spf = 0, joined = 0;
    for (size_t i = 0; i < a.n; i++) {
        spf += strcmp(a.txt[i].data, "v=spf1 -all") == 0 && a.txt[i].len == 11;
        joined += strcmp(a.txt[i].data, "part1part2") == 0 && a.txt[i].len == 10;
    }
    assert_int_equal(spf, 1);
    assert_int_equal(joined, 1);
    xd_dns_answer_free(&a);
    assert_int_equal(xd_dns_txt_lookup(f->dns, "_dmarc.txt.test", &a, NULL), XD_DNS_OK);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.txt[0].data, "v=DMARC1; p=reject");
    xd_dns_answer_free(&a);
}

/* An authoritative zone: its negative answers carry an SOA (TTL 45 s). In
 * this mode dnsmasq refuses everything else, hence a server of its own. */
static const char *const auth_records[] = {
    "--auth-server=ns.auth.test,127.0.0.1",
    "--auth-zone=auth.test",
    "--auth-ttl=45",
    "--host-record=www.auth.test,127.0.0.5",
    NULL,
};

static int auth_setup(void **state)
{
    *state = &solo;
    return dnsmasq_start(&solo, auth_records);
}

static void test_negative_ttl_from_soa(void **state)
{
    dnsmasq_run *server = *state;
    char servers[64];
    snprintf(servers, sizeof(servers), "127.0.0.1:%d", server->port);
    xd_clock *clock = xd_clock_manual_new(1700000000000LL);
    xd_dns_config cfg = {.servers = servers,
                         .timeout_ms = 2000,
                         .cache_entries = 4,
                         .negative_ttl_ms = 30000,
                         .clock = clock};
    xd_dns *dns = xd_dns_new(&cfg, NULL);
    assert_non_null(dns);
    xd_dns_answer a;
    assert_int_equal(xd_dns_mx_lookup(dns, "nx.auth.test", &a, NULL), XD_DNS_NXDOMAIN);
    assert_int_equal(a.ttl_ms, 45000); /* RFC 2308: min(SOA TTL, SOA MINIMUM) */
    xd_dns_answer_free(&a);
    assert_int_equal(xd_dns_mx_lookup(dns, "www.auth.test", &a, NULL), XD_DNS_NODATA);
    assert_int_equal(a.ttl_ms, 45000);
    xd_dns_answer_free(&a);
    assert_int_equal(xd_dns_addr_lookup(dns, "www.auth.test", AF_INET, &a, NULL), XD_DNS_OK);
    assert_string_equal(a.addr[0].text, "127.0.0.5");
    assert_int_equal(a.ttl_ms, 45000);
    xd_dns_answer_free(&a);
    /* Within the SOA's 45 s (longer than the configured 30 s): from cache. */
    xd_clock_advance_ms(clock, 40000);
    assert_int_equal(xd_dns_mx_lookup(dns, "nx.auth.test", &a, NULL), XD_DNS_NXDOMAIN);
    assert_int_equal(a.from_cache, 1);
    assert_int_equal(a.ttl_ms, 5000);
    xd_dns_answer_free(&a);
    xd_clock_advance_ms(clock, 6000);
    assert_int_equal(xd_dns_mx_lookup(dns, "nx.auth.test", &a, NULL), XD_DNS_NXDOMAIN);
    assert_int_equal(a.from_cache, 0);
    xd_dns_answer_free(&a);
    xd_dns_free(dns);
    xd_clock_free(clock);
}

typedef struct worker {
    xd_dns *dns;
    int failures;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 25; i++) {
        xd_dns_answer a;
        switch (i % 3) {
        case 0:
            w->failures += xd_dns_mx_lookup(w->dns, "mx.test", &a, NULL) != XD_DNS_OK || a.n != 4 ||
                           strcmp(a.mx[0].host, "mx-a.mx.test") != 0;
            break;
        case 1:
            w->failures +=
                xd_dns_addr_lookup(w->dns, "dual.test", AF_UNSPEC, &a, NULL) != XD_DNS_OK ||
                a.n != 2;
            break;
        default:
            w->failures += xd_dns_mx_lookup(w->dns, "nope.test", &a, NULL) != XD_DNS_NXDOMAIN;
            break;
        }
        xd_dns_answer_free(&a);
    }
    return NULL;
}

static void run_threads(xd_dns *dns)
{
    enum { N = 4 };
    pthread_t t[N];
    worker w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (worker){.dns = dns};
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
}

static void test_threads_share_resolver(void **state)
{
    fixture *f = *state;
    run_threads(f->dns);
    xd_dns_config cfg = {.servers = f->servers, .timeout_ms = 2000, .cache_entries = 8};
    xd_dns *cached = xd_dns_new(&cfg, NULL);
    assert_non_null(cached);
    run_threads(cached);
    xd_dns_free(cached);
}

static void test_cache_survives_server_until_ttl(void **state)
{
    dnsmasq_run *server = *state;
    char servers[64];
    snprintf(servers, sizeof(servers), "127.0.0.1:%d", server->port);
    xd_clock *clock = xd_clock_manual_new(1700000000000LL);
    xd_dns_config cfg = {.servers = servers,
                         .timeout_ms = 500,
                         .cache_entries = 3,
                         .negative_ttl_ms = 30000,
                         .clock = clock};
    xd_dns *dns = xd_dns_new(&cfg, NULL);
    assert_non_null(dns);
    xd_dns_answer a;
    assert_int_equal(xd_dns_mx_lookup(dns, "mx.test", &a, NULL), XD_DNS_OK);
    assert_int_equal(a.from_cache, 0);
    xd_dns_answer_free(&a);
    assert_int_equal(xd_dns_mx_lookup(dns, "nope.test", &a, NULL), XD_DNS_NXDOMAIN);
    assert_int_equal(a.ttl_ms, 30000); /* dnsmasq sends no SOA: configured negative TTL */
    xd_dns_answer_free(&a);
    assert_int_equal(xd_dns_mx_lookup(dns, "nullmx.test", &a, NULL), XD_DNS_NULL_MX);
    xd_dns_answer_free(&a);
    assert_int_equal(xd_dns_txt_lookup(dns, "txt.test", &a, NULL), XD_DNS_OK);
    xd_dns_answer_free(&a); /* 4th entry: evicts the least recently used, mx.test */

    dnsmasq_stop(server);
    xd_clock_advance_ms(clock, 20000);
    assert_int_equal(xd_dns_mx_lookup(dns, "nope.test", &a, NULL), XD_DNS_NXDOMAIN);
    assert_int_equal(a.from_cache, 1);
    assert_int_equal(a.ttl_ms, 10000);
    xd_dns_answer_free(&a);
    assert_int_equal(xd_dns_mx_lookup(dns, "nullmx.test", &a, NULL), XD_DNS_NULL_MX);
    assert_int_equal(a.from_cache, 1);
    xd_dns_answer_free(&a);
    assert_int_equal(xd_dns_txt_lookup(dns, "txt.test", &a, NULL), XD_DNS_OK);
    assert_int_equal(a.from_cache, 1);
    assert_int_equal(a.n, 2);
    assert_int_equal(a.ttl_ms, 40000);
    xd_dns_answer_free(&a);
    /* Evicted by the size bound: the server is gone, so no answer. */
    assert_int_equal(xd_dns_mx_lookup(dns, "mx.test", &a, NULL), XD_DNS_TIMEOUT);
    assert_int_equal(a.from_cache, 0);
    xd_dns_answer_free(&a);

    /* Past the negative TTL (30 s) but within the positive one (60 s). */
    xd_clock_advance_ms(clock, 15000);
    assert_int_equal(xd_dns_mx_lookup(dns, "nope.test", &a, NULL), XD_DNS_TIMEOUT);
    xd_dns_answer_free(&a);
    assert_int_equal(xd_dns_txt_lookup(dns, "txt.test", &a, NULL), XD_DNS_OK);
    xd_dns_answer_free(&a);
    /* Past the positive TTL. */
    xd_clock_advance_ms(clock, 30000);
    assert_int_equal(xd_dns_txt_lookup(dns, "txt.test", &a, NULL), XD_DNS_TIMEOUT);
    xd_dns_answer_free(&a);

    xd_dns_free(dns);
    xd_clock_free(clock);
}

/* A resolver whose only server is 127.0.0.1:port, with a 600 ms budget. */
static void expect_timeout(int port)
{
    char servers[64];
    snprintf(servers, sizeof(servers), "127.0.0.1:%d", port);
    xd_dns_config cfg = {.servers = servers, .timeout_ms = 600, .tries = 3};
    xd_dns *dns = xd_dns_new(&cfg, NULL);
    assert_non_null(dns);
    xd_dns_answer a;
    xd_err err;
    int64_t start = xd_monotonic_ms();
    assert_int_equal(xd_dns_mx_lookup(dns, "mx.test", &a, &err), XD_DNS_TIMEOUT);
    int64_t took = xd_monotonic_ms() - start;
    assert_int_equal(err.code, XD_DEADLINE_EXCEEDED);
    printf("timeout on port %d after %lld ms (budget 600)\n", port, (long long)took);
    /* The budget is a contract; the slack only absorbs a loaded machine. */
    assert_true(took < 600 + 1000);
    xd_dns_answer_free(&a);
    xd_dns_free(dns);
}

static void test_timeout_silent_server(void **state)
{
    (void)state;
    /* A bound UDP socket that never answers: the query is lost for sure. */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    expect_timeout(ntohs(sa.sin_port));
    close(fd);
}

static void test_timeout_nothing_listening(void **state)
{
    (void)state;
    expect_timeout(free_udp_port()); /* ICMP port unreachable: refused, same result */
}

static void test_bad_config(void **state)
{
    (void)state;
    xd_err err;
    xd_dns_config cfg = {.servers = "not an address"};
    assert_null(xd_dns_new(&cfg, &err));
    assert_int_equal(err.code, XD_INVALID_ARGUMENT);
    cfg = (xd_dns_config){.timeout_ms = -1};
    assert_null(xd_dns_new(&cfg, &err));
    xd_dns *dns = xd_dns_new(NULL, &err); /* defaults: /etc/resolv.conf */
    assert_non_null(dns);
    xd_dns_free(dns);
}

int main(void)
{
    const struct CMUnitTest live[] = {
        cmocka_unit_test(test_mx_sorted),
        cmocka_unit_test(test_null_mx),
        cmocka_unit_test(test_negative_answers),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_txt),
        cmocka_unit_test(test_threads_share_resolver),
    };
    const struct CMUnitTest alone[] = {
        cmocka_unit_test(test_mx_sort_is_stable),
        cmocka_unit_test_setup_teardown(test_cache_survives_server_until_ttl, solo_setup,
                                        solo_teardown),
        cmocka_unit_test_setup_teardown(test_negative_ttl_from_soa, auth_setup, solo_teardown),
        cmocka_unit_test(test_timeout_silent_server),
        cmocka_unit_test(test_timeout_nothing_listening),
        cmocka_unit_test(test_bad_config),
    };
    int failed = cmocka_run_group_tests_name("dns_live", live, setup, teardown);
    failed += cmocka_run_group_tests_name("dns", alone, NULL, NULL);
    return failed;
}
