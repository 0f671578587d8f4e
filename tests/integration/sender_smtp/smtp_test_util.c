/*
 * smtp_test_util.c: process and socket plumbing for the SMTP client tests.
 */
#define _GNU_SOURCE
#include "smtp_test_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int64_t tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tu_tmpdir(char *out, size_t cap, const char *prefix)
{
    const char *base = getenv("TMPDIR");
    snprintf(out, cap, "%s/%s.XXXXXX", base && *base ? base : "/tmp", prefix);
    if (!mkdtemp(out)) {
        perror("mkdtemp");
        abort();
    }
}

uint16_t tu_free_port(int ipv6)
{
    int fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    if (ipv6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        sl = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof(*a);
    }
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        perror("free port");
        abort();
    }
    uint16_t port = ipv6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                         : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    close(fd);
    return port;
}

int tu_spawn(tu_child *c, char *const argv[], const char *stderr_path)
{
    int p[2];
    memset(c, 0, sizeof(*c));
    c->pid = -1;
    c->out_fd = -1;
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(p[1], 1);
        if (stderr_path) {
            int e = open(stderr_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
            if (e >= 0)
                dup2(e, 2);
        }
        setpgid(0, 0); /* its own group, so tu_stop reaches grandchildren */
        execvp(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    c->pid = pid;
    c->out_fd = p[0];
    fcntl(c->out_fd, F_SETFL, O_NONBLOCK);
    return 0;
}

int tu_read_line(tu_child *c, char *line, size_t cap, int64_t timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl) {
            size_t n = (size_t)(nl - c->buf);
            size_t k = n < cap - 1 ? n : cap - 1;
            memcpy(line, c->buf, k);
            line[k] = '\0';
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            return 0;
        }
        if (c->len == sizeof(c->buf))
            c->len = 0; /* a line longer than the buffer: drop it */
        int64_t left = deadline - tu_now_ms();
        if (left <= 0)
            return -1;
        struct pollfd pfd = {.fd = c->out_fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        ssize_t r = read(c->out_fd, c->buf + c->len, sizeof(c->buf) - c->len);
        if (r == 0)
            return -1;
        if (r > 0)
            c->len += (size_t)r;
    }
}

int tu_wait_port(const char *host, uint16_t port, int64_t timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;
    while (tu_now_ms() < deadline) {
        struct sockaddr_storage ss;
        socklen_t sl;
        memset(&ss, 0, sizeof(ss));
        int fam = strchr(host, ':') ? AF_INET6 : AF_INET;
        if (fam == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            a->sin6_family = AF_INET6;
            a->sin6_port = htons(port);
            inet_pton(AF_INET6, host, &a->sin6_addr);
            sl = sizeof(*a);
        } else {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            a->sin_family = AF_INET;
            a->sin_port = htons(port);
            inet_pton(AF_INET, host, &a->sin_addr);
            sl = sizeof(*a);
        }
        int fd = socket(fam, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&ss, sl) == 0) {
            close(fd);
            return 0;
        }
        if (fd >= 0)
            close(fd);
        usleep(20000);
    }
    return -1;
}

int tu_stop(tu_child *c)
{
    int status = 0;
    if (c->pid > 0) {
        kill(-c->pid, SIGTERM);
        kill(c->pid, SIGTERM);
        int64_t deadline = tu_now_ms() + 3000;
        pid_t r;
        while ((r = waitpid(c->pid, &status, WNOHANG)) == 0 && tu_now_ms() < deadline)
            usleep(10000);
        if (r == 0) {
            kill(-c->pid, SIGKILL);
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &status, 0);
        }
        c->pid = -1;
    }
    if (c->out_fd >= 0)
        close(c->out_fd);
    c->out_fd = -1;
    return status;
}

int tu_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void tu_rmrf(const char *dir)
{
    if (dir && strncmp(dir, "/tmp/", 5) == 0)
        tu_sh("rm -rf '%s'", dir);
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[n] = '\0';
        if (len)
            *len = (size_t)n;
    }
    return b;
}
