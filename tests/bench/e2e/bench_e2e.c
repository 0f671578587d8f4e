/*
 * bench_e2e.c: the whole suite under concurrent module clients. The five
 * services run as processes (a Release build), the sender delivers direct to
 * MX (dnsmasq) at a loopback smtp-sink. For each case (N concurrent module
 * clients for a bounded time, one recipient per SendEmail) it prints
 *   BENCH e2e <case> rps=.. p50_ms=.. p99_ms=.. errors=.. lost=.. rss_mb=..
 * (rps = answered SendEmail calls per second; errors = failed calls, by status
 * on the next line; lost = accepted recipients not final after the drain or
 * missing at the sink; rss_mb = the largest service RSS after the case) and
 * the RSS of each process before and after. Not a ctest test: run it with
 * ./tests/bench/run e2e (XD_BENCH_SECONDS per case, default 10).
 * Usage: bench_e2e <clients>... (e.g. 16 64)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "xd/status.h"
#include "xt_load.h"
#include "xt_peers.h"
#include "xt_suite.h"
#include "xt_util.h"

static xt_suite s;
static xt_dns dns;
static xt_sink sink;
static char peers[256];

static void rss(double *mb)
{
    for (int i = 0; i < XT_N_SERVICES; i++)
        mb[i] = (double)xt_proc_rss_kb(s.proc[i].pid) / 1024.0;
}

static void cpu(long *ms)
{
    for (int i = 0; i < XT_N_SERVICES; i++)
        ms[i] = xt_proc_cpu_ms(s.proc[i].pid);
}

static int start(void)
{
    if (xt_tmpdir(peers, sizeof peers, "bench-e2e-peers") != 0)
        return -1;
    chmod(peers, 0711);
    const char *records[] = {"mx-host=bench.test,mx.bench.test,10",
                             "host-record=mx.bench.test,127.0.0.1", NULL};
    char dir[400];
    snprintf(dir, sizeof dir, "%s/mx", peers);
    if (xt_dns_start(&dns, peers, records) != 0 || xt_sink_start(&sink, dir, NULL, 0, NULL) != 0)
        return -1;
    static char env_dns[96], env_port[96];
    snprintf(env_dns, sizeof env_dns, "XD_SENDER_DNS_SERVERS=127.0.0.1:%d", dns.port);
    snprintf(env_port, sizeof env_port, "XD_SENDER_DIRECT_PORT=%d", sink.port);
    static const char *sender_env[] = {"XD_SENDER_DELIVERY_ROUTE=direct_mx",
                                       "XD_SENDER_DELIVERY_IDLE_POLL=100ms",
                                       "XD_SENDER_LOG_LEVEL=warn",
                                       env_dns,
                                       env_port,
                                       NULL};
    static const char *rl[] = {"XD_RATELIMIT_LOG_LEVEL=warn", NULL};
    static const char *vf[] = {"XD_VERIFY_LOG_LEVEL=warn", NULL};
    static const char *tk[] = {"XD_TICKET_LOG_LEVEL=warn", NULL};
    static const char *gw[] = {"XD_GATEWAY_LOG_LEVEL=warn", NULL};
    s.env[XT_SENDER] = sender_env;
    s.env[XT_RATELIMIT] = rl;
    s.env[XT_VERIFY] = vf;
    s.env[XT_TICKET] = tk;
    s.env[XT_GATEWAY] = gw;
    return xt_suite_start(&s, "bench-e2e") == 0 && xt_set_open_policy(&s) == 0 ? 0 : -1;
}

static int run_case(int clients, int seconds)
{
    char name[32], org[64];
    snprintf(name, sizeof name, "Bench %d", clients);
    if (xt_create_org(&s, name, org, sizeof org) != 0)
        return -1;
    char *module = xt_create_key(&s, org, "ROLE_MODULE");
    char *support = xt_create_key(&s, org, "ROLE_SUPPORT");
    if (!module || !support)
        return -1;
    double before[XT_N_SERVICES], after[XT_N_SERVICES];
    rss(before);
    long cpu_before[XT_N_SERVICES], cpu_after[XT_N_SERVICES];
    cpu(cpu_before);
    int sink_before = xt_sink_messages(&sink);
    char tag[32];
    snprintf(tag, sizeof tag, "c%d", clients);
    xt_load_options o = {.suite = &s,
                         .key = module,
                         .domain = "bench.test",
                         .tag = tag,
                         .threads = clients,
                         .recipients = 1,
                         .call_timeout_ms = 30000};
    xt_load *l = NULL;
    if (xt_load_start(&l, &o) != 0)
        return -1;
    xt_sleep_ms((int64_t)seconds * 1000);
    xt_load_stop(l);
    xt_load_stats st;
    xt_load_get_stats(l, &st);
    int64_t t0 = xt_now_ms();
    xt_load_final f;
    xt_load_wait_final(l, support, 300000, &f);
    double drain_s = (double)(xt_now_ms() - t0) / 1000.0;
    xt_sink_tally k;
    const char *dirs[] = {sink.dir, NULL};
    xt_load_tally(l, dirs, NULL, 0, 0, &k);
    rss(after);
    cpu(cpu_after);
    long errors = 0;
    for (int i = 1; i < XT_CODES; i++)
        errors += st.errors[i];
    double max_rss = 0;
    for (int i = 0; i < XT_N_SERVICES; i++)
        max_rss = after[i] > max_rss ? after[i] : max_rss;
    char cname[32];
    snprintf(cname, sizeof cname, "clients%d", clients);
    printf("BENCH e2e %s rps=%.0f p50_ms=%.2f p99_ms=%.2f errors=%ld lost=%ld rss_mb=%.1f "
           "accepted=%ld delivered=%ld drain_s=%.1f sink_msgs=%d duplicates=%ld\n",
           cname, (double)st.sends_ok / st.elapsed_s, st.p50_ms, st.p99_ms, errors,
           f.lost + k.missing, max_rss, f.accepted, f.delivered, drain_s,
           xt_sink_messages(&sink) - sink_before, k.duplicates);
    printf("BENCH e2e %s_errors", cname);
    for (int i = 1; i < XT_CODES; i++)
        if (st.errors[i])
            printf(" %s=%ld", xd_code_name(i), st.errors[i]);
    printf(" total=%ld\nBENCH e2e %s_rss_mb", errors, cname);
    for (int i = 0; i < XT_N_SERVICES; i++)
        printf(" %s=%.1f->%.1f", xt_service_names[i], before[i], after[i]);
    /* Where the CPU went: each process's CPU time over the case (load and
     * drain), per accepted send. */
    printf("\nBENCH e2e %s_cpu_ms_per_send", cname);
    for (int i = 0; i < XT_N_SERVICES; i++)
        printf(" %s=%.3f", xt_service_names[i],
               st.sends_ok ? (double)(cpu_after[i] - cpu_before[i]) / (double)st.sends_ok : 0.0);
    printf("\n");
    fflush(stdout);
    xt_load_free(l);
    free(module);
    free(support);
    return 0;
}

int main(int argc, char **argv)
{
    int seconds = getenv("XD_BENCH_SECONDS") ? atoi(getenv("XD_BENCH_SECONDS")) : 10;
    int rc = start();
    if (rc != 0)
        fprintf(stderr, "bench_e2e: the suite did not start\n");
    for (int i = 1; rc == 0 && i < argc; i++)
        rc = run_case(atoi(argv[i]), seconds > 0 ? seconds : 10);
    int unclean = xt_suite_stop(&s);
    xt_sink_stop(&sink);
    xt_dns_stop(&dns);
    xt_rmrf(peers);
    return rc != 0 || unclean ? 1 : 0;
}
