/* xt_proc.c: spawn, stop and kill -9 test child processes. */
#include "xt_proc.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xt_util.h"

extern char **environ;

/* environ with env's entries replacing same-named ones; built before fork
 * so the child only calls async-signal-safe functions (tests have threads). */
static char **merged_env(const char *const *env)
{
    size_t n_base = 0, n_extra = 0;
    while (environ[n_base])
        n_base++;
    while (env && env[n_extra])
        n_extra++;
    char **out = calloc(n_base + n_extra + 1, sizeof *out);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n_base; i++) {
        size_t name_len = strcspn(environ[i], "=");
        int replaced = 0;
        for (size_t j = 0; j < n_extra && !replaced; j++)
            replaced = strncmp(env[j], environ[i], name_len + 1) == 0;
        if (!replaced)
            out[k++] = environ[i];
    }
    for (size_t j = 0; j < n_extra; j++)
        out[k++] = (char *)env[j];
    return out;
}

int xt_proc_spawn(xt_proc *p, char *const argv[], const char *const *env, const char *log)
{
    p->pid = 0;
    snprintf(p->log, sizeof p->log, "%s", log ? log : "");
    char **envp = merged_env(env);
    if (!envp)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        free(envp);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        setpgid(0, 0);
        int in = open("/dev/null", O_RDONLY);
        if (in >= 0)
            dup2(in, 0);
        if (log) {
            int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
        }
        execve(argv[0], argv, envp);
        _exit(127);
    }
    free(envp);
    p->pid = pid;
    return 0;
}

static int reaped(xt_proc *p, int *st)
{
    pid_t r = waitpid(p->pid, st, WNOHANG);
    return r == p->pid || (r < 0);
}

/* Where a process that will not stop is stuck: every thread's stack (gdb),
 * for the report, when gdb is installed. */
static void dump_threads(pid_t pid)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd,
             "command -v gdb >/dev/null && timeout 30 gdb -p %d -batch -ex 'thread apply all bt' "
             "2>/dev/null | grep -E '^(Thread|#)' >&2",
             (int)pid);
    if (system(cmd) != 0)
        fprintf(stderr, "xt: no thread dump of pid %d (gdb missing or failed)\n", (int)pid);
}

int xt_proc_stop(xt_proc *p, int64_t grace_ms)
{
    if (p->pid <= 0)
        return -1;
    int st = 0, gone = 0;
    kill(p->pid, SIGTERM);
    for (int64_t end = xt_now_ms() + grace_ms; !gone && xt_now_ms() < end;) {
        gone = reaped(p, &st);
        if (!gone)
            xt_sleep_ms(10);
    }
    if (!gone) {
        fprintf(stderr, "xt: pid %d did not stop within %lld ms: its threads, then SIGKILL\n",
                (int)p->pid, (long long)grace_ms);
        dump_threads(p->pid);
        kill(-p->pid, SIGKILL);
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &st, 0);
        p->pid = 0;
        return -1;
    }
    kill(-p->pid, SIGKILL); /* anything it left in its group */
    p->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void xt_proc_kill9(xt_proc *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGKILL);
    int st;
    waitpid(p->pid, &st, 0);
    kill(-p->pid, SIGKILL);
    p->pid = 0;
}

int xt_proc_alive(xt_proc *p)
{
    if (p->pid <= 0)
        return 0;
    int st;
    if (reaped(p, &st)) {
        p->pid = 0;
        return 0;
    }
    return 1;
}

long xt_proc_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    if (f)
        fclose(f);
    return kb;
}

void xt_proc_dump_log(const xt_proc *p, int n)
{
    if (p->log[0] && strchr(p->log, '\'') == NULL)
        xt_sh("tail -n %d '%s' | sed 's/^/  | /' >&2", n, p->log);
}

long xt_proc_cpu_ms(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char *text = xt_read_file(path, NULL);
    /* Fields after the command name, which is in parentheses and may hold
     * spaces: state is field 3, utime 14, stime 15 (proc(5)). */
    const char *p = text ? strrchr(text, ')') : NULL;
    unsigned long utime = 0, stime = 0;
    int ok = p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                         &stime) == 2;
    free(text);
    return ok ? (long)((utime + stime) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK)) : -1;
}
