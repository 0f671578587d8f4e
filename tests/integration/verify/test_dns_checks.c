/* test_dns_checks.c: ValidateAddress, CheckRecipients and Diagnose in the
 * real xd-verify process against a real dnsmasq on 127.0.0.1 serving MX, A
 * fallback, null MX, NXDOMAIN and no-address names; then with the DNS
 * server gone (cached answers still serve, new names say DNS unavailable). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "verify.pb-c.h"
#include "xd/dns.h"
#include "xd/rpc_client.h"

static char dir[64], url[128];
static pid_t dns_pid = -1, daemon_pid = -1;
static int dns_port;
static xd_client *client;

static int free_udp_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static void start_dnsmasq(void)
{
    dns_port = free_udp_port();
    assert_true(dns_port > 0);
    char port_opt[32], pid_opt[128];
    snprintf(port_opt, sizeof port_opt, "--port=%d", dns_port);
    /* The pid file must be ours: dnsmasq deletes it when it stops. */
    snprintf(pid_opt, sizeof pid_opt, "--pid-file=%s/dnsmasq.pid", dir);
    dns_pid = fork();
    assert_true(dns_pid >= 0);
    if (dns_pid == 0) {
        execl("/usr/sbin/dnsmasq", "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
              "--conf-file=/dev/null", "--listen-address=127.0.0.1", "--bind-interfaces",
              "--local=/test/", "--local-ttl=60", port_opt, pid_opt,
              "--mx-host=good.test,mx1.good.test,10", "--mx-host=good.test,mx2.good.test,20",
              "--host-record=mx1.good.test,127.0.0.1", "--host-record=afallback.test,127.0.0.2",
              "--mx-host=nullmx.test,.,0", "--txt-record=noaddr.test,exists",
              "--txt-record=probe.test,ready", (char *)NULL);
        _exit(127);
    }
    /* Ready when it answers (bounded wait). */
    char servers[64];
    snprintf(servers, sizeof servers, "127.0.0.1:%d", dns_port);
    xd_dns_config cfg = {.servers = servers, .timeout_ms = 300};
    xd_err err;
    xd_dns *dns = xd_dns_new(&cfg, &err);
    assert_non_null(dns);
    int ready = 0;
    for (int i = 0; i < 50 && !ready; i++) {
        xd_dns_answer a;
        memset(&a, 0, sizeof a);
        ready = xd_dns_txt_lookup(dns, "probe.test", &a, NULL) == XD_DNS_OK;
        xd_dns_answer_free(&a);
        if (!ready)
            usleep(100 * 1000);
    }
    xd_dns_free(dns);
    assert_true(ready);
}

static void start_daemon(void)
{
    const char *bin_dir = getenv("XD_BINARY_DIR");
    char bin[512], servers[64];
    snprintf(bin, sizeof bin, "%s/services/verify/xd-verify", bin_dir ? bin_dir : "build");
    snprintf(servers, sizeof servers, "127.0.0.1:%d", dns_port);
    daemon_pid = fork();
    assert_true(daemon_pid >= 0);
    if (daemon_pid == 0) {
        setenv("XD_VERIFY_LISTEN", url, 1);
        setenv("XD_VERIFY_DATA_DIR", dir, 1);
        setenv("XD_VERIFY_LOG_LEVEL", "warn", 1);
        setenv("XD_VERIFY_DNS_SERVERS", servers, 1);
        setenv("XD_VERIFY_DNS_TIMEOUT", "700ms", 1);
        execl(bin, bin, (char *)NULL);
        _exit(127);
    }
}

static xd_code call(const char *method, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *desc, xd_arena *a, void *out, xd_err *err)
{
    Xd__Caller caller = XD__CALLER__INIT;
    caller.org_id = "org-a";
    caller.role = XD__ROLE__ROLE_MODULE;
    caller.principal = "test";
    xd_call_options o = {.timeout_ms = 10000, .caller = &caller};
    return xd_client_call(client, &o, method, req, desc, a, (ProtobufCMessage **)out, err);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/vf_dns_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(url, sizeof url, "ipc://%s/verify.sock", dir);
    start_dnsmasq();
    start_daemon();
    xd_err err;
    assert_int_equal(xd_client_open(url, "verify", NULL, &client, &err), XD_OK);
    for (int i = 0; i < 100; i++) {
        xd_arena *a = xd_arena_new();
        Xd__HealthRequest req = XD__HEALTH_REQUEST__INIT;
        ProtobufCMessage *rep;
        xd_code rc = call("Health", &req.base, &xd__health_reply__descriptor, a, &rep, &err);
        xd_arena_free(a);
        if (rc == XD_OK)
            return 0;
        usleep(100 * 1000);
    }
    return -1;
}

static void stop(pid_t *pid)
{
    if (*pid > 0) {
        kill(*pid, SIGTERM);
        waitpid(*pid, NULL, 0);
        *pid = -1;
    }
}

static int teardown(void **state)
{
    (void)state;
    xd_client_close(client);
    stop(&daemon_pid);
    stop(&dns_pid);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static Xd__AddressCheck *validate(xd_arena *a, const char *address)
{
    Xd__ValidateAddressRequest req = XD__VALIDATE_ADDRESS_REQUEST__INIT;
    req.address = (char *)address;
    req.category = "marketing";
    req.check_dns = 1;
    Xd__ValidateAddressReply *rep;
    xd_err err;
    assert_int_equal(
        call("ValidateAddress", &req.base, &xd__validate_address_reply__descriptor, a, &rep, &err),
        XD_OK);
    return rep->check;
}

#define AV(x) XD__ADDRESS_VERDICT__ADDRESS_VERDICT_##x
#define DS(x) XD__DOMAIN_STATUS__DOMAIN_STATUS_##x

static void test_domain_answers(void **state)
{
    (void)state;
    xd_arena *a = xd_arena_new();
    Xd__AddressCheck *c = validate(a, "ann@good.test");
    assert_int_equal(c->verdict, AV(VALID));
    assert_int_equal(c->domain_status, DS(MX));
    assert_int_equal(c->n_mx_hosts, 2);
    assert_string_equal(c->mx_hosts[0], "mx1.good.test"); /* by preference */
    c = validate(a, "bob@afallback.test");
    assert_int_equal(c->verdict, AV(VALID));
    assert_int_equal(c->domain_status, DS(A_FALLBACK));
    c = validate(a, "carol@nullmx.test");
    assert_int_equal(c->verdict, AV(NO_MAIL_DOMAIN));
    assert_int_equal(c->domain_status, DS(NULL_MX));
    c = validate(a, "dan@nx.test");
    assert_int_equal(c->verdict, AV(NO_MAIL_DOMAIN));
    assert_int_equal(c->domain_status, DS(NXDOMAIN));
    c = validate(a, "eve@noaddr.test");
    assert_int_equal(c->verdict, AV(NO_MAIL_DOMAIN));
    assert_int_equal(c->domain_status, DS(NO_ADDRESS));
    /* The DNS server goes away: the cached domain still answers, a new one
     * says DNS is unavailable (not "invalid"). */
    stop(&dns_pid);
    c = validate(a, "frank@good.test");
    assert_int_equal(c->verdict, AV(VALID));
    c = validate(a, "gina@other.test");
    assert_int_equal(c->verdict, AV(DNS_UNAVAILABLE));
    assert_int_equal(c->domain_status, DS(TEMP_FAILURE));
    xd_arena_free(a);
}

static void test_check_recipients_batch(void **state)
{
    (void)state;
    xd_arena *a = xd_arena_new();
    xd_err err;
    Xd__AddSuppressionRequest sup = XD__ADD_SUPPRESSION_REQUEST__INIT;
    sup.address = "out@good.test";
    sup.reason = XD__SUPPRESSION_REASON__SUPPRESSION_REASON_UNSUBSCRIBED;
    Xd__AddSuppressionReply *sr;
    assert_int_equal(
        call("AddSuppression", &sup.base, &xd__add_suppression_reply__descriptor, a, &sr, &err),
        XD_OK);
    assert_true(sr->created);
    char *addrs[] = {"ok@good.test", "out@good.test", "broken@@good.test", "x@nx.test",
                     "info@good.test"};
    Xd__CheckRecipientsRequest req = XD__CHECK_RECIPIENTS_REQUEST__INIT;
    req.addresses = addrs;
    req.n_addresses = 5;
    req.category = "marketing";
    req.check_dns = 1;
    Xd__CheckRecipientsReply *rep;
    assert_int_equal(
        call("CheckRecipients", &req.base, &xd__check_recipients_reply__descriptor, a, &rep, &err),
        XD_OK);
    assert_int_equal(rep->n_checks, 5);
    assert_int_equal(rep->checks[0]->verdict, AV(VALID));
    assert_int_equal(rep->checks[1]->verdict, AV(SUPPRESSED));
    assert_non_null(rep->checks[1]->suppression);
    assert_int_equal(rep->checks[2]->verdict, AV(INVALID_SYNTAX));
    assert_true(strlen(rep->checks[2]->syntax_diagnosis) > 0);
    assert_int_equal(rep->checks[3]->verdict, AV(NO_MAIL_DOMAIN));
    assert_int_equal(rep->checks[4]->verdict, AV(RISKY));
    assert_true(rep->checks[4]->role_account);
    /* Transactional mail is not blocked by the unsubscribe. */
    req.category = "transactional";
    assert_int_equal(
        call("CheckRecipients", &req.base, &xd__check_recipients_reply__descriptor, a, &rep, &err),
        XD_OK);
    assert_int_equal(rep->checks[1]->verdict, AV(VALID));
    /* Diagnose uses the same check for a recipient never sent to. */
    Xd__DiagnoseRequest dq = XD__DIAGNOSE_REQUEST__INIT;
    dq.recipient = "x@nx.test";
    Xd__DiagnoseReply *dr;
    assert_int_equal(call("Diagnose", &dq.base, &xd__diagnose_reply__descriptor, a, &dr, &err),
                     XD_OK);
    assert_int_equal(dr->verdict, XD__DIAGNOSE_VERDICT__DIAGNOSE_VERDICT_INVALID_ADDRESS);
    req.n_addresses = 0;
    assert_int_equal(
        call("CheckRecipients", &req.base, &xd__check_recipients_reply__descriptor, a, &rep, &err),
        XD_INVALID_ARGUMENT);
    xd_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_domain_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_recipients_batch, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
