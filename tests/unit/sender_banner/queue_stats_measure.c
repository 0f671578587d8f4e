/*
 * queue_stats_measure.c: how long QueueStats takes on a large queue (not a
 * test: timing stays out of pass/fail). Fills a fresh sender.db with
 * N recipients (default 1,000,000) of 100 organizations in a realistic mix
 * of states, plus an outbox backlog, then times snd_queue_stats_read for
 * one organization and for all, next to the plain GROUP BY over the
 * recipients that the counters replace; also the insert cost of the
 * counting triggers (same fill with the triggers dropped).
 *
 * Usage: queue_stats_measure DIR [N] [OUTBOX] [PER_TX]
 * (PER_TX recipients per transaction as a Submit would write them, default
 * 100; 0 = one transaction for the whole fill)
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "queue_stats.h"
#include "xd/clock.h"

#define ORGS 100

static int64_t cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

/* Fills path; returns the wall time, *cpu the CPU time (user + system:
 * what the triggers cost without the fsync waits). */
static int64_t fill(const char *path, long n, long outbox, int triggers, int per_tx, int64_t *cpu)
{
    snd_queue *q;
    xd_err err;
    if (snd_queue_open(path, xd_clock_system(), NULL, &q, &err) != XD_OK) {
        fprintf(stderr, "open: %s\n", err.message);
        exit(1);
    }
    snd_queue_close(q);
    sqlite3 *db;
    sqlite3_open(path, &db);
    /* The service's own settings (xd_db_open): WAL, synchronous=FULL. */
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL", NULL, NULL, NULL);
    /* As snd_queue_open: statement journals in memory (1 = on disk, to compare). */
    if (!getenv("XD_MEASURE_TEMP_FILE"))
        sqlite3_exec(db, "PRAGMA temp_store=MEMORY", NULL, NULL, NULL);
    if (!triggers)
        sqlite3_exec(db,
                     "DROP TRIGGER recipients_count_insert; DROP TRIGGER recipients_count_update; "
                     "DROP TRIGGER recipients_count_delete",
                     NULL, NULL, NULL);
    int64_t t0 = xd_monotonic_ns(), c0 = cpu_ns();
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    sqlite3_stmt *m, *r, *o;
    sqlite3_prepare_v2(db,
                       "INSERT INTO messages VALUES (?1, ?2, 'bulk', '', 'f@x.test', 'x.test', "
                       "'s', 1, 0, ?3, 0, x'00')",
                       -1, &m, NULL);
    sqlite3_prepare_v2(db,
                       "INSERT INTO recipients (recipient_id, message_id, org_id, seq, address, "
                       "domain, state, born_ms, next_attempt_at_ms, updated_at_ms) VALUES "
                       "(?1, ?2, ?3, ?4, 'r@d.test', 'd.test', ?5, ?6, ?7, ?6)",
                       -1, &r, NULL);
    sqlite3_prepare_v2(db,
                       "INSERT INTO outbox (event_id, recipient_id, message_id, address, state, "
                       "event_time_ms, sequence, code, enhanced, text, remote_host, tls_version, "
                       "failure) VALUES ('e', ?1, ?2, 'r@d.test', 3, 0, 1, 250, '', '', '', '', 0)",
                       -1, &o, NULL);
    /* 60% delivered, 20% queued, 8% deferred, 5% bounced, 4% expired, 3% cancelled. */
    int mix[100];
    for (int k = 0; k < 100; k++)
        mix[k] = k < 60 ? 3 : k < 80 ? 1 : k < 88 ? 2 : k < 93 ? 4 : k < 97 ? 5 : 9;
    int64_t base = 1700000000000LL;
    char mid[32], rid[48], org[16];
    for (long i = 0; i < n; i++) {
        long msg = i / 100;
        snprintf(mid, sizeof mid, "m%ld", msg);
        snprintf(org, sizeof org, "org-%ld", msg % ORGS);
        /* per_tx recipients per transaction, like Submit (0 = one for all). */
        if (per_tx && i > 0 && i % per_tx == 0) {
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
            sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        }
        if (i % 100 == 0) {
            sqlite3_reset(m);
            sqlite3_bind_text(m, 1, mid, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(m, 2, org, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(m, 3, base + msg);
            sqlite3_step(m);
        }
        snprintf(rid, sizeof rid, "%s-%ld", mid, i % 100 + 1);
        int st = mix[(i * 37) % 100];
        sqlite3_reset(r);
        sqlite3_bind_text(r, 1, rid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(r, 2, mid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(r, 3, org, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(r, 4, i % 100);
        sqlite3_bind_int(r, 5, st);
        sqlite3_bind_int64(r, 6, base + i);
        sqlite3_bind_int64(r, 7, st == 1 || st == 2 ? base + i : 0);
        if (sqlite3_step(r) != SQLITE_DONE) {
            fprintf(stderr, "insert: %s\n", sqlite3_errmsg(db));
            exit(1);
        }
        if (i < outbox) {
            sqlite3_reset(o);
            sqlite3_bind_text(o, 1, rid, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(o, 2, mid, -1, SQLITE_TRANSIENT);
            sqlite3_step(o);
        }
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    int64_t ns = xd_monotonic_ns() - t0;
    *cpu = cpu_ns() - c0;
    sqlite3_finalize(m);
    sqlite3_finalize(r);
    sqlite3_finalize(o);
    sqlite3_close(db);
    return ns;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Median of 21 runs of snd_queue_stats_read, in microseconds. */
static double time_stats(snd_queue *q, const char *org, snd_queue_stats *out)
{
    int64_t t[21];
    xd_err err;
    for (int i = 0; i < 21; i++) {
        int64_t t0 = xd_monotonic_ns();
        if (snd_queue_stats_read(q, org, out, &err) != XD_OK) {
            fprintf(stderr, "stats: %s\n", err.message);
            exit(1);
        }
        t[i] = xd_monotonic_ns() - t0;
    }
    qsort(t, 21, sizeof t[0], cmp64);
    return (double)t[10] / 1000.0;
}

/* The same counts by scanning the recipients (what the counters replace). */
static double time_scan(const char *path, const char *org)
{
    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db,
                       org ? "SELECT state, count(*) FROM recipients WHERE org_id = ?1 GROUP BY "
                             "state"
                           : "SELECT state, count(*) FROM recipients GROUP BY state",
                       -1, &st, NULL);
    int64_t t[5];
    for (int i = 0; i < 5; i++) {
        int64_t t0 = xd_monotonic_ns();
        sqlite3_reset(st);
        if (org)
            sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW)
            ;
        t[i] = xd_monotonic_ns() - t0;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    qsort(t, 5, sizeof t[0], cmp64);
    return (double)t[2] / 1000.0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [N] [OUTBOX]\n", argv[0]);
        return 2;
    }
    long n = argc > 2 ? atol(argv[2]) : 1000000;
    long outbox = argc > 3 ? atol(argv[3]) : 1000;
    char path[1024], plain[1024];
    snprintf(path, sizeof path, "%s/stats.db", argv[1]);
    snprintf(plain, sizeof plain, "%s/plain.db", argv[1]);
    int per_tx = argc > 4 ? atoi(argv[4]) : 100;
    int64_t without_cpu = 0, with_cpu = 0;
    int64_t without_ns = fill(plain, n, outbox, 0, per_tx, &without_cpu);
    int64_t with_ns = fill(path, n, outbox, 1, per_tx, &with_cpu);
    printf("fill %ld recipients (+%ld outbox events), %d per transaction (0 = one): with counting "
           "triggers %.2f s wall / %.2f s CPU, without %.2f s wall / %.2f s CPU (CPU %+.1f us "
           "per recipient)\n",
           n, outbox < n ? outbox : n, per_tx, with_ns / 1e9, with_cpu / 1e9, without_ns / 1e9,
           without_cpu / 1e9, (double)(with_cpu - without_cpu) / 1000.0 / (double)n);
    snd_queue *q;
    xd_err err;
    snd_queue_open(path, xd_clock_system(), NULL, &q, &err);
    snd_queue_stats one, all;
    double t_one = time_stats(q, "org-7", &one);
    double t_all = time_stats(q, NULL, &all);
    snd_queue_close(q);
    printf("QueueStats org-7 (%lld recipients, %lld queued, outbox %lld): median %.1f us\n",
           (long long)(one.counts[1] + one.counts[2] + one.counts[3] + one.counts[4] +
                       one.counts[5] + one.counts[9]),
           (long long)one.counts[1], (long long)one.outbox_pending, t_one);
    printf("QueueStats all orgs (%lld delivered, %lld queued, outbox %lld): median %.1f us\n",
           (long long)all.counts[3], (long long)all.counts[1], (long long)all.outbox_pending,
           t_all);
    printf("plain GROUP BY scan: org-7 %.1f us, all orgs %.1f us\n", time_scan(path, "org-7"),
           time_scan(path, NULL));
    return 0;
}
