/*
 * test_queue_full.c: the queue's group commit when the disk fills up under
 * concurrent writers. The queue file lives on a small tmpfs of its own (in a
 * private mount namespace: needs root, as CI has; elsewhere the test says it
 * skipped). Eight threads submit while the main thread fills the file system
 * to the last byte and frees it again, round after round, so commits fail
 * and succeed interleaved. Then, after a reopen: every Submit answered OK is
 * in the file with all its recipients and their QUEUED events, and no
 * Submit answered with an error is. Four writers retry each failed Submit
 * with its idempotency key, as the gateway's clients do; it must end as one
 * message.
 *
 * The bug this guards against: a writer waiting for the shared transaction
 * checked "has a transaction at least as new as mine committed?"; when its
 * own transaction failed and a later one committed while it waited, it
 * answered OK for writes that were rolled back (the fault test lost the
 * records of whole messages this way).
 */
#define _GNU_SOURCE /* unshare(2) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue_fixture.h"
#include "xd/log.h"
#include "xd/util.h"

#define WRITERS       8
#define KEYED_WRITERS 4
#define RCPTS         3
#define MAX_SENDS     3000 /* per writer */
#define MAX_RETRIES   400  /* per keyed send, 2 ms apart */
#define ROUNDS        40
#define MAX_TEST_MS   20000

typedef struct writer_arg {
    fixture *f;
    int id;
    atomic_int *stop;
    char (*mids)[SND_ID_MAX]; /* answered OK, in order */
    int n_ok;
    int n_failed; /* error answers */
    int gave_up;  /* keyed sends still failing after MAX_RETRIES */
} writer_arg;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *writer(void *p)
{
    writer_arg *w = p;
    char org[32];
    snprintf(org, sizeof org, "org-w%d", w->id);
    int keyed = w->id < KEYED_WRITERS;
    for (int i = 0; i < MAX_SENDS && !atomic_load(w->stop); i++) {
        char key[64];
        snprintf(key, sizeof key, "key-%d-%d", w->id, i);
        sub_opts o = {.org = org, .domain = "full.example", .n = RCPTS, .key = keyed ? key : NULL};
        snd_submit_result r;
        xd_err err;
        xd_code rc = XD_UNAVAILABLE;
        for (int attempt = 0; attempt < (keyed ? MAX_RETRIES : 1); attempt++) {
            rc = submit_err(w->f, &o, &r, &err);
            if (rc == XD_OK)
                break;
            w->n_failed++;
            assert_int_equal(rc, XD_UNAVAILABLE); /* the storage's state, not the request's */
            usleep(2000);                         /* a client's pause before its retry */
        }
        if (rc != XD_OK) {
            if (keyed)
                fprintf(stderr, "writer %d: send %d still failing after %d tries: %s\n", w->id, i,
                        MAX_RETRIES, err.message);
            w->gave_up += keyed;
            continue;
        }
        snprintf(w->mids[w->n_ok++], SND_ID_MAX, "%s", r.message_id);
        snd_submit_result_free(&r);
    }
    return NULL;
}

/* Writes zeroes to path until the file system is full. */
static void fill(const char *path)
{
    static char block[65536];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    while (write(fd, block, sizeof block) > 0)
        ;
    close(fd);
}

static int cmp_mid(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_disk_full_under_concurrent_writers(void **state)
{
    (void)state;
    /* A private mount namespace: the tmpfs is ours alone and goes away
     * with the process. */
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        fprintf(stderr, "no private mount namespace (needs root): skipped\n");
        skip();
    }
    char dir[] = "/tmp/xd-queue-full.XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(mount("tmpfs", dir, "tmpfs", 0, "size=32m"), 0);
    fixture *f = fixture_new_in(dir, NULL);
    char filler[400];
    snprintf(filler, sizeof filler, "%s/filler", dir);

    atomic_int stop;
    atomic_init(&stop, 0);
    writer_arg w[WRITERS];
    pthread_t th[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (writer_arg){.f = f, .id = i, .stop = &stop};
        w[i].mids = calloc(MAX_SENDS, sizeof *w[i].mids);
        assert_non_null(w[i].mids);
        assert_int_equal(pthread_create(&th[i], NULL, writer, &w[i]), 0);
    }
    int64_t end = now_ms() + MAX_TEST_MS;
    int rounds = 0;
    for (; rounds < ROUNDS && now_ms() < end; rounds++) {
        usleep(40000);
        fill(filler);
        usleep(60000);
        unlink(filler);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(th[i], NULL);
    unlink(filler);

    long ok = 0, failed = 0, gave_up = 0;
    for (int i = 0; i < WRITERS; i++) {
        ok += w[i].n_ok;
        failed += w[i].n_failed;
        gave_up += w[i].gave_up;
    }
    fprintf(stderr, "%d fill rounds: %ld Submits answered OK, %ld answered UNAVAILABLE\n", rounds,
            ok, failed);
    assert_true(failed > 0); /* the disk was full at times: the test did its job */
    assert_true(ok > 0);
    assert_int_equal(gave_up, 0);

    reopen(f);
    xd_err err;
    for (int i = 0; i < WRITERS; i++) {
        char org[32];
        snprintf(org, sizeof org, "org-w%d", i);
        for (int k = 0; k < w[i].n_ok; k++) {
            snd_message_info m;
            xd_code rc = snd_queue_get(f->q, org, w[i].mids[k], &m, &err);
            if (rc != XD_OK)
                fail_msg("writer %d: Submit %d answered OK with %s, which is not in the file: %s",
                         i, k, w[i].mids[k], err.message);
            assert_int_equal(m.n, RCPTS);
            snd_message_info_free(&m);
        }
        /* A keyed send answered once per key: distinct ids. */
        qsort(w[i].mids, (size_t)w[i].n_ok, sizeof *w[i].mids, cmp_mid);
        for (int k = 1; k < w[i].n_ok; k++)
            assert_string_not_equal(w[i].mids[k - 1], w[i].mids[k]);
    }
    /* Exactly the answered messages are stored, each with its events. */
    int64_t counts[16];
    assert_int_equal(snd_queue_count_states(f->q, counts, &err), XD_OK);
    assert_int_equal(counts[1], ok * RCPTS);
    assert_int_equal(snd_outbox_pending(f->q), ok * RCPTS);

    for (int i = 0; i < WRITERS; i++)
        free(w[i].mids);
    fixture_free(f);
    umount(dir);
    rmdir(dir);
}

int main(void)
{
    xd_log_init("sender-queue-full-test", XD_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disk_full_under_concurrent_writers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
