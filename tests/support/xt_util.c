/* xt_util.c: clocks, waits, files, shell and ports for the e2e tests. */
#include "xt_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int64_t xt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void xt_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int xt_wait_until(int (*pred)(void *arg), void *arg, int64_t timeout_ms, int64_t poll_ms)
{
    int64_t deadline = xt_now_ms() + timeout_ms;
    for (;;) {
        if (pred(arg))
            return 1;
        if (xt_now_ms() >= deadline)
            return 0;
        xt_sleep_ms(poll_ms);
    }
}

int xt_tmpdir(char *out, size_t cap, const char *name)
{
    if ((size_t)snprintf(out, cap, "/tmp/xd-%s-XXXXXX", name) >= cap)
        return -1;
    return mkdtemp(out) ? 0 : -1;
}

void xt_rmrf(const char *dir)
{
    if (!dir || strncmp(dir, "/tmp/xd-", 8) != 0 || strstr(dir, "..") || strchr(dir, '\''))
        return;
    if (xt_sh("rm -rf '%s'", dir) != 0)
        fprintf(stderr, "xt: could not remove %s\n", dir);
}

char *xt_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 >= cap) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

int xt_write_file(const char *path, const char *data, size_t len, int mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    return close(fd);
}

static int exit_status(int st)
{
    if (st == -1)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int xt_sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof cmd)
        return -1;
    return exit_status(system(cmd));
}

int xt_sh_out(char **out, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    *out = NULL;
    if (n < 0 || (size_t)n >= sizeof cmd)
        return -1;
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t cap = 1 << 14, len = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (len + 1 >= cap) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    int st = pclose(p);
    if (buf)
        buf[len] = '\0';
    *out = buf;
    return exit_status(st);
}

static int free_port(int type)
{
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

int xt_free_tcp_port(void)
{
    return free_port(SOCK_STREAM);
}

int xt_free_udp_port(void)
{
    return free_port(SOCK_DGRAM);
}

int xt_wait_tcp(const char *host, int port, int64_t timeout_ms)
{
    int64_t deadline = xt_now_ms() + timeout_ms;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -1;
    while (xt_now_ms() < deadline) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
        if (fd >= 0)
            close(fd);
        if (ok)
            return 0;
        xt_sleep_ms(20);
    }
    return -1;
}

size_t xt_count(const char *hay, const char *needle)
{
    size_t n = 0, nl = strlen(needle);
    for (const char *p = hay; p && nl && (p = strstr(p, needle)) != NULL; p += nl)
        n++;
    return n;
}
