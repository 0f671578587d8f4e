/*
 * smtp_test_util.h: helpers for the SMTP client integration tests: temp
 * directories, free loopback ports, child processes (servers) with their
 * stdout read line by line under a deadline, and a clean stop.
 * Memory: a tu_child is a caller-owned value; tu_stop releases what it holds.
 * Thread-safety: single-threaded test code.
 */
#ifndef SMTP_TEST_UTIL_H
#define SMTP_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct tu_child {
    pid_t pid;
    int out_fd; /* read end of the child's stdout */
    char buf[8192];
    size_t len;
} tu_child;

/* mkdtemp under $TMPDIR or /tmp; aborts the test on failure. */
void tu_tmpdir(char *out, size_t cap, const char *prefix);

/* A currently free TCP port on 127.0.0.1 (or ::1 when ipv6). */
uint16_t tu_free_port(int ipv6);

/* Starts argv[0] with argv; stdin /dev/null, stdout to a pipe, stderr to
 * stderr_path (or inherited when NULL). Returns 0 or -1. */
int tu_spawn(tu_child *c, char *const argv[], const char *stderr_path);

/* Reads one stdout line (without LF) within timeout_ms; 0, or -1 on
 * timeout / end of output. */
int tu_read_line(tu_child *c, char *line, size_t cap, int64_t timeout_ms);

/* Waits until a TCP connect to host:port succeeds; 0 or -1 on timeout. */
int tu_wait_port(const char *host, uint16_t port, int64_t timeout_ms);

/* SIGTERM, up to 3 s grace, then SIGKILL; reaps the child. Returns the
 * child's wait status. */
int tu_stop(tu_child *c);

/* Runs a shell command (bounded by the command itself); returns its exit. */
int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Removes a directory tree (rm -rf). */
void tu_rmrf(const char *dir);

/* Reads a whole file into a malloc'd NUL-terminated buffer; NULL if absent. */
char *tu_read_file(const char *path, size_t *len);

int64_t tu_now_ms(void);

#endif
