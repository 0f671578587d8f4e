/*
 * test_crash.c: kill -9 the sender at random moments while 5,000
 * recipients flow (500 messages x 10 per-recipient copies, 10 rounds), to
 * smtp-sink through the capture route. Submits carry idempotency keys and
 * are repeated until acknowledged, as a module would. After each kill the
 * recipients left SENDING (handed to SMTP, outcome not committed) are
 * read from the database, and for each the copies the sink already holds:
 * a copy there while its recipient is still SENDING was accepted by the
 * server (DATA done) but not yet committed by us. At the end: every
 * recipient is DELIVERED in the queue (none lost), every copy reached the
 * sink, and the duplicates at the sink are exactly those accepted-but-not-
 * committed copies: for each recipient, its extra copies equal the most
 * copies it had at the sink while SENDING at a kill. Prints the counts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dtest.h"

#define N_MSGS   500
#define N_RCPT   10
#define N_ROUNDS 10

static struct {
    char dir[512];
    dt_sink sink;
    dt_sender s;
    char port_env[64];
    /* recipients seen SENDING at some kill, with the most copies the sink
     * held for each at such a moment */
    struct inflight {
        char rid[64];
        size_t max_at_sink;
    } * inflight;
    size_t n_inflight, cap_inflight;
} g;

static int setup(void **state)
{
    (void)state;
    tu_tmpdir(g.dir, sizeof g.dir, "xd-dcrash");
    if (dt_sink_start(&g.sink, NULL, 0) != 0)
        return -1;
    snprintf(g.port_env, sizeof g.port_env, "XD_SENDER_CAPTURE_PORT=%u", (unsigned)g.sink.port);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dt_sender_stop(&g.s, SIGKILL);
    dt_sink_stop(&g.sink);
    xd_client_close(g.s.client);
    xd_arena_free(g.s.arena);
    free(g.inflight);
    if (!getenv("XD_KEEP"))
        tu_rmrf(g.dir);
    return 0;
}

static const char *ENV[] = {"XD_SENDER_DELIVERY_WORKERS=4", "XD_SENDER_LOG_LEVEL=warn",
                            "XD_SENDER_RETRY_MAX_AGE=1h", NULL};

static int start(void)
{
    const char *env[5] = {g.port_env, ENV[0], ENV[1], ENV[2], NULL};
    return dt_sender_start(&g.s, g.dir, env);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sink's Message-IDs ("<" stripped, up to ">"), sorted; *dump_out
 * holds the text they point into. */
static char **sink_ids(size_t *n, char **dump_out)
{
    size_t len = 0;
    char *dump = tu_read_file(g.sink.dump, &len);
    size_t cap = dt_count(dump, "Message-ID: <");
    char **ids = calloc(cap + 1, sizeof *ids);
    size_t k = 0;
    for (char *p = dump; p && (p = strstr(p, "Message-ID: <")) != NULL && k < cap;) {
        p += strlen("Message-ID: <");
        char *end = strchr(p, '>');
        if (!end)
            break;
        *end = '\0';
        ids[k++] = p;
        p = end + 1;
    }
    qsort(ids, k, sizeof *ids, cmp_str);
    *n = k;
    *dump_out = dump;
    return ids;
}

/* Copies of recipient rid ("<message>-<n>") among the sorted ids. */
static size_t copies_of(char **ids, size_t n, const char *rid)
{
    char want[160];
    const char *dash = strrchr(rid, '-');
    snprintf(want, sizeof want, "%.*s.%s@", (int)(dash - rid), rid, rid);
    size_t c = 0;
    for (size_t i = 0; i < n; i++) /* ids sorted: a short scan is enough */
        if (strncmp(ids[i], want, strlen(want)) == 0)
            c++;
    return c;
}

static struct inflight *find_inflight(const char *rid)
{
    for (size_t i = 0; i < g.n_inflight; i++)
        if (strcmp(g.inflight[i].rid, rid) == 0)
            return &g.inflight[i];
    return NULL;
}

/* Records the recipients left SENDING by a kill; returns how many, and in
 * *accepted how many of them the sink already holds. */
static size_t note_inflight(size_t *accepted)
{
    *accepted = 0;
    size_t n_ids = 0;
    char *dump = NULL;
    char **ids = sink_ids(&n_ids, &dump);
    char path[700];
    snprintf(path, sizeof path, "%s/sender.db", g.dir);
    sqlite3 *db = NULL;
    size_t n = 0;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return 0;
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(db, "SELECT recipient_id FROM recipients WHERE state = 10", -1, &st, NULL);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        const char *rid = (const char *)sqlite3_column_text(st, 0);
        struct inflight *f = find_inflight(rid);
        if (!f) {
            if (g.n_inflight == g.cap_inflight) {
                g.cap_inflight = g.cap_inflight ? g.cap_inflight * 2 : 256;
                g.inflight = realloc(g.inflight, g.cap_inflight * sizeof *g.inflight);
            }
            f = &g.inflight[g.n_inflight++];
            snprintf(f->rid, sizeof f->rid, "%s", rid);
            f->max_at_sink = 0;
        }
        size_t c = copies_of(ids, n_ids, rid);
        if (c > 0)
            ++*accepted;
        if (c > f->max_at_sink)
            f->max_at_sink = c;
        n++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(ids);
    free(dump);
    return n;
}

static void test_crash_rounds(void **state)
{
    (void)state;
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    int acked = 0; /* messages [0, acked) are acknowledged */
    for (int round = 0; round < N_ROUNDS; round++) {
        assert_int_equal(start(), 0);
        pid_t sender = g.s.pid;
        int delay_ms = 300 + rand() % 2500;
        pid_t killer = fork();
        if (killer == 0) {
            usleep((useconds_t)delay_ms * 1000);
            kill(sender, SIGKILL);
            _exit(0);
        }
        /* Submit until the kill cuts us off. */
        while (acked < N_MSGS) {
            char key[32];
            snprintf(key, sizeof key, "crash-%d", acked);
            dt_msg m = {.org = "org-crash",
                        .key = key,
                        .n_to = N_RCPT,
                        .domain = "crash.test",
                        .prefix = key};
            Xd__SubmitReply *r;
            if (dt_submit(&g.s, &m, &r) != XD_OK)
                break;
            assert_int_equal(r->n_recipients, N_RCPT);
            acked++;
            if (acked % 50 == 0)
                xd_arena_reset(g.s.arena);
        }
        waitpid(killer, NULL, 0);
        int st;
        waitpid(sender, &st, 0);
        g.s.pid = 0;
        assert_true(WIFSIGNALED(st));
        size_t accepted = 0;
        size_t n = note_inflight(&accepted);
        printf("CRASH round %d: killed after %d ms, %d messages acknowledged, %zu recipients "
               "claimed (SENDING), %zu of them already accepted by the sink\n",
               round + 1, delay_ms, acked, n, accepted);
    }
    /* Last start: finish submitting, then everything must end. */
    assert_int_equal(start(), 0);
    while (acked < N_MSGS) {
        char key[32];
        snprintf(key, sizeof key, "crash-%d", acked);
        dt_msg m = {
            .org = "org-crash", .key = key, .n_to = N_RCPT, .domain = "crash.test", .prefix = key};
        Xd__SubmitReply *r;
        assert_int_equal(dt_submit(&g.s, &m, &r), XD_OK);
        acked++;
        if (acked % 50 == 0)
            xd_arena_reset(g.s.arena);
    }
    char path[700];
    snprintf(path, sizeof path, "%s/sender.db", g.dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    int64_t deadline = tu_now_ms() + 240000, total = 0, delivered = 0;
    while (tu_now_ms() < deadline) {
        sqlite3_stmt *st = NULL;
        sqlite3_prepare_v2(db, "SELECT count(*), sum(state = 3) FROM recipients", -1, &st, NULL);
        if (st && sqlite3_step(st) == SQLITE_ROW) {
            total = sqlite3_column_int64(st, 0);
            delivered = sqlite3_column_int64(st, 1);
        }
        sqlite3_finalize(st);
        if (total == N_MSGS * N_RCPT && delivered == total)
            break;
        usleep(200000);
    }
    sqlite3_close(db);
    printf("CRASH final: %lld recipients stored, %lld delivered\n", (long long)total,
           (long long)delivered);
    assert_int_equal(total, N_MSGS * N_RCPT);
    assert_int_equal(delivered, total);
    /* Let the sink finish writing, then count copies per Message-ID. */
    usleep(500000);
    size_t k = 0;
    char *dump = NULL;
    char **ids = sink_ids(&k, &dump);
    size_t distinct = 0, dups = 0, unexplained = 0, expected = 0;
    for (size_t i = 0; i < k; i++) {
        if (i > 0 && strcmp(ids[i], ids[i - 1]) == 0) {
            dups++;
            continue;
        }
        distinct++;
    }
    /* Each recipient's extra copies equal the copies it had at the sink
     * while SENDING at a kill (accepted, not committed). */
    for (size_t i = 0; i < k;) {
        size_t j = i + 1;
        while (j < k && strcmp(ids[j], ids[i]) == 0)
            j++;
        char rid[64];
        const char *dot = strchr(ids[i], '.');
        const char *at = strchr(ids[i], '@');
        snprintf(rid, sizeof rid, "%.*s", (int)(at - dot - 1), dot + 1);
        struct inflight *f = find_inflight(rid);
        size_t want = f ? f->max_at_sink : 0;
        expected += want;
        if (j - i - 1 != want)
            unexplained++;
        i = j;
    }
    printf("CRASH sink: %zu copies, %zu distinct, %zu duplicates; %zu copies were accepted by "
           "the sink but not committed at a kill; %zu recipients whose duplicates differ from "
           "that\n",
           k, distinct, dups, expected, unexplained);
    assert_int_equal(distinct, N_MSGS * N_RCPT);
    assert_int_equal(dups, expected);
    assert_int_equal(unexplained, 0);
    free(ids);
    free(dump);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_crash_rounds)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
