/*
 * xt_util.h: small helpers every end-to-end test needs: clocks and bounded
 * waits, temp directories, files, shell commands and free loopback ports.
 * Memory: functions returning char * hand a malloc'd, NUL-terminated buffer
 * to the caller (free it). Thread-safety: all functions are reentrant except
 * xt_sh/xt_sh_out, which use popen/system (call them from one thread).
 */
#ifndef XT_UTIL_H
#define XT_UTIL_H

#include <stddef.h>
#include <stdint.h>

int64_t xt_now_ms(void);
void xt_sleep_ms(int64_t ms);

/* Calls pred(arg) every poll_ms until it returns non-zero or timeout_ms
 * passed. Returns 1 when pred became true, 0 on timeout. */
int xt_wait_until(int (*pred)(void *arg), void *arg, int64_t timeout_ms, int64_t poll_ms);

/* mkdtemp("/tmp/xd-<name>-XXXXXX") into out; 0 or -1. */
int xt_tmpdir(char *out, size_t cap, const char *name);
/* rm -rf dir (only paths under /tmp/xd- are removed). */
void xt_rmrf(const char *dir);

/* The whole file, NUL-terminated (*len without the NUL); NULL when absent. */
char *xt_read_file(const char *path, size_t *len);
/* Writes data to path with mode; 0 or -1. */
int xt_write_file(const char *path, const char *data, size_t len, int mode);

/* Runs a shell command built from fmt; returns its exit status (-1 when
 * killed by a signal). Bound the command itself (timeout(1)). */
int xt_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same, with stdout captured into *out (malloc'd). */
int xt_sh_out(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A TCP (or UDP) port on 127.0.0.1 that nothing listens on right now. */
int xt_free_tcp_port(void);
int xt_free_udp_port(void);
/* 0 once a TCP connect to host:port succeeds within timeout_ms, else -1. */
int xt_wait_tcp(const char *host, int port, int64_t timeout_ms);

/* Occurrences of needle in hay (0 for a NULL hay). */
size_t xt_count(const char *hay, const char *needle);

#endif
