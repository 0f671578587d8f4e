/*
 * dnsmasq_run.h: runs a real dnsmasq on 127.0.0.1 at a free high port for
 * the DNS tests (test-only).
 *
 * The dnsmasq child dies with the test process (PR_SET_PDEATHSIG) and is
 * stopped with SIGTERM, then SIGKILL, each wait bounded. Single-threaded.
 */
#ifndef TEST_DNSMASQ_RUN_H
#define TEST_DNSMASQ_RUN_H

#include <sys/types.h>

typedef struct dnsmasq_run {
    pid_t pid;
    int port;
    char dir[64]; /* temp dir with the log and pid file */
} dnsmasq_run;

/* Starts dnsmasq serving only the records in args (NULL-terminated list of
 * options such as "--mx-host=a.test,mx.a.test,10") and waits, at most 5 s,
 * until it answers. Returns 0, or -1 after printing its log. */
int dnsmasq_start(dnsmasq_run *d, const char *const *args);

/* Stops it (bounded) and removes its temp dir. Safe to call twice. */
void dnsmasq_stop(dnsmasq_run *d);

/* A UDP port on 127.0.0.1 that nothing listens on right now. */
int free_udp_port(void);

#endif
