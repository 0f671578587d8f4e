/*
 * bench_verify.c: verify at scale. Fills a message log of N recipient rows
 * (one transaction of prepared inserts), rebuilds the counters, then times
 * the point queries (p50/p99 over random keys) and the reports, and compares
 * RecordEvents throughput with raw SQLite batched inserts in the same run.
 * Usage: bench_verify DIR ROWS. Prints `BENCH verify <case> ...` lines.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "vf_analysis.h"
#include "vf_store.h"
#include "xd/clock.h"
#include "xd/db.h"

#define DAY_MS   86400000LL
#define N_ORGS   10
#define N_DOMAIN 2000
#define N_CLIENT 5000
#define SAMPLES  2000

static const char *const modules[] = {"registration",     "bulk-email", "password-reset",
                                      "course-catalogue", "invoices",   "reminders"};
static int64_t start_ms; /* first day of the year of data */

static uint64_t rng = 88172645463325252ULL;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Org 0 holds half of all rows: the hardest case for per-org queries. */
static int pick_org(void)
{
    return (next_rand() % 2) ? 0 : 1 + (int)(next_rand() % (N_ORGS - 1));
}

static void domain_name(unsigned d, char *out, size_t size)
{
    static const char *const big[] = {"gmail.com", "outlook.com", "yahoo.com", "hotmail.com",
                                      "icloud.com"};
    if (d < 5)
        snprintf(out, size, "%s", big[d]);
    else
        snprintf(out, size, "school%u.example", d);
}

/* Skewed: a fifth of all mail to the big five providers. */
static unsigned pick_domain(void)
{
    return (next_rand() % 5 == 0) ? (unsigned)(next_rand() % 5)
                                  : 5 + (unsigned)(next_rand() % (N_DOMAIN - 5));
}

static double now_s(void)
{
    return (double)xd_monotonic_ns() / 1e9;
}

static void die(sqlite3 *db, const char *what)
{
    fprintf(stderr, "bench_verify: %s: %s\n", what, db ? sqlite3_errmsg(db) : "");
    exit(1);
}

static void exec(sqlite3 *db, const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        die(db, sql);
}

static void fill(const char *path, long rows)
{
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        die(db, "open");
    /* Loading is not what is measured: no journal while filling, WAL after. */
    exec(db, "PRAGMA journal_mode=DELETE; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
             "PRAGMA cache_size=-2000000; PRAGMA temp_store=MEMORY");
    /* Secondary indexes are built after the load (a sort, not 10M random
     * inserts); the same CREATE statements as the schema. */
    exec(db, "DROP INDEX recipients_by_rcpt; DROP INDEX recipients_by_client;"
             " DROP INDEX recipients_by_created");
    sqlite3_stmt *ins, *note;
    if (sqlite3_prepare_v2(
            db,
            "INSERT INTO recipients(org_id, message_id, recipient, domain, client_id, module,"
            " category, message_id_header, subject, from_addr, state, state_time_ms, created_ms,"
            " queued_ms, deferred_ms, delivered_ms, bounced_ms, complained_ms, suppressed_ms,"
            " reply_code, reply_enhanced, reply_text, remote_host, tls_version, failure_category,"
            " events) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,"
            "?20,?21,?22,?23,?24,?25,?26)",
            -1, &ins, NULL) != SQLITE_OK)
        die(db, "prepare insert");
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO case_notes VALUES(?1,?2,?3,?4,250,'2.0.0','OK','TLSv1.3')",
                           -1, &note, NULL) != SQLITE_OK)
        die(db, "prepare note");
    double t0 = now_s();
    exec(db, "BEGIN");
    long made = 0, msg = 0;
    char org[16], mid[32], rcpt[96], dom[64], client[24], hdr[64];
    while (made < rows) {
        int o = pick_org();
        snprintf(org, sizeof org, "org-%d", o);
        snprintf(mid, sizeof mid, "m%010ld", msg);
        snprintf(hdr, sizeof hdr, "<m%010ld@xd.example>", msg);
        snprintf(client, sizeof client, "client-%u", (unsigned)(next_rand() % N_CLIENT));
        const char *module = modules[next_rand() % 6];
        /* Time grows with the message number: a year of traffic. */
        int64_t created = start_ms + (int64_t)((double)made / (double)rows * 365.0 * DAY_MS);
        int n_rcpt = 1 + (int)(next_rand() % 4);
        for (int r = 0; r < n_rcpt && made < rows; r++, made++) {
            unsigned d = pick_domain();
            domain_name(d, dom, sizeof dom);
            snprintf(rcpt, sizeof rcpt, "user%u@%s", (unsigned)(next_rand() % 200000), dom);
            unsigned roll = (unsigned)(next_rand() % 1000);
            int state = 3, code = 250, cat = 0;
            const char *enh = "2.0.0", *text = "OK";
            if (d >= 5 && d < 15 && roll < 300) {
                /* Ten corporate domains reject 30% by policy: a cluster to flag. */
                state = 4, code = 550, enh = "5.7.1", text = "Rejected by policy", cat = 5;
            } else if (roll < 30) {
                state = 4, code = 550, enh = "5.1.1", text = "User unknown", cat = 1;
            } else if (roll < 40) {
                state = 6, code = 0, enh = "", text = "";
            } else if (roll < 45) {
                state = 2, code = 451, enh = "4.7.1", text = "Try again later";
            } else if (roll < 46) {
                state = 7;
            }
            int64_t t = created + 1000 + (int64_t)(next_rand() % 60000);
            sqlite3_reset(ins);
            sqlite3_bind_text(ins, 1, org, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 2, mid, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 3, rcpt, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 4, dom, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 5, client, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 6, module, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 7, "marketing", -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 8, hdr, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 9, "Your course starts on Monday", -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 10, "office@org.example", -1, SQLITE_STATIC);
            sqlite3_bind_int(ins, 11, state);
            sqlite3_bind_int64(ins, 12, t);
            sqlite3_bind_int64(ins, 13, created);
            sqlite3_bind_int64(ins, 14, created);
            sqlite3_bind_int64(ins, 15, state == 2 ? t : 0);
            sqlite3_bind_int64(ins, 16, (state == 3 || state == 7) ? t : 0);
            sqlite3_bind_int64(ins, 17, state == 4 ? t : 0);
            sqlite3_bind_int64(ins, 18, state == 7 ? t + 1000 : 0);
            sqlite3_bind_int64(ins, 19, state == 6 ? created : 0);
            sqlite3_bind_int(ins, 20, code);
            sqlite3_bind_text(ins, 21, enh, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 22, text, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 23, code ? "mx.example.net" : "", -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 24, code ? "TLSv1.3" : "", -1, SQLITE_STATIC);
            sqlite3_bind_int(ins, 25, cat);
            sqlite3_bind_int(ins, 26, 2);
            if (sqlite3_step(ins) != SQLITE_DONE)
                die(db, "insert");
            if (state == 3 || state == 7) {
                sqlite3_reset(note);
                sqlite3_bind_int64(note, 1, sqlite3_last_insert_rowid(db));
                sqlite3_bind_text(note, 2, org, -1, SQLITE_STATIC);
                sqlite3_bind_int64(note, 3, t);
                sqlite3_bind_text(note, 4, "mx.example.net", -1, SQLITE_STATIC);
                if (sqlite3_step(note) != SQLITE_DONE)
                    die(db, "note");
            }
        }
        msg++;
    }
    exec(db, "COMMIT");
    double t1 = now_s();
    exec(db, "CREATE INDEX recipients_by_rcpt ON recipients(org_id, recipient, created_ms);"
             "CREATE INDEX recipients_by_client ON recipients(org_id, client_id, created_ms);"
             "CREATE INDEX recipients_by_created ON recipients(created_ms);");
    double t2 = now_s();
    sqlite3_finalize(ins);
    sqlite3_finalize(note);
    exec(db, "PRAGMA journal_mode=WAL");
    sqlite3_close(db);
    printf("BENCH verify fill rows=%ld insert_s=%.1f index_s=%.1f rows_per_s=%.0f\n", rows, t1 - t0,
           t2 - t1, (double)rows / (t1 - t0));
    fflush(stdout);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report_latency(const char *name, double *ms, int n, long rows_seen)
{
    qsort(ms, (size_t)n, sizeof *ms, cmp_double);
    printf("BENCH verify %s samples=%d p50_ms=%.3f p99_ms=%.3f max_ms=%.3f rows_returned=%ld "
           "target_p99_ms=5 ratio=%.2f\n",
           name, n, ms[n / 2], ms[n * 99 / 100], ms[n - 1], rows_seen, ms[n * 99 / 100] / 5.0);
    fflush(stdout);
}

static long seen, counted;
static void on_counts(void *ud, const char *key, const vf_counts *c)
{
    (void)ud;
    (void)key;
    (void)c;
    counted++;
}

static void count_row(void *ud, const vf_record *r)
{
    (void)ud;
    (void)r;
    seen++;
}

/* Picks existing keys straight from the table (random row ids). */
static void sample_keys(const char *path, long rows, char keys[][3][72], int n)
{
    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db,
                       "SELECT org_id, message_id, recipient, client_id FROM recipients"
                       " WHERE id=?1",
                       -1, &st, NULL);
    for (int i = 0; i < n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, 1 + (int64_t)(next_rand() % (uint64_t)rows));
        if (sqlite3_step(st) != SQLITE_ROW) {
            i--;
            continue;
        }
        snprintf(keys[i][0], 72, "%s", sqlite3_column_text(st, 0));
        snprintf(keys[i][1], 72, "%s|%s", sqlite3_column_text(st, 1), sqlite3_column_text(st, 2));
        snprintf(keys[i][2], 72, "%s", sqlite3_column_text(st, 3));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void queries(const char *path, long rows)
{
    xd_clock *clock = xd_clock_manual_new(start_ms + 366 * DAY_MS);
    vf_store *store;
    xd_err err;
    vf_settings set;
    vf_settings_default(&set);
    if (vf_store_open(path, clock, &set, &store, &err) != XD_OK) {
        fprintf(stderr, "open: %s\n", err.message);
        exit(1);
    }
    double t0 = now_s();
    if (vf_store_rebuild_counters(store, &err) != XD_OK) {
        fprintf(stderr, "rebuild: %s\n", err.message);
        exit(1);
    }
    printf("BENCH verify rebuild_counters seconds=%.1f\n", now_s() - t0);
    static char keys[SAMPLES][3][72];
    sample_keys(path, rows, keys, SAMPLES);
    static double ms[SAMPLES];
    char next[64];
    /* Status by message id. */
    seen = 0;
    for (int i = 0; i < SAMPLES; i++) {
        char msg[72];
        snprintf(msg, sizeof msg, "%s", keys[i][1]);
        *strchr(msg, '|') = '\0';
        vf_query q = {.org_id = keys[i][0], .message_id = msg};
        double a = now_s();
        vf_store_query(store, &q, count_row, NULL, next, &err);
        ms[i] = (now_s() - a) * 1000;
    }
    report_latency("status_by_message", ms, SAMPLES, seen);
    /* Case notes by client: first page of 50, newest first. */
    seen = 0;
    for (int i = 0; i < SAMPLES; i++) {
        vf_query q = {
            .org_id = keys[i][0], .client_id = keys[i][2], .delivered_only = 1, .page_size = 50};
        double a = now_s();
        vf_store_query(store, &q, count_row, NULL, next, &err);
        ms[i] = (now_s() - a) * 1000;
    }
    report_latency("case_notes_by_client", ms, SAMPLES, seen);
    /* Status by recipient over a 90-day range. */
    seen = 0;
    for (int i = 0; i < SAMPLES; i++) {
        const char *rcpt = strchr(keys[i][1], '|') + 1;
        int64_t from = start_ms + (int64_t)(next_rand() % 270) * DAY_MS;
        vf_query q = {
            .org_id = keys[i][0], .recipient = rcpt, .from_ms = from, .to_ms = from + 90 * DAY_MS};
        double a = now_s();
        vf_store_query(store, &q, count_row, NULL, next, &err);
        ms[i] = (now_s() - a) * 1000;
    }
    report_latency("status_by_recipient_range", ms, SAMPLES, seen);
    /* Reports for the largest organization (half of all rows). */
    char month[32];
    time_t mid = (time_t)((start_ms + 180 * DAY_MS) / 1000);
    struct tm tm;
    gmtime_r(&mid, &tm);
    snprintf(month, sizeof month, "%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
    double best_ms = 1e18, worst_ms = 0;
    for (int i = 0; i < 5; i++) {
        counted = 0;
        double a = now_s();
        if (vf_store_counts(store, "org-0", month, on_counts, on_counts, on_counts, NULL, &err) !=
            XD_OK)
            fprintf(stderr, "counts: %s\n", err.message);
        double t = (now_s() - a) * 1000;
        best_ms = t < best_ms ? t : best_ms;
        worst_ms = t > worst_ms ? t : worst_ms;
    }
    printf("BENCH verify monthly_counts org_rows=%ld month=%s groups=%ld best_ms=%.1f "
           "worst_ms=%.1f target_ms=2000 ratio=%.3f\n",
           rows / 2, month, counted, best_ms, worst_ms, worst_ms / 2000);
    static const int periods[] = {30, 365};
    for (int p = 0; p < 2; p++) {
        best_ms = 1e18, worst_ms = 0;
        unsigned n = 0, flagged = 0;
        for (int i = 0; i < 3; i++) {
            vf_domain_row *rows_out;
            double a = now_s();
            int64_t to = start_ms + 365 * DAY_MS;
            if (vf_store_domain_report(store, "org-0", to - periods[p] * DAY_MS, to, 1000,
                                       &rows_out, &n, &err) != XD_OK)
                fprintf(stderr, "domain report: %s\n", err.message);
            flagged = 0;
            for (unsigned k = 0; k < n; k++) {
                vf_domain_verdict v;
                vf_domain_judge(&set, &rows_out[k], &v);
                flagged += (unsigned)v.flagged;
            }
            double t = (now_s() - a) * 1000;
            free(rows_out);
            best_ms = t < best_ms ? t : best_ms;
            worst_ms = t > worst_ms ? t : worst_ms;
        }
        printf("BENCH verify domain_report_%dd domains=%u flagged=%u best_ms=%.1f worst_ms=%.1f "
               "target_ms=2000 ratio=%.3f\n",
               periods[p], n, flagged, best_ms, worst_ms, worst_ms / 2000);
    }
    fflush(stdout);
    vf_store_close(store);
    xd_clock_free(clock);
}

/* RecordEvents (queued + delivered per recipient, batches of 500) against
 * raw SQLite inserting the same number of rows in batches of 500, both WAL
 * with synchronous=FULL, on fresh files in the same run. */
static double run_ours(const char *dir, long n_events, int round, long *done_out);
static double run_raw(const char *dir, long n_events, int round);

/* The machine is shared: alternate the two, three rounds each on fresh
 * files, and compare the best round of each. */
static void record_events(const char *dir, long n_events)
{
    double ours_best = 1e18, raw_best = 1e18;
    long done = 0;
    for (int round = 0; round < 3; round++) {
        double o = run_ours(dir, n_events, round, &done);
        double r = run_raw(dir, n_events, round);
        ours_best = o < ours_best ? o : ours_best;
        raw_best = r < raw_best ? r : raw_best;
    }
    double ours = (double)done / ours_best, raw = (double)n_events / raw_best;
    printf("BENCH verify record_events events=%ld batch=500 rounds=3 ours_eps=%.0f "
           "raw_sqlite_eps=%.0f ratio=%.2f target_ratio=0.50\n",
           n_events, ours, raw, ours / raw);
    fflush(stdout);
}

static double run_ours(const char *dir, long n_events, int round, long *done_out)
{
    char path[512];
    snprintf(path, sizeof path, "%s/events%d.db", dir, round);
    xd_clock *clock = xd_clock_manual_new(start_ms);
    vf_store *store;
    xd_err err;
    if (vf_store_open(path, clock, NULL, &store, &err) != XD_OK)
        exit(1);
    enum { BATCH = 500 };
    static vf_event evs[BATCH];
    static char ids[BATCH][24], msgs[BATCH][24], rcpts[BATCH][48];
    double a = now_s();
    long done = 0;
    for (long base = 0; base < n_events; base += BATCH) {
        int n = 0;
        for (; n < BATCH && base + n < n_events; n++) {
            long e = base + n, r = e / 2;
            snprintf(ids[n], sizeof ids[n], "ev%ld", e);
            snprintf(msgs[n], sizeof msgs[n], "m%ld", r / 2);
            snprintf(rcpts[n], sizeof rcpts[n], "user%ld@school%ld.example", r, r % 997);
            vf_event *v = &evs[n];
            memset(v, 0, sizeof *v);
            v->event_id = ids[n];
            v->org_id = (r % 2) ? "org-1" : "org-0";
            v->message_id = msgs[n];
            v->recipient = rcpts[n];
            v->state = (e % 2) ? XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED
                               : XD__RECIPIENT_STATE__RECIPIENT_STATE_QUEUED;
            v->event_time_ms = start_ms + e;
            v->client_id = "client-1";
            v->module = "bulk-email";
            v->subject = "Your course starts on Monday";
            v->from = "office@org.example";
            if (e % 2) {
                v->reply_code = 250;
                v->reply_enhanced = "2.0.0";
                v->reply_text = "OK";
                v->remote_host = "mx.example.net";
                v->tls_version = "TLSv1.3";
            }
        }
        unsigned applied, dups;
        if (vf_store_record(store, evs, n, &applied, &dups, &err) != XD_OK) {
            fprintf(stderr, "record: %s\n", err.message);
            exit(1);
        }
        done += applied;
    }
    double ours_s = now_s() - a;
    vf_store_close(store);
    xd_clock_free(clock);
    *done_out = done;
    return ours_s;
}

/* Peer: raw SQLite, one row per event, same durability and batching. */
static double run_raw(const char *dir, long n_events, int round)
{
    char path[512];
    enum { BATCH = 500 };
    snprintf(path, sizeof path, "%s/raw%d.db", dir, round);
    sqlite3 *db;
    sqlite3_open(path, &db);
    exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
             "CREATE TABLE ev(event_id TEXT PRIMARY KEY, org_id TEXT, message_id TEXT,"
             " recipient TEXT, state INTEGER, time_ms INTEGER, reply TEXT, host TEXT)");
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "INSERT INTO ev VALUES(?1,?2,?3,?4,?5,?6,'250 2.0.0 OK','mx')", -1, &st,
                       NULL);
    double a = now_s();
    for (long base = 0; base < n_events; base += BATCH) {
        exec(db, "BEGIN");
        for (long e = base; e < base + BATCH && e < n_events; e++) {
            char id[24], msg[24], rcpt[48];
            long r = e / 2;
            snprintf(id, sizeof id, "ev%ld", e);
            snprintf(msg, sizeof msg, "m%ld", r / 2);
            snprintf(rcpt, sizeof rcpt, "user%ld@school%ld.example", r, r % 997);
            sqlite3_reset(st);
            sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 2, (r % 2) ? "org-1" : "org-0", -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, msg, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 4, rcpt, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int(st, 5, (int)(e % 2) ? 3 : 1);
            sqlite3_bind_int64(st, 6, start_ms + e);
            if (sqlite3_step(st) != SQLITE_DONE)
                die(db, "raw insert");
        }
        exec(db, "COMMIT");
    }
    double raw_s = now_s() - a;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return raw_s;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_verify DIR ROWS [EVENTS]\n");
        return 2;
    }
    const char *dir = argv[1];
    long rows = atol(argv[2]);
    long events = argc > 3 ? atol(argv[3]) : 200000;
    start_ms = 1764547200000LL; /* 2025-12-01 */
    if (rows <= 0 || events <= 0)
        return 2;
    record_events(dir, events);
    char path[512];
    snprintf(path, sizeof path, "%s/verify.db", dir);
    /* Create the schema through the store, then bulk-load. */
    vf_store *store;
    xd_err err;
    if (vf_store_open(path, xd_clock_system(), NULL, &store, &err) != XD_OK) {
        fprintf(stderr, "open: %s\n", err.message);
        return 1;
    }
    vf_store_close(store);
    fill(path, rows);
    queries(path, rows);
    return 0;
}
