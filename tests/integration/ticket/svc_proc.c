/* svc_proc.c: real service processes for the integration tests. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "svc_proc.h"
#include "common.pb-c.h"
#include "xd/clock.h"

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void svc_tempdir(char *dir, unsigned size)
{
    snprintf(dir, size, "/tmp/xd-ticket-it-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        abort();
    }
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void svc_rmtree(const char *dir)
{
    if (strncmp(dir, "/tmp/xd-ticket-it-", 18) == 0) /* only what svc_tempdir made */
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void svc_dump_log(const char *log_path)
{
    FILE *f = fopen(log_path, "r");
    if (!f)
        return;
    char line[1024];
    fprintf(stderr, "---- %s ----\n", log_path);
    while (fgets(line, sizeof(line), f))
        fputs(line, stderr);
    fclose(f);
}

static int healthy(svc_proc *p)
{
    xd_arena *a = xd_arena_new();
    Xd__HealthRequest rq = XD__HEALTH_REQUEST__INIT;
    ProtobufCMessage *out = NULL;
    xd_err err;
    xd_call_options o = {.timeout_ms = 500};
    int ok = xd_client_call(p->client, &o, "Health", &rq.base, &xd__health_reply__descriptor, a,
                            &out, &err) == XD_OK;
    xd_arena_free(a);
    return ok;
}

int svc_start(svc_proc *p, const char *binary, const char *const *env, const char *url,
              const char *log_path)
{
    const char *bin_dir = getenv("XD_BINARY_DIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", bin_dir ? bin_dir : ".", binary);
    memset(p, 0, sizeof(*p));
    snprintf(p->url, sizeof(p->url), "%s", url);
    snprintf(p->log, sizeof(p->log), "%s", log_path);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        for (int i = 0; env[i]; i++)
            putenv((char *)env[i]);
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
            close(fd);
        }
        execl(path, path, (char *)NULL);
        perror("exec");
        _exit(127);
    }
    p->pid = pid;
    xd_err err;
    if (xd_client_open(url, binary, NULL, &p->client, &err) != XD_OK)
        return -1;
    int64_t until = xd_monotonic_ms() + 10000;
    while (xd_monotonic_ms() < until) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            p->pid = 0;
            fprintf(stderr, "%s exited at start-up\n", binary);
            svc_dump_log(log_path);
            return -1;
        }
        if (healthy(p))
            return 0;
        usleep(50 * 1000);
    }
    fprintf(stderr, "%s did not become healthy\n", binary);
    svc_dump_log(log_path);
    return -1;
}

int svc_stop(svc_proc *p)
{
    if (p->client) {
        xd_client_close(p->client);
        p->client = NULL;
    }
    if (p->pid <= 0)
        return -1;
    kill(p->pid, SIGTERM);
    int64_t until = xd_monotonic_ms() + 10000;
    int status = 0;
    while (xd_monotonic_ms() < until) {
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            p->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        usleep(20 * 1000);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &status, 0);
    p->pid = 0;
    return -1;
}
