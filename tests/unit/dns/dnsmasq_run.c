/* dnsmasq_run.c: start, probe and stop a loopback dnsmasq for tests. */
#include "dnsmasq_run.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DNSMASQ    "/usr/sbin/dnsmasq"
#define MAX_ARGS   64
#define PROBE_NAME "\x05probe\x04test"

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int free_udp_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Sends one TXT query for probe.test and waits up to wait_ms for any reply. */
static int probe(int port, int wait_ms)
{
    unsigned char q[64] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
    size_t n = 12;
    memcpy(q + n, PROBE_NAME, sizeof(PROBE_NAME)); /* includes the root's 0 */
    n += sizeof(PROBE_NAME);
    q[n++] = 0;
    q[n++] = 16; /* TXT */
    q[n++] = 0;
    q[n++] = 1; /* IN */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = 0;
    if (sendto(fd, q, n, 0, (struct sockaddr *)&sa, sizeof(sa)) == (ssize_t)n) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        unsigned char reply[512];
        ok = poll(&p, 1, wait_ms) == 1 && recv(fd, reply, sizeof(reply), 0) >= 12 &&
             reply[0] == 0x12 && reply[1] == 0x34;
    }
    close(fd);
    return ok;
}

static void print_log(const dnsmasq_run *d)
{
    char path[128], line[512];
    snprintf(path, sizeof(path), "%s/dnsmasq.log", d->dir);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        fprintf(stderr, "dnsmasq: %s", line);
    if (f)
        fclose(f);
}

static int start_once(dnsmasq_run *d, const char *const *args)
{
    d->port = free_udp_port();
    if (d->port <= 0)
        return -1;
    char port_opt[32], pid_opt[128], log_path[128];
    snprintf(port_opt, sizeof(port_opt), "--port=%d", d->port);
    snprintf(pid_opt, sizeof(pid_opt), "--pid-file=%s/dnsmasq.pid", d->dir);
    snprintf(log_path, sizeof(log_path), "%s/dnsmasq.log", d->dir);
    const char *argv[MAX_ARGS] = {DNSMASQ,
                                  "--no-daemon",
                                  "--no-resolv",
                                  "--no-hosts",
                                  "--conf-file=/dev/null",
                                  "--listen-address=127.0.0.1",
                                  "--bind-interfaces",
                                  "--local=/test/", /* unknown .test names: NXDOMAIN */
                                  "--local-ttl=60",
                                  "--txt-record=probe.test,ready",
                                  port_opt,
                                  pid_opt};
    size_t argc = 12;
    for (size_t i = 0; args && args[i] && argc < MAX_ARGS - 1; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(DNSMASQ, (char *const *)argv);
        _exit(127);
    }
    d->pid = pid;
    for (int waited = 0; waited < 5000; waited += 50) {
        if (probe(d->port, 50))
            return 0;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) { /* exited: port taken? */
            d->pid = 0;
            return -1;
        }
    }
    return -1;
}

int dnsmasq_start(dnsmasq_run *d, const char *const *args)
{
    memset(d, 0, sizeof(*d));
    strcpy(d->dir, "/tmp/xd-dnsmasq-XXXXXX");
    if (!mkdtemp(d->dir))
        return -1;
    for (int attempt = 0; attempt < 3; attempt++) {
        if (start_once(d, args) == 0)
            return 0;
        if (d->pid > 0)
            break; /* running but silent: retrying will not help */
    }
    print_log(d);
    dnsmasq_stop(d);
    return -1;
}

void dnsmasq_stop(dnsmasq_run *d)
{
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        int st, gone = 0;
        for (int waited = 0; waited < 3000 && !gone; waited += 10) {
            gone = waitpid(d->pid, &st, WNOHANG) == d->pid;
            if (!gone)
                sleep_ms(10);
        }
        if (!gone) {
            kill(d->pid, SIGKILL);
            waitpid(d->pid, &st, 0);
        }
        d->pid = 0;
    }
    if (d->dir[0]) {
        char path[128];
        snprintf(path, sizeof(path), "%s/dnsmasq.log", d->dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/dnsmasq.pid", d->dir);
        unlink(path);
        rmdir(d->dir);
        d->dir[0] = '\0';
    }
}
