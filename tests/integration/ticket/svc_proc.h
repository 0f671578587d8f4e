/*
 * svc_proc.h: start and stop real xd-* service processes for integration
 * tests (environment configuration, stderr to a log file, readiness by a
 * Health call, SIGTERM for a clean stop).
 * Memory: a svc_proc is owned by the test. Thread-safety: one test thread.
 */
#ifndef TICKET_SVC_PROC_H
#define TICKET_SVC_PROC_H

#include <sys/types.h>

#include "xd/rpc_client.h"

typedef struct svc_proc {
    pid_t pid;
    char url[256];
    char log[256];
    xd_client *client;
} svc_proc;

/* A fresh temp directory for one test run into dir (>= 64 bytes). */
void svc_tempdir(char *dir, unsigned size);

/* Removes a directory made by svc_tempdir, with everything in it. */
void svc_rmtree(const char *dir);

/* Starts binary (path under $XD_BINARY_DIR) with env ("KEY=value", NULL
 * terminated), serving url; waits (bounded, 10 s) until Health answers.
 * Returns 0, or -1 with the log path printed. */
int svc_start(svc_proc *p, const char *binary, const char *const *env, const char *url,
              const char *log_path);

/* SIGTERM and wait (bounded, 10 s; then SIGKILL). Returns the exit status
 * (0 = clean), or -1 when it had to be killed. */
int svc_stop(svc_proc *p);

/* Prints the last lines of a log (for a failing test). */
void svc_dump_log(const char *log_path);

#endif
