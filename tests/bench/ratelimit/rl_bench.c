/*
 * rl_bench.c: measurements for tests/bench/ratelimit/run.
 *
 *   rl_bench inproc <ops>                      decisions/s, one thread, 3 rules
 *   rl_bench nng <url> <threads> <seconds>     Consume over NNG: calls/s, p50/p99 us
 *   rl_bench redis <port> <threads> <seconds>  EVALSHA of a Lua GCRA script: same
 *   rl_bench keys <dir> <n> [dedup_max] [crash] RSS with n active keys; restore time
 *                                              after a clean stop (snapshot), or with
 *                                              `crash` after SIGKILL of the filling
 *                                              process (journal rows, charged headroom)
 *
 * Prints one `name=value` line per figure; the run script compares them.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ratelimit.pb-c.h"
#include "rl_engine.h"
#include "rl_store.h"
#include "xd/arena.h"
#include "xd/clock.h"
#include "xd/rpc_client.h"
#include "xd/util.h"

static const char POLICY3[] =
    "{\"rules\": ["
    " {\"name\": \"org-hour\", \"kind\": \"window\", \"scope\": [\"org\"], \"limit\": 1000000000,"
    "  \"window_ms\": 3600000},"
    " {\"name\": \"org-day\", \"kind\": \"window\", \"scope\": [\"org\"], \"limit\": 1000000000,"
    "  \"window_ms\": 86400000},"
    " {\"name\": \"ip-pace\", \"kind\": \"gcra\", \"scope\": [\"ip\"], \"limit\": 1000000000,"
    "  \"period_ms\": 1000, \"burst\": 1000000}],"
    " \"tiers\": {\"warmup_permille\": [1000]}}";

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Decimal of v into out (faster than snprintf in the timed loop). */
static char *put_num(char *out, unsigned long v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *out++ = tmp[--n];
    *out = '\0';
    return out;
}

static int bench_inproc(long ops, int commit, uint32_t dedup_max)
{
    rl_policy *p;
    xd_err err;
    if (rl_policy_parse(POLICY3, &p, &err) != XD_OK)
        return fprintf(stderr, "%s\n", err.message), 1;
    rl_engine *e;
    rl_engine_options o = {.dedup_max = dedup_max};
    if (rl_engine_new(&o, p, POLICY3, 1, &e, &err) != XD_OK)
        return 1;
    char org[32], ip[32], rid[32];
    rl_decision *d = malloc(sizeof(*d));
    int64_t now = xd_clock_now_ms(xd_clock_system());
    /* warm the keys (10,000 orgs, 1,000 ips) */
    for (long i = 0; i < 10000; i++) {
        snprintf(org, sizeof(org), "org%ld", i);
        snprintf(ip, sizeof(ip), "10.0.%ld.%ld", (i / 250) % 4, i % 250);
        rl_subject s = {.org_id = org, .ip = ip};
        snprintf(rid, sizeof(rid), "w%ld", i);
        rl_engine_consume(e, rid, &s, 1, 0, 1, now, d, &err);
    }
    /* Subjects are prepared up front so the loop times the engine only. */
    enum { NORG = 10000, NIP = 1000 };
    char(*orgs)[16] = malloc(NORG * sizeof(*orgs));
    char(*ips)[16] = malloc(NIP * sizeof(*ips));
    for (int i = 0; i < NORG; i++)
        snprintf(orgs[i], sizeof(orgs[i]), "org%d", i);
    for (int i = 0; i < NIP; i++)
        snprintf(ips[i], sizeof(ips[i]), "10.0.%d.%d", (i / 250) % 4, i % 250);
    rid[0] = 'r';
    /* Steady state first: the request-id memory full (1,000,000 ids) and
     * recycling, as in a server that has run for a while. */
    for (long i = 0; commit && i < 1100000; i++) {
        rid[0] = 'w';
        put_num(rid + 1, (unsigned long)i);
        rl_subject s = {.org_id = orgs[i % NORG], .ip = ips[(i / 7) % NIP]};
        rl_engine_consume(e, rid, &s, 1, 0, 1, now, d, &err);
    }
    rid[0] = 'r';
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    int64_t t0 = xd_monotonic_ns();
    long granted = 0;
    for (long i = 0; i < ops; i++) {
        put_num(rid + 1, (unsigned long)i);
        rl_subject s = {.org_id = orgs[i % NORG], .ip = ips[(i / 7) % NIP]};
        if (rl_engine_consume(e, rid, &s, 1 + (uint32_t)(i & 3), 0, commit, now + i / 1000, d,
                              &err) == XD_OK &&
            d->granted)
            granted++;
        if (d->n_rules != 3)
            return fprintf(stderr, "expected 3 rules, got %d\n", d->n_rules), 1;
    }
    double secs = (double)(xd_monotonic_ns() - t0) / 1e9;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
    /* Wall time on a shared machine counts other tenants' time; CPU time is
     * what one core spent on our decisions. */
    const char *k = commit ? "consume" : "check";
    printf("inproc_%s_per_s=%.0f\ninproc_%s_per_cpu_s=%.0f\ninproc_%s_granted=%ld\n", k,
           (double)ops / secs, k, (double)ops / cpu, k, granted);
    free(orgs);
    free(ips);
    free(d);
    rl_engine_free(e);
    return 0;
}

/* ---- load generators ---- */

typedef struct load {
    const char *url;
    int port;
    int seconds;
    int id;
    long calls, errors;
    int64_t *lat_ns;
    long lat_n, lat_cap;
} load;

static void record(load *l, int64_t ns)
{
    if (l->lat_n < l->lat_cap)
        l->lat_ns[l->lat_n++] = ns;
}

static void *nng_worker(void *arg)
{
    load *l = arg;
    xd_client *c;
    xd_err err;
    xd_client_options co = {.default_timeout_ms = 5000};
    if (xd_client_open(l->url, "ratelimit", &co, &c, &err) != XD_OK)
        return NULL;
    xd_arena *a = xd_arena_new();
    char org[32], ip[32], rid[64];
    int64_t end = xd_monotonic_ms() + l->seconds * 1000LL;
    for (long i = 0; xd_monotonic_ms() < end; i++) {
        snprintf(org, sizeof(org), "org%ld", (i * 16 + l->id) % 10000);
        snprintf(ip, sizeof(ip), "10.1.%d.%ld", l->id, i % 200);
        snprintf(rid, sizeof(rid), "b%d-%ld-%lld", l->id, i, (long long)end);
        Xd__Subject s = XD__SUBJECT__INIT;
        s.org_id = org;
        s.ip = ip;
        Xd__ConsumeRequest req = XD__CONSUME_REQUEST__INIT;
        req.request_id = rid;
        req.subject = &s;
        req.recipients = 1;
        ProtobufCMessage *rep;
        xd_call_options opt = {.request_id = rid};
        int64_t t0 = xd_monotonic_ns();
        const char *method = getenv("RL_BENCH_METHOD") ? getenv("RL_BENCH_METHOD") : "Consume";
        xd_code rc = xd_client_call(c, &opt, method, &req.base, &xd__consume_reply__descriptor, a,
                                    &rep, &err);
        record(l, xd_monotonic_ns() - t0);
        if (rc == XD_OK && ((Xd__ConsumeReply *)rep)->granted == 1)
            l->calls++;
        else
            l->errors++;
        xd_arena_reset(a);
    }
    xd_arena_free(a);
    xd_client_close(c);
    return NULL;
}

/* A minimal RESP client: one blocking TCP connection per thread. */
static int resp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int resp_send(int fd, int argc, const char **argv)
{
    char buf[2048];
    int n = snprintf(buf, sizeof(buf), "*%d\r\n", argc);
    for (int i = 0; i < argc; i++)
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
    return write(fd, buf, (size_t)n) == n ? 0 : -1;
}

/* Reads one reply (simple, integer, bulk or a flat array of those); returns
 * the first integer seen (or 0), -1 on error replies. */
static long resp_read(int fd, char *buf, size_t cap, char *first_bulk, size_t fb_size)
{
    size_t len = 0;
    int need_lines = 1, lines = 0;
    long first_int = 0;
    int got_int = 0;
    if (first_bulk)
        first_bulk[0] = '\0';
    for (;;) {
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r <= 0)
            return -1;
        len += (size_t)r;
        buf[len] = '\0';
        /* parse from the start each time (replies are tiny) */
        char *p = buf;
        lines = 0;
        need_lines = 1;
        got_int = 0;
        int ok = 1;
        while (lines < need_lines) {
            char *eol = strstr(p, "\r\n");
            if (!eol) {
                ok = 0;
                break;
            }
            if (*p == '-')
                return -1;
            if (*p == '*') {
                need_lines += atoi(p + 1);
            } else if (*p == ':') {
                if (!got_int) {
                    first_int = atol(p + 1);
                    got_int = 1;
                }
            } else if (*p == '$') {
                long bl = atol(p + 1);
                if (bl >= 0) {
                    char *data = eol + 2;
                    if ((size_t)(data - buf) + (size_t)bl + 2 > len) {
                        ok = 0;
                        break;
                    }
                    if (first_bulk && !first_bulk[0] && (size_t)bl < fb_size) {
                        memcpy(first_bulk, data, (size_t)bl);
                        first_bulk[bl] = '\0';
                    }
                    eol = data + bl;
                }
            }
            p = eol + 2;
            lines++;
        }
        if (ok)
            return first_int;
    }
}

static char script_sha[64];

static const char GCRA_LUA[] =
    "local interval = tonumber(ARGV[1]) local burst = tonumber(ARGV[2]) "
    "local n = tonumber(ARGV[3]) local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2]) "
    "local tat = tonumber(redis.call('GET', KEYS[1]) or now) "
    "if tat < now then tat = now end "
    "local new_tat = tat + n * interval "
    "local allow_at = new_tat - burst * interval "
    "if allow_at > now then return {0, math.ceil((allow_at - now) / 1000)} end "
    "redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1) "
    "return {1, 0}";

static void *redis_worker(void *arg)
{
    load *l = arg;
    int fd = resp_connect(l->port);
    if (fd < 0)
        return NULL;
    char buf[4096], key[64];
    int64_t end = xd_monotonic_ms() + l->seconds * 1000LL;
    for (long i = 0; xd_monotonic_ms() < end; i++) {
        snprintf(key, sizeof(key), "gcra:10.1.%d.%ld", l->id, i % 200);
        const char *argv[] = {"EVALSHA", script_sha, "1", key, "1", "1000000000", "1"};
        int64_t t0 = xd_monotonic_ns();
        long r = resp_send(fd, 7, argv) == 0 ? resp_read(fd, buf, sizeof(buf), NULL, 0) : -1;
        record(l, xd_monotonic_ns() - t0);
        if (r == 1)
            l->calls++;
        else
            l->errors++;
    }
    close(fd);
    return NULL;
}

static int run_load(const char *kind, const char *url, int port, int threads, int seconds)
{
    if (port) {
        int fd = resp_connect(port);
        char buf[4096];
        const char *argv[] = {"SCRIPT", "LOAD", GCRA_LUA};
        if (fd < 0 || resp_send(fd, 3, argv) != 0 ||
            resp_read(fd, buf, sizeof(buf), script_sha, sizeof(script_sha)) < 0 || !script_sha[0])
            return fprintf(stderr, "cannot load the Lua script into redis\n"), 1;
        close(fd);
    }
    load *ls = calloc((size_t)threads, sizeof(*ls));
    pthread_t *th = calloc((size_t)threads, sizeof(*th));
    for (int i = 0; i < threads; i++) {
        ls[i] = (load){.url = url, .port = port, .seconds = seconds, .id = i};
        ls[i].lat_cap = 4000000;
        ls[i].lat_ns = malloc(sizeof(int64_t) * (size_t)ls[i].lat_cap);
        pthread_create(&th[i], NULL, port ? redis_worker : nng_worker, &ls[i]);
    }
    long calls = 0, errors = 0, n = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        calls += ls[i].calls;
        errors += ls[i].errors;
        n += ls[i].lat_n;
    }
    int64_t *all = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    long k = 0;
    for (int i = 0; i < threads; i++) {
        memcpy(all + k, ls[i].lat_ns, sizeof(int64_t) * (size_t)ls[i].lat_n);
        k += ls[i].lat_n;
        free(ls[i].lat_ns);
    }
    qsort(all, (size_t)n, sizeof(int64_t), cmp_i64);
    printf("%s_calls_per_s=%.0f\n%s_errors=%ld\n%s_p50_us=%.1f\n%s_p99_us=%.1f\n", kind,
           (double)calls / seconds, kind, errors, kind, n ? all[n / 2] / 1000.0 : 0, kind,
           n ? all[(long)(n * 0.99)] / 1000.0 : 0);
    free(all);
    free(ls);
    free(th);
    return errors > calls / 100 ? 1 : 0;
}

/* ---- memory and restore with n active keys ---- */

static const char POLICY_KEYS[] =
    "{\"rules\": [{\"name\": \"dom-hour\", \"kind\": \"window\", \"scope\": [\"domain\"],"
    " \"limit\": 1000000, \"window_ms\": 3600000}],"
    " \"tiers\": {\"warmup_permille\": [1000]}}";

static int bench_keys(const char *dir, long n, int dedup_max, int crash)
{
    char db[512];
    snprintf(db, sizeof(db), "%s/keys.db", dir);
    uint64_t rss0 = xd_rss_kib(0);
    rl_engine *e;
    rl_store *st;
    rl_restore_stats rs;
    xd_err err;
    rl_store_options o = {.db_path = db, .policy_file_json = POLICY_KEYS, .sync_normal = 0};
    o.engine.dedup_max = (uint32_t)dedup_max;
    pid_t child = 0;
    if (crash) {
        fflush(NULL);
        child = fork();
        if (child < 0)
            return perror("fork"), 1;
    }
    if (child > 0) { /* the restarting side: wait for the kill, then restore */
        int status = 0;
        waitpid(child, &status, 0);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
            return fprintf(stderr, "the filling process did not die by SIGKILL\n"), 1;
        if (getenv("RL_BENCH_FILL_ONLY")) /* leave the database for `restore` (profiling) */
            return 0;
        goto restore;
    }
    if (rl_store_open(&o, &e, &st, &rs, &err) != XD_OK)
        return fprintf(stderr, "%s\n", err.message), 1;
    char dom[64], rid[32];
    rl_decision *d = malloc(sizeof(*d));
    int64_t now = xd_clock_now_ms(xd_clock_system());
    uint64_t last = 0;
    int64_t t0 = xd_monotonic_ms();
    for (long i = 0; i < n; i++) {
        snprintf(dom, sizeof(dom), "d%ld.example", i);
        snprintf(rid, sizeof(rid), "k%ld", i);
        rl_subject s = {.domain = dom};
        /* crash: more than a cold key's allowance (16), so every key needs
         * a reservation and has a journal row to restore. */
        if (rl_engine_consume(e, rid, &s, crash ? 20 : 1, 0, 1, now, d, &err) != XD_OK)
            return fprintf(stderr, "%s\n", err.message), 1;
        last = d->seq;
        if ((i & 1023) == 1023) /* keep the journal from outrunning the writer */
            rl_engine_wait_durable(e, last, 60000);
    }
    rl_engine_wait_durable(e, last, 60000);
    int64_t fill_ms = xd_monotonic_ms() - t0;
    uint64_t keys, leases, dedup;
    rl_engine_counts(e, &keys, &leases, &dedup);
    uint64_t rss1 = xd_rss_kib(0);
    printf("keys_active=%llu\nkeys_dedup_records=%llu\nkeys_fill_ms=%lld\nkeys_rss_mib=%.1f\n"
           "keys_rss_delta_mib=%.1f\n",
           (unsigned long long)keys, (unsigned long long)dedup, (long long)fill_ms, rss1 / 1024.0,
           (rss1 - rss0) / 1024.0);
    free(d);
    if (crash) {
        /* Everything journaled and folded (as the background compactor
         * gets to), then an unclean stop. */
        if (rl_store_compact(st) < 0)
            return fprintf(stderr, "compaction failed\n"), 1;
        fflush(NULL);
        raise(SIGKILL);
    }
    rl_store_close(st);
    rl_engine_free(e);
    fflush(stdout);
restore:
    /* Restore in a fresh process image would be cleaner; the figure here is
     * the store's own open+restore time, which is what a restart costs. */
    if (rl_store_open(&o, &e, &st, &rs, &err) != XD_OK)
        return fprintf(stderr, "%s\n", err.message), 1;
    rl_engine_counts(e, &keys, &leases, &dedup);
    printf("restore_ms=%lld\nrestore_items=%llu\nrestore_keys=%llu\n", (long long)rs.elapsed_ms,
           (unsigned long long)rs.items, (unsigned long long)keys);
    rl_store_close(st);
    rl_engine_free(e);
    return keys == (uint64_t)n ? 0 : 1;
}

/* Opens an existing keys database and reports the restore (profiling). */
static int bench_restore(const char *dir, uint32_t dedup_max)
{
    char db[512];
    snprintf(db, sizeof(db), "%s/keys.db", dir);
    rl_engine *e;
    rl_store *st;
    rl_restore_stats rs;
    xd_err err;
    rl_store_options o = {.db_path = db, .policy_file_json = POLICY_KEYS};
    o.engine.dedup_max = dedup_max;
    if (rl_store_open(&o, &e, &st, &rs, &err) != XD_OK)
        return fprintf(stderr, "%s\n", err.message), 1;
    uint64_t keys, leases, dedup;
    rl_engine_counts(e, &keys, &leases, &dedup);
    printf("restore_ms=%lld\nrestore_items=%llu\nrestore_keys=%llu\n", (long long)rs.elapsed_ms,
           (unsigned long long)rs.items, (unsigned long long)keys);
    rl_store_close(st);
    rl_engine_free(e);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "restore") == 0)
        return bench_restore(argv[2], argc >= 4 ? (uint32_t)atol(argv[3]) : 0);
    if (argc >= 3 && strcmp(argv[1], "inproc") == 0)
        return bench_inproc(atol(argv[2]), argc >= 4 ? atoi(argv[3]) : 1,
                            argc >= 5 ? (uint32_t)atol(argv[4]) : 1000000);
    if (argc >= 5 && strcmp(argv[1], "nng") == 0)
        return run_load("nng", argv[2], 0, atoi(argv[3]), atoi(argv[4]));
    if (argc >= 5 && strcmp(argv[1], "redis") == 0)
        return run_load("redis", NULL, atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
    if (argc >= 4 && strcmp(argv[1], "keys") == 0)
        return bench_keys(argv[2], atol(argv[3]), argc >= 5 ? atoi(argv[4]) : 1000000,
                          argc >= 6 && strcmp(argv[5], "crash") == 0);
    fprintf(stderr, "usage: rl_bench inproc OPS | nng URL THREADS SECS | redis PORT THREADS SECS"
                    " | keys DIR N [DEDUP_MAX]\n");
    return 2;
}
